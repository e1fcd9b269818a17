"""Named subexpressions in matrix notation: a call that repeats is written once, as matrixcalculus.org's
generated code does::

    t1 = sigmoid(X*W1)
    2*X'*((1 - t1) .* t1 .* ((t1*W2 - Y)*W2'))

Only a call (``sigmoid(...)``, ``inv(...)``, ``norm2(...)``) of at least MIN_LENGTH characters that
occurs at least twice is named: a call is one operand wherever it stands, so the name replaces it
exactly. ``expand`` undoes the naming, which is how td.parse reads such text: each name stands for
its text in brackets in the lines after it.
"""

import re

from .errors import ParseError

__all__ = ["name_repeats", "expand", "MIN_LENGTH"]

MIN_LENGTH = 12   # inv(X'*X) stays as it is; sigmoid(X*W1) repeated is named
MAX_NAMES = 26
# eye(size(X, 1)), vector(1, size(X, 1)): a constant with its size, not a computation to name
SIZED_CONSTANTS = ("eye(", "vector(", "matrix(", "size(")

_CALL = re.compile(r"(?<![\w.'])([A-Za-z_][\w.]*)\(")
_BINDING = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)(.*)$")


def name_repeats(text, taken):
    """``text`` with each repeated long call named: "t1 = ...\\n...\\nbody", or ``text`` itself.
    ``taken`` holds the names the text uses (the names given skip them)."""
    bindings, body = [], text
    for _ in range(MAX_NAMES):
        counts = {}
        for piece in [body] + [value for _, value in bindings]:
            for call in _calls(piece):
                counts[call] = counts.get(call, 0) + 1
        repeated = [call for call, count in counts.items()
                    if count > 1 and len(call) >= MIN_LENGTH and not call.startswith(SIZED_CONSTANTS)]
        if not repeated:
            break
        call = max(repeated, key=lambda c: (len(c), c))
        name = _fresh(taken | {n for n, _ in bindings})
        pattern = re.compile(r"(?<![\w.'])" + re.escape(call))
        body = pattern.sub(name, body)
        bindings = [(n, pattern.sub(name, value)) for n, value in bindings]
        bindings.append((name, call))
    if not bindings:
        return text
    order = _defined_first(bindings)
    return "\n".join(f"{name} = {value}" for name, value in order) + "\n" + body


def expand(text):
    """The single expression of a text with named subexpressions ("t1 = ...\\n...\\nbody"): each
    name is replaced, in the parts after it, by its text in brackets. Text that does not start with
    ``name =`` is returned as it is (a newline inside an expression is only a space)."""
    parts = re.split(r"[\n;]", text)
    if _BINDING.match(parts[0]) is None or sum(bool(part.strip()) for part in parts) < 2:
        return text   # one line is one expression: its '=' is the tokenizer's error, with a caret
    values, k = {}, 0
    while k < len(parts) and (_BINDING.match(parts[k]) or not parts[k].strip()):
        if parts[k].strip():
            name, value = _BINDING.match(parts[k]).groups()
            if name in values:
                raise ParseError(f"{name!r} is named twice")
            values[name] = _substitute(value, values)
        k += 1
    rest = "\n".join(parts[k:])
    if not rest.strip():
        raise ParseError("the last line must be the expression itself, not another 'name = ...'")
    if any(_BINDING.match(part) for part in parts[k:]):
        raise ParseError("expected 'name = expression' lines first, then the expression")
    return _substitute(rest, values)


def _substitute(text, values):
    for name, value in values.items():
        text = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w(])", "(" + value.strip() + ")", text)
    return text


def _calls(text):
    """Every complete call f(...) in ``text``, as written."""
    found = []
    for match in _CALL.finditer(text):
        depth = 0
        for k in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            if depth == 0:
                found.append(text[match.start():k + 1])
                break
    return found


def _fresh(taken):
    k = 1
    while f"t{k}" in taken:
        k += 1
    return f"t{k}"


def _defined_first(bindings):
    """The bindings ordered so that each comes after the names its text uses."""
    done, order, pending = set(), [], list(bindings)
    while pending:
        for binding in pending:
            used = {n for n, _ in bindings if re.search(rf"(?<![\w.]){n}(?![\w(])", binding[1])}
            if used <= done:
                order.append(binding)
                done.add(binding[0])
                pending.remove(binding)
                break
        else:   # cannot happen: a name only stands for text that was in the body before it
            order += pending
            break
    return order
