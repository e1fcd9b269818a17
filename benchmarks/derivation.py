"""Derivation and evaluation time of the Tikhonov map's order-3 Jacobian and order-5 Hessian.

    python benchmarks/derivation.py [--n 50] [--p 20] [--repeats 5]

Prints a table and saves JSON to benchmarks/results/derivation.json.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import tensordiff as td


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def build():
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return X, td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y


def closed_form_jacobian(X, y, lam):
    Mi = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    q = Mi @ (X.T @ y)
    return np.einsum("aj,i->aij", Mi, y - X @ q) - np.einsum("ai,j->aij", Mi @ X.T, q)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((args.n, args.p)), y=rng.standard_normal(args.n), lam=0.5)

    rows = []
    for order, label in ((1, "Jacobian (order 3)"), (2, "Hessian (order 5)")):
        X, q = build()
        derive = median_time(lambda: td.diff(build()[1], build()[0], order=order), args.repeats)
        derivative = td.diff(q, X, order=order)
        plan = median_time(lambda: td.compile(derivative), args.repeats)
        program = td.compile(derivative)
        program(**values)  # warm the contraction-path cache
        run = median_time(lambda: program(**values), args.repeats)
        result = program(**values)
        rows.append(dict(what=label, shape=list(result.shape), derive_ms=derive * 1e3, compile_ms=plan * 1e3,
                         evaluate_ms=run * 1e3, output_mb=result.nbytes / 2 ** 20))
        if order == 1:
            assert np.allclose(result, closed_form_jacobian(**values))
            closed = median_time(lambda: closed_form_jacobian(**values), args.repeats)
            rows[-1]["closed_form_ms"] = closed * 1e3

    print(f"Tikhonov map q = inv(X'X + lam I) X'y at n={args.n}, p={args.p} "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores), medians of {args.repeats}")
    print(f"{'derivative':<20}{'shape':>22}{'derive ms':>11}{'compile ms':>12}{'evaluate ms':>13}{'closed form ms':>16}")
    for r in rows:
        closed = f"{r['closed_form_ms']:.2f}" if "closed_form_ms" in r else "-"
        print(f"{r['what']:<20}{str(tuple(r['shape'])):>22}{r['derive_ms']:>11.2f}{r['compile_ms']:>12.2f}"
              f"{r['evaluate_ms']:>13.2f}{closed:>16}")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", "derivation.json")
    with open(path, "w") as f:
        json.dump(dict(n=args.n, p=args.p, rows=rows), f, indent=2)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
