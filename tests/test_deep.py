"""Deep and wide expressions: derivation, printing and evaluation stay linear-ish and never hit the recursion limit.

Sizes here run in seconds; benchmarks/scaling.py measures 100 to 10,000.
"""

import sys

import numpy as np
import pytest

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



def test_powers_and_chains_split_into_bounded_products_keep_their_values():
    # a power merges at most einsumnodes.MAX_MERGED_REPEATING factors a product, and a chain's derivative
    # of many long terms stays one sum operand (diff.MAX_DISTRIBUTED_OPERANDS): both against finite
    # differences, the power's gradient and Hessian in the matrix and the chain's Hessian
    rng = np.random.default_rng(16)
    X, u, v = td.matrix("bpX", "n n"), td.vector("bpu", "n"), td.vector("bpv", "n")
    e = v
    for _ in range(40):
        e = X @ e
    values = dict(bpX=np.eye(3) + 0.05 * rng.standard_normal((3, 3)), bpu=rng.standard_normal(3),
                  bpv=rng.standard_normal(3))
    assert td.check(u @ e, X, order=2, **values).max_rel_error < 1e-5
    x, A = td.vector("bcx", "n"), td.matrix("bcA", "n n")
    e = x
    for k in range(60):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    chain_values = dict(bcx=rng.standard_normal(3) * 0.3, bcA=0.4 * np.eye(3) + 0.1 * rng.standard_normal((3, 3)))
    assert td.check(td.sum(e), x, order=2, **chain_values).max_rel_error < 1e-5


def test_symmetry_classification_of_deep_graphs_does_not_recurse():
    A = td.matrix("sA", "n n")
    e = A
    for _ in range(3000):
        e = A @ e + A.T          # each level asks whether its operands are symmetric
    assert e.shape == ("n", "n")


def _printers():
    return {"index": td.index_notation, "latex": td.latex, "einsum": td.to_einsum, "matrix": td.matrix_notation,
            "codegen": td.codegen}


def test_printing_a_chain_deeper_than_the_recursion_limit():
    # printing recursed through every inline node (RecursionError at ~1000 levels) and the
    # let-binding pass was quadratic; deep inline nodes are now named every MAX_INLINE_DEPTH levels
    x, A = td.vector("px", "n"), td.matrix("pA", "n n")
    e = x
    for i in range(3 * sys.getrecursionlimit()):
        e = td.tanh(e) + x if i % 2 else A @ e
    texts = {name: printer(e) for name, printer in _printers().items()}
    assert texts["index"].count("\n") > 3 * sys.getrecursionlimit() // td.printing.MAX_INLINE_DEPTH // 2
    assert texts["matrix"].startswith("no matrix notation")       # deeper than td.parse could read back
    namespace = {}
    exec(texts["codegen"], namespace)
    values = dict(px=np.full(3, 0.1), pA=0.5 * np.eye(3))
    np.testing.assert_allclose(namespace["f"](**values), td.evaluate(e, **values), rtol=1e-12)


def test_matrix_notation_below_the_nesting_limit_still_reads_back():
    x, A = td.vector("mx", "n"), td.matrix("mA", "n n")
    e = x
    for _ in range(20):
        e = td.tanh(A @ e)
    text = td.matrix_notation(e)
    values = dict(mx=np.linspace(-1, 1, 4), mA=np.eye(4) * 0.9)
    np.testing.assert_allclose(td.evaluate(td.parse(text), **values), td.evaluate(e, **values), rtol=1e-12)


def _pairwise_sum(terms):
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k] for k in range(0, len(terms), 2)]
    return terms[0]


def test_sum_of_thousands_of_terms():
    x = td.vector("sx", "n")
    xx = x @ x
    size = 2000
    f = _pairwise_sum([td.tanh((1.0 + k / size) * xx) for k in range(size)])
    assert len(f.terms) == size
    g = td.grad(f, x)
    for printer in _printers().values():
        printer(g)
    values = dict(sx=np.array([0.1, -0.2, 0.3]))
    c = 1.0 + np.arange(size) / size
    s = values["sx"] @ values["sx"]
    closed = 2 * values["sx"] * np.sum(c * (1 - np.tanh(c * s) ** 2))
    np.testing.assert_allclose(td.evaluate(g, **values), closed, rtol=1e-10)


def test_einsum_of_thirty_operands():
    width = 28
    u, v = td.vector("eu", "d0"), td.vector("ev", f"d{width}")
    mats = [td.matrix(f"eM{k}", f"d{k} d{k + 1}") for k in range(width)]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    spec = "a," + ",".join(letters[k] + letters[k + 1] for k in range(width)) + "," + letters[width] + "->"
    f = td.einsum(spec, u, *mats, v)
    assert len(f.operands) == width + 2
    rng = np.random.default_rng(0)
    values = {f"eM{k}": np.eye(3) + 0.2 * rng.standard_normal((3, 3)) for k in range(width)}
    values.update(eu=rng.standard_normal(3), ev=rng.standard_normal(3))
    arrays = [values["eu"]] + [values[f"eM{k}"] for k in range(width)] + [values["ev"]]
    np.testing.assert_allclose(td.evaluate(f, **values), np.einsum(spec, *arrays, optimize=True), rtol=1e-10)
    wrt = mats[width // 2]
    g = td.grad(f, wrt)
    for printer in _printers().values():
        printer(g)
    numeric = td.testing.numeric_diff(f, wrt, values)
    np.testing.assert_allclose(td.evaluate(g, **values), numeric, rtol=1e-6, atol=1e-9)


def test_products_of_more_operands_than_numpy_einsum_takes():
    # merging keeps up to 64 operands; at small sizes the step once went straight to np.einsum,
    # which refuses more than 63 ("too many operands")
    x = td.vector("x", "n")
    p = td.sin(x)
    for k in range(2, 65):
        p = p * td.sin(k * x)
    xv = np.array([0.3, 0.5, 0.7])
    want = np.prod([np.sin(k * xv) for k in range(1, 65)], axis=0)
    np.testing.assert_allclose(td.evaluate(td.sum(p), x=xv), want.sum(), rtol=1e-10)
    chain = x
    for _ in range(64):
        chain = td.tanh(chain) * 1.01
    assert td.check(td.sum(chain), x, x=xv).max_rel_error < 1e-6


def test_absurd_orders_fail_fast_or_finish_fast():
    # tensordiff "x'*A*x" --wrt x --order 1000000000 hung (building a billion-axis zero); a scalar
    # wrt with a huge order overflowed
    x, s = td.vector("ox", "n"), td.scalar("os")
    with pytest.raises(td.ShapeError, match="would have 1000000000 axes"):
        td.diff(x @ x, x, order=10 ** 9)
    assert td.diff(s ** 3, s, order=10 ** 20) is td.diff(s ** 3, s, order=4)      # zero from order 4 on
    assert td.diff(x @ x, x, order=20).shape == ("n",) * 20
    assert td.diff(td.tanh(x @ x), x, order=3, direction=x).shape == ()
