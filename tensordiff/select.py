"""Indexing expressions symbolically: ``H[3]``, ``H[:, 1:4]``, ``td.diff(f, X)[i, j]``.

Building: ``index(expr, key)`` selects with numpy's basic-indexing rules (ints, negative ints,
slices with steps, one ``...``, fewer keys than axes select leading axes, ``None`` for a new
axis). An int removes its axis; a slice turns dim ``n`` into the dim ``n[start:stop:step]`` (see
``indices.sliced_dim``); ``:`` keeps the axis as it is; ``None`` (np.newaxis) adds a length-1
axis of dim "1" (reshaping.py's ``with_unit_axes``), which broadcasts against any dim. The selection is pushed down the expression: into every term of
a sum, through elementwise functions, and into the operands of a product that carry the selected
index, so only what the selected entries depend on is ever computed. Where it cannot go further
(a symbol, an inverse, a delta in an output) it stays as a ``Select`` operand of a product:
``x[3]`` is Σ_a x[a] e3[a], and delta elimination then carries it into every derivative term.

Evaluating: ``plan_selections`` rewrites each product that holds a ``Select`` on a summed index
into basic slicing (``Take``, a numpy view) of the operands that carry that index, so the cost is
that of the selected part. A ``Select`` that is left (its index is also an output, as when a
delta meets a selection) is written out as a 0/1 array of the output's extent. Sizes of sliced
dims follow from the arrays at binding; an int out of range is an ``EvaluationError`` then,
since sizes are unknown until evaluation.
"""

import numbers

import numpy as np

from .errors import EvaluationError, ShapeError, TensorDiffError
from .expr import Add, Apply, Einsum, Expr, Select, Take, make, topological
from .indices import dim_size, format_dims, literal_size, slice_of, sliced_dim, sliced_size
from .constantnodes import zeros
from .einsumnodes import apply_node, einsum_node
from .simplify import rewrite
from .sumnodes import add_node
from .reshaping import with_unit_axes

__all__ = ["index", "plan_selections", "bind_selections", "SELECTION_PLANS"]

# Pushing a selection down stops this deep (the rest is sliced at that level): no recursion limit.
MAX_PUSH_DEPTH = 64


# ---------------------------------------------------------------- building

def index(expr, key):
    """``expr[key]`` with numpy's basic indexing, selected symbolically.

    >>> import tensordiff as td
    >>> X, W, a = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k")
    >>> H = td.hessian(td.sum(td.tanh(X @ W) @ a), W)     # dims (d, k, d, k)
    >>> H[3, :, 1:4].shape                                # H[3, j, 1 + l, m]
    ('k', 'd[1:4]', 'k')
    >>> a = td.vector("a", "k")
    >>> (a[:, None] * a[None, :]).shape                    # None adds a length-1 axis, which broadcasts
    ('k', 'k')
    """
    picks, new_axes = _parse_key(expr, key)
    return with_unit_axes(_selected(expr, picks), new_axes)


def _selected(expr, picks):
    if not picks:
        return expr
    result = _select(expr, picks, {}, 0)
    ints = [(expr.shape[axis], key) for axis, key in sorted(picks.items()) if isinstance(key, int)]
    if ints and isinstance(result, Einsum) and result.coeff == 0.0:
        return _guarded_zero(result.shape, ints)
    return result


def _guarded_zero(shape, ints):
    """Zeros of ``shape`` that still hold their int selections, so evaluation checks their range:
    ``(0*x)[7]`` with n = 3 is an error, as in numpy, not 0. Only a zero that is itself indexed
    keeps them; inside a larger expression it cancels like any zero term."""
    selects = tuple(make(Select, dim, key) for dim, key in ints)
    subs = tuple((len(shape) + k,) for k in range(len(ints)))
    return make(Einsum, 0.0, selects, subs, tuple(range(len(shape))), tuple(shape) + tuple(d for d, _ in ints))


def _as_int(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _parse_key(expr, key):
    """({axis: int or (start, stop, step)}, the result's axes that ``None`` adds) from a numpy-style
    key; whole-axis slices are left out."""
    items = key if isinstance(key, tuple) else (key,)
    for position, item in enumerate(items):
        if isinstance(item, Expr):
            raise TensorDiffError(f"index {position} is an expression of shape {format_dims(item.shape)}: tensordiff "
                                  "selects with ints, slices (start:stop:step), '...' and None, not with masks or "
                                  "index arrays; td.where(mask, x, 0) keeps the entries a mask selects")
        if isinstance(item, (np.ndarray, list)) and not (isinstance(item, np.ndarray) and item.ndim == 0):
            raise TensorDiffError(f"index {position} is {type(item).__name__} {item!r:.40}: tensordiff selects with "
                                  "ints, slices (start:stop:step), '...' and None, not index or boolean arrays")
    if sum(item is Ellipsis for item in items) > 1:
        raise TensorDiffError(f"an index can hold only one '...', got {key!r}")
    named = sum(item is not Ellipsis and item is not None for item in items)
    if named > expr.ndim:
        raise ShapeError(f"too many indices: {named} for an expression of shape {format_dims(expr.shape)}")
    picks, new_axes, axis, out_axis = {}, [], 0, 0   # out_axis: the result's axes so far
    for position, item in enumerate(items):
        if item is Ellipsis:
            axis += expr.ndim - named
            out_axis += expr.ndim - named
            continue
        if item is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        number = _as_int(item)
        if number is not None:
            length = literal_size(expr.shape[axis])
            if length is not None and not -length <= number < length:   # a new or stacked axis: known now
                raise ShapeError(f"index {number} is out of range for axis {axis} of {format_dims(expr.shape)}, "
                                 f"whose dim {expr.shape[axis]!r} has length {length}")
            picks[axis] = number
            out_axis -= 1
        elif isinstance(item, slice):
            bounds = [_slice_bound(part, item, position) for part in (item.start, item.stop, item.step)]
            start, stop, step = bounds
            step = 1 if step is None else step
            if step == 0:
                raise TensorDiffError(f"index {position}: a slice step cannot be zero")
            if start == 0 and step > 0:
                start = None
            if (start, stop, step) != (None, None, 1):
                picks[axis] = (start, stop, step)
        else:
            raise TensorDiffError(f"index {position} of {key!r:.60} is {type(item).__name__} {item!r:.40}: "
                                  "tensordiff selects with ints, slices (start:stop:step), '...' and None "
                                  "(a new axis)")
        axis += 1
        out_axis += 1
    return picks, new_axes


def _slice_bound(part, item, position):
    if part is None:
        return None
    number = _as_int(part)
    if number is None:
        raise TensorDiffError(f"index {position}: slice {item!r} must have int or None bounds, "
                              f"got {type(part).__name__} {part!r:.40}")
    return number


def _select(node, picks, memo, depth):
    """``node`` with ``picks`` ({axis: key}) applied, pushed as far down as it goes."""
    memo_key = (node, tuple(sorted(picks.items())))
    found = memo.get(memo_key)
    if found is not None:
        return found
    if depth > MAX_PUSH_DEPTH:
        result = _leaf(node, picks)
    elif isinstance(node, Add):
        result = add_node([_select(t, picks, memo, depth + 1) for t in node.terms], _picked_shape(node.shape, picks))
    elif isinstance(node, Apply):  # elementwise: f(x)[key] = f(x[key])
        result = apply_node(node.fn, _select(node.arg, picks, memo, depth + 1))
    elif isinstance(node, Einsum):
        result = _select_einsum(node, picks, memo, depth)
    else:
        result = _leaf(node, picks)
    memo[memo_key] = result
    return result


def _picked_shape(shape, picks):
    return tuple(dim if axis not in picks else sliced_dim(dim, picks[axis])
                 for axis, dim in enumerate(shape) if not isinstance(picks.get(axis), int))


def _leaf(node, picks):
    """Σ node[..a..] e[a] (an int) or S[b, a] (a slice): the selection as operands of a product."""
    dims = list(node.shape)
    ids = tuple(range(len(dims)))
    ops, subs, out = [node], [ids], []
    for axis, dim in enumerate(node.shape):
        key = picks.get(axis)
        if key is None:
            out.append(axis)
        elif isinstance(key, int):
            ops.append(make(Select, dim, key))
            subs.append((axis,))
        else:
            dims.append(sliced_dim(dim, key))
            ops.append(make(Select, dim, key))
            subs.append((len(dims) - 1, axis))
            out.append(len(dims) - 1)
    return einsum_node(1.0, ops, subs, tuple(out), dims)


def _select_einsum(node, picks, memo, depth):
    """Select in the operands that carry a picked output index; a delta keeps a Select operand."""
    dims = list(node.dims)
    ops, subs, out = list(node.operands), list(node.subscripts), list(node.out)
    operand_picks = {}  # operand position -> {axis: key}
    renamed = {}        # pushed index id -> its new id (a slice) or None (an int: the index goes)
    for position, key in sorted(picks.items()):
        a = node.out[position]
        if node.out.count(a) == 1 and any(a in sub for sub in node.subscripts):
            if isinstance(key, int):
                renamed[a] = None
            else:
                dims.append(sliced_dim(dims[a], key))
                renamed[a] = len(dims) - 1
            for k, sub in enumerate(node.subscripts):
                operand_picks.setdefault(k, {}).update((q, key) for q, i in enumerate(sub) if i == a)
            out[position] = renamed[a]
        else:  # a delta (a repeats in the output) or a broadcast: the selection stays an operand
            ops.append(make(Select, dims[a], key))
            if isinstance(key, int):
                subs.append((a,))
                out[position] = None
            else:
                dims.append(sliced_dim(dims[a], key))
                subs.append((len(dims) - 1, a))
                out[position] = len(dims) - 1
    for k, axis_keys in operand_picks.items():
        if axis_keys:
            ops[k] = _select(ops[k], axis_keys, memo, depth + 1)
            subs[k] = tuple(renamed.get(i, i) for i in subs[k] if not (i in renamed and renamed[i] is None))
    out = tuple(i for i in out if i is not None)
    return _einsum_without(node.coeff, ops, subs, out, dims, set(renamed))


def _einsum_without(coeff, ops, subs, out, dims, gone):
    """einsum_node with the index ids in ``gone`` (used nowhere any more) left out of the numbering."""
    kept = [i for i in range(len(dims)) if i not in gone]
    renumber = {i: n for n, i in enumerate(kept)}
    return einsum_node(coeff, ops, [tuple(renumber[i] for i in s) for s in subs],
                       tuple(renumber[i] for i in out), [dims[i] for i in kept])


# ---------------------------------------------------------------- planning an evaluation

def plan_selections(outputs):
    """(outputs with selections on summed indices turned into slicing, the int selections to check).

    >>> import tensordiff as td
    >>> from tensordiff.select import plan_selections
    >>> X, w = td.matrix("X", "n p"), td.vector("w", "p")
    >>> planned, checks = plan_selections([(X @ w)[3]])
    >>> checks                                  # row 3 must exist in dim n
    [('n', 3)]
    """
    nodes = topological(list(outputs))
    checks = sorted({(n.dim, n.key) for n in nodes if isinstance(n, Select) and isinstance(n.key, int)})
    if not any(isinstance(n, Select) for n in nodes):
        return list(outputs), checks
    return rewrite(outputs, _slice_operands), checks


def _slice_operands(node):
    """A product with Select operands on summed indices, as slices of the operands carrying them."""
    changed = False
    while isinstance(node, Einsum) and any(isinstance(op, Select) for op in node.operands):
        merged = _merge_int_selections(node)
        if merged is not None:
            node, changed = merged, True
            continue
        k = next((k for k, op in enumerate(node.operands) if isinstance(op, Select) and _sliceable(node, k)), None)
        if k is None:
            break
        node, changed = _apply_selection(node, k), True
    return node if changed else None


def _merge_int_selections(node):
    """e_k[a] e_k[a] = e_k[a]; e_k[a] e_m[a] = 0 when k and m differ with one sign (then they pick
    different positions whatever the size); None when no two int selections share an index."""
    first, drop = {}, set()
    for k, (op, sub) in enumerate(zip(node.operands, node.subscripts)):
        if isinstance(op, Select) and isinstance(op.key, int):
            if sub[0] not in first:
                first[sub[0]] = op.key
            elif first[sub[0]] == op.key:
                drop.add(k)
            elif (first[sub[0]] < 0) == (op.key < 0):
                return zeros(node.shape)
    if not drop:
        return None
    kept = [k for k in range(len(node.operands)) if k not in drop]
    return einsum_node(node.coeff, [node.operands[k] for k in kept], [node.subscripts[k] for k in kept],
                       node.out, node.dims)


def _sliceable(node, k):
    """Whether Select operand k's index is summed and carried (if at all) by no other Select."""
    a = node.subscripts[k][-1]
    if a in node.out:
        return False
    return not any(a in sub and isinstance(op, Select)
                   for j, (op, sub) in enumerate(zip(node.operands, node.subscripts)) if j != k)


def _apply_selection(node, k):
    select, sub = node.operands[k], node.subscripts[k]
    a, b = sub[-1], (sub[0] if len(sub) == 2 else None)
    ops, subs = [], []
    for j, (op, op_sub) in enumerate(zip(node.operands, node.subscripts)):
        if j == k:
            continue
        if a in op_sub:  # slice this operand along a: a view, and the index becomes b (or goes)
            op = make(Take, op, tuple(select.key if i == a else None for i in op_sub))
            op_sub = tuple(b if i == a else i for i in op_sub if not (i == a and b is None))
        ops.append(op)
        subs.append(op_sub)
    # with no operand left on a, Σ_a e[a] = 1 and Σ_a S[b, a] = 1: the selection just goes
    return _einsum_without(node.coeff, ops, subs, node.out, node.dims, {a})


def bind_selections(dims, checks, sizes):
    """Add the sizes of sliced dims to ``sizes``; an int selection out of range is an EvaluationError."""
    for dim in dims:
        if dim not in sizes and slice_of(dim) is not None:
            size = sliced_size(dim, sizes)
            if size is not None:
                sizes[dim] = size
    for dim, key in checks:
        size = dim_size(dim, sizes)
        if size is not None and not -size <= key < size:
            raise EvaluationError(f"index {key} is out of range for dim {dim!r} of size {size}")


def _select_step(node, backend, singular):
    made = {}   # the 0/1 array per size of the dim: built once, read-only since calls share it

    def run(args, sizes, place):
        size = sizes[node.dim]
        selection = made.get(size)
        if selection is None:
            selection = made[size] = _selection_array(node.key, size)
        return backend.constant(selection, node.shape, place)
    return run


def _selection_array(key, size):
    positions = range(size)[key if isinstance(key, int) else slice(*key)]
    if isinstance(key, int):
        out = np.zeros(size)
        out[positions] = 1
    else:
        out = np.zeros((len(positions), size))
        out[np.arange(len(positions)), np.asarray(positions, dtype=np.intp)] = 1
    out.flags.writeable = False
    return out


def _take_step(node, backend, singular):
    keys = tuple(slice(None) if key is None else key if isinstance(key, int) else slice(*key) for key in node.keys)

    def run(args, sizes, place):
        return backend.take(args[0], keys)
    return run


SELECTION_PLANS = {Select: _select_step, Take: _take_step}

