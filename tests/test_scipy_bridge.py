"""td.scipy_objective: scipy.optimize.minimize finds the optimum of ridge regression (against its
closed form) and logistic regression (against a plain-numpy Newton method); fun/jac/hessp/hess
agree with finite differences and with each other; the cache saves evaluations; bad vectors and
bad arguments are clear errors."""

import numpy as np
import pytest

import tensordiff as td

optimize = pytest.importorskip("scipy.optimize")

RNG = np.random.default_rng(145)


@pytest.fixture
def ridge():
    """Multi-output ridge ‖XW + 1bᵀ - Y‖² + λ‖W‖² (b not penalized) with W (p, k) and b (k)."""
    X, Y, W = td.matrix("X", "n p"), td.matrix("Y", "n k"), td.matrix("W", "p k")
    b, ones, lam = td.vector("b", "k"), td.vector("ones", "n"), td.scalar("lam")
    f = td.norm(X @ W + td.outer(ones, b) - Y) ** 2 + lam * td.norm(W) ** 2
    n, p, k = 30, 4, 3
    constants = dict(X=RNG.standard_normal((n, p)), Y=RNG.standard_normal((n, k)), ones=np.ones(n), lam=0.7)
    return f, W, b, constants


def _ridge_closed_form(X, Y, lam, **_):
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - x_mean, Y - y_mean
    W = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ Yc)
    return W, y_mean - x_mean @ W


@pytest.mark.parametrize("method", ["trust-ncg", "Newton-CG", "trust-krylov"])
def test_ridge_optimum_is_the_closed_form(ridge, method):
    f, W, b, constants = ridge
    obj = td.scipy_objective(f, [W, b], **constants)
    x0 = obj.x0(W=np.zeros((4, 3)), b=np.zeros(3))
    result = optimize.minimize(obj.fun, x0, jac=obj.jac, hessp=obj.hessp, method=method,
                               options=dict(gtol=1e-7) if method != "Newton-CG" else dict(xtol=1e-10))
    found = obj.unflatten(result.x)
    W_best, b_best = _ridge_closed_form(**constants)
    assert result.success
    np.testing.assert_allclose(found["W"], W_best, atol=1e-7)
    np.testing.assert_allclose(found["b"], b_best, atol=1e-7)


def test_ridge_with_the_whole_hessian(ridge):
    f, W, b, constants = ridge
    obj = td.scipy_objective(f, [W, b], **constants)
    result = optimize.minimize(obj.fun, obj.x0(W=np.ones((4, 3)), b=np.ones(3)), jac=obj.jac, hess=obj.hess,
                               method="trust-exact")
    W_best, b_best = _ridge_closed_form(**constants)
    np.testing.assert_allclose(obj.unflatten(result.x)["W"], W_best, atol=1e-7)
    np.testing.assert_allclose(obj.unflatten(result.x)["b"], b_best, atol=1e-7)


def _logistic_newton(X, y, lam):
    """Plain numpy: Newton's method for Σ log(1 + exp(-y (Xw + b))) + λ/2 ‖w‖²."""
    n, p = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    theta = np.zeros(p + 1)
    penalty = lam * np.diag(np.r_[np.ones(p), 0.0])
    for _ in range(50):
        margin = y * (A @ theta)
        s = 1 / (1 + np.exp(margin))           # σ(-margin)
        gradient = -A.T @ (y * s) + penalty @ theta
        hessian = A.T @ (A * (s * (1 - s))[:, None]) + penalty
        theta = theta - np.linalg.solve(hessian, gradient)
    return theta[:p], theta[p]


def test_logistic_regression_optimum_matches_newtons_method():
    X, y, w = td.matrix("X", "n p"), td.vector("y", "n"), td.vector("w", "p")
    b, ones, lam = td.scalar("b"), td.vector("ones", "n"), td.scalar("lam")
    f = td.sum(td.softplus(-(y * (X @ w + b * ones)))) + 0.5 * lam * (w @ w)
    n, p = 60, 3
    Xv = RNG.standard_normal((n, p))
    yv = np.where(Xv @ np.array([1.0, -2.0, 0.5]) + 0.3 + RNG.standard_normal(n) > 0, 1.0, -1.0)
    constants = dict(X=Xv, y=yv, ones=np.ones(n), lam=0.1)
    obj = td.scipy_objective(f, [w, b], **constants)
    result = optimize.minimize(obj.fun, obj.x0(w=np.zeros(p), b=0.0), jac=obj.jac, hessp=obj.hessp,
                               method="trust-ncg", options=dict(gtol=1e-9))
    w_best, b_best = _logistic_newton(Xv, yv, 0.1)
    assert result.success
    np.testing.assert_allclose(obj.unflatten(result.x)["w"], w_best, atol=1e-7)
    np.testing.assert_allclose(obj.unflatten(result.x)["b"], b_best, atol=1e-7)
    assert obj.unflatten(result.x)["b"].shape == ()


def test_fun_jac_hessp_hess_against_finite_differences(ridge):
    # a non-quadratic objective, so the Hessian depends on the point
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    W, a, c = td.matrix("W", "p k"), td.vector("a", "k"), td.scalar("c")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2 + td.exp(c) * td.sum(td.sin(W)) + td.logdet(W.T @ W + c ** 2 * td.eye("k"))
    constants = dict(X=RNG.standard_normal((6, 3)), y=RNG.standard_normal(6))
    obj = td.scipy_objective(f, [W, a, c], **constants)
    x = obj.x0(W=0.5 * RNG.standard_normal((3, 2)), a=RNG.standard_normal(2), c=0.3)
    assert x.shape == (3 * 2 + 2 + 1,)
    eps = 1e-6
    basis = np.eye(x.size)
    numeric_jac = np.array([(obj.fun(x + eps * e) - obj.fun(x - eps * e)) / (2 * eps) for e in basis])
    np.testing.assert_allclose(obj.jac(x), numeric_jac, rtol=1e-6, atol=1e-7)
    numeric_hess = np.array([(obj.jac(x + eps * e) - obj.jac(x - eps * e)) / (2 * eps) for e in basis])
    hess = obj.hess(x)
    np.testing.assert_allclose(hess, numeric_hess, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hess, hess.T, atol=1e-12)
    p = RNG.standard_normal(x.size)
    np.testing.assert_allclose(obj.hessp(x, p), hess @ p, rtol=1e-10, atol=1e-10)
    # the value at a point agrees with evaluating f there
    values = obj.unflatten(x)
    assert obj.fun(x) == pytest.approx(float(td.evaluate(f, **constants, **values)), rel=1e-12)


def test_fun_then_jac_at_one_point_is_one_evaluation(ridge):
    f, W, b, constants = ridge
    obj = td.scipy_objective(f, [W, b], **constants)
    x = obj.x0(W=np.ones((4, 3)), b=np.zeros(3))
    obj.fun(x)
    obj.jac(x)
    obj.fun(x.copy())
    assert obj.evaluations == 1
    obj.hessp(x + 1, np.ones(x.size))   # the point's parts (value and gradient too), then the product
    obj.fun(x + 1)
    obj.jac(x + 1)
    assert obj.evaluations == 3
    obj.hessp(x + 1, np.arange(x.size))   # another direction at the same point: the product part only
    assert obj.evaluations == 4
    gradient = obj.jac(x + 1)
    gradient[:] = 0   # the caller owns what jac returns: the cache is untouched
    assert np.any(obj.jac(x + 1) != 0)


def test_wrong_length_names_the_expected_length(ridge):
    f, W, b, constants = ridge
    obj = td.scipy_objective(f, [W, b], **constants)
    x = obj.x0(W=np.zeros((4, 3)), b=np.zeros(3))
    with pytest.raises(td.ShapeError, match=r"expected a flat vector of length 15 \(W \(4, 3\), b \(3,\)"):
        obj.fun(np.zeros(14))
    with pytest.raises(td.ShapeError, match="length 15"):
        obj.jac(np.zeros((3, 5)))
    with pytest.raises(td.ShapeError, match=r"p has shape \(16,\), expected a flat vector of length 15"):
        obj.hessp(x, np.zeros(16))
    with pytest.raises(td.ShapeError, match="length 15"):
        obj.unflatten(np.zeros(3))


def test_bad_arguments_are_clear_errors(ridge):
    f, W, b, constants = ridge
    X = td.matrix("X", "n p")
    with pytest.raises(td.ShapeError, match="scalar"):
        td.scipy_objective(X @ W, [W], **constants)
    with pytest.raises(td.EvaluationError, match="needs a constant for 'lam'"):
        td.scipy_objective(f, [W, b], **{k: v for k, v in constants.items() if k != "lam"})
    with pytest.raises(td.TensorDiffError, match="'W' is optimized over"):
        td.scipy_objective(f, [W, b], W=np.zeros((4, 3)), **constants)
    with pytest.raises(td.EvaluationError, match="'Z', which is no symbol"):
        td.scipy_objective(f, [W, b], Z=1.0, **constants)
    with pytest.raises(td.TensorDiffError, match="list of symbols"):
        td.scipy_objective(f, [W @ W.T], **constants)
    with pytest.raises(td.TensorDiffError, match="'b' appears twice"):
        td.scipy_objective(f, [W, b, b], **constants)
    with pytest.raises(td.ShapeError, match="dim 'p' is 4 elsewhere but 5"):
        td.scipy_objective(f, [W, b], **constants).x0(W=np.zeros((5, 3)), b=np.zeros(3))
    with pytest.raises(td.EvaluationError, match="'lam' must be a number or an array, got str"):
        td.scipy_objective(f, [W, b], **{**constants, "lam": "0.7"})
    with pytest.raises(td.EvaluationError, match="'lam' must hold real numbers"):
        td.scipy_objective(f, [W, b], **{**constants, "lam": 0.7 + 1j})
    obj = td.scipy_objective(f, [W, b], **constants)
    with pytest.raises(td.EvaluationError, match="x0 needs a value for 'b'"):
        obj.x0(W=np.zeros((4, 3)))
    with pytest.raises(td.EvaluationError, match="not 'Y'"):
        obj.x0(W=np.zeros((4, 3)), b=np.zeros(3), Y=np.zeros((30, 3)))


def test_a_dim_only_wrt_has_needs_x0_first():
    X, y, W, a = td.matrix("X", "n p"), td.vector("y", "n"), td.matrix("W", "p k"), td.vector("a", "k")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    obj = td.scipy_objective(f, [W, a], X=np.ones((5, 2)), y=np.ones(5))
    with pytest.raises(td.EvaluationError, match="size of dim 'k' of 'W' is not known yet: call x0"):
        obj.fun(np.zeros(6))
    x = obj.x0(W=np.zeros((2, 4)), a=np.zeros(4))
    assert x.size == 12 and obj.fun(x) == pytest.approx(5 * 1.0)


def test_hessian_products_reuse_what_the_point_fixes():
    # the inverse in ∂²/∂W² logdet(WᵀAW) is computed once per point, not once per product
    A, W, c = td.matrix("A", "n n"), td.matrix("W", "n k"), td.vector("c", "k")
    f = -td.logdet(W.T @ A @ W) + td.norm(W) ** 2 + td.sum(td.exp(W @ c))
    rng = np.random.default_rng(9)
    a = rng.standard_normal((5, 5))
    obj = td.scipy_objective(f, [W, c], A=a @ a.T + 5 * np.eye(5))
    x = obj.x0(W=0.3 * rng.standard_normal((5, 2)), c=0.1 * rng.standard_normal(2))
    factorising = (td.expr.Inv, td.expr.Solve, td.expr.LogDet)
    assert any(isinstance(node, factorising) for node, *_ in obj.program.steps)
    hess = obj.hess(x)
    for seed in range(3):
        p = np.random.default_rng(seed).standard_normal(x.size)
        np.testing.assert_allclose(obj.hessp(x, p), hess @ p, rtol=1e-10, atol=1e-10)
        ran = [obj.program.steps[k][0] for k in obj.evaluation.last_run]
        assert ran and not any(isinstance(node, factorising) for node in ran)   # only the steps reading p
        assert obj.evaluation.steps_reused > 0
    assert obj.evaluations == 1 + 3   # hess (the point's work), then three products


def test_a_single_symbol_and_a_symbol_f_does_not_use():
    A, x, z = td.matrix("A", "n n"), td.vector("x", "n"), td.vector("z", "m")
    a = RNG.standard_normal((3, 3))
    spd = a @ a.T + np.eye(3)
    f = x @ A @ x - td.sum(x)
    single = td.scipy_objective(f, x, A=spd)
    result = optimize.minimize(single.fun, single.x0(x=np.zeros(3)), jac=single.jac, method="L-BFGS-B",
                               options=dict(gtol=1e-12))
    np.testing.assert_allclose(single.unflatten(result.x)["x"], np.linalg.solve(2 * spd, np.ones(3)), atol=1e-6)
    both = td.scipy_objective(f, [x, z], A=spd)   # z is free: its gradient and Hessian blocks are zero
    v = both.x0(x=np.ones(3), z=np.ones(2))
    np.testing.assert_allclose(both.jac(v), np.r_[2 * spd @ np.ones(3) - 1, 0, 0])
    expected = np.zeros((5, 5))
    expected[:3, :3] = 2 * spd
    np.testing.assert_allclose(both.hess(v), expected)
    np.testing.assert_allclose(both.hessp(v, np.arange(5.0)), expected @ np.arange(5.0))


def _network():
    X, y = td.matrix("X", "n d"), td.vector("y", "n")
    W1, b1, w2, ones = td.matrix("W1", "d h"), td.vector("b1", "h"), td.vector("w2", "h"), td.vector("ones", "n")
    f = td.norm(td.tanh(X @ W1 + td.outer(ones, b1)) @ w2 - y) ** 2 + 0.01 * (td.norm(W1) ** 2 + w2 @ w2)
    rng = np.random.default_rng(21)
    constants = dict(X=rng.standard_normal((12, 3)), y=rng.standard_normal(12), ones=np.ones(12))
    point = dict(W1=0.5 * rng.standard_normal((3, 4)), b1=0.1 * rng.standard_normal(4), w2=rng.standard_normal(4))
    return f, [W1, b1, w2], constants, point


def test_one_program_agrees_with_separate_programs_and_jax():
    jax = pytest.importorskip("jax")
    f, wrt, constants, point = _network()
    obj = td.scipy_objective(f, wrt, **constants)
    x = obj.x0(**point)
    p = np.random.default_rng(5).standard_normal(x.size)
    # separately compiled programs for the value, the gradients and the Hessian (as before the one program)
    value = td.evaluate(f, **constants, **point)
    gradients = td.compile([td.grad(f, w) for w in wrt])(**constants, **point)
    hessian = td.compile(td.hessian(f, wrt))(**constants, **point)
    H = np.block([[np.reshape(hessian[i][j], (np.size(point[a.name]), np.size(point[b.name])))
                   for j, b in enumerate(wrt)] for i, a in enumerate(wrt)])
    assert obj.fun(x) == pytest.approx(float(value), rel=1e-13)
    np.testing.assert_allclose(obj.jac(x), np.concatenate([np.ravel(g) for g in gradients]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(obj.hess(x), H, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(obj.hessp(x, p), H @ p, rtol=1e-10, atol=1e-10)

    with jax.enable_x64(True):
        import jax.numpy as jnp
        Xj, yj = jnp.asarray(constants["X"]), jnp.asarray(constants["y"])

        def loss(v):
            W1, b1, w2 = v[:12].reshape(3, 4), v[12:16], v[16:]
            r = jnp.tanh(Xj @ W1 + b1) @ w2 - yj
            return r @ r + 0.01 * (jnp.sum(W1 ** 2) + w2 @ w2)
        xj = jnp.asarray(x)
        references = jax.jit(lambda v, d: (loss(v), jax.grad(loss)(v), jax.hessian(loss)(v),
                                           jax.jvp(jax.grad(loss), (v,), (d,))[1]))
        value, gradient, hessian, product = (np.asarray(r) for r in references(xj, jnp.asarray(p)))
        assert obj.fun(x) == pytest.approx(float(value), rel=1e-12)
        np.testing.assert_allclose(obj.jac(x), gradient, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(obj.hess(x), hessian, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(obj.hessp(x, p), product, rtol=1e-10, atol=1e-10)


def test_hessp_against_finite_differences_of_jac_at_many_points():
    f, wrt, constants, point = _network()
    obj = td.scipy_objective(f, wrt, **constants)
    rng = np.random.default_rng(8)
    x = obj.x0(**point)
    for _ in range(3):
        x = x + 0.1 * rng.standard_normal(x.size)
        for _ in range(2):
            p = rng.standard_normal(x.size)
            eps = 1e-6
            numeric = (obj.jac(x + eps * p) - obj.jac(x - eps * p)) / (2 * eps)
            np.testing.assert_allclose(obj.hessp(x, p), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["trust-ncg", "Newton-CG", "trust-krylov"])
def test_a_two_layer_network_converges(method):
    f, wrt, constants, point = _network()
    obj = td.scipy_objective(f, wrt, **constants)
    result = optimize.minimize(obj.fun, obj.x0(**point), jac=obj.jac, hessp=obj.hessp, method=method,
                               options=dict(gtol=1e-8) if method != "Newton-CG" else dict(xtol=1e-12, maxiter=500))
    assert np.linalg.norm(obj.jac(result.x)) < 1e-6
    assert result.fun <= obj.fun(obj.x0(**point))
    # a local minimum: the Hessian there is positive semi-definite
    assert np.linalg.eigvalsh(obj.hess(result.x)).min() > -1e-8


def test_the_one_program_holds_every_output_and_each_call_runs_only_its_part():
    f, wrt, constants, point = _network()
    obj = td.scipy_objective(f, wrt, **constants)
    assert len(obj.program.outputs) == 1 + 3 + 3 + 6   # value, gradients, products, upper Hessian blocks
    x = obj.x0(**point)
    obj.fun(x)
    assert obj.evaluation.steps_run > 0
    obj.jac(x)
    assert obj.evaluation.steps_run == 0
    obj.hessp(x, np.ones(x.size))
    obj.hessp(x, np.arange(x.size, dtype=float))
    ran = [obj.program.steps[k][0] for k in obj.evaluation.last_run]
    names = {v.name for v in obj.directions}
    assert ran and all(node.free & names for node in ran) and len(ran) < len(obj.program.steps) / 2
    obj.hess(x)
    assert all(not node.free & names for node in (obj.program.steps[k][0] for k in obj.evaluation.last_run))


def test_bad_flat_vectors_are_clear_errors():
    f, wrt, constants, point = _network()
    obj = td.scipy_objective(f, wrt, **constants)
    x = obj.x0(**point)
    with pytest.raises(td.ShapeError, match=r"x has shape \(19,\), expected a flat vector of length 20 "
                                             r"\(W1 \(3, 4\), b1 \(4,\), w2 \(4,\), raveled in that order\)"):
        obj.hessp(x[:-1], x)
    with pytest.raises(td.ShapeError, match="length 20"):
        obj.hess(np.zeros(21))
    with pytest.raises(td.EvaluationError, match="x must be a flat vector of 20 numbers"):
        obj.fun(["a"] * 20)
