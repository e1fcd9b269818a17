"""mkdocs hook: publish the benchmark plot from benchmarks/results/, where the benchmark writes it.

The site shows the plot of the last full run without a copy under docs/ that could go stale.
(The tables of that run are included by pymdownx.snippets; see docs/background/benchmarks.md.)
"""

from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PUBLISHED = {"latest.png": "background/benchmarks/latest.png"}


def on_files(files, config):
    for name, uri in PUBLISHED.items():
        source = RESULTS / name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: run `python benchmarks/run.py` to make it")
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
