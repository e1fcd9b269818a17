"""Deep programs and long texts: issue 16's linear-time targets, one process per case.

    python benchmarks/deep.py [--repeats 3] [--parse-mb 1]

Times derive + compile + first call at tiny sizes (every dim 3) for a 3,000-operation chain's
gradient (x -> A@x and x -> 0.9 tanh(x) + x alternating, then summed, as scaling.py's chain), the
Hessian of a 32-layer tanh network in its input and the gradient of u'X^200 v in X (200 products
X @ e), and ``td.parse`` of about --parse-mb megabytes of each family of scaling.py's texts. Both
wall-clock and CPU seconds are reported (the CPU time is steadier on a shared machine); each case
prints the median of --repeats processes. Saved to benchmarks/results/deep.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

N = 3


def chain(size=3000):
    import tensordiff as td
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    e = x
    for k in range(size):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    return (lambda: td.grad(td.sum(e), x)), dict(x=np.full(N, 0.1), A=0.5 * np.eye(N) + 0.1)


def network(layers=32):
    import tensordiff as td
    rng = np.random.default_rng(1)
    x = td.vector("x", "n")
    values = dict(x=rng.standard_normal(N), **{f"W{k}": rng.standard_normal((N, N)) / np.sqrt(N) for k in range(layers)})

    def build():
        h = x
        for k in range(layers):
            h = td.tanh(td.matrix(f"W{k}", "n n") @ h)
        return td.hessian(td.sum(h), x)
    return build, values


def power(k=200):
    import tensordiff as td
    rng = np.random.default_rng(2)
    X, u, v = td.matrix("X", "n n"), td.vector("u", "n"), td.vector("v", "n")
    values = dict(X=np.eye(N) + 0.01 * rng.standard_normal((N, N)), u=rng.standard_normal(N), v=rng.standard_normal(N))

    def build():
        e = v
        for _ in range(k):
            e = X @ e
        return td.grad(u @ e, X)
    return build, values


CASES = {"chain 3000": chain, "network hessian": network, "u'X^200 v": power}


def measure_case(name):
    import tensordiff as td
    build, values = CASES[name]()
    clocks = (time.perf_counter, time.process_time)
    marks = [tuple(c() for c in clocks)]
    d = build()
    marks.append(tuple(c() for c in clocks))
    program = td.compile(d)
    marks.append(tuple(c() for c in clocks))
    program(**values)
    marks.append(tuple(c() for c in clocks))
    row = dict(case=name)
    for phase, k in (("derive", 1), ("compile", 2), ("call", 3)):
        row[f"{phase}_s"] = marks[k][0] - marks[k - 1][0]
        row[f"{phase}_cpu_s"] = marks[k][1] - marks[k - 1][1]
    row["total_s"] = marks[3][0] - marks[0][0]
    row["total_cpu_s"] = marks[3][1] - marks[0][1]
    return row


def measure_parse(family, megabytes):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import scaling
    import tensordiff as td
    text, dims = scaling.parse_text(family, int(megabytes * 1e6))
    wall, cpu = time.perf_counter(), time.process_time()
    td.parse(text, **dims)
    return dict(case=f"parse {family} {megabytes:g} MB", total_s=time.perf_counter() - wall,
                total_cpu_s=time.process_time() - cpu, chars=len(text))


def median_row(rows):
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    return {**rows[0], **{k: float(np.median([r[k] for r in rows])) for k in keys}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per case (the median is reported)")
    parser.add_argument("--parse-mb", type=float, default=1.0)
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        kind, *rest = args.one
        row = measure_case(rest[0]) if kind == "case" else measure_parse(rest[0], float(rest[1]))
        print(json.dumps(row))
        return
    jobs = [["case", name] for name in CASES] + [["parse", f, str(args.parse_mb)] for f in ("sums", "distinct", "nested")]
    print(f"{'case':<22} {'derive':>8} {'compile':>8} {'call':>8} {'total':>8} {'total cpu':>10}   (seconds, median of "
          f"{args.repeats})")
    rows = []
    for job in jobs:
        runs = [json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--one", *job], capture_output=True,
                                          text=True, check=True).stdout.strip().splitlines()[-1])
                for _ in range(args.repeats)]
        row = median_row(runs)
        rows.append(row)
        cells = " ".join(f"{row[k]:>8.3f}" if k in row else f"{'-':>8}" for k in ("derive_s", "compile_s", "call_s"))
        print(f"{row['case']:<22} {cells} {row['total_s']:>8.3f} {row['total_cpu_s']:>10.3f}", flush=True)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "deep.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(dict(machine=platform.platform(), python=platform.python_version(), rows=rows), fh, indent=1)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
