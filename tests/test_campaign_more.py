"""More independent problems researchers ask, each checked against its closed form, central finite
differences and nested ``jax.jacfwd`` (one jit per problem), with its printed forms read back.

Each problem is new here (tests/test_campaign_closed_forms.py and tests/test_campaign_problems.py
hold the others): a single-example softmax classifier in weights and input together, attention in
its keys and values, a Gaussian likelihood through its Cholesky factor, log det of XᵀAX with A
symmetric, a Kronecker identity inside a loss, piecewise losses (abs, relu, max, a leaky maximum),
a vector broadcast over the rows of a matrix, Jacobians of matrix-valued maps, traces of inverses
of products, and several symbols at once (``td.hessian(f, [x, y])`` blocks, mixed third orders,
hvp/jvp/vjp). Sizes are small and orders at most 3, so that the file runs in seconds.
"""


import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Var, topological
from tensordiff.matrixform import to_matrix

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = pytest.importorskip("jax.scipy.special")

EXACT = 1e-9   # closed forms and jax: exact up to rounding, relative to the largest entry
FD = 2e-6      # central differences of the order below


def assert_close(got, want, tol, what):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    error = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert error <= tol * scale, f"{what}: max abs error {error:.3g} (scale {scale:.3g})"


def symbols_of(e):
    return [n for n in topological([e]) if isinstance(n, Var)]


def reads_back(e, values, what):
    """Both matrix-notation texts of ``e`` (plain, and with repeated calls named) parse back, with
    every dim sized by the symbols, to ``e``'s value; how many texts there were."""
    want = np.asarray(td.evaluate(e, values), dtype=float)
    texts = [text for text in dict.fromkeys([to_matrix(e), str(td.matrix_notation(e))])
             if text is not None and not text.startswith("no matrix notation")]
    for text in texts:
        parsed = td.parse(text, symbols=symbols_of(e))
        assert parsed.ndim == e.ndim, (what, text)
        sizes = {d: n for d, n in zip(parsed.shape, want.shape) if d not in e.shape}   # tprod(eye, eye)
        assert_close(td.evaluate(parsed, values, **sizes), want, 1e-9, f"{what}: td.parse({text!r})")
    return len(texts)


# ---------------------------------------------------------------- regressions found by this file

def test_a_function_of_a_spread_vector_is_the_spread_function_so_a_sum_over_the_spread_axis_reads_back():
    # The Hessian of Σ ((X - μᵀ)/exp(μ))² in μ printed 2*diag(((vector(1)*exp(mu)').^(-2))'*vector(1)) + ...:
    # exp(μ) divides X through a spread (b, d) copy, whose power was summed over the rows b. Its
    # matrix notation summed an unsized vector(1) against another, so the row count b was lost and
    # td.parse's reading had a dim no symbol sizes. f(spread v) is now spread f(v), and the sum
    # over b is size(X, 1) times the rest.
    X, mu = td.matrix("X", "b d"), td.vector("mu", "d")
    rng = np.random.default_rng(7)
    values = dict(X=rng.standard_normal((4, 3)), mu=0.3 * rng.standard_normal(3))
    f = td.sum(((X - mu) / td.exp(mu)) ** 2)
    hessian = td.diff(f, mu, 2)
    assert reads_back(hessian, values, "hessian") >= 1
    assert "size(X, 1)" in to_matrix(hessian), to_matrix(hessian)
    R, s = values["X"] - values["mu"], np.exp(-2 * values["mu"])
    # f = Σ_b Σ_d R² s with ∂R/∂μ = -1, ∂s/∂μ = -2s: f'' = Σ_b (2 + 8R + 4R²) s on the diagonal
    assert_close(td.evaluate(hessian, values), np.diag(((2 + 8 * R + 4 * R * R) * s).sum(axis=0)), EXACT, "closed form")
    assert_close(td.evaluate(td.diff(f, mu), values), (-2 * R * s - 2 * R * R * s).sum(axis=0), EXACT, "gradient")
    # any function of any spread (transposed, or an outer product with ones) runs on the vector
    v = td.vector("v", "d")
    values["v"] = 1 + rng.random(3)
    numeric = np.broadcast_to(values["v"], (4, 3))
    for spread, copy in ((td.broadcast_to(v, "b d"), numeric), (td.broadcast_to(v, "b d").T, numeric.T),
                         (td.outer(v, td.ones("b")), numeric.T)):
        for fn, twin in ((td.exp, np.exp), (td.tanh, np.tanh), (lambda z: z ** -2, lambda z: z ** -2.0), (td.sqrt, np.sqrt)):
            e = fn(spread)
            assert_close(td.evaluate(e, values), twin(copy), EXACT, f"{td.index_notation(e)}")
            applied = [n for n in topological([e]) if isinstance(n, td.expr.Apply)]
            assert applied and all(n.shape == ("d",) for n in applied), td.index_notation(e)
