"""Printing is a function of the expression and of the printer's arguments, not of which symbols
happen to be alive: the same expression prints the same text with decoy symbols of every dim it
involves declared before it is built, or after, under names that sort first and last. The texts
still read back (td.parse) and run (to_einsum) to the expression's value."""

import itertools

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Einsum, Var, topological

RNG = np.random.default_rng(2031)
SIZES = {"n": 3, "p": 2, "q": 4, "k": 5, "e": 2}


def _problem():
    X, A, V = td.matrix("X", "n p"), td.matrix("A", "e n"), td.matrix("V", "n k")
    x, W = td.vector("x", "n"), td.matrix("W", "q n")
    return dict(X=X, A=A, V=V, x=x, W=W)


# (name, build(symbols) -> (expression, the symbols it was differentiated by))
CASES = [
    ("a zero gradient: X not in f", lambda s: (td.grad(td.sum(s["A"] @ s["V"]), s["X"]), [s["X"]])),
    ("d(A V)/dV: I_k no symbol holds", lambda s: (td.diff(s["A"] @ s["V"], s["V"]), [s["V"]])),
    ("d sum(A V)/dV: a ones vector", lambda s: (td.grad(td.sum(s["A"] @ s["V"]), s["V"]), [s["V"]])),
    ("dX/dX", lambda s: (td.diff(s["X"], s["X"]), [s["X"]])),
    ("the Hessian of |W x|^2", lambda s: (td.hessian(td.sum((s["W"] @ s["x"]) ** 2), s["x"]), [s["x"]])),
    ("an order-4 zero", lambda s: (td.diff(td.grad(td.sum(s["V"]), s["V"]), s["X"]), [s["V"], s["X"]])),
    ("an order-3 zero", lambda s: (td.diff(s["A"] @ s["V"] @ td.ones("k"), s["X"]), [s["X"]])),
    ("constants alone", lambda s: (2.5 * td.ones("n p") + td.zeros("n p"), [])),
    ("an identity times a size", lambda s: (td.sum(td.ones("q")) * td.eye("k"), [])),
]


def _printed(e, sized_by):
    return [td.matrix_notation(e), td.matrix_notation(e, sized_by=sized_by), td.latex(e), td.index_notation(e),
            td.to_einsum(e), td.to_einsum(e, sized_by=sized_by)]


def _decoys(dims, tag):
    """Symbols of every dim and pair of dims, named to come first (``A...``) and last (``z...``)."""
    decoys = []
    for k, d in enumerate(sorted(dims)):
        decoys += [td.vector(f"A{tag}v{k}", d), td.vector(f"z{tag}v{k}", d), td.matrix(f"A{tag}s{k}", f"{d} {d}")]
    for k, (a, b) in enumerate(itertools.permutations(sorted(dims), 2)):
        decoys += [td.matrix(f"A{tag}m{k}", f"{a} {b}"), td.matrix(f"Z{tag}m{k}", f"{a} {b}")]
    return decoys


def _dims_of(e):
    return {d for node in topological([e]) for d in (node.dims if isinstance(node, Einsum) else node.shape)}


@pytest.mark.parametrize("name, build", CASES, ids=[c[0] for c in CASES])
def test_decoy_symbols_change_no_printed_form(name, build):
    s = _problem()
    e, wrt = build(s)
    dims = _dims_of(e) | {d for node in s.values() for d in node.dims}
    alone = _printed(e, wrt)
    after = _decoys(dims, "after")   # declared after the problem, the last declared with each dim
    assert _printed(e, wrt) == alone, name
    del after
    before = _decoys(dims, "before")   # alive while the expression is built anew
    e_again, wrt_again = build(_problem())
    later = _decoys(dims, "later")
    assert e_again is e and _printed(e_again, wrt_again) == alone, name
    assert before and later


@pytest.mark.parametrize("name, build", CASES, ids=[c[0] for c in CASES])
def test_the_printed_forms_read_back_and_run(name, build):
    s = _problem()
    e, wrt = build(s)
    _decoys(_dims_of(e), "alive")   # dropped at once; the next line's decoys stay alive through the checks
    decoys = _decoys(_dims_of(e), "kept")
    values = {k: RNG.standard_normal(tuple(SIZES[d] for d in v.dims)) for k, v in s.items()}
    want = np.asarray(td.evaluate(e, **values, **{d: SIZES[d] for d in _dims_of(e)}))
    for text in (td.matrix_notation(e), td.matrix_notation(e, sized_by=wrt)):
        assert not text.startswith("no matrix notation"), (name, text)
        back = td.parse(text)
        assert back.shape == e.shape, (name, text)
        sizes = {d: SIZES[d] for d in _dims_of(back) if d in SIZES}
        np.testing.assert_allclose(td.evaluate(back, **values, **sizes), want, rtol=1e-12, atol=1e-12, err_msg=text)
    code = td.to_einsum(e, sized_by=wrt)
    scope = {"np": np, **values, **{d: SIZES[d] for d in SIZES if d not in values}}
    exec(code, scope)   # noqa: S102 - the generated code is what is tested
    np.testing.assert_allclose(scope["out"], want, rtol=1e-12, atol=1e-12, err_msg=code)
    assert decoys


def test_a_dim_no_symbol_holds_is_named_and_the_request_names_its_symbol():
    X, A, V = td.matrix("X", "n p"), td.matrix("A", "e n"), td.matrix("V", "n k")
    zero = td.grad(td.sum(A @ V), X)
    assert td.matrix_notation(zero) == "matrix(0, size(n), size(p))"
    assert td.matrix_notation(zero, sized_by=X) == "matrix(0, size(X, 1), size(X, 2))"
    jacobian = td.diff(A @ V, V)
    assert td.matrix_notation(jacobian) == "tprod(A, eye(size(k)))"
    assert td.matrix_notation(jacobian, sized_by=[X, V]) == "tprod(A, eye(size(V, 2)))"   # the first with k
    assert td.to_einsum(jacobian, sized_by=V).splitlines()[0] == "k = V.shape[1]"
    assert td.to_einsum(jacobian).splitlines()[0].startswith("# k: the size of dim k")   # k read as a variable
    assert td.latex(zero) == r"\mathrm{out} = \mathbf{0}_{n \times p}"
    # the expression's own symbols come first: a sized_by symbol never replaces them
    assert td.matrix_notation(td.sum(A) * td.ones("n"), sized_by=V) == "sum(A)*vector(1, size(A, 2))"


def test_zero_tensors_have_a_matrix_notation():
    X, V = td.matrix("X", "n p"), td.matrix("V", "n k")
    zero4 = td.diff(td.grad(td.sum(V), V), X)
    assert td.matrix_notation(zero4) == "outer(matrix(0, size(n), size(k)), matrix(0, size(n), size(p)))"
    assert td.matrix_notation(zero4, sized_by=[V, X]) == \
        "outer(matrix(0, size(V, 1), size(V, 2)), matrix(0, size(V, 1), size(X, 2)))"   # the first with n
    assert td.parse(td.matrix_notation(zero4)) is zero4
    assert td.matrix_notation(td.zeros("n p k")) == "outer(matrix(0, size(n), size(p)), vector(0, size(k)))"
    assert td.matrix_notation(td.zeros("n p k n p")).startswith("no matrix notation")   # order 5: none
    assert "0" in td.latex(zero4)


def test_size_of_a_dim_name_reads_back_and_a_symbol_name_there_is_an_error():
    assert td.parse("matrix(0, size(n), size(p))").shape == ("n", "p")
    assert td.evaluate(td.parse("size(n)*size(p)"), n=3, p=4) == 12
    assert td.parse("eye(size(k)) + vector(1, size(k))*vector(1, size(k))'").shape == ("k", "k")
    X = td.matrix("X", "n p")
    with pytest.raises(td.ParseError, match=r"size\(X, d\) needs the dimension"):
        td.parse("size(X)")
    with pytest.raises(td.ParseError, match="is a symbol"):
        td.parse("x + vector(1, size(x))")
    with pytest.raises(td.ShapeError):
        td.parse("X + matrix(1, size(p), size(n))")   # dims are names: (p, n) is not X's (n, p)
    with pytest.raises(td.TensorDiffError, match="sized_by= takes a symbol"):
        td.matrix_notation(X, sized_by="X")
    with pytest.raises(td.TensorDiffError, match="sized_by= takes a symbol"):
        td.to_einsum(X, sized_by=[X.T])
    assert isinstance(X, Var)


def test_a_named_repeat_never_takes_the_name_of_a_dim_the_text_sizes_by():
    X, W = td.matrix("X", "n p"), td.matrix("W", "p q")
    e = td.sum(td.ones("t1")) * td.sigmoid(X @ W) + td.sigmoid(X @ W) * td.sigmoid(X @ W)
    text = td.matrix_notation(e)
    assert "size(t1)" in text and "t1 = " not in text and "= sigmoid(X*W)" in text, text
    assert td.parse(text) is e
