"""Fresh independent problems, none in the other campaign files: Gaussian-process likelihoods built
from their input points (in the length-scale to order 5, in the points with directional orders),
ridge in its penalty to order 4 (effective degrees of freedom, solution norm, a one-feature
problem whose systems are 1×1), softmax cross-entropy over a batch with a broadcast bias and in its
temperature, log-sum-exp / max / relu / clip mixtures, vec(AXB) = (Bᵀ ⊗ A)vec(X) inside a least
squares loss, log det of a Kronecker product, Cholesky log-dets and solves to order 3, symmetric
matrix arguments (the gradient is sym(G)), trace/det/inverse compositions, elementwise functions
on their domains (log, sqrt, arcsin, arccos), an SDP log-barrier to order 3, KL divergence,
zero-size and one-size dims.

Every problem is checked against its closed form (worked out by hand in the comment, written in
numpy), against central finite differences of the order below, and against nested ``jax.jacfwd``
of a twin written in jax.numpy: all symbols of a problem are packed into one flat vector, so one
jitted ``helpers.jacfwd_of_each_order`` per problem gives every order in every symbol and every
mixed block (the Hessian blocks of ``td.hessian(f, [x, y])``). Printed forms (LaTeX, index
notation, einsum code, matrix notation through ``td.parse``) are read back, and float32 inputs
give float32 results within float32's rounding.
"""

import gc
import itertools
import math
import weakref
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

from helpers import assert_close, jacfwd_of_each_order, printed_forms_read_back, registry, softmax_rows, spd, sym

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = pytest.importorskip("jax.scipy.special")

EXACT = 1e-9    # closed forms and jax: exact up to rounding, relative to the largest entry (or 1)
FD = 2e-6       # central differences of the order below
# float32 against float64 on the same expression: 2e-5 relative to the largest entry (or 1) is
# about 170 float32 epsilons (1.19e-7), room for the rounding of a few chained solves on data
# whose condition numbers are below 20
FLOAT32 = 2e-5
FD_ENTRIES = 6  # orders above 2 are differenced only in symbols this small (an evaluation per entry)


@dataclass
class Problem:
    expr: td.Expr
    wrt: list                  # symbols, all differentiated to order ``top``
    values: dict
    twin: Callable             # dict of jax arrays -> jax array, written independently in jax.numpy
    closed: dict               # {(symbol name, order): numpy array}
    top: int = 2
    several: bool = False      # td.hessian(f, wrt) and td.grad(f, wrt) against the mixed blocks
    direction: Optional[tuple] = None   # (symbol, direction symbol, its value, top order)
    extra: dict = field(default_factory=dict)


PROBLEMS = {}
problem = registry(PROBLEMS)


def rng_of(name):
    return np.random.default_rng(sum(map(ord, name)) + 2027)


def well_conditioned(rng, n):
    return 2 * np.eye(n) + 0.3 * rng.standard_normal((n, n))


def sym_hessian(h):
    """A Hessian in a symmetric matrix, from the one taking its entries as independent: symmetrised
    over each pair of slots, tensordiff's convention ∂S[a,b]/∂S[c,d] = (δac δbd + δad δbc)/2."""
    h = (h + h.transpose(1, 0, 2, 3)) / 2
    return (h + h.transpose(0, 1, 3, 2)) / 2


# ---------------------------------------------------------------- Gaussian processes

def rbf_gp(points_dims="n d"):
    """-½ yᵀK⁻¹y - ½ log det K with K = exp(-D/(2ℓ²)) + 0.1 I, D the squared distances of the
    rows of P built inside the expression; the pieces a closed form needs, and its jax twin."""
    P, y, ell = td.matrix("P", points_dims), td.vector("y", "n"), td.scalar("ell")
    gram = P @ P.T
    sq = td.diagonal(gram)
    D = td.outer(sq, td.ones("n")) + td.outer(td.ones("n"), sq) - 2 * gram
    K = td.exp(-D / (2 * ell ** 2)) + 0.1 * td.eye("n")
    f = -0.5 * y @ td.solve(K, y) - 0.5 * td.logdet(K)

    def twin(u):
        Dj = jnp.sum((u["P"][:, None, :] - u["P"][None, :, :]) ** 2, axis=-1)
        Kj = jnp.exp(-Dj / (2 * u["ell"] ** 2)) + 0.1 * jnp.eye(Dj.shape[0])
        return -0.5 * u["y"] @ jnp.linalg.solve(Kj, u["y"]) - 0.5 * jnp.linalg.slogdet(Kj)[1]
    return f, (P, y, ell), twin


def rbf_gp_values(name, n, d, ell):
    rng = rng_of(name)
    v = dict(P=rng.standard_normal((n, d)), y=rng.standard_normal(n), ell=ell)
    D = np.sum((v["P"][:, None] - v["P"][None]) ** 2, axis=-1)
    K0 = np.exp(-D / (2 * ell ** 2))
    Ki = np.linalg.inv(K0 + 0.1 * np.eye(n))
    return v, D, K0, Ki, Ki @ v["y"]


def gp_lengthscale_derivatives(D, K0, Ki, a, ell):
    """f' = ½aᵀK'a - ½tr(K⁻¹K'), f'' = -aᵀK'K⁻¹K'a + ½aᵀK''a + ½tr(K⁻¹K'K⁻¹K') - ½tr(K⁻¹K''),
    with a = K⁻¹y, K' = K₀∘D/ℓ³ and K'' = K₀∘(D²/ℓ⁶ - 3D/ℓ⁴)."""
    d1 = K0 * D / ell ** 3
    d2 = K0 * (D ** 2 / ell ** 6 - 3 * D / ell ** 4)
    first = 0.5 * a @ d1 @ a - 0.5 * np.trace(Ki @ d1)
    second = -a @ d1 @ Ki @ d1 @ a + 0.5 * a @ d2 @ a + 0.5 * np.trace(Ki @ d1 @ Ki @ d1) - 0.5 * np.trace(Ki @ d2)
    return first, second


@problem
def gp_rbf_likelihood_in_lengthscale_to_order_five():
    f, (_, _, ell), twin = rbf_gp()
    v, D, K0, Ki, a = rbf_gp_values("gp ell", 4, 2, 1.3)
    first, second = gp_lengthscale_derivatives(D, K0, Ki, a, 1.3)
    return Problem(f, [ell], v, twin, {("ell", 1): first, ("ell", 2): second}, top=5)


@problem
def gp_rbf_likelihood_in_its_input_points():
    # G = ∂f/∂K = ½(aaᵀ - K⁻¹), W = G∘K₀: ∂f/∂p_k = -(2/ℓ²) Σ_j W_kj (p_k - p_j), i.e. -(2/ℓ²)(diag(W1)P - WP)
    f, (P, _, ell), twin = rbf_gp()
    v, D, K0, Ki, a = rbf_gp_values("gp points", 4, 2, 0.9)
    W = 0.5 * (np.outer(a, a) - Ki) * K0
    grad_P = -(2 / 0.9 ** 2) * (W.sum(axis=1)[:, None] * v["P"] - W @ v["P"])
    first, _ = gp_lengthscale_derivatives(D, K0, Ki, a, 0.9)
    U = td.matrix("U_gp_direction", "n d")
    direction = (P, U, rng_of("gp direction").standard_normal((4, 2)), 3)
    return Problem(f, [P, ell], v, twin, {("P", 1): grad_P, ("ell", 1): first}, several=True, direction=direction)


@problem
def gp_one_point_noise_scale():
    # n = 1: K = a + s², f = -½y²/K - ½log K; f' = y²s/K² - s/K, f'' = y²/K² - 4y²s²/K³ - 1/K + 2s²/K²
    A, y, s = td.matrix("A", "n n"), td.vector("y", "n"), td.scalar("s")
    K = A + s ** 2 * td.eye("n")
    f = -0.5 * y @ td.inv(K) @ y - 0.5 * td.logdet(K)
    v = dict(A=np.array([[0.8]]), y=np.array([1.7]), s=0.6)
    k, yy, sv = 0.8 + 0.36, 1.7 ** 2, 0.6
    closed = {("s", 1): yy * sv / k ** 2 - sv / k,
              ("s", 2): yy / k ** 2 - 4 * yy * sv ** 2 / k ** 3 - 1 / k + 2 * sv ** 2 / k ** 2}

    def twin(u):
        Kj = u["A"] + u["s"] ** 2 * jnp.eye(1)
        return -0.5 * u["y"] @ jnp.linalg.inv(Kj) @ u["y"] - 0.5 * jnp.linalg.slogdet(Kj)[1]
    return Problem(f, [s], v, twin, closed, top=4)


# ---------------------------------------------------------------- Cholesky

@problem
def cholesky_logdet_plus_whitened_norm_in_covariance_and_data():
    # L = chol(S): 2Σlog L_ii + ‖L⁻¹y‖² = log det S + yᵀS⁻¹y; ∂/∂S = S⁻¹ - S⁻¹yyᵀS⁻¹ (symmetric),
    # ∂²/∂S² = sym(-S⁻¹⊗S⁻¹ + S⁻¹⊗S⁻¹yyᵀS⁻¹ + S⁻¹yyᵀS⁻¹⊗S⁻¹), ∂/∂y = 2S⁻¹y, ∂²/∂y² = 2S⁻¹
    S, y = td.matrix("S", "n n", symmetric=True), td.vector("y", "n")
    L = td.cholesky(S)
    f = 2 * td.sum(td.log(td.diagonal(L))) + td.norm(td.solve(L, y)) ** 2
    rng = rng_of("cholesky")
    v = dict(S=spd(rng, 3), y=rng.standard_normal(3))
    Si = np.linalg.inv(v["S"])
    B = Si @ np.outer(v["y"], v["y"]) @ Si
    hessian = (-np.einsum("ac,db->abcd", Si, Si) + np.einsum("ac,db->abcd", Si, B) + np.einsum("ac,db->abcd", B, Si))
    closed = {("S", 1): Si - B, ("S", 2): sym_hessian(hessian), ("y", 1): 2 * Si @ v["y"], ("y", 2): 2 * Si}

    def twin(u):
        Lj = jnp.linalg.cholesky(u["S"])
        z = jax.scipy.linalg.solve_triangular(Lj, u["y"], lower=True)
        return 2 * jnp.sum(jnp.log(jnp.diag(Lj))) + z @ z
    # order 3 in S along a direction (in full, the first call's planning takes seconds: see the report)
    direction = (S, td.matrix("U_cholesky", "n n"), rng_of("cholesky direction").standard_normal((3, 3)), 3)
    return Problem(f, [S, y], v, twin, closed, several=True, direction=direction)


@problem
def cholesky_whitened_residual_matrix_in_its_mean():
    # ‖L⁻¹(Y - M)‖²_F = tr((Y - M)ᵀS⁻¹(Y - M)): ∂/∂M = -2S⁻¹(Y - M), ∂²/∂M[i,j]∂M[k,l] = 2S⁻¹_ik δ_jl
    S, Y, M = td.matrix("S", "n n"), td.matrix("Y", "n k"), td.matrix("M", "n k")
    f = td.sum(td.solve(td.cholesky(S), Y - M) ** 2)
    rng = rng_of("whitened")
    v = dict(S=spd(rng, 3), Y=rng.standard_normal((3, 2)), M=rng.standard_normal((3, 2)))
    Si = np.linalg.inv(v["S"])
    closed = {("M", 1): -2 * Si @ (v["Y"] - v["M"]), ("M", 2): 2 * np.einsum("ik,jl->ijkl", Si, np.eye(2)),
              ("M", 3): np.zeros((3, 2) * 3)}

    def twin(u):
        Lj = jnp.linalg.cholesky(u["S"])
        return jnp.sum(jax.scipy.linalg.solve_triangular(Lj, u["Y"] - u["M"], lower=True) ** 2)
    return Problem(f, [M], v, twin, closed, top=3)


# ---------------------------------------------------------------- ridge in its penalty

def ridge_values(name, n, p):
    rng = rng_of(name)
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    return dict(X=X, y=y), s ** 2, U.T @ y


@problem
def ridge_effective_degrees_of_freedom_to_order_four():
    # tr(X(XᵀX + αI)⁻¹Xᵀ) = Σ s²/(s² + α): the k-th derivative is Σ s²(-1)^k k!/(s² + α)^(k+1)
    X, alpha = td.matrix("X", "n p"), td.scalar("alpha")
    f = td.trace(X @ td.inv(X.T @ X + alpha * td.eye("p")) @ X.T)
    v, s2, _ = ridge_values("dof", 5, 3)
    v["alpha"] = 0.6
    closed = {("alpha", k): np.sum(s2 * (-1) ** k * math.factorial(k) / (s2 + 0.6) ** (k + 1)) for k in range(1, 5)}
    return Problem(f, [alpha], v, lambda u: jnp.trace(u["X"] @ jnp.linalg.inv(u["X"].T @ u["X"] + u["alpha"] * jnp.eye(3))
                                                      @ u["X"].T), closed, top=4)


@problem
def ridge_solution_norm_to_order_four():
    # ‖w(α)‖² = Σ c²s²/(s² + α)², c = Uᵀy: the k-th derivative is Σ c²s²(-1)^k (k+1)!/(s² + α)^(k+2)
    X, y, alpha = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("alpha")
    w = td.solve(X.T @ X + alpha * td.eye("p"), X.T @ y)
    v, s2, c = ridge_values("ridge norm", 6, 3)
    v["alpha"] = 0.4
    closed = {("alpha", k): np.sum(c * c * s2 * (-1) ** k * math.factorial(k + 1) / (s2 + 0.4) ** (k + 2)) for k in range(1, 5)}

    def twin(u):
        wj = jnp.linalg.solve(u["X"].T @ u["X"] + u["alpha"] * jnp.eye(3), u["X"].T @ u["y"])
        return wj @ wj
    return Problem(w @ w, [alpha], v, twin, closed, top=4)


@problem
def ridge_residual_with_one_feature_to_order_four():
    # p = 1 (1×1 systems): s = xᵀx, c = xᵀy, r(α) = ‖y‖² - 2c²/(s + α) + c²s/(s + α)², so
    # r⁽ᵏ⁾ = -2c²(-1)^k k!/(s + α)^(k+1) + c²s(-1)^k (k+1)!/(s + α)^(k+2)
    X, y, alpha = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("alpha")
    w = td.solve(X.T @ X + alpha * td.eye("p"), X.T @ y)
    f = td.norm(y - X @ w) ** 2
    v, s2, _ = ridge_values("one feature", 5, 1)
    v["alpha"] = 0.8
    sv, cc = float(s2[0]), float(v["X"][:, 0] @ v["y"]) ** 2
    closed = {("alpha", k): -2 * cc * (-1) ** k * math.factorial(k) / (sv + 0.8) ** (k + 1)
              + cc * sv * (-1) ** k * math.factorial(k + 1) / (sv + 0.8) ** (k + 2) for k in range(1, 5)}

    def twin(u):
        wj = jnp.linalg.solve(u["X"].T @ u["X"] + u["alpha"] * jnp.eye(1), u["X"].T @ u["y"])
        return jnp.sum((u["y"] - u["X"] @ wj) ** 2)
    return Problem(f, [alpha], v, twin, closed, top=4)


@problem
def ridge_with_per_feature_log_penalties():
    # w = (XᵀX + diag(eᵃ))⁻¹Xᵀy, f = ‖w‖²: ∂w/∂a_j = -M⁻¹e_j e^(a_j) w_j, so ∂f/∂a = -2eᵃ∘w∘(M⁻¹w)
    X, y, a = td.matrix("X", "n p"), td.vector("y", "n"), td.vector("a", "p")
    M = X.T @ X + td.diag(td.exp(a))
    w = td.solve(M, X.T @ y)
    v, _, _ = ridge_values("log penalties", 6, 3)
    v["a"] = np.array([-0.5, 0.2, 0.7])
    Mv = v["X"].T @ v["X"] + np.diag(np.exp(v["a"]))
    wv = np.linalg.solve(Mv, v["X"].T @ v["y"])
    closed = {("a", 1): -2 * np.exp(v["a"]) * wv * np.linalg.solve(Mv, wv)}

    def twin(u):
        wj = jnp.linalg.solve(u["X"].T @ u["X"] + jnp.diag(jnp.exp(u["a"])), u["X"].T @ u["y"])
        return wj @ wj
    return Problem(w @ w, [a], v, twin, closed, top=3)


# ---------------------------------------------------------------- softmax, log-sum-exp, max, relu

def one_hot(rng, n, k):
    return np.eye(k)[rng.integers(0, k, n)]


@problem
def softmax_cross_entropy_batch_with_broadcast_bias():
    # Z = XW + bᵀ (b spread over the rows), f = -Σ Y∘log softmax(Z): ∂/∂W = Xᵀ(P - Y), ∂/∂b = Σ_i(p_i - y_i),
    # ∂²/∂b² = Σ_i(diag p_i - p_ip_iᵀ), ∂²/∂W[a,c]∂W[b,e] = Σ_i X_ia X_ib (δ_ce p_ic - p_ic p_ie)
    X, W, b, Y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k"), td.matrix("Y", "n k")
    f = -td.sum(Y * td.log_softmax(X @ W + b))
    rng = rng_of("batch ce")
    v = dict(X=rng.standard_normal((5, 3)), W=rng.standard_normal((3, 3)) / 2, b=rng.standard_normal(3) / 2,
             Y=one_hot(rng, 5, 3))
    P = softmax_rows(v["X"] @ v["W"] + v["b"])
    cov = np.einsum("ic,ce->ice", P, np.eye(3)) - np.einsum("ic,ie->ice", P, P)
    closed = {("W", 1): v["X"].T @ (P - v["Y"]), ("b", 1): (P - v["Y"]).sum(axis=0), ("b", 2): cov.sum(axis=0),
              ("W", 2): np.einsum("ia,ib,ice->acbe", v["X"], v["X"], cov)}
    return Problem(f, [W, b], v, lambda u: -jnp.sum(u["Y"] * jax.nn.log_softmax(u["X"] @ u["W"] + u["b"], axis=-1)),
                   closed, several=True)


@problem
def softmax_cross_entropy_in_its_temperature_to_order_four():
    # soft labels (rows sum to 1), f(τ) = -Σ Y∘log softmax(Z/τ); with m_i = p_i·z_i and
    # v_i = Σ_k p_ik z_ik² - m_i²: f' = Σ_i (y_i - p_i)·z_i/τ², f'' = Σ_i v_i/τ⁴ - 2Σ_i (y_i - p_i)·z_i/τ³
    Z, Y, tau = td.matrix("Z", "n k"), td.matrix("Y", "n k"), td.scalar("tau")
    f = -td.sum(Y * td.log_softmax(Z / tau))
    rng = rng_of("temperature")
    v = dict(Z=rng.standard_normal((4, 3)) * 2, Y=0.85 * one_hot(rng, 4, 3) + 0.05, tau=1.4)
    P = softmax_rows(v["Z"] / 1.4)
    m = (P * v["Z"]).sum(axis=1)
    var = (P * v["Z"] ** 2).sum(axis=1) - m ** 2
    g = ((v["Y"] - P) * v["Z"]).sum()
    closed = {("tau", 1): g / 1.4 ** 2, ("tau", 2): var.sum() / 1.4 ** 4 - 2 * g / 1.4 ** 3}
    return Problem(f, [tau], v, lambda u: -jnp.sum(u["Y"] * jax.nn.log_softmax(u["Z"] / u["tau"], axis=-1)), closed, top=4)


@problem
def logsumexp_minus_max_plus_squared_relu():
    # f = lse(Ax) - max(Bx) + Σ relu(Cx - d)², away from ties and kinks: ∇ = Aᵀp - B[top] + 2Cᵀrelu(Cx - d),
    # ∇² = Aᵀ(diag p - ppᵀ)A + 2Cᵀdiag(Cx > d)C
    x, A, B, C, d = td.vector("x", "p"), td.matrix("A", "m p"), td.matrix("B", "m p"), td.matrix("C", "q p"), td.vector("d", "q")
    f = td.logsumexp(A @ x) - td.max(B @ x) + td.sum(td.relu(C @ x - d) ** 2)
    rng = rng_of("mixture")
    v = dict(x=rng.standard_normal(3), A=rng.standard_normal((4, 3)), B=rng.standard_normal((4, 3)),
             C=rng.standard_normal((5, 3)), d=rng.standard_normal(5))
    z, r = v["B"] @ v["x"], v["C"] @ v["x"] - v["d"]
    assert np.sort(z)[-1] - np.sort(z)[-2] > 0.1 and np.min(np.abs(r)) > 0.05   # away from ties and kinks
    p = np.exp(v["A"] @ v["x"]) / np.exp(v["A"] @ v["x"]).sum()
    on = (r > 0).astype(float)
    closed = {("x", 1): v["A"].T @ p - v["B"][np.argmax(z)] + 2 * v["C"].T @ (r * on),
              ("x", 2): v["A"].T @ (np.diag(p) - np.outer(p, p)) @ v["A"] + 2 * v["C"].T @ np.diag(on) @ v["C"]}
    return Problem(f, [x], v, lambda u: jsp.logsumexp(u["A"] @ u["x"]) - jnp.max(u["B"] @ u["x"])
                   + jnp.sum(jax.nn.relu(u["C"] @ u["x"] - u["d"]) ** 2), closed, top=3)


@problem
def row_logsumexp_minus_row_max():
    # Σ_i (lse(Z_i) - max(Z_i)): ∇ = softmax(Z) - onehot(argmax), ∇²[i,a,j,b] = δ_ij(δ_ab p_ia - p_ia p_ib)
    Z = td.matrix("Z", "n k")
    f = td.sum(td.logsumexp(Z, axis=1) - td.max(Z, axis=1))
    rng = rng_of("row lse")
    v = dict(Z=rng.standard_normal((3, 3)))
    P = softmax_rows(v["Z"])
    hess = np.einsum("ij,ia,ab->iajb", np.eye(3), P, np.eye(3)) - np.einsum("ij,ia,ib->iajb", np.eye(3), P, P)
    closed = {("Z", 1): P - np.eye(3)[np.argmax(v["Z"], axis=1)], ("Z", 2): hess}
    return Problem(f, [Z], v, lambda u: jnp.sum(jsp.logsumexp(u["Z"], axis=1) - jnp.max(u["Z"], axis=1)), closed, top=3)


@problem
def clipped_linear_regression():
    # Σ (clip(Wx, -1, 1) - y)²: with m = |Wx| < 1, ∂/∂W = 2(m∘(c - y))xᵀ, ∂²/∂W[i,a]∂W[j,b] = 2δ_ij m_i x_a x_b
    W, x, y = td.matrix("W", "k d"), td.vector("x", "d"), td.vector("y", "k")
    f = td.sum((td.minimum(td.maximum(W @ x, -1.0), 1.0) - y) ** 2)
    rng = rng_of("clip")
    v = dict(W=rng.standard_normal((4, 3)) * 0.7, x=rng.standard_normal(3), y=rng.standard_normal(4) * 0.5)
    z = v["W"] @ v["x"]
    assert np.min(np.abs(np.abs(z) - 1)) > 0.01 and 0 < np.sum(np.abs(z) < 1) < 4   # both sides of the clip
    m, c = (np.abs(z) < 1).astype(float), np.clip(z, -1, 1)
    closed = {("W", 1): 2 * np.outer(m * (c - v["y"]), v["x"]),
              ("W", 2): 2 * np.einsum("ij,i,a,b->iajb", np.eye(4), m, v["x"], v["x"])}
    return Problem(f, [W], v, lambda u: jnp.sum((jnp.clip(u["W"] @ u["x"], -1.0, 1.0) - u["y"]) ** 2), closed)


# ---------------------------------------------------------------- Kronecker products and vec

@problem
def kron_vec_least_squares_in_the_middle_factor():
    # ‖(Bᵀ⊗A)vec(X) - vec(C)‖² = ‖AXB - C‖²_F: ∂/∂X = 2Aᵀ(AXB - C)Bᵀ, ∂²/∂X[i,j]∂X[k,l] = 2(AᵀA)_ik(BBᵀ)_jl
    A, X, B, C = td.matrix("A", "m a"), td.matrix("X", "a b"), td.matrix("B", "b q"), td.matrix("C", "m q")
    f = td.norm(td.kron(B.T, A) @ td.vec(X) - td.vec(C)) ** 2
    rng = rng_of("kron vec")
    v = dict(A=rng.standard_normal((3, 2)), X=rng.standard_normal((2, 3)), B=rng.standard_normal((3, 2)),
             C=rng.standard_normal((3, 2)))
    R = v["A"] @ v["X"] @ v["B"] - v["C"]
    closed = {("X", 1): 2 * v["A"].T @ R @ v["B"].T,
              ("X", 2): 2 * np.einsum("ik,jl->ijkl", v["A"].T @ v["A"], v["B"] @ v["B"].T), ("X", 3): np.zeros((2, 3) * 3)}

    def twin(u):
        vec = lambda m: m.T.reshape(-1)   # noqa: E731 - column-major, as td.vec
        return jnp.sum((jnp.kron(u["B"].T, u["A"]) @ vec(u["X"]) - vec(u["C"])) ** 2)
    # the identity itself, evaluated: (Bᵀ⊗A)vec(X) = vec(AXB) (column-major vec)
    identity = (td.kron(B.T, A) @ td.vec(X), (v["A"] @ v["X"] @ v["B"]).reshape(-1, order="F"))
    return Problem(f, [X], v, twin, closed, top=3, extra=dict(identity=identity))


@problem
def logdet_of_a_kronecker_product():
    # log det(A⊗B) = m log det A + n log det B (A n×n, B m×m): ∂/∂A = mA⁻ᵀ, ∂/∂B = nB⁻ᵀ,
    # ∂²/∂A[i,j]∂A[k,l] = -m A⁻¹_jk A⁻¹_li
    A, B = td.matrix("A", "n n"), td.matrix("B", "m m")
    rng = rng_of("kron logdet")
    v = dict(A=well_conditioned(rng, 2), B=well_conditioned(rng, 3))
    Ai, Bi = np.linalg.inv(v["A"]), np.linalg.inv(v["B"])
    closed = {("A", 1): 3 * Ai.T, ("B", 1): 2 * Bi.T, ("A", 2): -3 * np.einsum("jk,li->ijkl", Ai, Ai),
              ("B", 2): -2 * np.einsum("jk,li->ijkl", Bi, Bi)}
    return Problem(td.logdet(td.kron(A, B)), [A, B], v, lambda u: jnp.linalg.slogdet(jnp.kron(u["A"], u["B"]))[1],
                   closed, several=True)


# ---------------------------------------------------------------- traces, determinants, inverses

@problem
def logdet_and_trace_inverse_of_the_two_grams():
    # log det(I + XᵀX) + tr((I + XXᵀ)⁻¹): ∂/∂X = 2X(I + XᵀX)⁻¹ - 2(I + XXᵀ)⁻²X
    X = td.matrix("X", "n p")
    f = td.logdet(td.eye("p") + X.T @ X) + td.trace(td.inv(td.eye("n") + X @ X.T))
    rng = rng_of("two grams")
    v = dict(X=rng.standard_normal((3, 2)))
    Mi = np.linalg.inv(np.eye(3) + v["X"] @ v["X"].T)
    closed = {("X", 1): 2 * v["X"] @ np.linalg.inv(np.eye(2) + v["X"].T @ v["X"]) - 2 * Mi @ Mi @ v["X"]}
    return Problem(f, [X], v, lambda u: jnp.linalg.slogdet(jnp.eye(2) + u["X"].T @ u["X"])[1]
                   + jnp.trace(jnp.linalg.inv(jnp.eye(3) + u["X"] @ u["X"].T)), closed,
                   direction=(X, td.matrix("U_two_grams", "n p"), rng_of("grams direction").standard_normal((3, 2)), 4))


@problem
def determinant_times_trace_of_inverse():
    # det(X)tr(X⁻¹) (the sum of the principal (n-1)-minors): ∂/∂X = det(X)(tr(X⁻¹)X⁻ᵀ - (X⁻²)ᵀ)
    X = td.matrix("X", "n n")
    v = dict(X=well_conditioned(rng_of("det tr inv"), 3))
    Xi, d = np.linalg.inv(v["X"]), np.linalg.det(v["X"])
    minors = sum(np.linalg.det(np.delete(np.delete(v["X"], i, 0), i, 1)) for i in range(3))
    closed = {("X", 1): d * (np.trace(Xi) * Xi.T - (Xi @ Xi).T)}
    return Problem(td.det(X) * td.trace(td.inv(X)), [X], v,
                   lambda u: jnp.linalg.det(u["X"]) * jnp.trace(jnp.linalg.inv(u["X"])), closed, top=3,
                   extra=dict(value=minors))


# ---------------------------------------------------------------- symmetric matrix arguments

@problem
def precision_log_likelihood_with_a_nonsymmetric_statistic():
    # log det S - tr(SC), S symmetric, C not: G = S⁻¹ - Cᵀ, so the derivative is sym(G) = S⁻¹ - (C + Cᵀ)/2;
    # ∂²/∂S² = sym(-S⁻¹⊗S⁻¹)
    S, C = td.matrix("S", "n n", symmetric=True), td.matrix("C", "n n")
    rng = rng_of("precision")
    v = dict(S=spd(rng, 3), C=rng.standard_normal((3, 3)))
    Si = np.linalg.inv(v["S"])
    closed = {("S", 1): Si - sym(v["C"]), ("S", 2): sym_hessian(-np.einsum("ac,db->abcd", Si, Si))}
    return Problem(td.logdet(S) - td.trace(S @ C), [S], v,
                   lambda u: jnp.linalg.slogdet(u["S"])[1] - jnp.trace(u["S"] @ u["C"]), closed, top=3,
                   direction=(S, td.matrix("U_precision", "n n"), rng_of("precision direction").standard_normal((3, 3)), 4))


@problem
def trace_of_a_solve_in_symmetric_and_general():
    # tr(S⁻¹B) + uᵀSu: G_S = -(S⁻¹BS⁻¹)ᵀ + uuᵀ, the derivative sym(G_S) = -S⁻¹(B + Bᵀ)S⁻¹/2 + uuᵀ; ∂/∂B = S⁻¹
    S, B, u = td.matrix("S", "n n", symmetric=True), td.matrix("B", "n n"), td.vector("u", "n")
    rng = rng_of("solve trace")
    v = dict(S=spd(rng, 3), B=rng.standard_normal((3, 3)), u=rng.standard_normal(3))
    Si = np.linalg.inv(v["S"])
    closed = {("S", 1): -Si @ sym(v["B"]) @ Si + np.outer(v["u"], v["u"]), ("B", 1): Si, ("B", 2): np.zeros((3,) * 4)}
    return Problem(td.trace(td.solve(S, B)) + u @ S @ u, [S, B], v,
                   lambda q: jnp.trace(jnp.linalg.solve(q["S"], q["B"])) + q["u"] @ q["S"] @ q["u"], closed, several=True)


@problem
def semidefinite_log_barrier_to_order_three():
    # F(x) = A₀ + Σ_k x_k A_k, φ = -log det F: ∂_i = -tr(F⁻¹A_i), ∂_ij = tr(F⁻¹A_iF⁻¹A_j),
    # ∂_ijk = -tr(F⁻¹A_kF⁻¹A_jF⁻¹A_i) - tr(F⁻¹A_jF⁻¹A_kF⁻¹A_i)
    x, A0, As = td.vector("x", "k"), td.matrix("A0", "n n"), td.tensor("As", "k n n")
    f = -td.logdet(A0 + td.einsum("k,kij->ij", x, As))
    rng = rng_of("barrier")
    v = dict(x=rng.standard_normal(3) * 0.2, A0=spd(rng, 3, 2.0), As=sym(rng.standard_normal((3, 3, 3))) / 2)
    Fi = np.linalg.inv(v["A0"] + np.einsum("k,kij->ij", v["x"], v["As"]))
    G = np.einsum("ab,kbc->kac", Fi, v["As"])   # F⁻¹A_k
    closed = {("x", 1): -np.einsum("kaa->k", G), ("x", 2): np.einsum("iab,jba->ij", G, G),
              ("x", 3): -np.einsum("kab,jbc,ica->ijk", G, G, G) - np.einsum("jab,kbc,ica->ijk", G, G, G)}
    return Problem(f, [x], v, lambda u: -jnp.linalg.slogdet(u["A0"] + jnp.einsum("k,kij->ij", u["x"], u["As"]))[1],
                   closed, top=3)


# ---------------------------------------------------------------- elementwise functions on their domains

@problem
def arcsin_sqrt_log_arccos_on_their_domains():
    # Σ arcsin(x/2)√(4 - x²) + Σ log(x)√x + Σ arccos(x/2)² for 0 < x < 2, term by term:
    # 1 - x·arcsin(x/2)/√(4 - x²), (1 + log(x)/2)/√x, -arccos(x/2)/√(1 - x²/4)
    x = td.vector("x", "n")
    f = td.sum(td.arcsin(x / 2) * td.sqrt(4 - x ** 2) + td.log(x) * td.sqrt(x) + td.arccos(x / 2) ** 2)
    xv = np.array([0.3, 0.9, 1.6])
    closed = {("x", 1): 1 - xv * np.arcsin(xv / 2) / np.sqrt(4 - xv ** 2) + (1 + np.log(xv) / 2) / np.sqrt(xv)
              - np.arccos(xv / 2) / np.sqrt(1 - xv ** 2 / 4)}
    return Problem(f, [x], dict(x=xv), lambda u: jnp.sum(jnp.arcsin(u["x"] / 2) * jnp.sqrt(4 - u["x"] ** 2)
                   + jnp.log(u["x"]) * jnp.sqrt(u["x"]) + jnp.arccos(u["x"] / 2) ** 2), closed, top=4)


@problem
def group_lasso_penalty_of_the_rows():
    # Σ_i ‖x_i‖: ∇ = X/r (r the row norms), ∇²[i,a,j,b] = δ_ij(δ_ab - u_ia u_ib)/r_i with u = X/r
    X = td.matrix("X", "n p")
    f = td.sum(td.sqrt(td.sum(X * X, axis=1)))
    rng = rng_of("group lasso")
    v = dict(X=rng.standard_normal((3, 2)))
    r = np.linalg.norm(v["X"], axis=1)
    Un = v["X"] / r[:, None]
    hess = np.einsum("ij,ab,i->iajb", np.eye(3), np.eye(2), 1 / r) - np.einsum("ij,ia,ib,i->iajb", np.eye(3), Un, Un, 1 / r)
    return Problem(f, [X], v, lambda u: jnp.sum(jnp.sqrt(jnp.sum(u["X"] ** 2, axis=1))),
                   {("X", 1): Un, ("X", 2): hess}, top=3)


@problem
def kl_divergence_in_both_distributions():
    # Σ p log(p/q) - Σ p + Σ q: ∂/∂p = log(p/q), ∂/∂q = 1 - p/q, ∂²/∂p² = diag(1/p), ∂²/∂q² = diag(p/q²),
    # ∂²/∂p∂q = -diag(1/q), ∂³/∂q³ = diag(-2p/q³)
    p, q = td.vector("p", "n"), td.vector("q", "n")
    f = td.sum(p * td.log(p / q)) - td.sum(p) + td.sum(q)
    pv, qv = np.array([0.2, 0.5, 0.9]), np.array([0.4, 0.3, 1.1])
    third = np.zeros((3, 3, 3))
    third[range(3), range(3), range(3)] = -2 * pv / qv ** 3
    closed = {("p", 1): np.log(pv / qv), ("q", 1): 1 - pv / qv, ("p", 2): np.diag(1 / pv), ("q", 2): np.diag(pv / qv ** 2),
              ("q", 3): third}
    return Problem(f, [p, q], dict(p=pv, q=qv), lambda u: jnp.sum(u["p"] * jnp.log(u["p"] / u["q"])) - jnp.sum(u["p"])
                   + jnp.sum(u["q"]), closed, top=3, several=True, extra=dict(cross=-np.diag(1 / qv)))


# ---------------------------------------------------------------- zero-size and one-size dims

@problem
def cross_entropy_of_an_empty_batch_plus_weight_decay():
    # n = 0: the loss is ½‖W‖² alone; ∂/∂W = W, ∂²/∂W² = I⊗I
    X, W, Y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.matrix("Y", "n k")
    f = -td.sum(Y * td.log_softmax(X @ W)) + 0.5 * td.sum(W * W)
    rng = rng_of("empty batch")
    v = dict(X=np.zeros((0, 3)), W=rng.standard_normal((3, 2)), Y=np.zeros((0, 2)))
    closed = {("W", 1): v["W"], ("W", 2): np.einsum("ac,bd->abcd", np.eye(3), np.eye(2))}
    return Problem(f, [W], v, lambda u: -jnp.sum(u["Y"] * jax.nn.log_softmax(u["X"] @ u["W"], axis=-1))
                   + 0.5 * jnp.sum(u["W"] ** 2), closed)


@problem
def empty_symbol_next_to_a_full_one():
    # X is 0×p: Σexp(Xw) is 0, so f = wᵀw; ∂/∂X is 0×p, ∂/∂w = 2w, the blocks with X are empty
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    f = td.sum(td.exp(X @ w)) + w @ w
    v = dict(X=np.zeros((0, 3)), w=np.array([0.5, -1.0, 2.0]))
    closed = {("X", 1): np.zeros((0, 3)), ("w", 1): 2 * v["w"], ("w", 2): 2 * np.eye(3), ("X", 2): np.zeros((0, 3, 0, 3))}
    return Problem(f, [X, w], v, lambda u: jnp.sum(jnp.exp(u["X"] @ u["w"])) + u["w"] @ u["w"], closed, several=True)


@problem
def one_by_one_everything_softplus_regression():
    # n = p = 1: f = softplus(xw) - yxw + w²/2 with σ the logistic function: f' = x(σ(xw) - y) + w,
    # f'' = x²σ(1 - σ) + 1
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.softplus(X @ w) - y * (X @ w)) + 0.5 * w @ w
    v = dict(X=np.array([[1.3]]), w=np.array([-0.4]), y=np.array([1.0]))
    s = 1 / (1 + np.exp(1.3 * 0.4))
    closed = {("w", 1): np.array([1.3 * (s - 1.0) - 0.4]), ("w", 2): np.array([[1.69 * s * (1 - s) + 1]])}
    return Problem(f, [w], v, lambda u: jnp.sum(jax.nn.softplus(u["X"] @ u["w"]) - u["y"] * (u["X"] @ u["w"]))
                   + 0.5 * u["w"] @ u["w"], closed, top=4)


# ---------------------------------------------------------------- checking

NAMES = sorted(PROBLEMS)


def build(name):
    """The problem, built afresh (problems share symbol names with other dims; tests/conftest.py
    collects a test's symbols that outlive it, so nothing here may hold them in a cycle)."""
    return PROBLEMS[name]()


def value(p, e, values=None):
    return np.asarray(td.evaluate(e, p.values if values is None else values), dtype=float)


def jax_every_order(p):
    """{order: jacfwd tensor in the flat vector of all of p.wrt}, orders 0..p.top, from one jit, and
    each symbol's slice of the flat vector. A symmetric symbol's twin reads (S + Sᵀ)/2, so jax gives
    the symmetric gradient that tensordiff takes (docs/operations/shapes.md)."""
    base = {k: jnp.asarray(np.asarray(x, dtype=float)) for k, x in p.values.items()}
    slices, start = {}, 0
    for var in p.wrt:
        size = int(np.size(p.values[var.name]))
        slices[var.name] = (start, start + size)
        start += size
    # the jitted function keeps only names, shapes and the twin: jax's caches must not hold a symbol
    twin, read = p.twin, [(var.name, np.shape(p.values[var.name]), var.symmetric) for var in p.wrt]

    def packed(flat):
        u = dict(base)
        for name, shape, symmetric in read:
            lo, hi = slices[name]
            z = flat[lo:hi].reshape(shape)
            u[name] = (z + z.T) / 2 if symmetric else z
        return twin(u)
    flat = jnp.concatenate([base[var.name].reshape(-1) for var in p.wrt])
    return dict(enumerate(jacfwd_of_each_order(packed, flat, p.top))), slices


def block(tensor, out_ndim, parts):
    """The block of a derivative in the flat vector whose slots are the symbols ``parts``
    [(slice, shape), ...], reshaped to the expression's axes then each symbol's."""
    for k, ((lo, hi), _) in enumerate(parts):
        tensor = np.take(tensor, np.arange(lo, hi), axis=out_ndim + k)
    return tensor.reshape(tensor.shape[:out_ndim] + tuple(d for _, shape in parts for d in shape))


def derivatives(p, var):
    out, e = {0: p.expr}, p.expr
    for order in range(1, p.top + 1):
        e = td.diff(e, var)
        out[order] = e
    return out


def test_there_are_at_least_twenty_five_problems():
    assert len(PROBLEMS) >= 25


@pytest.mark.parametrize("name", NAMES)
def test_every_order_matches_closed_forms_jax_and_finite_differences(name):
    p = build(name)
    reference, slices = jax_every_order(p)
    out_ndim = p.expr.ndim
    assert_close(value(p, p.expr), reference[0], EXACT, f"{name}: value vs jax")
    checked = set()
    for var in p.wrt:
        part = (slices[var.name], np.shape(p.values[var.name]))
        each = derivatives(p, var)
        for order in range(1, p.top + 1):
            got = value(p, each[order])
            if (var.name, order) in p.closed:
                assert_close(got, p.closed[var.name, order], EXACT, f"{name}: order {order} in {var.name} vs closed form")
                checked.add((var.name, order))
            assert_close(got, block(reference[order], out_ndim, [part] * order), EXACT,
                         f"{name}: order {order} in {var.name} vs jax")
            if order <= 2 or np.size(p.values[var.name]) <= FD_ENTRIES:
                numeric = numeric_diff(each[order - 1], var, p.values)
                assert_close(got, numeric, FD, f"{name}: order {order} in {var.name} vs finite differences")
    assert checked == set(p.closed), f"{name}: closed forms never compared: {set(p.closed) - checked}"
    if "value" in p.extra:
        assert_close(value(p, p.expr), p.extra["value"], EXACT, f"{name}: value vs closed form")
    if "identity" in p.extra:
        e, want = p.extra["identity"]
        assert_close(value(p, e), want, EXACT, f"{name}: the identity, evaluated")
    if p.several:
        several_symbols_match(p, reference, slices)


def several_symbols_match(p, reference, slices):
    """td.grad(f, [x, y]) and td.hessian(f, [x, y]) against the blocks of jax's derivatives in the
    flat vector (jax.hessian(argnums)'s blocks, in its layout); a mixed block's closed form."""
    assert p.expr.ndim == 0
    parts = [(slices[var.name], np.shape(p.values[var.name])) for var in p.wrt]
    grads = td.evaluate(list(td.grad(p.expr, p.wrt)), p.values)
    blocks = td.compile(td.hessian(p.expr, p.wrt))(p.values)
    for i, a in enumerate(p.wrt):
        assert_close(grads[i], block(reference[1], 0, [parts[i]]), EXACT, f"gradient in {a.name}")
        for j, b in enumerate(p.wrt):
            assert_close(blocks[i][j], block(reference[2], 0, [parts[i], parts[j]]), EXACT, f"block {a.name},{b.name}")
    if "cross" in p.extra:
        assert_close(blocks[0][1], p.extra["cross"], EXACT, "mixed block vs closed form")


def chosen(kind):
    """The names of the problems with an option, read once at collection (the symbols built are
    dropped right away: td.parse reads a bare name as the live symbol of that name)."""
    names = [n for n in NAMES if getattr(PROBLEMS[n](), kind)]
    gc.collect()
    return names


DIRECTIONAL = chosen("direction")


@pytest.mark.parametrize("name", DIRECTIONAL)
def test_higher_orders_along_one_direction_match_jax(name):
    """td.diff(f, X, order=k, direction=U) for k up to 4 against the k-th derivative of
    t -> twin(X + tU) (a symmetric X's twin reads sym(X + tU)), and at orders within the full
    derivative's reach against the full tensor contracted with U in every slot."""
    p = build(name)
    var, U, direction, top = p.direction
    base = {k: jnp.asarray(np.asarray(x, dtype=float)) for k, x in p.values.items()}
    twin, name, symmetric = p.twin, var.name, var.symmetric   # no symbol in what jax keeps

    def along(t):
        z = base[name] + t * jnp.asarray(direction)
        return twin({**base, name: (z + z.T) / 2 if symmetric else z})
    reference = jacfwd_of_each_order(along, jnp.float64(0.0), top)
    values = {**p.values, U.name: direction}
    full = derivatives(p, var)
    for order in range(1, top + 1):
        got = value(p, td.diff(p.expr, var, order=order, direction=U), values)
        assert_close(got, reference[order], EXACT, f"{name}: order {order} along a direction vs jax")
        if order <= p.top:
            contracted = value(p, full[order])
            for _ in range(order):
                contracted = np.tensordot(contracted, direction, axes=direction.ndim)
            assert_close(got, contracted, EXACT, f"{name}: order {order} along a direction vs the full derivative")


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_read_back(name):
    """LaTeX and index notation print; einsum code runs to the value; matrix notation of the
    expression and its first and second derivatives (up to 4 axes) parses back to the value."""
    p = build(name)
    exprs = [p.expr]
    for var in p.wrt:
        first = td.diff(p.expr, var)
        exprs += [first, td.diff(first, var)]
    read = printed_forms_read_back(exprs, p.values, name)
    assert read or name in NO_MATRIX_FORM, f"{name}: nothing printed in matrix notation"


NO_MATRIX_FORM = {"semidefinite_log_barrier_to_order_three"}   # Σ_k x_k A_k of a 3-axis tensor: index notation only


@pytest.mark.parametrize("name", NAMES)
def test_float32_inputs_give_float32_results_within_float32_rounding(name):
    """The value and the first two derivatives in each symbol, from float32 inputs, are float32 and
    within FLOAT32 of the float64 results of the same expressions."""
    p = build(name)
    exprs = [p.expr] + [e for var in p.wrt for order, e in derivatives(p, var).items() if 1 <= order <= 2]
    single = {k: np.asarray(x, dtype=np.float32) for k, x in p.values.items()}
    got = td.compile(exprs)(single)
    for e, g in zip(exprs, got):
        assert g.dtype == np.float32, (name, td.index_notation(e)[:80], g.dtype)
        assert_close(g, value(p, e), FLOAT32, f"{name}: float32 {td.index_notation(e)[:80]}")


def test_a_non_scalar_hessian_in_two_symbols_matches_jax_hessian_argnums():
    """td.hessian of a vector-valued map in [x, A] nests its blocks as jax.hessian(argnums=(0, 1)):
    the map's axis first, then each symbol's; the x-x block is the closed form diag-by-row."""
    x, A, b = td.vector("x_hess_map", "n"), td.matrix("A_hess_map", "m n"), td.vector("b_hess_map", "m")
    g = td.tanh(A @ x + b) * td.logsumexp(x)
    rng = rng_of("hessian map")
    v = {x.name: rng.standard_normal(3) / 2, A.name: rng.standard_normal((2, 3)) / 2, b.name: rng.standard_normal(2)}

    shift = v[b.name]   # jax's caches keep what the jitted function reads: no symbol

    @jax.jit
    def reference(xj, Aj):
        return jax.hessian(lambda a, m: jnp.tanh(m @ a + shift) * jsp.logsumexp(a), argnums=(0, 1))(xj, Aj)
    want = jax.tree_util.tree_map(np.asarray, reference(jnp.asarray(v[x.name]), jnp.asarray(v[A.name])))
    blocks = td.compile(td.hessian(g, [x, A]))(v)
    for i, j in itertools.product(range(2), repeat=2):
        assert_close(blocks[i][j], want[i][j], EXACT, f"block {i},{j}")
    # the b-b block of tanh(Ax + b)·c in b alone: c·tanh''(z) on the diagonal of each output row
    z, c = v[A.name] @ v[x.name] + v[b.name], float(np.log(np.sum(np.exp(v[x.name]))))
    t = np.tanh(z)
    closed = np.einsum("i,ij,ik->ijk", -2 * t * (1 - t * t) * c, np.eye(2), np.eye(2))
    assert_close(td.evaluate(td.hessian(g, b), v), closed, EXACT, "b-b block closed form")


# ---------------------------------------------------------------- regressions found by this file

def test_a_symmetric_symbol_of_size_zero_is_accepted_and_its_derivatives_are_empty():
    # binding.require_symmetric took the largest entry of the value to scale its tolerance, and a
    # 0×0 value has none: every evaluation with a symmetric symbol of size 0 raised numpy's
    # "zero-size array to reduction operation maximum" ValueError instead of computing
    S, y = td.matrix("S_empty_symmetric", "n n", symmetric=True), td.vector("y_empty_symmetric", "n")
    f = td.logdet(S) + y @ td.solve(S, y) + td.sum(td.log(td.diagonal(td.cholesky(S)))) + td.trace(td.inv(S))
    empty = {S.name: np.zeros((0, 0)), y.name: np.zeros(0)}
    assert td.evaluate(f, empty) == 0.0   # log det of the empty matrix is 0, its trace and the forms are empty sums
    for order, shape in ((1, (0, 0)), (2, (0, 0, 0, 0)), (3, (0,) * 6)):
        assert td.evaluate(td.diff(f, S, order), empty).shape == shape
    blocks = td.compile(td.hessian(f, [S, y]))(empty)
    assert [[b.shape for b in row] for row in blocks] == [[(0, 0, 0, 0), (0, 0, 0)], [(0, 0, 0), (0, 0)]]
    assert td.evaluate(td.diff(f, S, order=2, direction=S), empty) == 0.0
    # the same expression at size 1 against its closed form: f = log s + y²/s + ½log s + 1/s
    s, yv = 1.7, 0.4
    one = {S.name: np.array([[s]]), y.name: np.array([yv])}
    assert_close(td.evaluate(td.diff(f, S), one), np.array([[1.5 / s - (yv * yv + 1) / s ** 2]]), EXACT, "1×1 gradient")
    assert_close(td.evaluate(f, one), 1.5 * math.log(s) + (yv * yv + 1) / s, EXACT, "1×1 value")
    with pytest.raises(td.EvaluationError, match="not symmetric"):   # the check itself still runs on non-empty values
        td.evaluate(f, {S.name: np.array([[2.0, 0.5], [0.0, 2.0]]), y.name: np.ones(2)})


def test_a_dropped_program_and_its_symbols_are_freed_without_the_cyclic_collector():
    # the first call's generated plan function lived in its own globals (names["run"] = run, and
    # run.__globals__ is names): a reference cycle, so a program that had run, its expressions and
    # their symbols outlived their last reference until the next gc.collect(). tests/conftest.py
    # then collected after nearly every test (0.2-0.7 s each once jax is loaded); specialise.py
    # pops run from its namespace
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        X, y = td.matrix("X_dropped_program", "n p"), td.vector("y_dropped_program", "n")
        f = td.sum(td.exp(X @ td.solve(X.T @ X + td.eye("p"), X.T @ y)))
        program = td.compile([f, td.grad(f, X), td.hessian(f, y)])
        program({X.name: np.ones((3, 2)) + np.eye(3, 2), y.name: np.ones(3)})
        program({X.name: np.ones((4, 2)) + np.eye(4, 2), y.name: np.ones(4)})   # a second signature
        watched = [weakref.ref(obj) for obj in (X, y, f, program)]
        del X, y, f, program
        assert [ref() for ref in watched] == [None] * 4
    finally:
        if enabled:
            gc.enable()


def test_check_takes_dim_sizes_by_name_as_evaluate_does():
    # td.check(f, S, n=4) drew S at its default size and then passed n on as a float value:
    # "the size of dim 'n' must be an int >= 0, got 2.0" (with n=2), or a size clash (with n=0)
    S, y = td.matrix("S_check_sizes", "n n", symmetric=True), td.vector("y_check_sizes", "n")
    f = td.logdet(S) + y @ td.solve(S, y)
    for n in (0, 1, 4):
        result = td.check(f, S, n=n)
        assert result.symbolic.shape == result.numeric.shape == (n, n)
        assert result.max_rel_error < 1e-6
    hessians = td.check(f, [S, y], order=2, n=3)
    assert [r.symbolic.shape for r in hessians] == [(3, 3, 3, 3), (3, 3)]
    assert all(r.max_rel_error < 1e-6 for r in hessians)
    s, x = td.scalar("s_check_sizes"), td.vector("x_check_sizes", "m")
    assert td.check(td.sum(x ** 3) * s, x, m=5, **{s.name: 2}).symbolic.shape == (5,)   # an int symbol value stays a value
    with pytest.raises(td.ShapeError, match="dim 'n' is 2"):
        td.check(f, S, n=2, **{y.name: np.ones(3)})
    with pytest.raises(td.EvaluationError, match="size of dim 'n'"):
        td.check(f, S, n=True)
