"""Contractions and their special cases: ``einsum``, ``sum``, ``trace``, ``diag``, ``diagonal``, ``outer``.

Each is one einsum node over its operands (simplify's ``einsum_node``), after checking that every
index stands for one dim and that axes exist; the errors name the spec, axis or shape at fault.
"""

from __future__ import annotations

from .errors import ShapeError
from .symboltable import check_homonyms
from .indices import format_dims, parse_spec
from .einsumnodes import einsum_node
from .reductionaxes import keeping_dims, reduced_axes
from .simplify import as_expr
from .annotations import Axis, ExprLike
from .expr import Expr

__all__ = ["einsum", "sum", "trace", "diag", "diagonal", "outer"]


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


def sum(a: ExprLike, axis: Axis = None, keepdims: bool = False) -> Expr:
    """Sum over some axes, or all of them, as ``numpy.sum``.

    Parameters
    ----------
    a : Expr or number
        The expression to sum.
    axis : None, int or tuple of int, optional
        The axes to sum over (negative ones count from the end); None, the default, sums all.
    keepdims : bool, optional
        If True, each summed axis stays as a length-1 axis (dim "1"), which broadcasts against
        ``a``, as numpy's keepdims (default False).

    Returns
    -------
    Expr
        The sum, with the summed axes removed (or of length 1, with ``keepdims=True``).

    Raises
    ------
    ShapeError
        If an axis is out of range, repeated, or not an int, or keepdims is not a bool.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> td.sum(X, axis=0).shape
    ('p',)
    >>> print(td.sum(X))
    out = Σ_ij X[i,j]
    >>> td.sum(X, axis=1, keepdims=True).shape
    ('n', '1')
    """
    a = as_expr(a)
    axes = reduced_axes(a, axis, "sum")
    ids = tuple(range(a.ndim))
    return keeping_dims(einsum_node(1.0, (a,), (ids,), tuple(i for i in ids if i not in axes), a.shape), axes,
                        keepdims, "sum")


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
