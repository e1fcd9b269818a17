"""Property-based: hypothesis draws random expressions from the selfcheck generator and checks every property.

The expressions are ``tensordiff.randexpr.ExpressionGenerator``'s, with each structural choice a
hypothesis draw, so a failure shrinks towards a small expression. The properties are those of
``python -m tensordiff.selfcheck`` (value, derivatives vs finite differences to second order,
parse round trip, generated code, simplifier invariants, pickling); jax is compared on a few
examples only, since it compiles a program per example. Then the expressions the campaign
found wrong, fixed, and kept here so they stay fixed.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensordiff as td
from tensordiff.selfcheck import PROPERTIES, check_example

PROFILE = dict(deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WITHOUT_JAX = [p for p in PROPERTIES if p != "vs jax"]


def _failures(results):
    return {name: text for name, text in results.items() if text}


@settings(max_examples=200, **PROFILE)
@given(st.data(), st.integers(0, 2 ** 16))
def test_random_expressions_keep_every_property(data, seed):
    choose = lambda n: data.draw(st.integers(0, n - 1))  # noqa: E731
    results, example = check_example(seed, max_order=2, properties=WITHOUT_JAX, choose=choose)
    failures = _failures(results)
    context = td.index_notation(example.expr) if example is not None else "(no expression built)"
    assert not failures, f"{context}\n" + "\n".join(f"{k}: {v}" for k, v in failures.items())


@settings(max_examples=25, **PROFILE)
@given(st.integers(0, 2 ** 16))
def test_third_derivatives_on_small_symbols(seed):
    results, _ = check_example(seed, max_order=3, properties=["d3 vs FD"])
    assert not _failures(results)


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_derivatives_agree_with_nested_jax_jacfwd(seed):
    pytest.importorskip("jax")
    results, example = check_example(seed, max_order=2, properties=["vs jax"])
    assert results["vs jax"] is None, results["vs jax"] or "jax was not compared"


def test_the_properties_apply():
    """Guards the checks themselves: over some examples each property is tried, not always skipped."""
    tried = {name: 0 for name in WITHOUT_JAX}
    for seed in range(25):
        results, _ = check_example(seed, max_order=3, properties=WITHOUT_JAX)
        for name, result in results.items():
            tried[name] += result is not False
    assert all(count > 0 for count in tried.values()), tried


# ---------------------------------------------------------------- previously failed

def test_scalar_product_among_matrix_factors_reads_back():
    # matrix_notation wrote (u'Nw)·u wᵀ as u*w'*u'*N*w, which reads as ((u*w')*u')*N*w: a shape error;
    # and (u'N|w|)^2 as u'*N*abs(w)^2, taking u'*N*abs(w) for a call
    u, N, w = td.vector("u", "a"), td.matrix("N", "a b"), td.vector("w", "b")
    rng = np.random.default_rng(0)
    values = dict(u=rng.standard_normal(3), N=rng.standard_normal((3, 2)), w=rng.standard_normal(2))
    for e in [(u @ N @ w) * td.outer(u, w), td.diff(td.relu(td.scalar("q")) / ((u @ N @ td.abs(w)) ** 2 + 1), N)]:
        text = td.matrix_notation(e)
        again = td.parse(text)
        np.testing.assert_allclose(td.evaluate(again, q=0.7, **values), td.evaluate(e, q=0.7, **values),
                                   rtol=1e-12, err_msg=text)


def test_generated_numpy_code_lets_numpy_order_a_long_product():
    # generated np.einsum calls over many operands ran as one loop nest over all their indices
    # (a random third derivative took 50 s); numpy now chooses a contraction order
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    e = x @ A @ A @ A @ A @ A @ A @ x
    source = td.codegen(e, target="numpy")
    assert "optimize=True" in source
    namespace = {}
    exec(source, namespace)
    rng = np.random.default_rng(1)
    Av, xv = rng.standard_normal((30, 30)), rng.standard_normal(30)
    np.testing.assert_allclose(namespace["f"](A=Av, x=xv), td.evaluate(e, A=Av, x=xv), rtol=1e-10)


def test_determinant_of_the_identity_folds():
    # r + tanh(det(I)) printed as "r + tanh(det(eye))", which parses back with an identity no symbol
    # sizes, so it could not be evaluated; det(I) = 1 and logdet(I) = 0 whatever the size
    r = td.scalar("r")
    assert td.evaluate(td.det(td.eye("a")), r=0.0) == 1.0 and td.evaluate(td.logdet(td.eye("a")), r=0.0) == 0.0
    f = r + td.tanh(td.det(td.eye("a")))
    assert td.evaluate(td.parse(td.matrix_notation(f)), r=0.5) == pytest.approx(0.5 + np.tanh(1.0))
    assert td.diff(td.det(r * td.eye("a")), r).shape == ()


def test_scalar_factors_of_a_diagonal_term_are_kept():
    # d/dw of -1.5 |w| sum(|w|) printed its second term as -1.5*diag(sign(w)), dropping *sum(abs(w))
    w = td.vector("w", "b")
    d = td.diff(-1.5 * td.abs(w) * td.sum(td.abs(w)), w)
    text = td.matrix_notation(d)
    value = np.array([0.5, -0.7])
    np.testing.assert_allclose(td.evaluate(td.parse(text), w=value), td.evaluate(d, w=value), rtol=1e-12, err_msg=text)


def test_a_summed_product_is_not_split_into_two_sums():
    # d logdet(A A' + I)/dq with A = q + diag(w) N' printed as 2*sum(A)*sum(inv(...)): a product of two
    # sums where the index graph was one chain summed over both ends
    q, w, N = td.scalar("q"), td.vector("w", "b"), td.matrix("N", "a b")
    A = q + td.diag(w) @ N.T
    d = td.diff(td.logdet(A @ A.T + td.eye("b")), q)
    text = td.matrix_notation(d)
    rng = np.random.default_rng(2)
    values = dict(q=0.3, w=rng.standard_normal(2), N=rng.standard_normal((3, 2)))
    np.testing.assert_allclose(td.evaluate(td.parse(text), **values), td.evaluate(d, **values), rtol=1e-10, err_msg=text)


def test_a_broadcast_sum_of_scalars_has_no_matrix_form():
    # d/dr of (relu-free) |r| broadcast into a matrix printed as '-step(r) + sign(r)', a scalar
    r, M = td.scalar("r"), td.matrix("M", "a a")
    d = td.diff(M + (td.abs(r) - td.relu(r)), r)
    assert d.shape == ("a", "a")
    assert td.matrix_notation(d).startswith("no matrix notation")


def test_a_gram_weight_on_some_of_the_summed_indices_is_broadcast():
    # Σ_ab T[a,b,i] T[a,b,j] w[b]: the weight carries b but not a, and its contraction asked numpy
    # for an output index no input had (a bare ValueError; found by selfcheck seed 900034)
    T, w = td.tensor("T", "a b c"), td.vector("w", "b")
    e = td.einsum("abi,abj,b->ij", T, T, w)
    assert "Gram" in repr(td.compile(e))
    rng = np.random.default_rng(0)
    Tv, wv = rng.standard_normal((3, 4, 5)), rng.standard_normal(4)
    np.testing.assert_allclose(td.evaluate(e, T=Tv, w=wv), np.einsum("abi,abj,b->ij", Tv, Tv, wv), rtol=1e-12)
    del T, w, e   # the generator declares its own T and w
    results, _ = check_example(900034, max_order=3, properties=WITHOUT_JAX)
    assert not _failures(results), _failures(results)
