"""Slot symmetry of higher derivatives: one term per orbit, and the symmetrisation that restores the rest.

The order-k derivative T of an expression with respect to one symbol is symmetric in its k slots
(the k copies of the symbol's axes at the end of its shape): mixed partials commute, and every
derivative rule differentiates a smooth function with its masks held fixed, so this holds for the
symbolic derivative too. Let avg(C) be the mean of C over all k! permutations of the slots. Then
T = avg(C) for any C whose average is T, and

    T_{k+1} = d avg_k(C_k) = avg_k(d C_k),   so   T_{k+1} = avg_{k+1}(T_{k+1}) = avg_{k+1}(d C_k):

C_{k+1} = d C_k, and each term of it may be replaced by any permutation of its slots without
changing the average. ``orbit_terms`` replaces every term by one representative of its orbit, so
terms that differ only by a permutation of slots are collected into one (with their coefficients
added); ``symmetrize`` builds avg(C) at the end as ordinary Einsum/Add nodes: k - 1 rounds of
transpositions, each round averaging the previous one with its slot swapped with the next slot
(O(k²) transposes of one shared node, not k!).

The representative is found by colour refinement (Weisfeiler-Lehman) of the term's indices, whose
colours depend on its structure only, never on how its slots are numbered; slots are ordered by
colour, and where colours tie, every ordering of the tied slots is tried (up to
``MAX_TIED_ORDERINGS``) and the one with the least structural key kept. Where ties are too many,
the first ordering is kept: two terms of one orbit may then stay two terms, which is sound (the
average does not change), only less collected.
"""

import itertools
import math

from .expr import Add, Einsum
from .einsumnodes import einsum_node, is_symmetric, scale, transpose
from .sumnodes import add_node, terms_of

__all__ = ["orbit_terms", "symmetrize", "orbit_sum", "MAX_TIED_ORDERINGS"]

# The orderings of slots with equal colours tried per term; beyond this one ordering is kept.
MAX_TIED_ORDERINGS = 120


def orbit_terms(expr, lead, width, count):
    """``expr`` with each term replaced by its orbit's representative under permutations of its
    ``count`` slots (each ``width`` axes, after the first ``lead`` axes), equal ones collected.

    The result has the same average over slot permutations as ``expr``, not the same value.
    """
    if width == 0 or count < 2:
        return expr
    return add_node([representative(t, lead, width, count) for t in terms_of(expr)], expr.shape)


def representative(term, lead, width, count):
    """The representative of ``term``'s orbit under permutations of its slots (``term`` itself
    when it is no product: a sum, a function or a constant is left as it is)."""
    if not isinstance(term, Einsum) or not term.operands:
        return term
    slot_ids = [term.out[lead + s * width: lead + (s + 1) * width] for s in range(count)]
    colours = _refined_colours(term, lead, slot_ids)
    slot_colour = [tuple(colours[i] for i in ids) for ids in slot_ids]
    keyed = sorted(range(count), key=lambda s: (slot_colour[s], s))
    groups = [list(group) for _, group in itertools.groupby(keyed, key=slot_colour.__getitem__)]
    tried = math.prod(math.factorial(len(g)) for g in groups)
    if tried == 1 and keyed == list(range(count)):
        return term   # its slots are in their canonical order already
    orderings = (itertools.product(*(itertools.permutations(g) for g in groups)) if tried <= MAX_TIED_ORDERINGS
                 else [tuple(groups)])
    best = None
    for ordering in orderings:
        slots = [s for group in ordering for s in group]
        out = term.out[:lead] + tuple(i for s in slots for i in slot_ids[s])
        candidate = einsum_node(term.coeff, term.operands, term.subscripts, out, term.dims)
        if best is None or candidate.skey < best.skey:
            best = candidate
    return best


def _refined_colours(term, lead, slot_ids):
    """Colours of ``term``'s indices that depend on its structure only (operands by structural key,
    positions in operands and in the output's fixed axes, position within a slot), refined until
    the slots' colours are all different or stop changing: equal colours where no structure tells
    two indices apart. Both stopping rules are independent of the slots' numbering."""
    n = len(term.dims)
    fixed = [[] for _ in range(n)]
    within = [[] for _ in range(n)]
    for position, i in enumerate(term.out[:lead]):
        fixed[i].append(position)
    memberships = [[] for _ in range(n)]
    for s, ids in enumerate(slot_ids):
        for w, i in enumerate(ids):
            within[i].append(w)
            memberships[i].append((s, w))
    occurrences = [[] for _ in range(n)]
    for op, sub in zip(term.operands, term.subscripts):
        symmetric = len(sub) == 2 and sub[0] != sub[1] and is_symmetric(op)
        for p, i in enumerate(sub):
            occurrences[i].append((op.skey, -1 if symmetric else p, sub))
    colours = _ranks([(term.dims[i], tuple(fixed[i]), tuple(sorted(within[i]))) for i in range(n)])
    classes = len(set(colours))
    for _ in range(n):
        if len({tuple(colours[i] for i in ids) for ids in slot_ids}) == len(slot_ids):
            break
        signatures = []
        for i in range(n):
            around = sorted((key, p, tuple(sorted(colours[j] for j in sub)) if p == -1 else
                             tuple(colours[j] for j in sub)) for key, p, sub in occurrences[i])
            slots = sorted((w, tuple(colours[j] for j in slot_ids[s])) for s, w in memberships[i])
            signatures.append((colours[i], tuple(around), tuple(slots)))
        colours = _ranks(signatures)
        if len(set(colours)) == classes:
            break
        classes = len(set(colours))
    return colours


def _ranks(signatures):
    """Each signature replaced by its rank among the distinct ones (deterministic, never by id)."""
    order = {sig: r for r, sig in enumerate(sorted(set(signatures)))}
    return [order[sig] for sig in signatures]


def symmetrize(expr, lead, width, count):
    """The mean of ``expr`` over all permutations of its ``count`` slots (``width`` axes each, after
    ``lead`` axes). Terms that no permutation changes are their own mean; the others are averaged
    in count - 1 rounds: round j averages the result so far (symmetric in the first j - 1 slots)
    with its copies whose slot j is swapped with each earlier slot."""
    if width == 0 or count < 2:
        return expr
    generators = [_slot_permutation(len(expr.shape), lead, width, (1, 0) + tuple(range(2, count)))]
    if count > 2:
        generators.append(_slot_permutation(len(expr.shape), lead, width, tuple(range(1, count)) + (0,)))
    invariant, rest = [], []
    for term in terms_of(expr):
        fixed = all(transpose(term, perm) is term for perm in generators)
        (invariant if fixed else rest).append(term)
    result = add_node(rest, expr.shape)
    for j in range(1, count if rest else 1):
        # each copy scaled on its own: a sum of j + 1 products over one shared node, never the terms
        # of ``result`` spliced into a sum beside its transposes
        copies = [scale(result, 1.0 / (j + 1))]
        for i in range(j):
            order = list(range(count))
            order[i], order[j] = j, i
            copies.append(scale(transpose(result, _slot_permutation(len(expr.shape), lead, width, order)),
                                1.0 / (j + 1)))
        result = add_node(copies, expr.shape)
    return add_node(invariant + [result], expr.shape)


def _slot_permutation(ndim, lead, width, order):
    """The axis permutation whose slot s is slot order[s] (axes before ``lead`` kept)."""
    return tuple(range(lead)) + tuple(lead + s * width + w for s in order for w in range(width)) + \
        tuple(range(lead + len(order) * width, ndim))


def orbit_sum(expr):
    """The sum of the orbit representatives that a derivative symmetrised by ``symmetrize`` averages,
    beside its terms that no permutation changes (``expr`` itself when it is no such mean): what the
    terms of a derivative symmetrised over its slots are counted on."""
    mean = slot_mean(expr)
    if mean is None:
        return expr
    operand, _, _, _, members = mean
    others = [t for t in expr.terms if t not in members]
    return add_node(others + list(terms_of(orbit_sum(operand))), expr.shape)


def slot_mean(node):
    """(operand, lead, width, count, members) where some terms ``members`` of the sum ``node`` are the
    mean of ``operand`` over all permutations of ``count`` slots (``width`` axes each, after ``lead``),
    as ``symmetrize`` builds it; else None. Printers write these terms as sym over the slots.

    A round is recognised when its operand P is symmetric in the earlier slots, because P is itself
    a whole recognised round (or the swap is of two slots only): so the mean over swapping the last
    slot with each earlier one is the mean over every permutation, and printing it so is exact.
    """
    if not isinstance(node, Add):
        return None
    groups = {}
    for term in node.terms:
        if isinstance(term, Einsum) and len(term.operands) == 1 and term.operands[0].ndim == term.ndim:
            groups.setdefault(term.operands[0], []).append(term)
    for operand, members in groups.items():
        found = _round(operand, members)
        if found is not None:
            return (operand,) + found + (members,)
    return None


def _round(operand, members):
    """(lead, width, count) when ``members`` are the copies of a round of ``symmetrize`` over operand."""
    count = len(members)
    if count < 2 or any(abs(t.coeff * count - 1.0) > 1e-12 for t in members):
        return None
    perms = set()
    for term in members:
        (sub,) = term.subscripts
        if len(set(sub)) != len(sub) or sorted(term.out) != sorted(sub) or len(term.dims) != len(sub):
            return None
        axis_of = {i: a for a, i in enumerate(sub)}
        perms.add(tuple(axis_of[i] for i in term.out))   # result axis a is operand axis perm[a]
    ndim = operand.ndim
    identity = tuple(range(ndim))
    moved = [p for p in perms if p != identity]
    if identity not in perms or len(moved) != count - 1:
        return None
    last = max(a for p in moved for a in range(ndim) if p[a] != a)
    width = sum(1 for a in range(ndim) if moved[0][a] != a) // 2
    if width == 0:
        return None
    lead = last + 1 - count * width
    if lead < 0:
        return None
    expected = {_slot_permutation(ndim, lead, width, _swap(count, i)) for i in range(count - 1)}
    if set(moved) != expected:
        return None
    if count > 2:   # the operand must itself be symmetric in the earlier slots: a whole round before
        inner = slot_mean(operand)
        if inner is None or inner[1:4] != (lead, width, count - 1) or len(inner[4]) != len(operand.terms):
            return None
    return lead, width, count


def _swap(count, i):
    order = list(range(count))
    order[i], order[count - 1] = count - 1, i
    return order
