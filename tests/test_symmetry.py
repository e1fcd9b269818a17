"""Slot symmetry of higher derivatives (issue 16 item 1): one term per orbit of slot permutations.

Every derivative built by orbits is checked against finite differences of the order below and,
at orders 3-5, against jax's nested jacfwd; node counts are bounded so that factorial growth
cannot come back unnoticed.
"""

import itertools
import math

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Add, topological
from tensordiff.einsumnodes import transpose
from tensordiff.sumnodes import terms_of
from tensordiff.symmetry import orbit_terms, representative, slot_mean, symmetrize
from tensordiff.testing import numeric_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


def node_count(expr):
    return len(topological([expr]))


def tikhonov():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X


def tikhonov_values(seed=0, n=3, p=2):
    rng = np.random.default_rng(seed)
    return dict(X=rng.standard_normal((n, p)), y=rng.standard_normal(n), lam=0.7)


def jax_tikhonov(values):
    y, lam = jnp.asarray(values["y"]), values["lam"]

    def q(X):
        return jnp.linalg.inv(X.T @ X + lam * jnp.eye(X.shape[1])) @ X.T @ y
    return q


def jax_derivative(f, x, order):
    for _ in range(order):
        f = jax.jacfwd(f)
    return np.asarray(jax.jit(f)(jnp.asarray(x)))   # one compile, not eager dispatch of each operation


def slot_permutations(array, lead, width, count):
    """The array with its slots permuted in every way."""
    for perm in itertools.permutations(range(count)):
        axes = list(range(lead)) + [lead + s * width + w for s in perm for w in range(width)]
        yield np.transpose(array, axes)


@pytest.mark.parametrize("order", [3, 4, 5])
def test_tikhonov_derivatives_match_jax(order):
    q, X = tikhonov()
    values = tikhonov_values(order)
    ours = td.evaluate(td.diff(q, X, order=order), **values)
    theirs = jax_derivative(jax_tikhonov(values), values["X"], order)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= 1e-9 * max(1.0, np.max(np.abs(theirs)))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_tikhonov_derivatives_match_finite_differences_of_the_order_below(order):
    q, X = tikhonov()
    values = tikhonov_values(10 + order)
    ours = td.evaluate(td.diff(q, X, order=order), **values)
    numeric = numeric_diff(td.diff(q, X, order=order - 1), X, values)
    assert np.max(np.abs(ours - numeric)) <= 1e-6 * max(1.0, np.max(np.abs(numeric)))


def test_derivative_is_symmetric_in_its_slots():
    q, X = tikhonov()
    value = td.evaluate(td.diff(q, X, order=3), **tikhonov_values(2))
    for permuted in slot_permutations(value, 1, 2, 3):
        np.testing.assert_allclose(permuted, value, rtol=1e-12, atol=1e-12)


def test_tikhonov_growth_ratio_does_not_grow_with_the_order():
    # factorial growth multiplied the nodes by about the order at each step (110, 992, 11,888, 172,088
    # at orders 3-6); by orbits they grow by a ratio that stays small (the bounds: tests/test_growth.py)
    q, X = tikhonov()
    counts = [node_count(td.diff(q, X, order=k)) for k in range(3, 7)]
    ratios = [b / a for a, b in zip(counts, counts[1:])]
    assert max(ratios) < 3, counts


def test_network_third_derivative_matches_jax():
    W, x, a = td.matrix("W", "h d"), td.vector("x", "d"), td.vector("a", "h")
    f = a @ td.tanh(W @ x) + td.sum(td.exp(0.3 * W) * W)
    rng = np.random.default_rng(5)
    values = dict(W=0.5 * rng.standard_normal((3, 2)), x=rng.standard_normal(2), a=rng.standard_normal(3))

    def g(w):
        return jnp.asarray(values["a"]) @ jnp.tanh(w @ jnp.asarray(values["x"])) + jnp.sum(jnp.exp(0.3 * w) * w)
    for order in (3, 4):
        ours = td.evaluate(td.diff(f, W, order=order), **values)
        np.testing.assert_allclose(ours, jax_derivative(g, values["W"], order), rtol=1e-9, atol=1e-10)


EXPRESSIONS = {
    "logdet": lambda A, x: td.logdet(A.T @ A + td.eye("n")),
    "softmax": lambda A, x: td.softmax(A @ x) @ x,
    "maximum": lambda A, x: td.sum(td.maximum(A @ x, 0.1 * x) ** 3),
    "where": lambda A, x: td.sum(td.where(A @ x > 0, td.exp(A @ x), td.sin(A @ x))),
    "cholesky": lambda A, x: td.sum(td.cholesky(A @ A.T + td.eye("n")) ** 2),
    "det": lambda A, x: td.det(A @ A + 2 * td.eye("n")) * td.sum(A ** 3),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_third_derivatives_by_orbit_match_finite_differences(name):
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    f = EXPRESSIONS[name](A, x)
    rng = np.random.default_rng(7)
    values = dict(A=np.eye(3) + 0.3 * rng.standard_normal((3, 3)), x=rng.standard_normal(3))
    ours = td.evaluate(td.diff(f, A, order=3), **values)
    numeric = numeric_diff(td.diff(f, A, order=2), A, values)
    assert np.max(np.abs(ours - numeric)) <= 1e-5 * max(1.0, np.max(np.abs(numeric)))
    for permuted in slot_permutations(ours, 0, 2, 3):
        np.testing.assert_allclose(permuted, ours, rtol=1e-9, atol=1e-9)


def test_symmetric_symbol_third_derivative_matches_finite_differences():
    S, b = td.matrix("S", "n n", symmetric=True), td.vector("b", "n")
    f = b @ td.inv(S) @ b + td.logdet(S)
    rng = np.random.default_rng(8)
    B = rng.standard_normal((3, 3))
    values = dict(S=np.eye(3) * 2 + 0.2 * (B + B.T), b=rng.standard_normal(3))
    ours = td.evaluate(td.diff(f, S, order=3), **values)
    numeric = numeric_diff(td.diff(f, S, order=2), S, values)
    assert np.max(np.abs(ours - numeric)) <= 1e-5 * max(1.0, np.max(np.abs(numeric)))


def test_vector_wrt_fourth_derivative_matches_jax():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    f = td.sum(td.tanh(A @ x) ** 2) + (x @ x) ** 2
    rng = np.random.default_rng(9)
    values = dict(x=0.5 * rng.standard_normal(3), A=rng.standard_normal((3, 3)))

    def g(v):
        return jnp.sum(jnp.tanh(jnp.asarray(values["A"]) @ v) ** 2) + (v @ v) ** 2
    ours = td.evaluate(td.diff(f, x, order=4), **values)
    np.testing.assert_allclose(ours, jax_derivative(g, values["x"], 4), rtol=1e-9, atol=1e-10)


def test_orbit_representative_is_a_permutation_of_the_term():
    # a representative may replace its term only inside the average: it is the term with slots permuted
    q, X = tikhonov()
    values = tikhonov_values(3)
    d3 = td.diff(td.diff(td.diff(q, X), X), X)   # one order at a time: every ordering of the slots
    for term in terms_of(d3)[:12]:
        rep = representative(term, 1, 2, 3)
        value = td.evaluate(rep, **values)
        assert any(np.allclose(value, permuted, rtol=1e-12, atol=1e-14)
                   for permuted in slot_permutations(td.evaluate(term, **values), 1, 2, 3))


def test_terms_of_one_orbit_become_one_term():
    q, X = tikhonov()
    d3 = td.diff(td.diff(td.diff(q, X), X), X)
    collected = orbit_terms(d3, 1, 2, 3)
    assert len(terms_of(collected)) * 4 <= len(terms_of(d3))
    values = tikhonov_values(4)
    whole = td.evaluate(d3, **values)
    np.testing.assert_allclose(td.evaluate(symmetrize(collected, 1, 2, 3), **values), whole, rtol=1e-10, atol=1e-12)


def test_symmetrize_is_the_mean_over_all_slot_permutations():
    T = td.tensor("T", "a n n n n")
    rng = np.random.default_rng(11)
    value = rng.standard_normal((2, 3, 3, 3, 3))
    ours = td.evaluate(symmetrize(T, 1, 1, 4), T=value)
    mean = sum(slot_permutations(value, 1, 1, 4)) / math.factorial(4)
    np.testing.assert_allclose(ours, mean, rtol=1e-12)
    # round j: j + 1 transposed copies of the last round and their sum, O(k²) nodes in all, not k!
    assert node_count(symmetrize(T, 1, 1, 4)) == 1 + sum(j + 2 for j in range(1, 4))


def test_hessian_off_diagonal_blocks_are_one_block_transposed():
    x, y, A = td.vector("x", "n"), td.vector("y", "m"), td.matrix("A", "n m")
    f = td.sum(td.tanh(A @ y) * x) + (x @ A @ y) ** 2
    (hxx, hxy), (hyx, hyy) = td.hessian(f, [x, y])
    assert hyx is transpose(hxy, (1, 0))
    rng = np.random.default_rng(12)
    values = dict(x=rng.standard_normal(3), y=rng.standard_normal(2), A=rng.standard_normal((3, 2)))

    def g(u, v):
        a = jnp.asarray(values["A"])
        return jnp.sum(jnp.tanh(a @ v) * u) + (u @ a @ v) ** 2
    blocks = jax.hessian(g, argnums=(0, 1))(jnp.asarray(values["x"]), jnp.asarray(values["y"]))
    for ours, theirs in zip((hxx, hxy, hyx, hyy), (blocks[0][0], blocks[0][1], blocks[1][0], blocks[1][1])):
        np.testing.assert_allclose(td.evaluate(ours, **values), np.asarray(theirs), rtol=1e-10, atol=1e-12)


def test_several_symbols_third_order_blocks_match_jax():
    x, W = td.vector("x", "n"), td.matrix("W", "m n")
    f = td.sum(td.tanh(W @ x) ** 2)
    rng = np.random.default_rng(13)
    values = dict(x=rng.standard_normal(2), W=0.5 * rng.standard_normal((3, 2)))

    def g(u, w):
        return jnp.sum(jnp.tanh(w @ u) ** 2)
    theirs = jax.jit(jax.jacfwd(jax.jacfwd(jax.jacfwd(g, argnums=(0, 1)), argnums=(0, 1)), argnums=(0, 1)))(
        jnp.asarray(values["x"]), jnp.asarray(values["W"]))
    ours = td.diff(f, [x, W], order=3)
    for i, j, k in itertools.product(range(2), repeat=3):
        np.testing.assert_allclose(td.evaluate(ours[i][j][k], **values), np.asarray(theirs[i][j][k]),
                                   rtol=1e-9, atol=1e-11)


def test_directional_derivatives_are_untouched_by_orbits():
    q, X = tikhonov()
    V = td.matrix("V", "n p")
    values = tikhonov_values(14)
    values["V"] = np.random.default_rng(15).standard_normal((3, 2))
    full = td.evaluate(td.diff(q, X, order=3), **values)
    along = td.evaluate(td.diff(q, X, order=3, direction=V), **values)
    np.testing.assert_allclose(along, np.einsum("iabcdef,ab,cd,ef->i", full, *[values["V"]] * 3), rtol=1e-10)


def test_the_result_is_a_mean_of_one_shared_sum():
    q, X = tikhonov()
    d = td.diff(q, X, order=4)
    sums = [node for node in topological([d]) if isinstance(node, Add)]
    assert sums   # the orbit representatives sit in one sum that the transposes share


def test_printed_forms_show_the_symmetrisation():
    q, X = tikhonov()
    d = td.diff(q, X, order=3)
    assert td.index_notation(d).splitlines()[-1] == "out[i,j,k,l,m,n,o] = sym_{jk,lm,no} t4[i,j,k,l,m,n,o]"
    assert r"\operatorname{sym}_{jk,lm,no}" in td.latex(d)
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    e = td.diff(td.sum(td.tanh(A @ x)), x, order=3)   # every term already symmetric: no sym printed
    assert "sym" not in td.index_notation(e)


def test_sym_is_printed_only_for_a_true_mean_over_all_slots():
    T = td.tensor("T", "a n n n")
    ids = (0, 1, 2, 3)
    swaps = [(0, 3, 2, 1), (0, 1, 3, 2)]   # slot 3 swapped with slots 1 and 2, over a T not symmetric in 1, 2
    looks_alike = td.simplify(sum((transpose(T, p) for p in [ids] + swaps), start=0 * T) / 3)
    assert slot_mean(looks_alike) is None
    assert "sym" not in td.index_notation(looks_alike)
    assert slot_mean(symmetrize(T, 1, 1, 3))[1:4] == (1, 1, 3)
