"""Tensor-product notation for results of order 3 and 4 (issue 17 item 2): tprod (⊗), tbox (⊠) and
outer (∘) of matrices, vectors and identities, as printed by td.matrix_notation and td.latex and read
back by td.parse. docs/guide/notation.md defines the notation; Cookbook equation numbers are those
of Petersen & Pedersen, The Matrix Cookbook (November 15, 2012)."""

import types

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Var, topological
from tensordiff.selfcheck import Example, check_example

RNG = np.random.default_rng(17)
SIZES = {"n": 3, "m": 4, "p": 2, "q": 5, "k": 3, "r": 2}


def _values(expr):
    """Random values for the symbols of ``expr``, a symmetric one symmetric."""
    values = {}
    for node in topological([expr]):
        if isinstance(node, Var):
            value = RNG.standard_normal(tuple(SIZES[d] for d in node.shape))
            values[node.name] = (value + value.T) / 2 if node.symmetric else value
    return values


def _well_conditioned(values):
    """Q (square) well away from singular, for inv, det and logdet."""
    if "Q" in values:
        values["Q"] = values["Q"] + 4 * np.eye(values["Q"].shape[0])
    return values


CARRIER = "sizes_of_identities"


def sized_value(expr, values, shape=None):
    """The value of ``expr``, its axes' dims sized as ``shape``'s (default: its own dims) through a
    symbol that carries them: identities no symbol sizes (tprod(eye, eye)) get their sizes so."""
    shape = expr.shape if shape is None else shape
    assert len(expr.shape) == len(shape), (expr.shape, shape)
    sizes = {}
    for got, want in zip(expr.shape, shape):
        assert sizes.setdefault(got, SIZES[want]) == SIZES[want], (expr.shape, shape)
    carrier = td.tensor(CARRIER, tuple(sizes))
    return td.evaluate([expr, carrier], **values, **{CARRIER: np.zeros(tuple(sizes.values()))})[0]


def read_back(text, like, values):
    """The value of td.parse(text), its axes sized as ``like``'s."""
    return sized_value(td.parse(text), values, like.shape)


# ---------------------------------------------------------------- the notation's definition

def test_tprod_tbox_and_outer_are_defined_by_their_indices():
    K, L = td.matrix("K", "n m"), td.matrix("L", "p q")
    values = _values(td.tprod(K, L))
    k, l = values["K"], values["L"]
    np.testing.assert_allclose(td.evaluate(td.tprod(K, L), **values), np.einsum("ik,jl->ijkl", k, l))
    np.testing.assert_allclose(td.evaluate(td.tbox(K, L), **values), np.einsum("il,jk->ijkl", k, l))
    np.testing.assert_allclose(td.evaluate(td.outer(K, L), **values), np.einsum("ij,kl->ijkl", k, l))
    assert td.tprod(K, L).shape == ("n", "p", "m", "q") and td.tbox(K, L).shape == ("n", "p", "q", "m")


def test_a_vector_factor_is_a_column_and_the_parser_reads_a_row_among_the_columns():
    K, z = td.matrix("K", "n m"), td.vector("z", "p")
    values = _values(td.tprod(K, z))
    k, v = values["K"], values["z"]
    np.testing.assert_allclose(td.evaluate(td.tprod(K, z), **values), np.einsum("ik,j->ijk", k, v))
    np.testing.assert_allclose(td.evaluate(td.tprod(z, K), **values), np.einsum("i,jl->ijl", v, k))
    np.testing.assert_allclose(td.evaluate(td.parse("tprod(K, z)"), **values), np.einsum("ik,j->ijk", k, v))
    np.testing.assert_allclose(td.evaluate(td.parse("tprod(K, z')"), **values), np.einsum("ik,l->ikl", k, v))
    np.testing.assert_allclose(td.evaluate(td.parse("tbox(K, z)"), **values), np.einsum("il,j->ijl", k, v))
    np.testing.assert_allclose(td.evaluate(td.parse("outer(z', K)"), **values), np.einsum("i,jk->ijk", v, k))


def test_the_tensor_product_reshaped_is_the_kronecker_product_and_maps_vec_to_vec():
    # C order: tprod(K, L) (n, p, m, q) reshaped to (n·p, m·q) is kron(K, L); column-major vec
    # (Magnus & Neudecker): vec(dF) = kron(L, K) vec(dX) where dF/dX = tprod(K, L), and for tbox
    # vec(dF) = kron(L, K) vec(dX')
    K, L = td.matrix("K", "n m"), td.matrix("L", "p q")
    values = _values(td.tprod(K, L))
    k, l = values["K"], values["L"]
    t = td.evaluate(td.tprod(K, L), **values)
    np.testing.assert_allclose(t.reshape(k.shape[0] * l.shape[0], -1), np.kron(k, l))
    vec = lambda M: M.reshape(-1, order="F")   # noqa: E731
    dx = RNG.standard_normal((k.shape[1], l.shape[1]))
    np.testing.assert_allclose(vec(np.einsum("ijkl,kl->ij", t, dx)), np.kron(l, k) @ vec(dx))
    box = td.evaluate(td.tbox(K, L), **values)
    dx = RNG.standard_normal((l.shape[1], k.shape[1]))
    np.testing.assert_allclose(vec(np.einsum("ijkl,kl->ij", box, dx)), np.kron(l, k) @ vec(dx.T))


# ---------------------------------------------------------------- the examples, printed and read back

def _symbols():
    """The examples' symbols, declared while a test runs: td.parse reads a name as the symbol
    declared last and still alive, so symbols held by this module would change other files' parses."""
    return types.SimpleNamespace(
        X=td.matrix("X", "n m"), A=td.matrix("A", "p n"), B=td.matrix("B", "m q"), Q=td.matrix("Q", "n n"),
        C=td.matrix("C", "n n"), S=td.matrix("S", "n n", symmetric=True), E=td.matrix("E", "n q"),
        F=td.matrix("F", "n q"), H=td.matrix("H", "p m"), T=td.matrix("T", "n k"), U=td.matrix("U", "n r"),
        V=td.matrix("V", "k r"), x=td.vector("x", "n"), y=td.vector("y", "p"), a=td.vector("a", "n"),
        b=td.vector("b", "m"), c=td.vector("c", "q"))


# (what, the function of _symbols(), the symbol it is differentiated by, order, the derivative's
# matrix notation, its LaTeX)
EXAMPLES = [
    ("dX/dX (73)", lambda s: s.X, "X", 1, "tprod(eye(size(X, 1)), eye(size(X, 2)))", r"I_{n} \otimes I_{m}"),
    ("d(Ax)/dA", lambda s: s.A @ s.x, "A", 1, "tprod(eye(size(A, 1)), x')", r"I_{p} \otimes x^\top"),
    ("d(Xb)/dX", lambda s: s.X @ s.b, "X", 1, "tprod(eye(size(X, 1)), b')", r"I_{n} \otimes b^\top"),
    ("d(AX)/dX", lambda s: s.A @ s.X, "X", 1, "tprod(A, eye(size(X, 2)))", r"A \otimes I_{m}"),
    ("d(XB)/dX (74)", lambda s: s.X @ s.B, "X", 1, "tprod(eye(size(X, 1)), B')", r"I_{n} \otimes B^\top"),
    ("d(AXB)/dX", lambda s: s.A @ s.X @ s.B, "X", 1, "tprod(A, B')", r"A \otimes B^\top"),
    ("d(X'E)/dX (75)", lambda s: s.X.T @ s.E, "X", 1, "tbox(eye(size(X, 2)), E')", r"I_{m} \boxtimes E^\top"),
    ("dX'/dX", lambda s: s.X.T, "X", 1, "tbox(eye(size(X, 2)), eye(size(X, 1)))", r"I_{m} \boxtimes I_{n}"),
    ("d(HX'F)/dX", lambda s: s.H @ s.X.T @ s.F, "X", 1, "tbox(H, F')", r"H \boxtimes F^\top"),
    ("d(X'X)/dX", lambda s: s.X.T @ s.X, "X", 1, "tbox(eye(size(X, 2)), X') + tprod(X', eye(size(X, 2)))", r"I_{m} \boxtimes X^\top + X^\top \otimes I_{m}"),
    ("d(X'CX)/dX (79)", lambda s: s.X.T @ s.C @ s.X, "X", 1, "tbox(eye(size(X, 2)), (C*X)') + tprod(X'*C, eye(size(X, 2)))",
     r"I_{m} \boxtimes \left(C X\right)^\top + X^\top C \otimes I_{m}"),
    ("d(QQ)/dQ", lambda s: s.Q @ s.Q, "Q", 1, "tprod(Q, eye(size(Q, 1))) + tprod(eye(size(Q, 1)), Q')", r"Q \otimes I_{n} + I_{n} \otimes Q^\top"),
    ("d inv(Q)/dQ (60)", lambda s: td.inv(s.Q), "Q", 1, "-tprod(inv(Q), inv(Q)')", r"-\left(Q^{-1} \otimes Q^{-\top}\right)"),
    ("d(xy')/dx", lambda s: td.outer(s.x, s.y), "x", 1, "tprod(eye(size(x, 1)), y)", r"I_{n} \otimes y"),
    ("d(yx')/dx", lambda s: td.outer(s.y, s.x), "x", 1, "tprod(y, eye(size(x, 1)))", r"y \otimes I_{n}"),
    ("d(XB + c')/dc, a bias", lambda s: s.X @ s.B + s.c, "c", 1, "tprod(vector(1, size(n)), eye(size(c, 1)))", r"\mathbf{1}_{n} \otimes I_{q}"),
    ("d(C sum(x))/dx", lambda s: s.C * td.sum(s.x), "x", 1, "tprod(C, vector(1, size(C, 1))')", r"C \otimes \mathbf{1}_{n}^\top"),
    ("d(X sum(X))/dX", lambda s: s.X * td.sum(s.X), "X", 1, "sum(X)*tprod(eye(size(X, 1)), eye(size(X, 2))) + outer(X, vector(1, size(X, 1))*vector(1, size(X, 2))')",
     "\\begin{aligned}\n&\\operatorname{sum}\\left(X\\right) \\left(I_{n} \\otimes I_{m}\\right) \\\\\n"
     "&+ X \\circ \\mathbf{1}_{n} \\mathbf{1}_{m}^\\top\n\\end{aligned}"),
    ("d(tr(Q) C)/dQ", lambda s: td.trace(s.Q) * s.C, "Q", 1, "outer(C, eye(size(C, 1)))", r"C \circ I_{n}"),
    ("dS/dS, S symmetric", lambda s: s.S, "S", 1, "0.5*(tbox(eye(size(S, 1)), eye(size(S, 1))) + tprod(eye(size(S, 1)), eye(size(S, 1))))",
     r"0.5 \left(I_{n} \boxtimes I_{n} + I_{n} \otimes I_{n}\right)"),
    ("Hessian of |T - UV'|^2 in U", lambda s: td.sum((s.T - s.U @ s.V.T) ** 2), "U", 2, "2*tprod(eye(size(U, 1)), V'*V)",
     r"2 \left(I_{n} \otimes V^\top V\right)"),
    ("Hessian of |AX - H|^2", lambda s: td.sum((s.A @ s.X - s.H) ** 2), "X", 2, "2*tprod(A'*A, eye(size(X, 2)))", r"2 \left(A^\top A \otimes I_{m}\right)"),
    ("Hessian of tr(X'CX)", lambda s: td.trace(s.X.T @ s.C @ s.X), "X", 2, "tprod(C + C', eye(size(X, 2)))", r"\left(C + C^\top\right) \otimes I_{m}"),
    ("Hessian of a'XX'a", lambda s: s.a @ s.X @ s.X.T @ s.a, "X", 2, "2*tprod(a*a', eye(size(X, 2)))", r"2 \left(a a^\top \otimes I_{m}\right)"),
    ("Hessian of (a'Xb)^2", lambda s: (s.a @ s.X @ s.b) ** 2, "X", 2, "2*outer(a*b', a*b')", r"2 \left(a b^\top \circ a b^\top\right)"),
    ("Hessian of logdet(Q)", lambda s: td.logdet(s.Q), "Q", 2, "-tbox(inv(Q)', inv(Q))", r"-\left(Q^{-\top} \boxtimes Q^{-1}\right)"),
    ("Hessian of det(Q)", lambda s: td.det(s.Q), "Q", 2, "det(Q)*(outer(inv(Q)', inv(Q)') - tbox(inv(Q)', inv(Q)))",
     r"\det\left(Q\right) \left(Q^{-\top} \circ Q^{-\top} - Q^{-\top} \boxtimes Q^{-1}\right)"),
    ("Hessian of tr(inv(Q))", lambda s: td.trace(td.inv(s.Q)), "Q", 2, "tbox((inv(Q)*inv(Q))', inv(Q)) + tbox(inv(Q)', inv(Q)*inv(Q))",
     r"\left(Q^{-1} Q^{-1}\right)^\top \boxtimes Q^{-1} + Q^{-\top} \boxtimes Q^{-1} Q^{-1}"),
]
IDS = [example[0] for example in EXAMPLES]


@pytest.mark.parametrize("what, build, wrt, order, text, latex", EXAMPLES, ids=IDS)
def test_each_example_prints_its_tensor_product_form_and_reads_back(what, build, wrt, order, text, latex):
    symbols = _symbols()
    derivative = td.diff(build(symbols), getattr(symbols, wrt), order=order)
    # the symbol differentiated by sizes the dims the derivative no longer holds (eye(size(X, 2)))
    assert td.matrix_notation(derivative, sized_by=getattr(symbols, wrt)) == text
    lines = latex.split("\n&")   # a long one is an aligned block, "out &=" on its first line
    assert td.latex(derivative) == (r"\mathrm{out} = " + latex if len(lines) == 1 else
                                    lines[0] + "\n\\mathrm{out} &= " + "\n&\\quad ".join(lines[1:]))
    assert td.matrix_notation(derivative).latex() == latex
    values = _well_conditioned(_values(derivative))
    want = sized_value(derivative, values)
    np.testing.assert_allclose(read_back(text, derivative, values), want, rtol=1e-10, atol=1e-12, err_msg=text)


@pytest.mark.parametrize("what, build, wrt, order, text, latex", EXAMPLES, ids=IDS)
def test_each_printed_form_is_the_derivative_by_central_differences(what, build, wrt, order, text, latex):
    symbols = _symbols()
    function, wrt = build(symbols), getattr(symbols, wrt)
    lower = td.diff(function, wrt, order=order - 1) if order > 1 else function
    derivative = td.diff(function, wrt, order=order)
    values = _well_conditioned(_values(derivative) | _values(function))
    got = read_back(text, derivative, values)
    point, eps = values[wrt.name], 1e-6
    for index in np.ndindex(point.shape):
        step = np.zeros_like(point)
        step[index] = eps
        if wrt.symmetric:   # a symmetric matrix moves in both of its mirrored entries
            step = (step + step.T) / 2
        up = sized_value(lower, {**values, wrt.name: point + step})
        down = sized_value(lower, {**values, wrt.name: point - step})
        slope = (up - down) / (2 * eps)
        if wrt.symmetric:
            np.testing.assert_allclose((got[(Ellipsis,) + index] + got[(Ellipsis,) + index[::-1]]) / 2, slope,
                                       atol=1e-6, err_msg=text)
        else:
            np.testing.assert_allclose(got[(Ellipsis,) + index], slope, atol=1e-6, err_msg=text)


def test_a_result_without_that_structure_falls_back_to_index_notation():
    s = _symbols()
    X, A, x = s.X, s.A, s.x
    for result in (td.diff(td.exp(X), X), td.diff(td.exp(A) @ x, A), td.diff(td.exp(X) * td.sum(X), X)):
        assert td.matrix_notation(result).startswith("no matrix notation"), td.matrix_notation(result)



def test_a_zero_tensor_is_the_outer_product_of_sized_zeros_and_reads_back():
    s = _symbols()
    X, A, x = s.X, s.A, s.x
    for zero in (0 * td.tprod(A, X), td.diff(td.diff(td.sum(A), X), X), td.diff(A @ x, X)):
        text = td.matrix_notation(zero)
        assert text.startswith("outer(matrix(0, size(") and td.parse(text) is zero, text
    assert td.matrix_notation(td.zeros("n m p q r")).startswith("no matrix notation")   # order 5: no notation


def test_notebooks_render_the_tensor_product_form():
    A, x = _symbols().A, _symbols().x
    jacobian = td.diff(A @ x, A)
    assert jacobian._repr_latex_() == r"$$I_{p} \otimes x^\top$$"
    assert td.matrix_notation(jacobian)._repr_latex_() == jacobian._repr_latex_()


# ---------------------------------------------------------------- the parser's side

def test_parse_reads_the_products_with_their_shapes():
    symbols = _symbols()   # noqa: F841 - alive while td.parse reads A, X and x
    assert td.parse("tprod(A, X)").shape == ("p", "n", "n", "m")
    assert td.parse("tbox(A, X)").shape == ("p", "n", "m", "n")
    assert td.parse("outer(A, X)").shape == ("p", "n", "n", "m")
    assert td.parse("2*tprod(eye, x') - outer(eye, x)", eye="p").shape == ("p", "p", "n")
    assert td.parse("exp(tprod(A, X))").shape == ("p", "n", "n", "m")


@pytest.mark.parametrize("text, error, message", [
    ("tprod(A, X)*A", td.ShapeError, "scales an order-3/4 tensor product by a scalar only"),
    ("A*tprod(A, X)", td.ShapeError, "scales an order-3/4 tensor product by a scalar only"),
    ("tprod(A, X)'", td.ShapeError, "transposes a matrix or vector"),
    ("tr(tprod(A, X))", td.ShapeError, "tr takes no tensor of order 3 or 4"),
    ("tprod(tprod(A, X), A)", td.ShapeError, "tprod takes a matrix, vector or scalar"),
    ("tprod(A, X) + A", td.ShapeError, "needs operands of one shape"),
    ("tprod(A, X) - tbox(A, X)", td.ShapeError, "needs operands of one shape"),
    ("tprod(A)", td.ParseError, "takes 2 arguments"),
    ("tprod(A, X)^2", td.ShapeError, "raises a scalar to a power"),
])
def test_parse_refuses_a_tensor_product_where_a_matrix_belongs(text, error, message):
    symbols = _symbols()   # noqa: F841 - A (p, n) and X (n, m) alive while td.parse reads them
    with pytest.raises(error, match=message) as caught:
        td.parse(text)
    assert "^" in str(caught.value)   # a caret under the column


def test_the_python_functions_refuse_a_factor_of_order_three():
    A = _symbols().A
    T3 = td.tensor("T3", "n m p")
    with pytest.raises(td.ShapeError, match="tprod: the first factor must be a matrix"):
        td.tprod(T3, A)
    with pytest.raises(td.ShapeError, match="tbox: the second factor must be a matrix"):
        td.tbox(A, T3)


# ---------------------------------------------------------------- random expressions

def _random_matrix(rng, depth, W, M, N):
    """A random n×n expression of W over products, sums, transposes, scalings and inverses."""
    if depth == 0 or depth < 3 and rng.random() < 0.3:
        return [W, W.T, M, N, td.eye("n")][rng.integers(5)]
    kind = rng.integers(5)
    left = _random_matrix(rng, depth - 1, W, M, N)
    if kind == 0:
        return left @ _random_matrix(rng, depth - 1, W, M, N)
    if kind == 1:
        return left + _random_matrix(rng, depth - 1, W, M, N)
    if kind == 2:
        return left.T
    if kind == 3:
        return 0.5 * left
    inner = _random_matrix(rng, 1, W, M, N)   # no inverse inside an inverse: Hessians of those print 300,000 characters
    return td.inv(td.eye("n") + 0.1 * inner @ inner.T)


def _random_results(seed):
    """Order-3 and order-4 derivatives of a random product expression."""
    rng = np.random.default_rng(seed)
    X2, A2, B2 = td.matrix("W", "n n"), td.matrix("M", "n n"), td.matrix("N", "n n")
    u, v, w = td.vector("h", "n"), td.vector("o", "n"), td.vector("t", "n")
    f = _random_matrix(rng, 3, X2, A2, B2)
    while not f.free & {"W"}:
        f = f @ X2
    return [
        td.diff(f, X2),                          # order 4: matrix by matrix
        td.diff(f @ u, X2),                      # order 3: vector by matrix
        td.diff(f @ td.outer(w, v), w),          # order 3: matrix by vector
        td.hessian(u @ f @ v, X2),               # order 4: a scalar's Hessian
        td.hessian(td.trace(f @ f), X2),
    ]


@pytest.mark.parametrize("seed", range(16))
def test_derivatives_of_random_products_have_tensor_product_forms_that_read_back(seed):
    for result in _random_results(seed):
        if result.ndim < 3 or not result.free:   # zero or constant
            continue
        text = td.matrix_notation(result)
        if text.startswith("no matrix notation") and "= 0" in text.splitlines()[-1]:
            continue   # a zero derivative: the notation has no zero tensor
        assert not text.startswith("no matrix notation"), text
        values = _values(result) | {"W": RNG.standard_normal((3, 3)) * 0.5}
        want = sized_value(result, values)
        np.testing.assert_allclose(read_back(text, result, values), want, rtol=1e-9, atol=1e-10, err_msg=text)
        assert td.latex(result).count(r"\otimes") + td.latex(result).count(r"\boxtimes") \
            + td.latex(result).count(r"\circ") >= 1


def test_the_selfcheck_round_trip_covers_order_three_and_four():
    tried = 0
    for seed in range(120):
        results, example = check_example(seed, max_order=2, properties=["parse round trip"])
        assert not results.get("parse round trip"), results["parse round trip"]
        for result in [example.expr] + example.derivatives(2):
            text = td.matrix_notation(result)
            tried += result.ndim in (3, 4) and not text.startswith("no matrix notation")
    assert tried >= 3


def test_the_selfcheck_reads_identities_sized_by_the_symbol():
    # ∂X/∂X of a random (a, b) matrix: tprod(eye(size(X, 1)), eye(size(X, 2))), its identities sized
    for seed in range(300):
        example = Example(seed)
        texts = [td.matrix_notation(d) for d in example.derivatives(1)]
        if any(t.startswith(("tprod(eye(", "tbox(eye(")) and t.count("eye(size(") == 2 for t in texts):
            results, _ = check_example(seed, max_order=1, properties=["parse round trip"])
            assert results["parse round trip"] is None
            return
    pytest.fail("no example among 300 has an identity tensor as a derivative")
