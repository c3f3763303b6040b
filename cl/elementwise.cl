/*
 * Elementwise f32 ops on strided 4-D tensors (see clf_offset4 in common.cl).
 * Arguments per tensor: buffer, element offset, long4 strides (outermost .s0);
 * shape: long4 [d0, d1, d2, d3]; global size = d0*d1*d2*d3, one element per
 * work-item.
 */

/* y = a + b */
__kernel void ew_add(__global const float *a, long a_off, long4 a_str,
                     __global const float *b, long b_off, long4 b_str,
                     __global float *y, long y_off, long4 y_str, long4 shape)
{
    long gid = (long)get_global_id(0);
    y[clf_offset4(gid, shape, y_str, y_off)] =
        a[clf_offset4(gid, shape, a_str, a_off)] + b[clf_offset4(gid, shape, b_str, b_off)];
}

/* y = a * b */
__kernel void ew_mul(__global const float *a, long a_off, long4 a_str,
                     __global const float *b, long b_off, long4 b_str,
                     __global float *y, long y_off, long4 y_str, long4 shape)
{
    long gid = (long)get_global_id(0);
    y[clf_offset4(gid, shape, y_str, y_off)] =
        a[clf_offset4(gid, shape, a_str, a_off)] * b[clf_offset4(gid, shape, b_str, b_off)];
}

/* y = alpha * x + beta, one rounding (fma) */
__kernel void ew_scale(__global const float *x, long x_off, long4 x_str,
                       __global float *y, long y_off, long4 y_str, long4 shape,
                       float alpha, float beta)
{
    long gid = (long)get_global_id(0);
    y[clf_offset4(gid, shape, y_str, y_off)] =
        fma(alpha, x[clf_offset4(gid, shape, x_str, x_off)], beta);
}
