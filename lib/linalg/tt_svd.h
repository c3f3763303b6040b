/*
 * Tensor-Train (TT) matrices on the host, in double: the FFN weights'
 * Tensor-Train format.
 *
 * TT-SVD: Oseledets, "Tensor-Train Decomposition", SIAM J. Sci. Comput.
 * 33(5), 2011, Algorithm 1. TT-matrix format (each core carries one row and
 * one column mode): Novikov, Podoprikhin, Osokin and Vetrov, "Tensorizing
 * Neural Networks", NeurIPS 2015.
 *
 * Same conventions as svd.h: dense row-major double arrays; every failure is
 * a status, with a message on ctx when ctx is not NULL; nothing aborts.
 */
#ifndef CLF_LINALG_TT_SVD_H
#define CLF_LINALG_TT_SVD_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer.h"

#define CLF_TT_MAX_D 6

/*
 * A TT-matrix of W [M, N] (row-major), M = Π m_k, N = Π n_k over k < d,
 * cores G_k [r_k, m_k, n_k, r_{k+1}] (row-major, double), r_0 = r_d = 1:
 *   W[i, j] = G_0[:, i_0, j_0, :] · G_1[:, i_1, j_1, :] ··· G_{d-1}[:, i_{d-1}, j_{d-1}, :]
 * with i = (i_0, ..., i_{d-1}) the row-major multi-index of i over
 * (m_0..m_{d-1}) (i_0 most significant), likewise j over n. Each core is a
 * malloc'd array owned by the struct (clf_tt_free).
 */
struct clf_tt {
    int d;
    int64_t m[CLF_TT_MAX_D], n[CLF_TT_MAX_D], r[CLF_TT_MAX_D + 1];
    double *cores[CLF_TT_MAX_D];
};

/*
 * Balanced factorisation of x >= 1 into d factors (each >= 1, product
 * exactly x, as equal as a greedy can make them): the prime factors of x,
 * largest first, each multiplied into the currently smallest factor (the
 * first such on ties), then the factors sorted ascending. E.g. 1536 =
 * 2^9·3 -> 8·12·16 and 384 = 2^7·3 -> 6·8·8 for d = 3. A prime x gives
 * (1, ..., 1, x). CLF_E_INVALID_ARG if d is outside 1..CLF_TT_MAX_D, x < 1
 * or modes is NULL.
 */
enum clf_status clf_tt_modes(int64_t x, int d, int64_t *modes);

/*
 * TT-SVD of w [M, N] with the given modes (m[0..d), n[0..d), Π m = M,
 * Π n = N, else CLF_E_SHAPE). W is first permuted to the d-way tensor
 * T[(i_0, j_0), (i_1, j_1), ...] (mode pairs merged, index i_k·n_k + j_k,
 * so that a core slice [r_k, m_k·n_k, r_{k+1}] is the core
 * [r_k, m_k, n_k, r_{k+1}]), then split by d − 1 sequential truncated SVDs
 * (clf_svd) of the unfoldings [r_k·m_k·n_k, rest]: the left singular vectors
 * become core k, Σ·Vᵀ carries on. Rank r_{k+1} at each step: the smallest
 * r >= 1 whose discarded tail sqrt(Σ_{j >= r} σ_j²) is <= δ = eps·‖W‖_F /
 * sqrt(d − 1) when eps > 0 (all singular values when eps = 0), then capped
 * at r_max when r_max > 0. Without a cap, ‖W − W_TT‖_F <= eps·‖W‖_F
 * (Oseledets, Theorem 2.2: the step errors are orthogonal, so their squares
 * add up to at most (d − 1)·δ²).
 *
 * out receives the cores (its previous contents are overwritten, not
 * freed); on failure out is left with no cores. rel_error (may be NULL)
 * receives ‖W − W_TT‖_F / ‖W‖_F computed exactly (to double rounding) by
 * reconstructing W_TT with clf_tt_to_dense (0 for W = 0), not from the
 * discarded tails. eps must be finite and >= 0, r_max >= 0, d in
 * 1..CLF_TT_MAX_D, every mode >= 1 (else CLF_E_INVALID_ARG / CLF_E_SHAPE).
 * d = 1 gives the single core W itself (no SVD).
 */
enum clf_status clf_tt_svd(struct clf_ctx *ctx, const double *w, int64_t M, int64_t N, int d,
                           const int64_t *m, const int64_t *n, int64_t r_max, double eps,
                           struct clf_tt *out, double *rel_error);

/* W [M, N] (M = Π m_k, N = Π n_k) from the cores, in double (cores
 * contracted left to right over the ranks, then un-permuted). Returns
 * CLF_E_INVALID_ARG for NULL arguments or a malformed tt (d, modes, ranks
 * out of range, r_0 or r_d != 1, a NULL core), CLF_E_SHAPE when ranks make
 * an intermediate product above 2^40 elements, CLF_E_OUT_OF_MEMORY. */
enum clf_status clf_tt_to_dense(const struct clf_tt *tt, double *w);

/* Checks that tt is well formed (as clf_tt_to_dense does): CLF_OK or
 * CLF_E_INVALID_ARG / CLF_E_SHAPE with a message on ctx (may be NULL). */
enum clf_status clf_tt_check(struct clf_ctx *ctx, const struct clf_tt *tt);

/* Parameters: Σ_k r_k·m_k·n_k·r_{k+1}. */
int64_t clf_tt_params(const struct clf_tt *tt);

/*
 * Contraction orders of y = x·Wᵀ (clf_op_tt_linear applies one core per
 * step; both orders give the same y in exact arithmetic):
 *   left to right (rtl = false): cores 0, 1, ..., d−1; step k contracts
 *     (r_k, n_k) for every (b, i_0..i_{k-1}, i_k, r_{k+1}, j_{k+1}..j_{d-1}):
 *     2·r_k·n_k·m_k·r_{k+1}·(Π_{u<k} m_u)·(Π_{u>k} n_u) FLOPs per token;
 *   right to left (rtl = true): cores d−1, ..., 0; step k contracts
 *     (n_k, r_{k+1}) for every (b, j_0..j_{k-1}, r_k, i_k, i_{k+1}..i_{d-1}):
 *     2·r_k·n_k·m_k·r_{k+1}·(Π_{u<k} n_u)·(Π_{u>k} m_u) FLOPs per token.
 * (A multiply and an add per term; the bias and activation not counted.)
 * clf_tt_flops_order returns the sum over the steps of the given order (0
 * for a NULL tt).
 */
double clf_tt_flops_order(const struct clf_tt *tt, bool rtl);

/* The order clf_op_tt_linear uses: right to left when its FLOP count is
 * strictly smaller than left to right's (ties: left to right). */
bool clf_tt_order_rtl(const struct clf_tt *tt);

/* FLOPs per token (one row of x) of y = x·Wᵀ in the order clf_op_tt_linear
 * uses: clf_tt_flops_order(tt, clf_tt_order_rtl(tt)). */
double clf_tt_flops_per_token(const struct clf_tt *tt);

/* Frees the cores and zeroes the struct (NULL is fine). */
void clf_tt_free(struct clf_tt *tt);

#endif
