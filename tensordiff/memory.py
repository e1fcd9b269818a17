"""Memory limits: how much memory an evaluation may allocate before it is refused up front.

Evaluation compares the peak of the whole run (results, intermediates and temporaries, priced
by pricing.py) with the limit before it allocates anything.

By default the limit is a fraction of the memory available when the evaluation starts
(MemAvailable from /proc/meminfo, else the free pages ``os.sysconf`` reports; no limit where
neither is known). ``set_memory_limit`` fixes it to a number of bytes or lifts it (None); a
``memory_limit=`` argument of ``compile``/``evaluate`` overrides it for one program.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable
from typing import Optional

from .errors import EvaluationError, TensorDiffError
from .annotations import MemoryLimit

__all__ = ["set_memory_limit", "get_memory_limit", "available_memory", "check_allocation", "format_bytes",
           "validate_limit", "fits"]

# The peak leaves out what libraries allocate for themselves (BLAS buffers, the allocator's
# fragmentation), and other processes share the machine: half the available memory is the default.
DEFAULT_FRACTION = 0.5
# Below this an allocation is never refused, so small evaluations do not read /proc on every call.
NEVER_REFUSED = 64 * 2 ** 20

_setting = "auto"


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation now, or None where the system does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


# A program called in a loop asks before every call: /proc/meminfo is read at most this often.
AVAILABLE_FRESH_S = 0.05
_recent = [None, 0.0, None]   # the reader asked, when, what it said


def _available_recently():
    """available_memory(), read again only when the last reading is over AVAILABLE_FRESH_S old (or
    was made by another reader: tests replace the function)."""
    reader, now = available_memory, time.monotonic()
    if _recent[0] is reader and now - _recent[1] < AVAILABLE_FRESH_S:
        return _recent[2]
    value = reader()
    _recent[:] = [reader, now, value]
    return value


def validate_limit(limit, where):
    if limit is None or (isinstance(limit, str) and limit == "auto"):
        return limit
    if isinstance(limit, bool) or not isinstance(limit, numbers.Real) or not limit > 0:
        raise TensorDiffError(f"{where} must be a positive number of bytes, None (no limit) or 'auto' "
                              f"({DEFAULT_FRACTION:g} of the available memory), got {limit!r:.60}")
    return limit


def set_memory_limit(limit: MemoryLimit) -> None:
    """Set how much memory one evaluation may allocate at its peak.

    The peak counts results, intermediates and temporaries (not the inputs). An evaluation above
    the limit is refused with an ``EvaluationError`` before any work, saying what it
    would need and what to do instead (a dask backend, a product, or selected entries). The
    ``memory_limit=`` argument of ``td.compile`` and ``td.evaluate`` overrides it for one program.

    Parameters
    ----------
    limit : int, float, None or "auto"
        A number of bytes; None for no limit; "auto" (the default setting) for half the memory
        available when an evaluation starts.

    Returns
    -------
    None

    Raises
    ------
    TensorDiffError
        If ``limit`` is not a positive number, None or "auto".

    Examples
    --------
    >>> import tensordiff as td
    >>> td.set_memory_limit(8 * 2**30)     # refuse evaluations that would need over 8 GiB
    >>> td.get_memory_limit()
    8589934592
    >>> td.set_memory_limit("auto")        # back to half the available memory
    """
    global _setting
    _setting = validate_limit(limit, "the memory limit")


def get_memory_limit() -> Optional[float]:
    """The memory limit in force now, in bytes.

    Returns
    -------
    int, float or None
        The most memory one evaluation may allocate at its peak; None when there is no limit (set so, or the
        available memory is unknown).

    Examples
    --------
    >>> import tensordiff as td
    >>> td.set_memory_limit(None)
    >>> td.get_memory_limit() is None
    True
    >>> td.set_memory_limit("auto")
    >>> limit = td.get_memory_limit()       # half of what is available now
    """
    return _resolve(_setting)[0]


def _resolve(limit):
    """(bytes or None, how the limit was set) for a setting."""
    if limit == "auto":
        limit = _setting
    if limit == "auto":
        available = _available_recently()
        if available is None:
            return None, "no limit: the available memory is unknown"
        return DEFAULT_FRACTION * available, f"{DEFAULT_FRACTION:g} of the {format_bytes(available)} available"
    if limit is None:
        return None, "no limit"
    return limit, "set by td.set_memory_limit or memory_limit="


def format_bytes(n: float) -> str:
    """``n`` bytes as a short readable size (KiB, MiB, GiB, TiB)."""
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g} B"


def fits(nbytes: float, limit: MemoryLimit = "auto") -> bool:
    """Whether ``nbytes`` are within the memory limit ``limit`` (bytes, None, or "auto": the setting).

    >>> from tensordiff.memory import fits
    >>> fits(10, limit=100), fits(1000, limit=100), fits(2**60, limit=None)
    (True, False, True)
    """
    if limit == "auto" and _setting == "auto" and nbytes < NEVER_REFUSED:
        return True
    allowed = _resolve(limit)[0]
    return allowed is None or nbytes <= allowed


def check_allocation(nbytes: float, describe: Callable[[], str], limit: MemoryLimit = "auto") -> None:
    """Raise an EvaluationError, before anything is allocated, when ``nbytes`` is over the limit.

    ``describe`` is a function returning a short description of what needs them (called only to fail).

    >>> from tensordiff.memory import check_allocation
    >>> check_allocation(2**40, lambda: "a 1 TiB array", limit=2**30)
    Traceback (most recent call last):
    tensordiff.errors.EvaluationError: evaluating it would need 1 TiB (a 1 TiB array) but the memory limit is ...
    """
    if fits(nbytes, limit):
        return
    allowed, how = _resolve(limit)
    raise EvaluationError(
        f"evaluating it would need {format_bytes(nbytes)} ({describe()}) but the memory limit is "
        f"{format_bytes(allowed)} ({how}). Evaluate it lazily in chunks with backend=\"dask\", or ask "
        f"for a product instead of the full tensor (td.hvp, td.jvp, td.vjp, td.diff(f, X, direction=V)) or "
        f"for the entries you need (td.diff(f, X)[i, j]); memory_limit=None (or td.set_memory_limit(None)) "
        f"lifts the limit")
