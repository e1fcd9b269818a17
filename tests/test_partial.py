"""Program.part (a subset of the outputs, running only their steps) and Program.incremental
(reusing, between calls, the steps whose inputs did not change): results bit-identical to full
calls on the specialised numpy path and on the step loop, the steps that run, what invalidates
kept values (changed bytes, in-place changes, dtypes, shapes, functions=), threads, pickling,
other backends and bad outputs."""

import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Inv, LogDet, Solve

from helpers import in_threads

RNG = np.random.default_rng(1402)


def _problem():
    """A 2-layer network's loss with its gradient, Hessian-vector product and a Hessian block."""
    X, W, v, y = td.matrix("X", "n d"), td.matrix("W", "d h"), td.vector("v", "h"), td.vector("y", "n")
    P, q = td.matrix("P", "d h"), td.vector("q", "h")
    loss = td.norm(td.tanh(X @ W) @ v - y) ** 2 + td.logdet(W.T @ W + td.eye("h")) + 0.1 * (v @ v)
    g_W, g_v = td.grad(loss, W), td.grad(loss, v)
    products = [td.jvp(g_W, W, P) + td.jvp(g_W, v, q), td.jvp(g_v, W, P) + td.jvp(g_v, v, q)]
    outputs = [loss, g_W, g_v, *products, td.diff(g_v, v)]
    values = dict(X=RNG.standard_normal((7, 3)), y=RNG.standard_normal(7), W=0.5 * RNG.standard_normal((3, 2)),
                  v=RNG.standard_normal(2), P=RNG.standard_normal((3, 2)), q=RNG.standard_normal(2))
    return outputs, values


def _equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y), np.max(np.abs(x - y))


def _step_loop(program):
    program.specialisations = None   # the step loop other backends run
    return program


@pytest.fixture(params=["specialised", "step loop"])
def program(request):
    outputs, values = _problem()
    program = td.compile(outputs)
    return (program if request.param == "specialised" else _step_loop(program)), values


def test_a_part_is_bit_identical_and_needs_only_its_symbols(program):
    program, values = program
    full = program(**values)
    part = program.part([0, 1, 2])
    assert set(part.symbols) == {"X", "y", "W", "v"}
    _equal(part(**{k: values[k] for k in part.symbols}), full[:3])
    _equal([program.part(3)(**values)], [full[3]])   # one output: an array; extra values are fine
    _equal([program.part(-1)(**values)], [full[-1]])
    _equal(program.part([program.outputs[4], 0])(values), [full[4], full[0]])   # by expression, in that order
    with pytest.raises(td.EvaluationError, match=r"no value for symbol\(s\) 'P'"):
        program.part(3)(**{k: values[k] for k in ("X", "y", "W", "v", "q")})


def test_a_part_runs_fewer_steps_than_the_program():
    outputs, values = _problem()
    program = td.compile(outputs)
    run = program.incremental()
    run(**values)
    everything = run.steps_run
    run.clear()
    run.part(2)(**values)
    assert 0 < run.steps_run < everything


def test_nested_outputs_are_counted_flat():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    f = td.sum(td.exp(x) * y) + (x @ x) * (y @ y)
    program = td.compile([f, td.hessian(f, [x, y])])   # f, then four blocks
    values = dict(x=RNG.standard_normal(3), y=RNG.standard_normal(3))
    value, blocks = program(**values)
    assert np.array_equal(program.part(0)(**values), value)
    assert np.array_equal(program.part(2)(**values), blocks[0][1])
    run = program.incremental()
    again_value, again_blocks = run(**values)
    assert np.array_equal(again_value, value) and np.array_equal(again_blocks[1][0], blocks[1][0])


def test_incremental_calls_are_bit_identical_to_full_calls(program):
    program, values = program
    run = program.incremental({"X": values["X"], "y": values["y"]})
    rng = np.random.default_rng(3)
    point = {k: values[k] for k in ("W", "v", "P", "q")}
    for step in range(12):
        change = rng.choice(["W", "v", "P", "q", "none", "direction"])
        if change == "direction":
            point["P"], point["q"] = rng.standard_normal((3, 2)), rng.standard_normal(2)
        elif change != "none":
            point[change] = point[change] + rng.standard_normal(point[change].shape)
        which = [[0, 1, 2], [3, 4], None, [5]][step % 4]
        expected = program(**{**values, **point})
        if which is None:
            _equal(run(**point), expected)
        else:
            needed = program.part(which).symbols
            got = run.part(which)(**{k: v for k, v in point.items() if k in needed})
            _equal(got, [expected[k] for k in which])


def test_a_new_direction_runs_only_the_steps_that_read_it():
    outputs, values = _problem()
    program = td.compile(outputs)
    run = program.incremental({"X": values["X"], "y": values["y"]})
    point = dict(W=values["W"], v=values["v"])
    value_and_gradient, product = run.part([0, 1, 2]), run.part([3, 4])
    value_and_gradient(**point)
    product(**point, P=values["P"], q=values["q"])
    for seed in range(3):
        rng = np.random.default_rng(seed)
        direction = dict(P=rng.standard_normal((3, 2)), q=rng.standard_normal(2))
        got = product(**point, **direction)
        _equal(got, program.part([3, 4])(**values | point | direction))
        ran = [program.steps[k][0] for k in run.last_run]
        assert run.steps_run == len(ran) > 0 and run.steps_reused > 0
        assert all(node.free & {"P", "q"} for node in ran)   # every step computed reads the direction
        assert not any(isinstance(node, (Inv, Solve, LogDet)) for node in ran)
    value_and_gradient(**point)
    assert run.steps_run == 0   # the value and gradient were kept


def test_an_array_changed_in_place_is_seen():
    outputs, values = _problem()
    program = td.compile(outputs)
    run = program.incremental()
    W = values["W"].copy()
    first = run(**{**values, "W": W})
    W[0, 0] += 1.0   # the same object, other contents
    second = run(**{**values, "W": W})
    _equal(second, program(**{**values, "W": W}))
    assert not np.array_equal(first[0], second[0])


def test_outputs_belong_to_the_caller():
    outputs, values = _problem()
    run = td.compile(outputs).incremental()
    first = run(**values)
    expected = [a.copy() for a in first]
    for a in first:
        a[...] = 0.0
    _equal(run(**values), expected)   # all reused, none changed
    assert run.steps_run == 0


def test_fixed_values_are_copied_and_cannot_be_passed_again():
    outputs, values = _problem()
    program = td.compile(outputs)
    X = values["X"].copy()
    run = program.incremental({"X": X, "y": values["y"]})
    X[:] = 0.0   # the copy is what the evaluation keeps
    _equal(run(**{k: v for k, v in values.items() if k not in ("X", "y")}), program(**values))
    with pytest.raises(td.EvaluationError, match="'X' is fixed in this incremental evaluation"):
        run(**{k: v for k, v in values.items() if k != "y"})


def test_dtype_and_shape_changes_start_afresh():
    outputs, values = _problem()
    program = td.compile(outputs)
    run = program.incremental()
    run(**values)
    as32 = {k: v.astype(np.float32) for k, v in values.items()}
    got = run(**as32)
    _equal(got, program(**as32))
    assert got[0].dtype == np.float32
    mixed = {**as32, "P": values["P"]}   # one float64 direction: the whole call is float64
    _equal(run(**mixed), program(**mixed))
    larger = dict(values, X=RNG.standard_normal((9, 3)), y=RNG.standard_normal(9))
    _equal(run(**larger), program(**larger))
    wider = {k: RNG.standard_normal(v.shape[:-1] + (4,)) if k in ("W", "P") else v for k, v in values.items()}
    wider["v"], wider["q"] = RNG.standard_normal(4), RNG.standard_normal(4)
    _equal(run(**wider), program(**wider))


def test_changed_functions_recompute_the_steps_that_apply_them():
    h = td.elementwise("h")
    x, c = td.vector("x", "n"), td.vector("c", "n")
    program = td.compile([td.sum(h(x) * c), td.grad(td.sum(h(x) * c), x)])
    run = program.incremental()
    values = dict(x=RNG.standard_normal(4), c=RNG.standard_normal(4))
    first = run(**values, functions={"h": [np.sin, np.cos]})
    second = run(**values, functions={"h": [np.tanh, lambda t: 1 - np.tanh(t) ** 2]})
    _equal(second, program(**values, functions={"h": [np.tanh, lambda t: 1 - np.tanh(t) ** 2]}))
    assert not np.array_equal(first[0], second[0])


def test_the_step_loop_and_the_specialised_path_agree_bit_for_bit():
    outputs, values = _problem()
    specialised, loop = td.compile(outputs).incremental(), _step_loop(td.compile(outputs)).incremental()
    for scale in (1.0, 1.0, 2.0):
        point = dict(values, P=scale * values["P"])
        _equal(specialised(**point), loop(**point))


def test_parts_and_incremental_evaluations_pickle():
    outputs, values = _problem()
    program = td.compile(outputs)
    part = pickle.loads(pickle.dumps(program.part([1, 3])))
    _equal(part(**values), [program(**values)[1], program(**values)[3]])
    run = program.incremental({"X": values["X"]})
    run(**{k: v for k, v in values.items() if k != "X"})
    again = pickle.loads(pickle.dumps(run.part(0)))
    assert np.array_equal(again(**{k: v for k, v in values.items() if k != "X"}), program(**values)[0])
    assert again.steps_reused == 0   # kept values do not travel


def test_parts_and_incremental_evaluations_are_thread_safe():
    outputs, values = _problem()
    program = td.compile(outputs)
    part, run = program.part([0, 3]), program.incremental()
    points = [dict(values, W=values["W"] + k, P=values["P"] * k) for k in range(6)]
    expected = [program(**point) for point in points]
    failures = []

    def work(k):
        for _ in range(5):
            got_part, got_run = part(**points[k]), run(**points[k])
            if not (np.array_equal(got_part[1], expected[k][3]) and
                    all(np.array_equal(a, b) for a, b in zip(got_run, expected[k]))):
                failures.append(k)
    in_threads(work, 6)
    assert not failures


def test_bad_outputs_are_clear_errors():
    outputs, _ = _problem()
    program = td.compile(outputs)
    with pytest.raises(td.EvaluationError, match="output 6 is out of range: the program has 6 outputs"):
        program.part(6)
    with pytest.raises(td.EvaluationError, match="out of range"):
        program.incremental().part([0, -7])
    with pytest.raises(td.EvaluationError, match=r"out = Σ_i y\[i\] \(shape \(\) \(a scalar\)\) is not an output of this program: choose one "
                       r"of program.outputs, or a position from 0 to 5"):
        program.part(td.sum(td.vector("y", "n")))
    with pytest.raises(td.EvaluationError, match="by position .* or by the output expression itself, got str"):
        program.part("loss")
    with pytest.raises(td.EvaluationError, match="got bool"):
        program.part(True)
    with pytest.raises(td.EvaluationError, match="at least one of the program's 6 outputs"):
        program.part([])
    with pytest.raises(td.EvaluationError, match="one dict"):
        program.part(0)([1, 2])


def test_other_backends_follow_their_inputs():
    torch = pytest.importorskip("torch")
    outputs, values = _problem()
    program = td.compile(outputs)
    tensors = {k: torch.tensor(v) for k, v in values.items()}
    full = program(**tensors)
    run = program.incremental()
    for scale in (1.0, 1.0, 3.0):
        point = dict(tensors, q=scale * tensors["q"])
        got, expected = run(**point), program(**point)
        assert all(isinstance(a, torch.Tensor) and torch.equal(a, b) for a, b in zip(got, expected))
    assert run.steps_reused > 0 and all(program.planned_for("torch").steps[k][0].free & {"q"} for k in run.last_run)
    got = program.part(2)(**tensors)
    assert isinstance(got, torch.Tensor) and torch.equal(got, full[2])


def test_jax_parts_run_under_jit_and_incremental_calls_reuse_concrete_values():
    jax = pytest.importorskip("jax")
    A, x, p = td.matrix("A", "n n"), td.vector("x", "n"), td.vector("p", "n")
    f = -td.logdet(A + td.diag(td.exp(x))) + td.sum(td.sin(x))
    outputs = [f, td.grad(f, x), td.hvp(f, x, p)]
    a = RNG.standard_normal((3, 3))
    values = dict(A=a @ a.T + np.eye(3), x=RNG.standard_normal(3), p=RNG.standard_normal(3))
    expected = td.compile(outputs)(**values)
    with jax.enable_x64(True):
        program = td.compile(outputs, backend="jax")
        product = program.part(2)
        jitted = jax.jit(lambda x, p: product(A=values["A"], x=x, p=p))
        np.testing.assert_allclose(np.asarray(jitted(values["x"], values["p"])), expected[2], rtol=1e-12)
        run = program.incremental({"A": values["A"]})
        first = run(x=values["x"], p=values["p"])
        second = run(x=values["x"], p=2 * values["p"])
        assert run.steps_reused > 0 and all(program.steps[k][0].free & {"p"} for k in run.last_run)
        np.testing.assert_allclose(np.asarray(second[2]), 2 * np.asarray(first[2]), rtol=1e-12)
        assert np.array_equal(np.asarray(first[0]), np.asarray(second[0]))
        traced = jax.jit(lambda x: run.part(0)(x=x))(values["x"])   # traced values: computed in full
        np.testing.assert_allclose(np.asarray(traced), expected[0], rtol=1e-12)


def test_dask_inputs_are_compared_by_identity():
    da = pytest.importorskip("dask.array")
    outputs, values = _problem()
    program = td.compile(outputs)
    arrays = {k: da.from_array(v) for k, v in values.items()}
    run = program.incremental()
    first = run(**arrays)
    second = run(**arrays)
    assert run.steps_run == 0
    np.testing.assert_allclose(np.asarray(second[0]), np.asarray(first[0]), rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(first[3]), program(**values)[3], rtol=1e-12, atol=1e-12)
