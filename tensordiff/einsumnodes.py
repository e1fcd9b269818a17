"""Canonical einsum: every product is built here in canonical form.

Nested einsum operands are merged (their deltas unify indices, which is how a delta on a summed
index disappears), constant operands fold into the coefficient, a zero factor makes the whole term
zero, operands are sorted by a structural key and indices renumbered by first appearance. The
constructors that are products of one operand (scale, transpose, broadcasts) live here too, and
``apply_node``, since merging x^a · x^b builds a power and a function of a spread argument builds a
product.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from .colourrefinement import BIG, refined_keys
from .composite import STRUCTURES, structure_pair
from .constantnodes import constant, constant_value, finite, product, zeros
from .errors import ShapeError, TensorDiffError
from .expr import Add, Apply, Einsum, Inv, Pinv, Var, make, topological
from .indices import format_dims, index_uses, literal_size


# Merging an einsum into its parent stops when the result would have more operands than this,
# so repeated self-products (A = X@X, B = A@A, ...) cannot grow without bound.
MAX_MERGED_OPERANDS = 64
# ... and than this when the einsum merged in repeats an operand (X@X@...@v): canonicalising such a
# product refines the colours of its equal operands, which costs about the square of its length in
# every pass that rebuilds it, while its blocks of powers are computed once and shared anyway.
MAX_MERGED_REPEATING = 12


def merge_limit(product):
    """The most operands a product that merges the Einsum ``product`` in may hold.

    >>> import tensordiff as td
    >>> X, v = td.matrix("X", "n n"), td.vector("v", "n")
    >>> power = X @ X @ X @ X @ X @ X @ X @ X @ X @ X @ X @ v
    >>> merge_limit(power), merge_limit(X @ X @ v)
    (12, 64)
    """
    operands = product.operands
    if len(operands) >= MAX_MERGED_REPEATING and 2 * max(collections.Counter(operands).values()) > len(operands):
        return MAX_MERGED_REPEATING
    return MAX_MERGED_OPERANDS


def einsum_node(coeff, operands, subs, out, dims):
    """Canonical ``coeff * einsum(operands[subs] -> out)``; ``dims[i]`` is the dim of index i."""
    coeff = float(coeff)
    dims = list(dims)
    parent = None   # union-find over ids, made only when a merged operand's delta ties two ids together
    flat_ops, flat_subs = [], []
    for op, sub in zip(operands, subs):
        if isinstance(op, Einsum) and op.coeff == 0.0:
            return zeros(tuple(dims[i] for i in out))
        if isinstance(op, Einsum) and len(flat_ops) + len(op.operands) <= merge_limit(op):
            coeff = product(coeff, op.coeff)
            # an inner index read at an output position is the outer index there; the others are new
            local = [None] * len(op.dims)
            for position, inner in enumerate(op.out):
                outer, seen = sub[position], local[inner]
                if seen is None:
                    local[inner] = outer
                elif seen != outer:
                    parent = _union(parent, len(dims), seen, outer)
            for inner, index in enumerate(local):
                if index is None:
                    local[inner] = len(dims)
                    dims.append(op.dims[inner])
            flat_ops.extend(op.operands)
            flat_subs.extend(tuple([local[i] for i in inner_sub]) for inner_sub in op.subscripts)
        else:
            flat_ops.append(op)
            flat_subs.append(tuple(sub))
    if coeff == 0.0:
        return zeros(tuple(dims[i] for i in out))
    if parent is None:
        find = _itself
        out = tuple(out)
    else:
        parent.extend(range(len(parent), len(dims)))
        root = [_find(parent, i) for i in range(len(dims))]
        find = root.__getitem__
        out = tuple([root[i] for i in out])
        flat_subs = [tuple([root[i] for i in sub]) for sub in flat_subs]
    kinds = set(map(type, flat_ops))   # the rules below need an inverse, or a power, among the operands
    cancelled = inverse_pair(flat_ops, flat_subs, out) if Inv in kinds else None
    if cancelled is not None:   # rebuild without the pair, its summed index gone and the other two one
        rest, (kept, merged_index, shared) = cancelled
        rename = {merged_index: kept}
        roots = [i for i in range(len(dims)) if find(i) == i and i not in (shared, merged_index)
                 or i == kept]
        renumber = {r: k for k, r in enumerate(dict.fromkeys(sorted(roots)))}
        new = lambda sub: tuple(renumber[rename.get(i, i)] for i in sub)  # noqa: E731
        return einsum_node(coeff, [o for o, _ in rest], [new(u) for _, u in rest], new(out),
                           [dims[r] for r in renumber])
    paired = None if kinds.isdisjoint(STRUCTURES) else structure_pair(flat_ops, flat_subs, out)   # composite.py: RᵀR = I
    if paired is not None:
        return _without_pair(coeff, flat_ops, flat_subs, out, dims, find, paired)
    merged = _merge_powers(flat_ops, flat_subs) if Apply in kinds else None
    if merged is not None:  # rebuild over the surviving (root) ids only, so none turns into an orphan
        ops, subs = merged
        renumber = {r: k for k, r in enumerate(i for i in range(len(dims)) if find(i) == i)}
        return einsum_node(coeff, ops, [tuple(renumber[i] for i in sub) for sub in subs],
                           tuple(renumber[i] for i in out), [dims[r] for r in renumber])
    used = set(out)
    used.update(*flat_subs)
    orphans = ()
    if len(used) < len(dims):   # some index is used nowhere: unless merged away, a factor size(dim)
        orphans = [i for _, i in sorted((dims[i], i) for i in range(len(dims)) if find(i) == i and i not in used)]
        for i in [i for i in orphans if literal_size(dims[i]) is not None]:   # a decimal dim's size is known: x[:, None]
            coeff = product(coeff, float(literal_size(dims[i])))
            orphans.remove(i)
    return _canonical_einsum(coeff, flat_ops, flat_subs, out, dims, orphans)


def plain_product(coeff, operands, subs, out, dims):
    """``einsum_node`` of operands that leave it nothing to do but put them in canonical order: no
    Einsum among them (nothing to merge), no inverse, power or structure constant (nothing to
    rewrite), and every index read by an operand or ``out`` (no size factor). The same node,
    without looking for what is not there; the callers make sure of the conditions.

    >>> import tensordiff as td
    >>> A, x = td.matrix("A", "n p"), td.vector("x", "p")
    >>> plain_product(2.0, [x, A], [(1,), (0, 1)], (0,), ["n", "p"]) is 2 * (A @ x)
    True
    """
    return _canonical_einsum(float(coeff), list(operands), [tuple(sub) for sub in subs], tuple(out), list(dims), ())


def _itself(i):
    return i


def _find(parent, i):
    while parent[i] != i:
        i = parent[i]
    return i


def _union(parent, size, a, b):
    """Join the classes of ids a and b (the smaller root stays); the parent list, made and grown on demand."""
    if parent is None:
        parent = []
    parent.extend(range(len(parent), size))
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
    return parent


def _without_pair(coeff, ops, subs, out, dims, find, paired):
    """The product without a pair of structure constants, their other indices unified (or 0);
    ``find`` maps each id to its class's root so far."""
    pair, unions, removed = paired
    if unions is None:
        return zeros(tuple(dims[i] for i in out))
    parent = [find(i) for i in range(len(dims))]
    for a, b in unions:
        parent = _union(parent, len(dims), a, b)
    root = [_find(parent, i) for i in range(len(dims))]
    roots = [i for i in range(len(dims)) if root[i] == i and i not in removed]
    renumber = {r: k for k, r in enumerate(roots)}
    new = lambda sub: tuple(renumber[root[i]] for i in sub)  # noqa: E731
    rest = [k for k in range(len(ops)) if k not in pair]
    return einsum_node(coeff, [ops[k] for k in rest], [new(subs[k]) for k in rest], new(out), [dims[r] for r in roots])


def _as_power(node):
    if isinstance(node, Apply) and node.fn.name == "pow":
        return node.arg, node.fn.p, node.fn
    return node, 1.0, None


def _merge_powers(ops, subs):
    """x^a[I] · x^b[I] → x^(a+b)[I] when one factor is already a power; None if nothing merges."""
    if not any(isinstance(op, Apply) and op.fn.name == "pow" for op in ops):
        return None
    groups = {}
    for k, (op, sub) in enumerate(zip(ops, subs)):
        base, p, fn = _as_power(op)
        groups.setdefault((base, sub), []).append((k, p, fn))
    replaced, drop = {}, set()
    for (base, sub), members in groups.items():
        fns = [fn for _, _, fn in members if fn is not None]
        if len(members) < 2 or not fns:
            continue
        total = 0.0
        for _, p, _ in members:
            total += p
        replaced[members[0][0]] = apply_node(fns[0].with_exponent(total), base)
        drop.update(k for k, _, _ in members[1:])
    if not replaced:
        return None
    new_ops = [replaced.get(k, op) for k, op in enumerate(ops) if k not in drop]
    new_subs = [sub for k, sub in enumerate(subs) if k not in drop]
    return new_ops, new_subs


def is_symmetric(node):
    """Whether a matrix node is structurally symmetric (A = Aᵀ); False means 'not shown'."""
    if node.symmetric_cache is None:
        if _classifying:
            return False  # asked from inside a classification: answer 'not shown' rather than recurse
        _classifying.append(node)
        try:
            known = lambda child: child.symmetric_cache is not None  # noqa: E731
            for below in topological([node], skip=known):  # children first: deep graphs need no recursion
                below.symmetric_cache = _symmetric(below)
        finally:
            _classifying.pop()
    return node.symmetric_cache


_classifying = []


def _symmetric(node):
    if len(node.shape) != 2 or node.shape[0] != node.shape[1]:
        return False
    if isinstance(node, Var):
        return node.symmetric   # declared so: td.matrix(..., symmetric=True)
    if isinstance(node, Add):
        return all(is_symmetric(t) for t in node.terms)
    if isinstance(node, (Inv, Pinv, Apply)):   # pinv(Aᵀ) = pinv(A)ᵀ
        return is_symmetric(node.arg)
    if isinstance(node, Einsum):
        if node.out[0] == node.out[1]:
            return True
        if _readers(node, node.out[0]) != _readers(node, node.out[1]):
            return False   # no relabelling swaps the two axes, so the transpose's canonical form differs
        return transpose(node, (1, 0)) is node
    return False


def _readers(node, index):
    """The structural keys of the operands reading ``index`` of the Einsum ``node``, once per read
    (sorted): equal for both axes of a product equal to its transpose, as a relabelling swaps them."""
    return sorted(op.skey for op, sub in zip(node.operands, node.subscripts) for i in sub if i == index)


def _canonical_einsum(coeff, ops, subs, out, dims, orphans):
    rank = [BIG] * len(dims)   # rank[i]: the first output position of index i; summed indices last
    for position in range(len(out) - 1, -1, -1):
        rank[out[position]] = position
    rank_of = rank.__getitem__
    symmetric = None   # symmetric[k]: operand k is a symmetric matrix read by two indices (both orders alike)
    for k, sub in enumerate(subs):
        if len(sub) == 2 and sub[0] != sub[1]:
            known = ops[k].symmetric_cache
            if known or known is None and is_symmetric(ops[k]):
                symmetric = symmetric or [False] * len(ops)
                symmetric[k] = True
    if symmetric:
        subs = [tuple(sorted(sub, key=rank_of)) if sym else sub for sub, sym in zip(subs, symmetric)]
    keys = [(op.skey, tuple(map(rank_of, sub))) for op, sub in zip(ops, subs)] if out else \
        [(op.skey, (BIG,) * len(sub)) for op, sub in zip(ops, subs)]
    order = sorted(range(len(ops)), key=keys.__getitem__)
    if len(set(keys)) < len(keys) or symmetric and any(
            sym and rank[sub[0]] == rank[sub[1]] for sub, sym in zip(subs, symmetric)):
        # equal operands on summed indices only (Z[m,l] Z[m,k]), or a symmetric one (Q[k,l]), leave
        # the order open: what they are joined to decides it, so that Z[m,k] Z[m,l] and Z[m,l] Z[m,k]
        # become one term, and Q[k,l] Z[l,i] Z[k,j] is its own transpose
        either_way = symmetric or [False] * len(ops)
        refined, colour = refined_keys(ops, subs, {i: r for i, r in enumerate(rank) if r != BIG}, either_way)
        if symmetric:
            subs = [tuple(sorted(sub, key=lambda i: (rank[i], colour[i]))) if sym else sub
                    for sub, sym in zip(subs, symmetric)]
        order = sorted(order, key=lambda k: (keys[k], refined[k]))
    sequence = list(out)
    for k in order:
        sequence += subs[k]
    sequence += orphans
    renumber = dict(zip(dict.fromkeys(sequence), range(len(dims))))   # old id -> new, by first appearance
    new_dims = tuple([dims[old] for old in renumber])
    index = renumber.__getitem__
    new_out = tuple(map(index, out))
    new_ops = tuple([ops[k] for k in order])
    if symmetric:
        new_subs = tuple([tuple(sorted(map(index, subs[k]))) if symmetric[k] else tuple(map(index, subs[k]))
                          for k in order])
    else:
        new_subs = tuple([tuple(map(index, subs[k])) for k in order])
    if (coeff == 1.0 and len(new_ops) == 1 and new_subs[0] == new_out
            and len(set(new_out)) == len(new_out) and len(new_dims) == len(new_out)):
        return new_ops[0]
    return make(Einsum, finite(coeff), new_ops, new_subs, new_out, new_dims)


def scale(node, factor):
    """``factor * node``."""
    if isinstance(node, Einsum) and factor != 0.0 and node.coeff != 0.0 and len(node.operands) <= merge_limit(node):
        # einsum_node would merge the canonical product whole and canonicalise it again to itself:
        # only the coefficient changes (tests/test_node_fast_paths.py compares the two)
        coeff = product(float(factor), node.coeff)
        if coeff == 1.0 and is_wrapper(node):
            return node.operands[0]
        scaled = make(Einsum, finite(coeff), node.operands, node.subscripts, node.out, node.dims)
        if scaled.unit_skey_cache is None:   # the coefficient-1 form's key, which a sum sorts by, is known
            scaled.unit_skey_cache = node.skey if node.coeff == 1.0 else node.unit_skey_cache
        return scaled
    ids = tuple(range(len(node.shape)))
    return einsum_node(factor, (node,), (ids,), ids, node.shape)


def hadamard(*nodes):
    """Elementwise product of nodes of one shape (scalars broadcast)."""
    shape = max((n.shape for n in nodes), key=len)
    ids = tuple(range(len(shape)))
    subs = []
    for n in nodes:
        if n.shape == shape:
            subs.append(ids)
        elif n.shape == ():
            subs.append(())
        else:
            raise ShapeError(f"elementwise product of shapes {format_dims(shape)} and {format_dims(n.shape)}")
    return einsum_node(1.0, nodes, subs, ids, shape)


def transpose(node, perm):
    """Axes of ``node`` permuted: result axis k is node axis perm[k]."""
    ids = tuple(range(len(node.shape)))
    return einsum_node(1.0, (node,), (ids,), tuple(perm), node.shape)


def broadcast(node, shape):
    """A scalar ``node`` broadcast to ``shape``."""
    shape = tuple(shape)
    return einsum_node(1.0, (node,), ((),), tuple(range(len(shape))), shape)


def broadcast_to(node, shape):
    """``node`` repeated along trailing axes: result[I, J] = node[I], for shape = node.shape + J's dims."""
    ids = tuple(range(len(shape)))
    return einsum_node(1.0, (node,), (ids[:node.ndim],), ids, shape)


def expand_axes(node, shape, axes):
    """A reduction's result ``node`` put back along the reduced ``axes`` of ``shape`` (keepdims, broadcast)."""
    ids = tuple(range(len(shape)))
    return einsum_node(1.0, (node,), (tuple(i for i in ids if i not in axes),), ids, shape)


def einsum_on(coeff, ops, subs, out, dims, ids):
    """einsum_node over just the index ids ``ids`` of a larger numbering."""
    renumber = {i: k for k, i in enumerate(ids)}
    return einsum_node(coeff, ops, [tuple(renumber[i] for i in s) for s in subs],
                       tuple(renumber[i] for i in out), [dims[i] for i in ids])


def is_wrapper(t):
    """Whether the Einsum ``t`` is c·X of one operand X read as it is (with coefficient 1 it would be X)."""
    return len(t.operands) == 1 and t.subscripts[0] == t.out and len(set(t.out)) == len(t.out) == len(t.dims)


def apply_node(fn, arg):
    """Canonical ``fn(arg)`` elementwise."""
    value = constant_value(arg)
    if value is not None and fn.numeric is not None:
        with np.errstate(all="ignore"):
            folded = float(fn.numeric(np.float64(value)))
        if not math.isfinite(folded):   # refused here: 0 * (1/0) would otherwise fold to 0, not nan
            raise TensorDiffError(f"the constant {_folded_text(fn, value)} is {folded}: symbolic constants must be "
                                  "finite (a division by zero, or a function outside its domain)")
        return constant(folded, arg.shape)
    for rule in fn.rewrites:
        result = rule(arg)
        if result is not None:
            return result
    kept = _spread_axes(arg)
    if kept is not None:
        # f(v spread along new axes) is f(v) spread there: a sum along such an axis is then its
        # size times the rest, which matrix notation writes size(X, k) (a power of a spread ones
        # vector read back unsized), and f runs on the small v
        inner = einsum_on(arg.coeff, arg.operands, arg.subscripts, kept, arg.dims, kept)
        return einsum_node(1.0, (apply_node(fn, inner),), (kept,), arg.out, arg.dims)
    return make(Apply, fn, arg)


def _spread_axes(node):
    """For an Einsum that only repeats one operand along new axes (no sum, no diagonal, no
    coefficient), the indices of ``node.out`` it keeps, in order; else None."""
    if not isinstance(node, Einsum) or len(node.operands) != 1:
        return None
    sub, out = node.subscripts[0], node.out
    if len(set(sub)) != len(sub) or len(set(out)) != len(out) or not set(sub) < set(out):
        return None
    return tuple(i for i in out if i in sub)


def _folded_text(fn, value):
    if fn.name == "pow":
        return f"1/{value:g}" if fn.p == -1 else f"({value:g})^{fn.p:g}" if value < 0 else f"{value:g}^{fn.p:g}"
    return f"{fn.name}({value:g})"


def inverse_pair(ops, subs, out):
    """A⁻¹A = AA⁻¹ = I inside a product: for an operand inv(A) and an operand A that share an index
    summed nowhere else, (the operands without the pair, (kept index, merged index, summed index)),
    the pair standing for δ[kept, merged]; else None. Two operands fewer, so rebuilding terminates."""
    if not any(isinstance(op, Inv) for op in ops):
        return None
    count = index_uses(subs, out)
    for k, (op, sub) in enumerate(zip(ops, subs)):
        if not isinstance(op, Inv) or len(set(sub)) != 2:
            continue
        for m, (other, sub_other) in enumerate(zip(ops, subs)):
            if other is not op.arg or len(set(sub_other)) != 2:
                continue
            flips = is_symmetric(other)   # then inv(A) is symmetric too: read either way
            for p, q in ([sub, sub[::-1]] if flips else [sub]):
                for r, s in ([sub_other, sub_other[::-1]] if flips else [sub_other]):
                    if q == r and count[q] == 2:     # inv[p,q] A[q,s] = δ[p,s]
                        found = (p, s, q)
                    elif s == p and count[p] == 2:   # A[r,p] inv[p,q] = δ[r,q]
                        found = (r, q, p)
                    else:
                        continue
                    rest = [(o, u) for j, (o, u) in enumerate(zip(ops, subs)) if j not in (k, m)]
                    return rest, found
    return None
