/*
 * Texts' token ids made into padded batches for sentence embeddings
 * (clf_text_batches_*, include/clformer/parallel.h): sorted longest first,
 * as sentence-transformers sorts them, so that a batch (padded to its
 * longest text) pads little; bounded by a count of texts and a budget of
 * padded tokens. The order is deterministic (equal lengths keep their
 * input order), so every MPI rank makes the same batches.
 */
#include <stdlib.h>
#include <string.h>

#include "../runtime/abi.h"
#include "../runtime/ctx.h"

struct clf_text_batches {
    struct clf_dp_batch *list; /* [count] views of the arrays below */
    size_t count;
    size_t *order;             /* [n]: the text at row s of the concatenation */
    int32_t *ids, *mask;       /* every batch's [batch, seq] arrays, end to end */
};

void clf_embed_params_init(struct clf_embed_params *out, size_t size)
{
    struct clf_embed_params p = {.batch = 32, .max_batch_tokens = 0, .pool_prompt = true};
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* A text's sort key: its length and its index (qsort's comparison gets no
 * context, and a file-scope pointer to the lengths would race between
 * threads). */
struct text_key {
    size_t len, index;
};

/* Longer first, then the input order. */
static int longest_first(const void *pa, const void *pb)
{
    const struct text_key *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

void clf_text_batches_destroy(struct clf_text_batches *b)
{
    if (!b)
        return;
    free(b->list);
    free(b->order);
    free(b->ids);
    free(b->mask);
    free(b);
}

enum clf_status clf_text_batches_make(struct clf_ctx *ctx, const int32_t *const *ids,
                                      const size_t *len, size_t n,
                                      const struct clf_embed_params *params,
                                      struct clf_text_batches **out)
{
    if (out)
        *out = NULL;
    struct clf_embed_params p = clf_embed_params_default();
    enum clf_status st = clf_abi_import(ctx, "clf_embed_params", params, &p, sizeof p);
    if (st != CLF_OK)
        return st;
    if (!out || !ids || !len || n == 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "text batches: NULL arguments or no text");
    if (p.batch < 1 || p.max_batch_tokens < 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "text batches: batch must be >= 1 and max_batch_tokens >= 0 (got %lld, "
                        "%lld)",
                        (long long)p.batch, (long long)p.max_batch_tokens);
    for (size_t i = 0; i < n; i++)
        if (!ids[i] && len[i])
            return clf_fail(ctx, CLF_E_INVALID_ARG, "text batches: text %zu has no ids", i);
    struct clf_text_batches *b = calloc(1, sizeof *b);
    struct text_key *keys = malloc(n * sizeof *keys);
    if (b) {
        b->order = malloc(n * sizeof *b->order);
        b->list = calloc(n, sizeof *b->list);
    }
    if (!b || !keys || !b->order || !b->list) {
        free(keys);
        clf_text_batches_destroy(b);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for %zu texts' batches", n);
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct text_key){len[i], i};
    qsort(keys, n, sizeof *keys, longest_first);
    for (size_t i = 0; i < n; i++)
        b->order[i] = keys[i].index;
    free(keys);
    /* the batches' shapes, then their padded arrays in one allocation */
    size_t cells = 0;
    for (size_t t0 = 0; t0 < n; b->count++) {
        const size_t seq = len[b->order[t0]] ? len[b->order[t0]] : 1;
        size_t nb = 1;
        while ((int64_t)nb < p.batch && t0 + nb < n &&
               (p.max_batch_tokens == 0 || (int64_t)((nb + 1) * seq) <= p.max_batch_tokens))
            nb++;
        b->list[b->count] = (struct clf_dp_batch){NULL, NULL, (int64_t)nb, (int64_t)seq};
        cells += nb * seq;
        t0 += nb;
    }
    b->ids = calloc(cells, sizeof *b->ids);
    b->mask = calloc(cells, sizeof *b->mask);
    if (!b->ids || !b->mask) {
        clf_text_batches_destroy(b);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for %zu padded tokens", cells);
    }
    size_t s = 0, at = 0;
    for (size_t k = 0; k < b->count; k++) {
        struct clf_dp_batch *bt = &b->list[k];
        bt->ids = b->ids + at;
        bt->mask = b->mask + at;
        for (int64_t r = 0; r < bt->batch; r++, s++) {
            const size_t t = b->order[s];
            if (len[t]) /* an empty text may have no ids array (memcpy needs one) */
                memcpy(b->ids + at + (size_t)(r * bt->seq), ids[t], len[t] * sizeof *b->ids);
            for (size_t j = 0; j < len[t]; j++)
                b->mask[at + (size_t)(r * bt->seq) + j] = 1;
        }
        at += (size_t)(bt->batch * bt->seq);
    }
    *out = b;
    return CLF_OK;
}

size_t clf_text_batches_count(const struct clf_text_batches *b)
{
    return b ? b->count : 0;
}

const struct clf_dp_batch *clf_text_batches_list(const struct clf_text_batches *b)
{
    return b ? b->list : NULL;
}

const size_t *clf_text_batches_order(const struct clf_text_batches *b)
{
    return b ? b->order : NULL;
}
