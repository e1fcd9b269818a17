"""vec, kron, reshape, stack and concatenate: composite dims, Magnus–Neudecker identities,
derivatives at orders 1-3 against finite differences and jax, every backend, printing, errors."""

import numpy as np
import pytest

import tensordiff as td

from helpers import jacfwd_of_each_order


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
        want = jacfwd_of_each_order(along, args[position], 3)
        given = {k: vals[k] for k in expr.free}
        for order in range(4):
            got = td.evaluate(td.diff(expr, w, order=order), given)
            assert np.allclose(got, want[order], atol=1e-9), (name, w.name, order)


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


# ---------------------------------------------------------------- printing, parsing, code

def test_index_notation_shows_the_merge():
    X = td.matrix("X", "m n")
    assert str(td.vec(X)) == "out[i] = Σ_jk [i = (j,k)] X[k,j]"   # i enumerates (column, row)
    assert "[i = m + k]" in str(td.concatenate([X, X]))
    assert r"\left[i = (j,k)\right]" in td.latex(td.vec(X), notation="index")


def test_matrix_notation_writes_vec_and_kron_and_the_parser_reads_them_back():
    A, X, B = td.matrix("A", "k m"), td.matrix("X", "m n"), td.matrix("B", "n p")
    u, v, M = td.vector("u", "m"), td.vector("v", "n"), td.matrix("M", "r n·m")
    cases = {
        td.vec(X): "vec(X)",
        td.kron(B.T, A) @ td.vec(X): "vec(A*X*B)",
        td.kron(A, B): "kron(A, B)",
        td.kron(u, v): "kron(u, v)",
        td.kron(A @ A.T, B.T @ B): "kron(A*A', B'*B)",
        M @ td.vec(X): "M*vec(X)",
        td.vec(td.exp(X)): "vec(exp(X))",
    }
    for expr, text in cases.items():
        assert td.matrix_notation(expr) == text
        assert td.parse(text) is expr
    assert td.latex(td.kron(A, B)) == r"\mathrm{out} = \operatorname{kron}\left(A, B\right)"


def test_the_parser_types_kron_and_vec():
    e = td.parse("kron(P', Q)*vec(Z)")
    assert e is td.parse("vec(Q*Z*P)")
    assert len(e.shape) == 1 and "·" in e.shape[0]
    assert td.parse("vec(G)'*vec(H)") is td.parse("tr(G'*H)")
    with pytest.raises(td.ShapeError, match="kron needs two matrices"):
        td.parse("kron(Q, z)", z="n")
    with pytest.raises(td.ShapeError, match="inner dims"):
        td.parse("kron(Q, Z)*vec(Q)", Q="a b", Z="c d")


@pytest.mark.parametrize("target", ["numpy", "jax"])
def test_codegen_reshapes_instead_of_building_constants(target):
    pytest.importorskip({"numpy": "numpy", "jax": "jax"}[target])
    A, X, B, M = td.matrix("A", "k m"), td.matrix("X", "m n"), td.matrix("B", "n p"), td.matrix("M", "r n·m")
    v = values(A=(2, 3), X=(3, 4), B=(4, 5), M=(2, 12))
    exprs = [td.kron(A, B), td.concatenate([X, X], axis=1), M @ td.vec(X), td.stack([X, X], axis=1),
             td.reshape(X, "n m"), td.diff(td.sum(td.kron(A, B) ** 3), A, order=2)]
    source = td.codegen(exprs, target=target)
    assert "eye((" not in source   # no merge or embedding built as a 0/1 array over a composite dim
    namespace = {}
    exec(source, namespace)
    results = namespace["f"](v["A"], v["B"], v["M"], v["X"])
    for expr, got in zip(exprs, results):
        assert np.allclose(np.asarray(got), td.evaluate(expr, {k: v[k] for k in expr.free}))


def test_round_trip_through_pickle_and_simplify():
    import pickle
    X, Y = td.matrix("X", "m n"), td.matrix("Y", "p n")
    for expr in (td.vec(X), td.kron(X, Y), td.concatenate([X, Y]), td.stack([X, X]), td.reshape(X, "n m")):
        assert pickle.loads(pickle.dumps(expr)) is expr
        assert td.simplify(expr) is expr


# ---------------------------------------------------------------- bad input

def test_kron_of_non_matrices_names_the_operand_and_dims():
    T, A, v = td.tensor("T", "a b c"), td.matrix("A", "i j"), td.vector("v", "n")
    with pytest.raises(td.ShapeError, match=r"'?T'? has shape \(a, b, c\)"):
        td.kron(T, A)
    with pytest.raises(td.ShapeError, match=r"second operand v has shape \(n\)"):
        td.kron(A, v)
    with pytest.raises(td.ShapeError, match="scalar"):
        td.kron(td.scalar("s"), A)


def test_vec_of_an_order_three_tensor_is_column_major_and_of_a_scalar_an_error():
    T = td.tensor("T", "a b c")
    assert td.vec(T).shape == ("c·b·a",)
    t = values(T=(2, 3, 4))["T"]
    assert np.allclose(td.evaluate(td.vec(T), T=t), t.reshape(-1, order="F"))
    with pytest.raises(td.ShapeError, match="scalar s"):
        td.vec(td.scalar("s"))


def test_reshape_to_sizes_whose_product_differs():
    X, y = td.matrix("X", "m n"), td.vector("y", "k")
    with pytest.raises(td.ShapeError, match=r"\(m, n\) \(sizes 3×4, 12 entries\) to \(k\) \(sizes 5, 5 entries\)"):
        td.evaluate(td.reshape(X, "k") + y, X=np.ones((3, 4)), y=np.ones(5))
    u = td.vector("u", "a")
    with pytest.raises(td.ShapeError, match="no size of 'b' makes 12 entries"):
        td.evaluate(td.reshape(X, "a b") @ td.ones("b") + u, X=np.ones((3, 4)), u=np.ones(5))
    with pytest.raises(td.ShapeError, match="dims of reshape"):
        td.reshape(X, "m n+")


def test_reshape_infers_one_new_dim():
    X, W = td.matrix("X", "m n"), td.matrix("W", "b q")
    v = values(X=(3, 4), W=(6, 2))
    out = td.evaluate(td.reshape(X, "a b") @ W, v)
    assert np.allclose(out, v["X"].reshape(2, 6) @ v["W"])


def test_concatenating_operands_whose_other_dims_differ():
    X, Y = td.matrix("X", "m n"), td.matrix("Y", "p q")
    with pytest.raises(td.ShapeError, match=r"operand 1 Y has shape \(p, q\) but operand 0 X has \(m, n\)"):
        td.concatenate([X, Y])
    with pytest.raises(td.ShapeError, match="axis 2 does not exist"):
        td.concatenate([X, X], axis=2)
    with pytest.raises(td.ShapeError, match="stack needs operands of one shape"):
        td.stack([X, Y])
    with pytest.raises(td.ShapeError, match="list or tuple"):
        td.concatenate(X)


@pytest.mark.parametrize("backend", ["dask", "jax", "torch"])
def test_derivatives_on_other_backends_equal_numpy(backend):
    pytest.importorskip({"dask": "dask.array", "jax": "jax", "torch": "torch"}[backend])
    for name, expr, wrt, _, vals in _cases(np):
        given = {k: vals[k] for k in expr.free}
        for order in (1, 2):
            derivative = td.diff(expr, wrt[0], order=order)
            want = td.evaluate(derivative, given)
            got = td.evaluate(derivative, given, backend=backend)
            got = got.compute() if hasattr(got, "compute") else got
            got = got.detach().numpy() if hasattr(got, "detach") else got
            assert np.allclose(np.asarray(got), want), (name, order)


def test_cost_takes_the_sizes_of_plain_dims_only():
    X = td.matrix("X", "m n")
    assert td.cost(td.vec(X), m=30, n=20).shapes == [(600,)]
    with pytest.raises(td.EvaluationError, match="composite dim 'n·m': it follows from its parts' \\(n, m\\)"):
        sizes = {"m": 30, "n": 20, "n·m": 600}
        td.cost(td.vec(X), **sizes)


def test_a_merge_summed_over_one_side_is_a_factor_one():
    X, A = td.matrix("X", "m n"), td.matrix("A", "k m")
    assert td.sum(td.vec(X)) is td.sum(X)
    assert td.sum(td.kron(A, X)) is td.sum(A) * td.sum(X)
    gx, ga = td.grad(td.sum(td.vec(A @ X) ** 2), [X, A])    # the gradient of ‖AX‖²_F, however written
    assert gx is td.grad(td.sum((A @ X) ** 2), X) and td.matrix_notation(gx) == "2*A'*A*X"
    assert ga is td.grad(td.sum((A @ X) ** 2), A)


def test_codegen_brackets_a_reshaped_power():
    # selfcheck seed 20140: "x ** -1.reshape(...)" read -1.reshape as the exponent
    X = td.matrix("X", "a b")
    source = td.codegen(td.vec(1 / (X * X + 1)))
    namespace = {}
    exec(source, namespace)
    v = np.random.default_rng(3).standard_normal((2, 3))
    np.testing.assert_allclose(namespace["f"](v), (1 / (v * v + 1)).reshape(-1, order="F"), rtol=1e-14)
