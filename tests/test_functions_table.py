"""The table of elementwise functions (functions.FUNCTIONS), tested row by row.

Every test iterates over the table, so a new row is tested as soon as it is added; the only
per-function data here are the independent references (math-module formulas, jax), and a row
without one fails ``test_every_row_has_an_independent_reference``.
"""

import math
import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff import functionvalues
from tensordiff.functions import DOMAINS, FUNCTIONS, polygamma_function
from tensordiff.testing import numeric_diff

RNG = np.random.default_rng(12)
ROWS = sorted(FUNCTIONS)
DIFFERENTIABLE = [name for name in ROWS if FUNCTIONS[name].finite_differences]
EXTRA = {"polygamma1": polygamma_function(1), "polygamma2": polygamma_function(2)}


def _digamma(v, h=1e-4):   # the derivative of math.lgamma, Richardson-extrapolated central differences
    d = lambda step: (math.lgamma(v + step) - math.lgamma(v - step)) / (2 * step)   # noqa: E731
    return (4 * d(h / 2) - d(h)) / 3


# Independent scalar references (math module), one per row.
REFERENCE = {
    "exp": math.exp, "log": math.log, "log1p": math.log1p, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "softplus": lambda v: math.log1p(math.exp(v)),
    "log_sigmoid": lambda v: -math.log1p(math.exp(-v)),
    "erf": math.erf, "gelu": lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))), "lgamma": math.lgamma,
    "digamma": _digamma, "abs": lambda v: -v if v < 0 else v, "sign": lambda v: float((v > 0) - (v < 0)),
    "step": lambda v: 1.0 if v > 0 else 0.0, "relu": lambda v: max(v, 0.0), "stop_gradient": lambda v: v,
}
REFERENCE_TOLERANCE = {"digamma": 1e-8}


def points(domain, size=5):
    """Random arguments inside ``domain`` (functions.DOMAINS), away from kinks and poles."""
    if domain == "positive":
        return RNG.uniform(0.5, 3.0, size)
    if domain == "interval":
        return RNG.uniform(-0.5, 0.5, size)
    if domain == "kink":
        return RNG.choice([-1.0, 1.0], size) * RNG.uniform(0.3, 1.5, size)
    return RNG.uniform(-2.0, 2.0, size)


def test_every_row_has_every_facet():
    for name, fn in FUNCTIONS.items():
        assert getattr(td, name) is fn and name in td.__all__, name            # its public name
        assert fn.numeric is not None and fn.array is not None and fn.domain in DOMAINS, name
        assert all(fn.code_for(target) for target in ("numpy", "jax", "torch")), name
        assert fn.latex and not fn.user, name
        assert td.parse(f"{name}(X)").fn is fn, name                           # the parser's word
        assert td.matrix_notation(fn(td.matrix("X", "n p"))) == f"{name}(X)", name


def test_every_row_has_a_docstring_whose_example_runs():
    import doctest
    for name, fn in FUNCTIONS.items():
        test = doctest.DocTestParser().get_doctest(fn.__doc__, {}, name, None, 0)
        runner = doctest.DocTestRunner()
        assert test.examples and fn.__doc__.splitlines()[0].strip(), name
        assert runner.run(test).failed == 0, name


def test_every_row_has_an_independent_reference():
    assert set(REFERENCE) == set(FUNCTIONS)


@pytest.mark.parametrize("name", ROWS)
def test_value_matches_the_reference(name):
    fn, x = FUNCTIONS[name], td.vector("x", "n")
    v = points(fn.domain, 7)
    want = np.array([REFERENCE[name](float(t)) for t in v])
    got = td.evaluate(fn(x), x=v)
    np.testing.assert_allclose(got, want, rtol=REFERENCE_TOLERANCE.get(name, 1e-13), atol=1e-15)


@pytest.mark.parametrize("name", DIFFERENTIABLE + list(EXTRA))
def test_derivatives_of_orders_1_to_3_match_central_differences(name):
    fn = FUNCTIONS.get(name) or EXTRA[name]
    x = td.vector("x", "n")
    values = {"x": points(fn.domain, 4)}
    lower = fn(x)
    for order in (1, 2, 3):
        higher = td.diff(lower, x)
        numeric = numeric_diff(lower, x, values, eps=1e-5)
        np.testing.assert_allclose(td.evaluate(higher, **values), numeric, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name}, order {order}")
        lower = higher


def test_stop_gradient_has_the_value_and_derivative_zero_at_every_order():
    x = td.vector("x", "n")
    v = points("real")
    e = td.sum(x * td.stop_gradient(td.exp(x)))
    np.testing.assert_allclose(td.evaluate(e, x=v), np.sum(v * np.exp(v)))
    np.testing.assert_allclose(td.evaluate(td.grad(e, x), x=v), np.exp(v))   # exp(x) held constant
    for order in (1, 2, 3):
        derivative = td.evaluate(td.diff(td.stop_gradient(x), x, order=order), x=v)
        assert derivative.shape == (5,) * (order + 1) and not np.any(derivative)


def test_x_to_an_expression_power_for_a_positive_base():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    values = {"x": points("positive"), "y": points("real")}
    e = x ** y
    np.testing.assert_allclose(td.evaluate(e, **values), values["x"] ** values["y"], rtol=1e-14)
    for wrt in (x, y):
        lower = e
        for _order in (1, 2):
            higher = td.diff(lower, wrt)
            np.testing.assert_allclose(td.evaluate(higher, **values), numeric_diff(lower, wrt, values, eps=1e-5),
                                       rtol=1e-6, atol=1e-7)
            lower = higher


def test_large_arguments_stay_finite_where_the_function_is():
    x = td.vector("x", "n")
    v = np.array([-40.0, -8.0, 8.0, 40.0])
    for order in range(4):
        for fn in (td.gelu, td.erf, td.sigmoid, td.softplus, td.tanh, td.arctan):
            value = td.evaluate(td.diff(fn(x), x, order=order), x=v)
            assert np.isfinite(value).all(), (fn, order)
    np.testing.assert_allclose(td.evaluate(td.gelu(x), x=v), [0.0, 0.0, 8.0, 40.0], atol=1e-14)
    np.testing.assert_allclose(np.diagonal(td.evaluate(td.diff(td.gelu(x), x), x=v)), [0, 0, 1, 1], atol=1e-13)
    big = np.array([700.0, -700.0])   # cosh and sinh are finite here; their derivatives are each other
    for order in range(3):
        for fn in (td.cosh, td.sinh):
            assert np.isfinite(td.evaluate(td.diff(fn(x), x, order=order), x=big)).all()


def test_erf_without_scipy_uses_math_erf(monkeypatch):
    v = points("real", 6)
    monkeypatch.setattr(functionvalues, "scipy_special", lambda required_by=None: None)
    np.testing.assert_allclose(functionvalues.erf(v), [math.erf(t) for t in v], rtol=1e-15)
    np.testing.assert_allclose(td.evaluate(td.gelu(td.vector("x", "n")), x=v),
                               [REFERENCE["gelu"](t) for t in v], rtol=1e-13, atol=1e-16)
    assert functionvalues.erf(np.float32(0.5)).dtype == np.float32


def test_the_gamma_family_without_scipy_is_a_clear_error(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(td.EvaluationError, match=r"td\.lgamma needs scipy"):
        td.evaluate(td.lgamma(td.vector("x", "n")), x=np.ones(2))


def test_numpy_ufuncs_build_the_rows():
    x = td.vector("x", "n")
    for name, fn in FUNCTIONS.items():
        if fn.ufunc is not None:
            assert fn.ufunc(x) is fn(x), name


def test_rows_pickle_as_themselves():
    for fn in [*FUNCTIONS.values(), *EXTRA.values()]:
        assert pickle.loads(pickle.dumps(fn)) is fn


def test_latex_names_each_row():
    x = td.vector("x", "n")
    for name, fn in FUNCTIONS.items():
        assert fn.latex in td.latex(fn(x)), name
    assert r"\psi^{(2)}" in td.latex(td.polygamma(2, x))


# ---------------------------------------------------------------- the other backends and code targets

# torch.special.polygamma (n ≥ 1) is accurate to about 1e-9 relative (its zeta series), scipy's
# and jax's to about 1e-15: measured against them, torch's polygamma rows get its own accuracy.
LIBRARY_ACCURACY = {("torch", name): 1e-8 for name in ("lgamma", "digamma", "polygamma1", "polygamma2")}   # orders 0-2


def _derivatives(fn, x):
    return [fn(x), td.diff(fn(x), x), td.diff(fn(x), x, order=2)]


@pytest.mark.parametrize("backend", ["dask", "jax", "torch", "cupy"])
def test_every_row_on_every_backend(backend):
    pytest.importorskip({"dask": "dask.array"}.get(backend, backend))
    x = td.vector("x", "n")
    for name in ROWS + list(EXTRA):
        fn = FUNCTIONS.get(name) or EXTRA[name]
        v = points(fn.domain)
        exprs = _derivatives(fn, x)
        want = td.evaluate(exprs, x=v)
        if backend == "jax":
            import jax
            with jax.enable_x64(True):
                got = td.evaluate(exprs, x=v, backend="jax")
        else:
            got = td.evaluate(exprs, x=v, backend=backend)
        for g, w in zip(got, want):
            g = g.compute() if backend == "dask" else g.get() if backend == "cupy" else np.asarray(g)
            np.testing.assert_allclose(g, w, rtol=LIBRARY_ACCURACY.get((backend, name), 1e-12), atol=1e-14,
                                       err_msg=f"{name} on {backend}")


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_every_row_in_every_code_target(target):
    library = pytest.importorskip({"numpy": "numpy", "jax": "jax.numpy", "torch": "torch"}[target])
    x = td.vector("x", "n")
    for name in ROWS + list(EXTRA):
        fn = FUNCTIONS.get(name) or EXTRA[name]
        v = points(fn.domain)
        exprs = [td.sum(fn(x) * fn(2 * x))] + _derivatives(fn, x)[1:]   # 2*x: the argument is written twice
        namespace = {}
        exec(td.codegen(exprs, target=target), namespace)
        if target == "jax":
            import jax
            with jax.enable_x64(True):
                got = namespace["f"](library.asarray(v))
        else:
            got = namespace["f"](library.asarray(v) if target == "torch" else v)
        for g, w in zip(got, td.evaluate(exprs, x=v)):
            np.testing.assert_allclose(np.asarray(g), w, rtol=LIBRARY_ACCURACY.get((target, name), 1e-10), atol=1e-12,
                                       err_msg=f"{name} in {target}")


def test_generated_code_imports_special_functions_clear_of_user_names():
    special, lax = td.vector("special", "n"), td.vector("lax", "n")
    e = td.sum(td.erf(special) * td.stop_gradient(lax))
    source = td.codegen(e, target="jax")
    assert "from jax.scipy import special as special_" in source and "from jax import lax as lax_" in source
    namespace, v = {}, points("real")
    exec(td.codegen(e), namespace)
    assert namespace["f"](v, v) == pytest.approx(float(td.evaluate(e, special=v, lax=v)), rel=1e-14)


# ---------------------------------------------------------------- against jax

def _jax_functions():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import jax.scipy.special as special
    return jax, {
        "exp": jnp.exp, "log": jnp.log, "log1p": jnp.log1p, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan,
        "arcsin": jnp.arcsin, "arccos": jnp.arccos, "arctan": jnp.arctan, "sinh": jnp.sinh, "cosh": jnp.cosh,
        "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus, "log_sigmoid": jax.nn.log_sigmoid,
        "erf": special.erf,
        "gelu": lambda v: jax.nn.gelu(v, approximate=False), "lgamma": special.gammaln, "digamma": special.digamma,
        "abs": jnp.abs, "sign": jnp.sign, "step": lambda v: jnp.heaviside(v, 0.0), "relu": jax.nn.relu,
        "stop_gradient": jax.lax.stop_gradient,
    }


@pytest.mark.parametrize("name", ROWS)
def test_derivatives_of_orders_0_to_3_match_jax(name):
    jax, reference = _jax_functions()
    assert set(reference) == set(FUNCTIONS)
    fn, x = FUNCTIONS[name], td.scalar("x")
    f = reference[name]
    with jax.enable_x64(True):
        nested = [f]
        for _ in range(3):
            nested.append(jax.grad(nested[-1]))
        compiled = [jax.jit(g) for g in nested]   # one compile per order for all points, not eager dispatch
        for t in points(fn.domain, 3):
            expr = fn(x)
            for order in range(4):
                want = float(compiled[order](np.float64(t)))
                got = float(td.evaluate(expr, x=t))
                assert got == pytest.approx(want, rel=1e-10, abs=1e-12), (name, order, t)
                expr = td.diff(expr, x)


# ---------------------------------------------------------------- user functions are the user's own

def test_a_user_function_named_like_a_builtin_is_its_own():
    x = td.vector("x", "n")
    mine = td.elementwise("softplus", lambda v: 2 * v, lambda v: 2 + 0 * v)
    assert mine is not td.softplus and mine.user
    both = mine(x) + td.softplus(x)
    assert str(both).count("user.softplus") == 1 and td.matrix_notation(both) == "user.softplus(x) + softplus(x)"
    assert r"\operatorname{user.softplus}" in td.latex(both)
    assert td.parse(td.matrix_notation(both), x="n") is both
    v = points("real")
    np.testing.assert_allclose(td.evaluate(both, x=v), 2 * v + np.logaddexp(0, v))
    np.testing.assert_allclose(td.evaluate(td.grad(td.sum(both), x), x=v), 2 + 1 / (1 + np.exp(-v)))
    namespace = {}
    exec(td.codegen(both), namespace)
    np.testing.assert_allclose(namespace["f"](v, lambda t: 2 * t), 2 * v + np.logaddexp(0, v))


def test_an_abstract_user_function_named_like_a_builtin_takes_its_implementation_at_evaluation():
    x = td.vector("x", "n")
    tanh = td.elementwise("tanh")   # abstract: no implementation until evaluation
    v = points("real")
    e = td.sum(tanh(x) + td.tanh(x))
    assert td.evaluate(e, x=v, functions={"tanh": np.sin}) == pytest.approx(np.sum(np.sin(v) + np.tanh(v)))
    with pytest.raises(td.EvaluationError, match="'tanh' is built in"):
        td.evaluate(td.sum(td.tanh(x)), x=v, functions={"tanh": np.sin})


# ---------------------------------------------------------------- bad input

def test_bad_input_is_a_clear_error():
    x, X = td.vector("x", "n"), td.matrix("X", "n p")
    for n in (-1, 1.5, True, "2"):
        with pytest.raises(td.TensorDiffError, match="polygamma's order n must be a non-negative int"):
            td.polygamma(n, x)
    with pytest.raises(td.ShapeError, match=r"'\*\*'"):
        x ** X
    with pytest.raises(td.TensorDiffError, match="positive base"):
        0.0 ** x
    with pytest.raises(td.TensorDiffError, match="domain of function h_bad must be one of"):
        td.Elementwise("h_bad", np.tanh, domain="everywhere")
    with pytest.raises(td.TensorDiffError, match="'pow' names tensordiff's power family"):
        td.elementwise("pow")
    with pytest.raises(td.TensorDiffError, match="the constant arcsin"):
        td.arcsin(td.simplify(2.0) + 0 * td.scalar("s_bad"))   # arcsin(2) is nan: no such constant
