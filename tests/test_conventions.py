"""Evaluation, einsum, printing and identity conventions."""

import gc

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(11)


# ---------------------------------------------------------------- passing values

def test_values_as_kwargs_and_as_dict():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    e = X.T @ y
    Xv, yv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    want = Xv.T @ yv
    np.testing.assert_allclose(td.evaluate(e, X=Xv, y=yv), want)
    np.testing.assert_allclose(td.evaluate(e, {"X": Xv, "y": yv}), want)
    np.testing.assert_allclose(td.evaluate(e, {"X": Xv}, y=yv), want)          # dict and keywords mixed
    np.testing.assert_allclose(td.evaluate(e, {"X": Xv, "y": 0 * yv}, y=yv), want)  # keywords win
    program = td.compile(e)
    np.testing.assert_allclose(program(X=Xv, y=yv), want)
    np.testing.assert_allclose(program({"X": Xv, "y": yv}), want)


def test_compile_list_returns_tuple():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    e1, e2 = X.T @ y, td.sum(X * X)
    Xv, yv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    out = td.compile([e1, e2])(X=Xv, y=yv)
    assert isinstance(out, tuple) and len(out) == 2
    np.testing.assert_allclose(out[0], Xv.T @ yv)
    np.testing.assert_allclose(out[1], np.sum(Xv ** 2))
    single = td.compile((e1,))(X=Xv, y=yv)
    assert isinstance(single, tuple) and len(single) == 1
    assert isinstance(td.compile(e1)(X=Xv, y=yv), np.ndarray)
    listed = td.evaluate([e1, e2], X=Xv, y=yv)
    assert isinstance(listed, tuple) and len(listed) == 2
    np.testing.assert_allclose(listed[1], out[1])


def test_values_for_symbols_the_result_no_longer_contains():
    X = td.matrix("X", "n n")
    g = td.grad(td.trace(X), X)       # = I: X itself is gone, but n comes from X's value
    assert "X" not in g.free
    np.testing.assert_array_equal(td.evaluate(g, X=RNG.standard_normal((4, 4))), np.eye(4))
    Xr, Y = td.matrix("Xr", "n p"), td.matrix("Yr", "p q")
    d = td.diff(Xr @ Y, Xr)           # δ[i,k] Y[l,j]: n only from Xr
    Xv, Yv = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    got = td.evaluate(d, Xr=Xv, Yr=Yv)
    np.testing.assert_array_equal(got, np.einsum("ik,lj->ijkl", np.eye(2), Yv))
    # a constant result of a scalar-valued function: d(2 sum(x))/dx = 2
    x = td.vector("xc", "n")
    np.testing.assert_array_equal(td.evaluate(td.grad(2 * td.sum(x), x), xc=np.ones(5)), 2 * np.ones(5))


def test_python_numbers_as_scalars():
    s, x = td.scalar("s"), td.vector("x", "n")
    xv = RNG.standard_normal(3)
    for value in (2, 2.0, np.float64(2.0), np.int64(2), np.array(2.0), np.float32(2.0)):
        got = td.evaluate(s * x, s=value, x=xv)
        np.testing.assert_allclose(got, 2 * xv, rtol=1e-6)
    r = td.evaluate(s ** 2 + 1, s=3)
    assert isinstance(r, np.ndarray) and r.shape == () and r == 10.0
    # numbers inside expressions
    np.testing.assert_allclose(td.evaluate(2 * x + 1 - x / 4, x=xv), 2 * xv + 1 - xv / 4)
    np.testing.assert_allclose(td.evaluate(np.float64(3.0) * x, x=xv), 3 * xv)
    np.testing.assert_allclose(td.evaluate(x * np.int32(3), x=xv), 3 * xv)


def test_int_arrays_promoted_to_float64():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    Av, xv = np.array([[2, 1, 0], [0, 3, 1], [1, 0, 4]]), np.array([1, 2, 3])
    for e in (x, x / 2, A @ x, td.inv(A) @ x, td.inv(A), td.diff(A @ x, A), td.sqrt(x), td.logdet(A)):
        got = td.evaluate(e, A=Av, x=xv)
        assert got.dtype == np.float64, e
    np.testing.assert_allclose(td.evaluate(x / 2, x=xv), xv / 2)
    np.testing.assert_allclose(td.evaluate(td.inv(A) @ x, A=Av, x=xv), np.linalg.solve(Av, xv))


def test_float32_stays_float32():
    A, x, s = td.matrix("A", "n n"), td.vector("x", "n"), td.scalar("s")
    Av = (np.eye(3) * 3 + RNG.random((3, 3))).astype(np.float32)
    xv = RNG.random(3).astype(np.float32)
    exprs = [x, 2 * x, s * x, A @ x, td.inv(A), td.inv(A) @ x, td.det(A), td.logdet(A), td.tanh(x) + x,
             td.exp(x) + A @ x, td.diff(A @ x, A), td.grad(td.trace(A), A), td.hessian(td.logdet(A), A),
             td.diff(td.sigmoid(A @ x), x, 2), td.sum(x) + s, x ** 0.5]
    for e in exprs:
        got = td.evaluate(e, A=Av, x=xv, s=2.0)
        assert got.dtype == np.float32, f"{got.dtype} for\n{e}"
    np.testing.assert_allclose(td.evaluate(A @ x, A=Av, x=xv), Av @ xv, rtol=1e-5)
    # one float64 array makes it float64
    assert td.evaluate(A @ x, A=Av, x=xv.astype(np.float64)).dtype == np.float64


def test_results_do_not_alias_inputs_or_each_other():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    xv, yv = RNG.standard_normal(3), RNG.standard_normal(3)
    keep_x, keep_y = xv.copy(), yv.copy()
    out = td.evaluate(x, x=xv)
    g = td.evaluate(td.grad(x @ y, x), x=xv, y=yv)     # the gradient is y itself
    a, b = td.compile([x, x])(x=xv)
    for result in (out, g, a, b):
        result += 100.0                                  # the caller owns what it gets back
    np.testing.assert_array_equal(xv, keep_x)
    np.testing.assert_array_equal(yv, keep_y)
    assert a is not b


def test_program_can_be_called_repeatedly_with_new_sizes():
    X = td.matrix("X", "n p")
    f = td.compile(td.grad(td.logdet(X.T @ X), X))
    for n, p in ((6, 3), (5, 2), (6, 3)):
        Xv = RNG.standard_normal((n, p))
        np.testing.assert_allclose(f(X=Xv), 2 * Xv @ np.linalg.inv(Xv.T @ Xv), rtol=1e-10)


# ---------------------------------------------------------------- einsum follows numpy

SPECS = [
    ("ij,jk->ik", ["n m", "m k"]),
    ("ij,jk", ["n m", "m k"]),
    ("ii", ["n n"]),
    ("ii->i", ["n n"]),
    ("ii->", ["n n"]),
    ("ij->ji", ["n m"]),
    ("ji", ["n m"]),
    ("ij", ["n m"]),
    ("iij,j->i", ["n n m", "m"]),
    ("iij", ["m m c"]),
    ("iij->j", ["m m c"]),
    ("iij,jk->ik", ["m m c", "c n"]),
    ("iji->j", ["n m n"]),
    ("iij,jkk->ik", ["n n m", "m c c"]),
    ("i,i", ["n", "n"]),
    ("i,i->i", ["n", "n"]),
    ("i,j", ["n", "m"]),
    ("i,j->ji", ["n", "m"]),
    (",i->i", ["", "n"]),
    (",", ["", ""]),
    ("ijk->", ["n m k"]),
    ("ijk->kji", ["n m k"]),
    ("ijk,ikl->ijl", ["n m k", "n k c"]),
    ("ij,ij,ij->", ["n m", "n m", "n m"]),
    ("ij,jk,kl->il", ["n m", "m k", "k c"]),
    ("ii,i->i", ["n n", "n"]),
    ("...ij->...ji", ["k n m"]),
    ("...i,...i->...", ["n m", "n m"]),
    ("...i,i", ["n m", "m"]),
    ("i...", ["n m k"]),
    ("i...->...", ["n m k"]),
    ("ij...,jk...->ik...", ["n m k", "m c k"]),
    ("...ij,...jk", ["k n m", "k m c"]),
    ("...ij,jk", ["k n m", "m c"]),
    ("...", ["n m"]),
    ("Ab,bC", ["n m", "m c"]),
    ("i j -> j i", ["n m"]),
]
SPEC_SIZES = {"n": 3, "m": 4, "k": 2, "c": 5}


@pytest.mark.parametrize("spec, dims", SPECS, ids=[s for s, _ in SPECS])
def test_einsum_matches_numpy(spec, dims):
    tag = SPECS.index((spec, dims))
    ops, arrays, values = [], [], {}
    for k, d in enumerate(dims):
        name = f"E{tag}_{k}"
        ops.append(td.tensor(name, d))
        shape = tuple(SPEC_SIZES[x] for x in d.split())
        values[name] = RNG.standard_normal(shape)
        arrays.append(values[name])
    e = td.einsum(spec, *ops)
    want = np.einsum(spec, *arrays)
    got = td.evaluate(e, **values)
    assert got.shape == want.shape
    assert tuple(SPEC_SIZES[d] for d in e.shape) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_einsum_of_matrix_dims_like_m_m_c():
    G, v = td.tensor("G", "m m c"), td.vector("v", "c")
    Gv, vv = RNG.standard_normal((3, 3, 2)), RNG.standard_normal(2)
    e = td.einsum("iij,j->i", G, v)
    assert e.shape == ("m",)
    np.testing.assert_allclose(td.evaluate(e, G=Gv, v=vv), np.einsum("iij,j->i", Gv, vv))
    np.testing.assert_allclose(td.evaluate(td.diff(e, G), G=Gv, v=vv),
                               np.einsum("ia,ib,j->iabj", np.eye(3), np.eye(3), vv))


# ---------------------------------------------------------------- printing

def test_str_shows_let_bindings_for_shared_subexpressions():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    t = td.tanh(A @ x)
    e = t @ t + td.sum(t)
    text = str(e)
    lines = text.splitlines()
    assert lines[0].startswith("t1[i] = ") and "tanh" in lines[0]
    assert lines[-1].startswith("out = ")
    assert "t1[" in lines[-1] and "tanh" not in lines[-1]
    assert td.index_notation(e) == text
    assert "tanh" in repr(e)
    assert str(A @ x) == "out[i] = Σ_j A[i,j] x[j]"
    assert str(x) == "out[i] = x[i]"


def test_str_of_delta_and_derivatives():
    X = td.matrix("X", "n p")
    assert "δ" in str(td.diff(X, X))
    assert str(td.diff(X, X)) == "out[i,j,k,l] = δ[i,k] δ[j,l]"
    W, s = td.matrix("W", "n m"), td.scalar("s")
    g = td.grad(td.logdet(W @ W.T + s ** 2 * td.eye("n")), W)
    assert "inv(t1)" in str(g)


def _exec_einsum(expr, values, functions=None, sized_by=None):
    code = td.to_einsum(expr, sized_by=sized_by)
    namespace = {"np": np, **values, **(functions or {})}
    exec(compile(code, "<to_einsum>", "exec"), namespace)
    return code, np.asarray(namespace["out"])


def _einsum_cases():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    A, x, s = td.matrix("A", "p p"), td.vector("x", "p"), td.scalar("s")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    t = td.tanh(X @ x)
    return [
        X.T @ X,
        t @ t + td.sum(t),
        td.inv(A) @ x,
        td.det(A) + td.logdet(A @ A.T + td.eye("p")),
        td.sigmoid(X @ x) * td.relu(y) + td.abs(y) ** 1.5 + td.sqrt(y * y + 1) - td.exp(y) / td.cos(y),
        td.log(td.sin(y) ** 2 + 1) + s,
        x + s,
        2.5 + x,
        A + td.eye("p"),
        td.outer(y, x),
        td.diag(x) @ A,
        td.diff(q, X),
        td.diff(q, X, 2),
        td.diff(q, lam),
        td.hessian(td.sum(t ** 2), x),
        td.diff(A @ x, x),
        td.diff(td.tanh(A @ x), A),
        td.grad(td.logdet(X.T @ X), X),
        td.einsum("ij,jk->ik", X, A),
        td.norm(X) * s,
    ]


def test_to_einsum_is_valid_numpy():
    rng = np.random.default_rng(3)
    values = dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), lam=0.5,
                  A=np.eye(3) + 0.3 * rng.standard_normal((3, 3)), x=rng.standard_normal(3), s=0.7)
    for expr in _einsum_cases():
        code, got = _exec_einsum(expr, values)
        want = td.evaluate(expr, **values)
        assert got.shape == want.shape, code
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=code)


def test_to_einsum_with_user_functions():
    x = td.vector("x", "n")
    h = td.elementwise("h")
    f = td.sum(h(x) ** 2)
    H = td.hessian(f, x)
    xv = RNG.standard_normal(4)
    impl = [np.tanh, lambda v: 1 - np.tanh(v) ** 2, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)]
    code = td.to_einsum(H)
    names = {"h": impl[0], "h_1": impl[1], "h_2": impl[2]}
    _, got = _exec_einsum(H, {"x": xv}, names)
    np.testing.assert_allclose(got, td.evaluate(H, x=xv, functions={"h": impl}), rtol=1e-12, err_msg=code)


def test_to_einsum_when_the_result_no_longer_holds_the_symbol_with_the_dims():
    """Derivatives whose delta dims come only from a symbol the result dropped: given that symbol
    (sized_by=, the one differentiated by), the printed code runs given the values (as td.evaluate
    does); without it, the code leaves the size to fill in rather than read another symbol's."""
    X, Y, A, x = td.matrix("X", "n p"), td.matrix("Y", "p q"), td.matrix("A", "n n"), td.vector("x", "n")
    values = dict(X=RNG.standard_normal((2, 3)), Y=RNG.standard_normal((3, 4)),
                  A=RNG.standard_normal((2, 2)), x=RNG.standard_normal(2))
    for expr, wrt in ((td.diff(X @ Y, X), X), (td.diff(X, X), X), (td.grad(td.trace(A), A), A), (td.diff(2 * x, x), x)):
        code, got = _exec_einsum(expr, values, sized_by=wrt)
        np.testing.assert_allclose(got, td.evaluate(expr, **values), err_msg=code)
        assert f"= {wrt.name}.shape[" in code and "..." not in code, code
        assert "# n: the size of dim n, which no symbol" in td.to_einsum(expr), td.to_einsum(expr)


# ---------------------------------------------------------------- deltas and identity

def test_derivative_of_symbol_is_delta():
    X = td.matrix("X", "n p")
    got = td.evaluate(td.diff(X, X), X=RNG.standard_normal((3, 2)))
    np.testing.assert_array_equal(got, np.einsum("ik,jl->ijkl", np.eye(3), np.eye(2)))
    x = td.vector("xd", "n")
    np.testing.assert_array_equal(td.evaluate(td.diff(x, x), xd=np.ones(4)), np.eye(4))
    # deltas times a dense factor: d(A x)/dA [i,j,k] = δ[i,j] x[k]
    A = td.matrix("Ad", "n n")
    xv = RNG.standard_normal(4)
    np.testing.assert_array_equal(td.evaluate(td.diff(A @ x, A), Ad=np.eye(4), xd=xv),
                                  np.einsum("ij,k->ijk", np.eye(4), xv))
    # a delta added to a dense term
    d = td.diff(A @ x + x, x)
    Av = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(td.evaluate(d, Ad=Av, xd=xv), Av + np.eye(4))


def test_symbols_are_identical_objects():
    X = td.matrix("X", "n p")
    assert td.matrix("X", "n p") is X
    assert td.tensor("X", ("n", "p")) is X
    assert td.tensor("X", "n,p") is X
    assert td.scalar("s") is td.scalar("s")
    assert td.vector("v", "n") is td.vector("v", ("n",))


def test_name_is_free_again_once_its_symbol_is_gone():
    X = td.matrix("Xfree", "n p")
    e = X @ td.vector("vfree", "p")
    del X, e
    gc.collect()
    Y = td.matrix("Xfree", "q r")
    assert Y.shape == ("q", "r")


def test_interned_equality():
    X, Y, A, B = td.matrix("X", "n p"), td.matrix("Y", "p q"), td.matrix("A", "n n"), td.matrix("B", "n n")
    x, y = td.vector("x", "n"), td.vector("y", "n")
    assert (X @ Y) is (X @ Y)
    assert td.einsum("ij,jk->ik", X, Y) is X @ Y
    assert (x + y) is (y + x)
    assert (x @ y) is (y @ x)
    assert (A + B) * 2 is 2 * (B + A)
    assert X.T.T is X
    assert td.inv(td.inv(A)) is A
    assert td.tanh(A @ x) is td.tanh(A @ x)
    assert td.diff(td.tanh(A @ x), x) is td.diff(td.tanh(A @ x), x)
    assert (X @ Y) is not (X @ Y).T.T.T
    assert x == x and x != y and x is not y
    assert len({X @ Y, X @ Y, A @ A}) == 2   # hashable, hash by identity of interned nodes


def test_simplify_is_idempotent():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    A, x = td.matrix("A", "p p"), td.vector("x", "p")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    for e in (q, td.diff(q, X), td.diff(q, X, 2), td.hessian(td.logdet(A @ A.T + td.eye("p")), A),
              td.sum(td.tanh(A @ x) ** 2) + td.det(A), td.diff(td.sigmoid(X @ x), x, 2)):
        once = td.simplify(e)
        assert td.simplify(once) is once
        values = dict(X=RNG.standard_normal((4, 3)), y=RNG.standard_normal(4), lam=0.5,
                      A=np.eye(3) + 0.2 * RNG.standard_normal((3, 3)), x=RNG.standard_normal(3))
        np.testing.assert_allclose(td.evaluate(once, **values), td.evaluate(e, **values), rtol=1e-10, atol=1e-12)


def test_simplify_rewrites():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    assert td.simplify(td.inv(td.inv(A))) is A
    assert x * 1 is x
    assert (x ** 1) is x
    z = x - x
    np.testing.assert_array_equal(td.evaluate(z, x=np.ones(3)), np.zeros(3))
    assert td.evaluate(td.sum(x * 0), x=np.ones(3)) == 0.0


def test_function_implementations_accepted_forms():
    x = td.vector("x", "n")
    h = td.elementwise("h")
    f = td.sum(h(x) * x)
    H = td.hessian(f, x)
    xv = RNG.standard_normal(4)
    d0, d1, d2 = np.sin, np.cos, lambda v: -np.sin(v)
    want = np.diag(2 * d1(xv) + xv * d2(xv))
    for functions in ({"h": [d0, d1, d2]}, {"h": d0, "h'": d1, "h''": d2}, {"h": d0, "h′": d1, "h″": d2},
                      {"h": [d0, d1], "h''": d2}):
        np.testing.assert_allclose(td.evaluate(H, x=xv, functions=functions), want, rtol=1e-12, atol=1e-14)
    # a bound function's own implementation is used unless one is passed at evaluation
    g = td.elementwise("g_bound", np.sin, np.cos)
    e = g(x)
    np.testing.assert_allclose(td.evaluate(e, x=xv), np.sin(xv))
    np.testing.assert_allclose(td.evaluate(td.diff(e, x), x=xv), np.diag(np.cos(xv)))
    # the abstract name means the same function every time it is asked for
    assert td.elementwise("h") is h
    assert td.elementwise("h")(x) is h(x)


def test_repeated_self_products_stay_correct():
    """Merging stops at a bounded number of operands; values and derivatives stay right."""
    A = td.matrix("A", "n n")
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    P = A
    for _ in range(7):
        P = P @ P                                    # A^128: far more than 64 operands if fully merged
    np.testing.assert_allclose(td.evaluate(P, A=Q), np.linalg.matrix_power(Q, 128), rtol=1e-9, atol=1e-9)
    P3 = A @ A
    P3 = P3 @ P3
    P3 = P3 @ P3                                     # A^8
    Av = np.eye(3) + 0.1 * rng.standard_normal((3, 3))
    result = td.check(td.trace(P3), A, order=2, A=Av)
    assert result.max_rel_error < 1e-6
    np.testing.assert_allclose(td.evaluate(td.grad(td.trace(P3), A), A=Av),
                               8 * np.linalg.matrix_power(Av, 7).T, rtol=1e-10)


def test_check_measures_a_zero_derivative_absolutely_and_still_catches_a_wrong_one():
    # d³|z|/dz³ = 0 for a scalar-like z: finite differences give ~1e-11 of rounding noise,
    # which once read as a relative error of 4e284
    z = td.vector("z", "n")
    assert td.check(td.norm(z), z, order=3, z=np.array([0.8])).max_rel_error < 1e-6
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    assert td.check((x @ A @ x) / (x @ x), x, order=3, x=np.array([0.7]), A=np.array([[2.0]])).max_rel_error < 1e-6
    wrong = td.elementwise("h_wrong", np.sin, lambda v: 1.01 * np.cos(v))   # a derivative 1% off
    assert td.check(td.sum(wrong(x)), x, x=np.array([0.3, 1.1])).max_rel_error > 1e-3


def test_solve_and_matrix_power_build_what_they_name():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    rng = np.random.default_rng(11)
    Av, bv = np.eye(3) + 0.3 * rng.standard_normal((3, 3)), rng.standard_normal(3)
    assert td.solve(A, b) is td.inv(A) @ b
    np.testing.assert_allclose(td.evaluate(td.solve(A, b), A=Av, b=bv), np.linalg.solve(Av, bv), rtol=1e-12)
    for k in (0, 1, 2, 3, 5, -1, -3):
        power = td.matrix_power(A, k)
        assert power.shape == ("n", "n")
        np.testing.assert_allclose(td.evaluate(power, A=Av), np.linalg.matrix_power(Av, k), rtol=1e-10, atol=1e-12)
    assert td.check(td.trace(td.matrix_power(A, -2)), A, A=Av).max_rel_error < 1e-6
    with pytest.raises(td.ShapeError, match="square matrix"):
        td.matrix_power(td.matrix("B", "n p"), 2)
    with pytest.raises(td.TensorDiffError, match="int power"):
        td.matrix_power(A, 1.5)
