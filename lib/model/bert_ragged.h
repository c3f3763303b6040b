/*
 * BERT's forward pass over a ragged batch (bert.c), for the data-parallel
 * runner (dp.c). Not installed.
 */
#ifndef CLF_MODEL_BERT_RAGGED_H
#define CLF_MODEL_BERT_RAGGED_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer.h"

/* True when b's encoder can run ragged (clf_encoder_can_ragged). */
bool clf_bert_can_ragged(const struct clf_bert *b);

/*
 * clf_bert_forward's hidden states [n, seq, d] for a padded batch whose
 * mask rows are each a run of tokens then padding, computed ragged: the
 * embeddings [n, seq, d] as the padded pass makes them; their token rows
 * gathered end to end (pack: i32 [tokens], the row b·seq + i of each
 * packed token); the encoder over the packed tokens, the attention per
 * sequence (offsets: i32 [n + 1], the first packed row of each sequence
 * and the end; max_seq the longest); the result scattered back (unpack:
 * i32 [n, seq], the packed row of each token, 0 for padding, whose rows
 * the pooling ignores). No padding row enters a GEMM. Each token's row is
 * bitwise the padded pass's.
 */
enum clf_status clf_bert_forward_ragged(struct clf_bert *b, struct clf_graph *g,
                                        struct clf_tensor *ids, struct clf_tensor *mask,
                                        struct clf_tensor *pack, struct clf_tensor *unpack,
                                        struct clf_tensor *offsets, int64_t max_seq,
                                        struct clf_tensor **hidden);

#endif
