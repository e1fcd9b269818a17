"""Expression nodes: a small closed set of immutable, interned types.

``Var``      a named symbol with dims
``Einsum``   coeff · contraction of operands; the core node. Index ids are local ints; an index
             repeated in ``out`` is a Kronecker delta kept in the output, an ``out`` index that
             no operand has is a broadcast (constant along it), an index used nowhere contributes
             the factor size(dim). Constants and zeros are Einsums without operands.
``Add``      a sum of terms of one shape
``Apply``    an elementwise function of a tensor
``Inv``, ``Det``, ``LogDet``   matrix functions of a square matrix ("d d")
``Select``   a constant 0/1 selection over one dim: for an int key the one-hot vector e[dim], for
             a slice key (start, stop, step) the matrix S[dim[start:stop:step], dim]; indexing
             contracts expressions with these, so simplification pushes them into every term
``Solve``    inv(A) @ B, introduced only when planning an evaluation
``Take``     numpy basic indexing of a tensor, introduced only when planning an evaluation

Nodes are built only through ``make`` (or the smart constructors of ``simplify``), which interns
them: structurally equal nodes are the same object, so equality is identity and common
subexpressions are shared. Operators (``+``, ``@``, ...) are attached by ``ops``.
"""

import gc
import hashlib
import threading
import weakref

from .errors import FrozenNodeError, ShapeError, UnsupportedOperation
from .indices import format_dims, sliced_dim

__all__ = ["Expr", "Var", "Einsum", "Add", "Apply", "Inv", "Det", "LogDet", "Solve", "Select", "Take", "make", "symbol"]

_interned = weakref.WeakValueDictionary()
_intern_lock = threading.Lock()
_symbols = weakref.WeakValueDictionary()
# The dims each name was last declared with. Conflicts are checked only against live symbols (a
# name is free again once its symbol is gone); this memory only lets evaluation bind dims from a
# value whose symbol a simplified result no longer holds.
_declared_dims = {}


def _digest(*parts):
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


_set = object.__setattr__   # the one way fields are written: by _init, while a node is being made
_CACHES = frozenset(("symmetric_cache",))   # derived from the fields and filled lazily, so writable


class Expr:
    """Base of all nodes. ``shape`` is a tuple of dim names; ``free`` the names of the symbols used.

    >>> e = td.matrix("X", "n p").T @ td.vector("y", "n")
    >>> e.shape, e.free                     # (('p',), frozenset({'X', 'y'}))
    """

    __slots__ = ("shape", "free", "skey", "symmetric_cache", "__weakref__")
    __array_priority__ = 1000  # so numpy scalars defer to our operators
    __hash__ = object.__hash__
    _expr_fields = ()   # positions in _fields() that hold a child expression or a tuple of them

    def children(self):
        return ()

    @property
    def ndim(self):
        return len(self.shape)

    def __reduce__(self):
        return (_unflatten, (_flatten(self),))

    def __setattr__(self, name, value):
        if name not in _CACHES:
            raise FrozenNodeError(f"tensordiff expressions are immutable: cannot set {name!r} of a "
                                  f"{type(self).__name__} (equal expressions are one shared object); build a new "
                                  "expression instead")
        _set(self, name, value)

    def __delattr__(self, name):
        raise FrozenNodeError(f"tensordiff expressions are immutable: cannot delete {name!r} of a "
                              f"{type(self).__name__}")

    def __iter__(self):
        # Without this, Python would iterate through __getitem__ with 0, 1, 2, ... forever: symbolic
        # indexing has no length to stop at.
        raise UnsupportedOperation(f"a tensordiff expression of shape {format_dims(self.shape)} cannot be "
                                   "iterated (its dims have no size until evaluation): index it (x[0], X[:, 1]) "
                                   "or reduce it with td.sum")

    def __contains__(self, item):
        self.__iter__()   # raises: membership would iterate

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def __bool__(self):
        raise TypeError("the truth value of a tensordiff expression is ambiguous; compare with 'is' or evaluate it")


def make(cls, *fields):
    """Return the interned node ``cls(*fields)``; fields are already canonical."""
    key = (cls,) + fields
    node = _interned.get(key)
    if node is None:
        with _intern_lock:   # two threads building the same node must get one node (identity is equality)
            node = _interned.get(key)
            if node is None:
                node = object.__new__(cls)
                _set(node, "symmetric_cache", None)
                node._init(*fields)
                _interned[key] = node
    return node


class Var(Expr):
    __slots__ = ("name", "dims")

    def _init(self, name, dims):
        _set(self, "name", name)
        _set(self, "dims", dims)
        _set(self, "shape", dims)
        _set(self, "free", frozenset((name,)))
        _set(self, "skey", _digest("Var", name, dims))

    def _fields(self):
        return (self.name, self.dims)

    def __reduce__(self):
        return (symbol, (self.name, self.dims))


def symbol(name, dims):
    """The symbol ``name`` with ``dims``; a name already in use with other dims is a ShapeError."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ShapeError(f"symbol name must be an identifier, got {name!r}")
    existing = _symbols.get(name)
    if existing is not None and existing.dims != dims:
        del existing
        gc.collect()   # the old symbol may be garbage kept only by reference cycles not yet collected
        existing = _symbols.get(name)
    if existing is not None and existing.dims != dims:
        raise ShapeError(f"symbol {name!r} is already declared with dims {format_dims(existing.dims)}, "
                         f"not {format_dims(dims)}")
    node = make(Var, name, dims)
    _symbols[name] = node
    _declared_dims.pop(name, None)  # re-insert: the order is that of the latest declaration
    _declared_dims[name] = dims
    return node


def lookup_symbol(name):
    """The live symbol called ``name``, or None."""
    return _symbols.get(name)


def symbol_with_dim(dim):
    """(name, axis) of the most recently declared symbol that has ``dim``, or None."""
    for name in reversed(list(_declared_dims)):
        dims = _declared_dims[name]
        if dim in dims:
            return name, dims.index(dim)
    return None


def declared_dims(name):
    """The dims of the live symbol ``name``, else those it was last declared with, else None."""
    node = _symbols.get(name)
    return node.dims if node is not None else _declared_dims.get(name)


class Einsum(Expr):
    __slots__ = ("coeff", "operands", "subscripts", "out", "dims")
    _expr_fields = (1,)

    def _init(self, coeff, operands, subs, out, dims):
        _set(self, "coeff", coeff)
        _set(self, "operands", operands)
        _set(self, "subscripts", subs)
        _set(self, "out", out)
        _set(self, "dims", dims)
        _set(self, "shape", tuple(dims[i] for i in out))
        free = frozenset()
        for op in operands:
            free |= op.free
        _set(self, "free", free)
        _set(self, "skey", _digest("Einsum", coeff, tuple(op.skey for op in operands), subs, out, dims))

    def _fields(self):
        return (self.coeff, self.operands, self.subscripts, self.out, self.dims)

    def children(self):
        return self.operands

    @property
    def is_constant(self):
        return not self.operands


class Add(Expr):
    __slots__ = ("terms",)
    _expr_fields = (0,)

    def _init(self, terms):
        _set(self, "terms", terms)
        _set(self, "shape", terms[0].shape)
        _set(self, "free", frozenset().union(*(t.free for t in terms)))
        _set(self, "skey", _digest("Add", tuple(t.skey for t in terms)))

    def _fields(self):
        return (self.terms,)

    def children(self):
        return self.terms


class Apply(Expr):
    """``fn`` applied elementwise; ``fn`` is a ``functions.Elementwise``."""

    __slots__ = ("fn", "arg")
    _expr_fields = (1,)

    def _init(self, fn, arg):
        _set(self, "fn", fn)
        _set(self, "arg", arg)
        _set(self, "shape", arg.shape)
        _set(self, "free", arg.free)
        _set(self, "skey", _digest("Apply", fn.key, arg.skey))

    def _fields(self):
        return (self.fn, self.arg)

    def children(self):
        return (self.arg,)


class _MatrixFunction(Expr):
    __slots__ = ("arg",)
    _expr_fields = (0,)

    def _init(self, arg):
        _set(self, "arg", arg)
        _set(self, "shape", self._shape(arg))
        _set(self, "free", arg.free)
        _set(self, "skey", _digest(type(self).__name__, arg.skey))

    def _fields(self):
        return (self.arg,)

    def children(self):
        return (self.arg,)


class Inv(_MatrixFunction):
    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape


class Det(_MatrixFunction):
    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return ()


class LogDet(_MatrixFunction):
    """log |det A| (the log of the absolute value, as numpy's slogdet)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return ()


class Solve(Expr):
    """inv(A) applied to B along B's first axis; made only by evaluation planning, never differentiated."""

    __slots__ = ("matrix", "rhs")
    _expr_fields = (0, 1)

    def _init(self, matrix, rhs):
        _set(self, "matrix", matrix)
        _set(self, "rhs", rhs)
        _set(self, "shape", matrix.shape[:1] + rhs.shape[1:])
        _set(self, "free", matrix.free | rhs.free)
        _set(self, "skey", _digest("Solve", matrix.skey, rhs.skey))

    def _fields(self):
        return (self.matrix, self.rhs)

    def children(self):
        return (self.matrix, self.rhs)


class Select(Expr):
    """The selection ``key`` of ``dim``: an int (the one-hot e[dim], maybe negative) or a slice
    (start, stop, step) (S[new, dim] = 1 where dim = range(size)[start:stop:step][new])."""

    __slots__ = ("dim", "key")

    def _init(self, dim, key):
        _set(self, "dim", dim)
        _set(self, "key", key)
        _set(self, "shape", (dim,) if isinstance(key, int) else (sliced_dim(dim, key), dim))
        _set(self, "free", frozenset())
        _set(self, "skey", _digest("Select", dim, key))

    def _fields(self):
        return (self.dim, self.key)


class Take(Expr):
    """``arg[keys]`` with one key per axis: None (the whole axis), an int, or (start, stop, step)."""

    __slots__ = ("arg", "keys")
    _expr_fields = (0,)

    def _init(self, arg, keys):
        _set(self, "arg", arg)
        _set(self, "keys", keys)
        _set(self, "shape", tuple(dim if key is None else sliced_dim(dim, key)
                                   for dim, key in zip(arg.shape, keys) if not isinstance(key, int)))
        _set(self, "free", arg.free)
        _set(self, "skey", _digest("Take", arg.skey, keys))

    def _fields(self):
        return (self.arg, self.keys)

    def children(self):
        return (self.arg,)


def topological(roots, skip=None, children=None):
    """All nodes reachable from ``roots``, children before parents, without recursion.

    Children for which ``skip(child)`` is true are left out, with everything only they reach.
    ``children(node)``, if given, replaces ``node.children()`` (evaluation plans reroute sums).
    """
    children = children or _own_children
    order, seen = [], set()
    for root in roots:
        if root in seen:
            continue
        stack = [(root, iter(children(root)))]
        seen.add(root)
        while stack:
            node, it = stack[-1]
            for child in it:
                if child not in seen and not (skip and skip(child)):
                    seen.add(child)
                    stack.append((child, iter(children(child))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _own_children(node):
    return node.children()


def _flatten(root):
    """The DAG below ``root`` as records (type, fields), children first, a child given by its record's
    position: pickling this list needs no recursion, however deep the expression."""
    nodes = topological([root])
    position = {node: k for k, node in enumerate(nodes)}
    records = []
    for node in nodes:
        fields = list(node._fields())
        for f in node._expr_fields:
            child = fields[f]
            fields[f] = position[child] if isinstance(child, Expr) else tuple(position[c] for c in child)
        records.append((type(node), tuple(fields)))
    return records


def _unflatten(records):
    """The node ``_flatten`` recorded last, rebuilt through the interning constructors."""
    nodes = []
    for cls, fields in records:
        if cls is Var:
            nodes.append(symbol(*fields))
            continue
        fields = list(fields)
        for f in cls._expr_fields:
            ref = fields[f]
            fields[f] = nodes[ref] if isinstance(ref, int) else tuple(nodes[k] for k in ref)
        nodes.append(make(cls, *fields))
    return nodes[-1]
