"""Broadcasting (issue 12.8): + - * / align trailing axes as numpy does, dims matching by name;
derivatives (finite differences, jax, orders 1-3), printing, parse round trips, codegen and the
backends keep working; dims that do not line up are a ShapeError naming both."""

import itertools

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(8)


def _bias_layer():
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k")
    values = dict(X=RNG.standard_normal((5, 3)), W=RNG.standard_normal((3, 2)), b=RNG.standard_normal(2))
    return X, W, b, values


def test_a_bias_is_added_to_every_row():
    X, W, b, values = _bias_layer()
    f = X @ W + b
    assert f.shape == ("n", "k")
    np.testing.assert_allclose(td.evaluate(f, values), values["X"] @ values["W"] + values["b"], rtol=1e-12)
    assert (b + X @ W) is f


@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_each_operator_broadcasts_as_numpy_on_tensors(op):
    T, M, v = td.tensor("T", "i j k"), td.matrix("M", "j k"), td.vector("v", "k")
    values = dict(T=RNG.standard_normal((2, 3, 4)), M=RNG.standard_normal((3, 4)), v=2 + RNG.random(4))
    apply = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}[op]
    for left, right in itertools.permutations((T, M, v), 2):
        e = apply(left, right)
        want = apply(values[left.name], values[right.name])
        assert e.shape == td.broadcast_shapes(left.shape, right.shape)
        np.testing.assert_allclose(td.evaluate(e, values), want, rtol=1e-12)


def test_centring_the_columns():
    X = td.matrix("X", "n p")
    N = 6
    centred = X - td.sum(X, axis=0) / N
    value = RNG.standard_normal((N, 3))
    np.testing.assert_allclose(td.evaluate(centred, X=value), value - value.mean(axis=0), atol=1e-12)
    # the sample covariance: its gradient against jax and finite differences
    cov = centred.T @ centred / (N - 1)
    f = td.logdet(cov + td.eye("p"))
    assert td.check(f, X).max_rel_error < 1e-6
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        jnp = jax.numpy

        def twin(X):
            C = X - X.mean(axis=0)
            return jnp.linalg.slogdet(C.T @ C / (N - 1) + jnp.eye(3))[1]
        np.testing.assert_allclose(td.evaluate(td.grad(f, X), X=value), jax.grad(twin)(jnp.asarray(value)),
                                   rtol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_through_a_broadcast_pass_the_finite_difference_check(order):
    X, W, b, values = _bias_layer()
    a = td.vector("a", "k")
    f = td.sum(td.tanh(X @ W + b) * a / (b * b + 1))
    for wrt in (b, W, a):
        assert td.check(f, wrt, order=order).max_rel_error < 1e-6, (wrt.name, order)


def test_derivatives_through_a_broadcast_match_jax():
    jax = pytest.importorskip("jax")
    X, W, b, values = _bias_layer()
    a = td.vector("a", "k")
    values["a"] = RNG.standard_normal(2)
    f = td.sum(td.sigmoid(X @ W + b) * a - b)
    with jax.enable_x64(True):
        jnp = jax.numpy

        def twin(W, b):
            return jnp.sum(jax.nn.sigmoid(jnp.asarray(values["X"]) @ W + b) * jnp.asarray(values["a"]) - b)
        args = (jnp.asarray(values["W"]), jnp.asarray(values["b"]))
        for got, want in zip(td.evaluate(list(td.grad(f, [W, b])), values), jax.grad(twin, argnums=(0, 1))(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-10)
        H = td.evaluate(td.hessian(f, [W, b]), values)
        Hj = jax.hessian(twin, argnums=(0, 1))(*args)
        for i, j in itertools.product(range(2), repeat=2):
            np.testing.assert_allclose(H[i][j], Hj[i][j], rtol=1e-9, atol=1e-12)


def test_dims_that_do_not_line_up_are_a_shape_error_naming_both():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    for build in (lambda: X + y, lambda: X - y, lambda: y * X, lambda: X / y):
        with pytest.raises(td.ShapeError) as info:
            build()
        message = str(info.value)
        assert "'p'" in message and "'n'" in message and "(n, p)" in message
    with pytest.raises(td.ShapeError, match="use @"):
        X * td.matrix("A", "p n")
    with pytest.raises(td.ShapeError, match="'n'.*'p'|'p'.*'n'"):
        td.tensor("T", "n p q") + td.matrix("B", "n q")
    with pytest.raises(td.ShapeError, match="slice"):
        y[1:] + y[:-1][None:]   # two slices of one dim are different dims
    with pytest.raises(td.ShapeError, match="more axes"):
        td.broadcast_to(X, "p")


def test_broadcast_shapes_and_broadcast_to():
    assert td.broadcast_shapes(("n", "k"), ("k",)) == ("n", "k")
    assert td.broadcast_shapes((), ("a", "b")) == ("a", "b")
    assert td.broadcast_shapes(("i", "j", "k"), ("j", "k")) == ("i", "j", "k")
    b = td.vector("b", "k")
    B = td.broadcast_to(b, "n k")
    assert B.shape == ("n", "k") and td.broadcast_to(b, ("k",)) is b
    np.testing.assert_allclose(td.evaluate(B + td.matrix("Z", "n k"), b=np.arange(3.0), Z=np.zeros((2, 3))),
                               np.tile(np.arange(3.0), (2, 1)))


def test_printing_of_a_row_broadcast_bias_reads_back():
    X, W, b, values = _bias_layer()
    dims = dict(X="n d", W="d k", b="k")
    for e, text in [(X @ W + b, "X*W + b'"), (X @ W - 2 * b, "X*W - (2*b)'"), (b - X @ W, "b' - X*W")]:
        assert td.matrix_notation(e) == text
        assert td.parse(text, **dims) is e
    e = td.tanh(X @ W + b)
    assert td.parse(td.matrix_notation(e), **dims) is e
    assert "b_{j}" in td.latex(X @ W + b, notation="index")
    assert "b[j]" in td.index_notation(X @ W + b)
    # a column broadcast is written through transposes, since X + y would not read back
    Y = td.matrix("Y", "k n")
    column = (Y.T + b).T
    assert td.matrix_notation(column) == "(b' + Y')'"
    assert td.parse(td.matrix_notation(column), Y="k n", b="k") is column


def test_parse_reads_a_row_vector_spread_over_rows_but_not_a_column():
    f = td.parse("X*W + b'", X="n d", W="d k")
    assert f.shape == ("n", "k")
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k")
    assert f is X @ W + b
    assert td.parse("X .* c'", X="n d") is td.matrix("X", "n d") * td.vector("c", "d")
    with pytest.raises(td.ShapeError, match="one shape"):
        td.parse("X + y", X="n p", y="n")


def test_codegen_and_backends_evaluate_a_broadcast():
    X, W, b, values = _bias_layer()
    f = td.tanh(X @ W + b) - b
    want = np.tanh(values["X"] @ values["W"] + values["b"]) - values["b"]
    namespace = {}
    exec(td.codegen(f, "numpy", "layer"), namespace)
    np.testing.assert_allclose(namespace["layer"](**values), want, rtol=1e-12)
    pytest.importorskip("dask")
    np.testing.assert_allclose(np.asarray(td.evaluate(f, values, backend="dask")), want, rtol=1e-12)
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(td.evaluate(f, values, backend="jax")), want, rtol=1e-12)
        namespace = {}
        exec(td.codegen(f, "jax", "layer"), namespace)
        np.testing.assert_allclose(np.asarray(namespace["layer"](**values)), want, rtol=1e-12)


def test_broadcasting_matches_numpy_on_random_shapes():
    dims = ("a", "b", "c")
    sizes = dict(a=2, b=3, c=4)
    for k in range(40):
        rng = np.random.default_rng(k)
        ndim_l, ndim_r = rng.integers(0, 4, size=2)
        full = dims[3 - max(ndim_l, ndim_r):]
        left, right = full[len(full) - ndim_l:], full[len(full) - ndim_r:]
        L, R = td.tensor(f"L{k}", left), td.tensor(f"R{k}", right)
        vl = rng.standard_normal([sizes[d] for d in left])
        vr = 1.5 + rng.random([sizes[d] for d in right])
        e = L * R - L / R + R
        got = td.evaluate(e, {f"L{k}": vl, f"R{k}": vr})
        np.testing.assert_allclose(got, vl * vr - vl / vr + vr, rtol=1e-12)


def test_the_cli_differentiates_a_bias():
    import contextlib
    import io

    from tensordiff.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["sum(tanh(X*W + b'))", "--wrt", "b", "--dims", "X=n d", "--check"]) == 0
    lines = out.getvalue().splitlines()[1:]   # after the line of inferred dims
    # Σ over the rows is a product with a vector of ones: (1 - tanh(b' + X*W).^2)'*vector(1)
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d p"), td.vector("b", "p")
    assert lines[0] == td.matrix_notation(td.grad(td.sum(td.tanh(X @ W + b)), b))
    assert "vector(1)" in lines[0]
    assert float(lines[1].split("max rel error")[1]) < 1e-6
