"""A compiled program specialised to its input shapes: one straight-line function per signature.

A numpy program's call used to walk its step list, and each step re-derived per call what only
the shapes decide: its contraction plan (looked up by the operands' shapes), the scalar factor of
orphan dims, the sizes of a sum's output and its coefficients. At the first call with a new
signature (the names, shapes and dtypes of the values) the program is specialised: each step
binds what the shapes decide (``step.bind(sizes, place)``, or a generic binding for a step
without one), and the steps become one generated Python function, a line per step, with each
intermediate dropped after its last reader (``r3 = None``). Later calls with that signature skip
the binding of dims, the dispatch per step and the lookups; they still validate what their
values decide (symmetric symbols, conversions), run the memory guard, and hand back arrays the
caller owns. The bound steps run the same numpy operations in the same order as the steps
themselves, so the results are bit-identical.

A specialisation holds no per-call state, so one program is thread-safe as before; a pickled
program drops its specialisations (its ``__reduce__`` compiles anew) and specialises again on
its first call.
"""

import builtins

import numpy as np

from .expr import Apply, Var

__all__ = ["Specialised", "signature", "MAX_SIGNATURES", "PLAN_FILENAME"]

MAX_SIGNATURES = 16   # specialisations kept per program (a program called at many shapes starts over)
PLAN_FILENAME = "<tensordiff plan>"   # the generated functions' file name: tracebacks and the OOM message read it
_FLOAT_KINDS = (np.dtype(np.float64), np.dtype(np.float32))


def signature(values, dims=()):
    """The key of the specialisation for ``values`` ({name: value}), or None when a value is of a
    kind that is always converted in full (anything but numpy arrays, numbers and numpy scalars;
    such a call runs the step loop). A number named as one of ``dims`` (the program's) is a dim's
    size (eye("n"), n=4): its value is part of the key.

    >>> import numpy as np
    >>> from tensordiff.specialise import signature
    >>> signature({"X": np.ones((2, 3)), "lam": 0.5})
    (('X', (2, 3), dtype('float64')), ('lam', <class 'float'>))
    """
    key = []
    for name, value in values.items():
        kind = type(value)
        if kind is np.ndarray:
            key.append((name, value.shape, value.dtype))
        elif name in dims and not isinstance(value, (float, np.floating)):
            key.append((name, kind, value))
        elif kind is float or kind is int or isinstance(value, np.generic):
            key.append((name, kind))
        else:
            return None
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
                                  if type(value) is np.ndarray and value.dtype in _FLOAT_KINDS)
        self.symmetric = program.symmetric
        self.bound = None   # above the peak memory at these sizes (Program._peak_bound), set by the program
        self.run, self.line_steps, self.source = straight_line(program, sizes, place)

    def arrays(self, values):
        """The validated arrays of ``values`` (whose signature is this one's)."""
        as_given, to_array = self.as_given, self.backend.to_array
        arrays = {name: value if name in as_given else to_array(name, value) for name, value in values.items()}
        if self.symmetric:
            from .evaluate import require_symmetric   # evaluate imports this module
            for name, node in self.symmetric.items():
                require_symmetric(node, arrays[name])
        return arrays

    def step_at(self, line):
        """The program step running at ``line`` of the generated function (None: outside the steps)."""
        index = line - 2
        return self.line_steps[index] if 0 <= index < len(self.line_steps) else None


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
    return names["run"], line_steps, source
