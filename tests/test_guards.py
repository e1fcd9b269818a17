"""The reliability guards: the memory guard on the peak of a run, conditioning warnings, errors of
user functions and out-of-memory steps that name their cause, and the CLI's --singular/--check."""

import pickle
import re
import tracemalloc
import warnings

import numpy as np
import pytest

import tensordiff as td
from tensordiff import conditioning, memory
from tensordiff.cli import main

RNG = np.random.default_rng(18)


@pytest.fixture(autouse=True)
def _restore_memory_limit():
    yield
    td.set_memory_limit("auto")


def conditioned(n, cond, seed=0, dtype=np.float64):
    """A random n×n matrix with 2-norm condition number ``cond``."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (u @ np.diag(np.logspace(0, -np.log10(cond), n)) @ v).astype(dtype)


def caught_warnings(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function()
    return result, [w for w in caught if issubclass(w.category, td.IllConditionedWarning)]


# ---------------------------------------------------------------- the memory guard

def test_an_intermediate_over_the_limit_is_refused_before_anything_is_allocated():
    u, v = td.vector("u", "n"), td.vector("v", "m")
    values = dict(u=RNG.standard_normal(10 ** 5), v=RNG.standard_normal(10 ** 5))
    tracemalloc.start()
    try:
        with pytest.raises(td.EvaluationError) as info:
            td.evaluate(td.sum(td.tanh(td.outer(u, v))), memory_limit=16 * 2 ** 30, **values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 26                  # refused up front, not after allocating the 74.5 GiB outer product
    message = str(info.value)
    # the peak: the outer product, which tanh overwrites in place (inplace.py), read by the sum; the
    # scalar result alone is 8 B
    assert "74.5 GiB" in message and "tanh" in message and "16 GiB" in message
    assert 'backend="dask"' in message and "memory_limit=None" in message
    assert td.cost(td.sum(td.tanh(td.outer(u, v))), n=10 ** 5, m=10 ** 5).peak_bytes > 74 * 2 ** 30


def test_a_broadcast_input_is_priced_as_the_copy_linear_algebra_makes_of_it():
    # np.broadcast_to makes a 7.3 TiB matrix out of one number; LAPACK factors a dense copy of it,
    # which numpy's linalg failed to allocate with an empty MemoryError
    A = td.matrix("A", "n n")
    huge = np.broadcast_to(np.float64(2.0), (10 ** 6, 10 ** 6))
    for expr, name in ((td.logdet(A), "logdet"), (td.det(A), "det"), (td.inv(A), "inv")):
        with pytest.raises(td.EvaluationError, match=rf"would need \d.* TiB .*{name}") as info:
            td.evaluate(expr, A=huge)
        assert not isinstance(info.value, MemoryError)
    # one that fits evaluates as its dense copy does
    small = np.broadcast_to(np.arange(1.0, 6.0), (5, 5)) + 0.0 * np.eye(5)[0]   # zero strides, then dense
    row = np.broadcast_to(np.arange(1.0, 6.0)[:, None], (5, 5))                 # zero strides, singular
    assert td.evaluate(td.det(A), A=small) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(td.EvaluationError, match="logdet of a singular matrix: A"):
        td.evaluate(td.logdet(A), A=row)
    assert td.evaluate(td.logdet(A), A=row, singular="nan") == -np.inf


def test_an_out_of_memory_step_is_an_evaluation_error_naming_the_step():
    A = td.matrix("A", "n n")
    huge = np.broadcast_to(np.float64(2.0), (10 ** 6, 10 ** 6))
    for expr, step in ((td.logdet(A), "(logdet)"), (td.tanh(A), "(elementwise tanh)")):
        for policy in ("warn", "ignore"):   # "ignore" runs numpy's own slogdet, whose MemoryError is empty
            with pytest.raises(td.EvaluationError) as info:
                td.evaluate(expr, A=huge, memory_limit=None, conditioning=policy)
            message = str(info.value)
            assert message.startswith("out of memory in step %1 " + step) and "TiB at its peak" in message
            assert isinstance(info.value.__cause__, MemoryError)
            assert re.search(r": [A-Za-z]", message)   # a reason, never an empty one


PROGRAMS = {
    "product": lambda: (td.matrix("A", "n k") @ td.matrix("B", "k m"), dict(n=300, k=200, m=100)),
    "outer-tanh-sum": lambda: (td.sum(td.tanh(td.outer(td.vector("u", "n"), td.vector("v", "m")))),
                               dict(n=500, m=400)),
    "chain of functions": lambda: (td.sum(td.exp(td.sin(td.matrix("A", "n k")) * 2.0) @ td.vector("x", "k")),
                                   dict(n=400, k=300)),
    "jacobian of a layer": lambda: (td.diff(td.sigmoid(td.matrix("W", "n k") @ td.vector("x", "k")),
                                            td.matrix("W", "n k")), dict(n=60, k=40)),
    "tikhonov jacobian": lambda: (td.diff(td.inv(td.matrix("X", "n p").T @ td.matrix("X", "n p")
                                                 + td.scalar("lam") * td.eye("p"))
                                          @ td.matrix("X", "n p").T @ td.vector("y", "n"), td.matrix("X", "n p")),
                                  dict(n=300, p=20)),
    # LAPACK factors a copy (scipy's getrf, traced); numpy's inv allocates its workspace untraced
    "logdet of a gram matrix": lambda: (td.logdet(td.matrix("X", "n p").T @ td.matrix("X", "n p") + td.eye("p")),
                                        dict(n=400, p=300)),
    "solve": lambda: (td.solve(td.matrix("S", "p p"), td.matrix("B", "p k")), dict(p=300, k=200)),
    "gradient of a logdet": lambda: (td.grad(td.logdet(td.matrix("X", "n p").T @ td.matrix("X", "n p")
                                                       + td.eye("p")), td.matrix("X", "n p")), dict(n=400, p=300)),
    "hessian of a quadratic form": lambda: (td.hessian(td.vector("x", "n") @ td.matrix("S", "n n")
                                                       @ td.vector("x", "n"), td.vector("x", "n")), dict(n=500)),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_peak_estimate_matches_what_evaluation_allocates(name):
    expr, sizes = PROGRAMS[name]()
    program = td.compile(expr)
    symbols = program.symbols
    values = {s: RNG.standard_normal(tuple(sizes[d] for d in dims)) for s, dims in symbols.items()}
    predicted = td.cost(expr, **sizes)
    new = predicted.peak_bytes - predicted.input_bytes
    program(**values)                      # the first call fills caches (plans, imports)
    tracemalloc.start()
    program(**values)
    measured = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the estimate is never below what numpy allocates, and not far above it
    assert measured <= 1.1 * new + 2 ** 16, (measured, new)
    assert new <= 2.5 * measured + 2 ** 16, (measured, new)


def test_the_guard_passes_what_fits_and_refuses_one_byte_less():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    H = td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X, order=2)
    values = dict(X=RNG.standard_normal((20, 4)), y=RNG.standard_normal(20), lam=0.5)
    report = td.cost(H, n=20, p=4)
    need = report.peak_bytes - report.input_bytes
    assert need > report.bytes               # the intermediates count
    assert td.evaluate(H, memory_limit=need, **values).shape == (4, 20, 4, 20, 4)
    with pytest.raises(td.EvaluationError, match=f"would need {re.escape(memory.format_bytes(need))}"):
        td.evaluate(H, memory_limit=need - 1, **values)
    td.set_memory_limit(need - 1)
    assert "over the memory limit" in repr(td.cost(H, n=20, p=4))


def test_small_evaluations_do_not_read_the_available_memory(monkeypatch):
    def unreadable():
        raise AssertionError("read /proc/meminfo for a small evaluation")
    monkeypatch.setattr(memory, "available_memory", unreadable)
    A = td.matrix("A", "n n")
    assert td.evaluate(td.inv(A) @ A, A=np.eye(30) * 2).shape == (30, 30)


# ---------------------------------------------------------------- conditioning

MATRIX_FUNCTIONS = {
    "inv": lambda A, b: td.inv(A),
    "solve": lambda A, b: td.solve(A, b),
    "inv applied": lambda A, b: td.inv(A) @ b,
    "det": lambda A, b: td.det(A),
    "logdet": lambda A, b: td.logdet(A),
}


@pytest.mark.parametrize("name", sorted(MATRIX_FUNCTIONS))
def test_an_ill_conditioned_matrix_warns_with_the_subexpression_and_the_estimate(name):
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    expr = MATRIX_FUNCTIONS[name](A, b)
    a = conditioned(8, 1e17, seed=3)
    a[:, 0] = a[:, 1] * (1 + 1e-15)               # no exact zero pivot, but singular to working precision
    _, caught = caught_warnings(lambda: td.evaluate(expr, A=a, b=np.ones(8)))
    assert len(caught) == 1 and issubclass(caught[0].category, RuntimeWarning)
    message = str(caught[0].message)
    estimate = float(re.search(r"reciprocal condition estimate of (\S+),", message).group(1))
    true_rcond = 1 / np.linalg.cond(a, 1)
    assert estimate < 2.2e-16 and estimate / 100 < true_rcond < estimate * 100
    assert "A[i,j]" in message and "2.22e-16" in message and "float64" in message


@pytest.mark.parametrize("name", sorted(MATRIX_FUNCTIONS))
def test_well_conditioned_matrices_do_not_warn_and_values_are_numpys(name):
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    expr = MATRIX_FUNCTIONS[name](A, b)
    for cond in (1.0, 1e6, 1e12):
        a, rhs = conditioned(7, cond, seed=int(cond) % 97), RNG.standard_normal(7)
        value, caught = caught_warnings(lambda: td.evaluate(expr, A=a, b=rhs))
        assert not caught
        reference = {"inv": lambda: np.linalg.inv(a), "det": lambda: np.linalg.det(a),
                     "logdet": lambda: np.linalg.slogdet(a)[1]}.get(name, lambda: np.linalg.solve(a, rhs))()
        np.testing.assert_allclose(value, reference, rtol=1e-14 * cond, atol=1e-300)


def test_a_compound_matrix_is_named_by_its_subexpression():
    X = td.matrix("X", "n p")
    x = np.random.default_rng(0).standard_normal((5, 3))   # a fixed draw: others give an exact zero pivot
    x[:, 2] = x[:, 1] * (1 + 1e-12)                          # two columns equal to working precision
    _, caught = caught_warnings(lambda: td.evaluate(td.logdet(X.T @ X), X=x))
    assert len(caught) == 1 and "logdet of an ill-conditioned matrix: Σ_k X[k,i] X[k,j]" in str(caught[0].message)


def test_the_threshold_is_the_machine_epsilon_of_the_dtype():
    A = td.matrix("A", "n n")
    assert conditioning.threshold(np.float64) == np.finfo(np.float64).eps
    assert conditioning.threshold(np.float32) == np.finfo(np.float32).eps
    a32 = conditioned(6, 1e9, dtype=np.float32)
    _, caught = caught_warnings(lambda: td.evaluate(td.inv(A), A=a32))
    assert len(caught) == 1 and "float32" in str(caught[0].message) and "1.19e-07" in str(caught[0].message)
    _, caught = caught_warnings(lambda: td.evaluate(td.inv(A), A=conditioned(6, 1e9)))   # fine in float64
    assert not caught


def test_conditioning_policies_warn_raise_or_ignore():
    A = td.matrix("A", "n n")
    a = conditioned(6, 1e18, seed=1)
    a[:, 0] = a[:, 1] * (1 + 1e-15)
    with pytest.raises(td.EvaluationError, match=r"inv of an ill-conditioned matrix: A\[i,j\].*lets it through"):
        td.evaluate(td.inv(A), A=a, conditioning="raise")
    value, caught = caught_warnings(lambda: td.evaluate(td.inv(A), A=a, conditioning="ignore"))
    assert not caught
    np.testing.assert_array_equal(value, np.linalg.inv(a))
    with pytest.raises(td.EvaluationError, match="conditioning must be one of 'warn', 'ignore', 'raise'"):
        td.compile(td.inv(A), conditioning="loud")
    program = pickle.loads(pickle.dumps(td.compile(td.inv(A), conditioning="raise")))
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        program(A=a)
    with warnings.catch_warnings():
        warnings.simplefilter("error", td.IllConditionedWarning)   # a warning can be turned into an error too
        with pytest.raises(td.IllConditionedWarning):
            td.evaluate(td.det(A), A=a)


def test_without_scipy_inv_and_solve_still_warn(monkeypatch):
    monkeypatch.setattr(conditioning, "lapack", lambda dtype: None)
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    a = conditioned(9, 1e18, seed=2)
    a[:, 0] = a[:, 1] * (1 + 1e-15)
    for expr in (td.inv(A), td.solve(A, b)):
        value, caught = caught_warnings(lambda: td.evaluate(expr, A=a, b=np.ones(9)))
        assert len(caught) == 1
    well = conditioned(9, 100.0)
    value, caught = caught_warnings(lambda: td.evaluate(td.solve(A, b), A=well, b=np.arange(9.0)))
    assert not caught
    np.testing.assert_allclose(value, np.linalg.solve(well, np.arange(9.0)), rtol=1e-12)


def test_the_probe_estimate_is_a_lower_bound_of_the_inverse_norm():
    for seed in range(20):
        a = conditioned(12, 10.0 ** (seed % 10), seed=seed)
        probes = conditioning.probe_columns(12)
        estimate = float(conditioning.rcond_from_probes(a, np.linalg.solve(a, probes), probes))
        true_rcond = 1 / np.linalg.cond(a, 1)
        assert true_rcond * (1 - 1e-9) <= estimate <= 100 * true_rcond


def test_the_cholesky_hook_estimates_from_the_factor(monkeypatch):
    spd = conditioned(8, 1e5, seed=4)
    spd = spd @ spd.T
    true_rcond = 1 / np.linalg.cond(spd, 1)
    estimate = float(conditioning.cholesky_rcond(spd, np.linalg.cholesky(spd)))
    assert estimate / 10 < true_rcond < estimate * 10
    monkeypatch.setattr(conditioning, "lapack", lambda dtype: None)
    bound = float(conditioning.cholesky_rcond(spd, np.linalg.cholesky(spd)))
    assert bound >= 1 / np.linalg.cond(spd, 2) * (1 - 1e-6)   # never warns falsely


def test_dask_checks_in_its_tasks():
    pytest.importorskip("dask.array")
    A = td.matrix("A", "n n")
    a = conditioned(6, 1e18, seed=5)
    a[:, 0] = a[:, 1] * (1 + 1e-15)
    _, caught = caught_warnings(lambda: td.evaluate(td.logdet(A), A=a, backend="dask").compute(scheduler="sync"))
    assert len(caught) == 1
    with pytest.raises(td.EvaluationError, match="ill-conditioned"):
        td.evaluate(td.inv(A), A=a, backend="dask", conditioning="raise").compute(scheduler="sync")


def test_jax_checks_concrete_values_and_skips_traced_ones():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    a = conditioned(6, 1e18, seed=6)
    a[:, 0] = a[:, 1] * (1 + 1e-15)
    a = a.astype(np.float32)
    for expr in (td.inv(A), td.solve(A, b)):
        _, caught = caught_warnings(lambda: td.evaluate(expr, A=jnp.asarray(a), b=jnp.ones(6), backend="jax"))
        assert len(caught) == 1

    @jax.jit
    def traced(m):   # no Python bool on a tracer: the check is skipped under tracing
        inverse = jnp.linalg.inv(m)
        conditioning.check_rcond(conditioning.rcond_from_inverse(m, inverse), m.dtype, "inv", "A", "raise")
        return inverse
    assert traced(jnp.eye(3)).shape == (3, 3)


# ---------------------------------------------------------------- user functions

def test_a_failing_user_function_is_named_with_its_subexpression_and_chained():
    x = td.vector("x", "n")
    h = td.elementwise("hfail")
    expr = td.sum(h(2 * x))

    def broken(v):
        raise ValueError("domain error in my code")
    with pytest.raises(td.EvaluationError, match=r"function hfail raised ValueError: domain error in my code "
                                                 r"\(evaluating hfail\(2 x\[i\]\)\)") as info:
        td.evaluate(expr, x=np.ones(3), functions={"hfail": broken})
    assert isinstance(info.value.__cause__, ValueError)
    g = td.elementwise("gfail", np.sin, lambda v: 1 / 0)
    with pytest.raises(td.EvaluationError, match=r"function gfail′ raised ZeroDivisionError.*evaluating gfail′\(x\[i\]\)") as info:
        td.evaluate(td.grad(td.sum(g(x)), x), x=np.ones(3))
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_failing_user_function_under_dask_is_named_too():
    pytest.importorskip("dask.array")
    x = td.vector("x", "n")
    k = td.elementwise("kfail", lambda v: np.log(v.astype(object)), lambda v: 1 / v)
    with pytest.raises(td.EvaluationError, match=r"function kfail raised") as info:
        td.evaluate(td.sum(k(x)), x=np.ones(4), backend="dask").compute(scheduler="sync")
    assert info.value.__cause__ is not None


# ---------------------------------------------------------------- the command line

def test_cli_singular_option_and_check_sizes(capsys):
    assert main(["logdet(x*x')", "--wrt", "x", "--check"]) == 2
    assert "pass --singular nan for NaN/-inf" in capsys.readouterr().err
    assert main(["logdet(x*x')", "--wrt", "x", "--check", "--singular", "nan", "--conditioning", "ignore"]) == 0
    out = capsys.readouterr().out
    assert "finite-difference check at n=2 on random values" in out
    assert main(["inv(X'*X + lam*eye)*X'*y", "--wrt", "X", "--check"]) == 0
    assert re.search(r"check at n=\d, p=\d on random values \(shape \(p, n, p\)\): max abs error", capsys.readouterr().out)
    assert main(["functions*x'*x", "--wrt", "x", "--check"]) == 0   # a symbol named like an evaluate keyword
    assert "max rel error" in capsys.readouterr().out
    assert main(["x'*A*x", "--wrt", "x", "--singular", "maybe"]) == 2
    assert "invalid choice: 'maybe' (choose from" in capsys.readouterr().err


def test_cli_conditioning_option(capsys, monkeypatch):
    monkeypatch.setattr(conditioning, "threshold", lambda dtype: 2.0)   # every matrix (rcond ≤ 1) is "ill-conditioned"
    expr = "logdet(x*x' + eye)"
    assert main([expr, "--wrt", "x", "--check", "--conditioning", "raise"]) == 2
    assert "ill-conditioned matrix" in capsys.readouterr().err
    assert main([expr, "--wrt", "x", "--check"]) == 0
    err = capsys.readouterr().err
    assert err.count("tensordiff: warning: logdet of an ill-conditioned matrix") == 1   # once, not per call
    assert "--conditioning ignore silences this" in err
    assert main([expr, "--wrt", "x", "--check", "--conditioning", "ignore"]) == 0
    assert not capsys.readouterr().err
