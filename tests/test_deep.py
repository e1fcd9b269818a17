"""Deep expressions: derivation and evaluation stay linear-ish and never hit the recursion limit."""

import sys

import numpy as np

import tensordiff as td


def test_deep_chain_differentiates_without_recursion_and_checks_numerically():
    x, A = td.vector("dx", "n"), td.matrix("dA", "n n")
    e = x
    depth = 2 * sys.getrecursionlimit()          # deeper than Python recursion could go
    for i in range(depth):
        e = td.tanh(e) * 0.9 + x if i % 2 else A @ e
    f = td.sum(e)
    g = td.grad(f, x)
    values = dict(dx=np.full(3, 0.1), dA=0.5 * np.eye(3) + 0.1)
    got = td.evaluate(g, **values)
    numeric = td.testing.numeric_diff(f, x, values)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-9)


def test_symmetry_classification_of_deep_graphs_does_not_recurse():
    A = td.matrix("sA", "n n")
    e = A
    for _ in range(3000):
        e = A @ e + A.T          # each level asks whether its operands are symmetric
    assert e.shape == ("n", "n")
