"""What an evaluation will cost, before paying it: result size, FLOPs and peak memory.

``cost`` compiles the expressions (the numpy plan ``td.compile`` makes) and walks its steps with
the dim sizes: contractions are priced by opt_einsum's path for the step's operand shapes,
writing structured outputs and sums by the entries written, elementwise functions by their
entries, and LU-based linear algebra by the usual n³ counts. Peak memory replays the program's
lifetimes: the inputs, every intermediate from its step to its last use, the outputs, and each
step's contraction temporaries (its largest intermediate and a transposed copy) while it runs.
"""

import math

import numpy as np
import opt_einsum

from .errors import EvaluationError
from .evaluate import compile as compile_program
from .expr import Add, Apply, Det, Einsum, Inv, LogDet, Select, Solve, Take, Var
from .kernels import kernels_available
from .select import bind_selections
from .indices import check_dim_lengths, slice_of
from .memory import format_bytes, get_memory_limit

__all__ = ["cost", "Cost"]


class Cost:
    """The cost report of ``td.cost``: result shapes and bytes, FLOPs, peak memory.

    >>> c = td.cost(td.hessian(f, W), n=1000, d=50, k=20)
    >>> c.bytes, c.flops, c.peak_bytes        # also printed whole by repr(c)
    """

    def __init__(self, shapes, dtype, sizes, flops, peak_bytes, input_bytes, steps):
        self.shapes = shapes
        self.dtype = dtype
        self.sizes = sizes
        self.entries = sum(math.prod(shape) for shape in shapes)
        self.bytes = self.entries * dtype.itemsize
        self.flops = flops
        self.peak_bytes = peak_bytes
        self.input_bytes = input_bytes
        self.steps = steps

    def __repr__(self):
        dims = ", ".join(f"{d}={n}" for d, n in sorted(self.sizes.items()))
        lines = [f"tensordiff cost ({self.dtype}; {dims}):"]
        for shape in self.shapes:
            entries = math.prod(shape)
            lines.append(f"  result  {shape}  {entries:.3g} entries  {format_bytes(entries * self.dtype.itemsize)}")
        if len(self.shapes) > 1:
            lines.append(f"  total   {self.entries:.3g} entries  {format_bytes(self.bytes)}")
        lines.append(f"  flops   {self.flops:.3g} ({self.steps} planned steps)")
        lines.append(f"  peak    {format_bytes(self.peak_bytes)} (inputs {format_bytes(self.input_bytes)} included)")
        limit = get_memory_limit()
        if limit is not None and self.bytes > limit:
            lines.append(f"  over the memory limit of {format_bytes(limit)}: td.evaluate would refuse it "
                         "(backend=\"dask\" or a product instead)")
        return "\n".join(lines)


def cost(exprs, dtype="float64", **dim_sizes):
    """The size, FLOPs and peak memory of evaluating ``exprs`` (one or a list) at these dim sizes.

    >>> td.cost(td.diff(q, X, order=2), n=200, p=50)
    tensordiff cost (float64; n=200, p=50): ...
    """
    program = compile_program(exprs)
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = None
    if kind != "f" or np.dtype(dtype).itemsize not in (4, 8):
        raise EvaluationError(f"dtype must be float32 or float64 (float16 values compute in float32), got {dtype!r}")
    dtype = np.dtype(dtype)
    check_dim_lengths(dim_sizes, program.dims, "size", least=0)
    sizes = dict(dim_sizes)
    bind_selections(program.dims, program.index_checks, sizes)   # sizes of sliced dims: n[2:5] from n
    missing = sorted(d for d in program.dims - set(sizes) if slice_of(d) is None)
    if missing:
        raise EvaluationError(f"no size for dim(s) {', '.join(map(repr, missing))}: pass them as keywords, "
                              f"e.g. td.cost(expr, {missing[0]}=100)")
    return _replay(program, sizes, dtype)


def _replay(program, sizes, dtype):
    itemsize = dtype.itemsize

    def entries(shape):
        return math.prod(sizes[d] for d in shape)

    input_bytes = sum(entries(dims) for dims in program.symbols.values()) * itemsize
    live, live_bytes, peak, flops, steps = {}, input_bytes, input_bytes, 0, 0
    for k, (node, step, args, release) in enumerate(program.steps):
        if isinstance(node, Var) or step is None:
            continue
        steps += 1
        size = entries(node.shape) * itemsize
        if isinstance(node, Add):
            step_flops, temporary = _sum_price(node, step, sizes)
        else:
            step_flops, temporary = _PRICES[type(node)](program.reads.get(node, node), sizes)
        flops += step_flops
        peak = max(peak, live_bytes + size + temporary * itemsize)
        live[k] = size
        live_bytes += size
        for s in release:
            live_bytes -= live.pop(s, 0)
    return Cost([tuple(sizes[d] for d in program.nodes[s].shape) for s in program.output_slots], dtype, dict(sizes),
                flops, peak, input_bytes, steps)


def _einsum_price(node, sizes, into_buffer=False):
    """(flops, temporary entries) of one einsum step; ``into_buffer``: written into a sum's buffer."""
    tensors = [k for k, op in enumerate(node.operands) if op.shape]
    out_entries = math.prod(sizes[node.dims[i]] for i in node.out)
    if not tensors:
        return out_entries, 0
    used = set()
    for k in tensors:
        used.update(node.subscripts[k])
    core = tuple(i for i in dict.fromkeys(node.out) if i in used)
    symbol = opt_einsum.get_symbol
    equation = ",".join("".join(symbol(i) for i in node.subscripts[k]) for k in tensors) + "->" + \
        "".join(symbol(i) for i in core)
    shapes = [tuple(sizes[node.dims[i]] for i in node.subscripts[k]) for k in tensors]
    _, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="auto")
    flops = int(info.opt_cost)
    structured = core != tuple(node.out)
    if structured or into_buffer:
        flops += out_entries           # writing the core onto the output's diagonals/broadcasts
    # temporaries: the largest intermediate, and the transposed copy a tensordot-based contraction
    # makes of it; none when one pairwise contraction writes the output itself
    temporary = 2 * int(info.largest_intermediate) if (len(tensors) > 2 or structured or into_buffer) else 0
    return flops, temporary


def _sum_price(node, step, sizes):
    """A sum writes each part's product of factors (one multiply-add per factor and entry) onto the
    output or its diagonal (one entry per distinct axis of its pattern); the factors are steps of
    their own. ``cost`` prices the numpy plan, where every sum is a FusedSumStep."""
    flops, widest = 0, 0
    for part in step.parts:
        entries = math.prod(sizes[node.shape[part.pattern.index(p)]] for p in set(part.pattern))
        flops += max(len(part.factors), 1) * entries
        widest = max(widest, entries)
    # the compiled kernel accumulates in place; its numpy twin forms each product (and a partial
    # product) before adding it
    return flops, 0 if kernels_available() else 2 * widest


_PRICES = {
    Einsum: _einsum_price,
    Select: lambda node, sizes: (math.prod(sizes[d] for d in node.shape), 0),
    Take: lambda node, sizes: (math.prod(sizes[d] for d in node.shape), 0),
    Apply: lambda node, sizes: (math.prod(sizes[d] for d in node.shape), 0),
    Inv: lambda node, sizes: (2 * sizes[node.shape[0]] ** 3, sizes[node.shape[0]] ** 2),   # LU, then n solves
    Det: lambda node, sizes: (2 * sizes[node.arg.shape[0]] ** 3 // 3, sizes[node.arg.shape[0]] ** 2),
    LogDet: lambda node, sizes: (2 * sizes[node.arg.shape[0]] ** 3 // 3, sizes[node.arg.shape[0]] ** 2),
    Solve: lambda node, sizes: (2 * sizes[node.matrix.shape[0]] ** 3 // 3
                                + 2 * sizes[node.matrix.shape[0]] ** 2 * math.prod(sizes[d] for d in node.rhs.shape[1:]),
                                sizes[node.matrix.shape[0]] ** 2),
}
