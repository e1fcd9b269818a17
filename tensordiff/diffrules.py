"""The derivative rules: one index rule per node type, in the table ``RULES``, applied in forward
mode over the shared graph.

``derivative(e, X)`` is ∂e/∂X with shape e.shape + X.shape. Every rule returns a sum of einsum
terms whose operands are nodes of the original graph (or their elementwise derivatives): the
derivative of an operand is merged into the product that uses it, so the deltas ∂X/∂X creates
unify indices and disappear wherever an index is summed, and no intermediate derivative tensor
(shape node.shape + X.shape) is ever materialised.

Why forward mode: symbolically both modes visit each node once, but forward mode keeps every
term as one flat product over primal nodes that opt_einsum can then order freely; reverse mode
would need transposition rules per node and yields the same terms after merging. ``td.diff``
(differentiate.py) applies this pass once per order.
"""

from __future__ import annotations

from .errors import TensorDiffError
from .composite import Embed, Merge, Reinterpret
from .expr import Add, Apply, Cholesky, Det, Einsum, Inv, LogDet, Pinv, Select, Var, topological
from .reductionnodes import Compare, CumSum, Diff, LogSumExp, Max, Maximum, Softmax, Triangle, Where
from .spectralnodes import EigVals, EigVecs
from .expr import without_cycle_collection
from .functions import power
from .constantnodes import zeros
from .einsumnodes import einsum_node, expand_axes, scale
from .simplify import (compare_node, diff_node, eigvals_node, eigvecs_node, inv_node, max_node, softmax_node,
                       triangle)
from .branchderivatives import where_of_derivatives
from .sumnodes import add_node, terms_of

__all__ = ["RULES", "derivative", "MAX_DISTRIBUTED_OPERANDS"]


def _fresh(node, wrt):
    """Ids for the new wrt axes of a node's derivative, and the extended dims and output."""
    n = len(node.dims)
    new = tuple(range(n, n + len(wrt.dims)))
    return new, node.dims + wrt.dims, node.out + new


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


def _along_rule(node, d, wrt):
    # cumsum and diff are linear along their axis: ∂f(u)[..i..] = Σ_j M[i,j] ∂u[..j..] with M the lower
    # triangle of ones [j ≤ i] or the difference matrix diff(I) (-1 at j = i, 1 at j = i + 1). A
    # product, not f(∂u): its deltas cancel, and later contractions reach past it (a Hessian never
    # forms f of a second derivative's full tensor)
    n, axis, dim = node.ndim, node.axes[0], node.arg.shape[node.axes[0]]
    matrix = triangle(dim, dim, 0, True) if isinstance(node, CumSum) else \
        diff_node(einsum_node(1.0, (), (), (0, 0), (dim,)), 0)
    ids, new = tuple(range(n)), tuple(range(n + 1, n + 1 + wrt.ndim))
    summed = ids[:axis] + (n,) + ids[axis + 1:]
    terms = _product_rule(1.0, (matrix, None), ((axis, n), summed), ids + new, node.shape + (dim,) + wrt.dims, 1,
                          d(node.arg), new)
    return add_node(terms, node.shape + wrt.dims)


def _where_rule(node, d, wrt):
    # through the chosen branch only: where(m, ∂a, ∂b), never m ∂a + (1 - m) ∂b (0·inf is nan)
    return where_of_derivatives(node.mask, d(node.a), d(node.b))


def _maximum_rule(node, d, wrt):
    # ∂a where a > b, ∂b where a < b, and (∂a + ∂b)/2 at a tie (as JAX splits it)
    shape = node.shape + wrt.dims
    da, db = d(node.a), d(node.b)
    tie = scale(add_node([da, db], shape), 0.5)
    below = where_of_derivatives(compare_node("<", node.a, node.b), db, tie)
    return where_of_derivatives(compare_node(">", node.a, node.b), da, below)


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


# ∂P = -P ∂A P + P Pᵀ ∂Aᵀ (I - A P) + (I - P A) ∂Aᵀ Pᵀ P for P = pinv(A) of locally constant rank
# (Golub & Pereyra 1973), one product per term: (coeff, operands with the ∂A slot None, subscripts).
# Even indices run over P's rows (A's columns), odd ones over P's columns; the result is [0, 1].
_PINV_TERMS = (
    (-1.0, ("P", None, "P"), ((0, 3), (3, 2), (2, 1))),
    (1.0, ("P", "P", None), ((0, 3), (2, 3), (1, 2))),
    (-1.0, ("P", "P", None, "A", "P"), ((0, 3), (2, 3), (5, 2), (5, 4), (4, 1))),
    (1.0, (None, "P", "P"), ((3, 0), (2, 3), (2, 1))),
    (-1.0, ("P", "A", None, "P", "P"), ((0, 3), (3, 2), (5, 2), (4, 5), (4, 1))),
)


def _pinv_rule(node, d, wrt):
    cols, rows = node.shape   # A's columns and rows
    da, named = d(node.arg), {"P": node, "A": node.arg}
    terms = []
    for coeff, operands, subs in _PINV_TERMS:
        used = 1 + max(max(sub) for sub in subs)
        new = tuple(range(used, used + wrt.ndim))
        dims = tuple(cols if i % 2 == 0 else rows for i in range(used)) + wrt.dims
        terms += _product_rule(coeff, tuple(None if o is None else named[o] for o in operands), subs, (0, 1) + new,
                               dims, operands.index(None), da, new)
    return add_node(terms, node.shape + wrt.dims)


def _eigvals_rule(node, d, wrt):
    # ∂λ[k] = Σ_ij V[i,k] ∂A[i,j] V[j,k]: A symmetric, λ_k simple
    dim, (k, i, j) = node.shape[0], range(3)
    vectors, new = eigvecs_node(node.arg), tuple(range(3, 3 + wrt.ndim))
    terms = _product_rule(1.0, (vectors, None, vectors), ((i, k), (i, j), (j, k)), (k,) + new, (dim,) * 3 + wrt.dims,
                          1, d(node.arg), new)
    return add_node(terms, node.shape + wrt.dims)


def _eigvecs_rule(node, d, wrt):
    # ∂V[i,k] = Σ_j V[i,j] F[j,k] Σ_ab V[a,j] ∂A[a,b] V[b,k], F[j,k] = 1/(λ_k - λ_j) off the diagonal and 0 on
    # it (each column keeps unit length); F = (D + I)⁻¹ - I elementwise, D[j,k] = λ_k - λ_j, has no 1/0
    dim, (i, k, j, a, b) = node.shape[0], range(5)
    values, identity = eigvals_node(node.arg), einsum_node(1.0, (), (), (0, 0), (dim, ))
    gaps = add_node([einsum_node(1.0, (values,), ((1,),), (0, 1), (dim, dim)),
                     einsum_node(-1.0, (values,), ((0,),), (0, 1), (dim, dim)), identity])
    reciprocals = add_node([power(gaps, -1.0), scale(identity, -1.0)])
    new = tuple(range(5, 5 + wrt.ndim))
    terms = _product_rule(1.0, (node, reciprocals, node, None, node), ((i, j), (j, k), (a, j), (a, b), (b, k)),
                          (i, k) + new, (dim,) * 5 + wrt.dims, 3, d(node.arg), new)
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
    CumSum: _along_rule,
    Diff: _along_rule,
    Where: _where_rule,
    Maximum: _maximum_rule,
    Cholesky: _cholesky_rule,
    Pinv: _pinv_rule,
    EigVals: _eigvals_rule,
    EigVecs: _eigvecs_rule,
    Compare: _constant_rule,    # piecewise constant: derivative 0 wherever it exists
    Triangle: _constant_rule,
    Merge: _constant_rule,         # the 0/1 constants of vec, kron, reshape and concatenate (composite.py)
    Embed: _constant_rule,
    Reinterpret: _constant_rule,
}


@without_cycle_collection()   # a deep program allocates millions of containers and no cycles
def derivative(expr, wrt):
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
