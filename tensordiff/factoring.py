"""Planning sums: terms that share a factor contract it once.

``factor_sums`` rewrites each sum before evaluation. Terms with one skeleton (the operands that
carry output indices) become one contraction of the skeleton against the sum of their weights;
terms that share one operand become one contraction of that operand against the sum of their
rests, where that is cheaper at equal dim sizes. Both are exact by linearity.
"""

import functools
import weakref
from itertools import permutations

import opt_einsum

from .expr import Add, Einsum, topological
from .einsumnodes import einsum_on
from .simplify import substitute
from .sumdistribution import outgrows_its_reader
from .sumnodes import add_node

__all__ = ["factor_sums", "uniform_cost"]

MAX_INTERFACE = 4  # interface orders tried when matching skeletons: at most 4! = 24
UNIFORM_SIZE = 64  # the dim size at which a factoring's cost is judged
SAVING = 0.9       # a factoring must cost at most this fraction of the terms it replaces
MAX_PRICED_TERMS = 128   # a sum with more terms is not searched for a common operand (see _factor_common_operand)


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
    groups = {}  # skeleton node -> [(term, interface order, weight_of(order)), ...]
    rest = []
    candidates = []
    for term in node.terms:
        parts = _skeleton_and_weight(term) if isinstance(term, Einsum) else None
        if parts is None:
            rest.append(term)
        else:
            candidates.append((term, parts, _skeleton_atoms(term, parts[2])))
    classes = {}
    for _, _, atoms in candidates:
        classes[atoms] = classes.get(atoms, 0) + 1
    alone = []   # terms no other term could share a skeleton with: none is built for them
    for term, parts, atoms in candidates:
        if classes[atoms] == 1:
            alone.append(term)
            continue
        skeleton_of, weight_of, interface = parts
        orders = [tuple(interface)]
        if len(interface) > 1 and any(len(g[0][1]) == len(interface) for g in groups.values()):
            orders = list(permutations(interface))
        for order in orders:
            skeleton = skeleton_of(order)
            if skeleton in groups:
                groups[skeleton].append((term, order, weight_of))
                break
        else:
            groups[skeleton_of(orders[0])] = [(term, orders[0], weight_of)]
    if all(len(members) == 1 for members in groups.values()):
        return _factor_common_operand(node)
    terms = rest + alone
    for members in groups.values():
        if len(members) == 1:
            terms.append(members[0][0])
            continue
        leader, order, _ = members[0]
        weights = add_node([weigh(interface) for _, interface, weigh in members])   # built only for a group
        skeleton_ops, skeleton_subs = _skeleton_operands(leader)
        if outgrows_its_reader(len(weights.shape), len(leader.out), [len(op.shape) for op in skeleton_ops]):
            terms.extend(term for term, _, _ in members)   # the sum would be larger than all it saves
            continue
        ids = sorted(set(leader.out) | {i for s in skeleton_subs for i in s})
        terms.append(einsum_on(1.0, skeleton_ops + (weights,), skeleton_subs + [order], leader.out, leader.dims, ids))
    return _factor_common_operand(add_node(terms, node.shape))


def _factor_common_operand(node):
    """Σ_k F[k,i] R1[k,j] + Σ_k F[k,i] R2[k,j] = Σ_k F[k,i] (R1 + R2)[k,j] for one operand F.

    Where terms share no skeleton they may still share an operand F that carries output and
    summed indices: contracting F once with the sum of the rests replaces one contraction per
    term. The network hvp is the typical case: Σ_k X[k,i] (two different [k,j] weights), two
    n·d·k products become one. It is done only where it pays at equal dim sizes (sizes are not
    known when planning): a rest that the term's own path would never form in full — an outer
    product contracted with F one factor at a time — can make it cost more.

    Pricing a candidate costs an opt_einsum path for every term it touches, so a sum of more than
    MAX_PRICED_TERMS terms is left as it is: a third derivative multiplied out into ~1,400 terms of
    ~30 factors each (selfcheck seed 1265) took 25 s to price, longer than any evaluation it could
    save, and refused every candidate.
    """
    if not isinstance(node, Add) or len(node.terms) > MAX_PRICED_TERMS:
        return node
    options = [_operand_factorings(t) if isinstance(t, Einsum) else {} for t in node.terms]
    remaining = set(range(len(node.terms)))
    refused = set()
    terms = []
    while True:
        counts = {}
        for k in remaining:
            for key in options[k]:
                if key not in refused:
                    counts[key] = counts.get(key, 0) + 1
        shared = [key for key, count in counts.items() if count > 1]
        if not shared:
            break
        best = max(shared, key=lambda key: (counts[key], -min(k for k in remaining if key in options[k])))
        members = sorted(k for k in remaining if best in options[k])
        rests = [options[k][best][0]() for k in members]
        rebuild = options[members[0]][best][1]
        summed = add_node(rests)
        factored = rebuild(summed)
        if outgrows_its_reader(len(summed.shape), len(factored.shape), [len(best[0].shape)]):
            refused.add(best)   # the rests' sum would be larger than the product and the factor
            continue
        before = sum(uniform_cost(node.terms[k]) for k in members)
        after = sum(uniform_cost(r) for r in rests) + uniform_cost(factored)
        if after > SAVING * before:
            refused.add(best)
            continue
        inner = _factor_common_operand(summed)   # the priced sum and product are kept where nothing more factors
        terms.append(factored if inner is summed else rebuild(inner))
        remaining.difference_update(members)
    if not terms:
        return node
    return add_node(terms + [node.terms[k] for k in sorted(remaining)], node.shape)


_uniform_costs = weakref.WeakKeyDictionary()   # per interned node, kept no longer than the node


def uniform_cost(node):
    """FLOPs of contracting an einsum node's operands (taken as given) when every dim is UNIFORM_SIZE."""
    cost = _uniform_costs.get(node)
    if cost is None:
        cost = _uniform_costs[node] = _contraction_cost(node, UNIFORM_SIZE)
    return cost


def _contraction_cost(node, size):
    if not isinstance(node, Einsum):
        return 0.0
    tensor_subs = tuple([sub for op, sub in zip(node.operands, node.subscripts) if op.shape])
    if not tensor_subs:
        return 0.0
    return _subscripts_cost(tensor_subs, node.out, size)


@functools.lru_cache(maxsize=4096)
def _subscripts_cost(tensor_subs, out, size):
    """The cost by the tensor operands' subscripts: the equation's text is made once per pattern."""
    symbol = opt_einsum.get_symbol
    kept = "".join(symbol(i) for i in dict.fromkeys(out) if any(i in sub for sub in tensor_subs))
    equation = ",".join("".join(symbol(i) for i in sub) for sub in tensor_subs) + "->" + kept
    return _equation_cost(equation, size)


@functools.lru_cache(maxsize=4096)
def _equation_cost(equation, size):
    """The cost depends on the equation alone: products of one pattern (a chain's) are priced once."""
    shapes = [(size,) * len(term) for term in equation.split("->")[0].split(",")]
    return float(opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="auto")[1].opt_cost)


def _operand_factorings(term):
    """{key: (build_rest() -> R, rebuild(R_sum))} for each operand F of ``term`` that can be factored out."""
    out = term.out
    if len(set(out)) != len(out):
        return {}
    readers = {}   # index -> how many operands read it
    for sub in term.subscripts:
        for i in set(sub):
            readers[i] = readers.get(i, 0) + 1
    found = {}
    for f, (op, sub) in enumerate(zip(term.operands, term.subscripts)):
        if not sub or len(set(sub)) != len(sub):
            continue
        interface = [i for i in sub if i not in out]
        # with F's indices distinct, an index is read by the rest when another operand reads it
        if not interface or len(interface) == len(sub) or any(readers[i] < 2 for i in interface):
            continue
        rest_out = tuple(interface) + tuple(i for i in out if readers.get(i, 0) > (i in sub))
        role = tuple(out.index(i) if i in out else -1 - interface.index(i) for i in sub)
        key = (op, role, tuple(out.index(i) for i in rest_out[len(interface):]))
        found[key] = (_rest(term, f, rest_out), _rebuild(op, sub, rest_out, term))
    return found


def _rest(term, f, rest_out):
    """``term`` without its operand ``f``, built when called: only an operand that another term of the
    sum shares is ever factored out, so most rests are never needed (a deep chain's sums share none)."""
    def build():
        rest_subs = [s for k, s in enumerate(term.subscripts) if k != f]
        rest_ids = {i for s in rest_subs for i in s}
        used = {i for s in term.subscripts for i in s}
        orphans = {i for i in range(len(term.dims)) if i not in used and i not in term.out}
        rest_ops = term.operands[:f] + term.operands[f + 1:]
        return einsum_on(term.coeff, rest_ops, rest_subs, rest_out, term.dims, sorted(rest_ids | orphans))
    return build


def _rebuild(op, sub, rest_out, term):
    ids = sorted(set(sub) | set(rest_out) | set(term.out))
    return lambda rests: einsum_on(1.0, (op, rests), [sub, rest_out], term.out, term.dims, ids)


def _skeleton_atoms(term, interface):
    """What two terms with one skeleton have alike, found without building it: the skeleton's
    operands, an einsum among them by its own operands (building the skeleton may merge it), and
    the numbers of output and interface indices."""
    atoms = []
    for op in _skeleton_operands(term)[0]:
        atoms.extend(op.operands if isinstance(op, Einsum) else (op,))
    return tuple(sorted(atom.skey for atom in atoms)), len(term.out), len(interface)


def _skeleton_operands(term):
    out = set(term.out)
    keep = [k for k, sub in enumerate(term.subscripts) if out.intersection(sub)]
    return tuple(term.operands[k] for k in keep), [term.subscripts[k] for k in keep]


def _skeleton_and_weight(term):
    """(skeleton(order), weight(order), interface ids) for ``term``, or None if it has no weight."""
    out = set(term.out)
    skeleton_ops, skeleton_subs = _skeleton_operands(term)
    weight_ops = tuple(op for op, sub in zip(term.operands, term.subscripts) if not out.intersection(sub))
    weight_subs = [sub for sub in term.subscripts if not out.intersection(sub)]
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
