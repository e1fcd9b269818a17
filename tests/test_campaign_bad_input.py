"""Bad input, fuzzed: every case is a tensordiff error that names what is wrong.

Never a bare numpy or Python traceback, a hang or a silently wrong number. Each case gives the
call, the error class and words the message must contain (the symbol, dim, axis or option at
fault).
"""

import gc
import warnings

import numpy as np
import pytest

import tensordiff as td

V = dict(X=np.ones((3, 2)), y=np.ones(3), w=np.ones(2))
X = y = w = A = S = h = f = None


@pytest.fixture(autouse=True, scope="module")
def _symbols():
    """The symbols the cases use, alive only while this module's tests run: td.parse reads a bare
    name as the live symbol of that name, which other modules' tests must not see."""
    global X, y, w, A, S, h, f
    X, y, w = td.matrix("X", "n p"), td.vector("y", "n"), td.vector("w", "p")
    A = td.matrix("A", "n n")
    S = td.matrix("S", "n n", symmetric=True)
    h = td.elementwise("h")
    f = td.sum((X @ w - y) ** 2)
    yield
    X = y = w = A = S = h = f = None
    gc.collect()


def with_values(**changes):
    return {**V, **changes}


EVALUATION = {
    "wrong number of axes": (lambda: td.evaluate(f, with_values(X=np.ones(3))), td.ShapeError, ["'X'", "(n, p)"]),
    "mismatched dim": (lambda: td.evaluate(f, with_values(y=np.ones(4))), td.ShapeError, ["'n'", "'y'", "4", "3"]),
    "unknown symbol": (lambda: td.evaluate(f, with_values(zz_nowhere=np.ones(2))), td.EvaluationError, ["'zz_nowhere'"]),
    "missing symbol": (lambda: td.evaluate(f, X=np.ones((3, 2)), y=np.ones(3)), td.EvaluationError, ["'w'"]),
    "complex value": (lambda: td.evaluate(f, with_values(X=np.ones((3, 2)) + 1j)), td.EvaluationError,
                      ["'X'", "complex"]),
    "object value": (lambda: td.evaluate(f, with_values(X=np.full((3, 2), None))), td.EvaluationError,
                     ["'X'", "object"]),
    "datetime value": (lambda: td.evaluate(f, with_values(X=np.ones((3, 2), "datetime64[s]"))), td.EvaluationError,
                       ["'X'", "datetime64"]),
    "string value": (lambda: td.evaluate(f, with_values(X="abc")), td.EvaluationError, ["'X'", "str"]),
    "ragged list": (lambda: td.evaluate(f, with_values(X=[[1, 2], [3], [5, 6]])), td.EvaluationError,
                    ["'X'", "ragged", "X[1]"]),
    "None value": (lambda: td.evaluate(f, with_values(X=None)), td.EvaluationError, ["'X'", "NoneType"]),
    "masked array": (lambda: td.evaluate(f, with_values(X=np.ma.masked_array(np.ones((3, 2))))),
                     td.EvaluationError, ["'X'", "mask"]),
    "scalar for a matrix": (lambda: td.evaluate(f, with_values(X=3.0)), td.ShapeError, ["'X'", "(n, p)"]),
    "matrix for a scalar": (lambda: td.evaluate(td.scalar("s") * 2, s=np.ones((2, 2))), td.ShapeError, ["'s'"]),
    "non-square value of a square symbol": (lambda: td.evaluate(td.inv(A), A=np.ones((2, 3))), td.ShapeError,
                                            ["'n'", "'A'"]),
    "asymmetric value of a symmetric symbol": (lambda: td.evaluate(td.logdet(S), S=np.array([[1, 2], [0, 1.0]])),
                                               td.EvaluationError, ["'S'", "symmetric"]),
    "values not a dict": (lambda: td.evaluate(f, [1, 2]), td.EvaluationError, ["dict"]),
    "a key that is no name": (lambda: td.evaluate(f, {3: np.ones(2)}), td.EvaluationError, ["key 3"]),
    "unknown backend": (lambda: td.evaluate(f, V, backend="tensorflow"), td.EvaluationError, ["'tensorflow'"]),
    "backend not a string": (lambda: td.evaluate(f, V, backend=3), td.EvaluationError, ["backend 3"]),
    "unknown singular policy": (lambda: td.evaluate(f, V, singular="ignore"), td.EvaluationError, ["'ignore'"]),
    "negative memory limit": (lambda: td.evaluate(f, V, memory_limit=-5), td.TensorDiffError, ["memory_limit"]),
    "memory limit as words": (lambda: td.evaluate(f, V, memory_limit="lots"), td.TensorDiffError, ["memory_limit"]),
    "chunks without dask": (lambda: td.evaluate(f, V, chunks="x"), td.EvaluationError, ["chunks"]),
    "unknown conditioning": (lambda: td.evaluate(f, V, conditioning="loud"), td.EvaluationError, ["'loud'"]),
    "progress not a bool": (lambda: td.evaluate(f, V, progress="yes"), td.EvaluationError, ["progress"]),
    "functions not a dict": (lambda: td.evaluate(f, V, functions=[np.sin]), td.EvaluationError, ["functions"]),
    "a built-in function replaced": (lambda: td.evaluate(td.sum(td.sin(w)), w=np.ones(2), functions={"sin": np.cos}),
                                     td.EvaluationError, ["'sin'"]),
    "a user function missing": (lambda: td.evaluate(td.sum(h(w)), w=np.ones(2)), td.EvaluationError, ["h"]),
    "a user derivative missing": (lambda: td.evaluate(td.grad(td.sum(h(w)), w), w=np.ones(2),
                                                      functions={"h": [np.sin]}), td.EvaluationError, ["h′"]),
    "a user function of the wrong shape": (lambda: td.evaluate(td.sum(h(w)), w=np.ones(2),
                                                               functions={"h": lambda v: np.ones(5)}),
                                           td.EvaluationError, ["h", "(5,)", "(2,)"]),
    "a user function returning text": (lambda: td.evaluate(td.sum(h(w)), w=np.ones(2), functions={"h": lambda v: "a"}),
                                       td.EvaluationError, ["h"]),
    "a user function that raises": (lambda: td.evaluate(td.sum(h(w)), w=np.ones(2), functions={"h": lambda v: 1 / 0}),
                                    td.EvaluationError, ["h", "ZeroDivisionError"]),
    "a user function not callable": (lambda: td.evaluate(td.sum(h(w)), w=np.ones(2), functions={"h": 3}),
                                     td.EvaluationError, ["'h'"]),
    "singular inverse": (lambda: td.evaluate(td.inv(A), A=np.zeros((2, 2))), td.EvaluationError, ["singular", "A"]),
    "singular solve": (lambda: td.evaluate(td.solve(A, y), A=np.zeros((2, 2)), y=np.ones(2)), td.EvaluationError,
                       ["singular", "A"]),
    "singular logdet": (lambda: td.evaluate(td.logdet(A), A=np.zeros((2, 2))), td.EvaluationError, ["singular"]),
    "cholesky not positive definite": (lambda: td.evaluate(td.cholesky(A), A=-np.eye(2)), td.EvaluationError,
                                       ["positive definite", "A"]),
    "index out of range": (lambda: td.evaluate(X[5, 0], X=np.ones((3, 2))), td.EvaluationError, ["5", "'n'", "3"]),
    "negative index out of range": (lambda: td.evaluate(X[-5, 0], X=np.ones((3, 2))), td.EvaluationError, ["-5"]),
    "a dim size that is a float": (lambda: td.evaluate(td.trace(td.eye("n")), n=3.0), td.EvaluationError, ["'n'"]),
    "a negative dim size": (lambda: td.evaluate(td.trace(td.eye("n")), n=-1), td.EvaluationError, ["'n'"]),
    "an unsized dim": (lambda: td.evaluate(td.trace(td.eye("n"))), td.EvaluationError, ["'n'"]),
    "a dim size that disagrees with a value": (lambda: td.evaluate(f, V, n=4), td.ShapeError, ["'n'", "4", "3"]),
    "an unsized reshape": (lambda: td.evaluate(td.reshape(X, "q r"), X=np.ones((3, 2))), td.EvaluationError,
                           ["'q'", "'r'"]),
}


@pytest.mark.parametrize("case", sorted(EVALUATION))
def test_evaluation_errors_name_what_is_wrong(case):
    call, error, words = EVALUATION[case]
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, (case, message)


BUILDING = {
    "dims of a matrix": (lambda: td.matrix("X", "n"), td.ShapeError, ["'X'", "two dims"]),
    "dims of a vector": (lambda: td.vector("x", "n m"), td.ShapeError, ["'x'", "one dim"]),
    "a name that is no identifier": (lambda: td.matrix("1X", "n p"), td.ShapeError, ["'1X'"]),
    "a name with a space": (lambda: td.matrix("X Y", "n p"), td.ShapeError, ["'X Y'"]),
    "a dim with a bad character": (lambda: td.matrix("X", "n! p"), td.ShapeError, ["'n!'"]),
    "dims as an int": (lambda: td.matrix("X", 3), td.ShapeError, ["'X'"]),
    "a name that is not a string": (lambda: td.matrix(3, "n p"), td.ShapeError, ["3"]),
    "a symmetric non-square": (lambda: td.matrix("S", "n m", symmetric=True), td.ShapeError, ["'S'"]),
    "an empty eye": (lambda: td.eye(""), td.ShapeError, ["eye"]),
    "an einsum output letter from nowhere": (lambda: td.einsum("ij,jk->il", X, X), td.ParseError, ["'l'"]),
    "an einsum with too few operands": (lambda: td.einsum("ij,jk->ik", X), td.ParseError, ["2"]),
    "an einsum whose index has two dims": (lambda: td.einsum("ij,ij->", X, A), td.ShapeError, ["'j'", "'p'", "'n'"]),
    "an einsum spec that is no string": (lambda: td.einsum(3, X), td.ParseError, ["string"]),
    "sum over an axis out of range": (lambda: td.sum(X, axis=5), td.ShapeError, ["axis 5"]),
    "sum over a float axis": (lambda: td.sum(X, axis=1.0), td.ShapeError, ["1.0"]),
    "sum over a bool axis": (lambda: td.sum(X, axis=True), td.ShapeError, ["True"]),
    "softmax over an axis twice": (lambda: td.softmax(X, axis=(0, 0)), td.ShapeError, ["twice"]),
    "softmax over a named axis": (lambda: td.softmax(X, axis="a"), td.ShapeError, ["'a'"]),
    "mean over a missing axis": (lambda: td.mean(y, axis=1), td.ShapeError, ["axis 1", "y"]),
    "an index that is a float": (lambda: X[1.5], td.TensorDiffError, ["1.5"]),
    "an index that is a string": (lambda: X["a"], td.TensorDiffError, ["'a'"]),
    "too many indices": (lambda: X[0, 0, 0], td.ShapeError, ["3"]),
    "a slice step of zero": (lambda: X[::0], td.TensorDiffError, ["zero"]),
    "a string operand": (lambda: X + "a", td.ShapeError, ["str"]),
    "a list operand": (lambda: X + [1, 2], td.ShapeError, ["list"]),
    "a numpy array operand": (lambda: X + np.ones((3, 2)), td.ShapeError, ["ndarray"]),
    "a complex constant": (lambda: X * 1j, td.ShapeError, ["complex"]),
    "a nan constant": (lambda: X * float("nan"), td.TensorDiffError, ["nan"]),
    "an inf constant": (lambda: X * float("inf"), td.TensorDiffError, ["inf"]),
    "a division by zero": (lambda: X / 0, td.TensorDiffError, ["1/0"]),
    "an int too large for a float": (lambda: X * 10 ** 400, td.TensorDiffError, ["401 digits"]),
    "a matrix product with a scalar": (lambda: X @ 2.0, td.ShapeError, ["'@'"]),
    "mismatched inner dims": (lambda: X @ y, td.ShapeError, ["'p'", "'n'"]),
    "inv of a non-square": (lambda: td.inv(X), td.ShapeError, ["inv", "(n, p)"]),
    "det of a vector": (lambda: td.det(y), td.ShapeError, ["det"]),
    "solve with a mismatched right side": (lambda: td.solve(A, w), td.ShapeError, ["'n'", "'p'"]),
    "cholesky of a non-square": (lambda: td.cholesky(X), td.ShapeError, ["cholesky", "X"]),
    "trace of a non-square": (lambda: td.trace(X), td.ShapeError, ["trace"]),
    "a fractional matrix power": (lambda: td.matrix_power(A, 1.5), td.TensorDiffError, ["1.5"]),
    "where that does not broadcast": (lambda: td.where(X > 0, X, y), td.ShapeError, ["where", "y"]),
    "maximum that does not broadcast": (lambda: td.maximum(X, y), td.ShapeError, ["maximum", "y"]),
    "kron of a scalar": (lambda: td.kron(td.scalar("s"), X), td.ShapeError, ["kron", "s"]),
    "stack of nothing": (lambda: td.stack([]), td.ShapeError, ["stack"]),
    "stack of two shapes": (lambda: td.stack([X, A]), td.ShapeError, ["X", "A"]),
    "concatenate of two shapes": (lambda: td.concatenate([X, y]), td.ShapeError, ["y", "X"]),
    "a norm of order 3": (lambda: td.norm(X, ord=3), td.TensorDiffError, ["ord", "3"]),
    "a norm by name": (lambda: td.norm(X, ord="fro"), td.TensorDiffError, ["'fro'"]),
    "a negative polygamma order": (lambda: td.polygamma(-1, w), td.TensorDiffError, ["-1"]),
    "a user function name with a space": (lambda: td.elementwise("a b"), td.TensorDiffError, ["'a b'"]),
    "a user function that is no callable": (lambda: td.elementwise("h", 3), td.TensorDiffError, ["h"]),
    "substituting another shape": (lambda: td.substitute(f, {w: y}), td.ShapeError, ["(n)", "(p)"]),
    "substituting with a list": (lambda: td.substitute(f, [w]), td.TensorDiffError, ["dict"]),
    "substituting an array": (lambda: td.substitute(f, {w: np.ones(2)}), td.ShapeError, ["ndarray"]),
    "broadcast_to a shape that does not fit": (lambda: td.broadcast_to(X, "n"), td.ShapeError, ["'p'"]),
    "tril of a vector": (lambda: td.tril(y), td.ShapeError, ["tril", "y"]),
    "tril with a float diagonal": (lambda: td.tril(X, k=1.5), td.TensorDiffError, ["1.5"]),
    "ones with an int": (lambda: td.ones(3), td.ShapeError, ["ones"]),
    "broadcast_shapes of two dims": (lambda: td.broadcast_shapes(("n",), ("p",)), td.ShapeError, ["'n'", "'p'"]),
}


@pytest.mark.parametrize("case", sorted(BUILDING))
def test_building_errors_name_what_is_wrong(case):
    call, error, words = BUILDING[case]
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (case, str(info.value))


DERIVATIVES = {
    "order -1": (lambda: td.diff(f, w, order=-1), ["-1"]),
    "order 1.5": (lambda: td.diff(f, w, order=1.5), ["1.5"]),
    "order as text": (lambda: td.diff(f, w, order="2"), ["'2'"]),
    "order True": (lambda: td.diff(f, w, order=True), ["True"]),
    "with respect to an expression": (lambda: td.diff(f, X @ w), ["symbol", "Einsum"]),
    "with respect to a name": (lambda: td.diff(f, "w"), ["symbol", "str"]),
    "with respect to eye": (lambda: td.diff(f, td.eye("n")), ["symbol"]),
    "with respect to a number in a list": (lambda: td.grad(f, [w, 3]), ["symbol", "int"]),
    "with respect to nothing": (lambda: td.hessian(f, []), ["at least one"]),
    "a direction of another shape": (lambda: td.diff(f, w, direction=y), ["(n)", "'w'", "(p)"]),
    "a direction with several symbols": (lambda: td.diff(f, [X, w], direction=w), ["jvp"]),
    "grad of a vector": (lambda: td.grad(X @ w, w), ["scalar", "(n)"]),
    "hvp of a vector": (lambda: td.hvp(X @ w, w, w), ["hvp", "scalar", "(n)"]),   # td.hessian takes any shape
    "jvp with too few tangents": (lambda: td.jvp(f, [X, w], [w]), ["2"]),
    "jvp with swapped tangents": (lambda: td.jvp(f, [X, w], [w, X]), ["'X'"]),
    "vjp with a wrong cotangent": (lambda: td.vjp(X @ w, w, w), ["(p)", "(n)"]),
    "hvp with a wrong direction": (lambda: td.hvp(f, w, y), ["'w'"]),
    "an order too large to form": (lambda: td.diff(f, w, order=10 ** 6), ["order-1000000"]),
    "check with a name": (lambda: td.check(f, "w"), ["symbol"]),
    "check of order 0": (lambda: td.check(f, w, order=0), ["order"]),
    "check with a negative step": (lambda: td.check(f, w, eps=-1), ["eps"]),
    "derivative_size with a name": (lambda: td.derivative_size(f, "w", order=2), ["symbol"]),
    "derivative_size of order -1": (lambda: td.derivative_size(f, w, order=-1), ["-1"]),
}


@pytest.mark.parametrize("case", sorted(DERIVATIVES))
def test_derivative_errors_name_what_is_wrong(case):
    call, words = DERIVATIVES[case]
    with pytest.raises(td.TensorDiffError) as info:
        call()
    for word in words:
        assert word in str(info.value), (case, str(info.value))


def _objective():
    return td.scipy_objective(f, [w], X=np.ones((3, 2)), y=np.ones(3))


OTHERS = {
    "program: two positional arguments": (lambda: td.compile(f)(V, V), ["keywords"]),
    "program: a list of values": (lambda: td.compile(f)([1, 2]), ["dict"]),
    "program: an unknown symbol": (lambda: td.compile(f)(**V, nowhere_declared=1), ["'nowhere_declared'"]),
    "program: a dim size that disagrees": (lambda: td.compile(f)(**V, n=4), ["'n'", "4"]),
    "compile: an unknown backend": (lambda: td.compile(f, backend="tf"), ["'tf'"]),
    "compile: a string among the expressions": (lambda: td.compile([f, "x"]), ["str"]),
    "codegen: an unknown target": (lambda: td.codegen(f, target="fortran"), ["'fortran'"]),
    "codegen: a name that is no identifier": (lambda: td.codegen(f, name="1abc"), ["'1abc'"]),
    "codegen: a string": (lambda: td.codegen("f"), ["str"]),
    "to_einsum: a name with a space": (lambda: td.to_einsum(f, name="a b"), ["'a b'"]),
    "latex: a string": (lambda: td.latex("x"), ["str"]),
    "matrix_notation: None": (lambda: td.matrix_notation(None), ["NoneType"]),
    "cost: a negative size": (lambda: td.cost(f, n=-1, p=2), ["'n'"]),
    "set_memory_limit: words": (lambda: td.set_memory_limit("abc"), ["memory limit"]),
    "scipy_objective: a constant missing": (lambda: td.scipy_objective(f, [w], X=np.ones((3, 2))), ["'y'"]),
    "scipy_objective: a vector function": (lambda: td.scipy_objective(X @ w, [w], X=np.ones((3, 2))), ["scalar"]),
    "scipy_objective: wrt a name": (lambda: td.scipy_objective(f, "w", X=np.ones((3, 2)), y=np.ones(3)), ["'w'"]),
    "scipy_objective: an unknown constant": (lambda: td.scipy_objective(f, [w], X=np.ones((3, 2)), y=np.ones(3), q=1),
                                             ["'q'"]),
    "scipy_objective: a misspelt option": (lambda: td.scipy_objective(f, [w], X=np.ones((3, 2)), y=np.ones(3),
                                                                      backnd="jax"), ["'backnd'"]),
    "scipy_objective: a constant of another size": (lambda: td.scipy_objective(f, [w], X=np.ones((3, 2)),
                                                                               y=np.ones(4)), ["'n'", "'y'"]),
    "scipy_objective: a symbol twice": (lambda: td.scipy_objective(f, [w, w], X=np.ones((3, 2)), y=np.ones(3)),
                                        ["'w'", "twice"]),
    "scipy_objective: a constant that is optimised": (lambda: td.scipy_objective(f, [w], X=np.ones((3, 2)),
                                                                                 y=np.ones(3), w=np.ones(2)), ["'w'"]),
    "scipy_objective: x of the wrong length": (lambda: _objective().fun(np.ones(5)), ["(5,)", "2"]),
    "scipy_objective: x as a column": (lambda: _objective().fun(np.ones((2, 1))), ["(2, 1)"]),
    "scipy_objective: x as text": (lambda: _objective().fun("ab"), ["x"]),
    "scipy_objective: complex x (its imaginary part was dropped)": (lambda: _objective().fun(np.ones(2) + 1j),
                                                                    ["complex"]),
    "scipy_objective: a complex direction": (lambda: _objective().hessp(np.ones(2), np.ones(2) * 1j), ["complex"]),
}


@pytest.mark.parametrize("case", sorted(OTHERS))
def test_other_entry_points_name_what_is_wrong(case):
    call, words = OTHERS[case]
    with pytest.raises(td.TensorDiffError) as info:
        call()
    for word in words:
        assert word in str(info.value), (case, str(info.value))


PARSE = ["", " ", "(", ")", "X*(y", "X*y)", "X**", "inv(", "inv()", "inv(X,X)", "X[1", "α*X", "X·Y", "X\u00a0*Y",
         "x\u2032", "1/0", "1e999*x", "x^", "^x", "x..y", "x .* .* y", "sin cos x", "log(x", "\x00", "X;;Y", "t1 = ",
         "= X", "t1 = X; t1 = Y; t1", "foo(x)", "norm2()", "X'*'", "3x", "x y", "x,y", "[x]", "{x}", "x > > y",
         "where(x>0, x)", "maximum(x)", "2^X", "(" * 2000 + "x" + ")" * 2000, "diag(X, Y)", "user.nosuch(x)", "user.(x)",
         "1.2.3", "0x1F", "x@y", "x**2", "x!=y", "\ud800", "é", "x = 1", "sum(x, 3)", "mean(X, axis=1)", "kron(X)",
         "eye(3)", "X*Y*Z'*X", "inv(X)*y'"]


@pytest.mark.parametrize("text", PARSE)
def test_parse_rejects_bad_text_with_a_caret_or_a_reason(text):
    with pytest.raises((td.ParseError, td.ShapeError)) as info:
        td.parse(text, X="n p", Y="q p")
    assert str(info.value).strip()


@pytest.mark.parametrize("text", [3, None, b"x", ["x"]])
def test_parse_takes_only_text(text):
    with pytest.raises(td.ParseError, match="string"):
        td.parse(text)


@pytest.mark.parametrize("options", [dict(X=3), dict(X="n p q"), dict(symbols=3), dict(symbols=["X"]),
                                     dict(symmetric=3), dict(eye=3), dict(y="the symbol w")])
def test_parse_rejects_bad_options(options):
    if options.get("y") == "the symbol w":
        options = dict(y=w)   # a symbol passed under another name
    with pytest.raises(td.ShapeError):
        td.parse("X'*y", **options)


# ---------------------------------------------------------------- numbers that are accepted must be right

@pytest.mark.parametrize("convert", [lambda a: a.astype(int), lambda a: a.astype(np.float32), lambda a: a > 0,
                                     lambda a: a.astype(np.int8), lambda a: a.astype(np.float16)])
def test_integer_bool_and_single_values_give_the_float_answer(convert):
    rng = np.random.default_rng(0)
    Xv, yv, wv = rng.integers(-3, 4, (4, 3)).astype(float), rng.integers(-3, 4, 4).astype(float), np.array([1.0, -2, 3])
    expected = np.sum((Xv @ wv - yv) ** 2)
    got = td.evaluate(f, X=convert(Xv), y=yv, w=wv)
    converted = np.asarray(convert(Xv)).astype(float)
    assert np.isclose(got, np.sum((converted @ wv - yv) ** 2), rtol=1e-6)
    if convert(Xv).dtype != bool:
        assert np.isclose(got, expected, rtol=1e-6)


def test_nan_and_inf_values_propagate_as_ieee_without_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # quietly, as documented
        assert np.isnan(td.evaluate(f, with_values(X=np.full((3, 2), np.nan))))
        assert np.isinf(td.evaluate(td.sum(td.exp(w)), w=np.array([np.inf, 0.0])))
        assert np.all(np.isnan(td.evaluate(td.log(w), w=-np.ones(2))))


def test_a_compiled_program_reads_each_call_s_dim_sizes():
    # a program specialised at n=3 must not answer 3 for n=4 (found by this campaign's fuzzing: the
    # specialisation key held the type of n, not its value, so n=4 silently reused the n=3 plan)
    s = td.scalar("s")
    program = td.compile(td.trace(td.eye("n")) * s)
    assert program(n=3, s=1.0) == 3.0
    assert program(n=4, s=1.0) == 4.0
    assert program(n=np.int64(5), s=2.0) == 10.0
    plain = td.compile(f)
    assert plain(**V, n=3) == 3.0
    with pytest.raises(td.ShapeError, match="'n' is given as 4"):
        plain(**V, n=4)


def test_a_value_for_a_differentiated_away_symbol_binds_to_the_symbol_of_the_expression():
    # found by tests/test_campaign_problems.py: grad of a loss linear in V has no V, so V's value sizes
    # V's dims; after a symbol V of other dims was declared elsewhere, that value was checked against
    # the other V's dims ("dim 'n' is 2 in axis 0 of 'Q' but 3 in axis 0 of 'V'")
    Q, V1, C = td.matrix("Q", "n d"), td.matrix("V", "m e"), td.matrix("C", "n e")
    loss = td.sum(Q @ td.ones("d m") @ V1 * C)
    gradient = td.grad(loss, V1)
    other = td.matrix("V", "n r")   # a homonym, declared later and still alive
    values = dict(Q=np.ones((2, 3)), V=np.ones((4, 5)), C=np.ones((2, 5)))
    got = td.evaluate(gradient, values)
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, np.full((4, 5), 6.0))
    assert other.shape == ("n", "r")


KEYWORDS = {
    "compile": (lambda: td.compile(f, backnd="jax"), ["td.compile", "'backnd'", "'backend'"]),
    "diff": (lambda: td.diff(f, w, ordr=2), ["td.diff", "'ordr'", "'order'"]),
    "diff without wrt": (lambda: td.diff(f), ["td.diff", "'wrt'"]),
    "grad with an order": (lambda: td.grad(f, w, order=2), ["td.grad", "'order'"]),
    "grad with too many arguments": (lambda: td.grad(f, w, 2, 3), ["td.grad", "4"]),
    "hessian": (lambda: td.hessian(f, wrt=w, direction=w), ["td.hessian", "'direction'"]),
    "jacobian": (lambda: td.jacobian(f, w, order=2), ["td.jacobian", "'order'"]),
    "jvp": (lambda: td.jvp(f, w, direction=w), ["td.jvp", "'direction'"]),
    "vjp": (lambda: td.vjp(f, w, v=w), ["td.vjp", "'v'"]),
    "hvp": (lambda: td.hvp(f, w, u=w), ["td.hvp", "'u'"]),
    "codegen": (lambda: td.codegen(f, targt="jax"), ["td.codegen", "'targt'", "'target'"]),
    "latex": (lambda: td.latex(f, nam="g"), ["td.latex", "'nam'", "'name'"]),
    "to_einsum": (lambda: td.to_einsum(f, nmae="g"), ["td.to_einsum", "'nmae'"]),
    "matrix_notation": (lambda: td.matrix_notation(f, "extra"), ["td.matrix_notation"]),
    "cost": (lambda: td.cost(f, "float32", 3, 4), ["td.cost"]),
    "derivative_size": (lambda: td.derivative_size(f, w, ordr=2), ["td.derivative_size", "'ordr'"]),
    "substitute": (lambda: td.substitute(f, {w: w}, {X: X}), ["td.substitute"]),
}


@pytest.mark.parametrize("case", sorted(KEYWORDS))
def test_a_misspelt_keyword_names_the_function_and_the_closest_option(case):
    call, words = KEYWORDS[case]
    with pytest.raises(td.TensorDiffError) as info:
        call()
    assert isinstance(info.value, TypeError)   # still what Python raises for a bad call
    for word in words:
        assert word in str(info.value), (case, str(info.value))


def test_a_type_error_inside_a_function_is_not_renamed():
    # only the call's own binding is rewritten: an error raised while deriving keeps its type and text
    class Odd:
        pass
    with pytest.raises(td.TensorDiffError, match="symbol"):
        td.diff(f, Odd())
    assert td.diff(td.sum(w * w), w, order=1) is td.diff(td.sum(w * w), w)


def test_a_value_for_a_symbol_a_zero_derivative_lost_binds_despite_a_homonym_of_other_rank():
    # found by tests/test_campaign_problems.py (matrix_factorisation): the third derivative of
    # |T - U V'|^2 in U is zero and holds no T; a tensor T declared elsewhere made T's value an error
    T, U, Vm = td.matrix("T", "m n"), td.matrix("U", "m r"), td.matrix("V", "n r")
    third = td.diff(td.norm(T - U @ Vm.T) ** 2, U, order=3)
    other = td.tensor("T", "i j k")
    got = td.evaluate(third, T=np.ones((3, 4)), U=np.ones((3, 2)), V=np.ones((4, 2)))
    assert got.shape == (3, 2) * 3 and not got.any()
    assert other.ndim == 3


# ---------------------------------------------------------------- ambiguous calls, once silently resolved

AMBIGUOUS = {
    "a functions= name of no user function": (
        # a name no test declares (td.elementwise): a declared one is accepted as an extra implementation
        lambda: td.evaluate(td.sum(h(w)), w=np.ones(2), functions={"h": np.sin, "hj": np.cos}),
        ["'hj'", "no user function", "did you mean 'h'"]),
    "a functions= typo beside the right derivative": (
        lambda: td.evaluate(td.grad(td.sum(h(w)), w), w=np.ones(2), functions={"h'": np.cos, "hp": np.cos}),
        ["'hp'"]),
    "a functions= key that is no string": (
        lambda: td.evaluate(td.sum(h(w)), w=np.ones(2), functions={h: np.sin}), ["keyed by function names"]),
    "a symbol key and its name in one dict": (
        lambda: td.evaluate(f, {X: np.ones((3, 2)), "X": np.zeros((3, 2)), "y": np.ones(3), "w": np.ones(2)}),
        ["'X'", "pass it once"]),
}


def test_a_keyword_overrides_the_values_dict_for_its_symbol():
    """The documented convention (tests/test_conventions.py): program(values, x=x2) moves one symbol."""
    values = {"X": np.ones((3, 2)), "y": np.ones(3), "w": np.ones(2)}
    moved = dict(values, X=np.arange(6.0).reshape(3, 2))
    want = td.evaluate(f, moved)
    assert np.array_equal(td.evaluate(f, values, X=moved["X"]), want)
    assert np.array_equal(td.evaluate(f, {X: values["X"], "y": values["y"], "w": values["w"]}, X=moved["X"]), want)
    assert np.array_equal(td.compile(f)(values, X=moved["X"]), want)


@pytest.mark.parametrize("case", sorted(AMBIGUOUS))
def test_an_ambiguous_call_is_an_error_not_a_silent_choice(case):
    call, words = AMBIGUOUS[case]
    with pytest.raises(td.EvaluationError) as info:
        call()
    for word in words:
        assert word in str(info.value), (case, str(info.value))


def test_functions_may_name_a_declared_user_function_the_expression_lost():
    """One functions= dict serves f and its derivatives: the name of a user function (or of one of
    its derivatives, in any spelling) that this expression does not use is accepted, as a value
    for a symbol differentiated away is."""
    g = td.sum(h(w)) + td.sum(X)
    implementations = {"h": np.sin, "h'": np.cos, "h′": np.cos, "h''": np.sin, "h^(4)": np.sin}
    value = td.evaluate(td.grad(g, X), X=np.ones((3, 2)), w=np.ones(2), functions=implementations)
    np.testing.assert_array_equal(value, np.ones((3, 2)))
    both = td.evaluate([g, td.grad(g, w)], X=np.ones((3, 2)), w=np.array([0.5, 1.0]), functions=implementations)
    np.testing.assert_allclose(both[0], 6 + np.sin(0.5) + np.sin(1.0))
    np.testing.assert_allclose(both[1], np.cos([0.5, 1.0]))


# ---------------------------------------------------------------- non-finite matrices, zero-size axes

@pytest.mark.parametrize("backend", ["numpy", "jax", "dask", "torch"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cholesky_of_a_non_finite_matrix_is_nan_on_every_backend_never_an_error(backend, bad):
    """The policy of inv, solve and logdet (docs/reliability.md): a matrix with nan or infinite
    entries is not checked, its non-finite factor shows it. jax raised for -inf where numpy gave nan."""
    if backend != "numpy":
        pytest.importorskip(backend)

    def run(value):
        got = td.evaluate(td.cholesky(A), A=value, backend=backend)
        return np.asarray(got.compute() if hasattr(got, "compute") else got)
    value = np.eye(2)
    value[0, 1] = value[1, 0] = bad
    got = run(value)
    assert got.shape == (2, 2) and not np.all(np.isfinite(got))
    assert np.all(np.isfinite(run(2 * np.eye(2))))
    with pytest.raises(td.EvaluationError, match="positive definite"):   # finite and indefinite still raises
        run(-np.eye(2))


@pytest.mark.parametrize("backend", ["numpy", "jax", "dask"])
def test_soft_maxima_over_an_empty_axis_are_minus_inf_and_empty_and_max_is_an_error(backend):
    """numpy's max of an empty axis was a bare ValueError inside softmax and logsumexp too; scipy and
    jax give logsumexp -inf and softmax an empty array there."""
    pytest.importorskip(backend)

    def run(e, **values):
        got = td.evaluate(e, backend=backend, **values)
        return np.asarray(got.compute() if hasattr(got, "compute") else got)
    assert run(td.logsumexp(y), y=np.zeros(0)) == -np.inf
    np.testing.assert_array_equal(run(td.logsumexp(X, axis=0), X=np.zeros((0, 2))), [-np.inf, -np.inf])
    assert run(td.softmax(y), y=np.zeros(0)).shape == (0,)
    assert run(td.hessian(td.logsumexp(y), y), y=np.zeros(0)).shape == (0, 0)
    np.testing.assert_allclose(run(td.logsumexp(X, axis=1), X=np.zeros((0, 2))), np.zeros(0))   # a kept empty axis
    assert run(td.max(X, axis=1), X=np.zeros((0, 2))).shape == (0,)   # an empty array, not over an empty axis
    for reduction in (td.max, td.min):
        with pytest.raises(td.EvaluationError, match="'n' has size 0"):
            run(reduction(X, axis=0), X=np.zeros((0, 2)))


def test_a_value_sizes_the_dims_of_the_one_homonym_its_shape_fits():
    """A notebook that declared X as n×n and later as n×p: the Hessian of tr(XᵀAX) lost X, and a
    3×2 value for X could not size p ("the size of dim 'p' is unknown") though only X (n, p) can
    have that shape. A homonym declared later that the shape fits too does not confuse it: the
    Hessian remembers which X it was built from."""
    square = td.matrix("X", "n n")
    rectangular, a = td.matrix("X", "n p"), td.matrix("A", "n n")
    hessian = td.diff(td.diff(td.trace(rectangular.T @ a @ rectangular), rectangular), rectangular)
    assert "X" not in hessian.free
    value = np.asarray(td.evaluate(hessian, X=np.ones((3, 2)), A=np.arange(9.0).reshape(3, 3)))
    want = np.einsum("ik,jl->ijkl", np.arange(9.0).reshape(3, 3) + np.arange(9.0).reshape(3, 3).T, np.eye(2))
    np.testing.assert_allclose(value, want)
    other = td.matrix("X", "p n")   # its dims lie in the Hessian's too, and a 3×2 value fits it
    again = td.evaluate(hessian, X=np.ones((3, 2)), A=np.arange(9.0).reshape(3, 3))
    np.testing.assert_allclose(again, want)   # the Hessian binds X to the declaration it was built from
    del square, other
