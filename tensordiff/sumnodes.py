"""Canonical sum: nested sums flattened, equal terms collected (coefficients added), zeros dropped,
terms sorted by the structural key of their coefficient-1 form.
"""

from __future__ import annotations

from .constantnodes import is_zero, with_coeff, zeros
from .einsumnodes import is_wrapper, merge_limit, scale
from .errors import ShapeError
from .expr import Add, Einsum, make
from .nodekeys import einsum_skey
from .indices import format_dims

# Rules on a sum's collected [(term, coefficient)]: each returns a shorter list or None. matrixrules.py
# adds the one that needs the function table.
SUM_RULES = []


def terms_of(node):
    """The summands of ``node`` (itself when it is no sum; none when it is zero)."""
    if isinstance(node, Add):
        return node.terms
    if is_zero(node):
        return ()
    return (node,)


def add_node(terms, shape=None):
    """Canonical sum of ``terms``, all of one shape (``shape`` is needed when there may be none)."""
    terms = list(terms)
    if shape is None:
        if not terms:
            raise ValueError("add_node needs a shape for an empty sum")
        shape = terms[0].shape
    shape = tuple(shape)
    # Terms are collected by the identity of their coefficient-1 form, found without building it:
    # building it (and rebuilding each term from it) made every sum canonicalise its terms again.
    collected, original = {}, {}
    for term in terms:
        if term.shape != shape:
            raise ShapeError(f"cannot add a term of shape {format_dims(term.shape)} to one of shape {format_dims(shape)}")
        for t in term.terms if isinstance(term, Add) else () if is_zero(term) else (term,):   # terms_of(term)
            if isinstance(t, Einsum) and t.coeff != 1.0:
                key, c = _unit_key(t), t.coeff
            else:
                key, c = _node_key(t), 1.0
            collected[key] = collected.get(key, 0.0) + c
            original.setdefault(key, t)
    kept = [(key, c) for key, c in collected.items() if c != 0.0]
    if len(kept) > 1 and SUM_RULES:   # matrixrules.py: c·A·B·u + d·A·B·v = A·B·(c·u + d·v), ...
        pairs = [(original[key], c / original[key].coeff if isinstance(original[key], Einsum) else c)
                 for key, c in kept]
        for rule in SUM_RULES:
            shorter = rule(pairs)
            if shorter is not None:   # fewer terms: building their sum again terminates
                return add_node([t if m == 1.0 else scale(t, m) for t, m in shorter if m != 0.0 and not is_zero(t)],
                                shape)
    if not kept:
        return zeros(shape)
    if len(kept) > 1:
        kept.sort(key=lambda kc: _unit_skey(original[kc[0]]))
    nodes = tuple([_with_total(original[key], c) for key, c in kept])
    if len(nodes) == 1:
        return nodes[0]
    return make(Add, nodes)


def _node_key(node):
    """A key equal for equal nodes, whether the node is built yet or not."""
    if isinstance(node, Einsum):
        return (node.coeff, node.operands, node.subscripts, node.out, node.dims)
    return node


def _unit_key(t):
    """The key of ``with_coeff(t, 1.0)`` (the Einsum ``t``'s coefficient-1 form)."""
    if is_wrapper(t):
        return _node_key(t.operands[0])
    return (1.0, t.operands, t.subscripts, t.out, t.dims)


def _unit_skey(t):
    """The structural key of ``t``'s coefficient-1 form (``t`` itself unless an Einsum with another coefficient)."""
    if not isinstance(t, Einsum) or t.coeff == 1.0:
        return t.skey
    if is_wrapper(t):
        return t.operands[0].skey
    if t.unit_skey_cache is None:   # a term meets a sort in every sum it enters: its key is made once
        t.unit_skey_cache = einsum_skey(1.0, t.operands, t.subscripts, t.out, t.dims)
    return t.unit_skey_cache


def _with_total(t, coeff):
    """The term ``t`` of a sum with its coefficient-1 form's total coefficient ``coeff``."""
    if isinstance(t, Einsum):
        if t.coeff == coeff and len(t.operands) <= merge_limit(t):
            return t    # canonical already: scale would merge it whole and canonicalise it again to itself
        base = with_coeff(t, 1.0)
    else:
        base = t
    return base if coeff == 1.0 else scale(base, coeff)
