"""Matrix-calculus questions researchers ask, each checked three independent ways.

Every problem states its derivative in closed form (the Matrix Cookbook's or the textbook's
formula, written in numpy, sharing nothing with tensordiff), and tensordiff's derivative of the
stated order is compared with it; each order is also compared with central finite differences of
the order below and, where the problem has a jax twin written in jax.numpy, with nested
``jax.jacfwd`` up to the highest order asked. The printed forms of the expression and its first
derivatives must read back: matrix notation through ``td.parse``, ``to_einsum`` as code.

Matrix Cookbook equation numbers (2012 edition) are given where the formula is there.
"""

import gc
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

import helpers
from helpers import assert_close, jacfwd_of_each_order, registry, sigmoid, spd, symbols_of

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = pytest.importorskip("jax.scipy.special")

EXACT = 1e-9   # closed forms and jax: both exact up to rounding, relative to the largest entry
FD = 2e-6      # central differences


@dataclass
class Case:
    expr: td.Expr
    wrt: td.Expr
    values: dict
    closed: dict                      # {order: numpy array}, the closed form of d^order expr / d wrt^order
    twin: Optional[Callable] = None   # dict of jax arrays -> jax array; None: no jax check (symmetric symbols)
    orders: tuple = (1, 2)            # orders checked against FD and jax
    printed: bool = True
    extra: dict = field(default_factory=dict)
    derivatives: dict = field(default_factory=dict)   # {order: expression}, filled by derivative()


CASES = {}
case = registry(CASES)


def rng_for(name):
    return helpers.rng_for(name, offset=7)


def well_conditioned(rng, n):
    return np.eye(n) * 2 + 0.3 * rng.standard_normal((n, n))


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- traces, inverses, determinants

@case
def trace_A_inv_X_B():
    A, X, B = td.matrix("A", "n m"), td.matrix("X", "m m"), td.matrix("B", "m n")
    rng = rng_for("tr(A X^-1 B)")
    v = dict(A=rng.standard_normal((2, 3)), X=well_conditioned(rng, 3), B=rng.standard_normal((3, 2)))
    Xi = np.linalg.inv(v["X"])
    return Case(td.trace(A @ td.inv(X) @ B), X, v, {1: -(Xi @ v["B"] @ v["A"] @ Xi).T},   # Cookbook (63)
                lambda w: jnp.trace(w["A"] @ jnp.linalg.inv(w["X"]) @ w["B"]), orders=(1, 2, 3))


@case
def logdet_general_matrix():
    X = td.matrix("X", "n n")
    rng = rng_for("logdet X")
    v = dict(X=well_conditioned(rng, 3))
    Xi = np.linalg.inv(v["X"])
    return Case(td.logdet(X), X, v, {1: Xi.T, 2: -np.einsum("jk,li->ijkl", Xi, Xi)},   # Cookbook (57)
                lambda w: jnp.linalg.slogdet(w["X"])[1], orders=(1, 2, 3))


@case
def det_general_matrix():
    X = td.matrix("X", "n n")
    rng = rng_for("det X")
    v = dict(X=well_conditioned(rng, 3))
    d, Xi = np.linalg.det(v["X"]), np.linalg.inv(v["X"])
    return Case(td.det(X), X, v, {1: d * Xi.T}, lambda w: jnp.linalg.det(w["X"]), orders=(1, 2, 3))   # (49)


@case
def inverse_jacobian_and_hessian():
    X = td.matrix("X", "n n")
    rng = rng_for("inv X")
    v = dict(X=well_conditioned(rng, 2))
    Xi = np.linalg.inv(v["X"])
    second = np.einsum("ik,lm,nj->ijklmn", Xi, Xi, Xi) + np.einsum("im,nk,lj->ijklmn", Xi, Xi, Xi)
    return Case(td.inv(X), X, v, {1: -np.einsum("ik,lj->ijkl", Xi, Xi), 2: second},   # Cookbook (59)
                lambda w: jnp.linalg.inv(w["X"]), orders=(1, 2))


@case
def trace_of_cube():
    X = td.matrix("X", "n n")
    rng = rng_for("tr X^3")
    v = dict(X=rng.standard_normal((3, 3)))
    x, eye = v["X"], np.eye(3)
    hessian = 3 * (np.einsum("jk,li->ijkl", eye, x) + np.einsum("jk,il->ijkl", x, eye))   # d 3(X²)_ji / dX_kl
    return Case(td.trace(X @ X @ X), X, v, {1: 3 * (x @ x).T, 2: hessian},   # Cookbook (101)
                lambda w: jnp.trace(w["X"] @ w["X"] @ w["X"]), orders=(1, 2, 3))


@case
def logdet_low_rank_plus_diagonal():
    U, d = td.matrix("U", "n k"), td.vector("d", "n")
    rng = rng_for("logdet(diag(d) + UU')")
    v = dict(U=rng.standard_normal((4, 2)), d=1 + rng.random(4))
    K = np.diag(v["d"]) + v["U"] @ v["U"].T
    Ki = np.linalg.inv(K)
    return Case(td.logdet(td.diag(d) + U @ U.T), U, v, {1: 2 * Ki @ v["U"]},
                lambda w: jnp.linalg.slogdet(jnp.diag(w["d"]) + w["U"] @ w["U"].T)[1], extra={"also": d,
                                                                                            "closed_d": np.diag(Ki)})


@case
def det_of_gram_matrix():
    X = td.matrix("X", "n p")
    rng = rng_for("det(X'X)")
    v = dict(X=rng.standard_normal((4, 2)))
    G = v["X"].T @ v["X"]
    return Case(td.det(X.T @ X), X, v, {1: 2 * np.linalg.det(G) * v["X"] @ np.linalg.inv(G)},   # Cookbook (55)
                lambda w: jnp.linalg.det(w["X"].T @ w["X"]))


@case
def logdet_symmetric_matrix():
    S = td.matrix("S", "n n", symmetric=True)
    rng = rng_for("logdet S sym")
    v = dict(S=spd(rng, 3))
    Si = np.linalg.inv(v["S"])
    full = -np.einsum("jk,li->ijkl", Si, Si)
    sym_both = (full + full.transpose(1, 0, 2, 3)) / 2
    sym_both = (sym_both + sym_both.transpose(0, 1, 3, 2)) / 2
    return Case(td.logdet(S), S, v, {1: Si, 2: sym_both}, None, orders=(1, 2))   # sym(G) on each S slot


@case
def cholesky_logdet():
    A = td.matrix("A", "n n")
    rng = rng_for("2 sum log diag chol")
    v = dict(A=spd(rng, 3))
    f = 2 * td.sum(td.log(td.diagonal(td.cholesky(A))))
    Ai = np.linalg.inv(v["A"])
    # cholesky reads the symmetric part (A + Aᵀ)/2: the gradient at a symmetric value is A⁻¹
    return Case(f, A, v, {1: Ai},
                lambda w: 2 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky((w["A"] + w["A"].T) / 2)))),
                orders=(1, 2))


# ---------------------------------------------------------------- quadratic forms, Gaussians

def mahalanobis(seed_name):
    """(x - mu)ᵀ S⁻¹ (x - mu) with its symbols (x, mu, S), values, S⁻¹, x - mu and jax twin."""
    x, mu, S = td.vector("x", "n"), td.vector("mu", "n"), td.matrix("S", "n n")
    rng = rng_for(seed_name)
    v = dict(x=rng.standard_normal(3), mu=rng.standard_normal(3), S=spd(rng, 3))
    return ((x - mu) @ td.inv(S) @ (x - mu), (x, mu, S), v, np.linalg.inv(v["S"]), v["x"] - v["mu"],
            lambda w: (w["x"] - w["mu"]) @ jnp.linalg.solve(w["S"], w["x"] - w["mu"]))


@case
def mahalanobis_in_x():
    f, (x, _, _), v, Si, r, twin = mahalanobis("mahalanobis")
    return Case(f, x, v, {1: (Si + Si.T) @ r, 2: Si + Si.T}, twin, orders=(1, 2, 3))   # Cookbook (86)


@case
def mahalanobis_in_covariance():
    f, (_, _, S), v, Si, r, twin = mahalanobis("mahalanobis S")
    return Case(f, S, v, {1: -Si.T @ np.outer(r, r) @ Si.T}, twin)   # Cookbook (61)


def gaussian_loglik(seed_name, n=5):
    """The log-likelihood of the n rows of D under N(mu, S) (constants dropped), with its symbols
    (mu, S), values, S⁻¹, the residuals R = D - muᵀ and its jax twin."""
    D, mu, S = td.matrix("D", "m n"), td.vector("mu", "n"), td.matrix("S", "n n")
    rng = rng_for(seed_name)
    v = dict(D=rng.standard_normal((n, 3)), mu=rng.standard_normal(3), S=spd(rng, 3))
    R = D - mu

    def twin(w):
        Rj = w["D"] - w["mu"]
        return -0.5 * n * jnp.linalg.slogdet(w["S"])[1] - 0.5 * jnp.sum(Rj * jnp.linalg.solve(w["S"], Rj.T).T)
    return (-0.5 * n * td.logdet(S) - 0.5 * td.sum(R * (R @ td.inv(S))), (mu, S), v, np.linalg.inv(v["S"]),
            v["D"] - v["mu"], twin)


@case
def gaussian_loglik_in_mean():
    f, (mu, _), v, Si, R, twin = gaussian_loglik("gauss mu")
    return Case(f, mu, v, {1: 0.5 * (Si + Si.T) @ R.sum(axis=0), 2: -2.5 * (Si + Si.T)}, twin, orders=(1, 2, 3))


@case
def gaussian_loglik_in_covariance():
    f, (_, S), v, Si, R, twin = gaussian_loglik("gauss S")
    return Case(f, S, v, {1: -2.5 * Si.T + 0.5 * Si.T @ R.T @ R @ Si.T}, twin, orders=(1, 2))


@case
def gaussian_process_noise_scale():
    A, y, s = td.matrix("A", "n n"), td.vector("y", "n"), td.scalar("s")
    K = A + s ** 2 * td.eye("n")
    rng = rng_for("gp s")
    v = dict(A=spd(rng, 4, 0.5), y=rng.standard_normal(4), s=0.7)
    Ki = np.linalg.inv(v["A"] + 0.49 * np.eye(4))
    a = Ki @ v["y"]
    return Case(y @ td.inv(K) @ y + td.logdet(K), s, v, {1: 2 * 0.7 * (np.trace(Ki) - a @ a)},
                lambda w: w["y"] @ jnp.linalg.solve(w["A"] + w["s"] ** 2 * jnp.eye(4), w["y"])
                + jnp.linalg.slogdet(w["A"] + w["s"] ** 2 * jnp.eye(4))[1], orders=(1, 2, 3, 4))


@case
def rayleigh_quotient():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    rng = rng_for("rayleigh")
    a = rng.standard_normal((3, 3))
    v = dict(x=rng.standard_normal(3), A=a + a.T)
    xx, Ax = v["x"] @ v["x"], v["A"] @ v["x"]
    r = v["x"] @ Ax / xx
    return Case((x @ A @ x) / (x @ x), x, v, {1: 2 * (Ax - r * v["x"]) / xx},
                lambda w: (w["x"] @ w["A"] @ w["x"]) / (w["x"] @ w["x"]), orders=(1, 2, 3))


@case
def squared_quadratic_order_four():
    w, A = td.vector("w", "n"), td.matrix("A", "n n")
    rng = rng_for("(w'Aw)^2")
    v = dict(w=rng.standard_normal(3), A=rng.standard_normal((3, 3)))
    S = (v["A"] + v["A"].T) / 2
    fourth = 8 * (np.einsum("ab,cd->abcd", S, S) + np.einsum("ac,bd->abcd", S, S) + np.einsum("ad,bc->abcd", S, S))
    q = v["w"] @ S @ v["w"]
    return Case((w @ A @ w) ** 2, w, v, {1: 4 * q * S @ v["w"], 4: fourth},
                lambda u: (u["w"] @ u["A"] @ u["w"]) ** 2, orders=(1, 2, 3, 4))


# ---------------------------------------------------------------- least squares, regression losses

@case
def frobenius_residual_AXB():
    A, X, B, C = td.matrix("A", "m n"), td.matrix("X", "n p"), td.matrix("B", "p q"), td.matrix("C", "m q")
    rng = rng_for("||AXB - C||")
    v = dict(A=rng.standard_normal((3, 2)), X=rng.standard_normal((2, 2)), B=rng.standard_normal((2, 3)),
             C=rng.standard_normal((3, 3)))
    R = v["A"] @ v["X"] @ v["B"] - v["C"]
    hessian = 2 * np.einsum("ik,jl->ijkl", v["A"].T @ v["A"], v["B"] @ v["B"].T)
    return Case(td.norm(A @ X @ B - C) ** 2, X, v, {1: 2 * v["A"].T @ R @ v["B"].T, 2: hessian},
                lambda w: jnp.sum((w["A"] @ w["X"] @ w["B"] - w["C"]) ** 2), orders=(1, 2, 3))


@case
def trace_quadratic_XtAX():
    X, A = td.matrix("X", "n p"), td.matrix("A", "n n")
    rng = rng_for("tr(X'AX)")
    v = dict(X=rng.standard_normal((3, 2)), A=rng.standard_normal((3, 3)))
    S = v["A"] + v["A"].T
    return Case(td.trace(X.T @ A @ X), X, v, {1: S @ v["X"], 2: np.einsum("ik,jl->ijkl", S, np.eye(2))},   # (109)
                lambda w: jnp.trace(w["X"].T @ w["A"] @ w["X"]))


@case
def huber_regression():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    delta = 0.8
    r = X @ w - y
    f = td.sum(td.where(td.abs(r) <= delta, 0.5 * r * r, delta * (td.abs(r) - 0.5 * delta)))
    rng = rng_for("huber")
    v = dict(X=rng.standard_normal((6, 2)), w=rng.standard_normal(2))
    v["y"] = v["X"] @ v["w"] + np.array([0.1, -0.3, 2.0, -1.5, 0.5, 3.0])   # residuals away from ±delta
    rv = v["X"] @ v["w"] - v["y"]
    inside = np.abs(rv) <= delta
    return Case(f, w, v, {1: v["X"].T @ np.clip(rv, -delta, delta), 2: v["X"].T @ (inside[:, None] * v["X"])},
                lambda u: jnp.sum(jnp.where(jnp.abs(u["X"] @ u["w"] - u["y"]) <= delta,
                                            0.5 * (u["X"] @ u["w"] - u["y"]) ** 2,
                                            delta * (jnp.abs(u["X"] @ u["w"] - u["y"]) - 0.5 * delta))),
                orders=(1, 2, 3))


@case
def logistic_loss():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.softplus(-y * (X @ w)))
    rng = rng_for("logistic")
    v = dict(X=rng.standard_normal((6, 3)), w=0.5 * rng.standard_normal(3), y=rng.choice([-1.0, 1.0], 6))
    z = v["y"] * (v["X"] @ v["w"])
    s = sigmoid(z)
    return Case(f, w, v, {1: -v["X"].T @ (v["y"] * sigmoid(-z)), 2: v["X"].T @ ((s * (1 - s))[:, None] * v["X"])},
                lambda u: jnp.sum(jax.nn.softplus(-u["y"] * (u["X"] @ u["w"]))), orders=(1, 2, 3))


@case
def poisson_regression():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.exp(X @ w) - y * (X @ w))
    rng = rng_for("poisson")
    v = dict(X=0.5 * rng.standard_normal((5, 2)), w=rng.standard_normal(2), y=rng.integers(0, 4, 5).astype(float))
    mu = np.exp(v["X"] @ v["w"])
    third = np.einsum("i,ia,ib,ic->abc", mu, v["X"], v["X"], v["X"])
    return Case(f, w, v, {1: v["X"].T @ (mu - v["y"]), 2: v["X"].T @ (mu[:, None] * v["X"]), 3: third},
                lambda u: jnp.sum(jnp.exp(u["X"] @ u["w"]) - u["y"] * (u["X"] @ u["w"])), orders=(1, 2, 3))


@case
def unsquared_residual_norm():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    rng = rng_for("||Xw - y||")
    v = dict(X=rng.standard_normal((4, 2)), w=rng.standard_normal(2), y=rng.standard_normal(4))
    r = v["X"] @ v["w"] - v["y"]
    return Case(td.norm(X @ w - y), w, v, {1: v["X"].T @ r / np.linalg.norm(r)},
                lambda u: jnp.linalg.norm(u["X"] @ u["w"] - u["y"]), orders=(1, 2, 3))


@case
def ridge_solution_in_lambda():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    rng = rng_for("ridge lam")
    v = dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), lam=0.6)
    Mi = np.linalg.inv(v["X"].T @ v["X"] + 0.6 * np.eye(3))
    wv = Mi @ v["X"].T @ v["y"]
    closed = {1: -Mi @ wv, 2: 2 * Mi @ Mi @ wv, 3: -6 * Mi @ Mi @ Mi @ wv}   # d^k w/dλ^k = (-1)^k k! M^-k w
    return Case(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, lam, v, closed,
                lambda u: jnp.linalg.solve(u["X"].T @ u["X"] + u["lam"] * jnp.eye(3), u["X"].T @ u["y"]),
                orders=(1, 2, 3, 4))


@case
def relu_regression():
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    rng = rng_for("relu")
    v = dict(X=rng.standard_normal((6, 2)), w=np.array([0.7, -1.1]))
    z = v["X"] @ v["w"]
    return Case(td.sum(td.relu(X @ w) ** 2), w, v,
                {1: 2 * v["X"].T @ np.maximum(z, 0), 2: 2 * v["X"].T @ ((z > 0)[:, None] * v["X"])},
                lambda u: jnp.sum(jax.nn.relu(u["X"] @ u["w"]) ** 2), orders=(1, 2, 3))


# ---------------------------------------------------------------- soft maxima, attention, pooling

@case
def softmax_cross_entropy_hessian():
    z = td.vector("z", "k")
    rng = rng_for("sce")
    v = dict(z=rng.standard_normal(4))
    p = softmax(v["z"])
    onehot = np.eye(4)[2]
    return Case(td.logsumexp(z) - z[2], z, v, {1: p - onehot, 2: np.diag(p) - np.outer(p, p)},
                lambda u: jsp.logsumexp(u["z"]) - u["z"][2], orders=(1, 2, 3, 4))


@case
def softmax_jacobian():
    z = td.vector("z", "k")
    rng = rng_for("softmax J")
    v = dict(z=rng.standard_normal(4))
    p = softmax(v["z"])
    return Case(td.softmax(z), z, v, {1: np.diag(p) - np.outer(p, p)}, lambda u: jax.nn.softmax(u["z"]),
                orders=(1, 2, 3))


@case
def log_softmax_jacobian():
    z = td.vector("z", "k")
    rng = rng_for("log softmax J")
    v = dict(z=rng.standard_normal(4))
    p = softmax(v["z"])
    return Case(td.log_softmax(z), z, v, {1: np.eye(4) - p[None, :]}, lambda u: jax.nn.log_softmax(u["z"]),
                orders=(1, 2))


@case
def batched_logsumexp_in_weights():
    X, W = td.matrix("X", "b d"), td.matrix("W", "d k")
    rng = rng_for("lse XW")
    v = dict(X=rng.standard_normal((4, 3)), W=0.5 * rng.standard_normal((3, 2)))
    P = softmax(v["X"] @ v["W"], axis=1)
    return Case(td.sum(td.logsumexp(X @ W, axis=1)), W, v, {1: v["X"].T @ P},
                lambda u: jnp.sum(jsp.logsumexp(u["X"] @ u["W"], axis=1)), orders=(1, 2))


@case
def attention_in_queries():
    Q, K, V = td.matrix("Q", "n d"), td.matrix("K", "m d"), td.matrix("V", "m e")
    d = 3
    rng = rng_for("attention Q")
    v = dict(Q=rng.standard_normal((2, d)), K=rng.standard_normal((4, d)), V=rng.standard_normal((4, 2)))
    P = softmax(v["Q"] @ v["K"].T / math.sqrt(d), axis=1)
    centred = v["K"][None, :, :] - np.einsum("ik,kb->ib", P, v["K"])[:, None, :]    # K_jb - Σ_k P_ik K_kb
    jac = np.einsum("ia,ij,ijb,je->ieab", np.eye(2), P, centred, v["V"]) / math.sqrt(d)
    return Case(td.softmax(Q @ K.T / math.sqrt(d)) @ V, Q, v, {1: jac},
                lambda u: jax.nn.softmax(u["Q"] @ u["K"].T / math.sqrt(d), axis=1) @ u["V"], orders=(1, 2))


@case
def max_pooling_rows():
    X = td.matrix("X", "n m")
    rng = rng_for("max pool")
    v = dict(X=rng.permutation(12).reshape(3, 4) / 3.0)   # distinct entries: no ties
    jac = np.zeros((3, 3, 4))
    for i, j in enumerate(np.argmax(v["X"], axis=1)):
        jac[i, i, j] = 1.0
    return Case(td.max(X, axis=1), X, v, {1: jac, 2: np.zeros((3, 3, 4, 3, 4))},
                lambda u: jnp.max(u["X"], axis=1), orders=(1, 2))


@case
def maximum_of_two_matrices():
    A, B = td.matrix("A", "n m"), td.matrix("B", "n m")
    rng = rng_for("maximum")
    v = dict(A=rng.standard_normal((2, 3)), B=rng.standard_normal((2, 3)))
    mask = (v["A"] > v["B"]).astype(float)
    return Case(td.sum(td.maximum(A, B) ** 2), A, v, {1: 2 * mask * v["A"]},
                lambda u: jnp.sum(jnp.maximum(u["A"], u["B"]) ** 2), orders=(1, 2))


# ---------------------------------------------------------------- Kronecker products, vec, Lyapunov forms

@case
def kron_times_vec():
    A, B, X = td.matrix("A", "p p"), td.matrix("B", "q q"), td.matrix("X", "q p")
    rng = rng_for("kron vec")
    v = dict(A=rng.standard_normal((2, 2)), B=rng.standard_normal((3, 3)), X=rng.standard_normal((3, 2)))
    K = np.kron(v["A"], v["B"])                        # (A ⊗ B) vec(X) = vec(B X Aᵀ): Magnus-Neudecker
    jac = K.reshape(6, 2, 3).transpose(0, 2, 1)        # column k of K is vec's entry (k % q, k // q)
    f = td.kron(A, B) @ td.vec(X)
    assert np.allclose(td.evaluate(f, v), (v["B"] @ v["X"] @ v["A"].T).reshape(-1, order="F"))
    return Case(f, X, v, {1: jac, 2: np.zeros((6, 3, 2, 3, 2))},
                lambda u: jnp.kron(u["A"], u["B"]) @ u["X"].T.reshape(-1), orders=(1, 2))


@case
def vec_of_AXB():
    A, X, B = td.matrix("A", "m n"), td.matrix("X", "n p"), td.matrix("B", "p q")
    rng = rng_for("vec AXB")
    v = dict(A=rng.standard_normal((2, 3)), X=rng.standard_normal((3, 2)), B=rng.standard_normal((2, 2)))
    K = np.kron(v["B"].T, v["A"])                      # d vec(AXB) / d vec(X) = Bᵀ ⊗ A
    jac = K.reshape(4, 2, 3).transpose(0, 2, 1)
    return Case(td.vec(A @ X @ B), X, v, {1: jac},
                lambda u: (u["A"] @ u["X"] @ u["B"]).T.reshape(-1), orders=(1, 2))


@case
def kron_in_its_first_factor():
    A, B = td.matrix("A", "m n"), td.matrix("B", "p q")
    rng = rng_for("kron A")
    v = dict(A=rng.standard_normal((2, 2)), B=rng.standard_normal((2, 3)))
    jac = np.einsum("ac,bd,ef->aebfcd", np.eye(2), np.eye(2), v["B"]).reshape(4, 6, 2, 2)
    return Case(td.kron(A, B), A, v, {1: jac}, lambda u: jnp.kron(u["A"], u["B"]), orders=(1, 2))


@case
def lyapunov_like_form():
    A, X, B = td.matrix("A", "n n"), td.matrix("X", "n n"), td.matrix("B", "n n")
    rng = rng_for("lyapunov")
    v = dict(A=rng.standard_normal((3, 3)), X=rng.standard_normal((3, 3)), B=rng.standard_normal((3, 3)))
    jac = np.einsum("ik,lj->ijkl", v["A"], v["B"]) + np.einsum("li,jk->ijkl", v["B"], v["A"])
    return Case(A @ X @ B + B.T @ X.T @ A.T, X, v, {1: jac, 2: np.zeros((3,) * 6)},
                lambda u: u["A"] @ u["X"] @ u["B"] + u["B"].T @ u["X"].T @ u["A"].T, orders=(1, 2))


@case
def reshape_jacobian():
    X = td.matrix("X", "n p")
    rng = rng_for("reshape")
    v = dict(X=rng.standard_normal((2, 3)))
    return Case(td.tanh(td.reshape(X, "n·p")), X, v,
                {1: (1 - np.tanh(v["X"].reshape(-1)) ** 2)[:, None, None] * np.eye(6).reshape(6, 2, 3)},
                lambda u: jnp.tanh(u["X"].reshape(-1)), orders=(1, 2, 3))


# ---------------------------------------------------------------- networks, higher orders

@case
def sigmoid_network_output_weights():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    rng = rng_for("net a")
    v = dict(X=rng.standard_normal((5, 3)), W=rng.standard_normal((3, 2)), a=rng.standard_normal(2),
             y=rng.standard_normal(5))
    H = sigmoid(v["X"] @ v["W"])
    return Case(td.sum((td.sigmoid(X @ W) @ a - y) ** 2), a, v,
                {1: 2 * H.T @ (H @ v["a"] - v["y"]), 2: 2 * H.T @ H},
                lambda u: jnp.sum((jax.nn.sigmoid(u["X"] @ u["W"]) @ u["a"] - u["y"]) ** 2), orders=(1, 2, 3))


@case
def tanh_network_hidden_weights():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    rng = rng_for("net W")
    v = dict(X=rng.standard_normal((5, 2)), W=rng.standard_normal((2, 2)), a=rng.standard_normal(2),
             y=rng.standard_normal(5))
    Hv = np.tanh(v["X"] @ v["W"])
    E = Hv @ v["a"] - v["y"]
    return Case(td.norm(td.tanh(X @ W) @ a - y) ** 2, W, v, {1: 2 * v["X"].T @ ((1 - Hv ** 2) * np.outer(E, v["a"]))},
                lambda u: jnp.sum((jnp.tanh(u["X"] @ u["W"]) @ u["a"] - u["y"]) ** 2), orders=(1, 2, 3))


@case
def elementwise_tanh_order_four():
    x = td.vector("x", "n")
    rng = rng_for("tanh 4")
    v = dict(x=rng.standard_normal(3))
    t = np.tanh(v["x"])
    d4 = np.zeros((3,) * 4)
    for i in range(3):
        d4[i, i, i, i] = tanh_fourth(t[i])
    return Case(td.sum(td.tanh(x)), x, v, {4: d4}, lambda u: jnp.sum(jnp.tanh(u["x"])), orders=(1, 2, 3, 4))


def tanh_fourth(t):
    """The fourth derivative of tanh where tanh is t, from tanh' = s = 1 - t*t: tanh'' = -2ts,
    tanh''' = -2s^2 + 4t^2 s, and tanh'''' = 8ts^2 + 8ts^2 - 8t^3 s = 16ts^2 - 8t^3 s."""
    s = 1 - t * t
    return 16 * t * s * s - 8 * t ** 3 * s


# ---------------------------------------------------------------- checking

def _get(name):
    """The problem, built afresh: the symbols of the problems before it are collected first. They
    share names with other dims (X is n×n here, n×p there), and a value for a name that several
    live symbols have cannot size the dims of a derivative that lost its symbol."""
    gc.collect()
    return CASES[name]()


NAMES = sorted(CASES)


def derivative(c, order):
    """d^order expr / d wrt^order, each order differentiated once per case and kept on it."""
    if order not in c.derivatives:
        c.derivatives[order] = c.expr if order == 0 else td.diff(derivative(c, order - 1), c.wrt)
    return c.derivatives[order]


def value(c, e):
    return np.asarray(td.evaluate(e, c.values), dtype=float)


def test_there_are_at_least_thirty_problems():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_equal_their_closed_forms(name):
    c = _get(name)
    for order, closed in c.closed.items():
        assert_close(value(c, derivative(c, order)), closed, EXACT, f"{name}: order {order} vs closed form")
    if "closed_d" in c.extra:   # a second symbol's closed form
        assert_close(value(c, td.diff(c.expr, c.extra["also"])), c.extra["closed_d"], EXACT, f"{name}: second symbol")


@pytest.mark.parametrize("name", NAMES)
def test_each_order_matches_finite_differences_of_the_one_below(name):
    c = _get(name)
    for order in sorted(set(c.orders) | set(c.closed)):
        if order > 2 and np.size(c.values[c.wrt.name]) > 6:
            continue   # each difference of an order-3 tensor costs an evaluation per entry of wrt
        numeric = numeric_diff(derivative(c, order - 1), c.wrt, c.values)
        assert_close(value(c, derivative(c, order)), numeric, FD, f"{name}: order {order} vs FD")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("logdet_symmetric_matrix",)])
def test_derivatives_match_nested_jax_jacfwd(name):
    c = _get(name)
    assert c.twin is not None
    reference = jax_value_and_derivatives(c, max(c.orders))
    assert_close(value(c, c.expr), reference[0], EXACT, f"{name}: value vs jax")
    for order in c.orders:
        assert_close(value(c, derivative(c, order)), reference[order], EXACT, f"{name}: order {order} vs jax.jacfwd")


def jax_value_and_derivatives(c, top):
    """The twin's value and its nested ``jax.jacfwd`` of orders 1..top at the case's values."""
    base = {k: jnp.asarray(np.asarray(x, dtype=float)) for k, x in c.values.items()}
    return jacfwd_of_each_order(lambda x: c.twin({**base, c.wrt.name: x}), base[c.wrt.name], top)


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_read_back(name):
    """Matrix notation (plain and tprod, up to order 4) parses back to the same values; the einsum
    code runs to the same values; LaTeX and index notation print."""
    c = _get(name)
    read = 0
    for e in [c.expr, derivative(c, 1)]:
        assert td.latex(e) and td.index_notation(e)
        scope = {"np": np, **{k: np.asarray(x, dtype=float) for k, x in c.values.items()}}
        exec(td.to_einsum(e, sized_by=c.wrt), scope)   # noqa: S102 - the generated code is what is tested
        assert_close(scope["out"], value(c, e), 1e-10, f"{name}: to_einsum")
        text = str(td.matrix_notation(e))
        if e.ndim > 4 or text.startswith("no matrix notation"):
            continue
        parsed = td.parse(text, symbols=symbols_of(e))
        assert parsed.ndim == e.ndim, (name, text)
        want = value(c, e)
        sizes = {d: n for d, n in zip(parsed.shape, want.shape) if d not in e.shape}
        got = np.asarray(td.evaluate(parsed, c.values, **sizes), dtype=float)
        assert_close(got, want, 1e-9, f"{name}: td.parse({text!r})")
        read += 1
    assert read or name in NO_MATRIX_FORM, f"{name}: nothing printed in matrix notation"


# the expression and its first derivative print in index notation only (no matrix notation today)
NO_MATRIX_FORM = {"attention_in_queries", "softmax_cross_entropy_hessian", "max_pooling_rows", "log_softmax_jacobian", "softmax_jacobian",
                  "kron_in_its_first_factor", "reshape_jacobian"}


def test_several_symbols_hessian_blocks_of_the_cross_entropy_match_jax():
    """td.hessian(f, [W, b]) blocks, as jax.hessian(f, argnums=(0, 1)) gives them, for a softmax
    classifier; the b-b block is the closed form diag(p) - p pᵀ."""
    W, b, x = td.matrix("W", "k n"), td.vector("b", "k"), td.vector("x", "n")
    z = W @ x + b
    f = td.logsumexp(z) - z[1]
    rng = rng_for("blocks")
    v = dict(W=rng.standard_normal((3, 2)), b=rng.standard_normal(3), x=rng.standard_normal(2))
    blocks = td.compile(td.hessian(f, [W, b]))(v)
    grads = td.evaluate(list(td.grad(f, [W, b])), v)

    def twin(Wj, bj):
        zj = Wj @ v["x"] + bj
        return jsp.logsumexp(zj) - zj[1]
    @jax.jit   # one compile for both, instead of eager dispatch of every operation of the Hessian
    def grad_and_hessian(Wj, bj):
        return jax.grad(twin, argnums=(0, 1))(Wj, bj), jax.hessian(twin, argnums=(0, 1))(Wj, bj)
    want_g, want_h = grad_and_hessian(jnp.asarray(v["W"]), jnp.asarray(v["b"]))
    for i in range(2):
        assert_close(grads[i], np.asarray(want_g[i]), EXACT, f"grad {i}")
        for j in range(2):
            assert_close(blocks[i][j], np.asarray(want_h[i][j]), EXACT, f"block {i},{j}")
    p = softmax(v["W"] @ v["x"] + v["b"])
    assert_close(blocks[1][1], np.diag(p) - np.outer(p, p), EXACT, "b-b block closed form")
    assert_close(grads[0], np.outer(p - np.eye(3)[1], v["x"]), EXACT, "W gradient closed form")
