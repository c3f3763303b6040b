/*
 * Sentence pooling (lib/ops/pool.c, cl/pool.cl): internal helpers besides
 * the public clf_op_mean_pool_normalize. Not installed.
 */
#ifndef CLF_OPS_POOL_H
#define CLF_OPS_POOL_H

#include "ops.h"

/* *kp receives i32 [batch, seq] (graph-owned) = (mask == 0): the encoder's
 * key padding (nonzero = padded) of an attention mask i32 [batch, seq]
 * (1 = token). */
enum clf_status clf_pool_key_padding(struct clf_graph *g, struct clf_tensor *mask,
                                     struct clf_tensor **kp);

#endif
