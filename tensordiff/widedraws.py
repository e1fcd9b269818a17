"""The random generator's widened draws (randexpr.py's mixin): results over merged dims.

Users differentiate vec(F) and Kronecker products themselves, not only scalars made of them:
d vec(AXB)/dX, the Jacobian of reshape(x, "p·q"), kron(A, B) as a matrix-valued result. So
with ``widened=True`` an example's own shape may be a vector over a merged dim (a·b, b·a) or a
matrix over two of them, and plain shapes are drawn through them (vec(F)ᵀ vec(G), unvec of a
merged vector, a quadratic form in a Kronecker product). Each draw comes with its numpy twin:
vec is column-major (``order="F"``), reshape row-major, kron ``np.kron``.
"""

import numpy as np

import tensordiff as td

__all__ = ["WideDraws", "MERGED_SHAPES", "is_merged"]

AB, BA = "a·b", "b·a"
# the shapes an example may take beyond randexpr.SHAPES when widened
MERGED_SHAPES = [(AB,), (BA,), (AB,), (AB, AB), (BA, AB)]


def is_merged(shape):
    """Whether ``shape`` has a merged dim (the widened draws' shapes)."""
    return any("·" in d for d in shape)


def parts(dim):
    """The plain dims of a merged dim, major first: "a·b" → ("a", "b")."""
    return tuple(dim.split("·"))


class WideDraws:
    """``merged_rules(shape, depth)`` for a shape with merged dims; ``through_merged(shape, depth)``
    for a plain shape drawn through one."""

    def merged_leaf(self, shape):
        S = self.S
        if len(shape) == 1:   # a leaf matrix merged: vec(N) (column-major) or reshape(F, p·q) (row-major)
            if shape == (BA,) and self.choose(2):
                return td.vec(S["N"]), (lambda V: V["N"].reshape(-1, order="F"))
            F, fF = self.leaf(parts(shape[0]))
            return td.reshape(F, shape[0]), (lambda V: fF(V).reshape(-1))
        if shape == (AB, AB):   # kron(M, w w'): products of entries away from 0, so away from 0 (abs, relu)
            return td.kron(S["M"], td.outer(S["w"], S["w"])), (lambda V: np.kron(V["M"], np.outer(V["w"], V["w"])))
        (x, fx), (y, fy) = self.leaf(shape[:1]), self.leaf(shape[1:])   # (b·a, a·b), (a·b, a), ...
        return td.outer(x, y), (lambda V: np.outer(fx(V), fy(V)))

    def merged_outer(self, shape, depth):
        (x, fx), (y, fy) = self.gen(shape[:1], depth - 1), self.gen(shape[1:], depth - 1)
        return td.outer(x, y), (lambda V: np.outer(fx(V), fy(V)))

    def merged_rules(self, shape, depth):
        if len(shape) == 2:
            return self.merged_matrix(shape, depth)
        (dim,) = shape
        major, minor = parts(dim)
        kind = self.pick(["vec", "reshape", "kron_mv", "kron_vectors", "matrix_vector"])
        if kind == "vec":   # vec(F) of F (minor, major): column-major, the minor dim's index varies fastest
            F, fF = self.gen((minor, major), depth - 1)
            return td.vec(F), (lambda V: fF(V).reshape(-1, order="F"))
        if kind == "reshape":
            F, fF = self.gen((major, minor), depth - 1)
            return td.reshape(F, dim), (lambda V: fF(V).reshape(-1))
        if kind == "kron_mv":   # (A ⊗ B) y: the Magnus-Neudecker product, never formed densely
            (A, fA), (B, fB) = self.gen((major, major), depth - 1), self.gen((minor, minor), depth - 1)
            y, fy = self.gen(shape, depth - 1)
            return td.kron(A, B) @ y, (lambda V: np.kron(fA(V), fB(V)) @ fy(V))
        if kind == "kron_vectors":
            (x, fx), (y, fy) = self.gen((major,), depth - 1), self.gen((minor,), depth - 1)
            return td.kron(x, y), (lambda V: np.kron(fx(V), fy(V)))
        K, fK = self.gen((dim, self.pick([AB, BA])), depth - 1)
        y, fy = self.gen(K.shape[1:], depth - 1)
        return K @ y, (lambda V: fK(V) @ fy(V))

    def merged_matrix(self, shape, depth):
        rows, cols = shape
        kind = self.pick(["kron", "outer", "product", "transpose"] if rows == cols else ["outer", "product"])
        if kind == "kron":
            (A, fA), (B, fB) = (self.gen((d, d), depth - 1) for d in parts(rows))
            return td.kron(A, B), (lambda V: np.kron(fA(V), fB(V)))
        if kind == "outer":
            return self.merged_outer(shape, depth)
        if kind == "transpose":
            K, fK = self.gen(shape, depth - 1)
            return K.T, (lambda V: fK(V).T)
        mid = self.pick([AB, BA])
        (K, fK), (L, fL) = self.gen((rows, mid), depth - 1), self.gen((mid, cols), depth - 1)
        return K @ L, (lambda V: fK(V) @ fL(V))

    def through_merged(self, shape, depth):
        """A plain ``shape`` drawn through a merged one: vec(F)ᵀ vec(G), y'Ky, unvec(v), a row of K."""
        dim = self.pick([AB, BA])
        major, minor = parts(dim)
        if not shape:
            if self.choose(2):
                (x, fx), (y, fy) = self.gen((dim,), depth - 1), self.gen((dim,), depth - 1)
                return x @ y, (lambda V: fx(V) @ fy(V))
            (y, fy), (K, fK) = self.gen((dim,), depth - 1), self.gen((dim, dim), depth - 1)
            return y @ K @ y, (lambda V: fy(V) @ fK(V) @ fy(V))
        if len(shape) == 2 and "·" not in "".join(shape):   # unvec: a merged vector read back as a matrix
            rows, cols = shape
            if self.choose(2):
                v, fv = self.gen((f"{rows}·{cols}",), depth - 1)
                return td.reshape(v, (rows, cols)), (lambda V: fv(V).reshape(self.sizes[rows], self.sizes[cols]))
            v, fv = self.gen((f"{cols}·{rows}",), depth - 1)   # vec's inverse: column-major
            return td.reshape(v, (cols, rows)).T, \
                (lambda V: fv(V).reshape(self.sizes[rows], self.sizes[cols], order="F"))
        if len(shape) == 1:   # y' K: a merged matrix's rows summed against a vector, then folded by a sum
            d = shape[0]
            v, fv = self.gen((f"{d}·{'b' if d == 'a' else 'a'}",), depth - 1)
            other = "b" if d == "a" else "a"
            folded = td.sum(td.reshape(v, (d, other)), axis=1)
            return folded, (lambda V: fv(V).reshape(self.sizes[d], self.sizes[other]).sum(axis=1))
        return self.gen(shape, depth - 1)

    def merged_shape_rules(self, shape):
        """The rules that may give a shape with merged dims: elementwise ones, and the draws above."""
        rules = [self.elementwise_binary, self.scalar_broadcast, self.unary, self.power, self.divide,
                 self.abs_relu, self.user_function] + [self.merged_rules] * 5
        if len(shape) == 1:
            rules.append(self.reduction_rules)   # softmax, maximum, where, a mask over a·b
        else:
            rules.append(self.broadcast_binary)
        return rules
