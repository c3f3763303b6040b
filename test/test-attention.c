/*
 * Exact attention (clf_op_attention) against a double-precision reference:
 * both implementations forced (the fused kernel's CPU and local-memory GPU
 * variants) and AUTO; sizes from 1 to 1030 including odd ones, head_dim 1
 * to 256, seq_q != seq_k, causal and key-padding masks, fully masked rows
 * (exact zeros), strided q/k/v views of a fused QKV projection and a
 * strided out view, batch > 1 with per-batch padding, v's head_dim dv
 * different from q's and k's d (the bound below is unchanged: d enters the
 * scores, dv only the number of outputs), the memory the fused
 * kernel uses, the AUTO choice remembered per device, bad arguments, and
 * the build options table of the attention programs against the defaults
 * their .cl files give, the sub-group kernel (attn_fused_subgroup: forced
 * over the same cases where the device has subgroups, required on Intel's
 * runtime, CLF_E_UNSUPPORTED elsewhere; and as AUTO's third candidate on
 * the GROUP family), and a relative position bias (MPNet's: bias[h,
 * j - i + sq - 1] added to the scaled scores) given as a view into a wider
 * table, on the GEMM path's two softmax families.
 * Every output is poisoned with NaN before the run; NaN never passes.
 * ATTN_TEST_VERBOSE=1 prints each case's error / bound ratio.
 *
 * Error bound, per output element o[b,h,i,dd] (u = 2^-24). The reference
 * computes, in double from the same float inputs and the same float scale,
 *   s_j = scale q.k_j, M = max over attended j of s_j,
 *   w_j = exp(s_j - M) / sum_j' exp(s_j' - M), o = sum_j w_j v_j.
 * The kernels compute in base 2 (t = c q.k with c = fl(scale log2 e),
 * weights 2^(t_j - mu)), which changes nothing but the roundings below.
 *  1. Scores: c, the product c q (or the GEMM's alpha) and a d-term dot
 *     product in any order: |t^_j - t_j| <= gamma_{d+2} c sum|q k_j|, i.e.
 *     a factor exp(D_j) on the weight with D_j = gamma_{d+2} scale sum|q k_j|
 *     (Higham, 3.1). The maximum subtracted is common to all terms and
 *     cancels in the ratio.
 *  2. Exponentials: fl(t_j - mu) has an absolute error u |t_j - mu| with
 *     mu <= M log2 e the running maximum when j is processed (mu >= t_j),
 *     and the rescale factors 2^(m_old - mu) applied to earlier terms add
 *     arguments that telescope to at most (M - s_j) log2 e in total: a
 *     factor exp(2u (M - s_j)) in natural units. exp2 is within 3 ulp
 *     (OpenCL 1.2 spec, section 7.4; 3 ulp <= 6u relative for normal results), once
 *     for the weight and once per later rescale, at most T = ceil(sk/4)
 *     rescales (one per key tile, the CPU and group kernels' tiles hold >= 4
 *     keys; attn_fused_subgroup's tiles hold S keys, S the sub-group size the
 *     device picks, not known here and not bounded below by the spec, so its
 *     cases take T = sk, one tile per key):
 *     a factor (1 + 6u)^(T+1). Together, weight j is perturbed by a factor
 *     (1 + rho_j) with
 *       |rho_j| <= r_j = exp(D_j + 2u (M - s_j)) (1 + 6u)^(T+1) - 1.
 *     The same computed weight enters the numerator and the normalising sum
 *     (and the rescale factors hit both alike), so the result is a convex
 *     combination sum_j w~_j v_j with w~_j = w_j (1 + rho_j) / (1 + rho_bar),
 *     rho_bar = sum_j w_j rho_j, |rho_bar| <= R = sum_j w_j r_j:
 *       |sum_j (w~_j - w_j) v_j| <= E = sum_j w_j (r_j + R) |v_j| / (1 - R).
 *  3. Accumulation: the numerator and the sum each go through at most
 *     N = sk + T + 2 roundings per term (fma chain, rescale products, the
 *     GEMM path's normalisation), the final division one more. In
 *     attn_fused_subgroup the numerator is an fma chain over the keys in
 *     order with one rescale per tile (<= sk + T), and the sum adds each
 *     tile's weights by sub_group_reduce_add in whatever order the device
 *     takes (<= keys in the tile - 1 roundings per term), then
 *     l = fma(l, alpha, tile sum), one rounding per tile (<= sk + T):
 *       gamma_N (A + E) for each of the two, u (A + E) for the division,
 *     with A = sum_j w_j |v_j[dd]| (computed by the reference).
 * With a position bias b (natural units), t_j = fl(fl(c q.k_j) + fl(fl(log2 e)
 * b_j)): the products carry gamma_{d+2} and gamma_2, the sum one more u on
 * both, so D_j = gamma_{d+3} scale sum|q k_j| + gamma_3 |b_j|, and s_j, M
 * include b_j.
 * So |o^ - o| <= E + (2 gamma_N + u)(A + E) + 1e-30 (the last for
 * underflowed weights, which are < 2^-126 of the largest). A query whose
 * every key is masked must give exactly 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/graph/graph.h"        /* internal: the node's state (a required sub-group size) */
#include "../lib/ops/attention.h"       /* internal: forcing the fused kernel variant */
#include "../lib/ops/attention_exact.h" /* internal: the exact node's state */
#include "../lib/runtime/program.h" /* internal: the programs' source */
#include "../lib/runtime/tune.h"    /* internal: the tuning records */
#include "common.h"

/* How q, k, v and out are laid out in device memory. */
enum layout {
    LAYOUT_DENSE = 0,   /* separate dense [B, H, S, D] tensors, out created by the op */
    LAYOUT_QKV = 1,     /* q, k, v views of one [B, S, H*(2*D + DV)] projection (sq == sk),
                           out a view of a [B, S, H*DV] tensor */
    LAYOUT_COLUMNS = 2, /* v and out stored as [B, H, DV, S] (head_dim strided), q and k
                           dense */
    LAYOUT_IN_PLACE = 3 /* dense; out is q itself (DV == D) */
};

struct acase {
    int64_t b, h, sq, sk, d;
    int64_t dv;     /* v's and out's head_dim (0: d) */
    bool causal;
    int pad;        /* 0 none; 1 random keys per batch (some batch fully padded when b>1);
                       2 key 0 padded (with causal: query 0 fully masked); 3 the first
                       3/4 of the keys padded (whole key tiles masked before the first
                       attended key: the all-masked start of the online softmax) */
    float scale;    /* 0: default */
    enum clf_attention_impl impl;
    enum clf_attn_fused_variant variant;
    enum layout layout;
    int row_step;   /* check every row_step-th query row (1: all) */
    bool pbias;     /* a position bias [H, sq + sk - 1], a view into a wider table */
    int sg;         /* SUBGROUP: the sub-group size required of the kernel (0: the
                       compiler's choice), checked to be the one it ran with; -n: n
                       required, not checked (the device may run fewer lanes) */
};

/* Logical host data, dense: q [B, H, sq, D], k [B, H, sk, D], v [B, H, sk, DV]. */
struct data {
    float *q, *k, *v;
    int32_t *pad; /* [B, sk] or NULL */
    float *pb;    /* [H, PBW] or NULL: the bias of (h, r) at pb[h * PBW + PB_OFF + r] */
};

/* The position bias table's row width and the view's offset in it: the
 * view [H, sq + sk - 1] starts PB_OFF into each row of PBW (wider). */
#define PB_OFF 3
static int64_t pb_width(const struct acase *c)
{
    return c->sq + c->sk - 1 + PB_OFF + 5;
}

/* v's and out's head_dim */
static int64_t vdim(const struct acase *c)
{
    return c->dv ? c->dv : c->d;
}

/* Element (b, h, i, dd) of a dense [B, H, s, D] array. */
static size_t idx4(const struct acase *c, int64_t s, int64_t D, int64_t b, int64_t h, int64_t i,
                   int64_t dd)
{
    return (size_t)(((b * c->h + h) * s + i) * D + dd);
}

static bool masked(const struct acase *c, const struct data *x, int64_t b, int64_t i, int64_t j)
{
    if (c->causal && j > i)
        return true;
    return x->pad && x->pad[b * c->sk + j] != 0;
}

/* Largest error / bound ratio over the checked rows (inf for NaN, or for a
 * fully masked row that is not exactly 0). */
static double check(const struct acase *c, const struct data *x, const float *out)
{
    float scale = c->scale != 0 ? c->scale : (float)(1.0 / sqrt((double)c->d));
    /* tiles of >= 4 keys, but the sub-group kernel's (of S keys, any S),
     * which AUTO on the GROUP family may choose too */
    bool sub = c->impl != CLF_ATTN_GEMM &&
               (c->variant == CLF_ATTN_FUSED_SUBGROUP ||
                (c->variant == CLF_ATTN_FUSED_GROUP && c->impl == CLF_ATTN_AUTO));
    int64_t T = sub ? c->sk : (c->sk + 3) / 4;
    double u = TEST_U32;
    double g_d = test_gamma((double)c->d + (x->pb ? 3 : 2));
    double g_n = test_gamma((double)(c->sk + T + 2)), g_3 = test_gamma(3);
    double exp_f = pow(1 + 6 * u, (double)(T + 1));
    int64_t dv = vdim(c);
    double *s = malloc((size_t)c->sk * sizeof *s), *w = malloc((size_t)c->sk * sizeof *w);
    double *r = malloc((size_t)c->sk * sizeof *r);
    double worst = 0;
    int step = c->row_step > 0 ? c->row_step : 1;
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->sq; i += (i + step < c->sq || i == c->sq - 1) ? step : 1) {
                const float *qi = x->q + idx4(c, c->sq, c->d, b, h, i, 0);
                const float *o = out + idx4(c, c->sq, dv, b, h, i, 0);
                double m = -INFINITY;
                for (int64_t j = 0; j < c->sk; j++) {
                    const float *kj = x->k + idx4(c, c->sk, c->d, b, h, j, 0);
                    double dot = 0, mag = 0;
                    for (int64_t dd = 0; dd < c->d; dd++) {
                        dot += (double)qi[dd] * kj[dd];
                        mag += fabs((double)qi[dd] * kj[dd]);
                    }
                    s[j] = (double)scale * dot;
                    r[j] = g_d * fabs((double)scale) * mag; /* D_j for now */
                    if (x->pb) {
                        double bj = x->pb[h * pb_width(c) + PB_OFF + j - i + c->sq - 1];
                        s[j] += bj;
                        r[j] += g_3 * fabs(bj);
                    }
                    if (!masked(c, x, b, i, j) && s[j] > m)
                        m = s[j];
                }
                if (m == -INFINITY) { /* every key masked: exact zeros */
                    for (int64_t dd = 0; dd < dv; dd++)
                        if (o[dd] != 0.0f)
                            return INFINITY;
                    continue;
                }
                double sum = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    w[j] = masked(c, x, b, i, j) ? 0 : exp(s[j] - m);
                    sum += w[j];
                }
                double R = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    w[j] /= sum;
                    r[j] = exp(r[j] + 2 * u * (m - s[j])) * exp_f - 1;
                    R += w[j] * r[j];
                }
                for (int64_t dd = 0; dd < dv; dd++) {
                    double ref = 0, a = 0, e = 0;
                    for (int64_t j = 0; j < c->sk; j++) {
                        if (w[j] == 0)
                            continue;
                        double vj = x->v[idx4(c, c->sk, dv, b, h, j, dd)];
                        ref += w[j] * vj;
                        a += w[j] * fabs(vj);
                        e += w[j] * (r[j] + R) * fabs(vj);
                    }
                    e /= 1 - R;
                    double bound = e + (2 * g_n + u) * (a + e) + 1e-30;
                    double ratio = fabs((double)o[dd] - ref) / bound;
                    if (!(ratio <= worst))
                        worst = isnan(ratio) ? INFINITY : ratio;
                }
            }
    free(s);
    free(w);
    free(r);
    return worst;
}

/* The device tensors of a case: q, k, v, out (NULL: the op creates it)
 * and the padding mask, with the storages (base) and views to destroy. */
struct dev {
    struct clf_tensor *q, *k, *v, *out, *pad;
    struct clf_tensor *pbt, *pb; /* the bias table [H, PBW] and its view */
    struct clf_tensor *base[4];
    struct clf_tensor *views[4];
};

static void upload(const struct acase *c, const struct data *x, struct dev *dv)
{
    struct clf_ctx *ctx = test_ctx();
    memset(dv, 0, sizeof *dv);
    int64_t B = c->b, H = c->h, D = c->d, DV = vdim(c);
    int64_t qs[4] = {B, H, c->sq, D}, ks[4] = {B, H, c->sk, D}, vs4[4] = {B, H, c->sk, DV};
    int64_t os4[4] = {B, H, c->sq, DV};
    switch (c->layout) {
    case LAYOUT_QKV: {
        ck_assert_int_eq(c->sq, c->sk);
        int64_t S = c->sq, W = H * (2 * D + DV);
        int64_t xs[3] = {B, S, W}, ys[3] = {B, S, H * DV};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &dv->base[0]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, ys, &dv->base[1]));
        int64_t st[4] = {S * W, D, W, 1}, vt[4] = {S * W, DV, W, 1};
        int64_t ot[4] = {S * H * DV, DV, H * DV, 1};
        dv->q = dv->views[0] = test_view4(dv->base[0], qs, st, 0);
        dv->k = dv->views[1] = test_view4(dv->base[0], ks, st, H * D);
        dv->v = dv->views[2] = test_view4(dv->base[0], vs4, vt, 2 * H * D);
        dv->out = dv->views[3] = test_view4(dv->base[1], os4, ot, 0);
        test_poison(dv->base[0]);
        break;
    }
    case LAYOUT_COLUMNS: {
        /* v and out hold [B, H, DV, S] storage: head_dim has stride S */
        int64_t vs[4] = {B, H, DV, c->sk}, os[4] = {B, H, DV, c->sq};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &dv->base[0]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, ks, &dv->base[1]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, vs, &dv->base[2]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, os, &dv->base[3]));
        int64_t vt[4] = {H * DV * c->sk, DV * c->sk, 1, c->sk};
        int64_t ot[4] = {H * DV * c->sq, DV * c->sq, 1, c->sq};
        dv->q = dv->base[0];
        dv->k = dv->base[1];
        dv->v = dv->views[0] = test_view4(dv->base[2], vs4, vt, 0);
        dv->out = dv->views[1] = test_view4(dv->base[3], os4, ot, 0);
        break;
    }
    default:
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &dv->base[0]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, ks, &dv->base[1]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, vs4, &dv->base[2]));
        dv->q = dv->base[0];
        dv->k = dv->base[1];
        dv->v = dv->base[2];
        ck_assert(c->layout != LAYOUT_IN_PLACE || DV == D);
        dv->out = c->layout == LAYOUT_IN_PLACE ? dv->q : NULL;
        break;
    }
    test_write_all(dv->q, x->q);
    test_write_all(dv->k, x->k);
    test_write_all(dv->v, x->v);
    if (x->pad)
        dv->pad = test_upload_pad(B, c->sk, x->pad);
    if (x->pb) {
        const int64_t ts[2] = {H, pb_width(c)}, vs[2] = {H, c->sq + c->sk - 1};
        const int64_t vst[2] = {pb_width(c), 1};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, ts, &dv->pbt));
        test_write_all(dv->pbt, x->pb);
        ck_assert_ok(ctx, clf_tensor_view(dv->pbt, 2, vs, vst, PB_OFF, &dv->pb));
    }
}

static void release(struct dev *dv)
{
    for (int i = 0; i < 4; i++)
        clf_tensor_destroy(dv->views[i]);
    for (int i = 0; i < 4; i++)
        clf_tensor_destroy(dv->base[i]);
    clf_tensor_destroy(dv->pad);
    clf_tensor_destroy(dv->pb);
    clf_tensor_destroy(dv->pbt);
}

static const char *layout_name(enum layout l)
{
    return l == LAYOUT_QKV ? "qkv-views" : l == LAYOUT_COLUMNS ? "strided-v/out"
                                         : l == LAYOUT_IN_PLACE ? "in-place" : "dense";
}

/* Runs one case on fresh random data and checks it (twice: a second run of
 * the same graph reuses the node's scratch and choice). */
static void run_case(struct acase c)
{
    struct clf_ctx *ctx = test_ctx();
    struct data x = {0};
    size_t nq = (size_t)(c.b * c.h * c.sq * c.d), nk = (size_t)(c.b * c.h * c.sk * c.d);
    size_t nv = (size_t)(c.b * c.h * c.sk * vdim(&c));
    x.q = test_random_floats(nq, -2, 2);
    x.k = test_random_floats(nk, -2, 2);
    x.v = test_random_floats(nv, -1, 1);
    if (c.pad) {
        x.pad = calloc((size_t)(c.b * c.sk), sizeof *x.pad);
        for (int64_t b = 0; b < c.b; b++)
            for (int64_t j = 0; j < c.sk; j++) {
                if (c.pad == 2)
                    x.pad[b * c.sk + j] = j == 0 ? 7 : 0;
                else if (c.pad == 3)
                    x.pad[b * c.sk + j] = j < c.sk * 3 / 4 ? 1 : 0;
                else if (c.b > 1 && b == c.b - 1)
                    x.pad[b * c.sk + j] = 1; /* the whole batch entry padded */
                else
                    x.pad[b * c.sk + j] = (test_rand_u64() % 4 == 0) ? -1 : 0;
            }
    }
    if (c.pbias) /* up to a few units, as MPNet's trained biases */
        x.pb = test_random_floats((size_t)(c.h * pb_width(&c)), -3, 3);
    struct dev dv;
    upload(&c, &x, &dv);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    p.scale = c.scale;
    p.causal = c.causal;
    p.key_padding = dv.pad;
    p.impl = c.impl;
    p.out = dv.out;
    p.position_bias = dv.pb;
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_attention_record(g, dv.q, dv.k, dv.v, &p, c.variant, &y));
    if (c.sg) {
        ck_assert_int_eq(c.variant, CLF_ATTN_FUSED_SUBGROUP);
        ((struct attn_node *)g->nodes[0].state)->sg_required = abs(c.sg);
    }
    if (dv.out)
        ck_assert_ptr_eq(y, dv.out);
    char desc[256];
    for (int run = 0; run < 2; run++) {
        if (c.layout == LAYOUT_IN_PLACE)
            test_write_all(dv.q, x.q); /* the previous run overwrote it */
        else if (c.layout == LAYOUT_QKV)
            test_poison(dv.base[1]);
        else if (c.layout == LAYOUT_COLUMNS)
            test_poison(dv.base[3]);
        else
            test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
        double r = check(&c, &x, out);
        ck_assert_msg(r <= 1,
                      "%s: b%lld h%lld sq%lld sk%lld d%lld dv%lld causal %d pad %d scale %g "
                      "%s: error %g x bound (run %d)",
                      desc, (long long)c.b, (long long)c.h, (long long)c.sq, (long long)c.sk,
                      (long long)c.d, (long long)vdim(&c), c.causal, c.pad, (double)c.scale, layout_name(c.layout), r,
                      run);
        if (getenv("ATTN_TEST_VERBOSE"))
            printf("%-90s %s ratio %.3g\n", desc, layout_name(c.layout), r);
        free(out);
    }
    /* a position bias has the GEMM path alone, AUTO too */
    const char *want = c.impl == CLF_ATTN_GEMM || c.pbias ? " gemm ("
                       : c.impl == CLF_ATTN_FUSED        ? " fused "
                                                         : " auto: ";
    ck_assert_msg(strstr(desc, want), "%s (wanted '%s')", desc, want);
    if (c.impl == CLF_ATTN_FUSED && c.variant == CLF_ATTN_FUSED_GROUP)
        ck_assert_msg(strstr(desc, "fused group"), "%s", desc);
    if (c.impl == CLF_ATTN_FUSED && c.variant == CLF_ATTN_FUSED_SUBGROUP)
        ck_assert_msg(strstr(desc, "fused subgroup"), "%s", desc);
    if (c.sg > 0) {
        char of[48];
        snprintf(of, sizeof of, "sub-group of %d per query", c.sg);
        ck_assert_msg(strstr(desc, of), "%s (wanted '%s')", desc, of);
    }
    ck_assert_msg(!strstr(desc, "position-biased") == !c.pbias, "%s", desc);
    if (c.impl == CLF_ATTN_GEMM && c.variant == CLF_ATTN_FUSED_GROUP)
        ck_assert_msg(strstr(desc, "group softmax"), "%s", desc);
    clf_graph_destroy(g);
    release(&dv);
    free(x.q);
    free(x.k);
    free(x.v);
    free(x.pad);
    free(x.pb);
}

static struct acase mk(int64_t b, int64_t h, int64_t sq, int64_t sk, int64_t d,
                       enum clf_attention_impl impl)
{
    struct acase c;
    memset(&c, 0, sizeof c);
    c.b = b, c.h = h, c.sq = sq, c.sk = sk, c.d = d;
    c.impl = impl;
    c.variant = CLF_ATTN_FUSED_BY_DEVICE;
    c.layout = LAYOUT_DENSE;
    c.row_step = 1;
    return c;
}

/* Mask mode 0..MASK_MODES-1 of test_masks on c (3 x 2 heads, 37 queries,
 * 45 keys): key padding, causal, both; fully masked rows (pad 2: query 0
 * sees nothing); seq_q != seq_k; a sharp custom scale; the first 3/4 of
 * 200 keys padded (pad 3: whole key tiles masked before the first
 * attended one). */
#define MASK_MODES 7
static void mask_mode(struct acase *c, int mode)
{
    switch (mode) {
    case 0: c->pad = 1; break;
    case 1: c->pad = 1, c->causal = true; break;
    case 2: c->pad = 2, c->causal = true; break;
    case 3: c->pad = 1, c->sq = 60, c->sk = 20, c->causal = true; break;
    case 4: c->pad = 1, c->scale = 2.5f, c->d = 32; break;
    case 5: c->pad = 3, c->sk = 200; break;
    case 6: c->pad = 3, c->sq = c->sk = 200, c->causal = true, c->b = 1; break;
    }
}

/* (sq, sk, d) for the size sweeps: odd sizes, seq_q != seq_k both ways,
 * head_dim 1 to 256 (every DMAX bucket). */
static const int64_t sizes[][3] = {
    {1, 1, 1},    {1, 7, 32},    {7, 7, 64},    {13, 100, 80},  {100, 13, 128},
    {33, 70, 256}, {50, 50, 1},  {257, 129, 64}, {64, 64, 32},  {129, 200, 48},
};

static void sweep(enum clf_attention_impl impl, enum clf_attn_fused_variant variant)
{
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int causal = 0; causal < 2; causal++) {
            struct acase c = mk(1, 2, sizes[i][0], sizes[i][1], sizes[i][2], impl);
            c.causal = causal;
            c.variant = variant;
            run_case(c);
        }
}

START_TEST(test_fused_sizes)
{
    sweep(CLF_ATTN_FUSED, CLF_ATTN_FUSED_BY_DEVICE);
}
END_TEST

START_TEST(test_gemm_sizes)
{
    sweep(CLF_ATTN_GEMM, CLF_ATTN_FUSED_BY_DEVICE);
}
END_TEST

/* The GPU kernel family (local-memory tiles, per-group softmax rows), run
 * on whatever device is present. */
START_TEST(test_group_sizes)
{
    sweep(CLF_ATTN_FUSED, CLF_ATTN_FUSED_GROUP);
    for (int causal = 0; causal < 2; causal++)
        for (size_t i = 0; i < 4; i++) {
            struct acase c = mk(1, 2, sizes[i * 2 + 1][0], sizes[i * 2 + 1][1],
                                sizes[i * 2 + 1][2], CLF_ATTN_GEMM);
            c.causal = causal;
            c.variant = CLF_ATTN_FUSED_GROUP;
            run_case(c);
        }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The sub-group kernel (attn_fused_subgroup)                               */
/* ------------------------------------------------------------------------ */

/* Whether the device has subgroups; on Intel's runtime, which has them,
 * a failure when it says it has not (the sub-group cases must run there,
 * not be skipped). Without: forcing the SUBGROUP family is CLF_E_UNSUPPORTED
 * at record time, and nothing is recorded. */
static bool subgroups_or_refused(void)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    if (strstr(info.platform_name, "Intel(R) OpenCL"))
        ck_assert_msg(info.subgroups, "Intel's runtime reports no subgroups");
    if (info.subgroups)
        return true;
    int64_t shape[4] = {1, 2, 5, 8};
    struct clf_tensor *q = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, shape, &q));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    for (int impl = CLF_ATTN_AUTO; impl <= CLF_ATTN_GEMM; impl++) {
        p.impl = (enum clf_attention_impl)impl;
        ck_assert_status(ctx, clf_attention_record(g, q, q, q, &p, CLF_ATTN_FUSED_SUBGROUP, &y),
                         CLF_E_UNSUPPORTED);
    }
    ck_assert_int_eq(clf_graph_node_count(g), 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(q);
    printf("no subgroups on %s: the sub-group kernel refused (CLF_E_UNSUPPORTED)\n", info.name);
    return false;
}

/* The sub-group kernel forced, against the double reference: the size
 * sweep (head_dim 1 to 256, seq_q != seq_k both ways, causal and not); the
 * masks (key padding with whole batch entries padded, query 0 seeing no
 * key, seq_q > seq_k causal, a sharp scale, whole key tiles masked before
 * the first attended key); strided views (q/k/v of one
 * projection, v and out with a strided head_dim, out overwriting q); dv !=
 * d; long sequences (sampled rows); the GEMM path with the SUBGROUP family
 * (its softmax per work-group). Every case's description must name the
 * sub-group kernel (run_case), so it is known to have run. */
START_TEST(test_subgroup)
{
    if (!subgroups_or_refused())
        return;
    const enum clf_attn_fused_variant SG = CLF_ATTN_FUSED_SUBGROUP;
    sweep(CLF_ATTN_FUSED, SG);
    for (int mode = 0; mode < MASK_MODES; mode++) {
        struct acase c = mk(3, 2, 37, 45, 64, CLF_ATTN_FUSED);
        c.variant = SG;
        mask_mode(&c, mode);
        run_case(c);
    }
    for (int l = LAYOUT_QKV; l <= LAYOUT_IN_PLACE; l++) {
        struct acase c = mk(2, 3, 45, 45, 64, CLF_ATTN_FUSED);
        if (l == LAYOUT_COLUMNS)
            c.sq = 30, c.d = 24;
        c.layout = (enum layout)l;
        c.variant = SG;
        c.causal = l != LAYOUT_COLUMNS;
        c.pad = l == LAYOUT_QKV ? 1 : 0;
        run_case(c);
    }
    static const int64_t dims[][2] = {{8, 32}, {32, 8}, {16, 64}, {5, 3}, {7, 33}, {256, 1},
                                      {1, 256}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        struct acase c = mk(2, 2, 21, 30, dims[i][0], CLF_ATTN_FUSED);
        c.dv = dims[i][1];
        c.variant = SG;
        c.causal = i % 2 == 0;
        c.pad = i < 2 ? 1 : 2;
        if (i == 3)
            c.sq = 40, c.sk = 13, c.causal = true, c.pad = 1;
        run_case(c);
    }
    struct acase c = mk(2, 3, 19, 19, 16, CLF_ATTN_FUSED);
    c.dv = 24, c.layout = LAYOUT_QKV, c.variant = SG, c.causal = true, c.pad = 1;
    run_case(c);
    c = mk(1, 1, 1030, 1030, 64, CLF_ATTN_FUSED);
    c.variant = SG, c.causal = true, c.row_step = 11;
    run_case(c);
    c = mk(1, 2, 5, 1030, 33, CLF_ATTN_FUSED);
    c.variant = SG;
    run_case(c);
    c = mk(1, 2, 13, 100, 80, CLF_ATTN_GEMM);
    c.variant = SG, c.causal = true;
    run_case(c);
}
END_TEST

/* The sub-group kernel at every sub-group size Intel's runtime offers (4,
 * 8, 16, 32, 64: cl_intel_required_subgroup_size, build define SG), the
 * sizes of CPUs, NVIDIA's and AMD's GPUs: sizes from d = 1 to 256, dv
 * below and above the size, causal, padding with whole tiles masked, strided
 * views; each case checks that the kernel ran with the size required (but
 * 64 at head_dims above 64, see below). Other
 * devices: their compiler's own size only (test_subgroup). */
START_TEST(test_subgroup_sizes)
{
    if (!subgroups_or_refused())
        return;
    struct clf_device_info info;
    ck_assert_ok(test_ctx(), clf_ctx_device_info(test_ctx(), &info));
    if (!strstr(info.platform_name, "Intel(R) OpenCL")) {
        printf("not Intel's runtime: no required sub-group sizes\n");
        return;
    }
    static const int sgs[] = {4, 8, 16, 32, 64};
    static const int64_t cases[][6] = {
        /* sq, sk, d, dv, causal, pad */
        {1, 1, 1, 1, 0, 0},      {1, 7, 32, 32, 0, 0},    {13, 100, 80, 80, 1, 0},
        {33, 70, 256, 256, 0, 1}, {50, 50, 1, 1, 1, 2},   {21, 30, 5, 3, 1, 1},
        {21, 30, 1, 256, 0, 2},  {37, 200, 64, 64, 0, 3}, {200, 200, 33, 7, 1, 3},
        {129, 65, 48, 48, 1, 1},
    };
    for (size_t k = 0; k < sizeof sgs / sizeof sgs[0]; k++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct acase c = mk(2, 2, cases[i][0], cases[i][1], cases[i][2], CLF_ATTN_FUSED);
            c.dv = cases[i][3], c.causal = cases[i][4], c.pad = (int)cases[i][5];
            c.variant = CLF_ATTN_FUSED_SUBGROUP;
            c.sg = sgs[k];
            /* 64 lanes with private arrays of 2 x 128 floats or more: Intel's
             * runtime gives the kernel a work-group size of 1 (so one-lane
             * sub-groups run it; still checked against the reference) */
            if (c.sg == 64 && clf_attn_dmax(c.d > c.dv ? c.d : c.dv) > 64)
                c.sg = -64;
            run_case(c);
        }
        struct acase c = mk(2, 3, 45, 45, 24, CLF_ATTN_FUSED);
        c.dv = 40, c.layout = LAYOUT_QKV, c.variant = CLF_ATTN_FUSED_SUBGROUP, c.causal = true;
        c.pad = 1, c.sg = sgs[k];
        run_case(c);
    }
}
END_TEST

/* AUTO on the GROUP family of a device with subgroups measures three
 * candidates (fused, fused-subgroup, gemm), keeps them in the record, runs
 * the one it chose (named in the description) and a second context with the
 * same cache directory reads the choice back. The cases with AUTO on GROUP
 * then check the result against the reference on the shared context. */
START_TEST(test_subgroup_auto)
{
    if (!subgroups_or_refused())
        return;
    char *dir = test_make_tmpdir("attn-sg-tune");
    char first[256] = "";
    for (int round = 0; round < 2; round++) {
        struct clf_ctx_params cp = clf_ctx_params_default();
        cp.cache_dir = dir;
        cp.gemm_provider = CLF_GEMM_NATIVE;
        cp.tune_mode = CLF_TUNE_FULL;
        struct clf_ctx *ctx = NULL;
        ck_assert_int_eq(clf_ctx_create(&cp, &ctx), CLF_OK);
        int64_t shape[4] = {1, 2, 40, 16};
        float q[2 * 40 * 16];
        test_fill_uniform(q, 2 * 40 * 16, -1, 1);
        struct clf_tensor *t = NULL, *y = NULL;
        struct clf_graph *g = NULL;
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, shape, &t));
        ck_assert_ok(ctx, clf_tensor_write(t, q, sizeof q));
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        struct clf_attention_params p = clf_attention_params_default();
        ck_assert_ok(ctx, clf_attention_record(g, t, t, t, &p, CLF_ATTN_FUSED_GROUP, &y));
        ck_assert_ok(ctx, clf_graph_run(g));
        char desc[256];
        snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
        ck_assert_msg(strstr(desc, " auto: fused group ") || strstr(desc, " auto: fused subgroup ") ||
                          strstr(desc, " auto: gemm "),
                      "%s", desc);
        const cJSON *rec = clf_tune_get(ctx, "attention", "q1-k1-d32-h1-c0");
        ck_assert_ptr_nonnull(rec);
        const cJSON *ms = cJSON_GetObjectItem(rec, "ms");
        const char *names[3] = {"fused", "fused-subgroup", "gemm"};
        for (int i = 0; i < 3; i++)
            ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(ms, names[i])),
                          "no time for %s in the record", names[i]);
        if (round == 0)
            snprintf(first, sizeof first, "%s", desc);
        else
            ck_assert_str_eq(desc, first);
        struct clf_ctx_stats st;
        ck_assert_ok(ctx, clf_ctx_stats(ctx, &st));
        ck_assert_uint_eq(st.tuned, round == 0 ? 1 : 0);
        clf_graph_destroy(g);
        clf_tensor_destroy(t);
        clf_ctx_destroy(ctx);
    }
    test_remove_dir(dir);
    free(dir);
    for (int causal = 0; causal < 2; causal++) {
        struct acase c = mk(2, 2, 33, 47, 64, CLF_ATTN_AUTO);
        c.variant = CLF_ATTN_FUSED_GROUP, c.causal = causal, c.pad = 1;
        run_case(c);
    }
}
END_TEST

/* Long sequences (sampled rows), odd sizes, every implementation. */
START_TEST(test_long)
{
    static const int64_t longs[][3] = {{513, 513, 128}, {1030, 1030, 64}, {1030, 7, 64},
                                       {5, 1030, 64}};
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
        for (int impl = CLF_ATTN_FUSED; impl <= CLF_ATTN_GEMM; impl++) {
            struct acase c = mk(1, 2, longs[i][0], longs[i][1], longs[i][2],
                                (enum clf_attention_impl)impl);
            c.causal = i == 1;
            c.row_step = 7;
            run_case(c);
        }
    struct acase c = mk(1, 1, 1030, 1030, 64, CLF_ATTN_FUSED);
    c.variant = CLF_ATTN_FUSED_GROUP;
    c.causal = true;
    c.row_step = 11;
    run_case(c);
}
END_TEST

/* Causal, key padding, both; fully masked rows; batch > 1 with per-batch
 * padding (the last batch entry entirely padded); a sharp custom scale;
 * the first 3/4 of 200 keys padded, so that whole key tiles (of every
 * kernel: 64 keys for the group kernel) are masked before the first
 * attended one (the all-masked start, mu = 0 there). */
START_TEST(test_masks)
{
    for (int impl = CLF_ATTN_FUSED; impl <= CLF_ATTN_GEMM + 2; impl++) {
        bool group = impl > CLF_ATTN_GEMM;
        for (int mode = 0; mode < MASK_MODES; mode++) {
            struct acase c = mk(3, 2, 37, 45, 64,
                                impl == CLF_ATTN_GEMM + 2 ? CLF_ATTN_GEMM
                                : group                   ? CLF_ATTN_FUSED
                                                          : (enum clf_attention_impl)impl);
            c.variant = group ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
            mask_mode(&c, mode);
            run_case(c);
        }
    }
}
END_TEST

/* Heads addressed by strides: q/k/v views of one [B, S, 3 H D] projection
 * and out a view of [B, S, H D] (no batch flattening possible); v and out
 * with a strided head_dim; out overwriting q. */
START_TEST(test_strided)
{
    for (int impl = CLF_ATTN_AUTO; impl <= CLF_ATTN_GEMM + 1; impl++) {
        bool group = impl == CLF_ATTN_GEMM + 1;
        enum clf_attention_impl im = group ? CLF_ATTN_FUSED : (enum clf_attention_impl)impl;
        for (int l = LAYOUT_QKV; l <= LAYOUT_IN_PLACE; l++) {
            struct acase c = mk(2, 3, 45, 45, 64, im);
            if (l == LAYOUT_COLUMNS)
                c.sq = 30, c.d = 24;
            c.layout = (enum layout)l;
            c.variant = group ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
            c.causal = l != LAYOUT_COLUMNS;
            c.pad = l == LAYOUT_QKV ? 1 : 0;
            run_case(c);
        }
    }
}
END_TEST

/* v's head_dim dv != q's and k's d (PyTorch's E != Ev), (d, dv) both
 * ways, across DMAX buckets and odd: every exact implementation (fused CPU
 * kernel, fused local-memory kernel, GEMM path) with causal and key
 * padding and seq_q != seq_k; then strided q/k/v views of one projection
 * with out a view of another (heads by strides), v and out with a strided
 * head_dim, and AUTO (its measurement on [.., dv] scratch). */
START_TEST(test_value_dim)
{
    static const int64_t dims[][2] = {{8, 32}, {32, 8}, {16, 64}, {5, 3}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int impl = 0; impl < 3; impl++) {
            struct acase c = mk(2, 2, 21, 30, dims[i][0],
                                impl == 2 ? CLF_ATTN_GEMM : CLF_ATTN_FUSED);
            c.dv = dims[i][1];
            c.variant = impl == 1 ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
            c.causal = i % 2 == 0;
            c.pad = i < 2 ? 1 : 2;
            if (i == 3)
                c.sq = 40, c.sk = 13, c.causal = true, c.pad = 1;
            run_case(c);
        }
    for (int impl = 0; impl < 4; impl++) {
        enum clf_attention_impl im = impl == 3 ? CLF_ATTN_AUTO
                                     : impl == 2 ? CLF_ATTN_GEMM
                                                 : CLF_ATTN_FUSED;
        for (int l = LAYOUT_QKV; l <= LAYOUT_COLUMNS; l++) {
            if (impl == 3 && l == LAYOUT_COLUMNS)
                continue;
            struct acase c = mk(2, 3, 19, 19, l == LAYOUT_QKV ? 16 : 32, im);
            c.dv = l == LAYOUT_QKV ? 24 : 8;
            c.layout = (enum layout)l;
            c.variant = impl == 1 ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
            c.causal = l == LAYOUT_QKV;
            c.pad = 1;
            if (l == LAYOUT_COLUMNS)
                c.sq = 11;
            run_case(c);
        }
    }
}
END_TEST

/* AUTO picks an implementation by measuring once per size class (tuning
 * mode full: whatever the shipped defaults say), tells which in the node's
 * description, and a second context with the same cache directory reads
 * the choice instead of measuring. */
START_TEST(test_auto_remembered)
{
    char *dir = test_make_tmpdir("attn-tune");
    char first[256] = "";
    for (int round = 0; round < 2; round++) {
        struct clf_ctx_params cp = clf_ctx_params_default();
        cp.cache_dir = dir;
        cp.gemm_provider = CLF_GEMM_NATIVE; /* only attention is tuned here */
        cp.tune_mode = CLF_TUNE_FULL;
        struct clf_ctx *ctx = NULL;
        ck_assert_int_eq(clf_ctx_create(&cp, &ctx), CLF_OK);
        enum { H = 2, S = 40, D = 16 };
        float q[H * S * D], out[H * S * D];
        test_fill_uniform(q, H * S * D, -1, 1);
        int64_t shape[4] = {1, H, S, D};
        struct clf_tensor *t = NULL, *y = NULL;
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, shape, &t));
        ck_assert_ok(ctx, clf_tensor_write(t, q, sizeof q));
        struct clf_graph *g = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_op_attention(g, t, t, t, NULL, &y));
        char desc[256];
        snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
        ck_assert_str_eq(desc, "attention 1x2 q40 k40 d16 auto (not run yet)");
        ck_assert_ok(ctx, clf_graph_run(g));
        snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
        ck_assert_msg(strstr(desc, " auto: fused ") || strstr(desc, " auto: gemm "), "%s", desc);
        if (round == 0)
            snprintf(first, sizeof first, "%s", desc);
        else
            ck_assert_str_eq(desc, first);
        ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
        for (int i = 0; i < H * S * D; i++)
            ck_assert(isfinite(out[i]) && fabsf(out[i]) <= 1.0f);
        struct clf_ctx_stats st;
        ck_assert_ok(ctx, clf_ctx_stats(ctx, &st));
        if (round == 0) {
            ck_assert_uint_eq(st.tuned, 1);
        } else {
            ck_assert_uint_eq(st.tuned, 0);
            ck_assert_uint_ge(st.tune_loaded, 1);
        }
        clf_graph_destroy(g);
        clf_tensor_destroy(t);
        clf_ctx_destroy(ctx);
    }
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* The fused implementation at n = 2048 allocates O(n d) device memory
 * (its key panels, key mask and the output), never the 2048 x 2048 scores
 * (16 MiB per head) of the GEMM path, whose growth the same counters show. */
START_TEST(test_fused_memory)
{
    struct clf_ctx *ctx = test_ctx();
    enum { H = 2, N = 2048, D = 64 };
    uint64_t per_head_nd = (uint64_t)N * D * sizeof(float);      /* 512 KiB */
    uint64_t per_head_nn = (uint64_t)N * N * sizeof(float);      /* 16 MiB */
    for (int impl = CLF_ATTN_FUSED; impl <= CLF_ATTN_GEMM; impl++) {
        struct acase c = mk(1, H, N, N, D, (enum clf_attention_impl)impl);
        struct data x = {0};
        x.q = test_random_floats((size_t)H * N * D, -2, 2);
        x.k = test_random_floats((size_t)H * N * D, -2, 2);
        x.v = test_random_floats((size_t)H * N * D, -1, 1);
        struct dev dv;
        upload(&c, &x, &dv);
        clf_ctx_trim(ctx);
        struct clf_ctx_stats s0, s1;
        ck_assert_ok(ctx, clf_ctx_stats(ctx, &s0));
        struct clf_graph *g = NULL;
        struct clf_tensor *y = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        struct clf_attention_params p = clf_attention_params_default();
        p.impl = c.impl;
        ck_assert_ok(ctx, clf_op_attention(g, dv.q, dv.k, dv.v, &p, &y));
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        ck_assert_ok(ctx, clf_ctx_stats(ctx, &s1));
        uint64_t grown = s1.pool_bytes_live - s0.pool_bytes_live;
        if (getenv("ATTN_TEST_VERBOSE"))
            printf("n = %d, %d heads, d = %d, %s: live pool grew by %llu bytes (n d = %llu "
                   "bytes per head, n^2 = %llu)\n",
                   N, H, D, clf_attention_impl_str(c.impl), (unsigned long long)grown,
                   (unsigned long long)per_head_nd, (unsigned long long)per_head_nn);
        if (impl == CLF_ATTN_FUSED) {
            /* out + key panels (H n d each, pool classes round up by <= 25%)
             * + the key mask (n floats) */
            uint64_t limit = (uint64_t)(1.25 * (2 * H * per_head_nd + N * sizeof(float))) + 4096;
            ck_assert_msg(grown <= limit, "fused attention grew the live pool by %llu bytes "
                          "(limit %llu, O(n d))", (unsigned long long)grown,
                          (unsigned long long)limit);
            ck_assert_msg(grown < per_head_nn, "fused attention holds an n x n buffer");
        } else {
            ck_assert_msg(grown >= H * per_head_nn, "the GEMM path grew the pool by %llu bytes",
                          (unsigned long long)grown);
        }
        float *out = test_read_all(y);
        c.row_step = 331;
        double r = check(&c, &x, out);
        ck_assert_msg(r <= 1, "n = %d %s: error %g x bound", N,
                      clf_attention_impl_str(c.impl), r);
        free(out);
        clf_graph_destroy(g);
        release(&dv);
        free(x.q);
        free(x.k);
        free(x.v);
    }
}
END_TEST

/* A relative position bias (a view into a wider table) on both softmax
 * families of the GEMM path, forced and by AUTO; masks, sq != sk both
 * ways, q/k/v views of a fused projection. */
START_TEST(test_position_bias)
{
    static const int64_t pbs[][5] = {{1, 1, 1, 1, 4},   {2, 3, 7, 7, 16},    {1, 2, 5, 9, 8},
                                     {1, 2, 9, 5, 8},   {2, 4, 33, 33, 32}, {1, 2, 130, 130, 64}};
    for (size_t i = 0; i < sizeof pbs / sizeof pbs[0]; i++)
        for (int fam = 0; fam < 2; fam++)
            for (int impl = 0; impl < 2; impl++) {
                struct acase c = mk(pbs[i][0], pbs[i][1], pbs[i][2], pbs[i][3], pbs[i][4],
                                    impl ? CLF_ATTN_GEMM : CLF_ATTN_AUTO);
                c.variant = fam ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
                c.pbias = true;
                c.causal = i == 2 || i == 5;
                c.pad = i % 2;
                if (i == 4)
                    c.layout = LAYOUT_QKV;
                run_case(c);
            }
}
END_TEST

/* Dense q, k [qs] and v [vs] tensors holding the host arrays. */
static void upload_qkv(const int64_t *qs, const int64_t *vs, const float *q, const float *k,
                       const float *v, struct clf_tensor **tq, struct clf_tensor **tk,
                       struct clf_tensor **tv)
{
    struct clf_ctx *ctx = test_ctx();
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, tq));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, tk));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, vs, tv));
    test_write_all(*tq, q);
    test_write_all(*tk, k);
    test_write_all(*tv, v);
}

/* Ragged batches (seq_offsets): n sequences packed end to end in the rows
 * of q, k, v and out (batch 1), lengths 5, 40, 1, 17 and 33 (more than one
 * query block, and a single row), causal or not, v's head_dim different.
 * Each sequence is checked against the reference of that sequence alone
 * (the bound above), and bit for bit against the padded form of the same
 * batch (lengths padded to 40 with key padding) on the same kernel. */
START_TEST(test_ragged)
{
    struct clf_ctx *ctx = test_ctx();
    if (clf_attn_family(ctx, CLF_ATTN_FUSED_BY_DEVICE) != CLF_ATTN_FUSED_CPU) {
        printf("ragged attention: not on this device (test_ragged_errors checks the refusal)\n");
        return;
    }
    enum { N = 5 };
    const int64_t len[N] = {5, 40, 1, 17, 33}, H = 3, D = 16, DV = 8, L = 40;
    int32_t cu[N + 1] = {0};
    for (int b = 0; b < N; b++)
        cu[b + 1] = cu[b] + (int32_t)len[b];
    const int64_t T = cu[N];
    for (int causal = 0; causal < 2; causal++) {
        /* packed host data q [1, H, T, D], k, v [1, H, T, DV] */
        float *q = test_random_floats((size_t)(H * T * D), -2, 2);
        float *k = test_random_floats((size_t)(H * T * D), -2, 2);
        float *v = test_random_floats((size_t)(H * T * DV), -1, 1);
        const int64_t qs[4] = {1, H, T, D}, vs[4] = {1, H, T, DV}, cs[1] = {N + 1};
        struct clf_tensor *tq, *tk, *tv, *tcu, *y = NULL;
        upload_qkv(qs, vs, q, k, v, &tq, &tk, &tv);
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, cs, &tcu));
        ck_assert_ok(ctx, clf_tensor_write(tcu, cu, sizeof cu));
        struct clf_graph *g = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        struct clf_attention_params p = clf_attention_params_default();
        p.causal = causal;
        p.seq_offsets = tcu;
        p.max_seq_len = L;
        ck_assert_ok(ctx, clf_attention_record(g, tq, tk, tv, &p, CLF_ATTN_FUSED_CPU, &y));
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        ck_assert_msg(strstr(test_node_info(g, 0).desc, " ragged"), "%s",
                      test_node_info(g, 0).desc);

        /* the padded form: [N, H, L, *], keys past each length padded */
        const int64_t ps[4] = {N, H, L, D}, pvs[4] = {N, H, L, DV};
        float *pq = calloc((size_t)(N * H * L * D), sizeof *pq);
        float *pk = calloc((size_t)(N * H * L * D), sizeof *pk);
        float *pv = calloc((size_t)(N * H * L * DV), sizeof *pv);
        int32_t *pad = calloc((size_t)(N * L), sizeof *pad);
        for (int b = 0; b < N; b++) {
            for (int64_t j = len[b]; j < L; j++)
                pad[b * L + j] = 1;
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < len[b]; i++) {
                    const int64_t r = (h * T + cu[b] + i), pr = ((b * H + h) * L + i);
                    memcpy(pq + pr * D, q + r * D, (size_t)D * sizeof *q);
                    memcpy(pk + pr * D, k + r * D, (size_t)D * sizeof *k);
                    memcpy(pv + pr * DV, v + r * DV, (size_t)DV * sizeof *v);
                }
        }
        struct clf_tensor *bq, *bk, *bv, *bpad, *by = NULL;
        upload_qkv(ps, pvs, pq, pk, pv, &bq, &bk, &bv);
        bpad = test_upload_pad(N, L, pad);
        struct clf_graph *pg = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &pg));
        struct clf_attention_params pp = clf_attention_params_default();
        pp.causal = causal;
        pp.key_padding = bpad;
        pp.impl = CLF_ATTN_FUSED;
        ck_assert_ok(ctx, clf_attention_record(pg, bq, bk, bv, &pp, CLF_ATTN_FUSED_CPU, &by));
        ck_assert_ok(ctx, clf_graph_run(pg));
        float *pout = test_read_all(by);

        for (int b = 0; b < N; b++) {
            /* sequence b alone, dense [1, H, len, *], against the reference */
            const int64_t n = len[b];
            struct data x = {0};
            x.q = malloc((size_t)(H * n * D) * sizeof *x.q);
            x.k = malloc((size_t)(H * n * D) * sizeof *x.k);
            x.v = malloc((size_t)(H * n * DV) * sizeof *x.v);
            float *o = malloc((size_t)(H * n * DV) * sizeof *o);
            for (int64_t h = 0; h < H; h++) {
                const int64_t r = h * T + cu[b];
                memcpy(x.q + h * n * D, q + r * D, (size_t)(n * D) * sizeof *q);
                memcpy(x.k + h * n * D, k + r * D, (size_t)(n * D) * sizeof *k);
                memcpy(x.v + h * n * DV, v + r * DV, (size_t)(n * DV) * sizeof *v);
                memcpy(o + h * n * DV, out + r * DV, (size_t)(n * DV) * sizeof *o);
                for (int64_t i = 0; i < n; i++)
                    ck_assert_msg(!memcmp(out + (r + i) * DV,
                                          pout + ((b * H + h) * L + i) * DV,
                                          (size_t)DV * sizeof *out),
                                  "sequence %d head %lld row %lld: not the padded form's bits",
                                  b, (long long)h, (long long)i);
            }
            struct acase c = {.b = 1, .h = H, .sq = n, .sk = n, .d = D, .dv = DV,
                              .causal = causal, .row_step = 1};
            double r = check(&c, &x, o);
            ck_assert_msg(r <= 1, "ragged sequence %d (%lld rows, causal %d): error %g x bound",
                          b, (long long)n, causal, r);
            free(x.q), free(x.k), free(x.v), free(o);
        }
        printf("ragged attention, %d sequences of 1-40 rows%s: within the bound, the padded "
               "form's bits\n", N, causal ? ", causal" : "");
        free(out), free(pout), free(pq), free(pk), free(pv), free(pad);
        clf_graph_destroy(g);
        clf_graph_destroy(pg);
        struct clf_tensor *all[] = {tq, tk, tv, tcu, bq, bk, bv, bpad};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            clf_tensor_destroy(all[i]);
        free(q), free(k), free(v);
    }
}
END_TEST

/* Ragged batches' refusals, and offsets out of range: clamped into the
 * rows, the same output as the offsets they clamp to. */
START_TEST(test_ragged_errors)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t qs[4] = {1, 2, 10, 8}, q2[4] = {2, 2, 5, 8}, cs[1] = {3}, c2[2] = {1, 3};
    struct clf_tensor *q, *qb, *cu, *cu2d, *cuf, *pad, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, q2, &qb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, cs, &cu));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, c2, &cu2d));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, cs, &cuf));
    const int64_t pads[2] = {1, 10};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, pads, &pad));
    float *qh = test_random_floats(160, -1, 1);
    test_write_all(q, qh);
    free(qh);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    p.seq_offsets = cu;
    p.max_seq_len = 0;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_INVALID_ARG);
    p.max_seq_len = 11;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_INVALID_ARG);
    p.max_seq_len = 6;
    ck_assert_status(ctx, clf_op_attention(g, qb, qb, qb, &p, &y), CLF_E_SHAPE);
    p.seq_offsets = cu2d;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_SHAPE);
    p.seq_offsets = cuf;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_SHAPE);
    p.seq_offsets = cu;
    p.key_padding = pad;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_INVALID_ARG);
    p.key_padding = NULL;
    p.impl = CLF_ATTN_GEMM;
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_UNSUPPORTED);
    p.impl = CLF_ATTN_AUTO;
    ck_assert_status(ctx, clf_attention_record(g, q, q, q, &p, CLF_ATTN_FUSED_GROUP, &y),
                     CLF_E_UNSUPPORTED);
    ck_assert_int_eq(clf_graph_node_count(g), 0);
    if (clf_attn_family(ctx, CLF_ATTN_FUSED_BY_DEVICE) != CLF_ATTN_FUSED_CPU) {
        /* a device without the CPU kernel: refused as such */
        ck_assert_status(ctx, clf_op_attention(g, q, q, q, &p, &y), CLF_E_UNSUPPORTED);
    } else {
        /* offsets negative, past the rows, decreasing: {-7, 400, 2} clamps to
         * sequence 0 = rows 0-5 (cut to max_seq_len 6) and an empty sequence
         * 1, as {0, 6, 6} gives them; rows 6-9 are written by neither */
        const int32_t bad[3] = {-7, 400, 2}, good[3] = {0, 6, 6};
        ck_assert_ok(ctx, clf_op_attention(g, q, q, q, &p, &y));
        float *out[2];
        for (int r = 0; r < 2; r++) {
            ck_assert_ok(ctx, clf_tensor_write(cu, r ? bad : good, sizeof bad));
            test_poison(y);
            ck_assert_ok(ctx, clf_graph_run(g));
            out[r] = test_read_all(y);
        }
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 6 * 8; i++) {
                const float a = out[0][h * 80 + i], b = out[1][h * 80 + i];
                ck_assert_msg(!memcmp(&a, &b, sizeof a) && !isnan(a),
                              "head %d element %d: %g with clamped offsets, %g", h, i, b, a);
            }
        free(out[0]), free(out[1]);
    }
    clf_graph_destroy(g);
    struct clf_tensor *all[] = {q, qb, cu, cu2d, cuf, pad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

/* The position bias's checks: shape, dtype, element stride, the variants
 * and the implementation that cannot take it. */
START_TEST(test_position_bias_errors)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t s4[4] = {1, 2, 3, 4}, k4[4] = {1, 2, 5, 4};
    const int64_t good[2] = {2, 7}, wide[2] = {2, 14}, bad_w[2] = {2, 6}, bad_h[2] = {3, 7};
    struct clf_tensor *q, *k, *pb, *pbw, *pbs, *pbh, *pbi, *pb1;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, k4, &k));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, good, &pb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, wide, &pbw));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, bad_w, &pb1));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, bad_h, &pbh));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, good, &pbi));
    ck_assert_ok(ctx, clf_tensor_view(pbw, 2, good, (const int64_t[2]){14, 2}, 0, &pbs));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *y = NULL;
    struct clf_attention_params p = clf_attention_params_default();
    struct clf_tensor *bad[] = {pb1, pbh, pbi, pbs, q};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.position_bias = bad[i];
        ck_assert_status(ctx, clf_op_attention(g, q, k, k, &p, &y), CLF_E_SHAPE);
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), "position_bias must be f32 [heads, "
                                                      "seq_q + seq_k - 1] = [2, 7]"),
                      "%s", clf_ctx_last_error(ctx));
    }
    p.position_bias = pb;
    p.impl = CLF_ATTN_FUSED;
    ck_assert_status(ctx, clf_op_attention(g, q, k, k, &p, &y), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(ctx), "GEMM path"));
    p.impl = CLF_ATTN_AUTO;
    p.variant.sparsity = CLF_ATTN_TOPK;
    p.variant.topk = 2;
    ck_assert_status(ctx, clf_op_attention(g, q, k, k, &p, &y), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(ctx), "exact attention, not topk"));
    p.variant = clf_attention_params_default().variant;
    ck_assert_ok(ctx, clf_op_attention(g, q, k, k, &p, &y));
    ck_assert_int_eq(clf_graph_node_count(g), 1);
    clf_graph_destroy(g);
    clf_tensor_destroy(pbs);
    struct clf_tensor *all[] = {q, k, pb, pbw, pb1, pbh, pbi};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s4[4] = {2, 3, 5, 8}, sk[4] = {2, 3, 7, 8}, sbad_b[4] = {1, 3, 7, 8};
    int64_t sbad_h[4] = {2, 2, 7, 8}, sbad_d[4] = {2, 3, 7, 4}, s3[3] = {2, 5, 8};
    int64_t sbig[4] = {1, 1, 2, 257}, sd0[4] = {1, 1, 2, 1}, spad[2] = {2, 7}, spadbad[2] = {2, 5};
    struct clf_tensor *q, *k, *v, *kb, *kh, *kd, *q3, *qi8, *big, *pad, *padbad, *padf, *o;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sk, &k));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sk, &v));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sbad_b, &kb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sbad_h, &kh));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sbad_d, &kd));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3, &q3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 4, s4, &qi8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sbig, &big));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, spad, &pad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, spadbad, &padbad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, spad, &padf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sk, &o)); /* wrong out shape */
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *y = NULL;
    struct clf_attention_params p = clf_attention_params_default();

    ck_assert_status(ctx, clf_op_attention(g, q, k, v, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention(NULL, q, k, v, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention(g, NULL, k, v, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention(g, q, NULL, v, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention(g, q, k, NULL, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_attention(g, q3, k, v, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "4-D"));
    ck_assert_status(ctx, clf_op_attention(g, qi8, k, v, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "f32"));
    ck_assert_status(ctx, clf_op_attention(g, q, kb, v, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "batch"));
    ck_assert_status(ctx, clf_op_attention(g, q, kh, v, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "heads"));
    ck_assert_status(ctx, clf_op_attention(g, q, kd, v, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "head_dim"));
    ck_assert_status(ctx, clf_op_attention(g, q, k, kh, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "v's"));
    ck_assert_status(ctx, clf_op_attention(g, q, k, q, NULL, &y), CLF_E_SHAPE); /* v seq 5 != 7 */
    ck_assert_status(ctx, clf_op_attention(g, big, big, big, NULL, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "257"));
    /* head_dim 0 cannot even be made as a tensor; the smallest, 1, is fine */
    struct clf_tensor *zero = NULL;
    int64_t sz[4] = {1, 1, 2, 0};
    ck_assert_int_ne(clf_tensor_create(ctx, CLF_F32, 4, sz, &zero), CLF_OK);
    struct clf_tensor *d1 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sd0, &d1));

    p.key_padding = padbad;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "key_padding"));
    p.key_padding = padf;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "i32"));
    p.key_padding = q;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    p.key_padding = pad;
    p.out = o;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "out"));
    /* dv != d: out must have dv columns; sparse variants refuse it */
    struct clf_tensor *odv = NULL, *vbig = NULL;
    int64_t sodv[4] = {2, 3, 5, 4}, svbig[4] = {2, 3, 7, 257};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sodv, &odv));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, svbig, &vbig));
    p.key_padding = NULL;
    p.out = odv;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE); /* dv 8, out 4 */
    ck_assert(strstr(clf_ctx_last_error(ctx), "out must be f32 [batch, heads, seq_q, dv]"));
    ck_assert(strstr(clf_ctx_last_error(ctx), "[2, 3, 5, 8]"));
    p.out = NULL;
    ck_assert_status(ctx, clf_op_attention(g, q, k, vbig, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "v's head_dim 257"));
    p.variant.sparsity = CLF_ATTN_TOPK;
    p.variant.topk = 3;
    ck_assert_status(ctx, clf_op_attention(g, q, k, kd, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "needs v's head_dim equal to q's"));
    ck_assert(strstr(clf_ctx_last_error(ctx), "4") && strstr(clf_ctx_last_error(ctx), "8"));
    p.variant.sparsity = CLF_ATTN_LINFORMER;
    p.variant.rank = 2;
    ck_assert_status(ctx, clf_op_attention(g, q, k, kd, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "linformer variant needs v's head_dim"));
    p.variant = clf_attention_params_default().variant;
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    p.key_padding = pad;
    p.out = k; /* right shape for q = k, but it is k itself */
    ck_assert_status(ctx, clf_op_attention(g, k, k, v, &p, &y), CLF_E_INVALID_ARG);
    ck_assert(strstr(clf_ctx_last_error(ctx), "overlaps"));
    p.out = NULL;
    p.impl = (enum clf_attention_impl)9;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.impl = CLF_ATTN_AUTO;
    p.scale = NAN;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.scale = 0;
    ck_assert_status(ctx, clf_attention_record(g, q, k, v, &p, (enum clf_attn_fused_variant)5, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* a valid call still records after all that */
    ck_assert_ok(ctx, clf_op_attention(g, q, k, v, &p, &y));
    ck_assert_ok(ctx, clf_op_attention(g, d1, d1, d1, NULL, &y));
    p.out = odv;
    ck_assert_ok(ctx, clf_op_attention(g, q, k, kd, &p, &y)); /* dv 4 != d 8 */
    ck_assert_ptr_eq(y, odv);
    p.out = NULL;
    ck_assert_uint_eq(clf_graph_node_count(g), 3);
    char desc[256];
    snprintf(desc, sizeof desc, "%s", test_node_info(g, 2).desc);
    ck_assert_msg(strstr(desc, " d8 dv4 "), "%s", desc);
    clf_graph_destroy(g);
    struct clf_tensor *all[] = {q, k, v, kb, kh, kd, q3, qi8, big, pad, padbad, padf, o, d1,
                                odv, vbig};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);

    ck_assert_str_eq(clf_attention_impl_str(CLF_ATTN_AUTO), "auto");
    ck_assert_str_eq(clf_attention_impl_str(CLF_ATTN_FUSED), "fused");
    ck_assert_str_eq(clf_attention_impl_str(CLF_ATTN_GEMM), "gemm");
    ck_assert_str_eq(clf_attention_impl_str((enum clf_attention_impl)7), "?");
    struct clf_attention_params d = clf_attention_params_default();
    ck_assert(d.scale == 0 && !d.causal && !d.key_padding && d.impl == CLF_ATTN_AUTO && !d.out);
}
END_TEST

/* The option of the table named name[0..len), or -1. */
static int table_option(const char *name, size_t len)
{
    for (int i = 0; i < CLF_ATTN_OPTS; i++)
        if (strlen(clf_attn_opt_defs[i].name) == len &&
            !strncmp(clf_attn_opt_defs[i].name, name, len))
            return i;
    return -1;
}

/*
 * The build options table (attention_options.c) against the .cl files:
 * in each attention program's full source, every default given as
 * "#ifndef NAME" + "#define NAME value" is an option of the table that the
 * program reads, with the table's default (KPACK_T alone is set by the
 * including file, not the host; a #define without a value is an include
 * guard); every option the program reads has such a default. The host passes every option of a program, or none when all are
 * at their defaults.
 */
START_TEST(test_options_match_cl)
{
    struct clf_ctx *ctx = test_ctx();
    for (int pr = 0; pr < CLF_ATTN_PROGRAMS; pr++) {
        const char *family = clf_attn_program_family[pr];
        char *text = NULL;
        ck_assert_ok(ctx, clf_program_source(ctx, family, &text));
        bool seen[CLF_ATTN_OPTS] = {false};
        for (const char *l = strstr(text, "#ifndef "); l; l = strstr(l + 1, "#ifndef ")) {
            const char *name = l + 8;
            size_t len = strcspn(name, " \n");
            char def[64];
            snprintf(def, sizeof def, "#define %.*s", (int)len, name);
            const char *next = strchr(name, '\n');
            ck_assert_msg(next && !strncmp(next + 1, def, strlen(def)),
                          "%s.cl: #ifndef %.*s not followed by its #define", family, (int)len,
                          name);
            const char *value_at = next + 1 + strlen(def);
            if (*value_at == '\n') /* an include guard */
                continue;
            if (len == 7 && !strncmp(name, "KPACK_T", 7))
                continue;
            int o = table_option(name, len);
            ck_assert_msg(o >= 0 && (clf_attn_opt_defs[o].programs & (1u << pr)),
                          "%s.cl: %.*s has a default but is not an option of the table", family,
                          (int)len, name);
            int value = atoi(value_at);
            ck_assert_msg(value == clf_attn_opt_defs[o].value,
                          "%s.cl: %s defaults to %d, the table to %d", family,
                          clf_attn_opt_defs[o].name, value, clf_attn_opt_defs[o].value);
            seen[o] = true;
        }
        for (int o = 0; o < CLF_ATTN_OPTS; o++)
            ck_assert_msg(seen[o] == !!(clf_attn_opt_defs[o].programs & (1u << pr)),
                          "%s.cl: option %s %s", family, clf_attn_opt_defs[o].name,
                          seen[o] ? "read but not in the table" : "has no default");
        free(text);

        /* all defaults: no options (the program clf_ctx_warmup builds);
         * one changed: every option the program reads */
        char buf[CLF_ATTN_OPTIONS_LEN];
        struct clf_attn_options opt = clf_attn_options_default();
        ck_assert_ptr_null(clf_attn_options_str(pr, &opt, buf));
        opt.v[CLF_ATTN_OPT_DMAX] = 128;
        const char *str = clf_attn_options_str(pr, &opt, buf);
        ck_assert_ptr_nonnull(str);
        for (int o = 0; o < CLF_ATTN_OPTS; o++) {
            char want[32];
            snprintf(want, sizeof want, "-D%s=%d", clf_attn_opt_defs[o].name, opt.v[o]);
            ck_assert_msg(!strstr(str, want) == !(clf_attn_opt_defs[o].programs & (1u << pr)),
                          "%s: options \"%s\"", family, str);
        }
    }
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_ragged);
    tcase_add_test(tc, test_ragged_errors);
    tcase_add_test(tc, test_position_bias_errors);
    tcase_add_test(tc, test_position_bias);
    tcase_add_test(tc, test_options_match_cl);
    tcase_add_test(tc, test_fused_sizes);
    tcase_add_test(tc, test_gemm_sizes);
    tcase_add_test(tc, test_group_sizes);
    tcase_add_test(tc, test_masks);
    tcase_add_test(tc, test_strided);
    tcase_add_test(tc, test_value_dim);
    tcase_add_test(tc, test_long);
    tcase_add_test(tc, test_fused_memory);
    tcase_add_test(tc, test_auto_remembered);
    suite_add_tcase(s, tc);
    /* a case of its own: CK_RUN_CASE=subgroup runs it alone */
    TCase *ts = tcase_create("subgroup");
    tcase_set_timeout(ts, 600);
    tcase_add_test(ts, test_subgroup);
    tcase_add_test(ts, test_subgroup_sizes);
    tcase_add_test(ts, test_subgroup_auto);
    suite_add_tcase(s, ts);
    return test_run_suite(s);
}
