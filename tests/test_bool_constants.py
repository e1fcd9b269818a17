"""Bool constants are 1 and 0 in expressions, as numpy and jax count them (X * True == X * 1), in
Python operators and in td.parse's text alike; a bool where a size, order or index is wanted
stays a clear error."""

import numpy as np
import pytest

import tensordiff as td


def _values(rng):
    return {"X": rng.standard_normal((3, 2)), "x": rng.standard_normal(3)}


@pytest.mark.parametrize("build, numpy", [
    (lambda X, x: X * True, lambda X, x: X * True),
    (lambda X, x: True * X + False, lambda X, x: True * X + False),
    (lambda X, x: X * np.bool_(False) + X, lambda X, x: X * np.bool_(False) + X),
    (lambda X, x: X / np.array(True), lambda X, x: X / np.array(True)),
    (lambda X, x: x ** True, lambda X, x: x ** True),
    (lambda X, x: td.maximum(x, False), lambda X, x: np.maximum(x, False)),
    (lambda X, x: td.where(x > 0, x, True), lambda X, x: np.where(x > 0, x, True)),
    (lambda X, x: td.sum(td.exp(x * True) - False), lambda X, x: np.sum(np.exp(x * True) - False)),
])
def test_python_bools_are_numbers_in_expressions(build, numpy):
    X, x = td.matrix("X", "n p"), td.vector("x", "n")
    values = _values(np.random.default_rng(3))
    expr = build(X, x)
    np.testing.assert_allclose(td.evaluate(expr, **values), numpy(values["X"], values["x"]), rtol=1e-14)


def test_a_bool_factor_differentiates_as_its_number():
    x = td.vector("x", "n")
    values = {"x": np.random.default_rng(5).standard_normal(3)}
    f = td.sum(td.sin(x) * True) + False * td.sum(x)
    td.check(f, x, order=2, **values)
    np.testing.assert_allclose(td.evaluate(td.grad(f, x), **values), np.cos(values["x"]), rtol=1e-14)


@pytest.mark.parametrize("text, numpy", [
    ("X*True", lambda v: v["X"]),
    ("True*X + False", lambda v: v["X"]),
    ("X*False + X", lambda v: v["X"]),
    ("where(x > 0, x, False)", lambda v: np.where(v["x"] > 0, v["x"], 0.0)),
    ("x.^True - 2*True*x", lambda v: -v["x"]),
])
def test_parse_reads_true_and_false_as_one_and_zero(text, numpy):
    X, x = td.matrix("X", "n p"), td.vector("x", "n")   # noqa: F841 - read by td.parse
    values = _values(np.random.default_rng(7))
    np.testing.assert_allclose(td.evaluate(td.parse(text, X=X, x=x), **values), numpy(values), rtol=1e-14)


def test_a_symbol_named_true_has_no_matrix_notation_that_would_read_back_as_one():
    T, X = td.scalar("True"), td.matrix("X", "n p")
    assert td.matrix_notation(T * X).startswith("no matrix notation")


@pytest.mark.parametrize("call, message", [
    (lambda: td.evaluate(td.eye("n"), n=True), "the size of dim 'n' must be an int >= 0, got True"),
    (lambda: td.diff(td.vector("x", "n"), td.vector("x", "n"), order=True), "order must be a non-negative int"),
    (lambda: td.vector("x", "n")[True], "tensordiff selects with ints"),
    (lambda: td.ones(True), "dims of ones must be a string"),
])
def test_a_bool_where_a_size_order_or_index_is_wanted_is_an_error(call, message):
    with pytest.raises(td.TensorDiffError) as info:
        call()
    assert message in str(info.value)
