/*
 * Randomised truncated SVD (see rsvd.h). Halko, Martinsson and Tropp 2011:
 *
 *   l = r + p
 *   Omega  [n, l]  standard Gaussian, from the seed
 *   Y = A Omega, Q = orth(Y)                                   (Alg. 4.4)
 *   q times:  Z = orth(A^T Q),  Q = orth(A Z)
 *   B = Q^T A  [l, n];  B = U~ S V^T  (clf_svd)                (Alg. 5.1)
 *   U = Q U~, truncated to r columns; s, Vt likewise.
 *
 * orth() is a Householder QR (LAPACKE dgeqrf, then dorgqr for the explicit
 * Q). Re-orthonormalising after every product, not only at the end, keeps
 * the columns from collapsing onto the top singular vector in floating
 * point (Halko's Remark 4.3 / Algorithm 4.4 versus 4.3).
 *
 * Products are plain loops in double, not cblas_dgemm: the library links
 * LAPACKE but OpenBLAS is not among its dependencies (meson.build lists it
 * for the bench baseline only), and a symbol reached only through
 * liblapacke's own dependencies does not link. Every loop runs over
 * contiguous memory (rows of A, columns of the column-major Q, Y, Z), and
 * the cost is O(m n l) per product, which is what the method costs anyway.
 * Summation order is fixed, so results are deterministic for a seed.
 *
 * Internal layout: Omega, Y, Z and Q are column-major (element (i, j) of a
 * rows x l block at [i + j * rows]), which is what LAPACK's column-major
 * QR takes in place; A, B, U, Vt are row-major as in the API.
 */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsvd.h"
#include "svd.h"
#include "ctx.h"

/* ------------------------------------------------------------------------ */
/* Random test matrix                                                       */
/* ------------------------------------------------------------------------ */

/* splitmix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* count standard normal values, Box-Muller on pairs of uniforms: u1 in
 * (0, 1] (so log(u1) is finite), u2 in [0, 1). */
static void fill_gaussian(double *x, size_t count, uint64_t seed)
{
    uint64_t state = seed;
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < count; i += 2) {
        double u1 = 1.0 - (double)(splitmix64(&state) >> 11) * 0x1p-53;
        double u2 = (double)(splitmix64(&state) >> 11) * 0x1p-53;
        double rad = sqrt(-2.0 * log(u1));
        x[i] = rad * cos(two_pi * u2);
        if (i + 1 < count)
            x[i + 1] = rad * sin(two_pi * u2);
    }
}

/* ------------------------------------------------------------------------ */
/* Products and QR                                                          */
/* ------------------------------------------------------------------------ */

/* y [m, l] col-major = A [m, n] row-major · x [n, l] col-major. */
static void mul_a(const double *a, int64_t m, int64_t n, const double *x, int64_t l, double *y)
{
    for (int64_t i = 0; i < m; i++) {
        const double *ar = a + (size_t)i * (size_t)n;
        for (int64_t j = 0; j < l; j++) {
            const double *xc = x + (size_t)j * (size_t)n;
            double acc = 0;
            for (int64_t k = 0; k < n; k++)
                acc += ar[k] * xc[k];
            y[(size_t)i + (size_t)j * (size_t)m] = acc;
        }
    }
}

/* z = A^T · q, q [m, l] col-major: z [n, l] col-major, which is the same
 * memory as Q^T A [l, n] row-major. */
static void mul_at(const double *a, int64_t m, int64_t n, const double *q, int64_t l, double *z)
{
    memset(z, 0, (size_t)n * (size_t)l * sizeof *z);
    for (int64_t j = 0; j < l; j++) {
        double *zc = z + (size_t)j * (size_t)n;
        for (int64_t i = 0; i < m; i++) {
            const double w = q[(size_t)i + (size_t)j * (size_t)m];
            const double *ar = a + (size_t)i * (size_t)n;
            for (int64_t k = 0; k < n; k++)
                zc[k] += w * ar[k];
        }
    }
}

static bool all_finite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

/* Maps a LAPACKE info (!= 0) to a status. */
static enum clf_status lapack_fail(struct clf_ctx *ctx, const char *routine, lapack_int info)
{
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "randomised SVD: %s: no host memory",
                        routine);
    return clf_fail(ctx, CLF_E_NUMERIC, "randomised SVD: %s failed (info %d)", routine,
                    (int)info);
}

/*
 * Replaces x [rows, cols] col-major (rows >= cols, finite) by an orthonormal
 * basis of its range: Householder QR, then the explicit Q. tau [cols].
 * A rank-deficient x still gives orthonormal columns (Householder Q is
 * orthogonal whatever R is), which is what the method needs.
 */
static enum clf_status orth(struct clf_ctx *ctx, double *x, int64_t rows, int64_t cols,
                            double *tau, const char *what)
{
    if (!all_finite(x, (size_t)rows * (size_t)cols))
        return clf_fail(ctx, CLF_E_NUMERIC,
                        "randomised SVD: %s is not finite", what);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)rows, (lapack_int)cols, x,
                                     (lapack_int)rows, tau);
    if (info != 0)
        return lapack_fail(ctx, "dgeqrf", info);
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)rows, (lapack_int)cols,
                          (lapack_int)cols, x, (lapack_int)rows, tau);
    if (info != 0)
        return lapack_fail(ctx, "dorgqr", info);
    return CLF_OK;
}

/* ------------------------------------------------------------------------ */
/* API                                                                      */
/* ------------------------------------------------------------------------ */

enum clf_status clf_rsvd(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n,
                         int64_t rank, int64_t oversample, int power_iters, uint64_t seed,
                         double *u, double *s, double *vt)
{
    if (!a || !u || !s || !vt)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "randomised SVD: NULL %s",
                        !a ? "matrix" : !u ? "U" : !s ? "singular values" : "Vt");
    if (m < 1 || n < 1)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "randomised SVD of a %lld x %lld matrix (sizes must be >= 1)",
                        (long long)m, (long long)n);
    const double int_max = sizeof(lapack_int) < sizeof(int64_t) ? 2147483647.0 : 9.0e18;
    if ((double)m > int_max || (double)n > int_max ||
        (uint64_t)m > SIZE_MAX / sizeof(double) / (uint64_t)n)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "randomised SVD of a %lld x %lld matrix: too large for LAPACK",
                        (long long)m, (long long)n);
    const int64_t k = m < n ? m : n;
    if (rank < 1 || rank > k)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "randomised SVD: rank %lld outside [1, %lld] for a %lld x %lld matrix",
                        (long long)rank, (long long)k, (long long)m, (long long)n);
    if (oversample < 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "randomised SVD: oversampling %lld < 0",
                        (long long)oversample);
    if (power_iters < 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "randomised SVD: %d power iterations < 0",
                        power_iters);
    const size_t mn = (size_t)m * (size_t)n;
    double amax = 0;
    for (size_t i = 0; i < mn; i++) {
        if (!isfinite(a[i]))
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "randomised SVD: element (%zu, %zu) of the matrix is not finite",
                            i / (size_t)n, i % (size_t)n);
        amax = fmax(amax, fabs(a[i]));
    }

    int64_t p = oversample;
    if (p > k - rank) {
        if (ctx) /* clf_log needs a context */
            clf_log(ctx, CLF_LOG_DEBUG,
                    "randomised SVD: oversampling %lld clamped to %lld (rank %lld of a %lld x "
                    "%lld matrix)",
                    (long long)p, (long long)(k - rank), (long long)rank, (long long)m,
                    (long long)n);
        p = k - rank;
    }
    const int64_t l = rank + p; /* <= k: every block below fits in m x n */
    const size_t sm = (size_t)m, sn = (size_t)n, sl = (size_t)l;

    /* Elements far from 1 would overflow (or lose precision to underflow)
     * in the products; then the method runs on 2^-e A, e = exponent of
     * max |a_ij| (exact: a power of two), and s is scaled back at the end. */
    int scale_exp = 0;
    double *scaled = NULL;
    if (amax > 0x1p+400 || (amax > 0 && amax < 0x1p-400)) {
        (void)frexp(amax, &scale_exp);
        scaled = malloc(mn * sizeof *scaled);
        if (!scaled)
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                            "randomised SVD: no host memory to rescale a %lld x %lld matrix",
                            (long long)m, (long long)n);
        for (size_t i = 0; i < mn; i++)
            scaled[i] = ldexp(a[i], -scale_exp);
        a = scaled;
    }

    enum clf_status st = CLF_OK;
    double *omega = malloc(sn * sl * sizeof *omega); /* Omega, then Z [n, l] */
    double *q = malloc(sm * sl * sizeof *q);         /* Y, then Q [m, l] */
    double *tau = malloc(sl * sizeof *tau);
    double *b = malloc(sl * sn * sizeof *b);         /* B [l, n], then V~^T */
    double *ub = malloc(sl * sl * sizeof *ub);       /* U~ [l, l] */
    double *sb = malloc(sl * sizeof *sb);
    double *vtb = malloc(sl * sn * sizeof *vtb);
    if (!omega || !q || !tau || !b || !ub || !sb || !vtb) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                      "randomised SVD: no host memory (%lld x %lld, %lld samples)",
                      (long long)m, (long long)n, (long long)l);
        goto out;
    }

    fill_gaussian(omega, sn * sl, seed);
    mul_a(a, m, n, omega, l, q);
    if ((st = orth(ctx, q, m, l, tau, "A Omega")) != CLF_OK)
        goto out;
    for (int it = 0; it < power_iters; it++) {
        double *z = omega;
        mul_at(a, m, n, q, l, z);
        if ((st = orth(ctx, z, n, l, tau, "A^T Q")) != CLF_OK)
            goto out;
        mul_a(a, m, n, z, l, q);
        if ((st = orth(ctx, q, m, l, tau, "A Z")) != CLF_OK)
            goto out;
    }

    mul_at(a, m, n, q, l, b); /* b = Q^T A [l, n] row-major */
    if (!all_finite(b, sl * sn)) {
        st = clf_fail(ctx, CLF_E_NUMERIC, "randomised SVD: Q^T A overflowed");
        goto out;
    }
    if ((st = clf_svd(ctx, b, l, n, ub, sb, vtb)) != CLF_OK)
        goto out; /* l <= n, so the SVD of B has l values */

    /* U = Q U~ [:, :rank], row-major [m, rank] */
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < rank; c++) {
            double acc = 0;
            for (int64_t j = 0; j < l; j++)
                acc += q[(size_t)i + (size_t)j * sm] * ub[(size_t)j * sl + (size_t)c];
            u[(size_t)i * (size_t)rank + (size_t)c] = acc;
        }
    for (int64_t j = 0; j < rank; j++) {
        s[j] = ldexp(sb[j], scale_exp);
        if (!isfinite(s[j])) {
            st = clf_fail(ctx, CLF_E_NUMERIC,
                          "randomised SVD: singular value %lld (%.17g * 2^%d) overflows double",
                          (long long)j, sb[j], scale_exp);
            goto out;
        }
    }
    memcpy(vt, vtb, (size_t)rank * sn * sizeof *vt);
out:
    free(scaled);
    free(omega);
    free(q);
    free(tau);
    free(b);
    free(ub);
    free(sb);
    free(vtb);
    return st;
}

double clf_frobenius_norm(const double *a, int64_t m, int64_t n)
{
    if (!a || m < 1 || n < 1)
        return 0.0;
    /* LAPACK's dnrm2 scheme: ssq * scale^2, scale the largest |x| so far */
    double scale = 0, ssq = 1;
    const size_t count = (size_t)m * (size_t)n;
    for (size_t i = 0; i < count; i++) {
        double x = fabs(a[i]);
        if (x == 0)
            continue;
        if (x > scale) {
            ssq = 1 + ssq * (scale / x) * (scale / x);
            scale = x;
        } else {
            ssq += (x / scale) * (x / scale);
        }
    }
    return scale * sqrt(ssq);
}

double clf_rsvd_tail_error(const double *s, int64_t k, int64_t r, double frob)
{
    if (!(frob > 0))
        return 0.0;
    if (!s || k < 1 || r <= 0)
        return 1.0;
    if (r > k)
        r = k;
    double head = 0; /* sum_{j < r} (s_j / frob)^2, smallest first */
    for (int64_t j = r - 1; j >= 0; j--) {
        double x = s[j] / frob;
        head += x * x;
    }
    return head >= 1 ? 0.0 : sqrt(1 - head);
}

int64_t clf_rsvd_rank_for_error(const double *s, int64_t k, double frob, double rel_tol)
{
    if (!s || k < 1 || !(frob > 0))
        return 0;
    for (int64_t r = 0; r <= k; r++)
        if (clf_rsvd_tail_error(s, k, r, frob) <= rel_tol)
            return r;
    return k + 1;
}
