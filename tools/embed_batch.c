/* Padded sentence batches and cosines (see embed_batch.h). */
#include "embed_batch.h"

#include <math.h>
#include <stdlib.h>

enum clf_status embed_batch_pad(int32_t *const *ids, const size_t *len, size_t n,
                                struct embed_batch *b)
{
    size_t seq = 1;
    for (size_t i = 0; i < n; i++)
        seq = len[i] > seq ? len[i] : seq;
    b->n = (int64_t)n;
    b->seq = (int64_t)seq;
    b->padded = false;
    b->ids = calloc(n * seq, sizeof *b->ids);
    b->mask = calloc(n * seq, sizeof *b->mask);
    if (!b->ids || !b->mask)
        return CLF_E_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < len[i]; t++) {
            b->ids[i * seq + t] = ids[i][t];
            b->mask[i * seq + t] = 1;
        }
        b->padded |= len[i] != seq;
    }
    return CLF_OK;
}

void embed_batch_free(struct embed_batch *b)
{
    free(b->ids);
    free(b->mask);
    b->ids = b->mask = NULL;
}

enum clf_status embed_batch_upload(struct clf_ctx *ctx, const struct embed_batch *b, int64_t n,
                                   struct clf_tensor **ids, struct clf_tensor **mask)
{
    const int64_t shape[2] = {n, b->seq};
    const size_t bytes = (size_t)(n * b->seq) * sizeof(int32_t);
    *ids = *mask = NULL;
    enum clf_status st = clf_tensor_create(ctx, CLF_I32, 2, shape, ids);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, mask);
    if (st == CLF_OK)
        st = clf_tensor_write(*ids, b->ids, bytes);
    if (st == CLF_OK)
        st = clf_tensor_write(*mask, b->mask, bytes);
    if (st != CLF_OK) {
        clf_tensor_destroy(*ids);
        clf_tensor_destroy(*mask);
        *ids = *mask = NULL;
    }
    return st;
}

double embed_cosine(const float *a, const float *b, int64_t d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int64_t k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}
