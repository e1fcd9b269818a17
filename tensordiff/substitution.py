"""Substitution: replace symbols or subexpressions of an expression, all at once.

``substitute(expr, {old: new})`` rebuilds ``expr`` through the canonical constructors with every
``old`` replaced by its ``new`` simultaneously (``{A: B, B: A}`` swaps). An ``old`` is a symbol
(or its name) or any subexpression that occurs in ``expr`` as a node: nodes are interned, so an
occurrence is found by identity. A sum's subset of terms is found too (``A + B`` inside
``A + B + C``); a part of a product is not, because a product of several factors is one
contraction node. The method ``Expr.subs`` (SymPy's spelling) is attached here.
"""

from .errors import ShapeError, TensorDiffError
from .expr import Add, Expr, Var, topological
from .indices import format_dims
from .printing import short
from .simplify import add_node, as_expr, substitute as replace_nodes

__all__ = ["substitute"]


def substitute(expr, mapping):
    """``expr`` with each key of ``mapping`` replaced by its value, simultaneously.

    Keys are symbols, symbol names or subexpressions of ``expr``; values are expressions (or
    numbers, for a scalar key) of the key's shape. A symbol that ``expr`` does not use is left
    alone, as SymPy does; a compound key that does not occur is an error, since a part of a
    product cannot be found (products of several factors are one contraction).

    >>> import tensordiff as td
    >>> X, W = td.matrix("X", "n p"), td.matrix("W", "n p")
    >>> y = td.vector("y", "p")
    >>> e = td.substitute(td.sum(X @ y), {X: 2 * W})
    >>> sorted(e.free)
    ['W', 'y']
    """
    expr = as_expr(expr)
    if not isinstance(mapping, dict):
        raise TensorDiffError(f"substitute takes a dict {{old: new}}, got {type(mapping).__name__}")
    nodes = topological([expr])
    symbols = {node.name: node for node in nodes if isinstance(node, Var)}
    present = set(nodes)
    replacements, sums = {}, []
    for old, new in mapping.items():
        old = _key(old, symbols)
        new = _value(old, new)
        if old in present:
            replacements[old] = new
        elif isinstance(old, Add):
            sums.append((old, new))
        elif not isinstance(old, Var):
            raise TensorDiffError(f"{short(old, 60)} does not occur in {short(expr, 60)} as a subexpression: a "
                                  "factor of a product is merged into one contraction and cannot be replaced; "
                                  "substitute one of its symbols instead")
    for old, new in sums:   # A + B inside A + B + C: the parent sum is replaced with new + C
        found = False
        for node in nodes:
            if isinstance(node, Add) and node not in replacements and set(old.terms) <= set(node.terms):
                rest = [t for t in node.terms if t not in old.terms]
                replacements[node] = add_node([new] + rest, node.shape)
                found = True
        if not found:
            raise TensorDiffError(f"the sum {short(old, 60)} does not occur in {short(expr, 60)}")
    return replace_nodes(expr, replacements) if replacements else expr


def _key(old, symbols):
    if isinstance(old, str):
        node = symbols.get(old)
        if node is None:
            raise TensorDiffError(f"substitute: the expression has no symbol {old!r} (its symbols: "
                                  f"{', '.join(sorted(symbols)) or 'none'})")
        return node
    if not isinstance(old, Expr):
        raise TensorDiffError(f"substitute: a key must be a symbol, a symbol name or an expression, got "
                              f"{type(old).__name__} {old!r:.40}")
    return old


def _value(old, new):
    new = as_expr(new)
    if new.shape != old.shape:
        raise ShapeError(f"cannot substitute {short(new, 50)} (shape {format_dims(new.shape)}) for "
                         f"{short(old, 50)} (shape {format_dims(old.shape)}): the shapes must be equal")
    return new


def subs(self, old, new=None, /):
    """SymPy's spelling of ``td.substitute``: ``e.subs(A, B)`` or ``e.subs({A: B, ...})``.

    >>> import tensordiff as td
    >>> x, z = td.vector("x", "n"), td.vector("z", "n")
    >>> (x @ x).subs(x, z) is z @ z
    True
    """
    if new is None:
        if not isinstance(old, dict):
            raise TensorDiffError("subs takes (old, new) or one dict {old: new}")
        return substitute(self, old)
    return substitute(self, {old: new})


Expr.subs = subs
