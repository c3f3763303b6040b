/*
 * Elementwise f32 ops on strided 4-D tensors (see clf_offset4 in common.cl).
 * Arguments per tensor: buffer, element offset, long4 strides (outermost .s0);
 * shape: long4 [d0, d1, d2, d3]; global size = d0*d1*d2*d3, one element per
 * work-item. contig != 0 says every tensor is dense row-major (at its
 * offset), so element gid is simply offset + gid: no index arithmetic.
 */

#define EW_IDX(t) (contig ? t##_off + gid : clf_offset4(gid, shape, t##_str, t##_off))

/* y = a + b */
__kernel void ew_add(__global const float *a, long a_off, long4 a_str,
                     __global const float *b, long b_off, long4 b_str,
                     __global float *y, long y_off, long4 y_str, long4 shape, int contig)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[EW_IDX(y)] = a[EW_IDX(a)] + b[EW_IDX(b)];
}

/* y = a * b */
__kernel void ew_mul(__global const float *a, long a_off, long4 a_str,
                     __global const float *b, long b_off, long4 b_str,
                     __global float *y, long y_off, long4 y_str, long4 shape, int contig)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[EW_IDX(y)] = a[EW_IDX(a)] * b[EW_IDX(b)];
}

/* y = alpha * x + beta, one rounding (fma) */
__kernel void ew_scale(__global const float *x, long x_off, long4 x_str,
                       __global float *y, long y_off, long4 y_str, long4 shape, int contig,
                       float alpha, float beta)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[EW_IDX(y)] = fma(alpha, x[EW_IDX(x)], beta);
}
