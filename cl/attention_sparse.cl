/*
 * Sparse attention variants (host side: lib/ops/attention_sparse.c).
 *
 *   out[b,h,i,:] = sum_j w_ij v[b,h,j,:]
 *
 * with the weights of exact attention (cl/attention.cl) restricted to the
 * keys a variant keeps:
 *   threshold  w_ij = p_ij if p_ij >= tau else 0, p = softmax_j(scores);
 *              renormalize: w_ij /= sum of the kept p_ij
 *   top-k      softmax over the k largest scores of row i (ties towards the
 *              lower key index), the others masked to -inf
 *   window     softmax over the keys j with i - wl <= j <= i + wr, or
 *              j < ng (global keys), or i < ng (global queries)
 * Masks of exact attention still apply: causal (j > i masked, top-left
 * aligned), key padding, keys past seq_k. Band positions are key indices:
 * query i sits at key position i whatever seq_q and seq_k are (the same
 * top-left alignment as the causal mask). A query with no attended key gets
 * zeros.
 *
 * Tensor arguments: (buffer, element offset, long4 strides) with the four
 * dimensions (b, h, row, dd) in .s0 .. .s3. Every kernel works in base 2:
 * c = scale * log2(e), t = c q.k, weights 2^(t - max t).
 *
 * The per-key mask (0 or -inf) [batch][nk_pad] comes from attn_key_bias of
 * cl/attention.cl (the host's clf_attn_enqueue_key_bias). Kernels:
 *   attn_pack_k         K into transposed key panels (attention_common.cl)
 *   sp_window_cpu       window, QB queries per work-item in vector lanes,
 *                       register tiles, only the key tiles of the block's
 *                       band and the global keys (CPU devices)
 *   sp_threshold_cpu    threshold, two passes over the keys (CPU devices)
 *   sp_topk_select_cpu  top-k selection into a bounded heap per query,
 *                       scores in register tiles (CPU devices)
 *   sp_window_item, sp_threshold_item, sp_topk_select_item:
 *                       one work-item per query, scalar (other devices)
 *   sp_topk_attend      softmax over the selected keys and P.V, one
 *                       work-item per query (every device)
 *
 * Build defines: VW, QV, BK, DC, DMAX as in attention.cl (defaults in
 * attention_common.cl).
 */

#include "attention_common.cl"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */


/*
 * Bounded heap of the kk best (score, key) pairs of one query, worst at the
 * root: a is worse than b when a.s < b.s, or a.s == b.s and a.j > b.j.
 * Keys arrive in increasing order, so a new key whose score equals the
 * root's loses (ties go to the lower index): it enters only when s > root.
 * Empty slots hold (-inf, -1); masked keys (-inf) never enter.
 */
bool sp_worse(float as, int aj, float bs, int bj)
{
    return as < bs || (as == bs && aj > bj);
}

void sp_heap_push(__global float *hs, __global int *hi, int kk, float s, int j)
{
    int e = 0;
    for (;;) {
        int c = 2 * e + 1;
        if (c >= kk)
            break;
        if (c + 1 < kk && sp_worse(hs[c + 1], hi[c + 1], hs[c], hi[c]))
            c++;
        if (!sp_worse(hs[c], hi[c], s, j))
            break;
        hs[e] = hs[c];
        hi[e] = hi[c];
        e = c;
    }
    hs[e] = s;
    hi[e] = j;
}

/* ------------------------------------------------------------------------ */
/* CPU kernels: register tiles (as attn_fused_cpu)                          */
/* ------------------------------------------------------------------------ */

/* window mask: outside the band, not a global key or query, or causal */
#define S_WIN(j, v)                                                                               \
    {                                                                                             \
        VECI jv = (VECI)(j0 + j);                                                                 \
        VECI bad = (jv < qi##v - (VECI)(wl)) | (jv > qi##v + (VECI)(wre));                        \
        bad &= (qi##v >= (VECI)(ng)) & (VECI)(j0 + j >= ng ? -1 : 0);                             \
        if (causal)                                                                               \
            bad |= jv > qi##v;                                                                    \
        s##j##_##v = select(s##j##_##v, (VEC)(-INFINITY), bad);                                   \
    }
#define S_WIN_J(j) QVS(S_WIN, j)
#define S_STORE(j, v) VSTORE(s##j##_##v, (j) * QV + (v), ps);
#define S_STORE_J(j) QVS(S_STORE, j)

/* The BK x QV score tile of keys j0.. for the block: t = qt . kp + kb. */
#define SCORE_TILE()                                                                              \
    ATT_SCORE_TILE()                                                                              \
    {                                                                                             \
        __global const float *kbt = kbb + j0;                                                     \
        ATT_LIST(BK, S_BIAS_J)                                                                    \
    }

/*
 * Window attention, QB queries q0.. per work-item (global size
 * (ceil(seq_q/QB), heads, batch), local size 1); the online softmax of
 * attn_fused_cpu over the key tiles that hold a key some query of the block
 * attends: every tile when the block holds a global query (q0 < ng), else
 * the tiles of the global keys [0, ng) and of the band
 * [q0 - wl, q0 + QB - 1 + wre]. P.V reads only the keys of those ranges
 * (never a V row outside them); keys of a tile that a lane does not attend
 * are masked to -inf lane-wise (skipped for tiles inside every lane's band).
 *   wl, wre  band sides (wre = 0 when causal), clamped to seq_q + seq_k
 *   ng       global tokens, clamped likewise
 */
__kernel void sp_window_cpu(__global const float *q, long q_off, long4 q_str,
                            __global const float *kp, __global const float *kb,
                            __global const float *v, long v_off, long4 v_str,
                            __global float *o, long o_off, long4 o_str, int sq, int sk, int d,
                            int nkb, float cl2, int causal, int wl, int wre, int ng)
{
    int q0 = (int)get_global_id(0) * QB;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (q0 >= sq)
        return;
    float qt[DMAX * QB];
    float ot[DMAX * QB];
    float ps[BK * QB];
    attn_load_q(qt, q + q_off + b * q_str.s0 + h * q_str.s1, q_str, q0, sq, d, cl2, 0, 0);
    for (int e = 0; e < d * QB; e++)
        ot[e] = 0.0f;
    QVS(QI_DECL, 0)
    QVS(M_DECL, 0)

    int qlast = min(sq, q0 + QB) - 1;
    bool allq = q0 < ng;
    /* global keys that some lane may attend: [0, ge) */
    int ge = min(ng, sk);
    if (causal)
        ge = min(ge, qlast + 1);
    /* the block's band [lo, hi] (empty when lo > hi) */
    int lo = max(0, q0 - wl);
    int hi = min(sk - 1, qlast + wre);
    int kend = allq ? (causal ? min(sk, qlast + 1) : sk) : 0;
    int tg = allq ? (kend + BK - 1) / BK : (ge + BK - 1) / BK;
    /* band tiles [tlo, thi) after the global ones [0, tg) */
    int tlo = allq ? tg : max(tg, lo / BK);
    int thi = allq || lo > hi ? tg : (hi + BK) / BK;
    int qmax = q0 + QB - 1;

    __global const float *kph = kp + (b * heads + h) * nkb * (long)d * BK;
    __global const float *kbb = kb + b * (long)nkb * BK;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    for (int t = 0;; t++) {
        if (t >= tg) {
            t = max(t, tlo);
            if (t >= thi)
                break;
        }
        int j0 = t * BK;
        /* key ranges of this tile that P.V reads: [a1, b1) and [a2, b2) */
        int a1, b1, a2, b2;
        if (allq) {
            a1 = j0, b1 = min(j0 + BK, kend), a2 = b2 = b1;
        } else {
            a1 = j0, b1 = max(j0, min(j0 + BK, ge));
            a2 = max(max(j0, lo), b1), b2 = max(a2, min(j0 + BK, hi + 1));
        }
        SCORE_TILE()
        /* a tile inside every lane's band needs no lane mask */
        bool full = !allq && j0 >= qmax - wl && j0 + BK - 1 <= q0 + wre;
        if (!full) {
            ATT_LIST(BK, S_WIN_J)
        }
        QVS(MB_DECL, 0)
        ATT_LIST(BK, S_MAX_J)
        QVS(MU_DECL, 0)
        ATT_LIST(BK, S_EXP_J)
        QVS(L_UPDATE, 0)
        /* P.V over [a1, b1) with the rescale, then [a2, b2) without; an
         * empty first range: the rescale goes with the second (both empty:
         * the rescale alone) */
        __global const float *vt = vh + (long)j0 * v_str.s2;
        float alf[QB];
        QVS(AL_STORE, 0)
        if (a1 < b1) {
            attn_pv(ot, ps, alf, vt, v_str.s2, 1, b1 - a1, d);
            if (a2 < b2)
                attn_pv(ot, ps + (a2 - j0) * QB, 0, vt + (long)(a2 - j0) * v_str.s2, v_str.s2,
                        1, b2 - a2, d);
        } else {
            attn_pv(ot, ps + (a2 - j0) * QB, alf, vt + (long)(a2 - j0) * v_str.s2, v_str.s2, 1,
                    b2 - a2, d);
        }
    }
    float lf[QB];
    QVS(L_STORE, 0)
    attn_store_out(o + o_off + b * o_str.s0 + h * o_str.s1, o_str, q0, sq, d, ot, lf, 1, 0, 0);
}

/*
 * Threshold attention, QB queries per work-item (as sp_window_cpu), two
 * passes over the keys:
 *   1. running max m and sum l of 2^(t - m) (the online softmax without
 *      P.V);
 *   2. the same scores again (bit-identical: same code, same order),
 *      p = 2^(t - m) * (1/l); kept when the key is attended and p >= tau;
 *      ot += p v over the kept keys, kept counts and (renorm) the sum of
 *      the kept p lane-wise.
 * out = ot, or ot / sum kept (renorm; 0 when nothing was kept).
 *   kept  i32 [b, h, sq] (buffer, offset, strides .s1 .. .s3), written when
 *         has_kept
 */
__kernel void sp_threshold_cpu(__global const float *q, long q_off, long4 q_str,
                               __global const float *kp, __global const float *kb,
                               __global const float *v, long v_off, long4 v_str,
                               __global float *o, long o_off, long4 o_str,
                               __global int *kept, long kept_off, long4 kept_str, int has_kept,
                               int sq, int sk, int d, int nkb, float cl2, int causal, float tau,
                               int renorm)
{
    int q0 = (int)get_global_id(0) * QB;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (q0 >= sq)
        return;
    float qt[DMAX * QB];
    float ot[DMAX * QB];
    float ps[BK * QB];
    attn_load_q(qt, q + q_off + b * q_str.s0 + h * q_str.s1, q_str, q0, sq, d, cl2, 0, 0);
    for (int e = 0; e < d * QB; e++)
        ot[e] = 0.0f;
    QVS(QI_DECL, 0)
    QVS(M_DECL, 0)
    int kend = causal ? min(sk, q0 + QB) : sk;
    __global const float *kph = kp + (b * heads + h) * nkb * (long)d * BK;
    __global const float *kbb = kb + b * (long)nkb * BK;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;

    /* pass 1 */
    for (int j0 = 0; j0 < kend; j0 += BK) {
        SCORE_TILE()
        if (causal && j0 + BK - 1 > q0) {
            ATT_LIST(BK, S_CAUSAL_J)
        }
        QVS(MB_DECL, 0)
        ATT_LIST(BK, S_MAX_J)
        QVS(MU_DECL, 0)
        ATT_LIST(BK, S_EXP_J)
        QVS(L_UPDATE, 0)
    }

    /* pass 2 */
#define P2_DECL(a, v)                                                                             \
    VEC inv##v = select((VEC)(1.0f) / l##v, (VEC)(0.0f), l##v <= (VEC)(0.0f));                    \
    VEC mf##v = select(m##v, (VEC)(0.0f), isinf(m##v));                                           \
    VECI cnt##v = (VECI)(0);                                                                      \
    VEC lk##v = (VEC)(0.0f);                                                                      \
    VEC al##v = (VEC)(1.0f);
    QVS(P2_DECL, 0)
#define S_KEEP(j, v)                                                                              \
    {                                                                                             \
        VEC p = exp2(s##j##_##v - mf##v) * inv##v;                                                \
        VECI keep = (p >= (VEC)(tau)) & (s##j##_##v > (VEC)(-INFINITY));                         \
        p = select((VEC)(0.0f), p, keep);                                                         \
        cnt##v -= keep;                                                                           \
        lk##v += p;                                                                               \
        VSTORE(p, (j) * QV + (v), ps);                                                            \
    }
#define S_KEEP_J(j) QVS(S_KEEP, j)
    for (int j0 = 0; j0 < kend; j0 += BK) {
        SCORE_TILE()
        if (causal && j0 + BK - 1 > q0) {
            ATT_LIST(BK, S_CAUSAL_J)
        }
        ATT_LIST(BK, S_KEEP_J)
        attn_pv(ot, ps, 0, vh + (long)j0 * v_str.s2, v_str.s2, 1, min(BK, sk - j0), d);
    }
    float lf[QB];
    int cf[QB];
#define LK_STORE(a, v) VSTORE(lk##v, v, lf);
#define CNT_STORE(a, v) VSTORE(cnt##v, v, cf);
    QVS(LK_STORE, 0)
    QVS(CNT_STORE, 0)
    attn_store_out(o + o_off + b * o_str.s0 + h * o_str.s1, o_str, q0, sq, d, ot, lf, renorm, 0,
                   0);
    if (has_kept) {
        __global int *kr = kept + kept_off + b * kept_str.s1 + h * kept_str.s2;
        for (int i = 0; i < QB && q0 + i < sq; i++)
            kr[(long)(q0 + i) * kept_str.s3] = cf[i];
    }
}

/*
 * Top-k selection, QB queries per work-item: the score tiles of
 * attn_fused_cpu (with the masks), then each lane whose tile maximum beats
 * its heap's root pushes its keys into its bounded heap (sp_heap_push).
 *   idx  i32 [b][h][sq][kk] dense: the selected keys in heap order, -1 for
 *        an empty slot (fewer than kk attended keys)
 *   hs   f32 like idx: heap scores (scratch)
 */
__kernel void sp_topk_select_cpu(__global const float *q, long q_off, long4 q_str,
                                 __global const float *kp, __global const float *kb, int sq,
                                 int sk, int d, int nkb, float cl2, int causal, int kk,
                                 __global int *idx, __global float *hs)
{
    int q0 = (int)get_global_id(0) * QB;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (q0 >= sq)
        return;
    float qt[DMAX * QB];
    float ps[BK * QB];
    float thr[QB];
    attn_load_q(qt, q + q_off + b * q_str.s0 + h * q_str.s1, q_str, q0, sq, d, cl2, 0, 0);
    long row0 = (b * heads + h) * (long)sq + q0;
    for (int i = 0; i < QB; i++) {
        /* lanes past seq_q never push: +inf root */
        thr[i] = q0 + i < sq ? -INFINITY : INFINITY;
        if (q0 + i < sq)
            for (int e = 0; e < kk; e++) {
                hs[(row0 + i) * kk + e] = -INFINITY;
                idx[(row0 + i) * kk + e] = -1;
            }
    }
    QVS(QI_DECL, 0)
    int kend = causal ? min(sk, q0 + QB) : sk;
    __global const float *kph = kp + (b * heads + h) * nkb * (long)d * BK;
    __global const float *kbb = kb + b * (long)nkb * BK;
    for (int j0 = 0; j0 < kend; j0 += BK) {
        SCORE_TILE()
        if (causal && j0 + BK - 1 > q0) {
            ATT_LIST(BK, S_CAUSAL_J)
        }
#define TM_DECL(a, v) VEC mb##v = (VEC)(-INFINITY);
        QVS(TM_DECL, 0)
        ATT_LIST(BK, S_MAX_J)
#define TM_TEST(a, v) any(mb##v > VLOAD(v, thr)) ||
        if (QVS(TM_TEST, 0) 0) {
            ATT_LIST(BK, S_STORE_J)
            float tmax[QB];
#define TM_STORE(a, v) VSTORE(mb##v, v, tmax);
            QVS(TM_STORE, 0)
            int jn = min(BK, sk - j0);
            for (int v = 0; v < QV; v++)
                for (int l = 0; l < VW; l++) {
                    int i = v * VW + l;
                    if (!(tmax[i] > thr[i]))
                        continue;
                    __global float *hr = hs + (row0 + i) * kk;
                    __global int *ir = idx + (row0 + i) * kk;
                    for (int j = 0; j < jn; j++) {
                        float s = ps[(j * QV + v) * VW + l];
                        if (s > thr[i]) {
                            sp_heap_push(hr, ir, kk, s, j0 + j);
                            thr[i] = hr[0];
                        }
                    }
                }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Simple kernels: one work-item per query (GPU family)                     */
/* ------------------------------------------------------------------------ */

/* t = c q.k_j with the row of q already scaled in qr; kh at key 0. */
float sp_dot(__private const float *qr, __global const float *kh, long4 k_str, int j, int d)
{
    __global const float *kr = kh + (long)j * k_str.s2;
    float s = 0.0f;
    for (int dd = 0; dd < d; dd++)
        s = fma(qr[dd], kr[dd * k_str.s3], s);
    return s;
}

/* Score of key j for query i with the exact masks, -inf when masked. */
float sp_score(__private const float *qr, __global const float *kh, long4 k_str,
               __global const float *kbb, int i, int j, int d, int causal)
{
    if (causal && j > i)
        return -INFINITY;
    float bj = kbb[j];
    if (bj < 0.0f)
        return -INFINITY;
    return sp_dot(qr, kh, k_str, j, d);
}

#define ITEM_PROLOGUE()                                                                           \
    int i = (int)get_global_id(0);                                                                \
    long h = (long)get_global_id(1), b = (long)get_global_id(2);                                  \
    if (i >= sq)                                                                                  \
        return;                                                                                   \
    float qr[DMAX];                                                                               \
    float acc[DMAX];                                                                              \
    {                                                                                             \
        __global const float *qrow = q + q_off + b * q_str.s0 + h * q_str.s1 + (long)i * q_str.s2; \
        for (int dd = 0; dd < d; dd++) {                                                          \
            qr[dd] = cl2 * qrow[dd * q_str.s3];                                                   \
            acc[dd] = 0.0f;                                                                       \
        }                                                                                         \
    }                                                                                             \
    __global const float *kh = k + k_off + b * k_str.s0 + h * k_str.s1;                           \
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;                          \
    __global const float *kbb = kb + b * (long)nk_pad;                                            \
    __global float *orow = o + o_off + b * o_str.s0 + h * o_str.s1 + (long)i * o_str.s2;

/* One online-softmax step for key j with score s (-inf: skipped). */
#define ONLINE_STEP(s, j)                                                                         \
    if (s > -INFINITY) {                                                                          \
        float mn = fmax(m, s);                                                                    \
        float al = exp2(m - mn), p = exp2(s - mn);                                                \
        __global const float *vr = vh + (long)(j) * v_str.s2;                                     \
        for (int dd = 0; dd < d; dd++)                                                            \
            acc[dd] = fma(p, vr[dd * v_str.s3], acc[dd] * al);                                    \
        l = fma(l, al, p);                                                                        \
        m = mn;                                                                                   \
    }

#define ITEM_STORE()                                                                              \
    for (int dd = 0; dd < d; dd++)                                                                \
        orow[dd * o_str.s3] = l > 0.0f ? acc[dd] / l : 0.0f;

/* Window, one query per work-item: the global keys, then the band (never a
 * key outside them). Global size (roundup(sq), heads, batch). */
__kernel void sp_window_item(__global const float *q, long q_off, long4 q_str,
                             __global const float *k, long k_off, long4 k_str,
                             __global const float *v, long v_off, long4 v_str,
                             __global const float *kb, int nk_pad,
                             __global float *o, long o_off, long4 o_str, int sq, int sk, int d,
                             float cl2, int causal, int wl, int wre, int ng)
{
    ITEM_PROLOGUE()
    float m = -INFINITY, l = 0.0f;
    int lo, hi, ge;
    if (i < ng) {
        ge = 0, lo = 0, hi = sk - 1;
    } else {
        ge = min(ng, sk);
        lo = max(ge, i - wl);
        hi = min(sk - 1, i + wre);
    }
    for (int j = 0; j < ge; j++) {
        float s = sp_score(qr, kh, k_str, kbb, i, j, d, causal);
        ONLINE_STEP(s, j)
    }
    for (int j = lo; j <= hi; j++) {
        float s = sp_score(qr, kh, k_str, kbb, i, j, d, causal);
        ONLINE_STEP(s, j)
    }
    ITEM_STORE()
}

/* Threshold, one query per work-item, two passes (as sp_threshold_cpu). */
__kernel void sp_threshold_item(__global const float *q, long q_off, long4 q_str,
                                __global const float *k, long k_off, long4 k_str,
                                __global const float *v, long v_off, long4 v_str,
                                __global const float *kb, int nk_pad,
                                __global float *o, long o_off, long4 o_str,
                                __global int *kept, long kept_off, long4 kept_str, int has_kept,
                                int sq, int sk, int d, float cl2, int causal, float tau,
                                int renorm)
{
    ITEM_PROLOGUE()
    float m = -INFINITY, l = 0.0f;
    for (int j = 0; j < sk; j++) {
        float s = sp_score(qr, kh, k_str, kbb, i, j, d, causal);
        if (s > -INFINITY) {
            float mn = fmax(m, s);
            l = fma(l, exp2(m - mn), exp2(s - mn));
            m = mn;
        }
    }
    float inv = l > 0.0f ? 1.0f / l : 0.0f, lk = 0.0f;
    int cnt = 0;
    for (int j = 0; j < sk; j++) {
        float s = sp_score(qr, kh, k_str, kbb, i, j, d, causal);
        if (!(s > -INFINITY))
            continue;
        float p = exp2(s - m) * inv;
        if (!(p >= tau))
            continue;
        cnt++;
        lk += p;
        __global const float *vr = vh + (long)j * v_str.s2;
        for (int dd = 0; dd < d; dd++)
            acc[dd] = fma(p, vr[dd * v_str.s3], acc[dd]);
    }
    for (int dd = 0; dd < d; dd++)
        orow[dd * o_str.s3] = !renorm ? acc[dd] : lk > 0.0f ? acc[dd] / lk : 0.0f;
    if (has_kept)
        kept[kept_off + b * kept_str.s1 + h * kept_str.s2 + (long)i * kept_str.s3] = cnt;
}

/* Top-k selection, one query per work-item (as sp_topk_select_cpu). */
__kernel void sp_topk_select_item(__global const float *q, long q_off, long4 q_str,
                                  __global const float *k, long k_off, long4 k_str,
                                  __global const float *kb, int nk_pad, int sq, int sk, int d,
                                  float cl2, int causal, int kk, __global int *idx,
                                  __global float *hs)
{
    int i = (int)get_global_id(0);
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (i >= sq)
        return;
    float qr[DMAX];
    __global const float *qrow = q + q_off + b * q_str.s0 + h * q_str.s1 + (long)i * q_str.s2;
    for (int dd = 0; dd < d; dd++)
        qr[dd] = cl2 * qrow[dd * q_str.s3];
    __global const float *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const float *kbb = kb + b * (long)nk_pad;
    long row = (b * heads + h) * (long)sq + i;
    __global float *hr = hs + row * kk;
    __global int *ir = idx + row * kk;
    for (int e = 0; e < kk; e++) {
        hr[e] = -INFINITY;
        ir[e] = -1;
    }
    float root = -INFINITY;
    for (int j = 0; j < sk; j++) {
        float s = sp_score(qr, kh, k_str, kbb, i, j, d, causal);
        if (s > root) {
            sp_heap_push(hr, ir, kk, s, j);
            root = hr[0];
        }
    }
}

/*
 * Top-k attention over the selected keys, one query per work-item (global
 * size (roundup(sq, local), heads, batch)): online softmax of the scores
 * c q.k_j over the keys idx[row][0..kk) (-1: none), P.V.
 */
__kernel void sp_topk_attend(__global const float *q, long q_off, long4 q_str,
                             __global const float *k, long k_off, long4 k_str,
                             __global const float *v, long v_off, long4 v_str,
                             __global const int *idx, __global float *o, long o_off, long4 o_str,
                             int sq, int d, float cl2, int kk)
{
    int i = (int)get_global_id(0);
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    if (i >= sq)
        return;
    float qr[DMAX];
    float acc[DMAX];
    __global const float *qrow = q + q_off + b * q_str.s0 + h * q_str.s1 + (long)i * q_str.s2;
    for (int dd = 0; dd < d; dd++) {
        qr[dd] = cl2 * qrow[dd * q_str.s3];
        acc[dd] = 0.0f;
    }
    __global const float *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    __global const int *ir = idx + ((b * heads + h) * (long)sq + i) * kk;
    float m = -INFINITY, l = 0.0f;
    for (int e = 0; e < kk; e++) {
        int j = ir[e];
        if (j < 0)
            continue;
        float s = sp_dot(qr, kh, k_str, j, d);
        ONLINE_STEP(s, j)
    }
    __global float *orow = o + o_off + b * o_str.s0 + h * o_str.s1 + (long)i * o_str.s2;
    ITEM_STORE()
}
