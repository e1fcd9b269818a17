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
``CumSum``, ``Diff``   numpy's cumsum and diff of ``arg`` along one axis
``Compare``  a 0/1 mask a < b (<=, >, >=, ==); ``Where`` numpy's where; ``Maximum`` elementwise max
``Triangle`` the constant 0/1 matrix of tril/triu; ``Cholesky`` the lower factor of a symmetric matrix;
``Pinv``     the Moore–Penrose pseudo-inverse of a matrix ("m n" -> "n m")
(the classes from ``Max`` to ``Triangle`` are in ``reductionnodes``; symbols are declared through ``symboltable``)

Nodes are built only through ``make`` (or the smart constructors of ``einsumnodes``, ``sumnodes`` and
``simplify``), which interns them: structurally equal nodes are the same object, so equality is
identity and common subexpressions are shared. Operators (``+``, ``@``, ...) are attached by ``ops``.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import weakref
from typing import Any

from .errors import FrozenNodeError, UnsupportedOperation
from .indices import format_dims, sliced_dim
from .nodekeys import add_skey, digest, einsum_skey, var_skey
from .operators import Operators

__all__ = ["Expr", "Var", "Einsum", "Add", "Apply", "Inv", "Det", "LogDet", "Solve", "Select", "Take", "make", "Cholesky",
           "Pinv", "MatrixFunction"]

_interned = weakref.WeakValueDictionary()
# key -> weak reference (typeshed leaves the attribute out); nothing iterates _interned, so no removal is pending
_interned_refs = _interned.data  # type: ignore[attr-defined]
_intern_lock = threading.Lock()


class _KeyedRef(weakref.ref):
    """weakref.KeyedRef without its Python-level __new__ and __init__: a weak value of a
    WeakValueDictionary, whose removal callback reads ``key``."""

    __slots__ = ("key",)


def store_weakly(table, key, value):
    """``table[key] = value`` for a WeakValueDictionary, at half the cost of its ``__setitem__`` (one
    store per node made): the same keyed weak reference, made by C calls only."""
    if table._pending_removals:   # only while the table is iterated
        table._commit_removals()
    ref = _KeyedRef(value, table._remove)
    ref.key = key
    table.data[key] = ref


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
                store_weakly(_interned, key, node)
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
        # what einsumnodes.is_symmetric would find, known now: a square symbol is symmetric when declared so
        _set(self, "symmetric_cache", symmetric if len(dims) == 2 and dims[0] == dims[1] else False)
        _set(self, "shape", dims)
        _set(self, "free", frozenset((name,)))
        _set(self, "skey", var_skey(name, dims, symmetric))

    def _fields(self):
        # a plain symbol keeps the two fields it always had, so make(Var, name, dims) is still that symbol
        return (self.name, self.dims, True) if self.symmetric else (self.name, self.dims)

    def __reduce__(self):
        return (symbol, self._fields())


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
        _set(self, "shape", tuple([dims[i] for i in out]))
        _set(self, "free", _free_of(operands))
        _set(self, "skey", einsum_skey(coeff, operands, subs, out, dims))

    def _fields(self):
        return (self.coeff, self.operands, self.subscripts, self.out, self.dims)

    def children(self):
        return self.operands

    @property
    def is_constant(self):
        return not self.operands


def _free_of(operands):
    """The names a product's ``operands`` use: an operand's own set where it holds the others' (a
    transpose, a scaling), so the product adds no set of its own."""
    free = _NO_NAMES
    for op in operands:
        names = op.free
        if not names <= free:
            free = names if free <= names else free | names
    return free


_NO_NAMES: frozenset[str] = frozenset()


class Add(Expr):
    __slots__ = ("terms",)
    terms: tuple[Expr, ...]
    _expr_fields = (0,)

    def _init(self, terms):
        _set(self, "terms", terms)
        _set(self, "shape", terms[0].shape)
        _set(self, "free", frozenset().union(*[t.free for t in terms]))
        _set(self, "skey", add_skey(terms))

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
        _set(self, "skey", digest("Apply", fn.key, arg.skey))

    def _fields(self):
        return (self.fn, self.arg)

    def children(self):
        return (self.arg,)


class MatrixFunction(Expr):
    """A function of one matrix ``arg``; a subclass gives its shape from arg's (``_shape``)."""

    __slots__ = ("arg",)
    arg: Expr
    _expr_fields = (0,)

    def _init(self, arg):
        _set(self, "arg", arg)
        _set(self, "shape", self._shape(arg))
        _set(self, "free", arg.free)
        _set(self, "skey", digest(type(self).__name__, arg.skey))

    def _fields(self):
        return (self.arg,)

    def children(self):
        return (self.arg,)


class Inv(MatrixFunction):
    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape


class Det(MatrixFunction):
    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return ()


class LogDet(MatrixFunction):
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
        _set(self, "skey", digest("Solve", matrix.skey, rhs.skey))

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
        _set(self, "skey", digest("Select", dim, key))

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
        _set(self, "skey", digest("Take", arg.skey, keys))

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


# ---------------------------------------------------------------- cholesky
# (built by ``reductions``; the other reductions' nodes are in ``reductionnodes``)


class Cholesky(MatrixFunction):
    """The lower Cholesky factor L (L Lᵀ = arg) of a symmetric positive definite matrix."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape


class Pinv(MatrixFunction):
    """The Moore–Penrose pseudo-inverse of a matrix (numpy's pinv): dims (m, n) give (n, m)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape[::-1]


# the symbol registry builds Var nodes, and pickled symbols are declared again through it
from .symboltable import symbol  # noqa: E402
