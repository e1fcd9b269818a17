"""The user-facing builders: symbols, arithmetic, products, reductions, matrix functions.

Each checks dims and says which dims or operand are at fault, then hands over to the canonical
constructors of ``simplify``. Importing this module attaches the operators to ``Expr``.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import numpy as np

from .broadcasting import broadcast_shapes, broadcast_to
from .errors import ShapeError, TensorDiffError, UnsupportedOperation
from .expr import Expr, check_homonyms, symbol
from .functions import FUNCTIONS, power as constant_power
from .indices import format_dims, parse_dims, parse_spec
from .reductions import greater, greater_equal, less, less_equal, maximum, minimum
from .select import index
from .simplify import (add_node, as_expr, constant_value, det_node, einsum_node, hadamard,
                       inv_node, logdet_node, scale, transpose)
from .annotations import Axis, Dims, ExprLike

__all__ = ["tensor", "scalar", "vector", "matrix", "eye", "einsum", "sum", "trace", "diag", "solve", "matrix_power",
           "diagonal", "outer", "inv", "det", "logdet", "norm", "sqrt"]   # elementwise functions: functions.py
__all__ += ["broadcast_shapes", "broadcast_to"]


# ---------------------------------------------------------------- symbols

def tensor(name: str, dims: Dims, symmetric: bool = False) -> Expr:
    """A symbol of any order, with named dims.

    The dims are names; their sizes are bound only at evaluation, from the arrays passed for the
    symbols. Symbols are values: the same name, dims and kind give the same symbol; other dims a
    new one (so re-running a notebook cell works).

    Parameters
    ----------
    name : str
        The symbol's name, an identifier; evaluation binds the value passed under this name.
    dims : str or tuple of str
        The dim names, space-separated (``"i j k"``) or as a tuple; ``""`` or ``()`` is a scalar.
    symmetric : bool, optional
        Declare a symmetric matrix (two equal dims), as in ``td.matrix``.

    Returns
    -------
    Expr
        The symbol, of shape ``dims``.

    Raises
    ------
    ShapeError
        If ``name`` or a dim name is not an identifier.

    See Also
    --------
    scalar, vector, matrix : the same, for orders 0, 1 and 2.

    Examples
    --------
    >>> import tensordiff as td
    >>> T = td.tensor("T", "i j k")
    >>> T.shape
    ('i', 'j', 'k')
    >>> print(td.sum(T, axis=2))
    out[i,j] = Σ_k T[i,j,k]
    """
    return symbol(name, parse_dims(dims, f"dims of {name!r}"), symmetric)


def scalar(name: str) -> Expr:
    """A scalar symbol (a tensor with no dims).

    Parameters
    ----------
    name : str
        The symbol's name, an identifier.

    Returns
    -------
    Expr
        The symbol, of shape ``()``.

    Raises
    ------
    ShapeError
        If ``name`` is not an identifier.

    Examples
    --------
    >>> import tensordiff as td
    >>> lam = td.scalar("lam")
    >>> lam.shape
    ()
    >>> print(td.diff(lam ** 3, lam))
    out = 3 lam^2
    """
    return tensor(name, ())


def vector(name: str, dim: str) -> Expr:
    """A vector symbol with one dim.

    Parameters
    ----------
    name : str
        The symbol's name, an identifier.
    dim : str
        The name of its dim.

    Returns
    -------
    Expr
        The symbol, of shape ``(dim,)``.

    Raises
    ------
    ShapeError
        If ``dim`` is not exactly one dim name, or a name is not an identifier.

    Examples
    --------
    >>> import tensordiff as td
    >>> y = td.vector("y", "n")
    >>> y.shape
    ('n',)
    >>> print(td.grad(y @ y, y))
    out[i] = 2 y[i]
    """
    dims = parse_dims(dim, f"dims of {name!r}")
    if len(dims) != 1:
        raise ShapeError(f"vector {name!r} needs exactly one dim, got {format_dims(dims)}")
    return symbol(name, dims)


def matrix(name: str, dims: Dims, symmetric: bool = False) -> Expr:
    """A matrix symbol with two dims; ``symmetric=True`` declares S = Sᵀ (dims "d d").

    A symmetric symbol's transpose is itself, its values are checked to be symmetric, and the
    derivative with respect to it is the gradient on symmetric matrices, sym(G) = (G + Gᵀ)/2
    (docs/operations/shapes.md says why).

    Parameters
    ----------
    name : str
        The symbol's name, an identifier.
    dims : str or tuple of str
        Its two dim names (rows, columns), as ``"n p"`` or ``("n", "p")``; a square matrix repeats
        one name (``"n n"``).
    symmetric : bool, optional
        Declare a symmetric matrix (dims ``"d d"``): S.T is S, values are checked to be symmetric,
        and derivatives with respect to S are the symmetric gradient sym(G).

    Returns
    -------
    Expr
        The symbol, of shape ``dims``.

    Raises
    ------
    ShapeError
        If ``dims`` is not exactly two dim names, or a name is not an identifier.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> X.shape, X.T.shape
    (('n', 'p'), ('p', 'n'))
    >>> S = td.matrix("S", "n n", symmetric=True)
    >>> S.T is S
    True
    """
    dims = parse_dims(dims, f"dims of {name!r}")
    if len(dims) != 2:
        raise ShapeError(f"matrix {name!r} needs exactly two dims, got {format_dims(dims)}")
    return symbol(name, dims, symmetric)


def eye(dim: str) -> Expr:
    """The identity matrix over one dim.

    Parameters
    ----------
    dim : str
        The dim name; the identity has shape ``(dim, dim)`` and its size is that of ``dim`` at
        evaluation.

    Returns
    -------
    Expr
        The identity, a Kronecker delta δ[i,j]; it is never stored as a dense array.

    Raises
    ------
    ShapeError
        If ``dim`` is not one dim name.

    Examples
    --------
    >>> import tensordiff as td
    >>> I = td.eye("p")
    >>> I.shape
    ('p', 'p')
    >>> print(I)
    out[i,j] = δ[i,j]
    """
    dims = parse_dims(dim, "dim of eye")
    if len(dims) != 1:
        raise ShapeError(f"eye takes one dim name, got {dim!r}")
    return einsum_node(1.0, (), (), (0, 0), dims)


# ---------------------------------------------------------------- elementwise arithmetic

def _pair(a, b, op):
    """a and b broadcast to one shape, as numpy does: trailing axes aligned, dims matched by name.

    A dim is a name, not a length, so there are no size-1 axes: an operand broadcasts only along
    the leading axes it lacks, and two dims that differ where the axes align are a ShapeError.
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
    """Matrix product with numpy's rules for vectors: (m k)@(k n), (m k)@(k), (k)@(k n), (k)@(k)."""
    a, b = as_expr(a), as_expr(b)
    if a.free & b.free:
        check_homonyms(a, b)
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


def T(a: Expr) -> Expr:
    """Transpose of a matrix (a vector or scalar is returned unchanged)."""
    if a.ndim > 2:
        raise ShapeError(f".T is for order ≤ 2, got shape {format_dims(a.shape)}; use td.einsum to permute axes")
    return transpose(a, (1, 0)) if a.ndim == 2 else a


# ---------------------------------------------------------------- contractions and reductions

def einsum(spec: str, *operands: ExprLike) -> Expr:
    """A contraction written with numpy's einsum subscripts.

    The spec follows ``numpy.einsum``: an explicit output after ``->`` or the implicit one (the
    indices used once, in alphabetical order), repeated indices, and ``...`` for the remaining axes.
    An index must stand for one dim everywhere it appears.

    Parameters
    ----------
    spec : str
        The subscripts, such as ``"ij,jk->ik"``.
    *operands : Expr or number
        One operand per comma-separated term of ``spec``.

    Returns
    -------
    Expr
        The contraction; its shape is the dims of the output indices.

    Raises
    ------
    ParseError
        If ``spec`` is malformed or does not fit the operands' orders.
    ShapeError
        If one index stands for two different dims.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, B = td.matrix("A", "n k"), td.matrix("B", "k m")
    >>> print(td.einsum("ij,jk->ik", A, B))
    out[i,j] = Σ_k B[k,j] A[i,k]
    >>> print(td.einsum("ii", td.matrix("S", "n n")))     # the trace
    out = Σ_i S[i,i]
    """
    operands = [as_expr(op) for op in operands]
    check_homonyms(*operands)
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


def sum(a: ExprLike, axis: Axis = None) -> Expr:
    """Sum over some axes, or all of them, as ``numpy.sum``.

    Parameters
    ----------
    a : Expr or number
        The expression to sum.
    axis : None, int or tuple of int, optional
        The axes to sum over (negative ones count from the end); None, the default, sums all.

    Returns
    -------
    Expr
        The sum, with the summed axes removed.

    Raises
    ------
    ShapeError
        If an axis is out of range, repeated, or not an int.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> td.sum(X, axis=0).shape
    ('p',)
    >>> print(td.sum(X))
    out = Σ_ij X[i,j]
    """
    a = as_expr(a)
    axes = _axes(a, axis)
    ids = tuple(range(a.ndim))
    return einsum_node(1.0, (a,), (ids,), tuple(i for i in ids if i not in axes), a.shape)


def trace(a: Expr) -> Expr:
    """Trace of a square matrix.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).

    Returns
    -------
    Expr
        The scalar Σ_i a[i,i].

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix.

    Examples
    --------
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> print(td.trace(A))
    out = Σ_i A[i,i]
    >>> print(td.grad(td.trace(A @ A), A))
    out[i,j] = 2 A[j,i]
    """
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"trace needs a square matrix (d, d), got shape {format_dims(a.shape)}")
    return einsum_node(1.0, (a,), ((0, 0),), (), a.shape[:1])


def diag(v: Expr) -> Expr:
    """The diagonal matrix with a vector on its diagonal.

    Parameters
    ----------
    v : Expr
        A vector of dim ``n``.

    Returns
    -------
    Expr
        The matrix v[i] δ[i,j], of shape ``(n, n)``.

    Raises
    ------
    ShapeError
        If ``v`` is not a vector (``td.diagonal`` takes a matrix's diagonal).

    Examples
    --------
    >>> import tensordiff as td
    >>> D = td.diag(td.vector("v", "n"))
    >>> D.shape
    ('n', 'n')
    >>> print(D)
    out[i,j] = v[i] δ[i,j]
    """
    v = as_expr(v)
    if v.ndim != 1:
        raise ShapeError(f"diag takes a vector, got shape {format_dims(v.shape)}; td.diagonal takes a matrix")
    return einsum_node(1.0, (v,), ((0,),), (0, 0), v.shape)


def diagonal(a: Expr) -> Expr:
    """The diagonal of a square matrix, as a vector.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).

    Returns
    -------
    Expr
        The vector a[i,i], of shape ``(d,)``.

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix.

    Examples
    --------
    >>> import tensordiff as td
    >>> print(td.diagonal(td.matrix("A", "n n")))
    out[i] = A[i,i]
    """
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"diagonal needs a square matrix (d, d), got shape {format_dims(a.shape)}")
    return einsum_node(1.0, (a,), ((0, 0),), (0,), a.shape[:1])


def outer(a: ExprLike, b: ExprLike) -> Expr:
    """Outer product of two expressions of any order.

    Parameters
    ----------
    a, b : Expr or number
        The factors.

    Returns
    -------
    Expr
        a[I] b[J], of shape ``a.shape + b.shape``.

    Examples
    --------
    >>> import tensordiff as td
    >>> x, y = td.vector("x", "n"), td.vector("y", "m")
    >>> td.outer(x, y).shape
    ('n', 'm')
    >>> print(td.outer(x, y))
    out[i,j] = y[j] x[i]
    """
    a, b = as_expr(a), as_expr(b)
    check_homonyms(a, b)
    ia = tuple(range(a.ndim))
    ib = tuple(range(a.ndim, a.ndim + b.ndim))
    return einsum_node(1.0, (a, b), (ia, ib), ia + ib, a.shape + b.shape)


def inv(a: Expr) -> Expr:
    """Inverse of a square matrix.

    Evaluation raises for a singular matrix unless ``singular="nan"`` is asked for (see
    ``td.compile``). Where an inverse is only applied to something, evaluation runs a linear solve
    instead of forming it.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).

    Returns
    -------
    Expr
        inv(a), of the same shape.

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> td.evaluate(td.inv(A), A=np.diag([2.0, 4.0]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    >>> td.inv(td.inv(A)) is A
    True
    """
    return inv_node(as_expr(a))


def solve(a: Expr, b: Expr) -> Expr:
    """The solution x of a @ x = b.

    This is ``inv(a) @ b`` as an expression (so it differentiates like one), and evaluation runs it
    as a linear solve without forming the inverse.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).
    b : Expr
        A vector or matrix whose first dim is ``d``.

    Returns
    -------
    Expr
        The solution, of shape ``b.shape``.

    Raises
    ------
    ShapeError
        If ``a`` is not square or its dims do not match ``b``'s first dim.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    >>> w = td.solve(X.T @ X + lam * td.eye("p"), X.T @ y)     # ridge weights
    >>> w.shape
    ('p',)
    """
    return matmul(inv(a), b)


def matrix_power(a: Expr, k: int) -> Expr:
    """An integer power of a square matrix: a @ a @ ... @ a (k factors).

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).
    k : int
        The power; 0 gives the identity, a negative power is a power of ``inv(a)``.

    Returns
    -------
    Expr
        The power, of shape ``a.shape``, built by repeated squaring.

    Raises
    ------
    TensorDiffError
        If ``k`` is not an int.
    ShapeError
        If ``a`` is not a square matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> print(td.matrix_power(A, 3))
    out[i,j] = Σ_kl A[i,k] A[l,j] A[k,l]
    >>> td.evaluate(td.matrix_power(A, -1), A=np.diag([2.0, 4.0]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
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


def det(a: Expr) -> Expr:
    """Determinant of a square matrix.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).

    Returns
    -------
    Expr
        The scalar det(a).

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix.

    See Also
    --------
    logdet : log |det a|, better conditioned for large matrices.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> A = td.matrix("A", "n n")
    >>> float(td.evaluate(td.det(A), A=np.array([[2.0, 1.0], [0.0, 3.0]])))
    6.0
    >>> print(td.grad(td.det(A), A))
    out[i,j] = inv(A)[j,i] det(A)
    """
    return det_node(as_expr(a))


def logdet(a: Expr) -> Expr:
    """log |det a| of a square matrix, evaluated with ``slogdet``.

    Evaluation raises for a singular matrix unless ``singular="nan"`` is asked for, which gives -inf.

    Parameters
    ----------
    a : Expr
        A square matrix (dims ``"d d"``).

    Returns
    -------
    Expr
        The scalar log |det a|.

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix.

    Examples
    --------
    >>> import tensordiff as td
    >>> W, s = td.matrix("W", "n m"), td.scalar("s")
    >>> A = td.logdet(W @ W.T + s**2 * td.eye("n"))
    >>> print(td.matrix_notation(td.grad(A, W)))
    2*inv(s^2*eye + W*W')*W
    """
    return logdet_node(as_expr(a))


def norm(a: ExprLike, ord: Literal[1, 2] = 2) -> Expr:
    """The 2-norm of a vector, the Frobenius norm of a matrix: the square root of the sum of squares.

    ``ord=1`` gives the sum of absolute values instead.

    Parameters
    ----------
    a : Expr or number
        A tensor of any order.
    ord : {2, 1}, optional
        2 (default): sqrt(Σ a[I]²); 1: Σ |a[I]|.

    Returns
    -------
    Expr
        The scalar norm.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> x = td.vector("x", "n")
    >>> float(td.evaluate(td.norm(x), x=np.array([3.0, 4.0])))
    5.0
    >>> print(td.norm(x))
    out = sqrt(Σ_i x[i] x[i])
    >>> float(td.evaluate(td.norm(x, ord=1), x=np.array([3.0, -4.0])))
    7.0
    """
    a = as_expr(a)
    if isinstance(ord, bool) or ord not in (1, 2):
        raise TensorDiffError(f"norm: ord must be 2 (the default: 2-norm, Frobenius for a matrix) or 1 (the sum of "
                              f"absolute values), got {ord!r:.40}")
    ids = tuple(range(a.ndim))
    if ord == 1:
        return einsum_node(1.0, (abs(a),), (ids,), (), a.shape)
    return constant_power(einsum_node(1.0, (a, a), (ids, ids), (), a.shape), 0.5)


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


# ---------------------------------------------------------------- numpy interplay

# numpy ufunc → the builder it means on expressions (np.divide is np.true_divide)
_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: divide, np.power: power,
    np.negative: negative, np.positive: as_expr, np.matmul: matmul,
    np.sqrt: sqrt, np.square: lambda a: constant_power(a, 2.0), np.reciprocal: lambda a: constant_power(a, -1.0),
    **{fn.ufunc: fn for fn in FUNCTIONS.values() if fn.ufunc is not None},   # np.exp → td.exp, ...
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
    hint = f"build it with td.{name}, or " if name in __all__ or name in FUNCTIONS else ""
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
    Expr.__getitem__ = index
    Expr.__array_ufunc__ = _array_ufunc
    Expr.__array_function__ = _array_function
    Expr.__array__ = _array


_install_operators()
