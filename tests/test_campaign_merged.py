"""A test campaign on the merged tree: derivatives of orders 2-3 built one order at a time
(``d = td.diff(d, X)`` repeatedly) and at once (``td.diff(f, X, k)``), on varied expressions
(cholesky, inv, logdet, softmax, tanh networks, kron/vec, reshape, broadcasting, symmetric matrices)
at sizes 1, 3 and 7 (7 makes the numpy twin add sums in chunks of several rows).

Each derivative is checked against central finite differences of the one an order lower, the two
ways of building it against each other, the compiled kernels against the numpy twin bit for bit
(each on a fresh program: a program binds its route at its first call), and its printed forms
(to_einsum code run, matrix notation parsed back, codegen run), with and without ``sized_by=``.
"""

import functools
import inspect

import numpy as np
import pytest

import tensordiff as td
from tensordiff import fusion, kernels, passes
from tensordiff.randexpr import USER_FUNCTIONS
from tensordiff.selfcheck import Example, check_example
from tensordiff.testing import numeric_diff, random_values

from helpers import assert_close, symbols_of



def _kernels_built():
    try:
        previous = kernels.use_compiled(True)
    except RuntimeError:   # not built: the twin is the one implementation
        return False
    kernels.use_compiled(previous)
    return True


IMPLEMENTATIONS = [True, False] if _kernels_built() else [False]
EXACT = 1e-9    # two exact evaluations of one derivative, up to rounding
FD = 2e-6       # against central differences, relative to the largest entry


@pytest.fixture
def restore_kernels():
    previous = kernels.kernels_available()
    yield
    kernels.use_compiled(previous)


def _spd(rng, n):
    a = rng.standard_normal((n, n)) / np.sqrt(n)
    return a @ a.T + np.eye(n)


def _symmetric(rng, n, scale=1.0):
    a = rng.standard_normal((n, n))
    return scale * (a + a.T) / 2


def _well_conditioned(rng, n):
    return 2 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)


# Each problem: (f, the symbol differentiated, values(rng, size)); names carry the problem's tag,
# so no two problems (and no two tests) share a symbol or a dim name.

def chol_logdet(t):
    A, C = td.matrix(f"A{t}", f"n{t} n{t}"), td.matrix(f"C{t}", f"n{t} n{t}")
    inner = A @ A.T + td.eye(f"n{t}")
    f = td.logdet(inner) + td.sum(td.cholesky(inner) * C)
    return f, A, lambda r, s: {A.name: r.standard_normal((s, s)), C.name: r.standard_normal((s, s))}


def inv_trace(t):
    A, B = td.matrix(f"A{t}", f"n{t} n{t}"), td.matrix(f"B{t}", f"n{t} n{t}")
    return td.trace(td.inv(A) @ B), A, lambda r, s: {A.name: _well_conditioned(r, s), B.name: r.standard_normal((s, s))}


def symmetric_logdet_inv(t):
    S, B = td.matrix(f"S{t}", f"n{t} n{t}", symmetric=True), td.matrix(f"B{t}", f"n{t} n{t}")
    return td.logdet(S) + td.trace(td.inv(S) @ B), S, lambda r, s: {S.name: _spd(r, s), B.name: r.standard_normal((s, s))}


def softmax_cross_entropy(t):
    X, W, Y = td.matrix(f"X{t}", f"m{t} n{t}"), td.matrix(f"W{t}", f"n{t} n{t}"), td.matrix(f"Y{t}", f"m{t} n{t}")
    f = td.sum(Y * td.log_softmax(X @ W)) + td.sum(td.softmax(X @ W) ** 2)
    return f, W, lambda r, s: {X.name: r.standard_normal((s + 1, s)), W.name: 0.5 * r.standard_normal((s, s)),
                               Y.name: r.standard_normal((s + 1, s))}


def tanh_network(t):
    X, W, V, Y = (td.matrix(f"{c}{t}", dims) for c, dims in
                  (("X", f"m{t} n{t}"), ("W", f"n{t} n{t}"), ("V", f"n{t} n{t}"), ("Y", f"m{t} n{t}")))
    f = td.sum(td.tanh(td.tanh(X @ W) @ V) * Y)
    return f, W, lambda r, s: {X.name: r.standard_normal((s + 1, s)), W.name: 0.5 * r.standard_normal((s, s)),
                               V.name: r.standard_normal((s, s)), Y.name: r.standard_normal((s + 1, s))}


def kron_vec(t):
    A, B, C = (td.matrix(f"{c}{t}", f"n{t} n{t}") for c in "ABC")
    f = td.vec(A) @ td.kron(B, C) @ td.vec(A) + td.sum(td.vec(A @ B) ** 3)
    return f, A, lambda r, s: {k: r.standard_normal((s, s)) for k in (A.name, B.name, C.name)}


def reshaped(t):
    Z, v = td.matrix(f"Z{t}", f"m{t} n{t}"), td.vector(f"v{t}", f"m{t}*n{t}")
    f = td.sum(td.sin(td.reshape(Z, f"m{t}*n{t}")) * v) + td.sum(td.reshape(Z * Z, f"m{t}*n{t}") ** 2)
    return f, Z, lambda r, s: {Z.name: r.standard_normal((s + 1, s)), v.name: r.standard_normal((s + 1) * s)}


def broadcast_bias(t):
    X, W, Y = td.matrix(f"X{t}", f"m{t} n{t}"), td.matrix(f"W{t}", f"n{t} n{t}"), td.matrix(f"Y{t}", f"m{t} n{t}")
    b = td.vector(f"b{t}", f"n{t}")
    f = td.sum(td.exp(0.3 * (X @ W + b)) * Y) + td.sum(td.broadcast_to(b, f"m{t} n{t}") * td.tanh(X))
    return f, b, lambda r, s: {X.name: r.standard_normal((s + 1, s)), W.name: 0.5 * r.standard_normal((s, s)),
                               Y.name: r.standard_normal((s + 1, s)), b.name: r.standard_normal(s)}


def symmetric_power(t):
    S, B = td.matrix(f"S{t}", f"n{t} n{t}", symmetric=True), td.matrix(f"B{t}", f"n{t} n{t}")
    f = td.trace(td.matrix_power(S, 3) @ B) + td.sum(S * S * S)
    return f, S, lambda r, s: {S.name: _symmetric(r, s), B.name: r.standard_normal((s, s))}


def sigmoid_quadratic(t):
    x, A = td.vector(f"x{t}", f"n{t}"), td.matrix(f"A{t}", f"n{t} n{t}")
    f = td.sum(td.sigmoid(x @ A @ x)) + td.logsumexp(A @ x)
    return f, x, lambda r, s: {x.name: r.standard_normal(s), A.name: 0.5 * r.standard_normal((s, s))}


def solve_det(t):
    A, x = td.matrix(f"A{t}", f"n{t} n{t}"), td.vector(f"x{t}", f"n{t}")
    f = td.sum(td.solve(A, x) ** 2) + td.det(A)
    return f, A, lambda r, s: {A.name: _well_conditioned(r, s), x.name: r.standard_normal(s)}


def elementwise_mix(t):
    A, B = td.matrix(f"A{t}", f"n{t} n{t}"), td.matrix(f"B{t}", f"n{t} n{t}")
    f = td.sum(td.exp(0.2 * A) * (A @ A)) + td.sum(td.log1p(A * A) * B)
    return f, A, lambda r, s: {A.name: r.standard_normal((s, s)), B.name: r.standard_normal((s, s))}


def diagonal_outer(t):
    x, A = td.vector(f"x{t}", f"n{t}"), td.matrix(f"A{t}", f"n{t} n{t}")
    f = td.sum(td.diag(x) @ A @ td.outer(x, x)) + td.sum(td.softplus(td.diagonal(A) * x))
    return f, x, lambda r, s: {x.name: r.standard_normal(s), A.name: r.standard_normal((s, s))}


def gram_cholesky_solve(t):
    X, W = td.matrix(f"X{t}", f"m{t} n{t}"), td.matrix(f"W{t}", f"n{t} n{t}")
    f = td.sum(td.solve(td.cholesky(X.T @ X + td.eye(f"n{t}")), W) * W)
    return f, X, lambda r, s: {X.name: r.standard_normal((s + 1, s)), W.name: r.standard_normal((s, s))}


def symmetric_logdet_shifted_inverse(t):
    S, B = td.matrix(f"S{t}", f"n{t} n{t}", symmetric=True), td.matrix(f"B{t}", f"n{t} n{t}")
    f = td.logdet(S @ S + td.eye(f"n{t}")) + td.sum(td.inv(S + 3 * td.eye(f"n{t}")) * B)
    return f, S, lambda r, s: {S.name: _symmetric(r, s, 0.5), B.name: r.standard_normal((s, s))}


PROBLEMS = {fn.__name__: fn for fn in (
    chol_logdet, inv_trace, symmetric_logdet_inv, softmax_cross_entropy, tanh_network, kron_vec, reshaped,
    broadcast_bias, symmetric_power, sigmoid_quadratic, solve_det, elementwise_mix, diagonal_outer,
    gram_cholesky_solve, symmetric_logdet_shifted_inverse)}


@functools.cache
def derivatives(name, purpose, top):
    """The problem's f, symbol, values and [f, d1, ..., d_top] built one order at a time, with
    names tagged by the problem and the test's purpose."""
    f, wrt, values = PROBLEMS[name](f"_{name[:4]}{purpose}")
    steps = [f]
    for _ in range(top):
        steps.append(td.diff(steps[-1], wrt))
    return f, wrt, values, steps


def _values(name, values, size):
    return values(np.random.default_rng([sum(map(ord, name)), size]), size)


@pytest.mark.parametrize("name", PROBLEMS)
def test_derivatives_one_order_at_a_time_match_finite_differences_and_the_direct_ones(name):
    f, wrt, make, steps = derivatives(name, "fd", 3)
    for size in (1, 3, 7):
        values = _values(name, make, size)
        for k in range(1, 4):
            got = np.asarray(td.evaluate(steps[k], values))
            what = f"{name}, size {size}, order {k}"
            assert_close(got, numeric_diff(steps[k - 1], wrt, values), FD, f"{what}: vs central differences")
            assert_close(np.asarray(td.evaluate(td.diff(f, wrt, k), values)), got, EXACT,
                         f"{what}: td.diff(f, X, {k}) vs one order at a time")


@pytest.mark.parametrize("name", PROBLEMS)
def test_kernels_and_twin_agree_bit_for_bit_on_derivatives(name, restore_kernels):
    f, wrt, make, steps = derivatives(name, "bits", 3)
    for size in (3, 7):
        values = _values(name, make, size)
        for k in (2, 3):
            ways = [("one order at a time", steps[k])] + [("at once", td.diff(f, wrt, k))] * (size < 7)   # runtime
            for how, derivative in ways:
                results = []
                for compiled in IMPLEMENTATIONS:   # a program binds its route at its first call: a fresh one each
                    kernels.use_compiled(compiled)
                    program = td.compile(derivative)
                    results.append([np.asarray(program(**values)) for _ in range(2)])
                want = results[0][0]
                for rs in results:
                    for r in rs:
                        assert r.shape == want.shape and np.array_equal(r, want, equal_nan=True), \
                            f"{name}, size {size}, order {k} ({how}): kernels and twin differ by {np.max(np.abs(r - want)):.3g}"
                assert_close(want, np.asarray(td.evaluate(derivative, values)), EXACT,
                             f"{name}, size {size}, order {k} ({how}): compiled vs td.evaluate")


def _run_codegen(expr, values):
    namespace = {}
    exec(td.codegen(expr, asserts=True), namespace)   # noqa: S102 - the generated code is what is tested
    parameters = inspect.signature(namespace["f"]).parameters
    return namespace["f"](*[np.asarray(values[p], dtype=float) for p in parameters])


@pytest.mark.parametrize("name", PROBLEMS)
def test_printed_derivatives_read_back_with_and_without_sized_by(name):
    f, wrt, make, steps = derivatives(name, "print", 2)
    problem = symbols_of(f)
    values = _values(name, make, 3)
    texts = 0
    for k, derivative in enumerate(steps):
        want = np.asarray(td.evaluate(derivative, values), dtype=float)
        what = f"{name}, order {k}"
        assert_close(_run_codegen(derivative, values), want, EXACT, f"{what}: codegen")
        for sized_by in (None, problem):
            scope = {"np": np, **{n: np.asarray(v, dtype=float) for n, v in values.items()}}
            exec(td.to_einsum(derivative, sized_by=sized_by), scope)   # noqa: S102
            assert_close(scope["out"], want, EXACT, f"{what}: to_einsum, sized_by={sized_by is not None}")
            text = str(td.matrix_notation(derivative, sized_by=sized_by))
            if text.startswith("no matrix notation"):
                continue
            parsed = td.parse(text, symbols=problem)
            sizes = {d: n for d, n in zip(parsed.shape, want.shape) if d not in derivative.shape}
            assert_close(td.evaluate(parsed, values, **sizes), want, EXACT, f"{what}: td.parse({text!r})")
            texts += 1
    assert texts >= 2   # the value and its gradient at least have matrix notation


def test_a_row_spread_over_a_merged_dim_is_bracketed_before_a_hadamard_product():
    # selfcheck seed 151192: where(vec(M) > 0, ..., -u'Mw) differentiated in u spread a row over
    # (b·a, a); its ones matrix, kron(vector(1), vector(1))*vector(1)', was written unbracketed after
    # '.*', and '*' and '.*' group to the left, so td.parse read (X .* kron(...))*vector(1)'. That
    # derivative is now where(vec(M) > 0, 0, -1)*(Nw)' (branchderivatives.py): the choice it was,
    # between the mask spread over (b·a, a) and the spread row, is written out here
    N, u, w = td.matrix("N_spread", "a_spr b_spr"), td.vector("u_spread", "a_spr"), td.vector("w_spread", "b_spr")
    t1 = td.vec(1 / (N * N + 1))
    derivative = td.where(td.outer(t1 > 0, td.ones("a_spr")), 0.0, -td.outer(td.ones(t1.shape), N @ w))
    text = str(td.matrix_notation(derivative))
    assert ".* (kron(" in text
    rng = np.random.default_rng(3)
    values = {N.name: rng.standard_normal((3, 2)), u.name: rng.standard_normal(3), w.name: rng.standard_normal(2)}
    assert_close(td.evaluate(td.parse(text, symbols=[N, u, w]), values), td.evaluate(derivative, values), EXACT,
                 f"td.parse({text!r})")


def test_the_campaign_adds_sums_in_chunks_that_read_one_array_twice(restore_kernels, monkeypatch):
    """Third derivatives at size 7 are where the twin adds a sum a few rows at a time (7^6 entries),
    some of whose terms read one array at two sets of axes (chol_logdet's too): the bit-for-bit test
    above covers both."""
    chunked = []
    add_in_chunks = fusion._add_in_chunks

    def watched(out, layout, factors, coeffs, kernel_coeffs):
        if kernels.twin_chunk_shape(out.shape)[0] < out.shape[0]:
            chunked.append(len(set(layout.keys)) < len(layout.keys))
        return add_in_chunks(out, layout, factors, coeffs, kernel_coeffs)
    monkeypatch.setattr(fusion, "_add_in_chunks", watched)
    # sum distribution plans it without the sums larger than their readers that read one array twice
    monkeypatch.setattr(passes, "EXPRESSION_PASSES",
                        tuple(p for p in passes.EXPRESSION_PASSES if p.name != "sum distribution"))
    kernels.use_compiled(False)
    f, wrt, make, steps = derivatives("gram_cholesky_solve", "bits", 3)
    td.compile(steps[3])(**_values("gram_cholesky_solve", make, 7))
    assert len(chunked) >= 2 and any(chunked)


@pytest.mark.parametrize("name", ["inv_trace", "symmetric_logdet_inv", "softmax_cross_entropy", "tanh_network"])
def test_derivatives_of_orders_two_and_three_match_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    f, wrt, make, steps = derivatives(name, "jax", 3)
    values = _values(name, make, 3)
    names = {n: n.split("_")[0] for n in values}   # A_chol... -> A

    def twin(x):
        v = {names[n]: (x if n == wrt.name else jnp.asarray(a)) for n, a in values.items()}
        if name == "inv_trace":
            return jnp.trace(jnp.linalg.inv(v["A"]) @ v["B"])
        if name == "symmetric_logdet_inv":
            s = (v["S"] + v["S"].T) / 2   # tensordiff's derivative in a symmetric symbol is the symmetric one
            return jnp.linalg.slogdet(s)[1] + jnp.trace(jnp.linalg.inv(s) @ v["B"])
        z = v["X"] @ v["W"]
        if name == "softmax_cross_entropy":
            return jnp.sum(v["Y"] * jax.nn.log_softmax(z, axis=-1)) + jnp.sum(jax.nn.softmax(z, axis=-1) ** 2)
        return jnp.sum(jnp.tanh(jnp.tanh(z) @ v["V"]) * v["Y"])

    fn = twin
    for k in range(1, 4):
        fn = jax.jacfwd(fn)
        want = np.asarray(jax.jit(fn)(jnp.asarray(values[wrt.name])))
        assert_close(td.evaluate(steps[k], values), want, 1e-8, f"{name}, order {k}: vs jax")
        if k < 3:   # the FD test compares td.diff(f, X, 3) with the third one built an order at a time
            assert_close(td.evaluate(td.diff(f, wrt, k), values), want, 1e-8, f"{name}, order {k} at once: vs jax")


def test_kernels_and_twin_agree_bit_for_bit_on_random_third_derivatives_summed_in_chunks(restore_kernels):
    """Third derivatives of selfcheck's random scalar expressions in a matrix symbol, at size 5
    (5^6 entries: the twin adds their sums a few rows at a time), by each implementation."""
    compared = 0
    for seed in range(160000, 160080):
        example = Example(seed)
        matrices = [example.S[n] for n in example.names if example.S[n].ndim == 2]
        if example.expr.ndim > 1 or not matrices:
            continue
        derivative = example.expr
        for _ in range(3):
            derivative = td.diff(derivative, matrices[0])
        dims = {str(d) for s in symbols_of(example.expr) for d in s.dims}
        values = random_values([example.expr], sizes={d: 5 for d in dims if "·" not in d and "+" not in d}, seed=seed)
        results = []
        for compiled in IMPLEMENTATIONS:
            kernels.use_compiled(compiled)
            program = td.compile(derivative, singular="nan", conditioning="ignore")
            results.append(np.asarray(program(functions=USER_FUNCTIONS, **values)))
        assert all(np.array_equal(r, results[0], equal_nan=True) for r in results), f"seed {seed}"
        compared += 1
    assert compared >= 10


def test_a_product_after_hadamard_with_a_diagonal_is_bracketed():
    # selfcheck seed 162082: a derivative written diag(X*v*(X*v)') .* w .* inv(T)*...*vector(1) (a
    # diagonal of a product times vectors, one of them a product) had no brackets round the last
    # vector, so td.parse read (diag(...) .* w .* inv(T))*...*vector(1), a column .* a matrix
    results, example = check_example(162082, widened=True)   # the command line widens
    assert results["parse round trip"] is None, results["parse round trip"]


# selfcheck seed 162023 (widened): the merge of Σ_ij [i = (j,j)] was expanded away with j, read by it
# alone (a repeated part), so the plan summed nothing: 1, not a
def test_the_trace_of_a_reshaped_vector_has_the_derivative_a_in_a_scalar_added_to_it():
    v, w, r = td.vector("v_mg", "a_mg*a_mg"), td.vector("w_mg", "a_mg"), td.scalar("r_mg")
    f = td.trace(td.reshape(v + r, "a_mg a_mg")) + td.sum(w)   # d/dr = Σ_j 1 = a; w sizes a
    values = {v.name: np.arange(9.0), w.name: np.ones(3), r.name: 0.3}
    assert_close(numeric_diff(f, r, values), 3.0, FD, "central differences")   # the value is right
    weighted = td.diff(f, r) * td.sum(w)   # the derivative alone holds no symbol to size a
    assert_close(td.evaluate(weighted, values), 3.0 * 3.0, EXACT, f"({td.diff(f, r)}) * sum(w) at a = 3")
