"""The numerics policy (docs/background/numerics.md): outside a function's domain, and for NaN inputs,
values follow numpy/IEEE 754 silently — nan or ±inf in the affected entries, the others exact,
never an exception; only a singular matrix under inv/det/logdet is an error (test_errors.py)."""

import re
import warnings

import numpy as np
import pytest

import tensordiff as td


def _quietly(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the elementwise policy is silent: a warning would fail here
        return fn()


def test_log_and_sqrt_outside_their_domain():
    x = td.vector("x", "n")
    at = np.array([-2.0, 0.0, 4.0])
    log, sqrt = _quietly(lambda: (td.evaluate(td.log(x), x=at), td.evaluate(td.sqrt(x), x=at)))
    np.testing.assert_array_equal(log, [np.nan, -np.inf, np.log(4.0)])
    np.testing.assert_array_equal(sqrt, [np.nan, 0.0, 2.0])
    dlog, dsqrt = _quietly(lambda: (td.evaluate(td.diff(td.log(x), x), x=at),
                                    td.evaluate(td.diff(td.sqrt(x), x), x=at)))
    np.testing.assert_array_equal(np.diagonal(dlog), [-0.5, np.inf, 0.25])     # 1/x, as numpy computes it
    np.testing.assert_array_equal(np.diagonal(dsqrt), [np.nan, np.inf, 0.25])
    assert np.all(dlog[~np.eye(3, dtype=bool)] == 0)                           # the other entries stay exact


def test_constants_that_fold_to_inf_or_nan_are_an_error():
    # folded silently, 0 * (1/0) would simplify to 0 where numpy gives nan
    z = td.scalar("z")
    for build, text in [(lambda: td.log(0 * z - 1.0), "log(-1) is nan"), (lambda: td.log(0 * z), "log(0) is -inf"),
                        (lambda: (0 * z) ** -1.0, "1/0 is inf"), (lambda: z / (0 * z), "1/0 is inf"),
                        (lambda: td.sqrt(0 * z - 4.0), "(-4)^0.5 is nan"), (lambda: z * float("inf"), "is inf"),
                        (lambda: z + float("nan"), "is nan")]:
        with pytest.raises(td.TensorDiffError, match=re.escape(text)):
            build()
    assert td.evaluate(td.log(0 * z + 2.0) + z / 4.0, z=1.0) == np.log(2.0) + 0.25    # finite ones fold


def test_nan_inputs_propagate_only_where_they_reach():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    f = td.tanh(x) * y + td.log(y * y + 1)
    values = dict(x=np.array([np.nan, 0.5, 1.0]), y=np.array([1.0, 2.0, 3.0]))
    value = _quietly(lambda: td.evaluate(f, **values))
    assert np.isnan(value[0]) and np.all(np.isfinite(value[1:]))
    jac = _quietly(lambda: td.evaluate(td.diff(f, y), **values))
    assert np.isnan(jac[0, 0]) and np.isfinite(jac[1:, 1:]).all()
    for dtype in (np.float32, np.float64):
        typed = {k: v.astype(dtype) for k, v in values.items()}
        result = _quietly(lambda: td.evaluate(f, **typed))
        assert result.dtype == dtype and np.isnan(result[0])


def test_nan_inputs_through_matrix_functions_give_nan_not_errors_or_warnings():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    f = td.inv(A) @ x + td.logdet(A) * x + td.det(A) * td.sum(td.tanh(x))
    bad = np.eye(3)
    bad[0, 1] = np.nan
    for values in (dict(A=bad, x=np.ones(3)), dict(A=2 * np.eye(3), x=np.array([np.nan, 1.0, 1.0]))):
        for e in (f, td.diff(f, x), td.diff(f, A)):
            assert np.isnan(_quietly(lambda: td.evaluate(e, **values))).any()


def test_coefficients_beyond_float64_are_an_error_not_inf():
    x = td.scalar("x")
    # tanh's n-th derivative is a polynomial in tanh whose coefficients grow like n!: past order
    # ~170 they leave float64, and an inf coefficient would make every value inf or nan
    with pytest.raises(td.TensorDiffError, match="beyond float64's range"):
        td.diff(td.tanh(x), x, order=300)
    with pytest.raises(td.TensorDiffError, match="beyond float64's range"):
        x * 1e308 * 10.0
    d = td.diff(td.sin(x) * td.exp(x), x, order=1000)   # 2^500 sin(x) e^x: large but finite
    np.testing.assert_allclose(td.evaluate(d, x=0.3), 2.0 ** 500 * np.sin(0.3) * np.exp(0.3), rtol=1e-12)


def test_orders_past_the_limit_fail_fast():
    from tensordiff.diff import MAX_ORDER
    x = td.scalar("x")
    with pytest.raises(td.TensorDiffError, match=f"limit of {MAX_ORDER}"):
        td.diff(td.exp(x) * x, x, order=MAX_ORDER + 1)


def test_overflow_inside_products_is_quiet_like_the_rest():
    x = td.vector("x", "n")
    assert _quietly(lambda: td.evaluate(td.sum(x * x), x=np.full(3, 1e200))) == np.inf     # the Gram product
    np.testing.assert_array_equal(_quietly(lambda: td.evaluate(1e308 / x, x=np.full(3, 0.5))), np.full(3, np.inf))


def test_a_coefficient_that_underflows_is_an_error_not_a_zero():
    # 1e-200 · 1e-200 rounds to 0, and a zero coefficient drops the term for every value of x
    x = td.vector("x", "n")
    with pytest.raises(td.TensorDiffError, match="underflows float64"):
        1e-200 * (1e-200 * x)
    with pytest.raises(td.TensorDiffError, match="underflows float64"):
        td.grad(td.sum((1e-170 * x) ** 2), x)
    np.testing.assert_allclose(td.evaluate(1e-150 * (1e-150 * x), x=np.ones(2)), [1e-300, 1e-300])


def test_half_precision_computes_in_float32_and_extended_precision_is_refused():
    A = td.matrix("A", "n n")
    f = td.logdet(A) + td.sum(td.inv(A))
    value = td.evaluate(f, A=2 * np.eye(3, dtype=np.float16))    # numpy's linalg has no float16
    assert value.dtype == np.float32
    np.testing.assert_allclose(value, 3 * np.log(2.0) + 1.5, rtol=1e-6)
    with pytest.raises(td.EvaluationError, match="float128|longdouble"):
        td.evaluate(f, A=np.eye(3, dtype=np.longdouble))
