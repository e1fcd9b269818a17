"""A fourth round of independent problems, none in the other campaign files: the generalised
Rayleigh quotient in its vector and both symmetric matrices, tr(A⁴) to order 3, matrix completion
with a mask in both factors, pinball (quantile) and triplet-margin losses away from their kinks,
smoothed total variation, a Poisson GLM (its Hessian XᵀdiagμX and third derivative in closed form),
the gamma and beta likelihoods in their shapes (digamma, polygamma), the multivariate t in its
degrees of freedom, scale and location, exp of an inverse, sigmoid of a solve (a matrix-valued map
in both arguments), the Mahalanobis distance (not squared), whitening through a Cholesky solve (no
square root), softmax cross-entropy in weights, bias and inputs at once, softmax over the middle
axis of an order-3 tensor, instance normalisation over two axes, a layer whose inner dim has length
1, an orthogonality penalty to order 3, det(A)^(1/3), the normalised map Ax/‖x‖, C∘xxᵀ and XXᵀ
(Jacobians of matrix-valued maps), vec(AXB) and its Jacobian kron(Bᵀ, A), the resolvent yᵀ(A+tI)⁻¹y
and log det(A+tB) to order 4 in t (closed forms at every order), a bilinear logistic model in two
vectors, abs/sign/ℓ1 losses and minimum/maximum/where of two variables at random (non-kink)
points, stacked column moments, ‖kron(A, B)‖² + tr kron(A, B), tr S³ + tr(SASB) in a symmetric S,
and a Gaussian-process likelihood through a Cholesky factor in its amplitude and noise.

Each problem is checked against its closed form where one is worked out (in numpy, in the
comment), central finite differences of the order below, and nested ``jax.jacfwd`` of a twin
written in jax.numpy (orders 1 to 4); the gradients and Hessian blocks (or Jacobians) of several
symbols at once against jax's blocks, and td.hvp in every symbol at once; the compiled kernels
against the numpy twin on fresh programs; the numpy, jax and dask backends; and the printed forms of
the value, first and (for a quarter of the problems) second derivatives read back (td.parse of the
matrix notation, the generated einsum code). Last, the regression the random-expression selfcheck
on seeds 320000-320999 found (seed 320329, fixed in passes._computed).
"""

import math

import numpy as np
import pytest

import tensordiff as td

from helpers import (Campaign, Problem, assert_close, backend_agrees, block, every_order_matches,
                     first_and_second_blocks_match_jax, kernels_and_twin_agree, kernels_built, printed_forms_read_back,
                     registry, sigmoid, softmax_rows, spd, sym, symbol_values)

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
    return np.random.default_rng(sum(map(ord, name)) + 9403)


# ---------------------------------------------------------------- quadratic forms and symmetric arguments

@problem
def generalised_rayleigh_quotient_in_the_vector_and_both_symmetric_matrices():
    # ρ = xᵀAx / xᵀBx: ∂/∂x = 2(Ax - ρBx)/xᵀBx, ∂/∂A = xxᵀ/xᵀBx, ∂/∂B = -ρxxᵀ/xᵀBx
    x = td.vector("x_rq", "n_rq")
    A = td.matrix("A_rq", "n_rq n_rq", symmetric=True)
    B = td.matrix("B_rq", "n_rq n_rq", symmetric=True)
    f = (x @ A @ x) / (x @ B @ x)
    rng = rng_of("rayleigh")
    v = dict(x_rq=rng.standard_normal(3), A_rq=sym(rng.standard_normal((3, 3))), B_rq=spd(rng, 3, 0.5))
    xv, Av, Bv = v["x_rq"], v["A_rq"], v["B_rq"]
    q = xv @ Bv @ xv
    rho = xv @ Av @ xv / q
    return Problem(f, {x: 3, A: 2, B: 2}, v, lambda u: (u["x_rq"] @ u["A_rq"] @ u["x_rq"]) / (u["x_rq"] @ u["B_rq"] @ u["x_rq"]),
                   {("x_rq", 1): 2 * (Av @ xv - rho * Bv @ xv) / q, ("A_rq", 1): np.outer(xv, xv) / q,
                    ("B_rq", 1): -rho * np.outer(xv, xv) / q})


@problem
def trace_of_the_fourth_power_to_order_three():
    # f = tr A⁴: ∂/∂A = 4(A³)ᵀ
    A = td.matrix("A_t4", "n_t4 n_t4")
    f = td.trace(td.matrix_power(A, 4))
    v = dict(A_t4=rng_of("fourth power").standard_normal((3, 3)))
    A3 = np.linalg.matrix_power(v["A_t4"], 3)
    return Problem(f, {A: 3}, v, lambda u: jnp.trace(jnp.linalg.matrix_power(u["A_t4"], 4)), {("A_t4", 1): 4 * A3.T})


@problem
def cube_and_a_sandwich_of_a_symmetric_argument_to_order_three():
    # f = tr S³ + tr(SASB): G = 3S² + BᵀSAᵀ + AᵀSBᵀ treating S's entries as free, ∂/∂S = sym(G)
    S = td.matrix("S_cs", "n_cs n_cs", symmetric=True)
    A, B = td.matrix("A_cs", "n_cs n_cs"), td.matrix("B_cs", "n_cs n_cs")
    f = td.trace(td.matrix_power(S, 3)) + td.trace(S @ A @ S @ B)
    rng = rng_of("symmetric sandwich")
    v = dict(S_cs=sym(rng.standard_normal((3, 3))), A_cs=rng.standard_normal((3, 3)), B_cs=rng.standard_normal((3, 3)))
    Sv, Av, Bv = v["S_cs"], v["A_cs"], v["B_cs"]
    G = 3 * Sv @ Sv + Bv.T @ Sv @ Av.T + Av.T @ Sv @ Bv.T
    return Problem(f, {S: 3}, v, lambda u: (jnp.trace(u["S_cs"] @ u["S_cs"] @ u["S_cs"])
                                           + jnp.trace(u["S_cs"] @ u["A_cs"] @ u["S_cs"] @ u["B_cs"])),
                   {("S_cs", 1): sym(G)})


@problem
def mahalanobis_distance_not_squared_in_point_mean_and_metric():
    # d = √(rᵀS⁻¹r), r = x - μ: ∂/∂x = S⁻¹r/d = -∂/∂μ, ∂/∂S = -S⁻¹rrᵀS⁻¹/(2d)
    x, mu = td.vector("x_md", "p_md"), td.vector("mu_md", "p_md")
    S = td.matrix("S_md", "p_md p_md", symmetric=True)
    r = x - mu
    f = td.sqrt(r @ td.solve(S, r))
    rng = rng_of("mahalanobis not squared")
    v = dict(x_md=rng.standard_normal(3), mu_md=rng.standard_normal(3), S_md=spd(rng, 3, 0.5))
    rv = v["x_md"] - v["mu_md"]
    w = np.linalg.solve(v["S_md"], rv)
    d = math.sqrt(rv @ w)

    def twin(u):
        rj = u["x_md"] - u["mu_md"]
        return jnp.sqrt(rj @ jnp.linalg.solve(u["S_md"], rj))
    return Problem(f, {x: 3, mu: 1, S: 2}, v, twin, {("x_md", 1): w / d, ("mu_md", 1): -w / d,
                                                   ("S_md", 1): -np.outer(w, w) / (2 * d)})


@problem
def whitened_squared_norm_through_a_cholesky_solve():
    # ‖L⁻¹X‖² with LLᵀ = S is tr(XᵀS⁻¹X), no square root: ∂/∂S = -S⁻¹XXᵀS⁻¹, ∂/∂X = 2S⁻¹X
    S = td.matrix("S_wn", "p_wn p_wn", symmetric=True)
    X = td.matrix("X_wn", "p_wn n_wn")
    f = td.sum(td.solve(td.cholesky(S), X) ** 2)
    rng = rng_of("whitened norm")
    v = dict(S_wn=spd(rng, 3, 0.5), X_wn=rng.standard_normal((3, 4)))
    SiX = np.linalg.solve(v["S_wn"], v["X_wn"])
    return Problem(f, {S: 3, X: 1}, v, lambda u: jnp.sum(jnp.linalg.solve(jnp.linalg.cholesky(u["S_wn"]), u["X_wn"]) ** 2),
                   {("S_wn", 1): -SiX @ SiX.T, ("X_wn", 1): 2 * SiX})


@problem
def log_cosh_of_data_whitened_by_a_cholesky_factor():
    # Σ log cosh(L⁻¹X), LLᵀ = S: a whitening with no symmetric square root, in S and the data
    S = td.matrix("S_lc4", "p_lc4 p_lc4", symmetric=True)
    X = td.matrix("X_lc4", "p_lc4 n_lc4")
    f = td.sum(td.log(td.cosh(td.solve(td.cholesky(S), X))))
    rng = rng_of("log cosh whitened")
    v = dict(S_lc4=spd(rng, 3, 0.5), X_lc4=rng.standard_normal((3, 2)))
    return Problem(f, {S: 2, X: 2}, v, lambda u: jnp.sum(jnp.log(jnp.cosh(
        jnp.linalg.solve(jnp.linalg.cholesky(u["S_lc4"]), u["X_lc4"])))))


@problem
def geometric_mean_of_the_eigenvalues_through_a_power_of_the_determinant():
    # f = det(A)^(1/3): ∂/∂A = f A⁻ᵀ/3
    A = td.matrix("A_gm", "n_gm n_gm")
    f = td.det(A) ** (1 / 3)
    v = dict(A_gm=2 * np.eye(3) + 0.3 * rng_of("geometric mean").standard_normal((3, 3)))
    fv = np.linalg.det(v["A_gm"]) ** (1 / 3)
    return Problem(f, {A: 3}, v, lambda u: jnp.linalg.det(u["A_gm"]) ** (1 / 3),
                   {("A_gm", 1): fv * np.linalg.inv(v["A_gm"]).T / 3})


@problem
def orthogonality_penalty_to_order_three():
    # f = ‖WᵀW - I‖²: ∂/∂W = 4WE (E = WᵀW - I), ∂²/∂W_ab∂W_cd = 4(δ_ac E_db + W_ad W_cb + (WWᵀ)_ac δ_bd)
    W = td.matrix("W_op", "n_op k_op")
    f = td.sum((W.T @ W - td.eye("k_op")) ** 2)
    Wv = rng_of("orthogonality").standard_normal((4, 2)) * 0.7
    E = Wv.T @ Wv - np.eye(2)
    second = 4 * (np.einsum("ac,db->abcd", np.eye(4), E) + np.einsum("ad,cb->abcd", Wv, Wv)
                  + np.einsum("ac,bd->abcd", Wv @ Wv.T, np.eye(2)))
    return Problem(f, {W: 3}, dict(W_op=Wv), lambda u: jnp.sum((u["W_op"].T @ u["W_op"] - jnp.eye(2)) ** 2),
                   {("W_op", 1): 4 * Wv @ E, ("W_op", 2): second})


# ---------------------------------------------------------------- inverses and solves under elementwise functions

@problem
def elementwise_exponential_of_an_inverse():
    # f = Σ B∘exp(A⁻¹): with G = B∘exp(A⁻¹), ∂/∂A = -A⁻ᵀGA⁻ᵀ
    A, B = td.matrix("A_ei", "n_ei n_ei"), td.matrix("B_ei", "n_ei n_ei")
    f = td.sum(B * td.exp(td.inv(A)))
    rng = rng_of("exp of inverse")
    v = dict(A_ei=2 * np.eye(3) + 0.4 * rng.standard_normal((3, 3)), B_ei=rng.standard_normal((3, 3)))
    Ai = np.linalg.inv(v["A_ei"])
    G = v["B_ei"] * np.exp(Ai)
    return Problem(f, {A: 3, B: 1}, v, lambda u: jnp.sum(u["B_ei"] * jnp.exp(jnp.linalg.inv(u["A_ei"]))),
                   {("A_ei", 1): -Ai.T @ G @ Ai.T, ("B_ei", 1): np.exp(Ai)})


@problem
def sigmoid_of_a_solve_as_a_matrix_valued_map():
    # F = σ(A⁻¹B): ∂F_ij/∂B_kl = σ'(Z)_ij A⁻¹_ik δ_jl, ∂F_ij/∂A_kl = -σ'(Z)_ij A⁻¹_ik Z_lj
    A, B = td.matrix("A_ss", "n_ss n_ss"), td.matrix("B_ss", "n_ss m_ss")
    F = td.sigmoid(td.solve(A, B))
    rng = rng_of("sigmoid solve")
    v = dict(A_ss=2 * np.eye(3) + 0.4 * rng.standard_normal((3, 3)), B_ss=rng.standard_normal((3, 2)))
    Ai = np.linalg.inv(v["A_ss"])
    Z = Ai @ v["B_ss"]
    ds = sigmoid(Z) * (1 - sigmoid(Z))
    return Problem(F, {A: 2, B: 2}, v, lambda u: jax.nn.sigmoid(jnp.linalg.solve(u["A_ss"], u["B_ss"])),
                   {("B_ss", 1): np.einsum("ij,ik,jl->ijkl", ds, Ai, np.eye(2)),
                    ("A_ss", 1): -np.einsum("ij,ik,lj->ijkl", ds, Ai, Z)})


@problem
def resolvent_quadratic_form_in_the_shift_to_order_four():
    # f(t) = yᵀ(A + tI)⁻¹y: the k-th derivative is (-1)^k k! yᵀM^-(k+1)y, M = A + tI
    t, A, y = td.scalar("t_rs"), td.matrix("A_rs", "n_rs n_rs"), td.vector("y_rs", "n_rs")
    f = y @ td.solve(A + t * td.eye("n_rs"), y)
    rng = rng_of("resolvent")
    v = dict(t_rs=0.3, A_rs=spd(rng, 4, 0.5), y_rs=rng.standard_normal(4))
    Mi = np.linalg.inv(v["A_rs"] + 0.3 * np.eye(4))
    closed = {("t_rs", k): (-1) ** k * math.factorial(k) * v["y_rs"] @ np.linalg.matrix_power(Mi, k + 1) @ v["y_rs"]
              for k in range(1, 5)}
    return Problem(f, {t: 4}, v, lambda u: u["y_rs"] @ jnp.linalg.solve(u["A_rs"] + u["t_rs"] * jnp.eye(4), u["y_rs"]),
                   closed)


@problem
def log_determinant_along_a_symmetric_pencil_to_order_four():
    # g(t) = log det(A + tB): the k-th derivative is (-1)^(k-1) (k-1)! tr((M⁻¹B)^k), M = A + tB
    t = td.scalar("t_lp")
    A = td.matrix("A_lp", "n_lp n_lp", symmetric=True)
    B = td.matrix("B_lp", "n_lp n_lp", symmetric=True)
    f = td.logdet(A + t * B)
    rng = rng_of("log det pencil")
    v = dict(t_lp=0.2, A_lp=spd(rng, 3, 1.0), B_lp=sym(rng.standard_normal((3, 3))))
    MB = np.linalg.solve(v["A_lp"] + 0.2 * v["B_lp"], v["B_lp"])
    closed = {("t_lp", k): (-1) ** (k - 1) * math.factorial(k - 1) * np.trace(np.linalg.matrix_power(MB, k))
              for k in range(1, 5)}
    return Problem(f, {t: 4, B: 2}, v, lambda u: jnp.linalg.slogdet(u["A_lp"] + u["t_lp"] * u["B_lp"])[1], closed)


# ---------------------------------------------------------------- likelihoods

@problem
def poisson_regression_with_an_offset_to_order_three():
    # η = Xβ + o, μ = exp η, f = Σ μ - yη: ∂ = Xᵀ(μ - y), ∂² = Xᵀdiag(μ)X, ∂³_abc = Σ_i μ_i X_ia X_ib X_ic
    X, beta = td.matrix("X_po", "n_po p_po"), td.vector("b_po", "p_po")
    o, y = td.vector("o_po", "n_po"), td.vector("y_po", "n_po")
    eta = X @ beta + o
    f = td.sum(td.exp(eta) - y * eta)
    rng = rng_of("poisson")
    v = dict(X_po=rng.standard_normal((6, 3)) * 0.5, b_po=rng.standard_normal(3) * 0.3, o_po=rng.standard_normal(6) * 0.2,
             y_po=rng.poisson(1.5, 6).astype(float))
    Xv = v["X_po"]
    mu = np.exp(Xv @ v["b_po"] + v["o_po"])

    def twin(u):
        ej = u["X_po"] @ u["b_po"] + u["o_po"]
        return jnp.sum(jnp.exp(ej) - u["y_po"] * ej)
    return Problem(f, {beta: 3}, v, twin, {("b_po", 1): Xv.T @ (mu - v["y_po"]), ("b_po", 2): Xv.T @ (mu[:, None] * Xv),
                                           ("b_po", 3): np.einsum("i,ia,ib,ic->abc", mu, Xv, Xv, Xv)})


@problem
def gamma_likelihood_in_shape_and_rate_to_order_three():
    # f = Σ (α-1)log x - βx + α log β - lgamma α: ∂/∂α = Σlog x + n(log β - ψ(α)), ∂/∂β = nα/β - Σx,
    # ∂²/∂α² = -nψ'(α), ∂²/∂β² = -nα/β², ∂³/∂α³ = -nψ''(α)
    a, b, x = td.scalar("a_ga"), td.scalar("b_ga"), td.vector("x_ga", "n_ga")
    f = td.sum((a - 1) * td.log(x) - b * x + a * td.log(b) - td.lgamma(a))
    rng = rng_of("gamma likelihood")
    v = dict(a_ga=2.3, b_ga=1.7, x_ga=rng.gamma(2.0, 0.5, 6))
    n, lx = 6, np.log(v["x_ga"])
    return Problem(f, {a: 3, b: 3}, v, lambda u: jnp.sum((u["a_ga"] - 1) * jnp.log(u["x_ga"]) - u["b_ga"] * u["x_ga"]
                                                         + u["a_ga"] * jnp.log(u["b_ga"]) - jss.gammaln(u["a_ga"])),
                   {("a_ga", 1): lx.sum() + n * (math.log(1.7) - special.digamma(2.3)),
                    ("b_ga", 1): n * 2.3 / 1.7 - v["x_ga"].sum(), ("a_ga", 2): -n * special.polygamma(1, 2.3),
                    ("b_ga", 2): -n * 2.3 / 1.7 ** 2, ("a_ga", 3): -n * special.polygamma(2, 2.3)})


@problem
def beta_likelihood_in_both_shapes_to_order_three():
    # f = Σ (a-1)log x + (b-1)log(1-x) - lgamma a - lgamma b + lgamma(a+b):
    # ∂/∂a = Σlog x - n(ψ(a) - ψ(a+b)), ∂²/∂a∂b = nψ'(a+b)
    a, b, x = td.scalar("a_be"), td.scalar("b_be"), td.vector("x_be", "n_be")
    f = td.sum((a - 1) * td.log(x) + (b - 1) * td.log(1 - x) - td.lgamma(a) - td.lgamma(b) + td.lgamma(a + b))
    rng = rng_of("beta likelihood")
    v = dict(a_be=1.8, b_be=3.1, x_be=rng.beta(2.0, 3.0, 7))
    n = 7

    def twin(u):
        return jnp.sum((u["a_be"] - 1) * jnp.log(u["x_be"]) + (u["b_be"] - 1) * jnp.log(1 - u["x_be"])
                       - jss.gammaln(u["a_be"]) - jss.gammaln(u["b_be"]) + jss.gammaln(u["a_be"] + u["b_be"]))
    return Problem(f, {a: 3, b: 2}, v, twin, {
        ("a_be", 1): np.log(v["x_be"]).sum() - n * (special.digamma(1.8) - special.digamma(4.9)),
        ("b_be", 1): np.log(1 - v["x_be"]).sum() - n * (special.digamma(3.1) - special.digamma(4.9)),
        ("a_be", 2): -n * (special.polygamma(1, 1.8) - special.polygamma(1, 4.9))})


@problem
def multivariate_t_in_degrees_of_freedom_scale_and_location():
    # f = lgamma((ν+p)/2) - lgamma(ν/2) - (p/2)log ν - ½log det S - ((ν+p)/2) log(1 + δ/ν), δ = rᵀS⁻¹r:
    # with w = (ν+p)/(ν+δ), ∂/∂μ = wS⁻¹r, ∂/∂S = -½S⁻¹ + ½wS⁻¹rrᵀS⁻¹
    nu, mu, x = td.scalar("nu_mt"), td.vector("mu_mt", "p_mt"), td.vector("x_mt", "p_mt")
    S = td.matrix("S_mt", "p_mt p_mt", symmetric=True)
    r = x - mu
    delta = r @ td.solve(S, r)
    f = (td.lgamma((nu + 3) / 2) - td.lgamma(nu / 2) - 1.5 * td.log(nu) - 0.5 * td.logdet(S)
         - (nu + 3) / 2 * td.log(1 + delta / nu))
    rng = rng_of("multivariate t")
    v = dict(nu_mt=4.5, mu_mt=rng.standard_normal(3) * 0.5, x_mt=rng.standard_normal(3), S_mt=spd(rng, 3, 0.5))
    rv = v["x_mt"] - v["mu_mt"]
    Sir = np.linalg.solve(v["S_mt"], rv)
    w = 7.5 / (4.5 + rv @ Sir)

    def twin(u):
        rj = u["x_mt"] - u["mu_mt"]
        dj = rj @ jnp.linalg.solve(u["S_mt"], rj)
        return (jss.gammaln((u["nu_mt"] + 3) / 2) - jss.gammaln(u["nu_mt"] / 2) - 1.5 * jnp.log(u["nu_mt"])
                - 0.5 * jnp.linalg.slogdet(u["S_mt"])[1] - (u["nu_mt"] + 3) / 2 * jnp.log(1 + dj / u["nu_mt"]))
    return Problem(f, {nu: 3, mu: 2, S: 2}, v, twin, {
        ("mu_mt", 1): w * Sir, ("S_mt", 1): -0.5 * np.linalg.inv(v["S_mt"]) + 0.5 * w * np.outer(Sir, Sir)})


@problem
def linear_kernel_process_through_its_cholesky_factor_in_amplitude_and_noise():
    # K = a²XXᵀ + s²I = LLᵀ, f = 2Σ log diag L + ‖L⁻¹y‖² = log det K + yᵀK⁻¹y: with α = K⁻¹y, G = XXᵀ,
    # ∂/∂a = 2a(tr K⁻¹G - αᵀGα), ∂/∂s = 2s(tr K⁻¹ - αᵀα)
    a, s = td.scalar("a_lk"), td.scalar("s_lk")
    X, y = td.matrix("X_lk", "n_lk d_lk"), td.vector("y_lk", "n_lk")
    L = td.cholesky(a ** 2 * (X @ X.T) + s ** 2 * td.eye("n_lk"))
    f = 2 * td.sum(td.log(td.diagonal(L))) + td.sum(td.solve(L, y) ** 2)
    rng = rng_of("linear kernel")
    v = dict(a_lk=0.9, s_lk=0.6, X_lk=rng.standard_normal((5, 2)), y_lk=rng.standard_normal(5))
    G = v["X_lk"] @ v["X_lk"].T
    Ki = np.linalg.inv(0.81 * G + 0.36 * np.eye(5))
    alpha = Ki @ v["y_lk"]

    def twin(u):
        Lj = jnp.linalg.cholesky(u["a_lk"] ** 2 * u["X_lk"] @ u["X_lk"].T + u["s_lk"] ** 2 * jnp.eye(5))
        return 2 * jnp.sum(jnp.log(jnp.diagonal(Lj))) + jnp.sum(jnp.linalg.solve(Lj, u["y_lk"]) ** 2)
    return Problem(f, {a: 3, s: 2, X: 1}, v, twin, {("a_lk", 1): 1.8 * (np.trace(Ki @ G) - alpha @ G @ alpha),
                                                   ("s_lk", 1): 1.2 * (np.trace(Ki) - alpha @ alpha)})


# ---------------------------------------------------------------- losses and their kinks (at points away from them)

def away_from_zero(draw, margin):
    """Draw (a callable of an attempt number returning (values, residual)) until every residual
    entry is at least ``margin`` from 0; the values."""
    for attempt in range(1000):
        values, residual = draw(attempt)
        if np.min(np.abs(residual)) >= margin:
            return values
    raise AssertionError("no draw away from the kink")


@problem
def pinball_quantile_regression_in_coefficients_and_level():
    # r = y - Xβ, f = Σ max(τr, (τ-1)r): ∂/∂β = -Xᵀ(τ - [r<0]), ∂/∂τ = Σr
    X, beta, y, tau = td.matrix("X_pb", "n_pb p_pb"), td.vector("b_pb", "p_pb"), td.vector("y_pb", "n_pb"), td.scalar("t_pb")
    r = y - X @ beta
    f = td.sum(td.maximum(tau * r, (tau - 1) * r))
    rng = rng_of("pinball")

    def draw(_):
        u = dict(X_pb=rng.standard_normal((7, 2)), b_pb=rng.standard_normal(2), y_pb=rng.standard_normal(7), t_pb=0.3)
        return u, u["y_pb"] - u["X_pb"] @ u["b_pb"]
    v = away_from_zero(draw, 0.05)
    rv = v["y_pb"] - v["X_pb"] @ v["b_pb"]

    def twin(u):
        rj = u["y_pb"] - u["X_pb"] @ u["b_pb"]
        return jnp.sum(jnp.maximum(u["t_pb"] * rj, (u["t_pb"] - 1) * rj))
    return Problem(f, {beta: 2, tau: 2}, v, twin, {("b_pb", 1): -v["X_pb"].T @ (0.3 - (rv < 0)),
                                                   ("t_pb", 1): rv.sum(), ("b_pb", 2): np.zeros((2, 2))})


@problem
def triplet_margin_loss_with_active_and_inactive_triplets():
    # h_i = ‖a_i - p_i‖² - ‖a_i - n_i‖² + ½, f = Σ relu(h): with active rows c = [h > 0],
    # ∂/∂A = 2c∘(N - P), ∂/∂P = -2c∘(A - P), ∂/∂N = 2c∘(A - N)
    A, P, N = (td.matrix(f"{k}_tl", "n_tl d_tl") for k in "APN")
    h = td.sum((A - P) ** 2, axis=1) - td.sum((A - N) ** 2, axis=1) + 0.5
    f = td.sum(td.relu(h))
    rng = rng_of("triplet")

    def draw(_):
        u = {f"{k}_tl": rng.standard_normal((5, 3)) * 0.6 for k in "APN"}
        hv = np.sum((u["A_tl"] - u["P_tl"]) ** 2, 1) - np.sum((u["A_tl"] - u["N_tl"]) ** 2, 1) + 0.5
        return u, hv if 0 < np.sum(hv > 0) < 5 else np.zeros(1)
    v = away_from_zero(draw, 0.05)
    Av, Pv, Nv = v["A_tl"], v["P_tl"], v["N_tl"]
    c = (np.sum((Av - Pv) ** 2, 1) - np.sum((Av - Nv) ** 2, 1) + 0.5 > 0)[:, None]

    def twin(u):
        hj = jnp.sum((u["A_tl"] - u["P_tl"]) ** 2, 1) - jnp.sum((u["A_tl"] - u["N_tl"]) ** 2, 1) + 0.5
        return jnp.sum(jax.nn.relu(hj))
    return Problem(f, {A: 2, P: 2, N: 1}, v, twin, {("A_tl", 1): 2 * c * (Nv - Pv), ("P_tl", 1): -2 * c * (Av - Pv),
                                                   ("N_tl", 1): 2 * c * (Av - Nv)})


@problem
def least_absolute_deviations_with_l1_and_signed_cube_penalties():
    # f = Σ|Xβ - y| + 0.3‖β‖₁ + 0.2Σ sign(β)β³: ∂ = Xᵀsign(r) + 0.3 sign β + 0.6 sign(β)β², ∂² = 1.2 diag|β|
    X, beta, y = td.matrix("X_la", "n_la p_la"), td.vector("b_la", "p_la"), td.vector("y_la", "n_la")
    r = X @ beta - y
    f = td.sum(td.abs(r)) + 0.3 * td.norm(beta, 1) + 0.2 * td.sum(td.sign(beta) * beta ** 3)
    rng = rng_of("least absolute")

    def draw(_):
        u = dict(X_la=rng.standard_normal((6, 3)), b_la=rng.standard_normal(3), y_la=rng.standard_normal(6))
        return u, np.concatenate([u["X_la"] @ u["b_la"] - u["y_la"], u["b_la"]])
    v = away_from_zero(draw, 0.05)
    rv, bv = v["X_la"] @ v["b_la"] - v["y_la"], v["b_la"]

    def twin(u):
        rj = u["X_la"] @ u["b_la"] - u["y_la"]
        return (jnp.sum(jnp.abs(rj)) + 0.3 * jnp.sum(jnp.abs(u["b_la"]))
                + 0.2 * jnp.sum(jnp.sign(u["b_la"]) * u["b_la"] ** 3))
    return Problem(f, {beta: 3}, v, twin, {("b_la", 1): v["X_la"].T @ np.sign(rv) + 0.3 * np.sign(bv) + 0.6 * np.sign(bv) * bv ** 2,
                                           ("b_la", 2): np.diag(1.2 * np.abs(bv))})


@problem
def minimum_and_maximum_of_two_matrix_variables_without_ties():
    # f = Σ min(X, Y)² + C∘max(X, Y): ∂/∂X = 2X∘[X<Y] + C∘[X>Y]
    X, Y, C = (td.matrix(f"{k}_mm", "n_mm m_mm") for k in "XYC")
    f = td.sum(td.minimum(X, Y) ** 2) + td.sum(C * td.maximum(X, Y))
    rng = rng_of("min max")

    def draw(_):
        u = {f"{k}_mm": rng.standard_normal((3, 4)) for k in "XYC"}
        return u, u["X_mm"] - u["Y_mm"]
    v = away_from_zero(draw, 0.05)
    lower = v["X_mm"] < v["Y_mm"]
    return Problem(f, {X: 2, Y: 2}, v, lambda u: jnp.sum(jnp.minimum(u["X_mm"], u["Y_mm"]) ** 2)
                   + jnp.sum(u["C_mm"] * jnp.maximum(u["X_mm"], u["Y_mm"])),
                   {("X_mm", 1): 2 * v["X_mm"] * lower + v["C_mm"] * ~lower,
                    ("Y_mm", 1): 2 * v["Y_mm"] * ~lower + v["C_mm"] * lower})


@problem
def where_chosen_by_the_sign_of_another_variable():
    # f = Σ V∘where(G > 0, log P, exp(-P)): ∂/∂P = V∘where(G > 0, 1/P, -exp(-P)), ∂/∂G = 0
    P, G, V = (td.matrix(f"{k}_wh", "n_wh m_wh") for k in "PGV")
    f = td.sum(V * td.where(G > 0, td.log(P), td.exp(-P)))
    rng = rng_of("where another")
    v = dict(P_wh=rng.uniform(0.5, 2.0, (3, 3)), G_wh=rng.standard_normal((3, 3)), V_wh=rng.standard_normal((3, 3)))
    up = v["G_wh"] > 0
    return Problem(f, {P: 3, G: 1}, v, lambda u: jnp.sum(u["V_wh"] * jnp.where(u["G_wh"] > 0, jnp.log(u["P_wh"]),
                                                                                jnp.exp(-u["P_wh"]))),
                   {("P_wh", 1): v["V_wh"] * np.where(up, 1 / v["P_wh"], -np.exp(-v["P_wh"])), ("G_wh", 1): np.zeros((3, 3))})


@problem
def smoothed_total_variation_denoising_to_order_three():
    # f = ½‖x - y‖² + 0.7Σ√((Dx)² + 0.01), D the forward differences: ∂ = x - y + 0.7Dᵀ(u/√(u² + 0.01)), u = Dx
    x, y, D = td.vector("x_tv", "n_tv"), td.vector("y_tv", "n_tv"), td.matrix("D_tv", "e_tv n_tv")
    f = 0.5 * td.sum((x - y) ** 2) + 0.7 * td.sum(td.sqrt((D @ x) ** 2 + 0.01))
    rng = rng_of("total variation")
    Dv = np.diff(np.eye(5), axis=0)
    v = dict(x_tv=rng.standard_normal(5), y_tv=rng.standard_normal(5), D_tv=Dv)
    u = Dv @ v["x_tv"]
    return Problem(f, {x: 3}, v, lambda w: 0.5 * jnp.sum((w["x_tv"] - w["y_tv"]) ** 2)
                   + 0.7 * jnp.sum(jnp.sqrt((w["D_tv"] @ w["x_tv"]) ** 2 + 0.01)),
                   {("x_tv", 1): v["x_tv"] - v["y_tv"] + 0.7 * Dv.T @ (u / np.sqrt(u ** 2 + 0.01))})


@problem
def masked_matrix_completion_in_both_factors():
    # R = UVᵀ - Y, f = ‖M∘R‖²: ∂/∂U = 2(M∘R)V, ∂/∂V = 2(M∘R)ᵀU (M a 0/1 mask, so M∘M = M)
    U, V = td.matrix("U_mc", "n_mc k_mc"), td.matrix("V_mc", "m_mc k_mc")
    Y, M = td.matrix("Y_mc", "n_mc m_mc"), td.matrix("M_mc", "n_mc m_mc")
    f = td.sum((M * (U @ V.T - Y)) ** 2)
    rng = rng_of("matrix completion")
    v = dict(U_mc=rng.standard_normal((4, 2)), V_mc=rng.standard_normal((3, 2)), Y_mc=rng.standard_normal((4, 3)),
             M_mc=(rng.random((4, 3)) < 0.6).astype(float))
    MR = v["M_mc"] * (v["U_mc"] @ v["V_mc"].T - v["Y_mc"])
    return Problem(f, {U: 2, V: 2}, v, lambda u: jnp.sum((u["M_mc"] * (u["U_mc"] @ u["V_mc"].T - u["Y_mc"])) ** 2),
                   {("U_mc", 1): 2 * MR @ v["V_mc"], ("V_mc", 1): 2 * MR.T @ v["U_mc"]})


# ---------------------------------------------------------------- several variables, softmax and reductions

@problem
def softmax_cross_entropy_in_weights_bias_and_inputs_at_once():
    # Z = XW + b, f = Σ lse(Z rows) - Σ T∘Z: with D = softmax(Z) - T, ∂/∂W = XᵀD, ∂/∂b = Σ_rows D, ∂/∂X = DWᵀ
    X, W, b, T = td.matrix("X_ce", "n_ce d_ce"), td.matrix("W_ce", "d_ce k_ce"), td.vector("b_ce", "k_ce"), td.matrix("T_ce", "n_ce k_ce")
    Z = X @ W + b
    f = td.sum(td.logsumexp(Z, axis=1)) - td.sum(T * Z)
    rng = rng_of("cross entropy three")
    v = dict(X_ce=rng.standard_normal((4, 2)), W_ce=rng.standard_normal((2, 3)), b_ce=rng.standard_normal(3),
             T_ce=np.eye(3)[rng.integers(0, 3, 4)])
    Dv = softmax_rows(v["X_ce"] @ v["W_ce"] + v["b_ce"]) - v["T_ce"]

    def twin(u):
        Zj = u["X_ce"] @ u["W_ce"] + u["b_ce"]
        return jnp.sum(jss.logsumexp(Zj, axis=1)) - jnp.sum(u["T_ce"] * Zj)
    return Problem(f, {W: 2, b: 3, X: 2}, v, twin, {("W_ce", 1): v["X_ce"].T @ Dv, ("b_ce", 1): Dv.sum(0),
                                                    ("X_ce", 1): Dv @ v["W_ce"].T})


@problem
def softmax_over_the_middle_axis_of_an_order_three_tensor():
    # P = softmax over j of T_ijk, f = Σ W∘P: ∂/∂T_ijk = P_ijk (W_ijk - Σ_j' W_ij'k P_ij'k)
    T, W = td.tensor("T_sm", "i_sm j_sm k_sm"), td.tensor("W_sm", "i_sm j_sm k_sm")
    f = td.sum(W * td.softmax(T, axis=1))
    rng = rng_of("middle softmax")
    v = dict(T_sm=rng.standard_normal((2, 3, 2)), W_sm=rng.standard_normal((2, 3, 2)))
    e = np.exp(v["T_sm"])
    Pv = e / e.sum(axis=1, keepdims=True)
    return Problem(f, {T: 2}, v, lambda u: jnp.sum(u["W_sm"] * jax.nn.softmax(u["T_sm"], axis=1)),
                   {("T_sm", 1): Pv * (v["W_sm"] - np.sum(v["W_sm"] * Pv, axis=1, keepdims=True))})


@problem
def instance_normalisation_over_two_axes_of_an_order_three_tensor():
    # the channel axis moved last, C = T - mean over the other two, f = Σ log(var + 0.1) + Σ W∘C/√(var + 0.1)
    T, W = td.tensor("T_in", "c_in h_in w_in"), td.tensor("W_in", "h_in w_in c_in")
    moved = td.einsum("chw->hwc", T)
    C = moved - td.mean(moved, axis=(0, 1))
    var = td.mean(C ** 2, axis=(0, 1))
    f = td.sum(td.log(var + 0.1)) + td.sum(W * C / td.sqrt(var + 0.1))
    rng = rng_of("instance norm")
    v = dict(T_in=rng.standard_normal((2, 3, 2)), W_in=rng.standard_normal((3, 2, 2)))

    def twin(u):
        mj = jnp.transpose(u["T_in"], (1, 2, 0))
        Cj = mj - jnp.mean(mj, axis=(0, 1))
        vj = jnp.mean(Cj ** 2, axis=(0, 1))
        return jnp.sum(jnp.log(vj + 0.1)) + jnp.sum(u["W_in"] * Cj / jnp.sqrt(vj + 0.1))
    return Problem(f, {T: 2}, v, twin)


@problem
def softplus_layer_whose_inner_dim_has_length_one():
    # X (n×1) W (1×k): numpy's size-1 broadcasting done by a dim of length 1; ∂/∂b = Σ_rows σ(XW + b)
    X, W, b = td.matrix("X_one", "n_one o_one"), td.matrix("W_one", "o_one k_one"), td.vector("b_one", "k_one")
    f = td.sum(td.softplus(X @ W + b) * td.matrix("C_one", "n_one k_one"))
    rng = rng_of("length one")
    v = dict(X_one=rng.standard_normal((5, 1)), W_one=rng.standard_normal((1, 3)), b_one=rng.standard_normal(3),
             C_one=rng.standard_normal((5, 3)))
    Zv = v["X_one"] * v["W_one"] + v["b_one"]
    return Problem(f, {X: 2, W: 3, b: 2}, v, lambda u: jnp.sum(jax.nn.softplus(u["X_one"] @ u["W_one"] + u["b_one"]) * u["C_one"]),
                   {("b_one", 1): (sigmoid(Zv) * v["C_one"]).sum(0), ("W_one", 1): v["X_one"].T @ (sigmoid(Zv) * v["C_one"])})


@problem
def stacked_column_moments_read_by_a_readout():
    # F = stack(column sums, column means of squares, column maxima), f = Σ R∘tanh(F)
    X, R = td.matrix("X_st", "n_st d_st"), td.matrix("R_st", "s_st d_st")
    F = td.stack([td.sum(X, axis=0), td.mean(X ** 2, axis=0), td.max(X, axis=0)], axis=0, dim="s_st")
    f = td.sum(R * td.tanh(F))
    rng = rng_of("stacked moments")
    v = dict(X_st=rng.standard_normal((4, 3)), R_st=rng.standard_normal((3, 3)))

    def twin(u):
        Fj = jnp.stack([jnp.sum(u["X_st"], 0), jnp.mean(u["X_st"] ** 2, 0), jnp.max(u["X_st"], 0)])
        return jnp.sum(u["R_st"] * jnp.tanh(Fj))
    return Problem(f, {X: 2, R: 1}, v, twin)


@problem
def bilinear_logistic_model_in_two_vectors():
    # f = softplus(xᵀAy) + ‖x‖²‖y‖²/4: ∂/∂x = σ(s)Ay + ½‖y‖²x, ∂/∂y = σ(s)Aᵀx + ½‖x‖²y
    x, y, A = td.vector("x_bl", "n_bl"), td.vector("y_bl", "m_bl"), td.matrix("A_bl", "n_bl m_bl")
    f = td.softplus(x @ A @ y) + (x @ x) * (y @ y) / 4
    rng = rng_of("bilinear logistic")
    v = dict(x_bl=rng.standard_normal(3), y_bl=rng.standard_normal(2), A_bl=rng.standard_normal((3, 2)))
    xv, yv, Av = v["x_bl"], v["y_bl"], v["A_bl"]
    sg = sigmoid(xv @ Av @ yv)
    return Problem(f, {x: 3, y: 3}, v, lambda u: jax.nn.softplus(u["x_bl"] @ u["A_bl"] @ u["y_bl"])
                   + (u["x_bl"] @ u["x_bl"]) * (u["y_bl"] @ u["y_bl"]) / 4,
                   {("x_bl", 1): sg * Av @ yv + 0.5 * (yv @ yv) * xv, ("y_bl", 1): sg * Av.T @ xv + 0.5 * (xv @ xv) * yv})


# ---------------------------------------------------------------- matrix-valued maps and Kronecker identities

@problem
def normalised_linear_map_of_a_vector():
    # F = Ax/‖x‖: ∂F/∂x = A(I - x̂x̂ᵀ)/‖x‖, ∂F_i/∂A_jk = δ_ij x_k/‖x‖
    A, x = td.matrix("A_nm", "k_nm n_nm"), td.vector("x_nm", "n_nm")
    F = A @ x / td.norm(x)
    rng = rng_of("normalised map")
    v = dict(A_nm=rng.standard_normal((2, 3)), x_nm=rng.standard_normal(3))
    nx = np.linalg.norm(v["x_nm"])
    xh = v["x_nm"] / nx
    return Problem(F, {x: 3, A: 1}, v, lambda u: u["A_nm"] @ u["x_nm"] / jnp.linalg.norm(u["x_nm"]),
                   {("x_nm", 1): v["A_nm"] @ (np.eye(3) - np.outer(xh, xh)) / nx,
                    ("A_nm", 1): np.einsum("ij,k->ijk", np.eye(2), xh)})


@problem
def weighted_outer_product_of_a_vector_as_a_matrix_valued_map():
    # F = C∘xxᵀ: ∂F_ij/∂x_k = C_ij(δ_ik x_j + x_i δ_jk), ∂²F_ij/∂x_k∂x_l = C_ij(δ_ik δ_jl + δ_il δ_jk)
    C, x = td.matrix("C_wo", "n_wo n_wo"), td.vector("x_wo", "n_wo")
    F = C * td.outer(x, x)
    rng = rng_of("weighted outer")
    v = dict(C_wo=rng.standard_normal((3, 3)), x_wo=rng.standard_normal(3))
    I3 = np.eye(3)
    return Problem(F, {x: 3}, v, lambda u: u["C_wo"] * jnp.outer(u["x_wo"], u["x_wo"]), {
        ("x_wo", 1): v["C_wo"][:, :, None] * (np.einsum("ik,j->ijk", I3, v["x_wo"]) + np.einsum("i,jk->ijk", v["x_wo"], I3)),
        ("x_wo", 2): v["C_wo"][:, :, None, None] * (np.einsum("ik,jl->ijkl", I3, I3) + np.einsum("il,jk->ijkl", I3, I3)),
        ("x_wo", 3): np.zeros((3,) * 5)})


@problem
def gram_map_of_a_matrix_to_order_two():
    # F = XXᵀ: ∂F_ij/∂X_kl = δ_ik X_jl + X_il δ_jk
    X = td.matrix("X_gr", "n_gr d_gr")
    Xv = rng_of("gram map").standard_normal((3, 2))
    I3 = np.eye(3)
    return Problem(X @ X.T, {X: 2}, dict(X_gr=Xv), lambda u: u["X_gr"] @ u["X_gr"].T,
                   {("X_gr", 1): np.einsum("ik,jl->ijkl", I3, Xv) + np.einsum("il,jk->ijkl", Xv, I3)})


@problem
def vec_of_axb_whose_jacobian_in_x_is_kron_of_bt_and_a():
    # vec(AXB) = (Bᵀ⊗A)vec X: ∂vec(AXB)_r/∂X_ab = (Bᵀ⊗A)_{r, a + p·b} (vec stacks columns)
    A, X, B = td.matrix("A_vk", "m_vk p_vk"), td.matrix("X_vk", "p_vk q_vk"), td.matrix("B_vk", "q_vk n_vk")
    F = td.vec(A @ X @ B)
    rng = rng_of("vec kron jacobian")
    v = dict(A_vk=rng.standard_normal((2, 3)), X_vk=rng.standard_normal((3, 2)), B_vk=rng.standard_normal((2, 2)))
    K = np.kron(v["B_vk"].T, v["A_vk"])
    return Problem(F, {X: 2, A: 2, B: 1}, v, lambda u: (u["A_vk"] @ u["X_vk"] @ u["B_vk"]).T.reshape(-1),
                   {("X_vk", 1): K.reshape(4, 2, 3).transpose(0, 2, 1), ("X_vk", 2): np.zeros((4, 3, 2, 3, 2))})


@problem
def squared_norm_plus_trace_of_a_kronecker_product_in_both_factors():
    # ‖A⊗B‖² = ‖A‖²‖B‖², tr(A⊗B) = tr A tr B: ∂/∂A = 2‖B‖²A + tr(B)I
    A, B = td.matrix("A_kt4", "m_kt4 m_kt4"), td.matrix("B_kt4", "n_kt4 n_kt4")
    K = td.kron(A, B)
    f = td.sum(K ** 2) + td.trace(K)
    rng = rng_of("kron norm trace")
    v = dict(A_kt4=rng.standard_normal((2, 2)), B_kt4=rng.standard_normal((3, 3)))
    Av, Bv = v["A_kt4"], v["B_kt4"]
    return Problem(f, {A: 2, B: 2}, v, lambda u: jnp.sum(jnp.kron(u["A_kt4"], u["B_kt4"]) ** 2) + jnp.trace(jnp.kron(u["A_kt4"], u["B_kt4"])),
                   {("A_kt4", 1): 2 * np.sum(Bv ** 2) * Av + np.trace(Bv) * np.eye(2),
                    ("B_kt4", 1): 2 * np.sum(Av ** 2) * Bv + np.trace(Av) * np.eye(3)})


# ---------------------------------------------------------------- checking

CAMPAIGN = Campaign(PROBLEMS)
NAMES, build, jax_of = CAMPAIGN.names, CAMPAIGN.build, CAMPAIGN.jax_of


def test_there_are_at_least_thirty_problems():
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_every_order_matches_closed_forms_jax_and_finite_differences(name):
    every_order_matches(build(name), name, *jax_of(name), EXACT, FD, FD_ENTRIES)


@pytest.mark.parametrize("name", [n for n in NAMES if len(build(n).tops) > 1])
def test_several_symbols_give_jax_s_jacobian_and_hessian_blocks(name):
    # td.jacobian / td.hessian of a list (the Hessian as td.jacobian of the list of gradients when
    # the value is not a scalar), against jax's blocks of the flat derivatives
    first_and_second_blocks_match_jax(build(name), name, *jax_of(name), EXACT, through="jacobian")


def first_and_second_derivatives(p):
    wrt = list(p.tops)
    return [p.expr, *(td.diff(p.expr, s) for s in wrt), *(td.diff(td.diff(p.expr, si), sj) for si in wrt for sj in wrt)]


@pytest.mark.skipif(not kernels_built(), reason="the compiled kernels are not built: the twin is all there is")
@pytest.mark.parametrize("name", NAMES)
def test_kernels_and_numpy_twin_agree_on_fresh_programs(name):
    p = build(name)
    kernels_and_twin_agree(first_and_second_derivatives(p), symbol_values(p), EXACT, name)


# the jax and dask backends run eagerly, one dispatch per step: a spread of the problems keeps them quick
ON_BACKEND = {"numpy": NAMES, "jax": NAMES[::7], "dask": NAMES[3::7]}


@pytest.mark.parametrize("backend", sorted(ON_BACKEND))
def test_compiled_gradients_agree_on_every_backend(backend):
    if backend == "dask":
        pytest.importorskip("dask.array")
    backend_agrees(backend, [(name, build(name), [build(name).expr, *(td.diff(build(name).expr, s) for s in build(name).tops)])
                             for name in ON_BACKEND[backend]], 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_of_the_value_and_gradients_read_back(name):
    p = build(name)
    exprs = [p.expr, *(td.diff(p.expr, s) for s in p.tops)]
    printed_forms_read_back(exprs, symbol_values(p), name)


@pytest.mark.parametrize("name", NAMES[1::4])
def test_printed_forms_of_second_derivatives_read_back(name):
    # the value goes first so that the dims a constant second derivative dropped are sized by it
    p = build(name)
    printed_forms_read_back(first_and_second_derivatives(p), symbol_values(p), name)


def direction_symbols(p, values):
    """A direction symbol per differentiated symbol (symmetric with it), its values added to ``values``."""
    directions = []
    for k, s in enumerate(p.tops):
        u = td.tensor("U4_" + s.name, s.shape, symmetric=s.symmetric)
        value = np.random.default_rng(k).standard_normal(values[s.name].shape)
        values[u.name] = sym(value) if s.symmetric else value
        directions.append(u)
    return directions


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).expr.ndim == 0])
def test_hessian_vector_products_in_every_symbol_at_once_match_jax(name):
    # td.hvp(f, [x, y, ...], [u, v, ...]) is Σ_j H_ij u_j per symbol i; against jax's Hessian blocks
    p = build(name)
    orders, slices = jax_of(name)
    values = symbol_values(p)
    wrt = list(p.tops)
    directions = direction_symbols(p, values)
    products = td.hvp(p.expr, wrt, directions) if len(wrt) > 1 else (td.hvp(p.expr, wrt[0], directions[0]),)
    got = td.compile(list(products))(values)
    for i, si in enumerate(wrt):
        want = sum(np.tensordot(block(orders[2], 0, [slices[si.name], slices[sj.name]]), values[u.name], axes=u.ndim)
                   for sj, u in zip(wrt, directions))
        assert_close(got[i], want, EXACT, f"{name}: hvp row {si.name}")


def generated(exprs, target, **options):
    namespace = {}
    exec(td.codegen(exprs, target=target, **options), namespace)   # noqa: S102 - the generated code is what is tested
    return namespace


def arguments_of(p, values):
    """The generated function's arguments: the symbols' values sorted by name."""
    return [values[n.name] for n in sorted({n for n in td.expr.topological([p.expr]) if isinstance(n, td.expr.Var)},
                                           key=lambda n: n.name)]


@pytest.mark.parametrize("target", ["numpy", "jax"])
def test_generated_value_gradients_and_their_check_helper(target):
    # codegen([f, grads...], asserts=True, check=True) of each scalar problem: the function returns the
    # program's results, and check_f, along a random direction (symmetric for a symmetric symbol; a
    # plain one made the check of tr(SASB)'s correct gradient 0.25 off), finds them right. kron and
    # stack problems raised "no derivative rule for node type Reshape" (the check looked for the
    # gradients among the planned roots)
    names = [n for n in NAMES if build(n).expr.ndim == 0]
    for name in names if target == "numpy" else names[::6]:
        p = build(name)
        values = symbol_values(p)
        exprs = [p.expr, *(td.grad(p.expr, s) for s in p.tops)]
        namespace = generated(exprs, target, asserts=True, check=True)
        args = arguments_of(p, values)
        for got, want in zip(namespace["f"](*args), td.compile(exprs)(values)):
            assert_close(np.asarray(got), want, EXACT, f"{name}: generated {target} code")
        assert namespace["check_f"](*args) < 1e-6, name


def test_the_check_helper_still_finds_a_wrong_gradient_of_a_symmetric_symbol():
    # the gradient of tr(SA) in a symmetric S is sym(A); the check, reading the function by its name,
    # passes it and fails twice that (along symmetric directions A and sym(A) cannot be told apart)
    S, A = td.matrix("S_wg", "n_wg n_wg", symmetric=True), td.matrix("A_wg", "n_wg n_wg")
    f = td.trace(S @ A)
    rng = rng_of("wrong gradient")
    Av, Sv = rng.standard_normal((3, 3)), spd(rng, 3)
    namespace = generated([f, td.grad(f, S)], "numpy", check=True)
    assert namespace["check_f"](Av, Sv) < 1e-8
    namespace["f"] = lambda A_wg, S_wg: (np.trace(S_wg @ A_wg), 2 * sym(A_wg))
    assert namespace["check_f"](Av, Sv) > 0.1


# ---------------------------------------------------------------- what the selfcheck on seeds 320000-320999 found

# c·Σ_j inv(B)[i,j] (c != 1, B read once, a symbol or computed) raised IndexError while planning:
# the right-hand side inverse→solve builds there is a fill of ones (an Einsum of no operands), which
# passes._computed read as a product (a regression of 464e2eb)


B_SO, X_SO = td.matrix("B_so4", "n_so4 n_so4"), td.vector("x_so4", "n_so4")
SCALED_SUMS_OF_AN_INVERSE = {   # (expression, its value from B's value)
    "3 Σ_j inv(B)[i,j]": (3 * td.sum(td.inv(B_SO), axis=1), lambda b: 3 * np.linalg.inv(b).sum(axis=1)),
    "3 Σ_i inv(B)[i,j]": (3 * td.sum(td.inv(B_SO), axis=0), lambda b: 3 * np.linalg.inv(b).sum(axis=0)),
    "-Σ_j inv(B)[i,j]": (-td.sum(td.inv(B_SO), axis=1), lambda b: -np.linalg.inv(b).sum(axis=1)),
    "inv(B) (3·1)": (td.inv(B_SO) @ (3 * td.ones("n_so4")), lambda b: np.linalg.solve(b, np.full(3, 3.0))),
    "inv(2B) 1": (td.inv(2 * B_SO) @ td.ones("n_so4"), lambda b: np.linalg.solve(2 * b, np.ones(3))),
    # gradients of linear functionals of a solve or an inverse are such sums: x's value does not enter
    "∇ₓ 2Σ solve(B, x)": (td.grad(2 * td.sum(td.solve(B_SO, X_SO)), X_SO), lambda b: 2 * np.linalg.inv(b).sum(axis=0)),
    "∇ₓ -Σ inv(B)x": (td.grad(-td.sum(td.inv(B_SO) @ X_SO), X_SO), lambda b: -np.linalg.inv(b).sum(axis=0)),
}


@pytest.mark.parametrize("form", sorted(SCALED_SUMS_OF_AN_INVERSE))
def test_a_scaled_row_or_column_sum_of_an_inverse_evaluates(form):
    e, value = SCALED_SUMS_OF_AN_INVERSE[form]
    Bv = 2 * np.eye(3) + 0.3 * rng_of("row sum of an inverse").standard_normal((3, 3))
    assert_close(td.evaluate(e, B_so4=Bv, x_so4=np.ones(3)), value(Bv), EXACT, form)


def test_a_scaled_row_sum_of_the_inverse_of_a_computed_matrix_evaluates():
    X = td.matrix("X_rs4", "n_rs4 m_rs4")
    Xv = rng_of("row sum of a computed inverse").standard_normal((3, 2))
    assert_close(td.evaluate(2 * td.sum(td.inv(X @ X.T + td.eye("n_rs4")), axis=1), X_rs4=Xv),
                 2 * np.linalg.inv(Xv @ Xv.T + np.eye(3)).sum(axis=1), EXACT, "2 inv(XXᵀ + I) 1")


def test_selfcheck_seed_320329_passes():
    # the mixed second derivative of t1ᵀ inv(relu(P)relu(P)ᵀ + I) t1 (t1 = N1 + Σu) is 2Σ_l inv(·)[i,l]
    from tensordiff.selfcheck import check_example
    results, _ = check_example(320329, max_order=2, properties=["d2 vs FD", "codegen numpy", "simplify"], widened=True)
    assert not any(results.values()), [name for name, r in results.items() if r]
