"""Gaps a demanding user meets: each one a clear result or a clear tensordiff error.

1. dask computes its tasks after the call, outside its ``np.errstate``: soft maxima and sums must
   give numpy's backend's values (-inf, inf, nan) without numpy's RuntimeWarnings.
2. A dim held only inside a composite dim (b in v's a+b) is solved from the composite's size and
   its other parts' (b = len(v) - a), as the code printers write it; sizes no part can have are
   refused naming the dim and the part.
3. One table of dim sizes serves a function and its derivatives: an int under a name no symbol has
   sizes that dim where a declared symbol has it, even where a derivative (a zero holding no
   symbol) lost it; anything else under a name that is no symbol is refused naming the
   expression's symbols and dims.
4. ``td.stack(xs, dim="k")`` names the stacked axis, so a symbol (a vector of coefficients, one
   per operand) can share it; a value of another length is refused naming both dims.
5. ``symmetric=`` in td.parse (and the CLI's --symmetric) naming a symbol the text does not use is
   a ShapeError naming it: a typo would leave a matrix non-symmetric. Unused dim keywords stay
   accepted (one dims table serves many texts).
"""

import warnings

import numpy as np
import pytest

import tensordiff as td
from tensordiff.cli import main
from tensordiff.dimsizes import solve_parts
from tensordiff.expr import Var, topological
from tensordiff.reductionsteps import ArrayOps, DaskOps, TorchOps, ops_for

BACKENDS = ["numpy", "dask", "jax"]


def _quietly_on(backend, exprs, chunks=None, **values):
    """The values of ``exprs`` on ``backend``, any warning (numpy's RuntimeWarning included) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = td.compile(exprs, backend=backend, chunks=chunks)(**values)
        return [np.asarray(r.compute() if backend == "dask" else r) for r in results]


def _soft_maxima(X):
    return [td.logsumexp(X, axis=1), td.logsumexp(X), td.logsumexp(X, axis=0), td.softmax(X, axis=1),
            td.log_softmax(X, axis=1), td.log_softmax(X, axis=0), td.softmax(X, axis=(0, 1))]


@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (0, 0)])
@pytest.mark.parametrize("chunks", [None, 1])
def test_dask_soft_maximum_over_an_empty_axis_is_quiet_and_agrees_with_numpy(shape, chunks):
    pytest.importorskip("dask.array")
    X = td.matrix("X", "n p")
    exprs = _soft_maxima(X)
    values = np.zeros(shape)
    want = _quietly_on("numpy", exprs, X=values)
    got = _quietly_on("dask", exprs, chunks=chunks, X=values)
    for e, w, g in zip(exprs, want, got):
        assert g.shape == w.shape, td.index_notation(e)
        assert np.array_equal(g, w, equal_nan=True), td.index_notation(e)
    # over an empty axis logsumexp is -inf (log of an empty sum), as scipy's and jax's
    if shape[1] == 0:
        assert np.all(want[0] == -np.inf) and want[0].shape == (shape[0],)


@pytest.mark.parametrize("row", [[-np.inf, -np.inf, -np.inf], [np.inf, np.inf, 1.0], [np.nan, 1.0, 2.0],
                                 [np.inf, -np.inf, 0.5], [np.inf, 1000.0, -3.0], [1e308, 1000.0, -1e308]])
@pytest.mark.parametrize("chunks", [None, 1, 2])
def test_dask_soft_maximum_of_infinite_entries_is_quiet_and_agrees_with_numpy(row, chunks):
    pytest.importorskip("dask.array")
    X = td.matrix("X", "n p")
    exprs = _soft_maxima(X)
    values = np.random.default_rng(7).standard_normal((4, 3))
    values[1] = row
    want = _quietly_on("numpy", exprs, X=values)
    got = _quietly_on("dask", exprs, chunks=chunks, X=values)
    for e, w, g in zip(exprs, want, got):
        assert np.allclose(g, w, equal_nan=True, rtol=1e-13, atol=0), td.index_notation(e)
        assert np.array_equal(np.isnan(g), np.isnan(w)) and np.array_equal(np.isinf(g), np.isinf(w))


def test_dask_sum_whose_term_is_a_plain_operand_is_quiet():
    # a term read as it is (v in v - w) was added by dask outside the call's errstate: inf - inf warned
    pytest.importorskip("dask.array")
    v, w, a = td.vector("v", "n"), td.vector("w", "n"), td.scalar("a")
    exprs = [v - w, a + td.sum(v), a - v, v + w * v, td.log_softmax(v)]
    values = {"v": np.array([np.inf, 1.0, -np.inf]), "w": np.array([np.inf, 2.0, 3.0]), "a": -np.inf}
    want = _quietly_on("numpy", exprs, **values)
    for chunks in [None, 1]:
        got = _quietly_on("dask", exprs, chunks=chunks, **values)
        for e, x, y in zip(exprs, want, got):
            assert np.array_equal(x, y, equal_nan=True), td.index_notation(e)


def test_each_backend_gets_the_array_operations_of_its_library():
    # torch spells reductions with dim= and has its own logsumexp; dask runs the elementwise parts in
    # quiet blocks; numpy, jax and cupy take numpy's names (jax and cupy never warn about IEEE values)
    class Named:
        def __init__(self, name, lib):
            self.name, self.lib = name, lib
    assert type(ops_for(Named("torch", object()))) is TorchOps
    assert type(ops_for(Named("dask", object()))) is DaskOps
    for name in ["numpy", "jax", "cupy"]:
        assert type(ops_for(Named(name, np))) is ArrayOps
    assert ops_for(Named("numpy", object())).xp is np


# ---------------------------------------------------------------- 2. parts of composite dims solved at a call

def _on(backend, expr, **values):
    pytest.importorskip({"numpy": "numpy", "dask": "dask.array", "jax": "jax"}[backend])
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    result = td.evaluate(expr, backend=backend, **values)
    return np.asarray(result.compute() if backend == "dask" else result)


def _concatenated():
    v, y = td.vector("v_ug", "a_ug+b_ug"), td.vector("y_ug", "a_ug")
    return v, y, td.sum(v * td.concatenate([y, 2 * td.ones("b_ug")]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("a, b", [(3, 2), (1, 4), (3, 0), (0, 3), (0, 0)])
def test_a_part_of_a_concatenated_dim_is_solved_from_the_values(backend, a, b):
    v, y, f = _concatenated()
    rng = np.random.default_rng(a * 10 + b)
    vv, yv = rng.standard_normal(a + b), rng.standard_normal(a)
    closed = vv[:a] @ yv + 2 * vv[a:].sum()
    assert np.allclose(_on(backend, f, v_ug=vv, y_ug=yv), closed, rtol=1e-13, atol=1e-13)
    # as passing b by name gives, and as the generated einsum code (b = v.shape[0] - a) computes
    assert np.allclose(td.evaluate(f, v_ug=vv, y_ug=yv, b_ug=b), closed, rtol=1e-13, atol=1e-13)
    scope = {"np": np, "v_ug": vv, "y_ug": yv}
    exec(td.to_einsum(f), scope)   # noqa: S102 - the generated code is what is compared
    assert np.allclose(scope["out"], closed, rtol=1e-13, atol=1e-13)
    # its gradient in v holds y and ones(b): sized the same way, and checked by finite differences
    g = td.grad(f, v)
    assert np.allclose(_on(backend, g, v_ug=vv, y_ug=yv), np.concatenate([yv, 2 * np.ones(b)]))


def test_the_solved_part_is_checked_against_finite_differences():
    v, y, f = _concatenated()
    h = td.sum(td.exp(td.concatenate([y, td.ones("b_ug")]) * v))
    rng = np.random.default_rng(3)
    values = {"v_ug": rng.standard_normal(5), "y_ug": rng.standard_normal(3)}
    assert td.check(h, v, **values).max_rel_error < 1e-7
    assert td.check(td.grad(h, y), v, **values).max_rel_error < 1e-7
    assert td.check(h, v, order=2, **values).max_rel_error < 1e-7


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_part_of_a_merged_dim_is_solved_and_an_uneven_length_refused(backend):
    theta, X = td.vector("th_ug", "d_ug·k_ug"), td.matrix("X_ug", "n_ug d_ug")
    # the k of ones(k) is only in θ's d·k: no reshape node relates it to θ's length
    f = td.sum(X @ td.reshape(theta, "d_ug k_ug")) + 3 * td.sum(td.ones("k_ug"))
    g = td.sum(theta) * td.sum(td.ones("k_ug"))
    rng = np.random.default_rng(5)
    th, Xv = rng.standard_normal(12), rng.standard_normal((2, 4))
    assert np.allclose(_on(backend, f, th_ug=th, X_ug=Xv), (Xv @ th.reshape(4, 3)).sum() + 9)
    assert np.allclose(_on(backend, g, th_ug=th, X_ug=Xv), th.sum() * 3)
    with pytest.raises(td.ShapeError, match="'d_ug·k_ug' has size 13.*part 'k_ug'.*d_ug=4"):
        _on(backend, g, th_ug=np.ones(13), X_ug=Xv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_no_part_can_have_are_refused_naming_the_dim_and_the_part(backend):
    v, y, f = _concatenated()
    with pytest.raises(td.ShapeError, match="'a_ug\\+b_ug' has size 2.*part 'b_ug'.*hold 3: a_ug=3"):
        _on(backend, f, v_ug=np.ones(2), y_ug=np.ones(3))
    w = td.vector("w_ug", "a_ug+a_ug")
    twice = td.sum(w) + td.sum(td.ones("a_ug"))
    assert _on(backend, twice, w_ug=np.ones(6)) == 9.0               # 2a = 6
    with pytest.raises(td.ShapeError, match="part 'a_ug'.*occurs 2 times"):
        _on(backend, twice, w_ug=np.ones(5))


def test_a_part_no_linear_relation_determines_stays_unknown():
    # k·k = 9 has one solution, but no linear one; 0·k = 0 holds for every k; n from n[1:] neither
    sizes = {"k·k": 9}
    assert not solve_parts(sizes) and sizes == {"k·k": 9}
    sizes = {"d·k": 0, "d": 0}
    assert not solve_parts(sizes) and "k" not in sizes
    sizes = {"d·k": 0, "d": 2}
    assert solve_parts(sizes) and sizes["k"] == 0
    u = td.vector("u_ug", "k_ug·k_ug")
    with pytest.raises(td.EvaluationError, match="'k_ug' is unknown"):
        td.evaluate(td.sum(u) * td.sum(td.ones("k_ug")), u_ug=np.ones(9))
    assert td.evaluate(td.sum(u) * td.sum(td.ones("k_ug")), u_ug=np.ones(9), k_ug=3) == 27.0


def test_nested_composites_are_solved_one_part_at_a_time():
    sizes = {"(a+b)·c": 12, "c": 3, "a": 1}
    assert solve_parts(sizes) and (sizes["a+b"], sizes["b"]) == (4, 3)
    theta, c = td.vector("th2_ug", "(p2_ug+q_ug)·c_ug"), td.vector("c_ug", "c_ug")
    p = td.vector("pv_ug", "p2_ug")
    f = td.sum(theta) + td.sum(p) * td.sum(td.ones("q_ug")) + td.sum(c)
    value = td.evaluate(f, th2_ug=np.ones(12), c_ug=np.ones(3), pv_ug=np.ones(1))
    assert value == 12 + 1 * 3 + 3
    with pytest.raises(td.ShapeError, match="part 'q_ug'"):
        td.evaluate(f, th2_ug=np.ones(12), c_ug=np.ones(3), pv_ug=np.ones(5))


# ---------------------------------------------------------------- 3. sizes by dim name, for dims a derivative lost

@pytest.mark.parametrize("backend", BACKENDS)
def test_one_table_of_sizes_evaluates_a_function_and_each_derivative_block(backend):
    X, w, s = td.matrix("X_ug", "n_ug p_ug"), td.vector("w_ug", "p_ug"), td.scalar("s_ug")
    f = s * td.sum(X @ w) + s ** 3
    table = {"n_ug": 2, "p_ug": 3}
    rng = np.random.default_rng(11)
    Xv, wv, sv = rng.standard_normal((2, 3)), rng.standard_normal(3), 0.7
    values = {"X_ug": Xv, "w_ug": wv, "s_ug": sv}
    blocks = td.hessian(f, [w, s, X])
    closed = {(0, 0): np.zeros((3, 3)), (1, 1): 6 * sv, (2, 2): np.zeros((2, 3, 2, 3)),
              (0, 1): Xv.sum(axis=0), (1, 0): Xv.sum(axis=0)}
    for (i, j), want in closed.items():
        block = blocks[i][j]
        if not block.free:   # holds no symbol: the table alone sizes it, though it lost n (the w, w block)
            assert np.allclose(_on(backend, block, **table), want), (i, j, td.index_notation(block))
        assert np.allclose(_on(backend, block, **table, **values), want), (i, j, td.index_notation(block))
    zero = td.diff(td.sum(X) * s, s, order=2)   # a scalar zero: the sizes of f's dims are taken, not needed
    assert _on(backend, zero, n_ug=2, p_ug=3, s_ug=0.5) == 0.0
    assert td.check(f, w, **values).max_rel_error < 1e-7


def test_a_size_for_a_dim_held_only_inside_a_composite_dim_is_taken_for_a_derivative_of_it():
    # b of v (a+b) is no symbol's axis, but the block was derived from f, which holds it (dimsizes.py);
    # a name f does not hold is still refused (test_usability_gaps4.py)
    v, y, f = _concatenated()
    block = td.diff(f, y, order=2)                 # zeros (a, a)
    assert np.array_equal(td.evaluate(block, a_ug=3), np.zeros((3, 3)))
    assert np.array_equal(td.evaluate(block, a_ug=3, b_ug=2), np.zeros((3, 3)))
    with pytest.raises(td.EvaluationError, match="'bb_ug', which is no symbol.*its dims: \\(a_ug\\)"):
        td.evaluate(block, a_ug=3, bb_ug=2)


def test_a_size_given_for_a_lost_dim_still_agrees_with_the_values_given():
    X, s = td.matrix("X_ug", "n_ug p_ug"), td.scalar("s_ug")
    zero = td.diff(td.sum(X) * s, s, order=2)
    assert td.evaluate(zero, X_ug=np.ones((2, 3)), n_ug=2) == 0.0
    with pytest.raises(td.ShapeError, match="'n_ug' is given as 5 but is 2 in axis 0 of 'X_ug'"):
        td.evaluate(zero, X_ug=np.ones((2, 3)), n_ug=5)
    with pytest.raises(td.EvaluationError, match="size of dim 'n_ug' must be an int >= 0, got -1"):
        td.evaluate(zero, n_ug=-1)


@pytest.mark.parametrize("value, kind", [(2.0, "float"), (np.ones(2), "ndarray"), (True, "bool"), ("3", "str"),
                                         (3, "int")])
def test_a_name_that_is_neither_a_symbol_nor_a_size_is_refused_naming_the_expression(value, kind):
    v, y, f = _concatenated()
    block = td.diff(f, y, order=2)                 # zeros (a, a)
    with pytest.raises(td.EvaluationError, match=f"'zz_ug', which is no symbol of this expression, nor the size "
                                                 f"of a dim of it or of a declared symbol \\(got {kind}; its symbols: none; derived from 'v_ug' "
                                                 f"\\(a_ug\\+b_ug\\), 'y_ug' \\(a_ug\\); its dims: \\(a_ug\\)"
                                                 + ("\\)$" if kind == "int" else "; a dim's size is an int >= 0\\)$")):
        td.evaluate(block, a_ug=3, zz_ug=value)
    with pytest.raises(td.EvaluationError, match="'c\\+d', which is no symbol.*its symbols: v_ug, y_ug"):
        td.evaluate(f, {"c+d": 4, "v_ug": np.ones(5), "y_ug": np.ones(3)})
    # an int under the name of a symbol is that symbol's value, not a size
    r = td.scalar("r_ug")
    assert td.evaluate(block + 0 * td.sum(td.ones("a_ug")), a_ug=3, r_ug=2).shape == (3, 3)
    del r


def test_a_dim_the_expression_needs_is_still_refused_when_no_size_is_given():
    X, s = td.matrix("X_ug", "n_ug p_ug"), td.scalar("s_ug")
    with pytest.raises(td.EvaluationError, match="size of dim\\(s\\) 'p_ug' is unknown"):
        td.evaluate(td.diff(s * td.sum(X), X, order=2), n_ug=2)


# ---------------------------------------------------------------- 4. a stack's axis named for a symbol to share

def _layers():
    X, Y, c = td.matrix("X4_ug", "n4_ug p4_ug"), td.matrix("Y4_ug", "n4_ug p4_ug"), td.vector("c4_ug", "k4_ug")
    stacked = td.stack([X, td.tanh(Y), X * Y], axis=2, dim="k4_ug")
    f = td.sum(td.tanh(td.einsum("npk,k->np", stacked, c)))
    rng = np.random.default_rng(4)
    values = {"X4_ug": rng.standard_normal((3, 2)), "Y4_ug": rng.standard_normal((3, 2)), "c4_ug": rng.standard_normal(3)}
    return X, Y, c, stacked, f, values


def _layers_closed(values):
    X, Y, c = values["X4_ug"], values["Y4_ug"], values["c4_ug"]
    return np.tanh(c[0] * X + c[1] * np.tanh(Y) + c[2] * X * Y).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_coefficient_vector_over_a_named_stack_axis_weighs_the_operands(backend):
    X, Y, c, stacked, f, values = _layers()
    assert stacked.shape == ("n4_ug", "p4_ug", "k4_ug")
    assert np.allclose(_on(backend, f, **values), _layers_closed(values), rtol=1e-6 if backend == "jax" else 1e-13)
    Xv, Yv = values["X4_ug"], values["Y4_ug"]
    assert np.allclose(_on(backend, stacked, **values), np.stack([Xv, np.tanh(Yv), Xv * Yv], axis=2))


def test_derivatives_through_a_named_stack_axis_agree_with_finite_differences_and_jax():
    X, Y, c, stacked, f, values = _layers()
    for wrt in (X, Y, c):
        assert td.check(f, wrt, **values).max_rel_error < 1e-7, wrt.name
        assert td.check(f, wrt, order=2, **values).max_rel_error < 1e-7, wrt.name
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def twin(c_):
        Xv, Yv = values["X4_ug"], values["Y4_ug"]
        return jnp.tanh(jnp.einsum("npk,k->np", jnp.stack([Xv, jnp.tanh(Yv), Xv * Yv], axis=2), c_)).sum()
    assert np.allclose(td.evaluate(td.grad(f, c), **values), jax.grad(twin)(values["c4_ug"]), rtol=1e-12)
    assert np.allclose(td.evaluate(td.hessian(f, c), **values), jax.hessian(twin)(values["c4_ug"]), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_that_sizes_the_named_axis_otherwise_is_refused_naming_both_dims(backend):
    X, Y, c, stacked, f, values = _layers()
    values["c4_ug"] = np.ones(4)
    with pytest.raises(td.ShapeError, match="dims 'k4_ug' and '3' name one axis.*'k4_ug' has size 4 and '3' 3"):
        _on(backend, f, **values)
    # the axis named as a dim the operands already have: a square matrix of n vectors, checked alike
    u, v = td.vector("u4_ug", "n4_ug"), td.vector("v4_ug", "n4_ug")
    square = td.stack([u, v], axis=1, dim="n4_ug")
    assert square.shape == ("n4_ug", "n4_ug")
    assert _on(backend, td.trace(square), u4_ug=np.array([1.0, 2.0]), v4_ug=np.array([3.0, 4.0])) == 5.0
    with pytest.raises(td.ShapeError, match="'n4_ug' and '2' name one axis.*'n4_ug' has size 3 and '2' 2"):
        _on(backend, td.trace(square), u4_ug=np.ones(3), v4_ug=np.ones(3))


def test_stacks_of_stacks_name_each_axis_and_unnamed_axes_stay_decimal():
    u, v = td.vector("u4_ug", "n4_ug"), td.vector("v4_ug", "n4_ug")
    w = td.vector("w4_ug", "m4_ug")
    inner = [td.stack([u, v]), td.stack([v, u])]
    assert inner[0].shape == ("2", "n4_ug")
    nested = td.stack(inner, dim="m4_ug")
    assert nested.shape == ("m4_ug", "2", "n4_ug")
    uv, vv = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 4.0])
    got = td.evaluate(td.einsum("m,mkn->kn", w, nested), w4_ug=np.array([2.0, -3.0]), u4_ug=uv, v4_ug=vv)
    assert np.allclose(got, 2 * np.stack([uv, vv]) - 3 * np.stack([vv, uv]))


@pytest.mark.parametrize("dim", ["2", "a+b", "n m", 3, "", "k!"])
def test_a_stack_axis_name_that_is_no_identifier_is_refused(dim):
    u, v = td.vector("u4_ug", "n4_ug"), td.vector("v4_ug", "n4_ug")
    with pytest.raises(td.ShapeError, match="stack's dim= names the new axis with an identifier"):
        td.stack([u, v], dim=dim)


def test_declaring_a_decimal_dim_points_to_stack_dim():
    with pytest.raises(td.ShapeError, match="dim name '2' is not an identifier.*td.stack\\(xs, dim='k'\\) names it"):
        td.vector("c4_ug", "2")


# ---------------------------------------------------------------- 5. symmetric= naming no symbol of the text

@pytest.mark.parametrize("symmetric, unused", [("Ss", "Ss"), (["S", "T"], "T"), (("U", "S"), "U"), (["s"], "s")])
def test_symmetric_naming_a_symbol_the_text_does_not_use_is_refused_naming_it(symmetric, unused):
    with pytest.raises(td.ShapeError, match=f"symmetric= names '{unused}', which the text does not use "
                                            "\\(its symbols: S, x\\)"):
        td.parse("x'*S*x", symmetric=symmetric)


def test_symmetric_naming_symbols_the_text_uses_still_makes_them_symmetric():
    f = td.parse("x'*S*x + tr(S*C)", symmetric=["S"], S="n5_ug n5_ug", x="n5_ug", C="n5_ug n5_ug")
    S = next(node for node in _symbols_of(f) if node.name == "S")
    assert S.symmetric
    # a symbol the text uses is named even where simplification removes it from the result
    assert td.parse("tr(S) - tr(S)", symmetric="S").shape == ()
    # unused dim keywords stay accepted: one table of dims serves many texts
    assert td.parse("x'*S*x", symmetric="S", S="n5_ug n5_ug", x="n5_ug", Q="q5_ug q5_ug").shape == ()
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    value = td.evaluate(f, S=A + A.T, x=np.ones(3), C=np.eye(3))
    assert np.isclose(value, np.ones(3) @ (A + A.T) @ np.ones(3) + np.trace(A + A.T))


def _symbols_of(expr):
    return [node for node in topological([expr]) if isinstance(node, Var)]


def test_the_cli_refuses_an_unused_symmetric_name_with_one_clean_line(capsys):
    assert main(["x'*S*x", "--wrt", "x", "--symmetric", "Ss"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["tensordiff: error: symmetric= names 'Ss', which the text does not use (its symbols: S, x)"]
    assert main(["x'*S*x", "--wrt", "x", "--symmetric", "S"]) == 0
    captured = capsys.readouterr()
    assert not captured.err and captured.out
