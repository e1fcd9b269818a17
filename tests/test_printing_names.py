"""Printers and code generators with hostile names and arguments (from the hostile-input campaign).

Any identifier is a legal symbol, dim or function name, so generated code must stay valid and
right when a name collides with what the generator makes up (t1, np, a dim named like a symbol),
with Python (keywords, NFKC-equal names, builtins) or with the parser's words.
"""

import importlib.util
import inspect

import numpy as np
import pytest

import tensordiff as td
from tensordiff.parsewords import FUNCTION_TABLE, IDENTITY, ONES

RNG = np.random.default_rng(11)
SIZES = {"n": 3, "m": 2}


def _run_codegen(exprs, values, functions=(), sizes=(), target="numpy"):
    """Exec td.codegen(exprs) and call it positionally in the documented order: symbols sorted by
    name, then user functions (h, h_1, ...), then the sizes of dims no argument has."""
    namespace = {}
    source = td.codegen(exprs, target=target, name="generated")
    exec(compile(source, "<generated>", "exec"), namespace)
    fn = namespace["generated"]
    args = [values[name] for name in sorted(values)] + list(functions) + list(sizes)
    assert len(inspect.signature(fn).parameters) == len(args), source
    if target == "torch":
        import torch
        args = [torch.tensor(a, dtype=torch.float64) if isinstance(a, np.ndarray) else a for a in args]
    return fn(*args), source


def _check_codegen(expr, values, functions=(), sizes=(), evaluate_functions=None):
    got, source = _run_codegen(expr, values, functions, sizes)
    expected = td.evaluate(expr, functions=evaluate_functions, **values)
    np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=source)
    return source


def _shared(A, B):
    """An expression with shared subexpressions (so intermediates t1, t2, ... are generated)."""
    C = td.tanh(A @ B)
    return C @ C + A + td.sin(C @ A)


@pytest.mark.parametrize("names", [("t1", "t2"), ("np", "einsum"), ("lambda", "for"), ("class", "None_"),
                                   ("len", "range"), ("list", "__debug__x"), ("ﬁ", "fi"), ("ﬀ", "ff_")])
def test_codegen_computes_the_right_values_whatever_the_symbol_names(names):
    A, B = td.matrix(names[0], "n n"), td.matrix(names[1], "n n")
    values = {s.name: RNG.standard_normal((3, 3)) / 3 for s in (A, B)}
    source = _check_codegen(_shared(A, B) + td.sum(A[1:, ::-1]) * B, values)
    _check_codegen([td.grad(td.sum(_shared(A, B)), A), A], values)
    assert "np" not in names or "import numpy as np_" in source


def test_codegen_dims_named_like_symbols_keywords_and_the_module():
    M, x = td.matrix("M", "M M"), td.vector("x", "lambda")
    np_dim = td.vector("v", "np")
    e = td.sum(M + td.eye("M")) * x + td.sum(td.eye("while")) * td.sum(np_dim)  # no argument has "while"
    values = {"M": RNG.standard_normal((3, 3)), "x": RNG.standard_normal(4), "v": RNG.standard_normal(5)}
    got, source = _run_codegen(e, values, sizes=[2])
    sized = td.vector("while_sized", "while")  # evaluate reads a size from a symbol that has the dim
    expected = td.evaluate(e, **values, while_sized=np.ones(2))
    np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=source)
    del sized  # alive until evaluated


def test_codegen_user_functions_named_like_symbols_and_derivatives():
    zz = td.vector("zz", "n")
    hh_1 = td.vector("hh_1", "n")
    f = td.elementwise("zz")
    g = td.elementwise("hh")
    e = td.sum(f(zz) * g(hh_1)) + 0 * zz[0]
    d = td.grad(e, hh_1)  # needs hh's derivative, which generated code asks for as hh_1 by default
    values = {"zz": RNG.standard_normal(3), "hh_1": RNG.standard_normal(3)}
    implementations = {"zz": np.sin, "hh": np.tanh, "hh'": lambda v: 1 - np.tanh(v) ** 2}
    got, source = _run_codegen([e, d], values, functions=[np.tanh, lambda v: 1 - np.tanh(v) ** 2, np.sin])
    for result, expr in zip(got, [e, d]):
        np.testing.assert_allclose(result, td.evaluate(expr, functions=implementations, **values), rtol=1e-12,
                                   err_msg=source)


def test_codegen_keyword_named_user_function():
    x = td.vector("x", "n")
    e = td.elementwise("lambda_fn")(x) + td.elementwise("class_")(x)
    source = _check_codegen(e, {"x": RNG.standard_normal(3)}, functions=[np.cos, np.exp],
                            evaluate_functions={"lambda_fn": np.exp, "class_": np.cos})
    assert "def generated(x, class_, lambda_fn)" in source


@pytest.mark.parametrize("target,module", [("jax", "jnp"), ("torch", "torch")])
def test_framework_code_with_a_symbol_named_like_its_module(target, module):
    if importlib.util.find_spec("jax" if target == "jax" else "torch") is None:
        pytest.skip(f"{target} is not installed")
    if target == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    A, B = td.matrix(module, "n n"), td.matrix("t1", "n n")
    e = _shared(A, B) + td.eye("n")
    values = {module: RNG.standard_normal((3, 3)) / 3, "t1": RNG.standard_normal((3, 3)) / 3}
    got, source = _run_codegen(e, values, target=target)
    np.testing.assert_allclose(np.asarray(got), td.evaluate(e, **values), rtol=1e-10, err_msg=source)


def test_codegen_edge_arguments():
    x = td.vector("x", "n")
    namespace = {}
    exec(td.codegen([], name="nothing"), namespace)
    assert namespace["nothing"]() == ()
    exec(td.codegen([x * 2], name="one"), namespace)
    np.testing.assert_allclose(namespace["one"](np.ones(3))[0], 2 * np.ones(3))
    exec(td.codegen(2.5, name="constant"), namespace)
    assert namespace["constant"]() == 2.5
    with pytest.raises(td.TensorDiffError, match="target"):
        td.codegen(x, target=["numpy"])
    for bad in ("class", "1f", None, "a b"):
        with pytest.raises(td.TensorDiffError, match="name"):
            td.codegen(x, name=bad)


def test_to_einsum_runs_with_colliding_names():
    t1, np_ = td.matrix("t1", "n n"), td.matrix("np", "n n")
    lam, v = td.matrix("lambda", "n n"), td.vector("v_t1", "t1")
    e = (_shared(t1, np_) @ lam + td.eye("n")) * td.sum(v + td.sum(td.eye("t1")))
    values = {"t1": RNG.standard_normal((3, 3)) / 3, "np": RNG.standard_normal((3, 3)) / 3,
              "lambda": RNG.standard_normal((3, 3)), "v_t1": RNG.standard_normal(4)}
    code = td.to_einsum(e, name="result")
    namespace = {"t1": values["t1"], "np": values["np"], "lambda_": values["lambda"], "v_t1": values["v_t1"]}
    exec(code, namespace)
    np.testing.assert_allclose(namespace["result"], td.evaluate(e, **values), rtol=1e-12, err_msg=code)
    with pytest.raises(td.TensorDiffError, match="name"):
        td.to_einsum(e, name="for")


def test_index_notation_and_latex_bindings_avoid_user_names():
    t1, t2 = td.matrix("t1", "n n"), td.matrix("t2", "n n")
    e = _shared(t1, t2)
    text = td.index_notation(e)
    defined = [line.split("[")[0] for line in text.splitlines()[:-1]]
    assert defined and not {"t1", "t2"} & set(defined), text
    latex = td.latex(e, notation="index")
    assert r"t_{1}" in latex and "t^{(1)}" not in latex and "t^{(3)}" in latex, latex


@pytest.mark.parametrize("value", [2.0, 3, np.float32(1.5), True, np.bool_(False)])
def test_printers_print_numbers_as_constants(value):
    assert td.index_notation(value) == f"out = {float(value):g}"
    assert td.matrix_notation(value) == f"{float(value):g}"
    assert "out = " in td.to_einsum(value) and f"{float(value):g}" in td.latex(value)


@pytest.mark.parametrize("printer", [td.index_notation, td.to_einsum, td.latex, td.matrix_notation])
@pytest.mark.parametrize("value", [None, "x", [td.scalar("s_listed")], np.ones(3), np.ones(3, bool)])
def test_printers_refuse_what_is_not_an_expression(printer, value):
    with pytest.raises(td.TensorDiffError, match="expression"):
        printer(value)


@pytest.mark.parametrize("printer", [td.index_notation, td.to_einsum, td.latex])
def test_printers_refuse_a_bad_name(printer):
    with pytest.raises(td.TensorDiffError, match="name"):
        printer(td.scalar("s_named"), name=None)


PARSER_WORDS = sorted(set(FUNCTION_TABLE) | set(IDENTITY) | set(ONES))


@pytest.mark.parametrize("word", PARSER_WORDS)
def test_matrix_notation_reads_back_with_symbols_named_like_parser_words(word):
    S, A, x = td.matrix(word, "n n"), td.matrix("Apw", "n n"), td.vector("xpw", "n")
    values = {word: RNG.standard_normal((3, 3)), "Apw": RNG.standard_normal((3, 3)), "xpw": RNG.standard_normal(3)}
    for e in (S @ A, S @ A @ x + 2 * td.trace(S) * x, td.grad(x @ S @ x, x)):
        text = td.matrix_notation(e)
        if text.startswith("no matrix notation"):
            assert word in text  # the index notation that follows names the symbol as it is
            continue
        back = td.parse(text, Apw="n n", xpw="n", **{word: "n n"})
        np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(e, **values), rtol=1e-12, err_msg=text)
    assert td.matrix_notation(A @ x) == "Apw*xpw"  # ordinary names keep their matrix notation


def test_matrix_notation_of_user_functions_named_like_parser_words():
    x = td.vector("x", "n")
    user_inv = td.elementwise("inv")(x)
    assert td.matrix_notation(user_inv) == "user.inv(x)"   # read back as the user's inv, not the inverse
    assert td.parse("user.inv(x)", x="n") is user_inv
    assert td.matrix_notation(td.elementwise("hq")(x)) == "hq(x)"


def test_latex_uses_user_latex_and_escapes_underscores():
    x_1, long_name = td.vector("x_1", "n"), td.scalar("long_name")
    phi = td.elementwise("phi_q", latex=r"\varphi")
    text = td.latex(phi(x_1) * long_name + td.elementwise("my_fn")(x_1), name="y_out")
    assert r"\varphi\left(" in text and "phi" not in text.replace(r"\varphi", ""), text
    assert r"x_{1}" in text and r"\mathrm{long\_name}" in text and r"y_{\mathrm{out}}" in text, text
    assert r"\operatorname{my\_fn}" in text, text
    derivative = td.latex(td.grad(td.sum(phi(x_1)), x_1))
    assert r"\varphi'\left(" in derivative, derivative
    single = td.latex(td.elementwise("h")(x_1))
    assert r"h\left(" in single and "operatorname{h}" not in single
    # underscores only ever appear escaped or as the subscript operator right before a brace
    for t in (text, derivative):
        assert all(t[k - 1] == "\\" or t[k + 1] == "{" for k, ch in enumerate(t) if ch == "_"), t
