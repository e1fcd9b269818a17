"""Elementwise arithmetic and the matrix product: what ``+ - * / **``, ``@`` and ``.T`` build.

Elementwise operands broadcast as numpy's do, by dim names (broadcasting.py); each builder checks
dims and says which dims or operand are at fault, then hands over to the canonical constructors of
``simplify``. ops.py attaches these builders to ``Expr`` as its operators.
"""

from __future__ import annotations

import math

from .broadcasting import broadcast_shapes, broadcast_to
from .errors import ShapeError, TensorDiffError
from .symboltable import check_homonyms
from .functions import FUNCTIONS, power as constant_power
from .indices import format_dims
from .constantnodes import constant_value
from .einsumnodes import einsum_node, hadamard, scale, transpose
from .simplify import as_expr
from .sumnodes import add_node
from .annotations import ExprLike
from .expr import Expr

__all__ = ["add", "subtract", "multiply", "divide", "negative", "power", "matmul", "T", "sqrt"]


def _pair(a, b, op):
    """a and b broadcast to one shape, as numpy does: trailing axes aligned, dims matched by name.

    Dims are matched by name: an operand broadcasts along the leading axes it lacks and along its
    length-1 axes (dim "1", broadcasting.py); two other dims that differ where the axes align are a
    ShapeError.
    """
    a, b = as_expr(a), as_expr(b)
    if a.free & b.free:
        check_homonyms(a, b)
    if a.shape == b.shape:
        return a, b
    shape = broadcast_shapes(a.shape, b.shape, op)
    return broadcast_to(a, shape), broadcast_to(b, shape)


def add(a: ExprLike, b: ExprLike) -> Expr:
    a, b = _pair(a, b, "+")
    return add_node([a, b])


def subtract(a: ExprLike, b: ExprLike) -> Expr:
    a, b = _pair(a, b, "-")
    return add_node([a, scale(b, -1.0)])


def multiply(a: ExprLike, b: ExprLike) -> Expr:
    a, b = as_expr(a), as_expr(b)
    if a.shape and b.shape and a.shape != b.shape:
        try:
            a, b = _pair(a, b, "*")
        except ShapeError as exc:
            raise ShapeError(f"{exc}; '*' is elementwise: use @ for a matrix product") from None
    elif a.free & b.free:
        check_homonyms(a, b)
    return hadamard(a, b)


def divide(a: ExprLike, b: ExprLike) -> Expr:
    a, b = as_expr(a), as_expr(b)
    if a.shape and b.shape and a.shape != b.shape:
        a, b = _pair(a, b, "/")
    elif a.free & b.free:
        check_homonyms(a, b)
    return hadamard(a, constant_power(b, -1.0))


def negative(a: Expr) -> Expr:
    return scale(a, -1.0)


def power(a: ExprLike, b: ExprLike) -> Expr:
    """``a ** b`` elementwise: a constant exponent b, or else a positive base a: exp(log(a)·b).

    An expression base is taken to be positive: where it is not, log(a) and so the value and
    derivatives are nan, as numpy's log would give (a constant exponent has no such limit).

    >>> import tensordiff as td
    >>> x, y = td.vector("x", "n"), td.vector("y", "n")
    >>> print(x ** 3)
    out[i] = x[i]^3
    >>> print(2 ** x)
    out[i] = exp(0.69314718056 x[i])
    >>> print(x ** y)
    out[i] = exp(log(x[i]) y[i])
    """
    a, b = as_expr(a), as_expr(b)
    if constant_value(b) is not None:
        return constant_power(a, b)
    base = constant_value(a)
    if base is not None and not base > 0:
        raise TensorDiffError(f"'**' with an expression exponent needs a positive base (b ** e is exp(log(b)·e)); "
                              f"here the base is {base:g}")
    a, b = _pair(a, b, "**")
    if base is not None:
        return FUNCTIONS["exp"](scale(b, math.log(base)))
    return FUNCTIONS["exp"](hadamard(FUNCTIONS["log"](a), b))   # a positive base: log(a) is nan elsewhere


def matmul(a: ExprLike, b: ExprLike) -> Expr:
    """Matrix product with numpy's rules for vectors: (m k)@(k n), (m k)@(k), (k)@(k n), (k)@(k); and of stacks
    of matrices, (b m k)@(k n) and (b m k)@(b k n), as numpy's matmul (leading axes broadcast by dim names)."""
    a, b = as_expr(a), as_expr(b)
    if a.free & b.free:
        check_homonyms(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"'@' needs vectors, matrices or stacks of matrices, not a scalar: got shapes "
                         f"{format_dims(a.shape)} and {format_dims(b.shape)} (a scaling is '*')")
    if a.ndim > 2 or b.ndim > 2:
        return _stacked_matmul(a, b)
    if a.shape[-1] != b.shape[0]:
        raise ShapeError(f"'@': the inner dims do not match: {format_dims(a.shape)} @ {format_dims(b.shape)} "
                         f"contracts {a.shape[-1]!r} with {b.shape[0]!r}")
    # index 0: the contracted one; then a's free index, then b's
    dims = [a.shape[-1]]
    a_sub, b_sub, out = [], [], []
    if a.ndim == 2:
        dims.append(a.shape[0])
        a_sub.append(len(dims) - 1)
        out.append(len(dims) - 1)
    a_sub.append(0)
    b_sub.append(0)
    if b.ndim == 2:
        dims.append(b.shape[1])
        b_sub.append(len(dims) - 1)
        out.append(len(dims) - 1)
    return einsum_node(1.0, (a, b), (tuple(a_sub), tuple(b_sub)), tuple(out), dims)


def _stacked_matmul(a, b):
    """numpy's matmul of stacks of matrices: the last two axes multiply and the leading ones
    broadcast (by dim names; a dim "1" spreads); a vector operand is one row or column, whose axis
    the result leaves out."""
    rows = a.shape[-2:-1]                        # () for a vector
    cols = b.shape[-1:] if b.ndim >= 2 else ()
    inner_a, inner_b = a.shape[-1], (b.shape[-2] if b.ndim >= 2 else b.shape[0])
    if inner_a != inner_b:
        raise ShapeError(f"'@': the inner dims do not match: {format_dims(a.shape)} @ {format_dims(b.shape)} "
                         f"contracts {inner_a!r} with {inner_b!r}")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2] if b.ndim >= 2 else (), "@")
    a = broadcast_to(a, batch + rows + (inner_a,)) if a.ndim >= 2 else a
    b = broadcast_to(b, batch + (inner_b,) + cols) if b.ndim >= 2 else b
    ids, inner = tuple(range(len(batch))), len(batch)
    dims = batch + (inner_a,) + rows + cols   # every index read somewhere: an unread one would count its size
    row, col = tuple(range(inner + 1, inner + 1 + len(rows))), tuple(range(inner + 1 + len(rows), len(dims)))
    a_sub = (ids + row if a.ndim >= 2 else ()) + (inner,)
    b_sub = (ids if b.ndim >= 2 else ()) + (inner,) + col
    out = ids + row + col
    return einsum_node(1.0, (a, b), (a_sub, b_sub), out, dims)


def T(a: Expr) -> Expr:
    """Transpose, as numpy's ``.T``: a matrix's, the axes of a tensor reversed (a vector or scalar is itself)."""
    return transpose(a, tuple(reversed(range(a.ndim)))) if a.ndim >= 2 else a


def matrix_transpose(a: Expr) -> Expr:
    """numpy's ``.mT``: the last two axes swapped (a stack of matrices, each transposed)."""
    if a.ndim < 2:
        raise ShapeError(f".mT needs at least two axes, got shape {format_dims(a.shape)}")
    return transpose(a, tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2))


def sqrt(a: ExprLike) -> Expr:
    """Elementwise square root (``a ** 0.5``).

    Outside its domain it follows numpy (IEEE 754), silently: sqrt of a negative entry is nan, and
    its derivative at 0 is inf; nan stays nan; nothing raises or warns (see td.log).

    Parameters
    ----------
    a : Expr or number
        A tensor of any shape.

    Returns
    -------
    Expr
        The square root of each entry, of shape ``a.shape``.

    Examples
    --------
    >>> import tensordiff as td
    >>> x = td.vector("x", "n")
    >>> print(td.sqrt(x * x + 1))
    out[i] = sqrt(1 + x[i] x[i])
    """
    return constant_power(a, 0.5)
