"""The compiled reader of syntax (_kernelparse.pxi) against parsesyntax.Parser, its pure-Python twin.

Where the compiled reader reads a text it must make the very syntax nodes the Parser makes: the
same kinds, values, source spans and keys, in the same order, with children alike; where it does
not (bad text, rarer words), it must say so, and the Parser reads the text, so every error message
is the Parser's. Checked on every string of the parse tests and on random text, valid and not.
"""

import ast
import pathlib
import random

import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.errors import TensorDiffError
from tensordiff.parsesyntax import Parser
from tensordiff.parsewords import name_class

COMPILED = kernels.syntax_reader() or getattr(kernels._compiled, "read_syntax", None)
pytestmark = pytest.mark.skipif(COMPILED is None, reason="the compiled kernels are not built: the Parser reads all")
TESTS = pathlib.Path(__file__).parent


def _twin(text):
    """The Parser's nodes of ``text``, or the exception it raises."""
    try:
        parser = Parser(text)
        parser.parse()
    except (TensorDiffError, RecursionError) as exc:
        return exc
    return parser.keys.order


def _compiled(text):
    """The compiled reader's nodes of ``text``, or None where it leaves the text to the Parser."""
    from tensordiff.parsesyntax import _Keys, _Node   # the twin's own classes, as read_syntax passes them
    keys = _Keys()
    return keys.order if COMPILED(text, keys, keys.order, _Node, name_class) else None


def _outline(node, depth):
    """What typing and building read of a node: its spans, and its children's kinds, keys and values
    (a child the Parser took from an earlier reading keeps that reading's operator positions, which
    nothing reads: a child's operators are compared without them)."""
    value = node.value
    if depth and node.kind in ("sum", "chain", "compare"):
        value = [op for op, _ in value]
    own = (node.kind, node.key, repr(value), type(node.kids))
    if depth < 2:
        own += (node.pos, node.start, node.end)
    return own + tuple(_outline(kid, depth + 1) for kid in node.kids)


def check_same(text):
    """Whether the compiled reader read ``text`` (it must then agree with the Parser exactly)."""
    twin, compiled = _twin(text), _compiled(text)
    if compiled is None:
        return False
    assert not isinstance(twin, BaseException), (text, twin)
    assert [_outline(node, 0) for node in compiled] == [_outline(node, 0) for node in twin], text
    return True


def corpus():
    """Every string constant of the parse tests (texts, good and bad, and some that are no text)."""
    texts = set()
    for path in sorted(TESTS.glob("test_parse*.py")) + [TESTS / "test_grammar.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 5000:
                texts.add(node.value)
    return sorted(texts)


def test_the_parse_tests_texts_read_alike():
    texts = corpus()
    read = sum(check_same(text) for text in texts)
    assert len(texts) > 300 and read > 100, (len(texts), read)


def test_a_bad_text_is_left_to_the_parser():
    for text in ["", "  ", "x +", "(x", "x)", "2x", "1e", "1.2.3", "x @ y", "α*x", "x ** 2", "tanh x", "f(x)",
                 "tanh(x, y)", "sum(X, 3)", "where(a, b)", "x^y", "eye", "vector(1)", "size(X, 1)", "True*x",
                 "user.h(x)", "x^(y)", "-", "x'(y)", "1e999", "((((x))))" + ")"]:
        assert _compiled(text) is None, text


def test_nesting_deeper_than_max_depth_is_left_to_the_parser():
    assert check_same("(" * 64 + "x" + ")" * 64)
    assert _compiled("(" * 65 + "x" + ")" * 65) is None
    assert _compiled("tanh(" * 65 + "x" + ")" * 65) is None
    piece = "(" * 40 + "x + y" + ")" * 40   # read at depth 40, then again 30 deeper: no longer taken as read
    assert check_same(piece + " + " + "(" * 20 + piece + ")" * 20 + " + " + piece)
    assert _compiled(piece + " + " + "(" * 30 + piece + ")" * 30) is None
    assert _compiled("x*y + tanh(a*b + c*d) + " + "(" * 30 + "tanh(a*b + c*d)" + ")" * 30 + " + x*y") is not None


WORDS = ["x", "y", "A", "B", "x1", "b_2", "lam", "tanh", "exp", "sum", "max", "maximum", "where", "tr", "inv",
         "diag", "kron", "eye", "I", "vector", "size", "True", "polygamma1", "user", "e", "E"]
PIECES = ["+", "-", "*", "/", "^", ".^", ".*", "./", "'", ".'", "(", ")", ",", "<", "<=", ">", ">=", " ", "  ",
          "1", "2", "0.5", "1.", ".5", "2e-3", "1E+2", "3e", "\n", "\t", ".", "=", "@"]


def _expression(rng, depth=0):
    """A random text of the grammar's common part (and now and then something else)."""
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        return rng.choice(["x", "y", "A", "B", "b1", "lam", "2", "0.5", "1e-3", "3."]) + "'" * rng.randint(0, 2) * (
            roll < 0.1)
    if roll < 0.5:
        op = rng.choice([" + ", "-", "*", ".*", "./", "/", " < ", ">=", "+-", "*-"])
        return _expression(rng, depth + 1) + op + _expression(rng, depth + 1)
    if roll < 0.6:
        return rng.choice(["-", "+", "--"]) + _expression(rng, depth + 1)
    if roll < 0.7:
        return "(" + _expression(rng, depth + 1) + ")" + rng.choice(["", "'", ".'", "''", "^2", ".^-1", "^(0.5)"])
    if roll < 0.85:
        return rng.choice(["tanh", "exp", "tr", "inv", "sum", "diag", "max"]) + "(" + _expression(rng, depth + 1) + (
            rng.choice([", 1", ", 2"]) if rng.random() < 0.2 else "") + ")"
    if roll < 0.95:
        args = ", ".join(_expression(rng, depth + 1) for _ in range(rng.choice([2, 2, 3])))
        return rng.choice(["maximum", "where", "kron", "tprod"]) + "(" + args + ")"
    return rng.choice(["eye", "vector(1)", "size(X, 1)", "x^y", "h'(x)", "True"])


def test_random_expressions_read_alike():
    rng = random.Random(16)
    read = sum(check_same(_expression(rng)) for _ in range(3000))
    assert read > 1500, read


def test_random_token_soup_reads_alike():
    rng = random.Random(4)
    read = 0
    for _ in range(4000):
        text = "".join(rng.choice(WORDS if rng.random() < 0.4 else PIECES) for _ in range(rng.randint(1, 12)))
        read += check_same(text)
    assert read > 200, read


@pytest.mark.parametrize("text", ["inv(X'*X + lam*eye)*X'*y", "1.5*tanh(A1*x1 + b1)'*B*y - tr(C1'*A*B) + "
                                  "2.5*tanh(A2*x2 + b2)'*B*y - tr(C2'*A*B)", "sum(exp(W*x), 1) + x'*x",
                                  "maximum(x, 0) .* y - softmax(z) ./ 2", "x'*(A + A')*x < 3"])
def test_parse_gives_the_same_expression_either_way(text):
    compiled = td.parse(text)
    previous = kernels.use_compiled(False)
    try:
        assert kernels.syntax_reader() is None
        assert td.parse(text) is compiled
    finally:
        kernels.use_compiled(previous)


@pytest.mark.parametrize("text", ["x +* y", "inv(X'*X", "2x + y", "A*x + B", "tanh(x, y)", "x ×  y"])
def test_error_messages_are_the_parsers_either_way(text):
    messages = []
    for flag in (True, False):
        previous = kernels.use_compiled(flag)
        try:
            with pytest.raises(TensorDiffError) as info:
                td.parse(text, A="n n", B="p p")
            messages.append(str(info.value))
        finally:
            kernels.use_compiled(previous)
    assert messages[0] == messages[1]


@pytest.mark.parametrize("family", ["distinct", "repeated", "nested"])
def test_long_texts_read_alike(family):
    """Thousands of nodes (keys past any small-number cache), repeats the Parser takes from earlier readings."""
    if family == "distinct":
        text = " + ".join(f"{k % 7 + 1}.5*tanh(A{k}*x{k} + b{k})'*B*y - tr(C{k}'*A*B)" for k in range(400))
    elif family == "repeated":
        text = " + ".join(f"{k % 3 + 1}.5*tanh(A*x + b{k % 8})'*B*y - tr(A'*A*B) + w'*(A*z)" for k in range(400))
    else:
        inner = "x"
        for _ in range(30):
            inner = f"tanh(A*({inner}) + b)"
        text = " + ".join([f"sum({inner})", f"max({inner})"] * 50)
    assert check_same(text)
    assert len(_compiled(text)) > (2000 if family == "distinct" else 60)
