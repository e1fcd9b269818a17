"""A sum read by a product that has fewer axes than the sum is distributed over the product.

The derivative rules keep a long derivative as one sum operand instead of distributing it
(diffrules.MAX_DISTRIBUTED_OPERANDS), which keeps deep chains linear. Read by a product of lower
order, such a sum would be built whole, larger than anything the product makes: a batch-norm
gradient's Jacobian Σ_kl (T1 + T2 + T3)[i,j,k,l] R[k,l] is an n×p×n×p tensor (75 GiB at n = 1000,
p = 100) where each term, contracted with R on its own, loses its Kronecker deltas and costs no
more than the n×p result. So such a product becomes the sum of its products with each term.
"""

from .expr import Add, Einsum
from .einsumnodes import einsum_node
from .simplify import rewrite
from .sumnodes import add_node

__all__ = ["distribute_sums", "MAX_DISTRIBUTED_TERMS"]

MAX_DISTRIBUTED_TERMS = 64   # a sum of more terms is built once and read as it is


def distribute_sums(outputs, checks=None):
    """Each product reading a sum operand with more axes than the product's result, as the sum of
    the products with each of its terms (in place of the sum).

    Sound because a product is linear in each operand: Σ (Σ_t T_t)·R = Σ_t Σ T_t·R.

    >>> import tensordiff as td
    >>> A, B, v = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("v", "n")
    >>> big = td.outer(A, B) + td.outer(B, A)          # an order-4 sum, read by a product of order 2
    >>> product = td.einsum("ijkl,l->ij", big, v)
    >>> [type(node).__name__ for node in distribute_sums([product])]
    ['Add']
    """
    return rewrite(outputs, _distributed)


def _distributed_or_itself(node):
    distributed = _distributed(node)
    return node if distributed is None else distributed


def _distributed(node):
    if not isinstance(node, Einsum):
        return None
    for k, operand in enumerate(node.operands):
        if isinstance(operand, Add) and len(operand.shape) > len(node.out) and \
                len(operand.terms) <= MAX_DISTRIBUTED_TERMS:
            ops = node.operands
            terms = [einsum_node(node.coeff, ops[:k] + (term,) + ops[k + 1:], node.subscripts, node.out, node.dims)
                     for term in operand.terms]
            # a term's product may read a larger sum of its own (a sum nested in the term, merged in)
            return add_node([_distributed_or_itself(term) for term in terms], node.shape)
    return None
