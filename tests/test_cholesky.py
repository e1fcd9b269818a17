"""cholesky: the lower factor, its derivative L·Φ(L⁻¹ dA L⁻ᵀ) of orders 1-3 against finite differences
and jax (which factors the symmetric part, as we do), identities, errors naming the operand."""

import pickle

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(15)


def _spd(n):
    E = RNG.standard_normal((n, n))
    return E @ E.T + n * np.eye(n)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def test_value_is_numpys_lower_factor():
    A = td.matrix("A", "n n")
    Av = _spd(4)
    L = td.evaluate(td.cholesky(A), A=Av)
    assert np.allclose(L, np.linalg.cholesky(Av))
    assert np.allclose(np.triu(L, 1), 0.0)


def test_a_general_matrix_is_factored_through_its_symmetric_part():
    A = td.matrix("A", "n n")
    S = _spd(3)
    K = RNG.standard_normal((3, 3))
    Av = S + (K - K.T)            # symmetric part S
    assert np.allclose(td.evaluate(td.cholesky(A), A=Av), np.linalg.cholesky(S))


def test_derivative_along_symmetric_directions_is_the_textbook_formula():
    A = td.matrix("A", "n n")
    Av = _spd(4)
    L = np.linalg.cholesky(Av)
    E = RNG.standard_normal((4, 4))
    E = E + E.T
    L_inv = np.linalg.inv(L)
    M = L_inv @ E @ L_inv.T
    phi = np.tril(M, -1) + 0.5 * np.diag(np.diag(M))
    got = np.einsum("ijkl,kl->ij", td.evaluate(td.diff(td.cholesky(A), A), A=Av), E)
    assert np.allclose(got, L @ phi)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_match_finite_differences_in_every_direction(order):
    A = td.matrix("A", "n n")
    assert td.check(td.cholesky(A), A, order=order, A=_spd(3)).max_rel_error < 1e-6


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_through_a_gram_matrix(order):
    X = td.matrix("X", "n p")
    f = td.sum(td.cholesky(X.T @ X + td.eye("p")) * td.tril(td.ones("p p")))
    assert td.check(f, X, order=order, X=RNG.standard_normal((4, 3))).max_rel_error < 1e-6


def test_jacobian_and_hessian_match_jax():
    jax, jnp = _jax()
    A = td.matrix("A", "n n")
    Av = _spd(3)
    mine = td.cholesky(A)
    assert np.allclose(td.evaluate(td.diff(mine, A), A=Av), jax.jacfwd(jnp.linalg.cholesky)(Av))
    f = td.sum(td.sin(mine))
    g = lambda a: jnp.sum(jnp.sin(jnp.linalg.cholesky(a)))  # noqa: E731
    assert np.allclose(td.evaluate(td.hessian(f, A), A=Av), jax.hessian(g)(Av))


def test_logdet_through_the_factor_agrees_with_logdet():
    A = td.matrix("A", "n n")
    Av = _spd(4)
    via_factor = 2 * td.sum(td.log(td.diagonal(td.cholesky(A))))
    for order in (0, 1, 2):
        got = td.evaluate(td.diff(via_factor, A, order=order), A=Av)
        want = td.evaluate(td.diff(td.logdet(0.5 * (A + A.T)), A, order=order), A=Av)
        assert np.allclose(got, want), order


def test_a_structurally_symmetric_argument_is_not_symmetrised_again():
    X = td.matrix("X", "n p")
    gram = X.T @ X + td.eye("p")
    assert td.cholesky(gram).arg is gram


def test_not_positive_definite_is_an_evaluation_error_naming_the_matrix():
    A = td.matrix("A", "n n")
    with pytest.raises(td.EvaluationError, match="not positive definite.*A"):
        td.evaluate(td.cholesky(A), A=-np.eye(3))
    X = td.matrix("X", "n p")
    with pytest.raises(td.EvaluationError, match=r"not positive definite.*X"):
        td.evaluate(td.cholesky(X.T @ X), X=np.zeros((2, 3)))


def test_cholesky_of_a_non_square_matrix_is_a_shape_error():
    with pytest.raises(td.ShapeError, match=r"cholesky needs a square matrix.*\(n, p\)"):
        td.cholesky(td.matrix("X", "n p"))


def test_pickle_printing_parse_and_code_targets():
    jax, jnp = _jax()
    A = td.matrix("A", "n n")
    Av = _spd(3)
    for e in (td.cholesky(A), td.diff(td.cholesky(A), A)):
        assert pickle.loads(pickle.dumps(e)) is e
        assert "cholesky" in td.index_notation(e) and td.latex(e)
        want = td.evaluate(e, A=Av)
        for target, convert in (("numpy", np.asarray), ("jax", jnp.asarray)):
            namespace = {}
            exec(td.codegen(e, target=target), namespace)
            assert np.allclose(np.asarray(namespace["f"](convert(Av))), want), target
    text = td.matrix_notation(td.cholesky(A))
    assert np.allclose(td.evaluate(td.parse(text), A=Av), np.linalg.cholesky(Av))


@pytest.mark.parametrize("backend", ["numpy", "dask", "jax", "torch"])
def test_singular_nan_gives_a_nan_factor_instead_of_the_error(backend):
    lib = pytest.importorskip({"numpy": "numpy", "dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    if backend == "jax":
        lib.config.update("jax_enable_x64", True)
    A = td.matrix("A", "n n")
    result = td.evaluate(td.cholesky(A), A=-np.eye(3), backend=backend, singular="nan")
    result = result.compute() if backend == "dask" else np.asarray(result)
    assert np.isnan(result).any()
