"""A compiled program's plan as data: one record per step, read by ``repr``, ``Program.explain`` and ``td.cost``.

A ``StepRecord`` says what a step does (its operation, as the program's ``repr`` prints it), which
steps it reads, the shape it makes, the pass that made it (passes.py) and, at given dim sizes,
its FLOPs and the bytes it writes and holds as temporaries (priced by pricing.replay, the same
replay ``td.cost`` sums and the memory guard compares with the limit).
"""

import math
from collections import namedtuple

from .expr import Var
from .indices import format_dims
from .memory import format_bytes
from .passes import AS_DERIVED, EXPRESSION_PASSES, STEP_PASSES, made_by
from .passgates import skipped_passes
from .pricing import replay

__all__ = ["StepRecord", "step_records", "explain_text", "plan_text"]

StepRecord = namedtuple("StepRecord", "slot operation inputs dims shape made_by flops bytes temporary_bytes")
StepRecord.__doc__ = """One step of a compiled program: its slot (%k), operation, the slots it reads, its
output's dims, and shape, FLOPs, bytes written and temporary bytes at the sizes given (None without
sizes), and the name of the pass that made it."""


def describe(node, step):
    """What the step does, in the words of the program's ``repr``."""
    return step.describe() if hasattr(step, "describe") else type(node).__name__.lower()


def step_records(program, sizes=None, itemsize=8, passes=True):
    """The StepRecord of every step of ``program`` (symbols included), priced at ``sizes`` if given;
    ``passes=False`` leaves ``made_by`` None (finding the passes runs the expression passes again)."""
    passes = made_by(program) if passes else {}
    prices = replay(program, sizes, itemsize).step_prices if sizes is not None else {}
    records = []
    for k, (node, step, args, _) in enumerate(program.steps):
        shape = tuple(sizes[d] for d in node.shape) if sizes is not None else None
        flops, written, temporary = prices.get(k, (0, math.prod(shape) * itemsize if shape is not None else None, 0))
        records.append(StepRecord(k, "input " + node.name if isinstance(node, Var) else describe(node, step), tuple(args),
                                  tuple(node.shape), shape, passes.get(k), flops if sizes is not None else None,
                                  written, temporary if sizes is not None else None))
    return records


def plan_text(program):
    """The program's ``repr``: a line per step (symbols left out) with the steps it reads and its dims."""
    lines = [f"<tensordiff program: {len(program.steps)} steps, inputs {sorted(program.symbols)}>"]
    for r in step_records(program, passes=False):
        if not r.operation.startswith("input "):
            lines.append(f"  %{r.slot} = {r.operation}({', '.join(f'%{a}' for a in r.inputs)})  shape {format_dims(r.dims)}")
    return "\n".join(lines)


def explain_text(program, sizes=None, itemsize=8):
    """The plan of ``program``, a line per step with the pass that made it (and its price at ``sizes``)."""
    records = step_records(program, sizes, itemsize)
    fired = list(dict.fromkeys(r.made_by for r in records if r.made_by not in ("input", AS_DERIVED)))
    names = [p.name for p in EXPRESSION_PASSES + STEP_PASSES]
    lines = [f"<tensordiff plan: {len(records)} steps, inputs {sorted(program.symbols)}>",
             "  passes, in order: " + ", ".join(names),
             "  made steps here: " + (", ".join(fired) or "none")]
    lines += [f"  skipped on {program.backend.name}: {name}, as {reason}"
              for name, reason in skipped_passes(program.backend).items()]
    for r in records:
        if r.operation.startswith("input "):
            continue
        reads = ", ".join(f"%{a}" for a in r.inputs)
        price = "" if sizes is None else \
            f"  {r.flops:.3g} flops, {format_bytes(r.bytes)}" + \
            (f" + {format_bytes(r.temporary_bytes)} temporary" if r.temporary_bytes else "")
        lines.append(f"  %{r.slot} = {r.operation}({reads})  shape {format_dims(r.dims)}"
                     + (f" = {r.shape}" if r.shape is not None else "") + f"{price}  [{r.made_by}]")
    if sizes is not None:
        total = replay(program, sizes, itemsize)
        lines.append(f"  total {total.flops:.3g} flops; peak {format_bytes(total.peak_bytes)} "
                     f"(inputs {format_bytes(total.input_bytes)} included)")
    return "\n".join(lines)
