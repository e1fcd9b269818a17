"""pinv: numpy's pseudo-inverse, its derivative -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P
of orders 1-3 against finite differences and jax, for tall, wide, square and rank-deficient
matrices of constant rank; identities, printing, parsing, numpy's spelling and the backends."""

import pickle

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(2027)
PX = td.matrix("PX", "pm pn")
PU, PV = td.matrix("PU", "pm pr"), td.matrix("PV", "pn pr")
py = td.vector("py", "pm")
SHAPES = {"tall": (6, 3), "wide": (3, 5), "square": (4, 4)}


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


@pytest.mark.parametrize("kind", SHAPES)
def test_value_is_numpys(kind):
    Xv = RNG.standard_normal(SHAPES[kind])
    assert np.allclose(td.evaluate(td.pinv(PX), PX=Xv), np.linalg.pinv(Xv))
    assert td.pinv(PX).shape == ("pn", "pm")


def test_a_rank_deficient_value_is_numpys():
    Av = RNG.standard_normal((5, 2)) @ RNG.standard_normal((2, 4))   # rank 2
    assert np.allclose(td.evaluate(td.pinv(PX), PX=Av), np.linalg.pinv(Av))


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("kind", SHAPES)
def test_derivatives_match_finite_differences_in_every_direction(kind, order):
    Xv = RNG.standard_normal(SHAPES[kind]) + 2 * np.eye(*SHAPES[kind])   # well conditioned
    assert td.check(td.pinv(PX), PX, order=order, PX=Xv).max_rel_error < 1e-6


@pytest.mark.parametrize("order", [1, 2])
def test_a_product_of_constant_rank_is_differentiated_exactly(order):
    """A = U Vᵀ has rank r wherever U and V have full column rank: pinv is differentiable there, and
    the formula's extra terms (zero for a full-rank square A) carry the derivative."""
    values = dict(PU=RNG.standard_normal((5, 2)), PV=RNG.standard_normal((4, 2)))
    f = td.pinv(PU @ PV.T)
    for wrt in (PU, PV):
        assert td.check(f, wrt, order=order, **values).max_rel_error < 1e-6


def test_gradient_of_a_least_squares_loss_is_the_normal_equations_one():
    """For a tall X of full column rank pinv(X) = (XᵀX)⁻¹Xᵀ: both gradients agree."""
    Xv, yv = RNG.standard_normal((7, 3)), RNG.standard_normal(7)
    loss = lambda w: td.sum((PX @ w - py) ** 2)   # noqa: E731
    by_pinv = td.grad(loss(td.pinv(PX) @ py), PX)
    by_inverse = td.grad(loss(td.inv(PX.T @ PX) @ PX.T @ py), PX)
    assert np.allclose(td.evaluate(by_pinv, PX=Xv, py=yv), td.evaluate(by_inverse, PX=Xv, py=yv), atol=1e-10)


@pytest.mark.parametrize("kind", ["tall", "wide"])
def test_jacobian_and_hessian_match_jax(kind):
    jax, jnp = _jax()
    Xv = RNG.standard_normal(SHAPES[kind])
    yv = RNG.standard_normal(SHAPES[kind][0])
    assert np.allclose(td.evaluate(td.diff(td.pinv(PX), PX), PX=Xv), jax.jacfwd(jnp.linalg.pinv)(Xv))
    f = td.sum(td.tanh(td.pinv(PX) @ py))
    g = lambda a: jnp.sum(jnp.tanh(jnp.linalg.pinv(a) @ yv))  # noqa: E731
    assert np.allclose(td.evaluate(td.hessian(f, PX), PX=Xv, py=yv), jax.hessian(g)(Xv))


def test_third_derivative_matches_finite_differences_of_jaxs_hessian():
    """jax's own third derivative of pinv takes seconds (its SVD's derivative, nested): differences
    of its Hessian stand in for it."""
    jax, jnp = _jax()
    Xv, yv, Ev = RNG.standard_normal((5, 3)), RNG.standard_normal(5), RNG.standard_normal((5, 3))
    g = lambda a: jnp.sum(jnp.tanh(jnp.linalg.pinv(a) @ yv))  # noqa: E731
    h = 1e-5
    along = (jax.hessian(g)(Xv + h * Ev) - jax.hessian(g)(Xv - h * Ev)) / (2 * h)
    third = td.evaluate(td.diff(td.sum(td.tanh(td.pinv(PX) @ py)), PX, 3), PX=Xv, py=yv)
    assert np.allclose(np.einsum("abcdef,ef->abcd", third, Ev), along, atol=1e-6)


def test_high_orders_along_a_scalar_match_jax():
    """Taylor mode (order 4 in a scalar) goes through pinv's first-order rule."""
    jax, jnp = _jax()
    t = td.scalar("pt")
    Xv, Ev, yv = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    f = td.sum(td.pinv(PX + t * td.matrix("PE", "pm pn")) @ py)
    g = lambda s: jnp.sum(jnp.linalg.pinv(Xv + s * Ev) @ yv)  # noqa: E731
    want = jax.grad(jax.grad(jax.grad(jax.grad(g))))(0.3)
    got = td.evaluate(td.diff(f, t, 4), PX=Xv, PE=Ev, py=yv, pt=0.3)
    assert np.isclose(got, want, rtol=1e-7)


def test_identities():
    assert td.pinv(td.pinv(PX)) is PX
    assert td.pinv(td.eye("pn")) is td.eye("pn")
    assert td.pinv(td.zeros("pm pn")) is td.zeros("pn pm")
    Xv = RNG.standard_normal((4, 3))
    assert td.pinv(2.0 * PX.T) is 0.5 * td.pinv(PX).T
    assert np.allclose(td.evaluate(td.pinv(2.0 * PX.T), PX=Xv), np.linalg.pinv(2.0 * Xv.T))
    assert np.allclose(td.evaluate(td.pinv(3.0 * td.eye("pn")), pn=4), np.eye(4) / 3)


def test_a_symmetric_argument_gives_a_symmetric_pseudo_inverse():
    S = td.matrix("PS", "pn pn", symmetric=True)
    assert td.pinv(S).T is td.pinv(S)


def test_a_vector_or_a_tensor_is_a_shape_error_naming_it():
    with pytest.raises(td.ShapeError, match=r"pinv needs a matrix with dims \(m, n\), got shape \(pm\)"):
        td.pinv(py)
    with pytest.raises(td.ShapeError, match=r"pinv needs a matrix"):
        td.pinv(td.tensor("PT", "pm pn pr"))
    with pytest.raises(td.ShapeError, match=r"pinv needs a matrix or a scalar"):
        td.parse("pinv(v)*A", v="n")


def test_numpy_spelling():
    Xv = RNG.standard_normal((4, 3))
    assert np.linalg.pinv(PX) is td.pinv(PX)
    assert np.linalg.pinv(PX, hermitian=False) is td.pinv(PX)
    for keyword in ({"rcond": 1e-3}, {"rtol": 1e-3}):
        with pytest.raises(td.TensorDiffError, match=f"np.linalg.pinv .* does not take {next(iter(keyword))}="):
            np.linalg.pinv(PX, **keyword)
    assert np.allclose(td.evaluate(np.linalg.pinv(PX) @ py, PX=Xv, py=np.ones(4)), np.linalg.pinv(Xv) @ np.ones(4))


def test_pickle_printing_parse_and_code_targets():
    jax, jnp = _jax()
    Xv, yv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    w = td.pinv(PX) @ py
    for e in (w, td.diff(w, PX)):
        assert pickle.loads(pickle.dumps(e)) is e
        assert "pinv(PX)" in td.index_notation(e)
        want = td.evaluate(e, PX=Xv, py=yv)
        for target, convert in (("numpy", np.asarray), ("jax", jnp.asarray)):
            namespace = {}
            exec(td.codegen(e, target=target), namespace)
            assert np.allclose(np.asarray(namespace["f"](convert(Xv), convert(yv))), want), target
        text = td.matrix_notation(e)
        assert np.allclose(td.evaluate(td.parse(text, PX=PX, py=py), PX=Xv, py=yv), want)
    assert td.matrix_notation(w) == "pinv(PX)*py"
    assert r"\mathrm{PX}^{+}" in td.latex(w)
    assert r"\mathrm{PX}^{+\top}" in td.latex(td.pinv(PX).T @ td.vector("pz", "pn"))
    assert "^{+}" in td.latex(td.pinv(PX), notation="index")


def test_parse_types_pinv_by_swapping_dims():
    e = td.parse("pinv(A)*y", A="n p")
    assert e.shape == ("p",)
    assert td.parse("pinv(A')*z", A="n p", z="p").shape == ("n",)
    with pytest.raises(td.ShapeError, match="inner dims"):
        td.parse("pinv(A)*z", A="n p", z="p")


@pytest.mark.parametrize("backend", ["dask", "jax", "torch"])
def test_backends_agree_with_numpy(backend):
    pytest.importorskip({"dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    if backend == "jax":
        _jax()
    Xv, yv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    f = td.sum(td.sin(td.pinv(PX) @ py))
    for e in (td.pinv(PX), td.grad(f, PX)):
        got = td.evaluate(e, PX=Xv, py=yv, backend=backend)
        got = got.compute() if backend == "dask" else np.asarray(got)
        assert np.allclose(got, td.evaluate(e, PX=Xv, py=yv)), backend


@pytest.mark.parametrize("backend", ["numpy", "dask", "torch"])
def test_a_non_finite_entry_gives_nan_entries(backend):
    """numpy's and torch's SVD refuse a matrix with a nan or inf entry: its pseudo-inverse is nan."""
    pytest.importorskip({"numpy": "numpy", "dask": "dask.array", "torch": "torch"}[backend])
    Xv = RNG.standard_normal((4, 3))
    Xv[1, 2] = np.inf
    got = td.evaluate(td.pinv(PX), PX=Xv, backend=backend)
    got = got.compute() if backend == "dask" else np.asarray(got)
    assert got.shape == (3, 4) and np.isnan(got).all()


def test_jax_jit_of_a_compiled_program():
    jax, jnp = _jax()
    Xv, yv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    grad = td.grad(td.sum(td.pinv(PX) @ py), PX)
    program = td.compile(grad, backend="jax")
    jitted = jax.jit(lambda X, y: program(PX=X, py=y))
    assert np.allclose(np.asarray(jitted(jnp.asarray(Xv), jnp.asarray(yv))), td.evaluate(grad, PX=Xv, py=yv))


def test_cost_prices_the_svd():
    small = td.cost(td.pinv(PX), pm=10, pn=5)
    large = td.cost(td.pinv(PX), pm=100, pn=50)
    assert large.flops > 500 * small.flops
