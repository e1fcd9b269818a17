"""Builders for vec, kron, reshape, stack and concatenate, through composite dims.

Each is one contraction with the constants of ``composite`` (merges and embeddings), so its
derivative at any order comes from the einsum rule, and the simplifier splits a merged index
into its parts wherever two merges meet: ``kron(B.T, A) @ vec(X)`` is ``vec(A @ X @ B)``, the
same node. A merged axis has the dim "q·m" (C order, the last part fastest); vec is column-major,
so ``vec(X)`` of X (m, n) has the dim "n·m". A concatenated axis has the dim "n+m"; a stack's new
axis has the dim "k" for k operands. docs/operations/reshaping.md states the conventions.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from .broadcasting import UNIT, parse_unit_dims
from .composite import embed, merge, reinterpret
from .errors import ShapeError
from .expr import Select, Var, make
from .indices import atoms, concat_dim, concat_parts, format_dims, merged_dim
from .printing import short
from .einsumnodes import einsum_node
from .simplify import as_expr
from .sumnodes import add_node
from .annotations import Dims, ExprLike
from .expr import Expr

__all__ = ["vec", "kron", "reshape", "stack", "concatenate", "with_unit_axes"]


def _operand(x):
    return x.name if isinstance(x, Var) else short(x, 60)


class _Contraction:
    """An einsum under construction whose axes are groups of atom indices: an axis of one atom is
    that index, an axis of several is a merged index tied to them by a Merge operand."""

    def __init__(self):
        self.ops, self.subs, self.dims = [], [], []

    def index(self, dim):
        self.dims.append(dim)
        return len(self.dims) - 1

    def atoms_of(self, dim):
        return [self.index(a) for a in atoms(dim)]

    def axis(self, group):
        """The index of an axis made of the atom indices ``group``; length-1 atoms (dim "1") are left
        out of a merge, as they change no position (kron of (n, 1) and (1, m) is (n, m), as numpy's)."""
        group = [i for i in group if self.dims[i] != UNIT] or list(group[:1])
        if len(group) == 1:
            return group[0]
        c = self.index(merged_dim(tuple(self.dims[i] for i in group)))
        self.ops.append(merge(tuple(self.dims[i] for i in group)))
        self.subs.append((c,) + tuple(group))
        return c

    def operand(self, x, groups):
        sub = tuple(self.axis(g) for g in groups)   # first: axis() may add a merge operand
        self.ops.append(x)
        self.subs.append(sub)

    def build(self, out_groups):
        out = tuple(self.axis(g) for g in out_groups)
        return einsum_node(1.0, self.ops, self.subs, out, self.dims)


def _regroup(x, order, out_dims=None):
    """``x``'s axes (in the order ``order``) flattened to atoms and regrouped into ``out_dims``
    (merged dims whose atoms, in sequence, are those of x's axes; None: one merged axis)."""
    c = _Contraction()
    groups = [c.atoms_of(d) for d in x.shape]
    c.operand(x, groups)
    flat = [i for k in order for i in groups[k]]
    if out_dims is None:
        return c.build([flat])
    out_groups, start = [], 0
    for dim in out_dims:
        out_groups.append(flat[start:start + len(atoms(dim))])
        start += len(atoms(dim))
    return c.build(out_groups)


def vec(x: ExprLike) -> Expr:
    """The column-major vectorisation vec(X): the columns of X stacked, as in matrix calculus.

    vec(X) of X (m, n) has the merged dim "n·m" (entry i + m·j is X[i, j]), so the Magnus–Neudecker
    identity ``vec(A @ X @ B) = kron(B.T, A) @ vec(X)`` type-checks and holds, symbolically.
    A tensor of any order is flattened column-major too (numpy's ``reshape(-1, order="F")``).

    Parameters
    ----------
    x : Expr
        A vector, matrix or tensor.

    Returns
    -------
    Expr
        A vector over the merged dim of x's dims in reverse order.

    Raises
    ------
    ShapeError
        If ``x`` is a scalar.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "m n")
    >>> td.vec(X).shape
    ('n·m',)
    >>> A, B = td.matrix("A", "k m"), td.matrix("B", "n p")
    >>> td.vec(A @ X @ B) is td.kron(B.T, A) @ td.vec(X)
    True
    """
    x = as_expr(x)
    if x.ndim == 0:
        raise ShapeError(f"vec needs a vector, matrix or tensor, got the scalar {_operand(x)}")
    if x.ndim == 1:
        return x
    return _regroup(x, tuple(reversed(range(x.ndim))))


def kron(a: ExprLike, b: ExprLike) -> Expr:
    """The Kronecker product A ⊗ B of two matrices (or of two vectors), as np.kron.

    For A (i, j) and B (k, l) it has dims ("i·k", "j·l"): entry (p·size(k) + r, q·size(l) + s) is
    A[p, q] B[r, s]. It is a contraction with A and B, never formed where a product with it
    simplifies: ``kron(B.T, A) @ vec(X)`` is A X B.

    Parameters
    ----------
    a, b : Expr
        Two matrices, or two vectors.

    Returns
    -------
    Expr
        The Kronecker product.

    Raises
    ------
    ShapeError
        If an operand is not a matrix (or the two are not both vectors).

    Examples
    --------
    >>> import tensordiff as td
    >>> td.kron(td.matrix("A", "i j"), td.matrix("B", "k l")).shape
    ('i·k', 'j·l')
    """
    a, b = as_expr(a), as_expr(b)
    if not (a.ndim == b.ndim == 2 or a.ndim == b.ndim == 1):
        bad, which = (a, "first") if a.ndim not in (1, 2) or a.ndim == b.ndim else (b, "second")
        if a.ndim in (1, 2) and b.ndim in (1, 2):
            bad, which = (a, "first") if a.ndim == 1 else (b, "second")
        raise ShapeError(f"kron needs two matrices (or two vectors): its {which} operand {_operand(bad)} has shape "
                         f"{format_dims(bad.shape)}, the other {format_dims((b if bad is a else a).shape)}")
    c = _Contraction()
    ga, gb = [c.atoms_of(d) for d in a.shape], [c.atoms_of(d) for d in b.shape]
    c.operand(a, ga)
    c.operand(b, gb)
    return c.build([ga[k] + gb[k] for k in range(a.ndim)])


def reshape(x: ExprLike, dims: Dims | int) -> Expr:
    """``x`` with new dims, its entries read in numpy's C order (the last axis fastest), as np.reshape.

    Merged dims regroup the axes: a (q, m) matrix reshaped to "q·m" is its rows laid end to end,
    and a vector over "q·m" reshaped to "q m" is that matrix again. New dim names are allowed
    where the total size says what they are: their sizes must multiply to x's size, checked at
    evaluation, where a single new dim that no value sizes takes the size that fits. The dim "1"
    is a length-1 axis, added or dropped anywhere (numpy's ``x[:, None]`` and ``squeeze``); it
    broadcasts against any dim.

    Parameters
    ----------
    x : Expr
        The tensor.
    dims : str, tuple of str or -1
        The new dims, e.g. "q·m" or ("q", "m"); "*" may be written for "·"; "1" a length-1 axis;
        -1 all of x's entries in one axis (C order), as numpy's ``reshape(-1)``.

    Returns
    -------
    Expr
        The reshaped tensor, of shape ``dims``.

    Raises
    ------
    ShapeError
        If the dims are malformed; at evaluation, if their sizes do not multiply to x's.

    Examples
    --------
    >>> import tensordiff as td
    >>> X = td.matrix("X", "q m")
    >>> td.reshape(X, "q*m").shape
    ('q·m',)
    >>> td.reshape(td.reshape(X, "q·m"), "q m") is X
    True
    >>> td.reshape(X, "q 1 m").shape                     # X[:, None, :]
    ('q', '1', 'm')
    """
    x = as_expr(x)
    if _is_minus_one(dims) or isinstance(dims, tuple) and len(dims) == 1 and _is_minus_one(dims[0]):
        entries = tuple(a for d in x.shape for a in atoms(d) if a != UNIT)   # numpy's -1: one axis of them all
        dims = (merged_dim(entries) if entries else UNIT,)
    dims = parse_unit_dims(dims, "dims of reshape")
    if UNIT in x.shape or UNIT in dims:   # length-1 axes leave the C order as it is: dropped, then added
        inner = _reshape(_without_unit_axes(x), tuple(d for d in dims if d != UNIT))
        return with_unit_axes(inner, [k for k, d in enumerate(dims) if d == UNIT])
    return _reshape(x, dims)


def _is_minus_one(dims: object) -> bool:
    return isinstance(dims, int) and not isinstance(dims, bool) and dims == -1


def with_unit_axes(x: Expr, positions: Sequence[int]) -> Expr:
    """``x`` with a length-1 axis (dim "1") at each of the result's axes ``positions`` (ascending),
    as numpy's ``expand_dims``: one entry, repeated along nothing, so it broadcasts against any dim."""
    if not positions:
        return x
    ndim = x.ndim + len(positions)
    kept = tuple(k for k in range(ndim) if k not in positions)
    dims = [UNIT] * ndim
    for k, dim in zip(kept, x.shape):
        dims[k] = dim
    return einsum_node(1.0, (x,), (kept,), tuple(range(ndim)), dims)


def _without_unit_axes(x):
    """``x`` with its length-1 axes summed out: each holds one entry (numpy's squeeze)."""
    ids = tuple(range(x.ndim))
    return einsum_node(1.0, (x,), (ids,), tuple(k for k in ids if x.shape[k] != UNIT), x.shape)


def _reshape(x, dims):
    source = [a for d in x.shape for a in atoms(d)]
    target = [a for d in dims for a in atoms(d)]
    if source == target:
        return _regroup(x, tuple(range(x.ndim)), dims)
    head = 0
    while head < min(len(source), len(target)) and source[head] == target[head]:
        head += 1
    tail = 0
    while tail < min(len(source), len(target)) - head and source[-1 - tail] == target[-1 - tail]:
        tail += 1
    c = _Contraction()
    groups = [c.atoms_of(d) for d in x.shape]
    c.operand(x, groups)
    flat = [i for g in groups for i in g]
    middle_in = flat[head:len(flat) - tail]
    new_atoms = target[head:len(target) - tail]
    if not middle_in or not new_atoms:
        raise ShapeError(f"reshape of {_operand(x)} {format_dims(x.shape)} to {format_dims(dims)}: the dims "
                         f"{format_dims(tuple(source[head:len(source) - tail] or new_atoms))} match nothing on the "
                         "other side")
    source_axis = c.axis(middle_in)
    new_indices = [c.index(a) for a in new_atoms]
    target_axis = c.axis(new_indices)
    c.ops.append(reinterpret(c.dims[source_axis], c.dims[target_axis]))
    c.subs.append((target_axis, source_axis))
    flat_out = flat[:head] + new_indices + flat[len(flat) - tail:]
    out_groups, start = [], 0
    for dim in dims:
        out_groups.append(flat_out[start:start + len(atoms(dim))])
        start += len(atoms(dim))
    return c.build(out_groups)


def _axis(x, axis, what, extra=0):
    if not isinstance(axis, numbers.Integral) or isinstance(axis, bool):
        raise ShapeError(f"{what}: axis must be an int, got {axis!r:.40}")
    order = x.ndim + extra
    if not -order <= axis < order:
        raise ShapeError(f"{what}: axis {int(axis)} does not exist for operands of shape {format_dims(x.shape)} "
                         f"(axes {-order}..{order - 1})")
    return int(axis) % order


def _operands(xs, what):
    if isinstance(xs, (str, bytes)) or not hasattr(xs, "__iter__") or hasattr(xs, "shape"):
        raise ShapeError(f"{what} takes a list or tuple of expressions, got {type(xs).__name__}")
    xs = [as_expr(x) for x in xs]
    if not xs:
        raise ShapeError(f"{what} needs at least one operand")
    return xs


def stack(xs: Sequence[ExprLike], axis: int = 0, *, dim: str | None = None) -> Expr:
    """The operands, all of one shape, stacked along a new axis, as np.stack.

    The new axis has the decimal dim "k" for k operands (its size), unless ``dim`` names it: a
    symbol can then share it, such as a vector of coefficients, one per operand (a decimal dim
    cannot be declared). A value that gives ``dim`` another size than the number of operands is
    refused at evaluation, naming both dims.

    Parameters
    ----------
    xs : list of Expr
        Operands of one shape.
    axis : int, optional
        Where the new axis goes (default 0; negative counts from the end).
    dim : str, optional
        The name of the new axis's dim, an identifier (default: the number of operands, "k").

    Returns
    -------
    Expr
        The stack: operand j is entry j of the new axis.

    Raises
    ------
    ShapeError
        If the shapes differ, the axis does not exist, or ``dim`` is no identifier; at evaluation,
        if a value sizes ``dim`` other than the number of operands.

    Examples
    --------
    >>> import numpy as np, tensordiff as td
    >>> x, y = td.vector("x", "n"), td.vector("y", "n")
    >>> td.stack([x, y], axis=1).shape
    ('n', '2')
    >>> layers = td.stack([x, y], dim="k")          # a vector over the stacked axis can weigh them
    >>> layers.shape
    ('k', 'n')
    >>> c = td.vector("c", "k")
    >>> td.evaluate(c @ layers, c=np.array([2.0, -1.0]), x=np.ones(3), y=np.arange(3.0))
    array([2., 1., 0.])
    """
    xs = _operands(xs, "stack")
    first = xs[0]
    for k, x in enumerate(xs[1:], 1):
        if x.shape != first.shape:
            raise ShapeError(f"stack needs operands of one shape: operand 0 {_operand(first)} has "
                             f"{format_dims(first.shape)}, operand {k} {_operand(x)} has {format_dims(x.shape)}")
    axis = _axis(first, axis, "stack", extra=1)
    new = str(len(xs))
    if dim is not None and (not isinstance(dim, str) or not dim.isidentifier()):
        raise ShapeError(f"stack's dim= names the new axis with an identifier such as 'k', got {dim!r:.40}")
    ids = tuple(range(first.ndim))
    out = ids[:axis] + (first.ndim,) + ids[axis:]
    dims = first.shape + (new,)
    terms = [einsum_node(1.0, (x, make(Select, new, j)), (ids, (first.ndim,)), out, dims) for j, x in enumerate(xs)]
    stacked = add_node(terms, tuple(dims[i] for i in out))
    if dim is None:
        return stacked
    ids = tuple(range(stacked.ndim))   # the new axis renamed, as reshape renames a dim: I[dim, k]
    return einsum_node(1.0, (stacked, reinterpret(new, dim)), (ids, (stacked.ndim, axis)),
                       tuple(stacked.ndim if i == axis else i for i in ids), stacked.shape + (dim,))


def concatenate(xs: Sequence[ExprLike], axis: int = 0) -> Expr:
    """The operands joined along an existing axis, as np.concatenate.

    The joined axis has the concatenated dim "n+m" (its size the sum of the parts'); the other
    dims must agree.

    Parameters
    ----------
    xs : list of Expr
        Operands of one order whose dims agree except along ``axis``.
    axis : int, optional
        The axis joined (default 0; negative counts from the end).

    Returns
    -------
    Expr
        The concatenation.

    Raises
    ------
    ShapeError
        If an operand is a scalar, the orders differ, the other dims differ, or the axis does not exist.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, Y = td.matrix("X", "n p"), td.matrix("Y", "m p")
    >>> td.concatenate([X, Y]).shape
    ('n+m', 'p')
    """
    xs = _operands(xs, "concatenate")
    first = xs[0]
    if first.ndim == 0:
        raise ShapeError(f"concatenate needs operands with at least one axis, got the scalar {_operand(first)}")
    axis = _axis(first, axis, "concatenate")
    for k, x in enumerate(xs[1:], 1):
        others = tuple(d for a, d in enumerate(x.shape) if a != axis)
        if x.ndim != first.ndim or others != tuple(d for a, d in enumerate(first.shape) if a != axis):
            raise ShapeError(f"concatenate along axis {axis}: operand {k} {_operand(x)} has shape "
                             f"{format_dims(x.shape)} but operand 0 {_operand(first)} has {format_dims(first.shape)}; "
                             "all dims but the joined one must agree")
    if len(xs) == 1:
        return first
    pieces = [concat_parts(x.shape[axis]) or (x.shape[axis],) for x in xs]
    parts = tuple(p for piece in pieces for p in piece)
    total = concat_dim(parts)
    ids = tuple(range(first.ndim))
    terms, offset = [], 0
    for x, piece in zip(xs, pieces):
        for t, part in enumerate(piece):
            # E_total[c, a] (E_own[d, a] when x's axis is itself a concatenation) x[..., d, ...]
            c, d, a = first.ndim, axis, first.ndim + 1
            ops, subs = [embed(parts, offset + t), x], [(c, a if len(piece) > 1 else d), ids]
            dims = list(x.shape) + [total]
            if len(piece) > 1:
                dims.append(part)
                ops.append(embed(piece, t))
                subs.append((d, a))
            out = ids[:axis] + (c,) + ids[axis + 1:]
            terms.append(einsum_node(1.0, ops, subs, out, dims))
        offset += len(piece)
    shape = first.shape[:axis] + (total,) + first.shape[axis + 1:]
    return add_node(terms, shape)

