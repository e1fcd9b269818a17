"""Backends: torch, jax, cupy and dask give numpy's results in their own arrays; singular matrices.

Each backend's tests skip when its library is absent. Expressions cover every node type (deltas
and broadcasts in outputs, inverses planned as solves, logdet, det, elementwise functions, user
functions) plus random expressions from test_random; the LocalCluster test evaluates a Hessian
larger than a worker's memory limit on a real two-process cluster and writes it to disk.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import backends
from tensordiff.randexpr import DEPTH, SHAPES, USER_FUNCTIONS as NUMPY_FUNCTIONS, ExpressionGenerator as Gen

RNG = np.random.default_rng(11)


def _torch():
    torch = pytest.importorskip("torch")
    return dict(name="torch", lib=torch, xp=torch, to_numpy=lambda a: a.numpy(), array_type=torch.Tensor,
                native=lambda a: torch.as_tensor(a))


def _jax():
    pytest.importorskip("jax")
    import jax
    import jax.numpy as jnp
    return dict(name="jax", lib=jax, xp=jnp, to_numpy=np.asarray, array_type=jax.Array, native=jnp.asarray)


def _cupy():
    cupy = pytest.importorskip("cupy")
    return dict(name="cupy", lib=cupy, xp=cupy, to_numpy=lambda a: a.get(), array_type=cupy.ndarray,
                native=cupy.asarray)


def _dask():
    da = pytest.importorskip("dask.array")
    return dict(name="dask", lib=da, xp=np, to_numpy=lambda a: a.compute(), array_type=da.Array,
                native=lambda a: da.from_array(a, chunks=2))


LIBRARIES = {"torch": _torch, "jax": _jax, "cupy": _cupy, "dask": _dask}


def _entered(lib):
    """Yield ``lib`` with float64 on (jax computes in float32 unless told)."""
    if lib["name"] == "jax":
        with lib["lib"].enable_x64(True):
            yield lib
    else:
        yield lib


@pytest.fixture(params=list(LIBRARIES))
def library(request):
    yield from _entered(LIBRARIES[request.param]())


def _values(sizes, **scalars):
    return {**scalars, **{name: RNG.standard_normal(shape) for name, shape in sizes.items()}}


def _cases():
    """(expressions, values): every node type, outputs with deltas and broadcasts."""
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    W, a = td.matrix("W", "p k"), td.vector("a", "k")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    A = td.matrix("A", "p p")
    spd = A @ A.T + td.eye("p")
    exprs = [
        q, td.diff(q, X), td.diff(q, X, order=2), td.diff(q, lam),
        td.grad(f, W), td.hessian(f, W), td.hvp(f, W, W),
        td.logdet(spd), td.grad(td.logdet(spd), A), td.hessian(td.logdet(spd), A), td.det(spd),
        td.diff(X, X), lam * td.eye("p"), td.outer(y, a),
        td.sigmoid(X) + td.relu(X) ** 3 + td.abs(X) + td.sqrt(X * X + 1) + td.exp(-X * X) - td.log(X * X + 1)
        + td.sin(X) * td.cos(X) + 1 / (X * X + 1) + (X * X + 1) ** -1.5 + td.softplus(X) + td.log1p(X * X),
        td.diff(td.relu(X) ** 2, X), td.diff(td.abs(X) * X, X),
        td.sum(X), td.trace(A) * td.eye("p"), td.diag(td.diagonal(A)), A + 2.0,
    ]
    values = _values({"X": (7, 3), "y": (7,), "W": (3, 2), "a": (2,), "A": (3, 3)}, lam=0.5)
    return exprs, values


def _check_same(got, want, to_numpy, array_type, what):
    assert isinstance(got, array_type), f"{what}: got a {type(got).__name__}"
    got = to_numpy(got)
    assert got.shape == np.shape(want), what
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=what)


def test_backends_equal_numpy(library):
    exprs, values = _cases()
    want = td.evaluate(exprs, **values)
    name = library["name"]
    options = [{}] + ([{"chunks": 2}, {"chunks": {"n": 3}}, {"chunks": "256B"}] if name == "dask" else [])
    for extra in options:
        got = td.evaluate(exprs, backend=name, **extra, **values)
        for e, g, w in zip(exprs, got, want):
            _check_same(g, w, library["to_numpy"], library["array_type"], f"{name} {extra}: {td.index_notation(e)}")


def test_selections_on_backends(library):
    """Indexing a derivative: entries, rows, reversed and strided slices, on each backend's arrays."""
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    H = td.diff(q, X, order=2)
    exprs = [H[1, 2, 0], H[0, ::-1, 1:3], H[-1, 4:1:-2, ..., 0], td.diff(q, X)[:, 1:6:2, -1], X[::-1, 1] * y[::-1]]
    values = _values({"X": (7, 3), "y": (7,)}, lam=0.5)
    want = td.evaluate(exprs, **values)
    name = library["name"]
    got = td.evaluate(exprs, backend=name, **({"chunks": 2} if name == "dask" else {}),
                      X=library["native"](values["X"]), y=values["y"], lam=0.5)
    for e, g, w in zip(exprs, got, want):
        _check_same(g, w, library["to_numpy"], library["array_type"], f"{name}: {td.index_notation(e)}")


def test_backends_take_their_own_arrays_and_keep_float32(library):
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    g = td.grad(td.norm(td.tanh(X.T @ y)) ** 2, X)
    X_value, y_value = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    want = td.evaluate(g, X=X_value, y=y_value)
    native = library["native"]
    got = td.compile(g, backend=library["name"])(X=native(X_value), y=y_value)
    _check_same(got, want, library["to_numpy"], library["array_type"], "mixed native and numpy inputs")
    single = td.evaluate(g, X=native(X_value.astype(np.float32)), y=native(y_value.astype(np.float32)),
                         backend=library["name"])
    assert str(single.dtype).endswith("float32")
    np.testing.assert_allclose(library["to_numpy"](single), want, rtol=1e-4, atol=1e-5)
    integers = td.evaluate(X.T @ y, X=native(np.arange(6).reshape(3, 2)), y=np.ones(3), backend=library["name"])
    np.testing.assert_array_equal(library["to_numpy"](integers), [6.0, 9.0])


def test_outputs_are_owned_by_the_caller(library):
    X = td.matrix("X", "n p")
    value = library["native"](RNG.standard_normal((4, 3)))
    same, transposed = td.evaluate([X, X.T], X=value, backend=library["name"])
    np.testing.assert_array_equal(library["to_numpy"](transposed), library["to_numpy"](value).T)
    if library["name"] in ("torch", "cupy"):   # mutable arrays: writing a result must not touch the input
        first = float(value[0, 0])
        same[0, 0] = first + 100.0
        transposed[0, 0] = first + 100.0
        assert float(value[0, 0]) == first


def _functions_for(xp):
    """test_random's user functions, written with a backend's own functions."""
    def sigmoid(v):
        return 1 / (1 + xp.exp(-v))

    def dsig(v):
        return sigmoid(v) * (1 - sigmoid(v))

    def dtanh(v):
        return 1 - xp.tanh(v) ** 2

    return {"hr": [lambda v: xp.log1p(xp.exp(v)), sigmoid, dsig, lambda v: dsig(v) * (1 - 2 * sigmoid(v))],
            "gr": xp.tanh, "grp": dtanh, "grp'": lambda v: -2 * xp.tanh(v) * dtanh(v)}


@pytest.mark.parametrize("seed", range(6))
def test_random_expressions_and_derivatives(library, seed):
    gen = Gen(1000 + seed)
    expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    exprs = [expr] + [td.diff(expr, gen.S[name]) for name in sorted(expr.free)]
    want = td.evaluate(exprs, functions=NUMPY_FUNCTIONS, **gen.V)
    name = library["name"]
    functions = NUMPY_FUNCTIONS if name == "dask" else _functions_for(library["xp"])
    got = td.evaluate(exprs, functions=functions, backend=name, **({"chunks": 2} if name == "dask" else {}), **gen.V)
    for e, g, w in zip(exprs, got, want):
        _check_same(g, w, library["to_numpy"], library["array_type"], f"seed {seed}: {td.index_notation(e)}")


# ---------------------------------------------------------------- singular matrices

SINGULAR = [np.zeros((3, 3)), np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])]


@pytest.fixture(params=["numpy"] + list(LIBRARIES))
def any_backend(request):
    if request.param == "numpy":
        yield dict(name="numpy", to_numpy=np.asarray)
    else:
        yield from _entered(LIBRARIES[request.param]())


@pytest.mark.parametrize("matrix", SINGULAR)
def test_singular_matrix_raises_naming_it(any_backend, matrix):
    A, b = td.matrix("A_sing", "d d"), td.vector("b_sing", "d")
    name = any_backend["name"]
    for expr in (td.inv(A), td.inv(A) @ b, td.logdet(A), td.grad(td.logdet(A), A)):
        with pytest.raises(td.EvaluationError, match=r"singular matrix: .*A_sing") as info:
            result = td.evaluate(expr, A_sing=matrix, b_sing=np.ones(3), backend=name)
            any_backend["to_numpy"](result)   # dask raises when computed
        assert 'singular="nan"' in str(info.value)


@pytest.mark.parametrize("matrix", SINGULAR)
def test_singular_nan_opt_in(any_backend, matrix):
    A, b = td.matrix("A_sing", "d d"), td.vector("b_sing", "d")
    exprs = [td.inv(A), td.inv(A) @ b, td.logdet(A), td.det(A), td.grad(td.logdet(A), A)]
    program = td.compile(exprs, backend=any_backend["name"], singular="nan")
    inverse, solved, logdet, det, gradient = (any_backend["to_numpy"](r) for r in program(A_sing=matrix, b_sing=np.ones(3)))
    assert np.isnan(inverse).all() and np.isnan(solved).all() and np.isnan(gradient).all()
    assert logdet == -np.inf
    assert abs(det) < 1e-12
    regular = np.eye(3) * 2.0   # the same program on a regular matrix is unaffected
    inverse, _, logdet, _, _ = (any_backend["to_numpy"](r) for r in program(A_sing=regular, b_sing=np.ones(3)))
    np.testing.assert_allclose(inverse, np.eye(3) / 2)
    np.testing.assert_allclose(logdet, 3 * np.log(2.0))


def test_singular_policy_is_checked():
    with pytest.raises(td.EvaluationError, match="'raise', 'nan'"):
        td.compile(td.inv(td.matrix("A_sing", "d d")), singular="ignore")


# ---------------------------------------------------------------- choosing a backend

def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(td.EvaluationError, match="'numpy', 'dask', 'torch', 'jax', 'cupy'"):
        td.evaluate(td.scalar("r") * 2, r=1.0, backend="tensorflow")


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "cupy", ("tensordiff_no_such_module", "backends.Backend"))
    monkeypatch.delitem(backends._loaded, "cupy", raising=False)
    with pytest.raises(td.EvaluationError, match=r'pip install "tensordiff-symbolic\[cupy\]"'):
        td.compile(td.scalar("r") * 2, backend="cupy")


def test_importing_tensordiff_imports_no_backend_library():
    code = ("import sys, tensordiff, numpy as np; tensordiff.evaluate(tensordiff.scalar('r') * 2, r=1.0); "
            "print(sorted(m for m in ('torch', 'jax', 'dask', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(td.__file__))))
    assert out.stdout.strip() == "[]"


def test_chunks_are_for_dask_only():
    with pytest.raises(td.EvaluationError, match="dask"):
        td.compile(td.matrix("X", "n p"), chunks=10)


def test_programs_with_a_backend_pickle(library):
    X = td.matrix("X", "n p")
    program = td.compile(td.diff(td.tanh(X) @ td.vector("w", "p"), X), backend=library["name"], singular="nan")
    again = pickle.loads(pickle.dumps(program))
    assert again.backend is program.backend and again.singular == "nan"
    values = dict(X=RNG.standard_normal((4, 3)), w=RNG.standard_normal(3))
    np.testing.assert_allclose(library["to_numpy"](again(**values)), td.evaluate(program.outputs[0], **values),
                               rtol=1e-12)


# ---------------------------------------------------------------- dask

def test_dask_chunk_plan_fits_the_budget():
    da = pytest.importorskip("dask.array")
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    H = td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X, order=2)
    values = dict(X=RNG.standard_normal((200, 50)), y=RNG.standard_normal(200), lam=0.5)
    lazy = td.evaluate(H, backend="dask", chunks="64MiB", **values)   # 37 GiB: refused without dask
    assert isinstance(lazy, da.Array) and lazy.shape == (50, 200, 50, 200, 50)
    assert np.prod(lazy.chunksize) * 8 <= 64 * 2 ** 20
    fixed = td.evaluate(H, backend="dask", chunks={"p": 10, "n": 25}, **values)
    assert fixed.chunksize == (10, 25, 10, 25, 10)
    with pytest.raises(td.EvaluationError, match="'m'"):
        td.evaluate(H, backend="dask", chunks={"m": 3}, **values)
    with pytest.raises(td.EvaluationError, match="chunk lengths must be positive integers.*'n': 0"):
        td.evaluate(H, backend="dask", chunks={"n": 0}, **values)
    for size in ("0B", "-5MiB", "1e400MiB"):
        with pytest.raises(td.EvaluationError, match="no positive size"):
            td.evaluate(H, backend="dask", chunks=size, **values)
    with pytest.raises(td.EvaluationError, match="no positive size"):
        td.evaluate(H, backend="dask", chunks="lots", **values)


class _NpyFile:
    """A .npy file that dask tasks write their blocks into (each task maps it into memory)."""

    def __init__(self, path, shape, dtype):
        self.path = path
        np.lib.format.open_memmap(path, mode="w+", shape=shape, dtype=dtype).flush()

    def __setitem__(self, index, block):
        target = np.load(self.path, mmap_mode="r+")
        target[index] = block
        target.flush()


def test_dask_cluster_evaluates_a_hessian_larger_than_a_worker(tmp_path):
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    import dask.array as da
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    J = td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X)
    H = td.diff(J, X)
    n, p = 90, 16
    values = dict(X=RNG.standard_normal((n, p)), y=RNG.standard_normal(n), lam=0.5)
    worker_limit = 200 * 2 ** 20
    assert td.cost(H, n=n, p=p).bytes > worker_limit   # 253 MiB: no single worker could hold it
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, memory_limit=worker_limit,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        lazy = td.evaluate(H, backend="dask", chunks="8MiB", **values)
        assert lazy.numblocks == (1, 8, 1, 8, 1)
        path = str(tmp_path / "H.npy")
        da.store(lazy, _NpyFile(path, lazy.shape, lazy.dtype), lock=False)
        assert len(client.scheduler_info()["workers"]) == 2
    on_disk = np.load(path, mmap_mode="r")
    # sampled blocks of the last two axes, each checked by its contraction with a random direction
    # against numpy's evaluation of that directional derivative of J (cheap: J's size, not H's)
    V = td.matrix("V", "n p")
    directional = td.compile(td.diff(J, X, direction=V))
    for rows, cols in [(slice(0, 12), slice(0, 16)), (slice(84, 90), slice(5, 11)), (slice(40, 41), slice(15, 16))]:
        direction = np.zeros((n, p))
        direction[rows, cols] = RNG.standard_normal(direction[rows, cols].shape)
        got = np.einsum("aibjc,jc->aib", on_disk[:, :, :, rows, cols], direction[rows, cols])
        np.testing.assert_allclose(got, directional(V=direction, **values), rtol=1e-10, atol=1e-12)


def test_every_builtin_function_has_a_row_for_the_array_libraries():
    from tensordiff.functions import FUNCTIONS, power_function
    assert all(fn.array is not None for fn in [*FUNCTIONS.values(), power_function(3.0)])
