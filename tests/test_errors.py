"""Bad input raises the right error class, every one a ValueError, naming the culprit."""

import re

import numpy as np
import pytest

import tensordiff as td


def raises(cls, *fragments):
    """pytest.raises(cls) that also checks the class is a ValueError/TensorDiffError and the message
    names every fragment (matched literally)."""
    assert issubclass(cls, td.TensorDiffError) and issubclass(cls, ValueError)
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments)
    return pytest.raises(cls, match=pattern)


def test_error_hierarchy():
    for cls in (td.ShapeError, td.ParseError, td.EvaluationError):
        assert issubclass(cls, td.TensorDiffError)
        assert issubclass(cls, ValueError)
    assert issubclass(td.TensorDiffError, ValueError)


# ---------------------------------------------------------------- declaring symbols

def test_same_name_other_dims_is_a_new_symbol_and_mixing_them_is_shape_error():
    # symbols are values (issue 14): declaring a name again with other dims makes a new symbol
    first = td.matrix("Xdup", "n p")
    second = td.matrix("Xdup", "n q")
    assert second is not first and second.shape == ("n", "q")
    assert td.vector("Xdup", "n").shape == ("n",)
    assert td.tensor("Xdup", ("n", "p", "r")).shape == ("n", "p", "r")
    # the first symbol is untouched, and the same dims still give it
    assert first.shape == ("n", "p")
    assert td.matrix("Xdup", "n p") is first
    assert td.tensor("Xdup", ("n", "p")) is first
    with raises(td.ShapeError, "'Xdup'", "(n, p)", "(n, q)"):
        first.T @ second


def test_redeclaration_while_an_expression_holds_the_symbol():
    expr = td.matrix("Xheld", "n p").T @ td.vector("yheld", "n")   # only the expression holds Xheld
    other = td.matrix("Xheld", "p n")
    assert expr.shape == ("p",) and other.shape == ("p", "n")
    with raises(td.ShapeError, "'Xheld'", "(n, p)", "(p, n)"):
        other @ expr


def test_bad_symbol_declarations():
    with raises(td.ShapeError, "'v2'"):
        td.vector("v2", "n m")
    with raises(td.ShapeError, "'m2'"):
        td.matrix("m2", "n")
    with raises(td.ShapeError, "1x"):
        td.tensor("1x", "n")
    with raises(td.ShapeError, "'1'"):
        td.tensor("bad_dim", "n 1")
    with raises(td.ShapeError, "n m"):
        td.eye("n m")


# ---------------------------------------------------------------- building expressions

@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_mismatched_elementwise_operands(op):
    a, b = td.vector("a_n", "n"), td.vector("b_m", "m")
    ops = {"+": lambda u, v: u + v, "-": lambda u, v: u - v, "*": lambda u, v: u * v, "/": lambda u, v: u / v}
    with raises(td.ShapeError, f"'{op}'", "(n)", "(m)"):
        ops[op](a, b)
    M = td.matrix("M_nm", "n m")
    with raises(td.ShapeError, f"'{op}'", "(n, m)", "(m, n)"):
        ops[op](M, M.T)


def test_mismatched_matmul():
    M = td.matrix("M_nm", "n m")
    a = td.vector("a_n", "n")
    with raises(td.ShapeError, "'@'", "'m'", "'n'"):
        M @ M
    with raises(td.ShapeError, "'@'", "'m'", "'n'"):
        a @ M.T
    with raises(td.ShapeError, "'@'", "'m'", "'n'"):
        M @ a
    with raises(td.ShapeError, "'@'", "(m, n, k)"):
        M @ td.tensor("T3", "m n k")


def test_matrix_functions_need_square_matrices():
    M, a = td.matrix("M_nm", "n m"), td.vector("a_n", "n")
    for fn, name in ((td.inv, "inv"), (td.det, "det"), (td.logdet, "logdet"), (td.trace, "trace"),
                     (td.diagonal, "diagonal")):
        with raises(td.ShapeError, name, "(n, m)"):
            fn(M)
    with raises(td.ShapeError, "inv", "(n)"):
        td.inv(a)
    with raises(td.ShapeError, "diag", "(n, m)"):
        td.diag(M)


def test_bad_sum_axes():
    M = td.matrix("M_nm", "n m")
    with raises(td.ShapeError, "axis 2", "(n, m)"):
        td.sum(M, axis=2)
    with raises(td.ShapeError, "axis -3"):
        td.sum(M, axis=-3)
    with raises(td.ShapeError, "names an axis twice"):
        td.sum(M, axis=(0, -2))
    with raises(td.ShapeError, "axis"):
        td.sum(M, axis=1.0)


def test_arrays_do_not_mix_into_expressions():
    M = td.matrix("M_nm", "n m")
    with raises(td.ShapeError, "ndarray"):
        M + np.ones((2, 3))


def test_expression_exponent_needs_a_positive_base():
    a = td.vector("a_n", "n")
    assert (a ** a) is td.exp(td.log(a) * a)   # issue 12: x ** y for a positive base
    with raises(td.TensorDiffError, "positive base"):
        (-2.0) ** a


# ---------------------------------------------------------------- einsum specs

@pytest.mark.parametrize("spec, fragment", [
    ("ij,jk->ik", "2 operand(s)"),       # names two operands, one given
    ("ij->ii", "'i'"),                   # output letter twice
    ("i$", "'$'"),                       # bad character
    ("ij->k", "'k'"),                    # output letter in no operand
    ("ij->->i", "->"),                   # two arrows
    ("i.j", "ellipsis"),                 # malformed ellipsis
    ("....i", "ellipsis"),
    ("ij-", "'ij-'"),
    ("ij->i.", "'i.'"),                  # stray dot in the output
])
def test_bad_einsum_spec_is_parse_error(spec, fragment):
    M = td.matrix("M_nm", "n m")
    with raises(td.ParseError, fragment):
        td.einsum(spec, M)


def test_einsum_spec_not_a_string():
    with raises(td.ParseError, "string"):
        td.einsum(3, td.matrix("M_nm", "n m"))


def test_einsum_letters_bound_to_two_dims_is_shape_error():
    M = td.matrix("M_nm", "n m")
    with raises(td.ShapeError, "'j'", "'m'", "'n'"):
        td.einsum("ij,jk->ik", M, M)
    with raises(td.ShapeError, "'ijk'"):
        td.einsum("ijk", M)
    with raises(td.ShapeError, "'i'"):
        td.einsum("ii", M)          # a repeated index needs equal dims


# ---------------------------------------------------------------- differentiation

def test_grad_of_non_scalar():   # td.hessian takes any shape, as jax.hessian (test_several_variables.py)
    M, b = td.matrix("M_nm", "n m"), td.vector("b_m", "m")
    with raises(td.ShapeError, "grad", "(n)"):
        td.grad(M @ b, b)
    with raises(td.ShapeError, "hvp", "(n)"):
        td.hvp(M @ b, b, b)
    with raises(td.ShapeError, "grad", "(n, m)"):
        td.grad(M, M)


def test_diff_wrt_non_symbol():
    M, b = td.matrix("M_nm", "n m"), td.vector("b_m", "m")
    with raises(td.TensorDiffError, "symbol", "Einsum"):
        td.diff(M @ b, M @ b)
    with raises(td.TensorDiffError, "symbol", "float"):
        td.diff(M, 3.0)
    with raises(td.TensorDiffError, "symbol", "Add"):
        td.grad(b @ b, b + td.vector("c_m", "m"))
    with raises(td.TensorDiffError, "symbol"):
        td.jacobian(M @ b, "b_m")
    with raises(td.TensorDiffError, "symbol"):
        td.check(b @ b, 2 * b)


@pytest.mark.parametrize("order", [-1, 1.5, True, "2"])
def test_bad_order(order):
    b = td.vector("b_m", "m")
    with raises(td.TensorDiffError, "order"):
        td.diff(b @ b, b, order=order)


def test_user_functions_may_take_builtin_names_but_not_pow():
    assert td.elementwise("exp") is not td.exp and td.elementwise("exp").user   # issue 14: the user's own
    with raises(td.TensorDiffError, "'pow'"):
        td.elementwise("pow")
    with raises(td.TensorDiffError, "'not a name'"):
        td.elementwise("not a name")


# ---------------------------------------------------------------- evaluation

def test_missing_value():
    M, b = td.matrix("M_nm", "n m"), td.vector("b_m", "m")
    with raises(td.EvaluationError, "'b_m'", "(m)"):
        td.evaluate(M @ b, M_nm=np.ones((2, 3)))
    with raises(td.EvaluationError, "'M_nm'", "'b_m'"):
        td.evaluate(M @ b)


def test_value_of_wrong_shape():
    M, b = td.matrix("M_nm", "n m"), td.vector("b_m", "m")
    with raises(td.ShapeError, "'M_nm'", "(3,)", "(n, m)"):
        td.evaluate(M @ b, M_nm=np.ones(3), b_m=np.ones(3))
    with raises(td.ShapeError, "'b_m'"):
        td.evaluate(M @ b, M_nm=np.ones((2, 3)), b_m=np.ones((3, 1)))
    s = td.scalar("s_err")
    with raises(td.ShapeError, "'s_err'"):
        td.evaluate(s * b, s_err=np.ones(3), b_m=np.ones(3))


def test_one_dim_bound_to_two_sizes():
    M, b, a = td.matrix("M_nm", "n m"), td.vector("b_m", "m"), td.vector("a_n", "n")
    with raises(td.ShapeError, "'m'", "3", "4", "'b_m'"):
        td.evaluate(M @ b, M_nm=np.ones((2, 3)), b_m=np.ones(4))
    with raises(td.ShapeError, "'n'", "2", "3"):
        td.evaluate(a + M @ b, M_nm=np.ones((2, 3)), b_m=np.ones(3), a_n=np.ones(3))
    # a square matrix given a non-square value
    A = td.matrix("A_sq", "n n")
    with raises(td.ShapeError, "'n'", "'A_sq'"):
        td.evaluate(td.trace(A), A_sq=np.ones((2, 3)))


def test_value_for_unknown_symbol():
    a = td.vector("a_n", "n")
    with raises(td.EvaluationError, "'zz_unknown'"):
        td.evaluate(a, a_n=np.ones(3), zz_unknown=np.ones(3))


@pytest.mark.parametrize("bad", ["abc", None, {"x": 1.0}, np.array(["x", "y", "z"])])   # bools are numbers: test_bool_values.py
def test_values_that_are_not_numbers(bad):
    a = td.vector("a_n", "n")
    with raises(td.EvaluationError, "'a_n'"):
        td.evaluate(a, a_n=bad)


def test_unknown_dim_size():
    with raises(td.EvaluationError, "'n'"):
        td.evaluate(td.eye("n"))


def test_positional_values_must_be_one_dict():
    a = td.vector("a_n", "n")
    with raises(td.EvaluationError, "dict"):
        td.compile(a)(np.ones(3))
    with raises(td.EvaluationError, "dict"):
        td.evaluate(a, [np.ones(3)])


def test_abstract_function_without_implementation():
    a = td.vector("a_n", "n")
    h = td.elementwise("h_noimpl")
    with raises(td.EvaluationError, "h_noimpl"):
        td.evaluate(h(a), a_n=np.ones(3))
    # the value is given but the derivative's implementation is not
    g = td.grad(td.sum(h(a)), a)
    with raises(td.EvaluationError, "h_noimpl′", "h_noimpl'"):
        td.evaluate(g, a_n=np.ones(3), functions={"h_noimpl": np.tanh})
    with raises(td.EvaluationError, "h_noimpl″"):
        td.evaluate(td.hessian(td.sum(h(a)), a), a_n=np.ones(3),
                    functions={"h_noimpl": [np.tanh, np.cos]})


def test_bound_function_without_second_derivative():
    a = td.vector("a_n", "n")
    g = td.elementwise("g_once", np.tanh, lambda v: 1 - np.tanh(v) ** 2)
    H = td.hessian(td.sum(g(a)), a)
    with raises(td.EvaluationError, "g_once″"):
        td.evaluate(H, a_n=np.ones(3))


@pytest.mark.parametrize("singular", [np.zeros((3, 3)), np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]])])
def test_singular_matrix_under_inv(singular):
    A, a = td.matrix("A_sing", "n n"), td.vector("a_n", "n")
    with raises(td.EvaluationError, "singular", "A_sing"):
        td.evaluate(td.inv(A), A_sing=singular)
    with raises(td.EvaluationError, "singular", "A_sing"):   # planned as a linear solve
        td.evaluate(td.inv(A) @ a, A_sing=singular, a_n=np.ones(3))
    with raises(td.EvaluationError, "singular", "A_sing"):
        td.evaluate(td.logdet(A), A_sing=singular)
    with raises(td.EvaluationError, "singular", "A_sing"):   # inside a derivative
        td.evaluate(td.grad(td.logdet(A), A), A_sing=singular)


def test_errors_are_catchable_as_value_error():
    a = td.vector("a_n", "n")
    with pytest.raises(ValueError):
        td.evaluate(a)
    with pytest.raises(ValueError):
        a + td.vector("b_m", "m")
    with pytest.raises(ValueError):
        td.einsum("i->ii", a)


def test_user_function_must_keep_the_shape():
    M = td.matrix("M", "n p")
    with pytest.raises(td.EvaluationError, match=r"function zs returned an array of shape \(2,\) for an argument "
                                                 r"of shape \(2, 2\)"):
        td.evaluate(td.elementwise("zs")(M), M=np.ones((2, 2)), functions={"zs": lambda v: v[0]})
    # a constant (h'(x) = 1 written as lambda v: 1.0) is that constant everywhere
    np.testing.assert_array_equal(td.evaluate(td.elementwise("zc")(M), M=np.ones((2, 3)),
                                              functions={"zc": lambda v: 3.0}), np.full((2, 3), 3.0))


def test_empty_summed_dim_gives_zeros():
    # the Gram product (MᵀM through syrk) reshaped with -1, which an empty dim makes ambiguous
    M, v = td.matrix("M", "n p"), td.vector("v", "n")
    np.testing.assert_array_equal(td.evaluate(M.T @ M, M=np.ones((0, 2))), np.zeros((2, 2)))
    weighted = td.einsum("ki,k,kj->ij", M, v, M)
    np.testing.assert_array_equal(td.evaluate(weighted, M=np.ones((0, 3)), v=np.ones(0)), np.zeros((3, 3)))


def test_a_symbol_kept_only_by_garbage_cycles_can_be_redeclared():
    # which dims a name has is decided by the live symbol; uncollected cyclic garbage (an old
    # traceback, a closure cycle) holding it made the next test's declaration fail at random
    import gc
    gc.disable()
    try:
        cycle = [td.matrix("X_cycle", "n p") @ td.vector("w_cycle", "p")]
        cycle.append(cycle)
        del cycle
        assert td.matrix("X_cycle", "n d").dims == ("n", "d")
    finally:
        gc.enable()


def test_values_whose_meaning_would_be_lost_are_refused():
    x, s = td.vector("x", "n"), td.scalar("s")
    with pytest.raises(td.EvaluationError, match="masked array, whose mask would be ignored"):
        td.evaluate(td.sum(x), x=np.ma.masked_array([0.5, -1.2, 2.0], [True, False, False]))
    with pytest.raises(td.EvaluationError, match="masked array"):
        td.evaluate(s * x, x=np.ones(3), s=np.ma.masked)
    with pytest.raises(td.EvaluationError, match=r"'x' is complex \(complex128\)"):
        td.evaluate(td.norm(x), x=np.array([1j, 1.0, 0.0]))      # numpy's norm is 1.414; Σx² gives 0
    with pytest.raises(td.EvaluationError, match="'s' is an int too large for float64"):
        td.evaluate(s * x, x=np.ones(3), s=10 ** 400)


def test_linear_solves_over_an_empty_dim():
    A, y, X, lam = td.matrix("A", "n n"), td.vector("y", "n"), td.matrix("X", "m p"), td.scalar("lam")
    assert td.evaluate(td.inv(A) @ y, A=np.eye(0), y=np.ones(0)).shape == (0,)
    b = td.vector("b", "m")
    ridge = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ b
    assert td.evaluate(ridge, X=np.zeros((5, 0)), b=np.ones(5), lam=1.0).shape == (0,)
    assert td.evaluate(td.diff(ridge, X), X=np.zeros((5, 0)), b=np.ones(5), lam=1.0).shape == (0, 5, 0)


def test_wrong_types_in_evaluation_arguments_are_our_errors():
    x, h = td.vector("x", "n"), td.elementwise("h_types")
    f, g = td.sum(h(x)), td.grad(td.sum(h(x)), x)
    ones = np.ones(2)
    cases = [
        (lambda: td.evaluate(f, x=ones, functions=[np.cos]), "functions must be a dict"),
        (lambda: td.evaluate(f, x=ones, functions="h_types"), "functions must be a dict"),
        (lambda: td.evaluate(f, x=ones, functions={"h_types": 3}), r"functions\['h_types'\] must be a callable"),
        (lambda: td.evaluate(g, x=ones, functions={"h_types": [np.sin, "cos"]}), r"\[1\] must be callable"),
        (lambda: td.evaluate(f, x=ones, functions={"h_types": lambda v: None}), "returned ndarray .*not an array of numbers"),
        (lambda: td.evaluate(f, x=ones, functions={"h_types": lambda v: "a"}), "not an array of numbers"),
        (lambda: td.evaluate(td.sum(x), {2 * x: ones}), "keyed by symbol names or symbols"),
        (lambda: x[np.array([0, 1])], "not index or boolean arrays"),
        (lambda: x[[True, False]], "not index or boolean arrays"),
        (lambda: x * 10 ** 400, "an int of 401 digits is too large"),
        (lambda: td.inv(10 ** 400), "too large for a float64 constant"),
    ]
    for build, message in cases:
        with pytest.raises(td.TensorDiffError, match=message):
            build()
    assert td.evaluate(td.sum(x), {x: ones}) == 2.0        # a symbol as the key stands for its name


def test_numpy_integers_count_as_ints_and_numbers_simplify_to_constants():
    x = td.vector("x", "n")
    assert td.diff(td.sum(x ** 3), x, order=np.int64(2)).shape == ("n", "n")
    assert td.check(td.sum(x ** 3), x, order=np.int32(2)).max_rel_error < 1e-6
    assert td.evaluate(td.sum(x), x=np.ones(3), memory_limit=np.int64(10 ** 9)) == 3.0
    assert td.cost(td.sum(x), n=np.int64(5)).shapes == [()]
    for order in (np.bool_(True), 2.0):
        with pytest.raises(td.TensorDiffError, match="order must be a non-negative int"):
            td.diff(x, x, order=order)
    assert td.simplify(2.0) is td.simplify(td.sum(x) * 0 + 2.0)
    with pytest.raises(td.TensorDiffError, match="cannot use NoneType"):
        td.simplify(None)


def test_user_functions_cannot_change_the_callers_arrays_or_replace_built_ins():
    x, h = td.vector("x", "n"), td.elementwise("h_inplace")

    def increments_in_place(v):
        v += 1
        return v

    values = np.ones(3)
    with pytest.raises(ValueError, match="read-only"):
        td.evaluate(td.sum(h(x)), x=values, functions={"h_inplace": increments_in_place})
    np.testing.assert_array_equal(values, np.ones(3))
    assert td.evaluate(td.sum(h(x)), x=values, functions={"h_inplace": lambda v: v + 1}) == 6.0
    with pytest.raises(td.EvaluationError, match="'tanh' is built in"):
        td.evaluate(td.sum(td.tanh(x)), x=values, functions={"tanh": np.sin})   # tanh's derivative rule stays
