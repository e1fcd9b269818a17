"""Array backends: the operations evaluation needs from an array library, one row per library.

numpy runs the compiled program's own einsum and sum steps (evaluate.py, kernels.py); every
other backend runs the same plan through ``EinsumStep``/``SumStep`` here and the operations of
its row: contractions through opt_einsum's ``backend=`` dispatch, linear algebra with a
singular-matrix policy, elementwise functions, outputs with Kronecker deltas or broadcasts
(written by one contraction with identity and ones vectors, so immutable arrays work too), array
conversion and dtypes. A library is imported by name only when its backend is asked for; a
missing one is an EvaluationError naming the extra to install. dask evaluates lazily: the
result is a chunked dask array that whatever scheduler is active computes.
"""

import contextlib
import functools
import importlib
import math

import numpy as np
import opt_einsum

from . import conditioning
from .errors import EvaluationError
from .printing import short

__all__ = ["get_backend", "BACKENDS", "EinsumParts", "EinsumStep", "SumStep", "OnSingular", "SINGULAR_POLICIES",
           "infer_backend", "library_of"]

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


# ---------------------------------------------------------------- numpy

def _numpy_value(name, value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, list, tuple, dict)):
        raise EvaluationError(f"value for {name!r} must be a number or an array, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        return np.asarray(_finite_float(name, value))
    if isinstance(value, np.ma.MaskedArray):
        raise EvaluationError(f"value for {name!r} is a masked array, whose mask would be ignored: pass "
                              "value.filled(...) or only the entries you mean")
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's bad value
        raise EvaluationError(f"value for {name!r} cannot be read as an array: {exc}") from None
    return _numbers_only(name, array, array.dtype.kind, lambda a: a.astype(np.float64))


def _finite_float(name, value):
    try:
        return float(value)
    except OverflowError:
        raise EvaluationError(f"value for {name!r} is an int too large for float64") from None


def _numbers_only(name, array, kind, to_float64):
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


# NaN entries propagate quietly, as they do through elementwise functions (README "Numerics")

def _numpy_inv(a, on_singular):
    try:
        with np.errstate(all="ignore"):
            inverse = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return on_singular(lambda: np.full(a.shape, np.nan, dtype=a.dtype))
    return conditioning.checked_inverse(a, inverse, on_singular)


def _numpy_solve(a, b, on_singular):
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


def _numpy_logdet(a, on_singular):
    lu = conditioning.lapack_lu(a, on_singular, a.dtype)
    with np.errstate(all="ignore"):
        sign, logabs = np.linalg.slogdet(a) if lu is None else conditioning.lapack_slogdet(lu)
    logabs = np.asarray(logabs, dtype=a.dtype)
    if sign == 0:
        return on_singular(lambda: logabs)   # -inf
    return logabs


def _numpy_det(a, on_singular):
    lu = conditioning.lapack_lu(a, on_singular, a.dtype)
    with np.errstate(all="ignore"):
        if lu is None:
            return np.asarray(np.linalg.det(a))
        sign, logabs = conditioning.lapack_slogdet(lu)
        return np.asarray(sign * np.exp(logabs), dtype=a.dtype)   # as numpy's det computes it


class Backend:
    """numpy; the other backends override what their library does differently."""

    name = "numpy"
    module = "numpy"
    extra = None
    lazy = False   # a lazy backend returns unevaluated arrays: no memory limit applies

    def __init__(self, lib):
        self.lib = lib

    def quiet(self):
        """A context in which inf/nan arise without numpy's warnings (README "Numerics")."""
        return np.errstate(all="ignore")

    # ---- values
    def to_array(self, name, value):
        """The validated array of this library for the value of symbol ``name``."""
        return _numpy_value(name, value)

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

    # ---- elementwise functions
    def function(self, fn):
        """The implementation of the built-in or bound elementwise function ``fn``."""
        return fn.numeric

    def apply(self, impl, x):
        return np.asarray(impl(x))

    # ---- linear algebra: each takes an OnSingular
    inv = staticmethod(_numpy_inv)
    solve = staticmethod(_numpy_solve)
    logdet = staticmethod(_numpy_logdet)
    det = staticmethod(_numpy_det)


class _ArrayLibrary(Backend):
    """A library with numpy's names (``xp``): values are converted, outputs assembled by contraction."""

    xp = None

    def __init__(self, lib):
        super().__init__(lib)
        self._contractions = {}

    # ---- contractions (numpy runs its own einsum and sum steps, evaluate.py and fusion.py)
    def contract(self, equation, arrays):
        shapes = tuple(tuple(a.shape) for a in arrays)
        expression = self._contractions.get((equation, shapes))
        if expression is None:
            expression = opt_einsum.contract_expression(equation, *shapes, optimize="auto")
            if len(self._contractions) > 256:
                self._contractions.clear()
            self._contractions[(equation, shapes)] = expression
        return expression(*arrays, backend=self.module)

    def einsum(self, step, args, sizes, place):
        """The value of one Einsum node: its contraction, then its delta/broadcast structure."""
        factor = step.factor(args, sizes)
        core = None
        if step.tensor_args:
            arrays = [args[k] for k in step.tensor_args]
            if not _is_one(factor):
                smallest = _smallest(arrays)
                arrays[smallest] = arrays[smallest] * factor
            core, factor = self.contract(step.equation, arrays), 1.0
        return self.assemble(core, step.core_ids, step.out_ids, step.id_dims, sizes, factor, place)

    def sum_of_einsums(self, terms, sizes, place):
        """Σ of Einsum nodes of one shape, given as (EinsumStep, args) pairs."""
        total = None
        for step, args in terms:
            value = self.einsum(step, args, sizes, place)
            total = value if total is None else total + value
        return total

    def is_array(self, value):
        raise NotImplementedError

    def kind(self, array):
        return np.dtype(array.dtype).kind

    def from_numpy(self, array):
        return self.xp.asarray(array)

    def to_array(self, name, value):
        if self.is_array(value):
            return _numbers_only(name, value, self.kind(value), lambda a: self.cast(a, self.float64))
        return self.from_numpy(_numpy_value(name, value))

    @property
    def float64(self):
        return self.xp.float64

    def result_type(self, dtypes):
        return self.xp.result_type(*dtypes) if dtypes else self.float64

    def cast(self, array, dtype):
        return array if array.dtype == dtype else array.astype(dtype)

    def prepare(self, arrays, sizes, dtype, program):
        return {name: self.cast(a, dtype) for name, a in arrays.items()}, dtype

    def shares_memory(self, a, b):
        return False

    def finish(self, result, dtype, earlier, given):
        if result.dtype != dtype and self.kind(result) != "c":
            result = self.cast(result, dtype)
        if any(self.shares_memory(result, other) for other in (*earlier, *given)):
            result = self.copy(result)
        return result

    def copy(self, array):
        return array.copy()

    def constant(self, array, dims, place):
        return self.cast(self.from_numpy(array), place)

    def take(self, array, keys):
        return array[keys]

    # creation, with the placement ``prepare`` returned
    def eye(self, n, dim, place):
        return self.xp.eye(n, dtype=place)

    def ones(self, n, dim, place):
        return self.xp.ones(n, dtype=place)

    def full(self, value, place):
        return self.xp.full((), value, dtype=place)

    def assemble(self, core, core_ids, out_ids, id_dims, sizes, factor, place):
        """The output for ids ``out_ids`` from ``core`` (or None: constant), times ``factor``.

        A repeated output id becomes an identity matrix operand, an id the core lacks a ones
        vector: one contraction writes the structure, with no in-place writes.
        """
        if core is not None and tuple(out_ids) == tuple(core_ids):
            return core if _is_one(factor) else core * factor
        operands, subs = ([core], [tuple(core_ids)]) if core is not None else ([], [])
        placed = set(core_ids) if core is not None else set()
        out, fresh = [], len(id_dims)
        for i in out_ids:
            size = sizes[id_dims[i]]
            if i in out:
                operands.append(self.eye(size, id_dims[i], place))
                subs.append((i, fresh))
                out.append(fresh)
                fresh += 1
                continue
            if i not in placed:
                operands.append(self.ones(size, id_dims[i], place))
                subs.append((i,))
                placed.add(i)
            out.append(i)
        if not operands:
            return self.full(factor, place) if isinstance(factor, (int, float)) else factor
        if not _is_one(factor):
            smallest = _smallest(operands)
            operands[smallest] = operands[smallest] * factor
        return self.contract(_equation(subs, out), operands)

    # elementwise: the built-in functions through their table rows (functions.py), bound user functions as given
    special_module = None   # the library's scipy.special counterpart, imported when a function needs it

    def function(self, fn):
        if fn.user:
            return fn.numeric
        if fn.array is None:
            raise EvaluationError(f"function {fn.display} has no {self.name} implementation")
        return functools.partial(fn.array, self.xp, LazyModule(self.special_module))

    def apply(self, impl, x):
        return impl(x)

    def traced(self, array):
        """Whether ``array`` is a traced value (jax.jit/vmap/grad, torch.compile): it has no Python bool."""
        return False

    def logdet(self, a, on_singular):
        sign, logabs = self.xp.linalg.slogdet(a)
        if self.traced(sign):   # traced: the NaN path, whatever the policy (docs/interop.md)
            return logabs
        if bool(sign == 0):
            return on_singular(lambda: logabs)   # slogdet's log|det| is already -inf
        return logabs

    def det(self, a, on_singular):
        return self.xp.linalg.det(a)


def _is_one(factor):
    return isinstance(factor, (int, float)) and factor == 1.0


def _numel(array):
    return math.prod(array.shape)


def _smallest(arrays):
    """The position of the array with the fewest entries (a loop: torch.compile traces no min(key=))."""
    best = 0
    for k in range(1, len(arrays)):
        if _numel(arrays[k]) < _numel(arrays[best]):
            best = k
    return best


def _equation(subs, out):
    symbol = opt_einsum.get_symbol
    return ",".join("".join(symbol(i) for i in s) for s in subs) + "->" + "".join(symbol(i) for i in out)


class LazyModule:
    """A module imported on first attribute access (jax.scipy.special only once erf is evaluated)."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attribute):
        if self.name is None:
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self.name), attribute)


# ---------------------------------------------------------------- the other libraries

class _TorchAsNumpy:
    """torch under numpy's names: what torch spells differently, then torch's own (exp, arcsin, ...)."""

    def __init__(self, torch):
        self.torch = torch
        self.maximum, self.power, self.linalg = torch.clamp_min, torch.pow, torch.linalg

    def heaviside(self, x, value):
        return self.torch.heaviside(x, self.torch.full((), value, dtype=x.dtype, device=x.device))

    def __getattr__(self, name):
        return getattr(self.torch, name)


class _Torch(_ArrayLibrary):
    name = module = extra = "torch"
    special_module = "torch.special"

    def __init__(self, lib):
        super().__init__(lib)
        self.xp = _TorchAsNumpy(lib)

    def is_array(self, value):
        return isinstance(value, self.lib.Tensor)

    def kind(self, array):
        dtype = array.dtype
        if dtype.is_complex:
            return "c"
        if dtype.is_floating_point:
            return "f"
        return "b" if dtype == self.lib.bool else "i"

    def from_numpy(self, array):
        return self.lib.as_tensor(array)

    @property
    def float64(self):
        return self.lib.float64

    def result_type(self, dtypes):
        return functools.reduce(self.lib.promote_types, dtypes) if dtypes else self.lib.float64

    def cast(self, array, dtype):
        return array.to(dtype=dtype)

    def prepare(self, arrays, sizes, dtype, program):
        devices = {a.device for a in arrays.values()} - {self.lib.device("cpu")}
        if len(devices) > 1:
            raise EvaluationError(f"values are on several devices ({', '.join(map(str, devices))}): move them to one")
        device = devices.pop() if devices else self.lib.device("cpu")
        return {name: a.to(dtype=dtype, device=device) for name, a in arrays.items()}, (dtype, device)

    def finish(self, result, place, earlier, given):
        return super().finish(result, place[0], earlier, given)

    def copy(self, array):
        return array.clone()

    def constant(self, array, dims, place):
        return self.lib.tensor(array, dtype=place[0], device=place[1])   # a copy: the array is shared

    def take(self, array, keys):
        """torch slices take no negative steps: a reversed slice is a flip of a forward one."""
        for axis in reversed(range(len(keys))):
            key = keys[axis]
            if isinstance(key, slice) and key.step is not None and key.step < 0:
                positions = range(array.shape[axis])[key]
                array = array.flip(axis)
                first = array.shape[axis] - 1 - positions.start
                keys = keys[:axis] + (slice(first, first + len(positions) * -key.step, -key.step),) + keys[axis + 1:]
        return array[keys]

    def shares_memory(self, a, b):
        if self.lib.compiler.is_compiling():   # storage pointers cannot be traced: copy to be sure
            return True
        return isinstance(b, self.lib.Tensor) and \
            a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()

    def eye(self, n, dim, place):
        return self.lib.eye(n, dtype=place[0], device=place[1])

    def ones(self, n, dim, place):
        return self.lib.ones(n, dtype=place[0], device=place[1])

    def full(self, value, place):
        return self.lib.full((), value, dtype=place[0], device=place[1])

    def traced(self, array):
        return self.lib.compiler.is_compiling()

    def quiet(self):
        return contextlib.nullcontext() if self.lib.compiler.is_compiling() else super().quiet()   # dynamo
        # traces no np.errstate

    def contract(self, equation, arrays):
        if self.lib.compiler.is_compiling():   # dynamo traces torch.einsum, not opt_einsum's cached plans
            return self.lib.einsum(equation, *arrays)
        return super().contract(equation, arrays)

    def inv(self, a, on_singular):
        if self.traced(a):   # no exception inside a compiled graph: NaN where singular (docs/interop.md)
            inverse, info = self.lib.linalg.inv_ex(a)
            return self.lib.where(info == 0, inverse, math.nan)
        try:
            inverse = self.lib.linalg.inv(a)
        except self.lib.linalg.LinAlgError:
            return on_singular(lambda: self.lib.full(a.shape, math.nan, dtype=a.dtype, device=a.device))
        return conditioning.checked_inverse(a, inverse, on_singular)

    def solve(self, a, b, on_singular):
        if self.traced(a):
            flat, info = self.lib.linalg.solve_ex(a, b.reshape(b.shape[0], -1))
            return self.lib.where(info == 0, flat, math.nan).reshape(a.shape[:1] + b.shape[1:])
        flat, probes = conditioning.with_probes(self, a, b.reshape(b.shape[0], -1), on_singular)
        try:
            flat = self.lib.linalg.solve(a, flat)
        except self.lib.linalg.LinAlgError:
            return on_singular(lambda: self.lib.full(a.shape[:1] + b.shape[1:], math.nan, dtype=b.dtype,
                                                     device=b.device))
        return conditioning.checked_probes(a, flat, probes, on_singular).reshape(a.shape[:1] + b.shape[1:])

    def concatenate_columns(self, a, b):
        return self.lib.cat([a, b], dim=1)


class _LUBackend(_ArrayLibrary):
    """jax and cupy return inf/nan for a singular matrix: an exact zero pivot of LU detects it, as LAPACK's does."""

    def _factor(self, a, b, shape, on_singular):
        """(a's LU, None); or (None, the result inv(a) @ b of ``shape``) when a is singular (a zero
        pivot) or traced: then no Python bool is taken of a traced flag, the result is NaN where a is
        singular, and conditioning is not checked (docs/interop.md)."""
        lu = self.lu_factor(a)
        singular = (self.xp.diagonal(lu[0]) == 0).any()
        if self.traced(singular):
            return None, self.xp.where(singular, math.nan, self.lu_solve(lu, b).reshape(shape))
        if bool(singular):
            return None, on_singular(lambda: self.xp.full(shape, math.nan, dtype=b.dtype))
        return lu, None

    def inv(self, a, on_singular):
        eye = self.xp.eye(a.shape[0], dtype=a.dtype)
        lu, early = self._factor(a, eye, a.shape, on_singular)
        if lu is None:
            return early
        return conditioning.checked_inverse(a, self.lu_solve(lu, eye), on_singular)

    def solve(self, a, b, on_singular):
        shape, flat = a.shape[:1] + b.shape[1:], b.reshape(b.shape[0], -1)
        lu, early = self._factor(a, flat, shape, on_singular)
        if lu is None:
            return early
        flat, probes = conditioning.with_probes(self, a, flat, on_singular)
        return conditioning.checked_probes(a, self.lu_solve(lu, flat), probes, on_singular).reshape(shape)

    def concatenate_columns(self, a, b):
        return self.xp.concatenate([a, b], axis=1)


# Conditioning on torch, jax and cupy (conditioning.py): inv from its result, solve by probe
# vectors solved with the right-hand sides; det and logdet are checked on numpy and dask only.


class _Jax(_LUBackend):
    name = extra = "jax"
    module = "jax.numpy"
    special_module = "jax.scipy.special"

    def __init__(self, lib):
        super().__init__(lib)
        import jax.scipy.linalg   # the lazy import of this optional backend
        self.xp = lib
        self.lu_factor, self.lu_solve = jax.scipy.linalg.lu_factor, jax.scipy.linalg.lu_solve
        jax = importlib.import_module("jax")
        self._array_type, self._tracer_type = jax.Array, jax.core.Tracer

    def is_array(self, value):
        return isinstance(value, self._array_type)

    def traced(self, array):
        return isinstance(array, self._tracer_type)


class _Cupy(_LUBackend):
    name = module = extra = "cupy"
    special_module = "cupyx.scipy.special"

    def __init__(self, lib):
        super().__init__(lib)
        import cupyx.scipy.linalg   # the lazy import of this optional backend
        self.xp = lib
        self.lu_factor, self.lu_solve = cupyx.scipy.linalg.lu_factor, cupyx.scipy.linalg.lu_solve

    def is_array(self, value):
        return isinstance(value, self.lib.ndarray)

    def shares_memory(self, a, b):
        return isinstance(b, self.lib.ndarray) and bool(self.lib.may_share_memory(a, b))


# ---------------------------------------------------------------- plan steps for a non-numpy backend

class EinsumParts:
    """How an Einsum node is evaluated: its tensor operands contracted to the core (the distinct
    output ids they carry), scalar operands, orphan dims and the coefficient folded into a factor,
    then the core written onto the output's deltas and broadcasts."""

    def __init__(self, node):
        self.coeff = node.coeff
        self.subscripts = node.subscripts
        self.tensor_args = [k for k, op in enumerate(node.operands) if op.shape]
        self.scalar_args = [k for k, op in enumerate(node.operands) if not op.shape]
        used = set()
        for k in self.tensor_args:
            used.update(node.subscripts[k])
        self.core_ids = tuple(i for i in dict.fromkeys(node.out) if i in used)
        self.out_ids = node.out
        self.id_dims = node.dims
        self.orphan_dims = [node.dims[i] for i in range(len(node.dims)) if i not in used and i not in node.out]
        self.equation = _equation([node.subscripts[k] for k in self.tensor_args], self.core_ids)

    def factor(self, args, sizes):
        """The coefficient times the sizes of orphan dims times the scalar operands."""
        factor = self.coeff * math.prod([sizes[d] for d in self.orphan_dims])
        for k in self.scalar_args:
            factor = factor * args[k]
        return factor


class EinsumStep(EinsumParts):
    """One Einsum node on a non-numpy backend."""

    def __init__(self, node, backend):
        super().__init__(node)
        self.backend = backend

    def describe(self):
        return f"einsum {self.equation!r} ({self.backend.name})"

    def __call__(self, args, sizes, place):
        return self.backend.sum_of_einsums([(self, args)], sizes, place)


class SumStep:
    """A sum; its einsum terms used nowhere else are computed inside it (one task per block in dask)."""

    def __init__(self, node, backend, inline):
        self.backend = backend
        self.terms = [(EinsumStep(term, backend), len(term.operands)) if fused else (None, 1)
                      for term, fused in zip(node.terms, inline)]
        self.children = tuple(child for term, fused in zip(node.terms, inline)
                              for child in (term.operands if fused else (term,)))

    def describe(self):
        return f"sum of {len(self.terms)} terms ({sum(step is not None for step, _ in self.terms)} fused)"

    def __call__(self, args, sizes, place):
        einsums, others, position = [], [], 0
        for step, count in self.terms:
            if step is None:
                others.append(args[position])
            else:
                einsums.append((step, args[position:position + count]))
            position += count
        total = self.backend.sum_of_einsums(einsums, sizes, place) if einsums else None
        for other in others:
            total = other if total is None else total + other
        return total


# ---------------------------------------------------------------- the table

# name: (library imported, "tensordiff module.backend class"); the extra to install is the name
BACKENDS = {
    "numpy": ("numpy", "backends.Backend"),
    "dask": ("dask.array", "daskarrays.DaskBackend"),
    "torch": ("torch", "backends._Torch"),
    "jax": ("jax.numpy", "backends._Jax"),
    "cupy": ("cupy", "backends._Cupy"),
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
