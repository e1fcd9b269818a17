"""Deep programs and long texts cost time linear in their size: the counts that keep it so.

Each test counts work (constructor calls, typed or built parse nodes), never time: a change that
brings back a repeated traversal or a rebuild per use shows as a count that grows faster than
the input, or as work done again for text seen before.
"""

import importlib

import numpy as np
import pytest

import tensordiff as td

build_module = importlib.import_module("tensordiff.parsebuild")
shapes_module = importlib.import_module("tensordiff.parseshapes")
sums_module = importlib.import_module("tensordiff.sumnodes")
einsum_module = importlib.import_module("tensordiff.einsumnodes")
simplify_module = importlib.import_module("tensordiff.simplify")   # td.simplify is the function
diff_module = importlib.import_module("tensordiff.diffrules")   # the derivative rules build the products


def chain(depth):
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    e = x
    for k in range(depth):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    return td.sum(e), x


class Counter:
    """Wraps a function of the modules that call it by name, and counts its calls."""

    def __init__(self, monkeypatch, name, *modules):
        self.calls, inner = 0, getattr(modules[0], name)

        def counted(*args, **kwargs):
            self.calls += 1
            return inner(*args, **kwargs)
        for module in modules:
            monkeypatch.setattr(module, name, counted)


def test_a_sum_keeps_its_canonical_terms_without_rebuilding_them(monkeypatch):
    x, y, A = td.vector("x", "n"), td.vector("y", "n"), td.matrix("A", "n n")
    B = td.matrix("B", "n n")   # A·x and A·exp(x) would collect into A·(x + exp(x)) (matrixrules.py)
    terms = [2.0 * (A @ x), 3.0 * td.tanh(y), -1.5 * (B @ td.exp(x)), x]
    built = Counter(monkeypatch, "einsum_node", einsum_module, simplify_module, diff_module)
    total = sums_module.add_node(terms)
    assert built.calls == 0
    assert set(total.terms) == set(terms)


def test_a_sum_still_collects_and_rescales_equal_terms():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    total = sums_module.add_node([2.0 * (A @ x), 3.0 * (A @ x), -5.0 * x, x])
    assert total is sums_module.add_node([5.0 * (A @ x), -4.0 * x])
    assert sums_module.add_node([2.0 * (A @ x), -2.0 * (A @ x)]) is td.zeros("n")


def test_deep_chain_gradient_builds_a_bounded_number_of_products_per_operation(monkeypatch):
    counts = {}
    for depth in (100, 200):
        f, x = chain(depth)
        built = Counter(monkeypatch, "einsum_node", einsum_module, simplify_module, diff_module)
        td.grad(f, x)
        counts[depth] = built.calls
        monkeypatch.undo()
    assert counts[200] <= 2 * counts[100] + 20
    assert counts[200] <= 12 * 200


def test_parse_types_and_builds_a_repeated_subexpression_once(monkeypatch):
    kinds = []
    table = dict(shapes_module._TYPE)
    for kind, rule in table.items():
        def counted(p, node, kids, rule=rule, kind=kind):
            kinds.append(kind)
            return rule(p, node, kids)
        table[kind] = counted
    monkeypatch.setattr(shapes_module, "_TYPE", table)
    term = "tanh(A*x + b)'*B*y"
    once = td.parse(term, A="n n", B="n n", x="n", y="n", b="n")
    kinds.clear()
    many = td.parse(" + ".join([term] * 500), A="n n", B="n n", x="n", y="n", b="n")
    # one pass of typing: A*x and tanh(...)'*B*y once each, A*x + b and the sum of the 500 terms
    assert kinds.count("chain") == 2
    assert kinds.count("sum") == 2
    assert many is einsum_module.scale(once, 500.0)


def test_parse_of_a_repeated_subexpression_keeps_each_occurrence_in_error_messages():
    # the second occurrence of A*x is a repeat, but the product that fails is new: its caret and
    # operands are those of the failing text
    with pytest.raises(td.ShapeError) as info:
        td.parse("sum(A*x) + sum((A*x)*B)", A="n n", B="p p", x="n")
    assert "inner dims: (A*x is (n, 1) but B is (p, p)" in str(info.value)
    caret_line = str(info.value).splitlines()[-1]
    assert caret_line.index("^") - 2 == "sum(A*x) + sum((A*x)*B)".index("*B")


@pytest.mark.parametrize("family", ["repeats", "distinct"])
def test_parse_visits_each_distinct_subexpression_once(monkeypatch, family):
    built = []
    table = dict(build_module._BUILD)
    for kind, rule in table.items():
        def counted(node, kids, typed, rule=rule):
            built.append(node.kind)
            return rule(node, kids, typed)
        table[kind] = counted
    monkeypatch.setattr(build_module, "_BUILD", table)
    bias = [f"b{k % 5}" if family == "repeats" else f"b{k}" for k in range(60)]
    terms = [f"{k % 3 + 1}.5*tanh(A*x + {b})" for k, b in enumerate(bias)]
    e = td.parse(" + ".join(terms), A="n n", x="n", **dict.fromkeys(bias, "n"))
    distinct = len(set(terms))
    # per distinct term: number, b, A*x + b, tanh, product; plus A, x, A*x and the sum once
    assert len(built) <= 5 * distinct + 4
    rng = np.random.default_rng(0)
    values = dict(A=rng.standard_normal((3, 3)), x=rng.standard_normal(3))
    values.update({b: rng.standard_normal(3) for b in set(bias)})
    expected = sum((k % 3 + 1.5) * np.tanh(values["A"] @ values["x"] + values[b]) for k, b in enumerate(bias))
    assert np.allclose(td.evaluate(e, **values), expected)
