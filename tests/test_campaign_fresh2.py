"""A second round of independent problems, none in the other campaign files: attention in its queries
with an additive position bias, label-smoothed weighted cross-entropy, a Gaussian mixture in its
means and width, an ARD Gaussian process through its Cholesky factor in the length-scales and the
points, a GP noise level to order 4, cosine similarity, the InfoNCE loss in its temperature, a
Tucker (order-4 core) and a CP fit, a commutator, Fisher's discriminant ratio, a log det channel
capacity, a Neumann-series inverse and a determinant along a pencil to orders 3-4, a trilinear
form in three vectors, Mahalanobis distances in a symmetric matrix, probit and negative binomial
likelihoods (erf, lgamma), swish, softmax entropy, max over a relu layer away from its ties,
log-cosh, a smoothed elastic net, kron/vec identities (tr(A⊗B·C⊗D) = tr(AC)tr(BD),
vec(X)ᵀ(B⊗A)vec(X) = tr(XᵀAXBᵀ)), a layer whose weights are a reshaped flat vector, concatenated
polynomial features, a Schur complement, the entropic transport plan (its gradient is the plan),
the Tikhonov value in α and X to order 3, log det of a Kronecker sum, a covariance through its
log-Cholesky parametrisation (tril, diag, exp), a stacked polynomial basis and a Gram determinant.

Every problem is checked against its closed form (worked out in the comment, written in numpy),
against central finite differences of the order below, and against nested ``jax.jacfwd`` of a twin
written in jax.numpy (all differentiated symbols packed into one flat vector, so one jitted call
gives every order and every mixed block of ``td.hessian(f, [x, y])``). Some are also checked along a
direction to order 4, and every gradient is compiled on the numpy, jax and dask backends.
"""

import math
import warnings

import numpy as np
import pytest

import tensordiff as td

from helpers import (Campaign, Problem, assert_close, backend_agrees, every_order_matches,
                     first_and_second_blocks_match_jax, jacfwd_of_each_order, printed_forms_read_back, registry,
                     softmax_rows, spd, sym, symbol_values, symbols_of)

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jss = pytest.importorskip("jax.scipy.special")
pytest.importorskip("scipy")     # lgamma and digamma evaluate through scipy

EXACT = 1e-9    # closed forms and jax: exact up to rounding, relative to the largest entry (or 1)
FD = 2e-6       # central differences of the order below
FD_ENTRIES = 9  # orders above 2 are differenced only in symbols this small (two evaluations per entry)


PROBLEMS = {}
problem = registry(PROBLEMS)


def rng_of(name):
    return np.random.default_rng(sum(map(ord, name)) + 4099)


def sq_distances(Z, np_=np):
    return np_.sum((Z[:, None, :] - Z[None, :, :]) ** 2, axis=-1)


# ---------------------------------------------------------------- attention, classification, mixtures

@problem
def attention_in_queries_with_a_position_bias():
    # S = QKᵀ/√d + C, P = softmax rows, f = Σ Wt∘(PV): with G = Wt Vᵀ, ∂f/∂S = P∘(G - rowsum(P∘G)),
    # ∂f/∂Q = (∂f/∂S) K/√d and ∂f/∂C = ∂f/∂S
    Q, K, V = td.matrix("Q_att", "n_att d_att"), td.matrix("K_att", "m_att d_att"), td.matrix("V_att", "m_att e_att")
    C, Wt = td.matrix("C_att", "n_att m_att"), td.matrix("Wt_att", "n_att e_att")
    f = td.sum(Wt * (td.softmax(Q @ K.T * (1 / math.sqrt(2)) + C, axis=1) @ V))
    rng = rng_of("attention")
    v = dict(Q_att=rng.standard_normal((3, 2)), K_att=rng.standard_normal((4, 2)), V_att=rng.standard_normal((4, 2)),
             C_att=rng.standard_normal((3, 4)), Wt_att=rng.standard_normal((3, 2)))
    P = softmax_rows(v["Q_att"] @ v["K_att"].T / math.sqrt(2) + v["C_att"])
    G = v["Wt_att"] @ v["V_att"].T
    dS = P * (G - np.sum(P * G, axis=1, keepdims=True))
    return Problem(f, {Q: 3, C: 2}, v, lambda u: jnp.sum(u["Wt_att"] * (jax.nn.softmax(
        u["Q_att"] @ u["K_att"].T / jnp.sqrt(2.0) + u["C_att"], axis=1) @ u["V_att"])),
        {("Q_att", 1): dS @ v["K_att"] / math.sqrt(2), ("C_att", 1): dS})


@problem
def label_smoothed_weighted_cross_entropy():
    # Z = XW + b, f = Σ_i w_i (lse(z_i) - t_iᵀz_i) with soft targets: ∂/∂W = Xᵀ(w∘(softmax(Z) - T)),
    # ∂/∂b its column sums
    X, W, b = td.matrix("X_ls", "n_ls f_ls"), td.matrix("W_ls", "f_ls k_ls"), td.vector("b_ls", "k_ls")
    T, w = td.matrix("T_ls", "n_ls k_ls"), td.vector("w_ls", "n_ls")
    Z = X @ W + b
    f = td.sum(w * (td.logsumexp(Z, axis=1) - td.sum(T * Z, axis=1)))
    rng = rng_of("label smoothing")
    T_val = 0.1 / 3 + 0.9 * np.eye(3)[rng.integers(0, 3, 5)]
    v = dict(X_ls=rng.standard_normal((5, 3)), W_ls=rng.standard_normal((3, 3)), b_ls=rng.standard_normal(3),
             T_ls=T_val, w_ls=rng.uniform(0.5, 2.0, 5))
    R = v["w_ls"][:, None] * (softmax_rows(v["X_ls"] @ v["W_ls"] + v["b_ls"]) - T_val)

    def twin(u):
        Zj = u["X_ls"] @ u["W_ls"] + u["b_ls"]
        return jnp.sum(u["w_ls"] * (jss.logsumexp(Zj, axis=1) - jnp.sum(u["T_ls"] * Zj, axis=1)))
    return Problem(f, {W: 3, b: 3}, v, twin, {("W_ls", 1): v["X_ls"].T @ R, ("b_ls", 1): R.sum(axis=0)})


@problem
def gaussian_mixture_in_means_and_width():
    # L_ik = log π_k - (x_i - μ_k)²/(2s²), f = Σ_i lse_k L_ik - n log s: with R = softmax rows of L,
    # ∂/∂μ_k = Σ_i R_ik (x_i - μ_k)/s², ∂/∂s = Σ R∘D²/s³ - n/s
    x, mu, s, lp = td.vector("x_gm", "n_gm"), td.vector("mu_gm", "k_gm"), td.scalar("s_gm"), td.vector("lp_gm", "k_gm")
    D = td.outer(x, td.ones("k_gm")) - td.outer(td.ones("n_gm"), mu)
    f = td.sum(td.logsumexp(lp - D ** 2 / (2 * s ** 2), axis=1)) - 6 * td.log(s)
    rng = rng_of("mixture")
    v = dict(x_gm=rng.standard_normal(6) * 2, mu_gm=np.array([-1.5, 0.2, 1.7]), s_gm=0.9,
             lp_gm=np.log([0.3, 0.5, 0.2]))
    Dv = v["x_gm"][:, None] - v["mu_gm"][None, :]
    R = softmax_rows(v["lp_gm"] - Dv ** 2 / (2 * 0.81))

    def twin(u):
        Dj = u["x_gm"][:, None] - u["mu_gm"][None, :]
        return jnp.sum(jss.logsumexp(u["lp_gm"] - Dj ** 2 / (2 * u["s_gm"] ** 2), axis=1)) - 6 * jnp.log(u["s_gm"])
    return Problem(f, {mu: 3, s: 3}, v, twin, {("mu_gm", 1): np.sum(R * Dv, axis=0) / 0.81,
                                               ("s_gm", 1): np.sum(R * Dv ** 2) / 0.9 ** 3 - 6 / 0.9})


# ---------------------------------------------------------------- Gaussian processes

@problem
def ard_gp_through_cholesky_in_lengthscales_and_points():
    # K = exp(-½D(X/ℓ)) + 0.2I, f = -½‖L⁻¹y‖² - Σ log diag L (L = chol K) = -½yᵀK⁻¹y - ½ log det K:
    # with α = K⁻¹y and W = ½(ααᵀ - K⁻¹), ∂f/∂ℓ_j = Σ W∘K₀∘Δ_j²/ℓ_j³ (Δ_j the differences of column j)
    X, ell, y = td.matrix("X_ard", "n_ard d_ard"), td.vector("ell_ard", "d_ard"), td.vector("y_ard", "n_ard")
    Z = X / ell
    G = Z @ Z.T
    sq = td.diagonal(G)
    D = td.outer(sq, td.ones("n_ard")) + td.outer(td.ones("n_ard"), sq) - 2 * G
    L = td.cholesky(td.exp(-0.5 * D) + 0.2 * td.eye("n_ard"))
    a = td.solve(L, y)
    f = -0.5 * a @ a - td.sum(td.log(td.diagonal(L)))
    rng = rng_of("ard")
    v = dict(X_ard=rng.standard_normal((4, 2)), ell_ard=np.array([0.8, 1.4]), y_ard=rng.standard_normal(4))
    K0 = np.exp(-0.5 * sq_distances(v["X_ard"] / v["ell_ard"]))
    Ki = np.linalg.inv(K0 + 0.2 * np.eye(4))
    al = Ki @ v["y_ard"]
    Wm = 0.5 * (np.outer(al, al) - Ki)
    grad_ell = [np.sum(Wm * K0 * (v["X_ard"][:, None, j] - v["X_ard"][None, :, j]) ** 2) / v["ell_ard"][j] ** 3
                for j in range(2)]

    def twin(u):
        Kj = jnp.exp(-0.5 * sq_distances(u["X_ard"] / u["ell_ard"], jnp)) + 0.2 * jnp.eye(4)
        Lj = jnp.linalg.cholesky(Kj)
        aj = jax.scipy.linalg.solve_triangular(Lj, u["y_ard"], lower=True)
        return -0.5 * aj @ aj - jnp.sum(jnp.log(jnp.diagonal(Lj)))
    return Problem(f, {ell: 2, X: 2}, v, twin, {("ell_ard", 1): np.array(grad_ell)})


@problem
def gp_noise_level_to_order_four():
    # f(s) = F(s²), F(t) = Σ_j -½c_j²/(λ_j + t) - ½ log(λ_j + t) over the eigenpairs of C (c = Uᵀy):
    # f' = 2sF', f'' = 2F' + 4s²F'', f''' = 12sF'' + 8s³F''', f'''' = 12F'' + 48s²F''' + 16s⁴F''''
    C, y, s = td.matrix("C_gpn", "n_gpn n_gpn", symmetric=True), td.vector("y_gpn", "n_gpn"), td.scalar("s_gpn")
    K = C + s ** 2 * td.eye("n_gpn")
    f = -0.5 * y @ td.solve(K, y) - 0.5 * td.logdet(K)
    rng = rng_of("noise level")
    v = dict(C_gpn=spd(rng, 4, 0.3), y_gpn=rng.standard_normal(4), s_gpn=0.7)
    lam, U = np.linalg.eigh(v["C_gpn"])
    c2, t, sv = (U.T @ v["y_gpn"]) ** 2, 0.49, 0.7

    def F(k):
        return np.sum(-0.5 * c2 * (-1) ** k * math.factorial(k) / (lam + t) ** (k + 1)
                      - 0.5 * (-1) ** (k - 1) * math.factorial(k - 1) / (lam + t) ** k)
    closed = {("s_gpn", 1): 2 * sv * F(1), ("s_gpn", 2): 2 * F(1) + 4 * sv ** 2 * F(2),
              ("s_gpn", 3): 12 * sv * F(2) + 8 * sv ** 3 * F(3),
              ("s_gpn", 4): 12 * F(2) + 48 * sv ** 2 * F(3) + 16 * sv ** 4 * F(4)}

    def twin(u):
        Kj = u["C_gpn"] + u["s_gpn"] ** 2 * jnp.eye(4)
        return -0.5 * u["y_gpn"] @ jnp.linalg.solve(Kj, u["y_gpn"]) - 0.5 * jnp.linalg.slogdet(Kj)[1]
    return Problem(f, {s: 4}, v, twin, closed)


# ---------------------------------------------------------------- similarities and contrastive losses

@problem
def cosine_similarity_in_both_vectors():
    # c = aᵀb/(‖a‖‖b‖): ∂c/∂a = b/(‖a‖‖b‖) - c a/‖a‖²
    a, b = td.vector("a_cos", "m_cos"), td.vector("b_cos", "m_cos")
    f = a @ b / (td.norm(a) * td.norm(b))
    rng = rng_of("cosine")
    v = dict(a_cos=rng.standard_normal(3), b_cos=rng.standard_normal(3))
    na, nb = np.linalg.norm(v["a_cos"]), np.linalg.norm(v["b_cos"])
    cv = v["a_cos"] @ v["b_cos"] / (na * nb)
    return Problem(f, {a: 3, b: 3}, v,
                   lambda u: u["a_cos"] @ u["b_cos"] / (jnp.linalg.norm(u["a_cos"]) * jnp.linalg.norm(u["b_cos"])),
                   {("a_cos", 1): v["b_cos"] / (na * nb) - cv * v["a_cos"] / na ** 2,
                    ("b_cos", 1): v["a_cos"] / (na * nb) - cv * v["b_cos"] / nb ** 2})


@problem
def infonce_in_embeddings_and_temperature():
    # S = Z₁Z₂ᵀ/τ, f = (1/n)Σ_i (lse(s_i) - s_ii): ∂/∂Z₁ = (P - I)Z₂/(nτ), ∂/∂τ = -Σ(P - I)∘S/(nτ)
    Z1, Z2, tau = td.matrix("Z1_nce", "n_nce d_nce"), td.matrix("Z2_nce", "n_nce d_nce"), td.scalar("tau_nce")
    S = Z1 @ Z2.T / tau
    f = td.sum(td.logsumexp(S, axis=1) - td.diagonal(S)) / 3
    rng = rng_of("infonce")
    v = dict(Z1_nce=rng.standard_normal((3, 2)), Z2_nce=rng.standard_normal((3, 2)), tau_nce=0.6)
    Sv = v["Z1_nce"] @ v["Z2_nce"].T / 0.6
    Pm = softmax_rows(Sv) - np.eye(3)

    def twin(u):
        Sj = u["Z1_nce"] @ u["Z2_nce"].T / u["tau_nce"]
        return jnp.sum(jss.logsumexp(Sj, axis=1) - jnp.diagonal(Sj)) / 3
    return Problem(f, {Z1: 2, tau: 3}, v, twin, {("Z1_nce", 1): Pm @ v["Z2_nce"] / 1.8,
                                                 ("tau_nce", 1): -np.sum(Pm * Sv) / 1.8})


# ---------------------------------------------------------------- tensor decompositions (orders 3 and 4)

@problem
def tucker_fit_in_its_order_four_core_and_a_factor():
    # T = G ×₁A ×₂B ×₃C ×₄E, f = ½‖T - Y‖²: ∂/∂G = R ×₁Aᵀ ×₂Bᵀ ×₃Cᵀ ×₄Eᵀ (R = T - Y),
    # ∂/∂A = R contracted with G, B, C, E over all but the first slot
    G = td.tensor("G_tk", "a_tk b_tk c_tk e_tk")
    A, B = td.matrix("A_tk", "i_tk a_tk"), td.matrix("B_tk", "j_tk b_tk")
    C, E, Y = td.matrix("C_tk", "k_tk c_tk"), td.matrix("E_tk", "l_tk e_tk"), td.tensor("Y_tk", "i_tk j_tk k_tk l_tk")
    spec = "abce,ia,jb,kc,le->ijkl"
    f = 0.5 * td.sum((td.einsum(spec, G, A, B, C, E) - Y) ** 2)
    rng = rng_of("tucker")
    v = dict(G_tk=rng.standard_normal((2, 2, 2, 2)), A_tk=rng.standard_normal((3, 2)), B_tk=rng.standard_normal((2, 2)),
             C_tk=rng.standard_normal((2, 2)), E_tk=rng.standard_normal((3, 2)), Y_tk=rng.standard_normal((3, 2, 2, 3)))
    R = np.einsum(spec, v["G_tk"], v["A_tk"], v["B_tk"], v["C_tk"], v["E_tk"]) - v["Y_tk"]
    closed = {("G_tk", 1): np.einsum("ijkl,ia,jb,kc,le->abce", R, v["A_tk"], v["B_tk"], v["C_tk"], v["E_tk"]),
              ("A_tk", 1): np.einsum("ijkl,abce,jb,kc,le->ia", R, v["G_tk"], v["B_tk"], v["C_tk"], v["E_tk"])}
    return Problem(f, {G: 2, A: 3}, v, lambda u: 0.5 * jnp.sum((jnp.einsum(
        spec, u["G_tk"], u["A_tk"], u["B_tk"], u["C_tk"], u["E_tk"]) - u["Y_tk"]) ** 2), closed)


@problem
def cp_fit_in_two_factors_to_order_three():
    # f = ½‖Σ_r a_r∘b_r∘c_r - Y‖²: ∂/∂A = R ×₂B ×₃C (Khatri-Rao), quadratic in each factor but not jointly
    A, B, C = td.matrix("A_cp", "i_cp r_cp"), td.matrix("B_cp", "j_cp r_cp"), td.matrix("C_cp", "k_cp r_cp")
    Y = td.tensor("Y_cp", "i_cp j_cp k_cp")
    f = 0.5 * td.sum((td.einsum("ir,jr,kr->ijk", A, B, C) - Y) ** 2)
    rng = rng_of("cp")
    v = dict(A_cp=rng.standard_normal((2, 2)), B_cp=rng.standard_normal((3, 2)), C_cp=rng.standard_normal((2, 2)),
             Y_cp=rng.standard_normal((2, 3, 2)))
    R = np.einsum("ir,jr,kr->ijk", v["A_cp"], v["B_cp"], v["C_cp"]) - v["Y_cp"]
    return Problem(f, {A: 3, B: 3}, v, lambda u: 0.5 * jnp.sum((jnp.einsum(
        "ir,jr,kr->ijk", u["A_cp"], u["B_cp"], u["C_cp"]) - u["Y_cp"]) ** 2),
        {("A_cp", 1): np.einsum("ijk,jr,kr->ir", R, v["B_cp"], v["C_cp"]),
         ("B_cp", 1): np.einsum("ijk,ir,kr->jr", R, v["A_cp"], v["C_cp"])})


@problem
def trilinear_form_of_an_order_three_tensor_in_three_vectors():
    # f = tanh(Σ T_ijk x_i y_j z_k): ∂/∂x = (1 - f²) T(·, y, z)
    T, x = td.tensor("T_tri", "i_tri j_tri k_tri"), td.vector("x_tri", "i_tri")
    y, z = td.vector("y_tri", "j_tri"), td.vector("z_tri", "k_tri")
    f = td.tanh(td.einsum("ijk,i,j,k->", T, x, y, z))
    rng = rng_of("trilinear")
    v = dict(T_tri=rng.standard_normal((2, 3, 2)), x_tri=rng.standard_normal(2) * 0.5,
             y_tri=rng.standard_normal(3) * 0.5, z_tri=rng.standard_normal(2) * 0.5)
    t = np.einsum("ijk,i,j,k->", v["T_tri"], v["x_tri"], v["y_tri"], v["z_tri"])
    return Problem(f, {x: 3, y: 3, z: 3}, v,
                   lambda u: jnp.tanh(jnp.einsum("ijk,i,j,k->", u["T_tri"], u["x_tri"], u["y_tri"], u["z_tri"])),
                   {("x_tri", 1): (1 - np.tanh(t) ** 2) * np.einsum("ijk,j,k->i", v["T_tri"], v["y_tri"], v["z_tri"]),
                    ("z_tri", 1): (1 - np.tanh(t) ** 2) * np.einsum("ijk,i,j->k", v["T_tri"], v["x_tri"], v["y_tri"])})


# ---------------------------------------------------------------- matrix functions

@problem
def commutator_norm():
    # f = ‖AB - BA‖²: ∂/∂A = 2(MBᵀ - BᵀM) with M = AB - BA; quadratic, so the third derivative is 0
    A, B = td.matrix("A_com", "n_com n_com"), td.matrix("B_com", "n_com n_com")
    f = td.sum((A @ B - B @ A) ** 2)
    rng = rng_of("commutator")
    v = dict(A_com=rng.standard_normal((3, 3)), B_com=rng.standard_normal((3, 3)))
    M = v["A_com"] @ v["B_com"] - v["B_com"] @ v["A_com"]
    return Problem(f, {A: 3}, v, lambda u: jnp.sum((u["A_com"] @ u["B_com"] - u["B_com"] @ u["A_com"]) ** 2),
                   {("A_com", 1): 2 * (M @ v["B_com"].T - v["B_com"].T @ M), ("A_com", 3): np.zeros((3,) * 6)})


@problem
def fisher_discriminant_ratio():
    # r = wᵀS_b w / wᵀS_w w: ∂/∂w = 2(S_b w - r S_w w)/(wᵀS_w w), ∂/∂S_w (symmetric) = -r wwᵀ/(wᵀS_w w)
    w = td.vector("w_lda", "p_lda")
    Sb, Sw = td.matrix("Sb_lda", "p_lda p_lda", symmetric=True), td.matrix("Sw_lda", "p_lda p_lda", symmetric=True)
    f = (w @ Sb @ w) / (w @ Sw @ w)
    rng = rng_of("lda")
    v = dict(w_lda=rng.standard_normal(3), Sb_lda=spd(rng, 3, 0.1), Sw_lda=spd(rng, 3, 1.0))
    den = v["w_lda"] @ v["Sw_lda"] @ v["w_lda"]
    r = v["w_lda"] @ v["Sb_lda"] @ v["w_lda"] / den
    return Problem(f, {w: 3, Sw: 2}, v,
                   lambda u: (u["w_lda"] @ u["Sb_lda"] @ u["w_lda"]) / (u["w_lda"] @ u["Sw_lda"] @ u["w_lda"]),
                   {("w_lda", 1): 2 * (v["Sb_lda"] @ v["w_lda"] - r * v["Sw_lda"] @ v["w_lda"]) / den,
                    ("Sw_lda", 1): -r * np.outer(v["w_lda"], v["w_lda"]) / den})


@problem
def log_det_channel_capacity():
    # f = log det(I + XXᵀ/s²), M = I + XXᵀ/s²: ∂/∂X = 2M⁻¹X/s², ∂/∂s = -2 tr(M⁻¹XXᵀ)/s³
    X, s = td.matrix("X_cap", "n_cap t_cap"), td.scalar("s_cap")
    f = td.logdet(td.eye("n_cap") + X @ X.T / s ** 2)
    rng = rng_of("capacity")
    v = dict(X_cap=rng.standard_normal((3, 2)), s_cap=1.3)
    XX = v["X_cap"] @ v["X_cap"].T
    Mi = np.linalg.inv(np.eye(3) + XX / 1.69)
    return Problem(f, {X: 2, s: 3}, v,
                   lambda u: jnp.linalg.slogdet(jnp.eye(3) + u["X_cap"] @ u["X_cap"].T / u["s_cap"] ** 2)[1],
                   {("X_cap", 1): 2 * Mi @ v["X_cap"] / 1.69, ("s_cap", 1): -2 * np.trace(Mi @ XX) / 1.3 ** 3})


@problem
def neumann_inverse_in_its_scale_to_order_four():
    # f(t) = tr(C(I - tA)⁻¹): f⁽ᵏ⁾ = k! tr(C Aᵏ (I - tA)^-(k+1)) (A and (I - tA)⁻¹ commute)
    A, C, t = td.matrix("A_neu", "n_neu n_neu"), td.matrix("C_neu", "n_neu n_neu"), td.scalar("t_neu")
    f = td.trace(C @ td.inv(td.eye("n_neu") - t * A))
    rng = rng_of("neumann")
    v = dict(A_neu=rng.standard_normal((3, 3)) / 3, C_neu=rng.standard_normal((3, 3)), t_neu=0.4)
    Mi = np.linalg.inv(np.eye(3) - 0.4 * v["A_neu"])
    closed = {("t_neu", k): math.factorial(k) * np.trace(v["C_neu"] @ np.linalg.matrix_power(v["A_neu"], k)
                                                          @ np.linalg.matrix_power(Mi, k + 1)) for k in range(1, 5)}
    closed[("A_neu", 1)] = 0.4 * (Mi @ v["C_neu"] @ Mi).T
    return Problem(f, {t: 4, A: 2}, v,
                   lambda u: jnp.trace(u["C_neu"] @ jnp.linalg.inv(jnp.eye(3) - u["t_neu"] * u["A_neu"])), closed)


@problem
def determinant_along_a_pencil_to_order_three():
    # f(t) = det(A + tB), M = (A + tB)⁻¹B: f' = f tr M, f'' = f((tr M)² - tr M²),
    # f''' = f((tr M)³ - 3 tr M tr M² + 2 tr M³); ∂f/∂B = t f (A + tB)⁻ᵀ
    A, B, t = td.matrix("A_pen", "n_pen n_pen"), td.matrix("B_pen", "n_pen n_pen"), td.scalar("t_pen")
    f = td.det(A + t * B)
    rng = rng_of("pencil")
    v = dict(A_pen=2 * np.eye(3) + 0.3 * rng.standard_normal((3, 3)), B_pen=rng.standard_normal((3, 3)), t_pen=0.3)
    P = v["A_pen"] + 0.3 * v["B_pen"]
    fv, M = np.linalg.det(P), np.linalg.solve(P, v["B_pen"])
    t1, t2, t3 = np.trace(M), np.trace(M @ M), np.trace(M @ M @ M)
    closed = {("t_pen", 1): fv * t1, ("t_pen", 2): fv * (t1 ** 2 - t2), ("t_pen", 3): fv * (t1 ** 3 - 3 * t1 * t2 + 2 * t3),
              ("B_pen", 1): 0.3 * fv * np.linalg.inv(P).T}
    return Problem(f, {t: 3, B: 2}, v, lambda u: jnp.linalg.det(u["A_pen"] + u["t_pen"] * u["B_pen"]), closed)


@problem
def mahalanobis_rows_in_mean_and_symmetric_metric():
    # f = Σ_i (x_i - μ)ᵀS⁻¹(x_i - μ) + n log det S, D = X - μ: ∂/∂μ = -2S⁻¹Σ_i d_i,
    # ∂/∂S = -S⁻¹DᵀDS⁻¹ + nS⁻¹ (already symmetric)
    X, mu = td.matrix("X_mah", "n_mah p_mah"), td.vector("mu_mah", "p_mah")
    S = td.matrix("S_mah", "p_mah p_mah", symmetric=True)
    D = X - mu
    f = td.sum((D @ td.inv(S)) * D) + 4 * td.logdet(S)
    rng = rng_of("mahalanobis")
    v = dict(X_mah=rng.standard_normal((4, 3)), mu_mah=rng.standard_normal(3) * 0.3, S_mah=spd(rng, 3))
    Dv, Si = v["X_mah"] - v["mu_mah"], np.linalg.inv(v["S_mah"])
    return Problem(f, {mu: 2, S: 2}, v, lambda u: jnp.sum(((u["X_mah"] - u["mu_mah"]) @ jnp.linalg.inv(u["S_mah"]))
                                                        * (u["X_mah"] - u["mu_mah"])) + 4 * jnp.linalg.slogdet(u["S_mah"])[1],
                   {("mu_mah", 1): -2 * Si @ Dv.sum(axis=0), ("S_mah", 1): -Si @ Dv.T @ Dv @ Si + 4 * Si})


@problem
def schur_complement_log_det():
    # M = A - BD⁻¹Bᵀ, f = log det M: ∂/∂B = -2M⁻¹BD⁻¹, ∂/∂D (symmetric) = D⁻¹BᵀM⁻¹BD⁻¹
    A = td.matrix("A_sch", "n_sch n_sch", symmetric=True)
    B, Dm = td.matrix("B_sch", "n_sch m_sch"), td.matrix("D_sch", "m_sch m_sch", symmetric=True)
    f = td.logdet(A - B @ td.inv(Dm) @ B.T)
    rng = rng_of("schur")
    v = dict(A_sch=spd(rng, 3, 3.0), B_sch=0.5 * rng.standard_normal((3, 2)), D_sch=spd(rng, 2, 1.0))
    Di = np.linalg.inv(v["D_sch"])
    Mi = np.linalg.inv(v["A_sch"] - v["B_sch"] @ Di @ v["B_sch"].T)
    return Problem(f, {B: 2, Dm: 2}, v, lambda u: jnp.linalg.slogdet(
        u["A_sch"] - u["B_sch"] @ jnp.linalg.inv(u["D_sch"]) @ u["B_sch"].T)[1],
        {("B_sch", 1): -2 * Mi @ v["B_sch"] @ Di, ("D_sch", 1): Di @ v["B_sch"].T @ Mi @ v["B_sch"] @ Di})


@problem
def log_det_of_a_kronecker_sum():
    # log det(A⊗I + I⊗B) = Σ_ij log(λ_i + μ_j) for symmetric A, B: ∂/∂A = Σ_j (A + μ_j I)⁻¹
    A, B = td.matrix("A_ks", "n_ks n_ks", symmetric=True), td.matrix("B_ks", "m_ks m_ks", symmetric=True)
    f = td.logdet(td.kron(A, td.eye("m_ks")) + td.kron(td.eye("n_ks"), B))
    rng = rng_of("kronecker sum")
    v = dict(A_ks=spd(rng, 3), B_ks=spd(rng, 2))
    mus = np.linalg.eigvalsh(v["B_ks"])
    lams = np.linalg.eigvalsh(v["A_ks"])
    return Problem(f, {A: 2, B: 2}, v, lambda u: jnp.linalg.slogdet(
        jnp.kron(u["A_ks"], jnp.eye(2)) + jnp.kron(jnp.eye(3), u["B_ks"]))[1],
        {("A_ks", 1): sum(np.linalg.inv(v["A_ks"] + m * np.eye(3)) for m in mus),
         ("B_ks", 1): sum(np.linalg.inv(v["B_ks"] + m * np.eye(2)) for m in lams)})


# ---------------------------------------------------------------- likelihoods with special functions

@problem
def probit_regression_with_erf():
    # Φ(z) = (1 + erf(z/√2))/2, f = Σ y log Φ(Xw) + (1 - y) log(1 - Φ(Xw)): ∂/∂w = Xᵀ((y - Φ)φ/(Φ(1 - Φ)))
    X, w, y = td.matrix("X_pro", "n_pro p_pro"), td.vector("w_pro", "p_pro"), td.vector("y_pro", "n_pro")
    Phi = 0.5 * (1 + td.erf(X @ w / math.sqrt(2)))
    f = td.sum(y * td.log(Phi) + (1 - y) * td.log(1 - Phi))
    rng = rng_of("probit")
    v = dict(X_pro=rng.standard_normal((5, 3)), w_pro=rng.standard_normal(3) * 0.5,
             y_pro=rng.integers(0, 2, 5).astype(float))
    z = v["X_pro"] @ v["w_pro"]
    Pv = 0.5 * (1 + np.array([math.erf(q / math.sqrt(2)) for q in z]))
    phi = np.exp(-z ** 2 / 2) / math.sqrt(2 * math.pi)

    def twin(u):
        P = 0.5 * (1 + jss.erf(u["X_pro"] @ u["w_pro"] / jnp.sqrt(2.0)))
        return jnp.sum(u["y_pro"] * jnp.log(P) + (1 - u["y_pro"]) * jnp.log(1 - P))
    return Problem(f, {w: 3}, v, twin, {("w_pro", 1): v["X_pro"].T @ ((v["y_pro"] - Pv) * phi / (Pv * (1 - Pv)))})


@problem
def negative_binomial_in_dispersion_and_means():
    # f = Σ lgamma(y + r) - lgamma(r) + r log(r/(r + μ)) + y log(μ/(r + μ)):
    # ∂/∂r = Σ ψ(y + r) - ψ(r) + log(r/(r + μ)) + 1 - (r + y)/(r + μ), ∂/∂μ = y/μ - (r + y)/(r + μ)
    y, mu, r = td.vector("y_nb", "n_nb"), td.vector("mu_nb", "n_nb"), td.scalar("r_nb")
    f = td.sum(td.lgamma(y + r) - td.lgamma(r) + r * td.log(r / (r + mu)) + y * td.log(mu / (r + mu)))
    from scipy.special import digamma
    v = dict(y_nb=np.array([0.0, 3.0, 7.0, 1.0]), mu_nb=np.array([0.8, 2.5, 5.0, 1.7]), r_nb=1.6)
    yv, mv, rv = v["y_nb"], v["mu_nb"], 1.6
    return Problem(f, {r: 3, mu: 2}, v, lambda u: jnp.sum(
        jss.gammaln(u["y_nb"] + u["r_nb"]) - jss.gammaln(u["r_nb"]) + u["r_nb"] * jnp.log(u["r_nb"] / (u["r_nb"] + u["mu_nb"]))
        + u["y_nb"] * jnp.log(u["mu_nb"] / (u["r_nb"] + u["mu_nb"]))),
        {("r_nb", 1): np.sum(digamma(yv + rv) - digamma(rv) + np.log(rv / (rv + mv)) + 1 - (rv + yv) / (rv + mv)),
         ("mu_nb", 1): yv / mv - (rv + yv) / (rv + mv)})


# ---------------------------------------------------------------- elementwise networks and losses

@problem
def swish_network_in_weights_and_readout():
    # Z = XW, f = Σ_i (Z∘σ(Z))_i·v: ∂/∂W = Xᵀ((σ + Zσ(1 - σ))∘vᵀ), ∂/∂v = column sums of Z∘σ(Z)
    X, W, vv = td.matrix("X_sw", "n_sw f_sw"), td.matrix("W_sw", "f_sw h_sw"), td.vector("v_sw", "h_sw")
    Z = X @ W
    f = td.sum((Z * td.sigmoid(Z)) @ vv)
    rng = rng_of("swish")
    v = dict(X_sw=rng.standard_normal((4, 3)), W_sw=rng.standard_normal((3, 2)), v_sw=rng.standard_normal(2))
    Zv = v["X_sw"] @ v["W_sw"]
    sg = 1 / (1 + np.exp(-Zv))
    return Problem(f, {W: 2, vv: 2}, v, lambda u: jnp.sum(jax.nn.swish(u["X_sw"] @ u["W_sw"]) @ u["v_sw"]),
                   {("W_sw", 1): v["X_sw"].T @ ((sg + Zv * sg * (1 - sg)) * v["v_sw"]), ("v_sw", 1): (Zv * sg).sum(axis=0)})


@problem
def entropy_of_softmax_rows():
    # H = -Σ P∘log P over rows: ∂H/∂z_ij = -p_ij(log p_ij + H_i)
    Z = td.matrix("Z_ent", "n_ent k_ent")
    f = -td.sum(td.softmax(Z, axis=1) * td.log_softmax(Z, axis=1))
    rng = rng_of("entropy")
    v = dict(Z_ent=rng.standard_normal((2, 3)))
    P = softmax_rows(v["Z_ent"])
    H = -np.sum(P * np.log(P), axis=1, keepdims=True)
    return Problem(f, {Z: 3}, v, lambda u: -jnp.sum(jax.nn.softmax(u["Z_ent"], axis=1) * jax.nn.log_softmax(u["Z_ent"], axis=1)),
                   {("Z_ent", 1): -P * (np.log(P) + H)})


@problem
def max_over_a_relu_layer_away_from_ties():
    # f = Σ_i max_j relu(XW)_ij + ½‖W‖² with every row's maximum positive and unique, no entry at 0:
    # ∂/∂W = Xᵀ onehot(argmax) + W, ∂²/∂W² = I
    X, W = td.matrix("X_mx", "n_mx f_mx"), td.matrix("W_mx", "f_mx h_mx")
    f = td.sum(td.max(td.relu(X @ W), axis=1)) + 0.5 * td.sum(W ** 2)
    rng = rng_of("relu max")
    while True:     # data away from ties and kinks, so finite differences see one smooth piece
        v = dict(X_mx=rng.standard_normal((4, 3)), W_mx=rng.standard_normal((3, 3)))
        Z = v["X_mx"] @ v["W_mx"]
        top2 = np.sort(Z, axis=1)[:, -2:]
        if np.min(np.abs(Z)) > 0.05 and np.min(top2[:, 1] - top2[:, 0]) > 0.05 and np.min(top2[:, 1]) > 0.05:
            break
    onehot = np.eye(3)[np.argmax(Z, axis=1)]
    return Problem(f, {W: 2}, v, lambda u: jnp.sum(jnp.max(jax.nn.relu(u["X_mx"] @ u["W_mx"]), axis=1))
                   + 0.5 * jnp.sum(u["W_mx"] ** 2),
                   {("W_mx", 1): v["X_mx"].T @ onehot + v["W_mx"], ("W_mx", 2): np.einsum("ac,bd->abcd", np.eye(3), np.eye(3))})


@problem
def log_cosh_regression_with_softplus_penalty():
    # f = Σ log cosh(Xw - y) + Σ softplus(w): ∂/∂w = Xᵀ tanh(Xw - y) + σ(w)
    X, w, y = td.matrix("X_lc", "n_lc p_lc"), td.vector("w_lc", "p_lc"), td.vector("y_lc", "n_lc")
    f = td.sum(td.log(td.cosh(X @ w - y))) + td.sum(td.softplus(w))
    rng = rng_of("log cosh")
    v = dict(X_lc=rng.standard_normal((5, 3)), w_lc=rng.standard_normal(3), y_lc=rng.standard_normal(5))
    return Problem(f, {w: 3}, v, lambda u: jnp.sum(jnp.log(jnp.cosh(u["X_lc"] @ u["w_lc"] - u["y_lc"])))
                   + jnp.sum(jax.nn.softplus(u["w_lc"])),
                   {("w_lc", 1): v["X_lc"].T @ np.tanh(v["X_lc"] @ v["w_lc"] - v["y_lc"]) + 1 / (1 + np.exp(-v["w_lc"]))})


@problem
def smoothed_elastic_net_in_weights_and_penalty():
    # f = ½‖Xw - y‖² + a Σ√(w² + 0.01) + 0.3‖w‖²: ∂/∂w = Xᵀr + a w/√(w² + 0.01) + 0.6w, ∂/∂a = Σ√(w² + 0.01)
    X, w, y, a = td.matrix("X_en", "n_en p_en"), td.vector("w_en", "p_en"), td.vector("y_en", "n_en"), td.scalar("a_en")
    f = 0.5 * td.sum((X @ w - y) ** 2) + a * td.sum(td.sqrt(w ** 2 + 0.01)) + 0.3 * w @ w
    rng = rng_of("elastic net")
    v = dict(X_en=rng.standard_normal((5, 3)), w_en=rng.standard_normal(3), y_en=rng.standard_normal(5), a_en=0.7)
    r = v["X_en"] @ v["w_en"] - v["y_en"]
    root = np.sqrt(v["w_en"] ** 2 + 0.01)
    return Problem(f, {w: 3, a: 3}, v, lambda u: 0.5 * jnp.sum((u["X_en"] @ u["w_en"] - u["y_en"]) ** 2)
                   + u["a_en"] * jnp.sum(jnp.sqrt(u["w_en"] ** 2 + 0.01)) + 0.3 * u["w_en"] @ u["w_en"],
                   {("w_en", 1): v["X_en"].T @ r + 0.7 * v["w_en"] / root + 0.6 * v["w_en"], ("a_en", 1): root.sum(),
                    ("a_en", 2): np.zeros(())})


@problem
def entropic_transport_row_plans_in_the_cost():
    # P = softmax(-C/ε) by rows, f = Σ P∘C + ε Σ P∘log P = -ε Σ_i lse(-c_i/ε): ∂f/∂C = P,
    # ∂²f/∂c_i² = -(diag p_i - p_i p_iᵀ)/ε, rows apart
    C = td.matrix("C_ot", "n_ot m_ot")
    eps = 0.5
    P = td.softmax(-C / eps, axis=1)
    f = td.sum(P * C) + eps * td.sum(P * td.log_softmax(-C / eps, axis=1))
    rng = rng_of("transport")
    v = dict(C_ot=rng.uniform(0, 2, (2, 3)))
    Pv = softmax_rows(-v["C_ot"] / eps)
    hess = np.zeros((2, 3, 2, 3))
    for i in range(2):
        hess[i, :, i, :] = -(np.diag(Pv[i]) - np.outer(Pv[i], Pv[i])) / eps

    def twin(u):
        Pj = jax.nn.softmax(-u["C_ot"] / eps, axis=1)
        return jnp.sum(Pj * u["C_ot"]) + eps * jnp.sum(Pj * jax.nn.log_softmax(-u["C_ot"] / eps, axis=1))
    return Problem(f, {C: 3}, v, twin, {("C_ot", 1): Pv, ("C_ot", 2): hess})


# ---------------------------------------------------------------- Kronecker products, vec, reshape, concatenate

@problem
def trace_of_a_product_of_kronecker_products():
    # tr((A⊗B)(C⊗D)) = tr(AC) tr(BD): ∂/∂A = Cᵀ tr(BD), ∂/∂B = Dᵀ tr(AC)
    A, B = td.matrix("A_kt", "n_kt n_kt"), td.matrix("B_kt", "m_kt m_kt")
    C, D = td.matrix("C_kt", "n_kt n_kt"), td.matrix("D_kt", "m_kt m_kt")
    f = td.trace(td.kron(A, B) @ td.kron(C, D))
    rng = rng_of("kron trace")
    v = {k: rng.standard_normal((3, 3) if k[0] in "AC" else (2, 2)) for k in ("A_kt", "B_kt", "C_kt", "D_kt")}
    return Problem(f, {A: 2, B: 2}, v, lambda u: jnp.trace(jnp.kron(u["A_kt"], u["B_kt"]) @ jnp.kron(u["C_kt"], u["D_kt"])),
                   {("A_kt", 1): v["C_kt"].T * np.trace(v["B_kt"] @ v["D_kt"]),
                    ("B_kt", 1): v["D_kt"].T * np.trace(v["A_kt"] @ v["C_kt"])})


@problem
def vec_quadratic_form_with_a_kronecker_matrix():
    # vec(X)ᵀ(B⊗A)vec(X) = tr(XᵀAXBᵀ) = Σ X_ij A_ik X_kl B_jl: ∂/∂X = AXBᵀ + AᵀXB,
    # ∂²/∂X_ij∂X_kl = A_ik B_jl + A_ki B_lj
    X, A, B = td.matrix("X_vq", "n_vq m_vq"), td.matrix("A_vq", "n_vq n_vq"), td.matrix("B_vq", "m_vq m_vq")
    f = td.vec(X) @ td.kron(B, A) @ td.vec(X)
    rng = rng_of("vec quadratic")
    v = dict(X_vq=rng.standard_normal((3, 2)), A_vq=rng.standard_normal((3, 3)), B_vq=rng.standard_normal((2, 2)))
    Av, Bv, Xv = v["A_vq"], v["B_vq"], v["X_vq"]
    return Problem(f, {X: 3, A: 1}, v, lambda u: jnp.trace(u["X_vq"].T @ u["A_vq"] @ u["X_vq"] @ u["B_vq"].T),
                   {("X_vq", 1): Av @ Xv @ Bv.T + Av.T @ Xv @ Bv,
                    ("X_vq", 2): np.einsum("ik,jl->ijkl", Av, Bv) + np.einsum("ki,lj->ijkl", Av, Bv),
                    ("X_vq", 3): np.zeros((3, 2) * 3), ("A_vq", 1): Xv @ Bv @ Xv.T})


@problem
def layer_whose_weights_are_a_reshaped_flat_vector():
    # W = reshape(θ, (d, k)) in C order, f = Σ tanh(XW)²: ∂/∂θ = vec_C(2Xᵀ(tanh∘(1 - tanh²)))
    theta, X = td.vector("th_rs", "d_rs·k_rs"), td.matrix("X_rs", "n_rs d_rs")
    f = td.sum(td.tanh(X @ td.reshape(theta, "d_rs k_rs")) ** 2)
    rng = rng_of("reshape layer")
    v = dict(th_rs=rng.standard_normal(6) * 0.5, X_rs=rng.standard_normal((4, 3)))
    th = np.tanh(v["X_rs"] @ v["th_rs"].reshape(3, 2))
    return Problem(f, {theta: 3}, v, lambda u: jnp.sum(jnp.tanh(u["X_rs"] @ u["th_rs"].reshape(3, 2)) ** 2),
                   {("th_rs", 1): (2 * v["X_rs"].T @ (th * (1 - th ** 2))).reshape(-1)})


@problem
def regression_on_concatenated_polynomial_features():
    # F = [X, X∘X], f = ‖Fw - y‖²: ∂/∂w = 2Fᵀr, ∂/∂X = 2r(w₁ + 2X∘w₂) (w = [w₁; w₂])
    X, w, y = td.matrix("X_cf", "n_cf d_cf"), td.vector("w_cf", "d_cf+d_cf"), td.vector("y_cf", "n_cf")
    F = td.concatenate([X, X ** 2], axis=1)
    f = td.sum((F @ w - y) ** 2)
    rng = rng_of("concatenated features")
    v = dict(X_cf=rng.standard_normal((4, 2)), w_cf=rng.standard_normal(4), y_cf=rng.standard_normal(4))
    Fv = np.concatenate([v["X_cf"], v["X_cf"] ** 2], axis=1)
    r = Fv @ v["w_cf"] - v["y_cf"]
    return Problem(f, {w: 2, X: 3}, v, lambda u: jnp.sum((jnp.concatenate([u["X_cf"], u["X_cf"] ** 2], axis=1) @ u["w_cf"]
                                                          - u["y_cf"]) ** 2),
                   {("w_cf", 1): 2 * Fv.T @ r,
                    ("X_cf", 1): 2 * np.outer(r, np.ones(2)) * (v["w_cf"][:2] + 2 * v["X_cf"] * v["w_cf"][2:])})


# ---------------------------------------------------------------- Tikhonov

@problem
def tikhonov_value_in_penalty_and_design_to_order_three():
    # V(α, X) = ‖Xx_α - y‖² + α‖x_α‖², x_α = (XᵀX + αI)⁻¹Xᵀy: with X = UΣVᵀ and c = Uᵀy,
    # V = ‖y‖² - Σ c_j²σ_j²/(σ_j² + α), so V⁽ᵏ⁾(α) = -Σ c_j²σ_j²(-1)ᵏk!/(σ_j² + α)^(k+1);
    # ∂V/∂X = 2(Xx_α - y)x_αᵀ (x_α minimises, so only X's explicit place counts)
    X, y, al = td.matrix("X_tik", "n_tik p_tik"), td.vector("y_tik", "n_tik"), td.scalar("al_tik")
    xa = td.solve(X.T @ X + al * td.eye("p_tik"), X.T @ y)
    f = td.sum((X @ xa - y) ** 2) + al * (xa @ xa)
    rng = rng_of("tikhonov value")
    v = dict(X_tik=rng.standard_normal((3, 2)), y_tik=rng.standard_normal(3), al_tik=0.6)
    U, sv, _ = np.linalg.svd(v["X_tik"], full_matrices=False)
    c2 = (U.T @ v["y_tik"]) ** 2
    closed = {("al_tik", k): -np.sum(c2 * sv ** 2 * (-1) ** k * math.factorial(k) / (sv ** 2 + 0.6) ** (k + 1))
              for k in (1, 2, 3)}
    xv = np.linalg.solve(v["X_tik"].T @ v["X_tik"] + 0.6 * np.eye(2), v["X_tik"].T @ v["y_tik"])
    closed[("X_tik", 1)] = 2 * np.outer(v["X_tik"] @ xv - v["y_tik"], xv)

    def twin(u):
        xj = jnp.linalg.solve(u["X_tik"].T @ u["X_tik"] + u["al_tik"] * jnp.eye(2), u["X_tik"].T @ u["y_tik"])
        return jnp.sum((u["X_tik"] @ xj - u["y_tik"]) ** 2) + u["al_tik"] * xj @ xj
    return Problem(f, {al: 3, X: 3}, v, twin, closed)


# ---------------------------------------------------------------- triangular parametrisations, stacks, Gram determinants

@problem
def covariance_through_a_log_cholesky_parametrisation():
    # Σ = LLᵀ, L = tril(M, -1) + diag(exp(diag M)), f = log det Σ + tr(Σ⁻¹S): G_Σ = Σ⁻¹ - Σ⁻¹SΣ⁻¹,
    # G_L = 2G_ΣL, ∂f/∂M = tril(G_L, -1) + diag(diag(G_L)∘exp(diag M))
    M, S = td.matrix("M_lc", "n_lc n_lc"), td.matrix("S_lc", "n_lc n_lc", symmetric=True)
    L = td.tril(M, -1) + td.diag(td.exp(td.diagonal(M)))
    Sig = L @ L.T
    f = td.logdet(Sig) + td.trace(td.solve(Sig, S))
    rng = rng_of("log cholesky")
    v = dict(M_lc=0.3 * rng.standard_normal((3, 3)), S_lc=spd(rng, 3))
    Lv = np.tril(v["M_lc"], -1) + np.diag(np.exp(np.diag(v["M_lc"])))
    Si = np.linalg.inv(Lv @ Lv.T)
    GL = 2 * (Si - Si @ v["S_lc"] @ Si) @ Lv

    def twin(u):
        Lj = jnp.tril(u["M_lc"], -1) + jnp.diag(jnp.exp(jnp.diagonal(u["M_lc"])))
        return jnp.linalg.slogdet(Lj @ Lj.T)[1] + jnp.trace(jnp.linalg.solve(Lj @ Lj.T, u["S_lc"]))
    return Problem(f, {M: 2}, v, twin,
                   {("M_lc", 1): np.tril(GL, -1) + np.diag(np.diag(GL) * np.exp(np.diag(v["M_lc"])))})


@problem
def stacked_polynomial_basis_to_order_three():
    # B = [x; x²; x³] stacked (a new axis of dim "3"), f = Σ tanh(Σ_r B_r∘B_r + (Σ_j B_rj)ᵀB):
    # jax and finite differences only (the closed form is the chain rule written out)
    x = td.vector("x_st", "m_st")
    B = td.stack([x, x ** 2, x ** 3])
    f = td.sum(td.tanh(td.sum(B * B, axis=0) + td.sum(B, axis=1) @ B))
    v = dict(x_st=0.5 * rng_of("stacked basis").standard_normal(4))

    def twin(u):
        Bj = jnp.stack([u["x_st"], u["x_st"] ** 2, u["x_st"] ** 3])
        return jnp.sum(jnp.tanh(jnp.sum(Bj * Bj, axis=0) + jnp.sum(Bj, axis=1) @ Bj))
    return Problem(f, {x: 3}, v, twin)


@problem
def gram_determinant_to_order_three():
    # f = det(XᵀX): ∂f/∂X = 2f X(XᵀX)⁻¹
    X = td.matrix("X_gd", "n_gd p_gd")
    f = td.det(X.T @ X)
    v = dict(X_gd=rng_of("gram determinant").standard_normal((3, 2)))
    G = v["X_gd"].T @ v["X_gd"]
    return Problem(f, {X: 3}, v, lambda u: jnp.linalg.det(u["X_gd"].T @ u["X_gd"]),
                   {("X_gd", 1): 2 * np.linalg.det(G) * v["X_gd"] @ np.linalg.inv(G)})


# ---------------------------------------------------------------- checking

CAMPAIGN = Campaign(PROBLEMS)
NAMES, build, jax_of = CAMPAIGN.names, CAMPAIGN.build, CAMPAIGN.jax_of


def test_there_are_at_least_thirty_problems():
    assert len(NAMES) >= 30


@pytest.mark.parametrize("name", NAMES)
def test_every_order_matches_closed_forms_jax_and_finite_differences(name):
    every_order_matches(build(name), name, *jax_of(name), EXACT, FD, FD_ENTRIES)


@pytest.mark.parametrize("name", [n for n in NAMES if len(build(n).tops) > 1])
def test_several_symbols_give_jax_s_gradient_and_hessian_blocks(name):
    first_and_second_blocks_match_jax(build(name), name, *jax_of(name), EXACT, through="grad")


DIRECTIONAL = [("mahalanobis_rows_in_mean_and_symmetric_metric", "S_mah"),
               ("tucker_fit_in_its_order_four_core_and_a_factor", "A_tk"),
               ("infonce_in_embeddings_and_temperature", "Z1_nce"),
               ("regression_on_concatenated_polynomial_features", "X_cf")]


@pytest.mark.parametrize("name, symbol", DIRECTIONAL)
def test_orders_to_four_along_one_direction_match_jax(name, symbol):
    p = build(name)
    values = symbol_values(p)
    s = next(s for s in p.tops if s.name == symbol)
    rng = rng_of(name + " direction")
    direction = rng.standard_normal(values[symbol].shape)
    if s.symmetric:
        direction = sym(direction)
    U = td.tensor(f"U_{symbol}", s.shape) if s.ndim != 2 else td.matrix(f"U_{symbol}", s.shape, symmetric=s.symmetric)

    def along(t):
        u = {k: jnp.asarray(x, dtype=float) for k, x in values.items()}
        u[symbol] = u[symbol] + t[0] * direction
        return p.twin(u)
    reference = jacfwd_of_each_order(along, np.zeros(1), 4)
    for k in range(1, 5):
        d = td.diff(p.expr, s, order=k, direction=U)
        got = td.evaluate(d, values, **{U.name: direction})
        assert_close(got, reference[k].reshape(reference[k].shape[:p.expr.ndim]), EXACT,
                     f"{name}: order {k} along a direction in {symbol}")


# the jax and dask backends run eagerly, one dispatch per step: a spread of the problems keeps them quick
ON_BACKEND = {"numpy": NAMES, "jax": ["attention_in_queries_with_a_position_bias", "gp_noise_level_to_order_four",
                                        "schur_complement_log_det", "tucker_fit_in_its_order_four_core_and_a_factor",
                                        "vec_quadratic_form_with_a_kronecker_matrix"], "dask": NAMES[1::4]}


@pytest.mark.parametrize("backend", sorted(ON_BACKEND))
def test_compiled_gradients_agree_on_every_backend(backend):
    if backend == "dask":
        pytest.importorskip("dask.array")
    backend_agrees(backend, [(name, build(name), [build(name).expr, *td.grad(build(name).expr, list(build(name).tops))])
                             for name in ON_BACKEND[backend]], 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_of_the_value_and_gradients_read_back(name):
    p = build(name)
    values = symbol_values(p)
    exprs = [p.expr, *td.grad(p.expr, list(p.tops))]
    printed_forms_read_back(exprs, values, name)


def test_a_repeated_size_is_not_named_so_its_vector_reads_back():
    # the gradient of a mixture in its means repeats vector(1, size(mu, 1)); size(mu, 1) alone was
    # named t1, and td.parse expanded it as vector(1, (size(mu, 1))), which it refuses
    x, mu, s = td.vector("x_rep", "n_rep"), td.vector("mu_rep", "k_rep"), td.scalar("s_rep")
    D = td.outer(x, td.ones("k_rep")) - td.outer(td.ones("n_rep"), mu)
    f = td.sum(td.logsumexp(-D ** 2 / s, axis=1))
    g = td.grad(f, mu)
    text = str(td.matrix_notation(g))
    assert "= size(" not in text, text
    rng = rng_of("repeated size")
    values = dict(x_rep=rng.standard_normal(4), mu_rep=rng.standard_normal(3), s_rep=1.5)
    assert_close(td.evaluate(td.parse(text, symbols=[x, mu, s]), values), td.evaluate(g, values), 1e-12, text)


@pytest.mark.parametrize("kind", ["merged", "concatenated"])
def test_einsum_code_sizes_a_dim_held_only_inside_a_composite_dim(kind):
    # d·k: k = θ.shape[0] // d; a+b: b = v.shape[0] - a. Evaluation finds both; the code once wrote "..."
    if kind == "merged":
        theta, X = td.vector("th_ec", "d_ec·k_ec"), td.matrix("X_ec", "n_ec d_ec")
        e = td.sum(X @ td.reshape(theta, "d_ec k_ec"))
        values = dict(th_ec=np.arange(6.0), X_ec=np.ones((4, 3)))
    else:
        v, q = td.vector("v_ec", "a_ec+b_ec"), td.vector("q_ec", "a_ec")
        e = td.sum(v * td.concatenate([q, td.ones("b_ec")]))
        values = dict(v_ec=np.arange(5.0), q_ec=np.ones(3))
    want = td.evaluate(e, values, **({} if kind == "merged" else {"b_ec": 2}))
    scope = {"np": np, **values}
    exec(td.to_einsum(e), scope)   # noqa: S102 - the generated code is what is tested
    assert_close(scope["out"], want, 1e-12, td.to_einsum(e))


def test_parse_refuses_symmetric_for_a_plain_symbol_passed_to_it():
    # a symbol passed to parse is used as it is: symmetric= naming a plain one is a contradiction
    P = td.matrix("P_sy", "n_sy n_sy")
    for passed in (dict(symbols=[P]), dict(P_sy=P)):
        with pytest.raises(td.ShapeError, match="P_sy.*not symmetric"):
            td.parse("tr(P_sy*A_sy)", symmetric="P_sy", **passed)
    S = td.matrix("S_sy", "n_sy n_sy", symmetric=True)
    assert [n for n in symbols_of(td.parse("tr(S_sy*A_sy)", symbols=[S], symmetric="S_sy")) if n.name == "S_sy"] == [S]


# ---------------------------------------------------------------- bad input, on every backend

BACKENDS = ["numpy", "jax", "dask"]


def raises_naming(error, words, call):
    """``call()`` raises ``error`` (a tensordiff error) whose message holds every one of ``words``."""
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert all(w in message for w in words), (words, message)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_symmetric_value_of_a_symmetric_symbol_is_refused_on_every_backend(backend):
    # dask used to wrap the numpy value lazily before the check, so the non-symmetric value went
    # through and tr(S²) came back as the value of a matrix the expression assumes symmetric
    S = td.matrix("S_bad", "p_bad p_bad", symmetric=True)
    program = td.compile(td.trace(S @ S), backend=backend)
    assert float(np.asarray(program(S_bad=np.eye(3)))) == 3.0
    asymmetric = np.arange(9.0).reshape(3, 3)
    raises_naming(td.EvaluationError, ["S_bad", "not symmetric", "(0, 2)"], lambda: np.asarray(program(S_bad=asymmetric)))
    raises_naming(td.EvaluationError, ["S_bad", "not symmetric"],
                  lambda: np.asarray(td.evaluate(td.logdet(S), S_bad=asymmetric + 10 * np.eye(3), backend=backend)))


def test_infinite_entries_of_a_symmetric_value_propagate_without_a_numpy_warning():
    # inf - inf in the symmetry check is NaN: numpy's "invalid value" warning leaked from it
    S = td.matrix("S_inf", "p_inf p_inf", symmetric=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = td.evaluate(td.trace(S), S_inf=np.full((2, 2), np.inf))
    assert value == np.inf


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_sizes_and_shapes_at_call_time_name_the_dim_and_both_symbols(backend):
    A, w = td.matrix("A_sz", "p_sz p_sz"), td.vector("w_sz", "p_sz")
    program = td.compile(td.inv(A) @ w, backend=backend)
    np.asarray(program(A_sz=np.eye(3), w_sz=np.ones(3)))      # specialised to these shapes first
    raises_naming(td.ShapeError, ["p_sz", "A_sz", "w_sz", "3", "4"], lambda: program(A_sz=np.eye(3), w_sz=np.ones(4)))
    raises_naming(td.ShapeError, ["p_sz", "A_sz", "axis 1"], lambda: program(A_sz=np.ones((3, 4)), w_sz=np.ones(3)))
    raises_naming(td.ShapeError, ["A_sz", "(3,)"], lambda: program(A_sz=np.ones(3), w_sz=np.ones(3)))
    raises_naming(td.EvaluationError, ["w_sz"], lambda: program(A_sz=np.eye(3)))
    raises_naming(td.EvaluationError, ["w_sz", "str"], lambda: program(A_sz=np.eye(3), w_sz="1 2 3"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_and_indefinite_matrices_name_the_matrix_on_every_backend(backend):
    A, S = td.matrix("A_sg", "p_sg p_sg"), td.matrix("S_sg", "p_sg p_sg", symmetric=True)
    w = td.vector("w_sg", "p_sg")
    raises_naming(td.EvaluationError, ["singular", "A_sg"],
                  lambda: np.asarray(td.evaluate(td.solve(A, w), A_sg=np.ones((3, 3)), w_sg=np.ones(3), backend=backend)))
    raises_naming(td.EvaluationError, ["logdet", "singular", "A_sg"],
                  lambda: np.asarray(td.evaluate(td.logdet(A), A_sg=np.zeros((3, 3)), backend=backend)))
    raises_naming(td.EvaluationError, ["inv", "singular", "A_sg"],     # ∂ log det A/∂A = A⁻ᵀ
                  lambda: np.asarray(td.evaluate(td.grad(td.logdet(A), A), A_sg=np.zeros((3, 3)), backend=backend)))
    raises_naming(td.EvaluationError, ["cholesky", "positive definite", "S_sg"],
                  lambda: np.asarray(td.evaluate(td.cholesky(S), S_sg=-np.eye(3), backend=backend)))
    nan = np.asarray(td.evaluate(td.solve(A, w), A_sg=np.ones((3, 3)), w_sg=np.ones(3), backend=backend, singular="nan"))
    assert nan.shape == (3,) and not np.isfinite(nan).all()


def test_non_finite_inputs_propagate_quietly_as_ieee_values():
    X, w = td.matrix("X_nf", "n_nf p_nf"), td.vector("w_nf", "p_nf")
    gradient = td.grad(td.sum(td.softplus(w)) + td.sum(X @ w), w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = td.evaluate(gradient, X_nf=np.ones((2, 3)), w_nf=np.array([np.nan, np.inf, -np.inf]))
        through = td.evaluate(X @ w, X_nf=np.eye(2, 3), w_nf=np.array([1.0, np.inf, np.nan]))
    np.testing.assert_array_equal(got, [np.nan, 3.0, 2.0])   # σ(nan), σ(inf), σ(-inf), each + 2
    np.testing.assert_array_equal(through, [np.nan, np.nan])  # 0·nan and 0·inf are nan, as in numpy's matmul


@pytest.mark.parametrize("text, character", [("X*y # 2", "'#'"), ("X*y@z", "'@'"), ("X*y²", "'²'"),
                                             ("x'*x\x00", "'\\x00'"), ("(X*y", "'('"), ("X*y)", "')'")])
def test_parse_points_at_a_bad_character(text, character):
    with pytest.raises(td.ParseError) as caught:
        td.parse(text)
    message = str(caught.value)
    assert character in message and "^" in message.splitlines()[-1], message


@pytest.mark.parametrize("call, words", [
    (lambda: td.matrix("1M", "a b"), ["symbol name", "'1M'"]),
    (lambda: td.vector("v_bad", "a-b"), ["'v_bad'", "'a-b'"]),
    (lambda: td.matrix("S_odd", "p q", symmetric=True), ["'S_odd'", "(p, q)"]),
    (lambda: td.einsum("i$,jk->ik", td.matrix("M_es", "a b"), td.matrix("N_es", "b c")), ["'$'"]),
    (lambda: td.parse("inv(X)", X="n p"), ["inv", "X", "(n, p)"]),
    (lambda: td.parse("X*Y", X="n p", Y="q r"), ["X is (n, p)", "Y is (q, r)"]),
    (lambda: td.evaluate(td.eye("q_eye"), q_eye=2.5), ["'q_eye'", "2.5"]),
    (lambda: td.evaluate(td.reshape(td.matrix("R_rs", "n_rsb p_rsb"), "k_rsb"), R_rs=np.ones((3, 4)), k_rsb=5),
     ["12", "5", "k_rsb"]),
    (lambda: td.diff(td.sum(td.vector("v_dd", "n_dd")), td.vector("v_dd", "n_dd"), order=1.5), ["order", "1.5"]),
])
def test_building_errors_name_the_symbol_dim_or_character(call, words):
    raises_naming(td.TensorDiffError, words, call)
