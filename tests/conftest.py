"""Shared test setup.

A symbol name means one symbol while that symbol is alive, and tests reuse names ("X", "W", ...)
with different dims. pytest keeps the last failing test's traceback (and so its local
expressions) in ``sys.last_traceback`` for post-mortem debugging; without releasing it, one
failure would make later tests fail with a spurious "already declared" ShapeError.
"""

import gc
import sys
from collections import namedtuple

import pytest

import tensordiff as td
from tensordiff import symboltable

Tikhonov = namedtuple("Tikhonov", "X y lam q")


@pytest.fixture(autouse=True)
def _release_symbols_after_each_test():
    before = set(symboltable._symbols)
    yield
    failed = False
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if getattr(sys, name, None) is not None:
            setattr(sys, name, None)
            failed = True
    # a symbol the test declared that outlives it sits in a reference cycle (a traceback kept by
    # `pytest.raises(...) as info` holds the test's frame): collect it, or td.parse in a later
    # test would infer that symbol's dims
    if failed or set(symboltable._symbols) - before:
        gc.collect()


@pytest.fixture
def tikhonov():
    """Seed 001's Tikhonov map q = (XᵀX + λI)⁻¹ Xᵀy, with its symbols: (X, y, lam, q)."""
    X, y, lam = td.matrix("X", "n p"), td.vector("y", "n"), td.scalar("lam")
    return Tikhonov(X, y, lam, td.inv(X.T @ X + lam * td.eye("p")) @ X.T @ y)
