/*
 * A plain double-precision CPU implementation of the encoder stack, the
 * yardstick of `clformer run --check` and of the tests: the same math as
 * lib/model/encoder.c (and PyTorch's nn.TransformerEncoderLayer at
 * inference), with nothing shared with the device code but the weights.
 */
#ifndef CLF_REFERENCE_REF_ENCODER_H
#define CLF_REFERENCE_REF_ENCODER_H

#include <stdint.h>

#include "clformer.h"

/* The weights of an encoder copied to the host. */
struct ref_weights;

/* Reads every weight of enc (clf_encoder_read_weight); NULL on failure,
 * with the reason in the context's last error. */
struct ref_weights *ref_weights_read(struct clf_encoder *enc);
void ref_weights_free(struct ref_weights *w);

/* Replaces the reference's copy of one weight of a layer (PyTorch's name
 * within the layer, e.g. "linear1.weight"; count floats, copied), e.g. by
 * an approximation the device applies. Returns 0, or -1 (unknown name,
 * layer out of range). */
int ref_weights_set(struct ref_weights *w, int64_t layer, const char *name, const float *data,
                    size_t count);

/*
 * Replaces head `head`'s scores in layer `layer` by the bilinear form m
 * [(d+1), (d+1)] (copied): s_ij = x̃_iᵀ m x̃_j with x̃ = [x; 1] the layer's
 * attention input, instead of (W_Q x_i + b_Q)·(W_K x_j + b_K) (the same
 * form at full rank, see lib/model/qk_lowrank.h); the scale stays
 * 1/sqrt(head_dim). NULL m restores the exact scores. Returns 0, or -1
 * (out of range, out of memory).
 */
int ref_weights_set_score_form(struct ref_weights *w, int64_t layer, int64_t head,
                               const double *m);

/*
 * y = encoder(x): x [batch, seq, d] float, key_padding [batch, seq] (nonzero
 * = padded) or NULL, y [batch, seq, d] double. Attention with every key
 * masked gives zeros, as the device does. Returns 0, or -1 when out of
 * memory.
 */
int ref_encoder_forward(const struct ref_weights *w, int64_t batch, int64_t seq, const float *x,
                        const int32_t *key_padding, double *y);

/*
 * The attention probabilities of one layer (0-based) for one sequence x
 * [seq, d] float: runs the earlier layers, then writes probs [heads, seq,
 * seq] (row i of head h: the softmax weights of query i over the keys).
 * Returns 0, or -1 when out of memory or the layer is out of range.
 */
int ref_encoder_attention(const struct ref_weights *w, int64_t seq, const float *x,
                          int64_t layer, double *probs);

#endif
