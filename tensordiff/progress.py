"""Progress of an evaluation on stderr: tqdm's bar when tqdm is installed, a plain line otherwise.

A program compiled or evaluated with ``progress=True`` reports each step it runs, but only once
the evaluation has taken longer than ``DELAY`` seconds, so short evaluations (the many calls of a
finite-difference check, say) stay quiet. ``progress=None`` (the default) follows ``enabled``, a
process-wide setting that is off unless the command line's ``--progress`` turns it on.
"""

import contextlib
import sys
import time

from .errors import EvaluationError

__all__ = ["validate_progress", "Progress", "enabled", "DELAY"]

DELAY = 0.5   # seconds an evaluation runs before its progress shows
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
    ...     progress.active(None)
    True
    """
    before, _default[0] = _default[0], on
    try:
        yield
    finally:
        _default[0] = before


def active(progress):
    """Whether a call of a program with this ``progress`` setting reports.

    >>> from tensordiff.progress import active
    >>> active(None), active(True)
    (False, True)
    """
    return _default[0] if progress is None else progress


class Progress:
    """One evaluation's report over ``total`` steps; ``step(text)`` before each, ``close()`` (or the
    end of a ``with`` block, an error included) at the end."""

    def __init__(self, total, stream=None):
        self.total, self.done = total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.start, self.last = time.monotonic(), -REFRESH
        self.bar, self.shown = None, False
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self.bar = tqdm(total=total, desc="tensordiff", unit="step", delay=DELAY, file=self.stream, leave=False)

    def step(self, text):
        """Report that the step described by ``text`` starts (``self.done`` steps are finished)."""
        if self.bar is not None:
            self.bar.update(self.done - self.bar.n)
            self.bar.set_postfix_str(text, refresh=False)
        else:
            now = time.monotonic()
            if now - self.start >= DELAY and now - self.last >= REFRESH:
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
        elif self.shown or time.monotonic() - self.start >= DELAY:
            if stopped:
                self._line(f"stopped at step {self.done}/{self.total}", self.done - 1, "by an error",
                           time.monotonic(), end="\n")
            else:
                self._line(f"{self.total}/{self.total} steps", self.total, "done", time.monotonic(), end="\n")
