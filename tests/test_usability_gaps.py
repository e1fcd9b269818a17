"""Gaps a demanding user meets: each one a clear result or a clear tensordiff error.

1. dask computes its tasks after the call, outside its ``np.errstate``: soft maxima and sums must
   give numpy's backend's values (-inf, inf, nan) without numpy's RuntimeWarnings.
"""

import warnings

import numpy as np
import pytest

import tensordiff as td
from tensordiff.reductionsteps import ArrayOps, DaskOps, TorchOps, ops_for


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
