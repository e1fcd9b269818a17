"""More independent problems researchers ask, each checked against its closed form, central finite
differences and nested ``jax.jacfwd`` (one jit per problem), with its printed forms read back.

Each problem is new here (tests/test_campaign_closed_forms.py and tests/test_campaign_problems.py
hold the others): a single-example softmax classifier in weights and input together, attention in
its keys and values, a Gaussian likelihood through its Cholesky factor, log det of XᵀAX with A
symmetric, a Kronecker identity inside a loss, piecewise losses (abs, relu, max, a leaky maximum),
a vector broadcast over the rows of a matrix, Jacobians of matrix-valued maps, traces of inverses
of products, and several symbols at once (``td.hessian(f, [x, y])`` blocks, mixed third orders,
hvp/jvp/vjp). Sizes are small and orders at most 3, so that the file runs in seconds.
"""

import gc
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import topological
from tensordiff.matrixform import to_matrix
from tensordiff.testing import numeric_diff

from helpers import assert_close, printed_forms_read_back, reads_back, registry, spd
from helpers import rng_for as shared_rng_for

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = pytest.importorskip("jax.scipy.special")

EXACT = 1e-9   # closed forms and jax: exact up to rounding, relative to the largest entry
FD = 2e-6      # central differences of the order below


# ---------------------------------------------------------------- regressions found by this file

def test_a_function_of_a_spread_vector_is_the_spread_function_so_a_sum_over_the_spread_axis_reads_back():
    # The Hessian of Σ ((X - μᵀ)/exp(μ))² in μ printed 2*diag(((vector(1)*exp(mu)').^(-2))'*vector(1)) + ...:
    # exp(μ) divides X through a spread (b, d) copy, whose power was summed over the rows b. Its
    # matrix notation summed an unsized vector(1) against another, so the row count b was lost and
    # td.parse's reading had a dim no symbol sizes. f(spread v) is now spread f(v), and the sum
    # over b is size(X, 1) times the rest.
    X, mu = td.matrix("X", "b d"), td.vector("mu", "d")
    rng = np.random.default_rng(7)
    values = dict(X=rng.standard_normal((4, 3)), mu=0.3 * rng.standard_normal(3))
    f = td.sum(((X - mu) / td.exp(mu)) ** 2)
    hessian = td.diff(f, mu, 2)
    assert reads_back(hessian, values, "hessian") >= 1
    assert "size(X, 1)" in to_matrix(hessian), to_matrix(hessian)
    R, s = values["X"] - values["mu"], np.exp(-2 * values["mu"])
    # f = Σ_b Σ_d R² s with ∂R/∂μ = -1, ∂s/∂μ = -2s: f'' = Σ_b (2 + 8R + 4R²) s on the diagonal
    assert_close(td.evaluate(hessian, values), np.diag(((2 + 8 * R + 4 * R * R) * s).sum(axis=0)), EXACT, "closed form")
    assert_close(td.evaluate(td.diff(f, mu), values), (-2 * R * s - 2 * R * R * s).sum(axis=0), EXACT, "gradient")
    # any function of any spread (transposed, or an outer product with ones) runs on the vector
    v = td.vector("v", "d")
    values["v"] = 1 + rng.random(3)
    numeric = np.broadcast_to(values["v"], (4, 3))
    for spread, copy in ((td.broadcast_to(v, "b d"), numeric), (td.broadcast_to(v, "b d").T, numeric.T),
                         (td.outer(v, td.ones("b")), numeric.T)):
        for fn, twin in ((td.exp, np.exp), (td.tanh, np.tanh), (lambda z: z ** -2, lambda z: z ** -2.0), (td.sqrt, np.sqrt)):
            e = fn(spread)
            assert_close(td.evaluate(e, values), twin(copy), EXACT, f"{td.index_notation(e)}")
            applied = [n for n in topological([e]) if isinstance(n, td.expr.Apply)]
            assert applied and all(n.shape == ("d",) for n in applied), td.index_notation(e)


# ---------------------------------------------------------------- the problems

@dataclass
class Problem:
    expr: td.Expr
    wrt: list                 # the symbols it is differentiated in
    values: dict
    twin: Callable            # dict of jax arrays -> jax array, written independently in jax.numpy
    closed: dict              # {(symbol name, order): numpy array}: the closed form of that derivative
    orders: tuple = (1, 2)    # orders checked against jax and finite differences (3: in wrt[0] only)
    jax_orders: tuple = (1, 2, 3)   # of those, the ones jax checks (an order 3 through inv or logdet compiles for a second)
    several: bool = False     # a scalar: td.hessian(f, wrt) blocks against jax.hessian(argnums)
    extra: dict = field(default_factory=dict)


PROBLEMS = {}
problem = registry(PROBLEMS)


def rng_for(name):
    return shared_rng_for(name, 11)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sym(a):
    return (a + a.T) / 2


@problem
def softmax_classifier_in_weights_and_input():
    # -yᵀ log softmax(Wx): ∂/∂W = (p - y)xᵀ, ∂/∂x = Wᵀ(p - y), ∂²/∂x² = Wᵀ(diag p - ppᵀ)W
    W, x, y = td.matrix("W", "k n"), td.vector("x", "n"), td.vector("y", "k")
    rng = rng_for("classifier")
    v = dict(W=rng.standard_normal((3, 4)), x=rng.standard_normal(4), y=np.eye(3)[1])
    p = softmax(v["W"] @ v["x"])
    closed = {("W", 1): np.outer(p - v["y"], v["x"]), ("x", 1): v["W"].T @ (p - v["y"]),
              ("x", 2): v["W"].T @ (np.diag(p) - np.outer(p, p)) @ v["W"]}
    return Problem(-y @ td.log_softmax(W @ x), [W, x], v, lambda u: -u["y"] @ jax.nn.log_softmax(u["W"] @ u["x"]),
                   closed, orders=(1, 2, 3), several=True)


@problem
def attention_in_keys_and_values():
    # A = softmax(QKᵀ/√d)V: ∂A[i,e]/∂V[m,f] = P[i,m] δ[e,f]; ∂A/∂K through the softmax's Jacobian
    Q, K, V = td.matrix("Q", "n d"), td.matrix("K", "m d"), td.matrix("V", "m e")
    rng = rng_for("attention")
    v = dict(Q=rng.standard_normal((2, 2)), K=rng.standard_normal((3, 2)), V=rng.standard_normal((3, 2)))
    P = softmax(v["Q"] @ v["K"].T / math.sqrt(2))
    # ∂A[i,e]/∂K[m,c] = Σ_j P[i,j](δ[j,m] - P[i,m]) Q[i,c]/√d V[j,e]  (softmax row Jacobian)
    dK = np.einsum("im,me,ic->iemc", P, v["V"], v["Q"]) - np.einsum("ij,je,im,ic->iemc", P, v["V"], P, v["Q"])
    closed = {("V", 1): np.einsum("im,ef->iemf", P, np.eye(2)), ("V", 2): np.zeros((2, 2, 3, 2, 3, 2)),
              ("K", 1): dK / math.sqrt(2)}
    return Problem(td.softmax(Q @ K.T / math.sqrt(2)) @ V, [K, V], v,
                   lambda u: jax.nn.softmax(u["Q"] @ u["K"].T / math.sqrt(2), axis=-1) @ u["V"], closed)


@problem
def gaussian_loglik_through_cholesky():
    # L = chol(S), z = L⁻¹(x - μ): -zᵀz/2 - Σ log L_ii = -(x-μ)ᵀS⁻¹(x-μ)/2 - log det S / 2
    S, x, mu = td.matrix("S", "d d", symmetric=True), td.vector("x", "d"), td.vector("mu", "d")
    L = td.cholesky(S)
    z = td.solve(L, x - mu)
    rng = rng_for("cholesky")
    v = dict(S=spd(rng, 3), x=rng.standard_normal(3), mu=rng.standard_normal(3))
    Si, r = np.linalg.inv(v["S"]), v["x"] - v["mu"]
    closed = {("mu", 1): Si @ r, ("mu", 2): -Si, ("S", 1): sym(-Si / 2 + Si @ np.outer(r, r) @ Si / 2)}

    def twin(u):
        Lj = jnp.linalg.cholesky(u["S"])
        zj = jax.scipy.linalg.solve_triangular(Lj, u["x"] - u["mu"], lower=True)
        return -zj @ zj / 2 - jnp.sum(jnp.log(jnp.diag(Lj)))
    return Problem(-z @ z / 2 - td.sum(td.log(td.diagonal(L))), [S, mu], v, twin, closed, several=True)


@problem
def logdet_of_XtAX_with_A_symmetric():
    # ∂/∂X log det(XᵀAX) = 2AX(XᵀAX)⁻¹; ∂/∂A = X(XᵀAX)⁻¹Xᵀ (symmetric already)
    X, A = td.matrix("X", "n p"), td.matrix("A", "n n", symmetric=True)
    rng = rng_for("logdetXtAX")
    v = dict(X=rng.standard_normal((4, 2)), A=spd(rng, 4))
    Mi = np.linalg.inv(v["X"].T @ v["A"] @ v["X"])
    closed = {("X", 1): 2 * v["A"] @ v["X"] @ Mi, ("A", 1): v["X"] @ Mi @ v["X"].T}
    return Problem(td.logdet(X.T @ A @ X), [X, A], v, lambda u: jnp.linalg.slogdet(u["X"].T @ u["A"] @ u["X"])[1],
                   closed, orders=(1, 2, 3), jax_orders=(1, 2), several=True)


@problem
def kronecker_identity_inside_a_loss():
    # (A ⊗ B)vec(X) = vec(BXAᵀ), so the first term is 0 for all A, B; ‖A ⊗ B‖² = ‖A‖²‖B‖²
    A, B, X = td.matrix("A", "a b"), td.matrix("B", "c e"), td.matrix("X", "e b")
    rng = rng_for("kron")
    v = dict(A=rng.standard_normal((2, 3)), B=rng.standard_normal((2, 2)), X=rng.standard_normal((2, 3)))
    f = td.norm(td.kron(A, B) @ td.vec(X) - td.vec(B @ X @ A.T)) ** 2 + td.sum(td.kron(A, B) ** 2)
    nA, nB = np.sum(v["A"] ** 2), np.sum(v["B"] ** 2)
    closed = {("A", 1): 2 * nB * v["A"], ("B", 1): 2 * nA * v["B"],
              ("A", 2): 2 * nB * np.einsum("ik,jl->ijkl", np.eye(2), np.eye(3))}

    def twin(u):
        vec = lambda m: m.T.reshape(-1)   # noqa: E731 - column-major, as td.vec
        return jnp.sum((jnp.kron(u["A"], u["B"]) @ vec(u["X"]) - vec(u["B"] @ u["X"] @ u["A"].T)) ** 2) \
            + jnp.sum(jnp.kron(u["A"], u["B"]) ** 2)
    return Problem(f, [A, B], v, twin, closed, several=True)


@problem
def piecewise_abs_relu_max_and_leaky():
    # Σ|Xw - y| + max(relu(Xw)) + ½Σ max(w, 0.3w)²: away from kinks and ties
    w, X, y = td.vector("w", "p"), td.matrix("X", "n p"), td.vector("y", "n")
    rng = rng_for("piecewise")
    v = dict(w=rng.standard_normal(3), X=rng.standard_normal((5, 3)), y=rng.standard_normal(5))
    z = v["X"] @ v["w"]
    slope = np.where(v["w"] > 0, 1.0, 0.09)
    top = v["X"][np.argmax(z)] if z.max() > 0 else np.zeros(3)
    closed = {("w", 1): v["X"].T @ np.sign(z - v["y"]) + top + slope * v["w"], ("w", 2): np.diag(slope),
              ("w", 3): np.zeros((3, 3, 3))}
    f = td.sum(td.abs(X @ w - y)) + td.max(td.relu(X @ w)) + 0.5 * td.sum(td.maximum(w, 0.3 * w) ** 2)
    return Problem(f, [w], v, lambda u: jnp.sum(jnp.abs(u["X"] @ u["w"] - u["y"])) + jnp.max(jax.nn.relu(u["X"] @ u["w"]))
                   + 0.5 * jnp.sum(jnp.maximum(u["w"], 0.3 * u["w"]) ** 2), closed, orders=(1, 2, 3))


def standardised(seed_name):
    """Z = (X - mᵀ)/sᵀ, a vector broadcast over the rows: the symbols (X, m, s), values and Z's value."""
    X, m, s = td.matrix("X", "n d"), td.vector("m", "d"), td.vector("s", "d")
    rng = rng_for(seed_name)
    v = dict(X=rng.standard_normal((4, 3)), m=rng.standard_normal(3), s=1 + rng.random(3))
    return (X, m, s), v, (v["X"] - v["m"]) / v["s"]


@problem
def standardised_columns_tanh_loss():
    # f = Σ tanh(Z)²
    (X, m, s), v, Z = standardised("standardise")
    g = 2 * np.tanh(Z) * (1 - np.tanh(Z) ** 2)   # d tanh(z)²/dz
    closed = {("m", 1): -(g / v["s"]).sum(axis=0), ("s", 1): -(g * Z / v["s"]).sum(axis=0), ("X", 1): g / v["s"]}
    return Problem(td.sum(td.tanh((X - m) / s) ** 2), [m, s, X], v,
                   lambda u: jnp.sum(jnp.tanh((u["X"] - u["m"]) / u["s"]) ** 2), closed, orders=(1, 2, 3), several=True)


@problem
def standardised_columns_matrix_valued():
    # ∂Z[i,j]/∂m[k] = -δ[j,k]/s[j], ∂Z[i,j]/∂s[k] = -Z[i,j]δ[j,k]/s[j]
    (X, m, s), v, Z = standardised("standardise matrix")
    closed = {("m", 1): -np.einsum("j,jk->jk", 1 / v["s"], np.eye(3))[None].repeat(4, 0),
              ("s", 1): -np.einsum("ij,j,jk->ijk", Z, 1 / v["s"], np.eye(3))}
    return Problem((X - m) / s, [m, s], v, lambda u: (u["X"] - u["m"]) / u["s"], closed)


@problem
def scaled_residuals_in_their_mean():
    # Σ ((X - μᵀ)/exp(μ))², the problem whose Hessian printed an unsized vector(1) (see the regression above)
    X, mu = td.matrix("X", "b d"), td.vector("mu", "d")
    rng = rng_for("scaled residuals")
    v = dict(X=rng.standard_normal((4, 3)), mu=0.3 * rng.standard_normal(3))
    R, s = v["X"] - v["mu"], np.exp(-2 * v["mu"])
    closed = {("mu", 1): (-2 * R * s - 2 * R * R * s).sum(axis=0), ("mu", 2): np.diag(((2 + 8 * R + 4 * R * R) * s).sum(axis=0))}
    return Problem(td.sum(((X - mu) / td.exp(mu)) ** 2), [mu], v,
                   lambda u: jnp.sum(((u["X"] - u["mu"]) / jnp.exp(u["mu"])) ** 2), closed, orders=(1, 2, 3))


@problem
def square_of_a_matrix():
    # ∂(XX)[i,j]/∂X[k,l] = δ[i,k]X[l,j] + X[i,k]δ[j,l]; the second derivative is constant
    X = td.matrix("X", "n n")
    rng = rng_for("square")
    v = dict(X=rng.standard_normal((3, 3)))
    I3 = np.eye(3)
    closed = {("X", 1): np.einsum("ik,lj->ijkl", I3, v["X"]) + np.einsum("ik,jl->ijkl", v["X"], I3),
              ("X", 2): np.einsum("ik,lm,jn->ijklmn", I3, I3, I3) + np.einsum("im,nk,jl->ijklmn", I3, I3, I3)}
    return Problem(X @ X, [X], v, lambda u: u["X"] @ u["X"], closed)


@problem
def regularised_inverse_gram():
    # M = (XᵀX + I)⁻¹: dM = -M(dXᵀX + XᵀdX)M
    X = td.matrix("X", "n p")
    rng = rng_for("inverse gram")
    v = dict(X=rng.standard_normal((3, 2)))
    M = np.linalg.inv(v["X"].T @ v["X"] + np.eye(2))
    closed = {("X", 1): -np.einsum("ia,kb,bj->ijka", M, v["X"], M) - np.einsum("ib,kb,aj->ijka", M, v["X"], M)}
    return Problem(td.inv(X.T @ X + td.eye("p")), [X], v, lambda u: jnp.linalg.inv(u["X"].T @ u["X"] + jnp.eye(2)), closed)


@problem
def trace_of_inverse_of_a_product():
    # ∂tr((AXB)⁻¹)/∂X = -Aᵀ(M⁻²)ᵀBᵀ with M = AXB
    A, X, B = td.matrix("A", "n n"), td.matrix("X", "n n"), td.matrix("B", "n n")
    rng = rng_for("trace inverse")
    v = {k: 2 * np.eye(3) + 0.3 * rng.standard_normal((3, 3)) for k in "AXB"}
    Mi = np.linalg.inv(v["A"] @ v["X"] @ v["B"])
    closed = {("X", 1): -v["A"].T @ (Mi @ Mi).T @ v["B"].T}
    return Problem(td.trace(td.inv(A @ X @ B)), [X], v, lambda u: jnp.trace(jnp.linalg.inv(u["A"] @ u["X"] @ u["B"])),
                   closed, orders=(1, 2, 3))


@problem
def traces_of_powers_and_products_in_two_matrices():
    # tr(X³X⁻¹) + tr(XAXᵀB) = tr(X²) + ...: ∂/∂X = 2Xᵀ + BᵀXAᵀ + BXA, ∂/∂A = XᵀBᵀX
    X, A, B = td.matrix("X", "n n"), td.matrix("A", "n n"), td.matrix("B", "n n")
    rng = rng_for("traces")
    v = {k: 2 * np.eye(3) + 0.3 * rng.standard_normal((3, 3)) for k in "XAB"}
    x, a, b = v["X"], v["A"], v["B"]
    closed = {("X", 1): 2 * x.T + b.T @ x @ a.T + b @ x @ a, ("A", 1): x.T @ b.T @ x, ("A", 2): np.zeros((3,) * 4)}
    f = td.trace(td.matrix_power(X, 3) @ td.inv(X)) + td.trace(X @ A @ X.T @ B)
    return Problem(f, [X, A], v, lambda u: jnp.trace(jnp.linalg.matrix_power(u["X"], 3) @ jnp.linalg.inv(u["X"]))
                   + jnp.trace(u["X"] @ u["A"] @ u["X"].T @ u["B"]), closed, orders=(1, 2, 3), jax_orders=(1, 2), several=True)


@problem
def softmax_regression_mean_loss_with_l2():
    # mean over the batch of logsumexp(xW + c) - y·(xW + c), plus 0.1‖W‖²: ∂/∂W = Xᵀ(P - Y)/n + 0.2W
    X, W, c, Y = td.matrix("X", "b d"), td.matrix("W", "d k"), td.vector("c", "k"), td.matrix("Y", "b k")
    rng = rng_for("softmax regression")
    v = dict(X=rng.standard_normal((4, 3)), W=rng.standard_normal((3, 3)), c=rng.standard_normal(3), Y=np.eye(3)[[0, 2, 1, 1]])
    z = X @ W + c
    f = td.mean(td.logsumexp(z, axis=1) - td.sum(Y * z, axis=1)) + 0.1 * td.norm(W) ** 2
    P = softmax(v["X"] @ v["W"] + v["c"])
    closed = {("W", 1): v["X"].T @ (P - v["Y"]) / 4 + 0.2 * v["W"], ("c", 1): (P - v["Y"]).mean(axis=0),
              ("c", 2): sum(np.diag(p) - np.outer(p, p) for p in P) / 4}

    def twin(u):
        zj = u["X"] @ u["W"] + u["c"]
        return jnp.mean(jsp.logsumexp(zj, axis=1) - jnp.sum(u["Y"] * zj, axis=1)) + 0.1 * jnp.sum(u["W"] ** 2)
    return Problem(f, [W, c], v, twin, closed, orders=(1, 2, 3), several=True)


@problem
def logdet_and_squared_det_of_a_matrix_with_negative_determinant():
    # log|det X| has gradient X⁻ᵀ whatever det's sign; det² has gradient 2det²X⁻ᵀ
    X = td.matrix("X", "n n")
    v = dict(X=np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.2], [0.1, 0.4, 2.0]]))
    Xi, d = np.linalg.inv(v["X"]), np.linalg.det(v["X"])
    assert d < 0
    closed = {("X", 1): 2 * d * d * Xi.T + Xi.T, ("X", 2): 4 * d * d * np.einsum("ji,lk->ijkl", Xi, Xi)
              - 2 * d * d * np.einsum("jk,li->ijkl", Xi, Xi) - np.einsum("jk,li->ijkl", Xi, Xi)}
    return Problem(td.det(X) ** 2 + td.logdet(X), [X], v,
                   lambda u: jnp.linalg.det(u["X"]) ** 2 + jnp.linalg.slogdet(u["X"])[1], closed, orders=(1, 2, 3), jax_orders=(1, 2))


@problem
def triangular_factor_precision():
    # P = tril(L)tril(L)ᵀ + I: xᵀPx - log det P in L and x; ∂/∂x = 2Px
    L, x = td.matrix("L", "d d"), td.vector("x", "d")
    rng = rng_for("precision")
    v = dict(L=rng.standard_normal((3, 3)), x=rng.standard_normal(3))
    T = np.tril(v["L"])
    P = T @ T.T + np.eye(3)
    closed = {("x", 1): 2 * P @ v["x"], ("x", 2): 2 * P,
              ("L", 1): np.tril(2 * np.outer(v["x"], v["x"]) @ T - 2 * np.linalg.inv(P) @ T)}
    f = x @ (td.tril(L) @ td.tril(L).T + td.eye("d")) @ x - td.logdet(td.tril(L) @ td.tril(L).T + td.eye("d"))

    def twin(u):
        Pj = jnp.tril(u["L"]) @ jnp.tril(u["L"]).T + jnp.eye(3)
        return u["x"] @ Pj @ u["x"] - jnp.linalg.slogdet(Pj)[1]
    return Problem(f, [L, x], v, twin, closed, orders=(1, 2, 3), jax_orders=(1, 2), several=True)


@problem
def gaussian_loglik_in_mean_and_covariance():
    # -n/2 log det S - ½ tr(R S⁻¹ Rᵀ), R = X - μᵀ: ∂/∂μ = S⁻¹Σ_i r_i, ∂/∂S = sym(-n/2 S⁻¹ + ½S⁻¹RᵀRS⁻¹)
    S, mu, X = td.matrix("S", "d d", symmetric=True), td.vector("mu", "d"), td.matrix("X", "n d")
    rng = rng_for("gaussian")
    v = dict(S=spd(rng, 3), mu=rng.standard_normal(3), X=rng.standard_normal((4, 3)))
    Si, R = np.linalg.inv(v["S"]), v["X"] - v["mu"]
    closed = {("mu", 1): Si @ R.sum(axis=0), ("mu", 2): -4 * Si, ("S", 1): sym(-2 * Si + Si @ R.T @ R @ Si / 2)}
    f = -2 * td.logdet(S) - 0.5 * td.trace((X - mu) @ td.inv(S) @ (X - mu).T)
    return Problem(f, [S, mu], v, lambda u: -2 * jnp.linalg.slogdet(u["S"])[1]
                   - 0.5 * jnp.trace((u["X"] - u["mu"]) @ jnp.linalg.inv(u["S"]) @ (u["X"] - u["mu"]).T),
                   closed, orders=(1, 2, 3), jax_orders=(1, 2), several=True)


@problem
def bilinear_form_of_matrix_powers():
    # uᵀA³w + tr(A⁴): ∂/∂A = Σ_k (Aᵏ)ᵀuwᵀ(A²⁻ᵏ)ᵀ + 4(A³)ᵀ; ∂/∂u = A³w
    A, u, w = td.matrix("A", "n n"), td.vector("u", "n"), td.vector("w", "n")
    rng = rng_for("powers")
    v = dict(A=rng.standard_normal((3, 3)) / 2, u=rng.standard_normal(3), w=rng.standard_normal(3))
    P = [np.linalg.matrix_power(v["A"], k) for k in range(4)]
    closed = {("A", 1): sum(P[k].T @ np.outer(v["u"], v["w"]) @ P[2 - k].T for k in range(3)) + 4 * P[3].T,
              ("u", 1): P[3] @ v["w"], ("u", 2): np.zeros((3, 3))}
    f = u @ td.matrix_power(A, 3) @ w + td.trace(td.matrix_power(A, 4))
    return Problem(f, [A, u], v, lambda q: q["u"] @ jnp.linalg.matrix_power(q["A"], 3) @ q["w"]
                   + jnp.trace(jnp.linalg.matrix_power(q["A"], 4)), closed, orders=(1, 2, 3), jax_orders=(1, 2), several=True)


@problem
def selected_entries_inside_a_loss():
    # Σ X[:,1]³ + X[0,0]X[2,1] + Σ exp(X[1:3, :])
    X = td.matrix("X", "n p")
    rng = rng_for("indexing")
    v = dict(X=rng.standard_normal((4, 3)))
    g = np.zeros((4, 3))
    g[:, 1] += 3 * v["X"][:, 1] ** 2
    g[0, 0] += v["X"][2, 1]
    g[2, 1] += v["X"][0, 0]
    g[1:3, :] += np.exp(v["X"][1:3, :])
    f = td.sum(X[:, 1] ** 3) + X[0, 0] * X[2, 1] + td.sum(td.exp(X[1:3, :]))
    return Problem(f, [X], v, lambda q: jnp.sum(q["X"][:, 1] ** 3) + q["X"][0, 0] * q["X"][2, 1]
                   + jnp.sum(jnp.exp(q["X"][1:3, :])), {("X", 1): g}, orders=(1, 2, 3))


@problem
def special_functions_sum():
    # Σ lgamma(s) + ψ(s)s + softplus(s - 1) + erf(s/2) + arctan(s): each term's derivative by hand
    s = td.vector("s", "n")
    rng = rng_for("special")
    v = dict(s=1 + rng.random(3))
    sp = pytest.importorskip("scipy.special")
    x = v["s"]
    closed = {("s", 1): sp.digamma(x) + sp.polygamma(1, x) * x + sp.digamma(x) + 1 / (1 + np.exp(1 - x))
              + np.exp(-x * x / 4) / math.sqrt(math.pi) + 1 / (1 + x * x)}
    f = td.sum(td.lgamma(s) + td.digamma(s) * s + td.softplus(s - 1) + td.erf(s / 2) + td.arctan(s))
    return Problem(f, [s], v, lambda u: jnp.sum(jsp.gammaln(u["s"]) + jsp.digamma(u["s"]) * u["s"]
                   + jax.nn.softplus(u["s"] - 1) + jsp.erf(u["s"] / 2) + jnp.arctan(u["s"])), closed, orders=(1, 2, 3))


# ---------------------------------------------------------------- checking

def build(name):
    """The problem, built afresh after the last one's symbols are collected: problems share symbol
    names with other dims, and td.parse reads a bare name as the live symbol of that name."""
    gc.collect()
    return PROBLEMS[name]()


NAMES = sorted(PROBLEMS)


def orders_in(p, var):
    """The orders checked in ``var``: order 3 in the first symbol only (each costs a jax compile)."""
    return tuple(k for k in p.orders if k <= 2 or var is p.wrt[0])


def derivatives(p, var):
    """{order: expression} up to the highest order checked in ``var`` or given in closed form."""
    out, e = {}, p.expr
    for order in range(1, max(orders_in(p, var) + tuple(k for n, k in p.closed if n == var.name)) + 1):
        e = td.diff(e, var)
        out[order] = e
    return out


def value(p, e):
    return np.asarray(td.evaluate(e, p.values), dtype=float)


def direction(p, var):
    """A random direction of ``var``'s shape (symmetric for a symmetric symbol)."""
    d = np.random.default_rng(sum(map(ord, var.name))).standard_normal(np.shape(p.values[var.name]))
    return sym(d) if getattr(var, "symmetric", False) else d


def along(tensor, d, order):
    """An order-``order`` derivative tensor contracted with the direction ``d`` in each slot."""
    for _ in range(order):
        tensor = np.tensordot(tensor, d, axes=d.ndim)
    return tensor


def tower(f, k):
    """z -> [f(z), f'(z), ..., f⁽ᵏ⁾(z)] by nested jacfwd, tracing f once per level: each level's
    lower derivatives come back as jacfwd's aux (tracing nested jacfwd is most of jax's time here)."""
    def up(g):
        def h(z):
            top, lower = jax.jacfwd(lambda w: (lambda r: (r[-1], r))(g(w)), has_aux=True)(z)
            return lower + [top]
        return h
    g = lambda z: [f(z)]   # noqa: E731
    for _ in range(k):
        g = up(g)
    return g


def jax_reference(p):
    """The value, the derivatives in each symbol in full up to order 2 and along a direction at
    order 3 (a full order-3 tensor compiles for seconds), and for a several-symbol scalar problem
    the gradient and jax.hessian's blocks (its diagonal blocks are the orders 2): one jitted function."""
    base = {k: jnp.asarray(np.asarray(x, dtype=float)) for k, x in p.values.items()}
    symmetric = {var.name: getattr(var, "symmetric", False) for var in p.wrt}
    names = [var.name for var in p.wrt]
    first = p.wrt[0].name
    step = jnp.asarray(direction(p, p.wrt[0]))

    def read(name, z):   # a symmetric symbol's twin reads (S + Sᵀ)/2: jax then gives tensordiff's sym(G)
        return (z + z.T) / 2 if symmetric[name] else z

    def everything(values):
        out = {"value": p.twin(values)}
        if 3 in p.orders and 3 in p.jax_orders:
            out[f"{first} 3 along"] = tower(lambda t: p.twin({**values, first: values[first] + t * step}), 3)(0.0)[3]
        if p.several:
            def joint(*args):
                return p.twin({**values, **{n: read(n, a) for n, a in zip(names, args)}})
            argnums, gradient = tuple(range(len(names))), jax.grad(joint, argnums=tuple(range(len(names))))
            out["hessian"], grads = jax.jacfwd(lambda *a: (lambda g: (g, g))(gradient(*a)), argnums=argnums,
                                               has_aux=True)(*[values[n] for n in names])
            for k, name in enumerate(names):
                out[f"{name} 1"], out[f"{name} 2"] = grads[k], out["hessian"][k][k]
            return out
        for name in names:
            derivatives = tower(lambda z, name=name: p.twin({**values, name: read(name, z)}), 2)(values[name])
            out[f"{name} 1"], out[f"{name} 2"] = derivatives[1], derivatives[2]
        return out
    return jax.tree_util.tree_map(np.asarray, jax.jit(everything)(base))


@pytest.mark.parametrize("name", NAMES)
def test_value_and_derivatives_match_closed_forms_jax_and_finite_differences(name):
    p = build(name)
    reference = jax_reference(p)
    assert_close(value(p, p.expr), reference["value"], EXACT, f"{name}: value vs jax")
    checked = set()
    for var in p.wrt:
        below = p.expr
        for order, e in derivatives(p, var).items():
            got = value(p, e)
            if (var.name, order) in p.closed:
                assert_close(got, p.closed[var.name, order], EXACT, f"{name}: order {order} in {var.name} vs closed form")
                checked.add((var.name, order))
            if order in orders_in(p, var):
                if order <= 2:
                    assert_close(got, reference[f"{var.name} {order}"], EXACT, f"{name}: order {order} in {var.name} vs jax")
                elif order in p.jax_orders and var is p.wrt[0]:
                    assert_close(along(got, direction(p, var), order), reference[f"{var.name} {order} along"], EXACT,
                                 f"{name}: order {order} in {var.name} along a direction vs jax")
                if order <= 2 or np.size(p.values[var.name]) <= 9:   # an order-3 difference evaluates per entry
                    numeric = numeric_diff(below, var, p.values)
                    assert_close(got, numeric, FD, f"{name}: order {order} in {var.name} vs finite differences")
            below = e
    assert checked == set(p.closed), f"{name}: closed forms of orders never derived: {set(p.closed) - checked}"
    if p.several:
        blocks = td.compile(td.hessian(p.expr, p.wrt))(p.values)
        for (i, a), (j, b) in itertools.product(enumerate(p.wrt), repeat=2):
            assert_close(blocks[i][j], reference["hessian"][i][j], EXACT, f"{name}: hessian block {a.name},{b.name}")


@pytest.mark.parametrize("name", NAMES)
def test_printed_forms_read_back(name):
    """Matrix notation of the expression and its first and second derivatives (up to order 4)
    parses back to the same values; the generated einsum code runs to them; LaTeX prints."""
    p = build(name)
    exprs = [p.expr]
    for var in p.wrt:
        first = td.diff(p.expr, var)
        exprs += [first] + ([td.diff(first, var)] if first.ndim <= 2 else [])
    read = printed_forms_read_back(exprs, p.values, name)
    assert read or name in NO_MATRIX_FORM, f"{name}: nothing printed in matrix notation"


NO_MATRIX_FORM = {"selected_entries_inside_a_loss"}   # X[0, 0], X[:, 1]: index notation only today


# ---------------------------------------------------------------- several symbols, directions

def test_mixed_third_order_blocks_and_hessian_products_match_jax():
    """td.diff(f, [x, y], order=3) nests its blocks as jacfwd(argnums) does; hvp, jvp and vjp in one
    symbol and in a list equal the full tensors contracted, and jax's."""
    x, y, A = td.vector("x", "n"), td.vector("y", "n"), td.matrix("A", "n n")
    u, U = td.vector("u", "n"), td.matrix("U", "n n")
    f = td.sum(td.exp(x) * y) * (x @ A @ y) + td.logsumexp(x * y)
    rng = rng_for("mixed")
    v = dict(x=rng.standard_normal(3) / 2, y=rng.standard_normal(3) / 2, A=rng.standard_normal((3, 3)),
             u=rng.standard_normal(3), U=rng.standard_normal((3, 3)))
    jv = {k: jnp.asarray(a) for k, a in v.items()}

    def twin(a, b):
        return jnp.sum(jnp.exp(a) * b) * (a @ jv["A"] @ b) + jsp.logsumexp(a * b)

    def mapped(a, m):   # a vector-valued map of x and A
        return jnp.exp(m @ a) * jv["y"]

    @jax.jit
    def reference():
        def hessian_twice(a, b):
            h = jax.hessian(twin, argnums=(0, 1))(a, b)
            return h, h
        third, hess = jax.jacfwd(hessian_twice, argnums=(0, 1), has_aux=True)(jv["x"], jv["y"])
        jac = jax.jacfwd(mapped, argnums=(0, 1))(jv["x"], jv["A"])
        return third, hess, jac
    third, hess, jac = jax.tree_util.tree_map(np.asarray, reference())

    blocks = td.diff(f, [x, y], order=3)
    values = td.compile([blocks[i][j][k] for i, j, k in itertools.product(range(2), repeat=3)])(v)
    for (i, j, k), got in zip(itertools.product(range(2), repeat=3), values):
        assert_close(got, third[i][j][k], EXACT, f"third-order block {i}{j}{k}")
    assert_close(td.evaluate(td.hvp(f, x, u), v), hess[0][0] @ v["u"], EXACT, "hvp in x")
    both = td.evaluate(list(td.hvp(f, [x, y], [u, u])), v)
    for i in range(2):
        assert_close(both[i], hess[i][0] @ v["u"] + hess[i][1] @ v["u"], EXACT, f"hvp block row {i}")
    assert_close(td.evaluate(td.diff(f, x, order=3, direction=u), v),
                 np.einsum("ijk,i,j,k->", third[0][0][0], v["u"], v["u"], v["u"]), EXACT, "order-3 directional")
    g = td.exp(A @ x) * y
    assert_close(td.evaluate(td.jvp(g, x, u), v), jac[0] @ v["u"], EXACT, "jvp in x")
    assert_close(td.evaluate(td.vjp(g, x, u), v), v["u"] @ jac[0], EXACT, "vjp in x")
    assert_close(td.evaluate(td.jvp(g, A, U), v), np.einsum("ijk,jk->i", jac[1], v["U"]), EXACT, "jvp in A")
    assert_close(td.evaluate(td.vjp(g, A, u), v), np.einsum("i,ijk->jk", v["u"], jac[1]), EXACT, "vjp in A")
    jacobians = td.evaluate(list(td.jacobian(g, [x, A])), v)
    assert_close(jacobians[0], jac[0], EXACT, "jacobian in x")
    assert_close(jacobians[1], jac[1], EXACT, "jacobian in A")


def test_bad_directions_and_symbols_name_what_is_wrong():
    """A direction or cotangent of the wrong shape, a symbol listed against a non-symbol, a
    Hessian of a matrix map: tensordiff errors that name the shapes, never a numpy traceback."""
    x, X = td.vector("x", "n"), td.matrix("X", "n p")
    f = td.sum(td.exp(X @ X.T))
    with pytest.raises(td.ShapeError, match=r"\(m\).*'x' has dims \(n\)"):
        td.hvp(x @ x, x, td.vector("v", "m"))
    with pytest.raises(td.ShapeError, match=r"'X' has dims \(n, p\)"):
        td.jvp(X @ X.T, X, td.vector("v", "n"))
    with pytest.raises(td.ShapeError, match=r"u has shape \(n\) but f has shape \(n, n\)"):
        td.vjp(X @ X.T, X, td.vector("v", "n"))
    with pytest.raises(td.ShapeError, match=r"hvp needs a scalar expression, got shape \(n, n\)"):
        td.hvp(X @ X.T, X, X)
    with pytest.raises(td.TensorDiffError, match="with respect to a symbol"):
        td.diff(f, [X, X.T])
    with pytest.raises(td.ShapeError, match=r"direction has shape \(n, p\) but 'x' has dims \(n\)"):
        td.diff(x @ x, x, order=3, direction=X)
