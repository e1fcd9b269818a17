"""numpy's functions that are other builders under numpy's names: axis moves (``np.swapaxes``,
``np.moveaxis``, ``np.matrix_transpose``), ``np.reshape``, ``np.flip``, ``np.cumsum``, ``np.diff``,
the ``np.linalg`` spellings of products, traces, diagonals and norms (``vecdot``, ``vector_norm``,
``matrix_norm``, ...), ``np.average``, ``np.ptp``, the joins ``np.hstack``, ``np.vstack``, ``np.column_stack`` and
``np.block``, ``np.atleast_1d``/``2d``, ``np.zeros_like``, ``np.ones_like``, ``np.full_like``,
``np.real``, and the ufuncs ``hypot``, ``deg2rad``, ``rad2deg``, ``float_power`` and
``vecdot``. As in numpyfunctions.py, each handler takes numpy's signature, and an argument an
expression cannot honour is an UnsupportedOperation naming it.

>>> import numpy as np, tensordiff as td
>>> X = td.matrix("X", "n p")
>>> np.swapaxes(X, 0, 1) is X.T
True
>>> np.linalg.vector_norm(X) is td.norm(X)
True
>>> print(np.average(X, axis=0, weights=td.vector("w", "n")))
out[i] = Σ_j (Σ_k w[k])^-1 X[j,i] w[j]
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .arithmetic import matmul, matrix_transpose, multiply, sqrt
from .broadcasting import broadcast_to
from .constantnodes import constant
from .contractions import einsum, outer, sum
from .einsumnodes import einsum_node
from .errors import ShapeError, UnsupportedOperation
from .indices import format_dims
from .linalgops import eigh, norm
from .numpyfunctions import NUMPY_FUNCTIONS, numpy_axes, refuse_arguments, vector_norm
from .reductionaxes import operand_text, reduced_axes
from .reductions import cumsum, differences, max, mean, min
from .reshaping import concatenate, reshape
from .simplify import as_expr

__all__ = ["NUMPY_ALIASES", "UFUNC_ALIASES"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _permuted(a, order):
    """``a`` with its axes in ``order`` (a permutation of range(a.ndim))."""
    if a.ndim < 2 or list(order) == list(range(a.ndim)):
        return a
    return NUMPY_FUNCTIONS[np.transpose](a, tuple(order))


def _one_axis(function, axis, ndim):
    if isinstance(axis, (tuple, list)):
        raise UnsupportedOperation(f"{function}: axis must be an int, got {axis!r:.40}")
    return numpy_axes(function, axis, ndim)[0]


# ---------------------------------------------------------------- axes and shapes

def _swapaxes(a, axis1, axis2):
    a = as_expr(a)
    first, second = _one_axis("np.swapaxes", axis1, a.ndim), _one_axis("np.swapaxes", axis2, a.ndim)
    order = list(range(a.ndim))
    order[first], order[second] = second, first
    return _permuted(a, order)


def _moveaxis(a, source, destination):
    a = as_expr(a)
    sources = source if isinstance(source, (tuple, list)) else (source,)
    destinations = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(sources) != len(destinations):
        raise ShapeError("np.moveaxis: `source` and `destination` arguments must have the same number of elements, "
                         f"got {len(sources)} and {len(destinations)}")
    moved = [_one_axis("np.moveaxis", axis, a.ndim) for axis in sources]
    placed = [_one_axis("np.moveaxis", axis, a.ndim) for axis in destinations]
    for name, axes in (("source", moved), ("destination", placed)):
        if len(set(axes)) != len(axes):
            raise ShapeError(f"np.moveaxis: repeated axis in `{name}` argument {tuple(axes)!r}")
    order = [k for k in range(a.ndim) if k not in moved]
    for dest, src in sorted(zip(placed, moved)):
        order.insert(dest, src)
    return _permuted(a, order)


def _matrix_transpose(x):
    x = as_expr(x)
    if x.ndim < 2:
        raise ShapeError(f"np.matrix_transpose needs at least two axes, got {operand_text(x)} {format_dims(x.shape)}")
    return matrix_transpose(x)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise UnsupportedOperation(f"np.reshape on tensordiff expressions reads entries in C order only, got "
                                   f"order={order!r}")
    if (shape is None) == (newshape is None):
        raise UnsupportedOperation("np.reshape takes the new dims as shape= (or numpy's older newshape=), once")
    return reshape(a, shape if shape is not None else newshape)


def _flip(m, axis=None):
    """np.flip: each axis of ``axis`` (all of them for None) read backwards, as ``m[::-1]`` does; a
    reversed axis is a dim of its own ("n[::-1]")."""
    m = as_expr(m)
    axes = range(m.ndim) if axis is None else numpy_axes("np.flip", axis, m.ndim)
    keys = [slice(None)] * m.ndim
    for k in axes:
        keys[k] = slice(None, None, -1)
    return m[tuple(keys)] if m.ndim else m


# ---------------------------------------------------------------- np.linalg's spellings

def _linalg_outer(x1, x2, /):
    x1, x2 = as_expr(x1), as_expr(x2)
    for x in (x1, x2):
        if x.ndim != 1:
            raise ShapeError(f"np.linalg.outer takes two vectors, got {operand_text(x)} {format_dims(x.shape)}")
    return outer(x1, x2)


def _last_two(x, function, square=False):
    """``x`` of at least two axes (the last two of one dim if ``square``) and letters for the rest."""
    x = as_expr(x)
    if x.ndim < 2 or square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"{function} needs {'square matrices' if square else 'at least two axes'} in the last two "
                         f"axes, got {operand_text(x)} {format_dims(x.shape)}")
    return x, _LETTERS[:x.ndim - 2]


def _linalg_trace(x, /, *, offset=0, dtype=None):
    refuse_arguments("np.linalg.trace", offset=offset, dtype=dtype)
    x, batch = _last_two(x, "np.linalg.trace", square=True)
    return einsum(f"{batch}yy->{batch}", x)


def _linalg_diagonal(x, /, *, offset=0):
    refuse_arguments("np.linalg.diagonal", offset=offset)
    x, batch = _last_two(x, "np.linalg.diagonal", square=True)
    return einsum(f"{batch}yy->{batch}y", x)


def _vecdot(x1, x2, /, *, axis=-1):
    """Σ x1 x2 along ``axis`` after numpy's broadcasting (real entries: no conjugate)."""
    product = multiply(x1, x2)
    return sum(product, _one_axis("np.vecdot", axis, product.ndim))


def _vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The vector p-norm of the entries along ``axis`` (all of them for None, whatever the order)."""
    x = as_expr(x)
    axes = reduced_axes(x, axis, "np.linalg.vector_norm")
    if ord == 2 and axis is None and not keepdims:
        return norm(x)
    result = vector_norm(x, ord, axes, keepdims)
    if result is not None:
        return result
    raise UnsupportedOperation(f"np.linalg.vector_norm(ord={ord!r:.20}) has no tensordiff counterpart: ord takes "
                               "2, 1, inf, -inf or any p > 0")


def _matrix_norm(x, /, *, keepdims=False, ord="fro"):
    x, _ = _last_two(x, "np.linalg.matrix_norm")
    return NUMPY_FUNCTIONS[np.linalg.norm](x, ord, (x.ndim - 2, x.ndim - 1), keepdims)


# ---------------------------------------------------------------- averages and ranges

def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """np.average: the mean, or Σ a·w / Σ w with weights of a's shape or, for one axis, of its length."""
    a = as_expr(a)
    axes = reduced_axes(a, axis, "np.average")
    if weights is None:
        result = mean(a, axis, keepdims)
        total = einsum_node(1.0, (), (), (), tuple(a.shape[k] for k in axes))   # the count of entries averaged
    else:
        w = as_expr(weights)
        if w.shape == a.shape:
            total = sum(w, axes, keepdims)
            result = sum(a * w, axes, keepdims) / total
        elif w.ndim == 1 and len(axes) == 1 and w.shape[0] == a.shape[axes[0]]:
            letters = _LETTERS[:a.ndim]
            kept = "".join(c for k, c in enumerate(letters) if k != axes[0])
            total = sum(w)
            result = einsum(f"{letters},{letters[axes[0]]}->{kept}", a, w) / total
            if keepdims:
                result = reshape(result, tuple("1" if k == axes[0] else d for k, d in enumerate(a.shape)))
        else:
            raise ShapeError(f"np.average: weights {operand_text(w)} {format_dims(w.shape)} must have the shape of "
                             f"{operand_text(a)} {format_dims(a.shape)}, or be a vector along the one axis averaged "
                             "over")
    if not returned:
        return result
    return result, total if total.shape == result.shape else broadcast_to(total, result.shape)


def _cumsum(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumsum", dtype=dtype, out=out)
    return cumsum(a, axis)


def _diff(a, n=1, axis=-1, prepend=None, append=None):
    """np.diff without prepend or append, which would join entries of other dims to the axis."""
    refuse_arguments("np.diff", prepend=prepend, append=append)
    return differences(a, n, axis)


# ---------------------------------------------------------------- joining, promoting, constants like another

def _at_least(x, ndim):
    """``x`` with length-1 axes (dim "1") in front up to ``ndim`` axes, as numpy's atleast_nd."""
    x = as_expr(x)
    return reshape(x, ("1",) * (ndim - x.ndim) + x.shape) if x.ndim < ndim else x


def _atleast(ndim):
    def handler(*arys):
        promoted = [_at_least(a, ndim) for a in arys]
        return promoted[0] if len(promoted) == 1 else promoted
    return handler


def _hstack(tup, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.hstack", dtype=dtype)
    arrays = [_at_least(a, 1) for a in tup]
    return concatenate(arrays, 0 if arrays and arrays[0].ndim == 1 else 1)


def _vstack(tup, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.vstack", dtype=dtype)
    return concatenate([_at_least(a, 2) for a in tup], 0)   # a vector is one row


def _column_stack(tup):
    columns = [as_expr(a) for a in tup]
    return concatenate([reshape(c, c.shape + ("1",)) if c.ndim < 2 else c for c in columns], 1)


def _block(arrays):
    """np.block: nested lists of blocks, the innermost joined along the last axis, the next along the
    one before, ...; a block with fewer axes than the nesting is deep gets length-1 axes in front."""
    def depth(item):   # numpy's dispatcher has refused tuples and empty lists already
        if isinstance(item, list):
            depths = {depth(part) for part in item}
            if len(depths) != 1:
                raise ShapeError("np.block: the lists of blocks are nested to different depths")
            return 1 + depths.pop()
        return 0

    levels = depth(arrays)

    def leaves(item):
        return [leaf for part in item for leaf in leaves(part)] if isinstance(item, list) else [as_expr(item)]
    ndim = builtins.max([levels] + [leaf.ndim for leaf in leaves(arrays)])

    def join(item, level):
        if not isinstance(item, list):
            return _at_least(item, ndim)
        return concatenate([join(part, level + 1) for part in item], ndim - levels + level)
    return join(arrays, 0)


def _constant_like(name, fill=None):
    def handler(a, *args, dtype=None, order="K", subok=True, shape=None, device=None):
        value = args[0] if fill is None and args else fill
        refuse_arguments(name, dtype=dtype, shape=shape, device=device)
        if fill is None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
            raise UnsupportedOperation(f"{name} fills with a number, got {value!r:.40}")
        return constant(float(value), as_expr(a).shape)
    return handler


def _eigh(a, UPLO="L"):
    """np.linalg.eigh of the symmetric part: the triangle ``UPLO`` names is numpy's reading of a
    symmetric value, which the symmetric part equals."""
    if UPLO not in ("L", "U"):
        raise ShapeError(f"np.linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r:.20}")
    return eigh(a)


def _eigvalsh(a, UPLO="L"):
    return _eigh(a, UPLO).eigenvalues


def _ptp(a, axis=None, out=None, keepdims=False):
    refuse_arguments("np.ptp", out=out)
    return max(a, axis, keepdims) - min(a, axis, keepdims)


NUMPY_ALIASES = {
    np.swapaxes: _swapaxes, np.moveaxis: _moveaxis, np.reshape: _reshape, np.flip: _flip,
    np.average: _average, np.ptp: _ptp, np.cumsum: _cumsum, np.diff: _diff,
    np.hstack: _hstack, np.vstack: _vstack, np.column_stack: _column_stack, np.block: _block,
    np.atleast_1d: _atleast(1), np.atleast_2d: _atleast(2),
    np.zeros_like: _constant_like("np.zeros_like", 0.0), np.ones_like: _constant_like("np.ones_like", 1.0),
    np.full_like: _constant_like("np.full_like"), np.real: as_expr,
    np.linalg.eigh: _eigh, np.linalg.eigvalsh: _eigvalsh,
    np.linalg.matmul: matmul, np.linalg.outer: _linalg_outer, np.linalg.trace: _linalg_trace,
    np.linalg.diagonal: _linalg_diagonal, np.linalg.vecdot: _vecdot, np.linalg.vector_norm: _vector_norm,
    np.linalg.matrix_norm: _matrix_norm, np.linalg.matrix_transpose: _matrix_transpose,
}
if hasattr(np, "matrix_transpose"):   # numpy ≥ 2.0
    NUMPY_ALIASES[np.matrix_transpose] = _matrix_transpose

# numpy ufuncs that are other builders (ops._UFUNCS reads these too)
UFUNC_ALIASES = {
    np.hypot: lambda x, y: sqrt(multiply(x, x) + multiply(y, y)),
    np.deg2rad: lambda x: multiply(x, math.pi / 180.0), np.radians: lambda x: multiply(x, math.pi / 180.0),
    np.rad2deg: lambda x: multiply(x, 180.0 / math.pi), np.degrees: lambda x: multiply(x, 180.0 / math.pi),
    np.float_power: lambda x, p: as_expr(x) ** p,
}
if hasattr(np, "vecdot"):   # a gufunc in numpy ≥ 2.0
    UFUNC_ALIASES[np.vecdot] = _vecdot
