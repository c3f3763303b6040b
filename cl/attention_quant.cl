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
 * Both kernels do the same arithmetic, in the same order, per (query, key):
 *   t_j = fma chain over dd = 0 .. d-1 (from 0) of qc[dd] * k'[j, dd], with
 *         qc[dd] = c * q[dd] (KV 0, 1) or (c * q[dd]) * ks[dd] (KV 2: the
 *         channel scale folded into the query) and k' the f32 value or the
 *         i8 code (exact in fp32); KV 1 then t_j = t_j * ks[j] (the token
 *         scale after the chain); masked keys -inf;
 *   p^_j = store(2^(t_j - m)); l = sum of p^_j;
 *   acc[dd] = fma chain over j of w_j * v'[j, dd], w_j = p^_j * vs[j]
 *         (KV 1: the token scale folded into the weight) or p^_j, v' the
 *         value or the code; out = acc / l, KV 2: (acc * vs[dd]) / l.
 * (l and acc summed over j in ascending order in both), so one error bound
 * covers both (test/test-attention-quant.c); results may still differ in
 * the last bits (scalar vs vector exp2).
 *
 * QI8 (int8 queries; KV 1 or 2 only): the scores become integer dot
 * products. Per query i, with qc[dd] as above (c * q[dd], KV 2 times
 * ks[dd]; dd < d):
 *   s_i = max_dd |qc[dd]| / 127, correctly rounded (q_div_rn);
 *   code[dd] = clamp(rne(qc[dd] / s_i), -127, 127), rne of the exact
 *         quotient, ties to even (q_rne_div); s_i == 0: every code 0;
 *   S_j = sum_dd code[dd] * kcode[j, dd], exact: |S_j| <= d 127^2 <=
 *         4,129,024 < 2^24 for d <= 256, so exact in i32 and, with every
 *         partial sum an integer below 2^24, in an fp32 fma chain too;
 *   t_j = ((float)S_j * s_i) * ks[j] (KV 1), (float)S_j * s_i (KV 2): two
 *         (one) correctly rounded products, in this order.
 * The rest (m, p^_j, l, P.V) as above. The scores are therefore the same
 * bits in every kernel and on every device: attn_quant sums S_j in int
 * (QI8 2: cl_khr_integer_dot_product's dot_4x8packed_ss_int on 4 codes
 * at a time; QI8 1: int multiply-adds on the same char4 words),
 * attn_quant_cpu keeps the codes as integer-valued floats in its f32
 * lanes (the builtins are not vectorised by CPU compilers).
 *
 * Kernels:
 *   attn_quant      one work-item per query (GPUs)
 *   attn_pack_k     K (f32 or codes) into f32 key panels (CPU devices;
 *                   attention_common.cl, with KPACK_T = KV_T)
 *   aq_convert_v    V's codes to dense f32 codes (CPU devices, i8)
 *   attn_quant_cpu  QB queries per work-item in vector lanes, register
 *                   tiles of BK keys (CPU devices)
 *
 * Build defines (the host passes every one, from its table in
 * lib/ops/attention_options.c; the defaults below, checked equal to the
 * table's by test-attention, let the program build bare):
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
 *   AQ_CPU  1: build attn_pack_k and attn_quant_cpu (with VW, QV, BK, DC of
 *         attention_common.cl, and VS3 = 1 when the last stride of the
 *         v it reads is 1);
 *         0: attn_quant
 *   QI8   0: f32 queries; 1: int8 queries (above), integer multiply-adds;
 *         2: int8 queries, attn_quant with the packed dot builtins (the
 *         host passes 2 only where the device reports
 *         cl_khr_integer_dot_product; the CPU kernel treats 1 and 2 alike)
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
#ifndef AQ_CPU
#define AQ_CPU 0
#endif
#ifndef VS3
#define VS3 1
#endif
#ifndef QI8
#define QI8 0
#endif
#if QI8 && KV == 0
#error "QI8 needs i8 K and V (KV 1 or 2)"
#endif

#include "quant_common.cl" /* q_lg, q_rne_div, q_div_rn */

#if QI8
/* The scale s_i of a query from max|qc| (QI8 above): 0 for an all-zero
 * query. */
inline float aq_q_scale(float amax)
{
    return amax > 0.0f ? q_div_rn(amax, 127.0f) : 0.0f;
}

/* The code of qc with the query's scale s (QI8 above), as a float. */
inline float aq_q_code(float x, float s)
{
    return s > 0.0f ? clamp(q_rne_div(x, s), -127.0f, 127.0f) : 0.0f;
}
#endif

#if KV == 0
#define KV_T float
#else
#define KV_T char
#endif

#if !AQ_CPU

/* ------------------------------------------------------------------------ */
/* One work-item per query (GPUs)                                           */
/* ------------------------------------------------------------------------ */

/* Keys per inner tile: each q[dd] / acc[dd] load serves AQ_BK keys. */
#define AQ_BK 4

#if QI8
/* sum of the 4 products a.sN * b.sN, exact in int (|sum| <= 4 * 127^2) */
#if QI8 == 2
#if !(defined(__opencl_c_integer_dot_product_input_4x8bit_packed) || \
      defined(cl_khr_integer_dot_product))
/* the host asks for QI8 2 only where the device reports the extension */
#error "QI8 2: cl_khr_integer_dot_product reported but its builtins are not declared"
#endif
#define AQ_DOT4(a, b) dot_4x8packed_ss_int(as_uint(a), as_uint(b))
#else
inline int aq_dot4(char4 a, char4 b)
{
    int4 p = convert_int4(a) * convert_int4(b);
    return (p.s0 + p.s1) + (p.s2 + p.s3);
}
#define AQ_DOT4(a, b) aq_dot4((a), (b))
#endif

/* The codes kr[dd], kr[dd+1], .. kr[dd+3] of a key row (element stride
 * s3), the ones past n (n = d - dd of them left) 0. */
inline char4 aq_k4(__global const char *kr, long s3, int dd, int n)
{
    char4 w = (char4)(0);
    w.s0 = kr[dd * s3];
    if (n > 1)
        w.s1 = kr[(dd + 1) * s3];
    if (n > 2)
        w.s2 = kr[(dd + 2) * s3];
    if (n > 3)
        w.s3 = kr[(dd + 3) * s3];
    return w;
}
#endif

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
#if QI8
    /* the query's scale qs and codes, 4 per char4 word (0 past d) */
    float amax = 0.0f;
    for (int dd = 0; dd < d; dd++)
        amax = fmax(amax, fabs(qc[dd]));
    float qs = aq_q_scale(amax);
    char4 q4[DMAX / 4];
    for (int dd = 0; dd < d; dd += 4) {
        char4 w = (char4)(0);
        w.s0 = (char)aq_q_code(qc[dd], qs);
        if (dd + 1 < d)
            w.s1 = (char)aq_q_code(qc[dd + 1], qs);
        if (dd + 2 < d)
            w.s2 = (char)aq_q_code(qc[dd + 2], qs);
        if (dd + 3 < d)
            w.s3 = (char)aq_q_code(qc[dd + 3], qs);
        q4[dd / 4] = w;
    }
    int dfull = d & ~3; /* codes in whole words */
#endif
    __global const KV_T *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const KV_T *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    __global const int *padb = pad + pad_off + b * pad_str.s2;

    /* t_j for the AQ_BK keys j0 .. j0+3 into t[]; masked keys -inf */
#if KV == 1
#define AQ_KSCALE(jj) ksh[(jj) * ks_str.s2]
#else
#define AQ_KSCALE(jj) 1.0f
#endif
/* The AQ_BK key rows of the tile (the last key repeated past seq_k): jr[u]
 * their indices, kr[u] their codes (or values) */
#define AQ_KEY_ROWS()                                                                         \
    int jr[AQ_BK];                                                                            \
    __global const KV_T *kr[AQ_BK];                                                           \
    for (int u = 0; u < AQ_BK; u++) {                                                         \
        jr[u] = min(j0 + u, sk - 1);                                                          \
        kr[u] = kh + jr[u] * k_str.s2;                                                        \
    }
/* t[u] = the sum a<u> times the query's scale (QI8) and the key's, then
 * -inf for a masked key */
#if QI8
#define AQ_T(u) (((float)a##u * qs) * AQ_KSCALE(jr[u]))
#else
#define AQ_T(u) (a##u * AQ_KSCALE(jr[u]))
#endif
#define AQ_SCALE_MASK(t)                                                                      \
    t[0] = AQ_T(0);                                                                           \
    t[1] = AQ_T(1);                                                                           \
    t[2] = AQ_T(2);                                                                           \
    t[3] = AQ_T(3);                                                                           \
    for (int u = 0; u < AQ_BK; u++) {                                                         \
        int j = j0 + u;                                                                       \
        bool masked = j >= kend || (causal && j > iq) ||                                      \
                      (has_pad && padb[jr[u] * pad_str.s3] != 0);                             \
        t[u] = masked ? -INFINITY : t[u];                                                     \
    }
#if QI8
/* S_j in int, 4 codes at a time; t_j = ((float)S_j * qs) * ks[j] */
#define AQ_SCORES(t)                                                                          \
    {                                                                                         \
        AQ_KEY_ROWS()                                                                         \
        int a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                   \
        if (k_str.s3 == 1) { /* whole words: one 4-byte load each */                         \
            for (int dd = 0; dd < dfull; dd += 4) {                                           \
                char4 qw = q4[dd / 4];                                                        \
                a0 += AQ_DOT4(qw, vload4(0, kr[0] + dd));                                     \
                a1 += AQ_DOT4(qw, vload4(0, kr[1] + dd));                                     \
                a2 += AQ_DOT4(qw, vload4(0, kr[2] + dd));                                     \
                a3 += AQ_DOT4(qw, vload4(0, kr[3] + dd));                                     \
            }                                                                                 \
        }                                                                                     \
        for (int dd = k_str.s3 == 1 ? dfull : 0; dd < d; dd += 4) { /* gathered words */     \
            char4 qw = q4[dd / 4];                                                            \
            int n = d - dd;                                                                   \
            a0 += AQ_DOT4(qw, aq_k4(kr[0], k_str.s3, dd, n));                                 \
            a1 += AQ_DOT4(qw, aq_k4(kr[1], k_str.s3, dd, n));                                 \
            a2 += AQ_DOT4(qw, aq_k4(kr[2], k_str.s3, dd, n));                                 \
            a3 += AQ_DOT4(qw, aq_k4(kr[3], k_str.s3, dd, n));                                 \
        }                                                                                     \
        AQ_SCALE_MASK(t)                                                                      \
    }
#else
#define AQ_SCORES(t)                                                                          \
    {                                                                                         \
        AQ_KEY_ROWS()                                                                         \
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                     \
        for (int dd = 0; dd < d; dd++) {                                                      \
            float qd = qc[dd];                                                                \
            long o3 = dd * k_str.s3;                                                          \
            a0 = fma(qd, (float)kr[0][o3], a0);                                               \
            a1 = fma(qd, (float)kr[1][o3], a1);                                               \
            a2 = fma(qd, (float)kr[2][o3], a2);                                               \
            a3 = fma(qd, (float)kr[3][o3], a3);                                               \
        }                                                                                     \
        AQ_SCALE_MASK(t)                                                                      \
    }
#endif

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
#undef AQ_SCALE_MASK
#undef AQ_T
#undef AQ_KEY_ROWS
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

#endif /* !AQ_CPU */

#if AQ_CPU

/* ------------------------------------------------------------------------ */
/* Register tiles (CPU devices)                                             */
/* ------------------------------------------------------------------------ */

/* VW, QV (QB = QV * VW), BK, DC, the vector types, the register-tile
 * macros and the helpers of attn_fused_cpu (the query load, the score
 * tile, P.V, the output store), and attn_pack_k, here reading KV_T (f32 or
 * int8 codes, converted exactly; the scales are not applied). */
#define KPACK_T KV_T
#include "attention_common.cl"

/*
 * The stored weights p^ of VW weights p in [0, 1] (PF above), lane-wise and
 * equal to aq_store_p lane by lane. LOG: for a normal p (biased exponent
 * E > 0, mantissa field f), frexp gives k = E - 126 and m = 1.f / 2, so
 * q_lg(p) = E - 126 when 1.f >= 2 * 0x1.6a09e6p-1 = 0x1.6a09e6, i.e.
 * f >= 0x6a09e6 / 2 = 0x3504f3 (exact: 0x6a09e6 is even), else E - 127.
 * A subnormal p = f * 2^-149 has q_lg(p) = -126 when f >= 0x1.6a09e6p-1 *
 * 2^23 = 0x5a8279.8, i.e. f >= 0x5a827a, else less than -126; L <= 127
 * keeps only exponents >= 1 - L >= -126, so "-127" stands for all those
 * (and for p = 0). A kept exponent e >= -126 is the normal 2^e.
 */
inline VEC aq_store_pv(VEC p, int levels)
{
#if PF == 1
    ushort h[VW];
    VSTORE_HALF_RTE(p, 0, (__private half *)h);
    return VLOAD_HALF(0, (__private const half *)h);
#elif PF == 2
    VECI bits = AS_VECI(p);
    /* a true vector comparison is -1 */
    VECI e = (bits >> 23) - 127 - ((bits & 0x7fffff) >= (VECI)(0x3504f3));
    VECI esub = select((VECI)(-127), (VECI)(-126), bits >= (VECI)(0x5a827a));
    e = select(e, esub, bits < (VECI)(0x00800000));
    return select((VEC)(0.0f), AS_VEC((e + 127) << 23), e >= (VECI)(1 - levels));
#else
    (void)levels;
    return p;
#endif
}

#if QI8
/* aq_q_code lane by lane: q_rne_div's decisions (the same codes), clamped
 * to +-127; 0 where s == 0 */
Q_RNE_DIV_VEC(VEC, VECI, aq_rne_div_v)
inline VEC aq_q_code_v(VEC x, VEC s)
{
    VEC n = aq_rne_div_v(x, select((VEC)(1.0f), s, s > (VEC)(0.0f)));
    return select((VEC)(0.0f), clamp(n, -127.0f, 127.0f), s > (VEC)(0.0f));
}
#endif

#if KV != 0
/*
 * V's codes [batch, heads, seq_k, dv] (any strides) -> dense f32 codes
 *   vf[((b*heads + h)*sk + j)*dv + dd] = (float)v[b, h, j, dd]
 * (exact; the scales are applied by attn_quant_cpu), so that its P.V loop
 * broadcasts floats from contiguous rows as with f32 V. One work-item per
 * row; global size (sk, heads, batch).
 */
__kernel void aq_convert_v(__global const KV_T *v, long v_off, long4 v_str, int sk, int dv,
                           __global float *vf)
{
    int j = (int)get_global_id(0);
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (j >= sk)
        return;
    __global const KV_T *r = v + v_off + b * v_str.s0 + h * v_str.s1 + j * v_str.s2;
    __global float *dst = vf + ((b * heads + h) * sk + j) * (long)dv;
    for (int dd = 0; dd < dv; dd++)
        dst[dd] = (float)r[dd * v_str.s3];
}
#endif

/* Per tile, beside ATT_KEY_BIAS's kbt: the token scales kst[j] of K and
 * vst[j] of V (KV 1). */
#if KV == 1
#define AQ_TILE_SCALES()                                                                          \
    for (int j = 0; j < BK; j++) {                                                                \
        int jc = min(j0 + j, sk - 1);                                                             \
        kst[j] = ksh[jc * ks_str.s2];                                                             \
        vst[j] = vsh[jc * vs_str.s2];                                                             \
    }
/* t = (q.k) * ks[j], then the bias (0 or -inf) */
#define AQ_SB(j, v) s##j##_##v = s##j##_##v * kj + bj;
#define AQ_SB_J(j)                                                                                \
    {                                                                                             \
        float kj = kst[j], bj = kbt[j];                                                           \
        QVS(AQ_SB, j)                                                                             \
    }
#define AQ_W(j, e) ((e) * vst[j]) /* the weight with V's token scale */
#else
#define AQ_TILE_SCALES()
#define AQ_SB_J(j) S_BIAS_J(j)
#define AQ_W(j, e) (e)
#endif

#if QI8
/* the exact sums S_j times the queries' scales, lane-wise (QI8 above) */
#define AQ_QS_DECL(a, v) VEC qs##v = VLOAD(v, qsc);
#define AQ_QS(j, v) s##j##_##v = s##j##_##v * qs##v;
#define AQ_QS_J(j) QVS(AQ_QS, j)
#define AQ_QSCALE() ATT_LIST(BK, AQ_QS_J)
#else
#define AQ_QSCALE()
#endif

/* The BK x QV score tile s<j>_<v> of keys j0 .. j0+BK-1 (masked: -inf). */
#define AQ_SCORES                                                                                 \
    ATT_SCORE_TILE()                                                                              \
    AQ_QSCALE()                                                                                   \
    ATT_KEY_BIAS()                                                                                \
    AQ_TILE_SCALES()                                                                              \
    ATT_LIST(BK, AQ_SB_J)                                                                         \
    if (causal && j0 + BK - 1 > q0) {                                                             \
        ATT_LIST(BK, S_CAUSAL_J)                                                                  \
    }

#define AQ_M_DECL(a, v) VEC m##v = (VEC)(-INFINITY);
#define AQ_MAX(j, v) m##v = fmax(m##v, s##j##_##v);
#define AQ_MAX_J(j) QVS(AQ_MAX, j)
/* mu: the row maximum, 0 where every key is masked (2^(-inf - 0) = 0) */
#define AQ_MU_DECL(a, v)                                                                          \
    VEC mu##v = select(m##v, (VEC)(0.0f), isinf(m##v));                                           \
    VEC l##v = (VEC)(0.0f);
#define AQ_EXP(j, v)                                                                              \
    {                                                                                             \
        VEC e = aq_store_pv(exp2(s##j##_##v - mu##v), levels);                                    \
        l##v += e;                                                                                \
        VSTORE(AQ_W(j, e), (j) * QV + (v), ps);                                                   \
    }
#define AQ_EXP_J(j) QVS(AQ_EXP, j)
/*
 * One work-item computes QB = QV*VW queries q0 .. q0+QB-1 of head h of
 * batch b (global size (ceil(seq_q/QB), heads, batch), local size 1), the
 * queries in vector lanes as in attn_fused_cpu (attention.cl):
 *   qt[dd][i]  qc[dd] of query q0+i (zeros past seq_q), private
 *   ot[dd][i]  the P.V accumulators, private
 * QI8: the queries quantised in qt (codes as floats, scales qsc[i]).
 * Pass 1, per tile of BK keys (causal: up to q0+QB-1): the BK x QV score
 * tile (one fma per (key, dd) with the key broadcast from its panel; QI8:
 * the exact S_j, then times qsc), the token scale (KV 1), the mask; m = lane-wise max. Pass 2: the same
 * tile again, p^ = store(2^(t - mu)) (mu = m, 0 where all masked), l += p^,
 * ps[j] = the weights (KV 1: times V's token scale), then
 * ot += ps . v, DC of the dv elements at a time (v broadcast from its row;
 * VS3 0: any stride of the row). out[i, dd] = ot[dd][i] / l_i (KV 2: ot
 * times V's channel scale first), 0 where l_i == 0.
 *   q    f32 [b, h, sq, d] (buffer, offset, long4 strides)
 *   kp   f32 key panels from attn_pack_k [b][h][nkb][d][BK]
 *   ks   f32 K scales as attn_quant's (KV 1: per token, 2: per channel)
 *   v    f32 [b, h, sk, dv]: the values (KV 0) or the codes from
 *        aq_convert_v (KV 1, 2); vs its scales like ks
 *   pad  i32 [b, sk] (.s2 batch, .s3 key); read only when has_pad
 *   o    f32 [b, h, sq, dv]
 *   cl2  scale * log2(e); levels: L of PF 2
 */
__kernel void attn_quant_cpu(__global const float *q, long q_off, long4 q_str,
                             __global const float *kp,
                             __global const float *ks, long ks_off, long4 ks_str,
                             __global const float *v, long v_off, long4 v_str,
                             __global const float *vs, long vs_off, long4 vs_str,
                             __global const int *pad, long pad_off, long4 pad_str,
                             __global float *o, long o_off, long4 o_str, int sq, int sk, int d,
                             int dv, int nkb, int causal, int has_pad, float cl2, int levels)
{
    int q0 = (int)get_global_id(0) * QB;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (q0 >= sq)
        return;
    float qt[DMAX * QB];
    float ot[DMAX * QB];
    float ps[BK * QB];
    float kbt[BK];
#if KV == 1
    float kst[BK], vst[BK];
#endif
#if KV != 0
    __global const float *ksh = ks + ks_off + b * ks_str.s0 + h * ks_str.s1;
    __global const float *vsh = vs + vs_off + b * vs_str.s0 + h * vs_str.s1;
#endif
#if KV == 2 /* the channel scales: K's folded into the queries, V's into out */
    __global const float *kcs = ksh, *vcs = vsh;
#else
    __global const float *kcs = 0, *vcs = 0;
#endif

    attn_load_q(qt, q + q_off + b * q_str.s0 + h * q_str.s1, q_str, q0, sq, d, cl2, kcs,
                ks_str.s2);
#if QI8
    /* each query's scale qsc[i] and codes, in place in qt as integer-valued
     * floats (lanes past seq_q: all zero, scale 0); VW queries at a time */
    float qsc[QB];
    for (int v = 0; v < QV; v++) {
        VEC amax = (VEC)(0.0f);
        for (int dd = 0; dd < d; dd++)
            amax = fmax(amax, fabs(VLOAD(0, qt + dd * QB + v * VW)));
        float am[VW];
        VSTORE(amax, 0, am);
        for (int i = 0; i < VW; i++)
            qsc[v * VW + i] = aq_q_scale(am[i]);
        VEC s = VLOAD(v, qsc);
        for (int dd = 0; dd < d; dd++) {
            __private float *r = qt + dd * QB + v * VW;
            VSTORE(aq_q_code_v(VLOAD(0, r), s), 0, r);
        }
    }
    QVS(AQ_QS_DECL, 0)
#endif
    for (int e = 0; e < dv * QB; e++)
        ot[e] = 0.0f;

    QVS(QI_DECL, 0)
    int kend = causal ? min(sk, q0 + QB) : sk;
    __global const float *kph = kp + (b * heads + h) * nkb * (long)d * BK;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    __global const int *padb = pad + pad_off + b * pad_str.s2;

    /* pass 1: the row maxima */
    QVS(AQ_M_DECL, 0)
    for (int j0 = 0; j0 < kend; j0 += BK) {
        AQ_SCORES
        ATT_LIST(BK, AQ_MAX_J)
    }

    /* pass 2: the stored weights, their sums, P.V */
    QVS(AQ_MU_DECL, 0)
    for (int j0 = 0; j0 < kend; j0 += BK) {
        AQ_SCORES
        ATT_LIST(BK, AQ_EXP_J)

        attn_pv(ot, ps, 0, vh + (long)j0 * v_str.s2, v_str.s2, VS3 ? 1 : v_str.s3,
                min(BK, sk - j0), dv);
    }

    float lf[QB];
    QVS(L_STORE, 0)
    attn_store_out(o + o_off + b * o_str.s0 + h * o_str.s1, o_str, q0, sq, dv, ot, lf, 1, vcs,
                   vs_str.s2);
}

#endif /* AQ_CPU */
