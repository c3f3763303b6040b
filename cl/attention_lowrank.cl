/*
 * Nystromformer helpers (lib/ops/attention_lowrank.c). Matrices are dense
 * row-major [batch][m][m] at an element offset of their buffer.
 */

/* nys_norm: one work-item per matrix p < count:
 *   nrm[p] = ||A_p||_1 * ||A_p||_inf
 * (max column abs sum times max row abs sum), per matrix. */
__kernel void nys_norm(__global const float *a, long a_off, __global float *nrm, long nrm_off,
                       long m, long count)
{
    long p = (long)get_global_id(0);
    if (p >= count)
        return;
    __global const float *A = a + a_off + p * m * m;
    float c1 = 0.0f, ci = 0.0f;
    for (long i = 0; i < m; i++) {
        float s = 0.0f;
        for (long j = 0; j < m; j++)
            s += fabs(A[i * m + j]);
        ci = fmax(ci, s);
    }
    for (long j = 0; j < m; j++) {
        float s = 0.0f;
        for (long i = 0; i < m; i++)
            s += fabs(A[i * m + j]);
        c1 = fmax(c1, s);
    }
    nrm[nrm_off + p] = c1 * ci;
}

/* nys_z0: Z_p = A_p^T / nrm[p]; global (m * m, batch). */
__kernel void nys_z0(__global const float *a, long a_off, __global const float *nrm,
                     long nrm_off, __global float *z, long z_off, long m)
{
    long e = (long)get_global_id(0), p = (long)get_global_id(1);
    if (e >= m * m)
        return;
    long i = e / m, j = e % m;
    z[z_off + p * m * m + e] = a[a_off + p * m * m + j * m + i] / nrm[nrm_off + p];
}

/* nys_eye: Y_p = c I - X_p (use_x != 0) or c I; global (m * m, batch). */
__kernel void nys_eye(__global const float *x, long x_off, int use_x, __global float *y,
                      long y_off, long m, float c)
{
    long e = (long)get_global_id(0), p = (long)get_global_id(1);
    if (e >= m * m)
        return;
    long i = e / m, j = e % m;
    float v = i == j ? c : 0.0f;
    if (use_x)
        v -= x[x_off + p * m * m + e];
    y[y_off + p * m * m + e] = v;
}

/* nys_store: y = x over a 4-D shape, both with their own strides. */
__kernel void nys_store(__global const float *x, long x_off, long4 x_str, __global float *y,
                        long y_off, long4 y_str, long4 shape)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[clf_offset4(gid, shape, y_str, y_off)] = x[clf_offset4(gid, shape, x_str, x_off)];
}
