"""griffe extension: document callables that are instances, such as ``td.exp``, as functions.

The built-in elementwise functions are ``Elementwise`` objects, the rows of the table in
functions.py, published by ``globals().update(FUNCTIONS)`` and re-exported by a star import, and
each row writes its docstring from its facts when it is first read. Static analysis sees none of
this. For each module of the package, this adds (or replaces) every public name whose runtime
value is a callable instance with a docstring of its own (not its class's) as a function with
the runtime signature and docstring, so the API page renders it like any other function.
"""

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_package(self, *, pkg, **kwargs):
        for module in _modules(pkg):
            try:
                runtime = importlib.import_module(module.path)
            except ModuleNotFoundError as exc:
                if exc.name != module.path:
                    raise
                continue   # a stub without a module (functionrows.pyi) has nothing at run time
            names = set(getattr(runtime, "__all__", ())) | {name for name, member in module.members.items()
                                                            if not member.is_alias and member.is_attribute}
            for name in sorted(names):
                value = getattr(runtime, name, None)
                if _is_documented_instance(value, pkg.name):
                    module.set_member(name, _as_function(name, value, module.members.get(name)))


def _is_documented_instance(value, package):
    if value is None or not callable(value) or inspect.isroutine(value) or inspect.isclass(value):
        return False
    if type(value).__module__.partition(".")[0] != package:   # type aliases (annotations.py) are callable too
        return False
    return inspect.getdoc(value) not in (None, inspect.getdoc(type(value)))


def _modules(module):
    yield module
    for member in module.modules.values():
        if not member.is_alias and member.name != "__main__":   # importing __main__ would run the CLI
            yield from _modules(member)


def _as_function(name, value, attribute):
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
        inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
        inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
        inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
        inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
    }
    signature = inspect.signature(value)
    parameters = griffe.Parameters(*(
        griffe.Parameter(p.name, kind=kinds[p.kind], annotation=_annotation(p.annotation),
                         default=None if p.default is inspect.Parameter.empty else repr(p.default))
        for p in signature.parameters.values()))
    lines = {} if attribute is None or attribute.is_alias else {"lineno": attribute.lineno, "endlineno": attribute.endlineno}
    function = griffe.Function(name, parameters=parameters, returns=_annotation(signature.return_annotation), **lines)
    function.docstring = griffe.Docstring(inspect.getdoc(value), parent=function)
    return function


def _annotation(hint):
    """A type hint as the API page prints it: the source text (hints are strings under postponed evaluation)."""
    if hint is inspect.Parameter.empty:
        return None
    return hint if isinstance(hint, str) else inspect.formatannotation(hint)
