"""Knowing the cost before paying it: td.cost, and evaluation refusing results over the memory limit."""

import tracemalloc

import numpy as np
import pytest

import tensordiff as td
from tensordiff import memory

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def _restore_memory_limit():
    yield
    td.set_memory_limit("auto")


def test_cost_of_a_matrix_product_counts_its_flops_and_memory():
    A, B = td.matrix("A", "n k"), td.matrix("B", "k m")
    report = td.cost(A @ B, n=30, k=40, m=50)
    assert report.shapes == [(30, 50)]
    assert report.entries == 1500 and report.bytes == 1500 * 8
    assert report.flops == 2 * 30 * 40 * 50            # a multiply and an add per term of each sum
    assert report.input_bytes == (30 * 40 + 40 * 50) * 8
    # the result, and the copy evaluation hands back where the result is a view (a transposed product)
    assert report.peak_bytes == report.input_bytes + 2 * report.bytes
    assert td.cost(A @ B, dtype="float32", n=30, k=40, m=50).bytes == 1500 * 4


def test_cost_adds_the_steps_of_the_plan(tikhonov):
    X, y, lam, q = tikhonov
    n, p = 40, 6
    gram = td.cost(X.T @ X, n=n, p=p).flops
    assert td.cost(td.inv(X.T @ X), n=n, p=p).flops == gram + 2 * p ** 3
    # the derivative of order 5 costs more than order 3, which costs more than q itself
    costs = [td.cost(e, n=n, p=p) for e in (q, td.diff(q, X), td.diff(q, X, order=2))]
    assert costs[0].flops < costs[1].flops < costs[2].flops
    assert costs[2].shapes == [(p, n, p, n, p)]
    assert costs[2].peak_bytes >= costs[2].bytes + costs[2].input_bytes


def test_cost_of_a_list_totals_its_results(tikhonov):
    X, y, lam, q = tikhonov
    J = td.diff(q, X)
    both = td.cost([q, J], n=20, p=5)
    assert both.shapes == [(5,), (5, 20, 5)]
    assert both.bytes == td.cost(q, n=20, p=5).bytes + td.cost(J, n=20, p=5).bytes
    text = repr(both)
    assert "(5, 20, 5)" in text and "total" in text and "flops" in text and "peak" in text


def test_peak_memory_predicts_what_evaluation_allocates(tikhonov):
    X, y, lam, q = tikhonov
    J = td.diff(q, X)
    n, p = 300, 20
    values = dict(X=RNG.standard_normal((n, p)), y=RNG.standard_normal(n), lam=0.5)
    predicted = td.cost(J, n=n, p=p)
    program = td.compile(J)
    program(**values)                         # the first call fills caches (contraction plans, imports)
    tracemalloc.start()
    program(**values)
    _, measured = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    measured += predicted.input_bytes         # the inputs were allocated before tracing began
    assert predicted.bytes <= measured <= 1.5 * predicted.peak_bytes
    assert predicted.peak_bytes <= 3 * measured


def test_cost_errors_name_the_dims(tikhonov):
    X, y, lam, q = tikhonov
    with pytest.raises(td.EvaluationError, match="'p'"):
        td.cost(q, n=10)
    with pytest.raises(td.EvaluationError, match="'m'.*its dims: n, p"):
        td.cost(q, n=10, p=3, m=4)
    with pytest.raises(td.EvaluationError, match="sizes must be integers ≥ 0"):
        td.cost(q, n=10, p=2.5)
    assert td.cost(q, n=0, p=3).bytes == 3 * 8             # empty dims evaluate, so they cost
    with pytest.raises(td.EvaluationError, match="sliced dim 'n\\[1:3\\]': it follows from 'n'"):
        td.cost(X[1:3], n=5, p=3, **{"n[1:3]": 7})
    for dtype in (str, object, "int64", "nonsense", "complex128", "float16", np.longdouble):
        with pytest.raises(td.EvaluationError, match="dtype must be float32 or float64"):
            td.cost(q, dtype=dtype, n=10, p=3)


def test_cost_of_a_selection_is_that_of_the_part(tikhonov):
    X, y, lam, q = tikhonov
    H = td.diff(q, X, order=2)
    whole, row = td.cost(H, n=200, p=50), td.cost(H[3, 10:40], n=200, p=50)
    assert row.shapes == [(30, 50, 200, 50)]
    assert row.bytes * 50 * 200 // 30 == whole.bytes
    assert row.flops < whole.flops / 10 and row.peak_bytes < whole.peak_bytes / 10
    with pytest.raises(td.EvaluationError, match="index 60 is out of range for dim 'p' of size 50"):
        td.cost(H[60], n=200, p=50)


def test_order5_hessian_is_refused_before_allocating(tikhonov):
    X, y, lam, q = tikhonov
    H = td.diff(q, X, order=2)
    values = dict(X=RNG.standard_normal((200, 50)), y=RNG.standard_normal(200), lam=0.5)
    tracemalloc.start()
    try:
        with pytest.raises(td.EvaluationError) as info:
            td.evaluate(H, memory_limit=2 * 2 ** 30, **values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 27           # refused up front, not after computing any of the 37 GiB
    message = str(info.value)
    assert "37.3 GiB" in message and "(50, 200, 50, 200, 50)" in message and "2 GiB" in message
    assert 'backend="dask"' in message and "td.hvp" in message


def test_default_limit_is_a_fraction_of_available_memory(tikhonov, monkeypatch):
    X, y, lam, q = tikhonov
    J = td.diff(q, X)
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * 2 ** 20)
    values = dict(X=RNG.standard_normal((2000, 40)), y=RNG.standard_normal(2000), lam=0.5)   # J: 24 MiB
    td.evaluate(J, **values)
    values = dict(X=RNG.standard_normal((5000, 60)), y=RNG.standard_normal(5000), lam=0.5)   # J: 137 MiB
    with pytest.raises(td.EvaluationError, match=r"0.5 of the 200 MiB available"):
        td.evaluate(J, **values)
    assert td.get_memory_limit() == 100 * 2 ** 20


def test_memory_limit_is_settable_globally_and_per_program(tikhonov):
    X, y, lam, q = tikhonov
    J = td.diff(q, X)
    values = dict(X=RNG.standard_normal((30, 4)), y=RNG.standard_normal(30), lam=0.5)   # J: 3840 bytes
    report = td.cost(J, n=30, p=4)
    need = report.peak_bytes - report.input_bytes      # the peak, intermediates included, less the inputs
    assert need > report.bytes
    td.set_memory_limit(1000)
    with pytest.raises(td.EvaluationError, match=f"would need {memory.format_bytes(need)} .*3.75 KiB"
                                                 ".* memory limit is 1000 B"):
        td.evaluate(J, **values)
    program = td.compile(J)
    with pytest.raises(td.EvaluationError, match="memory limit"):
        program(**values)                         # a compiled program checks at each call
    assert td.compile(J, memory_limit=None)(**values).shape == (4, 30, 4)
    with pytest.raises(td.EvaluationError, match="memory limit"):
        td.compile(J, memory_limit=need - 1)(**values)
    assert td.compile(J, memory_limit=need)(**values).shape == (4, 30, 4)
    td.set_memory_limit(None)
    assert td.get_memory_limit() is None
    assert program(**values).shape == (4, 30, 4)
    for bad in (-1, 0, "8GB", True):
        with pytest.raises(td.TensorDiffError, match="positive number of bytes"):
            td.set_memory_limit(bad)
        with pytest.raises(td.TensorDiffError, match="positive number of bytes"):
            td.compile(J, memory_limit=bad)
