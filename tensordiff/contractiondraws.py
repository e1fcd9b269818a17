"""The random generator's draws of a result of each order (randexpr.py's mixin).

A scalar, vector, matrix or the order-3 tensor (dims a b b) is drawn as a product, trace, sum,
norm, determinant, solve, outer product or einsum of smaller random operands: dot products and
quadratic forms in an inverse, matrix-vector and matrix products, diagonals, transposes and
contractions through the order-3 tensor. Each comes with its numpy twin (np.einsum, np.linalg).
"""

import numpy as np

import tensordiff as td

__all__ = ["ContractionDraws"]


class ContractionDraws:
    """``scalar_rules``, ``vector_rules``, ``matrix_rules`` and ``tensor_rules`` ``(shape, depth)``: one of
    the draws above that gives ``shape``."""

    def scalar_rules(self, shape, depth):
        d = self.pick(["a", "b"])
        kind = self.pick(["dot", "trace", "sum", "norm", "det", "logdet", "quad", "einsum", "det", "logdet",
                          "tensor"])
        if kind == "dot":
            (e1, f1), (e2, f2) = self.gen((d,), depth - 1), self.gen((d,), depth - 1)
            return e1 @ e2, (lambda V: f1(V) @ f2(V))
        if kind == "trace":
            e, f = self.gen((d, d), depth - 1)
            return td.trace(e), (lambda V: np.trace(f(V)))
        if kind == "sum":
            e, f = self.gen(self.pick([(d,), (d, "a"), ("b", d), ("a", "b", "b")]), depth - 1)
            return td.sum(e), (lambda V: np.sum(f(V)))
        if kind == "norm":
            if self.choose(3) == 0:   # ord=1: |x| has a kink at 0, so a symbol, whose values are away from it
                e, f = self.leaf(self.pick([(d,), (d, "b")]))
                return td.norm(e, ord=1), (lambda V: np.sum(np.abs(f(V))))
            e, f = self.pos(self.gen(self.pick([(d,), (d, "b")]), depth - 1))
            return td.norm(e), (lambda V: np.sqrt(np.sum(f(V) ** 2)))
        if kind in ("det", "logdet"):
            e, f = self.spd(d, depth - 1)
            if kind == "det":
                return td.det(e), (lambda V: np.linalg.det(f(V)))
            return td.logdet(e), (lambda V: np.linalg.slogdet(f(V))[1])
        if kind == "quad":
            (x, fx), (A, fA) = self.gen((d,), depth - 1), self.spd(d, depth - 1)
            return x @ td.inv(A) @ x, (lambda V: fx(V) @ np.linalg.solve(fA(V), fx(V)))
        if kind == "tensor":
            (A, fA), (x, fx) = self.gen(("a", "b", "b"), depth - 1), self.gen(("b",), depth - 1)
            return td.einsum("ijk,j,k->", A, x, x), (lambda V: np.einsum("ijk,j,k->", fA(V), fx(V), fx(V)))
        (A, fA), (x, fx) = self.gen((d, "b"), depth - 1), self.gen(("b",), depth - 1)
        (y, fy) = self.gen((d,), depth - 1)
        return td.einsum("i,ij,j->", y, A, x), (lambda V: np.einsum("i,ij,j->", fy(V), fA(V), fx(V)))

    def vector_rules(self, shape, depth):
        (d,) = shape
        e2 = self.pick(["a", "b"])
        kind = self.pick(["mv", "vm", "diagonal", "sum", "solve", "einsum", "tensor"])
        if kind == "mv":
            (A, fA), (x, fx) = self.gen((d, e2), depth - 1), self.gen((e2,), depth - 1)
            return A @ x, (lambda V: fA(V) @ fx(V))
        if kind == "vm":
            (x, fx), (A, fA) = self.gen((e2,), depth - 1), self.gen((e2, d), depth - 1)
            return x @ A, (lambda V: fx(V) @ fA(V))
        if kind == "diagonal":
            A, fA = self.gen((d, d), depth - 1)
            return td.diagonal(A), (lambda V: np.diagonal(fA(V)).copy())
        if kind == "sum":
            if self.choose(2):
                A, fA = self.gen((d, e2), depth - 1)
                return td.sum(A, axis=1), (lambda V: fA(V).sum(axis=1))
            A, fA = self.gen((e2, d), depth - 1)
            return td.sum(A, axis=-2), (lambda V: fA(V).sum(axis=-2))
        if kind == "solve":
            (A, fA), (x, fx) = self.spd(d, depth - 1), self.gen((d,), depth - 1)
            return td.inv(A) @ x, (lambda V: np.linalg.solve(fA(V), fx(V)))
        if kind == "einsum":
            (A, fA), (x, fx) = self.gen((d, e2), depth - 1), self.gen((e2,), depth - 1)
            return td.einsum("ij,j->i", A, x), (lambda V: np.einsum("ij,j->i", fA(V), fx(V)))
        T, fT = self.gen(("a", "b", "b"), depth - 1)
        if d == "a":
            (x, fx) = self.gen(("b",), depth - 1)
            return td.einsum("ijk,k->i", T, x), (lambda V: np.einsum("ijk,k->i", fT(V), fx(V)))
        (x, fx) = self.gen(("a",), depth - 1)
        return td.einsum("ijk,i->k", T, x), (lambda V: np.einsum("ijk,i->k", fT(V), fx(V)))

    def matrix_rules(self, shape, depth):
        d1, d2 = shape
        mid = self.pick(["a", "b"])
        kinds = ["mm", "T", "outer", "tensor"]
        if d1 == d2:
            kinds += ["diag", "inv", "inv_mm"]
        kind = self.pick(kinds)
        if kind == "mm":
            (A, fA), (B, fB) = self.gen((d1, mid), depth - 1), self.gen((mid, d2), depth - 1)
            return A @ B, (lambda V: fA(V) @ fB(V))
        if kind == "T":
            A, fA = self.gen((d2, d1), depth - 1)
            return A.T, (lambda V: fA(V).T)
        if kind == "outer":
            (x, fx), (y, fy) = self.gen((d1,), depth - 1), self.gen((d2,), depth - 1)
            return td.outer(x, y), (lambda V: np.outer(fx(V), fy(V)))
        if kind == "diag":
            x, fx = self.gen((d1,), depth - 1)
            return td.diag(x), (lambda V: np.diag(fx(V)))
        if kind == "inv":
            A, fA = self.spd(d1, depth - 1)
            return td.inv(A), (lambda V: np.linalg.inv(fA(V)))
        if kind == "inv_mm":
            (A, fA), (B, fB) = self.spd(d1, depth - 1), self.gen((d1, d2), depth - 1)
            return td.inv(A) @ B, (lambda V: np.linalg.solve(fA(V), fB(V)))
        # through an order-3 tensor (a b b): contract or sum an axis
        T, fT = self.gen(("a", "b", "b"), depth - 1)
        if shape == ("b", "b"):
            x, fx = self.gen(("a",), depth - 1)
            return td.einsum("ijk,i->jk", T, x), (lambda V: np.einsum("ijk,i->jk", fT(V), fx(V)))
        if shape == ("a", "b"):
            axis = int(self.pick([1, 2]))
            return td.sum(T, axis=axis), (lambda V: fT(V).sum(axis=axis))
        if shape == ("b", "a"):
            x, fx = self.gen(("b",), depth - 1)
            return td.einsum("ijk,j->ki", T, x), (lambda V: np.einsum("ijk,j->ki", fT(V), fx(V)))
        (x, fx), (N, fN) = self.gen(("b",), depth - 1), self.gen(("a", "b"), depth - 1)
        return td.einsum("ijk,k,lj->il", T, x, N), (lambda V: np.einsum("ijk,k,lj->il", fT(V), fx(V), fN(V)))

    def tensor_rules(self, shape, depth):
        kind = self.pick(["outer", "contract", "scale", "permute", "mixed"])
        if kind == "outer":
            (A, fA), (x, fx) = self.gen(("a", "b"), depth - 1), self.gen(("b",), depth - 1)
            return td.outer(A, x), (lambda V: np.einsum("ij,k->ijk", fA(V), fx(V)))
        T, fT = self.gen(shape, depth - 1)
        if kind == "contract":
            B, fB = self.gen(("b", "b"), depth - 1)
            return td.einsum("ijk,kl->ijl", T, B), (lambda V: np.einsum("ijk,kl->ijl", fT(V), fB(V)))
        if kind == "scale":
            x, fx = self.gen(("a",), depth - 1)
            return td.einsum("ijk,i->ijk", T, x), (lambda V: np.einsum("ijk,i->ijk", fT(V), fx(V)))
        if kind == "permute":
            return td.einsum("ijk->ikj", T), (lambda V: np.einsum("ijk->ikj", fT(V)))
        (A, fA), (B, fB) = self.gen(("a", "a"), depth - 1), self.gen(("b", "b"), depth - 1)
        return td.einsum("li,ijk,jk->ljk", A, T, B), (lambda V: np.einsum("li,ijk,jk->ljk", fA(V), fT(V), fB(V)))
