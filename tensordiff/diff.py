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
order-5 Tikhonov Hessian costs a few hundred einsum constructions.
"""

import numbers

from .errors import ShapeError, TensorDiffError
from .expr import Add, Apply, Det, Einsum, Inv, LogDet, Select, Var, make, topological
from .indices import format_dims
from .simplify import add_node, as_expr, einsum_node, inv_node, is_zero, substitute, terms_of, zeros

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

# A derivative with more terms than this is used as one (sum) operand instead of being
# distributed over the product: distributing everything swells deep chains quadratically.
MAX_DISTRIBUTED_TERMS = 12


def _product_rule(coeff, operands, subs, out, dims, k, d_k, new):
    """Terms of coeff·einsum(...) with operand k replaced by the terms of its derivative d_k."""
    result = []
    terms = terms_of(d_k)
    if len(terms) > MAX_DISTRIBUTED_TERMS:
        terms = (d_k,)
    for term in terms:
        ops = operands[:k] + (term,) + operands[k + 1:]
        sub = subs[:k] + (subs[k] + new,) + subs[k + 1:]
        result.append(einsum_node(coeff, ops, sub, out, dims))
    return result


def _var_rule(node, d, wrt):
    ids = tuple(range(len(wrt.dims)))
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


RULES = {
    Var: _var_rule,
    Einsum: _einsum_rule,
    Add: _add_rule,
    Apply: _apply_rule,
    Inv: _inv_rule,
    Det: _det_rule,
    LogDet: _logdet_rule,
    Select: lambda node, d, wrt: zeros(node.shape + wrt.dims),  # a constant 0/1 selection
}


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


def diff(expr, wrt, order=1, direction=None):
    """Derivative of ``expr`` with respect to the symbol ``wrt``, ``order`` times.

    The result's shape is ``expr.shape`` followed by ``wrt.shape`` once per order. With a
    ``direction`` V (an expression of ``wrt``'s shape) each order is contracted with V instead,
    symbolically, so the result keeps ``expr.shape`` and costs about what ``expr`` costs.

    >>> J = td.diff(td.inv(X.T @ X) @ X.T @ y, X)      # shape ('p', 'n', 'p')
    >>> td.diff(f, W, direction=V)                      # the directional derivative, shape f.shape
    """
    expr = as_expr(expr)
    _check_wrt(wrt)
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
    return expr if given is None else substitute(expr, {direction: given})


def _contract_trailing(d, v):
    """Σ_J d[I, J] v[J] over the trailing axes J that match v."""
    k, m = len(d.shape) - len(v.shape), len(v.shape)
    ids = tuple(range(k + m))
    # term by term, so v merges into each flat product and its deltas unify away
    return add_node([einsum_node(1.0, (t, v), (ids, ids[k:]), ids[:k], d.shape) for t in terms_of(d)],
                    d.shape[:k])


def jvp(f, wrt, v):
    """Jacobian-vector product Σ_J ∂f[I]/∂wrt[J] v[J] (shape f.shape), built symbolically.

    >>> td.jvp(td.tanh(X @ W), W, V)
    """
    _need_direction(v, "jvp")
    return diff(f, wrt, direction=v)


def vjp(f, wrt, u):
    """Vector-Jacobian product Σ_I u[I] ∂f[I]/∂wrt[J] (shape wrt.shape), built symbolically.

    >>> td.vjp(td.tanh(X @ W), W, U)
    """
    f, u = as_expr(f), as_expr(u)
    if u.shape != f.shape:
        raise ShapeError(f"vjp: u has shape {format_dims(u.shape)} but f has shape {format_dims(f.shape)}")
    d = diff(f, wrt)
    k, m = len(f.shape), len(wrt.shape)
    ids = tuple(range(k + m))
    return add_node([einsum_node(1.0, (u, t), (ids[:k], ids), ids[k:], d.shape) for t in terms_of(d)],
                    d.shape[k:])


def hvp(f, wrt, v):
    """Hessian-vector product of a scalar f: Σ_J H[I, J] v[J] (shape wrt.shape), never forming H.

    >>> td.hvp(td.norm(td.tanh(X @ W) @ a - y) ** 2, W, V)
    """
    _need_direction(v, "hvp")
    return diff(grad(f, wrt), wrt, direction=v)


def _need_direction(v, what):
    if v is None:
        raise TensorDiffError(f"{what} needs a direction v (an expression of wrt's shape), got None; "
                              "td.diff(f, wrt) gives the whole derivative")


def jacobian(expr, wrt):
    """The Jacobian ∂expr/∂wrt, shape expr.shape + wrt.shape (same as ``diff(expr, wrt)``).

    >>> td.jacobian(A @ x, x)        # A
    """
    return diff(expr, wrt)


def _scalar_only(f, what):
    f = as_expr(f)
    if f.shape != ():
        raise ShapeError(f"{what} needs a scalar expression, got shape {format_dims(f.shape)}; use td.diff or td.jacobian")


def grad(f, wrt):
    """Gradient of a scalar ``f``: shape ``wrt.shape``.

    >>> td.grad(td.logdet(X.T @ X), X)
    """
    _scalar_only(f, "grad")
    return diff(f, wrt)


def hessian(f, wrt):
    """Hessian of a scalar ``f``: shape ``wrt.shape + wrt.shape``.

    >>> td.hessian(td.sum(td.tanh(X @ w) ** 2), w)
    """
    _scalar_only(f, "hessian")
    return diff(f, wrt, order=2)
