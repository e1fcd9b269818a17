"""Checks on a call's arguments that would otherwise let a mistake pass silently.

- ``merged_values``: the values of one call, from a dict and keywords; a keyword overrides the
  dict's value for its symbol, as ``dict(values, x=b)`` does (binding.by_name refuses a symbol
  given twice within one dict, ``{x: a, "x": b}``, where neither is an override).
- ``check_function_names``: ``functions=`` names only user functions (td.elementwise) and their
  derivatives; a name of none, a typo most likely, is refused instead of being ignored. A name
  of a declared user function that this expression does not use is accepted, as a value for a
  symbol differentiated away is: one ``functions`` dict serves f and its derivatives.
"""

import difflib
import re

from .errors import EvaluationError
from .functions import registered_user_function

__all__ = ["merged_values", "check_function_names"]

_DERIVATIVE_MARKS = re.compile(r"(?:['′″‴]+|\^\(\d+\))$")


def merged_values(named, keywords):
    """One {name: value} dict from ``named`` (a values dict keyed by names: binding.by_name's) and
    ``keywords``, each keyword overriding the dict's value of its symbol: ``program(values, x=x2)``
    evaluates at ``values`` with ``x`` moved, as ``dict(values, x=x2)`` would.

    >>> merged_values({"s": 1.0, "t": 2.0}, {"s": 3.0})
    {'s': 3.0, 't': 2.0}
    """
    return {**named, **keywords}


def check_function_names(functions, used):
    """Refuse a key of ``functions`` that names no user function: not one of ``used`` (the names of
    the expression's user functions and their derivatives) and not a declared one (td.elementwise)."""
    for key in functions:
        if not isinstance(key, str):
            raise EvaluationError(f"functions= is keyed by function names (str), got the key {key!r:.60}")
        if key in used or registered_user_function(_DERIVATIVE_MARKS.sub("", key)) is not None:
            continue
        known = sorted(used)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EvaluationError(f"functions= names {key!r}, which is no user function (td.elementwise) "
                              f"(this expression's: {', '.join(known) or 'none'}){hint}")
