"""The derivative functions of the public API: ``td.diff`` and the forms built on it.

``diff`` (differentiate.py) takes a derivative to any order, with respect to one symbol or
several, or along a direction, by the table of rules in diffrules.py. Here are its named forms:
``grad`` and ``jacobian`` (order 1), ``hessian`` (order 2), and the products ``jvp``, ``vjp`` and
``hvp``, which contract the derivative with a direction symbolically, so that no Jacobian or
Hessian is formed. The rules table and the limits are re-exported under this module's name.
"""

from __future__ import annotations

from typing import Union, overload

from .differentiate import diff, several, wrt_list
# read under this module's name by tests and docs (tensordiff.diff.RULES, diff.MAX_ORDER, ...)
from .differentiate import MAX_AXES, MAX_ORDER, MAX_SHARED_ORDER  # noqa: F401
from .diffrules import MAX_DISTRIBUTED_OPERANDS, RULES  # noqa: F401
from .errors import ShapeError, TensorDiffError
from .indices import format_dims
from .einsumnodes import einsum_node
from .simplify import as_expr
from .sumnodes import add_node, terms_of
from .annotations import Directions, ExprLike, Symbols, Wrt
from .expr import Expr

__all__ = ["diff", "grad", "hessian", "jacobian", "jvp", "vjp", "hvp"]


def jvp(f: ExprLike, wrt: Wrt, v: Directions) -> Expr:
    """Jacobian-vector product, built symbolically: Σ_J ∂f[I]/∂wrt[J] v[J].

    With lists ``wrt = [X, y]`` and ``v = [V, u]`` it is the derivative along the direction in all
    of them, Σ_k ∂f/∂wrt[k]·v[k] (one expression, as ``jax.jvp`` gives one tangent).

    The same as ``td.diff(f, wrt, direction=v)``; the Jacobian is never formed.

    Parameters
    ----------
    f : Expr
        The expression to differentiate.
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.
    v : Expr
        The tangent, of ``wrt``'s shape.

    Returns
    -------
    Expr
        The product, of shape ``f.shape``.

    Raises
    ------
    TensorDiffError
        If ``v`` is None or ``wrt`` is not a symbol.
    ShapeError
        If ``v`` does not have ``wrt``'s shape.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, W, V = td.matrix("X", "n d"), td.matrix("W", "d k"), td.matrix("V", "d k")
    >>> td.jvp(td.tanh(X @ W), W, V).shape
    ('n', 'k')
    """
    if several(wrt):
        wrts, vs = wrt_list(wrt), _directions(v, wrt, "jvp")
        f = as_expr(f)
        return add_node([diff(f, w, direction=d) for w, d in zip(wrts, vs)], f.shape)
    _need_direction(v, "jvp")
    return diff(f, wrt, direction=v)


def _directions(v, wrt, what):
    """The directions for several symbols: one expression each, in their order."""
    if not several(v) or len(v) != len(wrt):
        raise TensorDiffError(f"{what} with {len(wrt)} symbols needs a list of {len(wrt)} directions, one of each "
                              f"symbol's shape, got {type(v).__name__}" + (f" of {len(v)}" if several(v) else ""))
    for d in v:
        _need_direction(d, what)
    return tuple(as_expr(d) for d in v)


@overload
def vjp(f: ExprLike, wrt: Expr, u: ExprLike) -> Expr: ...
@overload
def vjp(f: ExprLike, wrt: Symbols, u: ExprLike) -> tuple[Expr, ...]: ...
def vjp(f: ExprLike, wrt: Wrt, u: ExprLike) -> Union[Expr, tuple[Expr, ...]]:
    """Vector-Jacobian product, built symbolically: Σ_I u[I] ∂f[I]/∂wrt[J].

    With a list ``wrt = [X, y]`` it is a tuple, one product per symbol in that order (as the
    function ``jax.vjp`` returns gives one cotangent per input).

    Parameters
    ----------
    f : Expr
        The expression to differentiate.
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.
    u : Expr
        The cotangent, of ``f``'s shape.

    Returns
    -------
    Expr
        The product, of shape ``wrt.shape``.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol.
    ShapeError
        If ``u`` does not have ``f``'s shape.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, W, U = td.matrix("X", "n d"), td.matrix("W", "d k"), td.matrix("U", "n k")
    >>> td.vjp(td.tanh(X @ W), W, U).shape
    ('d', 'k')
    """
    if several(wrt):
        return tuple(vjp(f, w, u) for w in wrt_list(wrt))
    f, u = as_expr(f), as_expr(u)
    if u.shape != f.shape:
        raise ShapeError(f"vjp: u has shape {format_dims(u.shape)} but f has shape {format_dims(f.shape)}")
    d = diff(f, wrt)
    k, m = len(f.shape), len(wrt.shape)
    ids = tuple(range(k + m))
    return add_node([einsum_node(1.0, (u, t), (ids[:k], ids), ids[k:], d.shape) for t in terms_of(d)],
                    d.shape[k:])


@overload
def hvp(f: ExprLike, wrt: Expr, v: ExprLike) -> Expr: ...
@overload
def hvp(f: ExprLike, wrt: Symbols, v: Union[list[ExprLike], tuple[ExprLike, ...]]) -> tuple[Expr, ...]: ...
def hvp(f: ExprLike, wrt: Wrt, v: Directions) -> Union[Expr, tuple[Expr, ...]]:
    """Hessian-vector product of a scalar: Σ_J H[I, J] v[J], never forming the Hessian H.

    With lists ``wrt = [x, y]`` and ``v = [u, w]`` it is a tuple whose entry i is
    Σ_j ∂²f/∂wrt[i]∂wrt[j]·v[j] (shape wrt[i].shape): the Hessian's blocks times the stacked direction.

    It is the directional derivative of the gradient, so it costs about what ``f`` costs.

    Parameters
    ----------
    f : Expr
        A scalar expression.
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.
    v : Expr
        The direction, of ``wrt``'s shape.

    Returns
    -------
    Expr
        The product, of shape ``wrt.shape``.

    Raises
    ------
    TensorDiffError
        If ``v`` is None or ``wrt`` is not a symbol.
    ShapeError
        If ``f`` is not a scalar or ``v`` does not have ``wrt``'s shape.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X, W, V = td.matrix("X", "n d"), td.matrix("W", "d k"), td.matrix("V", "d k")
    >>> a, y = td.vector("a", "k"), td.vector("y", "n")
    >>> f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    >>> Hv = td.hvp(f, W, V)
    >>> Hv.shape
    ('d', 'k')
    >>> rng = np.random.default_rng(0)
    >>> values = dict(X=rng.normal(size=(5, 3)), W=rng.normal(size=(3, 2)), V=rng.normal(size=(3, 2)),
    ...               a=rng.normal(size=2), y=rng.normal(size=5))
    >>> H = td.evaluate(td.hessian(f, W), **values)
    >>> np.allclose(td.evaluate(Hv, **values), np.einsum("ijkl,kl->ij", H, values["V"]))
    True
    """
    _scalar_only(f, "hvp")
    if several(wrt):
        wrts, vs = wrt_list(wrt), _directions(v, wrt, "hvp")
        return tuple(jvp(grad(f, w), wrts, vs) for w in wrts)
    _need_direction(v, "hvp")
    return diff(grad(f, wrt), wrt, direction=v)


def _need_direction(v, what):
    if v is None:
        raise TensorDiffError(f"{what} needs a direction v (an expression of wrt's shape), got None; "
                              "td.diff(f, wrt) gives the whole derivative")


@overload
def jacobian(expr: ExprLike, wrt: Expr) -> Expr: ...
@overload
def jacobian(expr: ExprLike, wrt: Symbols) -> tuple[Expr, ...]: ...
def jacobian(expr: ExprLike, wrt: Wrt) -> Union[Expr, tuple[Expr, ...]]:
    """The Jacobian ∂expr/∂wrt, the same as ``td.diff(expr, wrt)``.

    With a list of symbols, a tuple of Jacobians in that order.

    Parameters
    ----------
    expr : Expr or number
        The expression to differentiate.
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.

    Returns
    -------
    Expr
        The Jacobian, of shape ``expr.shape + wrt.shape``.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, x = td.matrix("A", "m n"), td.vector("x", "n")
    >>> print(td.jacobian(A @ x, x))
    out[i,j] = A[i,j]
    """
    return diff(expr, wrt)


def _scalar_only(f, what):
    f = as_expr(f)
    if f.shape != ():
        raise ShapeError(f"{what} needs a scalar expression, got shape {format_dims(f.shape)}; use td.diff or td.jacobian")


@overload
def grad(f: ExprLike, wrt: Expr) -> Expr: ...
@overload
def grad(f: ExprLike, wrt: Symbols) -> tuple[Expr, ...]: ...
def grad(f: ExprLike, wrt: Wrt) -> Union[Expr, tuple[Expr, ...]]:
    """Gradient of a scalar expression.

    With a list of symbols, a tuple of gradients in that order. For a symmetric symbol S it is the
    gradient on symmetric matrices, sym(G) = (G + Gᵀ)/2.

    Parameters
    ----------
    f : Expr
        A scalar expression.
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.

    Returns
    -------
    Expr
        The gradient ∂f/∂wrt, of shape ``wrt.shape``.

    Raises
    ------
    ShapeError
        If ``f`` is not a scalar (``td.diff`` or ``td.jacobian`` take any shape).
    TensorDiffError
        If ``wrt`` is not a symbol.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "n p")
    >>> print(td.matrix_notation(td.grad(td.logdet(X.T @ X), X)))
    2*X*inv(X'*X)
    """
    _scalar_only(f, "grad")
    return diff(f, wrt)


@overload
def hessian(f: ExprLike, wrt: Expr) -> Expr: ...
@overload
def hessian(f: ExprLike, wrt: Symbols) -> tuple[tuple[Expr, ...], ...]: ...
def hessian(f: ExprLike, wrt: Wrt) -> Union[Expr, tuple[tuple[Expr, ...], ...]]:
    """The Hessian ∂²f/∂wrt∂wrt, the same as ``td.diff(f, wrt, order=2)``.

    For an ``f`` that is not a scalar it has ``f``'s axes first, then ``wrt``'s twice, as
    ``jax.hessian`` gives it (and as ``td.jacobian`` puts ``f``'s axes first). With a list [x, y],
    the blocks as nested tuples ((Hxx, Hxy), (Hyx, Hyy)), Hxy of shape f.shape + x.shape + y.shape,
    as ``jax.hessian(f, argnums=(0, 1))`` gives them.

    Parameters
    ----------
    f : Expr or number
        The expression, of any shape (a scalar for the usual Hessian).
    wrt : Expr or list of Expr
        The symbol to differentiate with respect to.

    Returns
    -------
    Expr
        The Hessian, of shape ``f.shape + wrt.shape + wrt.shape``.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol.

    See Also
    --------
    hvp : the Hessian of a scalar applied to a direction, without forming it.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, x = td.matrix("A", "n n"), td.vector("x", "n")
    >>> print(td.hessian(x @ A @ x, x))
    out[i,j] = A[i,j] + A[j,i]
    >>> X = td.matrix("X", "n p")
    >>> td.hessian(td.sum(td.tanh(X) ** 2), X).shape
    ('n', 'p', 'n', 'p')
    >>> w = td.vector("w", "p")
    >>> td.hessian(td.tanh(X @ w), w).shape   # a vector function: its axes first
    ('n', 'p', 'p')
    """
    return diff(f, wrt, order=2)
