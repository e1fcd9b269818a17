"""The command line never crashes: any argv gives exit 0, or exit 2 with exactly one line on stderr.

Random and malformed command lines (hypothesis, plus a corpus) run through ``cli.main`` in this
process; a few run as real processes to see that no traceback reaches the terminal.
"""

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensordiff.cli import main

PROFILE = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

EXPRESSIONS = ["x'*A*x", "inv(X'*X + lam*eye)*X'*y", "norm2(tanh(X*W)*a - y)^2", "logdet(W*W' + s^2*eye)",
               "tr(Y'*(W*W' + s^2*eye)*Y)", "sum(log(1 + exp(-y.*(X*w))))", "diag(v)*A", "sqrt(x.^2 + 1)",
               "det(A)", "relu(x) .* abs(x)", "x", "2", "eye", "A.^(-1)", "sigmoid(x)'*x", "x" + "'" * 300,
               "gelu(X*w) + arctan(c)^2", "norm1(A*x) + sum(vector(1)'*A)", "exp(x)'*tan(sinh(x)/9)"]
MALFORMED = ["", " ", "(", ")", "X*", "*X", "X Y", "foo(X)", "tr(X, Y)", "x^A", "1e999", "Xᵀ*X", "\x00",
             "(" * 200 + "x" + ")" * 200, "inv(X", "--", "-", "(-2)^x", "eye(3)"]
SYMBOLS = ["x", "A", "X", "W", "y", "lam", "s", "a", "v", "Y", "w", "nope", "", "x'", "2"]
FLAGS = ["--wrt", "--order", "--dims", "--format", "--check", "--demo", "--bogus", "-x", "--", "--wrt=x",
         "--order=2", "--format=index"]
VALUES = ["0", "1", "2", "3", "-1", "1.5", "1e3", "two", "", "matrix", "index", "einsum", "latex", "numpy",
          "jax", "torch", "pdf", 'X="n p"', "A=n n", "x=", "=n", "X", "A='n n'", "y=n", 'W="n n n"', "lam=''"]


def run_main(argv, capsys):
    """Exit status and the stderr lines of ``tensordiff argv``; fails on any exception."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's --help exits 0 itself
        status = exc.code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status in (0, 2), f"exit {status} for {argv!r}"
    if status == 2:
        assert len(lines) == 1 and lines[0].startswith("tensordiff: error: "), (argv, captured.err)
    else:
        assert not lines, (argv, captured.err)
    return status, lines


@pytest.mark.parametrize("text", EXPRESSIONS + MALFORMED)
def test_each_expression_with_each_symbol(text, capsys):
    statuses = {run_main([text, "--wrt", wrt], capsys)[0] for wrt in ("x", "A", "X", "W", "nope")}
    if text in MALFORMED:
        assert statuses == {2}


@pytest.mark.parametrize("argv", [
    [], ["--wrt"], ["--wrt", "x"], ["x"], ["x", "--wrt", "x", "--order", "-1"],
    ["x", "--wrt", "x", "--order", "two"], ["x", "--wrt", "x", "--format", "pdf"], ["x", "--bogus"],
    ["x", "--wrt", "x", "--dims", "x"], ["x", "--wrt", "x", "--dims", "x=n n n"], ["x'*A*x", "--wrt", "x", "--dims", "A=n"],
    ["x", "y", "--wrt", "x"], ["x", "--wrt", "x", "--order", "99999999999999999999"],
    ["x'*A*x", "--wrt", "x", "--order", "1000000000"], ["A", "--wrt", "A", "--order", "1000000"],
    ["x'*A*x", "--wrt", "A", "--check", "--order", "0"], ["-x", "--wrt", "x"], ["--", "-x", "--wrt", "x"],
])
def test_malformed_command_lines(argv, capsys):
    run_main(argv, capsys)


@settings(max_examples=150, **PROFILE)
@given(argv=st.lists(st.sampled_from(EXPRESSIONS + MALFORMED + SYMBOLS + FLAGS + VALUES), max_size=7))
def test_random_command_lines(argv, capsys):
    if "--demo" in argv:
        argv = [a for a in argv if a != "--demo"]   # the demo runs four whole checks: once, in the corpus
    if "--check" in argv and "--order" in argv:
        argv = [a for a in argv if a != "--check"]  # checking a high order is slow, not wrong
    run_main(argv, capsys)


@settings(max_examples=100, **PROFILE)
@given(text=st.text(max_size=25), wrt=st.sampled_from(["x", "A", "X"]),
       fmt=st.sampled_from(["matrix", "index", "latex", "numpy"]))
def test_random_expression_texts(text, wrt, fmt, capsys):
    run_main([text, "--wrt", wrt, "--format", fmt], capsys)


@pytest.mark.parametrize("argv, status", [
    (["x'*A*x", "--wrt", "x"], 0),
    (["inv(X'*X", "--wrt", "X"], 2),
    (["x'*A*x", "--wrt", "x", "--order", "nan"], 2),
    (["(" * 5000 + "x" + ")" * 5000, "--wrt", "x"], 2),
])
def test_as_a_process_no_traceback_reaches_the_terminal(argv, status):
    done = subprocess.run([sys.executable, "-m", "tensordiff", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == (1 if status == 2 else 0), done.stderr
