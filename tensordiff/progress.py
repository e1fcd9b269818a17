"""Progress of an evaluation on stderr: tqdm's bar when tqdm is installed, a plain line otherwise.

A program compiled or evaluated with ``progress=True`` reports each step it runs, from the
start, as tqdm does. ``progress=None`` (the default) follows ``enabled``, a process-wide setting
that is off unless the command line's ``--progress`` turns it on; then only evaluations that have
run longer than ``DELAY`` seconds report, so the many short calls of a finite-difference check
stay quiet.
"""

import contextlib
import sys
import time

from .errors import EvaluationError

__all__ = ["validate_progress", "Progress", "enabled", "delay_for", "DELAY"]

DELAY = 0.5   # seconds an evaluation runs before the command line's --progress shows it
REFRESH = 0.1   # seconds between two updates of the plain line

# the command line's setting: a plain global, which torch.compile can read (not a ContextVar)
_default = [False]


def validate_progress(value):
    """``value`` if it is a bool or None, else an EvaluationError.

    >>> from tensordiff.progress import validate_progress
    >>> validate_progress(True)
    True
    """
    if value is not None and not isinstance(value, bool):
        raise EvaluationError(f"progress must be True or False, got {type(value).__name__} {value!r:.40}")
    return value


@contextlib.contextmanager
def enabled(on=True):
    """Within the block, programs with ``progress=None`` show their progress (the CLI's --progress).

    >>> from tensordiff import progress
    >>> with progress.enabled():
    ...     progress.delay_for(None) == progress.DELAY
    True
    """
    before, _default[0] = _default[0], on
    try:
        yield
    finally:
        _default[0] = before


def delay_for(progress):
    """Seconds after which a call of a program with this ``progress`` setting reports; None: never.

    >>> from tensordiff.progress import delay_for
    >>> delay_for(None), delay_for(False), delay_for(True)
    (None, None, 0.0)
    """
    if progress is None:
        return DELAY if _default[0] else None
    return 0.0 if progress else None


class Progress:
    """One evaluation's report over ``total`` steps, shown after ``delay`` seconds; ``step(text)``
    before each step, ``close()`` (or the end of a ``with`` block, an error included) at the end."""

    def __init__(self, total, delay=0.0, stream=None):
        self.total, self.done, self.delay = total, 0, delay
        self.stream = stream if stream is not None else sys.stderr
        self.start, self.last = time.monotonic(), -REFRESH
        self.bar, self.shown = None, False
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self.bar = tqdm(total=total, desc="tensordiff", unit="step", delay=delay, file=self.stream, leave=False)

    def step(self, text):
        """Report that the step described by ``text`` starts (``self.done`` steps are finished)."""
        if self.bar is not None:
            self.bar.update(self.done - self.bar.n)
            self.bar.set_postfix_str(text, refresh=False)
        else:
            now = time.monotonic()
            if now - self.start >= self.delay and now - self.last >= REFRESH:
                self._line(f"step {self.done + 1}/{self.total}", self.done, text, now)
        self.done += 1

    def _line(self, where, finished, text, now, end=""):
        percent = 100 * finished // max(self.total, 1)
        self.stream.write(f"\rtensordiff: {where} ({percent}%) {now - self.start:.1f}s  {text[:50]:<50}{end}")
        self.stream.flush()
        self.last, self.shown = now, True

    def __enter__(self):
        return self

    def __exit__(self, error_type, *_):
        self.close(stopped=error_type is not None)

    def close(self, stopped=False):
        """Finish the report: the bar is removed, a plain line that was shown ends at 100%."""
        if self.bar is not None:
            if not stopped:
                self.bar.update(self.total - self.bar.n)
            self.bar.close()
        elif self.shown or time.monotonic() - self.start >= self.delay:
            if stopped:
                self._line(f"stopped at step {self.done}/{self.total}", self.done - 1, "by an error",
                           time.monotonic(), end="\n")
            else:
                self._line(f"{self.total}/{self.total} steps", self.total, "done", time.monotonic(), end="\n")
