"""Constants and identities that nothing beside them sizes print with their size (eye(size(X, 2)),
vector(c, size(X, 1)), matrix(c, size(X, 1), size(Y, 2))), read back alone by td.parse to equal
values on random data, and render in LaTeX with the dim's name."""

import numpy as np
import pytest

import tensordiff as td
from helpers import round_trip
from tensordiff.selfcheck import Example
from tensordiff.selfcheckcompare import CheckFailure
from tensordiff.selfcheckreading import reads_back

RNG = np.random.default_rng(94)


def _setup():
    X, mu, w = td.matrix("X", "b p"), td.vector("mu", "p"), td.vector("w", "b")
    values = {"X": RNG.standard_normal((5, 3)), "mu": RNG.standard_normal(3), "w": RNG.standard_normal(5)}
    return X, mu, w, values


def test_the_hessian_of_a_centred_sum_of_squares_is_a_sized_identity():
    X, mu, _, values = _setup()
    hessian = td.hessian(td.sum((X - mu) ** 2), mu)
    assert round_trip(hessian, values) == "2*size(b)*eye(size(p))"
    assert td.latex(hessian) == r"\mathrm{out} = 2 b I_{p}"
    assert np.allclose(td.evaluate(hessian, **values), 2 * 5 * np.eye(3))


def test_a_zero_derivative_carries_the_variables_size():
    X, mu, w, values = _setup()
    assert round_trip(td.grad(td.sum(td.sign(X)), X), values) == "matrix(0, size(b), size(p))"
    assert round_trip(td.grad(td.sum(td.sign(w)), w), values).startswith("vector(0, size(")
    assert td.latex(td.grad(td.sum(td.sign(X)), X)) == r"\mathrm{out} = \mathbf{0}_{b \times p}"


def test_spread_constants_and_identities_read_back_alone():
    X, mu, w, values = _setup()
    for expr in (3 * td.eye("p"), td.broadcast_to(mu, ("b", "p"))
                 if hasattr(td, "broadcast_to") else td.outer(td.ones("b"), mu), td.diff(X, X),
                 td.diff(td.vec(X), X), td.ones("b") * td.sum(w)):
        text = round_trip(expr, values)
        assert "size(" in text, text


def test_a_spread_scalar_of_the_operands_is_a_sized_ones_vector():
    X, mu, w, values = _setup()
    spread = td.ones("b") * td.sum(w)
    assert round_trip(spread, values) == "sum(w)*vector(1, size(w, 1))"
    assert td.latex(spread) == r"\mathrm{out} = \operatorname{sum}\left(w\right) \mathbf{1}_{b}"
    ones = td.sum(X) * td.ones("b p")
    assert round_trip(ones, values) == "sum(X)*matrix(1, size(X, 1), size(X, 2))"
    assert td.latex(ones).endswith(r"\mathbf{1}_{b}\mathbf{1}_{p}^\top")


@pytest.mark.parametrize("text, shape, value", [
    ("vector(1.5, size(X, 1))", ("b",), lambda v: np.full(5, 1.5)),
    ("matrix(-2, size(X, 2), size(w, 1))", ("p", "b"), lambda v: np.full((3, 5), -2.0)),
    ("eye(size(X, 2)) + X'*X", ("p", "p"), lambda v: np.eye(3) + v["X"].T @ v["X"]),
    ("kron(eye(size(X, 1)), eye(size(mu, 1)))", ("b·p", "b·p"), lambda v: np.eye(15)),
    ("X*vector(1, size(X, 2)) - w", ("b",), lambda v: v["X"].sum(axis=1) - v["w"]),
])
def test_parse_reads_the_sized_words(text, shape, value):
    X, mu, w, values = _setup()
    back = td.parse(text)
    assert back.shape == shape
    np.testing.assert_allclose(td.evaluate(back, **values), value(values), rtol=1e-12)


@pytest.mark.parametrize("text, message", [
    ("vector(1, 3)", "vector(c, size(X, d)) takes its size as size(X, d), got '3'"),
    ("matrix(1, size(X, 1))", "matrix(c, size(X, d), size(Y, e)) takes 2 sizes, got ')'"),
    ("vector(1, size(X, 1), size(X, 2))", "takes 1 size, got ','"),
    ("eye()", "eye(size(X, d)) takes its size as size(X, d), got ')'"),
    ("eye(size(X, 1)", "takes 1 size, got the end"),
])
def test_a_malformed_size_is_a_parse_error_naming_the_form(text, message):
    _setup_symbols = _setup()   # noqa: F841 - X, mu and w alive while td.parse reads them
    with pytest.raises(td.ParseError, match=None) as info:
        td.parse(text)
    assert message in str(info.value)


def test_the_hessian_in_the_text_of_the_issue_reads_back_too():
    X, mu = td.matrix("X", "b p"), td.vector("mu", "p")
    f = td.parse("sum((X - mu').^2)", X=X, mu=mu)
    values = {"X": RNG.standard_normal((4, 2)), "mu": RNG.standard_normal(2)}
    assert round_trip(td.hessian(f, mu), values) == "2*size(b)*eye(size(p))"


def test_the_selfcheck_fails_a_text_that_reads_back_unsized():
    # seed 60022's expression is a zero vector over a merged dim: vector(0) alone has no size
    example = Example(60022, widened=True)
    assert reads_back(example, example.expr, td.matrix_notation(example.expr))
    with pytest.raises(CheckFailure, match="no symbol sizes"):
        reads_back(example, example.expr, "vector(0)")


def test_an_identity_in_a_sum_of_scalars_is_sized():
    # selfcheck seed 331244: d/dM of Σ_i (M[i,i] - mean of M's column sums) times a scalar is
    # c*eye - c/size(a); in a sum eye was left to the other terms to size, but a scalar sizes none,
    # and td.parse read it back as n x n
    M, q = td.matrix("M_se", "a_se a_se"), td.scalar("q_se")
    f = q * (td.trace(M) - td.mean(td.sum(M, axis=0)))
    gradient = td.grad(f, M)
    values = {"M_se": RNG.standard_normal((4, 4)), "q_se": np.float64(1.7)}
    text = round_trip(gradient, values)
    assert "eye(size(a_se))" in text, text
    A = td.matrix("A_se", "a_se a_se")   # beside a matrix term, eye stays unsized
    assert round_trip(q * td.eye("a_se") + A, {"q_se": 0.5, "A_se": RNG.standard_normal((4, 4))}) == "q_se*eye + A_se"
