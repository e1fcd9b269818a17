"""Node counts of derivatives by order, bounded by today's counts: growth cannot get worse unnoticed.

Counts are distinct graph nodes (shared subexpressions once, as interning stores them) and top-level
terms (from order 3 on, the terms of the sum the symmetrisation over slots averages: one per orbit).
The bounds are the counts measured when these tests were written; a change that lowers them should
lower the bounds with it. Before derivatives were built by orbits of their slots (issue 16 item 1)
the Tikhonov counts were 110, 992, 11,888 and 172,088 nodes at orders 3 to 6.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import topological
from tensordiff.sumnodes import terms_of
from tensordiff.symmetry import orbit_sum

# order: (nodes, terms) of the Tikhonov map q(X) = inv(X'X + lam I) X'y differentiated in X
TIKHONOV_BOUNDS = {1: (11, 3), 2: (22, 14), 3: (33, 18), 4: (66, 46), 5: (148, 122), 6: (363, 330)}
# depth: (nodes of f, of its gradient, of its Hessian) for the chain x -> A@x, x -> 0.9 tanh(x) + x
# (the gradients' counts were 205, 407 and 811 and the Hessians' 1509, 3018 and 6053 when derivatives
# were distributed over every product up to 12 terms: diff.MAX_DISTRIBUTED_OPERANDS)
CHAIN_BOUNDS = {50: (103, 210, 322), 100: (203, 418, 645), 200: (403, 835, 1297)}


def node_count(expr):
    return len(topological([expr]))


def tikhonov():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X


def chain(depth):
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    e = x
    for k in range(depth):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    return td.sum(e), x


@pytest.mark.parametrize("order", sorted(TIKHONOV_BOUNDS))
def test_tikhonov_derivative_nodes_by_order(order):
    q, X = tikhonov()
    d = td.diff(q, X, order=order)
    nodes, terms = TIKHONOV_BOUNDS[order]
    assert node_count(d) <= nodes
    assert len(terms_of(orbit_sum(d))) <= terms
    assert d.shape == ("p",) + ("n", "p") * order


def test_tikhonov_second_derivative_counted_is_the_true_one():
    # the counted graph is the derivative, not a stand-in: it matches finite differences
    q, X = tikhonov()
    rng = np.random.default_rng(3)
    values = dict(X=rng.standard_normal((5, 3)), y=rng.standard_normal(5), lam=0.7)
    assert td.check(q, X, order=2, **values).max_rel_error < 1e-5


@pytest.mark.parametrize("depth", sorted(CHAIN_BOUNDS))
def test_deep_chain_nodes_of_gradient_and_hessian(depth):
    f, x = chain(depth)
    bounds = CHAIN_BOUNDS[depth]
    assert node_count(f) <= bounds[0]
    assert node_count(td.grad(f, x)) <= bounds[1]
    assert node_count(td.hessian(f, x)) <= bounds[2]


def test_deep_chain_derivatives_grow_linearly_in_depth():
    counts = {}
    for depth in (100, 200):
        f, x = chain(depth)
        counts[depth] = (node_count(td.grad(f, x)), node_count(td.hessian(f, x)))
    # doubling the depth at most doubles the nodes (plus a constant): linear, not quadratic
    assert counts[200][0] <= 2 * counts[100][0] + 10
    assert counts[200][1] <= 2 * counts[100][1] + 50


def test_deep_chain_hessian_counted_is_the_true_one():
    f, x = chain(6)
    rng = np.random.default_rng(4)
    values = dict(x=0.3 * rng.standard_normal(3), A=0.5 * np.eye(3) + 0.1 * rng.standard_normal((3, 3)))
    assert td.check(f, x, order=2, **values).max_rel_error < 1e-5
