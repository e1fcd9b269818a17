"""A sum with a dying term writes into that term's buffer only from buffers.DONATED_SUM_ENTRIES
entries on; below, the kernels (or the twin) write a new output. Either way: the same numbers as
the twin, results that share no buffer with the values or with each other's calls, and a memory
price that counts what runs."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff import buffers, fusion, kernels, pricing
from tensordiff.fusion import FusedSumStep

IMPLEMENTATIONS = [True, False] if kernels._compiled is not None else [False]


@pytest.fixture
def restore_kernels():
    previous = kernels.kernels_available()
    yield
    kernels.use_compiled(previous)


def _network_hessian():
    W, X, a, y = td.matrix("W", "d k"), td.matrix("X", "n d"), td.vector("a", "k"), td.vector("y", "n")
    return td.hessian(td.sum((td.tanh(X @ W) @ a - y) ** 2), W)


def _values(rng, n, d, k):
    return dict(W=rng.standard_normal((d, k)) / 3, X=rng.standard_normal((n, d)),
                a=rng.standard_normal(k), y=rng.standard_normal(n))


def _donated_sums(program):
    return [step for _, wrapper, _, _ in program.steps
            if isinstance(step := getattr(wrapper, "fused", wrapper), FusedSumStep) and step.donor is not None]


@pytest.mark.parametrize("sizes", [(50, 8, 4), (1, 1, 1), (40, 9, 9)])   # 1,024 and 6,561 entries: below and above
def test_small_and_large_donated_sums_agree_with_the_twin_and_own_their_results(sizes, restore_kernels):
    rng = np.random.default_rng(3)
    values = _values(rng, *sizes)
    before = {k: v.copy() for k, v in values.items()}
    expr = _network_hessian()
    results = []
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        program = td.compile(expr)
        assert _donated_sums(program)   # the plan's sum may write into its dying Gram product
        first = program(**values)
        kept = first.copy()
        second = program(**values)   # the specialised call
        third = program(**values)
        assert not np.shares_memory(second, third) and not np.shares_memory(first, second)
        np.testing.assert_array_equal(first, kept)   # a later call wrote nothing into an earlier result
        np.testing.assert_array_equal(first, second)
        assert all(not np.shares_memory(second, v) for v in values.values())
        results.append(second)
    assert all(np.array_equal(r, results[0]) for r in results)
    for name, value in values.items():
        np.testing.assert_array_equal(value, before[name])
    n, d, k = sizes
    W, X, a, y = (values[s] for s in "WXay")
    h = np.tanh(X @ W)
    dh = 1 - h * h
    e = h @ a - y
    G = (X[:, :, None] * (dh * a)[:, None, :]).reshape(n, d * k)
    want = (2 * (G.T @ G)).reshape(d, k, d, k)
    blocks = ((X[:, None, :] * (-4 * (e[:, None] * h * dh) * a)[:, :, None]).reshape(n, k * d).T @ X).reshape(k, d, d)
    want[:, np.arange(k), :, np.arange(k)] += blocks
    np.testing.assert_allclose(results[0], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m", [40, 80])   # the sum's output below and above the threshold
def test_the_price_counts_a_new_output_below_the_threshold(m, monkeypatch):
    """(A B)·c + D writes into A B's dying buffer from DONATED_SUM_ENTRIES entries on: below, it is
    priced as a plan that donates nothing (A B and the sum's new output both alive, the sum the
    peak); above, as one that donates."""
    A, B, D, c = td.matrix("A", "m k"), td.matrix("B", "k p"), td.matrix("D", "m p"), td.vector("c", "p")
    program = td.compile((A @ B) * c + D)
    assert _donated_sums(program)
    dims = dict(m=m, k=3, p=m)
    price = pricing.replay(program, dims, 8)
    monkeypatch.setattr(pricing, "DONATED_SUM_ENTRIES", 0)
    always = pricing.replay(program, dims, 8)
    for step in _donated_sums(program):
        monkeypatch.setattr(step, "donor", None)
    never = pricing.replay(program, dims, 8)
    assert never.peak_bytes != always.peak_bytes   # the case tells them apart
    assert price.peak_bytes == (never if m * m < buffers.DONATED_SUM_ENTRIES else always).peak_bytes
    assert fusion.DONATED_SUM_ENTRIES == buffers.DONATED_SUM_ENTRIES
