"""Build the sdist and the wheel the way a release does, and check what a user would get from them.

    python .ci/check_dist.py [--keep DIR]

1. ``python -m build``: an sdist and a wheel (the wheel is built from the sdist, so an sdist that
   lacks a file the build needs fails here).
2. The sdist holds the kernel's Cython source, LICENSE, py.typed and the tests, and no generated C.
3. The wheel holds the compiled kernel, stripped of debug information, py.typed and LICENSE, and no
   generated C; on Linux ``auditwheel show`` finds it consistent with a manylinux tag.
4. The wheel installed in a fresh venv uses the compiled kernel, and so does the sdist installed
   there (pip compiles it); the sdist installed in another venv with no working C compiler
   (CC=false) installs all the same and uses the numpy twin, and says so when asked; there, with
   TENSORDIFF_REQUIRE_KERNELS=1 as the release builds set it, building a wheel fails instead.
Exit status 0 when every check holds; each failed check is printed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
failures = []


def check(condition, what):
    print(("ok      " if condition else "FAILED  ") + what, flush=True)
    if not condition:
        failures.append(what)


def run(command, env=None, cwd=None):
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    if done.returncode != 0:
        print(f"$ {' '.join(map(str, command))}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}", flush=True)
    return done


def fresh_venv(where):
    venv.create(where, with_pip=True)
    return where / ("Scripts" if os.name == "nt" else "bin") / "python"


def installed_report(python, cwd):
    """kernels_available(), the warnings it gave, and a Hessian, from a venv (run outside the checkout)."""
    code = ("import warnings, numpy as np\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    import tensordiff as td\n"
            "    available = td.kernels_available()\n"
            "x = td.vector('x', 'n')\n"
            "h = td.evaluate(td.hessian(td.sum(td.tanh(x)) * td.sum(x), x), x=np.linspace(0, 1, 4))\n"
            "print(available, len(caught), h.shape, td.__file__)\n")
    return run([python, "-c", code], cwd=cwd)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the built sdist and wheel here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tensordiff-dist-"))
    try:
        dist = args.keep or work / "dist"
        built = run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
        check(built.returncode == 0, "python -m build makes an sdist and a wheel from it")
        if built.returncode != 0:
            return 1
        sdist = max(dist.glob("*.tar.gz"), key=os.path.getmtime)
        wheel = max(dist.glob("*.whl"), key=os.path.getmtime)
        print(f"        {sdist.name}\n        {wheel.name}")

        with tarfile.open(sdist) as archive:
            names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
        for needed in ("tensordiff/_kernels.pyx", "tensordiff/py.typed", "tensordiff/_kernels.pyi", "LICENSE",
                       "setup.py", "pyproject.toml", "MANIFEST.in", "tests/test_kernels.py"):
            check(needed in names, f"the sdist holds {needed}")
        check(not [n for n in names if n.endswith((".c", ".so", ".pyd"))], "the sdist holds no generated C or binary")

        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            kernels = [n for n in names if n.startswith("tensordiff/_kernels.") and n.endswith((".so", ".pyd"))]
            check(len(kernels) == 1, "the wheel holds the compiled kernel")
            check("tensordiff/py.typed" in names, "the wheel holds py.typed")
            check(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel holds LICENSE")
            check(not [n for n in names if n.endswith(".c")], "the wheel holds no generated C")
            if kernels and sys.platform.startswith("linux"):
                library = work / Path(kernels[0]).name
                library.write_bytes(archive.read(kernels[0]))
                sections = run(["readelf", "-S", "-W", library]).stdout
                check(".debug_" not in sections and ".symtab" not in sections,
                      "the kernel has no debug information or symbol table (readelf -S)")
                print("        " + run(["file", "-b", library]).stdout.strip())

        if sys.platform.startswith("linux") and shutil.which("auditwheel"):
            shown = run(["auditwheel", "show", wheel])
            tag = re.search(r'consistent\s+with the following platform tag:\s+"([^"]+)"', shown.stdout)
            check(shown.returncode == 0 and tag is not None and tag.group(1).startswith("manylinux_"),
                  f"auditwheel show: the wheel fits a manylinux tag ({tag.group(1) if tag else shown.stdout[:200]})")

        python = fresh_venv(work / "with-compiler")
        done = run([python, "-m", "pip", "install", "-q", wheel])
        check(done.returncode == 0, "the wheel installs in a fresh venv")
        report = installed_report(python, work).stdout.split()
        check(report[:2] == ["True", "0"] and str(work) in report[-1],
              f"the installed wheel uses the compiled kernel, silently ({' '.join(report[:4])})")
        done = run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", sdist])
        check(done.returncode == 0, "the sdist installs where a C compiler is")
        report = installed_report(python, work).stdout.split()
        check(report[:2] == ["True", "0"] and str(work) in report[-1],
              f"... and builds and uses the compiled kernel ({' '.join(report[:4])})")

        python = fresh_venv(work / "without-compiler")
        done = run([python, "-m", "pip", "install", "-q", sdist], env={"CC": "false", "CXX": "false"})
        check(done.returncode == 0, "the sdist installs with no working C compiler (CC=false)")
        report = installed_report(python, work).stdout.split()
        check(report[:2] == ["False", "1"] and str(work) in report[-1],
              f"... and uses the numpy twin, noted once when asked ({' '.join(report[:4])})")
        refused = subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "refused", sdist],
                                 capture_output=True, text=True,
                                 env={**os.environ, "CC": "false", "CXX": "false", "TENSORDIFF_REQUIRE_KERNELS": "1"})
        check(refused.returncode != 0 and not list((work / "refused").glob("*.whl")),
              "with TENSORDIFF_REQUIRE_KERNELS=1 (the release wheels) a failed compile fails the build")
        version = run([python, "-m", "tensordiff", "--version"], cwd=work).stdout.strip()
        check(version.startswith("tensordiff ") and version.split()[-1] in wheel.name,
              f"python -m tensordiff --version prints the wheel's version ({version})")
        info = run([python, "-m", "tensordiff", "--info"], cwd=work).stdout
        check("kernels: numpy twin: the compiled kernels are not built" in info,
              "python -m tensordiff --info says the kernels are not built")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed" if failures else "all distribution checks hold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
