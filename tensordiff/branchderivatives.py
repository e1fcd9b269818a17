"""The derivative of a choice between branches, where(m, ∂a, ∂b), with what the branches share
taken out of the choice.

A branch's derivative is an elementwise factor times a Jacobian: ∂relu-like where(M > N, M², sin M)
is where(M > N, 2M[k,l] δ[k,i] δ[l,j], cos M[k,l] δ[k,i] δ[l,j]). Chosen entry by entry over the
derivative's shape, the choice is a tensor of shape M.shape + M.shape (n⁴ entries: 7.3 TiB at
n = 1000) in which the deltas can never meet a summed index. Each entry of that tensor is one of
the two branches' entries, and both branches are the same Jacobian J times an elementwise factor,
so the choice is where(M > N, 2M, cos M)[k,l] J[k,l,i,j]: the n² choice times J, whose deltas
then disappear. Entry for entry this is the same product of the same numbers, so it is exact, and
it keeps the where's guarantee that a branch not taken never reaches the result (not 0·∂b, which
is nan where ∂b is infinite). Branches through different Jacobians are chosen against an exact
zero, one Jacobian at a time. That zero multiplies the Jacobian's entries, so a Jacobian that may
hold an infinite or nan entry (a reciprocal, a log, an exp that may overflow: the derivative of a
branch's own singular part, kept whole as one operand) is chosen over the whole shape instead.
"""

import weakref

from .composite import Embed, Merge, Reinterpret
from .constantnodes import constant, constant_value, is_zero, zeros
from .einsumnodes import einsum_node, einsum_on
from .expr import Add, Apply, Einsum, topological
from .simplify import where_node
from .sumnodes import add_node

__all__ = ["where_of_derivatives"]

# the 0/1 constants of vec, kron, reshape and concatenate: a derivative that is one of them alone
# is the Jacobian J of a factor 1 (its entries finite, so the choice's exact zeros may multiply them)
STRUCTURES = (Merge, Embed, Reinterpret)


def where_of_derivatives(mask, da, db):
    """where(mask, da, db) for derivatives da, db of shape mask.shape + W: for each Jacobian J
    that terms of the branches share, the choice between their elementwise factors times J.

    Branches with different Jacobians J1, J2 are where(mask, fa, 0)·J1 + where(mask, 0, fb)·J2,
    entry for entry the chosen branch plus an exact zero. Terms of no such form are chosen as
    they are, over the whole shape.

    >>> import tensordiff as td
    >>> M, N = td.matrix("M", "n n"), td.matrix("N", "n n")
    >>> g = td.grad(td.sum(td.where(M > N, M ** 2, td.sin(M))), M)
    >>> print(g)
    out[i,j] = where([M[i,j] > N[i,j]], 2 M[i,j], cos(M[i,j]))
    """
    own = mask.ndim
    shape, factor_shape = da.shape, da.shape[:own]
    (shared_a, rest_a), (shared_b, rest_b) = _by_jacobian(da, own), _by_jacobian(db, own)
    ids = tuple(range(len(shape)))
    terms = []
    for jacobian in dict.fromkeys([*shared_a, *shared_b]):
        chosen = where_node(mask, _sum(shared_a.get(jacobian, []), factor_shape),
                            _sum(shared_b.get(jacobian, []), factor_shape))
        terms.append(einsum_node(1.0, (chosen, jacobian), (ids[:own], ids), ids, shape))
    if rest_a or rest_b:
        whole_mask = einsum_node(1.0, (mask,), (ids[:own],), ids, shape)
        terms.append(where_node(whole_mask, _sum(rest_a, shape), _sum(rest_b, shape)))
    return _sum(terms, shape)


def _sum(terms, shape):
    return add_node(terms, shape) if terms else zeros(shape)


def _by_jacobian(derivative, own):
    """({J: [factor, ...]}, [term, ...]): ``derivative[I, W]`` as Σ_J Σ factor[I] · J[I, W], the
    factors made of the operands that read only the first ``own`` axes' indices, plus the terms
    of no such form."""
    shared, rest = {}, []
    for term in (derivative.terms if isinstance(derivative, Add) else (derivative,)):
        if is_zero(term):
            continue
        if isinstance(term, STRUCTURES):   # 1·J: ∂vec(Nᵀ)/∂N is the bare 0/1 merge, no Einsum around it
            parts = term, constant(1.0, term.shape[:own])
        else:
            parts = _factored(term, own) if isinstance(term, Einsum) else None
        if parts is None or _may_be_unbounded(parts[0]):   # the choice's zeros must not meet an inf
            parts = None
        if parts is None:
            rest.append(term)
        else:
            shared.setdefault(parts[0], []).append(parts[1])
    return shared, rest


def _factored(term, own):
    """(J, factor) with term[I, W] = factor[I] · J[I, W], or None (a term over a diagonal of I)."""
    own_ids = term.out[:own]
    if len(set(own_ids)) != own:
        return None
    own_set = set(own_ids)
    factor = [k for k, sub in enumerate(term.subscripts) if set(sub) <= own_set]
    rest = [k for k in range(len(term.operands)) if k not in factor]
    ops, subs = term.operands, term.subscripts
    # a summed index no operand reads counts its dim's size (Σ_j 1 = m): the factor keeps it
    counted = set(range(len(term.dims))).difference(term.out, *subs)
    factor_node = einsum_on(term.coeff, [ops[k] for k in factor], [subs[k] for k in factor], own_ids,
                            term.dims, sorted(own_set | counted))
    used = sorted(set(term.out).union(*(subs[k] for k in rest)))
    jacobian = einsum_on(1.0, [ops[k] for k in rest], [subs[k] for k in rest], term.out, term.dims, used)
    return jacobian, factor_node


# elementwise functions finite wherever their argument is; user functions are taken to be too
_BOUNDED = frozenset({"sin", "cos", "tanh", "sigmoid", "softplus", "log_sigmoid", "erf", "gelu", "abs", "sign",
                      "step", "relu", "stop_gradient", "arctan"})
_NONNEGATIVE = frozenset({"exp", "sigmoid", "softplus", "abs", "relu", "step", "cosh"})


def _may_be_unbounded(jacobian):
    """Whether a Jacobian may hold an infinite or nan entry for finite values of its symbols: it
    reads a log, a root, an exp (which overflows), or a negative power of something not bounded
    away from 0 (1 + x², but not x or exp(x))."""
    known = _UNBOUNDED
    for node in topological([jacobian], skip=lambda child: child in known):
        known[node] = _unbounded_here(node) or any(known[child] for child in node.children())
    return known[jacobian]


_UNBOUNDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # node -> whether it may be unbounded


def _unbounded_here(node):
    if not isinstance(node, Apply) or node.fn.user or node.fn.name in _BOUNDED:
        return False
    if node.fn.name != "pow":
        return True
    p = node.fn.p
    if p >= 0:
        return p != int(p)   # a root: nan below 0
    return not _bounded_away_from_zero(node.arg)


def _bounded_away_from_zero(node):
    """Whether every entry is at least some c > 0: a positive constant plus nonnegative terms."""
    value = constant_value(node)
    if value is not None:
        return value > 0
    if isinstance(node, Apply) and node.fn.name == "cosh":
        return True
    return isinstance(node, Add) and all(map(_nonnegative, node.terms)) and \
        any(_bounded_away_from_zero(term) for term in node.terms)


def _nonnegative(node):
    """Whether every entry is >= 0: nonnegative constants and functions, squares, and products of them."""
    value = constant_value(node)
    if value is not None:
        return value >= 0
    if isinstance(node, Apply):
        return node.fn.name in _NONNEGATIVE or node.fn.name == "pow" and node.fn.p % 2 == 0
    if isinstance(node, Add):
        return all(map(_nonnegative, node.terms))
    if not isinstance(node, Einsum) or node.coeff < 0:
        return False
    unpaired = list(zip(node.operands, node.subscripts))
    for item in list(unpaired):   # x[i] x[i]: a square, whatever x's sign
        if unpaired.count(item) >= 2:
            unpaired.remove(item)
            unpaired.remove(item)
    return all(_nonnegative(op) for op, _ in unpaired)
