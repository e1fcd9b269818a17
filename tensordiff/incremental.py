"""Evaluation that reuses, between calls, the steps whose inputs did not change: ``program.incremental``.

An ``Incremental`` is an explicit object that keeps, between its calls, the values of the steps
on the boundary of each input's influence (a step read by a step that depends on more inputs
than it does) and of the outputs it returned. A call compares each value with the one the last
call got (bytes, dtype, shape and device; a dask array by identity) and runs only the steps that
depend on a value that changed, through a view of the plan (partial.py) in which kept values are
read instead of computed; the steps are the program's own, in its order, so the results are
bit-identical to a full call. At one point x of an optimisation, ``fun(x)``, ``jac(x)`` and the
many ``hessp(x, p)`` compute the work that depends on x alone once. It serialises its calls
with a lock and pickles without what it keeps; the program itself holds no new state.
"""

import numbers
import threading
from typing import Any, Optional

import numpy as np

from .annotations import Arrays, Functions, Values
from .backends import library_of
from .errors import EvaluationError
from .expr import Apply, Var
from .partial import PlanPart, kept_copy, merged_values, output_indices, plan_view, planned_for, shaped

__all__ = ["Incremental"]

FUNCTIONS_INPUT = ("functions=",)   # the functions= mapping, an input of the steps that apply user functions
MAX_VIEWS = 64   # plan views an Incremental keeps (one per pattern of reused steps and part)


def _snapshot(value):
    """What a later value is compared with: (kind, contents), the kind being its type, shape,
    dtype and device; None where it cannot be read (a traced value, a bad one: the call reports
    it), which no later value equals."""
    if type(value) is np.ndarray:
        return ((np.ndarray, value.shape, value.dtype), value.tobytes()) if value.dtype != object else None
    library = library_of(value)
    if library == "dask":   # lazy and immutable: the same array object is the same value
        return (("dask", value.shape, str(value.dtype)), value)
    try:
        if library == "torch":
            host = value.detach().cpu().numpy()
        elif library == "cupy":
            host = value.get()
        else:
            host = np.asarray(value)
    except Exception:  # noqa: BLE001 - a traced value or one the call itself will refuse
        return None
    if host.dtype == object:
        return None
    return ((type(value), host.shape, host.dtype, str(getattr(value, "device", ""))), host.tobytes())


def _same(old, new):
    if old is None or new is None or old[0] != new[0]:
        return False
    return old[1] is new[1] if old[0][0] == "dask" else old[1] == new[1]


class _StepStore:
    """The values an ``Incremental`` and its parts keep between calls, and what they were computed from.

    Each input (a symbol's name, or FUNCTIONS_INPUT) has a version, new whenever its value
    changes; a kept value is valid while the versions of the inputs its step depends on are those
    it was computed with. An input that changed at each of its last two calls (a direction p) is
    volatile: the steps depending on it are not kept."""

    def __init__(self, program, fixed):
        self.program, self.fixed = program, fixed
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        self.library, self.last_run = None, ()
        self.snapshots: dict[Any, Any] = {}       # name -> _snapshot of its last value
        self.versions: dict[Any, int] = {}        # name -> how many different values it has had
        self.changes: dict[Any, int] = {}         # name -> how many of its last calls in a row changed it
        self.dtypes: dict[Any, Any] = {}          # name -> its array's dtype (None: a Python number)
        self.accepted: set = set()                # names of values that calls have run with
        self.values: dict[Any, Any] = {}          # slot -> kept value (Recording writes it)
        self.entries: dict[int, tuple] = {}       # slot -> (dtype, versions of its inputs) of its kept value
        self.parts: dict[tuple, PlanPart] = {}
        self.views: dict[tuple, Any] = {}
        self.depends: Any = None
        self.boundary: frozenset = frozenset()
        self.steps_run, self.steps_reused = 0, 0

    def plan(self, program):
        """Each step's inputs (symbol names, and FUNCTIONS_INPUT for user functions, sorted) and
        the boundary steps: read by a step that depends on more inputs."""
        depends = []
        for node, _plan, args, _ in program.steps:
            if isinstance(node, Var):
                depends.append(frozenset((node.name,)))
                continue
            inputs = frozenset().union(*(depends[s] for s in args))
            if isinstance(node, Apply) and node.fn.user:
                inputs |= {FUNCTIONS_INPUT}
            depends.append(inputs)
        self.boundary = frozenset(s for k, (node, _plan, args, _) in enumerate(program.steps) for s in args
                                  if not isinstance(program.steps[s][0], Var) and depends[s] < depends[k])
        interned = {}
        self.depends = [interned.setdefault(d, tuple(sorted(d, key=str))) for d in depends]

    def observe(self, program, values, functions):
        """Compare ``values`` with the last ones seen: a new version of each that changed, and a
        fresh start when a shape, a dtype, a device or an int (perhaps a dim's size) changed or a
        value cannot be compared. Returns whether every value could be."""
        comparable = True
        for name, value in values.items():
            if name in self.fixed:
                continue
            new = _snapshot(value)
            old = self.snapshots.get(name, False)
            if old is not False and _same(old, new):
                self.changes[name] = 0
                continue
            comparable = comparable and new is not None
            if old is not False and (new is None or old is None or new[0] != old[0]
                                     or isinstance(value, numbers.Integral)):
                self.entries.clear()
            self.versions[name] = self.versions.get(name, 0) + 1
            self.changes[name] = self.changes.get(name, 0) + 1
            self.snapshots[name] = new
            self.dtypes.pop(name, None)
        functions_key = tuple(sorted((str(k), id(v)) for k, v in (functions or {}).items()))
        if self.snapshots.get(FUNCTIONS_INPUT) != functions_key:
            self.snapshots[FUNCTIONS_INPUT] = functions_key
            self.versions[FUNCTIONS_INPUT] = self.versions.get(FUNCTIONS_INPUT, 0) + 1
            self.values[FUNCTIONS_INPUT] = functions   # held, so the ids compared stay theirs
        return comparable

    def evaluation_dtype(self, program, values):
        """The dtype a call of ``program`` with ``values`` evaluates in, as ``Program`` binds it
        (None if a value cannot be read: the call reports it)."""
        dtypes = []
        for name, value in values.items():
            dtype = self.dtypes.get(name, False)
            if dtype is False:
                try:
                    if isinstance(value, (int, float)) or name not in program.symbols and \
                            isinstance(value, numbers.Integral):
                        dtype = None   # a Python number, or a dim's size
                    else:
                        dtype = program.backend.to_array(name, value).dtype
                except Exception:  # noqa: BLE001 - the call itself reports a bad value
                    return None
                self.dtypes[name] = dtype
            if dtype is not None:
                dtypes.append(dtype)
        return program.backend.result_type(dtypes)

    def run(self, indices, values, functions):
        given = sorted(set(values) & set(self.fixed))
        if given:
            raise EvaluationError(f"{given[0]!r} is fixed in this incremental evaluation (program.incremental's "
                                  "fixed values); make another to change it")
        values = {**self.fixed, **values}
        program = planned_for(self.program, values)
        if program.backend.name != self.library:
            self.clear()
            self.library = program.backend.name
            self.plan(program)
        part = self.parts.get(indices)
        if part is None:
            part = self.parts[indices] = PlanPart(program, indices)
            part.inputs = frozenset(self.depends[k] for k in part.needed)
        comparable = self.observe(program, values, functions)
        dtype = self.evaluation_dtype(program, values)
        versions, depends, entries = self.versions, self.depends, self.entries
        stamps = {names: (dtype, tuple([versions.get(name, 0) for name in names]))
                  for names in {depends[k] for k in part.output_slots}}
        missing = ()
        if all(entries.get(k) == stamps[depends[k]] for k in part.output_slots) and set(values) <= self.accepted \
                and self.library == "numpy":
            # every output kept, from values that calls have run with: handed back as a call does
            outputs = []
            for k in part.output_slots:
                outputs.append(program.backend.finish(self.values[k], dtype, outputs, missing))
            self.steps_run, self.steps_reused, self.last_run = 0, len(set(part.output_slots)), ()
            return outputs
        stamps.update({names: (dtype, tuple([versions.get(name, 0) for name in names]))
                       for names in part.inputs if names not in stamps})
        used, seen, stack = set(), set(), list(part.output_slots)
        steps = program.steps
        while stack:   # the kept values the outputs reach first
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            if entries.get(k) == stamps[depends[k]]:
                used.add(k)
            else:
                stack.extend(steps[k][2])
        used = frozenset(used)
        plan = part.plans.get(used)
        if plan is None:
            runs = _running(program, part, used)
            candidates = [(k, depends[k]) for k in sorted(runs) if k in self.boundary or k in part.output_slots]
            plan = part.plans[used] = (tuple(sorted(runs)), candidates)
        runs, candidates = plan
        record = frozenset()
        if comparable and dtype is not None:
            volatile = {name for name, count in self.changes.items() if count >= 2}
            record = frozenset(k for k, names in candidates if not volatile.intersection(names))
        key = (indices, used, record)
        view = self.views.get(key)
        if view is None:
            if len(self.views) >= MAX_VIEWS:
                self.views.clear()
            view = self.views[key] = plan_view(program, part, used, record, self.values)
        for k in runs:
            entries.pop(k, None)   # recomputed: kept again below only if recorded
        outputs = view(values, functions=functions)
        for k in record:
            entries[k] = stamps[depends[k]]
        self.accepted.update(values)
        self.steps_run, self.steps_reused, self.last_run = len(runs), len(used), runs
        return outputs


def _running(program, part, used):
    """The non-symbol steps a view of ``part`` that reuses ``used`` computes."""
    runs, stack = set(), [k for k in part.output_slots if k not in used]
    while stack:
        k = stack.pop()
        if k in runs or k in used or isinstance(program.steps[k][0], Var):
            continue
        runs.add(k)
        stack.extend(program.steps[k][2])
    return runs


class Incremental:
    """A compiled program evaluated again and again, reusing the steps whose inputs did not change.

    Made by ``Program.incremental``. Call it as the program (values by keyword or as one dict,
    ``functions=``); ``part(outputs)`` is an ``Incremental`` of some of the outputs that shares
    this one's kept values. Each call compares its values with the last ones (their bytes,
    dtype, shape and device; a dask array by identity), keeps the values of the steps on the
    boundary of an input's influence and of the outputs it returns, and runs only the steps
    that depend on a value that changed; the results are bit-identical to the program's. A
    change of any shape, a dim's size given by name, or the evaluation's dtype starts afresh.
    Calls are serialised by a lock; a pickled one keeps its fixed values, not its kept ones.
    Traced values (jax.jit, torch.compile) cannot be compared: such a call runs in full.

    Parameters
    ----------
    program : Program
        The compiled program.
    fixed : dict, optional
        Values bound once, {name: array} (copied, never compared again): constants such as data.
    outputs : int, Expr, or list of them, optional
        The outputs its calls return (default: all, as the program returns them).

    Attributes
    ----------
    steps_run, steps_reused : int
        How many steps the last call computed and how many kept values it read instead.
    last_run : tuple of int
        The slots of the steps the last call computed.

    Raises
    ------
    EvaluationError
        When called with a value for a fixed name, and as ``td.evaluate``; as ``Program.part``
        for bad ``outputs``.

    Examples
    --------
    >>> import numpy as np
    >>> import tensordiff as td
    >>> A, x, p = td.matrix("A", "n n"), td.vector("x", "n"), td.vector("p", "n")
    >>> f = -td.logdet(A + td.diag(td.exp(x)))
    >>> program = td.compile([f, td.grad(f, x), td.hvp(f, x, p)])
    >>> run = program.incremental({"A": np.eye(3)})
    >>> value_and_gradient, product = run.part([0, 1]), run.part(2)
    >>> value, gradient = value_and_gradient(x=np.zeros(3))
    >>> product(x=np.zeros(3), p=np.ones(3))   # the inverse at x is kept, not computed again
    array([-0.25, -0.25, -0.25])
    >>> run.steps_reused > 0
    True
    """

    def __init__(self, program, fixed=None, outputs=None):
        fixed = merged_values((fixed,), {}) if fixed is not None else {}
        self.store = _StepStore(program, {name: kept_copy(value) if not isinstance(value, (int, float)) else value
                                          for name, value in fixed.items()})
        self.outputs_chosen = outputs
        if outputs is None:
            self.indices, self.single = tuple(range(len(program.outputs))), None
        else:
            self.indices, self.single = output_indices(program, outputs)

    @property
    def program(self) -> Any:
        return self.store.program

    @property
    def steps_run(self) -> int:
        return self.store.steps_run

    @property
    def steps_reused(self) -> int:
        return self.store.steps_reused

    @property
    def last_run(self) -> tuple[int, ...]:
        """The slots (in ``program.steps``, or its twin's for other arrays) of the steps the last call computed."""
        return self.store.last_run

    def part(self, outputs: Any) -> "Incremental":
        """An ``Incremental`` of some outputs that shares this one's kept values.

        Parameters
        ----------
        outputs : int, Expr, or list of them
            Positions in the program's outputs (negative from the end) or output expressions.

        Returns
        -------
        Incremental
            Its calls return the chosen outputs (one array if one was chosen, else a tuple).

        Raises
        ------
        EvaluationError
            If no output is chosen, a position is out of range, or an expression is not an output.

        Examples
        --------
        >>> import numpy as np
        >>> import tensordiff as td
        >>> x = td.vector("x", "n")
        >>> run = td.compile([td.sum(td.exp(x)), td.exp(x)]).incremental()
        >>> run.part(1)(x=np.zeros(2))
        array([1., 1.])
        """
        part = object.__new__(Incremental)   # not copy.copy: __reduce__ makes a fresh store
        part.store, part.outputs_chosen = self.store, outputs
        part.indices, part.single = output_indices(self.program, outputs)
        return part

    def clear(self) -> None:
        """Forget the kept values (the next call runs in full).

        Returns
        -------
        None

        Examples
        --------
        >>> import numpy as np
        >>> import tensordiff as td
        >>> x = td.vector("x", "n")
        >>> run = td.compile(td.sum(td.exp(x))).incremental()
        >>> _ = run(x=np.zeros(2)); _ = run(x=np.zeros(2))
        >>> run.steps_run
        0
        >>> run.clear(); _ = run(x=np.zeros(2)); run.steps_run > 0
        True
        """
        with self.store.lock:
            self.store.clear()

    def __reduce__(self):
        return (Incremental, (self.program, dict(self.store.fixed), self.outputs_chosen))

    def __repr__(self):
        return f"<tensordiff incremental evaluation: outputs {list(self.indices)} of {len(self.program.outputs)}, " \
            f"fixed {sorted(self.store.fixed)}>"

    def __call__(self, /, *args: Values, functions: Optional[Functions] = None, **values: Any) -> Arrays:
        values = merged_values(args, values)
        with self.store.lock:
            outputs = self.store.run(self.indices, values, functions)
        if self.single is None:
            program = self.program
            return outputs[0] if program.single else _nested(outputs, program.nesting)
        return shaped(outputs, self.single)


def _nested(outputs, nesting):
    if nesting is None:
        return tuple(outputs)
    return tuple(_nested(outputs, n) if isinstance(n, tuple) else outputs[n] for n in nesting)
