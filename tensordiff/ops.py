"""The user-facing builders: symbols, arithmetic, products, reductions, matrix functions.

Each checks dims and says which dims or operand are at fault, then hands over to the canonical
constructors of ``simplify``. Importing this module attaches the operators to ``Expr``.
"""

import math
import numbers

import numpy as np

from .errors import ShapeError, TensorDiffError, UnsupportedOperation
from .expr import Expr, symbol
from .functions import FUNCTIONS, power as constant_power
from .indices import format_dims, parse_dims, parse_spec, slice_of
from .reductions import greater, greater_equal, less, less_equal, maximum, minimum
from .select import index
from .simplify import (add_node, as_expr, broadcast, constant_value, det_node, einsum_node, hadamard,
                       inv_node, logdet_node, scale, transpose)

__all__ = ["tensor", "scalar", "vector", "matrix", "eye", "einsum", "sum", "trace", "diag", "solve", "matrix_power",
           "diagonal", "outer", "inv", "det", "logdet", "norm", "exp", "log", "sin", "cos", "tanh",
           "sigmoid", "sqrt", "abs", "relu", "softplus", "log1p"]


# ---------------------------------------------------------------- symbols

def tensor(name, dims):
    """A symbol: ``dims`` is a space-separated string or a tuple of dim names ("" is a scalar).

    >>> T = td.tensor("T", "i j k")
    >>> T.shape
    ('i', 'j', 'k')
    """
    return symbol(name, parse_dims(dims, f"dims of {name!r}"))


def scalar(name):
    """A scalar symbol.

    >>> lam = td.scalar("lam")
    """
    return tensor(name, ())


def vector(name, dim):
    """A vector symbol with one dim.

    >>> y = td.vector("y", "n")
    """
    dims = parse_dims(dim, f"dims of {name!r}")
    if len(dims) != 1:
        raise ShapeError(f"vector {name!r} needs exactly one dim, got {format_dims(dims)}")
    return symbol(name, dims)


def matrix(name, dims):
    """A matrix symbol with two dims.

    >>> X = td.matrix("X", "n p")
    """
    dims = parse_dims(dims, f"dims of {name!r}")
    if len(dims) != 2:
        raise ShapeError(f"matrix {name!r} needs exactly two dims, got {format_dims(dims)}")
    return symbol(name, dims)


def eye(dim):
    """The identity matrix over ``dim``.

    >>> I = td.eye("p")       # shape ('p', 'p')
    """
    dims = parse_dims(dim, "dim of eye")
    if len(dims) != 1:
        raise ShapeError(f"eye takes one dim name, got {dim!r}")
    return einsum_node(1.0, (), (), (0, 0), dims)


# ---------------------------------------------------------------- elementwise arithmetic

def _pair(a, b, op):
    a, b = as_expr(a), as_expr(b)
    if a.shape == b.shape:
        return a, b
    if a.shape == ():
        return broadcast(a, b.shape), b
    if b.shape == ():
        return a, broadcast(b, a.shape)
    raise ShapeError(f"'{op}' needs operands of one shape (or a scalar): got {format_dims(a.shape)} "
                     f"and {format_dims(b.shape)}" + _slices_hint(a.shape, b.shape))


def _slices_hint(shape_a, shape_b):
    """Why two slices of one dim do not line up, when that is the mismatch."""
    for dim_a, dim_b in zip(shape_a, shape_b):
        parts_a, parts_b = slice_of(dim_a), slice_of(dim_b)
        if dim_a != dim_b and parts_a and parts_b and parts_a[0] == parts_b[0]:
            return (f"; each slice is a dim of its own, so {dim_a!r} and {dim_b!r} differ even where their lengths "
                    "agree (elementwise operations between different slices of one dim are not supported: declare "
                    "the parts as separate symbols)")
    return ""


def add(a, b):
    a, b = _pair(a, b, "+")
    return add_node([a, b])


def subtract(a, b):
    a, b = _pair(a, b, "-")
    return add_node([a, scale(b, -1.0)])


def multiply(a, b):
    a, b = as_expr(a), as_expr(b)
    if a.shape != b.shape and a.shape and b.shape:
        raise ShapeError(f"'*' is elementwise and needs operands of one shape (or a scalar): got "
                         f"{format_dims(a.shape)} and {format_dims(b.shape)}"
                         + (_slices_hint(a.shape, b.shape) or "; use @ for a matrix product"))
    return hadamard(a, b)


def divide(a, b):
    a, b = as_expr(a), as_expr(b)
    if a.shape != b.shape and a.shape and b.shape:
        raise ShapeError(f"'/' is elementwise and needs operands of one shape (or a scalar): got "
                         f"{format_dims(a.shape)} and {format_dims(b.shape)}" + _slices_hint(a.shape, b.shape))
    return hadamard(a, constant_power(b, -1.0))


def negative(a):
    return scale(a, -1.0)


def power(a, b):
    """``a ** b`` elementwise: a constant exponent b, or a positive number base a (then exp(log(a)·b)).

    >>> x ** 3, 2 ** x
    """
    a, b = as_expr(a), as_expr(b)
    if constant_value(b) is not None:
        return constant_power(a, b)
    base = constant_value(a)
    if base is None or not base > 0:
        what = "an expression, not a number" if base is None else f"{base:g}"
        raise TensorDiffError(f"'**' with an expression exponent needs a positive number base (b ** e is "
                              f"exp(log(b)·e)); here the base is {what}")
    a, b = _pair(a, b, "**")
    return exp(scale(b, math.log(base)))


def matmul(a, b):
    """Matrix product with numpy's rules for vectors: (m k)@(k n), (m k)@(k), (k)@(k n), (k)@(k)."""
    a, b = as_expr(a), as_expr(b)
    if not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
        raise ShapeError(f"'@' needs vectors or matrices, got shapes {format_dims(a.shape)} and {format_dims(b.shape)}")
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


def T(a):
    """Transpose of a matrix (a vector or scalar is returned unchanged)."""
    if a.ndim > 2:
        raise ShapeError(f".T is for order ≤ 2, got shape {format_dims(a.shape)}; use td.einsum to permute axes")
    return transpose(a, (1, 0)) if a.ndim == 2 else a


# ---------------------------------------------------------------- contractions and reductions

def einsum(spec, *operands):
    """Contraction with numpy's subscript rules (implicit output, repeated indices, '...').

    >>> td.einsum("ij,jk->ik", A, B)
    >>> td.einsum("ii", A)          # the trace
    """
    operands = [as_expr(op) for op in operands]
    inputs, output = parse_spec(spec, [op.ndim for op in operands])
    letter_dim, letter_id = {}, {}
    for k, (term, op) in enumerate(zip(inputs, operands)):
        for position, ch in enumerate(term):
            dim = op.shape[position]
            if ch in letter_dim and letter_dim[ch] != dim:
                raise ShapeError(f"einsum {spec!r}: index {ch!r} is dim {letter_dim[ch]!r} elsewhere but dim "
                                 f"{dim!r} at axis {position} of operand {k}")
            letter_dim[ch] = dim
            letter_id.setdefault(ch, len(letter_id))
    dims = [letter_dim[ch] for ch in letter_id]
    subs = [tuple(letter_id[ch] for ch in term) for term in inputs]
    return einsum_node(1.0, operands, subs, tuple(letter_id[ch] for ch in output), dims)


def _axes(a, axis):
    if axis is None:
        return tuple(range(a.ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for ax in axes:
        if not isinstance(ax, int) or isinstance(ax, bool):
            raise ShapeError(f"sum: axis must be an int, a tuple of ints or None, got {axis!r}")
        if not -a.ndim <= ax < a.ndim:
            raise ShapeError(f"sum: axis {ax} is out of range for shape {format_dims(a.shape)}")
        result.append(ax % a.ndim)
    if len(set(result)) != len(result):
        raise ShapeError(f"sum: axis {axis!r} repeats an axis")
    return tuple(result)


def sum(a, axis=None):
    """Sum over ``axis`` (None: all, an int, or a tuple of ints), as numpy.

    >>> td.sum(X, axis=0)     # shape ('p',) for X of dims "n p"
    """
    a = as_expr(a)
    axes = _axes(a, axis)
    ids = tuple(range(a.ndim))
    return einsum_node(1.0, (a,), (ids,), tuple(i for i in ids if i not in axes), a.shape)


def trace(a):
    """Trace of a square matrix.

    >>> td.trace(A)
    """
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"trace needs a square matrix (d, d), got shape {format_dims(a.shape)}")
    return einsum_node(1.0, (a,), ((0, 0),), (), a.shape[:1])


def diag(v):
    """The diagonal matrix with vector ``v`` on its diagonal.

    >>> td.diag(td.vector("v", "n"))    # shape ('n', 'n')
    """
    v = as_expr(v)
    if v.ndim != 1:
        raise ShapeError(f"diag takes a vector, got shape {format_dims(v.shape)}; td.diagonal takes a matrix")
    return einsum_node(1.0, (v,), ((0,),), (0, 0), v.shape)


def diagonal(a):
    """The diagonal of a square matrix, as a vector.

    >>> td.diagonal(A)
    """
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"diagonal needs a square matrix (d, d), got shape {format_dims(a.shape)}")
    return einsum_node(1.0, (a,), ((0, 0),), (0,), a.shape[:1])


def outer(a, b):
    """Outer product: shape a.shape + b.shape.

    >>> td.outer(x, y)        # x[i] y[j]
    """
    a, b = as_expr(a), as_expr(b)
    ia = tuple(range(a.ndim))
    ib = tuple(range(a.ndim, a.ndim + b.ndim))
    return einsum_node(1.0, (a, b), (ia, ib), ia + ib, a.shape + b.shape)


def inv(a):
    """Matrix inverse of a square matrix (dims "d d").

    >>> td.inv(X.T @ X)
    """
    return inv_node(as_expr(a))


def solve(a, b):
    """The solution x of a @ x = b: inv(a) @ b, which evaluation runs as a linear solve.

    >>> td.solve(X.T @ X + lam * td.eye("p"), X.T @ y)     # ridge weights
    """
    return matmul(inv(a), b)


def matrix_power(a, k):
    """a @ a @ ... @ a (k factors) of a square matrix; k = 0 gives the identity, k < 0 powers of inv(a).

    >>> td.matrix_power(A, 3)
    """
    a = as_expr(a)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TensorDiffError(f"matrix_power takes an int power, got {k!r:.40}")
    if len(a.shape) != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"matrix_power needs a square matrix with dims (d, d), got {format_dims(a.shape)}")
    base, k = (inv(a), -int(k)) if k < 0 else (a, int(k))
    result, square = eye(a.shape[0]), base
    while k:   # by squaring: log2(k) products, each already simplified
        if k & 1:
            result = matmul(result, square)
        k >>= 1
        if k:
            square = matmul(square, square)
    return result


def det(a):
    """Determinant of a square matrix.

    >>> td.det(A)
    """
    return det_node(as_expr(a))


def logdet(a):
    """log |det a| of a square matrix (evaluated with slogdet).

    >>> td.logdet(W @ W.T + s**2 * td.eye("n"))
    """
    return logdet_node(as_expr(a))


def norm(a, ord=2):
    """The 2-norm of a vector, the Frobenius norm of a matrix (of any tensor: sqrt of sum of squares);
    ``ord=1`` gives the sum of absolute values instead.

    >>> import tensordiff as td
    >>> td.norm(td.vector("r", "n")).shape, td.norm(td.vector("r", "n"), ord=1).shape
    ((), ())
    """
    a = as_expr(a)
    if isinstance(ord, bool) or ord not in (1, 2):
        raise TensorDiffError(f"norm: ord must be 2 (the default: 2-norm, Frobenius for a matrix) or 1 (the sum of "
                              f"absolute values), got {ord!r:.40}")
    ids = tuple(range(a.ndim))
    if ord == 1:
        return einsum_node(1.0, (abs(a),), (ids,), (), a.shape)
    return constant_power(einsum_node(1.0, (a, a), (ids, ids), (), a.shape), 0.5)


exp = FUNCTIONS["exp"]
log = FUNCTIONS["log"]
log.__doc__ = """Elementwise natural logarithm.

    Outside its domain it follows numpy (IEEE 754), silently: log of a negative entry is nan,
    log(0) is -inf, and nan stays nan, in the value and in every derivative; nothing raises or
    warns, and the other entries are unaffected. Check with np.isfinite, or keep the argument
    positive (log(x*x + 1), logdet for log |det|).

    >>> td.log(x * x + 1)
    """
sin = FUNCTIONS["sin"]
cos = FUNCTIONS["cos"]
tanh = FUNCTIONS["tanh"]
sigmoid = FUNCTIONS["sigmoid"]
abs = FUNCTIONS["abs"]
relu = FUNCTIONS["relu"]
softplus = FUNCTIONS["softplus"]
softplus.__doc__ = """Elementwise log(1 + e^x), computed without overflow for large x; its derivative is sigmoid.

    >>> td.sum(td.softplus(-y * (X @ w)))      # the logistic loss
    """
log1p = FUNCTIONS["log1p"]
log1p.__doc__ = """Elementwise log(1 + x), accurate for small x.

    >>> td.log1p(x * x)
    """


def sqrt(a):
    """Elementwise square root (a ** 0.5).

    Outside its domain it follows numpy (IEEE 754), silently: sqrt of a negative entry is nan, and
    its derivative at 0 is inf; nan stays nan; nothing raises or warns (see td.log).

    >>> td.sqrt(x * x + 1)
    """
    return constant_power(a, 0.5)


# ---------------------------------------------------------------- numpy interplay

# numpy ufunc → the builder it means on expressions (np.divide is np.true_divide)
_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide, np.power: power,
    np.negative: negative, np.positive: as_expr, np.matmul: matmul,
    np.exp: exp, np.log: log, np.sin: sin, np.cos: cos, np.tanh: tanh, np.sqrt: sqrt, np.absolute: abs,
    np.square: lambda a: constant_power(a, 2.0), np.reciprocal: lambda a: constant_power(a, -1.0),
    np.log1p: log1p,
    np.less: less, np.less_equal: less_equal, np.greater: greater, np.greater_equal: greater_equal,
    np.maximum: maximum, np.minimum: minimum,
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


def _array_function(self, func, types, args, kwargs):
    """numpy functions other than ufuncs (np.sum, np.dot, ...) need arrays, which expressions are not."""
    name = func.__name__
    module = "np.linalg." if func.__module__ == "numpy.linalg" else "np."
    hint = f"build it with td.{name}, or " if name in __all__ else ""
    raise UnsupportedOperation(f"{module}{name} does not take tensordiff expressions: {hint}evaluate the expression "
                               "first (td.evaluate(e, **values))")


def _array(self, dtype=None, copy=None):
    raise UnsupportedOperation(f"a tensordiff expression of shape {format_dims(self.shape)} is not an array: "
                               "evaluate it first (td.evaluate(e, **values)), or use tensordiff's builders "
                               "(td.sum, td.exp, @, ...) on it")


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
    Expr.__abs__ = lambda self: abs(self)
    Expr.__neg__ = negative
    Expr.__pos__ = lambda self: self
    Expr.__lt__ = less
    Expr.__le__ = less_equal
    Expr.__gt__ = greater
    Expr.__ge__ = greater_equal
    Expr.__matmul__ = matmul
    Expr.__rmatmul__ = lambda self, other: matmul(other, self)
    Expr.T = property(T)
    Expr.__getitem__ = index
    Expr.__array_ufunc__ = _array_ufunc
    Expr.__array_function__ = _array_function
    Expr.__array__ = _array


_install_operators()
