"""Planning sums: each einsum term split into independent factors, the whole sum written in one pass.

A derivative is typically a sum of terms like  c · Σ_n X[j,n] t[i,n] · Σ_q X[p,q] y[p] t[k,q] · t[l,m]:
operands tied together only through summed indices form independent groups, and the term is an
outer product of the groups' small results. Each group becomes its own einsum node (interned, so
a group shared by several terms or elsewhere in the program is computed once), and
``kernels.products`` writes every term of the sum into the output in a single pass, instead of
materialising each term at full size and adding. Terms whose output carries Kronecker deltas are
written onto the output's generalised diagonal in a second, much smaller pass.

A sum whose dense term is an intermediate read by nothing after it (a Gram product, a solve)
adds the other terms into that term's buffer instead of a new one (``inplace.donate_buffers``): the
output is written in place, and the peak holds one array of the output's size, not two.
"""

import math
from collections import namedtuple
from itertools import accumulate

import numpy as np

from .buffers import DONATED_SUM_ENTRIES, writable_floats
from .expr import Einsum
from .indices import UnionFind
from .kernels import ProductsLayout, compiled_in_use, diagonal_view, twin_chunk_shape
from .einsumnodes import einsum_on

__all__ = ["SumPlan", "FusedSumStep", "split_term", "connected_factors"]

# coeff: float; orphan_dims: dims whose sizes multiply the term; factors: ((node, axes), ...) with
# axes positions in the pattern's distinct ids; pattern: the output axes' positions in those ids.
Part = namedtuple("Part", "coeff orphan_dims factors pattern")


def connected_factors(term, kept):
    """The operand positions of einsum ``term`` grouped into factors: operands tied by an index not
    in ``kept`` (a summed index, for ``kept`` the output's) are in one group. Groups come in the
    order of their first operand, each listing its positions in increasing order.

    >>> import tensordiff as td
    >>> x, y, z = td.vector("x", "i"), td.vector("y", "j"), td.vector("z", "j")
    >>> term = td.parse("x * (y'*z)", x=x, y=y, z=z)   # out[i] = Σ_j z[j] y[j] x[i]
    >>> connected_factors(term, term.out)
    [[0, 1], [2]]
    """
    groups = UnionFind(len(term.operands))
    owner = {}
    for k, sub in enumerate(term.subscripts):
        for i in sub:
            if i not in kept:
                if i in owner:
                    groups.union(owner[i], k)
                else:
                    owner[i] = k
    members = {}
    for k in range(len(term.operands)):
        members.setdefault(groups.find(k), []).append(k)
    return list(members.values())


def split_term(term):
    """The Part for einsum ``term``: its operands grouped by the summed indices that tie them."""
    unique = list(dict.fromkeys(term.out))
    position = {u: k for k, u in enumerate(unique)}
    factors = []
    for group in connected_factors(term, position):
        ops = tuple(term.operands[k] for k in group)
        subs = [term.subscripts[k] for k in group]
        ids = list(dict.fromkeys(i for s in subs for i in s))
        if len(group) == 1 and len(ids) == len(subs[0]) and all(i in position for i in ids):
            factors.append((ops[0], tuple(position[i] for i in subs[0])))
            continue
        group_out = tuple(u for u in unique if u in ids)
        node = einsum_on(1.0, ops, subs, group_out, term.dims, sorted(ids))
        factors.append((node, tuple(position[u] for u in group_out)))
    used = {i for s in term.subscripts for i in s}
    orphans = tuple(term.dims[i] for i in range(len(term.dims)) if i not in used and i not in position)
    return Part(term.coeff, orphans, tuple(factors), tuple(position[i] for i in term.out))


class SumPlan:
    """How one sum node is computed: its parts, and the nodes (factors) whose values it reads."""

    def __init__(self, node, split):
        dense = tuple(range(len(node.shape)))
        self.parts = []
        for term in node.terms:
            if isinstance(term, Einsum) and term in split:
                self.parts.append(split_term(term))
            else:
                self.parts.append(Part(1.0, (), ((term, dense),), dense))
        self.children = tuple(f for part in self.parts for f, _ in part.factors)


class FusedSumStep:
    """Runs a SumPlan: the deltas-free parts in one pass that writes the output, then the rest."""

    def __init__(self, node, plan):
        self.shape = node.shape
        self.parts = plan.parts
        dense = tuple(range(len(node.shape)))
        patterns = list(dict.fromkeys(part.pattern for part in self.parts))
        patterns.sort(key=lambda p: p != dense)  # the pass that writes every entry goes first
        self.writes_all = patterns[0] == dense
        self.passes = []
        for pattern in patterns:
            members = [k for k, part in enumerate(self.parts) if part.pattern == pattern]
            layout = ProductsLayout([self.parts[k].factors for k in members], len(dict.fromkeys(pattern)))
            self.passes.append((pattern, members, layout))
        self.arg_offsets = list(accumulate([0] + [len(part.factors) for part in self.parts]))
        self.donor = None   # (argument, part, the first pass without that part): set by donate_buffers

    def donor_candidate(self):
        """(argument position, part) of a dense part's factor that spans the output in its axis order
        and that the sum reads once: the term whose buffer the sum could write into (the part's other
        factors, smaller, scale it there); None where there is none."""
        return next(self.donor_candidates(), None)

    def donor_candidates(self):
        """Every (argument position, part) that ``donor_candidate`` could return, in its order."""
        if not self.writes_all:
            return
        dense = tuple(range(len(self.shape)))
        reads = {}
        for part in self.parts:
            for node, _ in part.factors:
                reads[node] = reads.get(node, 0) + 1
        for k in self.passes[0][1]:
            factors = self.parts[k].factors
            for j, (node, axes) in enumerate(factors):
                if axes == dense and reads[node] == 1 and \
                        all(len(other) < len(dense) for i, (_, other) in enumerate(factors) if i != j):
                    yield self.arg_offsets[k] + j, k

    def donate(self, argument, part, output):
        """Write into the buffer of argument ``argument`` (a factor of dense part ``part`` spanning the
        output); ``output``: this sum is a program output, handed back only if it owns its buffer."""
        pattern, members, _ = self.passes[0]
        rest = [k for k in members if k != part]
        layout = ProductsLayout([self.parts[k].factors for k in rest], len(dict.fromkeys(pattern))) if rest else None
        scales = [(self.arg_offsets[part] + j, axes) for j, (_, axes) in enumerate(self.parts[part].factors)
                  if self.arg_offsets[part] + j != argument]
        self.donor = (argument, part, (pattern, rest, layout), output, scales)

    def describe(self):
        factors = self.arg_offsets[-1]
        return f"sum of {len(self.parts)} products ({factors} factors, {len(self.passes)} pass(es)" + \
            (", in place)" if self.donor is not None else ")")

    def bind(self, sizes, dtype):
        """This step at fixed sizes (specialise.py): the output's shape and the coefficients computed
        once; the arithmetic is __call__'s."""
        shape = tuple(sizes[d] for d in self.shape)
        coeffs = self.coefficients(sizes)
        keys = [(offset + k, node) for part, offset in zip(self.parts, self.arg_offsets)
                for k, (node, _) in enumerate(part.factors)]
        position = {node: i for i, node in keys}

        def bound_pass(layout, members):
            """(layout, its coefficients, the kernel's, the arguments it reads in its keys' order)."""
            pass_coeffs = [coeffs[k] for k in members]
            return layout, pass_coeffs, layout.kernel_coefficients(pass_coeffs), [position[key] for key in layout.keys]
        passes = [(diagonal_view if n or not self.writes_all else None, pattern, bound_pass(layout, members))
                  for n, (pattern, members, layout) in enumerate(self.passes)]
        allocate = np.empty if self.writes_all else np.zeros
        in_place = None
        if self.donor is not None and math.prod(shape) >= DONATED_SUM_ENTRIES:
            argument, part, (_, rest, layout), output, scales = self.donor
            factor_shapes = {i: tuple(sizes[d] for d in node.shape) for i, node in keys}
            in_place = (argument, coeffs[part], [placed_scale(i, axes, factor_shapes[i], len(shape)) for i, axes in scales],
                        passes[1:], None if layout is None else bound_pass(layout, rest))
            writable = WritableCheck(shape, output)

        # each pass in the compiled kernel, its layout held in C (kernels.ProductsLayout.bound): a list of
        # (kernel, view, pattern, layout, coefficients, arguments read, add); None without the kernels. The
        # first pass's kernel runs only where every argument has the evaluation's dtype.
        dense = tuple(range(len(shape)))
        compiled = [(layout.bound(kernel_coeffs, reads, pattern if view is not None else dense, view is not None,
                                  check_all=n == 0),
                     view, pattern, layout, pass_coeffs, reads, view is not None)
                    for n, (view, pattern, (layout, pass_coeffs, kernel_coeffs, reads)) in enumerate(passes)]
        if any(kernel is None for kernel, *_ in compiled):
            compiled = None
        compiled_in_place, scale_first, in_kernels, scaled_by = None, 1.0, False, None
        if in_place is not None and compiled is not None:
            adds = ([(None, dense, in_place[4])] if in_place[4] is not None else []) + passes[1:]
            # in place wholly in the kernels: the first kernel applies the donated term's coefficient, and
            # its smaller factors where that kernel writes the whole output (the dense rest), each row
            # scaled just before the rest is added to it (one pass over the buffer, not two)
            scaled_by = in_place[:3] if in_place[2] and in_place[4] is not None else None
            in_kernels = bool(adds) and (not in_place[2] or scaled_by is not None) and type(in_place[1]) is float
            scale_first = in_place[1] if in_kernels else 1.0
            scales = [(i, axes) for i, axes, *_ in in_place[2]] if scaled_by is not None else []
            compiled_in_place = [(layout.bound(kernel_coeffs, reads, pattern, True, scale_first if n == 0 else 1.0,
                                               check_all=n == 0, scales=scales if n == 0 else ()),
                                  view, pattern, layout, pass_coeffs, reads, True)
                                 for n, (view, pattern, (layout, pass_coeffs, kernel_coeffs, reads)) in enumerate(adds)]

        def run(*args):
            if compiled is not None and compiled_in_use():   # arrays of the evaluation's dtype, the common case
                if in_kernels:
                    if writable(args[in_place[0]], dtype):
                        out = _run_passes(args[in_place[0]], args, compiled_in_place, dtype, scale_first, scaled_by)
                        if out is not None:
                            return out
                elif in_place is not None and _all_of(args, dtype) and writable(args[in_place[0]], dtype):
                    return _run_passes(_scaled_in_place(args, *in_place[:3]), args, compiled_in_place, dtype)
                out = _run_passes(allocate(shape, dtype=dtype), args, compiled, dtype)
                if out is not None:
                    return out
            args = [np.asarray(a) for a in args]
            out_dtype = dtype
            for a in args:   # np.result_type only where some factor's dtype differs (the rare case)
                if a.dtype != dtype:
                    out_dtype = np.result_type(dtype, *args)
                    break
            if in_place is not None and writable(args[in_place[0]], out_dtype):   # before any conversion
                return _run_in_place([_as_dtype(a, out_dtype) for a in args] if out_dtype is not dtype else args,
                                     *in_place)
            if out_dtype is not dtype:
                args = [_as_dtype(a, out_dtype) for a in args]
            out = allocate(shape, dtype=out_dtype)
            for view, pattern, (layout, pass_coeffs, kernel_coeffs, reads) in passes:
                layout.run_factors(out if view is None else view(out, pattern), tuple([args[i] for i in reads]),
                                   pass_coeffs, view is not None, kernel_coeffs)
            return out
        return run

    def coefficients(self, sizes):
        """Each part's coefficient times the sizes of its orphan dims."""
        coeffs = []
        for part in self.parts:
            coeff = part.coeff
            for dim in part.orphan_dims:
                coeff *= sizes[dim]
            coeffs.append(coeff)
        return coeffs

    def __call__(self, args, sizes, dtype):
        if self.donor is not None:
            return self.bind(sizes, dtype)(*args)
        args = [np.asarray(a) for a in args]
        out_dtype = np.result_type(dtype, *args)
        shape = tuple(sizes[d] for d in self.shape)
        out = np.empty(shape, dtype=out_dtype) if self.writes_all else np.zeros(shape, dtype=out_dtype)
        arrays = {}
        for part, offset in zip(self.parts, self.arg_offsets):
            for k, (node, _) in enumerate(part.factors):
                arrays[node] = _as_dtype(args[offset + k], out_dtype)
        coeffs = []
        for part in self.parts:
            coeff = part.coeff
            for dim in part.orphan_dims:
                coeff *= sizes[dim]
            coeffs.append(coeff)
        for n, (pattern, members, layout) in enumerate(self.passes):
            first = n == 0 and self.writes_all
            layout.run(out if first else diagonal_view(out, pattern), arrays, [coeffs[k] for k in members], add=not first)
        return out


def _as_dtype(array, dtype):
    return array if array.dtype == dtype else array.astype(dtype)


def broadcastable(array, axes, ndim):
    """``array`` with its axes moved to the output positions ``axes`` and size-1 axes elsewhere."""
    order = sorted(range(len(axes)), key=lambda k: axes[k])
    shape = [1] * ndim
    for axis, size in zip(sorted(axes), (array.shape[k] for k in order)):
        shape[axis] = size
    return np.transpose(array, order).reshape(shape)


class WritableCheck:
    """Whether a bound sum may write into an array (a call: ``(array, dtype)``): one of ``shape``
    and ``dtype``, writable, whose entries are distinct (``buffers.writable_floats``); ``owned``: it
    must own its buffer (a result handed back that is a view is copied for the caller, which would
    cost the array saved)."""

    def __init__(self, shape, owned):
        self.shape, self.owned = shape, owned

    def __call__(self, array, dtype):
        if array.shape != self.shape or array.dtype != dtype:
            return False
        return (not self.owned or array.flags.owndata) and writable_floats(array)


def placed_scale(argument, axes, shape, ndim):
    """(argument, axes, shape, transposition, placed shape): ``broadcastable`` of an argument of
    ``shape`` to the output's ``ndim`` axes, worked out once for a bound sum."""
    order = sorted(range(len(axes)), key=lambda k: axes[k])
    placed = [1] * ndim
    for axis, size in zip(sorted(axes), (shape[k] for k in order)):
        placed[axis] = size
    return argument, axes, shape, None if order == list(range(len(axes))) else order, tuple(placed)


def _scaled_in_place(args, argument, coeff, scales):
    """``args[argument]``, the buffer of a dense term (donate_buffers), scaled in place by the product
    of that term's coefficient and smaller factors (``scales``: ``placed_scale``'s), formed left to
    right, as the compiled kernel forms it (kernels.ProductsLayout.bound's ``scales``). A product that
    runs along the first axis is formed a chunk of rows at a time (kernels.twin_chunk_shape): it may
    be as large as the buffer (e[i]·a[j]), which it must not double."""
    out = args[argument]
    placed = []
    for i, axes, shape, order, shape_placed in scales:
        factor = args[i]
        if factor.shape != shape:   # not the shape bound: placed as broadcastable places it
            factor = broadcastable(factor, axes, out.ndim)
        elif order is not None:
            factor = np.transpose(factor, order).reshape(shape_placed)
        else:
            factor = factor.reshape(shape_placed)
        placed.append(factor)
    if not placed:
        if not (isinstance(coeff, float) and coeff == 1.0):
            out *= coeff
        return out
    along_rows = False
    for factor in placed:
        if factor.ndim and factor.shape[0] > 1:
            along_rows = True
    if not along_rows or out.ndim < 2:   # the product is as small as its factors: formed once, in one multiplication
        scale = coeff
        for factor in placed:
            scale = scale * factor
        return np.multiply(out, scale, out=out)   # out *= scale, without out[chunk]'s write-back of itself
    rows = twin_chunk_shape(out.shape)[0]
    for start in range(0, len(out), rows):
        chunk = out[start:start + rows]
        scale = coeff
        for factor in placed:
            scale = scale * (factor[start:start + rows] if factor.shape[0] > 1 else factor)
        np.multiply(chunk, scale, out=chunk)
    return out


def _all_of(args, dtype):
    """Whether every argument is a numpy array of ``dtype``."""
    for a in args:
        if type(a) is not np.ndarray or a.dtype is not dtype:
            return False
    return True


def _run_passes(out, args, passes, dtype, scale=1.0, scaled_by=None):
    """Run a bound sum's compiled passes (FusedSumStep.bind) into ``out``, whose first kernel
    multiplies ``out`` by ``scale`` first (and by the factors of ``scaled_by``, the donated term's
    (argument, coefficient, placed_scale's), where given), and return it; None, having written
    nothing, where an argument is not an array of ``dtype`` (the general route runs then). A pass
    the kernel declines otherwise (an array it does not read as it is) runs in the numpy twin, with
    the same numbers."""
    for kernel, view, pattern, layout, coeffs, reads, add in passes:
        if not kernel(out, args):
            if kernel is passes[0][0]:
                if not _all_of(args, dtype):
                    return None
                if scaled_by is not None:
                    _scaled_in_place(args, *scaled_by)
                elif scale != 1.0:
                    out *= scale
            layout.run_twin(out if view is None else view(out, pattern), tuple([args[i] for i in reads]), coeffs, add)
    return out


def _run_in_place(args, argument, coeff, scales, diagonal_passes, dense_rest):
    """The sum written into ``args[argument]`` (all of the output's dtype), the buffer of a dense
    term (donate_buffers): that term's coefficient and smaller factors scale it in place, then the
    other terms are added. ``scales`` are ``placed_scale``'s; the passes are FusedSumStep.bind's."""
    out = _scaled_in_place(args, argument, coeff, scales)
    if dense_rest is not None:
        layout, rest_coeffs, kernel_coeffs, reads = dense_rest
        _add_in_chunks(out, layout, tuple([args[i] for i in reads]), rest_coeffs, kernel_coeffs)
    for view, pattern, (layout, pass_coeffs, kernel_coeffs, reads) in diagonal_passes:
        layout.run_factors(view(out, pattern), tuple([args[i] for i in reads]), pass_coeffs, True, kernel_coeffs)
    return out


def _add_in_chunks(out, layout, factors, coeffs, kernel_coeffs):
    """``layout``'s terms (of ``factors``, in its keys' order) added into ``out`` a chunk of rows at a
    time (kernels.twin_chunk_shape): the twin's products are a chunk's size, so a sum written into
    a dying buffer holds no array of the output's size beside it. The same numbers: entry by entry."""
    rows = twin_chunk_shape(out.shape)[0] if out.ndim else 1
    if out.ndim < 2 or rows >= out.shape[0]:
        layout.run_factors(out, factors, coeffs, True, kernel_coeffs)
        return
    along_first = [axes.index(0) if 0 in axes else None for _, axes in layout.distinct]
    for start in range(0, out.shape[0], rows):
        chunk = slice(start, start + rows)
        parts = tuple(factor if axis is None else factor[(slice(None),) * axis + (chunk,)]
                      for factor, axis in zip(factors, along_first))
        layout.run_factors(out[chunk], parts, coeffs, True, kernel_coeffs)
