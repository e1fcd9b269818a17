"""Expression nodes: a small closed set of immutable, interned types.

``Var``      a symbol: a name, dims and a kind (plain or symmetric); a name declared again with
             other dims is another symbol, and one expression never holds two of one name
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
``Max``, ``LogSumExp``, ``Softmax``   reductions and soft maxima of ``arg`` along sorted ``axes``
``Compare``  a 0/1 mask a < b (<=, >, >=, ==); ``Where`` numpy's where; ``Maximum`` elementwise max
``Triangle`` the constant 0/1 matrix of tril/triu; ``Cholesky`` the lower factor of a symmetric matrix

Nodes are built only through ``make`` (or the smart constructors of ``simplify``), which interns
them: structurally equal nodes are the same object, so equality is identity and common
subexpressions are shared. Operators (``+``, ``@``, ...) are attached by ``ops``.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import threading
import weakref
from typing import Any

from .errors import FrozenNodeError, ShapeError, UnsupportedOperation
from .indices import format_dims, sliced_dim
from .operators import Operators

__all__ = ["Expr", "Var", "Einsum", "Add", "Apply", "Inv", "Det", "LogDet", "Solve", "Select", "Take", "make", "symbol",
           "check_homonyms", "describe_symbol", "value_dims",
           "Max", "LogSumExp", "Softmax", "Compare", "Where", "Maximum", "Triangle", "Cholesky"]

_interned = weakref.WeakValueDictionary()
# key -> weak reference (typeshed leaves the attribute out); nothing iterates _interned, so no removal is pending
_interned_refs = _interned.data  # type: ignore[attr-defined]
_intern_lock = threading.Lock()
_symbols = weakref.WeakValueDictionary()   # name -> the live symbol declared last under it
_symbol_refs = _symbols.data  # type: ignore[attr-defined]
# The dims each name was last declared with: lets evaluation bind dims from a value whose symbol a
# simplified result no longer holds.
_declared_dims = {}


def _digest(*parts):
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


@contextlib.contextmanager
def without_cycle_collection():
    """Pause Python's cyclic garbage collector while a large graph is built, then restore it.

    Building allocates container objects by the million and makes no reference cycles, so
    reference counting frees all of it; the collector, triggered by the allocations alone, would
    scan the ever larger heap again and again (a third of the time of a long parse).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_set = object.__setattr__   # the one way fields are written: by _init, while a node is being made
_CACHES = frozenset(("symmetric_cache", "unit_skey_cache"))   # derived from the fields and filled lazily, so writable


class Expr(Operators):
    """A tensordiff expression: an immutable, interned node of an expression graph.

    Expressions are made by the builders (``td.matrix``, ``td.inv``, ...), the operators and
    ``td.parse``, never by calling the node classes. Equal expressions are one object, so ``is``
    compares them and common subexpressions are shared. Operators follow numpy: ``+ - * /`` and
    ``**`` elementwise (a scalar broadcasts), ``@`` the matrix product, ``.T`` the transpose, and
    indexing ``e[i, 1:4]`` selects entries symbolically. Expressions pickle, print as index notation
    (``str``) and render as LaTeX in notebooks; anything that needs an array (``np.asarray``,
    iteration) raises and says what to use instead.

    Attributes
    ----------
    shape : tuple of str
        The dim names of its axes.
    ndim : int
        The number of axes.
    free : frozenset of str
        The names of the symbols it uses.
    T : Expr
        The transpose of a matrix (a vector or scalar unchanged).

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> e = X.T @ y
    >>> e.shape, sorted(e.free)
    (('p',), ['X', 'y'])
    >>> X.T @ y is e
    True
    >>> print(e[0])
    out = Σ_i X[i,0] y[i]
    """

    __slots__ = ("shape", "free", "skey", "symmetric_cache", "__weakref__")
    shape: tuple[str, ...]
    free: frozenset[str]
    skey: str
    symmetric_cache: Any
    __array_priority__ = 1000  # so numpy scalars defer to our operators
    __hash__ = object.__hash__
    _expr_fields = ()   # positions in _fields() that hold a child expression or a tuple of them

    def children(self) -> tuple[Expr, ...]:
        return ()

    @property
    def ndim(self) -> int:
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

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __bool__(self):
        raise TypeError("the truth value of a tensordiff expression is ambiguous; compare with 'is' or evaluate it")


def make(cls, *fields):
    """Return the interned node ``cls(*fields)``; fields are already canonical."""
    key = (cls,) + fields
    ref = _interned_refs.get(key)   # read past WeakValueDictionary.get, a Python-level call per node
    node = None if ref is None else ref()
    if node is None:
        with _intern_lock:   # two threads building the same node must get one node (identity is equality)
            ref = _interned_refs.get(key)
            node = None if ref is None else ref()
            if node is None:
                node = object.__new__(cls)
                _set(node, "symmetric_cache", None)
                node._init(*fields)
                _interned[key] = node
    return node


class Var(Expr):
    """A symbol: a value, identified by its name, dims and kind (``symmetric``), not by its name alone."""

    __slots__ = ("name", "dims", "symmetric")
    name: str
    dims: tuple[str, ...]
    symmetric: bool

    def _init(self, name, dims, symmetric=False):
        _set(self, "name", name)
        _set(self, "dims", dims)
        _set(self, "symmetric", symmetric)
        # what simplify.is_symmetric would find, known now: a square symbol is symmetric when declared so
        _set(self, "symmetric_cache", symmetric if len(dims) == 2 and dims[0] == dims[1] else False)
        _set(self, "shape", dims)
        _set(self, "free", frozenset((name,)))
        _set(self, "skey", _digest("Var", name, dims, "symmetric") if symmetric else _digest("Var", name, dims))

    def _fields(self):
        # a plain symbol keeps the two fields it always had, so make(Var, name, dims) is still that symbol
        return (self.name, self.dims, True) if self.symmetric else (self.name, self.dims)

    def __reduce__(self):
        return (symbol, self._fields())


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
        _symbols[name] = node
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


class Einsum(Expr):
    # unit_skey_cache: the skey of this product with coefficient 1 (simplify fills it when a sum sorts it)
    __slots__ = ("coeff", "operands", "subscripts", "out", "dims", "unit_skey_cache")
    coeff: float
    operands: tuple[Expr, ...]
    subscripts: tuple[tuple[int, ...], ...]
    out: tuple[int, ...]
    dims: tuple[str, ...]   # the dim of each index id
    unit_skey_cache: Any
    _expr_fields = (1,)

    def _init(self, coeff, operands, subs, out, dims):
        _set(self, "unit_skey_cache", None)
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
        _set(self, "skey", einsum_skey(coeff, operands, subs, out, dims))

    def _fields(self):
        return (self.coeff, self.operands, self.subscripts, self.out, self.dims)

    def children(self):
        return self.operands

    @property
    def is_constant(self):
        return not self.operands


def einsum_skey(coeff, operands, subs, out, dims):
    """The structural key of the Einsum node with these fields, whether it is built or not."""
    return _digest("Einsum", coeff, tuple([op.skey for op in operands]), subs, out, dims)


class Add(Expr):
    __slots__ = ("terms",)
    terms: tuple[Expr, ...]
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
    fn: Any   # a functions.Elementwise
    arg: Expr
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
    arg: Expr
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
    matrix: Expr
    rhs: Expr
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
    dim: str
    key: Any   # an int, or (start, stop, step)

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
    arg: Expr
    keys: tuple[Any, ...]
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


# ---------------------------------------------------------------- reductions, soft maxima, masks, cholesky
# (built by ``reductions``; their rules are rows of diff.RULES, their steps live in ``reductionsteps``)

class _AxisNode(Expr):
    """A function of ``arg`` along ``axes`` (sorted axis positions of arg)."""

    __slots__ = ("arg", "axes")
    arg: Expr
    axes: tuple[int, ...]
    _expr_fields = (0,)
    keeps_shape = False

    def _init(self, arg, axes):
        _set(self, "arg", arg)
        _set(self, "axes", axes)
        _set(self, "shape", arg.shape if self.keeps_shape else
             tuple(d for k, d in enumerate(arg.shape) if k not in axes))
        _set(self, "free", arg.free)
        _set(self, "skey", _digest(type(self).__name__, arg.skey, axes))

    def _fields(self):
        return (self.arg, self.axes)

    def children(self):
        return (self.arg,)


class Max(_AxisNode):
    """The largest entry of ``arg`` along ``axes`` (min is -max(-x))."""

    __slots__ = ()


class LogSumExp(_AxisNode):
    """log Σ exp(arg) along ``axes``, evaluated with the max shifted out."""

    __slots__ = ()


class Softmax(_AxisNode):
    """exp(arg - logsumexp(arg)) along ``axes``: the shape of ``arg``."""

    __slots__ = ()
    keeps_shape = True


class Compare(Expr):
    """The 0/1 mask ``a op b`` elementwise (op one of < <= > >= ==); a and b have one shape."""

    __slots__ = ("op", "a", "b")
    op: str
    a: Expr
    b: Expr
    _expr_fields = (1, 2)

    def _init(self, op, a, b):
        _set(self, "op", op)
        _set(self, "a", a)
        _set(self, "b", b)
        _set(self, "shape", a.shape)
        _set(self, "free", a.free | b.free)
        _set(self, "skey", _digest("Compare", op, a.skey, b.skey))

    def _fields(self):
        return (self.op, self.a, self.b)

    def children(self):
        return (self.a, self.b)


class Where(Expr):
    """``a`` where ``mask`` is nonzero, else ``b`` (numpy's where); all three have one shape."""

    __slots__ = ("mask", "a", "b")
    mask: Expr
    a: Expr
    b: Expr
    _expr_fields = (0, 1, 2)

    def _init(self, mask, a, b):
        _set(self, "mask", mask)
        _set(self, "a", a)
        _set(self, "b", b)
        _set(self, "shape", a.shape)
        _set(self, "free", mask.free | a.free | b.free)
        _set(self, "skey", _digest("Where", mask.skey, a.skey, b.skey))

    def _fields(self):
        return (self.mask, self.a, self.b)

    def children(self):
        return (self.mask, self.a, self.b)


class Maximum(Expr):
    """The elementwise larger of ``a`` and ``b`` (one shape); minimum is -maximum(-a, -b)."""

    __slots__ = ("a", "b")
    a: Expr
    b: Expr
    _expr_fields = (0, 1)

    def _init(self, a, b):
        _set(self, "a", a)
        _set(self, "b", b)
        _set(self, "shape", a.shape)
        _set(self, "free", a.free | b.free)
        _set(self, "skey", _digest("Maximum", a.skey, b.skey))

    def _fields(self):
        return (self.a, self.b)

    def children(self):
        return (self.a, self.b)


class Triangle(Expr):
    """The constant 0/1 matrix over (rows, cols) that is 1 where col - row <= k (``lower``) or
    col - row >= k (not ``lower``): numpy's tril/triu of a matrix of ones."""

    __slots__ = ("rows", "cols", "k", "lower")
    rows: str
    cols: str
    k: int
    lower: bool

    def _init(self, rows, cols, k, lower):
        _set(self, "rows", rows)
        _set(self, "cols", cols)
        _set(self, "k", k)
        _set(self, "lower", lower)
        _set(self, "shape", (rows, cols))
        _set(self, "free", frozenset())
        _set(self, "skey", _digest("Triangle", rows, cols, k, lower))

    def _fields(self):
        return (self.rows, self.cols, self.k, self.lower)


class Cholesky(_MatrixFunction):
    """The lower Cholesky factor L (L Lᵀ = arg) of a symmetric positive definite matrix."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape
