"""The four seed questions, end to end: build, differentiate, print, evaluate, check.

Run with ``python -m tensordiff --demo``.
"""

import numpy as np

from . import diff, evaluate, grad, check, eye, inv, logdet, matrix, norm, scalar, vector, index_notation
from .functions import FUNCTIONS

tanh = FUNCTIONS["tanh"]

__all__ = ["run"]


def _report(title, derivative, value, closed_form, fd_error):
    print(f"== {title}")
    print(index_notation(derivative))
    agree = np.max(np.abs(value - closed_form))
    print(f"   shape {value.shape}; |tensordiff - closed form| = {agree:.2e}; "
          f"finite-difference relative error = {fd_error:.2e}\n")


def run(seed=0):
    rng = np.random.default_rng(seed)
    for question in (ridge, tikhonov, network, logdet_question):
        question(rng)


def ridge(rng):
    """000: dw/dalpha and dF/dalpha through w(alpha)."""
    X, y, alpha, c = matrix("X", "N D"), vector("y", "N"), scalar("alpha"), scalar("c")
    A = X.T @ X + alpha * eye("D")
    w = inv(A) @ X.T @ y
    F = (y - X @ w) @ (y - X @ w) + alpha * (w @ w - c ** 2)
    vals = dict(X=rng.standard_normal((30, 4)), y=rng.standard_normal(30), alpha=0.7, c=0.3)
    Av = vals["X"].T @ vals["X"] + 0.7 * np.eye(4)
    wv = np.linalg.solve(Av, vals["X"].T @ vals["y"])
    dw = diff(w, alpha)
    _report("000 ridge: dw/dalpha = -inv(X'X + aI) w", dw, evaluate(dw, **vals),
            -np.linalg.solve(Av, wv), check(w, alpha, **vals).max_rel_error)
    dF = diff(F, alpha)
    _report("000 ridge: dF/dalpha = ||w||^2 - c^2 at w = w(alpha)", dF, evaluate(dF, **vals),
            wv @ wv - 0.3 ** 2, check(F, alpha, **vals).max_rel_error)


def tikhonov(rng):
    """001: the Tikhonov map's order-3 Jacobian and order-5 Hessian."""
    X, y, lam = matrix("X", "n p"), vector("y", "n"), scalar("lam")
    M = X.T @ X + lam * eye("p")
    q = inv(M) @ X.T @ y
    vals = dict(X=rng.standard_normal((8, 3)), y=rng.standard_normal(8), lam=0.5)
    Mi = np.linalg.inv(vals["X"].T @ vals["X"] + 0.5 * np.eye(3))
    qv = Mi @ vals["X"].T @ vals["y"]
    z = vals["y"] - vals["X"] @ qv
    closed = np.einsum("aj,i->aij", Mi, z) - np.einsum("ai,j->aij", Mi @ vals["X"].T, qv)
    J = diff(q, X)
    _report("001 Tikhonov Jacobian dq/dX (order 3)", J, evaluate(J, **vals), closed,
            check(q, X, **vals).max_rel_error)
    H = diff(q, X, order=2)
    Hv = evaluate(H, **vals)
    print(f"== 001 Tikhonov Hessian (order 5): shape {Hv.shape}; symmetric in the two X slots: "
          f"{np.allclose(Hv, Hv.transpose(0, 3, 4, 1, 2))}; finite differences of the Jacobian: "
          f"relative error {check(q, X, order=2, **vals).max_rel_error:.2e}\n")


def network(rng):
    """002: ||tanh(XW)a - y||^2."""
    X, W, a, y = matrix("X", "n d"), matrix("W", "d k"), vector("a", "k"), vector("y", "n")
    f = norm(tanh(X @ W) @ a - y) ** 2
    vals = dict(X=rng.standard_normal((10, 3)), W=rng.standard_normal((3, 4)) / 2,
                a=rng.standard_normal(4), y=rng.standard_normal(10))
    Z = vals["X"] @ vals["W"]
    E = np.tanh(Z) @ vals["a"] - vals["y"]
    g = grad(f, W)
    _report("002 network: df/dW = 2 X'(h'(XW) .* (E a'))", g, evaluate(g, **vals),
            2 * vals["X"].T @ ((1 - np.tanh(Z) ** 2) * np.outer(E, vals["a"])),
            check(f, W, **vals).max_rel_error)


def logdet_question(rng):
    """003: log det(WW' + s^2 I)."""
    W, s = matrix("W", "n m"), scalar("s")
    A = logdet(W @ W.T + s ** 2 * eye("n"))
    vals = dict(W=rng.standard_normal((4, 6)), s=0.8)
    C = vals["W"] @ vals["W"].T + 0.64 * np.eye(4)
    g = grad(A, W)
    _report("003 log det: dA/dW = 2 inv(WW' + s^2 I) W", g, evaluate(g, **vals),
            2 * np.linalg.solve(C, vals["W"]), check(A, W, **vals).max_rel_error)
