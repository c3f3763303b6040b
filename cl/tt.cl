/*
 * One step of a Tensor-Train linear layer (lib/ops/tt.c; Novikov et al.,
 * "Tensorizing Neural Networks", NeurIPS 2015): the contraction of one core
 *   out[p, m, r, s] = Σ_{a, n} in[p, a, n, s] · G[a, m, n, r]
 * seen as a GEMM batched over p with a shared left operand: with
 * q = m·R + r (Q = M_k·R values) and k = a·N_k + n (K = A·N_k values),
 *   out[p, q, s] = Σ_k Gt[k, q] · in[p, k, s].
 * Layouts (elements):
 *   in   [P, K, S]  in[p, k, s] at in_off + p·in_ldp + k·S + s (rows of x may
 *                   be strided through in_ldp; everything else dense)
 *   Gt   [K, Qpad]  the core transposed on upload, Gt[k, q] at g_off + k·Qpad + q,
 *                   columns Q..Qpad zero (Qpad a multiple of TT_TQ)
 *   out  [P, Q, S]  dense, at out_off + (p·Q + q)·S + s
 * out read as [P·M_k, R, S'] is the next step's in[p', a, n, s'] with
 * p' = (p, m), a = r and (n, s') = s: the steps chain without transposes.
 *
 * Work-item (c-tile, q-tile): TT_TQ consecutive q by TT_TC consecutive
 * columns c = p·S + s of the flattened (p, s) range, in TT_TQ float8
 * accumulators (one per q, lanes over c): each k costs one 8-wide load of
 * in (contiguous when the 8 columns share p, else a gather), one TT_TQ-wide
 * load of Gt and TT_TQ vector FMAs. Each output is a plain sequential sum of
 * K products (fma), so its rounding error is at most gamma_K of Σ|terms|.
 *
 * Epilogue (the last step): v += bias[(o mod bias_mod)·bias_str] when
 * has_bias, o the flat output index; then clf_act_apply(v, act).
 *
 * The same kernel serves both contraction orders (lib/ops/tt.h): left to
 * right, k = (a, n) and q = (m, r) as above; right to left, k = (n, r) and
 * q = (a, m), p runs over (b, j_0..j_{k−1}) and s over (i_{k+1}..), the
 * core uploaded in that layout. Steps with S = 1 are GEMMs (clf_op_gemm)
 * and do not come here.
 */
#define TT_TQ 4
#define TT_TC 8

__kernel void tt_contract(__global const float *in, long in_off, long4 in_str_unused,
                          __global const float *g, long g_off, long4 g_str_unused,
                          __global const float *bias, long bias_off, long4 bias_str,
                          __global float *out, long out_off, long4 out_str_unused,
                          long4 out_shape_unused, long P, long Q, long Qpad, long K, long S,
                          long in_ldp, int has_bias, long bias_mod, int act)
{
    const long c0 = (long)get_global_id(0) * TT_TC;
    const long q0 = (long)get_global_id(1) * TT_TQ;
    const long cols = P * S;
    if (c0 >= cols || q0 >= Qpad)
        return;
    /* input offsets of the TT_TC columns (clamped to the last one) */
    long col[TT_TC];
    for (int j = 0; j < TT_TC; j++) {
        long c = min(c0 + j, cols - 1);
        col[j] = in_off + (c / S) * in_ldp + c % S;
    }
    /* contiguous: the TT_TC columns are in range and share p */
    const bool contig = c0 + TT_TC <= cols && (c0 / S) == ((c0 + TT_TC - 1) / S);
    float8 acc[TT_TQ];
    for (int i = 0; i < TT_TQ; i++)
        acc[i] = (float8)(0.0f);
    __global const float *gk = g + g_off + q0;
    if (contig) {
        __global const float *ik = in + col[0];
        for (long k = 0; k < K; k++, ik += S, gk += Qpad) {
            const float8 v = vload8(0, ik);
            const float4 w = vload4(0, gk);
            acc[0] = fma((float8)(w.s0), v, acc[0]);
            acc[1] = fma((float8)(w.s1), v, acc[1]);
            acc[2] = fma((float8)(w.s2), v, acc[2]);
            acc[3] = fma((float8)(w.s3), v, acc[3]);
        }
    } else {
        for (long k = 0, ks = 0; k < K; k++, ks += S, gk += Qpad) {
            const float8 v = (float8)(in[col[0] + ks], in[col[1] + ks], in[col[2] + ks],
                                      in[col[3] + ks], in[col[4] + ks], in[col[5] + ks],
                                      in[col[6] + ks], in[col[7] + ks]);
            const float4 w = vload4(0, gk);
            acc[0] = fma((float8)(w.s0), v, acc[0]);
            acc[1] = fma((float8)(w.s1), v, acc[1]);
            acc[2] = fma((float8)(w.s2), v, acc[2]);
            acc[3] = fma((float8)(w.s3), v, acc[3]);
        }
    }
    for (int i = 0; i < TT_TQ; i++) {
        const long q = q0 + i;
        if (q >= Q)
            break;
        float v[TT_TC];
        vstore8(acc[i], 0, v);
        for (int j = 0; j < TT_TC; j++) {
            const long c = c0 + j;
            if (c >= cols)
                break;
            const long o = ((c / S) * Q + q) * S + c % S;
            float y = v[j];
            if (has_bias)
                y += bias[bias_off + (o % bias_mod) * bias_str.s3];
            out[out_off + o] = clf_act_apply(y, act);
        }
    }
}

/*
 * Epilogue of a TT linear layer whose last step was a GEMM with rows that
 * are not tokens (lib/ops/tt.c): y[b, i] = act(in[b, i] + bias[i]) (the
 * bias term only when has_bias), one work-item per element of y [B, M].
 *   in   [B, M] the GEMM's output (strides in_str.s2, .s3)
 *   bias [M] (stride bias_str.s3) or a placeholder
 *   out  [B, M] y (strides out_str.s2, .s3)
 * One rounding (the add) before clf_act_apply.
 */
__kernel void tt_bias_act(__global const float *in, long in_off, long4 in_str,
                          __global const float *bias, long bias_off, long4 bias_str,
                          __global float *out, long out_off, long4 out_str,
                          long4 out_shape, long M, int has_bias, int act)
{
    const long o = (long)get_global_id(0), b = o / M, i = o % M;
    if (o >= clf_numel4(out_shape))
        return;
    float v = in[in_off + b * in_str.s2 + i * in_str.s3];
    if (has_bias)
        v += bias[bias_off + i * bias_str.s3];
    out[out_off + b * out_str.s2 + i * out_str.s3] = clf_act_apply(v, act);
}
