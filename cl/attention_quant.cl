/*
 * Mixed-precision attention (host side: lib/ops/attention_quant.c):
 *
 *   out[b,h,i,:] = sum_j p^_j v_j / sum_j p^_j,
 *   p_j = exp(s_j - m), s_j = scale * q[b,h,i,:] . k_j, m = max_j s_j,
 *
 * over the attended keys j (causal: j <= i, top-left aligned; key_padding
 * pad[b, j] == 0). p^_j is p_j stored as PF says (below); a query whose
 * every key is masked gets zeros. K and V are f32 or symmetric i8 codes
 * with f32 scales, dequantised as code * scale (KV below); scores and
 * accumulation are fp32.
 *
 * Two passes over the keys per query: the row maximum m, then the stored
 * weights p^_j, their sum l and sum_j p^_j v_j. Scores are computed in
 * base 2 as in attention.cl: t_j = c q . k_j with c = scale * log2(e)
 * (rounded once by the host), p_j = 2^(t_j - max t), equal to
 * exp(s_j - m) up to rounding.
 *
 * Build defines (set by the host):
 *   KV    0: k, v f32 (any strides; the scale arguments are unread);
 *         1: k, v i8 codes, scales per token [batch, heads, seq_k];
 *         2: k, v i8 codes, scales per channel [batch, heads, head_dim]
 *         (k's scales of length d, v's of length dv)
 *   PF    how p_j is stored (enum clf_p_format): 0 fp32 as is; 1 rounded
 *         to fp16 (vstore_half_rte, read back with vload_half: storage
 *         only, no cl_khr_fp16); 2 powers of two 2^e with
 *         e = q_lg(p_j) >= -(L - 1) (quant_common.cl: log2 rounded in the
 *         log domain), else 0 (CLF_QUANT_LOG with full scale 1; L levels
 *         2^0 .. 2^-(L-1), a kernel argument)
 *   DMAX  largest head_dim (d and dv) the program handles (private arrays)
 */

#ifndef KV
#define KV 0
#endif
#ifndef PF
#define PF 0
#endif
#ifndef DMAX
#define DMAX 64
#endif

#include "quant_common.cl" /* q_lg */

#if KV == 0
#define KV_T float
#else
#define KV_T char
#endif

/* Keys per inner tile: each q[dd] / acc[dd] load serves AQ_BK keys. */
#define AQ_BK 4

/* The stored weight p^ of a weight p in (0, 1] (see PF above). */
inline float aq_store_p(float p, int levels)
{
#if PF == 1
    ushort h[1];
    vstore_half_rte(p, 0, (__private half *)h);
    return vload_half(0, (__private const half *)h);
#elif PF == 2
    if (p <= 0.0f)
        return 0.0f;
    int e = q_lg(p);
    return e >= 1 - levels ? ldexp(1.0f, e) : 0.0f;
#else
    (void)levels;
    return p;
#endif
}

/*
 * One work-item per query (global size (round_up(seq_q, LQ), heads,
 * batch), local size (LQ, 1, 1)); the key loops have the same bounds for
 * a whole work-group (causal: up to the group's last query), so CPU
 * compilers vectorise across work-items and GPUs read each key once per
 * group (a broadcast); keys past a query's causal bound or padded are -inf.
 *   q    f32 [b, h, sq, d]                 (buffer, offset, long4 strides)
 *   k    KV_T [b, h, sk, d]
 *   ks   f32 [b, h, sk] (KV 1) or [b, h, d] (KV 2): (buffer, offset,
 *        strides of b, h, and the last dimension in .s0 .. .s2)
 *   v    KV_T [b, h, sk, dv]
 *   vs   f32 like ks (last dimension sk or dv)
 *   pad  i32 [b, sk] (.s2 batch, .s3 key); read only when has_pad
 *   o    f32 [b, h, sq, dv]
 *   c    scale * log2(e); levels: L of PF 2
 */
__kernel void attn_quant(__global const float *q, long q_off, long4 q_str,
                         __global const KV_T *k, long k_off, long4 k_str,
                         __global const float *ks, long ks_off, long4 ks_str,
                         __global const KV_T *v, long v_off, long4 v_str,
                         __global const float *vs, long vs_off, long4 vs_str,
                         __global const int *pad, long pad_off, long4 pad_str,
                         __global float *o, long o_off, long4 o_str, int sq, int sk, int d,
                         int dv, int causal, int has_pad, float c, int levels)
{
    int i = (int)get_global_id(0);
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    /* the group's last query bounds its causal key loop */
    int glast = min(sq, (int)((get_group_id(0) + 1) * get_local_size(0))) - 1;
    int kend = causal ? min(sk, glast + 1) : sk;
    int iq = min(i, sq - 1); /* work-items past seq_q compute row sq-1, store nothing */

    float qc[DMAX];
    float acc[DMAX];
    __global const float *qr = q + q_off + b * q_str.s0 + h * q_str.s1 + iq * q_str.s2;
#if KV != 0
    __global const float *ksh = ks + ks_off + b * ks_str.s0 + h * ks_str.s1;
    __global const float *vsh = vs + vs_off + b * vs_str.s0 + h * vs_str.s1;
#endif
    for (int dd = 0; dd < d; dd++) {
#if KV == 2
        qc[dd] = c * qr[dd * q_str.s3] * ksh[dd * ks_str.s2]; /* the channel scale folded in */
#else
        qc[dd] = c * qr[dd * q_str.s3];
#endif
    }
    for (int dd = 0; dd < dv; dd++)
        acc[dd] = 0.0f;
    __global const KV_T *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const KV_T *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    __global const int *padb = pad + pad_off + b * pad_str.s2;

    /* t_j for the AQ_BK keys j0 .. j0+3 into t[]; masked keys -inf */
#if KV == 1
#define AQ_KSCALE(jj) ksh[(jj) * ks_str.s2]
#else
#define AQ_KSCALE(jj) 1.0f
#endif
#define AQ_SCORES(t)                                                                          \
    {                                                                                         \
        int jr[AQ_BK];                                                                        \
        __global const KV_T *kr[AQ_BK];                                                       \
        for (int u = 0; u < AQ_BK; u++) {                                                     \
            jr[u] = min(j0 + u, sk - 1);                                                      \
            kr[u] = kh + jr[u] * k_str.s2;                                                    \
        }                                                                                     \
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                     \
        for (int dd = 0; dd < d; dd++) {                                                      \
            float qd = qc[dd];                                                                \
            long o3 = dd * k_str.s3;                                                          \
            a0 = fma(qd, (float)kr[0][o3], a0);                                               \
            a1 = fma(qd, (float)kr[1][o3], a1);                                               \
            a2 = fma(qd, (float)kr[2][o3], a2);                                               \
            a3 = fma(qd, (float)kr[3][o3], a3);                                               \
        }                                                                                     \
        t[0] = a0 * AQ_KSCALE(jr[0]);                                                         \
        t[1] = a1 * AQ_KSCALE(jr[1]);                                                         \
        t[2] = a2 * AQ_KSCALE(jr[2]);                                                         \
        t[3] = a3 * AQ_KSCALE(jr[3]);                                                         \
        for (int u = 0; u < AQ_BK; u++) {                                                     \
            int j = j0 + u;                                                                   \
            bool masked = j >= kend || (causal && j > iq) ||                                  \
                          (has_pad && padb[jr[u] * pad_str.s3] != 0);                         \
            t[u] = masked ? -INFINITY : t[u];                                                 \
        }                                                                                     \
    }

    /* pass 1: the row maximum */
    float m = -INFINITY;
    for (int j0 = 0; j0 < kend; j0 += AQ_BK) {
        float t[AQ_BK];
        AQ_SCORES(t)
        m = fmax(m, fmax(fmax(t[0], t[1]), fmax(t[2], t[3])));
    }

    /* pass 2: stored weights, their sum, the weighted values */
    float l = 0.0f;
    if (m != -INFINITY) {
        for (int j0 = 0; j0 < kend; j0 += AQ_BK) {
            float t[AQ_BK];
            AQ_SCORES(t)
            float p[AQ_BK];
            __global const KV_T *vr[AQ_BK];
            for (int u = 0; u < AQ_BK; u++) {
                p[u] = aq_store_p(exp2(t[u] - m), levels); /* exp2(-inf) = 0 */
                l += p[u];
                int jv = min(j0 + u, sk - 1);
                vr[u] = vh + jv * v_str.s2;
#if KV == 1
                p[u] *= vsh[jv * vs_str.s2]; /* the token scale folded into the weight */
#endif
            }
            for (int dd = 0; dd < dv; dd++) {
                long o3 = dd * v_str.s3;
                float a = acc[dd];
                a = fma(p[0], (float)vr[0][o3], a);
                a = fma(p[1], (float)vr[1][o3], a);
                a = fma(p[2], (float)vr[2][o3], a);
                a = fma(p[3], (float)vr[3][o3], a);
                acc[dd] = a;
            }
        }
    }
#undef AQ_SCORES
#undef AQ_KSCALE
    if (i >= sq)
        return;
    __global float *orow = o + o_off + b * o_str.s0 + h * o_str.s1 + i * o_str.s2;
    for (int dd = 0; dd < dv; dd++) {
#if KV == 2
        float a = acc[dd] * vsh[dd * vs_str.s2];
#else
        float a = acc[dd];
#endif
        orow[dd * o_str.s3] = l > 0.0f ? a / l : 0.0f;
    }
}
