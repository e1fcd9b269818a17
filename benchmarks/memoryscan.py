"""Memory scan of the random self-check: derivatives whose planned peak dwarfs their primal's.

    python benchmarks/memoryscan.py --seeds 400000 400499 [--ratio 50] [--sizes a=40 b=30]

For each seed, the self-check's example (``tensordiff.selfcheck.Example``, built as the self-check
builds it: reshaping and widened draws on) is compiled, and so is the first derivative with
respect to each of its symbols. Each plan is priced at realistic dim sizes (``td.cost``'s replay)
without evaluating anything. A derivative is reported when its planned peak exceeds ``--ratio``
times its baseline: the largest of the primal's planned steps (temporaries included), the
derivative's own result and the largest input, which any plan of it must hold. Each report names
the derivative's largest step, its shape and the planning pass that made it, which is where a
cause is looked for. Exits 1 when any seed is reported or fails to plan.
"""

import argparse
import sys
import time

import tensordiff as td
from tensordiff.dimsizes import priced_table
from tensordiff.evaluate import compile as compile_program
from tensordiff.indices import base_dims
from tensordiff.passes import made_by
from tensordiff.pricing import replay
from tensordiff.selfcheck import Example

ITEMSIZE = 8   # float64


def priced(expr, sizes):
    """(the program, its replay at ``sizes``, the priced table of dim sizes) of ``expr``'s plan."""
    program = compile_program([expr])
    present = {b for d in program.dims for b in base_dims(d)}   # td.cost refuses sizes of dims it does not have
    table = priced_table(program, {d: n for d, n in sizes.items() if d in present}, "memoryscan(")
    return program, replay(program, table, ITEMSIZE), table


def largest_step(price):
    """(bytes, slot) of the step holding the most at once: its result and its temporaries."""
    return max(((size + temporary, k) for k, (_, size, temporary) in price.step_prices.items()), default=(0, None))


def entries(shape, table):
    total = 1
    for d in shape:
        total *= table[d]
    return total


def scan_seed(seed, sizes, ratio):
    """[(symbol, derivative peak, baseline, description of its largest step)] over ``ratio`` for one seed."""
    ex = Example(seed, None, True, True)
    program, price, table = priced(ex.expr, sizes)
    primal_step, _ = largest_step(price)
    inputs = max((entries(s, table) for s in program.symbols.values()), default=0) * ITEMSIZE
    found = []
    for name in ex.names:
        derivative = ex.d(name)
        d_program, d_price, d_table = priced(derivative, sizes)
        result = entries(derivative.shape, d_table) * ITEMSIZE
        baseline = max(primal_step, result, inputs, ITEMSIZE)
        if d_price.peak_bytes > ratio * baseline:
            step_bytes, slot = largest_step(d_price)
            node = d_program.steps[slot][0]
            shape = ", ".join(f"{d}={d_table[d]}" for d in node.shape)
            made = made_by(d_program).get(slot, "?")
            text = td.index_notation(node).splitlines()[-1][:300]
            found.append((name, d_price.peak_bytes, baseline,
                          f"largest step {format_bytes(step_bytes)}: {type(node).__name__} ({shape}) "
                          f"made by {made}: {text}"))
    return found


def format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} GiB"


def parse_sizes(items):
    sizes = {}
    for item in items:
        dim, _, value = item.partition("=")
        if not value.isdigit():
            raise SystemExit(f"--sizes takes dim=int pairs, got {item!r}")
        sizes[dim] = int(value)
    return sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("FIRST", "LAST"),
                        help="the seeds to scan, both included")
    parser.add_argument("--ratio", type=float, default=50.0,
                        help="report a derivative whose peak exceeds this times its baseline (default 50)")
    parser.add_argument("--sizes", nargs="+", default=["a=40", "b=30"], metavar="DIM=N",
                        help="the dim sizes priced (default a=40 b=30)")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    first, last = args.seeds
    start, reported, failed = time.perf_counter(), 0, 0
    for seed in range(first, last + 1):
        try:
            found = scan_seed(seed, sizes, args.ratio)
        except Exception as exc:  # noqa: BLE001 - a seed that does not plan is reported, and the scan goes on
            failed += 1
            print(f"seed {seed}: could not plan: {type(exc).__name__}: {exc}", flush=True)
            continue
        for name, peak, baseline, description in found:
            reported += 1
            print(f"seed {seed} d/d{name}: peak {format_bytes(peak)} = {peak / baseline:.0f}x the baseline "
                  f"{format_bytes(baseline)}; {description}", flush=True)
    print(f"memoryscan: seeds {first}..{last} at {' '.join(args.sizes)}, ratio {args.ratio:g}: "
          f"{reported} derivative(s) reported, {failed} seed(s) not planned, {time.perf_counter() - start:.0f} s")
    return 1 if reported or failed else 0


if __name__ == "__main__":
    sys.exit(main())
