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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from problems import PROBLEMS  # noqa: E402

from helpers import assert_identical  # noqa: E402


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
    if np.isrealobj(weight) and bool((weight >= 0).all()):
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


@pytest.mark.parametrize("rows, cols", [(1, 1), (7, 3), (40, 6), (3, 9)])
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
    run = step.bind({}, None)
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
