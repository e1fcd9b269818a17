"""The text parser: values against numpy and hand-built expressions, shape inference conventions,
the four seed questions typed as text, caret error messages, and hostile input.

Symbols parsed in one test stay alive until it ends (and a live symbol's dims are reused by
``parse``), so each case that infers dims runs as its own parametrized test.
"""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensordiff as td
from tensordiff.expr import Var, topological
from tensordiff.symboltable import symbol_with_dim
from tensordiff.parse import MAX_DEPTH, parse
from tensordiff.testing import random_values

SIZES = {"n": 5, "p": 3, "q": 4, "N": 7, "D": 3, "k": 2}


def symbols(expr):
    """{name: dims} of the symbols in ``expr``."""
    return {node.name: node.dims for node in topological([expr]) if isinstance(node, Var)}


def caret_column(message):
    """The column the caret points at, relative to the echoed text (both lines are indented by 2)."""
    lines = message.splitlines()
    assert lines[-1].strip() == "^", message
    return len(lines[-1]) - 3


def spd(rng, n):
    a = rng.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


# ---------------------------------------------------------------- inference and values

# text, the dims every symbol is inferred to have, result shape, numpy formula
INFERENCE = [
    ("X'*X + lam*eye", {"X": ("n", "p"), "lam": ()}, ("p", "p"),
     lambda v: v["X"].T @ v["X"] + v["lam"] * np.eye(3)),
    ("x'*A*x", {"x": ("n",), "A": ("n", "n")}, (), lambda v: v["x"] @ v["A"] @ v["x"]),
    ("x*y'", {"x": ("n",), "y": ("p",)}, ("n", "p"), lambda v: np.outer(v["x"], v["y"])),
    ("a'*b", {"a": ("n",), "b": ("n",)}, (), lambda v: v["a"] @ v["b"]),
    ("2*A .* B - A./B", {"A": ("n", "p"), "B": ("n", "p")}, ("n", "p"),
     lambda v: 2 * v["A"] * v["B"] - v["A"] / v["B"]),
    ("A.^2", {"A": ("n", "p")}, ("n", "p"), lambda v: v["A"] ** 2),
    ("diag(v)", {"v": ("n",)}, ("n", "n"), lambda v: np.diag(v["v"])),
    ("diag(A)", {"A": ("n", "n")}, ("n",), lambda v: np.diag(v["A"])),
    ("sum(A)", {"A": ("n", "p")}, (), lambda v: v["A"].sum()),
    ("tr(A)", {"A": ("n", "n")}, (), lambda v: np.trace(v["A"])),
    ("det(A)", {"A": ("n", "n")}, (), lambda v: np.linalg.det(v["A"])),
    ("logdet(A)", {"A": ("n", "n")}, (), lambda v: np.linalg.slogdet(v["A"])[1]),
    ("inv(A)*b", {"A": ("n", "n"), "b": ("n",)}, ("n",), lambda v: np.linalg.solve(v["A"], v["b"])),
    ("-x", {"x": ("n",)}, ("n",), lambda v: -v["x"]),   # nothing decides: h-z is a vector (matrixcalculus.org)
    ("-a", {"a": ()}, (), lambda v: -v["a"]),           # and a-g a scalar
    ("1e-3*X", {"X": ("n", "p")}, ("n", "p"), lambda v: 1e-3 * v["X"]),
    ("lam*w'*w", {"lam": (), "w": ("n",)}, (), lambda v: v["lam"] * v["w"] @ v["w"]),
    ("X*w - y", {"X": ("n", "p"), "w": ("p",), "y": ("n",)}, ("n",), lambda v: v["X"] @ v["w"] - v["y"]),
    ("A*x + c", {"A": ("n", "p"), "x": ("p",), "c": ("n",)}, ("n",), lambda v: v["A"] @ v["x"] + v["c"]),
    ("(x - mu)*(x - mu)'", {"x": ("n",), "mu": ("n",)}, ("n", "n"),
     lambda v: np.outer(v["x"] - v["mu"], v["x"] - v["mu"])),
    ("x'*A", {"x": ("n",), "A": ("n", "p")}, ("p",), lambda v: v["x"] @ v["A"]),
    ("A'*x", {"A": ("n", "p"), "x": ("n",)}, ("p",), lambda v: v["A"].T @ v["x"]),
    ("X*lam", {"X": ("n", "p"), "lam": ("p",)}, ("n",), lambda v: v["X"] @ v["lam"]),
    ("sum(log(1 + exp(-y.*(X*w))))", {"X": ("n", "p"), "w": ("p",), "y": ("n",)}, (),
     lambda v: np.log1p(np.exp(-v["y"] * (v["X"] @ v["w"]))).sum()),
    ("exp(-x'*x/s^2)", {"x": ("n",), "s": ()}, (), lambda v: np.exp(-v["x"] @ v["x"] / v["s"] ** 2)),
    ("norm2(x)", {"x": ("n",)}, (), lambda v: np.linalg.norm(v["x"])),
    ("norm2(A)^2 + sqrt(sum(A.^2))", {"A": ("n", "p")}, (),
     lambda v: np.sum(v["A"] ** 2) + np.linalg.norm(v["A"])),
    ("sigmoid(X*w) .* relu(y) ./ (1 + abs(y))", {"X": ("n", "p"), "w": ("p",), "y": ("n",)}, ("n",),
     lambda v: np.maximum(v["y"], 0) / (1 + np.abs(v["y"])) / (1 + np.exp(-v["X"] @ v["w"]))),
    ("sin(A)*cos(B)'", {"A": ("n", "p"), "B": ("q", "p")}, ("n", "q"), lambda v: np.sin(v["A"]) @ np.cos(v["B"]).T),
    ("tanh(x)/2 - x^2 + x^(-1)", {"x": ()}, (), lambda v: np.tanh(v["x"]) / 2 - v["x"] ** 2 + 1 / v["x"]),
    ("A - I + 0.5*eye", {"A": ("n", "n")}, ("n", "n"), lambda v: v["A"] - 0.5 * np.eye(5)),
    ("x.^2 ./ y + 2", {"x": ("n",), "y": ("n",)}, ("n",), lambda v: v["x"] ** 2 / v["y"] + 2),
    ("b.^2 ./ c + 2", {"b": (), "c": ()}, (), lambda v: v["b"] ** 2 / v["c"] + 2),
    ("x.^2 ./ y + sum(x)", {"x": ("n",), "y": ("n",)}, ("n",), lambda v: v["x"] ** 2 / v["y"] + v["x"].sum()),
    ("(A*B)'", {"A": ("n", "p"), "B": ("p", "q")}, ("q", "n"), lambda v: (v["A"] @ v["B"]).T),
    ("x*y'*A", {"x": ("n",), "y": ("p",), "A": ("p", "q")}, ("n", "q"), lambda v: np.outer(v["x"], v["y"]) @ v["A"]),
    ("--x'''", {"x": ("n",)}, ("n",), lambda v: v["x"]),
    ("inv(s) + det(s) + tr(s) + logdet(s)", {"s": ()}, (),
     lambda v: 1 / v["s"] + 2 * v["s"] + np.log(abs(v["s"]))),
]


@pytest.mark.parametrize("text, dims, shape, formula", INFERENCE, ids=[case[0] for case in INFERENCE])
def test_inference_and_value(text, dims, shape, formula):
    expr = parse(text)
    assert symbols(expr) == dims
    assert expr.shape == shape
    values = random_values([expr], SIZES, seed=1)
    np.testing.assert_allclose(td.evaluate(expr, values), formula(values), rtol=1e-10, atol=1e-12)


def test_parsed_expressions_equal_hand_built_ones():
    X, y, lam, A = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam"), td.matrix("A", "p p")
    pairs = [
        ("inv(X'*X + lam*eye)*X'*y", td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y),
        ("y'*X*A*X'*y", y @ X @ A @ X.T @ y),
        ("X*A - 2*X", X @ A - 2 * X),
        ("tanh(X).*X", td.tanh(X) * X),
        ("y*y'", td.outer(y, y)),
    ]
    values = random_values([X, y, lam, A], SIZES, seed=2)
    for text, built in pairs:
        parsed = parse(text)
        np.testing.assert_allclose(td.evaluate(parsed, values), td.evaluate(built, values), rtol=1e-12)


def test_a_parsed_symbol_is_the_hand_built_symbol():
    f = parse("tr(X'*A*X)", X="n p", A="n n")
    X = td.matrix("X", "n p")
    assert X in topological([f])
    rng = np.random.default_rng(3)
    Xv, Av = rng.standard_normal((5, 3)), rng.standard_normal((5, 5))
    np.testing.assert_allclose(td.evaluate(td.diff(f, X), X=Xv, A=Av), (Av + Av.T) @ Xv, rtol=1e-12)


# ---------------------------------------------------------------- conventions

def test_given_dims_override_the_conventions():
    assert symbols(parse("X*lam", lam="")) == {"X": ("n", "p"), "lam": ()}
    assert symbols(parse("N*x", N="", x="m")) == {"N": (), "x": ("m",)}
    assert parse("diag(s) + inv(s)", s="").shape == ()


def test_live_symbols_keep_their_dims():
    x = td.vector("x", "m")
    assert parse("2*x").shape == ("m",)
    assert symbols(parse("x'*A*x")) == {"x": ("m",), "A": ("m", "m")}
    del x


def test_fresh_dims_skip_given_and_symbol_names():
    assert symbols(parse("A*x", x="n")) == {"A": ("p", "n"), "x": ("n",)}
    assert symbols(parse("n*P*p")) == {"n": (), "P": ("q", "r"), "p": ("r",)}


def test_an_identity_nothing_sizes_gets_a_dim_no_symbol_has():
    # "2*eye" once took 'n', the dim of an unrelated live symbol, so evaluating with that
    # symbol's value silently gave an identity of its size
    B, c = td.matrix("B", "n q"), td.vector("c", "n")
    e = parse("2*eye")
    assert not set(e.shape) & {"n", "q"}
    with pytest.raises(td.EvaluationError, match="is unknown"):
        td.evaluate(e, B=np.ones((3, 4)), c=np.ones(3))
    assert parse("2*eye", eye="q").shape == ("q", "q")
    assert parse("B'*B + eye").shape == ("q", "q")
    del B, c


def test_declared_user_functions_and_their_derivatives_read_back():
    # matrix notation prints h'(X*W) for an abstract h; td.parse refused it, so the printed
    # gradient of seed 002 with an abstract h did not read back
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    h = td.elementwise("h_read")
    g = td.grad(td.norm(h(X @ W) @ a - y) ** 2, W)
    text = td.matrix_notation(g)
    assert "h_read'(X*W)" in text
    rng = np.random.default_rng(4)
    values = dict(X=rng.standard_normal((5, 3)), W=rng.standard_normal((3, 2)), a=rng.standard_normal(2),
                  y=rng.standard_normal(5))
    impl = {"h_read": [np.tanh, lambda v: 1 - np.tanh(v) ** 2]}
    np.testing.assert_allclose(td.evaluate(parse(text), functions=impl, **values),
                               td.evaluate(g, functions=impl, **values), rtol=1e-12)
    assert parse("h_read''(a)") is h.derivative_function().derivative_function()(a)
    assert parse("a'*a").shape == ()                    # a transpose is still a transpose
    with pytest.raises(td.ParseError, match="expected an operator"):
        parse("undeclared_fn'(a)")


def test_identity_takes_the_size_around_it_or_the_given_one():
    assert parse("X'*X + eye", X="N D").shape == ("D", "D")
    assert parse("x'*(A + I)*x", x="k").shape == ()
    alone = parse("2*I").shape           # a fresh dim that no symbol was declared with
    assert alone[0] == alone[1] and symbol_with_dim(alone[0]) is None
    assert parse("2*I", X="n p").shape[0] not in ("n", "p")  # fresh dims skip every given name
    assert parse("tanh(eye)", eye="m").shape == ("m", "m")
    assert parse("I + A", I="m m").shape == ("m", "m")
    with pytest.raises(td.ShapeError, match="the identity"):
        parse("A + I", I="m n")
    # eye= sizes only an identity its surroundings leave open: one text may hold both kinds
    assert parse("eye*X", eye="m", X="n p").shape == ("n", "p")
    A = td.matrix("A", "n n")
    text = td.matrix_notation(td.trace(A + td.eye("n")) * td.eye("p"))
    assert text == "tr(A + eye)*eye(size(p))" and parse(text).shape == ("p", "p")
    sizer = td.matrix("P_sizer", "p p")   # a symbol to give p its size at evaluation
    value = td.evaluate([parse(text, eye="p"), sizer], A=np.eye(2), P_sizer=np.zeros((3, 3)))[0]
    np.testing.assert_allclose(value, 4 * np.eye(3))


def test_caret_of_a_shape_error_is_at_the_operator():
    with pytest.raises(td.ShapeError) as info:
        parse("X*Y", X="n p", Y="q r")
    assert "'*' needs matching inner dims: X is (n, p) but Y is (q, r)" in str(info.value)
    assert caret_column(str(info.value)) == 1


# ---------------------------------------------------------------- the four seed questions, typed

def test_seed_000_ridge_weights_and_their_alpha_derivative():
    w_text = "inv(X'*X + alpha*eye)*X'*y"
    w = parse(w_text, X="N D")
    assert symbols(w) == {"X": ("N", "D"), "alpha": (), "y": ("N",)}
    F = parse(f"(y - X*{w_text})'*(y - X*{w_text}) + alpha*(({w_text})'*({w_text}) - c^2)", X="N D")
    assert F.shape == ()
    rng = np.random.default_rng(0)
    vals = dict(X=rng.standard_normal((12, 4)), y=rng.standard_normal(12), alpha=0.7, c=0.3)
    M = vals["X"].T @ vals["X"] + vals["alpha"] * np.eye(4)
    wv = np.linalg.solve(M, vals["X"].T @ vals["y"])
    np.testing.assert_allclose(td.evaluate(w, vals), wv, rtol=1e-10)
    alpha = td.scalar("alpha")
    np.testing.assert_allclose(td.evaluate(td.diff(w, alpha), vals), -np.linalg.solve(M, wv), rtol=1e-9)
    # dF/dalpha = ||w||^2 - c^2, since X'(Xw - y) + alpha w = 0 at w = w(alpha)
    np.testing.assert_allclose(td.evaluate(td.diff(F, alpha), vals), wv @ wv - 0.3 ** 2, rtol=1e-8)


def test_seed_001_tikhonov_jacobian():
    q = parse("inv(X'*X + lam*eye)*X'*y", X="n p")
    X = td.matrix("X", "n p")
    rng = np.random.default_rng(1)
    Xv, yv = rng.standard_normal((9, 4)), rng.standard_normal(9)
    Mi = np.linalg.inv(Xv.T @ Xv + 0.5 * np.eye(4))
    qv = Mi @ Xv.T @ yv
    closed = np.einsum("aj,i->aij", Mi, yv - Xv @ qv) - np.einsum("ai,j->aij", Mi @ Xv.T, qv)
    np.testing.assert_allclose(td.evaluate(td.diff(q, X), X=Xv, y=yv, lam=0.5), closed, atol=1e-12)


def test_seed_002_network_gradient_vector_and_matrix_versions():
    f = parse("norm2(tanh(X*W)*a - y)^2")
    assert symbols(f) == {"X": ("n", "p"), "W": ("p", "q"), "a": ("q",), "y": ("n",)}
    W = td.matrix("W", "p q")
    rng = np.random.default_rng(2)
    Xv, Wv, av, yv = (rng.standard_normal(s) for s in [(6, 3), (3, 4), 4, 6])
    H = np.tanh(Xv @ Wv)
    E = H @ av - yv
    closed = 2 * Xv.T @ ((1 - H ** 2) * np.outer(E, av))
    np.testing.assert_allclose(td.evaluate(td.grad(f, W), X=Xv, W=Wv, a=av, y=yv), closed, rtol=1e-10)
    assert td.check(f, W, X=Xv, W=Wv, a=av, y=yv).max_rel_error < 1e-6
    g = parse("norm2(tanh(X*W)*A - Y)^2")
    Av, Yv = rng.standard_normal((4, 2)), rng.standard_normal((6, 2))
    E = H @ Av - Yv
    closed = 2 * Xv.T @ ((1 - H ** 2) * (E @ Av.T))
    np.testing.assert_allclose(td.evaluate(td.grad(g, W), X=Xv, W=Wv, A=Av, Y=Yv), closed, rtol=1e-10)


def test_seed_003_logdet_and_trace_gradients():
    A = parse("logdet(W*W' + s^2*eye)", W="n k")
    L = parse("tr(Y'*(W*W' + s^2*eye)*Y)", W="n k")
    W = td.matrix("W", "n k")
    assert symbols(L) == {"Y": ("n", "p"), "W": ("n", "k"), "s": ()}
    rng = np.random.default_rng(3)
    Wv, Yv, s = rng.standard_normal((5, 2)), rng.standard_normal((5, 3)), 0.8
    C = Wv @ Wv.T + s ** 2 * np.eye(5)
    np.testing.assert_allclose(td.evaluate(A, W=Wv, s=s), np.linalg.slogdet(C)[1], rtol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.grad(A, W), W=Wv, s=s), 2 * np.linalg.solve(C, Wv), rtol=1e-10)
    np.testing.assert_allclose(td.evaluate(td.grad(L, W), W=Wv, Y=Yv, s=s), 2 * Yv @ Yv.T @ Wv, rtol=1e-10)
    assert td.check(A, W, W=Wv, s=s).max_rel_error < 1e-6


@pytest.mark.parametrize("text, wrt, dims", [
    ("logdet(W*W' + s^2*eye)", "W", {"W": "n k"}),
    ("x'*A*x", "x", {"A": "n n"}),
    ("inv(X'*X + lam*eye)*X'*y", "lam", {"X": "n p"}),
    ("tr(Y'*(W*W' + s^2*eye)*Y)", "W", {"W": "n k"}),
])
def test_printed_derivatives_parse_back(text, wrt, dims):
    f = parse(text, **dims)
    d = td.diff(f, next(n for n in topological([f]) if isinstance(n, Var) and n.name == wrt))
    printed = td.matrix_notation(d)
    again = parse(printed, **{name: " ".join(shape) for name, shape in symbols(f).items()})
    values = random_values([f], SIZES, seed=4)
    np.testing.assert_allclose(td.evaluate(again, values), td.evaluate(d, values), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- errors

# text, dims, error, message fragment, caret column
ERRORS = [
    ("(X", {}, td.ParseError, "unclosed '('", 0),
    ("((X)", {}, td.ParseError, "unclosed '('", 0),
    ("X)", {}, td.ParseError, "unmatched ')'", 1),
    ("()", {}, td.ParseError, "expected an operand, got ')'", 1),
    ("foo(X)", {}, td.ParseError, "unknown function 'foo'", 0),
    ("2*eye(3)", {}, td.ParseError, "eye(size(X, d)) takes its size as size(X, d), got '3'", 6),
    ("tr(X, Y)", {}, td.ParseError, "tr() takes one argument", 4),
    ("tr X", {}, td.ParseError, "function 'tr' needs parentheses", 0),
    ("A + exp", {}, td.ParseError, "function 'exp' needs parentheses", 4),
    ("X +", {}, td.ParseError, "expected an operand after '+', got the end", 3),
    ("X*(Y -", {}, td.ParseError, "expected an operand after '-'", 6),
    ("X +* Y", {}, td.ParseError, "expected an operand, got '*'", 3),
    ("X Y", {}, td.ParseError, "expected an operator, got 'Y'", 2),
    ("", {}, td.ParseError, "empty expression", 0),
    ("  \n ", {}, td.ParseError, "empty expression", 1),
    ("Xᵀ*X", {}, td.ParseError, "unexpected character 'ᵀ'; write ' for a transpose", 1),
    ("α*X", {}, td.ParseError, "write alpha", 0),
    ("X @ Y", {}, td.ParseError, "unexpected character '@'", 2),
    ("x + \x00", {}, td.ParseError, "unexpected character '\\x00'", 4),
    ("1.2.3*X", {}, td.ParseError, "bad number '1.2.3'", 0),
    ("X + 1e", {}, td.ParseError, "bad number '1e'", 4),
    ("2x", {}, td.ParseError, "a product needs '*'", 0),
    ("1e999*X", {}, td.ParseError, "bad number", 0),
    ("x^A", {}, td.ShapeError, "'^' takes a scalar exponent", 1),
    ("(-2)^x", {}, td.ParseError, "positive base", 4),
    ("1/0", {}, td.ParseError, "the constant 1/0 is inf", 1),            # found by the text fuzzer in CI
    ("x + 0/0", {}, td.ParseError, "the constant 1/0 is inf", 5),
    ("X*log(0)", {}, td.ParseError, "the constant log(0) is -inf", 2),
    ("2^2000", {}, td.ParseError, "the constant 2^2000 is inf", 1),
    ("1e300*1e300*x", {}, td.ParseError, "is inf", 5),
    ("x.^(2", {}, td.ParseError, "unclosed '('", 3),
    ("X*Y", {"X": "n p", "Y": "q r"}, td.ShapeError, "inner dims", 1),
    ("x*y", {"x": "n", "y": "n"}, td.ShapeError, "write x'*y for an inner product", 1),
    ("X + y", {"X": "n p", "y": "n"}, td.ShapeError, "'+' needs operands of one shape", 2),
    ("A .* B", {"A": "n p", "B": "p n"}, td.ShapeError, "'.*' needs operands of one shape", 2),
    ("tr(x)", {"x": "n"}, td.ShapeError, "tr needs a square matrix, but x is (n, 1)", 0),
    ("inv(X)", {"X": "n p"}, td.ShapeError, "inv needs a square matrix", 0),
    ("diag(X)", {"X": "n p"}, td.ShapeError, "diag needs a vector or a square matrix", 0),
    ("2 + A^2", {}, td.ShapeError, "'^' raises a scalar", 5),
    ("x/X", {}, td.ShapeError, "'/' divides by a scalar", 1),
    ("T + 1", {"T": "a b c"}, td.ShapeError, "parse reads scalars, vectors and matrices", 0),
]


@pytest.mark.parametrize("text, dims, error, fragment, column", ERRORS, ids=[repr(e[0]) for e in ERRORS])
def test_error_message_and_caret(text, dims, error, fragment, column):
    with pytest.raises(error) as info:
        parse(text, **dims)
    message = str(info.value)
    assert fragment in message
    assert caret_column(message) == column


def test_unknown_function_lists_the_functions():
    with pytest.raises(td.ParseError) as info:
        parse("foo(X)")
    assert str(info.value).splitlines()[1:] == ["  foo(X)", "  ^"]
    assert "logdet" in str(info.value) and "norm2" in str(info.value)


def test_caret_on_the_right_line_and_window():
    with pytest.raises(td.ParseError) as info:
        parse("A +\n  * B")
    assert str(info.value).splitlines()[1:] == ["    * B", "    ^"]
    with pytest.raises(td.ParseError) as info:
        parse("+".join(["x"] * 5000) + "+")
    message = str(info.value)
    assert len(message) < 300 and message.splitlines()[1].endswith("x+")
    assert caret_column(message) == len(message.splitlines()[1]) - 2


def test_other_bad_input():
    with pytest.raises(td.ParseError):
        parse(None)
    with pytest.raises(td.ShapeError):
        parse("X", X=5)
    X = td.matrix("X", "n p")
    assert parse("2*X", X="a b").shape == ("a", "b")   # given dims win over a live symbol: a new X
    assert parse("2*X").shape == ("n", "p")            # that one is gone: the live X
    del X


# ---------------------------------------------------------------- hostile input: fast, and only our errors

def test_deep_nesting_is_a_parse_error_not_a_recursion_error():
    for text in ["(" * 5000 + "x" + ")" * 5000, "exp(" * 5000 + "x" + ")" * 5000, "(" * 5000]:
        with pytest.raises(td.ParseError, match="nested more than"):
            parse(text)
    assert parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH).shape == ()


def test_long_input_parses():   # its time is measured in benchmarks/scaling.py, not asserted here
    total = parse("+".join(["a"] * 10000))
    assert td.evaluate(total, a=0.5) == pytest.approx(5000.0)
    assert parse("-" * 10001 + "a").shape == ()
    assert parse("z" + "'" * 10001).shape == ("n",)  # x is alive, a scalar: z is free
    assert parse("+".join(f"x{k}" for k in range(3000)) + " + A*x0").shape == ("n",)
    assert parse("x" + "^1" * 5000).shape == ()


TOKENS = ["X", "Y", "x", "y", "lam", "2", "0.5", "1e-3", "eye", "I", "+", "-", "*", ".*", "./", "/", "^", ".^",
          "'", "(", ")", "(", ")", "tr(", "inv(", "diag(", "sum(", "norm2(", "exp(", "foo(", ",", " ", "ᵀ", "1.2.3"]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=14))
def test_token_soup_gives_an_expression_or_our_error(tokens):
    try:
        result = parse("".join(tokens))
    except (td.ParseError, td.ShapeError) as exc:  # nothing else: no other error, no RecursionError
        assert str(exc).splitlines()[-1].strip() == "^"  # every error points into the text
    else:
        assert isinstance(result, td.Expr)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=20))
def test_any_text_gives_an_expression_or_our_error(text):
    try:
        parse(text)
    except (td.ParseError, td.ShapeError):
        pass
