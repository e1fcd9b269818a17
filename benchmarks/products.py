"""Derivative products and selections: hvp, jvp, vjp, and one row or entry of a Hessian.

    python benchmarks/products.py [--quick] [--sizes small large] [--methods tensordiff closed jax torch]
                                  [--repeats 7] [--budget 5] [--name products]

Products: tensordiff builds each product symbolically (td.hvp / td.jvp / td.vjp) and td.compiles
it; the peers compute it by automatic differentiation: jax (jax.jit of jax.jvp of jax.grad for an
hvp, of jax.jvp / jax.vjp for the others) and torch.func (jvp of grad; jvp; vjp), on the primal
functions of problems.py; "closed" is the hand-written numpy formula, itself checked against
central finite differences of a closed form one order lower at the small size. Every method must
agree with the closed form before it is timed. Peers that are not importable are skipped.

Selections: one row and one entry of a Hessian (td.hessian(f, W)[a, b], ...[a, b, c, d]) against
the whole Hessian, all compiled by tensordiff and checked against slices of the whole one.

Times are medians after one warm-up call (run.measure); the table gives ratios to tensordiff.
Results: benchmarks/results/NAME.json and NAME.txt. On a shared machine, give every library one
core for comparable numbers: ``--threads 1`` confines the process to one CPU (where the OS allows;
thread-count variables alone do not stop XLA's thread pool), best with OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 set too.
"""

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

import tensordiff as td  # noqa: E402
from problems import (PROBLEMS, _tikhonov_parts, logdet_f_td, logdet_grad_closed, logdet_inputs,  # noqa: E402
                      logdet_peer, nn_f_td, nn_grad_closed, nn_inputs, nn_peer, tikhonov_inputs, tikhonov_J_closed,
                      tikhonov_peer, tikhonov_q, tikhonov_q_td)
from run import PEER_LOADERS, _agree, measure, pin_to_one_cpu  # noqa: E402

METHODS = ("tensordiff", "closed", "jax", "torch")


# ================================================================ the product problems

@dataclass(frozen=True)
class Product:
    """``kind`` is hvp, jvp or vjp of the primal with respect to ``wrt`` along ``direction``."""

    title: str
    kind: str
    sizes: dict
    inputs: Callable        # (sizes, rng) -> primal inputs
    direction: Callable     # (inputs, rng) -> the direction's array
    tensordiff: Callable    # () -> the product expression (its direction symbol is "V")
    closed: Callable        # (V=..., **inputs) -> the product
    fd: Callable            # (V=..., **inputs) -> the product by central differences (checks closed)
    peer: tuple             # (primal over a namespace, wrt)


def _central(f, x, v, h=1e-6):
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


# ||tanh(XW)a - y||^2: hvp with respect to W

def nn_hvp_td():
    W, f = nn_f_td()
    return td.hvp(f, W, td.matrix("V", "d k"))


def nn_hvp_closed(V, W, X, a, y):
    """d/dt of 2 X'(h' * e a') along V: h = tanh(XW), dh = h' * XV, de = dh a, dh' = -2 h * dh."""
    h = np.tanh(X @ W)
    dh_ = 1 - h * h
    e = h @ a - y
    dh = dh_ * (X @ V)
    return 2 * X.T @ (-2 * h * dh * np.outer(e, a) + dh_ * np.outer(dh @ a, a))


def nn_hvp_fd(V, W, X, a, y):
    return _central(lambda w: nn_grad_closed(w, X, a, y), W, V)


# log det(WW' + s^2 I): hvp with respect to W

def logdet_hvp_td():
    W, f = logdet_f_td()
    return td.hvp(f, W, td.matrix("V", "n m"))


def logdet_hvp_closed(V, W, s):
    """d/dt of 2 A^-1 W along V: 2 A^-1 V - 2 A^-1 (VW' + WV') A^-1 W."""
    A = W @ W.T + s ** 2 * np.eye(W.shape[0])
    B = np.linalg.solve(A, W)
    return 2 * np.linalg.solve(A, V - (V @ W.T + W @ V.T) @ B)


def logdet_hvp_fd(V, W, s):
    return _central(lambda w: logdet_grad_closed(w, s), W, V)


# Tikhonov q(X) = (X'X + lam I)^-1 X'y: jvp and vjp with respect to X

def tikhonov_jvp_td():
    X, q = tikhonov_q_td()
    return td.jvp(q, X, td.matrix("V", "n p"))


def tikhonov_jvp_closed(V, X, y, lam):
    """dq = M^-1 (V'z - X'V q), M = X'X + lam I, z = y - Xq."""
    Mi, Q, q, z = _tikhonov_parts(X, y, lam)
    return Mi @ (V.T @ z - X.T @ (V @ q))


def tikhonov_jvp_fd(V, X, y, lam):
    return _central(lambda x: tikhonov_q(x, y, lam), X, V)


def tikhonov_vjp_td():
    X, q = tikhonov_q_td()
    return td.vjp(q, X, td.vector("V", "p"))


def tikhonov_vjp_closed(V, X, y, lam):
    """u'J with J[a,i,j] = Mi[a,j] z[i] - Q[a,i] q[j]: z (Mi u)' - (Q'u) q'."""
    Mi, Q, q, z = _tikhonov_parts(X, y, lam)
    return np.outer(z, Mi @ V) - np.outer(Q.T @ V, q)


def tikhonov_vjp_fd(V, X, y, lam):
    return np.einsum("a,aij->ij", V, tikhonov_J_closed(X, y, lam))  # J closed is FD-checked by run.py


def _randn_like(name):
    return lambda inputs, rng: rng.standard_normal(np.shape(inputs[name]))


PRODUCTS = {
    "nn-hvp": Product(
        "||tanh(XW)a - y||^2: Hessian-vector product wrt W", "hvp",
        dict(small=dict(n=100, d=10, k=5), medium=dict(n=2000, d=50, k=20), large=dict(n=20000, d=200, k=100)),
        nn_inputs, _randn_like("W"), nn_hvp_td, nn_hvp_closed, nn_hvp_fd, (nn_peer, "W")),
    "logdet-hvp": Product(
        "log det(WW' + s^2 I): Hessian-vector product wrt W", "hvp",
        dict(small=dict(n=10, m=20), medium=dict(n=200, m=300), large=dict(n=1000, m=2000)),
        logdet_inputs, _randn_like("W"), logdet_hvp_td, logdet_hvp_closed, logdet_hvp_fd, (logdet_peer, "W")),
    "tikhonov-jvp": Product(
        "Tikhonov q(X): Jacobian-vector product dq[V]", "jvp",
        dict(small=dict(n=50, p=10), medium=dict(n=500, p=40), large=dict(n=3000, p=100)),
        tikhonov_inputs, _randn_like("X"), tikhonov_jvp_td, tikhonov_jvp_closed, tikhonov_jvp_fd,
        (tikhonov_peer, "X")),
    "tikhonov-vjp": Product(
        "Tikhonov q(X): vector-Jacobian product u'J", "vjp",
        dict(small=dict(n=50, p=10), medium=dict(n=500, p=40), large=dict(n=3000, p=100)),
        tikhonov_inputs, lambda inputs, rng: rng.standard_normal(inputs["X"].shape[1]), tikhonov_vjp_td,
        tikhonov_vjp_closed, tikhonov_vjp_fd, (tikhonov_peer, "X")),
}


def _peer_product(method, problem, inputs, direction):
    """(call, sync, to_numpy, version) computing the product with the peer's own transforms."""
    peer = PEER_LOADERS[method]()
    fn, wrt = problem.peer
    rest = [k for k in inputs if k != wrt]
    args = [peer.to_native(inputs[k]) for k in rest]
    x, v = peer.to_native(inputs[wrt]), peer.to_native(direction)

    def primal(w, *others):
        return fn(peer.ns, **{wrt: w}, **dict(zip(rest, others)))

    if method == "jax":
        import jax
        transforms = dict(
            hvp=lambda w, v, *o: jax.jvp(lambda u: jax.grad(primal)(u, *o), (w,), (v,))[1],
            jvp=lambda w, v, *o: jax.jvp(lambda u: primal(u, *o), (w,), (v,))[1],
            vjp=lambda w, v, *o: jax.vjp(lambda u: primal(u, *o), w)[1](v)[0])
        compiled = jax.jit(transforms[problem.kind])
        return (lambda: compiled(x, v, *args)), peer.sync, peer.to_numpy, peer.version
    import torch.func
    transforms = dict(
        hvp=lambda w, v, *o: torch.func.jvp(lambda u: torch.func.grad(primal)(u, *o), (w,), (v,))[1],
        jvp=lambda w, v, *o: torch.func.jvp(lambda u: primal(u, *o), (w,), (v,))[1],
        vjp=lambda w, v, *o: torch.func.vjp(lambda u: primal(u, *o), w)[1](v)[0])
    product = transforms[problem.kind]
    return (lambda: product(x, v, *args)), peer.sync, peer.to_numpy, peer.version


def run_product(name, size, method, args):
    problem = PRODUCTS[name]
    rng = np.random.default_rng(0)
    inputs = problem.inputs(problem.sizes[size], rng)
    direction = problem.direction(inputs, rng)
    record = dict(section="products", problem=name, kind=problem.kind, size=size, method=method,
                  dims=problem.sizes[size])
    if method == "tensordiff":
        start = time.perf_counter()
        program = td.compile(problem.tensordiff())
        record["plan_ms"] = (time.perf_counter() - start) * 1e3
        call, sync, to_numpy, version = (lambda: program(V=direction, **inputs)), (lambda r: None), np.asarray, \
            td.__version__
    elif method == "closed":
        call, sync, to_numpy, version = (lambda: problem.closed(V=direction, **inputs)), (lambda r: None), \
            np.asarray, np.__version__
    else:
        call, sync, to_numpy, version = _peer_product(method, problem, inputs, direction)
    record["version"] = version
    start = time.perf_counter()
    result = call()
    sync(result)
    record["first_call_ms"] = (time.perf_counter() - start) * 1e3
    result = to_numpy(result)
    if method == "closed" and size == "small":
        ok, err = _agree(result, problem.fd(V=direction, **inputs), rtol=1e-5)
        record["fd_rel_error"] = err
        if not ok:
            raise AssertionError(f"closed form of {name} disagrees with finite differences (rel. error {err:.2e})")
    elif method != "closed":
        ok, err = _agree(result, problem.closed(V=direction, **inputs), rtol=1e-7)
        record["rel_error"] = err
        if not ok:
            raise AssertionError(f"{method} disagrees with the closed form of {name} (rel. error {err:.2e})")
    sync(call())
    median, times = measure(call, sync, args.repeats, args.budget)
    record.update(median_ms=median * 1e3, times_ms=[t * 1e3 for t in times])
    return record


# ================================================================ selections: a row, an entry, the whole

# a Hessian of problems.PROBLEMS (its expression, inputs and sizes): (a row's key, an entry's key)
SELECTIONS = {
    "tikhonov-H": ((1, 2, 3), (1, 2, 3, 4, 2)),
    "logdet-hess": ((1, 2), (1, 2, 3, 4)),
    "nn-hess": ((1, 2), (1, 2, 3, 0)),
}


def run_selection(name, size, args):
    problem, (row, entry) = PROBLEMS[name], SELECTIONS[name]
    sizes = problem.sizes
    inputs = problem.inputs(sizes[size], np.random.default_rng(0))
    H = problem.tensordiff()
    whole = td.compile(H)
    reference = whole(**inputs)
    records = []
    for part, key in (("whole", ()), ("row", row), ("entry", entry)):
        start = time.perf_counter()
        program = whole if part == "whole" else td.compile(H[key])
        plan_ms = (time.perf_counter() - start) * 1e3
        ok, err = _agree(np.asarray(program(**inputs)), reference[key], rtol=1e-10)
        if not ok:
            raise AssertionError(f"{name}{list(key)} disagrees with the slice of the whole Hessian ({err:.2e})")
        program(**inputs)
        median, times = measure(lambda: program(**inputs), lambda r: None, args.repeats, args.budget)
        records.append(dict(section="selections", problem=name, size=size, method=part, key=list(key),
                            dims=sizes[size], plan_ms=plan_ms, rel_error=err, median_ms=median * 1e3,
                            times_ms=[t * 1e3 for t in times], shape=list(np.shape(reference[key]))))
    return records


# ================================================================ tables

def _fmt(ms):
    return "-" if ms is None else f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _render(columns, rows):
    widths = [max([len(str(c))] + [len(str(r[k])) for r in rows]) for k, c in enumerate(columns)]
    line = lambda cells: "  ".join(str(c).rjust(w) if k else str(c).ljust(w)  # noqa: E731
                                   for k, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows])


def tables(records, methods):
    products = [r for r in records if r["section"] == "products"]
    by = {(r["problem"], r["size"], r["method"]): r for r in products}
    rows = []
    for name in PRODUCTS:
        for size in dict.fromkeys(r["size"] for r in products if r["problem"] == name):
            base = by.get((name, size, "tensordiff"))
            cells = [f"{name} {size}", ", ".join(f"{k}={v}" for k, v in PRODUCTS[name].sizes[size].items())]
            for method in methods:
                r = by.get((name, size, method))
                if r is None or "median_ms" not in r:
                    cells.append(r["error"][:14] if r else "-")
                    continue
                ratio = "" if method == "tensordiff" or base is None or "median_ms" not in base else \
                    f" ({r['median_ms'] / base['median_ms']:.2g}x)"
                cells.append(_fmt(r["median_ms"]) + ratio)
            rows.append(cells)
    text = []
    if rows:
        text += ["Products: median ms (in brackets: time / tensordiff's time; >1 means tensordiff is faster)",
                 _render(["problem", "dims"] + list(methods), rows), ""]
    selections = [r for r in records if r["section"] == "selections"]
    if selections:
        sel = {(r["problem"], r["size"], r["method"]): r for r in selections}
        rows = []
        for name in SELECTIONS:
            for size in dict.fromkeys(r["size"] for r in selections if r["problem"] == name):
                whole = sel[(name, size, "whole")]
                cells = [f"{name} {size}", "x".join(map(str, whole["shape"]))]
                for part in ("whole", "row", "entry"):
                    r = sel[(name, size, part)]
                    cells.append(_fmt(r["median_ms"]) + ("" if part == "whole" else
                                                         f" ({whole['median_ms'] / r['median_ms']:.2g}x)"))
                rows.append(cells)
        text += ["Selections: median ms of the whole Hessian, one row H[a, b] (H[a, i, j] for order 5) and one entry "
                 "(in brackets: the whole's time / this one's)",
                 _render(["problem", "whole shape", "whole", "row", "entry"], rows)]
    return "\n".join(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--problems", nargs="+", default=list(PRODUCTS) + list(SELECTIONS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed calls per case")
    parser.add_argument("--name", default=None)
    parser.add_argument("--threads", type=int, default=None, help="1: run on one CPU (see above)")
    args = parser.parse_args(argv)
    if args.threads == 1:
        pin_to_one_cpu()
    sizes = ["small"] if args.quick else args.sizes
    name = args.name or ("products-quick" if args.quick else "products")
    methods = []
    for method in args.methods:
        if method in PEER_LOADERS:
            try:
                PEER_LOADERS[method]()
            except ImportError as exc:
                print(f"skipping {method}: {exc}")
                continue
        methods.append(method)
    records = []
    for problem in args.problems:
        for size in sizes:
            if problem in PRODUCTS:
                for method in methods:
                    try:
                        records.append(run_product(problem, size, method, args))
                    except Exception as exc:  # noqa: BLE001 - one failing case is reported, not fatal
                        records.append(dict(section="products", problem=problem, size=size, method=method,
                                            error=f"{type(exc).__name__}: {exc}"))
                        print(f"{problem} {size} {method}: {records[-1]['error']}")
            elif problem in SELECTIONS:
                records += run_selection(problem, size, args)
            else:
                parser.error(f"unknown problem {problem!r}; choose from {', '.join(list(PRODUCTS) + list(SELECTIONS))}")
    text = tables(records, methods)
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    meta = dict(machine=platform.machine(), python=platform.python_version(), numpy=np.__version__,
                cpus=os.cpu_count(), threads=args.threads or os.environ.get("OMP_NUM_THREADS"), time=time.strftime("%Y-%m-%d %H:%M:%S"))
    with open(os.path.join(HERE, "results", name + ".json"), "w") as f:
        json.dump(dict(meta=meta, records=records), f, indent=1)
    with open(os.path.join(HERE, "results", name + ".txt"), "w") as f:
        f.write(text + "\n")
    failures = [r for r in records if "error" in r]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
