"""Interop: with no backend named, results come back in the inputs' library; jax programs work
under jax.jit, jax.vmap and jax.grad, torch programs under torch.compile and autograd, singular
matrices included (the NaN path while traced); mixed libraries and positional calls are clear errors.

torch is not installed in CI, so its tests skip there (pip install torch to run them).
"""

import pickle

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(14)


@pytest.fixture
def jax():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        yield jax


@pytest.fixture
def ridge():
    """The Tikhonov map and a scalar objective with inv, solve (planned) and logdet, and values."""
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    f = td.logdet(X.T @ X + lam * td.eye("p")) + td.sum(td.tanh(q))
    values = dict(X=RNG.standard_normal((7, 3)), y=RNG.standard_normal(7), lam=0.5)
    return X, y, lam, q, f, values


def _reference(values):
    x, y, lam = values["X"], values["y"], values["lam"]
    gram = x.T @ x + lam * np.eye(x.shape[1])
    q = np.linalg.solve(gram, x.T @ y)
    return q, np.linalg.slogdet(gram)[1] + np.tanh(q).sum()


def _close(a, b, tol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.max(np.abs(a - b), initial=0.0) <= tol * max(1.0, np.max(np.abs(b), initial=0.0))


# ---------------------------------------------------------------- the backend follows the inputs

def test_numpy_arrays_and_numbers_stay_numpy(ridge):
    X, y, lam, q, f, values = ridge
    out = td.evaluate(q, **values)
    assert type(out) is np.ndarray and _close(out, _reference(values)[0])
    assert type(td.evaluate(td.sum(X), X=np.float32(2.0) * np.ones((2, 2)))) is np.ndarray


def test_jax_in_jax_out(ridge, jax):
    X, y, lam, q, f, values = ridge
    jnp = jax.numpy
    program = td.compile([q, f])
    out = program(X=jnp.asarray(values["X"]), y=values["y"], lam=0.5)   # numpy beside jax is converted
    assert all(isinstance(o, jax.Array) for o in out)
    assert _close(out[0], _reference(values)[0]) and _close(out[1], _reference(values)[1])
    assert type(program(**values)[0]) is np.ndarray   # the same program, numpy in: numpy out


def test_torch_in_torch_out(ridge):
    torch = pytest.importorskip("torch")
    X, y, lam, q, f, values = ridge
    out = td.evaluate(q, X=torch.tensor(values["X"]), y=torch.tensor(values["y"]), lam=torch.tensor(0.5))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert _close(out.numpy(), _reference(values)[0])


def test_dask_in_dask_out(ridge):
    da = pytest.importorskip("dask.array")
    X, y, lam, q, f, values = ridge
    out = td.evaluate(q, X=da.from_array(values["X"], chunks=3), y=values["y"], lam=0.5)
    assert isinstance(out, da.Array) and _close(out.compute(), _reference(values)[0])


def test_cupy_in_cupy_out(ridge):
    cupy = pytest.importorskip("cupy")
    X, y, lam, q, f, values = ridge
    out = td.evaluate(q, X=cupy.asarray(values["X"]), y=values["y"], lam=0.5)
    assert isinstance(out, cupy.ndarray) and _close(out.get(), _reference(values)[0])


def test_a_named_backend_wins_over_the_inputs(ridge, jax):
    X, y, lam, q, f, values = ridge
    out = td.evaluate(q, X=jax.numpy.asarray(values["X"]), y=values["y"], lam=0.5, backend="numpy")
    assert type(out) is np.ndarray and _close(out, _reference(values)[0])


def test_mixing_two_libraries_names_both(ridge, jax):
    torch = pytest.importorskip("torch")
    X, y, lam, q, f, values = ridge
    with pytest.raises(td.EvaluationError, match=r"jax \('X'\) and torch \('y'\)"):
        td.evaluate(q, X=jax.numpy.asarray(values["X"]), y=torch.tensor(values["y"]), lam=0.5)


def test_mixing_jax_and_dask_names_both(ridge, jax):
    da = pytest.importorskip("dask.array")
    X, y, lam, q, f, values = ridge
    with pytest.raises(td.EvaluationError, match=r"dask \('X'\) and jax \('y'\)"):
        td.compile(q)(X=da.from_array(values["X"]), y=jax.numpy.asarray(values["y"]), lam=0.5)


def test_a_pickled_program_still_follows_its_inputs(ridge, jax):
    X, y, lam, q, f, values = ridge
    program = pickle.loads(pickle.dumps(td.compile(q)))
    assert isinstance(program(X=jax.numpy.asarray(values["X"]), y=values["y"], lam=0.5), jax.Array)
    assert type(program(**values)) is np.ndarray


# ---------------------------------------------------------------- jax transformations

@pytest.mark.parametrize("backend", ["jax", None])
def test_jax_jit_of_a_program_with_inv_solve_and_logdet(ridge, jax, backend):
    X, y, lam, q, f, values = ridge
    program = td.compile([q, f, td.grad(f, X)], backend=backend)
    jitted = jax.jit(lambda x, yv: program(X=x, y=yv, lam=0.5))
    out = jitted(values["X"], values["y"])
    expected = td.compile([q, f, td.grad(f, X)], backend="numpy")(**values)
    for got, want in zip(out, expected):
        assert _close(got, want)
    assert _close(jitted(2 * values["X"], values["y"])[1], _reference({**values, "X": 2 * values["X"]})[1])


def test_jax_grad_of_a_program_equals_the_symbolic_gradient(ridge, jax):
    X, y, lam, q, f, values = ridge
    program = td.compile(f, backend="jax")
    gradient = jax.grad(lambda x: program(X=x, y=values["y"], lam=0.5))(jax.numpy.asarray(values["X"]))
    assert _close(gradient, td.evaluate(td.grad(f, X), **values), 1e-9)
    # order 2: jax's Hessian of the program against tensordiff's own second derivative
    hessian = jax.hessian(lambda yv: program(X=values["X"], y=yv, lam=0.5))(jax.numpy.asarray(values["y"]))
    assert _close(hessian, td.evaluate(td.hessian(f, y), **values), 1e-9)


def test_jax_vmap_over_a_batch_of_inputs(ridge, jax):
    X, y, lam, q, f, values = ridge
    program = td.compile([q, f], backend="jax")
    batch = np.stack([values["X"], 2 * values["X"], values["X"] + 1])
    qs, fs = jax.jit(jax.vmap(lambda x: program(X=x, y=values["y"], lam=0.5)))(batch)
    for k, x in enumerate(batch):
        q_ref, f_ref = _reference({**values, "X": x})
        assert _close(qs[k], q_ref) and _close(fs[k], f_ref)
    grads = jax.vmap(jax.grad(lambda x: program(X=x, y=values["y"], lam=0.5)[1]))(batch)
    assert _close(grads[2], td.evaluate(td.grad(f, X), **{**values, "X": batch[2]}), 1e-9)


def test_singular_matrices_under_jit_take_the_nan_path(jax):
    A, b = td.matrix("A", "p p"), td.vector("b", "p")
    program = td.compile([td.inv(A), td.logdet(A), td.solve(A, b), td.det(A)], backend="jax")
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    singular[1] = 2 * singular[0]
    inverse, logdet, solved, det = jax.jit(lambda a: program(A=a, b=np.ones(2)))(np.zeros((2, 2)))
    assert np.isnan(np.asarray(inverse)).all() and np.isnan(np.asarray(solved)).all()
    assert np.asarray(logdet) == -np.inf and np.asarray(det) == 0
    # per batch element under vmap: only the singular one is NaN
    batch = np.stack([np.zeros((2, 2)), np.eye(2) * 2])
    inverses = jax.vmap(lambda a: program(A=a, b=np.ones(2))[0])(batch)
    assert np.isnan(np.asarray(inverses[0])).all() and _close(inverses[1], np.eye(2) / 2)
    # an eager call keeps the policy: singular="raise" names the matrix
    with pytest.raises(td.EvaluationError, match="inv of a singular matrix: A"):
        program(A=np.zeros((2, 2)), b=np.ones(2))


def test_a_positional_call_under_jit_keeps_its_message(ridge, jax):
    X, y, lam, q, f, values = ridge
    program = td.compile(q, backend="jax")
    with pytest.raises(td.EvaluationError, match="keywords"):
        jax.jit(program)(values["X"], values["y"], 0.5)


# ---------------------------------------------------------------- torch

def test_torch_autograd_through_a_program(ridge):
    torch = pytest.importorskip("torch")
    X, y, lam, q, f, values = ridge
    x = torch.tensor(values["X"], requires_grad=True)
    value = td.evaluate(f, X=x, y=torch.tensor(values["y"]), lam=0.5)
    (gradient,) = torch.autograd.grad(value, x)
    assert _close(gradient.numpy(), td.evaluate(td.grad(f, X), **values), 1e-9)


def test_torch_compile_of_a_program(ridge):
    torch = pytest.importorskip("torch")
    X, y, lam, q, f, values = ridge
    program = td.compile([f, td.grad(f, X), td.hessian(f, y)], backend="torch")
    compiled = torch.compile(lambda x, yv: program(X=x, y=yv, lam=0.5), fullgraph=True)   # one graph
    x, yv = torch.tensor(values["X"]), torch.tensor(values["y"])
    out = compiled(x, yv)
    expected = td.compile([f, td.grad(f, X), td.hessian(f, y)], backend="numpy")(**values)
    for got, want in zip(out, expected):
        assert isinstance(got, torch.Tensor) and _close(got.numpy(), want)

    following = td.compile(q)   # no backend: its torch plan is made at the first call (a graph break)
    assert _close(torch.compile(lambda x, yv: following(X=x, y=yv, lam=0.5))(x, yv).numpy(), _reference(values)[0])

    A, b = td.matrix("A", "p p"), td.vector("b", "p")
    singular = td.compile([td.inv(A), td.logdet(A), td.solve(A, b), A], backend="torch")
    a = torch.zeros(2, 2, dtype=torch.float64)
    inverse, logdet, solved, same = torch.compile(lambda a: singular(A=a, b=torch.ones(2, dtype=torch.float64)),
                                                  fullgraph=True)(a)
    assert torch.isnan(inverse).all() and torch.isnan(solved).all() and logdet == -float("inf")
    same[0, 0] = 1.0   # an output that is an input is a copy, compiled too
    assert a[0, 0] == 0.0
    with pytest.raises(td.EvaluationError, match="keywords"):
        torch.compile(program)(torch.tensor(values["X"]))


def test_inference_imports_no_library():
    import subprocess
    import sys
    code = ("import sys, numpy as np, tensordiff as td\n"
            "x = td.vector('x', 'n')\n"
            "assert type(td.evaluate(x @ x, x=np.ones(3), progress=False)) is np.ndarray\n"
            "print(sorted(m for m in ('torch', 'jax', 'cupy', 'dask', 'scipy', 'tqdm') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tensor_subclasses_are_torch():
    torch = pytest.importorskip("torch")

    class Tagged(torch.Tensor):   # a subclass defined outside torch: found through its base class
        pass

    x = td.vector("x", "n")
    value = torch.ones(3, dtype=torch.float64).as_subclass(Tagged)
    assert isinstance(td.evaluate(x @ x, x=value), torch.Tensor)
    parameter = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    out = td.evaluate(x @ x, x=parameter)
    assert isinstance(out, torch.Tensor) and out.requires_grad
