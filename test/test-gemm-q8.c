/*
 * Integer GEMM (lib/ops/gemm_q8.c, cl/gemm_q8.cl):
 *   C[m, n] = act(a_scale[m]·b_scale[n]·Σ_k A[m, k]·B[n, k] + bias[n])
 * on random i8 codes in [−127, 127] with some −128, every kernel: on a CPU
 * device the packed one (f32 panels, exact f32 blocks of k) and, forced by
 * shrinking the context's max allocation while recording, the unpacked CPU
 * kernel; the local-memory tiled kernel, forced by recording with the
 * context's device type set to GPU. Odd shapes (1, 3, 17, 129: not
 * multiples of any tile), K = 1, K > 1024 (several exact f32 blocks), a
 * row-strided A view, every activation, argument errors, and the packed-B
 * cache: B rewritten between runs must be repacked.
 *
 * Two checks per case (seed printed by test_seed, outputs poisoned with
 * NaN first, NaN never passes):
 *  1. unit scales, no bias, no activation: the output must equal (float)S
 *     for the exact integer sum S (int64 on the host): bit-exact, since the
 *     kernel's S is exact and 1·1·(float)S rounds once. Most cases have
 *     |S| < 2^24 (no rounding at all); one K makes |S| > 2^24.
 *  2. random scales, bias and activation, against a double reference, per
 *     element, with the bound of elem_bound below.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/runtime/ctx.h"  /* internal: device type, to force the tiled kernel */
#include "../lib/runtime/pool.h" /* internal: clf_pool_class, to force the unpacked one */

/*
 * Per-element bound of |C − act(pre)|, pre = sa·sb·S + bias exactly.
 * The kernel computes t = fl(fl(fl(sa·sb)·fl(S)) + bias): S is exact, then
 * three roundings give P̂ = P(1+δ)³ (P = sa·sb·S), |P̂ − P| ≤ γ_3|P|, and the
 * sum one more: E = γ_3|P| + u(|P|(1+γ_3) + |bias|) ≤ γ_4(|P| + |bias|).
 * The activation (test_act_bound in common.h, from OpenCL's full profile
 * ulp bounds: erf 16 ulp, tanh 5 ulp): act is L-Lipschitz with L = 1
 * (none, ReLU) or 1.13 (both GELU forms), plus the float evaluation at
 * |x| ≤ X = |pre| + E: GELU u·X·(18 + 0.8·X), tanh form
 * u·X·(7 + 4·0.8·(X + 0.045·X³)); ReLU is exact.
 */
static double elem_bound(double p, double bias, double pre, enum clf_act act)
{
    return test_act_bound(test_gamma(4) * (fabs(p) + fabs(bias)), pre, act);
}

/* One case. */
struct qcase {
    int64_t m, n, k;
    int64_t a_pad;  /* A is a view with row stride k + a_pad and offset a_pad */
    bool unit;      /* unit scales, no bias, act NONE: exact check */
    bool big;       /* codes biased to [100, 127]·[100, 127]: |S| > 2^24 */
    bool bias;
    enum clf_act act;
    int kern;       /* KERN_* below */
};

/* Which kernel a case asks for: the device's default (packed on a CPU
 * device), the tiled (GPU) kernel, or the unpacked CPU kernel (max
 * allocation set to the output's pool class while recording, so the
 * panels of cases with k large enough no longer fit; a case where they
 * still fit runs packed, the description tells). */
enum { KERN_DEFAULT, KERN_TILED, KERN_UNPACKED, N_KERN };
static const char *const kern_str[] = {"", " tiled", " unpacked"};

static int8_t rand_code(bool big)
{
    if (big)
        return (int8_t)(100 + (int)(test_rand_u64() % 28));
    uint64_t r = test_rand_u64() % 256; /* 0..255: -128..127, so -128 occurs */
    return (int8_t)((int)r - 128);
}

static struct clf_tensor *upload_f32(const float *x, int64_t n)
{
    return test_upload(1, &n, x);
}

/* Cases that ran the unpacked CPU kernel (KERN_UNPACKED on a CPU device). */
static int n_unpacked;

static void run_case(const struct qcase *qc)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t m = qc->m, n = qc->n, k = qc->k, ars = k + qc->a_pad;
    const int64_t a_len = qc->a_pad + m * ars;
    int8_t *ah = malloc((size_t)a_len), *bh = malloc((size_t)(n * k));
    float *sa = malloc((size_t)m * sizeof(float)), *sb = malloc((size_t)n * sizeof(float));
    float *bias = malloc((size_t)n * sizeof(float));
    ck_assert(ah && bh && sa && sb && bias);
    for (int64_t i = 0; i < a_len; i++)
        ah[i] = rand_code(qc->big);
    for (int64_t i = 0; i < n * k; i++)
        bh[i] = rand_code(qc->big);
    for (int64_t i = 0; i < m; i++)
        sa[i] = qc->unit ? 1.0f : (float)test_rand_uniform(1e-3, 0.05);
    for (int64_t j = 0; j < n; j++) {
        sb[j] = qc->unit ? 1.0f : (float)test_rand_uniform(1e-3, 0.05);
        bias[j] = (float)test_rand_uniform(-2, 2);
    }

    struct clf_tensor *abase = NULL, *a = NULL, *b = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 1, &a_len, &abase));
    ck_assert_ok(ctx, clf_tensor_write(abase, ah, (size_t)a_len));
    const int64_t ashape[2] = {m, k}, astr[2] = {ars, 1}, bshape[2] = {n, k};
    ck_assert_ok(ctx, clf_tensor_view(abase, 2, ashape, astr, qc->a_pad, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, bshape, &b));
    ck_assert_ok(ctx, clf_tensor_write(b, bh, (size_t)(n * k)));
    struct clf_tensor *tsa = upload_f32(sa, m), *tsb = upload_f32(sb, n);
    struct clf_tensor *tbias = upload_f32(bias, n);

    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_q8_params p = clf_gemm_q8_params_default();
    p.bias = qc->bias ? tbias : NULL;
    p.act = qc->act;
    struct clf_tensor *c = NULL;
    enum clf_device_type type = ctx->info.type;
    uint64_t max_alloc = ctx->info.max_alloc_bytes;
    /* the kernel is chosen when recorded */
    if (qc->kern == KERN_TILED)
        ctx->info.type = CLF_DEVICE_GPU;
    if (qc->kern == KERN_UNPACKED)
        ctx->info.max_alloc_bytes = clf_pool_class((size_t)(m * n) * sizeof(float));
    enum clf_status st = clf_op_gemm_q8(g, a, tsa, b, tsb, &p, &c);
    ctx->info.type = type;
    ctx->info.max_alloc_bytes = max_alloc;
    ck_assert_status(ctx, st, CLF_OK);
    char desc[CLF_NODE_DESC_SIZE];
    snprintf(desc, sizeof desc, "%s", test_node_info(g, 0).desc);
    if (qc->kern == KERN_TILED)
        ck_assert_msg(strstr(desc, "tiled") != NULL, "%s", desc);
    if (qc->kern == KERN_DEFAULT && type == CLF_DEVICE_CPU)
        ck_assert_msg(strstr(desc, "packed") != NULL, "%s", desc);
    if (qc->kern == KERN_UNPACKED && strstr(desc, " cpu") != NULL)
        n_unpacked++;
    test_poison(c);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(c);

    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t s = 0;
            for (int64_t kk = 0; kk < k; kk++)
                s += (int64_t)ah[qc->a_pad + i * ars + kk] * bh[j * k + kk];
            float got = out[i * n + j];
            if (qc->unit) {
                ck_assert_msg(got == (float)s,
                              "%lldx%lldx%lld%s: C[%lld, %lld] = %.9g, exact sum %lld",
                              (long long)m, (long long)n, (long long)k,
                              kern_str[qc->kern], (long long)i, (long long)j, got,
                              (long long)s);
                continue;
            }
            double pr = (double)sa[i] * sb[j] * (double)s;
            double bj = qc->bias ? bias[j] : 0;
            double pre = pr + bj, ref = test_act_ref(pre, qc->act);
            double bound = elem_bound(pr, bj, pre, qc->act), err = fabs(got - ref);
            ck_assert_msg(err <= bound,
                          "%lldx%lldx%lld%s act %d: C[%lld, %lld] = %.9g, ref %.9g, "
                          "err %.3g > bound %.3g",
                          (long long)m, (long long)n, (long long)k, kern_str[qc->kern],
                          (int)qc->act, (long long)i, (long long)j, got, ref, err, bound);
            if (bound > 0 && err / bound > worst)
                worst = err / bound;
        }
    if (!qc->unit)
        printf("gemm_q8 %lldx%lldx%lld%s act %d bias %d: worst err/bound %.3f\n", (long long)m,
               (long long)n, (long long)k, kern_str[qc->kern], (int)qc->act,
               (int)qc->bias, worst);
    free(out);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);
    clf_tensor_destroy(abase);
    clf_tensor_destroy(b);
    clf_tensor_destroy(tsa);
    clf_tensor_destroy(tsb);
    clf_tensor_destroy(tbias);
    free(ah);
    free(bh);
    free(sa);
    free(sb);
    free(bias);
}

/* Sizes that are not multiples of any tile (4, 16, 64). */
static const int64_t sizes[][3] = {
    {1, 1, 1}, {3, 17, 1}, {17, 3, 33}, {1, 129, 17}, {129, 1, 129}, {17, 129, 67},
    {70, 67, 300}, {64, 64, 64}, {5, 7, 15},
};
#define N_SIZES (int)(sizeof sizes / sizeof sizes[0])

START_TEST(test_exact)
{
    /* |S| <= K·128² < 2^24 for K <= 1024: no rounding, output == S */
    n_unpacked = 0;
    for (int kern = 0; kern < N_KERN; kern++)
        for (int s = 0; s < N_SIZES; s++)
            for (int pad = 0; pad < 2; pad++) {
                struct qcase qc = {sizes[s][0], sizes[s][1], sizes[s][2], pad ? 5 : 0, true,
                                   false, false, CLF_ACT_NONE, kern};
                run_case(&qc);
            }
    if (test_ctx()->info.type == CLF_DEVICE_CPU)
        ck_assert_int_gt(n_unpacked, 0); /* the fallback was exercised */
}
END_TEST

START_TEST(test_exact_large_sum)
{
    /* codes in [100, 127]: |S| >= 10^4·K > 2^24 for K = 4099; the output
     * must be (float)S, a single rounding */
    for (int kern = 0; kern < N_KERN; kern++) {
        struct qcase qc = {9, 21, 4099, 3, true, true, false, CLF_ACT_NONE, kern};
        run_case(&qc);
    }
}
END_TEST

START_TEST(test_scaled)
{
    for (int kern = 0; kern < N_KERN; kern++)
        for (int act = CLF_ACT_NONE; act <= CLF_ACT_GELU_TANH; act++)
            for (int s = 0; s < N_SIZES; s += 2) {
                struct qcase qc = {sizes[s][0], sizes[s][1], sizes[s][2], (s / 2) % 2 ? 7 : 0,
                                   false, false, act != CLF_ACT_RELU || s % 4 == 0,
                                   (enum clf_act)act, kern};
                run_case(&qc);
            }
    /* several f32 blocks of k, full 6 x 64 tiles plus edges */
    struct qcase big = {33, 19, 1537, 0, false, false, true, CLF_ACT_GELU, KERN_DEFAULT};
    run_case(&big);
    struct qcase wide = {13, 130, 2050, 0, false, false, true, CLF_ACT_RELU, KERN_DEFAULT};
    run_case(&wide);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *a = NULL, *b = NULL, *af = NULL, *sa = NULL, *sb = NULL, *sbad = NULL;
    struct clf_tensor *a3 = NULL, *bk = NULL, *abig = NULL, *bbig = NULL, *sa_i8 = NULL;
    struct clf_tensor *bias_bad = NULL, *at = NULL, *c = NULL, *abig1 = NULL;
    const int64_t as[2] = {4, 8}, bs[2] = {6, 8}, bks[2] = {6, 9}, a3s[3] = {1, 4, 8};
    const int64_t m4 = 4, n6 = 6, n5 = 5, big[2] = {1, 133145}, big1[2] = {1, 133144};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, as, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, bs, &b));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, as, &af));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 3, a3s, &a3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, bks, &bk));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &m4, &sa));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 1, &m4, &sa_i8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n6, &sb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n5, &sbad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n5, &bias_bad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, big, &abig));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, big1, &abig1));
    const int64_t bbs[2] = {2, 133145};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, bbs, &bbig));
    /* a transposed view of an [8, 4] storage: columns of A not contiguous */
    const int64_t at_str[2] = {1, 4};
    ck_assert_ok(ctx, clf_tensor_view(a, 2, as, at_str, 0, &at));

    struct clf_gemm_q8_params p = clf_gemm_q8_params_default();
    ck_assert_ptr_null(p.bias);
    ck_assert_int_eq(p.act, CLF_ACT_NONE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, af, sa, b, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_ptr_null(c);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, af, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a3, sa, b, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, bk, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, at, sa, b, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa_i8, b, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sbad, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sb, b, sb, NULL, &c), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sa, NULL, &c), CLF_E_SHAPE);
    p.bias = bias_bad;
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sb, &p, &c), CLF_E_SHAPE);
    p.bias = sa_i8;
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sb, &p, &c), CLF_E_SHAPE);
    p.bias = NULL;
    p.act = (enum clf_act)7;
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sb, &p, &c), CLF_E_INVALID_ARG);
    p.act = CLF_ACT_NONE;
    const int64_t one = 1, two = 2;
    struct clf_tensor *s1 = NULL, *s2 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &one, &s1));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &two, &s2));
    /* K = 133,145 > 2^31 / 127²: refused; 133,144 passes the K check (and
     * fails only on B's K here) */
    ck_assert_status(ctx, clf_op_gemm_q8(g, abig, s1, bbig, s2, NULL, &c), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "133144") != NULL);
    ck_assert_status(ctx, clf_op_gemm_q8(g, abig1, s1, bbig, s2, NULL, &c), CLF_E_SHAPE);
    ck_assert(strstr(clf_ctx_last_error(ctx), "K differs") != NULL);
    ck_assert_status(ctx, clf_op_gemm_q8(g, NULL, sa, b, sb, NULL, &c), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_gemm_q8(NULL, a, sa, b, sb, NULL, &c), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, sa, b, sb, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_graph_node_count(g), 0); /* nothing recorded */
    ck_assert_ok(ctx, clf_op_gemm_q8(g, a, sa, b, sb, NULL, &c));
    ck_assert_int_eq(clf_graph_node_count(g), 1);
    ck_assert_int_eq(clf_tensor_dtype(c), CLF_F32);
    ck_assert_int_eq(clf_tensor_dim(c, 0), 4);
    ck_assert_int_eq(clf_tensor_dim(c, 1), 6);

    clf_graph_destroy(g);
    struct clf_tensor *all[] = {a, b, af, sa, sb, sbad, a3, bk, abig, bbig, sa_i8, bias_bad, at,
                                abig1, s1, s2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        clf_tensor_destroy(all[i]);
}
END_TEST

/* Exact S = A·Bᵀ of host codes (row-major, k contiguous) against out. */
static void check_exact(const int8_t *ah, const int8_t *bh, const float *out, int64_t m,
                        int64_t n, int64_t k, const char *what)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t s = 0;
            for (int64_t kk = 0; kk < k; kk++)
                s += (int64_t)ah[i * k + kk] * bh[j * k + kk];
            ck_assert_msg(out[i * n + j] == (float)s, "%s: C[%lld, %lld] = %.9g, exact %lld",
                          what, (long long)i, (long long)j, out[i * n + j], (long long)s);
        }
}

/*
 * The packed B is cached with B (on a CPU device): B rewritten between
 * runs of the same graph must be repacked, and a second graph reading the
 * same B (sharing the cache) must see the new codes too. Unit scales:
 * outputs compared exactly with (float)S (|S| < 2^24).
 */
START_TEST(test_packed_cache)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t m = 7, n = 70, k = 41, as[2] = {m, k}, bs[2] = {n, k};
    int8_t ah[7 * 41], bh[70 * 41];
    float ones[70];
    for (int i = 0; i < 70; i++)
        ones[i] = 1.0f;
    for (int64_t i = 0; i < m * k; i++)
        ah[i] = rand_code(false);
    for (int64_t i = 0; i < n * k; i++)
        bh[i] = rand_code(false);
    struct clf_tensor *a = NULL, *b = NULL, *c1 = NULL, *c2 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, as, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, bs, &b));
    ck_assert_ok(ctx, clf_tensor_write(a, ah, sizeof ah));
    ck_assert_ok(ctx, clf_tensor_write(b, bh, sizeof bh));
    struct clf_tensor *sa = upload_f32(ones, m), *sb = upload_f32(ones, n);
    struct clf_graph *g1 = NULL, *g2 = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g1));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g2));
    ck_assert_ok(ctx, clf_op_gemm_q8(g1, a, sa, b, sb, NULL, &c1));
    ck_assert_ok(ctx, clf_op_gemm_q8(g2, a, sa, b, sb, NULL, &c2));
    for (int round = 0; round < 3; round++) {
        if (round > 0) { /* new weights: the cached panels are stale */
            for (int64_t i = 0; i < n * k; i++)
                bh[i] = rand_code(false);
            ck_assert_ok(ctx, clf_tensor_write(b, bh, sizeof bh));
        }
        test_poison(c1);
        test_poison(c2);
        ck_assert_ok(ctx, clf_graph_run(g1));
        ck_assert_ok(ctx, clf_graph_run(g1)); /* the cache fresh now: reused */
        ck_assert_ok(ctx, clf_graph_run(g2));
        float *o1 = test_read_all(c1), *o2 = test_read_all(c2);
        check_exact(ah, bh, o1, m, n, k, "graph 1");
        check_exact(ah, bh, o2, m, n, k, "graph 2");
        free(o1);
        free(o2);
    }
    clf_graph_destroy(g1);
    clf_graph_destroy(g2);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);
    clf_tensor_destroy(sa);
    clf_tensor_destroy(sb);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("gemm-q8");
    TCase *tc = tcase_create("gemm-q8");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_exact);
    tcase_add_test(tc, test_exact_large_sum);
    tcase_add_test(tc, test_scaled);
    tcase_add_test(tc, test_packed_cache);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
