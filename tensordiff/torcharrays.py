"""The torch backend: torch's spellings of numpy's operations, devices, and torch.compile's tracing.

Under torch.compile (dynamo) no exception can leave the graph and no storage pointer can be read:
a singular matrix takes the NaN path, contractions go through torch.einsum, results are copied.
"""

import contextlib
import functools
import math

from . import conditioning
from .arraylibrary import ArrayLibrary
from .errors import EvaluationError

__all__ = ["TorchBackend", "TorchAsNumpy"]


class TorchAsNumpy:
    """torch under numpy's names: what torch spells differently, then torch's own (exp, arcsin, ...)."""

    def __init__(self, torch):
        self.torch = torch
        self.maximum, self.power, self.linalg = torch.clamp_min, torch.pow, torch.linalg

    def heaviside(self, x, value):
        return self.torch.heaviside(x, self.torch.full((), value, dtype=x.dtype, device=x.device))

    def __getattr__(self, name):
        return getattr(self.torch, name)


class TorchBackend(ArrayLibrary):
    name = module = extra = "torch"
    specialises = True
    special_module = "torch.special"
    declines = {
        "writes_in_place": "autograd and torch.compile refuse writes into tensors they track: each split "
                           "term is one contraction and the terms are added",
        "gram_products": "torch.matmul runs G.T @ G as a full product (no symmetric rank-k update): the "
                         "contraction path forms the same product at the same cost",
    }

    def __init__(self, lib):
        super().__init__(lib)
        self.xp = TorchAsNumpy(lib)

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

    def compiling(self):
        return self.lib.compiler.is_compiling()

    def signature_entry(self, value):
        if type(value) is self.lib.Tensor:   # a subclass may mean anything: converted in full
            return tuple(value.shape), value.dtype, value.device
        return None

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

