"""The typed public API: every public name of ``tensordiff`` carries type hints that resolve.

The package ships ``py.typed``, so these hints are what a type checker reads in user code. ``mypy``
(run by .ci/run) checks them against the bodies and against tests/typing_usage.py, user code
written with them; this file checks that they are there: every parameter and every return of
every public callable is annotated, and ``typing.get_type_hints`` resolves each one at run time
(as documentation tools and runtime checkers do). It also checks the two places that declare,
for type checkers, what is made at run time: the operators on ``Expr`` and the function table's
rows.
"""

import ast
import inspect
import typing
from pathlib import Path

import pytest

import tensordiff as td
from tensordiff.expr import Expr

PACKAGE = Path(td.__file__).resolve().parent
EXCLUDED = {"FUNCTIONS"}   # the function table itself: a dict, not a callable
# numpy's protocol hooks (ops.py), so that numpy hands expressions back, and the notebook's display hook
# (matrixlatex.py): called by those libraries, not by user code
HOOKS = {"__array__", "__array_ufunc__", "__array_function__", "_repr_latex_"}


def _defined_here(function):
    return getattr(function, "__module__", "").startswith("tensordiff")


def _callables(name, value):
    """(label, function) for each callable part of public name ``name`` whose hints are checked."""
    if inspect.isclass(value):
        if issubclass(value, (Exception, Warning)):   # the error classes: constructors are the builtins'
            return []
        found, seen = [], set()
        # the class's own members and those of its tensordiff bases (Program's plan is planning.py's)
        members = [item for klass in value.__mro__ if _defined_here(klass) for item in vars(klass).items()]
        for attr, member in members:
            if (attr.startswith("_") and attr != "__call__") or attr in seen:
                continue
            seen.add(attr)
            function = member.fget if isinstance(member, property) else member
            if isinstance(function, (staticmethod, classmethod)):
                function = function.__func__
            if inspect.isfunction(function) and _defined_here(function):
                found.append((f"{name}.{attr}", function))
        return found
    if inspect.isfunction(value):
        return [(name, value)]
    if callable(value):   # a callable instance, such as td.exp (an Elementwise row of the function table)
        return [(f"{name}.__call__", type(value).__call__)]
    return []


def _public_callables():
    found = []
    for name in td.__all__:
        if name not in EXCLUDED:
            found += _callables(name, getattr(td, name))
    return found


PUBLIC = _public_callables()


def test_the_public_api_has_callables_to_check():
    labels = {label for label, _ in PUBLIC}
    assert len(PUBLIC) >= 80
    # one of each kind: a builder, a row of the function table, a class's method and property
    assert {"matrix", "exp.__call__", "Program.__call__", "ScipyObjective.size", "Elementwise.display"} <= labels


@pytest.mark.parametrize("label, function", PUBLIC, ids=[label for label, _ in PUBLIC])
def test_every_parameter_and_the_return_are_annotated(label, function):
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name == "self" and "." in label:
        parameters = parameters[1:]   # a method's self is its class
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{label}: parameters without a type hint: {', '.join(missing)}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{label}: no return type hint"


@pytest.mark.parametrize("label, function", PUBLIC, ids=[label for label, _ in PUBLIC])
def test_the_hints_resolve_at_run_time(label, function):
    hints = typing.get_type_hints(function)
    assert "return" in hints
    for name, hint in hints.items():
        assert hint is not None or name == "return", f"{label}: hint of {name} resolved to None"


def test_builders_say_they_return_an_expression():
    builders = ["tensor", "matrix", "vector", "scalar", "eye", "einsum", "sum", "trace", "inv", "solve", "det",
                "logdet", "norm", "sqrt", "max", "mean", "softmax", "where", "cholesky", "broadcast_to",
                "substitute", "simplify", "parse", "polygamma", "jvp"]
    for name in builders:
        assert typing.get_type_hints(getattr(td, name))["return"] is Expr, name
    assert typing.get_type_hints(type(td.exp).__call__)["return"] is Expr
    assert typing.get_type_hints(td.compile)["return"] is td.Program
    assert typing.get_type_hints(td.latex)["return"] is str


def _stub_declarations(path):
    """Names declared in ``path`` (a stub or a module), with the names listed in its __all__."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared, listed = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            declared.add(node.name)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            listed = {element.value for element in node.value.elts}
    return declared, listed


def test_the_function_table_rows_are_named_for_type_checkers():
    declared, listed = _stub_declarations(PACKAGE / "functionrows.pyi")
    rows = set(td.FUNCTIONS)
    assert declared == listed == rows, (
        f"functionrows.pyi must declare exactly the rows of functions.FUNCTIONS: add "
        f"{sorted(rows - declared)}, remove {sorted(declared - rows)}")


def test_the_operators_attached_to_expressions_are_declared_for_type_checkers():
    # ops.py and substitution.py attach operators and methods to Expr at import; operators.py
    # declares them for type checkers, and must name every one
    attached = {name for name, member in vars(Expr).items()
                if name not in HOOKS and not hasattr(object, name)   # object's (__repr__) are typed
                and _defined_here(member.fget if isinstance(member, property) else member)
                and (member.fget if isinstance(member, property) else member).__module__ != "tensordiff.expr"}
    declared, _ = _stub_declarations(PACKAGE / "operators.py")
    assert {"__add__", "__matmul__", "__getitem__", "T", "subs"} <= attached
    assert attached <= declared, f"operators.py does not declare {sorted(attached - declared)}"
    assert {"shape", "free"} <= declared


def test_every_type_alias_is_on_the_api_page():
    from tensordiff import annotations
    text = (PACKAGE.parent / "docs" / "api.md").read_text(encoding="utf-8")
    entry = text[text.index("::: tensordiff.annotations"):]
    members = entry[entry.index("members: [") + len("members: ["):entry.index("]")]
    assert [name.strip() for name in members.split(",")] == annotations.__all__
    for name in annotations.__all__:   # each alias resolves and is an annotation a checker reads
        assert typing.get_type_hints(type("Probe", (), {"__annotations__": {"value": name},
                                                         "__module__": annotations.__name__}))
