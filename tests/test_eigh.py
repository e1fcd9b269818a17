"""td.eigh and td.eigvalsh: numpy's values; derivatives of simple eigenvalues and of the eigenvectors
(in sign-free functions of them) of orders 1-3 against finite differences, and jax's gradient and
Hessian; a general matrix decomposed through its symmetric part; printing, code, backends, the
numpy spellings and the arguments refused."""

import pickle

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(1618)
EA = td.matrix("EA", "en en")
ES = td.matrix("ES", "en en", symmetric=True)
EX = td.matrix("EX", "em en")


def _symmetric(n=4):
    m = RNG.standard_normal((n, n))
    return m + m.T


def _reconstruct(w, V, f):
    """V diag(f(w)) Vᵀ: a matrix function, free of the eigenvectors' signs."""
    return td.einsum("ik,k,jk->ij", V, f(w), V)


def test_values_are_numpys():
    Sv = _symmetric()
    w, V = td.eigh(ES)
    want_w, want_V = np.linalg.eigh(Sv)
    assert np.allclose(td.evaluate(w, ES=Sv), want_w)
    assert np.allclose(np.abs(td.evaluate(V, ES=Sv)), np.abs(want_V))
    assert np.allclose(td.evaluate(_reconstruct(w, V, lambda x: x), ES=Sv), Sv)
    assert td.eigvalsh(ES) is w


def test_a_general_matrix_is_decomposed_through_its_symmetric_part():
    Mv = RNG.standard_normal((4, 4))
    assert np.allclose(td.evaluate(td.eigvalsh(EA), EA=Mv), np.linalg.eigvalsh((Mv + Mv.T) / 2))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_eigenvalue_derivatives_match_finite_differences(order):
    w = td.eigvalsh(EA)
    Mv = RNG.standard_normal((4, 4))
    assert td.check(w, EA, order=order, EA=Mv).max_rel_error < 1e-6


@pytest.mark.parametrize("order", [1, 2])
def test_eigenvector_derivatives_match_finite_differences_in_a_matrix_function(order):
    """expm(S) = V diag(exp w) Vᵀ reads the eigenvectors without their signs."""
    w, V = td.eigh(ES)
    Sv = _symmetric()
    expm = _reconstruct(w, V, td.exp)
    scipy_linalg = pytest.importorskip("scipy.linalg")
    assert np.allclose(td.evaluate(expm, ES=Sv), scipy_linalg.expm(Sv))
    assert td.check(expm, ES, order=order, ES=Sv).max_rel_error < 1e-6


def test_through_a_gram_matrix():
    """The largest eigenvalue of XᵀX (the squared spectral norm) and its top eigenvector's projector."""
    w, V = td.eigh(EX.T @ EX)
    Xv = RNG.standard_normal((6, 4))
    assert np.isclose(td.evaluate(w[-1], EX=Xv), np.linalg.norm(Xv, 2) ** 2)
    for f in (w[-1], td.outer(V[:, -1], V[:, -1])):
        assert td.check(f, EX, order=2, EX=Xv).max_rel_error < 1e-6


def test_gradient_and_hessian_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    w, V = td.eigh(EA)
    f = td.sum(td.sin(w)) + td.sum(_reconstruct(w, V, lambda x: x ** 2) ** 2)

    def g(a):
        ww, vv = jnp.linalg.eigh((a + a.T) / 2)
        return jnp.sum(jnp.sin(ww)) + jnp.sum((vv @ jnp.diag(ww ** 2) @ vv.T) ** 2)
    Mv = RNG.standard_normal((4, 4))
    assert np.allclose(td.evaluate(td.grad(f, EA), EA=Mv), jax.grad(g)(Mv))
    assert np.allclose(td.evaluate(td.hessian(f, EA), EA=Mv), jax.hessian(g)(Mv))


def test_the_largest_eigenvalues_gradient_is_its_eigenvectors_projector():
    w, V = td.eigh(ES)
    Sv = _symmetric()
    gradient = td.evaluate(td.diff(w[-1], ES), ES=Sv)
    v = np.linalg.eigh(Sv)[1][:, -1]
    assert np.allclose(gradient, np.outer(v, v))


def test_numpy_spellings():
    result = np.linalg.eigh(ES)
    assert result.eigenvalues is td.eigh(ES)[0] and result.eigenvectors is td.eigh(ES)[1]
    assert np.linalg.eigvalsh(ES, UPLO="U") is td.eigvalsh(ES)
    with pytest.raises(td.ShapeError, match="UPLO must be 'L' or 'U'"):
        np.linalg.eigh(ES, UPLO="X")


def test_a_non_square_matrix_is_a_shape_error():
    with pytest.raises(td.ShapeError, match=r"eigh needs a square matrix with dims \(d, d\), got shape \(em, en\)"):
        td.eigh(EX)
    with pytest.raises(td.ShapeError, match="eigvalsh needs a square matrix"):
        td.eigvalsh(td.vector("ev", "en"))


def test_pickle_printing_and_code_targets():
    jax = pytest.importorskip("jax")
    w, V = td.eigh(ES)
    e = td.grad(td.sum(_reconstruct(w, V, td.tanh)), ES)
    assert pickle.loads(pickle.dumps(e)) is e
    assert "eigvals(ES)" in str(w) and "eigvecs(ES)" in str(V)
    assert r"\lambda\left(\mathrm{ES}\right)" in td.latex(w)
    Sv = _symmetric()
    want = td.evaluate(e, ES=Sv)
    for target, convert in (("numpy", np.asarray), ("jax", jax.numpy.asarray)):
        namespace = {}
        exec(td.codegen(e, target=target), namespace)
        assert np.allclose(np.asarray(namespace["f"](convert(Sv))), want), target


@pytest.mark.parametrize("backend", ["dask", "jax", "torch"])
def test_backends_agree_with_numpy(backend):
    pytest.importorskip({"dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    w, V = td.eigh(EA)
    Mv = RNG.standard_normal((4, 4))
    for e in (w, _reconstruct(w, V, td.exp), td.hessian(td.sum(td.sin(w)), EA)):
        got = td.evaluate(e, EA=Mv, backend=backend)
        got = got.compute() if backend == "dask" else np.asarray(got)
        assert np.allclose(got, td.evaluate(e, EA=Mv)), backend
