/* The innermost loop of tensordiff/_kernels.pyx: a row written as a sum of up to four scaled rows,
 * out[j] (= or +=) s[0]*p[0][j] + ... + s[count-1]*p[count-1][j], added left to right.
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

#define TD_FUSED_ROW(NAME, REAL)                                                                    \
TD_CLONES static void NAME(REAL *out, ptrdiff_t n, int count, const REAL *s,               \
                           REAL *const *p, int assign)                                              \
{                                                                                                   \
    ptrdiff_t j;                                                                                    \
    const REAL s0 = s[0];                                                                           \
    const REAL *p0 = p[0], *p1 = p[count > 1 ? 1 : 0],                            \
               *p2 = p[count > 2 ? 2 : 0], *p3 = p[count > 3 ? 3 : 0];            \
    const REAL s1 = count > 1 ? s[1] : 0, s2 = count > 2 ? s[2] : 0, s3 = count > 3 ? s[3] : 0;     \
    switch (count * 2 + (assign ? 1 : 0)) {                                                         \
    case 3: for (j = 0; j < n; j++) out[j] = s0 * p0[j]; break;                                     \
    case 2: for (j = 0; j < n; j++) out[j] = out[j] + s0 * p0[j]; break;                            \
    case 5: for (j = 0; j < n; j++) out[j] = s0 * p0[j] + s1 * p1[j]; break;                        \
    case 4: for (j = 0; j < n; j++) out[j] = out[j] + s0 * p0[j] + s1 * p1[j]; break;               \
    case 7: for (j = 0; j < n; j++) out[j] = s0 * p0[j] + s1 * p1[j] + s2 * p2[j]; break;           \
    case 6: for (j = 0; j < n; j++) out[j] = out[j] + s0 * p0[j] + s1 * p1[j] + s2 * p2[j]; break;  \
    case 9: for (j = 0; j < n; j++) out[j] = s0 * p0[j] + s1 * p1[j] + s2 * p2[j] + s3 * p3[j];     \
        break;                                                                                      \
    default: for (j = 0; j < n; j++)                                                                \
        out[j] = out[j] + s0 * p0[j] + s1 * p1[j] + s2 * p2[j] + s3 * p3[j];                        \
    }                                                                                               \
}

TD_FUSED_ROW(td_fused_row_double, double)
TD_FUSED_ROW(td_fused_row_float, float)

#endif
