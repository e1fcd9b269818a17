"""The type aliases of tensordiff's public API, for its annotations and for yours.

The package ships ``py.typed``, so a type checker reads the library's hints; these names spell
the kinds of argument the builders and evaluators take. They are plain aliases: anything they
accept needs no conversion (``"n p"`` is ``Dims``, ``2.0`` is ``ExprLike``).

>>> import tensordiff as td
>>> from tensordiff.annotations import Dims, ExprLike
>>> def ridge(name: str, dims: Dims, lam: ExprLike = 0.1) -> td.Expr:
...     X = td.matrix(name, dims)
...     return td.sum(X * X) * lam
>>> ridge("W", "n p").shape
()
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Literal, Union

import numpy as np

from .expr import Expr

if sys.version_info >= (3, 10):
    from types import EllipsisType
else:   # the type of ... has a public name from Python 3.10
    EllipsisType = type(Ellipsis)

__all__ = ["Dims", "Shape", "Number", "ExprLike", "Symbols", "Wrt", "Directions", "Substitution", "Exprs", "Axis",
           "Index", "Array", "Arrays", "Values", "Functions", "Backend", "Singular", "Conditioning", "MemoryLimit",
           "Chunks", "Target", "Notation"]

Dims = Union[str, Sequence[str]]
"""Dim names, space-separated (``"n p"``) or one per axis (``("n", "p")``); ``""`` or ``()`` for a scalar."""

Shape = tuple[str, ...]
"""The dim names of an expression's axes, as ``Expr.shape`` gives them."""

Number = Union[float, np.integer, np.floating]
"""A number, which becomes a scalar constant in an expression (an int is a float to type checkers)."""

ExprLike = Union[Expr, Number]
"""What the builders and operators take as an operand: an expression or a number."""

Symbols = Union[list[Expr], tuple[Expr, ...]]
"""Several symbols to differentiate with respect to, in order (the result is then a tuple)."""

Wrt = Union[Expr, Symbols]
"""The symbol, or the list of symbols, to differentiate with respect to."""

Directions = Union[ExprLike, list[ExprLike], tuple[ExprLike, ...]]
"""A direction of the symbol(s) differentiated with respect to: one expression, or a list, one per symbol."""

Substitution = dict[Any, Any]
"""``{old: new}`` for ``td.substitute``: keys are symbols, symbol names or subexpressions, values expressions."""

Exprs = Union[Expr, Sequence[Any]]
"""One expression, or a list or tuple of them (nested lists come back nested alike)."""

Axis = Union[int, Sequence[int], None]
"""An axis position of a reduction, several, or None for all of them."""

Index = Union[int, np.integer, slice, EllipsisType, tuple[Union[int, np.integer, slice, EllipsisType], ...]]
"""A numpy basic index: ``e[2]``, ``e[:, 1:4]``, ``e[..., 0]`` (ints, slices and one ``...``, per axis)."""

Array = Any
"""An array of the backend that computed it: numpy's ndarray, or torch's, jax's, cupy's or dask's array."""

Arrays = Any
"""What evaluating expressions returns: one array, or a tuple of them nested as the expressions were."""

Values = Union[dict[str, Any], dict[Expr, Any], dict[Union[str, Expr], Any]]
"""The values of the symbols, a dict keyed by name or by symbol (``{"X": array}`` or ``{X: array}``)."""

Functions = dict[str, Any]
"""Implementations of abstract user functions, a dict ``{name: f}`` or ``{name: [f, f', f'', ...]}``."""

Backend = Literal["numpy", "dask", "torch", "jax", "cupy"]
"""The array library a program computes with."""

Singular = Literal["raise", "nan"]
"""What a singular matrix does at evaluation: raise an EvaluationError, or give nan."""

Conditioning = Literal["warn", "ignore", "raise"]
"""What an ill-conditioned inv, solve, det, logdet or cholesky does: warn, nothing, or raise."""

MemoryLimit = Union[int, float, None, Literal["auto"]]
"""Bytes an evaluation may allocate: a number, None for no limit, or ``"auto"`` (a share of the free memory)."""

Chunks = Union[int, dict[str, int], str, None]
"""dask's chunks (``backend="dask"``): one length for every dim, a length per dim, or a block size (``"64MiB"``)."""

Target = Literal["numpy", "jax", "torch"]
"""The array library of ``td.codegen``'s source."""

Notation = Literal["auto", "matrix", "index"]
"""How ``td.latex`` writes an expression: its matrix form where it has one, or index notation."""
