/* Randomised truncated SVD (lib/linalg/rsvd.c) on matrices with a known
 * spectrum sigma_j = 1/j, against the Eckart-Young optimum. Host only: no
 * OpenCL device is needed (a context is used for error messages when one
 * can be made). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/linalg/rsvd.h" /* internal: the randomised SVD */
#include "../lib/linalg/svd.h"

/* sqrt(sum_{j > r} 1/j^2), j = 1..k: ||A - A_r||_F for the optimal A_r. */
static double exact_tail(int64_t k, int64_t r)
{
    double t = 0;
    for (int64_t j = k; j > r; j--)
        t += 1.0 / ((double)j * (double)j);
    return sqrt(t);
}

/* ||A - U_r diag(s_r) Vt_r||_F, U [m, ldu] (first r columns used), Vt [>= r, n]. */
static double residual_ld(const double *a, int64_t m, int64_t n, const double *u, int64_t ldu,
                          const double *s, const double *vt, int64_t r)
{
    double acc = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double x = a[i * n + j];
            for (int64_t c = 0; c < r; c++)
                x -= u[i * ldu + c] * s[c] * vt[c * n + j];
            acc += x * x;
        }
    return sqrt(acc);
}

static double residual(const double *a, int64_t m, int64_t n, const double *u, const double *s,
                       const double *vt, int64_t r)
{
    return residual_ld(a, m, n, u, r, s, vt, r);
}

/* max |X^T X - I| for X with `cols` orthonormal columns; stride between
 * rows `ld`, between columns `cs` (covers U's columns and Vt's rows). */
static double orth_error(const double *x, int64_t rows, int64_t cols, int64_t ld, int64_t cs)
{
    double worst = 0;
    for (int64_t p = 0; p < cols; p++)
        for (int64_t q = 0; q <= p; q++) {
            double d = 0;
            for (int64_t i = 0; i < rows; i++)
                d += x[i * ld + p * cs] * x[i * ld + q * cs];
            worst = fmax(worst, fabs(d - (p == q ? 1.0 : 0.0)));
        }
    return worst;
}

struct result {
    double ratio;   /* ||A - U S Vt||_F / optimal */
    double err;     /* ||A - U S Vt||_F */
    double orth;    /* worst orthonormality error of U and V */
    double s_above; /* max(s_j - sigma_j): must be <= rounding (interlacing) */
};

static struct result run_rsvd(const double *a, int64_t m, int64_t n, int64_t r, int64_t p,
                              int q, uint64_t seed, double *s_out)
{
    const int64_t k = m < n ? m : n;
    double *u = malloc((size_t)(m * r) * sizeof *u), *s = malloc((size_t)r * sizeof *s);
    double *vt = malloc((size_t)(r * n) * sizeof *vt);
    ck_assert(u && s && vt);
    ck_assert_int_eq(clf_rsvd(NULL, a, m, n, r, p, q, seed, u, s, vt), CLF_OK);
    struct result res;
    res.err = residual(a, m, n, u, s, vt, r);
    const double opt = exact_tail(k, r);
    res.ratio = opt > 0 ? res.err / opt : 0;
    res.orth = fmax(orth_error(u, m, r, r, 1), orth_error(vt, n, r, 1, n));
    res.s_above = -INFINITY;
    for (int64_t j = 0; j < r; j++) {
        res.s_above = fmax(res.s_above, s[j] - 1.0 / (double)(j + 1));
        if (j > 0)
            ck_assert_msg(s[j] <= s[j - 1], "singular values not non-increasing at %lld",
                          (long long)j);
        ck_assert(s[j] >= 0);
    }
    if (s_out)
        memcpy(s_out, s, (size_t)r * sizeof *s);
    free(u);
    free(s);
    free(vt);
    return res;
}

/*
 * Power iterations (q >= 1), p = 10: within 1.1x of the Eckart-Young error.
 * With sigma_j = 1/j and q = 1 the effective spectrum is sigma^3, decaying
 * fast enough that the sample space captures the top r directions almost
 * exactly (Halko Cor. 10.10). Every singular value of Q^T A is at most the
 * matching one of A (interlacing), up to rounding (1e-13 here).
 */
static void check_power(int64_t m, int64_t n)
{
    double *a = test_known_spectrum(m, n, NULL, NULL);
    const int64_t ranks[] = {10, 20, 40};
    for (size_t i = 0; i < sizeof ranks / sizeof *ranks; i++)
        for (int q = 1; q <= 2; q++) {
            const int64_t r = ranks[i];
            struct result res = run_rsvd(a, m, n, r, 10, q, test_rand_u64(), NULL);
            printf("%lld x %lld, r = %lld, p = 10, q = %d: error / optimal = %.6f\n",
                   (long long)m, (long long)n, (long long)r, q, res.ratio);
            ck_assert_msg(res.ratio <= 1.1, "r = %lld, q = %d: ratio %.6f > 1.1", (long long)r,
                          q, res.ratio);
            ck_assert_msg(res.ratio >= 1 - 1e-10, "r = %lld: beats Eckart-Young (%.17g)",
                          (long long)r, res.ratio);
            ck_assert_msg(res.orth <= 1e-12, "factors not orthonormal: %g", res.orth);
            ck_assert_msg(res.s_above <= 1e-13, "s_j exceeds sigma_j by %g", res.s_above);
        }
    free(a);
}

START_TEST(test_power_tall)
{
    check_power(300, 200);
}
END_TEST

START_TEST(test_power_wide)
{
    check_power(200, 300);
}
END_TEST

/*
 * q = 0 (Algorithm 4.1 only). Not asserted against 1.1: with sigma_j = 1/j
 * the tail is heavy and a single Gaussian sketch loses accuracy. Bound
 * asserted instead: err^2 = ||A - Q Q^T A||_F^2 + ||B - B_r||_F^2, the
 * second term <= tail_r^2 (the singular values of B = Q^T A interlace below
 * A's), the first has expectation <= (1 + r/(p-1)) tail_r^2 (Halko Thm 10.5,
 * from Prop. 10.1 which bounds the expected square). So E[err^2] <=
 * (2 + r/(p-1)) tail_r^2; the ratio is asserted <= sqrt(2 + r/(p-1)) (1.76
 * for r = 10, 2.54 for r = 40). An expectation, not a sure bound, but the
 * error concentrates sharply around its mean (Halko Thm 10.7) and the
 * measured ratios sit well below it.
 */
START_TEST(test_no_power)
{
    const int64_t m = 300, n = 200, p = 10;
    double *a = test_known_spectrum(m, n, NULL, NULL);
    const int64_t ranks[] = {10, 20, 40};
    for (size_t i = 0; i < sizeof ranks / sizeof *ranks; i++) {
        const int64_t r = ranks[i];
        struct result res = run_rsvd(a, m, n, r, p, 0, test_rand_u64(), NULL);
        const double bound = sqrt(2.0 + (double)r / (double)(p - 1));
        printf("%lld x %lld, r = %lld, p = 10, q = 0: error / optimal = %.6f (bound %.3f)\n",
               (long long)m, (long long)n, (long long)r, res.ratio, bound);
        ck_assert_msg(res.ratio <= bound, "r = %lld, q = 0: ratio %.6f > %.3f", (long long)r,
                      res.ratio, bound);
        ck_assert_msg(res.ratio >= 1 - 1e-10, "r = %lld: beats Eckart-Young", (long long)r);
        ck_assert_msg(res.orth <= 1e-12, "factors not orthonormal: %g", res.orth);
        ck_assert_msg(res.s_above <= 1e-13, "s_j exceeds sigma_j by %g", res.s_above);
    }
    free(a);
}
END_TEST

/*
 * Full rank (r = min(m, n), p = 0): Q spans the whole column space, so the
 * factorisation is an exact SVD up to rounding: reconstruction, the
 * singular values and orthonormality all within 1e-12 (||A||_2 = 1).
 * r + p beyond min(m, n) is clamped, so r = 195 with p = 10 is exact too.
 */
START_TEST(test_full_rank)
{
    const int64_t m = 300, n = 200;
    double *a = test_known_spectrum(m, n, NULL, NULL);
    const double frob = clf_frobenius_norm(a, m, n);
    double s[200];
    for (int q = 0; q <= 1; q++) {
        struct result res = run_rsvd(a, m, n, n, 0, q, test_rand_u64(), s);
        printf("full rank, q = %d: ||A - U S Vt||_F / ||A||_F = %.3g, orthonormality %.3g\n", q,
               res.err / frob, res.orth);
        ck_assert_msg(res.err / frob <= 1e-12, "full rank: relative residual %g",
                      res.err / frob);
        ck_assert_msg(res.orth <= 1e-12, "full rank: orthonormality %g", res.orth);
        for (int64_t j = 0; j < n; j++)
            ck_assert_msg(fabs(s[j] - 1.0 / (double)(j + 1)) <= 1e-12, "s[%lld] = %.17g",
                          (long long)j, s[j]);
    }
    struct result res = run_rsvd(a, m, n, 195, 10, 0, test_rand_u64(), s);
    printf("r = 195, p = 10 (clamped to 5): error / optimal = %.12f\n", res.ratio);
    ck_assert_msg(fabs(res.ratio - 1) <= 1e-9, "clamped oversampling: ratio %.17g", res.ratio);
    free(a);
}
END_TEST

/* Equal seeds give bitwise equal factors; another seed gives other factors
 * (same subspace, so close, but not bitwise equal). */
START_TEST(test_deterministic)
{
    const int64_t m = 120, n = 80, r = 12;
    double *a = test_known_spectrum(m, n, NULL, NULL);
    double *u[3], *s[3], *vt[3];
    const uint64_t seed = test_rand_u64();
    for (int i = 0; i < 3; i++) {
        u[i] = malloc((size_t)(m * r) * sizeof(double));
        s[i] = malloc((size_t)r * sizeof(double));
        vt[i] = malloc((size_t)(r * n) * sizeof(double));
        ck_assert(u[i] && s[i] && vt[i]);
        ck_assert_int_eq(clf_rsvd(NULL, a, m, n, r, 5, 1, i < 2 ? seed : seed + 1, u[i], s[i],
                                  vt[i]),
                         CLF_OK);
    }
    ck_assert(!memcmp(u[0], u[1], (size_t)(m * r) * sizeof(double)));
    ck_assert(!memcmp(s[0], s[1], (size_t)r * sizeof(double)));
    ck_assert(!memcmp(vt[0], vt[1], (size_t)(r * n) * sizeof(double)));
    ck_assert(memcmp(u[0], u[2], (size_t)(m * r) * sizeof(double)) != 0);
    for (int i = 0; i < 3; i++) {
        free(u[i]);
        free(s[i]);
        free(vt[i]);
    }
    free(a);
}
END_TEST

/*
 * clf_rsvd_tail_error from the computed values and ||A||_F matches the
 * measured residual (a difference of squares: 1e-7 absolute); the rank it
 * picks for a target reaches it, one fewer does not, and it is never below
 * the optimal rank from the exact spectrum (clf_svd_rank_for_error).
 */
START_TEST(test_rank_for_error)
{
    const int64_t m = 300, n = 200, kmax = 40;
    double *a = test_known_spectrum(m, n, NULL, NULL);
    const double frob = clf_frobenius_norm(a, m, n);
    double exact_frob = exact_tail(n, 0);
    ck_assert_msg(fabs(frob - exact_frob) <= 1e-12, "||A||_F = %.17g, expected %.17g", frob,
                  exact_frob);

    double *u = malloc((size_t)(m * kmax) * sizeof *u), s[40];
    double *vt = malloc((size_t)(kmax * n) * sizeof *vt);
    ck_assert(u && vt);
    ck_assert_int_eq(clf_rsvd(NULL, a, m, n, kmax, 10, 2, test_rand_u64(), u, s, vt), CLF_OK);
    const int64_t rs[] = {1, 5, 17, 40};
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) {
        double measured = residual_ld(a, m, n, u, kmax, s, vt, rs[i]) / frob;
        double est = clf_rsvd_tail_error(s, kmax, rs[i], frob);
        ck_assert_msg(fabs(measured - est) <= 1e-7, "r = %lld: estimate %.12g, measured %.12g",
                      (long long)rs[i], est, measured);
    }
    ck_assert(clf_rsvd_tail_error(s, kmax, 0, frob) == 1.0);
    ck_assert(clf_rsvd_tail_error(s, kmax, 3, 0.0) == 0.0);

    double sigma[200];
    for (int64_t j = 0; j < n; j++)
        sigma[j] = 1.0 / (double)(j + 1);
    const double targets[] = {0.5, 0.3, 0.2, 0.15};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        const double tol = targets[i];
        int64_t r = clf_rsvd_rank_for_error(s, kmax, frob, tol);
        int64_t r_opt = clf_svd_rank_for_error(sigma, n, tol);
        printf("target %.2f: rank %lld (optimal %lld)\n", tol, (long long)r, (long long)r_opt);
        ck_assert_int_ge(r, r_opt);
        ck_assert_int_le(r, kmax);
        ck_assert(clf_rsvd_tail_error(s, kmax, r, frob) <= tol);
        if (r > 0)
            ck_assert(clf_rsvd_tail_error(s, kmax, r - 1, frob) > tol);
    }
    /* unreachable with 40 values: the optimal rank-40 error is 0.11 */
    ck_assert_int_eq(clf_rsvd_rank_for_error(s, kmax, frob, 0.05), kmax + 1);
    ck_assert_int_eq(clf_rsvd_rank_for_error(NULL, kmax, frob, 0.05), 0);
    free(u);
    free(vt);
    free(a);
}
END_TEST

/* A context for the error messages when one can be made; else NULL (the
 * statuses are checked either way). */
static struct clf_ctx *error_ctx(char **dir)
{
    *dir = test_make_tmpdir("linalg-cache");
    struct clf_ctx_params params = clf_ctx_params_default();
    params.cache_dir = *dir;
    struct clf_ctx *ctx = NULL;
    if (clf_ctx_create(&params, &ctx) != CLF_OK)
        return NULL;
    return ctx;
}

#define CHECK_ERR(ctx, expr, want)                                                           \
    do {                                                                                     \
        ck_assert_int_eq((expr), (want));                                                    \
        if (ctx)                                                                             \
            ck_assert_msg(strstr(clf_ctx_last_error(ctx), "randomised SVD") != NULL,         \
                          "message: %s", clf_ctx_last_error(ctx));                           \
        if (ctx)                                                                             \
            printf("%-58s -> %s\n", #expr, clf_ctx_last_error(ctx));                          \
    } while (0)

START_TEST(test_errors)
{
    char *dir;
    struct clf_ctx *ctx = error_ctx(&dir);
    enum { M = 12, N = 8 };
    double a[M * N], u[M * N], s[N], vt[N * N];
    for (int i = 0; i < M * N; i++)
        a[i] = test_rand_uniform(-1, 1);

    CHECK_ERR(ctx, clf_rsvd(ctx, NULL, M, N, 2, 2, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, NULL, s, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, NULL, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, s, NULL), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, 0, N, 2, 2, 1, 1, u, s, vt), CLF_E_SHAPE);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, -1, 2, 2, 1, 1, u, s, vt), CLF_E_SHAPE);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, INT64_MAX / 2, 4, 2, 2, 1, 1, u, s, vt), CLF_E_SHAPE);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 0, 2, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, N + 1, 0, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, -1, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, -1, 1, u, s, vt), CLF_E_INVALID_ARG);
    a[5 * N + 3] = NAN;
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    a[5 * N + 3] = INFINITY;
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, s, vt), CLF_E_INVALID_ARG);
    /* huge and tiny elements: the products would overflow or underflow, so
     * the matrix is scaled by a power of two first; all-equal entries x give
     * rank one, s_0 = |x| sqrt(M N), the rest 0 (to rounding) */
    const double huge_tiny[] = {1e307, -3e-310};
    for (int c = 0; c < 2; c++) {
        const double x = huge_tiny[c];
        for (int i = 0; i < M * N; i++)
            a[i] = x;
        ck_assert_int_eq(clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, s, vt), CLF_OK);
        const double s0 = fabs(x) * sqrt((double)(M * N));
        ck_assert_msg(fabs(s[0] - s0) <= 1e-14 * s0, "s_0 = %.17g, expected %.17g", s[0], s0);
        ck_assert_msg(s[1] <= 1e-14 * s0, "s_1 = %.17g", s[1]);
    }
    /* a singular value beyond the double range: a status, not inf */
    for (int i = 0; i < M * N; i++)
        a[i] = 1e308;
    CHECK_ERR(ctx, clf_rsvd(ctx, a, M, N, 2, 2, 1, 1, u, s, vt), CLF_E_NUMERIC);
    /* a zero matrix is fine: s = 0, orthonormal factors */
    memset(a, 0, sizeof a);
    ck_assert_int_eq(clf_rsvd(ctx, a, M, N, 3, 2, 1, 1, u, s, vt), CLF_OK);
    for (int j = 0; j < 3; j++)
        ck_assert(s[j] == 0.0);
    ck_assert(clf_frobenius_norm(a, M, N) == 0.0);
    /* 1 x 1 */
    a[0] = -3;
    ck_assert_int_eq(clf_rsvd(ctx, a, 1, 1, 1, 10, 2, 7, u, s, vt), CLF_OK);
    ck_assert(fabs(s[0] - 3) <= 1e-15 && fabs(u[0] * vt[0] + 1) <= 1e-15);

    if (ctx)
        clf_ctx_destroy(ctx);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    test_seed();
    Suite *s = suite_create("linalg");
    TCase *tc = tcase_create("rsvd");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_power_tall);
    tcase_add_test(tc, test_power_wide);
    tcase_add_test(tc, test_no_power);
    tcase_add_test(tc, test_full_rank);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_rank_for_error);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
