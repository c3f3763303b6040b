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
 * Kernels, in the order a quantisation runs them:
 *   quant_reduce  one work-group per group: stats[g] = (lo, hi) over the
 *                 finite elements, lo = min(min x, 0), hi = max(max x, 0)
 *                 (affine), else lo = 0, hi = max |x| (0 when none)
 *   quant_scale   one work-item per group: scale[g] from stats[g]
 *   quant_zero    one work-item per group (affine): zero[g] from stats, scale
 *   quant_codes   one work-item per element: q from x, scale, zero
 *   quant_dequant one work-item per element: y from q, scale, zero
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
 * scale[g] (dense f32 [groups]) from stats[g] = (lo, hi):
 *   symmetric  s = hi / Q, correctly rounded (q_div_rn)
 *   affine     s = d / (2^b - 1), correctly rounded, d = hi - lo rounded to
 *              fp32 (one rounding); where d overflows, the same value as
 *              (0.5 hi - 0.5 lo) / ((2^b - 1) / 2) (the halvings are exact),
 *              at most FLT_MAX (reached for b = 1 only)
 *   log        s = 2^E, E = min(lg(hi), 127) (2^128 is not a float)
 * and s = 0 for hi - lo = 0 (a group of zeros).
 */
__kernel void quant_scale(__global const float *stats, __global float *scale, int scheme,
                          int bits)
{
    long g = (long)get_global_id(0);
    float lo = stats[2 * g], hi = stats[2 * g + 1];
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
    scale[g] = s;
}

/*
 * Affine zero points, zero[g] (dense i32 [groups]):
 * z = -2^(b-1) - rne(lo / s) (lo <= 0, so z >= -2^(b-1); clamped to the
 * code range for safety), 0 where s = 0.
 */
__kernel void quant_zero(__global const float *stats, __global const float *scale,
                         __global int *zero, int bits)
{
    long g = (long)get_global_id(0);
    float s = scale[g];
    int lowest = -(1 << (bits - 1)), highest = (1 << (bits - 1)) - 1;
    int z = 0;
    if (s > 0.0f) {
        float t = (float)lowest - q_rne_div(stats[2 * g], s);
        z = (int)clamp(t, (float)lowest, (float)highest);
    }
    zero[g] = z;
}

/*
 * q = code of x, one work-item per element (q dense i8, x strided), with
 * s = scale[group], z = zero[group] (zero read only when has_zero):
 *   s = 0       0 (a group of zeros: every code 0)
 *   NaN         quantised as 0 is: 0, affine z
 *   symmetric   clamp(rne(x/s), -Q, Q)
 *   affine      clamp(rne(x/s) + z, -2^(b-1), 2^(b-1) - 1)
 *   log         sign(x) min(lg|x| - lg s + L, L) where that is >= 1, else 0
 * rne(x/s) is q_rne_div, exact; ±Inf gives an infinite quotient (or
 * lg = +large), so it saturates through the clamps.
 */
__kernel void quant_codes(__global const float *x, long x_off, long4 x_str, long4 shape,
                          __global const float *scale, __global const int *zero,
                          __global char *q, int axis, int scheme, int bits, int has_zero)
{
    long gid = (long)get_global_id(0);
    long cols = shape.s3;
    long g = q_group(gid / cols, gid % cols, axis);
    float v = x[clf_offset4(gid, shape, x_str, x_off)];
    float s = scale[g];
    int h = 1 << (bits - 1); /* 2^(b-1) */
    int code = 0;
    if (isnan(v))
        v = 0.0f;
    if (s > 0.0f) {
        if (scheme == QS_SYMMETRIC) {
            float lim = (float)(h - 1);
            code = (int)clamp(q_rne_div(v, s), -lim, lim);
        } else if (scheme == QS_AFFINE) {
            float z = has_zero ? (float)zero[g] : 0.0f;
            code = (int)clamp(q_rne_div(v, s) + z, (float)-h, (float)(h - 1));
        } else if (fabs(v) > 0.0f) {
            int levels = h - 1;
            int e = isinf(v) ? 1000 : q_lg(fabs(v));
            int level = min(e - q_lg(s) + levels, levels);
            if (level >= 1)
                code = v < 0.0f ? -level : level;
        }
    }
    q[gid] = (char)code;
}

/*
 * y = value of code q, one work-item per element (y dense f32, q strided;
 * scale and zero: buffer, offset, strides, shape, element g at logical
 * index g), one fp32 rounding at most:
 *   symmetric  q s
 *   affine     (q - z) s      (q - z exact in int)
 *   log        sign(q) s 2^(|q| - L), 0 for q = 0 (ldexp: exact)
 */
__kernel void quant_dequant(__global const char *q, long q_off, long4 q_str, long4 shape,
                            __global const float *scale, long s_off, long4 s_str, long4 s_shape,
                            __global const int *zero, long z_off, long4 z_str, long4 z_shape,
                            __global float *y, int axis, int scheme, int bits)
{
    long gid = (long)get_global_id(0);
    long cols = shape.s3;
    long g = q_group(gid / cols, gid % cols, axis);
    int c = (int)q[clf_offset4(gid, shape, q_str, q_off)];
    float s = scale[clf_offset4(g, s_shape, s_str, s_off)];
    float v;
    if (scheme == QS_AFFINE) {
        v = (float)(c - zero[clf_offset4(g, z_shape, z_str, z_off)]) * s;
    } else if (scheme == QS_LOG) {
        int levels = (1 << (bits - 1)) - 1;
        v = c == 0 ? 0.0f : copysign(ldexp(s, (c < 0 ? -c : c) - levels), (float)c);
    } else {
        v = (float)c * s;
    }
    y[gid] = v;
}
