# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of ``kernels.products``: sums of products of small factors written in one pass.

A target is any strided view of the output (the output itself, or its generalised diagonal when
the terms carry Kronecker deltas). Each term is ``coeff · Π factor[axes]``; a factor's strides are
given per target axis in elements (0 where the factor does not depend on that axis). Terms come in
groups that share the factors running along the last axis (kernels.products groups them). The loop
walks the target a block at a time (a block: every index fixed but the last two). Per block, each
term's factors that move along neither of the last two axes fold into one scalar, and each group's
scalar for every row of the block is formed in strided passes over the factors that move along the
rows. Each row is then written in one pass in the BLAS axpy style: out[j] = Σ_g s_g · F_g[j] over
up to four groups whose one row factor is contiguous, with no index arithmetic in the inner loop;
any other group (no row factor, several, or strided) gets a pass of its own. Results match the
numpy twin bit for bit because both do the same operations in the same order: the group sums are
added left to right, as the twin adds group after group into the target.
"""

from cpython.buffer cimport PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdlib cimport free, malloc

# kernels.py refuses a compiled module of another version (a stale build left by an editable
# install whose source changed) and uses the numpy twin instead of crashing on a new signature
KERNEL_VERSION = 2


cdef extern from "_kernelrows.h" nogil:
    # a block of rows: out[r][j] (= or +=) Σ_g s[g·m + r] · p[g][r·pstride[g] + j] for count 1 to 4 groups
    void td_fused_block_double(double* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                               const double* s, Py_ssize_t m, double** p, const Py_ssize_t* pstride, int assign)
    void td_fused_block_float(float* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                              const float* s, Py_ssize_t m, float** p, const Py_ssize_t* pstride, int assign)

ctypedef fused real:
    float
    double


cdef void _group_row(real* out, Py_ssize_t length, Py_ssize_t step, real s, int ninner, real** inner,
                     const Py_ssize_t* inner_stride, bint assign) noexcept nogil:
    """One group's row, any strides: out[j·step] (= or +=) s · Π_k inner[k][j·inner_stride[k]]."""
    cdef Py_ssize_t j
    cdef int k
    cdef real v
    for j in range(length):
        v = s
        for k in range(ninner):
            v = v * inner[k][j * inner_stride[k]]
        if assign:
            out[j * step] = v
        else:
            out[j * step] = out[j * step] + v


cdef void _run(real* target, const Py_ssize_t* shape, const Py_ssize_t* tstrides, int ndim,
               const Py_ssize_t* addresses, const Py_ssize_t* fstrides, int nfactors, const Py_ssize_t* refs,
               const Py_ssize_t* group_subs, const Py_ssize_t* group_inner, int ngroups,
               const Py_ssize_t* sub_factors, const double* coeffs, bint add,
               Py_ssize_t* index, Py_ssize_t* foffset, real** inner, Py_ssize_t* inner_stride,
               real* partial, real* scalars, real* scratch, bint* fused, real** pointers,
               Py_ssize_t* pstrides) noexcept nogil:
    cdef int last = ndim - 1
    cdef int rowaxis = last - 1   # -1 for a vector: one block of one row
    cdef Py_ssize_t length = shape[last], step = tstrides[last]
    cdef Py_ssize_t m = shape[rowaxis] if rowaxis >= 0 else 1
    cdef Py_ssize_t rstride = tstrides[rowaxis] if rowaxis >= 0 else 0
    cdef Py_ssize_t blocks = 1, block, k, toffset = 0, st
    cdef int g, sub, f, r, c, count, ninner, axis
    cdef real v0
    cdef real* srow
    cdef const real* ptr
    cdef bint assign
    cdef int nsubs = group_subs[ngroups]
    for axis in range(rowaxis):
        blocks *= shape[axis]
    for axis in range(ndim):
        index[axis] = 0
    for f in range(nfactors):
        foffset[f] = 0
    # a group is written in the fused pass when it reads one factor along a contiguous row
    for g in range(ngroups):
        fused[g] = step == 1 and group_inner[2 * g + 1] - group_inner[2 * g] == 1 and \
            fstrides[refs[group_inner[2 * g]] * ndim + last] == 1
    for block in range(blocks):
        # the part of each term fixed over the block: its coefficient times the factors that move
        # along neither of the last two axes
        for sub in range(nsubs):
            v0 = <real> coeffs[sub]
            for r in range(sub_factors[3 * sub], sub_factors[3 * sub + 1]):
                f = refs[r]
                v0 = v0 * (<real*> addresses[f])[foffset[f]]
            partial[sub] = v0
        # each group's scalar for every row of the block: Σ over its terms of the fixed part times
        # the factors that move along the rows (one strided pass per factor, not per row)
        for g in range(ngroups):
            srow = scalars + g * m
            for sub in range(group_subs[g], group_subs[g + 1]):
                v0 = partial[sub]
                if sub_factors[3 * sub + 1] == sub_factors[3 * sub + 2]:
                    if sub == group_subs[g]:
                        for k in range(m):
                            srow[k] = v0
                    else:
                        for k in range(m):
                            srow[k] = srow[k] + v0
                    continue
                for r in range(sub_factors[3 * sub + 1], sub_factors[3 * sub + 2]):
                    f = refs[r]
                    ptr = (<real*> addresses[f]) + foffset[f]
                    st = fstrides[f * ndim + rowaxis]
                    if r == sub_factors[3 * sub + 1]:
                        for k in range(m):
                            scratch[k] = v0 * ptr[k * st]
                    else:
                        for k in range(m):
                            scratch[k] = scratch[k] * ptr[k * st]
                if sub == group_subs[g]:
                    for k in range(m):
                        srow[k] = scratch[k]
                else:
                    for k in range(m):
                        srow[k] = srow[k] + scratch[k]
        # the block's rows: up to four consecutive fused groups in one pass, any other group in its own
        assign = not add
        g = 0
        while g < ngroups:
            if fused[g]:
                count = 0
                while count < 4 and g + count < ngroups and fused[g + count]:
                    f = refs[group_inner[2 * (g + count)]]
                    pointers[count] = (<real*> addresses[f]) + foffset[f]
                    pstrides[count] = fstrides[f * ndim + rowaxis] if rowaxis >= 0 else 0
                    count += 1
                if real is double:
                    td_fused_block_double(target + toffset, m, rstride, length, count, scalars + g * m, m,
                                          pointers, pstrides, assign)
                else:
                    td_fused_block_float(target + toffset, m, rstride, length, count, scalars + g * m, m,
                                         pointers, pstrides, assign)
                g += count
            else:
                for k in range(m):
                    ninner = 0
                    for r in range(group_inner[2 * g], group_inner[2 * g + 1]):
                        f = refs[r]
                        inner[ninner] = (<real*> addresses[f]) + foffset[f] + \
                            (k * fstrides[f * ndim + rowaxis] if rowaxis >= 0 else 0)
                        inner_stride[ninner] = fstrides[f * ndim + last]
                        ninner += 1
                    _group_row(target + toffset + k * rstride, length, step, scalars[g * m + k], ninner, inner,
                               inner_stride, assign)
                g += 1
            assign = False
        # advance the odometer over the axes before the last two
        axis = rowaxis - 1
        while axis >= 0:
            index[axis] += 1
            toffset += tstrides[axis]
            for f in range(nfactors):
                foffset[f] += fstrides[f * ndim + axis]
            if index[axis] < shape[axis]:
                break
            toffset -= tstrides[axis] * shape[axis]
            for f in range(nfactors):
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
    cdef int axis, f
    if ngroups <= 0:
        return
    for axis in range(ndim):
        if shape[axis] == 0:
            return
    cdef Py_ssize_t rows = shape[ndim - 2] if ndim >= 2 else 1
    cdef Py_ssize_t* index = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (ndim + 1))
    cdef Py_ssize_t* foffset = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    cdef Py_ssize_t nrefs = refs.shape[0]  # a factor may appear twice in one term (x * x)
    cdef Py_ssize_t* inner_stride = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nrefs + 1))
    cdef void** inner = <void**> malloc(sizeof(void*) * (nrefs + 1))
    cdef double* partial = <double*> malloc(sizeof(double) * (coeffs.shape[0] + 1))
    cdef double* scalars = <double*> malloc(sizeof(double) * (ngroups * rows + 1))
    cdef double* scratch = <double*> malloc(sizeof(double) * (rows + 1))
    cdef bint* fused = <bint*> malloc(sizeof(bint) * (ngroups + 1))
    cdef void** pointers = <void**> malloc(sizeof(void*) * 4)
    cdef Py_ssize_t* pstrides = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * 4)
    cdef Py_ssize_t* addresses = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    try:
        if index == NULL or foffset == NULL or inner_stride == NULL or inner == NULL or partial == NULL \
                or scalars == NULL or scratch == NULL or fused == NULL or pointers == NULL or pstrides == NULL \
                or addresses == NULL:
            raise MemoryError()
        for f in range(nfactors):
            addresses[f] = _address(factors[f], PyBUF_STRIDES)
        with nogil:
            if double_precision:
                _run[double](<double*> address, &shape[0], &tstrides[0], ndim, addresses,
                             &fstrides[0] if nfactors else NULL, nfactors, &refs[0] if refs.shape[0] else NULL,
                             &group_subs[0], &group_inner[0], ngroups, &sub_factors[0], &coeffs[0], add,
                             index, foffset, <double**> inner, inner_stride, partial, scalars, scratch, fused,
                             <double**> pointers, pstrides)
            else:
                _run[float](<float*> address, &shape[0], &tstrides[0], ndim, addresses,
                            &fstrides[0] if nfactors else NULL, nfactors, &refs[0] if refs.shape[0] else NULL,
                            &group_subs[0], &group_inner[0], ngroups, &sub_factors[0], &coeffs[0], add,
                            index, foffset, <float**> inner, inner_stride, <float*> partial, <float*> scalars,
                            <float*> scratch, fused, <float**> pointers, pstrides)
    finally:
        free(index); free(foffset); free(inner_stride); free(inner); free(partial); free(scalars)
        free(scratch); free(fused); free(pointers); free(pstrides); free(addresses)
