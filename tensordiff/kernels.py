"""Writing structured terms into an output: Kronecker deltas, broadcasts and sums of products.

A derivative is a sum of terms such as c · A[i,k] B[j] δ[k,l]. None of them is built by
multiplying identity tensors. ``diagonal_view`` gives the writable strided view of the output
indexed by a term's distinct indices (the view's stride along index k is the sum of the output
strides of every axis holding k), and ``products`` writes a whole sum of products of small
factors into such a view in one pass: out[I] = Σ_t c_t Π_f F_tf[I restricted to f's axes].

``products`` has two implementations with bit-identical results: the compiled one
(``tensordiff/_kernels.pyx``, built by setup.py) and the numpy twin below, used when the extension
is not built or when TENSORDIFF_NO_KERNELS=1. ``kernels_available()`` tells which is in use.
"""

import importlib.util
import math
import os
import warnings
from collections.abc import Callable, Hashable, Sequence
from types import ModuleType
from typing import Any, Optional


import numpy as np
from numpy.lib.stride_tricks import as_strided

KERNEL_VERSION = 5   # of the signature kernels.py calls; _kernels.pyx states the same number

_compiled: Optional[ModuleType]
try:
    from . import _kernels as _compiled
    _why_not_compiled = ""
except ImportError as exc:  # not built: no Cython or no compiler at install time
    _compiled = None
    _why_not_compiled = "not built (installed without Cython or a C compiler)" \
        if importlib.util.find_spec(f"{__package__}._kernels") is None else f"not loadable ({exc})"
if _compiled is not None and getattr(_compiled, "KERNEL_VERSION", None) != KERNEL_VERSION:
    warnings.warn("tensordiff's compiled kernels are out of date (built from older source): using the numpy "
                  "twin; rebuild with pip install -e . (or python setup.py build_ext --inplace)", RuntimeWarning,
                  stacklevel=2)
    _compiled = None
    _why_not_compiled = "out of date (built from older source)"

__all__ = ["assemble", "products", "ProductsLayout", "kernels_available", "kernels_info", "use_compiled",
           "compiled_in_use", "compiled_elementwise", "diagonal_view", "view_axes", "one_norm",
           "compiled_distinct_layout", "KernelsNotBuiltWarning", "twin_chunk_shape", "syntax_reader"]

_switched_off = os.environ.get("TENSORDIFF_NO_KERNELS", "0") not in ("", "0")
# "noted": the missing kernels were reported (the out-of-date warning above already did so)
_state = {"compiled": _compiled is not None and not _switched_off, "noted": _why_not_compiled.startswith("out")}
_KERNEL_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
# the compiled test of an array's layout (buffers.py reads it: a check, not arithmetic, so it runs whichever
# kernels are in use); None without the compiled module
compiled_distinct_layout: Optional[Callable[..., Optional[bool]]] = \
    _compiled.distinct_layout if _compiled is not None else None
# parse's compiled reader of syntax (_kernelparse.pxi); getattr: a build from before it has none
_read_syntax: Optional[Callable[..., bool]] = getattr(_compiled, "read_syntax", None)


class KernelsNotBuiltWarning(UserWarning):
    """The compiled kernels are missing, so the numpy twin runs: same results, slower."""


def kernels_available() -> bool:
    """Whether the compiled (Cython) kernels are in use.

    They are built at install time when Cython and a C compiler are there. Without them, or with
    the environment variable ``TENSORDIFF_NO_KERNELS=1``, a numpy twin with bit-identical results
    writes sums of derivative terms, somewhat slower. The first call in a process where the kernels
    are missing (not switched off on purpose) warns once, with the reason and how to build them.

    Returns
    -------
    bool
        True for the compiled kernels, False for the numpy twin.

    Examples
    --------
    >>> import tensordiff as td
    >>> td.kernels_available() in (True, False)
    True
    """
    if _compiled is None and not _state["noted"]:
        _state["noted"] = True
        warnings.warn(f"tensordiff: the compiled kernels are {_why_not_compiled}: the numpy twin is used, with "
                      "the same results, but derivatives with many terms evaluate slower (3.4x on an order-5 Hessian). To build "
                      "them, install with Cython and a C compiler: pip install --no-binary tensordiff-symbolic "
                      "--force-reinstall tensordiff-symbolic", KernelsNotBuiltWarning, stacklevel=2)
    return _state["compiled"]


def kernels_info() -> str:
    """Which kernels are in use and why, in one line (``python -m tensordiff --info`` prints it).

    >>> from tensordiff.kernels import kernels_info
    >>> kernels_info().startswith(("compiled", "numpy twin"))
    True
    """
    if _state["compiled"] and _compiled is not None:
        return f"compiled (Cython, {os.path.basename(_compiled.__file__ or '_kernels')})"
    if _compiled is None:
        return f"numpy twin: the compiled kernels are {_why_not_compiled}"
    if _switched_off:
        return "numpy twin: the compiled kernels are built but switched off (TENSORDIFF_NO_KERNELS=1)"
    return "numpy twin: the compiled kernels are built but switched off (kernels.use_compiled(False))"


def compiled_in_use() -> bool:
    """Whether the compiled kernels run now (``kernels_available`` without its one-time warning):
    a bound sum asks on every call, as ``use_compiled`` may switch them.

    >>> from tensordiff.kernels import compiled_in_use, kernels_available
    >>> compiled_in_use() == kernels_available()
    True
    """
    return _state["compiled"]


def compiled_elementwise(name: str) -> Optional[Callable[..., None]]:
    """The compiled elementwise loop ``name`` (``"tanh_contiguous"``, kernelfunctions.py's caller)
    while the compiled kernels are in use; None while the twin runs.

    >>> from tensordiff.kernels import compiled_elementwise, compiled_in_use
    >>> (compiled_elementwise("tanh_contiguous") is not None) == compiled_in_use()
    True
    """
    if not _state["compiled"] or _compiled is None:
        return None
    return getattr(_compiled, name)


def syntax_reader() -> Optional[Callable[..., bool]]:
    """parse's compiled reader of syntax (``read_syntax`` of _kernelparse.pxi) while the compiled
    kernels are in use, else None: parsesyntax.Parser, its pure-Python twin, reads the text then.

    >>> from tensordiff.kernels import compiled_in_use, syntax_reader
    >>> (syntax_reader() is not None) <= compiled_in_use()
    True
    """
    return _read_syntax if _state["compiled"] else None


def one_norm(a: np.ndarray) -> Optional[np.floating]:
    """The 1-norm of a numpy matrix as ``np.maximum.reduce(np.add.reduce(np.absolute(a), axis=0))``
    gives it (the same number, of a's dtype), by the compiled kernel where it sums as numpy does (a
    C-contiguous float64/float32 matrix with entries, not a single column of several rows); None
    elsewhere, or where the twin runs.

    >>> import numpy as np
    >>> from tensordiff.kernels import one_norm
    >>> norm = one_norm(np.array([[1.0, -2.0], [3.0, 4.0]]))
    >>> norm is None or float(norm) == 6.0
    True
    """
    if not _state["compiled"] or _compiled is None:
        return None
    norm = _compiled.one_norm(a)
    return None if norm is None else a.dtype.type(norm)


def use_compiled(flag: bool) -> bool:
    """Switch between the compiled kernels and the numpy twin; returns the previous setting.

    >>> from tensordiff import kernels
    >>> previous = kernels.use_compiled(False)   # e.g. to compare the two
    >>> kernels.kernels_available()
    False
    >>> _ = kernels.use_compiled(previous)
    """
    if flag and _compiled is None:
        raise RuntimeError("the compiled kernels are not built: reinstall with Cython and a C compiler "
                           "(pip install -e . builds tensordiff/_kernels.pyx)")
    previous = _state["compiled"]
    _state["compiled"] = bool(flag)
    return previous


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIAGONALS: dict[tuple, str] = {}   # out_ids -> the einsum equation of their diagonal view ("abab->ab")
_einsum = getattr(np.einsum, "_implementation", np.einsum)   # past __array_function__: numpy's own arrays


def diagonal_view(array: np.ndarray, out_ids: Sequence[Hashable]) -> np.ndarray:
    """The writable view of ``array`` indexed by the distinct ids of ``out_ids`` (first appearance order)."""
    key = out_ids if isinstance(out_ids, tuple) else tuple(out_ids)
    equation = _DIAGONALS.get(key)
    if equation is None and 0 < len(key) <= len(_LETTERS):
        letter = {u: _LETTERS[k] for k, u in enumerate(dict.fromkeys(key))}
        equation = "".join(letter[i] for i in key) + "->" + "".join(letter.values())
        if len(_DIAGONALS) < 1024:
            _DIAGONALS[key] = equation
    if equation is not None and array.flags.writeable:   # einsum's diagonal of one operand is a view of it
        return _einsum(equation, array)
    unique = list(dict.fromkeys(out_ids))
    strides = [0] * len(unique)
    shape = [0] * len(unique)
    position = {u: k for k, u in enumerate(unique)}
    for axis, i in enumerate(out_ids):
        strides[position[i]] += array.strides[axis]
        shape[position[i]] = array.shape[axis]
    if array.flags.c_contiguous and array.flags.writeable and array.size:   # the same view, without as_strided's
        return np.ndarray(tuple(shape), array.dtype, buffer=array, strides=tuple(strides))   # Python overhead
    return as_strided(array, shape=tuple(shape), strides=tuple(strides))


TWIN_CHUNK_ENTRIES = 1 << 12   # 32 KiB of float64 at least: a chunk's products are small beside the output
TWIN_CHUNKS = 32               # and at most this many chunks: a chunk costs a few numpy calls


def twin_chunk_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of a chunk of rows (a slice along the first axis) of a target of ``shape`` in which
    the numpy twin adds a sum into a buffer written in place (fusion.py): its products, which numpy
    forms whole, are a chunk's size (a 32nd of the target, or 4,096 entries where that is more), not
    the target's; the same numbers, entry by entry. At least one row; the target's own shape where
    it has fewer than two axes.

    >>> from tensordiff.kernels import twin_chunk_shape
    >>> twin_chunk_shape((20000, 100)), twin_chunk_shape((4000, 20)), twin_chunk_shape((3, 4)), twin_chunk_shape((7,))
    ((625, 100), (204, 20), (3, 4), (7,))
    """
    shape = tuple(shape)
    if len(shape) < 2:
        return shape
    row = max(math.prod(shape[1:]), 1)
    entries = max(TWIN_CHUNK_ENTRIES, shape[0] * row // TWIN_CHUNKS)
    return (max(1, min(shape[0], entries // row)),) + shape[1:]


def view_axes(out_ids: Sequence[Hashable]) -> tuple[int, ...]:
    """For each axis of an array, its axis in ``diagonal_view(array, out_ids)`` (the distinct ids
    in order of first appearance).

    >>> from tensordiff.kernels import view_axes
    >>> view_axes(("i", "j", "i")), view_axes(())
    ((0, 1, 0), ())
    """
    order = {u: k for k, u in enumerate(dict.fromkeys(out_ids))}
    return tuple(order[i] for i in out_ids)


def products(target: np.ndarray, terms: Sequence[tuple[float, Sequence[tuple[np.ndarray, tuple[int, ...]]]]],
             add: bool) -> np.ndarray:
    """Write Σ_t coeff_t · Π factors into ``target`` (``add``: add to what is there).

    ``terms`` is a list of ``(coeff, factors)``; each factor is ``(array, axes)`` where ``axes[k]``
    is the target axis that the array's axis k runs along (distinct; a 0-d factor has ``()``).
    Factors with the target's dtype, and a float64/float32 target, use the compiled kernel.
    """
    if not terms:
        return target
    layout = ProductsLayout([[(id(array), axes) for array, axes in factors] for _, factors in terms], target.ndim)
    arrays = {id(array): array for _, factors in terms for array, _ in factors}
    return layout.run(target, arrays, [coeff for coeff, _ in terms], add)


class ProductsLayout:
    """How ``products`` walks a sum: its terms grouped by the factors they read along the last
    axis, computed once per plan. Factors are named by keys; ``run`` takes the arrays by key.

    Per row, a group costs one pass along the row however many terms share it: Σ_t s_t · F[row]
    is computed as (Σ_t s_t) · F[row]. Within a term, factors fixed over a block of rows come
    first (the compiled loop hoists their product), then those that change from row to row.
    Both twins use this grouping and this order, so they agree bit for bit.
    """

    def __init__(self, terms, ndim):
        last = ndim - 1
        groups: dict[tuple, list] = {}
        for t, factors in enumerate(terms):
            along = tuple(f for f in factors if last in f[1])
            constant = [f for f in factors if last not in f[1] and last - 1 not in f[1]] + \
                       [f for f in factors if last not in f[1] and last - 1 in f[1]]
            groups.setdefault(along, []).append((t, constant))
        self.groups = list(groups.items())
        self.ndim = ndim
        distinct: dict[Any, int] = {}
        refs, group_subs, group_inner, sub_factors, self.term_of_sub = [], [0], [], [], []

        def refer(factor):
            refs.append(distinct.setdefault(factor, len(distinct)))

        for along, subs in self.groups:
            group_inner.append(len(refs))
            for factor in along:
                refer(factor)
            group_inner.append(len(refs))
            for t, constant in subs:
                sub_factors.append(len(refs))
                hoisted = [f for f in constant if last - 1 not in f[1]]
                for factor in hoisted:
                    refer(factor)
                sub_factors.append(len(refs))   # the row-varying factors start here
                for factor in constant[len(hoisted):]:
                    refer(factor)
                sub_factors.append(len(refs))
                self.term_of_sub.append(t)
            group_subs.append(len(self.term_of_sub))
        self.distinct = list(distinct)
        self.keys = [key for key, _ in self.distinct]   # the arrays run() reads, in the kernel's order
        self._geometries = {}
        intp = np.intp
        self.refs, self.group_subs = np.array(refs, dtype=intp), np.array(group_subs, dtype=intp)
        self.group_inner, self.sub_factors = np.array(group_inner, dtype=intp), np.array(sub_factors, dtype=intp)

    def kernel_coefficients(self, coeffs):
        """The coefficient array the compiled kernel reads, for ``coeffs`` (by term)."""
        return np.array([coeffs[t] for t in self.term_of_sub], dtype=np.float64)

    def bound(self, kernel_coeffs, reads, out_ids, add, scale=1.0, check_all=False, scales=()):
        """This layout's run fixed for a bound sum: ``run(target, args)`` writes (or adds, per
        ``add``) into ``diagonal_view(target, out_ids)`` the terms of coefficients ``kernel_coeffs``
        (``kernel_coefficients``), reading factor k (of ``keys``) from ``args[reads[k]]``, in the
        compiled kernel, and returns whether it ran (False, having written nothing, where an array
        is not one the kernel reads as it is: ``run_twin`` runs it then). A ``scale`` (a float) other
        than 1 multiplies the whole target by it first, as ``target *= scale`` does, and ``scales``
        ((argument, the target axes it runs along), ...) multiply that scale, as
        ``target *= scale * args[i1] * args[i2] ...`` (placed by their axes) does, each row just
        before the terms are added to it: the target must then be the view (no delta in ``out_ids``)
        and its rows contiguous, else it declines. With
        ``check_all`` it runs only where every one of ``args`` is an array of the target's dtype. None
        without the compiled kernels."""
        if _compiled is None:
            return None
        return _compiled.BoundProducts(self.refs.tolist(), self.group_subs.tolist(), self.group_inner.tolist(),
                                       self.sub_factors.tolist(), [float(c) for c in kernel_coeffs],
                                       list(reads) + [i for i, _ in scales],
                                       [axes for _, axes in self.distinct] + [tuple(axes) for _, axes in scales],
                                       view_axes(out_ids), bool(add), scale, check_all, len(scales)).run

    def run_twin(self, target, factors, coeffs, add):
        """``run_factors`` by the numpy twin, whichever kernels are in use (the same numbers)."""
        self._numpy(target, dict(zip(self.distinct, factors)), coeffs, add)
        return target

    def run(self, target, arrays, coeffs, add, kernel_coeffs=None):
        """Write (or add) the terms with factor arrays ``arrays`` (by key) and ``coeffs`` (by term);
        ``kernel_coeffs``: their ``kernel_coefficients``, when made once for many runs."""
        return self.run_factors(target, tuple([arrays[key] for key in self.keys]), coeffs, add, kernel_coeffs)

    def run_factors(self, target, factors, coeffs, add, kernel_coeffs=None):
        """``run`` with the factor arrays given in the order of ``keys`` (a bound sum picks them from
        its arguments by position, with no dict to build)."""
        dtype = target.dtype
        if _state["compiled"] and dtype in _KERNEL_DTYPES:
            for factor in factors:
                if factor.dtype != dtype:
                    break
            else:
                self._compiled(target, factors, coeffs if kernel_coeffs is None else kernel_coeffs, add,
                               kernel_coeffs is not None)
                return target
        self._numpy(target, dict(zip(self.distinct, factors)), coeffs, add)
        return target

    def _compiled(self, target, factors, coeffs, add, prepared=False):
        view = target.reshape(1) if target.ndim == 0 else target
        signature = (view.shape, view.strides, *[f.strides for f in factors])
        geometry = self._geometries.get(signature)
        if geometry is None:   # the same shapes and strides come back on every call of a program
            geometry = self._geometry(view, factors)
            if len(self._geometries) < 16:
                self._geometries[signature] = geometry
        shape, strides, factor_strides = geometry
        assert _compiled is not None   # run() calls this only while the compiled kernels are in use
        _compiled.products(view, shape, strides, factors, factor_strides, self.refs, self.group_subs,
                           self.group_inner, self.sub_factors,
                           coeffs if prepared else self.kernel_coefficients(coeffs), add)

    def _geometry(self, view, factors):
        """(shape, strides, factor strides per target axis), in elements, as the kernel reads them."""
        itemsize = view.itemsize
        factor_strides = np.zeros((len(self.distinct), view.ndim), dtype=np.intp)
        for k, ((_, axes), array) in enumerate(zip(self.distinct, factors)):
            for axis, stride in zip(axes, array.strides):
                factor_strides[k, axis] = stride // itemsize
        return (np.array(view.shape, dtype=np.intp), np.array([s // itemsize for s in view.strides], dtype=np.intp),
                factor_strides.reshape(-1))

    def _numpy(self, target, arrays, coeffs, add):
        """The twin's sum; ``arrays`` by factor, (key, axes): one array may be read at two sets of
        axes, and a chunk of rows (fusion._add_in_chunks) slices each such read on its own."""
        ndim = target.ndim
        scalar = target.dtype.type
        for k, (along, subs) in enumerate(self.groups):
            total = None
            for t, constant in subs:
                value = scalar(coeffs[t])
                for key, axes in constant:
                    value = value * _broadcastable(arrays[key, axes], axes, ndim)
                total = value if total is None else total + value
            for key, axes in along:
                total = total * _broadcastable(arrays[key, axes], axes, ndim)
            if k == 0 and not add:
                target[...] = total
            else:
                target += total


def _broadcastable(array, axes, ndim):
    """``array`` with its axes moved to target positions ``axes`` and size-1 axes elsewhere."""
    order = sorted(range(len(axes)), key=lambda k: axes[k])
    if order != list(range(len(axes))):
        array = np.transpose(array, order)
    placed = sorted(axes)
    shape = [1] * ndim
    for axis, size in zip(placed, array.shape):
        shape[axis] = size
    return array.reshape(shape)


def assembler(core_ids: Sequence[Hashable], out_ids: Sequence[Hashable], id_sizes: dict[Any, int],
              dtype: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``assemble`` with a factor of 1 and a core, its layout worked out once: a function of the core.

    The operations, and so the results, are assemble's; the diagonal view of a fresh output is
    made from precomputed strides.
    """
    unique = list(dict.fromkeys(out_ids))
    missing = [u for u in unique if u not in core_ids]
    order = [list(core_ids).index(u) for u in unique if u in core_ids]
    transposed = order != list(range(len(order)))
    aligned_shape = tuple(id_sizes[u] if u in core_ids else 1 for u in unique)
    shape = tuple(id_sizes[i] for i in out_ids)
    element_strides = [math.prod(shape[axis + 1:]) for axis in range(len(shape))]
    view_shape = tuple(id_sizes[u] for u in unique)
    view_strides = [sum(element_strides[axis] for axis, i in enumerate(out_ids) if i == u) for u in unique]
    diagonal = len(unique) != len(out_ids)
    # a core of the dtype bound is written onto the diagonal by the compiled kernel, as one product of one
    # factor with coefficient 1 (the same numbers: 1·x is x)
    layout = ProductsLayout([[("core", tuple(unique.index(i) for i in core_ids))]], len(unique)) if diagonal else None
    onto_diagonal = layout.bound(layout.kernel_coefficients([1.0]), [0], out_ids, False) \
        if layout is not None and np.dtype(dtype) in _KERNEL_DTYPES else None
    dtype = np.dtype(dtype)

    def place(core):
        if onto_diagonal is not None and _state["compiled"] and type(core) is np.ndarray and core.dtype == dtype:
            result = np.zeros(shape, dtype=dtype)
            if onto_diagonal(result, (core,)):
                return result
        aligned = np.transpose(core, order) if transposed else core
        if missing:
            aligned = aligned.reshape(aligned_shape)
        if not diagonal:
            if aligned.shape == shape:
                return aligned
            return np.array(np.broadcast_to(aligned, shape), dtype=np.result_type(aligned, dtype))
        result = np.zeros(shape, dtype=np.result_type(aligned, dtype))
        itemsize = result.itemsize
        np.ndarray(view_shape, result.dtype, buffer=result, strides=tuple(s * itemsize for s in view_strides))[...] = \
            aligned
        return result
    return place


def assemble(core: Optional[np.ndarray], core_ids: Sequence[Hashable], out_ids: Sequence[Hashable],
             id_sizes: dict[Any, int], factor: Any, dtype: Any) -> np.ndarray:
    """The full output for ids ``out_ids`` from ``core`` (axes ``core_ids``), times ``factor``.

    ``core`` may be None (a constant term). Ids in ``out_ids`` missing from ``core_ids`` are
    broadcast; ids repeated in ``out_ids`` are deltas (zero off the diagonal).
    """
    unique = list(dict.fromkeys(out_ids))
    if core is None:
        aligned = np.asarray(factor, dtype=dtype).reshape((1,) * len(unique))
    else:
        missing = [u for u in unique if u not in core_ids]
        order = [core_ids.index(u) for u in unique if u in core_ids]
        aligned = np.transpose(core, order) if order != list(range(len(order))) else core
        if missing:
            aligned = aligned.reshape(tuple(id_sizes[u] if u in core_ids else 1 for u in unique))
        if factor != 1.0:
            aligned = aligned * factor
    shape = tuple(id_sizes[i] for i in out_ids)
    if len(unique) == len(out_ids):
        if aligned.shape == shape:
            return aligned
        return np.array(np.broadcast_to(aligned, shape), dtype=np.result_type(aligned, dtype))
    result = np.zeros(shape, dtype=np.result_type(aligned, dtype))
    diagonal_view(result, out_ids)[...] = aligned
    return result
