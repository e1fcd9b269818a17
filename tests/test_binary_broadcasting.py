"""maximum, minimum, where and the comparisons broadcast as numpy does, like + - * / (issue 12 item 8):
trailing axes aligned, dims matched by name, a mismatch a ShapeError naming both dims and the
operand. Derivatives of orders 1-2 against jax and finite differences; X - mean(X, axis=0)
centres the columns."""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(12)
N, K = 4, 3


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _values():
    return dict(X=RNG.standard_normal((N, K)), b=RNG.standard_normal(K), m=RNG.standard_normal(K))


def _symbols():
    return td.matrix("X", "n k"), td.vector("b", "k"), td.vector("m", "k")


def _cases(jnp):
    """(name, tensordiff expression builder, jax function) over X (n×k), b (k) and m (k)."""
    return [
        ("maximum(X, b)", lambda X, b, m: td.sum(td.tanh(td.maximum(X, b))),
         lambda X, b, m: jnp.sum(jnp.tanh(jnp.maximum(X, b)))),
        ("minimum(b, X)", lambda X, b, m: td.sum(td.sin(td.minimum(b, X)) * X),
         lambda X, b, m: jnp.sum(jnp.sin(jnp.minimum(b, X)) * X)),
        ("maximum(X, scalar expr)", lambda X, b, m: td.sum(td.maximum(X, td.sum(b)) ** 2),
         lambda X, b, m: jnp.sum(jnp.maximum(X, jnp.sum(b)) ** 2)),
        ("where(X > b, X*X, b)", lambda X, b, m: td.sum(td.tanh(td.where(X > b, X * X, b))),
         lambda X, b, m: jnp.sum(jnp.tanh(jnp.where(X > b, X * X, b)))),
        ("where(m > 0, X, sin b)", lambda X, b, m: td.sum(td.where(m > 0, X, td.sin(b)) ** 3),
         lambda X, b, m: jnp.sum(jnp.where(m > 0, X, jnp.sin(b)) ** 3)),
        ("where(b <= X, exp b, X)", lambda X, b, m: td.sum(td.where(b <= X, td.exp(b), X) * X),
         lambda X, b, m: jnp.sum(jnp.where(b <= X, jnp.exp(b), X) * X)),
    ]


@pytest.mark.parametrize("case", range(6))
def test_first_and_second_derivatives_of_broadcast_binary_builders_match_jax(case):
    jax, jnp = _jax()
    X, b, m = _symbols()
    name, build, reference = _cases(jnp)[case]
    f, V = build(X, b, m), _values()
    args = (V["X"], V["b"], V["m"])
    assert np.allclose(td.evaluate(f, **V), reference(*args)), name
    for slot, sym in ((0, X), (1, b)):
        grad = td.evaluate(td.grad(f, sym), **V)
        assert np.allclose(grad, jax.grad(reference, argnums=slot)(*args)), (name, sym.name)
        for slot2, sym2 in ((0, X), (1, b)):
            second = td.evaluate(td.diff(td.grad(f, sym), sym2), **V)
            expected = jax.jacfwd(jax.grad(reference, argnums=slot), argnums=slot2)(*args)
            assert np.allclose(second, expected), (name, sym.name, sym2.name)


@pytest.mark.parametrize("case", range(6))
def test_broadcast_binary_builders_pass_the_finite_difference_check(case):
    jnp = pytest.importorskip("jax.numpy")
    X, b, m = _symbols()
    name, build, _ = _cases(jnp)[case]
    f = build(X, b, m)
    for order in (1, 2):
        for result in td.check(f, [X, b], order=order, **_values()):
            assert result.max_rel_error < 1e-5, (name, order, result.max_rel_error)


def test_values_and_shapes_follow_numpy():
    X, b, m = _symbols()
    V = _values()
    assert td.maximum(X, b).shape == td.minimum(b, X).shape == ("n", "k")
    assert np.allclose(td.evaluate(td.maximum(X, b), **V), np.maximum(V["X"], V["b"]))
    assert np.allclose(td.evaluate(td.minimum(b, X), **V), np.minimum(V["b"], V["X"]))
    for op, ref in ((X < b, V["X"] < V["b"]), (X <= b, V["X"] <= V["b"]), (b > X, V["b"] > V["X"]),
                    (b >= X, V["b"] >= V["X"])):
        assert op.shape == ("n", "k")
        assert np.array_equal(td.evaluate(op, **V), ref.astype(float))
    chosen = td.evaluate(td.where(m > 0, X, b), **V)
    assert np.allclose(chosen, np.where(V["m"] > 0, V["X"], V["b"]))
    three = td.tensor("T", "a n k")
    Tv = RNG.standard_normal((2, N, K))
    assert np.allclose(td.evaluate(td.maximum(three, X), T=Tv, **V), np.maximum(Tv, V["X"]))


def test_a_mismatch_names_both_dims_and_the_operand():
    X, b, _ = _symbols()
    c = td.vector("c", "n")
    for build, what in ((lambda: td.maximum(X, c), "maximum"), (lambda: td.minimum(X, c), "minimum"),
                        (lambda: X < c, "'<'"), (lambda: td.where(X > 0, X, c), "where")):
        with pytest.raises(td.ShapeError) as info:
            build()
        message = str(info.value)
        assert message.startswith(f"{what}: operand") and "(n)" in message and "'k'" in message and "'n'" in message
        assert ": c." in message


def test_mixed_declarations_of_one_name_are_refused():
    X = td.matrix("X", "n k")
    other = td.vector("X", "k")
    with pytest.raises(td.ShapeError, match="two different symbols named 'X'"):
        td.maximum(X, other)
    with pytest.raises(td.ShapeError, match="two different symbols named 'X'"):
        td.where(X > 0, X, other)


def test_centring_the_columns_value_and_derivatives():
    jax, jnp = _jax()
    X = td.matrix("X", "n k")
    centred = X - td.mean(X, axis=0)
    Xv = RNG.standard_normal((N, K))
    value = td.evaluate(centred, X=Xv)
    assert np.allclose(value, Xv - Xv.mean(axis=0))
    assert np.allclose(value.sum(axis=0), 0.0)
    jacobian = td.evaluate(td.diff(centred, X), X=Xv)
    assert np.allclose(jacobian, jax.jacfwd(lambda A: A - A.mean(axis=0))(Xv))
    variance = td.sum(centred ** 2) / N   # a scalar with a nonzero second derivative
    hessian = td.evaluate(td.hessian(variance, X), X=Xv)
    assert np.allclose(hessian, jax.hessian(lambda A: jnp.sum((A - A.mean(axis=0)) ** 2) / N)(Xv))
