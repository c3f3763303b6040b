/*
 * Tensor-Train linear layer on the device (cl/tt.cl): the
 * cores of a TT-matrix W [M, N] (lib/linalg/tt_svd.h) uploaded in f32, and
 * y = act(x·Wᵀ + bias) applied core by core, never forming W. Internal.
 */
#ifndef CLF_OPS_TT_H
#define CLF_OPS_TT_H

#include "ops.h"
#include "../linalg/tt_svd.h"

/* Rows of a core's device layout are padded to a multiple of this (the
 * kernel's q tile, TT_TQ in cl/tt.cl). */
#define CLF_TT_QTILE 4

/*
 * TT cores on the device, laid out for the contraction order chosen at
 * upload (clf_tt_order_rtl: the one with fewer FLOPs). Core k is stored as
 * the right operand of the step's GEMM, gt[k] [K_k, qpad[k]] f32:
 *   left to right (rtl false): K_k = r_k·n_k, Q_k = m_k·r_{k+1},
 *     gt[k][a·n_k + j, i·r_{k+1} + b] = G_k[a, i, j, b]
 *   right to left (rtl true):  K_k = n_k·r_{k+1}, Q_k = r_k·m_k,
 *     gt[k][j·r_{k+1} + b, a·m_k + i] = G_k[a, i, j, b]
 * with columns Q_k .. qpad[k] zero (qpad[k] = Q_k rounded up to
 * CLF_TT_QTILE), and gv[k] the [K_k, Q_k] view of gt[k] (row stride
 * qpad[k]) given to clf_op_gemm. The tensors are created on ctx and owned
 * by the struct.
 */
struct clf_tt_weights {
    struct clf_ctx *ctx;
    int d;
    bool rtl;
    int64_t m[CLF_TT_MAX_D], n[CLF_TT_MAX_D], r[CLF_TT_MAX_D + 1];
    int64_t M, N;                          /* Π m_k, Π n_k */
    int64_t qpad[CLF_TT_MAX_D];
    struct clf_tensor *gt[CLF_TT_MAX_D];   /* [K_k, qpad[k]] f32 */
    struct clf_tensor *gv[CLF_TT_MAX_D];   /* [K_k, Q_k] views of gt[k] */
};

/* Uploads tt (checked with clf_tt_check: CLF_E_INVALID_ARG / CLF_E_SHAPE;
 * a core element beyond the f32 range: CLF_E_INVALID_ARG). *out receives a
 * new struct, freed with clf_tt_weights_free. */
enum clf_status clf_tt_upload(struct clf_ctx *ctx, const struct clf_tt *tt,
                              struct clf_tt_weights **out);
void clf_tt_weights_free(struct clf_tt_weights *w);

/*
 * y [B, M] = act(x [B, N] · Wᵀ + bias) with W in TT form, one step per core
 * in w's order (cores 0..d−1 left to right, d−1..0 right to left). Step k
 * maps in [P_k, K_k, S_k] -> out [P_k, Q_k, S_k] (dense),
 *   out[p, q, s] = Σ_κ in[p, κ, s] · gt[k][κ, q],
 * with (K_k, Q_k as in struct clf_tt_weights)
 *   left to right: P_k = B·Π_{u<k} m_u, S_k = Π_{u>k} n_u,
 *                  in[p, (a, j), s], out[p, (i, b), s];
 *   right to left: P_k = B·Π_{u<k} n_u, S_k = Π_{u>k} m_u,
 *                  in[p, (j, b), s], out[p, (a, i), s].
 * The steps chain without transposes: read as [P_k / n_{k−1}, K_{k−1},
 * m_k·S_k] (right to left) or [P_k·m_k, K_{k+1}, S_k / n_{k+1}] (left to
 * right), out is the next step's in; the first step's in is x (row stride
 * of x over b), the last step's out is y [B, M].
 * A step with S_k = 1 (the last one left to right, the first one right to
 * left) is a plain GEMM [P_k, K_k]·[K_k, Q_k] (clf_op_gemm; right to left
 * on x with strided rows, batched over b with the core shared); the other
 * steps are tt_contract nodes (cl/tt.cl). The bias and the activation go
 * in the last step's epilogue, or, when that is a GEMM whose rows are not
 * tokens (Q_k != M), in one tt_bias_act node after it. So the graph gets d
 * or d + 1 nodes, and views it owns.
 *   x     [B, N] f32, any row stride, rows contiguous (last stride 1)
 *   w     uploaded cores on g's context
 *   bias  [M] f32 (any stride) or NULL
 *   act   enum clf_act
 * Errors (nothing recorded): CLF_E_INVALID_ARG (NULL g, x, w or y, another
 * context, act unknown), CLF_E_SHAPE (x not 2-D f32 [B, N] with contiguous
 * rows, bias not [M] f32). A failure while recording (no memory) may leave
 * the earlier steps' nodes in the graph.
 */
enum clf_status clf_op_tt_linear(struct clf_graph *g, struct clf_tensor *x,
                                 const struct clf_tt_weights *w, struct clf_tensor *bias,
                                 enum clf_act act, struct clf_tensor **y);

#endif
