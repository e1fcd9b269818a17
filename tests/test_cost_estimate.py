"""td.derivative_size: the size of a derivative of any order, estimated before it is built.

Each family's estimate is checked against the nodes and terms of the derivative actually built,
within a factor of ACCURACY either way (the accuracy the docstring promises for these families).
From order 3 on a derivative is built by orbits of its slots (symmetry.py): its terms are counted
in the sum the symmetrisation averages, one per orbit.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import topological
from tensordiff.sumnodes import terms_of
from tensordiff.symmetry import orbit_sum

ACCURACY = 3.0


def true_size(expr, wrt, order):
    d = td.diff(expr, wrt, order=order)
    return len(topological([d])), len(terms_of(orbit_sum(d)))


def assert_within(estimate, truth, what):
    lo, hi = truth / ACCURACY, truth * ACCURACY
    assert lo <= estimate <= hi, f"{what}: estimated {estimate}, true {truth}"


def assert_estimate(expr, wrt, order):
    size = td.derivative_size(expr, wrt, order)
    nodes, terms = true_size(expr, wrt, order)
    assert_within(size.nodes, nodes, f"nodes at order {order}")
    if terms:
        assert_within(size.terms, terms, f"terms at order {order}")
    assert all(k < order for k, _, _ in size.probed), "the estimate built the derivative it estimates"
    assert size.shape == td.diff(expr, wrt, order=order).shape
    return size


def tikhonov():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X


def tanh_network(layers):
    x = td.vector("x", "n")
    h = x
    for layer in range(layers):
        h = td.tanh(td.matrix(f"W{layer}", "n n") @ h)
    return td.sum(h), x, td.matrix("W0", "n n")


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_tikhonov_in_X_by_order(order):
    q, X = tikhonov()
    assert_estimate(q, X, order)


def test_tikhonov_order_6_is_estimated_from_orders_1_to_3():
    q, X = tikhonov()
    size = td.derivative_size(q, X, 6)
    assert [k for k, _, _ in size.probed] == [1, 2, 3]
    assert not size.exact


@pytest.mark.parametrize("layers", [2, 8, 32])
def test_tanh_network_hessian_in_input_and_weights(layers):
    f, x, W0 = tanh_network(layers)
    assert_estimate(f, x, 2)
    assert_estimate(f, W0, 2)


@pytest.mark.parametrize("layers", [2, 8])
def test_tanh_network_third_order(layers):
    f, x, _ = tanh_network(layers)
    assert_estimate(f, x, 3)


@pytest.mark.parametrize("layers", [2, 8])
def test_tanh_network_fourth_order(layers):
    f, x, _ = tanh_network(layers)
    assert_estimate(f, x, 4)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_quadratic_form(order):
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    assert_estimate(x @ A @ x, x, order)


def test_a_derivative_zero_from_a_lower_order_on_is_reported_exactly():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    size = td.derivative_size(x @ A @ x, x, 8)
    assert (size.nodes, size.terms, size.exact) == (1, 0, True)
    assert size.shape == ("n",) * 8
    assert np.all(td.evaluate(td.diff(x @ A @ x, x, order=3), x=np.ones(2), A=np.eye(2)) == 0)


def test_bad_arguments_name_what_is_wrong():
    q, X = tikhonov()
    with pytest.raises(td.TensorDiffError, match="order must be a positive int"):
        td.derivative_size(q, X, 0)
    with pytest.raises(td.TensorDiffError, match="order must be a positive int"):
        td.derivative_size(q, X, 2.0)
    with pytest.raises(td.TensorDiffError, match="with respect to a symbol"):
        td.derivative_size(q, X.T @ X, 2)


def test_cost_reports_the_estimate_beside_the_price():
    q, X = tikhonov()
    c = td.cost(q, wrt=X, order=4, n=5, p=3)
    assert c.derivative.order == 4
    assert_within(c.derivative.nodes, true_size(q, X, 4)[0], "nodes at order 4")
    assert c.derivative_entries == 3 * (5 * 3) ** 4
    text = repr(c)
    assert "order-4 derivative" in text and "nodes" in text
    assert "one per orbit of its 4 slots, then sym over them" in text   # how td.diff will build it
    assert td.derivative_size(q, X, 2).slots == 0   # a Hessian keeps its plain form
    assert td.cost(q, n=5, p=3).derivative is None
