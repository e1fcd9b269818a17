"""``td.diff``: the derivative of an expression to any order, with respect to one symbol or several,
or along a direction.

Each order applies the pass of the rules table (diffrules.py) again to the (already simplified)
derivative, memoised per pass, so the order-5 Tikhonov Hessian costs a few hundred einsum
constructions. From order 3 on, each pass keeps one term per orbit of the slot permutations and
the result is their mean (symmetry.py); in one scalar, every node's derivatives of every order are
built once and shared instead (taylor.py). With several symbols, each multiset of them is derived
once and the other orderings are its blocks transposed; along a direction, each order is
contracted with it term by term, so no Jacobian is formed.
"""

from __future__ import annotations

import itertools
import numbers
from typing import TYPE_CHECKING, Any, Optional, Union, overload

from .diffrules import RULES, derivative
from .dimsizes import remember_origin
from .errors import ShapeError, TensorDiffError
from .expr import Einsum, Var, make, topological
from .reductionnodes import Where
from .symboltable import check_homonyms
from .indices import format_dims
from .constantnodes import is_zero, zeros
from .einsumnodes import einsum_node, transpose
from .simplify import as_expr, substitute, where_node
from .sumnodes import add_node, terms_of
from .symmetry import orbit_terms, symmetrize
from .taylor import scalar_derivative
from .annotations import Directions, ExprLike, Symbols, Wrt
from .expr import Expr

if TYPE_CHECKING:
    from typing_extensions import TypeIs

__all__ = ["diff", "check_wrt", "several", "wrt_list", "MAX_AXES", "MAX_ORDER", "MAX_SHARED_ORDER"]


# numpy's limit on the number of axes of an array: a derivative with more could never be evaluated.
MAX_AXES = 64

# Each order is one symbolic pass over a growing expression: far past this, a derivative takes
# hours to build and its coefficients (n! for most functions) leave float64's range anyway.
# Derivatives that become zero (polynomials) stop early, at any order.
MAX_ORDER = 1000

# Up to this order a derivative in one scalar shares its lower orders (taylor.py). Its binomial
# coefficients C(k, j) stay exact integers in float64 there, so terms that cancel symbolically (the
# 2^(k/2) of sin(x) e^x's k-th derivative from sums of C(k, j) ~ 2^k) cancel exactly; far above, the
# order-by-order derivative, which collects its coefficients at every order, is the accurate one.
MAX_SHARED_ORDER = 24


def check_wrt(wrt):
    if not isinstance(wrt, Var):
        raise TensorDiffError(f"can only differentiate with respect to a symbol (td.tensor/matrix/...), "
                              f"got {type(wrt).__name__}")


def several(wrt: object) -> TypeIs[Union[list[Any], tuple[Any, ...]]]:
    return isinstance(wrt, (list, tuple))


def wrt_list(wrt):
    if not wrt:
        raise TensorDiffError("differentiate with respect to at least one symbol: got an empty list")
    for w in wrt:
        check_wrt(w)
    return tuple(wrt)


def _diff_several(expr, wrt, order, direction):
    """Nested tuples, ``order`` deep: entry [i][j]... is ∂^order expr/∂wrt[i]∂wrt[j]..., as jax nests them."""
    wrts = wrt_list(wrt)
    if direction is not None:
        raise TensorDiffError("diff with several symbols takes no direction=: td.jvp(f, [X, y], [V, v]) is the "
                              "derivative along a direction in all of them, td.hvp(f, [X, y], [V, v]) the "
                              "Hessian's product with it")
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 0:
        raise TensorDiffError(f"order must be a non-negative int, got {order!r}")
    expr = as_expr(expr)
    check_homonyms(expr, *wrts)

    # mixed partials commute: each multiset of symbols is derived once, in the symbols' order, and
    # every other ordering of it is that block with its slots transposed (Hyx = Hxyᵀ)
    derived = {}

    def sorted_block(key):
        if not key:
            return expr
        if key not in derived:   # the last run of one symbol in one diff call: its slots by orbit
            run = len(tuple(itertools.takewhile(lambda i: i == key[-1], reversed(key))))
            derived[key] = diff(sorted_block(key[:-run]), wrts[key[-1]], order=run)
        return derived[key]

    def nested(key, depth):
        return block(key) if depth == 0 else tuple(nested(key + (i,), depth - 1) for i in range(len(wrts)))

    def block(key):
        order_of = sorted(range(len(key)), key=lambda q: key[q])
        offsets, start = {}, expr.ndim
        for q in order_of:
            offsets[q], start = start, start + wrts[key[q]].ndim
        perm = tuple(range(expr.ndim)) + tuple(offsets[q] + a for q in range(len(key))
                                               for a in range(wrts[key[q]].ndim))
        return transpose(sorted_block(tuple(sorted(key))), perm)
    return nested((), int(order))


@overload
def diff(expr: ExprLike, wrt: Expr, order: int = 1, direction: Optional[Directions] = None) -> Expr: ...
@overload
def diff(expr: ExprLike, wrt: Symbols, order: int = 1, direction: Optional[Directions] = None) -> tuple[Any, ...]: ...
def diff(expr: ExprLike, wrt: Wrt, order: int = 1, direction: Optional[Directions] = None) -> Union[Expr, tuple[Any, ...]]:
    """Derivative of an expression with respect to a symbol, to any order.

    The derivative of an expression of shape S with respect to a symbol of shape W is the expression
    ∂expr[S]/∂wrt[W] of shape S + W; each further order appends W again. With a ``direction`` V (an
    expression of ``wrt``'s shape) each order is contracted with V instead, symbolically, so the
    result keeps ``expr.shape`` and costs about what ``expr`` costs.

    With a list of symbols ``[X, y]`` the result is a tuple in that order, one derivative each;
    at order k, nested tuples k deep whose entry ``[i][j]...`` is the mixed derivative with respect to
    ``wrt[i]``, then ``wrt[j]``, ... (shape expr.shape + wrt[i].shape + wrt[j].shape + ...), as
    ``jax.jacfwd(..., argnums=(0, 1))`` nests them. Shared work is shared: the results are built
    from one interned graph, so ``td.compile`` of them all computes each subexpression once.

    Parameters
    ----------
    expr : Expr or number
        The expression to differentiate.
    wrt : Expr or list of Expr
        The symbol (made by ``td.tensor``, ``td.matrix``, ...) to differentiate with respect to, or
        a list of symbols (the result is then a tuple, nested ``order`` deep).
    order : int, optional
        How many times to differentiate (default 1; 0 returns ``expr``).
    direction : Expr, optional
        A direction of ``wrt``'s shape: the result is then the directional derivative
        Σ_J ∂ᵏexpr[I]/∂wrt[J1]...∂wrt[Jk] V[J1]...V[Jk], of shape ``expr.shape``.

    Returns
    -------
    Expr
        The derivative, simplified.

    Raises
    ------
    TensorDiffError
        If ``wrt`` is not a symbol, ``order`` is not a non-negative int, or the order is beyond
        the limit for derivatives that do not vanish.
    ShapeError
        If ``direction`` does not have ``wrt``'s shape, or the result would have more axes than an
        array can (64).

    See Also
    --------
    grad, hessian, jacobian, jvp, vjp, hvp

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> w = td.inv(X.T @ X) @ X.T @ y
    >>> td.diff(w, X).shape
    ('p', 'n', 'p')
    >>> td.diff(w, X, order=2).shape
    ('p', 'n', 'p', 'n', 'p')
    >>> x = td.scalar("x")
    >>> print(td.diff(td.exp(2 * x), x, order=3))
    out = 8 exp(2 x)
    >>> V = td.matrix("V", "n p")
    >>> td.diff(w, X, direction=V).shape        # the directional derivative
    ('p',)
    >>> dX, dy = td.diff(td.sum(X.T @ y), [X, y])    # several symbols: a tuple
    >>> dX.shape, dy.shape
    (('n', 'p'), ('n',))
    """
    if several(wrt):
        return _diff_several(expr, wrt, order, direction)
    expr = as_expr(expr)
    # td.cost and program.explain take sizes of the dims a derivative lost (dimsizes.py)
    return remember_origin(_diff_one(expr, wrt, order, direction), expr, wrt)


def _diff_one(expr, wrt, order, direction):
    check_wrt(wrt)
    check_homonyms(expr, wrt)
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 0:
        raise TensorDiffError(f"order must be a non-negative int, got {order!r}")
    order = int(order)
    if direction is not None:
        direction = as_expr(direction)
        if direction.shape != wrt.shape:
            raise ShapeError(f"direction has shape {format_dims(direction.shape)} but {wrt.name!r} has dims "
                             f"{format_dims(wrt.shape)}")
    given = None
    if direction is not None and order > 1 and wrt in topological([direction]):
        # each order contracts with V and differentiates again, which must not differentiate V:
        # a stand-in symbol (a name no user symbol can have) takes V's place until the end
        given, direction = direction, make(Var, f"direction for {wrt.name}", wrt.shape)
    axes = expr.ndim + (0 if direction is not None else order * wrt.ndim)
    if axes > MAX_AXES:
        raise ShapeError(f"the order-{order} derivative of an expression of shape {format_dims(expr.shape)} with "
                         f"respect to {wrt.name!r} {format_dims(wrt.shape)} would have {axes} axes; arrays have at "
                         f"most {MAX_AXES} (use direction= for directional derivatives)")
    if direction is None and not wrt.shape and 1 < order <= MAX_SHARED_ORDER:
        # in one scalar every order's derivative of every node is built once and shared (taylor.py)
        return scalar_derivative(expr, wrt, order, RULES)
    # the slots of the k-th derivative commute: one term per orbit of slot permutations, then their mean
    # (symmetry.py), so the terms grow with the orbits, not with k! orderings of them. A Hessian keeps
    # its plain form: its orbits hold two terms at most, and its printed forms are the textbook's.
    lead, by_orbit = expr.ndim, direction is None and order > 2 and wrt.ndim > 0
    for done in range(order):
        if is_zero(expr):  # every further derivative is zero too: no need to take them one by one
            extra = () if direction is not None or not wrt.shape else wrt.shape * (order - done)
            return zeros(expr.shape + extra)
        if done == MAX_ORDER:
            raise TensorDiffError(f"order {order} is above the limit of {MAX_ORDER} derivatives (of an expression "
                                  "whose derivatives do not vanish)")
        expr = derivative(expr, wrt)
        if direction is not None:
            expr = _contract_trailing(expr, direction)
        elif by_orbit:
            expr = orbit_terms(expr, lead, wrt.ndim, done + 1)
    if by_orbit:
        expr = symmetrize(expr, lead, wrt.ndim, order)
    return expr if given is None else substitute(expr, {direction: given})


def _contract_trailing(d, v):
    """Σ_J d[I, J] v[J] over the trailing axes J that match v."""
    k, m = len(d.shape) - len(v.shape), len(v.shape)
    ids = tuple(range(k + m))
    # term by term, so v merges into each flat product and its deltas unify away
    terms = [_contract_where(t, v) for t in terms_of(d)]
    return add_node([einsum_node(1.0, (t, v), (ids, ids[k:]), ids[:k], d.shape) if c is None else c
                     for t, c in zip(terms_of(d), terms)], d.shape[:k])


def _contract_where(term, v):
    """Σ_J where(m[I], a[I,J], b[I,J]) v[J] = where(m[I], Σ_J a v, Σ_J b v) when the mask does not vary
    along J (as where's and maximum's rules build it), so no Jacobian is formed; else None."""
    if not isinstance(term, Where):
        return None
    k = term.ndim - v.ndim
    mask = term.mask
    if isinstance(mask, Einsum) and len(mask.operands) == 1 and mask.coeff == 1.0 and mask.out[:k] == mask.subscripts[0] \
            and len(set(mask.out)) == len(mask.out) == len(mask.dims):
        mask = mask.operands[0]
    if mask.shape != term.shape[:k]:
        return None
    return where_node(mask, _contract_trailing(term.a, v), _contract_trailing(term.b, v))
