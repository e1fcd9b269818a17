"""Peak memory of derivatives through vec/kron/reshape merges inside elementwise functions.

A Kronecker product inside a function, f = Σ kron(M, v vᵀ) / (kron((M M)∘(M M), ...) + 1), has
derivatives whose product reads a sum of the Kronecker factors' derivatives: with respect to M an
(a·b, a·b, a, a) sum, 51.5 GiB at a = 40, b = 30, for a primal of 22 MiB (selfcheck seeds 400155
and 400400, found by benchmarks/memoryscan.py). Sum distribution left it whole on two counts: a
term repeating an operand stayed a nested product (einsumnodes.merge_limit), so the distributed
products, alike but for it, were collected back into the product of their sum; and a merge
constant, never built, counted as a 3-axis operand, so a 3-axis sum did not outgrow its reader.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.composite import Merge
from tensordiff.expr import Add, Einsum, topological
from tensordiff.indices import base_dims
from tensordiff.selfcheck import Example, check_example
from tensordiff.sumdistribution import distribute_sums
from tensordiff.testing import numeric_diff

from helpers import kernels_built

REALISTIC_KM = dict(a=40, b=30)
MIB_KM = 2 ** 20


def _kron_in_function_km():
    """Σ kron(M, v vᵀ) / (kron((M M)∘(M M), (w∘w)(w∘w)ᵀ (w·w)²) + 1): the shape of seed 400400's expression."""
    M, v, w = td.matrix("M", "a a"), td.vector("v", "b"), td.vector("w", "b")
    K = td.kron((M @ M) * (M @ M), td.outer(w * w, w * w) * (w @ w) * (w @ w))
    return td.sum(td.kron(M, td.outer(v, v)) / (K + 1)), {"M": M, "v": v, "w": w}


def _values_km(seed=3, a=3, b=2):
    rng = np.random.default_rng(seed)
    return {"M": rng.standard_normal((a, a)) / 2, "v": rng.standard_normal(b), "w": rng.standard_normal(b) / 2}


def _twin_km(values):
    M, v, w = values["M"], values["v"], values["w"]
    K = np.kron((M @ M) ** 2, np.outer(w * w, w * w) * (w @ w) ** 2)
    return np.sum(np.kron(M, np.outer(v, v)) / (K + 1))


@pytest.fixture
def compiled_sums_km():
    """These peaks are the plan's structure (no 0/1 merge, no wide sum), priced as the compiled
    kernels write sums, in place; the numpy twin's per-chunk temporaries (pricing prices them too,
    so a TENSORDIFF_NO_KERNELS=1 run would compare those) are not what is checked here."""
    previous = kernels.use_compiled(True) if kernels_built() else None
    yield
    if previous is not None:
        kernels.use_compiled(previous)


def _cost_km(expr):
    """td.cost at REALISTIC_KM, given the sizes of the plain dims ``expr``'s plan has (it refuses others)."""
    present = {b for d in td.compile(expr).dims for b in base_dims(d)}
    return td.cost(expr, **{d: n for d, n in REALISTIC_KM.items() if d in present})


@pytest.mark.parametrize("name", ["M", "w", "v"])
def test_kron_in_function_derivative_peak_stays_near_the_primal_km(name, compiled_sums_km):
    """Was 51.5 GiB (d/dM) and 1.3 GiB (d/dw) for a 22 MiB primal at a = 40, b = 30."""
    f, symbols = _kron_in_function_km()
    primal = td.cost(f, **REALISTIC_KM)
    derivative = td.cost(td.diff(f, symbols[name]), **REALISTIC_KM)
    assert primal.peak_bytes < 24 * MIB_KM
    assert derivative.peak_bytes < 2 * primal.peak_bytes, (name, derivative.peak_bytes / MIB_KM)


@pytest.mark.parametrize("name", ["M", "w", "v"])
def test_kron_in_function_derivative_equals_finite_differences_km(name):
    f, symbols = _kron_in_function_km()
    values = _values_km()
    assert np.allclose(td.evaluate(f, **values), _twin_km(values), rtol=1e-12)
    got = td.evaluate(td.diff(f, symbols[name]), **values)
    want = numeric_diff(f, symbols[name], values)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


@pytest.mark.skipif(not kernels.kernels_available(), reason="needs the compiled kernels to compare with the twin")
def test_kron_in_function_derivative_kernels_equal_the_twin_bit_for_bit_km():
    f, symbols = _kron_in_function_km()
    exprs = [td.diff(f, symbols[n]) for n in ("M", "w")]
    values = _values_km(seed=5)
    compiled = td.compile(exprs)(**values)
    previous = kernels.use_compiled(False)
    try:
        twin = td.compile(exprs)(**values)
    finally:
        kernels.use_compiled(previous)
    for got, want in zip(compiled, twin):
        assert np.array_equal(got, want)


SEEDS_KM = [400155, 400400, 400408, 400017, 410243, 400254, 410291, 410391, 410411]
# 410411's derivatives broadcast inv(t2) of (a, a) along b (a²b entries) in place of the (a·b)² 0/1 merge
FACTOR_KM = {410411: 12}


@pytest.mark.parametrize("seed", SEEDS_KM)
def test_selfcheck_seed_derivatives_peak_near_the_primal_km(seed, compiled_sums_km):
    """Each first derivative's planned peak at a = 40, b = 30 within 3x the primal's, or its own result's
    and the inputs' (d/dT of seed 400155 is 330 MiB): was 51.5 GiB for 400155, 400400 and 400408 (d/dM, d/dM,
    d/dN) against primals of 22 MiB, and 33 MiB for 400017's d/dN against 37 KiB; 410391's d/dw (22 MiB,
    t3[q, o] t2[o, p] reading [c = (q, p)] apart) and 410411's d/dv (22 MiB, inv(t2)[i, j] reading
    [c = (i, l)] with l read by nothing) built an (a·b)² 0/1 merge; no plan builds one now."""
    ex = Example(seed, None, True, True)
    primal = _cost_km(ex.expr).peak_bytes
    for name in ex.names:
        derivative = _cost_km(ex.d(name))
        least = max(primal, derivative.bytes + derivative.input_bytes)
        assert derivative.peak_bytes < FACTOR_KM.get(seed, 3) * least, \
            (seed, name, derivative.peak_bytes / MIB_KM, least / MIB_KM)
        assert not [node for node in td.compile(ex.d(name)).nodes if isinstance(node, Merge)], (seed, name)


@pytest.mark.parametrize("seed", SEEDS_KM)
def test_selfcheck_seed_derivatives_equal_finite_differences_km(seed):
    results, _ = check_example(seed, max_order=2, properties=["value", "d1 vs FD", "d2 vs FD", "codegen numpy"])
    assert not [name for name, result in results.items() if result], results


def _outgrown_sums_km(expr):
    """(sum axes, result axes, largest other built operand's axes) of each product reading a sum with more
    axes than its result and its other operands, merges (never built) left out."""
    found = []
    for node in topological([expr]):
        if not isinstance(node, Einsum):
            continue
        for k, op in enumerate(node.operands):
            others = [len(o.shape) for j, o in enumerate(node.operands) if j != k and not isinstance(o, Merge)]
            if isinstance(op, Add) and len(op.shape) > max([len(node.out), *others]):
                found.append((len(op.shape), len(node.out), max(others, default=0)))
    return found


@pytest.mark.parametrize("name", ["M", "w"])
def test_no_product_reads_a_larger_sum_after_distribution_km(name):
    """d/dM: a (a·b, a·b, a, a) sum of 13-operand terms, 8 of them w, which einsum_node keeps nested
    (merge_limit), read by a product of (a, a); d/dw: an (a·b, a·b, b) sum read by a product of (b)
    beside 3-axis merges. Distributed, each term is read inline and no product reads a larger sum."""
    f, symbols = _kron_in_function_km()
    gradient = td.diff(f, symbols[name])
    assert _outgrown_sums_km(gradient)   # as derived
    (planned,) = distribute_sums([gradient])
    assert not _outgrown_sums_km(planned)
    values = _values_km(seed=11)
    np.testing.assert_allclose(td.evaluate(planned, **values), numeric_diff(f, symbols[name], values),
                               rtol=1e-6, atol=1e-8)


def test_a_term_with_a_diagonal_output_is_distributed_exactly_km():
    """A term whose output repeats an index (x[i] y[j] read at (i, j, i, j)) is distributed as a nested
    operand: its diagonal ties the product's indices, which einsum_node unifies."""
    A, B = td.matrix("A", "a b"), td.matrix("B", "a b")
    x, y, R = td.vector("x", "a"), td.vector("y", "b"), td.matrix("R", "a b")
    diagonal = td.einsum("ik,jl->ijkl", td.diag(x), td.diag(y))
    product = td.einsum("ijkl,kl->ij", td.outer(A, B) + diagonal, R)
    (planned,) = distribute_sums([product])
    assert isinstance(planned, Add)
    rng = np.random.default_rng(2)
    values = {"A": rng.standard_normal((3, 2)), "B": rng.standard_normal((3, 2)), "x": rng.standard_normal(3),
              "y": rng.standard_normal(2), "R": rng.standard_normal((3, 2))}
    want = values["A"] * np.sum(values["B"] * values["R"]) + np.outer(values["x"], values["y"]) * values["R"]
    for expr in (product, planned):
        np.testing.assert_allclose(td.evaluate(expr, **values), want, rtol=1e-13, atol=1e-14)


def test_a_sum_over_merged_dims_outgrows_a_reader_of_as_many_axes_km():
    """Selfcheck seed 400408: Σ_mn (1 - t1²)[m,n] N[o,p] [n = (o,p)] (T1 + T2 + T3)[m,n,k,l] [m = (i,j)], a
    (b·a, a·b, a, b) sum read by a (b, a, a, b) product: as many axes, but six atoms to four, so it
    is distributed (was a 51.5 GiB plan for a 22 MiB primal)."""
    ex = Example(400408, None, True, True)
    gradient = ex.d("N")
    (planned,) = distribute_sums([gradient])
    assert _outgrown_sums_km(gradient) == []   # by axes alone it does not outgrow its reader
    big = [node for node in topological([gradient]) if isinstance(node, Add) and len(node.shape) == 4
           and any("·" in d for d in node.shape)]
    assert big and not any(node in set(topological([planned])) for node in big)
    assert _cost_km(gradient).peak_bytes < 2 * _cost_km(ex.expr).peak_bytes


def _diagonal_merge_km():
    """inv(t tᵀ + I), t = |diag(w)| + unvec(|vec(diag(w))|) (selfcheck seed 410243): its derivative
    reads one merged index as (k, k), vec of a diagonal, and as (n, m), the unvec."""
    w = td.vector("w", "b")
    t = td.abs(td.diag(w)) + td.reshape(td.abs(td.vec(td.diag(w))), ("b", "b"))
    return td.inv(t @ t.T + td.eye("b")), w


def test_a_merge_read_on_its_diagonal_is_unified_not_built_km(compiled_sums_km):
    """[o = (k, k)] beside [o = (n, m)] is δ[n, k] δ[m, k]: it was built as a b⁴ 0/1 tensor (24.4 GiB at
    b = 200 for a 61 MiB derivative), now no step is larger than the derivative."""
    f, w = _diagonal_merge_km()
    derivative = td.cost(td.diff(f, w), b=200)
    assert derivative.peak_bytes < 1.5 * (derivative.bytes + derivative.input_bytes), derivative.peak_bytes / MIB_KM
    program = td.compile(td.diff(f, w))
    assert not [node for node in program.nodes if isinstance(node, Merge)]


def test_a_merge_read_on_its_diagonal_equals_finite_differences_km():
    f, w = _diagonal_merge_km()
    values = {"w": np.array([0.7, -1.3, 0.4])}
    got = td.evaluate(td.diff(f, w), **values)
    np.testing.assert_allclose(got, numeric_diff(f, w, values), rtol=1e-6, atol=1e-8)
    if kernels.kernels_available():
        previous = kernels.use_compiled(False)
        try:
            twin = td.compile(td.diff(f, w))(**values)
        finally:
            kernels.use_compiled(previous)
        assert np.array_equal(got, twin)


def _reinterpreted_km():
    """unvec(vec(N) ∘ X read through a·b), X = (w∘w) relu(v)ᵀ of (b, a) (selfcheck seed 400254): one flat
    index is (i, j) of the (a, b) output and N, and (k, l) of X, whose k a derivative in w keeps apart."""
    N, v, w = td.matrix("N", "a b"), td.vector("v", "a"), td.vector("w", "b")
    X = td.outer(w * w, td.relu(v))
    return td.reshape(td.reshape(N, ("a·b",)) * td.reshape(X, ("a·b",)), ("a", "b")), {"N": N, "v": v, "w": w}


@pytest.mark.parametrize("name", ["w", "v"])
def test_a_reinterpreted_merge_is_split_the_readable_way_km(name):
    """Split as (i, j) first, (k, l) could not be read and the (a·b)² 0/1 array was built: 13.4 GiB at
    a = 200, b = 150 for a derivative of 35-46 MiB. Split as (k, l), (i, j) is a run of the output."""
    f, symbols = _reinterpreted_km()
    derivative = td.cost(td.diff(f, symbols[name]), a=200, b=150)
    assert derivative.peak_bytes < 2.5 * (derivative.bytes + derivative.input_bytes), derivative.peak_bytes / MIB_KM
    assert not [node for node in td.compile(td.diff(f, symbols[name])).nodes if isinstance(node, Merge)]


@pytest.mark.parametrize("name", ["w", "v", "N"])
def test_a_reinterpreted_merge_equals_finite_differences_km(name):
    f, symbols = _reinterpreted_km()
    rng = np.random.default_rng(4)
    values = {"N": rng.standard_normal((3, 2)), "v": np.array([0.5, -0.7, 1.1]), "w": rng.standard_normal(2)}
    want = (values["N"].reshape(-1) * np.outer(values["w"] ** 2, np.maximum(values["v"], 0)).reshape(-1)).reshape(3, 2)
    np.testing.assert_allclose(td.evaluate(f, **values), want, rtol=1e-14)
    got = td.evaluate(td.diff(f, symbols[name]), **values)
    np.testing.assert_allclose(got, numeric_diff(f, symbols[name], values), rtol=1e-6, atol=1e-8)
    if kernels.kernels_available():
        previous = kernels.use_compiled(False)
        try:
            twin = td.compile(td.diff(f, symbols[name]))(**values)
        finally:
            kernels.use_compiled(previous)
        assert np.array_equal(got, twin)


@pytest.mark.parametrize("seed, name", [(14, "N"), (3862, "N")])
def test_a_flat_index_read_several_ways_is_differentiated_exactly_km(seed, name):
    """test_random's generator (seed 1000 + seed): one flat index read as three merges. Seed 14:
    a part renamed by unifying two merges was read by its old name after. Seed 3862: two groups of
    operands contracted to read their parts as runs were removed by stale positions."""
    from tensordiff.randexpr import DEPTH, SHAPES, USER_FUNCTIONS, ExpressionGenerator
    from tensordiff.selfcheck import fd_twin
    generator = ExpressionGenerator(1000 + seed)
    expr, f = generator.gen(SHAPES[seed % len(SHAPES)], DEPTH)
    got = td.evaluate(td.diff(expr, generator.S[name]), functions=USER_FUNCTIONS, **generator.V)
    want = fd_twin(f, generator.V, name, symmetric=generator.S[name].symmetric)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * max(1.0, float(np.max(np.abs(want)))))
