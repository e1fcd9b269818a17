/* The innermost loops of tensordiff/_kernels.pyx (its walk is _kernelrun.pxi). The first: a block
 * of rows, each written as a sum of up to four scaled rows,
 * out[r][j] (= or +=) s[0][r]*p[0][r][j] + ... + s[count-1][r]*p[count-1][r][j],
 * added left to right (row r of factor g starts at p[g] + r*pstride[g]; its scalar is s[g*m + r]).
 *
 * GCC on x86-64 Linux builds it twice, for AVX2 and for the baseline, and the loader picks one per
 * machine (target_clones): a wheel built for any x86-64 runs the wider loop where the CPU has it.
 * AVX2 alone never fuses a multiply and an add (that is FMA, a separate feature), so both clones
 * round exactly as the numpy twin does: results stay bit-identical.
 */
#ifndef TENSORDIFF_KERNELROWS_H
#define TENSORDIFF_KERNELROWS_H

#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TD_CLONES
#endif

/* one loop over the block's rows, the row's pointers and scalars set up outside the inner loop */
#define TD_ROWS(REAL, BODY)                                                                        \
    for (r = 0; r < rows; r++) {                                                                    \
        REAL *o = out + r * rstride;                                                                \
        const REAL *p0 = p[0] + r * ps0, *p1 = p[c1] + r * ps1, *p2 = p[c2] + r * ps2,              \
                   *p3 = p[c3] + r * ps3;                                                           \
        const REAL s0 = s[r], s1 = s[c1 * m + r], s2 = s[c2 * m + r], s3 = s[c3 * m + r];           \
        (void)p1; (void)p2; (void)p3; (void)s1; (void)s2; (void)s3;                                 \
        for (j = 0; j < n; j++) BODY;                                                               \
    }

#define TD_FUSED_BLOCK(NAME, REAL)                                                                  \
TD_CLONES static void NAME(REAL *out, ptrdiff_t rows, ptrdiff_t rstride, ptrdiff_t n, int count,    \
                           const REAL *s, ptrdiff_t m, REAL *const *p, const ptrdiff_t *pstride,    \
                           int assign)                                                              \
{                                                                                                   \
    ptrdiff_t r, j;                                                                                 \
    const int c1 = count > 1 ? 1 : 0, c2 = count > 2 ? 2 : 0, c3 = count > 3 ? 3 : 0;               \
    const ptrdiff_t ps0 = pstride[0], ps1 = pstride[c1], ps2 = pstride[c2], ps3 = pstride[c3];      \
    switch (count * 2 + (assign ? 1 : 0)) {                                                         \
    case 3: TD_ROWS(REAL, o[j] = s0 * p0[j]) break;                                                 \
    case 2: TD_ROWS(REAL, o[j] = o[j] + s0 * p0[j]) break;                                          \
    case 5: TD_ROWS(REAL, o[j] = s0 * p0[j] + s1 * p1[j]) break;                                    \
    case 4: TD_ROWS(REAL, o[j] = o[j] + s0 * p0[j] + s1 * p1[j]) break;                             \
    case 7: TD_ROWS(REAL, o[j] = s0 * p0[j] + s1 * p1[j] + s2 * p2[j]) break;                       \
    case 6: TD_ROWS(REAL, o[j] = o[j] + s0 * p0[j] + s1 * p1[j] + s2 * p2[j]) break;                \
    case 9: TD_ROWS(REAL, o[j] = s0 * p0[j] + s1 * p1[j] + s2 * p2[j] + s3 * p3[j]) break;          \
    default: TD_ROWS(REAL, o[j] = o[j] + s0 * p0[j] + s1 * p1[j] + s2 * p2[j] + s3 * p3[j])         \
    }                                                                                               \
}

TD_FUSED_BLOCK(td_fused_block_double, double)
TD_FUSED_BLOCK(td_fused_block_float, float)

/* a block of rows of a group with no factor along them (a constant, or factors of the row alone):
 * out[r][j] (= or +=) s[r] */
#define TD_FILL_BLOCK(NAME, REAL)                                                                   \
TD_CLONES static void NAME(REAL *out, ptrdiff_t rows, ptrdiff_t rstride, ptrdiff_t n, const REAL *s, \
                           int assign)                                                              \
{                                                                                                   \
    ptrdiff_t r, j;                                                                                 \
    for (r = 0; r < rows; r++) {                                                                    \
        REAL *o = out + r * rstride;                                                                \
        const REAL v = s[r];                                                                        \
        if (assign)                                                                                 \
            for (j = 0; j < n; j++) o[j] = v;                                                       \
        else                                                                                        \
            for (j = 0; j < n; j++) o[j] = o[j] + v;                                                \
    }                                                                                               \
}

/* a block of rows of one group reading count >= 2 contiguous factors along them, multiplied left
 * to right as the twin does: out[r][j] (= or +=) s[r] * p[0][r][j] * ... * p[count-1][r][j] */
#define TD_PRODUCT_BLOCK(NAME, REAL)                                                                \
TD_CLONES static void NAME(REAL *out, ptrdiff_t rows, ptrdiff_t rstride, ptrdiff_t n, int count,    \
                           const REAL *s, REAL *const *p, const ptrdiff_t *pstride, int assign)     \
{                                                                                                   \
    ptrdiff_t r, j;                                                                                 \
    int q;                                                                                          \
    for (r = 0; r < rows; r++) {                                                                    \
        REAL *o = out + r * rstride;                                                                \
        const REAL v = s[r];                                                                        \
        const REAL *p0 = p[0] + r * pstride[0], *p1 = p[1] + r * pstride[1];                        \
        if (count == 2) {                                                                           \
            if (assign) for (j = 0; j < n; j++) o[j] = v * p0[j] * p1[j];                           \
            else for (j = 0; j < n; j++) o[j] = o[j] + v * p0[j] * p1[j];                           \
        } else if (count == 3) {                                                                    \
            const REAL *p2 = p[2] + r * pstride[2];                                                 \
            if (assign) for (j = 0; j < n; j++) o[j] = v * p0[j] * p1[j] * p2[j];                   \
            else for (j = 0; j < n; j++) o[j] = o[j] + v * p0[j] * p1[j] * p2[j];                   \
        } else {                                                                                    \
            for (j = 0; j < n; j++) {                                                               \
                REAL x = v;                                                                         \
                for (q = 0; q < count; q++) x = x * p[q][r * pstride[q] + j];                       \
                o[j] = assign ? x : o[j] + x;                                                       \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

/* a block of rows scaled in place as numpy's out *= c * F[0] * ... * F[count-1] does (the scale formed
 * left to right, broadcast, then one multiplication): row r of factor q starts at p[q] + r*prow[q] and
 * steps pstep[q] along it (0: one number for the row). The leading factors that are one number per
 * row are multiplied once per row: the same operations in the same order. */
#define TD_SCALE_BLOCK(NAME, REAL)                                                                  \
TD_CLONES static void NAME(REAL *out, ptrdiff_t rows, ptrdiff_t rstride, ptrdiff_t n, REAL c,       \
                           int count, REAL *const *p, const ptrdiff_t *prow, const ptrdiff_t *pstep)\
{                                                                                                   \
    ptrdiff_t r, j;                                                                                 \
    int q, first;                                                                                   \
    for (r = 0; r < rows; r++) {                                                                    \
        REAL *o = out + r * rstride;                                                                \
        REAL v = c;                                                                                 \
        for (first = 0; first < count && pstep[first] == 0; first++)                                \
            v = v * p[first][r * prow[first]];                                                      \
        if (first == count) {                                                                       \
            for (j = 0; j < n; j++) o[j] = o[j] * v;                                                \
        } else if (first == count - 1 && pstep[first] == 1) {                                       \
            const REAL *a = p[first] + r * prow[first];                                             \
            for (j = 0; j < n; j++) o[j] = o[j] * (v * a[j]);                                       \
        } else if (first == count - 2 && pstep[first] == 1 && pstep[first + 1] == 0) {              \
            const REAL *a = p[first] + r * prow[first];                                             \
            const REAL b = p[first + 1][r * prow[first + 1]];                                       \
            for (j = 0; j < n; j++) o[j] = o[j] * (v * a[j] * b);                                   \
        } else if (first == count - 2 && pstep[first] == 1 && pstep[first + 1] == 1) {              \
            const REAL *a = p[first] + r * prow[first], *b = p[first + 1] + r * prow[first + 1];    \
            for (j = 0; j < n; j++) o[j] = o[j] * (v * a[j] * b[j]);                                \
        } else {                                                                                    \
            for (j = 0; j < n; j++) {                                                               \
                REAL x = v;                                                                         \
                for (q = first; q < count; q++) x = x * p[q][r * prow[q] + j * pstep[q]];           \
                o[j] = o[j] * x;                                                                    \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

TD_FILL_BLOCK(td_fill_block_double, double)
TD_FILL_BLOCK(td_fill_block_float, float)
TD_PRODUCT_BLOCK(td_product_block_double, double)
TD_PRODUCT_BLOCK(td_product_block_float, float)
TD_SCALE_BLOCK(td_scale_block_double, double)
TD_SCALE_BLOCK(td_scale_block_float, float)

#endif
