"""Per-call cost of compiled programs on each eager backend, at the peer problems' small sizes.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/percall.py [--backends numpy torch jax] [--problems ridge ...] [--batches 15]

For each problem and backend: the program compiled with ``backend=`` (numpy arrays converted once to
the library's), a warm-up call, then ``--batches`` batches of calls, each batch timed as a whole;
the report is the median time per call in µs and the spread (the 25th and 75th percentiles) over
the batches. The machine may be loaded: compare medians measured in the same run. ``--single``
reports instead the 10th percentile of calls timed one at a time (2,000 of them; the spread is the
fastest call and the median):
on a loaded machine a batch's mean takes every preemption in it, while the fastest tenth of single
calls stays within a few percent from run to run. The 1×1 column
is the same program with every dim of size 1: what a call costs beyond its arithmetic. Each row
ends with the ratios of the medians to the hand-written closed form's (benchmarks/problems.py),
timed the same way in the same run, at the small size and at 1×1 (the "closed" rows). With jax
among the backends, the "jax-jit" rows time the problem's jax peer (run.py's "jax" method: the
jit'd jax transform of the primal) the same way.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from problems import PROBLEMS  # noqa: E402
from run import PEER_LOADERS  # noqa: E402

import tensordiff as td  # noqa: E402


def convert(values, backend):
    if backend == "torch":
        import torch
        return {k: torch.as_tensor(np.asarray(v)) for k, v in values.items()}
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        return {k: jnp.asarray(np.asarray(v)) for k, v in values.items()}
    return values


def jit_peer(problem, values):
    """jax.jit of the problem's jax peer (run.py's "jax" method) as a function of no arguments."""
    fn, wrt, mode = problem.peer
    peer = PEER_LOADERS["jax"]()
    names = [wrt] + [k for k in values if k != wrt]
    derivative = peer.transform(lambda *args: fn(peer.ns, **dict(zip(names, args))), mode)
    args = [peer.to_native(values[k]) for k in names]
    return lambda: derivative(*args)


def block(result, backend):
    if backend == "jax":
        for r in result if isinstance(result, tuple) else (result,):
            r.block_until_ready()


def single_calls(program, values, backend, count=2000):
    """(10th percentile, fastest, median) of ``count`` calls timed one at a time, in µs: per_call's
    (median, q1, q3) places, so the tables read alike."""
    block(program(**values), backend)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        block(program(**values), backend)
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return times[count // 10], times[0], times[count // 2]


def per_call(program, values, backend, batches, budget=0.05):
    block(program(**values), backend)
    start = time.perf_counter()
    block(program(**values), backend)
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, min(200, int(budget / once)))
    times = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            result = program(**values)
        block(result, backend)
        times.append((time.perf_counter() - start) / calls * 1e6)
    quartiles = statistics.quantiles(times, n=4)
    return statistics.median(times), quartiles[0], quartiles[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch", "jax"])
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--single", action="store_true", help="time calls one at a time: their 10th percentile (fastest-median)")
    args = parser.parse_args()
    spread = "(min-median)" if args.single else "(q1-q3)"
    print(f"{'problem':<14}{'backend':<8}{'small µs ' + spread:>26}{'1x1 µs ' + spread:>26}{'x closed':>16}")
    for name in args.problems:
        problem = PROBLEMS[name]
        expr = problem.tensordiff()
        rng = np.random.default_rng(0)
        small = problem.inputs(problem.sizes["small"], rng)
        tiny = problem.inputs({d: 1 for d in problem.sizes["small"]}, rng)
        def timed(function, values, backend):
            return single_calls(function, values, backend) if args.single else \
                per_call(function, values, backend, args.batches)
        closed = [timed(problem.closed, values, "numpy") for values in (small, tiny)]
        rows = [("closed", problem.closed, closed)]
        for backend in args.backends:
            program = td.compile(expr, backend=backend)
            rows.append((backend, program, [timed(program, convert(values, backend), backend)
                                            for values in (small, tiny)]))
        if "jax" in args.backends:   # jit'd jax beside tensordiff's jax backend
            rows.append(("jax-jit", None, [timed(jit_peer(problem, values), {}, "jax") for values in (small, tiny)]))
        for label, _, timings in rows:
            cells = [f"{median:9.1f} ({low:7.1f}-{high:7.1f})" for median, low, high in timings]
            ratios = " ".join(f"{t[0] / c[0]:5.2f}" for t, c in zip(timings, closed))
            print(f"{name:<14}{label:<8}{cells[0]:>26}{cells[1]:>26}{ratios:>16}", flush=True)


if __name__ == "__main__":
    main()
