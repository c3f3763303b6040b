/*
 * Sentence batches for a BERT model, shared by `clformer embed` and
 * `clformer bench model`: token ids padded to the batch's longest text,
 * with the attention mask, and the cosine of two embeddings.
 */
#ifndef CLF_TOOLS_EMBED_BATCH_H
#define CLF_TOOLS_EMBED_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer.h"

/* A padded batch on the host: ids and mask [n, seq], row i holding text
 * i's len[i] ids then zeros, mask 1 on tokens and 0 on padding. seq is the
 * longest length (at least 1); padded says some text is shorter. */
struct embed_batch {
    int32_t *ids, *mask;
    int64_t n, seq;
    bool padded;
};

/* Pads texts ids[0..n) of lengths len[0..n) into b (b's arrays malloc'd;
 * free with embed_batch_free, also after a failure). CLF_OK or
 * CLF_E_OUT_OF_MEMORY. */
enum clf_status embed_batch_pad(int32_t *const *ids, const size_t *len, size_t n,
                                struct embed_batch *b);

void embed_batch_free(struct embed_batch *b);

/* Device copies of the batch's first n rows: *ids and *mask i32 [n, seq]
 * (both NULL on failure, the reason in ctx's last error). */
enum clf_status embed_batch_upload(struct clf_ctx *ctx, const struct embed_batch *b, int64_t n,
                                   struct clf_tensor **ids, struct clf_tensor **mask);

/* Cosine of a and b [d], in double (0 when either is all zeros). */
double embed_cosine(const float *a, const float *b, int64_t d);

#endif
