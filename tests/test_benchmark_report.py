"""The benchmark suite writes the docs' tables itself: benchmarks/report.py turns a run's records into
the markdown that docs/background/benchmarks.md includes, and benchmarks/curves.py turns
scaling.py's results into the tables growth.md includes. No benchmark runs here: the records are
made up, so the figures in the reports can be checked exactly."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import curves  # noqa: E402
import report  # noqa: E402


def _record(problem, size, method, median_ms, **extra):
    return dict(problem=problem, size=size, method=method, median_ms=median_ms, shape=[3], output_mb=1.0,
                inputs_mb=1.0, version="1", **extra)


def _run():
    records = [
        _record("ridge", "small", "closed", 0.010, fixed_us=5.0),
        _record("ridge", "small", "tensordiff", 0.030, plan_ms=2.0, first_call_ms=3.0, fixed_us=20.0),
        _record("ridge", "small", "jax", 0.020, compile_ms=500.0, fixed_us=7.0),
        _record("ridge", "large", "floor", 1.0, extra_mb=2.5),
        _record("ridge", "large", "closed", 10.0, extra_mb=4.0),
        _record("ridge", "large", "tensordiff", 12.0, plan_ms=60.0, extra_mb=5.0, traced_mb=3.0),
        _record("ridge", "large", "jax", 15.0, compile_ms=900.0),
        _record("mf-hess", "small", "closed", 0.010),
        _record("mf-hess", "small", "tensordiff", 0.015, plan_ms=1.0, first_call_ms=70.0),
        dict(problem="mf-hess", size="small", method="jax", error="killed: memory > 1 GiB", fatal=True),
    ]
    meta = dict(platform="Linux", processor="x86_64", cores=2, python="3.11", date="2026-12-06 20:00",
                versions=dict(closed="2.4", tensordiff="0.1", jax="0.10"), wall_s=120.0, notes=["a note"],
                args=dict(problems=["ridge", "mf-hess"], sizes=["small", "large"],
                          methods=["floor", "closed", "tensordiff", "jax"], repeats=7, threads=1))
    return records, meta


def test_the_markdown_summary_says_which_targets_hold_and_miss_at_each_size(tmp_path):
    records, meta = _run()
    text, _ = report.write_reports(records, meta, str(tmp_path), "run", report_peers())
    markdown = (tmp_path / "run.md").read_text()
    assert (tmp_path / "run.txt").read_text() == text + "\n"
    targets = {line.split(" | ")[0].lstrip("| "): line for line in markdown.splitlines()
               if line.startswith("| ") and "hold" in line}
    # small: ridge 3x the closed form misses 2x, mf-hess 1.5x holds; large: ridge 1.2x holds 1.5x
    assert "| 1/2 hold; misses: ridge (3.00x closed) | 1/1 hold |" in targets[report.SHORT_LABELS["a"]]
    assert "misses: ridge (1.50x slower than jax)" in targets[report.SHORT_LABELS["b"]]
    assert targets[report.SHORT_LABELS["b"]].strip("| ").split(" | ")[2] == "1/1 hold"   # large: 12 ms, jax's 15
    assert "misses: ridge (plan 60.0 ms)" in targets[report.SHORT_LABELS["d"]]
    assert "misses: mf-hess (first call 70.0 ms)" in targets[report.SHORT_LABELS["g"]]
    # peak RSS less the floor process's overhead beyond its data (2.5 - 2 MB): 4.5 MB = 2.2x of 2 MB
    assert "misses: ridge (4 MB = 2.2x of 2 MB, closed form 1.8x)" in targets[report.SHORT_LABELS["e"]]
    assert "| ridge | small | 3 (1 MB) | - | 0.010 | 0.030 (3x) | 0.020 (2x) | 2.00 | 500 | 5.0 | 20.0 | 7.0 |" \
        in markdown
    assert "| mf-hess | small | 3 (1 MB) | - | 0.010 | 0.015 (1.5x) | OOM |" in markdown
    assert "- mf-hess/small/jax: killed: memory > 1 GiB" in markdown and "- a note" in markdown
    assert "2026-12-06 20:00" in markdown and "numpy 2.4, tensordiff 0.1, jax 0.10" in markdown


def report_peers():
    return {"jax": "jax", "torch": "torch", "autograd": "autograd"}


def test_report_again_rewrites_the_reports_from_the_json(tmp_path, monkeypatch):
    run = pytest.importorskip("run")
    records, meta = _run()
    (tmp_path / "again.json").write_text(json.dumps(dict(meta=meta, results=records)))
    assert run.report_again(str(tmp_path), "again") == 0
    assert "1/2 hold; misses: ridge (3.00x closed)" in (tmp_path / "again.md").read_text()
    assert run.report_again(str(tmp_path), "missing") == 2


def test_scaling_results_become_the_tables_growth_md_includes(tmp_path):
    rows = [dict(case="tikhonov 5", derive_s=0.5, compile_s=0.2, call_s=0.1, total_s=0.8, total_cpu_s=1.2,
                 nodes=125, index_chars=9648, jax_s=2.0, max_rel_error_vs_jax=3e-16),
            dict(case="tikhonov 6", derive_s=3.0, compile_s=0.5, call_s=1.5, total_s=5.0, total_cpu_s=2.0,
                 nodes=272, index_chars=26122, jax_s=4.0)]
    (tmp_path / "targets.json").write_text(json.dumps(dict(machine="Linux", python="3.11", rows=rows)))
    curves.write("targets", str(tmp_path))
    table = (tmp_path / "targets.md").read_text()
    assert "| tikhonov 5 | 0.500 | 0.200 | 0.100 | 0.800 | 1.200 | 2.000 | 125 | 9648 | 3.0e-16 | ≤ 1.5 s | yes |" in table
    assert "| tikhonov 6 | 3.000 | 0.500 | 1.500 | 5.000 | 2.000 | 4.000 | 272 | 26122 | - | under JAX | **no** |" in table


def test_the_docs_include_the_generated_reports():
    benchmarks_page = (ROOT / "docs" / "background" / "benchmarks.md").read_text()
    growth_page = (ROOT / "docs" / "background" / "growth.md").read_text()
    assert '--8<-- "benchmarks/results/latest.md"' in benchmarks_page
    assert "benchmarks/latest.png" in benchmarks_page
    for name in ("targets", "scaling"):
        assert f'--8<-- "benchmarks/results/{name}.md"' in growth_page and f"growth/{name}.png" in growth_page
    for name in ("latest.md", "targets.md", "scaling.md"):   # committed, so that the docs build
        assert os.path.isfile(ROOT / "benchmarks" / "results" / name), name
