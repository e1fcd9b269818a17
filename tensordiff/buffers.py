"""Which buffers a compiled program's values may share: the liveness rule for writing in place.

A step's value is one of three kinds (``value_kind``):

- ``FRESH``: always an array the step allocated (a sum, an inverse, a solve, a contraction of two
  or more arrays or of one scaled by a constant, a Gram product, a built-in function whose numpy
  implementation is a ufunc): it shares memory with nothing else.
- ``FRESH_OR_VIEW``: a new array or a view of its arguments, never a third party's buffer (a
  contraction of one array may be a transpose or a diagonal of it; a built-in elementwise
  function's numpy implementation returns a new array, or its argument itself for an identity
  such as stop_gradient; a sum written in place returns its dying term's buffer).
- ``OPAQUE``: anything else, which may be an input, a constant the step keeps, or what a user's
  function returned: never written into.

``buffer_roots`` follows these through the plan: the steps whose allocations a value may share.
``may_overwrite`` is the rule ``inplace.donate_buffers`` applies before a step writes into the
buffer of one of its arguments: every root of that argument's value is a fresh allocation, and
every other value that may share one of those roots (the argument's own argument, a view of it
another step took, a view of a view) has had its last reader before that step and is no output. Slots are dead only as
far as their readers go; a view keeps its base's buffer alive, which the step's own release list
cannot see (selfcheck seed 40942: a sum wrote into exp(x)'s buffer while a later step still read
its diagonal, a view of it).
"""


from .expr import Add, Apply, Einsum, Inv, Solve
from .kernels import compiled_distinct_layout

__all__ = ["FRESH", "FRESH_OR_VIEW", "OPAQUE", "value_kind", "buffer_roots", "last_reads", "may_overwrite",
           "distinct_entries", "DistinctLayouts", "DONATED_SUM_ENTRIES"]

# a sum writes into its dying term's buffer (fusion.FusedSumStep.donate) where its output has at least
# this many entries: below (32 KiB of float64) the buffer saved is nothing to a peak, while scaling the
# term in place costs numpy's broadcast passes, which the kernels' one pass into a new output skips
DONATED_SUM_ENTRIES = 2 ** 12

FRESH, FRESH_OR_VIEW, OPAQUE = "fresh", "fresh or a view of its arguments", "opaque"


def value_kind(node, step):
    """The kind of value the step ``step`` computing ``node`` returns (see the module docstring)."""
    step = getattr(step, "fused", None) or step   # steps.SumStep runs a FusedSumStep where the backend writes in place
    if isinstance(node, Add):
        return FRESH_OR_VIEW if getattr(step, "donor", None) is not None else FRESH
    if isinstance(node, (Inv, Solve)):
        return FRESH
    if isinstance(node, Apply):   # a ufunc called without out= returns a new array
        return OPAQUE if node.fn.user else FRESH if node.fn.ufunc_like else FRESH_OR_VIEW
    if isinstance(node, Einsum):
        tensor_args = getattr(step, "tensor_args", None)
        if not tensor_args:
            return OPAQUE
        if getattr(step, "gram", None) is not None or len(tensor_args) >= 2:
            return FRESH
        # one array times a constant factor other than 1 (EinsumStep.parts multiplies it first)
        scaled = step.coeff != 1.0 and not step.scalar_args and not step.orphan_dims
        return FRESH if scaled else FRESH_OR_VIEW
    return OPAQUE


class BufferRoots(list):
    """Per slot, the frozenset of slots whose allocations its value may share; ``sharers[root]``
    lists the slots whose roots hold ``root``, so ``may_overwrite`` visits only the values that may
    share a buffer rather than every slot (linear planning of deep programs, not quadratic)."""

    def __init__(self):
        super().__init__()
        self.sharers = {}

    def append(self, slot_roots):
        slot = len(self)
        super().append(slot_roots)
        for root in slot_roots:
            self.sharers.setdefault(root, []).append(slot)


def buffer_roots(steps):
    """For each slot of ``steps`` (a program's (node, step, argument slots, released slots)), the
    frozenset of slots whose allocations its value may share (a ``BufferRoots``), and the set of
    OPAQUE slots.

    A FRESH value's roots are itself; the others' are themselves and their arguments' roots."""
    roots, opaque = BufferRoots(), set()
    for k, (node, step, args, _) in enumerate(steps):
        kind = value_kind(node, step)
        if kind == OPAQUE:
            opaque.add(k)
        if kind == FRESH:
            roots.append(frozenset((k,)))
        else:
            roots.append(frozenset((k,)).union(*(roots[s] for s in args)))
    return roots, opaque


def last_reads(steps):
    """Slot -> the last step reading it."""
    last = {}
    for k, (_, _, args, _) in enumerate(steps):
        for s in args:
            last[s] = k
    return last


def may_overwrite(slot, k, roots, opaque, last, outputs):
    """Whether step ``k`` may write into the buffer of ``slot``'s value: every root of it is a fresh
    allocation and every other value sharing a root (``roots``, ``opaque`` from ``buffer_roots``;
    ``last`` from ``last_reads``) is no output and read by no step from ``k`` on."""
    mine = roots[slot]
    if mine & opaque or slot in outputs or last.get(slot) != k:
        return False
    for root in mine:
        for other in roots.sharers[root]:
            if other != slot and (other in outputs or last.get(other, -1) >= k):
                return False
    return True


def distinct_entries(array):
    """Whether no two entries of numpy ``array`` share memory (its axes, taken by increasing
    stride, each step over the whole extent of the ones before): only then does an elementwise
    write into it give each entry its own result. A broadcast (stride 0) fails, a transpose or
    a diagonal passes.

    >>> import numpy as np
    >>> from tensordiff.buffers import distinct_entries
    >>> x = np.zeros((3, 4))
    >>> distinct_entries(x.T), distinct_entries(np.diagonal(x)), distinct_entries(np.lib.stride_tricks.as_strided(x, (3, 4), (8, 0)))
    (True, True, False)
    """
    extent = array.itemsize
    for stride, size in sorted((abs(st), n) for st, n in zip(array.strides, array.shape) if n > 1):
        if stride < extent:
            return False
        extent = stride * size
    return True



def writable_floats(array):
    """Whether a step may write into numpy ``array`` entry by entry: it is writable, of floats, and
    its entries are distinct (``distinct_entries``), read from its buffer by the compiled kernels
    where they are built.

    >>> import numpy as np
    >>> from tensordiff.buffers import writable_floats
    >>> x = np.zeros((3, 4))
    >>> writable_floats(x.T), writable_floats(np.zeros(3, dtype=int)), writable_floats(np.broadcast_to(x, (2, 3, 4)))
    (True, False, False)
    """
    answer = compiled_distinct_layout(array, True) if compiled_distinct_layout is not None else None
    if answer is not None:
        return answer
    return array.flags.writeable and array.dtype.kind == "f" and distinct_entries(array)


class DistinctLayouts:
    """``distinct_entries`` for a bound step (specialise.py), remembering the layouts (shape and
    strides, all the answer reads) found to pass: a program's calls produce a few, the same on
    every call. Thread-safe: a layout is only ever added, and only once it has passed.

    >>> import numpy as np
    >>> check = DistinctLayouts()
    >>> x = np.zeros((3, 4))
    >>> check(x), check(x.T), check(np.lib.stride_tricks.as_strided(x, (3, 4), (8, 0)))
    (True, True, False)
    """

    LIMIT = 16   # layouts remembered

    def __init__(self):
        self.passed = set()

    def __call__(self, array):
        if compiled_distinct_layout is not None:   # read from its buffer, cheaper than a remembered layout
            answer = compiled_distinct_layout(array)
            if answer is not None:
                return answer
        layout = (array.shape, array.strides)
        if layout in self.passed:
            return True
        if not distinct_entries(array):
            return False
        if len(self.passed) < self.LIMIT:
            self.passed.add(layout)
        return True
