"""progress=True on evaluate and compile, and the CLI's --progress: a tqdm bar or a plain line on
stderr (for the CLI, once an evaluation has run DELAY seconds); silent by default; bad values are
clear errors."""

import pickle
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff import cli, progress


@pytest.fixture
def hessian_case():
    X = td.matrix("X", "n p")
    f = td.logdet(X.T @ X) + td.sum(td.tanh(X))
    H = td.hessian(f, X)
    return X, H, dict(X=np.random.default_rng(6).standard_normal((9, 4)))


@pytest.fixture
def no_delay(monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)


@pytest.fixture
def without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)   # an import of tqdm now fails, as when not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def _steps(program):
    return sum(1 for line in repr(program).splitlines()[1:])


def test_silent_by_default(hessian_case, no_delay, capsys):
    X, H, values = hessian_case
    td.evaluate(H, **values)
    td.compile(H)(**values)
    td.evaluate(H, **values, progress=False)
    assert capsys.readouterr().err == ""


def test_plain_line_without_tqdm(hessian_case, no_delay, without_tqdm, capsys):
    X, H, values = hessian_case
    expected = td.evaluate(H, **values)
    program = td.compile(H, progress=True)
    got = program(**values)
    err = capsys.readouterr().err
    total = _steps(program)
    assert f"tensordiff: step 1/{total} (0%)" in err
    last = err.splitlines()[-1].rsplit("\r", 1)[-1]
    assert last.startswith(f"tensordiff: {total}/{total} steps (100%)") and "done" in last and err.endswith("\n")
    np.testing.assert_array_equal(got, expected)   # reporting changes nothing


def test_tqdm_bar_when_installed(hessian_case, no_delay, capsys):
    pytest.importorskip("tqdm")
    X, H, values = hessian_case
    program = td.compile(H)
    td.evaluate(H, **values, progress=True)
    err = capsys.readouterr().err
    assert "tensordiff" in err and f"/{_steps(program)}" in err and "step" in err


def test_the_command_lines_setting_shows_only_long_evaluations(hessian_case, without_tqdm, monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY", 3600.0)
    X, H, values = hessian_case
    with progress.enabled():
        td.evaluate(H, **values)                   # progress=None follows the setting: not this long
        assert capsys.readouterr().err == ""
        td.evaluate(H, **values, progress=False)   # an explicit False wins
        assert capsys.readouterr().err == ""
        td.evaluate(H, **values, progress=True)    # an explicit True reports from the start
        assert "steps (100%)" in capsys.readouterr().err
    td.evaluate(H, **values, progress=True)
    assert "steps (100%)" in capsys.readouterr().err


def test_an_error_stops_the_line(no_delay, without_tqdm, capsys):
    A = td.matrix("A", "n n")
    with pytest.raises(td.EvaluationError, match="singular"):
        td.evaluate(td.inv(A) @ A.T, A=np.zeros((3, 3)), progress=True)   # inv(A) @ A is I
    last = capsys.readouterr().err.splitlines()[-1]
    assert "stopped at step" in last and "by an error" in last


def test_twin_and_pickled_programs_keep_the_setting(hessian_case, no_delay, without_tqdm, capsys):
    jnp = pytest.importorskip("jax.numpy")
    X, H, values = hessian_case
    program = pickle.loads(pickle.dumps(td.compile(H, progress=True)))
    program(X=jnp.asarray(values["X"]))   # jax in: the jax twin of the program reports too
    assert "steps (100%)" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [1, 0, "yes", 1.0, [True]])
def test_progress_must_be_a_bool(hessian_case, bad):
    X, H, values = hessian_case
    with pytest.raises(td.EvaluationError, match="progress must be True or False"):
        td.evaluate(H, **values, progress=bad)
    with pytest.raises(td.EvaluationError, match="progress must be True or False"):
        td.compile(H, progress=bad)


def test_a_symbol_called_progress_is_passed_in_the_dict():
    progress_symbol = td.scalar("progress")
    assert td.evaluate(2 * progress_symbol, {"progress": 3.0}) == 6.0


def test_cli_progress(no_delay, without_tqdm, capsys):
    argv = ["x'*A*x", "--wrt", "x", "--dims", 'A="n n"', "--check"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().err == ""
    assert cli.main(argv + ["--progress"]) == 0
    err = capsys.readouterr().err
    assert "tensordiff: " in err and "steps (100%)" in err
    # the setting is the command's only: a later evaluation is silent again
    x = td.vector("x", "n")
    td.evaluate(x @ x, x=np.ones(2))
    assert capsys.readouterr().err == ""
