"""Generated code run in each of its array libraries (issue 17, item 5): the value-and-gradient
function, its shape asserts and its gradient-check helper, in numpy, jax and torch, and random
expressions with their derivatives against td.evaluate."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.randexpr import USER_FUNCTIONS
from tensordiff.selfcheck import SIZES, Example

TARGETS = ["numpy", "jax", "torch"]


def _library(target):
    """The array library of ``target`` (skipping the test where it is not installed) and a function
    making its arrays from numpy values."""
    if target == "numpy":
        return np.asarray
    if target == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return jax.numpy.asarray
    torch = pytest.importorskip("torch")
    return lambda value: torch.as_tensor(np.asarray(value), dtype=torch.float64)


def _problem():
    X, w, y, lam = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n"), td.scalar("lam")
    f = td.sum(td.log1p(td.exp(-y * (X @ w)))) + lam * (w @ w) + td.logdet(X.T @ X + td.eye("p"))
    rng = np.random.default_rng(11)
    values = dict(X=rng.standard_normal((6, 3)), lam=0.3, w=rng.standard_normal(3), y=np.sign(rng.standard_normal(6)))
    return f, X, w, lam, values


@pytest.mark.parametrize("target", TARGETS)
def test_value_and_gradient_function_runs_with_asserts_and_check(target):
    array = _library(target)
    f, X, w, lam, values = _problem()
    source = td.codegen([f, td.grad(f, w), td.grad(f, X), td.grad(f, lam)], target=target, name="loss",
                        asserts=True, check=True)
    namespace = {}
    exec(source, namespace)
    # arguments sorted by name: X, lam, w, y; the scalar as a plain Python float, as a caller passes it
    args = [array(values["X"]), values["lam"], array(values["w"]), array(values["y"])]
    value, g_w, g_X, g_lam = namespace["loss"](*args)
    np.testing.assert_allclose(float(value), td.evaluate(f, **values), rtol=1e-12)
    for got, wrt in ((g_w, w), (g_X, X), (g_lam, lam)):
        np.testing.assert_allclose(np.asarray(got), td.evaluate(td.grad(f, wrt), **values), rtol=1e-11, atol=1e-13)
    assert namespace["check_loss"](*args) < 1e-6
    # the helper catches a wrong gradient: it differentiates the function's own value
    broken = source.replace("def loss(", "def loss_right(")
    broken += "\n\ndef loss(*args):\n    v, gw, gX, gl = loss_right(*args)\n    return v, gw, 1.01 * gX, gl\n"
    exec(broken, namespace)
    assert namespace["check_loss"](*args) > 1e-4


@pytest.mark.parametrize("target", TARGETS)
def test_shape_asserts_name_the_argument_and_the_dim(target):
    array = _library(target)
    f, X, w, lam, values = _problem()
    namespace = {}
    exec(td.codegen([f, td.grad(f, w)], target=target, asserts=True), namespace)
    good = dict(X=array(values["X"]), lam=values["lam"], w=array(values["w"]), y=array(values["y"]))
    namespace["f"](**good)
    with pytest.raises(AssertionError, match="y: axis 0 is dim n, of size 6 in X, got 5"):
        namespace["f"](**{**good, "y": array(np.ones(5))})
    with pytest.raises(AssertionError, match=r"w: expected 1 axis \(p\), got shape \(3, 1\)"):
        namespace["f"](**{**good, "w": array(np.ones((3, 1)))})
    with pytest.raises(AssertionError, match="lam: expected a scalar"):
        namespace["f"](**{**good, "lam": array(np.ones(2))})


def test_torch_gradient_agrees_with_autograd_and_the_check_takes_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    f, X, w, lam, values = _problem()
    namespace = {}
    exec(td.codegen([f, td.grad(f, w), td.grad(f, X)], target="torch", name="loss", check=True), namespace)
    Xt = torch.tensor(values["X"], requires_grad=True)
    wt = torch.tensor(values["w"], requires_grad=True)
    yt = torch.tensor(values["y"])
    value, g_w, g_X = namespace["loss"](Xt, values["lam"], wt, yt)
    auto_w, auto_X = torch.autograd.grad(value, [wt, Xt])
    np.testing.assert_allclose(g_w.detach().numpy(), auto_w.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g_X.detach().numpy(), auto_X.numpy(), rtol=1e-12)
    assert namespace["check_loss"](Xt, values["lam"], wt, yt) < 1e-6


def test_torch_code_of_a_function_of_a_constant_takes_no_python_number():
    torch = pytest.importorskip("torch")
    x = td.scalar("x")
    h = td.elementwise("h")
    e = h(td.scalar("x") * 0) + td.exp(x)
    source = td.codegen(e, target="torch")
    namespace = {}
    exec(source, namespace)
    got = namespace["f"](h=torch.nn.functional.softplus, x=0.5)   # x a Python float, h a torch function
    np.testing.assert_allclose(float(got), np.log(2.0) + np.exp(0.5), rtol=1e-12)


def _implementation(target, fn):
    """A user function of the random expressions in ``target``'s library, from its numpy one."""
    numeric = fn.numeric if fn.numeric is not None else USER_FUNCTIONS[fn.base][fn.order]
    array = _library(target)
    return lambda t: array(numeric(np.asarray(t)))


@pytest.mark.parametrize("target", ["jax", "torch"])
def test_generated_code_of_random_expressions_and_their_derivatives_equals_evaluation(target):
    # the selfcheck's random expressions over every operation, with first and second derivatives;
    # jax runs each einsum eagerly, compiling it for its shapes (seconds per example): fewer there
    array = _library(target)
    seeds = 25 if target == "torch" else 4
    import inspect

    from tensordiff.expr import Apply, topological
    from tensordiff.printing import user_function_name
    checked = 0
    for seed in range(seeds):
        ex = Example(900 + seed)
        exprs = [ex.expr] + ex.derivatives(2)
        namespace = {}
        exec(td.codegen(exprs, target=target), namespace)
        known = {name: (value if isinstance(value, float) else array(value)) for name, value in ex.V.items()}
        for node in topological(exprs):
            if isinstance(node, Apply) and node.fn.user:
                known[user_function_name(node.fn)] = _implementation(target, node.fn)
        known.update({d: s for d, s in SIZES.items() if d not in known})
        fn = namespace["f"]
        results = fn(**{p: known[p] for p in inspect.signature(fn).parameters})
        for e, got in zip(exprs, results):
            np.testing.assert_allclose(np.asarray(got), ex.evaluate(e), rtol=1e-9, atol=1e-9)
            checked += 1
    assert checked >= 2 * seeds
