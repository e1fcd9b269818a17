"""cholesky's conditioning check (issue 18 item 2): an ill-conditioned matrix warns with
IllConditionedWarning naming the sub-expression and the estimate; conditioning="ignore" skips it
and "raise" makes it an EvaluationError; well-conditioned matrices and traced jax values stay quiet."""

import pickle
import warnings

import numpy as np
import pytest

import tensordiff as td
from tensordiff.conditioning import cholesky_rcond, threshold

RNG = np.random.default_rng(18)


def _spd_with_condition(n, condition):
    """A dense symmetric positive definite matrix with 2-norm condition number ``condition``."""
    Q = np.linalg.qr(RNG.standard_normal((n, n)))[0]
    A = Q @ np.diag(np.geomspace(1.0, 1.0 / condition, n)) @ Q.T
    return (A + A.T) / 2


def _caught(compute):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute()
    return result, [w for w in caught if issubclass(w.category, td.IllConditionedWarning)]


BAD = np.diag([1.0, 2.0, 3.0, 1e-17])   # positive definite, rcond 3e-18 < eps: the factor still exists


def test_ill_conditioned_matrix_warns_naming_the_matrix_and_estimate():
    A = td.matrix("A", "n n")
    L, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=BAD))
    assert np.allclose(L, np.linalg.cholesky(BAD))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("cholesky of an ill-conditioned matrix: A has a reciprocal condition estimate of")
    assert "below 2.22e-16" in message
    assert caught[0].filename == __file__   # the warning points at the user's call


def test_warning_names_the_sub_expression_that_was_factored():
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    _, caught = _caught(lambda: td.evaluate(td.cholesky(B @ B.T + A), A=BAD, B=np.zeros((4, 4))))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "B[" in message and "A[" in message


def test_dense_ill_conditioned_matrix_warns_and_a_tame_one_does_not():
    A = td.matrix("A", "n n")
    _, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=_spd_with_condition(6, 1e17)))
    assert len(caught) == 1
    _, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=_spd_with_condition(6, 1e8)))
    assert caught == []


def test_ignore_skips_the_check_and_raise_is_an_evaluation_error():
    A = td.matrix("A", "n n")
    L, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=BAD, conditioning="ignore"))
    assert caught == [] and np.allclose(L, np.linalg.cholesky(BAD))
    with pytest.raises(td.EvaluationError, match=r"cholesky of an ill-conditioned matrix: A has a reciprocal"):
        td.evaluate(td.cholesky(A), A=BAD, conditioning="raise")


def test_derivatives_through_cholesky_warn_too():
    A = td.matrix("A", "n n")
    f = td.sum(td.cholesky(A))
    _, caught = _caught(lambda: td.evaluate(td.grad(f, A), A=BAD))
    assert caught and all("ill-conditioned" in str(w.message) for w in caught)


def test_not_positive_definite_is_still_the_singular_error_not_a_warning():
    A = td.matrix("A", "n n")
    with pytest.raises(td.EvaluationError, match="not positive definite: A"):
        _caught(lambda: td.evaluate(td.cholesky(A), A=-np.eye(3)))
    L, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=-np.eye(3), singular="nan"))
    assert np.isnan(L).all() and caught == []


def test_compiled_program_keeps_the_policy_through_pickling():
    A = td.matrix("A", "n n")
    program = pickle.loads(pickle.dumps(td.compile(td.cholesky(A), conditioning="raise")))
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        program(A=BAD)


def test_estimate_is_never_above_the_true_rcond_by_much():
    for condition in (1e3, 1e10, 1e15):
        A = _spd_with_condition(5, condition)
        exact = 1.0 / (np.linalg.norm(A, 1) * np.linalg.norm(np.linalg.inv(A), 1))
        estimate = cholesky_rcond(A, np.linalg.cholesky(A))
        assert exact / 10 <= estimate <= exact * 10   # pocon: within a small factor of the truth
    assert threshold("float64") == np.finfo(np.float64).eps


def test_dask_warns_or_raises_where_the_factor_is_computed():
    pytest.importorskip("dask")
    A = td.matrix("A", "n n")
    L, caught = _caught(lambda: np.asarray(td.evaluate(td.cholesky(A), A=BAD, backend="dask").compute()))
    assert len(caught) == 1 and "cholesky of an ill-conditioned matrix: A" in str(caught[0].message)
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        td.evaluate(td.cholesky(A), A=BAD, backend="dask", conditioning="raise").compute()


def test_jax_warns_eagerly_and_skips_the_check_under_tracing():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    A = td.matrix("A", "n n")
    L, caught = _caught(lambda: td.evaluate(td.cholesky(A), A=jax.numpy.asarray(BAD), backend="jax"))
    assert len(caught) == 1 and np.allclose(np.asarray(L), np.linalg.cholesky(BAD))
    program = td.compile(td.cholesky(A), backend="jax", conditioning="raise")
    traced, caught = _caught(lambda: jax.jit(lambda a: program(A=a))(jax.numpy.asarray(BAD)))
    assert caught == [] and np.allclose(np.asarray(traced), np.linalg.cholesky(BAD))
    not_pd = jax.jit(lambda a: program(A=a))(-jax.numpy.eye(3))   # traced: NaN, never a Python bool
    assert np.isnan(np.asarray(not_pd)).any()
