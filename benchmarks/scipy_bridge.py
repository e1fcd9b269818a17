"""td.scipy_objective under scipy.optimize.minimize(method="trust-ncg"): calls and time per call.

Two problems: L2-regularised logistic regression (w, b) and a 2-layer tanh network's squared loss
(W1, b1, w2). For each: the objective's construction time, the number of fun/jac/hessp calls scipy
makes, the median time of fun, jac and hessp inside the run (hessp split into the first at a new
point, which also computes what depends on the point alone, and the later ones there), the whole
minimize's time and the program calls that ran steps (``obj.evaluations``).

    python benchmarks/scipy_bridge.py [--n 2000] [--repeat 3]
"""

import argparse
import statistics
import time

import numpy as np
from scipy.optimize import minimize

import tensordiff as td


def logistic(n, rng):
    p = 20
    X, y, w = td.matrix("X", "n p"), td.vector("y", "n"), td.vector("w", "p")
    b, ones, lam = td.scalar("b"), td.vector("ones", "n"), td.scalar("lam")
    f = td.sum(td.softplus(-(y * (X @ w + b * ones)))) + 0.5 * lam * (w @ w)
    Xv = rng.standard_normal((n, p))
    yv = np.where(Xv @ rng.standard_normal(p) + rng.standard_normal(n) > 0, 1.0, -1.0)
    return f, [w, b], dict(X=Xv, y=yv, ones=np.ones(n), lam=1.0), dict(w=np.zeros(p), b=0.0)


def network(n, rng):
    d, h = 10, 16
    X, y = td.matrix("X", "n d"), td.vector("y", "n")
    W1, b1, w2, ones = td.matrix("W1", "d h"), td.vector("b1", "h"), td.vector("w2", "h"), td.vector("ones", "n")
    f = td.norm(td.tanh(X @ W1 + td.outer(ones, b1)) @ w2 - y) ** 2 / n + 1e-3 * (td.norm(W1) ** 2 + w2 @ w2)
    Xv = rng.standard_normal((n, d))
    yv = np.sin(Xv @ rng.standard_normal(d))
    start = dict(W1=0.3 * rng.standard_normal((d, h)), b1=np.zeros(h), w2=0.3 * rng.standard_normal(h))
    return f, [W1, b1, w2], dict(X=Xv, y=yv, ones=np.ones(n)), start


def timed(obj):
    """fun/jac/hessp wrappers that record (kind, seconds); hessp records whether its point is new."""
    records, last = [], {"x": None}

    def wrap(kind, method):
        def call(x, *rest):
            if kind == "hessp":
                label = "hessp, new point" if last["x"] is None or not np.array_equal(last["x"], x) else "hessp, same point"
                last["x"] = np.array(x)
            else:
                label = kind
            start = time.perf_counter()
            out = method(x, *rest)
            records.append((label, time.perf_counter() - start))
            return out
        return call
    return wrap("fun", obj.fun), wrap("jac", obj.jac), wrap("hessp", obj.hessp), records


def run(name, make, n, repeat):
    for _ in range(repeat):
        f, wrt, constants, start = make(n, np.random.default_rng(0))
        began = time.perf_counter()
        obj = td.scipy_objective(f, wrt, **constants)
        construction = time.perf_counter() - began
        fun, jac, hessp, records = timed(obj)
        began = time.perf_counter()
        result = minimize(fun, obj.x0(**start), jac=jac, hessp=hessp, method="trust-ncg",
                          options=dict(gtol=1e-8, maxiter=200))
        total = time.perf_counter() - began
    kinds = ["fun", "jac", "hessp, new point", "hessp, same point"]
    counts = {k: sum(1 for label, _ in records if label == k) for k in kinds}
    medians = {k: statistics.median([s for label, s in records if label == k]) * 1e6 if counts[k] else float("nan")
               for k in kinds}
    print(f"{name} (n={n}, {obj.size} variables): construction {construction * 1e3:.0f} ms, minimize {total * 1e3:.0f} ms, "
          f"success {result.success}, f {result.fun:.6g}, program calls that ran steps {obj.evaluations}")
    for k in kinds:
        print(f"  {k:18s} {counts[k]:4d} calls, median {medians[k]:8.1f} µs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="data points")
    parser.add_argument("--repeat", type=int, default=2, help="runs (the last is reported: warm caches)")
    args = parser.parse_args()
    run("logistic regression", logistic, args.n, args.repeat)
    run("2-layer network", network, args.n, args.repeat)


if __name__ == "__main__":
    main()
