"""The jax backend: jax.numpy with LU-based linear algebra; traced values (a user's jit, vmap, grad)
take the NaN path, and a program that tensordiff jits itself checks its matrices after the call."""

import importlib

import numpy

from . import deferredchecks
from .arraylibrary import LUFactoredLibrary
from .binding import require_symmetric

__all__ = ["JaxBackend"]


class JaxBackend(LUFactoredLibrary):
    name = extra = "jax"
    module = "jax.numpy"
    special_module = "jax.scipy.special"
    specialises = True   # outside tracing: a traced call runs the steps, which jax.jit traces once anyway
    checks_after_compiling = True
    declines = {
        "writes_in_place": "jax arrays are immutable: each split term is one contraction and the terms are "
                           "added; inside a compiled call XLA reuses dead buffers itself",
        "gram_products": "XLA runs G.T @ G as a full dot (no symmetric rank-k update): the contraction path "
                         "forms the same product at the same cost, fused into the compiled call",
    }

    def __init__(self, lib):
        super().__init__(lib)
        import jax.scipy.linalg   # the lazy import of this optional backend
        self.xp = lib
        self.lu_factor, self.lu_solve = jax.scipy.linalg.lu_factor, jax.scipy.linalg.lu_solve
        jax = importlib.import_module("jax")
        self._array_type, self._tracer_type = jax.Array, jax.core.Tracer
        self._concrete_type = type(lib.zeros(0))   # the class of concrete arrays (a tracer is none)
        self.keyed_array_type = self._concrete_type   # specialise.signature keys these first, by signature_entry

    def is_array(self, value):
        return isinstance(value, self._array_type)

    def traced(self, array):
        return isinstance(array, self._tracer_type)

    def finish(self, result, dtype, earlier, given):
        """``result`` of the evaluation's dtype: jax arrays are immutable, so an output that is
        another output or a value given needs no copy."""
        if result.dtype != dtype and self.kind(result) != "c":
            return self.cast(result, dtype)
        return result

    def plan_compiler(self, program, special, values):
        """jax.jit of the whole straight-line function: one XLA computation instead of a dispatch per
        operation (about a millisecond each on a CPU); called only for a traceable program. The
        compiled function takes a call's values as given: the concrete jax arrays enter the jit as
        they are, and their conversion (to_array, prepare's cast: fixed by the signature's dtypes)
        and each output's ``finish`` are traced into it; numbers, numpy arrays and symmetric
        symbols' values are converted and checked before, as ``Specialised.arrays`` does. The
        matrix steps' singular and conditioning flags come back beside the outputs as one vector
        whose first entry says whether any policy must act, and the policies run after the call
        (deferredchecks.py), as the eager steps would run them."""
        jit = importlib.import_module("jax").jit
        xp, sizes, dtype, place = self.xp, special.sizes, special.dtype, special.place
        names = tuple(name for name in values if name in program.symbols)
        converted = frozenset(name for name in names
                              if name in program.symmetric or self.signature_entry(values[name]) is None)
        as_given = not converted and len(names) == len(values)   # the call's dict enters the jit as it is

        def compile_run(run):
            traced_checks = []   # the policies behind the flags, recorded when jit traces the function

            def traced(inputs):
                arrays = {name: self.to_array(name, value) for name, value in inputs.items()}
                arrays = self.prepare(arrays, sizes, dtype, None)[0]
                with deferredchecks.collecting() as found:
                    results = run(arrays, None)
                traced_checks[:] = found.checks
                outputs = tuple(self.finish(result, place, (), ()) for result in results)
                return outputs, deferredchecks.flag_values(xp, found.flags, found.checks)
            jitted = jit(traced)

            def inputs_of(values):
                inputs = {}
                for name in names:
                    value = values[name]
                    if name in converted:
                        value = self.to_array(name, value)
                        if name in program.symmetric:
                            require_symmetric(program.symmetric[name], value)
                    inputs[name] = value
                return inputs

            def call(values, functions):
                outputs, flags = jitted(values if as_given else inputs_of(values))
                if traced_checks:   # waited for first: numpy's read of a pending array waits several µs longer
                    deferredchecks.apply(traced_checks, numpy.asarray(flags.block_until_ready()))
                return outputs
            return call
        return compile_run

    def signature_entry(self, value):
        if type(value) is self._concrete_type:   # its abstract value: shape, dtype (and weak type), as jit keys it
            return (value.aval,)
        if isinstance(value, self._array_type) and not isinstance(value, self._tracer_type):   # traced: no shapes to bind
            return tuple(value.shape), value.dtype
        return None
