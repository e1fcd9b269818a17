"""Expressions and Python's and numpy's protocols: iteration, numpy ufuncs and arrays, abs and
``**``, immutability, pickling of deep expressions, and validation of elementwise functions."""

import numpy as np
import pytest

import tensordiff as td

XV = np.array([0.5, -1.2, 2.0])


# ---------------------------------------------------------------- elementwise functions

def test_elementwise_functions_are_validated_when_made():
    bad = [(lambda: td.Elementwise(3), "identifier"), (lambda: td.Elementwise("a b"), "identifier"),
           (lambda: td.Elementwise("h", numeric=3), "callable"), (lambda: td.Elementwise("h", derivative="d"), "callable"),
           (lambda: td.Elementwise("h", latex=3), "latex"), (lambda: td.Elementwise("h", order=-1), "order"),
           (lambda: td.Elementwise("h", base="b c"), "identifier"),
           (lambda: td.elementwise("h", 3), "callable"), (lambda: td.elementwise("h", np.sin, latex=1), "latex"),
           (lambda: td.elementwise(3), "identifier")]
    for attempt, fragment in bad:
        with pytest.raises(td.TensorDiffError, match=fragment):
            attempt()
    x = td.vector("x", "n")
    square = td.Elementwise("sq", np.square, lambda a: 2 * a)
    np.testing.assert_allclose(td.evaluate(square(x), x=XV), XV ** 2)
    np.testing.assert_allclose(td.evaluate(td.diff(td.sum(square(x)), x), x=XV), 2 * XV)
    h = td.elementwise("hval", np.sin, np.cos, latex=r"\eta")
    np.testing.assert_allclose(td.evaluate(td.grad(td.sum(h(x)), x), x=XV), np.cos(XV))
