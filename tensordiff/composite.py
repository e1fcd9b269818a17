"""The nodes of composite dims: constant 0/1 tensors that merge, embed and rename axes.

vec, kron, reshape and concatenate are contractions with these constants, so their derivatives
are the einsum rule's and never a reshaped copy of a delta:

``Merge(parts)``     R[c, a1..ak] = 1 where c is (a1..ak) in numpy's C order; c has the merged dim
                     "a1·...·ak" (indices.merged_dim). Parts are never merged dims themselves.
``Embed(parts, k)``  E[c, a] = 1 where c = size(parts[0]) + ... + size(parts[k-1]) + a; c has
                     the concatenated dim "p0+p1+..." (indices.concat_dim). Parts are never sums.
``Reinterpret(source, target)``  I[t, s] = 1 where t = s: one flat index read through two dims
                     of equal size (reshape to new dim names); the sizes are checked at evaluation.

``structure_pair`` is the index algebra's one rule for them: two copies of one constant that
share an index summed nowhere else contract to deltas on their other indices (RᵀR = I, EⱼᵀEₖ =
δⱼₖ I), which is how kron(Bᵀ, A) @ vec(X) becomes A X B without a Kronecker product.
Evaluation never builds them (reshapesteps.py turns them into reshapes, slices and pads);
``Reshape``, ``Part`` and ``Place`` are the nodes it plans with.
"""

import hashlib

from .expr import Expr, make
from .indices import concat_dim, index_uses, merged_dim

__all__ = ["Merge", "Embed", "Reinterpret", "Reshape", "Part", "Place", "STRUCTURES", "structure_pair",
           "REBUILD", "merge", "embed", "reinterpret"]

_set = object.__setattr__   # nodes are written only while make() builds them


def _digest(*parts):
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


class _Constant(Expr):
    __slots__ = ()

    def _finish(self, shape, *key):
        _set(self, "shape", shape)
        _set(self, "free", frozenset())
        _set(self, "skey", _digest(type(self).__name__, *key))


class Merge(_Constant):
    """R[c, a1..ak]: 1 where c enumerates (a1..ak) in C order (the last part fastest)."""

    __slots__ = ("parts",)

    def _init(self, parts):
        _set(self, "parts", parts)
        self._finish((merged_dim(parts),) + parts, parts)

    def _fields(self):
        return (self.parts,)


class Embed(_Constant):
    """E[c, a]: part ``k`` of a concatenation of axes of dims ``parts``, placed at its offset."""

    __slots__ = ("parts", "k")

    def _init(self, parts, k):
        _set(self, "parts", parts)
        _set(self, "k", k)
        self._finish((concat_dim(parts), parts[k]), parts, k)

    def _fields(self):
        return (self.parts, self.k)


class Reinterpret(_Constant):
    """I[t, s]: the identity between two dims of one size (``target``, ``source``)."""

    __slots__ = ("source", "target")

    def _init(self, source, target):
        _set(self, "source", source)
        _set(self, "target", target)
        self._finish((target, source), source, target)

    def _fields(self):
        return (self.source, self.target)


STRUCTURES = (Merge, Embed, Reinterpret)


def merge(parts):
    return make(Merge, tuple(parts))


def embed(parts, k):
    return make(Embed, tuple(parts), int(k))


def reinterpret(source, target):
    return make(Reinterpret, source, target)


# ---------------------------------------------------------------- the index algebra's rule

def structure_pair(ops, subs, out):
    """A structure constant that is a factor 1, or two equal ones that meet, as deltas.

    Each is a bijection between its leading index and its trailing ones, so summed over one side
    where nothing else holds it, it is 1 (an embedding: only over its leading side); R[c, P] R[c, Q]
    is R[c, P] δ[P, Q], and summed over c where nothing else holds it, just δ[P, Q] (RᵀR = I); two
    different parts of one concatenation sharing c are 0. Returns None, or (positions of the
    operands dropped, [(index, index) to unify] or None for 0, indices summed away). One or two
    operands fewer, so rebuilding terminates.
    """
    present = [k for k, op in enumerate(ops) if isinstance(op, STRUCTURES) and len(set(subs[k])) == len(subs[k])]
    if not present:   # the common case, checked first: every product is built through here
        return None
    count = index_uses(subs, out)
    for k in present:   # Σ_c R[c, P] = 1 for every P (and Σ_P R[c, P] = 1 for every c): a factor 1
        sub = subs[k]
        if count[sub[0]] == 1:
            return (k,), [], sub[:1]
        if not isinstance(ops[k], Embed) and all(count[i] == 1 for i in sub[1:]):
            return (k,), [], sub[1:]
    for n, k in enumerate(present):
        op, sub = ops[k], subs[k]
        for m in present[n + 1:]:
            other, other_sub = ops[m], subs[m]
            if type(other) is not type(op):
                continue
            if isinstance(op, Embed):
                if op.parts != other.parts:
                    continue
            elif other is not op:
                continue
            if sub[0] == other_sub[0] and sub[0] not in sub[1:] + other_sub[1:]:
                if isinstance(op, Embed) and op.k != other.k:
                    return (k, m), None, ()
                unions = list(zip(sub[1:], other_sub[1:]))
                return ((k, m), unions, sub[:1]) if count[sub[0]] == 2 else ((m,), unions, ())
            if not isinstance(op, Embed) and sub[1:] == other_sub[1:] and sub[0] != other_sub[0] \
                    and sub[0] not in sub[1:] and other_sub[0] not in sub[1:]:
                summed = all(count[i] == 2 for i in sub[1:])
                return ((k, m), [(sub[0], other_sub[0])], sub[1:]) if summed else ((m,), [(sub[0], other_sub[0])], ())
    return None


# ---------------------------------------------------------------- nodes made by evaluation planning

class Reshape(Expr):
    """``arg`` read in C order with the dims ``shape`` (the same number of entries): a view."""

    __slots__ = ("arg",)
    _expr_fields: tuple = (0,)

    def _init(self, arg, shape):
        _set(self, "arg", arg)
        _set(self, "shape", shape)
        _set(self, "free", arg.free)
        _set(self, "skey", _digest("Reshape", arg.skey, shape))

    def _fields(self):
        return (self.arg, self.shape)

    def children(self):
        return (self.arg,)


class _AlongAxis(Expr):
    __slots__ = ("arg", "axis", "parts", "k")
    _expr_fields: tuple = (0,)

    def _init(self, arg, axis, parts, k):
        _set(self, "arg", arg)
        _set(self, "axis", axis)
        _set(self, "parts", parts)
        _set(self, "k", k)
        new = parts[k] if self.slices else concat_dim(parts)
        _set(self, "shape", arg.shape[:axis] + (new,) + arg.shape[axis + 1:])
        _set(self, "free", arg.free)
        _set(self, "skey", _digest(type(self).__name__, arg.skey, axis, parts, k))

    def _fields(self):
        return (self.arg, self.axis, self.parts, self.k)

    def children(self):
        return (self.arg,)


class Part(_AlongAxis):
    """Part ``k`` of the concatenated axis ``axis`` of ``arg``: a slice (a view)."""

    __slots__ = ()
    slices = True


class Place(_AlongAxis):
    """``arg`` placed as part ``k`` of a concatenated axis, zero elsewhere."""

    __slots__ = ()
    slices = False


REBUILD = {
    Merge: lambda node, new: node,
    Embed: lambda node, new: node,
    Reinterpret: lambda node, new: node,
    Reshape: lambda node, new: make(Reshape, new[node.arg], node.shape),
    Part: lambda node, new: make(Part, new[node.arg], node.axis, node.parts, node.k),
    Place: lambda node, new: make(Place, new[node.arg], node.axis, node.parts, node.k),
}
