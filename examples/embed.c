/*
 * Sentence embeddings with a real model, all-MiniLM-L6-v2, as
 * sentence-transformers computes them, and the cosine similarity of two.
 *
 *   cc embed.c $(pkg-config --cflags --libs clformer) -o embed
 *   ./embed ["first text" "second text"]
 *
 * The model directory is clformer's default (clf_default_model_dir:
 * $CLFORMER_MODEL_DIR, else ~/.cache/clformer/models/all-MiniLM-L6-v2, where
 * tools/fetch_model.sh puts it); without a model there the program exits
 * with 77. Each text is tokenised (BERT's WordPiece), run through the model
 * (clf_bert_forward), mean-pooled over its tokens and L2-normalised
 * (clf_op_mean_pool_normalize). Prints each text's token count and first
 * embedding values, then "cosine similarity: C" — what
 * `clformer embed --similarity TEXT1 TEXT2` prints for the pair.
 */
#include <clformer.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_D = 4096 };

/* Embeds one text into e [d] (one sequence: no padding, so the mask is all
 * ones). */
static enum clf_status embed(struct clf_ctx *ctx, struct clf_tokenizer *tok, struct clf_bert *b,
                             const char *text, int32_t *ids, size_t cap, size_t *n, float *e)
{
    struct clf_tensor *tid = NULL, *tmask = NULL, *hidden = NULL, *out = NULL;
    struct clf_graph *g = NULL;
    enum clf_status st = clf_tokenizer_encode(tok, text, ids, cap, n, NULL);
    int32_t *ones = st == CLF_OK ? malloc(*n * sizeof *ones) : NULL;
    const int64_t shape[2] = {1, (int64_t)*n};
    if (st == CLF_OK && !ones)
        st = CLF_E_OUT_OF_MEMORY;
    for (size_t i = 0; st == CLF_OK && i < *n; i++)
        ones[i] = 1;
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &tid);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &tmask);
    if (st == CLF_OK)
        st = clf_tensor_write(tid, ids, *n * sizeof *ids);
    if (st == CLF_OK)
        st = clf_tensor_write(tmask, ones, *n * sizeof *ones);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK) /* hidden [1, n, d] */
        st = clf_bert_forward(b, g, tid, tmask, &hidden);
    if (st == CLF_OK) /* out [1, d] */
        st = clf_op_mean_pool_normalize(g, hidden, tmask, &out);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(out, e, (size_t)clf_tensor_numel(out) * sizeof *e);
    clf_graph_destroy(g);
    clf_tensor_destroy(tid);
    clf_tensor_destroy(tmask);
    free(ones);
    return st;
}

int main(int argc, char **argv)
{
    const char *texts[2] = {"A man is eating food.", "A man is eating a piece of bread."};
    if (argc == 3)
        texts[0] = argv[1], texts[1] = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: embed [TEXT1 TEXT2]\n");
        return 2;
    }
    char dir[4096], path[4200];
    if (clf_default_model_dir(dir, sizeof dir) != CLF_OK)
        return 1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("no model at %s (tools/fetch_model.sh fetches it): skipped\n", dir);
        return 77;
    }
    fclose(f);

    struct clf_ctx *ctx = NULL;
    struct clf_tokenizer *tok = NULL;
    struct clf_bert *b = NULL;
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    static float e[2][MAX_D];
    int32_t *ids = malloc((size_t)tp.max_length * sizeof *ids);
    if (!ids || clf_ctx_create(NULL, &ctx) != CLF_OK) {
        free(ids);
        return 1;
    }
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    enum clf_status st = clf_tokenizer_load(ctx, path, &tp, &tok);
    if (st == CLF_OK) /* NULL options: exact attention, f32 weights */
        st = clf_bert_load(ctx, dir, NULL, &b);
    const int64_t d = st == CLF_OK ? clf_bert_config(b).d_model : 0;
    if (d > MAX_D)
        st = CLF_E_SHAPE;
    for (int t = 0; st == CLF_OK && t < 2; t++) {
        size_t n = 0;
        st = embed(ctx, tok, b, texts[t], ids, (size_t)tp.max_length, &n, e[t]);
        if (st == CLF_OK)
            printf("%zu tokens, embedding [%lld] %.6f %.6f %.6f ...: %s\n", n, (long long)d,
                   e[t][0], e[t][1], e[t][2], texts[t]);
    }
    if (st == CLF_OK) { /* both have norm 1: the cosine is their dot product */
        double dot = 0;
        for (int64_t k = 0; k < d; k++)
            dot += (double)e[0][k] * e[1][k];
        printf("cosine similarity: %.6f\n", dot);
    } else {
        fprintf(stderr, "embed: %s: %s\n", clf_status_str(st), clf_ctx_last_error(ctx));
    }
    clf_bert_destroy(b);
    clf_tokenizer_destroy(tok);
    clf_ctx_destroy(ctx);
    free(ids);
    return st == CLF_OK ? 0 : 1;
}
