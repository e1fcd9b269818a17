"""Whether a selfcheck example's matrix notation reads back (selfcheck.py's parse round trip):
``td.parse`` of the text alone, with no sizes given, has every dim sized by a symbol and
evaluates equal to the expression it was written from. A constant or an identity that no symbol
beside it sizes is printed with its size (vector(1, size(X, 1)), eye(size(X, 2))), so a text that
reads back with a dim of no known size is a failure, not an example left untried.
"""

import tensordiff as td
from .expr import Einsum, topological
from .indices import base_dims
from .randexpr import SIZES
from .selfcheckcompare import EXACT_TOL, CheckFailure, assert_close

__all__ = ["reads_back", "sized", "unsized_dims"]


def reads_back(ex, e, text):
    """True when ``text``, the matrix notation of ``e``, reads back with every dim sized and
    evaluates equal to ``e``; else CheckFailure."""
    try:
        parsed = td.parse(text)
    except td.TensorDiffError as exc:
        raise CheckFailure(f"td.parse({text!r}) failed: {exc}") from None
    unsized = unsized_dims(parsed)
    if parsed.shape != e.shape or unsized:
        raise CheckFailure(f"td.parse({text!r}) reads back dims {parsed.shape}, not {e.shape}"
                           + (f"; no symbol sizes {', '.join(unsized)}" if unsized else ""))
    assert_close(ex.evaluate(parsed), ex.evaluate(e), EXACT_TOL, f"td.parse({text!r})")
    return True


def unsized_dims(e):
    """The dims of ``e`` with no size in SIZES (a merged dim a·b has one through its parts), sorted."""
    return sorted({d for n in topological([e]) for d in (n.dims if isinstance(n, Einsum) else n.shape)
                   if d not in SIZES and not ("·" in d and set(base_dims(d)) <= set(SIZES))})


def sized(e):
    """Whether every dim of ``e`` has a size in SIZES."""
    return not unsized_dims(e)
