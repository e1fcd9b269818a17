"""Sizes of dims at a call that no value gives directly: parts solved from composite dims, and
sizes passed by dim name.

A value of dims a+b with a known gives b = (its length) - a; one of dims d·k with d known gives
k = (its length) / d, refused where d does not divide it; a nested composite unwraps one part at
a time ((a+b)·c gives a+b, then b from a), as the code printers read them (sizecode.py). A part that
occurs twice in a concatenation (a+a) is solved too (2a = length); one in a product twice (k·k) is
not (no linear relation determines it).

A size passed by name (``n=4``) is taken for a dim of the expression, and, as an int under a name
no symbol has, for a dim of a declared symbol: one table of sizes serves a function and each of
its derivatives, though a derivative may have lost a dim (the zero derivative of a function of
X (n, p) in a scalar), as values of the symbols it lost are taken. A value under a name that is
neither a symbol nor such a dim (a typo), or a dim's size that is no int, is refused naming the
expression's symbols and dims; a dim the expression needs and nothing sizes, by name.

A price or a plan (``td.cost``, ``program.explain``), which has no values, takes the same table
by what the expression was derived from: ``td.diff`` remembers the plain dims of the expression
it differentiated, of its symbols and of the symbol it differentiated by (``remember_origin``),
so a size for a dim the derivative lost is taken, while a name that is no dim of the expression
nor of what it was derived from is refused by name (``priced_sizes``) as it always was: the
registry of declared symbols, which evaluation reads, holds every dim some other expression of
the session has, and cannot tell a typo from a lost dim there.

>>> import numpy as np, tensordiff as td
>>> v, y = td.vector("v", "a+b"), td.vector("y", "a")
>>> f = td.sum(v * td.concatenate([y, td.ones("b")]))
>>> td.evaluate(f, v=np.arange(5.0), y=np.ones(3))                 # b = 5 - 3
array(10.)
"""

import numbers
import threading
import weakref

from .errors import EvaluationError, ShapeError
from .expr import Var, topological
from .indices import base_dims, check_dim_lengths, concat_parts, dim_size, format_dims, is_plain, merged_parts, \
    slice_of
from .reshapesteps import bind_composites
from .select import bind_selections
from .symboltable import declared_dims, symbols_with_dim

__all__ = ["bind_dim_sizes", "solve_parts", "is_dim_size", "unknown_name", "remember_origin", "origin_dims",
           "origin_symbol_dims", "unsized_error",
           "priced_sizes", "priced_table", "undetermined_hint"]

# a derivative -> the plain dims of what it was derived from (interned nodes: a zero shared by two
# derivatives holds both origins' dims); weak, so a derivative no one holds takes its entry with it
_origins: "weakref.WeakKeyDictionary[object, frozenset[str]]" = weakref.WeakKeyDictionary()
# a derivative -> {name: dims} of the symbols it was derived from; None for a name two origins
# declared with other dims (a notebook that declared it again), which then tells nothing
_origin_symbols: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()
_origins_lock = threading.Lock()


def bind_dim_sizes(dims, nodes, sizes):
    """``bind_composites`` (reshapesteps.py), then, while a dim of ``dims`` has no size, the parts of
    composite dims solved from their sizes (``solve_parts``) and ``bind_composites`` again."""
    bind_composites(dims, nodes, sizes)
    while any(slice_of(d) is None for d in dims - sizes.keys()) and solve_parts(sizes):
        bind_composites(dims, nodes, sizes)


def solve_parts(sizes):
    """Add to ``sizes`` each part of a sized composite dim that the sizes of the other parts determine;
    whether one was added. A ShapeError where no size of the part gives the composite's.

    >>> sizes = {"(a+b)·c": 12, "c": 3, "a": 1}
    >>> solve_parts(sizes), sizes["a+b"], sizes["b"]
    (True, 4, 3)
    """
    added = False
    progress = True
    while progress:
        progress = False
        for dim, size in list(sizes.items()):
            part = _solvable_part(dim, sizes)
            if part is not None:
                sizes[part] = _part_size(dim, size, part, sizes)
                progress = added = True
    return added


def _solvable_part(dim, sizes):
    """The one part of ``dim`` without a size, where the other parts' sizes determine it, else None."""
    parts = concat_parts(dim) or merged_parts(dim)
    if parts is None:
        return None
    unknown = {p for p in parts if dim_size(p, sizes) is None}
    if len(unknown) != 1:
        return None
    (part,) = unknown
    if slice_of(part) is not None:
        return None   # n from the size of n[2:5]: not determined
    if concat_parts(dim) is None and (parts.count(part) > 1 or sizes[dim] == 0 == _product(parts, part, sizes)):
        return None   # k from k·k (no linear relation), or any k in 0·k = 0
    return part


def _part_size(dim, size, part, sizes):
    parts = concat_parts(dim)
    known = ", ".join(f"{p}={dim_size(p, sizes)}" for p in dict.fromkeys(parts or merged_parts(dim)) if p != part)
    if parts is not None:
        held = sum(dim_size(p, sizes) for p in parts if p != part)
        copies = parts.count(part)
        if size >= held and (size - held) % copies == 0:
            return (size - held) // copies
        held_by = f"its other parts hold {held}: {known}" if known else "it has no other part"
        twice = f", and {part!r} occurs {copies} times" if copies > 1 else ""
        raise ShapeError(f"dim {dim!r} has size {size}, but no size of its part {part!r} gives that "
                         f"({held_by}{twice})")
    product = _product(merged_parts(dim), part, sizes)
    if product and size % product == 0:
        return size // product
    raise ShapeError(f"dim {dim!r} has size {size}, but no size of its part {part!r} gives that "
                     f"(its other parts multiply to {product}: {known})")


def _product(parts, part, sizes):
    product = 1
    for p in parts:
        if p != part:
            product *= dim_size(p, sizes)
    return product


def is_dim_size(name, value, program):
    """Whether ``value``, under a ``name`` that is no symbol of ``program``'s expression, is a dim's size:
    for a dim of the expression, an int or anything under a name no symbol was declared with (then
    checked to be an int); for another dim, an int where no symbol has that name and a declared
    symbol has that dim as an axis, or the expression was derived from one holding it (inside a
    composite dim too: the registry lists no dim held only inside a composite one).

    >>> import tensordiff as td
    >>> zero = td.diff(td.sum(td.matrix("X", "n p")) * td.scalar("s"), td.scalar("s"), order=2)
    >>> td.evaluate(zero, n=2, p=3)          # the sizes of f's dims, which the derivative lost
    array(0.)
    """
    if name in program.dims:
        return isinstance(value, numbers.Integral) or declared_dims(name) is None
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and is_plain(name) \
        and declared_dims(name) is None and (next(symbols_with_dim(name), None) is not None
                                             or name in origin_dims(getattr(program, "outputs", ())))


def unknown_name(name, value, program):
    """The EvaluationError for ``value`` under a name that is neither a symbol nor a dim's size."""
    dims = sorted(d for d in program.dims if slice_of(d) is None)
    an_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    hint = "; a dim's size is an int >= 0" if is_plain(name) and not an_int else ""
    lost = _lost_symbols(program)
    derived = f"; derived from {', '.join(f'{n!r} {format_dims(d)}' for n, d in lost)}" if lost else ""
    return EvaluationError(f"value given for {name!r}, which is no symbol of this expression, nor the size of a "
                           f"dim of it or of a declared symbol (got {type(value).__name__}; its symbols: {', '.join(sorted(program.symbols)) or 'none'}"
                           f"{derived}; its dims: {format_dims(dims) if dims else 'none'}{hint})")


def _lost_symbols(program):
    """(name, dims) of each symbol ``program``'s outputs were derived from (td.diff) and no longer hold."""
    outputs = getattr(program, "outputs", ())
    names = sorted({name for expr in outputs for name in _origin_symbols.get(expr, {})} - set(program.symbols))
    return [(name, dims) for name in names if (dims := origin_symbol_dims(name, outputs)) is not None]


def unsized_error(unbound, values, sizes, program):
    """The EvaluationError for dims of ``program`` that no value sizes (``unbound``, sorted), naming
    the symbols that would size them (those the expression was derived from, else declared ones)
    and the sizes by name, since the expression itself may hold no symbol with them
    (td.hessian(r @ r, r) is 2·I of r's dim, without r)."""
    lost = dict(_lost_symbols(program))
    holders = {n: d for n, d in lost.items() if set(d) & set(unbound) and n not in values}
    if not lost:
        for dim in unbound:
            holders.update((n, declared_dims(n) or ()) for n, _ in list(symbols_with_dim(dim))[:2] if n not in values)
    kind = "which it was derived from" if lost else f"declared with {'them' if len(unbound) > 1 else 'it'}"
    symbols = f"a value for {' or '.join(f'{n!r} {format_dims(d)}' for n, d in holders.items())} ({kind}), or " \
        if holders else ""
    taken = [d for d in unbound if d in values]
    hint = (f" ({', '.join(map(repr, taken))} was taken as the value of a symbol of that name, declared "
            "elsewhere: a dim's size is an int >= 0)") if taken else ""
    return EvaluationError(f"the size of dim(s) {', '.join(map(repr, unbound))} is unknown: no value given sizes "
                           f"{'them' if len(unbound) > 1 else 'it'}; pass {symbols}the "
                           f"size{'s' if len(unbound) > 1 else ''} by name ({', '.join(f'{d}=...' for d in unbound)})"
                           f"{hint}" + undetermined_hint(unbound, sizes))


def remember_origin(derivative, expr, wrt):
    """``derivative``, td.diff's result for ``expr`` and ``wrt``, with the plain dims of expr, its
    symbols and wrt (and of what expr was itself derived from) remembered for ``origin_dims``."""
    if derivative is expr:
        return derivative
    dims = set(_origins.get(expr, ()))
    symbols = dict(_origin_symbols.get(expr, {}))
    for node in topological([expr, wrt]):
        if isinstance(node, Var):
            dims.update(base for dim in node.shape for base in base_dims(dim))
            symbols[node.name] = node.dims if symbols.get(node.name, node.dims) == node.dims else None
    dims.update(base for dim in expr.shape for base in base_dims(dim))
    with _origins_lock:
        _origins[derivative] = frozenset(dims | _origins.get(derivative, frozenset()))
        earlier = _origin_symbols.get(derivative, {})
        _origin_symbols[derivative] = {**symbols, **{name: held if symbols.get(name, held) == held else None
                                                     for name, held in earlier.items()}}
    return derivative


def origin_symbol_dims(name, exprs):
    """The dims of the symbol ``name`` that ``exprs`` were derived from (td.diff's memory), or None
    where they were derived from none of that name, or from two of it with other dims: a value for
    a symbol a derivative lost binds to the declaration the derivative was built from, not to the
    name's latest declaration.

    >>> import tensordiff as td
    >>> A = td.matrix("A", "n m")
    >>> ones = td.grad(td.sum(A), A)          # (n, m): it no longer holds A
    >>> B = td.matrix("A", "m n")             # the name declared again, other dims
    >>> origin_symbol_dims("A", [ones])
    ('n', 'm')
    """
    found = set()
    for expr in exprs:
        symbols = _origin_symbols.get(expr)
        if symbols is not None and name in symbols:
            found.add(symbols[name])
    return found.pop() if len(found) == 1 else None


def origin_dims(exprs):
    """The plain dims of what ``exprs`` were derived from (none for an expression td.diff did not make).

    >>> import tensordiff as td
    >>> W, x = td.matrix("W", "k n"), td.vector("x", "n")
    >>> sorted(origin_dims([td.diff(td.sum(W @ x), x, order=2)]))   # a zero (n, n): it lost k
    ['k', 'n']
    """
    dims = set()
    for expr in exprs:
        dims.update(_origins.get(expr, ()))
    return dims


def priced_sizes(sizes, program, what="size"):
    """The sizes of ``program``'s dims among ``sizes`` (by dim name, for td.cost and program.explain):
    a size for a dim of what its outputs were derived from is taken and left out (the one table of
    sizes of a function serves its derivatives); any other name, a sliced or composite dim, or a
    size that is no int >= 0 is an EvaluationError naming it (``indices.check_dim_lengths``).

    >>> import tensordiff as td
    >>> W, x = td.matrix("W", "k n"), td.vector("x", "n")
    >>> zero = td.diff(td.sum(W @ x), x, order=2)
    >>> priced_sizes(dict(n=3, k=4), td.compile(zero))
    {'n': 3}
    """
    lost = origin_dims(getattr(program, "outputs", ())) - program.dims
    check_dim_lengths(sizes, program.dims | lost, what, least=0)
    return {name: size for name, size in sizes.items() if name not in lost}


def priced_table(program, sizes, call):
    """Every dim's size that a price or a plan of ``program`` reads, from ``sizes`` by name
    (``priced_sizes``): sliced dims' from their parents', composite dims' from their parts'. A dim
    left without one is an EvaluationError naming the plain dims to pass, ``call`` ("td.cost(expr, ")
    showing how.

    >>> import tensordiff as td
    >>> table = priced_table(td.compile(td.vec(td.matrix("X", "m n"))), dict(m=2, n=3), "td.cost(expr, ")
    >>> table["n·m"]
    6
    """
    table = priced_sizes(sizes, program)
    bind_selections(program.dims, program.index_checks, table)   # n[2:5] from n
    bind_dim_sizes(program.dims, program.nodes, table)            # n·m from n and m
    missing = [d for d in program.dims - set(table) if slice_of(d) is None]
    plain = sorted({b for d in missing for b in base_dims(d) if b not in table})
    if missing:
        holders = [f"{n!r} {format_dims(d)}" for n, d in _lost_symbols(program) if set(d) & set(plain)]
        whose = f" (dims of {' and '.join(holders)}, which it was derived from)" if holders else ""
        raise EvaluationError(f"no size for dim(s) {', '.join(map(repr, plain or sorted(missing)))}{whose}: pass "
                              f"them as keywords, e.g. {call}{(plain or ['n'])[0]}=100)" + undetermined_hint(plain, table))
    return table


def undetermined_hint(unsized, sizes):
    """Why dims of ``unsized`` are not solved from the sized composite dims that hold them, or ""."""
    notes = []
    for dim in unsized:
        holders = sorted(c for c in sizes if not is_plain(c) and slice_of(c) is None and dim in base_dims(c))
        if holders:
            notes.append(f"{dim!r} occurs only inside {holders[0]!r} (of size {sizes[holders[0]]}), which does not "
                         f"determine it")
    return ("; " + "; ".join(notes) + ": pass it by name (" + f"{unsized[0]}=...)") if notes else ""
