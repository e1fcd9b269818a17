"""A jax program that tensordiff compiled (jax.jit, from the second call with a signature) takes the
call's values as given: the conversion of each value (ints and bools to float64, the common dtype)
and each output's finish run inside the jit (jaxarrays.py's ``plan_compiler``), and the deferred
checks' flags say in their first entry whether any policy must act (deferredchecks.py). These
tests hold the compiled call to what the conversion outside the jit gives."""

import math

import numpy as np
import pytest

import tensordiff as td
from tensordiff import deferredchecks

jax = pytest.importorskip("jax")
jnp = jax.numpy

CALLS = 4   # the signature repeats: compiled from the second call on


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _only_specialisation(program):
    (special,) = program.specialisations.values()
    return special


def _ridge_gradient():
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    return [td.diff(td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y, alpha), td.sum(td.tanh(X @ (X.T @ y)))]


def _calls(program, values):
    results = [program(**values) for _ in range(CALLS)]
    assert _only_specialisation(program).compiled
    return results


@pytest.mark.parametrize("kinds", [
    dict(X="int64", y="int32", alpha="bool"),
    dict(X="float32", y="float64", alpha="float32"),
    dict(X="int32", y="float32", alpha="python"),
    dict(X="float32", y="float32", alpha="python"),   # a number is float64 until the cast to float32
    dict(X="numpy-int64", y="float64", alpha="numpy-scalar"),
    dict(X="numpy-float16", y="float32", alpha="float32"),
])
def test_values_converted_inside_the_jit_give_what_converting_them_first_gives(kinds):
    rng = np.random.default_rng(3)
    raw = dict(X=rng.integers(-3, 4, size=(6, 3)), y=rng.integers(-2, 3, size=6), alpha=True)

    def given(name):
        kind, value = kinds[name], raw[name]
        if kind == "python":
            return 0.75
        if kind == "numpy-scalar":
            return np.float64(0.75)
        if kind.startswith("numpy-"):
            return np.asarray(value, dtype=kind[6:])
        return jnp.asarray(np.asarray(value, dtype=kind))

    values = {name: given(name) for name in raw}
    program, converted_first = td.compile(_ridge_gradient(), backend="jax"), td.compile(_ridge_gradient(), backend="jax")
    # what the step loop's conversion makes of each value: td.evaluate's first call converts them
    backend = converted_first.backend
    arrays = {name: backend.to_array(name, value) for name, value in values.items()}
    dtype = jnp.result_type(*(a.dtype for name, a in arrays.items() if kinds[name] != "python"))
    arrays = {name: a.astype(dtype) for name, a in arrays.items()}
    expected = td.compile(_ridge_gradient())(**{name: np.asarray(a) for name, a in arrays.items()})
    for got, want in zip(_calls(program, values), _calls(converted_first, arrays)):
        for g, w, reference in zip(got, want, expected):
            assert isinstance(g, jax.Array) and g.dtype == w.dtype == dtype
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))   # bit-identical
            np.testing.assert_allclose(np.asarray(g), reference, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_symmetric_symbols_value_is_checked_on_every_compiled_call():
    S, b = td.matrix("S", "n n", symmetric=True), td.vector("b", "n")
    program = td.compile(td.solve(S, b), backend="jax")
    fine = dict(S=jnp.asarray(np.eye(3) * 2.0), b=jnp.ones(3))
    _calls(program, fine)
    asymmetric = np.eye(3) * 2.0
    asymmetric[0, 1] = 1.0
    with pytest.raises(td.EvaluationError, match="symmetric symbol 'S'") as compiled:
        program(S=jnp.asarray(asymmetric), b=jnp.ones(3))
    with pytest.raises(td.EvaluationError) as eager:
        td.compile(td.solve(S, b), backend="jax")(S=jnp.asarray(asymmetric), b=jnp.ones(3))
    assert str(compiled.value) == str(eager.value)
    np.testing.assert_array_equal(np.asarray(program(**fine)), np.full(3, 0.5))


def test_a_dim_given_by_size_stays_outside_the_jit():
    x = td.vector("x", "n")
    program = td.compile(td.eye("m") * td.sum(x), backend="jax")
    results = _calls(program, dict(x=jnp.arange(3.0), m=2))
    for result in results:
        np.testing.assert_array_equal(np.asarray(result), 3.0 * np.eye(2))
    assert np.asarray(program(x=jnp.arange(4.0), m=2)).tolist() == (6.0 * np.eye(2)).tolist()


def test_one_specialisation_per_shape_and_dtype_of_the_jax_arrays():
    x = td.vector("x", "n")
    program = td.compile(td.sum(td.exp(x)), backend="jax")
    for seed in range(CALLS):
        program(x=jnp.asarray(np.random.default_rng(seed).standard_normal(3)))
    assert len(program.specialisations) == 1
    program(x=jnp.ones(3, dtype=jnp.float32))
    program(x=jnp.ones(4))
    assert len(program.specialisations) == 3


def test_a_compiled_call_runs_from_the_program_call_and_keeps_every_guard():
    """Once compiled, a call with a signature seen before runs the jitted function from
    Program.__call__ (``compiled_run``); the memory guard, a new shape, a bad value and a singular
    matrix still get tensordiff's errors, and the nested outputs come back as they do eagerly."""
    X, y, alpha = td.matrix("X", "N D"), td.vector("y", "N"), td.scalar("alpha")
    w = td.inv(X.T @ X + alpha * td.eye("D")) @ X.T @ y
    program = td.compile([[td.diff(w, alpha)], td.sum(w)], backend="jax")
    rng = np.random.default_rng(4)
    values = dict(X=jnp.asarray(rng.standard_normal((6, 3))), y=jnp.asarray(rng.standard_normal(6)),
                  alpha=jnp.asarray(0.5))
    want = td.compile([[td.diff(w, alpha)], td.sum(w)])(**{k: np.asarray(v) for k, v in values.items()})
    results = _calls(program, values)
    assert _only_specialisation(program).compiled_run is not None
    for (derivative,), total in results:
        np.testing.assert_allclose(np.asarray(derivative), want[0][0], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(total), want[1], rtol=1e-12)
    program.memory_limit = 8
    with pytest.raises(td.EvaluationError, match="memory"):
        program(**values)
    program.memory_limit = None
    with pytest.raises(td.ShapeError):
        program(**dict(values, y=jnp.ones(5)))
    with pytest.raises(td.ShapeError, match="'alpha'"):
        program(**dict(values, alpha=jnp.asarray([0.5, 1.0])))
    with pytest.raises(td.EvaluationError, match="'alpha'"):
        program(**dict(values, alpha="half"))
    with pytest.raises(td.EvaluationError, match="singular"):
        program(**dict(values, X=jnp.zeros((6, 3)), alpha=jnp.asarray(0.0)))
    (derivative,), _ = program(**values)
    np.testing.assert_allclose(np.asarray(derivative), want[0][0], rtol=1e-12)


class Recorder:
    """A conditioning policy that records the estimates it is asked about."""

    def __init__(self):
        self.seen = []

    def check_conditioning(self, rcond, dtype):
        self.seen.append(rcond)


@pytest.mark.parametrize("flags, conditioning, alarm", [
    ([(False, 0.5)], [True], 0),
    ([(True, None)], [False], 1),
    ([(False, 1e-20)], [True], 1),   # below float64's epsilon
    ([(False, 1e-20)], [False], 0),   # an estimate nobody checks
    ([(False, math.nan)], [True], 0),   # a NaN estimate is not below the limit
    ([(False, 0.5), (False, 0.25), (True, 0.5)], [True, True, True], 1),
])
def test_the_flags_first_entry_says_whether_a_policy_must_act(flags, conditioning, alarm):
    traced = [(jnp.asarray(failed), None if rcond is None else jnp.asarray(rcond)) for failed, rcond in flags]
    failures, recorder = [], Recorder()
    checks = [deferredchecks.DeferredCheck(lambda k=k: failures.append(k), recorder if checked else None, "float64")
              for k, checked in enumerate(conditioning)]
    values = np.asarray(deferredchecks.flag_values(jnp, traced, checks))
    assert values[0] == alarm
    assert values[1::2].tolist() == [float(failed) for failed, _ in flags]
    np.testing.assert_array_equal(values[2::2], [math.nan if rcond is None else rcond for _, rcond in flags])
    deferredchecks.apply(checks, values)
    if not alarm:   # nothing to act on: no policy is asked
        assert failures == [] and recorder.seen == []
        return
    assert failures == [k for k, (failed, _) in enumerate(flags) if failed]
    assert recorder.seen == [rcond for (failed, rcond), checked in zip(flags, conditioning) if checked and not failed]


def _reduction_programs():
    X = td.matrix("X_jr", "n_jr p_jr")
    return [td.softmax(X), td.grad(td.sum(td.logsumexp(X @ X.T, axis=1)), X), td.cumsum(X, 0), td.pinv(X),
            td.where(X > 0, X, 0.5 * X), td.hessian(td.sum(td.maximum(X, 0.1) ** 2), X),
            td.differences(td.tanh(X), axis=0), td.grad(td.sum(td.log_softmax(X @ X.T)), X), td.max(X, axis=1),
            td.tril(X) * 2, td.hessian(td.sum(td.softmax(X) ** 3), X), td.min(X), td.mean(td.exp(X)),
            td.where(X > 0, td.log(X), 0.0), td.grad(td.sum(td.eigvalsh(X.T @ X) ** 2), X)]


@pytest.mark.parametrize("k", range(len(_reduction_programs())))
def test_reductions_masks_running_sums_and_pinv_compile_whole(k):
    """Their steps read shapes, never entries: the program is one jit (it ran a dispatch per step,
    8-35x slower per call at these sizes), with the eager values (a nan in where's discarded branch
    stays out)."""
    e = _reduction_programs()[k]
    Xv = np.random.default_rng(k).standard_normal((5, 4))
    program = td.compile(e, backend="jax")
    for result in _calls(program, dict(X_jr=Xv)):
        np.testing.assert_allclose(np.asarray(result), td.evaluate(e, X_jr=Xv), rtol=1e-12, atol=1e-12)
