"""logsumexp, softmax, log_softmax: values, derivatives of orders 1-3 against finite differences
and jax, overflow safety at every order, derivatives written through softmax, axes, round trips."""

import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Apply, topological
from tensordiff.reductionnodes import Softmax

RNG = np.random.default_rng(13)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _np_lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _np_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1), None])
def test_values_follow_numpy_axes(axis):
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((4, 3))
    axes = tuple(range(2)) if axis is None else axis
    assert np.allclose(td.evaluate(td.logsumexp(X, axis=axis), X=Xv), _np_lse(Xv, axes))
    assert np.allclose(td.evaluate(td.softmax(X, axis=axis), X=Xv), _np_softmax(Xv, axes))
    assert np.allclose(td.evaluate(td.log_softmax(X, axis=axis), X=Xv), np.log(_np_softmax(Xv, axes)))


def test_defaults_are_numpy_and_jax_conventions():
    X = td.matrix("X", "n p")
    assert td.logsumexp(X).shape == ()              # all axes, as jax.nn.logsumexp
    assert td.softmax(X) is td.softmax(X, axis=1)   # the last axis, as jax.nn.softmax
    assert td.log_softmax(X) is td.log_softmax(X, axis=-1)


@pytest.mark.parametrize("build", [
    lambda X: td.logsumexp(X),
    lambda X: td.logsumexp(X, axis=0),
    lambda X: td.softmax(X),
    lambda X: td.softmax(X, axis=0),
    lambda X: td.log_softmax(X),
    lambda X: td.softmax(td.sin(X) * X, axis=(0, 1)),
    lambda X: td.sum(td.softmax(X) * X, axis=1),
])
def test_derivatives_of_orders_one_to_three_match_finite_differences(build):
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((3, 3))
    for order in (1, 2, 3):
        result = td.check(build(X), X, order=order, X=Xv)
        assert result.max_rel_error < 1e-6, (order, result.max_rel_error)


def test_derivatives_match_jax_at_orders_one_to_three():
    jax, jnp = _jax()
    v = td.vector("v", "n")
    x = RNG.standard_normal(4)
    cases = [(td.logsumexp(v), lambda a: jax.nn.logsumexp(a)),
             (td.softmax(v), lambda a: jax.nn.softmax(a)),
             (td.log_softmax(v), lambda a: jax.nn.log_softmax(a))]
    for mine, theirs in cases:
        want = theirs
        for order in range(4):
            got = td.evaluate(td.diff(mine, v, order=order), v=x)
            assert np.allclose(got, np.asarray(want(jnp.asarray(x))), atol=1e-10), order
            want = jax.jacfwd(want)


def test_logsumexp_of_large_values_is_finite_and_correct_at_every_order():
    v = td.vector("v", "n")
    x = RNG.standard_normal(4)
    shifted = 1000.0 + x
    f = td.logsumexp(v)
    for order in range(5):
        big = td.evaluate(td.diff(f, v, order=order), v=shifted)
        small = td.evaluate(td.diff(f, v, order=order), v=x)
        assert np.all(np.isfinite(big)), order
        expected = small + 1000.0 if order == 0 else small   # lse(c + v) = c + lse(v); derivatives unchanged
        assert np.allclose(big, expected, rtol=1e-12, atol=1e-12), order
    assert np.allclose(td.evaluate(td.softmax(v), v=-1000.0 + x), _np_softmax(x, 0))
    assert np.allclose(td.evaluate(td.log_softmax(v), v=1e6 + x), np.log(_np_softmax(x, 0)))


def test_derivatives_are_written_through_softmax_never_a_bare_exp():
    X = td.matrix("X", "n p")
    for e in (td.logsumexp(X, axis=1), td.softmax(X), td.log_softmax(X, axis=0)):
        for order in (1, 2, 3):
            nodes = topological([td.diff(e, X, order=order)])
            assert not any(isinstance(n, Apply) and n.fn.name == "exp" for n in nodes)
            assert any(isinstance(n, Softmax) for n in nodes)


def test_logsumexp_and_softmax_of_infinities_follow_ieee():
    v = td.vector("v", "n")
    assert td.evaluate(td.logsumexp(v), v=np.array([-np.inf, -np.inf])) == -np.inf
    assert td.evaluate(td.logsumexp(v), v=np.array([np.inf, 0.0])) == np.inf
    assert np.allclose(td.evaluate(td.softmax(v), v=np.array([-np.inf, 0.0, 0.0])), [0.0, 0.5, 0.5])


def test_cross_entropy_gradient_is_softmax_minus_the_target():
    W, x, y = td.matrix("W", "c d"), td.vector("x", "d"), td.vector("y", "c")
    loss = -(y @ td.log_softmax(W @ x))
    Wv, xv = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    yv = np.array([0.0, 1.0, 0.0])
    grad = td.evaluate(td.grad(loss, W), W=Wv, x=xv, y=yv)
    assert np.allclose(grad, np.outer(_np_softmax(Wv @ xv, 0) - yv, xv))


def test_an_axis_that_does_not_exist_is_named():
    v = td.vector("v", "n")
    for call, name in ((td.softmax, "softmax"), (td.logsumexp, "logsumexp"), (td.log_softmax, "log_softmax")):
        with pytest.raises(td.ShapeError, match=f"{name}: axis 1 does not exist"):
            call(v, axis=1)
    with pytest.raises(td.ShapeError, match="softmax: axis -1 does not exist"):
        td.softmax(td.scalar("s"))


def test_pickle_printing_and_code_targets():
    jax, jnp = _jax()
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((4, 3))
    for e in (td.logsumexp(X, axis=0), td.softmax(X), td.log_softmax(X, axis=0), td.diff(td.softmax(X), X)):
        assert pickle.loads(pickle.dumps(e)) is e
        assert td.index_notation(e) and td.latex(e) and td.matrix_notation(e)
        want = td.evaluate(e, X=Xv)
        for target, convert in (("numpy", np.asarray), ("jax", jnp.asarray)):
            namespace = {}
            exec(td.codegen(e, target=target), namespace)
            assert np.allclose(np.asarray(namespace["f"](convert(Xv))), want), target


def test_matrix_notation_and_parse_read_softmax_and_logsumexp():
    x = RNG.standard_normal(5)
    v = td.vector("v", "n")
    for e in (td.softmax(v), td.logsumexp(v), td.logsumexp(td.softmax(v) * v)):
        text = td.matrix_notation(e)
        assert np.allclose(td.evaluate(td.parse(text), v=x), td.evaluate(e, v=x)), text
    del v
    parsed = td.parse("logsumexp(x) - x'*softmax(x)")       # x becomes a vector, as on matrixcalculus.org
    assert parsed.free == {"x"} and parsed.shape == ()
    assert np.isclose(td.evaluate(parsed, x=x), _np_lse(x, 0) - x @ _np_softmax(x, 0))


def test_logsumexp_of_1000_plus_v_as_written_in_the_issue():
    v = td.vector("v", "n")
    x = RNG.standard_normal(5)
    f = td.logsumexp(1000 + v)
    assert np.isclose(td.evaluate(f, v=x), 1000 + _np_lse(x, 0))
    for order in (1, 2, 3):
        got = td.evaluate(td.diff(f, v, order=order), v=x)
        assert np.all(np.isfinite(got))
        assert np.allclose(got, td.evaluate(td.diff(td.logsumexp(v), v, order=order), v=x))
    assert td.check(f, v, order=3, v=x).max_rel_error < 1e-6
