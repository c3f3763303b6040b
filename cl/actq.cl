/*
 * FFN activation quantisers (lib/ops/actq.c; clf_actq_kind in clformer.h).
 * Tensor arguments follow common.cl: (buffer, element offset, long4
 * strides), shapes padded in front to 4-D; a row is the last dimension.
 *
 * Every rounding decision rne(x/s) is q_rne_div (quant_common.cl): the
 * exact quotient's nearest integer, ties to even, independent of the
 * driver's division. Every output value is then one fp32 operation on
 * exact operands (code·s, or fma(code, s, p) for PWL's tails), so a host
 * reference doing the same float operations matches bit for bit. A zero
 * code gives +0. NaN stays NaN everywhere.
 *
 * Kinds (the values of enum clf_actq_kind):
 *   NONE    y = x
 *   BINARY  y = α for x >= 0 (−0 included), −α for x < 0; ±Inf → ±α
 *   STEPS   y = levels[i], i = #{thresholds <= x}; ±Inf → last / first level
 *   PWL     PWLQ (Fang et al. 2020), L = 2^(b−1) − 1, steps s1 = p/L and
 *           s2 = (c − p)/L (computed on the host in double, rounded to
 *           float): |x| <= p: k = min(rne(|x|/s1), L), y = ±k·s1;
 *           p < |x| <= c: k = min(rne(fl(|x| − p)/s2), L), y = ±fma(k, s2, p);
 *           |x| > c (±Inf included): k = L, y = ±fma(L, s2, p)
 *   LSQ     y = clamp(rne(x/s), −Q_N, Q_P)·s (LSQ, Esser et al. 2020; PACT,
 *           Choi et al. 2018, is the unsigned case Q_N = 0); ±Inf saturate
 */
#include "quant_common.cl"

#define ACTQ_NONE 0
#define ACTQ_BINARY 1
#define ACTQ_STEPS 2
#define ACTQ_PWL 3
#define ACTQ_LSQ 4

/*
 * One element. prm by kind: BINARY (α); PWL (p, s1, s2, L, c); LSQ (s,
 * Q_N, Q_P). STEPS: thr holds the thresholds, padded with NaN (never
 * counted), lev the levels.
 */
inline float actq_apply(float x, int kind, float8 prm, float16 thr, float16 lev)
{
    if (isnan(x) || kind == ACTQ_NONE)
        return x;
    if (kind == ACTQ_BINARY)
        return x >= 0.0f ? prm.s0 : -prm.s0;
    if (kind == ACTQ_STEPS) {
        int16 ge = isgreaterequal((float16)(x), thr); /* −1 where thr <= x */
        int8 g8 = ge.lo + ge.hi;
        int4 g4 = g8.lo + g8.hi;
        int2 g2 = g4.lo + g4.hi;
        float l[16];
        vstore16(lev, 0, l);
        return l[-(g2.x + g2.y)];
    }
    if (kind == ACTQ_PWL) {
        float a = fabs(x), p = prm.s0, s1 = prm.s1, s2 = prm.s2, L = prm.s3, c = prm.s4;
        float y;
        if (a <= p) { /* centre */
            float k = fmin(q_rne_div(a, s1), L);
            y = k == 0.0f ? 0.0f : k * s1;
        } else { /* tails; a > c (±Inf included) saturates at code L */
            float k = a > c ? L : fmin(q_rne_div(a - p, s2), L);
            y = fma(k, s2, p);
        }
        return x < 0.0f && y != 0.0f ? -y : y;
    }
    /* LSQ: prm.s1 = Q_N, prm.s2 = Q_P; ±Inf give ±Inf quotients, clamped */
    float k = fmin(fmax(q_rne_div(x, prm.s0), -prm.s1), prm.s2);
    return k == 0.0f ? 0.0f : k * prm.s0;
}

/* y = quantiser(x), one work-item per element; global = numel. */
__kernel void actq_elem(__global const float *x, long x_off, long4 x_str, /* [...] */
                        __global float *y, long y_off, long4 y_str,       /* [...] */
                        long4 shape,                                      /* of x and y */
                        int kind, float8 prm, /* as actq_apply */
                        float16 thr,          /* STEPS thresholds, NaN-padded */
                        float16 lev)          /* STEPS levels */
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[clf_offset4(gid, shape, y_str, y_off)] =
        actq_apply(x[clf_offset4(gid, shape, x_str, x_off)], kind, prm, thr, lev);
}

/* ------------------------------------------------------------------------ */
/* BINARY with α = mean|x| per row                                          */
/* ------------------------------------------------------------------------ */
/*
 * α = Σ|x_j| / m over the row's m finite elements (NaN and ±Inf skipped;
 * α = 0 when none is finite), the quotient correctly rounded (q_div_rn);
 * then y_j = ±α as BINARY. The count is summed in float: exact for rows of
 * up to 2^24 elements. Two variants, as the row reductions of rows.cl:
 *   actq_binary_item:  one work-item per row; global = rows.
 *   actq_binary_group: one work-group per row, tree reduction in local
 *                      memory; local size ls a power of two, global =
 *                      rows·ls, scratch [2·ls] floats.
 */

/* Offset of element 0 of row r of a strided 4-D tensor. */
inline long actq_row_base(long r, long4 shape, long4 strides, long offset)
{
    return clf_offset4(r * shape.s3, shape, strides, offset);
}

inline float actq_alpha(float sum, float count)
{
    return count > 0.0f && sum > 0.0f ? q_div_rn(sum, count) : 0.0f;
}

__kernel void actq_binary_item(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                               __global float *y, long y_off, long4 y_str,       /* [..., N] */
                               long4 shape)                                      /* of x and y */
{
    long r = (long)get_global_id(0), n = shape.s3;
    if (r >= clf_rows4(shape))
        return;
    long xb = actq_row_base(r, shape, x_str, x_off), xs = x_str.s3;
    long yb = actq_row_base(r, shape, y_str, y_off), ys = y_str.s3;
    float sum = 0.0f, count = 0.0f;
    for (long j = 0; j < n; j++) {
        float v = x[xb + j * xs];
        if (isfinite(v)) {
            sum += fabs(v);
            count += 1.0f;
        }
    }
    float a = actq_alpha(sum, count);
    for (long j = 0; j < n; j++) {
        float v = x[xb + j * xs];
        y[yb + j * ys] = isnan(v) ? v : (v >= 0.0f ? a : -a);
    }
}

__kernel void actq_binary_group(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                                __global float *y, long y_off, long4 y_str,       /* [..., N] */
                                long4 shape,                                      /* of x and y */
                                __local float *scratch)                           /* [2·ls] */
{
    long r = (long)get_group_id(0), n = shape.s3;
    int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
    long xb = actq_row_base(r, shape, x_str, x_off), xs = x_str.s3;
    long yb = actq_row_base(r, shape, y_str, y_off), ys = y_str.s3;
    float sum = 0.0f, count = 0.0f;
    for (long j = lid; j < n; j += ls) {
        float v = x[xb + j * xs];
        if (isfinite(v)) {
            sum += fabs(v);
            count += 1.0f;
        }
    }
    scratch[lid] = sum;
    scratch[ls + lid] = count;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ls >> 1; s > 0; s >>= 1) {
        if (lid < s) {
            scratch[lid] += scratch[lid + s];
            scratch[ls + lid] += scratch[ls + lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float a = actq_alpha(scratch[0], scratch[ls]);
    for (long j = lid; j < n; j += ls) {
        float v = x[xb + j * xs];
        y[yb + j * ys] = isnan(v) ? v : (v >= 0.0f ? a : -a);
    }
}
