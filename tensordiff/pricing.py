"""What a compiled program will allocate and compute at given dim sizes, before running it.

``replay`` walks a program's steps with the sizes: contractions are priced by opt_einsum's path
for the step's operand shapes, writing structured outputs and sums by the entries written,
elementwise functions by their entries, and LU-based linear algebra by the usual n³ counts. Peak
memory replays the program's lifetimes: the inputs, every intermediate from its step to its last
use, the outputs, and each step's temporaries while it runs (a contraction's largest intermediate
and a transposed copy; the copy of the matrix and the right-hand sides LAPACK factors in place),
and at the end a copy of the largest result that may be a view (it is copied for the caller).
``td.cost`` reports it and the memory guard (evaluate.py) refuses a program whose peak is over
the limit, both before anything is allocated.
"""

import math
from collections import namedtuple

import numpy as np
import opt_einsum

from .expr import Add, Apply, Cholesky, Det, Einsum, Inv, LogDet, Pinv, Select, Solve, Take, Var
from .reductionnodes import Compare, CumSum, Diff, LogSumExp, Max, Maximum, Softmax, Triangle, Where
from .spectralnodes import EigVals, EigVecs
from .buffers import DONATED_SUM_ENTRIES
from .conditioning import lapack
from .contractionpaths import contraction_path, path_search
from .kernels import kernels_available, twin_chunk_shape
from .pairwise import IN_PLACE_ENTRIES

__all__ = ["replay", "Replay", "PRICES"]

Replay = namedtuple("Replay", "flops peak_bytes input_bytes steps peak_step step_prices")
Replay.__doc__ = """The replay of a program: FLOPs, peak bytes (inputs included), the input bytes, the
number of steps, the slot of the step during which the peak is reached (None: the inputs, or
the copy of a result handed back), and {slot: (flops, bytes written, temporary bytes)} per step."""


def replay(program, sizes, itemsize):
    """Price every step of ``program`` at ``sizes`` (dim -> length) for entries of ``itemsize`` bytes.

    >>> import tensordiff as td
    >>> from tensordiff.pricing import replay
    >>> A, B = td.matrix("A", "n k"), td.matrix("B", "k m")
    >>> replay(td.compile(A @ B), dict(n=30, k=40, m=50), 8).flops
    120000
    """
    def entries(shape):
        return math.prod(sizes[d] for d in shape)

    input_bytes = sum(entries(dims) for dims in program.symbols.values()) * itemsize
    live, live_bytes, peak, flops, steps, peak_step = {}, input_bytes, input_bytes, 0, 0, None
    step_prices = {}
    for k, (node, step, _args, release) in enumerate(program.steps):
        if isinstance(node, Var) or step is None:
            continue
        steps += 1
        size = entries(node.shape) * itemsize
        if isinstance(node, Add):
            step_flops, temporary = _sum_price(node, step, sizes)
        elif getattr(step, "gram", None) is not None:
            step_flops, temporary = _gram_price(program.reads.get(node, node), step, sizes)
        elif getattr(step, "solves", 1) > 1:   # repeatedsolve.py: one factorisation, several solves
            step_flops, temporary = _solve_price(node, sizes, step.solves)
        else:
            price = PRICES.get(type(node), _entries_price)   # a node type with no row: one pass over its entries
            step_flops, temporary = price(program.reads.get(node, node), sizes)
        flops += step_flops
        step_prices[k] = (step_flops, size, temporary * itemsize)
        donor = getattr(getattr(step, "fused", step), "donor", None)   # a sum written into its dying term's buffer (fusion.py)
        if donor is not None and _writes_into_donor(node, entries(node.shape),
                                                    entries(program.steps[_args[donor[0]]][0].shape)):
            live_bytes -= live.pop(_args[donor[0]], 0)
        if live_bytes + size + temporary * itemsize > peak:
            peak, peak_step = live_bytes + size + temporary * itemsize, k
        live[k] = size
        live_bytes += size
        for s in release:
            live_bytes -= live.pop(s, 0)
    # the caller gets arrays it owns: a result that may be a view (a transposed product, a slice, an
    # input, what a user function returns) is copied; sums, built-in functions and LAPACK make new arrays
    largest_result = max((entries(program.nodes[s].shape) for s in program.output_slots
                          if _may_be_a_view(program.nodes[s], program.steps[s][1])), default=0) * itemsize
    if live_bytes + largest_result > peak:
        peak, peak_step = live_bytes + largest_result, None
    return Replay(flops, peak, input_bytes, steps, peak_step, step_prices)


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
    _, info = contraction_path(equation, tuple(shapes), "auto")
    flops = int(info.opt_cost)
    structured = core != tuple(node.out)
    if structured or into_buffer:
        flops += out_entries           # writing the core onto the output's diagonals/broadcasts
    # temporaries: the intermediates of the pairs alive at once, and the transposed copies a pair
    # run as a matmul makes of its operands (pairwise.py); none when one pair writes the output itself
    temporary = _path_temporaries(equation, shapes, keep_last=structured or into_buffer) \
        if (len(tensors) > 2 or structured or into_buffer) else 0
    return flops, temporary


def _path_temporaries(equation, shapes, keep_last):
    """The most entries alive at once while the executor contracts ``shapes`` pair by pair along
    opt_einsum's path (pairwise.planned_contraction): the intermediates made and not yet read, the
    pair's result, and the copy matmul needs of an operand that is not in (batch, kept, summed)
    order; ``keep_last``: the last pair's result is a temporary too (the core written elsewhere)."""
    optimize = path_search(equation, shapes)
    if math.prod(max(s) if s else 1 for s in shapes) and len(shapes) > 2:
        _, info = contraction_path(equation, tuple(shapes), optimize)
        pairs = info.contraction_list
    else:
        pairs = [(tuple(reversed(range(len(shapes)))), None, equation, None, None)]
    letters = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        letters.update(zip(term, shape))
    current = [(term, False) for term in equation.split("->")[0].split(",")]
    alive, worst = 0, 0
    for number, (positions, _, step_equation, _, _) in enumerate(pairs):
        picked = [current.pop(k) for k in positions]
        out = step_equation.split("->")[1]
        made = math.prod(letters[c] for c in out)
        if len(picked) == 2 and any(intermediate and term == out for term, intermediate in picked) and \
                all(set(term) <= set(out) for term, _ in picked):
            made = 0   # an intermediate scaled in place (pairwise.scaling_in_place)
        copies = 0
        if len(picked) == 2:
            (a, _), (b, _) = picked
            summed = [c for c in a if c in b and c not in out]
            if summed:
                for term, other in ((a, b), (b, a)):
                    kept = [c for c in term if c in out and c not in other]
                    # reshaping merges the kept and the summed axes: a view only where each group
                    # lies in the operand's order, side by side (a copy otherwise)
                    if any(len(group) > 1 and group != [c for c in term[term.index(group[0]):][:len(group)]]
                           for group in (kept, summed)):
                        copies += math.prod(letters[c] for c in term)
        last = number == len(pairs) - 1
        worst = max(worst, alive + (made if keep_last or not last else 0) + copies)
        alive -= sum(math.prod(letters[c] for c in term) for term, intermediate in picked if intermediate)
        alive += made
        current.append((out, True))
    return worst


def _gram_price(node, step, sizes):
    """A Gram product (gram.py): G, and for weights a block of w·G and its product, are its temporaries;
    a core written onto the output's deltas or broadcasts is one more."""
    flops, _ = _einsum_price(node, sizes)
    unit = node.coeff == 1.0 and not step.scalar_args and not step.orphan_dims
    temporary = step.gram.temporary_entries({i: sizes[d] for i, d in enumerate(node.dims)}, unit)
    if tuple(step.core_ids) != tuple(node.out):
        temporary += math.prod(sizes[node.dims[i]] for i in step.core_ids)
    return flops, temporary


def _sum_price(node, step, sizes):
    """A sum writes each part's product of factors (one multiply-add per factor and entry) onto the
    output or its diagonal (one entry per distinct axis of its pattern); the factors are steps of
    their own. numpy plans every sum as a FusedSumStep (its ``parts``), which the compiled kernel
    writes without temporaries and its numpy twin with the products it forms (``_twin_temporaries``);
    other backends add whole terms."""
    entries = math.prod(sizes[d] for d in node.shape)
    parts = getattr(step, "parts", None)
    if parts is None:
        return entries * len(node.terms), 2 * entries
    flops, widest = 0, 0
    for part in parts:
        written = math.prod(sizes[node.shape[part.pattern.index(p)]] for p in set(part.pattern))
        flops += max(len(part.factors), 1) * written
        widest = max(widest, written)
    fused = getattr(step, "fused", None)
    if kernels_available() or fused is None:   # the compiled kernel accumulates in place
        return flops, 0 if kernels_available() else 2 * widest
    return flops, _twin_temporaries(fused, [sizes[d] for d in node.shape])


def _writes_into_donor(node, node_entries, donor_entries):
    """Whether a step with a donor writes into it at these sizes, as its bound run decides: a sum
    from DONATED_SUM_ENTRIES output entries (fusion.FusedSumStep.bind), a function from
    IN_PLACE_ENTRIES (inplace.InPlaceFunctionStep), a contraction's scaling where its donor has
    IN_PLACE_ENTRIES (pairwise.py)."""
    if isinstance(node, Add):
        return node_entries >= DONATED_SUM_ENTRIES
    if isinstance(node, Apply):
        return node_entries >= IN_PLACE_ENTRIES
    return donor_entries >= IN_PLACE_ENTRIES


def _twin_temporaries(fused, shape):
    """The most entries the numpy twin (kernels.ProductsLayout, fusion._run_in_place) holds at once
    while it writes a FusedSumStep into an output of ``shape``: a term written into its own dying
    buffer is scaled there by the product of its smaller factors and the rest of its pass added,
    each a chunk of rows at a time where they run along the first axis, then each other pass adds
    its products."""
    worst = 0
    passes = fused.passes
    if fused.donor is not None and math.prod(shape) >= DONATED_SUM_ENTRIES:   # as FusedSumStep.bind decides
        _, _, (_, _, rest_layout), _, scales = fused.donor
        axes = [axes for _, axes in scales]   # scaled in its own buffer by their product, a chunk of rows at a time
        worst = _chain(None, axes, twin_chunk_shape(shape) if any(0 in a for a in axes) else shape)[1]
        if rest_layout is not None:   # then the rest added a chunk of rows at a time
            worst = max(worst, _pass_temporaries(rest_layout, twin_chunk_shape(shape)))
        if scales:   # a product broadcast over the buffer is read through numpy's ufunc buffer
            worst += np.getbufsize()
        passes = passes[1:]
    for pattern, _, layout in passes:
        view = [shape[pattern.index(u)] for u in dict.fromkeys(pattern)]
        worst = max(worst, _pass_temporaries(layout, view))
    return worst


def _pass_temporaries(layout, view):
    """Entries held at once by one pass of the twin over a target of shape ``view``: in each group
    a term's product grows factor by factor (the old and the new product alive together), joins
    the group's total (the total, the term and their sum), and the total is multiplied by the
    factors along the last axis. A product of numbers alone stays a number; the target is written
    in place."""
    worst = 0
    for along, subs in layout.groups:
        total = None
        for _, constant in subs:
            value, held = _chain(None, [axes for _, axes in constant], view)
            worst = max(worst, _entries(total, view) + held)
            if total is None or value is None:
                total = total if value is None else value
            else:
                joined = total | value
                worst = max(worst, _entries(total, view) + _entries(value, view) + _entries(joined, view))
                total = joined
        worst = max(worst, _chain(total, [axes for _, axes in along], view)[1])
    return worst


def _chain(value, factor_axes, shape):
    """(axes of the product, the most entries held at once) of multiplying ``value`` (the axes it
    spans; None: a number) by factors spanning ``factor_axes`` one after another, as numpy does."""
    worst = _entries(value, shape)
    for axes in factor_axes:
        grown = (value or frozenset()) | frozenset(axes)
        grown = grown or None   # a number times a 0-d array: a number
        worst = max(worst, _entries(value, shape) + _entries(grown, shape))
        value = grown
    return value, worst


def _entries(axes, shape):
    return 0 if axes is None else math.prod(shape[a] for a in axes)


def _may_be_a_view(node, step=None):
    if isinstance(node, Apply):
        return node.fn.user
    if isinstance(node, Einsum) and step is not None and hasattr(step, "core_ids"):
        if tuple(step.core_ids) != tuple(node.out):   # written onto deltas or broadcasts: a new array
            return False
        gram = getattr(step, "gram", None)
        if gram is not None and gram.permutation == sorted(gram.permutation):   # gram.py's own array
            return False
    return not isinstance(node, (Add, Inv, Det, LogDet, Solve))


def _entries_price(node, sizes):
    return math.prod(sizes[d] for d in node.shape), 0


def _lu_price(n, right_hand_sides=0):
    """(flops, temporary entries) of an LU factorisation of an n×n matrix, then solves for some
    right-hand sides: LAPACK factors a copy of the matrix and overwrites a copy of the right sides."""
    return 2 * n ** 3 // 3 + 2 * n ** 2 * right_hand_sides, n * n + n * right_hand_sides


def _inv_price(node, sizes):
    n = sizes[node.shape[0]]
    return 2 * n ** 3, _lu_price(n, n)[1]   # numpy's inv solves for the identity (LU, then triangular solves)


def _pinv_price(node, sizes):
    """numpy's pinv: an SVD of a copy (gesdd, about 4 m n k + 8 k³ flops for k = min(m, n)) into its
    thin factors U (m, k) and Vᵀ (k, n), then Vᵀᵀ diag(1/s) Uᵀ (2 m n k)."""
    n, m = (sizes[d] for d in node.shape)
    k = min(m, n)
    return 6 * m * n * k + 8 * k ** 3, m * n + m * k + k * n


def _solve_price(node, sizes, solves=1):
    n, right_hand_sides = sizes[node.matrix.shape[0]], math.prod(sizes[d] for d in node.rhs.shape[1:])
    flops = _lu_price(n, solves * right_hand_sides)[0]   # one factorisation, ``solves`` getrs on its factors
    temporary = _lu_price(n, right_hand_sides)[1]
    if lapack("float64") is not None:
        # scipy's getrf factors a copy of the matrix (after a temporary |A| for its norm) and getrs
        # overwrites a copy of the right-hand sides, which is the result
        return flops, n * n
    # numpy's solve copies both into its workspace, then writes a new result; the right-hand sides
    # gain two probe columns for the conditioning estimate, a copy of them
    return flops, temporary + n * (right_hand_sides + 2)


PRICES: dict = {
    Einsum: _einsum_price,
    Select: _entries_price,
    Take: _entries_price,
    Apply: _entries_price,
    Inv: _inv_price,
    Pinv: _pinv_price,
    Det: lambda node, sizes: _lu_price(sizes[node.arg.shape[0]]),
    LogDet: lambda node, sizes: _lu_price(sizes[node.arg.shape[0]]),
    Solve: _solve_price,
    # reductions, soft maxima and masks: a few passes over their argument; cholesky n³/3 on a copy
    **dict.fromkeys((Max, Compare, Where, Maximum, Triangle, CumSum, Diff),
                    lambda node, sizes: (math.prod(sizes[d] for d in (node.children() or (node,))[0].shape), 0)),
    **dict.fromkeys((LogSumExp, Softmax), lambda node, sizes: (4 * math.prod(sizes[d] for d in node.arg.shape),
                                                               math.prod(sizes[d] for d in node.arg.shape))),
    Cholesky: lambda node, sizes: (sizes[node.shape[0]] ** 3 // 3, sizes[node.shape[0]] ** 2),
    # LAPACK's syevd on a copy: the tridiagonal reduction 4n³/3, with eigenvectors about 9n³ in all
    EigVals: lambda node, sizes: (4 * sizes[node.shape[0]] ** 3 // 3, sizes[node.shape[0]] ** 2),
    EigVecs: lambda node, sizes: (9 * sizes[node.shape[0]] ** 3, 2 * sizes[node.shape[0]] ** 2),
}
