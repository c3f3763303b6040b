/*
 * `clformer bench embed`: texts in, vectors out (clf_dp_embed_texts, the
 * library's sentence-embedding path: tokenise, sort longest first, batch,
 * run, pool, normalise) over a set of texts, in batches of at most 1, 8
 * and 32 texts: sentences and tokens per second. The texts are --file's
 * lines, or 256 generated English-like sentences of 5 to 40 words (a fixed
 * seed: the same everywhere). One pass embeds every text; the median of
 * --runs passes after one warm-up pass (kernel builds, tuning, weights'
 * packing) is reported, with the share of padding in the batches' ids
 * (which a batch run ragged, on CPU devices, does not compute), and where
 * a timed pass's time went on average (clf_dp_timings): the texts' host
 * work, the batches' host work, recordings, and the graph runs split into
 * device time and the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "cli_mpi.h"
#include "embed_folder.h"

#define GEN_TEXTS 256

/* Sentence i of the generated set: 5-40 words of a small vocabulary (the
 * lengths of short English sentences: 8-47 tokens with [CLS] and [SEP]). */
static char *generated(uint64_t *state)
{
    static const char *const words[] = {
        "the",    "a",       "man",     "woman",    "child",   "dog",     "cat",      "is",
        "was",    "runs",    "eats",    "reads",    "writes",  "plays",   "house",    "car",
        "city",   "river",   "morning", "evening",  "quickly", "slowly",  "small",    "large",
        "old",    "new",     "music",   "people",   "game",    "book",    "story",    "water",
        "light",  "night",   "day",     "green",    "blue",    "happy",   "computer", "program",
        "language", "learning", "model", "data",    "science", "history", "world",    "time",
        "year",   "on",      "in",      "with",     "under",   "near",    "and",      "while"};
    const size_t nw = sizeof words / sizeof words[0];
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int n = 5 + (int)((*state >> 33) % 36);
    char *s = malloc((size_t)n * 12 + 2);
    if (!s)
        return NULL;
    size_t at = 0;
    for (int w = 0; w < n; w++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        at += (size_t)sprintf(s + at, "%s%s", w ? " " : "", words[(*state >> 33) % nw]);
    }
    strcpy(s + at, ".");
    return s;
}

static int one_size(struct clf_ctx *ctx, const struct bench_opts *o, struct clf_dp *dp,
                    struct clf_tokenizer *tok, const struct cli_texts *t, int64_t d,
                    const char *prompt, int64_t batch, cJSON *arr)
{
    struct clf_embed_params p = clf_embed_params_default();
    p.batch = batch;
    p.prompt = prompt;
    p.text_lengths = t->len; /* --file's lines may hold NUL bytes */
    float *out = malloc(t->n * (size_t)d * sizeof *out);
    size_t *ntok = malloc(t->n * sizeof *ntok);
    double *ms = malloc((size_t)o->runs * sizeof *ms);
    enum clf_status st = out && ntok && ms ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    struct clf_dp_timings tm = {.size = sizeof tm};
    for (int r = -1; st == CLF_OK && r < o->runs; r++) { /* r = -1: the warm-up */
        if (r == 0)
            clf_dp_timings_reset(dp); /* the timed passes' alone */
        double t0 = cli_now_ms();
        st = clf_dp_embed_texts(dp, tok, (const char *const *)t->s, t->n, &p, out, ntok, NULL);
        if (r >= 0)
            ms[r] = cli_now_ms() - t0;
    }
    if (st == CLF_OK)
        st = clf_dp_timings(dp, &tm);
    int rc = CLI_OK;
    if (st != CLF_OK) {
        rc = cli_error("embed: %s", *clf_ctx_last_error(ctx) ? clf_ctx_last_error(ctx)
                                                              : clf_status_str(st));
    } else {
        /* tokens, and the ids run with padding (the batches' shapes) */
        size_t tokens = 0, padded = 0;
        for (size_t i = 0; i < t->n; i++)
            tokens += ntok[i];
        /* the batches' shapes depend on the lengths only: any ids do */
        struct clf_text_batches *tb = NULL;
        static const int32_t zeros[4096];
        const int32_t **rows = malloc(t->n * sizeof *rows);
        for (size_t i = 0; rows && i < t->n; i++)
            rows[i] = ntok[i] <= 4096 ? zeros : NULL;
        if (rows && clf_text_batches_make(ctx, rows, ntok, t->n, &p, &tb) == CLF_OK) {
            const struct clf_dp_batch *b = clf_text_batches_list(tb);
            for (size_t k = 0; k < clf_text_batches_count(tb); k++)
                padded += (size_t)(b[k].batch * b[k].seq);
        }
        clf_text_batches_destroy(tb);
        free((void *)rows);
        double med = cli_median(ms, o->runs);
        double sps = (double)t->n * 1e3 / med, tps = (double)tokens * 1e3 / med;
        double pad = padded ? 1.0 - (double)tokens / (double)padded : 0;
        /* where a pass's time went: its means over the timed passes */
        const double per = 1.0 / o->runs, gaps = tm.run_ms - tm.device_ms;
        if (o->json) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "op", "embed");
            cJSON_AddNumberToObject(x, "batch", (double)batch);
            cJSON_AddNumberToObject(x, "texts", (double)t->n);
            cJSON_AddNumberToObject(x, "tokens", (double)tokens);
            cJSON_AddNumberToObject(x, "ms", med);
            cJSON_AddNumberToObject(x, "sentences_per_s", sps);
            cJSON_AddNumberToObject(x, "tokens_per_s", tps);
            cJSON_AddNumberToObject(x, "padding", pad);
            cJSON_AddNumberToObject(x, "batches", (double)tm.batches * per);
            cJSON_AddNumberToObject(x, "text_ms", tm.text_ms * per);
            cJSON_AddNumberToObject(x, "host_ms", tm.host_ms * per);
            cJSON_AddNumberToObject(x, "record_ms", tm.record_ms * per);
            cJSON_AddNumberToObject(x, "run_ms", tm.run_ms * per);
            if (!tm.untimed)
                cJSON_AddNumberToObject(x, "device_ms", tm.device_ms * per);
            cJSON_AddItemToArray(arr, x);
        } else {
            printf("batch %2lld: %9.1f ms, %8.1f sentences/s, %9.0f tokens/s, padding %4.1f%%\n",
                   (long long)batch, med, sps, tps, 100 * pad);
            printf("          a pass: %.0f batches; texts %.1f ms, batches' host work %.1f ms, "
                   "recording %.1f ms, graph runs %.1f ms",
                   (double)tm.batches * per, tm.text_ms * per, tm.host_ms * per,
                   tm.record_ms * per, tm.run_ms * per);
            if (tm.untimed)
                printf(" (%.0f untimed)\n", (double)tm.untimed * per);
            else
                printf(" = device %.1f + launches and waits %.1f ms\n", tm.device_ms * per,
                       gaps * per);
        }
    }
    free(out);
    free(ntok);
    free(ms);
    return rc;
}

int bench_embed(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    char dir[4096], path[4200];
    if (o->model)
        snprintf(dir, sizeof dir, "%s", o->model);
    else if (clf_default_model_dir(dir, sizeof dir) != CLF_OK)
        snprintf(dir, sizeof dir, ".");
    struct cli_texts t = {0};
    int rc = CLI_OK;
    if (o->file) {
        rc = cli_texts_read(o->file, &t);
        if (rc == CLI_OK && !t.n)
            rc = cli_error("%s: no text (one per line)", o->file);
    } else {
        uint64_t state = 42;
        for (int i = 0; rc == CLI_OK && i < GEN_TEXTS; i++) {
            char *s = generated(&state);
            if (!s || cli_texts_add(&t, s, strlen(s)))
                rc = cli_error("out of memory");
            free(s);
        }
    }
    /* the folder's pipeline (default prompt, tokenizer, pooling, Dense,
     * normalisation), as embed runs it */
    struct clf_tokenizer *tok = NULL;
    struct clf_dp *dp = NULL;
    struct clf_sentence_folder *sf = NULL;
    struct embed_setup su = {0};
    static struct cli_mpi alone = {.size = 1}; /* a rank of one: nothing to gather */
    const struct clf_dp_comm comm = {0, 1, cli_mpi_dp_gather, &alone};
    if (rc == CLI_OK && (embed_setup_folder(dir, &su, &sf) ||
                         !embed_tokenizer_path(&su, path, sizeof path)))
        rc = cli_error("no model at %s (tools/fetch_model.sh fetches all-MiniLM-L6-v2)", dir);
    if (rc == CLI_OK &&
        (clf_tokenizer_load(ctx, path, &su.tp, &tok) != CLF_OK ||
         embed_prompt_skip(&su, tok) != CLF_OK ||
         clf_dp_create_bert_rank(ctx, su.model_dir, NULL, &comm, &dp) != CLF_OK ||
         embed_setup_runner(dp, &su) != CLF_OK))
        rc = cli_error("%s", clf_ctx_last_error(ctx));
    if (rc == CLI_OK && !o->json)
        printf("%zu %s texts, every text once per pass (median of %d passes): sentences and "
               "tokens per second, texts in and vectors out\n",
               t.n, o->file ? o->file : "generated", o->runs);
    const int64_t d = clf_dp_embed_dim(dp);
    static const int64_t sizes[] = {1, 8, 32};
    for (size_t i = 0; rc == CLI_OK && i < sizeof sizes / sizeof sizes[0]; i++)
        rc = one_size(ctx, o, dp, tok, &t, d, su.prompt, sizes[i], arr);
    clf_dp_destroy(dp);
    clf_tokenizer_destroy(tok);
    clf_sentence_folder_destroy(sf);
    cli_texts_free(&t);
    return rc;
}
