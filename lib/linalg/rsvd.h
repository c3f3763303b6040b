/*
 * Randomised truncated SVD on the host, in double (Halko, Martinsson and
 * Tropp, "Finding structure with randomness", SIAM Review 53(2), 2011:
 * Algorithm 4.4, randomised subspace iteration, then Algorithm 5.1, direct
 * SVD of the projected matrix). For a rank-r factorisation of a large
 * m x n matrix it costs O(m n (r + p) (2q + 2)) flops instead of the full
 * SVD's O(m n min(m, n)).
 *
 * Same conventions as svd.h: dense row-major double arrays, element (i, j)
 * of an m x n matrix at [i * n + j]; every failure is a status, with a
 * message on ctx when ctx is not NULL; nothing aborts.
 */
#ifndef CLF_LINALG_RSVD_H
#define CLF_LINALG_RSVD_H

#include <stdint.h>

#include "clformer.h"

/*
 * Rank-`rank` approximation A ~ U · diag(s) · Vt.
 *   a           [m, n]     input, not modified; every element must be finite
 *   rank        r, 1 <= r <= min(m, n)
 *   oversample  p >= 0 extra sample columns (10 is customary). When
 *               r + p > min(m, n), p is clamped to min(m, n) - r (the
 *               sample space cannot be larger than the matrix); with
 *               r + p = min(m, n) the result is the exact truncated SVD up
 *               to rounding.
 *   power_iters q >= 0 power (subspace) iterations; each multiplies the
 *               range by (A A^T) and re-orthonormalises after every product.
 *               q = 1 or 2 is enough unless the spectrum decays slowly.
 *   seed        the Gaussian test matrix Omega [n, r + p] is a function of
 *               the seed only (splitmix64 then Box-Muller): equal seeds and
 *               inputs give bitwise equal results on the same build.
 *   u           [m, r]     left singular vectors as columns (orthonormal)
 *   s           [r]        singular values, non-negative, non-increasing
 *   vt          [r, n]     right singular vectors as rows (orthonormal)
 * u, s and vt are all required.
 *
 * A matrix whose largest element is above 2^400 or below 2^-400 is
 * factored as 2^-e A (a scaled copy, exact) and s scaled back, so that the
 * products neither overflow nor underflow.
 *
 * Returns CLF_E_INVALID_ARG (a NULL pointer, rank outside [1, min(m, n)],
 * p < 0, q < 0, a non-finite element), CLF_E_SHAPE (m or n < 1, or too large
 * for LAPACK's integers or the host's sizes), CLF_E_NUMERIC (a singular
 * value beyond the double range, or LAPACK's QR or SVD failed),
 * CLF_E_OUT_OF_MEMORY.
 */
enum clf_status clf_rsvd(struct clf_ctx *ctx, const double *a, int64_t m, int64_t n,
                         int64_t rank, int64_t oversample, int power_iters, uint64_t seed,
                         double *u, double *s, double *vt);

/* ||A||_F of a row-major m x n matrix, computed with scaling (no overflow).
 * 0 for NULL or empty. */
double clf_frobenius_norm(const double *a, int64_t m, int64_t n);

/*
 * Relative Frobenius error of the rank-r truncation of a randomised SVD,
 * ||A - U_r diag(s_r) Vt_r||_F / ||A||_F, from the k computed singular
 * values s (k = the rank asked of clf_rsvd, r <= k) and frob = ||A||_F:
 *   sqrt(||A||_F^2 - sum_{j < r} s_j^2) / ||A||_F.
 * This is exact in exact arithmetic (U_r diag(s_r) Vt_r = Q B_r with Q
 * orthonormal, and A - Q B_r splits into the orthogonal pieces A - Q Q^T A
 * and Q (B - B_r)), but it is a difference of squares: its absolute
 * accuracy is about sqrt(eps) ~ 1e-8 relative error, so it can tell 1e-3
 * from 1e-4 but not 1e-10 from 0. Returns 1 for r <= 0 and 0 when frob is 0.
 */
double clf_rsvd_tail_error(const double *s, int64_t k, int64_t r, double frob);

/*
 * Smallest r <= k whose clf_rsvd_tail_error is <= rel_tol, or k + 1 when
 * even r = k misses the target (ask clf_rsvd for a larger rank): the
 * counterpart of clf_svd_rank_for_error when only the leading k singular
 * values are known. Returns 0 for NULL s, k < 1, or frob <= 0 (a zero
 * matrix needs rank 0).
 */
int64_t clf_rsvd_rank_for_error(const double *s, int64_t k, double frob, double rel_tol);

#endif
