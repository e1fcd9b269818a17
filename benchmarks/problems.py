"""The benchmark problems: one table, ``PROBLEMS``, used by ``benchmarks/run.py``.

Each problem gives
  sizes        small / medium / large: a dict of dim sizes (keys are the tensordiff dim names)
  out          the output's dims, e.g. "p n p" (the floor allocates this shape)
  inputs       (sizes, rng) -> {symbol name: numpy array}
  tensordiff   () -> the derivative expression (builds the symbols and differentiates)
  closed       (**inputs) -> the hand-written closed form: the "limit" every method is checked against
  peer         (function, wrt, mode): the primal written once over a namespace ``ns`` (jax.numpy,
               torch or autograd.numpy, see run.py) and the transform that jax / torch.func /
               autograd apply to it ("grad", "jacfwd", "jacrev" or "hessian") with respect to ``wrt``
  fd           (lower, wrt): a closed form one order lower; at the small size the closed form must
               equal central finite differences of ``lower`` with respect to ``wrt``
  memory_bound whether the output is so large that writing it dominates (target: within 3x of the floor)

The primal functions use only ``@ .T + - * / **`` and ``ns.solve / eye / tanh / exp / log / sum /
logdet`` so that the same code runs on every peer.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

import tensordiff as td


@dataclass(frozen=True)
class Problem:
    title: str
    sizes: dict
    out: str
    inputs: Callable
    tensordiff: Callable
    closed: Callable
    peer: tuple
    fd: tuple = None
    memory_bound: bool = False

    def shape(self, size):
        return tuple(self.sizes[size][d] for d in self.out.split())


def _randn(rng, *shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------- ridge: dw/dalpha

def ridge_inputs(s, rng):
    return dict(X=_randn(rng, s["N"], s["D"]), y=_randn(rng, s["N"]), alpha=np.float64(0.7))


def ridge_td():
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    w = td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y
    return td.diff(w, alpha)


def ridge_w(X, y, alpha):
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)


def ridge_closed(X, y, alpha):
    """dw/dalpha = -(X'X + alpha I)^-1 w."""
    M = X.T @ X + alpha * np.eye(X.shape[1])
    return -np.linalg.solve(M, np.linalg.solve(M, X.T @ y))


def ridge_peer(ns, alpha, X, y):
    return ns.solve(X.T @ X + alpha * ns.eye(X.shape[1]), X.T @ y)


# ---------------------------------------------------------------- Tikhonov map q(X): Jacobian and Hessian

def tikhonov_inputs(s, rng):
    return dict(X=_randn(rng, s["n"], s["p"]), y=_randn(rng, s["n"]), lam=np.float64(0.5))


def tikhonov_q_td():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return X, td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y


def tikhonov_J_td():
    X, q = tikhonov_q_td()
    return td.diff(q, X)


def tikhonov_H_td():
    X, q = tikhonov_q_td()
    return td.diff(q, X, order=2)


def _tikhonov_parts(X, y, lam):
    """Mi = (X'X + lam I)^-1, Q = Mi X' (p x n), q = Q y, z = y - X q."""
    Mi = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    Q = Mi @ X.T
    q = Q @ y
    return Mi, Q, q, y - X @ q


def tikhonov_q(X, y, lam):
    return _tikhonov_parts(X, y, lam)[2]


def tikhonov_J_closed(X, y, lam):
    """J[a,i,j] = dq_a/dX_ij = Mi[a,j] z[i] - Q[a,i] q[j]: for each a a rank-2 product
    [z, -Q[a]] (n x 2) @ [Mi[a]; q] (2 x p), done as one batched matmul that writes J once."""
    Mi, Q, q, z = _tikhonov_parts(X, y, lam)
    p, n = Q.shape
    left = np.empty((p, n, 2))
    left[:, :, 0], left[:, :, 1] = z, -Q
    right = np.empty((p, 2, p))
    right[:, 0, :], right[:, 1, :] = Mi, q
    return left @ right


def tikhonov_H_closed(X, y, lam):
    """H[a,i,j,k,l] = d^2 q_a / dX_ij dX_kl, derived by hand from J above.

    With dMi[a,j]/dX_kl = -Mi[a,l] Q[j,k] - Q[a,k] Mi[l,j],
         dz[i]/dX_kl    = -delta_ik q[l] - Q[l,i] z[k] + P[i,k] q[l]          (P = X Q = X Mi X')
         dQ[a,i]/dX_kl  = -Mi[a,l] P[i,k] - Q[a,k] Q[l,i] + delta_ik Mi[a,l]
    the product rule on J gives ten terms, which group by their factor carrying the index a:
        H = Mi[a,l] B[i,j,k] + Mi[a,j] C[i,k,l] + Q[a,k] D[i,j,l] + Q[a,i] E[j,k,l]
        B[i,j,k] = (P - I)[i,k] q[j] - z[i] Q[j,k]
        C[i,k,l] = (P - I)[i,k] q[l] - Q[l,i] z[k]
        D[i,j,l] = Q[l,i] q[j] - z[i] Mi[l,j]
        E[j,k,l] = Q[j,k] q[l] - Mi[j,l] z[k]
    It is symmetric under (i,j) <-> (k,l) (B <-> C, D <-> E), as a Hessian must be.
    """
    Mi, Q, q, z = _tikhonov_parts(X, y, lam)
    n, p = X.shape
    PI = X @ Q - np.eye(n)
    B = PI[:, None, :] * q[None, :, None] - z[:, None, None] * Q[None, :, :]   # (i, j, k)
    C = PI[:, :, None] * q[None, None, :] - Q.T[:, None, :] * z[None, :, None]  # (i, k, l)
    D = Q.T[:, None, :] * q[None, :, None] - z[:, None, None] * Mi[None, :, :]  # (i, j, l)
    E = Q[:, :, None] * q[None, None, :] - Mi[:, None, :] * z[None, :, None]    # (j, k, l)
    H = np.empty((p, n, p, n, p))
    rows = max(1, 32768 // (p * n * p))  # i-rows per block: a block of H[a] of ~256 kB stays in cache
    for a in range(p):
        for i in range(0, n, rows):
            h, sl = H[a, i:i + rows], slice(i, i + rows)  # (i, j, k, l) block
            np.multiply(B[sl, :, :, None], Mi[a], out=h)
            h += Mi[a][None, :, None, None] * C[sl, None, :, :]
            h += D[sl, :, None, :] * Q[a][None, None, :, None]
            h += Q[a, sl, None, None, None] * E[None]
    return H


def tikhonov_peer(ns, X, y, lam):
    return ns.solve(X.T @ X + lam * ns.eye(X.shape[1]), X.T @ y)


# ---------------------------------------------------------------- one-layer network ||tanh(XW)a - y||^2

def nn_inputs(s, rng):
    return dict(W=_randn(rng, s["d"], s["k"]) / np.sqrt(s["d"]), X=_randn(rng, s["n"], s["d"]),
                a=_randn(rng, s["k"]), y=_randn(rng, s["n"]))


def nn_f_td():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    return W, td.norm(td.tanh(X @ W) @ a - y) ** 2


def nn_grad_td():
    W, f = nn_f_td()
    return td.grad(f, W)


def nn_hess_td():
    W, f = nn_f_td()
    return td.hessian(f, W)


def nn_f(W, X, a, y):
    e = np.tanh(X @ W) @ a - y
    return e @ e


def nn_grad_closed(W, X, a, y):
    """2 X' (h'(XW) * e a'), e = tanh(XW) a - y."""
    h = np.tanh(X @ W)
    e = h @ a - y
    return 2 * X.T @ ((1 - h * h) * np.outer(e, a))


def nn_hess_closed(W, X, a, y):
    """H[i,j,i',j'] = 2 sum_n X[n,i] X[n,i'] (a_j a_j' h'[n,j] h'[n,j'] - 2 delta_jj' a_j e_n h[n,j] h'[n,j]):
    a Gauss-Newton part G'G with G[n,(i,j)] = X[n,i] h'[n,j] a_j, plus a part block-diagonal in j."""
    h = np.tanh(X @ W)
    dh = 1 - h * h
    e = h @ a - y
    n, d = X.shape
    k = W.shape[1]
    G = (X[:, :, None] * (dh * a)[:, None, :]).reshape(n, d * k)
    H = (2 * (G.T @ G)).reshape(d, k, d, k)
    Dn = -4 * (e[:, None] * h * dh) * a  # (n, k)
    blocks = ((X[:, None, :] * Dn[:, :, None]).reshape(n, k * d).T @ X).reshape(k, d, d)  # [j, i, i']
    H[:, np.arange(k), :, np.arange(k)] += blocks
    return H


def nn_peer(ns, W, X, a, y):
    e = ns.tanh(X @ W) @ a - y
    return ns.sum(e * e)


# ---------------------------------------------------------------- log det(WW' + s^2 I)

def logdet_inputs(s, rng):
    return dict(W=_randn(rng, s["n"], s["m"]), s=np.float64(0.8))


def logdet_f_td():
    W, s = td.matrix("W", "n m"), td.scalar("s")
    return W, td.logdet(W @ W.T + s ** 2 * td.eye("n"))


def logdet_grad_td():
    W, f = logdet_f_td()
    return td.grad(f, W)


def logdet_hess_td():
    W, f = logdet_f_td()
    return td.hessian(f, W)


def logdet_f(W, s):
    return np.linalg.slogdet(W @ W.T + s ** 2 * np.eye(W.shape[0]))[1]


def logdet_grad_closed(W, s):
    """2 A^-1 W, A = WW' + s^2 I."""
    return 2 * np.linalg.solve(W @ W.T + s ** 2 * np.eye(W.shape[0]), W)


def logdet_hess_closed(W, s):
    """H[a,b,c,d] = 2 Ai[a,c] (I - W' Ai W)[b,d] - 2 B[a,d] B[c,b],  Ai = A^-1, B = Ai W."""
    n, m = W.shape
    Ai = np.linalg.inv(W @ W.T + s ** 2 * np.eye(n))
    B = Ai @ W
    S2 = 2 * (np.eye(m) - W.T @ B)
    H = np.empty((n, m, n, m))
    tmp = np.empty((m, n, m))
    for a in range(n):  # one (m, n, m) slab at a time
        np.multiply(Ai[a][None, :, None], S2[:, None, :], out=H[a])
        np.multiply(2 * B[a][None, None, :], B.T[:, :, None], out=tmp)
        H[a] -= tmp
    return H


def logdet_peer(ns, W, s):
    return ns.logdet(W @ W.T + s ** 2 * ns.eye(W.shape[0]))


# ---------------------------------------------------------------- logistic regression Hessian

def logreg_inputs(s, rng):
    return dict(w=_randn(rng, s["d"]) / np.sqrt(s["d"]), X=_randn(rng, s["n"], s["d"]),
                y=rng.choice([-1.0, 1.0], s["n"]))


def logreg_hess_td():
    X, w, y = td.matrix("X", "n d"), td.vector("w", "d"), td.vector("y", "n")
    f = td.sum(td.log(1 + td.exp(-y * (X @ w))))
    return td.hessian(f, w)


def logreg_grad(w, X, y):
    return -X.T @ (y / (1 + np.exp(y * (X @ w))))


def logreg_hess_closed(w, X, y):
    """X' diag(y^2 s(1-s)) X, s = sigmoid(y * Xw)."""
    s = 1 / (1 + np.exp(-y * (X @ w)))
    return (X * (y * y * s * (1 - s))[:, None]).T @ X


def logreg_peer(ns, w, X, y):
    return ns.sum(ns.log(1 + ns.exp(-y * (X @ w))))


# ---------------------------------------------------------------- matrix factorisation ||T - UV'||^2

def mf_inputs(s, rng):
    return dict(U=_randn(rng, s["m"], s["r"]), V=_randn(rng, s["n"], s["r"]), T=_randn(rng, s["m"], s["n"]))


def mf_hess_td():
    T, U, V = td.matrix("T", "m n"), td.matrix("U", "m r"), td.matrix("V", "n r")
    R = T - U @ V.T
    return td.hessian(td.sum(R * R), U)


def mf_grad(U, V, T):
    return -2 * (T - U @ V.T) @ V


def mf_hess_closed(U, V, T):
    """2 delta_ii' (V'V)_kk': zeros with V'V written on the (i, i') diagonal."""
    m, r = U.shape
    H = np.zeros((m, r, m, r))
    np.einsum("ikil->ikl", H)[...] = 2 * (V.T @ V)
    return H


def mf_peer(ns, U, V, T):
    R = T - U @ V.T
    return ns.sum(R * R)


# ---------------------------------------------------------------- the table

PROBLEMS = {
    "ridge": Problem(
        "ridge dw/dalpha, w = (X'X + alpha I)^-1 X'y",
        dict(small=dict(N=200, D=20), medium=dict(N=2000, D=200), large=dict(N=10000, D=500)),
        "D", ridge_inputs, ridge_td, ridge_closed, (ridge_peer, "alpha", "jacfwd"),
        fd=(ridge_w, "alpha")),
    "tikhonov-J": Problem(
        "Tikhonov Jacobian dq/dX (order 3)",
        dict(small=dict(n=50, p=10), medium=dict(n=500, p=40), large=dict(n=3000, p=100)),
        "p n p", tikhonov_inputs, tikhonov_J_td, tikhonov_J_closed, (tikhonov_peer, "X", "jacrev"),
        fd=(tikhonov_q, "X"), memory_bound=True),
    "tikhonov-H": Problem(
        "Tikhonov Hessian d2q/dX2 (order 5)",
        dict(small=dict(n=10, p=4), medium=dict(n=30, p=8), large=dict(n=64, p=16)),
        "p n p n p", tikhonov_inputs, tikhonov_H_td, tikhonov_H_closed, (tikhonov_peer, "X", "hessian"),
        fd=(tikhonov_J_closed, "X"), memory_bound=True),
    "nn-grad": Problem(
        "||tanh(XW)a - y||^2: gradient wrt W",
        dict(small=dict(n=100, d=10, k=5), medium=dict(n=2000, d=50, k=20), large=dict(n=20000, d=200, k=100)),
        "d k", nn_inputs, nn_grad_td, nn_grad_closed, (nn_peer, "W", "grad"), fd=(nn_f, "W")),
    "nn-hess": Problem(
        "||tanh(XW)a - y||^2: Hessian wrt W",
        dict(small=dict(n=50, d=8, k=4), medium=dict(n=500, d=20, k=20), large=dict(n=1000, d=50, k=40)),
        "d k d k", nn_inputs, nn_hess_td, nn_hess_closed, (nn_peer, "W", "hessian"), fd=(nn_grad_closed, "W")),
    "logdet-grad": Problem(
        "log det(WW' + s^2 I): gradient wrt W",
        dict(small=dict(n=10, m=20), medium=dict(n=200, m=300), large=dict(n=1000, m=2000)),
        "n m", logdet_inputs, logdet_grad_td, logdet_grad_closed, (logdet_peer, "W", "grad"), fd=(logdet_f, "W")),
    "logdet-hess": Problem(
        "log det(WW' + s^2 I): Hessian wrt W",
        dict(small=dict(n=8, m=10), medium=dict(n=30, m=40), large=dict(n=64, m=100)),
        "n m n m", logdet_inputs, logdet_hess_td, logdet_hess_closed, (logdet_peer, "W", "hessian"),
        fd=(logdet_grad_closed, "W"), memory_bound=True),
    "logreg-hess": Problem(
        "logistic regression Hessian, f = sum log(1 + exp(-y*(Xw)))",
        dict(small=dict(n=500, d=20), medium=dict(n=5000, d=100), large=dict(n=20000, d=400)),
        "d d", logreg_inputs, logreg_hess_td, logreg_hess_closed, (logreg_peer, "w", "hessian"),
        fd=(logreg_grad, "w")),
    "mf-hess": Problem(
        "matrix factorisation ||T - UV'||_F^2: Hessian wrt U",
        dict(small=dict(m=20, n=30, r=4), medium=dict(m=200, n=300, r=8), large=dict(m=600, n=800, r=8)),
        "m r m r", mf_inputs, mf_hess_td, mf_hess_closed, (mf_peer, "U", "hessian"),
        fd=(mf_grad, "U"), memory_bound=True),
}

SIZES = ("small", "medium", "large")
