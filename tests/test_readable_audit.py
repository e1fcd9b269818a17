"""Issue 17's items that other test files leave out, each checked with the API the issue names:
the selfcheck's round trip of named matrix notation, a long result's LaTeX, constant folding read
from the parser's text, the CLI's LaTeX of an order-4 result, and the documented command-line
outputs (docs/guide/cli.md says they are real outputs: they are run here)."""

import re
import shlex

import numpy as np
import pytest

import tensordiff as td
from tensordiff import selfcheck
from tensordiff.cli import main

from test_matrix_sums import SYMPY_17_TERMS, _symbols, _values


# ---------------------------------------------------------------- done-when: the selfcheck round trip

def _round_trips(seeds):
    """[(seed, text, whether it was read with sizes)] of every text the selfcheck's round trip reads."""
    checked = []
    original = selfcheck.reads_back

    def recording(ex, e, text):
        read = original(ex, e, text)
        checked.append((ex.seed, text, read))
        return read

    selfcheck.reads_back = recording
    try:
        for seed in seeds:
            results, _ = selfcheck.check_example(seed, max_order=2, properties=["parse round trip"])
            assert not results["parse round trip"], results["parse round trip"]
    finally:
        selfcheck.reads_back = original
    return checked


def test_the_selfcheck_reads_back_the_named_form_too():
    named = [text for _, text, read in _round_trips(range(40)) if read and "\n" in text]
    assert len(named) >= 3 and all(re.match(r"t\d+ = ", text) for text in named), named


def test_the_selfcheck_catches_a_wrong_named_form(monkeypatch):
    # a named form whose first binding is wrong fails the check: it is read, not skipped
    seed = next(seed for seed, text, read in _round_trips(range(40)) if read and "\n" in text)
    real = td.matrix_notation

    def wrong(e):
        text = str(real(e))
        return re.sub(r"^(t\d+) = ", r"\1 = 2*", text, count=1) if "\n" in text else text

    monkeypatch.setattr(td, "matrix_notation", wrong)
    results, _ = selfcheck.check_example(seed, max_order=2, properties=["parse round trip"])
    assert results["parse round trip"] and "td.parse" in results["parse round trip"], results


# ---------------------------------------------------------------- item 1: a long result in LaTeX

def test_a_long_result_is_an_aligned_block_with_a_term_per_line():
    symbols = _symbols()
    g = td.grad(td.parse(SYMPY_17_TERMS, **symbols), symbols["X"])
    text = td.latex(g)
    lines = text.split("\n")
    assert lines[0] == r"\begin{aligned}" and lines[-1] == r"\end{aligned}"
    assert lines[1].startswith(r"\mathrm{out} &= ")
    # a term per line; a long term that ends in a bracketed sum goes on, a line per inner term
    assert all(line.startswith((r"&\quad + ", r"&\quad - ", r"&\qquad + ", r"&\qquad - ")) for line in lines[2:-1])
    assert text.count(r"\bigl(") == text.count(r"\bigr)") >= 1
    assert len(lines) - 2 >= 15 and max(map(len, lines)) < 250, text
    notebook = g._repr_latex_()
    assert notebook.startswith("$$\\begin{aligned}") and notebook.count("\n") == text.count("\n")


def test_the_matrix_form_of_a_long_result_is_what_notebooks_render():
    symbols = _symbols()
    g = td.grad(td.parse(SYMPY_17_TERMS, **symbols), symbols["X"])
    form = td.matrix_notation(g)
    assert form == str(form) and form._repr_latex_() == g._repr_latex_()
    back = td.parse(form, **symbols)
    values = _values(seed=5)
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(g, **values), rtol=1e-10)


# ---------------------------------------------------------------- item 4: constants fold, as the issue writes it

def test_constants_fold_in_the_parsers_text():
    u = td.vector("u", "n")
    e = td.parse("(0.5*u).^(-1) .* u", u=u)
    assert td.matrix_notation(e) == "vector(2, size(n))"
    np.testing.assert_allclose(td.evaluate(e, u=np.array([0.3, -2.0, 5.0])), 2.0)
    assert td.matrix_notation(td.parse("(0.5*s)^(-1) * s", s="")) == "2"


# ---------------------------------------------------------------- item 6: the command line

def test_cli_latex_of_an_order_four_derivative_is_its_tensor_product(capsys):
    assert main(["A*X*B", "--wrt", "X", "--format", "latex"]) == 0
    comment, body = capsys.readouterr().out.strip().split("\n")
    assert comment.startswith("% A: ") and body == r"\mathrm{out} = A \otimes B^\top"


def _documented_runs(path):
    """(arguments, printed lines) of each ``$ tensordiff ...`` in a docs page's code blocks."""
    text = open(path, encoding="utf-8").read()
    runs = []
    for block in re.findall(r"```\n(.*?)```", text, re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, *printed = chunk.rstrip("\n").split("\n")
            runs.append((shlex.split(command)[1:], printed))
    return runs


@pytest.mark.parametrize("args, printed", _documented_runs("docs/guide/cli.md") + _documented_runs("README.md"))
def test_the_command_line_page_and_the_readme_show_real_outputs(args, printed, capsys):
    status = main(args)
    got = (capsys.readouterr().out + "").rstrip("\n").split("\n")
    if status:   # the error example: its message goes to stderr
        assert printed[-1] == f"[exit {status}]"
        return
    expected = [line for line in printed if not line.startswith("# finite-difference check")]
    got = [line for line in got if not line.startswith("# finite-difference check")]
    assert got == expected


def test_a_where_of_a_row_used_as_a_matrix_reads_back():
    """Selfcheck seed 40878: where(mask, r, 0) with a mask that varies along one axis was written as
    the row it varies along, which read back as a vector where a product needed the matrix."""
    results, _ = selfcheck.check_example(40878, max_order=3, properties=["parse round trip"])
    assert results["parse round trip"] is None, results


def test_a_where_with_eye_as_a_branch_is_not_a_spread_scalar():
    """Selfcheck seed 42151: where(c, 0, eye) was taken for a scalar spread over a matrix and
    written where(c, 0, eye)*matrix(1), a matrix product that sums the identity's rows."""
    results, _ = selfcheck.check_example(42151, max_order=2, properties=["parse round trip"])
    assert results["parse round trip"] is None, results
