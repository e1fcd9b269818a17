"""Every backend gets the numpy plan's passes, or says which it skips and why (passgates.py).

On the benchmark problems, for each backend installed, the passes that made or changed a step
are listed; each pass the numpy plan makes must be made on the other backend too, or be skipped
there with a reason (``skipped_passes``), so a pass silently missing on a backend fails here.
The expression passes plan before any array library is involved and must fire alike everywhere.
The values each backend computes agree with numpy's, called twice so that jax compiles its plan.
"""

import contextlib
import importlib
import os
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import backends
from tensordiff.errors import EvaluationError
from tensordiff.passes import EXPRESSION_PASSES, STEP_PASSES
from tensordiff.passgates import PASS_GATES, fired_passes, skipped_passes
from tensordiff.randexpr import DEPTH, SHAPES, ExpressionGenerator

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from problems import PROBLEMS  # noqa: E402
from run import passes_by_backend  # noqa: E402

OTHER_BACKENDS = ("jax", "torch", "cupy", "dask")
EXPRESSION_PASS_NAMES = {p.name for p in EXPRESSION_PASSES}


def _backend(name):
    try:
        return backends.get_backend(name)
    except EvaluationError:
        pytest.skip(f"{name} is not installed")


def _listing(name, backend):
    """{backend: (fired, skipped)} for problem ``name`` on numpy and ``backend``, for the failure message."""
    expr = PROBLEMS[name].tensordiff()
    return {b: (fired_passes(td.compile(expr, backend=b)), tuple(skipped_passes(backends.get_backend(b))))
            for b in ("numpy", backend)}


def test_every_gate_names_a_step_pass_and_every_declining_backend_says_why():
    step_passes = {p.name for p in STEP_PASSES}
    assert set(PASS_GATES) <= step_passes
    for name, (_, where) in backends.BACKENDS.items():
        owner, cls = where.rsplit(".", 1)   # the backend classes import their library only when made
        backend_class = getattr(importlib.import_module(f"tensordiff.{owner}"), cls)
        for capability in set(PASS_GATES.values()):
            if not getattr(backend_class, capability):
                assert len(backend_class.declines.get(capability, "")) > 20, (name, capability)


def test_numpy_skips_nothing():
    assert skipped_passes(backends.get_backend("numpy")) == {}


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_each_pass_numpy_makes_is_made_or_skipped_with_a_reason(name, backend):
    library = _backend(backend)
    expr = PROBLEMS[name].tensordiff()
    numpy_program, program = td.compile(expr), td.compile(expr, backend=backend)
    assert program.nodes == numpy_program.nodes and program.reads == numpy_program.reads   # one plan
    on_numpy, on_backend = set(fired_passes(numpy_program)), set(fired_passes(program))
    skipped = skipped_passes(library)
    listing = _listing(name, backend)
    assert on_numpy - on_backend <= set(skipped), listing      # missing, yet not said to be skipped
    assert not on_backend & set(skipped), listing               # said to be skipped, yet made
    assert on_numpy & EXPRESSION_PASS_NAMES == on_backend & EXPRESSION_PASS_NAMES, listing
    assert ("pair reuse" in on_numpy) == ("pair reuse" in on_backend), listing
    assert ("term splitting" in on_numpy) == ("term splitting" in on_backend), listing


def test_the_benchmark_problems_exercise_each_pass_on_numpy():
    """The listing above means something only if the problems make the passes it compares."""
    fired = set()
    for name in PROBLEMS:
        fired.update(fired_passes(td.compile(PROBLEMS[name].tensordiff())))
    assert {"inverse→solve", "common factors", "factor grouping", "term splitting", "one-pass sums",
            "pair reuse", "Gram products", "buffer reuse", "specialisation"} <= fired


@pytest.mark.parametrize("backend", ["jax", "dask"])
def test_explain_says_which_passes_the_backend_skips_and_why(backend):
    library = _backend(backend)
    X, w = td.matrix("X", "n p"), td.vector("w", "p")
    text = td.compile(td.hessian(td.sum(td.tanh(X @ w)), w), backend=backend).explain(n=5, p=3)
    for name, reason in skipped_passes(library).items():
        assert f"skipped on {backend}: {name}, as {reason}" in text
    assert "skipped on" not in td.compile(X @ w).explain()


def _native(backend, values):
    if backend == "jax":
        import jax.numpy as jnp
        return {k: jnp.asarray(np.asarray(v)) for k, v in values.items()}
    if backend == "torch":
        import torch
        return {k: torch.as_tensor(np.asarray(v)) for k, v in values.items()}
    if backend == "cupy":
        import cupy
        return {k: cupy.asarray(np.asarray(v)) for k, v in values.items()}
    if backend == "dask":
        import dask.array as da
        return {k: da.from_array(np.asarray(v), chunks=3) for k, v in values.items()}
    return values


def _to_numpy(value):
    if hasattr(value, "compute"):
        value = value.compute()
    if hasattr(value, "get"):   # cupy
        value = value.get()
    if hasattr(value, "detach"):   # torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_each_backend_computes_numpys_values_on_the_benchmark_problems(name, backend):
    _backend(backend)
    problem = PROBLEMS[name]
    sizes = {d: 3 + k % 3 for k, d in enumerate(sorted(problem.sizes["small"]))}
    values = problem.inputs(sizes, np.random.default_rng(5))
    expr = problem.tensordiff()
    want = td.compile(expr)(**values)
    program = td.compile(expr, backend=backend)
    context = importlib.import_module("jax").enable_x64(True) if backend == "jax" else contextlib.nullcontext()
    with context:
        native = _native(backend, values)
        for _ in range(3):   # jax: compiled from the second call with a signature
            np.testing.assert_allclose(_to_numpy(program(**native)), want, rtol=1e-9, atol=1e-11)



@pytest.mark.parametrize("backend", ["jax", "dask"])
@pytest.mark.parametrize("seed", range(12))
def test_random_expressions_and_derivatives_get_one_plan_on_every_backend(seed, backend):
    library = _backend(backend)
    gen = ExpressionGenerator(7100 + seed)
    expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    exprs = [expr] + [td.diff(expr, gen.S[name]) for name in sorted(expr.free)[:2]]
    numpy_program, program = td.compile(exprs), td.compile(exprs, backend=backend)
    assert program.nodes == numpy_program.nodes and program.reads == numpy_program.reads
    on_numpy, on_backend = set(fired_passes(numpy_program)), set(fired_passes(program))
    assert on_numpy - on_backend <= set(skipped_passes(library)), (on_numpy, on_backend)


def test_the_benchmarks_explain_lists_the_passes_of_each_installed_backend():
    table = passes_by_backend(["ridge"]).splitlines()
    rows = {tuple(line.split()[:2]): line for line in table[1:]}
    assert "Gram products" in rows[("ridge", "numpy")]
    for backend in ("jax", "dask"):
        if ("ridge", backend) in rows:
            reason = skipped_passes(backends.get_backend(backend))["Gram products"]
            assert f"  {backend} skips Gram products: {reason}" in table
