"""The cheap ways of building nodes give the very node, interned, that the general canonicalisation
gives: scaling a canonical product only changes its coefficient (einsumnodes.scale), and a symbol knows
whether it is symmetric when it is made (expr.Var). And a parse leaves no syntax tree for the garbage
collector to scan when it comes back on."""

import contextlib
import gc
import importlib

import pytest

import tensordiff as td
from tensordiff.expr import Einsum, Var, topological
from tensordiff.randexpr import ExpressionGenerator
from tensordiff.einsumnodes import _symmetric, einsum_node, scale

FACTORS = (-1.0, 2.5, 0.5, 1.0, -3.0, 1e-3)


def random_nodes(seeds):
    """Every node of random expressions and of their derivatives (products, sums, functions, ...)."""
    nodes = []
    for seed in seeds:
        gen = ExpressionGenerator(seed)
        expr, _ = gen.gen([(), ("a",), ("a", "b"), ("a", "a")][seed % 4], depth=3)
        roots = [expr]
        try:
            roots.append(td.diff(expr, gen.S["M"]))
        except td.TensorDiffError:
            pass
        nodes.extend(topological(roots))
    return nodes


def general_scale(node, factor):
    """``factor * node`` through einsum_node, as einsumnodes.scale built it before its fast path."""
    ids = tuple(range(node.ndim))
    return einsum_node(factor, (node,), (ids,), ids, node.shape)


def test_scaling_a_product_is_the_node_the_general_path_builds():
    products = [node for node in random_nodes(range(120)) if isinstance(node, Einsum)]
    assert len(products) > 500
    unwrapped = 0
    for node in products:
        # 1/coeff makes a coefficient of 1: a product c·X of one operand read as it is becomes X
        for factor in FACTORS + ((1.0 / node.coeff,) if node.coeff else ()):
            try:
                want = general_scale(node, factor)
            except td.TensorDiffError as exc:
                with pytest.raises(type(exc), match="float64"):
                    scale(node, factor)
                continue
            got = scale(node, factor)
            assert got is want, (str(node), factor)
            unwrapped += not isinstance(got, Einsum) or got.coeff != factor * node.coeff
    assert unwrapped > 10   # the wrapper case was met


def test_scaling_by_zero_or_past_float64_is_as_before():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    product = A @ x
    assert scale(product, 0.0) is general_scale(product, 0.0)
    with pytest.raises(td.TensorDiffError, match="beyond float64's range"):
        scale(scale(product, 1e300), 1e300)
    with pytest.raises(td.TensorDiffError, match="underflows float64"):
        scale(scale(product, 1e-300), 1e-300)


def test_a_symbol_knows_whether_it_is_symmetric():
    symbols = [td.matrix("A", "n n"), td.matrix("S", "n n", symmetric=True), td.matrix("X", "n p"),
               td.vector("x", "n"), td.scalar("s")]
    for node in symbols + [n for n in random_nodes(range(20)) if isinstance(n, Var)]:
        assert node.symmetric_cache is _symmetric(node), node


def test_the_syntax_tree_is_gone_when_the_collector_comes_back(monkeypatch):
    parse_module = importlib.import_module("tensordiff.parse")
    pause, alive = parse_module.without_cycle_collection, []

    def syntax_nodes():
        return sum(type(o).__name__ == "_Node" for o in gc.get_objects())

    @contextlib.contextmanager
    def counting():
        with pause():
            yield
            alive.append(syntax_nodes())

    gc.collect()   # what earlier tests in this process left (a parse error's traceback) is not this parse's
    before = syntax_nodes()
    monkeypatch.setattr(parse_module, "without_cycle_collection", counting)
    text = " + ".join(f"{k}.5*tanh(A{k}*x{k} + b{k})'*B*y - tr(C{k}'*A*B)" for k in range(50))
    assert td.parse(text).shape == ()
    assert alive == [before]
