"""Expressions and Python's and numpy's protocols: iteration, numpy ufuncs and arrays, abs and
``**``, immutability, pickling of deep expressions, and validation of elementwise functions."""

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.errors import FrozenNodeError, UnsupportedOperation

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


# ---------------------------------------------------------------- numpy

def test_numpy_ufuncs_build_the_tensordiff_expression():
    x, y, A = td.vector("x", "n"), td.vector("y", "n"), td.matrix("A", "n n")
    same = [(np.exp(x), td.exp(x)), (np.log(x), td.log(x)), (np.sin(x), td.sin(x)), (np.cos(x), td.cos(x)),
            (np.tanh(x), td.tanh(x)), (np.sqrt(x), td.sqrt(x)), (np.absolute(x), td.abs(x)), (np.abs(x), td.abs(x)),
            (np.negative(x), -x), (np.positive(x), x), (np.add(x, y), x + y), (np.subtract(x, y), x - y),
            (np.multiply(x, y), x * y), (np.divide(x, y), x / y), (np.true_divide(x, 2), x / 2),
            (np.power(x, 3), x ** 3), (np.square(x), x ** 2), (np.reciprocal(x), 1 / x),
            (np.matmul(A, x), A @ x), (np.exp(np.tanh(A @ x)), td.exp(td.tanh(A @ x)))]
    for got, want in same:
        assert got is want, (td.index_notation(got), td.index_notation(want))   # interned: equal is identical


def test_numpy_scalars_still_mix_with_expressions():
    x = td.vector("x", "n")
    cases = [(np.float64(2.0) * x, 2.0 * XV), (x * np.float32(3), 3.0 * XV), (x + np.float64(1), XV + 1),
             (np.float64(1) - x, 1 - XV), (np.float64(2) / x, 2 / XV), (np.int64(2) ** x, 2.0 ** XV),
             (np.float64(0.5) ** x, 0.5 ** XV), (x ** np.int64(2), XV ** 2), (np.array(2.5) * x, 2.5 * XV),
             (np.int32(3) * x - np.float16(0.5), 3 * XV - 0.5), (np.exp(x) * np.float64(2), 2 * np.exp(XV))]
    for e, want in cases:
        assert isinstance(e, td.Expr)
        np.testing.assert_allclose(td.evaluate(e, x=XV), want, rtol=1e-12)


def test_numpy_functions_and_other_ufuncs_on_expressions_are_clear_errors():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    probe = td.vector("reduce_probe", "n")   # numpy's reduce keeps a reference to what it refused: not x
    # np.sum, np.trace, np.linalg.inv, ... build expressions (test_usability_gaps5.py); these do not
    named = [(lambda: np.cumprod(x), "np.cumprod", "np.sum"), (lambda: np.sort(x), "evaluate", "td.evaluate"),
             (lambda: np.asarray(x), "evaluate", "not an array"), (lambda: np.array(A), "evaluate", "(n, n)"),
             (lambda: np.floor(x), "np.floor", "np.tanh"), (lambda: np.arctan2(x, x), "np.arctan2", "np.hypot"),
             (lambda: np.add.reduce(probe), "np.add.reduce", "td.sum"), (lambda: np.multiply.outer(x, x), "outer", ""),
             (lambda: np.exp(x, out=np.empty(3)), "np.exp", "keyword"),
             (lambda: np.linalg.svd(A), "np.linalg.svd", "np.linalg.inv"), (lambda: np.sum(x, out=np.empty(())), "out=")]
    for attempt, *fragments in named:
        with pytest.raises(UnsupportedOperation) as info:
            attempt()
        assert isinstance(info.value, td.TensorDiffError)
        for fragment in fragments:
            assert fragment in str(info.value)
    with pytest.raises(td.ShapeError, match=r"np.tensordot: axes=2 does not fit operands of shapes \(n\) and \(n\)"):
        np.tensordot(x, x)   # numpy's default axes=2 on two vectors: refused as numpy refuses it
    with pytest.raises(td.ShapeError, match="ndarray"):     # arrays still do not mix with expressions
        np.ones(3) * x


# ---------------------------------------------------------------- abs and **

def test_builtin_abs_is_td_abs():
    x = td.vector("x", "n")
    assert abs(x) is td.abs(x)
    np.testing.assert_array_equal(td.evaluate(abs(x - 1), x=XV), np.abs(XV - 1))


def test_a_number_to_an_expression_power():
    x, s = td.vector("x", "n"), td.scalar("s")
    np.testing.assert_allclose(td.evaluate(2 ** x, x=XV), 2.0 ** XV, rtol=1e-12)
    np.testing.assert_allclose(td.evaluate(0.3 ** (x @ x), x=XV), 0.3 ** (XV @ XV), rtol=1e-12)
    np.testing.assert_allclose(td.evaluate(2.5 ** s * x, x=XV, s=0.7), 2.5 ** 0.7 * XV, rtol=1e-12)
    assert td.evaluate(1 ** x, x=XV).tolist() == [1.0, 1.0, 1.0]
    for f, wrt in [(td.sum(3 ** td.tanh(x)), x), (1.7 ** (x @ x) * x, x), (2.5 ** s * x, s), (0.5 ** (s * x), s)]:
        for order in (1, 2):
            result = td.check(f, wrt, order=order, x=XV, s=0.7)
            assert result.max_rel_error < 1e-6, (order, result.max_rel_error)


def test_powers_of_a_number_base_that_is_not_positive_are_refused():
    x, y = td.vector("x", "n"), td.vector("y", "n")
    for attempt, fragment in [(lambda: (-2) ** x, "-2"), (lambda: 0 ** x, "0")]:
        with pytest.raises(td.TensorDiffError, match="positive base") as info:
            attempt()
        assert fragment in str(info.value)
    assert x ** y is td.exp(td.log(x) * y)   # an expression base is taken to be positive (issue 12)


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


def test_numpy_scalars_compare_with_expressions_by_identity():
    # np.float64(1) == x goes through np.equal; refusing it broke `x in [np.float64(1)]`
    x = td.vector("x", "n")
    assert (np.float64(1) == x) is False and (np.float64(1) != x) is True
    assert x not in [np.float64(1)] and [np.float64(1), x].index(x) == 1


def test_a_user_function_derivative_unpickles_in_a_fresh_process():
    # the unpickler walked fn._derivative, which an abstract function builds only on first use
    x, h = td.vector("x", "n"), td.elementwise("h_fresh")
    data = pickle.dumps(td.hessian(td.sum(h(x)), x))
    code = ("import pickle, sys, numpy as np, tensordiff as td\n"
            "e = pickle.loads(sys.stdin.buffer.read())\n"
            "print(td.evaluate(e, x=np.ones(2), functions={'h_fresh': [np.sin, np.cos, lambda v: -np.sin(v)]}).sum())")
    done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert float(done.stdout) == pytest.approx(-2 * np.sin(1.0))


def test_a_symbol_may_be_called_self():
    s = td.scalar("self")
    assert td.evaluate(s * 2, self=2.0) == 4.0 and td.compile(s * 2)({"self": 3.0}) == 6.0
