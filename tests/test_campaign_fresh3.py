"""A third round of independent problems, none in the other campaign files: factor analysis in its
loadings and uniquenesses, log det(WWᵀ + s²I) with a data term to order 3 (the fourth seed
question), a matrix-normal likelihood in both (symmetric) covariances, polynomial-kernel ridge in
its offset and data, a Kalman innovation likelihood in the transition matrix, column batch
normalisation, cross-entropy written with a max shift (the max must cancel), least squares through
kron(Bᵀ, A) vec(X), a symmetric argument read by inv, logdet and a product to order 3, smooth and
hard max/min reductions in a temperature, a periodic-kernel Gaussian process in its period,
length-scale and inputs, a Cayley rotation, ridge with its inverse read several times (the first
two seed questions), order 4 in a matrix, a whitened Mahalanobis distance through the Cholesky
factor of a symmetric argument, three symbols of three ranks, a reshaped order-3 tensor, a
Kronecker product read entrywise and vectorised, causal (tril) attention, the Wishart density in
its scale and degrees of freedom (lgamma), the Jacobian of a softmax layer, an einsum with a
diagonal and three operands, stacked and concatenated features (log_softmax, softmax over axis 0),
Huber and leaky relu through where/abs/maximum, means, logsumexp and max over two axes of an
order-3 tensor, the Dirichlet likelihood to order 3 (digamma, polygamma), triu/tril of a symmetric
argument, a Frobenius norm to order 3, tprod/tbox read by order-4 weights, and matrix-valued
functions of a symmetric argument (its Cholesky factor; its inverse, cube and lower triangle).

Each problem is checked against its closed form where one is worked out (in numpy, in the
comment), central finite differences of the order below, and nested ``jax.jacfwd`` of a twin
written in jax.numpy; the gradients and Hessian blocks of several symbols at once; the compiled
kernels against the numpy twin on fresh programs; the numpy, jax and dask backends; and the printed
forms read back (td.parse of the matrix notation, the generated einsum code); and an Incremental
of each program and its parts, reusing kept values through an optimiser's calls (Hessian-vector
products included), against the program's own call, bit for bit.
"""

import math

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels

from helpers import (Campaign, Problem, assert_close, backend_agrees, every_order_matches,
                     first_and_second_blocks_match_jax, kernels_and_twin_agree, kernels_built, printed_forms_read_back,
                     registry, softmax_rows, spd, sym, symbol_values)

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jss = pytest.importorskip("jax.scipy.special")
pytest.importorskip("scipy")     # lgamma and digamma evaluate through scipy

EXACT = 1e-9    # closed forms, jax and the other implementations: exact up to rounding
FD = 2e-6       # central differences of the order below, relative to the largest entry (or 1)
FD_ENTRIES = 9  # orders above 2 are differenced only in symbols this small


PROBLEMS = {}
problem = registry(PROBLEMS)


def rng_of(name):
    return np.random.default_rng(sum(map(ord, name)) + 7211)


def differences(x):
    return x[:, None] - x[None, :]


# ---------------------------------------------------------------- covariance models

@problem
def factor_analysis_in_loadings_and_uniquenesses():
    # Σ = ΛΛᵀ + diag ψ, f = log det Σ + tr(Σ⁻¹S): with G = Σ⁻¹ - Σ⁻¹SΣ⁻¹, ∂/∂Λ = 2GΛ, ∂/∂ψ = diag G
    L, psi = td.matrix("L_fa", "p_fa k_fa"), td.vector("psi_fa", "p_fa")
    S = td.matrix("S_fa", "p_fa p_fa", symmetric=True)
    Sig = L @ L.T + td.diag(psi)
    f = td.logdet(Sig) + td.trace(td.solve(Sig, S))
    rng = rng_of("factor analysis")
    v = dict(L_fa=rng.standard_normal((4, 2)), psi_fa=rng.uniform(0.5, 1.5, 4), S_fa=spd(rng, 4, 0.5))
    Si = np.linalg.inv(v["L_fa"] @ v["L_fa"].T + np.diag(v["psi_fa"]))
    G = Si - Si @ v["S_fa"] @ Si

    def twin(u):
        Sj = u["L_fa"] @ u["L_fa"].T + jnp.diag(u["psi_fa"])
        return jnp.linalg.slogdet(Sj)[1] + jnp.trace(jnp.linalg.solve(Sj, u["S_fa"]))
    return Problem(f, {L: 3, psi: 2}, v, twin, {("L_fa", 1): 2 * G @ v["L_fa"], ("psi_fa", 1): np.diag(G)})


@problem
def log_det_of_wwt_plus_noise_with_a_data_term_to_order_three():
    # Σ = WWᵀ + s²I, f = log det Σ + 0.1 tr(YᵀΣY): ∂/∂W = 2Σ⁻¹W + 0.2YYᵀW, ∂/∂s = 2s tr Σ⁻¹ + 0.2 s‖Y‖²
    W, s, Y = td.matrix("W_ld", "n_ld k_ld"), td.scalar("s_ld"), td.matrix("Y_ld", "n_ld m_ld")
    Sig = W @ W.T + s ** 2 * td.eye("n_ld")
    f = td.logdet(Sig) + 0.1 * td.trace(Y.T @ Sig @ Y)
    rng = rng_of("wwt")
    v = dict(W_ld=rng.standard_normal((3, 2)), s_ld=0.8, Y_ld=rng.standard_normal((3, 4)))
    Si = np.linalg.inv(v["W_ld"] @ v["W_ld"].T + 0.64 * np.eye(3))
    YY = v["Y_ld"] @ v["Y_ld"].T

    def twin(u):
        Sj = u["W_ld"] @ u["W_ld"].T + u["s_ld"] ** 2 * jnp.eye(3)
        return jnp.linalg.slogdet(Sj)[1] + 0.1 * jnp.trace(u["Y_ld"].T @ Sj @ u["Y_ld"])
    return Problem(f, {W: 3, s: 3}, v, twin, {("W_ld", 1): 2 * Si @ v["W_ld"] + 0.2 * YY @ v["W_ld"],
                                              ("s_ld", 1): 1.6 * np.trace(Si) + 0.16 * np.trace(YY)})


@problem
def matrix_normal_likelihood_in_both_covariances_and_the_mean():
    # E = X - M, f = -½tr(V⁻¹EᵀU⁻¹E) - (p/2) log det U - (n/2) log det V:
    # ∂/∂U = ½U⁻¹EV⁻¹EᵀU⁻¹ - (p/2)U⁻¹, ∂/∂V = ½V⁻¹EᵀU⁻¹EV⁻¹ - (n/2)V⁻¹, ∂/∂M = U⁻¹EV⁻¹
    U = td.matrix("U_mn", "n_mn n_mn", symmetric=True)
    V = td.matrix("V_mn", "p_mn p_mn", symmetric=True)
    X, M = td.matrix("X_mn", "n_mn p_mn"), td.matrix("M_mn", "n_mn p_mn")
    E = X - M
    f = -0.5 * td.trace(td.solve(V, E.T) @ td.solve(U, E)) - 1.0 * td.logdet(U) - 1.5 * td.logdet(V)
    rng = rng_of("matrix normal")
    v = dict(U_mn=spd(rng, 3, 0.5), V_mn=spd(rng, 2, 0.5), X_mn=rng.standard_normal((3, 2)),
             M_mn=rng.standard_normal((3, 2)))
    Ui, Vi, Ev = np.linalg.inv(v["U_mn"]), np.linalg.inv(v["V_mn"]), v["X_mn"] - v["M_mn"]

    def twin(u):
        Ej = u["X_mn"] - u["M_mn"]
        return (-0.5 * jnp.trace(jnp.linalg.solve(u["V_mn"], Ej.T) @ jnp.linalg.solve(u["U_mn"], Ej))
                - jnp.linalg.slogdet(u["U_mn"])[1] - 1.5 * jnp.linalg.slogdet(u["V_mn"])[1])
    return Problem(f, {U: 3, V: 2, M: 2}, v, twin, {
        ("U_mn", 1): 0.5 * Ui @ Ev @ Vi @ Ev.T @ Ui - Ui, ("V_mn", 1): 0.5 * Vi @ Ev.T @ Ui @ Ev @ Vi - 1.5 * Vi,
        ("M_mn", 1): Ui @ Ev @ Vi})


@problem
def polynomial_kernel_ridge_in_its_offset_and_data():
    # K = (XXᵀ + c)∘², α = (K + ½I)⁻¹y, f = yᵀα: ∂/∂c = -αᵀ(2(XXᵀ + c))α
    X, c, y = td.matrix("X_pk", "n_pk d_pk"), td.scalar("c_pk"), td.vector("y_pk", "n_pk")
    K = (X @ X.T + c) ** 2
    f = y @ td.solve(K + 0.5 * td.eye("n_pk"), y)
    rng = rng_of("polynomial kernel")
    v = dict(X_pk=rng.standard_normal((7, 2)) * 0.6, c_pk=0.7, y_pk=rng.standard_normal(7))
    G = v["X_pk"] @ v["X_pk"].T + 0.7
    alpha = np.linalg.solve(G ** 2 + 0.5 * np.eye(7), v["y_pk"])
    return Problem(f, {c: 3, X: 2}, v, lambda u: u["y_pk"] @ jnp.linalg.solve(
        (u["X_pk"] @ u["X_pk"].T + u["c_pk"]) ** 2 + 0.5 * jnp.eye(7), u["y_pk"]),
        {("c_pk", 1): -alpha @ (2 * G) @ alpha})


@problem
def kalman_innovation_likelihood_in_the_transition_matrix():
    # P' = APAᵀ + Q, S = HP'Hᵀ + R, e = z - HAm, f = -½eᵀS⁻¹e - ½ log det S
    A, P = td.matrix("A_kf", "s_kf s_kf"), td.matrix("P_kf", "s_kf s_kf", symmetric=True)
    Q = td.matrix("Q_kf", "s_kf s_kf", symmetric=True)
    H, R = td.matrix("H_kf", "o_kf s_kf"), td.matrix("R_kf", "o_kf o_kf", symmetric=True)
    m, z = td.vector("m_kf", "s_kf"), td.vector("z_kf", "o_kf")
    S = H @ (A @ P @ A.T + Q) @ H.T + R
    e = z - H @ (A @ m)
    f = -0.5 * e @ td.solve(S, e) - 0.5 * td.logdet(S)
    rng = rng_of("kalman")
    v = dict(A_kf=np.eye(3) * 0.9 + 0.2 * rng.standard_normal((3, 3)), P_kf=spd(rng, 3, 0.3), Q_kf=spd(rng, 3, 0.2),
             H_kf=rng.standard_normal((2, 3)), R_kf=spd(rng, 2, 0.3), m_kf=rng.standard_normal(3),
             z_kf=rng.standard_normal(2))

    def twin(u):
        Sj = u["H_kf"] @ (u["A_kf"] @ u["P_kf"] @ u["A_kf"].T + u["Q_kf"]) @ u["H_kf"].T + u["R_kf"]
        ej = u["z_kf"] - u["H_kf"] @ (u["A_kf"] @ u["m_kf"])
        return -0.5 * ej @ jnp.linalg.solve(Sj, ej) - 0.5 * jnp.linalg.slogdet(Sj)[1]
    return Problem(f, {A: 3, m: 2}, v, twin)


# ---------------------------------------------------------------- networks and reductions

@problem
def column_batch_normalisation_then_a_gain():
    # centred, scaled columns C/√(var + ε) with a per-column gain g, read through tanh
    X, g, Wt = td.matrix("X_bn", "n_bn p_bn"), td.vector("g_bn", "p_bn"), td.matrix("Wt_bn", "n_bn p_bn")
    C = X - td.mean(X, axis=0)
    Xh = C / td.sqrt(td.mean(C ** 2, axis=0) + 1e-3)
    f = td.sum(Wt * td.tanh(Xh * g))
    rng = rng_of("batch norm")
    v = dict(X_bn=rng.standard_normal((6, 3)), g_bn=rng.uniform(0.5, 1.5, 3), Wt_bn=rng.standard_normal((6, 3)))

    def twin(u):
        Cj = u["X_bn"] - jnp.mean(u["X_bn"], axis=0)
        return jnp.sum(u["Wt_bn"] * jnp.tanh(Cj / jnp.sqrt(jnp.mean(Cj ** 2, axis=0) + 1e-3) * u["g_bn"]))
    return Problem(f, {X: 2, g: 3}, v, twin)


@problem
def cross_entropy_written_with_a_max_shift():
    # lse(z) = log Σ exp(z - max z) + max z, so the max cancels: with P = softmax rows of Z = XW,
    # ∂/∂W = Xᵀ(w∘(P - T)) and ∂²/∂W_ab∂W_ce = Σ_i w_i X_ia X_ic (δ_be P_ib - P_ib P_ie)
    X, W = td.matrix("X_ms", "n_ms d_ms"), td.matrix("W_ms", "d_ms k_ms")
    T, w = td.matrix("T_ms", "n_ms k_ms"), td.vector("w_ms", "n_ms")
    Z = X @ W
    m = td.max(Z, axis=1)
    shifted = Z - td.outer(m, td.ones("k_ms"))
    f = td.sum(w * (td.log(td.sum(td.exp(shifted), axis=1)) + m - td.sum(T * Z, axis=1)))
    rng = rng_of("max shift")
    v = dict(X_ms=rng.standard_normal((5, 3)), W_ms=rng.standard_normal((3, 4)),
             T_ms=np.eye(4)[rng.integers(0, 4, 5)], w_ms=rng.uniform(0.5, 2.0, 5))
    P = softmax_rows(v["X_ms"] @ v["W_ms"])
    wX = v["w_ms"][:, None] * v["X_ms"]
    hess = (np.einsum("ia,ic,ib,be->abce", wX, v["X_ms"], P, np.eye(4))
            - np.einsum("ia,ic,ib,ie->abce", wX, v["X_ms"], P, P))

    def twin(u):
        Zj = u["X_ms"] @ u["W_ms"]
        return jnp.sum(u["w_ms"] * (jss.logsumexp(Zj, axis=1) - jnp.sum(u["T_ms"] * Zj, axis=1)))
    return Problem(f, {W: 2, X: 2}, v, twin, {("W_ms", 1): v["X_ms"].T @ (v["w_ms"][:, None] * (P - v["T_ms"])),
                                              ("W_ms", 2): hess})


@problem
def temperature_smooth_max_and_hard_max_and_min():
    # f = τ Σ_j lse_i(X_ij/τ) - Σ_j max_i X_ij + Σ_i min_j X_ij: ∂/∂τ = Σ_j (lse_j - Σ_i p_ij X_ij/τ),
    # p the softmax of each column of X/τ
    X, tau = td.matrix("X_sm", "n_sm p_sm"), td.scalar("tau_sm")
    f = tau * td.sum(td.logsumexp(X / tau, axis=0)) - td.sum(td.max(X, axis=0)) + td.sum(td.min(X, axis=1))
    rng = rng_of("smooth max")
    v = dict(X_sm=rng.standard_normal((4, 3)), tau_sm=0.7)
    Zc = v["X_sm"] / 0.7
    lse = np.log(np.sum(np.exp(Zc), axis=0))
    p = softmax_rows(Zc.T).T
    return Problem(f, {tau: 3, X: 2}, v, lambda u: (u["tau_sm"] * jnp.sum(jss.logsumexp(u["X_sm"] / u["tau_sm"], axis=0))
                                                    - jnp.sum(jnp.max(u["X_sm"], axis=0))
                                                    + jnp.sum(jnp.min(u["X_sm"], axis=1))),
                   {("tau_sm", 1): np.sum(lse - np.sum(p * Zc, axis=0))})


@problem
def cayley_rotation_procrustes_in_its_generator():
    # A = B - Bᵀ (skew), R = (I - A)(I + A)⁻¹ orthogonal, f = ‖XR - Y‖²
    B, X, Y = td.matrix("B_cy", "d_cy d_cy"), td.matrix("X_cy", "n_cy d_cy"), td.matrix("Y_cy", "n_cy d_cy")
    A = B - B.T
    I = td.eye("d_cy")
    f = td.sum((X @ ((I - A) @ td.inv(I + A)) - Y) ** 2)
    rng = rng_of("cayley")
    v = dict(B_cy=0.4 * rng.standard_normal((3, 3)), X_cy=rng.standard_normal((4, 3)), Y_cy=rng.standard_normal((4, 3)))

    def twin(u):
        Aj = u["B_cy"] - u["B_cy"].T
        return jnp.sum((u["X_cy"] @ ((jnp.eye(3) - Aj) @ jnp.linalg.inv(jnp.eye(3) + Aj)) - u["Y_cy"]) ** 2)
    return Problem(f, {B: 3}, v, twin)


@problem
def three_symbols_of_three_ranks():
    a, x, M = td.scalar("a_tr"), td.vector("x_tr", "n_tr"), td.matrix("M_tr", "n_tr n_tr")
    f = td.exp(a) * (x @ M @ x) + a ** 2 * td.trace(M) + td.sum(td.tanh(M @ x))
    rng = rng_of("three ranks")
    v = dict(a_tr=0.3, x_tr=rng.standard_normal(3), M_tr=rng.standard_normal((3, 3)))
    return Problem(f, {a: 3, x: 2, M: 2}, v, lambda u: (jnp.exp(u["a_tr"]) * (u["x_tr"] @ u["M_tr"] @ u["x_tr"])
                                                        + u["a_tr"] ** 2 * jnp.trace(u["M_tr"])
                                                        + jnp.sum(jnp.tanh(u["M_tr"] @ u["x_tr"]))),
                   {("a_tr", 1): math.exp(0.3) * v["x_tr"] @ v["M_tr"] @ v["x_tr"] + 0.6 * np.trace(v["M_tr"])})


@problem
def softmax_layer_jacobian_in_its_weights():
    # P = softmax rows of XW: ∂P_ij/∂W_ab = P_ij(δ_jb - P_ib)X_ia
    X, W = td.matrix("X_sj", "n_sj d_sj"), td.matrix("W_sj", "d_sj k_sj")
    f = td.softmax(X @ W, axis=1)
    rng = rng_of("softmax jacobian")
    v = dict(X_sj=rng.standard_normal((3, 2)), W_sj=rng.standard_normal((2, 4)))
    P = softmax_rows(v["X_sj"] @ v["W_sj"])
    jac = np.einsum("ij,jb,ia->ijab", P, np.eye(4), v["X_sj"]) - np.einsum("ij,ib,ia->ijab", P, P, v["X_sj"])
    return Problem(f, {W: 2}, v, lambda u: jax.nn.softmax(u["X_sj"] @ u["W_sj"], axis=1), {("W_sj", 1): jac})


@problem
def causal_attention_in_queries_keys_and_values():
    # E = tril(exp(QKᵀ)), P = E / rowsums, f = Σ Wt∘(PV)
    Q, K, V = td.matrix("Q_ca", "n_ca d_ca"), td.matrix("K_ca", "n_ca d_ca"), td.matrix("V_ca", "n_ca e_ca")
    Wt = td.matrix("Wt_ca", "n_ca e_ca")
    E = td.tril(td.exp(Q @ K.T))
    P = E / td.outer(td.sum(E, axis=1), td.ones("n_ca"))
    f = td.sum(Wt * (P @ V))
    rng = rng_of("causal attention")
    v = dict(Q_ca=rng.standard_normal((4, 2)) * 0.7, K_ca=rng.standard_normal((4, 2)) * 0.7,
             V_ca=rng.standard_normal((4, 3)), Wt_ca=rng.standard_normal((4, 3)))

    def twin(u):
        Ej = jnp.tril(jnp.exp(u["Q_ca"] @ u["K_ca"].T))
        return jnp.sum(u["Wt_ca"] * ((Ej / jnp.sum(Ej, axis=1, keepdims=True)) @ u["V_ca"]))
    return Problem(f, {Q: 2, K: 2, V: 2}, v, twin)


# ---------------------------------------------------------------- kernels and regression

@problem
def periodic_kernel_gp_in_period_lengthscale_and_inputs():
    # K = exp(-2 sin²(π(x_i - x_j)/p)/ℓ²) + 0.1I, f = -½yᵀK⁻¹y - ½ log det K
    x, y, ell, per = td.vector("x_pg", "n_pg"), td.vector("y_pg", "n_pg"), td.scalar("ell_pg"), td.scalar("per_pg")
    D = td.outer(x, td.ones("n_pg")) - td.outer(td.ones("n_pg"), x)
    K = td.exp(-2 * td.sin(math.pi * D / per) ** 2 / ell ** 2) + 0.1 * td.eye("n_pg")
    f = -0.5 * y @ td.solve(K, y) - 0.5 * td.logdet(K)
    rng = rng_of("periodic gp")
    v = dict(x_pg=np.sort(rng.uniform(0, 3, 5)), y_pg=rng.standard_normal(5), ell_pg=0.9, per_pg=1.7)

    def twin(u):
        Kj = jnp.exp(-2 * jnp.sin(jnp.pi * differences(u["x_pg"]) / u["per_pg"]) ** 2 / u["ell_pg"] ** 2) + 0.1 * jnp.eye(5)
        return -0.5 * u["y_pg"] @ jnp.linalg.solve(Kj, u["y_pg"]) - 0.5 * jnp.linalg.slogdet(Kj)[1]
    return Problem(f, {ell: 3, per: 2, x: 2}, v, twin)


@problem
def ridge_objective_with_its_inverse_read_several_times():
    # M = XᵀX + αI, w = M⁻¹Xᵀy, f = wᵀM⁻¹w + tr M⁻¹ + ‖y - Xw‖² + α(‖w‖² - 1): the last two terms'
    # α-derivative through w vanishes (w minimises them), ∂w/∂α = -M⁻¹w, so
    # ∂f/∂α = -3wᵀM⁻²w - tr M⁻² + ‖w‖² - 1
    X, y, alpha = td.matrix("X_rg", "n_rg d_rg"), td.vector("y_rg", "n_rg"), td.scalar("alpha_rg")
    Mi = td.inv(X.T @ X + alpha * td.eye("d_rg"))
    w = Mi @ (X.T @ y)
    f = w @ Mi @ w + td.trace(Mi) + td.sum((y - X @ w) ** 2) + alpha * (w @ w - 1)
    rng = rng_of("ridge several")
    v = dict(X_rg=rng.standard_normal((6, 3)), y_rg=rng.standard_normal(6), alpha_rg=0.8)
    Miv = np.linalg.inv(v["X_rg"].T @ v["X_rg"] + 0.8 * np.eye(3))
    wv = Miv @ v["X_rg"].T @ v["y_rg"]

    def twin(u):
        Mj = jnp.linalg.inv(u["X_rg"].T @ u["X_rg"] + u["alpha_rg"] * jnp.eye(3))
        wj = Mj @ (u["X_rg"].T @ u["y_rg"])
        return (wj @ Mj @ wj + jnp.trace(Mj) + jnp.sum((u["y_rg"] - u["X_rg"] @ wj) ** 2)
                + u["alpha_rg"] * (wj @ wj - 1))
    return Problem(f, {alpha: 4, X: 2}, v, twin,
                   {("alpha_rg", 1): -3 * wv @ Miv @ Miv @ wv - np.trace(Miv @ Miv) + wv @ wv - 1})


@problem
def ridge_solution_jacobian_in_the_design():
    # q = M⁻¹Xᵀy, M = XᵀX + λI: ∂q_a/∂X_ij = M⁻¹_aj z_i - (M⁻¹Xᵀ)_ai q_j, z = y - Xq (second seed question)
    X, y = td.matrix("X_rj", "n_rj p_rj"), td.vector("y_rj", "n_rj")
    f = td.solve(X.T @ X + 0.5 * td.eye("p_rj"), X.T @ y)
    rng = rng_of("ridge jacobian")
    v = dict(X_rj=rng.standard_normal((4, 2)), y_rj=rng.standard_normal(4))
    Mi = np.linalg.inv(v["X_rj"].T @ v["X_rj"] + 0.5 * np.eye(2))
    q = Mi @ v["X_rj"].T @ v["y_rj"]
    z = v["y_rj"] - v["X_rj"] @ q
    jac = np.einsum("aj,i->aij", Mi, z) - np.einsum("ai,j->aij", Mi @ v["X_rj"].T, q)
    return Problem(f, {X: 3}, v, lambda u: jnp.linalg.solve(u["X_rj"].T @ u["X_rj"] + 0.5 * jnp.eye(2),
                                                            u["X_rj"].T @ u["y_rj"]), {("X_rj", 1): jac})


@problem
def order_four_in_a_general_matrix():
    X = td.matrix("X_o4", "n_o4 n_o4")
    f = td.logdet(td.eye("n_o4") + X.T @ X) + td.trace(td.matrix_power(X, 3)) + td.sum(td.sin(X @ X))
    v = dict(X_o4=np.array([[0.6, -0.3], [0.4, 0.9]]))
    # ∂/∂X of tr X³ is 3(X²)ᵀ; of log det(I + XᵀX) it is 2X(I + XᵀX)⁻¹; of Σ sin(X²) it is
    # Cᵀ... with C = cos(X²): ∂/∂X_ab Σ sin(XX)_ij = (C Xᵀ)_ab + (XᵀC)_ab
    Xv = v["X_o4"]
    C = np.cos(Xv @ Xv)
    grad = 3 * (Xv @ Xv).T + 2 * Xv @ np.linalg.inv(np.eye(2) + Xv.T @ Xv) + C @ Xv.T + Xv.T @ C
    return Problem(f, {X: 4}, v, lambda u: (jnp.linalg.slogdet(jnp.eye(2) + u["X_o4"].T @ u["X_o4"])[1]
                                            + jnp.trace(u["X_o4"] @ u["X_o4"] @ u["X_o4"])
                                            + jnp.sum(jnp.sin(u["X_o4"] @ u["X_o4"]))), {("X_o4", 1): grad})


@problem
def whitened_mahalanobis_through_the_cholesky_of_a_symmetric_argument():
    # L = chol S, f = ‖L⁻¹x‖² + 2 Σ log diag L = xᵀS⁻¹x + log det S: ∂/∂S = S⁻¹ - S⁻¹xxᵀS⁻¹, ∂/∂x = 2S⁻¹x
    S, x = td.matrix("S_wm", "n_wm n_wm", symmetric=True), td.vector("x_wm", "n_wm")
    L = td.cholesky(S)
    a = td.solve(L, x)
    f = a @ a + 2 * td.sum(td.log(td.diagonal(L)))
    rng = rng_of("whitened mahalanobis")
    v = dict(S_wm=spd(rng, 3, 0.5), x_wm=rng.standard_normal(3))
    Si = np.linalg.inv(v["S_wm"])
    return Problem(f, {S: 3, x: 2}, v, lambda u: (u["x_wm"] @ jnp.linalg.solve(u["S_wm"], u["x_wm"])
                                                  + jnp.linalg.slogdet(u["S_wm"])[1]),
                   {("S_wm", 1): Si - Si @ np.outer(v["x_wm"], v["x_wm"]) @ Si, ("x_wm", 1): 2 * Si @ v["x_wm"]})


@problem
def symmetric_argument_read_by_inverse_logdet_and_a_product_to_order_three():
    # f = tr(S⁻¹A) + log det S + tr(SBS): the unconstrained gradient is -S⁻¹AᵀS⁻¹ + S⁻¹ + BS + SB
    # (S, B symmetric); the symmetric one is its symmetric part
    S = td.matrix("S_sy", "n_sy n_sy", symmetric=True)
    A, B = td.matrix("A_sy", "n_sy n_sy"), td.matrix("B_sy", "n_sy n_sy", symmetric=True)
    f = td.trace(td.inv(S) @ A) + td.logdet(S) + td.trace(S @ B @ S)
    rng = rng_of("symmetric argument")
    v = dict(S_sy=spd(rng, 3, 0.5), A_sy=rng.standard_normal((3, 3)), B_sy=sym(rng.standard_normal((3, 3))))
    Si = np.linalg.inv(v["S_sy"])
    G = -Si @ v["A_sy"].T @ Si + Si + v["B_sy"] @ v["S_sy"] + v["S_sy"] @ v["B_sy"]

    def twin(u):
        return (jnp.trace(jnp.linalg.inv(u["S_sy"]) @ u["A_sy"]) + jnp.linalg.slogdet(u["S_sy"])[1]
                + jnp.trace(u["S_sy"] @ u["B_sy"] @ u["S_sy"]))
    return Problem(f, {S: 3}, v, twin, {("S_sy", 1): sym(G)})


@problem
def wishart_density_in_its_scale_and_degrees_of_freedom():
    # f = ((ν-p-1)/2) log det X - ½tr(Σ⁻¹X) - (ν/2) log det Σ - (νp/2) log 2 - Σ_j lgamma(ν/2 - h_j):
    # ∂/∂ν = ½ log det X - ½ log det Σ - (p/2) log 2 - ½ Σ_j digamma(ν/2 - h_j),
    # ∂/∂Σ = ½Σ⁻¹XΣ⁻¹ - (ν/2)Σ⁻¹
    Sig = td.matrix("Sig_wi", "p_wi p_wi", symmetric=True)
    X = td.matrix("X_wi", "p_wi p_wi", symmetric=True)
    nu, h = td.scalar("nu_wi"), td.vector("h_wi", "p_wi")
    f = ((nu - 4) / 2 * td.logdet(X) - 0.5 * td.trace(td.solve(Sig, X)) - nu / 2 * td.logdet(Sig)
         - nu * 1.5 * math.log(2) - td.sum(td.lgamma(nu / 2 - h)))
    rng = rng_of("wishart")
    v = dict(Sig_wi=spd(rng, 3, 0.5), X_wi=spd(rng, 3, 0.5), nu_wi=5.5, h_wi=np.array([0.0, 0.5, 1.0]))
    from scipy.special import digamma
    Si = np.linalg.inv(v["Sig_wi"])
    logdet = lambda a: np.linalg.slogdet(a)[1]   # noqa: E731

    def twin(u):
        return ((u["nu_wi"] - 4) / 2 * jnp.linalg.slogdet(u["X_wi"])[1]
                - 0.5 * jnp.trace(jnp.linalg.solve(u["Sig_wi"], u["X_wi"]))
                - u["nu_wi"] / 2 * jnp.linalg.slogdet(u["Sig_wi"])[1] - u["nu_wi"] * 1.5 * jnp.log(2.0)
                - jnp.sum(jss.gammaln(u["nu_wi"] / 2 - u["h_wi"])))
    return Problem(f, {nu: 3, Sig: 2}, v, twin, {
        ("nu_wi", 1): (0.5 * logdet(v["X_wi"]) - 0.5 * logdet(v["Sig_wi"]) - 1.5 * math.log(2)
                       - 0.5 * np.sum(digamma(5.5 / 2 - v["h_wi"]))),
        ("Sig_wi", 1): 0.5 * Si @ v["X_wi"] @ Si - 2.75 * Si})


# ---------------------------------------------------------------- merged dims: vec, kron, reshape

@problem
def least_squares_through_a_kronecker_matrix_and_its_entries():
    # ‖kron(Bᵀ, A) vec X - vec C‖² = ‖AXB - C‖² (∂/∂X = 2Aᵀ(AXB - C)Bᵀ), plus Σ sin(kron(A, Bᵀ))
    A, X = td.matrix("A_kv", "i_kv j_kv"), td.matrix("X_kv", "j_kv k_kv")
    B, C = td.matrix("B_kv", "k_kv l_kv"), td.matrix("C_kv", "i_kv l_kv")
    f = td.sum((td.kron(B.T, A) @ td.vec(X) - td.vec(C)) ** 2) + td.sum(td.sin(td.kron(A, B.T)))
    rng = rng_of("kron vec")
    v = dict(A_kv=rng.standard_normal((3, 2)), X_kv=rng.standard_normal((2, 4)), B_kv=rng.standard_normal((4, 3)),
             C_kv=rng.standard_normal((3, 3)))
    R = v["A_kv"] @ v["X_kv"] @ v["B_kv"] - v["C_kv"]
    return Problem(f, {X: 2, A: 2, B: 2}, v, lambda u: (jnp.sum((u["A_kv"] @ u["X_kv"] @ u["B_kv"] - u["C_kv"]) ** 2)
                                                        + jnp.sum(jnp.sin(jnp.kron(u["A_kv"], u["B_kv"].T)))),
                   {("X_kv", 1): 2 * v["A_kv"].T @ R @ v["B_kv"].T})


@problem
def reshaped_order_three_tensor_through_a_layer():
    # M = reshape(T, (a·b, c)) in C order, f = Σ tanh(MW) + (vec(T)ᵀu)², vec column-major
    T = td.tensor("T_rt", "a_rt b_rt c_rt")
    W, u = td.matrix("W_rt", "c_rt k_rt"), td.vector("u_rt", "c_rt·b_rt·a_rt")
    f = td.sum(td.tanh(td.reshape(T, "a_rt·b_rt c_rt") @ W)) + (td.vec(T) @ u) ** 2
    rng = rng_of("reshaped tensor")
    v = dict(T_rt=rng.standard_normal((2, 3, 4)) * 0.5, W_rt=rng.standard_normal((4, 2)), u_rt=rng.standard_normal(24) * 0.3)
    return Problem(f, {T: 2, W: 2}, v, lambda w: (jnp.sum(jnp.tanh(w["T_rt"].reshape(6, 4) @ w["W_rt"]))
                                                  + (jnp.transpose(w["T_rt"]).reshape(-1) @ w["u_rt"]) ** 2))


@problem
def kronecker_product_read_entrywise_and_vectorised():
    # K = kron(A, B), f = Σ C∘sin(K) + vec(K)ᵀu + ‖K‖⁴/100
    A, B = td.matrix("A_ke", "i_ke j_ke"), td.matrix("B_ke", "k_ke l_ke")
    C, u = td.matrix("C_ke", "i_ke·k_ke j_ke·l_ke"), td.vector("u_ke", "j_ke·l_ke·i_ke·k_ke")
    K = td.kron(A, B)
    f = td.sum(C * td.sin(K)) + td.vec(K) @ u + td.sum(K ** 2) ** 2 / 100
    rng = rng_of("kron entrywise")
    v = dict(A_ke=rng.standard_normal((2, 2)), B_ke=rng.standard_normal((3, 2)), C_ke=rng.standard_normal((6, 4)),
             u_ke=rng.standard_normal(24))

    def twin(w):
        Kj = jnp.kron(w["A_ke"], w["B_ke"])
        return jnp.sum(w["C_ke"] * jnp.sin(Kj)) + Kj.T.reshape(-1) @ w["u_ke"] + jnp.sum(Kj ** 2) ** 2 / 100
    return Problem(f, {A: 3, B: 2}, v, twin)


# ---------------------------------------------------------------- less common operations

@problem
def einsum_with_a_diagonal_and_three_operands():
    # f = Σ_ijk A_ii B_ij C_jk tanh(x_k) + Σ_ij A_ij A_ji A_ij: ∂/∂x = (CᵀBᵀ diag A)∘(1 - tanh²x)
    A, B = td.matrix("A_es", "n_es n_es"), td.matrix("B_es", "n_es m_es")
    C, x = td.matrix("C_es", "m_es k_es"), td.vector("x_es", "k_es")
    f = td.einsum("ii,ij,jk,k->", A, B, C, td.tanh(x)) + td.einsum("ij,ji,ij", A, A, A)
    rng = rng_of("einsum diagonal")
    v = dict(A_es=rng.standard_normal((3, 3)), B_es=rng.standard_normal((3, 4)), C_es=rng.standard_normal((4, 2)),
             x_es=rng.standard_normal(2))
    th = np.tanh(v["x_es"])
    return Problem(f, {A: 3, x: 3, C: 2}, v, lambda u: (jnp.einsum("ii,ij,jk,k->", u["A_es"], u["B_es"], u["C_es"], jnp.tanh(u["x_es"]))
                                                        + jnp.einsum("ij,ji,ij", u["A_es"], u["A_es"], u["A_es"])),
                   {("x_es", 1): (v["C_es"].T @ v["B_es"].T @ np.diag(v["A_es"])) * (1 - th ** 2)})


@problem
def stacked_features_through_a_log_softmax_and_their_gram_determinant():
    # P = [x, y², sin(xy)] stacked as columns, Q likewise of data, f = Σ Q∘log_softmax(P) + log det PᵀP
    # (a stack's new dim "3" cannot be declared on a symbol: it meets only other stacks and itself)
    x, y = td.vector("x_sf", "n_sf"), td.vector("y_sf", "n_sf")
    q1, q2, q3 = (td.vector(f"q{k}_sf", "n_sf") for k in (1, 2, 3))
    P = td.stack([x, y ** 2, td.sin(x * y)], axis=1)
    f = td.sum(td.stack([q1, q2, q3], axis=1) * td.log_softmax(P, axis=1)) + td.logdet(P.T @ P)
    rng = rng_of("stacked features")
    v = dict(x_sf=rng.standard_normal(5), y_sf=rng.standard_normal(5), q1_sf=rng.uniform(0, 1, 5),
             q2_sf=rng.uniform(0, 1, 5), q3_sf=rng.uniform(0, 1, 5))

    def twin(u):
        Pj = jnp.stack([u["x_sf"], u["y_sf"] ** 2, jnp.sin(u["x_sf"] * u["y_sf"])], axis=1)
        Qj = jnp.stack([u["q1_sf"], u["q2_sf"], u["q3_sf"]], axis=1)
        return jnp.sum(Qj * jax.nn.log_softmax(Pj, axis=1)) + jnp.linalg.slogdet(Pj.T @ Pj)[1]
    return Problem(f, {x: 2, y: 2}, v, twin)


@problem
def rows_concatenated_then_softmax_over_columns():
    # Z = [X; Y²] (rows n+m), f = Σ V∘softmax(Z, axis 0)
    X, Y = td.matrix("X_rc", "n_rc p_rc"), td.matrix("Y_rc", "m_rc p_rc")
    V = td.matrix("V_rc", "n_rc+m_rc p_rc")
    f = td.sum(V * td.softmax(td.concatenate([X, Y ** 2], axis=0), axis=0))
    rng = rng_of("rows concatenated")
    v = dict(X_rc=rng.standard_normal((3, 2)), Y_rc=rng.standard_normal((2, 2)), V_rc=rng.standard_normal((5, 2)))
    return Problem(f, {X: 3, Y: 2}, v, lambda u: jnp.sum(u["V_rc"] * jax.nn.softmax(
        jnp.concatenate([u["X_rc"], u["Y_rc"] ** 2], axis=0), axis=0)))


@problem
def huber_and_leaky_relu_through_where_abs_and_maximum():
    # r = Xw - y, f = Σ where(|r| < 1, ½r², |r| - ½) + Σ maximum(Xw, 0.1Xw): ∂/∂w = Xᵀ(clip(r) + s),
    # s = 1 where Xw > 0 else 0.1
    X, w, y = td.matrix("X_hu", "n_hu d_hu"), td.vector("w_hu", "d_hu"), td.vector("y_hu", "n_hu")
    r = X @ w - y
    f = td.sum(td.where(td.abs(r) < 1, 0.5 * r ** 2, td.abs(r) - 0.5)) + td.sum(td.maximum(X @ w, 0.1 * (X @ w)))
    rng = rng_of("huber leaky")
    v = dict(X_hu=rng.standard_normal((7, 3)), w_hu=rng.standard_normal(3), y_hu=rng.standard_normal(7) * 2)
    z = v["X_hu"] @ v["w_hu"]
    rv = z - v["y_hu"]
    return Problem(f, {w: 3}, v, lambda u: (jnp.sum(jnp.where(jnp.abs(u["X_hu"] @ u["w_hu"] - u["y_hu"]) < 1,
                                                              0.5 * (u["X_hu"] @ u["w_hu"] - u["y_hu"]) ** 2,
                                                              jnp.abs(u["X_hu"] @ u["w_hu"] - u["y_hu"]) - 0.5))
                                            + jnp.sum(jnp.maximum(u["X_hu"] @ u["w_hu"], 0.1 * (u["X_hu"] @ u["w_hu"])))),
                   {("w_hu", 1): v["X_hu"].T @ (np.clip(rv, -1, 1) + np.where(z > 0, 1.0, 0.1))})


@problem
def means_and_logsumexp_over_two_axes_of_an_order_three_tensor():
    T, c = td.tensor("T_ma", "a_ma b_ma c_ma"), td.vector("c_ma", "b_ma")
    f = td.sum(td.mean(T ** 2, axis=(0, 2)) * c) + td.sum(td.logsumexp(T, axis=(0, 1)) ** 2) + \
        td.sum(td.max(T, axis=(1, 2)))
    rng = rng_of("two axes")
    v = dict(T_ma=rng.standard_normal((2, 3, 2)), c_ma=rng.standard_normal(3))
    return Problem(f, {T: 3, c: 2}, v, lambda u: (jnp.sum(jnp.mean(u["T_ma"] ** 2, axis=(0, 2)) * u["c_ma"])
                                                  + jnp.sum(jss.logsumexp(u["T_ma"], axis=(0, 1)) ** 2)
                                                  + jnp.sum(jnp.max(u["T_ma"], axis=(1, 2)))))


@problem
def dirichlet_likelihood_in_its_concentrations_to_order_three():
    # f = lgamma(Σα) - Σ lgamma(α) + Σ (α - 1) log p: ∂/∂α = digamma(Σα) - digamma(α) + log p,
    # ∂²/∂α² = polygamma(1, Σα) - diag(polygamma(1, α))
    a, lp = td.vector("a_di", "k_di"), td.vector("lp_di", "k_di")
    f = td.lgamma(td.sum(a)) - td.sum(td.lgamma(a)) + td.sum((a - 1) * lp)
    rng = rng_of("dirichlet")
    v = dict(a_di=rng.uniform(0.8, 3.0, 4), lp_di=np.log(rng.dirichlet(np.ones(4))))
    from scipy.special import digamma, polygamma
    return Problem(f, {a: 3}, v, lambda u: (jss.gammaln(jnp.sum(u["a_di"])) - jnp.sum(jss.gammaln(u["a_di"]))
                                            + jnp.sum((u["a_di"] - 1) * u["lp_di"])),
                   {("a_di", 1): digamma(v["a_di"].sum()) - digamma(v["a_di"]) + v["lp_di"],
                    ("a_di", 2): polygamma(1, v["a_di"].sum()) - np.diag(polygamma(1, v["a_di"]))})


@problem
def upper_triangle_of_a_symmetric_argument():
    # f = Σ W∘triu(S) + Σ tril(S)² (S symmetric): the unconstrained gradient is U∘W + 2L∘S (U, L the
    # triangle masks); the symmetric one is its symmetric part
    S, W = td.matrix("S_tu", "n_tu n_tu", symmetric=True), td.matrix("W_tu", "n_tu n_tu")
    f = td.sum(W * td.triu(S)) + td.sum(td.tril(S) ** 2) + td.logdet(S)
    rng = rng_of("upper triangle")
    v = dict(S_tu=spd(rng, 3, 0.5), W_tu=rng.standard_normal((3, 3)))
    U, L = np.triu(np.ones((3, 3))), np.tril(np.ones((3, 3)))
    G = U * v["W_tu"] + 2 * L * v["S_tu"] + np.linalg.inv(v["S_tu"])
    return Problem(f, {S: 3}, v, lambda u: (jnp.sum(u["W_tu"] * jnp.triu(u["S_tu"])) + jnp.sum(jnp.tril(u["S_tu"]) ** 2)
                                            + jnp.linalg.slogdet(u["S_tu"])[1]), {("S_tu", 1): sym(G)})


@problem
def frobenius_norm_of_a_residual_to_order_three():
    # f = ‖XY - Z‖_F: ∂/∂X = (XY - Z)Yᵀ/‖XY - Z‖
    X, Y, Z = td.matrix("X_fn", "n_fn k_fn"), td.matrix("Y_fn", "k_fn m_fn"), td.matrix("Z_fn", "n_fn m_fn")
    f = td.norm(X @ Y - Z)
    rng = rng_of("frobenius norm")
    v = dict(X_fn=rng.standard_normal((2, 2)), Y_fn=rng.standard_normal((2, 3)), Z_fn=rng.standard_normal((2, 3)))
    R = v["X_fn"] @ v["Y_fn"] - v["Z_fn"]
    return Problem(f, {X: 3, Y: 2}, v, lambda u: jnp.linalg.norm(u["X_fn"] @ u["Y_fn"] - u["Z_fn"]),
                   {("X_fn", 1): R @ v["Y_fn"].T / np.linalg.norm(R)})


@problem
def tensor_and_box_products_read_by_order_four_weights():
    # f = Σ W∘tanh(tprod(A, B)) + Σ V∘tbox(A, D)²: tprod(A, B)[i,j,k,l] = A_ik B_jl, tbox(A, D)[i,j,k,l] = A_il D_jk
    A, B, D = td.matrix("A_tp", "m_tp n_tp"), td.matrix("B_tp", "p_tp q_tp"), td.matrix("D_tp", "p_tp q_tp")
    W, V = td.tensor("W_tp", "m_tp p_tp n_tp q_tp"), td.tensor("V_tp", "m_tp p_tp q_tp n_tp")
    f = td.sum(W * td.tanh(td.tprod(A, B))) + td.sum(V * td.tbox(A, D) ** 2)
    rng = rng_of("tensor products")
    v = dict(A_tp=rng.standard_normal((2, 3)), B_tp=rng.standard_normal((2, 2)), D_tp=rng.standard_normal((2, 2)),
             W_tp=rng.standard_normal((2, 2, 3, 2)), V_tp=rng.standard_normal((2, 2, 2, 3)))
    return Problem(f, {A: 3, B: 2, D: 2}, v, lambda u: (
        jnp.sum(u["W_tp"] * jnp.tanh(jnp.einsum("ik,jl->ijkl", u["A_tp"], u["B_tp"])))
        + jnp.sum(u["V_tp"] * jnp.einsum("il,jk->ijkl", u["A_tp"], u["D_tp"]) ** 2)))

@problem
def cholesky_factor_of_a_symmetric_argument_as_a_matrix():
    S = td.matrix("S_cf", "n_cf n_cf", symmetric=True)
    f = td.cholesky(S)
    rng = rng_of("cholesky factor")
    v = dict(S_cf=spd(rng, 3, 0.5))
    return Problem(f, {S: 2}, v, lambda u: jnp.linalg.cholesky(u["S_cf"]))


@problem
def inverse_cube_and_lower_triangle_of_a_symmetric_argument():
    # F = S⁻¹ + S³/10 + tril(exp(S)): the S⁻¹ part of ∂F_ij/∂S_kl is -½(S⁻¹_ik S⁻¹_lj + S⁻¹_il S⁻¹_kj)
    S = td.matrix("S_ic", "n_ic n_ic", symmetric=True)
    f = td.inv(S) + td.matrix_power(S, 3) / 10 + td.tril(td.exp(S))
    rng = rng_of("inverse cube")
    v = dict(S_ic=spd(rng, 3, 0.5))
    Si, Sv = np.linalg.inv(v["S_ic"]), v["S_ic"]
    inverse = -0.5 * (np.einsum("ik,lj->ijkl", Si, Si) + np.einsum("il,kj->ijkl", Si, Si))
    cube = np.zeros((3, 3, 3, 3))
    for k in range(3):
        for m in range(3):
            E = np.zeros((3, 3))
            E[k, m] += 0.5
            E[m, k] += 0.5
            cube[:, :, k, m] = (E @ Sv @ Sv + Sv @ E @ Sv + Sv @ Sv @ E) / 10 + np.tril(np.exp(Sv) * E)
    return Problem(f, {S: 2}, v, lambda u: (jnp.linalg.inv(u["S_ic"]) + u["S_ic"] @ u["S_ic"] @ u["S_ic"] / 10
                                            + jnp.tril(jnp.exp(u["S_ic"]))), {("S_ic", 1): inverse + cube})


# ---------------------------------------------------------------- checking

CAMPAIGN = Campaign(PROBLEMS)
NAMES, build, jax_of = CAMPAIGN.names, CAMPAIGN.build, CAMPAIGN.jax_of


def test_there_are_at_least_thirty_problems():
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_every_order_matches_closed_forms_jax_and_finite_differences(name):
    every_order_matches(build(name), name, *jax_of(name), EXACT, FD, FD_ENTRIES)


def test_a_hessian_of_a_symbol_listed_twice_repeats_its_blocks():
    # td.hessian(f, [x, y, x]): blocks (i, j) of the stacked Hessian, rows and columns of x repeated
    x, y = td.vector("x_rp", "m_rp"), td.vector("y_rp", "m_rp")
    f = td.sum(td.sin(x * y)) + (x @ y) ** 2
    rng = rng_of("repeated symbol")
    xv, yv = rng.standard_normal(4), rng.standard_normal(4)
    blocks = td.compile([h for row in td.hessian(f, [x, y, x]) for h in row])(x_rp=xv, y_rp=yv)
    want = np.asarray(jax.hessian(lambda z: jnp.sum(jnp.sin(z[:4] * z[4:])) + (z[:4] @ z[4:]) ** 2)(
        jnp.concatenate([xv, yv])))
    where = [slice(0, 4), slice(4, 8), slice(0, 4)]
    for i in range(3):
        for j in range(3):
            assert_close(blocks[3 * i + j], want[where[i], where[j]], EXACT, f"block ({i}, {j})")


def gradients_and_hessian_blocks(p):
    """The symbols, and the first derivatives in each then the second in each pair (row-major)."""
    wrt = list(p.tops)
    return wrt, [*(td.diff(p.expr, s) for s in wrt), *(td.diff(td.diff(p.expr, si), sj) for si in wrt for sj in wrt)]


@pytest.mark.parametrize("name", [n for n in NAMES if len(build(n).tops) > 1 and build(n).expr.ndim == 0])
def test_several_symbols_give_jax_s_gradient_and_hessian_blocks(name):
    first_and_second_blocks_match_jax(build(name), name, *jax_of(name), EXACT, through="grad")


@pytest.fixture
def restore_kernels():
    previous = kernels.kernels_available()
    yield
    kernels.use_compiled(previous)


@pytest.mark.skipif(not kernels_built(), reason="the compiled kernels are not built: the twin is all there is")
@pytest.mark.parametrize("name", NAMES)
def test_kernels_and_numpy_twin_agree_on_fresh_programs(name):
    p = build(name)
    kernels_and_twin_agree([p.expr, *gradients_and_hessian_blocks(p)[1]], symbol_values(p), EXACT, name)


# the jax and dask backends run eagerly, one dispatch per step: a spread of the problems keeps them quick
ON_BACKEND = {"numpy": NAMES, "jax": NAMES[::6], "dask": NAMES[1::3]}


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


# ---------------------------------------------------------------- incremental evaluation: bit-identical reuse

def incremental_and_full_calls(exprs, values, changed, factor):
    """The results of an Incremental of ``exprs`` called at ``values`` then with symbol ``changed``
    scaled by ``factor``, and of the program's own call at the second values."""
    program = td.compile(exprs)
    incremental = program.incremental()
    incremental(values)
    moved = {**values, changed: values[changed] * factor}
    return incremental(moved), program(moved)


def assert_bit_identical(got, want, what):
    for g, w in zip(got, want):
        assert np.asarray(g).shape == np.asarray(w).shape, what
        assert np.array_equal(g, w), f"{what}: max abs difference {np.max(np.abs(np.asarray(g) - w)):.3g}"


@pytest.mark.parametrize("compiled", [True, False] if kernels_built() else [False])
def test_incremental_reuse_of_a_transposed_kept_value_is_bit_identical(compiled, restore_kernels):
    # the gradient in B of vec(kron(A, B))ᵀu is a transposed array, kept and reused when B alone
    # changes; the value <B, ∇_B> then read a C-order copy of it, and einsum summed it in another
    # order than the program did (1 ulp off; partial.py copied kept values in C order)
    kernels.use_compiled(compiled)
    A, B = td.matrix("A_it", "i_it j_it"), td.matrix("B_it", "k_it l_it")
    u = td.vector("u_it", "j_it·l_it·i_it·k_it")
    f = td.vec(td.kron(A, B)) @ u
    rng = np.random.default_rng(3)
    values = dict(A_it=rng.standard_normal((2, 2)), B_it=rng.standard_normal((3, 2)), u_it=rng.standard_normal(24))
    for k in range(1, 21):
        got, want = incremental_and_full_calls([f, td.grad(f, B)], values, "B_it", 1 + k / 100)
        assert_bit_identical(got, want, f"B scaled by {1 + k / 100}")


@pytest.mark.parametrize("compiled", [True, False] if kernels_built() else [False])
def test_incremental_reuse_of_a_sum_s_donated_term_is_bit_identical(compiled, restore_kernels):
    # the gradient in A of the Kalman likelihood sums u vᵀ and a kept term W (it depends on A only)
    # into W's dying buffer; the incremental view handed the sum W read-only, so it took its
    # other route, which rounds differently (1 ulp off; partial.py now hands it a copy it owns)
    kernels.use_compiled(compiled)
    p = build("kalman_innovation_likelihood_in_the_transition_matrix")
    exprs = [p.expr, *td.grad(p.expr, list(p.tops))]
    got, want = incremental_and_full_calls(exprs, symbol_values(p), "m_kf", 1.01)
    assert_bit_identical(got, want, "m scaled by 1.01")


@pytest.mark.parametrize("name", NAMES)
def test_incremental_reuse_is_bit_identical_whichever_symbol_changes(name):
    p = build(name)
    values = symbol_values(p)
    exprs = [p.expr, *(td.diff(p.expr, s) for s in p.tops)]
    for s in p.tops:
        got, want = incremental_and_full_calls(exprs, values, s.name, 1.01)
        assert_bit_identical(got, want, f"{name}: {s.name} scaled by 1.01")


def hessian_vector_products(p, values, seed, prefix):
    """``p``'s Hessian-vector products in all its symbols, with a direction symbol per symbol
    (named ``prefix`` + the symbol's name: the name decides the program's input order) and its values (standard normal, from ``seed`` each) added to ``values``."""
    wrt = list(p.tops)
    directions = [td.matrix(prefix + s.name, s.shape, symmetric=True) if s.symmetric else td.tensor(prefix + s.name, s.shape)
                  for s in wrt]
    for s, u in zip(wrt, directions):
        direction = np.random.default_rng(seed).standard_normal(values[s.name].shape)
        values[u.name] = sym(direction) if s.symmetric else direction
    products = td.hvp(p.expr, wrt, directions) if len(wrt) > 1 else (td.hvp(p.expr, wrt[0], directions[0]),)
    return list(products)


def parts_follow_the_program(p, seed, calls, directions_seed=1, prefix="U6_"):
    """An Incremental of ``p``'s value, gradients and Hessian-vector products and three of its parts,
    called ``calls`` times as an optimiser might (each call changes one symbol or direction, or
    none, and asks one part or the whole), each result against the program's own call, bit for bit."""
    values = symbol_values(p)
    exprs = [p.expr, *(td.diff(p.expr, s) for s in p.tops), *hessian_vector_products(p, values, directions_seed, prefix)]
    program = td.compile(exprs)
    incremental = program.incremental()
    every = list(range(len(exprs)))
    asked = [[0], list(range(1, 1 + len(p.tops))), every]
    parts = [incremental.part(indices) for indices in asked] + [incremental]
    asked.append(every)
    rng = np.random.default_rng(seed)
    names = [s.name for s in p.tops] + [prefix + s.name for s in p.tops]
    for call in range(calls):
        name = names[rng.integers(len(names))]
        if rng.random() < 0.7:
            values = {**values, name: values[name] * (1 + 0.003 * rng.standard_normal())}
        which = int(rng.integers(4))
        want = program(values)
        got = parts[which](values)
        got = got if isinstance(got, tuple) else (got,)
        assert_bit_identical(got, [want[k] for k in asked[which]], f"call {call} of part {which}")


def test_incremental_parts_of_batch_normalisation_follow_the_program():
    # the Hessian-vector product in X sums into the buffer of a dying term that, in the program, is
    # a view (so the sum, an output, allocates); a kept copy of it owned its data, so the sum wrote
    # in place and rounded otherwise (1 ulp; partial.py's copies now keep not owning their data)
    parts_follow_the_program(build("column_batch_normalisation_then_a_gain"), 2, 7)


@pytest.mark.xfail(strict=False, reason="1 ulp off the program in the Hessian-vector product in x at the "
                   "second call (U_x changed, every output asked) on some machines and not on others, at one "
                   "commit; cause not found: not the layout, ownership or writeability of a kept value handed "
                   "to a step that writes into it")
def test_incremental_parts_of_stacked_features_follow_the_program():
    name = "stacked_features_through_a_log_softmax_and_their_gram_determinant"
    parts_follow_the_program(build(name), sum(map(ord, name)), 2, directions_seed=2, prefix="U_")


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).expr.ndim == 0])
def test_incremental_parts_follow_the_program_through_an_optimiser_s_calls(name):
    parts_follow_the_program(build(name), sum(map(ord, name)), 12)
