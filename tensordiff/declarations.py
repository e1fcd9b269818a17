"""Symbols and constants: ``tensor``, ``scalar``, ``vector``, ``matrix``, the identity ``eye``, and
``ones`` and ``zeros``.

A symbol is a named tensor whose dims are names; sizes bind only at evaluation, from the arrays
passed under the symbols' names. The same name, dims and kind give the same (interned) symbol.
"""

from __future__ import annotations

from .errors import ShapeError
from .symboltable import symbol
from .indices import format_dims, parse_dims
from .constantnodes import constant, zeros as zeros_node
from .einsumnodes import einsum_node
from .annotations import Dims
from .expr import Expr

__all__ = ["tensor", "scalar", "vector", "matrix", "eye", "ones", "zeros"]


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


def ones(dims: Dims) -> Expr:
    """The all-ones tensor over ``dims`` (a space-separated string or a tuple of dim names).

    Parameters
    ----------
    dims : str or tuple of str
        Dim names, e.g. ``"n p"``; sizes bind at evaluation.

    Returns
    -------
    Expr
        A constant tensor of ones.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.ones("n p").shape
    ('n', 'p')
    """
    return constant(1.0, parse_dims(dims, "dims of ones"))


def zeros(dims: Dims) -> Expr:
    """The all-zeros tensor over ``dims``.

    Parameters
    ----------
    dims : str or tuple of str
        Dim names, e.g. ``"n p"``; sizes bind at evaluation.

    Returns
    -------
    Expr
        A constant tensor of zeros.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.zeros("n").shape
    ('n',)
    """
    return zeros_node(parse_dims(dims, "dims of zeros"))
