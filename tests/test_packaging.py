"""What an installed tensordiff says about itself: one version, --version and --info, the kernels note.

The build itself (sdist with the .pyx, wheel with the stripped kernel, LICENSE and py.typed and
no generated C, an sdist install without a compiler) is checked by .ci/check_dist, which needs
minutes and a package index; these tests run in the suite, offline, in a second or two.
"""

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import opt_einsum
import pytest

import tensordiff as td
from tensordiff import cli, kernels
from tensordiff.backends import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
# subprocesses start where the imported package lies, so they import the same one (an installed wheel
# tested against a source checkout would otherwise pick up the checkout's uncompiled package)
PACKAGE_PARENT = Path(td.__file__).resolve().parents[1]
DISTRIBUTION = "tensordiff-symbolic"


def _run(*args, env=None, code=None):
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "tensordiff", *args]
    environment = {k: v for k, v in os.environ.items() if k != "TENSORDIFF_NO_KERNELS"}
    environment.update(env or {})
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, cwd=PACKAGE_PARENT)
    assert done.returncode == 0, done.stderr
    return done


def test_the_version_is_written_once_and_is_the_installed_metadata():
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev|\.post)?\d*", td.__version__), td.__version__
    assert importlib.metadata.version(DISTRIBUTION) == td.__version__
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tensordiff.__version__"}
    assert "version=" not in (ROOT / "setup.py").read_text(encoding="utf-8").replace(" ", "")
    citation = ROOT / "CITATION.cff"
    if citation.exists():   # the sdist carries it; a wheel-only test run may not
        assert not re.search(r"^version:", citation.read_text(encoding="utf-8"), re.MULTILINE)


def test_version_flag_prints_the_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"tensordiff {td.__version__}\n"
    assert _run("--version").stdout == f"tensordiff {td.__version__}\n"


def test_info_lists_versions_kernels_and_every_backend(capsys):
    assert cli.main(["--info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"tensordiff {td.__version__}"
    assert lines[1].startswith(f"python {'.'.join(map(str, sys.version_info[:3]))} ")
    assert f"numpy {np.__version__}" in lines
    assert f"opt_einsum {opt_einsum.__version__}" in lines
    assert f"kernels: {kernels.kernels_info()}" in lines
    backend_lines = lines[lines.index("backends:") + 1:]
    assert [line.split()[0] for line in backend_lines] == list(BACKENDS)
    for line in backend_lines:
        name = line.split()[0]
        library = BACKENDS[name][0].split(".")[0]
        if importlib.util.find_spec(library) is None:
            assert f'not installed (pip install "tensordiff-symbolic[{name}]")' in line
        else:
            assert line.split()[1] == library and "not installed" not in line
    assert backend_lines[0].split()[:3] == ["numpy", "numpy", np.__version__]


def test_info_names_a_missing_backend_and_its_extra(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else
                        real_find_spec(name, *a))
    torch_line = next(line for line in cli.info_lines() if line.split()[0] == "torch")
    assert torch_line.split(None, 1)[1] == 'not installed (pip install "tensordiff-symbolic[torch]")'


def test_info_imports_no_backend_library():
    # --info must be quick and safe where torch or jax is broken: it looks the libraries up, never imports them
    code = ("import sys, tensordiff.cli as cli\n"
            "before = set(sys.modules)\n"
            "cli.info_lines()\n"
            "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))\n")
    imported = _run(code=code).stdout.strip()
    for library in ("torch", "jax", "dask", "cupy"):
        assert f"'{library}'" not in imported


def test_info_runs_as_a_module_and_agrees_with_the_kernels_switch():
    on = _run("--info").stdout
    off = _run("--info", env={"TENSORDIFF_NO_KERNELS": "1"}).stdout
    assert "\nkernels: numpy twin" in off
    if kernels._compiled is not None:
        assert "\nkernels: compiled (Cython, _kernels" in on
        assert "switched off (TENSORDIFF_NO_KERNELS=1)" in off
    else:
        assert "\nkernels: numpy twin: the compiled kernels are not built" in on


MISSING_KERNELS = (
    "import sys, warnings\n"
    "sys.modules['tensordiff._kernels'] = None    # as if installed without a compiler\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    import numpy as np, tensordiff as td\n"
    "    at_import = len(caught)\n"
    "    answers = [td.kernels_available(), td.kernels_available()]\n"
    "    x = td.vector('x', 'n')\n"
    "    value = td.evaluate(td.hessian(td.sum(td.tanh(x)) * td.sum(x), x), x=np.ones(3))\n"
    "notes = [w for w in caught if issubclass(w.category, td.kernels.KernelsNotBuiltWarning)]\n"
    "print(at_import, answers, len(notes), value.shape)\n"
    "print(notes[0].message if notes else '')\n"
    "print(td.kernels.kernels_info())\n")


def test_missing_kernels_are_noted_once_when_asked_and_the_twin_runs():
    first, note, info = _run(code=MISSING_KERNELS).stdout.splitlines()
    assert first == "0 [False, False] 1 (3, 3)"       # silent import, one note, same answers, it evaluates
    assert "compiled kernels are not built" in note and "numpy twin" in note and "C compiler" in note
    assert info == "numpy twin: the compiled kernels are not built (installed without Cython or a C compiler)"


def test_kernels_switched_off_on_purpose_are_not_noted():
    first, note, info = _run(code=MISSING_KERNELS.replace("sys.modules['tensordiff._kernels'] = None", "pass"),
                             env={"TENSORDIFF_NO_KERNELS": "1"}).stdout.splitlines()
    assert first == "0 [False, False] 0 (3, 3)"
    if kernels._compiled is not None:
        assert info == "numpy twin: the compiled kernels are built but switched off (TENSORDIFF_NO_KERNELS=1)"


def test_the_package_is_typed_and_ships_its_stub():
    package = Path(td.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_kernels.pyi").is_file()
    stub = (package / "_kernels.pyi").read_text(encoding="utf-8")
    assert "KERNEL_VERSION: int" in stub and "def products(" in stub
    if kernels._compiled is not None:   # the stub states the compiled module's names
        assert kernels._compiled.KERNEL_VERSION == kernels.KERNEL_VERSION
        assert callable(kernels._compiled.products)
