"""The four seed questions (shared/seeds/README.md), end to end with the public API.

Each is built as an expression, differentiated, printed, evaluated, and compared with the closed
form from its thread and with central finite differences.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

TOL = 1e-6


def rel_error(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = max(float(np.max(np.abs(want))), 1e-3)
    return float(np.max(np.abs(got - want))) / scale


def fd_scalar_param(f, value, eps=1e-6):
    """Central difference of a numpy function of one scalar."""
    return (np.asarray(f(value + eps)) - np.asarray(f(value - eps))) / (2 * eps)


# ---------------------------------------------------------------- 000 ridge regression

@pytest.fixture
def ridge():
    X, y, alpha, c = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha"), td.scalar("c")
    A = X.T @ X + alpha * td.eye("D")
    w = td.inv(A) @ X.T @ y
    F = (y - X @ w) @ (y - X @ w) + alpha * (w @ w - c ** 2)
    rng = np.random.default_rng(0)
    vals = dict(X=rng.standard_normal((12, 4)), y=rng.standard_normal(12), alpha=0.7, c=0.3)
    return dict(X=X, y=y, alpha=alpha, c=c, w=w, F=F, vals=vals)


def ridge_numpy(Xv, yv, a, c):
    Av = Xv.T @ Xv + a * np.eye(Xv.shape[1])
    wv = np.linalg.solve(Av, Xv.T @ yv)
    r = yv - Xv @ wv
    return Av, wv, r @ r + a * (wv @ wv - c ** 2)


def test_000_dw_dalpha(ridge):
    w, alpha, vals = ridge["w"], ridge["alpha"], ridge["vals"]
    dw = td.diff(w, alpha)
    assert dw.shape == ("D",)
    got = td.evaluate(dw, **vals)
    Av, wv, _ = ridge_numpy(vals["X"], vals["y"], vals["alpha"], vals["c"])
    closed = -np.linalg.solve(Av, wv)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, closed, rtol=1e-10, atol=1e-13)
    fd = fd_scalar_param(lambda a: ridge_numpy(vals["X"], vals["y"], a, vals["c"])[1], vals["alpha"])
    assert rel_error(got, fd) < TOL
    assert td.check(w, alpha, **vals).max_rel_error < TOL
    assert td.check(w, alpha, order=2, **vals).max_rel_error < TOL
    assert "inv" in str(dw)


def test_000_dF_dalpha(ridge):
    F, alpha, vals = ridge["F"], ridge["alpha"], ridge["vals"]
    dF = td.diff(F, alpha)
    assert dF.shape == ()
    got = td.evaluate(dF, **vals)
    Xv, yv, a, c = vals["X"], vals["y"], vals["alpha"], vals["c"]
    Av, wv, _ = ridge_numpy(Xv, yv, a, c)
    # the true value at w = w(alpha)
    np.testing.assert_allclose(got, wv @ wv - c ** 2, rtol=1e-9, atol=1e-12)
    # the chain-rule form: -2 (X'z + a w)' A^-1 w + (|w|^2 - c^2) with z = X w - y
    z = Xv @ wv - yv
    chain = -2 * (Xv.T @ z + a * wv) @ np.linalg.solve(Av, wv) + (wv @ wv - c ** 2)
    np.testing.assert_allclose(got, chain, rtol=1e-9, atol=1e-12)
    fd = fd_scalar_param(lambda t: ridge_numpy(Xv, yv, t, c)[2], a)
    assert rel_error(got, fd) < TOL
    assert td.check(F, alpha, **vals).max_rel_error < TOL
    assert td.check(F, alpha, order=2, **vals).max_rel_error < TOL


def test_000_chain_rule_factors_with_w_independent(ridge):
    """The factors of the chain rule, at a w that is NOT w(alpha), so that X'z + a w != 0."""
    X, y, alpha, c, w = ridge["X"], ridge["y"], ridge["alpha"], ridge["c"], ridge["w"]
    vals = ridge["vals"]
    v = td.vector("v", "D")
    Fv = (y - X @ v) @ (y - X @ v) + alpha * (v @ v - c ** 2)
    dF_dv, dF_da = td.grad(Fv, v), td.diff(Fv, alpha)
    total = dF_dv @ td.diff(w, alpha) + dF_da          # dF/dα = ∂F/∂w · dw/dα + ∂F/∂α
    Xv, yv, a, cv = vals["X"], vals["y"], vals["alpha"], vals["c"]
    vv = np.random.default_rng(5).standard_normal(4)
    Av, wv, _ = ridge_numpy(Xv, yv, a, cv)
    z = Xv @ vv - yv
    np.testing.assert_allclose(td.evaluate(dF_dv, v=vv, **vals), 2 * (Xv.T @ z + a * vv), rtol=1e-10)
    np.testing.assert_allclose(td.evaluate(dF_da, v=vv, **vals), vv @ vv - cv ** 2, rtol=1e-10)
    chain = -2 * (Xv.T @ z + a * vv) @ np.linalg.solve(Av, wv) + (vv @ vv - cv ** 2)
    np.testing.assert_allclose(td.evaluate(total, v=vv, **vals), chain, rtol=1e-9)
    # ... and at v = w(alpha) the chain reduces to |w|^2 - c^2
    np.testing.assert_allclose(td.evaluate(total, v=wv, **vals), wv @ wv - cv ** 2, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- 001 Tikhonov Jacobian and Hessian

def _tikhonov_values():
    rng = np.random.default_rng(1)
    return dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), lam=0.5)


def tikhonov_closed(Xv, yv, lam):
    Mi = np.linalg.inv(Xv.T @ Xv + lam * np.eye(Xv.shape[1]))
    qv = Mi @ Xv.T @ yv
    Q = Mi @ Xv.T
    z = yv - Xv @ qv
    return qv, np.einsum("aj,i->aij", Mi, z) - np.einsum("ai,j->aij", Q, qv)


def test_001_jacobian(tikhonov):
    X, q, vals = tikhonov.X, tikhonov.q, _tikhonov_values()
    J = td.diff(q, X)
    assert J.shape == ("p", "n", "p")
    got = td.evaluate(J, **vals)
    assert got.shape == (3, 5, 3)
    _, closed = tikhonov_closed(vals["X"], vals["y"], vals["lam"])
    np.testing.assert_allclose(got, closed, rtol=1e-10, atol=1e-12)
    # finite differences of q(X) computed in numpy
    fd = np.zeros((3, 5, 3))
    for i, j in np.ndindex(5, 3):
        Xp, Xm = vals["X"].copy(), vals["X"].copy()
        Xp[i, j] += 1e-6
        Xm[i, j] -= 1e-6
        fd[:, i, j] = (tikhonov_closed(Xp, vals["y"], vals["lam"])[0]
                       - tikhonov_closed(Xm, vals["y"], vals["lam"])[0]) / 2e-6
    assert rel_error(got, fd) < TOL
    assert td.check(q, X, **vals).max_rel_error < TOL
    assert str(J)  # prints


def test_001_hessian_order5(tikhonov):
    X, q, vals = tikhonov.X, tikhonov.q, _tikhonov_values()
    J = td.diff(q, X)
    H = td.diff(q, X, order=2)
    assert H.shape == ("p", "n", "p", "n", "p")
    assert td.diff(J, X) is H
    got = td.evaluate(H, **vals)
    assert got.shape == (3, 5, 3, 5, 3)
    assert rel_error(got, numeric_diff(J, X, vals)) < TOL
    # symmetric in the two X slots
    np.testing.assert_allclose(got, got.transpose(0, 3, 4, 1, 2), rtol=1e-10, atol=1e-12)
    # finite differences of the closed-form Jacobian (independent of tensordiff)
    fd = np.zeros((3, 5, 3, 5, 3))
    for k, l in np.ndindex(5, 3):
        Xp, Xm = vals["X"].copy(), vals["X"].copy()
        Xp[k, l] += 1e-6
        Xm[k, l] -= 1e-6
        fd[..., k, l] = (tikhonov_closed(Xp, vals["y"], vals["lam"])[1]
                         - tikhonov_closed(Xm, vals["y"], vals["lam"])[1]) / 2e-6
    assert rel_error(got, fd) < TOL
    assert td.check(q, X, order=2, **vals).max_rel_error < TOL


def test_001_compile_jacobian_and_hessian_together(tikhonov):
    X, q, vals = tikhonov.X, tikhonov.q, _tikhonov_values()
    J, H = td.diff(q, X), td.diff(q, X, 2)
    program = td.compile([J, H])
    Jv, Hv = program(**vals)
    np.testing.assert_allclose(Jv, td.evaluate(J, **vals), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Hv, td.evaluate(H, **vals), rtol=1e-12, atol=1e-14)
    # the program binds new sizes on a second call
    rng = np.random.default_rng(2)
    other = dict(X=rng.standard_normal((7, 2)), y=rng.standard_normal(7), lam=1.5)
    Jv2, Hv2 = program(**other)
    assert Jv2.shape == (2, 7, 2) and Hv2.shape == (2, 7, 2, 7, 2)
    np.testing.assert_allclose(Jv2, tikhonov_closed(other["X"], other["y"], 1.5)[1], rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- 002 one-layer network

def dtanh(v):
    return 1 - np.tanh(v) ** 2


def d2tanh(v):
    return -2 * np.tanh(v) * dtanh(v)


H_FUNCS = {"h": [np.tanh, dtanh, d2tanh]}


def network_values(matrix_version, seed=3):
    rng = np.random.default_rng(seed)
    vals = dict(X=rng.standard_normal((6, 3)), W=rng.standard_normal((3, 4)) / 2)
    if matrix_version:
        vals.update(A=rng.standard_normal((4, 2)), Y=rng.standard_normal((6, 2)))
    else:
        vals.update(a=rng.standard_normal(4), y=rng.standard_normal(6))
    return vals


@pytest.mark.parametrize("abstract", [False, True], ids=["tanh", "abstract-h"])
def test_002_vector_version(abstract):
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    h = td.elementwise("h") if abstract else td.tanh
    functions = H_FUNCS if abstract else None
    f = td.norm(h(X @ W) @ a - y) ** 2
    g = td.grad(f, W)
    assert g.shape == ("d", "k")
    vals = network_values(False)
    got = td.evaluate(g, functions=functions, **vals)
    Z = vals["X"] @ vals["W"]
    E = np.tanh(Z) @ vals["a"] - vals["y"]
    closed = 2 * vals["X"].T @ (dtanh(Z) * np.outer(E, vals["a"]))
    np.testing.assert_allclose(got, closed, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(td.evaluate(f, functions=functions, **vals), E @ E, rtol=1e-12)
    assert td.check(f, W, functions=functions, **vals).max_rel_error < TOL
    assert td.check(f, W, order=2, functions=functions, **vals).max_rel_error < TOL
    assert td.check(f, a, order=2, functions=functions, **vals).max_rel_error < TOL
    text = str(g)
    if abstract:
        assert "h′" in text or "h'" in text
    else:
        assert "tanh" in text


@pytest.mark.parametrize("abstract", [False, True], ids=["tanh", "abstract-h"])
def test_002_matrix_version(abstract):
    X, W, A, Y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.matrix("A", "k c"), td.matrix("Y", "n c")
    h = td.elementwise("h") if abstract else td.tanh
    functions = H_FUNCS if abstract else None
    f = td.norm(h(X @ W) @ A - Y) ** 2
    g = td.grad(f, W)
    assert g.shape == ("d", "k")
    vals = network_values(True)
    got = td.evaluate(g, functions=functions, **vals)
    Z = vals["X"] @ vals["W"]
    E = np.tanh(Z) @ vals["A"] - vals["Y"]
    closed = 2 * vals["X"].T @ (dtanh(Z) * (E @ vals["A"].T))
    np.testing.assert_allclose(got, closed, rtol=1e-10, atol=1e-12)
    assert td.check(f, W, functions=functions, **vals).max_rel_error < TOL
    assert td.check(f, W, order=2, functions=functions, **vals).max_rel_error < TOL
    assert td.check(f, A, functions=functions, **vals).max_rel_error < TOL


# ---------------------------------------------------------------- 003 log det and the quadratic form

@pytest.fixture
def logdet_question():
    W, s, Y = td.matrix("W", "n m"), td.scalar("s"), td.matrix("Y", "n N")
    C = W @ W.T + s ** 2 * td.eye("n")
    rng = np.random.default_rng(4)
    vals = dict(W=rng.standard_normal((4, 3)), s=0.8, Y=rng.standard_normal((4, 5)))
    return dict(W=W, s=s, Y=Y, C=C, vals=vals)


def test_003_logdet_gradient(logdet_question):
    W, C, vals = logdet_question["W"], logdet_question["C"], logdet_question["vals"]
    A = td.logdet(C)
    g = td.grad(A, W)
    assert g.shape == ("n", "m")
    Cv = vals["W"] @ vals["W"].T + vals["s"] ** 2 * np.eye(4)
    np.testing.assert_allclose(td.evaluate(A, **vals), np.linalg.slogdet(Cv)[1], rtol=1e-12)
    got = td.evaluate(g, **vals)
    np.testing.assert_allclose(got, 2 * np.linalg.solve(Cv, vals["W"]), rtol=1e-10, atol=1e-12)
    fd = np.zeros((4, 3))
    for i, j in np.ndindex(4, 3):
        Wp, Wm = vals["W"].copy(), vals["W"].copy()
        Wp[i, j] += 1e-6
        Wm[i, j] -= 1e-6
        fd[i, j] = (np.linalg.slogdet(Wp @ Wp.T + 0.64 * np.eye(4))[1]
                    - np.linalg.slogdet(Wm @ Wm.T + 0.64 * np.eye(4))[1]) / 2e-6
    assert rel_error(got, fd) < TOL
    assert td.check(A, W, **vals).max_rel_error < TOL
    assert td.check(A, W, order=2, **vals).max_rel_error < TOL
    # dA/ds = 2 s tr(C^-1)
    ds = td.evaluate(td.diff(A, logdet_question["s"]), **vals)
    np.testing.assert_allclose(ds, 2 * 0.8 * np.trace(np.linalg.inv(Cv)), rtol=1e-10)
    assert "inv" in str(g)


@pytest.mark.parametrize("form", ["trace", "einsum"])
def test_003_quadratic_form_gradient(logdet_question, form):
    W, s, Y, C, vals = (logdet_question[k] for k in ("W", "s", "Y", "C", "vals"))
    if form == "trace":
        L = td.trace(Y.T @ C @ Y)
    else:
        L = td.einsum("ia,ij,ja->", Y, C, Y)
    assert L.shape == ()
    Wv, sv, Yv = vals["W"], vals["s"], vals["Y"]
    Cv = Wv @ Wv.T + sv ** 2 * np.eye(4)
    np.testing.assert_allclose(td.evaluate(L, **vals), sum(Yv[:, i] @ Cv @ Yv[:, i] for i in range(5)), rtol=1e-12)
    g = td.grad(L, W)
    assert g.shape == ("n", "m")
    S = Yv @ Yv.T
    np.testing.assert_allclose(td.evaluate(g, **vals), 2 * S @ Wv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.diff(L, s), **vals), 2 * sv * np.sum(Yv ** 2), rtol=1e-10)
    assert td.check(L, W, **vals).max_rel_error < TOL
    assert td.check(L, W, order=2, **vals).max_rel_error < TOL
    # the Hessian in W is 2 (S ⊗ I) arranged as [i,j,k,l] = 2 S[i,k] δ[j,l]
    Hv = td.evaluate(td.hessian(L, W), **vals)
    np.testing.assert_allclose(Hv, 2 * np.einsum("ik,jl->ijkl", S, np.eye(3)), rtol=1e-10, atol=1e-12)


def test_003_both_forms_are_the_same_expression(logdet_question):
    W, Y, C = logdet_question["W"], logdet_question["Y"], logdet_question["C"]
    a = td.trace(Y.T @ C @ Y)
    b = td.einsum("ia,ij,ja->", Y, C, Y)
    vals = logdet_question["vals"]
    np.testing.assert_allclose(td.evaluate(a, **vals), td.evaluate(b, **vals), rtol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.grad(a, W), **vals), td.evaluate(td.grad(b, W), **vals), rtol=1e-12)
