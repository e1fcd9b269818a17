"""The numpy backend: values checked and converted, linear algebra with the singular-matrix policy.

numpy is the reference every other backend follows (arraylibrary.py); dask runs these functions
inside its tasks (daskarrays.py).
"""

import functools
import math
import numbers
from typing import Optional

import numpy as np

from . import conditioning
from .errors import EvaluationError
from .contractionpaths import path_search
from .kernels import assemble, assembler
from .pairwise import direct_contraction, pairwise_contraction, planned_contraction, unary_contraction

__all__ = ["NumpyBackend", "numpy_contraction", "numpy_value", "sequence_array", "numbers_only", "numpy_inv", "numpy_solve", "numpy_logdet", "numpy_det"]


def numpy_value(name, value):
    """The value given for symbol ``name`` as a numpy array: numbers and bools (True is 1, as in
    numpy's arithmetic), whether Python's, numpy's scalars or arrays, become float64 (float32 stays)."""
    if isinstance(value, (list, tuple)):   # nested numbers, as np.array reads them
        value = sequence_array(name, value)
    if value is None or isinstance(value, (str, bytes, dict)):
        raise EvaluationError(f"value for {name!r} must be a number or an array, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        return np.asarray(finite_float(name, value))
    if isinstance(value, np.ma.MaskedArray):
        raise EvaluationError(f"value for {name!r} is a masked array, whose mask would be ignored: pass "
                              "value.filled(...) or only the entries you mean")
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's bad value
        raise EvaluationError(f"value for {name!r} cannot be read as an array: {exc}") from None
    return numbers_only(name, array, array.dtype.kind, lambda a: a.astype(np.float64))


def sequence_array(name, value):
    """A list or tuple of numbers (nested: rows of numbers, ...) as np.array reads it; where it is
    ragged or holds something else than numbers, an EvaluationError naming the symbol and the place.

    >>> sequence_array("X", [[1, 2], [3, 4]]).shape
    (2, 2)
    >>> sequence_array("X", [[1, 2], [3]])
    Traceback (most recent call last):
        ...
    tensordiff.errors.EvaluationError: value for 'X' is a ragged list: X[0] has shape (2,) but X[1] has shape (1,); pass numbers nested to one shape, as np.array reads them
    """
    try:
        array = np.array(value)
    except Exception:  # noqa: BLE001 - ragged, or an item numpy cannot read: _sequence_shape says which
        array = None
    if array is not None and array.dtype.kind in "biufc":
        return array
    _sequence_shape(name, value, name)   # raises where it is ragged or holds no number
    raise EvaluationError(f"value for {name!r} is a {type(value).__name__} numpy cannot read as an array of numbers")


def _sequence_shape(name, value, place):
    """The shape of the nested numbers ``value`` (at ``place``, as X[1][0]), or the EvaluationError
    that names where they are ragged or hold no number."""
    if isinstance(value, numbers.Number):
        return ()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return value.shape
    if not isinstance(value, (list, tuple)):
        shown = f" {value!r:.40}" if isinstance(value, (str, bytes, type(None))) else ""
        raise EvaluationError(f"value for {name!r} holds a {type(value).__name__}{shown} at {place}, which is no "
                              "number; pass numbers nested to one shape, as np.array reads them")
    shapes = [_sequence_shape(name, item, f"{place}[{k}]") for k, item in enumerate(value)]
    for k, shape in enumerate(shapes[1:], 1):
        if shape != shapes[0]:
            raise EvaluationError(f"value for {name!r} is a ragged {type(value).__name__}: {place}[0] has shape "
                                  f"{shapes[0]} but {place}[{k}] has shape {shape}; pass numbers nested to one "
                                  "shape, as np.array reads them")
    return (len(value),) + (shapes[0] if shapes else ())


def finite_float(name, value):
    try:
        return float(value)
    except OverflowError:
        raise EvaluationError(f"value for {name!r} is an int too large for float64") from None


def numbers_only(name, array, kind, to_float64):
    if kind in "biu":
        return to_float64(array)
    if kind == "c":
        raise EvaluationError(f"value for {name!r} is complex ({array.dtype}): tensordiff's functions are the real "
                              "ones (norm, abs, logdet, relu, ...); pass real and imaginary parts as two symbols")
    if kind != "f":
        raise EvaluationError(f"value for {name!r} must hold numbers, got dtype {array.dtype}")
    if isinstance(array, np.ndarray) and array.dtype == np.float16:   # numpy's linalg has no half precision
        return array.astype(np.float32)
    if isinstance(array, np.ndarray) and array.dtype.itemsize > 8:
        raise EvaluationError(f"value for {name!r} has dtype {array.dtype}: numpy's linear algebra stops at "
                              "float64, so extended precision is not supported; pass float64")
    return array


# np.einsum past its __array_function__ dispatch, which contractions of numpy's own arrays never need
_einsum = getattr(np.einsum, "_implementation", np.einsum)
NAIVE_LOOP_LIMIT = 4096  # index-space size below which numpy's direct einsum loop beats planning
NAIVE_LOOP_OPERANDS = 16  # numpy's einsum takes at most 63 operands (and is slow on many)


def numpy_contraction(equation, shapes):
    """A function contracting numpy arrays of ``shapes``: planned pairwise contractions on
    opt_einsum's path (pairwise.py: BLAS), or for tiny index spaces numpy's single einsum loop,
    which skips the per-pair calls."""
    if len(shapes) == 1:
        return unary_contraction(equation)
    sizes = {}
    for term, shape in zip(equation.split("->")[0].split(","), shapes):
        sizes.update(zip(term, shape))
    direct = direct_contraction(equation, shapes) if len(shapes) == 2 else None
    if direct is not None:   # one np.dot or broadcast product (pairwise.py) beats einsum's loop at any size
        return direct
    if math.prod(sizes.values()) <= NAIVE_LOOP_LIMIT and len(shapes) <= NAIVE_LOOP_OPERANDS \
            and equation.isascii():   # past 52 indices the letters are ones np.einsum does not read
        return functools.partial(_einsum, equation)
    pairwise = pairwise_contraction(equation, shapes) if len(shapes) == 2 else None
    if pairwise is not None:
        return pairwise
    return planned_contraction(equation, shapes, path_search(equation, shapes))


# NaN entries propagate quietly, as they do through elementwise functions (README "Numerics")

def numpy_inv(a, on_singular):
    try:
        with np.errstate(all="ignore"):
            inverse = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return on_singular(lambda: np.full(a.shape, np.nan, dtype=a.dtype))
    return conditioning.checked_inverse(a, inverse, on_singular)


def numpy_solve(a, b, on_singular):
    shape = a.shape[:1] + b.shape[1:]
    flat = b.reshape(b.shape[0], math.prod(b.shape[1:]))   # not -1: sizes may be 0
    lu = conditioning.lapack_lu(a, on_singular, np.result_type(a, b))
    if lu is not None:   # scipy: getrf, gecon's estimate, getrs
        functions, factors, pivots, info = lu
        if info > 0:
            return on_singular(lambda: np.full(shape, np.nan, dtype=factors.dtype))
        solved, _ = functions["getrs"](factors, pivots, flat.astype(factors.dtype, copy=False))
        return solved.reshape(shape)
    probes = on_singular.checks_conditioning and a.size
    if probes:   # no scipy: probe vectors solved with the right-hand sides estimate rcond
        flat = np.concatenate([flat, conditioning.probe_columns(a.shape[0])], axis=1)
    try:
        with np.errstate(all="ignore"):
            solved = np.linalg.solve(a, flat)
    except np.linalg.LinAlgError:
        return on_singular(lambda: np.full(shape, np.nan, dtype=np.result_type(a, b)))
    if probes:
        with np.errstate(all="ignore"):
            estimate = conditioning.rcond_from_probes(a, solved[:, -2:], conditioning.probe_columns(a.shape[0]))
        on_singular.check_conditioning(estimate, solved.dtype)
        solved = solved[:, :-2]
    return solved.reshape(shape)


def numpy_logdet(a, on_singular):
    lu = conditioning.lapack_lu(a, on_singular, a.dtype)
    with np.errstate(all="ignore"):
        sign, logabs = np.linalg.slogdet(a) if lu is None else conditioning.lapack_slogdet(lu)
    logabs = np.asarray(logabs, dtype=a.dtype)
    if sign == 0:
        return on_singular(lambda: logabs)   # -inf
    return logabs


def numpy_det(a, on_singular):
    lu = conditioning.lapack_lu(a, on_singular, a.dtype)
    with np.errstate(all="ignore"):
        if lu is None:
            return np.asarray(np.linalg.det(a))
        sign, logabs = conditioning.lapack_slogdet(lu)
        return np.asarray(sign * np.exp(logabs), dtype=a.dtype)   # as numpy's det computes it


def _ignoring_errors():
    """A context manager class that makes numpy ignore floating-point errors in its ``with`` block, as
    ``np.errstate(all="ignore")`` does, through the same mechanism (numpy >= 2: a context variable
    holding the ufuncs' error state, made by ``_make_extobj`` from the current one) without errstate's
    Python layers, which cost about as much as a small evaluation's einsum; np.errstate itself where
    numpy's internals are not those, or do not behave so when tried here."""
    try:
        from numpy._core import _ufunc_config   # noqa: PLC0415 - numpy's own module, probed once
        variable, make = _ufunc_config._extobj_contextvar, _ufunc_config._make_extobj
    except (ImportError, AttributeError):
        return None

    made = {}   # the error state made from each current one (it derives from it): made once, not per call

    class IgnoringErrors:
        __slots__ = ("token",)

        def __enter__(self):
            current = variable.get()
            ignoring = made.get(current)
            if ignoring is None:
                if len(made) >= 8:
                    made.clear()
                ignoring = made[current] = make(all="ignore")
            self.token = variable.set(ignoring)

        def __exit__(self, *exc_info):
            variable.reset(self.token)
    try:
        before = np.geterr()
        with IgnoringErrors():
            inside = np.geterr()
        works = set(inside.values()) == {"ignore"} and np.geterr() == before
    except Exception:   # noqa: BLE001 - any surprise: numpy's public errstate instead
        return None
    return IgnoringErrors if works else None


_IgnoringErrors = _ignoring_errors()


class NumpyBackend:
    """numpy; the other backends override what their library does differently."""

    name = "numpy"
    module = "numpy"
    extra: Optional[str] = None
    lazy = False   # a lazy backend returns unevaluated arrays: no memory limit applies
    specialises = True   # calls run the program specialised to their signature (specialise.py)
    writes_in_place = True   # a sum's terms are written into one buffer by the kernels (steps.py)
    gram_products = True   # g.T @ g runs as BLAS's symmetric rank-k update (gram.py)
    # capability -> why this backend turns it off (passgates.py: the plan reports the passes it skips)
    declines: dict[str, str] = {}
    # the class of this library's arrays that specialise.signature keys by signature_entry before any other test
    keyed_array_type: Optional[type] = None
    checks_after_compiling = False   # plan_compiler's function applies the matrix policies after it (deferredchecks.py)

    def __init__(self, lib):
        self.lib = lib

    def quiet(self):
        """A context in which inf/nan arise without numpy's warnings (README "Numerics")."""
        return _IgnoringErrors() if _IgnoringErrors is not None else np.errstate(all="ignore")

    # ---- values
    def to_array(self, name, value):
        """The validated array of this library for the value of symbol ``name``."""
        return numpy_value(name, value)

    def result_type(self, dtypes):
        return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)

    def prepare(self, arrays, sizes, dtype, program):
        """(arrays ready for the steps, placement): the placement is what steps create arrays with."""
        return arrays, dtype

    def finish(self, result, dtype, earlier, given):
        """An output the caller owns, of the evaluation's dtype."""
        result = np.asarray(result)
        if result.dtype != dtype and result.dtype.kind != "c":
            result = result.astype(dtype)
        elif not result.flags.owndata or not result.flags.writeable:
            result = result.copy()
        if any(np.may_share_memory(result, other) for other in earlier) or \
                any(np.may_share_memory(result, other) for other in given):
            result = result.copy()
        return result

    def constant(self, array, dims, place):
        """A numpy float64 ``array`` (an indexing matrix, dims ``dims``) as this library's array."""
        return array.astype(place, copy=False)

    def take(self, array, keys):
        """``array[keys]``, keys being ints and slices."""
        return np.asarray(array[keys])

    # ---- contractions (steps.py)
    def contraction(self, equation, shapes):
        """A function contracting arrays of ``shapes`` by ``equation``, planned once."""
        return numpy_contraction(equation, shapes)

    def compiling(self):
        """Whether this call is being traced by a compiler that cannot trace planned contractions or
        generated code (torch.compile): its contractions run unplanned, and nothing is specialised."""
        return False

    def plan_compiler(self, program, special, values):
        """A function compiling the function of ``special`` (``program`` specialised to the signature
        of ``values``, specialise.py), or None. The compiled function takes a call's values as
        given (unconverted) and returns its outputs finished (``finish``)."""
        return None

    def signature_entry(self, value):
        """The part of a call's signature (specialise.py) that a value of this library gives, beyond
        numpy arrays and numbers: None where such a value is converted in full on every call."""
        return None

    def einsum(self, step, args, sizes, place):
        """The value of an EinsumStep: its contraction, then its delta/broadcast structure."""
        core, factor = step.parts(args, sizes)
        if step.plain and factor == 1.0:   # no delta, broadcast or factor to write: the core is the value
            return core
        return self.assemble(core, step.core_ids, step.out_ids, step.id_dims, sizes, factor, place)

    def sum_of_einsums(self, terms, sizes, place):
        """Σ of EinsumSteps' values of one shape, given as (step, args) pairs."""
        total = None
        for step, args in terms:
            value = self.einsum(step, args, sizes, place)
            total = value if total is None else total + value
        return total

    def assemble(self, core, core_ids, out_ids, id_dims, sizes, factor, place):
        """The output for ids ``out_ids`` (of dims ``id_dims``) from ``core`` (or None: constant), times ``factor``."""
        return assemble(core, core_ids, out_ids, {i: sizes[d] for i, d in enumerate(id_dims)}, factor, place)

    def assembler(self, core_ids, out_ids, id_dims, sizes, place):
        """``assemble`` at fixed sizes, with no factor, as a function of the core (specialise.py)."""
        return assembler(core_ids, out_ids, {i: sizes[d] for i, d in enumerate(id_dims)}, place)

    # ---- elementwise functions
    def function(self, fn):
        """The implementation of the built-in or bound elementwise function ``fn``."""
        return fn.numeric

    def apply(self, impl, x):
        return np.asarray(impl(x))

    # ---- linear algebra: each takes an OnSingular
    inv = staticmethod(numpy_inv)
    solve = staticmethod(numpy_solve)
    logdet = staticmethod(numpy_logdet)
    det = staticmethod(numpy_det)

