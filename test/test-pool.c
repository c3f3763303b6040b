/*
 * Sentence pooling (lib/ops/pooling.c, cl/pooling.cl), no model needed:
 * clf_op_sentence_pool (every mode alone, and concatenations, truncated,
 * normalised or not) and clf_op_mean_pool_normalize against a
 * double-precision reference on random hidden states (dense and strided),
 * random masks with a row of no token, a full row and scattered tokens;
 * the key padding of a mask (exact); argument errors.
 *
 * Error bound of out[b, j] (first order, per element; u = 2^-24; OpenCL's
 * full profile: + and * correctly rounded, x / y <= 2.5 ulp = 5u relative,
 * sqrt <= 3 ulp = 6u relative). Masks are 0 or 1, so m_t·h is exact, and
 * the counts n = Σ m_t and weight sums W = Σ m_t·(t+1) are exact integers:
 *   CLS, MAX, LAST_TOKEN: copies (max is exact; -1e9 is a float): E_j = 0.
 *   MEAN: s_j = Σ_t m_t h_tj in f32 over S terms: |ŝ − s| <= γ_S Σ_t m_t
 *     |h_tj|; the division adds 5u: E_j = (γ_S + 5u) Σ_t m_t |h_tj| / n.
 *   MEAN_SQRT_LEN: the same sum over sqrt(n) (6u) then a division (5u):
 *     E_j = (γ_S + 11u) Σ_t m_t |h_tj| / sqrt(n).
 *   WEIGHTED_MEAN: each w_t·h_tj rounded once (w_t = m_t·(t+1) exact), then
 *     S sums: E_j = (γ_{S+1} + 5u) Σ_t w_t |h_tj| / W.
 *   Normalisation over the n kept columns: Σ_j p̂_j² is within γ_{n+1}, its
 *     square root within γ_{n+1}/2 + 6u of ‖p̂‖, ‖p̂‖ within ‖E‖₂ of ‖p‖,
 *     the last division 5u:
 *       |ŷ_j − y_j| <= E_j/‖p‖ + |y_j| (‖E‖₂/‖p‖ + γ_{n+1}/2 + 11u)
 * times SLACK for the second-order terms (each relative error is < 1e-4
 * here). A vector of zeros (a row with no token, means only) must be
 * exactly 0. NaN never passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/ops/pooling.h" /* internal: the key padding of a mask */

#define SLACK 1.01

/* Mode `mode`'s column j of text b in double, and its bound E (above):
 * hidden [B, S, D] read from host through strides hs, offset ho. */
static double ref_column(const float *host, const int64_t *hs, int64_t ho, const int32_t *mask,
                         int64_t b, int64_t S, int64_t j, unsigned mode, double *e)
{
    const double u = TEST_U32;
    const int32_t *m = mask + b * S;
    const float *h = host + ho + b * hs[0] + j * hs[2];
    double n = 0, w = 0, s = 0, a = 0, sw = 0, aw = 0;
    int64_t last = -1;
    for (int64_t t = 0; t < S && last < 0; t++)
        if (!m[t])
            last = t;
    last = last < 0 ? S - 1 : last - 1;
    last = last < 0 ? 0 : last;
    for (int64_t t = 0; t < S; t++) {
        const double x = h[t * hs[1]];
        n += m[t];
        w += m[t] * (t + 1.0);
        s += m[t] * x;
        a += m[t] * fabs(x);
        sw += m[t] * (t + 1.0) * x;
        aw += m[t] * (t + 1.0) * fabs(x);
    }
    *e = 0;
    switch (mode) {
    case CLF_POOL_CLS:
        return h[0];
    case CLF_POOL_LAST_TOKEN:
        return m[last] * (double)h[last * hs[1]];
    case CLF_POOL_MAX: {
        double v = -INFINITY;
        for (int64_t t = 0; t < S; t++)
            v = fmax(v, m[t] ? (double)h[t * hs[1]] : -1e9);
        return v;
    }
    case CLF_POOL_MEAN:
        n = n > 1e-9 ? n : 1e-9;
        *e = (test_gamma((double)S) + 5 * u) * a / n;
        return s / n;
    case CLF_POOL_MEAN_SQRT_LEN:
        n = sqrt(n > 1e-9 ? n : 1e-9);
        *e = (test_gamma((double)S) + 11 * u) * a / n;
        return s / n;
    default: /* CLF_POOL_WEIGHTED_MEAN */
        w = w > 1e-9 ? w : 1e-9;
        *e = (test_gamma((double)S + 1) + 5 * u) * aw / w;
        return sw / w;
    }
}

/* Pools hidden [B, S, D] with mask [B, S] in double (modes, the first N
 * columns, normalised or not), then checks out [B, N] against the bound. */
static void check_pool(const float *host, const int64_t *hs, int64_t ho, const int32_t *mask,
                       int64_t B, int64_t S, int64_t D, unsigned modes, int64_t N,
                       bool normalize, const float *out, const char *what)
{
    const double u = TEST_U32;
    double *p = malloc((size_t)N * sizeof *p), *e = malloc((size_t)N * sizeof *e);
    double worst = 0;
    for (int64_t b = 0; b < B; b++) {
        double pn = 0, en = 0;
        int64_t col = 0;
        for (unsigned mode = CLF_POOL_CLS; mode <= CLF_POOL_LAST_TOKEN; mode <<= 1)
            for (int64_t j = 0; (modes & mode) && j < D && col < N; j++, col++) {
                p[col] = ref_column(host, hs, ho, mask, b, S, j, mode, &e[col]);
                pn += p[col] * p[col];
                en += e[col] * e[col];
            }
        pn = sqrt(pn);
        en = sqrt(en);
        for (int64_t j = 0; j < N; j++) {
            const float got = out[b * N + j];
            double y = p[j], bound = e[j];
            if (normalize && pn == 0) {
                ck_assert_msg(got == 0.0f, "%s: row %lld pools to zeros but out[%lld] = %g", what,
                              (long long)b, (long long)j, (double)got);
                continue;
            }
            if (normalize) {
                y = p[j] / (pn > 1e-12 ? pn : 1e-12);
                bound = e[j] / pn +
                        fabs(y) * (en / pn + test_gamma((double)N + 1) / 2 + 11 * u);
            }
            bound *= SLACK;
            const double err = fabs((double)got - y);
            ck_assert_msg(err <= bound, "%s: out[%lld, %lld] = %.9g, reference %.9g, error %.3g > "
                          "bound %.3g", what, (long long)b, (long long)j, (double)got, y, err,
                          bound);
            worst = bound > 0 && err / bound > worst ? err / bound : worst;
        }
    }
    printf("pool %s: worst error / bound %.3f\n", what, worst);
    free(p);
    free(e);
}

/* Random masks: row 0 full, row 1 empty, others a random prefix of length
 * >= 1 (as padding is) or, for row 2, scattered tokens. */
static void fill_mask(int32_t *mask, int64_t B, int64_t S)
{
    for (int64_t b = 0; b < B; b++) {
        int64_t len = b == 0 ? S : b == 1 ? 0 : 1 + (int64_t)(test_rand_u64() % (uint64_t)S);
        for (int64_t t = 0; t < S; t++)
            mask[b * S + t] = b == 2 ? (int32_t)(test_rand_u64() & 1) : t < len;
    }
}

START_TEST(test_mean_pool_dense)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 6, S = 37, D = 45, hs[3] = {S * D, D, 1};
    const int64_t shape[3] = {B, S, D}, ms[2] = {B, S}, os[2] = {B, D};
    float *h = malloc((size_t)(B * S * D) * sizeof *h);
    int32_t *mask = malloc((size_t)(B * S) * sizeof *mask);
    test_fill_uniform(h, (size_t)(B * S * D), -3, 2); /* a nonzero mean, as hidden states have */
    fill_mask(mask, B, S);
    struct clf_tensor *x = test_upload(3, shape, h), *m = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ms, &m));
    ck_assert_ok(ctx, clf_tensor_write(m, mask, (size_t)(B * S) * sizeof *mask));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, x, m, &y));
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], os[0]);
    ck_assert_int_eq(y->shape[1], os[1]);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    check_pool(h, hs, 0, mask, B, S, D, CLF_POOL_MEAN, D, true, out, "dense");
    free(out);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(m);
    free(h);
    free(mask);
}
END_TEST

/* Every mode alone, normalised and not; concatenations; truncation inside
 * a mode and across two. One set of random inputs, a graph per case. */
START_TEST(test_sentence_pool)
{
    static const struct {
        unsigned modes;
        int64_t dims; /* 0: all; < 0: D + dims */
        bool normalize;
    } cases[] = {
        {CLF_POOL_CLS, 0, false},           {CLF_POOL_CLS, 0, true},
        {CLF_POOL_MAX, 0, false},           {CLF_POOL_MAX, 0, true},
        {CLF_POOL_MEAN, 0, false},          {CLF_POOL_MEAN_SQRT_LEN, 0, false},
        {CLF_POOL_MEAN_SQRT_LEN, 0, true},  {CLF_POOL_WEIGHTED_MEAN, 0, false},
        {CLF_POOL_WEIGHTED_MEAN, 0, true},  {CLF_POOL_LAST_TOKEN, 0, false},
        {CLF_POOL_LAST_TOKEN, 0, true},     {CLF_POOL_MEAN, -20, true},
        {CLF_POOL_CLS | CLF_POOL_MEAN, 0, true},
        {CLF_POOL_MAX | CLF_POOL_MEAN | CLF_POOL_LAST_TOKEN, 0, false},
        {CLF_POOL_CLS | CLF_POOL_MAX, 50, true}, /* all of CLS, 5 columns of MAX */
        {CLF_POOL_ALL, 0, true},
    };
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 6, S = 23, D = 45, hs[3] = {S * D, D, 1};
    const int64_t shape[3] = {B, S, D}, ms[2] = {B, S};
    float *h = malloc((size_t)(B * S * D) * sizeof *h);
    int32_t *mask = malloc((size_t)(B * S) * sizeof *mask);
    test_fill_uniform(h, (size_t)(B * S * D), -3, 2);
    fill_mask(mask, B, S);
    struct clf_tensor *x = test_upload(3, shape, h), *m = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ms, &m));
    ck_assert_ok(ctx, clf_tensor_write(m, mask, (size_t)(B * S) * sizeof *mask));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t k = 0;
        for (unsigned bits = cases[c].modes; bits; bits &= bits - 1)
            k++;
        const int64_t dims = cases[c].dims < 0 ? D + cases[c].dims : cases[c].dims;
        const int64_t N = dims ? dims : k * D;
        struct clf_graph *g = NULL;
        struct clf_tensor *y = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_op_sentence_pool(g, x, m, cases[c].modes, dims,
                                               cases[c].normalize, &y));
        ck_assert_int_eq(y->ndim, 2);
        ck_assert_int_eq(y->shape[0], B);
        ck_assert_int_eq(y->shape[1], N);
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        char what[64];
        snprintf(what, sizeof what, "modes 0x%02x, %lld columns%s", cases[c].modes, (long long)N,
                 cases[c].normalize ? ", normalised" : "");
        check_pool(h, hs, 0, mask, B, S, D, cases[c].modes, N, cases[c].normalize, out, what);
        free(out);
        clf_graph_destroy(g);
    }
    clf_tensor_destroy(x);
    clf_tensor_destroy(m);
    free(h);
    free(mask);
}
END_TEST

/* The end after Dense layers (internal): the first dims columns, L2-
 * normalised or not; a zero row stays exactly zero. The input is exact, so
 * the bound is the normalisation's alone (header). */
START_TEST(test_truncate_normalize)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 5, N = 70, xs[2] = {B, N};
    float *h = malloc((size_t)(B * N) * sizeof *h);
    test_fill_uniform(h, (size_t)(B * N), -2, 3);
    for (int64_t j = 0; j < N; j++)
        h[2 * N + j] = 0.0f; /* row 2: zeros */
    struct clf_tensor *x = test_upload(2, xs, h);
    static const struct {
        int64_t dims;
        bool normalize;
    } cases[] = {{0, true}, {17, true}, {17, false}, {0, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct clf_graph *g = NULL;
        struct clf_tensor *y = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_pooling_truncate_normalize(g, x, cases[c].dims, cases[c].normalize,
                                                         &y));
        const int64_t n = cases[c].dims ? cases[c].dims : N;
        ck_assert_int_eq(y->shape[1], n);
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        for (int64_t b = 0; b < B; b++) {
            double norm = 0;
            for (int64_t j = 0; j < n; j++)
                norm += (double)h[b * N + j] * h[b * N + j];
            norm = sqrt(norm);
            for (int64_t j = 0; j < n; j++) {
                const double ref = cases[c].normalize && norm > 0 ? h[b * N + j] / norm
                                                                  : h[b * N + j];
                const double bound = cases[c].normalize
                                         ? SLACK * fabs(ref) *
                                               (test_gamma((double)n + 1) / 2 + 11 * TEST_U32)
                                         : 0;
                ck_assert_msg(fabs(out[b * n + j] - ref) <= bound,
                              "dims %lld%s: out[%lld, %lld] = %.9g, reference %.9g", (long long)n,
                              cases[c].normalize ? ", normalised" : "", (long long)b,
                              (long long)j, (double)out[b * n + j], ref);
            }
        }
        free(out);
        clf_graph_destroy(g);
    }
    struct clf_graph *g = NULL;
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_pooling_truncate_normalize(g, x, N + 1, true, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_pooling_truncate_normalize(g, x, -1, true, &y), CLF_E_INVALID_ARG);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    free(h);
}
END_TEST

/* hidden as a [B, S, D] view of [S, B, D + 3] storage at offset 2 (heads
 * split by strides), the mask a [B, S] view of a transposed [S, B]. */
START_TEST(test_mean_pool_strided)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 5, S = 19, D = 384, P = D + 3;
    const int64_t total = S * B * P + 2, hs[3] = {P, B * P, 1};
    const int64_t shape[3] = {B, S, D}, ms[2] = {S, B}, mv[2] = {B, S}, mst[2] = {1, B};
    float *h = malloc((size_t)total * sizeof *h);
    int32_t *mask = malloc((size_t)(B * S) * sizeof *mask), *mt = malloc((size_t)(B * S) * 4);
    test_fill_uniform(h, (size_t)total, -1, 1);
    fill_mask(mask, B, S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < S; t++)
            mt[t * B + b] = mask[b * S + t];
    struct clf_tensor *base = test_upload(1, &total, h), *x = NULL, *mbase = NULL, *m = NULL,
                      *y = NULL;
    ck_assert_ok(ctx, clf_tensor_view(base, 3, shape, hs, 2, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ms, &mbase));
    ck_assert_ok(ctx, clf_tensor_write(mbase, mt, (size_t)(B * S) * sizeof *mt));
    ck_assert_ok(ctx, clf_tensor_view(mbase, 2, mv, mst, 0, &m));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, x, m, &y));
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    check_pool(h, hs, 2, mask, B, S, D, CLF_POOL_MEAN, D, true, out, "strided");
    free(out);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(base);
    clf_tensor_destroy(m);
    clf_tensor_destroy(mbase);
    free(h);
    free(mask);
    free(mt);
}
END_TEST

/* kp = (mask == 0), exactly, for masks with other nonzero values too. */
START_TEST(test_key_padding)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t B = 3, S = 11, ms[2] = {B, S};
    int32_t mask[33], got[33];
    for (int i = 0; i < 33; i++)
        mask[i] = (int32_t)(test_rand_u64() % 3) - (i == 5 ? 7 : 0);
    struct clf_tensor *m = NULL, *kp = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ms, &m));
    ck_assert_ok(ctx, clf_tensor_write(m, mask, sizeof mask));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_pooling_key_padding(g, m, &kp));
    ck_assert_int_eq(kp->dtype, CLF_I32);
    memset(got, 0x55, sizeof got);
    ck_assert_ok(ctx, clf_tensor_write(kp, got, sizeof got));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(kp, got, sizeof got));
    for (int i = 0; i < 33; i++)
        ck_assert_msg(got[i] == (mask[i] == 0), "kp[%d] = %d for mask %d", i, got[i], mask[i]);
    clf_graph_destroy(g);
    clf_tensor_destroy(m);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t hs[3] = {2, 4, 8}, ms[2] = {2, 4}, bad[2] = {2, 5}, h2[2] = {8, 8};
    struct clf_tensor *h = NULL, *m = NULL, *mb = NULL, *mf = NULL, *hf = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, hs, &h));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ms, &m));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, bad, &mb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, ms, &mf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, h2, &hf));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, h, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, NULL, m, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, h, m, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(NULL, h, m, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, h, mb, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, h, mf, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, hf, m, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_mean_pool_normalize(g, m, m, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_pooling_key_padding(g, mf, &y), CLF_E_SHAPE);
    ck_assert_int_eq(clf_pooling_width(CLF_POOL_CLS | CLF_POOL_MEAN, 10), 20);
    ck_assert_int_eq(clf_pooling_width(CLF_POOL_ALL, 3), 18);
    ck_assert_int_eq(clf_pooling_width(0, 10), 0);
    ck_assert_int_eq(clf_pooling_width(CLF_POOL_ALL + 1, 10), 0);
    ck_assert_status(ctx, clf_op_sentence_pool(g, h, m, 0, 0, true, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_sentence_pool(g, h, m, 64, 0, true, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_sentence_pool(g, h, m, CLF_POOL_CLS, 9, true, &y),
                     CLF_E_INVALID_ARG); /* 8 columns */
    ck_assert_status(ctx, clf_op_sentence_pool(g, h, m, CLF_POOL_CLS, -1, true, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_sentence_pool(g, h, mb, CLF_POOL_CLS, 0, true, &y),
                     CLF_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(h);
    clf_tensor_destroy(m);
    clf_tensor_destroy(mb);
    clf_tensor_destroy(mf);
    clf_tensor_destroy(hf);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_key_padding);
    tcase_add_test(tc, test_mean_pool_dense);
    tcase_add_test(tc, test_mean_pool_strided);
    tcase_add_test(tc, test_sentence_pool);
    tcase_add_test(tc, test_truncate_normalize);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
