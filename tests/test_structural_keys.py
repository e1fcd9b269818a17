"""Structural keys are the digest of a node's fields, however they are put together (expr.py builds
the text of Var, Einsum and Add keys from parts), and the coefficient-1 key scale() hands on is the
one a sum would compute."""

import tensordiff as td
from tensordiff.einsumnodes import scale
from tensordiff.expr import Add, Einsum, Var, topological
from tensordiff.nodekeys import digest, einsum_skey
from tensordiff.randexpr import DEPTH, SHAPES, ExpressionGenerator


def _expressions(seeds):
    for seed in seeds:
        gen = ExpressionGenerator(seed)
        expr, _ = gen.gen(SHAPES[gen.choose(len(SHAPES))], DEPTH)
        yield expr
        for name in sorted(expr.free)[:1]:
            yield td.diff(expr, gen.S[name])


def _expected_skey(node):
    if isinstance(node, Var):
        return digest("Var", node.name, node.dims, *(("symmetric",) if node.symmetric else ()))
    if isinstance(node, Einsum):
        return digest("Einsum", node.coeff, tuple(op.skey for op in node.operands), node.subscripts, node.out,
                      node.dims)
    return digest("Add", tuple(t.skey for t in node.terms))


def test_skeys_are_the_digest_of_the_fields():
    kinds = set()
    for expr in _expressions(range(60)):
        for node in topological([expr]):
            if type(node) in (Var, Einsum, Add):
                assert node.skey == _expected_skey(node), node
                kinds.add((type(node), getattr(node, "symmetric", False)))
    assert {(Var, False), (Var, True), (Einsum, False), (Add, False)} <= kinds


def test_a_scaled_product_keeps_its_coefficient_one_key():
    A, x = td.matrix("A", "n m"), td.vector("x", "m")
    product = A @ x
    for factor in (-1.0, 3.5):
        once = scale(product, factor)
        twice = scale(once, 0.25)
        for node in (once, twice):
            assert node.unit_skey_cache in (None, einsum_skey(1.0, node.operands, node.subscripts, node.out, node.dims))
        assert once.unit_skey_cache == product.skey
