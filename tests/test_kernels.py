"""The compiled kernels against their numpy twin (bit for bit) and against finite differences.

``kernels.products`` writes sums of products of small factors into an output or onto its
generalised diagonal; every derivative with more than one term goes through it. Each case runs
with the compiled kernel and with the numpy twin, and the two must agree exactly.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import kernels
from tensordiff.testing import numeric_diff

BUILT = kernels._compiled is not None
IMPLEMENTATIONS = [True, False] if BUILT else [False]


@pytest.fixture
def restore_kernels():
    previous = kernels.kernels_available()
    yield
    kernels.use_compiled(previous)


def test_extension_is_built_where_cython_and_a_compiler_are():
    """pip install builds tensordiff/_kernels.pyx; a silent fallback would hide a broken build.
    (The test extra installs Cython, so a test environment has it unless set up by hand.)"""
    if os.environ.get("TENSORDIFF_NO_BUILD") or not (shutil.which("cc") or shutil.which("gcc")) \
            or importlib.util.find_spec("Cython") is None:
        pytest.skip("no Cython or C compiler here (or the build was switched off): the numpy twin is in use")
    assert BUILT, "tensordiff._kernels is not built: run pip install -e . (needs Cython and a C compiler)"
    if not os.environ.get("TENSORDIFF_NO_KERNELS"):
        assert td.kernels_available()


def test_a_stale_compiled_module_falls_back_to_the_twin_with_a_warning():
    # an editable install keeps the old .so when _kernels.pyx changes; calling it with the new
    # signature raised a TypeError on every evaluation
    script = (
        "import sys, types, warnings, numpy as np\n"
        "sys.modules['tensordiff._kernels'] = types.ModuleType('tensordiff._kernels')   # no KERNEL_VERSION\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import tensordiff as td\n"
        "assert any('out of date' in str(w.message) for w in caught), caught\n"
        "assert not td.kernels_available()\n"
        "x = td.vector('x', 'n')\n"
        "print(td.evaluate(td.hessian(td.sum(td.tanh(x)) * td.sum(x), x), x=np.ones(3)).shape)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 3)"


def test_use_compiled_switches_and_reports(restore_kernels):
    kernels.use_compiled(False)
    assert not td.kernels_available()
    if BUILT:
        assert kernels.use_compiled(True) is False
        assert td.kernels_available()
    else:
        with pytest.raises(RuntimeError, match="not built"):
            kernels.use_compiled(True)


def _random_terms(rng, shape, dtype, pool_size=4):
    ndim = len(shape)
    pool = []
    for _ in range(pool_size):
        axes = tuple(int(a) for a in rng.permutation(ndim)[:rng.integers(0, ndim + 1)])
        array = rng.standard_normal(tuple(shape[a] for a in axes)).astype(dtype)
        if array.ndim >= 2 and rng.random() < 0.5:
            array = np.asfortranarray(array)        # strides that are not C order
        pool.append((array, axes))
    terms = []
    for _ in range(rng.integers(1, 6)):
        chosen = rng.choice(pool_size, size=rng.integers(0, pool_size), replace=False)
        terms.append((float(rng.standard_normal()), [pool[k] for k in chosen]))
    return terms


def _reference(base, terms, add):
    total = base.astype(np.float64) if add else np.zeros(base.shape)
    for coeff, factors in terms:
        value = coeff
        for array, axes in factors:
            value = value * kernels._broadcastable(array.astype(np.float64), axes, base.ndim)
        total = total + value
    return total


def _assert_products_agree(base, terms, add, tol, what):
    """kernels.products onto copies of base, with each implementation: the same dtype as base, the
    same bits, and the reference's values within tol."""
    results = []
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        target = base.copy()
        kernels.products(target, terms, add)
        assert target.dtype == base.dtype, what
        results.append(target)
    assert all(np.array_equal(r, results[0]) for r in results), what
    np.testing.assert_allclose(results[0], _reference(base, terms, add), rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_twins_agree_bit_for_bit(dtype, restore_kernels):
    rng = np.random.default_rng(11)
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for trial in range(300):
        shape = tuple(int(s) for s in rng.integers(1, 5, rng.integers(0, 5)))
        terms = _random_terms(rng, shape, dtype)
        add = bool(trial % 2)
        base = rng.standard_normal(shape).astype(dtype)
        _assert_products_agree(base, terms, add, tol, f"trial {trial}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_of_many_groups_written_in_one_pass_agree_bit_for_bit(dtype, restore_kernels):
    """Up to four groups whose row factor is contiguous are written in one fused pass per row; a group
    with a strided row factor, two row factors or none takes its own pass, in between. Long rows
    (vectorised loops with remainders) and blocks of many rows, against the twin and a reference."""
    rng = np.random.default_rng(23)
    shape = (3, 5, 7, 19)
    for trial in range(40):
        terms = []
        for _ in range(int(rng.integers(1, 9))):
            along = rng.standard_normal((shape[int(rng.integers(1, 3))], 19)).astype(dtype)
            axes = (1 if along.shape[0] == 5 else 2, 3)
            kind = rng.integers(0, 4)
            if kind == 1:
                along = np.asfortranarray(along)                    # a strided row
            factors = [(along, axes)] if kind != 2 else []          # no row factor
            if kind == 3:
                factors.append((rng.standard_normal(19).astype(dtype), (3,)))   # two row factors
            factors.append((rng.standard_normal((3, 7)).astype(dtype), (0, 2)))  # moves along the rows
            if rng.random() < 0.5:
                factors.append((rng.standard_normal(3).astype(dtype), (0,)))     # fixed over a block
            terms.append((float(rng.standard_normal()), factors))
        add = bool(trial % 2)
        base = rng.standard_normal(shape).astype(dtype)
        tol = 1e-12 if dtype == np.float64 else 1e-4
        _assert_products_agree(base, terms, add, tol, f"trial {trial}")


def test_products_on_a_generalised_diagonal(restore_kernels):
    """Terms with Kronecker deltas are written onto a strided view: zero off the diagonal."""
    rng = np.random.default_rng(2)
    A, b = rng.standard_normal((3, 4)), rng.standard_normal(5)
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        out = np.ones((3, 4, 3, 5))
        kernels.products(kernels.diagonal_view(out, (0, 1, 0, 2)), [(2.0, [(A, (0, 1)), (b, (2,))])], add=True)
        want = np.ones((3, 4, 3, 5)) + 2.0 * np.einsum("ij,ik,l->ijkl", A, np.eye(3), b)
        np.testing.assert_array_equal(out, want)


def test_products_edge_shapes(restore_kernels):
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        scalar = np.zeros(())
        kernels.products(scalar, [(3.0, [(np.array(2.0), ())]), (1.0, [])], add=False)
        assert scalar == 7.0
        empty = np.zeros((3, 0, 2))
        kernels.products(empty, [(1.0, [(np.ones((3, 0)), (0, 1))])], add=False)
        assert empty.shape == (3, 0, 2)
        broadcast = np.empty((2, 3))
        kernels.products(broadcast, [(1.5, [])], add=False)
        np.testing.assert_array_equal(broadcast, np.full((2, 3), 1.5))


def test_one_factor_repeated_in_a_term(restore_kernels):
    """x * x * x reads one array three times along the row (a buffer overrun once crashed here)."""
    x = np.linspace(-1.0, 1.0, 7)
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        out = np.empty(7)
        kernels.products(out, [(2.0, [(x, (0,)), (x, (0,)), (x, (0,))]), (1.0, [(x, (0,))])], add=False)
        np.testing.assert_allclose(out, 2.0 * x ** 3 + x, rtol=1e-15)


def test_nan_propagates_through_the_kernel(restore_kernels):
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        out = np.zeros((2, 2))
        kernels.products(out, [(1.0, [(np.array([np.nan, 1.0]), (0,)), (np.zeros(2), (1,))])], add=False)
        assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()


def _derivatives():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    q = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    W, s = td.matrix("W", "r m"), td.scalar("s")
    f = td.logdet(W @ W.T + s ** 2 * td.eye("r"))
    A, B = td.matrix("A", "p p"), td.matrix("B", "n p")
    g = td.trace(A.T @ B.T @ td.tanh(B @ A)) + td.sum(td.exp(B) * B)
    rng = np.random.default_rng(5)
    values = dict(X=rng.standard_normal((7, 3)), y=rng.standard_normal(7), lam=0.6,
                  W=rng.standard_normal((4, 5)), s=0.9, A=rng.standard_normal((3, 3)) / 2,
                  B=rng.standard_normal((7, 3)) / 2)
    return [(q, X, 1), (q, X, 2), (f, W, 1), (f, W, 2), (g, A, 2), (g, B, 2)], values


@pytest.mark.parametrize("case", range(6))
def test_derivatives_equal_across_implementations_and_match_fd(case, restore_kernels):
    cases, values = _derivatives()
    expr, wrt, order = cases[case]
    derivative = td.diff(expr, wrt, order=order)
    lower = td.diff(expr, wrt, order=order - 1) if order > 1 else expr
    results = []
    for compiled in IMPLEMENTATIONS:
        kernels.use_compiled(compiled)
        results.append(td.evaluate(derivative, **values))
    assert all(np.array_equal(r, results[0]) for r in results)
    numeric = numeric_diff(lower, wrt, values)
    np.testing.assert_allclose(results[0], numeric, rtol=1e-6, atol=1e-6)
