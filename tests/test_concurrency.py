"""Threads, pickling and bounded caches.

A compiled program is called from several threads at once (its only shared mutable state is the
per-step cache of contraction paths, filled under a lock); expressions and programs survive
pickling, in this process (the same interned objects) and in a fresh one; the caches stay bounded.
"""

import gc
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.steps import EinsumStep
from tensordiff import expr as nodes

from helpers import in_threads


@pytest.fixture
def network():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2 + td.logdet(W.T @ W + td.eye("k"))
    return f, W


def _values(seed, n=6, d=4, k=3):
    rng = np.random.default_rng(seed)
    return dict(X=rng.standard_normal((n, d)), W=rng.standard_normal((d, k)), a=rng.standard_normal(k),
                y=rng.standard_normal(n))


def test_one_program_called_from_many_threads_at_once(network):
    f, W = network
    program = td.compile([f, td.grad(f, W), td.hessian(f, W)])
    # several sizes, so threads also race to fill the contraction cache for new shapes
    cases = [_values(seed, n=5 + seed % 4, d=3 + seed % 2) for seed in range(16)]
    expected = [program(**values) for values in cases]
    fresh = td.compile([f, td.grad(f, W), td.hessian(f, W)])   # an empty cache, filled by the threads

    for prog in (program, fresh):
        for _ in range(3):
            got = in_threads(lambda k: prog(**cases[k % len(cases)]), 16)
            for k, outputs in enumerate(got):
                for g, e in zip(outputs, expected[k % len(cases)]):
                    np.testing.assert_array_equal(g, e)


def test_deriving_in_threads_gives_the_same_derivatives(network):
    f, W = network
    values = _values(0)
    want = td.evaluate(td.hessian(f, W), **values)
    got = in_threads(lambda k: td.evaluate(td.hessian(f, W), **values), 8)
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-12)


def _expressions():
    X, v, s = td.matrix("PX", "n n"), td.vector("pv", "n"), td.scalar("ps")
    h = td.elementwise("ph")
    return [X, v @ X, td.inv(X) @ v + s * v, td.det(X) ** 1.5, td.logdet(X.T @ X), td.tanh(X) * td.relu(X),
            h(X @ v), td.diff(h(X @ v), v), td.hessian(td.sum(td.sigmoid(X @ v)) / (s * s + 1), v),
            td.diag(td.diagonal(X)), td.trace(td.exp(X)) + td.norm(v)]


def test_expressions_unpickle_to_the_same_interned_objects():
    for e in _expressions():
        assert pickle.loads(pickle.dumps(e)) is e


def test_programs_unpickle_to_equal_programs():
    X, v, s = td.matrix("PX", "n n"), td.vector("pv", "n"), td.scalar("ps")
    rng = np.random.default_rng(0)
    values = dict(PX=np.eye(4) + 0.3 * rng.standard_normal((4, 4)), pv=rng.standard_normal(4), ps=0.5)
    exprs = [e for e in _expressions() if "ph" not in td.index_notation(e)]
    program = td.compile(exprs)
    again = pickle.loads(pickle.dumps(program))
    assert again.outputs == program.outputs and again.single == program.single
    assert repr(again) == repr(program)
    for got, want in zip(again(**values), program(**values)):
        np.testing.assert_array_equal(got, want)
    del X, v, s


def test_a_pickled_program_runs_in_a_fresh_process():
    X, v = td.matrix("FX", "n n"), td.vector("fv", "n")
    program = td.compile(td.grad(td.logdet(X @ X.T + td.eye("n")) + td.sum(td.tanh(X @ v)), X))
    values = dict(FX=np.arange(9.0).reshape(3, 3) / 10, fv=np.array([0.1, -0.2, 0.3]))
    script = ("import pickle, sys, numpy as np; program, values = pickle.loads(sys.stdin.buffer.read()); "
              "sys.stdout.buffer.write(pickle.dumps(program(**values)))")
    done = subprocess.run([sys.executable, "-c", script], input=pickle.dumps((program, values)),
                          capture_output=True, check=True, timeout=120)
    np.testing.assert_array_equal(pickle.loads(done.stdout), program(**values))


def test_contraction_cache_is_bounded_per_step():
    A, B, C = td.matrix("CA", "n m"), td.matrix("CB", "m k"), td.matrix("CC", "k n")
    program = td.compile(td.trace(A @ B @ C))
    steps = [step for _, step, _, _ in program.steps if isinstance(step, EinsumStep)]
    assert steps
    for size in range(2, 50):
        rng = np.random.default_rng(size)
        a, b, c = rng.standard_normal((size, 3)), rng.standard_normal((3, size + 1)), rng.standard_normal((size + 1, size))
        np.testing.assert_allclose(program(CA=a, CB=b, CC=c), np.trace(a @ b @ c), rtol=1e-10)
        assert all(len(step._contractions) <= 32 for step in steps)
    assert max(len(step._contractions) for step in steps) == 32   # the bound is reached, and holds


def test_interning_keeps_no_dead_expressions():
    gc.collect()
    before = len(nodes._interned)
    x = td.vector("gx", "n")
    for k in range(2000):
        e = td.tanh((1.0 + k) * x) @ x
        td.grad(e, x)
    del e, x
    gc.collect()
    assert len(nodes._interned) <= before + 10


def test_threads_building_the_same_expression_get_one_node():
    # identity is equality for interned nodes: two threads racing to create a node must not get
    # two (x - x would then not cancel, and shared subexpressions would be computed twice)
    def build(k):
        x = td.vector("race_x", "n")
        return td.grad(td.norm(td.sigmoid(x * 3.25) ** 2.5) ** 2, x)

    for _ in range(5):
        gc.collect()
        built = in_threads(build, 8)
        assert all(b is built[0] for b in built)


def test_powers_of_dead_expressions_are_released():
    from tensordiff import functions
    gc.collect()
    before = len(functions._powers)
    x = td.vector("px", "n")
    for k in range(500):
        td.grad(td.sum(x ** (1.5 + k)), x)
    gc.collect()
    assert len(functions._powers) <= before + 10
    assert td.simplify(x ** 2.5 - x ** 2.5) is td.simplify(0 * x)   # a live power is still one object
