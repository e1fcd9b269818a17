# Checks read from buffers that other modules ask the compiled module for: the 1-norm of a matrix
# (conditioning) and whether an array's entries are distinct in memory (buffers). Included by _kernels.pyx.

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
