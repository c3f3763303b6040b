/*
 * Tensor-Train feed-forward weights: the host TT-SVD
 * (lib/linalg/tt.c, Oseledets 2011) and the device TT linear layer
 * (lib/ops/tt.c, cl/tt.cl, Novikov et al. 2015).
 *
 * Host checks are in double and exact to rounding: a tensor built from
 * random cores of known TT-ranks is recovered with those ranks; the
 * truncation bound ‖W − W_TT‖_F <= eps·‖W‖_F (Oseledets Thm 2.2) is checked
 * by reconstruction on random and structured W; no truncation reconstructs
 * to double rounding.
 *
 * The kernel is compared with y = act(x·W_TTᵀ + bias) computed in double
 * from the reconstructed W_TT (double cores), with a per-element bound
 * derived from the arithmetic (see kernel_bound). Outputs are poisoned with
 * NaN first; a NaN never passes (every check is !(err <= bound)).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "../lib/ops/tt.h" /* internal: TT-SVD, upload, op, graph internals */

/* Covers the neglected second-order terms of first-order bounds. */
#define SLACK 1.01

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static double rand_normal(void)
{
    double u1 = test_rand_uniform(0x1p-53, 1.0), u2 = test_rand_uniform(0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* A TT with N(0, 1) cores of the given modes and ranks (r[0] = r[d] = 1). */
static struct clf_tt random_tt(int d, const int64_t *m, const int64_t *n, const int64_t *r)
{
    struct clf_tt tt;
    memset(&tt, 0, sizeof tt);
    tt.d = d;
    for (int k = 0; k <= d; k++)
        tt.r[k] = r[k];
    for (int k = 0; k < d; k++) {
        tt.m[k] = m[k];
        tt.n[k] = n[k];
        const int64_t sz = r[k] * m[k] * n[k] * r[k + 1];
        tt.cores[k] = malloc((size_t)sz * sizeof(double));
        ck_assert_ptr_nonnull(tt.cores[k]);
        for (int64_t i = 0; i < sz; i++)
            tt.cores[k][i] = rand_normal();
    }
    return tt;
}

static int64_t prod(const int64_t *v, int d)
{
    int64_t p = 1;
    for (int k = 0; k < d; k++)
        p *= v[k];
    return p;
}

/* W_TT [M, N] (malloc'd) */
static double *dense_of(const struct clf_tt *tt)
{
    const int64_t M = prod(tt->m, tt->d), N = prod(tt->n, tt->d);
    double *w = malloc((size_t)(M * N) * sizeof *w);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(clf_tt_to_dense(tt, w), CLF_OK);
    return w;
}

/* ‖a − b‖_F / ‖a‖_F over n elements (0 when a = 0 and b = a). */
static double rel_diff(const double *a, const double *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += a[i] * a[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Structured W [M, N]: a smooth kernel 1 / (1 + |x_i − y_j|) on a grid plus
 * a little noise, whose TT-ranks decay fast but not to an exact rank. */
static double *structured_w(int64_t M, int64_t N)
{
    double *w = malloc((size_t)(M * N) * sizeof *w);
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            w[i * N + j] = 1.0 / (1.0 + fabs((double)i / (double)M - 2.0 * (double)j / (double)N)) +
                           1e-3 * rand_normal();
    return w;
}

static double *random_w(int64_t M, int64_t N, double sigma)
{
    double *w = malloc((size_t)(M * N) * sizeof *w);
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < M * N; i++)
        w[i] = sigma * rand_normal();
    return w;
}

/* ------------------------------------------------------------------------ */
/* Modes                                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(test_modes)
{
    int64_t md[CLF_TT_MAX_D];
    ck_assert_int_eq(clf_tt_modes(1536, 3, md), CLF_OK);
    ck_assert_int_eq(prod(md, 3), 1536);
    ck_assert(md[0] == 8 && md[1] == 12 && md[2] == 16);
    ck_assert_int_eq(clf_tt_modes(384, 3, md), CLF_OK);
    ck_assert_int_eq(prod(md, 3), 384);
    ck_assert(md[0] == 6 && md[1] == 8 && md[2] == 8);
    /* products exact, sorted, balanced (max / min within the largest prime
     * factor for these smooth numbers) for every d */
    const int64_t xs[] = {1, 2, 12, 384, 768, 1536, 3072, 4096, 1000, 97};
    for (size_t t = 0; t < sizeof xs / sizeof xs[0]; t++)
        for (int d = 1; d <= CLF_TT_MAX_D; d++) {
            ck_assert_int_eq(clf_tt_modes(xs[t], d, md), CLF_OK);
            ck_assert_int_eq(prod(md, d), xs[t]);
            for (int k = 1; k < d; k++)
                ck_assert_int_le(md[k - 1], md[k]);
            if (xs[t] == 4096 && d == 3)
                ck_assert(md[0] == 16 && md[2] == 16);
            if (xs[t] == 384 && d == 2)
                ck_assert(md[0] == 16 && md[1] == 24);
        }
    ck_assert_int_eq(clf_tt_modes(97, 2, md), CLF_OK); /* a prime */
    ck_assert(md[0] == 1 && md[1] == 97);
    ck_assert_int_eq(clf_tt_modes(1536, 0, md), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_modes(1536, CLF_TT_MAX_D + 1, md), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_modes(0, 3, md), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_modes(1536, 3, NULL), CLF_E_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* TT-SVD                                                                   */
/* ------------------------------------------------------------------------ */

/* A tensor of exact TT-ranks (3, 3, 3) is recovered with those ranks. The
 * unfoldings of W built from random cores have rank exactly 3 (generic
 * cores), their 4th..last singular values are rounding (~1e-16 of the
 * norm), far below delta = 1e-6 ‖W‖/sqrt(3), and the 3rd is O(‖W‖). */
START_TEST(test_svd_exact_ranks)
{
    const int64_t m[4] = {2, 3, 2, 3}, n[4] = {3, 2, 2, 2}, r[5] = {1, 3, 3, 3, 1};
    struct clf_tt src = random_tt(4, m, n, r);
    double *w = dense_of(&src);
    const int64_t M = prod(m, 4), N = prod(n, 4);
    struct clf_tt tt;
    double err = -1;
    ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, 4, m, n, 0, 1e-6, &tt, &err), CLF_OK);
    printf("tt: exact ranks (3,3,3): got (%lld,%lld,%lld), rel error %.3g\n",
           (long long)tt.r[1], (long long)tt.r[2], (long long)tt.r[3], err);
    ck_assert(tt.r[0] == 1 && tt.r[1] == 3 && tt.r[2] == 3 && tt.r[3] == 3 && tt.r[4] == 1);
    double *wt = dense_of(&tt);
    const double e = rel_diff(w, wt, M * N);
    ck_assert_msg(e <= 1e-6 && err <= 1e-6, "rel error %g (reported %g)", e, err);
    ck_assert_msg(fabs(e - err) <= 1e-12, "reported %g, measured %g", err, e);
    ck_assert_int_eq(clf_tt_params(&tt), 2 * 3 * 3 + 3 * 3 * 2 * 3 + 3 * 2 * 2 * 3 + 3 * 3 * 2);
    free(wt);
    free(w);
    clf_tt_free(&tt);
    clf_tt_free(&src);
}
END_TEST

/* ‖W − W_TT‖_F <= eps‖W‖_F by reconstruction, on random and structured W,
 * d = 2, 3, 4; the only slack is 1e-12 relative for the double rounding of
 * the SVDs and of the reconstruction itself. r_max caps every rank. */
START_TEST(test_svd_eps_bound)
{
    const int64_t M = 96, N = 48;
    for (int kind = 0; kind < 2; kind++) {
        double *w = kind ? structured_w(M, N) : random_w(M, N, 1.0);
        for (int d = 2; d <= 4; d++) {
            int64_t m[CLF_TT_MAX_D], n[CLF_TT_MAX_D];
            ck_assert_int_eq(clf_tt_modes(M, d, m), CLF_OK);
            ck_assert_int_eq(clf_tt_modes(N, d, n), CLF_OK);
            const double epss[3] = {1e-1, 1e-2, 1e-3};
            for (int e = 0; e < 3; e++) {
                struct clf_tt tt;
                double rep = -1;
                ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, d, m, n, 0, epss[e], &tt, &rep),
                                 CLF_OK);
                double *wt = dense_of(&tt);
                const double err = rel_diff(w, wt, M * N);
                printf("tt: %s W [%lld, %lld] d=%d eps=%g: ranks", kind ? "structured" : "random",
                       (long long)M, (long long)N, d, epss[e]);
                for (int k = 1; k < d; k++)
                    printf(" %lld", (long long)tt.r[k]);
                printf(", params %lld, error %.4g\n", (long long)clf_tt_params(&tt), err);
                ck_assert_msg(err <= epss[e] + 1e-12, "error %g > eps %g", err, epss[e]);
                ck_assert_msg(fabs(rep - err) <= 1e-12, "reported %g, measured %g", rep, err);
                free(wt);
                clf_tt_free(&tt);
            }
            /* r_max caps */
            for (int64_t cap = 1; cap <= 3; cap++) {
                struct clf_tt tt;
                double rep = -1;
                ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, d, m, n, cap, 1e-3, &tt, &rep),
                                 CLF_OK);
                for (int k = 1; k < d; k++)
                    ck_assert_int_le(tt.r[k], cap);
                ck_assert(tt.r[0] == 1 && tt.r[d] == 1);
                ck_assert(rep >= 0 && rep <= 1);
                clf_tt_free(&tt);
            }
        }
        free(w);
    }
}
END_TEST

/* No truncation (eps = 0, no cap): ranks are the full unfolding ranks and
 * W_TT = W to double rounding. Each SVD is backward stable with an error of
 * a modest multiple of k·u·‖C‖ (k <= 48 here, u = 2^-53): well under
 * 1e-12; d = 1 is a copy (exact). */
START_TEST(test_svd_full)
{
    const int64_t M = 48, N = 36;
    double *w = random_w(M, N, 1.0);
    for (int d = 1; d <= 4; d++) {
        int64_t m[CLF_TT_MAX_D], n[CLF_TT_MAX_D];
        ck_assert_int_eq(clf_tt_modes(M, d, m), CLF_OK);
        ck_assert_int_eq(clf_tt_modes(N, d, n), CLF_OK);
        struct clf_tt tt;
        double rep = -1;
        ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, d, m, n, 0, 0.0, &tt, &rep), CLF_OK);
        double *wt = dense_of(&tt);
        const double err = rel_diff(w, wt, M * N);
        printf("tt: no truncation d=%d: error %.3g\n", d, err);
        if (d == 1)
            ck_assert(err == 0 && rep == 0);
        ck_assert_msg(err <= 1e-12, "d=%d: error %g", d, err);
        /* full ranks: r_{k+1} = min(Π_{u<=k} s_u, Π_{u>k} s_u) */
        for (int k = 0; k + 1 < d; k++) {
            double left = 1, right = 1;
            for (int u = 0; u <= k; u++)
                left *= (double)(m[u] * n[u]);
            for (int u = k + 1; u < d; u++)
                right *= (double)(m[u] * n[u]);
            ck_assert_int_eq(tt.r[k + 1], (int64_t)fmin(left, right));
        }
        free(wt);
        clf_tt_free(&tt);
    }
    free(w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Kernel                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Per-element bound of the device result against y = act(z), z = x·W_TTᵀ
 * + b, all in double from the double cores.
 * Step k is a sum of K_k products per output (K_k = r_k·n_k left to right,
 * n_k·r_{k+1} right to left), in fp32 by tt_contract (sequential fma) or
 * by clf_op_gemm (alpha = 1, beta = 0: some summation order of the same
 * K_k products, blocked or not): in any order computed = exact + e with
 * |e| <= gamma_{K_k}·Σ|terms| (Higham Thm 3.5 / §3.1 for any order).
 * The bias add (in the GEMM's or tt_contract's epilogue, or tt_bias_act)
 * is one more rounding. The cores are rounded
 * once to fp32 (relative u each). The contraction being multilinear in the
 * cores and in x, induction over the steps gives
 *   |ẑ − x·W_TTᵀ| <= ((1 + u)^d Π_k (1 + gamma_{K_k}) − 1) · (|x|·|W|_TTᵀ)
 * where |W|_TT is the TT-matrix of the cores' absolute values (the same
 * contraction on |G_k| and |x|). Adding the bias rounds once more: + u|z|.
 * Activation: RELU is exact and 1-Lipschitz; GELU / GELU_TANH are
 * 1.13-Lipschitz (max |gelu'| = 1.129) and evaluated with erf <= 16 ulp /
 * tanh <= 5 ulp plus a few roundings: at most 0.5|z|·(32u + 8u) = 20u|z|,
 * taken as 40u|z| (the tanh argument's own rounding adds < 3u|z|).
 */
static double kernel_bound(double chain, double absdot, double z, enum clf_act act)
{
    const double u = TEST_U32;
    double dz = chain * absdot + u * (fabs(z) + chain * absdot);
    if (act == CLF_ACT_GELU || act == CLF_ACT_GELU_TANH)
        return SLACK * (1.13 * dz + 40 * u * (fabs(z) + dz)) + 0x1p-126;
    return SLACK * dz + 0x1p-126;
}

/* Runs the op on a random x [B, N] (rows strided by N + 3, offset 2) with
 * bias (or not) and act, and checks every element against the bound. */
static void check_kernel(const struct clf_tt *tt, int64_t B, bool with_bias, enum clf_act act,
                         const char *what)
{
    struct clf_ctx *ctx = test_ctx();
    const int d = tt->d;
    const int64_t M = prod(tt->m, d), N = prod(tt->n, d), ld = N + 3;
    double *w = dense_of(tt);
    struct clf_tt at = *tt; /* |cores| */
    for (int k = 0; k < d; k++) {
        const int64_t sz = tt->r[k] * tt->m[k] * tt->n[k] * tt->r[k + 1];
        at.cores[k] = malloc((size_t)sz * sizeof(double));
        ck_assert_ptr_nonnull(at.cores[k]);
        for (int64_t i = 0; i < sz; i++)
            at.cores[k][i] = fabs(tt->cores[k][i]);
    }
    double *wabs = dense_of(&at);
    clf_tt_free(&at);

    float *xs = malloc((size_t)(B * ld) * sizeof *xs), *bias = malloc((size_t)M * sizeof *bias);
    ck_assert(xs && bias);
    test_fill_uniform(xs, (size_t)(B * ld), -1, 1);
    test_fill_uniform(bias, (size_t)M, -1, 1);
    const int64_t base_shape[1] = {B * ld}, xshape[2] = {B, N}, xstr[2] = {ld, 1};
    const int64_t bshape[1] = {M};
    struct clf_tensor *xb = test_upload(1, base_shape, xs), *x = NULL;
    ck_assert_ok(ctx, clf_tensor_view(xb, 2, xshape, xstr, 2, &x));
    struct clf_tensor *bt = with_bias ? test_upload(1, bshape, bias) : NULL;
    struct clf_tt_weights *tw = NULL;
    ck_assert_ok(ctx, clf_tt_upload(ctx, tt, &tw));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_op_tt_linear(g, x, tw, bt, act, &y));
    /* d steps, plus a tt_bias_act node when the last step is a GEMM whose
     * rows are not tokens (left to right, m_{d-1} != M) and has work */
    const bool extra = !tw->rtl && tt->m[d - 1] != M && (with_bias || act != CLF_ACT_NONE);
    ck_assert_uint_eq(g->n_nodes, (size_t)d + extra);
    ck_assert(tw->rtl == clf_tt_order_rtl(tt));
    ck_assert(clf_tt_flops_per_token(tt) == clf_tt_flops_order(tt, tw->rtl));
    ck_assert(clf_tt_flops_per_token(tt) <= clf_tt_flops_order(tt, !tw->rtl));
    ck_assert(y && clf_tensor_ndim(y) == 2);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);

    double chain = pow(1 + TEST_U32, d);
    for (int k = 0; k < d; k++) /* K_k: (r_k, n_k) or (n_k, r_{k+1}) */
        chain *= 1 + test_gamma((double)((tw->rtl ? tt->r[k + 1] : tt->r[k]) * tt->n[k]));
    chain -= 1;
    double worst = 0; /* max err / bound */
    for (int64_t p = 0; p < B; p++)
        for (int64_t i = 0; i < M; i++) {
            const float *xp = xs + 2 + p * ld;
            double z = with_bias ? bias[i] : 0, a = 0;
            for (int64_t j = 0; j < N; j++) {
                z += (double)xp[j] * w[i * N + j];
                a += fabs((double)xp[j]) * wabs[i * N + j];
            }
            const double ref = test_act_ref(z, act), got = out[p * M + i];
            const double bound = kernel_bound(chain, a, z, act), err = fabs(got - ref);
            ck_assert_msg(err <= bound, "%s B=%lld: y[%lld, %lld] = %.9g, ref %.9g, err %.3g > %.3g",
                          what, (long long)B, (long long)p, (long long)i, got, ref, err, bound);
            worst = fmax(worst, err / bound);
        }
    printf("tt: kernel %s B=%lld bias=%d act=%d: max err/bound %.3f\n", what, (long long)B,
           with_bias, (int)act, worst);
    free(out);
    clf_graph_destroy(g);
    clf_tt_weights_free(tw);
    clf_tensor_destroy(bt);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xb);
    free(xs);
    free(bias);
    free(w);
    free(wabs);
}

START_TEST(test_kernel)
{
    static const struct {
        int d;
        int64_t m[4], n[4], r[5];
    } cases[] = {
        {2, {4, 6}, {5, 3}, {1, 3, 1}},
        {2, {16, 3}, {1, 12}, {1, 7, 1}},
        {3, {3, 4, 2}, {2, 5, 3}, {1, 2, 4, 1}},
        {3, {8, 12, 16}, {6, 8, 8}, {1, 5, 9, 1}},
        {4, {2, 3, 2, 2}, {2, 2, 3, 2}, {1, 3, 2, 3, 1}},
        {4, {3, 2, 1, 5}, {2, 3, 4, 1}, {1, 2, 5, 1, 1}},
        /* right to left cheaper (n large last, m large first) */
        {3, {8, 6, 6}, {6, 8, 12}, {1, 8, 8, 1}},
        {2, {12, 2}, {2, 9}, {1, 4, 1}},
        {2, {6, 1}, {2, 7}, {1, 3, 1}},          /* right to left, last S = 1 */
        {1, {6}, {10}, {1, 1}},                  /* d = 1: one GEMM */
        {2, {1, 9}, {5, 4}, {1, 3, 1}},          /* m_{d-1} = M: GEMM epilogue */
    };
    const int64_t bs[3] = {1, 7, 130};
    const enum clf_act acts[4] = {CLF_ACT_NONE, CLF_ACT_RELU, CLF_ACT_GELU, CLF_ACT_GELU_TANH};
    int t = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct clf_tt tt = random_tt(cases[c].d, cases[c].m, cases[c].n, cases[c].r);
        char what[48];
        snprintf(what, sizeof what, "case %zu (d=%d, %s)", c, cases[c].d,
                 clf_tt_order_rtl(&tt) ? "rtl" : "ltr");
        for (int b = 0; b < 3; b++, t++)
            check_kernel(&tt, bs[b], t % 2 == 0, acts[t % 4], what);
        clf_tt_free(&tt);
    }
    /* TT-SVD output (orthonormal cores, uneven ranks) of a structured W */
    const int64_t M = 96, N = 48;
    double *w = structured_w(M, N);
    int64_t m[3], n[3];
    clf_tt_modes(M, 3, m);
    clf_tt_modes(N, 3, n);
    struct clf_tt tt;
    ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, 3, m, n, 0, 1e-2, &tt, NULL), CLF_OK);
    check_kernel(&tt, 130, true, CLF_ACT_GELU, "tt-svd d=3");
    check_kernel(&tt, 7, false, CLF_ACT_NONE, "tt-svd d=3");
    clf_tt_free(&tt);
    free(w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t m[3] = {2, 3, 2}, n[3] = {2, 2, 3}, r[4] = {1, 2, 2, 1};
    const int64_t M = 12, N = 12;
    double *w = random_w(M, N, 1.0);
    struct clf_tt tt;
    /* TT-SVD arguments */
    const int64_t bad_m[3] = {2, 3, 3};
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 3, bad_m, n, 0, 1e-2, &tt, NULL), CLF_E_SHAPE);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 3, m, bad_m, 0, 1e-2, &tt, NULL), CLF_E_SHAPE);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N + 1, 3, m, n, 0, 1e-2, &tt, NULL), CLF_E_SHAPE);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 0, m, n, 0, 1e-2, &tt, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, CLF_TT_MAX_D + 1, m, n, 0, 1e-2, &tt, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 3, m, n, -1, 1e-2, &tt, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 3, m, n, 0, -1e-2, &tt, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_svd(ctx, w, M, N, 3, m, n, 0, NAN, &tt, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_svd(ctx, NULL, M, N, 3, m, n, 0, 1e-2, &tt, NULL), CLF_E_INVALID_ARG);

    /* malformed TTs: bad boundary / zero ranks, NULL core */
    struct clf_tt good = random_tt(3, m, n, r);
    struct clf_tt_weights *tw = NULL;
    struct clf_tt bad = good;
    bad.r[0] = 2;
    ck_assert_int_eq(clf_tt_upload(ctx, &bad, &tw), CLF_E_SHAPE);
    ck_assert_ptr_null(tw);
    bad = good;
    bad.r[3] = 3;
    ck_assert_int_eq(clf_tt_upload(ctx, &bad, &tw), CLF_E_SHAPE);
    bad = good;
    bad.r[1] = 0;
    ck_assert_int_eq(clf_tt_upload(ctx, &bad, &tw), CLF_E_SHAPE);
    bad = good;
    bad.cores[1] = NULL;
    ck_assert_int_eq(clf_tt_upload(ctx, &bad, &tw), CLF_E_INVALID_ARG);
    bad = good;
    bad.d = 0;
    ck_assert_int_eq(clf_tt_upload(ctx, &bad, &tw), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_to_dense(&bad, w), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tt_upload(ctx, NULL, &tw), CLF_E_INVALID_ARG);

    /* the op: nothing recorded on a bad call */
    ck_assert_ok(ctx, clf_tt_upload(ctx, &good, &tw));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    const int64_t xs_ok[2] = {5, N}, xs_bad[2] = {5, N + 1}, x3[3] = {1, 5, N};
    const int64_t b_ok[1] = {M}, b_bad[1] = {M + 1}, b2[2] = {1, M};
    struct clf_tensor *x = NULL, *xbad = NULL, *xt = NULL, *x3d = NULL, *bias = NULL,
                      *bbad = NULL, *b2d = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, xs_ok, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, xs_bad, &xbad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, x3, &x3d));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, b_ok, &bias));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, b_bad, &bbad));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, b2, &b2d));
    /* [5, N] with columns strided (a transposed view of [N, 5]) */
    const int64_t tstr[2] = {1, 5};
    ck_assert_ok(ctx, clf_tensor_view(x, 2, xs_ok, tstr, 0, &xt));
    y = x; /* must be cleared by a failing call */
    ck_assert_status(ctx, clf_op_tt_linear(g, xbad, tw, NULL, CLF_ACT_NONE, &y), CLF_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_tt_linear(g, x3d, tw, NULL, CLF_ACT_NONE, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_tt_linear(g, xt, tw, NULL, CLF_ACT_NONE, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_tt_linear(g, x, tw, bbad, CLF_ACT_NONE, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_tt_linear(g, x, tw, b2d, CLF_ACT_NONE, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_tt_linear(g, x, NULL, bias, CLF_ACT_NONE, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_tt_linear(g, x, tw, bias, (enum clf_act)9, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_tt_linear(g, NULL, tw, bias, CLF_ACT_NONE, &y),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_tt_linear(g, x, tw, bias, CLF_ACT_NONE, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_uint_eq(g->n_nodes, 0);
    ck_assert_ok(ctx, clf_op_tt_linear(g, x, tw, bias, CLF_ACT_RELU, &y));
    ck_assert_uint_eq(g->n_nodes, 3);

    clf_graph_destroy(g);
    clf_tensor_destroy(xt);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xbad);
    clf_tensor_destroy(x3d);
    clf_tensor_destroy(bias);
    clf_tensor_destroy(bbad);
    clf_tensor_destroy(b2d);
    clf_tt_weights_free(tw);
    clf_tt_free(&good);
    free(w);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Measured numbers                                                         */
/* ------------------------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Median wall time (ms) of 5 runs of y = x·W_TTᵀ, B tokens, after a warm-up
 * (kernel build). Informative only: nothing is asserted on time. */
static double time_kernel(const struct clf_tt *tt, int64_t B)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t N = prod(tt->n, tt->d), shape[2] = {B, N};
    float *xs = malloc((size_t)(B * N) * sizeof *xs);
    ck_assert_ptr_nonnull(xs);
    test_fill_uniform(xs, (size_t)(B * N), -1, 1);
    struct clf_tensor *x = test_upload(2, shape, xs), *y = NULL;
    struct clf_tt_weights *tw = NULL;
    ck_assert_ok(ctx, clf_tt_upload(ctx, tt, &tw));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_tt_linear(g, x, tw, NULL, CLF_ACT_NONE, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    double t[5];
    for (int i = 0; i < 5; i++) {
        double t0 = now_ms();
        ck_assert_ok(ctx, clf_graph_run(g));
        t[i] = now_ms() - t0;
    }
    for (int a = 1; a < 5; a++) /* sort */
        for (int b = a; b > 0 && t[b - 1] > t[b]; b--) {
            double s = t[b];
            t[b] = t[b - 1];
            t[b - 1] = s;
        }
    clf_graph_destroy(g);
    clf_tt_weights_free(tw);
    clf_tensor_destroy(x);
    free(xs);
    return t[2];
}

/* W [1536, 384] ~ N(0, 1/384) (a random FFN weight; its spectrum is flat,
 * the worst case for TT), d = 3 balanced modes: ranks, parameters, FLOPs
 * per token and the error for eps = 1e-1 .. 1e-3 (printed; the bound is
 * asserted). */
START_TEST(test_measure)
{
    const int64_t M = 1536, N = 384;
    double *w = random_w(M, N, 1.0 / sqrt(384.0));
    int64_t m[3], n[3];
    ck_assert_int_eq(clf_tt_modes(M, 3, m), CLF_OK);
    ck_assert_int_eq(clf_tt_modes(N, 3, n), CLF_OK);
    const double epss[3] = {1e-1, 1e-2, 1e-3};
    for (int e = 0; e < 3; e++) {
        struct clf_tt tt;
        double err = -1;
        ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, 3, m, n, 0, epss[e], &tt, &err), CLF_OK);
        printf("tt: W [1536, 384] N(0,1/384), modes (%lld,%lld,%lld)x(%lld,%lld,%lld), eps=%g: "
               "ranks (%lld,%lld), params %lld (dense %lld, %.3fx), flops/token %.0f (dense "
               "%.0f), error %.4g\n",
               (long long)m[0], (long long)m[1], (long long)m[2], (long long)n[0],
               (long long)n[1], (long long)n[2], epss[e], (long long)tt.r[1], (long long)tt.r[2],
               (long long)clf_tt_params(&tt), (long long)(M * N),
               (double)clf_tt_params(&tt) / (double)(M * N), clf_tt_flops_per_token(&tt),
               2.0 * (double)(M * N), err);
        ck_assert(err <= epss[e] + 1e-12);
        clf_tt_free(&tt);
    }
    /* rank caps: where TT actually compresses (the error is then what the
     * cap allows, no bound), and the kernel's speed on B = 512 tokens */
    const int64_t caps[3] = {8, 16, 32};
    for (int c = 0; c < 3; c++) {
        struct clf_tt tt;
        double err = -1;
        ck_assert_int_eq(clf_tt_svd(NULL, w, M, N, 3, m, n, caps[c], 0.0, &tt, &err), CLF_OK);
        const double ms = time_kernel(&tt, 512);
        const double flops = clf_tt_flops_per_token(&tt);
        printf("tt: W [1536, 384] r_max=%lld: ranks (%lld,%lld), params %lld (%.3fx dense), "
               "flops/token %.0f (%.3fx dense), error %.4g; kernel B=512: %.2f ms, %.1f GFLOP/s\n",
               (long long)caps[c], (long long)tt.r[1], (long long)tt.r[2],
               (long long)clf_tt_params(&tt), (double)clf_tt_params(&tt) / (double)(M * N), flops,
               flops / (2.0 * (double)(M * N)), err, ms, flops * 512 / (ms * 1e6));
        clf_tt_free(&tt);
    }
    free(w);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("tt");
    TCase *tc = tcase_create("tt");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_modes);
    tcase_add_test(tc, test_svd_exact_ranks);
    tcase_add_test(tc, test_svd_eps_bound);
    tcase_add_test(tc, test_svd_full);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_kernel);
    tcase_add_test(tc, test_measure);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
