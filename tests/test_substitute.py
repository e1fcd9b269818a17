"""td.substitute and Expr.subs: the substituted expression has the value of the original at the
substituted point, its derivatives follow the chain rule, and bad keys or shapes are clear errors."""

import jax
import numpy as np
import pytest

import tensordiff as td

jax.config.update("jax_enable_x64", True)


def _close(a, b, tol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))


def test_symbol_by_an_expression_of_its_shape_keeps_the_value():
    X, W, V = td.matrix("X", "n p"), td.matrix("W", "n p"), td.matrix("V", "n p")
    y = td.vector("y", "p")
    f = td.sum(td.exp(X @ y)) + td.logdet(X.T @ X)
    g = td.substitute(f, {X: W + 0.5 * td.sin(V)})
    rng = np.random.default_rng(1)
    w, v, yv = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)), 0.3 * rng.standard_normal(3)
    assert g.free == {"W", "V", "y"}
    assert _close(td.evaluate(g, W=w, V=v, y=yv), td.evaluate(f, X=w + 0.5 * np.sin(v), y=yv))


def test_subs_spellings_agree_with_substitute():
    X, W = td.matrix("X", "n p"), td.matrix("W", "n p")
    y = td.vector("y", "p")
    f = td.sum(td.tanh(X @ y))
    assert f.subs(X, 2 * W) is td.substitute(f, {X: 2 * W})
    assert f.subs({X: 2 * W}) is td.substitute(f, {X: 2 * W})
    assert f.subs("X", 2 * W) is td.substitute(f, {X: 2 * W})   # a name stands for its symbol
    assert f.subs(X, X) is f


def test_replacements_are_simultaneous():
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    f = td.trace(A @ B @ B)
    swapped = f.subs({A: B, B: A})
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    assert _close(td.evaluate(swapped, A=a, B=b), np.trace(b @ a @ a))
    x = td.vector("x", "n")
    grown = (x @ x).subs(x, x + 1)   # the new value may contain the old symbol: no recursion
    xv = rng.standard_normal(4)
    assert _close(td.evaluate(grown, x=xv), (xv + 1) @ (xv + 1))


def test_a_subexpression_is_replaced_where_it_occurs():
    X, S = td.matrix("X", "n p"), td.matrix("S", "p p")
    y, lam = td.vector("y", "n"), td.scalar("lam")
    gram = X.T @ X
    q = td.inv(gram + lam * td.eye("p")) @ X.T @ y
    r = q.subs(gram, S)
    rng = np.random.default_rng(3)
    xv, yv, sv = rng.standard_normal((6, 3)), rng.standard_normal(6), rng.standard_normal((3, 3))
    sv = sv @ sv.T + np.eye(3)
    expected = np.linalg.solve(sv + 0.5 * np.eye(3), xv.T @ yv)
    assert _close(td.evaluate(r, X=xv, y=yv, lam=0.5, S=sv), expected)
    # a function node and a matrix function node are subexpressions too
    u = td.scalar("u")
    f = td.logdet(gram) * td.sum(td.exp(X @ td.vector("b", "p")))
    assert f.subs(td.logdet(gram), u).free == {"u", "X", "b"}


def test_part_of_a_sum_is_found():
    A, B, C, D = (td.matrix(name, "n n") for name in "ABCD")
    f = td.inv(A + B + C)
    g = f.subs(A + B, D)
    rng = np.random.default_rng(4)
    c, d = np.eye(3) + 0.1 * rng.standard_normal((3, 3)), np.eye(3) + 0.1 * rng.standard_normal((3, 3))
    assert g.free == {"C", "D"}
    assert _close(td.evaluate(g, C=c, D=d), np.linalg.inv(c + d))


def test_scalar_symbol_by_a_number():
    x, lam = td.vector("x", "n"), td.scalar("lam")
    f = lam * (x @ x) + td.exp(lam)
    g = f.subs(lam, 2)
    xv = np.arange(3.0)
    assert g.free == {"x"}
    assert _close(td.evaluate(g, x=xv), 2 * xv @ xv + np.exp(2))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_derivatives_of_a_substituted_expression_follow_the_chain_rule(order):
    # f(X) = logdet(XᵀX) with X = A + B·C: td.check against finite differences and, at order 1-2, jax
    A, X = td.matrix("A", "n p"), td.matrix("X", "n p")
    B, C = td.matrix("B", "n k"), td.matrix("C", "k p")
    f = td.logdet(X.T @ X) + td.sum(td.sin(X))
    g = f.subs(X, A + B @ C)
    rng = np.random.default_rng(5)
    values = dict(A=rng.standard_normal((5, 3)), B=rng.standard_normal((5, 2)), C=0.3 * rng.standard_normal((2, 3)))
    assert td.check(g, C, order=order, **values).max_rel_error < 1e-5
    if order <= 2:
        import jax.numpy as jnp

        def reference(c):
            x = values["A"] + values["B"] @ c
            return jnp.linalg.slogdet(x.T @ x)[1] + jnp.sum(jnp.sin(x))
        jax_derivative = jax.grad(reference) if order == 1 else jax.hessian(reference)
        ours = td.evaluate(td.diff(g, C, order), **values)
        assert _close(ours, jax_derivative(jnp.asarray(values["C"])), 1e-9)


def test_mismatched_shapes_name_both_sides():
    X, A = td.matrix("X", "n p"), td.matrix("A", "n n")
    f = td.sum(X)
    with pytest.raises(td.ShapeError, match=r"A\[i,j\] \(shape \(n, n\)\).*X\[i,j\] \(shape \(n, p\)\)"):
        f.subs(X, A)
    with pytest.raises(td.ShapeError, match="shape"):
        td.substitute(f, {X: 1.0})


def test_bad_keys_and_missing_subexpressions_are_clear_errors():
    A, B, C = (td.matrix(name, "n n") for name in "ABC")
    f = td.trace(A @ B @ C)
    with pytest.raises(td.TensorDiffError, match=r"Σ_k A\[i,k\] C\[k,j\] does not occur in Σ_ijk"):
        f.subs(A @ C, B)   # A and C are factors of f, but not as the product A @ C
    with pytest.raises(td.TensorDiffError, match="does not occur"):
        f.subs(td.exp(A), B)
    with pytest.raises(td.TensorDiffError, match="no symbol 'Z'"):
        f.subs("Z", C)
    with pytest.raises(td.TensorDiffError, match="dict"):
        td.substitute(f, [(A, B)])
    with pytest.raises(td.TensorDiffError, match="key must be"):
        td.substitute(f, {3: A})
    with pytest.raises(td.TensorDiffError, match="subs takes"):
        f.subs(A)
    # a symbol the expression does not use is left alone, as SymPy does
    D = td.matrix("D", "n n")
    assert f.subs(D, A) is f


def test_subscripts_of_a_contraction_are_not_the_subs_method():
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    product = A @ B
    assert callable(product.subs)
    assert isinstance(product.subscripts, tuple)


# ---------------------------------------------------------------- groups of a product's factors

def _random(*shapes, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def test_a_group_of_factors_inside_a_longer_product():
    A, B, C, D = (td.matrix(name, "n n") for name in "ABCD")
    a, b, c, d = _random((3, 3), (3, 3), (3, 3), (3, 3))
    g = td.trace(A @ B @ C).subs(A @ B, D)
    assert g.free == {"C", "D"} and _close(td.evaluate(g, C=c, D=d), np.trace(d @ c))
    g = td.trace(A @ B @ A @ B @ C).subs(A @ B, D)   # every disjoint occurrence
    assert g.free == {"C", "D"} and _close(td.evaluate(g, C=c, D=d), np.trace(d @ d @ c))
    g = (3 * td.trace(A @ B @ C)).subs(2 * (B @ C), D)   # coefficients divide out
    assert _close(td.evaluate(g, A=a, D=d), 1.5 * np.trace(a @ d))
    g = td.trace(A @ B @ C).subs(A.T, D)   # a transpose is a factor group of one operand: A = Dᵀ
    assert _close(td.evaluate(g, B=b, C=c, D=d), np.trace(d.T @ b @ c))


def test_a_factor_group_with_vectors_and_rectangular_dims():
    X, W = td.matrix("X", "n p"), td.matrix("W", "p k")
    a, y, z = td.vector("a", "k"), td.vector("y", "n"), td.vector("z", "p")
    f = y @ X @ W @ a
    xv, wv, av, yv, zv = _random((5, 3), (3, 2), (2,), (5,), (3,))
    g = f.subs(W @ a, z)
    assert g.free == {"X", "y", "z"} and _close(td.evaluate(g, X=xv, y=yv, z=zv), yv @ xv @ zv)
    g = f.subs(y @ X, z)
    assert g.free == {"W", "a", "z"} and _close(td.evaluate(g, W=wv, a=av, z=zv), zv @ wv @ av)
    with pytest.raises(td.TensorDiffError, match="does not occur"):
        f.subs(X @ W @ td.vector("b", "k"), y)   # another vector: not a group of f's factors


def test_derivatives_after_replacing_a_factor_group():
    X, W = td.matrix("X", "n p"), td.matrix("W", "p k")
    V, a = td.matrix("V", "n k"), td.vector("a", "k")
    f = td.sum(td.tanh(X @ W) @ a) + td.norm(X @ W @ a) ** 2
    g = f.subs(X @ W, V)
    assert g.free == {"V", "a"}
    for order in (1, 2, 3):
        assert td.check(g, V, order=order).max_rel_error < 1e-5
    vv, av = _random((4, 2), (2,))
    assert _close(td.evaluate(td.grad(g, V), V=vv, a=av),
                  (1 - np.tanh(vv) ** 2) * av + 2 * np.outer(vv @ av, av))


# ---------------------------------------------------------------- random expressions (tensordiff.randexpr)

@pytest.mark.parametrize("seed", range(24))
def test_random_expressions_keep_their_value(seed):
    """Two invariants on random expressions over every operation: a symbol replaced by another
    expression of its shape gives the value at the replaced point, and a node replaced by a new
    symbol gives the original value when that symbol takes the node's value."""
    from tensordiff.expr import Var, topological
    from tensordiff.randexpr import DEPTH, SHAPES, USER_FUNCTIONS, ExpressionGenerator

    gen = ExpressionGenerator(3000 + seed)
    expr, twin = gen.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    V = gen.V
    want = td.evaluate(expr, functions=USER_FUNCTIONS, **V)
    rng = np.random.default_rng(seed)

    name = sorted(expr.free)[rng.integers(len(expr.free))]
    old = gen.S[name]
    new, new_twin = gen.gen(old.shape, 2)
    substituted = expr.subs(old, new)
    at_new = {**V, name: np.asarray(new_twin(V), dtype=float).reshape(np.shape(V[name]))}
    got = td.evaluate(substituted, functions=USER_FUNCTIONS, **V) if substituted.free else \
        td.evaluate(substituted)
    assert _close(got, np.asarray(twin(at_new)), 1e-9), f"seed {seed}: {name} -> {new}"

    inner = [node for node in topological([expr]) if not isinstance(node, Var) and node.free and node is not expr]
    if inner:
        node = inner[rng.integers(len(inner))]
        stand_in = td.tensor("Z", node.shape)
        replaced = expr.subs(node, stand_in)
        node_value = td.evaluate(node, functions=USER_FUNCTIONS, **V)
        assert _close(td.evaluate(replaced, functions=USER_FUNCTIONS, **{**V, "Z": node_value}), want, 1e-9)
        assert _close(td.evaluate(replaced.subs(stand_in, node), functions=USER_FUNCTIONS, **V), want, 1e-9)
