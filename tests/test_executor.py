"""One executor for every backend (steps.py): the same plan on numpy, torch, jax and dask, each
intermediate freed after its last reader, specialised calls on the eager libraries, and the
program's repr read from its step records."""

import gc
import pickle
import weakref

import numpy as np
import pytest

import tensordiff as td
from tensordiff.records import step_records
from tensordiff.steps import EinsumStep, SumStep



def _symbols():
    """X, y, w, lam, built per test: a live module-level symbol would lend its dims to the parser's
    naming convention in other test files."""
    return td.matrix("X", "n p"), td.vector("y", "n"), td.vector("w", "p"), td.scalar("lam")


def _solution():
    X, y, _, lam = _symbols()
    return td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X


def _expressions():
    X, y, w, _ = _symbols()
    Q, _ = _solution()
    return [td.diff(Q, X), td.hessian(td.sum(td.tanh(X @ w - y) ** 2), w), td.grad(td.logdet(X.T @ X), X)]
LIBRARIES = ["numpy", "torch", "jax", "dask"]


def _values(seed=0, n=7):
    rng = np.random.default_rng(seed)
    return dict(X=rng.standard_normal((n, 3)), y=rng.standard_normal(n), w=rng.standard_normal(3), lam=0.3)


def _library(name):
    if name != "numpy":
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def _as_numpy(value):
    return np.asarray(value.compute() if hasattr(value, "compute") else value)


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_backend_runs_the_numpy_plan(library):
    _library(library)
    numpy_program, program = td.compile(_expressions()), td.compile(_expressions(), backend=library)
    assert [node for node, *_ in program.steps] == [node for node, *_ in numpy_program.steps]
    assert [args for _, _, args, _ in program.steps] == [args for _, _, args, _ in numpy_program.steps]
    # split terms and sums are steps of every backend, not of numpy alone
    assert any(isinstance(step, SumStep) for _, step, _, _ in program.steps)
    assert any(isinstance(step, EinsumStep) for _, step, _, _ in program.steps)
    for got, want in zip(program(**_values()), numpy_program(**_values())):
        np.testing.assert_allclose(_as_numpy(got), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_split_sum_matches_finite_differences_on_every_backend(library):
    _library(library)
    Q, X = _solution()
    J = td.diff(Q, X)
    values = _values(1)
    program = td.compile(J, backend=library)
    got = _as_numpy(program(**values))

    def q(Xv):
        return np.linalg.solve(Xv.T @ Xv + values["lam"] * np.eye(3), Xv.T @ values["y"])
    step, Xv = 1e-6, values["X"]
    for i, j in [(0, 0), (3, 2), (6, 1)]:
        E = np.zeros_like(Xv)
        E[i, j] = step
        np.testing.assert_allclose(got[:, i, j], (q(Xv + E) - q(Xv - E)) / (2 * step), rtol=1e-6, atol=1e-8)


def _chained_program(library, records):
    """h3(h2(h1(x))) with user functions that record, when each runs, whether the value its
    predecessor read is still alive: that value's last reader has run by then."""
    x = td.vector("x", "n")
    h1, h2, h3 = td.elementwise("h1"), td.elementwise("h2"), td.elementwise("h3")
    seen = {}

    def held(arg):
        base = getattr(arg, "base", None)
        return base if isinstance(arg, np.ndarray) and base is not None else arg   # numpy passes user code a view

    def make(name, watch):
        def impl(arg):
            if watch is not None:
                records.append(seen[watch]() is None)
            seen[name] = weakref.ref(held(arg))
            return arg + 1.0
        return impl
    functions = {"h1": make("h1", None), "h2": make("h2", None), "h3": make("h3", "h2")}
    # when h3 runs, the value h2 read (h1's result) has had its last reader: it must be gone
    return td.compile(h3(h2(h1(x))), backend=library), functions


@pytest.mark.parametrize("library", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("specialised", [True, False])
def test_intermediates_are_freed_after_their_last_reader(library, specialised):
    _library(library)
    records = []
    program, functions = _chained_program(library, records)
    if not specialised:
        program.specialisations = None
    gc.disable()   # freed by reference counting, as the step is done, not by a later collection
    try:
        for _ in range(3):
            value = program(x=np.arange(4.0), functions=functions)
    finally:
        gc.enable()
    np.testing.assert_allclose(_as_numpy(value), np.arange(4.0) + 3)
    assert records == [True] * 3


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_eager_libraries_run_a_specialised_program_identical_to_the_step_loop(library):
    _library(library)
    program, loop = td.compile(_expressions(), backend=library), td.compile(_expressions(), backend=library)
    loop.specialisations = None
    for seed in range(3):
        got, want = program(**_values(seed)), loop(**_values(seed))
        for a, b in zip(got, want):
            if seed == 0 or library != "jax":
                assert np.array_equal(np.asarray(a), np.asarray(b))
            else:   # jax.jit-compiled from the second call: XLA fuses operations, to rounding
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)
    assert len(program.specialisations) == 1   # one signature, specialised once
    program(**_values(n=5))
    assert len(program.specialisations) == 2


def test_a_torch_specialisation_is_keyed_by_dtype_and_still_checks_values():
    torch = pytest.importorskip("torch")
    S = td.matrix("S", "n n", symmetric=True)
    program = td.compile(td.inv(S) @ td.vector("v", "n"), backend="torch")
    v = torch.ones(3)
    program(S=torch.eye(3, dtype=torch.float64), v=v)
    program(S=torch.eye(3, dtype=torch.float32), v=v)
    assert len(program.specialisations) == 2
    with pytest.raises(td.EvaluationError, match="symmetric"):
        program(S=torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64), v=v)
    with pytest.raises(td.EvaluationError, match="singular"):
        program(S=torch.zeros((3, 3), dtype=torch.float64), v=v)


@pytest.mark.parametrize("library", LIBRARIES)
def test_programs_of_every_backend_pickle(library):
    _library(library)
    program = td.compile(_expressions(), backend=library)
    program(**_values())   # specialised (eager libraries) before pickling
    again = pickle.loads(pickle.dumps(program))
    for a, b in zip(again(**_values(2)), program(**_values(2))):
        if library == "jax":   # the original's second call runs jax.jit-compiled: XLA fuses, to rounding
            np.testing.assert_allclose(_as_numpy(a), _as_numpy(b), rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_array_equal(_as_numpy(a), _as_numpy(b))


def test_repr_reads_the_step_records():
    program = td.compile(_expressions())
    lines = repr(program).splitlines()[1:]
    records = [r for r in step_records(program) if not r.operation.startswith("input ")]
    assert len(lines) == len(records)
    for line, record in zip(lines, records):
        assert line.startswith(f"  %{record.slot} = {record.operation}(")


def test_a_traceable_jax_program_is_compiled_once_its_signature_repeats():
    _library("jax")
    X, y, w, _ = _symbols()
    hessian = td.hessian(td.sum(td.tanh(X @ w - y) ** 2), w)
    program, loop = td.compile(hessian, backend="jax"), td.compile(hessian, backend="jax")
    loop.specialisations = None
    for seed in range(3):
        np.testing.assert_allclose(np.asarray(program(**_values(seed))), np.asarray(loop(**_values(seed))),
                                   rtol=1e-12, atol=1e-12)
    special = next(iter(program.specialisations.values()))
    assert special.compiled and special.calls >= 2   # compiled (jax.jit) on the second call


def test_jax_compiles_matrix_functions_and_still_applies_the_singular_policy():
    _library("jax")
    A = td.matrix("A", "n n")
    strict, lenient = td.compile(td.logdet(A), backend="jax"), \
        td.compile(td.logdet(A), backend="jax", singular="nan", conditioning="ignore")
    for program in (strict, lenient):
        for _ in range(3):
            np.testing.assert_allclose(float(program(A=np.diag([1.0, 2.0, 4.0]))), np.log(8.0))
    assert next(iter(strict.specialisations.values())).compiled   # its flags are checked after the call
    assert next(iter(lenient.specialisations.values())).compiled
    with pytest.raises(td.EvaluationError, match="singular"):
        strict(A=np.zeros((3, 3)))
    assert float(lenient(A=np.zeros((3, 3)))) == -np.inf
