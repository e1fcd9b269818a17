"""The Matrix Cookbook's first derivatives (Petersen & Pedersen, version of November 15, 2012),
with their equation numbers: each derivative's value is checked against central finite
differences and against the book's closed form, and its printed matrix notation must be at most
one symbol longer than the book's (symbols: names, numbers, operators, transposes and function
names; brackets and commas are not counted).

The book's forms are written in the parser's language: ``inv(X)'`` is (X⁻¹)ᵀ = X⁻ᵀ."""

import re

import numpy as np
import pytest

import tensordiff as td

N = 4
RNG = np.random.default_rng(2012)

# (equation, f, with respect to, the book's derivative). Upper-case names are n×n matrices (W, Q
# and S symmetric, as the book assumes where they appear) and lower-case ones vectors of length n.
# A few rows check a form the book's identity implies (det(X') = det(X)); their label says which.
IDENTITIES = [
    # 2.1.1 Determinant
    ("49", "det(X)", "X", "det(X)*inv(X)'"),
    ("51", "det(A*X*B)", "X", "det(A*X*B)*inv(X)'"),
    ("52", "det(X'*A*X)", "X", "2*det(X'*A*X)*inv(X)'"),
    ("53", "det(Z'*Q*Z)", "Z", "2*det(Z'*Q*Z)*Q*Z*inv(Z'*Q*Z)"),
    ("54", "det(Z'*A*Z)", "Z", "det(Z'*A*Z)*(A*Z*inv(Z'*A*Z) + A'*Z*inv(Z'*A'*Z))"),
    ("55, with pinv(Z) = inv(Z'*Z)*Z'", "logdet(Z'*Z)", "Z", "2*Z*inv(Z'*Z)"),
    ("57", "logdet(X)", "X", "inv(X)'"),
    ("58", "det(X*X*X)", "X", "3*det(X*X*X)*inv(X)'"),
    ("49, det(X') = det(X)", "det(X')", "X", "det(X)*inv(X)'"),
    # 2.2 Derivatives of an Inverse
    ("61", "a'*inv(X)*b", "X", "-inv(X)'*a*b'*inv(X)'"),
    ("62", "det(inv(X))", "X", "-det(inv(X))*inv(X)'"),
    ("62, det(inv(X)) = 1/det(X)", "1/det(X)", "X", "-det(inv(X))*inv(X)'"),
    ("63", "tr(A*inv(X)*B)", "X", "-(inv(X)*B*A*inv(X))'"),
    ("64", "tr(inv(X + A))", "X", "-(inv(X + A)*inv(X + A))'"),
    # 2.4.1 First Order
    ("69", "x'*a", "x", "a"),
    ("69", "a'*x", "x", "a"),
    ("70", "a'*X*b", "X", "a*b'"),
    ("71", "a'*X'*b", "X", "b*a'"),
    ("72", "a'*X*a", "X", "a*a'"),
    ("72", "a'*X'*a", "X", "a*a'"),
    # 2.4.2 Second Order
    ("77", "b'*X'*X*c", "X", "X*(b*c' + c*b')"),
    ("78", "(B*x + b)'*C*(D*x + d)", "x", "B'*C*(D*x + d) + D'*C'*(B*x + b)"),
    ("81", "x'*B*x", "x", "(B + B')*x"),
    ("82", "b'*X'*D*X*c", "X", "D'*X*b*c' + D*X*c*b'"),
    ("83", "(X*b + c)'*D*(X*b + c)", "X", "(D + D')*(X*b + c)*b'"),
    ("84", "(x - A*s)'*W*(x - A*s)", "s", "-2*A'*W*(x - A*s)"),
    ("85", "(x - s)'*W*(x - s)", "x", "2*W*(x - s)"),
    ("86", "(x - s)'*W*(x - s)", "s", "-2*W*(x - s)"),
    ("87", "(x - A*s)'*W*(x - A*s)", "x", "2*W*(x - A*s)"),
    ("88", "(x - A*s)'*W*(x - A*s)", "A", "-2*W*(x - A*s)*s'"),
    # 2.4.2 Second Order: first derivatives of forms quadratic in the variable
    ("90", "b'*X'*X*c", "X", "X*(b*c' + c*b')"),
    ("91", "(B*x + b)'*C*(D*x + d)", "x", "B'*C*(D*x + d) + D'*C'*(B*x + b)"),
    ("95", "b'*X'*D*X*c", "X", "D'*X*b*c' + D*X*c*b'"),
    ("96", "(X*b + c)'*D*(X*b + c)", "X", "(D + D')*(X*b + c)*b'"),
    # 2.5.1 First Order (traces)
    ("99", "tr(X)", "X", "eye"),
    ("100", "tr(X*A)", "X", "A'"),
    ("101", "tr(A*X*B)", "X", "A'*B'"),
    ("102", "tr(A*X'*B)", "X", "B*A"),
    ("103", "tr(X'*A)", "X", "A"),
    ("104", "tr(A*X')", "X", "A"),
    # 2.5.2 Second Order
    ("106", "tr(X*X)", "X", "2*X'"),
    ("107", "tr(X*X*B)", "X", "(X*B + B*X)'"),
    ("108", "tr(X'*B*X)", "X", "B*X + B'*X"),
    ("109", "tr(B*X*X')", "X", "B*X + B'*X"),
    ("110", "tr(X*X'*B)", "X", "B*X + B'*X"),
    ("111", "tr(X*B*X')", "X", "X*B' + X*B"),
    ("112", "tr(B*X'*X)", "X", "X*B' + X*B"),
    ("113", "tr(X'*X*B)", "X", "X*B' + X*B"),
    ("114", "tr(A*X*B*X)", "X", "A'*X'*B' + B'*X'*A'"),
    ("115", "tr(X'*X)", "X", "2*X"),
    ("115", "tr(X*X')", "X", "2*X"),
    ("116", "tr(B'*X'*C*X*B)", "X", "C'*X*B*B' + C*X*B*B'"),
    ("117", "tr(X'*B*X*C)", "X", "B*X*C + B'*X*C'"),
    ("118", "tr(A*X*B*X'*C)", "X", "A'*C'*X*B' + C*A*X*B"),
    ("119", "tr((A*X*B + C)*(A*X*B + C)')", "X", "2*A'*(A*X*B + C)*B'"),
    # 2.5.3 Higher Order
    ("121", "tr(X*X*X)", "X", "3*(X*X)'"),
    ("122", "tr(A*X*X)", "X", "(A*X + X*A)'"),
    ("123", "tr(B'*X'*C*X*X'*C*X*B)", "X", "C*X*X'*C*X*B*B' + C'*X*B*B'*X'*C'*X + C*X*B*B'*X'*C*X + C'*X*X'*C'*X*B*B'"),
    # 2.5.4 Other (Q symmetric, as the book assumes)
    ("124", "tr(A*inv(X)*B)", "X", "-inv(X)'*A'*B'*inv(X)'"),
    ("125", "tr(inv(X'*Q*X)*A)", "X", "-Q*X*inv(X'*Q*X)*(A + A')*inv(X'*Q*X)"),
    ("126", "tr(inv(Z'*Q*Z)*(Z'*W*Z))", "Z", "-2*Q*Z*inv(Z'*Q*Z)*Z'*W*Z*inv(Z'*Q*Z) + 2*W*Z*inv(Z'*Q*Z)"),
    ("127", "tr(inv(R + Z'*Q*Z)*(Z'*W*Z))", "Z",
     "-2*Q*Z*inv(R + Z'*Q*Z)*Z'*W*Z*inv(R + Z'*Q*Z) + 2*W*Z*inv(R + Z'*Q*Z)"),
    # 2.6.1 Two-norm
    ("129", "norm2(x - a)", "x", "(x - a)/norm2(x - a)"),
    ("131", "x'*x", "x", "2*x"),
    ("132", "norm2(X)^2", "X", "2*X"),
]

TOKEN = re.compile(r"\d+\.?\d*|[A-Za-z_][A-Za-z0-9_]*|\.\*|\./|\.\^|[-+*/^']")


def symbols(text):
    """The number of symbols of a matrix notation: names, numbers, operators and transposes; an
    identity's size, eye(size(X, 1)), is the subscript of the book's I, no symbol of its own."""
    return len(TOKEN.findall(re.sub(r"eye\(size\(\w+, [12]\)\)", "eye", text)))


SYMMETRIC = ("W", "Q", "S", "R")
# Where the book's X is not square: Z is n×p (p < n, full column rank), R a symmetric p×p matrix.
SHAPES = {"Z": "n p", "R": "p p"}
P = 3


def _dims(text):
    """The dims of each name in ``text``: a symmetric name gets its symbol, made here so that no
    symbol outlives the test (a live symbol would set the dims td.parse gives that name elsewhere)."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)) - {"det", "logdet", "inv", "tr", "eye", "norm2"}
    dims = {name: td.matrix(name, SHAPES.get(name, "n n"), symmetric=True) if name in SYMMETRIC else
            SHAPES.get(name, "n n") if name[0].isupper() else "n" for name in names}
    return {**dims, "eye": "n"} if "eye" in text else dims


def _values(dims):
    values = {}
    for name, shape in sorted(dims.items()):
        if name == "eye":
            continue
        size = P if name == "R" else N
        if name in SYMMETRIC:
            values[name] = 2.0 * np.eye(size) + 0.2 * (lambda a: a + a.T)(RNG.standard_normal((size, size)))
        elif shape == "n p":   # full column rank
            values[name] = np.eye(N, P) + 0.4 * RNG.standard_normal((N, P))
        elif shape == "n n":   # well conditioned, positive determinant
            values[name] = 2.0 * np.eye(N) + 0.4 * RNG.standard_normal((N, N))
        else:
            values[name] = RNG.standard_normal(N)
    return values


def _finite_differences(f, wrt, values, h=1e-6):
    gradient = np.zeros_like(values[wrt])
    for position in np.ndindex(values[wrt].shape):
        shifted = []
        for step in (h, -h):
            moved = {**values, wrt: values[wrt].copy()}
            moved[wrt][position] += step
            shifted.append(float(td.evaluate(f, **moved)))
        gradient[position] = (shifted[0] - shifted[1]) / (2 * h)
    return gradient


@pytest.mark.parametrize("equation, text, wrt, book", IDENTITIES, ids=[f"({e}) {t} wrt {w}" for e, t, w, _ in IDENTITIES])
def test_cookbook_first_derivative(equation, text, wrt, book):
    dims = _dims(text + " " + book)
    f = td.parse(text, **dims)
    symbol = {s.name: s for s in td.symbols(f)}[wrt] if hasattr(td, "symbols") else td.parse(wrt, **dims)
    gradient = td.grad(f, symbol)
    values = _values(dims)
    ours = np.asarray(td.evaluate(gradient, **{k: v for k, v in values.items() if k in _dims(text)}))
    np.testing.assert_allclose(ours, _finite_differences(f, wrt, values), rtol=1e-5, atol=1e-6)
    closed_form = td.parse(book, **dims)
    book_values = {k: v for k, v in values.items() if k in _dims(book)}
    expected = td.evaluate(closed_form, **book_values) if book_values else np.eye(N)   # the book's I alone
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    printed = td.matrix_notation(gradient, sized_by=symbol)
    assert symbols(printed) <= symbols(book) + 1, f"({equation}): printed {printed!r}, the book has {book!r}"
    assert td.parse(printed, **dims) is gradient or np.allclose(
        td.evaluate(td.parse(printed, **dims), **{k: v for k, v in values.items() if k in _dims(printed)}), ours)


def test_the_symbol_count():
    assert symbols("det(X)*inv(X)'") == 6 and symbols("-2*W*(x - s)") == 8 and symbols("A .* B") == 3


# ---------------------------------------------------------------- the simplifier's rules on matrix functions

def _square(seed=0):
    return 2.0 * np.eye(N) + 0.4 * np.random.default_rng(seed).standard_normal((N, N))


@pytest.mark.parametrize("build, printed", [
    (lambda X, S, a, b: td.inv(td.inv(X)), "X"),
    (lambda X, S, a, b: td.inv(X) @ X, "eye(size(n))"),
    (lambda X, S, a, b: X @ td.inv(X), "eye(size(n))"),
    (lambda X, S, a, b: td.inv(X).T @ X.T, "eye(size(n))"),
    (lambda X, S, a, b: X @ td.inv(X) @ X, "X"),
    (lambda X, S, a, b: a @ td.inv(X) @ X @ b, "a'*b"),
    (lambda X, S, a, b: S @ td.inv(S) @ a, "a"),
    (lambda X, S, a, b: td.inv(S).T @ S @ a, "a"),
    (lambda X, S, a, b: td.logdet(td.inv(X)), "-logdet(X)"),
    (lambda X, S, a, b: td.logdet(X.T), "logdet(X)"),
    (lambda X, S, a, b: td.det(X.T), "det(X)"),
    (lambda X, S, a, b: td.inv(3 * X.T), "1/3*inv(X)'"),
    (lambda X, S, a, b: td.grad(td.logdet(td.inv(X)), X), "-inv(X)'"),
    (lambda X, S, a, b: td.det(td.inv(X)), "1/det(X)"),
    (lambda X, S, a, b: td.grad(td.det(td.inv(X)), X), "-inv(X)'/det(X)"),
])
def test_matrix_function_rules_keep_the_value_and_shorten_the_print(build, printed):
    X, S = td.matrix("X", "n n"), td.matrix("S", "n n", symmetric=True)
    a, b = td.vector("a", "n"), td.vector("b", "n")
    e = build(X, S, a, b)
    assert td.matrix_notation(e) == printed
    values = {"X": _square(1), "S": (lambda m: m + m.T)(_square(2)), "a": RNG.standard_normal(N),
              "b": RNG.standard_normal(N)}
    if printed.startswith("eye("):   # no symbol left: the rule must give the identity node itself,
        assert e is td.eye("n")      # printed sized by the symbol of its dim declared last
        return
    used = {k: v for k, v in values.items() if re.search(rf"\b{k}\b", td.index_notation(e))}
    X_, a_, b_ = values["X"], values["a"], values["b"]
    inv = np.linalg.inv
    expected = {"X": X_, "eye": np.eye(N), "a'*b": b_ @ a_, "1/det(X)": 1 / np.linalg.det(X_), "a": a_, "-logdet(X)": -np.log(np.linalg.det(X_)),
                "logdet(X)": np.log(np.linalg.det(X_)), "det(X)": np.linalg.det(X_), "1/3*inv(X)'": inv(3 * X_.T),
                "-inv(X)'": -inv(X_).T, "-inv(X)'/det(X)": -np.linalg.det(inv(X_)) * inv(X_).T}[printed]
    got = td.evaluate(e, **used)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_an_inverse_pair_needs_the_shared_index_summed_nowhere_else():
    X, a = td.matrix("X", "n n"), td.vector("a", "n")
    kept = td.inv(X) @ X.T   # inv(X) Xᵀ is no identity
    assert td.matrix_notation(kept) == "inv(X)*X'"
    # inv(X)[i,k] X[k,j] a[k]: k is shared by three factors, so the pair is no product of the two
    three = td.einsum("ik,kj,k->ij", td.inv(X), X, a)
    assert td.matrix_notation(three) != "eye" and td.matrix_notation(three) != "diag(a)"
    values = {"X": _square(3), "a": RNG.standard_normal(N)}
    expected = np.einsum("ik,kj,k->ij", np.linalg.inv(values["X"]), values["X"], values["a"])
    np.testing.assert_allclose(td.evaluate(three, **values), expected, rtol=1e-10)


def test_the_trace_of_an_inverse_pair_is_the_size():
    X = td.matrix("X", "n n")
    e = td.trace(td.inv(X) @ X)
    assert td.evaluate(e, X=_square(4)) == pytest.approx(N)
    assert td.index_notation(e) == "out = n"


@pytest.mark.parametrize("order", [2, 3])
def test_inverse_pairs_keep_higher_derivatives_right(order):
    X, a, b = td.matrix("X", "n n"), td.vector("a", "n"), td.vector("b", "n")
    f = td.logdet(td.inv(X)) + a @ td.inv(X) @ X @ td.inv(X) @ b
    direction = RNG.standard_normal((N, N))
    values = {"X": _square(5), "a": RNG.standard_normal(N), "b": RNG.standard_normal(N)}
    derivative = td.diff(f, X, order=order)

    def along(t):
        inv = np.linalg.inv(values["X"] + t * direction)
        return -np.log(np.linalg.det(values["X"] + t * direction)) + values["a"] @ inv @ values["b"]

    h = 1e-3
    if order == 2:
        numeric = (along(h) - 2 * along(0) + along(-h)) / h ** 2
    else:
        numeric = (along(2 * h) - 2 * along(h) + 2 * along(-h) - along(-2 * h)) / (2 * h ** 3)
    value = np.asarray(td.evaluate(derivative, **values))
    for _ in range(order):
        value = np.tensordot(value, direction, axes=([value.ndim - 2, value.ndim - 1], [0, 1]))
    assert float(value) == pytest.approx(numeric, rel=1e-4, abs=1e-6)
