"""The benchmark suite's reports, from its records (benchmarks/run.py writes them; this module formats them).

One run's records (a dict per (problem, size, method), as run.py's children return them) become:

- ``NAME.txt``: the time table (median ms and ratio to the closed form, planning and compile
  times, the fixed cost per call), the memory table and the targets, as the terminal shows them;
- ``NAME.md``: the same run as markdown for the docs (docs/background/benchmarks.md includes
  ``latest.md``): which of issue 15's targets hold and miss at each size, the ratio table with the
  per-call fixed cost, and peak memory; nothing in it is written by hand;
- ``NAME.png``: a log-log plot of time against inputs + output per problem (matplotlib).

``python benchmarks/run.py --report NAME`` rewrites the three from ``NAME.json`` without running
anything.
"""

import os

from problems import PROBLEMS

TARGET_RATIO_SMALL = 2.0    # tensordiff eval <= 2x the closed form at the small size
TARGET_RATIO_CLOSED = 1.5   # tensordiff eval <= 1.5x the closed form at medium and large
TARGET_RATIO_FLOOR = 3.0    # memory-bound problems within 3x of the floor at large
TARGET_PLAN_MS = 50.0       # planning (derive + compile) < 50 ms
TARGET_FIRST_CALL_MS = 50.0   # first call, specialisation included, < 50 ms (small: no arithmetic to speak of)
TARGET_MEMORY = 2.0         # peak memory <= 2x (output + inputs)
FIXED = ("closed", "tensordiff", "tensordiff-jax", "jax")   # methods whose fixed cost per call is reported
TRACED = ("closed", "tensordiff")   # numpy methods whose allocations tracemalloc sees
LIBRARY_OF = {"floor": "numpy", "closed": "numpy", "tensordiff-jax": "tensordiff"}   # a method's version is its library's

TARGET_LABELS = dict(
    a=f"(a) tensordiff eval <= {TARGET_RATIO_SMALL:g}x the closed form at small sizes, "
      f"<= {TARGET_RATIO_CLOSED:g}x at medium and large",
    b="(b) tensordiff faster than the fastest peer (jit'd jax, torch.func, autograd)",
    c=f"(c) memory-bound problems within {TARGET_RATIO_FLOOR:g}x of the floor (large)",
    d=f"(d) planning (derive + compile) < {TARGET_PLAN_MS:g} ms",
    g=f"(g) first call, specialisation included, < {TARGET_FIRST_CALL_MS:g} ms (small)",
    e=f"(e) peak memory <= {TARGET_MEMORY:g}x (output + inputs) (large; peak RSS, the floor process's "
      "overhead beyond its data subtracted; it counts freed arrays the allocator keeps resident)",
    f=f"(f) peak memory <= {TARGET_MEMORY:g}x (output + inputs) (large; inputs + the peak numpy allocates "
      "during a call, as tracemalloc sees it)",
)
SHORT_LABELS = dict(a="eval ≤ 2× closed form (small), ≤ 1.5× (medium, large)", b="faster than the fastest peer",
                    c="memory-bound: ≤ 3× the floor (large)", d="planning < 50 ms",
                    g="first call < 50 ms (small)", e="peak RSS ≤ 2× (output + inputs) (large)",
                    f="peak allocated ≤ 2× (output + inputs) (large)")


def fast_calls(args):
    """How a run times fast calls, as its header says it ("" for a run that predates the rule)."""
    if "min_timed_ms" not in args:
        return ""
    return f" (faster ones: as many as fill {args['min_timed_ms']:.0f} ms, at most {args['max_calls']:,})"


def index(records):
    return {(r["problem"], r["size"], r["method"]): r for r in records}


def fmt_ms(ms):
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def failure_label(error):
    if error.startswith("skipped"):
        return "skip"
    if "memory" in error:
        return "OOM"
    return "timeout" if "timed out" in error else "FAIL"


def fmt_ratio(ratio):
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.2g}x" if ratio >= 0.01 else "<0.01x"


def _rows(records, problems, sizes, methods):
    found = index(records)
    for name in problems:
        for size in sizes:
            base = next((found[name, size, m] for m in methods if "shape" in found.get((name, size, m), {})), None)
            if base is not None:
                yield name, size, base


def time_table(records, problems, sizes, methods):
    """(columns, rows) of medians (ms) with the ratio to the closed form, planning, compile and fixed costs."""
    found = index(records)
    fixed = [m for m in FIXED if m in methods]
    columns = ["problem", "size", "output"] + list(methods) + ["td plan", "jax compile"] + [f"{m} fixed us" for m in fixed]
    rows = []
    for name, size, base in _rows(records, problems, sizes, methods):
        closed = found.get((name, size, "closed"), {}).get("median_ms")
        cells = [name, size, f"{'x'.join(map(str, base['shape']))} ({base['output_mb']:.3g} MB)"]
        for m in methods:
            r = found.get((name, size, m), {})
            if "median_ms" not in r:
                cells.append(failure_label(r.get("error")) if r else "-")
            elif m == "closed" or not closed:
                cells.append(fmt_ms(r["median_ms"]))
            else:
                cells.append(f"{fmt_ms(r['median_ms'])} ({fmt_ratio(r['median_ms'] / closed)})")
        td_r, jax_r = found.get((name, size, "tensordiff"), {}), found.get((name, size, "jax"), {})
        cells.append(fmt_ms(td_r["plan_ms"]) if "plan_ms" in td_r else "-")
        cells.append(fmt_ms(jax_r["compile_ms"]) if "compile_ms" in jax_r and "median_ms" in jax_r else "-")
        for m in fixed:
            r = found.get((name, size, m), {})
            cells.append(f"{r['fixed_us']:.1f}" if "fixed_us" in r else "-")
        rows.append(cells)
    return columns, rows


def memory_table(records, problems, sizes, methods):
    """(columns, rows) of peak RSS over the child's baseline (MB), and what numpy allocates (tracemalloc)."""
    found = index(records)
    traced = [m for m in TRACED if m in methods]
    columns = ["problem", "size", "out + in MB"] + list(methods) + [f"{m} traced" for m in traced]
    rows = []
    for name, size, base in _rows(records, problems, sizes, methods):
        cells = [name, size, f"{base['output_mb']:.3g} + {base['inputs_mb']:.3g}"]
        for m in methods:
            r = found.get((name, size, m), {})
            cells.append(f"{r['extra_mb']:.0f}" if r.get("extra_mb") is not None and "median_ms" in r else "-")
        for m in traced:
            r = found.get((name, size, m), {})
            cells.append(f"{r['traced_mb']:.3g}" if "traced_mb" in r and "median_ms" in r else "-")
        rows.append(cells)
    return columns, rows


def render_text(columns, rows):
    widths = [max(len(str(c)), *(len(str(r[k])) for r in rows)) if rows else len(c) for k, c in enumerate(columns)]
    line = lambda cells: "  ".join(str(c).ljust(w) if k < 2 else str(c).rjust(w)  # noqa: E731
                                   for k, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in rows])


def render_markdown(columns, rows, left=2):
    """A markdown table, its first ``left`` columns aligned left and the figures right."""
    def cell(value):
        return str(value).replace("|", "\\|")
    head = "| " + " | ".join(map(cell, columns)) + " |"
    rule = "|" + "|".join("---" if k < left else "--:" for k in range(len(columns))) + "|"
    return "\n".join([head, rule] + ["| " + " | ".join(map(cell, r)) + " |" for r in rows])


def target_checks(records, problems, sizes, methods, peers):
    """Each target's checks: {key: [(problem, size, holds, why)]}, keys as TARGET_LABELS."""
    found = index(records)
    peers = [m for m in methods if m in peers]
    checks = {k: [] for k in TARGET_LABELS}
    for name in problems:
        problem = PROBLEMS[name]
        for size in sizes:
            td_r = found.get((name, size, "tensordiff"), {})
            if "median_ms" not in td_r:
                continue
            t = td_r["median_ms"]
            closed = found.get((name, size, "closed"), {}).get("median_ms")
            if closed:
                limit = TARGET_RATIO_SMALL if size == "small" else TARGET_RATIO_CLOSED
                checks["a"].append((name, size, t <= limit * closed, f"{t / closed:.2f}x closed"))
            peer_times = {m: found[name, size, m]["median_ms"] for m in peers if "median_ms" in found.get((name, size, m), {})}
            if peer_times:
                best = min(peer_times, key=peer_times.get)
                checks["b"].append((name, size, t < peer_times[best], f"{peer_times[best] / t:.2f}x faster than {best}"
                                    if t < peer_times[best] else f"{t / peer_times[best]:.2f}x slower than {best}"))
            floor = found.get((name, size, "floor"), {}).get("median_ms")
            if problem.memory_bound and size == "large" and floor:
                checks["c"].append((name, size, t <= TARGET_RATIO_FLOOR * floor, f"{t / floor:.2g}x floor"))
            checks["d"].append((name, size, td_r["plan_ms"] < TARGET_PLAN_MS, f"plan {td_r['plan_ms']:.1f} ms"))
            if size == "small" and "first_call_ms" in td_r:
                checks["g"].append((name, size, td_r["first_call_ms"] < TARGET_FIRST_CALL_MS,
                                    f"first call {td_r['first_call_ms']:.1f} ms"))
            if size != "large":
                continue
            data = td_r["output_mb"] + td_r["inputs_mb"]
            closed_r, floor_r = found.get((name, size, "closed"), {}), found.get((name, size, "floor"), {})
            if "traced_mb" in td_r:
                closed_note = f", closed form {closed_r['traced_mb'] / data:.2g}x" if "traced_mb" in closed_r else ""
                checks["f"].append((name, size, td_r["traced_mb"] <= TARGET_MEMORY * data,
                                    f"{td_r['traced_mb']:.0f} MB = {td_r['traced_mb'] / data:.2g}x of {data:.0f} MB"
                                    + closed_note))
            if td_r.get("extra_mb") is not None and floor_r.get("extra_mb") is not None:
                overhead = max(floor_r["extra_mb"] - data, 0.0)  # what a process holds beyond its data
                used = td_r["extra_mb"] - overhead
                closed_note = (f", closed form {(closed_r['extra_mb'] - overhead) / data:.2g}x"
                               if closed_r.get("extra_mb") is not None else "")
                checks["e"].append((name, size, used <= TARGET_MEMORY * data,
                                    f"{used:.0f} MB = {used / data:.2g}x of {data:.0f} MB{closed_note}"))
    return checks


def target_lines(checks):
    """The targets as the text report prints them: how many hold, and the misses with their figures."""
    lines = []
    for key, items in checks.items():
        if not items:
            lines.append(f"{TARGET_LABELS[key]}: not measured")
            continue
        failed = [i for i in items if not i[2]]
        lines.append(f"{TARGET_LABELS[key]}: {len(items) - len(failed)}/{len(items)} hold"
                     + ("" if not failed else "; misses: " + ", ".join(f"{name}/{size} ({why})"
                                                                       for name, size, _, why in failed)))
    return lines


def target_markdown(checks, sizes):
    """A table: one row per target, one column per size, each cell how many hold and what misses, by how much."""
    columns = ["target"] + list(sizes)
    rows = []
    for key, items in checks.items():
        if not items:
            continue
        cells = [SHORT_LABELS[key]]
        for size in sizes:
            here = [i for i in items if i[1] == size]
            if not here:
                cells.append("–")
                continue
            failed = [i for i in here if not i[2]]
            cell = f"{len(here) - len(failed)}/{len(here)} hold"
            if failed:
                cell += "; misses: " + ", ".join(f"{name} ({why})" for name, _, _, why in failed)
            cells.append(cell)
        rows.append(cells)
    return render_markdown(columns, rows, left=len(columns))


def _run_line(meta):
    args = meta.get("args", {})
    libraries = {}
    for method, version in meta.get("versions", {}).items():   # the version of each library a method ran on
        libraries[LIBRARY_OF.get(method, method)] = version
    versions = ", ".join(f"{library} {version}" for library, version in libraries.items())
    threads = args.get("threads")
    threading = ("one BLAS/XLA thread per method, each case pinned to one CPU" if threads == 1 else
                 f"{threads} threads per method" if threads else "each library's default threads")
    return (f"Run of {meta.get('date', '?')} on {meta.get('processor', '?')} ({meta.get('cores', '?')} cores, "
            f"{meta.get('platform', '?')}), Python {meta.get('python', '?')}; {versions}. "
            f"Sizes {', '.join(args.get('sizes', []))}; {threading}; median of up to {args.get('repeats', '?')} "
            f"calls{fast_calls(args)} after a warm-up, each case in its own process"
            + (f"; {meta['wall_s'] / 60:.0f} minutes in all." if meta.get("wall_s") else "."))


def summary_markdown(records, meta, problems, sizes, methods, peers, notes):
    """The run as markdown for the docs: its settings, the targets per size, the ratio and memory tables."""
    checks = target_checks(records, problems, sizes, methods, peers)
    failures = [f"{r['problem']}/{r['size']}/{r['method']}: {r['error']}" for r in records if "error" in r]
    time_columns, time_rows = time_table(records, problems, sizes, methods)
    memory_columns, memory_rows = memory_table(records, problems, sizes, methods)
    parts = [
        "<!-- written by benchmarks/run.py from its records (benchmarks/report.py): rerun it, do not edit -->",
        _run_line(meta),
        "",
        "**Targets** (issue 15), for the compiled numpy program (`tensordiff`): how many problems hold "
        "each target at each size, and by how much the others miss.",
        "",
        target_markdown(checks, sizes),
        "",
        "**Time**: median ms, and in parentheses the ratio to the closed-form numpy formula. \"td plan\": "
        "derive + compile (ms); \"jax compile\": jax's trace + compile + first call (ms); \"fixed us\": "
        "a call with every dim of size 1, the fastest of 100 batches of 10 calls (µs): what a call costs "
        "beyond its arithmetic. `tensordiff-jax` is the same program on the jax backend, with jax arrays.",
        "",
        render_markdown(time_columns, time_rows),
        "",
        "**Memory**: peak RSS over the process's RSS before its inputs were built (MB); \"traced\": the "
        "inputs plus the peak of what numpy allocates during one call (tracemalloc, MB).",
        "",
        render_markdown(memory_columns, memory_rows),
    ]
    if notes or failures:
        parts += ["", "**Notes**:", ""] + [f"- {n}" for n in notes + failures]
    return "\n".join(parts) + "\n"


def plot(records, problems, sizes, methods, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not importable: no plot (pip install matplotlib)"
    found = index(records)
    names = list(problems)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for m in methods:
            pts = [(found[name, s, m]["output_mb"] + found[name, s, m]["inputs_mb"], found[name, s, m]["median_ms"])
                   for s in sizes if "median_ms" in found.get((name, s, m), {})]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=m, linestyle="--" if m == "floor" else "-")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("inputs + output (MB)")
        ax.set_ylabel("median time (ms)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"saved {path}"


def text_report(records, meta, problems, sizes, methods, peers, notes):
    """The run as the terminal shows it and NAME.txt keeps it."""
    args = meta.get("args", {})
    failures = [f"{r['problem']}/{r['size']}/{r['method']}: {r['error']}" for r in records if "error" in r]
    header = (f"tensordiff benchmarks ({meta.get('processor', '?')}, {meta.get('cores', '?')} cores, Python "
              f"{meta.get('python', '?')}, numpy {meta.get('versions', {}).get('closed', '?')}); median of up to "
              f"{args.get('repeats', '?')} calls{fast_calls(args)} after warm-up, in ms, (ratio to the closed form)")
    checks = target_checks(records, problems, sizes, methods, peers)
    return "\n".join(
        [header, "", render_text(*time_table(records, problems, sizes, methods)), "",
         "peak RSS over the child's RSS before building inputs (MB): inputs + everything the method holds; "
         "traced: inputs + the peak of what numpy allocates during one call (tracemalloc)", "",
         render_text(*memory_table(records, problems, sizes, methods)), "", "targets:"]
        + ["  " + line for line in target_lines(checks)]
        + ([""] + ["notes:"] + ["  " + n for n in notes + failures] if notes or failures else []))


def write_reports(records, meta, results, name, peers, explained=None):
    """Write NAME.txt, NAME.md and NAME.png under ``results`` from one run's records and meta; returns
    (the text report, what the plot said)."""
    args = meta.get("args", {})
    problems, sizes = args.get("problems", list(PROBLEMS)), args.get("sizes", [])
    methods = [m for m in args.get("methods", []) if any(r["method"] == m and "median_ms" in r for r in records)]
    notes = meta.get("notes", [])
    text = text_report(records, meta, problems, sizes, methods, peers, notes)
    if explained:
        text += "\n\nplans (program.explain() at the " + sizes[0] + " size):\n\n" + explained
    with open(os.path.join(results, name + ".txt"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(results, name + ".md"), "w") as f:
        f.write(summary_markdown(records, meta, problems, sizes, methods, peers, notes))
    return text, plot(records, problems, sizes, methods, os.path.join(results, name + ".png"))
