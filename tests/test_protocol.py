"""Expressions and Python's and numpy's protocols: iteration, numpy ufuncs and arrays, abs and
``**``, immutability, pickling of deep expressions, and validation of elementwise functions."""

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import FrozenNodeError, UnsupportedOperation

XV = np.array([0.5, -1.2, 2.0])


# ---------------------------------------------------------------- iteration

def test_iterating_an_expression_is_a_clear_error_not_an_endless_loop():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    for e in (x, A, td.sum(x)):
        with pytest.raises(UnsupportedOperation, match="td.sum"):   # before the fix: iter() ran forever
            iter(e)
    hangs_before = [lambda: list(x), lambda: [row for row in A], lambda: sum(x), lambda: list(zip(x, x)),
                    lambda: [*x], lambda: tuple(A), lambda: td.scalar("s") in x]
    for attempt in hangs_before:
        with pytest.raises(td.TensorDiffError, match="cannot be iterated"):
            attempt()
    with pytest.raises(TypeError):          # also a TypeError, as Python's own "not iterable"
        list(x)
    assert not np.iterable(x)
    assert td.evaluate(x[1], x=XV) == XV[1]   # indexing is unaffected


# ---------------------------------------------------------------- immutability

def test_nodes_are_immutable():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    e = A @ x + 1
    for node, field in [(A, "name"), (A, "shape"), (A, "dims"), (e, "terms"), (A @ x, "coeff"), (td.tanh(x), "fn")]:
        with pytest.raises(FrozenNodeError, match=repr(field)):
            setattr(node, field, "Z")
        with pytest.raises(AttributeError):
            delattr(node, field)
    with pytest.raises(td.TensorDiffError, match="immutable"):
        A.something_new = 1
    assert A.name == "A" and td.matrix("A", "n n") is A
    av = np.eye(3) + 0.1
    np.testing.assert_allclose(td.evaluate(e, A=av, x=XV), av @ XV + 1)
    assert copy.copy(e) is e and copy.deepcopy(e) is e


# ---------------------------------------------------------------- pickling

def _deep_chain(x, depth):
    e = x
    for _ in range(depth):
        e = td.tanh(e) * 1.01
    return e


def test_deep_expressions_pickle_to_the_identical_node():
    x = td.vector("x", "n")
    h = td.elementwise("hpk")
    for depth in (200, 10_000):
        e = _deep_chain(x, depth)   # before the fix: RecursionError at about 200
        assert pickle.loads(pickle.dumps(e)) is e
    e = h(_deep_chain(x, 3000)) + td.sum(x)
    assert pickle.loads(pickle.dumps(e)) is e


def test_shared_subexpressions_pickle_once():
    x = td.vector("x", "n")
    e = x
    for _ in range(60):           # a DAG of 60 levels whose tree would have about 2^60 nodes
        e = td.tanh(e) + e * e
    assert pickle.loads(pickle.dumps(e)) is e
    assert len(pickle.dumps(e)) < 100_000


def test_a_deep_expression_and_its_program_unpickle_in_a_fresh_process():
    x = td.vector("x", "n")
    e = _deep_chain(x, 10_000)
    want = XV.copy()
    for _ in range(10_000):
        want = np.tanh(want) * 1.01
    program = td.compile(td.grad(td.sum(_deep_chain(x, 40)), x))
    again = pickle.loads(pickle.dumps(program))
    np.testing.assert_array_equal(again(x=XV), program(x=XV))
    script = ("import pickle, sys, tensordiff as td; e, program, xv = pickle.loads(sys.stdin.buffer.read()); "
              "sys.stdout.buffer.write(pickle.dumps((td.evaluate(e, x=xv), program(x=xv))))")
    done = subprocess.run([sys.executable, "-c", script], input=pickle.dumps((e, program, XV)),
                          capture_output=True, check=True, timeout=120)
    value, gradient = pickle.loads(done.stdout)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_array_equal(gradient, program(x=XV))


# ---------------------------------------------------------------- elementwise functions

def test_elementwise_functions_are_validated_when_made():
    bad = [(lambda: td.Elementwise(3), "identifier"), (lambda: td.Elementwise("a b"), "identifier"),
           (lambda: td.Elementwise("h", numeric=3), "callable"), (lambda: td.Elementwise("h", derivative="d"), "callable"),
           (lambda: td.Elementwise("h", latex=3), "latex"), (lambda: td.Elementwise("h", order=-1), "order"),
           (lambda: td.Elementwise("h", base="b c"), "identifier"),
           (lambda: td.elementwise("h", 3), "callable"), (lambda: td.elementwise("h", np.sin, latex=1), "latex"),
           (lambda: td.elementwise(3), "identifier")]
    for attempt, fragment in bad:
        with pytest.raises(td.TensorDiffError, match=fragment):
            attempt()
    x = td.vector("x", "n")
    square = td.Elementwise("sq", np.square, lambda a: 2 * a)
    np.testing.assert_allclose(td.evaluate(square(x), x=XV), XV ** 2)
    np.testing.assert_allclose(td.evaluate(td.diff(td.sum(square(x)), x), x=XV), 2 * XV)
    h = td.elementwise("hval", np.sin, np.cos, latex=r"\eta")
    np.testing.assert_allclose(td.evaluate(td.grad(td.sum(h(x)), x), x=XV), np.cos(XV))
