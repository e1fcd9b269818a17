# Elementwise functions computed by the vectorised loops of _kernelfunctions.h. Included by _kernels.pyx.

cdef extern from "_kernelfunctions.h" nogil:
    void td_tanh_double(const double* x, double* out, Py_ssize_t n)


def tanh_contiguous(x, out):
    """Write tanh of every entry of float64 array ``x`` into ``out`` (``x`` itself allowed).

    Both must be contiguous with the same strides (kernelfunctions.tanh arranges it), so that entry
    i of one memory block maps to entry i of the other."""
    cdef Py_buffer source, target
    PyObject_GetBuffer(x, &source, PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT)
    try:
        PyObject_GetBuffer(out, &target, PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE)
        try:
            if source.format == NULL or target.format == NULL or source.format[0] != b"d" or source.format[1] != 0 \
                    or target.format[0] != b"d" or target.format[1] != 0 or source.len != target.len:
                raise ValueError("tanh_contiguous takes two contiguous float64 arrays of one size")
            with nogil:
                td_tanh_double(<const double*> source.buf, <double*> target.buf, source.len // sizeof(double))
        finally:
            PyBuffer_Release(&target)
    finally:
        PyBuffer_Release(&source)
