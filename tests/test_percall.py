"""The quick call path of a compiled program (numpy values of a signature seen before, no
``functions=``): the same numbers as the step loop bit for bit, results the caller owns, values
still validated, thread-safe and picklable."""

import pickle

import numpy as np
import pytest

import tensordiff as td
from tensordiff.randexpr import DEPTH, SHAPES, ExpressionGenerator

from helpers import assert_identical, in_threads


def _built_in_only(k):
    """The k-th random expression, with its first derivatives, that needs no user function (made in
    the test: expressions alive at collection would keep their symbols' names bound)."""
    seed = 9100 + 40 * k
    while True:
        gen = ExpressionGenerator(seed)
        expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
        exprs = [expr] + [td.diff(expr, gen.S[name]) for name in sorted(expr.free)[:2]]
        if not td.compile(exprs).user_function_names:
            return exprs, gen.V
        seed += 1


@pytest.mark.parametrize("k", range(30))
def test_random_expressions_agree_bit_for_bit_on_the_quick_path(k):
    exprs, values = _built_in_only(k)
    quick, loop = td.compile(exprs), td.compile(exprs)
    loop.specialisations = None   # the generic step loop
    want = loop(**values)
    first = quick(**values)       # specialises
    assert len(quick.specialisations) == 1
    for _ in range(3):            # the stored specialisation, through the quick path
        assert_identical(quick(**values), want)
    assert_identical(first, want)


def test_a_result_is_never_overwritten_by_a_later_call():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    program = td.compile([X, X.T @ y, td.sum(td.tanh(X @ X.T @ y)), X.T @ y])
    rng = np.random.default_rng(0)
    Xv, yv = rng.standard_normal((4, 3)), rng.standard_normal(4)
    first = program(X=Xv, y=yv)
    kept = [a.copy() for a in first]
    second = program(X=Xv * 2, y=yv)
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
    for a in first:
        for b in second:
            assert not np.shares_memory(a, b)
    for a in second:
        assert not np.shares_memory(a, Xv) and not np.shares_memory(a, yv)
        assert a.flags.owndata and a.flags.writeable
    assert second[1] is not second[3]   # one value computed once, two outputs: two arrays
    second[1][...] = 0
    assert second[3].any()


def test_a_mismatched_second_call_names_the_symbol_and_the_dim():
    X, y = td.matrix("X", "n p"), td.vector("y", "n")
    program = td.compile(X.T @ y)
    program(X=np.ones((3, 2)), y=np.ones(3))
    program(X=np.ones((3, 2)), y=np.ones(3))
    with pytest.raises(td.ShapeError, match=r"dim 'n' is 3 in axis 0 of 'X' but 4 in axis 0 of 'y'"):
        program(X=np.ones((3, 2)), y=np.ones(4))
    with pytest.raises(td.ShapeError, match=r"'y' has shape \(3, 1\)"):
        program(X=np.ones((3, 2)), y=np.ones((3, 1)))
    with pytest.raises(td.EvaluationError, match="no value for symbol"):
        program(X=np.ones((3, 2)))
    with pytest.raises(td.EvaluationError, match="complex"):
        program(X=np.ones((3, 2)), y=np.ones(3, complex))
    np.testing.assert_array_equal(program(X=np.ones((3, 2)), y=np.ones(3)), [3.0, 3.0])


def test_threads_on_the_quick_path_get_their_own_results():
    W, X = td.matrix("W", "d k"), td.matrix("X", "n d")
    a, y = td.vector("a", "k"), td.vector("y", "n")
    f = td.norm(td.tanh(X @ W) @ a - y) ** 2
    program = td.compile([td.grad(f, W), td.hessian(f, W)])
    rng = np.random.default_rng(3)
    inputs = [dict(W=rng.standard_normal((3, 2)), X=rng.standard_normal((5, 3)), a=rng.standard_normal(2),
                   y=rng.standard_normal(5)) for _ in range(8)]
    serial = [program(**values) for values in inputs]
    failures = []

    def work(k):
        for _ in range(50):
            got = program(**inputs[k])
            if not all(np.array_equal(g, w) for g, w in zip(got, serial[k])):
                failures.append(k)
    in_threads(work, 8)
    assert failures == []


def test_a_program_pickled_after_specialising_runs_the_same():
    X, lam = td.matrix("X", "n p"), td.scalar("lam")
    program = td.compile(td.grad(td.logdet(X.T @ X + lam * td.eye("p")), X))
    values = dict(X=np.random.default_rng(0).standard_normal((6, 3)), lam=np.float64(0.5))
    want = program(**values)
    program(**values)
    copy = pickle.loads(pickle.dumps(program))
    assert copy.specialisations == {}
    for _ in range(2):
        assert_identical(copy(**values), want)
    assert len(copy.specialisations) == 1


def test_the_singular_policy_holds_on_the_quick_path():
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    raising, quiet = td.compile(td.inv(A) @ b), td.compile(td.inv(A) @ b, singular="nan")
    good = dict(A=np.eye(2) * 2, b=np.ones(2))
    for program in (raising, quiet):
        program(**good)
        program(**good)
    singular = dict(A=np.ones((2, 2)), b=np.ones(2))
    with pytest.raises(td.EvaluationError, match="singular"):
        raising(**singular)
    assert np.isnan(quiet(**singular)).all()
    with pytest.warns(td.IllConditionedWarning):
        raising(A=np.diag([1.0, 1e-17]), b=np.ones(2))


@pytest.mark.parametrize("ids, shape", [((0, 0), (3, 3)), ((0, 1, 0, 1), (2, 3, 2, 3)), ((1, 0, 1), (2, 4, 2)),
                                        ((0, 1, 2), (2, 3, 4)), ((5, "x", 5, "x", 7), (2, 3, 2, 3, 4)),
                                        ((0, 0), (0, 0)), ((0, 0, 0), (2, 2, 2))])
def test_a_diagonal_view_is_the_strided_view_of_the_same_entries(ids, shape):
    from numpy.lib.stride_tricks import as_strided

    from tensordiff.kernels import diagonal_view
    array = np.random.default_rng(0).standard_normal(shape)
    for target in (array, array[..., ::-1]):   # contiguous, and not
        unique = list(dict.fromkeys(ids))
        strides, sizes = [0] * len(unique), [0] * len(unique)
        for axis, i in enumerate(ids):
            strides[unique.index(i)] += target.strides[axis]
            sizes[unique.index(i)] = target.shape[axis]
        want = as_strided(target, shape=tuple(sizes), strides=tuple(strides))
        view = diagonal_view(target, ids)
        assert view.shape == want.shape and view.strides == want.strides
        assert view.__array_interface__["data"][0] == want.__array_interface__["data"][0]
        view[...] = 7.0
        np.testing.assert_array_equal(want, np.full(want.shape, 7.0))
