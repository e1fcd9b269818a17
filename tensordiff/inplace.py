"""Steps that write their value into the buffer of a dying argument (numpy only).

``donate_buffers`` decides, with ``buffers.may_overwrite``, which argument's buffer a step may
take: the argument's value is a fresh allocation (or a view of one) that no live value shares,
read by no later step and no output. Two kinds of step use it here, besides the sums of
fusion.py (``FusedSumStep.donate``):

- a built-in elementwise function whose numpy implementation is a ufunc (or called as one, as
  kernelfunctions.tanh): ``f(x, out=x)`` writes
  the same numbers ``f(x)`` would into x's buffer (``InPlaceFunctionStep``);
- a contraction that first scales one operand by others broadcast over it (``c,cb->cb`` on
  opt_einsum's path, then a matrix product): the scaling is written into that operand's buffer,
  as pairwise.scaling_in_place does for the path's own intermediates (``InPlaceContractionStep``).

Either way the arithmetic and its order are those of the step it replaces, so the results are
bit-identical; the buffer is checked at run time (a writable float array of the result's shape
and dtype) and the step allocates as before otherwise. A contraction's scaling of fewer than
``pairwise.IN_PLACE_ENTRIES`` entries allocates too: there the checks cost more than the
allocation. ``donor`` names the argument whose buffer is taken, which pricing.replay reads as it
does for sums.
"""

import functools
import math

import numpy as np

from .buffers import buffer_roots, distinct_entries, last_reads, may_overwrite, writable_floats
from .functionsteps import ApplyStep
from .fusion import FusedSumStep
from .contractionpaths import path_search
from .numpyarrays import numpy_contraction
from .pairwise import IN_PLACE_ENTRIES, planned_contraction, scaling_in_place
from .steps import EinsumStep

__all__ = ["donate_buffers", "smaller_first", "InPlaceFunctionStep", "InPlaceContractionStep", "in_place_step"]


def _writable(array):
    return type(array) is np.ndarray and array.flags.writeable and array.dtype.kind == "f" and \
        distinct_entries(array)


class InPlaceFunctionStep(ApplyStep):
    """A built-in ufunc applied into its argument's buffer (the argument dies here)."""

    donor = (0,)

    def __init__(self, step):
        super().__init__(step.node, step.backend)
        self.ufunc = step.fn.numeric

    def describe(self):
        return super().describe() + " (in place)"

    def bind(self, sizes, place):
        ufunc = self.ufunc
        if math.prod([sizes[d] for d in self.node.shape]) < IN_PLACE_ENTRIES:   # as on a path: a small value is
            return lambda arg: np.asarray(ufunc(arg))   # made anew, the test for writing in place costing more

        def run(arg):   # _writable's test
            if type(arg) is np.ndarray and writable_floats(arg):
                return ufunc(arg, out=arg)
            return np.asarray(ufunc(arg))
        return run

    def __call__(self, args, sizes, dtype, functions=None):
        arg = args[0]
        if not _writable(arg) or arg.size < IN_PLACE_ENTRIES:   # bind's choice
            return super().__call__(args, sizes, dtype, functions)
        with self.backend.quiet():
            return self.ufunc(arg, out=arg)


class InPlaceContractionStep(EinsumStep):
    """A contraction whose path may write into the buffer of its tensor operand ``position``
    (of the step's arguments) where it scales that operand first."""

    def __init__(self, step, position):
        self.__dict__.update(step.__dict__)
        self.donor = (position,)
        self.writable = self.tensor_args.index(position)
        self._contractions = {}

    def describe(self):
        return super().describe() + " (in place)"

    def contraction_for(self, equation, shapes):
        """The planned contraction with the donated operand's buffer writable (numpy's otherwise)."""
        key = (equation,) + tuple(shapes)
        contraction = self._contractions.get(key)
        if contraction is None:
            with self._lock:
                contraction = in_place_contraction(equation, shapes, self.writable)
                self._contractions[key] = contraction
        return contraction


def in_place_contraction(equation, shapes, writable):
    """numpy's contraction of ``shapes`` by ``equation``, where a scaling of operand ``writable``
    (a pair that sums nothing and keeps that operand's axes) writes into that operand's buffer."""
    contraction = numpy_contraction(equation, shapes)
    if len(shapes) == 2:   # one multiplication per entry, as einsum's loop makes it
        if math.prod(shapes[writable]) < IN_PLACE_ENTRIES:   # as on a path: small products are made anew
            return contraction
        return scaling_in_place(equation, [k == writable for k in range(2)]) or contraction
    if isinstance(contraction, functools.partial):   # numpy's own einsum loop, for tiny index spaces
        return contraction
    return planned_contraction(equation, shapes, path_search(equation, shapes), writable=(writable,))


def in_place_step(node, step, args, may_take):
    """The step replacing ``step`` (computing ``node`` from slots ``args``) that
    writes into a dying argument's buffer, or None; ``may_take(slot)``: whether that is allowed."""
    if isinstance(step, ApplyStep) and not step.fn.user and step.fn.ufunc_like and \
            not step.backend.lazy and step.backend.name == "numpy":
        return InPlaceFunctionStep(step) if may_take(args[0]) else None
    if type(step) is EinsumStep and step.gram is None and len(step.tensor_args) >= 2 and \
            step.backend.name == "numpy":
        for position in step.tensor_args:
            slot = args[position]
            if args.count(slot) == 1 and _may_be_scaled(step, position) and may_take(slot):
                return InPlaceContractionStep(step, position)
    return None


def _may_be_scaled(step, position):
    """Whether a pair of the step's path could scale its operand ``position`` by another operand
    broadcast over it: with two operands, the step's own equation is such a scaling; with more,
    another operand's indices are among its (distinct) indices, all of which the step keeps or sums later."""
    subscripts = [step.subscripts[k] for k in step.tensor_args]
    mine = subscripts[step.tensor_args.index(position)]
    if len(step.tensor_args) == 2:
        return scaling_in_place(step.equation, [k == position for k in step.tensor_args]) is not None
    return len(set(mine)) == len(mine) and any(
        set(other) <= set(mine) and len(set(other)) == len(other)
        for k, other in zip(step.tensor_args, subscripts) if k != position)


def donate_buffers(steps, output_slots):
    """Let numpy steps write into the buffer of an argument that dies with them: a sum into a dense
    term (FusedSumStep.donate), a ufunc into its argument, a contraction's scaling into an operand
    (``in_place_step``); ``steps`` (a program's (node, step, argument slots, released slots)) is
    changed in place.

    A sum's term qualifies when it is the one factor of a dense part of the sum, read once by it,
    and ``buffers.may_overwrite`` allows it (as it must for the others' argument): the term's value is a fresh allocation or a view of fresh allocations (a sum, a
    solve, an inverse, a contraction, a built-in elementwise function), and neither it nor any
    value that may share its buffer (its argument, a view of it) is an output or read from this
    step on. Sound because the sum's value is that term times its coefficient plus the other
    parts, no other part reads the term, and nothing reads its old entries afterwards; the buffer
    is checked at run time (its shape, dtype, writability) and a new one is allocated otherwise.
    """
    outputs = set(output_slots)
    fused = [getattr(wrapper, "fused", wrapper) for _, wrapper, _, _ in steps]   # steps.SumStep runs a FusedSumStep where the backend writes in place
    for step in fused:
        if isinstance(step, FusedSumStep):
            step.donor = None
    roots, opaque = buffer_roots(steps)
    last = last_reads(steps)
    for k, (step, (node, wrapper, args, release)) in enumerate(zip(fused, steps)):
        if not isinstance(step, FusedSumStep):   # a function or a contraction into its argument's buffer
            replacement = in_place_step(node, wrapper, args, lambda slot, k=k:
                                        may_overwrite(slot, k, roots, opaque, last, outputs))
            if replacement is not None:
                steps[k] = (node, replacement, args, release)
            continue
        for argument, part in step.donor_candidates():
            slot = args[argument]
            if args.count(slot) == 1 and may_overwrite(slot, k, roots, opaque, last, outputs):
                step.donate(argument, part, k in outputs)
                break


def smaller_first(children):
    """``children`` (node -> its operands) with each node's operands in the order a plan computes
    them: the computed ones of fewer axes first (a stable sort; symbols and constants keep their
    places), so a big value is made just before the step that reads it rather than held while
    the smaller ones are made, and a value that both a small and a big branch read dies in the
    big branch, where a function or sum can write into it (for the network gradient, tanh(XW)a
    is formed before 1 - tanh(XW)^2 takes tanh's buffer). Only the order of the steps changes:
    each computes the same numbers."""
    def ordered(node):
        operands = list(children(node))
        computed = [k for k, child in enumerate(operands) if child.children()]   # symbols and constants stay put
        for k, child in zip(computed, sorted((operands[k] for k in computed), key=lambda child: len(child.shape))):
            operands[k] = child
        return operands
    return ordered

