"""Elementwise comparisons and choices: ``maximum``, ``minimum``, the masks ``<``, ``<=``, ``>``,
``>=``, and ``where``.

Their operands broadcast as numpy's do, by dim names (broadcasting.py). Where a == b, ``maximum``
and ``minimum`` give each operand half the derivative, as JAX does. Comparisons give 0/1 masks
with derivative 0, and ``where`` chooses between two branches without ever multiplying the one it
discards (so log of a negative in the unused branch cannot turn the result into nan).
docs/operations/reductions.md states every convention.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .broadcasting import broadcast_operands
from .einsumnodes import scale
from .simplify import compare_node, maximum_node, where_node
from .annotations import ExprLike
from .errors import TensorDiffError
from .expr import Expr

__all__ = ["maximum", "minimum", "less", "less_equal", "greater", "greater_equal", "where"]


def maximum(a: ExprLike, b: ExprLike) -> Expr:
    """The elementwise larger of ``a`` and ``b``, broadcast as numpy does (by dim names), as np.maximum.

    Where a == b, each gets half the derivative (as JAX).

    Parameters
    ----------
    a, b : Expr or array_like
        Operands of one shape, or a scalar with anything.

    Returns
    -------
    Expr
        The larger entry at each position.

    Raises
    ------
    ShapeError
        If the operands' shapes differ.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.maximum(td.vector("v", "n"), 0).shape
    ('n',)
    """
    a, b = broadcast_operands("maximum", a, b)
    return maximum_node(a, b)


def minimum(a: ExprLike, b: ExprLike) -> Expr:
    """The elementwise smaller of ``a`` and ``b`` (broadcast as numpy does), as np.minimum: -maximum(-a, -b).

    Parameters
    ----------
    a, b : Expr or array_like
        Operands of one shape, or a scalar with anything.

    Returns
    -------
    Expr
        The smaller entry at each position.

    Raises
    ------
    ShapeError
        If the operands' shapes differ.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.minimum(td.vector("v", "n"), td.vector("w", "n")).shape
    ('n',)
    """
    a, b = broadcast_operands("minimum", a, b)
    return scale(maximum_node(scale(a, -1.0), scale(b, -1.0)), -1.0)


# ---------------------------------------------------------------- masks

def _comparison(op: str, name: str) -> Callable[[ExprLike, ExprLike], Expr]:
    def compare(a: ExprLike, b: ExprLike) -> Expr:
        a, b = broadcast_operands(f"'{op}'", a, b)
        return compare_node(op, a, b)
    compare.__name__ = name
    compare.__doc__ = f"""The 0/1 mask a {op} b elementwise (broadcast as numpy does); its derivative is 0.

    >>> import tensordiff as td
    >>> (td.vector("v", "n") {op} 0).shape
    ('n',)
    """
    return compare


less = _comparison("<", "less")
less_equal = _comparison("<=", "less_equal")
greater = _comparison(">", "greater")
greater_equal = _comparison(">=", "greater_equal")


def where(mask: ExprLike, a: ExprLike, b: ExprLike) -> Expr:
    """``a`` where ``mask`` is nonzero, else ``b`` (np.where, broadcast as numpy does), differentiated
    through the chosen branch.

    The branch not chosen is never multiplied by 0, so nan or inf in it cannot leak:
    ``where(x > 0, log(x), 0)`` is 0 wherever x <= 0, and so is its derivative. The mask is
    treated as piecewise constant (derivative 0).

    Parameters
    ----------
    mask : Expr or array_like
        Nonzero where ``a`` is chosen (a comparison such as ``x > 0`` gives 0/1).
    a, b : Expr or array_like
        The values chosen from; one shape with ``mask``, or scalars.

    Returns
    -------
    Expr
        The entries of ``a`` where ``mask`` is nonzero, of ``b`` elsewhere.

    Raises
    ------
    ShapeError
        If the operands' shapes differ.
    TensorDiffError
        If ``mask`` is a bool while ``a`` or ``b`` is an expression: ``a == b`` on expressions
        compares them as objects (they are dict keys), so where(x == y, ...) would choose one
        branch everywhere.

    Examples
    --------
    >>> import tensordiff as td
    >>> x = td.vector("x", "n")
    >>> td.where(x > 0, td.log(x), 0).shape
    ('n',)
    """
    if isinstance(mask, (bool, np.bool_)) and (isinstance(a, Expr) or isinstance(b, Expr)):
        raise TensorDiffError(f"where: the mask is the bool {bool(mask)}, not a mask of entries; on expressions "
                              "== and != compare the expressions themselves (they are dict keys), not entry by "
                              "entry: for where(x == y, ...) write the mask (x >= y) * (x <= y), or pass 1 or 0 "
                              "to choose one branch everywhere")
    mask, a, b = broadcast_operands("where", mask, a, b)
    return where_node(mask, a, b)
