"""max, min, mean, maximum, minimum: values as numpy, derivatives of orders 1-3 against finite
differences, ties split equally as jax.grad splits them, and bad axes named."""

import pickle
import warnings

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(12)


def _fd_orders(expr, wrt, values, orders=(1, 2, 3), tol=1e-6):
    for order in orders:
        result = td.check(expr, wrt, order=order, **values)
        assert result.max_rel_error < tol, (order, result.max_rel_error)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (1,), ()])
def test_max_min_mean_values_follow_numpy_axes(axis):
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((4, 3))
    assert np.allclose(td.evaluate(td.max(X, axis=axis), X=Xv), np.max(Xv, axis=axis))
    assert np.allclose(td.evaluate(td.min(X, axis=axis), X=Xv), np.min(Xv, axis=axis))
    assert np.allclose(td.evaluate(td.mean(X, axis=axis), X=Xv), np.mean(Xv, axis=axis))


def test_reductions_of_a_tensor_along_several_axes():
    T = td.tensor("T", "a b c")
    Tv = RNG.standard_normal((2, 3, 4))
    for axis in [(0, 2), (-1, 0), 1]:
        assert np.allclose(td.evaluate(td.max(T, axis=axis), T=Tv), np.max(Tv, axis=axis))
        assert np.allclose(td.evaluate(td.mean(T, axis=axis), T=Tv), np.mean(Tv, axis=axis))
        _fd_orders(td.sum(td.max(T, axis=axis) ** 2), T, {"T": Tv}, orders=(1, 2))


@pytest.mark.parametrize("build", [
    lambda X: td.max(X, axis=1),
    lambda X: td.min(X, axis=0),
    lambda X: td.max(td.sin(X)),
    lambda X: td.mean(X * X, axis=0),
    lambda X: td.mean(td.exp(X)),
    lambda X: td.max(X, axis=1) * td.mean(X, axis=1),
    lambda X: td.maximum(td.sin(X), td.cos(X)),
    lambda X: td.minimum(X * X, 0.3),
])
def test_derivatives_of_orders_one_to_three_match_finite_differences(build):
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((4, 3))
    _fd_orders(build(X), X, {"X": Xv})


def test_mean_centres_columns_and_its_hessian_is_zero():
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((5, 3))
    centred = td.evaluate(td.mean(X, axis=0), X=Xv)
    assert np.allclose(centred, Xv.mean(axis=0))
    assert np.allclose(td.evaluate(td.diff(td.mean(X), X, order=2), X=Xv), 0.0)
    grad = td.evaluate(td.grad(td.mean(X), X), X=Xv)
    assert np.allclose(grad, np.full((5, 3), 1 / 15))


def test_ties_share_the_derivative_equally_as_jax():
    jax, jnp = _jax()
    v = td.vector("v", "n")
    for values in ([1.0, 3.0, 3.0, 2.0], [2.0, 2.0, 2.0, 2.0], [5.0, -1.0, 5.0, 0.0]):
        x = np.array(values)
        for mine, theirs in ((td.max(v), jnp.max), (td.min(v), jnp.min)):
            got = td.evaluate(td.grad(mine, v), v=x)
            want = np.asarray(jax.grad(theirs)(jnp.asarray(x)))
            assert np.allclose(got, want), (values, got, want)


def test_ties_along_an_axis_match_jax_jacobian():
    jax, jnp = _jax()
    X = td.matrix("X", "n p")
    Xv = np.array([[1.0, 1.0, 0.0], [2.0, -1.0, 2.0], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]])
    for axis in (0, 1, None, (0, 1)):
        got = td.evaluate(td.diff(td.max(X, axis=axis), X), X=Xv)
        want = np.asarray(jax.jacobian(lambda a: jnp.max(a, axis=axis))(jnp.asarray(Xv)))
        assert np.allclose(got, want), axis


def test_maximum_and_minimum_split_ties_as_jax():
    jax, jnp = _jax()
    a, b = td.vector("a", "n"), td.vector("b", "n")
    av, bv = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.5, 4.0, -1.0])
    for mine, theirs in ((td.maximum, jnp.maximum), (td.minimum, jnp.minimum)):
        f = td.sum(mine(a, b) * td.exp(a))
        g = lambda x, y: jnp.sum(theirs(x, y) * jnp.exp(x))  # noqa: E731
        assert np.allclose(td.evaluate(f, a=av, b=bv), g(av, bv))
        assert np.allclose(td.evaluate(td.grad(f, a), a=av, b=bv), jax.grad(g, 0)(av, bv))
        assert np.allclose(td.evaluate(td.grad(f, b), a=av, b=bv), jax.grad(g, 1)(av, bv))
        assert np.allclose(td.evaluate(td.hessian(f, a), a=av, b=bv), jax.hessian(g, 0)(av, bv))


def test_maximum_with_a_scalar_and_numpy_ufuncs():
    v = td.vector("v", "n")
    x = np.array([-1.0, 0.5, 2.0])
    assert np.allclose(td.evaluate(td.maximum(v, 0), v=x), np.maximum(x, 0))
    assert np.allclose(td.evaluate(np.maximum(v, 1.0), v=x), np.maximum(x, 1.0))
    assert np.allclose(td.evaluate(np.minimum(0.0, v), v=x), np.minimum(0.0, x))


def test_maximum_never_multiplies_an_infinite_slope_of_the_branch_it_discards():
    v = td.vector("v", "n")
    x = np.array([0.0, 2.0, -3.0])
    f = td.maximum(td.sqrt(v * v), 1.0)        # sqrt's slope is inf at 0, where 1 is chosen
    grad = td.evaluate(td.diff(f, v), v=x)
    assert np.all(np.isfinite(grad))
    assert np.allclose(np.diagonal(grad), [0.0, 1.0, -1.0])


def test_logsumexp_of_large_values_stays_finite_in_max():
    v = td.vector("v", "n")
    x = np.array([1000.0, 999.0, 1000.0])
    assert td.evaluate(td.max(v), v=x) == 1000.0
    assert np.allclose(td.evaluate(td.grad(td.max(v), v), v=x), [0.5, 0.0, 0.5])


@pytest.mark.parametrize("call", [
    lambda X: td.max(X, axis=2), lambda X: td.min(X, axis=-3), lambda X: td.mean(X, axis=(0, 5)),
    lambda X: td.max(X, axis=(0, 0)), lambda X: td.mean(X, axis=1.0),
])
def test_an_axis_that_does_not_exist_is_a_shape_error_naming_it(call):
    X = td.matrix("X", "n p")
    with pytest.raises(td.ShapeError) as info:
        call(X)
    assert "axis" in str(info.value)


def test_an_axis_error_names_the_operation_the_axis_and_the_operand():
    X = td.matrix("X", "n p")
    with pytest.raises(td.ShapeError, match=r"max: axis 2 does not exist .*\(n, p\).*X"):
        td.max(X, axis=2)


def test_maximum_of_mismatched_shapes_names_both():
    with pytest.raises(td.ShapeError, match=r"maximum.*\(m\).*\(n\)|maximum.*\(n\).*\(m\)"):
        td.maximum(td.vector("u", "n"), td.vector("w", "m"))


def test_reductions_pickle_print_and_generate_code():
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((4, 3))
    exprs = [td.max(X, axis=0), td.min(X), td.mean(X, axis=1), td.maximum(X, td.sin(X)),
             td.diff(td.max(X, axis=1), X)]
    for e in exprs:
        assert pickle.loads(pickle.dumps(e)) is e
        assert td.index_notation(e) and td.latex(e) and td.matrix_notation(e)
        namespace = {}
        exec(td.codegen(e, target="numpy"), namespace)
        assert np.allclose(namespace["f"](Xv), td.evaluate(e, X=Xv))


def test_matrix_notation_reads_back_through_parse():
    v = td.vector("v", "n")
    x = RNG.standard_normal(5)
    for e in (td.max(v), td.min(v), td.max(td.exp(v) - v)):
        text = td.matrix_notation(e)
        assert "max" in text
        assert np.allclose(td.evaluate(td.parse(text, v="n"), v=x), td.evaluate(e, v=x))


def test_parse_reads_max_min_mean_maximum_minimum():
    x = RNG.standard_normal(4)
    y = RNG.standard_normal(4)
    v = td.vector("v", "n")
    w = td.vector("w", "n")
    assert np.isclose(td.evaluate(td.parse("max(v)"), v=x), x.max())
    assert np.isclose(td.evaluate(td.parse("min(v) + mean(v)"), v=x), x.min() + x.mean())
    assert np.allclose(td.evaluate(td.parse("maximum(v, w)"), v=x, w=y), np.maximum(x, y))
    assert np.allclose(td.evaluate(td.parse("minimum(v, 0)"), v=x), np.minimum(x, 0))
    del v, w


def _backend_cases():
    """Every new node type with derivatives, as (expressions, values)."""
    X, A, v = td.matrix("X", "n p"), td.matrix("A", "p p"), td.vector("v", "n")
    spd = A @ A.T + td.eye("p")
    f = td.sum(td.softmax(X) * X) + td.logsumexp(X, axis=0) @ td.max(X, axis=0) + td.mean(td.min(X, axis=1) * v)
    exprs = [td.max(X, axis=1), td.min(X), td.mean(X, axis=0), td.maximum(X, 0.1), td.minimum(v, td.sin(v)),
             td.logsumexp(X, axis=1), td.softmax(X, axis=0), td.log_softmax(X), td.where(v > 0, td.log(v), v),
             td.tril(spd, -1), td.triu(X, 1), td.cholesky(spd), (X > 0.2) * X, td.grad(f, X), td.hessian(f, v),
             td.diff(td.cholesky(spd), A), td.diff(td.where(v > 0, td.log(v), v), v, order=2)]
    values = {"X": RNG.standard_normal((4, 3)), "A": RNG.standard_normal((3, 3)), "v": RNG.standard_normal(4)}
    return exprs, values


@pytest.mark.parametrize("backend", ["dask", "jax", "torch", "cupy"])
def test_every_new_node_on_every_backend_matches_numpy(backend):
    module = {"dask": "dask.array", "jax": "jax", "torch": "torch", "cupy": "cupy"}[backend]
    lib = pytest.importorskip(module)
    if backend == "jax":
        lib.config.update("jax_enable_x64", True)
    exprs, values = _backend_cases()
    want = td.compile(exprs)(**values)
    got = td.compile(exprs, backend=backend)(**values)
    for expected, result, e in zip(want, got, exprs):
        if backend == "dask":
            result = result.compute()
        elif backend == "torch":
            result = result.cpu().numpy()
        elif backend == "cupy":
            result = result.get()
        assert np.allclose(np.asarray(result), expected, equal_nan=True), td.index_notation(e)


@pytest.mark.parametrize("backend", ["numpy", "dask", "jax", "torch", "cupy"])
def test_cholesky_that_is_not_positive_definite_fails_clearly_on_every_backend(backend):
    module = {"numpy": "numpy", "dask": "dask.array", "jax": "jax", "torch": "torch", "cupy": "cupy"}[backend]
    lib = pytest.importorskip(module)
    if backend == "jax":
        lib.config.update("jax_enable_x64", True)
    A = td.matrix("A", "n n")
    with pytest.raises(td.EvaluationError, match="not positive definite.*A"):
        result = td.evaluate(td.cholesky(A), A=-np.eye(3), backend=backend)
        if backend == "dask":
            result.compute()


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_generated_code_of_every_new_node_matches_evaluation(target):
    module = {"numpy": "numpy", "jax": "jax", "torch": "torch"}[target]
    lib = pytest.importorskip(module)
    if target == "jax":
        lib.config.update("jax_enable_x64", True)
    convert = {"numpy": np.asarray, "jax": lambda a: lib.numpy.asarray(a), "torch": lambda a: lib.as_tensor(a)}[target]
    exprs, values = _backend_cases()
    sizes = {"n": 4, "p": 3}
    namespace = {}
    exec(td.codegen(exprs, target=target), namespace)
    fn = namespace["f"]
    params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    with np.errstate(all="ignore"):   # numpy's log of the branch where() discards warns
        results = fn(*[convert(values[p]) if p in values else sizes[p] for p in params])
    for e, got in zip(exprs, results):
        got = got.numpy() if target == "torch" else np.asarray(got)
        assert np.allclose(got, td.evaluate(e, **values)), td.index_notation(e)


# ---- a mean over no entries is nan, as np.mean (which also warns) and jnp.mean; numpy's sum of
# nothing is 0 and stays 0. Derivatives that contain the mean are nan too: they are the mean of
# the slopes over no entries (jax's forward mode agrees; its reverse mode pushes the inf cotangent
# into no entries and reports 0).

def _empty_cases():
    X, a, v = td.matrix("X", "n p"), td.scalar("a"), td.vector("v", "p")
    return [td.mean(X, axis=0), td.mean(X), td.mean(a * X, axis=0) + v, td.grad(td.mean(a * X), a),
            td.mean(X, axis=0) @ v, td.jacobian(td.mean(a * X, axis=0), a), td.hessian(td.mean(a * a * X), a),
            td.mean(X, axis=0) * v, td.mean(td.exp(X) * a, axis=0)]


@pytest.mark.parametrize("backend", ["numpy", "dask", "jax"])
def test_a_mean_over_an_empty_axis_is_nan_everywhere_and_quietly(backend):
    pytest.importorskip({"numpy": "numpy", "dask": "dask.array", "jax": "jax"}[backend])
    if backend == "jax":
        _jax()
    values = {"X": np.zeros((0, 3)), "a": 2.0, "v": np.ones(3)}
    exprs = _empty_cases()
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = td.compile(exprs, backend=backend)(**values)
        compiled_again = td.compile(exprs, backend=backend)(**values)   # the specialised call of a known signature
        evaluated = [td.evaluate(e, backend=backend, **values) for e in exprs]
    for e, *results in zip(exprs, compiled, compiled_again, evaluated):
        for result in results:
            result = np.asarray(result.compute() if backend == "dask" else result)
            assert result.shape == td.evaluate(e, X=np.ones((2, 3)), a=2.0, v=np.ones(3)).shape
            assert np.isnan(result).all(), (td.index_notation(e), result)


def test_a_mean_over_an_empty_axis_agrees_with_numpy_and_jax_values():
    jax, jnp = _jax()
    X = td.matrix("X", "n p")
    for shape in [(0, 3), (0, 1), (0, 0)]:
        Xv = np.zeros(shape)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for axis in [0, None, (0, 1)]:
                want = np.mean(Xv, axis=axis)
                assert np.array_equal(td.evaluate(td.mean(X, axis=axis), X=Xv), want, equal_nan=True)
                assert np.array_equal(np.asarray(jnp.mean(Xv, axis=axis)), want, equal_nan=True)
            # axis 1 of an (0, k) matrix leaves no entries: empty, as numpy's
            assert td.evaluate(td.mean(X, axis=1), X=Xv).shape == np.mean(Xv, axis=1).shape == (0,)
    forward = jax.jacfwd(lambda a: jnp.mean(a * np.zeros((0, 3))))(2.0)
    a = td.scalar("a")
    assert np.isnan(forward) and np.isnan(td.evaluate(td.grad(td.mean(a * X), a), X=np.zeros((0, 3)), a=2.0))


def test_a_sum_over_an_empty_axis_stays_zero_even_scaled():
    X, a = td.matrix("X", "n p"), td.scalar("a")
    values = {"X": np.zeros((0, 3)), "a": 2.0}
    for e in [td.sum(X, axis=0), td.sum(X), a * td.sum(X, axis=0), td.grad(td.sum(a * X), a)]:
        assert np.array_equal(td.evaluate(e, **values), np.zeros(np.shape(td.evaluate(e, X=np.ones((2, 3)), a=2.0))))
    # an infinite scale of a sum of nothing is nan, as np.sum(x) * inf
    assert np.isnan(td.evaluate(a * td.sum(X), X=np.zeros((0, 3)), a=np.inf))


def test_printed_means_read_back_nan_over_empty_axes():
    X, v = td.matrix("X", "n p"), td.vector("v", "p")
    cases = [(td.mean(X, axis=0), lambda Xv, vv: np.mean(Xv, axis=0)), (td.mean(X), lambda Xv, vv: np.mean(Xv)),
             # with X (0, 0) numpy's mean(X, 0) has no entries, so its product with v is a sum of
             # nothing; the one contraction here divides its whole sum by n = 0 (docs/background/numerics.md)
             (td.mean(X, axis=0) @ v, lambda Xv, vv: np.nan if Xv.shape[0] == 0 else np.mean(Xv, axis=0) @ vv),
             (td.mean(X, axis=1), lambda Xv, vv: np.mean(Xv, axis=1))]
    for e, twin in cases:
        text = td.matrix_notation(e)
        back = td.parse(text)
        for Xv in [np.zeros((0, 3)), np.zeros((2, 0)), np.zeros((0, 0))]:
            vv = np.ones(Xv.shape[1])
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = twin(Xv, vv)
            for result in [td.evaluate(e, X=Xv, v=vv), td.evaluate(back, X=Xv, v=vv)]:
                assert np.array_equal(result, want, equal_nan=True), (text, Xv.shape)


@pytest.mark.parametrize("target", ["numpy", "jax"])
def test_generated_code_of_a_mean_over_an_empty_axis_is_nan_too(target):
    if target == "jax":
        jax, _ = _jax()
    X, v = td.matrix("X", "n p"), td.vector("v", "p")
    exprs = [td.mean(X, axis=0), td.mean(X), td.mean(X, axis=0) @ v, td.sum(X, axis=0)]
    namespace = {}
    exec(td.codegen(exprs, target=target), namespace)
    for Xv in [np.zeros((0, 3)), np.ones((2, 3))]:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")   # numpy's own 1/0 in plain generated code
            got = namespace["f"](Xv, np.ones(3))
        for result, e in zip(got, exprs):
            want = td.evaluate(e, X=Xv, v=np.ones(3))
            assert np.allclose(np.asarray(result), want, rtol=1e-14, atol=0, equal_nan=True), (td.index_notation(e), Xv.shape)
