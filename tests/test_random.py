"""Randomized: many random well-shaped expressions, first and second derivatives vs finite differences.

The expressions come from ``tensordiff.randexpr.ExpressionGenerator`` (the one generator, shared
with ``python -m tensordiff.selfcheck`` and the hypothesis properties of test_properties.py): each
is built twice at once, with tensordiff and as a numpy function of the values, so the value and
the first derivatives are also checked against finite differences of an implementation that
shares no code with tensordiff. Seeded and deterministic; dims a = 3, b = 2.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.randexpr import DEPTH, SHAPES, SIZES, USER_FUNCTIONS as FUNCTIONS, ExpressionGenerator as Gen
from tensordiff.selfcheck import fd_twin as fd_numpy
from tensordiff.testing import numeric_diff

N_EXPRESSIONS = 80
TOL = 1e-6


def assert_fd_close(symbolic, numeric, what):
    symbolic, numeric = np.asarray(symbolic), np.asarray(numeric)
    assert symbolic.shape == numeric.shape, f"{what}: shape {symbolic.shape} != {numeric.shape}"
    assert np.all(np.isfinite(symbolic)), f"{what}: non-finite values"
    error = float(np.max(np.abs(symbolic - numeric))) if symbolic.size else 0.0
    scale = max(float(np.max(np.abs(numeric))) if numeric.size else 0.0, 1e-3)
    assert error <= TOL * scale, f"{what}: max abs error {error:.3e}, relative {error / scale:.3e}"


@pytest.mark.parametrize("seed", range(N_EXPRESSIONS))
def test_random_expression(seed):
    gen = Gen(1000 + seed)
    shape = SHAPES[seed % len(SHAPES)]
    expr, f = gen.gen(shape, DEPTH)
    V = gen.V
    sizes = tuple(SIZES[d] for d in shape)
    context = f"seed {seed}:\n{expr}"
    assert expr.shape == shape, context

    value = td.evaluate(expr, functions=FUNCTIONS, **V)
    want = np.asarray(f(V))
    assert value.shape == want.shape == sizes, context
    np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=context)

    names = sorted(expr.free)
    for name in names:
        wrt = gen.S[name]
        d1 = td.diff(expr, wrt)
        assert d1.shape == shape + wrt.shape, context
        got = td.evaluate(d1, functions=FUNCTIONS, **V)
        assert_fd_close(got, fd_numpy(f, V, name, symmetric=wrt.symmetric), f"d/d{name} vs numpy FD, {context}")
        result = td.check(expr, wrt, functions=FUNCTIONS, **V)
        assert_fd_close(result.symbolic, result.numeric, f"td.check d/d{name}, {context}")

    rng = np.random.default_rng(seed)
    for name in rng.permutation(names)[:2]:
        wrt = gen.S[name]
        result = td.check(expr, wrt, order=2, functions=FUNCTIONS, **V)
        assert result.symbolic.shape == sizes + tuple(SIZES[d] for d in wrt.shape) * 2, context
        assert_fd_close(result.symbolic, result.numeric, f"td.check order 2 d²/d{name}², {context}")

    # all of them compiled into one program (shared subexpressions planned once) give the same arrays
    first = [td.diff(expr, gen.S[name]) for name in names]
    second = [td.diff(first[0], gen.S[names[0]])] if names else []
    together = td.compile([expr, *first, *second, expr])(functions=FUNCTIONS, **V)
    alone = [td.evaluate(e, functions=FUNCTIONS, **V) for e in (expr, *first, *second)]
    for got, want in zip(together, alone + [alone[0]]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=context)
    assert together[0] is not together[-1]

    if len(names) >= 2:
        na, nb = rng.permutation(names)[:2]
        a, b = gen.S[na], gen.S[nb]
        da = td.diff(expr, a)
        dab = td.diff(da, b)
        assert dab.shape == shape + a.shape + b.shape, context
        assert_fd_close(td.evaluate(dab, functions=FUNCTIONS, **V), numeric_diff(da, b, V, functions=FUNCTIONS),
                        f"d²/d{na}d{nb}, {context}")


def test_generator_covers_the_operations():
    """The random expressions exercise every node type and function (guards the generator)."""
    from tensordiff.expr import Add, Apply, Det, Einsum, Inv, LogDet, Var, topological
    seen_types, seen_fns = set(), set()
    for seed in range(N_EXPRESSIONS):
        gen = Gen(1000 + seed)
        expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
        for node in topological([expr]):
            seen_types.add(type(node))
            if isinstance(node, Apply):
                seen_fns.add(node.fn.display if node.fn.name != "pow" else f"pow{node.fn.p:g}")
    assert {Var, Einsum, Add, Apply, Inv, Det, LogDet} <= seen_types
    assert {"abs", "relu", "gr", "hr", "pow0.5", "pow2", "pow3", "pow-1", "pow-1.5"} <= seen_fns, seen_fns


def test_generator_draws_every_row_of_the_function_table():
    """A new row of functions.FUNCTIONS is drawn without touching the generator (stop_gradient aside)."""
    from tensordiff.expr import Apply, topological
    from tensordiff.randexpr import UNARY
    wanted, seen = set(UNARY) - {"neg"}, set()
    for seed in range(2000):
        gen = Gen(5000 + seed)
        expr, _ = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
        seen.update(node.fn.name for node in topological([expr]) if isinstance(node, Apply))
        if wanted <= seen:
            break
    assert wanted <= seen, wanted - seen
    assert wanted == {name for name, fn in td.functions.FUNCTIONS.items() if fn.finite_differences}
    assert ("a", "b", "b") in SHAPES
