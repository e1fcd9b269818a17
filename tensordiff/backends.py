"""Array backends: the table of array libraries, and how a program picks one.

Every backend runs the same plan (steps.py) through the primitive operations of its class: values
converted and checked, contractions, outputs with Kronecker deltas or broadcasts, elementwise
functions, linear algebra with a singular-matrix policy (``OnSingular``), dtypes and placement.
``BACKENDS`` names each library's class: numpyarrays.py (numpy), arraylibrary.py (what torch, jax
and cupy share), torcharrays.py, jaxarrays.py, cupyarrays.py and daskarrays.py. A library is
imported by name only when its backend is asked for; a missing one is an EvaluationError naming
the extra to install. dask evaluates lazily: the result is a chunked dask array that whatever
scheduler is active computes.
"""

import importlib

import numpy as np

from . import conditioning
from .errors import EvaluationError
from .printing import short

__all__ = ["get_backend", "BACKENDS", "OnSingular", "SINGULAR_POLICIES", "infer_backend", "library_of"]

SINGULAR_POLICIES = ("raise", "nan")


class OnSingular:
    """What a linear-algebra operation does with a singular matrix: raise, or return NaN/-inf; and
    with an ill-conditioned one (``conditioning``: "warn", "ignore" or "raise"; conditioning.py).

    Called with a function making the NaN result. It pickles (for dask's workers) with the
    matrix's printed label instead of the expression, so no task graph keeps symbols alive.
    """

    def __init__(self, policy, operation, matrix, conditioning="warn"):
        self.policy, self.operation, self.matrix = policy, operation, matrix
        self.conditioning = conditioning

    def label(self):
        if not isinstance(self.matrix, str):   # printed once, and only when a message needs it
            self.matrix = short(self.matrix, 80)
        return self.matrix

    def __reduce__(self):
        return (OnSingular, (self.policy, self.operation, self.label(), self.conditioning))

    @property
    def checks_conditioning(self):
        """Whether the operation should estimate its matrix's condition (skipped under "ignore")."""
        return self.conditioning != "ignore"

    def check_conditioning(self, rcond, dtype):
        """The hook every matrix function calls with its rcond estimate (conditioning.check_rcond)."""
        conditioning.check_rcond(rcond, dtype, self.operation, _LazyLabel(self), self.conditioning)

    def __call__(self, make_nan):
        if self.policy == "nan":
            return make_nan()
        raise EvaluationError(f"{self.operation} of a singular matrix: {self.label()} "
                              "(pass singular=\"nan\" for NaN/-inf results instead of this error)")


class _LazyLabel:
    """An OnSingular's label, printed only if a message is formatted: a well-conditioned call prints nothing."""

    def __init__(self, owner):
        self.owner = owner

    def __str__(self):
        return self.owner.label()

    def __format__(self, spec):
        return format(str(self), spec)



# ---------------------------------------------------------------- the table

# name: (library imported, "tensordiff module.backend class"); the extra to install is the name
BACKENDS = {
    "numpy": ("numpy", "numpyarrays.NumpyBackend"),
    "dask": ("dask.array", "daskarrays.DaskBackend"),
    "torch": ("torch", "torcharrays.TorchBackend"),
    "jax": ("jax.numpy", "jaxarrays.JaxBackend"),
    "cupy": ("cupy", "cupyarrays.CupyBackend"),
}

_loaded = {}

# The top-level module of an input's type (or of a base class): the backend that returns its
# arrays when none is named, as opt_einsum infers its backend. Anything else is numpy's.
INPUT_LIBRARIES = {"torch": "torch", "jax": "jax", "jaxlib": "jax", "cupy": "cupy", "cupyx": "cupy", "dask": "dask"}


def library_of(value):
    """The backend whose arrays ``value`` is, or None (numpy arrays, numbers, anything else).

    >>> import numpy as np
    >>> from tensordiff.backends import library_of
    >>> library_of(np.ones(2)) is None
    True
    """
    if isinstance(value, (int, float, np.ndarray, np.generic)):   # the common cases first, no class walk
        return None                                                  # (which torch.compile cannot trace)
    name = INPUT_LIBRARIES.get(type(value).__module__.partition(".")[0])
    if name is not None:
        return name
    for cls in type(value).__mro__[1:]:   # a subclass defined elsewhere (a torch.Tensor subclass, say)
        name = INPUT_LIBRARIES.get(cls.__module__.partition(".")[0])
        if name is not None:
            return name
    return None


def infer_backend(values):
    """The backend the arrays of ``values`` ({symbol name: value}) call for: one library, else numpy.

    >>> import numpy as np
    >>> from tensordiff.backends import infer_backend
    >>> infer_backend({"x": np.ones(3), "lam": 0.5})
    'numpy'
    """
    found = {}
    for name, value in values.items():
        library = library_of(value)
        if library is not None:
            found.setdefault(library, []).append(name)
    if len(found) > 1:
        raise EvaluationError("values mix arrays of " + " and ".join(
            f"{library} ({', '.join(map(repr, names))})" for library, names in found.items()) +
            ": convert them to one library, or name one with backend=")
    return next(iter(found), "numpy")


def get_backend(name):
    """The backend called ``name``, importing its library on first use.

    >>> from tensordiff.backends import get_backend
    >>> get_backend("numpy").name
    'numpy'
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise EvaluationError(f"unknown backend {name!r}: choose one of {', '.join(map(repr, BACKENDS))}")
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    module, where = BACKENDS[name]
    owner, cls = where.rsplit(".", 1)
    try:
        lib = importlib.import_module(module)
        backend = getattr(importlib.import_module(f"{__package__}.{owner}"), cls)(lib)
    except ImportError as exc:
        raise EvaluationError(f"backend {name!r} needs {module.split('.')[0]}, which is not installed ({exc}): "
                              f"pip install \"tensordiff-symbolic[{name}]\"") from None
    _loaded[name] = backend
    return backend
