"""Planning sums: each einsum term split into independent factors, the whole sum written in one pass.

A derivative is typically a sum of terms like  c · Σ_n X[j,n] t[i,n] · Σ_q X[p,q] y[p] t[k,q] · t[l,m]:
operands tied together only through summed indices form independent groups, and the term is an
outer product of the groups' small results. Each group becomes its own einsum node (interned, so
a group shared by several terms or elsewhere in the program is computed once), and
``kernels.products`` writes every term of the sum into the output in a single pass, instead of
materialising each term at full size and adding. Terms whose output carries Kronecker deltas are
written onto the output's generalised diagonal in a second, much smaller pass.
"""

from collections import namedtuple

import numpy as np

from .expr import Einsum
from .indices import UnionFind
from .kernels import ProductsLayout, diagonal_view
from .simplify import einsum_on

__all__ = ["SumPlan", "FusedSumStep", "split_term"]

# coeff: float; orphan_dims: dims whose sizes multiply the term; factors: ((node, axes), ...) with
# axes positions in the pattern's distinct ids; pattern: the output axes' positions in those ids.
Part = namedtuple("Part", "coeff orphan_dims factors pattern")


def split_term(term):
    """The Part for einsum ``term``: its operands grouped by the summed indices that tie them."""
    unique = list(dict.fromkeys(term.out))
    position = {u: k for k, u in enumerate(unique)}
    groups = UnionFind(len(term.operands))
    owner = {}
    for k, sub in enumerate(term.subscripts):
        for i in sub:
            if i not in position:
                if i in owner:
                    groups.union(owner[i], k)
                else:
                    owner[i] = k
    members = {}
    for k in range(len(term.operands)):
        members.setdefault(groups.find(k), []).append(k)
    factors = []
    for group in members.values():
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
        self.arg_offsets = np.cumsum([0] + [len(part.factors) for part in self.parts]).tolist()

    def describe(self):
        factors = self.arg_offsets[-1]
        return f"sum of {len(self.parts)} products ({factors} factors, {len(self.passes)} pass(es))"

    def bind(self, sizes, dtype):
        """This step at fixed sizes (specialise.py): the output's shape and the coefficients computed
        once; the arithmetic is __call__'s."""
        shape = tuple(sizes[d] for d in self.shape)
        coeffs = self.coefficients(sizes)
        passes = []
        for n, (pattern, members, layout) in enumerate(self.passes):
            pass_coeffs = [coeffs[k] for k in members]
            passes.append((layout, diagonal_view if n or not self.writes_all else None, pattern, pass_coeffs,
                           layout.kernel_coefficients(pass_coeffs)))
        keys = [(offset + k, node) for part, offset in zip(self.parts, self.arg_offsets)
                for k, (node, _) in enumerate(part.factors)]
        allocate = np.empty if self.writes_all else np.zeros

        def run(*args):
            args = [np.asarray(a) for a in args]
            out_dtype = np.result_type(dtype, *args)
            out = allocate(shape, dtype=out_dtype)
            arrays = {node: _as_dtype(args[i], out_dtype) for i, node in keys}
            for layout, view, pattern, pass_coeffs, kernel_coeffs in passes:
                layout.run(out if view is None else view(out, pattern), arrays, pass_coeffs, view is not None,
                           kernel_coeffs)
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
