"""Simplifier rules that need the function table: det(inv(A)) = 1/det(A), and collecting a sum's
products that differ in one factor (A·B·c + A·B·d = A·B·(c + d)).

simplify.py and sumnodes.py build nodes and cannot import functions.py (functions.py builds its
derivatives with their constructors), so these rules live here and are added to their tables when the
package is imported. Each rule returns None when it does not apply, or a node with fewer
operations, so the constructors that run them terminate.
"""

from .composite import STRUCTURES
from .expr import Einsum, Inv
from .functions import power_function
from .constantnodes import with_coeff
from .einsumnodes import apply_node, einsum_node, scale
from .simplify import DET_RULES, INV_RULES, det_node, inv_node
from .sumnodes import SUM_RULES, add_node, terms_of

__all__ = ["determinant_of_inverse", "inverse_of_product", "collect_products"]

# Products with more operands than this, or sums with more terms, are not searched for a common
# part: the search costs operands² per term, and a derivative can have thousands of terms.
MAX_OPERANDS = 12
MAX_TERMS = 64


def determinant_of_inverse(arg):
    """det(inv(A)) = 1/det(A) (the Matrix Cookbook, eq. 18)."""
    return apply_node(power_function(-1.0), det_node(arg.arg)) if isinstance(arg, Inv) else None


def inverse_of_product(arg):
    """inv(c·A₁A₂…A_k) = inv(A_k)…inv(A₂)inv(A₁)/c for square factors (transposed or not): a product
    of square matrices is invertible only if each factor is, and the inverses then cancel against
    the factors around them (d det(AXB)/dX = det(AXB)·inv(X)', the Matrix Cookbook's eq. 51)."""
    chain = _square_chain(arg)
    if chain is None:
        return None
    k = len(chain)
    dims = (arg.shape[0],) * (k + 1)
    operands, subscripts = [], []
    for position, (factor, forward) in enumerate(reversed(chain)):   # inv(F_k) first: indices position, position+1
        operands.append(inv_node(factor))
        subscripts.append((position, position + 1) if forward else (position + 1, position))
    return einsum_node(1.0 / arg.coeff, operands, subscripts, (0, k), dims)


def _square_chain(arg):
    """[(factor, forward)] when ``arg`` is c·F₁F₂…F_k, k ≥ 2, each F a square matrix A or Aᵀ
    (forward: not transposed), from its first output index to its second; else None."""
    if not isinstance(arg, Einsum) or len(arg.operands) < 2 or len(arg.out) != 2 or arg.out[0] == arg.out[1]:
        return None
    if any(op.ndim != 2 or op.shape[0] != op.shape[1] or len(set(sub)) != 2
           for op, sub in zip(arg.operands, arg.subscripts)):
        return None
    remaining = list(range(len(arg.operands)))
    chain, index = [], arg.out[0]
    while remaining:
        found = [k for k in remaining if index in arg.subscripts[k]]
        if len(found) != 1:
            return None
        k = found[0]
        remaining.remove(k)
        sub = arg.subscripts[k]
        forward = sub[0] == index
        chain.append((arg.operands[k], forward))
        index = sub[1] if forward else sub[0]
        if index == arg.out[1] and remaining:
            return None
    return chain if index == arg.out[1] else None


def collect_products(kept):
    """[(term, coefficient)] of a sum with two products that differ in one operand merged:
    c·A[..]B[..]u[I] + d·A[..]B[..]v[I] = A[..]B[..](c·u + d·v)[I]; None when no two do.

    The logistic-regression Hessian, -X'·diag(s(1-s)y)·X - X'·diag(s(1-s)(1-y))·X, becomes one
    term, since y + (1 - y) folds to 1. Two terms become one, so repeating it terminates.
    """
    if not 1 < len(kept) <= MAX_TERMS:
        return None
    shapes = {}   # only products of one skeleton size can differ in one operand: most sums have none
    for t, (term, _) in enumerate(kept):
        if isinstance(term, Einsum) and 1 < len(term.operands) <= MAX_OPERANDS:
            shapes.setdefault((term.out, term.dims, tuple(sorted(term.subscripts))), []).append(t)
    candidates = [t for group in shapes.values() if len(group) > 1 for t in group]
    seen = {}
    for t in candidates:
        term = kept[t][0]
        pairs = tuple(zip(term.operands, term.subscripts))
        for k in range(len(pairs)):
            if isinstance(term.operands[k], STRUCTURES):
                continue   # a sum of merges or embeddings would be built as a dense 0/1 array
            key = (pairs[:k] + pairs[k + 1:], term.subscripts[k], term.out, term.dims)
            other = seen.setdefault(key, (t, k))
            if other[0] != t:
                return _merged(kept, other, (t, k))
    return None


def _merged(kept, first, second):
    (t1, k1), (t2, k2) = first, second
    (a, c1), (b, c2) = kept[t1], kept[t2]
    scaled = ((a.operands[k1], c1 * a.coeff), (b.operands[k2], c2 * b.coeff))   # a term's own coefficient too
    operand = add_node([scale(t, c) for op, c in scaled for t in terms_of(op)], a.operands[k1].shape)
    operands = a.operands[:k1] + (operand,) + a.operands[k1 + 1:]
    merged = einsum_node(1.0, operands, a.subscripts, a.out, a.dims)
    pair = (with_coeff(merged, 1.0), merged.coeff) if isinstance(merged, Einsum) else (merged, 1.0)
    return [kept_pair for t, kept_pair in enumerate(kept) if t not in (t1, t2)] + [pair]


DET_RULES.append(determinant_of_inverse)
INV_RULES.append(inverse_of_product)
SUM_RULES.append(collect_products)
