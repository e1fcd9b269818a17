"""The symbol registry: the live symbols declared under each name, and the dims each name was last declared with.

A name means the symbol declared last under it while that symbol is alive; one declared again with
other dims or kind is another symbol, and an expression may never hold two symbols of one name.
Parsing and evaluation read here which symbols and dims are known.
"""

from __future__ import annotations

import weakref

from .errors import ShapeError
from .expr import Var, make, store_weakly, topological
from .indices import format_dims


_symbols = weakref.WeakValueDictionary()   # name -> the live symbol declared last under it
_symbol_refs = _symbols.data  # type: ignore[attr-defined]
# The dims each name was last declared with: lets evaluation bind dims from a value whose symbol a
# simplified result no longer holds.
_declared_dims = {}


def describe_symbol(node):
    """``X (n, p)`` or ``S (n, n), symmetric``: a symbol as error messages name it."""
    return f"{node.name!r} {format_dims(node.dims)}" + (", symmetric" if node.symmetric else "")


def symbol(name, dims, symmetric=False):
    """The symbol ``name`` with ``dims``; ``symmetric=True`` makes a symmetric matrix (dims "d d").

    Symbols are values: declaring a name again with the same dims and kind gives the same symbol,
    with other dims a new one (the older keeps its meaning in the expressions that hold it).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ShapeError(f"symbol name must be an identifier, got {name!r}")
    if not isinstance(symmetric, bool):
        raise ShapeError(f"symmetric= of symbol {name!r} must be True or False, got {symmetric!r:.40}")
    if symmetric and (len(dims) != 2 or dims[0] != dims[1]):
        raise ShapeError(f"symmetric symbol {name!r} must be a square matrix with one dim twice (\"n n\"), "
                         f"got dims {format_dims(dims)}")
    node = make(Var, name, dims, True) if symmetric else make(Var, name, dims)
    ref = _symbol_refs.get(name)   # read past WeakValueDictionary.get, as make does
    latest = None if ref is None else ref()
    if latest is not node:
        others = _homonyms.get(name)
        if others is None and latest is not None:   # a second live symbol of the name: track them all
            others = _homonyms[name] = weakref.WeakSet((latest,))
        if others is not None:
            others.add(node)
        store_weakly(_symbols, name, node)
    _declared_dims.pop(name, None)  # re-insert: the order is that of the latest declaration
    _declared_dims[name] = dims
    return node


# Every live symbol declared under a name, kept only for names declared with a second symbol while
# the first was alive (one WeakSet per name would cost most of a long parse of new names): more than
# one means a name declared again with other dims or kind, and only then can an expression mix two
# symbols of one name (check_homonyms).
_homonyms = {}


def _alive(name):
    """The live symbols declared under ``name``."""
    others = _homonyms.get(name)
    if others is not None:
        return list(others)
    node = _symbols.get(name)
    return [] if node is None else [node]


def check_homonyms(*exprs):
    """Refuse expressions that together hold two different symbols of one name (ShapeError).

    Values bind by name, so such a mix could never be evaluated; the check walks the graphs only
    when a shared name has been declared more than once and both declarations are still alive.
    """
    names = set()
    for expr in exprs:
        names |= expr.free
    suspects = {name for name in names if len(_homonyms.get(name, ())) > 1}
    if not suspects:
        return
    seen = {}
    for node in topological(list(exprs)):
        if isinstance(node, Var) and node.name in suspects:
            other = seen.setdefault(node.name, node)
            if other is not node:
                raise ShapeError(f"one expression mixes two different symbols named {node.name!r}: "
                                 f"{describe_symbol(other)} and {describe_symbol(node)} (the name was declared "
                                 "again with other dims or kind; values bind by name, so use one of them)")


def lookup_symbol(name):
    """The live symbol called ``name`` that was declared last, or None."""
    node = _symbols.get(name)
    if node is None:   # the latest declaration is gone: an older one still alive is unambiguous
        alive = _alive(name)
        node = alive[0] if len(alive) == 1 else None
    return node


def symbol_with_dim(dim):
    """(name, axis) of the most recently declared symbol that has ``dim``, or None."""
    return next(symbols_with_dim(dim), None)


def symbols_with_dim(dim):
    """(name, axis) of each symbol declared with ``dim``, the most recently declared first."""
    for name in reversed(list(_declared_dims)):
        dims = _declared_dims[name]
        if dim in dims:
            yield name, dims.index(dim)
    for name, alive in list(_homonyms.items()):   # an older declaration of a name, still alive (the
        # latest declarations' dims are in _declared_dims, so names declared once need no look here)
        for node in list(alive):
            if dim in node.dims:
                yield name, node.dims.index(dim)


def declared_dims(name):
    """The dims of the live symbol ``name``, else those it was last declared with, else None."""
    node = lookup_symbol(name)
    return node.dims if node is not None else _declared_dims.get(name)


def _sized_alike(dims, shape):
    """Whether a value of ``shape`` (None: unknown) can have ``dims``: a dim repeated has one size."""
    sizes = {}
    return shape is None or all(sizes.setdefault(d, n) == n for d, n in zip(dims, shape))


def value_dims(name, among, ndim=None, shape=None):
    """The dims a value for ``name`` has where an expression of dims ``among`` holds no symbol of that
    name (differentiated away, its dims possibly still in the result's shape): the live symbol of
    that name (with ``ndim`` axes, if known) whose dims lie in ``among``; with one declaration, its
    dims; None where several symbols share the name and none fits, so the value sizes nothing here.
    A value's ``shape`` rules out the symbols it cannot be: X of (n, n) for a 3×2 value."""
    alive = {node.dims for node in _alive(name) if ndim is None or len(node.dims) == ndim}
    fitting = {dims for dims in alive if set(dims) <= among and _sized_alike(dims, shape)}
    if len(fitting) == 1:
        return fitting.pop()
    if len(alive) == 1:
        return alive.pop()
    return declared_dims(name) if not alive else None
