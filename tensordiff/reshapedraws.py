"""The random generator's draws of vec, kron, reshape, stack and concatenate (randexpr.py's mixin).

The generator's shapes are made of the dims a and b, so each draw passes through composite dims
and comes back: kron(A, B) @ reshape(E, "a·b") read back as a matrix, vec(X)ᵀ vec(Y), a product
of two concatenations (X₁ Y₁ + X₂ Y₂ by another road), a reduction over a stack, reshape to the
transposed dims. Each comes with its numpy twin (np.kron, .reshape, np.concatenate, np.stack).
"""

import numpy as np

import tensordiff as td

__all__ = ["ReshapeDraws"]


class ReshapeDraws:
    """``reshaping_rules(shape, depth)``: one of the draws above that gives ``shape``."""

    def reshaping_rules(self, shape, depth):
        kinds = ["stack"] + (["concatenate"] if len(shape) <= 2 else [])
        kinds += ["kron"] if len(shape) == 2 else ["vec"] if not shape else []
        kinds += ["reshape"] if len(shape) == 2 else []
        kind = self.pick(kinds)
        if kind == "stack":   # a reduction over the new axis, or one entry of it
            pairs = [self.gen(shape, depth - 1) for _ in range(2 + self.choose(2))]
            exprs, twins = [e for e, _ in pairs], [f for _, f in pairs]
            axis = self.choose(len(shape) + 1)
            stacked = td.stack(exprs, axis=axis)
            if self.choose(2):
                return td.max(stacked, axis=axis), (lambda V: np.max(np.stack([f(V) for f in twins], axis), axis))
            return td.mean(stacked, axis=axis), (lambda V: np.mean(np.stack([f(V) for f in twins], axis), axis))
        if kind == "concatenate":   # [X1, X2] @ [Y1; Y2] joins the inner dims
            left, right = (shape[:1], shape[1:]) if len(shape) == 2 else (shape, ()) if self.choose(2) else ((), shape)
            (x1, f1), (x2, f2) = self.gen(left + ("a",), depth - 1), self.gen(left + ("b",), depth - 1)
            (y1, g1), (y2, g2) = self.gen(("a",) + right, depth - 1), self.gen(("b",) + right, depth - 1)
            joined = td.concatenate([x1, x2], axis=-1) @ td.concatenate([y1, y2], axis=0)
            return joined, (lambda V: np.concatenate([f1(V), f2(V)], axis=-1) @ np.concatenate([g1(V), g2(V)], axis=0))
        if kind == "vec":   # vec(X)ᵀ vec(Y) is tr(Xᵀ Y)
            d1, d2 = self.pick(["a", "b"]), self.pick(["a", "b"])
            (x, f), (y, g) = self.gen((d1, d2), depth - 1), self.gen((d1, d2), depth - 1)
            return td.vec(x) @ td.vec(y), (lambda V: f(V).reshape(-1, order="F") @ g(V).reshape(-1, order="F"))
        rows, cols = shape
        e, f = self.gen(shape, depth - 1)
        if kind == "reshape":   # the entries read in C order into the transposed dims, and back
            flipped = td.reshape(e, (cols, rows))
            s1, s2 = self.gen((cols, rows), depth - 1)
            mixed = td.reshape(flipped * s1, (rows, cols))
            return mixed, (lambda V: (f(V).reshape(f(V).shape[::-1]) * s2(V)).reshape(f(V).shape))
        # kron(A, B) @ vec_C(E), read back as a matrix: A E Bᵀ through the Kronecker product
        (a, fa), (b, fb) = self.gen((rows, rows), depth - 1), self.gen((cols, cols), depth - 1)
        flat = td.reshape(td.kron(a, b) @ td.reshape(e, f"{rows}·{cols}"), (rows, cols))
        return flat, (lambda V: (np.kron(fa(V), fb(V)) @ f(V).reshape(-1)).reshape(f(V).shape))
