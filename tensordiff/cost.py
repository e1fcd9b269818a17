"""What an evaluation will cost, before paying it: result size, FLOPs and peak memory.

``cost`` compiles the expressions (the numpy plan ``td.compile`` makes) and replays its steps
with the dim sizes (pricing.py): the FLOPs of each step and the peak memory of the run, inputs,
intermediates and temporaries included; evaluation refuses the same peak when it is over the
memory limit.
"""

import math

import numpy as np

from .errors import EvaluationError
from .evaluate import compile as compile_program
from .select import bind_selections
from .indices import check_dim_lengths, slice_of
from .memory import format_bytes, get_memory_limit
from .pricing import replay

__all__ = ["cost", "Cost"]


class Cost:
    """What evaluating some expressions will cost, as reported by ``td.cost``.

    ``repr(cost)`` prints it whole, with a line saying when the result is over the memory limit.

    Attributes
    ----------
    shapes : list of tuple of int
        The shape of each result.
    dtype : numpy.dtype
        The dtype priced (float64 or float32).
    sizes : dict
        The dim sizes priced, by dim name.
    entries, bytes : int
        The number of entries and bytes of all results together.
    flops : int
        Floating-point operations of the planned steps (contractions priced by opt_einsum's path).
    peak_bytes : int
        The most memory alive at once: inputs, live intermediates, outputs and temporaries (what
        the memory guard compares with the limit, less the inputs).
    input_bytes : int
        The bytes of the inputs, included in ``peak_bytes``.
    steps : int
        The number of planned steps.

    Examples
    --------
    >>> import tensordiff as td
    >>> A, B = td.matrix("A", "n k"), td.matrix("B", "k m")
    >>> c = td.cost(A @ B, n=300, k=200, m=100)
    >>> c.shapes, c.bytes, c.flops
    ([(300, 100)], 240000, 12000000)
    >>> c.peak_bytes - c.input_bytes     # what evaluation allocates at its peak: the result and its copy
    480000
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
        if limit is not None and self.peak_bytes - self.input_bytes > limit:
            lines.append(f"  over the memory limit of {format_bytes(limit)}: td.evaluate would refuse it "
                         "(backend=\"dask\" or a product instead)")
        return "\n".join(lines)


def cost(exprs, dtype="float64", **dim_sizes):
    """The size, FLOPs and peak memory of evaluating expressions at given dim sizes, before paying it.

    The expressions are compiled (the numpy plan ``td.compile`` makes) and its steps are walked with
    the sizes: contractions are priced by opt_einsum's path, elementwise functions and written
    outputs by their entries, and LU-based linear algebra by the usual n³ counts. Peak memory replays
    the lifetimes of the inputs, intermediates and outputs.

    Parameters
    ----------
    exprs : Expr or list of Expr
        What would be evaluated.
    dtype : {"float64", "float32"}, optional
        The dtype of the values (default "float64").
    **dim_sizes : int
        The size of every dim of the expressions, by name.

    Returns
    -------
    Cost
        The report; print it for a summary.

    Raises
    ------
    EvaluationError
        If a dim has no size, a size is not a non-negative int, or ``dtype`` is not float32 or
        float64.

    Examples
    --------
    >>> import tensordiff as td
    >>> X, y = td.matrix("X", "n p"), td.vector("y", "n")
    >>> print(td.cost(td.diff(td.logdet(X.T @ X), X, order=2), n=200, p=50))   # doctest: +ELLIPSIS
    tensordiff cost (float64; n=200, p=50):
      result  (200, 50, 200, 50)  1e+08 entries  763 MiB
    ...
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
    price = replay(program, sizes, dtype.itemsize)
    return Cost([tuple(sizes[d] for d in program.nodes[s].shape) for s in program.output_slots], dtype, dict(sizes),
                price.flops, price.peak_bytes, price.input_bytes, price.steps)
