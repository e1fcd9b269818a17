"""The steps of a compiled program that apply functions: elementwise ones, and inv, det, logdet and solve.

A built-in elementwise function runs as the backend's own (its row in functions.py); a user's
(``td.elementwise``) is looked up per call in ``functions=`` or its binding, and whatever it raises
becomes an EvaluationError naming it. The matrix functions run the backend's linear algebra with
the singular-matrix and conditioning policies (``OnSingular``).
"""

import numbers

import numpy as np

from .backends import OnSingular
from .boundlinalg import bound_linalg
from .errors import EvaluationError
from .expr import Det, Inv, LogDet, Solve
from .printing import short

__all__ = ["ApplyStep", "MatrixStep", "UserFunctionCall", "implementation", "checked_result"]


class UserFunctionCall:
    """A user's implementation of ``function``: whatever it raises becomes an EvaluationError naming
    the function and the sub-expression it was applied in (``where``: the node, printed only on
    failure, or its label), with the original exception chained. It pickles (for dask's workers)
    with the label instead of the node, as OnSingular does."""

    def __init__(self, impl, function, where):
        self.impl, self.function, self.where = impl, function, where

    def label(self):
        return self.where if isinstance(self.where, str) else short(self.where, 80)

    def __reduce__(self):
        return (UserFunctionCall, (self.impl, self.function, self.label()))

    def __call__(self, x):
        try:
            return self.impl(x)
        except Exception as exc:   # noqa: BLE001 - any failure of user code is reported as its own
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise EvaluationError(f"function {self.function} raised {reason} (evaluating {self.label()})") from exc


class ApplyStep:
    def __init__(self, node, backend):
        self.fn = node.fn
        self.backend = backend
        self.node = node   # printed only when its user function fails: printing every step is quadratic

    def describe(self):
        return f"elementwise {self.fn.display}"

    def bind(self, sizes, place):
        """A built-in function's step at fixed sizes (specialise.py); a user function's is looked up per call."""
        if self.fn.user:
            return None
        impl, display, backend = self.backend.function(self.fn), self.fn.display, self.backend
        if backend.name != "numpy":
            return lambda arg: checked_result(backend.apply(impl, arg), arg, display)

        def run(arg):
            result = np.asarray(impl(arg))
            if result.dtype.kind not in "biuf":
                raise EvaluationError(f"function {display} returned {type(result).__name__} {result!r:.40}, "
                                      "not an array of numbers")
            if result.shape == arg.shape:
                return result
            if result.shape == ():   # a constant, as a derivative like h'(x) = 1 may be written
                return arg * 0 + result
            raise EvaluationError(f"function {display} returned an array of shape {result.shape} for an argument "
                                  f"of shape {arg.shape}: an elementwise function must keep its argument's shape")
        return run

    def __call__(self, args, sizes, dtype, functions=None):
        impl = implementation(self.fn, functions, self.backend)
        arg = args[0]
        if self.fn.user and isinstance(arg, np.ndarray) and arg.flags.writeable:
            arg = arg.view()   # user code may write into its argument: never into the caller's array
            arg.flags.writeable = False
        if self.fn.user:
            impl = UserFunctionCall(impl, self.fn.display, self.node)
        with self.backend.quiet():
            result = self.backend.apply(impl, arg)
        if self.backend.lazy:
            return result
        return checked_result(result, args[0], self.fn.display)


def checked_result(result, arg, display):
    """An elementwise function's ``result`` for ``arg``, refused unless it is numbers of arg's shape
    (a constant is spread over it, as a derivative like h'(x) = 1 may be written)."""
    if not (hasattr(result, "shape") or isinstance(result, numbers.Real)) or \
            (isinstance(result, np.ndarray) and result.dtype.kind not in "biuf"):
        raise EvaluationError(f"function {display} returned {type(result).__name__} {result!r:.40}, "
                              "not an array of numbers")
    shape, wanted = tuple(getattr(result, "shape", ())), tuple(arg.shape)
    if shape == wanted:
        return result
    if shape == ():
        return arg * 0 + result
    raise EvaluationError(f"function {display} returned an array of shape {shape} for an argument of "
                          f"shape {wanted}: an elementwise function must keep its argument's shape")


def implementation(fn, functions, backend):
    if functions and fn.user:   # a built-in keeps its own: a user function may share its name
        for name in fn.ascii_names:
            if name in functions:
                return as_callable(functions[name], fn, 0)
        given = functions.get(fn.base)
        if given is not None:
            impl = as_callable(given, fn, fn.order)
            if impl is not None:
                return impl
    if fn.numeric is None:
        raise EvaluationError(f"function {fn.display} has no numeric implementation: bind one with "
                              f"td.elementwise({fn.base!r}, fn, deriv) or pass functions={{{fn.ascii_names[1]!r}: ...}} "
                              f"(or functions={{{fn.base!r}: [f, f', f'', ...]}})")
    return backend.function(fn)


def as_callable(given, fn, order):
    if hasattr(given, "numeric") and not callable(getattr(given, "__call__", None)):   # noqa: B004 - a bound function's row
        given = given.numeric
    if isinstance(given, (list, tuple)):
        if order >= len(given):
            return None
        if not callable(given[order]):
            raise EvaluationError(f"functions[{fn.base!r}][{order}] must be callable, got {given[order]!r:.40}")
        return given[order]
    if not callable(given):
        raise EvaluationError(f"functions[{fn.base!r}] must be a callable or a list of callables (f, f', ...), "
                              f"got {type(given).__name__} {given!r:.40}")
    if order == 0:
        if hasattr(given, "numeric") and hasattr(given, "display"):
            return given.numeric
        return given
    return None


class MatrixStep:
    """inv, det, logdet (through slogdet) or a linear solve, by the backend, with the singular-matrix policy."""

    OPERATIONS = {Inv: ("inv", "arg"), Det: ("det", "arg"), LogDet: ("logdet", "arg"), Solve: ("solve", "matrix")}

    def __init__(self, node, backend, singular, conditioning="warn"):
        kind, matrix = self.OPERATIONS[type(node)]
        self.kind = kind
        self.operation = getattr(backend, kind)
        self.numpy = backend.name == "numpy"
        self.on_singular = OnSingular(singular, "inv" if kind == "solve" else kind, getattr(node, matrix),
                                               conditioning)

    def describe(self):
        return self.kind

    def bound(self, kind):
        """numpy's own ``kind`` of operation, bound once with the same LAPACK calls (boundlinalg.py);
        None on another backend or where nothing is saved."""
        return bound_linalg(kind, self.operation, self.on_singular) if self.numpy else None

    def bind(self, sizes, place):
        operation, on_singular = self.operation, self.on_singular
        bound = self.bound(self.kind)
        if bound is not None:
            return bound
        return lambda *args: operation(*args, on_singular)

    def __call__(self, args, sizes, dtype):
        return self.operation(*args, self.on_singular)
