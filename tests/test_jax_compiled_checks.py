"""jax programs with inv, solve, logdet and cholesky are jax.jit-compiled under the default policies,
and the policies still hold: the compiled function returns each matrix step's singular flag and
rcond estimate, and they raise or warn after the call with the eager path's messages
(tensordiff/deferredchecks.py). A user's own jax.jit / grad / vmap around a program still takes the
NaN path (docs/interop.md)."""

import warnings

import numpy as np
import pytest

import tensordiff as td

jax = pytest.importorskip("jax")
jnp = jax.numpy

CALLS = 4   # the signature repeats: the specialisation is compiled from the second call on


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _compiled(program):
    specialisations = list(program.specialisations.values())
    return len(specialisations) == 1 and specialisations[0].compiled


def _ridge():
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    return td.diff(td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y, alpha), ("X", "y", "alpha")


def _tikhonov_jacobian():
    X, y, lam = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    return td.diff(td.inv(X.T @ X + lam * td.eye("D")) @ X.T @ y, X), ("X", "y", "alpha")


def _logdet_gradient():
    X, W = td.matrix("X", "N D"), td.matrix("W", "D D")
    A = X @ W @ X.T + td.eye("N")
    return td.grad(td.logdet(A), W), ("X", "W")


def _cholesky_solve():
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    L = td.cholesky(X.T @ X + alpha * td.eye("D"))
    return td.solve(L, X.T @ y) + td.logdet(L @ L.T) * td.ones("D"), ("X", "y", "alpha")


def _values(names, seed, n=9, d=4):
    rng = np.random.default_rng(seed)
    table = dict(X=rng.standard_normal((n, d)), y=rng.standard_normal(n), alpha=0.7,
                 W=0.1 * rng.standard_normal((d, d)))
    return {name: table[name] for name in names}


@pytest.mark.parametrize("make", [_ridge, _tikhonov_jacobian, _logdet_gradient, _cholesky_solve])
def test_default_policy_programs_compile_and_agree_with_numpy(make):
    expression, names = make()
    on_numpy, on_jax = td.compile(expression), td.compile(expression, backend="jax")
    for seed in range(CALLS):
        values = _values(names, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # well conditioned: no warning either way
            expected = on_numpy(**values)
            got = on_jax(**{k: jnp.asarray(v) for k, v in values.items()})
        assert isinstance(got, jax.Array)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)
    assert _compiled(on_jax)


def _warm(program, **values):
    for _ in range(CALLS):
        program(**values)
    assert _compiled(program)


def _message(call):
    with pytest.raises(td.EvaluationError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("build", [
    lambda A, b: td.inv(A) @ b,
    lambda A, b: td.solve(A, b),
    lambda A, b: td.logdet(A) * b,
    lambda A, b: td.solve(td.cholesky(A), b),
])
def test_a_singular_matrix_raises_after_the_compiled_call_as_it_does_eagerly(build):
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    expression = build(A, b)
    compiled, eager = td.compile(expression, backend="jax"), td.compile(expression, backend="jax")
    _warm(compiled, A=np.eye(3) * 2.0, b=np.ones(3))
    singular = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    expected = _message(lambda: eager(A=singular, b=np.ones(3)))   # its first call: eager
    assert _message(lambda: compiled(A=singular, b=np.ones(3))) == expected
    np.testing.assert_allclose(np.asarray(compiled(A=np.eye(3) * 4.0, b=np.ones(3))),
                               np.asarray(eager(A=np.eye(3) * 4.0, b=np.ones(3))), rtol=1e-12)   # and runs on


def test_singular_nan_gives_the_eager_results_once_compiled():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    outputs = [td.inv(A), td.solve(A, b), td.logdet(A), td.cholesky(A)]
    compiled = td.compile(outputs, backend="jax", singular="nan")
    eager = td.compile(outputs, backend="jax", singular="nan")
    _warm(compiled, A=np.eye(2) * 2.0, b=np.ones(2))
    for matrix in (np.zeros((2, 2)), np.array([[1.0, 2.0], [2.0, 1.0]]), np.full((2, 2), np.nan)):
        for got, want in zip(compiled(A=matrix, b=np.ones(2)), eager(A=matrix, b=np.ones(2))):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def _ill_conditioned(n=4):
    return np.diag([1.0] * (n - 1) + [1e-19])


@pytest.mark.parametrize("build", [
    lambda A, b: td.inv(A) @ b,
    lambda A, b: td.solve(A, b),
    lambda A, b: td.solve(td.cholesky(A), b),
])
def test_ill_conditioning_warns_or_raises_after_the_compiled_call(build):
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    expression = build(A, b)
    compiled, eager = td.compile(expression, backend="jax"), td.compile(expression, backend="jax")
    _warm(compiled, A=np.eye(4), b=np.ones(4))
    for program in (compiled, eager):
        with pytest.warns(td.IllConditionedWarning) as caught:
            program(A=_ill_conditioned(), b=np.ones(4))
        assert len(caught) == 1
        program.caught = str(caught[0].message)
    assert compiled.caught == eager.caught and "ill-conditioned matrix: A" in compiled.caught
    strict, strict_eager = (td.compile(expression, backend="jax", conditioning="raise") for _ in range(2))
    _warm(strict, A=np.eye(4), b=np.ones(4))
    assert _message(lambda: strict(A=_ill_conditioned(), b=np.ones(4))) == \
        _message(lambda: strict_eager(A=_ill_conditioned(), b=np.ones(4)))
    quiet = td.compile(expression, backend="jax", conditioning="ignore")
    _warm(quiet, A=np.eye(4), b=np.ones(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet(A=_ill_conditioned(), b=np.ones(4))


def test_nan_input_is_neither_an_error_nor_a_warning_once_compiled():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    outputs = [td.inv(A) @ b, td.solve(A, b), td.logdet(A), td.cholesky(A)]
    program = td.compile(outputs, backend="jax")
    _warm(program, A=np.eye(3) * 2.0, b=np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = program(A=np.full((3, 3), np.nan), b=np.ones(3))
        expected = td.compile(outputs)(A=np.full((3, 3), np.nan), b=np.ones(3))
    for got, want in zip(results, expected):   # NaN throughout (cholesky: NaN below the diagonal, as numpy)
        np.testing.assert_array_equal(np.asarray(got), want)
    assert np.isnan(np.asarray(results[0])).all() and np.isnan(np.asarray(results[2]))


def test_checks_run_in_step_order_a_warning_then_the_error():
    A, B, b = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("b", "n")
    # inv(A) is computed before logdet(B) reads the product: a warning on A, then B is singular
    program = td.compile(td.logdet(B + td.inv(A)) * b, backend="jax")
    _warm(program, A=np.eye(3), B=np.eye(3), b=np.ones(3))
    ill = np.diag([1.0, 1.0, 1e-19])
    with pytest.warns(td.IllConditionedWarning, match="inv of an ill-conditioned"):
        with pytest.raises(td.EvaluationError, match="logdet of a singular matrix"):
            program(A=ill, B=-np.linalg.inv(ill), b=np.ones(3))   # B + inv(A) = 0


def test_float32_programs_check_against_float32_epsilon():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    program = td.compile(td.solve(A, b), backend="jax")
    as32 = dict(A=np.eye(3, dtype=np.float32), b=np.ones(3, dtype=np.float32))
    _warm(program, **as32)
    with pytest.warns(td.IllConditionedWarning, match="float32"):
        program(A=np.diag([1.0, 1.0, 1e-9]).astype(np.float32), b=as32["b"])


def test_a_users_jit_grad_and_vmap_around_a_compiled_program():
    expression, names = _ridge()
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    objective = td.sum(td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y)
    program = td.compile([expression, objective], backend="jax")
    values = _values(names, 0)
    _warm(program, **values)   # compiled for concrete values; a traced call runs the step loop
    jitted = jax.jit(lambda x: program(X=x, y=values["y"], alpha=0.7))
    for got, want in zip(jitted(values["X"]), td.compile([expression, objective])(**values)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)
    gradient = jax.grad(lambda x: program(X=x, y=values["y"], alpha=0.7)[1])(jnp.asarray(values["X"]))
    np.testing.assert_allclose(np.asarray(gradient), td.evaluate(td.grad(objective, X), **values), rtol=1e-9, atol=1e-12)
    batch = np.stack([_values(names, seed)["X"] for seed in range(3)])
    batched = jax.vmap(lambda x: program(X=x, y=values["y"], alpha=0.7)[0])(batch)
    for k in range(3):
        np.testing.assert_allclose(np.asarray(batched[k]), td.evaluate(expression, **{**values, "X": batch[k]}),
                                   rtol=1e-12, atol=1e-12)
    singular = jax.jit(lambda x: program(X=x, y=values["y"], alpha=0.0)[0])(np.zeros_like(values["X"]))
    assert np.isnan(np.asarray(singular)).all()   # a user's trace: the documented NaN path, no error
