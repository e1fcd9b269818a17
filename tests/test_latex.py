"""td.latex and notebooks: the matrix form in textbook LaTeX where one exists, index notation
otherwise; Greek names, subscripts, long sums over lines; td.matrix_notation's str object; numbers
as the fractions they are."""

import re

import numpy as np
import pytest

import tensordiff as td
from tensordiff.printing import latex_name

RNG = np.random.default_rng(17)


def _balanced(text):
    """Braces and \\left/\\right pairs balance, and no name carries two subscripts in a row."""
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, text
    assert depth == 0 and text.count(r"\left") == text.count(r"\right"), text
    assert not re.search(r"_\{[^{}]*\}_\{", text), text


def _top_level_terms(text):
    """The lines LaTeX breaks matrix notation into: one per named part (t1 = ...) and per term."""
    *named, text = text.split("\n")
    depth, count = 0, 1 + len(named)
    for k, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        count += depth == 0 and text[k - 1:k + 2] in (" + ", " - ")
    return count


def test_latex_writes_the_matrix_form_when_there_is_one():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    assert td.latex(td.grad(x @ A @ x, x)) == r"\mathrm{out} = \left(A + A^\top\right) x"
    X = td.matrix("X", "n p")
    assert td.latex(td.inv(X.T @ X), name="S") == r"S = \left(X^\top X\right)^{-1}"
    assert td.latex(td.grad(td.logdet(td.inv(A)), A)) == r"\mathrm{out} = -A^{-\top}"


@pytest.mark.parametrize("build, pieces", [
    (lambda x, y, A, s: x * y, [r"\odot"]),
    (lambda x, y, A, s: td.trace(A @ A), [r"\operatorname{tr}\left(A A\right)"]),
    (lambda x, y, A, s: td.logdet(A) * s, [r"\log\det\left(A\right)", "s"]),
    (lambda x, y, A, s: td.det(A.T), [r"\det\left(A\right)"]),
    (lambda x, y, A, s: td.exp(x) + td.sigmoid(y), [r"\exp\left(x\right)", r"\sigma\left(y\right)"]),
    (lambda x, y, A, s: td.sqrt(s) * x, [r"\sqrt{s}"]),
    (lambda x, y, A, s: td.diag(x) @ A, [r"\operatorname{diag}\left(x\right)"]),
    (lambda x, y, A, s: td.inv(A).T @ x, [r"A^{-\top} x"]),
    (lambda x, y, A, s: x ** 2, [r"{x}^{\circ 2}"]),
    (lambda x, y, A, s: td.outer(x * y, x), [r"\odot", r"\right) x^\top"]),
])
def test_latex_spells_each_matrix_operation(build, pieces):
    x, y, A, s = td.vector("x", "n"), td.vector("y", "n"), td.matrix("A", "n n"), td.scalar("s")
    text = td.latex(build(x, y, A, s))
    _balanced(text)
    for piece in pieces:
        assert piece in text, text


def test_latex_falls_back_to_index_notation_and_can_be_asked_for_either():
    W, x = td.matrix("W", "n m"), td.vector("x", "m")
    jacobian = td.diff(td.exp(W) @ x, W)   # order 3 and no product of two factors: no matrix form
    text = td.latex(jacobian)
    assert text.startswith(r"\begin{aligned}") and r"\delta_{" in text, text
    assert td.latex(W @ x, notation="index").startswith(r"\begin{aligned}")
    assert td.latex(W @ x, notation="matrix") == r"\mathrm{out} = W x"
    with pytest.raises(td.TensorDiffError, match="no matrix form"):
        td.latex(jacobian, notation="matrix")
    with pytest.raises(td.TensorDiffError, match="notation"):
        td.latex(W @ x, notation="kronecker")


@pytest.mark.parametrize("name, expected", [
    ("alpha", r"\alpha"), ("Sigma", r"\Sigma"), ("omega", r"\omega"), ("Lambda", r"\Lambda"),
    ("varepsilon", r"\varepsilon"), ("Beta", "B"), ("W_1", "W_{1}"), ("x_i", "x_{i}"),
    ("sigma_2", r"\sigma_{2}"), ("beta_hat", r"\beta_{\mathrm{hat}}"), ("lam", r"\mathrm{lam}"),
    ("long_name", r"\mathrm{long\_name}"), ("x", "x"), ("alphabet", r"\mathrm{alphabet}"),
    ("W1", "W_{1}"), ("alpha12", r"\alpha_{12}"), ("t1x", r"\mathrm{t1x}"), ("abc1", r"\mathrm{abc1}"),
])
def test_names_print_greek_letters_and_keep_subscripts(name, expected):
    assert latex_name(name) == expected


def test_greek_and_subscripted_names_in_both_notations():
    Sigma, W_1, alpha = td.matrix("Sigma", "n n"), td.matrix("W_1", "n n"), td.scalar("alpha")
    x = td.vector("x", "n")
    assert td.latex(alpha * Sigma @ W_1 @ x) == r"\mathrm{out} = \alpha \Sigma W_{1} x"
    index = td.latex(alpha * Sigma @ W_1 @ x, notation="index")
    _balanced(index)
    assert r"{W_{1}}_{" in index and r"\Sigma_{" in index and r"\alpha" in index, index


def test_long_results_break_over_lines_one_term_each():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    w = td.vector("w", "p")
    loss = td.sum((X @ w - y) ** 2) + lam * w @ w + td.sum(td.exp(X @ w)) + td.logdet(X.T @ X + lam * td.eye("p")) \
        + td.sum(td.sigmoid(X @ w) * y) + td.trace(X.T @ X @ X.T @ X)
    gradient = td.grad(loss, X)
    text = td.latex(gradient)
    _balanced(text)
    lines = text.splitlines()
    assert lines[0] == r"\begin{aligned}" and lines[-1] == r"\end{aligned}", text
    assert len(lines) - 2 == _top_level_terms(td.matrix_notation(gradient)), text
    assert all(line.startswith(("&", r"\mathrm{out} &=", "t_{")) for line in lines[1:-1]), text
    short = td.latex(X @ w)
    assert "\n" not in short


def test_long_index_notation_breaks_over_lines():
    x = td.vector("x", "n")
    order = td.diff(td.sum(td.tanh(x) ** 3), x, order=4)
    text = td.latex(order)
    _balanced(text)
    longest = max(len(line) for line in text.splitlines())
    assert longest < 400, text
    assert text.count(r"&\quad") >= 1, text


def test_notebooks_render_expressions_and_matrix_notation():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    g = td.grad(x @ A @ x, x)
    assert g._repr_latex_() == r"$$\left(A + A^\top\right) x$$"
    form = td.matrix_notation(g)
    assert form._repr_latex_() == g._repr_latex_() and form.latex() == r"\left(A + A^\top\right) x"
    jacobian = td.diff(td.exp(A) @ x, A)   # no matrix form: index notation (A @ x's is I ⊗ xᵀ)
    assert jacobian._repr_latex_().startswith(r"$$\begin{aligned}")
    assert td.matrix_notation(jacobian)._repr_latex_() == jacobian._repr_latex_()


def test_matrix_notation_is_its_text():
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    form = td.matrix_notation(A @ x)
    assert isinstance(form, str) and isinstance(form, td.MatrixNotation)
    assert form == "A*x" and "A*x" == form and str(form) == "A*x" and hash(form) == hash("A*x")
    assert {form: 1}["A*x"] == 1 and repr(form) == "'A*x'" and f"{form}" == "A*x"
    assert td.parse(form, A="n n", x="n") is A @ x


@pytest.mark.parametrize("text, printed", [
    ("x^(-2/3)", "x^(-2/3)"), ("x^(2/3)", "x^(2/3)"), ("v.^(-2/3)", "v.^(-2/3)"),
    ("1/sqrt(x)", "1/sqrt(x)"), ("1 ./ sqrt(v)", "1 ./ sqrt(v)"), ("v/3", "1/3*v"),
    ("-v/3", "-1/3*v"), ("X*(1 ./ sqrt(v))", "X*(1 ./ sqrt(v))"), ("2.5*v", "2.5*v"), ("0.1*v", "0.1*v"),
    ("v*3/7", "3/7*v"),
])
def test_numbers_print_as_the_fractions_they_are(text, printed):
    dims = dict(x="", v="n", X="n n")
    e = td.parse(text, **dims)
    form = td.matrix_notation(e)
    assert form == printed
    assert td.parse(form, **dims) is e
    values = {name: value for name, value in dict(x=np.array(1.7), v=RNG.uniform(0.5, 2, 4),
                                                  X=RNG.standard_normal((4, 4))).items() if name in text}
    np.testing.assert_allclose(td.evaluate(td.parse(form, **dims), **values), td.evaluate(e, **values))
    _balanced(td.latex(e))


def test_fractions_in_latex():
    x, v = td.scalar("x"), td.vector("v", "n")
    assert td.latex(x ** (-2 / 3)) == r"\mathrm{out} = {x}^{-2/3}"
    assert td.latex(v / 3) == r"\mathrm{out} = \frac{1}{3} v"
    assert td.latex(-v / 3) == r"\mathrm{out} = -\frac{1}{3} v"
    assert td.latex(x ** -0.5) == r"\mathrm{out} = \frac{1}{\sqrt{x}}"


def test_user_functions_print_their_latex_in_the_matrix_form():
    x = td.vector("x", "n")
    phi = td.elementwise("phi_q", np.sin, np.cos, latex=r"\varphi")
    assert td.latex(phi(x)) == r"\mathrm{out} = \varphi\left(x\right)"
    assert td.latex(td.grad(td.sum(phi(x)), x)) == r"\mathrm{out} = \varphi'\left(x\right)"
    assert td.latex(td.elementwise("my_fn")(x)) == r"\mathrm{out} = \operatorname{my\_fn}\left(x\right)"


def test_cli_latex_format_gives_the_matrix_form(capsys):
    from tensordiff.cli import main
    assert main(["x'*A*x", "--wrt", "x", "--format", "latex"]) == 0
    assert r"\left(A + A^\top\right) x" in capsys.readouterr().out
