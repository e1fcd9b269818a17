"""The compiled kernel's row paths and its scaling of a dying buffer, against the numpy twin (bit for
bit) and numpy; and the scale-folding pass (scalefolding.py) that makes sums use them.

The kernel writes a group of terms a chunk of rows at a time: filled where nothing runs along the
row (a constant, or factors of the row alone), as a product where several contiguous factors do,
in the fused pass where one does, and in a generic strided loop otherwise (a strided factor or
target: the declined cases). Every case runs with the compiled kernel and with the twin.
"""

import pickle
import threading

import numpy as np
import pytest

import tensordiff as td
from tensordiff import fusion, kernels, passes
from tensordiff.fusion import FusedSumStep
from tensordiff.passes import run_passes
from tensordiff.scalefolding import fold_scales

BUILT = kernels._compiled is not None
IMPLEMENTATIONS = [True, False] if BUILT else [False]
needs_kernels = pytest.mark.skipif(not kernels.kernels_info().startswith(("compiled", "numpy twin: the compiled kernels are built")),
                                   reason="the compiled kernels are not built")


@pytest.fixture
def restore_kernels():
    previous = kernels.kernels_available()
    yield
    kernels.use_compiled(previous)


def _array(rng, shape, dtype, layout):
    """A random array of ``shape`` in C order, Fortran order, strided (every other entry) or reversed."""
    if layout == "strided":
        return rng.standard_normal(tuple(2 * s for s in shape)).astype(dtype)[tuple(slice(None, None, 2) for _ in shape)]
    array = rng.standard_normal(shape).astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "reversed":
        return array[tuple(slice(None, None, -1) for _ in shape)]
    return array


def _group(rng, shape, dtype, kind, layout):
    """The factors of a term whose group takes the path ``kind``: "fill" (no factor along the last
    axis; a constant or factors of the rows), "fused" (one), "product" (two to five)."""
    last, ndim = len(shape) - 1, len(shape)
    factors = []
    if kind == "fused":
        factors.append((_array(rng, (shape[last],), dtype, layout), (last,)))
    elif kind == "product":
        for _ in range(int(rng.integers(2, 6))):
            axes = (last,) if rng.random() < 0.5 or ndim < 2 else (last - 1, last)
            factors.append((_array(rng, tuple(shape[a] for a in axes), dtype, layout), axes))
    if ndim >= 2 and rng.random() < 0.7:   # a factor of the rows alone
        factors.append((_array(rng, (shape[last - 1],), dtype, "c"), (last - 1,)))
    if ndim >= 3 and rng.random() < 0.5:   # fixed over a block of rows
        factors.append((_array(rng, (shape[0],), dtype, "c"), (0,)))
    return factors


def _reference(base, terms, add):
    """The sum in float64 by np.einsum: each term's factors multiplied onto the target's letters."""
    letters = "abcdefgh"[:base.ndim]
    total = base.astype(np.float64) if add else np.zeros(base.shape)
    for coeff, factors in terms:
        inputs = [letters] + ["".join(letters[a] for a in axes) for _, axes in factors]
        total += coeff * np.einsum(",".join(inputs) + "->" + letters, np.ones(base.shape),
                                   *[array.astype(np.float64) for array, _ in factors])
    return total


def _agree(base, terms, add, what):
    """kernels.products onto copies of base with each implementation: the same bits, numpy's values."""
    results = []
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        target = base.copy()
        kernels.products(target, terms, add)
        results.append(target)
    for result in results[1:]:
        assert np.array_equal(result, results[0], equal_nan=True), what
    tol = 1e-11 if base.dtype == np.float64 else 2e-4
    np.testing.assert_allclose(results[0], _reference(base, terms, add), rtol=tol, atol=tol, err_msg=what)


SHAPES = [(7,), (2100,), (1500, 3), (300, 9), (3, 250, 11), (2, 5, 3, 4), (40, 2100), (1, 1)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["c", "fortran", "strided", "reversed"])
def test_every_row_path_and_its_mixtures_match_the_twin_and_numpy(shape, dtype, layout, restore_kernels):
    """Groups filled, fused and written as products, alone and mixed, on many rows (several chunks)
    and on rows longer than a chunk; a Fortran, strided or reversed factor takes the generic loop."""
    rng = np.random.default_rng(abs(hash((shape, layout, np.dtype(dtype).char))) % 2 ** 32)
    for trial in range(12):
        kinds = [str(k) for k in rng.choice(["fill", "fused", "product"], size=int(rng.integers(1, 6)))]
        terms = [(float(rng.standard_normal()), _group(rng, shape, dtype, kind, layout)) for kind in kinds]
        base = rng.standard_normal(shape).astype(dtype)
        _agree(base, terms, bool(trial % 2), f"{kinds} trial {trial}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_strided_or_transposed_target_takes_the_generic_loop_with_the_same_numbers(dtype, restore_kernels):
    rng = np.random.default_rng(5)
    for target_layout in ("fortran", "strided", "reversed"):
        for trial in range(6):
            kinds = [str(k) for k in rng.choice(["fill", "fused", "product"], size=3)]
            terms = [(float(rng.standard_normal()), _group(rng, (60, 13), dtype, kind, "c")) for kind in kinds]
            _agree(_array(rng, (60, 13), dtype, target_layout), terms, bool(trial % 2), f"{target_layout} {kinds}")


def test_a_constant_sum_fills_as_numpy_does(restore_kernels):
    """A sum of constants only (one group with no factor) fills the target; 0-d and empty targets."""
    for shape in [(), (0, 4), (4, 0), (3, 1000), (5000,)]:
        for add in (False, True):
            base = np.full(shape, 2.5)
            _agree(base, [(1.5, []), (-0.25, [])], add, f"{shape} {add}")


def test_nan_and_inf_go_through_the_new_paths_alike(restore_kernels):
    rng = np.random.default_rng(3)
    row = rng.standard_normal(50)
    row[[3, 7]] = [np.nan, np.inf]
    per_row = rng.standard_normal(20)
    per_row[4] = np.nan
    terms = [(2.0, [(row, (1,)), (row, (1,))]), (1.0, [(per_row, (0,))]), (-1.0, [])]
    _agree(np.zeros((20, 50)), terms, False, "nan")


def _scaled_bound(rng, shape, dtype, scale_axes, coeff, layout="c"):
    """A layout added into a target after the target is scaled by ``coeff`` and by factors along
    ``scale_axes``: (bound kernel or None, layout, arguments, reads, kernel coefficients, coefficients)."""
    terms = [[("f0", (len(shape) - 1,)), ("f1", (0,))], [("f2", tuple(range(len(shape))))], []]
    layout_ = kernels.ProductsLayout(terms, len(shape))
    coeffs = [float(c) for c in rng.standard_normal(3)]
    arrays = {"f0": _array(rng, (shape[-1],), dtype, "c"), "f1": _array(rng, (shape[0],), dtype, "c"),
              "f2": _array(rng, shape, dtype, layout)}
    args = [arrays[key] for key in layout_.keys] + \
        [_array(rng, tuple(shape[a] for a in axes), dtype, "c") for axes in scale_axes]
    scales = [(len(layout_.keys) + k, axes) for k, axes in enumerate(scale_axes)]
    kernel_coeffs = layout_.kernel_coefficients(coeffs)
    bound = layout_.bound(kernel_coeffs, list(range(len(layout_.keys))), tuple(range(len(shape))), True, coeff,
                          scales=scales)
    return bound, layout_, tuple(args), scales, kernel_coeffs, coeffs


def _scaled_by_numpy(target, args, layout, scales, coeffs, coeff):
    """numpy's target *= coeff * F1 * F2 ..., then the terms added (fusion._run_in_place's numbers)."""
    scale = coeff
    for i, axes in scales:
        scale = scale * kernels._broadcastable(args[i], axes, target.ndim)
    if scales or coeff != 1.0:
        target *= scale
    layout.run_twin(target, args[:len(layout.keys)], coeffs, True)
    return target


@needs_kernels
@pytest.mark.parametrize("shape", [(7,), (300, 9), (40, 2100), (3, 50, 11), (1, 1)], ids=str)
@pytest.mark.parametrize("scale_axes", [[], [(0,)], [(0,), (-1,)], [(-1,), (0,)], [(-1,)], [()], [(0, -1)],
                                        [(0,), (-1,), (0,)]], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("coeff", [1.0, -2.0])
def test_a_dying_buffer_scaled_in_the_kernel_is_scaled_as_numpy_does(shape, scale_axes, dtype, coeff):
    """The kernel multiplies each row of the target by the product of the coefficient and the
    factors, formed left to right, just before adding the terms: numpy's numbers, bit for bit."""
    rng = np.random.default_rng(len(shape) * 100 + len(scale_axes))
    scale_axes = [tuple(sorted({a % len(shape) for a in axes})) for axes in scale_axes]
    bound, layout, args, scales, kernel_coeffs, coeffs = _scaled_bound(rng, shape, dtype, scale_axes, coeff)
    base = rng.standard_normal(shape).astype(dtype)
    got = base.copy()
    assert bound(got, args)
    want = _scaled_by_numpy(base.copy(), args, layout, scales, coeffs, coeff)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, base)
    fortran = np.asfortranarray(base)   # rows not contiguous: a coefficient alone scales the whole buffer first
    if not scale_axes and len(shape) > 1 and min(shape) > 1:
        assert bound(fortran, args) and np.array_equal(fortran, want)


@needs_kernels
def test_a_scaled_bound_declines_what_it_cannot_scale_and_writes_nothing():
    """Rows that are not contiguous, a diagonal view, a factor of another shape or dtype: False,
    the target untouched (the caller scales it in numpy, then runs the twin)."""
    rng = np.random.default_rng(8)
    bound, layout, args, scales, kernel_coeffs, coeffs = _scaled_bound(rng, (30, 6), np.float64, [(0,), (1,)], -2.0)
    for target in (np.asfortranarray(rng.standard_normal((30, 6))), rng.standard_normal((30, 12))[:, ::2],
                   rng.standard_normal((30, 6))[::-1, ::-1]):
        before = target.copy()
        assert not bound(target, args)
        assert np.array_equal(target, before)
    target = rng.standard_normal((30, 6))
    for wrong in (args[:-1] + (rng.standard_normal(5),), args[:-1] + (args[-1].astype(np.float32),)):
        before = target.copy()
        assert not bound(target, wrong)
        assert np.array_equal(target, before)
    diagonal = layout.bound(kernel_coeffs, list(range(len(layout.keys))), (0, 0), True, -2.0, scales=[(3, (0,))])
    square = rng.standard_normal((6, 6))
    before = square.copy()
    assert not diagonal(square, (args[0], rng.standard_normal(6), rng.standard_normal((6,)), rng.standard_normal(6)))
    assert np.array_equal(square, before)


@needs_kernels
def test_a_scaled_bound_runs_in_many_threads_at_once():
    """One bound pass, its scratch space per call: eight threads on their own targets, each the twin's."""
    rng = np.random.default_rng(4)
    bound, layout, args, scales, kernel_coeffs, coeffs = _scaled_bound(rng, (400, 50), np.float64, [(0,), (1,)], 3.0)
    bases = [rng.standard_normal((400, 50)) for _ in range(8)]
    wants = [_scaled_by_numpy(b.copy(), args, layout, scales, coeffs, 3.0) for b in bases]
    gots = [b.copy() for b in bases]

    def work(k):
        for _ in range(20):
            target = bases[k].copy()
            bound(target, args)
            gots[k] = target
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(np.array_equal(g, w) for g, w in zip(gots, wants))


# ---------------------------------------------------------------- the scale-folding pass

def _network():
    X, W, a, y = td.matrix("Xf", "nf df"), td.matrix("Wf", "df kf"), td.vector("af", "kf"), td.vector("yf", "nf")
    return W, td.norm(td.tanh(X @ W) @ a - y) ** 2


def _network_values(rng, n=300, d=7, k=5):
    return dict(Xf=rng.standard_normal((n, d)), Wf=rng.standard_normal((d, k)) / 3, af=rng.standard_normal(k),
                yf=rng.standard_normal(n))


def test_the_network_gradient_folds_its_scaling_into_its_sum(restore_kernels):
    """The last product reads 1 - t² scaled by e[c] and 2a[b]: the sum writes them, the product is X'S."""
    W, f = _network()
    g = td.grad(f, W)
    program = td.compile(g)
    folded = [step for _, step, _, _ in program.steps if isinstance(getattr(step, "fused", step), FusedSumStep)
              and getattr(step, "fused", step).shape == ("nf", "kf")]
    assert folded and "[scale folding]" in program.explain()
    planned, _ = run_passes([g])
    last = planned[0]   # X'S: the product of the gradient's shape, over the folded sum
    assert isinstance(last, td.expr.Einsum) and last.coeff == 1.0 and len(last.operands) == 2
    assert sorted(type(op).__name__ for op in last.operands) == ["Add", "Var"]


@pytest.mark.parametrize("compiled", IMPLEMENTATIONS, ids=lambda c: "kernels" if c else "twin")
def test_the_folded_network_gradient_is_the_closed_form_and_finite_differences(compiled, restore_kernels):
    kernels.use_compiled(compiled)
    W, f = _network()
    program = td.compile(td.grad(f, W))
    rng = np.random.default_rng(12)
    for n in (300, 5, 1):
        values = _network_values(rng, n=n)
        got = program(**values)
        X, Wv, a, y = values["Xf"], values["Wf"], values["af"], values["yf"]
        h = np.tanh(X @ Wv)
        want = 2 * X.T @ ((1 - h * h) * np.outer(h @ a - y, a))
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
    assert td.check(f, W, nf=4, df=3, kf=2).max_rel_error < 1e-6


def test_kernels_and_twin_agree_bit_for_bit_on_the_folded_network_gradient(restore_kernels):
    W, f = _network()
    program = td.compile(td.grad(f, W))
    rng = np.random.default_rng(2)
    for layout in ("c", "fortran"):
        values = _network_values(rng, n=700, d=9, k=30)
        if layout == "fortran":
            values = {k: np.asfortranarray(v) for k, v in values.items()}
        results = []
        for compiled in IMPLEMENTATIONS:
            kernels.use_compiled(compiled)
            results.append([program(**values) for _ in range(2)])
        assert all(np.array_equal(r, results[0][0]) for rs in results for r in rs)


def test_a_folded_program_pickles_and_runs_the_same():
    W, f = _network()
    program = td.compile(td.grad(f, W))
    values = _network_values(np.random.default_rng(1))
    want = program(**values)
    again = pickle.loads(pickle.dumps(program))
    assert np.array_equal(again(**values), want)


def _fold(expr):
    return fold_scales([expr])[0]


def test_folding_leaves_what_it_must_alone():
    """Nothing folds into a sum read twice, an output, a sum of one axis, a sum of contractions or
    with a dense factor (as large as the sum); a fold needs a broadcast factor."""
    t, u = td.matrix("tq", "nq kq"), td.matrix("uq", "nq kq")
    e, a, X = td.vector("eq", "nq"), td.vector("aq", "kq"), td.matrix("Xq", "nq dq")
    S = 1 - t * t
    product = 2 * td.einsum("cb,c,b,ca->ab", S, e, a, X)
    assert _fold(product) is not product
    read_twice = product + td.einsum("cb,ca->ab", S, X)
    assert fold_scales([read_twice])[0] is read_twice
    assert fold_scales([product, S]) == [product, S]
    dense = 2 * td.einsum("cb,cb,ca->ab", S, u, X)
    assert _fold(dense) is dense
    v, w = td.vector("vq", "nq"), td.vector("wq", "nq")
    vector_sum = td.einsum("c,c,ca->a", v + w * w, e, X)
    assert _fold(vector_sum) is vector_sum
    contracted = td.einsum("cb,c,ca->ab", t @ td.matrix("Mq", "kq kq") + u, e, X)
    assert _fold(contracted) is contracted
    no_factor = 3 * td.einsum("cb,ca->ab", S, X)
    assert _fold(no_factor) is no_factor


def test_a_fold_keeps_the_value_on_random_sums(monkeypatch):
    """Folded against unfolded, on sums of elementwise terms with factors along either axis or both
    (one and several), a coefficient, and a rest of the product that sums over either axis."""
    rng = np.random.default_rng(30)
    t, u = td.matrix("tr", "nr kr"), td.matrix("ur", "nr kr")
    e, a, c = td.vector("er", "nr"), td.vector("ar", "kr"), td.vector("cr", "nr")
    X, Y = td.matrix("Xr", "nr dr"), td.matrix("Yr", "kr dr")
    values = dict(tr=rng.standard_normal((6, 4)), ur=rng.standard_normal((6, 4)), er=rng.standard_normal(6),
                  ar=rng.standard_normal(4), cr=rng.standard_normal(6), Xr=rng.standard_normal((6, 3)),
                  Yr=rng.standard_normal((4, 3)))
    sums = [1 - t * t, t * u + 2 * t - 0.5, td.exp(t) + td.tanh(u) * t]
    products = ["cb,c,b,ca->ab", "cb,b,c,c,ca->ab", "cb,c,bd->cd", "cb,b,bd->cd", "cb,c->cb"]
    for S in sums:
        for spec in products:
            ops = {"cb,c,b,ca->ab": (e, a, X), "cb,b,c,c,ca->ab": (a, e, c, X), "cb,c,bd->cd": (e, Y),
                   "cb,b,bd->cd": (a, Y), "cb,c->cb": (c,)}[spec]
            expr = -1.5 * td.einsum(spec, S, *ops)
            assert _fold(expr) is not expr, spec
            program = td.compile(expr)
            got = program(**{k: v for k, v in values.items() if k in program.symbols})
            assert "[scale folding]" in program.explain(), spec
            with monkeypatch.context() as patched:
                patched.setattr(passes, "EXPRESSION_PASSES",
                                tuple(p for p in passes.EXPRESSION_PASSES if p.name != "scale folding"))
                unfolded = td.compile(expr)
                assert "[scale folding]" not in unfolded.explain()
                want = unfolded(**{k: v for k, v in values.items() if k in unfolded.symbols})
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=spec)


def test_a_sum_added_in_chunks_may_read_one_array_at_two_sets_of_axes(restore_kernels, monkeypatch):
    # the third derivative of Σ chol(AAᵀ + I)∘C in A (3x3) adds a sum into a dying 3^8 buffer a row
    # at a time (the twin's chunks), and its terms read one array at two sets of axes: each read is
    # sliced on its own (the twin looked arrays up by key, so one read's slice stood for both). The
    # names are the campaign problem's: they order the terms, and so the layout, that showed it
    A, C = td.matrix("A", "n n"), td.matrix("C", "n n")
    f = td.sum(td.cholesky(A @ A.T + td.eye("n")) * C)
    derivative = f
    for _ in range(3):   # one order at a time: td.diff(f, A, 3) builds one term per orbit of slots
        derivative = td.diff(derivative, A)
    rng = np.random.default_rng(5)
    values = dict(A=rng.standard_normal((3, 3)), C=rng.standard_normal((3, 3)))
    repeated_reads_in_chunks = []
    add_in_chunks = fusion._add_in_chunks

    def watched(out, layout, factors, coeffs, kernel_coeffs):
        if len(set(layout.keys)) < len(layout.keys) and kernels.twin_chunk_shape(out.shape)[0] < out.shape[0]:
            repeated_reads_in_chunks.append(out.shape)
        return add_in_chunks(out, layout, factors, coeffs, kernel_coeffs)
    monkeypatch.setattr(fusion, "_add_in_chunks", watched)
    # sum distribution plans this derivative without the 3^8 sum (its reader's result has 3^6 entries)
    monkeypatch.setattr(passes, "EXPRESSION_PASSES",
                        tuple(p for p in passes.EXPRESSION_PASSES if p.name != "sum distribution"))
    results = []
    for compiled in IMPLEMENTATIONS:   # a program binds its sums to the implementation in use at its first call
        kernels.use_compiled(compiled)
        results.append(td.compile(derivative)(**values))
    assert repeated_reads_in_chunks   # the case this guards
    assert all(np.array_equal(r, results[0]) for r in results)
    assert td.check(f, A, order=3, **values).max_rel_error < 1e-6
