"""Whether a selfcheck example's matrix notation reads back (selfcheck.py's parse round trip):
``td.parse`` of the text, with sizes for the dims it leaves unsized (an ``eye`` no symbol sizes
has one reading per size), evaluates equal to the expression it was written from.
"""

import numpy as np

import tensordiff as td
from .expr import Einsum, topological
from .indices import base_dims
from .randexpr import SIZES, USER_FUNCTIONS
from .selfcheckcompare import EXACT_TOL, CheckFailure, assert_close

__all__ = ["reads_back", "sized_readings", "identity_sized", "reading_value", "sized", "CARRIER"]


def reads_back(ex, e, text):
    """Whether ``text``, the matrix notation of ``e``, could be read with sizes (it then evaluates
    equal to ``e``, else CheckFailure)."""
    try:
        parsed = td.parse(text)
    except td.TensorDiffError as exc:
        raise CheckFailure(f"td.parse({text!r}) failed: {exc}") from None
    readings = sized_readings(parsed, text, e.shape)
    if not readings:
        return False
    failures = []
    for reading in readings:   # the notation carries no size for an unsized eye: one reading must agree
        try:
            assert_close(reading_value(ex, reading), ex.evaluate(e), EXACT_TOL, f"td.parse({text!r})")
            return True
        except CheckFailure as failure:
            failures.append(failure)
    raise failures[0]


def sized_readings(parsed, text, shape):
    """The readings of ``text`` whose dims all have sizes: ``parsed`` itself when it has them, else
    one per size that ``eye`` can be given where an identity that no symbol sizes left it unsized
    (``eye`` alone, ``s*eye``, ``logdet(2*eye)``: the notation carries no size, so each size is a
    reading). None fits when the text's identities need different sizes
    (tanh(det(eye + M*M'))*eye); an empty list then. A result of order 3 or 4 may also read with
    each identity at its own size (tprod(eye, eye)): (reading, sizes), see identity_sized."""
    if parsed.shape == shape and sized(parsed):
        return [parsed]
    readings = [] if len(shape) <= 2 else identity_sized(parsed, shape)
    for dim in dict.fromkeys(shape[:1] + tuple(SIZES)):
        try:
            reading = td.parse(text, eye=dim)
        except td.ShapeError:
            continue
        if reading.shape == shape and sized(reading):
            readings.append(reading)
    return readings


CARRIER = "sizes_of_identities"   # a symbol whose value sizes the dims no symbol of a reading has


def identity_sized(parsed, shape):
    """[(parsed, the sizes of its dims no symbol has)] where those dims are axes of ``parsed``
    standing where ``shape`` has a dim of one size: tprod(eye, eye) reads with identities of
    fresh dims, and ∂X/∂X with X (a, b) has two sizes, which no one ``eye=`` gives; else []."""
    if len(parsed.shape) != len(shape):
        return []
    sizes = {}
    for got, want in zip(parsed.shape, shape):
        if want not in SIZES or sizes.setdefault(got, SIZES[want]) != SIZES[want] \
                or got in SIZES and SIZES[got] != SIZES[want]:
            return []
    fresh = {d: size for d, size in sizes.items() if d not in SIZES}
    if not fresh or not all(d in SIZES or d in fresh for n in topological([parsed])
                            for d in (n.dims if isinstance(n, Einsum) else n.shape)):
        return []
    return [(parsed, fresh)]


def reading_value(ex, reading):
    """The value of a reading: an expression, or (expression, sizes of its dims no symbol has)."""
    if not isinstance(reading, tuple):
        return ex.evaluate(reading)
    expr, sizes = reading
    carrier = td.tensor(CARRIER, tuple(sizes))
    values = {**ex.V, CARRIER: np.zeros(tuple(sizes.values()))}
    return np.asarray(td.evaluate([expr, carrier], functions=USER_FUNCTIONS, **values)[0])


def sized(e):
    """Whether every dim of ``e`` has a size in SIZES (a merged dim a·b through its parts)."""
    return all(d in SIZES or "·" in d and set(base_dims(d)) <= set(SIZES)
               for n in topological([e]) for d in (n.dims if isinstance(n, Einsum) else n.shape))
