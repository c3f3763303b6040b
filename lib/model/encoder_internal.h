/* The encoder's internals, shared by encoder.c (configuration, loading,
 * the forward pass), encoder_prepare.c (what is made from the weights when
 * they arrive: SVD score forms, int8 weights, FFN factors),
 * encoder_file.c (loading and saving weights files) and encoder_tp.c and
 * bert.c (which build on the encoder). */
#ifndef CLF_MODEL_ENCODER_INTERNAL_H
#define CLF_MODEL_ENCODER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clformer.h"
#include "../linalg/tt_svd.h"

/* The weights of one layer, in PyTorch's names (see weight_table). */
struct layer {
    struct clf_tensor *in_w, *in_b, *out_w, *out_b, *w1, *b1, *w2, *b2, *n1w, *n1b, *n2w, *n2b;
    /* SVD attention only (qk_lowrank.h): the projection [2·heads·r + d, d]
     * and its bias, Q' and K' at rank r per head, then V */
    struct clf_tensor *svd_w, *svd_b;
    /* linear_int8 only: i8 codes [N, K] and per-output-channel scales [N] of
     * the QKV projection (svd_w in SVD mode, else in_w), out_w, w1, w2 */
    struct clf_tensor *qkv_q, *qkv_s, *out_q, *out_s, *w1_q, *w1_s, *w2_q, *w2_s;
    /* FFN as SVD factors (cfg.ffn SVD/RSVD): W ≈ left·right, left [out, r],
     * right [r, in] */
    struct clf_tensor *w1_l, *w1_r, *w2_l, *w2_r;
    /* FFN as Tensor-Trains (cfg.ffn TT): host cores (kept for saving) and
     * their device copies */
    struct clf_tt tt1, tt2;
    struct clf_tt_weights *tt1_w, *tt2_w;
    struct clf_actq actq; /* cfg.ffn_act, calibrated for this layer */
    double ffn_error[2];  /* W1, W2's relative approximation errors (NaN: unmeasured) */
};

struct clf_encoder {
    struct clf_ctx *ctx;
    struct clf_encoder_config cfg;
    struct layer *layers;
    struct clf_tensor *norm_w, *norm_b; /* optional final LayerNorm */
    /* clf_encoder_calibrate: while recording, each layer's activation before
     * W2 goes to calib[layer] and the quantiser is left out */
    struct clf_tensor **calib;
};

/* The layer's owned tensors beyond weight_table's. */
#define EXTRA_TENSORS(l)                                                                      \
    {                                                                                         \
        &(l)->svd_w, &(l)->svd_b, &(l)->qkv_q, &(l)->qkv_s, &(l)->out_q, &(l)->out_s,         \
            &(l)->w1_q, &(l)->w1_s, &(l)->w2_q, &(l)->w2_s, &(l)->w1_l, &(l)->w1_r,           \
            &(l)->w2_l, &(l)->w2_r                                                            \
    }

/* One named weight of a layer: where it lives and its shape (rows, cols;
 * cols 0 for a vector), in units of d_model (d) and d_ff (f). */
struct weight_desc {
    const char *name;
    size_t offset; /* of the struct clf_tensor * in struct layer */
    char rows, cols; /* 'd', 'f', '3' (3d), or 0 */
};

/* The 12 weights of a layer, in PyTorch's names (encoder.c). */
extern const struct weight_desc clf_encoder_weight_table[];
#define N_WEIGHTS ((size_t)12)

/* Where weight w of layer l lives. */
struct clf_tensor **clf_encoder_slot(struct layer *l, const struct weight_desc *w);

/* A dimension unit of the table ('d', 'f', '3') in elements. */
int64_t clf_encoder_dim(const struct clf_encoder_config *c, char unit);

/* Shape of a weight: ndim 1 or 2. */
int clf_encoder_weight_shape(const struct clf_encoder_config *c, const struct weight_desc *w,
                             int64_t shape[2]);

/* Creates a device f32 tensor holding host data. */
enum clf_status clf_encoder_upload(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                   const float *host, struct clf_tensor **out);

/* Checks cfg and allocates an encoder into *enc_out (weights not yet
 * there); *out (the caller's pointer) is cleared first. */
enum clf_status clf_encoder_new(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                struct clf_encoder **out, struct clf_encoder **enc_out);

/* What follows the weights' arrival (encoder_prepare.c): SVD score forms,
 * FFN factors (unless a file gave them), int8 weights. */
enum clf_status clf_encoder_prepare(struct clf_encoder *enc);

#endif
