"""The jax backend: jax.numpy with LU-based linear algebra; traced values (jit, vmap, grad) take the NaN path."""

import importlib

from .arraylibrary import LUFactoredLibrary

__all__ = ["JaxBackend"]


class JaxBackend(LUFactoredLibrary):
    name = extra = "jax"
    module = "jax.numpy"
    special_module = "jax.scipy.special"
    specialises = True   # outside tracing: a traced call runs the steps, which jax.jit traces once anyway

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
        operation (about a millisecond each on a CPU); called only for a traceable program."""
        jit = importlib.import_module("jax").jit

        def compile_run(run):
            jitted = jit(lambda inputs: run(inputs, None))
            return lambda inputs, functions: jitted(inputs)
        return compile_run

    def signature_entry(self, value):
        if isinstance(value, self._array_type) and not isinstance(value, self._tracer_type):   # traced: no shapes to bind
            return tuple(value.shape), value.dtype
        return None

