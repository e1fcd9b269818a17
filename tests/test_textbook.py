"""Matrix forms for the results that lacked one (issue 17 item 4, issue 12's reductions): each
prints in matrix notation, reads back through td.parse, and evaluates equal."""

import numpy as np
import pytest

import tensordiff as td
from helpers import round_trip

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


@pytest.fixture
def network():
    X, W1, W2, Y = td.matrix("X", "n p"), td.matrix("W1", "p h"), td.matrix("W2", "h k"), td.matrix("Y", "n k")
    values = {s.name: _value(s) for s in (X, W1, W2, Y)}
    return X, W1, W2, Y, values


def test_the_backprop_gradient_is_a_product_with_a_hadamard_of_paths(network):
    X, W1, W2, Y, values = network
    gradient = td.grad(td.sum((td.sigmoid(X @ W1) @ W2 - Y) ** 2), W1)
    text = round_trip(gradient, values)
    # sigmoid(X*W1) occurs three times: it is named once
    assert text == "t1 = sigmoid(X*W1)\n2*X'*((1 - t1) .* t1 .* ((t1*W2 - Y)*W2'))"
    assert td.parse(text) is gradient
    latex = text.latex()
    assert r"t_{1} &= \sigma\left(X W_{1}\right)" in latex and latex.count(r"\sigma") == 1
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
    (lambda: td.zeros("n p"), "matrix(0, size(n), size(p))"), (lambda: td.ones("n"), "vector(1, size(n))"),
    (lambda: 2.5 * td.ones("n p"), "matrix(2.5, size(n), size(p))"),
    (lambda: -td.ones("n"), "vector(-1, size(n))"),
])
def test_zero_and_all_ones_have_a_matrix_form(make, printed):
    # no symbol of the constant sizes it: size(n) names the dim itself, whatever symbols are alive
    Z = td.matrix("Z", "n p")
    assert td.matrix_notation(make()) == printed
    assert td.parse(printed).shape == make().shape and Z.shape == ("n", "p")


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
    assert text == "vector(1, size(X, 1))*(X'*vector(1))'"
    back = td.parse(text)
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


# ---------------------------------------------------------------- more results that lacked a matrix form

def _values_for(*symbols):
    return {s.name: _value(s) for s in symbols}


@pytest.mark.parametrize("build, printed", [
    (lambda X: td.mean(X), "mean(X)"),
    (lambda X: td.mean(X, axis=0), "mean(X, 1)'"),
    (lambda X: td.mean(X, axis=1), "mean(X, 2)"),
    (lambda X: td.max(X, axis=1), "max(X, 2)"),
    (lambda X: td.min(X, axis=0), "-max(-X, 1)'"),
    (lambda X: td.logsumexp(X, axis=1), "logsumexp(X, 2)"),
    (lambda X: td.logsumexp(X, axis=0), "logsumexp(X, 1)'"),
    (lambda X: td.softmax(X, axis=0), "softmax(X')'"),
    (lambda X: X - td.mean(X, axis=0), "X - mean(X, 1)"),
    (lambda X: td.sum(X, axis=1) / td.sum(td.ones("n")), "X*vector(1)/size(X, 1)"),
])
def test_reductions_along_one_axis_as_matlab_writes_them(build, printed):
    X = td.matrix("X", "n p")
    values = _values_for(X)
    assert round_trip(build(X), values) == printed


@pytest.mark.parametrize("text, axis", [("sum(X, 1)", 0), ("sum(X, 2)", 1), ("mean(X, 1)", 0), ("max(X, 2)", 1),
                                         ("min(X, 1)", 0), ("logsumexp(X, 2)", 1)])
def test_the_parser_reads_a_reduction_along_a_dimension(text, axis):
    X = td.matrix("X", "n p")
    value = _value(X)
    numpy_function = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
                      "logsumexp": lambda a, axis: np.log(np.sum(np.exp(a), axis=axis))}[text.split("(")[0]]
    np.testing.assert_allclose(td.evaluate(td.parse(text), X=value), numpy_function(value, axis=axis), rtol=1e-12)


def test_size_reads_a_dim_of_a_symbol_and_bad_dimensions_are_parse_errors():
    X = td.matrix("X", "n p")   # X is alive: td.parse gives it these dims
    assert td.evaluate(td.parse("size(X, 1)*size(X, 2)"), X=np.ones((5, 3))) == 15
    for text, message in [("size(X)", "needs the dimension"), ("sum(X, 3)", "1 \\(the rows\\) or 2"),
                          ("mean(X, 0)", "1 \\(the rows\\) or 2")]:
        with pytest.raises(td.ParseError, match=message):
            td.parse(text)
    assert X.shape == ("n", "p")


def test_the_centred_gaussian_gradient_holds_the_size_of_a_dim():
    S, Z = td.matrix("S", "p p", symmetric=True), td.matrix("Z", "n p")
    values = _values_for(S, Z)
    f = -0.5 * td.trace(Z @ td.inv(S) @ Z.T) - 0.5 * td.sum(td.ones("n")) * td.logdet(S)
    gradient = td.grad(f, S)
    assert round_trip(gradient, values) == "0.5*inv(S)*Z'*Z*inv(S) - 0.5*size(Z, 1)*inv(S)"
    assert r"n S^{-1}" in td.latex(gradient)   # LaTeX writes the dim's name
    td.check(f, S, **values)


def test_weighted_least_squares_scales_columns_by_a_vector():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "n"), td.vector("y", "n")
    values = {"X": np.eye(5, 3) + 0.3 * RNG.standard_normal((5, 3)), "w": 1 + RNG.random(5), "y": RNG.standard_normal(5)}
    beta = td.inv(X.T @ td.diag(w) @ X) @ X.T @ td.diag(w) @ y
    text = round_trip(td.jacobian(beta, w), values)
    assert "diag(y)" in text and "X'*" in text, text


def test_the_jeffreys_prior_gradient_holds_the_diagonal_of_a_product():
    X, theta = td.matrix("X", "n p"), td.vector("theta", "p")
    values = {"X": np.eye(5, 3) + 0.3 * RNG.standard_normal((5, 3)), "theta": 0.3 * RNG.standard_normal(3)}
    s = td.sigmoid(X @ theta)
    prior = 0.5 * td.logdet(X.T @ td.diag(s * (1 - s)) @ X)
    text = round_trip(td.grad(prior, theta), values)
    assert text.startswith("t1 = sigmoid(X*theta)\n0.5*X'*(") and "diag(X*inv(" in text, text
    td.check(prior, theta, order=2, **values)


@pytest.mark.parametrize("build, printed", [
    (lambda u, a, X, b: (0.5 * u) ** (-1) * u, "vector(2, size(n))"),
    (lambda u, a, X, b: (u @ u) ** (-0.5), "1/norm2(u)"),
    (lambda u, a, X, b: td.grad(td.norm(u - a), u), "(u - a)/norm2(u - a)"),
    (lambda u, a, X, b: a @ X @ b, "a'*X*b"),
    (lambda u, a, X, b: b @ X.T @ a, "a'*X*b"),
    (lambda u, a, X, b: td.grad((u @ u) ** (1 / 3), u), "2/3*(u'*u)^(-2/3)*u"),
])
def test_constants_fold_and_scalars_print_as_written(build, printed):
    u, a, X, b = td.vector("u", "n"), td.vector("a", "n"), td.matrix("X", "n p"), td.vector("b", "p")
    values = _values_for(u, a, X, b)
    expr = build(u, a, X, b)
    text = td.matrix_notation(expr)
    assert text == printed
    round_trip(expr, values)


def test_the_logistic_regression_hessian_is_one_term():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    values = {"X": RNG.standard_normal((5, 3)), "w": 0.3 * RNG.standard_normal(3), "y": RNG.integers(0, 2, 5) * 1.0}
    s = td.sigmoid(X @ w)
    f = td.sum(y * td.log(s) + (1 - y) * td.log(1 - s))
    hessian = td.hessian(f, w)
    assert round_trip(hessian, values) == "t1 = sigmoid(X*w)\n-X'*diag((1 - t1) .* t1)*X"
    td.check(f, w, order=3, **values)


def test_collected_terms_keep_the_value_at_higher_orders():
    # c·A·B·u + d·A·B·v becomes A·B·(c·u + d·v): derivatives of such sums stay right
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    values = {"X": RNG.standard_normal((5, 3)), "w": 0.3 * RNG.standard_normal(3)}
    t = td.tanh(X @ w)
    f = td.sum(t * td.exp(X @ w)) + 2 * td.sum(t * (X @ w) ** 2) - td.sum(t)
    for order in (1, 2, 3):
        td.check(f, w, order=order, **values)


@pytest.mark.parametrize("build, printed", [
    (lambda A: td.det(td.inv(A)), "1/det(A)"),
    (lambda A: td.grad(td.det(td.inv(A)), A), "-inv(A)'/det(A)"),
    (lambda A: td.logdet(td.inv(A)), "-logdet(A)"),
    (lambda A: td.inv(td.inv(A)), "A"),
])
def test_textbook_short_matrix_functions(build, printed):
    A = td.matrix("A", "n n")
    values = {"A": 2 * np.eye(5) + 0.3 * RNG.standard_normal((5, 5))}
    assert round_trip(build(A), values) == printed
    assert td.inv(A).T @ A.T is td.eye("n")


def test_the_inverse_of_a_product_of_square_matrices_keeps_higher_derivatives_right():
    A, X, B = td.matrix("A", "n n"), td.matrix("X", "n n"), td.matrix("B", "n n")
    values = {name: 2 * np.eye(4) + 0.3 * RNG.standard_normal((4, 4)) for name in "AXB"}
    f = td.logdet(A @ X @ B) + td.trace(td.inv(A @ X @ B))
    np.testing.assert_allclose(td.evaluate(td.inv(A @ X @ B), **values),
                               np.linalg.inv(values["A"] @ values["X"] @ values["B"]), rtol=1e-10)
    for order in (1, 2):
        td.check(f, X, order=order, **values)


def test_named_subexpressions_read_back_and_bad_bindings_are_parse_errors():
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    e = td.parse("t = tanh(X*w); u = t .* t\nX'*(u - t)", X=X, w=w)
    assert e is td.parse("X'*(tanh(X*w) .* tanh(X*w) - tanh(X*w))", X=X, w=w)
    for text, message in [("t = X*w\nu = t", "last line"), ("t = X*w\nX'*t\nu = t", "lines first"), ("X*w\nt = w\nX'*t", "unexpected character '='"),
                          ("t = X*w\nt = w\nt", "named twice")]:
        with pytest.raises(td.ParseError, match=message):
            td.parse(text, X=X, w=w)


def test_short_or_single_calls_are_not_named():
    X = td.matrix("X", "n n")
    assert td.matrix_notation(td.grad(td.logdet(X) + td.trace(td.inv(X)), X)) == "inv(X)' - (inv(X)*inv(X))'"


def test_collecting_keeps_each_terms_own_coefficient():
    # exp·(16 sin + 16 cos) differentiated: three terms collect in two rounds into 32 cos·exp
    # (a collected term whose product carries its own coefficient, 16 cos·exp, once lost the 16)
    x = td.scalar("x")
    d = td.sin(x) * td.exp(x)
    for order in range(1, 13):
        d = td.diff(d, x)
        exact = 2 ** (order / 2) * np.sin(0.3 + order * np.pi / 4) * np.exp(0.3)
        assert float(td.evaluate(d, x=0.3)) == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_named_matrix_notation_of_random_derivatives_reads_back():
    # the selfcheck's generator: every result with a matrix form, names (t1 = ...) included, reads
    # back through td.parse to an equal value
    from tensordiff.randexpr import ExpressionGenerator
    checked = named = 0
    for seed in range(60):
        gen = ExpressionGenerator(5000 + seed)
        expr, _ = gen.gen(("a", "b"), depth=3)
        for e in [expr] + [td.grad(expr, gen.S[name]) for name in ("u", "N") if not expr.shape]:
            text = td.matrix_notation(e)
            if text.startswith("no matrix notation") or "hr" in text:   # hr: a user function with no numbers
                continue
            back = td.parse(text)
            if back.shape != e.shape or any(d not in ("a", "b") for d in back.shape):
                continue   # a result the notation leaves unsized (eye, vector(1) alone)
            values = {k: v for k, v in gen.V.items() if k in back.free or k in e.free}
            np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(e, **values), rtol=1e-9, atol=1e-9)
            checked += 1
            named += "\n" in text
    assert checked >= 20 and named >= 1, (checked, named)
