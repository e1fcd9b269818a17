"""Distributing a product over a sum, for matrix notation.

A derivative keeps the chain rule's shape: ∂(aᵀM(X)b)/∂X is Σ_kl a[l] b[k] ∂M[l,k]/∂X[i,j], one
product whose middle factor is an order-4 sum. That product has no matrix form, but each of its
terms does once the outer factors are multiplied in: a[l] b[k] (A[l,i] C[j,k]) is A'*a*b'*C'.
``distributed`` gives those terms, so matrix notation writes the product as their sum. It only
rewrites what is printed: the expression keeps its factored form, which evaluates faster.
"""

from .expr import Add, Einsum
from .einsumnodes import einsum_node
from .sumnodes import terms_of

__all__ = ["distributed", "MAX_DISTRIBUTED_TERMS"]

# A product of sums expands into the product of their term counts; a printed result of more
# terms than this is no longer read by a person, and writing it would cost that many einsums.
MAX_DISTRIBUTED_TERMS = 256


def distributed(node, budget):
    """The terms of the einsum ``node`` with its widest sum operand multiplied out, or None when
    it has no sum operand or the terms would number more than ``budget``.

    The sum of highest order goes first: a sum of order 3 or more never has a matrix form of its
    own, where a sum of matrices may (A*(B + C)).
    """
    if not isinstance(node, Einsum):
        return None
    sums = [k for k, op in enumerate(node.operands) if isinstance(op, Add)]
    if not sums:
        return None
    k = max(sums, key=lambda s: (node.operands[s].ndim, -s))
    terms = terms_of(node.operands[k])
    if len(terms) > budget:
        return None
    expanded = []
    for term in terms:
        operands = node.operands[:k] + (term,) + node.operands[k + 1:]
        product = einsum_node(node.coeff, operands, node.subscripts, node.out, node.dims)
        expanded.extend(terms_of(product))
    return expanded
