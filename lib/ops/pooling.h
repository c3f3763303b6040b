/*
 * Sentence pooling (lib/ops/pooling.c, cl/pooling.cl): internal helpers
 * besides the public clf_op_mean_pool_normalize. Not installed. (The
 * buffer pool is lib/runtime/pool.h.)
 */
#ifndef CLF_OPS_POOLING_H
#define CLF_OPS_POOLING_H

#include "ops.h"

/* *kp receives i32 [batch, seq] (graph-owned) = (mask == 0): the encoder's
 * key padding (nonzero = padded) of an attention mask i32 [batch, seq]
 * (1 = token). */
enum clf_status clf_pooling_key_padding(struct clf_graph *g, struct clf_tensor *mask,
                                        struct clf_tensor **kp);

/* *out receives f32 [rows, dims] (graph-owned; dims 0: n) = the first dims
 * columns of x f32 [rows, n], L2-normalised with normalize (as
 * clf_op_sentence_pool's): the end of a sentence embedding after Dense
 * layers. */
enum clf_status clf_pooling_truncate_normalize(struct clf_graph *g, struct clf_tensor *x,
                                               int64_t dims, bool normalize,
                                               struct clf_tensor **out);

#endif
