"""The parser reads repeated text once (textspans.py) and reads tokens in linear time.

The work is counted (tokens scanned, syntax nodes made), never timed: reading a text twice as
long, or the same terms repeated twice as often, must not cost more than twice the tokens.
"""

import importlib

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.textspans import closing_parens, operand_end

syntax_module = importlib.import_module("tensordiff.parsesyntax")


def scanned(monkeypatch, text, **dims):
    """(the expression, how many tokens the parser scanned, how many syntax nodes it made)."""
    counts = {"tokens": 0, "nodes": 0}
    scan, node_init = syntax_module.Parser.scan, syntax_module._Node.__init__

    def counted_scan(self, pos):
        counts["tokens"] += 1
        return scan(self, pos)

    def counted_node(self, *args, **kwargs):
        counts["nodes"] += 1
        node_init(self, *args, **kwargs)

    monkeypatch.setattr(kernels, "_read_syntax", None)   # the Python parser's work is counted, not the compiled reader's
    monkeypatch.setattr(syntax_module.Parser, "scan", counted_scan)
    monkeypatch.setattr(syntax_module._Node, "__init__", counted_node)
    try:
        return td.parse(text, **dims), counts["tokens"], counts["nodes"]
    finally:
        monkeypatch.undo()


DIMS = dict(A="n n", B="n n", x="n", y="n", w="n", z="n") | {f"b{k}": "n" for k in range(8)}


def repeated_text(count):
    terms = [f"{k % 3 + 1}.5*tanh(A*x + b{k % 8})'*B*y - tr(A'*A*B) + w'*(A*z)" for k in range(count)]
    return " + ".join(terms)


def distinct_text(count):
    return " + ".join(f"{k % 7 + 1}.5*tanh(A{k}*x{k} + b{k})'*B*y - tr(C{k}'*A*B)" for k in range(count))


def test_repeated_terms_are_scanned_once(monkeypatch):
    # 24 distinct terms (k % 3 and k % 8), then only repeats: each repeated term, three sum operands,
    # costs its three operators and the token after each operand, whatever its length
    _, tokens_100, nodes_100 = scanned(monkeypatch, repeated_text(100), **DIMS)
    _, tokens_400, nodes_400 = scanned(monkeypatch, repeated_text(400), **DIMS)
    per_term = (tokens_400 - tokens_100) / 300
    assert per_term <= 6, per_term
    assert nodes_400 == nodes_100   # the 24 distinct terms' nodes and the one sum: repeats make none
    assert tokens_100 < len(syntax_module.tokenize(repeated_text(100))) / 2


def test_a_text_twice_as_long_costs_at_most_twice_the_tokens(monkeypatch):
    _, tokens_200, _ = scanned(monkeypatch, distinct_text(200))
    _, tokens_400, _ = scanned(monkeypatch, distinct_text(400))
    assert tokens_400 <= 2 * tokens_200 + 10
    nested = "x"
    for _ in range(20):
        nested = f"tanh(A*({nested}) + b)"
    _, one, _ = scanned(monkeypatch, f"sum({nested})", A="n n", x="n", b="n")
    _, many, _ = scanned(monkeypatch, " + ".join([f"sum({nested})"] * 200), A="n n", x="n", b="n")
    assert many <= one + 3 * 200


def test_repeated_text_parses_to_the_expression_read_token_by_token():
    # the same text with its repeats spelt apart (a space moved) is read in full: the same node
    term = "2.5*tanh(A*x + b0)'*B*y - tr(A'*A*B)"
    spelt_apart = term.replace("A*x", "A* x")
    repeated = td.parse(" + ".join([term, term, f"({term})", f"({term})"]), **DIMS)
    read_in_full = td.parse(" + ".join([term, spelt_apart, f"({term})", f"( {term})"]), **DIMS)
    assert repeated is read_in_full
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    assert td.parse("A*x + (x'*A')'", **DIMS) is 2 * (A @ x)
    assert td.parse("x - x - x", x="n") is -x
    assert td.parse("-x + -x - -x", x="n") is -x
    assert td.parse("x^-1 + x^-1 + 1e-5 + 1e-5", x="") is 2 * td.scalar("x") ** -1.0 + 2e-5
    assert td.parse("sum(A*x) + sum(A*x) > sum(A*x)", **DIMS) is td.parse("sum(A*x) + sum(A* x) > sum(A *x)", **DIMS)


def test_identities_in_repeated_text_are_sized_each_by_its_own_surroundings():
    e = td.parse("x'*(2*eye)*x + y'*(2*eye)*y + x'*(2*eye)*x", x="n", y="p")
    x, y = td.vector("x", "n"), td.vector("y", "p")
    assert e is 4 * (x @ x) + 2 * (y @ y)
    ones = td.parse("x'*(vector(1)) + y'*(vector(1))", x="n", y="p")
    assert ones is td.sum(x) + td.sum(y)


def test_a_repeated_group_read_deeper_than_the_limit_still_fails():
    inner = "(" * 60 + "x" + ")" * 60
    td.parse(inner, x="n")
    with pytest.raises(td.ParseError, match="nested more than 64 levels"):
        td.parse(f"{inner} + " + "(" * 10 + inner + ")" * 10, x="n")
    with pytest.raises(td.ParseError, match="nested more than 64 levels"):
        td.parse(f"tanh({inner}) + " + "exp(" * 10 + f"tanh({inner})" + ")" * 10, x="n")


def test_errors_after_repeated_text_point_at_their_column():
    term = "tanh(A*x + b0)'*B*y"
    text = f"{term} + {term} + {term} * * y"
    with pytest.raises(td.ParseError) as info:
        td.parse(text, **DIMS)
    assert info.value.args[0].splitlines()[-1].index("^") - 2 == text.index("* * y") + 2
    with pytest.raises(td.ShapeError) as info:
        td.parse(f"{term} + {term} + sum((A*x)*B)", **DIMS)
    assert info.value.args[0].splitlines()[-1].index("^") - 2 == len(f"{term} + {term} + sum((A*x)")


def test_a_bad_character_is_reported_before_a_syntax_error_earlier_in_the_text():
    # the tokens are read as the parser goes, but a bad character anywhere is the error, as before
    with pytest.raises(td.ParseError, match="unexpected character 'α'"):
        td.parse("x + ) + α", x="n")
    with pytest.raises(td.ParseError, match="bad number '2x'"):
        td.parse("x + + * 2x", x="n")


def test_spans_of_groups_and_sum_operands():
    text = "(a + (b)) - c)"
    assert closing_parens(text) == {0: 8, 5: 7}
    assert operand_end("2*(x + y) - z", 0, closing_parens("2*(x + y) - z")) == 10
    for text, end in [("a*-b + c", 5), ("x^-1 - y", 5), ("1e-5 + y", 5), ("-x + y", 3), ("f(x, y)", 7),
                      ("x > y", 2), ("x", 1), ("(x", 2)]:
        assert operand_end(text, 0, closing_parens(text)) == end, text


def test_long_repeated_text_evaluates_as_its_terms():
    text = repeated_text(120)
    e = td.parse(text, **DIMS)
    rng = np.random.default_rng(3)
    values = {name: rng.standard_normal((3, 3) if name in "AB" else 3) for name in DIMS}
    fns = {"tanh": np.tanh}
    A, B = values["A"], values["B"]
    expected = sum((k % 3 + 1.5) * fns["tanh"](A @ values["x"] + values[f"b{k % 8}"]) @ B @ values["y"]
                   - np.trace(A.T @ A @ B) + values["w"] @ (A @ values["z"]) for k in range(120))
    assert np.isclose(td.evaluate(e, **values), expected)
