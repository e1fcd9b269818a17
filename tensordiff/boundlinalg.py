"""numpy's inv, solve, logdet and det bound for a program specialised to its shapes (specialise.py).

A bound function runs the operations of numpyarrays.py's ``numpy_inv``, ``numpy_solve``,
``numpy_logdet`` and ``numpy_det`` with their conditioning estimates, in the same order and with
the same LAPACK calls, so the results and the estimates are bit-identical. What it saves per call
is what only the dtypes decide (scipy's LAPACK functions, the conditioning threshold, looked up
once per dtype) and the nested errstate contexts: a specialised call runs inside the backend's
``quiet()`` already. The conditioning policy is called only with an estimate below its threshold,
the one case where ``conditioning.check_rcond`` warns or raises; a NaN estimate is never below it.
Under ``conditioning="ignore"`` (no estimate) and without scipy the unbound operation runs.
"""

import math

import numpy as np

from . import conditioning
from .kernels import one_norm as compiled_one_norm

__all__ = ["bound_linalg"]

_add, _maximum, _absolute = np.add.reduce, np.maximum.reduce, np.absolute
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def _one_norm(a):
    """conditioning.one_norm of a numpy matrix: the same reductions, without the method calls (in
    the compiled kernel where it sums as numpy does)."""
    norm = compiled_one_norm(a)
    return _maximum(_add(_absolute(a), axis=0)) if norm is None else norm


def _inverse_gufunc():
    """numpy's inverse gufunc, the one np.linalg.inv calls, without inv's Python layers (its checks,
    its errstate, its result's wrap), or None where numpy's internals are not those or do not
    behave so when tried here: the same inverse as np.linalg.inv, NaN for a singular matrix."""
    try:
        from numpy.linalg import _umath_linalg   # noqa: PLC0415 - numpy's own module, probed once
        inverse = _umath_linalg.inv
        a = np.array([[2.0, 1.0], [1.0, 3.0]])
        works = np.array_equal(inverse(a, signature="d->d"), np.linalg.inv(a))
        with np.errstate(all="ignore"):
            works = works and bool(np.isnan(inverse(np.zeros((2, 2)), signature="d->d")).all())
    except Exception:   # noqa: BLE001 - any surprise: np.linalg.inv itself
        return None
    return inverse if works else None


_inverse = _inverse_gufunc()


def bound_linalg(kind, operation, on_singular):
    """``operation(*matrices, on_singular)`` (kind "inv", "solve", "logdet" or "det") as a function
    of the matrices, for calls inside numpy's quiet errstate; None where nothing is saved."""
    if not on_singular.checks_conditioning:
        return None
    limits = {}

    def below(rcond, dtype):
        limit = limits.get(dtype)
        if limit is None:
            limit = limits[dtype] = conditioning.threshold(dtype)   # the module's, looked up on first use
        return rcond < limit

    def factored(a, dtype):
        """numpy_solve/logdet/det's lapack_lu: (functions, factors, pivots, info), rcond checked."""
        functions = conditioning.lapack(np.result_type(dtype, np.float32))
        if functions is None:
            return None
        anorm = float(_one_norm(a))   # before the factors exist, as lapack_lu
        factors, pivots, info = functions["getrf"](a)
        if info == 0 and math.isfinite(anorm):
            rcond, gecon_info = functions["gecon"](factors, anorm)
            if gecon_info == 0 and below(rcond, factors.dtype):
                on_singular.check_conditioning(rcond, factors.dtype)
        return functions, factors, pivots, info

    if kind == "inv":
        def inv(a):
            if _inverse is not None and type(a) is np.ndarray and a.ndim == 2 and a.shape[0] and a.dtype in _FLOATS:
                # np.linalg.inv's own computation (in double, then in a's dtype); a singular matrix gives
                # NaN there, where np.linalg.inv raises: its NaN norm sends it to np.linalg.inv below
                inverse = _inverse(a, signature="d->d")
                if inverse.dtype != a.dtype:
                    inverse = inverse.astype(a.dtype)
                inverse_norm = _one_norm(inverse)
                if inverse_norm == inverse_norm:
                    rcond = 1.0 / (_one_norm(a) * inverse_norm)
                    if below(rcond, inverse.dtype):
                        on_singular.check_conditioning(rcond, inverse.dtype)
                    return inverse
            try:
                inverse = np.linalg.inv(a)
            except np.linalg.LinAlgError:
                return on_singular(lambda: np.full(a.shape, np.nan, dtype=a.dtype))
            if a.shape[0]:
                rcond = 1.0 / (_one_norm(a) * _one_norm(inverse))
                if below(rcond, inverse.dtype):
                    on_singular.check_conditioning(rcond, inverse.dtype)
            return inverse
        return inv

    if kind in ("solve", "solve twice"):   # solve twice: solve(a, solve(a, b)), a factored once (repeatedsolve.py)
        times = 1 if kind == "solve" else 2

        def solve(a, b):
            lu = factored(a, np.result_type(a, b)) if a.size else None
            if lu is None:
                for _ in range(times):
                    b = operation(a, b, on_singular)
                return b
            functions, factors, pivots, info = lu
            shape = a.shape[:1] + b.shape[1:]
            if info > 0:
                return on_singular(lambda: np.full(shape, np.nan, dtype=factors.dtype))
            flat = b.reshape(b.shape[0], math.prod(b.shape[1:]))
            solved, _ = functions["getrs"](factors, pivots, flat.astype(factors.dtype, copy=False))
            for _ in range(times - 1):
                solved, _ = functions["getrs"](factors, pivots, solved, overwrite_b=1)
            # getrs's result is a new array (overwrite_b=0): not reshaped to itself, it stays one the
            # caller owns, handed back without a copy when it is an output (Specialised.finish)
            return solved if solved.shape == shape else solved.reshape(shape)
        return solve

    if kind in ("logdet", "det"):
        def determinant(a):
            lu = factored(a, a.dtype) if a.size else None
            if lu is None:
                return operation(a, on_singular)
            sign, logabs = conditioning.lapack_slogdet(lu)
            if kind == "det":
                return np.asarray(sign * np.exp(logabs), dtype=a.dtype)
            logabs = np.asarray(logabs, dtype=a.dtype)
            if sign == 0:
                return on_singular(lambda: logabs)   # -inf
            return logabs
        return determinant
    return None
