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

The module is one extension split over files for size: the walk is in _kernelrun.pxi, the bound
pass in _kernelbound.pxi, the buffer checks in _kernelchecks.pxi, the elementwise functions
(tanh) in _kernelfunctions.pxi (Cython ``include``).


pass in _kernelbound.pxi, the buffer checks in _kernelchecks.pxi, and parse's compiled reader of
syntax in _kernelparse.pxi (Cython ``include``).
"""

from cpython.buffer cimport (PyBUF_ANY_CONTIGUOUS, PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from libc.math cimport fabs, fabsf
from libc.stdlib cimport free, malloc

# kernels.py refuses a compiled module of another version (a stale build left by an editable
# install whose source changed) and uses the numpy twin instead of crashing on a new signature
KERNEL_VERSION = 5


cdef extern from "_kernelrows.h" nogil:
    # a block of rows: out[r][j] (= or +=) Σ_g s[g·m + r] · p[g][r·pstride[g] + j] for count 1 to 4 groups
    void td_fused_block_double(double* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                               const double* s, Py_ssize_t m, double** p, const Py_ssize_t* pstride, int assign)
    void td_fused_block_float(float* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                              const float* s, Py_ssize_t m, float** p, const Py_ssize_t* pstride, int assign)
    # a block of rows of a group with no factor along them: out[r][j] (= or +=) s[r]
    void td_fill_block_double(double* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, const double* s,
                              int assign)
    void td_fill_block_float(float* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, const float* s,
                             int assign)
    # a block of rows of one group of count >= 2 contiguous factors along them: out[r][j] (= or +=) s[r]·Π_q p[q][r][j]
    void td_product_block_double(double* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                                 const double* s, double** p, const Py_ssize_t* pstride, int assign)
    void td_product_block_float(float* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, int count,
                                const float* s, float** p, const Py_ssize_t* pstride, int assign)
    # a block of rows scaled in place: out[r][j] = out[r][j] · (c · Π_q p[q][r·prow[q] + j·pstep[q]])
    void td_scale_block_double(double* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, double c, int count,
                               double** p, const Py_ssize_t* prow, const Py_ssize_t* pstep)
    void td_scale_block_float(float* out, Py_ssize_t rows, Py_ssize_t rstride, Py_ssize_t n, float c, int count,
                              float** p, const Py_ssize_t* prow, const Py_ssize_t* pstep)

ctypedef fused real:
    float
    double


include "_kernelrun.pxi"


cdef Py_ssize_t _address(object array, int flags) except? -1:
    """The data pointer of a numpy array, read through the buffer protocol (cheaper than
    ``__array_interface__``, which builds a dict per call)."""
    cdef Py_buffer view
    PyObject_GetBuffer(array, &view, flags)
    cdef Py_ssize_t address = <Py_ssize_t> view.buf
    PyBuffer_Release(&view)
    return address


cdef int _products(Py_ssize_t address, bint double_precision, const Py_ssize_t* shape, const Py_ssize_t* tstrides,
                   int ndim, const Py_ssize_t* addresses, const Py_ssize_t* fstrides, int nfactors,
                   const Py_ssize_t* refs, Py_ssize_t nrefs, const Py_ssize_t* group_subs,
                   const Py_ssize_t* group_inner, int ngroups, const Py_ssize_t* sub_factors, const double* coeffs,
                   Py_ssize_t ncoeffs, bint add, int nscale=0, double scale=1.0) except -1:
    """The scratch space of one run (per call: a layout may run in several threads at once), then _run.
    The last ``nscale`` of the factors scale the target first (_run)."""
    cdef int axis
    if ngroups <= 0:
        return 0
    for axis in range(ndim):
        if shape[axis] == 0:
            return 0
    cdef Py_ssize_t rows = shape[ndim - 2] if ndim >= 2 else 1
    cdef Py_ssize_t* index = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (ndim + 1))
    cdef Py_ssize_t* foffset = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    cdef Py_ssize_t* inner_stride = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nrefs + 1))
    cdef void** inner = <void**> malloc(sizeof(void*) * (nrefs + 1))
    cdef double* partial = <double*> malloc(sizeof(double) * (ncoeffs + 1))
    cdef double* scalars = <double*> malloc(sizeof(double) * (ngroups * rows + 1))
    cdef double* scratch = <double*> malloc(sizeof(double) * (rows + 1))
    cdef int* path = <int*> malloc(sizeof(int) * (ngroups + 1))
    cdef void** pointers = <void**> malloc(sizeof(void*) * 4)
    cdef Py_ssize_t* pstrides = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * 4)
    cdef void** spointers = <void**> malloc(sizeof(void*) * (nscale + 1))
    cdef Py_ssize_t* sgeometry = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * 2 * (nscale + 1))
    try:
        if index == NULL or foffset == NULL or inner_stride == NULL or inner == NULL or partial == NULL \
                or scalars == NULL or scratch == NULL or path == NULL or pointers == NULL or pstrides == NULL \
                or spointers == NULL or sgeometry == NULL:
            raise MemoryError()
        with nogil:
            if double_precision:
                _run[double](<double*> address, shape, tstrides, ndim, addresses, fstrides, nfactors, refs,
                             group_subs, group_inner, ngroups, sub_factors, coeffs, add, nscale, scale,
                             index, foffset, <double**> inner, inner_stride, partial, scalars, scratch, path,
                             <double**> pointers, pstrides, <double**> spointers, sgeometry, sgeometry + nscale + 1)
            else:
                _run[float](<float*> address, shape, tstrides, ndim, addresses, fstrides, nfactors, refs,
                            group_subs, group_inner, ngroups, sub_factors, coeffs, add, nscale, scale,
                            index, foffset, <float**> inner, inner_stride, <float*> partial, <float*> scalars,
                            <float*> scratch, path, <float**> pointers, pstrides, <float**> spointers, sgeometry,
                            sgeometry + nscale + 1)
    finally:
        free(index); free(foffset); free(inner_stride); free(inner); free(partial); free(scalars)
        free(scratch); free(path); free(pointers); free(pstrides); free(spointers); free(sgeometry)
    return 0


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
    cdef int f
    cdef Py_ssize_t* addresses = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (nfactors + 1))
    if addresses == NULL:
        raise MemoryError()
    try:
        for f in range(nfactors):
            addresses[f] = _address(factors[f], PyBUF_STRIDES)
        _products(address, double_precision, &shape[0], &tstrides[0], ndim, addresses,
                  &fstrides[0] if nfactors else NULL, nfactors, &refs[0] if refs.shape[0] else NULL, refs.shape[0],
                  &group_subs[0], &group_inner[0], ngroups, &sub_factors[0], &coeffs[0], coeffs.shape[0], add)
    finally:
        free(addresses)


include "_kernelbound.pxi"


include "_kernelchecks.pxi"


include "_kernelfunctions.pxi"


include "_kernelparse.pxi"
