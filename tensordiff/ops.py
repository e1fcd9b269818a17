"""The operators of expressions, and the module that gathers the user-facing builders.

Importing this module attaches the operators (``+ - * / ** @``, ``.T``, comparisons, indexing) to
``Expr``, and numpy's protocol hooks, so that ``np.exp(x)`` builds ``td.exp(x)`` and numpy functions
that need arrays say so. The builders live by concern: declarations.py (symbols and the identity),
arithmetic.py (elementwise arithmetic and the matrix product), contractions.py (einsum, sums,
traces, diagonals, outer products) and linalgops.py (inverse, solve, powers, determinants, norms);
each checks dims and says which dims or operand are at fault, then hands over to the canonical
constructors of ``simplify``.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np

from .arithmetic import T, add, divide, matmul, matrix_transpose, multiply, negative, power, sqrt, subtract
from .broadcasting import broadcast_shapes, broadcast_to
from .comparisons import greater, greater_equal, less, less_equal, maximum, minimum
from .contractions import diag, diagonal, einsum, outer, sum, trace
from .errors import UnsupportedOperation
from .expr import Expr
from .functions import FUNCTIONS, power as constant_power
from .indices import format_dims
from .linalgops import det, eigh, eigvalsh, inv, logdet, matrix_power, norm, pinv, solve
from . import numpyfunctions
from .numpyfunctions import standard_deviation, variance
from .numpyaliases import NUMPY_ALIASES, UFUNC_ALIASES
from .reductions import max, mean, min
from .reshaping import reshape
from .select import index
from .annotations import Axis, Dims, ExprLike
from .simplify import as_expr
from .declarations import eye, matrix, scalar, tensor, vector

__all__ = ["tensor", "scalar", "vector", "matrix", "eye", "einsum", "sum", "trace", "diag", "solve", "matrix_power",
           "diagonal", "outer", "inv", "pinv", "eigh", "eigvalsh", "det", "logdet", "norm", "sqrt"]   # elementwise functions: functions.py
__all__ += ["broadcast_shapes", "broadcast_to"]


# ---------------------------------------------------------------- numpy interplay

def _logaddexp(a, b):
    """np.logaddexp: log(exp(a) + exp(b)) without overflow, max(a, b) + log1p(exp(-|a - b|))."""
    return add(maximum(a, b), FUNCTIONS["log1p"](FUNCTIONS["exp"](negative(FUNCTIONS["abs"](subtract(a, b))))))


# numpy function → the builder it means on expressions (numpyfunctions.py, numpyaliases.py)
NUMPY_FUNCTIONS: dict[Any, Any] = {**numpyfunctions.NUMPY_FUNCTIONS, **NUMPY_ALIASES}

# numpy ufunc → the builder it means on expressions (np.divide is np.true_divide)
_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide, np.power: power,
    np.negative: negative, np.positive: as_expr, np.matmul: matmul,
    np.sqrt: sqrt, np.square: lambda a: constant_power(a, 2.0), np.reciprocal: lambda a: constant_power(a, -1.0),
    **{fn.ufunc: fn for fn in FUNCTIONS.values() if fn.ufunc is not None},   # np.exp → td.exp, ...
    np.less: less, np.less_equal: less_equal, np.greater: greater, np.greater_equal: greater_equal,
    np.maximum: maximum, np.minimum: minimum, np.fabs: FUNCTIONS["abs"],
    np.log2: lambda a: FUNCTIONS["log"](a) / math.log(2.0), np.log10: lambda a: FUNCTIONS["log"](a) / math.log(10.0),
    np.exp2: lambda a: FUNCTIONS["exp"](multiply(a, math.log(2.0))), np.logaddexp: _logaddexp,
    **UFUNC_ALIASES,
}


# np.float64(1) == x goes through np.equal: it compares by identity, as expressions do
# (x in [np.float64(1)] must not raise)
_IDENTITY_COMPARISONS = {np.equal: lambda a, b: a is b, np.not_equal: lambda a, b: a is not b}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``np.exp(x)``, ``np.float64(2) * x``, ...: numpy ufuncs with a tensordiff counterpart build it."""
    if ufunc in _IDENTITY_COMPARISONS and method == "__call__" and len(inputs) == 2 and not kwargs:
        return _IDENTITY_COMPARISONS[ufunc](*inputs)
    builder = _UFUNCS.get(ufunc)
    if method != "__call__" or builder is None:
        name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        hint = "use td.sum" if ufunc is np.add and method == "reduce" else "evaluate the expression first"
        raise UnsupportedOperation(f"{name} does not take tensordiff expressions ({hint}); numpy ufuncs that "
                                   f"build expressions: {', '.join(sorted('np.' + u.__name__ for u in _UFUNCS))}")
    if kwargs:
        raise UnsupportedOperation(f"np.{ufunc.__name__} on tensordiff expressions takes no keyword arguments, "
                                   f"got {', '.join(sorted(kwargs))}")
    return builder(*inputs)


# numpy functions without a builder whose value another expression gives, where it is defined
_WRITE_INSTEAD = {
    "lstsq": "its solution (the least-squares one of least norm) is td.pinv(a) @ b, or ",
    "prod": "a product of positive entries is td.exp(td.sum(td.log(x), axis)), or ",
    "cumprod": "a running product of positive entries is td.exp(td.cumsum(td.log(x), axis)), or ",
}


def _array_function(self, func, types, args, kwargs):
    """numpy functions with a tensordiff counterpart (np.sum, np.trace, np.expand_dims, ...: numpyfunctions.py)
    build it; the others need arrays, which expressions are not."""
    handler = NUMPY_FUNCTIONS.get(func)
    if handler is not None:
        return handler(*args, **kwargs)
    name = func.__name__
    module = "np.linalg." if func.__module__ == "numpy.linalg" else "np."
    hint = f"build it with td.{name}, or " if name in __all__ or name in FUNCTIONS else _WRITE_INSTEAD.get(name, "")
    raise UnsupportedOperation(f"{module}{name} does not take tensordiff expressions: {hint}evaluate the expression "
                               "first (td.evaluate(e, **values)); numpy functions that build expressions: "
                               f"{', '.join(sorted(_qualified(f) for f in NUMPY_FUNCTIONS))}")


def _qualified(func):
    return ("np.linalg." if func.__module__ == "numpy.linalg" else "np.") + func.__name__


def _array(self, dtype=None, copy=None):
    raise UnsupportedOperation(f"a tensordiff expression of shape {format_dims(self.shape)} is not an array: "
                               "evaluate it first (td.evaluate(e, **values)), or use tensordiff's builders "
                               "(td.sum, td.exp, @, ...) on it")


# ---------------------------------------------------------------- numpy's array methods

def _reduction_method(builder, doc):
    def method(self: Expr, axis: Axis = None, keepdims: bool = False) -> Expr:
        return builder(self, axis, keepdims)
    method.__name__ = builder.__name__
    method.__doc__ = doc
    return method


def _reshape_method(self: Expr, *dims: Union[Dims, int]) -> Expr:
    """``td.reshape(self, dims)``: ``x.reshape("q m")``, ``x.reshape("q", "m")``, "1" for a length-1 axis."""
    spec: Any = dims[0] if len(dims) == 1 else dims   # several: one tuple of names, "1" and 1 among them
    return reshape(self, spec)


def _trace_method(self: Expr) -> Expr:
    """``td.trace(self)``, as ``ndarray.trace()``: the trace of a square matrix."""
    return trace(self)


def _diagonal_method(self: Expr) -> Expr:
    """``td.diagonal(self)``, as ``ndarray.diagonal()``: the diagonal of a square matrix."""
    return diagonal(self)


def _transpose_method(self: Expr, *axes: Any) -> Expr:
    """``np.transpose(self, axes)``, as ``ndarray.transpose``: no axes reverses them; ``(1, 0)`` or ``1, 0`` permutes."""
    order = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None)
    return NUMPY_FUNCTIONS[np.transpose](self, order)


def _dot_method(self: Expr, other: ExprLike) -> Expr:
    """``np.dot(self, other)``, as ``ndarray.dot``: the matrix product of operands of order ≤ 2, or a scaling."""
    return NUMPY_FUNCTIONS[np.dot](self, other)


def _clip_method(self: Expr, min: Optional[ExprLike] = None, max: Optional[ExprLike] = None) -> Expr:
    """``np.clip(self, min, max)``, as ``ndarray.clip``: maximum(self, min), then minimum(..., max)."""
    return NUMPY_FUNCTIONS[np.clip](self, min, max)


def _squeeze_method(self: Expr, axis: Axis = None) -> Expr:
    """``np.squeeze(self, axis)``, as ``ndarray.squeeze``: the length-1 axes (dim "1") left out."""
    return NUMPY_FUNCTIONS[np.squeeze](self, axis)


def _ravel_method(self: Expr) -> Expr:
    """``td.reshape(self, -1)``, as ``ndarray.ravel()``: the entries in C order, one merged dim."""
    return reshape(self, -1)


def _flatten_method(self: Expr) -> Expr:
    """``td.reshape(self, -1)``, as ``ndarray.flatten()`` (an expression is never copied)."""
    return reshape(self, -1)


def _var_method(self: Expr, axis: Axis = None, ddof: float = 0, keepdims: bool = False) -> Expr:
    """``np.var(self, axis, ddof=ddof, keepdims=keepdims)``, as ``ndarray.var``."""
    return variance(self, axis, ddof=ddof, keepdims=keepdims)


def _std_method(self: Expr, axis: Axis = None, ddof: float = 0, keepdims: bool = False) -> Expr:
    """``np.std(self, axis, ddof=ddof, keepdims=keepdims)``, as ``ndarray.std``."""
    return standard_deviation(self, axis, ddof=ddof, keepdims=keepdims)


def _copy_method(self: Expr) -> Expr:
    """``ndarray.copy()``: an expression is immutable, so its copy is the expression itself."""
    return self


def _conj_method(self: Expr) -> Expr:
    """``ndarray.conj()``: the entries are real, so the conjugate is the expression itself."""
    return self


def _install_operators():
    Expr.__add__ = add
    Expr.__radd__ = lambda self, other: add(other, self)
    Expr.__sub__ = subtract
    Expr.__rsub__ = lambda self, other: subtract(other, self)
    Expr.__mul__ = multiply
    Expr.__rmul__ = lambda self, other: multiply(other, self)
    Expr.__truediv__ = divide
    Expr.__rtruediv__ = lambda self, other: divide(other, self)
    Expr.__pow__ = power
    Expr.__rpow__ = lambda self, other: power(other, self)
    Expr.__abs__ = lambda self: FUNCTIONS["abs"](self)
    Expr.__neg__ = negative
    Expr.__pos__ = lambda self: self
    Expr.__lt__ = less
    Expr.__le__ = less_equal
    Expr.__gt__ = greater
    Expr.__ge__ = greater_equal
    Expr.__matmul__ = matmul
    Expr.__rmatmul__ = lambda self, other: matmul(other, self)
    Expr.T = property(T)
    Expr.mT = property(matrix_transpose)
    Expr.copy = _copy_method
    Expr.conj = Expr.conjugate = _conj_method
    Expr.__getitem__ = index
    Expr.__array_ufunc__ = _array_ufunc
    Expr.__array_function__ = _array_function
    Expr.__array__ = _array
    for builder in (sum, mean, max, min):   # numpy's array methods, keepdims=True leaving "1" axes (x[:, None])
        setattr(Expr, builder.__name__, _reduction_method(builder, (
            f"``td.{builder.__name__}(self, axis, keepdims)``, as the ndarray method: keepdims=True keeps each reduced axis "
            "as a length-1 axis (dim \"1\"), which broadcasts back against the operand.")))
    Expr.reshape = _reshape_method
    for method in (_trace_method, _diagonal_method, _transpose_method, _dot_method, _clip_method, _squeeze_method,
                   _ravel_method, _flatten_method, _var_method, _std_method):   # numpy's, as numpy's functions
        setattr(Expr, method.__name__.removeprefix("_").removesuffix("_method"), method)

_install_operators()
