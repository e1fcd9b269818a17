"""A large result gets a matrix form when each of its terms has one (issue 17, item 4).

A derivative keeps the chain rule's factored shape: ∂(aᵀM(X)b)/∂X is one product of a and b with
the order-4 sum ∂M/∂X. Matrix notation multiplies such a product out over the sum
(matrixsums.py), so the result is written as the sum of its terms' matrix forms.
"""

import numpy as np
import pytest

import tensordiff as td
from tensordiff.expr import Add
from tensordiff.matrixform import to_matrix
from tensordiff.matrixsums import distributed
from tensordiff.randexpr import SIZES, USER_FUNCTIONS, ExpressionGenerator

# SymPy's test_derivatives_of_complicated_matrix_expr (sympy/matrices/expressions/tests/
# test_derivatives.py), in the parser's language; SymPy prints its derivative, 17 terms, in 560 characters.
SYMPY_17_TERMS = ("a'*(A*X*(X'*B + X*A) + B'*X'*(a*b'*(X*D*X' + X*(X'*B + A*X)*D*B - X'*C'*A)*B"
                  " + B*(X*D' + B*A*X*A' - 3*X*D))*B + 42*X*B*X'*A'*(X + X'))*b")
SYMPY_LENGTH = 560


def _symbols():
    return {**{name: td.matrix(name, "k k") for name in "XABCD"}, "a": td.vector("a", "k"), "b": td.vector("b", "k")}


def _values(seed=0, k=4):
    rng = np.random.default_rng(seed)
    values = {name: rng.standard_normal((k, k)) for name in "XABCD"}
    values.update(a=rng.standard_normal(k), b=rng.standard_normal(k))
    return values


def test_sympy_seventeen_term_derivative_has_a_matrix_form_no_longer_than_sympys():
    symbols = _symbols()
    f = td.parse(SYMPY_17_TERMS, **symbols)
    g = td.grad(f, symbols["X"])
    text = td.matrix_notation(g)
    assert not text.startswith("no matrix notation"), text
    assert len(text) <= SYMPY_LENGTH, (len(text), text)
    values = _values()
    back = td.parse(text, **symbols)
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(g, **values), rtol=1e-10)
    assert td.check(f, symbols["X"], **values).max_rel_error < 1e-6


def test_sympy_seventeen_term_derivative_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    symbols = _symbols()
    text = td.matrix_notation(td.grad(td.parse(SYMPY_17_TERMS, **symbols), symbols["X"]))
    values = _values(seed=3)
    A, B, C, D, a, b = (values[name] for name in "ABCDab")

    def f(X):   # the expression as numpy code
        inner = A @ X @ (X.T @ B + X @ A) + B.T @ X.T @ (jnp.outer(a, b) @ (X @ D @ X.T + X @ (X.T @ B + A @ X) @ D @ B
                                                                             - X.T @ C.T @ A) @ B
                                                     + B @ (X @ D.T + B @ A @ X @ A.T - 3 * X @ D)) @ B \
            + 42 * X @ B @ X.T @ A.T @ (X + X.T)
        return a @ inner @ b

    expected = np.asarray(jax.grad(f)(jnp.asarray(values["X"])))
    np.testing.assert_allclose(td.evaluate(td.parse(text, **symbols), **values), expected, rtol=1e-10)


def test_hessian_of_a_product_over_a_sum_is_written_with_tensor_products():
    symbols = _symbols()
    X, A, B, C, D, a, b = (symbols[name] for name in "XABCDab")
    f = a @ (A @ X @ B) @ X @ b + td.trace(X @ C @ X.T @ D)
    H = td.diff(f, X, order=2)
    text = td.matrix_notation(H)
    assert "tprod" in text and "tbox" in text, text
    values = _values(seed=1, k=3)
    back = td.parse(text, **symbols)
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(H, **values), rtol=1e-10, atol=1e-12)


def _expanded(node):
    """Every term of ``node`` with each product over a sum multiplied out, as far as it goes."""
    if isinstance(node, Add):
        return [t for term in node.terms for t in _expanded(term)]
    terms = distributed(node, 10 ** 6)
    return [node] if terms is None else [t for term in terms for t in _expanded(term)]


def _reads_back(text, expr, gen):
    back = td.parse(text, **gen.S)
    assert back.shape == expr.shape, text   # a constant no symbol beside it sizes is written with its size
    values = {k: v for k, v in gen.V.items() if k in back.free or k in expr.free or f"size({k}," in text}
    values |= {dim: size for dim, size in SIZES.items() if f"size({dim})" in text}   # size(a): the dim a
    np.testing.assert_allclose(td.evaluate(back, functions=USER_FUNCTIONS, **values),
                               td.evaluate(expr, functions=USER_FUNCTIONS, **values), rtol=1e-8, atol=1e-10, err_msg=text)


@pytest.mark.parametrize("block", range(4))
def test_random_gradients_have_a_matrix_form_whenever_each_term_has_one(block):
    # gradients of u'·M·v, sum(M2 .* (M*N)) and u'·M·M·u for random matrix expressions M, M2 of the
    # selfcheck's generator: each is a product over sums; when every term, multiplied out, has a
    # matrix form, the whole has one, and it reads back to the same value
    written = multiplied_out = 0
    for seed in range(40 * block, 40 * block + 40):
        gen = ExpressionGenerator(7000 + seed)
        S = gen.S
        M, _ = gen.gen(("a", "a"), depth=3)
        M2, _ = gen.gen(("a", "b"), depth=2)
        for f in (S["u"] @ M @ S["v"], td.sum(M2 * (M @ S["N"])), S["u"] @ (M @ M) @ S["u"]):
            for wrt in ("M", "N", "u"):
                g = td.grad(f, S[wrt])
                terms = _expanded(g)
                if len(terms) > 200 or any(to_matrix(t) is None for t in terms):
                    continue
                text = to_matrix(g, sized_by=(S[wrt],))
                assert text is not None, (seed, wrt, td.index_notation(g))
                written += 1
                multiplied_out += len(terms) > len(getattr(g, "terms", (g,)))
                _reads_back(text, g, gen)   # a zero too: matrix(0, size(M, 1), size(M, 2))
    assert written >= 60 and multiplied_out >= 10, (written, multiplied_out)


def test_a_sum_of_many_random_terms_is_written_when_each_term_is():
    # forty random matrix expressions with a matrix form each, added: the sum has one, and reads back
    terms, gen = [], ExpressionGenerator(123)
    for draw in range(400):
        e, _ = gen.gen(("a", "b"), depth=2)
        if to_matrix(e) is not None:
            terms.append((draw + 1) * e)
        if len(terms) == 40:
            break
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    assert len(getattr(total, "terms", ())) >= 20
    text = to_matrix(total)
    assert text is not None
    _reads_back(text, total, gen)


def test_a_scalar_written_last_in_a_term_is_not_factored_out_as_a_matrix():
    """Selfcheck seed 41677: N*sum(w) - N*w*w' was written N*(sum(w) - w*w'), which reads back as a
    number added to every entry of w*w' (the scalar stood last in its term, where the guard on
    leading scalars did not look)."""
    N, w = td.matrix("N", "a b"), td.vector("w", "b")
    e = N * td.sum(w) - N @ td.outer(w, w)
    text = td.matrix_notation(e)
    rng = np.random.default_rng(41677)
    values = dict(N=rng.normal(size=(3, 4)), w=rng.normal(size=4))
    back = td.parse(str(text), N="a b", w="b")
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(e, **values), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(td.evaluate(e, **values),
                               values["N"] * values["w"].sum() - values["N"] @ np.outer(values["w"], values["w"]),
                               rtol=1e-12)
