"""tanh by the compiled vectorised loop (kernelfunctions.py, _kernelfunctions.h) and its numpy twin:
the same bits in both, within 1.5 ulp of the exact value, and the value tensordiff evaluates."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernelfunctions, kernels

from helpers import kernels_built


COMPILED = kernels_built()


def _both(x, **options):
    """tanh of ``x`` by the compiled loop and by the twin (the twin's twice where nothing is built)."""
    results = []
    for compiled in (True, False):
        previous = kernels.use_compiled(compiled and COMPILED)
        try:
            given = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in options.items()}
            results.append(kernelfunctions.tanh(x.copy() if isinstance(x, np.ndarray) else x, **given))
        finally:
            kernels.use_compiled(previous)
    return results


def _special_values():
    tiny = np.finfo(np.float64).tiny
    edges = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 5e-324, -5e-324, tiny, -tiny, 1e-300, 1e-8,
             0.625, np.nextafter(0.625, 0), np.nextafter(0.625, 1), 22.0, np.nextafter(22.0, 0), 19.06, 1e308,
             -1e308, 0.5 * np.log(3.0), 700.0, -745.0]
    return np.array(edges + [-e for e in edges])


@pytest.mark.parametrize("scale", [1e-12, 1e-3, 0.3, 0.625, 1.0, 4.0, 20.0, 40.0])
def test_compiled_and_twin_give_the_same_bits(scale):
    rng = np.random.default_rng(int(scale * 1000) + 7)
    x = rng.uniform(-scale, scale, size=(123, 71))
    compiled, twin = _both(x)
    assert compiled.tobytes() == twin.tobytes()


def test_special_values_match_numpy_and_each_other():
    x = _special_values()
    compiled, twin = _both(x)
    assert compiled.tobytes() == twin.tobytes()
    want = np.tanh(x)
    np.testing.assert_array_equal(np.isnan(compiled), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(compiled[finite]), np.signbit(want[finite]))   # -0.0 stays -0.0
    assert np.all(np.abs(compiled[finite] - want[finite]) <= 2 * np.spacing(np.abs(want[finite])))
    assert np.all(np.abs(compiled[finite]) <= 1.0)


@pytest.mark.parametrize("low, high", [(0.0, 1e-6), (1e-6, 0.3), (0.3, 0.625), (0.625, 1.0), (1.0, 3.0), (3.0, 19.5)])
def test_within_one_and_a_half_ulp_of_the_exact_value(low, high):
    rng = np.random.default_rng(int(high * 100))
    x = rng.uniform(low, high, 200_000) * rng.choice([-1.0, 1.0], 200_000)
    got = kernelfunctions.tanh(x)
    if np.finfo(np.longdouble).nmant > 52:   # x87's 80-bit tanh as the reference
        exact = np.tanh(x.astype(np.longdouble))
        ulps = np.abs((got.astype(np.longdouble) - exact) / np.spacing(np.abs(exact).astype(np.float64)))
        assert float(ulps.max()) <= 1.5
    else:   # libm's within 2 ulp of its own
        assert np.all(np.abs(got - np.tanh(x)) <= 2 * np.spacing(np.abs(np.tanh(x))))


def test_layouts_scalars_and_dtypes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 30))
    base = kernelfunctions.tanh(x)
    np.testing.assert_array_equal(kernelfunctions.tanh(np.asfortranarray(x)), base)
    np.testing.assert_array_equal(kernelfunctions.tanh(x[:, ::3]), base[:, ::3])
    np.testing.assert_array_equal(kernelfunctions.tanh(x.T), base.T)
    scalar = kernelfunctions.tanh(0.75)
    assert type(scalar) is np.float64 and scalar == kernelfunctions.tanh(np.array([0.75]))[0]
    assert kernelfunctions.tanh(np.array(0.75)) == scalar
    ints = np.array([1, -2, 3])
    np.testing.assert_array_equal(kernelfunctions.tanh(ints), kernelfunctions.tanh(ints.astype(float)))
    single = np.array([0.5, -1.5], dtype=np.float32)   # numpy's own in float32
    assert kernelfunctions.tanh(single).dtype == np.float32
    np.testing.assert_array_equal(kernelfunctions.tanh(single), np.tanh(single))
    complex_values = np.array([0.5 + 1j])
    np.testing.assert_array_equal(kernelfunctions.tanh(complex_values), np.tanh(complex_values))
    assert kernelfunctions.tanh(np.zeros((0, 4))).shape == (0, 4)


@pytest.mark.parametrize("compiled", [True, False])
def test_out_in_place_and_into_another_array(compiled):
    if compiled and not COMPILED:
        pytest.skip("the compiled kernels are not built")
    previous = kernels.use_compiled(compiled)
    try:
        x = np.random.default_rng(5).standard_normal((3000, 7)) * 3
        want = kernelfunctions.tanh(x)
        into = x.copy()
        assert kernelfunctions.tanh(into, out=into) is into
        np.testing.assert_array_equal(into, want)
        other = np.empty((3000, 7), order="F")
        assert kernelfunctions.tanh(x, out=other) is other
        np.testing.assert_array_equal(other, want)
    finally:
        kernels.use_compiled(previous)


def test_tensordiff_evaluates_tanh_with_it():
    X = td.matrix("X_kf", "n_kf m_kf")
    x = np.random.default_rng(11).standard_normal((50, 20)) * 2
    np.testing.assert_array_equal(td.evaluate(td.tanh(X), X_kf=x), kernelfunctions.tanh(x))
    np.testing.assert_array_equal(td.evaluate(td.tanh(X) * 3.0, X_kf=x), kernelfunctions.tanh(x) * 3.0)
    np.testing.assert_allclose(td.evaluate(td.tanh(X), X_kf=x), np.tanh(x), rtol=3e-16, atol=0)


def test_network_gradient_is_bit_identical_between_kernels_and_twin():
    X, W = td.matrix("X_kf", "n_kf d_kf"), td.matrix("W_kf", "d_kf k_kf")
    a, y = td.vector("a_kf", "k_kf"), td.vector("y_kf", "n_kf")
    gradient = td.grad(td.norm(td.tanh(X @ W) @ a - y) ** 2, W)
    rng = np.random.default_rng(2)
    values = dict(X_kf=rng.standard_normal((400, 30)), W_kf=rng.standard_normal((30, 12)) / 5,
                  a_kf=rng.standard_normal(12), y_kf=rng.standard_normal(400))
    results = []
    for compiled in (True, False):
        previous = kernels.use_compiled(compiled and COMPILED)
        try:
            results.append(td.compile(gradient)(**values))
        finally:
            kernels.use_compiled(previous)
    assert results[0].tobytes() == results[1].tobytes()
    h = np.tanh(values["X_kf"] @ values["W_kf"])
    want = 2 * values["X_kf"].T @ ((1 - h * h) * np.outer(h @ values["a_kf"] - values["y_kf"], values["a_kf"]))
    np.testing.assert_allclose(results[0], want, rtol=1e-12, atol=1e-12)
