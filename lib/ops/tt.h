/*
 * Tensor-Train linear layer on the device (cl/tt.cl; seed §3.2.1): the
 * cores of a TT-matrix W [M, N] (lib/linalg/tt.h) uploaded in f32, and
 * y = act(x·Wᵀ + bias) applied core by core, never forming W. Internal.
 */
#ifndef CLF_OPS_TT_H
#define CLF_OPS_TT_H

#include "ops.h"
#include "../linalg/tt.h"

/* Rows of a core's device layout are padded to a multiple of this (the
 * kernel's q tile, TT_TQ in cl/tt.cl). */
#define CLF_TT_QTILE 4

/*
 * TT cores on the device. Core k is stored transposed, as the left operand
 * of the kernel's GEMM: gt[k] [r_k·n_k, qpad[k]] f32 with
 *   gt[k][a·n_k + j, i·r_{k+1} + b] = G_k[a, i, j, b]
 * and columns m_k·r_{k+1} .. qpad[k] zero (qpad[k] = m_k·r_{k+1} rounded up
 * to CLF_TT_QTILE). The tensors are created on ctx and owned by the struct.
 */
struct clf_tt_weights {
    struct clf_ctx *ctx;
    int d;
    int64_t m[CLF_TT_MAX_D], n[CLF_TT_MAX_D], r[CLF_TT_MAX_D + 1];
    int64_t M, N;                          /* Π m_k, Π n_k */
    int64_t qpad[CLF_TT_MAX_D];
    struct clf_tensor *gt[CLF_TT_MAX_D];   /* [r_k·n_k, qpad[k]] f32 */
};

/* Uploads tt (checked with clf_tt_check: CLF_E_INVALID_ARG / CLF_E_SHAPE;
 * a core element beyond the f32 range: CLF_E_INVALID_ARG). *out receives a
 * new struct, freed with clf_tt_weights_free. */
enum clf_status clf_tt_upload(struct clf_ctx *ctx, const struct clf_tt *tt,
                              struct clf_tt_weights **out);
void clf_tt_weights_free(struct clf_tt_weights *w);

/*
 * y [B, M] = act(x [B, N] · Wᵀ + bias) with W in TT form, recorded as d
 * nodes, one per core (step k contracts (r_k, n_k); see cl/tt.cl for the
 * layouts). Step k maps in [P_k, r_k·n_k, S_k] -> out [P_k, m_k·r_{k+1}, S_k]
 * with P_k = B·Π_{u<k} m_u and S_k = Π_{u>k} n_u; its out is a graph-owned
 * dense intermediate, the last one is y (graph-owned, dense), with the bias
 * and the activation applied in the last step's epilogue.
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
