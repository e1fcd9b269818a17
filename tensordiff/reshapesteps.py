"""Evaluating composite dims: products with merges and embeddings become reshapes, slices and pads.

``plan_structures`` rewrites each product that holds a structure constant (composite.py) so no
constant is built: a merged index c = (a, b) is split into its parts in every operand that
carries it (``Reshape``, a view in C order) and in the output (one reshape back at the end); an
embedded index becomes a slice of the operands that carry it (``Part``) and a zero-padded output
(``Place``); a renaming unifies its two indices (their sizes agree, checked by
``bind_composites``). So vec(X) is a reshape of Xᵀ, and kron(B.T, A) @ vec(X), which the
simplifier already turned into A X B, costs what A X B costs. One flat index merged several ways
is split as the merge the others can be read as: the same parts are unified (a diagonal
[c = (k, k)] too), other parts are read as whole runs, and operands that read parts apart are
contracted first into one that reads them as a run. Only a constant that meets another on an
index no operand splits cleanly is built as a 0/1 array (eye(N) reshaped), as a last resort.

``bind_composites`` gives every composite dim its size from its parts' (a merged dim the
product, a concatenated one the sum, "3" three), infers a single unknown new dim of a reshape,
and refuses sizes that disagree. ``STRUCTURE_PLANS`` are the steps, on every backend.
"""

import math

import numpy as np

from .composite import STRUCTURES, Embed, Merge, Part, Place, Reinterpret, Reshape
from .errors import EvaluationError, ShapeError
from .expr import Einsum, make, topological
from .indices import atoms, concat_parts, dim_size, format_dims, is_plain, merged_parts, slice_of
from .pricing import PRICES
from .reductionsteps import ops_for
from .einsumnodes import einsum_node, einsum_on
from .simplify import rewrite

__all__ = ["plan_structures", "bind_composites", "STRUCTURE_PLANS"]


def plan_structures(exprs):
    """``exprs`` with every product holding a structure constant rewritten into reshapes, slices and pads."""
    exprs = list(exprs)
    if not any(isinstance(node, STRUCTURES) for node in topological(exprs)):
        return exprs
    return rewrite(exprs, _unstructured)


def _unstructured(node):
    if not isinstance(node, Einsum) or not any(isinstance(op, STRUCTURES) for op in node.operands):
        return None
    ops, subs, out, dims = list(node.operands), [list(s) for s in node.subscripts], list(node.out), list(node.dims)
    # a renaming I[t, s]: t and s are one flat index (sizes checked at binding)
    for k in [k for k, op in enumerate(ops) if isinstance(op, Reinterpret)]:
        t, s = subs[k]
        if t != s:
            for j, sub in enumerate(subs):
                if t in sub and not isinstance(ops[j], STRUCTURES):   # read as s: a reshape, whose sizes binding checks
                    ops[j] = _reshape(ops[j], tuple(dims[s] if i == t else dims[i] for i in sub))
            for sub in subs + [out]:
                sub[:] = [s if i == t else i for i in sub]
    keep = [k for k, op in enumerate(ops) if not isinstance(op, Reinterpret)]
    ops, subs = [ops[k] for k in keep], [subs[k] for k in keep]
    # an index stays summed (a factor of its size) unless a structure's expansion replaces it: the
    # parts of Σ_c [c = (j, j)] with c read nowhere else are read by no operand, yet Σ_j counts a
    summed = {i for sub in subs for i in sub} | set(out)
    replaced = set()
    undo = []   # what turns the expanded output back, last first
    while True:
        k = _next_structure(ops, subs)
        if k is None:
            break
        k, grouped = _readable_merge(ops, subs, out, dims, k)
        replaced |= grouped
        op, sub = ops.pop(k), subs.pop(k)
        before = [dims[i] for i in out]
        replaced.add(sub[0])
        if isinstance(op, Merge):
            c, parts = sub[0], sub[1:]
            if c in out:
                out[:] = [j for i in out for j in (parts if i == c else [i])]
            replaced |= _split(ops, subs, dims, c, parts, out)
            if [dims[i] for i in out] != before:
                undo.append(("reshape", tuple(before)))
        else:
            c, a = sub
            for j, (other, other_sub) in enumerate(zip(ops, subs)):
                for axis, i in enumerate(other_sub):
                    if i == c:
                        other = make(Part, other, axis, op.parts, op.k)
                        other_sub[axis] = a
                ops[j] = other
            positions = [p for p, i in enumerate(out) if i == c]
            out[:] = [a if i == c else i for i in out]
            for p in positions:
                undo.append(("place", (p, op.parts, op.k)))
    used = sorted({i for sub in subs for i in sub} | set(out) | _orphans(node) | (summed - replaced))
    renumber = {i: n for n, i in enumerate(used)}
    result = einsum_node(node.coeff, ops, [tuple(renumber[i] for i in sub) for sub in subs],
                         tuple(renumber[i] for i in out), [dims[i] for i in used])
    for kind, info in reversed(undo):
        if kind == "reshape":
            result = _reshape(result, info)
        else:
            p, parts, k = info
            result = make(Place, result, p, parts, k)
    return _reshape(result, node.shape)


def _orphans(node):
    """Indices of ``node`` used nowhere: each contributes the size of its dim, so they stay."""
    used = {i for sub in node.subscripts for i in sub} | set(node.out)
    return {i for i in range(len(node.dims)) if i not in used}


def _next_structure(ops, subs):
    """A structure operand whose leading index is no inner index of another (expand outer ones first)."""
    inner = {i for op, sub in zip(ops, subs) if isinstance(op, (Merge, Embed)) for i in sub[1:]}
    for k, (op, sub) in enumerate(zip(ops, subs)):
        if isinstance(op, (Merge, Embed)) and sub[0] not in inner:
            return k
    return next((k for k, op in enumerate(ops) if isinstance(op, (Merge, Embed))), None)


def _readable_merge(ops, subs, out, dims, k):
    """(a merge of structure ``k``'s merged index to split it as, the indices summed in operands
    grouped here): one whose parts every other merge of it can be read as (the same parts, or parts
    that occur only as whole runs, ``_read_as``), so that none is built as a 0/1 array.

    [c = (i, j)] [c = (k, p)] with (i, j) a (a, b) run of the output and k, p read apart (b, a)
    splits c as (k, p) and reshapes the output. Where parts are read apart only by plain operands
    (t3[q, o] t2[o, p] of [c = (q, p)]), those are contracted first into one operand that reads
    them as a run, when it has no more axes than they. ``k`` when it is no merge, or none fits.
    """
    if not isinstance(ops[k], Merge):
        return k, set()
    c = subs[k][0]
    merges = _merges_of(ops, subs, c)
    if len(merges) < 2:
        return k, set()
    places = [sub for j, sub in enumerate(subs) if j not in merges] + [out]
    order = [k] + [j for j in merges if j != k]
    for first in order:
        if all(ops[j].parts == ops[first].parts or _whole_runs(places, subs[j][1:]) for j in merges if j != first):
            return first, set()
    for first in order:
        apart = [subs[j][1:] for j in merges if j != first and ops[j].parts != ops[first].parts
                 and not _whole_runs(places, subs[j][1:])]
        built = len(subs[first]) - 1   # the 0/1 array built otherwise has these axes and each old's
        groups = [_group_reading(ops, subs, out, dims, c, old, built + len(old)) for old in apart]
        if all(g is not None for g in groups) and len({j for g in groups for j in g[0]}) == sum(len(g[0]) for g in groups):
            chosen, summed = ops[first], set()
            # every group's positions are of the list as it is now: all are removed before any is added
            for j in sorted((j for g in groups for j in g[0]), reverse=True):
                ops.pop(j)
                subs.pop(j)
            for _, grouped, grouped_sub, inner in groups:
                summed |= inner
                ops.append(grouped)
                subs.append(grouped_sub)
            return next(j for j in _merges_of(ops, subs, c) if ops[j] is chosen), summed
    return k, set()


def _merges_of(ops, subs, c):
    return [j for j, (op, sub) in enumerate(zip(ops, subs)) if isinstance(op, Merge) and sub[0] == c
            and c not in sub[1:]]


def _group_reading(ops, subs, out, dims, c, old, built):
    """(positions, their product, its indices, the indices summed in it) of the plain operands that
    read the parts ``old`` of a merge of ``c``, contracted into one that reads them as a run last;
    None where a structure reads them, the output reads them apart, or the product would have
    more axes than each operand it contracts and than the ``built`` axes of the 0/1 array it saves
    (one operand, inv(A)[i, j] of [c = (i, l)], is broadcast along l: a²b entries, not (ab)²)."""
    old = list(old)
    members = [j for j, sub in enumerate(subs) if set(sub) & set(old) and not (isinstance(ops[j], Merge) and sub[0] == c)]
    if len(set(old)) != len(old) or _runs_replaced(out, old, old) is None or not members \
            or any(isinstance(ops[j], STRUCTURES) for j in members):
        return None
    outside = {i for j, sub in enumerate(subs) if j not in members for i in sub} | set(out)
    inside = {i for j in members for i in subs[j]}
    kept = [i for i in sorted(inside & outside) if i not in old] + old
    axes = sum(len(atoms(dims[i])) for i in kept)
    if axes > max(sum(len(atoms(dims[i])) for i in subs[j]) for j in members) and axes >= built:
        return None
    ids = sorted(inside | set(old))   # a part no member reads is broadcast
    grouped = einsum_on(1.0, [ops[j] for j in members], [subs[j] for j in members], kept, dims, ids)
    return members, grouped, kept, inside - set(kept)


def _whole_runs(places, old):
    """Whether the indices ``old`` (distinct) occur in ``places`` only as whole runs in order."""
    return len(set(old)) == len(old) and all(_runs_replaced(sub, old, old) is not None for sub in places)


def _runs_replaced(sub, old, new):
    """``sub`` with each run of ``old`` replaced by ``new``; None if an index of ``old`` occurs outside one."""
    old, result, p = list(old), [], 0
    while p < len(sub):
        if list(sub[p:p + len(old)]) == old:
            result += list(new)
            p += len(old)
        elif sub[p] in old:
            return None
        else:
            result.append(sub[p])
            p += 1
    return result


def _split(ops, subs, dims, c, parts, out):
    """Index c replaced by ``parts`` in every operand: reshaped in C order (a view). Returns the
    indices of other merges of c that are now read as ``parts`` (replaced, as c is)."""
    same, read_as_parts = [], set()
    for j, (op, sub) in enumerate(zip(ops, subs)):
        if c not in sub:
            continue
        if isinstance(op, Merge) and sub[0] == c and c not in sub[1:]:
            same.append(j)   # another merge of c: its parts are the same flat index, read another way
            continue
        subs[j] = [p for i in sub for p in (parts if i == c else [i])]
        ops[j] = _reshape(op, tuple(dims[i] for i in subs[j]))
    for j in sorted(same, reverse=True):
        op, sub = ops.pop(j), subs.pop(j)
        if _read_as(ops, subs, out, dims, sub[1:], parts):
            read_as_parts.update(sub[1:])
        elif op.parts == tuple(dims[i] for i in parts):
            renamed = _unify(subs, out, zip(sub[1:], parts))
            parts = [renamed.get(i, i) for i in parts]   # a part renamed away is read by its new name after
            read_as_parts.update(renamed)
        else:
            ops.append(_reshape(op, tuple(dims[i] for i in list(parts) + sub[1:])))   # last resort: built
            subs.append(list(parts) + sub[1:])
    return read_as_parts


def _unify(subs, out, pairs):
    """Each pair of indices made one everywhere (R[c, P] R[c, Q] = R[c, P] δ[P, Q], for one merge
    read as P and as Q): [c = (k, k)] beside [c = (n, m)] is δ[n, k] δ[m, k], a diagonal, where
    reading (k, k) as a whole run (``_read_as``) cannot be. Returns {index renamed away: its new name}."""
    root = {}

    def find(i):
        while root.get(i, i) != i:
            i = root[i]
        return i
    for a, b in pairs:
        a, b = find(a), find(b)
        if a != b:
            root[max(a, b)] = min(a, b)
    renamed = {i: find(i) for i in root}
    for sub in subs + [out]:
        sub[:] = [renamed.get(i, i) for i in sub]
    return renamed


def _read_as(ops, subs, out, dims, old, new):
    """Replace each run of indices ``old`` by ``new`` (one flat index read two ways) wherever it
    occurs, reshaping operands; False (nothing changed) if an index of ``old`` occurs outside a
    whole run in order, or twice in ``old``."""
    places, rewritten = subs + [out], []
    if len(set(old)) != len(old):   # [k = (l, l)]: reading it as new ties new's parts together, a diagonal
        return False
    for sub in places:
        result = _runs_replaced(sub, old, new)
        if result is None:
            return False
        rewritten.append(result)
    for j, (sub, result) in enumerate(zip(places, rewritten)):
        if list(sub) != result:
            sub[:] = result
            if j < len(ops):
                ops[j] = _reshape(ops[j], tuple(dims[i] for i in sub))
    return True


def _reshape(node, shape):
    shape = tuple(shape)
    if node.shape == shape:
        return node
    if isinstance(node, Reshape):
        node = node.arg
        if node.shape == shape:
            return node
    return make(Reshape, node, shape)


# ---------------------------------------------------------------- sizes

def bind_composites(dims, nodes, sizes):
    """Add the sizes of composite and decimal dims to ``sizes``, from their parts'; infer a new
    dim of a reshape whose other sizes are known; refuse sizes that disagree (ShapeError)."""
    pairs = [(node.arg.shape, node.shape) for node in nodes if isinstance(node, Reshape)]
    for _ in range(len(pairs) + 1):
        progress = False
        for source, target in pairs:
            progress |= _infer(source, target, sizes) or _infer(target, source, sizes)
        if not progress:
            break
    for dim in sorted(dims, key=len):
        if is_plain(dim) or slice_of(dim) is not None:
            continue
        size = dim_size(dim, {d: n for d, n in sizes.items() if d != dim})
        if size is None:
            continue
        if dim in sizes and sizes[dim] != size:
            parts = merged_parts(dim) or concat_parts(dim) or ()
            raise ShapeError(f"dim {dim!r} has size {sizes[dim]} in a value, but its parts give {size} "
                             f"({', '.join(f'{p}={dim_size(p, sizes)}' for p in parts)})")
        sizes[dim] = size
    for source, target in pairs:
        n, m = _total(source, sizes), _total(target, sizes)
        if n is not None and m is not None and n != m:
            renamed = [(a, b) for a, b in zip(source, target) if a != b] if len(source) == len(target) else ()
            if len(renamed) == 1:
                (a, b), = renamed
                raise ShapeError(f"dims {a!r} and {b!r} name one axis (a reshape renamed it, or td.stack(..., "
                                 f"dim=) named a stack's axis), but {a!r} has size {dim_size(a, sizes)} and {b!r} "
                                 f"{dim_size(b, sizes)}")
            raise ShapeError(f"reshape of {format_dims(source)} (sizes {_sizes(source, sizes)}, {n} entries) to "
                             f"{format_dims(target)} (sizes {_sizes(target, sizes)}, {m} entries): the totals differ")


def _total(shape, sizes):
    known = [dim_size(d, sizes) for d in shape]
    return None if None in known else math.prod(known)


def _sizes(shape, sizes):
    return "×".join(str(dim_size(d, sizes)) for d in shape) or "()"


def _infer(source, target, sizes):
    """Give the one unknown plain atom of ``target`` the size that makes the totals agree."""
    n = _total(source, sizes)
    if n is None:
        return False
    flat = [a for d in target for a in atoms(d)]
    unknown = [a for a in flat if dim_size(a, sizes) is None]
    if len(set(unknown)) != 1 or len(unknown) != 1 or not is_plain(unknown[0]):
        return False
    rest = math.prod(dim_size(a, sizes) for a in flat if a != unknown[0])
    if rest == 0 or n % rest:
        raise ShapeError(f"reshape of {format_dims(source)} ({n} entries) to {format_dims(target)}: no size of "
                         f"{unknown[0]!r} makes {n} entries (the other dims hold {rest})")
    sizes[unknown[0]] = n // rest
    return True


# ---------------------------------------------------------------- steps

def _reshape_step(node, backend, singular):
    ops = ops_for(backend)
    shape = node.shape

    def run(args, sizes, place):
        return ops.xp.reshape(args[0], tuple(sizes[d] for d in shape))
    return run


def _offset(parts, k, sizes):
    return sum(dim_size(p, sizes) for p in parts[:k])


def _part_step(node, backend, singular):
    def run(args, sizes, place):
        start = _offset(node.parts, node.k, sizes)
        keys = (slice(None),) * node.axis + (slice(start, start + dim_size(node.parts[node.k], sizes)),)
        return backend.take(args[0], keys)
    return run


def _place_step(node, backend, singular):
    ops = ops_for(backend)

    def run(args, sizes, place):
        (x,) = args
        before = _offset(node.parts, node.k, sizes)
        after = _offset(node.parts, len(node.parts), sizes) - before - dim_size(node.parts[node.k], sizes)
        if backend.name == "torch":
            pads = [0, 0] * (x.ndim - 1 - node.axis) + [before, after]
            return ops.xp.nn.functional.pad(x, pads)
        widths = [(0, 0)] * x.ndim
        widths[node.axis] = (before, after)
        return ops.pad(x, widths)
    return run


def _constant_step(node, backend, singular):
    """The last resort: the 0/1 array of a structure constant, from rows of the identity."""
    def run(args, sizes, place):
        total = dim_size(node.shape[0], sizes)
        if isinstance(node, Merge):
            array = np.eye(total).reshape((total,) + tuple(sizes[p] for p in node.parts))
        elif isinstance(node, Embed):
            start = _offset(node.parts, node.k, sizes)
            array = np.eye(total)[:, start:start + dim_size(node.parts[node.k], sizes)]
        else:
            if total != dim_size(node.source, sizes):
                raise EvaluationError(f"dims {node.target!r} and {node.source!r} must have one size")
            array = np.eye(total)
        return backend.constant(np.ascontiguousarray(array), node.shape, place)
    return run


STRUCTURE_PLANS = {
    Reshape: _reshape_step,
    Part: _part_step,
    Place: _place_step,
    Merge: _constant_step,
    Embed: _constant_step,
    Reinterpret: _constant_step,
}

# a reshape and a slice are views; a pad writes its output once
PRICES.setdefault(Reshape, lambda node, sizes: (0, 0))
PRICES.setdefault(Part, lambda node, sizes: (0, 0))
