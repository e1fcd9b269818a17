"""The text of matrix notation: numbers as fractions, brackets where precedence needs them, and
the rewrites of finished text (a sum's common factors, a chain of transposes, a Hadamard product
with a triangle mask).

matrixform.py walks an expression's index graph and builds the notation from these pieces; they
see only strings, never nodes. The language is the parser's (parse.py), so every helper keeps
what it writes readable back: ``*``, ``.*``, ``./`` and ``/`` share one precedence and group to
the left, so an operand of ``.*`` that is a product is bracketed.
"""

import math
import re
from fractions import Fraction

__all__ = ["number", "paren", "atom", "unwrapped", "transposed", "join_terms", "fewest_transposes", "product_factors", "common_factor",
           "components", "hadamard", "MAX_DENOMINATOR"]

# A constant prints as a fraction when one with a denominator up to this equals it.
MAX_DENOMINATOR = 100


def unwrapped(text):
    """``text`` without the brackets around all of it, for the argument of a call: diag(a .* b)."""
    return text[1:-1] if text.startswith("(") and atom(text) == text else text


def transposed(text):
    """The transpose of ``text``: X' of X, and X of X' (an atom and a prime)."""
    if text.endswith("'") and atom(text[:-1]) == text[:-1]:
        return text[:-1]
    return atom(text) + "'"


def join_terms(parts):
    """a + b - c from the texts of terms (a term's leading '-' becomes the operator); a sum that
    starts with a negative term starts with its first positive one instead (x - a, not -a + x)."""
    first = next((k for k, part in enumerate(parts) if not part.startswith("-")), 0)
    parts = [parts[first]] + parts[:first] + parts[first + 1:]
    pieces = [parts[0]]
    for part in parts[1:]:
        pieces.append(" - " + part[1:] if part.startswith("-") else " + " + part)
    return "".join(pieces)


def hadamard(left, right):
    """``left .* right``, where a triangle mask (``tril(matrix(1))``, ``triu(matrix(1))``, maybe
    transposed) applied to a matrix M is written ``tril(M)`` or ``triu(M)``."""
    if _triangle_mask(left) is not None and _triangle_mask(left) == _triangle_mask(right):
        return right if left.endswith("'") else left   # a mask times itself
    for mask, other in ((right, left), (left, right)):
        word = _triangle_mask(mask)
        if word is not None:
            return f"{word}({other})"
    return f"{_hadamard_operand(left)} .* {_hadamard_operand(right)}"


def _hadamard_operand(text):
    """``text`` as an operand of ``.*``: a Hadamard product in brackets loses them (``.*`` is
    associative), anything else but an atom gains them."""
    if text.startswith("(") and atom(text) == text:   # the brackets enclose all of it
        inner, depth, operators = text[1:-1], 0, set()
        for k, ch in enumerate(inner):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and ch in "+-*/":
                operators.add(inner[k - 1:k + 1] if ch in "*/" and k and inner[k - 1] == "." else ch)
        if operators == {".*"}:
            return inner
    return atom(text)


# tril(matrix(1)), sized or not (tril(matrix(1, size(X, 1), size(X, 1)))), maybe transposed
_MASK = re.compile(r"(tril|triu)\(matrix\(1(?:, size\(\w+, [12]\)){0,2}\)\)('?)")
_FLIPPED = {"tril": "triu", "triu": "tril"}


def _triangle_mask(text):
    """"tril" or "triu" when ``text`` is a triangle mask (in brackets or not) that M .* mask makes
    tril(M) or triu(M); else None."""
    match = _MASK.fullmatch(text)
    if match is None and text.startswith("(") and text.endswith(")"):
        match = _MASK.fullmatch(text[1:-1])
    if match is None:
        return None
    return _FLIPPED[match[1]] if match[2] else match[1]


def number(x):
    """A constant as the fraction it is (1/3, -2/3, with a denominator up to MAX_DENOMINATOR) where
    its decimal is long, else its 12 significant digits."""
    text = f"{x:.12g}"
    if len(text) <= 6 or not math.isfinite(x):   # 0.5, 2.25, 1e-08: a decimal says it as well
        return text
    fraction = Fraction(x).limit_denominator(MAX_DENOMINATOR)
    if abs(float(fraction) - x) <= 1e-15 * abs(x):
        return f"{fraction.numerator}/{fraction.denominator}"
    return text


def paren(text):
    """Parenthesise a sum (or anything with a top-level + or -), or a quotient, for use inside a product."""
    depth = 0
    for k, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and (ch in "+-" and k > 0 and text[k - 1] not in "e*/^(" or ch == "/"):
            return "(" + text + ")"
    return text


def atom(text):
    """Parenthesise unless ``text`` is a name, number, call f(...) or (...) (for ' and .^ and ^)."""
    if text.replace("_", "").replace(".", "").isalnum() and not text.startswith("-"):
        return text
    start = text.find("(")
    if start >= 0 and (start == 0 or text[:start].isidentifier()):
        depth = 0
        for k in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            if depth == 0:  # the '(' after the name closes here: a call only if this is the end
                if k == len(text) - 1:
                    return text
                break
    return "(" + text + ")"


def fewest_transposes(parts):
    """The matrix product of ``parts``, as (c*b*a)' when a'*b'*c' would write more transposes."""
    primed = [part.endswith("'") and atom(part[:-1]) == part[:-1] for part in parts]
    if 2 * sum(primed) <= len(parts) + 1:
        return "*".join(paren(part) for part in parts)
    flipped = [part[:-1] if was else atom(part) + "'" for part, was in zip(parts, primed)]
    return "(" + "*".join(paren(part) for part in reversed(flipped)) + ")'"


def product_factors(term):
    """(sign, [factors]) of a term that is a plain product at its top level (only ``*``), else None."""
    sign, body = ("-", term[1:]) if term.startswith("-") else ("", term)
    factors, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth:
            continue
        if ch == "*" and body[k - 1] != "." or ch == "/" or (ch in "+-" and k > 0 and body[k - 1] not in "e*/^("):
            if ch != "*":
                return None
            factors.append(body[start:k])
            start = k + 1
        elif ch == "." and body[k + 1:k + 2] in ("*", "/"):
            return None
    factors.append(body[start:])
    return sign, [factor.strip() for factor in factors]


def common_factor(parts, scalar_leads=None, scalar_texts=None):
    """A sum whose terms all start and/or end with the same factors, written with those factors
    once: X*c*b' + X*b*c' as X*(c*b' + b*c'), B*x + B'*x as (B + B')*x, -A*C - B*C as -(A + B)*C;
    else None. ``scalar_leads[k]``, given for a sum of vectors or matrices, counts the scalar
    factors term k starts with, and ``scalar_texts`` holds the texts of scalars wherever they
    stand: each term must keep a factor that is not a scalar (n*inv(S) + A*inv(S) is not
    (n + A)*inv(S), nor N*sum(w) - N*w*w' N*(sum(w) - w*w'): either would add a number to every
    entry)."""
    split = [product_factors(part) for part in parts]
    if len(parts) < 2 or any(s is None or len(s[1]) < 2 for s in split):
        return None
    shortest = min(len(factors) for _, factors in split)
    lead = 0
    while lead < shortest - 1 and len({factors[lead] for _, factors in split}) == 1 \
            and not _sized_where_it_stands(split[0][1][lead]):
        lead += 1
    tail = 0
    while lead + tail < shortest - 1 and len({factors[-1 - tail] for _, factors in split}) == 1 \
            and not _sized_where_it_stands(split[0][1][-1 - tail]):
        tail += 1
    if not lead and not tail or scalar_leads is not None and any(
            len(factors) - tail <= max(lead, scalar_lead) for (_, factors), scalar_lead in zip(split, scalar_leads)):
        return None
    if scalar_texts is not None and any(all(f in scalar_texts or f[1:-1] in scalar_texts and f.startswith("(")
                                            for f in factors[lead:len(factors) - tail]) for _, factors in split):
        return None
    negative = all(sign == "-" for sign, _ in split)   # -(a + b) rather than (-a - b)
    inner = join_terms([("" if negative else sign) + "*".join(factors[lead:len(factors) - tail])
                         for sign, factors in split])
    factors = split[0][1]
    return ("-" if negative else "") + "*".join(factors[:lead] + ["(" + inner + ")"] + factors[len(factors) - tail:])


def _sized_where_it_stands(factor):
    """Whether ``factor`` is an all-c vector or matrix (vector(1), matrix(1)'), whose size the
    parser takes from where it stands: equal texts in two terms may be two sizes, (a) in
    M*vector(1) and (b) in N*vector(1), so they are not one common factor (selfcheck seed 51268)."""
    return factor.lstrip("(").startswith(("vector(", "matrix("))


def components(items):
    """The items grouped by the indices that connect them: [(indices, items)]."""
    groups = []
    for item in items:
        touching = [g for g in groups if g[0] & set(item[1])]
        merged = (set(item[1]), [item])
        for g in touching:
            groups.remove(g)
            merged = (merged[0] | g[0], g[1] + merged[1])
        groups.append(merged)
    return groups


