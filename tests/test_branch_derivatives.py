"""The derivative of a choice, where(m, ∂a, ∂b) and maximum's, chooses between the branches'
elementwise factors and multiplies the choice by the Jacobian they share (branchderivatives.py):
the gradient of Σ maximum(M, N)² in an n×n M was planned with an n⁴ choice (43.7 TiB at n = 1000).
Values against finite differences and jax, at ties, where the branch not taken is nan, and the
kernels against the twin."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.expr import topological
from tensordiff.reductionnodes import Where
from tensordiff.testing import numeric_diff

from helpers import assert_identical

RNG = np.random.default_rng(31)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _cases():
    M, N, u = td.matrix("M", "n n"), td.matrix("N", "n n"), td.vector("u", "n")
    return M, [
        td.sum(td.maximum(M, N) ** 2),
        td.sum(td.maximum(-M, -u) * M),                     # a broadcast branch
        td.sum(td.where(M > N, M ** 2, td.sin(M))),
        td.sum(td.where(M > 0.2, td.exp(M @ N), M) * N),    # a branch through a product: J = N ⊗ δ
        td.sum(td.maximum(M, 0.0) * td.tanh(M @ N)),
    ]


def _values():
    return dict(M=RNG.standard_normal((4, 4)), N=RNG.standard_normal((4, 4)), u=RNG.standard_normal(4))


def test_gradients_of_choices_are_planned_without_an_n4_choice():
    M, cases = _cases()
    for f in cases:
        gradient = td.grad(f, M)
        wide = [node for node in topological([gradient]) if isinstance(node, Where) and len(node.shape) > 2]
        assert not wide, f
        assert td.cost(gradient, n=1000).peak_bytes < 256 * 2 ** 20, f   # was up to 43.7 TiB


@pytest.mark.parametrize("case", range(5))
def test_gradients_and_hessians_of_choices_against_finite_differences(case):
    M, cases = _cases()
    f, values = cases[case], _values()
    gradient = td.grad(f, M)
    np.testing.assert_allclose(td.evaluate(gradient, **values), numeric_diff(f, M, values), rtol=1e-6, atol=1e-8)
    hessian = td.diff(gradient, M)
    np.testing.assert_allclose(td.evaluate(hessian, **values), numeric_diff(gradient, M, values),
                               rtol=1e-6, atol=1e-8)


def test_gradients_of_choices_against_jax():
    jax, jnp = _jax()
    M, cases = _cases()
    values = _values()
    n, u = jnp.asarray(values["N"]), jnp.asarray(values["u"])
    twins = [
        lambda m: jnp.sum(jnp.maximum(m, n) ** 2),
        lambda m: jnp.sum(jnp.maximum(-m, -u) * m),
        lambda m: jnp.sum(jnp.where(m > n, m ** 2, jnp.sin(m))),
        lambda m: jnp.sum(jnp.where(m > 0.2, jnp.exp(m @ n), m) * n),
        lambda m: jnp.sum(jnp.maximum(m, 0.0) * jnp.tanh(m @ n)),
    ]
    m = jnp.asarray(values["M"])
    for f, twin in zip(cases, twins):
        np.testing.assert_allclose(td.evaluate(td.grad(f, M), **values), jax.grad(twin)(m), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(td.evaluate(td.hessian(f, M), **values), jax.hessian(twin)(m),
                                   rtol=1e-10, atol=1e-12)


def test_ties_share_the_slope_and_the_branch_not_taken_never_reaches_the_result():
    M, N = td.matrix("M", "n n"), td.matrix("N", "n n")
    m = np.array([[1.0, 2.0], [-1.0, 0.5]])
    n = np.array([[1.0, 3.0], [-2.0, 0.5]])                  # ties at [0,0] and [1,1]
    gradient = td.evaluate(td.grad(td.sum(td.maximum(M, N) * 3.0), M), M=m, N=n)
    assert np.array_equal(gradient, [[1.5, 0.0], [3.0, 1.5]])
    f = td.sum(td.where(M > 0, td.log(M), M * M) * N)        # log's slope is nan/inf where M <= 0
    with np.errstate(all="ignore"):
        got = td.evaluate(td.grad(f, M), M=m, N=n)
        hessian = td.evaluate(td.hessian(f, M), M=m, N=n)
    assert np.array_equal(got, np.where(m > 0, n / m, 2 * m * n))
    assert np.all(np.isfinite(hessian))


def test_the_kernels_and_the_twin_agree_bit_for_bit():
    M, cases = _cases()
    values = _values()
    derivatives = [td.grad(f, M) for f in cases] + [td.hessian(cases[3], M)]
    got = td.compile(derivatives)(**values)
    kernels.use_compiled(False)
    try:
        assert_identical(td.compile(derivatives)(**values), got)
    finally:
        kernels.use_compiled(True)


@pytest.mark.parametrize("build", [
    lambda c, w: td.where(w <= c, c, w),
    lambda c, w: td.where(w <= c, c * c, 0.0),
    lambda c, w: td.maximum(c, w),
    lambda c, w: td.minimum(w, 2.0 * c),
])
def test_a_branch_counting_a_dim_keeps_its_size(build):
    """c = Σ_j (r + X[i, j]) has ∂c/∂r = Σ_j 1 = m, an index no operand reads: taking the branches'
    Jacobian out of the choice dropped it, so the derivative was 1 where it is m (random seed 2136)."""
    r, X, w = td.scalar("r_count"), td.matrix("X_count", "n_count m_count"), td.vector("w_count", "n_count")
    c = td.sum(r + X, axis=1)
    f = build(c, w)
    values = dict(r_count=0.3, X_count=RNG.standard_normal((3, 4)), w_count=np.array([-1.0, 0.2, 9.0]))
    got = td.evaluate(td.diff(f, r), **values)
    np.testing.assert_allclose(got, numeric_diff(f, r, values), rtol=1e-7, atol=1e-9)
    assert np.any(np.abs(got) > 3.5), got   # some entry chose the branch of slope m = 4


@pytest.mark.parametrize("w_value", [[0.435, 0.1], [0.435, 0.933]], ids=["mixed mask", "no entry taken"])
def test_a_branch_factor_whose_derivative_is_infinite_where_not_taken_stays_out(w_value):
    """where(t > 0, log t, b) with t = [w < 1/4] w inv(A) exactly 0 where masked: the second
    derivative of log t's factor, -t⁻¹ [w < 1/4] w, holds t⁻² there. It was kept whole as the
    Jacobian of the choice, which multiplied it by the choice's exact zero: every entry of the
    Hessian was nan (test_random's generator, seed 10858)."""
    T, w = td.tensor("T_bi", "k_bi n_bi n_bi"), td.vector("w_bi", "n_bi")
    S = td.relu(td.sum(T, axis=0))
    t = (w < 0.25) * w * td.inv(S @ S.T + td.eye("n_bi"))
    f = (td.where(t > 0, td.log(t), 0.5 * td.sum(T, axis=0)) ** 2 + 1) ** -1.5
    values = dict(T_bi=np.random.default_rng(10858).uniform(0.2, 1.0, (3, 2, 2)), w_bi=np.array(w_value))
    result = td.check(f, T, order=2, **values)
    assert np.all(np.isfinite(result.symbolic)) and result.max_rel_error < 1e-6
