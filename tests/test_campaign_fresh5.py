"""A fifth round of independent problems, none in the other campaign files: the GP marginal
likelihood with an RBF kernel in amplitude, length-scale and noise at once and with a Matérn-1/2
kernel in its length-scale to order 4, a kernel built by broadcasting a vector of 1-d inputs against
itself (x[:, None] - x[None, :]), the Gaussian log-likelihood of a batch in its mean and symmetric
covariance, the multivariate Student-t of a batch through a Cholesky factor and its diagonal, the
univariate Student-t regression in its degrees of freedom, scale and weights, the focal loss, a
single-head self-attention block with a residual and layer normalisation in its three weight
matrices, layer normalisation with gain and bias, logdet(kron(A, B) + σI) in σ, the vectors of
kron(a, b), the identity ‖chol(S)‖² = tr S, Σ log diag chol(S) = ½ log det S, tr(XAXᵀB) + (tr X)²,
tr((A + tB)⁵) to order 4 in t, a rank-one determinant update log det(A + t uuᵀ) in t and u, cubic
polynomials of a matrix pencil, the symmetric low-rank fit ‖A - UUᵀ‖², the Bhattacharyya distance
between Gaussians, the inverse-Wishart density, elementwise functions of a symmetric argument, a
tanh network with broadcast biases, logistic regression to order 4, a centred-covariance log
determinant, attention pooling, a squared multiclass hinge through relu, soft thresholding through
where, row normalisation of an order-3 tensor, a batched bilinear einsum, stacked matrix powers, and
a few more.

Each problem is checked against its closed form where one is worked out (in numpy, in the
comment), central finite differences of the order below, and nested ``jax.jacfwd`` of a twin
written in jax.numpy; the Jacobian and second-derivative blocks in several symbols at once against
jax's; the compiled kernels against the numpy twin on fresh programs; the numpy and jax backends;
the printed forms of the value and first derivatives (td.parse of the matrix notation, the
generated einsum code); generated code with its own check; and the plan's peak memory at larger
sizes against the sizes of the inputs and outputs.
"""

import math
import re

import numpy as np
import pytest

import tensordiff as td

from helpers import (Campaign, Problem, assert_close, backend_agrees, block, every_order_matches,
                     first_and_second_blocks_match_jax, kernels_and_twin_agree, kernels_built, one_hot,
                     printed_forms_read_back, registry, sigmoid, softmax_rows, spd, sym, symbol_values)

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jss = pytest.importorskip("jax.scipy.special")
special = pytest.importorskip("scipy.special")     # lgamma and digamma evaluate through scipy

EXACT = 1e-9    # closed forms, jax and the other implementations: exact up to rounding
FD = 2e-6       # central differences of the order below, relative to the largest entry (or 1)
FD_ENTRIES = 9  # orders above 2 are differenced only in symbols this small


PROBLEMS = {}
problem = registry(PROBLEMS)


def rng_of(name):
    return np.random.default_rng(sum(map(ord, name)) + 5505)


def distances(points):
    return np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))


# ---------------------------------------------------------------- Gaussian processes

@problem
def gp_rbf_likelihood_in_amplitude_lengthscale_and_noise_at_once():
    # f = ½yᵀK⁻¹y + ½ log det K, K = a exp(-D/(2ℓ²)) + σI (D the squared distances):
    # ∂f/∂σ = ½ tr K⁻¹ - ½ αᵀα, ∂f/∂a = ½ tr(K⁻¹E) - ½ αᵀEα (α = K⁻¹y, E = exp(-D/(2ℓ²)))
    a, ell, s = td.scalar("a_gp5"), td.scalar("ell_gp5"), td.scalar("s_gp5")
    D, y = td.matrix("D_gp5", "n_gp5 n_gp5", symmetric=True), td.vector("y_gp5", "n_gp5")
    K = a * td.exp(-D / (2 * ell ** 2)) + s * td.eye("n_gp5")
    f = y @ td.solve(K, y) / 2 + td.logdet(K) / 2
    rng = rng_of("gp three hyperparameters")
    points = rng.standard_normal((4, 2))
    v = dict(a_gp5=1.3, ell_gp5=0.9, s_gp5=0.4, D_gp5=distances(points) ** 2, y_gp5=rng.standard_normal(4))
    E = np.exp(-v["D_gp5"] / (2 * 0.9 ** 2))
    Kv = 1.3 * E + 0.4 * np.eye(4)
    Ki = np.linalg.inv(Kv)
    alpha = Ki @ v["y_gp5"]

    def twin(u):
        Kj = u["a_gp5"] * jnp.exp(-u["D_gp5"] / (2 * u["ell_gp5"] ** 2)) + u["s_gp5"] * jnp.eye(4)
        return u["y_gp5"] @ jnp.linalg.solve(Kj, u["y_gp5"]) / 2 + jnp.linalg.slogdet(Kj)[1] / 2
    return Problem(f, {a: 3, ell: 3, s: 3}, v, twin,
                   {("s_gp5", 1): np.trace(Ki) / 2 - alpha @ alpha / 2,
                    ("a_gp5", 1): np.trace(Ki @ E) / 2 - alpha @ E @ alpha / 2})


@problem
def matern_half_gp_in_its_lengthscale_to_order_four():
    # K = exp(-R/ℓ) + σI with R the distances: ∂K/∂ℓ = (R/ℓ²)∘exp(-R/ℓ), ∂f/∂ℓ = ½tr(K⁻¹K') - ½αᵀK'α
    ell = td.scalar("ell_mt5")
    R, y = td.matrix("R_mt5", "n_mt5 n_mt5", symmetric=True), td.vector("y_mt5", "n_mt5")
    K = td.exp(-R / ell) + 0.3 * td.eye("n_mt5")
    f = y @ td.solve(K, y) / 2 + td.logdet(K) / 2
    rng = rng_of("matern one half")
    v = dict(ell_mt5=1.1, R_mt5=distances(rng.standard_normal((5, 2))), y_mt5=rng.standard_normal(5))
    E = np.exp(-v["R_mt5"] / 1.1)
    Ki = np.linalg.inv(E + 0.3 * np.eye(5))
    dK = v["R_mt5"] / 1.1 ** 2 * E
    alpha = Ki @ v["y_mt5"]

    def twin(u):
        Kj = jnp.exp(-u["R_mt5"] / u["ell_mt5"]) + 0.3 * jnp.eye(5)
        return u["y_mt5"] @ jnp.linalg.solve(Kj, u["y_mt5"]) / 2 + jnp.linalg.slogdet(Kj)[1] / 2
    return Problem(f, {ell: 4}, v, twin, {("ell_mt5", 1): np.trace(Ki @ dK) / 2 - alpha @ dK @ alpha / 2})


@problem
def kernel_built_by_broadcasting_one_dimensional_inputs():
    # K = exp(-(x[:, None] - x[None, :])²/ℓ) + I, f = yᵀK⁻¹y: ∂f/∂x_i = -Σ_j 2 (α α)_ij ∂K_ij/∂x_i,
    # ∂K_ij/∂x_i = -2(x_i - x_j)K_ij/ℓ, so ∂f/∂x = 4 Σ_j α_i α_j (x_i - x_j) E_ij / ℓ
    x, ell = td.vector("x_bk5", "n_bk5"), td.scalar("ell_bk5")
    y = td.vector("y_bk5", "n_bk5")
    E = td.exp(-(x[:, None] - x[None, :]) ** 2 / ell)
    f = y @ td.solve(E + td.eye("n_bk5"), y)
    rng = rng_of("broadcast kernel")
    v = dict(x_bk5=rng.standard_normal(4), ell_bk5=0.8, y_bk5=rng.standard_normal(4))
    xv = v["x_bk5"]
    Ev = np.exp(-(xv[:, None] - xv[None, :]) ** 2 / 0.8)
    alpha = np.linalg.solve(Ev + np.eye(4), v["y_bk5"])
    grad_x = 4 * np.sum(np.outer(alpha, alpha) * (xv[:, None] - xv[None, :]) * Ev, axis=1) / 0.8

    def twin(u):
        Ej = jnp.exp(-(u["x_bk5"][:, None] - u["x_bk5"][None, :]) ** 2 / u["ell_bk5"])
        return u["y_bk5"] @ jnp.linalg.solve(Ej + jnp.eye(4), u["y_bk5"])
    return Problem(f, {x: 3, ell: 3}, v, twin, {("x_bk5", 1): grad_x})


# ---------------------------------------------------------------- likelihoods in mean and covariance

@problem
def gaussian_batch_log_likelihood_in_mean_and_symmetric_covariance():
    # f = -n/2 log det Σ - ½Σ_i (x_i - μ)ᵀΣ⁻¹(x_i - μ), R the residual rows:
    # ∂f/∂μ = Σ⁻¹Rᵀ1, ∂f/∂Σ = -n/2 Σ⁻¹ + ½Σ⁻¹RᵀRΣ⁻¹
    X, mu = td.matrix("X_gl5", "n_gl5 p_gl5"), td.vector("mu_gl5", "p_gl5")
    S = td.matrix("S_gl5", "p_gl5 p_gl5", symmetric=True)
    R = X - mu[None, :]
    f = -td.logdet(S) * 5 / 2 - td.sum(R * td.solve(S, R.T).T) / 2
    rng = rng_of("gaussian batch")
    v = dict(X_gl5=rng.standard_normal((5, 3)), mu_gl5=rng.standard_normal(3), S_gl5=spd(rng, 3, 0.6))
    Rv = v["X_gl5"] - v["mu_gl5"]
    Si = np.linalg.inv(v["S_gl5"])

    def twin(u):
        Rj = u["X_gl5"] - u["mu_gl5"][None, :]
        return -jnp.linalg.slogdet(u["S_gl5"])[1] * 5 / 2 - jnp.sum(Rj * jnp.linalg.solve(u["S_gl5"], Rj.T).T) / 2
    return Problem(f, {mu: 2, S: 3, X: 1}, v, twin,
                   {("mu_gl5", 1): Si @ Rv.sum(0), ("mu_gl5", 2): -5 * Si,
                    ("S_gl5", 1): -5 / 2 * Si + Si @ Rv.T @ Rv @ Si / 2})


@problem
def multivariate_student_t_batch_through_a_cholesky_factor():
    # f = -n Σ log diag L - (ν+p)/2 Σ_i log(1 + ‖L⁻¹(x_i - μ)‖²/ν), LLᵀ = Σ, ν = 4:
    # ∂f/∂μ = (ν+p) Σ_i w_i Σ⁻¹r_i with w_i = 1/(ν + r_iᵀΣ⁻¹r_i)
    X, mu = td.matrix("X_st5", "p_st5 n_st5"), td.vector("mu_st5", "p_st5")
    S = td.matrix("S_st5", "p_st5 p_st5", symmetric=True)
    L = td.cholesky(S)
    Z = td.solve(L, X - mu[:, None])
    f = -4 * td.sum(td.log(td.diagonal(L))) - (4 + 3) / 2 * td.sum(td.log1p(td.sum(Z ** 2, axis=0) / 4))
    rng = rng_of("student t batch")
    v = dict(X_st5=rng.standard_normal((3, 4)), mu_st5=rng.standard_normal(3), S_st5=spd(rng, 3, 0.7))
    Rv = v["X_st5"] - v["mu_st5"][:, None]
    SiR = np.linalg.solve(v["S_st5"], Rv)
    w = 1 / (4 + np.sum(Rv * SiR, axis=0))

    def twin(u):
        Lj = jnp.linalg.cholesky(u["S_st5"])
        Zj = jax.scipy.linalg.solve_triangular(Lj, u["X_st5"] - u["mu_st5"][:, None], lower=True)
        return -4 * jnp.sum(jnp.log(jnp.diag(Lj))) - 7 / 2 * jnp.sum(jnp.log1p(jnp.sum(Zj ** 2, axis=0) / 4))
    return Problem(f, {mu: 2, S: 2}, v, twin, {("mu_st5", 1): 7 * SiR @ w})


@problem
def student_t_regression_in_degrees_of_freedom_scale_and_weights():
    # f = Σ_i lgamma((ν+1)/2) - lgamma(ν/2) - ½log(νπσ²) - (ν+1)/2 log(1 + r_i²/(νσ²)), r = y - Xw:
    # ∂f/∂σ = Σ_i -1/σ + (ν+1) r_i²/(σ(νσ² + r_i²))
    nu, sigma = td.scalar("nu_tr5"), td.scalar("sig_tr5")
    X, w, y = td.matrix("X_tr5", "n_tr5 p_tr5"), td.vector("w_tr5", "p_tr5"), td.vector("y_tr5", "n_tr5")
    r = y - X @ w
    n = 6
    f = (n * (td.lgamma((nu + 1) / 2) - td.lgamma(nu / 2) - td.log(nu * math.pi * sigma ** 2) / 2)
         - (nu + 1) / 2 * td.sum(td.log1p(r ** 2 / (nu * sigma ** 2))))
    rng = rng_of("student t regression")
    v = dict(nu_tr5=3.5, sig_tr5=0.8, X_tr5=rng.standard_normal((n, 2)), w_tr5=rng.standard_normal(2),
             y_tr5=rng.standard_normal(n))
    rv = v["y_tr5"] - v["X_tr5"] @ v["w_tr5"]
    dsigma = np.sum(-1 / 0.8 + 4.5 * rv ** 2 / (0.8 * (3.5 * 0.64 + rv ** 2)))
    dnu = np.sum(special.digamma(2.25) / 2 - special.digamma(1.75) / 2 - 1 / 7 - np.log1p(rv ** 2 / (3.5 * 0.64)) / 2
                 + 4.5 / 2 * rv ** 2 / (3.5 * (3.5 * 0.64 + rv ** 2)))

    def twin(u):
        rj = u["y_tr5"] - u["X_tr5"] @ u["w_tr5"]
        nj, sj = u["nu_tr5"], u["sig_tr5"]
        return (n * (jss.gammaln((nj + 1) / 2) - jss.gammaln(nj / 2) - jnp.log(nj * math.pi * sj ** 2) / 2)
                - (nj + 1) / 2 * jnp.sum(jnp.log1p(rj ** 2 / (nj * sj ** 2))))
    return Problem(f, {nu: 3, sigma: 3, w: 2}, v, twin, {("sig_tr5", 1): dsigma, ("nu_tr5", 1): dnu})


@problem
def bhattacharyya_distance_between_gaussians_in_one_mean_and_covariance():
    # f = ⅛ dᵀΣ⁻¹d + ½ log det Σ - ¼ log det Σ₁ - ¼ log det Σ₂, Σ = (Σ₁+Σ₂)/2, d = μ₁ - μ₂:
    # ∂f/∂μ₁ = ¼Σ⁻¹d, ∂f/∂Σ₁ = -1/16 Σ⁻¹ddᵀΣ⁻¹ + ¼Σ⁻¹ - ¼Σ₁⁻¹
    m1, m2 = td.vector("m1_bh5", "p_bh5"), td.vector("m2_bh5", "p_bh5")
    S1 = td.matrix("S1_bh5", "p_bh5 p_bh5", symmetric=True)
    S2 = td.matrix("S2_bh5", "p_bh5 p_bh5", symmetric=True)
    S = (S1 + S2) / 2
    d = m1 - m2
    f = d @ td.solve(S, d) / 8 + td.logdet(S) / 2 - td.logdet(S1) / 4 - td.logdet(S2) / 4
    rng = rng_of("bhattacharyya")
    v = dict(m1_bh5=rng.standard_normal(3), m2_bh5=rng.standard_normal(3), S1_bh5=spd(rng, 3, 0.5),
             S2_bh5=spd(rng, 3, 0.5))
    Si = np.linalg.inv((v["S1_bh5"] + v["S2_bh5"]) / 2)
    dv = v["m1_bh5"] - v["m2_bh5"]
    w = Si @ dv

    def twin(u):
        Sj = (u["S1_bh5"] + u["S2_bh5"]) / 2
        dj = u["m1_bh5"] - u["m2_bh5"]
        ld = lambda M: jnp.linalg.slogdet(M)[1]   # noqa: E731
        return dj @ jnp.linalg.solve(Sj, dj) / 8 + ld(Sj) / 2 - ld(u["S1_bh5"]) / 4 - ld(u["S2_bh5"]) / 4
    return Problem(f, {m1: 2, S1: 2}, v, twin,
                   {("m1_bh5", 1): w / 4, ("m1_bh5", 2): Si / 4,
                    ("S1_bh5", 1): -np.outer(w, w) / 16 + Si / 4 - np.linalg.inv(v["S1_bh5"]) / 4})


@problem
def inverse_wishart_density_in_the_covariance_and_its_scale():
    # f = -(ν+p+1)/2 log det Σ - ½tr(ΨΣ⁻¹): ∂f/∂Σ = -(ν+p+1)/2 Σ⁻¹ + ½Σ⁻¹ΨΣ⁻¹, ∂f/∂Ψ = -½Σ⁻¹
    S = td.matrix("S_iw5", "p_iw5 p_iw5", symmetric=True)
    Psi = td.matrix("Psi_iw5", "p_iw5 p_iw5", symmetric=True)
    f = -(5 + 3 + 1) / 2 * td.logdet(S) - td.trace(Psi @ td.inv(S)) / 2
    rng = rng_of("inverse wishart")
    v = dict(S_iw5=spd(rng, 3, 0.5), Psi_iw5=spd(rng, 3, 0.5))
    Si = np.linalg.inv(v["S_iw5"])
    return Problem(f, {S: 3, Psi: 1}, v,
                   lambda u: -4.5 * jnp.linalg.slogdet(u["S_iw5"])[1] - jnp.trace(u["Psi_iw5"] @ jnp.linalg.inv(u["S_iw5"])) / 2,
                   {("S_iw5", 1): -4.5 * Si + Si @ v["Psi_iw5"] @ Si / 2, ("Psi_iw5", 1): -Si / 2})


@problem
def centred_covariance_log_determinant_in_data_and_ridge():
    # C = XcᵀXc/n, Xc = X - 1 mean(X)ᵀ, f = log det(C + λI): ∂f/∂λ = tr M⁻¹, ∂f/∂X = 2XcM⁻¹/n (M = C + λI)
    X, lam = td.matrix("X_cc5", "n_cc5 p_cc5"), td.scalar("lam_cc5")
    Xc = X - td.mean(X, axis=0)[None, :]
    f = td.logdet(Xc.T @ Xc / 6 + lam * td.eye("p_cc5"))
    rng = rng_of("centred covariance")
    v = dict(X_cc5=rng.standard_normal((6, 3)), lam_cc5=0.5)
    Xcv = v["X_cc5"] - v["X_cc5"].mean(0)
    Mi = np.linalg.inv(Xcv.T @ Xcv / 6 + 0.5 * np.eye(3))

    def twin(u):
        Xj = u["X_cc5"] - jnp.mean(u["X_cc5"], axis=0)[None, :]
        return jnp.linalg.slogdet(Xj.T @ Xj / 6 + u["lam_cc5"] * jnp.eye(3))[1]
    return Problem(f, {X: 2, lam: 4}, v, twin,
                   {("lam_cc5", 1): np.trace(Mi), ("lam_cc5", 2): -np.trace(Mi @ Mi), ("X_cc5", 1): 2 * Xcv @ Mi / 6})


# ---------------------------------------------------------------- classification losses

@problem
def focal_loss_in_the_weights():
    # f = -Σ Y∘(1-P)²∘log P, P = softmax(XW) over rows
    X, W = td.matrix("X_fl5", "n_fl5 d_fl5"), td.matrix("W_fl5", "d_fl5 k_fl5")
    Y = td.matrix("Y_fl5", "n_fl5 k_fl5")
    Z = X @ W
    f = -td.sum(Y * (1 - td.softmax(Z, axis=1)) ** 2 * td.log_softmax(Z, axis=1))
    rng = rng_of("focal loss")
    v = dict(X_fl5=rng.standard_normal((5, 3)), W_fl5=rng.standard_normal((3, 4)) / 2, Y_fl5=one_hot(rng, 5, 4))

    def twin(u):
        Zj = u["X_fl5"] @ u["W_fl5"]
        return -jnp.sum(u["Y_fl5"] * (1 - jax.nn.softmax(Zj, axis=1)) ** 2 * jax.nn.log_softmax(Zj, axis=1))
    return Problem(f, {W: 3}, v, twin)


@problem
def squared_multiclass_hinge_through_relu():
    # f = Σ_ij relu(1 + S_ij - s_i)², S = XW, s_i = Σ_j Y_ij S_ij (the true class's score; its own
    # term is relu(1)² = 1, a constant). ∂f/∂W = Xᵀ(G - Y∘(G1)), G = 2 relu(1 + S - s1ᵀ)
    X, W, Y = td.matrix("X_mh5", "n_mh5 d_mh5"), td.matrix("W_mh5", "d_mh5 k_mh5"), td.matrix("Y_mh5", "n_mh5 k_mh5")
    S = X @ W
    s = td.sum(Y * S, axis=1)
    f = td.sum(td.relu(1 + S - s[:, None]) ** 2)
    rng = rng_of("multiclass hinge")
    v = dict(X_mh5=rng.standard_normal((6, 3)), W_mh5=rng.standard_normal((3, 4)), Y_mh5=one_hot(rng, 6, 4))
    Sv = v["X_mh5"] @ v["W_mh5"]
    margins = 1 + Sv - (v["Y_mh5"] * Sv).sum(1)[:, None]
    assert np.min(np.abs(margins)) > 1e-3   # away from the kink
    G = 2 * np.maximum(margins, 0)
    return Problem(f, {W: 2}, v, lambda u: jnp.sum(jax.nn.relu(1 + u["X_mh5"] @ u["W_mh5"] - jnp.sum(
        u["Y_mh5"] * (u["X_mh5"] @ u["W_mh5"]), axis=1)[:, None]) ** 2),
                   {("W_mh5", 1): v["X_mh5"].T @ (G - v["Y_mh5"] * G.sum(1)[:, None])})


@problem
def logistic_regression_to_order_four():
    # f = Σ log(1 + exp(-y∘Xw)): ∂f/∂w = -Xᵀ(y∘σ(-y∘Xw)), ∂²f/∂w² = XᵀDX, D = σ(m)(1-σ(m)), m = y∘Xw
    X, w, y = td.matrix("X_lr5", "n_lr5 p_lr5"), td.vector("w_lr5", "p_lr5"), td.vector("y_lr5", "n_lr5")
    f = td.sum(td.softplus(-y * (X @ w)))
    rng = rng_of("logistic order four")
    v = dict(X_lr5=rng.standard_normal((7, 3)), w_lr5=rng.standard_normal(3) / 2, y_lr5=rng.choice([-1.0, 1.0], 7))
    m = v["y_lr5"] * (v["X_lr5"] @ v["w_lr5"])
    sd = sigmoid(m) * (1 - sigmoid(m))
    third = np.einsum("i,ia,ib,ic->abc", v["y_lr5"] * sd * (1 - 2 * sigmoid(m)), *[v["X_lr5"]] * 3)
    return Problem(f, {w: 4}, v, lambda u: jnp.sum(jax.nn.softplus(-u["y_lr5"] * (u["X_lr5"] @ u["w_lr5"]))),
                   {("w_lr5", 1): -v["X_lr5"].T @ (v["y_lr5"] * sigmoid(-m)),
                    ("w_lr5", 2): v["X_lr5"].T @ (sd[:, None] * v["X_lr5"]), ("w_lr5", 3): third})


@problem
def attention_pooling_of_rows_in_the_score_vector():
    # p = softmax(Xw), f = pᵀy: ∂f/∂w = Xᵀ(p∘(y - pᵀy))
    X, w, y = td.matrix("X_ap5", "n_ap5 d_ap5"), td.vector("w_ap5", "d_ap5"), td.vector("y_ap5", "n_ap5")
    f = td.softmax(X @ w, axis=0) @ y
    rng = rng_of("attention pooling")
    v = dict(X_ap5=rng.standard_normal((5, 3)), w_ap5=rng.standard_normal(3), y_ap5=rng.standard_normal(5))
    p = softmax_rows(v["X_ap5"] @ v["w_ap5"])
    return Problem(f, {w: 3, y: 1}, v, lambda u: jax.nn.softmax(u["X_ap5"] @ u["w_ap5"]) @ u["y_ap5"],
                   {("w_ap5", 1): v["X_ap5"].T @ (p * (v["y_ap5"] - p @ v["y_ap5"])), ("y_ap5", 1): p})


# ---------------------------------------------------------------- network blocks

def layer_norm_rows(Z, eps):
    centred = Z - td.mean(Z, axis=1)[:, None]
    return centred / td.sqrt(td.mean(centred ** 2, axis=1) + eps)[:, None]


def layer_norm_rows_jax(Z, eps):
    centred = Z - jnp.mean(Z, axis=1)[:, None]
    return centred / jnp.sqrt(jnp.mean(centred ** 2, axis=1) + eps)[:, None]


@problem
def layer_normalisation_with_gain_and_bias():
    # Y = g∘norm(X) + b (rows), f = Σ C∘Y: ∂f/∂g = Σ_rows C∘norm(X), ∂f/∂b = Σ_rows C
    X, g, b = td.matrix("X_ln5", "n_ln5 d_ln5"), td.vector("g_ln5", "d_ln5"), td.vector("b_ln5", "d_ln5")
    C = td.matrix("C_ln5", "n_ln5 d_ln5")
    f = td.sum(C * td.tanh(layer_norm_rows(X, 0.1) * g[None, :] + b[None, :]))
    rng = rng_of("layer norm")
    v = dict(X_ln5=rng.standard_normal((3, 4)), g_ln5=rng.standard_normal(4), b_ln5=rng.standard_normal(4) / 2,
             C_ln5=rng.standard_normal((3, 4)))
    return Problem(f, {X: 2, g: 3, b: 2}, v, lambda u: jnp.sum(u["C_ln5"] * jnp.tanh(
        layer_norm_rows_jax(u["X_ln5"], 0.1) * u["g_ln5"][None, :] + u["b_ln5"][None, :])))


@problem
def self_attention_block_with_residual_and_layer_norm():
    # H = LN(X + softmax(XWq(XWk)ᵀ/√d) XWv), f = Σ T∘H
    X, T = td.matrix("X_sa5", "n_sa5 d_sa5"), td.matrix("T_sa5", "n_sa5 d_sa5")
    Wq, Wk, Wv = (td.matrix(f"{w}_sa5", "d_sa5 d_sa5") for w in ("Wq", "Wk", "Wv"))
    A = td.softmax((X @ Wq) @ (X @ Wk).T / math.sqrt(3), axis=1)
    f = td.sum(T * layer_norm_rows(X + A @ X @ Wv, 0.01))
    rng = rng_of("self attention block")
    v = dict(X_sa5=rng.standard_normal((4, 3)), T_sa5=rng.standard_normal((4, 3)),
             Wq_sa5=rng.standard_normal((3, 3)) / 2, Wk_sa5=rng.standard_normal((3, 3)) / 2, Wv_sa5=rng.standard_normal((3, 3)) / 2)

    def twin(u):
        Xj = u["X_sa5"]
        Aj = jax.nn.softmax((Xj @ u["Wq_sa5"]) @ (Xj @ u["Wk_sa5"]).T / math.sqrt(3), axis=1)
        return jnp.sum(u["T_sa5"] * layer_norm_rows_jax(Xj + Aj @ Xj @ u["Wv_sa5"], 0.01))
    return Problem(f, {Wq: 2, Wk: 2, Wv: 2}, v, twin)


@problem
def tanh_network_with_broadcast_biases_in_four_symbols():
    # f = ‖tanh(XW₁ + 1b₁ᵀ)W₂ + 1b₂ᵀ - Y‖²: ∂f/∂b₂ = 2 Σ_rows E (E the residual)
    X, Y = td.matrix("X_tn5", "n_tn5 d_tn5"), td.matrix("Y_tn5", "n_tn5 k_tn5")
    W1, b1 = td.matrix("W1_tn5", "d_tn5 h_tn5"), td.vector("b1_tn5", "h_tn5")
    W2, b2 = td.matrix("W2_tn5", "h_tn5 k_tn5"), td.vector("b2_tn5", "k_tn5")
    f = td.sum((td.tanh(X @ W1 + b1[None, :]) @ W2 + b2[None, :] - Y) ** 2)
    rng = rng_of("tanh network")
    v = dict(X_tn5=rng.standard_normal((4, 3)), Y_tn5=rng.standard_normal((4, 2)), W1_tn5=rng.standard_normal((3, 2)),
             b1_tn5=rng.standard_normal(2), W2_tn5=rng.standard_normal((2, 2)), b2_tn5=rng.standard_normal(2))
    Ev = np.tanh(v["X_tn5"] @ v["W1_tn5"] + v["b1_tn5"]) @ v["W2_tn5"] + v["b2_tn5"] - v["Y_tn5"]

    def twin(u):
        return jnp.sum((jnp.tanh(u["X_tn5"] @ u["W1_tn5"] + u["b1_tn5"][None, :]) @ u["W2_tn5"] + u["b2_tn5"][None, :]
                        - u["Y_tn5"]) ** 2)
    return Problem(f, {W1: 2, b1: 3, W2: 2, b2: 2}, v, twin, {("b2_tn5", 1): 2 * Ev.sum(0), ("b2_tn5", 2): 8 * np.eye(2)})


# ---------------------------------------------------------------- Kronecker structure

@problem
def log_det_of_a_kronecker_product_plus_noise_in_the_noise():
    # f = log det(kron(A, B) + σI) = Σ_ij log(a_i b_j + σ) over the eigenvalues: ∂^k/∂σ^k in closed form
    A = td.matrix("A_kn5", "m_kn5 m_kn5", symmetric=True)
    B = td.matrix("B_kn5", "k_kn5 k_kn5", symmetric=True)
    s = td.scalar("s_kn5")
    f = td.logdet(td.kron(A, B) + s * td.eye("m_kn5·k_kn5"))
    rng = rng_of("kron plus noise")
    v = dict(A_kn5=spd(rng, 2, 0.5), B_kn5=spd(rng, 3, 0.5), s_kn5=0.3)
    lam = np.outer(np.linalg.eigvalsh(v["A_kn5"]), np.linalg.eigvalsh(v["B_kn5"])).ravel() + 0.3
    closed = {("s_kn5", k): (-1) ** (k + 1) * math.factorial(k - 1) * np.sum(lam ** -k) for k in range(1, 5)}
    return Problem(f, {s: 4, A: 1}, v, lambda u: jnp.linalg.slogdet(jnp.kron(u["A_kn5"], u["B_kn5"]) + u["s_kn5"] * jnp.eye(6))[1],
                   closed)


@problem
def bilinear_form_through_the_kronecker_product_of_two_vectors():
    # f = (kron(a, b)ᵀw)² with w = vec of a matrix M (row-major: w_{ik} = M_ik): kron(a, b)ᵀw = aᵀMb,
    # ∂f/∂a = 2(aᵀMb) Mb, ∂f/∂b = 2(aᵀMb) Mᵀa
    a, b = td.vector("a_kv5", "m_kv5"), td.vector("b_kv5", "k_kv5")
    w = td.vector("w_kv5", "m_kv5·k_kv5")
    f = (td.kron(a, b) @ w) ** 2
    rng = rng_of("kron of vectors")
    v = dict(a_kv5=rng.standard_normal(2), b_kv5=rng.standard_normal(3), w_kv5=rng.standard_normal(6))
    M = v["w_kv5"].reshape(2, 3)
    q = v["a_kv5"] @ M @ v["b_kv5"]
    return Problem(f, {a: 3, b: 2}, v, lambda u: (jnp.kron(u["a_kv5"], u["b_kv5"]) @ u["w_kv5"]) ** 2,
                   {("a_kv5", 1): 2 * q * M @ v["b_kv5"], ("b_kv5", 1): 2 * q * M.T @ v["a_kv5"],
                    ("a_kv5", 2): 2 * np.outer(M @ v["b_kv5"], M @ v["b_kv5"]), ("a_kv5", 3): np.zeros((2, 2, 2))})


# ---------------------------------------------------------------- trace and Frobenius identities

@problem
def frobenius_norm_of_a_cholesky_factor_is_the_trace():
    # ‖chol(S)‖² = tr(LLᵀ) = tr S: the gradient is I, the second derivative 0
    S = td.matrix("S_cf5", "p_cf5 p_cf5", symmetric=True)
    f = td.sum(td.cholesky(S) ** 2)
    v = dict(S_cf5=spd(rng_of("cholesky frobenius"), 3, 0.5))
    return Problem(f, {S: 2}, v, lambda u: jnp.sum(jnp.linalg.cholesky(u["S_cf5"]) ** 2),
                   {("S_cf5", 1): np.eye(3), ("S_cf5", 2): np.zeros((3, 3, 3, 3))})


@problem
def log_of_the_cholesky_diagonal_is_half_the_log_determinant():
    # Σ log diag chol(S) = ½ log det S: ∂/∂S = ½S⁻¹, ∂²/∂S_ab∂S_cd = -½ sym(S⁻¹_ac S⁻¹_db)
    S = td.matrix("S_cd5", "p_cd5 p_cd5", symmetric=True)
    f = td.sum(td.log(td.diagonal(td.cholesky(S))))
    v = dict(S_cd5=spd(rng_of("cholesky diagonal"), 3, 0.5))
    Si = np.linalg.inv(v["S_cd5"])
    second = -(np.einsum("ac,db->abcd", Si, Si) + np.einsum("ad,cb->abcd", Si, Si)) / 4
    return Problem(f, {S: 3}, v, lambda u: jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(u["S_cd5"])))),
                   {("S_cd5", 1): Si / 2, ("S_cd5", 2): second})


@problem
def trace_of_x_a_xt_b_plus_the_squared_trace():
    # f = tr(XAXᵀB) + (tr X)²: ∂f/∂X = BᵀXAᵀ + BXA + 2 tr(X) I,
    # ∂²f/∂X_ab∂X_cd = B_ca A_bd + B_ac A_db + 2δ_ab δ_cd
    X, A, B = td.matrix("X_tx5", "n_tx5 n_tx5"), td.matrix("A_tx5", "n_tx5 n_tx5"), td.matrix("B_tx5", "n_tx5 n_tx5")
    f = td.trace(X @ A @ X.T @ B) + td.trace(X) ** 2
    rng = rng_of("trace xaxtb")
    v = dict(X_tx5=rng.standard_normal((3, 3)), A_tx5=rng.standard_normal((3, 3)), B_tx5=rng.standard_normal((3, 3)))
    Xv, Av, Bv = v["X_tx5"], v["A_tx5"], v["B_tx5"]
    second = (np.einsum("ca,bd->abcd", Bv, Av) + np.einsum("ac,db->abcd", Bv, Av)
              + 2 * np.einsum("ab,cd->abcd", np.eye(3), np.eye(3)))
    return Problem(f, {X: 3, A: 1}, v, lambda u: jnp.trace(u["X_tx5"] @ u["A_tx5"] @ u["X_tx5"].T @ u["B_tx5"]) + jnp.trace(u["X_tx5"]) ** 2,
                   {("X_tx5", 1): Bv.T @ Xv @ Av.T + Bv @ Xv @ Av + 2 * np.trace(Xv) * np.eye(3), ("X_tx5", 2): second,
                    ("X_tx5", 3): np.zeros((3,) * 6), ("A_tx5", 1): Xv.T @ Bv.T @ Xv})


@problem
def symmetric_low_rank_fit_to_order_three():
    # f = ‖A - UUᵀ‖² with A symmetric: ∂f/∂U = -4(A - UUᵀ)U
    U, A = td.matrix("U_lr5", "n_lr5 r_lr5"), td.matrix("A_lr5", "n_lr5 n_lr5", symmetric=True)
    f = td.sum((A - U @ U.T) ** 2)
    rng = rng_of("symmetric low rank")
    v = dict(U_lr5=rng.standard_normal((4, 2)), A_lr5=sym(rng.standard_normal((4, 4))))
    E = v["A_lr5"] - v["U_lr5"] @ v["U_lr5"].T
    return Problem(f, {U: 3, A: 2}, v, lambda u: jnp.sum((u["A_lr5"] - u["U_lr5"] @ u["U_lr5"].T) ** 2),
                   {("U_lr5", 1): -4 * E @ v["U_lr5"], ("A_lr5", 1): 2 * E})


@problem
def elementwise_functions_of_a_symmetric_argument():
    # f = Σ W∘S∘S + xᵀS²x (W not symmetric): with G = 2W∘S + xxᵀS + Sxxᵀ, ∂f/∂S = sym(G)
    S, W = td.matrix("S_es5", "n_es5 n_es5", symmetric=True), td.matrix("W_es5", "n_es5 n_es5")
    x = td.vector("x_es5", "n_es5")
    f = td.sum(W * S * S) + x @ S @ S @ x
    rng = rng_of("elementwise symmetric")
    v = dict(S_es5=sym(rng.standard_normal((3, 3))), W_es5=rng.standard_normal((3, 3)), x_es5=rng.standard_normal(3))
    Sv, xx = v["S_es5"], np.outer(v["x_es5"], v["x_es5"])
    G = 2 * v["W_es5"] * Sv + xx @ Sv + Sv @ xx
    return Problem(f, {S: 3, x: 2}, v, lambda u: jnp.sum(u["W_es5"] * u["S_es5"] ** 2) + u["x_es5"] @ u["S_es5"] @ u["S_es5"] @ u["x_es5"],
                   {("S_es5", 1): sym(G), ("x_es5", 1): 2 * Sv @ Sv @ v["x_es5"], ("x_es5", 2): 2 * Sv @ Sv})


# ---------------------------------------------------------------- matrix functions in a scalar parameter

@problem
def trace_of_the_fifth_power_of_a_pencil_to_order_four():
    # f(t) = tr((A + tB)⁵): f' = 5 tr((A + tB)⁴B)
    A, B, t = td.matrix("A_p55", "n_p55 n_p55"), td.matrix("B_p55", "n_p55 n_p55"), td.scalar("t_p55")
    f = td.trace(td.matrix_power(A + t * B, 5))
    rng = rng_of("fifth power pencil")
    v = dict(A_p55=rng.standard_normal((3, 3)) / 2, B_p55=rng.standard_normal((3, 3)) / 2, t_p55=0.7)
    M = v["A_p55"] + 0.7 * v["B_p55"]
    return Problem(f, {t: 4, B: 1}, v, lambda u: jnp.trace(jnp.linalg.matrix_power(u["A_p55"] + u["t_p55"] * u["B_p55"], 5)),
                   {("t_p55", 1): 5 * np.trace(np.linalg.matrix_power(M, 4) @ v["B_p55"]),
                    ("B_p55", 1): 5 * 0.7 * np.linalg.matrix_power(M, 4).T})


@problem
def rank_one_determinant_update_in_the_step_and_the_vector():
    # log det(A + t uuᵀ) = log det A + log(1 + t c), c = uᵀA⁻¹u: ∂^k/∂t^k = (-1)^(k+1)(k-1)! c^k/(1+tc)^k,
    # ∂/∂u = 2t A⁻ᵀ... = t(A⁻¹ + A⁻ᵀ)u/(1 + tc)
    A, u, t = td.matrix("A_r15", "n_r15 n_r15"), td.vector("u_r15", "n_r15"), td.scalar("t_r15")
    f = td.logdet(A + t * td.outer(u, u))
    rng = rng_of("rank one update")
    v = dict(A_r15=2 * np.eye(3) + 0.4 * rng.standard_normal((3, 3)), u_r15=rng.standard_normal(3), t_r15=0.6)
    Ai = np.linalg.inv(v["A_r15"])
    c = v["u_r15"] @ Ai @ v["u_r15"]
    closed = {("t_r15", k): (-1) ** (k + 1) * math.factorial(k - 1) * c ** k / (1 + 0.6 * c) ** k for k in range(1, 5)}
    closed[("u_r15", 1)] = 0.6 * (Ai + Ai.T) @ v["u_r15"] / (1 + 0.6 * c)
    return Problem(f, {t: 4, u: 2}, v,
                   lambda w: jnp.linalg.slogdet(w["A_r15"] + w["t_r15"] * jnp.outer(w["u_r15"], w["u_r15"]))[1], closed)


@problem
def weighted_cube_of_a_pencil_to_order_four():
    # f(t) = Σ C∘(A + tB)³: a cubic in t, f''' = 6 Σ C∘B³ and f'''' = 0
    A, B, C = (td.matrix(f"{m}_cp5", "n_cp5 n_cp5") for m in "ABC")
    t = td.scalar("t_cp5")
    f = td.sum(C * td.matrix_power(A + t * B, 3))
    rng = rng_of("cube of a pencil")
    v = dict(A_cp5=rng.standard_normal((3, 3)), B_cp5=rng.standard_normal((3, 3)), C_cp5=rng.standard_normal((3, 3)), t_cp5=-0.4)
    B3 = np.linalg.matrix_power(v["B_cp5"], 3)
    return Problem(f, {t: 4}, v, lambda u: jnp.sum(u["C_cp5"] * jnp.linalg.matrix_power(u["A_cp5"] + u["t_cp5"] * u["B_cp5"], 3)),
                   {("t_cp5", 3): 6 * np.sum(v["C_cp5"] * B3), ("t_cp5", 4): 0.0})


@problem
def inverse_of_a_shifted_matrix_read_by_a_bilinear_form_to_order_four():
    # f(t) = xᵀ(A + t diag(d))⁻¹y: ∂^k/∂t^k = (-1)^k k! xᵀ(M⁻¹D)^k M⁻¹y
    A, d, t = td.matrix("A_sd5", "n_sd5 n_sd5"), td.vector("d_sd5", "n_sd5"), td.scalar("t_sd5")
    x, y = td.vector("x_sd5", "n_sd5"), td.vector("y_sd5", "n_sd5")
    f = x @ td.inv(A + t * td.diag(d)) @ y
    rng = rng_of("shifted inverse")
    v = dict(A_sd5=3 * np.eye(3) + 0.5 * rng.standard_normal((3, 3)), d_sd5=rng.uniform(0.5, 1.5, 3), t_sd5=0.4,
             x_sd5=rng.standard_normal(3), y_sd5=rng.standard_normal(3))
    Mi = np.linalg.inv(v["A_sd5"] + 0.4 * np.diag(v["d_sd5"]))
    MD = Mi @ np.diag(v["d_sd5"])
    closed = {("t_sd5", k): (-1) ** k * math.factorial(k) * v["x_sd5"] @ np.linalg.matrix_power(MD, k) @ Mi @ v["y_sd5"]
              for k in range(1, 5)}
    closed[("d_sd5", 1)] = -0.4 * (Mi.T @ v["x_sd5"]) * (Mi @ v["y_sd5"])
    return Problem(f, {t: 4, d: 2}, v, lambda u: u["x_sd5"] @ jnp.linalg.inv(u["A_sd5"] + u["t_sd5"] * jnp.diag(u["d_sd5"])) @ u["y_sd5"],
                   closed)


# ---------------------------------------------------------------- where, max, indexing, order-3 tensors

@problem
def soft_thresholding_through_where_in_the_signal_and_the_threshold():
    # s = where(|x| > λ, x - λ sign(x), 0), f = ‖y - s‖²: ∂f/∂λ = Σ_{|x|>λ} 2(y - s) sign(x)
    x, lam, y = td.vector("x_sf5", "n_sf5"), td.scalar("lam_sf5"), td.vector("y_sf5", "n_sf5")
    s = td.where(td.abs(x) > lam, x - lam * td.sign(x), 0 * x)
    f = td.sum((y - s) ** 2)
    rng = rng_of("soft thresholding")
    xv = rng.standard_normal(7)
    v = dict(x_sf5=xv, lam_sf5=0.45, y_sf5=rng.standard_normal(7))
    assert np.min(np.abs(np.abs(xv) - 0.45)) > 1e-3
    on = np.abs(xv) > 0.45
    sv = np.where(on, xv - 0.45 * np.sign(xv), 0)
    return Problem(f, {x: 2, lam: 3}, v, lambda u: jnp.sum((u["y_sf5"] - jnp.where(
        jnp.abs(u["x_sf5"]) > u["lam_sf5"], u["x_sf5"] - u["lam_sf5"] * jnp.sign(u["x_sf5"]), 0)) ** 2),
                   {("lam_sf5", 1): np.sum(2 * (v["y_sf5"] - sv) * np.sign(xv) * on), ("x_sf5", 1): -2 * (v["y_sf5"] - sv) * on})


@problem
def row_maximum_of_a_layer_minus_its_column_maximum():
    # f = Σ_i max_j (XW)_ij - Σ_j max_i tanh(XW)_ij, ties away: the gradient picks the argmax rows
    X, W = td.matrix("X_rm5", "n_rm5 d_rm5"), td.matrix("W_rm5", "d_rm5 k_rm5")
    Z = X @ W
    f = td.sum(td.max(Z, axis=1)) - td.sum(td.max(td.tanh(Z), axis=0))
    rng = rng_of("row and column maxima")
    v = dict(X_rm5=rng.standard_normal((5, 3)), W_rm5=rng.standard_normal((3, 4)))
    Zv = v["X_rm5"] @ v["W_rm5"]
    rows, cols = np.eye(4)[Zv.argmax(1)], np.eye(5)[Zv.argmax(0)].T
    grad = v["X_rm5"].T @ (rows - cols * (1 - np.tanh(Zv) ** 2))
    return Problem(f, {W: 2}, v, lambda u: (jnp.sum(jnp.max(u["X_rm5"] @ u["W_rm5"], axis=1))
                                            - jnp.sum(jnp.max(jnp.tanh(u["X_rm5"] @ u["W_rm5"]), axis=0))),
                   {("W_rm5", 1): grad})


@problem
def squared_normalisation_of_an_order_three_tensor_along_its_last_axis():
    # P = Z²/Σ_k Z² (along k, kept as a length-1 axis), f = Σ W∘P: ∂f/∂Z = 2Z(W - Σ_k W∘P)/Σ_k Z²
    Z, W = td.tensor("Z_sn5", "b_sn5 n_sn5 k_sn5"), td.tensor("W_sn5", "b_sn5 n_sn5 k_sn5")
    norms = td.sum(Z ** 2, axis=2)[:, :, None]
    f = td.sum(W * Z ** 2 / norms)
    rng = rng_of("squared normalisation")
    v = dict(Z_sn5=rng.standard_normal((2, 3, 3)), W_sn5=rng.standard_normal((2, 3, 3)))
    nv = (v["Z_sn5"] ** 2).sum(-1, keepdims=True)
    P = v["Z_sn5"] ** 2 / nv
    grad = 2 * v["Z_sn5"] * (v["W_sn5"] - (v["W_sn5"] * P).sum(-1, keepdims=True)) / nv
    return Problem(f, {Z: 2}, v, lambda u: jnp.sum(u["W_sn5"] * u["Z_sn5"] ** 2 / jnp.sum(u["Z_sn5"] ** 2, axis=2)[:, :, None]),
                   {("Z_sn5", 1): grad})


@problem
def batched_bilinear_forms_through_einsum_squared():
    # q_b = x_bᵀA_b y_b, f = Σ q_b²: ∂f/∂A_bij = 2q_b x_bi y_bj
    A = td.tensor("A_bb5", "b_bb5 n_bb5 m_bb5")
    X, Y = td.matrix("X_bb5", "b_bb5 n_bb5"), td.matrix("Y_bb5", "b_bb5 m_bb5")
    q = td.einsum("bi,bij,bj->b", X, A, Y)
    f = td.sum(q ** 2)
    rng = rng_of("batched bilinear")
    v = dict(A_bb5=rng.standard_normal((3, 2, 4)), X_bb5=rng.standard_normal((3, 2)), Y_bb5=rng.standard_normal((3, 4)))
    qv = np.einsum("bi,bij,bj->b", v["X_bb5"], v["A_bb5"], v["Y_bb5"])
    return Problem(f, {A: 2, X: 3}, v, lambda u: jnp.sum(jnp.einsum("bi,bij,bj->b", u["X_bb5"], u["A_bb5"], u["Y_bb5"]) ** 2),
                   {("A_bb5", 1): 2 * np.einsum("b,bi,bj->bij", qv, v["X_bb5"], v["Y_bb5"])})


@problem
def stacked_powers_of_a_matrix_read_by_weights():
    # f = Σ W∘stack(X, X², X³): ∂f/∂X = W₀ + (W₁Xᵀ + XᵀW₁) + (W₂(X²)ᵀ + XᵀW₂Xᵀ + (X²)ᵀW₂)
    X, W = td.matrix("X_sp5", "n_sp5 n_sp5"), td.tensor("W_sp5", "three_sp5 n_sp5 n_sp5")
    f = td.sum(W * td.stack([X, X @ X, X @ X @ X], dim="three_sp5"))
    rng = rng_of("stacked powers")
    v = dict(X_sp5=rng.standard_normal((3, 3)), W_sp5=rng.standard_normal((3, 3, 3)))
    Xv, (W0, W1, W2) = v["X_sp5"], v["W_sp5"]
    grad = W0 + W1 @ Xv.T + Xv.T @ W1 + W2 @ (Xv @ Xv).T + Xv.T @ W2 @ Xv.T + (Xv @ Xv).T @ W2
    return Problem(f, {X: 3}, v, lambda u: jnp.sum(u["W_sp5"] * jnp.stack([u["X_sp5"], u["X_sp5"] @ u["X_sp5"],
                                                                            u["X_sp5"] @ u["X_sp5"] @ u["X_sp5"]])),
                   {("X_sp5", 1): grad})


@problem
def outer_differences_by_newaxis_as_a_matrix_valued_map():
    # F = tanh(x[:, None] - y[None, :]) (a matrix): ∂F_ij/∂x_k = δ_ik sech², ∂F_ij/∂y_k = -δ_jk sech²
    x, y = td.vector("x_od5", "n_od5"), td.vector("y_od5", "m_od5")
    F = td.tanh(x[:, None] - y[None, :])
    rng = rng_of("outer differences")
    v = dict(x_od5=rng.standard_normal(3), y_od5=rng.standard_normal(2))
    sech2 = 1 - np.tanh(v["x_od5"][:, None] - v["y_od5"][None, :]) ** 2
    return Problem(F, {x: 2, y: 2}, v, lambda u: jnp.tanh(u["x_od5"][:, None] - u["y_od5"][None, :]),
                   {("x_od5", 1): np.einsum("ij,ik->ijk", sech2, np.eye(3)),
                    ("y_od5", 1): -np.einsum("ij,jk->ijk", sech2, np.eye(2))})


@problem
def selected_rows_and_a_column_of_a_solve():
    # F = solve(A, B)[1:, 0] (a vector): ∂/∂B_kl = A⁻¹[1:, k] δ_l0
    A, B = td.matrix("A_sr5", "n_sr5 n_sr5"), td.matrix("B_sr5", "n_sr5 m_sr5")
    F = td.solve(A, B)[1:, 0]
    rng = rng_of("rows of a solve")
    v = dict(A_sr5=3 * np.eye(4) + rng.standard_normal((4, 4)) / 2, B_sr5=rng.standard_normal((4, 2)))
    Ai = np.linalg.inv(v["A_sr5"])
    return Problem(F, {A: 2, B: 1}, v, lambda u: jnp.linalg.solve(u["A_sr5"], u["B_sr5"])[1:, 0],
                   {("B_sr5", 1): np.einsum("ik,l->ikl", Ai[1:], np.eye(2)[0])})


@problem
def scaled_mean_and_logsumexp_over_the_middle_axis():
    # f = Σ_bk (logsumexp_n T_bnk)² - Σ mean_n(T)_bk: ∂/∂T_bnk = 2 lse_bk softmax_n(T)_bnk - 1/n
    T = td.tensor("T_ml5", "b_ml5 n_ml5 k_ml5")
    f = td.sum(td.logsumexp(T, axis=1) ** 2) - td.sum(td.mean(T, axis=1))
    rng = rng_of("middle axis")
    v = dict(T_ml5=rng.standard_normal((2, 3, 2)))
    lse = special.logsumexp(v["T_ml5"], axis=1)
    P = np.exp(v["T_ml5"] - lse[:, None, :])
    return Problem(f, {T: 3}, v, lambda u: jnp.sum(jss.logsumexp(u["T_ml5"], axis=1) ** 2) - jnp.sum(jnp.mean(u["T_ml5"], axis=1)),
                   {("T_ml5", 1): 2 * lse[:, None, :] * P - 1 / 3})


@problem
def cosine_similarity_matrix_of_two_embeddings():
    # C = diag(1/‖a_i‖) A Bᵀ diag(1/‖b_j‖), f = Σ T∘C: a matrix map built with [:, None] and [None, :]
    A, B, T = td.matrix("A_cm5", "n_cm5 d_cm5"), td.matrix("B_cm5", "m_cm5 d_cm5"), td.matrix("T_cm5", "n_cm5 m_cm5")
    na, nb = td.sqrt(td.sum(A ** 2, axis=1)), td.sqrt(td.sum(B ** 2, axis=1))
    f = td.sum(T * (A @ B.T) / (na[:, None] * nb[None, :]))
    rng = rng_of("cosine matrix")
    v = dict(A_cm5=rng.standard_normal((3, 4)), B_cm5=rng.standard_normal((2, 4)), T_cm5=rng.standard_normal((3, 2)))

    def twin(u):
        Aj, Bj = u["A_cm5"], u["B_cm5"]
        return jnp.sum(u["T_cm5"] * (Aj @ Bj.T) / (jnp.linalg.norm(Aj, axis=1)[:, None] * jnp.linalg.norm(Bj, axis=1)[None, :]))
    return Problem(f, {A: 2, B: 2}, v, twin)


@problem
def gaussian_entropy_and_a_quadratic_in_a_cholesky_parameter():
    # Σ = LLᵀ with L = tril(M) (free lower triangle): f = log det(LLᵀ) - tr(Σ Q), ∂f/∂M = tril(2L⁻ᵀ - 2QL)
    # for a symmetric Q
    M = td.matrix("M_ce5", "p_ce5 p_ce5")
    Q = td.matrix("Q_ce5", "p_ce5 p_ce5", symmetric=True)
    L = td.tril(M)
    f = td.logdet(L @ L.T) - td.trace(L @ L.T @ Q)
    rng = rng_of("cholesky parameter")
    Mv = np.tril(rng.standard_normal((3, 3))) + 2 * np.eye(3) + np.triu(rng.standard_normal((3, 3)), 1)
    v = dict(M_ce5=Mv, Q_ce5=spd(rng, 3, 0.2))
    Lv = np.tril(Mv)
    return Problem(f, {M: 3}, v, lambda u: (jnp.linalg.slogdet(jnp.tril(u["M_ce5"]) @ jnp.tril(u["M_ce5"]).T)[1]
                                            - jnp.trace(jnp.tril(u["M_ce5"]) @ jnp.tril(u["M_ce5"]).T @ u["Q_ce5"])),
                   {("M_ce5", 1): np.tril(2 * np.linalg.inv(Lv).T - 2 * v["Q_ce5"] @ Lv)})


# ---------------------------------------------------------------- checking

CAMPAIGN = Campaign(PROBLEMS)
NAMES, build, jax_of = CAMPAIGN.names, CAMPAIGN.build, CAMPAIGN.jax_of


def test_there_are_at_least_thirty_problems():
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_every_order_matches_closed_forms_jax_and_finite_differences(name):
    every_order_matches(build(name), name, *jax_of(name), EXACT, FD, FD_ENTRIES)


@pytest.mark.parametrize("name", [n for n in NAMES if len(build(n).tops) > 1])
def test_several_symbols_give_jax_s_first_and_second_derivative_blocks(name):
    first_and_second_blocks_match_jax(build(name), name, *jax_of(name), EXACT,
                                      through="grad" if build(name).expr.ndim == 0 else "jacobian")


def first_and_second_derivatives(p):
    wrt = list(p.tops)
    return [p.expr, *(td.diff(p.expr, s) for s in wrt), *(td.diff(td.diff(p.expr, si), sj) for si in wrt for sj in wrt)]


@pytest.mark.skipif(not kernels_built(), reason="the compiled kernels are not built: the twin is all there is")
@pytest.mark.parametrize("name", NAMES)
def test_kernels_and_numpy_twin_agree_on_fresh_programs(name):
    p = build(name)
    kernels_and_twin_agree(first_and_second_derivatives(p), symbol_values(p), EXACT, name)


# jax runs eagerly, one dispatch per step: a spread of the problems keeps it quick
ON_BACKEND = {"numpy": NAMES, "jax": NAMES[2::6]}


@pytest.mark.parametrize("backend", sorted(ON_BACKEND))
def test_compiled_gradients_agree_on_every_backend(backend):
    backend_agrees(backend, [(name, build(name), [build(name).expr, *(td.diff(build(name).expr, s) for s in build(name).tops)])
                             for name in ON_BACKEND[backend]], 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_of_the_value_and_gradients_read_back(name):
    p = build(name)
    exprs = [p.expr, *(td.diff(p.expr, s) for s in p.tops)]
    printed_forms_read_back(exprs, symbol_values(p), name)


@pytest.mark.parametrize("name", NAMES[1::3])
def test_printed_forms_of_second_derivatives_read_back(name):
    # the value goes first so that the dims a constant second derivative dropped are sized by it
    p = build(name)
    printed_forms_read_back(first_and_second_derivatives(p), symbol_values(p), name)


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).expr.ndim == 0])
def test_hessian_vector_products_in_every_symbol_at_once_match_jax(name):
    # td.hvp(f, [x, y, ...], [u, v, ...]) is Σ_j H_ij u_j per symbol i; against jax's Hessian blocks
    p = build(name)
    orders, slices = jax_of(name)
    values = symbol_values(p)
    wrt = list(p.tops)
    directions = []
    for k, s in enumerate(wrt):
        u = td.tensor("U5_" + s.name, s.shape, symmetric=s.symmetric)
        value = np.random.default_rng(k).standard_normal(values[s.name].shape)
        values[u.name] = sym(value) if s.symmetric else value
        directions.append(u)
    products = td.hvp(p.expr, wrt, directions) if len(wrt) > 1 else (td.hvp(p.expr, wrt[0], directions[0]),)
    got = td.compile(list(products))(values)
    for i, si in enumerate(wrt):
        want = sum(np.tensordot(block(orders[2], 0, [slices[si.name], slices[sj.name]]), values[u.name], axes=u.ndim)
                   for sj, u in zip(wrt, directions))
        assert_close(got[i], want, EXACT, f"{name}: hvp row {si.name}")


def arguments_of(p, values):
    """The generated function's arguments: the symbols' values sorted by name."""
    return [values[n.name] for n in sorted({n for n in td.expr.topological([p.expr]) if isinstance(n, td.expr.Var)},
                                           key=lambda n: n.name)]


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).expr.ndim == 0])
def test_generated_code_with_its_check_helper(name):
    # codegen([f, grads...], check=True): the function returns the program's results and check_f,
    # along a random direction, finds its gradients right
    p = build(name)
    values = symbol_values(p)
    exprs = [p.expr, *(td.grad(p.expr, s) for s in p.tops)]
    namespace = {}
    exec(td.codegen(exprs, asserts=True, check=True), namespace)   # noqa: S102 - the generated code is what is tested
    args = arguments_of(p, values)
    for got, want in zip(namespace["f"](*args), td.compile(exprs)(values)):
        assert_close(np.asarray(got), want, EXACT, f"{name}: generated code")
    assert namespace["check_f"](*args) < 1e-6, name


LARGE = 40                    # every plain dim at this size (a dim of length 1 stays 1)...
FIXED_DIMS = {"three_sp5"}    # ...but a stack's dim, whose length is the number of arrays stacked
PLAIN_DIM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def dims_at_scale(p):
    sizes = {}
    for s in td.expr.topological([p.expr]):
        if isinstance(s, td.expr.Var):
            for dim, n in zip(s.shape, np.shape(p.values[s.name])):
                if PLAIN_DIM.match(dim):
                    sizes[dim] = n if n == 1 or dim in FIXED_DIMS else LARGE
    return sizes


def allocated(exprs, sizes):
    """What evaluating ``exprs`` allocates at its peak (inputs excluded), by td.cost's plan."""
    cost = td.cost(exprs, **sizes)
    return cost.peak_bytes - cost.input_bytes


@pytest.mark.parametrize("name", NAMES)
def test_the_plan_of_value_and_gradients_allocates_a_small_multiple_of_the_value_s_plan(name):
    # reverse-mode's cheap gradient: the gradients cost a constant factor of the value, and are the
    # size of their symbols. A plan of them allocating many times what the value's own plan does,
    # its largest result, all its inputs or an n×n matrix (all a solve or a Gram needs) holds an
    # intermediate it should not, e.g. a Jacobian where a vector-Jacobian product was meant
    p = build(name)
    sizes = dims_at_scale(p)
    exprs = [p.expr, *(td.diff(p.expr, s) for s in p.tops)]
    cost = td.cost(exprs, **sizes)
    largest = max([LARGE ** 2, cost.input_bytes // 8, *(math.prod(shape) for shape in cost.shapes)])
    value = max(allocated([p.expr], sizes), 8 * largest)
    assert cost.peak_bytes - cost.input_bytes <= 40 * value, (name, cost)


def test_the_gradient_of_a_cholesky_factor_s_norm_plans_no_order_four_sum():
    # ∂‖chol(S)‖²/∂S = Σ_kl (T1 + T2 + T3)[i,j,k,l]: a single-operand einsum (the sum over k, l) of
    # an order-4 sum; sum distribution only looked at products of two or more operands, so the plan
    # built the p×p×p×p sum (20.5 MiB and 2.4e7 flops at p = 40; now 63 KiB and 5.5e5)
    S = td.matrix("S_cn5", "p_cn5 p_cn5", symmetric=True)
    f = td.sum(td.cholesky(S) ** 2)
    cost = td.cost([f, td.grad(f, S)], p_cn5=40)
    assert cost.peak_bytes < 40 * 8 * 40 ** 2 and cost.flops < 2e6, cost
    Sv = spd(rng_of("cholesky norm plan"), 5, 0.5)
    assert_close(td.evaluate(td.grad(f, S), S_cn5=Sv), np.eye(5), EXACT, "∂‖chol(S)‖²/∂S = I")


# ---------------------------------------------------------------- what the plan-size scan of random expressions found

@pytest.mark.parametrize("chosen", ["maximum", "where"])
def test_a_choice_over_a_row_major_vec_plans_no_jacobian(chosen):
    # ∂vec(Nᵀ)/∂N is a bare 0/1 merge (vec(N)'s is an einsum of one), so where_of_derivatives
    # did not see it as a Jacobian J and chose over the whole (a·b, a, b) shape: 102 MB at
    # a = b = 40 for an a×b gradient (selfcheck seed 118's expression); now the choice is of the
    # a·b factors, times J
    N, q, W = td.matrix("N_vt5", "a_vt5 b_vt5"), td.scalar("q_vt5"), td.vector("W_vt5", "a_vt5·b_vt5")
    flat = td.vec(N.T)
    f = td.sum(W * (td.maximum(q, flat) if chosen == "maximum" else td.where(flat > q, flat, 0.5 * q)) ** 2)
    cost = td.cost([f, td.grad(f, N)], a_vt5=40, b_vt5=40)
    assert cost.peak_bytes < 40 * 8 * 40 ** 2, cost
    rng = rng_of("row-major vec choice " + chosen)
    v = dict(N_vt5=rng.standard_normal((3, 4)), q_vt5=0.1, W_vt5=rng.standard_normal(12))
    flat_v = v["N_vt5"].ravel()
    chosen_v = np.maximum(0.1, flat_v) if chosen == "maximum" else np.where(flat_v > 0.1, flat_v, 0.05)
    slope = (flat_v > 0.1) * 2 * v["W_vt5"] * chosen_v    # ∂/∂N, read back in N's shape (row-major)
    assert_close(td.evaluate(td.grad(f, N), v), slope.reshape(3, 4), EXACT, f"gradient through {chosen}")


@pytest.mark.parametrize("seed", [140, 309])
def test_random_expressions_whose_gradient_plans_sum_order_four_jacobians(seed):
    """Selfcheck seeds 140 and 309 (widened): the composite-structures pass made products of vec/kron
    merges into reshapes of order-4 Jacobians summed over (a·b, a, b), 82 and 58 MB for a 40×40
    gradient; sum distribution now reads the repeating terms inline and counts merged dims as
    their parts (the kronmem branch)."""
    from tensordiff.selfcheck import Example
    ex = Example(seed, widened=True)
    W = td.tensor("W_rx5", ex.expr.shape)
    f = td.sum(ex.expr * W)
    N = ex.S["N"]
    value = td.cost([ex.expr], a=40, b=40)
    cost = td.cost([f, td.grad(f, N)], a=40, b=40)
    assert value.peak_bytes < 100_000   # the value's own plan is small
    assert cost.peak_bytes < 40 * 8 * 40 ** 2, cost
