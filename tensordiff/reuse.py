"""Planning products: a product reads a pairwise contraction the program computes anyway.

Derivatives repeat inner products: the network hvp has X·V as a step of its own and again inside
Σ_l t[k,l] a[l] (X·V)[k,l]. Each einsum step contracts its operands by its own path, so X·V would
be computed twice. ``reuse_pairs`` finds, for every product of three or more arrays, pairs of
operands whose contraction is a two-operand product node already in the program (up to the order
of its axes) and has the product read that node instead. The shared indices must be summed and
belong to the pair alone, so the rewrite is exact; it only removes work, since the pair's
value exists either way.
"""

from itertools import permutations

from .expr import Einsum, make
from .simplify import einsum_on

__all__ = ["reuse_pairs"]

MAX_PAIR_AXES = 4   # axis orders tried when matching a pair: at most 4! = 24


def reuse_pairs(nodes):
    """{product node: the same product reading computed pairs} for the einsum ``nodes`` that can.

    >>> import tensordiff as td
    >>> from tensordiff.expr import topological
    >>> from tensordiff.reuse import reuse_pairs
    >>> X, V, a = td.matrix("X", "n d"), td.matrix("V", "d k"), td.vector("a", "k")
    >>> XV = X @ V
    >>> product = td.einsum("nk,k,nd,dk->n", td.tanh(XV), a, X, V)   # X·V again, inside a product
    >>> for rewritten in reuse_pairs(topological([XV, product])).values():
    ...     print(rewritten)
    t1[i,j] = Σ_k V[k,j] X[i,k]
    out[i] = Σ_j a[j] tanh(t1[i,j]) t1[i,j]
    """
    pairs = {node for node in nodes if _is_pair(node)}
    if not pairs:
        return {}
    rewritten = {}
    operand_pairs = {frozenset(pair.operands) for pair in pairs}
    for node in nodes:
        if isinstance(node, Einsum) and sum(1 for op in node.operands if op.shape) > 2:
            new = _read_pairs(node, pairs, operand_pairs)
            if new is not node:
                rewritten[node] = new
    return rewritten


def _is_pair(node):
    """A plain contraction of two arrays: no coefficient, scalars, deltas, broadcasts or orphans."""
    if not isinstance(node, Einsum) or node.coeff != 1.0 or len(node.operands) != 2:
        return False
    if not all(op.shape for op in node.operands) or len(set(node.out)) != len(node.out):
        return False
    used = set(node.subscripts[0]) | set(node.subscripts[1])
    return used == set(range(len(node.dims))) and set(node.out) <= used


def _read_pairs(node, pairs, operand_pairs):
    while True:
        found = _first_pair(node, pairs, operand_pairs)
        if found is None:
            return node
        node = _replaced(node, *found)


def _first_pair(node, pairs, operand_pairs):
    """(a, b, pair node, its axes' ids) for the first operands a, b of ``node`` whose contraction is in ``pairs``.

    Two operands that are not products themselves contract to a pair only with those two as its
    operands (``operand_pairs``); that test comes first, since a derivative multiplied out has
    hundreds of products of ~20 operands (selfcheck seed 1292 spent 75 s here without it)."""
    operands = node.operands
    tensors = [k for k, op in enumerate(operands) if op.shape]
    for x, a in enumerate(tensors):
        for b in tensors[x + 1:]:
            if not isinstance(operands[a], Einsum) and not isinstance(operands[b], Einsum) \
                    and frozenset((operands[a], operands[b])) not in operand_pairs:
                continue
            found = _pair_node(node, a, b, pairs)
            if found is not None:
                return (a, b) + found
    return None


def _pair_node(node, a, b, pairs):
    """(pair node, its axes' ids) if operands a and b contract to a node in ``pairs``, else None."""
    sub_a, sub_b = node.subscripts[a], node.subscripts[b]
    if len(set(sub_a)) != len(sub_a) or len(set(sub_b)) != len(sub_b):
        return None
    shared = set(sub_a) & set(sub_b)
    elsewhere = set(node.out).union(*(s for k, s in enumerate(node.subscripts) if k not in (a, b)))
    if not shared or shared & elsewhere:
        return None
    free = [i for i in dict.fromkeys(sub_a + sub_b) if i not in shared]
    if len(free) > MAX_PAIR_AXES:
        return None
    ids = sorted(set(sub_a) | set(sub_b))
    for order in permutations(free):
        candidate = einsum_on(1.0, (node.operands[a], node.operands[b]), [sub_a, sub_b], order, node.dims, ids)
        if candidate in pairs:
            return candidate, order
    return None


def _replaced(node, a, b, pair, order):
    """``node`` with operands a and b replaced by ``pair`` (axes ``order``); their summed ids go."""
    ops = [op for k, op in enumerate(node.operands) if k not in (a, b)] + [pair]
    subs = [s for k, s in enumerate(node.subscripts) if k not in (a, b)] + [tuple(order)]
    gone = (set(node.subscripts[a]) | set(node.subscripts[b])) - set(order)
    kept = [i for i in range(len(node.dims)) if i not in gone]
    renumber = {i: n for n, i in enumerate(kept)}
    return make(Einsum, node.coeff, tuple(ops), tuple(tuple(renumber[i] for i in s) for s in subs),
                tuple(renumber[i] for i in node.out), tuple(node.dims[i] for i in kept))
