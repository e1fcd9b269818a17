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

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.math cimport fabs, fabsf
from libc.stdlib cimport free, malloc

# kernels.py refuses a compiled module of another version (a stale build left by an editable
# install whose source changed) and uses the numpy twin instead of crashing on a new signature
KERNEL_VERSION = 3


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


cdef int _products(Py_ssize_t address, bint double_precision, const Py_ssize_t* shape, const Py_ssize_t* tstrides,
                   int ndim, const Py_ssize_t* addresses, const Py_ssize_t* fstrides, int nfactors,
                   const Py_ssize_t* refs, Py_ssize_t nrefs, const Py_ssize_t* group_subs,
                   const Py_ssize_t* group_inner, int ngroups, const Py_ssize_t* sub_factors, const double* coeffs,
                   Py_ssize_t ncoeffs, bint add) except -1:
    """The scratch space of one run (per call: a layout may run in several threads at once), then _run."""
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
    cdef bint* fused = <bint*> malloc(sizeof(bint) * (ngroups + 1))
    cdef void** pointers = <void**> malloc(sizeof(void*) * 4)
    cdef Py_ssize_t* pstrides = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * 4)
    try:
        if index == NULL or foffset == NULL or inner_stride == NULL or inner == NULL or partial == NULL \
                or scalars == NULL or scratch == NULL or fused == NULL or pointers == NULL or pstrides == NULL:
            raise MemoryError()
        with nogil:
            if double_precision:
                _run[double](<double*> address, shape, tstrides, ndim, addresses, fstrides, nfactors, refs,
                             group_subs, group_inner, ngroups, sub_factors, coeffs, add,
                             index, foffset, <double**> inner, inner_stride, partial, scalars, scratch, fused,
                             <double**> pointers, pstrides)
            else:
                _run[float](<float*> address, shape, tstrides, ndim, addresses, fstrides, nfactors, refs,
                            group_subs, group_inner, ngroups, sub_factors, coeffs, add,
                            index, foffset, <float**> inner, inner_stride, <float*> partial, <float*> scalars,
                            <float*> scratch, fused, <float**> pointers, pstrides)
    finally:
        free(index); free(foffset); free(inner_stride); free(inner); free(partial); free(scalars)
        free(scratch); free(fused); free(pointers); free(pstrides)
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


cdef bint _contiguous(Py_buffer* view) noexcept:
    """Whether a buffer's entries fill its memory in C or in Fortran order (ignoring size-1 axes)."""
    cdef Py_ssize_t expected = view.itemsize
    cdef int axis
    cdef bint c_order = True, f_order = True
    for axis in range(view.ndim - 1, -1, -1):
        if view.shape[axis] != 1:
            if view.strides[axis] != expected:
                c_order = False
            expected *= view.shape[axis]
    expected = view.itemsize
    for axis in range(view.ndim):
        if view.shape[axis] != 1:
            if view.strides[axis] != expected:
                f_order = False
            expected *= view.shape[axis]
    return c_order or f_order


cdef void _scale(real* data, Py_ssize_t n, real scale) noexcept nogil:
    """data[i] = data[i] · scale: numpy's in-place multiplication by a scalar of the data's dtype."""
    cdef Py_ssize_t i
    for i in range(n):
        data[i] = data[i] * scale


cdef bint _all_of_kind(tuple args, char kind):
    """Whether every item exports a buffer of entries of format ``kind`` ("d" or "f")."""
    cdef Py_buffer view
    cdef bint same
    for item in args:
        try:
            PyObject_GetBuffer(item, &view, PyBUF_STRIDES | PyBUF_FORMAT)
        except (TypeError, BufferError, ValueError):
            return False
        same = view.format != NULL and view.format[0] == kind and view.format[1] == 0
        PyBuffer_Release(&view)
        if not same:
            return False
    return True


cdef Py_ssize_t* _copied(values, Py_ssize_t* count) except NULL:
    """A malloc'd copy of a sequence of ints (at least one slot), its length in ``count``."""
    cdef Py_ssize_t n = len(values), k
    cdef Py_ssize_t* copy = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (n + 1))
    if copy == NULL:
        raise MemoryError()
    for k in range(n):
        copy[k] = values[k]
    count[0] = n
    return copy


cdef class BoundProducts:
    """A ProductsLayout's pass with its arguments fixed (fusion.py's bound sums): the layout, the
    kernel's coefficients, which argument each factor is and the view of the target it writes,
    held in C, so that a call reads the shapes and strides of its arrays through the buffer protocol
    and runs the kernel, with no Python-level geometry.

    ``run(target, args)`` writes (or adds, per ``add``) the terms into the view of ``target`` by
    ``view_of`` (each target axis's axis in the view: a Kronecker delta's axes share one), reading
    the factors ``args[reads[f]]``; a ``scale`` other than 1 first multiplies every entry of the
    target by it, as numpy's ``target *= scale`` does (in the target's dtype). With ``check_all``,
    every one of ``args`` must be an array of the target's dtype, read or not. It returns False,
    having written nothing, where an array is not what the kernel reads as it is (not
    float64/float32 or not the target's dtype, another shape than the view's along a factor's axes,
    a stride that is no whole number of entries, a target to scale that is not contiguous); the
    caller then runs the numpy twin.
    """

    cdef Py_ssize_t* refs
    cdef Py_ssize_t* group_subs
    cdef Py_ssize_t* group_inner
    cdef Py_ssize_t* sub_factors
    cdef Py_ssize_t* reads
    cdef Py_ssize_t* axes_start
    cdef Py_ssize_t* axes
    cdef Py_ssize_t* view_of
    cdef double* coeffs
    cdef Py_ssize_t nrefs, ncoeffs, nfactors, tndim, vndim, ngroups
    cdef bint add, check_all
    cdef double scale

    def __cinit__(self, refs, group_subs, group_inner, sub_factors, coeffs, reads, factor_axes, view_of, bint add,
                  double scale=1.0, bint check_all=False):
        cdef Py_ssize_t n, k, total = 0
        self.refs = _copied(refs, &self.nrefs)
        self.group_subs = _copied(group_subs, &self.ngroups)
        self.ngroups -= 1
        self.group_inner = _copied(group_inner, &n)
        self.sub_factors = _copied(sub_factors, &n)
        self.reads = _copied(reads, &self.nfactors)
        self.view_of = _copied(view_of, &self.tndim)
        self.vndim = (max(view_of) + 1) if len(view_of) else 0
        starts = [0]
        for item in factor_axes:
            total += len(item)
            starts.append(total)
        self.axes_start = _copied(starts, &n)
        self.axes = _copied([axis for item in factor_axes for axis in item], &n)
        self.ncoeffs = len(coeffs)
        self.coeffs = <double*> malloc(sizeof(double) * (self.ncoeffs + 1))
        if self.coeffs == NULL:
            raise MemoryError()
        for k in range(self.ncoeffs):
            self.coeffs[k] = coeffs[k]
        self.add = add
        self.scale = scale
        self.check_all = check_all

    def __dealloc__(self):
        free(self.refs); free(self.group_subs); free(self.group_inner); free(self.sub_factors); free(self.reads)
        free(self.view_of); free(self.axes_start); free(self.axes); free(self.coeffs)

    def run(self, target, tuple args):
        """Run the pass into ``target`` with the factors among ``args``; False where the twin must."""
        cdef Py_buffer tview, fview
        cdef int kdim = self.vndim if self.vndim > 0 else 1
        cdef Py_ssize_t itemsize, axis, u, f, j, size, stride
        cdef char kind
        cdef bint done = False
        cdef Py_ssize_t* geometry = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (2 * kdim + (self.nfactors + 1) * (kdim + 1)))
        if geometry == NULL:
            raise MemoryError()
        cdef Py_ssize_t* shape = geometry
        cdef Py_ssize_t* tstrides = geometry + kdim
        cdef Py_ssize_t* addresses = geometry + 2 * kdim
        cdef Py_ssize_t* fstrides = addresses + self.nfactors + 1
        PyObject_GetBuffer(target, &tview, PyBUF_STRIDES | PyBUF_FORMAT | PyBUF_WRITABLE)
        try:
            kind = tview.format[0] if tview.format != NULL else 0
            if (kind != b"d" and kind != b"f") or tview.format[1] != 0 or tview.ndim != self.tndim:
                return False
            if self.check_all and not _all_of_kind(args, kind):
                return False
            itemsize = tview.itemsize
            for u in range(kdim):
                shape[u], tstrides[u] = -1, 0
            if self.vndim == 0:   # a 0-d target, run as one entry (kernels.py reshapes it so)
                shape[0], tstrides[0] = 1, 1
            for axis in range(self.tndim):
                u, size, stride = self.view_of[axis], tview.shape[axis], tview.strides[axis]
                if stride % itemsize or (shape[u] != -1 and shape[u] != size):
                    return False
                shape[u] = size
                tstrides[u] += stride // itemsize
            for f in range(self.nfactors * kdim):
                fstrides[f] = 0
            for f in range(self.nfactors):
                PyObject_GetBuffer(args[self.reads[f]], &fview, PyBUF_STRIDES | PyBUF_FORMAT)
                try:
                    if fview.format == NULL or fview.format[0] != kind or fview.format[1] != 0 or \
                            fview.ndim != self.axes_start[f + 1] - self.axes_start[f]:
                        return False
                    for j in range(fview.ndim):
                        u = self.axes[self.axes_start[f] + j]
                        if fview.shape[j] != shape[u] or fview.strides[j] % itemsize:
                            return False
                        fstrides[f * kdim + u] = fview.strides[j] // itemsize
                    addresses[f] = <Py_ssize_t> fview.buf
                finally:
                    PyBuffer_Release(&fview)
            if self.scale != 1.0:
                if not _contiguous(&tview):
                    return False
                if kind == b"d":
                    _scale[double](<double*> tview.buf, tview.len // itemsize, <double> self.scale)
                else:
                    _scale[float](<float*> tview.buf, tview.len // itemsize, <float> self.scale)
            _products(<Py_ssize_t> tview.buf, kind == b"d", shape, tstrides, kdim, addresses,
                      fstrides, self.nfactors, self.refs, self.nrefs, self.group_subs, self.group_inner,
                      self.ngroups, self.sub_factors, self.coeffs, self.ncoeffs, self.add)
            done = True
        finally:
            PyBuffer_Release(&tview)
            free(geometry)
        return done


cdef real _largest_column_sum(const real* data, Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """max_j Σ_i |data[i·cols + j]|: each column summed row after row, a NaN sum propagated."""
    cdef Py_ssize_t i, j
    cdef real best = 0, total
    for j in range(cols):
        if real is double:
            total = fabs(data[j])
            for i in range(1, rows):
                total = total + fabs(data[i * cols + j])
        else:
            total = fabsf(data[j])
            for i in range(1, rows):
                total = total + fabsf(data[i * cols + j])
        if j == 0 or total > best or total != total:
            best = total
        if best != best:
            break
    return best


def one_norm(a):
    """The 1-norm (largest column sum of absolute values) of a C-contiguous float64/float32 matrix,
    as numpy's ``np.maximum.reduce(np.add.reduce(np.absolute(a), axis=0))`` computes it: each column
    summed row after row in the matrix's dtype, a NaN sum propagated. None where numpy sums another
    way or the matrix is not one of these (another layout or dtype, one column of several rows,
    no entries): the caller runs numpy's."""
    cdef Py_buffer view
    cdef Py_ssize_t rows, cols
    cdef char kind
    PyObject_GetBuffer(a, &view, PyBUF_STRIDES | PyBUF_FORMAT)
    try:
        if view.ndim != 2 or view.format == NULL or view.format[1] != 0:
            return None
        kind = view.format[0]
        rows, cols = view.shape[0], view.shape[1]
        if (kind != b"d" and kind != b"f") or rows == 0 or cols == 0 or (cols == 1 and rows > 1) or \
                view.strides[1] != view.itemsize or view.strides[0] != view.itemsize * cols:
            return None
        if kind == b"d":
            return _largest_column_sum[double](<double*> view.buf, rows, cols)
        return _largest_column_sum[float](<float*> view.buf, rows, cols)
    finally:
        PyBuffer_Release(&view)


def distinct_layout(array, bint writable_floats=False):
    """Whether no two entries of ``array`` share memory (its axes, taken by increasing stride, each
    step over the whole extent of the ones before: buffers.distinct_entries's test), read from its
    buffer; with ``writable_floats``, also whether that buffer is writable and of native floats
    (float64, float32, float16 or long double), False where it exports none. None where it exports
    no buffer and ``writable_floats`` is not asked, or has no entries (numpy exports an empty
    array's strides changed): the caller tests it in Python."""
    cdef Py_buffer view
    cdef Py_ssize_t strides[64]
    cdef Py_ssize_t sizes[64]
    cdef Py_ssize_t extent, stride, size
    cdef int axis, k, count = 0
    try:
        PyObject_GetBuffer(array, &view, PyBUF_STRIDES | PyBUF_FORMAT | PyBUF_WRITABLE if writable_floats
                           else PyBUF_STRIDES)
    except (BufferError, TypeError, ValueError):
        return False if writable_floats else None
    try:
        if view.ndim > 64:
            return False if writable_floats else None
        if writable_floats and (view.format == NULL or view.format[1] != 0 or view.format[0] not in b"dfeg"):
            return False
        for axis in range(view.ndim):
            if view.shape[axis] == 0:   # numpy exports an empty array's strides changed: its own test
                return None
        for axis in range(view.ndim):   # the axes of more than one entry, sorted by |stride| (insertion)
            size, stride = view.shape[axis], view.strides[axis]
            if size <= 1:
                continue
            if stride < 0:
                stride = -stride
            k = count
            while k > 0 and strides[k - 1] > stride:
                strides[k], sizes[k] = strides[k - 1], sizes[k - 1]
                k -= 1
            strides[k], sizes[k] = stride, size
            count += 1
        extent = view.itemsize
        for k in range(count):
            if strides[k] < extent:
                return False
            extent = strides[k] * sizes[k]
        return True
    finally:
        PyBuffer_Release(&view)
