"""Usability gaps, fifth round: keepdims on the reduction functions, Python lists as values, numpy's
functions on expressions, messages for dims nothing sizes, td.check's positional values, unit axes
in matrix notation, and lost dims of a symbol declared again with other dims.

Symbols here end in _u5: every test file is imported in each xdist worker, and a name declared
with other dims elsewhere would be another symbol.
"""

import numpy as np
import pytest

import tensordiff as td

RNG = np.random.default_rng(5)
XV = RNG.standard_normal((3, 4))
VV = RNG.standard_normal(4)


def fd_gradient(f, x, eps=1e-6):
    """Central finite differences of the scalar function ``f`` at the array ``x``."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


# ---------------------------------------------------------------- 1. keepdims on the functions

REDUCTIONS = [(td.sum, np.sum), (td.max, np.max), (td.min, np.min), (td.mean, np.mean),
              (td.logsumexp, lambda a, axis=None, keepdims=False: np.log(np.sum(np.exp(a), axis=axis,
                                                                                  keepdims=keepdims)))]


@pytest.mark.parametrize("builder, reference", REDUCTIONS, ids=lambda f: getattr(f, "__name__", "np"))
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (1,), [0]])
def test_reduction_functions_take_keepdims_as_numpy(builder, reference, axis):
    X = td.matrix("X_u5", "n p")
    e = builder(X, axis=axis, keepdims=True)
    want = reference(XV, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=True)
    got = td.evaluate(e, X_u5=XV)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert set(e.shape) <= {"n", "p", "1"}
    assert builder(X, axis, False) is builder(X, axis)            # keepdims=False: the plain reduction
    method = getattr(X, builder.__name__, None)
    if method is not None:                                        # the method is the same implementation
        assert method(axis=axis, keepdims=True) is e


@pytest.mark.parametrize("builder, reference", REDUCTIONS, ids=lambda f: getattr(f, "__name__", "np"))
def test_kept_axes_broadcast_back_and_differentiate(builder, reference):
    X = td.matrix("X_u5", "n p")
    centred = X - builder(X, axis=1, keepdims=True)               # x - x.mean(axis=1, keepdims=True)
    f = td.sum(td.tanh(centred) ** 2)
    np.testing.assert_allclose(td.evaluate(centred, X_u5=XV), XV - reference(XV, axis=1, keepdims=True),
                               rtol=1e-12, atol=1e-14)

    def numeric(a):
        return np.sum(np.tanh(a - reference(a, axis=1, keepdims=True)) ** 2)

    np.testing.assert_allclose(td.evaluate(td.grad(f, X), X_u5=XV), fd_gradient(numeric, XV), rtol=1e-6, atol=1e-8)


def test_keepdims_and_axis_errors_name_the_function_and_operand():
    X = td.matrix("X_u5", "n p")
    for builder in (td.sum, td.max, td.min, td.mean, td.logsumexp):
        name = builder.__name__
        with pytest.raises(td.ShapeError, match=f"{name}: keepdims must be True or False, got 'yes'"):
            builder(X, 0, keepdims="yes")
        with pytest.raises(td.ShapeError, match=f"{name}: axis 2 does not exist .*X_u5"):
            builder(X, axis=2, keepdims=True)
        with pytest.raises(td.ShapeError, match=f"{name}: axis .* names an axis twice"):
            builder(X, axis=(0, -2))
    assert td.sum(X, axis=np.int64(1)) is td.sum(X, axis=1)     # numpy ints are axes, as in numpy


# ---------------------------------------------------------------- 2. lists as values

def test_lists_and_tuples_are_values_as_numpy_reads_them():
    X, v = td.matrix("X_u5", "n p"), td.vector("v_u5", "p")
    e = td.tanh(X) @ v
    want = np.tanh(XV) @ VV
    np.testing.assert_allclose(td.evaluate(e, X_u5=XV.tolist(), v_u5=VV.tolist()), want, rtol=1e-14)
    np.testing.assert_allclose(td.evaluate(e, {"X_u5": tuple(map(tuple, XV)), v: list(VV)}), want, rtol=1e-14)
    np.testing.assert_allclose(td.compile(e)(X_u5=XV.tolist(), v_u5=VV), want, rtol=1e-14)
    assert td.evaluate(td.sum(X), X_u5=[[1, 2], [3, 4]]).dtype == np.float64     # ints promoted, as arrays
    np.testing.assert_array_equal(td.evaluate(2 * X, X_u5=[[True, False]]), [[2.0, 0.0]])
    result = td.check(td.sum(td.sin(X) * X), X, X_u5=XV.tolist())
    assert result.max_rel_error < 1e-7


@pytest.mark.parametrize("value, fragments", [
    ([[1.0, 2.0], [3.0]], ["'X_u5'", "ragged list", "X_u5[0] has shape (2,)", "X_u5[1] has shape (1,)"]),
    ([[1.0, "a"]], ["'X_u5'", "str 'a'", "X_u5[0][1]", "no number"]),
    ([[1.0, None]], ["'X_u5'", "NoneType None", "X_u5[0][1]"]),
    (([1.0, 2.0], (3.0, [4.0])), ["ragged tuple", "X_u5[1][0] has shape ()", "X_u5[1][1] has shape (1,)"]),
    ([[1.0, {"a": 1}]], ["'X_u5'", "dict", "X_u5[0][1]"]),
])
def test_ragged_or_non_numeric_lists_are_refused_naming_symbol_and_place(value, fragments):
    X = td.matrix("X_u5", "n p")
    with pytest.raises(td.EvaluationError) as info:
        td.evaluate(td.sum(X), X_u5=value)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_an_expression_inside_a_list_is_named_not_converted():
    X = td.matrix("X_u5", "n p")
    with pytest.raises(td.EvaluationError, match=r"holds a Var at X_u5\[0\]"):
        td.evaluate(td.sum(X), X_u5=[X, X])
