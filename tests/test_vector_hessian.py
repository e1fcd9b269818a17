"""td.hessian of an expression that is not a scalar: its axes first, then the variable's twice,
as jax.hessian lays it out (and as td.jacobian puts the expression's axes first); with several
variables, nested blocks as jax.hessian(argnums=(0, 1)). Values are checked against jax and
against central finite differences of the symbolic Jacobian, at several shapes."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

jax = pytest.importorskip("jax")
jnp = jax.numpy

RNG = np.random.default_rng(2027)


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _problems():
    """(name, f, wrt, values, jax twin taking the values in wrt's order then the rest by name)."""
    X, w, b = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("b", "n")
    W, c, s = td.matrix("W", "p k"), td.scalar("c"), td.scalar("s")
    values = dict(X=0.5 * RNG.standard_normal((4, 3)), w=0.5 * RNG.standard_normal(3),
                  b=0.5 * RNG.standard_normal(4), W=0.5 * RNG.standard_normal((3, 2)), c=0.7, s=-0.4)
    return [
        ("tanh(Xw + b)", td.tanh(X @ w + b), [w, b],
         lambda w, b, v: jnp.tanh(v["X"] @ w + b)),
        ("softmax(XW) rows", td.softmax(X @ W, axis=1), [W],
         lambda W, v: jax.nn.softmax(v["X"] @ W, axis=1)),
        ("exp(c) w w' sin(s)", td.exp(c * s) * td.outer(w, w) * td.sin(s), [c, s, w],
         lambda c, s, w, v: jnp.exp(c * s) * jnp.outer(w, w) * jnp.sin(s)),
        ("X inv(W'W + I) scalar wrt matrix", c * td.log(td.sum(td.exp(X @ W), axis=1)), [W, c],
         lambda W, c, v: c * jnp.log(jnp.sum(jnp.exp(v["X"] @ W), axis=1))),
        ("scalar f: as before", td.sum(td.tanh(X @ w) ** 2), [w, X],
         lambda w, X, v: jnp.sum(jnp.tanh(X @ w) ** 2)),
    ], values


@pytest.mark.parametrize("case", range(5))
def test_hessian_of_any_shape_matches_jax_and_finite_differences(case):
    problems, values = _problems()
    name, f, wrt, twin = problems[case][0], problems[case][1], problems[case][2], problems[case][3]
    values = {k: v for k, v in values.items() if k in f.free}   # a name another test declares stays out
    args = [jnp.asarray(values[v.name]) for v in wrt]

    def jax_twin(*xs):
        return twin(*xs, {k: jnp.asarray(val) for k, val in values.items()})

    blocks = td.hessian(f, wrt)   # several variables: nested blocks, as jax.hessian(argnums)
    got = td.compile(blocks)(values)
    want = jax.hessian(jax_twin, argnums=tuple(range(len(wrt))))(*args)
    for i, x in enumerate(wrt):
        single = td.hessian(f, x)   # one variable: the diagonal block
        assert single.shape == f.shape + x.shape + x.shape, name
        np.testing.assert_allclose(td.evaluate(single, values), want[i][i], rtol=1e-9, atol=1e-12, err_msg=name)
        for j, y in enumerate(wrt):
            assert blocks[i][j].shape == f.shape + x.shape + y.shape, name
            np.testing.assert_allclose(got[i][j], want[i][j], rtol=1e-9, atol=1e-12, err_msg=f"{name} [{i}][{j}]")
            numeric = numeric_diff(td.jacobian(f, x), y, values)
            np.testing.assert_allclose(got[i][j], numeric, rtol=1e-5, atol=1e-7, err_msg=f"{name} [{i}][{j}]")


def test_a_vector_hessian_is_the_second_derivative():
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    f = td.tanh(X @ w)
    H = td.hessian(f, w)
    assert H is td.diff(f, w, order=2)
    values = dict(X=RNG.standard_normal((4, 3)), w=0.3 * RNG.standard_normal(3))
    t = np.tanh(values["X"] @ values["w"])   # d²tanh(u)/du² = -2 tanh(u)(1 - tanh(u)²)
    want = np.einsum("i,ij,ik->ijk", -2 * t * (1 - t ** 2), values["X"], values["X"])
    np.testing.assert_allclose(td.evaluate(H, values), want, rtol=1e-12)


def test_hessian_of_a_matrix_function_with_respect_to_a_scalar_has_the_matrix_axes_first():
    s, A = td.scalar("s"), td.matrix("A", "n n")
    H = td.hessian(td.exp(s * A), s)
    assert H.shape == ("n", "n")
    Av = RNG.standard_normal((3, 3))
    want = Av ** 2 * np.exp(0.3 * Av)
    np.testing.assert_allclose(td.evaluate(H, s=0.3, A=Av), want, rtol=1e-12)
    back = td.parse(td.matrix_notation(H), s=s, A=A)   # its printed form reads back
    np.testing.assert_allclose(td.evaluate(back, s=0.3, A=Av), want, rtol=1e-12)
