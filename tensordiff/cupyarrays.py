"""The cupy backend: numpy's operations on the GPU, LU-based linear algebra from cupyx."""

from .arraylibrary import LUFactoredLibrary

__all__ = ["CupyBackend"]


class CupyBackend(LUFactoredLibrary):
    name = module = extra = "cupy"
    special_module = "cupyx.scipy.special"
    specialises = True

    def __init__(self, lib):
        super().__init__(lib)
        import cupyx.scipy.linalg   # the lazy import of this optional backend
        self.xp = lib
        self.lu_factor, self.lu_solve = cupyx.scipy.linalg.lu_factor, cupyx.scipy.linalg.lu_solve

    def is_array(self, value):
        return isinstance(value, self.lib.ndarray)

    def shares_memory(self, a, b):
        return isinstance(b, self.lib.ndarray) and bool(self.lib.may_share_memory(a, b))

    def signature_entry(self, value):
        if type(value) is self.lib.ndarray:
            return tuple(value.shape), value.dtype, value.device.id
        return None
