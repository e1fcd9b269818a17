"""Several variables at once (issue 12.6): diff/grad/jacobian/hessian/jvp/vjp/hvp of a list of
symbols return tuples in the order given (the Hessian's blocks nested as jax.hessian(f, argnums=
(0, 1)) nests them), checked against jax and central finite differences, and one compiled program
of all of them computes their shared subexpressions once."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import numeric_diff

try:
    import jax
    import jax.numpy as jnp
except ImportError:   # the tests that compare with jax are skipped; the others run
    jax = jnp = None
needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")

RNG = np.random.default_rng(12)
SIZES = dict(n=5, d=3, k=2)


@pytest.fixture(autouse=True)
def _float64():
    if jax is None:
        yield
        return
    with jax.enable_x64(True):
        yield


def _layer():
    """A one-layer regression loss: sum((tanh(X W + b) a - y)^2), with its jax twin."""
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k")
    a, y = td.vector("a", "k"), td.vector("y", "n")
    f = td.sum((td.tanh(X @ W + b) @ a - y) ** 2)
    values = dict(X=RNG.standard_normal((5, 3)), W=0.5 * RNG.standard_normal((3, 2)),
                  b=0.5 * RNG.standard_normal(2), a=RNG.standard_normal(2), y=RNG.standard_normal(5))

    def twin(W, b, X, a, y):
        return jnp.sum((jnp.tanh(X @ W + b) @ a - y) ** 2)
    return f, (W, b, X, a, y), values, twin


def _jax_args(values, names):
    return [jnp.asarray(values[n]) for n in names]


@needs_jax
def test_grad_of_a_list_is_a_tuple_in_the_order_given_and_matches_jax():
    f, (W, b, X, a, y), values, twin = _layer()
    grads = td.grad(f, [W, b])
    assert isinstance(grads, tuple) and len(grads) == 2
    assert grads[0] is td.grad(f, W) and grads[1] is td.grad(f, b)
    assert td.grad(f, [b, W]) == grads[::-1]
    gW, gb = td.evaluate(list(grads), values)
    jW, jb = jax.grad(twin, argnums=(0, 1))(*_jax_args(values, ["W", "b", "X", "a", "y"]))
    np.testing.assert_allclose(gW, jW, rtol=1e-10)
    np.testing.assert_allclose(gb, jb, rtol=1e-10)


@needs_jax
def test_diff_and_jacobian_of_a_list_match_jax_jacfwd():
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k")
    g = td.sigmoid(X @ W + b)
    values = dict(X=RNG.standard_normal((5, 3)), W=RNG.standard_normal((3, 2)), b=RNG.standard_normal(2))
    for front in (td.diff, td.jacobian):
        J = front(g, [W, b, X])
        assert [j.shape for j in J] == [("n", "k", "d", "k"), ("n", "k", "k"), ("n", "k", "n", "d")]
        got = td.evaluate(list(J), values)
        want = jax.jacfwd(lambda W, b, X: jax.nn.sigmoid(X @ W + b), argnums=(0, 1, 2))(
            *_jax_args(values, ["W", "b", "X"]))
        for mine, theirs in zip(got, want):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


@needs_jax
def test_hessian_blocks_nest_as_jax_hessian_with_argnums():
    f, (W, b, X, a, y), values, twin = _layer()
    H = td.hessian(f, [W, b])
    assert len(H) == 2 and all(len(row) == 2 for row in H)
    assert [[h.shape for h in row] for row in H] == [[("d", "k", "d", "k"), ("d", "k", "k")],
                                                      [("k", "d", "k"), ("k", "k")]]
    got = td.compile(H)(values)                 # nested in, nested out
    want = jax.hessian(twin, argnums=(0, 1))(*_jax_args(values, ["W", "b", "X", "a", "y"]))
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(got[i][j], want[i][j], rtol=1e-9, atol=1e-12)


@needs_jax
def test_third_order_blocks_match_jax_and_finite_differences():
    X, w, v = td.matrix("X", "n d"), td.vector("w", "d"), td.vector("v", "n")
    f = td.sum(td.tanh(X @ w) * v)
    values = dict(X=RNG.standard_normal((4, 3)), w=0.5 * RNG.standard_normal(3), v=RNG.standard_normal(4))
    T = td.diff(f, [w, v], order=3)
    jf = lambda w, v: jnp.sum(jnp.tanh(jnp.asarray(values["X"]) @ w) * v)  # noqa: E731
    third = jf
    for _ in range(3):
        third = jax.jacfwd(third, argnums=(0, 1))
    want = third(*_jax_args(values, ["w", "v"]))
    got = td.compile(T)(values)
    for i in range(2):
        for j in range(2):
            for k in range(2):
                np.testing.assert_allclose(got[i][j][k], want[i][j][k], rtol=1e-9, atol=1e-12)
    # a mixed block by finite differences of the mixed second derivative
    numeric = numeric_diff(td.diff(td.diff(f, w), v), w, values)
    np.testing.assert_allclose(got[0][1][0], numeric, rtol=1e-6, atol=1e-8)


def test_order_zero_is_the_expression_itself():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    f = x @ y
    assert td.diff(f, [x, y], order=0) is f


@needs_jax
def test_jvp_of_a_list_is_the_derivative_along_all_directions():
    f, (W, b, X, a, y), values, twin = _layer()
    V, u = td.matrix("V", "d k"), td.vector("u", "k")
    values = dict(values, V=RNG.standard_normal((3, 2)), u=RNG.standard_normal(2))
    got = td.evaluate(td.jvp(f, [W, b], [V, u]), values)
    _, want = jax.jvp(lambda W, b: twin(W, b, *_jax_args(values, ["X", "a", "y"])),
                      tuple(_jax_args(values, ["W", "b"])), tuple(_jax_args(values, ["V", "u"])))
    np.testing.assert_allclose(got, want, rtol=1e-10)


@needs_jax
def test_vjp_of_a_list_is_one_cotangent_per_symbol():
    X, W, b = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("b", "k")
    U = td.matrix("U", "n k")
    values = dict(X=RNG.standard_normal((5, 3)), W=RNG.standard_normal((3, 2)), b=RNG.standard_normal(2),
                  U=RNG.standard_normal((5, 2)))
    got = td.evaluate(list(td.vjp(td.tanh(X @ W + b), [W, b], U)), values)
    _, pullback = jax.vjp(lambda W, b: jnp.tanh(jnp.asarray(values["X"]) @ W + b), *_jax_args(values, ["W", "b"]))
    want = pullback(jnp.asarray(values["U"]))
    for mine, theirs in zip(got, want):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10)


def test_hvp_of_a_list_is_the_hessian_blocks_times_the_direction():
    f, (W, b, X, a, y), values, twin = _layer()
    V, u = td.matrix("V", "d k"), td.vector("u", "k")
    values = dict(values, V=RNG.standard_normal((3, 2)), u=RNG.standard_normal(2))
    got = td.evaluate(list(td.hvp(f, [W, b], [V, u])), values)
    (HWW, HWb), (HbW, Hbb) = td.evaluate(td.hessian(f, [W, b]), values)
    V_, u_ = values["V"], values["u"]
    np.testing.assert_allclose(got[0], np.einsum("abcd,cd->ab", HWW, V_) + np.einsum("abc,c->ab", HWb, u_),
                               rtol=1e-10)
    np.testing.assert_allclose(got[1], np.einsum("acd,cd->a", HbW, V_) + Hbb @ u_, rtol=1e-10)


def test_compiling_all_of_them_computes_shared_work_once():
    f, (W, b, X, a, y), values, twin = _layer()
    grads = td.grad(f, [W, b, X])
    together = td.compile(list(grads))
    apart = [td.compile(g) for g in grads]
    tanh_steps = [step for step in repr(together).splitlines() if "tanh" in step]
    assert len(tanh_steps) == 1, repr(together)            # the forward pass, once for all three
    assert len(together.steps) < sum(len(p.steps) for p in apart)
    assert td.cost(list(grads), **SIZES).flops < sum(td.cost(g, **SIZES).flops for g in grads)
    for mine, alone in zip(together(values), (p(values) for p in apart)):
        np.testing.assert_allclose(mine, alone, rtol=1e-12)


def test_each_block_passes_the_finite_difference_check():
    f, (W, b, X, a, y), values, twin = _layer()
    for order in (1, 2):
        results = td.check(f, [W, b], order=order)
        assert len(results) == 2
        assert all(result.max_rel_error < 1e-6 for result in results)
        assert results[1].symbolic.shape == (2,) * order


def test_bad_lists_are_clear_errors():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    f = td.sum(x * y)
    with pytest.raises(td.TensorDiffError, match="at least one symbol"):
        td.grad(f, [])
    with pytest.raises(td.TensorDiffError, match="with respect to a symbol"):
        td.grad(f, [x, x + y])
    with pytest.raises(td.TensorDiffError, match="td.jvp"):
        td.diff(f, [x, y], direction=[x, y])
    with pytest.raises(td.TensorDiffError, match="2 directions"):
        td.jvp(f, [x, y], [x])
    with pytest.raises(td.TensorDiffError, match="2 directions"):
        td.hvp(f, [x, y], x)
    with pytest.raises(td.ShapeError, match="scalar"):
        td.grad(x * y, [x, y])
    with pytest.raises(td.ShapeError, match="hvp needs a scalar"):   # td.hessian takes any shape: test_vector_hessian.py
        td.hvp(x * y, [x, y], [x, y])
    with pytest.raises(td.TensorDiffError, match="order"):
        td.diff(f, [x, y], order=-1)
