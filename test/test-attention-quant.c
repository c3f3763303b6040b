/*
 * Mixed-precision attention (clf_op_attention_quant) against a double
 * reference that applies the same approximation: K and V dequantised
 * (code * scale, in double), the two-pass weights p_j = exp(s_j - M) in
 * double, stored as the op's p_format stores them (fp16: (float)p rounded
 * to binary16 to nearest even; LOG: the power of two of q_lg, below the
 * last level 0), out = sum_j h_j v_j / sum_j h_j. The i8 codes and scales
 * are made here on the host (symmetric, s = max|x| / 127, code =
 * nearbyint(x / s) in fp32), uploaded as CLF_I8 / CLF_F32 tensors.
 *
 * Cases: f32 K/V with fp32 P (exact attention: the bound is test-attention's
 * kind); i8 per token and per channel; fp16 P; LOG 4 bits (and 2, 8);
 * causal; key padding with a fully padded query row (and a fully padded
 * batch entry) giving exact zeros; seq_q != seq_k; strided q and strided
 * i8 codes, V with a last stride of 2; head_dim 1 .. 256, dv != d. Each
 * case runs on the device's kernel family (CPU devices: attn_quant_cpu,
 * register tiles, 32 or 8 query lanes by the vector width) and again
 * through the per-query GPU kernel (attn_quant, forced by setting the
 * context's device type to GPU while recording), and on CPU devices the
 * 8-lane tile configuration (vector width forced to 8). Both families do
 * the same arithmetic (cl/attention_quant.cl), so one bound serves both.
 * Every output is poisoned with NaN;
 * NaN never passes. AQ_TEST_VERBOSE=1 prints each case's error / bound.
 *
 * q_int8 (queries quantised per query, integer scores): the reference
 * quantises the queries as the kernels do (qi8_scores, whose comment
 * derives the scores' bound D_j); those cases run on both families too,
 * plus: queries whose quantisation is exact give today's int8-K/V result
 * bit for bit (test_qi8_exact), and attn_quant with
 * cl_khr_integer_dot_product's builtins gives the same bits as with them
 * forced off (test_qi8_dot; Intel's runtime must have them).
 *
 * Error bound, per output element (u = 2^-24, gamma_n = n u / (1 - n u)).
 *  1. Weights before storage. The device computes t_j = c q.k'_j in fp32
 *     (c = fl(scale log2 e); the channel scale folded into q, or the token
 *     scale multiplied after the d-term fma chain: at most d + 3 roundings
 *     on products of magnitude sum|c q k_j|), m = max t_j, and
 *     p'_j = exp2(fl(t_j - m)) (3 ulp, OpenCL 1.2 §7.4: <= 6u relative).
 *     Against the reference's p_j = exp(s_j - M) (s_j from the same
 *     dequantised keys, in double) that is a relative perturbation of at
 *     most r_j = exp(D_j + D_max + 3u (M - s_j)) (1 + 6u) - 1, with
 *     D_j = gamma_{d+3} |scale| sum|q k_j| (Higham 3.1), D_max its maximum
 *     over the attended keys (the error of m), 3u (M - s_j) for the
 *     roundings of c and of t_j - m (relative to t_j - m). So the device's
 *     pre-storage value lies in [lo_j, hi_j] = p_j (1 -/+ r_j) (widened by
 *     2^-149 for fp32 subnormals).
 *  2. Storage. Every p_format rounding is monotone, so the device's stored
 *     weight h'_j lies between store(lo_j) and store(hi_j), and
 *     |h'_j - h_j| <= Delta_j = max(h_j - store(lo_j), store(hi_j) - h_j)
 *     where h_j = store(p_j) is the reference's. For fp32 that is r_j p_j;
 *     for fp16 and LOG it is 0 unless [lo_j, hi_j] straddles a rounding
 *     boundary, then one fp16 ulp (<= 2^-10 h_j) or one log level (a
 *     factor 2) — exactly the "the reference's decision may differ at
 *     rounding boundaries" allowance, and no more.
 *  3. The ratio. With L = sum h_j, o = sum h_j v_j / L,
 *     o' - o = sum_j (h'_j - h_j)(v_j - o) / sum h'_j, so
 *     |o' - o| <= E = sum_j Delta_j |v_j - o| / (L - sum Delta_j).
 *  4. Accumulation. Numerator sum_j h'_j v'_j over at most sk terms, each
 *     with up to 3 more roundings (v's dequantisation code * scale folded
 *     into the weight or applied at the end, the fma): gamma_{sk+3}
 *     relative to A = sum (h_j + Delta_j)|v_j| / (L - sum Delta_j); the sum
 *     l: gamma_sk; the division: u. Together
 *       |o^ - o| <= E + (2 gamma_{sk+3} + u)(A + |o| + E) + 1e-30.
 * A query whose every key is masked must give exactly 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/runtime/ctx.h" /* internal: device type, to force the per-query kernel */

/* KV storage of a case. */
enum kvq {
    KV_F32 = 0,
    KV_ROW = 1, /* i8 per token */
    KV_COL = 2  /* i8 per channel */
};

struct qcase {
    int64_t b, h, sq, sk, d, dv;
    enum kvq kv;
    enum clf_p_format pf;
    int p_bits;
    bool causal;
    int pad;      /* 0 none; 1 random keys, query rows of batch 0 with key 0 only... see make_pad */
    bool strided; /* q a view of a [B, sq, H, 2d] storage; k, v views of [B, sk, H, D] */
    bool vstep2;  /* v a view of every other element of a [B, H, sk, 2 dv] storage */
    float scale;  /* 0: default */
    bool gauss;   /* N(0, 1) data instead of uniform */
    bool qi8;     /* q_int8: the queries quantised too (i8 K and V) */
    bool kstep2;  /* k a view of every other element (the codes' stride 2) */
    bool extreme; /* q and k rows one +-1 pattern per head: |S_j| = d 127^2 */
    bool exactq;  /* q built so that quantising it is exact (make_exact_q) */
};

/* Host data, dense logical order: q [B,H,sq,d], k [B,H,sk,d], v [B,H,sk,dv];
 * for i8: codes and scales [B,H,n] (n = sk per token, d / dv per channel);
 * kd, vd the values the op sees (dequantised, or the f32 values), double. */
struct qdata {
    float *q, *k, *v;
    int8_t *kc, *vc;
    float *ksc, *vsc;
    double *kd, *vd;
    int32_t *pad; /* [B, sk] or NULL */
};

static size_t ix(int64_t H, int64_t S, int64_t D, int64_t b, int64_t h, int64_t i, int64_t dd)
{
    return (size_t)(((b * H + h) * S + i) * D + dd);
}

static double gauss(void)
{
    double u1 = test_rand_uniform(1e-12, 1), u2 = test_rand_uniform(0, 1);
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *rand_floats(size_t n, bool g, double lo, double hi)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = g ? (float)gauss() : (float)test_rand_uniform(lo, hi);
    return x;
}

/*
 * Symmetric int8 of x [B*H][S][D] per token (one scale per (b,h,j), over
 * dd) or per channel (one per (b,h,dd), over j): s = max|x| / 127 (fp32),
 * code = nearbyint(x / s) (fp32 quotient), clamped to +-127; codes 0 and
 * s = 0 for an all-zero group. Writes codes, scales [B*H][n] and the
 * dequantised values (double).
 */
static void quantise(const float *x, int64_t BH, int64_t S, int64_t D, bool per_channel,
                     int8_t *codes, float *scales, double *deq)
{
    int64_t n = per_channel ? D : S, m = per_channel ? S : D;
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t g = 0; g < n; g++) {
            float amax = 0;
            for (int64_t e = 0; e < m; e++) {
                size_t at = (size_t)(bh * S * D + (per_channel ? e * D + g : g * D + e));
                amax = fmaxf(amax, fabsf(x[at]));
            }
            float s = amax / 127.0f;
            scales[bh * n + g] = s;
            for (int64_t e = 0; e < m; e++) {
                size_t at = (size_t)(bh * S * D + (per_channel ? e * D + g : g * D + e));
                float c = s > 0 ? nearbyintf(x[at] / s) : 0.0f;
                c = fminf(127.0f, fmaxf(-127.0f, c));
                codes[at] = (int8_t)c;
                deq[at] = (double)c * s;
            }
        }
}

static bool masked(const struct qcase *c, const struct qdata *x, int64_t b, int64_t i, int64_t j)
{
    if (c->causal && j > i)
        return true;
    return x->pad && x->pad[b * c->sk + j] != 0;
}

/* The stored weight of p >= 0 as the op stores it (levels: L of LOG). */
static double store_p(double p, enum clf_p_format pf, int levels)
{
    float f = (float)p;
    if (pf == CLF_P_F16)
        return clf_f16_to_f32(clf_f32_to_f16(f));
    if (pf == CLF_P_LOG) {
        if (!(f > 0))
            return 0;
        int k;
        float mnt = frexpf(f, &k);
        int e = mnt >= 0x1.6a09e6p-1f ? k : k - 1;
        return e >= 1 - levels ? ldexp(1.0, e) : 0;
    }
    return p;
}

static int levels_of(const struct qcase *c)
{
    return c->pf == CLF_P_LOG ? (1 << (c->p_bits - 1)) - 1 : 0;
}

static float scale_of(const struct qcase *c)
{
    return c->scale != 0 ? c->scale : (float)(1.0 / sqrt((double)c->d));
}

/*
 * q_int8: the scores s[j] (natural-log units, as the reference's) and
 * their error bounds D[j] of query i of (b, h), with the op's quantisation
 * of the query done here in the same fp32 arithmetic (cl/attention_quant.cl,
 * QI8): qc = fl(c q) (per channel: fl(fl(c q) ks)), c = fl(scale log2 e);
 * s_i = fl(max|qc| / 127) (IEEE division: correctly rounded, as the
 * device's q_div_rn); code = nearbyint of the quotient in double, which is
 * rne of the exact quotient (a tie n + 1/2 is exact in double, and a
 * quotient of two floats that is not a tie lies at least 2^-25 from one,
 * far beyond double's rounding near 127), clamped to +-127. The integer
 * sum S_j = sum code kcode is exact on both sides. The device's score is
 * t_j = fl(fl(S_j s_i) ks[j]) (per channel one product): two correctly
 * rounded products, so |t_j - S_j s_i ks[j]| <= gamma_2 |t_j|; the
 * reference's t_j = S_j s_i ks[j] in double adds two roundings of 2^-53
 * and the conversion to natural-log units (times ln 2) one more, so
 * D_j = gamma_3 |s_j| covers both (the rest of the header's bound as is,
 * with D_j for the score's error).
 */
static void qi8_scores(const struct qcase *c, const struct qdata *x, int64_t b, int64_t h,
                       int64_t i, double *s, double *D)
{
    int64_t H = c->h, sq = c->sq, sk = c->sk, d = c->d;
    float cc = (float)((double)scale_of(c) * 1.4426950408889634);
    const float *qi = x->q + ix(H, sq, d, b, h, i, 0);
    float qc[256], amax = 0;
    int code[256];
    for (int64_t dd = 0; dd < d; dd++) {
        qc[dd] = cc * qi[dd];
        if (c->kv == KV_COL)
            qc[dd] = qc[dd] * x->ksc[(b * H + h) * d + dd];
        amax = fmaxf(amax, fabsf(qc[dd]));
    }
    float qs = amax / 127.0f;
    for (int64_t dd = 0; dd < d; dd++) {
        double t = qs > 0 ? nearbyint((double)qc[dd] / (double)qs) : 0;
        code[dd] = (int)fmin(127, fmax(-127, t));
    }
    double gd = test_gamma(3);
    for (int64_t j = 0; j < sk; j++) {
        int64_t S = 0;
        for (int64_t dd = 0; dd < d; dd++)
            S += (int64_t)code[dd] * x->kc[ix(H, sk, d, b, h, j, dd)];
        double t = (double)S * (double)qs;
        if (c->kv == KV_ROW)
            t *= (double)x->ksc[(b * H + h) * sk + j];
        s[j] = t * 0.6931471805599453; /* ln 2: base 2 to base e */
        D[j] = gd * fabs(s[j]);
    }
}

/*
 * The reference (with the bound of the header comment) of every output;
 * ref receives sum_j h_j v_j / sum_j h_j (the approximation applied), or,
 * with exact set, plain softmax attention on x->q, x->k, x->v (no bound).
 * Returns the worst error / bound ratio of out (inf for NaN, or a fully
 * masked row that is not exactly 0); out may be NULL (no check).
 */
static double reference(const struct qcase *c, const struct qdata *x, bool exact,
                        const float *out, double *ref)
{
    int64_t B = c->b, H = c->h, sq = c->sq, sk = c->sk, d = c->d, dv = c->dv;
    float scale = scale_of(c);
    double u = TEST_U32, gd = test_gamma((double)d + 3), gn = test_gamma((double)sk + 3);
    int levels = levels_of(c);
    enum clf_p_format pf = exact ? CLF_P_F32 : c->pf;
    double *s = malloc((size_t)sk * sizeof *s), *D = malloc((size_t)sk * sizeof *D);
    double *hh = malloc((size_t)sk * sizeof *hh), *dl = malloc((size_t)sk * sizeof *dl);
    double worst = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < sq; i++) {
                const float *qi = x->q + ix(H, sq, d, b, h, i, 0);
                double M = -INFINITY, Dmax = 0;
                bool qi8 = c->qi8 && !exact;
                if (qi8)
                    qi8_scores(c, x, b, h, i, s, D);
                for (int64_t j = 0; j < sk; j++) {
                    if (qi8) {
                        if (!masked(c, x, b, i, j))
                            M = fmax(M, s[j]), Dmax = fmax(Dmax, D[j]);
                        continue;
                    }
                    double dot = 0, mag = 0;
                    for (int64_t dd = 0; dd < d; dd++) {
                        size_t at = ix(H, sk, d, b, h, j, dd);
                        double kv = exact ? (double)x->k[at] : x->kd[at];
                        dot += (double)qi[dd] * kv;
                        mag += fabs((double)qi[dd] * kv);
                    }
                    s[j] = (double)scale * dot;
                    D[j] = gd * fabs((double)scale) * mag;
                    if (!masked(c, x, b, i, j)) {
                        M = fmax(M, s[j]);
                        Dmax = fmax(Dmax, D[j]);
                    }
                }
                double *rr = ref + ix(H, sq, dv, b, h, i, 0);
                const float *o = out ? out + ix(H, sq, dv, b, h, i, 0) : NULL;
                if (M == -INFINITY) { /* every key masked: exact zeros */
                    for (int64_t dd = 0; dd < dv; dd++) {
                        rr[dd] = 0;
                        if (o && o[dd] != 0.0f)
                            worst = INFINITY;
                    }
                    continue;
                }
                double L = 0, sdl = 0;
                for (int64_t j = 0; j < sk; j++) {
                    hh[j] = dl[j] = 0;
                    if (masked(c, x, b, i, j))
                        continue;
                    double p = exp(s[j] - M);
                    double r = exp(D[j] + Dmax + 3 * u * (M - s[j])) * (1 + 6 * u) - 1;
                    double lo = fmax(0, p * (1 - r) - 0x1p-149), hi = p * (1 + r) + 0x1p-149;
                    hh[j] = store_p(p, pf, levels);
                    if (pf == CLF_P_F32)
                        dl[j] = r * p + 0x1p-149;
                    else
                        dl[j] = fmax(hh[j] - store_p(lo, pf, levels),
                                     store_p(hi, pf, levels) - hh[j]);
                    L += hh[j];
                    sdl += dl[j];
                }
                for (int64_t dd = 0; dd < dv; dd++) {
                    double num = 0, a = 0, e = 0;
                    for (int64_t j = 0; j < sk; j++) {
                        size_t at = ix(H, sk, dv, b, h, j, dd);
                        num += hh[j] * (exact ? (double)x->v[at] : x->vd[at]);
                    }
                    double oref = num / L;
                    rr[dd] = oref;
                    if (!o)
                        continue;
                    for (int64_t j = 0; j < sk; j++) {
                        if (hh[j] == 0 && dl[j] == 0)
                            continue;
                        double vj = x->vd[ix(H, sk, dv, b, h, j, dd)];
                        e += dl[j] * fabs(vj - oref);
                        a += (hh[j] + dl[j]) * fabs(vj);
                    }
                    double den = L - sdl;
                    double bound = den > 0 ? 0 : INFINITY;
                    if (den > 0) {
                        e /= den;
                        a /= den;
                        bound = e + (2 * gn + u) * (a + fabs(oref) + e) + 1e-30;
                    }
                    double ratio = fabs((double)o[dd] - oref) / bound;
                    if (!(ratio <= worst))
                        worst = isnan(ratio) ? INFINITY : ratio;
                }
            }
    free(s);
    free(D);
    free(hh);
    free(dl);
    return worst;
}

/* Device tensors of a case. */
struct qdev {
    struct clf_tensor *q, *k, *v, *ks, *vs, *pad;
    struct clf_tensor *own[12];
    int n_own;
};

static struct clf_tensor *keep(struct qdev *dv, struct clf_tensor *t)
{
    dv->own[dv->n_own++] = t;
    return t;
}

/* A [B, H, S, D] tensor of dtype: dense, or a view of a [B, S, H, W]
 * storage (W >= D: heads interleaved, rows strided). */
static struct clf_tensor *make4(struct qdev *dv, enum clf_dtype dt, int64_t B, int64_t H,
                                int64_t S, int64_t D, bool strided, int64_t W)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL;
    int64_t shape[4] = {B, H, S, D};
    if (W < 0) { /* every other element of a [B, H, S, 2D] storage */
        int64_t bs[4] = {B, H, S, 2 * D}, st[4] = {H * S * 2 * D, S * 2 * D, 2 * D, 2};
        struct clf_tensor *base = NULL;
        ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 4, bs, &base));
        keep(dv, base);
        ck_assert_ok(ctx, clf_tensor_view(base, 4, shape, st, 1, &t));
        return keep(dv, t);
    }
    if (!strided) {
        ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 4, shape, &t));
        return keep(dv, t);
    }
    int64_t bs[4] = {B, S, H, W}, st[4] = {S * H * W, W, H * W, 1};
    struct clf_tensor *base = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 4, bs, &base));
    keep(dv, base);
    ck_assert_ok(ctx, clf_tensor_view(base, 4, shape, st, 0, &t));
    return keep(dv, t);
}

static void upload(const struct qcase *c, const struct qdata *x, struct qdev *dv)
{
    struct clf_ctx *ctx = test_ctx();
    memset(dv, 0, sizeof *dv);
    int64_t B = c->b, H = c->h, sq = c->sq, sk = c->sk, d = c->d, dvv = c->dv;
    dv->q = make4(dv, CLF_F32, B, H, sq, d, c->strided, 2 * d);
    ck_assert_ok(ctx, clf_tensor_write(dv->q, x->q, (size_t)(B * H * sq * d) * sizeof(float)));
    enum clf_dtype dt = c->kv == KV_F32 ? CLF_F32 : CLF_I8;
    dv->k = make4(dv, dt, B, H, sk, d, c->strided, c->kstep2 ? -1 : d);
    dv->v = make4(dv, dt, B, H, sk, dvv, c->strided, c->vstep2 ? -1 : dvv + 1);
    size_t nk = (size_t)(B * H * sk * d), nv = (size_t)(B * H * sk * dvv);
    if (c->kv == KV_F32) {
        ck_assert_ok(ctx, clf_tensor_write(dv->k, x->k, nk * sizeof(float)));
        ck_assert_ok(ctx, clf_tensor_write(dv->v, x->v, nv * sizeof(float)));
    } else {
        ck_assert_ok(ctx, clf_tensor_write(dv->k, x->kc, nk));
        ck_assert_ok(ctx, clf_tensor_write(dv->v, x->vc, nv));
        bool col = c->kv == KV_COL;
        int64_t kss[3] = {B, H, col ? d : sk}, vss[3] = {B, H, col ? dvv : sk};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, kss, &dv->ks));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, vss, &dv->vs));
        keep(dv, dv->ks);
        keep(dv, dv->vs);
        ck_assert_ok(ctx, clf_tensor_write(dv->ks, x->ksc, (size_t)(B * H * kss[2]) * 4));
        ck_assert_ok(ctx, clf_tensor_write(dv->vs, x->vsc, (size_t)(B * H * vss[2]) * 4));
    }
    if (x->pad)
        dv->pad = keep(dv, test_upload_pad(B, sk, x->pad));
}

static void release(struct qdev *dv)
{
    for (int i = dv->n_own - 1; i >= 0; i--)
        clf_tensor_destroy(dv->own[i]);
}

/*
 * Queries whose quantisation is exact (c->scale from unit_c_scale, so that
 * c = 1): per query a step sigma = 2^-(3..6) and integers n[dd] in
 * [-127, 127], one of them +-127, q[dd] = n[dd] sigma (per channel: divided
 * by K's channel scale, which is replaced here by a power of two 2^-(0..3),
 * the dequantised keys recomputed). Then qc = n sigma exactly, s_i =
 * fl(127 sigma / 127) = sigma and the codes are n: the q_int8 scores
 * fl(fl(S sigma) ks) equal the f32-query path's fma chain of n sigma times
 * the codes (every partial sum an exact multiple of sigma below 2^24
 * sigma) times ks, bit for bit.
 */
static void make_exact_q(const struct qcase *c, struct qdata *x)
{
    int64_t BH = c->b * c->h, sq = c->sq, sk = c->sk, d = c->d;
    bool col = c->kv == KV_COL;
    if (col) {
        for (int64_t g = 0; g < BH * d; g++)
            x->ksc[g] = ldexpf(1.0f, -(int)(test_rand_u64() % 4));
        for (int64_t bh = 0; bh < BH; bh++)
            for (int64_t j = 0; j < sk; j++)
                for (int64_t dd = 0; dd < d; dd++) {
                    size_t at = (size_t)((bh * sk + j) * d + dd);
                    x->kd[at] = (double)x->kc[at] * x->ksc[bh * d + dd];
                }
    }
    for (int64_t bh = 0; bh < BH; bh++)
        for (int64_t i = 0; i < sq; i++) {
            float sigma = ldexpf(1.0f, -3 - (int)(test_rand_u64() % 4));
            int64_t top = (int64_t)(test_rand_u64() % (uint64_t)d);
            for (int64_t dd = 0; dd < d; dd++) {
                int n = (int)(test_rand_u64() % 255) - 127;
                if (dd == top)
                    n = test_rand_u64() % 2 ? 127 : -127;
                float v = (float)n * sigma;
                x->q[(size_t)((bh * sq + i) * d + dd)] = col ? v / x->ksc[bh * d + dd] : v;
            }
        }
}

/* A scale whose c = fl(scale log2 e) (as the op rounds it) is exactly 1. */
static float unit_c_scale(void)
{
    float s = (float)0.6931471805599453; /* ln 2 */
    for (int k = 0; k < 8; k++) {
        float c = (float)((double)s * 1.4426950408889634);
        if (c == 1.0f)
            return s;
        s = nextafterf(s, c < 1.0f ? 1.0f : 0.0f);
    }
    ck_abort_msg("no scale with c = 1 near ln 2");
    return 0;
}

static void make_data(const struct qcase *c, struct qdata *x)
{
    int64_t B = c->b, H = c->h, sk = c->sk, d = c->d, dv = c->dv;
    size_t nq = (size_t)(B * H * c->sq * d), nk = (size_t)(B * H * sk * d);
    size_t nv = (size_t)(B * H * sk * dv);
    memset(x, 0, sizeof *x);
    x->q = rand_floats(nq, c->gauss, -2, 2);
    x->k = rand_floats(nk, c->gauss, -2, 2);
    x->v = rand_floats(nv, c->gauss, -1, 1);
    if (c->extreme) /* one +-1 pattern per head in every q and k row: codes +-127 */
        for (int64_t bh = 0; bh < B * H; bh++)
            for (int64_t dd = 0; dd < d; dd++) {
                float sgn = test_rand_u64() % 2 ? 1.0f : -1.0f;
                for (int64_t i = 0; i < c->sq; i++)
                    x->q[(size_t)((bh * c->sq + i) * d + dd)] = sgn;
                for (int64_t j = 0; j < sk; j++)
                    x->k[(size_t)((bh * sk + j) * d + dd)] = sgn;
            }
    else if (c->qi8 && !c->exactq) /* query 0 of (0, 0) all zero: scale 0, scores 0 */
        memset(x->q, 0, (size_t)d * sizeof *x->q);
    x->kd = malloc(nk * sizeof *x->kd);
    x->vd = malloc(nv * sizeof *x->vd);
    if (c->kv == KV_F32) {
        for (size_t i = 0; i < nk; i++)
            x->kd[i] = x->k[i];
        for (size_t i = 0; i < nv; i++)
            x->vd[i] = x->v[i];
    } else {
        bool col = c->kv == KV_COL;
        x->kc = malloc(nk);
        x->vc = malloc(nv);
        x->ksc = malloc((size_t)(B * H * (col ? d : sk)) * sizeof(float));
        x->vsc = malloc((size_t)(B * H * (col ? dv : sk)) * sizeof(float));
        quantise(x->k, B * H, sk, d, col, x->kc, x->ksc, x->kd);
        quantise(x->v, B * H, sk, dv, col, x->vc, x->vsc, x->vd);
    }
    if (c->exactq)
        make_exact_q(c, x);
    if (c->pad) {
        /* random keys padded; in batch 0 key 0 too, and with causal query 0
         * is then fully masked; with B > 1 the last batch entry entirely */
        x->pad = calloc((size_t)(B * sk), sizeof *x->pad);
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < sk; j++)
                x->pad[b * sk + j] = (B > 1 && b == B - 1) || (b == 0 && j == 0) ||
                                     test_rand_u64() % 4 == 0;
    }
}

static void free_data(struct qdata *x)
{
    free(x->q), free(x->k), free(x->v), free(x->kc), free(x->vc), free(x->ksc), free(x->vsc);
    free(x->kd), free(x->vd), free(x->pad);
}

static struct clf_attention_quant_params params_of(const struct qcase *c, struct clf_tensor *pad)
{
    struct clf_attention_quant_params p = clf_attention_quant_params_default();
    p.scale = c->scale;
    p.causal = c->causal;
    p.key_padding = pad;
    p.kv_axis = c->kv == KV_COL ? CLF_QUANT_COLUMN : CLF_QUANT_ROW;
    p.p_format = c->pf;
    p.p_bits = c->p_bits ? c->p_bits : 4;
    p.q_int8 = c->qi8;
    return p;
}

/* Set by test_per_query: record with the context's device type set to GPU,
 * so that a CPU device runs the per-query kernel (attn_quant) too. */
static bool force_per_query;
/* Set by test_cpu_narrow: record with the device's float lanes set to
 * this (8: the CPU kernel's 8-lane configuration). */
static unsigned force_vec_float;
/* Set by test_qi8_dot: record with the device's int_dot_product cleared,
 * so that attn_quant sums q_int8's codes with plain int multiply-adds
 * instead of cl_khr_integer_dot_product's builtins. */
static bool force_no_dot;

/* Runs the op on x (uploaded into dv); returns the output (malloc'd). */
static float *run_op(const struct qcase *c, struct qdev *dv, char *desc, size_t dsize)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_quant_params p = params_of(c, dv->pad);
    struct clf_tensor *y = NULL;
    enum clf_device_type type = ctx->info.type;
    unsigned lanes = ctx->float_lanes;
    bool dot = ctx->info.int_dot_product;
    if (force_per_query) /* the kernel is chosen when recorded */
        ctx->info.type = CLF_DEVICE_GPU;
    if (force_vec_float)
        ctx->float_lanes = force_vec_float;
    if (force_no_dot)
        ctx->info.int_dot_product = false;
    enum clf_status st = clf_op_attention_quant(g, dv->q, dv->k, dv->ks, dv->v, dv->vs, &p, &y);
    ctx->info.type = type;
    ctx->float_lanes = lanes;
    ctx->info.int_dot_product = dot;
    ck_assert_status(ctx, st, CLF_OK);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    snprintf(desc, dsize, "%s", test_node_info(g, 0).desc);
    bool cpu = type == CLF_DEVICE_CPU && !force_per_query;
    ck_assert_msg(strstr(desc, cpu ? "(cpu tiles" : "(per query)"), "%s", desc);
    if (cpu && force_vec_float == 8)
        ck_assert_msg(strstr(desc, "(cpu tiles 8 queries"), "%s", desc);
    /* q_int8: the packed dot builtins exactly where attn_quant runs on a
     * device that has them and they are not forced off */
    bool dot4 = !cpu && dot && !force_no_dot;
    ck_assert_msg(!strstr(desc, " q i8") == !c->qi8, "%s", desc);
    ck_assert_msg(!strstr(desc, " q i8 dot4") == !(c->qi8 && dot4), "%s", desc);
    float *out = test_read_all(y);
    clf_graph_destroy(g);
    return out;
}

static const char *kv_name(enum kvq kv)
{
    return kv == KV_ROW ? "i8-row" : kv == KV_COL ? "i8-col" : "f32";
}

/* Runs case c (c.dv set) on the data x, checks it against the reference
 * and its bound; returns the output (malloc'd). */
static float *run_on(const struct qcase *cp, const struct qdata *x)
{
    struct qcase c = *cp;
    struct qdev dv;
    upload(&c, x, &dv);
    char desc[256];
    float *out = run_op(&c, &dv, desc, sizeof desc);
    double *ref = malloc((size_t)(c.b * c.h * c.sq * c.dv) * sizeof *ref);
    double r = reference(&c, x, false, out, ref);
    if (getenv("AQ_TEST_VERBOSE"))
        printf("%-100s ratio %.3g\n", desc, r);
    ck_assert_msg(r <= 1,
                  "%s: b%lld h%lld sq%lld sk%lld d%lld dv%lld kv %s pf %d bits %d causal %d "
                  "pad %d strided %d q_int8 %d: error %g x bound",
                  desc, (long long)c.b, (long long)c.h, (long long)c.sq, (long long)c.sk,
                  (long long)c.d, (long long)c.dv, kv_name(c.kv), (int)c.pf, c.p_bits, c.causal,
                  c.pad, c.strided, c.qi8, r);
    free(ref);
    release(&dv);
    return out;
}

static void run_case(struct qcase c)
{
    if (!c.dv)
        c.dv = c.d;
    struct qdata x;
    make_data(&c, &x);
    free(run_on(&c, &x));
    free_data(&x);
}

static struct qcase mk(int64_t b, int64_t h, int64_t sq, int64_t sk, int64_t d, enum kvq kv,
                       enum clf_p_format pf)
{
    struct qcase c;
    memset(&c, 0, sizeof c);
    c.b = b, c.h = h, c.sq = sq, c.sk = sk, c.d = d, c.kv = kv, c.pf = pf, c.p_bits = 4;
    return c;
}

/* f32 K and V, fp32 P: exact attention (within rounding). */
static void cases_f32_exact(void)
{
    int64_t sizes[][5] = {{1, 1, 1, 1, 1},    {1, 2, 17, 17, 8},   {2, 3, 33, 65, 64},
                          {1, 1, 5, 300, 256}, {1, 2, 70, 3, 32},   {2, 1, 40, 40, 100}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t *s = sizes[i];
        run_case(mk(s[0], s[1], s[2], s[3], s[4], KV_F32, CLF_P_F32));
    }
    struct qcase c = mk(1, 2, 9, 13, 16, KV_F32, CLF_P_F32);
    c.dv = 5; /* v's head_dim differs */
    run_case(c);
    c = mk(1, 2, 30, 30, 16, KV_F32, CLF_P_F32);
    c.scale = 2.5f; /* sharp weights */
    run_case(c);
}

START_TEST(test_f32_exact)
{
    cases_f32_exact();
}
END_TEST

/* i8 K and V, per token and per channel, every P format. */
static void cases_i8(void)
{
    enum kvq kvs[2] = {KV_ROW, KV_COL};
    for (int a = 0; a < 2; a++) {
        run_case(mk(1, 2, 31, 47, 64, kvs[a], CLF_P_F32));
        run_case(mk(2, 2, 20, 9, 24, kvs[a], CLF_P_F16));
        run_case(mk(1, 3, 16, 70, 128, kvs[a], CLF_P_LOG));
        struct qcase c = mk(1, 1, 8, 200, 256, kvs[a], CLF_P_F16);
        c.dv = 40;
        run_case(c);
    }
    run_case(mk(1, 2, 33, 33, 32, KV_F32, CLF_P_F16));
    run_case(mk(1, 2, 33, 33, 32, KV_F32, CLF_P_LOG));
    for (int bits = 2; bits <= 8; bits += 3) {
        struct qcase c = mk(1, 2, 12, 50, 16, KV_ROW, CLF_P_LOG);
        c.p_bits = bits;
        c.scale = 1.0f; /* a wide range of weights: many levels in use */
        run_case(c);
    }
}

START_TEST(test_i8)
{
    cases_i8();
}
END_TEST

/* Causal and key-padding masks, fully masked rows, seq_q != seq_k. */
static void cases_masks(void)
{
    enum kvq kvs[3] = {KV_F32, KV_ROW, KV_COL};
    enum clf_p_format pfs[3] = {CLF_P_F32, CLF_P_F16, CLF_P_LOG};
    for (int a = 0; a < 3; a++) {
        struct qcase c = mk(1, 2, 40, 40, 32, kvs[a], pfs[a]);
        c.causal = true;
        run_case(c);
        c = mk(3, 2, 21, 37, 16, kvs[a], pfs[(a + 1) % 3]);
        c.pad = 1; /* batch 2 fully padded: zeros */
        run_case(c);
        c = mk(2, 1, 19, 11, 8, kvs[a], pfs[(a + 2) % 3]);
        c.pad = 1;
        c.causal = true; /* query 0 of batch 0: key 0 padded, the rest causal: zeros */
        run_case(c);
        c = mk(1, 1, 10, 25, 8, kvs[a], pfs[a]);
        c.causal = true; /* sq < sk, top-left aligned */
        run_case(c);
    }
}

START_TEST(test_masks)
{
    cases_masks();
}
END_TEST

/* Strided q (a view of a wider storage) and strided K/V (codes or f32);
 * V's elements 2 apart (the CPU kernel reads such an f32 V in place, with
 * the stride, and converts i8 codes to dense f32 first). */
static void cases_strided(void)
{
    enum kvq kvs[3] = {KV_F32, KV_ROW, KV_COL};
    for (int a = 0; a < 3; a++) {
        struct qcase c = mk(2, 3, 18, 29, 32, kvs[a], a == 1 ? CLF_P_F16 : CLF_P_F32);
        c.strided = true;
        c.causal = a == 2;
        run_case(c);
        c = mk(1, 2, 37, 26, 16, kvs[a], (enum clf_p_format)((a + 1) % 3));
        c.dv = 12; /* not a multiple of the CPU kernel's DC = 8 */
        c.vstep2 = true;
        c.pad = 1;
        c.causal = a == 0;
        run_case(c);
    }
}

START_TEST(test_strided)
{
    cases_strided();
}
END_TEST

/*
 * q_int8 (the queries quantised, integer scores) against the reference
 * with the same quantisation (qi8_scores): per token and per channel,
 * every P format, head_dim 1, 3 and 13 (codes not a multiple of 4: the
 * packed words' tail), 64, 256; k's codes with element stride 2 (the
 * gathered words); strided q and k, causal and padded keys; a query that
 * is all zeros (scale 0: every score 0; in every case but the extreme
 * and exact ones); and the extreme sums |S_j| = 256 127^2.
 */
static void cases_qi8(void)
{
    enum kvq kvs[2] = {KV_ROW, KV_COL};
    for (int a = 0; a < 2; a++) {
        struct qcase c = mk(1, 2, 31, 47, 64, kvs[a], CLF_P_F32);
        c.qi8 = true;
        run_case(c);
        c = mk(2, 2, 20, 9, 13, kvs[a], CLF_P_F16);
        c.qi8 = true;
        c.kstep2 = true;
        run_case(c);
        c = mk(1, 1, 8, 70, 256, kvs[a], CLF_P_LOG);
        c.dv = 40;
        c.qi8 = true;
        run_case(c);
        c = mk(3, 2, 21, 37, 3, kvs[a], CLF_P_F32);
        c.qi8 = true;
        c.pad = 1;
        c.causal = true;
        run_case(c);
        c = mk(2, 3, 18, 29, 32, kvs[a], CLF_P_F16);
        c.qi8 = true;
        c.strided = true;
        run_case(c);
        c = mk(1, 2, 5, 33, 256, kvs[a], CLF_P_F32);
        c.qi8 = true;
        c.extreme = true;
        run_case(c);
        c = mk(1, 1, 4, 5, 1, kvs[a], CLF_P_F32);
        c.qi8 = true;
        run_case(c);
    }
}

START_TEST(test_qi8)
{
    cases_qi8();
}
END_TEST

/* Runs c on x twice, as c and with q_int8 flipped, or (flip_dot) with the
 * dot builtins on and then forced off; asserts the outputs equal bit for
 * bit (each also within its own bound, run_on). */
static void run_bitwise(struct qcase c, const struct qdata *x, bool flip_dot, const char *what)
{
    float *a = run_on(&c, x);
    if (flip_dot)
        force_no_dot = true;
    else
        c.qi8 = !c.qi8;
    float *b = run_on(&c, x);
    force_no_dot = false;
    size_t n = (size_t)(c.b * c.h * c.sq * c.dv);
    size_t at = 0;
    while (at < n && !memcmp(&a[at], &b[at], sizeof *a))
        at++;
    ck_assert_msg(at == n, "%s: kv %s d %lld: element %zu: %a vs %a", what, kv_name(c.kv),
                  (long long)c.d, at, at < n ? (double)a[at] : 0.0, at < n ? (double)b[at] : 0.0);
    free(a);
    free(b);
}

/*
 * Queries whose quantisation is exact (make_exact_q): q_int8 gives today's
 * int8-K/V path's result bit for bit (see make_exact_q), on both kernel
 * families; both also within the reference's bound of today's path.
 */
START_TEST(test_qi8_exact)
{
    enum kvq kvs[2] = {KV_ROW, KV_COL};
    int64_t sizes[][5] = {{1, 2, 31, 47, 64}, {2, 1, 17, 20, 13}, {1, 1, 9, 40, 256}};
    for (int fam = 0; fam < 2; fam++) {
        force_per_query = fam == 1;
        for (int a = 0; a < 2; a++)
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                int64_t *z = sizes[k];
                struct qcase c = mk(z[0], z[1], z[2], z[3], z[4], kvs[a], CLF_P_F32);
                c.dv = c.d;
                c.exactq = true;
                c.scale = unit_c_scale();
                c.causal = k == 1;
                struct qdata x;
                make_data(&c, &x);
                run_bitwise(c, &x, false, fam ? "per query, exact q" : "device family, exact q");
                free_data(&x);
            }
    }
    force_per_query = false;
}
END_TEST

/*
 * attn_quant with cl_khr_integer_dot_product's builtins against the same
 * kernel with them forced off (plain int multiply-adds): the same i32
 * sums, so the same bits. On a device without the extension both runs are
 * the plain kernel (run_op checks which ran); Intel's CPU runtime must
 * report the extension, so that the builtins do run there.
 */
START_TEST(test_qi8_dot)
{
    struct clf_ctx *ctx = test_ctx();
    if (!strcmp(ctx->info.platform_name, "Intel(R) OpenCL"))
        ck_assert_msg(ctx->info.int_dot_product,
                      "Intel's runtime reports no cl_khr_integer_dot_product");
    enum kvq kvs[2] = {KV_ROW, KV_COL};
    int64_t sizes[][5] = {{1, 2, 31, 47, 64}, {2, 2, 20, 9, 13}, {1, 1, 8, 70, 256}};
    force_per_query = true;
    for (int a = 0; a < 2; a++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            int64_t *z = sizes[k];
            struct qcase c = mk(z[0], z[1], z[2], z[3], z[4], kvs[a], CLF_P_F32);
            c.dv = c.d;
            c.qi8 = true;
            c.kstep2 = k == 1;
            c.pad = k == 2;
            struct qdata x;
            make_data(&c, &x);
            run_bitwise(c, &x, true, "dot builtins on / off");
            free_data(&x);
        }
    force_per_query = false;
}
END_TEST

/* Every case above through the per-query kernel (attn_quant, the GPU
 * family): a no-op repeat on GPUs, the other family on CPU devices. */
START_TEST(test_per_query)
{
    force_per_query = true;
    cases_f32_exact();
    cases_i8();
    cases_masks();
    cases_strided();
    cases_qi8();
    force_per_query = false;
}
END_TEST

/* The CPU kernel's 8-lane configuration (devices with 8-float vectors),
 * on CPU devices. */
START_TEST(test_cpu_narrow)
{
    if (test_ctx()->info.type != CLF_DEVICE_CPU)
        return;
    force_vec_float = 8;
    cases_i8();
    cases_masks();
    cases_strided();
    cases_qi8();
    force_vec_float = 0;
}
END_TEST

/* ||a - b|| / ||b|| */
static double rel_err(const float *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        num += e * e;
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

/*
 * Error against exact f32 attention on N(0, 1) q, k, v [1, 4, 256, 64]
 * (printed). Expected sizes:
 *  - int8 K and V per token: a value's rounding error is uniform in
 *    +-s/2, s = max|x| / 127 with max|x| ~ 2.4-3 over 64 N(0, 1) values,
 *    so its rms is s/sqrt(12) ~ 6e-3 relative to the values' unit rms.
 *    V's error goes into the output averaged with the weights; K's moves
 *    each score by scale q.dk (rms ~ 6e-3 too) and the weights with it.
 *    Measured ~8.5e-3; asserted <= 1.5e-2 (a margin of ~1.8x for the
 *    spread between seeds: 4 x 256 rows average it well).
 *  - fp16 P on top: each weight's relative rounding error is <= 2^-11 and
 *    moves o by at most 2^-11 sum_j h_j |v_j - o| / L ~ 2^-11 (rms |v - o|
 *    ~ 1) absolutely, against |o| ~ 0.1-0.3 (an average of many unit
 *    values): <= ~5e-3 relative in the worst case, far less in practice
 *    as the errors are independent across keys. Asserted: it changes the
 *    int8 error by at most 2e-3.
 *  - per channel and LOG 4 bits: printed only (no claim).
 */
START_TEST(test_accuracy)
{
    struct qcase base = mk(1, 4, 256, 256, 64, KV_ROW, CLF_P_F32);
    base.gauss = true;
    base.dv = 64;
    struct qdata x;
    make_data(&base, &x); /* q, k, v and the per-token codes */
    size_t n = (size_t)(base.b * base.h * base.sq * base.dv);
    double *exact = malloc(n * sizeof *exact), *ref = malloc(n * sizeof *ref);
    reference(&base, &x, true, NULL, exact);
    struct {
        enum kvq kv;
        enum clf_p_format pf;
        const char *name;
    } runs[] = {{KV_F32, CLF_P_F32, "f32 K/V, f32 P"},
                {KV_ROW, CLF_P_F32, "i8 K/V per token, f32 P"},
                {KV_ROW, CLF_P_F16, "i8 K/V per token, f16 P"},
                {KV_ROW, CLF_P_LOG, "i8 K/V per token, log 4-bit P"},
                {KV_F32, CLF_P_F16, "f32 K/V, f16 P"},
                {KV_COL, CLF_P_F32, "i8 K/V per channel, f32 P"}}; /* last: requantises */
    double err[6];
    for (int r = 0; r < 6; r++) {
        struct qcase c = base;
        c.kv = runs[r].kv;
        c.pf = runs[r].pf;
        if (c.kv == KV_COL) { /* requantise per channel */
            float *ks = x.ksc, *vs = x.vsc;
            x.ksc = malloc((size_t)(c.b * c.h * c.d) * sizeof(float));
            x.vsc = malloc((size_t)(c.b * c.h * c.d) * sizeof(float));
            quantise(x.k, c.b * c.h, c.sk, c.d, true, x.kc, x.ksc, x.kd);
            quantise(x.v, c.b * c.h, c.sk, c.d, true, x.vc, x.vsc, x.vd);
            free(ks);
            free(vs);
        }
        struct qdata xf = x;
        if (c.kv == KV_F32) { /* the op sees the f32 values */
            size_t nk = (size_t)(c.b * c.h * c.sk * c.d);
            xf.kd = malloc(nk * sizeof *xf.kd);
            xf.vd = malloc(nk * sizeof *xf.vd);
            for (size_t i = 0; i < nk; i++)
                xf.kd[i] = x.k[i], xf.vd[i] = x.v[i];
        }
        struct qdev dv;
        upload(&c, &xf, &dv);
        char desc[256];
        float *out = run_op(&c, &dv, desc, sizeof desc);
        double ratio = reference(&c, &xf, false, out, ref); /* the same approximation */
        ck_assert_msg(ratio <= 1, "%s: error %g x bound", desc, ratio);
        err[r] = rel_err(out, exact, n);
        printf("attention_quant N(0,1) [1, 4, 256, 64] %-32s rel. error vs exact %.3e\n",
               runs[r].name, err[r]);
        free(out);
        release(&dv);
        if (c.kv == KV_F32)
            free(xf.kd), free(xf.vd);
    }
    ck_assert_msg(err[0] <= 1e-5, "f32: %g", err[0]);
    ck_assert_msg(err[1] <= 1.5e-2, "int8 per token: %g", err[1]);
    ck_assert_msg(fabs(err[2] - err[1]) <= 2e-3, "fp16 P: %g vs %g", err[2], err[1]);
    ck_assert_msg(err[4] <= 2e-3, "fp16 P alone: %g", err[4]);
    free(exact);
    free(ref);
    free_data(&x);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *q, *kf, *vf, *k8, *v8, *ksr, *vsr, *ksc, *vsc, *big, *big8, *bad, *pad;
    int64_t s4[4] = {1, 2, 5, 8}, s3r[3] = {1, 2, 5}, s3c[3] = {1, 2, 8}, sb[4] = {1, 2, 5, 300};
    int64_t s3bad[3] = {1, 2, 6}, sp[2] = {1, 5};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &kf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &vf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 4, s4, &k8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 4, s4, &v8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3r, &ksr));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3r, &vsr));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3c, &ksc));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3c, &vsc));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sb, &big));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 4, sb, &big8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3bad, &bad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sp, &pad)); /* f32: wrong dtype */
    struct clf_attention_quant_params p = clf_attention_quant_params_default();
    ck_assert(p.scale == 0 && !p.causal && !p.key_padding && p.kv_axis == CLF_QUANT_ROW &&
              p.p_format == CLF_P_F32 && p.p_bits == 4 && !p.q_int8);
    struct clf_tensor *y = (struct clf_tensor *)1;
    /* mixed dtypes */
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, vf, NULL, &p, &y), CLF_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, kf, NULL, v8, vsr, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_attention_quant(g, k8, k8, ksr, v8, vsr, &p, &y), CLF_E_SHAPE);
    /* scales: missing, given for f32, wrong shapes, wrong axis */
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, NULL, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, kf, ksr, vf, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksc, v8, vsr, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, bad, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, k8, &p, &y), CLF_E_SHAPE);
    p.kv_axis = CLF_QUANT_COLUMN;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y), CLF_E_SHAPE);
    p.kv_axis = CLF_QUANT_TENSOR;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    p.kv_axis = CLF_QUANT_ROW;
    /* p_bits, p_format, scale */
    p.p_format = CLF_P_LOG;
    p.p_bits = 1;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    p.p_bits = 9;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    p.p_bits = 4;
    p.p_format = (enum clf_p_format)7;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    p.p_format = CLF_P_F32;
    p.scale = INFINITY;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    p.scale = 0;
    /* q_int8 needs i8 K and V */
    p.q_int8 = true;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, kf, NULL, vf, NULL, &p, &y),
                     CLF_E_INVALID_ARG);
    p.q_int8 = false;
    /* head_dim > 256, mismatched shapes, a bad mask, NULLs */
    ck_assert_status(ctx, clf_op_attention_quant(g, big, big, NULL, big, NULL, &p, &y),
                     CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, big8, ksr, big8, vsr, &p, &y),
                     CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_attention_quant(g, q, kf, NULL, big, NULL, &p, &y),
                     CLF_E_SHAPE);
    p.key_padding = pad;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y), CLF_E_SHAPE);
    p.key_padding = NULL;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, NULL, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention_quant(NULL, q, k8, ksr, v8, vsr, &p, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* valid calls record: per token, per channel (3-D and broadcast 1-D
     * scales), f32, NULL params */
    ck_assert_ok(ctx, clf_op_attention_quant(g, q, k8, ksr, v8, vsr, &p, &y));
    p.kv_axis = CLF_QUANT_COLUMN;
    ck_assert_ok(ctx, clf_op_attention_quant(g, q, k8, ksc, v8, vsc, &p, &y));
    int64_t s1[1] = {8};
    struct clf_tensor *c1 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &c1));
    ck_assert_ok(ctx, clf_op_attention_quant(g, q, k8, c1, v8, c1, &p, &y));
    ck_assert_ok(ctx, clf_op_attention_quant(g, q, kf, NULL, vf, NULL, NULL, &y));
    p.q_int8 = true; /* per channel, i8 queries */
    ck_assert_ok(ctx, clf_op_attention_quant(g, q, k8, ksc, v8, vsc, &p, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), 5);
    char desc[256];
    snprintf(desc, sizeof desc, "%s", test_node_info(g, 1).desc);
    ck_assert_msg(strstr(desc, "i8 per channel") && !strstr(desc, "q i8"), "%s", desc);
    snprintf(desc, sizeof desc, "%s", test_node_info(g, 4).desc);
    ck_assert_msg(strstr(desc, "i8 per channel q i8"), "%s", desc);
    clf_graph_destroy(g);
    struct clf_tensor *all[] = {q, kf, vf, k8, v8, ksr, vsr, ksc, vsc, big, big8, bad, pad, c1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

/* Every test starts unforced (the suite runs without fork: a failed test
 * must not leave its forcing to the next). */
static void reset_forces(void)
{
    force_per_query = false;
    force_vec_float = 0;
    force_no_dot = false;
}

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("attention-quant");
    TCase *tc = tcase_create("attention-quant");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, reset_forces, NULL);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_f32_exact);
    tcase_add_test(tc, test_i8);
    tcase_add_test(tc, test_masks);
    tcase_add_test(tc, test_strided);
    tcase_add_test(tc, test_qi8);
    tcase_add_test(tc, test_qi8_exact);
    tcase_add_test(tc, test_qi8_dot);
    tcase_add_test(tc, test_per_query);
    tcase_add_test(tc, test_cpu_narrow);
    tcase_add_test(tc, test_accuracy);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
