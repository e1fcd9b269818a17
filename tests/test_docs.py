"""The documentation's contracts: the README as front door, an API entry and a numpydoc docstring
for every public name, and examples in the docs pages that run.

Docstring examples themselves run under ``python -m pytest --doctest-modules tensordiff``; the ones
doctest cannot find there (docstrings of callable objects such as ``td.exp``) run here.
"""

import doctest
import gc
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tensordiff as td

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

QUICK_START = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install . && python -m tensordiff --demo',
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m pytest -q',
)


def test_readme_is_a_short_front_door_with_the_quick_start_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for command in QUICK_START:
        assert command in text.splitlines(), f"README lost the quick start command {command!r}"


def test_readme_links_point_at_existing_files():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert targets
    for target in targets:
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to missing {target}"


def test_readme_python_examples_run():
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) >= 4   # the ten-line example and the seed questions
    # one session, as pasted into one notebook: symbols are values, so re-declaring X with other
    # dims (the seed questions do) makes a new symbol instead of an error
    namespace = {}
    for block in blocks:
        exec(compile(block if "import tensordiff" in block else "import tensordiff as td\n" + block,
                     "README.md", "exec"), namespace)
    namespace.clear()
    gc.collect()


def test_every_public_name_has_an_api_reference_entry():
    # a name shadowed by its own module (td.cost in cost.py) is entered by its module path
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    entries = {name for module, name in re.findall(r"^::: tensordiff\.(?:(\w+)\.)?(\w+)$", text, re.M)
               if module in ("", name)}
    missing = sorted(set(td.__all__) - entries)
    assert not missing, f"docs/api.md has no '::: tensordiff.NAME' entry for {missing}"


def _python_blocks_with_prompts(page):
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)
    return [block for block in blocks if block.lstrip().startswith(">>>")]   # a session, not a listing


PAGES_WITH_EXAMPLES = sorted(page for page in DOCS.rglob("*.md") if _python_blocks_with_prompts(page))


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: str(p.relative_to(DOCS)))
def test_interactive_examples_in_the_docs_pages_run(page):
    run_page(page)


DECOYS = """
import sys
sys.path.insert(0, {tests!r})
import tensordiff as td
from test_docs import PAGES_WITH_EXAMPLES, run_page
letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
decoys = [td.vector(name, "decoy_n") for name in letters]
decoys += [td.matrix(name.upper(), "decoy_r decoy_c") for name in letters if name != "i"]   # I is eye
for page in PAGES_WITH_EXAMPLES:
    run_page(page)
"""


def test_the_docs_pages_run_beside_other_symbols_of_their_names():
    # td.parse reads a name nobody declared as the live symbol so named: a test file holding a
    # module-level w of dim n_bools once broke a page. Each page declares what it parses (or passes
    # the symbols), so decoys of every one-letter name, alive on dims no page has, change nothing.
    # A fresh process: a name stays declared after its symbol dies (evaluate(..., n=3.0) would then
    # read n as that symbol's value in a later test).
    script = DECOYS.format(tests=str(ROOT / "tests"))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def run_page(page):
    """Run a docs page's interactive blocks as one session; fail on any example that fails."""
    # a page is one session: its blocks run in order in one namespace, as a reader pastes them
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    namespace = {}
    for k, block in enumerate(_python_blocks_with_prompts(page)):
        test = parser.get_doctest(block, namespace, f"{page.name} block {k + 1}", str(page), 0)
        runner.run(test, clear_globs=False)
        namespace = test.globs   # DocTest runs in a copy
    namespace.clear()
    assert runner.summarize(verbose=False).failed == 0


OBJECT_DOCSTRINGS = sorted(name for name in td.__all__
                           if not inspect.isroutine(getattr(td, name)) and not inspect.isclass(getattr(td, name)))


@pytest.mark.parametrize("name", OBJECT_DOCSTRINGS)
def test_docstring_examples_of_callable_objects_run(name):
    # doctest finds the docstrings of functions and classes only; td.exp and its kind are objects
    docstring = inspect.getdoc(getattr(td, name))
    assert ">>>" in docstring, f"td.{name} has no example"
    test = doctest.DocTestParser().get_doctest(docstring, {}, f"td.{name}", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def _sections(docstring):
    lines = docstring.splitlines()
    return {lines[k].strip() for k in range(len(lines) - 1)
            if lines[k].strip() and set(lines[k + 1].strip()) == {"-"} and len(lines[k + 1].strip()) >= 3}


@pytest.mark.parametrize("name", sorted(td.__all__))
def test_public_names_have_numpydoc_docstrings(name):
    obj = getattr(td, name)
    docstring = inspect.getdoc(obj) or ""
    summary = docstring.splitlines()[0] if docstring else ""
    assert summary.strip() and not summary.startswith(" "), f"td.{name} has no one-line summary"
    sections = _sections(docstring)
    assert "Examples" in sections, f"td.{name} has no Examples section"
    if inspect.isclass(obj):
        return
    required = {"Returns"} | ({"Parameters"} if inspect.signature(obj).parameters else set())
    assert required <= sections, f"td.{name} lacks the numpydoc sections {sorted(required - sections)}"


def test_each_row_of_the_function_table_documents_itself():
    # functions.py writes a row's docstring from its facts; a user function keeps the class's
    for name, fn in td.FUNCTIONS.items():
        docstring = inspect.getdoc(fn)
        assert docstring.startswith(f"``{name}(x)``"), f"td.{name}'s docstring is not the table's"
        assert f"print(td.diff(td.{name}(x), x))" in docstring, f"td.{name}'s docstring shows no derivative"
    assert inspect.getdoc(td.elementwise("h")) == inspect.getdoc(td.Elementwise)
    assert inspect.getdoc(td.Elementwise).startswith("An elementwise function")
