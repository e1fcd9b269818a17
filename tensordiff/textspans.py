"""Where a repeated piece of parse's text can start and end, found without reading its tokens.

The parser reads a repeated operand of a sum, or a repeated parenthesised group, once: the
second time it recognises the same characters and takes the node it built the first time. A
group's extent is known from its matching parenthesis; a sum operand's from the next ``+ - , )
< >`` outside parentheses that is no sign (``a*-b``, ``x^-1``, ``1e-5``). Both are found by
C-level regex searches, so a recognised piece costs a dictionary lookup, not its tokens.
"""

from __future__ import annotations

import re

_PARENS = re.compile(r"[()]")
_STOPS = re.compile(r"[-+,()<>]")
_SIGN_AFTER = frozenset("*/^(,<>=+-")   # a + or - right after one of these is a sign, not a sum's operator


def closing_parens(text: str) -> dict[int, int]:
    """{position of each matched "(": position of its ")"}; unmatched parentheses are left out."""
    closing, stack = {}, []
    for m in _PARENS.finditer(text):
        pos = m.start()
        if text[pos] == "(":
            stack.append(pos)
        elif stack:
            closing[stack.pop()] = pos
    return closing


def operand_end(text: str, start: int, closing: dict[int, int]) -> int:
    """Where the sum operand starting at ``start`` ends if it holds no comparison: the position of
    the first ``+ - , ) < >`` after it outside parentheses that is no sign, else len(text).

    A guess only where a sign is written after a name ending in e (``xe-1``): the parser checks
    that the guess is the text of an operand it has read whole before it takes that operand."""
    pos = start
    while True:
        m = _STOPS.search(text, pos)
        if m is None:
            return len(text)
        at = m.start()
        ch = text[at]
        if ch == "(":
            if at not in closing:
                return len(text)
            pos = closing[at] + 1
            continue
        if ch in "+-":
            before = at - 1
            while before >= start and text[before].isspace():
                before -= 1
            if before < start or text[before] in _SIGN_AFTER or (
                    text[before] in "eE" and before > start and (text[before - 1].isdigit() or text[before - 1] == ".")):
                pos = at + 1   # a sign (-x, a*-b, x^-1) or a number's exponent (1e-5)
                continue
        return at
