"""The text grammar of issue 12 item 7: norm1, vector(c)/matrix(c), a^b with an expression
exponent, the new function words, matrixcalculus.org's naming convention, user.<name>, and the
CLI's line of inferred dims."""

import re

import numpy as np
import pytest

import tensordiff as td
from tensordiff.cli import main
from tensordiff.expr import Var, topological
from tensordiff.functions import FUNCTIONS
from tensordiff.parse import parse
from tensordiff.testing import numeric_diff, random_values

SIZES = {"n": 4, "p": 3, "q": 5}


def symbols(expr):
    return {node.name: node.dims for node in topological([expr]) if isinstance(node, Var)}


def value_of(text, formula, sizes=SIZES, positive=(), **dims):
    expr = parse(text, **dims)
    values = random_values([expr], sizes, seed=3)
    for name in positive:
        values[name] = np.abs(values[name]) + 0.5
    np.testing.assert_allclose(td.evaluate(expr, values), formula(values), rtol=1e-12, atol=1e-14, err_msg=text)
    return expr


# ---------------------------------------------------------------- norm1, vector(c), matrix(c)

def test_norm1_is_the_sum_of_absolute_values():
    e = value_of("norm1(X*w - y)", lambda v: np.abs(v["X"] @ v["w"] - v["y"]).sum())
    assert symbols(e) == {"X": ("n", "p"), "w": ("p",), "y": ("n",)} and e.shape == ()
    assert e is td.sum(td.abs(td.matrix("X", "n p") @ td.vector("w", "p") - td.vector("y", "n")))
    value_of("norm1(A)", lambda v: np.abs(v["A"]).sum())


def test_vector_and_matrix_of_a_number_are_sized_by_their_use():
    e = value_of("vector(1)'*X*vector(1)", lambda v: v["X"].sum())
    assert symbols(e) == {"X": ("n", "p")}
    value_of("X + matrix(2)", lambda v: v["X"] + 2)
    value_of("x'*vector(-0.5)", lambda v: -0.5 * v["x"].sum())
    e = value_of("A*vector(1)", lambda v: v["A"].sum(axis=1))
    assert e.shape == ("n",)
    e = parse("vector(3)")
    assert e.ndim == 1   # alone, its size is left open; beside a vector it takes that vector's size
    assert td.evaluate(e + td.vector("zz", e.shape[0]), zz=np.zeros(2)).tolist() == [3.0, 3.0]


@pytest.mark.parametrize("text, fragment", [
    ("vector", "vector takes a number"), ("matrix(x)", "matrix takes a number"), ("vector(1", "vector takes"),
    ("vector()", "vector takes"),
])
def test_vector_and_matrix_need_a_number(text, fragment):
    with pytest.raises(td.ParseError, match=fragment):
        parse(text)


# ---------------------------------------------------------------- a^b

def test_a_power_with_an_expression_exponent():
    e = value_of("a^b", lambda v: v["a"] ** v["b"], positive="a")
    assert symbols(e) == {"a": (), "b": ()}
    value_of("2^(a + b)", lambda v: 2.0 ** (v["a"] + v["b"]))
    value_of("a^-b", lambda v: v["a"] ** -v["b"], positive="a")
    value_of("x.^y", lambda v: v["x"] ** v["y"], positive="x")
    value_of("X.^c", lambda v: v["X"] ** v["c"], positive="X")
    value_of("exp(c)^(d*2)", lambda v: np.exp(v["c"]) ** (2 * v["d"]))
    # a number exponent is still a constant power: x^2 stays x², derivative 2x, at any x
    assert parse("a^2") is td.scalar("a") ** 2


def test_expression_exponents_differentiate_at_orders_1_to_3():
    e = parse("sum(x.^(A*w))", A="n p")
    x = td.vector("x", "n")
    values = random_values([e], SIZES, seed=5)
    values["x"] = np.abs(values["x"]) + 0.5
    lower = e
    for _order in (1, 2, 3):
        higher = td.diff(lower, x)
        np.testing.assert_allclose(td.evaluate(higher, values), numeric_diff(lower, x, values, eps=1e-5),
                                   rtol=1e-6, atol=1e-7)
        lower = higher


def test_expression_powers_print_as_powers_and_read_back():
    x, y, a, b = td.vector("x", "n"), td.vector("y", "n"), td.scalar("a"), td.scalar("b")
    for e, text in [(x ** y, "x.^y"), (a ** b, "a^b"), (x ** (y + 1), "x.^(1 + y)"),
                    (td.sum(x ** y) * a ** b, "a^b*sum(x.^y)")]:
        assert td.matrix_notation(e) == text
        assert parse(text, x="n", y="n") is e


@pytest.mark.parametrize("text, error, fragment", [
    ("a^X", td.ShapeError, "'^' takes a scalar exponent"),
    ("X^a", td.ShapeError, "'^' raises a scalar"),
    ("(-2)^a", td.ParseError, "positive base"),
    ("a^", td.ParseError, "expected an operand"),
    ("a^(b", td.ParseError, "unclosed"),
    ("X.^Y'", td.ShapeError, "'.^' needs operands of one shape"),
])
def test_bad_powers(text, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)) as info:
        parse(text, Y="n p", X="n p")
    assert str(info.value).splitlines()[-1].strip() == "^"


# ---------------------------------------------------------------- function words

@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_of_the_table_is_a_word(name):
    fn = FUNCTIONS[name]
    e = parse(f"{name}(X)")
    assert e is fn(td.matrix("X", "n p"))
    assert parse(td.matrix_notation(e), X="n p") is e


def test_polygamma_words_read_back():
    x = td.vector("x", "n")
    second = td.diff(td.digamma(x), x)   # polygamma1(x) on the diagonal
    assert "polygamma1(x[i])" in str(second)
    assert parse("polygamma2(x)", x="n") is td.polygamma(2, x)
    with pytest.raises(td.ParseError, match="needs parentheses"):
        parse("polygamma3 + 1")


# ---------------------------------------------------------------- a-g scalars, h-z vectors, A-Z matrices

@pytest.mark.parametrize("text, dims", [
    ("x", {"x": ("n",)}),
    ("a", {"a": ()}),
    ("X", {"X": ("n", "p")}),
    ("a*x + b", {"a": (), "x": ("n",), "b": ("n",)}),   # b beside a vector is decided by its use
    ("exp(-z)", {"z": ("n",)}),
    ("x1 + x_2", {"x1": ("n",), "x_2": ("n",)}),
    ("lam*w'*w", {"lam": (), "w": ("n",)}),             # a longer name is not a letter: it stays a scalar
    ("s*X", {"s": (), "X": ("n", "p")}),                # a vector s could not scale X: a scalar after all
    ("x*y", {"x": ("n",), "y": ()}),                    # not both: the first name that fits is the vector
    ("t^2 + u", {"t": (), "u": ("n",)}),                # t is raised with ^: a scalar; u is open
    ("sum(a)", {"a": ("n",)}),                          # use decides for a-g too
])
def test_the_naming_convention_decides_what_the_uses_leave_open(text, dims):
    assert symbols(parse(text)) == dims


def test_declared_dims_override_the_convention():
    assert symbols(parse("x + 1", x="")) == {"x": ()}
    assert symbols(parse("a + 1", a="n")) == {"a": ("n",)}


def test_many_open_names_parse_in_bounded_time():
    text = "*".join(f"x{k}" for k in range(400))   # they cannot all be vectors: tried one by one, bounded
    assert parse(text).shape in ((), ("n",))


# ---------------------------------------------------------------- user.<name>

def test_user_prefix_reads_a_user_function_even_one_named_like_a_builtin():
    mine = td.elementwise("exp", np.sin, np.cos)
    x = td.vector("x", "n")
    assert parse("user.exp(x) + exp(x)", x="n") is mine(x) + td.exp(x)
    assert parse("user.exp'(x)", x="n") is mine.derivative(x)


@pytest.mark.parametrize("text, fragment", [
    ("user.nothing_declared(x)", "none is declared"),
    ("user.exp + 1", "called as user.exp"),
])
def test_bad_user_prefix(text, fragment):
    td.elementwise("exp")
    with pytest.raises(td.ParseError, match=fragment):
        parse(text)


# ---------------------------------------------------------------- the CLI

def test_cli_prints_the_inferred_dims_on_a_comment_line(capsys):
    assert main(["inv(X'*X + alpha*eye)*X'*y", "--wrt", "alpha"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# X: (n, p), alpha: scalar, y: (n)"
    assert main(["x'*A*x", "--wrt", "x", "--format", "latex"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "% x: (n), A: (n, n)"
    assert main(["gelu(X*w) + arctan(c)^d + norm1(w)", "--wrt", "w", "--format", "numpy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# X: (n, p), w: (p), c: scalar, d: scalar\n")
    namespace = {}
    exec(out, namespace)   # the comment line keeps it valid Python
