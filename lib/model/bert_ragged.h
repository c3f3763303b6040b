/*
 * BERT's forward pass over a ragged batch, and its ids checked on the host
 * (bert.c), for the data-parallel runner (dp.c). Not installed.
 */
#ifndef CLF_MODEL_BERT_RAGGED_H
#define CLF_MODEL_BERT_RAGGED_H

#include <stdbool.h>
#include <stdint.h>

#include "clformer.h"

/* on: the caller checks every batch's ids with clf_bert_check_ids before
 * writing them, and b's graphs leave the embedding's in-graph check out
 * (it waits for the ids and reads them back at every run, and a graph
 * with it cannot be recorded into a command buffer). */
void clf_bert_set_ids_checked(struct clf_bert *b, bool on);

/* CLF_E_INVALID_ARG, with the embedding's message, when one of the ids
 * [batch, seq] is outside [0, the rows of b's word table). */
enum clf_status clf_bert_check_ids(const struct clf_bert *b, const int32_t *ids, int64_t batch,
                                   int64_t seq);

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
