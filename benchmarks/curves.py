"""The curves of benchmarks/scaling.py: a markdown table and a plot per mode, for the docs.

    python benchmarks/curves.py          # rewrite them from results/targets.json, scaling.json, parse.json

scaling.py calls ``write`` after each mode, so that results/ holds, beside its JSON:

- ``targets.md`` / ``targets.png`` (``--targets``): issue 16's cases, derive + compile + first call
  beside JAX's trace + compile + first call, each with its target and whether it holds; the
  plot shows the Tikhonov map's time and graph nodes against the derivative order;
- ``scaling.md`` / ``scaling.png`` (the default mode): building, deriving, printing and evaluating
  against the size of the expression, per shape, on log-log axes;
- ``parse.md`` (``--parse-mb``): td.parse's seconds per megabyte, per family of text.

docs/background/growth.md includes the tables (pymdownx snippets) and the plots
(docs/hooks/benchmark_results.py publishes them), so the docs show the last run of each mode.
"""

import json
import os
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
GENERATED = "<!-- written by benchmarks/scaling.py from its results (benchmarks/curves.py): rerun it, do not edit -->"

# issue 16's targets, derive + compile + first call in seconds ("jax": under JAX's time)
TARGET_SECONDS = {"tikhonov 3": 0.2, "tikhonov 4": 0.5, "tikhonov 5": 1.5, "tikhonov 6": "jax",
                  "network hessian": 0.7, "u'X^200 v": 0.5, "GP 6th in ell": 0.5}


def _table(columns, rows):
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" if k == 0 else "--:" for k in range(len(columns))) + "|"
    return "\n".join([head, rule] + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _seconds(value):
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _run_line(saved):
    return f"Run of {saved['date']} on {saved.get('machine', '?')}, Python {saved.get('python', '?')}."


def _holds(row):
    """(the target as text, whether it holds): CPU seconds against the target (steadier on a shared
    machine than wall time); "under JAX": wall against JAX's wall, in the same run."""
    target = TARGET_SECONDS.get(row["case"])
    if target is None:
        return "-", None
    if target == "jax":
        return "under JAX", (row["total_s"] < row["jax_s"]) if "jax_s" in row else None
    return f"≤ {target:g} s", row["total_cpu_s"] <= target


def targets_markdown(saved):
    rows = []
    for row in saved["rows"]:
        target, holds = _holds(row)
        error = f"{row['max_rel_error_vs_jax']:.1e}" if "max_rel_error_vs_jax" in row else "-"
        rows.append([row["case"], _seconds(row["derive_s"]), _seconds(row["compile_s"]), _seconds(row["call_s"]),
                     _seconds(row["total_s"]), _seconds(row["total_cpu_s"]), _seconds(row.get("jax_s")),
                     row["nodes"], row["index_chars"], error, target,
                     "-" if holds is None else "yes" if holds else "**no**"])
    columns = ["case", "derive", "compile", "first call", "total (wall)", "total (CPU)", "JAX (wall)", "nodes",
               "printed chars", "vs JAX (rel.)", "target (CPU s)", "holds"]
    return "\n".join([GENERATED, _run_line(saved), "", _table(columns, rows), ""])


def scaling_markdown(saved):
    rows = []
    for row in saved["rows"]:
        error = f"{row['max_rel_error']:.1e}" if "max_rel_error" in row else "-"
        rows.append([row["shape"], row["size"], _seconds(row["build_s"]), _seconds(row["derive_s"]),
                     _seconds(row["print_index_s"]), _seconds(row["print_latex_s"]), _seconds(row["print_einsum_s"]),
                     _seconds(row["print_matrix_s"]), _seconds(row["evaluate_s"]),
                     f"{row['derive_s'] / row['size'] * 1e3:.3f}", error])
    columns = ["shape", "size", "build", "derive", "index", "latex", "einsum", "matrix", "evaluate",
               "derive per element (ms)", "FD rel. error"]
    return "\n".join([GENERATED, _run_line(saved) + " Seconds.", "", _table(columns, rows), ""])


def parse_markdown(saved):
    rows = [[row["family"], row["chars"], _seconds(row["median_s"]), _seconds(row["min_s"]), f"{row['s_per_mb']:.3f}"]
            for row in saved["rows"]]
    return "\n".join([GENERATED, _run_line(saved), "",
                      _table(["family", "chars", "median s", "min s", "s per MB"], rows), ""])


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def targets_plot(saved, path):
    plt = _pyplot()
    if plt is None:
        return "matplotlib is not importable: no plot (pip install matplotlib)"
    tikhonov = sorted((int(row["case"].split()[1]), row) for row in saved["rows"] if row["case"].startswith("tikhonov"))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    orders = [k for k, _ in tikhonov]
    left.plot(orders, [r["total_s"] for _, r in tikhonov], marker="o", label="tensordiff (wall)")
    left.plot(orders, [r["total_cpu_s"] for _, r in tikhonov], marker="o", label="tensordiff (CPU)")
    with_jax = [(k, r["jax_s"]) for k, r in tikhonov if "jax_s" in r]
    if with_jax:
        left.plot(*zip(*with_jax), marker="s", label="JAX nested jacfwd (wall)")
    targets = [(k, TARGET_SECONDS[r["case"]]) for k, r in tikhonov if isinstance(TARGET_SECONDS.get(r["case"]), float)]
    if targets:
        left.plot(*zip(*targets), linestyle=":", marker="_", color="gray", label="issue 16 target")
    left.set_yscale("log")
    left.set_xlabel("derivative order in X")
    left.set_ylabel("derive + compile + first call (s)")
    left.set_title("Tikhonov map inv(X'X + λI)X'y", fontsize=10)
    left.legend(fontsize=8)
    right.plot(orders, [r["nodes"] for _, r in tikhonov], marker="o", label="graph nodes")
    right.plot(orders, [r["index_chars"] for _, r in tikhonov], marker="o", label="printed characters")
    right.set_yscale("log")
    right.set_xlabel("derivative order in X")
    right.set_title("size of the derivative", fontsize=10)
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xticks(orders)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"saved {path}"


def scaling_plot(saved, path):
    plt = _pyplot()
    if plt is None:
        return "matplotlib is not importable: no plot (pip install matplotlib)"
    shapes = list(dict.fromkeys(row["shape"] for row in saved["rows"]))
    fig, axes = plt.subplots(1, len(shapes), figsize=(4.5 * len(shapes), 3.8), squeeze=False)
    for ax, shape in zip(axes.flat, shapes):
        rows = [row for row in saved["rows"] if row["shape"] == shape]
        sizes = [row["size"] for row in rows]
        for key, label in (("build_s", "build"), ("derive_s", "derive"), ("print_index_s", "print (index)"),
                           ("evaluate_s", "compile + evaluate")):
            ax.plot(sizes, [max(row[key], 1e-6) for row in rows], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("size (operations, terms or operands)")
        ax.set_ylabel("seconds")
        ax.set_title(shape, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"saved {path}"


WRITERS = {"targets": (targets_markdown, targets_plot), "scaling": (scaling_markdown, scaling_plot),
           "parse": (parse_markdown, None)}


def write(kind, results=RESULTS):
    """Write results/KIND.md (and KIND.png) from results/KIND.json; returns what was written."""
    path = os.path.join(results, kind + ".json")
    with open(path) as f:
        saved = json.load(f)
    saved["date"] = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))   # when the run saved it
    markdown, plot = WRITERS[kind]
    with open(os.path.join(results, kind + ".md"), "w") as f:
        f.write(markdown(saved))
    said = [f"saved {os.path.join(results, kind + '.md')}"]
    if plot is not None:
        said.append(plot(saved, os.path.join(results, kind + ".png")))
    return "\n".join(said)


def main():
    for kind in WRITERS:
        if os.path.isfile(os.path.join(RESULTS, kind + ".json")):
            print(write(kind))


if __name__ == "__main__":
    main()
