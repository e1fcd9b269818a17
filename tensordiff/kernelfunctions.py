"""Elementwise functions that numpy computes slowly, computed by vectorised compiled loops.

numpy's float64 ``tanh`` calls libm once per entry: about 16 ns an entry, so on a network's
20000×100 pre-activations it costs more than the matrix product that made them. ``tanh`` here
runs the loop of ``_kernelfunctions.h`` (Cephes' rational approximation below 0.625, an
exponential above, both vectorised), about five times faster, within 1.4 units in the last place
of the exact value (glibc's: 1.2). Where the compiled kernels are not in use the numpy twin
below does the same operations in the same order, so both give the same bits; the twin runs
them a few thousand entries at a time and is slower than ``np.tanh``, as the kernels' twin is
slower than they are.

Only float64 runs through them (and integers, which numpy's tanh turns into float64 too); any
other dtype, complex included, gets ``np.tanh`` in both modes.
"""

import numpy as np

from .kernels import compiled_elementwise

__all__ = ["tanh", "twin_tanh", "twin_tanh_contiguous"]

_TANH_P = (-9.64399179425052238628E-1, -9.92877231001918586564E1, -1.61468768441708447952E3)
_TANH_Q = (1.12811678491632931402E2, 2.23548839060100448583E3, 4.84406305325125486048E3)
_EXP_P = (1.26177193074810590878E-4, 3.02994407707441961300E-2, 9.99999999999999999910E-1)
_EXP_Q = (3.00198505138664455042E-6, 2.52448340349684104192E-3, 2.27265548208155028766E-1, 2.00000000000000000009E0)
_LN2_HIGH, _LN2_LOW, _LOG2E = 6.93145751953125E-1, 1.42860682030941723212E-6, 1.4426950408889634073599
_ROUNDING_SHIFT = 6755399441055744.0   # 1.5·2^52: adding it rounds to an integer
_ROUNDING_SHIFT_BITS = np.int64(0x4338000000000000)
_CAP, _SMALL = 22.0, 0.625
_TWIN_CHUNK = 2048
_AS_FLOAT64 = frozenset("il")   # the integer kinds numpy's tanh computes in float64 (int32, int64 and unsigned)


def twin_tanh(v: np.ndarray) -> np.ndarray:
    """tanh of a 1-d float64 array by the operations of ``td_tanh_double`` (a new array).

    Each operation is the kernel's, on the same operands (commuted where IEEE arithmetic is
    commutative), written into a few reused buffers: the comments give the kernel's expression."""
    a = np.abs(v)
    np.copyto(a, _CAP, where=~(a < _CAP))                  # a < 22 ? a : 22 (22 for NaN)
    s = a * a
    num = s * _TANH_P[0]
    num += _TANH_P[1]
    num *= s
    num += _TANH_P[2]                                       # (P0·s + P1)·s + P2
    den = s + _TANH_Q[0]
    den *= s
    den += _TANH_Q[1]
    den *= s
    den += _TANH_Q[2]                                       # ((s + Q0)·s + Q1)·s + Q2
    num /= den
    small = a * s
    small *= num
    small += a                                              # a + a·s·(num/den)
    z = a + a
    shifted = z * _LOG2E
    shifted += _ROUNDING_SHIFT                              # z·log2(e) + 1.5·2^52
    k = shifted - _ROUNDING_SHIFT
    r = k * _LN2_HIGH
    np.subtract(z, r, out=r)
    k *= _LN2_LOW
    r -= k                                                  # (z - k·ln2_high) - k·ln2_low
    rr = np.multiply(r, r, out=z)
    px = np.multiply(rr, _EXP_P[0], out=den)
    px += _EXP_P[1]
    px *= rr
    px += _EXP_P[2]
    px *= r                                                 # r·((p0·rr + p1)·rr + p2)
    qx = np.multiply(rr, _EXP_Q[0], out=s)
    qx += _EXP_Q[1]
    qx *= rr
    qx += _EXP_Q[2]
    qx *= rr
    qx += _EXP_Q[3]                                         # ((q0·rr + q1)·rr + q2)·rr + q3
    qx -= px
    e = np.divide(px, qx, out=px)
    e *= 2.0
    e += 1.0                                                # 1 + 2·(px/(qx - px))
    bits = shifted.view(np.int64)
    bits -= _ROUNDING_SHIFT_BITS
    bits += 1023
    bits <<= 52                                             # 2^k from k's bits
    e *= shifted
    e += 1.0
    large = np.divide(2.0, e, out=e)
    np.subtract(1.0, large, out=large)                      # 1 - 2/(e + 1)
    t = large
    np.copyto(t, small, where=a < _SMALL)
    np.copysign(t, v, out=t)
    np.copyto(t, v, where=v != v)
    return t


def twin_tanh_contiguous(x: np.ndarray, out: np.ndarray) -> None:
    """``tanh_contiguous``'s twin: ``twin_tanh`` of ``x`` into ``out`` (contiguous, of x's strides; x
    itself allowed), a few thousand entries at a time, so its temporaries stay in cache and small."""
    source, target = x.reshape(-1, order="A"), out.reshape(-1, order="A")
    with np.errstate(all="ignore"):
        for start in range(0, source.size, _TWIN_CHUNK):
            target[start:start + _TWIN_CHUNK] = twin_tanh(source[start:start + _TWIN_CHUNK])


def tanh(x, out=None):
    """tanh entry by entry, as ``np.tanh(x, out=out)`` is called (a ufunc's signature, so a step may
    write into a dying argument's buffer), by the compiled loop where the kernels are in use."""
    array = x if type(x) is np.ndarray else np.asarray(x)
    if array.dtype != np.float64:
        if array.dtype.kind not in "iu" or array.dtype.itemsize < 4:
            return np.tanh(x, out=out)
        array = array.astype(np.float64)
    loop = compiled_elementwise("tanh_contiguous") or twin_tanh_contiguous
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    if out is not None and type(out) is np.ndarray and out.dtype == np.float64 and out.shape == array.shape \
            and out.strides == array.strides:
        loop(array, out)
        return out
    result = np.empty_like(array)
    loop(array, result)
    if out is None:
        return result if result.ndim else result[()]
    out[...] = result
    return out


tanh.ufunc_like = True  # type: ignore[attr-defined]  # functions.Elementwise reads it: steps call tanh(x, out=x)
