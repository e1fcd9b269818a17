# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of ``kernels.products``: sums of products of small factors written in one pass.

A target is any strided view of the output (the output itself, or its generalised diagonal when
the terms carry Kronecker deltas). Each term is ``coeff · Π factor[axes]``; a factor's strides are
given per target axis in elements (0 where the factor does not depend on that axis). The loop
walks the target row by row. Terms come in groups that share the factors running along the last axis
(kernels.products groups them): per row, each term's other factors fold into one scalar (the
part that does not move along the last two axes is computed once per block of rows), the
group's scalars are summed, and the shared row factors are read once. Results match the numpy
twin bit for bit because both do the same operations in the same order.
"""

from cpython.buffer cimport PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdlib cimport free, malloc

# kernels.py refuses a compiled module of another version (a stale build left by an editable
# install whose source changed) and uses the numpy twin instead of crashing on a new signature
KERNEL_VERSION = 2

ctypedef fused real:
    float
    double


cdef void _run(real* target, const Py_ssize_t* shape, const Py_ssize_t* tstrides, int ndim,
               const Py_ssize_t* addresses, const Py_ssize_t* fstrides, int nfactors, const Py_ssize_t* refs,
               const Py_ssize_t* group_subs, const Py_ssize_t* group_inner, int ngroups,
               const Py_ssize_t* sub_factors, const double* coeffs, bint add,
               const Py_ssize_t* moving, const Py_ssize_t* moving_bounds,
               Py_ssize_t* index, Py_ssize_t* foffset, real** inner, Py_ssize_t* inner_stride,
               real* partial) noexcept nogil:
    cdef int last = ndim - 1
    cdef Py_ssize_t length = shape[last], step = tstrides[last]
    cdef Py_ssize_t rows = 1, row, j, toffset = 0
    cdef int g, sub, f, k, r, ninner, axis
    cdef real s, v
    cdef real* out
    cdef real* p0
    cdef real* p1
    cdef bint contiguous, assign, new_block = True
    cdef int nsubs = group_subs[ngroups]
    for axis in range(last):
        rows *= shape[axis]
    for axis in range(ndim):
        index[axis] = 0
    for f in range(nfactors):
        foffset[f] = 0
    for row in range(rows):
        out = target + toffset
        if new_block:  # the factors that do not move along the last two axes, once per block of rows
            for sub in range(nsubs):
                v = <real> coeffs[sub]
                for r in range(sub_factors[3 * sub], sub_factors[3 * sub + 1]):
                    f = refs[r]
                    v = v * (<real*> addresses[f])[foffset[f]]
                partial[sub] = v
            new_block = False
        for g in range(ngroups):
            assign = g == 0 and not add
            s = 0
            for sub in range(group_subs[g], group_subs[g + 1]):
                v = partial[sub]
                for r in range(sub_factors[3 * sub + 1], sub_factors[3 * sub + 2]):
                    f = refs[r]
                    v = v * (<real*> addresses[f])[foffset[f]]
                if sub == group_subs[g]:
                    s = v
                else:
                    s = s + v
            ninner = 0
            contiguous = step == 1
            for r in range(group_inner[2 * g], group_inner[2 * g + 1]):
                f = refs[r]
                inner[ninner] = (<real*> addresses[f]) + foffset[f]
                inner_stride[ninner] = fstrides[f * ndim + last]
                if inner_stride[ninner] != 1:
                    contiguous = False
                ninner += 1
            if ninner == 0:
                if assign:
                    for j in range(length):
                        out[j * step] = s
                else:
                    for j in range(length):
                        out[j * step] += s
            elif contiguous and ninner == 1:
                p0 = inner[0]
                if assign:
                    for j in range(length):
                        out[j] = s * p0[j]
                else:
                    for j in range(length):
                        out[j] += s * p0[j]
            elif contiguous and ninner == 2:
                p0 = inner[0]
                p1 = inner[1]
                if assign:
                    for j in range(length):
                        out[j] = s * p0[j] * p1[j]
                else:
                    for j in range(length):
                        out[j] += s * p0[j] * p1[j]
            else:
                for j in range(length):
                    v = s
                    for k in range(ninner):
                        v = v * inner[k][j * inner_stride[k]]
                    if assign:
                        out[j * step] = v
                    else:
                        out[j * step] += v
        # advance the odometer over every axis but the last, touching only factors that move
        axis = last - 1
        while axis >= 0:
            index[axis] += 1
            toffset += tstrides[axis]
            for r in range(moving_bounds[axis], moving_bounds[axis + 1]):
                f = moving[r]
                foffset[f] += fstrides[f * ndim + axis]
            if index[axis] < shape[axis]:
                break
            new_block = True
            toffset -= tstrides[axis] * shape[axis]
            for r in range(moving_bounds[axis], moving_bounds[axis + 1]):
                f = moving[r]
                foffset[f] -= fstrides[f * ndim + axis] * shape[axis]
            index[axis] = 0
            axis -= 1


cdef Py_ssize_t _address(object array, int flags) except? -1:
    """The data pointer of a numpy array, read through the buffer protocol (cheaper than
    ``__array_interface__``, which builds a dict per call)."""
    cdef Py_buffer view
    PyObject_GetBuffer(array, &view, flags)
    cdef Py_ssize_t address = <Py_ssize_t> view.buf
    PyBuffer_Release(&view)
    return address


def products(target, Py_ssize_t[::1] shape, Py_ssize_t[::1] tstrides, tuple factors,
             Py_ssize_t[::1] fstrides, Py_ssize_t[::1] refs, Py_ssize_t[::1] group_subs,
             Py_ssize_t[::1] group_inner, Py_ssize_t[::1] sub_factors, double[::1] coeffs, bint add):
    """Write (or add, if ``add``) the grouped terms into ``target``; layout in kernels.ProductsLayout.

    ``target`` supplies the data pointer and dtype (float32 or float64); ``shape``/``tstrides``
    describe the view in elements; ``factors`` are the distinct factor arrays (of the target's
    dtype) and ``fstrides`` their strides per target axis, which ``refs`` lists per group (its row
    factors) and per term (its other factors).
    """
    cdef int ndim = shape.shape[0]
    cdef int ngroups = group_subs.shape[0] - 1
    cdef int nfactors = len(factors)
    cdef Py_ssize_t address = _address(target, PyBUF_STRIDES | PyBUF_WRITABLE)
    cdef bint double_precision = target.dtype.char == "d"
    cdef int axis, f, count = 0
    if ngroups <= 0:
        return
    for axis in range(ndim):
        if shape[axis] == 0:
            return
    cdef Py_ssize_t* index = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (ndim + 1))
    cdef Py_ssize_t* foffset = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    cdef Py_ssize_t nrefs = refs.shape[0]  # a factor may appear twice in one term (x * x)
    cdef Py_ssize_t* inner_stride = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nrefs + 1))
    cdef void** inner = <void**> malloc(sizeof(void*) * (nrefs + 1))
    cdef Py_ssize_t* moving = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors * ndim + 1))
    cdef Py_ssize_t* moving_bounds = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (ndim + 1))
    cdef double* partial = <double*> malloc(sizeof(double) * (coeffs.shape[0] + 1))
    cdef Py_ssize_t* addresses = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    try:
        if index == NULL or foffset == NULL or inner_stride == NULL or inner == NULL or moving == NULL \
                or moving_bounds == NULL or partial == NULL or addresses == NULL:
            raise MemoryError()
        for f in range(nfactors):
            addresses[f] = _address(factors[f], PyBUF_STRIDES)
        for axis in range(ndim):
            moving_bounds[axis] = count
            for f in range(nfactors):
                if fstrides[f * ndim + axis] != 0:
                    moving[count] = f
                    count += 1
        moving_bounds[ndim] = count
        with nogil:
            if double_precision:
                _run[double](<double*> address, &shape[0], &tstrides[0], ndim, addresses,
                             &fstrides[0] if nfactors else NULL, nfactors, &refs[0] if refs.shape[0] else NULL,
                             &group_subs[0], &group_inner[0], ngroups, &sub_factors[0], &coeffs[0], add,
                             moving, moving_bounds, index, foffset, <double**> inner, inner_stride, partial)
            else:
                _run[float](<float*> address, &shape[0], &tstrides[0], ndim, addresses,
                            &fstrides[0] if nfactors else NULL, nfactors, &refs[0] if refs.shape[0] else NULL,
                            &group_subs[0], &group_inner[0], ngroups, &sub_factors[0], &coeffs[0], add,
                            moving, moving_bounds, index, foffset, <float**> inner, inner_stride, <float*> partial)
    finally:
        free(index); free(foffset); free(inner_stride); free(inner); free(moving); free(moving_bounds)
        free(partial); free(addresses)
