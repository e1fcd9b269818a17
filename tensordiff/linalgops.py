"""Linear algebra on expressions: ``inv``, ``pinv``, ``solve``, ``matrix_power``, ``det``, ``logdet``,
``norm``, and the symmetric eigendecomposition ``eigh``/``eigvalsh``.

The inverse, pseudo-inverse, determinant and log-determinant are nodes of their own (simplify's
``inv_node``, ``pinv_node``, ``det_node``, ``logdet_node``), so that evaluation can solve instead of inverting and use
``slogdet``; ``solve`` and ``matrix_power`` are built from them and matrix products.
"""

from __future__ import annotations

import numbers
from collections import namedtuple
from typing import Literal

from .arithmetic import matmul
from .errors import ShapeError, TensorDiffError
from .functions import power as constant_power
from .indices import format_dims
from .einsumnodes import einsum_node, is_symmetric, scale, transpose
from .sumnodes import add_node
from .simplify import as_expr, det_node, eigvals_node, eigvecs_node, inv_node, logdet_node, pinv_node
from .declarations import eye
from .annotations import ExprLike
from .expr import Expr
from .reductionaxes import operand_text

__all__ = ["inv", "pinv", "eigh", "eigvalsh", "EighResult", "solve", "matrix_power", "det", "logdet", "norm"]


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


def pinv(a: Expr) -> Expr:
    """The Moore–Penrose pseudo-inverse of a matrix, as ``np.linalg.pinv`` computes it.

    Its derivative is that of a matrix whose rank does not change nearby (Golub and Pereyra 1973):
    with P = pinv(A), ∂P = -P ∂A P + P Pᵀ ∂Aᵀ (I - A P) + (I - P A) ∂Aᵀ Pᵀ P. That holds wherever
    A has full rank (tall, wide or square), and for a rank-deficient A along directions that keep
    its rank (A = X Yᵀ with X and Y of full column rank); where the rank jumps, the pseudo-inverse
    is not differentiable. Values are numpy's (singular values below its cutoff count as zero),
    and torch's, jax's and cupy's pinv on those backends.

    Parameters
    ----------
    a : Expr
        A matrix, dims ``"m n"``.

    Returns
    -------
    Expr
        pinv(a), dims ``"n m"``.

    Raises
    ------
    ShapeError
        If ``a`` is not a matrix (a vector or a tensor of order 3 or more).

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> w = td.pinv(X) @ y                        # least squares
    >>> w.shape
    ('p',)
    >>> print(td.matrix_notation(td.diff(w, y)))
    pinv(X)
    >>> td.pinv(td.pinv(X)) is X
    True
    """
    a = as_expr(a)
    if a.ndim != 2:
        raise ShapeError(f"pinv needs a matrix with dims (m, n), got shape {format_dims(a.shape)}: "
                         f"{operand_text(a)}")
    return pinv_node(a)


EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])   # numpy's names, and a pair


def _symmetric_part(a, what):
    a = as_expr(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"{what} needs a square matrix with dims (d, d), got shape {format_dims(a.shape)}: "
                         f"{operand_text(a)}")
    return a if is_symmetric(a) else scale(add_node([a, transpose(a, (1, 0))]), 0.5)


def eigh(a: Expr) -> EighResult:
    """The eigenvalues (ascending) and orthonormal eigenvectors of a symmetric matrix, as
    ``np.linalg.eigh``: ``w, V = td.eigh(A)`` with ``A = V diag(w) Vᵀ``.

    Like ``td.cholesky``, it decomposes the symmetric part (a + aᵀ)/2, so a general matrix has
    honest derivatives in every direction (numpy reads one triangle instead; for a symmetric
    value both agree). The derivatives are those of simple eigenvalues: ∂λ_k = v_kᵀ ∂A v_k, and
    ∂v_k = Σ_{l≠k} v_l (v_lᵀ ∂A v_k) / (λ_k - λ_l), which keeps each v_k of unit length (jax's
    convention). Where two eigenvalues coincide the eigenvectors are not differentiable, and
    their derivatives are infinite; functions of the eigenvalues alone (sums, the largest, log of
    the product) have the derivatives of any simple ones. An eigenvector's sign is LAPACK's (as
    numpy's): a function that depends on it is not differentiable, and a derivative of
    ``v_k v_kᵀ`` or of the eigenvalues is.

    Parameters
    ----------
    a : Expr
        A symmetric matrix, dims ``"d d"``.

    Returns
    -------
    EighResult
        (eigenvalues, eigenvectors): dims (d,) and (d, d), the k-th column the k-th eigenvector.

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix with one dim twice.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> S = td.matrix("S", "n n", symmetric=True)
    >>> w, V = td.eigh(S)
    >>> td.evaluate(w, S=np.diag([3.0, 1.0]))
    array([1., 3.])
    >>> g = td.diff(w[-1], S)           # the largest eigenvalue's gradient: v vᵀ
    >>> print(g)
    t1[i,j] = eigvecs(S)[i,j]
    out[i,j] = t1[i,-1] t1[j,-1]
    """
    a = _symmetric_part(a, "eigh")
    return EighResult(eigvals_node(a), eigvecs_node(a))


def eigvalsh(a: Expr) -> Expr:
    """The eigenvalues of a symmetric matrix, ascending, as ``np.linalg.eigvalsh``: ``td.eigh(a)[0]``.

    Parameters
    ----------
    a : Expr
        A symmetric matrix, dims ``"d d"`` (a general one is read as its symmetric part).

    Returns
    -------
    Expr
        The eigenvalues, dims (d,), with the derivatives of simple eigenvalues (``td.eigh``).

    Raises
    ------
    ShapeError
        If ``a`` is not a square matrix with one dim twice.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> S = td.matrix("S", "n n", symmetric=True)
    >>> float(td.evaluate(td.sum(td.log(td.eigvalsh(S))), S=np.diag([2.0, 0.5])))   # logdet
    0.0
    """
    return eigvals_node(_symmetric_part(a, "eigvalsh"))


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

