"""Small contractions as one numpy call (pairwise.direct_contraction), small products made anew on
a contraction's path, and narrow Gram products as gemm (gram.narrow): the values they give, and
the routes the peer problems' plans take at their small sizes."""

import functools
import os
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import gram
from tensordiff.gram import gram_product
from tensordiff.pairwise import IN_PLACE_ENTRIES, direct_contraction, planned_contraction
from tensordiff.steps import EinsumStep

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
from problems import PROBLEMS  # noqa: E402


@pytest.mark.parametrize("equation, routed", [
    ("ab,b->a", True), ("b,ba->a", True), ("ab,bc->ca", True), ("ab,cb->ac", True),   # np.dot
    ("ab,b->ab", True), ("ab,ac->abc", True), ("a,b->ba", True), ("ab,ab->ab", True),  # broadcast products
    ("ab,ab->a", False),   # a batched dot: einsum's loop
    ("a,a->", False),      # a number: np.dot would give a scalar, not an array
    ("aa,ab->b", False),   # a diagonal
    ("ab,c->c", False),    # an index summed out of one operand alone
    ("abc,bcd->ad", False), ("abc,cd->abd", False),   # summing two indices, or a 3-d operand: a matmul
])
def test_which_pairs_run_as_one_numpy_call(equation, routed):
    sizes = {}
    for term in equation.split("->")[0].split(","):
        for c in term:
            sizes.setdefault(c, 2 + len(sizes))
    shapes = [tuple(sizes[c] for c in term) for term in equation.split("->")[0].split(",")]
    assert (direct_contraction(equation, shapes) is not None) == routed


def _random_pair(rng):
    """A two-term equation direct_contraction may take: indices each once a term, none summed alone."""
    letters = list("abcde"[:rng.integers(1, 6)])
    a, b, out = [], [], []
    for letter in letters:
        where = rng.integers(0, 3) if len(a) < 2 or len(b) < 2 else 3
        if where == 0:
            a.append(letter), out.append(letter)
        elif where == 1:
            b.append(letter), out.append(letter)
        elif where == 2:
            a.append(letter), b.append(letter)   # summed, or kept in both when it joins the output
            if rng.random() < 0.5:
                out.append(letter)
    rng.shuffle(a), rng.shuffle(b), rng.shuffle(out)
    return "".join(a) + "," + "".join(b) + "->" + "".join(out)


@pytest.mark.parametrize("seed", range(200))
def test_one_call_contractions_match_einsum(seed):
    rng = np.random.default_rng(seed)
    equation = _random_pair(rng)
    terms = equation.split("->")[0].split(",")
    sizes = {c: int(rng.integers(0 if seed % 40 == 0 else 1, 60 if seed % 3 == 0 else 6)) for c in "abcde"}
    dtype = np.float32 if seed % 4 == 0 else np.float64
    arrays = [rng.standard_normal([sizes[c] for c in t]).astype(dtype) for t in terms]
    if seed % 5 == 0 and arrays[1].ndim > 1:   # a transposed (non-contiguous) operand
        arrays[1] = np.ascontiguousarray(arrays[1].T).T
    contract = direct_contraction(equation, [x.shape for x in arrays])
    if contract is None:
        return
    got, want = contract(*arrays), np.einsum(equation, *arrays)
    assert type(got) is np.ndarray and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_broadcast_products_are_the_products_entry_for_entry():
    # one multiplication an entry, whichever axis the product writes innermost
    rng = np.random.default_rng(1)
    X, H, e = rng.standard_normal((50, 8)), rng.standard_normal((50, 4)), rng.standard_normal(50)
    khatri_rao = direct_contraction("ea,eb->eab", [X.shape, H.shape])(X, H)   # e written innermost
    np.testing.assert_array_equal(khatri_rao, X[:, :, None] * H[:, None, :])
    assert khatri_rao.shape == (50, 8, 4)
    np.testing.assert_array_equal(direct_contraction("eb,e->eb", [H.shape, e.shape])(H, e), H * e[:, None])
    np.testing.assert_array_equal(direct_contraction("eb,eb->eb", [H.shape, H.shape])(H, H.T.copy().T), H * H)


def test_a_small_scaling_on_a_path_leaves_its_operand_and_a_large_one_writes_into_it():
    rng = np.random.default_rng(2)
    for rows, writes in ((IN_PLACE_ENTRIES // 4 - 1, False), (IN_PLACE_ENTRIES // 4, True)):   # d scales Z first
        Z, d, X = rng.standard_normal((rows, 4)), rng.standard_normal(rows), rng.standard_normal((rows, 8))
        before = Z.copy()
        contract = planned_contraction("db,d,da->ab", [Z.shape, d.shape, X.shape], "dp", writable=(0,))
        got = contract(Z, d, X)
        np.testing.assert_allclose(got, X.T @ (before * d[:, None]), rtol=1e-12)
        assert (not np.array_equal(Z, before)) == writes


@pytest.mark.parametrize("rows, cols", [(5, 3), (500, 20), (1000, 32), (1100, 30), (300, 40)])
@pytest.mark.parametrize("signs", ["nonnegative", "mixed", "none"])
def test_narrow_gram_products_are_gemm_and_equal_the_product(rows, cols, signs):
    rng = np.random.default_rng(rows + cols)
    g = rng.standard_normal((rows, cols))
    weight = None if signs == "none" else rng.random((rows, 1)) if signs == "nonnegative" else \
        rng.standard_normal((rows, 1))
    got = gram_product(g, weight, 1.0)
    want = g.T @ g if weight is None else g.T @ (g * weight)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * rows)
    if gram.narrow(rows, cols):   # the same BLAS call the narrow route makes: the same bits
        np.testing.assert_array_equal(got, g.T @ (g.copy() if weight is None else g * weight))
    assert gram.narrow(rows, cols) == (cols <= gram.GEMM_COLS and rows * cols <= gram.GEMM_ENTRIES)


def _central_differences(function, values, wrt, shape, step=1e-6):
    """d function / d values[wrt], by central differences: the function's axes, then wrt's."""
    base = values[wrt]
    columns = []
    for k in range(base.size):
        delta = np.zeros(base.size)
        delta[k] = step
        up = dict(values, **{wrt: base + delta.reshape(base.shape)})
        down = dict(values, **{wrt: base - delta.reshape(base.shape)})
        columns.append((np.asarray(function(**up)) - np.asarray(function(**down))) / (2 * step))
    return np.moveaxis(np.array(columns), 0, -1).reshape(shape)


@pytest.mark.parametrize("name", ["ridge", "tikhonov-J", "nn-hess", "logreg-hess"])
def test_the_small_peer_problems_against_finite_differences(name):
    problem = PROBLEMS[name]
    values = problem.inputs(problem.sizes["small"], np.random.default_rng(5))
    program = td.compile(problem.tensordiff())
    got = program(**values)
    again = program(**values)   # the specialised call
    np.testing.assert_array_equal(got, again)
    lower, wrt = problem.fd
    want = _central_differences(lower, values, wrt, problem.shape("small"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_the_small_plans_contract_by_numpy_calls_not_einsum_loops():
    # nn-hess at its small size: 13 steps, one Gram product; its contractions of two operands are
    # np.dot or broadcast products, where einsum's loop (a functools.partial) ran before
    problem = PROBLEMS["nn-hess"]
    sizes = problem.sizes["small"]
    program = td.compile(problem.tensordiff())
    steps = [step for _, step, _, _ in program.steps if isinstance(step, EinsumStep)]
    assert len(program.steps) == 13 and sum(step.gram is not None for step in steps) == 1
    pairs = [step.contraction_for(step.equation, [tuple(sizes[step.id_dims[i]] for i in step.subscripts[k])
                                                  for k in step.tensor_args])
             for step in steps if step.gram is None and len(step.tensor_args) == 2]
    assert len(pairs) == 2 and not any(isinstance(contraction, functools.partial) for contraction in pairs)


@pytest.mark.parametrize("equation", ["ca,cb->ab", "cb,ca->ab", "ca,cb->ba"])
@pytest.mark.parametrize("sides", [(7, 3), (3, 7), (5, 5)])
def test_transposed_times_plain_products_in_either_orientation_equal_the_product(equation, sides):
    """xᵀy summing both operands' first axis runs with the smaller output side first (BLAS is
    faster so): the same numbers as einsum, on contiguous operands and on views that are not."""
    rng = np.random.default_rng(sum(sides))
    x, y = rng.standard_normal((40, sides[0])), rng.standard_normal((40, sides[1]))
    for left, right in ((x, y), (x[::2], y[::2]), (np.asfortranarray(x), y)):
        product = direct_contraction(equation, [left.shape, right.shape])
        np.testing.assert_allclose(product(left, right), np.einsum(equation, left, right), rtol=1e-13, atol=1e-13)
