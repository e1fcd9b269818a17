"""Substitution: replace symbols or subexpressions of an expression, all at once.

``substitute(expr, {old: new})`` rebuilds ``expr`` through the canonical constructors with every
``old`` replaced by its ``new`` simultaneously (``{A: B, B: A}`` swaps). An ``old`` is a symbol
(or its name) or any subexpression: nodes are interned, so an occurrence as a node is found by
identity. Two kinds of occurrence are not nodes, since canonical forms flatten them: a subset of
a sum's terms (``A + B`` inside ``A + B + C``), and a group of a product's factors (``A @ B``
inside ``A @ B @ C``, which is one contraction of three operands). A factor group is matched by
its operands and their index structure: its summed indices must be summed inside the group only,
and a coefficient divides out. The method ``Expr.subs`` (SymPy's spelling) is attached here.
"""

from __future__ import annotations

from typing import Any, Optional

from .errors import ShapeError, TensorDiffError
from .expr import Add, Einsum, Expr, Var, make, topological
from .indices import format_dims
from .printing import short
from .einsumnodes import einsum_node, is_symmetric
from .simplify import as_expr, rewrite, substitute as replace_nodes
from .sumnodes import add_node
from .annotations import ExprLike, Substitution

__all__ = ["substitute"]


def substitute(expr: ExprLike, mapping: Substitution) -> Expr:
    """``expr`` with each key of ``mapping`` replaced by its value, simultaneously.

    Keys are symbols, symbol names or subexpressions of ``expr``: a node of it, some terms of
    one of its sums, or a group of the factors of one of its products. Values are expressions (or
    numbers, for a scalar key) of the key's shape. A symbol that ``expr`` does not use is left
    alone, as SymPy does; any other key that does not occur is an error.

    Parameters
    ----------
    expr : Expr
        The expression.
    mapping : dict
        {old: new}: old a symbol, a symbol's name or a subexpression of ``expr``; new an expression (or a number for a scalar) of old's shape.

    Returns
    -------
    Expr
        ``expr`` with every key replaced by its value, simultaneously, simplified.

    Raises
    ------
    TensorDiffError
        If ``mapping`` is not a dict, or a key other than a symbol does not occur in ``expr``.
    ShapeError
        If a value's shape differs from its key's.

    Examples
    --------
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
    # each key is first replaced by a placeholder symbol, each placeholder by its value at the end,
    # so no replacement looks inside another's value (the replacements are simultaneous)
    replacements, sums, products, values = {}, [], [], {}
    for old, new in mapping.items():
        old = _key(old, symbols)
        placeholder = make(Var, f"substitute {len(values)}", old.shape)   # no symbol has such a name
        values[placeholder] = _value(old, new)
        if isinstance(old, Einsum) and _matchable(old):   # as a node, and as factors of larger products
            products.append((old, placeholder, old in present))
        if old in present:
            replacements[old] = placeholder
        elif isinstance(old, Add):
            sums.append((old, placeholder))
        elif not isinstance(old, (Var, Einsum)) or isinstance(old, Einsum) and not _matchable(old):
            raise TensorDiffError(f"{_label(old)} does not occur in {_label(expr)}")
    for old, placeholder in sums:   # A + B inside A + B + C: the parent sum is replaced with new + C
        found = False
        for node in nodes:
            if isinstance(node, Add) and node not in replacements and set(old.terms) <= set(node.terms):
                rest = [t for t in node.terms if t not in old.terms]
                replacements[node] = add_node([placeholder] + rest, node.shape)
                found = True
        if not found:
            raise TensorDiffError(f"the sum {_label(old)} does not occur in {_label(expr)}")
    result = replace_nodes(expr, replacements) if replacements else expr
    for old, placeholder, was_node in products:
        found = [old] if was_node else []

        def replace_group(node, old=old, placeholder=placeholder, found=found):   # bound: run here, in this pass
            replaced = _replace_factor_groups(node, old, placeholder) if isinstance(node, Einsum) else None
            if replaced is not None:
                found.append(node)
            return replaced
        result = rewrite([result], replace_group)[0]
        if not found:
            raise TensorDiffError(f"{_label(old)} does not occur in {_label(expr)}, as a node or as a group "
                                  "of a product's factors")
    return replace_nodes(result, values) if result is not expr else expr


def _matchable(pattern):
    """Whether a product can be looked for among a contraction's factors: operands, a nonzero
    coefficient, distinct output indices, and every index on an operand (no delta, no broadcast)."""
    used = {i for sub in pattern.subscripts for i in sub}
    return bool(pattern.operands) and pattern.coeff != 0.0 and len(set(pattern.out)) == len(pattern.out) \
        and used == set(range(len(pattern.dims)))


def _replace_factor_groups(node, pattern, new):
    """``node`` with each disjoint group of its factors that forms ``pattern`` replaced by ``new``, or None."""
    free, matches = list(range(len(node.operands))), []
    while (match := _find_group(node, pattern, free)) is not None:
        matches.append(match)
        free = [k for k in free if k not in match[0]]
    if not matches:
        return None
    summed = {ids[i] for _, ids in matches for i in ids if i not in pattern.out}
    kept = [i for i in range(len(node.dims)) if i not in summed]
    renumber = {i: k for k, i in enumerate(kept)}
    operands = [new] * len(matches) + [node.operands[k] for k in free]
    subscripts = [tuple(renumber[ids[i]] for i in pattern.out) for _, ids in matches] + \
        [tuple(renumber[i] for i in node.subscripts[k]) for k in free]
    return einsum_node(node.coeff / pattern.coeff ** len(matches), operands, subscripts,
                       tuple(renumber[i] for i in node.out), [node.dims[i] for i in kept])


def _find_group(node, pattern, free):
    """(positions, ids): operands of ``node`` at ``positions`` (among ``free``) that are ``pattern``'s
    with its indices mapped one to one by ``ids``, each summed index summed within them only; or None."""
    def summed_inside(positions, ids):
        outside = set(node.out)
        for k in range(len(node.operands)):
            if k not in positions:
                outside.update(node.subscripts[k])
        return all(ids[i] not in outside for i in ids if i not in pattern.out)

    def extend(a, positions, ids):
        if a == len(pattern.operands):
            return (positions, ids) if summed_inside(positions, ids) else None
        wanted = pattern.operands[a]
        for k in free:
            if k in positions or node.operands[k] is not wanted:
                continue
            for sub in _orders(pattern.subscripts[a], wanted):
                mapped = _unify(ids, sub, node.subscripts[k], pattern.dims, node.dims)
                if mapped is not None:
                    found = extend(a + 1, positions + (k,), mapped)
                    if found is not None:
                        return found
        return None

    return extend(0, (), {})


def _orders(sub, operand):
    """The index orders under which ``operand`` may appear: a symmetric matrix's either way round."""
    return (sub, sub[::-1]) if len(sub) == 2 and sub[0] != sub[1] and is_symmetric(operand) else (sub,)


def _unify(ids, pattern_sub, node_sub, pattern_dims, node_dims):
    """``ids`` extended so that pattern_sub maps onto node_sub one to one, or None if it cannot be."""
    ids = dict(ids)
    taken = set(ids.values())
    for p, t in zip(pattern_sub, node_sub):
        if p in ids:
            if ids[p] != t:
                return None
        elif t in taken or pattern_dims[p] != node_dims[t]:
            return None
        else:
            ids[p] = t
            taken.add(t)
    return ids


def _label(expr):
    return short(expr, 60).lstrip("= ")   # a scalar's one-line form starts with "= "


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
        raise ShapeError(f"cannot substitute {_label(new)} (shape {format_dims(new.shape)}) for "
                         f"{_label(old)} (shape {format_dims(old.shape)}): the shapes must be equal")
    return new


def subs(self: Expr, old: Any, new: Optional[ExprLike] = None, /) -> Expr:
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


Expr.subs = subs   # type: ignore[method-assign, assignment]  # the method lives here, beside substitute, not in expr.py
