"""Two-operand contractions as one matmul (tensordiff/pairwise.py) agree with np.einsum."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.pairwise import pairwise_contraction, planned_contraction

RNG = np.random.default_rng(7)
LETTERS = "abcdef"


def _random_equation(rng):
    """Two terms over up to six letters, each letter placed in a, b and the output at random."""
    a, b, out = [], [], []
    for letter in LETTERS[:rng.integers(1, 7)]:
        where = rng.integers(1, 8)            # a bitmask: in a, in b, in out (never in none)
        in_a, in_b, in_out = where & 1, where & 2, where & 4
        if not (in_a or in_b):
            in_a = 1
        (a.append(letter) if in_a else None), (b.append(letter) if in_b else None)
        if in_out:
            out.append(letter)
    rng.shuffle(a), rng.shuffle(b), rng.shuffle(out)
    return "".join(a) + "," + "".join(b) + "->" + "".join(out)


@pytest.mark.parametrize("seed", range(300))
def test_random_equations_match_einsum(seed):
    rng = np.random.default_rng(seed)
    equation = _random_equation(rng)
    sizes = {c: int(rng.integers(0 if seed % 50 == 0 else 1, 5)) for c in LETTERS}
    terms = equation.split("->")[0].split(",")
    dtype = np.float32 if seed % 3 == 0 else np.float64
    arrays = [rng.standard_normal([sizes[c] for c in t]).astype(dtype) for t in terms]
    if seed % 4 == 0 and arrays[0].ndim > 1:   # a transposed (non-contiguous) operand
        arrays[0] = np.ascontiguousarray(arrays[0].T).T
    contract = pairwise_contraction(equation, [x.shape for x in arrays])
    got, want = contract(*arrays), np.einsum(equation, *arrays)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_diagonals_are_left_to_einsum():
    assert pairwise_contraction("aa,ab->b", [(3, 3), (3, 4)]) is None
    assert pairwise_contraction("ab,bc->ac", [(3, 4), (4, 5)]) is not None


def test_batched_products_in_a_program():
    # 'abc,acd->abd' keeps a in both operands: one batched matmul, not einsum's loop
    A, B = td.tensor("A", "m n p"), td.tensor("B", "m p q")
    values = dict(A=RNG.standard_normal((30, 20, 25)), B=RNG.standard_normal((30, 25, 15)))
    f = td.einsum("abc,acd->abd", A, B)
    np.testing.assert_allclose(td.evaluate(f, **values), values["A"] @ values["B"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(200))
def test_random_multi_operand_contractions_match_einsum(seed):
    rng = np.random.default_rng(1000 + seed)
    count = int(rng.integers(3, 7))
    letters = "abcdefgh"[:int(rng.integers(2, 9))]
    repeat = seed % 5 == 0   # then a term may hold an index twice (a diagonal)
    terms = ["".join(rng.choice(list(letters), size=int(rng.integers(0, 1 + min(3, len(letters)))), replace=repeat))
             for _ in range(count)]
    used = sorted(set("".join(terms)))
    out = "".join(c for c in used if rng.random() < 0.4)
    equation = ",".join(terms) + "->" + out
    sizes = {c: int(rng.integers(1, 5)) for c in letters}
    arrays = [rng.standard_normal([sizes[c] for c in t]) for t in terms]
    contract = planned_contraction(equation, [a.shape for a in arrays], "dp" if seed % 2 else "greedy")
    np.testing.assert_allclose(contract(*arrays), np.einsum(equation, *arrays), rtol=1e-10, atol=1e-12)


def test_more_than_52_indices_contract():
    # beyond a-zA-Z the letters are unicode, which np.einsum cannot read; every step must still run
    n = 60
    vectors = [td.vector(f"pv{k}", f"pd{k}") for k in range(n)]
    values = {f"pv{k}": np.full(1, 1.0 + k / 100) for k in range(n)}
    total = td.sum(vectors[0])
    for v in vectors[1:]:
        total = total * td.sum(v)
    assert np.isclose(td.evaluate(total, **values), np.prod([1.0 + k / 100 for k in range(n)]))


def test_a_two_operand_product_over_more_than_52_indices():
    # numpy's einsum reads 52 letters at most: an outer product of two 27-axis tensors, partly
    # summed, raised a bare UnicodeEncodeError
    na = 27
    A = td.tensor("pA", " ".join(f"pa{i}" for i in range(na)))
    B = td.tensor("pB", " ".join(f"pb{i}" for i in range(na)))
    e = td.sum(td.outer(A, B), axis=tuple(range(3, na)) + tuple(range(na + 3, 2 * na)))
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((2,) * 3 + (1,) * (na - 3)), rng.standard_normal((2,) * 3 + (1,) * (na - 3))
    want = np.multiply.outer(av.sum(axis=tuple(range(3, na))), bv.sum(axis=tuple(range(3, na))))
    np.testing.assert_allclose(td.evaluate(e, pA=av, pB=bv), want, rtol=1e-12)


def test_a_one_operand_sum_over_more_than_52_indices():
    A = td.tensor("pC", " ".join(f"pc{i}" for i in range(53)))
    value = np.random.default_rng(1).standard_normal((2,) + (1,) * 52)
    assert td.evaluate(td.sum(A), pC=value) == pytest.approx(value.sum())
    np.testing.assert_allclose(td.evaluate(td.sum(A, axis=(1,)), pC=value), value.sum(axis=1))
