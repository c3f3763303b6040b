/*
 * Row ops (lib/ops/rows.c, cl/rows.cl): bias add, activation, softmax,
 * layernorm, embedding. Internal: the record functions with the choices the
 * public ops make on their own, so that tests can force each kernel variant
 * on any device. Not installed.
 */
#ifndef CLF_OPS_ROWS_H
#define CLF_OPS_ROWS_H

#include "ops.h"

/* How a row reduction (softmax, layernorm) is spread over work-items. */
enum clf_rows_variant {
    CLF_ROWS_AUTO = -1, /* by device type and layout: CPU -> PER_ITEM_VEC (contiguous
                           rows) or PER_ITEM, others -> PER_GROUP */
    CLF_ROWS_PER_ITEM = 0,  /* one work-item loops over a whole row, no barriers
                               (best on CPU devices, where barriers are emulated) */
    CLF_ROWS_PER_GROUP = 1, /* one work-group per row, local-memory tree reduction
                               (GPUs) */
    CLF_ROWS_PER_ITEM_VEC = 2 /* PER_ITEM in explicit float8 / float16 vectors, for
                                 rows contiguous (last stride 1) in the input and
                                 gamma / beta; recorded as PER_ITEM when they are
                                 not */
};

/* The variant CLF_ROWS_AUTO resolves to on ctx's device before the layout
 * is looked at (CPU -> PER_ITEM, others -> PER_GROUP); the record functions
 * then take PER_ITEM_VEC instead of PER_ITEM where the rows are contiguous. */
enum clf_rows_variant clf_rows_auto_variant(const struct clf_ctx *ctx);

/* clf_op_softmax with an explicit variant (stored, resolved, in node
 * iparams[0]). */
enum clf_status clf_rows_softmax_record(struct clf_graph *g, struct clf_tensor *x,
                                        enum clf_rows_variant variant, struct clf_tensor **out);

/* clf_op_layernorm (res NULL) or clf_op_add_layernorm with an explicit
 * variant (stored, resolved, in node iparams[0]). */
enum clf_status clf_rows_layernorm_record(struct clf_graph *g, struct clf_tensor *x,
                                          struct clf_tensor *res, struct clf_tensor *gamma,
                                          struct clf_tensor *beta, float eps,
                                          enum clf_rows_variant variant, struct clf_tensor **out);

/* clf_op_embedding; check_ids false skips the host-side id check (only for
 * testing that the kernel clamps out-of-range ids to [0, V-1]). */
enum clf_status clf_rows_embedding_record(struct clf_graph *g, struct clf_tensor *table,
                                          struct clf_tensor *ids, bool check_ids,
                                          struct clf_tensor **out);

/*
 * A BERT-style embedding layer in one kernel (cl/rows.cl, embedding_ln):
 * out[b, t, :] = LN(word[ids[b, t], :] + type + pos[t, :]) with gamma and
 * beta (type may be NULL: no token-type row), bitwise clf_op_embedding,
 * clf_op_bias_add, clf_op_posenc_add and the PER_ITEM_VEC layernorm. word
 * f32 [V, D] and pos f32 [>= seq, D] with contiguous rows; type, gamma,
 * beta f32 [D] contiguous; ids i32 [batch, seq], checked against V on the
 * host before the launch unless check_ids is false; out f32 [batch, seq,
 * D]. One work-item per token.
 */
enum clf_status clf_rows_embedding_ln_record(struct clf_graph *g, struct clf_tensor *word,
                                             struct clf_tensor *ids, struct clf_tensor *pos,
                                             struct clf_tensor *type, struct clf_tensor *gamma,
                                             struct clf_tensor *beta, float eps, bool check_ids,
                                             struct clf_tensor **out);

#endif
