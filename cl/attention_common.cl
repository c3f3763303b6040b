/*
 * Shared by cl/attention.cl, cl/attention_sparse.cl and the CPU kernels of
 * cl/attention_quant.cl (spliced in by the host in place of their include
 * line): the build defines of the CPU kernels, their vector types, the
 * unrolling helpers, the register-tile macros, and the helpers every CPU
 * kernel runs the same way: the query load (attn_load_q), the score tile
 * (ATT_SCORE_TILE), the P.V accumulation (attn_pv), the output store
 * (attn_store_out) and the key panels (attn_pack_k).
 *   VW  float lanes per vector (8 or 16): queries per vector
 *   QV  vectors of queries per work-item (1 or 2); QB = QV * VW queries
 *   BK  keys per tile, DC head_dim chunk of the P.V update (of v's head_dim
 *       dv), DMAX head_dim bucket the program is built for (the larger of
 *       q/k's d and v's dv)
 * The host passes every one (its table: lib/ops/attention_options.c); the
 * defaults below, equal to the table's (test-attention checks them), let
 * a program build bare. The register-tile macros name score tiles
 * s<j>_<v> (key j of the tile, query vector v), their masks, the online
 * softmax state (running max m, sum l) and the P.V accumulators a<e>_<v>.
 */
#ifndef VW
#define VW 16
#endif
#ifndef QV
#define QV 2
#endif

#ifndef DMAX
#define DMAX 64
#endif
#ifndef DC
#define DC 8
#endif
#ifndef BK
#define BK 12
#endif

#define QB (QV * VW)

#if VW == 8
#define VEC float8
#define VECI int8
#define VLOAD vload8
#define VSTORE vstore8
#define VLOAD_HALF vload_half8
#define VSTORE_HALF_RTE vstore_half8_rte
#define AS_VEC as_float8
#define AS_VECI as_int8
#define IOTA ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#elif VW == 16
#define VEC float16
#define VECI int16
#define VLOAD vload16
#define VSTORE vstore16
#define VLOAD_HALF vload_half16
#define VSTORE_HALF_RTE vstore_half16_rte
#define AS_VEC as_float16
#define AS_VECI as_int16
#define IOTA ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#error "VW must be 8 or 16"
#endif

/* Unrolled lists: X(0) ... X(n-1). */
#define ATT_L1(X) X(0)
#define ATT_L2(X) ATT_L1(X) X(1)
#define ATT_L3(X) ATT_L2(X) X(2)
#define ATT_L4(X) ATT_L3(X) X(3)
#define ATT_L5(X) ATT_L4(X) X(4)
#define ATT_L6(X) ATT_L5(X) X(5)
#define ATT_L7(X) ATT_L6(X) X(6)
#define ATT_L8(X) ATT_L7(X) X(7)
#define ATT_L9(X) ATT_L8(X) X(8)
#define ATT_L10(X) ATT_L9(X) X(9)
#define ATT_L11(X) ATT_L10(X) X(10)
#define ATT_L12(X) ATT_L11(X) X(11)
#define ATT_L13(X) ATT_L12(X) X(12)
#define ATT_L14(X) ATT_L13(X) X(13)
#define ATT_L15(X) ATT_L14(X) X(14)
#define ATT_L16(X) ATT_L15(X) X(15)
#define ATT_LIST_(n, X) ATT_L##n(X)
#define ATT_LIST(n, X) ATT_LIST_(n, X)

/* Y(a, 0) ... Y(a, QV-1) */
#if QV == 1
#define QVS(Y, a) Y(a, 0)
#elif QV == 2
#define QVS(Y, a) Y(a, 0) Y(a, 1)
#else
#error "QV must be 1 or 2"
#endif

/* Register-tile macros shared by the CPU kernels. */
#define S_DECL(j, v) VEC s##j##_##v = (VEC)(0.0f);
#define S_DECL_J(j) QVS(S_DECL, j)
#define Q_LOAD(a, v) VEC qv##v = VLOAD(v, qr);
#define S_FMA(j, v) s##j##_##v = fma(qv##v, kj, s##j##_##v);
#define S_FMA_J(j)                                                                                \
    {                                                                                             \
        VEC kj = (VEC)(kr[j]);                                                                    \
        QVS(S_FMA, j)                                                                             \
    }
#define S_BIAS(j, v) s##j##_##v += bj;
#define S_BIAS_J(j)                                                                               \
    {                                                                                             \
        float bj = kbt[j];                                                                        \
        QVS(S_BIAS, j)                                                                            \
    }
#define S_CAUSAL(j, v) s##j##_##v = select(s##j##_##v, (VEC)(-INFINITY), (VECI)(j0 + j) > qi##v);
#define S_CAUSAL_J(j) QVS(S_CAUSAL, j)
#define S_MAX(j, v) mb##v = fmax(mb##v, s##j##_##v);
#define S_MAX_J(j) QVS(S_MAX, j)
#define S_EXP(j, v)                                                                               \
    {                                                                                             \
        VEC e = exp2(s##j##_##v - mu##v);                                                         \
        ls##v += e;                                                                               \
        VSTORE(e, (j) * QV + (v), ps);                                                            \
    }
#define S_EXP_J(j) QVS(S_EXP, j)
#define QI_DECL(a, v) VECI qi##v = (VECI)(q0 + (v) * VW) + IOTA;
#define M_DECL(a, v) VEC m##v = (VEC)(-INFINITY), l##v = (VEC)(0.0f);
#define MB_DECL(a, v) VEC mb##v = m##v;
#define MU_DECL(a, v)                                                                             \
    VEC mu##v = select(mb##v, (VEC)(0.0f), isinf(mb##v));                                         \
    VEC al##v = exp2(m##v - mu##v);                                                               \
    VEC ls##v = (VEC)(0.0f);                                                                      \
    m##v = mb##v;
#define L_UPDATE(a, v) l##v = fma(l##v, al##v, ls##v);
#define L_STORE(a, v) VSTORE(l##v, v, lf);
#define AL_STORE(a, v) VSTORE(al##v, v, alf);

/*
 * The queries q0 .. q0+QB-1 of one head (qh: q at its batch entry and
 * head, q_str its strides), scaled by c and transposed:
 *   qt[dd][i] = c * q[q0+i, dd] (then times cs[dd * cs_stride], a scale
 *   per channel, when cs is not 0), 0 for lanes past seq_q; dd < d.
 */
inline void attn_load_q(__private float *qt, __global const float *qh, long4 q_str, int q0,
                        int sq, int d, float c, __global const float *cs, long cs_stride)
{
    for (int i = 0; i < QB; i++) {
        __global const float *r = qh + (long)(q0 + i) * q_str.s2;
        bool live = q0 + i < sq;
        for (int dd = 0; dd < d; dd++) {
            float x = live ? c * r[dd * q_str.s3] : 0.0f;
            qt[dd * QB + i] = live && cs ? x * cs[dd * cs_stride] : x;
        }
    }
}

/*
 * s<j>_<v> += qt . k over the keys j0 .. j0+BK-1 of one tile [d][BK] at
 * kt0 (in address space `space`), one fma per (key, dd) with the keys
 * broadcast from the tile. Needs qt (attn_load_q) and d.
 */
#define ATT_SCORE_LOOP(space, kt0)                                                                \
    {                                                                                             \
        space const float *kr = (kt0);                                                            \
        __private const float *qr = qt;                                                           \
        for (int dd = 0; dd < d; dd++, kr += BK, qr += QB) {                                      \
            QVS(Q_LOAD, 0)                                                                        \
            ATT_LIST(BK, S_FMA_J)                                                                 \
        }                                                                                         \
    }

/*
 * The BK x QV score tile s<j>_<v> = qt . k of the keys j0 .. j0+BK-1 (no
 * bias, no mask) from the key panels. Needs qt, kph (the head's key panels
 * [nkb][d][BK]), j0 and d.
 */
#define ATT_SCORE_TILE()                                                                          \
    ATT_LIST(BK, S_DECL_J)                                                                        \
    ATT_SCORE_LOOP(__global, kph + (long)(j0 / BK) * d * BK)

/*
 * One key panel made by the work-item that reads it: kt[dd*BK + j] =
 * k[j0 + j, dd] for dd < d, zero past seq_k (kh: k at its batch entry and
 * head, k_str its strides), what attn_pack_k writes for tile j0 / BK. For
 * kernels whose heads have one query block, where each key is read once
 * and a pack launch would cost more than it saves.
 */
inline void attn_pack_tile(__private float *kt, __global const float *kh, long4 k_str, int j0,
                           int sk, int d)
{
    for (int j = 0; j < BK; j++) {
        bool live = j0 + j < sk;
        __global const float *r = kh + (long)(live ? j0 + j : 0) * k_str.s2;
        for (int dd = 0; dd < d; dd++)
            kt[dd * BK + j] = live ? r[dd * k_str.s3] : 0.0f;
    }
}

/*
 * The key bias of the tile j0 .. j0+BK-1 into kbt[BK] (private): 0 for an
 * attended key, -inf for one past seq_k or padded (has_pad and
 * padb[key * pad_str.s3] != 0, padb the mask's row of this batch). Needs
 * j0, sk, has_pad, padb, pad_str.
 */
#define ATT_KEY_BIAS()                                                                            \
    for (int j = 0; j < BK; j++) {                                                                \
        int jc = min(j0 + j, sk - 1);                                                             \
        kbt[j] = j0 + j >= sk || (has_pad && padb[jc * pad_str.s3] != 0) ? -INFINITY : 0.0f;     \
    }

/* The P.V accumulators of attn_pv: a<e>_<v> holds ot[c + e][v * VW ..]. */
#define AL_LOAD(a, v) VEC al##v = al ? VLOAD(v, al) : (VEC)(1.0f);
#define A_DECL(e, v) VEC a##e##_##v = VLOAD(0, ot + (c + e) * QB + (v) * VW) * al##v;
#define A_DECL_E(e) QVS(A_DECL, e)
#define P_LOAD(a, v) VEC pv##v = VLOAD((a) * QV + (v), ps);
#define A_FMA(e, v) a##e##_##v = fma(pv##v, ve, a##e##_##v);
#define A_FMA_E(e)                                                                                \
    {                                                                                             \
        VEC ve = (VEC)(vr[(e) * v_cs]);                                                           \
        QVS(A_FMA, e)                                                                             \
    }
#define A_STORE(e, v) VSTORE(a##e##_##v, 0, ot + (c + e) * QB + (v) * VW);
#define A_STORE_E(e) QVS(A_STORE, e)

/*
 * P.V of one key tile, lane-wise over the QB queries:
 *   ot[dd][i] = al[i] * ot[dd][i] + sum_{j < jn} ps[j][i] v[j, dd]
 * for dd < dv, DC of them at a time (the values broadcast from their row),
 * where ps holds the tile's weights [BK][QB], v's rows start at vt (row
 * stride v_rs, element stride v_cs: pass a literal 1 for contiguous rows),
 * and al is 0 for no rescale (a factor of exactly 1). jn 0: only the
 * rescale.
 */
inline void attn_pv(__private float *ot, __private const float *ps, __private const float *al,
                    __global const float *vt, long v_rs, long v_cs, int jn, int dv)
{
    QVS(AL_LOAD, 0)
    int c = 0;
    for (; c + DC <= dv; c += DC) {
        ATT_LIST(DC, A_DECL_E)
        __global const float *vr = vt + c * v_cs;
        for (int j = 0; j < jn; j++, vr += v_rs) {
            QVS(P_LOAD, j)
            ATT_LIST(DC, A_FMA_E)
        }
        ATT_LIST(DC, A_STORE_E)
    }
    for (; c < dv; c++) {
        ATT_L1(A_DECL_E)
        __global const float *vr = vt + c * v_cs;
        for (int j = 0; j < jn; j++, vr += v_rs) {
            QVS(P_LOAD, j)
            ATT_L1(A_FMA_E)
        }
        ATT_L1(A_STORE_E)
    }
}

/*
 * out[q0+i, dd] = ot[dd][i] / l_i (0 where l_i is 0: every key masked) for
 * the lanes i with q0+i < seq_q and dd < dv (oh: out at the batch entry and
 * head; lf: l_i), ot first times cs[dd * cs_stride], a scale per channel,
 * when cs is not 0; recip 0 stores ot (times cs) without dividing.
 */
inline void attn_store_out(__global float *oh, long4 o_str, int q0, int sq, int dv,
                           __private const float *ot, __private const float *lf, int recip,
                           __global const float *cs, long cs_stride)
{
    for (int i = 0; i < QB && q0 + i < sq; i++) {
        __global float *r = oh + (long)(q0 + i) * o_str.s2;
        float li = lf[i];
        for (int dd = 0; dd < dv; dd++) {
            float a = cs ? ot[dd * QB + i] * cs[dd * cs_stride] : ot[dd * QB + i];
            r[dd * o_str.s3] = !recip ? a : li > 0.0f ? a / li : 0.0f;
        }
    }
}

/*
 * K [batch, heads, seq_k, d] (any strides; KPACK_T elements, float unless
 * the including file says otherwise: attention_quant.cl's int8 codes,
 * converted exactly) -> f32 key panels
 *   kp[((b*heads + h)*nkb + t)*d*BK + dd*BK + j] = k[b, h, t*BK + j, dd]
 * zero past seq_k (nkb = ceil(seq_k / BK)): for each head dimension dd the
 * BK keys of tile t lie side by side, so attn_fused_cpu broadcasts them
 * from one pointer at constant displacements. One work-item per panel;
 * global size (nkb, heads, batch).
 */
#ifndef KPACK_T
#define KPACK_T float
#endif
__kernel void attn_pack_k(__global const KPACK_T *k, long k_off, long4 k_str, /* [b,h,sk,d] */
                          int sk, int d, int nkb,
                          __global float *kp) /* [b][h][nkb][d][BK] */
{
    int t = (int)get_global_id(0);
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (t >= nkb)
        return;
    __global float *dst = kp + ((b * heads + h) * nkb + t) * (long)d * BK;
    __global const KPACK_T *src = k + k_off + b * k_str.s0 + h * k_str.s1;
    for (int j = 0; j < BK; j++) {
        int row = t * BK + j;
        if (row < sk) {
            __global const KPACK_T *r = src + row * k_str.s2;
            for (int dd = 0; dd < d; dd++)
                dst[dd * BK + j] = (float)r[dd * k_str.s3];
        } else {
            for (int dd = 0; dd < d; dd++)
                dst[dd * BK + j] = 0.0f;
        }
    }
}
