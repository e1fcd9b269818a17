"""Builders for reductions, soft maxima, running sums and differences, triangles and the Cholesky
factor.

``max``/``min``/``mean``/``logsumexp`` reduce along numpy-style axes (an int, a tuple, None for
all; negative ints count from the end); ``softmax``/``log_softmax`` normalise along them. Where
entries tie for a max or min, the derivative is shared equally among them, as JAX does.
``tril``/``triu`` keep a triangle of the last two axes; ``cholesky`` gives the lower factor of
the symmetric part of a square matrix. ``cumsum`` and ``differences`` are numpy's cumsum and diff
(``td.diff`` is the derivative). The elementwise ``maximum``, ``minimum``, comparisons and
``where`` (comparisons.py) and the constants ``ones`` and ``zeros`` (declarations.py) are re-exported
here. docs/operations/reductions.md states every convention.
"""

from __future__ import annotations

import numbers

from .comparisons import greater, greater_equal, less, less_equal, maximum, minimum, where
from .errors import ShapeError, TensorDiffError
from .functions import power
from .indices import format_dims
from .reductionaxes import keeping_dims, operand_text, reduced_axes
from .reshaping import reshape
from .constantnodes import zeros as zeros_node
from .einsumnodes import einsum_node, expand_axes, is_symmetric, scale, transpose
from .simplify import (as_expr, cholesky_node, cumsum_node, diff_node, logsumexp_node, max_node, softmax_node,
                       triangle)
from .sumnodes import add_node
from .declarations import ones, zeros
from .annotations import Axis, ExprLike
from .expr import Expr


__all__ = ["max", "min", "mean", "maximum", "minimum", "logsumexp", "softmax", "log_softmax", "where", "tril", "triu",
           "ones", "zeros", "cholesky", "less", "less_equal", "greater", "greater_equal", "cumsum", "differences"]


# ---------------------------------------------------------------- reductions

def max(x: ExprLike, axis: Axis = None, keepdims: bool = False) -> Expr:
    """The largest entry along ``axis`` (None: all, an int, or a tuple of ints), as np.max.

    Where several entries tie for the max, each gets an equal share of the derivative (as JAX).

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes to reduce; None (default) reduces all.
    keepdims : bool, optional
        If True, each reduced axis stays as a length-1 axis (dim "1"), which broadcasts against
        ``x``, as numpy's keepdims (default False).

    Returns
    -------
    Expr
        The maxima, of ``x``'s shape without the reduced axes.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.max(td.matrix("X", "n p"), axis=1).shape
    ('n',)
    """
    x = as_expr(x)
    axes = reduced_axes(x, axis, "max")
    return keeping_dims(max_node(x, axes), axes, keepdims, "max")


def min(x: ExprLike, axis: Axis = None, keepdims: bool = False) -> Expr:
    """The smallest entry along ``axis``, as np.min: -max(-x), ties sharing the derivative equally.

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes to reduce (negative counts from the end); None reduces all.
    keepdims : bool, optional
        If True, each reduced axis stays as a length-1 axis (dim "1"), which broadcasts against
        ``x``, as numpy's keepdims (default False).

    Returns
    -------
    Expr
        The minima, of ``x``'s shape without the reduced axes.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.min(td.vector("v", "n")).shape
    ()
    """
    x = as_expr(x)
    axes = reduced_axes(x, axis, "min")
    return keeping_dims(scale(max_node(scale(x, -1.0), axes), -1.0), axes, keepdims, "min")


def mean(x: ExprLike, axis: Axis = None, keepdims: bool = False) -> Expr:
    """The mean along ``axis``, as np.mean: the sum divided by the sizes of the reduced dims.

    A mean over no entries (an axis of size 0) is nan, as np.mean, without a warning; so are the
    derivatives that contain it.

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes to reduce (negative counts from the end); None reduces all.
    keepdims : bool, optional
        If True, each reduced axis stays as a length-1 axis (dim "1"), which broadcasts against
        ``x``, as numpy's keepdims (default False).

    Returns
    -------
    Expr
        The means, of ``x``'s shape without the reduced axes.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.mean(td.matrix("X", "n p"), axis=0).shape
    ('p',)
    >>> import numpy as np
    >>> td.evaluate(td.mean(td.matrix("X", "n p"), axis=0), X=np.zeros((0, 2)))
    array([nan, nan])
    """
    x = as_expr(x)
    axes = reduced_axes(x, axis, "mean")
    ids = tuple(range(x.ndim))
    kept = tuple(i for i in ids if i not in axes)
    # an einsum index that no operand uses contributes the size of its dim
    size = einsum_node(1.0, (), (), (), tuple(x.shape[a] for a in axes))
    return keeping_dims(einsum_node(1.0, (x, power(size, -1.0)), (ids, ()), kept, x.shape), axes, keepdims, "mean")


# ---------------------------------------------------------------- soft maxima

def logsumexp(x: ExprLike, axis: Axis = None, keepdims: bool = False) -> Expr:
    """log Σ exp(x) along ``axis`` (None: all), without overflow: its derivative is softmax(x).

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes to reduce (negative counts from the end); None reduces all.
    keepdims : bool, optional
        If True, each reduced axis stays as a length-1 axis (dim "1"), which broadcasts against
        ``x``, as numpy's keepdims (default False).

    Returns
    -------
    Expr
        log Σ exp(x), of ``x``'s shape without the reduced axes.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.logsumexp(td.vector("v", "n")).shape
    ()
    """
    x = as_expr(x)
    axes = reduced_axes(x, axis, "logsumexp")
    return keeping_dims(logsumexp_node(x, axes), axes, keepdims, "logsumexp")


def softmax(x: ExprLike, axis: Axis = -1) -> Expr:
    """exp(x) / Σ exp(x) along ``axis`` (default the last; a tuple or None also work), without overflow.

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes normalised over (default -1, the last; None: all).

    Returns
    -------
    Expr
        Of ``x``'s shape, summing to 1 over ``axis``.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.softmax(td.matrix("S", "q k")).shape          # each row sums to 1
    ('q', 'k')
    """
    x = as_expr(x)
    return softmax_node(x, reduced_axes(x, axis, "softmax"))


def log_softmax(x: ExprLike, axis: Axis = -1) -> Expr:
    """log softmax(x) = x - logsumexp(x) along ``axis`` (default the last), without overflow.

    Parameters
    ----------
    x : Expr or array_like
        The operand, of any shape.
    axis : int, tuple of int or None, optional
        The axes normalised over (default -1, the last; None: all).

    Returns
    -------
    Expr
        log softmax(x), of ``x``'s shape.

    Raises
    ------
    ShapeError
        If an axis does not exist or is named twice, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.log_softmax(td.vector("z", "c")).shape
    ('c',)
    """
    x = as_expr(x)
    axes = reduced_axes(x, axis, "log_softmax")
    if not axes:
        return zeros_node(x.shape)
    return add_node([x, scale(expand_axes(logsumexp_node(x, axes), x.shape, axes), -1.0)], x.shape)


# ---------------------------------------------------------------- triangles

def _triangle(x: Expr, k: int, lower: bool, what: str) -> Expr:
    x = as_expr(x)
    if x.ndim < 2:
        raise ShapeError(f"{what} needs a matrix (or a stack of them, the last two axes), got shape "
                         f"{format_dims(x.shape)}: {operand_text(x)}")
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TensorDiffError(f"{what}: the diagonal k must be an int, got {k!r:.40}")
    ids = tuple(range(x.ndim))
    mask = triangle(x.shape[-2], x.shape[-1], int(k), lower)
    return einsum_node(1.0, (x, mask), (ids, ids[-2:]), ids, x.shape)


def tril(x: Expr, k: int = 0) -> Expr:
    """The lower triangle of a matrix (of the last two axes): entries with col - row <= k, as np.tril.

    Parameters
    ----------
    x : Expr
        A matrix, or a stack of them (the last two axes).
    k : int, optional
        The diagonal: 0 the main one, -1 below it, 1 above it.

    Returns
    -------
    Expr
        ``x`` with the entries above diagonal ``k`` set to 0.

    Raises
    ------
    ShapeError
        If ``x`` has fewer than two axes.
    TensorDiffError
        If ``k`` is not an int.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.tril(td.matrix("A", "n n"), k=-1).shape
    ('n', 'n')
    """
    return _triangle(x, k, True, "tril")


def triu(x: Expr, k: int = 0) -> Expr:
    """The upper triangle of a matrix (of the last two axes): entries with col - row >= k, as np.triu.

    Parameters
    ----------
    x : Expr
        A matrix, or a stack of them (the last two axes).
    k : int, optional
        The diagonal: 0 the main one, -1 below it, 1 above it.

    Returns
    -------
    Expr
        ``x`` with the entries below diagonal ``k`` set to 0.

    Raises
    ------
    ShapeError
        If ``x`` has fewer than two axes.
    TensorDiffError
        If ``k`` is not an int.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.triu(td.matrix("A", "n n")).shape
    ('n', 'n')
    """
    return _triangle(x, k, False, "triu")


# ---------------------------------------------------------------- running sums and differences

def _one_axis(x, axis, what):
    if isinstance(axis, (tuple, list)):
        raise ShapeError(f"{what} takes one axis (an int), got {axis!r:.40}")
    return reduced_axes(x, axis, what)[0]


def cumsum(x: ExprLike, axis: int | None = None) -> Expr:
    """The running sums of ``x`` along ``axis``, as ``numpy.cumsum``: entry i is the sum of entries
    0..i. With axis None (numpy's default) over the entries of x flattened in C order.

    Its derivative is the product with the lower triangle of ones, ``[j ≤ i]`` (``td.tril(ones)``):
    a running sum is linear, so its derivatives of order 2 and up are zero.

    Parameters
    ----------
    x : Expr or array_like
        The operand.
    axis : int or None, optional
        The axis summed along (negative counts from the end); None: all entries, flattened.

    Returns
    -------
    Expr
        Of ``x``'s shape (a vector over the merged dim for axis None and x not a vector).

    Raises
    ------
    ShapeError
        If the axis does not exist, or is a tuple.

    Examples
    --------
    >>> import numpy as np, tensordiff as td
    >>> x = td.vector("x", "n")
    >>> td.evaluate(td.cumsum(x), x=np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    >>> print(td.diff(td.cumsum(x), x))
    out[i,j] = [j ≤ i]
    """
    x = as_expr(x)
    if axis is None:
        x, axis = (x if x.ndim == 1 else reshape(x, -1)), 0
    return cumsum_node(x, _one_axis(x, axis, "cumsum"))


def differences(x: ExprLike, n: int = 1, axis: int = -1) -> Expr:
    """``x[k+1] - x[k]`` along ``axis``, ``n`` times: ``numpy.diff`` (``td.diff`` is the derivative).

    The axis's dim ``d`` becomes ``d[1:]`` (one shorter), the dim of ``x[1:]``, so the differences
    combine with ``x[1:]`` elementwise; n times, ``d[1:][1:]`` and so on.

    Parameters
    ----------
    x : Expr or array_like
        The operand, of at least one axis.
    n : int, optional
        How many times to take differences (default 1; 0 gives x).
    axis : int, optional
        The axis (default -1, the last).

    Returns
    -------
    Expr
        The differences, ``x``'s shape with the axis n shorter.

    Raises
    ------
    ShapeError
        If x is a scalar, the axis does not exist, or n is not an int >= 0.

    Examples
    --------
    >>> import numpy as np, tensordiff as td
    >>> x = td.vector("x", "n")
    >>> d = td.differences(x)
    >>> d.shape
    ('n[1:]',)
    >>> td.evaluate(td.sum(d ** 2), x=np.array([1.0, 2.0, 4.0]))      # a smoothness penalty
    array(5.)
    """
    x = as_expr(x)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ShapeError(f"differences: n must be an int >= 0, got {n!r:.40}")
    if x.ndim == 0:
        raise ShapeError(f"differences need an operand of at least one axis, got the scalar {operand_text(x)}")
    position = _one_axis(x, axis, "differences")
    for _ in range(int(n)):
        x = diff_node(x, position)
    return x


# ---------------------------------------------------------------- cholesky

def cholesky(a: Expr) -> Expr:
    """The lower Cholesky factor L of a symmetric positive definite matrix: L @ L.T = a.

    The factor is that of the symmetric part (a + aᵀ)/2, so the derivative along any direction
    E is L Φ(L⁻¹ sym(E) L⁻ᵀ), Φ taking the strictly lower triangle and half the diagonal (JAX's
    convention; for symmetric a and E it is the textbook formula). A value that is not positive
    definite is an EvaluationError naming the matrix (NaN entries with evaluate's singular="nan").

    Parameters
    ----------
    a : Expr
        A symmetric positive definite matrix with dims "d d".

    Returns
    -------
    Expr
        The lower triangular factor L, dims "d d".

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix with one dim twice.
    EvaluationError
        At evaluation, if the value is not positive definite (``singular="raise"``, the default).

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> td.cholesky(X.T @ X + td.eye("p")).shape
    ('p', 'p')
    """
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"cholesky needs a square matrix with dims (d, d), got shape {format_dims(a.shape)}: "
                         f"{operand_text(a)}")
    if not is_symmetric(a):
        a = scale(add_node([a, transpose(a, (1, 0))]), 0.5)
    return cholesky_node(a)
