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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np

from .expr import Expr

if sys.version_info >= (3, 10):
    from types import EllipsisType
else:   # the type of ... has a public name from Python 3.10
    EllipsisType = type(Ellipsis)

__all__ = ["Dims", "Shape", "Number", "ExprLike", "Symbols", "Wrt", "Directions", "Substitution", "Exprs", "Axis", "Index", "Array", "Arrays", "Values", "Functions",
           "Backend", "Singular", "Conditioning", "MemoryLimit", "Chunks", "Target", "Notation"]

# dim names, space-separated ("n p") or one per axis (("n", "p")); "" or () for a scalar
Dims = Union[str, Sequence[str]]
# the dim names of an expression's axes, as Expr.shape gives them
Shape = tuple[str, ...]
# a number that becomes a scalar constant in an expression (an int is a float to type checkers)
Number = Union[float, np.integer, np.floating]
# what the builders and operators take as an operand: an expression or a number
ExprLike = Union[Expr, Number]
# several symbols to differentiate with respect to, in order (the result is then a tuple)
Symbols = Union[list[Expr], tuple[Expr, ...]]
# the symbol(s) to differentiate with respect to
Wrt = Union[Expr, Symbols]
# a direction of the symbol(s) differentiated with respect to: one expression, or a list, one per symbol
Directions = Union[ExprLike, list[ExprLike], tuple[ExprLike, ...]]
# {old: new} for td.substitute: keys are symbols, symbol names or subexpressions (a dict at run time)
Substitution = Mapping[Any, ExprLike]
# one expression, or a list or tuple of them (nested lists come back nested alike)
Exprs = Union[Expr, Sequence[Any]]
# an axis position of a reduction, several, or None for all of them
Axis = Union[int, Sequence[int], None]
# a numpy basic index: e[2], e[:, 1:4], e[..., 0] (ints, slices and one ..., per axis)
Index = Union[int, np.integer, slice, EllipsisType, tuple[Union[int, np.integer, slice, EllipsisType], ...]]
# an array of the backend that computed it: numpy's ndarray, or torch's, jax's, cupy's or dask's array
Array = Any
# what evaluating several expressions returns: one array, or a tuple of them nested as the expressions were
Arrays = Any
# the values of the symbols, keyed by name or by symbol ({"X": array} or {X: array})
Values = Union[Mapping[str, Any], Mapping[Expr, Any], Mapping[Union[str, Expr], Any]]
# implementations of abstract user functions: name -> f, or name -> [f, f', f'', ...]
Functions = Mapping[str, Union[Callable[..., Any], Sequence[Callable[..., Any]]]]
Backend = Literal["numpy", "dask", "torch", "jax", "cupy"]
# what a singular matrix does at evaluation: raise an EvaluationError, or give nan
Singular = Literal["raise", "nan"]
# what an ill-conditioned solve, det or logdet does: warn, nothing, or raise
Conditioning = Literal["warn", "ignore", "raise"]
# bytes an evaluation may allocate: a count, None for no limit, or "auto" (a share of the free memory)
MemoryLimit = Union[int, float, None, Literal["auto"]]
# the array library of td.codegen's source
Target = Literal["numpy", "jax", "torch"]
# dask's chunks (backend="dask"): one length for every dim, a length per dim, or a block size such as "64MiB"
Chunks = Union[int, Mapping[str, int], str, None]
# how td.latex writes an expression
Notation = Literal["auto", "matrix", "index"]
