"""Planning sums: a product's scaling of a sum is folded into the sum's own one-pass write.

A gradient often ends in a contraction that reads a sum of terms through broadcast scale factors,
as the network gradient's last step does:

    out[a,b] = 2 Σ_c S[c,b] e[c] a[b] X[c,a],   S = 1 - t², t = tanh(XW).

Evaluated as written, S is written once (a pass of the kernels over n×k entries), then scaled by
e[c] and by 2 a[b] (two more passes over S, in the contraction's path), then contracted with X.
``fold_scales`` rewrites it as

    out[a,b] = Σ_c S'[c,b] X[c,a],   S' = Σ_t 2 · e[c] · a[b] · term_t[c,b],

so the sum's one pass (fusion.FusedSumStep) writes the scaled entries directly: a factor of one
row or one column costs the kernel a number per row or a factor along the row, not a pass over
the array. The contraction left is a plain matrix product.

Sound by distributivity: for each entry of S's index space, c·F1·...·Fm·Σ_t term_t equals
Σ_t c·F1·...·Fm·term_t, because every folded factor F runs along indices of S only (it is a
number per entry of S, the same for every term). The rest of the product reads S' where it read
S, at the same indices, so its value is unchanged. S must be read by nothing else (the product
is its only reader, and it is no output): S' replaces it. Only factors over strictly fewer
indices than S are folded (a dense factor, as large as S, would be read once per term), with the
product's coefficient. The sum must be elementwise, of at least two axes: each of its terms sums
over nothing, so its pass over memory is its cost and one more factor per term is nearly free. A
sum of contractions, or of one axis, keeps its scaling (a pass over a vector costs less than the
planning that would fold it: a long chain's gradient has such sums at every link).
"""

from .expr import Add, Einsum, topological
from .einsumnodes import einsum_on
from .simplify import substitute
from .sumnodes import add_node

__all__ = ["fold_scales"]

MAX_TERMS = 8   # a sum of more terms keeps its scaling where it is: each term would read each factor


def fold_scales(outputs, checks=None):
    """The outputs with each product's broadcast scale factors and coefficient folded into the sum
    it scales, where that sum has no other reader (module docstring); a planning pass (passes.py),
    whose ``checks`` it leaves alone.

    >>> import tensordiff as td
    >>> t, e, a = td.matrix("t", "n k"), td.vector("e", "n"), td.vector("a", "k")
    >>> X = td.matrix("X", "n d")
    >>> S = 1 - t * t
    >>> g = td.einsum("cb,c,b,ca->ab", S, e, a, X)
    >>> folded = fold_scales([2 * g])[0]
    >>> [type(op).__name__ for op in folded.operands], folded.coeff
    (['Add', 'Var'], 1.0)
    """
    uses, outputs = {}, list(outputs)
    nodes = topological(outputs)
    for node in nodes:
        for child in node.children():
            uses[child] = uses.get(child, 0) + 1
    mapping = {}
    for node in nodes:
        if isinstance(node, Einsum):
            folded = _folded(node, uses, outputs)
            if folded is not None:
                mapping[node] = folded
    return [substitute(e, mapping) for e in outputs] if mapping else outputs


def _folded(node, uses, outputs):
    """``node`` with its scale of a sum operand folded into that sum; None where nothing folds."""
    for k, op in enumerate(node.operands):
        sub = node.subscripts[k]
        if not isinstance(op, Add) or uses.get(op) != 1 or op in outputs or len(op.terms) > MAX_TERMS or \
                len(sub) < 2 or len(set(sub)) != len(sub) or node.operands.count(op) != 1 or \
                not all(map(_elementwise, op.terms)):
            continue
        scales = [j for j, s in enumerate(node.subscripts)
                  if j != k and len(set(s)) == len(s) < len(sub) and set(s) <= set(sub)]
        if not scales:
            continue
        ops = [op] + [node.operands[j] for j in scales]
        subs = [sub] + [node.subscripts[j] for j in scales]
        terms = [einsum_on(node.coeff, [term] + ops[1:], subs, sub, node.dims, sub) for term in op.terms]
        scaled = add_node(terms, op.shape)
        rest = [j for j in range(len(node.operands)) if j != k and j not in scales]
        return einsum_on(1.0, [scaled] + [node.operands[j] for j in rest], [sub] + [node.subscripts[j] for j in rest],
                         node.out, node.dims, range(len(node.dims)))
    return None


def _elementwise(term):
    """Whether a term of a sum sums over nothing: a value, or a product of values (broadcast along
    the sum's axes), whose entries are each a few multiplications (its pass is memory-bound)."""
    if not isinstance(term, Einsum):
        return True
    used = {i for s in term.subscripts for i in s}
    return used <= set(term.out)
