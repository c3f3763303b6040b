/*
 * Quantisation to i8 codes and back (lib/ops/quant.c; the rules are those of
 * clf_op_quantize in clformer.h).
 *
 * A tensor x of 1 to 4 dims (strided, see clf_offset4 in common.cl) is seen
 * as [rows, cols]: cols = shape.s3, rows = shape.s0 * shape.s1 * shape.s2.
 * Element (r, c) is logical element r * cols + c. A group shares a scale:
 * axis 0 (TENSOR) one group, 1 (ROW) group r, 2 (COLUMN) group c.
 *
 * Scheme codes as enum clf_quant_scheme: 0 symmetric, 1 affine, 2 log.
 * With b bits: Q = L = 2^(b-1) - 1, affine codes in [-2^(b-1), 2^(b-1) - 1].
 *
 * Work-group kernels (GPUs), in the order a quantisation runs them:
 *   quant_reduce  one work-group per group: stats[g] = (lo, hi) over the
 *                 finite elements, lo = min(min x, 0), hi = max(max x, 0)
 *                 (affine), else lo = 0, hi = max |x| (0 when none)
 *   quant_scale   one work-item per group: scale[g] from stats[g]
 *   quant_zero    one work-item per group (affine): zero[g] from stats, scale
 *   quant_codes   one work-item per element: q from x, scale, zero
 *   quant_dequant one work-item per element: y from q, scale, zero
 * Work-item kernels (CPU devices, where barriers are emulated by work-item
 * loops): no local memory, no barriers; rows whose last stride is 1 go in
 * explicit float8 vectors (PoCL turns a per-work-item row loop into strided
 * gathers otherwise), the rest element by element:
 *   quant_row_item      per-row groups, one work-item per row: lo, hi over
 *                       the row, scale and zero, then the row's codes (the
 *                       row is read twice, the second time from cache)
 *   quant_partial_item  per-column / per-tensor groups, first stage: work-item
 *                       (cb, b) reduces columns 8cb .. 8cb + 7 over the rows
 *                       of block b into part (lo, hi per block and column)
 *   quant_finish        second stage, one work-item per group: lo, hi over
 *                       the blocks (and columns, per tensor), scale and zero
 *   quant_codes_rows    codes, one work-item per row (given or computed scales)
 *   quant_dequant_rows  values, one work-item per row
 * and, for the encoder's K and V per sequence and channel (every device):
 *   quant_seq_cols_item scales and codes per (sequence, 8 columns)
 * Both kinds compute the same exact functions (min, max, the rounding rule
 * of quant_common.cl), so their results are bitwise equal.
 */
#include "quant_common.cl"

#define QS_SYMMETRIC 0
#define QS_AFFINE 1
#define QS_LOG 2

#define QA_TENSOR 0
#define QA_ROW 1
#define QA_COLUMN 2

/* Group of logical element (r, c). */
inline long q_group(long r, long c, int axis)
{
    return axis == QA_ROW ? r : axis == QA_COLUMN ? c : 0;
}

/*
 * Work-group g reduces its group of x (buffer, offset, strides; shape
 * [rows, cols] as above) into stats[2g] = lo, stats[2g + 1] = hi (dense f32
 * [groups, 2]). Non-finite values are skipped; lo and hi start at 0 (both
 * schemes include 0 in the range, so a group of zeros or non-finite values
 * gives (0, 0)). min and max are exact, so the result is independent of the
 * reduction order. Local size: a power of two; lmin, lmax: that many floats.
 */
__kernel void quant_reduce(__global const float *x, long x_off, long4 x_str, long4 shape,
                           __global float *stats, int axis, int affine,
                           __local float *lmin, __local float *lmax)
{
    long g = (long)get_group_id(0);
    int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
    long cols = shape.s3, rows = shape.s0 * shape.s1 * shape.s2;
    long n = axis == QA_ROW ? cols : axis == QA_COLUMN ? rows : rows * cols;
    float lo = 0.0f, hi = 0.0f;
    for (long i = lid; i < n; i += ls) {
        long e = axis == QA_ROW ? g * cols + i : axis == QA_COLUMN ? i * cols + g : i;
        float v = x[clf_offset4(e, shape, x_str, x_off)];
        if (!isfinite(v))
            continue;
        if (affine) {
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        } else {
            hi = fmax(hi, fabs(v));
        }
    }
    lmin[lid] = lo;
    lmax[lid] = hi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = ls / 2; step > 0; step /= 2) {
        if (lid < step) {
            lmin[lid] = fmin(lmin[lid], lmin[lid + step]);
            lmax[lid] = fmax(lmax[lid], lmax[lid + step]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        stats[2 * g] = lmin[0];
        stats[2 * g + 1] = lmax[0];
    }
}

/*
 * Scale of a group from its (lo, hi):
 *   symmetric  s = hi / Q, correctly rounded (q_div_rn)
 *   affine     s = d / (2^b - 1), correctly rounded, d = hi - lo rounded to
 *              fp32 (one rounding); where d overflows, the same value as
 *              (0.5 hi - 0.5 lo) / ((2^b - 1) / 2) (the halvings are exact),
 *              at most FLT_MAX (reached for b = 1 only)
 *   log        s = 2^E, E = min(lg(hi), 127) (2^128 is not a float)
 * and s = 0 for hi - lo = 0 (a group of zeros).
 */
inline float q_scale_of(float lo, float hi, int scheme, int bits)
{
    float s = 0.0f;
    if (scheme == QS_AFFINE) {
        float levels = (float)((1 << bits) - 1);
        float d = hi - lo;
        if (isinf(d)) /* b = 1 can overflow still: FLT_MAX then */
            s = fmin(q_div_rn(0.5f * hi - 0.5f * lo, 0.5f * levels), MAXFLOAT);
        else if (d > 0.0f)
            s = q_div_rn(d, levels);
    } else if (hi > 0.0f) {
        if (scheme == QS_LOG)
            s = ldexp(1.0f, min(q_lg(hi), 127));
        else
            s = q_div_rn(hi, (float)((1 << (bits - 1)) - 1));
    }
    return s;
}

/*
 * Affine zero point of a group: z = -2^(b-1) - rne(lo / s) (lo <= 0, so
 * z >= -2^(b-1); clamped to the code range for safety), 0 where s = 0.
 */
inline int q_zero_of(float lo, float s, int bits)
{
    int lowest = -(1 << (bits - 1)), highest = (1 << (bits - 1)) - 1;
    int z = 0;
    if (s > 0.0f) {
        float t = (float)lowest - q_rne_div(lo, s);
        z = (int)clamp(t, (float)lowest, (float)highest);
    }
    return z;
}

/*
 * Scale and zero point of group g from its range lo <= 0 <= hi over the
 * finite values: hi = max(hi, -lo) = max |x| and lo = 0 unless affine, then
 * scale[g] = q_scale_of and, affine only, zero[g] = q_zero_of (zero is not
 * written otherwise).
 */
inline void q_store_scale(float lo, float hi, int scheme, int bits, __global float *scale,
                          __global int *zero, long g)
{
    int affine = scheme == QS_AFFINE;
    if (!affine) {
        hi = fmax(hi, -lo);
        lo = 0.0f;
    }
    float s = q_scale_of(lo, hi, scheme, bits);
    scale[g] = s;
    if (affine)
        zero[g] = q_zero_of(lo, s, bits);
}

/* scale[g] (dense f32 [groups]) from stats[g] = (lo, hi), q_scale_of. */
__kernel void quant_scale(__global const float *stats, __global float *scale, int scheme,
                          int bits, long groups)
{
    long g = (long)get_global_id(0);
    if (g >= groups)
        return;
    scale[g] = q_scale_of(stats[2 * g], stats[2 * g + 1], scheme, bits);
}

/* Affine zero points, zero[g] (dense i32 [groups]), q_zero_of. */
__kernel void quant_zero(__global const float *stats, __global const float *scale,
                         __global int *zero, int bits, long groups)
{
    long g = (long)get_global_id(0);
    if (g >= groups)
        return;
    zero[g] = q_zero_of(stats[2 * g], scale[g], bits);
}

/*
 * Code of one value v with scale s and zero point z (0 unless affine):
 *   s = 0       0 (a group of zeros: every code 0)
 *   NaN         quantised as 0 is: 0, affine z
 *   symmetric   clamp(rne(v/s), -Q, Q)
 *   affine      clamp(rne(v/s) + z, -2^(b-1), 2^(b-1) - 1)
 *   log         sign(v) min(lg|v| - lg s + L, L) where that is >= 1, else 0
 * rne(v/s) is q_rne_div, exact; ±Inf gives an infinite quotient (or
 * lg = +large), so it saturates through the clamps.
 */
inline int q_code(float v, float s, float z, int scheme, int bits)
{
    int h = 1 << (bits - 1); /* 2^(b-1) */
    int code = 0;
    if (isnan(v))
        v = 0.0f;
    if (s > 0.0f) {
        if (scheme == QS_SYMMETRIC) {
            float lim = (float)(h - 1);
            code = (int)clamp(q_rne_div(v, s), -lim, lim);
        } else if (scheme == QS_AFFINE) {
            code = (int)clamp(q_rne_div(v, s) + z, (float)-h, (float)(h - 1));
        } else if (fabs(v) > 0.0f) {
            int levels = h - 1;
            int e = isinf(v) ? 1000 : q_lg(fabs(v));
            int level = min(e - q_lg(s) + levels, levels);
            if (level >= 1)
                code = v < 0.0f ? -level : level;
        }
    }
    return code;
}

/*
 * q_rne_div (quant_common.cl) and q_lg lane by lane (same operations,
 * selects for the branches), for finite x and s > 0 per lane (other lanes:
 * don't care).
 */
Q_RNE_DIV_VEC(float8, int8, q_rne_div8)

inline int8 q_lg8(float8 y)
{
    int8 k;
    float8 m = frexp(y, &k);
    return select(k - 1, k, m >= 0x1.6a09e6p-1f);
}

/* q_code lane by lane: 8 codes of v with scales s and zero points z. */
inline char8 q_code8(float8 v, float8 s, float8 z, int scheme, int bits)
{
    int h = 1 << (bits - 1);
    v = select(v, (float8)0.0f, isnan(v));
    float8 code;
    if (scheme == QS_SYMMETRIC) {
        float lim = (float)(h - 1);
        code = clamp(q_rne_div8(v, s), -lim, lim);
    } else if (scheme == QS_AFFINE) {
        code = clamp(q_rne_div8(v, s) + z, (float)-h, (float)(h - 1));
    } else {
        int levels = h - 1;
        float8 a = fabs(v);
        int8 e = select(q_lg8(a), (int8)1000, isinf(v));
        int8 level = min(e - q_lg8(s) + levels, levels);
        float8 fl = convert_float8(level);
        code = select((float8)0.0f, select(fl, -fl, v < 0.0f), level >= 1 && a > 0.0f);
    }
    return convert_char8(convert_int8(select((float8)0.0f, code, s > 0.0f)));
}

/*
 * Codes of one row of n values at x[xb + j xs] into qr[0 .. n): scales
 * scale[j] and zeros zero[j] per column (per_col), else scale[g], zero[g]
 * (zero read only when has_zero; scale and zero dense). float8 vectors where
 * xs = 1, element by element otherwise and for the tail.
 */
inline void q_codes_row(__global const float *x, long xb, long xs, long n, __global char *qr,
                        __global const float *scale, __global const int *zero, long g,
                        int per_col, int has_zero, int scheme, int bits)
{
    float s0 = per_col ? 0.0f : scale[g];
    float z0 = per_col || !has_zero ? 0.0f : (float)zero[g];
    long j = 0;
    if (xs == 1) {
        for (; j + 8 <= n; j += 8) {
            float8 s = per_col ? vload8(0, scale + j) : (float8)s0;
            float8 z = per_col && has_zero ? convert_float8(vload8(0, zero + j)) : (float8)z0;
            vstore8(q_code8(vload8(0, x + xb + j), s, z, scheme, bits), 0, qr + j);
        }
    }
    for (; j < n; j++) {
        float s = per_col ? scale[j] : s0;
        float z = per_col && has_zero ? (float)zero[j] : z0;
        qr[j] = (char)q_code(x[xb + j * xs], s, z, scheme, bits);
    }
}

/*
 * Per-row quantisation in one pass per row (CPU devices), work-item r:
 * lo = min(min x, 0), hi = max(max x, 0) over the finite values of row r
 * (non-finite ones count as 0, which changes neither), hi = max(hi, -lo)
 * = max |x| and lo = 0 unless affine (as quant_reduce); then scale[r] =
 * q_scale_of, zero[r] = q_zero_of (affine), then the row's codes into q
 * (dense i8, x's shape). x: buffer, offset, strides; shape as above; scale
 * f32 [rows], zero i32 [rows] (scale's buffer when not affine, not written).
 */
__kernel void quant_row_item(__global const float *x, long x_off, long4 x_str, long4 shape,
                             __global char *q, __global float *scale, __global int *zero,
                             int scheme, int bits)
{
    long r = (long)get_global_id(0);
    if (r >= clf_rows4(shape))
        return;
    long n = shape.s3, xs = x_str.s3;
    long xb = clf_offset4(r * n, shape, x_str, x_off);
    float lo = 0.0f, hi = 0.0f;
    long j = 0;
    if (xs == 1) {
        float8 vlo = 0.0f, vhi = 0.0f;
        for (; j + 8 <= n; j += 8) {
            float8 v = vload8(0, x + xb + j);
            v = select(v, (float8)0.0f, !isfinite(v));
            vlo = fmin(vlo, v);
            vhi = fmax(vhi, v);
        }
        float4 l4 = fmin(vlo.lo, vlo.hi), h4 = fmax(vhi.lo, vhi.hi);
        float2 l2 = fmin(l4.lo, l4.hi), h2 = fmax(h4.lo, h4.hi);
        lo = fmin(l2.x, l2.y);
        hi = fmax(h2.x, h2.y);
    }
    for (; j < n; j++) {
        float v = x[xb + j * xs];
        if (isfinite(v)) {
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    }
    q_store_scale(lo, hi, scheme, bits, scale, zero, r);
    /* the row's scale and zero were written by this work-item: visible */
    q_codes_row(x, xb, xs, n, q + r * n, scale, zero, r, 0, scheme == QS_AFFINE, scheme, bits);
}

/*
 * First stage of per-column and per-tensor reductions (CPU devices):
 * work-item (cb, b) of global [ceil(cols / 8), ceil(rows / block)] takes
 * columns c = 8 cb .. min(8 cb + 8, cols) - 1 and rows b block ..
 * min((b + 1) block, rows) - 1 and writes, per column, lo = min(min x, 0)
 * to part[b cols + c] and hi = max(max x, 0) to part[parts cols + b cols + c]
 * over the finite values (part: dense f32 [2, parts, cols]). The row bases
 * are stepped through the three leading dimensions (no divisions per row).
 */
__kernel void quant_partial_item(__global const float *x, long x_off, long4 x_str, long4 shape,
                                 __global float *part, long block)
{
    long cb = (long)get_global_id(0), b = (long)get_global_id(1);
    long parts = (long)get_global_size(1);
    long cols = shape.s3, rows = shape.s0 * shape.s1 * shape.s2, xs = x_str.s3;
    long c0 = 8 * cb, c1 = min(c0 + 8, cols);
    if (c0 >= cols)
        return;
    long r0 = b * block, r1 = min(r0 + block, rows);
    long i2 = r0 % shape.s2, t = r0 / shape.s2;
    long i1 = t % shape.s1, i0 = t / shape.s1;
    __global float *plo = part + b * cols, *phi = part + parts * cols + b * cols;
    if (xs == 1 && c1 - c0 == 8) {
        float8 lo = 0.0f, hi = 0.0f;
        for (long r = r0; r < r1; r++) {
            long base = x_off + i0 * x_str.s0 + i1 * x_str.s1 + i2 * x_str.s2;
            float8 v = vload8(0, x + base + c0);
            v = select(v, (float8)0.0f, !isfinite(v));
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            if (++i2 == shape.s2) {
                i2 = 0;
                if (++i1 == shape.s1) {
                    i1 = 0;
                    i0++;
                }
            }
        }
        vstore8(lo, 0, plo + c0);
        vstore8(hi, 0, phi + c0);
        return;
    }
    for (long c = c0; c < c1; c++) {
        plo[c] = 0.0f;
        phi[c] = 0.0f;
    }
    for (long r = r0; r < r1; r++) {
        long base = x_off + i0 * x_str.s0 + i1 * x_str.s1 + i2 * x_str.s2;
        for (long c = c0; c < c1; c++) {
            float v = x[base + c * xs];
            if (isfinite(v)) {
                plo[c] = fmin(plo[c], v);
                phi[c] = fmax(phi[c], v);
            }
        }
        if (++i2 == shape.s2) {
            i2 = 0;
            if (++i1 == shape.s1) {
                i1 = 0;
                i0++;
            }
        }
    }
}

/*
 * Second stage (CPU devices), one work-item per group: lo, hi over part
 * (dense f32 [2, parts, cols], from quant_partial_item) for column g
 * (axis COLUMN) or everything (TENSOR; one work-item), hi = max(hi, -lo)
 * and lo = 0 unless affine; scale[g] = q_scale_of, zero[g] = q_zero_of
 * (affine; zero: scale's buffer otherwise, not written).
 */
__kernel void quant_finish(__global const float *part, long parts, long cols,
                           __global float *scale, __global int *zero, int axis, int scheme,
                           int bits)
{
    long g = (long)get_global_id(0);
    if (g >= (axis == QA_COLUMN ? cols : 1))
        return;
    long n = axis == QA_COLUMN ? parts : parts * cols, step = axis == QA_COLUMN ? cols : 1;
    __global const float *plo = part + (axis == QA_COLUMN ? g : 0), *phi = plo + parts * cols;
    float lo = 0.0f, hi = 0.0f;
    for (long i = 0; i < n; i++) {
        lo = fmin(lo, plo[i * step]);
        hi = fmax(hi, phi[i * step]);
    }
    q_store_scale(lo, hi, scheme, bits, scale, zero, g);
}

/*
 * Codes, one work-item per row (CPU devices): q (dense i8, x's shape) from
 * x (strided) and dense scale, zero (zero read only when has_zero) of the
 * axis, q_codes_row.
 */
__kernel void quant_codes_rows(__global const float *x, long x_off, long4 x_str, long4 shape,
                               __global const float *scale, __global const int *zero,
                               __global char *q, int axis, int scheme, int bits, int has_zero)
{
    long r = (long)get_global_id(0);
    if (r >= clf_rows4(shape))
        return;
    long n = shape.s3;
    long xb = clf_offset4(r * n, shape, x_str, x_off);
    q_codes_row(x, xb, x_str.s3, n, q + r * n, scale, zero, axis == QA_ROW ? r : 0,
                axis == QA_COLUMN, has_zero, scheme, bits);
}

/*
 * q = code of x, one work-item per element (q dense i8, x strided), with
 * s = scale[group], z = zero[group] (zero read only when has_zero), q_code.
 */
__kernel void quant_codes(__global const float *x, long x_off, long4 x_str, long4 shape,
                          __global const float *scale, __global const int *zero,
                          __global char *q, int axis, int scheme, int bits, int has_zero)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long cols = shape.s3;
    long g = q_group(gid / cols, gid % cols, axis);
    float z = has_zero ? (float)zero[g] : 0.0f;
    q[gid] = (char)q_code(x[clf_offset4(gid, shape, x_str, x_off)], scale[g], z, scheme, bits);
}

/*
 * Value of code c with scale s and zero point z (affine), one fp32
 * rounding at most:
 *   symmetric  c s
 *   affine     (c - z) s      (c - z exact)
 *   log        sign(c) s 2^(|c| - L), 0 for c = 0 (ldexp: exact)
 */
inline float q_value(int c, float s, int z, int scheme, int bits)
{
    if (scheme == QS_AFFINE)
        return (float)(c - z) * s;
    if (scheme == QS_LOG) {
        int levels = (1 << (bits - 1)) - 1;
        /* abs, not c < 0 ? -c : c, which clang turns into llvm.abs, an
         * intrinsic that Oclgrind cannot run (test/oclgrind.sh) */
        return c == 0 ? 0.0f : copysign(ldexp(s, (int)abs(c) - levels), (float)c);
    }
    return (float)c * s;
}

/* q_value lane by lane (c - z exact in float: both small integers). */
inline float8 q_value8(float8 c, float8 s, float8 z, int scheme, int bits)
{
    if (scheme == QS_AFFINE)
        return (c - z) * s;
    if (scheme == QS_LOG) {
        int levels = (1 << (bits - 1)) - 1;
        float8 v = copysign(ldexp(s, convert_int8(fabs(c)) - levels), c);
        return select(v, (float8)0.0f, c == 0.0f);
    }
    return c * s;
}

/*
 * y = value of code q, one work-item per element (y dense f32, q strided;
 * scale and zero: buffer, offset, strides, shape, element g at logical
 * index g), q_value.
 */
__kernel void quant_dequant(__global const char *q, long q_off, long4 q_str, long4 shape,
                            __global const float *scale, long s_off, long4 s_str, long4 s_shape,
                            __global const int *zero, long z_off, long4 z_str, long4 z_shape,
                            __global float *y, int axis, int scheme, int bits)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long cols = shape.s3;
    long g = q_group(gid / cols, gid % cols, axis);
    int c = (int)q[clf_offset4(gid, shape, q_str, q_off)];
    float s = scale[clf_offset4(g, s_shape, s_str, s_off)];
    int z = scheme == QS_AFFINE ? zero[clf_offset4(g, z_shape, z_str, z_off)] : 0;
    y[gid] = q_value(c, s, z, scheme, bits);
}

/*
 * quant_dequant with one work-item per row (CPU devices), same arguments
 * plus `lin`: 1 when scale (and zero) are contiguous (element g at offset
 * + g). float8 vectors where the row of q has stride 1 and, per column,
 * lin; element by element otherwise and for the tail.
 */
__kernel void quant_dequant_rows(__global const char *q, long q_off, long4 q_str, long4 shape,
                                 __global const float *scale, long s_off, long4 s_str,
                                 long4 s_shape, __global const int *zero, long z_off,
                                 long4 z_str, long4 z_shape, __global float *y, int axis,
                                 int scheme, int bits, int lin)
{
    long r = (long)get_global_id(0);
    if (r >= clf_rows4(shape))
        return;
    long n = shape.s3, qs = q_str.s3;
    long qb = clf_offset4(r * n, shape, q_str, q_off);
    __global float *yr = y + r * n;
    int affine = scheme == QS_AFFINE, per_col = axis == QA_COLUMN;
    long g = axis == QA_ROW ? r : 0;
    float s0 = per_col ? 0.0f : scale[clf_offset4(g, s_shape, s_str, s_off)];
    int z0 = per_col || !affine ? 0 : zero[clf_offset4(g, z_shape, z_str, z_off)];
    long j = 0;
    if (qs == 1 && (!per_col || lin)) {
        for (; j + 8 <= n; j += 8) {
            float8 c = convert_float8(vload8(0, q + qb + j));
            float8 s = per_col ? vload8(0, scale + s_off + j) : (float8)s0;
            float8 z = per_col && affine ? convert_float8(vload8(0, zero + z_off + j))
                                         : (float8)(float)z0;
            vstore8(q_value8(c, s, z, scheme, bits), 0, yr + j);
        }
    }
    for (; j < n; j++) {
        float s = per_col ? scale[clf_offset4(j, s_shape, s_str, s_off)] : s0;
        int z = per_col && affine ? zero[clf_offset4(j, z_shape, z_str, z_off)] : z0;
        yr[j] = q_value((int)q[qb + j * qs], s, z, scheme, bits);
    }
}

/*
 * Symmetric codes per sequence and column (K and V int8 per channel: a
 * scale never spans two sequences, nor a sequence's padded tokens). x:
 * [batch, seq, cols] (buffer, offset, strides; shape padded to 4-D: .s1
 * batch, .s2 token, .s3 column); pad: i32 [batch, seq] (.s2 batch, .s3
 * token; read only when has_pad), nonzero = padded. Work-item (cb, b) of
 * global [ceil(cols / 8), batch] takes columns 8 cb .. min(8 cb + 8, cols)
 * - 1 of sequence b: hi = max |x| over its unpadded tokens' finite values
 * (as quant_partial_item over those rows: exact, so the order does not
 * matter), scale[b cols + c] = q_scale_of (q_store_scale), then the codes of
 * every token (padded ones too, never read) into q (dense i8 [batch, seq,
 * cols]); scale dense f32 [batch, cols].
 */
__kernel void quant_seq_cols_item(__global const float *x, long x_off, long4 x_str, long4 shape,
                                  __global const int *pad, long p_off, long4 p_str, int has_pad,
                                  __global char *q, __global float *scale, int bits)
{
    long cb = (long)get_global_id(0), b = (long)get_global_id(1);
    long seq = shape.s2, cols = shape.s3, xs = x_str.s3;
    long c0 = 8 * cb, c1 = min(c0 + 8, cols);
    if (c0 >= cols || b >= shape.s1)
        return;
    long xb = x_off + b * x_str.s1, pb = p_off + b * p_str.s2;
    __global char *qb = q + b * seq * cols;
    __global float *sb = scale + b * cols;
    if (xs == 1 && c1 - c0 == 8) {
        float8 lo = 0.0f, hi = 0.0f;
        for (long t = 0; t < seq; t++) {
            if (has_pad && pad[pb + t * p_str.s3])
                continue;
            float8 v = vload8(0, x + xb + t * x_str.s2 + c0);
            v = select(v, (float8)0.0f, !isfinite(v));
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        float l[8], h[8];
        vstore8(lo, 0, l);
        vstore8(hi, 0, h);
        for (int i = 0; i < 8; i++)
            q_store_scale(l[i], h[i], QS_SYMMETRIC, bits, sb, (__global int *)0, c0 + i);
        float8 s = vload8(0, sb + c0); /* written by this work-item: visible */
        for (long t = 0; t < seq; t++)
            vstore8(q_code8(vload8(0, x + xb + t * x_str.s2 + c0), s, (float8)0.0f, QS_SYMMETRIC,
                            bits),
                    0, qb + t * cols + c0);
        return;
    }
    for (long c = c0; c < c1; c++) {
        float lo = 0.0f, hi = 0.0f;
        for (long t = 0; t < seq; t++) {
            float v = x[xb + t * x_str.s2 + c * xs];
            if ((!has_pad || !pad[pb + t * p_str.s3]) && isfinite(v)) {
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
        }
        q_store_scale(lo, hi, QS_SYMMETRIC, bits, sb, (__global int *)0, c);
        float s = sb[c];
        for (long t = 0; t < seq; t++)
            qb[t * cols + c] = (char)q_code(x[xb + t * x_str.s2 + c * xs], s, 0.0f, QS_SYMMETRIC,
                                            bits);
    }
}
