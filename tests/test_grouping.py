"""The factor grouping pass (tensordiff/grouping.py): Σ_t F⊗R_t = F⊗Σ_t R_t, exactly.

Each check runs with the compiled kernels and with their numpy twin, and compares the grouped
program with the program planned without the pass, with a closed form or the random generator's
numpy twin, and with central finite differences.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels, passes
from tensordiff.expr import Add, topological
from tensordiff.fusion import FusedSumStep
from tensordiff.grouping import group_factors
from tensordiff.randexpr import DEPTH, SHAPES, USER_FUNCTIONS, ExpressionGenerator
from tensordiff.testing import numeric_diff

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from problems import tikhonov_H_closed, tikhonov_J_closed  # noqa: E402

IMPLEMENTATIONS = [True, False] if kernels._compiled is not None else [False]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda c: "kernel" if c else "twin")
def implementation(request):
    previous = kernels.kernels_available()
    kernels.use_compiled(request.param)
    yield request.param
    kernels.use_compiled(previous)


@pytest.fixture
def without_grouping(monkeypatch):
    """A function that compiles with every expression pass but factor grouping."""
    def compile_ungrouped(exprs):
        with monkeypatch.context() as patch:
            patch.setattr(passes, "EXPRESSION_PASSES",
                          tuple(p for p in passes.EXPRESSION_PASSES if p.name != "factor grouping"))
            return td.compile(exprs)
    return compile_ungrouped


def tikhonov():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    rng = np.random.default_rng(3)
    values = dict(X=rng.standard_normal((9, 4)), y=rng.standard_normal(9), lam=0.7)
    return X, y, lam, q, values


def tikhonov_derivatives():
    """The Tikhonov map's derivatives of output order 1 to 5, each with what it differentiates."""
    X, y, lam, q, _ = tikhonov()
    return [("dq/dlam", q, lam, 1), ("dq/dy", q, y, 1), ("dq/dX", q, X, 1),
            ("d2q/dy dX", td.diff(q, y), X, 1), ("d2q/dX2", q, X, 2)]


def final_sums(program):
    steps = [getattr(program.steps[slot][1], "fused", program.steps[slot][1]) for slot in program.output_slots]
    return [step for step in steps if isinstance(step, FusedSumStep)]


@pytest.mark.parametrize("case", range(5), ids=[c[0] for c in tikhonov_derivatives()])
def test_tikhonov_derivatives_of_order_1_to_5_stay_exact(case, implementation, without_grouping):
    _, expr, wrt, order = tikhonov_derivatives()[case]
    values = tikhonov()[-1]
    derivative = td.diff(expr, wrt, order=order)
    grouped = td.compile(derivative)(**values)
    ungrouped = without_grouping(derivative)(**values)
    assert len(grouped.shape) == case + 1
    np.testing.assert_allclose(grouped, ungrouped, rtol=1e-12, atol=1e-13)
    lower = td.diff(expr, wrt, order=order - 1) if order > 1 else expr
    np.testing.assert_allclose(grouped, numeric_diff(lower, wrt, values), rtol=1e-6, atol=1e-7)


def test_tikhonov_jacobian_and_hessian_match_their_closed_forms(implementation):
    X, _, _, q, values = tikhonov()
    J, H = td.compile([td.diff(q, X), td.diff(q, X, order=2)])(**values)
    np.testing.assert_allclose(J, tikhonov_J_closed(**values), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H, tikhonov_H_closed(**values), rtol=1e-11, atol=1e-13)


def test_the_order_5_hessian_writes_the_closed_forms_four_products(without_grouping):
    """Fourteen three-factor terms share four factors on the axis of q: one product per factor."""
    X, _, _, q, _ = tikhonov()
    H = td.diff(q, X, order=2)
    ungrouped, = final_sums(without_grouping(H))
    grouped, = final_sums(td.compile(H))
    assert len(ungrouped.parts) == 14
    assert len(grouped.parts) == 4
    assert all(len(part.factors) == 2 for part in grouped.parts)
    assert "factor grouping" in td.compile(H).explain(n=9, p=4)


def test_the_jacobians_terms_sharing_a_factor_become_one(without_grouping):
    X, _, _, q, _ = tikhonov()
    J = td.diff(q, X)
    assert [len(s.parts) for s in final_sums(without_grouping(J))] == [3]
    assert [len(s.parts) for s in final_sums(td.compile(J))] == [2]


def test_grouping_prices_less_work_and_no_more_memory(without_grouping):
    X, _, _, q, _ = tikhonov()
    H = td.diff(q, X, order=2)
    sizes = dict(n=30, p=8)
    after, before = td.compile(H).explain(**sizes), without_grouping(H).explain(**sizes)

    def total(text, what):
        line = next(line for line in text.splitlines() if line.strip().startswith("total"))
        return float(line.split(what)[0].split()[-1])
    assert total(after, "flops") < 0.8 * total(before, "flops")
    cost = td.cost(H, **sizes)
    assert cost.flops < 0.8 * total(before, "flops")


def test_a_group_sum_that_is_another_transposed_is_formed_once(implementation):
    """F[i] (G[j] H[k] + K[j,k]) + E[j] (H[i] G[k] + K[k,i]): the second group sum is the first read
    with its axes swapped."""
    F, E, G, Hv = (td.vector(name, "n") for name in ("F", "E", "G", "Hv"))
    K = td.matrix("K", "n n")
    expr = td.einsum("i,j,k->ijk", F, G, Hv) + td.einsum("i,jk->ijk", F, K) + \
        td.einsum("j,k,i->ijk", E, G, Hv) + td.einsum("j,ki->ijk", E, K)
    grouped, = group_factors([expr])
    sums = [node for node in topological([grouped]) if isinstance(node, Add) and len(node.shape) == 2]
    assert len(sums) == 1
    rng = np.random.default_rng(8)
    values = {name: rng.standard_normal(5) for name in ("F", "E", "G", "Hv")}
    values["K"] = rng.standard_normal((5, 5))
    f, e, g, h, k = (values[name] for name in ("F", "E", "G", "Hv", "K"))
    want = np.einsum("i,jk->ijk", f, np.outer(g, h) + k) + np.einsum("j,ki->ijk", e, np.outer(h, g).T + k)
    np.testing.assert_allclose(td.compile(expr)(**values), want, rtol=1e-13, atol=1e-13)


def test_terms_with_deltas_and_shared_output_indices_group_exactly(implementation, without_grouping):
    """A rest may carry a Kronecker delta, and a factor may share an output index with its rest."""
    a, b = td.vector("a", "n"), td.vector("b", "n")
    A = td.matrix("A", "n n")
    eye = td.eye("n")
    expr = td.einsum("i,jk->ijk", a, A) + td.einsum("i,jk->ijk", a, eye) + td.einsum("i,ij,k->ijk", a, A, b) + \
        td.einsum("i,ik,j->ijk", b, eye, a)
    rng = np.random.default_rng(4)
    values = dict(a=rng.standard_normal(4), b=rng.standard_normal(4), A=rng.standard_normal((4, 4)))
    av, bv, Av = values["a"], values["b"], values["A"]
    want = np.einsum("i,jk->ijk", av, Av + np.eye(4)) + np.einsum("i,ij,k->ijk", av, Av, bv) + \
        np.einsum("i,ik,j->ijk", bv, np.eye(4), av)
    for program in (td.compile(expr), without_grouping(expr)):
        np.testing.assert_allclose(program(**values), want, rtol=1e-13, atol=1e-13)
    for wrt in (a, A):
        for program_of in (td.compile, without_grouping):
            derivative = td.diff(expr, wrt)
            np.testing.assert_allclose(program_of(derivative)(**values), numeric_diff(expr, wrt, values),
                                       rtol=1e-6, atol=1e-7)


def test_a_term_whose_factors_share_an_output_index_joins_no_class_twice(implementation, without_grouping):
    """Previously failed: in a softmax attention Hessian the factors of one term all carry the row
    index i (A[i,j] B[i,l] c[i]); counted in the class of each, the term was added twice."""
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    c = td.vector("c", "n")
    expr = td.einsum("ij,il,i->ijl", A, B, c) + td.einsum("ij,il->ijl", A, A) + td.einsum("il,ij->ijl", B, B)
    rng = np.random.default_rng(6)
    values = dict(A=rng.standard_normal((3, 3)), B=rng.standard_normal((3, 3)), c=rng.standard_normal(3))
    a, b, cv = values["A"], values["B"], values["c"]
    want = np.einsum("ij,il,i->ijl", a, b, cv) + np.einsum("ij,il->ijl", a, a) + np.einsum("il,ij->ijl", b, b)
    np.testing.assert_allclose(td.compile(expr)(**values), want, rtol=1e-13, atol=1e-13)

    Q, K, V, C = td.matrix("Q", "n d"), td.matrix("K", "m d"), td.matrix("V", "m e"), td.matrix("C", "n e")
    f = td.sum(td.softmax(Q @ K.T / 2.0) @ V * C)
    values = dict(Q=rng.standard_normal((2, 4)), K=rng.standard_normal((3, 4)), V=rng.standard_normal((3, 2)),
                  C=rng.standard_normal((2, 2)))
    gradient = td.diff(f, Q)
    hessian = td.diff(gradient, Q)
    got = td.compile(hessian)(**values)
    np.testing.assert_allclose(got, without_grouping(hessian)(**values), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got, numeric_diff(gradient, Q, values), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("seed", range(24))
def test_random_expressions_and_derivatives_keep_their_values(seed, implementation, without_grouping):
    gen = ExpressionGenerator(5300 + seed)
    expr, twin = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    names = sorted(expr.free)[:2]
    exprs = [expr] + [td.diff(expr, gen.S[name], order=1 + seed % 3) for name in names]
    grouped = td.compile(exprs)(gen.V, functions=USER_FUNCTIONS)
    ungrouped = without_grouping(exprs)(gen.V, functions=USER_FUNCTIONS)
    np.testing.assert_allclose(grouped[0], twin(gen.V), rtol=1e-9, atol=1e-10)
    for g, u in zip(grouped, ungrouped):
        np.testing.assert_allclose(g, u, rtol=1e-9, atol=1e-10)
    for name, value in zip(names, grouped[1:]):
        if 1 + seed % 3 == 1:
            numeric = numeric_diff(expr, gen.S[name], gen.V, functions=USER_FUNCTIONS)
            np.testing.assert_allclose(value, numeric, rtol=1e-5, atol=1e-6)


def test_random_derivatives_do_group():
    """The random campaign above exercises the pass: most seeds' derivatives have sums it groups."""
    grouped = 0
    for seed in range(24):
        gen = ExpressionGenerator(5300 + seed)
        expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
        exprs = [td.diff(expr, gen.S[name], order=1 + seed % 3) for name in sorted(expr.free)[:2]]
        grouped += group_factors(exprs) != exprs
    assert grouped >= 6
