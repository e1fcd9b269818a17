"""A sum that would be the largest tensor of the product reading it is distributed over the product.

The derivative rules keep a long derivative as one sum operand instead of distributing it
(diffrules.MAX_DISTRIBUTED_OPERANDS), which keeps deep chains linear. Read by a product whose
result and other operands all have fewer axes, such a sum would be built whole, larger than
anything else the product touches: a batch-norm gradient's Jacobian Σ_kl (T1 + T2 + T3)[i,j,k,l]
R[k,l] is an n×p×n×p tensor (75 GiB at n = 1000, p = 100), where each term, contracted with R on
its own, loses its Kronecker deltas and costs no more than the n×p result. So such a product
becomes the sum of its products with each term. A product of the sum alone, a reduction, is one
too: the gradient of ‖chol(S)‖² is Σ_kl (T1 + T2 + T3)[i,j,k,l], a p⁴ sum where each term reduced
on its own needs no more than p×p.

A sum no larger than the product's result or another operand is read as it is: adding it first
is as cheap, and distributing it would change the order in which its terms are rounded (a GP
likelihood's derivative in float32 moves by more than float32's tolerance when tr(K⁻¹ dK) is
split over dK's terms).
"""

from .expr import Add, Einsum, topological
from .einsumnodes import einsum_node
from .simplify import substitute
from .sumnodes import add_node

__all__ = ["distribute_sums", "outgrows_its_reader", "MAX_DISTRIBUTED_PRODUCTS"]

MAX_DISTRIBUTED_PRODUCTS = 256   # a product that would become more products reads its sum as it is
MAX_ROUNDS = 8                   # sums nested in the distributed terms are distributed in later rounds


def outgrows_its_reader(summed_axes, result_axes, other_axes):
    """Whether a sum of ``summed_axes`` axes, read by a product with ``result_axes`` axes whose
    other operands have ``other_axes`` axes each, has more axes than all of them: built whole,
    it would be the product's largest tensor by a factor of a dim size or more."""
    return summed_axes > max([result_axes, *other_axes])


def distribute_sums(outputs, checks=None):
    """Each product reading a sum that outgrows it (``outgrows_its_reader``), as the sum of the
    products with each of the sum's terms in place of the sum.

    Sound because a product is linear in each operand: Σ (Σ_t T_t)·R = Σ_t Σ T_t·R. Sums nested
    in a term are met again in the next round, up to MAX_ROUNDS rounds.

    >>> import tensordiff as td
    >>> A, B, v = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("v", "n")
    >>> big = td.outer(A, B) + td.outer(B, A)          # an order-4 sum, read by a product of order 2
    >>> product = td.einsum("ijkl,l->ij", big, v)
    >>> [type(node).__name__ for node in distribute_sums([product])]
    ['Add']
    """
    outputs = list(outputs)
    for _ in range(MAX_ROUNDS):
        mapping = {}
        for node in topological(outputs):
            distributed = _distributed(node)
            if distributed is not None and distributed is not node:   # terms that add_node merges back: none
                mapping[node] = distributed
        if not mapping:
            break
        outputs = [substitute(e, mapping) for e in outputs]
    return outputs


def _distributed(node):
    if not isinstance(node, Einsum):
        return None
    shapes = [len(op.shape) for op in node.operands]
    for k, operand in enumerate(node.operands):
        if not isinstance(operand, Add) or len(operand.terms) > MAX_DISTRIBUTED_PRODUCTS:
            continue
        # another sum as large is distributed too, in the next round: a product of two Jacobians
        others = [axes for j, axes in enumerate(shapes)
                  if j != k and not (isinstance(node.operands[j], Add) and axes >= shapes[k])]
        if outgrows_its_reader(shapes[k], len(node.out), others):
            ops = node.operands
            terms = [einsum_node(node.coeff, ops[:k] + (term,) + ops[k + 1:], node.subscripts, node.out, node.dims)
                     for term in operand.terms]
            return add_node(terms, node.shape)
    return None
