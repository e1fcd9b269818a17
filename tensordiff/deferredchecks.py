"""Singular-matrix and conditioning checks of a compiled (jax.jit) call, made after the call.

A traced value has no Python truth value, so inside ``jax.jit`` a matrix step cannot decide to
raise or warn. When tensordiff itself compiles a program (jaxarrays.py's ``plan_compiler``), each
matrix step computes its flags as traced values instead (failed: a zero LU pivot, a zero slogdet
sign, a Cholesky factor with NaN; and its rcond estimate) and records them here with the policy
that reads them; the compiled function returns the flags beside its outputs, and ``apply`` runs
the policies in Python on the concrete flags, in step order. A step that fails takes the NaN path
inside the computation (``where(failed, nan, result)``, the result the "nan" policy gives), so
the policies see the same flags and raise or warn with the same messages as an eager call, and a
program with the default policies compiles too.

Outside ``collecting`` (a user's own ``jax.jit``, ``vmap`` or ``grad`` around a program) nothing
records the flags: such a call takes the NaN path and checks no condition (docs/interop.md).
"""

import math
import threading

from . import conditioning

__all__ = ["DeferredCheck", "collecting", "active", "defer", "flag_values", "apply"]

_state = threading.local()   # tracing happens in the calling thread: one collector per thread


class DeferredCheck:
    """One step's policies: ``on_failure()`` when its flag says it failed (an OnSingular raises
    under singular="raise"; None: nothing to do), else ``on_conditioning.check_conditioning``
    with its rcond estimate (None: conditioning is not checked)."""

    def __init__(self, on_failure, on_conditioning, dtype):
        self.on_failure, self.on_conditioning, self.dtype = on_failure, on_conditioning, dtype
        # the rcond below which the policy acts (conditioning.threshold); -inf where nothing is checked
        self.limit = conditioning.threshold(dtype) if on_conditioning is not None else -math.inf

    def __call__(self, failed, rcond):
        if failed:
            if self.on_failure is not None:
                self.on_failure()
            return
        if self.on_conditioning is not None and not math.isnan(rcond):
            self.on_conditioning.check_conditioning(rcond, self.dtype)


class collecting:
    """A context in which traced matrix steps record their checks (``checks``) and their traced
    flags (``flags``): ``with collecting() as found: ...``. Nested, the inner one collects."""

    def __enter__(self):
        self.checks, self.flags = [], []
        self.previous = getattr(_state, "collector", None)
        _state.collector = self
        return self

    def __exit__(self, *exc):
        _state.collector = self.previous
        return False


def active():
    """Whether a compiled call is collecting checks (else a traced step takes the plain NaN path)."""
    return getattr(_state, "collector", None) is not None


def defer(failed, rcond, on_failure, on_conditioning, dtype):
    """Record a traced step's flags ``failed`` (a traced bool) and ``rcond`` (a traced number, or
    None: not checked) with the policies that read them; False when nothing collects them."""
    collector = getattr(_state, "collector", None)
    if collector is None:
        return False
    collector.checks.append(DeferredCheck(on_failure, on_conditioning if rcond is not None else None, dtype))
    collector.flags.append((failed, rcond))
    return True


def flag_values(xp, flags, checks):
    """The recorded flags as one traced vector, in the widest dtype of the estimates, so that one
    transfer brings them all back unchanged: first whether any policy must act (1 where a step
    failed or an estimate is below its check's limit, else 0), then per check failed as 0/1 and
    rcond or NaN. Reading the first entry is all a call without trouble costs after the transfer."""
    if not flags:
        return None
    estimates = [rcond for _, rcond in flags if rcond is not None]
    dtype = xp.result_type(*estimates) if estimates else xp.float32
    values = []
    for failed, rcond in flags:
        values.append(xp.asarray(failed, dtype=dtype))
        values.append(xp.asarray(math.nan if rcond is None else rcond, dtype=dtype))
    stacked = xp.stack(values)
    limits = xp.asarray([check.limit for check in checks], dtype=dtype)
    alarm = (stacked[0::2] != 0).any() | (stacked[1::2] < limits).any()   # a NaN estimate is not below
    return xp.concatenate([alarm.astype(dtype)[None], stacked])


def apply(checks, values):
    """Run each check's policies on its concrete flags (``values``: flag_values' numpy vector), in
    step order; at once where its first entry says that no step failed and no estimate is below
    its limit."""
    if not values[0]:
        return
    for k, check in enumerate(checks):
        check(bool(values[2 * k + 1]), float(values[2 * k + 2]))
