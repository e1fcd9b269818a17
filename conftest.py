"""pytest setup shared by the test suite and the doctests (``pytest --doctest-modules tensordiff``).

A symbol name means one symbol while that symbol is alive. A failing doctest keeps its namespace
(pytest does not clear it) and its traceback (``sys.last_traceback``), and with them the symbols
it declared; release them, so that one failing example does not make the next ones that reuse a
name fail as "already declared".
"""

import gc
import sys

import pytest


@pytest.fixture(autouse=True)
def _release_symbols_of_doctests(request):
    yield
    doctest = getattr(request.node, "dtest", None)
    if doctest is not None:
        doctest.globs.clear()
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if getattr(sys, name, None) is not None:
                setattr(sys, name, None)
        gc.collect()
