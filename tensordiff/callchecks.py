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

__all__ = ["merged_values", "check_function_names", "positional_values"]

_DERIVATIVE_MARKS = re.compile(r"(?:['′″‴]+|\^\(\d+\))$")


def merged_values(named, keywords):
    """One {name: value} dict from ``named`` (a values dict keyed by names: binding.by_name's) and
    ``keywords``, each keyword overriding the dict's value of its symbol: ``program(values, x=x2)``
    evaluates at ``values`` with ``x`` moved, as ``dict(values, x=x2)`` would.

    >>> merged_values({"s": 1.0, "t": 2.0}, {"s": 3.0})
    {'s': 3.0, 't': 2.0}
    """
    return {**named, **keywords}


def positional_values(call, values, slot, position, keywords):
    """The values dict a user passed positionally into ``slot`` (td.check's order, at ``position``),
    merged under ``keywords`` (keyword values override, as merged_values); an error where it is not
    keyed by names or symbols.

    >>> positional_values("td.check", {"x": 1.0}, "order", 3, {"y": 2.0})
    {'x': 1.0, 'y': 2.0}
    """
    named = {}
    for key, value in values.items():
        name = getattr(key, "name", key)
        if not isinstance(name, str):
            raise EvaluationError(f"{call}: argument {position} (in place of {slot}=) is a dict, taken as the values "
                                  f"of symbols, but it has the key {key!r:.60}: key values by symbol names or symbols")
        named[name] = value
    return merged_values(named, keywords)


def check_function_names(functions, used, symbols=()):
    """Refuse a key of ``functions`` that names no user function: not one of ``used`` (the names of
    the expression's user functions and their derivatives) and not a declared one (td.elementwise).
    A key among ``symbols`` (the expression's) means values were passed where functions go."""
    for key in functions:
        if not isinstance(key, str):
            raise EvaluationError(f"functions= is keyed by function names (str), got the key {key!r:.60}")
        if key in used or registered_user_function(_DERIVATIVE_MARKS.sub("", key)) is not None:
            continue
        if key in symbols:
            raise EvaluationError(f"functions= names {key!r}, a symbol of this expression: functions= holds "
                                  "implementations of user functions (td.elementwise); values go as keywords "
                                  f"({key}=...) or as the dict of values")
        known = sorted(used)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EvaluationError(f"functions= names {key!r}, which is no user function (td.elementwise) "
                              f"(this expression's: {', '.join(known) or 'none'}){hint}")
