/*
 * `clformer bench model`: every attention variant, quantisation and FFN
 * format on a real model (all-MiniLM-L6-v2 by default), judged by what the
 * model is for: sentence similarity.
 *
 * The data: 32 pairs of short English sentences written for this benchmark,
 * graded by hand (4 paraphrase, 3 closely related, 2 same topic, 1 loosely
 * related, 0 unrelated). Every sentence is exactly 18 WordPiece tokens with
 * all-MiniLM-L6-v2's vocabulary ([CLS] and [SEP] included), so the batch of
 * 64 has no padding: Linformer and Nyström, which do not support key
 * padding (their projections would mix padded keys), run on the same batch
 * as the others. With another vocabulary the lengths may differ: the batch
 * is then padded with a mask, and variants that cannot take one are
 * reported as skipped.
 *
 * The sequence is short, which bounds the settings that mean anything:
 * Linformer's and Nyström's ranks are capped at seq (18), where they are
 * exact (segment means of one key each), so linformer:8 and :16 and
 * nystrom:4 and :8 stay below it; window:16 already covers 17 of the 18
 * keys; SVD attention's rank is capped at head_dim (32 in MiniLM).
 *
 * For each variant (its own clf_bert_load with the options, the FFN
 * activation quantisers calibrated with clf_bert_calibrate on the same 64
 * sentences): the time of one batch of all 64 sentences (clf_bert_forward
 * plus clf_op_mean_pool_normalize, median of --runs after a warm-up), the
 * device memory (weights: the pool's live bytes that the load added;
 * activations: clf_graph_memory's planned bytes; peak: the most live bytes
 * while the batch runs, weights and inputs included; all in the pool's
 * size classes), the FFN parameters as stored (clf_encoder_ffn_stats, all
 * layers), the mean and least cosine between each sentence's embedding and
 * the exact model's, and Spearman's rank correlation (average ranks for
 * ties) between the 32 pair similarities and the exact model's (and, for
 * reference, the hand grades).
 *
 * --speed: the exact model's sentences per second for batches of 1, 8 and
 * 32 of the same sentences (graph run plus reading the embeddings back to
 * the host; tokenisation excluded), for tools/compare_minilm.py.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "embed_batch.h"

/* The pairs (sentences 2i and 2i + 1) and their hand grades. */
static const struct {
    int grade;
    const char *a, *b;
} pairs[] = {
    {4, "A man is playing a guitar on the stage in front of a large crowd.",
        "A musician performs with his guitar for a very big audience at the evening concert."},
    {4, "The grey cat is sleeping on the warm windowsill in the late afternoon sun.",
        "In the afternoon sunshine, a grey cat naps on the warm window ledge."},
    {4, "The stock market fell sharply today after the central bank raised its main interest "
        "rates.",
        "Shares dropped steeply this morning when the central bank increased its interest rates "
        "again."},
    {4, "She bought fresh vegetables and warm bread at the busy farmers market on Saturday "
        "morning.",
        "On Saturday morning she picked up bread and fresh produce from the small local market."},
    {4, "The train to London was delayed by about two hours because of the heavy snow.",
        "Heavy snow caused a long two hour delay for the London train early this morning."},
    {4, "Children are playing football in the big park after school on a warm sunny day.",
        "After school, the kids kick a soccer ball around the park in the sunshine."},
    {4, "The new phone has a much larger screen and a much better camera than before.",
        "Compared with the old model, the new phone offers a bigger display and camera."},
    {4, "He cooked pasta with tomato sauce and fresh garlic for the family dinner last night.",
        "Last night he made spaghetti with a garlic and tomato sauce for the family supper."},
    {2, "A young woman is riding a bicycle along the river on a quiet sunday morning.",
        "A man is jogging along the river path early on a cold foggy morning."},
    {2, "The doctor told him to drink more water and to get more sleep each night.",
        "The nurse measured his blood pressure carefully before the young doctor came into the "
        "room."},
    {1, "The city library will be closed on Monday for repairs to the old heating system.",
        "The art museum opens late on Fridays, with free entry for all university students."},
    {3, "Scientists discovered a new species of tree frog in the tropical rainforest of "
        "southern Peru.",
        "Researchers found several new species of insects during a long expedition to the "
        "Amazon jungle."},
    {1, "The home team won the championship after scoring a goal in the very final minute.",
        "The orchestra rehearsed the symphony for many weeks before the big opening night."},
    {0, "Our flight to Tokyo leaves very early tomorrow morning from the main international "
        "airport downtown.",
        "He is reading a very long novel about a poor family living on a farm."},
    {3, "The programmer finally fixed a bug that made the web server crash every single night.",
        "A faulty software update caused the company website to go down for several long hours."},
    {1, "The baby laughed loudly when the little puppy licked her face in the back garden.",
        "My old grandmother knits warm scarves for everyone in the family each winter."},
    {0, "Please remember to turn off all the lights when you leave the office late tonight.",
        "Active volcanoes release huge amounts of gas and ash into the atmosphere during an "
        "eruption."},
    {0, "The chef sliced the onions and then added them to the hot pan with oil.",
        "Average global temperatures have risen steadily over the past hundred years, according "
        "to scientists."},
    {0, "He forgot his black umbrella and got completely soaked walking home in the cold rain.",
        "The city committee approved the annual budget for the new hospital building late "
        "yesterday afternoon."},
    {0, "The famous painting was sold at auction in Paris for more than ten million dollars.",
        "All mathematics students must prove the main theorem before the end of the final exam."},
    {4, "Two dogs are running across a snowy field together, chasing after a red ball.",
        "A pair of happy dogs race through the deep snow after a small red ball."},
    {4, "The company plans to hire fifty new software engineers by the end of the year.",
        "By the end of this year, the firm intends to recruit fifty more engineers."},
    {4, "The large lake froze over completely during the coldest week of the long winter.",
        "Thick ice covered the whole lake during the coldest days of that long winter."},
    {3, "A little girl is painting a picture of the mountains with bright watercolours.",
        "A young artist draws a mountain landscape with colourful paints in her small sketchbook."},
    {4, "The government announced strict new rules for all electric cars starting from early "
        "next year.",
        "Starting next year, all electric vehicles sold here will have to follow new regulations."},
    {2, "The old farmer is feeding the chickens and collecting their fresh eggs at dawn today.",
        "The local baker wakes up before dawn each day to prepare fresh bread for customers."},
    {2, "Astronauts on the international space station conducted several experiments on plant "
        "growth in orbit today.",
        "The new space telescope captured very detailed images of a distant spiral galaxy last "
        "week."},
    {4, "Hundreds of angry students protested outside the university against the much higher "
        "tuition fees today.",
        "The large increase in tuition fees led to angry student demonstrations at the campus "
        "gates."},
    {1, "The restaurant serves the best sushi in town, but it is very expensive.",
        "That old hotel has a beautiful swimming pool and a wonderful view of the sea."},
    {0, "Please close the front door quietly so that you do not wake the sleeping baby.",
        "The old stone bridge over the wide river was replaced by the city last summer."},
    {4, "A man is slicing a ripe red tomato in the kitchen with a sharp knife.",
        "Someone cuts a big red tomato into small pieces on a wooden cutting board today."},
    {0, "I lost my house keys somewhere between the bus stop and my apartment yesterday evening.",
        "The young violinist tuned her old instrument carefully before the long evening concert "
        "finally began."},
};
enum { N_PAIRS = sizeof pairs / sizeof pairs[0], N_SENT = 2 * N_PAIRS };

static const char *sentence(int i) { return i % 2 ? pairs[i / 2].b : pairs[i / 2].a; }

/* One setting: options in `clformer run`'s words (NULL name: exact). */
struct variant {
    const char *opt, *value;
};

static const struct variant variants[] = {
    {NULL, NULL},
    {"attn", "window:8"},       {"attn", "window:16"},      {"attn", "topk:4"},
    {"attn", "topk:8"},         {"attn", "threshold:0.01"}, {"attn", "threshold:0.05"},
    {"attn", "linformer:8"},    {"attn", "linformer:16"},   {"attn", "nystrom:4"},
    {"attn", "nystrom:8"},      {"attn", "svd:8"},          {"attn", "svd:16"},
    {"kv", "int8"},             {"kv", "int8:channel"},     {"kv", "int8,q"},
    {"kv", "int8:channel,q"},   {"attn-quant", "f16"},
    {"attn-quant", "log:4"},    {"linear", "int8"},         {"precision", "f16"},
    {"precision", "bf16"},      {"ffn", "svd:64"},
    {"ffn", "svd:128"},         {"ffn", "rsvd:128"},        {"ffn", "tt:16"},
    {"ffn-act", "lsq:8,signed"}, {"ffn-act", "pwl:4"},      {"ffn-act", "binary"},
};
enum { N_VARIANTS = sizeof variants / sizeof variants[0] };

/* The model directory: --model, else as `clformer embed` finds it (static
 * buffer). */
static const char *model_dir(const struct bench_opts *o)
{
    static char dir[4096];
    if (o->model)
        return o->model;
    return clf_default_model_dir(dir, sizeof dir) == CLF_OK ? dir : ".";
}

/* The sentences tokenised (with the tokenizer the folder chooses, its
 * settings) and padded into bt [N_SENT, seq]. */
static int tokenize(struct clf_ctx *ctx, const char *dir, struct embed_batch *bt)
{
    char msg[1024];
    struct clf_sentence_folder *f = NULL;
    if (clf_sentence_folder_load(dir, &f, msg, sizeof msg) != CLF_OK)
        return cli_error("model: %s", msg);
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    const char *path = clf_sentence_folder_tokenizer_file(f);
    struct clf_tokenizer *tok = NULL;
    int32_t *ids = NULL, *rows[N_SENT];
    size_t len[N_SENT];
    enum clf_status st = path ? clf_sentence_folder_tokenizer_params(f, &tp) : CLF_E_IO;
    if (st == CLF_OK && !(ids = malloc((size_t)(N_SENT * tp.max_length) * sizeof *ids)))
        st = CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_tokenizer_load(ctx, path, &tp, &tok);
    clf_sentence_folder_destroy(f);
    if (!path)
        return cli_error("model: %s has no vocab.txt nor tokenizer.json", dir);
    for (int i = 0; st == CLF_OK && i < N_SENT; i++) {
        rows[i] = ids + i * tp.max_length;
        st = clf_tokenizer_encode(tok, sentence(i), rows[i], (size_t)tp.max_length, &len[i],
                                  NULL);
    }
    clf_tokenizer_destroy(tok);
    if (st == CLF_OK)
        st = embed_batch_pad(rows, len, N_SENT, bt);
    free(ids);
    if (st != CLF_OK)
        return cli_error("model: tokenising: %s", clf_ctx_last_error(ctx));
    return CLI_OK;
}

/* Device inputs for the first n sentences: ids and mask [n, seq]. */
struct inputs {
    struct clf_tensor *ids, *mask;
};

static void inputs_free(struct inputs *in)
{
    clf_tensor_destroy(in->ids);
    clf_tensor_destroy(in->mask);
    in->ids = in->mask = NULL;
}

/* Records the embeddings of `in` on g: *y f32 [n, d]. The model gets the
 * mask only when the batch is padded (Linformer and Nyström refuse one). */
static enum clf_status record(struct clf_bert *b, struct clf_graph *g, const struct inputs *in,
                              bool padded, struct clf_tensor **y)
{
    struct clf_tensor *h = NULL;
    enum clf_status st = clf_bert_forward(b, g, in->ids, padded ? in->mask : NULL, &h);
    return st == CLF_OK ? clf_op_mean_pool_normalize(g, h, in->mask, y) : st;
}

/* Ranks of x[0..n) from 1, ties given the average of the ranks they span. */
static void average_ranks(const double *x, int n, double *rank)
{
    int idx[N_SENT];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort of the indices by value */
        for (int j = i; j > 0 && x[idx[j - 1]] > x[idx[j]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && x[idx[j + 1]] == x[idx[i]])
            j++;
        for (int k = i; k <= j; k++) /* positions i..j hold ranks i+1..j+1 */
            rank[idx[k]] = 0.5 * (double)(i + j) + 1.0;
        i = j + 1;
    }
}

/* Spearman's rho: Pearson's correlation of the average ranks (the exact
 * form with ties; 1 − 6Σd²/(n(n²−1)) holds only without them). NaN when
 * either side is constant. */
static double spearman(const double *x, const double *y, int n)
{
    double rx[N_SENT], ry[N_SENT], mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    average_ranks(x, n, rx);
    average_ranks(y, n, ry);
    for (int i = 0; i < n; i++)
        mx += rx[i] / n, my += ry[i] / n;
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* Pair similarities of embeddings e [N_SENT, d]. */
static void pair_similarities(const float *e, int64_t d, double *sim)
{
    for (int i = 0; i < N_PAIRS; i++)
        sim[i] = embed_cosine(e + 2 * i * d, e + (2 * i + 1) * d, d);
}

struct model_row {
    char name[64];
    bool skipped;
    char why[200];
    double ms, mean_cos, min_cos, rho, rho_grades;
    uint64_t weight_bytes, act_bytes, peak_bytes;
    int64_t ffn_params, ffn_dense_params;
};

/* Times g after a warm-up of at least two runs and 300 ms (as
 * bench_time_graph), each timed run also reading y [n, d] back into out:
 * median ms, or -1. */
static double time_embed(struct clf_graph *g, struct clf_tensor *y, float *out, size_t bytes,
                         int runs)
{
    double *t = malloc((size_t)runs * sizeof *t), start = cli_now_ms();
    enum clf_status st = t ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    for (int w = 0; st == CLF_OK && (w < 2 || cli_now_ms() - start < 300); w++)
        st = clf_graph_run(g);
    for (int r = 0; st == CLF_OK && r < runs; r++) {
        double t0 = cli_now_ms();
        st = clf_graph_run(g);
        if (st == CLF_OK)
            st = clf_tensor_read(y, out, bytes);
        t[r] = cli_now_ms() - t0;
    }
    double m = st == CLF_OK ? cli_median(t, runs) : -1;
    free(t);
    return m;
}

static uint64_t live_bytes(struct clf_ctx *ctx)
{
    struct clf_ctx_stats s;
    return clf_ctx_stats(ctx, &s) == CLF_OK ? s.pool_bytes_live : 0;
}

/* One variant: loads the model with its options, embeds the 64 sentences,
 * fills row; *e receives the embeddings [N_SENT, *d] (malloc'd; NULL when
 * skipped). A variant the library refuses for this input
 * (CLF_E_UNSUPPORTED) is marked skipped. */
static int run_variant(struct clf_ctx *ctx, const struct bench_opts *o, const char *dir,
                       const struct embed_batch *bt, const struct variant *v, float **e, int64_t *d,
                       struct model_row *row)
{
    struct clf_encoder_config cfg = clf_encoder_config_default();
    cfg.drop_dense = true; /* the weights column: what each form keeps on the device */
    char msg[256];
    if (!v->opt) {
        snprintf(row->name, sizeof row->name, "exact");
    } else {
        if (clf_encoder_config_option(&cfg, v->opt, v->value, msg, sizeof msg) != CLF_OK)
            return cli_error("model: %s", msg);
        snprintf(row->name, sizeof row->name, "%s %s", v->opt, v->value);
    }
    struct clf_bert *b = NULL;
    struct clf_graph *g = NULL;
    struct inputs in = {0};
    struct clf_tensor *y = NULL;
    const char *host_err = NULL;
    clf_ctx_trim(ctx);
    const uint64_t live0 = live_bytes(ctx);
    enum clf_status st = clf_bert_load(ctx, dir, &cfg, &b);
    if (st == CLF_OK) {
        row->weight_bytes = live_bytes(ctx) - live0;
        *d = clf_bert_config(b).d_model;
        row->ffn_params = row->ffn_dense_params = 0;
        for (int l = 0; l < clf_bert_config(b).layers; l++) {
            struct clf_ffn_stats fs;
            if (clf_encoder_ffn_stats(clf_bert_encoder(b), l, &fs) == CLF_OK) {
                row->ffn_params += fs.params;
                row->ffn_dense_params += fs.dense_params;
            }
        }
        if (!(*e = malloc((size_t)(N_SENT * *d) * sizeof **e)))
            st = CLF_E_OUT_OF_MEMORY, host_err = "out of host memory";
        if (st == CLF_OK)
            st = embed_batch_upload(ctx, bt, N_SENT, &in.ids, &in.mask);
    }
    if (st == CLF_OK) /* a no-op unless a quantiser has free parameters */
        st = clf_bert_calibrate(b, in.ids, bt->padded ? in.mask : NULL);
    if (st == CLF_OK) {
        clf_ctx_trim(ctx); /* the peak from here: weights, inputs, the graph */
        st = clf_graph_create(ctx, &g);
    }
    if (st == CLF_OK)
        st = record(b, g, &in, bt->padded, &y);
    size_t planned = 0, naive = 0;
    if (st == CLF_OK) {
        row->ms = time_embed(g, y, *e, (size_t)(N_SENT * *d) * sizeof **e, o->runs);
        st = row->ms < 0 ? CLF_E_OPENCL : clf_graph_memory(g, &planned, &naive);
    }
    if (st == CLF_OK) {
        struct clf_ctx_stats s;
        clf_ctx_stats(ctx, &s);
        row->act_bytes = planned;
        row->peak_bytes = s.pool_bytes_peak - live0;
    }
    row->skipped = st == CLF_E_UNSUPPORTED;
    if (row->skipped)
        snprintf(row->why, sizeof row->why, "%s", clf_ctx_last_error(ctx));
    clf_graph_destroy(g);
    inputs_free(&in);
    clf_bert_destroy(b);
    if (st != CLF_OK) {
        free(*e);
        *e = NULL;
    }
    if (st != CLF_OK && !row->skipped)
        return cli_error("model %s: %s", row->name,
                         host_err ? host_err : clf_ctx_last_error(ctx));
    return CLI_OK;
}

static void print_row(const struct bench_opts *o, const struct model_row *r, cJSON *arr)
{
    const double mib = 1024.0 * 1024.0;
    if (o->json) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "op", "model");
        cJSON_AddStringToObject(x, "variant", r->name);
        if (r->skipped) {
            cJSON_AddStringToObject(x, "skipped", r->why);
            cJSON_AddItemToArray(arr, x);
            return;
        }
        cJSON_AddNumberToObject(x, "sentences", N_SENT);
        cJSON_AddNumberToObject(x, "ms", r->ms);
        cJSON_AddNumberToObject(x, "sentences_per_s", N_SENT * 1e3 / r->ms);
        cJSON_AddNumberToObject(x, "weight_bytes", (double)r->weight_bytes);
        cJSON_AddNumberToObject(x, "activation_bytes", (double)r->act_bytes);
        cJSON_AddNumberToObject(x, "peak_bytes", (double)r->peak_bytes);
        cJSON_AddNumberToObject(x, "ffn_params", (double)r->ffn_params);
        cJSON_AddNumberToObject(x, "ffn_dense_params", (double)r->ffn_dense_params);
        cJSON_AddNumberToObject(x, "mean_cosine", r->mean_cos);
        cJSON_AddNumberToObject(x, "min_cosine", r->min_cos);
        cJSON_AddNumberToObject(x, "spearman", r->rho);
        cJSON_AddNumberToObject(x, "spearman_grades", r->rho_grades);
        cJSON_AddItemToArray(arr, x);
    } else if (r->skipped) {
        printf("%-24s skipped: %s\n", r->name, r->why);
    } else {
        printf("%-24s %9.1f %8.1f %9.1f %8.2f %8.1f %6.3f %9.6f %9.6f %8.4f %7.4f\n", r->name,
               r->ms, N_SENT * 1e3 / r->ms, (double)r->weight_bytes / mib,
               (double)r->act_bytes / mib, (double)r->peak_bytes / mib,
               (double)r->ffn_params / (double)r->ffn_dense_params, r->mean_cos, r->min_cos,
               r->rho, r->rho_grades);
    }
}

static int bench_variants(struct clf_ctx *ctx, const struct bench_opts *o, const char *dir,
                          const struct embed_batch *bt, cJSON *arr)
{
    float *exact = NULL;
    double sim_exact[N_PAIRS], sim[N_PAIRS], grades[N_PAIRS];
    int rc = CLI_OK;
    for (int i = 0; i < N_PAIRS; i++)
        grades[i] = pairs[i].grade;
    if (!o->json)
        printf("%d sentences of %lld tokens%s; cosine and Spearman against the exact model, "
               "grades: Spearman against the hand grades\n"
               "%-24s %9s %8s %9s %8s %8s %6s %9s %9s %8s %7s\n"
               "%-24s %9s %8s %9s %8s %8s %6s\n",
               N_SENT, (long long)bt->seq, bt->padded ? " (padded)" : "", "variant",
               "ms/batch", "sent/s", "weights", "activ.", "peak", "FFN", "mean cos",
               "min cos", "Spearman", "grades", "", "", "", "MiB", "MiB", "MiB", "params");
    for (int i = 0; rc == CLI_OK && i < N_VARIANTS; i++) {
        struct model_row r = {0};
        float *e = NULL;
        int64_t d = 0;
        rc = run_variant(ctx, o, dir, bt, &variants[i], &e, &d, &r);
        if (rc == CLI_OK && i == 0 && r.skipped)
            rc = cli_error("model: the exact model cannot run: %s", r.why);
        if (rc != CLI_OK)
            break;
        if (i == 0)
            exact = e;
        if (e) {
            r.mean_cos = 0;
            r.min_cos = INFINITY;
            for (int s = 0; s < N_SENT; s++) {
                double c = embed_cosine(e + s * d, exact + s * d, d);
                r.mean_cos += c / N_SENT;
                r.min_cos = c < r.min_cos ? c : r.min_cos;
            }
            pair_similarities(exact, d, sim_exact);
            pair_similarities(e, d, sim);
            r.rho = spearman(sim, sim_exact, N_PAIRS);
            r.rho_grades = spearman(sim, grades, N_PAIRS);
        }
        if (e != exact)
            free(e);
        print_row(o, &r, arr);
        fflush(stdout);
    }
    free(exact);
    return rc;
}

/* --speed: the exact model on the first 1, 8 and 32 sentences. */
static int bench_speed(struct clf_ctx *ctx, const struct bench_opts *o, const char *dir,
                       const struct embed_batch *bt, cJSON *arr)
{
    static const int sizes[] = {1, 8, 32};
    struct clf_bert *b = NULL;
    enum clf_status st = clf_bert_load(ctx, dir, NULL, &b);
    const int64_t d = st == CLF_OK ? clf_bert_config(b).d_model : 0;
    float *e = st == CLF_OK ? malloc((size_t)(N_SENT * d) * sizeof *e) : NULL;
    if (st == CLF_OK && !e) {
        clf_bert_destroy(b);
        return cli_error("out of host memory");
    }
    if (st == CLF_OK && !o->json)
        printf("exact model, sentences of %lld tokens%s; graph run plus reading the "
               "embeddings back\n",
               (long long)bt->seq, bt->padded ? " (padded)" : "");
    for (size_t i = 0; st == CLF_OK && i < sizeof sizes / sizeof sizes[0]; i++) {
        const int n = sizes[i];
        struct inputs in = {0};
        struct clf_graph *g = NULL;
        struct clf_tensor *y = NULL;
        double ms = -1;
        st = embed_batch_upload(ctx, bt, n, &in.ids, &in.mask);
        if (st == CLF_OK)
            st = clf_graph_create(ctx, &g);
        if (st == CLF_OK)
            st = record(b, g, &in, bt->padded, &y);
        if (st == CLF_OK) {
            ms = time_embed(g, y, e, (size_t)(n * d) * sizeof *e, o->runs);
            st = ms < 0 ? CLF_E_OPENCL : CLF_OK;
        }
        clf_graph_destroy(g);
        inputs_free(&in);
        if (st != CLF_OK)
            break;
        if (o->json) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "op", "model-speed");
            cJSON_AddNumberToObject(x, "batch", n);
            cJSON_AddNumberToObject(x, "seq", (double)bt->seq);
            cJSON_AddNumberToObject(x, "ms", ms);
            cJSON_AddNumberToObject(x, "sentences_per_s", n * 1e3 / ms);
            cJSON_AddItemToArray(arr, x);
        } else {
            printf("batch %2d: %9.2f ms, %8.1f sentences/s\n", n, ms, n * 1e3 / ms);
        }
    }
    free(e);
    clf_bert_destroy(b);
    if (st != CLF_OK)
        return cli_error("model --speed: %s", clf_ctx_last_error(ctx));
    return CLI_OK;
}

int bench_model(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    const char *dir = model_dir(o);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int have = cli_input_exists(path);
    if (have <= 0)
        return have < 0 ? CLI_FAIL
                        : cli_error("no model at %s (no config.json): run tools/fetch_model.sh, "
                                    "or give --model DIR",
                                    dir);
    struct embed_batch bt = {0};
    int rc = tokenize(ctx, dir, &bt);
    if (rc == CLI_OK)
        rc = o->speed ? bench_speed(ctx, o, dir, &bt, arr) : bench_variants(ctx, o, dir, &bt, arr);
    embed_batch_free(&bt);
    return rc;
}
