"""Index bookkeeping: dim names, numpy einsum specs, index unification and canonical renumbering.

An einsum node names its indices by small integers local to that node; each index has a dim
(a name such as "n"). Letters are chosen only when a spec is parsed or printed.
"""

import math
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
    canonical = tuple(canonical_dim(name) for name in names)
    for name, dim in zip(names, canonical):
        # a decimal dim ("2", a stack's new axis) is made by stack, never declared: "n 1" is a slip
        if dim is None or any(literal_size(b) is not None for b in name_words(dim)):
            raise ShapeError(f"{what}: dim name {name!r} is not an identifier or a composite "
                             "dim such as 'q·m' (merged, also written 'q*m') or 'n+m' (concatenated)"
                             + ("; a decimal dim is a stack's unnamed axis: td.stack(xs, dim='k') names it"
                                if dim is not None else ""))
    return canonical


def index_uses(subs, out):
    """{index: how many times it is written}, over a product's subscripts and its output."""
    count = {}
    for sub in subs:
        for i in sub:
            count[i] = count.get(i, 0) + 1
    for i in out:
        count[i] = count.get(i, 0) + 1
    return count


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
    if dim and not (_is_name(dim) or slice_of(dim) is not None or literal_size(dim) is not None):
        dim = f"({dim})"   # a slice of the merged dim q·m is (q·m)[2:5], not q·(m[2:5])
    return f"{dim}[{text}{'' if step == 1 else ':' + str(step)}]"


def slice_of(dim):
    """(base dim, (start, stop, step)) for a dim made by slicing, else None."""
    match = _SLICED.match(dim)
    if match is None or _split_top(dim, "+") is not None or _split_top(dim, MERGE_SIGN) is not None:
        return None
    base, start, stop, step = match.groups()
    return _unwrap(base), (int(start) if start else None, int(stop) if stop else None, int(step) if step else 1)


def sliced_size(dim, sizes):
    """The size of ``dim`` (made by slicing, maybe repeatedly) from the sizes of plain dims; None if unknown."""
    if dim in sizes:
        return sizes[dim]
    parts = slice_of(dim)
    if parts is None:
        return None
    base, key = parts
    size = dim_size(_unwrap(base), sizes)
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
        plain = ", ".join(sorted(d for d in dims if isinstance(d, str) and is_plain(d))) or "none"
        raise EvaluationError(f"{what} given for {', '.join(map(repr, unknown))}, which are no dims of this "
                              f"expression (its dims: {plain})")
    sliced = sorted(d for d in given if slice_of(d) is not None)
    if sliced:
        raise EvaluationError(f"{what} given for the sliced dim {sliced[0]!r}: it follows from "
                              f"{slice_of(sliced[0])[0]!r}'s")
    composite = sorted(d for d in given if not is_plain(d))
    if composite:
        raise EvaluationError(f"{what} given for the composite dim {composite[0]!r}: it follows from its parts' "
                              f"({', '.join(base_dims(composite[0]))})")
    bad = {d: n for d, n in given.items() if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < least}
    if bad:
        kind = "positive integers" if least == 1 else f"integers ≥ {least}"
        raise EvaluationError(f"{what}s must be {kind}, got {bad}")


# ---------------------------------------------------------------- composite dims
#
# A merged axis (vec, kron, reshape) has the dim "q·m": its index runs over the pairs (q, m) in
# numpy's C order (m fastest), so its size is size(q)·size(m). A concatenated axis has the dim
# "n+m", of size size(n) + size(m), the first part first. A dim that is a decimal integer ("3",
# the new axis of a stack) has that size. "·" binds tighter than "+"; parentheses group
# ("(n+m)·p"); "*" is read as "·". Like a sliced dim's, the name is the whole definition, so its
# size follows from its parts' and no registry is needed. Nested merges and sums flatten
# ("(q·m)·p" is "q·m·p": C order is associative), so one dim has one name.

MERGE_SIGN = "·"


def _scan(text, pos):
    """Parse a sum at ``pos``: (tree, new pos). A tree is ("name", s), ("int", s), ("slice", tree, text),
    ("prod", trees) or ("sum", trees)."""
    terms = []
    while True:
        factors = []
        while True:
            tree, pos = _scan_atom(text, pos)
            factors.append(tree)
            if pos < len(text) and text[pos] in (MERGE_SIGN, "*"):
                pos += 1
                continue
            break
        terms.append(factors[0] if len(factors) == 1 else ("prod", factors))
        if pos < len(text) and text[pos] == "+":
            pos += 1
            continue
        break
    return (terms[0] if len(terms) == 1 else ("sum", terms)), pos


def _scan_atom(text, pos):
    if pos < len(text) and text[pos] == "(":
        tree, pos = _scan(text, pos + 1)
        if pos >= len(text) or text[pos] != ")":
            raise ValueError("unbalanced parenthesis")
        pos += 1
    else:
        end = pos
        while end < len(text) and text[end] not in "()[]+*" + MERGE_SIGN:
            end += 1
        word = text[pos:end]
        if word.isdigit() and (word == "0" or not word.startswith("0")):
            tree = ("int", word)
        elif _is_name(word):
            tree = ("name", word)
        else:
            raise ValueError(f"no dim name at {text[pos:]!r}")
        pos = end
    while pos < len(text) and text[pos] == "[":
        end = text.find("]", pos)
        if end < 0 or _SLICE_KEY.match(text[pos + 1:end]) is None:
            raise ValueError("malformed slice")
        tree, pos = ("slice", tree, text[pos + 1:end]), end + 1
    return tree, pos


_SLICE_KEY = re.compile(r"^-?\d*:-?\d*(?::-?\d+)?$")


def _render(tree, inside=None):
    kind = tree[0]
    if kind in ("name", "int"):
        return tree[1]
    if kind == "slice":
        base = _render(tree[1])
        return (f"({base})" if tree[1][0] in ("prod", "sum") else base) + f"[{tree[2]}]"
    parts = []
    for child in tree[1]:
        if child[0] == kind:   # (q·m)·p is q·m·p
            parts.extend(_render(c, kind) for c in child[1])
        else:
            parts.append(_render(child, kind))
    text = (MERGE_SIGN if kind == "prod" else "+").join(parts)
    return f"({text})" if kind == "sum" and inside == "prod" else text


def canonical_dim(name):
    """The canonical spelling of a dim name ("q*m" → "q·m", "(a·b)·c" → "a·b·c"), or None if it is
    not a dim name (an identifier, a decimal size, a slice, or merges and sums of them)."""
    if not isinstance(name, str) or not name:
        return None
    if _is_name(name):
        return name
    try:
        tree, pos = _scan(name, 0)
    except ValueError:
        return None
    return _render(tree) if pos == len(name) else None


def _is_name(text):
    # "q·m".isidentifier() is True: Python lets a middle dot continue an identifier
    return text.isidentifier() and MERGE_SIGN not in text


def _split_top(dim, sign):
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(dim):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sign and depth == 0:
            parts.append(dim[start:k])
            start = k + 1
    if not parts:
        return None
    parts.append(dim[start:])
    return tuple(_unwrap(p) for p in parts)


def _unwrap(dim):
    """"(n+m)" → "n+m" when the parentheses enclose the whole name."""
    if dim.startswith("(") and dim.endswith(")"):
        depth = 0
        for k, ch in enumerate(dim):
            depth += ch in "(["
            depth -= ch in ")]"
            if depth == 0 and k < len(dim) - 1:
                return dim
        return dim[1:-1]
    return dim


def concat_parts(dim):
    """The parts of a concatenated dim ("n+m" → ("n", "m")), else None."""
    return _split_top(dim, "+")


def merged_parts(dim):
    """The parts of a merged dim ("q·m" → ("q", "m"); "(n+m)·p" → ("n+m", "p")), else None."""
    return None if concat_parts(dim) is not None else _split_top(dim, MERGE_SIGN)


def merged_dim(parts):
    """The dim of an axis merging axes of dims ``parts`` in C order (a single part is itself)."""
    return canonical_dim(MERGE_SIGN.join(f"({p})" for p in parts)) if len(parts) > 1 else parts[0]


def concat_dim(parts):
    """The dim of an axis concatenating axes of dims ``parts``, first part first."""
    return canonical_dim("+".join(f"({p})" for p in parts)) if len(parts) > 1 else parts[0]


def atoms(dim):
    """The dims a merged dim is made of, nested merges flattened ("q·m·p" → ("q", "m", "p")); (dim,) else."""
    parts = merged_parts(dim)
    return (dim,) if parts is None else parts


def name_words(dim):
    """The words of a dim name outside its slices' brackets: "(q·m)[1:]" → ["q", "m"]."""
    return [word for word in re.split(r"[^\w]+", re.sub(r"\[[^\]]*\]", "", dim)) if word]


def literal_size(dim):
    """The size a decimal dim ("3") has, else None."""
    return int(dim) if dim.isdigit() else None


def is_plain(dim):
    """Whether ``dim`` is a plain name, whose size is given by a value rather than by other dims."""
    return _is_name(dim)


def base_dims(dim):
    """The plain dims whose sizes give ``dim``'s ("(n+m)·p[1:]" → n, m, p)."""
    if _is_name(dim):
        return (dim,)
    if literal_size(dim) is not None:
        return ()
    parts = concat_parts(dim) or merged_parts(dim)
    if parts is None:
        parts = (slice_of(dim)[0],)
    return tuple(dict.fromkeys(b for p in parts for b in base_dims(p)))


def dim_size(dim, sizes):
    """The size of any dim from the sizes of plain dims (``sizes`` may hold derived ones too); None if unknown."""
    if dim in sizes:
        return sizes[dim]
    if _is_name(dim):
        return None
    if literal_size(dim) is not None:
        return literal_size(dim)
    parts = concat_parts(dim)
    combine = sum
    if parts is None:
        parts, combine = merged_parts(dim), math.prod
    if parts is None:
        return sliced_size(dim, sizes)
    known = [dim_size(p, sizes) for p in parts]
    return None if None in known else combine(known)
