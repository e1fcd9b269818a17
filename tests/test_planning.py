"""Evaluation planning: sums split into factors, common skeletons contracted once."""

import numpy as np

import tensordiff as td
from tensordiff.evaluate import _EinsumStep
from tensordiff.expr import Add, Einsum
from tensordiff.fusion import FusedSumStep, factor_sums, split_term
from tensordiff.testing import numeric_diff


def _logreg_hessian():
    X, w, y = td.matrix("X", "n d"), td.vector("w", "d"), td.vector("y", "n")
    f = td.sum(td.log(1 + td.exp(-y * (X @ w))))
    return td.hessian(f, w), X, w, y


def test_logistic_hessian_contracts_x_x_once():
    H, X, w, y = _logreg_hessian()
    program = td.compile(H)
    reads_x_twice = [step for node, step, _, _ in program.steps
                     if isinstance(step, _EinsumStep) and sum(op is X for op in node.operands) == 2]
    assert len(reads_x_twice) == 1, program
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((30, 4)), w=rng.standard_normal(4) / 2, y=np.sign(rng.standard_normal(30)))
    z = values["y"] * (values["X"] @ values["w"])
    weight = values["y"] ** 2 * np.exp(-z) / (1 + np.exp(-z)) ** 2
    np.testing.assert_allclose(program(**values), values["X"].T @ (weight[:, None] * values["X"]), rtol=1e-12)


def test_factoring_keeps_values_of_random_sums():
    rng = np.random.default_rng(3)
    A, B = td.matrix("A", "a b"), td.matrix("B", "a b")
    u, v = td.vector("u", "a"), td.vector("v", "a")
    values = dict(A=rng.standard_normal((5, 3)), B=rng.standard_normal((5, 3)),
                  u=rng.standard_normal(5), v=rng.standard_normal(5))
    sums = [  # (expression, number of terms once factored)
        (td.einsum("ki,kj,k->ij", A, A, u) + td.einsum("ki,kj,k->ij", A, A, v * v)
         - 2 * td.einsum("ki,kj,k->ij", A, A, u * v), 1),
        (td.einsum("ki,kj,k->ij", A, B, u) + td.einsum("ki,kj,k->ij", A, B, v), 1),    # same skeleton
        (td.einsum("ki,kj,k->ij", A, B, u) + td.einsum("kj,ki,k->ij", A, B, v), 2),    # different skeletons
        (td.einsum("ki,lj,k,l->ij", A, B, u, v) + td.einsum("ki,lj,l,k->ij", A, B, u, v), 1),  # interface order
        (td.einsum("ki,k->i", A, u) * td.sum(v) + td.einsum("ki->i", A) * td.sum(u * v), 2),   # no shared interface
    ]
    for expr, count in sums:
        assert isinstance(expr, Add)
        (factored,) = factor_sums([expr])
        np.testing.assert_allclose(td.evaluate(factored, **values), td.evaluate(expr, **values), rtol=1e-12, atol=1e-12)
        assert len(factored.terms if isinstance(factored, Add) else [factored]) == count


def test_split_term_groups_operands_tied_by_summed_indices():
    X, t = td.matrix("X", "n p"), td.matrix("t", "p p")
    y = td.vector("y", "n")
    term = td.einsum("jn,in,q,kq,lm->ijklm", X, t, td.einsum("pq,p->q", X, y), t, t)
    assert isinstance(term, Einsum)
    part = split_term(term)
    assert len(part.factors) == 3          # (X t)[j,i], (X'y t)[k], t[l,m]
    assert sorted(len(axes) for _, axes in part.factors) == [1, 2, 2]


def test_sum_with_deltas_and_shared_terms_matches_finite_differences():
    X, lam = td.matrix("X", "n p"), td.scalar("lam")
    y = td.vector("y", "n")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    J = td.diff(q, X)
    program = td.compile([J, td.diff(J, lam)])
    assert any(isinstance(step, FusedSumStep) for _, step, _, _ in program.steps)
    rng = np.random.default_rng(1)
    values = dict(X=rng.standard_normal((6, 3)), y=rng.standard_normal(6), lam=0.4)
    J_value, dJ_value = program(**values)
    np.testing.assert_allclose(J_value, numeric_diff(q, X, values), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(dJ_value, numeric_diff(J, lam, values), rtol=1e-6, atol=1e-7)


def _gram_cases():
    X, H = td.matrix("X", "m d"), td.matrix("H", "m k")
    w, c = td.vector("w", "m"), td.scalar("c")
    return [
        (td.einsum("mj,ml,mi,mk->ijkl", H, H, X, X), True),          # Gauss-Newton G'G
        (td.einsum("m,mi,mj->ij", w, X, X), True),                   # weighted: X' diag(w) X
        (-3 * td.einsum("mi,mj->ji", X, X), True),                   # negative factor, transposed out
        (c * td.einsum("mi,mj,m->ij", X, X, w * w), True),           # runtime scalar factor
        (td.einsum("mi,mj->ij", X, H), False),                       # two different halves
        (td.einsum("mi,mi->i", X, X), False),                        # the pair shares its output index
    ], dict(X=np.random.default_rng(4).standard_normal((9, 3)), H=np.random.default_rng(5).standard_normal((9, 2)),
            w=np.random.default_rng(6).standard_normal(9), c=-0.7)


def test_gram_products_are_detected_and_exact():
    """G.T @ G (BLAS syrk) equals the plain contraction; patterns that are no Gram product are left alone."""
    cases, values = _gram_cases()
    for expr, is_gram in cases:
        program = td.compile(expr)
        steps = [step for node, step, _, _ in program.steps if isinstance(step, _EinsumStep)]
        assert any(step.gram is not None for step in steps) == is_gram, program
        np.testing.assert_allclose(program(**values), _without_gram(expr, values), rtol=1e-12, atol=1e-12)


def _without_gram(expr, values):
    program = td.compile(expr)
    for _, step, _, _ in program.steps:
        if isinstance(step, _EinsumStep):
            step.gram = None
    return program(**values)
