"""Bool values enter as numpy's arithmetic reads them, True as 1 and False as 0, promoted to
float64 like ints: Python bools, numpy bool scalars and bool arrays alike, in td.evaluate,
compiled programs (first and specialised calls), td.check, incremental programs, the scipy bridge
and the array backends. Bools as dim sizes and bool constants inside expressions stay errors."""

import numpy as np
import pytest

import tensordiff as td

s, b, w = td.scalar("s_bools"), td.vector("b_bools", "n_bools"), td.vector("w_bools", "n_bools")   # names no other test declares
f = td.sum(td.exp(w) * b) * s + s * s

BOOL_SCALARS = [True, False, np.bool_(True), np.bool_(False), np.array(True), np.array(False)]


def _numpy_f(sv, bv, wv):
    return np.sum(np.exp(wv) * bv) * sv + sv * sv   # numpy's own reading of bools


@pytest.mark.parametrize("value", BOOL_SCALARS, ids=repr)
def test_a_bool_scalar_is_its_number_in_evaluate_and_compiled_programs(value):
    bv, wv = np.array([True, False, True]), np.array([0.1, -0.3, 0.5])
    want = _numpy_f(value, bv, wv)
    program = td.compile([f, td.grad(f, w), td.grad(f, s)])
    calls = [td.evaluate(f, s_bools=value, b_bools=bv, w_bools=wv), program(s_bools=value, b_bools=bv, w_bools=wv)[0],
             program(s_bools=value, b_bools=bv, w_bools=wv)[0], program(s_bools=value, b_bools=bv, w_bools=wv)[0]]   # the specialised path too
    for got in calls:
        assert np.asarray(got).dtype == np.float64
        assert got == pytest.approx(want, rel=1e-15)
    grad_w, grad_s = program(s_bools=value, b_bools=bv, w_bools=wv)[1:]
    assert np.allclose(grad_w, float(value) * np.exp(wv) * bv)
    assert grad_s == pytest.approx(np.sum(np.exp(wv) * bv) + 2 * float(value))


@pytest.mark.parametrize("backend", ["jax", "dask"])
def test_bools_on_the_array_backends(backend):
    lib = pytest.importorskip({"jax": "jax", "dask": "dask.array"}[backend])
    if backend == "jax":
        lib.config.update("jax_enable_x64", True)
    bv, wv = np.array([True, False, True]), np.array([0.1, -0.3, 0.5])
    for value in BOOL_SCALARS:
        got = td.evaluate(f, s_bools=value, b_bools=bv, w_bools=wv, backend=backend)
        got = got.compute() if backend == "dask" else got
        assert float(got) == pytest.approx(_numpy_f(value, bv, wv), rel=1e-15)


def test_check_at_bool_values_matches_finite_differences():
    result = td.check(f, [w, s], s_bools=True, b_bools=np.array([True, False, True]), w_bools=np.array([True, False, False]))
    assert all(r.max_rel_error < 1e-6 for r in result)


def test_an_incremental_program_and_a_part_take_bools():
    program = td.compile([f, td.grad(f, w)])
    bv, wv = np.array([False, True, True]), np.array([0.2, 0.1, -0.4])
    incremental = program.incremental(fixed={"b_bools": bv, "s_bools": True})
    assert incremental(w_bools=wv)[0] == pytest.approx(_numpy_f(True, bv, wv))
    assert program.part(1)(s_bools=np.bool_(True), b_bools=bv, w_bools=wv) == pytest.approx(np.exp(wv) * bv)


def test_the_scipy_bridge_takes_bool_constants_and_points():
    pytest.importorskip("scipy")
    objective = td.scipy_objective(f, [w], s_bools=True, b_bools=np.array([True, False, True]))
    x = objective.x0(w_bools=np.array([True, False, True]))
    assert x.dtype == np.float64 and list(x) == [1.0, 0.0, 1.0]
    assert objective.fun(x) == pytest.approx(_numpy_f(1.0, np.array([1.0, 0, 1]), x))
    assert np.allclose(objective.jac(x), np.exp(x) * [1, 0, 1])


def test_values_that_are_no_numbers_still_name_the_symbol():
    for bad, words in [(None, "NoneType"), ("yes", "str"), ([[True], [True, False]], "ragged"), (np.array(["a"]), "dtype")]:
        with pytest.raises(td.EvaluationError, match=f"'s_bools'.*{words}"):
            td.evaluate(f, s_bools=bad, b_bools=np.ones(3), w_bools=np.ones(3))
    with pytest.raises(td.ShapeError, match="'s_bools' has shape \\(1,\\).*scalar"):   # a list is a value: its shape
        td.evaluate(f, s_bools=[True], b_bools=np.ones(3), w_bools=np.ones(3))


def test_a_bool_dim_size_stays_an_error_and_a_bool_constant_is_its_number():
    with pytest.raises(td.TensorDiffError, match="n_bools"):
        td.evaluate(td.trace(td.eye("n_bools")), n_bools=True)
    for constant in (True, np.bool_(True), np.array(True)):   # as numpy: w * True is w * 1
        assert w * constant is w * 1 and w * (not constant) is w * 0
