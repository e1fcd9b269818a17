"""Programs specialised to their input shapes (specialise.py): the same numbers as the step loop,
bit for bit, one specialisation per signature, dropped on pickling and rebuilt."""

import os
import pickle
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.randexpr import DEPTH, SHAPES, USER_FUNCTIONS, ExpressionGenerator

from helpers import assert_identical, in_threads

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from problems import PROBLEMS  # noqa: E402


def _step_loop(exprs):
    """The program the generic step loop runs: specialisation switched off."""
    program = td.compile(exprs)
    program.specialisations = None
    return program


@pytest.mark.parametrize("name", sorted(PROBLEMS))
@pytest.mark.parametrize("size", ["small", "medium"])
def test_peer_problems_agree_bit_for_bit_with_the_step_loop(name, size):
    problem = PROBLEMS[name]
    values = problem.inputs(problem.sizes[size], np.random.default_rng(1))
    expr = problem.tensordiff()
    specialised, loop = td.compile(expr), _step_loop(expr)
    first = specialised(**values)
    assert len(specialised.specialisations) == 1
    assert_identical(first, loop(**values))
    assert_identical(specialised(**values), first)      # the second call runs the stored specialisation
    np.testing.assert_allclose(first, problem.closed(**values), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_and_derivatives_agree_bit_for_bit(seed):
    gen = ExpressionGenerator(7000 + seed)
    expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    exprs = [expr] + [td.diff(expr, gen.S[name]) for name in sorted(expr.free)[:2]]
    specialised, loop = td.compile(exprs), _step_loop(exprs)
    for _ in range(2):
        assert_identical(specialised(functions=USER_FUNCTIONS, **gen.V), loop(functions=USER_FUNCTIONS, **gen.V))


def test_one_specialisation_per_signature_and_a_bounded_store():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    program = td.compile(td.grad(td.sum(td.tanh(X @ td.vector("w", "p")) * y), X))
    rng = np.random.default_rng(0)
    for n in range(2, 40):
        values = dict(X=rng.standard_normal((n, 3)), y=rng.standard_normal(n), w=rng.standard_normal(3))
        got = program(**values)
        want = (1 - np.tanh(values["X"] @ values["w"]) ** 2)[:, None] * values["y"][:, None] * values["w"][None, :]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert 1 <= len(program.specialisations) <= 16
    float32 = dict(X=np.ones((3, 3), np.float32), y=np.ones(3, np.float32), w=np.ones(3, np.float32))
    assert program(**float32).dtype == np.float32
    assert any(key[0][2] == np.float32 for key in program.specialisations)


def test_values_are_still_checked_on_a_specialised_call():
    S, x = td.matrix("S", "n n", symmetric=True), td.vector("x", "n")
    program = td.compile(x @ S @ x)
    good = np.eye(3)
    assert program(S=good, x=np.ones(3)) == 3.0
    with pytest.raises(td.EvaluationError, match="not symmetric"):
        program(S=np.triu(np.ones((3, 3))), x=np.ones(3))
    with pytest.raises(td.EvaluationError, match="complex"):
        program(S=good.astype(complex), x=np.ones(3))
    with pytest.raises(td.ShapeError):
        program(S=good, x=np.ones(4))
    assert program(S=good.astype(int), x=np.ones(3, dtype=int)) == 3.0   # converted as before


def test_results_are_owned_by_the_caller():
    X = td.matrix("X", "n p")
    program = td.compile([X, X.T, 2 * X])
    value = np.arange(6.0).reshape(2, 3)
    for _ in range(2):
        same, transposed, doubled = program(X=value)
        assert not np.shares_memory(same, value) and not np.shares_memory(transposed, value)
        same[0, 0] = 99.0
        assert value[0, 0] == 0.0


def test_a_pickled_program_specialises_again():
    problem = PROBLEMS["nn-hess"]
    values = problem.inputs(problem.sizes["small"], np.random.default_rng(2))
    program = td.compile(problem.tensordiff())
    want = program(**values)
    again = pickle.loads(pickle.dumps(program))
    assert again.specialisations == {}
    assert_identical(again(**values), want)
    assert len(again.specialisations) == 1


def test_threads_share_one_program():
    problem = PROBLEMS["tikhonov-H"]
    program = td.compile(problem.tensordiff())
    rng = np.random.default_rng(3)
    inputs = [problem.inputs(problem.sizes["small"], np.random.default_rng(k)) for k in range(8)]
    wanted = [_step_loop(problem.tensordiff())(**v) for v in inputs]
    failures = []

    def work(k):
        for _ in range(20):
            got = program(**inputs[k])
            if not np.array_equal(got, wanted[k]):
                failures.append(k)
    order = rng.permutation(8)
    in_threads(lambda k: work(order[k]), 8)
    assert not failures


def test_singular_and_conditioning_policies_hold_on_a_specialised_call():
    A = td.matrix("A", "n n")
    program = td.compile(td.inv(A))
    assert np.allclose(program(A=2 * np.eye(2)), 0.5 * np.eye(2))
    with pytest.raises(td.EvaluationError, match="inv of a singular matrix: A"):
        program(A=np.ones((2, 2)))
    for _ in range(2):   # specialising, then the stored specialisation
        with pytest.warns(td.IllConditionedWarning, match="inv of an ill-conditioned matrix: A") as caught:
            program(A=np.array([[1.0, 1.0], [1.0, 1.0 + 1e-17 + 2e-16]]))
        assert caught[0].filename == __file__   # the warning points at the user's call


def test_a_user_function_is_looked_up_on_every_call():
    x = td.vector("x", "n")
    h = td.elementwise("h_plan")
    program = td.compile(td.sum(h(x)))
    assert program(x=np.ones(2), functions={"h_plan": np.exp}) == pytest.approx(2 * np.e)
    assert program(x=np.ones(2), functions={"h_plan": np.sin}) == pytest.approx(2 * np.sin(1.0))
    with pytest.raises(td.EvaluationError, match="h_plan"):
        program(x=np.ones(2))


# ---------------------------------------------------------------- the plan as data: passes and explain()

def test_passes_are_listed_once_and_explain_names_the_pass_of_each_step():
    from tensordiff.passes import EXPRESSION_PASSES, STEP_PASSES, made_by
    from tensordiff.records import step_records
    names = [p.name for p in EXPRESSION_PASSES + STEP_PASSES]
    assert len(set(names)) == len(names)
    assert all(p.summary for p in EXPRESSION_PASSES + STEP_PASSES)
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    program = td.compile(td.diff(q, X))
    passes = made_by(program)
    assert set(passes.values()) <= set(names) | {"input", "as derived"}
    assert "Gram products" in passes.values() and "one-pass sums" in passes.values()
    text = program.explain(n=50, p=10)
    for k in program.output_slots:
        assert f"%{k} = " in text and f"[{passes[k]}]" in text
    records = step_records(program, dict(n=50, p=10), 8)
    priced = td.cost(td.diff(q, X), n=50, p=10)
    assert sum(r.flops for r in records) == priced.flops     # explain and td.cost read one replay
    assert f"{priced.flops:.3g} flops" in text.splitlines()[-1]
    assert "[" in program.explain() and "flops" not in program.explain()


def test_a_solve_is_attributed_to_the_inverse_pass():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    text = td.compile(td.inv(A) @ b).explain(n=4)
    assert "solve(%0, %1)" in text and "[inverse→solve]" in text
    with pytest.raises(td.EvaluationError, match="'m'"):
        td.compile(td.inv(A) @ b).explain(m=3)


def test_each_intermediate_is_dropped_after_its_last_reader():
    import gc
    import weakref
    x = td.vector("x", "n")
    seen = []

    def spy(v):   # records whether the intermediate before it is still alive
        seen.append([ref() is not None for ref in refs])
        return np.tanh(v)

    refs = []

    def keep(v):
        out = np.exp(v)
        refs.append(weakref.ref(out))
        return out
    first, second = td.elementwise("keep_plan", keep), td.elementwise("spy_plan", spy)
    program = td.compile(td.sum(second(2.0 * first(x))))   # exp(x) is read once, by 2·exp(x)
    for _ in range(2):
        refs.clear()
        seen.clear()
        gc.collect()
        program(x=np.ones(3))
        assert seen == [[False]]   # gone before the next function ran
    special = next(iter(program.specialisations.values()))
    for k, (_, _, _, release) in enumerate(program.steps):
        for slot in release:
            assert f"r{slot} = None" in special.source.splitlines()[1 + k]
    program.specialisations = None   # the step loop, which every other backend runs, drops it too
    refs.clear()
    seen.clear()
    program(x=np.ones(3))
    assert seen == [[False]]


def test_numpy_scalars_specialise_and_array_subclasses_run_the_step_loop(tmp_path):
    x, s = td.vector("x", "n"), td.scalar("s")
    program = td.compile(td.tanh(s * x))
    want = np.tanh(2.0 * np.arange(3.0))
    for scale in (2.0, 2, np.float64(2.0), np.float32(2.0), np.int64(2)):
        np.testing.assert_array_equal(program(x=np.arange(3.0), s=scale), want)
    assert len(program.specialisations) == 5
    mapped = np.memmap(tmp_path / "x.dat", dtype=np.float64, mode="w+", shape=(3,))
    mapped[:] = np.arange(3.0)
    np.testing.assert_array_equal(program(x=mapped, s=2.0), want)
    assert len(program.specialisations) == 5   # a subclass is converted in full on every call
    with pytest.raises(td.EvaluationError, match="masked"):
        program(x=np.ma.masked_array(np.arange(3.0)), s=2.0)


def test_a_call_by_the_direct_route_keeps_the_memory_guard_and_names_an_out_of_memory_step():
    # Program.__call__ runs a signature seen before itself: the guard and guard.py's message hold there
    x = td.vector("x", "n")
    program = td.compile(td.sum(td.tanh(td.outer(x, x))))
    value = np.linspace(-1.0, 1.0, 300)
    first = program(x=value)
    assert program(x=value) == first
    td.set_memory_limit(2 ** 16)   # below the 300 x 300 outer product
    try:
        with pytest.raises(td.EvaluationError, match="but the memory limit is 64 KiB"):
            program(x=value)
    finally:
        td.set_memory_limit("auto")   # the default, as tests/test_guards.py restores it
    assert program(x=value) == first
    A = td.matrix("A", "n n")
    huge = np.broadcast_to(np.float64(2.0), (10 ** 6, 10 ** 6))
    unguarded = td.compile(td.tanh(A), memory_limit=None)
    for _ in range(2):   # the first call specialises, the second takes the direct route
        with pytest.raises(td.EvaluationError) as info:
            unguarded(A=huge)
        assert str(info.value).startswith("out of memory in step %1 (elementwise tanh)")
        assert isinstance(info.value.__cause__, MemoryError)
    assert len(unguarded.specialisations) == 1
