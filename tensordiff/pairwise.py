"""Contractions planned once per equation and shapes: each pair is one (batched) matmul.

opt_einsum's tensordot route costs ~30 µs of Python per call, which dominates small programs, and
it hands batch indices (kept, and in both operands) to einsum's loop instead of BLAS. Here the
plan is made once: indices only one operand has and the output lacks are summed out of it first,
then each operand is transposed to (batch, kept, summed) and reshaped to 3-d, so one ``matmul``
does the rest; the result is reshaped and transposed to the output's order. Products that sum
nothing (outer and elementwise ones) have no matrices worth the name: they are one broadcast
multiplication (opt_einsum took ~50 ms for a 40⁴ outer product that einsum writes in ~6 ms), and
a matrix or vector times a matrix or vector is one np.dot (``direct_contraction``); batched dot
products and sums out of one operand alone run in numpy's einsum loop. Contractions of more
operands follow opt_einsum's path (its order of pairs), each pair run this way, without
opt_einsum's per-call dispatch.
"""

import builtins
import functools
import math

import numpy as np
from opt_einsum.parser import convert_to_valid_einsum_chars

from .buffers import DistinctLayouts
from .contractionpaths import contraction_path

__all__ = ["pairwise_contraction", "direct_contraction", "planned_contraction", "unary_contraction", "scaling_in_place",
           "IN_PLACE_ENTRIES"]

INNER_RATIO = 4   # a broadcast product's longest axis is written innermost where it is this many times the last
INNER_LOOPS = 128   # and where the output's order would run numpy's inner loop this many times
INNER_ENTRIES = 2 ** 15   # in a product of at most this many entries (past it, reading operands across strides costs more)
IN_PLACE_ENTRIES = 1024   # a scaling on a contraction's path writes into its operand from this many entries
STRAIGHT_STEPS = 8   # a path of at most this many pairs runs from slots worked out once (_along_path)


def pairwise_contraction(equation, shapes):
    """A function of two arrays computing ``np.einsum(equation, a, b)``: ``direct_contraction``'s
    one numpy call where it has one, else one matmul, or einsum's own loop where the pair is a
    batched dot or an operand has an index summed alone; None when an index repeats within one
    term (a diagonal: left to the caller).

    >>> import numpy as np
    >>> from tensordiff.pairwise import pairwise_contraction
    >>> A, B = np.arange(12.0).reshape(3, 4), np.arange(20.0).reshape(4, 5)
    >>> f = pairwise_contraction("ac,cb->ab", [(3, 4), (4, 5)])
    >>> np.array_equal(f(A, B), A @ B)
    True
    """
    inputs, out = equation.split("->")
    a, b = inputs.split(",")
    if any(len(set(term)) != len(term) for term in (a, b, out)):
        return None
    size = dict(zip(a, shapes[0]))
    size.update(zip(b, shapes[1]))
    batch = [c for c in out if c in a and c in b]
    kept_a = [c for c in a if c in out and c not in b]
    kept_b = [c for c in b if c in out and c not in a]
    summed = [c for c in a if c in b and c not in out]
    lone_a = tuple(k for k, c in enumerate(a) if c not in b and c not in out)
    lone_b = tuple(k for k, c in enumerate(b) if c not in a and c not in out)
    a_left = [c for c in a if c in b or c in out]
    b_left = [c for c in b if c in a or c in out]
    perm_a = tuple(a_left.index(c) for c in batch + kept_a + summed)
    perm_b = tuple(b_left.index(c) for c in batch + summed + kept_b)
    batch_shape = tuple(size[c] for c in batch)
    rows, inner, cols = (math.prod(size[c] for c in group) for group in (kept_a, summed, kept_b))
    result_shape = batch_shape + tuple(size[c] for c in kept_a + kept_b)
    produced = batch + kept_a + kept_b
    perm_out = tuple(produced.index(c) for c in out)
    direct = direct_contraction(equation, shapes)
    if direct is not None:
        return direct
    if not summed or (batch and rows == cols == 1):   # outer or elementwise products, batched dots
        if len(size) <= 52:   # einsum's loop beats tiny matmuls, but reads 52 letters at most
            return functools.partial(np.einsum, convert_to_valid_einsum_chars(equation))
        # past that, a broadcast product: a as (batch, kept_a, 1.., summed), b as (batch, 1.., kept_b, summed)
        a_shape = batch_shape + tuple(size[c] for c in kept_a) + (1,) * len(kept_b) + tuple(size[c] for c in summed)
        b_shape = batch_shape + (1,) * len(kept_a) + tuple(size[c] for c in kept_b + summed)
        b_order = tuple(b_left.index(c) for c in batch + kept_b + summed)
        summed_axes = tuple(range(len(produced), len(produced) + len(summed)))

        def broadcast(x, y):
            x = (x.sum(axis=lone_a) if lone_a else x).transpose(perm_a).reshape(a_shape)
            y = (y.sum(axis=lone_b) if lone_b else y).transpose(b_order).reshape(b_shape)
            product = x * y
            return (product.sum(axis=summed_axes) if summed_axes else product).transpose(perm_out)
        return broadcast
    a_shape, b_shape = batch_shape + (rows, inner), batch_shape + (inner, cols)
    if len(kept_a) == len(summed) == len(kept_b) == 1 and not lone_a and not lone_b:
        return _matrix_product(perm_a, perm_b, perm_out)

    def contract(x, y):
        if lone_a:
            x = x.sum(axis=lone_a)
        if lone_b:
            y = y.sum(axis=lone_b)
        product = np.matmul(x.transpose(perm_a).reshape(a_shape), y.transpose(perm_b).reshape(b_shape))
        return product.reshape(result_shape).transpose(perm_out)
    return contract


def direct_contraction(equation, shapes):
    """A function of two arrays computing ``np.einsum(equation, a, b)`` as one numpy call on views
    of them, where the pair is an elementwise or outer product (a broadcast multiplication) or a
    product of matrices and vectors summing one index (np.dot); else None. Either is cheaper than
    einsum's loop at any size: nothing is parsed per call, and np.dot is BLAS.

    >>> import numpy as np
    >>> from tensordiff.pairwise import direct_contraction
    >>> A, v = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    >>> direct_contraction("ab,b->a", [(2, 3), (3,)])(A, v), direct_contraction("ab,b->ab", [(2, 3), (3,)])(A, v)[1]
    (array([ 5., 14.]), array([ 0.,  4., 10.]))
    >>> direct_contraction("ab,ab->a", [(2, 3), (2, 3)]) is None   # a batched dot: einsum's
    True
    """
    inputs, out = equation.split("->")
    a, b = inputs.split(",")
    if any(len(set(term)) != len(term) for term in (a, b, out)) or not set(a + b) <= set(out) | (set(a) & set(b)):
        return None   # a diagonal, or an index summed out of one operand alone
    summed = [c for c in a if c in b and c not in out]
    if not summed:
        size = dict(zip(a, shapes[0]))
        size.update(zip(b, shapes[1]))
        return _broadcast_product(a, b, out, size)
    batch = [c for c in out if c in a and c in b]
    if not batch and len(summed) == 1 and len(a) <= 2 and len(b) <= 2 and len(out) >= 1:
        return _dot_product(a, b, out, summed[0], shapes)
    return None


def _broadcast_product(a, b, out, size):
    """The product of two terms that sum nothing and carry only indices of the output, whose
    indices each appear once: each operand's axes put in the order of the product (a transpose,
    only where they are not) and broadcast over the indices it lacks (a view each), then one
    multiplication an entry, as einsum's loop makes it, without its per-call parsing.

    The product is written in the output's order, except that an index at least ``INNER_RATIO``
    times longer than the output's last one is written last (the result is then a transposed
    view) where an operand is broadcast, the product has at most ``INNER_ENTRIES`` entries and the
    other axes make ``INNER_LOOPS`` entries or more:
    numpy's loop then runs once per entry of the other axes, so a short innermost axis makes it
    run often (a 50×8×4 Khatri–Rao product: 4.8 µs in the output's order, 2.8 µs with the 50
    innermost), where a few short loops cost less than the transposes."""
    longest = max(out, key=lambda c: size[c], default="")
    loops = math.prod(size[c] for c in out[:-1])   # the inner loops of the product in the output's order
    broadcast = len(a) < len(out) or len(b) < len(out)   # else the operands' axes coalesce into one loop
    turn = broadcast and loops >= INNER_LOOPS and loops * size[out[-1]] <= INNER_ENTRIES and \
        size[longest] >= INNER_RATIO * size[out[-1]]
    work = "".join(c for c in out if c != longest) + longest if turn else out
    back = None if work == out else tuple(work.index(c) for c in out)
    moves = []
    for term in (a, b):
        order = tuple(sorted(range(len(term)), key=lambda k: work.index(term[k])))
        spread = tuple(slice(None) if c in term else None for c in work)
        moves.append((None if order == tuple(range(len(term))) else order,
                      None if len(term) == len(work) else spread))
    (order_a, spread_a), (order_b, spread_b) = moves
    if order_a is None and order_b is None and spread_a is None and back is None:
        return np.multiply if spread_b is None else lambda x, y: np.multiply(x, y[spread_b])

    def product(x, y):
        if order_a is not None:
            x = x.transpose(order_a)
        if order_b is not None:
            y = y.transpose(order_b)
        result = np.multiply(x if spread_a is None else x[spread_a], y if spread_b is None else y[spread_b],
                             order="C")   # the work's order, whatever the operands' layouts
        return result if back is None else result.transpose(back)
    return product


def _dot_product(a, b, out, summed, shapes):
    """A product of a matrix or vector with a matrix or vector that sums one index (not two
    vectors: that is a number, which np.dot gives as a scalar): one np.dot of the operands, each
    transposed (a view) to put the summed index last in the left one and first in the right one,
    in the order that gives the output's axes as they come."""
    if len(out) == 2 and out[0] not in a:   # (A B)ᵀ = Bᵀ Aᵀ: the output's first axis is b's
        a, b, swap = b, a, True
    else:
        swap = False
    turn_a = len(a) == 2 and a[1] != summed   # the left operand's summed index first: transposed
    turn_b = len(b) == 2 and b[0] != summed
    if not turn_a and not turn_b:
        return np.dot if not swap else lambda x, y: np.dot(y, x)

    x_shape, y_shape = shapes[::-1] if swap else shapes
    if turn_a and not turn_b and len(b) == 2 and x_shape[1] > y_shape[1]:
        # xᵀy, both summing their first axis, with more columns in x: BLAS's transposed-times-plain
        # product runs faster with the smaller output side first, as (yᵀx)ᵀ (OpenBLAS, measured:
        # 0.62-0.94x the time where the sides differ 2-10x, on contiguous operands)
        def product(x, y):
            if swap:
                x, y = y, x
            if x.flags.c_contiguous and y.flags.c_contiguous:
                return np.dot(y.T, x).T
            return np.dot(x.T, y)
        return product

    def product(x, y):
        if swap:
            x, y = y, x
        return np.dot(x.T if turn_a else x, y.T if turn_b else y)
    return product


def _matrix_product(perm_a, perm_b, perm_out):
    """The contraction when each operand is one (batched) matrix already: its reshapes would
    return the same views, so only the transposes and the matmul are made (the same operations
    on the same views: bit-identical results), or matmul itself when nothing is transposed."""
    moves = [None if perm == tuple(range(len(perm))) else perm for perm in (perm_a, perm_b, perm_out)]
    if moves == [None, None, None]:
        return np.matmul
    move_a, move_b, move_out = moves

    def product(x, y):
        result = np.matmul(x if move_a is None else x.transpose(move_a), y if move_b is None else y.transpose(move_b))
        return result if move_out is None else result.transpose(move_out)
    return product


def scaling_in_place(equation, made):
    """For a pair of a contraction's path that multiplies an intermediate (``made``: which operands
    the path made itself) by an operand broadcast over it, summing nothing and keeping the
    intermediate's axes in order: a function writing the product into the intermediate's buffer
    (the product einsum forms, one multiplication per entry: the same numbers); else None.

    >>> import numpy as np
    >>> x, y = np.ones((2, 3)), np.arange(3.0)
    >>> scaling_in_place("ab,b->ab", [True, False])(x, y) is x, x[1]
    (True, array([0., 1., 2.]))
    """
    inputs, out = equation.split("->")
    terms = inputs.split(",")
    for k in (0, 1):
        term, other = terms[k], terms[1 - k]
        if made[k] and term == out and len(set(out)) == len(out) and set(other) <= set(out) and \
                len(set(other)) == len(other):
            order = sorted(range(len(other)), key=lambda j: out.index(other[j]))
            return _scaling(k, order, [out.index(other[j]) for j in order], len(out))
    return None


def _scaling(k, order, axes, ndim):
    """scaling_in_place's function: operand ``k`` of the pair scaled by the other, whose axes
    (transposed by ``order``) run along the product's ``axes``. What only the shapes and dtypes
    decide is remembered: the factor's broadcast shape, whether the product keeps the target's
    dtype, and the target layouts whose entries are distinct."""
    shapes, keeps_dtype, distinct = {}, {}, DistinctLayouts()

    def scale(*pair):
        target, factor = pair[k], pair[1 - k]
        shape = shapes.get(factor.shape)
        if shape is None:
            shape = [1] * ndim
            for axis, j in zip(axes, order):
                shape[axis] = factor.shape[j]
            shape = tuple(shape)
            if len(shapes) < 16:
                shapes[factor.shape] = shape
        factor = np.transpose(factor, order).reshape(shape)
        dtypes = (target.dtype, factor.dtype)
        keeps = keeps_dtype.get(dtypes)
        if keeps is None:
            keeps = keeps_dtype[dtypes] = np.result_type(target, factor) == target.dtype   # arrays: dtypes alone decide
        if target.flags.writeable and keeps and not np.may_share_memory(target, factor) and distinct(target):
            return np.multiply(target, factor, out=target)
        return target * factor
    return scale


def unary_contraction(equation):
    """A function of one array computing ``np.einsum(equation, x)``: sums and a transpose where
    the term has no repeated index (any number of indices), else einsum on a diagonal.

    >>> import numpy as np
    >>> from tensordiff.pairwise import unary_contraction
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> np.array_equal(unary_contraction("abc->ca")(x), x.sum(axis=1).T)
    True
    """
    term, out = equation.split("->")
    if len(set(term)) != len(term):
        return functools.partial(np.einsum, convert_to_valid_einsum_chars(equation))
    summed = tuple(k for k, c in enumerate(term) if c not in out)
    kept = [c for c in term if c in out]
    order = tuple(kept.index(c) for c in out)

    def contract(x):
        return (x.sum(axis=summed) if summed else x).transpose(order)
    return contract


def planned_contraction(equation, shapes, optimize, writable=()):
    """A function of ``len(shapes)`` arrays computing ``np.einsum(equation, ...)`` along
    opt_einsum's path (found with ``optimize``), one planned pair at a time; the operands at
    positions ``writable`` are dying buffers that a scaling on the path may write into, as it
    writes into the path's own intermediates (inplace.py), where the product has at least
    ``IN_PLACE_ENTRIES`` entries.

    >>> import numpy as np
    >>> from tensordiff.pairwise import planned_contraction
    >>> A, B, v = np.ones((3, 4)), np.ones((4, 5)), np.arange(5.0)
    >>> f = planned_contraction("ab,bc,c->a", [(3, 4), (4, 5), (5,)], "dp")
    >>> f(A, B, v)   # A @ (B @ v)
    array([40., 40., 40.])
    """
    _, info = contraction_path(equation, tuple(map(tuple, shapes)), optimize)
    size = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        size.update(zip(term, shape))
    current, steps = [(shape, k in writable) for k, shape in enumerate(shapes)], []
    for positions, _, step_equation, _, _ in info.contraction_list:
        picked = [current.pop(k) for k in positions]
        made_shape = tuple(size[c] for c in step_equation.split("->")[1])
        # a small product is made anew: the checks that writing in place needs cost more than it saves
        run = scaling_in_place(step_equation, [made for _, made in picked]) \
            if len(picked) == 2 and math.prod(made_shape) >= IN_PLACE_ENTRIES else None
        if run is None:
            shapes_picked = [shape for shape, _ in picked]
            run = pairwise_contraction(step_equation, shapes_picked) if len(picked) == 2 else \
                unary_contraction(step_equation) if len(picked) == 1 else None
        if run is None:   # a diagonal, or more than two operands at once
            run = functools.partial(np.einsum, convert_to_valid_einsum_chars(step_equation))
        # a pair's result is a new array (a lone operand's may be a view of it)
        current.append((made_shape, len(picked) >= 2))
        steps.append((positions, run))

    return _along_path(len(shapes), steps)


def _along_path(count, steps):
    """A function of ``count`` arrays running ``steps`` ((positions popped, function), opt_einsum's
    contraction list): each step's operands are the arrays at the positions that list gives, popped
    in order, and its result goes last. A path of at most ``STRAIGHT_STEPS`` steps runs as one
    generated function, a line per step on slots worked out here, each intermediate dropped after
    the step reading it (as popping drops it): the same functions on the same arrays, without a
    list to pop from on every call.

    >>> import numpy as np
    >>> run = _along_path(3, [((2, 0), np.add), ((1, 0), np.multiply)])   # c + a, then (c + a) b
    >>> run(np.ones(2), np.full(2, 2.0), np.full(2, 3.0))
    array([8., 8.])
    """
    if len(steps) > STRAIGHT_STEPS:
        def contract(*arrays):
            arrays = list(arrays)
            for positions, run in steps:
                picked = [arrays.pop(k) for k in positions]
                arrays.append(run(*picked))
            return arrays[0]
        return contract
    slots, lines, names = [f"a{k}" for k in range(count)], [], {}
    for n, (positions, run) in enumerate(steps):
        picked = [slots.pop(k) for k in positions]
        names[f"run{n}"] = run
        made = f"a{count + n}"
        dropped = [name for name in picked if int(name[1:]) >= count]   # intermediates read by nothing after
        lines.append(f"    {made} = run{n}({', '.join(picked)})" + "".join(f"; {name} = None" for name in dropped))
        slots.append(made)
    source = f"def contract({', '.join(f'a{k}' for k in range(count))}):\n" + "\n".join(lines) + \
        f"\n    return {slots[0]}\n"
    builtins.exec(builtins.compile(source, "<tensordiff contraction path>", "exec"), names)
    return names["contract"]


