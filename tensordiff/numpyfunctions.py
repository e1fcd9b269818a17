"""numpy's functions on expressions (``__array_function__``): those with a tensordiff builder of the
same meaning build it, ``np.sum(X, axis=0, keepdims=True)`` as ``td.sum(X, 0, keepdims=True)``.

Each handler takes numpy's own signature. An argument numpy has but an expression cannot honour
(``out=``, ``dtype=``, ``where=``, a matrix ``ord`` other than Frobenius, ...) is an
UnsupportedOperation naming the function and the argument, never ignored. Where numpy's meaning
differs from the builder's beyond what the builder does (``np.outer`` flattens its operands,
``np.dot`` of order-3 operands is no matrix product), only the shapes where they agree are taken.
A bad axis is numpy's AxisError, which is also a tensordiff ShapeError. numpy functions without a
handler are refused naming the tensordiff builder to use, if there is one.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from .arithmetic import matmul, multiply, sqrt
from .broadcasting import UNIT
from .comparisons import maximum, minimum, where
from .contractions import diag, diagonal, einsum, outer, sum, trace
from .errors import ShapeError, UnsupportedOperation
from .indices import format_dims
from .einsumnodes import einsum_node
from .functions import FUNCTIONS
from .linalgops import det, inv, logdet, matrix_power, norm, pinv, solve
from .reductionaxes import operand_text, reduced_axes
from .reductions import cholesky, max, mean, min, tril, triu
from .reshaping import concatenate, kron, reshape, stack, with_unit_axes
from .simplify import as_expr

__all__ = ["NUMPY_FUNCTIONS", "AxisError", "variance", "standard_deviation", "numpy_axes",
           "refuse_arguments", "vector_norm"]

_sign = FUNCTIONS["sign"]

_NumpyAxisError = getattr(np, "exceptions", np).AxisError


class AxisError(ShapeError, _NumpyAxisError):  # type: ignore[misc,valid-type]
    """numpy's AxisError for an axis that does not exist (a ValueError and an IndexError), which is
    also a tensordiff ShapeError."""

    def __init__(self, message):
        ShapeError.__init__(self, message)
        self._msg, self.axis, self.ndim = message, None, None

    def __str__(self):
        return self._msg


_ABSENT = object()   # an optional numpy argument not given


_DEFAULTS = {"offset": 0, "k": 0, "where": True}   # numpy's defaults other than None and False


def refuse_arguments(function, **given):
    """An UnsupportedOperation for the first of ``given`` that is not numpy's default (None, absent,
    else False or that of _DEFAULTS), which ``function`` (np.sum, ...) cannot honour on an expression."""
    for name, value in given.items():
        if value is _ABSENT or value is None:
            continue
        if _is_default(name, value):
            continue
        raise UnsupportedOperation(f"{function} on a tensordiff expression does not take {name}={value!r:.40}: "
                                   "only numpy's default builds an expression (no out buffer, dtype, mask or "
                                   "offset); evaluate the expression first (td.evaluate(e, **values)) for that")


def _is_default(name, value):
    """Whether ``value`` is numpy's default for the argument ``name``: a bool for a bool, an int for an int."""
    default = _DEFAULTS.get(name, False)
    same_kind = isinstance(value, (bool, np.bool_)) == isinstance(default, bool)
    return same_kind and isinstance(value, (bool, int, np.bool_, np.integer)) and value == default


def numpy_axes(function, axis, ndim):
    """Sorted positions of ``axis`` (an int or a tuple) among ``ndim`` axes, as numpy normalises
    them; an AxisError naming the function where one is out of range or repeated."""
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    positions = []
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)):
            raise UnsupportedOperation(f"{function}: axis must be an int or a tuple of ints, got {axis!r:.40}")
        if not -ndim <= ax < ndim:
            raise AxisError(f"{function}: axis {int(ax)} is out of bounds for array of dimension {ndim}")
        positions.append(int(ax) % ndim)
    if len(set(positions)) != len(positions):
        raise AxisError(f"{function}: repeated axis in {axis!r}")
    return tuple(sorted(positions))


# ---------------------------------------------------------------- reductions

def _reduction(builder, function):
    def handler(a, axis=None, dtype=None, out=None, keepdims=False, initial=_ABSENT, where=_ABSENT):
        refuse_arguments(function, dtype=dtype, out=out, initial=initial, where=where)
        return builder(a, axis, keepdims)
    return handler


def variance(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_ABSENT, mean=_ABSENT,
             correction=_ABSENT):
    """np.var: the mean squared deviation from the mean along ``axis``, divided by N - ddof."""
    refuse_arguments("np.var", dtype=dtype, out=out, where=where, mean=mean)
    if correction is not _ABSENT:
        ddof = correction
    if isinstance(ddof, bool) or not isinstance(ddof, numbers.Real):
        raise UnsupportedOperation(f"np.var: ddof must be a number, got {ddof!r:.40}")
    a = as_expr(a)
    axes = reduced_axes(a, axis, "var")
    deviation = a - _mean(a, axes, True)
    squares = _mean(deviation * deviation, axes, keepdims)
    if ddof == 0:
        return squares
    count = einsum_node(1.0, (), (), (), tuple(a.shape[k] for k in axes))   # N: the reduced dims' sizes
    return squares * count * (count - ddof) ** -1.0


def _mean(a, axes, keepdims):   # td.mean, which np.var's argument mean= hides inside it
    return mean(a, axes, keepdims)


def standard_deviation(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_ABSENT, mean=_ABSENT,
                       correction=_ABSENT):
    """np.std: the square root of np.var."""
    refuse_arguments("np.std", dtype=dtype, out=out, where=where, mean=mean)
    return sqrt(variance(a, axis, None, None, ddof, keepdims, correction=correction))


# ---------------------------------------------------------------- shapes

def _expand_dims(a, axis):
    """np.expand_dims: a length-1 axis (dim "1", as a[:, None]) at each position of ``axis`` in the result."""
    a = as_expr(a)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    return with_unit_axes(a, numpy_axes("np.expand_dims", axis, a.ndim + count))


def _squeeze(a, axis=None):
    """np.squeeze: the length-1 axes (dim "1") left out. A named dim is of unknown size until
    evaluation, so it is never squeezed: only "1" axes are length 1 here."""
    a = as_expr(a)
    if axis is None:
        positions = tuple(k for k, d in enumerate(a.shape) if d == UNIT)
    else:
        positions = numpy_axes("np.squeeze", axis, a.ndim)
        for k in positions:
            if a.shape[k] != UNIT:
                raise ShapeError(f"np.squeeze: cannot select an axis to squeeze out which has size not equal to "
                                 f"one: axis {k} of {operand_text(a)} {format_dims(a.shape)} is dim {a.shape[k]!r}, "
                                 "not a length-1 axis (dim \"1\", as x[:, None] makes)")
    return reshape(a, tuple(d for k, d in enumerate(a.shape) if k not in positions))


def _transpose(a, axes=None):
    a = as_expr(a)
    if axes is None:
        perm = tuple(reversed(range(a.ndim)))
    else:
        perm = tuple(int(ax) % a.ndim if isinstance(ax, (int, np.integer)) and -a.ndim <= ax < a.ndim else -1
                     for ax in axes)
        if len(perm) != a.ndim or sorted(perm) != list(range(a.ndim)):
            raise AxisError(f"np.transpose: axes {tuple(axes)!r} don't match array of dimension {a.ndim}")
    ids = tuple(range(a.ndim))
    return einsum(f"{''.join(chr(97 + i) for i in ids)}->{''.join(chr(97 + i) for i in perm)}", a) if a.ndim else a


def _ravel(a, order="C"):
    if order != "C":
        raise UnsupportedOperation(f"np.ravel on tensordiff expressions reads entries in C order only, got order={order!r}")
    return reshape(a, -1)


def _stack(arrays, axis=0, out=None, dtype=None, casting=_ABSENT):
    refuse_arguments("np.stack", out=out, dtype=dtype)
    return stack(list(arrays), axis)


def _concatenate(arrays, axis=0, out=None, dtype=None, casting=_ABSENT):
    refuse_arguments("np.concatenate", out=out, dtype=dtype)
    if axis is None:
        raise UnsupportedOperation("np.concatenate with axis=None flattens its operands: concatenate "
                                   "td.vec(...) of each, or pass an axis")
    return concatenate(list(arrays), axis)


# ---------------------------------------------------------------- products

def _operands(function, wanted, *operands):
    """The operands as expressions, each of an order in ``wanted``; else an UnsupportedOperation
    naming the function, the operand and what to use instead."""
    found = [as_expr(op) for op in operands]
    for k, op in enumerate(found):
        if op.ndim not in wanted:
            raise UnsupportedOperation(
                f"{function} on tensordiff expressions takes operands of order {' or '.join(map(str, wanted))}; "
                f"operand {k} {operand_text(op)} has shape {format_dims(op.shape)}: write the contraction "
                "with td.einsum (or td.outer for the unflattened outer product)")
    return found


def _dot(a, b, out=None):
    refuse_arguments("np.dot", out=out)
    a, b = _operands("np.dot", (0, 1, 2), a, b)
    return multiply(a, b) if a.ndim == 0 or b.ndim == 0 else matmul(a, b)


def _inner(a, b):
    a, b = _operands("np.inner", (0, 1), a, b)
    return multiply(a, b) if a.ndim == 0 or b.ndim == 0 else matmul(a, b)


def _outer(a, b, out=None):
    refuse_arguments("np.outer", out=out)
    a, b = _operands("np.outer", (1,), a, b)   # numpy flattens: equal to td.outer for vectors only
    return outer(a, b)


def _kron(a, b):
    return kron(a, b)


def _vdot(a, b):
    a, b = as_expr(a), as_expr(b)
    if a.shape != b.shape:   # numpy flattens both: one shape here, entry against entry
        raise UnsupportedOperation(f"np.vdot on tensordiff expressions takes operands of one shape, got "
                                   f"{format_dims(a.shape)} and {format_dims(b.shape)}: use td.einsum")
    return sum(multiply(a, b))


def _tensordot(a, b, axes=2):
    """np.tensordot: the last ``axes`` axes of a against the first of b, or the axes listed in pairs."""
    a, b = as_expr(a), as_expr(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        if not 0 <= axes <= builtins.min(a.ndim, b.ndim):
            raise ShapeError(f"np.tensordot: axes={int(axes)} does not fit operands of shapes {format_dims(a.shape)} "
                             f"and {format_dims(b.shape)}")
        pairs = [(a.ndim - int(axes) + k, k) for k in range(int(axes))]
    else:
        first, second = ([ax] if isinstance(ax, (int, np.integer)) else list(ax) for ax in axes)
        if len(first) != len(second):
            raise ShapeError(f"np.tensordot: axes {axes!r} pairs {len(first)} axes of a with {len(second)} of b")
        numpy_axes("np.tensordot", tuple(first), a.ndim)    # each in range, none twice
        numpy_axes("np.tensordot", tuple(second), b.ndim)
        pairs = [(int(i) % a.ndim, int(j) % b.ndim) for i, j in zip(first, second)]
    letters = [chr(97 + k) for k in range(a.ndim + b.ndim)]
    left, right = letters[:a.ndim], letters[a.ndim:]
    for i, j in pairs:
        right[j] = left[i]
    summed = {left[i] for i, _ in pairs}
    out = [c for c in left + right if c not in summed]
    return einsum(f"{''.join(left)},{''.join(right)}->{''.join(out)}", a, b)


def _multi_dot(arrays, *, out=None):
    refuse_arguments("np.linalg.multi_dot", out=out)
    arrays = list(arrays)
    if len(arrays) < 2:
        raise UnsupportedOperation("np.linalg.multi_dot needs at least two operands")
    result = as_expr(arrays[0])
    for factor in arrays[1:]:
        result = matmul(result, factor)
    return result


def _einsum(*operands, out=None, dtype=None, order=_ABSENT, casting=_ABSENT, optimize=False):
    refuse_arguments("np.einsum", out=out, dtype=dtype)   # optimize= only picks a contraction order: tensordiff plans its own
    if not operands or not isinstance(operands[0], str):
        raise UnsupportedOperation("np.einsum on tensordiff expressions takes the subscripts as a str first "
                                   "(np.einsum('ij,j->i', A, x)), not the interleaved form")
    return einsum(operands[0], *operands[1:])


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    refuse_arguments("np.trace", offset=offset, dtype=dtype, out=out)
    a = as_expr(a)
    if a.ndim != 2 or {int(axis1) % 2, int(axis2) % 2} != {0, 1}:
        raise UnsupportedOperation(f"np.trace on tensordiff expressions takes a square matrix and its two axes; "
                                   f"got {operand_text(a)} {format_dims(a.shape)}: use td.einsum for other traces")
    return trace(a)


def _diag(v, k=0):
    refuse_arguments("np.diag", k=k)
    v = as_expr(v)
    return diag(v) if v.ndim == 1 else diagonal(v)


def _diagonal(a, offset=0, axis1=0, axis2=1):
    refuse_arguments("np.diagonal", offset=offset)
    a = as_expr(a)
    if a.ndim != 2 or {int(axis1) % 2, int(axis2) % 2} != {0, 1}:
        raise UnsupportedOperation(f"np.diagonal on tensordiff expressions takes a square matrix; got "
                                   f"{operand_text(a)} {format_dims(a.shape)}: use td.einsum for other diagonals")
    return diagonal(a)


# ---------------------------------------------------------------- elementwise choices

def _where(condition, x=_ABSENT, y=_ABSENT):
    if x is _ABSENT or y is _ABSENT:
        raise UnsupportedOperation("np.where(condition) alone gives the indices where it holds, which an expression "
                                   "has no value for; np.where(condition, x, y) builds td.where")
    return where(condition, x, y)


def _clip(a, a_min=_ABSENT, a_max=_ABSENT, out=None, *, min=_ABSENT, max=_ABSENT, **kwargs):
    refuse_arguments("np.clip", out=out, **kwargs)
    low = a_min if a_min is not _ABSENT else min
    high = a_max if a_max is not _ABSENT else max
    low, high = (None if v is _ABSENT else v for v in (low, high))
    if low is None and high is None:
        raise UnsupportedOperation("np.clip needs a lower or an upper bound (a_min, a_max)")
    result = as_expr(a)
    if low is not None:
        result = maximum(result, low)
    if high is not None:
        result = minimum(result, high)
    return result


# ---------------------------------------------------------------- linear algebra

def vector_norm(x, ord, positions, keepdims):
    """The vector norm of ord 2, inf, -inf or any p > 0 over the entries along ``positions``; None
    for another ord."""
    if ord == 2:
        return sqrt(sum(x * x, positions, keepdims))
    magnitude = FUNCTIONS["abs"](x)
    if ord in (np.inf, -np.inf):
        return (max if ord > 0 else min)(magnitude, positions, keepdims)
    if isinstance(ord, (int, float, np.number)) and not isinstance(ord, bool) and ord > 0:
        return sum(magnitude if ord == 1 else magnitude ** float(ord), positions, keepdims) ** (1.0 / float(ord))
    return None


def _norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: a vector norm along one axis (ord None/2, 1, inf, -inf or any p > 0), a matrix
    norm over two (Frobenius, 1, -1, inf, -inf), keepdims as numpy's. The spectral and nuclear norms
    (ord 2, -2, 'nuc' of a matrix) have no tensordiff builder."""
    x = as_expr(x)
    if axis is None and not keepdims and (ord is None or (ord == "fro" and x.ndim == 2) or (ord == 2 and x.ndim == 1)):
        return norm(x)
    if axis is None:
        if ord is not None and x.ndim not in (1, 2):
            raise ShapeError(f"np.linalg.norm: ord={ord!r} without axis needs a vector or a matrix, got "
                             f"{operand_text(x)} {format_dims(x.shape)}")
        axis = tuple(range(x.ndim)) if ord is None else (0,) if x.ndim == 1 else (0, 1)
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else tuple(axis)
    positions = reduced_axes(x, axes, "np.linalg.norm")
    if ord is None or (ord == "fro" and len(axes) == 2):
        return sqrt(sum(x * x, positions, keepdims))
    magnitude = FUNCTIONS["abs"](x)
    if len(axes) == 1:
        result = vector_norm(x, ord, positions, keepdims)
        if result is not None:
            return result
    elif len(axes) == 2 and ord in (1, -1, np.inf, -np.inf):
        rows, cols = (int(a) % x.ndim for a in axes)
        summed, chosen = (rows, cols) if ord in (1, -1) else (cols, rows)   # 1: the largest column sum
        pick = max if ord > 0 else min
        result = pick(sum(magnitude, summed, True), chosen, True)
        return result if keepdims else reshape(result, tuple(d for k, d in enumerate(result.shape)
                                                                   if k not in positions))
    raise UnsupportedOperation(f"np.linalg.norm(ord={ord!r}) over {len(axes)} ax{'is' if len(axes) == 1 else 'es'} of "
                               f"{operand_text(x)} "
                               f"{format_dims(x.shape)} has no tensordiff counterpart: vector norms take ord None, "
                               "1, 2, inf, -inf or p > 0; matrix norms Frobenius, 1, -1, inf, -inf")


def _slogdet(a):
    """np.linalg.slogdet: (sign, log|det|), the sign with derivative 0."""
    return _sign(det(a)), logdet(a)


def _cholesky(a, upper=False):
    refuse_arguments("np.linalg.cholesky", upper=upper)
    return cholesky(a)


def _pinv(a, rcond=None, hermitian=False, *, rtol=_ABSENT):
    """np.linalg.pinv at numpy's own cutoff; hermitian=True only picks numpy's faster method for a
    symmetric value, whose pseudo-inverse is the same, so either is read as the general one."""
    refuse_arguments("np.linalg.pinv", rcond=rcond, rtol=rtol)
    return pinv(a)


NUMPY_FUNCTIONS = {
    np.sum: _reduction(sum, "np.sum"), np.mean: _reduction(mean, "np.mean"),
    np.max: _reduction(max, "np.max"), np.amax: _reduction(max, "np.amax"),
    np.min: _reduction(min, "np.min"), np.amin: _reduction(min, "np.amin"),
    np.expand_dims: _expand_dims, np.squeeze: _squeeze, np.transpose: _transpose,
    np.stack: _stack, np.concatenate: _concatenate,
    np.dot: _dot, np.inner: _inner, np.outer: _outer, np.kron: _kron, np.einsum: _einsum,
    np.trace: _trace, np.diag: _diag, np.diagonal: _diagonal,
    np.where: _where, np.clip: _clip, np.tril: lambda m, k=0: tril(m, k), np.triu: lambda m, k=0: triu(m, k),
    np.linalg.norm: _norm, np.linalg.inv: inv, np.linalg.det: det, np.linalg.solve: solve,
    np.linalg.matrix_power: matrix_power, np.linalg.cholesky: _cholesky,
    np.linalg.pinv: _pinv,
    np.var: variance, np.std: standard_deviation, np.ndim: lambda a: as_expr(a).ndim, np.vdot: _vdot,
    np.ravel: _ravel, np.tensordot: _tensordot, np.linalg.multi_dot: _multi_dot, np.linalg.slogdet: _slogdet,
}
