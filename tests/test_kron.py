"""vec, kron, reshape, stack and concatenate: composite dims, Magnus–Neudecker identities,
derivatives at orders 1-3 against finite differences and jax, every backend, printing, errors."""

import numpy as np
import pytest

import tensordiff as td

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


# ---------------------------------------------------------------- derivatives: finite differences and jax

def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy


def _jvec(jnp, x):
    return x.T.reshape(-1)   # column-major, as x.reshape(-1, order="F")


def _cases(jnp):
    """(name, expression, wrt, the same function in jax of the values in wrt order, values)."""
    X, Y, W = td.matrix("X", "m n"), td.matrix("Y", "p n"), td.matrix("W", "n q")
    A, B, C = td.matrix("A", "m n"), td.matrix("B", "k l"), td.matrix("C", "n n")
    M, v, u = td.matrix("M", "n·m n·m"), td.vector("v", "m·n"), td.vector("u", "m+p")
    vals = values(X=(3, 2), Y=(2, 2), W=(2, 2), A=(3, 2), B=(2, 3), C=(2, 2), M=(6, 6), v=(6,), u=(5,))
    return [
        ("vec quadratic form", td.vec(X) @ M @ td.vec(X), [X],
         lambda x: _jvec(jnp, x) @ vals["M"] @ _jvec(jnp, x), vals),
        ("vec of a product, elementwise", td.sum(td.tanh(td.vec(X @ C)) * td.vec(X @ C)), [X],
         lambda x: jnp.sum(jnp.tanh(_jvec(jnp, x @ vals["C"])) * _jvec(jnp, x @ vals["C"])), vals),
        ("kron cubed", td.sum(td.kron(A, B) ** 3), [A, B],
         lambda a, b: jnp.sum(jnp.kron(a, b) ** 3), vals),
        ("kron of a function", td.kron(td.sin(X), B) @ td.kron(W, td.exp(B.T)), [X],
         lambda x: jnp.kron(jnp.sin(x), vals["B"]) @ jnp.kron(vals["W"], jnp.exp(vals["B"].T)), vals),
        ("reshape to new dims", td.sin(td.reshape(X, "n m")) @ X, [X],
         lambda x: jnp.sin(x.reshape(2, 3)) @ x, vals),
        ("reshape to a merged dim", td.tanh(td.reshape(X * X, "m*n")) @ v, [X],
         lambda x: jnp.tanh((x * x).reshape(-1)) @ vals["v"], vals),
        ("concatenate rows", td.sum(td.exp(td.concatenate([X, td.sin(Y)])) @ W), [X, Y],
         lambda x, y: jnp.sum(jnp.exp(jnp.concatenate([x, jnp.sin(y)])) @ vals["W"]), vals),
        ("concatenate columns, dotted", td.concatenate([X.T, Y.T], axis=1) @ td.sin(u), [X, Y],
         lambda x, y: jnp.concatenate([x.T, y.T], axis=1) @ jnp.sin(vals["u"]), vals),
        ("stack", td.sum(td.stack([X, td.tanh(X @ C)], axis=1) ** 2), [X],
         lambda x: jnp.sum(jnp.stack([x, jnp.tanh(x @ vals["C"])], axis=1) ** 2), vals),
    ]


@pytest.mark.parametrize("index", range(9))
def test_derivatives_match_finite_differences_at_orders_one_to_three(index):
    name, expr, wrt, _, vals = _cases(np)[index]
    for w in wrt:
        given = {k: vals[k] for k in expr.free}
        for order in (1, 2, 3):
            result = td.check(expr, w, order=order, **given)
            assert result.max_rel_error < 1e-6, (name, w.name, order, result.max_rel_error)


@pytest.mark.parametrize("index", range(9))
def test_derivatives_match_jax_at_orders_one_to_three(index):
    jax, jnp = _jax()
    name, expr, wrt, theirs, vals = _cases(jnp)[index]
    for position, w in enumerate(wrt):
        args = [jnp.asarray(vals[x.name]) for x in wrt]

        def along(value, position=position, args=args):
            return theirs(*args[:position], value, *args[position + 1:])
        want = along
        given = {k: vals[k] for k in expr.free}
        for order in range(4):
            got = td.evaluate(td.diff(expr, w, order=order), given)
            assert np.allclose(got, np.asarray(want(args[position])), atol=1e-9), (name, w.name, order)
            want = jax.jacfwd(want)


def test_the_derivative_of_vec_AXB_is_the_kronecker_structure():
    A, X, B, E = td.matrix("A", "k m"), td.matrix("X", "m n"), td.matrix("B", "n p"), td.matrix("E", "m n")
    jacobian = td.diff(td.vec(A @ X @ B), X)
    assert jacobian.shape == ("p·k", "m", "n")
    assert td.einsum("cij,ij->c", jacobian, E) is td.vec(A @ E @ B)   # the directional derivative, exactly
    v = values(A=(2, 3), X=(3, 4), B=(4, 5))
    dense = td.evaluate(jacobian, v)   # J[c, i, j] = kron(Bᵀ, A)[c, i + m·j]
    kron = np.kron(v["B"].T, v["A"])
    assert np.allclose(dense.transpose(0, 2, 1).reshape(10, 12), kron)
    assert td.diff(jacobian, X) is td.zeros(("p·k", "m", "n", "m", "n"))


@pytest.mark.parametrize("index", range(9))
def test_evaluation_builds_no_merge_or_embedding(index):
    from tensordiff.composite import STRUCTURES
    name, expr, wrt, _, vals = _cases(np)[index]
    for w in wrt:
        for order in range(4):
            program = td.compile(td.diff(expr, w, order=order))
            assert not [n for n in program.nodes if isinstance(n, STRUCTURES)], (name, w.name, order)
