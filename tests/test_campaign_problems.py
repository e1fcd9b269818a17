"""Independent problems a researcher would bring, written in tensordiff's documented API.

Each problem is an expression, the symbols it is differentiated in, values (random and well
conditioned, away from kinks and ties) and a jax twin written independently in jax.numpy. For each
we check the value, derivatives of orders 1-3 (4-5 for some) against nested ``jax.jacfwd`` of the
twin and against central finite differences of the derivative one order lower, ``td.compile`` of
all of them at once against ``td.evaluate``, backend="jax" (and dask for a few), the several-symbol
Hessian blocks against ``jax.hessian(argnums=...)``, and the printed forms: ``latex``, ``to_einsum``
(run as code), and ``matrix_notation`` parsed back by ``td.parse``.

A symmetric symbol's twin reads its argument symmetrised, (S + Sᵀ)/2, so jax's derivative is the
symmetric gradient that tensordiff gives (docs/operations/shapes.md).
"""

import functools
import gc
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

from helpers import assert_close, registry, rng_for, spd, symbols_of

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = pytest.importorskip("jax.scipy.special")

EXACT = 1e-8     # against jax: both are exact, up to rounding
FD = 2e-6        # against central differences, relative to the largest entry


@dataclass
class Problem:
    name: str
    expr: td.Expr
    wrt: list
    values: dict
    twin: Callable          # dict of jax arrays -> jax array
    orders: tuple = (1, 2, 3)
    functions: Optional[dict] = None   # implementations of abstract user functions
    backends: tuple = ("jax",)
    several: bool = False   # also check td.hessian(f, wrt) blocks against jax.hessian(argnums)
    printed: bool = True    # check matrix notation / to_einsum round trips
    extra: dict = field(default_factory=dict)


PROBLEMS = {}
problem = registry(PROBLEMS)


def sym(x):
    return (x + x.T) / 2


def softmax_rows(z):
    z = z - jnp.max(z, axis=-1, keepdims=True)
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def log_softmax_rows(z):
    return z - jsp.logsumexp(z, axis=-1, keepdims=True)


# ---------------------------------------------------------------- the problems

@problem
def softmax_cross_entropy_batch():
    X, W, Y = td.matrix("X", "b d"), td.matrix("W", "d k"), td.matrix("Y", "b k")
    f = -td.sum(Y * td.log_softmax(X @ W)) / 5
    rng = rng_for("sce")
    Yv = np.eye(3)[rng.integers(0, 3, 5)]
    values = dict(X=rng.standard_normal((5, 4)), W=0.5 * rng.standard_normal((4, 3)), Y=Yv)
    return Problem("sce", f, [W], values, lambda v: -jnp.sum(v["Y"] * log_softmax_rows(v["X"] @ v["W"])) / 5,
                   backends=("jax", "dask"))


@problem
def softmax_cross_entropy_with_bias():
    X, W, b, Y = td.matrix("X", "b d"), td.matrix("W", "d k"), td.vector("c", "k"), td.matrix("Y", "b k")
    f = td.sum(td.logsumexp(X @ W + b, axis=1)) - td.sum(Y * (X @ W + b))
    rng = rng_for("sceb")
    values = dict(X=rng.standard_normal((4, 3)), W=0.5 * rng.standard_normal((3, 2)), c=rng.standard_normal(2),
                  Y=np.eye(2)[rng.integers(0, 2, 4)])

    def twin(v):
        z = v["X"] @ v["W"] + v["c"]
        return jnp.sum(jsp.logsumexp(z, axis=1)) - jnp.sum(v["Y"] * z)
    return Problem("sceb", f, [W, b], values, twin, several=True)


@problem
def attention_output():
    Q, K, V = td.matrix("Q", "n d"), td.matrix("K", "m d"), td.matrix("V", "m e")
    d = 3
    A = td.softmax(Q @ K.T / math.sqrt(d)) @ V
    rng = rng_for("attn")
    values = dict(Q=rng.standard_normal((3, d)), K=rng.standard_normal((4, d)), V=rng.standard_normal((4, 2)))
    return Problem("attn", A, [Q, K, V], values,
                   lambda v: softmax_rows(v["Q"] @ v["K"].T / math.sqrt(d)) @ v["V"], orders=(1, 2),
                   printed=True)


@problem
def attention_loss():
    Q, K, V, C = td.matrix("Q", "n d"), td.matrix("K", "m d"), td.matrix("V", "m e"), td.matrix("C", "n e")
    f = td.sum(td.softmax(Q @ K.T / 2.0) @ V * C)
    rng = rng_for("attnloss")
    values = dict(Q=rng.standard_normal((2, 4)), K=rng.standard_normal((3, 4)), V=rng.standard_normal((3, 2)),
                  C=rng.standard_normal((2, 2)))
    return Problem("attnloss", f, [Q, K, V], values,
                   lambda v: jnp.sum(softmax_rows(v["Q"] @ v["K"].T / 2.0) @ v["V"] * v["C"]), several=True)


@problem
def layer_norm_vector():
    x, g, b = td.vector("x", "d"), td.vector("g", "d"), td.vector("b", "d")
    centred = x - td.mean(x)
    out = centred / td.sqrt(td.mean(centred ** 2) + 1e-5) * g + b
    rng = rng_for("ln")
    values = dict(x=rng.standard_normal(4), g=rng.standard_normal(4), b=rng.standard_normal(4))

    def twin(v):
        c = v["x"] - jnp.mean(v["x"])
        return c / jnp.sqrt(jnp.mean(c ** 2) + 1e-5) * v["g"] + v["b"]
    return Problem("ln", out, [x, g], values, twin)


@problem
def layer_norm_batch_rows():
    X = td.matrix("X", "n d")
    # a per-row statistic spreads over the columns through transposes (docs: no trailing broadcast)
    centred = (X.T - td.mean(X, axis=1)).T
    out = (centred.T / td.sqrt(td.mean(centred ** 2, axis=1) + 1e-3)).T
    f = td.sum(out * td.matrix("C", "n d"))
    rng = rng_for("lnb")
    values = dict(X=rng.standard_normal((3, 4)), C=rng.standard_normal((3, 4)))

    def twin(v):
        c = v["X"] - jnp.mean(v["X"], axis=1, keepdims=True)
        return jnp.sum(c / jnp.sqrt(jnp.mean(c ** 2, axis=1, keepdims=True) + 1e-3) * v["C"])
    return Problem("lnb", f, [X], values, twin)


@problem
def gaussian_loglik_mu_sigma():
    x, mu = td.vector("x", "d"), td.vector("mu", "d")
    S = td.matrix("S", "d d", symmetric=True)
    r = x - mu
    f = -0.5 * r @ td.inv(S) @ r - 0.5 * td.logdet(S)
    rng = rng_for("gauss")
    values = dict(x=rng.standard_normal(3), mu=rng.standard_normal(3), S=spd(rng, 3))

    def twin(v):
        r = v["x"] - v["mu"]
        S = sym(v["S"])
        return -0.5 * r @ jnp.linalg.solve(S, r) - 0.5 * jnp.linalg.slogdet(S)[1]
    return Problem("gauss", f, [S, mu], values, twin, several=True)


@problem
def gaussian_loglik_batch():
    X, mu = td.matrix("X", "n d"), td.vector("mu", "d")
    S = td.matrix("S", "d d", symmetric=True)
    R = X - mu
    f = -0.5 * td.trace(td.inv(S) @ R.T @ R) - 0.5 * 6 * td.logdet(S)
    rng = rng_for("gaussb")
    values = dict(X=rng.standard_normal((6, 2)), mu=rng.standard_normal(2), S=spd(rng, 2))

    def twin(v):
        R = v["X"] - v["mu"]
        S = sym(v["S"])
        return -0.5 * jnp.trace(jnp.linalg.solve(S, R.T @ R)) - 3.0 * jnp.linalg.slogdet(S)[1]
    return Problem("gaussb", f, [S, mu], values, twin, orders=(1, 2, 3, 4))


def _gp_kernel(D, ell, sigma):
    return td.exp(-D / (2 * ell ** 2)) + sigma ** 2 * td.eye("n")


@problem
def gp_marginal_likelihood_lengthscale():
    D = td.matrix("D", "n n", symmetric=True)
    y, ell, sigma = td.vector("y", "n"), td.scalar("ell"), td.scalar("sigma")
    K = _gp_kernel(D, ell, sigma)
    f = -0.5 * y @ td.inv(K) @ y - 0.5 * td.logdet(K)
    rng = rng_for("gp")
    pts = rng.standard_normal((4, 1))
    values = dict(D=(pts - pts.T) ** 2, y=rng.standard_normal(4), ell=0.9, sigma=0.5)

    def twin(v):
        K = jnp.exp(-v["D"] / (2 * v["ell"] ** 2)) + v["sigma"] ** 2 * jnp.eye(4)
        return -0.5 * v["y"] @ jnp.linalg.solve(K, v["y"]) - 0.5 * jnp.linalg.slogdet(K)[1]
    return Problem("gp", f, [ell, sigma], values, twin, orders=(1, 2, 3, 4, 5), several=True)


@problem
def gp_cholesky_likelihood():
    D = td.matrix("D", "n n", symmetric=True)
    y, ell, sigma = td.vector("y", "n"), td.scalar("ell"), td.scalar("sigma")
    L = td.cholesky(_gp_kernel(D, ell, sigma))
    alpha = td.solve(L, y)
    f = -0.5 * alpha @ alpha - td.sum(td.log(td.diagonal(L)))
    rng = rng_for("gpchol")
    pts = rng.standard_normal((3, 1))
    values = dict(D=(pts - pts.T) ** 2, y=rng.standard_normal(3), ell=1.1, sigma=0.6)

    def twin(v):
        K = jnp.exp(-v["D"] / (2 * v["ell"] ** 2)) + v["sigma"] ** 2 * jnp.eye(3)
        L = jnp.linalg.cholesky(K)
        a = jax.scipy.linalg.solve_triangular(L, v["y"], lower=True)
        return -0.5 * a @ a - jnp.sum(jnp.log(jnp.diag(L)))
    return Problem("gpchol", f, [ell], values, twin, orders=(1, 2, 3, 4))


@problem
def rayleigh_quotient():
    A = td.matrix("A", "n n", symmetric=True)
    x = td.vector("x", "n")
    f = (x @ A @ x) / (x @ x)
    rng = rng_for("rayleigh")
    values = dict(A=spd(rng, 4), x=rng.standard_normal(4))
    return Problem("rayleigh", f, [x, A], values,
                   lambda v: v["x"] @ sym(v["A"]) @ v["x"] / (v["x"] @ v["x"]), orders=(1, 2, 3, 4), several=True)


@problem
def pca_reconstruction():
    X, W = td.matrix("X", "n d"), td.matrix("W", "d k")
    f = td.norm(X - X @ W @ W.T) ** 2
    rng = rng_for("pca")
    values = dict(X=rng.standard_normal((5, 3)), W=0.5 * rng.standard_normal((3, 2)))
    return Problem("pca", f, [W], values, lambda v: jnp.sum((v["X"] - v["X"] @ v["W"] @ v["W"].T) ** 2),
                   orders=(1, 2, 3, 4))


@problem
def logistic_regression():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    z = X @ w
    f = -td.sum(y * td.log(td.sigmoid(z)) + (1 - y) * td.log(1 - td.sigmoid(z))) + 0.1 * w @ w
    rng = rng_for("logreg")
    values = dict(X=rng.standard_normal((6, 3)), w=0.3 * rng.standard_normal(3),
                  y=rng.integers(0, 2, 6).astype(float))

    def twin(v):
        s = jax.nn.sigmoid(v["X"] @ v["w"])
        return -jnp.sum(v["y"] * jnp.log(s) + (1 - v["y"]) * jnp.log(1 - s)) + 0.1 * v["w"] @ v["w"]
    return Problem("logreg", f, [w], values, twin, orders=(1, 2, 3, 4), backends=("jax", "dask"))


@problem
def logistic_softplus_form():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.softplus(X @ w) - y * (X @ w))
    rng = rng_for("logsp")
    values = dict(X=rng.standard_normal((5, 2)), w=rng.standard_normal(2), y=rng.integers(0, 2, 5).astype(float))
    return Problem("logsp", f, [w, X], values,
                   lambda v: jnp.sum(jax.nn.softplus(v["X"] @ v["w"]) - v["y"] * (v["X"] @ v["w"])),
                   orders=(1, 2, 3), several=True)


@problem
def poisson_regression():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.exp(X @ w) - y * (X @ w) + td.lgamma(y + 1))
    rng = rng_for("poisson")
    values = dict(X=0.5 * rng.standard_normal((5, 2)), w=0.5 * rng.standard_normal(2),
                  y=rng.poisson(2.0, 5).astype(float))

    def twin(v):
        z = v["X"] @ v["w"]
        return jnp.sum(jnp.exp(z) - v["y"] * z + jsp.gammaln(v["y"] + 1))
    return Problem("poisson", f, [w], values, twin, orders=(1, 2, 3, 4, 5))


@problem
def tikhonov_objective():
    X, w, y, lam = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n"), td.scalar("lam")
    f = td.norm(X @ w - y) ** 2 + lam * td.norm(w) ** 2
    rng = rng_for("tik")
    values = dict(X=rng.standard_normal((5, 3)), w=rng.standard_normal(3), y=rng.standard_normal(5), lam=0.7)
    return Problem("tik", f, [w, lam, X], values,
                   lambda v: jnp.sum((v["X"] @ v["w"] - v["y"]) ** 2) + v["lam"] * v["w"] @ v["w"], several=True)


@problem
def tikhonov_solution_in_lambda():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    w = td.solve(X.T @ X + lam * td.eye("p"), X.T @ y)
    rng = rng_for("tiksol")
    values = dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), lam=0.4)
    return Problem("tiksol", w, [lam, X], values,
                   lambda v: jnp.linalg.solve(v["X"].T @ v["X"] + v["lam"] * jnp.eye(3), v["X"].T @ v["y"]),
                   orders=(1, 2))


@problem
def tikhonov_solution_high_order_lambda():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    w = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    f = td.norm(X @ w - y) ** 2
    rng = rng_for("tikhi")
    values = dict(X=rng.standard_normal((4, 2)), y=rng.standard_normal(4), lam=0.3)

    def twin(v):
        w = jnp.linalg.inv(v["X"].T @ v["X"] + v["lam"] * jnp.eye(2)) @ v["X"].T @ v["y"]
        return jnp.sum((v["X"] @ w - v["y"]) ** 2)
    return Problem("tikhi", f, [lam], values, twin, orders=(1, 2, 3, 4, 5))


@problem
def logdet_low_rank_plus_noise():
    W, s = td.matrix("W", "n m"), td.scalar("s")
    f = td.logdet(W @ W.T + s ** 2 * td.eye("n"))
    rng = rng_for("logdetW")
    values = dict(W=rng.standard_normal((3, 2)), s=0.8)
    return Problem("logdetW", f, [W, s], values,
                   lambda v: jnp.linalg.slogdet(v["W"] @ v["W"].T + v["s"] ** 2 * jnp.eye(3))[1], several=True)


@problem
def quadratic_sum_of_data():
    W, Y, s = td.matrix("W", "n m"), td.matrix("Y", "n k"), td.scalar("s")
    f = td.trace(Y.T @ (W @ W.T + s ** 2 * td.eye("n")) @ Y)
    rng = rng_for("quadY")
    values = dict(W=rng.standard_normal((3, 2)), Y=rng.standard_normal((3, 4)), s=0.5)
    return Problem("quadY", f, [W], values,
                   lambda v: jnp.trace(v["Y"].T @ (v["W"] @ v["W"].T + v["s"] ** 2 * jnp.eye(3)) @ v["Y"]))


@problem
def one_layer_network():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    rng = rng_for("net1")
    values = dict(X=rng.standard_normal((4, 3)), W=0.5 * rng.standard_normal((3, 2)), a=rng.standard_normal(2),
                  y=rng.standard_normal(4))
    return Problem("net1", f, [W, a], values,
                   lambda v: jnp.sum((jnp.tanh(v["X"] @ v["W"]) @ v["a"] - v["y"]) ** 2), several=True,
                   backends=("jax", "dask"))


@problem
def two_layer_network_matrix_output():
    X, W1, W2, Y = td.matrix("X", "n d"), td.matrix("W1", "d h"), td.matrix("W2", "h k"), td.matrix("Y", "n k")
    f = td.sum((td.sigmoid(X @ W1) @ W2 - Y) ** 2)
    rng = rng_for("net2")
    values = dict(X=rng.standard_normal((4, 3)), W1=rng.standard_normal((3, 2)), W2=rng.standard_normal((2, 2)),
                  Y=rng.standard_normal((4, 2)))
    return Problem("net2", f, [W1, W2], values,
                   lambda v: jnp.sum((jax.nn.sigmoid(v["X"] @ v["W1"]) @ v["W2"] - v["Y"]) ** 2), several=True)


@problem
def network_with_broadcast_bias():
    X, W, b, a = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k"), td.vector("a", "k")
    f = td.sum(td.tanh(X @ W + b) @ a)
    rng = rng_for("bias")
    values = dict(X=rng.standard_normal((5, 3)), W=0.5 * rng.standard_normal((3, 2)), b=rng.standard_normal(2),
                  a=rng.standard_normal(2))
    return Problem("bias", f, [b, W], values, lambda v: jnp.sum(jnp.tanh(v["X"] @ v["W"] + v["b"]) @ v["a"]),
                   several=True)


@problem
def user_elementwise_network():
    h = td.elementwise("h")
    X, W, a = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k")
    f = td.sum(h(X @ W) @ a) ** 2
    rng = rng_for("user")
    values = dict(X=rng.standard_normal((3, 2)), W=rng.standard_normal((2, 2)), a=rng.standard_normal(2))
    fns = {"h": [np.sin, np.cos, lambda z: -np.sin(z), lambda z: -np.cos(z)]}
    return Problem("user", f, [W], values, lambda v: jnp.sum(jnp.sin(v["X"] @ v["W"]) @ v["a"]) ** 2,
                   functions=fns, backends=(), printed=False)


@problem
def bound_elementwise_function():
    sq = td.elementwise("sq", np.square, td.elementwise("twice", lambda z: 2 * z, lambda z: 2 + 0 * z))
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    f = td.sum(sq(A @ x) * td.exp(x))
    rng = rng_for("bound")
    values = dict(x=rng.standard_normal(3), A=rng.standard_normal((3, 3)))
    return Problem("bound", f, [x], values, lambda v: jnp.sum((v["A"] @ v["x"]) ** 2 * jnp.exp(v["x"])),
                   orders=(1, 2), backends=(), printed=False)


@problem
def max_of_scores():
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    f = td.max(X @ w) + td.min(X @ w) ** 2
    rng = rng_for("max")
    values = dict(X=rng.standard_normal((5, 3)), w=rng.standard_normal(3))
    return Problem("max", f, [w], values, lambda v: jnp.max(v["X"] @ v["w"]) + jnp.min(v["X"] @ v["w"]) ** 2)


@problem
def max_along_axis():
    X = td.matrix("X", "n p")
    f = td.sum(td.max(X, axis=1) ** 2) + td.sum(td.exp(td.min(X, axis=0)))
    rng = rng_for("maxaxis")
    values = dict(X=rng.standard_normal((4, 3)))
    return Problem("maxaxis", f, [X], values,
                   lambda v: jnp.sum(jnp.max(v["X"], axis=1) ** 2) + jnp.sum(jnp.exp(jnp.min(v["X"], axis=0))))


@problem
def l1_regression():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.abs(X @ w - y)) + td.norm(X @ w - y, ord=1) * td.sum(w ** 2)
    rng = rng_for("l1")
    values = dict(X=rng.standard_normal((5, 3)), w=rng.standard_normal(3), y=rng.standard_normal(5))

    def twin(v):
        r = jnp.abs(v["X"] @ v["w"] - v["y"])
        return jnp.sum(r) + jnp.sum(r) * jnp.sum(v["w"] ** 2)
    return Problem("l1", f, [w], values, twin)


@problem
def huber_loss_where():
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    r = X @ w - y
    f = td.sum(td.where(td.abs(r) < 1.0, 0.5 * r ** 2, td.abs(r) - 0.5))
    rng = rng_for("huber")
    values = dict(X=rng.standard_normal((6, 2)), w=rng.standard_normal(2), y=2 * rng.standard_normal(6))

    def twin(v):
        r = v["X"] @ v["w"] - v["y"]
        return jnp.sum(jnp.where(jnp.abs(r) < 1.0, 0.5 * r ** 2, jnp.abs(r) - 0.5))
    return Problem("huber", f, [w], values, twin)


@problem
def hinge_loss_svm():
    X, w, y, lam = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n"), td.scalar("lam")
    f = td.sum(td.maximum(0, 1 - y * (X @ w)) ** 2) + lam * w @ w
    rng = rng_for("hinge")
    values = dict(X=rng.standard_normal((6, 3)), w=rng.standard_normal(3), y=np.sign(rng.standard_normal(6)),
                  lam=0.3)
    return Problem("hinge", f, [w, lam], values,
                   lambda v: jnp.sum(jnp.maximum(0, 1 - v["y"] * (v["X"] @ v["w"])) ** 2) + v["lam"] * v["w"] @ v["w"],
                   several=True)


@problem
def relu_network():
    X, W, a = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k")
    f = td.sum((td.relu(X @ W) @ a) ** 2) + td.sum(td.minimum(X @ W, 0.5) ** 3)
    rng = rng_for("relu")
    values = dict(X=rng.standard_normal((4, 3)), W=rng.standard_normal((3, 3)), a=rng.standard_normal(3))

    def twin(v):
        Z = v["X"] @ v["W"]
        return jnp.sum((jax.nn.relu(Z) @ v["a"]) ** 2) + jnp.sum(jnp.minimum(Z, 0.5) ** 3)
    return Problem("relu", f, [W], values, twin)


@problem
def bilinear_two_vectors():
    x, y, A = td.vector("x", "n"), td.vector("y", "m"), td.matrix("A", "n m")
    f = td.sin(x @ A @ y) + td.exp(x @ x) * td.cos(y @ y) + td.sum(x) ** 3 * td.sum(y)
    rng = rng_for("bilin")
    values = dict(x=0.5 * rng.standard_normal(3), y=0.5 * rng.standard_normal(2), A=rng.standard_normal((3, 2)))

    def twin(v):
        x, y = v["x"], v["y"]
        return jnp.sin(x @ v["A"] @ y) + jnp.exp(x @ x) * jnp.cos(y @ y) + jnp.sum(x) ** 3 * jnp.sum(y)
    return Problem("bilin", f, [x, y], values, twin, orders=(1, 2, 3, 4), several=True)


@problem
def symmetric_trace_polynomial():
    S, C = td.matrix("S", "n n", symmetric=True), td.matrix("C", "n n")
    f = td.trace(S @ S @ C) + td.trace(S @ C @ S @ S)
    rng = rng_for("symtr")
    values = dict(S=spd(rng, 3), C=rng.standard_normal((3, 3)))

    def twin(v):
        S = sym(v["S"])
        return jnp.trace(S @ S @ v["C"]) + jnp.trace(S @ v["C"] @ S @ S)
    return Problem("symtr", f, [S], values, twin, orders=(1, 2, 3, 4))


@problem
def symmetric_logdet_trace_inverse():
    S, C = td.matrix("S", "n n", symmetric=True), td.matrix("C", "n n", symmetric=True)
    f = td.logdet(S) + td.trace(td.inv(S) @ C)
    rng = rng_for("symld")
    values = dict(S=spd(rng, 3), C=spd(rng, 3))

    def twin(v):
        S = sym(v["S"])
        return jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.solve(S, v["C"]))
    return Problem("symld", f, [S], values, twin, orders=(1, 2, 3))


@problem
def determinant():
    A = td.matrix("A", "n n")
    f = td.det(A)
    rng = rng_for("det")
    values = dict(A=np.eye(3) + 0.4 * rng.standard_normal((3, 3)))
    return Problem("det", f, [A], values, lambda v: jnp.linalg.det(v["A"]), orders=(1, 2, 3))


@problem
def inverse_matrix_valued():
    A = td.matrix("A", "n n")
    f = td.inv(A) @ td.matrix("B", "n m")
    rng = rng_for("inv")
    values = dict(A=np.eye(3) + 0.3 * rng.standard_normal((3, 3)), B=rng.standard_normal((3, 2)))
    return Problem("inv", f, [A], values, lambda v: jnp.linalg.inv(v["A"]) @ v["B"], orders=(1, 2))


@problem
def matrix_power_bilinear():
    A, u, v = td.matrix("A", "n n"), td.vector("u", "n"), td.vector("v", "n")
    f = u @ td.matrix_power(A, 3) @ v + td.trace(td.matrix_power(A, 2))
    rng = rng_for("mpow")
    values = dict(A=rng.standard_normal((3, 3)), u=rng.standard_normal(3), v=rng.standard_normal(3))
    return Problem("mpow", f, [A], values,
                   lambda w: w["u"] @ jnp.linalg.matrix_power(w["A"], 3) @ w["v"]
                   + jnp.trace(w["A"] @ w["A"]), orders=(1, 2, 3, 4))


@problem
def solve_in_matrix_and_rhs():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    x = td.solve(A, b)
    f = td.sum(x ** 3) + x @ b
    rng = rng_for("solve")
    values = dict(A=np.eye(3) + 0.3 * rng.standard_normal((3, 3)), b=rng.standard_normal(3))

    def twin(v):
        x = jnp.linalg.solve(v["A"], v["b"])
        return jnp.sum(x ** 3) + x @ v["b"]
    return Problem("solve", f, [A, b], values, twin, several=True)


@problem
def residual_norm_unsquared():
    A, x, b = td.matrix("A", "m n"), td.vector("x", "n"), td.vector("b", "m")
    f = td.norm(A @ x - b)
    rng = rng_for("norm")
    values = dict(A=rng.standard_normal((4, 3)), x=rng.standard_normal(3), b=rng.standard_normal(4))
    return Problem("norm", f, [x], values, lambda v: jnp.linalg.norm(v["A"] @ v["x"] - v["b"]), orders=(1, 2, 3, 4))


@problem
def softmax_jacobian():
    z = td.vector("z", "k")
    f = td.softmax(z)
    rng = rng_for("softmax")
    values = dict(z=rng.standard_normal(4))
    return Problem("softmax", f, [z], values, lambda v: jax.nn.softmax(v["z"]), orders=(1, 2, 3))


@problem
def log_softmax_columns():
    X, C = td.matrix("X", "n k"), td.matrix("C", "n k")
    f = td.sum(td.log_softmax(X, axis=0) * C) + td.sum(td.softmax(X, axis=0) ** 2)
    rng = rng_for("lsmcol")
    values = dict(X=rng.standard_normal((3, 2)), C=rng.standard_normal((3, 2)))

    def twin(v):
        return (jnp.sum(jax.nn.log_softmax(v["X"], axis=0) * v["C"])
                + jnp.sum(jax.nn.softmax(v["X"], axis=0) ** 2))
    return Problem("lsmcol", f, [X], values, twin)


@problem
def logsumexp_rows_and_mean():
    X = td.matrix("X", "n p")
    m = td.mean(X, axis=0)
    f = td.sum(td.logsumexp(X, axis=1)) + m @ m
    rng = rng_for("lse")
    values = dict(X=rng.standard_normal((4, 3)))
    return Problem("lse", f, [X], values,
                   lambda v: jnp.sum(jsp.logsumexp(v["X"], axis=1)) + jnp.sum(jnp.mean(v["X"], axis=0) ** 2))


@problem
def cholesky_of_general_matrix():
    A = td.matrix("A", "n n")
    L = td.cholesky(A @ A.T + td.eye("n"))
    f = td.sum(L * td.matrix("C", "n n"))
    rng = rng_for("chol")
    values = dict(A=rng.standard_normal((3, 3)), C=rng.standard_normal((3, 3)))
    return Problem("chol", f, [A], values,
                   lambda v: jnp.sum(jnp.linalg.cholesky(v["A"] @ v["A"].T + jnp.eye(3)) * v["C"]))


@problem
def cholesky_factor_parametrised_covariance():
    L, x = td.matrix("L", "d d"), td.vector("x", "d")
    Lt = td.tril(L)
    S = Lt @ Lt.T + 0.5 * td.eye("d")
    f = x @ td.inv(S) @ x + td.logdet(S)
    rng = rng_for("cholparam")
    values = dict(L=np.eye(3) + 0.3 * rng.standard_normal((3, 3)), x=rng.standard_normal(3))

    def twin(v):
        Lt = jnp.tril(v["L"])
        S = Lt @ Lt.T + 0.5 * jnp.eye(3)
        return v["x"] @ jnp.linalg.solve(S, v["x"]) + jnp.linalg.slogdet(S)[1]
    return Problem("cholparam", f, [L], values, twin)


@problem
def residual_sum_of_squares_projection():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    f = y @ y - y @ X @ td.inv(X.T @ X) @ X.T @ y
    rng = rng_for("rss")
    values = dict(X=rng.standard_normal((5, 2)), y=rng.standard_normal(5))

    def twin(v):
        X, y = v["X"], v["y"]
        return y @ y - y @ X @ jnp.linalg.inv(X.T @ X) @ X.T @ y
    return Problem("rss", f, [X], values, twin, orders=(1, 2))


@problem
def tensor_contraction_einsum():
    T, u = td.tensor("T", "i j k"), td.vector("u", "j")
    v = td.vector("v", "k")
    f = td.sum(td.einsum("ijk,j,k->i", T, u, v) ** 2) + td.einsum("ijk,j,j->ik", T, u, u)[0, 1]
    rng = rng_for("tensor")
    values = dict(T=rng.standard_normal((2, 3, 4)), u=rng.standard_normal(3), v=rng.standard_normal(4))

    def twin(w):
        a = jnp.einsum("ijk,j,k->i", w["T"], w["u"], w["v"])
        return jnp.sum(a ** 2) + jnp.einsum("ijk,j,j->ik", w["T"], w["u"], w["u"])[0, 1]
    return Problem("tensor", f, [u, T], values, twin, orders=(1, 2, 3), several=True)


@problem
def student_t_degrees_of_freedom():
    r, nu = td.vector("r", "n"), td.scalar("nu")
    f = (td.lgamma((nu + 1) / 2) - td.lgamma(nu / 2) - 0.5 * td.log(nu)) * 4 \
        - (nu + 1) / 2 * td.sum(td.log1p(r ** 2 / nu))
    rng = rng_for("studentt")
    values = dict(r=rng.standard_normal(4), nu=3.5)

    def twin(v):
        nu = v["nu"]
        return (4 * (jsp.gammaln((nu + 1) / 2) - jsp.gammaln(nu / 2) - 0.5 * jnp.log(nu))
                - (nu + 1) / 2 * jnp.sum(jnp.log1p(v["r"] ** 2 / nu)))
    return Problem("studentt", f, [nu, r], values, twin, orders=(1, 2, 3, 4), several=True)


@problem
def gelu_erf_network():
    X, W = td.matrix("X", "n d"), td.matrix("W", "d k")
    f = td.sum(td.gelu(X @ W)) + td.sum(td.erf(X @ W) * td.arctan(X @ W))
    rng = rng_for("gelu")
    values = dict(X=rng.standard_normal((3, 2)), W=rng.standard_normal((2, 2)))

    def twin(v):
        Z = v["X"] @ v["W"]
        return jnp.sum(jax.nn.gelu(Z, approximate=False)) + jnp.sum(jsp.erf(Z) * jnp.arctan(Z))
    return Problem("gelu", f, [W], values, twin)


@problem
def diagonal_scaling_quadratic():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    f = td.sum(td.diag(x) @ A @ td.diag(x)) + td.trace(td.outer(x, x) @ A)
    rng = rng_for("diagscale")
    values = dict(x=rng.standard_normal(3), A=rng.standard_normal((3, 3)))

    def twin(v):
        D = jnp.diag(v["x"])
        return jnp.sum(D @ v["A"] @ D) + jnp.trace(jnp.outer(v["x"], v["x"]) @ v["A"])
    return Problem("diagscale", f, [x], values, twin)


@problem
def kernel_ridge_in_data():
    X, y, lam = td.matrix("X", "n d"), td.vector("y", "n"), td.scalar("lam")
    f = y @ td.inv(X @ X.T + lam * td.eye("n")) @ y
    rng = rng_for("krr")
    values = dict(X=rng.standard_normal((3, 2)), y=rng.standard_normal(3), lam=0.5)
    return Problem("krr", f, [X, lam], values,
                   lambda v: v["y"] @ jnp.linalg.solve(v["X"] @ v["X"].T + v["lam"] * jnp.eye(3), v["y"]),
                   several=True)


@problem
def matrix_factorisation():
    T, U, V = td.matrix("T", "m n"), td.matrix("U", "m r"), td.matrix("V", "n r")
    f = td.norm(T - U @ V.T) ** 2
    rng = rng_for("mf")
    values = dict(T=rng.standard_normal((3, 4)), U=rng.standard_normal((3, 2)), V=rng.standard_normal((4, 2)))
    return Problem("mf", f, [U, V], values, lambda v: jnp.sum((v["T"] - v["U"] @ v["V"].T) ** 2),
                   orders=(1, 2, 3), several=True)


@problem
def kron_vec_identity():
    A, X, B = td.matrix("A", "m n"), td.matrix("X", "n p"), td.matrix("B", "p q")
    c = td.vector("c", "q·m")
    f = td.sum(td.sin(td.kron(B.T, A) @ td.vec(X)) * c) + td.vec(A @ X @ B) @ c
    rng = rng_for("kron")
    values = dict(A=rng.standard_normal((2, 3)), X=rng.standard_normal((3, 2)), B=rng.standard_normal((2, 3)),
                  c=rng.standard_normal(6))

    def twin(v):
        vecX = v["X"].reshape(-1, order="F")
        vecAXB = (v["A"] @ v["X"] @ v["B"]).reshape(-1, order="F")
        return jnp.sum(jnp.sin(jnp.kron(v["B"].T, v["A"]) @ vecX) * v["c"]) + vecAXB @ v["c"]
    return Problem("kron", f, [X, A], values, twin, orders=(1, 2, 3))


@problem
def stack_and_concatenate():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    f = td.sum(td.exp(td.concatenate([x, y * x])) * td.concatenate([y, x])) + td.sum(td.stack([x, y]) ** 3)
    rng = rng_for("stack")
    values = dict(x=0.5 * rng.standard_normal(3), y=0.5 * rng.standard_normal(3))

    def twin(v):
        x, y = v["x"], v["y"]
        return jnp.sum(jnp.exp(jnp.concatenate([x, y * x])) * jnp.concatenate([y, x])) + jnp.sum(jnp.stack([x, y]) ** 3)
    return Problem("stack", f, [x, y], values, twin, several=True)


@problem
def trig_hyperbolic_composite():
    x = td.vector("x", "n")
    f = td.sum(td.sinh(x) * td.cosh(x @ x) + td.arcsin(0.3 * x) * td.tan(x) + td.sqrt(x ** 2 + 1))
    rng = rng_for("trig")
    values = dict(x=0.5 * rng.standard_normal(3))

    def twin(v):
        x = v["x"]
        return jnp.sum(jnp.sinh(x) * jnp.cosh(x @ x) + jnp.arcsin(0.3 * x) * jnp.tan(x) + jnp.sqrt(x ** 2 + 1))
    return Problem("trig", f, [x], values, twin, orders=(1, 2, 3, 4))


@problem
def triangle_masked_quadratic():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    f = x @ td.triu(A, 1) @ x + td.sum(td.tril(A @ A) ** 2)
    rng = rng_for("triangle")
    values = dict(A=rng.standard_normal((3, 3)), x=rng.standard_normal(3))
    return Problem("triangle", f, [A, x], values,
                   lambda v: v["x"] @ jnp.triu(v["A"], 1) @ v["x"] + jnp.sum(jnp.tril(v["A"] @ v["A"]) ** 2),
                   several=True)


@problem
def ridge_alpha_objective():
    X, y, alpha, c = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha"), td.scalar("c")
    w = td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y
    F = (y - X @ w) @ (y - X @ w) + alpha * (w @ w - c ** 2)
    rng = rng_for("ridgeF")
    values = dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), alpha=0.6, c=0.4)

    def twin(v):
        w = jnp.linalg.solve(v["X"].T @ v["X"] + v["alpha"] * jnp.eye(3), v["X"].T @ v["y"])
        r = v["y"] - v["X"] @ w
        return r @ r + v["alpha"] * (w @ w - v["c"] ** 2)
    return Problem("ridgeF", F, [alpha, X], values, twin, orders=(1, 2, 3), several=True)


@problem
def weighted_least_squares_weights():
    X, y, wts = td.matrix("X", "n p"), td.vector("y", "n"), td.vector("wts", "n")
    beta = td.solve(X.T @ (X * td.broadcast_to(wts, "p n").T), X.T @ (wts * y))
    rng = rng_for("wls")
    values = dict(X=rng.standard_normal((5, 2)), y=rng.standard_normal(5), wts=1 + rng.random(5))

    def twin(v):
        W = jnp.diag(v["wts"])
        return jnp.linalg.solve(v["X"].T @ W @ v["X"], v["X"].T @ W @ v["y"])
    return Problem("wls", beta, [wts], values, twin, orders=(1, 2))


# ---------------------------------------------------------------- checking

@functools.cache
def get(name):
    return PROBLEMS[name]()


_DERIVATIVES = {}


def derivative(p, var, order):
    key = (p.name, var.name, order)
    if key not in _DERIVATIVES:
        _DERIVATIVES[key] = p.expr if order == 0 else td.diff(derivative(p, var, order - 1), var)
    return _DERIVATIVES[key]


def evaluate(p, e, **options):
    return np.asarray(td.evaluate(e, p.values, functions=p.functions, **options))


def jax_values(p):
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in p.values.items()}


def direction_for(p, var):
    rng = np.random.default_rng(sum(map(ord, p.name + var.name)))
    v = rng.standard_normal(np.shape(p.values[var.name]))
    return sym(v) if getattr(var, "symmetric", False) else v


def contract(tensor, v, order):
    """The order-k derivative tensor contracted with the direction v in each of its k slots."""
    for _ in range(order):
        tensor = np.tensordot(tensor, v, axes=v.ndim)
    return tensor


FULL_JACOBIAN_ENTRIES = 400   # a full nested jacfwd up to this size; beyond, along a random direction only


def wants_full(p, var, order):
    entries = np.size(evaluate(p, p.expr)) * np.size(p.values[var.name]) ** order
    return order == 1 or (order <= 3 and entries <= FULL_JACOBIAN_ENTRIES)


@functools.cache
def jax_reference(name):
    """Everything the problem is compared with in jax, from one jitted function (one compile per
    problem): the value, the derivatives in full and along a direction, and for a scalar problem
    in several symbols the gradient and Hessian blocks (as jax.grad/jax.hessian with argnums)."""
    p = get(name)
    base = jax_values(p)
    directions = {var.name: jnp.asarray(direction_for(p, var)) for var in p.wrt}
    names = [var.name for var in p.wrt]
    symmetric = {var.name: getattr(var, "symmetric", False) for var in p.wrt}

    def everything(values):
        out = {"value": p.twin(values)}
        for var in p.wrt:
            def full(z, var=var):
                return p.twin({**values, var.name: sym(z) if symmetric[var.name] else z})

            def along(t, var=var):
                return p.twin({**values, var.name: values[var.name] + t * directions[var.name]})
            for order in range(1, max(p.orders) + 1):
                full, along = jax.jacfwd(full), jax.jacfwd(along)
                if order in p.orders:
                    out[f"{var.name} {order} along"] = along(jnp.float64(0.0))
                    if wants_full(p, var, order):
                        out[f"{var.name} {order} full"] = full(values[var.name])
        if p.several:
            def joint(*args):
                args = [sym(a) if symmetric[n] else a for a, n in zip(args, names)]
                return p.twin({**values, **dict(zip(names, args))})
            argnums = tuple(range(len(names)))
            out["grad"] = jax.grad(joint, argnums=argnums)(*[values[n] for n in names])
            out["hessian"] = jax.hessian(joint, argnums=argnums)(*[values[n] for n in names])
        return out
    return jax.tree_util.tree_map(np.asarray, jax.jit(everything)(base))


NAMES = sorted(PROBLEMS)


def _options(kind):
    """The names of the problems with an option, read once at collection; the problems are then
    dropped, so that their symbols are alive only while this module's tests run (td.parse reads a
    bare name as the live symbol of that name, which other modules' tests must not see)."""
    chosen = {"jax": [n for n in NAMES if "jax" in get(n).backends], "dask": [n for n in NAMES if "dask" in get(n).backends],
              "several": [n for n in NAMES if get(n).several], "printed": [n for n in NAMES if get(n).printed]}
    return chosen[kind]


JAX_BACKEND, DASK_BACKEND, SEVERAL, PRINTED = _options("jax"), _options("dask"), _options("several"), _options("printed")
get.cache_clear()
gc.collect()


@pytest.fixture(autouse=True, scope="module")
def _drop_the_problems_afterwards():
    yield
    get.cache_clear()
    jax_reference.cache_clear()
    _DERIVATIVES.clear()
    gc.collect()


def test_there_are_at_least_forty_problems():
    assert len(PROBLEMS) >= 40
    assert all(get(n).expr.shape == () for n in NAMES if get(n).several)   # jax.grad/hessian need a scalar


@pytest.mark.parametrize("name", NAMES)
def test_value_and_derivatives_match_jax(name):
    p = get(name)
    reference = jax_reference(name)
    assert_close(evaluate(p, p.expr), reference["value"], EXACT, f"{name} value")
    for var in p.wrt:
        for order in p.orders:
            got = evaluate(p, derivative(p, var, order))
            if wants_full(p, var, order):
                assert_close(got, reference[f"{var.name} {order} full"], EXACT, f"{name}: order {order} in {var.name}")
            assert_close(contract(got, direction_for(p, var), order), reference[f"{var.name} {order} along"], EXACT,
                         f"{name}: order {order} in {var.name} along a direction")


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_finite_differences(name):
    p = get(name)
    for var in p.wrt:
        for order in [k for k in p.orders if k <= 2 or np.size(p.values[var.name]) <= 4]:
            lower = derivative(p, var, order - 1)
            numeric = numeric_diff(lower, var, p.values, functions=p.functions)
            assert_close(evaluate(p, derivative(p, var, order)), numeric, FD, f"{name}: FD order {order} in {var.name}")


@pytest.mark.parametrize("name", NAMES)
def test_compiled_program_equals_evaluate(name):
    p = get(name)
    exprs = [p.expr] + [derivative(p, var, k) for var in p.wrt for k in p.orders if k <= 2]
    program = td.compile(exprs)
    results = program(p.values, functions=p.functions) if p.functions else program(p.values)
    assert isinstance(results, tuple) and len(results) == len(exprs)
    for e, got in zip(exprs, results):
        assert_close(got, evaluate(p, e), 1e-10, f"{name}: compile vs evaluate of {td.index_notation(e)[:60]}")
    again = program(**p.values, functions=p.functions) if p.functions else program(**p.values)   # reusable
    for first, second in zip(results, again):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", JAX_BACKEND)
def test_jax_backend(name):
    p = get(name)
    for e in [p.expr] + [derivative(p, var, 1) for var in p.wrt]:
        got = td.evaluate(e, p.values, backend="jax")
        assert type(got).__module__.startswith("jax"), type(got)
        assert_close(np.asarray(got), evaluate(p, e), 1e-10, f"{name}: backend jax")


@pytest.mark.parametrize("name", DASK_BACKEND)
def test_dask_backend(name):
    pytest.importorskip("dask")
    p = get(name)
    for e in [p.expr] + [derivative(p, var, k) for var in p.wrt for k in (1, 2)]:
        got = td.evaluate(e, p.values, backend="dask")
        assert_close(np.asarray(got.compute()), evaluate(p, e), 1e-10, f"{name}: backend dask")


@pytest.mark.parametrize("name", SEVERAL)   # scalar problems
def test_several_variables_hessian_blocks(name):
    p = get(name)
    blocks = td.hessian(p.expr, p.wrt)
    grads = td.grad(p.expr, p.wrt)
    reference = jax_reference(name)
    got_h = td.compile(blocks)(p.values)
    got_g = td.evaluate(list(grads), p.values)
    names = [v.name for v in p.wrt]
    for i in range(len(names)):
        assert_close(got_g[i], reference["grad"][i], EXACT, f"{name}: grad {names[i]}")
        for j in range(len(names)):
            assert_close(got_h[i][j], reference["hessian"][i][j], EXACT, f"{name}: hessian block {names[i]},{names[j]}")


def printable_exprs(p):
    return [p.expr] + [derivative(p, var, 1) for var in p.wrt]


@pytest.mark.parametrize("name", PRINTED)
def test_printed_forms(name):
    p = get(name)
    for e in printable_exprs(p):
        latex = td.latex(e)
        assert isinstance(latex, str) and latex
        index = td.index_notation(e)
        assert isinstance(index, str) and index
        # a dim the result no longer holds (I_e in d(A@V)/dV) is sized by the problem's own symbols
        code = td.to_einsum(e, sized_by=symbols_of(p.expr))
        scope = {"np": np, **{k: np.asarray(v) for k, v in p.values.items()}}
        exec(code, scope)   # noqa: S102 - the generated code is the thing under test
        assert_close(scope["out"], evaluate(p, e), 1e-10, f"{name}: to_einsum of {index[:60]}")


@pytest.mark.parametrize("name", PRINTED)
def test_matrix_notation_parses_back(name):
    p = get(name)
    tried = 0
    for e in printable_exprs(p):
        if e.ndim > 2:
            continue
        text = str(td.matrix_notation(e))
        if text.startswith("no matrix notation"):
            continue
        tried += 1
        parsed = td.parse(text, symbols=symbols_of(e))
        assert parsed.shape == e.shape, (text, parsed.shape, e.shape)
        assert_close(evaluate(p, parsed), evaluate(p, e), 1e-9, f"{name}: parse({text!r})")
    assert tried or name in NO_MATRIX_FORM, f"{name}: nothing printed in matrix notation"


# Problems whose expression and first derivatives all have no matrix notation today (index notation only).
NO_MATRIX_FORM = {"layer_norm_batch_rows", "max_along_axis", "log_softmax_columns", "tensor_contraction_einsum",
                  "stack_and_concatenate", "triangle_masked_quadratic"}
