"""A sum larger than the product reading it is distributed over the product (sumdistribution.py),
and common factors build no such sum (factoring.py): the larger sum is never built. Batch
normalisation's gradient and Hessian-vector product were planned with an n×p×n×p (and
n×p×n×p×n×p) intermediate, an attention layer's HVP with an n×p×p×n one; values against finite
differences and jax, the plan's price, kernels against the twin."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.expr import Add, Einsum, topological
from tensordiff.passes import run_passes
from tensordiff.sumdistribution import MAX_DISTRIBUTED_PRODUCTS, distribute_sums
from tensordiff.testing import numeric_diff

from helpers import assert_identical


def _batch_norm():
    X, g, Wt, U = td.matrix("X", "n p"), td.vector("g", "p"), td.matrix("Wt", "n p"), td.matrix("U", "n p")
    C = X - td.mean(X, axis=0)
    f = td.sum(Wt * td.tanh(C / td.sqrt(td.mean(C ** 2, axis=0) + 1e-3) * g))
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((6, 3)), g=rng.uniform(0.5, 1.5, 3), Wt=rng.standard_normal((6, 3)),
                  U=rng.standard_normal((6, 3)))
    return f, X, U, values


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _the_twin_agrees(compute, got):
    """``compute()`` on the numpy twin (a program compiled afresh binds to it) equals ``got`` bit for bit."""
    kernels.use_compiled(False)
    try:
        assert_identical(compute(), got)
    finally:
        kernels.use_compiled(True)


def _larger_sums_read(outputs):
    """(sum's axes, product's axes) for each product reading a sum with more axes than its result."""
    return [(len(op.shape), len(node.out)) for node in topological(list(outputs)) if isinstance(node, Einsum)
            for op in node.operands if isinstance(op, Add) and len(op.shape) > len(node.out)]


def test_batch_norm_gradient_and_hvp_are_planned_without_a_larger_sum():
    f, X, U, _ = _batch_norm()
    gradient = td.grad(f, X)
    hvp = td.diff(td.sum(gradient * U), X)
    assert _larger_sums_read([gradient, hvp])          # as derived: order-4 and order-6 sums
    planned, _ = run_passes([gradient, hvp])
    assert not [pair for pair in _larger_sums_read(planned) if pair[0] > 2]   # only group sums of n×p remain
    for expr in (gradient, hvp):   # was 74.5 GiB and 7,280 TiB at n = 1000, p = 100
        assert td.cost(expr, n=1000, p=100).peak_bytes < 16 * 2 ** 20


def test_batch_norm_values_against_finite_differences_and_the_twin():
    f, X, U, values = _batch_norm()
    gradient = td.grad(f, X)
    hvp = td.diff(td.sum(gradient * U), X)
    got = td.compile([gradient, hvp])(**values)
    np.testing.assert_allclose(got[0], numeric_diff(f, X, values), rtol=1e-6, atol=1e-8)
    want_hvp = np.einsum("ijkl,kl->ij", numeric_diff(gradient, X, values), values["U"])
    np.testing.assert_allclose(got[1], want_hvp, rtol=1e-6, atol=1e-8)
    _the_twin_agrees(lambda: td.compile([gradient, hvp])(**values), got)


def test_batch_norm_against_jax():
    jax, jnp = _jax()
    f, X, U, values = _batch_norm()

    def loss(x):
        c = x - jnp.mean(x, axis=0)
        return jnp.sum(values["Wt"] * jnp.tanh(c / jnp.sqrt(jnp.mean(c ** 2, axis=0) + 1e-3) * values["g"]))

    gradient = td.grad(f, X)
    hvp = td.diff(td.sum(gradient * U), X)
    got = td.compile([gradient, hvp])(**values)
    x, u = jnp.asarray(values["X"]), jnp.asarray(values["U"])
    np.testing.assert_allclose(got[0], jax.grad(loss)(x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got[1], jax.jvp(jax.grad(loss), (x,), (u,))[1], rtol=1e-10, atol=1e-12)


def test_a_product_reading_a_larger_sum_becomes_a_sum_of_products():
    A, B, v = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("v", "n")
    product = td.einsum("ijkl,l->ij", td.outer(A, B) + td.outer(B, A), v)
    (distributed,) = distribute_sums([product])
    assert isinstance(distributed, Add) and not _larger_sums_read([distributed])
    rng = np.random.default_rng(1)
    a, b, w = rng.standard_normal((4, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    want = np.einsum("ijkl,l->ij", np.multiply.outer(a, b) + np.multiply.outer(b, a), w)
    np.testing.assert_allclose(td.evaluate(product, A=a, B=b, v=w), want, rtol=1e-12)


def test_sums_of_lower_order_or_of_many_terms_are_read_as_they_are():
    A, B, v = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("v", "n")
    same_order = (A + B) @ A                               # the sum has no more axes than the product
    assert distribute_sums([same_order]) == [same_order]
    many = td.outer(td.matrix("M0", "n n"), td.matrix("N0", "n n"))
    for k in range(1, MAX_DISTRIBUTED_PRODUCTS + 1):
        many = many + td.outer(td.matrix(f"M{k}", "n n"), td.matrix(f"N{k}", "n n"))
    assert isinstance(many, Add) and len(many.terms) == MAX_DISTRIBUTED_PRODUCTS + 1
    wide = td.einsum("ijkl,l->ij", many, v)
    assert distribute_sums([wide]) == [wide]


def test_a_sum_no_larger_than_another_operand_is_added_first():
    # tr(K⁻¹ dK): splitting dK over its terms would round a float32 GP derivative differently
    K, A, B = td.matrix("K", "n n"), td.matrix("A", "n n"), td.matrix("B", "n n")
    product = td.einsum("ij,ji->", td.inv(K), A @ B.T + B @ A.T)
    assert distribute_sums([product]) == [product]
    T = td.tensor("T", "n n n n")
    wide = td.einsum("ijkl,ijkl->ij", td.outer(A, B) + td.outer(B, A), T)   # T is as large as the sum
    assert distribute_sums([wide]) == [wide]


def test_a_product_of_two_larger_sums_distributes_both():
    A, B, C, v = td.matrix("A", "n n"), td.matrix("B", "n n"), td.matrix("C", "n n"), td.matrix("V", "n n")
    left, right = td.outer(A, B) + td.outer(B, A), td.outer(B, C) - td.outer(C, A)
    product = td.einsum("klij,klab,ab->ij", left, right, v)
    (distributed,) = distribute_sums([product])
    assert isinstance(distributed, Add) and len(distributed.terms) == 4 and not _larger_sums_read([distributed])
    rng = np.random.default_rng(2)
    a, b, c, w = (rng.standard_normal((4, 4)) for _ in range(4))
    outer = np.multiply.outer
    want = np.einsum("klij,klab,ab->ij", outer(a, b) + outer(b, a), outer(b, c) - outer(c, a), w)
    np.testing.assert_allclose(td.evaluate(product, A=a, B=b, C=c, V=w), want, rtol=1e-12)


def _attention():
    Q, K, V = td.matrix("Q", "n p"), td.matrix("K", "n p"), td.matrix("V", "n p")
    Wt, U = td.matrix("Wt", "n p"), td.matrix("U", "n p")
    f = td.sum(Wt * (td.softmax(Q @ K.T, axis=1) @ V))
    gradient = td.grad(f, Q)
    hvp = td.diff(td.sum(gradient * U), Q)
    rng = np.random.default_rng(3)
    values = {name: rng.standard_normal((5, 3)) for name in ("Q", "K", "V", "Wt", "U")}
    return f, Q, gradient, hvp, values


def test_attention_hvp_builds_no_sum_larger_than_its_product():
    f, Q, gradient, hvp, values = _attention()
    assert td.cost(hvp, n=1000, p=100).peak_bytes < 64 * 2 ** 20   # was 224 GiB (an n×p×p×n sum)
    got = td.compile(hvp)(**values)
    want = np.einsum("ijkl,kl->ij", numeric_diff(gradient, Q, values), values["U"])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    _the_twin_agrees(lambda: td.compile(hvp)(**values), got)


def test_attention_hvp_against_jax():
    jax, jnp = _jax()
    f, Q, gradient, hvp, values = _attention()

    def loss(q):
        return jnp.sum(values["Wt"] * (jax.nn.softmax(q @ values["K"].T, axis=1) @ values["V"]))

    q, u = jnp.asarray(values["Q"]), jnp.asarray(values["U"])
    got = td.compile(hvp)(**values)
    np.testing.assert_allclose(got, jax.jvp(jax.grad(loss), (q,), (u,))[1], rtol=1e-10, atol=1e-12)
