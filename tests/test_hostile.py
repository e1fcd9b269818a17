"""The hostile-input campaign, kept: 40 probes of the public API with input a careless or malicious
caller could pass, each answered by a tensordiff error of the right class whose message names the
culprit (the symbol, dim, option, function or value at fault). tests/test_errors.py holds the
basic cases (mismatched dims, missing values, singular matrices); these are the ones the
campaigns found instructive, and the last group were bugs (bare exceptions) fixed on the way.
"""

import re

import numpy as np
import pytest

import tensordiff as td
from tensordiff.errors import UnsupportedOperation


def symbols():
    return (td.matrix("HA", "n n"), td.vector("hx", "n"), td.scalar("hs"))


def user(name, implementation):
    """A value of the abstract user function ``name`` at hx, evaluated with ``implementation``."""
    _, x, _ = symbols()
    return lambda: td.evaluate(td.sum(td.elementwise(name)(2 * x)), hx=np.ones(3), functions={name: implementation})


def nearly_singular():
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0 + 1e-14]])
    return a


def recursive(v):
    return recursive(v)


def writes_into(v):
    v += 1
    return v


A, x, s = symbols()

PROBES = [
    # ---- values that are no arrays of real numbers
    ("datetime value", lambda: td.evaluate(x, hx=np.array(["2020-01-01"], dtype="datetime64[D]")),
     td.EvaluationError, ["'hx'", "must hold numbers", "datetime64[D]"]),
    ("structured value", lambda: td.evaluate(x, hx=np.zeros(2, dtype=[("a", float)])),
     td.EvaluationError, ["'hx'", "must hold numbers", "('a', '<f8')"]),
    ("string array", lambda: td.evaluate(x, hx=np.array(["a", "b"])),
     td.EvaluationError, ["'hx'", "<U1"]),
    ("generator value", lambda: td.evaluate(x, hx=(i for i in range(3))),
     td.EvaluationError, ["'hx'", "dtype object"]),
    ("Fraction scalar", lambda: td.evaluate(s, hs=__import__("fractions").Fraction(1, 3)),
     td.EvaluationError, ["'hs'", "dtype object"]),
    ("bytes value", lambda: td.evaluate(x, hx=b"ab"),
     td.EvaluationError, ["'hx'", "bytes"]),
    ("extended precision", lambda: td.evaluate(x, hx=np.ones(2, dtype=np.longdouble)),
     td.EvaluationError, ["'hx'", str(np.dtype(np.longdouble)), "float64"]),
    ("three axes for a matrix", lambda: td.evaluate(A, HA=np.ones((2, 2, 2))),
     td.ShapeError, ["'HA'", "(2, 2, 2)", "(n, n)"]),
    ("a rectangular value for a square symbol", lambda: td.evaluate(td.inv(A), HA=np.ones((2, 3))),
     td.ShapeError, ["dim 'n' is 2", "axis 1 of 'HA'"]),
    # ---- options
    ("backend not a name", lambda: td.compile(A, backend=3),
     td.EvaluationError, ["unknown backend 3", "'numpy'", "'dask'"]),
    ("singular policy None", lambda: td.compile(td.inv(A), singular=None),
     td.EvaluationError, ["singular must be one of 'raise', 'nan'", "None"]),
    ("conditioning policy unknown", lambda: td.compile(td.inv(A), conditioning="loud"),
     td.EvaluationError, ["conditioning must be one of 'warn', 'ignore', 'raise'", "'loud'"]),
    ("memory limit a Decimal", lambda: td.compile(A, memory_limit=__import__("decimal").Decimal(10 ** 9)),
     td.TensorDiffError, ["memory_limit must be a positive number of bytes", "Decimal"]),
    ("chunks without dask", lambda: td.compile(A, backend="numpy", chunks=3),
     td.EvaluationError, ['chunks= is for backend="dask"', "'numpy'"]),
    ("dask chunks as words", lambda: td.evaluate(A, HA=np.eye(2), backend="dask", chunks="lots"),
     td.EvaluationError, ["chunks='lots'", "64MiB"]),
    ("dask chunks for an unknown dim", lambda: td.evaluate(A, HA=np.eye(2), backend="dask", chunks={"zz": 2}),
     td.EvaluationError, ["'zz'", "its dims: n"]),
    ("check's step zero", lambda: td.check(td.sum(td.tanh(A @ x)), x, eps=0),
     td.TensorDiffError, ["eps", "positive number", "0"]),
    ("check's seed a word", lambda: td.check(td.sum(td.tanh(A @ x)), x, seed="a"),
     td.TensorDiffError, ["seed", "'a'"]),
    # ---- user functions that misbehave: named, with the sub-expression they were applied in
    ("a ufunc of two arguments", user("hadd", np.add),
     td.EvaluationError, ["function hadd raised TypeError", "hadd(2 hx[i])"]),
    ("infinite recursion", user("hrec", recursive),
     td.EvaluationError, ["function hrec raised RecursionError", "hrec(2 hx[i])"]),
    ("writing into its argument", user("hwrite", writes_into),
     td.EvaluationError, ["function hwrite raised ValueError", "read-only"]),
    ("returning complex numbers", user("hcomplex", lambda v: v * 1j),
     td.EvaluationError, ["function hcomplex returned", "not an array of numbers"]),
    ("raising a bare MemoryError", user("hmem", lambda v: (_ for _ in ()).throw(MemoryError())),
     td.EvaluationError, ["function hmem raised MemoryError (evaluating hmem(2 hx[i]))"]),
    # ---- expressions
    ("a non-ASCII einsum letter", lambda: td.einsum("ü,ü->", x, x),
     td.ParseError, ["'ü'", "column 0"]),
    ("too few einsum operands", lambda: td.einsum("i,i->", x),
     td.ParseError, ["'i,i->'", "names 2 operand(s) but 1 were given"]),
    ("a NaN constant", lambda: x + float("nan"),
     td.TensorDiffError, ["nan", "finite"]),
    ("dividing by zero", lambda: x / 0,
     td.TensorDiffError, ["1/0", "inf"]),
    ("an absurd derivative order", lambda: td.diff(A, A, order=10 ** 9),
     td.ShapeError, ["order-1000000000", "'HA'"]),
    ("a bool index", lambda: x[True],
     td.TensorDiffError, ["bool True", "ints, slices"]),
    ("a zero slice step", lambda: x[::0],
     td.TensorDiffError, ["slice step cannot be zero"]),
    ("a float index", lambda: x[1.5],
     td.TensorDiffError, ["float 1.5"]),
    ("an empty dim name", lambda: td.eye(""),
     td.ShapeError, ["eye takes one dim name", "''"]),
    ("an empty symbol name", lambda: td.scalar(""),
     td.ShapeError, ["symbol name must be an identifier", "''"]),
    ("diag of a matrix", lambda: td.diag(A),
     td.ShapeError, ["diag takes a vector", "(n, n)", "td.diagonal"]),
    ("a sum over a missing axis", lambda: td.sum(A, axis=5),
     td.ShapeError, ["axis 5 does not exist", "(n, n)"]),
    ("code for an unknown target", lambda: td.codegen(A, "fortran"),
     td.TensorDiffError, ["'fortran'", "numpy, jax, torch"]),
    ("a function named with a keyword", lambda: td.codegen(A, "numpy", "class"),
     td.TensorDiffError, ["name=", "'class'"]),
    ("an expression as a numpy array", lambda: np.array(x),
     UnsupportedOperation, ["not an array", "td.evaluate"]),
    # ---- memory and conditioning
    ("a broadcast input too large to factor", lambda: td.evaluate(
        td.logdet(A), HA=np.broadcast_to(np.float64(1.0), (10 ** 6, 10 ** 6))),
     td.EvaluationError, ["would need 7.28 TiB", "logdet", "the memory limit is"]),
    ("a matrix singular to working precision, conditioning=raise", lambda: td.evaluate(
        td.solve(A, x), HA=nearly_singular(), hx=np.ones(3), conditioning="raise"),
     td.EvaluationError, ["ill-conditioned matrix: HA[i,j]", "reciprocal condition estimate"]),
]


def test_forty_probes():
    assert len(PROBES) == 40 and len({name for name, *_ in PROBES}) == 40


@pytest.mark.parametrize("name, probe, error, fragments", PROBES, ids=[p[0] for p in PROBES])
def test_probe_gets_a_clear_error(name, probe, error, fragments):
    with pytest.raises(error) as info:
        probe()
    assert isinstance(info.value, td.TensorDiffError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_symbol_called_functions_takes_its_value_from_the_dict():
    # evaluate() forwarded the dict as keywords: a bare TypeError "got multiple values for 'functions'"
    functions = td.scalar("functions")
    assert td.evaluate(functions * 2, {"functions": 2.0}) == 4.0
    assert td.evaluate(functions * 2, {functions: 3.0}) == 6.0
    conditioning = td.scalar("conditioning")      # an evaluate() keyword too: its value comes from the dict
    assert td.evaluate(conditioning + functions, {"conditioning": 1.0, "functions": 2.0}) == 3.0


def test_errors_of_user_functions_keep_the_original_exception():
    with pytest.raises(td.EvaluationError) as info:
        user("hkey", lambda v: {}["k"])()
    assert isinstance(info.value.__cause__, KeyError)
    assert re.search(r"function hkey raised KeyError: 'k' \(evaluating hkey\(2 hx\[i\]\)\)", str(info.value))
