"""The numpydoc docstring of a row of the function table (functions.py), written from the row's
facts: its summary, its derivative as printed, its domain, and an example that runs as a test.
"""

import textwrap

import numpy as np

from .errors import TensorDiffError
from .symboltable import symbol

__all__ = ["row_docstring", "DOMAIN_NOTES", "EXAMPLE_POINTS"]

DOMAIN_NOTES = {
    "real": "Defined for every real entry.",
    "positive": "Its tests draw positive entries; outside its domain the value follows numpy (nan or inf), silently.",
    "interval": "Its tests draw entries with |x| ≤ 1/2, well inside the domain (and away from the poles).",
    "kink": "Not smooth at 0: the derivative there is the convention stated above.",
}
EXAMPLE_POINTS = {"real": 0.5, "positive": 2.0, "interval": 0.25, "kink": -1.5}


def row_docstring(fn, described):
    """A numpydoc docstring for table row ``fn``, from its facts: ``described`` (the row's summary,
    or None where the ufunc's name says it), its derivative, domain and value."""
    x = symbol("x", ())
    summary = f"``{fn.name}(x)`` entry by entry" + (f", as ``np.{fn.ufunc.__name__}``." if fn.ufunc else ".")
    description = ""
    if described:
        # "natural logarithm" starts a sentence; "log(1 + x)" or "x's value" is left as written
        description = (described[0].upper() + described[1:] if described.split()[0].isalpha() else described) + ". "
    if fn.ufunc is not None:
        description += f"``np.{fn.ufunc.__name__}`` of an expression builds it too. "
    derivative = str(fn.derivative(x))
    if "\n" in derivative:
        description += "Its derivative is printed in the example below; "
    else:
        description += f"Its derivative is {fn.name}′(x) = {derivative.removeprefix('out = ')}; "
    description = textwrap.fill(description + f"derivatives of any order follow from it. {DOMAIN_NOTES[fn.domain]}", 96)
    point = EXAMPLE_POINTS[fn.domain]
    try:
        value = f"\n>>> round(float(td.evaluate(td.{fn.name}(x), x={point})), 6)\n{round(float(fn.numeric(np.float64(point))), 6)}"
    except TensorDiffError:   # lgamma and digamma without scipy
        value = ""
    return f"""{summary}

{description}

Parameters
----------
x : Expr or array_like
    The argument, of any shape (a number is a scalar).

Returns
-------
Expr
    {fn.name}(x[i,...]) at each entry, of the shape of ``x``.

Examples
--------
>>> import tensordiff as td
>>> x = td.scalar("x")
>>> print(td.diff(td.{fn.name}(x), x))
{derivative}
>>> print(td.{fn.name}(td.matrix("A", "n p")))
out[i,j] = {fn.display}(A[i,j]){value}
"""
