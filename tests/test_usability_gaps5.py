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


def test_an_axis_may_be_a_dim_by_name():
    X, A = td.matrix("X_u5", "n p"), td.matrix("A_u5", "p p")
    assert td.sum(X, axis="n") is td.sum(X, 0) and X.mean(axis=("p", "n")) is td.mean(X)
    assert td.max(X, "p", keepdims=True) is td.max(X, 1, keepdims=True)
    assert td.softmax(X, axis="n") is td.softmax(X, axis=0) and np.sum(X, axis="p") is td.sum(X, 1)
    with pytest.raises(td.ShapeError, match=r"sum: axis 'q' names no dim of the operand of shape \(n, p\): X_u5"):
        td.sum(X, "q")
    with pytest.raises(td.ShapeError, match=r"max: axis 'p' is the dim of 2 axes .* A_u5; pass the axes as ints"):
        td.max(A, "p")


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


# ---------------------------------------------------------------- 3. numpy's functions on expressions

AV = RNG.standard_normal((4, 4)) + 4 * np.eye(4)
BV = RNG.standard_normal((3, 2))


def _symbols():
    return (td.matrix("X_u5", "n p"), td.vector("v_u5", "p"), td.matrix("A_u5", "p p"),
            td.matrix("B_u5", "n m"))


VALUES = dict(X_u5=XV, v_u5=VV, A_u5=AV, B_u5=BV)
ROUTED = {   # numpy's call on an expression and on arrays: the same values
    "sum keepdims": lambda X, v, A, B, m: m.sum(X, axis=0, keepdims=True),
    "sum tuple": lambda X, v, A, B, m: m.sum(X * 2, axis=(0, 1)),
    "mean": lambda X, v, A, B, m: m.mean(X, -1),
    "max": lambda X, v, A, B, m: m.max(X, axis=1, keepdims=True),
    "amin": lambda X, v, A, B, m: m.amin(X, 0),
    "expand_dims 0": lambda X, v, A, B, m: m.expand_dims(v, 0),
    "expand_dims -1": lambda X, v, A, B, m: m.expand_dims(X, -1),
    "expand_dims tuple": lambda X, v, A, B, m: m.expand_dims(v, (0, 2)),
    "squeeze all": lambda X, v, A, B, m: m.squeeze(m.expand_dims(X, (0, 3))),
    "squeeze axis": lambda X, v, A, B, m: m.squeeze(m.expand_dims(X, (0, 3)), axis=-1),
    "transpose": lambda X, v, A, B, m: m.transpose(X),
    "transpose axes": lambda X, v, A, B, m: m.transpose(m.expand_dims(X, 1), (2, 0, 1)),
    "trace": lambda X, v, A, B, m: m.trace(A),
    "outer": lambda X, v, A, B, m: m.outer(v, X[:, 0]),
    "kron": lambda X, v, A, B, m: m.kron(X, B),
    "einsum": lambda X, v, A, B, m: m.einsum("ij,jk,k->i", X, A, v),
    "dot matrix vector": lambda X, v, A, B, m: m.dot(X, v),
    "dot scalar": lambda X, v, A, B, m: m.dot(2.0, v),
    "inner": lambda X, v, A, B, m: m.inner(v, v),
    "diag": lambda X, v, A, B, m: m.diag(v),
    "diag of matrix": lambda X, v, A, B, m: m.diag(A),
    "diagonal": lambda X, v, A, B, m: m.diagonal(A),
    "where": lambda X, v, A, B, m: m.where(X > 0, X, -X * 2),
    "clip": lambda X, v, A, B, m: m.clip(X, -0.5, 0.7),
    "clip upper": lambda X, v, A, B, m: m.clip(X, None, 0.1),
    "tril": lambda X, v, A, B, m: m.tril(A, -1),
    "triu": lambda X, v, A, B, m: m.triu(A),
    "stack": lambda X, v, A, B, m: m.stack([v, 2 * v], axis=1),
    "concatenate": lambda X, v, A, B, m: m.concatenate([v, v * v]),
    "norm vector": lambda X, v, A, B, m: m.linalg.norm(v),
    "norm 1": lambda X, v, A, B, m: m.linalg.norm(v, 1),
    "norm fro": lambda X, v, A, B, m: m.linalg.norm(X, "fro"),
    "inv": lambda X, v, A, B, m: m.linalg.inv(A),
    "det": lambda X, v, A, B, m: m.linalg.det(A),
    "solve": lambda X, v, A, B, m: m.linalg.solve(A, v),
    "matrix_power": lambda X, v, A, B, m: m.linalg.matrix_power(A, 3),
    "cholesky": lambda X, v, A, B, m: m.linalg.cholesky(A @ A.T),
}


@pytest.mark.parametrize("case", sorted(ROUTED))
def test_numpy_functions_build_expressions_with_numpy_values(case):
    X, v, A, B = _symbols()
    e = ROUTED[case](X, v, A, B, np)
    assert isinstance(e, td.Expr)
    want = ROUTED[case](XV, VV, AV, BV, np)
    got = td.evaluate(e, **{k: VALUES[k] for k in e.free})
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["sum keepdims", "max", "expand_dims tuple", "squeeze axis", "outer", "einsum",
                                  "clip", "norm fro", "solve", "cholesky", "where", "kron"])
def test_numpy_built_expressions_differentiate(case):
    X, v, A, B = _symbols()
    f = td.sum(td.sin(ROUTED[case](X, v, A, B, np)))
    for wrt in sorted((s for s in (X, v, A) if s.name in f.free), key=lambda s: s.name):
        result = td.check(f, wrt, **{k: VALUES[k] for k in f.free})
        assert result.max_rel_error < 1e-6, (case, wrt.name, result.max_rel_error)


def test_numpy_functions_are_the_builders():
    X, v, A, _ = _symbols()
    assert np.sum(X, axis=1, keepdims=True) is X.sum(axis=1, keepdims=True) is td.sum(X, 1, keepdims=True)
    assert np.expand_dims(v, 1) is v[:, None] and np.expand_dims(v, 0) is v[None, :]
    assert np.squeeze(v[None, :, None]) is v and np.squeeze(v) is v
    assert np.trace(A) is td.trace(A) and np.linalg.inv(A) is td.inv(A) and np.dot(A, v) is A @ v
    assert np.linalg.norm(v) is td.norm(v) and np.einsum("ij,j", A, v) is td.einsum("ij,j", A, v)


@pytest.mark.parametrize("call, fragments", [
    (lambda X, v: np.expand_dims(v, 2), ["np.expand_dims", "axis 2 is out of bounds for array of dimension 2"]),
    (lambda X, v: np.expand_dims(X, -4), ["axis -4 is out of bounds for array of dimension 3"]),
    (lambda X, v: np.expand_dims(v, (0, 0)), ["np.expand_dims", "repeated axis"]),
    (lambda X, v: np.squeeze(v[:, None], 3), ["np.squeeze", "axis 3 is out of bounds for array of dimension 2"]),
    (lambda X, v: np.transpose(X, (0, 0)), ["np.transpose", "axes (0, 0) don't match array of dimension 2"]),
])
def test_a_bad_axis_is_numpys_axis_error_and_a_shape_error(call, fragments):
    X, v, _, _ = _symbols()
    with pytest.raises(getattr(np, "exceptions", np).AxisError) as info:   # np.AxisError before numpy 1.25
        call(X, v)
    assert isinstance(info.value, td.ShapeError) and isinstance(info.value, IndexError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_squeezing_a_named_dim_is_refused_as_numpy_refuses_a_longer_axis():
    X, _, _, _ = _symbols()
    with pytest.raises(td.ShapeError, match=r"np.squeeze: cannot select an axis to squeeze out .* axis 1 of X_u5 "
                                            r"\(n, p\) is dim 'p'"):
        np.squeeze(X, axis=1)
    assert np.squeeze(X) is X   # named dims are never squeezed: their sizes come with the values


@pytest.mark.parametrize("call, fragments", [
    (lambda X, v, A: np.sum(X, dtype=np.float32), ["np.sum", "dtype="]),
    (lambda X, v, A: np.mean(X, where=np.ones((3, 4), bool)), ["np.mean", "where="]),
    (lambda X, v, A: np.max(X, initial=0.0), ["np.max", "initial="]),
    (lambda X, v, A: np.trace(A, offset=1), ["np.trace", "offset="]),
    (lambda X, v, A: np.diag(v, k=1), ["np.diag", "k="]),
    (lambda X, v, A: np.linalg.norm(A, 2), ["np.linalg.norm(ord=2) over 2 axes of A_u5 (p, p)", "Frobenius"]),
    (lambda X, v, A: np.linalg.norm(A, "nuc", axis=(1, 0)), ["np.linalg.norm(ord='nuc')", "no tensordiff"]),
    (lambda X, v, A: np.linalg.norm(X, 0, axis=1), ["np.linalg.norm(ord=0) over 1 axis of X_u5", "p > 0"]),
    (lambda X, v, A: np.linalg.norm(X, axis=2), ["np.linalg.norm: axis 2 does not exist", "X_u5"]),
    (lambda X, v, A: np.linalg.norm(td.tensor("T_u5", "n p q"), 1), ["ord=1 without axis needs a vector or a matrix"]),
    (lambda X, v, A: np.outer(X, v), ["np.outer", "operand 0 X_u5 has shape (n, p)", "td.outer"]),
    (lambda X, v, A: np.dot(td.tensor("T_u5", "n p q"), v), ["np.dot", "order 0 or 1 or 2", "td.einsum"]),
    (lambda X, v, A: np.where(X > 0), ["np.where(condition) alone", "np.where(condition, x, y)"]),
    (lambda X, v, A: np.clip(X), ["np.clip", "bound"]),
    (lambda X, v, A: np.cumprod(X), ["np.cumprod does not take tensordiff expressions", "np.sum", "np.expand_dims"]),
])
def test_numpy_arguments_an_expression_cannot_honour_are_named(call, fragments):
    X, v, A, _ = _symbols()
    with pytest.raises(td.TensorDiffError) as info:
        call(X, v, A)
    for fragment in fragments:
        assert fragment in str(info.value)


# ---------------------------------------------------------------- 4. dims nothing in the expression sizes

def test_an_unsized_dim_names_the_symbol_it_came_from_and_the_size_by_name():
    r = td.vector("r_u5", "k")
    for hessian in (td.hessian(r @ r, r), td.diff(td.sum(r * r), r, order=2)):   # 2·I (k, k): r is gone
        with pytest.raises(td.EvaluationError) as info:
            td.evaluate(hessian)
        message = str(info.value)
        for fragment in ["'k' is unknown", "'r_u5' (k)", "derived from", "(k=...)"]:
            assert fragment in message, message
        assert "a symbol that has them" not in message   # the old message: the expression has no symbol
        np.testing.assert_array_equal(td.evaluate(hessian, r_u5=np.ones(3)), 2 * np.eye(3))
        np.testing.assert_array_equal(td.evaluate(hessian, k=2), 2 * np.eye(2))
        with pytest.raises(td.EvaluationError, match=r"no size for dim\(s\) 'k' \(dims of 'r_u5' \(k\), which it "
                                                     r"was derived from\): pass them as keywords"):
            td.cost(hessian)


def test_a_value_under_the_wrong_name_lists_what_the_expression_was_derived_from():
    r = td.vector("r_u5", "k")
    with pytest.raises(td.EvaluationError, match=r"value given for 'r_typo_u5'.*its symbols: none; derived from "
                                                 r"'r_u5' \(k\); its dims: \(k\)"):
        td.evaluate(td.hessian(r @ r, r), r_typo_u5=np.ones(3))


def test_a_dim_no_symbol_has_is_asked_for_by_name_only():
    with pytest.raises(td.EvaluationError, match=r"'zq_u5' is unknown: no value given sizes it; pass the size by "
                                                 r"name \(zq_u5=\.\.\.\)"):
        td.evaluate(td.eye("zq_u5"))
    X = td.matrix("X_u5", "n p")
    with pytest.raises(td.EvaluationError, match=r"'n', 'p' is unknown: no value given sizes them; pass a value for "
                                                 r"'X_u5' \(n, p\) \(which it was derived from\), or the sizes by "
                                                 r"name \(n=\.\.\., p=\.\.\.\)"):
        td.evaluate(td.diff(td.sum(X * X), X, order=2))


# ---------------------------------------------------------------- 7. a symbol declared again with other dims

def test_a_lost_symbol_is_sized_by_the_declaration_the_derivative_was_built_from():
    import gc
    A = td.matrix("Rd_u5", "n m")
    ones = td.grad(td.sum(A), A)                      # ones (n, m): it no longer holds A
    zero = td.diff(td.sum(A) * td.scalar("s_u5"), td.scalar("s_u5"), order=2)
    hessian = td.hessian(td.sum(A * A), A)            # 2 δ δ (n, m, n, m)
    value = RNG.standard_normal((2, 3))
    A = td.matrix("Rd_u5", "m n")                     # the notebook cell run again with the dims swapped
    gc.collect()
    assert td.evaluate(ones, Rd_u5=value).shape == (2, 3)      # before: (3, 2), sized from "m n"
    assert td.evaluate(hessian, Rd_u5=value).shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(td.evaluate(hessian, Rd_u5=value).reshape(6, 6), 2 * np.eye(6))
    assert td.evaluate(zero, Rd_u5=value, s_u5=1.0) == 0.0
    np.testing.assert_array_equal(td.evaluate(td.grad(td.sum(A), A), Rd_u5=value.T), np.ones((3, 2)))
    del A
    gc.collect()
    again = td.matrix("Rd_u5", "p q")                 # and again: the first declaration is gone
    assert td.evaluate(ones, Rd_u5=value).shape == (2, 3) and again.shape == ("p", "q")
    with pytest.raises(td.ShapeError, match=r"'Rd_u5' has shape \(2, 3, 1\) but the symbol has dims \(n, m\)"):
        td.evaluate(ones, Rd_u5=value[..., None])


def test_several_symbols_and_jacobians_remember_their_declarations_too():
    import gc
    W, x = td.matrix("Rw_u5", "k n"), td.vector("Rx_u5", "n")
    gW, gx = td.grad(td.sum(W @ x), [W, x])           # gW = 1 xᵀ holds x; gx = Wᵀ1 holds W
    jacobian = td.jacobian(W @ x, x)                   # W itself
    lost = td.diff(td.sum(W @ x), x, order=2)          # zero (n, n): it lost W and k
    wv, xv = RNG.standard_normal((2, 4)), RNG.standard_normal(4)
    W = td.matrix("Rw_u5", "n k")
    gc.collect()
    np.testing.assert_allclose(td.evaluate(gW, Rw_u5=wv, Rx_u5=xv), np.outer(np.ones(2), xv))
    np.testing.assert_allclose(td.evaluate(gx, Rw_u5=wv, Rx_u5=xv), wv.T @ np.ones(2))
    np.testing.assert_allclose(td.evaluate(jacobian, Rw_u5=wv, Rx_u5=xv), wv)
    assert td.evaluate(lost, Rw_u5=wv, Rx_u5=xv).shape == (4, 4)
    assert td.cost(lost, n=4, k=2).flops >= 0


# ---------------------------------------------------------------- 5. td.check's values passed positionally

def test_check_takes_a_values_dict_in_orders_place_as_evaluate_does():
    X, v, A, _ = _symbols()
    f = td.sum(td.tanh(X @ A @ v))
    values = {"X_u5": XV, "A_u5": AV, "v_u5": VV}
    by_dict = td.check(f, v, values)
    by_keywords = td.check(f, v, **values)
    np.testing.assert_array_equal(by_dict.symbolic, by_keywords.symbolic)      # the values used, not random ones
    np.testing.assert_allclose(by_dict.symbolic, td.evaluate(td.grad(f, v), values), rtol=1e-14)
    assert by_dict.max_rel_error < 1e-7
    several = td.check(f, [v, A], {X: XV, "A_u5": AV}, v_u5=VV)                # symbols as keys; keywords too
    np.testing.assert_array_equal(several[1].symbolic, td.check(f, A, **values).symbolic)


def test_check_says_what_a_dict_in_the_wrong_place_was_taken_for():
    X, v, A, _ = _symbols()
    f = td.sum(td.tanh(X @ A @ v))
    values = {"X_u5": XV, "A_u5": AV, "v_u5": VV}
    with pytest.raises(td.TensorDiffError, match="multiple values for argument 'order'; argument 3 is a dict, which "
                                                 "stands in 'order''s place: to give order= too, pass the values as "
                                                 r"keywords \(\*\*values\)"):
        td.check(f, v, values, order=2)
    with pytest.raises(td.EvaluationError, match="functions= names 'X_u5', a symbol of this expression: functions= "
                                                 r"holds implementations of user functions .* \(X_u5=\.\.\.\)"):
        td.check(f, v, 2, values)                     # before: "functions= names 'X_u5', which is no user function"
    with pytest.raises(td.EvaluationError, match="functions= names 'X_u5', a symbol of this expression"):
        td.evaluate(f, values, values)
    with pytest.raises(td.EvaluationError, match=r"td.check: argument 3 \(in place of order=\) is a dict, taken as the "
                                                 "values of symbols, but it has the key 3"):
        td.check(f, v, {3: 1.0})
    assert td.check(f, v, 2, **values).max_rel_error < 1e-6


# ---------------------------------------------------------------- 6. unit axes in matrix notation

def _unit_axis_cases():
    x, y = td.vector("x_u5", "n"), td.vector("y_u5", "m")
    A, B = td.matrix("Au_u5", "n n"), td.matrix("B_u5", "n m")
    with_unit = [x[:, None], x[None, :], x[None, :] @ A, A[:, :, None], x.sum(keepdims=True),
                 np.expand_dims(B, 0), B.max(axis=1, keepdims=True)]
    without = [x[:, None] * y, td.sum(x[:, None] * A, axis=0), x[:, None] + y[None, :], (x[:, None] * 3) @ y[None, :],
               A - A.mean(axis=1, keepdims=True), B / B.sum(axis=0, keepdims=True), td.sum((x[:, None] - x[None, :]) ** 2),
               td.exp(x[:, None] - y[None, :]) @ y, td.hessian(td.sum(td.exp(x[:, None] * y[None, :])), y)]
    return with_unit, without


def test_an_expression_with_a_unit_axis_prints_no_matrix_form_that_would_read_back_otherwise():
    with_unit, _ = _unit_axis_cases()
    for e in with_unit:
        assert "1" in e.shape
        printed = td.matrix_notation(e)
        assert printed.startswith("no matrix notation for this expression; in index notation:"), printed
        assert "vector(1)" not in printed   # before: x*vector(1)', read back as a ones vector of a fresh dim
        assert td.latex(e) == td.latex(e, notation="index")
        with pytest.raises(td.TensorDiffError, match="no matrix form"):
            td.latex(e, notation="matrix")


def test_unit_axes_inside_an_expression_print_and_read_back_to_the_same_expression():
    _, without = _unit_axis_cases()
    for e in without:
        printed = str(td.matrix_notation(e))
        assert not printed.startswith("no matrix notation"), printed
        assert td.parse(printed) is e, (printed, td.index_notation(e))


# ---------------------------------------------------------------- 8. what a researcher types

ROUTED_MORE = {
    "var": lambda X, v, A, B, m: m.var(X),
    "var axis ddof": lambda X, v, A, B, m: m.var(X, axis=0, ddof=1),
    "std keepdims": lambda X, v, A, B, m: m.std(X, axis=1, keepdims=True),
    "std ddof": lambda X, v, A, B, m: m.std(v, ddof=1),
    "vdot": lambda X, v, A, B, m: m.vdot(X, X * 2),
    "tensordot 1": lambda X, v, A, B, m: m.tensordot(X, A, axes=1),
    "tensordot 2": lambda X, v, A, B, m: m.tensordot(X, X, axes=2),
    "tensordot pairs": lambda X, v, A, B, m: m.tensordot(X, B, axes=([0], [0])),
    "tensordot 0": lambda X, v, A, B, m: m.tensordot(v, v, 0),
    "multi_dot": lambda X, v, A, B, m: m.linalg.multi_dot([X, A, A, v]),
    "ravel": lambda X, v, A, B, m: m.ravel(X),
    "norm axis": lambda X, v, A, B, m: m.linalg.norm(X, axis=1),
    "norm keepdims": lambda X, v, A, B, m: m.linalg.norm(X, axis=0, keepdims=True),
    "norm all keepdims": lambda X, v, A, B, m: m.linalg.norm(X, keepdims=True),
    "norm ord 1 axis": lambda X, v, A, B, m: m.linalg.norm(X, 1, axis=1),
    "norm ord 3 axis": lambda X, v, A, B, m: m.linalg.norm(X, 3, axis=0),
    "norm ord inf axis": lambda X, v, A, B, m: m.linalg.norm(X, np.inf, axis=-1),
    "norm matrix 1": lambda X, v, A, B, m: m.linalg.norm(X, 1),
    "norm matrix -inf keepdims": lambda X, v, A, B, m: m.linalg.norm(X, -np.inf, keepdims=True),
    "norm matrix axes": lambda X, v, A, B, m: m.linalg.norm(m.expand_dims(X, 1), np.inf, axis=(2, 0)),
    "pairwise distances": lambda X, v, A, B, m: m.linalg.norm(X[:, None, :] - X[None, :, :] + 0.1, axis=-1),
    "log2": lambda X, v, A, B, m: m.log2(X * X + 1),
    "log10": lambda X, v, A, B, m: m.log10(X * X + 1),
    "exp2": lambda X, v, A, B, m: m.exp2(X),
    "fabs": lambda X, v, A, B, m: m.fabs(X),
    "logaddexp": lambda X, v, A, B, m: m.logaddexp(X * 300, X[:, 0][:, None] * 2),
}
METHODS = {   # ndarray methods on an expression: the same values as on the array
    "trace": lambda a: a.trace(), "diagonal": lambda a: a.diagonal(), "transpose": lambda a: a.transpose(),
    "transpose axes": lambda a: a.transpose(1, 0), "transpose tuple": lambda a: a.transpose((1, 0)),
    "dot": lambda a: a.dot(a), "clip": lambda a: a.clip(-1, 0.5), "clip min": lambda a: a.clip(min=0.0),
    "squeeze": lambda a: a[:, None].squeeze(1), "ravel": lambda a: a.ravel(), "flatten": lambda a: a.flatten(),
    "var": lambda a: a.var(axis=0), "std": lambda a: a.std(ddof=1), "std keepdims": lambda a: a.std(1, keepdims=True),
}


@pytest.mark.parametrize("case", sorted(ROUTED_MORE))
def test_more_numpy_functions_build_expressions_with_numpy_values(case):
    X, v, A, B = _symbols()
    e = ROUTED_MORE[case](X, v, A, B, np)
    want = ROUTED_MORE[case](XV, VV, AV, BV, np)
    got = td.evaluate(e, **{k: VALUES[k] for k in e.free})
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if e.ndim <= 2:
        f = td.sum(td.sin(e))
        for wrt in sorted((s for s in (X, v, A) if s.name in f.free), key=lambda s: s.name):
            result = td.check(f, wrt, **{k: VALUES[k] for k in f.free})
            assert result.max_rel_error < 1e-6, (case, wrt.name, result.max_rel_error)


@pytest.mark.parametrize("case", sorted(METHODS))
def test_ndarray_methods_on_expressions_match_numpys(case):
    A = td.matrix("A_u5", "p p")
    e = METHODS[case](A)
    np.testing.assert_allclose(td.evaluate(e, A_u5=AV), METHODS[case](AV), rtol=1e-12, atol=1e-14)


def test_slogdet_and_ndim():
    A = td.matrix("A_u5", "p p")
    sign, logabs = np.linalg.slogdet(A)
    for value in (AV, -AV[::-1]):
        want = np.linalg.slogdet(value)
        assert td.evaluate(sign, A_u5=value) == want[0]
        assert td.evaluate(logabs, A_u5=value) == pytest.approx(want[1], rel=1e-12)
    np.testing.assert_allclose(td.evaluate(td.grad(logabs, A), A_u5=AV), np.linalg.inv(AV).T, rtol=1e-10)
    assert np.ndim(A) == 2 and np.ndim(A @ A[0]) == 1 and np.ndim(td.trace(A)) == 0


def test_where_with_a_bool_from_an_expression_comparison_is_refused():
    x, y = td.vector("x_u5", "n"), td.vector("y_u5", "n")
    for mask in (x == y, x != y, np.float64(1.0) == x):
        with pytest.raises(td.TensorDiffError, match=r"where: the mask is the bool .* == and != compare the "
                                                     r"expressions themselves .* \(x >= y\) \* \(x <= y\)"):
            td.where(mask, x, y)
        with pytest.raises(td.TensorDiffError, match="the mask is the bool"):
            np.where(mask, x, 0.0)
    both = (x >= y) * (x <= y)                         # the elementwise equality the message suggests
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    np.testing.assert_array_equal(td.evaluate(td.where(both, x, -y), x_u5=xv, y_u5=yv), np.where(xv == yv, xv, -yv))
    assert td.evaluate(td.where(1, x, y), x_u5=xv, y_u5=yv).tolist() == xv.tolist()   # a number still chooses


def test_power_of_a_negative_base_and_a_sqrt_are_nan_as_numpy():
    x = td.vector("x_u5", "n")
    xv = np.array([-4.0, 0.0, 9.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        want_half, want_sqrt = xv ** 0.5, np.sqrt(xv)
    np.testing.assert_array_equal(td.evaluate(x ** 0.5, x_u5=xv), want_half)
    np.testing.assert_array_equal(td.evaluate(np.sqrt(x), x_u5=xv), want_sqrt)
    gradient = td.evaluate(td.grad(td.sum(x ** 0.5), x), x_u5=xv)
    assert np.isnan(gradient[0]) and gradient[1] == np.inf and gradient[2] == pytest.approx(1 / 6)


def test_lists_are_values_on_every_path():
    X, v = td.matrix("X_u5", "n p"), td.vector("v_u5", "p")
    f = td.sum((td.tanh(X) @ v) ** 2)
    objective = td.scipy_objective(f, v, X_u5=XV.tolist())
    assert objective.fun(VV) == pytest.approx(td.evaluate(f, X_u5=XV, v_u5=VV), rel=1e-14)
    with pytest.raises(td.EvaluationError, match="value for 'X_u5' is a ragged list"):
        td.scipy_objective(f, v, X_u5=[[1.0, 2.0], [3.0]])
    np.testing.assert_allclose(np.asarray(td.evaluate(f, X_u5=XV.tolist(), v_u5=list(VV), backend="dask")),
                               td.evaluate(f, X_u5=XV, v_u5=VV), rtol=1e-14)


def test_numpys_defaults_given_explicitly_still_build_the_expression():
    X, v, A, _ = _symbols()
    assert np.sum(X, where=True, dtype=None, out=None, keepdims=False) is td.sum(X)
    assert np.mean(X, 0, where=np.True_) is td.mean(X, 0)
    assert np.trace(A, offset=0) is td.trace(A) and np.diag(v, k=np.int64(0)) is td.diag(v)
    for call, argument in [(lambda: np.sum(X, where=False), "where=False"), (lambda: np.diag(v, True), "k=True"),
                           (lambda: np.trace(A, 1), "offset=1")]:
        with pytest.raises(td.TensorDiffError, match=f"does not take {argument}: only numpy's default"):
            call()
