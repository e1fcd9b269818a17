"""Indexing expressions symbolically (H[3], H[:, 1:4], H[..., -1]): values equal slicing the dense
evaluated tensor, selections cost only the selected part, derivatives of indexed expressions agree
with finite differences, and bad indices are clear errors."""

import pickle
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Select, Take, Var, topological
from tensordiff.diff import RULES
from tensordiff.testing import numeric_diff
from test_random import FUNCTIONS, SHAPES, Gen

RNG = np.random.default_rng(11)


def random_key(rng, sizes):
    """A numpy basic-indexing key for an array with these axis sizes: ints (negative too), slices
    with steps (negative too, possibly empty), '...', fewer keys than axes."""
    items = []
    for size in sizes:
        kind = rng.integers(4)
        if kind == 0:
            items.append(int(rng.integers(-size, size)))
        elif kind == 1:
            start, stop = (int(v) if rng.random() < 0.7 else None for v in rng.integers(-size - 1, size + 2, 2))
            items.append(slice(start, stop, int(rng.choice([1, 1, 2, -1, -2]))))
        elif kind == 2:
            items.append(slice(None))
        else:
            items.append(int(rng.integers(size)))
    count = int(rng.integers(0, len(sizes) + 1))
    if rng.random() < 0.3:  # '...' at position p: the keys after it are for the last axes
        p = int(rng.integers(count + 1))
        return tuple(items[:p]) + (Ellipsis,) + tuple(items[len(items) - (count - p):])
    return tuple(items[:count])


@pytest.mark.parametrize("seed", range(24))
def test_indexing_random_derivatives_equals_slicing_the_dense_tensor(seed):
    gen = Gen(5000 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    expr, _ = gen.gen(shape, 3)
    names = sorted(expr.free)
    target = td.diff(expr, gen.S[names[seed % len(names)]]) if names else expr
    if seed % 3 == 0 and names:  # second derivatives too
        target = td.diff(target, gen.S[names[0]])
    dense = td.evaluate(target, functions=FUNCTIONS, **gen.V)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        key = random_key(rng, dense.shape)
        picked = target[key]
        got = td.evaluate(picked, functions=FUNCTIONS, **gen.V)
        want = dense[key]
        assert got.shape == want.shape, f"seed {seed} key {key}: {got.shape} != {want.shape}"
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"seed {seed} key {key}\n{picked}")


def test_shape_and_dim_names_follow_numpy():
    H = td.tensor("Hx", "d k d k")
    assert H[3].shape == ("k", "d", "k")
    assert H[3, :, 1:4].shape == ("k", "d[1:4]", "k")
    assert H[..., -1].shape == ("d", "k", "d")
    assert H[::2, ..., ::-1].shape == ("d[::2]", "k", "d", "k[::-1]")
    assert H[0:, :, ::1].shape == H.shape and H[:] is H   # whole-axis slices keep the dim
    assert H[1:4][1:].shape == ("d[1:4][1:]", "k", "d", "k")
    x = td.vector("x", "n")
    assert x[2:8][1::2][-1].shape == ()
    np.testing.assert_allclose(td.evaluate(x[2:8][1::2][-1], x=np.arange(10.0)), np.arange(10.0)[2:8][1::2][-1])
    np.testing.assert_allclose(td.evaluate(x[np.int64(3)], x=np.arange(10.0)), 3.0)


def _largest_step(expr, sizes):
    """The most entries any step of the compiled program computes (inputs aside)."""
    program = td.compile(expr)
    return max(int(np.prod([sizes[d] for d in node.shape])) for node, *_ in program.steps
               if not isinstance(node, Var))


def test_tikhonov_order5_hessian_row_is_a_slice_and_costs_a_row(tikhonov):
    X, _, _, q = tikhonov
    rng = np.random.default_rng(1)
    vals = dict(X=rng.standard_normal((7, 3)), y=rng.standard_normal(7), lam=0.5)
    H = td.diff(q, X, order=2)                     # (p, n, p, n, p)
    dense = td.evaluate(H, **vals)
    for key in [(1, 4, 2), (-1, 0, 0, 6, -1), (2, slice(1, 5), 1, slice(None, None, -2)), (Ellipsis, 0, 1)]:
        np.testing.assert_allclose(td.evaluate(H[key], **vals), dense[key], rtol=1e-10, atol=1e-12)
    sizes = dict(n=7, p=3)
    # a row H[a, i, j] is an (n, p) matrix: no step may build anything of the Hessian's order
    assert _largest_step(H[1, 4, 2], sizes) <= 7 * 7
    assert _largest_step(H, sizes) >= 7 * 7 * 3 * 3 * 3


def test_logdet_hessian_entry_matches_the_closed_form():
    W, s = td.matrix("W", "n m"), td.scalar("s")
    H = td.hessian(td.logdet(W @ W.T + s ** 2 * td.eye("n")), W)
    rng = np.random.default_rng(2)
    Wv, sv = rng.standard_normal((5, 4)), 0.8
    Ai = np.linalg.inv(Wv @ Wv.T + sv ** 2 * np.eye(5))
    B = Ai @ Wv
    closed = (2 * np.einsum("ac,bd->abcd", Ai, np.eye(4) - Wv.T @ B) - 2 * np.einsum("ad,cb->abcd", B, B))
    for key in [(1, 2, 3, 0), (0, -1, 4, 3), (2, 3), (slice(1, None), 0, 2, slice(None, None, -1))]:
        np.testing.assert_allclose(td.evaluate(H[key], W=Wv, s=sv), closed[key], rtol=1e-10, atol=1e-12)


def test_delta_meets_a_selection():
    # the Hessian of x·x is 2δ: selecting row 3 leaves a one-hot, both indices a scalar
    x = td.vector("x", "n")
    H = td.hessian(x @ x, x)
    xv = RNG.standard_normal(6)
    np.testing.assert_allclose(td.evaluate(H[3], x=xv), 2 * np.eye(6)[3])
    np.testing.assert_allclose(td.evaluate(H[3, 3], x=xv), 2.0)
    np.testing.assert_allclose(td.evaluate(H[3, -3], x=xv), 2.0)
    np.testing.assert_allclose(td.evaluate(H[3, 2], x=xv), 0.0)
    np.testing.assert_allclose(td.evaluate(H[1:4, ::-2], x=xv), 2 * np.eye(6)[1:4, ::-2])
    np.testing.assert_allclose(td.evaluate(td.eye("n")[2:], x=xv), np.eye(6)[2:])
    # matrix factorisation: a Hessian block-diagonal in its rows (δ between axes 0 and 2)
    U, V, T = td.matrix("U", "m r"), td.matrix("V", "q r"), td.matrix("T", "m q")
    Hm = td.hessian(td.sum((T - U @ V.T) ** 2), U)
    vals = dict(U=RNG.standard_normal((4, 2)), V=RNG.standard_normal((5, 2)), T=RNG.standard_normal((4, 5)))
    dense = td.evaluate(Hm, **vals)
    for key in [(1,), (1, 0, 1), (1, 0, 2), (slice(1, 3), 1, slice(None, None, -1)), (Ellipsis, 2, 1)]:
        np.testing.assert_allclose(td.evaluate(Hm[key], **vals), dense[key], rtol=1e-12, atol=1e-12)


def test_selection_is_pushed_into_the_terms_and_slices_the_inputs():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    H = td.hessian(f, W)
    entry = H[1, 2, 0, 1]
    nodes = topological([entry])
    assert not any(len(n.shape) > 2 for n in nodes)       # no Hessian-shaped node: selections went into terms
    planned = td.compile(entry)
    assert any(isinstance(n, Take) for n, *_ in planned.steps)   # X's columns sliced, not multiplied by 0/1
    vals = dict(X=RNG.standard_normal((30, 4)), W=RNG.standard_normal((4, 3)), a=RNG.standard_normal(3),
                y=RNG.standard_normal(30))
    np.testing.assert_allclose(planned(**vals), td.evaluate(H, **vals)[1, 2, 0, 1], rtol=1e-10)
    assert _largest_step(entry, dict(n=30, d=4, k=3)) <= 30 * 3


def test_derivative_of_an_indexed_expression_matches_finite_differences():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    vals = dict(X=RNG.standard_normal((6, 3)), y=RNG.standard_normal(6), lam=0.5)
    for picked in (q[1], q[::-1], td.tanh(X @ q)[2:5]):
        result = td.check(picked, X, **vals)
        assert result.max_rel_error < 1e-6, picked
        assert result.symbolic.shape == td.evaluate(picked, **vals).shape + (6, 3)
    # indexing commutes with differentiation
    J = td.diff(q, X)
    np.testing.assert_allclose(td.evaluate(td.diff(q[1], X), **vals), td.evaluate(J, **vals)[1], rtol=1e-10)
    assert td.evaluate(td.diff(q[1], X)[2, 0], **vals) == pytest.approx(td.evaluate(J[1, 2, 0], **vals), rel=1e-10)
    # d/dX of X[2, 1] is a one-hot matrix
    np.testing.assert_allclose(td.evaluate(td.diff(X[2, 1], X), **vals), np.eye(6)[2][:, None] * np.eye(3)[1])
    second = numeric_diff(td.grad(q[0] ** 2, X), X, vals)
    np.testing.assert_allclose(td.evaluate(td.hessian(q[0] ** 2, X), **vals), second, rtol=1e-5, atol=1e-7)


def test_products_of_indexed_expressions():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    Av, xv = RNG.standard_normal((5, 5)), RNG.standard_normal(5)
    e = A[1:4, ::2] @ x[::2] + td.sum(A[:, 0] * x) * x[1:4]
    want = Av[1:4, ::2] @ xv[::2] + np.sum(Av[:, 0] * xv) * xv[1:4]
    np.testing.assert_allclose(td.evaluate(e, A=Av, x=xv), want, rtol=1e-12)
    ones = td.einsum("i,->i", x, td.scalar("one_s")) * 0 + 1.0   # a constant broadcast over n
    np.testing.assert_allclose(td.evaluate(ones[2:], x=xv, one_s=1.0), np.ones(3))


def test_out_of_range_index_is_an_evaluation_error_naming_the_dim():
    X = td.matrix("X", "n p")
    H = td.hessian(td.sum(td.tanh(X) ** 2), X)
    with pytest.raises(td.EvaluationError, match=r"index 5 is out of range for dim 'p' of size 3"):
        td.evaluate(H[0, 5], X=np.ones((4, 3)))
    with pytest.raises(td.EvaluationError, match=r"index -5 is out of range for dim 'n' of size 4"):
        td.evaluate(H[-5], X=np.ones((4, 3)))
    with pytest.raises(td.EvaluationError, match=r"dim 'n\[1:3\]' of size 2"):
        td.evaluate(X[1:3][2], X=np.ones((4, 3)))
    x = td.vector("x", "n")
    ones = td.einsum("i,->i", x, td.scalar("one_s")) * 0 + 1.0
    with pytest.raises(td.EvaluationError, match="out of range"):
        td.evaluate(ones[9], x=np.ones(4), one_s=1.0)
    assert td.evaluate(X[-4, 2], X=np.arange(12.0).reshape(4, 3)) == 2.0


def test_an_index_into_a_zero_derivative_is_still_range_checked():
    # the zero has no operands to carry the selection: without a guard, H[7] at n = 3 gave 0
    x, A = td.vector("x", "n"), td.matrix("A", "n m")
    H = td.hessian(td.sum(x), x)
    for backend in ("numpy", "dask"):
        with pytest.raises(td.EvaluationError, match="index 7 is out of range for dim 'n' of size 3"):
            td.evaluate(H[7], x=np.ones(3), backend=backend)
        with pytest.raises(td.EvaluationError, match="index -4 is out of range for dim 'n' of size 3"):
            td.evaluate(H[1:, -4], x=np.ones(3), backend=backend)
    np.testing.assert_array_equal(td.evaluate(H[2], x=np.ones(3)), np.zeros(3))
    with pytest.raises(td.EvaluationError, match="index 5 is out of range for dim 'm' of size 4"):
        td.evaluate(td.diff(td.sum(A), A)[2, 5], A=np.ones((3, 4)))
    with pytest.raises(td.EvaluationError, match="index 9 is out of range"):
        td.cost((0 * x)[9], n=3)
    with pytest.raises(td.EvaluationError, match="the size of dim.* 'n' is unknown"):
        td.evaluate((0 * x)[1])      # the range needs n, as numpy's would
    assert td.evaluate((0 * x)[1] + 2.0, x=np.ones(3)) == 2.0   # inside a sum it cancels like any zero
    zero_rows = (0 * A)[:, 1:]
    assert td.evaluate(zero_rows, A=np.ones((2, 3))).shape == (2, 2)
    with pytest.raises(td.EvaluationError, match=r"no size for dim\(s\) 'm': pass them"):   # not 'm[1:]'
        td.cost(zero_rows, n=3)


def test_different_slices_of_one_dim_are_a_clear_shape_error():
    x = td.vector("x", "n")
    for combine in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b):
        with pytest.raises(td.ShapeError, match=r"'n\[:3\]' and 'n\[3:6\]' differ even where their lengths agree"):
            combine(x[:3], x[3:6])
    np.testing.assert_allclose(td.evaluate(x[1:3] * x[1:3], x=np.arange(4.0)), [1.0, 4.0])   # one slice: fine


@pytest.mark.parametrize("key, message", [
    (1.5, "float"), ("a", "str"), ([0, 1], "list"), ((0, 0, 0), "too many indices"),
    ((Ellipsis, 0, Ellipsis), "only one"), (slice(0, 2.0), "int or None bounds"), (slice(None, None, 0), "zero"),
    (True, "bool"),
])
def test_bad_index_is_a_build_time_error(key, message):
    X = td.matrix("X", "n p")
    with pytest.raises(td.TensorDiffError, match=message):
        X[key]
    with pytest.raises(td.TensorDiffError, match="tensordiff selects with ints"):
        X[td.scalar("i")]


def test_printing_shows_positions():
    X, x = td.matrix("X", "n p"), td.vector("x", "n")
    assert td.index_notation(X[3]) == "out[i] = X[3,i]"
    assert td.index_notation(x[1:4]) == "out[i] = x[1+i]"
    assert td.index_notation(x[::-2]) == "out[i] = x[n-1-2i]"
    assert td.index_notation(x[-3:]) == "out[i] = x[n-3+i]"
    assert td.index_notation((X.T @ x)[2]) == "out = Σ_i X[i,2] x[i]"
    assert "δ[i,3]" in td.index_notation(td.hessian(x @ x, x)[3])
    assert "X_{3i}" in td.latex(X[3])
    assert "no matrix notation" in td.matrix_notation(X[1:3])
    # generated code computes the same values
    e = td.hessian(td.sum(td.tanh(X @ X.T @ x)), x)[1:3, ::-1]
    Xv, xv = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    namespace = {}
    exec(td.codegen(e, name="g"), namespace)
    np.testing.assert_allclose(namespace["g"](X=Xv, x=xv), td.evaluate(e, X=Xv, x=xv), rtol=1e-12)
    namespace = {"np": np, "X": Xv, "x": xv}
    exec(td.to_einsum(e), namespace)
    np.testing.assert_allclose(namespace["out"], td.evaluate(e, X=Xv, x=xv), rtol=1e-12)


def test_indexed_expressions_and_programs_pickle():
    X = td.matrix("X", "n p")
    e = td.hessian(td.sum(td.tanh(X) ** 3), X)[1, ::2]
    Xv = RNG.standard_normal((4, 3))
    again = pickle.loads(pickle.dumps(e))
    assert again is e
    program = pickle.loads(pickle.dumps(td.compile(e)))
    np.testing.assert_allclose(program(X=Xv), td.evaluate(e, X=Xv))


def test_select_has_a_zero_derivative_and_deep_expressions_do_not_recurse():
    x, A = td.vector("dx", "n"), td.matrix("dA", "n n")
    (select,) = [op for op in x[2].operands if isinstance(op, Select)]
    zero = td.diff(select, x)
    assert zero.shape == ("n", "n") and zero.coeff == 0.0 and Select in RULES
    e = x
    for i in range(2 * sys.getrecursionlimit()):
        e = td.tanh(e) * 0.9 + x if i % 2 else A @ e
    values = dict(dx=np.full(3, 0.1), dA=0.5 * np.eye(3) + 0.1)
    np.testing.assert_allclose(td.evaluate(e[1], **values), td.evaluate(e, **values)[1], rtol=1e-12)


def test_selection_arrays_are_built_once_and_outputs_stay_the_callers():
    x = td.vector("x", "n")
    program = td.compile(td.diff(x, x)[2])          # the 0/1 selection itself is the output
    first = program(x=np.ones(5))
    first[...] = 7.0                                # the caller's array: writing it changes nothing shared
    np.testing.assert_array_equal(program(x=np.ones(5)), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(program(x=np.ones(3)), [0, 0, 1])


def test_a_slice_takes_a_scalar_and_a_symbol_declared_over_it():
    """x[1:] + 0.01 broadcast the scalar to dims ("n[1:]",), whose digits read as a decimal dim:
    every slice plus a scalar was a ShapeError. A symbol may be declared over a slice's dim, and
    its value must then have the slice's length."""
    x = td.vector("x_sl", "n_sl")
    xv = np.arange(6.0)
    for e, want in ((x[1:] + 0.01, xv[1:] + 0.01), (x[2:5] * 2 + 1, xv[2:5] * 2 + 1), (x[::2] - 1, xv[::2] - 1),
                    (td.sqrt(x[:-1] ** 2 + 0.5), np.sqrt(xv[:-1] ** 2 + 0.5))):
        assert np.allclose(td.evaluate(e, x_sl=xv), want)
    w = td.vector("w_sl", "n_sl[1:]")
    e = td.sum(w * td.differences(x) ** 2)
    assert np.isclose(td.evaluate(e, x_sl=xv, w_sl=np.arange(5.0)), np.sum(np.arange(5.0) * np.diff(xv) ** 2))
    with pytest.raises(td.ShapeError, match=r"dim 'n_sl\[1:\]' is 4 in axis 0 of 'w_sl', but the slice"):
        td.evaluate(e, x_sl=xv, w_sl=np.ones(4))
