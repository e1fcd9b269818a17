"""Evaluation planning: sums split into factors, common skeletons contracted once."""

import numpy as np

import tensordiff as td
from tensordiff.steps import EinsumStep
from tensordiff.expr import Add, Einsum
from tensordiff.factoring import factor_sums
from tensordiff.fusion import FusedSumStep, split_term
from tensordiff.steps import SumStep
from tensordiff.testing import numeric_diff


def _logreg_hessian():
    X, w, y = td.matrix("X", "n d"), td.vector("w", "d"), td.vector("y", "n")
    f = td.sum(td.log(1 + td.exp(-y * (X @ w))))
    return td.hessian(f, w), X, w, y


def test_logistic_hessian_contracts_x_x_once():
    H, X, w, y = _logreg_hessian()
    program = td.compile(H)
    reads_x_twice = [step for node, step, _, _ in program.steps
                     if isinstance(step, EinsumStep) and sum(op is X for op in node.operands) == 2]
    assert len(reads_x_twice) == 1, program
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((30, 4)), w=rng.standard_normal(4) / 2, y=np.sign(rng.standard_normal(30)))
    z = values["y"] * (values["X"] @ values["w"])
    weight = values["y"] ** 2 * np.exp(-z) / (1 + np.exp(-z)) ** 2
    np.testing.assert_allclose(program(**values), values["X"].T @ (weight[:, None] * values["X"]), rtol=1e-12)


def test_factoring_keeps_values_of_random_sums():
    rng = np.random.default_rng(3)
    A, B = td.matrix("A", "a b"), td.matrix("B", "a b")
    u, v = td.vector("u", "a"), td.vector("v", "a")
    values = dict(A=rng.standard_normal((5, 3)), B=rng.standard_normal((5, 3)),
                  u=rng.standard_normal(5), v=rng.standard_normal(5))
    sums = [  # (expression, number of terms once factored)
        (td.einsum("ki,kj,k->ij", A, A, u) + td.einsum("ki,kj,k->ij", A, A, v * v)
         - 2 * td.einsum("ki,kj,k->ij", A, A, u * v), 1),
        (td.einsum("ki,kj,k->ij", A, B, u) + td.einsum("ki,kj,k->ij", A, B, v), 1),    # same skeleton
        (td.einsum("ki,kj,k->ij", A, B, u) + td.einsum("kj,ki,k->ij", A, B, v), 2),    # different skeletons
        (td.einsum("ki,lj,k,l->ij", A, B, u, v) + td.einsum("ki,lj,l,k->ij", A, B, u, v), 1),  # interface order
        (td.einsum("ki,k->i", A, u) * td.sum(v) + td.einsum("ki->i", A) * td.sum(u * v), 2),   # no shared interface
    ]
    for expr, count in sums:
        if not isinstance(expr, Add):   # the simplifier collected it when building (matrixrules.collect_products)
            assert count == 1
            continue
        (factored,) = factor_sums([expr])
        np.testing.assert_allclose(td.evaluate(factored, **values), td.evaluate(expr, **values), rtol=1e-12, atol=1e-12)
        assert len(factored.terms if isinstance(factored, Add) else [factored]) == count


def test_common_operand_is_contracted_once():
    # Σ_k X[k,i] R1[k,j] + Σ_k X[k,i] R2[k,j] -> Σ_k X[k,i] (R1 + R2)[k,j]; not when the rest
    # would be larger than X, or when X plays another role
    rng = np.random.default_rng(4)
    X, V, T = td.matrix("X", "n d"), td.matrix("V", "d k"), td.matrix("T", "n k")
    a, r = td.vector("a", "k"), td.vector("r", "n")
    u = td.vector("u", "d")
    A, B = td.matrix("A", "n n"), td.matrix("B", "n n")
    values = dict(A=rng.standard_normal((7, 7)), B=rng.standard_normal((7, 7)), X=rng.standard_normal((7, 4)),
                  V=rng.standard_normal((4, 3)), T=rng.standard_normal((7, 3)), a=rng.standard_normal(3), r=rng.standard_normal(7), u=rng.standard_normal(4))
    cases = [
        (td.einsum("ki,kj,k->ij", X, T, r) - 3 * td.einsum("ki,kj,j->ij", X, td.tanh(T) * (X @ V), a), 1),
        (td.einsum("ki,kj->ij", A, B) + td.einsum("ik,jk->ij", A, B), 2),                      # roles differ
        (td.einsum("ki,kj->ij", A, B) + td.einsum("ik,kj->ij", A, B), 1),                      # B's is the same
        (td.einsum("ki,kj,l->ijl", X, T, u) + td.einsum("ki,kj,l->ijl", X, T * T, u), 2),     # rest T[k,j] u[l]
        (td.einsum("ki,kj,lm->ijlm", X, T, V) + td.einsum("ki,kj,lm->ijlm", X, X @ V, V), 2),  # larger than X
    ]
    for expr, count in cases:
        assert isinstance(expr, Add)
        (factored,) = factor_sums([expr])
        np.testing.assert_allclose(td.evaluate(factored, **values), td.evaluate(expr, **values), rtol=1e-12, atol=1e-12)
        assert len(factored.terms if isinstance(factored, Add) else [factored]) == count, td.index_notation(factored)


def test_network_hvp_costs_three_matrix_products():
    # the example: an hvp of ||tanh(XW)a - y||^2 costs a few matrix products. X·W, X·V
    # (computed once although two products read it) and Xᵀ·(weights)
    X, W, a, y, V = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n"), \
        td.matrix("V", "d k")
    h = td.hvp(td.norm(td.tanh(X @ W) @ a - y) ** 2, W, V)
    n, d, k = 400, 30, 20
    matmul = 2 * n * d * k
    assert td.cost(h, n=n, d=d, k=k).flops < 3.5 * matmul
    program = td.compile(h)
    reads_x = [node for node, step, _, _ in program.steps
               if isinstance(step, EinsumStep) and any(op is X for op in program.reads.get(node, node).operands)]
    assert len(reads_x) == 3, program
    rng = np.random.default_rng(5)
    v = dict(X=rng.standard_normal((n, d)), W=rng.standard_normal((d, k)) / 5, a=rng.standard_normal(k),
             y=rng.standard_normal(n), V=rng.standard_normal((d, k)))
    T = np.tanh(v["X"] @ v["W"])
    r, D, XV = T @ v["a"] - v["y"], 1 - T ** 2, v["X"] @ v["V"]
    dT = D * XV
    want = 2 * v["X"].T @ (((dT @ v["a"])[:, None] * D - 2 * r[:, None] * T * dT) * v["a"])
    np.testing.assert_allclose(program(**v), want, rtol=1e-10, atol=1e-10)


def test_common_operand_is_left_where_factoring_would_cost_more():
    # the Tikhonov vjp: Σ_c inv[a,c] (X·M)[b,c] + Σ_c inv[a,c] V[c] y[b]; factoring inv out would
    # form X·M in full and contract it with inv again: n·p² more than the term's own path
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    vjp = td.vjp(q, X, td.vector("V", "p"))
    n, p = 3000, 100
    assert td.cost(vjp, n=n, p=p).flops < 2.5 * (2 * n * p * p)    # XᵀX and one X·(p×p) product


def test_products_read_pairs_only_where_exact():
    from tensordiff.reuse import reuse_pairs
    from tensordiff.expr import topological
    X, V = td.matrix("X", "n d"), td.matrix("V", "d k")
    t, s = td.vector("t", "k"), td.vector("s", "d")
    XV = X @ V
    reads = td.einsum("kl,l->k", td.tanh(XV), t) + td.einsum("km,ml,l->k", X, V, t)   # (X·V) t: reads X·V
    weighted = td.einsum("km,ml,m,l->k", X, V, s, t)   # m also in s: X·V is not a factor of it
    outputs = [XV, reads, weighted]
    found = reuse_pairs(topological(outputs))
    assert any(XV in new.operands for new in found.values())
    assert all(old.operands != new.operands for old, new in found.items())
    assert weighted not in found
    rng = np.random.default_rng(6)
    values = dict(X=rng.standard_normal((5, 4)), V=rng.standard_normal((4, 3)), t=rng.standard_normal(3),
                  s=rng.standard_normal(4))
    program = td.compile(outputs)
    assert program.reads
    for got, e in zip(program(**values), outputs):
        want = td.compile(e)(**{name: values[name] for name in values if name in {v.name for v in _symbols(e)}})
        np.testing.assert_allclose(got, want, rtol=1e-12)
    Xv, Vv, tv, sv = values["X"], values["V"], values["t"], values["s"]
    np.testing.assert_allclose(program(**values)[2], Xv @ (sv[:, None] * Vv) @ tv, rtol=1e-12)


def _symbols(e):
    from tensordiff.expr import Var, topological
    return [n for n in topological([e]) if isinstance(n, Var)]


def test_split_term_groups_operands_tied_by_summed_indices():
    X, t = td.matrix("X", "n p"), td.matrix("t", "p p")
    y = td.vector("y", "n")
    term = td.einsum("jn,in,q,kq,lm->ijklm", X, t, td.einsum("pq,p->q", X, y), t, t)
    assert isinstance(term, Einsum)
    part = split_term(term)
    assert len(part.factors) == 3          # (X t)[j,i], (X'y t)[k], t[l,m]
    assert sorted(len(axes) for _, axes in part.factors) == [1, 2, 2]


def test_sum_with_deltas_and_shared_terms_matches_finite_differences():
    X, lam = td.matrix("X", "n p"), td.scalar("lam")
    y = td.vector("y", "n")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    J = td.diff(q, X)
    program = td.compile([J, td.diff(J, lam)])
    assert any(isinstance(step, SumStep) and isinstance(step.fused, FusedSumStep) for _, step, _, _ in program.steps)
    rng = np.random.default_rng(1)
    values = dict(X=rng.standard_normal((6, 3)), y=rng.standard_normal(6), lam=0.4)
    J_value, dJ_value = program(**values)
    np.testing.assert_allclose(J_value, numeric_diff(q, X, values), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(dJ_value, numeric_diff(J, lam, values), rtol=1e-6, atol=1e-7)


def _gram_cases():
    X, H = td.matrix("X", "m d"), td.matrix("H", "m k")
    w, c = td.vector("w", "m"), td.scalar("c")
    return [
        (td.einsum("mj,ml,mi,mk->ijkl", H, H, X, X), True),          # Gauss-Newton G'G
        (td.einsum("m,mi,mj->ij", w, X, X), True),                   # weighted: X' diag(w) X
        (-3 * td.einsum("mi,mj->ji", X, X), True),                   # negative factor, transposed out
        (c * td.einsum("mi,mj,m->ij", X, X, w * w), True),           # runtime scalar factor
        (td.einsum("mi,mj->ij", X, H), False),                       # two different halves
        (td.einsum("mi,mi->i", X, X), False),                        # the pair shares its output index
    ], dict(X=np.random.default_rng(4).standard_normal((9, 3)), H=np.random.default_rng(5).standard_normal((9, 2)),
            w=np.random.default_rng(6).standard_normal(9), c=-0.7)


def test_gram_products_are_detected_and_exact():
    """G.T @ G (BLAS syrk) equals the plain contraction; patterns that are no Gram product are left alone."""
    cases, values = _gram_cases()
    for expr, is_gram in cases:
        program = td.compile(expr)
        steps = [step for node, step, _, _ in program.steps if isinstance(step, EinsumStep)]
        assert any(step.gram is not None for step in steps) == is_gram, program
        np.testing.assert_allclose(program(**values), _without_gram(expr, values), rtol=1e-12, atol=1e-12)


def _without_gram(expr, values):
    program = td.compile(expr)
    for _, step, _, _ in program.steps:
        if isinstance(step, EinsumStep):
            step.gram = None
    return program(**values)
