# BoundProducts, a ProductsLayout's pass with its arguments fixed, and its buffer helpers (included by
# _kernels.pyx, which defines ``real``, _address and _products).

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
    target by it, as numpy's ``target *= scale`` does (in the target's dtype); the last
    ``scale_factors`` of the factors (not read by the layout) multiply that scale, as
    ``target *= scale * F1 * F2 ...`` does, each row scaled just before the terms are added to it
    (the target must be the view itself, its rows contiguous). With ``check_all``,
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
    cdef Py_ssize_t nrefs, ncoeffs, nfactors, tndim, vndim, ngroups, nscale
    cdef bint add, check_all
    cdef double scale

    def __cinit__(self, refs, group_subs, group_inner, sub_factors, coeffs, reads, factor_axes, view_of, bint add,
                  double scale=1.0, bint check_all=False, Py_ssize_t scale_factors=0):
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
        self.nscale = scale_factors

    def __dealloc__(self):
        free(self.refs); free(self.group_subs); free(self.group_inner); free(self.sub_factors); free(self.reads)
        free(self.view_of); free(self.axes_start); free(self.axes); free(self.coeffs)

    def run(self, target, tuple args):
        """Run the pass into ``target`` with the factors among ``args``; False where the twin must."""
        cdef Py_buffer tview, fview
        cdef int kdim = self.vndim if self.vndim > 0 else 1
        cdef Py_ssize_t itemsize, axis, u, f, j, size, stride
        cdef char kind
        cdef bint done = False, rows
        cdef double row_scale
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
            # the scale applied by _run a chunk of rows at a time, just before the terms are added
            # (one pass over the target): where the target is the view and its rows are contiguous
            row_scale = 1.0
            if self.nscale or self.scale != 1.0:
                rows = self.ngroups > 0 and tstrides[kdim - 1] == 1
                for axis in range(self.tndim):
                    rows = rows and self.view_of[axis] == axis
                if rows:
                    row_scale = self.scale
                elif self.nscale:
                    return False
            if self.scale != 1.0 and row_scale == 1.0:
                if not _contiguous(&tview):
                    return False
                if kind == b"d":
                    _scale[double](<double*> tview.buf, tview.len // itemsize, <double> self.scale)
                else:
                    _scale[float](<float*> tview.buf, tview.len // itemsize, <float> self.scale)
            _products(<Py_ssize_t> tview.buf, kind == b"d", shape, tstrides, kdim, addresses,
                      fstrides, self.nfactors, self.refs, self.nrefs, self.group_subs, self.group_inner,
                      self.ngroups, self.sub_factors, self.coeffs, self.ncoeffs, self.add, <int> self.nscale,
                      row_scale)
            done = True
        finally:
            PyBuffer_Release(&tview)
            free(geometry)
        return done
