"""Output formats: matrix notation (read back by the parser), LaTeX, generated code, the command line."""

import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

import tensordiff as td
from tensordiff.cli import main

RNG = np.random.default_rng(7)


def _values(**shapes):
    return {name: (float(RNG.uniform(0.5, 1.0)) if shape == () else RNG.standard_normal(shape))
            for name, shape in shapes.items()}


# ---------------------------------------------------------------- matrix notation of the seeds

def test_logdet_gradient_prints_as_the_known_matrix_formula():
    W, s = td.matrix("W", "n m"), td.scalar("s")
    g = td.grad(td.logdet(W @ W.T + s ** 2 * td.eye("n")), W)
    text = td.matrix_notation(g)
    assert text.replace(" ", "") in ("2*inv(s^2*eye+W*W')*W", "2*inv(W*W'+s^2*eye)*W")
    values = _values(W=(3, 5), s=())
    np.testing.assert_allclose(td.evaluate(td.parse(text, W="n m", s=""), **values), td.evaluate(g, **values))


def test_network_gradient_prints_as_hadamard_form():
    X, W, a, y = td.matrix("X", "n d"), td.matrix("W", "d k"), td.vector("a", "k"), td.vector("y", "n")
    g = td.grad(td.norm(td.tanh(X @ W) @ a - y) ** 2, W)
    text = td.matrix_notation(g)
    assert text.startswith("2*X'*(") and ".*" in text and "a'" in text, text
    values = _values(X=(6, 3), W=(3, 4), a=(4,), y=(6,))
    back = td.parse(text, X="n d", W="d k", a="k", y="n")
    np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(g, **values), rtol=1e-12)


def test_ridge_and_quadratic_derivatives_round_trip():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    A, x = td.matrix("A", "p p"), td.vector("x", "p")
    w = td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y
    values = _values(X=(7, 3), y=(7,), lam=(), A=(3, 3), x=(3,))
    dims = dict(X="n p", y="n", lam="", A="p p", x="p")
    for d in (w, td.diff(w, lam), td.grad(x @ A @ x, x), td.hessian(x @ A @ x, x), td.grad(td.trace(X.T @ X @ A), A),
              td.diff(td.trace(X.T @ X @ A), X), td.grad(td.det(A @ A.T + td.eye("p")), A), td.diag(td.diagonal(A)) * 2):
        text = td.matrix_notation(d)
        assert not text.startswith("no matrix"), (text, str(d))
        back = td.parse(text, **dims)
        np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(d, **values), rtol=1e-10, atol=1e-12,
                                   err_msg=text)


def test_no_matrix_form_says_so_and_gives_index_notation():
    X = td.matrix("X", "n p")   # ∂X/∂X is tprod(eye, eye) (test_kronform.py); exp(X)'s has no such form
    text = td.matrix_notation(td.diff(td.exp(X), X))
    assert text.startswith("no matrix notation") and "δ" in text


def test_identities_times_scalar_products_and_zeros_have_matrix_forms():
    # the Hessians of the Rayleigh quotient and of ‖x‖⁴ hold (xᵀAx)·I and (xᵀx)·I terms, once
    # without a matrix form; a zero matrix carries its size
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    values = dict(x=np.array([0.3, -1.0, 2.0]), A=np.eye(3) + 0.1 * np.arange(9.0).reshape(3, 3))
    assert td.matrix_notation(td.hessian(td.norm(x) ** 4, x)) == "8*x*x' + 4*(x'*x)*eye"
    for e in (td.hessian((x @ A @ x) / (x @ x), x), (x @ A @ x) * (x @ x) * td.eye("n"), 0 * A,
              td.hessian(td.sum(x), x)):
        text = td.matrix_notation(e)
        assert not text.startswith("no matrix notation"), text
        back = td.parse(text, eye="n")
        np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(e, **values), rtol=1e-12, atol=1e-15)
    assert td.matrix_notation(0 * td.matrix("B", "n p")) == "matrix(0, size(n), size(p))"


def test_the_diagonal_of_a_product_has_a_matrix_form():
    # ∂ logdet(Xᵀ diag(d) X)/∂d = diag(X (Xᵀ diag(d) X)⁻¹ Xᵀ): once "no matrix notation"
    X, d, A, B, v = (td.matrix("X", "n p"), td.vector("d", "n"), td.matrix("A", "n m"), td.matrix("B", "m n"),
                     td.vector("v", "n"))
    rng = np.random.default_rng(2)
    values = dict(X=rng.standard_normal((5, 3)), d=rng.uniform(0.5, 2.0, 5), A=rng.standard_normal((5, 4)),
                  B=rng.standard_normal((4, 5)), v=rng.standard_normal(5))
    assert td.matrix_notation(td.grad(td.logdet(X.T @ td.diag(d) @ X), d)) == "diag(X*inv(X'*diag(d)*X)*X')"
    for e in (td.diagonal(A @ B), 2 * td.diagonal(A @ B) * v, td.diagonal(A @ A.T) + v,
              td.grad(td.sum(td.diagonal(X @ X.T) * td.tanh(d)), d)):
        text = td.matrix_notation(e)
        assert text.count("diag(") >= 1 and not text.startswith("no matrix notation"), text
        np.testing.assert_allclose(td.evaluate(td.parse(text), **values), td.evaluate(e, **values), rtol=1e-12)


def test_a_hadamard_product_of_two_matrix_products_has_a_matrix_form():
    # ∂² logdet(Xᵀ diag(d) X)/∂d² = -(X M⁻¹ Xᵀ) .* (X M⁻¹ Xᵀ), the D-optimal design Hessian
    X, d, A, B, C, D = (td.matrix("X", "n p"), td.vector("d", "n"), td.matrix("A", "n m"), td.matrix("B", "m n"),
                        td.matrix("C", "n q"), td.matrix("D", "q n"))
    rng = np.random.default_rng(6)
    values = dict(X=rng.standard_normal((5, 3)), d=rng.uniform(0.5, 2.0, 5), A=rng.standard_normal((5, 4)),
                  B=rng.standard_normal((4, 5)), C=rng.standard_normal((5, 2)), D=rng.standard_normal((2, 5)))
    H = td.hessian(td.logdet(X.T @ td.diag(d) @ X), d)
    assert td.matrix_notation(H) == "t1 = inv(X'*diag(d)*X)\n-((X*t1*X') .* (X*t1*X'))"   # a repeated call named once
    for e in (H, (A @ B) * (C @ D), (A @ B) * (A @ B).T, 2 * (A @ B) * (C @ D) + A @ B):
        text = td.matrix_notation(e)
        np.testing.assert_allclose(td.evaluate(td.parse(text), **values), td.evaluate(e, **values), rtol=1e-12,
                                   err_msg=text)


# ---------------------------------------------------------------- random round trips

def _random_matrix_expressions(count):
    """Random order ≤ 2 expressions over built-in operations, with values."""
    rng = np.random.default_rng(11)
    A, B, x, z, s = (td.matrix("RA", "m m"), td.matrix("RB", "m k"), td.vector("rx", "m"),
                     td.vector("rz", "k"), td.scalar("rs"))
    leaves = {("m", "m"): [A, td.eye("m")], ("m", "k"): [B], ("m",): [x], ("k",): [z], (): [s]}
    values = dict(RA=rng.standard_normal((3, 3)), RB=rng.standard_normal((3, 2)), rx=rng.standard_normal(3),
                  rz=rng.standard_normal(2), rs=0.7)

    def gen(shape, depth):
        if depth == 0 or rng.random() < 0.25:
            options = leaves.get(shape) or []
            if options:
                return options[rng.integers(len(options))]
        choice = rng.integers(7)
        if choice == 0:
            return gen(shape, depth - 1) + gen(shape, depth - 1)
        if choice == 1:
            return gen((), depth - 1) * gen(shape, depth - 1)
        if choice == 2:
            return td.tanh(gen(shape, depth - 1))
        if choice == 3 and shape == ("m", "m"):
            return gen(("m", "k"), depth - 1) @ gen(("m", "k"), depth - 1).T
        if choice == 4 and shape == ("m",):
            return gen(("m", "m"), depth - 1) @ gen(("m",), depth - 1)
        if choice == 5 and shape == ():
            return gen(("m",), depth - 1) @ gen(("m",), depth - 1)
        if choice == 6 and shape == ():
            return td.trace(gen(("m", "m"), depth - 1))
        return gen(shape, depth - 1) * gen(shape, depth - 1)

    exprs = []
    for k in range(count):
        shape = [(), ("m",), ("m", "m"), ("m", "k")][k % 4]
        exprs.append(gen(shape, 3))
    return exprs, values, (A, B, x, z, s)


def test_parse_of_matrix_notation_round_trips_on_random_derivatives():
    exprs, values, symbols = _random_matrix_expressions(40)
    dims = dict(RA="m m", RB="m k", rx="m", rz="k", rs="")
    checked = 0
    for expr in exprs:
        candidates = [expr] + [td.diff(expr, sym) for sym in symbols if sym.name in expr.free and
                               len(expr.shape) + len(sym.shape) <= 2]
        for d in candidates:
            text = td.matrix_notation(d)
            if text.startswith("no matrix"):
                continue
            back = td.parse(text, **dims)
            if set(back.shape) - {"m", "k"}:
                assert "eye" in text, text  # only a bare identity leaves its size to the reader
                continue
            np.testing.assert_allclose(td.evaluate(back, **values), td.evaluate(d, **values),
                                       rtol=1e-9, atol=1e-11, err_msg=f"{text}\n{d}")
            checked += 1
    assert checked >= 40


def test_generated_numpy_code_equals_evaluation_on_random_derivatives():
    exprs, values, symbols = _random_matrix_expressions(30)
    for expr in exprs:
        for d in [expr] + [td.diff(expr, sym, order=2) for sym in symbols[:1] if sym.name in expr.free]:
            source = td.codegen([d, expr], target="numpy", name="f")
            namespace = {}
            exec(source, namespace)
            code = namespace["f"].__code__
            args = {name: {**values, "m": 3, "k": 2}[name] for name in code.co_varnames[:code.co_argcount]}
            got, got_expr = namespace["f"](**args)
            np.testing.assert_allclose(got, td.evaluate(d, **values), rtol=1e-10, atol=1e-12, err_msg=source)
            np.testing.assert_allclose(got_expr, td.evaluate(expr, **values), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target", ["jax", "torch"])
def test_generated_framework_code_equals_evaluation(target):
    module = "jax" if target == "jax" else "torch"
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    exprs, values, symbols = _random_matrix_expressions(8)
    for expr in exprs:
        d = td.diff(expr, symbols[0]) if symbols[0].name in expr.free else expr
        source = td.codegen(d, target=target)
        namespace = {}
        exec(source, namespace)
        code = namespace["f"].__code__
        given = {**values, "m": 3, "k": 2}
        if target == "torch":
            import torch
            args = {n: torch.tensor(given[n], dtype=torch.float64) if isinstance(given[n], np.ndarray) else given[n]
                    for n in code.co_varnames[:code.co_argcount]}
        else:
            import jax
            jax.config.update("jax_enable_x64", True)
            args = {n: given[n] for n in code.co_varnames[:code.co_argcount]}
        got = np.asarray(namespace["f"](**args))
        np.testing.assert_allclose(got, td.evaluate(d, **values), rtol=1e-10, atol=1e-12, err_msg=source)


@pytest.mark.parametrize("target", ["numpy", "jax", "torch"])
def test_generated_code_for_softplus_and_log1p(target):
    if target != "numpy" and importlib.util.find_spec(target) is None:
        pytest.skip(f"{target} is not installed")
    X, w, y = td.matrix("X", "n p"), td.vector("w", "p"), td.vector("y", "n")
    f = td.sum(td.softplus(-y * (X @ w))) + td.sum(td.log1p(w * w))
    d = td.hessian(f, w)
    rng = np.random.default_rng(5)
    values = dict(X=10 * rng.standard_normal((6, 3)), w=rng.standard_normal(3), y=np.sign(rng.standard_normal(6)))
    namespace = {}
    exec(td.codegen(d, target=target), namespace)
    args = dict(values)
    if target == "torch":
        import torch
        args = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}
    elif target == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    np.testing.assert_allclose(np.asarray(namespace["f"](**args)), td.evaluate(d, **values), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- LaTeX

def test_latex_names_shared_subexpressions_and_renders_in_notebooks():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    J = td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X)
    text = td.latex(J, notation="index")   # its matrix form is tprod(...) - tprod(...) (test_kronform.py)
    assert text.startswith("\\begin{aligned}") and "t^{(1)}" in text and "\\sum_" in text
    assert not re.search(r"_\{[^{}]*\}_\{", text), text  # no double subscripts
    assert J._repr_latex_().startswith("$$")


# ---------------------------------------------------------------- command line

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tensordiff", *args], capture_output=True, text=True, timeout=120)


def test_cli_seed_logdet_prints_the_matrix_answer():
    result = _cli("log(det(W*W' + s^2*eye))", "--wrt", "W")
    assert result.returncode == 0, result.stderr
    dims, answer = result.stdout.strip().splitlines()
    assert dims == "# W: (n, p), s: scalar"
    assert answer.replace(" ", "") in ("2*inv(s^2*eye+W*W')*W", "2*inv(W*W'+s^2*eye)*W")


def test_cli_formats_and_check(capsys):
    for fmt in ("matrix", "index", "einsum", "latex", "numpy"):
        assert main(["inv(X'*X + lam*eye)*X'*y", "--wrt", "X", "--format", fmt]) == 0
    assert main(["norm2(tanh(X*W)*a - y)^2", "--wrt", "W", "--check"]) == 0
    out = capsys.readouterr().out
    assert "max rel error" in out and "np.einsum" in out and "\\begin{aligned}" in out


def test_cli_bad_input_exits_2_with_one_line():
    for args in (["inv(X'*X", "--wrt", "X"], ["foo(X)", "--wrt", "X"], ["X*Y", "--wrt", "X", "--dims", "X=n p", "Y=q r"],
                 ["X + ", "--wrt", "X"], ["", "--wrt", "X"], ["X", "--wrt", "Z"], ["X", "--format", "nope", "--wrt", "X"]):
        result = _cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tensordiff: error:"), (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_cli_help_shows_examples():
    result = _cli("--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "--wrt" in result.stdout
