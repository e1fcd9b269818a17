"""Gaps a demanding numpy/jax user meets (fourth round): each a numpy-like result or a clear error.

1. ``x[:, None]``, ``x[None]``, ``x[..., None]`` (np.newaxis) add a length-1 axis of dim "1",
   built by reshaping.py's ``with_unit_axes`` (``td.reshape(x, "n 1")`` is the same node), and a
   dim "1" broadcasts against any dim as numpy's length-1 axes do: ``x[:, None] - y[None, :]``
   is the (n, m) matrix of differences. Derivatives go through it as through any product.
2. ``td.cost`` and ``program.explain`` take f's table of dim sizes for a derivative that lost a
   dim, as ``td.evaluate`` does: td.diff remembers the dims of what it differentiated
   (dimsizes.py's ``remember_origin``). A name that is no dim of the expression nor of what it was
   derived from is refused by name, even where some other declared symbol has that dim.
3. A dim held only inside a composite dim (vec, kron, reshape, a+b) is taken by name wherever the
   expression has it or was derived from one that has it; a dim no size determines (k in k·k)
   is refused saying which composite holds it and that it must be passed by name.
4. What a numpy user types besides: the ndarray methods ``X.sum``, ``X.mean``, ``X.max``, ``X.min``
   (``keepdims=True`` leaves "1" axes, so the stable-softmax idiom works as in numpy) and
   ``X.reshape``; a mask or an expression as an index is refused pointing at td.where, without
   printing the mask's whole expression.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.codegen import codegen

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(41)
BACKENDS = ["numpy", "dask", "jax"]


def _on(backend, expr, values):
    result = td.compile(expr, backend=backend)(**values)
    return np.asarray(result.compute() if backend == "dask" else result)


def _central_difference(f, values, name, eps=1e-6):
    """∂f/∂values[name] by central differences, f's shape then the symbol's."""
    base = values[name]
    columns = []
    for k in range(base.size):
        step = np.zeros(base.size)
        step[k] = eps
        plus, minus = dict(values), dict(values)
        plus[name], minus[name] = base + step.reshape(base.shape), base - step.reshape(base.shape)
        columns.append((np.asarray(f(plus)) - np.asarray(f(minus))) / (2 * eps))
    return np.moveaxis(np.array(columns), 0, -1).reshape(np.shape(f(values)) + base.shape)


# ---------------------------------------------------------------- 1. np.newaxis: a length-1 axis that broadcasts

@pytest.mark.parametrize("key", [(slice(None), None), (None,), (Ellipsis, None), (None, Ellipsis, None),
                                 (1, None), (None, 1), (slice(1, 3), None, slice(None, None, -1)),
                                 (None, Ellipsis, 0), (np.newaxis, slice(None), None)])
def test_a_none_in_a_key_adds_the_axis_numpy_adds(key):
    A = td.matrix("A", "n m")
    value = RNG.standard_normal((4, 5))
    selected = A[key]
    want = value[key]
    assert len(selected.shape) == want.ndim
    assert [d for d, s in zip(selected.shape, want.shape) if s == 1 and d == "1"] or 1 not in want.shape
    for backend in BACKENDS:
        got = _on(backend, selected, {"A": value})
        assert got.shape == want.shape and np.array_equal(got, want), backend


def test_a_new_axis_broadcasts_against_any_dim_on_every_backend():
    x, y = td.vector("x", "n"), td.vector("y", "m")
    values = {"x": RNG.standard_normal(3), "y": RNG.standard_normal(4)}
    pairwise = x[:, None] - y[None, :]
    assert pairwise.shape == ("n", "m")
    assert td.index_notation(pairwise) == "out[i,j] = x[i] - y[j]"   # no factor of the length-1 axis left
    for backend in BACKENDS:
        assert np.allclose(_on(backend, pairwise, values), values["x"][:, None] - values["y"][None, :])
    assert td.broadcast_shapes(("n", "1"), ("1", "m")) == ("n", "m")
    assert td.broadcast_to(x[:, None], "n m").shape == ("n", "m")
    assert td.reshape(x, "n 1") is x[:, None] and td.reshape(x[:, None], "n") is x
    assert td.stack([x]).shape == ("1", "n") and (td.stack([x]) + y[:, None]).shape == ("m", "n")


def test_dims_that_differ_where_neither_is_a_length_1_axis_are_still_refused_by_name():
    x, A = td.vector("x", "n"), td.matrix("A", "p q")
    with pytest.raises(td.ShapeError, match="'n' in the first and 'p'.*x\\[:, None\\] adds a length-1 axis"):
        x[:, None] + A
    with pytest.raises(td.ShapeError, match="dim name '2'"):   # only "1" is a length every value agrees on
        td.reshape(x, "n 1 2")
    with pytest.raises(td.TensorDiffError, match="'...' and None"):
        x[1.5]


# jax twins of the expressions below; each reads (x, y, A, W)
CASES = {
    "rbf": (lambda x, y, A, W: td.sum(td.exp(-(x[:, None] - y[None, :]) ** 2) * A),
            lambda x, y, A, W: jnp.sum(jnp.exp(-(x[:, None] - y[None, :]) ** 2) * A)),
    "outer tanh": (lambda x, y, A, W: td.sum(td.tanh(x[:, None] * W + x[None, :])),
                   lambda x, y, A, W: jnp.sum(jnp.tanh(x[:, None] * W + x[None, :]))),
    "softmax over a new axis": (
        lambda x, y, A, W: td.sum(td.softmax(A[None, :, :] * x[:, None, None], axis=2) * A[None]),
        lambda x, y, A, W: jnp.sum(jax.nn.softmax(A[None, :, :] * x[:, None, None], axis=2) * A[None])),
    "row and column vectors": (
        lambda x, y, A, W: td.sum((x[None] @ A) ** 2) + td.sum(td.reshape(x, "1 n") @ W @ x[:, None]),
        lambda x, y, A, W: jnp.sum((x[None] @ A) ** 2) + jnp.sum(x.reshape(1, -1) @ W @ x[:, None])),
    "log-sum-exp of pairwise": (
        lambda x, y, A, W: td.sum(td.logsumexp(x[:, None] * y[None, :] + A, axis=1) * x),
        lambda x, y, A, W: jnp.sum(jax.nn.logsumexp(x[:, None] * y[None, :] + A, axis=1) * x)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_derivatives_through_new_axes_agree_with_jax_and_central_differences(case):
    build, twin = CASES[case]
    symbols = td.vector("x", "n"), td.vector("y", "m"), td.matrix("A", "n m"), td.matrix("W", "n n")
    values = {"x": RNG.standard_normal(3), "y": RNG.standard_normal(4), "A": RNG.standard_normal((3, 4)),
              "W": RNG.standard_normal((3, 3))}
    f = build(*symbols)
    args = [jnp.asarray(values[s.name]) for s in symbols]
    assert np.allclose(td.evaluate(f, **values), twin(*args), rtol=1e-12, atol=1e-12)
    for position, wrt in [(0, symbols[0]), (2, symbols[2])]:
        gradient, hessian = td.grad(f, wrt), td.hessian(f, wrt)
        assert np.allclose(td.evaluate(gradient, **values), jax.grad(twin, argnums=position)(*args),
                           rtol=1e-11, atol=1e-12)
        assert np.allclose(td.evaluate(hessian, **values), jax.hessian(twin, argnums=position)(*args),
                           rtol=1e-11, atol=1e-12)
        numeric = _central_difference(lambda v: td.evaluate(gradient, **v), values, wrt.name)
        assert np.allclose(td.evaluate(hessian, **values), numeric, rtol=1e-6, atol=1e-7)
        for backend in ("dask", "jax"):
            assert np.allclose(_on(backend, hessian, values), td.evaluate(hessian, **values), rtol=1e-12,
                               atol=1e-12)


def test_the_derivative_of_a_new_axis_is_a_delta_with_the_length_1_axis():
    x = td.vector("x", "n")
    J = td.diff(x[:, None], x)
    assert J.shape == ("n", "1", "n")
    assert np.array_equal(td.evaluate(J, x=np.ones(3)), np.eye(3)[:, None, :])
    for target in ("numpy", "jax"):   # the generated code of a new axis and its broadcast
        namespace = {}
        exec(codegen(x[:, None] - x[None, :] + td.reshape(x, "n 1"), target=target), namespace)
        value = np.arange(3.0)
        assert np.array_equal(np.asarray(namespace["f"](value)), value[:, None] - value[None, :] + value[:, None])


# ---------------------------------------------------------------- 2. cost and explain: sizes of dims a derivative lost

def test_cost_and_explain_take_the_size_table_of_f_for_a_derivative_that_lost_a_dim():
    X, W, V = td.matrix("X", "n p"), td.matrix("W", "p p"), td.matrix("V", "p p")
    gradient = td.grad(td.sum(td.max(X @ W, axis=1)), W)
    hvp = td.diff(td.sum(gradient * V), W)   # piecewise linear: zero, of dims (p, p) only
    sizes = dict(n=1000, p=100)
    assert td.cost(gradient, **sizes).peak_bytes > td.cost(hvp, **sizes).peak_bytes > 0
    assert td.cost(hvp, **sizes).shapes == [(100, 100)]
    assert "p) = (100, 100)" in td.compile(hvp).explain(**sizes)
    with pytest.raises(td.EvaluationError, match="'nn'"):   # a typo is still refused, by name
        td.cost(hvp, nn=3, p=100)
    with pytest.raises(td.EvaluationError, match="'nn'"):
        td.compile(hvp).explain(nn=3, p=100)
    with pytest.raises(td.EvaluationError, match="integers ≥ 0"):   # a lost dim's size is checked too
        td.cost(hvp, n=2.5, p=100)


def test_a_lost_dim_is_taken_through_a_chain_of_derivatives_and_in_several_symbols():
    X, w, v, lam = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("v", "m"), td.scalar("lam")
    f = td.sum(td.tanh(X @ w)) + lam * (v @ v)
    first = td.diff(f, lam)                   # v·v: lost n and p
    second = td.diff(first, lam)              # zero: lost m too, through first
    sizes = dict(n=7, p=5, m=3)
    assert td.cost(first, **sizes).sizes == {"m": 3}
    assert td.cost(second, **sizes).shapes == [()]
    blocks = td.grad(f, [lam, w])
    assert td.cost(blocks[0], **sizes).shapes == [()] and td.cost(blocks[1], **sizes).shapes == [(5,)]
    values = {"X": RNG.standard_normal((7, 5)), "w": RNG.standard_normal(5), "v": RNG.standard_normal(3), "lam": 0.3}
    assert np.isclose(td.evaluate(first, **values), values["v"] @ values["v"])


def test_a_dim_no_expression_derived_it_from_is_refused_though_another_symbol_has_it():
    td.matrix("Unrelated", "m q")    # a live symbol with dim m: it must not make m a size of q's
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    with pytest.raises(td.EvaluationError, match="'m'.*its dims: n, p"):
        td.cost(q, n=10, p=3, m=4)
    with pytest.raises(td.EvaluationError, match="'m'"):
        td.compile(q).explain(n=10, p=3, m=4)
    assert td.cost(td.diff(q, X), n=10, p=3).shapes == [(3, 10, 3)]
    with pytest.raises(td.EvaluationError, match="'m'"):   # X's derivative was derived from q: no m there
        td.cost(td.diff(q, X), n=10, p=3, m=4)


# ---------------------------------------------------------------- 3. dims held only inside composite dims

def test_a_dim_only_inside_a_composite_dim_is_taken_by_name():
    # names no symbol of another test has: an int under a symbol's name is that symbol's value
    u, s, Z = td.vector("u", "a_g4+b_g4"), td.scalar("s"), td.matrix("Z", "q_g4·r_g4 k_g4")
    zero = td.diff(td.sum(u) * s + td.sum(Z) * s, s, order=2)   # lost all five dims, each inside a composite
    assert np.array_equal(td.evaluate(zero, a_g4=2, b_g4=3, q_g4=1), np.zeros(()))
    assert td.cost(zero, a_g4=2, b_g4=3, q_g4=1, r_g4=2, k_g4=3).shapes == [()]
    with pytest.raises(td.EvaluationError, match="'qq_g4'"):
        td.evaluate(zero, qq_g4=2)
    ones = td.ones("(a+b)·c")
    assert "((a+b)·c) = (10,)" in td.compile(ones).explain(a=2, b=3, c=2)   # explain binds composites as cost does
    assert td.cost(ones, a=2, b=3, c=2).shapes == [(10,)]
    X = td.matrix("X", "m n")
    assert td.cost(td.diff(td.sum(td.vec(X) ** 2), X), m=3, n=4).shapes == [(3, 4)]
    kron = td.kron(td.matrix("A", "i j"), td.matrix("B", "k l"))
    assert "(i·k, j·l) = (8, 15)" in td.compile(kron).explain(i=2, j=3, k=4, l=5)


def test_a_dim_its_composite_does_not_determine_is_refused_saying_so():
    K = td.matrix("K", "k·k p")
    with pytest.raises(td.EvaluationError, match="'k' occurs only inside 'k·k' \\(of size 9\\), which does not "
                                                 "determine it: pass it by name \\(k=...\\)"):
        td.evaluate(K, K=np.ones((9, 2)))
    assert td.evaluate(K, K=np.ones((9, 2)), k=3).shape == (9, 2)
    with pytest.raises(td.ShapeError, match="'k·k' has size 9 in a value, but its parts give 16"):
        td.evaluate(K, K=np.ones((9, 2)), k=4)
    with pytest.raises(td.EvaluationError, match="no size for dim\\(s\\) 'k'.*td.cost\\(expr, k=100\\)"):
        td.cost(K, p=2)


# ---------------------------------------------------------------- 4. what a numpy user types besides

def test_the_ndarray_methods_reduce_and_keep_dims_as_numpy():
    X, A = td.matrix("X", "n p"), td.matrix("A", "n p")
    value = RNG.standard_normal((4, 3))
    for method in ("sum", "mean", "max", "min"):
        for axis in (None, 0, 1, -1, (0, 1)):
            for keepdims in (False, True):
                got = getattr(X, method)(axis=axis, keepdims=keepdims)
                want = getattr(value, method)(axis=axis, keepdims=keepdims)
                assert np.allclose(td.evaluate(got, X=value), want) and td.evaluate(got, X=value).shape == want.shape
    assert X.max(axis=1, keepdims=True).shape == ("n", "1") and X.sum(axis=0) is td.sum(X, axis=0)
    assert X.reshape("n·p") is td.reshape(X, "n·p") and X.reshape("n", "1", "p").shape == ("n", "1", "p")
    shifted = X - X.max(axis=1, keepdims=True)           # the stable softmax as numpy users write it
    by_hand = td.sum(td.exp(shifted) / td.exp(shifted).sum(axis=1, keepdims=True) * A)
    values = {"X": value, "A": RNG.standard_normal((4, 3))}
    assert np.allclose(td.evaluate(by_hand, **values), td.evaluate(td.sum(td.softmax(X, axis=1) * A), **values))
    twin = lambda X, A: jnp.sum(jax.nn.softmax(X, axis=1) * A)   # noqa: E731
    assert np.allclose(td.evaluate(td.hessian(by_hand, X), **values), jax.hessian(twin)(value, values["A"]),
                       rtol=1e-10, atol=1e-12)
    with pytest.raises(td.ShapeError, match="keepdims must be True or False"):
        X.sum(keepdims=1)
    with pytest.raises(td.ShapeError, match="axis 2"):
        X.max(axis=2, keepdims=True)


def test_a_mask_as_an_index_is_refused_pointing_at_where():
    X = td.matrix("X", "n p")
    with pytest.raises(td.TensorDiffError, match="index 0 is an expression of shape \\(n, p\\).*td.where") as info:
        X[X > 0]
    assert "out[" not in str(info.value)      # the mask's expression is not printed into the message


def test_length_1_axes_meet_kron_vec_and_reshape_as_in_numpy():
    x, y = td.vector("x", "n"), td.vector("y", "m")
    xv, yv = RNG.standard_normal(3), RNG.standard_normal(4)
    product = td.kron(x[:, None], y[None, :])         # numpy: (3, 4), the outer product
    assert product.shape == ("n", "m")
    assert np.allclose(td.evaluate(product, x=xv, y=yv), np.kron(xv[:, None], yv[None, :]))
    assert td.vec(x[:, None]) is x and td.reshape(x[:, None], -1) is x
    X = td.matrix("X", "n p")
    assert X.reshape(-1).shape == ("n·p",)
    assert np.array_equal(td.evaluate(X.reshape(-1), X=np.arange(6.0).reshape(2, 3)), np.arange(6.0))
    assert td.reshape(td.scalar("s"), -1).shape == ("1",)     # np.reshape(2.0, -1).shape == (1,)
    gradient = td.grad(td.sum(td.kron(x[:, None], y[None, :]) ** 3), x)
    assert np.allclose(td.evaluate(gradient, x=xv, y=yv), 3 * xv ** 2 * np.sum(yv ** 3))


def test_an_int_index_past_a_length_1_axis_is_refused_when_built():
    x = td.vector("x", "n")
    assert td.evaluate(x[:, None][:, 0], x=np.arange(3.0)).shape == (3,)
    assert td.evaluate(x[:, None][:, -1], x=np.arange(3.0)).shape == (3,)
    with pytest.raises(td.ShapeError, match="index 1 is out of range for axis 1 of \\(n, 1\\), whose dim '1' has "
                                            "length 1"):
        x[:, None][:, 1]
    with pytest.raises(td.ShapeError, match="index -3 is out of range.*dim '2' has length 2"):
        td.stack([x, x])[-3]
