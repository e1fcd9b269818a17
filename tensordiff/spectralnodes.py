"""Node classes of the symmetric eigendecomposition, as numpy's ``eigh``: ``EigVals`` the
eigenvalues of a symmetric (d, d) matrix in ascending order, ``EigVecs`` its orthonormal
eigenvectors, one per column in the same order.

Built by linalgops (``td.eigh``, ``td.eigvalsh``) through simplify's canonical constructors; their
derivative rules are rows of diff.RULES, their steps live in reductionsteps. Interned through
``expr.make`` like every node.
"""

from __future__ import annotations

from .expr import Expr
from .nodekeys import digest

__all__ = ["EigVals", "EigVecs"]

_set = object.__setattr__   # the one way fields are written: by _init, while make builds a node (expr.py)


class _Spectral(Expr):
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


class EigVals(_Spectral):
    """The eigenvalues of a symmetric matrix, ascending: dims (d,)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape[:1]


class EigVecs(_Spectral):
    """The orthonormal eigenvectors of a symmetric matrix as columns, in the eigenvalues' order: (d, d)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape
