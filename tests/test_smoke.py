import numpy as np

import tensordiff as td


def test_tikhonov_jacobian_matches_closed_form():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    rng = np.random.default_rng(1)
    Xv, yv = rng.standard_normal((9, 4)), rng.standard_normal(9)
    Mi = np.linalg.inv(Xv.T @ Xv + 0.5 * np.eye(4))
    qv = Mi @ Xv.T @ yv
    closed = np.einsum("aj,i->aij", Mi, yv - Xv @ qv) - np.einsum("ai,j->aij", Mi @ Xv.T, qv)
    np.testing.assert_allclose(td.evaluate(td.diff(q, X), X=Xv, y=yv, lam=0.5), closed, atol=1e-12)
