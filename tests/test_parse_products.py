"""A chain of '*' is built as one product (parsebuild._whole_product): it must give the very node,
interned, that building it operator by operator gives. Where it might not (equal or symmetric
operands, rewrites such as A⁻¹A), the chain is built pairwise."""

import importlib
import random

import pytest

import tensordiff as td

build_module = importlib.import_module("tensordiff.parsebuild")

DIMS = dict(A="n n", B="n n", C="n n", X="n p", Y="p n", x="n", y="n", u="p", s="", t="")

# factors by their matrix shape: (rows, cols) with "1" an axis of size 1
FACTORS = {
    ("n", "n"): ["A", "B", "C", "A'", "S", "S'", "inv(A)", "inv(B)'", "exp(A)", "(A + B)", "(A*B)", "(2*C')",
                 "X*Y", "Y'*X'", "eye", "A.^2", "(A'*A)", "x*y'", "(-A)", "tanh(A*B)'", "(A*inv(A))", "diag(x)"],
    ("n", "p"): ["X", "Y'", "(A*X)", "x*u'"],
    ("p", "n"): ["Y", "X'", "(X'*A')"],
    ("n", "1"): ["x", "y", "(A*x)", "exp(x)", "X*u", "(x + y)", "x.^3"],
    ("p", "1"): ["u", "(X'*x)"],
    ("1", "n"): ["x'", "y'", "(A*y)'", "exp(x)'", "(x'*A)"],
    ("1", "p"): ["u'", "(x'*X)"],
    ("1", "1"): ["s", "t", "2.5", "(-1.5)", "s^2", "t^3", "(x'*y)", "tr(A)", "exp(s)", "(s + t)", "sum(x)",
                 "det(B)", "s^(-1)", "norm2(y)"],
}


def random_chain(rng, length):
    """A chain of ``length`` factors that types: each factor's rows match the product's columns so far."""
    rows = rng.choice(["n", "p", "1"])
    cols = rows
    factors = []
    for _ in range(length):
        if rng.random() < 0.3:   # a scalar anywhere scales
            factors.append(rng.choice(FACTORS["1", "1"]))
            continue
        options = [shape for shape in FACTORS if shape[0] == cols and shape != ("1", "1")] if cols != "1" or \
            factors else [shape for shape in FACTORS if shape != ("1", "1")]
        if cols == "1" and factors:   # a column vector (or scalar) times a row vector: an outer product
            options = [shape for shape in FACTORS if shape[0] == "1" and shape[1] != "1"]
        shape = rng.choice(options)
        factors.append(rng.choice(FACTORS[shape]))
        cols = shape[1]
    return "*".join(factors)


def square_chain(rng, S):
    """A random chain whose product is a square matrix."""
    while True:
        text = random_chain(rng, rng.randint(2, 7))
        try:
            shape = td.parse(text, S=S, **DIMS).shape
        except (td.ShapeError, td.ParseError):
            continue
        if len(shape) == 2 and shape[0] == shape[1]:
            return text


def pairwise(monkeypatch, text, **dims):
    """The expression of ``text`` with every chain built operator by operator."""
    monkeypatch.setattr(build_module, "_whole_product", lambda *args, **kwargs: None)
    try:
        return td.parse(text, **dims)
    finally:
        monkeypatch.undo()


def test_random_chains_are_the_nodes_built_pairwise(monkeypatch):
    rng = random.Random(20261206)
    S = td.matrix("S", "n n", symmetric=True)
    compared, fused, traced, whole_product = 0, [], [], build_module._whole_product

    def counted(*args, **kwargs):
        product = whole_product(*args, **kwargs)
        fused.append(product is not None)
        traced.append(product is not None and kwargs.get("traced", False))
        return product

    for _ in range(1500):
        monkeypatch.setattr(build_module, "_whole_product", counted)
        text = random_chain(rng, rng.randint(2, 7))
        if rng.random() < 0.4:   # the trace of a chain is one product too: a square chain's
            text = square_chain(rng, S)
            text = f"tr({text})" if rng.random() < 0.5 else f"x'*y - 2*tr({text})"
        try:
            whole = td.parse(text, S=S, **DIMS)
        except (td.ShapeError, td.ParseError):
            with pytest.raises((td.ShapeError, td.ParseError)):
                pairwise(monkeypatch, text, S=S, **DIMS)
            continue
        assert whole is pairwise(monkeypatch, text, S=S, **DIMS), text
        compared += 1
    assert compared > 1000
    assert sum(fused) > 1000 and not all(fused)   # most chains built whole, the others pairwise
    assert sum(traced) > 50, sum(traced)


def test_repeated_and_symmetric_factors_are_the_nodes_built_pairwise(monkeypatch):
    # equal operands joined only by summed indices: canonicalisation orders them by what they meet
    S = td.matrix("S", "n n", symmetric=True)
    texts = ["A'*A*A'*A", "x'*A*A*x", "A*B*A*B*A", "S*A*S*A'*S", "x*x'*x*x'", "s*A*s*A'*s",
             "tr(A)*A'*B*A*tr(A)", "X'*A*A'*X*X'*A*A'*X", "x'*S*S*x*y'*S*y", "(A*B)'*(A*B)*(B*A)'"]
    for text in texts:
        assert td.parse(text, S=S, **DIMS) is pairwise(monkeypatch, text, S=S, **DIMS), text


def test_a_long_chain_past_the_merge_limit_is_the_node_built_pairwise(monkeypatch):
    text = "*".join(["A", "B'", "C"] * 30)   # more operands than simplify merges into one product
    assert td.parse(text, **DIMS) is pairwise(monkeypatch, text, **DIMS)


def test_a_shape_error_in_a_chain_keeps_its_caret():
    with pytest.raises(td.ShapeError, match=r"'\*' needs matching inner dims") as info:
        td.parse("A*B*X'*C", **DIMS)
    assert str(info.value).splitlines()[-1].index("^") == str(info.value).splitlines()[-2].index("*X'")


def test_plain_products_are_the_nodes_einsum_node_builds(monkeypatch):
    """A chain of distinct plain factors and scalar constants skips einsum_node's merging
    (einsumnodes.plain_product): each such product is checked against einsum_node on the same
    fields, and the whole parse against the chain built operator by operator."""
    rng = random.Random(20261207)
    S = td.matrix("S", "n n", symmetric=True)
    plain, einsum_node = build_module.plain_product, build_module.einsum_node
    checked = []

    def compared(coeff, operands, subs, out, dims):
        node = plain(coeff, operands, subs, out, dims)
        assert node is einsum_node(coeff, operands, subs, out, dims)
        checked.append(node)
        return node

    texts = ["1*x", "2.5*A*x", "x'*2*y", "(-1.5)*x'*A*y*0.5", "2*tr(X'*A*X*Y)", "A*x*3", "x*u'*2",
             "3.5*tanh(A*x + y)'*B*y - tr(C'*A*B)", "1*X*1", "2*(A*X)'*x", "size(X, 1)*size(X, 2)*x",
             "2*size(A, 1)*A*x", "0*A*x", "vector(2)'*x", "eye*A*x", "size(n)*x'*y"]
    texts += [random_chain(rng, rng.randint(2, 6)) for _ in range(400)]
    for text in texts:
        monkeypatch.setattr(build_module, "plain_product", compared)
        try:
            node = td.parse(text, S=S, **DIMS)
        except (td.ShapeError, td.ParseError):
            continue
        assert node is pairwise(monkeypatch, text, S=S, **DIMS), text
    assert len(checked) > 200, len(checked)
    assert any(isinstance(node, td.Expr) and not hasattr(node, "coeff") for node in checked)  # 1*x is x
