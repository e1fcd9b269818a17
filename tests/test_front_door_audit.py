"""Issue 14 ("the front door"), item by item: the parts no other test file pins.

Elsewhere: the version and --version/--info/kernels note (test_packaging.py), symbols as values
and td.parse's symbols= (test_symbols.py), a user function named like a built-in
(test_functions_table.py), td.substitute and expr.subs (test_substitute.py), backends following
their inputs, jax.jit/vmap/grad and torch.compile (test_interop.py), the scipy bridge
(test_scipy_bridge.py, test_partial.py), progress (test_progress.py), the README, the API
reference and the docs' examples (test_docs.py), the type hints (test_typing.py). The build itself
(sdist, wheel, an install without a compiler, auditwheel) is .ci/check_dist.py, run by .ci/run.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tensordiff as td

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def _read(name):
    path = ROOT / name
    if not path.exists():   # a wheel-only test run has no repository files
        pytest.skip(f"{name} is not here (not a source checkout)")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pyproject():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    return tomllib.loads(_read("pyproject.toml"))


# ---------------------------------------------------------------- 1. packaging

def test_metadata_classifiers_keywords_and_extras(pyproject):
    project = pyproject["project"]
    classifiers = project["classifiers"]
    assert [c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)] \
        == PYTHONS
    assert project["requires-python"] == ">=3.9"
    assert "Typing :: Typed" in classifiers
    assert len(project["keywords"]) >= 5
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert set(project["dependencies"]) == {"numpy>=1.23", "opt_einsum>=3.3"}   # nothing else at run time
    extras = project["optional-dependencies"]
    for extra in ("torch", "jax", "cupy", "dask", "scipy", "progress", "docs", "lint", "test"):
        assert extras.get(extra), f"no {extra!r} extra"
        for requirement in extras[extra]:   # each a PEP 508 name with a version range
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?(>=|<|,|\d|\.)*", requirement), requirement
    assert extras["cupy"] == ["cupy-cuda12x>=12"]
    assert extras["torch"] == ["torch>=2.0"]
    text = _read("pyproject.toml")
    assert "download.pytorch.org/whl/cpu" in text   # where the CPU build of torch comes from
    assert "cupy-cuda11x" in text and "cupy-cuda13x" in text   # the note for other CUDA majors


def test_the_tensordiff_command_prints_the_version(pyproject):
    assert pyproject["project"]["scripts"] == {"tensordiff": "tensordiff.cli:main"}
    command = shutil.which("tensordiff", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("the tensordiff command is not installed next to this Python")
    done = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == f"tensordiff {td.__version__}\n"


def test_the_version_is_written_in_one_place():
    sources = [p for p in (ROOT / "tensordiff").glob("*.py")]
    written = [p.name for p in sources if re.search(r"^__version__\s*=", p.read_text(encoding="utf-8"), re.M)]
    assert written == ["__init__.py"]
    assert td.__version__ not in _read("setup.py")


def test_cibuildwheel_builds_every_python_on_linux_macos_and_windows(pyproject):
    cibw = pyproject["tool"]["cibuildwheel"]
    assert cibw["build"].split() == [f"cp{v.replace('.', '')}-*" for v in PYTHONS]
    assert cibw["environment"] == {"TENSORDIFF_REQUIRE_KERNELS": "1"}   # a wheel without the kernel fails
    assert {"linux", "macos", "windows"} <= set(cibw)
    assert "manylinux" in cibw["linux"]["manylinux-x86_64-image"]
    assert "test_kernels.py" in " ".join(cibw["test-command"])


def test_the_release_workflow_builds_checks_and_publishes():
    release = _read(".github/workflows/release.yml")
    assert re.search(r"tags:\s*\[\"v\*\"\]", release)
    assert "pypa/cibuildwheel" in release and "python .ci/check_dist.py" in release
    assert "pypa/gh-action-pypi-publish" in release and "id-token: write" in release
    for runner in ("ubuntu-latest", "windows-latest", "macos-15"):
        assert runner in release


def test_the_distribution_check_covers_the_issue():
    check = _read(".ci/check_dist.py")
    for what in ("_kernels.pyx", "LICENSE", "py.typed", "auditwheel", "CC", "debug", "TENSORDIFF_REQUIRE_KERNELS"):
        assert what in check, what


# ---------------------------------------------------------------- 2. symbols are values

def test_redeclaring_and_mixing_symbols():
    first = td.matrix("X_audit", "n p")
    assert td.matrix("X_audit", "n p") is first                 # same dims and kind: the same symbol
    other = td.matrix("X_audit", "N D")                         # other dims: a new symbol
    assert other is not first and other.dims == ("N", "D")
    assert td.matrix("X_audit", "n n", symmetric=True) is not td.matrix("X_audit", "n n")
    assert td.parse("X_audit*y", X_audit="n p", y="p") is first @ td.vector("y", "p")
    with pytest.raises(td.TensorDiffError, match=r"X_audit.*\(n, p\).*\(N, D\)|X_audit.*\(N, D\).*\(n, p\)"):
        td.sum(first) + td.sum(other)


def test_a_user_softplus_prints_and_parses_apart_from_the_built_in():
    x = td.vector("x", "n")
    mine = td.elementwise("softplus", np.tanh, lambda v: 1 - np.tanh(v) ** 2)
    both = mine(x) + td.softplus(x)
    text = td.matrix_notation(both)
    assert text == "user.softplus(x) + softplus(x)"
    assert td.parse(text, x="n") is both
    v = np.linspace(-1, 1, 4)
    np.testing.assert_allclose(td.evaluate(both, x=v), np.tanh(v) + np.logaddexp(0, v))


def test_parse_takes_symbols_by_mapping():
    W = td.matrix("W", "k n")
    expr = td.parse("W*x", symbols={"W": W}, x="n")
    assert expr is W @ td.vector("x", "n")


# ---------------------------------------------------------------- 3. substitution

def test_substitute_and_subs_agree():
    A, B, x = td.matrix("A", "n n"), td.matrix("B", "n n"), td.vector("x", "n")
    f = x @ A @ x
    assert td.substitute(f, {A: B}) is f.subs(A, B) is f.subs({A: B}) is x @ B @ x


# ---------------------------------------------------------------- 4. interop

def test_backends_follow_the_inputs_and_a_mix_names_both():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    program = td.compile(td.inv(A) @ x)
    assert isinstance(program(A=torch.eye(2, dtype=torch.float64), x=torch.ones(2, dtype=torch.float64)),
                      torch.Tensor)
    with pytest.raises(td.EvaluationError, match=r"jax \('A'\) and torch \('x'\)"):
        program(A=jnp.eye(2), x=torch.ones(2))
    with pytest.raises(td.EvaluationError, match=r"jax \('A'\) and torch \('x'\)"):
        program.part(0)(A=jnp.eye(2), x=torch.ones(2))


def test_the_traced_singularity_policy_is_documented():
    interop = _read("docs/interop.md")
    assert "take the NaN path" in interop and "jax.debug" in interop and "torch.compile" in interop


# ---------------------------------------------------------------- 6. progress

@pytest.mark.parametrize("bad", [1, "yes", 0.5])
def test_progress_that_is_not_a_bool_is_an_error(bad):
    x = td.vector("x", "n")
    with pytest.raises(td.EvaluationError, match=r"progress must be True or False, got (int 1|str .yes.|float 0.5)"):
        td.compile(x * 2, progress=bad)
    with pytest.raises(td.EvaluationError, match=r"progress must be True or False, got (int 1|str .yes.|float 0.5)"):
        td.evaluate(x * 2, x=np.ones(2), progress=bad)


# ---------------------------------------------------------------- 7. documentation

def test_the_docs_site_has_every_page_the_issue_names():
    config = _read("mkdocs.yml")
    assert re.search(r"^strict: true$", config, re.M) and "docstring_style: numpy" in config
    for page in ("guide/getting-started.md", "background/design.md", "background/numerics.md",
                 "background/verification.md", "background/benchmarks.md", "api.md"):
        assert f": {page}" in config, page
        assert (ROOT / "docs" / page).exists(), page
    nav = set(re.findall(r":\s*([\w/.-]+\.md)$", config, re.M))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts}
    assert pages <= nav, f"pages missing from mkdocs.yml's nav: {sorted(pages - nav)}"


def test_changelog_citation_contributing_and_license():
    assert _read("LICENSE").startswith("MIT License")
    assert "## [Unreleased]" in _read("CHANGELOG.md")
    citation = _read("CITATION.cff")
    for field in ("cff-version:", "title:", "authors:", "license: MIT"):
        assert field in citation, field
    contributing = _read("CONTRIBUTING.md")
    assert "python -m pytest" in contributing and "TENSORDIFF_NO_KERNELS=1" in contributing


# ---------------------------------------------------------------- 8, 9. types, lint and CI

def test_types_and_lint_are_configured(pyproject):
    assert (Path(td.__file__).parent / "py.typed").exists()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["tensordiff"]
    assert "tensordiff" in pyproject["tool"]["mypy"]["files"]
    assert pyproject["tool"]["ruff"]["lint"]["select"]


def test_ci_runs_the_suite_twice_the_doctests_the_docs_lint_and_the_distributions():
    ci = _read(".ci/run")
    assert 'pip install -e ".[test]" && python -m pytest -q' in ci   # the README's command
    assert re.search(r"TENSORDIFF_NO_KERNELS=1 step [^\n]*\\\n\s*python -m pytest -q", ci)   # the twin, on both cores
    for command in ("python -m pytest -q --doctest-modules tensordiff", "mkdocs build --strict", "ruff check",
                    '"mypy" mypy', "python .ci/check_dist.py"):
        assert command in ci, command


# ---------------------------------------------------------------- bad input

def test_a_positional_call_gets_the_same_message_everywhere():
    x = td.vector("x", "n")
    program = td.compile([td.sum(x), x * 2])
    message = r"^pass values as keywords or as one dict \{name: array\}$"
    for call in (program, program.part(0), program.incremental(), program.incremental().part([1])):
        with pytest.raises(td.EvaluationError, match=message):
            call(np.ones(3))
        with pytest.raises(td.EvaluationError, match=message):
            call({"x": np.ones(3)}, {"x": np.ones(3)})
    with pytest.raises(td.EvaluationError, match="must be a dict of values"):
        td.evaluate(x, [np.ones(3)])


def test_a_flat_vector_of_the_wrong_length_names_the_expected_length():
    A, x = td.matrix("A", "n n"), td.vector("x", "n")
    obj = td.scipy_objective(x @ A @ x, x, A=np.eye(3))
    with pytest.raises(td.ShapeError, match=r"expected a flat vector of length 3 \(x \(3,\)"):
        obj.jac(np.zeros(4))
    with pytest.raises(td.ShapeError, match=r"p has shape \(2,\), expected a flat vector of length 3"):
        obj.hessp(np.zeros(3), np.zeros(2))


def test_the_node_classes_declare_their_fields():
    # mypy reads node.name, node.operands, ... from these declarations (pyproject's mypy overrides)
    import typing

    from tensordiff import expr, reductionnodes   # the core node classes, split over two modules
    classes = [c for module in (expr, reductionnodes) for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, expr.Expr) and c.__module__ == module.__name__]
    assert len(classes) > 15
    for cls in classes:
        hints = typing.get_type_hints(cls)
        slots = {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())} - {"__weakref__"}
        assert slots <= set(hints), f"{cls.__name__} does not declare {sorted(slots - set(hints))}"
        assert not hasattr(td.vector("x", "n"), "__dict__")   # the declarations add no instance dict


def test_numeric_diff_needs_a_symbol():
    x = td.vector("x", "n")
    with pytest.raises(td.TensorDiffError, match="numeric_diff differentiates with respect to a symbol, got Einsum"):
        td.testing.numeric_diff(x @ x, 2 * x, {"x": np.ones(2)})
