"""∂vec(F)/∂X in matrix notation (issue 17 item 2): unvec(J)/unvecT(J) of the Magnus–Neudecker
Jacobian J = ∂vec(F)/∂vec(X), as printed by td.matrix_notation and read back by td.parse
(vecform.py, docs/guide/notation.md)."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Var, topological
from tensordiff.matrixform import to_matrix

SIZES = {"n": 3, "p": 2, "q": 4, "r": 5, "s": 2, "t": 3}
CARRIER = "sizes_of_identities"

NAMES = ["AXB", "X", "AX", "XB", "X'", "kron(C,D)vec(X)", "X'X", "XX'", "2AXB+XB-kron", "tr(X'X)X", "SXX'",
         "X'PX"]


def _symbols():
    """Built inside each test: a live symbol's dims are what td.parse gives its name elsewhere."""
    return td.matrix("A", "n p"), td.matrix("X", "p q"), td.matrix("B", "q r")


def _cases():
    A, X, B = _symbols()
    C, D, S = td.matrix("C", "s q"), td.matrix("D", "t p"), td.matrix("S", "p p")
    return X, {
        "AXB": td.vec(A @ X @ B),
        "X": td.vec(X),
        "AX": td.vec(A @ X),
        "XB": td.vec(X @ B),
        "X'": td.vec(X.T),
        "kron(C,D)vec(X)": td.kron(C, D) @ td.vec(X),
        "X'X": td.vec(X.T @ X),
        "XX'": td.vec(X @ X.T),
        "2AXB+XB-kron": 2 * td.vec(A @ X @ B) - td.vec(A @ X @ B) + td.vec(A @ X @ B),
        "tr(X'X)X": td.vec(td.trace(X.T @ X) * X),
        "SXX'": td.vec(S @ X @ X.T),
        "X'PX": td.vec(X.T @ td.matrix("P", "p p") @ X),
    }

def _values(rng, *exprs):
    values = {}
    for node in topological(list(exprs)):
        if isinstance(node, Var) and node.name != CARRIER:
            values[node.name] = rng.standard_normal(tuple(SIZES[d] for d in node.shape))
    return values


def _numeric_jacobian(f, values, h=1e-6):
    x = values["X"]
    out = np.zeros(np.shape(f(values)) + x.shape)
    for k in np.ndindex(*x.shape):
        up, down = dict(values), dict(values)
        up["X"], down["X"] = x.copy(), x.copy()
        up["X"][k] += h
        down["X"][k] -= h
        out[(...,) + k] = (f(up) - f(down)) / (2 * h)
    return out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_printed_form_reads_back_equal_and_the_value_is_right(name, seed):
    rng = np.random.default_rng(seed)
    X, cases = _cases()
    F = cases[name]
    d = td.diff(F, X)
    text = str(td.matrix_notation(d))
    assert text.startswith(("unvec", "2*unvec", "tr(")), text
    assert "unvec" in text, text
    values = _values(rng, d, F)
    got = td.evaluate(d, **values)
    expected = _numeric_jacobian(lambda v: td.evaluate(F, **v), values)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    back = td.parse(text)
    assert back.ndim == 3
    carrier = td.tensor(CARRIER, back.shape[1:])
    read = td.evaluate([back, carrier], **values, **{CARRIER: np.zeros(values["X"].shape)})[0]
    np.testing.assert_allclose(read, got, rtol=1e-10, atol=1e-10)


def test_the_jacobian_is_the_magnus_neudecker_matrix():
    """unvec(kron(B', A)): d vec(AXB) = (B' ⊗ A) d vec(X), vec column-major."""
    A, X, B = _symbols()
    rng = np.random.default_rng(3)
    values = _values(rng, A, X, B)
    a, b = values["A"], values["B"]
    j = td.evaluate(td.diff(td.vec(A @ X @ B), X), **values)
    flat = j.transpose(0, 2, 1).reshape(j.shape[0], -1)   # columns in vec(X)'s (column-major) order
    np.testing.assert_allclose(flat, np.kron(b.T, a), atol=1e-12)
    assert str(td.matrix_notation(td.diff(td.vec(A @ X @ B), X))) == "unvec(kron(B', A))"
    assert str(td.matrix_notation(td.diff(td.vec(X.T), X), sized_by=X)) == "unvecT(kron(eye(size(X, 1)), eye(size(X, 2))))"


def _sized(expr, **values):
    carrier = td.tensor(CARRIER, ("p", "q"))
    return td.evaluate([expr, carrier], **values, **{CARRIER: np.zeros((2, 4))})[0]


def test_unvec_is_defined_by_its_indices():
    rng = np.random.default_rng(4)
    j, k = rng.standard_normal((3, 8)), rng.standard_normal((3, 8))
    got = _sized(td.parse("unvec(J)", J="n q*p"), J=j)
    np.testing.assert_allclose(got, j.reshape(3, 4, 2).transpose(0, 2, 1))
    got = _sized(td.parse("unvecT(K)", K="n p*q"), K=k)
    np.testing.assert_allclose(got, k.reshape(3, 2, 4))
    assert td.parse("unvec(J)", J="n q*p").shape == ("n", "p", "q")
    assert td.parse("unvec(v)", v="q*p").shape == ("p", "q")
    x = rng.standard_normal((2, 4))
    np.testing.assert_allclose(td.evaluate(td.parse("unvec(vec(X))", X="p q"), X=x), x)


def test_unvec_of_a_plain_column_dim_is_a_parse_error():
    with pytest.raises(td.ShapeError, match="merged dim"):
        td.parse("unvec(A)", A="n p")


def test_second_derivatives_print_through_their_order_4_form_unchanged():
    A, X, B = _symbols()
    # an order-4 result keeps its tensor-product notation; unvec is for order 3 only
    assert str(td.matrix_notation(td.diff(A @ X @ B, X))) == "tprod(A, B')"


def test_the_inverse_and_a_second_derivative_in_a_vector():
    rng = np.random.default_rng(5)
    Q, x, P = td.matrix("Q", "p p"), td.vector("x", "n"), td.matrix("P", "n r")
    q = rng.standard_normal((2, 2)) + 4 * np.eye(2)
    d = td.diff(td.vec(td.inv(Q)), Q)
    assert str(td.matrix_notation(d)) == "-unvec(kron(inv(Q)', inv(Q)))"
    got = td.evaluate(d, Q=q)
    flat = got.transpose(0, 2, 1).reshape(4, 4)   # d vec(inv Q) = -(inv(Q)' ⊗ inv(Q)) d vec(Q)
    np.testing.assert_allclose(flat, -np.kron(np.linalg.inv(q).T, np.linalg.inv(q)), atol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.parse(str(td.matrix_notation(d))), Q=q), got, atol=1e-12)
    F = td.vec(td.outer(x, x) @ P)
    h = td.diff(F, x, 2)
    text = str(td.matrix_notation(h))
    assert "unvec" in text
    values = {"x": rng.standard_normal(3), "P": rng.standard_normal((3, 5))}
    got = td.evaluate(h, **values)
    step = 1e-6
    numeric = np.stack([(td.evaluate(td.diff(F, x), x=values["x"] + step * e, P=values["P"])
                         - td.evaluate(td.diff(F, x), x=values["x"] - step * e, P=values["P"])) / (2 * step)
                        for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(got, numeric, atol=1e-6)
    np.testing.assert_allclose(td.evaluate(td.parse(text), **values), got, atol=1e-12)


@pytest.mark.parametrize("build", [
    lambda C, q, N: (C - q) @ td.vec(N.T),          # selfcheck seed 97502's last product, at its smallest
    lambda C, q, N: (-C - q) @ td.vec(N.T),
    lambda C, q, N: (td.exp(C) - q * C) @ td.vec(N.T),
    lambda C, q, N: td.vec(N.T) @ (C - q),           # the transposed factor: (C - q)'*vec(N')
], ids=["C-q", "-C-q", "exp(C)-qC", "vec'(C-q)"])
def test_a_sum_times_vec_is_bracketed_and_reads_back(build):
    # (C - q)*vec(N') was printed C - q*vec(N'): td.parse then subtracts a column from a matrix, and
    # (-C - q)*vec(N') printed -q - C*vec(N') reads back with the wrong value
    C, q, N = td.matrix("C_sv", "a_sv·b_sv a_sv·b_sv"), td.scalar("q_sv"), td.matrix("N_sv", "a_sv b_sv")
    e = build(C, q, N)
    rng = np.random.default_rng(97502)
    values = dict(C_sv=rng.standard_normal((6, 6)), q_sv=0.7, N_sv=rng.standard_normal((2, 3)))
    for text in dict.fromkeys([to_matrix(e), str(td.matrix_notation(e))]):   # plain, and with t1 = ... names
        assert "*vec(" in text, text   # still the vec form, bracketed
        back = td.parse(text, symbols=[C, q, N])
        assert back.shape == e.shape, text
        np.testing.assert_allclose(td.evaluate(back, values), td.evaluate(e, values), rtol=1e-12, atol=1e-12, err_msg=text)
