"""A compiled program specialised to its input shapes: one straight-line function per signature.

Without it a call walks the step list, and each step re-derives per call what only the shapes
decide: its contraction plan (looked up by the operands' shapes), the scalar factor of orphan
dims, the sizes of a sum's output and its coefficients. At the first call with a new signature
(the names, shapes and dtypes of the values; a torch tensor's device too) the program is
specialised: each step binds what the shapes decide (``step.bind(sizes, place)``, or a generic
binding for a step without one), and the steps become one generated Python function, a line per
step, with each intermediate dropped after its last reader (``r3 = None``). Later calls with that
signature skip the binding of dims, the dispatch per step and the lookups; they still validate
what their values decide (symmetric symbols, conversions), run the memory guard, and hand back
arrays the caller owns. The bound steps run the same operations in the same order as the steps
themselves, so the results are bit-identical. numpy, torch and untraced jax calls are
specialised (a traced or lazy call runs the step loop); where the backend compiles whole
functions (jax.jit) and tracing keeps every step's meaning (``traceable``), the function is
compiled on the second call with its signature.

A specialisation holds no per-call state (its one-time compilation takes a lock), so one program
is thread-safe as before; a pickled program drops its specialisations (its ``__reduce__``
compiles anew) and specialises again on its first call.
"""

import builtins
import threading

import numpy as np

from .binding import require_symmetric
from .expr import Apply, Cholesky, Pinv, Var
from .reductionnodes import Compare, CumSum, Diff, LogSumExp, Max, Maximum, Softmax, Triangle, Where
from .spectralnodes import EigVals, EigVecs
from .functionsteps import ApplyStep, MatrixStep
from .steps import EinsumStep, SumStep

__all__ = ["Specialised", "signature", "traceable", "MAX_SIGNATURES", "PLAN_FILENAME"]

MAX_SIGNATURES = 16   # specialisations kept per program (a program called at many shapes starts over)
COMPILE_AFTER = 2   # calls with one signature before a backend's compiler (jax.jit) compiles its function
PLAN_FILENAME = "<tensordiff plan>"   # the generated functions' file name: tracebacks and the OOM message read it
_FLOAT_KINDS = (np.dtype(np.float64), np.dtype(np.float32))
# steps that are array operations alone, whatever their values: no policy, no Python bool of an entry
_PURE = (Pinv, EigVals, EigVecs, Max, LogSumExp, Softmax, Compare, Where, Maximum, Triangle, CumSum, Diff)


def signature(values, backend=None, dims=()):
    """The key of the specialisation for ``values`` ({name: value}), or None when a value is of a
    kind that is always converted in full (anything but numpy arrays, numbers, numpy scalars and
    the arrays ``backend.signature_entry`` keys: torch tensors, concrete jax arrays; such a call
    runs the step loop). A number named as one of ``dims`` (the program's) is a dim's size
    (eye("n"), n=4): its value is part of the key.

    >>> import numpy as np
    >>> from tensordiff.specialise import signature
    >>> signature({"X": np.ones((2, 3)), "lam": 0.5})
    (('X', (2, 3), dtype('float64')), ('lam', <class 'float'>))
    """
    key = []
    array_type = getattr(backend, "keyed_array_type", None)   # its arrays' class, tested first (jax's concrete arrays)
    for name, value in values.items():
        kind = type(value)
        if kind is np.ndarray:
            key.append((name, value.shape, value.dtype))
        elif kind is array_type:
            key.append((name, *backend.signature_entry(value)))
        elif name in dims and not isinstance(value, (float, np.floating)):
            key.append((name, kind, value))
        elif kind is float or kind is int or kind is bool or isinstance(value, np.generic):
            key.append((name, kind))
        else:
            entry = backend.signature_entry(value) if backend is not None else None
            if entry is None:
                return None
            key.append((name, *entry))
    return tuple(key)


class Specialised:
    """A program's run for one signature: its dims' sizes, dtype, placement and generated function.

    ``arrays(values)`` converts and checks the values as ``Program._bind`` does, knowing their
    shapes agree; ``run(arrays, functions)`` returns the outputs' values, in the program's order.
    """

    def __init__(self, program, values, sizes, dtype, place):
        self.sizes, self.dtype, self.place = sizes, dtype, place
        self.backend = program.backend
        # values numpy hands back as they are (float arrays); the rest go through the backend's conversion
        self.as_given = frozenset(name for name, value in values.items()
                                  if type(value) is np.ndarray and value.dtype in _FLOAT_KINDS) \
            if program.backend.name == "numpy" else frozenset()
        self.symmetric = program.symmetric
        self.all_given = not self.symmetric and len(self.as_given) == len(values)
        # numbers numpy reads as float64 0-d arrays (Python floats, np.float64), as numpy_value converts them
        self.floats = frozenset(name for name, value in values.items() if isinstance(value, float)) \
            if program.backend.name == "numpy" else frozenset()
        # numpy float arrays and numbers read as float64 alone, nothing to check: the numbers converted
        self.only_floats = tuple(self.floats) if program.backend.name == "numpy" and not self.symmetric and \
            len(self.as_given) + len(self.floats) == len(values) else None
        self.owns_check = program.backend.name == "numpy"   # finish's quick test of arrays the call made
        self.bound = None   # above the peak memory at these sizes (Program._peak_bound), set by the program
        self.run, self.line_steps, self.source = straight_line(program, sizes, place)
        # a library that compiles whole functions (jax.jit) compiles this one once its signature repeats,
        # where tracing keeps every step's meaning
        self.compiler = program.backend.plan_compiler(program, self, values) if traceable(program) else None
        # numpy, never compiled: a call runs ``run`` itself (Program.__call__'s direct route)
        self.direct = program.backend.name == "numpy" and self.compiler is None
        self.calls = 0
        self.compiled = False   # whether run is the compiler's function
        # once compiled, run itself: it takes a call's values as given and finishes its outputs (plan_compiler)
        self.compiled_run = None
        self.lock = threading.Lock()

    def __call__(self, arrays, functions):
        """The outputs' values for the ``arrays`` of this signature, in the program's order."""
        if self.compiler is not None:
            with self.lock:
                self.calls += 1
                if self.compiler is not None and self.calls >= COMPILE_AFTER:
                    # the compiled function converts the values itself and finishes its outputs (plan_compiler)
                    self.run, self.compiler, self.compiled, self.all_given = self.compiler(self.run), None, True, True
                    self.compiled_run = self.run
        return self.run(arrays, functions)

    def arrays(self, values):
        """The validated arrays of ``values`` (whose signature is this one's)."""
        as_given, to_array = self.as_given, self.backend.to_array
        if self.all_given:   # float numpy arrays alone, nothing to check: the values are the arrays
            return values
        if self.only_floats is not None:
            arrays = dict(values)
            for name in self.only_floats:
                arrays[name] = np.asarray(float(arrays[name]))
            return arrays
        floats = self.floats
        arrays = {name: value if name in as_given else np.asarray(float(value)) if name in floats
                  else to_array(name, value) for name, value in values.items()}
        if self.symmetric:
            for name, node in self.symmetric.items():
                require_symmetric(node, arrays[name])
        if self.backend.name != "numpy":   # one dtype and device (torch), as the step loop's call prepares them
            arrays = self.backend.prepare(arrays, self.sizes, self.dtype, None)[0]   # (dask's alone reads the program)
        return arrays

    def finish(self, results, arrays, outputs):
        """Append to ``outputs`` each result as an array the caller owns (the backend's ``finish``).

        On numpy, a result of the evaluation's dtype that owns its writable buffer and is neither
        a value given nor an earlier output is one this call allocated, so it shares no memory with
        them (an array owning its buffer shares it only with its views): it is handed back as it is,
        as ``finish`` would after comparing every pair of buffers. One that does not own a
        writable buffer is copied, as ``finish`` copies it, without comparing the copy's buffer."""
        backend, place, given = self.backend, self.place, arrays.values()
        for result in results:
            if self.owns_check and type(result) is np.ndarray and (result.dtype is place or result.dtype == place):
                flags = result.flags
                if not (flags.owndata and flags.writeable):   # a view, or read-only: finish copies it, and a
                    outputs.append(result.copy())            # copy shares memory with nothing
                    continue
                if _none_is(result, outputs) and _none_is(result, given):
                    outputs.append(result)
                    continue
            outputs.append(backend.finish(result, place, outputs, given))
        return outputs

    def step_at(self, line):
        """The program step running at ``line`` of the generated function (None: outside the steps)."""
        index = line - 2
        return self.line_steps[index] if 0 <= index < len(self.line_steps) else None


def _none_is(item, items):
    """Whether no member of ``items`` is ``item`` (a loop: cheaper than any() of a generator)."""
    for other in items:
        if other is item:
            return False
    return True


def traceable(program):
    """Whether the program means the same traced (jax.jit) as run eagerly: contractions, sums and
    built-in functions, pinv, the reductions, soft maxima, masks, running sums and differences do
    (their steps read shapes, never entries); the matrix functions (and cholesky) where the backend's compiled function
    applies their policies after the call (deferredchecks.py), else only under singular="nan" and
    conditioning="ignore" (traced, a singular matrix takes the NaN path and no condition is
    estimated); user functions and the other steps are left eager."""
    for node, step, _, _ in program.steps:
        if isinstance(node, Var) or isinstance(step, (EinsumStep, SumStep)):
            continue
        if isinstance(step, ApplyStep) and not step.fn.user or isinstance(node, _PURE):
            continue
        if isinstance(step, MatrixStep) or isinstance(node, Cholesky):
            if program.backend.checks_after_compiling or (program.singular == "nan" and program.conditioning == "ignore"):
                continue
        return False
    return True


def generic_binding(step, sizes, place, takes_functions):
    """A step as a function of its operands, for a step that binds nothing itself."""
    def run(*operands, functions=None):
        if takes_functions:
            return step(list(operands), sizes, place, functions)
        return step(list(operands), sizes, place)
    return run


def straight_line(program, sizes, place):
    """(function(inputs, functions) -> tuple of outputs, the step of each line, its source)."""
    names = {"__name__": __name__}   # warnings find the user's frame as the first outside tensordiff's modules
    lines, line_steps = ["def run(inputs, functions):"], []
    for k, (node, step, args, release) in enumerate(program.steps):
        if isinstance(node, Var):
            line = f"r{k} = inputs[{node.name!r}]"
        else:
            bind = getattr(step, "bind", None)
            bound = bind(sizes, place) if bind is not None else None
            user = isinstance(node, Apply) and bound is None
            names[f"f{k}"] = bound if bound is not None else generic_binding(step, sizes, place, user)
            operands = ", ".join(f"r{s}" for s in args)
            line = f"r{k} = f{k}({operands}{', functions=functions' if user else ''})"
        if release:
            line += "".join(f"; r{s} = None" for s in sorted(release))
        lines.append("    " + line)
        line_steps.append(k)
    lines.append("    return (" + "".join(f"r{s}, " for s in program.output_slots) + ")")
    source = "\n".join(lines) + "\n"
    builtins.exec(builtins.compile(source, PLAN_FILENAME, "exec"), names)
    return names.pop("run"), line_steps, source   # popped: run in its own globals would be a cycle
