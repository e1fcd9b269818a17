"""Comparing a selfcheck example's results with their references (selfcheck.py): the tolerances,
``assert_close``, central finite differences of the numpy twin, and ``confirm_by_differences``,
which tries other steps where one cannot decide (rounding noise, a branch crossed).
"""

import numpy as np

from .kinks import crosses_kink
from .randexpr import USER_FUNCTIONS
from .testing import numeric_diff

__all__ = ["CheckFailure", "assert_close", "fd_twin", "confirm_by_differences", "FD_TOL", "FD_STEP", "FD_RETRY_STEPS",
           "EXACT_TOL"]

FD_TOL = 1e-6          # finite differences, relative to the largest entry (at least 1e-3)
FD_STEP = 1e-6         # the finite-difference step; where it disagrees, the others of FD_RETRY_STEPS are tried
FD_RETRY_STEPS = (1e-5, 1e-4, 1e-7)
EXACT_TOL = 1e-8       # against jax, generated code and rebuilt expressions


class CheckFailure(AssertionError):
    """A property does not hold on an example."""


def assert_close(got, want, tol, what, differenced=None):
    """|got - want| <= tol · max(|want|, 1e-3) entrywise-max, with equal shapes and finite values.

    ``differenced``: the values finite differences were taken of. Their rounding noise is about
    1e-16 |f| / eps = 1e-10 |f|, so the scale is at least 1e-3 |f| (a tolerance ten times that
    noise): a derivative near zero of a large function cannot be resolved more finely."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        raise CheckFailure(f"{what}: shape {got.shape} != {want.shape}")
    if not np.all(np.isfinite(got)):
        raise CheckFailure(f"{what}: non-finite values")
    error = float(np.max(np.abs(got - want))) if got.size else 0.0
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-3)
    if differenced is not None and np.size(differenced):
        scale = max(scale, 1e-3 * float(np.max(np.abs(differenced))))
    if not error <= tol * scale:
        raise CheckFailure(f"{what}: max abs error {error:.3e}, relative {error / scale:.3e}")


def fd_twin(twin, V, name, eps=1e-6, symmetric=False):
    """Central finite differences of the numpy twin with respect to symbol ``name``; a symmetric
    symbol moves (i, j) and (j, i) together, giving sym(G) as td.diff does."""
    x0 = np.asarray(V[name], dtype=float)
    f0 = np.asarray(twin(V))
    out = np.zeros(f0.shape + x0.shape)
    as_value = (lambda a: a) if x0.shape else float
    for index in np.ndindex(*x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[index] += eps
        minus[index] -= eps
        moved = 1
        if symmetric and index[0] != index[1]:
            plus[index[::-1]] += eps
            minus[index[::-1]] -= eps
            moved = 2
        out[(Ellipsis,) + index] = (np.asarray(twin({**V, name: as_value(plus)}))
                                    - np.asarray(twin({**V, name: as_value(minus)}))) / (2 * eps * moved)
    return out


def confirm_by_differences(ex, got, name, lower, what, differenced):
    """Whether ``got`` agrees with central differences of ``lower`` (None: the numpy twin) along
    ``name``; raises CheckFailure where no step confirms it.

    One step cannot always decide. Where the function differenced is zero up to rounding
    (softmax of entries equal along its axis, tanh(x) - gr(x) with gr bound to tanh), its
    rounding noise over the step is larger than the tolerance: a larger step divides the noise
    by more. Where a maximum, comparison, where or kinked function changes branch within the
    step, the difference spans two branches: a step that stays on one branch is taken, and the
    comparison does not apply (None) where none does. A wrong derivative disagrees at every step,
    so the tolerance is the same at each."""
    symbol = ex.S[name]

    def differences(step):
        if lower is None:
            return fd_twin(ex.twin, ex.V, name, eps=step, symmetric=symbol.symmetric)
        return numeric_diff(lower, symbol, ex.V, eps=step, functions=USER_FUNCTIONS)

    try:
        assert_close(got, differences(FD_STEP), FD_TOL, what, differenced)
        return True
    except CheckFailure as failure:
        first = failure
    decided = [ex.expr if lower is None else lower]
    first_crossed = crosses_kink(decided, symbol, ex.V, FD_STEP, USER_FUNCTIONS)
    for step in FD_RETRY_STEPS:
        if crosses_kink(decided, symbol, ex.V, step, USER_FUNCTIONS):
            continue
        try:
            assert_close(got, differences(step), FD_TOL, what, differenced)
            return True
        except CheckFailure as failure:
            if first_crossed:
                first, first_crossed = failure, False
    if first_crossed:
        return None
    raise first
