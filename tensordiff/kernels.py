"""Writing structured einsum results: Kronecker deltas and broadcasts in the output.

A term such as c · A[i,k] δ[j,l] has repeated output indices. Rather than building identity
tensors and multiplying, ``assemble`` allocates the output and writes the dense core onto its
generalised diagonal through a strided view (a view whose stride along index i is the sum of the
output strides of every position holding i). This module is the pure-numpy reference; a compiled
twin may replace the hot loops, with identical results.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["assemble", "accumulate", "kernels_available", "diagonal_view"]


def kernels_available():
    """Whether the compiled (Cython) kernels are in use; False means the numpy reference.

    >>> td.kernels_available()
    False
    """
    return False


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
