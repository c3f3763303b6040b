/*
 * Exact scaled dot-product attention (host side: lib/ops/attention.c).
 *
 *   out[b,h,i,:] = sum_j softmax_j(scale * q[b,h,i,:] . k[b,h,j,:] + mask) v[b,h,j,:]
 *
 * q [batch, heads, seq_q, d], k [batch, heads, seq_k, d], v [batch, heads,
 * seq_k, dv], out [batch, heads, seq_q, dv] (d = dk, dv: the head_dims of
 * the scores and of the values, each <= DMAX), all f32 with any strides, passed as (buffer, element offset, long4
 * strides) with the four dimensions (b, h, row, dd) in .s0 .. .s3. mask is
 * -inf for a key j > i when causal (top-left aligned), for a padded key
 * (key_padding[b, j] != 0) and for keys past seq_k in a padded tile. A
 * query whose keys are all masked gets zeros.
 *
 * Every kernel works in the base-2 domain: the host passes
 * c = scale * log2(e) (rounded once), scores are t = c * q.k and the weights
 * 2^(t - max t) equal exp(scale * q.k - max) up to rounding.
 *
 * Kernels:
 *   attn_key_bias     per-key additive mask (0 or -inf) [batch][nk_pad]
 *   attn_pack_k       K into transposed key panels (attention_common.cl)
 *   attn_fused_cpu    online softmax, register tiles, no local memory
 *   attn_fused_group  online softmax, K/V tiles staged in local memory (GPUs)
 *   attn_fused_subgroup  online softmax, one sub-group per query, lanes over
 *                     keys then over dv (built only with subgroups)
 *   attn_softmax_*    the GEMM path's masked softmax over an n x n score
 *                     buffer (per row: one work-item, or one work-group)
 *
 * Build defines (the host passes every one, from its table in
 * lib/ops/attention_options.c; the defaults, checked equal to the table's
 * by test-attention, let the program build bare; VW, QV, BK, DC and DMAX
 * are in attention_common.cl):
 *   VW    vector width of attn_fused_cpu (8 or 16); lanes are queries
 *   QV    query vectors per work-item (1 or 2): QB = QV * VW queries
 *   BK    keys per tile of attn_fused_cpu (4, 8, 12 or 16) and of the
 *         K panels of attn_pack_k
 *   DC    head_dim elements per accumulator pass of P.V (4, 8, 12 or 16)
 *   DMAX  largest head_dim (d and dv) the program handles (sizes private
 *         arrays)
 *   GQ    queries (= work-items) per work-group of attn_fused_group
 *   GK    keys per local-memory tile of attn_fused_group
 *   SG    sub-group size required of attn_fused_subgroup, where the device
 *         has cl_intel_required_subgroup_size (0: the compiler chooses, as
 *         the library leaves it; test-attention runs each size offered)
 */

#ifndef GQ
#define GQ 64
#endif
#ifndef GK
#define GK 64
#endif
#ifndef SG
#define SG 0
#endif

#include "attention_common.cl"

/* ------------------------------------------------------------------------ */
/* Key mask                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * kb[b * nk_pad + j] = 0 when key j of batch b is attended, -inf when it is
 * padded (has_pad and pad[b, j] != 0) or past seq_k (j >= sk).
 *   pad  i32 [batch, seq_k] as (buffer, offset, strides .s2 = batch,
 *        .s3 = key); read only when has_pad
 *   kb   [batch][nk_pad] f32
 * Global size (nk_pad, batch).
 */
__kernel void attn_key_bias(__global const int *pad, long pad_off, long4 pad_str, int has_pad,
                            int sk, int nk_pad, __global float *kb)
{
    int j = (int)get_global_id(0);
    long b = (long)get_global_id(1);
    if (j >= nk_pad)
        return;
    bool masked = j >= sk;
    if (!masked && has_pad)
        masked = pad[pad_off + b * pad_str.s2 + j * pad_str.s3] != 0;
    kb[b * nk_pad + j] = masked ? -INFINITY : 0.0f;
}

/* ------------------------------------------------------------------------ */
/* Fused attention for CPU devices                                          */
/* ------------------------------------------------------------------------ */

/* The key panels (attn_pack_k) and the register-tile macros (S_*, A_*, the
 * softmax state) are in attention_common.cl. */

/*
 * One work-item computes QB = QV*VW queries (rows q0 .. q0+QB-1 of head h
 * of batch b; global size (ceil(seq_q/QB), heads, batch), local size 1).
 * Lanes of every vector are queries, so the whole online softmax is
 * lane-wise and there is no horizontal reduction:
 *   qt[dd][i]   c * q[q0+i, dd], dd < d                 (private, transposed)
 *   ot[dd][i]   running sum_j 2^(t_ij - m_i) v[j, dd], dd < dv   (private)
 *   m_i, l_i    running max and running sum of 2^(t_ij - m_i)
 * For each tile of BK keys j0..j0+BK-1 (causal: only up to q0+QB-1):
 *   1. t = qt . kp (BK x QV register tile, one fma per (key, dd), the key
 *      values broadcast from the panel: attn_pack_k's, or with kdirect one
 *      the work-item packs from k itself), + the key bias (-inf for a padded
 *      key or one past seq_k, ATT_KEY_BIAS: no kernel of its own),
 *      causal lanes with j > i set to -inf;
 *   2. m' = max(m, max_j t); mu = m' (0 while every key so far is masked,
 *      so that no -inf - -inf arises); alpha = 2^(m - mu);
 *      p_j = 2^(t_j - mu); l = alpha l + sum_j p_j;
 *   3. ot = alpha ot + sum_j p_j v[j, :], DC of the dv elements at a time
 *      (v broadcast from its row, which must be contiguous: v_str.s3 == 1).
 * At the end out[i, dd] = ot[dd][i] / l_i (dd < dv), or 0 when l_i == 0 (every key
 * masked). No buffer other than out is written.
 *   kp   key panels from attn_pack_k: [b][h][nkb][d][BK]; unread when kdirect
 *   k    the keys [b,h,sk,d], read (each key once) only when kdirect: the
 *        host sets it when every head has one query block (seq_q <= QB)
 *   pad  i32 key padding [batch, seq_k] (strides .s2, .s3; nonzero: padded),
 *        read only when has_pad
 *   cu   ragged (nonzero) only: i32 [batch + 1] offsets of the sequences
 *        packed end to end along the rows of q, k, v and out (their batch
 *        dimension 1, `rows` rows): sequence b is rows cu[b] .. cu[b+1]-1,
 *        at most sq = sk of them (the longest; clamped into [0, rows], so
 *        bad offsets cannot address outside the tensors); every
 *        position (queries, keys, causal order) counts from its sequence's
 *        first row. The host sets kdirect with it.
 *   d    q's and k's head_dim; dv v's and out's (both <= DMAX)
 *   c    scale * log2(e)
 */
__kernel void attn_fused_cpu(__global const float *q, long q_off, long4 q_str, /* [b,h,sq,d] */
                             __global const float *kp,
                             __global const float *k, long k_off, long4 k_str, int kdirect,
                             __global const int *pad, long pad_off, long4 pad_str, int has_pad,
                             __global const int *cu, long cu_off, int ragged, int rows,
                             __global const float *v, long v_off, long4 v_str, /* [b,h,sk,dv] */
                             __global float *o, long o_off, long4 o_str,       /* [b,h,sq,dv] */
                             int sq, int sk, int d, int dv, int nkb, float cl2, int causal)
{
    int q0 = (int)get_global_id(0) * QB;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    long heads = (long)get_global_size(1);
    /* the elements of batch b: b's slice, or (ragged) its sequence's rows */
    long qb = b * q_str.s0, kb = b * k_str.s0, vb = b * v_str.s0, ob = b * o_str.s0;
    if (ragged) {
        long r0 = clamp(cu[cu_off + b], 0, rows), r1 = clamp(cu[cu_off + b + 1], (int)r0, rows);
        sq = sk = (int)min(r1 - r0, (long)sq);
        qb = r0 * q_str.s2, kb = r0 * k_str.s2, vb = r0 * v_str.s2, ob = r0 * o_str.s2;
    }
    if (q0 >= sq)
        return;
    float qt[DMAX * QB];
    float ot[DMAX * QB];
    float ps[BK * QB];
    float kbt[BK];
    float kt[DMAX * BK]; /* the tile's keys when kdirect */

    /* queries, scaled, transposed; lanes past seq_q hold zeros */
    attn_load_q(qt, q + q_off + qb + h * q_str.s1, q_str, q0, sq, d, cl2, 0, 0);
    for (int e = 0; e < dv * QB; e++)
        ot[e] = 0.0f;

    QVS(QI_DECL, 0)
    QVS(M_DECL, 0)

    int kend = causal ? min(sk, q0 + QB) : sk;
    __global const float *kph = kp + (b * heads + h) * nkb * (long)d * BK;
    __global const float *kh = k + k_off + kb + h * k_str.s1;
    __global const int *padb = pad + pad_off + b * pad_str.s2;
    __global const float *vh = v + v_off + vb + h * v_str.s1;
    for (int j0 = 0; j0 < kend; j0 += BK) {
        /* 1. scores */
        ATT_LIST(BK, S_DECL_J)
        if (kdirect) {
            attn_pack_tile(kt, kh, k_str, j0, sk, d);
            ATT_SCORE_LOOP(__private, kt)
        } else {
            ATT_SCORE_LOOP(__global, kph + (long)(j0 / BK) * d * BK)
        }
        ATT_KEY_BIAS()
        ATT_LIST(BK, S_BIAS_J)
        if (causal && j0 + BK - 1 > q0) {
            ATT_LIST(BK, S_CAUSAL_J)
        }

        /* 2. online softmax, lane-wise */
        QVS(MB_DECL, 0)
        ATT_LIST(BK, S_MAX_J)
        QVS(MU_DECL, 0)
        ATT_LIST(BK, S_EXP_J)
        QVS(L_UPDATE, 0)

        /* 3. ot = alpha ot + P.V */
        float alf[QB];
        QVS(AL_STORE, 0)
        attn_pv(ot, ps, alf, vh + (long)j0 * v_str.s2, v_str.s2, 1, min(BK, sk - j0), dv);
    }

    /* out = ot / l; 0 where every key was masked */
    float lf[QB];
    QVS(L_STORE, 0)
    attn_store_out(o + o_off + ob + h * o_str.s1, o_str, q0, sq, dv, ot, lf, 1, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* Fused attention for GPUs                                                 */
/* ------------------------------------------------------------------------ */

/*
 * One work-group of GQ work-items computes GQ queries of head h of batch b
 * (global size (ceil(seq_q/GQ)*GQ, heads, batch), local size (GQ, 1, 1)),
 * one query per work-item. Tiles of GK keys and values are staged in local
 * memory by the whole group (kt: [GK][DMAX] holding d of each row, vt:
 * [GK][DMAX] holding dv), then each work-item runs
 * the online softmax over them with its query and accumulator in private
 * memory: t_j = c q.k_j + kb_j (causal: -inf for j > i); m' = max(m, max t);
 * mu = m' or 0 while all masked; alpha = 2^(m - mu); p_j = 2^(t_j - mu);
 * l = alpha l + sum p; acc = alpha acc + sum p_j v_j. out = acc / l, or 0
 * when l == 0.
 *   kb   key bias from attn_key_bias: [batch][nk_pad], nk_pad >= the
 *        keys of the last tile
 *   d    q's and k's head_dim; dv v's and out's (both <= DMAX)
 */
__kernel void attn_fused_group(__global const float *q, long q_off, long4 q_str, /* [b,h,sq,d] */
                               __global const float *k, long k_off, long4 k_str, /* [b,h,sk,d] */
                               __global const float *v, long v_off, long4 v_str, /* [b,h,sk,dv] */
                               __global const float *kb, int nk_pad,
                               __global float *o, long o_off, long4 o_str,       /* [b,h,sq,dv] */
                               int sq, int sk, int d, int dv, float cl2, int causal)
{
    __local float kt[GK * DMAX];
    __local float vt[GK * DMAX];
    __local float bt[GK];
    int lid = (int)get_local_id(0);
    int g0 = (int)get_group_id(0) * GQ;
    int qi = g0 + lid;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    bool live = qi < sq;

    float qr[DMAX];
    float acc[DMAX];
    __global const float *qrow = q + q_off + b * q_str.s0 + h * q_str.s1 + (long)qi * q_str.s2;
    for (int dd = 0; dd < d; dd++)
        qr[dd] = live ? cl2 * qrow[dd * q_str.s3] : 0.0f;
    for (int dd = 0; dd < dv; dd++)
        acc[dd] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    int dm = max(d, dv);

    int kend = causal ? min(sk, g0 + GQ) : sk;
    __global const float *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    for (int j0 = 0; j0 < kend; j0 += GK) {
        barrier(CLK_LOCAL_MEM_FENCE);
        /* rows of max(d, dv): the k part when dd < d, the v part when dd < dv
         * (both when d == dv) */
        for (int e = lid; e < GK * dm; e += GQ) {
            int j = e / dm, dd = e - j * dm;
            bool in = j0 + j < sk;
            long r = (long)(j0 + j);
            if (dd < d)
                kt[j * DMAX + dd] = in ? kh[r * k_str.s2 + dd * k_str.s3] : 0.0f;
            if (dd < dv)
                vt[j * DMAX + dd] = in ? vh[r * v_str.s2 + dd * v_str.s3] : 0.0f;
        }
        for (int j = lid; j < GK; j += GQ)
            bt[j] = j0 + j < nk_pad ? kb[b * nk_pad + j0 + j] : -INFINITY;
        barrier(CLK_LOCAL_MEM_FENCE);

        float t[GK];
        float mb = m;
        for (int j = 0; j < GK; j++) {
            float s = 0.0f;
            for (int dd = 0; dd < d; dd++)
                s = fma(qr[dd], kt[j * DMAX + dd], s);
            s += bt[j];
            if (causal && j0 + j > qi)
                s = -INFINITY;
            t[j] = s;
            mb = fmax(mb, s);
        }
        float mu = isinf(mb) ? 0.0f : mb;
        float al = exp2(m - mu);
        m = mb;
        float ls = 0.0f;
        for (int dd = 0; dd < dv; dd++)
            acc[dd] *= al;
        for (int j = 0; j < GK; j++) {
            float p = exp2(t[j] - mu);
            ls += p;
            for (int dd = 0; dd < dv; dd++)
                acc[dd] = fma(p, vt[j * DMAX + dd], acc[dd]);
        }
        l = fma(l, al, ls);
    }
    if (!live)
        return;
    __global float *orow = o + o_off + b * o_str.s0 + h * o_str.s1 + (long)qi * o_str.s2;
    for (int dd = 0; dd < dv; dd++)
        orow[dd * o_str.s3] = l > 0.0f ? acc[dd] / l : 0.0f;
}

/* ------------------------------------------------------------------------ */
/* Fused attention, one sub-group per query (devices with subgroups)        */
/* ------------------------------------------------------------------------ */

/*
 * Built only where the device has subgroups (CLF_HAS_SUBGROUPS: the host
 * sets it from cl_khr_subgroups or cl_intel_subgroups and never launches
 * this kernel elsewhere; common.cl enables the extension). One sub-group
 * of S lanes (S = get_sub_group_size(), whatever the compiler chose: 4 to
 * 16 on Intel's CPU runtime, 32 on NVIDIA, 32 or 64 on AMD) computes one
 * query at a time; no local memory, no barrier. Same arguments as
 * attn_fused_group (kb: [batch][nk_pad] from attn_key_bias, nk_pad >=
 * seq_k). Global size (G * L, heads, batch), local size (L, 1, 1): the
 * sub-groups of the launch take queries qi = group * nsg + sg, then
 * qi += G * nsg (nsg = get_num_sub_groups()), so the result does not
 * depend on the host's guess of S (it sizes G so that each sub-group
 * usually takes one query); every lane of a sub-group has the same qi, so
 * the sub-group functions are reached by all of its lanes.
 *
 * Per query i (causal: keys j <= i only), keys in tiles of S, lane u
 * holding key j = j0 + u of the tile:
 *   t_u = c q_i . k_j (d fmas in dd order) + kb[b, j]; -inf past the tile's
 *         keys (j >= kend)
 *   m' = max(m, sub_group_reduce_max(t)); mu = m' (0 while every key so
 *   far is masked, so that no -inf - -inf arises); alpha = 2^(m - mu);
 *   p_u = 2^(t_u - mu);
 *   l = fma(l, alpha, sub_group_reduce_add(p))  (the tile's sum, in the
 *       order the device's reduction takes: at most (keys in tile - 1)
 *       roundings per term, then one per later tile);
 *   lanes over dv: lane u owns acc[r] = the sum for dd = u + r S
 *   (r < ceil(dv / S)); acc[r] = alpha acc[r], then for each key jj of the
 *   tile in order, acc[r] = fma(p_jj, v[j0 + jj, dd], acc[r]) with p_jj
 *   from lane jj (sub_group_broadcast).
 * out[i, dd] = acc / l, or 0 when l == 0 (every key masked).
 *   d    q's and k's head_dim; dv v's and out's (both <= DMAX)
 *   c    scale * log2(e)
 */
#if CLF_HAS_SUBGROUPS
#if SG > 0 && defined(cl_intel_required_subgroup_size)
#define ATTN_SG_SIZE __attribute__((intel_reqd_sub_group_size(SG)))
#else
#define ATTN_SG_SIZE
#endif
ATTN_SG_SIZE
__kernel void attn_fused_subgroup(__global const float *q, long q_off, long4 q_str, /* [b,h,sq,d] */
                                  __global const float *k, long k_off, long4 k_str, /* [b,h,sk,d] */
                                  __global const float *v, long v_off, long4 v_str, /* [b,h,sk,dv] */
                                  __global const float *kb, int nk_pad,
                                  __global float *o, long o_off, long4 o_str,       /* [b,h,sq,dv] */
                                  int sq, int sk, int d, int dv, float cl2, int causal)
{
    int S = (int)get_sub_group_size();
    int u = (int)get_sub_group_local_id();
    int nsg = (int)get_num_sub_groups();
    int step = (int)get_num_groups(0) * nsg;
    long h = (long)get_global_id(1), b = (long)get_global_id(2);
    int nr = (dv + S - 1) / S; /* accumulators per lane */
    __global const float *kh = k + k_off + b * k_str.s0 + h * k_str.s1;
    __global const float *vh = v + v_off + b * v_str.s0 + h * v_str.s1;
    __global const float *kbb = kb + b * nk_pad;

    for (int qi = (int)get_group_id(0) * nsg + (int)get_sub_group_id(); qi < sq; qi += step) {
        float qr[DMAX];  /* c q[qi, :d], the same in every lane */
        float acc[DMAX]; /* acc[r]: output dd = u + r S */
        __global const float *qrow = q + q_off + b * q_str.s0 + h * q_str.s1 + (long)qi * q_str.s2;
        for (int dd = 0; dd < d; dd++)
            qr[dd] = cl2 * qrow[dd * q_str.s3];
        for (int r = 0; r < nr; r++)
            acc[r] = 0.0f;
        float m = -INFINITY, l = 0.0f;
        int kend = causal ? min(sk, qi + 1) : sk;
        for (int j0 = 0; j0 < kend; j0 += S) {
            int j = j0 + u;
            float t = -INFINITY;
            if (j < kend) {
                __global const float *kr = kh + (long)j * k_str.s2;
                float s = 0.0f;
                for (int dd = 0; dd < d; dd++)
                    s = fma(qr[dd], kr[dd * k_str.s3], s);
                t = s + kbb[j];
            }
            float mb = fmax(m, sub_group_reduce_max(t));
            float mu = isinf(mb) ? 0.0f : mb;
            float al = exp2(m - mu);
            m = mb;
            float p = exp2(t - mu);
            l = fma(l, al, sub_group_reduce_add(p));
            for (int r = 0; r < nr; r++)
                acc[r] *= al;
            int n = min(S, kend - j0);
            for (int jj = 0; jj < n; jj++) {
                float pj = sub_group_broadcast(p, (uint)jj);
                __global const float *vr = vh + (long)(j0 + jj) * v_str.s2;
                for (int r = 0; r < nr; r++) {
                    int dd = u + r * S;
                    if (dd < dv)
                        acc[r] = fma(pj, vr[dd * v_str.s3], acc[r]);
                }
            }
        }
        __global float *orow = o + o_off + b * o_str.s0 + h * o_str.s1 + (long)qi * o_str.s2;
        for (int r = 0; r < nr; r++) {
            int dd = u + r * S;
            if (dd < dv)
                orow[dd * o_str.s3] = l > 0.0f ? acc[r] / l : 0.0f;
        }
    }
}
#endif

/* ------------------------------------------------------------------------ */
/* GEMM path: masked softmax over the scores                                */
/* ------------------------------------------------------------------------ */

/*
 * s [bh][sq][sk] dense f32 holds t = c * q.k (the GEMM's alpha is c);
 * replaced in place by the weights
 *   w_ij = 2^(t_ij - m_i) / sum_j' 2^(t_ij' - m_i)  over the attended keys,
 * 0 for masked keys (kb_j = -inf, or j > i when causal), and a row of zeros
 * when every key of the row is masked. Row r = bh_index * sq + i; batch
 * b = bh_index / heads.
 *   kb  [batch][nk_pad] from attn_key_bias (nk_pad >= sk)
 *   pb  with has_pb: the position bias [heads][pb_hs] (element stride 1)
 *       from pb_off; bias[h, j - i + sq - 1] (natural units) is added to
 *       t_ij as log2(e) * bias before the mask (MPNet's relative position
 *       bias, Song et al. 2020; T5's). Without: not read (may be NULL).
 *
 * attn_softmax_item: one work-item per row, VW-wide vectors along it;
 *   global size (bh * sq).
 * attn_softmax_group: one work-group per row (local size ls, a power of
 *   two), columns lid, lid + ls, ..., combined by clf_group_reduce
 *   (common.cl: through subgroups where the device has them, else a tree
 *   in local memory); global size (bh * sq * ls); scratch [ls] floats.
 */

/* Loads VW scores of row s from column j (j + VW <= sk) with the position
 * bias (pbr: the row's bias from its key 0, when has_pb) and the mask. */
VEC attn_masked_load(__global const float *s, __global const float *kbr,
                     __global const float *pbr, int has_pb, int j, int i, int causal)
{
    VEC x = VLOAD(0, s + j);
    if (has_pb)
        x += (VEC)(M_LOG2E_F) * VLOAD(0, pbr + j);
    x += VLOAD(0, kbr + j);
    if (causal)
        x = select(x, (VEC)(-INFINITY), (VECI)(j) + IOTA > (VECI)(i));
    return x;
}

float attn_masked_one(__global const float *s, __global const float *kbr,
                      __global const float *pbr, int has_pb, int j, int i, int causal)
{
    if (causal && j > i)
        return -INFINITY;
    float x = s[j];
    if (has_pb)
        x += M_LOG2E_F * pbr[j];
    return x + kbr[j];
}

/* Row i of head h's bias from its key 0 (NULL without one). */
__global const float *attn_pb_row(__global const float *pb, long pb_off, long pb_hs, int has_pb,
                                  long h, int i, int sq)
{
    return has_pb ? pb + pb_off + h * pb_hs + (sq - 1 - i) : pb;
}

__kernel void attn_softmax_item(__global float *s, __global const float *kb, int nk_pad,
                                int heads, int sq, int sk, int causal,
                                __global const float *pb, long pb_off, long pb_hs, int has_pb)
{
    long r = (long)get_global_id(0);
    int i = (int)(r % sq);
    long b = r / sq / heads;
    __global float *row = s + r * sk;
    __global const float *kbr = kb + b * nk_pad;
    __global const float *pbr = attn_pb_row(pb, pb_off, pb_hs, has_pb, r / sq % heads, i, sq);
    int nv = sk - sk % VW;
    VEC mv = (VEC)(-INFINITY);
    for (int j = 0; j < nv; j += VW)
        mv = fmax(mv, attn_masked_load(row, kbr, pbr, has_pb, j, i, causal));
    float m = -INFINITY;
    for (int j = nv; j < sk; j++)
        m = fmax(m, attn_masked_one(row, kbr, pbr, has_pb, j, i, causal));
    float mt[VW];
    VSTORE(mv, 0, mt);
    for (int e = 0; e < VW; e++)
        m = fmax(m, mt[e]);
    if (isinf(m) && m < 0.0f) { /* every key masked */
        for (int j = 0; j < sk; j++)
            row[j] = 0.0f;
        return;
    }
    VEC sv = (VEC)(0.0f);
    for (int j = 0; j < nv; j += VW) {
        VEC e = exp2(attn_masked_load(row, kbr, pbr, has_pb, j, i, causal) - m);
        VSTORE(e, 0, row + j);
        sv += e;
    }
    float sum = 0.0f;
    for (int j = nv; j < sk; j++) {
        float e = exp2(attn_masked_one(row, kbr, pbr, has_pb, j, i, causal) - m);
        row[j] = e;
        sum += e;
    }
    VSTORE(sv, 0, mt);
    for (int e = 0; e < VW; e++)
        sum += mt[e];
    for (int j = 0; j < nv; j += VW)
        VSTORE(VLOAD(0, row + j) / sum, 0, row + j);
    for (int j = nv; j < sk; j++)
        row[j] = row[j] / sum;
}

__kernel void attn_softmax_group(__global float *s, __global const float *kb, int nk_pad,
                                 int heads, int sq, int sk, int causal,
                                 __global const float *pb, long pb_off, long pb_hs, int has_pb,
                                 __local float *scratch)
{
    long r = (long)get_group_id(0);
    int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
    int i = (int)(r % sq);
    long b = r / sq / heads;
    __global float *row = s + r * sk;
    __global const float *kbr = kb + b * nk_pad;
    __global const float *pbr = attn_pb_row(pb, pb_off, pb_hs, has_pb, r / sq % heads, i, sq);
    float m = -INFINITY;
    for (int j = lid; j < sk; j += ls)
        m = fmax(m, attn_masked_one(row, kbr, pbr, has_pb, j, i, causal));
    m = clf_group_reduce(m, 1, scratch);
    if (isinf(m) && m < 0.0f) {
        for (int j = lid; j < sk; j += ls)
            row[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = lid; j < sk; j += ls) {
        float e = exp2(attn_masked_one(row, kbr, pbr, has_pb, j, i, causal) - m);
        row[j] = e;
        sum += e;
    }
    sum = clf_group_reduce(sum, 0, scratch);
    for (int j = lid; j < sk; j += ls)
        row[j] = row[j] / sum;
}
