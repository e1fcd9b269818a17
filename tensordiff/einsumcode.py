"""Printing expressions as array-library code: ``to_einsum`` (numpy einsum calls) and the printer
``td.codegen`` wraps in a standalone function, for numpy, jax and torch.

Shared subexpressions are assigned once, under names clear of every symbol, dim and function of
the expression (naming.py); sizes of dims are read from the symbols' shapes, or derived from a
composite dim of one (sizecode.py).
"""

from collections.abc import Sequence
from typing import Union

from .errors import TensorDiffError
from .expr import Apply, Einsum, Expr, Var, topological
from .indices import base_dims, slice_text
from .naming import CodeNames, user_names
from .matrixform import sizing_symbols
from .printing import code_name, number_text, printable, shared_bindings
from .reductionprint import CodeForms
from .reshapeprint import StructureCodeForms
from .sizecode import dim_size_code, size_lines

__all__ = ["to_einsum", "CodePrinter", "TARGETS", "HELPER_MODULES", "code_bindings", "helper_import",
           "repeats_argument", "import_line"]


# One table per code target: how each step is spelled in that array library (imported as
# ``module``, or under another alias where a user name takes that one: see _spelling).
TARGETS = {
    "numpy": dict(
        module="np", library="numpy", einsum="np.einsum", eye="np.eye({})", ones="np.ones({})",
        optimize=", optimize=True",  # numpy contracts 3+ operands in one naive loop nest otherwise
        inv="np.linalg.inv({})", det="np.linalg.det({})", logdet="np.linalg.slogdet({})[1]",
        solve="np.linalg.solve({}, {})"),
    "jax": dict(
        module="jnp", library="jax.numpy", einsum="jnp.einsum", eye="jnp.eye({})",
        ones="jnp.ones({})", inv="jnp.linalg.inv({})", det="jnp.linalg.det({})",
        logdet="jnp.linalg.slogdet({})[1]", solve="jnp.linalg.solve({}, {})"),
    "torch": dict(
        module="torch", library="torch", einsum="torch.einsum",
        eye="torch.eye({}, dtype=torch.float64)", ones="torch.ones({}, dtype=torch.float64)",
        inv="torch.linalg.inv({})", det="torch.linalg.det({})", logdet="torch.linalg.slogdet({})[1]",
        solve="torch.linalg.solve({}, {})"),
}

# The modules an elementwise function's code template names besides the array module (functions.py):
# {placeholder: (alias asked for, package it is imported from)}, or a submodule of the array module.
HELPER_MODULES = {
    "numpy": {"sp": ("special", "scipy")},
    "jax": {"sp": ("special", "jax.scipy"), "lax": ("lax", "jax")},
    "torch": {"sp": ".special"},
}


def code_bindings(roots, target):
    """The nodes code names (``shared_bindings``), plus the arguments a function's code writes twice."""
    bound = set(shared_bindings(roots, bind_matrix_args=False))
    bound.update(node.arg for node in topological(roots) if isinstance(node, Apply)
                 and repeats_argument(node.fn, target) and not isinstance(node.arg, Var))
    return [node for node in topological(roots) if node in bound]


def helper_import(target, placeholder, alias):
    """``from scipy import special`` (as ``alias``) for a helper module of an elementwise function."""
    name, package = HELPER_MODULES[target][placeholder]
    return f"from {package} import {name}" + ("" if alias == name else f" as {alias}")


def repeats_argument(fn, target):
    """Whether ``fn``'s code for ``target`` writes its argument twice (then code binds the argument to a name)."""
    template = None if fn.user or fn.exponent is not None else fn.code_for(target)
    return template is not None and template.count("{x}") > 1


def _spec_letters(count):
    alphabet = "ijklmnopqrstuvwxyzabcdefghABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if count > len(alphabet):
        raise ValueError(f"an einsum with {count} indices exceeds numpy's 52 letters")
    return alphabet[:count]


def import_line(target, alias):
    """``import numpy as np``, or the library under ``alias``."""
    library = TARGETS[target]["library"]
    return f"import {library}" if alias == library else f"import {library} as {alias}"


def _spelling(target, alias):
    """TARGETS[target] with the module alias ``alias`` in every template."""
    module = TARGETS[target]["module"] + "."

    def respell(value):
        if isinstance(value, dict):
            return {key: respell(v) for key, v in value.items()}
        return value.replace(module, alias + ".")
    return respell(TARGETS[target])


class CodePrinter(CodeForms, StructureCodeForms):
    """Source for each node in ``target``'s library, given names for bound nodes and the
    identifiers (naming.CodeNames) of the symbols, dims, user functions and module."""

    def __init__(self, names, target, identifiers):
        self.names = names
        self.ids = identifiers
        self.t = _spelling(target, identifiers.module)
        self.target = target
        self.dims_used = set()
        self.helpers = {}   # {placeholder: alias} of the helper modules the code uses

    def code(self, node, defining=None):
        if node is not defining and node in self.names:
            return self.names[node]
        return getattr(self, "_" + type(node).__name__.lower())(node)

    def size(self, dim):
        """Code for the size of ``dim``: its name, (n * m) for a composite, or len(range(n)[2:5]) for a
        dim made by slicing."""
        return dim_size_code(dim, self._plain_size)

    def _plain_size(self, dim):
        self.dims_used.add(dim)
        return self.ids.dims[dim]

    def _var(self, node):
        return self.ids.symbols[node.name]

    def _select(self, node):
        # rows of the identity: eye(n)[3] is the one-hot e3, eye(n)[2:5] the 0/1 matrix S[b, a]
        rows = slice_text(node.key)
        if not isinstance(node.key, int) and node.key[2] < 0:  # torch slices only forwards
            rows = f"list(range({self.size(node.dim)})[{rows}])"
        return f"{self.t['eye'].format(self.size(node.dim))}[{rows}]"

    def _take(self, node):
        return f"{_wrap(self.code(node.arg))}[{', '.join(':' if k is None else slice_text(k) for k in node.keys)}]"

    def _einsum(self, node):
        n = len(node.dims)
        first = {}
        out_letters = []
        extra_ops, extra_subs = [], []
        pool = list(_spec_letters(n + len(node.out)))
        letter = {i: pool[i] for i in range(n)}
        spare = pool[n:]
        for position, i in enumerate(node.out):
            if i in first:
                new = spare.pop(0)
                out_letters.append(new)
                extra_ops.append(self.t["eye"].format(self.size(node.dims[i])))
                extra_subs.append(letter[i] + new)
            else:
                first[i] = position
                out_letters.append(letter[i])
        used = {i for sub in node.subscripts for i in sub}
        repeated = {i for i in node.out if node.out.count(i) > 1}
        for i in dict.fromkeys(node.out):
            if i not in used and i not in repeated:
                extra_ops.append(self.t["ones"].format(self.size(node.dims[i])))
                extra_subs.append(letter[i])
        scalars, tensors, subs = [], [], []
        for op, sub in zip(node.operands, node.subscripts):
            text = self.code(op)
            if not sub:
                scalars.append(_wrap(text))
            else:
                tensors.append(text)
                subs.append("".join(letter[i] for i in sub))
        factors = [number_text(node.coeff)] if node.coeff != 1.0 else []
        factors += scalars
        for i in range(n):
            if i not in used and i not in first:
                factors.append(self.size(node.dims[i]))
        tensors += extra_ops
        subs += extra_subs
        if len(tensors) == 1 and subs[0] == "".join(out_letters):
            factors.append(_wrap(tensors[0]))
        elif tensors:
            spec = ",".join(subs) + "->" + "".join(out_letters)
            optimize = self.t.get("optimize", "") if len(tensors) > 2 else ""
            factors.append(f"{self.t['einsum']}('{spec}', {', '.join(tensors)}{optimize})")
        if not factors:
            return "1.0"
        return " * ".join(factors)

    def _add(self, node):
        return "(" + " + ".join(self.code(t) for t in node.terms) + ")"

    def _apply(self, node):
        arg = self.code(node.arg)
        fn = node.fn
        if self.target == "torch" and _is_number(arg):   # torch's functions take tensors, not Python numbers
            arg = f"{self.ids.module}.tensor({arg}, dtype={self.ids.module}.float64)"
        elif isinstance(node.arg, Einsum) and not node.arg.operands:   # a size, a Python int: 1/n at n = 0
            module = self.ids.module                                     # is inf (np.mean's nan), not an error
            arg = {"torch": f"{module}.tensor({arg}, dtype={module}.float64)",
                   "jax": f"{module}.asarray({arg}, dtype=float)"}.get(self.target, f"{module}.float64({arg})")
        if fn.user:
            return f"{self.ids.functions[fn.base, fn.order]}({arg})"
        if fn.exponent is not None:
            return f"{_wrap(arg)} ** {number_text(fn.exponent)}"
        template = fn.code_for(self.target)
        if template is None:
            raise TensorDiffError(f"function {fn.display} has no {self.target} code")
        if template.count("{x}") > 1:
            arg = _wrap(arg)
        modules = {"np": self.ids.module}
        for placeholder in HELPER_MODULES[self.target]:
            if "{" + placeholder + "}" in template:
                modules[placeholder] = self.helper(placeholder)
        return template.format(x=arg, **modules)

    def helper(self, placeholder):
        """The alias of a helper module (claimed on first use, clear of every user name)."""
        if placeholder not in self.helpers:
            spec = HELPER_MODULES[self.target][placeholder]
            self.helpers[placeholder] = self.ids.module + spec if isinstance(spec, str) else self.ids.claim(spec[0])
        return self.helpers[placeholder]

    def import_lines(self):
        """The import lines of the helper modules the code uses."""
        return [helper_import(self.target, placeholder, alias) for placeholder, alias in self.helpers.items()
                if not isinstance(HELPER_MODULES[self.target][placeholder], str)]

    def _inv(self, node):
        return self.t["inv"].format(self.code(node.arg))

    def _det(self, node):
        return self.t["det"].format(self.code(node.arg))

    def _logdet(self, node):
        return self.t["logdet"].format(self.code(node.arg))

    def _solve(self, node):
        return self.t["solve"].format(self.code(node.matrix), self.code(node.rhs))


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrap(text):
    return text if text.replace("_", "").replace(".", "").isalnum() else "(" + text + ")"


def to_einsum(expr: Expr, name: str = "out", *, sized_by: Union[Expr, Sequence[Expr], None] = None) -> str:
    """numpy code computing an expression with einsum calls, shared subexpressions assigned once.

    Symbols are read under their names (made Python-safe where needed: ``lambda`` becomes
    ``lambda_``); sizes of dims are read from the symbols' shapes: of the expression's symbols,
    else of ``sized_by``'s; a dim a symbol holds only inside a composite dim is derived from it
    (θ of dims d·k gives ``k = θ.shape[0] // d``, v of dims a+b gives ``b = v.shape[0] - a``); else
    the code reads it as a variable named like the dim. The code depends only on the expression and the arguments, never on which other symbols are alive.
    ``td.codegen`` wraps the same code in a standalone function (a size no argument has is a parameter).

    Parameters
    ----------
    expr : Expr or number
        The expression to write.
    name : str, optional
        The variable the last line assigns (default "out").
    sized_by : Expr or list of Expr, optional
        Symbols whose shapes size the dims the expression holds no symbol of: the symbols a
        derivative was taken by (the k of d(A @ V)/dV = A[i,k] δ[j,l] is V's columns).

    Returns
    -------
    str
        Python statements, using ``np`` for numpy.

    Raises
    ------
    TensorDiffError
        If ``expr`` is neither an expression nor a number, ``name`` is not a Python identifier, or
        ``sized_by`` holds anything but symbols.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> print(td.to_einsum(X.T @ X))
    out = np.einsum('ki,kj->ij', X, X)
    >>> lam = td.scalar("lam")
    >>> print(td.to_einsum(td.inv(X.T @ X + lam * td.eye("p")) @ X.T))
    p = X.shape[1]
    out = np.einsum('jk,ik->ij', X, np.linalg.inv((np.einsum('ki,kj->ij', X, X) + lam * (np.eye(p)))))
    >>> V = td.matrix("V", "p k")
    >>> print(td.to_einsum(td.diff(X @ V, V), sized_by=V))
    k = V.shape[1]
    out = np.einsum('ik,jl->ijkl', X, np.eye(k))
    >>> v, q = td.vector("v", "a+b"), td.vector("q", "a")
    >>> print(td.to_einsum(td.sum(v * td.concatenate([q, td.ones("b")]))))
    a = q.shape[0]
    b = v.shape[0] - a
    out = np.einsum('i,i->', v, (np.einsum('ij,j->i', np.eye((a + b))[:, 0:0 + a], q) + np.einsum('ij->i', np.eye((a + b))[:, a:a + b])))
    """
    expr = printable(expr, "to_einsum")
    name = code_name(name, "to_einsum")
    sizing = sizing_symbols(sized_by, "to_einsum")
    symbols, _, dims = user_names(topological([expr]))
    unheld = dims - {d for node in symbols.values() for d in node.dims}
    sizers: dict[str, Var] = {}   # symbols of sized_by with a dim the expression's symbols hold no axis of
    for node in sizing:           # (I_k in d(X@V)/dV); one named like a symbol of expr would be read as that one
        if node.name not in symbols and any(b in unheld for d in node.dims for b in base_dims(d)):
            sizers.setdefault(node.name, node)
    ids = CodeNames([expr], TARGETS["numpy"]["module"], avoid={name}, extra_symbols=sorted(sizers))
    bound = code_bindings([expr], "numpy")
    names = dict(zip(bound, ids.bindings(len(bound))))
    printer = CodePrinter(names, "numpy", ids)
    lines = [f"{names[node]} = {printer.code(node, defining=node)}" for node in bound]
    lines.append(f"{name} = {printer.code(expr, defining=expr)}")
    if printer.dims_used:
        lines.insert(0, _size_lines(expr, printer.dims_used, ids, list(sizers.values())))
    lines[:0] = printer.import_lines()
    if ids.module != TARGETS["numpy"]["module"]:
        lines.insert(0, import_line("numpy", ids.module))
    return "\n".join(lines)


def _size_lines(expr, dims, ids, sizers):
    """The lines sizing ``dims``: from the expression's symbols, then from ``sizers`` (of sized_by)."""
    shapes = [(ids.symbols[node.name], node.dims) for node in [*topological([expr]), *sizers] if isinstance(node, Var)]
    return "\n".join(f"{ids.dims[d]} = {code}" if code is not None else   # read from the namespace, as the symbols are
                     f"# {ids.dims[d]}: the size of dim {d}, which no symbol of the expression has (sized_by= names one)"
                     for d, code in size_lines(shapes, dims, ids.dims))
