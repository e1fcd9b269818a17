"""Conditioning: a matrix function warns when its matrix is too ill-conditioned to trust its result.

inv, solve, det, logdet (and cholesky) estimate the reciprocal condition number
rcond = 1 / (‖A‖₁ ‖A⁻¹‖₁) of their matrix and compare it with the machine epsilon of the dtype
(2.2e-16 for float64, 1.2e-7 for float32), as scipy.linalg.solve does: below it, A is singular to
working precision and the result may have no correct digit. The estimate costs O(n²) next to the
O(n³) factorisation, because it reuses what the operation computes anyway:

- inv: the inverse itself, so rcond is exact in the 1-norm;
- solve, det, logdet on numpy with scipy installed: LAPACK's getrf factors once, gecon estimates
  from those LU factors (Hager/Higham), getrs solves or the diagonal gives the determinant;
- solve without scipy and on torch/jax/cupy: two probe vectors solved with the right-hand sides
  (Higham's alternating vector and a fixed ±1 vector): ‖A⁻¹v‖₁/‖v‖₁ is a lower bound of ‖A⁻¹‖₁;
- cholesky: LAPACK's pocon on the factor with scipy, else (min Lᵢᵢ / max Lᵢᵢ)², which is never
  below rcond's 2-norm counterpart and so never warns falsely.

Policies, one per program (``conditioning=`` of compile/evaluate): "warn" (the default) emits an
IllConditionedWarning naming the sub-expression and the estimate, "raise" makes it an
EvaluationError, "ignore" skips the estimate. Under jax tracing no estimate is a concrete number:
no check is made there (the NaN/inf results of a singular matrix still show).
"""

import functools
import sys
import warnings

import numpy as np

from .errors import EvaluationError, IllConditionedWarning

__all__ = ["POLICIES", "threshold", "check_rcond", "one_norm", "rcond_from_inverse", "probe_columns",
           "rcond_from_probes", "lapack", "lu_rcond", "cholesky_rcond", "IllConditionedWarning", "lapack_lu",
           "lapack_slogdet", "checked_inverse", "with_probes", "checked_probes"]

POLICIES = ("warn", "ignore", "raise")


def threshold(dtype):
    """The rcond below which a matrix of ``dtype`` counts as ill-conditioned: its machine epsilon.

    >>> from tensordiff.conditioning import threshold
    >>> threshold("float64"), threshold("float32")
    (2.220446049250313e-16, 1.1920928955078125e-07)
    """
    try:
        return float(np.finfo(np.dtype(dtype)).eps)
    except TypeError:   # a torch dtype
        return float(np.finfo(str(dtype).rpartition(".")[2]).eps)


def check_rcond(rcond, dtype, operation, label, policy):
    """Warn (or raise, per ``policy``) when the estimate ``rcond`` is below ``threshold(dtype)``.

    ``label`` names the matrix's sub-expression. A NaN estimate (a matrix with NaN or inf entries,
    whose results show it anyway) and a traced jax value (no concrete number) are not checked.

    >>> import warnings
    >>> from tensordiff.conditioning import check_rcond
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_rcond(1e-20, "float64", "inv", "A[i,j]", "warn")
    >>> print(caught[0].message)   # doctest: +ELLIPSIS
    inv of an ill-conditioned matrix: A[i,j] has a reciprocal condition estimate of 1e-20, below ...
    """
    if policy == "ignore":
        return
    if hasattr(rcond, "detach"):   # a torch estimate that carries autograd: its number is all the check reads
        rcond = rcond.detach()
    try:
        rcond = float(rcond)
    except Exception:   # noqa: BLE001 - a jax tracer (ConcretizationTypeError) has no value yet
        return
    limit = threshold(dtype)
    if not rcond < limit:
        return
    message = (f"{operation} of an ill-conditioned matrix: {label} has a reciprocal condition estimate of "
               f"{rcond:.3g}, below {limit:.3g} (the machine epsilon of {np.dtype(str(dtype).rpartition('.')[2])}), "
               "so the result may have lost all accuracy")
    if policy == "raise":
        raise EvaluationError(message + " (conditioning=\"warn\" or \"ignore\" lets it through)")
    message += ". conditioning=\"ignore\" silences this, conditioning=\"raise\" makes it an error"
    warnings.warn(message, IllConditionedWarning, stacklevel=_caller_level())


def _caller_level():
    """The stacklevel of the first frame outside tensordiff: the warning points at the user's call."""
    frame, level, package = sys._getframe(1), 1, __name__.rpartition(".")[0] + "."
    while frame is not None and frame.f_globals.get("__name__", "").startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def one_norm(a):
    """The matrix 1-norm (largest column sum of absolute values), for any array library.

    >>> import numpy as np
    >>> from tensordiff.conditioning import one_norm
    >>> float(one_norm(np.array([[1.0, -2.0], [3.0, 4.0]])))
    6.0
    """
    return abs(a).sum(0).max()


def rcond_from_inverse(a, inverse):
    """rcond = 1 / (‖A‖₁ ‖A⁻¹‖₁), exact, from a computed inverse.

    >>> import numpy as np
    >>> from tensordiff.conditioning import rcond_from_inverse
    >>> a = np.diag([1.0, 1e-3])
    >>> float(rcond_from_inverse(a, np.linalg.inv(a)))
    0.001
    """
    return 1.0 / (one_norm(a) * one_norm(inverse))


@functools.lru_cache(maxsize=64)
def probe_columns(n):
    """Two probe vectors (n×2, read-only): Higham's alternating vector (−1)ⁱ(1 + i/(n−1)), which the
    1-norm estimators use as a last check, and a fixed pseudo-random ±1 vector.

    >>> from tensordiff.conditioning import probe_columns
    >>> probe_columns(3)[:, 0]
    array([ 1. , -1.5,  2. ])
    """
    i = np.arange(n)
    alternating = (-1.0) ** i * (1 + i / max(n - 1, 1))
    signs = np.where(np.random.default_rng(20261206).random(n) < 0.5, -1.0, 1.0)
    probes = np.stack([alternating, signs], axis=1)
    probes.flags.writeable = False
    return probes


def rcond_from_probes(a, solved, probes):
    """An estimate of rcond from ``solved`` = A⁻¹ ``probes``: ‖A⁻¹‖₁ ≥ ‖A⁻¹v‖₁ / ‖v‖₁ for each probe v,
    so the estimate is never below the true rcond.

    >>> import numpy as np
    >>> from tensordiff.conditioning import probe_columns, rcond_from_probes
    >>> a, probes = np.diag([1.0, 1e-3, 1.0]), probe_columns(3)
    >>> float(rcond_from_probes(a, np.linalg.solve(a, probes), probes)) >= 1e-3
    True
    """
    lower = (abs(solved).sum(0) / abs(probes).sum(0)).max()
    return 1.0 / (one_norm(a) * lower)


@functools.lru_cache(maxsize=8)
def lapack(dtype):
    """scipy's LAPACK (getrf, getrs, gecon, pocon) for a numpy float dtype, or None without scipy.

    >>> from tensordiff.conditioning import lapack
    >>> functions = lapack("float64")
    >>> functions is None or sorted(functions) == ["gecon", "getrf", "getrs", "pocon"]
    True
    """
    try:
        from scipy.linalg import lapack as scipy_lapack   # optional: imported only when a matrix is factored
    except ImportError:
        return None
    return dict(zip(("getrf", "getrs", "gecon", "pocon"),
                    scipy_lapack.get_lapack_funcs(("getrf", "getrs", "gecon", "pocon"), dtype=np.dtype(dtype))))


def lu_rcond(functions, lu, anorm):
    """LAPACK gecon's estimate of rcond from getrf's factors ``lu`` of a matrix of 1-norm ``anorm``
    (NaN where it cannot say)."""
    if not np.isfinite(anorm):
        return float("nan")
    rcond, info = functions["gecon"](lu, anorm)   # the 1-norm, gecon's default
    return rcond if info == 0 else float("nan")


def cholesky_rcond(a, factor):
    """An estimate of rcond for a symmetric positive definite ``a`` from its Cholesky factor (lower).

    For the "nodes" cholesky: LAPACK pocon on numpy arrays where scipy is installed, else the
    (min/max diagonal of the factor)² bound, which never reports worse conditioning than there is.
    Pass the result to ``check_rcond`` (or ``OnSingular.check_conditioning``).

    >>> import numpy as np
    >>> from tensordiff.conditioning import cholesky_rcond
    >>> a = np.diag([1.0, 1e-20])
    >>> float(cholesky_rcond(a, np.linalg.cholesky(a))) < 1e-16
    True
    """
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape[0]:
        functions = lapack(a.dtype)
        if functions is not None:
            anorm = float(one_norm(a))
            if not np.isfinite(anorm):
                return float("nan")
            rcond, info = functions["pocon"](factor, anorm, uplo="L")
            return rcond if info == 0 else float("nan")
    diagonal = abs(factor.diagonal())
    return (diagonal.min() / diagonal.max()) ** 2


# ---------------------------------------------------------------- numpy with scipy: one LU, gecon

def lapack_lu(a, on_singular, dtype):
    """(scipy's LAPACK functions, LU factors, pivots, info) of ``a``, its rcond estimate checked;
    None where numpy's own linear algebra runs instead (no scipy, "ignore", an empty matrix)."""
    if not (on_singular.checks_conditioning and a.size):
        return None
    functions = lapack(np.result_type(dtype, np.float32))
    if functions is None:
        return None
    with np.errstate(all="ignore"):
        anorm = float(one_norm(a))   # before the factors exist: its |a| is a temporary the size of a
        factors, pivots, info = functions["getrf"](a)
        if info == 0:
            on_singular.check_conditioning(lu_rcond(functions, factors, anorm), factors.dtype)
    return functions, factors, pivots, info


def lapack_slogdet(lu):
    """(sign, log|det|) from lapack_lu's result: the diagonal of U and the parity of the row swaps.

    >>> import numpy as np
    >>> from tensordiff.conditioning import lapack_slogdet
    >>> lapack_slogdet((None, np.array([[2.0, 1.0], [0.0, -3.0]]), np.array([1, 1]), 0))   # doctest: +ELLIPSIS
    (1.0, ...1.79...)
    """
    _, factors, pivots, info = lu
    if info > 0:
        return 0.0, -np.inf
    diagonal = factors.diagonal()
    flips = np.count_nonzero(pivots != np.arange(len(pivots))) + np.count_nonzero(diagonal < 0)
    return (-1.0 if flips % 2 else 1.0), np.log(np.abs(diagonal)).sum()


# ---------------------------------------------------------------- torch, jax, cupy

def checked_inverse(a, inverse, on_singular):
    """``inverse``, after checking the exact rcond it gives with ``on_singular``'s policy."""
    if on_singular.checks_conditioning and a.shape[0]:
        with np.errstate(all="ignore"):
            on_singular.check_conditioning(rcond_from_inverse(a, inverse), inverse.dtype)
    return inverse


def with_probes(backend, a, flat, on_singular):
    """The right-hand sides with conditioning's probe columns appended (when it checks), and the probes."""
    if not (on_singular.checks_conditioning and a.shape[0]):
        return flat, None
    probes = backend.cast(backend.from_numpy(probe_columns(a.shape[0]).copy()), flat.dtype)   # torch warns on read-only
    if hasattr(flat, "device") and hasattr(probes, "to"):   # torch: onto the matrix's device
        probes = probes.to(flat.device)
    return backend.concatenate_columns(flat, probes), probes


def checked_probes(a, solved, probes, on_singular):
    """The solution without with_probes' columns, after checking the rcond estimate they give."""
    if probes is None:
        return solved
    with np.errstate(all="ignore"):
        on_singular.check_conditioning(rcond_from_probes(a, solved[:, -2:], probes), solved.dtype)
    return solved[:, :-2]
