/*
 * Low-rank feed-forward weights: the --ffn grammar and the truncated SVD /
 * randomised SVD (Halko et al. 2011) factorisation of one weight matrix
 * when weights are prepared. (The Tensor-Train format lives in
 * lib/linalg/tt.h.)
 */
#ifndef CLF_MODEL_FFN_FACTOR_H
#define CLF_MODEL_FFN_FACTOR_H

#include <stdint.h>

#include "clformer.h"

/* Checks f's fields; CLF_E_INVALID_ARG with the reason on ctx. */
enum clf_status clf_ffn_factor_check(struct clf_ctx *ctx, const struct clf_ffn_factor *f);

/*
 * W [m, n] (row-major float) ≈ L·R with L = U_r [m, r] and R = Σ_r V_rᵀ
 * [r, n] (the first of the two GEMMs, x·Rᵀ, carries the scale), by f's SVD
 * or RSVD. r = f->rank capped at min(m, n); with f->rank 0, the smallest
 * rank meeting f->eps (RSVD: randomised SVDs of rank 32, 64, ... until the
 * estimated tail meets it, clf_rsvd_rank_for_error). *left and *right are
 * malloc'd (free()); *rank receives r, *rel_error (may be NULL) the relative
 * Frobenius error ‖W − L·R‖_F / ‖W‖_F (SVD: Eckart–Young from the singular
 * values; RSVD: clf_rsvd_tail_error).
 */
enum clf_status clf_ffn_lowrank(struct clf_ctx *ctx, const float *w, int64_t m, int64_t n,
                                const struct clf_ffn_factor *f, float **left, float **right,
                                int64_t *rank, double *rel_error);

#endif
