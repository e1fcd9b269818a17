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

import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

try:
    from . import _kernels as _compiled
except ImportError:  # not built: no Cython or no compiler at install time
    _compiled = None

__all__ = ["assemble", "accumulate", "products", "kernels_available", "use_compiled", "diagonal_view"]

_state = {"compiled": _compiled is not None and os.environ.get("TENSORDIFF_NO_KERNELS", "0") in ("", "0")}
_KERNEL_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def kernels_available():
    """Whether the compiled (Cython) kernels are in use; False means the numpy twin.

    >>> td.kernels_available()
    True
    """
    return _state["compiled"]


def use_compiled(flag):
    """Switch between the compiled kernels and the numpy twin; returns the previous setting.

    >>> previous = tensordiff.kernels.use_compiled(False)   # e.g. to compare the two
    """
    if flag and _compiled is None:
        raise RuntimeError("the compiled kernels are not built: reinstall with Cython and a C compiler "
                           "(pip install -e . builds tensordiff/_kernels.pyx)")
    previous = _state["compiled"]
    _state["compiled"] = bool(flag)
    return previous


def diagonal_view(array, out_ids):
    """The writable view of ``array`` indexed by the distinct ids of ``out_ids`` (first appearance order)."""
    unique = list(dict.fromkeys(out_ids))
    strides = [0] * len(unique)
    shape = [0] * len(unique)
    position = {u: k for k, u in enumerate(unique)}
    for axis, i in enumerate(out_ids):
        strides[position[i]] += array.strides[axis]
        shape[position[i]] = array.shape[axis]
    return as_strided(array, shape=tuple(shape), strides=tuple(strides))


def products(target, terms, add):
    """Write Σ_t coeff_t · Π factors into ``target`` (``add``: add to what is there).

    ``terms`` is a list of ``(coeff, factors)``; each factor is ``(array, axes)`` where ``axes[k]``
    is the target axis that the array's axis k runs along (distinct; a 0-d factor has ``()``).
    Factors with the target's dtype, and a float64/float32 target, use the compiled kernel.
    """
    if not terms:
        return target
    if _state["compiled"] and target.dtype in _KERNEL_DTYPES and \
            all(f.dtype == target.dtype for _, factors in terms for f, _ in factors):
        _compiled_products(target, terms, add)
    else:
        _numpy_products(target, terms, add)
    return target


def _grouped(terms, last):
    """Terms grouped by the factors they read along the last target axis (same arrays, same axes).

    Per row, a group costs one pass along the row however many terms share it: Σ_t s_t · F[row]
    is computed as (Σ_t s_t) · F[row]. Both twins use this grouping and this order.
    """
    groups = {}
    for coeff, factors in terms:
        along = tuple(f for f in factors if last in f[1])
        # factors fixed over a block of rows first: the compiled loop hoists their product
        constant = [f for f in factors if last not in f[1] and last - 1 not in f[1]] + \
                   [f for f in factors if last not in f[1] and last - 1 in f[1]]
        key = tuple((id(array), axes) for array, axes in along)
        groups.setdefault(key, (along, []))[1].append((coeff, constant))
    return list(groups.values())


def _compiled_products(target, terms, add):
    view = target.reshape(1) if target.ndim == 0 else target
    ndim, itemsize = view.ndim, view.itemsize
    distinct = {}  # (id(array), axes) -> position: a factor shared by terms moves once per row
    addresses, strides, refs = [], [], []
    group_subs, coeffs = [0], []
    group_inner = []  # (first, end) positions in refs of each group's row factors
    sub_factors = []  # (first, block-constant end, end) positions in refs of each term's other factors

    def refer(array, axes):
        key = (id(array), axes)
        if key not in distinct:
            distinct[key] = len(addresses)
            row = [0] * ndim
            for axis, stride in zip(axes, array.strides):
                row[axis] = stride // itemsize
            addresses.append(array.__array_interface__["data"][0])
            strides.extend(row)
        refs.append(distinct[key])

    for along, subs in _grouped(terms, ndim - 1):
        group_inner.append(len(refs))
        for array, axes in along:
            refer(array, axes)
        group_inner.append(len(refs))
        for coeff, constant in subs:
            sub_factors.append(len(refs))
            for array, axes in constant:
                if ndim - 2 in axes and len(sub_factors) % 3 == 1:
                    sub_factors.append(len(refs))  # the row-varying factors start here
                refer(array, axes)
            if len(sub_factors) % 3 == 1:
                sub_factors.append(len(refs))
            sub_factors.append(len(refs))
            coeffs.append(float(coeff))
        group_subs.append(len(coeffs))
    intp = np.intp
    _compiled.products(view, np.array(view.shape, dtype=intp), np.array([s // itemsize for s in view.strides], dtype=intp),
                       np.array(addresses, dtype=intp), np.array(strides, dtype=intp), np.array(refs, dtype=intp),
                       np.array(group_subs, dtype=intp), np.array(group_inner, dtype=intp),
                       np.array(sub_factors, dtype=intp), np.array(coeffs, dtype=np.float64), add)


def _numpy_products(target, terms, add):
    ndim = target.ndim
    scalar = target.dtype.type
    for k, (along, subs) in enumerate(_grouped(terms, ndim - 1)):
        total = None
        for coeff, constant in subs:
            value = scalar(coeff)
            for array, axes in constant:
                value = value * _broadcastable(array, axes, ndim)
            total = value if total is None else total + value
        for array, axes in along:
            total = total * _broadcastable(array, axes, ndim)
        if k == 0 and not add:
            target[...] = total
        else:
            target += total
    return target


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


def assemble(core, core_ids, out_ids, id_sizes, factor, dtype):
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


def accumulate(out, core, core_ids, out_ids, factor):
    """``out += factor * term`` for the term ``core`` (axes ``core_ids``) laid out as ``out_ids``."""
    target = diagonal_view(out, out_ids) if len(set(out_ids)) != len(out_ids) else out
    unique = list(dict.fromkeys(out_ids))
    if core is None:
        target += factor
        return out
    order = [core_ids.index(u) for u in unique if u in core_ids]
    aligned = np.transpose(core, order) if order != list(range(len(order))) else core
    if len(order) != len(unique):
        aligned = aligned.reshape(tuple(target.shape[k] if u in core_ids else 1 for k, u in enumerate(unique)))
    if factor != 1.0:
        aligned = aligned * factor
    target += aligned
    return out
