/*
 * GEMM kernels for GPUs and the epilogue used after CLBlast.
 *
 * Problem (see lib/ops/gemm.h), for batch p = get_global_id(2):
 *   C_p[i,j] = act(alpha * sum_k A_p[i,k] B_p[k,j] + beta * C_p[i,j] + bias[j])
 *   A_p[i,k] = a[a_off + p*a_bs + i*a_rs + k*a_cs]       (m x k)
 *   B_p[k,j] = b[b_off + p*b_bs + k*b_rs + j*b_cs]       (k x n)
 *   C_p[i,j] = c[c_off + p*c_bs + i*c_rs + j]            (m x n, rows contiguous)
 *   bias[j]  = bias[bias_off + j] when has_bias
 * Old C is read only when beta != 0 (so NaN in an unwritten C never leaks).
 */

#ifndef TS
#define TS 16 /* tile size: a work-group computes a TS x TS block of C */
#endif
#ifndef WPT
#define WPT 4 /* outputs per work-item, along j */
#endif
#define RTS (TS / WPT) /* local size along j */

/* Stores one result with the epilogue. */
void gemm_store(__global float *c, long idx, float acc, float alpha, float beta,
                __global const float *bias, long bias_off, int has_bias, int j, int act)
{
    float x = alpha * acc;
    if (beta != 0.0f)
        x = fma(beta, c[idx], x);
    if (has_bias)
        x += bias[bias_off + j];
    c[idx] = clf_act_apply(x, act);
}

/*
 * Tiled GEMM with local memory (Nugteren's "more work per thread" scheme):
 * local size (TS, RTS); work-item (li, lj) computes C[i, j0 + w*RTS] for
 * w < WPT, i = group0*TS + li, j0 = group1*TS + lj. Global size
 * (ceil(m/TS)*TS, ceil(n/TS)*RTS, batch). Tiles of A and B are staged in
 * local memory, zero-padded at the edges.
 */
__kernel __attribute__((reqd_work_group_size(TS, RTS, 1)))
void gemm_tiled(__global const float *a, long a_off, long a_rs, long a_cs, long a_bs,
                __global const float *b, long b_off, long b_rs, long b_cs, long b_bs,
                __global float *c, long c_off, long c_rs, long c_bs,
                __global const float *bias, long bias_off, int has_bias,
                int m, int n, int k, float alpha, float beta, int act)
{
    const int li = get_local_id(0), lj = get_local_id(1);
    const int i = get_group_id(0) * TS + li;
    const int jb = get_group_id(1) * TS;
    const long p = get_global_id(2);
    __local float as[TS][TS]; /* as[kk][ii] */
    __local float bs[TS][TS]; /* bs[kk][jj] */
    __global const float *ap = a + a_off + p * a_bs;
    __global const float *bp = b + b_off + p * b_bs;
    float acc[WPT];
    for (int w = 0; w < WPT; w++)
        acc[w] = 0.0f;

    for (int t = 0; t < k; t += TS) {
        for (int w = 0; w < WPT; w++) {
            int kk = t + lj + w * RTS;
            as[lj + w * RTS][li] = (i < m && kk < k) ? ap[i * a_rs + kk * a_cs] : 0.0f;
            int kb = t + li, jj = jb + lj + w * RTS;
            bs[li][lj + w * RTS] = (kb < k && jj < n) ? bp[kb * b_rs + jj * b_cs] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int q = 0; q < TS; q++) {
            float av = as[q][li];
            for (int w = 0; w < WPT; w++)
                acc[w] = fma(av, bs[q][lj + w * RTS], acc[w]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i >= m)
        return;
    for (int w = 0; w < WPT; w++) {
        int j = jb + lj + w * RTS;
        if (j < n)
            gemm_store(c, c_off + p * c_bs + i * c_rs + j, acc[w], alpha, beta, bias, bias_off,
                       has_bias, j, act);
    }
}

/* C = act(C + bias) in place, C [batch, m, n]; global size (n, m, batch),
 * dimension 0 rounded up (work-items j >= n return). */
__kernel void gemm_epilogue(__global float *c, long c_off, long c_rs, long c_bs,
                            __global const float *bias, long bias_off, int has_bias, int act,
                            int n)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (j >= n)
        return;
    const long idx = c_off + (long)get_global_id(2) * c_bs + i * c_rs + j;
    float x = c[idx];
    if (has_bias)
        x += bias[bias_off + j];
    c[idx] = clf_act_apply(x, act);
}
