"""Matrix forms for the results that lacked one (issue 17 item 4, issue 12's reductions): each
prints in matrix notation, reads back through td.parse, and evaluates equal."""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(17)
SIZES = {"n": 5, "p": 3, "h": 4, "k": 2}


def _value(symbol):
    shape = tuple(SIZES[d] for d in symbol.shape)
    value = RNG.standard_normal(shape)
    if len(shape) == 2 and shape[0] == shape[1]:
        value = value @ value.T + shape[0] * np.eye(shape[0])   # symmetric positive definite
    return value


def _symbols(expr):
    return {node.name: node for node in td.symbols(expr)} if hasattr(td, "symbols") else {}


def round_trip(expr, values):
    """The matrix notation of ``expr``: it exists, and td.parse reads it back to an equal value."""
    text = td.matrix_notation(expr)
    assert not text.startswith("no matrix notation"), text
    back = td.parse(text)
    assert back.shape == expr.shape, (text, back.shape)
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(expr, **values), rtol=1e-10, atol=1e-12)
    return text


@pytest.fixture
def network():
    X, W1, W2, Y = td.matrix("X", "n p"), td.matrix("W1", "p h"), td.matrix("W2", "h k"), td.matrix("Y", "n k")
    values = {s.name: _value(s) for s in (X, W1, W2, Y)}
    return X, W1, W2, Y, values


def test_the_backprop_gradient_is_a_product_with_a_hadamard_of_paths(network):
    X, W1, W2, Y, values = network
    gradient = td.grad(td.sum((td.sigmoid(X @ W1) @ W2 - Y) ** 2), W1)
    text = round_trip(gradient, values)
    assert text.startswith("2*X'*(") and ".*" in text and "W2'" in text, text
    td.check(td.sum((td.sigmoid(X @ W1) @ W2 - Y) ** 2), W1, **values)


@pytest.mark.parametrize("axis, printed", [(1, "X*vector(1)"), (0, "X'*vector(1)")])
def test_row_and_column_sums(network, axis, printed):
    X, _, _, _, values = network
    assert round_trip(td.sum(X, axis=axis), values) == printed


def test_a_sum_over_a_vector_times_a_matrix_is_a_product_with_ones(network):
    X, W1, _, _, values = network
    v = td.vector("v", "n")
    values["v"] = RNG.standard_normal(SIZES["n"])
    assert round_trip(td.sum(v @ (X @ W1), axis=0), values) == "v'*X*W1*vector(1)"


@pytest.mark.parametrize("make, printed", [
    (lambda: td.zeros("n p"), "matrix(0)"), (lambda: td.ones("n"), "vector(1)"),
    (lambda: 2.5 * td.ones("n p"), "matrix(2.5)"), (lambda: -td.ones("n"), "vector(-1)"),
])
def test_zero_and_all_ones_have_a_matrix_form(make, printed):
    assert td.matrix_notation(make()) == printed


def test_filled_matrices_read_back_sized_by_their_surroundings(network):
    X, _, _, _, values = network
    for expr in (X + td.ones("n p"), X * td.zeros("n p") + X, td.sum(X * td.ones("n p"))):
        round_trip(expr, values)


def test_a_vector_spread_over_a_matrix_is_an_outer_product_with_ones(network):
    X, _, _, _, values = network
    spread = td.broadcast_to(td.sum(X, axis=0), ("n", "p")) if hasattr(td, "broadcast_to") else None
    if spread is None:
        spread = td.sum(X, axis=0) * td.ones("n p")
    text = td.matrix_notation(spread)
    assert text == "vector(1)*(X'*vector(1))'"
    back = td.parse(f"{text} + 0*X")   # vector(1) alone has no size: X gives it one
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(spread, **values), rtol=1e-12)


@pytest.mark.parametrize("build, printed", [(td.tril, "tril(A)"), (td.triu, "triu(A)")])
def test_triangles(build, printed):
    A = td.matrix("A", "p p")
    values = {"A": _value(A)}
    assert round_trip(build(A), values) == printed
    assert round_trip(td.grad(td.sum(build(A) ** 2), A), values) == f"2*{printed}"


# ---------------------------------------------------------------- generated code (issue 17 item 5)

def _least_squares():
    X, w, y, lam = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n"), td.scalar("lam")
    f = td.sum(td.tanh(X @ w) - y) ** 2 + lam * (w @ w) + td.logdet(X.T @ X)
    values = dict(X=np.eye(5, 3) + 0.3 * RNG.standard_normal((5, 3)), lam=0.7, w=RNG.standard_normal(3),
                  y=RNG.standard_normal(5))
    return f, X, w, values


@pytest.mark.parametrize("target", ["numpy", "jax"])
def test_codegen_returns_value_and_gradients_and_checks_them(target):
    if target == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
    f, X, w, values = _least_squares()
    source = td.codegen([f, td.grad(f, w), td.grad(f, X)], target=target, name="objective", asserts=True, check=True)
    namespace = {}
    exec(source, namespace)
    args = [values[name] for name in ("X", "lam", "w", "y")]   # sorted by name
    value, grad_w, grad_X = namespace["objective"](*args)
    np.testing.assert_allclose(float(value), td.evaluate(f, **values), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grad_w), td.evaluate(td.grad(f, w), **values), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grad_X), td.evaluate(td.grad(f, X), **values), rtol=1e-12)
    assert namespace["check_objective"](*args) < 1e-6
    # a wrong gradient is caught: the helper compares against the function's own value
    broken = source.replace("def objective(", "def objective_right(")
    broken += "\n\ndef objective(*args):\n    v, gw, gX = objective_right(*args)\n    return v, 1.5 * gw, gX\n"
    exec(broken, namespace)
    assert namespace["check_objective"](*args) > 1e-3


def test_codegen_asserts_name_the_argument_and_the_dim():
    f, X, w, values = _least_squares()
    namespace = {}
    exec(td.codegen([f, td.grad(f, w)], asserts=True), namespace)
    with pytest.raises(AssertionError, match="w: axis 0 is dim p"):
        namespace["f"](values["X"], values["lam"], np.ones(4), values["y"])
    with pytest.raises(AssertionError, match="X: expected 2 axes"):
        namespace["f"](np.ones(5), values["lam"], values["w"], values["y"])
    with pytest.raises(AssertionError, match="lam: expected a scalar"):
        namespace["f"](values["X"], np.ones(2), values["w"], values["y"])


def test_codegen_check_needs_a_scalar_and_its_gradient():
    f, X, w, _ = _least_squares()
    with pytest.raises(td.TensorDiffError, match="gradient"):
        td.codegen([td.grad(f, w), f], check=True)
    with pytest.raises(td.TensorDiffError, match="gradient"):
        td.codegen([f, td.grad(f, w) * 2], check=True)


def test_cli_latex_is_the_matrix_form(capsys):
    from tensordiff.cli import main
    assert main(["x'*A*x", "--wrt", "x", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\left(A + A^\top\right) x" in out and r"\sum" not in out
