"""Code reading the sizes of dims from the shapes of symbols, for the code printers (einsumcode.py,
codegen.py).

A plain dim a symbol has as a whole axis is read off that axis (``n = X.shape[0]``). A dim held only
inside a composite axis is solved for from the sizes of the other parts: θ of dims d·k gives
``k = θ.shape[0] // d`` once d is known, v of dims a+b gives ``b = v.shape[0] - a``, and a nested
composite unwraps one part at a time ((a+b)·c gives a+b = θ.shape[0] // c, then b from a). The lines
depend only on the shapes given and their order, never on which other symbols are alive.
"""

from .indices import base_dims, concat_parts, is_plain, merged_parts, slice_of, slice_text
from .reshapeprint import size_code

__all__ = ["dim_size_code", "size_lines", "composite_asserts"]


def dim_size_code(dim, plain_size):
    """Code for the size of any dim, given ``plain_size(name)``, the code for a plain dim's size:
    n·m → (n * m), n+m → (n + m), 3 → 3, n[2:5] → len(range(n)[2:5])."""
    composite = size_code(dim, lambda part: dim_size_code(part, plain_size))
    if composite is not None:
        return composite
    parts = slice_of(dim)
    if parts is None:
        return plain_size(dim)
    return f"len(range({dim_size_code(parts[0], plain_size)})[{slice_text(parts[1])}])"


def size_lines(shapes, wanted, names):
    """[(dim, code)]: the size of each dim of ``wanted`` as code reading the shapes, and of the dims
    that code reads, each after the dims it reads, else in order of name; code is None for a dim no
    shape determines.

    ``shapes``: (identifier, dims) of each symbol, the first to read a dim from first; ``names``:
    {dim: identifier} of the dims the code may name (plain ones are sized).

    >>> names = {d: d for d in ("n", "d", "k", "e")}
    >>> size_lines([("X", ("n", "d")), ("theta", ("d·k",))], ["k", "n", "e"], names)
    [('d', 'X.shape[1]'), ('e', None), ('k', 'theta.shape[0] // d'), ('n', 'X.shape[0]')]
    """
    sources, reads = {}, {}
    for identifier, dims in shapes:
        for axis, dim in enumerate(dims):
            if is_plain(dim) and dim in names and dim not in sources:
                sources[dim], reads[dim] = f"{identifier}.shape[{axis}]", set()
    composites = [(dim, f"{identifier}.shape[{axis}]") for identifier, dims in shapes
                  for axis, dim in enumerate(dims) if concat_parts(dim) or merged_parts(dim)]
    solved = True
    while solved:   # each pass solves at least one more dim, or ends
        solved = False
        for dim, code in composites:
            solved |= _solve(dim, code, set(), sources, reads, names)
    needed, todo = set(), [d for d in wanted if is_plain(d) and d in names]
    while todo:
        dim = todo.pop()
        if dim not in needed:
            needed.add(dim)
            todo += reads.get(dim, ())
    lines = []
    while needed:
        dim = min(d for d in needed if not reads.get(d, set()) & needed)
        needed.remove(dim)
        lines.append((dim, sources.get(dim)))
    return lines


def composite_asserts(shapes, sized, names):
    """Lines asserting that each composite axis of the shapes has the size its parts give (a θ of 7
    entries is no d·k for d = 3, though 7 // 3 sizes k), where every part's plain dims are ``sized``."""
    lines = []
    for identifier, dims in shapes:
        for axis, dim in enumerate(dims):
            if (concat_parts(dim) or merged_parts(dim)) and all(b in sized for b in base_dims(dim)):
                code = dim_size_code(dim, names.__getitem__)
                lines.append(f'assert {identifier}.shape[{axis}] == {code}, f"{identifier}: axis {axis} is dim {dim}, '
                             f'of size {{{code}}}, got {{{identifier}.shape[{axis}]}}"')
    return lines


def _solve(dim, code, read, sources, reads, names):
    """Size the one part of ``dim`` whose size is unknown, ``code`` being ``dim``'s size (reading the
    dims ``read``); whether a new plain dim got a size."""
    if is_plain(dim):
        if dim in sources or dim not in names:
            return False
        sources[dim], reads[dim] = code, read
        return True
    parts, inverse = concat_parts(dim), " - "
    if parts is None:
        parts, inverse = merged_parts(dim), " // "
    if parts is None:   # a slice or a decimal dim: no part to solve for
        return False
    unknown = [k for k, part in enumerate(parts) if not all(b in sources for b in base_dims(part))]
    if len(unknown) != 1:
        return False
    others = [p for k, p in enumerate(parts) if k != unknown[0]]
    read = read | {b for part in others for b in base_dims(part)}
    known = [dim_size_code(part, names.__getitem__) for part in others]
    if inverse == " - ":
        code = " - ".join([code, *known])   # a - b - c: // binds tighter, - groups to the left
    else:
        code = f"{_bracket(code)} // {known[0] if len(known) == 1 else _bracket(' * '.join(known))}"
    return _solve(parts[unknown[0]], code, read, sources, reads, names)


def _bracket(code):
    return f"({code})" if " " in code else code
