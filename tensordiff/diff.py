"""Differentiation: one index rule per node type, applied in forward mode over the shared graph.

``_derivative(e, X)`` is ∂e/∂X with shape e.shape + X.shape. Every rule returns a sum of einsum
terms whose operands are nodes of the original graph (or their elementwise derivatives): the
derivative of an operand is merged into the product that uses it, so the deltas ∂X/∂X creates
unify indices and disappear wherever an index is summed, and no intermediate derivative tensor
(shape node.shape + X.shape) is ever materialised.

Why forward mode: symbolically both modes visit each node once, but forward mode keeps every
term as one flat product over primal nodes that opt_einsum can then order freely; reverse mode
would need transposition rules per node and yields the same terms after merging. Higher orders
apply the same pass again to the (already simplified) derivative, memoised per pass, so the
order-5 Tikhonov Hessian costs a few hundred einsum constructions. From order 3 on, each pass keeps
one term per orbit of the slot permutations and the result is their mean (symmetry.py); in one
scalar, every node's derivatives of every order are built once and shared instead (taylor.py).
"""

from __future__ import annotations

import itertools
import numbers
from typing import TYPE_CHECKING, Any, Optional, Union, overload

from .errors import ShapeError, TensorDiffError
from .composite import Embed, Merge, Reinterpret
from .expr import (Add, Apply, Cholesky, Compare, Det, Einsum, Inv, LogDet, LogSumExp, Max, Maximum, Select, Softmax,
                   Triangle, Var, Where, check_homonyms, make, topological)
from .expr import without_cycle_collection
from .functions import power
from .indices import format_dims
from .simplify import (add_node, as_expr, broadcast_to, compare_node, einsum_node, expand_axes, inv_node, is_zero,
                       max_node, scale, softmax_node, substitute, terms_of, transpose, triangle, where_node, zeros)
from .symmetry import orbit_terms, symmetrize
from .taylor import scalar_derivative
from .annotations import Directions, ExprLike, Symbols, Wrt
from .expr import Expr

if TYPE_CHECKING:
    from typing_extensions import TypeIs

__all__ = ["diff", "grad", "hessian", "jacobian", "jvp", "vjp", "hvp"]


def _fresh(node, wrt):
    """Ids for the new wrt axes of a node's derivative, and the extended dims and output."""
    n = len(node.dims)
    new = tuple(range(n, n + len(wrt.dims)))
    return new, node.dims + wrt.dims, node.out + new


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

# A derivative whose terms hold more operands than this in all is used as one (sum) operand instead
# of being distributed over the product: distributing everything swells deep chains quadratically,
# as each term is the product of all the slopes before it (a chain of depth d would build d terms of
# up to d operands per operation). Counting operands, not terms, still distributes the few short
# terms whose merging cancels or collects (3 det(X³) inv(X)' from det(X X X)).
MAX_DISTRIBUTED_OPERANDS = 12


def _distributed_size(terms):
    return sum(len(term.operands) if isinstance(term, Einsum) else 1 for term in terms)


def _product_rule(coeff, operands, subs, out, dims, k, d_k, new):
    """Terms of coeff·einsum(...) with operand k replaced by the terms of its derivative d_k."""
    result = []
    terms = terms_of(d_k)
    if len(terms) > 1 and _distributed_size(terms) > MAX_DISTRIBUTED_OPERANDS:
        terms = (d_k,)
    for term in terms:
        ops = operands[:k] + (term,) + operands[k + 1:]
        sub = subs[:k] + (subs[k] + new,) + subs[k + 1:]
        result.append(einsum_node(coeff, ops, sub, out, dims))
    return result


def _var_rule(node, d, wrt):
    ids = tuple(range(len(wrt.dims)))
    if wrt.symmetric:
        # ∂S[a,b]/∂S[c,d] = (δac δbd + δad δbc)/2: each S slot of a derivative is sym(G) = (G + Gᵀ)/2,
        # the gradient on symmetric matrices under ⟨A, B⟩ = tr(AᵀB) (docs/operations/shapes.md)
        return add_node([einsum_node(0.5, (), (), (0, 1, 0, 1), wrt.dims),
                         einsum_node(0.5, (), (), (0, 1, 1, 0), wrt.dims)], wrt.dims * 2)
    return einsum_node(1.0, (), (), ids + ids, wrt.dims)


def _einsum_rule(node, d, wrt):
    new, dims, out = _fresh(node, wrt)
    terms = []
    for k, op in enumerate(node.operands):
        if wrt.name in op.free:
            terms += _product_rule(node.coeff, node.operands, node.subscripts, out, dims, k, d(op), new)
    return add_node(terms, node.shape + wrt.dims)


def _add_rule(node, d, wrt):
    return add_node([d(t) for t in node.terms], node.shape + wrt.dims)


def _apply_rule(node, d, wrt):
    ids = tuple(range(len(node.shape)))
    new = tuple(range(len(ids), len(ids) + len(wrt.dims)))
    slope = node.fn.derivative(node.arg)
    terms = _product_rule(1.0, (slope, None), (ids, ids), ids + new, node.shape + wrt.dims, 1, d(node.arg), new)
    return add_node(terms, node.shape + wrt.dims)


def _inv_rule(node, d, wrt):
    # ∂inv(A)[a,b] = -inv(A)[a,i] ∂A[i,j] inv(A)[j,b]          (Matrix Cookbook eq. 59)
    dim = node.shape[0]
    a, b, i, j = 0, 1, 2, 3
    new = tuple(range(4, 4 + len(wrt.dims)))
    ops = (node, None, node)
    subs = ((a, i), (i, j), (j, b))
    terms = _product_rule(-1.0, ops, subs, (a, b) + new, (dim,) * 4 + wrt.dims, 1, d(node.arg), new)
    return add_node(terms, node.shape + wrt.dims)


def _det_rule(node, d, wrt):
    # ∂det(A) = det(A) inv(A)[j,i] ∂A[i,j]                    (Matrix Cookbook eq. 49)
    dim = node.arg.shape[0]
    new = tuple(range(2, 2 + len(wrt.dims)))
    inv_a = inv_node(node.arg)
    ops = (node, inv_a, None)
    terms = _product_rule(1.0, ops, ((), (1, 0), (0, 1)), new, (dim, dim) + wrt.dims, 2, d(node.arg), new)
    return add_node(terms, wrt.dims)


def _logdet_rule(node, d, wrt):
    # ∂log|det A| = inv(A)[j,i] ∂A[i,j]                       (Matrix Cookbook eq. 57)
    dim = node.arg.shape[0]
    new = tuple(range(2, 2 + len(wrt.dims)))
    ops = (inv_node(node.arg), None)
    terms = _product_rule(1.0, ops, ((1, 0), (0, 1)), new, (dim, dim) + wrt.dims, 1, d(node.arg), new)
    return add_node(terms, wrt.dims)


def _tie_share(arg, axes):
    """1/(number of ties) where an entry of ``arg`` is the max along ``axes``, else 0 (piecewise constant)."""
    mask = compare_node("==", arg, expand_axes(max_node(arg, axes), arg.shape, axes))
    ids = tuple(range(arg.ndim))
    count = einsum_node(1.0, (mask,), (ids,), tuple(i for i in ids if i not in axes), arg.shape)
    return einsum_node(1.0, (mask, power(count, -1.0)), (ids, tuple(i for i in ids if i not in axes)), ids, arg.shape)


def _along_axes_rule(share):
    """Σ_axes share(arg)[I] ∂arg[I]: the rule of a reduction whose gradient is ``share``."""
    def rule(node, d, wrt):
        arg = node.arg
        ids = tuple(range(arg.ndim))
        new = tuple(range(arg.ndim, arg.ndim + wrt.ndim))
        kept = tuple(i for i in ids if i not in node.axes)
        terms = _product_rule(1.0, (share(node), None), (ids, ids), kept + new, arg.shape + wrt.dims, 1, d(arg), new)
        return add_node(terms, node.shape + wrt.dims)
    return rule


def _softmax_rule(node, d, wrt):
    # ∂s[I] = s[I] ∂x[I] - s[I] Σ_{I'} s[I'] ∂x[I'], I' running over the softmax axes of I
    arg, n = node.arg, node.arg.ndim
    ids = tuple(range(n))
    primed = {axis: n + k for k, axis in enumerate(node.axes)}
    other = tuple(primed.get(i, i) for i in ids)
    new = tuple(range(n + len(primed), n + len(primed) + wrt.ndim))
    dims = arg.shape + tuple(arg.shape[axis] for axis in node.axes) + wrt.dims
    dx, own = d(arg), tuple(range(n, n + wrt.ndim))
    terms = _product_rule(1.0, (node, None), (ids, ids), ids + own, arg.shape + wrt.dims, 1, dx, own)
    terms += _product_rule(-1.0, (node, node, None), (ids, other, other), ids + new, dims, 2, dx, new)
    return add_node(terms, node.shape + wrt.dims)


def _where_rule(node, d, wrt):
    # through the chosen branch only: where(m, ∂a, ∂b), never m ∂a + (1 - m) ∂b (0·inf is nan)
    mask = broadcast_to(node.mask, node.shape + wrt.dims)
    return where_node(mask, d(node.a), d(node.b))


def _maximum_rule(node, d, wrt):
    # ∂a where a > b, ∂b where a < b, and (∂a + ∂b)/2 at a tie (as JAX splits it)
    shape = node.shape + wrt.dims
    da, db = d(node.a), d(node.b)
    tie = scale(add_node([da, db], shape), 0.5)
    below = where_node(broadcast_to(compare_node("<", node.a, node.b), shape), db, tie)
    return where_node(broadcast_to(compare_node(">", node.a, node.b), shape), da, below)


def _cholesky_rule(node, d, wrt):
    # ∂L = L Φ(L⁻¹ ∂A L⁻ᵀ), Φ: the strictly lower triangle plus half the diagonal (A symmetric)
    dim = node.shape[0]
    a, b, c, e, f = range(5)
    new = tuple(range(5, 5 + wrt.ndim))
    dims = (dim,) * 5 + wrt.dims
    out = (a, b) + new
    lower, l_inv, da = triangle(dim, dim, -1, True), inv_node(node), d(node.arg)
    terms = _product_rule(1.0, (node, lower, l_inv, None, l_inv), ((a, c), (c, b), (c, e), (e, f), (b, f)),
                          out, dims, 3, da, new)
    a, b, e, f = range(4)   # the half diagonal: ½ L[a,b] (L⁻¹ ∂A L⁻ᵀ)[b,b]
    new = tuple(range(4, 4 + wrt.ndim))
    terms += _product_rule(0.5, (node, l_inv, None, l_inv), ((a, b), (b, e), (e, f), (b, f)), (a, b) + new,
                           (dim,) * 4 + wrt.dims, 2, da, new)
    return add_node(terms, node.shape + wrt.dims)


def _constant_rule(node, d, wrt):
    return zeros(node.shape + wrt.dims)


RULES = {
    Var: _var_rule,
    Einsum: _einsum_rule,
    Add: _add_rule,
    Apply: _apply_rule,
    Inv: _inv_rule,
    Det: _det_rule,
    LogDet: _logdet_rule,
    Select: lambda node, d, wrt: zeros(node.shape + wrt.dims),  # a constant 0/1 selection
    Max: _along_axes_rule(lambda node: _tie_share(node.arg, node.axes)),   # ties share the slope equally
    LogSumExp: _along_axes_rule(lambda node: softmax_node(node.arg, node.axes)),
    Softmax: _softmax_rule,
    Where: _where_rule,
    Maximum: _maximum_rule,
    Cholesky: _cholesky_rule,
    Compare: _constant_rule,    # piecewise constant: derivative 0 wherever it exists
    Triangle: _constant_rule,
    Merge: _constant_rule,         # the 0/1 constants of vec, kron, reshape and concatenate (composite.py)
    Embed: _constant_rule,
    Reinterpret: _constant_rule,
}


@without_cycle_collection()   # a deep program allocates millions of containers and no cycles
def _derivative(expr, wrt):
    memo = {}

    def d(node):
        return memo[node]

    for node in topological([expr]):
        if wrt.name not in node.free:
            memo[node] = zeros(node.shape + wrt.dims)
        elif isinstance(node, Var):
            memo[node] = _var_rule(node, d, wrt)
        else:
            rule = RULES.get(type(node))
            if rule is None:
                raise TensorDiffError(f"no derivative rule for node type {type(node).__name__}")
            memo[node] = rule(node, d, wrt)
    return memo[expr]


def _check_wrt(wrt):
    if not isinstance(wrt, Var):
        raise TensorDiffError(f"can only differentiate with respect to a symbol (td.tensor/matrix/...), "
                              f"got {type(wrt).__name__}")


def _several(wrt: object) -> TypeIs[Union[list[Any], tuple[Any, ...]]]:
    return isinstance(wrt, (list, tuple))


def _wrt_list(wrt):
    if not wrt:
        raise TensorDiffError("differentiate with respect to at least one symbol: got an empty list")
    for w in wrt:
        _check_wrt(w)
    return tuple(wrt)


def _diff_several(expr, wrt, order, direction):
    """Nested tuples, ``order`` deep: entry [i][j]... is ∂^order expr/∂wrt[i]∂wrt[j]..., as jax nests them."""
    wrts = _wrt_list(wrt)
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
    if _several(wrt):
        return _diff_several(expr, wrt, order, direction)
    expr = as_expr(expr)
    _check_wrt(wrt)
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
        expr = _derivative(expr, wrt)
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
    if _several(wrt):
        wrts, vs = _wrt_list(wrt), _directions(v, wrt, "jvp")
        f = as_expr(f)
        return add_node([diff(f, w, direction=d) for w, d in zip(wrts, vs)], f.shape)
    _need_direction(v, "jvp")
    return diff(f, wrt, direction=v)


def _directions(v, wrt, what):
    """The directions for several symbols: one expression each, in their order."""
    if not _several(v) or len(v) != len(wrt):
        raise TensorDiffError(f"{what} with {len(wrt)} symbols needs a list of {len(wrt)} directions, one of each "
                              f"symbol's shape, got {type(v).__name__}" + (f" of {len(v)}" if _several(v) else ""))
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
    if _several(wrt):
        return tuple(vjp(f, w, u) for w in _wrt_list(wrt))
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
    if _several(wrt):
        wrts, vs = _wrt_list(wrt), _directions(v, wrt, "hvp")
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
