"""High-order derivatives in one scalar, sharing the lower orders (Taylor mode).

``scalar_derivative(expr, t, k)`` is dᵏexpr/dtᵏ for a scalar symbol t. Differentiating k times with
the first-order rules expands every product again at every order (the derivatives of inv(K(t)) were
re-expanded into chains, about 8 times more terms per order for a Gaussian-process likelihood).
Here every node's derivatives of each order j ≤ k are nodes of their own, built once and reused
(memoised by node and order), as Taylor-mode AD propagates coefficients (jax.experimental.jet):

    product     Dᵏ(A·B)    = Σ_j C(k, j) Dʲ A · Dᵏ⁻ʲ B           (Leibniz; an einsum of several operands
                                                                   is split into its first operand
                                                                   that depends on t and the rest)
    function    Dᵏ f(u)    = Σ_{j<k} C(k-1, j) Dʲ f'(u) · Dᵏ⁻ʲ u    (f'(u) a node: its derivatives are shared)
    inverse     Dᵏ inv(A)  = -Σ_{j<k} C(k, j) Dʲ inv(A) · Dᵏ⁻ʲ A · inv(A)     (from inv(A) A = I)
    logdet      Dᵏ logdet A = Σ_{j<k} C(k-1, j) tr(Dʲ inv(A) · Dᵏ⁻ʲ A)
    det         Dᵏ det A   = Σ_{j<k} C(k-1, j) Dʲ det A · Dᵏ⁻ʲ logdet A

Every other node type takes its first derivative from ``diff.RULES`` and differentiates that
expression k - 1 more times, by these same rules. A scalar derivative keeps the shape of the node,
so each term is a product of a few shared nodes and the k-th derivative has O(k²) nodes per node
of the expression, not exponentially many.
"""

import math

from .errors import TensorDiffError
from .expr import Add, Apply, Det, Einsum, Inv, LogDet, Var, topological
from .constantnodes import constant, is_zero, zeros
from .einsumnodes import einsum_node, einsum_on
from .simplify import inv_node, logdet_node
from .sumnodes import add_node

__all__ = ["scalar_derivative"]


def scalar_derivative(expr, wrt, order, first_rules):
    """dᵒʳᵈᵉʳ expr / d wrtᵒʳᵈᵉʳ for a scalar symbol ``wrt``; ``first_rules`` is diff.RULES (a node
    type's first derivative, used for the node types without a rule of their own here)."""
    return _Taylor(wrt, first_rules).derivative(expr, order)


class _Taylor:
    def __init__(self, wrt, first_rules):
        self.wrt, self.first_rules = wrt, first_rules
        self.memo = {}

    def derivative(self, expr, order):
        # orders low to high and nodes children first, so the recursion below stays shallow
        nodes = topological([expr])
        for k in range(1, order + 1):
            for node in nodes:
                self.d(node, k)
        return self.d(expr, order)

    def d(self, node, k):
        if k == 0:
            return node
        key = (node, k)
        found = self.memo.get(key)
        if found is None:
            if self.wrt.name not in node.free:
                found = zeros(node.shape)
            else:
                found = self._rule(node, k)
            self.memo[key] = found
        return found

    def _rule(self, node, k):
        if isinstance(node, Var):   # the scalar itself: its first derivative is 1, the rest 0
            return constant(1.0) if k == 1 else zeros(())
        if isinstance(node, Add):
            return add_node([self.d(t, k) for t in node.terms], node.shape)
        if isinstance(node, Einsum):
            return self._einsum(node, k)
        if isinstance(node, Apply):
            return self._apply(node, k)
        if isinstance(node, Inv):
            return self._inv(node, k)
        if isinstance(node, LogDet):
            return self._logdet(node.arg, k)
        if isinstance(node, Det):
            return self._det(node, k)
        return self._through_first(node, k)

    def _einsum(self, node, k):
        ops, subs = node.operands, node.subscripts
        dependent = [p for p, op in enumerate(ops) if self.wrt.name in op.free]
        if len(dependent) == 1:
            (p,) = dependent
            new = ops[:p] + (self.d(ops[p], k),) + ops[p + 1:]
            return einsum_node(node.coeff, new, subs, node.out, node.dims)
        first = dependent[0]
        rest = [p for p in range(len(ops)) if p != first]
        needed = set(node.out) | set(subs[first])
        inner = sorted({i for p in rest for i in subs[p]})
        rest_out = tuple(i for i in inner if i in needed)
        renumber = {i: n for n, i in enumerate(inner)}
        others = einsum_node(1.0, [ops[p] for p in rest], [tuple(renumber[i] for i in subs[p]) for p in rest],
                             tuple(renumber[i] for i in rest_out), [node.dims[i] for i in inner])
        # the product keeps the indices it still names, and those no operand ever had (each a factor
        # size(dim)); the indices summed inside ``others`` are gone from it
        used = {i for sub in subs for i in sub} | set(node.out)
        kept = sorted(set(subs[first]) | set(rest_out) | set(node.out) |
                      {i for i in range(len(node.dims)) if i not in used})
        terms = []
        for j in range(k + 1):
            a, b = self.d(ops[first], j), self.d(others, k - j)
            if is_zero(a) or is_zero(b):
                continue
            terms.append(einsum_on(node.coeff * math.comb(k, j), (a, b), (subs[first], rest_out), node.out,
                                   node.dims, kept))
        return add_node(terms, node.shape)

    def _apply(self, node, k):
        slope = node.fn.derivative(node.arg)   # f'(u), a node whose own derivatives are shared
        ids = tuple(range(node.ndim))
        terms = []
        for j in range(k):
            a, b = self.d(slope, j), self.d(node.arg, k - j)
            if not (is_zero(a) or is_zero(b)):
                terms.append(einsum_node(math.comb(k - 1, j), (a, b), (ids, ids), ids, node.shape))
        return add_node(terms, node.shape)

    def _inv(self, node, k):
        terms = []
        for j in range(k):
            a, b = self.d(node, j), self.d(node.arg, k - j)
            if not (is_zero(a) or is_zero(b)):
                terms.append(einsum_node(-math.comb(k, j), (a, b, node), ((0, 2), (2, 3), (3, 1)), (0, 1),
                                         (node.shape[0],) * 4))
        return add_node(terms, node.shape)

    def _logdet(self, arg, k):
        inverse = inv_node(arg)
        terms = []
        for j in range(k):
            a, b = self.d(inverse, j), self.d(arg, k - j)
            if not (is_zero(a) or is_zero(b)):
                terms.append(einsum_node(math.comb(k - 1, j), (a, b), ((0, 1), (1, 0)), (), (arg.shape[0],) * 2))
        return add_node(terms, ())

    def _det(self, node, k):
        log = logdet_node(node.arg)
        terms = []
        for j in range(k):
            a, b = self.d(node, j), self.d(log, k - j)
            if not (is_zero(a) or is_zero(b)):
                terms.append(einsum_node(math.comb(k - 1, j), (a, b), ((), ()), (), ()))
        return add_node(terms, ())

    def _through_first(self, node, k):
        rule = self.first_rules.get(type(node))
        if rule is None:
            raise TensorDiffError(f"no derivative rule for node type {type(node).__name__}")
        first = rule(node, lambda child: self.d(child, 1), self.wrt)
        return self.d(first, k - 1) if k > 1 else first
