"""The memory guard: a call whose peak memory is over the limit is refused before anything is allocated.

A cheap bound (every node alive at once, plus room for temporaries) lets most calls through with
no pricing; above the limit, the program's lifetimes are replayed (pricing.replay) once per sizes
and dtype, and a call still over it is an EvaluationError naming the step at the peak. A
MemoryError raised by an array library while a call runs is reworded to name its step too.
"""

import builtins
import math

import numpy as np

from .memory import check_allocation, fits, format_bytes
from .pricing import replay
from .printing import short
from .specialise import PLAN_FILENAME

__all__ = ["check_memory", "peak_bound", "step_text", "out_of_memory_message", "itemsize_of"]


def check_memory(program, sizes, dtype):
    """Refuse, before allocating anything, a run whose peak (results, intermediates and
    temporaries; pricing.py) is over the memory limit. The inputs are already allocated."""
    itemsize = itemsize_of(dtype)
    key = (tuple(sorted(sizes.items())), itemsize)
    known = program.prices.get(key)
    if known is None:
        if len(program.prices) > 64:
            program.prices.clear()
        known = program.prices[key] = [peak_bound(program, sizes, itemsize), None]
    if fits(known[0], program.memory_limit):
        return
    if known[1] is None:
        known[1] = replay(program, sizes, itemsize)
    price = known[1]
    shapes = [tuple(sizes[d] for d in program.nodes[s].shape) for s in program.output_slots]
    result_bytes = builtins.sum([math.prod(shape) for shape in shapes]) * itemsize   # a list: torch.compile traces it

    def describe():
        at = step_text(program, price.peak_step, sizes) if price.peak_step is not None else "copying the results out"
        results = ", ".join(f"shape {shape}" for shape in shapes)
        return f"at its peak, in {at}; the result{'s' if len(shapes) > 1 else ''}: {results}, {dtype}, " \
            f"{format_bytes(result_bytes)}"
    check_allocation(price.peak_bytes - price.input_bytes, describe, program.memory_limit)


def peak_bound(program, sizes, itemsize):
    """A cheap bound above the peak replay() finds: every node alive at once, room for LAPACK's
    copies and a sum's partial products (2x the nodes), and twice the largest index space of a
    contraction (its intermediates and their transposed copies)."""
    # lists of plain dims, not generators over nodes: torch.compile traces this call
    shapes, contractions = program.bound_dims
    nodes = builtins.sum([math.prod([sizes[d] for d in shape]) for shape in shapes])
    spaces = [math.prod([sizes[d] for d in dims]) for dims in contractions]
    return (3 * nodes + 2 * builtins.max(spaces, default=0)) * itemsize


def step_text(program, k, sizes):
    node, step = program.steps[k][:2]
    what = step.describe() if hasattr(step, "describe") else type(node).__name__.lower()
    shape = tuple(sizes[d] for d in node.shape)
    text = short(node, 60).lstrip(" =")
    making = f" making {text}" if "; " not in text else ""   # several bindings: too long to read
    return f"step %{k} ({what}){making} of shape {shape}"


def out_of_memory_message(program, exc, run_codes):
    """The message of a MemoryError raised by an array library while _run ran (numpy's own
    linear algebra raises one with no message when its workspace cannot be allocated). The
    step is read from _run's frame in the traceback, so the run loop carries no bookkeeping."""
    run, line = None, None
    traceback = exc.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code in run_codes:
            run = traceback.tb_frame.f_locals
        elif code.co_filename == PLAN_FILENAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    if run is not None and line is not None and "special" in run:
        run = {**run, "k": run["special"].step_at(line)}
    if run is None or "sizes" not in run:   # while binding or converting the values
        return f"out of memory reading the values: {str(exc) or 'an allocation failed'}"
    sizes, dtype = run["sizes"], run["dtype"]
    if "outputs" in run:
        where = "copying the results out"
    elif run.get("k") is not None:
        where = step_text(program, run["k"], sizes)
    else:
        where = "preparing the values"
    peak = replay(program, sizes, np.dtype(dtype).itemsize) if program.backend.name == "numpy" else None
    estimate = f"; the whole evaluation needs about {format_bytes(peak.peak_bytes - peak.input_bytes)} at its " \
        f"peak" if peak is not None else ""
    reason = str(exc) or "a library could not allocate its workspace"   # numpy's linalg gives no message
    return (f"out of memory in {where}: {reason}{estimate}. Evaluate it lazily in "
            "chunks with backend=\"dask\", or ask for a product (td.hvp, td.jvp, td.vjp) or the entries "
            "you need instead of the full tensor; td.set_memory_limit lowers the limit under which "
            "evaluations are refused before they start")


def itemsize_of(dtype):
    """Bytes per entry of a numpy dtype or another library's (torch.float64 is no numpy dtype).
    The attribute is read first: under torch.compile, np.dtype(torch.float64) cannot even fail."""
    size = getattr(dtype, "itemsize", None)   # numpy dtypes, torch >= 2.1
    if isinstance(size, int):
        return size
    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return np.dtype(str(dtype).rpartition(".")[2]).itemsize
