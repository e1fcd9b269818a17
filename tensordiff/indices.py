"""Index bookkeeping: dim names, numpy einsum specs, index unification and canonical renumbering.

An einsum node names its indices by small integers local to that node; each index has a dim
(a name such as "n"). Letters are chosen only when a spec is parsed or printed.
"""

import numbers
import re
import string

from .errors import EvaluationError, ParseError, ShapeError

SPEC_LETTERS = string.ascii_letters


def parse_dims(dims, what="dims"):
    """Normalise dims given as "n p", ("n", "p") or "" into a tuple of names."""
    if dims is None:
        return ()
    if isinstance(dims, str):
        names = tuple(dims.replace(",", " ").split())
    elif isinstance(dims, (tuple, list)):
        names = tuple(dims)
    else:
        raise ShapeError(f"{what} must be a string like 'n p' or a tuple of names, got {dims!r}")
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ShapeError(f"{what}: dim name {name!r} is not an identifier")
    return names


def format_dims(dims):
    return "(" + ", ".join(dims) + ")" if dims else "() (a scalar)"


def _caret(spec, pos):
    return f"\n  {spec}\n  {' ' * pos}^"


def parse_spec(spec, operand_orders):
    """Split a numpy einsum spec into per-operand letter strings and the output letters.

    Follows numpy: ``"ij,jk->ik"``; implicit output (letters used once, sorted); spaces ignored;
    ``...`` stands for the leading axes not named by letters.
    """
    if not isinstance(spec, str):
        raise ParseError(f"einsum spec must be a string, got {spec!r}")
    for pos, ch in enumerate(spec):
        if not (ch in SPEC_LETTERS or ch in ",.->" or ch == " "):
            raise ParseError(f"einsum spec: character {ch!r} at column {pos} is not a letter, ',', '->' or '...'" + _caret(spec, pos))
    compact = spec.replace(" ", "")
    if compact.count("->") > 1:
        raise ParseError("einsum spec has more than one '->'" + _caret(spec, spec.rfind("->")))
    lhs, arrow, rhs = compact.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operand_orders):
        raise ParseError(f"einsum spec {spec!r} names {len(inputs)} operand(s) but {len(operand_orders)} were given")
    used = set(compact) & set(SPEC_LETTERS)
    spare = [c for c in SPEC_LETTERS if c not in used]
    ellipsis_letters = None
    parsed = []
    for k, (term, order) in enumerate(zip(inputs, operand_orders)):
        term = _expand_ellipsis(term, order, spec, k, spare)
        if isinstance(term, tuple):
            term, ell = term
            if ellipsis_letters is None or len(ell) > len(ellipsis_letters):
                ellipsis_letters = ell
        if len(term) != order:
            raise ShapeError(f"einsum spec {spec!r}: operand {k} has {order} dim(s) but the spec gives {len(term)} index letter(s) {term!r}")
        parsed.append(term)
    if arrow:
        if "." in rhs:
            rhs = rhs.replace("...", ellipsis_letters or "")
        if "." in rhs or "-" in rhs or ">" in rhs:
            raise ParseError(f"einsum spec {spec!r}: malformed output {rhs!r}")
        for ch in rhs:
            if rhs.count(ch) > 1:
                raise ParseError(f"einsum spec {spec!r}: output letter {ch!r} appears twice")
            if not any(ch in t for t in parsed):
                raise ParseError(f"einsum spec {spec!r}: output letter {ch!r} appears in no operand")
        out = rhs
    else:
        counts = {}
        for t in parsed:
            for ch in t:
                counts[ch] = counts.get(ch, 0) + 1
        ell = ellipsis_letters or ""
        out = ell + "".join(sorted(ch for ch, c in counts.items() if c == 1 and ch not in ell))
    return parsed, out


def _expand_ellipsis(term, order, spec, k, spare):
    if "." not in term:
        if "-" in term or ">" in term:
            raise ParseError(f"einsum spec {spec!r}: malformed operand {k} {term!r}")
        return term
    if term.count("...") != 1 or term.replace("...", "").count(".") or "-" in term:
        raise ParseError(f"einsum spec {spec!r}: operand {k} {term!r} has a malformed ellipsis")
    named = len(term) - 3
    n_ell = order - named
    if n_ell < 0:
        raise ShapeError(f"einsum spec {spec!r}: operand {k} has {order} dim(s) but names {named}")
    if n_ell > len(spare):
        raise ParseError(f"einsum spec {spec!r}: too many axes under '...'")
    ell = "".join(spare[len(spare) - n_ell:])  # the same letters for the same trailing positions
    return term.replace("...", ell), ell


class UnionFind:
    """Union-find over index ids 0..n-1 (grows on demand)."""

    __slots__ = ("parent",)

    def __init__(self, n):
        self.parent = list(range(n))

    def add(self, count):
        start = len(self.parent)
        self.parent.extend(range(start, start + count))
        return start

    def find(self, i):
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def letters(count, avoid=()):
    """Yield printable index letters: i j k l m ... then a b c ..., then i1 i2 ... when exhausted."""
    pool = [c for c in "ijklmnopqrstuvwxyzabcdefgh" if c not in avoid]
    out = pool[:count]
    n = 1
    while len(out) < count:
        out.extend(f"{c}{n}" for c in "ijkl" if f"{c}{n}" not in avoid)
        n += 1
    return out[:count]


# ---------------------------------------------------------------- dims made by slicing

# A slice of dim "n" makes the dim "n[2:5]" (numpy's slice text: "n[::2]", "n[-3:]", "n[::-1]";
# a step of 1 is left out). The name is the whole definition, so its size follows from n's size
# at evaluation and a slice of a slice ("n[2:5][1:]") needs no registry.
_SLICED = re.compile(r"^(.+)\[(-?\d*):(-?\d*)(?::(-?\d+))?\]$")


def sliced_dim(dim, key):
    """The name of the dim a slice ``key`` = (start, stop, step) of ``dim`` makes."""
    start, stop, step = key
    text = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
    return f"{dim}[{text}{'' if step == 1 else ':' + str(step)}]"


def slice_of(dim):
    """(base dim, (start, stop, step)) for a dim made by slicing, else None."""
    match = _SLICED.match(dim)
    if match is None:
        return None
    base, start, stop, step = match.groups()
    return base, (int(start) if start else None, int(stop) if stop else None, int(step) if step else 1)


def sliced_size(dim, sizes):
    """The size of ``dim`` (made by slicing, maybe repeatedly) from the sizes of plain dims; None if unknown."""
    if dim in sizes:
        return sizes[dim]
    parts = slice_of(dim)
    if parts is None:
        return None
    base, key = parts
    size = sliced_size(base, sizes)
    return None if size is None else len(range(size)[slice(*key)])


def slice_text(key):
    """numpy's text for a selection key: 3, "2:5", "::-1"."""
    if isinstance(key, int):
        return str(key)
    return sliced_dim("", key)[1:-1]


def check_dim_lengths(given, dims, what, least=1):
    """Refuse a {dim: length} dict naming a dim not in ``dims``, a sliced dim (its length follows
    from its parent's), or holding a length that is no int of at least ``least``."""
    unknown = sorted(set(given) - set(dims), key=str)
    if unknown:
        plain = ", ".join(sorted(d for d in dims if slice_of(d) is None)) or "none"
        raise EvaluationError(f"{what} given for {', '.join(map(repr, unknown))}, which are no dims of this "
                              f"expression (its dims: {plain})")
    sliced = sorted(d for d in given if slice_of(d) is not None)
    if sliced:
        raise EvaluationError(f"{what} given for the sliced dim {sliced[0]!r}: it follows from "
                              f"{slice_of(sliced[0])[0]!r}'s")
    bad = {d: n for d, n in given.items() if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < least}
    if bad:
        kind = "positive integers" if least == 1 else f"integers ≥ {least}"
        raise EvaluationError(f"{what}s must be {kind}, got {bad}")
