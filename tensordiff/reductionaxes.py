"""The ``axis=`` and ``keepdims=`` of every reduction, read one way: td.sum, td.max, td.min,
td.mean, td.logsumexp, their ndarray-style methods (``X.sum(axis=0, keepdims=True)``) and the numpy
functions routed to them (``np.sum(X, axis=0, keepdims=True)``).

``axis`` is numpy's: an int, a tuple of ints or None (all), negative counting from the end; a
dim's name stands for the one axis that has it (``td.sum(X, axis="n")``);
``keepdims=True`` leaves each reduced axis as a length-1 axis (dim "1", as ``x[:, None]``), which
broadcasts back against the operand.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeError
from .expr import Expr, Var
from .indices import format_dims
from .printing import short
from .reshaping import with_unit_axes

__all__ = ["reduced_axes", "keeping_dims"]


def operand_text(x):
    """A symbol's name, or the index notation of an expression, cut short for a message."""
    return x.name if isinstance(x, Var) else short(x, 60)


def reduced_axes(x: Expr, axis, what: str) -> tuple[int, ...]:
    """Sorted positions of ``axis`` (an int or a dim's name, a tuple or list of them, or None: all) in
    ``x``; a ShapeError naming ``what``, the axis and the operand where one is no int, out of range,
    repeated, or a name no single axis has.

    >>> import tensordiff as td
    >>> reduced_axes(td.matrix("X", "n p"), (-1, 0), "sum"), reduced_axes(td.matrix("X", "n p"), "p", "sum")
    ((0, 1), (1,))
    """
    if axis is None:
        return tuple(range(x.ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for ax in items:
        if isinstance(ax, str):   # a dim by name: the axis that has it
            ax = _named_axis(x, ax, what)
        if not isinstance(ax, numbers.Integral) or isinstance(ax, bool):
            raise ShapeError(f"{what}: axis must be an int, a dim's name, a tuple of them or None, got {axis!r:.40}")
        position = int(ax)
        if not -x.ndim <= position < x.ndim:
            raise ShapeError(f"{what}: axis {position} does not exist for an operand of shape {format_dims(x.shape)} "
                             f"(axes {-x.ndim}..{x.ndim - 1}): {operand_text(x)}")
        result.append(position % x.ndim)
    if len(set(result)) != len(result):
        raise ShapeError(f"{what}: axis {axis!r} names an axis twice")
    return tuple(sorted(result))


def _named_axis(x, dim, what):
    positions = [k for k, d in enumerate(x.shape) if d == dim]
    if len(positions) != 1:
        held = "names no dim of" if not positions else f"is the dim of {len(positions)} axes of"
        raise ShapeError(f"{what}: axis {dim!r} {held} the operand of shape {format_dims(x.shape)}: "
                         f"{operand_text(x)}" + ("; pass the axes as ints" if positions else ""))
    return positions[0]


def keeping_dims(result: Expr, axes: tuple[int, ...], keepdims, what: str) -> Expr:
    """``result``, the reduction of ``axes`` (sorted positions), with each put back as a length-1
    axis where ``keepdims`` is True; a ShapeError naming ``what`` where keepdims is no bool."""
    if not isinstance(keepdims, (bool, np.bool_)):
        raise ShapeError(f"{what}: keepdims must be True or False, got {keepdims!r:.40}")
    return with_unit_axes(result, axes) if keepdims else result
