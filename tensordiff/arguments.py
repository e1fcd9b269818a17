"""A call of a public function with arguments it does not take, as a tensordiff error.

Python reports a misspelt keyword (``td.compile(f, backnd="jax")``) as a bare TypeError; the
wrapper turns exactly that error, raised when the call binds its arguments and not inside the
function, into an ``ArgumentError`` that names the function, the argument and the closest one it
takes. It costs nothing on a call that binds.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, TypeVar

from .errors import ArgumentError

__all__ = ["checked_arguments"]

F = TypeVar("F", bound=Callable[..., Any])


def checked_arguments(fn: F) -> F:
    """``fn`` whose argument-binding TypeError is an ArgumentError naming the argument at fault.

    >>> def f(x, *, scale=1):
    ...     return x * scale
    >>> checked_arguments(f)(2, scael=3)
    Traceback (most recent call last):
        ...
    tensordiff.errors.ArgumentError: td.f() got an unexpected keyword argument 'scael'; did you mean 'scale'? (it takes x, scale)
    """
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError as exc:
            if exc.__traceback__ is None or exc.__traceback__.tb_next is not None or isinstance(exc, ArgumentError):
                raise   # raised inside fn, not by binding its arguments
            raise ArgumentError(_explain(fn, exc, kwargs, args)) from None
    return call  # type: ignore[return-value]


def _explain(fn, exc, kwargs, args=()):
    try:
        names = [p.name for p in inspect.signature(fn).parameters.values()
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    text = str(exc)
    prefix = f"{fn.__name__}()"
    text = f"td.{text}" if text.startswith(prefix) else f"td.{fn.__name__}(): {text}"
    unknown = [key for key in kwargs if key not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        if close:
            text += f"; did you mean {close[0]!r}?"
    twice = next((k for k, name in enumerate(names) if f"multiple values for argument {name!r}" in text), None)
    if twice is not None and twice < len(args) and isinstance(args[twice], dict):   # td.check(f, x, {...}, order=2)
        text += (f"; argument {twice + 1} is a dict, which stands in {names[twice]!r}'s place: to give "
                 f"{names[twice]}= too, pass the values as keywords (**values)")
    if names:
        text += f" (it takes {', '.join(names)})"
    return text
