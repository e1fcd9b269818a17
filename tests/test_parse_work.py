"""Work counts of td.parse on long text of distinct terms (issue 16: a parser linear in its text with
a small constant): tokens scanned, passes of shape inference, canonicalisations and nodes made per
term, counted rather than timed, so that a change that adds work per term fails here. Also: the
order the parser records its nodes in is the post-order of the syntax tree, one node per key."""

import importlib
import itertools
import random

import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.expr import Add, Apply, Einsum, Var
from tensordiff.parsesyntax import Parser, tokenize

einsum_module = importlib.import_module("tensordiff.einsumnodes")
build_module = importlib.import_module("tensordiff.parsebuild")
shapes_module = importlib.import_module("tensordiff.parseshapes")
syntax_module = importlib.import_module("tensordiff.parsesyntax")

fresh = itertools.count()


def distinct_text(terms):
    """benchmarks/scaling.py's "distinct" family: every term holds four new symbols."""
    run = next(fresh)
    return " + ".join(f"{k % 7 + 1}.5*tanh(A{run}_{k}*x{run}_{k} + b{run}_{k})'*B*y - tr(C{run}_{k}'*A*B)"
                      for k in range(terms))


class Counts:
    """Calls of the parser's scanner, of shape-inference passes, of canonical products and of each
    node class's constructor (a node made, not found interned)."""

    def __init__(self, monkeypatch):
        self.calls = dict.fromkeys(["scan", "pass", "canonical", "Var", "Einsum", "Add", "Apply"], 0)
        monkeypatch.setattr(kernels, "_read_syntax", None)   # the Python parser's scans are counted
        self.wrap(monkeypatch, syntax_module.Parser, "scan", "scan")
        self.wrap(monkeypatch, shapes_module._Pass, "run", "pass")
        self.wrap(monkeypatch, einsum_module, "_canonical_einsum", "canonical")
        for cls in (Var, Einsum, Add, Apply):
            self.wrap(monkeypatch, cls, "_init", cls.__name__)

    def wrap(self, monkeypatch, owner, name, counter):
        inner = getattr(owner, name)

        def counted(*args, **kwargs):
            self.calls[counter] += 1
            return inner(*args, **kwargs)
        monkeypatch.setattr(owner, name, counted)

    def of(self, text):
        before = dict(self.calls)
        expr = td.parse(text)
        return {key: self.calls[key] - before[key] for key in self.calls}, expr


def test_parsing_distinct_terms_does_a_fixed_amount_of_work_per_term(monkeypatch):
    counts = Counts(monkeypatch)
    shared = td.parse(distinct_text(1))   # A, B and y alive through both: each text makes only its own
    small, _ = counts.of(distinct_text(100))
    large, expr = counts.of(distinct_text(200))
    assert expr.shape == () and len(expr.terms) == 400
    per_term = {key: (large[key] - small[key]) / 100 for key in large}
    one_term = distinct_text(1)
    # each token is scanned once: the term's own (tokenize adds an "end") and the "+" joining it to the
    # sum; the one after C_k' twice, as the parser looks past a name's ' for a call h'(x)
    assert per_term["scan"] <= (len(tokenize(one_term)) - 1) + 1 + 1
    # new nodes per term: its four symbols A_k, x_k, b_k, C_k; A_k*x_k; + b_k; tanh; the product of
    # the first half; the trace and its negation (the sum of the terms is one node for the whole text)
    made = {"Var": 4, "Einsum": 4, "Add": 1, "Apply": 1}
    assert all(per_term[cls] <= made[cls] for cls in made), per_term
    assert per_term["Var"] == 4   # each term's own symbols are new: the counts above count what is made
    # one canonicalisation per product: A_k*x_k, the first half's chain and the trace
    assert per_term["canonical"] <= 3
    # passes of shape inference do not grow with the text: one finds that x_k and y are vectors, the
    # next that b_k (added to the vector A_k*x_k) is one too, the last types the text
    assert small["pass"] == large["pass"] <= 3
    assert {"A", "B", "y"} <= shared.free


def reference_postorder(root):
    """The nodes under ``root``, children first, each key once (the first in the text)."""
    order, stack, seen = [], [(root, False)], set()
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node.key not in seen:
            seen.add(node.key)
            stack.append((node, True))
            stack.extend((kid, False) for kid in reversed(node.kids))
    return order


def random_text(rng, depth):
    """Matrix notation over a few names, repeats (read once, reused), identities and ones included."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(["A", "B", "x", "y", "s", "eye", "vector(1)", "2.5", "(A*x + y)", "tanh(B'*x)",
                           "vector(1, size(n))", "size(n)*x", "s*size(s)"])
    pick = rng.randrange(8)
    a, b = random_text(rng, depth - 1), random_text(rng, depth - 1)
    return [f"{a} + {b}", f"{a}*{b}", f"({a})'", f"exp({a})", f"{a} - ({b})", f"{a}.*{b}", f"-{a}",
            f"{a}^2"][pick]


def test_the_parsers_order_is_the_post_order_of_its_tree():
    rng = random.Random(16)
    checked = 0
    for _ in range(400):
        text = " + ".join(random_text(rng, 4) for _ in range(rng.randint(1, 4)))
        parser = Parser(text)
        try:
            root = parser.parse()
        except td.ParseError:
            continue
        assert parser.keys.order == reference_postorder(root), text
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("text", ["(A*x + y)'*(A*x + y) + (A*x + y)'*B", "x + (x) + ((x))", "eye*eye + eye",
                                  "tanh(B'*x) .* tanh(B'*x) - tanh(B'*x)",
                                  "size(n)*x + n*x", "n*x + size(n)*x", "matrix(0, size(n), size(p)) + A"])
def test_repeated_text_is_one_node_in_the_parsers_order(text):
    parser = Parser(text)
    root = parser.parse()
    assert parser.keys.order == reference_postorder(root)
    assert parser.keys.order[-1] is root
