"""Type stub of the compiled kernel (tensordiff/_kernels.pyx); kernels.py is its only caller."""

from typing import Any

import numpy as np
import numpy.typing as npt

KERNEL_VERSION: int

def products(target: npt.NDArray[Any], shape: npt.NDArray[np.intp], tstrides: npt.NDArray[np.intp],
             factors: tuple[npt.NDArray[Any], ...], fstrides: npt.NDArray[np.intp], refs: npt.NDArray[np.intp],
             group_subs: npt.NDArray[np.intp], group_inner: npt.NDArray[np.intp],
             sub_factors: npt.NDArray[np.intp], coeffs: npt.NDArray[np.float64], add: bool) -> None: ...

class BoundProducts:
    def __init__(self, refs: list[int], group_subs: list[int], group_inner: list[int], sub_factors: list[int],
                 coeffs: list[float], reads: list[int], factor_axes: list[tuple[int, ...]], view_of: tuple[int, ...],
                 add: bool, scale: float = ..., check_all: bool = ..., scale_factors: int = ...) -> None: ...
    def run(self, target: npt.NDArray[Any], args: tuple[Any, ...]) -> bool: ...

def one_norm(a: npt.NDArray[Any]) -> float | None: ...
def distinct_layout(array: Any, writable_floats: bool = ...) -> bool | None: ...
def tanh_contiguous(x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None: ...
def read_syntax(text: object, keys: dict[Any, int], order: list[Any], node_type: type, name_class: Any) -> bool: ...
