"""The jax backend: jax.numpy with LU-based linear algebra; traced values (a user's jit, vmap, grad)
take the NaN path, and a program that tensordiff jits itself checks its matrices after the call."""

import importlib

import numpy

from . import deferredchecks
from .arraylibrary import LUFactoredLibrary

__all__ = ["JaxBackend"]


class JaxBackend(LUFactoredLibrary):
    name = extra = "jax"
    module = "jax.numpy"
    special_module = "jax.scipy.special"
    specialises = True   # outside tracing: a traced call runs the steps, which jax.jit traces once anyway
    checks_after_compiling = True

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

    def plan_compiler(self):
        """jax.jit of the whole straight-line function: one XLA computation instead of a dispatch per
        operation (about a millisecond each on a CPU); called only for a traceable program. The
        matrix steps' singular and conditioning flags come back beside the outputs, and their
        policies run after the call (deferredchecks.py), as the eager steps would run them."""
        jit = importlib.import_module("jax").jit
        xp = self.xp

        def compile_run(run):
            traced_checks = []   # the policies behind the flags, recorded when jit traces the function

            def traced(inputs):
                with deferredchecks.collecting() as found:
                    outputs = run(inputs, None)
                traced_checks[:] = found.checks
                return outputs, deferredchecks.flag_values(xp, found.flags)
            jitted = jit(traced)

            def call(inputs, functions):
                outputs, flags = jitted(inputs)
                if traced_checks:
                    deferredchecks.apply(traced_checks, numpy.asarray(flags))
                return outputs
            return call
        return compile_run

    def signature_entry(self, value):
        if isinstance(value, self._array_type) and not isinstance(value, self._tracer_type):   # traced: no shapes to bind
            return tuple(value.shape), value.dtype
        return None

