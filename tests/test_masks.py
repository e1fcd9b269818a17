"""Comparisons as 0/1 masks, where through the chosen branch (never mask*a + (1-mask)*b), tril and
triu, ones and zeros, norm's ord: values, derivatives against finite differences and jax, errors."""

import pickle

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(14)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def test_comparisons_give_masks_with_derivative_zero():
    u, w = td.vector("u", "n"), td.vector("w", "n")
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    for mask, want in ((u < w, a < b), (u <= w, a <= b), (u > w, a > b), (u >= w, a >= b),
                       (u > 0.5, a > 0.5), (1.5 < u, 1.5 < a), (2.0 >= u, 2.0 >= a)):
        assert np.array_equal(td.evaluate(mask, u=a, w=b), want.astype(float))
        assert np.all(td.evaluate(td.diff(mask, u), u=a, w=b) == 0.0)
    assert np.array_equal(td.evaluate(np.less(u, w), u=a, w=b), (a < b).astype(float))


def test_masks_multiply_like_any_expression():
    x = td.vector("x", "n")
    xv = np.array([-1.0, 0.5, 2.0])
    relu_like = (x > 0) * x
    assert np.allclose(td.evaluate(relu_like, x=xv), np.maximum(xv, 0))
    assert np.allclose(td.evaluate(td.grad(td.sum(relu_like), x), x=xv), xv > 0)


def test_where_evaluates_like_numpy_even_where_the_unchosen_branch_is_nan_or_inf():
    x = td.vector("x", "n")
    xv = np.array([-1.0, 0.0, 2.0, 0.5])
    f = td.where(x > 0, td.log(x), 0.0)
    with np.errstate(all="ignore"):
        assert np.array_equal(td.evaluate(f, x=xv), np.where(xv > 0, np.log(xv), 0.0))
    for order in (1, 2, 3):   # log's derivatives are nan or inf at x <= 0, where 0 is chosen
        got = td.evaluate(td.diff(f, x, order=order), x=xv)
        assert np.all(np.isfinite(got)), order
    grad = td.evaluate(td.grad(td.sum(f), x), x=xv)
    assert np.array_equal(grad, [0.0, 0.0, 0.5, 2.0])


def test_where_derivatives_match_finite_differences_and_jax():
    jax, jnp = _jax()
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((3, 4))
    f = td.where(X > 0.1, td.sin(X) * X, td.exp(X))
    for order in (1, 2, 3):
        assert td.check(f, X, order=order, X=Xv).max_rel_error < 1e-6
    g = lambda a: jnp.sum(jnp.where(a > 0.1, jnp.sin(a) * a, jnp.exp(a)) ** 2)  # noqa: E731
    mine = td.sum(f ** 2)
    assert np.allclose(td.evaluate(td.grad(mine, X), X=Xv), jax.grad(g)(Xv))
    assert np.allclose(td.evaluate(td.hessian(mine, X), X=Xv), jax.hessian(g)(Xv))


def test_where_with_scalars_and_a_symbol_mask():
    m, a = td.vector("m", "n"), td.vector("a", "n")
    mv, av = np.array([1.0, 0.0, -2.0]), np.array([3.0, 4.0, 5.0])
    assert np.array_equal(td.evaluate(td.where(m, a, -1.0), m=mv, a=av), np.where(mv != 0, av, -1.0))
    assert np.array_equal(td.evaluate(td.diff(td.where(m, a * a, 0), m), m=mv, a=av), np.zeros((3, 3)))


def test_where_with_shapes_that_do_not_match_is_a_shape_error_naming_them():
    m, a, b = td.vector("m", "n"), td.vector("a", "n"), td.vector("b", "k")
    with pytest.raises(td.ShapeError, match=r"where: operand 3 has shape \(k\).*b"):
        td.where(m, a, b)
    with pytest.raises(td.ShapeError, match=r"'<'"):
        a < b   # noqa: B015


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_tril_and_triu_follow_numpy(k):
    A, N = td.matrix("A", "n n"), td.matrix("N", "n p")
    Av, Nv = RNG.standard_normal((4, 4)), RNG.standard_normal((4, 3))
    assert np.array_equal(td.evaluate(td.tril(A, k), A=Av), np.tril(Av, k))
    assert np.array_equal(td.evaluate(td.triu(A, k=k), A=Av), np.triu(Av, k))
    assert np.array_equal(td.evaluate(td.tril(N, k), N=Nv), np.tril(Nv, k))
    assert np.array_equal(td.evaluate(td.triu(N, k), N=Nv), np.triu(Nv, k))


def test_tril_of_a_stack_works_on_the_last_two_axes_and_differentiates():
    T = td.tensor("T", "b n n")
    Tv = RNG.standard_normal((2, 3, 3))
    assert np.array_equal(td.evaluate(td.tril(T), T=Tv), np.tril(Tv))
    f = td.sum(td.triu(T * T, 1) * T)
    for order in (1, 2, 3):
        assert td.check(f, T, order=order, T=Tv).max_rel_error < 1e-6


def test_tril_of_a_vector_is_a_shape_error():
    with pytest.raises(td.ShapeError, match="tril needs a matrix"):
        td.tril(td.vector("v", "n"))
    with pytest.raises(td.TensorDiffError, match="k must be an int"):
        td.triu(td.matrix("A", "n n"), k=0.5)


def test_ones_and_zeros():
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((3, 2))
    assert np.array_equal(td.evaluate(X + td.ones("n p"), X=Xv), Xv + 1)
    assert np.array_equal(td.evaluate(X * td.zeros(("n", "p")), X=Xv), np.zeros((3, 2)))
    assert td.ones("n").shape == ("n",) and td.zeros("").shape == ()


def test_norm_ord_one_is_the_sum_of_absolute_values_and_two_the_default():
    X = td.matrix("X", "n p")
    Xv = RNG.standard_normal((3, 2))
    assert np.isclose(td.evaluate(td.norm(X, ord=1), X=Xv), np.abs(Xv).sum())
    assert np.isclose(td.evaluate(td.norm(X), X=Xv), np.linalg.norm(Xv))
    assert td.norm(X, ord=2) is td.norm(X)
    assert np.allclose(td.evaluate(td.grad(td.norm(X, ord=1), X), X=Xv), np.sign(Xv))
    with pytest.raises(td.TensorDiffError, match="ord must be 2"):
        td.norm(X, ord=3)


def test_masks_pickle_print_and_generate_code():
    jax, jnp = _jax()
    x = td.vector("x", "n")
    A = td.matrix("A", "n n")
    xv, Av = RNG.standard_normal(4), RNG.standard_normal((4, 4))
    exprs = [x < 0.2, td.where(x >= 0, x * x, td.sin(x)), td.tril(A, -1), td.triu(A, 2) @ x,
             td.diff(td.where(x > 0, td.exp(x), x), x)]
    for e in exprs:
        assert pickle.loads(pickle.dumps(e)) is e
        assert td.index_notation(e) and td.latex(e) and td.matrix_notation(e)
        want = td.evaluate(e, x=xv, A=Av)
        for target, convert in (("numpy", np.asarray), ("jax", jnp.asarray)):
            namespace = {}
            exec(td.codegen(e, target=target), namespace)
            args = [convert(v) for name, v in (("A", Av), ("x", xv)) if name in e.free]
            assert np.allclose(np.asarray(namespace["f"](*args)), want), (target, e)


def test_parse_reads_where_tril_and_triu():
    v, m = td.vector("v", "n"), td.vector("m", "n")
    A = td.matrix("A", "n n")
    vv, mv, Av = RNG.standard_normal(3), np.array([1.0, 0.0, 1.0]), RNG.standard_normal((3, 3))
    assert np.allclose(td.evaluate(td.parse("where(m, v, 2*v)"), v=vv, m=mv), np.where(mv != 0, vv, 2 * vv))
    assert np.allclose(td.evaluate(td.parse("tril(A) + triu(A')"), A=Av), np.tril(Av) + np.triu(Av.T))
    with pytest.raises(td.ParseError, match=r"where\(\) takes 3 arguments, got 2"):
        td.parse("where(m, v)")
    del v, m, A


def test_maximum_and_where_with_a_symbol_mask_read_back_from_matrix_notation():
    u, w, m = td.vector("u", "n"), td.vector("w", "n"), td.vector("m", "n")
    values = dict(u=RNG.standard_normal(3), w=RNG.standard_normal(3), m=np.array([1.0, 0.0, 1.0]))
    for e in (td.maximum(u, w), td.minimum(u, td.sin(w)), td.where(m, u * w, w)):
        text = td.matrix_notation(e)
        assert np.allclose(td.evaluate(td.parse(text), **values), td.evaluate(e, **values)), text
    assert td.matrix_notation(td.where(u > 0, u, w)) == "where(u > 0, u, w)"   # the parser reads comparisons
    assert td.parse("where(u > 0, u, w)") is td.where(u > 0, u, w)
    del u, w, m


def test_directional_derivatives_push_the_direction_into_both_branches():
    X, V = td.matrix("X", "n p"), td.matrix("V", "n p")
    Xv, Vv = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    f = td.where(X > 0, td.log(X), X * X) + td.maximum(td.sin(X), X)
    for order in (1, 2, 3):
        directional = td.diff(f, X, order=order, direction=V)
        assert directional.shape == ("n", "p")
        full = td.diff(f, X, order=order)
        want = td.evaluate(full, X=Xv)
        for _ in range(order):
            want = np.einsum("...kl,kl->...", want, Vv)
        assert np.allclose(td.evaluate(directional, X=Xv, V=Vv), want), order
