"""mkdocs hook: publish the benchmark plots from benchmarks/results/, where the benchmarks write them.

The site shows the plots of the last full run (benchmarks/run.py) and of the last scaling runs
(benchmarks/scaling.py) without copies under docs/ that could go stale. (Their tables, which the
benchmarks write as markdown, are included by pymdownx.snippets; see docs/background/benchmarks.md
and growth.md.)
"""

from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# results/NAME: (where the site publishes it, the command that writes it)
PUBLISHED = {"latest.png": ("background/benchmarks/latest.png", "python benchmarks/run.py"),
             "targets.png": ("background/growth/targets.png", "python benchmarks/scaling.py --targets"),
             "scaling.png": ("background/growth/scaling.png", "python benchmarks/scaling.py")}


def on_files(files, config):
    for name, (uri, command) in PUBLISHED.items():
        source = RESULTS / name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: run `{command}` to make it")
        files.append(File.generated(config, uri, abs_src_path=str(source)))
    return files
