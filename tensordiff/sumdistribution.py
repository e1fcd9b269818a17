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
from .indices import atoms
from .composite import STRUCTURES
from .constantnodes import product
from .einsumnodes import MAX_MERGED_OPERANDS, einsum_node, is_wrapper
from .simplify import substitute
from .sumnodes import add_node

__all__ = ["distribute_sums", "outgrows_its_reader", "atom_axes", "MAX_DISTRIBUTED_PRODUCTS"]

MAX_DISTRIBUTED_PRODUCTS = 256   # a product that would become more products reads its sum as it is
MAX_ROUNDS = 8                   # sums nested in the distributed terms are distributed in later rounds


def outgrows_its_reader(summed_axes, result_axes, other_axes):
    """Whether a sum of ``summed_axes`` axes, read by a product with ``result_axes`` axes whose
    other operands have ``other_axes`` axes each, has more axes than all of them: built whole,
    it would be the product's largest tensor by a factor of a dim size or more."""
    return summed_axes > max([result_axes, *other_axes])


def atom_axes(shape):
    """The axes of ``shape`` with each merged dim counted as its parts: an (a·b, a·b, a, b) sum is a
    6-axis tensor read by an (a, b, a, b) product, not as large as it.

    >>> atom_axes(("a·b", "c", "a+b"))
    4
    """
    return sum(len(atoms(d)) for d in shape)


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
    shapes = [atom_axes(op.shape) for op in node.operands]
    for k, operand in enumerate(node.operands):
        if not isinstance(operand, Add) or len(operand.terms) > MAX_DISTRIBUTED_PRODUCTS:
            continue
        # another sum as large is distributed too, in the next round: a product of two Jacobians; a
        # merge or an embedding (vec, kron) is never built (reshapesteps.py), so it sizes nothing
        others = [axes for j, axes in enumerate(shapes)
                  if j != k and not (isinstance(node.operands[j], Add) and axes >= shapes[k])
                  and not isinstance(node.operands[j], STRUCTURES)]
        if outgrows_its_reader(shapes[k], atom_axes(node.shape), others):
            ops = node.operands
            plain = add_node([einsum_node(node.coeff, ops[:k] + (term,) + ops[k + 1:], node.subscripts, node.out,
                                          node.dims) for term in operand.terms], node.shape)
            if plain is not node:   # inline only where collected back: a matrix power's nested blocks stay
                return plain
            return add_node([_with_term(node, k, term) for term in operand.terms], node.shape)
    return None


def _with_term(node, k, term):
    """The product ``node`` with ``term`` in place of its operand ``k``, a product term's operands
    read in the product itself (its indices renamed into the product's).

    einsum_node keeps a long term that repeats an operand nested (einsumnodes.merge_limit); nested,
    it would be built whole as before, and the distributed products, alike but for that one
    operand, would be collected back into the product of their sum (matrixrules.collect_products).
    """
    ops, subs, coeff = node.operands, node.subscripts, node.coeff
    while isinstance(term, Einsum) and is_wrapper(term) and isinstance(term.operands[0], Einsum):   # c·(product)
        coeff, term = product(coeff, term.coeff), term.operands[0]
    if not isinstance(term, Einsum) or len(set(term.out)) < len(term.out) \
            or len(ops) - 1 + len(term.operands) > MAX_MERGED_OPERANDS:   # a diagonal: einsum_node's union of indices
        return einsum_node(coeff, ops[:k] + (term,) + ops[k + 1:], subs, node.out, node.dims)
    dims = list(node.dims)
    local = dict(zip(term.out, subs[k]))
    for inner, dim in enumerate(term.dims):
        if inner not in local:
            local[inner] = len(dims)
            dims.append(dim)
    inner_subs = tuple(tuple(local[i] for i in sub) for sub in term.subscripts)
    return einsum_node(product(coeff, term.coeff), ops[:k] + ops[k + 1:] + term.operands,
                       subs[:k] + subs[k + 1:] + inner_subs, node.out, dims)
