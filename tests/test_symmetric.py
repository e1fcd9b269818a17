"""Symmetric matrix variables (issue 12.5): S = Sᵀ in the simplifier, the gradient on symmetric
matrices sym(G) = (G + Gᵀ)/2 on every S slot at every order (checked against jax and symmetric
finite differences), refusal of non-symmetric values, and declaration in td.parse and the CLI."""

import contextlib
import io
import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff.cli import main

RNG = np.random.default_rng(5)


def _spd(n, rng=RNG):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


def _sym(G, slots):
    """G symmetrised over each pair of axes in ``slots``."""
    for a, b in slots:
        G = (G + np.swapaxes(G, a, b)) / 2
    return G


def test_the_simplifier_knows_the_transpose_is_itself():
    S = td.matrix("S", "n n", symmetric=True)
    x = td.vector("x", "n")
    assert S.T is S and S.symmetric
    assert td.matrix_notation(td.grad(x @ S @ x, x)) == "2*S*x"
    assert td.matrix_notation(td.hessian(x @ S @ x, x)) == "2*S"
    A = td.matrix("A", "n n")
    assert td.matrix_notation(td.grad(x @ A @ x, x)) != "2*A*x"   # a plain square matrix is not symmetric


def _cases():
    S = td.matrix("S", "n n", symmetric=True)
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    return S, A, x, [
        (x @ S @ x, lambda S, A, x: x @ S @ x),
        (td.trace(A @ S), lambda S, A, x: jnp_trace(A @ S)),
        (td.logdet(S) - td.trace(S @ A), lambda S, A, x: jnp_logdet(S) - jnp_trace(S @ A)),
        (td.sum(td.tanh(S @ A @ S)), lambda S, A, x: jnp_sum(jnp_tanh(S @ A @ S))),
        (x @ td.inv(S) @ A @ x, lambda S, A, x: x @ jnp_inv(S) @ A @ x),
    ]


try:
    import jax
    import jax.numpy as jnp
except ImportError:   # the tests that compare with jax are skipped; the others run
    jax = jnp = None
needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")


def jnp_trace(A):
    return jnp.trace(A)


def jnp_sum(A):
    return jnp.sum(A)


def jnp_tanh(A):
    return jnp.tanh(A)


def jnp_inv(A):
    return jnp.linalg.inv(A)


def jnp_logdet(S):
    return jnp.linalg.slogdet(S)[1]


@needs_jax
@pytest.mark.parametrize("case", range(5))
def test_gradient_and_hessian_are_symmetrised_jax_derivatives(case):
    S, A, x, cases = _cases()
    f, twin = cases[case]
    values = dict(S=_spd(3), A=RNG.standard_normal((3, 3)), x=RNG.standard_normal(3))
    with jax.enable_x64(True):
        args = [jnp.asarray(values[k]) for k in "SAx"]
        G = np.asarray(jax.grad(twin)(*args))
        H = np.asarray(jax.hessian(twin)(*args))
        T = np.asarray(jax.jacfwd(jax.hessian(twin))(*args))
    np.testing.assert_allclose(td.evaluate(td.grad(f, S), values), (G + G.T) / 2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.hessian(f, S), values), _sym(H, [(0, 1), (2, 3)]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(td.evaluate(td.diff(f, S, order=3), values), _sym(T, [(0, 1), (2, 3), (4, 5)]),
                               rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_check_perturbs_symmetrically(order):
    S, A, x, cases = _cases()
    for f, _ in cases:
        assert td.check(f, S, order=order).max_rel_error < 1e-6


def test_the_gradient_is_the_one_of_the_directional_derivative_along_symmetric_directions():
    # f(S + εE) = f(S) + ε⟨∇f, E⟩ + O(ε²) for every symmetric E: the defining property (docs)
    S, A, x, cases = _cases()
    values = dict(S=_spd(4), A=RNG.standard_normal((4, 4)), x=RNG.standard_normal(4))
    f = td.logdet(S) + x @ S @ A @ S @ x
    program = td.compile(f)
    G = td.evaluate(td.grad(f, S), values)
    P = td.matrix("P", "n n")   # the same function of a plain matrix: its unconstrained gradient
    Gu = td.evaluate(td.grad(td.logdet(P) + x @ P @ A @ P @ x, P), dict(values, P=values["S"]))
    np.testing.assert_allclose(G, (Gu + Gu.T) / 2, rtol=1e-12)
    cookbook = Gu + Gu.T - np.diag(np.diag(Gu))   # 2·sym(G) − sym(G)∘I
    eps = 1e-6
    for _ in range(5):
        E = RNG.standard_normal((4, 4))
        E = E + E.T
        numeric = (program(values, S=values["S"] + eps * E) - program(values, S=values["S"] - eps * E)) / (2 * eps)
        assert abs(numeric - np.sum(G * E)) < 1e-6 * max(1.0, abs(numeric))
        # the Matrix Cookbook's 2G − G∘I (its derivative "with respect to a symmetric matrix") does not
        # satisfy it: it counts each off-diagonal pair twice
        assert abs(np.sum(cookbook * E) - numeric) > 1e-3


def test_a_value_that_is_not_symmetric_is_refused_naming_the_symbol():
    S = td.matrix("Sigma", "n n", symmetric=True)
    x = td.vector("x", "n")
    f = x @ S @ x
    value = _spd(3)
    value[0, 2] += 0.01
    with pytest.raises(td.EvaluationError, match="'Sigma'.*not symmetric"):
        td.evaluate(f, Sigma=value, x=np.ones(3))
    with pytest.raises(td.EvaluationError, match="'Sigma'.*\\(0, 2\\)"):
        td.evaluate(f, Sigma=value, x=np.ones(3))
    # a value with NaN entries is not checked: its result is NaN quietly, as everywhere else
    value[1, 1] = np.nan
    assert np.isnan(td.evaluate(f, Sigma=value, x=np.ones(3)))
    # rounding, as from a product XᵀX, is accepted
    X = RNG.standard_normal((50, 3)) * 1e3
    gram = X.T @ X
    gram[0, 1] = np.nextafter(gram[0, 1], np.inf)
    assert np.isfinite(td.evaluate(f, Sigma=gram, x=np.ones(3)))
    assert np.isfinite(td.evaluate(f, Sigma=gram.astype(np.float32) + 1e-3 * np.eye(3), x=np.ones(3)))


@needs_jax
def test_other_backends_refuse_it_too_and_lazy_ones_evaluate():
    S, x = td.matrix("S", "n n", symmetric=True), td.vector("x", "n")
    bad = _spd(3)
    bad[1, 0] += 1.0
    with jax.enable_x64(True):
        with pytest.raises(td.EvaluationError, match="'S'"):
            td.evaluate(x @ S @ x, S=jnp.asarray(bad), x=jnp.ones(3), backend="jax")
        good = _spd(3)
        np.testing.assert_allclose(td.evaluate(x @ S @ x, S=jnp.asarray(good), x=jnp.ones(3), backend="jax"),
                                   good.sum(), rtol=1e-12)
        # under jax.jit the value is traced and cannot be inspected: it runs
        program = td.compile(x @ S @ x, backend="jax")
        assert np.isclose(jax.jit(lambda S, x: program(S=S, x=x))(jnp.asarray(good), jnp.ones(3)), good.sum())


def test_bad_declarations_are_clear_errors():
    with pytest.raises(td.ShapeError, match="'S2'.*\\(n, m\\)"):
        td.matrix("S2", "n m", symmetric=True)
    with pytest.raises(td.ShapeError, match="'s3'"):
        td.tensor("s3", "n", symmetric=True)
    with pytest.raises(td.ShapeError, match="'S4'"):
        td.tensor("S4", "n n n", symmetric=True)
    with pytest.raises(td.ShapeError, match="symmetric="):
        td.matrix("S5", "n n", symmetric="yes")


def test_symmetric_and_plain_symbols_of_one_name_are_different_and_cannot_mix():
    S = td.matrix("Q", "n n", symmetric=True)
    P = td.matrix("Q", "n n")
    assert S is not P and td.matrix("Q", "n n", symmetric=True) is S and td.matrix("Q", "n n") is P
    with pytest.raises(td.ShapeError, match="'Q'.*symmetric"):
        S + P
    with pytest.raises(td.ShapeError, match="'Q'"):
        td.grad(td.trace(P), S)


def test_pickling_keeps_the_kind():
    S = td.matrix("S", "n n", symmetric=True)
    f = td.logdet(S + td.eye("n"))
    assert pickle.loads(pickle.dumps(S)) is S
    assert pickle.loads(pickle.dumps(f)) is f


def test_parse_declares_symmetric_matrices():
    x = td.vector("x", "n")
    for f in (td.parse("x'*S*x", symmetric="S"), td.parse("x'*S*x", symmetric=["S"], S="n n"),
              td.parse("x'*S*x", S=td.matrix("S", "n n", symmetric=True)),
              td.parse("x'*S*x", symbols=[td.matrix("S", "n n", symmetric=True)])):
        assert td.matrix_notation(td.grad(f, x)) == "2*S*x"
    # a lower-case name declared symmetric is a square matrix too
    f = td.parse("x'*s*x", symmetric="s")
    assert td.matrix_notation(td.grad(f, x)) == "2*s*x"
    with pytest.raises(td.ShapeError, match="'S'.*\\(n, m\\)"):
        td.parse("tr(S)", symmetric="S", S="n m")
    with pytest.raises(td.ShapeError, match="symmetric="):
        td.parse("tr(S)", symmetric=3)


def test_cli_symmetric():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["x'*S*x", "--wrt", "x", "--symmetric", "S"]) == 0
        assert main(["logdet(S) - tr(S*C)", "--wrt", "S", "--symmetric", "S", "--check"]) == 0
    first_dims, *lines = out.getvalue().splitlines()
    assert first_dims == "# x: (n), S: (n, n) symmetric"
    lines.remove("# S: (n, n) symmetric, C: (n, n)")
    assert lines[0] == "2*S*x"
    assert "inv(S)" in lines[1] and "0.5*C" in lines[1]
    error = float(lines[2].split("max rel error")[1])
    assert error < 1e-6
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["tr(S)", "--wrt", "S", "--symmetric", "S", "--dims", "S=n m"]) == 2
    assert "'S'" in err.getvalue()


@needs_jax
def test_blocks_of_several_variables_with_a_symmetric_one():
    S, x = td.matrix("S", "n n", symmetric=True), td.vector("x", "n")
    f = td.sum(td.tanh(S @ x))
    values = dict(S=_spd(3), x=RNG.standard_normal(3))
    H = td.evaluate(td.hessian(f, [S, x]), values)
    with jax.enable_x64(True):
        Hj = jax.hessian(lambda S, x: jnp.sum(jnp.tanh(S @ x)), argnums=(0, 1))(
            jnp.asarray(values["S"]), jnp.asarray(values["x"]))
    np.testing.assert_allclose(H[0][0], _sym(np.asarray(Hj[0][0]), [(0, 1), (2, 3)]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H[0][1], _sym(np.asarray(Hj[0][1]), [(0, 1)]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H[1][0], _sym(np.asarray(Hj[1][0]), [(1, 2)]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H[1][1], Hj[1][1], rtol=1e-9, atol=1e-12)
