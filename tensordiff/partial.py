"""Part of a compiled program: ``program.part(outputs)`` runs only the steps some outputs need.

A ``ProgramPart`` call takes only the values those steps read. It runs a view of the program's
plan (``Program.restricted``): a program whose steps are that part, renumbered, through the
program's own executor, the specialised numpy path included, so its results are bit-identical
to the program's. The views here are also what ``program.incremental`` (incremental.py) runs:
there, a step whose value is kept becomes a ``CachedValue`` and a step whose value is to be kept
a ``Recording``. Everything is driven by the plan data (``program.steps``,
``program.output_slots``); the program itself holds no new state, so it stays thread-safe and
picklable.
"""

import numbers
from typing import Any, Optional

import numpy as np

from .annotations import Arrays, Functions, Values
from .backends import infer_backend, library_of
from .errors import EvaluationError
from .expr import Add, Einsum, Expr, Var
from .indices import base_dims, format_dims, slice_of

__all__ = ["ProgramPart", "PlanPart", "plan_view", "output_indices", "merged_values", "planned_for", "shaped",
           "kept_copy", "fresh_copy", "CachedValue", "Recording"]




def output_indices(program, outputs):
    """(positions in ``program.outputs``, whether one output was asked for rather than a list).

    ``outputs`` is a position (an int, negative from the end), an output expression, or a list,
    tuple or range of them."""
    single = not isinstance(outputs, (list, tuple, range))
    items = [outputs] if single else list(outputs)
    count = len(program.outputs)
    if not items:
        raise EvaluationError(f"choose at least one of the program's {count} outputs")
    indices = []
    for item in items:
        if isinstance(item, Expr):
            matches = [k for k, output in enumerate(program.outputs) if output is item]
            if not matches:
                text = " ".join(str(item).split())
                raise EvaluationError(f"{text[:60] + ('…' if len(text) > 60 else '')} (shape "
                                      f"{format_dims(item.shape)}) is not an output of this program: choose "
                                      f"one of program.outputs, or a position from 0 to {count - 1}")
            indices.append(matches[0])
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            if not -count <= item < count:
                raise EvaluationError(f"output {item} is out of range: the program has {count} output"
                                      f"{'s' if count != 1 else ''} (positions 0 to {count - 1})")
            indices.append(int(item) % count)
        else:
            raise EvaluationError(f"outputs are chosen by position (an int) or by the output expression itself, "
                                  f"got {type(item).__name__} {item!r:.40}")
    return tuple(indices), single


def merged_values(args, values):
    if args:
        if len(args) > 1 or not isinstance(args[0], dict):
            raise EvaluationError("pass values as keywords or as one dict {name: array}")
        named = {}
        for key, value in args[0].items():
            if isinstance(key, Var):
                key = key.name
            elif not isinstance(key, str):
                raise EvaluationError(f"values are keyed by symbol names or symbols, got the key {key!r:.60}")
            named[key] = value
        values = {**named, **values}
    return values


def planned_for(program, values):
    """The program a call with ``values`` runs: ``program``, or its twin for the values' library."""
    return program.planned_for(infer_backend(values) if program.follows_inputs else program.backend.name)


class PlanPart:
    """The steps of one program that some of its outputs need: their slots, the symbols and dims they read."""

    def __init__(self, program, indices):
        self.output_slots = tuple(program.output_slots[k] for k in indices)
        needed, stack = set(), list(self.output_slots)
        while stack:
            k = stack.pop()
            if k not in needed:
                needed.add(k)
                stack.extend(program.steps[k][2])
        self.needed = frozenset(needed)
        self.symbol_slots = frozenset(k for k in needed if isinstance(program.steps[k][0], Var))
        self.symbols = {program.steps[k][0].name: program.steps[k][0].dims for k in sorted(self.symbol_slots)}
        self.dims = plan_dims([program.steps[k][0] for k in needed], program.index_checks)
        self.inputs = frozenset()   # incremental.py: the distinct input tuples of the needed steps
        self.plans = {}   # incremental.py: reused steps -> (steps computed, those that may be kept)


def plan_dims(nodes, index_checks):
    """The dims whose sizes running ``nodes`` needs: as ``Program`` collects them for all its nodes."""
    dims = set()
    for node in nodes:
        dims.update(node.shape)
        if isinstance(node, Einsum):
            dims.update(node.dims)
        for term in node.terms if isinstance(node, Add) else ():
            dims.update(term.dims if isinstance(term, Einsum) else term.shape)
    dims.update(dim for dim, _ in index_checks)
    for dim in list(dims):
        while (parts := slice_of(dim)) is not None:
            dim = parts[0]
            dims.add(dim)
    dims.update(base for dim in list(dims) for base in base_dims(dim))
    return dims


def plan_view(program, part, cached=frozenset(), record=frozenset(), store=None):
    """``program`` restricted to ``part``: the steps that run (stopping at the ``cached`` ones, which
    read their value from ``store``), each symbol of the part, and the ``record`` steps writing
    their values into ``store``."""
    steps = program.steps
    live, stack = set(part.symbol_slots), list(part.output_slots)
    while stack:
        k = stack.pop()
        if k not in live:
            live.add(k)
            if k not in cached:
                stack.extend(steps[k][2])
    order = sorted(live)
    renumber = {k: j for j, k in enumerate(order)}
    last_use = {}
    for k in order:
        if k not in cached:
            for s in steps[k][2]:
                last_use[s] = k
    keep = set(part.output_slots)
    # a kept value that a step writes into (its dying argument's buffer) is read as a copy it owns, so
    # that step runs its in-place route, as in the program: the other route may round differently
    owned = keep | {steps[k][2][donor[0]] for k in order if k not in cached and
                    (donor := getattr(getattr(steps[k][1], "fused", steps[k][1]), "donor", None)) is not None}
    view_steps = []
    for k in order:
        node, plan, args, _ = steps[k]
        if k in cached:
            plan, args = CachedValue(plan, store, k, k in owned), ()
        elif k in record:
            plan = Recording(plan, store, k)
        release = tuple(renumber[s] for s in set(args) if last_use.get(s) == k and s not in keep)
        view_steps.append((node, plan, tuple(renumber[s] for s in args), release))
    return program.restricted(view_steps, tuple(renumber[s] for s in part.output_slots), part.symbols, part.dims)


def shaped(outputs, single):
    return outputs[0] if single else tuple(outputs)


class ProgramPart:
    """Some outputs of a compiled program, running only the steps they need; made by ``Program.part``.

    Call it as the program itself (values by keyword or as one dict, ``functions=``); it needs
    the values of the symbols its outputs read, and returns their arrays (one array if one
    output was chosen, else a tuple in the order chosen), bit-identical to the program's. It is
    thread-safe and picklable, as its program is.

    Parameters
    ----------
    program : Program
        The compiled program.
    outputs : int, Expr, or list of them
        The outputs: positions in the program's outputs (a nested compile counted flat, in
        order; negative from the end) or the output expressions themselves.

    Attributes
    ----------
    indices : tuple of int
        The positions of the chosen outputs.
    symbols : dict
        {name: dims} of the symbols the part reads.

    Raises
    ------
    EvaluationError
        If no output is chosen, a position is out of range, or an expression is not an output
        of the program; when called, as ``td.evaluate``.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> X, w, p = td.matrix("X", "n k"), td.vector("w", "k"), td.vector("p", "k")
    >>> f = td.sum(td.exp(X @ w))
    >>> program = td.compile([f, td.grad(f, w), td.hvp(f, w, p)])
    >>> value_and_gradient = program.part([0, 1])
    >>> sorted(value_and_gradient.symbols)   # p is not needed
    ['X', 'w']
    >>> value, gradient = value_and_gradient(X=np.eye(2), w=np.zeros(2))
    >>> float(value), gradient
    (2.0, array([1., 1.]))
    """

    def __init__(self, program, outputs):
        self.program = program
        self.indices, self.single = output_indices(program, outputs)
        self.views = {}   # library -> the plan view it runs (made on first use)

    @property
    def symbols(self) -> dict[str, tuple[str, ...]]:
        return dict(PlanPart(self.program, self.indices).symbols)

    def __reduce__(self):
        return (ProgramPart, (self.program, self.indices[0] if self.single else list(self.indices)))

    def __repr__(self):
        return f"<tensordiff program part: outputs {list(self.indices)} of {len(self.program.outputs)}>"

    def __call__(self, /, *args: Values, functions: Optional[Functions] = None, **values: Any) -> Arrays:
        values = merged_values(args, values)
        program = planned_for(self.program, values)
        view = self.views.get(program.backend.name)
        if view is None:
            view = self.views[program.backend.name] = plan_view(program, PlanPart(program, self.indices))
        return shaped(view(values, functions=functions), self.single)


class CachedValue:
    """A step of a plan view whose value an ``Incremental`` kept: it reads it instead of computing it
    (an output gets a copy its caller owns). Pricing reads the original step's attributes."""

    def __init__(self, step, store, slot, as_output):
        self.step, self.store, self.slot, self.as_output = step, store, slot, as_output

    def __getattr__(self, name):
        if name == "step":
            raise AttributeError(name)
        return getattr(self.step, name)

    def describe(self):
        return "kept value"

    def value(self):
        value = self.store[self.slot]
        return fresh_copy(value) if self.as_output else value

    def bind(self, sizes, place):
        return lambda: self.value()

    def __call__(self, *args, **kwargs):
        return self.value()


class Recording:
    """A step of a plan view that also writes its value (a read-only copy) into an ``Incremental``'s store."""

    def __init__(self, step, store, slot):
        self.step, self.store, self.slot = step, store, slot

    def __getattr__(self, name):
        if name == "step":
            raise AttributeError(name)
        return getattr(self.step, name)

    def describe(self):
        return self.step.describe() if hasattr(self.step, "describe") else "step"

    def keep(self, value):
        self.store[self.slot] = kept_copy(value)
        return value

    def bind(self, sizes, place):
        bind = getattr(self.step, "bind", None)
        bound = bind(sizes, place) if bind is not None else None
        if bound is None:
            return None   # the executor's generic binding calls this object
        keep = self.keep
        return lambda *operands: keep(bound(*operands))

    def __call__(self, *args, **kwargs):
        return self.keep(self.step(*args, **kwargs))


def kept_copy(value):
    """A copy of a step's value that later steps of this run cannot change (numpy: read-only)."""
    if type(value) is np.ndarray:
        value = fresh_copy(value)
        value.flags.writeable = False
        return value
    return fresh_copy(value)


def fresh_copy(value):
    """A copy of an array the caller may change (jax and dask arrays are immutable: themselves); a
    numpy copy keeps the layout and, as a view, the not owning its data: a sum writes into a dying
    term's buffer by those (fusion.py), so a step reading the copy rounds as it did reading the value."""
    if isinstance(value, np.ndarray):
        copy = value.copy(order="K")
        return copy if value.flags.owndata else copy.view()
    library = library_of(value)
    if library == "torch":
        return value.clone()
    if library == "cupy":
        return value.copy()
    return value
