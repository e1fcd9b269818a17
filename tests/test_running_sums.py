"""td.cumsum and td.differences (numpy's cumsum and diff): values equal numpy's, derivatives of
orders 1-3 agree with finite differences and jax, derivatives are products with the triangle of
ones or the difference matrix (so a Hessian never forms the full tensor of a second derivative),
printing, code, backends, and the arguments refused."""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(404)
RX = td.matrix("RX", "rn rp")
rx, ry = td.vector("rx", "rn"), td.vector("ry", "rn")
VALUES = dict(RX=RNG.standard_normal((5, 3)), rx=RNG.standard_normal(6), ry=RNG.standard_normal(6))

CASES = [
    ("cumsum of a vector", lambda: td.cumsum(rx), lambda V: np.cumsum(V["rx"])),
    ("cumsum down the columns", lambda: td.cumsum(RX, 0), lambda V: np.cumsum(V["RX"], 0)),
    ("cumsum along the rows", lambda: td.cumsum(RX, axis=-1), lambda V: np.cumsum(V["RX"], -1)),
    ("cumsum flattened", lambda: td.cumsum(RX), lambda V: np.cumsum(V["RX"])),
    ("np.cumsum", lambda: np.cumsum(td.tanh(RX), axis=1), lambda V: np.cumsum(np.tanh(V["RX"]), axis=1)),
    ("differences", lambda: td.differences(rx), lambda V: np.diff(V["rx"])),
    ("second differences down", lambda: td.differences(RX, 2, axis=0), lambda V: np.diff(V["RX"], 2, axis=0)),
    ("np.diff", lambda: np.diff(td.sin(rx) * rx), lambda V: np.diff(np.sin(V["rx"]) * V["rx"])),
    ("total variation", lambda: td.sum(td.sqrt(td.differences(rx) ** 2 + 0.01)),
     lambda V: np.sum(np.sqrt(np.diff(V["rx"]) ** 2 + 0.01))),
    ("with x[1:]", lambda: rx[1:] * td.differences(rx), lambda V: V["rx"][1:] * np.diff(V["rx"])),
    ("running sum of exp", lambda: td.sum(td.cumsum(td.exp(rx)) * ry), lambda V: np.sum(np.cumsum(np.exp(V["rx"])) * V["ry"])),
    ("nested", lambda: td.differences(td.tanh(td.cumsum(RX, 1)), axis=0),
     lambda V: np.diff(np.tanh(np.cumsum(V["RX"], 1)), axis=0)),
]


def _values(expr):
    return {name: VALUES[name] for name in expr.free}


@pytest.mark.parametrize("name, build, reference", CASES, ids=[c[0] for c in CASES])
def test_values_are_numpys(name, build, reference):
    got = td.evaluate(build(), **_values(build()))
    want = reference(VALUES)
    assert np.shape(got) == np.shape(want) and np.allclose(got, want)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("name, build, reference", CASES, ids=[c[0] for c in CASES])
def test_derivatives_match_finite_differences(name, build, reference, order):
    expr = build()
    wrt = RX if "RX" in expr.free else rx
    assert td.check(expr, wrt, order=order, **_values(expr)).max_rel_error < 1e-6


def test_hessian_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    f = td.sum(td.differences(td.tanh(td.cumsum(RX, 1)), axis=0) ** 2)
    want = jax.hessian(lambda a: jnp.sum(jnp.diff(jnp.tanh(jnp.cumsum(a, 1)), axis=0) ** 2))(VALUES["RX"])
    assert np.allclose(td.evaluate(td.hessian(f, RX), RX=VALUES["RX"]), want)


def test_high_orders_along_a_scalar():
    t = td.scalar("rt")
    f = td.sum(td.differences(td.sin(t * rx)) ** 2)
    xv, tv = VALUES["rx"], 0.4
    g = lambda s: np.sum(np.diff(np.sin(s * xv)) ** 2)   # noqa: E731
    h = 1e-2   # the fourth derivative by differences of a smooth function of one variable
    want = (g(tv + 2 * h) - 4 * g(tv + h) + 6 * g(tv) - 4 * g(tv - h) + g(tv - 2 * h)) / h ** 4
    assert np.isclose(td.evaluate(td.diff(f, t, 4), rx=xv, rt=tv), want, rtol=1e-3)


def test_derivatives_are_products_with_a_constant_matrix():
    """∂cumsum(x)/∂x is the triangle [j ≤ i]; the Hessian of a smoothness penalty plans no tensor
    larger than its result (it formed diff of the full second derivative before)."""
    assert str(td.diff(td.cumsum(rx), rx)) == "out[i,j] = [j ≤ i]"
    assert td.diff(td.differences(rx), rx, 2) is td.zeros(("rn[1:]", "rn", "rn"))
    f = td.sum(td.differences(td.tanh(td.cumsum(RX, 1)), axis=0) ** 2)
    cost = td.cost(td.hessian(f, RX), rn=100, rp=50)
    assert cost.peak_bytes < 2 * 8 * (100 * 50) ** 2


def test_shapes_and_names():
    assert td.differences(RX, axis=0).shape == ("rn[1:]", "rp")
    assert td.differences(rx, 2).shape == ("rn[1:][1:]",)
    assert td.differences(rx, 0) is rx
    assert td.cumsum(RX).shape == ("rn·rp",)
    assert td.differences(3.0 * td.ones("rn")) is td.zeros("rn[1:]")
    assert td.cumsum(td.zeros("rn")) is td.zeros("rn")


def test_printing_and_code_targets():
    e = td.differences(td.cumsum(td.tanh(RX), 1), axis=0)
    assert str(e) == "out[i,j] = diff_i(cumsum_j(tanh(RX[i,j])))"
    assert r"\operatorname{cumsum}_{j}" in td.latex(e)
    want = td.evaluate(e, RX=VALUES["RX"])
    jax = pytest.importorskip("jax")
    for target, convert in (("numpy", np.asarray), ("jax", jax.numpy.asarray)):
        namespace = {}
        exec(td.codegen(e, target=target), namespace)
        assert np.allclose(np.asarray(namespace["f"](convert(VALUES["RX"]))), want), target


@pytest.mark.parametrize("backend", ["dask", "jax", "torch"])
def test_backends_agree_with_numpy(backend):
    pytest.importorskip({"dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    f = td.sum(td.differences(td.tanh(td.cumsum(RX, 1)), axis=0) ** 2)
    for e in (td.cumsum(RX, 0), td.differences(RX, axis=1), td.hessian(f, RX)):
        got = td.evaluate(e, RX=VALUES["RX"], backend=backend)
        got = got.compute() if backend == "dask" else np.asarray(got)
        assert np.allclose(got, td.evaluate(e, RX=VALUES["RX"])), backend


@pytest.mark.parametrize("call, message", [
    (lambda: td.cumsum(RX, axis=(0, 1)), r"cumsum takes one axis \(an int\)"),
    (lambda: td.cumsum(RX, axis=2), "axis 2"),
    (lambda: td.differences(td.scalar("rs")), "at least one axis, got the scalar rs"),
    (lambda: td.differences(rx, n=-1), "n must be an int >= 0, got -1"),
    (lambda: td.differences(rx, n=1.5), "n must be an int >= 0, got 1.5"),
    (lambda: np.diff(rx, prepend=0.0), "np.diff on a tensordiff expression does not take prepend="),
    (lambda: np.cumsum(rx, dtype=np.float32), "np.cumsum on a tensordiff expression does not take dtype="),
], ids=["cumsum tuple", "cumsum axis", "scalar", "negative n", "float n", "prepend", "dtype"])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(td.TensorDiffError, match=message):
        call()
