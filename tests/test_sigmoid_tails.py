"""sigmoid keeps its relative accuracy in both tails, and log(sigmoid(u)), log(1 - sigmoid(u)) (a
logistic log-likelihood's terms) are rewritten -softplus(∓u), so they stay finite far out."""

import math

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import check

x_st = td.vector("x_st", "n_st")
X_st, w_st, y_st = td.matrix("X_st", "m_st p_st"), td.vector("w_st", "p_st"), td.vector("y_st", "m_st")
POINTS = np.array([-800.0, -700.0, -40.0, -20.0, -1e-3, 0.0, 1e-3, 0.5, 20.0, 40.0, 800.0])


def _exact_sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v > -700 else math.exp(v)   # no cancellation in either form


def test_sigmoid_is_accurate_in_both_tails():
    got = td.evaluate(td.sigmoid(x_st), x_st=POINTS)
    want = np.array([_exact_sigmoid(v) for v in POINTS])
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
    assert got[2] > 0 and got[0] >= 0


def test_sigmoid_keeps_float32_and_nan():
    single = np.array([-30.0, 0.0, 30.0], dtype=np.float32)
    assert td.evaluate(td.sigmoid(x_st), x_st=single).dtype == np.float32
    assert np.isnan(td.evaluate(td.sigmoid(x_st), x_st=np.array([np.nan, 1.0]))[0])


@pytest.mark.parametrize("build, exact, word", [
    (lambda u: td.log(td.sigmoid(u)), lambda v: -np.logaddexp(0.0, -v), "log_sigmoid"),
    (lambda u: td.log_sigmoid(u), lambda v: -np.logaddexp(0.0, -v), "log_sigmoid"),
    (lambda u: td.log(1 - td.sigmoid(u)), lambda v: -np.logaddexp(0.0, v), "softplus"),
    (lambda u: td.log(-td.sigmoid(u) + 1.0), lambda v: -np.logaddexp(0.0, v), "softplus"),
])
def test_log_of_sigmoid_stays_finite_far_out(build, exact, word):
    expr = build(x_st)
    assert word in str(expr)
    got = td.evaluate(expr, x_st=POINTS)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, exact(POINTS), rtol=1e-15, atol=1e-300)
    rng = np.random.default_rng(4)
    for order in (1, 2):
        assert check(td.sum(expr), x_st, order=order, x_st=rng.standard_normal(6) * 2).max_rel_error < 1e-6


def test_logistic_loss_on_separable_data_has_a_finite_value_and_gradient():
    """Data a large w separates: each z = ±40 or more, where σ rounds to 0 or 1."""
    z = X_st @ w_st
    loss = -td.sum(y_st * td.log(td.sigmoid(z)) + (1 - y_st) * td.log(1 - td.sigmoid(z)))
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 3))
    w = np.array([40.0, -25.0, 30.0])
    y = (X @ w > 0).astype(float)
    y[0] = 1.0 - y[0]   # one point on the wrong side: its term is about |z|
    values = dict(X_st=X, w_st=w, y_st=y)
    zs = X @ w
    want_loss = np.sum(y * np.logaddexp(0.0, -zs) + (1 - y) * np.logaddexp(0.0, zs))
    np.testing.assert_allclose(td.evaluate(loss, **values), want_loss, rtol=1e-13)
    sig = 1.0 / (1.0 + np.exp(-zs))
    np.testing.assert_allclose(td.evaluate(td.grad(loss, w_st), **values), X.T @ (sig - y), rtol=1e-12, atol=1e-12)
    assert np.isfinite(want_loss) and want_loss > abs(zs[0]) * 0.99


def test_printed_sigmoid_code_agrees_in_the_tails():
    namespace: dict = {}
    exec(td.codegen(td.sigmoid(x_st), name="sigmoid_code"), namespace)
    with np.errstate(over="ignore"):   # e^800: the generated code divides 1 by inf
        got = namespace["sigmoid_code"](POINTS)
    np.testing.assert_allclose(got, td.evaluate(td.sigmoid(x_st), x_st=POINTS), rtol=4e-16, atol=0)
