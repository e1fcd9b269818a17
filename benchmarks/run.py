"""Benchmark suite: tensordiff against the closed form, the floor, and the AD peers.

    python benchmarks/run.py [--quick] [--problems ridge tikhonov-H ...] [--sizes small medium large]
                             [--methods floor closed tensordiff jax torch autograd] [--repeats 7]
                             [--timeout 60] [--threads N] [--name latest] [--explain]

Every (problem, size, method) runs in a fresh child process (this script with --worker), so peak
memory, JIT caches and allocator state never leak from one case into the next. In the child:

  1. build the inputs (seeded) and set the method up, timing the set-up: for tensordiff the
     planning (derive = building the expression and differentiating, compile = td.compile); for
     jax the first call of the jit'd transform (trace + XLA compile); for torch.func and autograd
     the first call. The RSS baseline is taken before the inputs are built and after one large
     BLAS and LAPACK call, whose buffers (kept for the process's life) so count as overhead for
     every method alike;
  2. reset the peak-RSS counter (Linux: /proc/self/clear_refs), warm up once, then time up to
     --repeats calls (fewer when they exceed a time budget) and report the median and the peak
     RSS over the timed calls (resource.getrusage ru_maxrss);
  3. verify, after the timing (the closed form's freed arrays, which the allocator may keep
     resident, would otherwise count in the method's peak RSS): the method's result must be
     np.allclose to the hand-written closed form (the closed form itself is checked against
     central finite differences of a closed form one order lower at the small size), otherwise
     the case fails and its figures are not reported.

Methods: "floor" (np.empty(output shape) + fill(1.0): the cost of writing the output once),
"closed" (the closed form, the "limit"), "tensordiff" (a td.compile'd derivative), and the peers
jax (jax.jit of jax.grad/jacfwd/jacrev/hessian), torch (torch.func.grad/jacfwd/jacrev/hessian) and
autograd (HIPS autograd: grad/jacobian/hessian; it has no forward-mode jacobian, so jacfwd uses
the reverse-mode jacobian). A peer that is not importable is skipped with a note; peers are only
imported in the children that use them. A method that times out or exceeds the memory limit at
one size is not tried at the larger sizes of that problem.

At the small size each method's fixed cost per call is measured too: the fastest of 100 batches
of 10 calls on the same problem with every dim of size 1 (the "fixed us" columns), which is what a call
costs beyond its arithmetic. --explain prints each problem's tensordiff plan at the first size
run: its steps, the pass that made each, and their FLOPs and bytes (``program.explain``).

"tensordiff-jax" is the same compiled program on the jax backend, with jax arrays (it jits itself
from its second call with one signature, so that call is always its warm-up).

Results (report.py): a table of medians (ms) with ratios to the closed form, a memory table, a
check of the suite's performance targets, JSON in benchmarks/results/NAME.json, the text in
NAME.txt, the markdown summary the docs include in NAME.md (targets per size, ratios, fixed cost
per call, memory), and a log-log plot NAME.png when matplotlib is importable. NAME is "latest"
for a full run (what docs/background/benchmarks.md shows), "quick" with --quick, else "partial";
``--report NAME`` rewrites the reports from NAME.json without running anything.
"""

import argparse
import gc
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

from problems import PROBLEMS, SIZES  # noqa: E402
from report import write_reports  # noqa: E402

PEERS = {"jax": "jax", "torch": "torch", "autograd": "autograd"}  # method -> module to find
BACKENDS = {"tensordiff-jax": "jax"}   # tensordiff on another backend: method -> module it needs
METHODS = ("floor", "closed", "tensordiff") + tuple(BACKENDS) + tuple(PEERS)
TRACED = ("floor", "closed", "tensordiff")   # numpy methods: tracemalloc sees their arrays (jax and torch allocate their own)


# ================================================================ in the child: memory and timing

def _rss_bytes(field="VmRSS"):
    """The current resident set (or its peak, field="VmHWM") in bytes; None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _maxrss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _reset_peak():
    """Reset ru_maxrss to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


MIN_TIMED_S = 0.05   # fast calls are timed until they fill this much time ...
MAX_CALLS = 1000     # ... or this many calls: a median of 7 calls of 30 µs moves with every preemption


def measure(call, sync, repeats, budget_s):
    """Median wall time of ``sync(call())`` over up to ``repeats`` calls, stopping early once the
    calls have used ``budget_s`` seconds (at least one call); calls that together take less than
    MIN_TIMED_S go on until they fill it (at most MAX_CALLS), for every method alike."""
    times = []
    while len(times) < repeats or (sum(times) < MIN_TIMED_S and len(times) < MAX_CALLS):
        start = time.perf_counter()
        sync(call())
        times.append(time.perf_counter() - start)
        if sum(times) > budget_s:
            break
    return float(np.median(times)), times


def finite_differences(f, inputs, wrt, h=1e-6):
    """Central differences of f(**inputs) with respect to inputs[wrt]: shape f.shape + wrt.shape."""
    x = np.asarray(inputs[wrt], dtype=float)
    base = np.asarray(f(**inputs))
    out = np.empty(base.shape + x.shape)
    for idx in np.ndindex(x.shape or (1,)):
        idx = idx if x.shape else ()
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        diff = (np.asarray(f(**{**inputs, wrt: plus})) - np.asarray(f(**{**inputs, wrt: minus}))) / (2 * h)
        out[(Ellipsis,) + idx] = diff
    return out


def _agree(result, reference, rtol):
    scale = max(float(np.max(np.abs(reference))), 1e-300) if reference.size else 1.0
    err = float(np.max(np.abs(result - reference))) / scale if reference.size else 0.0
    return bool(np.allclose(result, reference, rtol=rtol, atol=rtol * scale)), err


# ================================================================ in the child: the peers

def _peer_jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    ns = SimpleNamespace(solve=jnp.linalg.solve, eye=jnp.eye, tanh=jnp.tanh, exp=jnp.exp, log=jnp.log,
                         sum=jnp.sum, logdet=lambda A: jnp.linalg.slogdet(A)[1])
    return SimpleNamespace(ns=ns, version=jax.__version__,
                           transform=lambda f, mode: jax.jit(getattr(jax, mode)(f)),
                           to_native=jnp.asarray, to_numpy=np.asarray, sync=lambda r: r.block_until_ready())


def _peer_torch():
    import torch
    import torch.func
    ns = SimpleNamespace(solve=torch.linalg.solve, eye=lambda n: torch.eye(n, dtype=torch.float64),
                         tanh=torch.tanh, exp=torch.exp, log=torch.log, sum=torch.sum,
                         logdet=lambda A: torch.linalg.slogdet(A)[1])
    return SimpleNamespace(ns=ns, version=torch.__version__,
                           transform=lambda f, mode: getattr(torch.func, mode)(f),
                           to_native=lambda a: torch.from_numpy(np.array(a, dtype=np.float64)),
                           to_numpy=lambda t: t.detach().numpy(), sync=lambda r: None)


def _peer_autograd():
    import autograd
    import autograd.numpy as anp
    ns = SimpleNamespace(solve=anp.linalg.solve, eye=anp.eye, tanh=anp.tanh, exp=anp.exp, log=anp.log,
                         sum=anp.sum, logdet=lambda A: anp.linalg.slogdet(A)[1])
    modes = dict(grad=autograd.grad, jacfwd=autograd.jacobian, jacrev=autograd.jacobian, hessian=autograd.hessian)
    return SimpleNamespace(ns=ns, version=getattr(autograd, "__version__", "?"),
                           transform=lambda f, mode: modes[mode](f),
                           to_native=lambda a: a if np.ndim(a) else float(a), to_numpy=np.asarray, sync=lambda r: None)


PEER_LOADERS = {"jax": _peer_jax, "torch": _peer_torch, "autograd": _peer_autograd}


# ================================================================ in the child: one case

def _setup(problem, method, inputs, shape, peer):
    """(call, sync, to_numpy, setup times in ms, version) for one method (``peer``: its loaded module)."""
    if method == "floor":
        def call():
            out = np.empty(shape)
            out.fill(1.0)
            return out
        return call, lambda r: None, np.asarray, {}, np.__version__
    if method == "closed":
        return (lambda: problem.closed(**inputs)), lambda r: None, np.asarray, {}, np.__version__
    if method in ("tensordiff", "tensordiff-jax"):
        import tensordiff as td
        start = time.perf_counter()
        expr = problem.tensordiff()
        derived = time.perf_counter()
        program = td.compile(expr, backend=BACKENDS.get(method))
        compiled = time.perf_counter()
        setup = dict(derive_ms=(derived - start) * 1e3, compile_ms=(compiled - derived) * 1e3)
        setup["plan_ms"] = setup["derive_ms"] + setup["compile_ms"]
        if method == "tensordiff":
            return (lambda: program(**inputs)), lambda r: None, np.asarray, setup, td.__version__
        # the jax backend: jax arrays in and out; the program jits itself once its signature repeats
        values = {name: peer.to_native(value) for name, value in inputs.items()}
        return (lambda: program(**values)), peer.sync, peer.to_numpy, setup, td.__version__
    return peer_call(problem, inputs, peer), peer.sync, peer.to_numpy, {}, peer.version


def peer_call(problem, inputs, peer):
    """A call of the peer's derivative of ``problem`` on ``inputs`` (converted once; ``peer``: a loaded
    PEER_LOADERS entry); benchmarks/percall.py times it too."""
    fn, wrt, mode = problem.peer
    names = [wrt] + [k for k in inputs if k != wrt]
    primal = lambda *args: fn(peer.ns, **dict(zip(names, args)))  # noqa: E731
    derivative = peer.transform(primal, mode)
    args = [peer.to_native(inputs[k]) for k in names]
    return lambda: derivative(*args)


FIXED_CALLS, FIXED_BATCHES = 10, 100   # calls timed on the 1x1 problem, in batches short enough to fit
# between two other processes' turns on a shared core, for the fixed cost per call


def fixed_cost_us(problem, size, method, peer):
    """The time of a call (µs) of ``method`` on ``problem`` with every dim of size 1: the fastest
    of a few batches of calls, as timeit reports, since on a shared machine the slower batches
    measure the other processes."""
    ones = {dim: 1 for dim in problem.sizes[size]}
    inputs = problem.inputs(ones, np.random.default_rng(0))
    shape = tuple(ones[d] for d in problem.out.split())
    call, sync, _, _, _ = _setup(problem, method, inputs, shape, peer)
    sync(call())
    times = []
    for _ in range(FIXED_BATCHES):
        start = time.perf_counter()
        for _ in range(FIXED_CALLS):
            sync(call())
        times.append((time.perf_counter() - start) / FIXED_CALLS)
    return min(times) * 1e6


def _warm_blas(scipy_lapack=False):
    """Run a large matrix product and an LU solve once, so that the buffers BLAS and LAPACK keep for
    the whole process (OpenBLAS: up to 32 MiB per thread, touched by the first large calls) are
    resident before the RSS baseline: every method then pays them there, the floor included, and a
    method's peak counts its arrays rather than the library's first use. ``scipy_lapack``: also
    scipy's LAPACK, for the method that calls it (tensordiff's solve, det and logdet factor through
    scipy when it is installed, conditioning.lapack): scipy's wheels bundle an OpenBLAS of their own."""
    a = np.random.default_rng(0).standard_normal((1000, 1000))
    np.linalg.solve(a, a[:, :500])
    a @ a
    lapack = None
    if scipy_lapack:
        try:
            from scipy.linalg import lapack
        except ImportError:
            pass
    if lapack is not None:
        factors, pivots, _ = lapack.dgetrf(a)
        lapack.dgetrs(factors, pivots, a[:, :500])
        del factors, pivots
    del a
    gc.collect()
    try:   # glibc: hand the warm-up's freed arrays back, so that the baseline holds none of them
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run_case(name, size, method, repeats, budget_s):
    problem = PROBLEMS[name]
    loader = PEER_LOADERS.get(method) or PEER_LOADERS.get(BACKENDS.get(method))
    peer = loader() if loader else None  # imports count before the baseline
    _warm_blas(scipy_lapack=method == "tensordiff")
    rss_start = _rss_bytes()
    inputs = problem.inputs(problem.sizes[size], np.random.default_rng(0))
    shape = problem.shape(size)
    record = dict(problem=name, size=size, method=method, dims=problem.sizes[size], shape=list(shape),
                  output_mb=int(np.prod(shape)) * 8 / 2 ** 20,
                  inputs_mb=sum(np.asarray(v).nbytes for v in inputs.values()) / 2 ** 20)

    call, sync, to_numpy, setup, version = _setup(problem, method, inputs, shape, peer)
    record.update(setup, version=version)

    start = time.perf_counter()
    result = call()
    sync(result)
    record["first_call_ms"] = (time.perf_counter() - start) * 1e3
    if method == "jax":
        record["compile_ms"] = record["first_call_ms"]  # trace + XLA compile + one run
    del result
    gc.collect()

    # memory and time first: the verification below computes the closed form (and finite
    # differences) in this process, whose freed arrays the allocator may keep resident and would
    # count in this method's peak RSS
    record["peak_reset"] = _reset_peak()
    # a call slower than the budget has warmed up enough, except on a backend that compiles the program
    # on its second call with a signature (jax.jit): that call is the warm-up
    if record["first_call_ms"] < budget_s * 1e3 or method in BACKENDS:
        sync(call())
    median, times = measure(call, sync, repeats, budget_s)
    peak = _maxrss_bytes()
    q1, q3 = np.percentile(times, [25, 75])
    record.update(median_ms=median * 1e3, calls=len(times), q1_ms=q1 * 1e3, q3_ms=q3 * 1e3, peak_mb=peak / 2 ** 20,
                  rss_start_mb=(rss_start or 0) / 2 ** 20,
                  extra_mb=(peak - (rss_start or 0)) / 2 ** 20 if rss_start else None)

    if method in TRACED:   # what numpy allocates during one call, as tracemalloc sees it
        tracemalloc.start()
        try:
            sync(call())
            record["traced_mb"] = (tracemalloc.get_traced_memory()[1] / 2 ** 20) + record["inputs_mb"]
        finally:
            tracemalloc.stop()
        gc.collect()

    result = call()
    sync(result)
    result = to_numpy(result)
    if tuple(result.shape) != shape:
        raise AssertionError(f"{method} returned shape {result.shape}, expected {shape}")
    if method == "closed":
        if size == "small" and problem.fd is not None:  # the closed form is right: finite differences
            lower, wrt = problem.fd
            ok, err = _agree(result, finite_differences(lower, inputs, wrt), rtol=1e-5)
            record["fd_rel_error"] = err
            if not ok:
                raise AssertionError(f"closed form of {name} disagrees with finite differences (rel. error {err:.2e})")
    elif method != "floor":  # every other method is right: the closed form
        ok, err = _agree(result, problem.closed(**inputs), rtol=1e-7)
        record["rel_error"] = err
        if not ok:
            raise AssertionError(f"{method} disagrees with the closed form of {name} (rel. error {err:.2e})")
    del result
    gc.collect()
    if size == "small" and method != "floor":   # after the memory reading: it plans and traces anew
        try:
            record["fixed_us"] = fixed_cost_us(problem, size, method, peer)
        except Exception as exc:  # noqa: BLE001 - a problem that has no 1x1 form reports why, untimed
            record["fixed_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return record


def worker(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("problem")
    parser.add_argument("size")
    parser.add_argument("method")
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    record = run_case(args.problem, args.size, args.method, args.repeats, args.budget)
    with open(args.out, "w") as f:
        json.dump(record, f)


# ================================================================ in the parent: running the children

def spawn(name, size, method, args):
    """Run one case in a child process; kill it past the timeout or the memory limit."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "case.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", name, size, method,
                   "--repeats", str(args.repeats), "--budget", str(args.budget), "--out", out]
        env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="3")
        if args.threads:
            env.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
            if args.threads == 1:
                env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                    " intra_op_parallelism_threads=1").strip()
        log = open(os.path.join(tmp, "log"), "w+")
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 preexec_fn=pin_to_one_cpu if args.threads == 1 else None)
        start, killed, peak = time.perf_counter(), None, 0
        while child.poll() is None:
            time.sleep(0.05)
            rss = _child_rss(child.pid)
            peak = max(peak, rss or 0)
            if time.perf_counter() - start > args.timeout:
                killed = f"timed out (> {args.timeout:g} s)"
            elif rss is not None and rss > args.memory_limit * 2 ** 30:
                killed = f"killed: memory > {args.memory_limit:g} GiB"
            if killed:
                child.kill()
                child.wait()
        if killed is None and child.returncode == 0 and os.path.exists(out):
            with open(out) as f:
                return json.load(f)
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip()]
        note = killed or (lines[-1] if lines else f"exit code {child.returncode}")
        if not killed and any("MemoryError" in l or "RESOURCE_EXHAUSTED" in l or "DefaultCPUAllocator" in l
                              for l in lines):
            note = "out of memory: " + note
        return dict(problem=name, size=size, method=method, error=note[:300], fatal=bool(killed) or "memory" in note)


def pin_to_one_cpu():
    """Confine this process (and the threads it starts later) to one CPU where the OS allows it.

    Thread-count variables are not enough: jax's XLA runs its CPU thread pool whatever
    XLA_FLAGS says, which made jax look twice as fast on a 2-core machine."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _child_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _predicted_too_slow(records, name, size, method, timeout):
    """Why to skip a case whose time, scaled linearly in inputs + output from the same method at
    the previous size, would leave no room for verification and one timed call; else None."""
    done = [r for r in records if r["problem"] == name and "output_mb" in r]
    here = next((r for r in done if r["size"] == size), None)
    before = [r for r in done if r["method"] == method and "median_ms" in r and r["size"] != size]
    if here is None or not before:
        return None
    prev = before[-1]
    scale = (here["output_mb"] + here["inputs_mb"]) / max(prev["output_mb"] + prev["inputs_mb"], 1e-9)
    predicted = prev["median_ms"] / 1e3 * max(scale, 1.0)
    if 2 * predicted > timeout:
        return f"predicted ~{predicted:.0f} s a call from {prev['median_ms'] / 1e3:.1f} s at {prev['size']}"
    return None


def run_all(args):
    needs = {**PEERS, **BACKENDS}
    available = {m: importlib.util.find_spec(module) is not None for m, module in needs.items()}
    notes, records, given_up = [], [], {}
    for method in args.methods:
        if method in needs and not available[method]:
            notes.append(f"{method}: not importable, skipped (pip install {needs[method]})")
    methods = [m for m in args.methods if m not in needs or available[m]]
    for name in args.problems:
        for size in args.sizes:
            for method in methods:
                if (name, method) in given_up:
                    records.append(dict(problem=name, size=size, method=method,
                                        error=f"skipped: {given_up[name, method]} at a smaller size"))
                    continue
                skip = _predicted_too_slow(records, name, size, method, args.timeout)
                if skip:
                    records.append(dict(problem=name, size=size, method=method, error="skipped: " + skip))
                    print(f"  {name:<12} {size:<7} {method:<10} skipped: {skip}", file=sys.stderr)
                    continue
                record = spawn(name, size, method, args)
                records.append(record)
                if "error" in record:
                    print(f"  {name:<12} {size:<7} {method:<10} FAILED: {record['error']}", file=sys.stderr)
                    if record.get("fatal"):
                        given_up[name, method] = record["error"]
                else:
                    setup = "".join(f" {k}={record[k]:.1f}ms" for k in ("plan_ms", "compile_ms") if k in record)
                    print(f"  {name:<12} {size:<7} {method:<10} {record['median_ms']:10.3f} ms{setup}",
                          file=sys.stderr)
    return records, notes


# ================================================================ in the parent: plans

def explain_plans(args):
    """Each problem's compiled tensordiff plan at the first size, with its passes and prices."""
    import tensordiff as td
    texts = []
    for name in args.problems:
        problem = PROBLEMS[name]
        program = td.compile(problem.tensordiff())
        texts.append(f"{name}:\n" + program.explain(**problem.sizes[args.sizes[0]]))
    return "\n\n".join(texts + [passes_by_backend(args.problems)])


def passes_by_backend(problems):
    """A table of the planning passes that fired on each problem, for each backend installed; a
    pass a backend skips is listed below the table with its reason (tensordiff/passgates.py)."""
    import tensordiff as td
    from tensordiff.backends import BACKENDS, get_backend
    from tensordiff.errors import EvaluationError
    from tensordiff.passgates import fired_passes, skipped_passes
    installed = {}
    for name in BACKENDS:
        try:
            installed[name] = get_backend(name)
        except EvaluationError:
            pass
    lines = ["passes fired, by backend:"]
    for name in problems:
        expr = PROBLEMS[name].tensordiff()
        for backend in installed:
            lines.append(f"  {name:<12} {backend:<6} " + (", ".join(fired_passes(td.compile(expr, backend=backend))) or "none"))
    for backend, library in installed.items():
        for skipped, reason in skipped_passes(library).items():
            lines.append(f"  {backend} skips {skipped}: {reason}")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only, fewer repeats (for CI)")
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=None)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per case (default 7, quick 5)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed calls per case before stopping early")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per case (default 60, quick 30)")
    parser.add_argument("--memory-limit", type=float, default=None,
                        help="GiB of RSS a case may use before it is killed (default 60%% of RAM)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for BLAS / OpenMP / torch / XLA in the children (default: theirs)")
    parser.add_argument("--name", default=None, help="results/NAME.{json,txt,md,png} (default: latest for a full run, "
                        "which the docs show; quick with --quick; partial for any other selection)")
    parser.add_argument("--report", metavar="NAME", help="rewrite results/NAME.{txt,md,png} from NAME.json, running nothing")
    parser.add_argument("--explain", action="store_true",
                        help="print each problem's tensordiff plan (steps, passes, FLOPs, bytes) at the first size")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or (["small"] if args.quick else list(SIZES))
    args.repeats = args.repeats or (5 if args.quick else 7)
    args.timeout = args.timeout or (30.0 if args.quick else 60.0)
    full = set(args.problems) == set(PROBLEMS) and args.sizes == list(SIZES) and args.methods == list(METHODS)
    args.name = args.name or ("quick" if args.quick else "latest" if full else "partial")
    if args.memory_limit is None:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 16 * 2 ** 30
        args.memory_limit = 0.6 * total / 2 ** 30

    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    if args.report:
        return report_again(results, args.report)
    started = time.perf_counter()
    records, notes = run_all(args)
    versions = {r["method"]: r["version"] for r in records if "version" in r}
    meta = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                cores=os.cpu_count(), python=platform.python_version(), versions=versions,
                date=time.strftime("%Y-%m-%d %H:%M:%S"), args=dict(vars(args), min_timed_ms=MIN_TIMED_S * 1e3, max_calls=MAX_CALLS), wall_s=time.perf_counter() - started,
                notes=notes)
    with open(os.path.join(results, args.name + ".json"), "w") as f:
        json.dump(dict(meta=meta, results=records), f, indent=1)
    text, plotted = write_reports(records, meta, results, args.name, PEERS, explain_plans(args) if args.explain else None)
    print(text)
    print(f"\nsaved {os.path.join(results, args.name)}.json, .txt and .md")
    print(plotted)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 1 if any(r.get("error", "").startswith("AssertionError") or "disagrees" in r.get("error", "")
                    for r in records) else 0


def report_again(results, name):
    """Rewrite NAME.txt, .md and .png from NAME.json, running nothing."""
    path = os.path.join(results, name + ".json")
    if not os.path.isfile(path):
        print(f"no {path}: run the benchmark first", file=sys.stderr)
        return 2
    with open(path) as f:
        saved = json.load(f)
    text, plotted = write_reports(saved["results"], saved["meta"], results, name, PEERS)
    print(text)
    print(f"\nrewrote {os.path.join(results, name)}.txt and .md from its .json")
    print(plotted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
