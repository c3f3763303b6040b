/*
 * Positional encodings (seed section 3.3). x is [..., seq, d] padded in front
 * to 4-D: shape long4 [d0, d1, seq, d] (the shape of x and of the output).
 * Every tensor is passed as (buffer, element offset, long4 strides), strides
 * in elements, outermost .s0; a 2-D tensor [rows, cols] has strides
 * (0, 0, row stride, column stride), so its element (s, j) for output
 * element (i0, i1, s, j) is clf_offset4 of the same gid with those strides.
 * One work-item per output element; global size = d0 * d1 * seq * d.
 */

/*
 * y[i0, i1, s, j] = x[i0, i1, s, j] + table[s, j]
 *   x      [d0, d1, seq, d]  f32, any strides
 *   table  [rows, d]         f32, rows >= seq, any strides
 *   y      [d0, d1, seq, d]  f32
 *   shape  (d0, d1, seq, d)
 * One rounding per element.
 */
__kernel void posenc_add(__global const float *x, long x_off, long4 x_str,
                         __global const float *table, long t_off, long4 t_str,
                         __global float *y, long y_off, long4 y_str, long4 shape)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[clf_offset4(gid, shape, y_str, y_off)] =
        x[clf_offset4(gid, shape, x_str, x_off)] + table[clf_offset4(gid, shape, t_str, t_off)];
}

/*
 * y[i0, i1, s, j] = x[i0, i1, s, j] + sum_{k < rank} u[s, k] * v[k, j]
 *   x      [d0, d1, seq, d]  f32, any strides
 *   u      [rows, rank]      f32, rows >= seq, any strides (U_r Sigma_r)
 *   v      [rank, d]         f32, any strides (V_r^T)
 *   y      [d0, d1, seq, d]  f32
 *   shape  (d0, d1, seq, d)
 *   rank   r >= 1
 * The low-rank table is never formed: each work-item computes its r-term
 * dot product, accumulated in order with fma (error <= gamma_r * sum |u||v|),
 * then adds x (one more rounding).
 */
__kernel void posenc_add_lowrank(__global const float *x, long x_off, long4 x_str,
                                 __global const float *u, long u_off, long4 u_str,
                                 __global const float *v, long v_off, long4 v_str,
                                 __global float *y, long y_off, long4 y_str, long4 shape,
                                 long rank)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long j = gid % shape.s3;
    long s = (gid / shape.s3) % shape.s2;
    __global const float *urow = u + u_off + s * u_str.s2; /* u[s, :] */
    __global const float *vcol = v + v_off + j * v_str.s3; /* v[:, j] */
    float acc = 0.0f;
    for (long k = 0; k < rank; k++)
        acc = fma(urow[k * u_str.s3], vcol[k * v_str.s2], acc);
    y[clf_offset4(gid, shape, y_str, y_off)] = x[clf_offset4(gid, shape, x_str, x_off)] + acc;
}

/*
 * Rotary position embedding, rotate-half layout: for i < h = d/2,
 *   y[.., s, i]     = x[.., s, i]·c − x[.., s, h + i]·sn
 *   y[.., s, h + i] = x[.., s, h + i]·c + x[.., s, i]·sn
 * with c = table[s, i], sn = table[s, h + i].
 *   x      [d0, d1, seq, d]  f32, any strides
 *   table  [rows, d]         f32, rows >= seq, cos | sin columns
 *   y      [d0, d1, seq, d]  f32
 *   shape  (d0, d1, seq, d), d even
 * The partner term is rounded once, then an fma: two roundings per output.
 */
__kernel void rope_apply(__global const float *x, long x_off, long4 x_str,
                         __global const float *table, long t_off, long4 t_str,
                         __global float *y, long y_off, long4 y_str, long4 shape)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long h = shape.s3 / 2;
    long j = gid % shape.s3;
    long s = (gid / shape.s3) % shape.s2;
    long i = j < h ? j : j - h;
    long xo = clf_offset4(gid, shape, x_str, x_off);
    long po = xo + (j < h ? h : -h) * x_str.s3; /* the partner x[.., s, j ± h] */
    __global const float *row = table + t_off + s * t_str.s2;
    float c = row[i * t_str.s3], sn = row[(h + i) * t_str.s3];
    float p = x[po] * sn;
    y[clf_offset4(gid, shape, y_str, y_off)] = fma(x[xo], c, j < h ? -p : p);
}
