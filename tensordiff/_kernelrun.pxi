# The walk of the compiled products kernel over its target (included by _kernels.pyx, which defines
# the fused type ``real`` and declares the row loops of _kernelrows.h): _run and its generic row.

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


# entries of a chunk of rows that every group writes before the next chunk (16 KiB of float64): a row
# that several groups write, or that is scaled first, is still in cache when the next group adds to it
cdef enum:
    CHUNK = 2048
# how a group's rows are written: in the fused pass of up to four groups (one contiguous factor along
# the row), filled (no factor along it), as a product of contiguous factors, or in a generic loop
cdef enum:
    GENERIC = 0
    FUSED = 1
    FILL = 2
    PRODUCT = 3


cdef void _run(real* target, const Py_ssize_t* shape, const Py_ssize_t* tstrides, int ndim,
               const Py_ssize_t* addresses, const Py_ssize_t* fstrides, int nfactors, const Py_ssize_t* refs,
               const Py_ssize_t* group_subs, const Py_ssize_t* group_inner, int ngroups,
               const Py_ssize_t* sub_factors, const double* coeffs, bint add, int nscale, double scale,
               Py_ssize_t* index, Py_ssize_t* foffset, real** inner, Py_ssize_t* inner_stride,
               real* partial, real* scalars, real* scratch, int* path, real** pointers,
               Py_ssize_t* pstrides, real** spointers, Py_ssize_t* sprow, Py_ssize_t* sstep) noexcept nogil:
    """The walk. With ``nscale`` or a ``scale`` other than 1, the target is first multiplied by
    ``scale`` times the last ``nscale`` factors, as numpy's ``target *= scale * F1 * ...`` does (a contiguous target's rows only: the caller checks), a chunk
    of rows just before the groups add to it."""
    cdef int last = ndim - 1
    cdef int rowaxis = last - 1   # -1 for a vector: one block of one row
    cdef Py_ssize_t length = shape[last], step = tstrides[last]
    cdef Py_ssize_t m = shape[rowaxis] if rowaxis >= 0 else 1
    cdef Py_ssize_t rstride = tstrides[rowaxis] if rowaxis >= 0 else 0
    cdef Py_ssize_t blocks = 1, block, k, toffset = 0, st, r0, rows, rowoffset, chunk = m
    cdef int g, sub, f, r, c, count, ninner, axis, q
    cdef real v0
    cdef real* srow
    cdef const real* ptr
    cdef bint assign, contiguous
    cdef int nsubs = group_subs[ngroups]
    for axis in range(rowaxis):
        blocks *= shape[axis]
    for axis in range(ndim):
        index[axis] = 0
    for f in range(nfactors):
        foffset[f] = 0
    for g in range(ngroups):
        ninner = group_inner[2 * g + 1] - group_inner[2 * g]
        contiguous = step == 1
        for r in range(group_inner[2 * g], group_inner[2 * g + 1]):
            contiguous = contiguous and fstrides[refs[r] * ndim + last] == 1
        path[g] = GENERIC
        if contiguous:
            path[g] = FILL if ninner == 0 else FUSED if ninner == 1 else PRODUCT
    # rows are written a chunk at a time where a row is visited more than once (several passes over
    # it: a scaling, then groups that are not fused into one); else the block's rows in one call
    count = 1 if nscale or scale != 1.0 else 0
    g = 0
    while g < ngroups:
        if path[g] == FUSED:
            ninner = 0
            while ninner < 4 and g + ninner < ngroups and path[g + ninner] == FUSED:
                ninner += 1
            g += ninner
        else:
            g += 1
        count += 1
    if count > 1:
        chunk = CHUNK // length if length < CHUNK else 1
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
        # the block's rows, a chunk at a time (scaled first, with nscale); in a chunk, up to four
        # consecutive fused groups in one pass, any other group in its own
        r0 = 0
        while r0 < m:
            rows = chunk if chunk < m - r0 else m - r0
            rowoffset = toffset + r0 * rstride
            if nscale or scale != 1.0:
                for q in range(nscale):
                    f = nfactors - nscale + q
                    sstep[q] = fstrides[f * ndim + last]
                    sprow[q] = fstrides[f * ndim + rowaxis] if rowaxis >= 0 else 0
                    spointers[q] = (<real*> addresses[f]) + foffset[f] + r0 * sprow[q]
                if real is double:
                    td_scale_block_double(target + rowoffset, rows, rstride, length, <double> scale, nscale,
                                          spointers, sprow, sstep)
                else:
                    td_scale_block_float(target + rowoffset, rows, rstride, length, <float> scale, nscale,
                                         spointers, sprow, sstep)
            assign = not add
            g = 0
            while g < ngroups:
                if path[g] == FUSED:
                    count = 0
                    while count < 4 and g + count < ngroups and path[g + count] == FUSED:
                        f = refs[group_inner[2 * (g + count)]]
                        pstrides[count] = fstrides[f * ndim + rowaxis] if rowaxis >= 0 else 0
                        pointers[count] = (<real*> addresses[f]) + foffset[f] + r0 * pstrides[count]
                        count += 1
                    if real is double:
                        td_fused_block_double(target + rowoffset, rows, rstride, length, count, scalars + g * m + r0,
                                              m, pointers, pstrides, assign)
                    else:
                        td_fused_block_float(target + rowoffset, rows, rstride, length, count, scalars + g * m + r0,
                                             m, pointers, pstrides, assign)
                    g += count
                    assign = False
                    continue
                if path[g] == FILL:
                    if real is double:
                        td_fill_block_double(target + rowoffset, rows, rstride, length, scalars + g * m + r0, assign)
                    else:
                        td_fill_block_float(target + rowoffset, rows, rstride, length, scalars + g * m + r0, assign)
                elif path[g] == PRODUCT:
                    ninner = 0
                    for r in range(group_inner[2 * g], group_inner[2 * g + 1]):
                        f = refs[r]
                        inner_stride[ninner] = fstrides[f * ndim + rowaxis] if rowaxis >= 0 else 0
                        inner[ninner] = (<real*> addresses[f]) + foffset[f] + r0 * inner_stride[ninner]
                        ninner += 1
                    if real is double:
                        td_product_block_double(target + rowoffset, rows, rstride, length, ninner,
                                                scalars + g * m + r0, inner, inner_stride, assign)
                    else:
                        td_product_block_float(target + rowoffset, rows, rstride, length, ninner,
                                               scalars + g * m + r0, inner, inner_stride, assign)
                else:
                    for k in range(r0, r0 + rows):
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
            r0 += rows
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
