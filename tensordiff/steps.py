"""The steps of a compiled program that contract: einsum nodes and sums, on every backend.

One set of steps runs the plan on every backend; what differs between array libraries is in the
backend's primitive operations (numpyarrays.py, arraylibrary.py, daskarrays.py):
``contraction(equation, shapes)`` plans a contraction once per operand shapes (numpy: one BLAS
matmul per pair, pairwise.py; torch, jax, cupy: opt_einsum's path on the library's own
functions), ``assemble``/``assembler`` write a core onto an output's Kronecker deltas and
broadcasts, and ``einsum``/``sum_of_einsums`` run a step's contraction (dask: one blockwise task
per output block). Two planning decisions are gated per backend rather than per step class:

- ``gram_products``: a Gram contraction as ``g.T @ g`` (gram.py) pays off where BLAS runs it as a
  symmetric rank-k update, numpy's dispatch; the other libraries compute the full product.
- ``writes_in_place``: a sum's split terms are written into one preallocated buffer by the
  kernels (fusion.py's FusedSumStep), numpy only: jax arrays are immutable, torch autograd and
  torch.compile refuse writes into tensors they track, and dask builds a graph. Elsewhere each
  split term is one contraction of its factors, and the terms are added.

Either way the plan is the same: the same nodes, terms split into the same factor groups, the
same reused pairs.
"""

import math
import threading

from .arraylibrary import einsum_equation, is_one, scaled_operand
from .fusion import FusedSumStep
from .gram import gram_plan

__all__ = ["EinsumStep", "SumStep"]

MAX_CONTRACTIONS = 32   # contraction plans kept per step (one per set of operand shapes)


class EinsumStep:
    """One contraction: its tensor operands contracted to the core (the distinct output ids they
    carry), scalar operands, orphan dims and the coefficient folded into a factor, then the core
    written onto the output's deltas and broadcasts by the backend.

    Made from an Einsum node (``EinsumStep.of``) or from a split term of a sum (``SumStep``).
    """

    def __init__(self, backend, coeff, operands, subscripts, out, dims, orphan_dims=()):
        self.backend = backend
        self.coeff = coeff
        self.subscripts = subscripts
        self.tensor_args = [k for k, op in enumerate(operands) if op.shape]
        self.scalar_args = [k for k, op in enumerate(operands) if not op.shape]
        used = set()
        for k in self.tensor_args:
            used.update(subscripts[k])
        self.core_ids = tuple(i for i in dict.fromkeys(out) if i in used)
        self.out_ids = out
        self.id_dims = dims
        self.orphan_dims = list(orphan_dims) + [dims[i] for i in range(len(dims)) if i not in used and i not in out]
        self.equation = einsum_equation([subscripts[k] for k in self.tensor_args], self.core_ids)
        self.plain = bool(self.tensor_args) and tuple(out) == tuple(self.core_ids)
        self._contractions = {}
        self._lock = threading.Lock()
        self.gram = gram_plan([operands[k] for k in self.tensor_args], [subscripts[k] for k in self.tensor_args],
                              self.core_ids, self._contract) if backend.gram_products else None

    @classmethod
    def of(cls, node, backend):
        """The step computing the Einsum ``node`` on ``backend``."""
        return cls(backend, node.coeff, node.operands, node.subscripts, node.out, node.dims)

    def describe(self):
        return f"einsum {self.equation!r}" + (f" × {self.coeff:g}" if self.coeff != 1.0 else "") + \
            (" as a Gram product" if self.gram else "")

    def factor(self, args, sizes):
        """The coefficient times the sizes of orphan dims times the scalar operands."""
        factor = self.coeff * math.prod([sizes[d] for d in self.orphan_dims])
        for k in self.scalar_args:
            factor = factor * args[k]
        return factor

    def _contract(self, equation, arrays):
        if self.backend.compiling():   # torch.compile traces the library's einsum, not cached plans
            return self.backend.contract(equation, arrays)
        return self.contraction_for(equation, tuple(tuple(a.shape) for a in arrays))(*arrays)

    def contraction_for(self, equation, shapes):
        """The backend's planned contraction of arrays of ``shapes`` (cached, at most 32 per step)."""
        key = (equation,) + tuple(shapes)
        contraction = self._contractions.get(key)
        if contraction is None:
            with self._lock:
                contraction = self.backend.contraction(equation, key[1:])
                if len(self._contractions) < MAX_CONTRACTIONS:
                    self._contractions[key] = contraction
        return contraction

    def parts(self, args, sizes):
        """(core, factor): the contraction, with the scalar factor folded into its smallest operand."""
        factor = self.factor(args, sizes)
        if not self.tensor_args:
            return None, factor
        arrays = [args[k] for k in self.tensor_args]
        least = scaled_operand(arrays)
        if least is None:   # an empty operand: the factor scales the result (scaled_operand says why)
            return self._contract(self.equation, arrays), factor
        if self.gram is not None:
            return self.gram(arrays, factor), 1.0
        if not is_one(factor):
            arrays[least] = arrays[least] * factor
        return self._contract(self.equation, arrays), 1.0

    def bind(self, sizes, place):
        """This step as a function of its operands at ``sizes`` (specialise.py): the contraction
        planned, the factor and the output's sizes fixed; the operations are those of __call__."""
        if not self.tensor_args or not self.backend.specialises:
            return None
        shapes = [tuple(sizes[self.id_dims[i]] for i in self.subscripts[k]) for k in self.tensor_args]
        if any(math.prod(shape) == 0 for shape in shapes):   # as parts: the factor scales the result
            return None
        tensor_args, scalar_args, plain = self.tensor_args, self.scalar_args, self.plain
        constant = None if scalar_args else self.factor((), sizes)
        write_out = None if plain else self.backend.assembler(self.core_ids, self.out_ids, self.id_dims, sizes, place)
        if self.gram is not None:
            gram = self.gram.bind(shapes, self.contraction_for)

            def run_gram(*operands):
                core = gram([operands[k] for k in tensor_args],
                            constant if constant is not None else self.factor(operands, sizes))
                return core if plain else write_out(core)
            return run_gram
        contraction = self.contraction_for(self.equation, shapes)
        if constant is not None and is_one(constant) and plain and tensor_args == list(range(len(tensor_args))):
            return contraction   # a plain product of the operands as they come: the contraction itself
        least = min(range(len(shapes)), key=lambda k: math.prod(shapes[k]))
        if constant is not None and not scalar_args and not is_one(constant):
            # the common case, its choices made once: a constant factor, every operand a tensor
            def run_scaled(*operands):
                arrays = list(operands)
                arrays[least] = arrays[least] * constant
                core = contraction(*arrays)
                return core if plain else write_out(core)
            return run_scaled

        def run(*operands):
            factor = constant if constant is not None else self.factor(operands, sizes)
            arrays = [operands[k] for k in tensor_args]
            if not is_one(factor):
                arrays[least] = arrays[least] * factor
            core = contraction(*arrays)
            return core if plain else write_out(core)
        return run

    def __call__(self, args, sizes, place):
        return self.backend.einsum(self, args, sizes, place)


class SumStep:
    """A sum of terms, each an outer product of its factor groups (fusion.py's SumPlan: a term used
    nowhere else is split into independent factors, each a step of its own). On a backend that
    writes in place the terms go into one buffer in a single pass (FusedSumStep); elsewhere each
    split term is one contraction of its factors, and the terms are added."""

    def __init__(self, node, plan, backend):
        self.parts = plan.parts
        self.children = plan.children
        self.fused = FusedSumStep(node, plan) if backend.writes_in_place else None
        self.made_by = "one-pass sums" if self.fused is not None else None
        self.backend = backend
        dense = tuple(range(len(node.shape)))
        self.terms, position = [], 0
        for part in plan.parts:
            count = len(part.factors)
            if self.fused is not None:
                pass
            elif part.coeff == 1.0 and not part.orphan_dims and count == 1 and part.factors[0][1] == dense \
                    and part.pattern == dense and not backend.lazy:   # lazy: added later, outside np.errstate
                self.terms.append((None, position))   # a term read as it is
            else:
                unique = list(dict.fromkeys(part.pattern))
                dims = tuple(node.shape[part.pattern.index(u)] for u in unique)
                step = EinsumStep(backend, part.coeff, [f for f, _ in part.factors], [axes for _, axes in part.factors],
                                  part.pattern, dims, part.orphan_dims)
                self.terms.append((step, slice(position, position + count)))
            position += count

    def describe(self):
        if self.fused is not None:
            return self.fused.describe()
        return f"sum of {len(self.parts)} products ({sum(len(part.factors) for part in self.parts)} factors)"

    def bind(self, sizes, place):
        """This sum at fixed sizes (specialise.py): each term's contraction bound; the arithmetic is __call__'s."""
        if self.fused is not None:
            return self.fused.bind(sizes, place)
        if not self.backend.specialises:
            return None
        backend, einsums, reads = self.backend, [], []
        for step, where in self.terms:
            if step is None:
                reads.append(where)
                continue
            bound = step.bind(sizes, place)
            if bound is None:   # a term of constants and scalars: as the step computes it
                def bound(*args, step=step):
                    return backend.einsum(step, list(args), sizes, place)
            einsums.append((bound, where))

        def run(*args):
            total = None
            for bound, where in einsums:
                value = bound(*args[where])
                total = value if total is None else total + value
            for where in reads:
                total = args[where] if total is None else total + args[where]
            return total
        return run

    def __call__(self, args, sizes, place):
        if self.fused is not None:
            return self.fused(args, sizes, place)
        einsums = [(step, args[where]) for step, where in self.terms if step is not None]
        total = self.backend.sum_of_einsums(einsums, sizes, place) if einsums else None
        for step, where in self.terms:
            if step is None:
                total = args[where] if total is None else total + args[where]
        return total
