/*
 * Sparse attention variants (clf_op_attention with params.variant) against
 * a double-precision reference that applies the same selection: a masked
 * softmax for window and top-k, the thresholded weights for threshold (with
 * and without renormalisation, kept counts as exact integers); both kernel
 * families (CPU lanes, and the per-query family forced on this device);
 * equivalences with exact attention (window w >= n, top-k k >= n, tau = 0),
 * causal, global tokens, key padding, seq_q != seq_k, odd sizes, head_dim
 * 32/64/80/128, k up to 256, ties, strided views; keys outside every band
 * holding NaN (never read); the two top-k nodes timed apart; bad parameters
 * (errors before anything is recorded). Outputs are poisoned with NaN first;
 * NaN never passes. SPARSE_TEST_VERBOSE=1 prints each case's ratio.
 *
 * Error bound (u = 2^-24), derived as in test-attention.c. The reference
 * computes in double from the same float inputs and scale s_j = scale q.k_j
 * and, over the set S of keys a query attends (for top-k the selected ones,
 * for window the band and global keys, both minus masked keys),
 * w_j = exp(s_j - M) / sum_S exp(s_j' - M). Per weight the kernels' factor
 * is (1 + rho_j), |rho_j| <= r_j = exp(D_j + 2u (M - s_j)) (1 + 6u)^(T+1) - 1,
 * D_j = gamma_{d+2} |scale| sum|q k_j| (scores), T = ceil(sk/4) rescales;
 * the output is a convex combination, so
 *   |o^ - o| <= E + (2 gamma_N + u)(A + E) + 1e-30,
 *   E = sum_S w_j (r_j + R) |v_j| / (1 - R), R = sum_S w_j r_j,
 *   A = sum_S w_j |v_j|, N = sk + T + 2.
 * Threshold without renormalisation is not a convex combination: the kept
 * weights are p_j = exp(s_j - M) / sum_A (A = all attended keys), computed
 * as 2^(t_j - m) * fl(1/l) with l from pass 1, so each has a relative error
 * e_j <= (1 + r_j)(1 + R_A + gamma_N)(1 + 3u) / (1 - R_A - gamma_N) - 1
 * (R_A = sum_A p_j r_j: the sum's error; 3u: the reciprocal, the product,
 * and the last exp2) and
 *   |o^ - o| <= sum_kept p_j e_j |v_j| + gamma_N sum_kept p_j (1 + e_j)|v_j|.
 * With renormalisation it is the convex bound above over the kept set.
 * Selection near a boundary is decided by fp32 rounding: a top-k row whose
 * k-th and (k+1)-th scores differ by less than the two scores' bounds
 * (but are not exactly equal: exact ties are deterministic, towards the
 * lower index, and tested), and a threshold row with a weight within
 * p_j e_j of tau, are skipped (output and count) and counted; the count is
 * printed and must stay below 5% of the rows.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/ops/attention.h" /* internal: forcing the kernel family */
#include "common.h"

struct scase {
    int64_t b, h, sq, sk, d;
    bool causal;
    int pad; /* 0 none, 1 random keys (25%), 2 key 0 padded */
    struct clf_attention_variant var;
    enum clf_attn_fused_variant family;
    bool kept;      /* threshold: ask for the counts */
    int dup;        /* top-k: make keys j and j + dup equal (ties), 0 none */
    int nan_from;   /* window: keys >= nan_from hold NaN in K and V (0 none) */
    bool strided;   /* q, k, v views of one [B, S, 3 H D] tensor, out a view */
    bool vs_exact;  /* compare with exact attention run on the same inputs too */
    int row_step;
};

struct data {
    float *q, *k, *v;
    int32_t *pad;
};

static size_t idx4(const struct scase *c, int64_t s, int64_t b, int64_t h, int64_t i, int64_t dd)
{
    return (size_t)(((b * c->h + h) * s + i) * c->d + dd);
}

static bool masked(const struct scase *c, const struct data *x, int64_t b, int64_t i, int64_t j)
{
    if (c->causal && j > i)
        return true;
    if (x->pad && x->pad[b * c->sk + j] != 0)
        return true;
    if (c->var.sparsity == CLF_ATTN_WINDOW) {
        int64_t g = c->var.global_tokens;
        if (j < g || i < g)
            return false;
        return j < i - c->var.window_left || j > i + c->var.window_right;
    }
    return false;
}

static int64_t skipped_rows, checked_rows;

/* Worst error / bound ratio of out (and of other, exact attention on the
 * same inputs, against out when given: |out - other| <= 2 bound). kept:
 * device counts [B, H, sq] or NULL. Returns inf on NaN or a wrong count. */
static double check(const struct scase *c, const struct data *x, const float *out,
                    const float *other, const int32_t *kept)
{
    float scale = (float)(1.0 / sqrt((double)c->d)); /* the op's default */
    int64_t T = (c->sk + 3) / 4;
    double u = TEST_U32;
    double g_d = test_gamma((double)c->d + 2), g_n = test_gamma((double)(c->sk + T + 2));
    double exp_f = pow(1 + 6 * u, (double)(T + 1));
    size_t n = (size_t)c->sk;
    double *s = malloc(n * sizeof *s), *w = malloc(n * sizeof *w), *r = malloc(n * sizeof *r);
    double *e = malloc(n * sizeof *e);
    bool *in = malloc(n * sizeof *in), *att = malloc(n * sizeof *att);
    int64_t *ord = malloc(n * sizeof *ord);
    double worst = 0;
    int step = c->row_step > 0 ? c->row_step : 1;
    enum clf_attention_sparsity sp = c->var.sparsity;
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->sq; i += (i + step < c->sq || i == c->sq - 1) ? step : 1) {
                const float *qi = x->q + idx4(c, c->sq, b, h, i, 0);
                const float *o = out + idx4(c, c->sq, b, h, i, 0);
                const float *oo = other ? other + idx4(c, c->sq, b, h, i, 0) : NULL;
                double m = -INFINITY;
                int64_t na = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    att[j] = !masked(c, x, b, i, j);
                    if (!att[j]) {
                        s[j] = -INFINITY, r[j] = 0;
                        continue;
                    }
                    const float *kj = x->k + idx4(c, c->sk, b, h, j, 0);
                    double dot = 0, mag = 0;
                    for (int64_t dd = 0; dd < c->d; dd++) {
                        dot += (double)qi[dd] * kj[dd];
                        mag += fabs((double)qi[dd] * kj[dd]);
                    }
                    s[j] = (double)scale * dot;
                    r[j] = g_d * fabs((double)scale) * mag; /* D_j */
                    ord[na++] = j;
                    if (s[j] > m)
                        m = s[j];
                }
                checked_rows++;
                bool skip = false;
                for (int64_t j = 0; j < c->sk; j++)
                    in[j] = att[j];
                if (sp == CLF_ATTN_TOPK && na > c->var.topk) {
                    /* sort attended keys by (score desc, index asc) */
                    for (int64_t a = 1; a < na; a++) {
                        int64_t t = ord[a], z = a;
                        while (z > 0 && (s[ord[z - 1]] < s[t] ||
                                         (s[ord[z - 1]] == s[t] && ord[z - 1] > t))) {
                            ord[z] = ord[z - 1];
                            z--;
                        }
                        ord[z] = t;
                    }
                    int64_t kk = c->var.topk;
                    for (int64_t a = kk; a < na; a++)
                        in[ord[a]] = false;
                    int64_t j1 = ord[kk - 1], j2 = ord[kk];
                    double gap = s[j1] - s[j2];
                    if (gap != 0 && gap <= r[j1] + r[j2] + 1e-30)
                        skip = true;
                }
                double sumA = 0, RA = 0;
                for (int64_t j = 0; j < c->sk; j++)
                    if (att[j])
                        sumA += exp(s[j] - m);
                for (int64_t j = 0; j < c->sk; j++) {
                    if (!att[j])
                        continue;
                    r[j] = exp(r[j] + 2 * u * (m - s[j])) * exp_f - 1;
                    RA += exp(s[j] - m) / sumA * r[j];
                }
                bool plain = false; /* threshold without renormalisation */
                int32_t nkept = 0;
                if (sp == CLF_ATTN_THRESHOLD) {
                    double tau = c->var.threshold;
                    for (int64_t j = 0; j < c->sk; j++) {
                        if (!att[j])
                            continue;
                        double p = exp(s[j] - m) / sumA;
                        e[j] = (1 + r[j]) * (1 + RA + g_n) * (1 + 3 * u) / (1 - RA - g_n) - 1;
                        in[j] = p >= tau;
                        nkept += in[j];
                        if (tau > 0 && fabs(p - tau) <= p * e[j] + 1e-30)
                            skip = true;
                    }
                    plain = !c->var.renormalize;
                }
                if (skip) {
                    skipped_rows++;
                    continue;
                }
                if (kept && kept[(b * c->h + h) * c->sq + i] != nkept) {
                    printf("row (%lld, %lld, %lld): kept %d, reference %d\n", (long long)b,
                           (long long)h, (long long)i, kept[(b * c->h + h) * c->sq + i], nkept);
                    worst = INFINITY;
                }
                /* the weights over the set S = in */
                double mS = -INFINITY, sum = 0, R = 0;
                for (int64_t j = 0; j < c->sk; j++)
                    if (in[j] && s[j] > mS)
                        mS = s[j];
                if (mS == -INFINITY) { /* nothing attended (or kept): zeros */
                    for (int64_t dd = 0; dd < c->d; dd++)
                        if (o[dd] != 0.0f)
                            return INFINITY;
                    continue;
                }
                for (int64_t j = 0; j < c->sk; j++) {
                    w[j] = in[j] ? (plain ? exp(s[j] - m) / sumA : exp(s[j] - mS)) : 0;
                    sum += w[j];
                }
                if (!plain)
                    for (int64_t j = 0; j < c->sk; j++) {
                        w[j] /= sum;
                        if (in[j])
                            R += w[j] * r[j];
                    }
                for (int64_t dd = 0; dd < c->d; dd++) {
                    double ref = 0, a = 0, err = 0;
                    for (int64_t j = 0; j < c->sk; j++) {
                        if (!in[j] || w[j] == 0)
                            continue;
                        double vj = x->v[idx4(c, c->sk, b, h, j, dd)];
                        ref += w[j] * vj;
                        if (plain) {
                            err += w[j] * e[j] * fabs(vj) + g_n * w[j] * (1 + e[j]) * fabs(vj);
                        } else {
                            a += w[j] * fabs(vj);
                            err += w[j] * (r[j] + R) * fabs(vj);
                        }
                    }
                    double bound;
                    if (plain) {
                        bound = err + 1e-30;
                    } else {
                        err /= 1 - R;
                        bound = err + (2 * g_n + u) * (a + err) + 1e-30;
                    }
                    double ratio = fabs((double)o[dd] - ref) / bound;
                    if (oo) {
                        double r2 = fabs((double)o[dd] - (double)oo[dd]) / (2 * bound);
                        ratio = isnan(r2) ? INFINITY : ratio > r2 ? ratio : r2;
                    }
                    if (!(ratio <= worst))
                        worst = isnan(ratio) ? INFINITY : ratio;
                }
            }
    free(s);
    free(w);
    free(r);
    free(e);
    free(in);
    free(att);
    free(ord);
    return worst;
}

/* Device side: q, k, v (dense, or views of one [B, S, 3 H D] tensor), out
 * (NULL, or a view of [B, S, H D]), pad, kept. */
struct dev {
    struct clf_tensor *q, *k, *v, *out, *pad, *kept;
    struct clf_tensor *base[2], *views[4];
};

static void upload(const struct scase *c, const struct data *x, struct dev *dv)
{
    struct clf_ctx *ctx = test_ctx();
    memset(dv, 0, sizeof *dv);
    int64_t B = c->b, H = c->h, D = c->d;
    int64_t qs[4] = {B, H, c->sq, D}, ks[4] = {B, H, c->sk, D};
    if (c->strided) {
        ck_assert_int_eq(c->sq, c->sk);
        int64_t S = c->sq;
        int64_t xs[3] = {B, S, 3 * H * D}, ys[3] = {B, S, H * D};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &dv->base[0]));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, ys, &dv->base[1]));
        int64_t st[4] = {S * 3 * H * D, D, 3 * H * D, 1}, ot[4] = {S * H * D, D, H * D, 1};
        dv->q = dv->views[0] = test_view4(dv->base[0], qs, st, 0);
        dv->k = dv->views[1] = test_view4(dv->base[0], ks, st, H * D);
        dv->v = dv->views[2] = test_view4(dv->base[0], ks, st, 2 * H * D);
        dv->out = dv->views[3] = test_view4(dv->base[1], qs, ot, 0);
    } else {
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &dv->q));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, ks, &dv->k));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, ks, &dv->v));
    }
    test_write_all(dv->q, x->q);
    test_write_all(dv->k, x->k);
    test_write_all(dv->v, x->v);
    if (x->pad)
        dv->pad = test_upload_pad(B, c->sk, x->pad);
    if (c->kept) {
        int64_t ks3[3] = {B, H, c->sq};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 3, ks3, &dv->kept));
    }
}

static void release(struct dev *dv)
{
    if (dv->base[0]) {
        for (int i = 0; i < 4; i++)
            clf_tensor_destroy(dv->views[i]);
        clf_tensor_destroy(dv->base[0]);
        clf_tensor_destroy(dv->base[1]);
    } else {
        clf_tensor_destroy(dv->q);
        clf_tensor_destroy(dv->k);
        clf_tensor_destroy(dv->v);
    }
    clf_tensor_destroy(dv->pad);
    clf_tensor_destroy(dv->kept);
}

static void run_case(struct scase c)
{
    struct clf_ctx *ctx = test_ctx();
    struct data x = {0};
    size_t nq = (size_t)(c.b * c.h * c.sq * c.d), nk = (size_t)(c.b * c.h * c.sk * c.d);
    x.q = test_random_floats(nq, -2, 2);
    x.k = test_random_floats(nk, -2, 2);
    x.v = test_random_floats(nk, -1, 1);
    if (c.dup > 0)
        for (int64_t bh = 0; bh < c.b * c.h; bh++)
            for (int64_t j = 0; j + c.dup < c.sk; j += 2 * c.dup)
                memcpy(x.k + (size_t)((bh * c.sk + j + c.dup) * c.d),
                       x.k + (size_t)((bh * c.sk + j) * c.d), (size_t)c.d * sizeof(float));
    if (c.nan_from > 0)
        for (int64_t bh = 0; bh < c.b * c.h; bh++)
            for (int64_t j = c.nan_from; j < c.sk; j++)
                for (int64_t dd = 0; dd < c.d; dd++) {
                    x.k[(size_t)((bh * c.sk + j) * c.d + dd)] = NAN;
                    x.v[(size_t)((bh * c.sk + j) * c.d + dd)] = NAN;
                }
    if (c.pad) {
        x.pad = calloc((size_t)(c.b * c.sk), sizeof *x.pad);
        for (int64_t b = 0; b < c.b; b++)
            for (int64_t j = 0; j < c.sk; j++)
                x.pad[b * c.sk + j] = c.pad == 2 ? j == 0 : (test_rand_u64() % 4 == 0);
    }
    struct dev dv;
    upload(&c, &x, &dv);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    p.causal = c.causal;
    p.key_padding = dv.pad;
    p.out = dv.out;
    p.variant = c.var;
    p.kept = dv.kept;
    struct clf_tensor *y = NULL, *ye = NULL;
    ck_assert_ok(ctx, clf_attention_record(g, dv.q, dv.k, dv.v, &p, c.family, &y));
    size_t nodes = clf_graph_node_count(g);
    ck_assert_uint_eq(nodes, c.var.sparsity == CLF_ATTN_TOPK ? 2 : c.kept ? 2 : 1);
    struct clf_graph *ge = NULL;
    if (c.vs_exact) {
        ck_assert_ok(ctx, clf_graph_create(ctx, &ge));
        struct clf_attention_params pe = clf_attention_params_default();
        pe.causal = c.causal;
        pe.key_padding = dv.pad;
        pe.impl = CLF_ATTN_FUSED;
        ck_assert_ok(ctx, clf_op_attention(ge, dv.q, dv.k, dv.v, &pe, &ye));
        test_poison(ye);
        ck_assert_ok(ctx, clf_graph_run(ge));
    }
    char desc[256];
    for (int run = 0; run < 2; run++) {
        test_poison(dv.base[1] ? dv.base[1] : y);
        if (dv.kept) {
            int32_t *fill = malloc((size_t)(c.b * c.h * c.sq) * sizeof *fill);
            for (int64_t i = 0; i < c.b * c.h * c.sq; i++)
                fill[i] = -12345;
            ck_assert_ok(ctx, clf_tensor_write(dv.kept, fill,
                                               (size_t)(c.b * c.h * c.sq) * sizeof *fill));
            free(fill);
        }
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        float *other = ye ? test_read_all(ye) : NULL;
        int32_t *kept = NULL;
        if (dv.kept) {
            kept = malloc((size_t)(c.b * c.h * c.sq) * sizeof *kept);
            ck_assert_ok(ctx, clf_tensor_read(dv.kept, kept,
                                              (size_t)(c.b * c.h * c.sq) * sizeof *kept));
        }
        snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
        double r = check(&c, &x, out, other, kept);
        ck_assert_msg(r <= 1,
                      "%s: b%lld h%lld sq%lld sk%lld d%lld causal %d pad %d dup %d nan %d: error "
                      "%g x bound (run %d)",
                      desc, (long long)c.b, (long long)c.h, (long long)c.sq, (long long)c.sk,
                      (long long)c.d, c.causal, c.pad, c.dup, c.nan_from, r, run);
        if (getenv("SPARSE_TEST_VERBOSE") && run == 0)
            printf("%-100s ratio %.3g\n", desc, r);
        free(out);
        free(other);
        free(kept);
    }
    char var[64];
    clf_attention_variant_str(&c.var, var, sizeof var);
    ck_assert_msg(strstr(desc, var), "%s (wanted %s)", desc, var);
    /* the device's own choice is the CPU family on CPU devices only */
    struct clf_device_info info;
    clf_ctx_device_info(ctx, &info);
    const bool item = c.family == CLF_ATTN_FUSED_GROUP ||
                      (c.family == CLF_ATTN_FUSED_BY_DEVICE && info.type != CLF_DEVICE_CPU);
    ck_assert_msg(strstr(desc, item ? " item (" : " cpu ("), "%s", desc);
    clf_graph_destroy(g);
    clf_graph_destroy(ge);
    release(&dv);
    free(x.q);
    free(x.k);
    free(x.v);
    free(x.pad);
}

static struct scase mk(int64_t sq, int64_t sk, int64_t d, enum clf_attention_sparsity sp)
{
    struct scase c;
    memset(&c, 0, sizeof c);
    c.b = 1, c.h = 2, c.sq = sq, c.sk = sk, c.d = d;
    c.var.sparsity = sp;
    c.family = CLF_ATTN_FUSED_BY_DEVICE;
    c.row_step = 1;
    return c;
}

static const int64_t sizes[][3] = {{1, 1, 32},    {7, 7, 64},    {100, 100, 80},
                                   {13, 100, 128}, {100, 13, 32}, {513, 513, 64}};

static enum clf_attn_fused_variant family(int f)
{
    return f ? CLF_ATTN_FUSED_GROUP : CLF_ATTN_FUSED_BY_DEVICE;
}

START_TEST(test_window)
{
    static const int64_t wins[][3] = {{3, 3, 0}, {0, 5, 0}, {16, 4, 2}, {0, 0, 0}, {40, 40, 5}};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (size_t w = 0; w < sizeof wins / sizeof wins[0]; w++) {
                struct scase c = mk(sizes[i][0], sizes[i][1], sizes[i][2], CLF_ATTN_WINDOW);
                c.var.window_left = wins[w][0];
                c.var.window_right = wins[w][1];
                c.var.global_tokens = wins[w][2];
                c.causal = (w + i) % 2;
                c.pad = w == 2 ? 1 : w == 4 ? 2 : 0;
                c.family = family(f);
                c.row_step = c.sq > 200 ? 5 : 1;
                run_case(c);
            }
}
END_TEST

START_TEST(test_threshold)
{
    static const float taus[] = {0.01f, 0.05f, 0.002f};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int t = 0; t < 3; t++) {
                struct scase c = mk(sizes[i][0], sizes[i][1], sizes[i][2], CLF_ATTN_THRESHOLD);
                c.var.threshold = taus[t];
                c.var.renormalize = t == 1;
                c.kept = t != 2;
                c.causal = (t + i) % 2;
                c.pad = t == 2 ? 1 : 0;
                c.family = family(f);
                c.row_step = c.sq > 200 ? 5 : 1;
                run_case(c);
            }
}
END_TEST

START_TEST(test_topk)
{
    static const int64_t ks[] = {1, 5, 32, 256};
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int t = 0; t < 4; t++) {
                struct scase c = mk(sizes[i][0], sizes[i][1], sizes[i][2], CLF_ATTN_TOPK);
                c.var.topk = ks[t];
                c.causal = (t + i) % 2;
                c.pad = t == 1 ? 1 : 0;
                c.dup = t == 2 ? 3 : 0;
                c.family = family(f);
                c.row_step = c.sq > 200 ? 5 : 1;
                run_case(c);
            }
}
END_TEST

/* Where the variant keeps every key it is exact attention: same output as
 * clf_op_attention on the same inputs within the rounding bound. */
START_TEST(test_equivalences)
{
    for (int f = 0; f < 2; f++)
        for (int v = 0; v < 3; v++)
            for (int causal = 0; causal < 2; causal++) {
                struct scase c = mk(130, 130, 64, CLF_ATTN_WINDOW + 0);
                c.causal = causal;
                c.pad = causal ? 1 : 0;
                c.family = family(f);
                c.vs_exact = true;
                if (v == 0) {
                    c.var.sparsity = CLF_ATTN_WINDOW;
                    c.var.window_left = c.var.window_right = 130;
                } else if (v == 1) {
                    c.var.sparsity = CLF_ATTN_TOPK;
                    c.var.topk = causal ? 1000 : 130;
                } else {
                    c.var.sparsity = CLF_ATTN_THRESHOLD;
                    c.var.threshold = 0;
                    c.kept = true;
                }
                run_case(c);
            }
}
END_TEST

/* Keys beyond every query's band hold NaN in K and V: never read. With
 * seq_q = 64 and window 5 (no global tokens: a global query attends every
 * key), keys >= 69 are outside every band; with causal, keys > 63. */
START_TEST(test_window_reads_band_only)
{
    for (int f = 0; f < 2; f++)
        for (int causal = 0; causal < 2; causal++) {
            struct scase c = mk(64, 700, 64, CLF_ATTN_WINDOW);
            c.var.window_left = c.var.window_right = 5;
            c.causal = causal;
            c.nan_from = causal ? 64 : 69;
            c.family = family(f);
            run_case(c);
        }
}
END_TEST

/* Strided q/k/v views of one projection, strided out; batch > 1 with
 * padding; head_dim 80 and 128. */
START_TEST(test_strided_batches)
{
    for (int v = 0; v < 3; v++)
        for (int f = 0; f < 2; f++) {
            struct scase c = mk(45, 45, v == 1 ? 80 : 128, CLF_ATTN_WINDOW + 0);
            c.b = 2, c.h = 3;
            c.strided = true;
            c.pad = 1;
            c.causal = v != 2;
            c.family = family(f);
            c.var.sparsity = v == 0 ? CLF_ATTN_WINDOW : v == 1 ? CLF_ATTN_THRESHOLD : CLF_ATTN_TOPK;
            c.var.window_left = 4, c.var.window_right = 9, c.var.global_tokens = 1;
            c.var.threshold = 0.02f;
            c.kept = v == 1;
            c.var.topk = 7;
            run_case(c);
        }
}
END_TEST

/* Top-k is two nodes (selection, attention), each timed. */
START_TEST(test_topk_nodes)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[4] = {1, 4, 300, 64};
    float *x = test_random_floats(4 * 300 * 64, -1, 1);
    struct clf_tensor *t = test_upload(4, shape, x);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    ck_assert_ok(ctx, clf_attention_variant_parse("topk:16", &p.variant, NULL, 0));
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_op_attention(g, t, t, t, &p, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), 2);
    ck_assert_ok(ctx, clf_graph_run(g));
    struct clf_node_info n0 = test_node_info(g, 0), n1 = test_node_info(g, 1);
    ck_assert_msg(strstr(n0.desc, "topk:16 select"), "%s", n0.desc);
    ck_assert_msg(strstr(n1.desc, "topk:16 attend"), "%s", n1.desc);
    ck_assert_str_eq(n0.op, "attention");
    ck_assert_str_eq(n1.op, "attention");
    ck_assert(n0.timed && n1.timed);
    ck_assert(n0.time_ms > 0 && n1.time_ms > 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(t);
    free(x);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s4[4] = {2, 3, 5, 8}, sk[4] = {2, 3, 7, 8}, s3[3] = {2, 3, 5}, s3b[3] = {2, 3, 7};
    struct clf_tensor *q, *k, *v, *kept, *kept_bad, *kept_f;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s4, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sk, &k));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, sk, &v));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 3, s3, &kept));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 3, s3b, &kept_bad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3, &kept_f));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *y = NULL;
    struct clf_attention_params p = clf_attention_params_default();

    p.variant.sparsity = CLF_ATTN_TOPK;
    p.variant.topk = 0;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant.topk = -3;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant = clf_attention_params_default().variant;
    p.variant.sparsity = CLF_ATTN_WINDOW;
    p.variant.window_left = -1;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant.window_left = 2, p.variant.window_right = -2;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant.window_right = 2, p.variant.global_tokens = -1;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant.global_tokens = 0;
    p.variant.sparsity = CLF_ATTN_THRESHOLD;
    const float bad_tau[] = {-0.1f, 1.0f, 2.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_tau / sizeof bad_tau[0]; i++) {
        p.variant.threshold = bad_tau[i];
        ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    }
    p.variant.threshold = 0.1f;
    p.kept = kept_bad;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "kept"));
    p.kept = kept_f;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    p.kept = q;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_SHAPE);
    p.kept = kept;
    p.variant.sparsity = CLF_ATTN_WINDOW;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    p.variant.sparsity = (enum clf_attention_sparsity)9;
    ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* valid calls record: threshold with counts (node + counts marker),
     * top-k (two nodes), window (one) */
    p.variant.sparsity = CLF_ATTN_THRESHOLD;
    ck_assert_ok(ctx, clf_op_attention(g, q, k, v, &p, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), 2);
    p.kept = NULL;
    ck_assert_ok(ctx, clf_attention_variant_parse("topk:3", &p.variant, NULL, 0));
    ck_assert_ok(ctx, clf_op_attention(g, q, k, v, &p, &y));
    ck_assert_ok(ctx, clf_attention_variant_parse("window:2,global:1", &p.variant, NULL, 0));
    ck_assert_ok(ctx, clf_op_attention(g, q, k, v, &p, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), 5);
    ck_assert_ok(ctx, clf_graph_run(g));
    clf_graph_destroy(g);
    struct clf_tensor *all[] = {q, k, v, kept, kept_bad, kept_f};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

START_TEST(test_skipped_few)
{
    printf("selection-boundary rows skipped: %lld of %lld\n", (long long)skipped_rows,
           (long long)checked_rows);
    ck_assert(skipped_rows * 20 <= checked_rows);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("attention-sparse");
    TCase *tc = tcase_create("attention-sparse");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_threshold);
    tcase_add_test(tc, test_topk);
    tcase_add_test(tc, test_equivalences);
    tcase_add_test(tc, test_window_reads_band_only);
    tcase_add_test(tc, test_strided_batches);
    tcase_add_test(tc, test_topk_nodes);
    tcase_add_test(tc, test_skipped_few);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
