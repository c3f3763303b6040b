/*
 * Low-rank score forms for SVD attention (CLF_ATTN_SVD: each head's
 * bilinear score form truncated by SVD), prepared once from a layer's
 * weights.
 *
 * Head h's scores are bilinear in the layer input x (a row, d_model wide):
 *   s_ij = (W_Q,h x_i + b_Q,h) · (W_K,h x_j + b_K,h) = x̃_iᵀ M_h x̃_j,
 *   x̃ = [x; 1],  M_h = Ãᵀ B̃,  Ã = [W_Q,h | b_Q,h], B̃ = [W_K,h | b_K,h]
 * with Ã and B̃ [head_dim, d_model + 1], so M_h [(d+1), (d+1)] has rank at
 * most head_dim. Its truncated SVD M_h ≈ U_r Σ_r V_rᵀ splits into new
 * projections with r columns per head,
 *   q'_i = Σ_r^½ U_rᵀ x̃_i,   k'_j = Σ_r^½ V_rᵀ x̃_j,   q'_i · k'_j = x̃_iᵀ (U_r Σ_r V_rᵀ) x̃_j,
 * i.e. weights Σ_r^½ U_r[0:d]ᵀ and bias Σ_r^½ U_r[d]ᵀ (likewise for K), so
 * the score product costs r instead of head_dim per key. With r >= head_dim
 * the form is reproduced exactly (up to rounding). Values are untouched.
 */
#ifndef CLF_MODEL_QK_LOWRANK_H
#define CLF_MODEL_QK_LOWRANK_H

#include <stdint.h>

#include "clformer.h"

/* The rank actually used: min(v->rank, head_dim). */
int64_t clf_qk_lowrank_rank(const struct clf_attention_variant *v, int64_t head_dim);

/*
 * Factorises every head of one layer.
 *   in_w   [3d, d]  PyTorch's in_proj_weight (rows: Q, K, V; head h's rows
 *                   h·hd .. h·hd + hd − 1 within each)
 *   in_b   [3d]     in_proj_bias
 *   v      SVD variant: rank, and LAPACK or randomised (p, q, seed; head h
 *          uses seed + h so heads draw independent test matrices)
 *   out_w  [2·heads·r + d, d]  rows [0, heads·r): Q' (head h at h·r),
 *          [heads·r, 2·heads·r): K', then the d rows of W_V unchanged
 *   out_b  [2·heads·r + d]     likewise
 *   err    [heads] (may be NULL): each head's relative Frobenius error
 *          ‖M_h − U_r Σ_r V_rᵀ‖_F / ‖M_h‖_F (0 for a zero form)
 * r = clf_qk_lowrank_rank(v, d / heads). Errors: CLF_E_INVALID_ARG (not an
 * SVD variant, non-finite weights), CLF_E_NUMERIC, CLF_E_OUT_OF_MEMORY.
 */
enum clf_status clf_qk_lowrank(struct clf_ctx *ctx, const float *in_w, const float *in_b,
                               int64_t d, int64_t heads, const struct clf_attention_variant *v,
                               float *out_w, float *out_b, double *err);

#endif
