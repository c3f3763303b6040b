/*
 * Linformer (clf_op_attention with CLF_ATTN_LINFORMER): K' = E.K, V' = F.V
 * along the sequence, then exact attention on (K', V').
 *
 * Checked two ways (DESIGN.md section 5):
 *  1. exactness: K and V piecewise-constant over the segments of the mean
 *     projection (every key of a segment identical) make Linformer equal to
 *     exact attention over the n un-projected keys when the segments are
 *     equally long (n a multiple of r). When they are not (the first n mod r
 *     segments hold one key more), exact attention weights a segment by its
 *     length and Linformer does not, so the reference there is exact
 *     attention over the n keys with the last key of each longer segment
 *     masked (every segment then counts floor(n/r) identical keys); the
 *     segment boundaries must still be right, since a projected key that
 *     straddles two segments mixes their values. r = n (E = I) and r > n
 *     (capped at n) with the mean projection are exact attention, unmasked;
 *  2. against a double-precision reference that applies the same
 *     projection (segment means built here independently; the Gaussian one
 *     read from the library's host generator, whose statistics are checked;
 *     a user-given E, F) on random inputs.
 * Also: Gaussian projections are deterministic per seed, and bad
 * arguments fail before anything is recorded.
 *
 * Error bound. Let K', V' be the projections in double (from the float
 * inputs, with E exact: 1/len for means, the float E otherwise). The
 * device's K'^ = fl(E^ K), E^ = fl(1/len) (relative error <= u), through a
 * GEMM of n terms in any order: |K'^ - K'| <= dK = gamma_{n+2} |E| |K|
 * (Higham 3.1; elementwise), likewise dV = gamma_{n+2} |F| |V|. The
 * attention then runs on (K'^, V'^) with r keys, and test-attention.c's
 * bound applies to it (T = ceil(r/4) rescales, N = r + T + 2 roundings per
 * accumulated term) with two additions:
 *  - the scores see K'^ instead of K': D_j gets scale sum_dd |q| dK_j, and
 *    the dot-product rounding term uses |K'| + dK;
 *  - the values are V'^: the convex combination with weights
 *    w~_j <= w_j (1 + r_j) / (1 - R) moves by at most
 *    EV = sum_j w_j (1 + r_j) dV_j / (1 - R), and |V'| + dV enters A and E.
 * So |o^ - o| <= E + EV + (2 gamma_N + u)(A + E + EV) + 1e-30. The
 * 2u (M - s_j) exponent term takes 2 max_j D_j more to cover the shift of
 * the maximum by the perturbed scores. In the exactness checks the
 * reference is the same function over the n un-projected keys (the r
 * distinct ones repeated equally often give the same softmax), each key
 * carrying its segment's dK, dV.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/ops/attention.h" /* internal: forcing the kernel family, the generator */
#include "common.h"

enum layout {
    L_DENSE = 0, /* separate dense [B, H, S, D] tensors, out made by the op */
    L_QKV = 1,   /* q, k, v views of one [B, S, 3 H D] tensor (sq == n), out a view of
                    a [B, S, H D] tensor */
    L_PERM = 2   /* k, v stored [H, B, n, D]: (batch, head) strides do not flatten, so
                    the projection runs one GEMM per batch entry */
};

enum proj_kind { P_MEAN = 0, P_GAUSS = 1, P_GIVEN = 2 };

struct lcase {
    int64_t b, h, sq, n, d, r;
    enum proj_kind proj;
    uint64_t seed;
    enum layout layout;
    enum clf_attn_fused_variant family;
    bool piecewise; /* exactness check against un-projected exact attention */
};

static size_t ix(const struct lcase *c, int64_t s, int64_t b, int64_t h, int64_t i, int64_t dd)
{
    return (size_t)(((b * c->h + h) * s + i) * c->d + dd);
}

/* Segment of key j under the mean projection of n keys into r rows. */
static int64_t segment_of(int64_t n, int64_t r, int64_t j, int64_t *len)
{
    int64_t base = n / r, extra = n % r;
    int64_t i = j < extra * (base + 1) ? j / (base + 1) : extra + (j - extra * (base + 1)) / base;
    if (len)
        *len = base + (i < extra);
    return i;
}

/*
 * Largest error / bound ratio of out against attention of q over nk
 * "keys" Kd, Vd (double, [B, H, nk, D]) with perturbation bounds dK, dV
 * (same layout), keys with keep[j] == 0 left out (keep NULL: all), the
 * device having run over sk_dev keys.
 */
static double check(const struct lcase *c, const float *q, const double *Kd, const double *Vd,
                    const double *dK, const double *dV, int64_t nk, const unsigned char *keep,
                    int64_t sk_dev, const float *out)
{
    const float scale = (float)(1.0 / sqrt((double)c->d));
    const double u = TEST_U32;
    const int64_t T = (sk_dev + 3) / 4;
    const double g_d = test_gamma((double)c->d + 2), g_n = test_gamma((double)(sk_dev + T + 2));
    const double exp_f = pow(1 + 6 * u, (double)(T + 1));
    double *s = malloc((size_t)nk * sizeof *s), *w = malloc((size_t)nk * sizeof *w);
    double *rr = malloc((size_t)nk * sizeof *rr);
    double worst = 0;
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < c->sq; i++) {
                const float *qi = q + ix(c, c->sq, b, h, i, 0);
                const float *o = out + ix(c, c->sq, b, h, i, 0);
                double m = -INFINITY, dmax = 0;
                for (int64_t j = 0; j < nk; j++) {
                    size_t kj = ix(c, nk, b, h, j, 0);
                    double dot = 0, mag = 0, pert = 0;
                    for (int64_t dd = 0; dd < c->d; dd++) {
                        double aq = fabs((double)qi[dd]);
                        dot += (double)qi[dd] * Kd[kj + dd];
                        mag += aq * (fabs(Kd[kj + dd]) + dK[kj + dd]);
                        pert += aq * dK[kj + dd];
                    }
                    s[j] = (double)scale * dot;
                    rr[j] = (g_d * mag + pert) * fabs((double)scale); /* D_j */
                    if (!keep || keep[j]) {
                        m = s[j] > m ? s[j] : m;
                        dmax = rr[j] > dmax ? rr[j] : dmax;
                    }
                }
                double sum = 0;
                for (int64_t j = 0; j < nk; j++) {
                    w[j] = keep && !keep[j] ? 0 : exp(s[j] - m);
                    sum += w[j];
                }
                double R = 0;
                for (int64_t j = 0; j < nk; j++) {
                    w[j] /= sum;
                    rr[j] = exp(rr[j] + 2 * u * (m - s[j] + 2 * dmax)) * exp_f - 1;
                    R += w[j] * rr[j];
                }
                for (int64_t dd = 0; dd < c->d; dd++) {
                    double ref = 0, a = 0, e = 0, ev = 0;
                    for (int64_t j = 0; j < nk; j++) {
                        if (w[j] == 0)
                            continue;
                        size_t kj = ix(c, nk, b, h, j, dd);
                        double av = fabs(Vd[kj]) + dV[kj];
                        ref += w[j] * Vd[kj];
                        a += w[j] * av;
                        e += w[j] * (rr[j] + R) * av;
                        ev += w[j] * (1 + rr[j]) * dV[kj];
                    }
                    e /= 1 - R;
                    ev /= 1 - R;
                    double bound = e + ev + (2 * g_n + u) * (a + e + ev) + 1e-30;
                    double ratio = fabs((double)o[dd] - ref) / bound;
                    if (!(ratio <= worst))
                        worst = isnan(ratio) ? INFINITY : ratio;
                }
            }
    free(s);
    free(w);
    free(rr);
    return worst;
}

/* P [r, n] applied to X [B, H, n, D] in double: Y = P X and dY =
 * gamma_{n+2} |P| |X|. */
static void project_ref(const struct lcase *c, const double *P, int64_t r, const float *X,
                        double *Y, double *dY)
{
    const double g = test_gamma((double)c->n + 2);
    for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->h; h++)
            for (int64_t i = 0; i < r; i++)
                for (int64_t dd = 0; dd < c->d; dd++) {
                    double y = 0, mag = 0;
                    for (int64_t j = 0; j < c->n; j++) {
                        double t = P[i * c->n + j] * X[ix(c, c->n, b, h, j, dd)];
                        y += t;
                        mag += fabs(t);
                    }
                    Y[ix(c, r, b, h, i, dd)] = y;
                    dY[ix(c, r, b, h, i, dd)] = g * mag;
                }
}

/* Device tensors of a case. */
struct dev {
    struct clf_tensor *q, *k, *v, *out;
    struct clf_tensor *owned[8];
    int n_owned;
};

static struct clf_tensor *own(struct dev *dv, struct clf_tensor *t)
{
    dv->owned[dv->n_owned++] = t;
    return t;
}

static struct clf_tensor *create(struct dev *dv, int ndim, const int64_t *shape)
{
    struct clf_tensor *t = NULL;
    ck_assert_ok(test_ctx(), clf_tensor_create(test_ctx(), CLF_F32, ndim, shape, &t));
    return own(dv, t);
}

static struct clf_tensor *view(struct dev *dv, struct clf_tensor *base, const int64_t *shape,
                               const int64_t *strides, int64_t offset)
{
    struct clf_tensor *t = NULL;
    ck_assert_ok(test_ctx(), clf_tensor_view(base, 4, shape, strides, offset, &t));
    return own(dv, t);
}

static void write_all(struct clf_tensor *t, const float *x)
{
    ck_assert_ok(test_ctx(), clf_tensor_write(t, x, (size_t)clf_tensor_numel(t) * sizeof *x));
}

static void upload(const struct lcase *c, const float *q, const float *k, const float *v,
                   struct dev *dv)
{
    memset(dv, 0, sizeof *dv);
    const int64_t B = c->b, H = c->h, D = c->d, n = c->n;
    int64_t qs[4] = {B, H, c->sq, D}, ks[4] = {B, H, n, D};
    if (c->layout == L_QKV) {
        ck_assert_int_eq(c->sq, n);
        int64_t xs[3] = {B, n, 3 * H * D}, ys[3] = {B, n, H * D};
        struct clf_tensor *x = create(dv, 3, xs), *y = create(dv, 3, ys);
        int64_t st[4] = {n * 3 * H * D, D, 3 * H * D, 1}, ot[4] = {n * H * D, D, H * D, 1};
        test_poison(x);
        dv->q = view(dv, x, qs, st, 0);
        dv->k = view(dv, x, ks, st, H * D);
        dv->v = view(dv, x, ks, st, 2 * H * D);
        dv->out = view(dv, y, qs, ot, 0);
    } else {
        dv->q = create(dv, 4, qs);
        if (c->layout == L_PERM) {
            int64_t ps[4] = {H, B, n, D}, pt[4] = {n * D, B * n * D, D, 1};
            dv->k = view(dv, create(dv, 4, ps), ks, pt, 0);
            dv->v = view(dv, create(dv, 4, ps), ks, pt, 0);
        } else {
            dv->k = create(dv, 4, ks);
            dv->v = create(dv, 4, ks);
        }
    }
    write_all(dv->q, q);
    write_all(dv->k, k);
    write_all(dv->v, v);
}

static void release(struct dev *dv)
{
    for (int i = dv->n_owned - 1; i >= 0; i--)
        clf_tensor_destroy(dv->owned[i]);
}

static float *random_floats(size_t n, double lo, double hi)
{
    float *x = malloc(n * sizeof *x);
    test_fill_uniform(x, n, lo, hi);
    return x;
}

static const char *proj_name(enum proj_kind p)
{
    return p == P_MEAN ? "mean" : p == P_GAUSS ? "gauss" : "given";
}

/* Records and runs Linformer on the case's device tensors (twice, output
 * poisoned each time; the second run must give the same bits); returns the
 * output read back (malloc'd). E, F: the given projections (P_GIVEN). */
static float *run_linformer(const struct lcase *c, struct dev *dv, struct clf_tensor *e,
                            struct clf_tensor *f)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    p.variant.sparsity = CLF_ATTN_LINFORMER;
    p.variant.rank = c->r;
    p.variant.projection = c->proj == P_GAUSS ? CLF_PROJ_GAUSSIAN : CLF_PROJ_MEAN;
    p.variant.seed = c->seed;
    p.proj_e = e;
    p.proj_f = f;
    p.out = dv->out;
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_attention_record(g, dv->q, dv->k, dv->v, &p, c->family, &y));
    if (dv->out)
        ck_assert_ptr_eq(y, dv->out);
    float *first = NULL;
    size_t n = (size_t)(c->b * c->h * c->sq * c->d);
    for (int run = 0; run < 2; run++) {
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *o = test_read_all(y);
        if (!first) {
            first = o;
        } else {
            ck_assert_msg(memcmp(first, o, n * sizeof *o) == 0, "second run differs");
            free(o);
        }
    }
    if (getenv("ATTN_TEST_VERBOSE")) {
        char desc[256];
        for (size_t i = 0; i < clf_graph_node_count(g); i++)
            if (clf_graph_node_desc(g, i, desc, sizeof desc) == CLF_OK)
                printf("  node %zu: %s\n", i, desc);
    }
    clf_graph_destroy(g);
    return first;
}

static void report(const struct lcase *c, const char *what, double ratio)
{
    if (getenv("ATTN_TEST_VERBOSE"))
        printf("%s b%lld h%lld sq%lld n%lld d%lld r%lld %s layout %d family %d: ratio %.3g\n",
               what, (long long)c->b, (long long)c->h, (long long)c->sq, (long long)c->n,
               (long long)c->d, (long long)c->r, proj_name(c->proj), (int)c->layout,
               (int)c->family, ratio);
    ck_assert_msg(ratio <= 1,
                  "%s b%lld h%lld sq%lld n%lld d%lld r%lld %s layout %d family %d: error %g x "
                  "bound",
                  what, (long long)c->b, (long long)c->h, (long long)c->sq, (long long)c->n,
                  (long long)c->d, (long long)c->r, proj_name(c->proj), (int)c->layout,
                  (int)c->family, ratio);
}

/* Exactness: K, V piecewise-constant over the segments (c->proj == P_MEAN,
 * c->r <= n), or c->r >= n (E = I): against exact attention over the n
 * un-projected keys. */
static void run_exact_case(struct lcase c)
{
    const int64_t n = c.n, r = c.r < n ? c.r : n; /* r > n is capped */
    size_t nq = (size_t)(c.b * c.h * c.sq * c.d), nk = (size_t)(c.b * c.h * n * c.d);
    float *q = random_floats(nq, -2, 2), *k = random_floats(nk, -2, 2);
    float *v = random_floats(nk, -1, 1);
    unsigned char *keep = NULL;
    if (r < n) {
        /* every key of a segment takes the segment's first key */
        for (int64_t b = 0; b < c.b; b++)
            for (int64_t h = 0; h < c.h; h++)
                for (int64_t j = 0; j < n; j++) {
                    int64_t len, s = segment_of(n, r, j, &len), first = j;
                    while (first > 0 && segment_of(n, r, first - 1, NULL) == s)
                        first--;
                    memcpy(k + ix(&c, n, b, h, j, 0), k + ix(&c, n, b, h, first, 0),
                           (size_t)c.d * sizeof *k);
                    memcpy(v + ix(&c, n, b, h, j, 0), v + ix(&c, n, b, h, first, 0),
                           (size_t)c.d * sizeof *v);
                }
        if (n % r) {
            keep = malloc((size_t)n);
            for (int64_t j = 0; j < n; j++) {
                int64_t len, s = segment_of(n, r, j, &len);
                keep[j] = !(len > n / r && (j + 1 == n || segment_of(n, r, j + 1, NULL) != s));
            }
        }
    }
    double *Kd = malloc(nk * sizeof *Kd), *Vd = malloc(nk * sizeof *Vd);
    double *dK = malloc(nk * sizeof *dK), *dV = malloc(nk * sizeof *dV);
    const double g = test_gamma((double)n + 2);
    for (size_t i = 0; i < nk; i++) {
        Kd[i] = k[i];
        Vd[i] = v[i];
        dK[i] = g * fabs((double)k[i]); /* |E||K| of the key's segment is |k| */
        dV[i] = g * fabs((double)v[i]);
    }
    struct dev dv;
    upload(&c, q, k, v, &dv);
    float *out = run_linformer(&c, &dv, NULL, NULL);
    report(&c, c.r >= n ? "identity" : "piecewise", check(&c, q, Kd, Vd, dK, dV, n, keep, r, out));
    free(out);
    release(&dv);
    free(q), free(k), free(v), free(keep);
    free(Kd), free(Vd), free(dK), free(dV);
}

/* Random inputs against the same projection applied in double. */
static void run_ref_case(struct lcase c)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t n = c.n, r = c.proj == P_MEAN && c.r > n ? n : c.r;
    size_t nq = (size_t)(c.b * c.h * c.sq * c.d), nk = (size_t)(c.b * c.h * n * c.d);
    size_t np = (size_t)(c.b * c.h * r * c.d);
    float *q = random_floats(nq, -2, 2), *k = random_floats(nk, -2, 2);
    float *v = random_floats(nk, -1, 1);
    double *E = calloc((size_t)(r * n), sizeof *E), *F = calloc((size_t)(r * n), sizeof *F);
    float *ef = malloc((size_t)(r * n) * sizeof *ef), *ff = malloc((size_t)(r * n) * sizeof *ff);
    switch (c.proj) {
    case P_MEAN:
        for (int64_t j = 0; j < n; j++) {
            int64_t len, s = segment_of(n, r, j, &len);
            E[s * n + j] = F[s * n + j] = 1.0 / (double)len;
        }
        break;
    case P_GAUSS:
        clf_linformer_projection(CLF_PROJ_GAUSSIAN, c.seed, r, n, 0, ef);
        clf_linformer_projection(CLF_PROJ_GAUSSIAN, c.seed, r, n, 1, ff);
        break;
    case P_GIVEN:
        test_fill_uniform(ef, (size_t)(r * n), -1, 1);
        test_fill_uniform(ff, (size_t)(r * n), 0, 2.0 / (double)n);
        break;
    }
    if (c.proj != P_MEAN)
        for (size_t i = 0; i < (size_t)(r * n); i++) {
            E[i] = ef[i];
            F[i] = ff[i];
        }
    double *Kd = malloc(np * sizeof *Kd), *Vd = malloc(np * sizeof *Vd);
    double *dK = malloc(np * sizeof *dK), *dV = malloc(np * sizeof *dV);
    project_ref(&c, E, r, k, Kd, dK);
    project_ref(&c, F, r, v, Vd, dV);
    struct dev dv;
    upload(&c, q, k, v, &dv);
    struct clf_tensor *e = NULL, *f = NULL, *ebase = NULL;
    if (c.proj == P_GIVEN) {
        /* E dense; F a transposed view (column-major storage [n, r]) */
        int64_t es[2] = {r, n}, fs[2] = {n, r}, ft[2] = {1, r};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, es, &e));
        ck_assert_ok(ctx, clf_tensor_write(e, ef, (size_t)(r * n) * sizeof *ef));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, fs, &ebase));
        ck_assert_ok(ctx, clf_tensor_view(ebase, 2, es, ft, 0, &f));
        ck_assert_ok(ctx, clf_tensor_write(f, ff, (size_t)(r * n) * sizeof *ff));
    }
    float *out = run_linformer(&c, &dv, e, f);
    report(&c, "reference", check(&c, q, Kd, Vd, dK, dV, r, NULL, r, out));
    free(out);
    clf_tensor_destroy(f);
    clf_tensor_destroy(ebase);
    clf_tensor_destroy(e);
    release(&dv);
    free(q), free(k), free(v), free(E), free(F), free(ef), free(ff);
    free(Kd), free(Vd), free(dK), free(dV);
}

#define CPU CLF_ATTN_FUSED_CPU
#define GRP CLF_ATTN_FUSED_GROUP

START_TEST(test_piecewise_exact)
{
    static const struct lcase cases[] = {
        /* b, h, sq, n, d, r, proj, seed, layout, family, piecewise */
        {1, 1, 17, 64, 32, 8, P_MEAN, 0, L_DENSE, CPU, true},
        {2, 3, 40, 100, 64, 7, P_MEAN, 0, L_DENSE, CPU, true},  /* 100 = 7 * 14 + 2 */
        {2, 2, 48, 48, 32, 5, P_MEAN, 0, L_QKV, CPU, true},     /* strided views, given out */
        {3, 2, 21, 33, 64, 4, P_MEAN, 0, L_PERM, CPU, true},    /* per-batch GEMMs */
        {2, 2, 30, 130, 64, 13, P_MEAN, 0, L_DENSE, GRP, true}, /* 130 = 13 * 10 */
        {1, 2, 9, 37, 32, 36, P_MEAN, 0, L_PERM, GRP, true},    /* segments of 1 and 2 keys */
        {2, 1, 5, 23, 64, 1, P_MEAN, 0, L_DENSE, CPU, true},    /* one segment */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_exact_case(cases[i]);
}
END_TEST

START_TEST(test_identity_rank)
{
    static const struct lcase cases[] = {
        {2, 2, 19, 19, 32, 19, P_MEAN, 0, L_QKV, CPU, false}, /* r = n: E = I */
        {1, 3, 10, 45, 64, 45, P_MEAN, 0, L_DENSE, GRP, false},
        {2, 1, 7, 12, 64, 20, P_MEAN, 0, L_PERM, CPU, false}, /* r > n: capped at n */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_exact_case(cases[i]);
}
END_TEST

START_TEST(test_reference)
{
    static const struct lcase cases[] = {
        {1, 1, 33, 64, 32, 8, P_MEAN, 0, L_DENSE, CPU, false},
        {2, 3, 50, 101, 64, 9, P_MEAN, 0, L_PERM, CPU, false},
        {2, 2, 40, 40, 32, 6, P_MEAN, 0, L_QKV, GRP, false},
        {2, 2, 31, 96, 64, 16, P_GAUSS, 7, L_DENSE, CPU, false},
        {1, 3, 24, 24, 32, 5, P_GAUSS, 12345, L_QKV, CPU, false},
        {3, 2, 20, 70, 32, 11, P_GAUSS, 3, L_PERM, GRP, false},
        {1, 2, 13, 10, 64, 16, P_GAUSS, 9, L_DENSE, CPU, false}, /* r > n */
        {2, 2, 26, 80, 64, 12, P_GIVEN, 0, L_DENSE, CPU, false},
        {2, 3, 36, 36, 32, 7, P_GIVEN, 0, L_QKV, GRP, false},
        {2, 2, 15, 29, 32, 4, P_GIVEN, 0, L_PERM, CPU, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_ref_case(cases[i]);
}
END_TEST

/* The host generator: segment means as documented; Gaussian entries of
 * mean 0 and variance 1/r, E and F different, deterministic per seed. */
START_TEST(test_generator)
{
    const int64_t r = 64, n = 256;
    size_t cnt = (size_t)(r * n);
    float *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b);
    float *c = malloc(cnt * sizeof *c);
    clf_linformer_projection(CLF_PROJ_GAUSSIAN, 42, r, n, 0, a);
    clf_linformer_projection(CLF_PROJ_GAUSSIAN, 42, r, n, 1, b);
    clf_linformer_projection(CLF_PROJ_GAUSSIAN, 42, r, n, 0, c);
    ck_assert(memcmp(a, c, cnt * sizeof *a) == 0);
    ck_assert(memcmp(a, b, cnt * sizeof *a) != 0);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < cnt; i++) {
        ck_assert(isfinite(a[i]));
        s += a[i];
        s2 += (double)a[i] * a[i];
    }
    double mean = s / (double)cnt, var = s2 / (double)cnt - mean * mean;
    /* sd of the mean: sqrt(1/r / cnt) = 9.8e-4; of the variance: ~1.1% */
    ck_assert_msg(fabs(mean) < 5e-3, "mean %g", mean);
    ck_assert_msg(fabs(var * (double)r - 1) < 0.06, "variance %g x 1/r", var * (double)r);
    clf_linformer_projection(CLF_PROJ_GAUSSIAN, 43, r, n, 0, c);
    ck_assert(memcmp(a, c, cnt * sizeof *a) != 0);
    /* segment means: 10 keys into 4 rows are 3, 3, 2, 2 keys */
    float m[40];
    clf_linformer_projection(CLF_PROJ_MEAN, 0, 4, 10, 0, m);
    static const int seg[10] = {0, 0, 0, 1, 1, 1, 2, 2, 3, 3};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 10; j++)
            ck_assert_float_eq(m[i * 10 + j], seg[j] == i ? (i < 2 ? 1.0f / 3 : 0.5f) : 0.0f);
    struct clf_attention_variant av = {.sparsity = CLF_ATTN_LINFORMER, .rank = 12};
    ck_assert_int_eq(clf_linformer_rank(&av, 10), 10);
    av.projection = CLF_PROJ_GAUSSIAN;
    ck_assert_int_eq(clf_linformer_rank(&av, 10), 12);
    free(a), free(b), free(c);
}
END_TEST

/* Two graphs with the same seed give identical outputs; another seed a
 * different one. */
START_TEST(test_gaussian_deterministic)
{
    struct lcase c = {2, 2, 20, 50, 32, 8, P_GAUSS, 99, L_DENSE, CPU, false};
    size_t nq = (size_t)(c.b * c.h * c.sq * c.d), nk = (size_t)(c.b * c.h * c.n * c.d);
    float *q = random_floats(nq, -2, 2), *k = random_floats(nk, -2, 2);
    float *v = random_floats(nk, -1, 1);
    struct dev dv;
    upload(&c, q, k, v, &dv);
    float *o1 = run_linformer(&c, &dv, NULL, NULL);
    float *o2 = run_linformer(&c, &dv, NULL, NULL);
    ck_assert(memcmp(o1, o2, nq * sizeof *o1) == 0);
    c.seed = 100;
    float *o3 = run_linformer(&c, &dv, NULL, NULL);
    size_t differ = 0;
    for (size_t i = 0; i < nq; i++)
        differ += o1[i] != o3[i];
    ck_assert_msg(differ > nq / 2, "only %zu of %zu outputs differ for another seed", differ, nq);
    release(&dv);
    free(q), free(k), free(v), free(o1), free(o2), free(o3);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 2, H = 2, n = 16, D = 32, r = 4;
    int64_t qs[4] = {B, H, n, D}, es[2] = {r, n}, bad1[2] = {r, n + 1}, bad2[2] = {r + 1, n};
    int64_t flat[1] = {r * n};
    struct clf_tensor *q = NULL, *k = NULL, *v = NULL, *e = NULL, *f = NULL, *eb1 = NULL,
                      *eb2 = NULL, *ei = NULL, *e1 = NULL, *pad = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &q));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &k));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, qs, &v));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, es, &e));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, es, &f));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, bad1, &eb1));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, bad2, &eb2));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, es, &ei));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, flat, &e1));
    int64_t ps[2] = {B, n};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &pad));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *y = NULL;
    struct clf_attention_params p = clf_attention_params_default();
    p.variant.sparsity = CLF_ATTN_LINFORMER;
#define EXPECT(want)                                                                          \
    do {                                                                                      \
        ck_assert_status(ctx, clf_op_attention(g, q, k, v, &p, &y), want);                    \
        ck_assert_ptr_null(y);                                                                \
        ck_assert_uint_eq(clf_graph_node_count(g), 0);                                        \
    } while (0)
    p.variant.rank = 0; /* r = 0 */
    EXPECT(CLF_E_INVALID_ARG);
    p.variant.rank = -3;
    EXPECT(CLF_E_INVALID_ARG);
    p.variant.rank = r;
    p.variant.projection = (enum clf_attention_projection)7;
    EXPECT(CLF_E_INVALID_ARG);
    p.variant.projection = CLF_PROJ_MEAN;
    p.proj_e = e; /* without proj_f */
    EXPECT(CLF_E_INVALID_ARG);
    p.proj_e = NULL;
    p.proj_f = f;
    EXPECT(CLF_E_INVALID_ARG);
    p.proj_e = eb1; /* [r, n + 1] */
    EXPECT(CLF_E_SHAPE);
    p.proj_e = e;
    p.proj_f = eb2; /* [r + 1, n] */
    EXPECT(CLF_E_SHAPE);
    p.proj_f = ei; /* i32 */
    EXPECT(CLF_E_SHAPE);
    p.proj_f = e1; /* 1-D */
    EXPECT(CLF_E_SHAPE);
    p.proj_f = f;
    p.out = e; /* out can't be proj_e: wrong shape anyway */
    EXPECT(CLF_E_SHAPE);
    p.out = NULL;
    p.causal = true;
    EXPECT(CLF_E_UNSUPPORTED);
    p.causal = false;
    p.key_padding = pad;
    EXPECT(CLF_E_UNSUPPORTED);
    p.key_padding = NULL;
    p.proj_e = p.proj_f = NULL;
    p.variant.projection = CLF_PROJ_GAUSSIAN;
    p.causal = true;
    EXPECT(CLF_E_UNSUPPORTED);
    p.causal = false;
    /* projections given to a variant that has none */
    p.variant.sparsity = CLF_ATTN_EXACT;
    p.proj_e = e;
    p.proj_f = f;
    EXPECT(CLF_E_INVALID_ARG);
    p.proj_e = p.proj_f = NULL;
    p.variant.sparsity = CLF_ATTN_LINFORMER;
    /* and the valid call records: two projection GEMMs and the attention */
    ck_assert_ok(ctx, clf_op_attention(g, q, k, v, &p, &y));
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 3);
#undef EXPECT
    static const char *bad[] = {"linformer", "linformer:0", "linformer:4,gauss,seed:-1",
                                "linformer:4,mean,gauss", "linformer:4,renorm"};
    struct clf_attention_variant var;
    char msg[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(clf_attention_variant_parse(bad[i], &var, msg, sizeof msg) ==
                          CLF_E_INVALID_ARG,
                      "'%s' accepted", bad[i]);
    clf_graph_destroy(g);
    struct clf_tensor *all[] = {q, k, v, e, f, eb1, eb2, ei, e1, pad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("attention-lowrank");
    TCase *tc = tcase_create("linformer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_generator);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_piecewise_exact);
    tcase_add_test(tc, test_identity_rank);
    tcase_add_test(tc, test_reference);
    tcase_add_test(tc, test_gaussian_deterministic);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
