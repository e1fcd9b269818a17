"""Planning sums: each einsum term split into independent factors, the whole sum written in one pass.

A derivative is typically a sum of terms like  c · Σ_n X[j,n] t[i,n] · Σ_q X[p,q] y[p] t[k,q] · t[l,m]:
operands tied together only through summed indices form independent groups, and the term is an
outer product of the groups' small results. Each group becomes its own einsum node (interned, so
a group shared by several terms or elsewhere in the program is computed once), and
``kernels.products`` writes every term of the sum into the output in a single pass, instead of
materialising each term at full size and adding. Terms whose output carries Kronecker deltas are
written onto the output's generalised diagonal in a second, much smaller pass.
"""

from collections import namedtuple
from itertools import permutations

import numpy as np

from .expr import Add, Einsum, topological
from .indices import UnionFind
from .kernels import ProductsLayout, diagonal_view
from .simplify import add_node, einsum_node, substitute

__all__ = ["SumPlan", "FusedSumStep", "einsum_on", "factor_sums"]

MAX_INTERFACE = 4  # interface orders tried when matching skeletons: at most 4! = 24

# coeff: float; orphan_dims: dims whose sizes multiply the term; factors: ((node, axes), ...) with
# axes positions in the pattern's distinct ids; pattern: the output axes' positions in those ids.
Part = namedtuple("Part", "coeff orphan_dims factors pattern")


def einsum_on(coeff, ops, subs, out, dims, ids):
    """einsum_node over just the index ids ``ids`` of a larger numbering."""
    renumber = {i: k for k, i in enumerate(ids)}
    return einsum_node(coeff, ops, [tuple(renumber[i] for i in s) for s in subs],
                       tuple(renumber[i] for i in out), [dims[i] for i in ids])


def factor_sums(outputs):
    """Sums whose terms share a skeleton contract it once: Σ S·W1 + Σ S·W2 = Σ S·(W1 + W2).

    A term's skeleton is its operands that carry an output index; its weight is the rest,
    contracted down to the summed indices it shares with the skeleton (the interface). The
    logistic-regression Hessian, Σ_k X[k,i] X[k,j] (w1[k] + w2[k]), is the typical case: one
    n·d² contraction instead of two, and a cheap sum of two n-vectors.
    """
    mapping = {}
    for node in topological(outputs):
        if isinstance(node, Add):
            factored = _factor_sum(node)
            if factored is not node:
                mapping[node] = factored
    return [substitute(e, mapping) for e in outputs] if mapping else list(outputs)


def _factor_sum(node):
    groups = {}  # skeleton node -> [(term, interface, weight), ...]
    rest = []
    for term in node.terms:
        parts = _skeleton_and_weight(term) if isinstance(term, Einsum) else None
        if parts is None:
            rest.append(term)
            continue
        skeleton_of, weight_of, interface = parts
        orders = [tuple(interface)]
        if len(interface) > 1 and any(len(g[0][1]) == len(interface) for g in groups.values()):
            orders = list(permutations(interface))
        for order in orders:
            skeleton = skeleton_of(order)
            if skeleton in groups:
                groups[skeleton].append((term, order, weight_of(order)))
                break
        else:
            groups[skeleton_of(orders[0])] = [(term, orders[0], weight_of(orders[0]))]
    if all(len(members) == 1 for members in groups.values()):
        return _factor_common_operand(node)
    terms = list(rest)
    for members in groups.values():
        if len(members) == 1:
            terms.append(members[0][0])
            continue
        leader, order, _ = members[0]
        weights = add_node([weight for _, _, weight in members])
        skeleton_ops, skeleton_subs = _skeleton_operands(leader)
        ids = sorted(set(leader.out) | {i for s in skeleton_subs for i in s})
        terms.append(einsum_on(1.0, skeleton_ops + (weights,), skeleton_subs + [order], leader.out, leader.dims, ids))
    return _factor_common_operand(add_node(terms, node.shape))


def _factor_common_operand(node):
    """Σ_k F[k,i] R1[k,j] + Σ_k F[k,i] R2[k,j] = Σ_k F[k,i] (R1 + R2)[k,j] for one operand F.

    Where terms share no skeleton they may still share an operand F that carries output and
    summed indices, with the rest R of each term no larger than F (in indices): contracting F once
    with the sum of the rests replaces one contraction per term. The network hvp is the typical
    case: Σ_k X[k,i] (two different [k,j] weights), two n·d·k products become one.
    """
    if not isinstance(node, Add):
        return node
    options = [_operand_factorings(t) if isinstance(t, Einsum) else {} for t in node.terms]
    remaining = set(range(len(node.terms)))
    terms = []
    while True:
        counts = {}
        for k in remaining:
            for key in options[k]:
                counts[key] = counts.get(key, 0) + 1
        shared = [key for key, count in counts.items() if count > 1]
        if not shared:
            break
        best = max(shared, key=lambda key: (counts[key], -min(k for k in remaining if key in options[k])))
        members = sorted(k for k in remaining if best in options[k])
        rests = add_node([options[k][best][0] for k in members])
        terms.append(options[members[0]][best][1](_factor_common_operand(rests)))
        remaining.difference_update(members)
    if not terms:
        return node
    return add_node(terms + [node.terms[k] for k in sorted(remaining)], node.shape)


def _operand_factorings(term):
    """{key: (rest R, rebuild(R_sum))} for each operand F of ``term`` that can be factored out."""
    out = term.out
    if len(set(out)) != len(out):
        return {}
    found = {}
    for f, (op, sub) in enumerate(zip(term.operands, term.subs)):
        if not sub or len(set(sub)) != len(sub):
            continue
        interface = [i for i in sub if i not in out]
        rest_subs = [s for k, s in enumerate(term.subs) if k != f]
        rest_ids = {i for s in rest_subs for i in s}
        if not interface or len(interface) == len(sub) or not set(interface) <= rest_ids:
            continue
        rest_out = tuple(interface) + tuple(i for i in out if i in rest_ids)
        if len(rest_out) > len(sub):
            continue   # the rest would be larger than F: better left inside the contraction
        rest_ops = term.operands[:f] + term.operands[f + 1:]
        used = {i for s in term.subs for i in s}
        orphans = {i for i in range(len(term.dims)) if i not in used and i not in out}
        rest = einsum_on(term.coeff, rest_ops, rest_subs, rest_out, term.dims, sorted(rest_ids | orphans))
        role = tuple(out.index(i) if i in out else -1 - interface.index(i) for i in sub)
        key = (op, role, tuple(out.index(i) for i in rest_out[len(interface):]))
        found[key] = (rest, _rebuild(op, sub, rest_out, term))
    return found


def _rebuild(op, sub, rest_out, term):
    ids = sorted(set(sub) | set(rest_out) | set(term.out))
    return lambda rests: einsum_on(1.0, (op, rests), [sub, rest_out], term.out, term.dims, ids)


def _skeleton_operands(term):
    out = set(term.out)
    keep = [k for k, sub in enumerate(term.subs) if out.intersection(sub)]
    return tuple(term.operands[k] for k in keep), [term.subs[k] for k in keep]


def _skeleton_and_weight(term):
    """(skeleton(order), weight(order), interface ids) for ``term``, or None if it has no weight."""
    out = set(term.out)
    skeleton_ops, skeleton_subs = _skeleton_operands(term)
    weight_ops = tuple(op for op, sub in zip(term.operands, term.subs) if not out.intersection(sub))
    weight_subs = [sub for sub in term.subs if not out.intersection(sub)]
    if not weight_ops or len(skeleton_ops) == len(term.operands):
        return None
    skeleton_ids = {i for s in skeleton_subs for i in s}
    weight_ids = {i for s in weight_subs for i in s}
    interface = sorted(skeleton_ids & weight_ids)
    if len(interface) > MAX_INTERFACE:
        return None
    orphans = set(range(len(term.dims))) - skeleton_ids - weight_ids - out

    def skeleton_of(order):
        return einsum_on(1.0, skeleton_ops, skeleton_subs, tuple(term.out) + order, term.dims,
                         sorted(skeleton_ids | out))

    def weight_of(order):
        return einsum_on(term.coeff, weight_ops, weight_subs, order, term.dims, sorted(weight_ids | orphans))

    return skeleton_of, weight_of, interface


def split_term(term):
    """The Part for einsum ``term``: its operands grouped by the summed indices that tie them."""
    unique = list(dict.fromkeys(term.out))
    position = {u: k for k, u in enumerate(unique)}
    groups = UnionFind(len(term.operands))
    owner = {}
    for k, sub in enumerate(term.subs):
        for i in sub:
            if i not in position:
                if i in owner:
                    groups.union(owner[i], k)
                else:
                    owner[i] = k
    members = {}
    for k in range(len(term.operands)):
        members.setdefault(groups.find(k), []).append(k)
    factors = []
    for group in members.values():
        ops = tuple(term.operands[k] for k in group)
        subs = [term.subs[k] for k in group]
        ids = list(dict.fromkeys(i for s in subs for i in s))
        if len(group) == 1 and len(ids) == len(subs[0]) and all(i in position for i in ids):
            factors.append((ops[0], tuple(position[i] for i in subs[0])))
            continue
        group_out = tuple(u for u in unique if u in ids)
        node = einsum_on(1.0, ops, subs, group_out, term.dims, sorted(ids))
        factors.append((node, tuple(position[u] for u in group_out)))
    used = {i for s in term.subs for i in s}
    orphans = tuple(term.dims[i] for i in range(len(term.dims)) if i not in used and i not in position)
    return Part(term.coeff, orphans, tuple(factors), tuple(position[i] for i in term.out))


class SumPlan:
    """How one sum node is computed: its parts, and the nodes (factors) whose values it reads."""

    def __init__(self, node, split):
        dense = tuple(range(len(node.shape)))
        self.parts = []
        for term in node.terms:
            if isinstance(term, Einsum) and term in split:
                self.parts.append(split_term(term))
            else:
                self.parts.append(Part(1.0, (), ((term, dense),), dense))
        self.children = tuple(f for part in self.parts for f, _ in part.factors)


class FusedSumStep:
    """Runs a SumPlan: the deltas-free parts in one pass that writes the output, then the rest."""

    def __init__(self, node, plan):
        self.shape = node.shape
        self.parts = plan.parts
        dense = tuple(range(len(node.shape)))
        patterns = list(dict.fromkeys(part.pattern for part in self.parts))
        patterns.sort(key=lambda p: p != dense)  # the pass that writes every entry goes first
        self.writes_all = patterns[0] == dense
        self.passes = []
        for pattern in patterns:
            members = [k for k, part in enumerate(self.parts) if part.pattern == pattern]
            layout = ProductsLayout([self.parts[k].factors for k in members], len(dict.fromkeys(pattern)))
            self.passes.append((pattern, members, layout))
        self.arg_offsets = np.cumsum([0] + [len(part.factors) for part in self.parts]).tolist()

    def describe(self):
        factors = self.arg_offsets[-1]
        return f"sum of {len(self.parts)} products ({factors} factors, {len(self.passes)} pass(es))"

    def __call__(self, args, sizes, dtype):
        args = [np.asarray(a) for a in args]
        out_dtype = np.result_type(dtype, *args)
        shape = tuple(sizes[d] for d in self.shape)
        out = np.empty(shape, dtype=out_dtype) if self.writes_all else np.zeros(shape, dtype=out_dtype)
        arrays = {}
        for part, offset in zip(self.parts, self.arg_offsets):
            for k, (node, _) in enumerate(part.factors):
                arrays[node] = _as_dtype(args[offset + k], out_dtype)
        coeffs = []
        for part in self.parts:
            coeff = part.coeff
            for dim in part.orphan_dims:
                coeff *= sizes[dim]
            coeffs.append(coeff)
        for n, (pattern, members, layout) in enumerate(self.passes):
            first = n == 0 and self.writes_all
            layout.run(out if first else diagonal_view(out, pattern), arrays, [coeffs[k] for k in members], add=not first)
        return out


def _as_dtype(array, dtype):
    return array if array.dtype == dtype else array.astype(dtype)
