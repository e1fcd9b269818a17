"""Issue 12's remaining items, with its exact API: comparisons in the parser and their matrix
notation, a dim's size passed by name, the selfcheck's finite differences (rounding noise and
branches of maximum/where/kinks), and spot checks of the issue's contract against finite
differences, scipy and jax."""

import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.kinks import branch_points, crosses_kink
from tensordiff.selfcheck import CheckFailure, Example, check_example, confirm_by_differences

RNG = np.random.default_rng(1212)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


# ---------------------------------------------------------------- a dim's size passed by name

def test_an_identity_that_nothing_sizes_takes_its_size_by_dim_name():
    assert np.array_equal(td.evaluate(td.parse("eye", eye="n"), n=4), np.eye(4))
    assert np.array_equal(td.evaluate(td.eye("n"), {"n": np.int64(2)}), np.eye(2))
    A = td.matrix("A", "n n")
    # trace(eye(m)) is the constant size(m), a term no evaluation step holds: its dim still counts
    assert td.evaluate(td.trace(A) + td.trace(td.eye("m")), A=np.eye(2), m=3) == 5.0
    with pytest.raises(td.EvaluationError, match="size of dim\\(s\\) 'm' is unknown"):
        td.evaluate(td.trace(A) + td.trace(td.eye("m")), A=np.eye(2))


@pytest.mark.parametrize("size", [2.5, True, -1, "3"])
def test_a_dim_size_that_is_no_int_is_refused_naming_the_dim(size):
    # a dim name no other test declares as a symbol: which symbols are alive depends on what ran before
    with pytest.raises(td.EvaluationError, match="size of dim 'eye_rows' must be an int"):
        td.evaluate(td.eye("eye_rows"), eye_rows=size)


def test_a_float_for_a_dim_named_as_a_live_symbol_says_it_was_taken_as_that_symbols_value():
    n = td.scalar("n")
    with pytest.raises(td.EvaluationError, match="'n' was taken as the value of a symbol of that name"):
        td.evaluate(td.eye("n"), n=2.5)
    assert np.array_equal(td.evaluate(td.eye("n"), n=2), np.eye(2))
    del n


def test_a_dim_size_that_contradicts_a_value_is_a_shape_error():
    A = td.matrix("A", "n n")
    with pytest.raises(td.ShapeError, match="dim 'n' is given as 3 but is 2 in axis 0 of 'A'"):
        td.evaluate(A + td.eye("n"), A=np.eye(2), n=3)
    assert np.array_equal(td.evaluate(A + td.eye("n"), A=np.eye(2), n=2), 2 * np.eye(2))


# ---------------------------------------------------------------- comparisons in the parser

VALUES = dict(x=RNG.standard_normal(4), y=RNG.standard_normal(4), A=RNG.standard_normal((3, 3)),
              B=RNG.standard_normal((3, 3)), X=RNG.standard_normal((3, 2)), b=RNG.standard_normal(2), s=0.3)

COMPARISONS = [   # text, numpy reference
    ("where(x > 0, x, 0)", lambda v: np.where(v["x"] > 0, v["x"], 0.0)),
    ("x <= y", lambda v: (v["x"] <= v["y"]).astype(float)),
    ("where(x >= y, x, y)", lambda v: np.where(v["x"] >= v["y"], v["x"], v["y"])),
    ("(A >= B) .* A", lambda v: (v["A"] >= v["B"]) * v["A"]),
    ("x + 1 > y", lambda v: (v["x"] + 1 > v["y"]).astype(float)),
    ("where(X > 0, log(X), 0)", lambda v: np.where(v["X"] > 0, np.log(np.abs(v["X"])), 0.0)),
    ("where(X > s, X, s)", lambda v: np.where(v["X"] > v["s"], v["X"], v["s"])),
    ("sum((x > 0) .* x)", lambda v: np.sum((v["x"] > 0) * v["x"])),
    ("maximum(X, b') .* (X < 0.5)", lambda v: np.maximum(v["X"], v["b"]) * (v["X"] < 0.5)),
    ("where(x < -0.25, -x, x.^2)", lambda v: np.where(v["x"] < -0.25, -v["x"], v["x"] ** 2)),
    ("(x > 0)'*y", lambda v: (v["x"] > 0) @ v["y"]),
    ("a < c", lambda v: float(0.1 < 0.7)),
]


@pytest.mark.parametrize("text, reference", COMPARISONS, ids=[t for t, _ in COMPARISONS])
def test_comparisons_parse_evaluate_and_read_back_from_the_printers(text, reference):
    values = {**VALUES, "a": 0.1, "c": 0.7}
    e = td.parse(text)
    with np.errstate(invalid="ignore"):
        assert np.allclose(td.evaluate(e, {k: values[k] for k in e.free}), reference(values))
    printed = td.matrix_notation(e)
    assert not printed.startswith("no matrix notation"), printed
    assert td.parse(printed) is e, printed     # the same interned expression
    assert td.latex(e)                         # the LaTeX printer reads the matrix notation too


def test_a_comparison_binds_loosest_and_chains_left_to_right():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    assert td.parse("x + 1 > y .* 2") is (x + 1 > y * 2)
    assert td.parse("x < y <= 0.5") is ((x < y) <= 0.5)
    assert td.parse("where(x > 0, x, 0)") is td.where(x > 0, x, 0)


def test_where_of_a_parsed_comparison_differentiates_through_the_chosen_branch():
    f = td.parse("sum(where(x > 0, x.^2, -x))")
    x = td.vector("x", "n")
    v = np.array([0.7, -0.4, 1.3, -2.0])
    assert np.allclose(td.evaluate(td.grad(f, x), x=v), np.where(v > 0, 2 * v, -1.0))
    assert np.allclose(td.evaluate(td.hessian(f, x), x=v), np.diag(np.where(v > 0, 2.0, 0.0)))


@pytest.mark.parametrize("text, error, message", [
    ("x >", td.ParseError, "expected an operand after '>', got the end"),
    ("x > X", td.ShapeError, "'>' needs operands of one shape"),
    ("where(x > 0, x)", td.ParseError, "where\\(\\) takes 3 arguments, got 2"),
    ("x => 0", td.ParseError, "unexpected character '='"),
    ("x = 0", td.ParseError, "unexpected character '='"),
])
def test_bad_comparisons_are_clear_errors(text, error, message):
    with pytest.raises(error, match=message):
        td.parse(text, x="n", X="n p")


def test_random_masks_read_back_from_matrix_notation():
    """where/maximum/comparisons over random operands (scalars and rows spread): what the matrix
    notation writes evaluates equal once parsed."""
    X, Y, b, s = td.matrix("X", "n p"), td.matrix("Y", "n p"), td.vector("b", "p"), td.scalar("s")
    values = dict(X=RNG.standard_normal((3, 2)), Y=RNG.standard_normal((3, 2)), b=RNG.standard_normal(2), s=0.2)
    operands = [X, Y, td.exp(X), b, s, X @ td.matrix("W", "p p"), -1.5]
    values["W"] = RNG.standard_normal((2, 2))
    checked = 0
    for _ in range(60):
        a, c, m = (operands[RNG.integers(len(operands))] for _ in range(3))
        kind = RNG.integers(4)
        try:
            e = [lambda: td.where(m > c, a, c), lambda: td.maximum(a, c), lambda: (a <= c) * X,
                 lambda: td.minimum(m, td.where(a >= 0, a, c))][kind]()
        except td.ShapeError:
            continue
        except td.TensorDiffError as error:   # where(-1.5 >= 0, ...): a bool mask is refused, as x == y gives one
            compared = (m, c) if kind == 0 else (a,)
            assert "the mask is the bool" in str(error) and not any(isinstance(v, td.Expr) for v in compared), error
            continue
        text = td.matrix_notation(e)
        if text.startswith("no matrix notation"):
            continue
        parsed = td.parse(text, symbols=[X, Y, b, s, td.matrix("W", "p p")])
        want = td.evaluate(e, values)   # every value: s*matrix(1) has dims that only X sizes
        # vector(1)*b' (b spread over rows) is sized where it is used: its rows are the result's
        unsized = {d: size for d, size in zip(parsed.shape, np.shape(want)) if d not in ("n", "p")}
        assert np.allclose(td.evaluate(parsed, values, **unsized), want), text
        checked += 1
    assert checked > 30


# ---------------------------------------------------------------- finite differences the selfcheck can trust

@pytest.mark.parametrize("build, near, far", [
    (lambda x: td.abs(x), [1.0, 3e-7], [1.0, 1e-3]),
    (lambda x: td.maximum(x, 0.5), [0.5 + 2e-7, -1.0], [0.6, -1.0]),
    (lambda x: td.where(x > 0, x, 2 * x), [-4e-7, 1.0], [-0.1, 1.0]),
    (lambda x: td.max(x), [1.0, 1.0 + 5e-7], [1.0, 2.0]),
    (lambda x: td.min(x) * td.step(x), [0.3, 0.3 - 1e-7], [0.3, 0.8]),
    (lambda x: x * (x <= 0.25), [0.25 - 1e-7, 0.0], [0.2, 0.0]),
])
def test_a_step_across_a_branch_is_detected(build, near, far):
    x = td.vector("x", "n")
    e = build(x)
    assert branch_points([e])
    assert crosses_kink([e], x, {"x": np.array(near)}, 1e-6)
    assert not crosses_kink([e], x, {"x": np.array(near)}, 1e-9)
    assert not crosses_kink([e], x, {"x": np.array(far)}, 1e-6)


def test_a_tie_made_by_rounding_is_no_branch():
    x = td.vector("x", "n")
    e = td.maximum(2 * x, x + x)   # equal everywhere: no step leaves the tie
    assert not crosses_kink([e], x, {"x": np.array([0.3, -1.1])}, 1e-4)


class _Toy:
    """The parts of a selfcheck example that confirm_by_differences reads: |x| and its twin."""

    def __init__(self, value):
        x = td.scalar("x")
        self.S, self.V, self.expr = {"x": x}, {"x": value}, td.abs(x)
        self.twin = lambda V: np.abs(V["x"])


def test_differences_confirm_a_derivative_near_a_kink_with_a_step_on_one_branch():
    # 5e-7 from the kink: the check's step 1e-6 crosses it (its quotient is 0.5), 1e-7 does not
    assert confirm_by_differences(_Toy(5e-7), 1.0, "x", None, "d/dx", differenced=5e-7) is True
    with pytest.raises(CheckFailure):
        confirm_by_differences(_Toy(5e-7), -1.0, "x", None, "d/dx", differenced=5e-7)   # a wrong derivative
    # closer than any step: no difference can confirm or refute it, so the comparison does not apply
    assert confirm_by_differences(_Toy(3e-8), 1.0, "x", None, "d/dx", differenced=3e-8) is None


def test_rounding_noise_of_a_function_zero_up_to_rounding_is_no_failure():
    """Seed 4093: softmax along an axis on which its argument is constant (maximum(2/(1+r²), N²)
    takes its first operand everywhere) makes the expression constant in r; its second derivative
    is rounding noise (~1e-14), whose difference quotient at step 1e-6 is ~1e-8."""
    ex = Example(4093, reshaping=False)
    third = ex.evaluate(ex.d("r", "r", "r"))
    assert confirm_by_differences(ex, third, "r", ex.d("r", "r"), "d³/dr³", ex.evaluate(ex.d("r", "r")))
    with pytest.raises(CheckFailure):   # a derivative wrong by 1e-6 is still caught
        confirm_by_differences(ex, third + 1e-6, "r", ex.d("r", "r"), "d³/dr³", ex.evaluate(ex.d("r", "r")))


def test_the_selfcheck_examples_that_failed_pass():
    results, _ = check_example(4093, reshaping=False, max_order=3, properties=["d1 vs FD", "d2 vs FD", "d3 vs FD"])
    assert not any(results.values()), results
    # seed 1265: a third derivative multiplied out into ~1,500 terms; planning left it unpriced
    results, _ = check_example(1265, reshaping=False, max_order=3, properties=["d3 vs FD"])
    assert results["d3 vs FD"] is None, results


# ---------------------------------------------------------------- the issue's contract, spot checks

def test_step_and_stop_gradient_are_in_the_api():
    x = td.vector("x", "n")
    v = np.array([0.5, -1.0, 2.0])
    assert np.array_equal(td.evaluate(td.step(x), x=v), (v > 0).astype(float))
    assert np.array_equal(td.evaluate(td.diff(td.step(x), x), x=v), np.zeros((3, 3)))
    assert np.array_equal(td.evaluate(td.stop_gradient(x), x=v), v)
    # d/dx [sg(x) * x] = sg(x) δ: x's value, no derivative through sg
    assert np.allclose(td.evaluate(td.diff(td.stop_gradient(x) * x, x), x=v), np.diag(v))
    assert np.allclose(td.evaluate(td.diff(td.stop_gradient(x) * x, x, 2), x=v), 0.0)


@pytest.mark.parametrize("name, order", [("lgamma", 1), ("lgamma", 2), ("lgamma", 3), ("digamma", 1),
                                         ("digamma", 2), ("digamma", 3)])
def test_lgamma_and_digamma_derivatives_are_polygamma(name, order):
    special = pytest.importorskip("scipy.special")
    x = td.vector("x", "n")
    v = np.array([0.7, 1.9, 4.2])
    f = getattr(td, name)(x)
    derivative = td.diff(f, x, order)
    diagonal = td.evaluate(derivative, x=v)[(np.arange(3),) * (order + 1)]
    n = order - 1 if name == "lgamma" else order   # lgamma' = digamma = polygamma(0, .)
    assert np.allclose(diagonal, special.polygamma(n, v), rtol=1e-10)
    assert td.check(td.sum(f), x, order=order, x=v).max_rel_error < 1e-6


def test_norm_with_ord():
    x, X = td.vector("x", "n"), td.matrix("X", "n p")
    v, M = np.array([1.0, -2.0, 0.5]), RNG.standard_normal((3, 2))
    assert np.isclose(td.evaluate(td.norm(x, ord=1), x=v), 3.5)
    assert np.isclose(td.evaluate(td.norm(x), x=v), np.linalg.norm(v))
    assert np.isclose(td.evaluate(td.norm(X, ord=2), X=M), np.linalg.norm(M, "fro"))   # Frobenius for a matrix
    assert np.allclose(td.evaluate(td.grad(td.norm(x, ord=1), x), x=v), np.sign(v))
    assert td.parse("norm1(x)") is td.norm(x, ord=1)
    with pytest.raises(td.TensorDiffError, match="ord must be 2 .* or 1"):
        td.norm(x, ord=3)


def test_all_ones_and_the_kind_convention_in_the_parser():
    assert np.isclose(td.evaluate(td.parse("vector(1)'*x"), x=np.array([1.0, 2.0, 4.0])), 7.0)
    assert np.isclose(td.evaluate(td.parse("sum(matrix(1) .* X)"), X=np.ones((2, 3))), 6.0)
    assert np.isclose(td.evaluate(td.parse("x'*X*vector(1)"), x=np.ones(2), X=np.ones((2, 3))), 6.0)
    for text, kinds in [("a*x + B*z", {"a": 0, "x": 1, "B": 2, "z": 1}), ("g + h'*h", {"g": 0, "h": 1}),
                        ("c*Q", {"c": 0, "Q": 2}), ("lam*w'*w", {"lam": 0, "w": 1})]:
        e = td.parse(text)
        ndims = {node.name: node.ndim for node in td.expr.topological([e]) if isinstance(node, td.expr.Var)}
        assert ndims == kinds, text


def test_the_cli_declares_symmetric_matrices_and_prints_the_dims_it_inferred():
    run = lambda *argv: subprocess.run([sys.executable, "-m", "tensordiff", *argv],  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    out = run("x'*S*x", "--wrt", "S", "--symmetric", "S")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "# x: (n), S: (n, n) symmetric"
    out = run("norm2(X*w - y)^2 + alpha*w'*w", "--wrt", "w")
    assert out.stdout.splitlines()[0] == "# X: (n, p), w: (p), y: (n), alpha: scalar"
    out = run("x'*S*x", "--wrt", "x", "--symmetric", "S")
    assert out.stdout.splitlines()[1] == "2*S*x"


def test_symmetric_symbols_evaluate_and_check_as_the_issue_says():
    S = td.matrix("S", "n n", symmetric=True)
    with pytest.raises(td.EvaluationError, match="symmetric symbol 'S'"):
        td.evaluate(S, S=np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(td.ShapeError, match="symmetric symbol 'T'"):
        td.matrix("T", "n m", symmetric=True)
    f = td.sum(td.inv(S + 3 * td.eye("n")) @ td.cholesky(S @ S + td.eye("n")))
    result = td.check(f, S)   # perturbed symmetrically: the differences are sym(G), symmetric
    assert result.max_rel_error < 1e-6
    assert np.allclose(result.numeric, result.numeric.T) and np.allclose(result.symbolic, result.symbolic.T)
    assert td.check(f, S, order=2).max_rel_error < 1e-6


def test_hessian_of_a_list_nests_tuples_as_jax_hessian_does():
    jax, jnp = _jax()
    x, y = td.vector("x", "n"), td.vector("y", "m")
    f = td.sum(td.tanh(x)) * (y @ y) + td.logsumexp(x) * td.sum(y)
    vx, vy = RNG.standard_normal(3), RNG.standard_normal(2)
    blocks = td.hessian(f, [x, y])
    assert type(blocks) is tuple and all(type(row) is tuple and len(row) == 2 for row in blocks)
    want = jax.hessian(lambda a, b: jnp.sum(jnp.tanh(a)) * (b @ b) + jax.nn.logsumexp(a) * jnp.sum(b),
                       argnums=(0, 1))(vx, vy)
    for row, want_row in zip(blocks, want):
        for block, want_block in zip(row, want_row):
            assert np.allclose(td.evaluate(block, x=vx, y=vy), want_block)


def test_logsumexp_of_large_entries_is_finite_and_exact_at_orders_1_to_3():
    v = td.vector("v", "n")
    values = np.array([0.3, -1.2, 2.0, 0.9])
    for order in (1, 2, 3):
        shifted = td.evaluate(td.diff(td.logsumexp(1000 + v), v, order), v=values)
        plain = td.evaluate(td.diff(td.logsumexp(v), v, order), v=values)   # shift-invariant
        assert np.all(np.isfinite(shifted)) and np.allclose(shifted, plain, atol=1e-12)
    assert np.isclose(td.evaluate(td.logsumexp(1000 + v), v=values), 1000 + np.log(np.sum(np.exp(values))))


def test_ties_split_the_derivative_equally_as_jax_does():
    jax, jnp = _jax()
    x, y = td.vector("x", "n"), td.vector("y", "n")
    vx, vy = np.array([1.0, 2.0, 2.0, -1.0]), np.array([1.0, 0.0, 2.0, 3.0])
    assert np.allclose(td.evaluate(td.grad(td.max(x), x), x=vx), jax.grad(jnp.max)(vx))
    assert np.allclose(td.evaluate(td.grad(td.min(-x), x), x=vx), jax.grad(lambda a: jnp.min(-a))(vx))
    pair = lambda a, b: jnp.sum(jnp.maximum(a, b))  # noqa: E731
    assert np.allclose(td.evaluate(td.grad(td.sum(td.maximum(x, y)), x), x=vx, y=vy), jax.grad(pair)(vx, vy))
    assert np.allclose(td.evaluate(td.grad(td.sum(td.maximum(x, y)), y), x=vx, y=vy), jax.grad(pair, 1)(vx, vy))
    X = td.matrix("X", "n p")
    vX = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 2.0]])
    got = td.evaluate(td.grad(td.sum(td.max(X, axis=1) ** 2), X), X=vX)
    assert np.allclose(got, jax.grad(lambda a: jnp.sum(jnp.max(a, axis=1) ** 2))(vX))


def test_bad_input_names_the_operand():
    X, v = td.matrix("X", "n p"), td.vector("v", "n")
    with pytest.raises(td.ShapeError, match="axis 2 does not exist .* X"):
        td.max(X, axis=2)
    with pytest.raises(td.ShapeError, match="axis -2 does not exist"):
        td.softmax(v, axis=-2)
    A = td.matrix("A", "n n")
    with pytest.raises(td.EvaluationError, match="cholesky of a matrix that is not positive definite: A"):
        td.evaluate(td.cholesky(A), A=-np.eye(2))


def test_a_third_derivative_is_not_taken_of_a_second_that_multiplied_out(monkeypatch):
    """Seed 1292: the second derivative along w had 646 nodes, its third ~46,000 (minutes to
    derive); the selfcheck takes third derivatives of second ones of at most MAX_THIRD_ORDER_BASE
    nodes. (Since terms equal up to a transpose collect, that second derivative is smaller.)"""
    from tensordiff import selfcheck
    from tensordiff.expr import topological
    ex = Example(1292, reshaping=False)
    nodes = len(topological([ex.d("w", "w")]))
    assert ex.small == ["w"]
    assert ex.third == (["w"] if nodes <= selfcheck.MAX_THIRD_ORDER_BASE else [])
    monkeypatch.setattr(selfcheck, "MAX_THIRD_ORDER_BASE", nodes - 1)
    assert ex.third == []
    assert Example(4093, reshaping=False).third == ["r"]


def test_a_value_for_a_symbol_named_like_a_dim_is_no_size():
    # the selfcheck passes every symbol's value; a parsed identity may have a dim named as a symbol
    r = td.scalar("r")
    trace = td.trace(td.parse("eye", eye="r"))
    assert td.evaluate(trace, r=3) == 3.0                       # an int: the dim's size
    with pytest.raises(td.EvaluationError, match="'r' is unknown"):
        td.evaluate(trace, r=0.5)                               # a float: the value of the symbol r
    del r


def test_a_mask_of_scalars_spread_over_a_matrix_stays_a_matrix_in_matrix_notation():
    # selfcheck seed 20786: where(q > 0, q, 0) spread over (a, b) printed as a scalar, and a matrix
    # product with it read back as a scaling (tr of a non-square matrix)
    q, N = td.scalar("q"), td.matrix("N", "a b")
    values = {"q": 0.7, "N": RNG.standard_normal((3, 2))}
    for spread in (td.where(td.broadcast_to(q, ("a", "b")) > 0, q, 0), td.where(q > 0, td.broadcast_to(q, ("a", "b")), 0)):
        e = td.trace(spread @ N.T)
        text = td.matrix_notation(e)
        assert "matrix(1, size(N, 1), size(N, 2))" in text, text
        assert np.isclose(td.evaluate(td.parse(text, symbols=[q, N]), values), td.evaluate(e, values)), text
