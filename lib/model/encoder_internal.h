/* The encoder's internals, shared by encoder.c (configuration, random
 * weights, the forward pass), encoder_prepare.c (what is made from the
 * weights when they arrive: SVD score forms, int8 weights, FFN factors),
 * encoder_file.c (weights files), bert.c, encoder_tp.c and dp.c. */
#ifndef CLF_MODEL_ENCODER_INTERNAL_H
#define CLF_MODEL_ENCODER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "clformer.h"
#include "../linalg/tt_svd.h"
#include "../runtime/tensor.h" /* clf_fill_fn */

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
    /* optional relative position bias shared by every layer (MPNet's):
     * [heads, 2·rel_max − 1], column r + rel_max − 1 the bias of key j =
     * query i + r; sequences up to rel_max tokens (clf_encoder_set_rel_bias) */
    struct clf_tensor *rel_bias;
    int64_t rel_max;
    struct clf_encoder_modern *modern; /* ModernBERT's layers, or NULL */
    /* clf_encoder_calibrate: while recording, each layer's activation before
     * W2 goes to calib[layer] and the quantiser is left out */
    struct clf_tensor **calib;
};

/* The forward pass over a ragged batch: x [1, tokens, d] holds n sequences
 * end to end, offsets i32 [n + 1] their first rows (and the end), max_seq
 * the longest; every op but the attention runs over the packed tokens,
 * the attention per sequence (clf_attention_params.seq_offsets). out: [1,
 * tokens, d]. Needs clf_encoder_can_ragged. */
enum clf_status clf_encoder_forward_ragged(struct clf_encoder *enc, struct clf_graph *g,
                                           struct clf_tensor *x, struct clf_tensor *offsets,
                                           int64_t max_seq, struct clf_tensor **out);
/* True when enc's forward pass can run ragged: exact f32 attention on a
 * CPU device's fused kernel, no relative position bias, no rotary
 * positions. */
bool clf_encoder_can_ragged(const struct clf_encoder *enc);

/* Gives enc a relative position bias (see struct clf_encoder; it takes
 * table [heads, 2·max_len − 1] over, also on failure). The attention must
 * then be exact, f32 and dense (CLF_E_UNSUPPORTED at the forward pass
 * otherwise). */
enum clf_status clf_encoder_set_rel_bias(struct clf_encoder *enc, struct clf_tensor *table,
                                         int64_t max_len);

/*
 * ModernBERT's layers (Warner et al. 2024) on a pre-LN encoder
 * (clf_encoder_set_modern):
 *   x = x + Wo·attn(LN1(x)),  Q and K rotated (clf_op_rope) by the layer's
 *                             table, keys |i − j| <= window[i] when > 0
 *   x = x + W2·(act(a) ⊙ g),  [a, g] = W1·LN2(x): W1 is [2·d_ff, d] (GeGLU)
 * A layer whose norm1 weight is NULL reads x itself (layer 0's attn_norm
 * is nn.Identity). The tables belong to the context (clf_rope_table).
 */
struct clf_encoder_modern {
    struct clf_tensor **rope; /* [layers]: [max_len, head_dim] cos | sin */
    int64_t *window;          /* [layers]: 0 global; w > 0 a band of keys |i − j| <= w */
};

/* Makes enc's layers ModernBERT's (see struct clf_encoder_modern): rotary
 * tables of max_len positions with theta[i] and window[i] (>= 0) for layer
 * i. enc must be pre-LN with exact f32 attention and dense f32 FFN
 * weights (CLF_E_UNSUPPORTED naming what is not). */
enum clf_status clf_encoder_set_modern(struct clf_encoder *enc, int64_t max_len,
                                       const double *theta, const int64_t *window);

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
/* The same with the contents written by fill straight into the new
 * tensor's memory (clf_tensor_fill: no host copy). */
enum clf_status clf_encoder_upload_fill(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                        clf_fill_fn fill, void *user, struct clf_tensor **out);

/* Checks an encoder configuration (CLF_E_INVALID_ARG, CLF_E_UNSUPPORTED
 * naming what is wrong). */
enum clf_status clf_encoder_check_config(struct clf_ctx *ctx, const struct clf_encoder_config *c);

/* Checks cfg and allocates an encoder into *enc_out (weights not yet
 * there); *out (the caller's pointer) is cleared first. */
enum clf_status clf_encoder_new(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                struct clf_encoder **out, struct clf_encoder **enc_out);

/* What follows the weights' arrival (encoder_prepare.c): SVD score forms,
 * FFN factors (unless a file gave them), int8 weights. */
enum clf_status clf_encoder_prepare(struct clf_encoder *enc);

/* Weight w of layer `layer` (clf_encoder_weight_table's order) of
 * clf_encoder_create_random's weights with this seed into host (its
 * element count): any weight can be made alone, in any order. */
void clf_encoder_random_weight(const struct clf_encoder_config *cfg, uint64_t seed, int64_t layer,
                               size_t w, float *host);

/*
 * A source of an encoder's dense f32 weights, read one at a time into host
 * memory: an existing encoder (read back), a weights file, seeded random
 * weights, a BERT model's file. The tensor-parallel encoder slices them on
 * the host, so that no device ever holds more than its share.
 */
struct clf_weight_reader {
    /* Reads weight `name` (clf_encoder_weight_table's names) of layer (0 to
     * layers − 1; −1: the final norm's "norm.weight" or "norm.bias") into
     * dst, count floats (the weight's element count). */
    enum clf_status (*read)(void *self, int layer, const char *name, float *dst, size_t count);
    void (*close)(void *self); /* frees self; NULL: nothing to free */
    void *self;
    bool has_norm;             /* the weights have a final LayerNorm */
};

/* Readers of an existing encoder (only read; it must outlive the reader),
 * of seeded random weights (clf_encoder_create_random's), of a weights file
 * (clf_encoder_load's names and checks; ctx receives its errors). Close
 * each with clf_weight_reader_close. */
void clf_encoder_reader(struct clf_encoder *enc, struct clf_weight_reader *r);
enum clf_status clf_encoder_random_reader(const struct clf_encoder_config *cfg, uint64_t seed,
                                          struct clf_weight_reader *r);
enum clf_status clf_encoder_file_reader(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                        const char *path, struct clf_weight_reader *r);
void clf_weight_reader_close(struct clf_weight_reader *r);

/* What the constructors of a rank (tensor or data parallel) check of the
 * caller's communicator (on ctx): that it is given (comm) with its
 * exchange (fn, named `what` in the message), and rank in [0, size). */
enum clf_status clf_check_comm(struct clf_ctx *ctx, const void *comm, bool fn, const char *what,
                               int rank, int size);

/* The tensor-parallel encoder sliced from r's weights (configuration cfg):
 * over the group grp (comm NULL), or rank comm->rank's share on ctx (grp
 * NULL). Arguments are the public constructors'; r is only read. */
enum clf_status clf_encoder_tp_split(struct clf_group *grp, struct clf_ctx *ctx,
                                     const struct clf_tp_comm *comm,
                                     const struct clf_encoder_config *cfg,
                                     struct clf_weight_reader *r, struct clf_encoder_tp **out);

#endif
