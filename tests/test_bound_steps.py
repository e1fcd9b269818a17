"""Steps bound to a program's signature (specialise.py): what gram.py and fusion.py work out once
per signature gives the numbers the per-call code gave, bit for bit, and is worked out anew where
a call's arrays differ from what was bound (strides, shapes, a second signature)."""

import os
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import gram, kernels
from tensordiff.fusion import WritableCheck, broadcastable, connected_factors, placed_scale
from tensordiff.gram import gram_plan, gram_product
from tensordiff.pairwise import IN_PLACE_ENTRIES

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from problems import PROBLEMS  # noqa: E402

from helpers import assert_identical, symbols_of  # noqa: E402


# the compiled kernels where they are in use (CI's numpy-twin run switches them off), and the twin
IMPLEMENTATIONS = [True, False] if kernels.kernels_info().startswith("compiled") else [False]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda compiled: "kernels" if compiled else "twin")
def implementation(request):
    previous = kernels.use_compiled(request.param)
    yield request.param
    kernels.use_compiled(previous)


# ---------------------------------------------------------------- connected_factors

def _components(subscripts, kept):
    """Operand groups joined by shared indices outside ``kept``, by a plain graph search."""
    seen, groups = set(), []
    for start in range(len(subscripts)):
        if start in seen:
            continue
        group, frontier = [], [start]
        seen.add(start)
        while frontier:
            k = frontier.pop()
            group.append(k)
            for j, sub in enumerate(subscripts):
                if j not in seen and set(sub) & set(subscripts[k]) - set(kept):
                    seen.add(j)
                    frontier.append(j)
        groups.append(sorted(group))
    return groups


@pytest.mark.parametrize("text", ["x * (y'*z)", "(x'*A*y) * B * z", "A*B*C", "(x'*A*y) * (z'*B*x) * x",
                                  "A .* (B*C)", "tr(A*B) * C"])
def test_connected_factors_are_the_components_of_the_summed_indices(text):
    x, y, z = td.vector("x", "i"), td.vector("y", "i"), td.vector("z", "i")
    A, B, C = td.matrix("A", "i i"), td.matrix("B", "i i"), td.matrix("C", "i i")
    term = td.parse(text, x=x, y=y, z=z, A=A, B=B, C=C)
    assert isinstance(term, td.expr.Einsum)
    for kept in (term.out, ()):
        assert connected_factors(term, kept) == _components(term.subscripts, kept)


# ---------------------------------------------------------------- gram.py

def _old_gram_product(g, weight, factor, block):
    """gram_product as it was: each block's product made on its own, the first copied into the
    result and the others added to it, then the factor applied."""
    rows, cols = g.shape
    unit = isinstance(factor, float) and factor == 1.0
    scale_result = not unit and cols <= rows
    weight = weight if unit or scale_result else weight * factor
    dtype = np.result_type(g, weight, *([factor] if scale_result else []))
    bounds = [(start, start + block) for start in range(0, rows, block)]
    if not gram.narrow(rows, cols) and np.isrealobj(weight) and bool((weight >= 0).all()):   # narrow: gemm
        halves = [g[a:b] * np.sqrt(weight)[a:b] for a, b in bounds]
        parts = [h.T @ h for h in halves]
    else:
        parts = [g[a:b].T @ (g[a:b] * weight[a:b]) for a, b in bounds]
    matrix = np.empty((cols, cols), dtype=dtype)
    matrix[...] = parts[0]
    for part in parts[1:]:
        matrix += part
    if scale_result:
        matrix *= factor
    return matrix


@pytest.mark.parametrize("rows, cols", [(1, 1), (7, 3), (40, 6), (3, 9), (12, 40), (1100, 30)])
@pytest.mark.parametrize("signs", ["nonnegative", "mixed"])
@pytest.mark.parametrize("factor", [1.0, -2.5, 0.5 + 1j])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_product_equals_the_blockwise_formula_bit_for_bit(rows, cols, signs, factor, dtype, monkeypatch):
    rng = np.random.default_rng(rows * cols)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    weight = rng.random((rows, 1)) if signs == "nonnegative" else rng.standard_normal((rows, 1))
    for block_entries in (gram.ROW_BLOCK_ENTRIES, 2 * cols):   # one block, then blocks of two rows
        monkeypatch.setattr(gram, "ROW_BLOCK_ENTRIES", block_entries)
        got = gram_product(g, weight, factor)
        want = _old_gram_product(g, weight, factor, max(1, block_entries // cols))
        assert got.flags.owndata
        assert_identical(got, want)


def _contract(equation, arrays):
    return np.einsum(equation, *arrays)


def _plan(equation, shapes):
    return lambda *arrays: np.einsum(equation, *arrays)


@pytest.mark.parametrize("case", [
    # G[s,i] G[s,j] w[s]: the weight spans the shared index
    (["G", "G", "w"], [(0, 1), (0, 2), (0,)], (1, 2), {"G": (9, 4), "w": (9,)}),
    # G[s,t,i] G[s,t,j] w[s]: the weight is broadcast along t
    (["G", "G", "w"], [(0, 3, 1), (0, 3, 2), (0,)], (1, 2), {"G": (5, 3, 4), "w": (5,)}),
    # G[s,t,i] G[s,t,j] w[t]: along s
    (["G", "G", "w"], [(0, 3, 1), (0, 3, 2), (3,)], (1, 2), {"G": (5, 3, 4), "w": (3,)}),
    # H[s,i] H[s,j] K[s,k] K[s,l], result axes permuted
    (["H", "H", "K", "K"], [(0, 1), (0, 2), (0, 3), (0, 4)], (1, 3, 2, 4), {"H": (6, 2), "K": (6, 3)}),
    # no weight
    (["G", "G"], [(0, 1), (0, 2)], (1, 2), {"G": (4, 5)}),
])
@pytest.mark.parametrize("signs", ["nonnegative", "mixed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_bound_gram_plan_computes_what_the_plan_computes(case, signs, dtype):
    operands, subs, core_ids, shapes = case
    plan = gram_plan(operands, subs, core_ids, _contract)
    assert plan is not None
    rng = np.random.default_rng(3)
    values = {name: (rng.random(shape) if signs == "nonnegative" else rng.standard_normal(shape)).astype(dtype)
              for name, shape in shapes.items()}
    arrays = [values[name] for name in operands]
    bound = plan.bind([values[name].shape for name in operands], _plan)
    equation = ",".join("".join(chr(97 + i) for i in sub) for sub in subs) + "->" + \
        "".join(chr(97 + i) for i in core_ids)
    # the result's dtype is remembered by the factor's kind: each kind, then each again
    for factor in (1.0, -3.0, np.float32(2.0), np.float64(0.5), 0.5 + 1j, np.asarray(-1.5), -3.0, np.float32(2.0)):
        got = bound(arrays, factor)
        assert_identical(got, plan(arrays, factor))
        tolerance = 1e-12 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(got, factor * np.einsum(equation, *arrays), rtol=tolerance, atol=tolerance)


# ---------------------------------------------------------------- fusion.py

def test_a_writable_check_refuses_what_it_must_whatever_it_has_seen():
    check = WritableCheck((3, 4), owned=False)
    assert check(np.zeros((3, 4)), np.dtype(np.float64))
    assert check(np.zeros((4, 3)).T, np.dtype(np.float64))      # other strides, distinct entries
    base = np.zeros(4)
    overlapping = np.lib.stride_tricks.as_strided(base, (3, 4), (0, 8), writeable=True)
    assert not check(overlapping, np.dtype(np.float64))          # rows share memory
    assert not check(np.zeros((3, 4)), np.dtype(np.float32))
    assert not check(np.zeros((4, 3)), np.dtype(np.float64))
    frozen = np.zeros((3, 4))
    frozen.flags.writeable = False
    assert not check(frozen, np.dtype(np.float64))
    owned = WritableCheck((3, 4), owned=True)
    assert owned(np.zeros((3, 4)), np.dtype(np.float64))
    assert not owned(np.zeros((6, 4))[::2], np.dtype(np.float64))   # a view: the caller would get a copy


@pytest.mark.parametrize("axes", [(0,), (2,), (1, 3), (3, 1), (2, 0, 3), (3, 2, 1, 0), ()])
def test_a_placed_scale_places_as_broadcastable_does(axes):
    shape = tuple(2 + k for k in range(len(axes)))
    array = np.random.default_rng(len(axes)).standard_normal(shape)
    _, _, bound_shape, order, placed = placed_scale(5, axes, shape, 4)
    assert bound_shape == shape
    got = (array if order is None else np.transpose(array, order)).reshape(placed)
    assert_identical(got, broadcastable(array, axes, 4))


def _step_loop(expr):
    program = td.compile(expr)
    program.specialisations = None
    return program


@pytest.mark.parametrize("name", ["nn-hess", "nn-grad", "logreg-hess", "ridge", "tikhonov-H", "logdet-hess", "mf-hess"])
def test_bound_steps_take_new_strides_and_a_second_signature(name, implementation):
    problem = PROBLEMS[name]
    rng = np.random.default_rng(5)
    small = problem.inputs(problem.sizes["small"], rng)
    fortran = {k: np.asfortranarray(v) if np.ndim(v) > 1 else v for k, v in small.items()}
    strided = {k: np.repeat(v, 2, axis=-1)[..., ::2] if np.ndim(v) else v for k, v in small.items()}
    tiny = problem.inputs({d: 1 for d in problem.sizes["small"]}, rng)
    expr = problem.tensordiff()
    program, loop = td.compile(expr), _step_loop(expr)
    for values in (small, fortran, strided, tiny, small):   # one signature, three layouts, a second one
        got = program(**values)
        assert_identical(got, loop(**values))
        np.testing.assert_allclose(got, problem.closed(**values), rtol=1e-8, atol=1e-10)
    assert len(program.specialisations) == 2


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_kernels_and_twin_agree_bit_for_bit_on_the_bound_steps(name):
    problem = PROBLEMS[name]
    values = problem.inputs(problem.sizes["small"], np.random.default_rng(8))
    results = []
    for compiled in IMPLEMENTATIONS:
        previous = kernels.use_compiled(compiled)
        try:
            program = td.compile(problem.tensordiff())
            results.append([program(**values) for _ in range(2)])
        finally:
            kernels.use_compiled(previous)
    for got, want in zip(results[0], results[-1]):
        assert_identical(got, want)


def test_running_a_layout_on_factors_by_position_is_running_it_on_factors_by_key(implementation):
    rng = np.random.default_rng(11)
    terms = [[("a", (0, 1)), ("b", (1,))], [("c", (0, 1))], [("b", (1,)), ("d", (0,))]]
    layout = kernels.ProductsLayout(terms, 2)
    coeffs = [1.5, -2.0, 0.25]
    for dtype in (np.float64, np.float32):
        arrays = {"a": rng.standard_normal((6, 5)), "b": rng.standard_normal(5), "c": rng.standard_normal((5, 6)).T,
                  "d": rng.standard_normal(6).astype(np.float32)}   # a float32 factor: the twin's path
        for add in (False, True):
            start = rng.standard_normal((6, 5)).astype(dtype)
            by_key, by_position = start.copy(), start.copy()
            layout.run(by_key, arrays, coeffs, add)
            layout.run_factors(by_position, tuple(arrays[key] for key in layout.keys), coeffs, add,
                               layout.kernel_coefficients(coeffs))
            assert_identical(by_position, by_key)


@pytest.mark.parametrize("name", ["nn-grad", "nn-hess", "logreg-hess", "tikhonov-J"])
def test_bound_sums_of_mixed_dtypes_agree_with_the_step_loop(name, implementation):
    problem = PROBLEMS[name]
    values = problem.inputs(problem.sizes["small"], np.random.default_rng(6))
    first = sorted(k for k, v in values.items() if np.ndim(v) > 0)[0]
    values[first] = values[first].astype(np.float32)
    expr = problem.tensordiff()
    program, loop = td.compile(expr), _step_loop(expr)
    for _ in range(2):
        got = program(**values)
        assert_identical(got, loop(**values))
    np.testing.assert_allclose(got, problem.closed(**values), rtol=1e-4, atol=1e-5)


def test_a_bound_elementwise_step_refuses_an_overlapping_buffer_after_a_fresh_one():
    x = td.matrix("x", "n k")
    program = td.compile(td.tanh(td.exp(x)) + 1)
    step = next(step for _, step, _, _ in program.steps if "tanh (in place)" in getattr(step, "describe", str)())
    # sizes at which the bound step writes in place (smaller values are made anew); it reads the arrays' own shapes
    run = step.bind({"n": IN_PLACE_ENTRIES, "k": 1}, None)
    fresh = np.array([[0.5, -1.0, 2.0]] * 4)
    assert run(fresh) is fresh                                    # written in place, its layout remembered
    base = np.array([0.5, -1.0, 2.0])
    overlapping = np.lib.stride_tricks.as_strided(base, (4, 3), (0, 8), writeable=True)
    got = run(overlapping)
    assert got is not overlapping
    np.testing.assert_array_equal(base, [0.5, -1.0, 2.0])
    np.testing.assert_array_equal(got, np.tanh(np.broadcast_to(base, (4, 3))))
    other = np.asfortranarray(np.full((4, 3), 0.25))               # another layout, distinct entries
    assert run(other) is other
    np.testing.assert_array_equal(other, np.tanh(np.full((4, 3), 0.25)))


def test_an_in_place_scaling_remembers_only_what_shapes_and_dtypes_decide():
    from tensordiff.pairwise import scaling_in_place
    scale = scaling_in_place("abc,ca->abc", [True, False])
    rng = np.random.default_rng(4)
    for shape in ((2, 3, 4), (3, 1, 5), (2, 3, 4)):   # the factor's broadcast shape, per shape
        target, factor = rng.standard_normal(shape), rng.standard_normal((shape[2], shape[0]))
        want = target * factor.T[:, None, :]
        assert scale(target, factor) is target
        assert_identical(target, want)
    narrow = rng.standard_normal((2, 3, 4)).astype(np.float32)
    got = scale(narrow, rng.standard_normal((4, 2)))                # float64 product: not into float32
    assert got is not narrow and got.dtype == np.float64
    same = rng.standard_normal((2, 3, 4)).astype(np.float32)
    assert scale(same, rng.standard_normal((4, 2)).astype(np.float32)) is same
    base = rng.standard_normal((3, 4))
    overlapping = np.lib.stride_tricks.as_strided(base, (2, 3, 4), (0, 32, 8), writeable=True)
    kept = base.copy()
    factor = rng.standard_normal((4, 2))
    got = scale(overlapping, factor)
    assert got is not overlapping
    assert_identical(base, kept)
    assert_identical(got, np.broadcast_to(kept, (2, 3, 4)) * factor.T[:, None, :])
    shared = rng.standard_normal((2, 3, 4))
    assert scale(shared, shared[:, 0, :].T) is not shared             # the factor reads the target's buffer


# ---------------------------------------------------------------- kernels.ProductsLayout.bound

_TERMS = [[("a", (0, 1)), ("b", (1,))], [("c", (0, 1))], [("b", (1,)), ("d", (0,))], [("e", ())]]


def _layout_arrays(rng, n, m, dtype, layouts):
    """Factors of _TERMS for a view of shape (n, m), each in the layout ``layouts`` names."""
    arrays = {"a": rng.standard_normal((n, m)), "b": rng.standard_normal(m), "c": rng.standard_normal((n, m)),
              "d": rng.standard_normal(n), "e": np.asarray(rng.standard_normal())}
    if layouts == "fortran":
        arrays = {k: np.asfortranarray(v) if v.ndim else v for k, v in arrays.items()}
    elif layouts == "strided":
        arrays = {k: np.repeat(v, 2, axis=-1)[..., ::2] if v.ndim else v for k, v in arrays.items()}
    elif layouts == "reversed":
        arrays = {k: v[::-1] if v.ndim else v for k, v in arrays.items()}
    return {k: v.astype(dtype) for k, v in arrays.items()}


@pytest.mark.skipif(not kernels.kernels_info().startswith(("compiled", "numpy twin: the compiled kernels are built")),
                    reason="the compiled kernels are not built")
@pytest.mark.parametrize("shape, out_ids", [((4, 3), (0, 1)), ((4, 3, 4, 3), (0, 1, 0, 1)), ((3, 4, 3), (1, 0, 1)),
                                            ((0, 3), (0, 1)), ((4, 0, 4, 0), (0, 1, 0, 1))])
@pytest.mark.parametrize("layouts", ["c", "fortran", "strided", "reversed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1.0, -0.5])
def test_a_bound_layout_writes_what_the_twin_writes(shape, out_ids, layouts, dtype, scale):
    rng = np.random.default_rng(len(shape) * 7 + len(layouts))
    layout = kernels.ProductsLayout(_TERMS, 2)
    view_shape = [0, 0]
    for axis, u in enumerate(kernels.view_axes(out_ids)):
        view_shape[u] = shape[axis]
    arrays = _layout_arrays(rng, view_shape[0], view_shape[1], dtype, layouts)
    names = sorted(arrays)
    args = tuple(arrays[name] for name in names)
    coeffs = [1.5, -2.0, 0.25, 3.0]
    for add in (False, True):
        bound = layout.bound(layout.kernel_coefficients(coeffs), [names.index(key) for key in layout.keys],
                             out_ids, add, scale)
        start = rng.standard_normal(shape).astype(dtype)
        for target_layout in ("c", "fortran"):
            got = np.array(start, order="F" if target_layout == "fortran" else "C")
            want = got.copy()
            assert bound(got, args)
            want *= scale
            layout.run_twin(kernels.diagonal_view(want, out_ids), tuple(arrays[key] for key in layout.keys), coeffs,
                            add)
            assert_identical(got, want)


@pytest.mark.skipif(not kernels.kernels_info().startswith(("compiled", "numpy twin: the compiled kernels are built")),
                    reason="the compiled kernels are not built")
def test_a_bound_layout_declines_what_it_does_not_read_as_it_is_and_writes_nothing():
    rng = np.random.default_rng(2)
    layout = kernels.ProductsLayout(_TERMS, 2)
    arrays = _layout_arrays(rng, 4, 3, np.float64, "c")
    names = sorted(arrays)
    reads = [names.index(key) for key in layout.keys]
    coeffs = layout.kernel_coefficients([1.5, -2.0, 0.25, 3.0])
    bound = layout.bound(coeffs, reads, (0, 1), True)
    scaled = layout.bound(coeffs, reads, (0, 1), True, 2.0)
    packed = np.zeros(12, dtype=[("x", np.float64), ("pad", np.int32)])["x"].reshape(4, 3)   # 12-byte strides
    cases = [
        (np.zeros((4, 3)), {"d": arrays["d"].astype(np.float32)}, bound),   # a factor of another dtype
        (np.zeros((4, 3), dtype=np.int64), {}, bound),                      # a target that is not float
        (np.zeros((4, 3)), {"a": rng.standard_normal((3, 4))}, bound),       # another shape along its axes
        (np.zeros((4, 3)), {"b": rng.standard_normal(1)}, bound),            # broadcast: not read as it is
        (np.zeros((4, 3)), {"c": packed}, bound),                             # a stride of no whole entry
        (np.zeros((4, 3)), {"e": rng.standard_normal(1)}, bound),            # another number of axes
        (np.zeros((4, 6))[:, ::2], {}, scaled),                               # a strided target to scale
    ]
    for target, changed, run in cases:
        given = tuple({**arrays, **changed}[name] for name in names)
        before = target.copy()
        assert not run(target, given)
        assert_identical(target, before)
    checking = layout.bound(coeffs, reads, (0, 1), True, check_all=True)
    target = np.zeros((4, 3))
    assert checking(target, tuple(arrays[name] for name in names))   # every argument float64: it runs
    for extra in (np.zeros(2, dtype=np.float32), 1.5, "text"):        # an argument no term reads, of another kind
        before = target.copy()
        assert not checking(target, tuple(arrays[name] for name in names) + (extra,))
        assert_identical(target, before)


def _assert_bound_equals_loop(expr, values):
    """A program's specialised calls equal its step loop's, on the kernels and on the twin alike,
    hand back arrays that share no memory with the values or each other, and leave the values as
    they were."""
    kept = {k: np.copy(v) for k, v in values.items()}
    results = []
    for compiled in IMPLEMENTATIONS:
        previous = kernels.use_compiled(compiled)
        try:
            program, loop = td.compile(expr), _step_loop(expr)
            for _ in range(3):   # the first call specialises, the others run the bound steps
                got = program(**values)
                assert_identical(got, loop(**values))
            results.append(got)
        finally:
            kernels.use_compiled(previous)
        assert program.specialisations
    for got in results[1:]:
        assert_identical(got, results[0])
    outputs = results[0] if isinstance(results[0], tuple) else (results[0],)
    for k, out in enumerate(outputs):
        assert not any(np.shares_memory(out, v) for v in values.values() if isinstance(v, np.ndarray))
        assert not any(np.shares_memory(out, other) for other in outputs[k + 1:])
    for k, v in values.items():
        assert_identical(np.asarray(v), np.asarray(kept[k]))
    return results[0]


@pytest.mark.parametrize("layout", ["c", "fortran", "strided", "reversed"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bound_sums_on_odd_layouts_equal_the_step_loop(layout, dtype):
    X, W, a = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k")
    s = td.scalar("s")
    f = td.norm(td.tanh(X @ W) @ a) ** 2 + s ** 2 * td.sum(W * W)
    exprs = [td.grad(f, W), td.hessian(f, W), td.logdet(W.T @ W + s ** 2 * td.eye("k")),
             td.grad(td.logdet(W.T @ W + s ** 2 * td.eye("k")), W)]
    rng = np.random.default_rng(9)
    values = {"X": rng.standard_normal((6, 4)), "W": rng.standard_normal((4, 3)) / 2, "a": rng.standard_normal(3)}
    if layout == "fortran":
        values = {k: np.asfortranarray(v) for k, v in values.items()}
    elif layout == "strided":
        values = {k: np.repeat(v, 2, axis=-1)[..., ::2] for k, v in values.items()}
    elif layout == "reversed":
        values = {k: v[::-1] for k, v in values.items()}
    values = {k: v.astype(dtype) for k, v in values.items()}
    values["s"] = 0.7
    for expr in exprs:
        _assert_bound_equals_loop(expr, {k: v for k, v in values.items() if k in {n.name for n in symbols_of(expr)}})


@pytest.mark.parametrize("sizes", [dict(n=0, d=3), dict(n=4, d=0), dict(n=1, d=1)])
def test_bound_sums_of_empty_and_one_entry_dims_equal_the_step_loop(sizes):
    X, y, lam = td.matrix("X", "n d"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("d")) @ X.T @ y
    rng = np.random.default_rng(1)
    values = {"X": rng.standard_normal((sizes["n"], sizes["d"])), "y": rng.standard_normal(sizes["n"]), "lam": 0.5}
    for expr in (td.diff(q, X), td.diff(q, lam), X.T @ X + lam * td.eye("d")):
        _assert_bound_equals_loop(expr, values)


def test_a_program_output_that_is_also_an_input_or_a_donated_sum_is_the_callers():
    X, c = td.matrix("X", "n n"), td.scalar("c")
    G = X.T @ X
    exprs = [X, 2 * G + c * td.eye("n"), G + c * td.eye("n"), X + c * td.eye("n"), X.T, X.T]   # X.T: a view of X
    values = {"X": np.random.default_rng(3).standard_normal((3, 3)), "c": 1.5}
    results = _assert_bound_equals_loop(exprs, values)
    assert results[0] is not values["X"]
    np.testing.assert_allclose(results[1], 2 * values["X"].T @ values["X"] + 1.5 * np.eye(3), rtol=1e-12)


# ---------------------------------------------------------------- boundlinalg.py

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, m", [(1, 1), (2, 3), (5, 5), (9, 1), (1, 7), (30, 2)])
def test_the_kernels_one_norm_is_numpys(dtype, n, m):
    rng = np.random.default_rng(n * 31 + m)
    a = (rng.standard_normal((n, m)) * 10.0 ** rng.integers(-6, 6, (n, m))).astype(dtype)
    want = np.maximum.reduce(np.add.reduce(np.absolute(a), axis=0))
    for layout in (a, np.asfortranarray(a), a[::-1], -a):
        got = kernels.one_norm(layout)
        if got is not None:
            assert type(got) is type(want) and got == want
    if kernels.compiled_in_use() and m > 1:
        assert kernels.one_norm(a) is not None
    a[n // 2, m // 2] = np.nan
    got = kernels.one_norm(a)
    assert got is None or np.isnan(got)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["c", "fortran"])
def test_a_bound_inverse_is_numpys_and_keeps_the_policies(dtype, layout, implementation):
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    expr = td.inv(A) @ B + td.inv(A).T
    rng = np.random.default_rng(4)
    for n in (1, 2, 6):
        a = (rng.standard_normal((n, n)) + n * np.eye(n)).astype(dtype)
        a = np.asfortranarray(a) if layout == "fortran" else a
        b = rng.standard_normal((n, n)).astype(dtype)
        got = _assert_bound_equals_loop(expr, {"A": a, "B": b})
        inverse = np.linalg.inv(a)
        np.testing.assert_allclose(got, inverse @ b + inverse.T, rtol=1e-4 if dtype == np.float32 else 1e-12)
        assert_identical(_assert_bound_equals_loop(td.inv(A), {"A": a}), inverse)
    singular = np.zeros((3, 3), dtype=dtype)
    program = td.compile(td.inv(A))
    program(A=np.eye(3, dtype=dtype))   # specialised to the signature the singular call has
    with pytest.raises(td.EvaluationError, match="singular"):
        program(A=singular)
    assert np.isnan(td.compile(td.inv(A), singular="nan")(A=singular)).all()
    near = np.diag([1.0, 1.0, 1e-18 if dtype == np.float64 else 1e-9]).astype(dtype)
    with pytest.warns(td.IllConditionedWarning, match="inv of an ill-conditioned matrix"):
        program(A=near)
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        td.compile(td.inv(A), conditioning="raise")(A=near)
    nan_entries = np.eye(3, dtype=dtype)
    nan_entries[0, 1] = np.nan
    assert_identical(program(A=nan_entries), np.linalg.inv(nan_entries))


@pytest.mark.parametrize("core_ids, out_ids", [((0, 1), (0, 1, 0, 1)), ((1, 0), (0, 1, 0, 1)), ((0,), (0, 1, 0)),
                                               ((1,), (0, 0, 1)), ((), (0, 0)), ((0, 2), (2, 1, 0, 1, 2))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_assembler_writes_the_diagonal_as_assemble_does(core_ids, out_ids, dtype, implementation):
    sizes = {0: 3, 1: 2, 2: 4}
    rng = np.random.default_rng(len(out_ids))
    core = rng.standard_normal(tuple(sizes[i] for i in core_ids)).astype(dtype)
    if core.size:
        core.flat[0] = -0.0
        core.flat[-1] = np.nan
    place = kernels.assembler(core_ids, out_ids, sizes, np.dtype(dtype))
    for given in (core, np.asfortranarray(core) if core.ndim else core, core[::-1] if core.ndim else core):
        got = place(given)
        want = kernels.assemble(given, list(core_ids), list(out_ids), sizes, 1.0, dtype)
        assert_identical(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    assert_identical(place(core.astype(np.float64)), kernels.assemble(core.astype(np.float64), list(core_ids),
                                                                      list(out_ids), sizes, 1.0, dtype))


def test_the_compiled_layout_test_is_distinct_entries_and_writable_floats_its_conditions():
    from tensordiff.buffers import distinct_entries, writable_floats
    rng = np.random.default_rng(12)
    base = np.zeros(4096)
    for _ in range(400):
        ndim = int(rng.integers(0, 4))
        shape = tuple(int(n) for n in rng.integers(0, 5, ndim))
        strides = tuple(int(s) * 8 for s in rng.integers(-6, 7, ndim))
        view = np.lib.stride_tricks.as_strided(base[2048:], shape, strides, writeable=True)
        want = distinct_entries(view)
        if kernels.compiled_distinct_layout is not None:
            assert kernels.compiled_distinct_layout(view) == (None if 0 in shape else want)
        assert writable_floats(view) == want
        frozen = view.view()
        frozen.flags.writeable = False
        assert not writable_floats(frozen)
    assert not writable_floats(np.zeros((2, 3), dtype=np.int64))
    assert writable_floats(np.zeros((2, 3), dtype=np.float32)) and writable_floats(np.zeros((3, 2)).T)
