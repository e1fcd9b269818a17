"""How derivation, printing and evaluation scale with the size of an expression.

    python benchmarks/scaling.py [--sizes 100 1000 10000] [--widths 10 20 30]

Three shapes: a deep chain (size alternating operations x -> A@x, x -> 0.9 tanh(x) + x0, then
summed), a wide sum (size distinct scalar terms tanh(c_k x·x)) and a wide einsum (u M1 ... Mw v,
one contraction of w + 2 operands). For each size it times building the expression, deriving its
gradient, printing the gradient (index notation, LaTeX, einsum code, matrix notation) and
compiling + evaluating it once, checks the gradient against central finite differences, prints a
table and saves JSON to benchmarks/results/scaling.json. Time linear in size shows as a constant
"per element" column. Each case runs in its own process, so no case pays for another's garbage.

    python benchmarks/scaling.py --parse-mb 1 [--repeats 5]

times ``td.parse`` on about that many megabytes of text (median of the repeats, one process per
family): "sums" is a long sum of products of declared matrices and function calls with repeated
subexpressions, "distinct" the same with new symbols in every term (nothing to share), and
"nested" sums of calls nested 30 deep (within parse.MAX_DEPTH). The syntax is read by the compiled
reader (_kernelparse.pxi) where the kernels are built; TENSORDIFF_NO_KERNELS=1 times the Python parser.

    python benchmarks/scaling.py --targets [--no-jax]

times issue 16's targets, derive + compile + first call at tiny sizes (every dim 3; the GP at
n = 5), one process per case, with JAX's trace + compile + first call beside them when jax is
installed (wall seconds, and the CPU seconds of tensordiff's total, steadier on a shared machine):
the Tikhonov map inv(X'X + lam I) X'y differentiated 3 to 6 times in X, the Hessian of a
32-layer tanh network in its input, the gradient of u'X^200 v in X and the 6th derivative of a
Gaussian-process likelihood in its length-scale. Each value is checked against JAX's where both ran.
Saved to benchmarks/results/targets.json.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import curves
import tensordiff as td
from tensordiff.testing import numeric_diff

N = 3  # every dim's size: the point is the size of the expression, not of the arrays


def chain(size):
    x, A = td.vector("x", "n"), td.matrix("A", "n n")
    e = x
    for k in range(size):
        e = td.tanh(e) * 0.9 + x if k % 2 else A @ e
    return td.sum(e), x, dict(x=np.full(N, 0.1), A=0.5 * np.eye(N) + 0.1)


def pairwise_sum(terms):
    """Σ terms as a balanced tree of +: each + flattens its operands, so a left fold is quadratic."""
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k] for k in range(0, len(terms), 2)]
    return terms[0]


def wide_sum(size):
    x = td.vector("x", "n")
    xx = x @ x
    f = pairwise_sum([td.tanh((1.0 + k / size) * xx) for k in range(size)])
    return f, x, dict(x=np.linspace(0.1, 0.3, N))


def wide_einsum(width):
    u, v = td.vector("u", "d0"), td.vector("v", f"d{width}")
    mats = [td.matrix(f"M{k}", f"d{k} d{k + 1}") for k in range(width)]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    spec = letters[0] + "," + ",".join(letters[k] + letters[k + 1] for k in range(width)) + "," + letters[width] + "->"
    f = td.einsum(spec, u, *mats, v)
    rng = np.random.default_rng(0)
    values = {f"M{k}": np.eye(N) + 0.2 * rng.standard_normal((N, N)) for k in range(width)}
    values.update(u=rng.standard_normal(N), v=rng.standard_normal(N))
    return f, mats[width // 2], values


def parse_text(family, size):
    """About ``size`` characters of matrix notation of a parse family, and the dims it declares."""
    functions = ("tanh", "exp", "sigmoid", "log1p")
    dims = dict(A="n n", B="n n", x="n", y="n", z="n", w="n", b="n") | {f"b{k}": "n" for k in range(50)}
    if family == "nested":
        inner = "x"
        for _ in range(30):
            inner = f"tanh(A*({inner}) + b)"
        term = f"sum({inner})"
        return " + ".join([term] * max(1, size // (len(term) + 3))), dims
    terms, total, k = [], 0, 0
    while total < size:
        if family == "sums":
            term = f"{k % 7 + 1}.5*{functions[k % 4]}(A*x + b{k % 50})'*B*y - tr(A'*A*B) + w'*(A*z)"
        else:   # distinct: undeclared symbols, new in every term
            term = f"{k % 7 + 1}.5*tanh(A{k}*x{k} + b{k})'*B*y - tr(C{k}'*A*B)"
        terms.append(term)
        total, k = total + len(term) + 3, k + 1
    return " + ".join(terms), (dims if family == "sums" else {})


def measure_parse(family, megabytes, repeats):
    text, dims = parse_text(family, int(megabytes * 1e6))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        td.parse(text, **dims)
        times.append(time.perf_counter() - start)
    return dict(family=family, chars=len(text), repeats=repeats, median_s=float(np.median(times)),
                min_s=min(times), s_per_mb=float(np.median(times)) / (len(text) / 1e6))


PARSE_FAMILIES = ("sums", "distinct", "nested")


def run_parse(megabytes, repeats):
    print(f"{'family':<9} {'chars':>9} {'median':>8} {'min':>8} {'s per MB':>9}   (td.parse, {repeats} runs)")
    rows = []
    for family in PARSE_FAMILIES:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one-parse", family, str(megabytes),
                               str(repeats)], capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{family:<9} {row['chars']:>9} {row['median_s']:>8.3f} {row['min_s']:>8.3f} {row['s_per_mb']:>9.3f}",
              flush=True)
    return rows


# ---------------------------------------------------------------- issue 16's targets

def target_tikhonov(order):
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    rng = np.random.default_rng(0)
    values = dict(X=rng.standard_normal((N, N)), y=rng.standard_normal(N), lam=0.7)

    def build():
        return td.diff(td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y, X, order=order)

    def jax_fn(jnp):
        def q(x):
            return jnp.linalg.inv(x.T @ x + values["lam"] * jnp.eye(N)) @ x.T @ jnp.asarray(values["y"])
        return q, values["X"], order
    return build, values, jax_fn


def target_network(layers=32):
    x = td.vector("x", "n")
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((N, N)) / np.sqrt(N) for _ in range(layers)]
    values = dict(x=rng.standard_normal(N), **{f"W{k}": w for k, w in enumerate(weights)})

    def build():
        h = x
        for k in range(layers):
            h = td.tanh(td.matrix(f"W{k}", "n n") @ h)
        return td.hessian(td.sum(h), x)

    def jax_fn(jnp):
        def f(v):
            for w in weights:
                v = jnp.tanh(jnp.asarray(w) @ v)
            return jnp.sum(v)
        return f, values["x"], 2
    return build, values, jax_fn


def target_power(power=200):
    X, u, v = td.matrix("X", "n n"), td.vector("u", "n"), td.vector("v", "n")
    rng = np.random.default_rng(2)
    values = dict(X=np.eye(N) + 0.01 * rng.standard_normal((N, N)), u=rng.standard_normal(N), v=rng.standard_normal(N))

    def build():
        e = v
        for _ in range(power):
            e = X @ e
        return td.grad(u @ e, X)

    def jax_fn(jnp):
        def f(x):
            e = jnp.asarray(values["v"])
            for _ in range(power):
                e = x @ e
            return jnp.asarray(values["u"]) @ e
        return f, values["X"], 1
    return build, values, jax_fn


def target_gp(order=6, n=5):
    ell, s, noise = td.scalar("ell"), td.scalar("s"), td.scalar("noise")
    D, y = td.matrix("D", "m m"), td.vector("y", "m")   # D: squared distances between the n inputs
    rng = np.random.default_rng(3)
    points = rng.standard_normal((n, 2))
    distances = np.sum((points[:, None, :] - points[None, :, :]) ** 2, axis=-1)
    values = dict(ell=1.3, s=1.1, noise=0.5, D=distances, y=rng.standard_normal(n))

    def build():
        K = s ** 2 * td.exp(-0.5 * D / ell ** 2) + noise * td.eye("m")
        return td.diff(y @ td.inv(K) @ y + td.logdet(K), ell, order=order)

    def jax_fn(jnp):
        def f(length):
            K = values["s"] ** 2 * jnp.exp(-0.5 * jnp.asarray(distances) / length ** 2) + values["noise"] * jnp.eye(n)
            yy = jnp.asarray(values["y"])
            return yy @ jnp.linalg.inv(K) @ yy + jnp.linalg.slogdet(K)[1]
        return f, values["ell"], order
    return build, values, jax_fn


TARGETS = {"tikhonov 3": lambda: target_tikhonov(3), "tikhonov 4": lambda: target_tikhonov(4),
           "tikhonov 5": lambda: target_tikhonov(5), "tikhonov 6": lambda: target_tikhonov(6),
           "network hessian": target_network, "u'X^200 v": target_power, "GP 6th in ell": target_gp}


def measure_target(name, with_jax):
    from tensordiff.expr import topological
    build, values, jax_fn = TARGETS[name]()
    start, start_cpu = time.perf_counter(), time.process_time()
    d = build()
    derived = time.perf_counter()
    program = td.compile(d)
    compiled = time.perf_counter()
    value = np.asarray(program(**values))
    done, done_cpu = time.perf_counter(), time.process_time()
    row = dict(case=name, derive_s=derived - start, compile_s=compiled - derived, call_s=done - compiled,
               total_s=done - start, total_cpu_s=done_cpu - start_cpu, nodes=len(topological([d])),
               index_chars=len(td.index_notation(d)))
    if with_jax:
        try:
            import jax
        except ImportError:
            return row
        jax.config.update("jax_enable_x64", True)
        f, x, order = jax_fn(jax.numpy)
        start = time.perf_counter()
        for _ in range(order):
            f = jax.jacfwd(f)
        theirs = np.asarray(jax.jit(f)(jax.numpy.asarray(x)))
        row["jax_s"] = time.perf_counter() - start
        scale = max(1.0, float(np.max(np.abs(theirs))))
        row["max_rel_error_vs_jax"] = float(np.max(np.abs(value.reshape(theirs.shape) - theirs))) / scale
    return row


def run_targets(with_jax):
    print(f"{'case':<16} {'derive':>8} {'compile':>8} {'call':>8} {'total':>8} {'cpu':>8} {'jax':>8} {'nodes':>7} "
          f"{'printed':>9} {'vs jax':>8}   (seconds, wall but cpu: CPU seconds; chars of index notation)")
    rows = []
    for name in TARGETS:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one-target", name] +
                              ([] if with_jax else ["--no-jax"]), capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        jax_s = f"{row['jax_s']:>8.3f}" if "jax_s" in row else f"{'-':>8}"
        error = f"{row['max_rel_error_vs_jax']:>8.1e}" if "max_rel_error_vs_jax" in row else f"{'-':>8}"
        print(f"{name:<16} {row['derive_s']:>8.3f} {row['compile_s']:>8.3f} {row['call_s']:>8.3f} "
              f"{row['total_s']:>8.3f} {row['total_cpu_s']:>8.3f} {jax_s} {row['nodes']:>7} {row['index_chars']:>9} "
              f"{error}", flush=True)
    return rows


SHAPES = {"chain": chain, "sum": wide_sum, "einsum": wide_einsum}
PRINTERS = {"index": td.index_notation, "latex": td.latex, "einsum": td.to_einsum, "matrix": td.matrix_notation}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(shape, size):
    (f, wrt, values), build = timed(lambda: SHAPES[shape](size))
    g, derive = timed(lambda: td.grad(f, wrt))
    row = dict(shape=shape, size=size, build_s=build, derive_s=derive)
    for name, printer in PRINTERS.items():
        text, row[f"print_{name}_s"] = timed(lambda: printer(g))
        row[f"print_{name}_chars"] = len(text)
    value, row["evaluate_s"] = timed(lambda: td.evaluate(g, **values))
    if size <= 1000:  # finite differences evaluate f 2·size(wrt) times
        numeric = numeric_diff(f, wrt, values)
        row["max_rel_error"] = float(np.max(np.abs(value - numeric)) / max(np.max(np.abs(numeric)), 1e-300))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--parse-mb", type=float, help="time td.parse on this many MB of text instead")
    parser.add_argument("--repeats", type=int, default=5, help="parse runs per family (the median is reported)")
    parser.add_argument("--targets", action="store_true", help="time issue 16's targets instead")
    parser.add_argument("--no-jax", action="store_true", help="with --targets: leave JAX's times out")
    parser.add_argument("--one-target", help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--one-parse", nargs=3, metavar=("FAMILY", "MB", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # a single case, in the process the driver started for it
        print(json.dumps(measure(args.one[0], int(args.one[1]))))
        return
    if args.one_target:
        print(json.dumps(measure_target(args.one_target, not args.no_jax)))
        return
    if args.targets:
        rows = run_targets(not args.no_jax)
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "targets.json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as fh:
            json.dump(dict(machine=platform.platform(), python=platform.python_version(), rows=rows), fh, indent=1)
        print(f"saved {out}")
        print(curves.write("targets"))   # the docs' table and plot (curves.py)
        return
    if args.one_parse:
        family, megabytes, repeats = args.one_parse
        print(json.dumps(measure_parse(family, float(megabytes), int(repeats))))
        return
    if args.parse_mb:
        rows = run_parse(args.parse_mb, args.repeats)
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "parse.json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as fh:
            json.dump(dict(machine=platform.platform(), python=platform.python_version(), rows=rows), fh, indent=1)
        print(f"saved {out}")
        print(curves.write("parse"))   # the docs' table and plot (curves.py)
        return
    rows = []
    header = (f"{'shape':<7} {'size':>6} {'build':>8} {'derive':>8} {'index':>8} {'latex':>8} {'einsum':>8} "
              f"{'matrix':>8} {'evaluate':>8}  {'derive/size':>11}  {'FD rel err':>10}")
    print(header + "\n" + "-" * len(header) + "   (seconds)")
    for shape in SHAPES:
        for size in (args.widths if shape == "einsum" else args.sizes):
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", shape, str(size)],
                                  capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            error = f"{row['max_rel_error']:.1e}" if "max_rel_error" in row else "-"
            print(f"{shape:<7} {size:>6} {row['build_s']:>8.3f} {row['derive_s']:>8.3f} "
                  f"{row['print_index_s']:>8.3f} {row['print_latex_s']:>8.3f} {row['print_einsum_s']:>8.3f} "
                  f"{row['print_matrix_s']:>8.3f} {row['evaluate_s']:>8.3f}  {row['derive_s'] / size * 1e3:>8.3f} ms"
                  f"  {error:>10}", flush=True)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "scaling.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(dict(machine=platform.platform(), python=platform.python_version(), numpy=np.__version__,
                       rows=rows), fh, indent=1)
    print(f"saved {out}")
    print(curves.write("scaling"))   # the docs' table and plot (curves.py)


if __name__ == "__main__":
    main()
