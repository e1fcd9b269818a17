"""vec, kron, reshape, stack and concatenate: composite dims, Magnus–Neudecker identities,
derivatives at orders 1-3 against finite differences and jax, every backend, printing, errors."""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.testing import check

RNG = np.random.default_rng(1313)


def values(**shapes):
    rng = np.random.default_rng(sum(map(ord, "".join(shapes))))
    return {name: rng.normal(size=shape) for name, shape in shapes.items()}


# ---------------------------------------------------------------- composite dims

def test_a_merged_axis_has_the_dim_of_its_parts():
    X = td.matrix("X", "m n")
    assert td.vec(X).shape == ("n·m",)
    assert td.kron(td.matrix("A", "i j"), td.matrix("B", "k l")).shape == ("i·k", "j·l")
    assert td.reshape(X, "m*n").shape == ("m·n",)
    assert td.concatenate([X, td.matrix("Y", "p n")]).shape == ("m+p", "n")
    assert td.stack([X, X, X], axis=2).shape == ("m", "n", "3")


def test_symbols_declare_composite_dims():
    assert td.matrix("M", "r q*m").shape == ("r", "q·m")
    assert td.vector("v", "(n+m)·p").shape == ("(n+m)·p",)
    assert td.tensor("T", "a·(b·c) d").shape == ("a·b·c", "d")   # nested merges flatten: C order is associative


def test_a_matrix_multiplies_vec_and_sizes_follow_from_the_parts():
    X, M = td.matrix("X", "m n"), td.matrix("M", "r n·m")
    v = values(X=(3, 4), M=(5, 12))
    assert np.allclose(td.evaluate(M @ td.vec(X), v), v["M"] @ v["X"].T.reshape(-1))


def test_a_composite_size_that_disagrees_with_its_parts_is_refused():
    X, M = td.matrix("X", "m n"), td.matrix("M", "r n·m")
    with pytest.raises(td.ShapeError, match="n·m"):
        td.evaluate(M @ td.vec(X), values(X=(3, 4), M=(5, 11)))


# ---------------------------------------------------------------- Magnus–Neudecker, symbolically and numerically

def test_vec_AXB_is_kron_Bt_A_vec_X():
    A, X, B = td.matrix("A", "k m"), td.matrix("X", "m n"), td.matrix("B", "n p")
    left, right = td.vec(A @ X @ B), td.kron(B.T, A) @ td.vec(X)
    assert left is right
    v = values(A=(2, 3), X=(3, 4), B=(4, 5))
    expected = np.kron(v["B"].T, v["A"]) @ v["X"].reshape(-1, order="F")
    assert np.allclose(td.evaluate(left, v), expected)
    assert np.allclose(td.evaluate(td.kron(B.T, A), v) @ td.evaluate(td.vec(X), v), expected)


def test_vec_AB_both_ways():
    A, B = td.matrix("A", "m n"), td.matrix("B", "n p")
    assert td.vec(A @ B) is td.kron(td.eye("p"), A) @ td.vec(B)
    assert td.vec(A @ B) is td.kron(B.T, td.eye("m")) @ td.vec(A)
    v = values(A=(3, 4), B=(4, 2))
    assert np.allclose(td.evaluate(td.kron(td.eye("p"), A) @ td.vec(B), v), (v["A"] @ v["B"]).reshape(-1, order="F"))


def test_trace_AtB_is_vec_A_dot_vec_B():
    A, B = td.matrix("A", "m n"), td.matrix("B", "m n")
    assert td.vec(A) @ td.vec(B) is td.trace(A.T @ B)


def test_kron_times_vec_is_evaluated_without_a_kronecker_product():
    A, X, B = td.matrix("A", "k m"), td.matrix("X", "m n"), td.matrix("B", "n p")
    report = td.cost(td.kron(B.T, A) @ td.vec(X), k=50, m=60, n=70, p=80)
    direct = td.cost(A @ X @ B, k=50, m=60, n=70, p=80)
    assert report.flops == direct.flops   # the contraction path of A X B; kron would be 50·80·60·70 entries


def test_kron_mixed_product():
    A, B, C, D = (td.matrix(n, d) for n, d in (("A", "i j"), ("B", "k l"), ("C", "j p"), ("D", "l q")))
    assert td.kron(A, B) @ td.kron(C, D) is td.kron(A @ C, B @ D)


# ---------------------------------------------------------------- values against numpy

@pytest.mark.parametrize("backend", ["numpy", "dask", "jax", "torch"])
def test_values_on_every_backend(backend):
    pytest.importorskip({"numpy": "numpy", "dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    X, Y, A = td.matrix("X", "m n"), td.matrix("Y", "p n"), td.matrix("A", "i j")
    v = values(X=(3, 4), Y=(2, 4), A=(2, 5))
    cases = [
        (td.vec(X), v["X"].reshape(-1, order="F")),
        (td.kron(X, A), np.kron(v["X"], v["A"])),
        (td.reshape(X, "n m"), v["X"].reshape(4, 3)),
        (td.reshape(td.vec(X), "n m"), v["X"].T),
        (td.concatenate([X, Y]), np.concatenate([v["X"], v["Y"]])),
        (td.concatenate([X, Y, X], axis=0), np.concatenate([v["X"], v["Y"], v["X"]])),
        (td.stack([X, 2 * X], axis=1), np.stack([v["X"], 2 * v["X"]], axis=1)),
        (td.concatenate([X.T, Y.T], axis=-1) @ td.concatenate([X, Y]), v["X"].T @ v["X"] + v["Y"].T @ v["Y"]),
    ]
    for expr, expected in cases:
        got = td.evaluate(expr, v, backend=backend)
        assert np.allclose(np.asarray(got), expected), str(expr)
