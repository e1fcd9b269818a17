"""An inverse read twice in one product becomes two nested solves (passes.use_solve), run as one
step that factors the matrix once (repeatedsolve.py): values against numpy and finite differences,
bit for bit against two separate solves, on every backend, with the singular-matrix policies."""

import pickle
import warnings

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Inv, Solve, topological
from tensordiff.passes import run_passes
from tensordiff.testing import numeric_diff

from helpers import assert_identical, in_threads


def _steps(program):
    return [step.describe() if hasattr(step, "describe") else type(step).__name__ for _, step, _, _ in program.steps]


def _ridge(n=30, p=6, seed=0):
    X, y, alpha = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("alpha")
    w = td.inv(X.T @ X + alpha * td.eye("p")) @ X.T @ y
    rng = np.random.default_rng(seed)
    return w, alpha, dict(X=rng.standard_normal((n, p)), y=rng.standard_normal(n), alpha=0.7)


def test_ridge_dw_dalpha_factors_once_and_matches_the_closed_form_and_finite_differences():
    w, alpha, values = _ridge()
    program = td.compile(td.diff(w, alpha))
    assert "solve twice" in _steps(program) and "inv" not in _steps(program)
    assert "[factor once]" in program.explain()
    X, y, a = values["X"], values["y"], values["alpha"]
    M = X.T @ X + a * np.eye(X.shape[1])
    closed = -np.linalg.solve(M, np.linalg.solve(M, X.T @ y))
    got = program(**values)
    np.testing.assert_allclose(got, closed, rtol=1e-12)
    fd = numeric_diff(w, alpha, values)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)
    assert_identical(program(**values), got)   # the stored specialisation


def test_the_pair_of_solves_is_bit_for_bit_two_solves():
    w, alpha, values = _ridge(seed=3)
    derivative = td.diff(w, alpha)
    fused = td.compile(derivative)
    loop = td.compile(derivative)
    loop.specialisations = None   # the generic step loop: each solve its own LAPACK calls
    assert_identical(fused(**values), loop(**values))


def test_a_general_matrix_and_several_right_hand_sides():
    A, B = td.matrix("A", "n n"), td.matrix("B", "n k")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 5)) + 4 * np.eye(5), rng.standard_normal((5, 3))
    for expr, want in ((td.inv(A) @ td.inv(A) @ B, np.linalg.solve(a, np.linalg.solve(a, b))),
                       (2.5 * (td.inv(A) @ (td.inv(A) @ B)), 2.5 * np.linalg.solve(a, np.linalg.solve(a, b)))):
        program = td.compile(expr)
        assert "solve twice" in _steps(program)
        np.testing.assert_allclose(program(A=a, B=b), want, rtol=1e-12)
        np.testing.assert_allclose(program(A=a.astype(np.float32), B=b.astype(np.float32)), want, rtol=1e-4)


@pytest.mark.parametrize("case", ["transposed", "between", "thrice", "two readers"])
def test_other_repeated_reads_keep_their_values(case):
    A, B, c = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("c", "n")
    rng = np.random.default_rng(2)
    a, b, v = rng.standard_normal((4, 4)) + 3 * np.eye(4), rng.standard_normal((4, 4)), rng.standard_normal(4)
    ai = np.linalg.inv(a)
    exprs = {"transposed": (td.inv(A).T @ td.inv(A) @ c, ai.T @ ai @ v),
             "between": (td.inv(A) @ B @ td.inv(A) @ c, ai @ b @ ai @ v),
             "thrice": (td.inv(A) @ td.inv(A) @ td.inv(A) @ c, ai @ ai @ ai @ v),
             "two readers": ((td.inv(A) @ c, td.inv(A) @ B @ c), (ai @ v, ai @ b @ v))}
    expr, want = exprs[case]
    program = td.compile(expr)
    got = program(A=a, B=b, c=v)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        np.testing.assert_allclose(g, w, rtol=1e-10)
    planned, _ = run_passes(expr if isinstance(expr, tuple) else (expr,))
    inverses = [node for node in topological(planned) if isinstance(node, Inv)]
    if case in ("thrice", "between"):
        # thrice: two LUs no longer beat one inverse; between: a read contracting both its indices
        # is no solve form (use_solve does not split the product around it): computed once
        assert len(inverses) == 1
    if case == "transposed":
        assert not inverses and sum(isinstance(node, Solve) for node in topological(planned)) == 2


@pytest.mark.parametrize("backend", ["jax", "dask"])
def test_other_backends_get_the_same_plan_and_values(backend):
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    w, alpha, values = _ridge(seed=4)
    derivative = td.diff(w, alpha)
    want = td.compile(derivative)(**values)
    program = td.compile(derivative, backend=backend)
    assert "solve twice" in _steps(program)
    np.testing.assert_allclose(np.asarray(program(**values)), want, rtol=1e-10)


def test_singular_policies_hold_for_the_pair():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    expr = td.inv(A) @ (td.inv(A) @ b)
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert np.isnan(td.compile(expr, singular="nan")(A=singular, b=np.ones(2))).all()
    with pytest.raises(td.EvaluationError, match="singular"):
        td.compile(expr)(A=singular, b=np.ones(2))
    close = np.diag([1.0, 1e-17])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_allclose(td.compile(expr)(A=close, b=np.ones(2)), [1.0, 1e34])
    assert [type(w.message) for w in caught] == [td.IllConditionedWarning]   # one matrix, one warning
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        td.compile(expr, conditioning="raise")(A=close, b=np.ones(2))


def test_cost_counts_one_factorisation_and_two_solves():
    w, alpha, _ = _ridge()
    program = td.compile(td.diff(w, alpha))
    n = 50
    line = [row for row in program.explain(n=200, p=n).splitlines() if "solve twice" in row][0]
    assert f"{2 * n ** 3 // 3 + 2 * 2 * n ** 2:.3g}" in line


def test_pickled_and_threaded_programs_agree():
    w, alpha, values = _ridge(seed=5)
    program = td.compile(td.diff(w, alpha))
    want = program(**values)
    assert_identical(pickle.loads(pickle.dumps(program))(**values), want)
    for got in in_threads(lambda k: program(**values), 4):
        assert_identical(got, want)
