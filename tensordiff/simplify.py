"""Smart constructors and rewrite rules: every node is built here in canonical form.

Canonical einsum: nested einsum operands are merged (their deltas unify indices, which is how a
delta on a summed index disappears), constant operands fold into the coefficient, a zero factor
makes the whole term zero, operands are sorted by a structural key and indices renumbered by
first appearance. Canonical sum: nested sums flattened, equal terms collected (coefficients
added), zeros dropped, terms sorted. Each rewrite rule for the other nodes is a small function
returning ``None`` when it does not apply; every rule returns a node with fewer operations, so
rebuilding terminates.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from .errors import ShapeError, TensorDiffError
from .expr import (Add, Apply, Cholesky, Compare, Det, Einsum, Expr, Inv, LogDet, LogSumExp, Max, Maximum, Select,
                   Softmax, Solve, Take, Triangle, Var, Where, einsum_skey, make, topological)
from .composite import REBUILD as STRUCTURE_REBUILD, structure_pair
from .indices import format_dims, index_uses
from .annotations import ExprLike

# Merging an einsum into its parent stops when the result would have more operands than this,
# so repeated self-products (A = X@X, B = A@A, ...) cannot grow without bound.
MAX_MERGED_OPERANDS = 64
# ... and than this when the einsum merged in repeats an operand (X@X@...@v): canonicalising such a
# product refines the colours of its equal operands, which costs about the square of its length in
# every pass that rebuilds it, while its blocks of powers are computed once and shared anyway.
MAX_MERGED_REPEATING = 12
_BIG = 1 << 30


# ---------------------------------------------------------------- einsum

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
            coeff = _product(coeff, op.coeff)
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
    paired = structure_pair(flat_ops, flat_subs, out)   # composite.py: RᵀR = I for merged/concatenated axes
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
    return _canonical_einsum(coeff, flat_ops, flat_subs, out, dims, orphans)


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
    if isinstance(node, (Inv, Apply)):
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


REFINEMENT_ROUNDS = 4


def _refined_keys(ops, subs, rank, symmetric):
    """A key per operand from its neighbourhood (colour refinement, as graph canonisation starts):
    an index is coloured by its output position, then by the operands and slots that use it, for
    REFINEMENT_ROUNDS rounds; an operand's key is its node and its indices' colours. Returns the
    operands' keys and the indices' colours.

    Colours are ranked in the order of the text of their signatures, (colour, [(key, slot), ...])
    with the parts sorted by (key, slot), but without writing the text: integers compare in that
    text as their decimal strings do (so each round first ranks the colours in use by their
    strings), a structural key (a fixed-length hex digest) as itself, and a shorter list of parts
    after a longer one it begins (']' sorts after ','). Once a round splits no colour class, the
    next rounds can only rename the classes, which is done without recomputing signatures."""
    colour = {i: rank.get(i, _BIG) for sub in subs for i in sub}
    skeys = [op.skey for op in ops]
    uses = {i: [] for i in colour}   # each index's (operand, slot) occurrences; a symmetric operand's slots alike
    for k, (sub, either_way) in enumerate(zip(subs, symmetric)):
        for slot, i in enumerate(sub):
            slot = 0 if either_way else slot
            uses[i].append((k, slot, str(slot)))
    keys = []
    narrow = all(len(sub) <= 10 for sub in subs)
    classes = len(set(colour.values()))
    for done in range(REFINEMENT_ROUNDS):
        keys = [(skey, tuple(sorted([colour[i] for i in sub])) if either_way else tuple([colour[i] for i in sub]))
                for skey, sub, either_way in zip(skeys, subs, symmetric)]
        as_text = _text_ranks(colour.values())
        signature = {}
        if narrow and all(as_text[c] <= as_text[d] for c, d in _pairs(sorted(as_text))):
            # the colours' text order is their numeric order (all below 10, say), and the slots' too (below
            # 10): keys and slots stand for their text
            for i, parts in uses.items():
                signature[i] = (colour[i], tuple(sorted([(keys[k], slot) for k, slot, _ in parts])) + _LAST)
        else:
            texts = [(skey, tuple([as_text[c] for c in key])) for skey, key in keys]
            for i, parts in uses.items():
                parts = sorted([(keys[k], slot, k, text) for k, slot, text in parts])
                signature[i] = (as_text[colour[i]], tuple([(texts[k], text) for _, _, k, text in parts]) + _LAST)
        ranked = {sig: n for n, sig in enumerate(sorted(set(signature.values())))}
        colour = {i: ranked[sig] for i, sig in signature.items()}
        if len(ranked) == classes and done < REFINEMENT_ROUNDS - 1:
            # stable: every later round ranks the classes by their colours' text alone
            for _ in range(done + 1, REFINEMENT_ROUNDS - 1):
                as_text = _text_ranks(colour.values())
                colour = {i: as_text[c] for i, c in colour.items()}
            keys = [(skey, tuple(sorted([colour[i] for i in sub])) if either_way else tuple([colour[i] for i in sub]))
                    for skey, sub, either_way in zip(skeys, subs, symmetric)]
            as_text = _text_ranks(colour.values())
            colour = {i: as_text[c] for i, c in colour.items()}
            break
        classes = len(ranked)
    return keys, colour


def _pairs(values):
    return zip(values, values[1:])


def _text_ranks(values):
    """Each integer's rank among ``values`` in the order of their decimal strings."""
    return {c: n for n, c in enumerate(sorted(set(values), key=str))}


# after every part of a signature: a list that ends first sorts after the longer ones (text ']' > ', (')
_LAST = ((("~",),),)


def _canonical_einsum(coeff, ops, subs, out, dims, orphans):
    rank = [_BIG] * len(dims)   # rank[i]: the first output position of index i; summed indices last
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
        [(op.skey, (_BIG,) * len(sub)) for op, sub in zip(ops, subs)]
    order = sorted(range(len(ops)), key=keys.__getitem__)
    if any(keys[a] == keys[b] for a, b in zip(order, order[1:])) or symmetric and any(
            sym and rank[sub[0]] == rank[sub[1]] for sub, sym in zip(subs, symmetric)):
        # equal operands on summed indices only (Z[m,l] Z[m,k]), or a symmetric one (Q[k,l]), leave
        # the order open: what they are joined to decides it, so that Z[m,k] Z[m,l] and Z[m,l] Z[m,k]
        # become one term, and Q[k,l] Z[l,i] Z[k,j] is its own transpose
        either_way = symmetric or [False] * len(ops)
        refined, colour = _refined_keys(ops, subs, {i: r for i, r in enumerate(rank) if r != _BIG}, either_way)
        if symmetric:
            subs = [tuple(sorted(sub, key=lambda i: (rank[i], colour[i]))) if sym else sub
                    for sub, sym in zip(subs, symmetric)]
        order = sorted(order, key=lambda k: (keys[k], refined[k]))
    sequence = list(out)
    for k in order:
        sequence += subs[k]
    sequence += orphans
    renumber = {old: new for new, old in enumerate(dict.fromkeys(sequence))}
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
    return make(Einsum, _finite(coeff), new_ops, new_subs, new_out, new_dims)


def zeros(shape):
    """The zero tensor of ``shape``."""
    shape = tuple(shape)
    return make(Einsum, 0.0, (), (), tuple(range(len(shape))), shape)


def constant(value, shape=()):
    """``value`` broadcast to ``shape`` (a tensor of equal entries)."""
    shape = tuple(shape)
    if value == 0:
        return zeros(shape)
    if not math.isfinite(value):
        raise TensorDiffError(f"a constant in the expression is {value}: symbolic constants must be finite numbers")
    return make(Einsum, float(value), (), (), tuple(range(len(shape))), shape)


def delta(dims):
    """The identity between a tensor of ``dims`` and itself: δ[I, J] with I = J, shape dims + dims."""
    dims = tuple(dims)
    n = len(dims)
    return make(Einsum, 1.0, (), (), tuple(range(n)) * 2, dims)


def is_zero(node):
    return isinstance(node, Einsum) and node.coeff == 0.0


def constant_value(node):
    """The number a constant node holds everywhere (a scalar or a broadcast), else None."""
    if isinstance(node, Einsum) and not node.operands and len(set(node.out)) == len(node.out) \
            and len(node.dims) == len(node.out):
        return node.coeff
    return None


def scale(node, factor):
    """``factor * node``."""
    if isinstance(node, Einsum) and factor != 0.0 and node.coeff != 0.0 and len(node.operands) <= merge_limit(node):
        # einsum_node would merge the canonical product whole and canonicalise it again to itself:
        # only the coefficient changes (tests/test_node_fast_paths.py compares the two)
        coeff = _product(float(factor), node.coeff)
        if coeff == 1.0 and _is_wrapper(node):
            return node.operands[0]
        return make(Einsum, _finite(coeff), node.operands, node.subscripts, node.out, node.dims)
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


def with_coeff(node, coeff):
    """``node`` (an Einsum) with its coefficient replaced."""
    if coeff == 0.0:
        return zeros(node.shape)
    if coeff == 1.0 and len(node.operands) == 1 and node.subscripts[0] == node.out \
            and len(set(node.out)) == len(node.out) == len(node.dims):
        return node.operands[0]
    return make(Einsum, _finite(float(coeff)), node.operands, node.subscripts, node.out, node.dims)


def _product(a, b):
    """a·b, refused where it underflows to 0: a symbolic zero would drop the term for every value."""
    product = a * b
    if product == 0.0 and a != 0.0 and b != 0.0:
        raise TensorDiffError(f"a constant factor of the expression underflows float64 ({a:g} × {b:g} rounds "
                              "to 0): rescale the expression")
    return product


def _finite(coeff):
    """A coefficient, refused when it is inf or nan: a silently infinite term would poison every value."""
    if not math.isfinite(coeff):
        raise TensorDiffError(f"a constant factor of the expression is {coeff}: beyond float64's range (a huge "
                              "constant, or the factorially growing coefficients of a very high-order derivative)")
    return coeff


# ---------------------------------------------------------------- sums

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
        for t in terms_of(term):
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
    nodes = tuple(_with_total(original[key], c) for key, c in kept)
    if len(nodes) == 1:
        return nodes[0]
    return make(Add, nodes)


def _node_key(node):
    """A key equal for equal nodes, whether the node is built yet or not."""
    if isinstance(node, Einsum):
        return (node.coeff, node.operands, node.subscripts, node.out, node.dims)
    return node


def _is_wrapper(t):
    """Whether the Einsum ``t`` is c·X of one operand X read as it is (with coefficient 1 it would be X)."""
    return len(t.operands) == 1 and t.subscripts[0] == t.out and len(set(t.out)) == len(t.out) == len(t.dims)


def _unit_key(t):
    """The key of ``with_coeff(t, 1.0)`` (the Einsum ``t``'s coefficient-1 form)."""
    if _is_wrapper(t):
        return _node_key(t.operands[0])
    return (1.0, t.operands, t.subscripts, t.out, t.dims)


def _unit_skey(t):
    """The structural key of ``t``'s coefficient-1 form (``t`` itself unless an Einsum with another coefficient)."""
    if not isinstance(t, Einsum) or t.coeff == 1.0:
        return t.skey
    if _is_wrapper(t):
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


# ---------------------------------------------------------------- functions

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


def _check_square(arg, what):
    if len(arg.shape) != 2 or arg.shape[0] != arg.shape[1]:
        raise ShapeError(f"{what} needs a square matrix with dims (d, d), got shape {format_dims(arg.shape)}")


def _single_scaled(arg):
    """(coeff, operand, transposed) when arg is c·B or c·Bᵀ for a matrix B, else None."""
    if isinstance(arg, Einsum) and len(arg.operands) == 1 and len(arg.dims) == 2 and len(set(arg.out)) == 2:
        (sub,) = arg.subscripts
        if sorted(sub) == [0, 1]:
            return arg.coeff, arg.operands[0], sub != arg.out
    return None


def inv_node(arg):
    """Canonical matrix inverse: the first of INV_RULES that applies, else Inv(arg)."""
    _check_square(arg, "inv")
    return _first_rule(INV_RULES, arg, Inv)


def _is_identity(arg):
    return isinstance(arg, Einsum) and not arg.operands and arg.out == (0, 0) and len(arg.dims) == 1 \
        and arg.coeff == 1.0


def det_node(arg):
    """Canonical determinant: the first of DET_RULES that applies, else Det(arg)."""
    _check_square(arg, "det")
    return _first_rule(DET_RULES, arg, Det)


def logdet_node(arg):
    """Canonical log-determinant: the first of LOGDET_RULES that applies, else LogDet(arg)."""
    _check_square(arg, "logdet")
    return _first_rule(LOGDET_RULES, arg, LogDet)


def _first_rule(rules, arg, node_type):
    """The result of the first rule that applies to ``arg``, else the plain node_type(arg)."""
    for rule in rules:
        result = rule(arg)
        if result is not None:
            return result
    return make(node_type, arg)


# Rules on matrix functions: each takes the argument and returns a node with fewer operations, or
# None when it does not apply.

def inverse_of_inverse(arg):
    """inv(inv(A)) = A."""
    return arg.arg if isinstance(arg, Inv) else None


def inverse_of_scaled_identity(arg):
    """inv(c I) = I / c."""
    if isinstance(arg, Einsum) and not arg.operands and arg.out == (0, 0) and len(arg.dims) == 1:
        return make(Einsum, 1.0 / arg.coeff, (), (), (0, 0), arg.dims)
    return None


def inverse_of_scaled(arg):
    """inv(c Bᵀ) = inv(B)ᵀ / c."""
    scaled = _single_scaled(arg)
    if scaled is None or scaled[1].ndim != 2:
        return None
    coeff, base, transposed = scaled
    result = scale(make(Inv, base), 1.0 / coeff) if coeff != 1.0 else make(Inv, base)
    return transpose(result, (1, 0)) if transposed else result


def determinant_of_identity(arg):
    """det(I) = 1 whatever the size."""
    return constant(1.0) if _is_identity(arg) else None


def determinant_of_transpose(arg):
    """det(Bᵀ) = det(B)."""
    scaled = _single_scaled(arg)
    return det_node(scaled[1]) if scaled is not None and scaled[0] == 1.0 and scaled[1].ndim == 2 else None


def logdet_of_identity(arg):
    """log det(I) = 0."""
    return constant(0.0) if _is_identity(arg) else None


def logdet_of_inverse(arg):
    """log det(inv(A)) = -log det(A)."""
    return scale(logdet_node(arg.arg), -1.0) if isinstance(arg, Inv) else None


def logdet_of_transpose(arg):
    """log det(Bᵀ) = log det(B)."""
    scaled = _single_scaled(arg)
    return logdet_node(scaled[1]) if scaled is not None and scaled[0] == 1.0 and scaled[1].ndim == 2 else None


INV_RULES = [inverse_of_inverse, inverse_of_scaled_identity, inverse_of_scaled]
DET_RULES = [determinant_of_identity, determinant_of_transpose]   # matrixrules.py adds det(inv(A)) = 1/det(A)
LOGDET_RULES = [logdet_of_identity, logdet_of_inverse, logdet_of_transpose]
# Rules on a sum's collected [(term, coefficient)]: each returns a shorter list or None. matrixrules.py
# adds the one that needs the function table.
SUM_RULES = []


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


# ---------------------------------------------------------------- reductions, soft maxima, masks

def max_node(arg, axes):
    """Canonical max of ``arg`` along ``axes`` (sorted positions); over no axis it is ``arg``."""
    if not axes:
        return arg
    value = constant_value(arg)
    if value is not None:
        return constant(value, tuple(d for k, d in enumerate(arg.shape) if k not in axes))
    return make(Max, arg, tuple(axes))


def logsumexp_node(arg, axes):
    """Canonical log Σ exp(arg) along ``axes``; over no axis it is ``arg``."""
    return make(LogSumExp, arg, tuple(axes)) if axes else arg


def softmax_node(arg, axes):
    """Canonical softmax of ``arg`` along ``axes``; over no axis every entry is 1."""
    if not axes:
        return constant(1.0, arg.shape)
    return make(Softmax, arg, tuple(axes))


_COMPARISONS = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__, "==": float.__eq__}


def compare_node(op, a, b):
    """Canonical 0/1 mask ``a op b`` of two expressions of one shape; two constants fold."""
    left, right = constant_value(a), constant_value(b)
    if left is not None and right is not None:
        return constant(float(_COMPARISONS[op](left, right)), a.shape)
    if a is b and op in ("<", ">"):   # x <= x is not folded: it is 0 where x is nan
        return zeros(a.shape)
    return make(Compare, op, a, b)


def where_node(mask, a, b):
    """Canonical ``where(mask, a, b)`` of three expressions of one shape."""
    if a is b:
        return a
    value = constant_value(mask)
    if value is not None:
        return a if value != 0.0 else b
    return make(Where, mask, a, b)


def maximum_node(a, b):
    """Canonical elementwise maximum of two expressions of one shape."""
    if a is b:
        return a
    left, right = constant_value(a), constant_value(b)
    if left is not None and right is not None:
        return constant(max(left, right), a.shape)
    return make(Maximum, a, b)


def triangle(rows, cols, k, lower):
    """The 0/1 matrix of numpy's tril (``lower``) or triu of ones over (rows, cols), diagonal ``k``."""
    return make(Triangle, rows, cols, int(k), bool(lower))


def cholesky_node(arg):
    """The lower Cholesky factor of a symmetric (d, d) matrix."""
    _check_square(arg, "cholesky")
    if _is_identity(arg):
        return arg
    return make(Cholesky, arg)


# ---------------------------------------------------------------- whole graphs

_REBUILD = {
    Var: lambda node, new: node,
    Einsum: lambda node, new: einsum_node(node.coeff, [new[o] for o in node.operands], node.subscripts, node.out, node.dims),
    Add: lambda node, new: add_node([new[t] for t in node.terms], node.shape),
    Apply: lambda node, new: apply_node(node.fn, new[node.arg]),
    Inv: lambda node, new: inv_node(new[node.arg]),
    Det: lambda node, new: det_node(new[node.arg]),
    LogDet: lambda node, new: logdet_node(new[node.arg]),
    Solve: lambda node, new: make(Solve, new[node.matrix], new[node.rhs]),
    Select: lambda node, new: node,
    Take: lambda node, new: make(Take, new[node.arg], node.keys),
    Max: lambda node, new: max_node(new[node.arg], node.axes),
    LogSumExp: lambda node, new: logsumexp_node(new[node.arg], node.axes),
    Softmax: lambda node, new: softmax_node(new[node.arg], node.axes),
    Compare: lambda node, new: compare_node(node.op, new[node.a], new[node.b]),
    Where: lambda node, new: where_node(new[node.mask], new[node.a], new[node.b]),
    Maximum: lambda node, new: maximum_node(new[node.a], new[node.b]),
    Triangle: lambda node, new: node,
    Cholesky: lambda node, new: cholesky_node(new[node.arg]),
    **STRUCTURE_REBUILD,
}


def simplify(expr: ExprLike) -> Expr:
    """Rebuild an expression bottom-up through the canonical constructors.

    Expressions are put in canonical form as they are built (nested products merged, constants
    folded, equal terms collected, Kronecker deltas eliminated), so derivatives come out simplified
    and this is rarely needed; it is idempotent.

    Parameters
    ----------
    expr : Expr or number
        The expression.

    Returns
    -------
    Expr
        The canonical expression, equal in value.

    Examples
    --------
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> td.simplify(td.inv(td.inv(A))) is A
    True
    >>> x = td.vector("x", "n")
    >>> print(td.simplify(x + x - 2 * x))
    out[i] = 0
    """
    expr = as_expr(expr)   # a number is a constant; anything else is refused clearly
    new = {}
    for node in topological([expr]):
        new[node] = _REBUILD[type(node)](node, new)
    return new[expr]


def substitute(expr, mapping):
    """``expr`` with the nodes in ``mapping`` replaced (rebuilt canonically)."""
    new = {}
    for node in topological([expr]):
        if node in mapping:
            new[node] = mapping[node]
        elif all(new[child] is child for child in node.children()):
            new[node] = node   # nothing below it changed: rebuilding would canonicalise it again to itself
        else:
            new[node] = _REBUILD[type(node)](node, new)
    return new[expr]


def rewrite(exprs, rule):
    """``exprs`` rebuilt bottom-up, each rebuilt node replaced by ``rule(node)`` unless that is None."""
    new = {}
    for node in topological(list(exprs)):
        built = _REBUILD[type(node)](node, new)
        replaced = rule(built)
        new[node] = built if replaced is None else replaced
    return [new[e] for e in exprs]


def as_expr(value: object) -> Expr:
    """An expression from an expression or a Python/numpy number (a scalar constant)."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, np.bool_)) or isinstance(value, np.ndarray) and value.shape == () \
            and value.dtype.kind == "b":   # True and False are 1 and 0, as numpy and jax count them
        return constant(float(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        try:
            return constant(float(value))
        except OverflowError:
            raise TensorDiffError(f"an int of {len(str(abs(int(value))))} digits is too large for a float64 "
                                  "constant") from None
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return constant(float(value))
    raise ShapeError(f"cannot use {type(value).__name__} {value!r:.60} in an expression: only tensordiff "
                     "expressions and numbers mix; make arrays symbols (td.tensor) and pass them at evaluation")
