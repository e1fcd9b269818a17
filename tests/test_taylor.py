"""High-order derivatives in one scalar share their lower orders (issue 16 item 2, taylor.py).

Each is checked against jax's nested derivatives at orders 3-6 and against finite differences of
the order below; node counts are bounded so that the exponential re-expansion cannot come back.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import topological
from tensordiff.testing import numeric_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def node_count(expr):
    return len(topological([expr]))


def gp_likelihood():
    ell, s, noise = td.scalar("ell"), td.scalar("s"), td.scalar("noise")
    D, y = td.matrix("D", "m m"), td.vector("y", "m")
    K = s ** 2 * td.exp(-0.5 * D / ell ** 2) + noise * td.eye("m")
    return y @ td.inv(K) @ y + td.logdet(K), ell


def gp_values(n=5, seed=3):
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((n, 2))
    distances = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    return dict(ell=1.3, s=1.1, noise=0.5, D=distances, y=rng.standard_normal(n))


def jax_gp(values):
    def f(length):
        n = len(values["y"])
        K = values["s"] ** 2 * jnp.exp(-0.5 * jnp.asarray(values["D"]) / length ** 2) + values["noise"] * jnp.eye(n)
        y = jnp.asarray(values["y"])
        return y @ jnp.linalg.inv(K) @ y + jnp.linalg.slogdet(K)[1]
    return f


def jax_derivative(f, x, order):
    for _ in range(order):
        f = jax.grad(f)
    return float(jax.jit(f)(x))


def one_order_at_a_time(f, t, order):
    """The derivative as the first-order rules build it, one order after another (the unshared way)."""
    for _ in range(order):
        f = td.diff(f, t)
    return f


@pytest.mark.parametrize("order", [3, 4])
def test_gp_likelihood_derivatives_in_the_length_scale_match_jax(order):
    f, ell = gp_likelihood()
    values = gp_values()
    ours = float(td.evaluate(td.diff(f, ell, order=order), **values))
    theirs = jax_derivative(jax_gp(values), values["ell"], order)
    assert abs(ours - theirs) <= 1e-8 * max(1.0, abs(theirs))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_gp_likelihood_derivatives_match_finite_differences_of_the_order_below(order):
    f, ell = gp_likelihood()
    values = gp_values(seed=order)
    ours = float(td.evaluate(td.diff(f, ell, order=order), **values))
    numeric = float(numeric_diff(td.diff(f, ell, order=order - 1), ell, values))
    assert abs(ours - numeric) <= 1e-5 * max(1.0, abs(numeric))


def test_gp_fifth_derivative_equals_the_one_built_order_by_order():
    f, ell = gp_likelihood()
    values = gp_values(seed=6)
    ours = float(td.evaluate(td.diff(f, ell, order=5), **values))
    theirs = float(td.evaluate(one_order_at_a_time(f, ell, 5), **values))
    assert abs(ours - theirs) <= 1e-9 * max(1.0, abs(theirs))


# order: nodes of the GP likelihood's derivative in its length-scale (the 6th printed 1 MB before)
GP_NODE_BOUNDS = {2: 26, 4: 50, 6: 80, 10: 164}


@pytest.mark.parametrize("order", sorted(GP_NODE_BOUNDS))
def test_gp_derivative_nodes_grow_polynomially(order):
    f, ell = gp_likelihood()
    assert node_count(td.diff(f, ell, order=order)) <= GP_NODE_BOUNDS[order]


def test_gp_printed_size_grows_polynomially():
    f, ell = gp_likelihood()
    sizes = [len(td.index_notation(td.diff(f, ell, order=k))) for k in (4, 8)]
    assert sizes[1] < 4 * sizes[0], sizes   # doubling the order at most quadruples the text


SCALAR_EXPRESSIONS = {
    # name: (tensordiff expression of t and a vector x, the same in jax)
    "tanh chain": (lambda t, x: td.sum(td.tanh(t * td.tanh(t * x) + x) ** 2),
                   lambda t, x: jnp.sum(jnp.tanh(t * jnp.tanh(t * x) + x) ** 2)),
    "products": (lambda t, x: td.sum(td.exp(t * x) * td.sin(t ** 2 * x) * x) / (1 + t ** 2),
                 lambda t, x: jnp.sum(jnp.exp(t * x) * jnp.sin(t ** 2 * x) * x) / (1 + t ** 2)),
    "det": (lambda t, x: td.det(td.eye("n") + t * td.outer(x, x) + t ** 3 * td.diag(x ** 2)),
            lambda t, x: jnp.linalg.det(jnp.eye(x.shape[0]) + t * jnp.outer(x, x) + t ** 3 * jnp.diag(x ** 2))),
    "softmax": (lambda t, x: td.softmax(t * x) @ x + td.logsumexp(t ** 2 * x),
                lambda t, x: jax.nn.softmax(t * x) @ x + jax.nn.logsumexp(t ** 2 * x)),
    "maximum": (lambda t, x: td.sum(td.maximum(t * x, t ** 2 * x + 0.3) ** 3),
                lambda t, x: jnp.sum(jnp.maximum(t * x, t ** 2 * x + 0.3) ** 3)),
    "where": (lambda t, x: td.sum(td.where(x > 0, td.exp(t * x), td.cos(t * x))),
              lambda t, x: jnp.sum(jnp.where(x > 0, jnp.exp(t * x), jnp.cos(t * x)))),
    "cholesky": (lambda t, x: td.sum(td.cholesky(td.eye("n") * 2 + t * td.outer(x, x))),
                 lambda t, x: jnp.sum(jnp.linalg.cholesky(2 * jnp.eye(x.shape[0]) + t * jnp.outer(x, x)))),
}


@pytest.mark.parametrize("name", sorted(SCALAR_EXPRESSIONS))
def test_scalar_derivatives_match_jax(name):
    ours_fn, theirs_fn = SCALAR_EXPRESSIONS[name]
    t, x = td.scalar("t"), td.vector("x", "n")
    values = dict(t=0.7, x=np.array([0.3, -0.5, 0.8]))
    ours = float(td.evaluate(td.diff(ours_fn(t, x), t, order=3), **values))
    theirs = jax_derivative(lambda s: theirs_fn(s, jnp.asarray(values["x"])), values["t"], 3)
    assert abs(ours - theirs) <= 1e-8 * max(1.0, abs(theirs)), (ours, theirs)


@pytest.mark.parametrize("name", sorted(SCALAR_EXPRESSIONS))
@pytest.mark.parametrize("order", [2, 4])
def test_scalar_derivatives_equal_those_built_order_by_order(name, order):
    ours_fn, _ = SCALAR_EXPRESSIONS[name]
    t, x = td.scalar("t"), td.vector("x", "n")
    values = dict(t=0.7, x=np.array([0.3, -0.5, 0.8]))
    f = ours_fn(t, x)
    ours = float(td.evaluate(td.diff(f, t, order=order), **values))
    theirs = float(td.evaluate(one_order_at_a_time(f, t, order), **values))
    assert abs(ours - theirs) <= 1e-9 * max(1.0, abs(theirs)), (ours, theirs)


def test_tensor_valued_expression_in_a_scalar():
    t, A = td.scalar("t"), td.matrix("A", "n n")
    f = td.inv(td.eye("n") + t * A) @ td.exp(t * A)
    values = dict(t=0.4, A=np.array([[0.2, -0.1, 0.3], [0.0, 0.4, 0.1], [-0.2, 0.1, 0.1]]))

    def g(s):
        a = jnp.asarray(values["A"])
        return jnp.linalg.inv(jnp.eye(3) + s * a) @ jnp.exp(s * a)
    ours = td.evaluate(td.diff(f, t, order=3), **values)
    theirs = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacfwd(g))))(values["t"])
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(td.evaluate(td.diff(f, t, order=4), **values),
                               td.evaluate(one_order_at_a_time(f, t, 4), **values), rtol=1e-9, atol=1e-11)


def test_polynomials_vanish_and_exact_small_cases_print_simply():
    x = td.scalar("x")
    assert td.simplify(td.diff(x ** 3 + 2 * x, x, order=4)) is td.simplify(0 * x)
    assert str(td.diff(td.exp(2 * x), x, order=3)) == "out = 8 exp(2 x)"
    assert float(td.evaluate(td.diff(x ** 3, x, order=3), x=0.3)) == pytest.approx(6.0)


def test_orders_above_the_shared_limit_are_built_order_by_order_and_stay_exact():
    # sin(x) e^x's k-th derivative is 2^(k/2) (sin, cos) e^x: shared orders sum binomials ~2^k that
    # cancel exactly while they are exact integers; above MAX_SHARED_ORDER the order-by-order way is used
    from tensordiff.diff import MAX_SHARED_ORDER
    x = td.scalar("x")
    f = td.sin(x) * td.exp(x)
    for order in (MAX_SHARED_ORDER, MAX_SHARED_ORDER + 1, 200):
        value = float(td.evaluate(td.diff(f, x, order=order), x=0.3))
        exact = 2.0 ** (order / 2) * np.sin(0.3 + order * np.pi / 4) * np.exp(0.3)
        assert value == pytest.approx(exact, rel=1e-10)
