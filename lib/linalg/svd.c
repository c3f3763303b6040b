/*
 * Thin and truncated SVD in double through LAPACKE (see svd.h).
 *
 * Driver: LAPACKE_dgesdd (divide and conquer). For the sizes we factor
 * (tables and weights of hundreds to thousands of rows, vectors wanted) it
 * is several times faster than dgesvd's QR iteration, at the same accuracy
 * (both backward stable: computed singular values are exact for A + E with
 * ||E||_2 = O(eps ||A||_2)). Its cost is O(k^2) extra workspace, which is
 * small next to the vectors themselves. dgesdd can, rarely, report that its
 * bidiagonal divide and conquer did not converge (info > 0); then the same
 * factorisation is retried with dgesvd before giving up.
 *
 * Layout: row-major A [m, n] is, read column-major, A^T [n, m]. The SVD of
 * A^T = V S U^T gives, column-major, U' = V [n, k] (= V^T row-major [k, n])
 * and VT' = U^T [k, m] (= U row-major [m, k]). So LAPACK is called
 * column-major on A^T and writes straight into the caller's row-major U and
 * Vt: no transposed copies (LAPACKE's row-major path makes three).
 *
 * Every LAPACK argument is validated here first (sizes >= 1, leading
 * dimensions, finiteness), so LAPACK's XERBLA, which may stop the process in
 * the reference implementation, is never reached.
 */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "svd.h"
#include "ctx.h"

/* Checks sizes against LAPACK's integer type and the host's size_t. */
static enum clf_status check_dims(struct clf_ctx *ctx, int64_t m, int64_t n)
{
    if (m < 1 || n < 1)
        return clf_fail(ctx, CLF_E_SHAPE, "SVD of a %lld x %lld matrix (sizes must be >= 1)",
                        (long long)m, (long long)n);
    /* dgesdd's workspace (at least 4k^2 + 7k doubles for vectors, k =
     * min(m, n); its optimal size, which LAPACKE asks for, is up to about
     * 7k^2 + max(m, n)) is counted in LAPACK's integers; past that, the size
     * query overflows. With 32-bit integers this caps k near 17,500. */
    const double k = (double)(m < n ? m : n);
    const double lwork = 7 * k * k + 8 * k + (double)(m > n ? m : n);
    const double int_max = sizeof(lapack_int) < sizeof(int64_t) ? 2147483647.0 : 9.0e18;
    if ((double)m > int_max || (double)n > int_max || lwork > int_max ||
        (uint64_t)m > SIZE_MAX / sizeof(double) / (uint64_t)n)
        return clf_fail(ctx, CLF_E_SHAPE, "SVD of a %lld x %lld matrix: too large for LAPACK",
                        (long long)m, (long long)n);
    return CLF_OK;
}

/* Maps a LAPACKE info to a status (info != 0). */
static enum clf_status lapack_fail(struct clf_ctx *ctx, const char *routine, lapack_int info)
{
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no host memory for its workspace",
                        routine);
    if (info < 0) /* an argument we passed is wrong: a bug here, reported anyway */
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s rejected argument %d", routine, (int)-info);
    return clf_fail(ctx, CLF_E_NUMERIC, "%s did not converge (info %d)", routine, (int)info);
}

enum clf_status clf_svd(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n, double *u,
                        double *s, double *vt)
{
    if (!a || !s)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "SVD: NULL %s", !a ? "matrix" : "singular values");
    enum clf_status st = check_dims(ctx, m, n);
    if (st != CLF_OK)
        return st;
    const size_t mn = (size_t)m * (size_t)n;
    for (size_t i = 0; i < mn; i++)
        if (!isfinite(a[i]))
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "SVD: element (%zu, %zu) of the matrix is not finite",
                            i / (size_t)n, i % (size_t)n);

    const int64_t k = m < n ? m : n;
    const bool vectors = u || vt;
    double *work = malloc(mn * sizeof *work);     /* A, destroyed by LAPACK */
    double *u_tmp = NULL, *vt_tmp = NULL, *superb = NULL;
    if (vectors && !u)
        u_tmp = malloc((size_t)m * (size_t)k * sizeof *u_tmp);
    if (vectors && !vt)
        vt_tmp = malloc((size_t)k * (size_t)n * sizeof *vt_tmp);
    if (!work || (vectors && !u && !u_tmp) || (vectors && !vt && !vt_tmp)) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "SVD: no host memory for a %lld x %lld matrix",
                      (long long)m, (long long)n);
        goto out;
    }
    double dummy = 0;
    double *uu = vectors ? (u ? u : u_tmp) : &dummy;     /* row-major [m, k] */
    double *vv = vectors ? (vt ? vt : vt_tmp) : &dummy;  /* row-major [k, n] */
    const char job = vectors ? 'S' : 'N';

    /* Column-major A^T [n, m], lda = n; U' = V^T with ldu = n; VT' = U with
     * ldvt = k (see the top of the file). */
    memcpy(work, a, mn * sizeof *work);
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, job, (lapack_int)n, (lapack_int)m, work,
                                     (lapack_int)n, s, vv, (lapack_int)n, uu, (lapack_int)k);
    if (info > 0) {
        clf_log(ctx, CLF_LOG_INFO, "dgesdd did not converge (info %d); retrying with dgesvd",
                (int)info);
        superb = malloc((size_t)k * sizeof *superb);
        if (!superb) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "SVD: no host memory for dgesvd");
            goto out;
        }
        memcpy(work, a, mn * sizeof *work);
        info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, job, job, (lapack_int)n, (lapack_int)m, work,
                              (lapack_int)n, s, vv, (lapack_int)n, uu, (lapack_int)k, superb);
        if (info != 0)
            st = lapack_fail(ctx, "dgesvd", info);
    } else if (info != 0) {
        st = lapack_fail(ctx, "dgesdd", info);
    }
out:
    free(work);
    free(u_tmp);
    free(vt_tmp);
    free(superb);
    return st;
}

double clf_svd_tail_error(const double *s, int64_t k, int64_t r)
{
    if (!s || k < 1 || r >= k)
        return 0.0;
    if (r < 0)
        r = 0;
    double scale = 0; /* the largest value, whatever the order given */
    for (int64_t j = 0; j < k; j++)
        scale = fmax(scale, fabs(s[j]));
    if (scale == 0)
        return 0.0;
    double tail = 0, head = 0;
    for (int64_t j = k - 1; j >= r; j--) { /* smallest first */
        double x = s[j] / scale;
        tail += x * x;
    }
    for (int64_t j = r - 1; j >= 0; j--) {
        double x = s[j] / scale;
        head += x * x;
    }
    return sqrt(tail / (tail + head));
}

int64_t clf_svd_rank(const double *s, int64_t k, double rel_tol)
{
    if (!s || k < 1)
        return 0;
    int64_t r = 0;
    for (int64_t j = 0; j < k; j++)
        if (s[j] > rel_tol * s[0])
            r++;
    return r;
}

int64_t clf_svd_rank_for_error(const double *s, int64_t k, double rel_tol)
{
    if (!s || k < 1)
        return 0;
    for (int64_t r = 0; r < k; r++)
        if (clf_svd_tail_error(s, k, r) <= rel_tol)
            return r;
    return k;
}

enum clf_status clf_svd_truncate(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n,
                                 int64_t r, enum clf_svd_split split, double *left,
                                 double *right, double *s, double *rel_error)
{
    if (!a || !left || !right)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "truncated SVD: NULL %s",
                        !a ? "matrix" : "factor");
    enum clf_status st = check_dims(ctx, m, n);
    if (st != CLF_OK)
        return st;
    const int64_t k = m < n ? m : n;
    if (r < 1 || r > k)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "truncated SVD: rank %lld outside [1, %lld] for a %lld x %lld matrix",
                        (long long)r, (long long)k, (long long)m, (long long)n);
    if (split != CLF_SVD_SPLIT_LEFT && split != CLF_SVD_SPLIT_SQRT &&
        split != CLF_SVD_SPLIT_RIGHT)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "truncated SVD: unknown split %d", (int)split);

    double *u = malloc((size_t)m * (size_t)k * sizeof *u);
    double *vt = malloc((size_t)k * (size_t)n * sizeof *vt);
    double *sv = malloc((size_t)k * sizeof *sv);
    if (!u || !vt || !sv) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "truncated SVD: no host memory");
        goto out;
    }
    st = clf_svd(ctx, a, m, n, u, sv, vt);
    if (st != CLF_OK)
        goto out;
    for (int64_t j = 0; j < r; j++) {
        double wl = split == CLF_SVD_SPLIT_LEFT    ? sv[j]
                    : split == CLF_SVD_SPLIT_RIGHT ? 1.0
                                                   : sqrt(sv[j]);
        double wr = split == CLF_SVD_SPLIT_LEFT    ? 1.0
                    : split == CLF_SVD_SPLIT_RIGHT ? sv[j]
                                                   : sqrt(sv[j]);
        for (int64_t i = 0; i < m; i++)
            left[i * r + j] = u[i * k + j] * wl;
        for (int64_t c = 0; c < n; c++)
            right[j * n + c] = vt[j * n + c] * wr;
    }
    if (s)
        memcpy(s, sv, (size_t)k * sizeof *s);
    if (rel_error)
        *rel_error = clf_svd_tail_error(sv, k, r);
out:
    free(u);
    free(vt);
    free(sv);
    return st;
}
