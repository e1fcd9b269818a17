"""Array libraries with numpy's names (torch, jax, cupy): the numpy backend's operations on their arrays.

Values are converted and checked as numpy's are; contractions run through opt_einsum's
``backend=`` dispatch; outputs with Kronecker deltas or broadcasts are written by one contraction
with identity and ones vectors, so immutable arrays work too; elementwise functions are the
library's own through their table rows (functions.py). jax and cupy share LU-based linear algebra
(``LUFactoredLibrary``). Each library's module (torcharrays.py, jaxarrays.py, cupyarrays.py) holds
only what it spells differently.
"""

import functools
import importlib
import math
from typing import Optional

import numpy as np
import opt_einsum

from . import conditioning, deferredchecks
from .errors import EvaluationError
from .numpyarrays import NumpyBackend, numbers_only, numpy_value

__all__ = ["ArrayLibrary", "LUFactoredLibrary", "LazyModule", "is_one", "smallest", "einsum_equation"]


class ArrayLibrary(NumpyBackend):
    """A library with numpy's names (``xp``): values are converted, outputs assembled by contraction."""

    xp = None

    def __init__(self, lib):
        super().__init__(lib)
        self._contractions = {}

    specialises = False
    writes_in_place = False   # immutable arrays (jax), autograd and torch.compile: contractions, then sums
    gram_products = False   # no syrk behind g.T @ g: the full product is as cheap
    declines = {
        "writes_in_place": "the one-pass kernels and buffer donation write into host numpy buffers: "
                           "each split term is one contraction of the library's arrays, and the terms are added",
        "gram_products": "the library's matmul runs G.T @ G as a full product (no symmetric rank-k update): "
                         "its contraction path forms the same product at the same cost",
    }

    # ---- contractions (steps.py)
    def contraction(self, equation, shapes):
        expression = opt_einsum.contract_expression(equation, *shapes, optimize="auto")
        return functools.partial(expression, backend=self.module)

    def contract(self, equation, arrays):
        """``equation`` contracted now (the structure of ``assemble``; traced contractions)."""
        shapes = tuple(tuple(a.shape) for a in arrays)
        expression = self._contractions.get((equation, shapes))
        if expression is None:
            expression = opt_einsum.contract_expression(equation, *shapes, optimize="auto")
            if len(self._contractions) > 256:
                self._contractions.clear()
            self._contractions[(equation, shapes)] = expression
        return expression(*arrays, backend=self.module)

    def assembler(self, core_ids, out_ids, id_dims, sizes, place):
        return lambda core: self.assemble(core, core_ids, out_ids, id_dims, sizes, 1.0, place)

    def is_array(self, value):
        raise NotImplementedError

    def kind(self, array):
        return np.dtype(array.dtype).kind

    def from_numpy(self, array):
        return self.xp.asarray(array)

    def to_array(self, name, value):
        if self.is_array(value):
            return numbers_only(name, value, self.kind(value), lambda a: self.cast(a, self.float64))
        return self.from_numpy(numpy_value(name, value))

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
            return core if is_one(factor) else core * factor
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
        if not is_one(factor):
            least = smallest(operands)
            operands[least] = operands[least] * factor
        return self.contract(einsum_equation(subs, out), operands)

    # elementwise: the built-in functions through their table rows (functions.py), bound user functions as given
    special_module: Optional[str] = None   # the library's scipy.special counterpart, imported when a function needs it

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
        if self.traced(sign):   # traced: the NaN path; a compiled call applies the policy after it (deferredchecks.py)
            deferredchecks.defer(sign == 0, None, lambda: on_singular(lambda: None), None, logabs.dtype)
            return logabs
        if bool(sign == 0):
            return on_singular(lambda: logabs)   # slogdet's log|det| is already -inf
        return logabs

    def det(self, a, on_singular):
        return self.xp.linalg.det(a)


def is_one(factor):
    return isinstance(factor, (int, float)) and factor == 1.0


def numel(array):
    return math.prod(array.shape)


def smallest(arrays):
    """The position of the array with the fewest entries (a loop: torch.compile traces no min(key=))."""
    best = 0
    for k in range(1, len(arrays)):
        if numel(arrays[k]) < numel(arrays[best]):
            best = k
    return best


def scaled_operand(arrays):
    """The position of the operand that a contraction's scalar factor scales: the smallest, or None
    where one is empty, since then the factor must scale the contracted (zero) result: a sum over no
    terms times an inf or nan factor is nan, as ``np.sum(x) * c`` and so ``np.mean`` of nothing."""
    least = smallest(arrays)
    return None if numel(arrays[least]) == 0 else least


def einsum_equation(subs, out):
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


class LUFactoredLibrary(ArrayLibrary):
    """jax and cupy return inf/nan for a singular matrix: an exact zero pivot of LU detects it, as LAPACK's does."""

    def _factor(self, a, b, shape, on_singular, inverse=False):
        """(a's LU, None); or (None, the result inv(a) @ b of ``shape``) when a is singular (a zero
        pivot) or traced: then no Python bool is taken of a traced flag, the result is NaN where a is
        singular, and conditioning is checked only in a call that tensordiff compiled, after it
        (deferredchecks.py; docs/interop.md)."""
        lu = self.lu_factor(a)
        singular = (self.xp.diagonal(lu[0]) == 0).any()
        if self.traced(singular):
            return None, self._traced_solve(a, lu, singular, b, on_singular, inverse).reshape(shape)
        if bool(singular):
            return None, on_singular(lambda: self.xp.full(shape, math.nan, dtype=b.dtype))
        return lu, None

    def _traced_solve(self, a, lu, singular, flat, on_singular, inverse):
        """inv(a) @ flat under tracing, NaN where a is singular; in a compiled call the singular flag
        and an rcond estimate (from the inverse, or from probe columns solved beside ``flat``) are
        recorded for the policies to read after the call (``inverse``: flat is the identity)."""
        if not deferredchecks.active():
            return self.xp.where(singular, math.nan, self.lu_solve(lu, flat))
        checks = on_singular.checks_conditioning and a.shape[0]
        columns, probes = (flat, None) if inverse or not checks else conditioning.with_probes(self, a, flat, on_singular)
        solved = self.lu_solve(lu, columns)
        rcond = None
        if inverse and checks:
            rcond = conditioning.rcond_from_inverse(a, solved)
        elif probes is not None:
            rcond = conditioning.rcond_from_probes(a, solved[:, -2:], probes)
            solved = solved[:, :-2]
        deferredchecks.defer(singular, rcond, lambda: on_singular(lambda: None), on_singular, solved.dtype)
        return self.xp.where(singular, math.nan, solved)

    def inv(self, a, on_singular):
        eye = self.xp.eye(a.shape[0], dtype=a.dtype)
        lu, early = self._factor(a, eye, a.shape, on_singular, inverse=True)
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

