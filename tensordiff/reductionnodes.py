"""Node classes of the reductions, soft maxima, running sums and differences, masks and triangles.

They are built by ``reductions`` and ``comparisons``; their rules are rows of diff.RULES, their steps
live in ``reductionsteps``. Interned through ``expr.make`` like every node.
"""

from __future__ import annotations

from .expr import Expr
from .indices import sliced_dim
from .nodekeys import digest

_set = object.__setattr__   # the one way fields are written: by _init, while make builds a node (expr.py)


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
        _set(self, "skey", digest(type(self).__name__, arg.skey, axes))

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


class CumSum(_AxisNode):
    """The running sums of ``arg`` along its one axis in ``axes`` (numpy's cumsum): arg's shape."""

    __slots__ = ()
    keeps_shape = True


class Diff(_AxisNode):
    """arg[k+1] - arg[k] along its one axis in ``axes`` (numpy's diff): that axis's dim d becomes
    d[1:], one shorter, the dim of arg[1:]."""

    __slots__ = ()
    keeps_shape = True   # its axis stays where it was

    def _init(self, arg, axes):
        super()._init(arg, axes)
        (axis,) = axes
        _set(self, "shape", arg.shape[:axis] + (sliced_dim(arg.shape[axis], (1, None, 1)),) + arg.shape[axis + 1:])


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
        _set(self, "skey", digest("Compare", op, a.skey, b.skey))

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
        _set(self, "skey", digest("Where", mask.skey, a.skey, b.skey))

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
        _set(self, "skey", digest("Maximum", a.skey, b.skey))

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
        _set(self, "skey", digest("Triangle", rows, cols, k, lower))

    def _fields(self):
        return (self.rows, self.cols, self.k, self.lower)
