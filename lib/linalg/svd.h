/*
 * Host-side singular value decomposition in double precision, through
 * LAPACKE (LAPACK's dgesdd, falling back to dgesvd). Used when preparing
 * tables and weights: low-rank factorised positional tables, truncated
 * SVD of attention / FFN weights.
 *
 * Matrices are dense row-major double arrays, element (i, j) of an m x n
 * matrix at [i * n + j]. k = min(m, n) throughout. Every failure is a status
 * (with a message on ctx when ctx is not NULL); nothing aborts.
 */
#ifndef CLF_LINALG_SVD_H
#define CLF_LINALG_SVD_H

#include <stdint.h>

#include "clformer.h"

/*
 * Thin SVD: A = U · diag(s) · Vt.
 *   a   [m, n]  input, not modified; every element must be finite
 *   u   [m, k]  left singular vectors as columns (orthonormal), or NULL
 *   s   [k]     singular values, non-negative, non-increasing (required)
 *   vt  [k, n]  right singular vectors as rows (orthonormal), or NULL
 * With u and vt both NULL only the singular values are computed (cheaper).
 * Returns CLF_E_INVALID_ARG (NULL a or s, a non-finite element),
 * CLF_E_NUMERIC (LAPACK did not converge), CLF_E_SHAPE (m or n < 1, or too
 * large for LAPACK's integers), CLF_E_OUT_OF_MEMORY. ctx may be NULL (no
 * message is kept then).
 */
enum clf_status clf_svd(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n, double *u,
                        double *s, double *vt);

/*
 * Relative Frobenius error of the best rank-r approximation A_r (Eckart-Young)
 * from the k singular values s (non-increasing):
 *   ||A - A_r||_F / ||A||_F = sqrt(sum_{j >= r} s_j^2) / sqrt(sum_j s_j^2)
 * (j from 0). r <= 0 gives 1, r >= k gives 0, a zero matrix gives 0. Summed
 * smallest first, scaled by s_0, so that nothing overflows or underflows.
 */
double clf_svd_tail_error(const double *s, int64_t k, int64_t r);

/* Number of singular values s_j > rel_tol * s_0 (the numerical rank). */
int64_t clf_svd_rank(const double *s, int64_t k, double rel_tol);

/* Smallest r with clf_svd_tail_error(s, k, r) <= rel_tol. */
int64_t clf_svd_rank_for_error(const double *s, int64_t k, double rel_tol);

/* Where the singular values go in a truncated factorisation A_r = L · R. */
enum clf_svd_split {
    CLF_SVD_SPLIT_LEFT = 0,  /* L = U_r · Sigma_r,        R = V_r^T */
    CLF_SVD_SPLIT_SQRT = 1,  /* L = U_r · Sigma_r^(1/2),  R = Sigma_r^(1/2) · V_r^T */
    CLF_SVD_SPLIT_RIGHT = 2  /* L = U_r,                  R = Sigma_r · V_r^T */
};

/*
 * Truncated SVD as two factors: A_r = L · R, the best rank-r approximation.
 *   a          [m, n]  input, not modified
 *   r          rank, 1 <= r <= k (else CLF_E_INVALID_ARG)
 *   left       [m, r]  receives L (required)
 *   right      [r, n]  receives R (required)
 *   s          [k]     receives every singular value, or NULL
 *   rel_error  receives clf_svd_tail_error(s, k, r), or NULL
 */
enum clf_status clf_svd_truncate(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n,
                                 int64_t r, enum clf_svd_split split, double *left,
                                 double *right, double *s, double *rel_error);

#endif
