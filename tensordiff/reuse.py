"""Planning products: a product reads a pairwise contraction the program computes anyway.

Derivatives repeat inner products: the network hvp has X·V as a step of its own and again inside
Σ_l t[k,l] a[l] (X·V)[k,l]. Each einsum step contracts its operands by its own path, so X·V would
be computed twice. ``reuse_pairs`` finds, for every product of three or more arrays, pairs of
operands whose contraction is a two-operand product node already in the program (up to the order
of its axes) and has the product read that node instead. The shared indices must be summed and
belong to the pair alone, so the rewrite is exact; it only removes work, since the pair's
value exists either way.

It runs in near-linear time in the program's size: the pairs are indexed by their operands and
subscript pattern, and a product proposes only the operand pairs tied by an index the two of them
alone sum, so a product of m operands is looked at O(m log m) times, not O(m³) with an einsum
canonicalised for each candidate (u'X²⁰⁰v's gradient has 200 products of 63 operands).
"""

import heapq
from itertools import permutations

from .expr import Einsum, make
from .einsumnodes import einsum_on, is_symmetric

__all__ = ["reuse_pairs", "is_pair"]

MAX_PAIR_AXES = 4   # axis orders tried when matching a pair by canonicalising it: at most 4! = 24


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
    index = PairIndex([node for node in nodes if is_pair(node)])
    if not index.pairs:
        return {}
    rewritten = {}
    for node in nodes:
        if isinstance(node, Einsum) and sum(1 for op in node.operands if op.shape) > 2:
            new = _read_pairs(node, index)
            if new is not node:
                rewritten[node] = new
    return rewritten


def is_pair(node):
    """A plain contraction of two arrays: no coefficient, scalars, deltas, broadcasts or orphans."""
    if not isinstance(node, Einsum) or node.coeff != 1.0 or len(node.operands) != 2:
        return False
    if not all(op.shape for op in node.operands) or len(set(node.out)) != len(node.out):
        return False
    used = set(node.subscripts[0]) | set(node.subscripts[1])
    return used == set(range(len(node.dims))) and set(node.out) <= used


def _pattern(sub_a, sub_b):
    """The two subscripts with their ids relabelled by first appearance, and the labels' ids."""
    label = {}
    for i in sub_a + sub_b:
        if i not in label:
            label[i] = len(label)
    return tuple(label[i] for i in sub_a), tuple(label[i] for i in sub_b), list(label)


class PairIndex:
    """The program's pairs, found by operands and subscript pattern (either operand first)."""

    def __init__(self, pairs):
        self.pairs = set(pairs)
        self.patterns = {}   # (op, pattern, op, pattern) -> (pair node, the label at each of its output positions)
        self.atoms = set()   # every operand of a pair: what a product must hold for a canonicalised match
        self.canonical = {}   # (op, pattern, op, pattern) -> what canonicalising their contraction matched
        for pair in pairs:
            (first, second), (sub_first, sub_second) = pair.operands, pair.subscripts
            self.atoms.update(pair.operands)
            for op_a, sub_a, op_b, sub_b in ((first, sub_first, second, sub_second),
                                             (second, sub_second, first, sub_first)):
                pattern_a, pattern_b, ids = _pattern(sub_a, sub_b)
                label = {i: n for n, i in enumerate(ids)}
                key, out_labels = (op_a, pattern_a, op_b, pattern_b), tuple(label[i] for i in pair.out)
                if key not in self.patterns or out_labels < self.patterns[key][1]:   # a pair and its transpose:
                    self.patterns[key] = (pair, out_labels)   # the axes in order of appearance first, as ever

    def match(self, op_a, sub_a, op_b, sub_b, dims):
        """(pair node, its axes' ids) that contracting op_a[sub_a] with op_b[sub_b] over their shared ids gives."""
        pattern_a, pattern_b, ids = _pattern(sub_a, sub_b)
        found = self.patterns.get((op_a, pattern_a, op_b, pattern_b))
        shared = set(sub_a) & set(sub_b)
        if found is not None:
            pair, out_labels = found
            order = tuple(ids[n] for n in out_labels)
            if set(order) == set(ids) - shared:
                return pair, order
        if not (self._canonical_may_differ(op_a, sub_a) or self._canonical_may_differ(op_b, sub_b)):
            return None
        key = (op_a, pattern_a, op_b, pattern_b)   # what canonicalising gives depends on nothing else
        if key not in self.canonical:
            found = self._canonical_match(op_a, sub_a, op_b, sub_b, shared, dims)
            label = {i: n for n, i in enumerate(ids)}
            self.canonical[key] = None if found is None else (found[0], tuple(label[i] for i in found[1]))
        if self.canonical[key] is None:
            return None
        pair, out_labels = self.canonical[key]
        return pair, tuple(ids[n] for n in out_labels)

    def _canonical_may_differ(self, op, sub):
        """Whether canonicalising a product with ``op`` may give a pair other than its literal pattern:
        an einsum operand merges into it, a symmetric matrix reads its two indices either way."""
        if isinstance(op, Einsum):
            return op in self.atoms or any(inner in self.atoms for inner in op.operands)
        return len(sub) == 2 and op in self.atoms and is_symmetric(op)

    def _canonical_match(self, op_a, sub_a, op_b, sub_b, shared, dims):
        free = [i for i in dict.fromkeys(sub_a + sub_b) if i not in shared]
        if len(free) > MAX_PAIR_AXES:
            return None
        ids = sorted(set(sub_a) | set(sub_b))
        for order in permutations(free):
            candidate = einsum_on(1.0, (op_a, op_b), [sub_a, sub_b], order, dims, ids)
            if candidate in self.pairs:
                return candidate, order
        return None


def _read_pairs(node, index):
    """``node`` with every pair of operands that contracts to a pair of ``index`` read from it.

    Pairs are taken first-come in the order of the operands' positions, a pair read appended
    after them (the order the rewrite has always used). Only operands tied by an index that the
    two of them alone hold (summed: not in the output) are proposed; reading a pair leaves the
    other operands' indices, and so the other proposals and their answers, as they were."""
    ops, subs = list(node.operands), [tuple(sub) for sub in node.subscripts]
    holders = {}   # id -> positions of the operands holding it (one entry per occurrence)
    for k, sub in enumerate(subs):
        for i in sub:
            holders.setdefault(i, []).append(k)
    for i in node.out:
        holders.setdefault(i, []).append(None)
    alive = [bool(op.shape) and len(set(sub)) == len(sub) for op, sub in zip(ops, subs)]   # may be read as half a pair
    read = set()
    proposals = []

    def propose(k):
        for i in subs[k]:
            owners = holders[i]
            if len(owners) == 2 and None not in owners and owners[0] != owners[1]:
                other = owners[1] if owners[0] == k else owners[0]
                if alive[other]:
                    heapq.heappush(proposals, (min(k, other), max(k, other)))

    for k in range(len(ops)):
        if alive[k]:
            propose(k)
    tried = set()
    while proposals:
        a, b = heapq.heappop(proposals)
        if (a, b) in tried or not (alive[a] and alive[b]):
            continue
        tried.add((a, b))
        if any(len(holders[i]) != 2 for i in set(subs[a]) & set(subs[b])):
            continue
        found = index.match(ops[a], subs[a], ops[b], subs[b], node.dims)
        if found is None:
            continue
        pair, order = found
        alive[a] = alive[b] = False
        read.update((a, b))
        k = len(ops)
        ops.append(pair)
        subs.append(tuple(order))
        alive.append(True)
        for i in order:
            holders[i] = [k if owner in (a, b) else owner for owner in holders[i]]
        propose(k)
    if not read:
        return node
    kept = [k for k in range(len(ops)) if k not in read]
    return _rebuilt(node, [ops[k] for k in kept], [subs[k] for k in kept])


def _rebuilt(node, ops, subs):
    """``node`` over ``ops``: the ids no operand or output holds any more (a read pair's summed ids) go."""
    used = set(node.out).union(*subs)
    gone = {i for i in range(len(node.dims)) if i not in used} - _orphans(node)
    kept = [i for i in range(len(node.dims)) if i not in gone]
    renumber = {i: n for n, i in enumerate(kept)}
    return make(Einsum, node.coeff, tuple(ops), tuple(tuple(renumber[i] for i in s) for s in subs),
                tuple(renumber[i] for i in node.out), tuple(node.dims[i] for i in kept))


def _orphans(node):
    used = set(node.out).union(*node.subscripts)
    return {i for i in range(len(node.dims)) if i not in used}
