"""Work counted, never timed: derivation, simplification, planning and parsing visit a node a
bounded number of times (issue 16 item 3), so quadratic or cubic growth cannot come back unnoticed.

Each test counts the calls of one pass (canonicalisations of a product, colour refinements, pair
proposals) on a family of programs at two sizes and asserts that doubling the size at most about
doubles the count. Pair reuse is also checked against a brute-force search that tries every pair
of operands, so the fast search finds exactly what the exhaustive one does.
"""

import gc
import sys
from itertools import permutations

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Einsum, topological
from tensordiff.randexpr import DEPTH, SHAPES, ExpressionGenerator
from tensordiff.reuse import is_pair, reuse_pairs
from tensordiff.einsumnodes import einsum_on

einsum_module = sys.modules["tensordiff.einsumnodes"]
reuse_module = sys.modules["tensordiff.reuse"]
factoring_module = sys.modules["tensordiff.factoring"]
planning_module = sys.modules["tensordiff.planning"]


class Counter:
    """Counts the calls of ``module.name`` while active (the module's global is wrapped)."""

    def __init__(self, monkeypatch, module, name):
        self.calls = 0
        original = getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)

    def take(self):
        calls, self.calls = self.calls, 0
        return calls


def chain(depth, tag):
    x, A = td.vector(f"x{tag}", "n"), td.matrix(f"A{tag}", "n n")
    e = x
    for k in range(depth):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    return td.sum(e), x


def power(k, tag):
    X, u, v = td.matrix(f"X{tag}", "n n"), td.vector(f"u{tag}", "n"), td.vector(f"v{tag}", "n")
    e = v
    for _ in range(k):
        e = X @ e
    return u @ e, X


def assert_linear(counts, slack):
    small, large = counts
    assert large <= 2 * small + slack, counts


def test_canonicalisations_of_a_chains_gradient_grow_linearly(monkeypatch):
    canonical = Counter(monkeypatch, einsum_module, "_canonical_einsum")
    derived, planned = [], []
    for depth in (100, 200):
        f, x = chain(depth, f"c{depth}")
        canonical.take()
        g = td.grad(f, x)
        derived.append(canonical.take())
        td.compile(g)
        planned.append(canonical.take())
    assert_linear(derived, 50)
    assert_linear(planned, 50)
    # planning rebuilds only what it changes: 373 at depth 200 (406 when an accepted common-operand
    # factoring built its priced sum and product again; 577 when derivatives were distributed up to
    # 12 terms; 871 when every sum's factoring rebuilt the whole graph and each matrix's symmetry
    # test built its transpose)
    assert planned[-1] <= 1.95 * 200, planned


def test_colour_refinements_of_a_chains_gradient_grow_linearly(monkeypatch):
    refined = Counter(monkeypatch, einsum_module, "refined_keys")
    counts = []
    for depth in (100, 200):
        f, x = chain(depth, f"r{depth}")
        refined.take()
        td.compile(td.grad(f, x))
        counts.append(refined.take())
    assert_linear(counts, 50)
    # 101 at depth 200, derivation and planning (98 before sum distribution split one matrix sum
    # read by a matrix-vector product in two): 1,326 when derivatives were distributed up to 12
    # terms (diff.MAX_DISTRIBUTED_OPERANDS), whose products of 8-24 slopes each needed refinement
    assert counts[-1] <= 0.55 * 200, counts


def planning_counts(counter, tag, prepare=None):
    """``counter``'s calls while compiling a chain's gradient at depths 100 and 200 (asserted linear)."""
    counts = []
    for depth in (100, 200):
        f, x = chain(depth, f"{tag}{depth}")
        g = td.grad(f, x)
        if prepare is not None:
            prepare()
        counter.take()
        td.compile(g)
        counts.append(counter.take())
    assert_linear(counts, 20)
    return counts


def test_common_operand_factoring_builds_each_priced_product_once(monkeypatch):
    counts = planning_counts(Counter(monkeypatch, factoring_module, "einsum_on"), "f")
    # 234 at depth 200: each rest once, each candidate's product once; 267 when an accepted candidate's
    # sum of rests and its product were built again after pricing
    assert counts[-1] <= 1.2 * 200, counts


def test_common_operand_pricing_writes_each_equation_once(monkeypatch):
    # a chain's products repeat a few subscript patterns: each pattern's einsum equation is written
    # (and its path searched) once, not once per product priced (~1.6 per operation)
    counts = planning_counts(Counter(monkeypatch, factoring_module, "_equation_cost"), "e",
                             prepare=factoring_module._subscripts_cost.cache_clear)
    # 115 at depth 200: 325 when the equation was written for every product priced
    assert counts[-1] <= 0.75 * 200, counts


def test_planning_a_deep_chain_runs_no_cycle_collection():
    # planning allocates thousands of steps and makes no reference cycles: with the collector on,
    # each full collection rescanned every node and step alive (a third of the compile of the
    # 3,000-operation chain, in 5 full collections and ~600 young ones)
    f, x = chain(400, "gc")
    g = td.grad(f, x)
    collections = []

    def count(phase, info):
        if phase == "start":
            collections.append(info["generation"])
    was_enabled = gc.isenabled()
    gc.enable()
    gc.collect()
    gc.callbacks.append(count)
    try:
        td.compile(g)
        enabled_after = gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        if not was_enabled:
            gc.disable()
    assert enabled_after
    assert len(collections) <= 1, collections   # at most the one young collection when the collector resumes


def test_pair_reuse_of_a_matrix_power_is_near_linear(monkeypatch):
    # u'X^k v's gradient has k products of up to 63 factors: the old search canonicalised an
    # einsum for every pair of factors of every product (cubic); proposals now come from the
    # indices two factors alone sum
    matches = Counter(monkeypatch, reuse_module.PairIndex, "match")
    canonical = Counter(monkeypatch, reuse_module, "einsum_on")
    proposed, canonicalised = [], []
    for k in (60, 120):
        f, X = power(k, f"p{k}")
        nodes = topological([td.grad(f, X)])
        matches.take()
        canonical.take()
        reuse_pairs(nodes)
        proposed.append(matches.take())
        canonicalised.append(canonical.take())
    assert_linear(proposed, 100)
    assert_linear(canonicalised, 20)


def test_planning_a_matrix_power_canonicalises_linearly(monkeypatch):
    canonical = Counter(monkeypatch, einsum_module, "_canonical_einsum")
    operands_canonicalised = [0]
    original = einsum_module._canonical_einsum   # the counting wrapper

    def counted(coeff, ops, *rest):
        operands_canonicalised[0] += len(ops)
        return original(coeff, ops, *rest)
    monkeypatch.setattr(einsum_module, "_canonical_einsum", counted)
    counts, operands = [], []
    for k in (100, 200):   # past several blocks of einsumnodes.MAX_MERGED_REPEATING factors
        f, X = power(k, f"q{k}")
        g = td.grad(f, X)
        canonical.take()
        operands_canonicalised[0] = 0
        td.compile(g)
        counts.append(canonical.take())
        operands.append(operands_canonicalised[0])
    assert_linear(counts, 100)
    # 1,375 products of 10,628 operands in all at k = 200, since a power merges into products of at
    # most 12 factors (einsumnodes.merge_limit): 949 products of 53,703 operands when it merged
    # 63 factors a product (803 without factor grouping's group sums, 1,013 when factoring rebuilt
    # every product)
    assert counts[-1] <= 7.1 * 200, counts
    assert operands[-1] <= 54 * 200, operands


def test_parsing_distinct_terms_canonicalises_linearly(monkeypatch):
    canonical = Counter(monkeypatch, einsum_module, "_canonical_einsum")
    counts = []
    for terms in (100, 200):
        text = " + ".join(f"tanh(A{terms}_{k}*x{terms}_{k} + b{terms}_{k})'*B{terms}*y{terms} - "
                          f"tr(C{terms}_{k}'*A{terms}_{k}*B{terms})" for k in range(terms))
        canonical.take()
        td.parse(text)
        counts.append(canonical.take())
    assert_linear(counts, 20)


# ---------------------------------------------------------------- pair reuse = the exhaustive search

def exhaustive_reuse(nodes):
    """The first search: every pair of tensor operands in order, canonicalised, each axis order tried."""
    pairs = {node for node in nodes if is_pair(node)}
    found = {}
    for node in nodes:
        if not (isinstance(node, Einsum) and sum(1 for op in node.operands if op.shape) > 2):
            continue
        new = node
        while True:
            hit = _first(new, pairs)
            if hit is None:
                break
            new = _replace(new, *hit)
        if new is not node:
            found[node] = new
    return found


def _first(node, pairs):
    tensors = [k for k, op in enumerate(node.operands) if op.shape]
    for x, a in enumerate(tensors):
        for b in tensors[x + 1:]:
            sub_a, sub_b = node.subscripts[a], node.subscripts[b]
            if len(set(sub_a)) != len(sub_a) or len(set(sub_b)) != len(sub_b):
                continue
            shared = set(sub_a) & set(sub_b)
            elsewhere = set(node.out).union(*(s for k, s in enumerate(node.subscripts) if k not in (a, b)))
            if not shared or shared & elsewhere:
                continue
            free = [i for i in dict.fromkeys(sub_a + sub_b) if i not in shared]
            if len(free) > reuse_module.MAX_PAIR_AXES:
                continue
            ids = sorted(set(sub_a) | set(sub_b))
            for order in permutations(free):
                candidate = einsum_on(1.0, (node.operands[a], node.operands[b]), [sub_a, sub_b], order, node.dims, ids)
                if candidate in pairs:
                    return a, b, candidate, order
    return None


def _replace(node, a, b, pair, order):
    ops = [op for k, op in enumerate(node.operands) if k not in (a, b)] + [pair]
    subs = [s for k, s in enumerate(node.subscripts) if k not in (a, b)] + [tuple(order)]
    gone = (set(node.subscripts[a]) | set(node.subscripts[b])) - set(order)
    kept = [i for i in range(len(node.dims)) if i not in gone]
    renumber = {i: n for n, i in enumerate(kept)}
    return td.expr.make(Einsum, node.coeff, tuple(ops), tuple(tuple(renumber[i] for i in s) for s in subs),
                        tuple(renumber[i] for i in node.out), tuple(node.dims[i] for i in kept))


@pytest.mark.parametrize("seed", range(60))
def test_pair_reuse_finds_what_the_exhaustive_search_finds(seed, monkeypatch):
    seen = []

    def both(nodes):
        fast = reuse_pairs(nodes)
        seen.append((fast, exhaustive_reuse(nodes)))
        return fast
    monkeypatch.setattr(planning_module, "reuse_pairs", both)
    gen = ExpressionGenerator(9100 + seed)
    expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    exprs = [expr] + [td.diff(expr, gen.S[name], order=1 + seed % 2) for name in sorted(expr.free)[:2]]
    td.compile(exprs)
    assert seen
    for fast, exhaustive in seen:
        assert fast == exhaustive


def test_pair_reuse_finds_the_network_hvps_pairs_and_stays_exact():
    X, V, a = td.matrix("wX", "n d"), td.matrix("wV", "d k"), td.vector("wa", "k")
    XV = X @ V
    outputs = [XV, td.einsum("nk,k,nd,dk->n", td.tanh(XV), a, X, V), td.einsum("nd,dk,k->n", X, V, a)]
    nodes = topological(outputs)
    fast = reuse_pairs(nodes)
    assert fast == exhaustive_reuse(nodes)
    assert len(fast) == 2 and all(XV in new.operands for new in fast.values())
    rng = np.random.default_rng(5)
    values = dict(wX=rng.standard_normal((4, 3)), wV=rng.standard_normal((3, 2)), wa=rng.standard_normal(2))
    x_value, v_value, a_value = values["wX"], values["wV"], values["wa"]
    got = td.compile(outputs)(**values)
    xv = x_value @ v_value
    np.testing.assert_allclose(got[1], (np.tanh(xv) * xv) @ a_value, rtol=1e-12)
    np.testing.assert_allclose(got[2], xv @ a_value, rtol=1e-12)
