/*
 * Sentence pooling (lib/ops/pooling.c, cl/pooling.cl), no model needed:
 * clf_op_mean_pool_normalize against a double-precision reference on
 * random hidden states (dense and strided), random masks with a row of no
 * token and a full row; the key padding of a mask (exact); argument errors.
 *
 * Error bound of out[b, j] (first order, per element; u = 2^-24; OpenCL's
 * full profile: + and * correctly rounded, x / y <= 2.5 ulp = 5u relative,
 * sqrt <= 3 ulp = 6u relative):
 *   pool_mean: s_j = Σ_t m_t h_tj in f32 over S terms (products exact, m is
 *     0 or 1): |ŝ − s| <= γ_S Σ_t m_t |h_tj|; the count is an exact integer;
 *     the division adds 5u |s|/n. With A_j = Σ_t m_t |h_tj| / n:
 *       |p̂_j − p_j| <= E_j = (γ_S + 5u) A_j.
 *   l2_normalize: Σ_j p̂_j² over D terms is within γ_{D+1} (D squares and D
 *     sums), so its square root is within γ_{D+1}/2 + 6u of ‖p̂‖; ‖p̂‖ is
 *     within ‖E‖₂ of ‖p‖; the last division adds 5u. So
 *       |ŷ_j − y_j| <= E_j/‖p‖ + |y_j| (‖E‖₂/‖p‖ + γ_{D+1}/2 + 11u)
 * times SLACK for the second-order terms (each relative error is < 1e-4
 * here). A row with no token must be exactly 0. NaN never passes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/ops/pooling.h" /* internal: the key padding of a mask */

#define SLACK 1.01

/* Pools hidden [B, S, D] (read from host through strides hs, offset ho)
 * with mask [B, S] in double, then checks out [B, D] against the bound. */
static void check_pool(const float *host, const int64_t *hs, int64_t ho, const int32_t *mask,
                       int64_t B, int64_t S, int64_t D, const float *out, const char *what)
{
    const double u = TEST_U32;
    double *p = malloc((size_t)D * sizeof *p), *e = malloc((size_t)D * sizeof *e);
    double worst = 0;
    for (int64_t b = 0; b < B; b++) {
        double n = 0;
        for (int64_t t = 0; t < S; t++)
            n += mask[b * S + t];
        double pn = 0, en = 0;
        for (int64_t j = 0; j < D; j++) {
            double s = 0, a = 0;
            for (int64_t t = 0; t < S; t++) {
                double h = host[ho + b * hs[0] + t * hs[1] + j * hs[2]];
                s += mask[b * S + t] * h;
                a += mask[b * S + t] * fabs(h);
            }
            p[j] = s / (n > 1e-9 ? n : 1e-9);
            e[j] = (test_gamma((double)S) + 5 * u) * a / (n > 1e-9 ? n : 1e-9);
            pn += p[j] * p[j];
            en += e[j] * e[j];
        }
        pn = sqrt(pn);
        en = sqrt(en);
        for (int64_t j = 0; j < D; j++) {
            const float got = out[b * D + j];
            if (n == 0) {
                ck_assert_msg(got == 0.0f, "%s: row %lld has no token but out[%lld] = %g", what,
                              (long long)b, (long long)j, (double)got);
                continue;
            }
            const double y = p[j] / (pn > 1e-12 ? pn : 1e-12);
            const double bound = SLACK * (e[j] / pn + fabs(y) * (en / pn +
                                          test_gamma((double)D + 1) / 2 + 11 * u));
            const double err = fabs((double)got - y);
            ck_assert_msg(err <= bound, "%s: out[%lld, %lld] = %.9g, reference %.9g, error %.3g > "
                          "bound %.3g", what, (long long)b, (long long)j, (double)got, y, err,
                          bound);
            worst = err / bound > worst ? err / bound : worst;
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
    check_pool(h, hs, 0, mask, B, S, D, out, "dense");
    free(out);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(m);
    free(h);
    free(mask);
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
    check_pool(h, hs, 2, mask, B, S, D, out, "strided");
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
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
