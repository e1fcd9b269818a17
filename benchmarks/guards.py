"""What the reliability guards cost: the conditioning estimate next to the factorisation it reads,
and the memory guard's check on every call of a small program.

    python benchmarks/guards.py [--sizes 10 100 300 1000] [--repeats 7]
    OPENBLAS_NUM_THREADS=1 python benchmarks/guards.py      (steadier on a shared machine)

For each matrix size n it times, on numpy, every matrix function of a random well-conditioned
matrix with conditioning="ignore" (numpy's own linalg, no estimate) and "warn" (inv: numpy's inv
then the exact 1-norm rcond from the result; solve/det/logdet: scipy's getrf, gecon, then getrs or
the diagonal), and the estimate alone (gecon on factors already computed) against the
factorisation alone (getrf). It also times a small compiled program with the memory guard on
(memory_limit="auto") and off (memory_limit=None). Prints a table and writes
benchmarks/results/guards.txt. Medians of ``--repeats`` runs after a warm-up, in ms.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

import tensordiff as td
from tensordiff import conditioning


def median_ms(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def matrix_rows(sizes, repeats):
    A, b = td.matrix("A", "n n"), td.vector("b", "n")
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        a = np.eye(n) + rng.standard_normal((n, n)) / np.sqrt(n)
        rhs = rng.standard_normal(n)
        for name, expr in (("inv", td.inv(A)), ("solve", td.solve(A, b)), ("det", td.det(A)),
                           ("logdet", td.logdet(A))):
            plain = td.compile(expr, conditioning="ignore")
            checked = td.compile(expr, conditioning="warn")
            values = dict(A=a, b=rhs) if name == "solve" else dict(A=a)
            rows.append((name, n, median_ms(lambda: plain(**values), repeats),
                         median_ms(lambda: checked(**values), repeats)))
        functions = conditioning.lapack(np.float64)
        if functions is not None:
            factors, anorm = functions["getrf"](a)[0], float(conditioning.one_norm(a))
            rows.append(("getrf | gecon", n, median_ms(lambda: functions["getrf"](a), repeats),
                         median_ms(lambda: conditioning.lu_rcond(functions, factors, anorm), repeats)))
    return rows


def guard_rows(repeats):
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    J = td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X)
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((50, 10)), y=rng.standard_normal(50), lam=0.5)
    off, on = td.compile(J, memory_limit=None), td.compile(J, memory_limit="auto")
    return [("tikhonov J, n=50 p=10", median_ms(lambda: off(**values), repeats),
             median_ms(lambda: on(**values), repeats))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 300, 1000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    lines = [f"tensordiff guards ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}); "
             f"median of {args.repeats} calls after warm-up, in ms", "",
             f"{'operation':<16}{'n':>6}{'ignore':>11}{'warn':>11}{'extra':>9}"]
    for name, n, plain, checked in matrix_rows(args.sizes, args.repeats):
        if name == "getrf | gecon":   # the factorisation alone, then the estimate alone on its factors
            lines.append(f"{name:<16}{n:>6}{plain:>11.4f}{checked:>11.4f}{checked / plain:>8.1%}")
        else:
            lines.append(f"{name:<16}{n:>6}{plain:>11.4f}{checked:>11.4f}{checked / plain - 1:>+8.0%}")
    lines += ["", "(getrf | gecon: the columns are getrf alone and gecon alone; extra = gecon / getrf)", "",
              f"{'memory guard':<24}{'off':>10}{'on':>10}"]
    for name, off, on in guard_rows(args.repeats):
        lines.append(f"{name:<24}{off:>10.4f}{on:>10.4f}")
    text = "\n".join(lines)
    print(text)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "guards.txt")
    with open(out, "w") as handle:
        handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
