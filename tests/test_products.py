"""Derivative products built symbolically: directional derivatives, jvp, vjp, hvp."""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(3)


@pytest.fixture
def network():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    V, U = td.matrix("V", "d k"), td.matrix("U", "n k")
    values = dict(X=RNG.standard_normal((6, 3)), W=RNG.standard_normal((3, 2)), a=RNG.standard_normal(2),
                  y=RNG.standard_normal(6), V=RNG.standard_normal((3, 2)), U=RNG.standard_normal((6, 2)))
    return X, W, a, y, V, U, values


def test_hvp_equals_hessian_times_direction(network):
    X, W, a, y, V, U, values = network
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    H = td.evaluate(td.hessian(f, W), **values)
    hv = td.hvp(f, W, V)
    assert hv.shape == W.shape
    np.testing.assert_allclose(td.evaluate(hv, **values), np.einsum("ijkl,kl->ij", H, values["V"]), rtol=1e-12)
    # the product is a sum of products of matrices: no operand carries the Hessian's four axes
    program = td.compile(hv)
    assert all(len(node.shape) <= 2 for node, *_ in program.steps)


def test_jvp_and_vjp_equal_jacobian_contractions(network):
    X, W, a, y, V, U, values = network
    g = td.tanh(X @ W)
    J = td.evaluate(td.diff(g, W), **values)
    np.testing.assert_allclose(td.evaluate(td.jvp(g, W, V), **values), np.einsum("ijkl,kl->ij", J, values["V"]),
                               rtol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.vjp(g, W, U), **values), np.einsum("ij,ijkl->kl", values["U"], J),
                               rtol=1e-12)


def test_directional_derivative_of_second_order_matches_finite_differences(network):
    X, W, a, y, V, U, values = network
    f = td.sum(td.tanh(X @ W) ** 3)
    second = td.diff(f, W, order=2, direction=V)     # d²/dt² f(W + tV) at t = 0
    assert second.shape == ()
    eps = 1e-4
    def at(t):
        return td.evaluate(f, **{**values, "W": values["W"] + t * values["V"]})
    numeric = (at(eps) - 2 * at(0.0) + at(-eps)) / eps ** 2
    np.testing.assert_allclose(td.evaluate(second, **values), numeric, rtol=1e-5)


def test_direction_of_the_wrong_shape_is_a_shape_error(network):
    X, W, a, y, V, U, values = network
    with pytest.raises(td.ShapeError, match="direction"):
        td.diff(X @ W, W, direction=U)
    with pytest.raises(td.ShapeError, match="vjp"):
        td.vjp(X @ W, W, V)


def test_a_direction_that_depends_on_wrt_is_held_fixed_at_every_order(network):
    # Σ H[i,j] g[i] g[j] with g = ∇f(W): contracting, then differentiating again, also
    # differentiated g and gave 2·gᵀHg
    X, W, a, y, V, U, values = network
    f = td.sum(td.tanh(X @ W) ** 3)
    g = td.grad(f, W)
    H, gv = td.evaluate(td.hessian(f, W), **values), td.evaluate(g, **values)
    np.testing.assert_allclose(td.evaluate(td.diff(f, W, order=2, direction=g), **values),
                               np.einsum("ijkl,ij,kl->", H, gv, gv), rtol=1e-10)
    third = td.evaluate(td.diff(f, W, order=3), **values)
    np.testing.assert_allclose(td.evaluate(td.diff(f, W, order=3, direction=W), **values),
                               np.einsum("ijklmn,ij,kl,mn->", third, *[values["W"]] * 3), rtol=1e-10)
    assert "direction for" not in td.index_notation(td.diff(f, W, order=2, direction=g))   # the stand-in is gone


def test_jvp_and_hvp_need_a_direction(network):
    X, W, a, y, V, U, values = network
    for product in (td.jvp, td.hvp):
        with pytest.raises(td.TensorDiffError, match="needs a direction"):
            product(td.sum(X @ W), W, None)
    with pytest.raises(td.TensorDiffError, match="check's order must be a positive int, got 0"):
        td.check(td.sum(X @ W), W, order=0)


def test_stacks_of_matrices_multiply_as_numpys_matmul():
    """'@' of order-3 and order-4 operands: the last two axes multiply, the leading ones broadcast by
    dim names (a "1" axis spreads), a vector operand is one row or column."""
    rng = np.random.default_rng(31)
    T = td.tensor("T_st", "b_st n_st p_st")
    W, U = td.matrix("W_st", "p_st q_st"), td.tensor("U_st", "b_st p_st q_st")
    V = td.tensor("V_st", "a_st b_st p_st q_st")
    x, y, Z = td.vector("x_st", "p_st"), td.vector("y_st", "n_st"), td.tensor("Z_st", "c_st p_st q_st")
    v = dict(T_st=rng.standard_normal((2, 4, 3)), W_st=rng.standard_normal((3, 5)), U_st=rng.standard_normal((2, 3, 5)),
             V_st=rng.standard_normal((6, 2, 3, 5)), x_st=rng.standard_normal(3), y_st=rng.standard_normal(4),
             Z_st=rng.standard_normal((3, 3, 5)))
    cases = [(T @ W, v["T_st"] @ v["W_st"]), (T @ U, v["T_st"] @ v["U_st"]), (T @ V, v["T_st"] @ v["V_st"]),
             (T @ x, v["T_st"] @ v["x_st"]), (y @ T, v["y_st"] @ v["T_st"]),
             (T[:, None] @ Z, v["T_st"][:, None] @ v["Z_st"]), (np.matmul(T, W), v["T_st"] @ v["W_st"])]
    for e, want in cases:
        values = {name: v[name] for name in e.free}
        got = td.evaluate(e, **values)
        assert got.shape == want.shape and np.allclose(got, want)
        assert td.check(td.sum(td.sin(e)), T, order=2, **values).max_rel_error < 1e-6
    with pytest.raises(td.ShapeError, match=r"'@' cannot broadcast \(b_st\) with \(c_st\)"):
        T @ Z
    with pytest.raises(td.ShapeError, match="not a scalar"):
        T @ 2.0
