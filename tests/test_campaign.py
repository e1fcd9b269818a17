"""The selfcheck campaign (issue 12's "Done when"): the random generator draws every new operation,
and failures the campaign found stay fixed (each test names the seed that found it)."""

from tensordiff.expr import (Apply, Cholesky, Compare, Einsum, LogSumExp, Max, Maximum, Softmax, Triangle, Var, Where,
                             topological)
from tensordiff.randexpr import DEPTH, SHAPES, ExpressionGenerator

SEEDS = range(300)
NEW_FUNCTIONS = {"tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "erf", "gelu", "sign", "lgamma", "digamma"}


def _spread(operand, node):
    """Whether ``operand`` is a lower-order expression broadcast to ``node``'s shape (numpy broadcasting)."""
    return (isinstance(operand, Einsum) and len(operand.operands) == 1
            and 0 < operand.operands[0].ndim < node.ndim)


def _drawn():
    """What the generator draws over SEEDS: node types, function names, binary builders that
    broadcast a non-scalar operand, and whether a symmetric symbol appears."""
    types, functions, broadcast, symmetric = set(), set(), set(), False
    for seed in SEEDS:
        gen = ExpressionGenerator(seed)
        expr, _ = gen.gen(SHAPES[gen.choose(len(SHAPES))], DEPTH)
        for node in topological([expr]):
            types.add(type(node))
            if isinstance(node, Apply):
                functions.add(node.fn.name)
            if isinstance(node, (Maximum, Compare)) and (_spread(node.a, node) or _spread(node.b, node)):
                broadcast.add(type(node))
            if isinstance(node, Where) and any(_spread(x, node) for x in (node.mask, node.a, node.b)):
                broadcast.add(Where)
            symmetric |= isinstance(node, Var) and node.symmetric
    return types, functions, broadcast, symmetric


def test_the_generator_draws_every_new_operation():
    types, functions, broadcast, symmetric = _drawn()
    for node_type in (Max, LogSumExp, Softmax, Maximum, Where, Compare, Triangle, Cholesky):
        assert node_type in types, node_type.__name__
    assert broadcast == {Maximum, Where, Compare}     # binary builders broadcast a vector over a matrix's rows
    assert symmetric
    assert NEW_FUNCTIONS <= functions, sorted(NEW_FUNCTIONS - functions)
