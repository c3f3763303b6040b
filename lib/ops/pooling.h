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

#endif
