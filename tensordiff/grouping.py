"""Planning sums: terms that share an outer factor write it once, against the sum of their rests.

A term of a sum of products is an outer product of independent factors (operands tied only by
summed indices, as in fusion.split_term). High-order derivatives are long sums of such terms, and
many of them share a factor on the same output axes: the order-5 Tikhonov Hessian has fourteen
terms of three factors, and every one of them carries one of four factors on the axis of q
(Mi[a,l], Mi[a,j], Q[a,k], Q[a,i]). ``group_factors`` rewrites

    Σ_t F[x_P] · R_t[x_U]   into   F[x_P] · S[x_U],   S = Σ_t R_t,

where P are the output axes F runs along and U the axes the rests run along (their deltas and
broadcasts included). S is smaller than the sum (U misses an axis of the output), so the sum's
pass over its output reads one factor and one array per group, not one per term, and the rests'
own common factors are grouped the same way inside S. A group sum that equals another one with
its axes permuted is not formed twice: the second group reads the first through a transposition.

Sound by distributivity: each member's value at x is F[x_P] times R_t[x_U] (the rest is the
product of the term's other factors and its coefficient, a function of the axes U alone), so the
sum of the members is F[x_P] times the sum of the rests. A transposed group sum is the same array
read along permuted axes, which einsum's subscripts express exactly. Terminates: each grouping
replaces at least two terms by one, and the group sums it recurses into have fewer terms than the
sum they came from.
"""

from itertools import permutations

from .errors import TensorDiffError
from .expr import Add, Einsum, topological
from .fusion import connected_factors
from .einsumnodes import einsum_on
from .simplify import substitute
from .sumnodes import add_node

__all__ = ["group_factors"]

MAX_TERMS = 128      # a sum with more terms is left as it is (planning time; factoring.py's bound)
UNIFORM_SIZE = 64    # the dim size at which group sums are compared (sizes are not known when planning)
MAX_PERMUTED = 4     # group sums of at most this many axes are matched up to a permutation (4! = 24 tries)


def group_factors(outputs):
    """The outputs with each sum's terms grouped by their shared outer factors (module docstring).

    >>> import tensordiff as td
    >>> a, A = td.vector("a", "n"), td.matrix("A", "n n")
    >>> s = td.einsum("i,jk->ijk", a, A) + td.einsum("i,j,k->ijk", a, a, a)   # a[i] A[j,k] + a[i] a[j] a[k]
    >>> [type(node).__name__ for node in group_factors([s])[0].operands]   # a ⊗ (A + a ⊗ a)
    ['Var', 'Add']
    """
    mapping, made = {}, {}
    for node in topological(outputs):
        if isinstance(node, Add) and len(node.terms) <= MAX_TERMS:
            try:
                grouped = _group_sum(node, made)
            except TensorDiffError:   # rebuilt, a rest merges coefficients whose product leaves float64's range
                continue
            if grouped is not node:
                mapping[node] = grouped
    return [substitute(e, mapping) for e in outputs] if mapping else list(outputs)


def _group_sum(node, made):
    """``node`` (a sum) with its terms grouped; ``made``: the group sums formed so far, to read a
    permuted one instead of forming it again."""
    terms, grouped = list(node.terms), False
    splits = [_split(t) if isinstance(t, Einsum) else None for t in terms]
    while True:   # each round replaces two or more terms by one: it ends
        classes = _best_partition(splits, len(node.shape))
        if classes is None:
            break
        merged = set()
        new_terms = []
        for key, (members, axes) in classes.items():
            rests = [_rest(terms[k], splits[k][key][0], axes) for k in members]
            total = add_node(rests, tuple(node.shape[p] for p in axes))
            if isinstance(total, Add):
                total = _group_sum(total, made)
            new_terms.append(_product(key, total, axes, node.shape, made))
            merged.update(members)
        kept = [k for k in range(len(terms)) if k not in merged]
        splits = [_split(t) if isinstance(t, Einsum) else None for t in new_terms] + [splits[k] for k in kept]
        terms = new_terms + [terms[k] for k in kept]
        grouped = True
    return add_node(terms, node.shape) if grouped else node


def _best_partition(splits, ndim):
    """{key: (member terms, the axes of their rests)} for the output axis whose carrying factors
    group the most terms (then the smallest group sums, at equal dim sizes); None where no axis
    groups two terms into a sum smaller than the output.

    A term whose one factor runs along the axis falls into the class of that factor (a term where
    several factors share the axis's index joins none), so the classes are disjoint: one product
    per class replaces its members."""
    best, best_score = None, None
    for axis in range(ndim):
        classes = {}
        for k, split in enumerate(splits):
            carriers = [(key, rest_axes) for key, (_, rest_axes) in (split or {}).items()
                        if any(axis in places for places in key[1])]
            if len(carriers) != 1:   # none, or several factors sharing the axis's index (a product along it)
                continue
            key, rest_axes = carriers[0]
            members, span = classes.get(key, ((), frozenset()))
            classes[key] = (members + (k,), span | rest_axes)
        chosen = {key: (members, tuple(sorted(span))) for key, (members, span) in classes.items()
                  if len(members) > 1 and len(span) < ndim}
        if not chosen:
            continue
        removed = sum(len(members) - 1 for members, _ in chosen.values())
        size = sum(UNIFORM_SIZE ** len(axes) for _, axes in chosen.values())
        score = (removed, -size)
        if best_score is None or score > best_score:
            best, best_score = chosen, score
    return best


def _split(term):
    """{key: (the operand positions of the factor, the output axes of the rest)} for each factor of
    ``term``: key (factor node, the output axes each of its axes runs along)."""
    out = term.out
    if not out:
        return None
    members = connected_factors(term, out)
    if len(members) < 2:
        return None
    found = {}
    for group in members:
        ops = tuple(term.operands[k] for k in group)
        subs = [term.subscripts[k] for k in group]
        ids = sorted({i for s in subs for i in s})
        group_out = tuple(u for u in dict.fromkeys(out) if u in ids)
        factor = einsum_on(1.0, ops, subs, group_out, term.dims, ids)
        places = tuple(tuple(p for p, u in enumerate(out) if u == i) for i in group_out)
        carried = {i for k, s in enumerate(term.subscripts) if k not in group for i in s}
        rest_axes = frozenset(p for p, u in enumerate(out) if u in carried or not any(u in s for s in subs))
        found[(factor, places)] = (tuple(group), rest_axes)
    return found


def _rest(term, group, axes):
    """c · the operands of ``term`` outside ``group``, over the output axes ``axes``."""
    keep = [k for k in range(len(term.operands)) if k not in group]
    ops = tuple(term.operands[k] for k in keep)
    subs = [term.subscripts[k] for k in keep]
    out = tuple(term.out[p] for p in axes)
    used = {i for s in term.subscripts for i in s}
    orphans = {i for i in range(len(term.dims)) if i not in used and i not in term.out}
    ids = sorted({i for s in subs for i in s} | set(out) | orphans)
    return einsum_on(term.coeff, ops, subs, out, term.dims, ids)


def _product(key, total, axes, shape, made):
    """F[x_P] · S[x_U] over the output, reading S through a permutation of a group sum made before."""
    factor, places = key
    ndim = len(shape)
    index = list(range(ndim))                  # an id per output axis; F's diagonals tie some together
    for axis_places in places:
        for p in axis_places[1:]:
            index[p] = axis_places[0]
    total, order = _permuted_twin(total, made)
    total_sub = tuple(index[axes[k]] for k in order)
    dims = list(shape)
    return einsum_on(1.0, (factor, total), [tuple(index[ps[0]] for ps in places), total_sub], tuple(index),
                     dims, sorted(set(index)))


def _permuted_twin(total, made):
    """(S', order) with S[x] = S'[x permuted by order], S' a group sum formed before where there is one."""
    ndim = len(total.shape)
    if not isinstance(total, Add) or ndim > MAX_PERMUTED or ndim < 2:
        return total, tuple(range(ndim))
    for perm in permutations(range(ndim)):
        if any(total.shape[perm[k]] != total.shape[k] for k in range(ndim)):
            continue
        candidate = _transposed(total, perm)
        if candidate in made:
            # candidate's axis k is total's axis perm[k]: total is candidate read along permuted axes
            return candidate, perm
    made[total] = True
    return total, tuple(range(ndim))


def _transposed(total, perm):
    """The sum whose axis k is ``total``'s axis perm[k], term by term (so interning can match it)."""
    terms = []
    for term in total.terms:
        ids = tuple(range(len(term.shape)))
        terms.append(einsum_on(1.0, (term,), [ids], tuple(perm[k] for k in ids), list(term.shape), list(ids)))
    return add_node(terms, tuple(total.shape[p] for p in perm))
