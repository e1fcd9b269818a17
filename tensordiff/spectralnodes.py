"""Node classes of the symmetric eigendecomposition, as numpy's ``eigh``: ``EigVals`` the
eigenvalues of a symmetric (d, d) matrix in ascending order, ``EigVecs`` its orthonormal
eigenvectors, one per column in the same order.

Built by linalgops (``td.eigh``, ``td.eigvalsh``) through simplify's canonical constructors; their
derivative rules are rows of diff.RULES, their steps live in reductionsteps. Interned through
``expr.make`` like every node.
"""

from __future__ import annotations

from .expr import MatrixFunction

__all__ = ["EigVals", "EigVecs"]


class EigVals(MatrixFunction):
    """The eigenvalues of a symmetric matrix, ascending: dims (d,)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape[:1]


class EigVecs(MatrixFunction):
    """The orthonormal eigenvectors of a symmetric matrix as columns, in the eigenvalues' order: (d, d)."""

    __slots__ = ()

    @staticmethod
    def _shape(arg):
        return arg.shape
