/*
 * `clformer embed`: sentence embeddings with a BERT model directory (e.g.
 * all-MiniLM-L6-v2): WordPiece tokens (clf_tokenizer_*), batches padded to
 * their longest text with a mask, clf_bert_forward, then the masked mean,
 * L2-normalised (clf_op_mean_pool_normalize), as sentence-transformers.
 *
 * Several devices: --devices LIST deals the batches over a device group
 * (clf_dp_create_bert: a model on each, one thread each); under mpirun
 * (built with MPI) each rank is a rank of that runner (clf_dp_create_bert_
 * rank): it embeds its share of the batches and rank 0 gathers them over
 * MPI and prints. The batches are the same as on one device (a rank of
 * one), so the embeddings are too. --tensor-parallel instead splits the
 * model's layers over the group, or over the ranks (an all-reduce over
 * MPI), and every batch goes through all of them.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cli.h"
#include "cli_mpi.h"
#include "embed_batch.h" /* embed_cosine */
#include "embed_folder.h"

struct embed_opts {
    const char *model, *device, *npy, *file;
    const char *devices; /* --devices LIST */
    bool tp;             /* --tensor-parallel */
    bool json, similarity;
    bool timings;        /* --timings */
    int64_t batch;
    int64_t max_tokens; /* --max-batch-tokens; 0: no budget */
    struct clf_encoder_config cfg;
    /* over the folder's configuration: 0 / NULL when not given */
    unsigned pooling;        /* --pooling */
    int normalize;           /* --normalize 1, --no-normalize -1 */
    int64_t dims;            /* --dimensions */
    int64_t max_seq;         /* --max-seq-length */
    const char *prompt_name; /* --prompt */
    const char *prompt_text; /* --prompt-text */
    bool no_truncate;        /* --no-truncate */
    bool describe;           /* --describe */
};

/* Where the time went (--timings), in ms from the command's start. */
struct embed_times {
    double t0;
    double context_ms, tokenize_ms, load_ms, embed_ms;
};


static void help(void)
{
    printf("Usage: clformer embed [OPTIONS] TEXT...\n\n"
           "Sentence embeddings of the texts (and of the lines of --file) with a\n"
           "sentence-transformers model folder, as sentence-transformers computes them:\n"
           "its modules.json (Transformer, Pooling, Normalize), pooling configuration,\n"
           "max_seq_length, lower-casing and prompts are read from the folder, and the\n"
           "options below override them. A plain BERT directory (config.json,\n"
           "model.safetensors, vocab.txt, no modules.json) is mean-pooled and not\n"
           "normalised, as sentence-transformers does with one. Texts longer than the\n"
           "maximum length are truncated (reported on stderr).\n\n"
           "  -m, --model DIR        model directory; default $CLFORMER_MODEL_DIR, else\n"
           "                         ${XDG_CACHE_HOME:-~/.cache}/clformer/models/all-MiniLM-L6-v2\n"
           "                         (tools/fetch_model.sh puts it there)\n"
           "  -d, --device SPEC      device (see clformer info --help); default auto\n"
           "  -f, --file FILE        one more text per line (empty lines are skipped;\n"
           "                         - or /dev/stdin: standard input, which may be a pipe)\n"
           "      --batch N          texts per forward pass at most (default 32)\n"
           "      --max-batch-tokens N  and at most N tokens in one, padding included\n"
           "                         (a longer text goes alone); default no bound. The\n"
           "                         texts are batched longest first, so that each\n"
           "                         batch pads little; the output keeps their order\n"
           );
    printf(           "      --pooling MODES    cls, max, mean, mean_sqrt_len, weightedmean, lasttoken,\n"
           "                         or several joined by ',' (concatenated)\n"
           "      --normalize, --no-normalize  L2-normalise the vectors, or not\n"
           "      --dimensions N     keep the first N dimensions (Matryoshka), normalised\n"
           "                         again when normalising\n"
           "      --max-seq-length N tokens per text, [CLS] and [SEP] included\n"
           "      --truncate, --no-truncate  cut longer texts (default), or fail naming\n"
           "                         the first one that is too long\n"
           "      --prompt NAME      put the folder's prompt NAME before every text (the\n"
           "                         folder's default_prompt_name applies without it)\n"
           "      --prompt-text TEXT put TEXT before every text instead (\"\" for none)\n"
           "      --describe         print what the folder resolves to (architecture,\n"
           "                         tokenizer, pooling, length, dimensions, prompts) and\n"
           "                         stop; no text needed\n"
           "      --json             JSON output (the default; with --similarity: an object\n"
           "                         {\"texts\", \"similarity\"})\n"
           "      --npy FILE         write the embeddings as float32 .npy [texts, d] instead\n"
           "                         of printing them\n"
           "      --similarity       print the similarity matrix of the texts (the folder's\n"
           "                         similarity_fn_name: cosine by default, dot, or\n"
           "                         euclidean and manhattan as negated distances)\n"
           "      --timings          print where the time went on stderr, one JSON line:\n"
           "                         context, tokenizer, model loading and the embeddings\n"
           "                         in ms, kernel programs built and loaded, tuning\n"
           "      --attn-impl I      auto (default), fused, gemm\n"
           "      --attn SPEC        attention variant, as clformer run --attn\n"
           "      --ffn SPEC         FFN weights, as clformer run --ffn\n"
           "      --drop-dense       free the f32 weights a prepared form replaces\n"
           "      --kv F             K and V storage: f32 (default), int8 (per token),\n"
           "                         int8:channel (per sequence and channel); ,q after\n"
           "                         an int8 one: the queries in int8 too (integer scores)\n"
           "      --attn-quant F     attention weights: f32 (default), f16, log:B\n"
           "      --linear F         linear layers: f32 (default), int8\n"
           "      --precision P      linear layers' weights: f32 (default), f16, bf16\n"
           "                         (rounded once, computed in f32; CPU devices)\n"
           "      --ffn-act SPEC     quantiser before W2 (as clformer run); free parameters\n"
           "                         are calibrated on the first batch (the longest texts)\n"
           "      --devices LIST     deal the batches over these devices (\"all\",\n"
           "                         \"gpu:0,gpu:1\", ...), a model on each, at the same time\n"
           "      --tensor-parallel  with --devices, or under mpirun: split every layer's\n"
           "                         heads and FFN over the devices (ranks) instead, and\n"
           "                         run every batch on all of them (no other model option)\n"
           "  -h, --help             this text\n"
           "\nOutput: a JSON array of {\"text\", \"tokens\", \"embedding\"}. On a terminal,\n"
           "stderr shows the long steps (kernel builds, tuning) while they run; not with\n"
           "--json, nor when stderr is not a terminal.\n"
           "Under mpirun (when built with MPI) every rank embeds its share of the\n"
           "batches on its own device and rank 0 prints (or writes) them all; with\n"
           "--tensor-parallel every rank runs every batch with its share of each layer.\n");
}

static int parse(int argc, char **argv, struct embed_opts *o, struct cli_texts *t)
{
    enum { O_BATCH = 256, O_JSON, O_NPY, O_SIM, O_ATTN_IMPL, O_VARIANT, O_LAYER, O_DEVICES,
           O_TP, O_TIMINGS, O_MAX_TOKENS, O_POOLING, O_NORM, O_NO_NORM, O_DIMS, O_MAX_SEQ,
           O_PROMPT, O_PROMPT_TEXT, O_TRUNC, O_NO_TRUNC, O_DESCRIBE };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"device", required_argument, NULL, 'd'},
        {"file", required_argument, NULL, 'f'},   {"batch", required_argument, NULL, O_BATCH},
        {"max-batch-tokens", required_argument, NULL, O_MAX_TOKENS},
        {"json", no_argument, NULL, O_JSON},      {"npy", required_argument, NULL, O_NPY},
        {"similarity", no_argument, NULL, O_SIM},
        {"timings", no_argument, NULL, O_TIMINGS},
        {"attn-impl", required_argument, NULL, O_ATTN_IMPL},
        {"attn", required_argument, NULL, O_VARIANT},
        {"kv", required_argument, NULL, O_LAYER}, {"attn-quant", required_argument, NULL, O_LAYER},
        {"linear", required_argument, NULL, O_LAYER},
        {"precision", required_argument, NULL, O_LAYER},
        {"ffn-act", required_argument, NULL, O_LAYER},
        {"ffn", required_argument, NULL, O_LAYER},
        {"drop-dense", no_argument, NULL, O_LAYER}, {"help", no_argument, NULL, 'h'},
        {"devices", required_argument, NULL, O_DEVICES},
        {"tensor-parallel", no_argument, NULL, O_TP},
        {"pooling", required_argument, NULL, O_POOLING},
        {"normalize", no_argument, NULL, O_NORM},
        {"no-normalize", no_argument, NULL, O_NO_NORM},
        {"dimensions", required_argument, NULL, O_DIMS},
        {"max-seq-length", required_argument, NULL, O_MAX_SEQ},
        {"prompt", required_argument, NULL, O_PROMPT},
        {"prompt-text", required_argument, NULL, O_PROMPT_TEXT},
        {"truncate", no_argument, NULL, O_TRUNC},
        {"no-truncate", no_argument, NULL, O_NO_TRUNC},
        {"describe", no_argument, NULL, O_DESCRIBE},
        {0, 0, 0, 0}};
    int c, li = -1;
    int64_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:d:f:h", opts, &li)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'd': o->device = optarg; break;
        case 'f': o->file = optarg; break;
        case O_BATCH:
            if (!cli_parse_int(optarg, 1, 1 << 16, &v))
                return cli_usage_error("embed", "--batch needs an integer from 1 to 65536");
            o->batch = v;
            break;
        case O_MAX_TOKENS:
            if (!cli_parse_int(optarg, 1, INT64_C(1) << 40, &v))
                return cli_usage_error("embed", "--max-batch-tokens needs a positive integer");
            o->max_tokens = v;
            break;
        case O_POOLING:
            if (!embed_pooling_parse(optarg, &o->pooling))
                return cli_usage_error("embed", "--pooling: \"%s\" is not cls, max, mean, "
                                                "mean_sqrt_len, weightedmean, lasttoken or "
                                                "several of them joined by ','",
                                       optarg);
            break;
        case O_NORM: o->normalize = 1; break;
        case O_NO_NORM: o->normalize = -1; break;
        case O_DIMS:
            if (!cli_parse_int(optarg, 1, 1 << 20, &v))
                return cli_usage_error("embed", "--dimensions needs a positive integer");
            o->dims = v;
            break;
        case O_MAX_SEQ:
            if (!cli_parse_int(optarg, 2, 1 << 20, &v))
                return cli_usage_error("embed", "--max-seq-length needs an integer from 2 "
                                                "([CLS] and [SEP]) to 1048576");
            o->max_seq = v;
            break;
        case O_PROMPT: o->prompt_name = optarg; break;
        case O_PROMPT_TEXT: o->prompt_text = optarg; break;
        case O_TRUNC: o->no_truncate = false; break;
        case O_NO_TRUNC: o->no_truncate = true; break;
        case O_DESCRIBE: o->describe = true; break;
        case O_JSON: o->json = true; break;
        case O_DEVICES: o->devices = optarg; break;
        case O_TP: o->tp = true; break;
        case O_NPY: o->npy = optarg; break;
        case O_SIM: o->similarity = true; break;
        case O_TIMINGS: o->timings = true; break;
        case O_ATTN_IMPL:
        case O_VARIANT:
        case O_LAYER: {
            int rc = cli_encoder_option("embed", opts[li].name, optarg, &o->cfg);
            if (rc)
                return rc;
            break;
        }
        case 'h': help(); return -1;
        default: return cli_getopt_error("embed", c, argv);
        }
    }
    for (int i = optind; i < argc; i++)
        if (cli_texts_add(t, argv[i], strlen(argv[i])))
            return cli_error("out of memory");
    if (o->file) {
        int rc = cli_texts_read(o->file, t);
        if (rc)
            return rc;
    }
    if (!t->n && !o->describe)
        return cli_usage_error("embed", "no text to embed (give TEXT... or --file FILE)");
    if (o->prompt_name && o->prompt_text)
        return cli_usage_error("embed", "give --prompt or --prompt-text, not both");
    if (o->devices && o->device)
        return cli_usage_error("embed", "give --device or --devices, not both");
    if (o->devices && cli_mpi_launched())
        return cli_usage_error("embed", "--devices is not for mpirun (each rank takes one "
                                        "device)");
    if (o->tp && !o->devices && !cli_mpi_launched())
        return cli_usage_error("embed", "--tensor-parallel needs --devices LIST, or mpirun");
    return 0;
}

/* The texts in batches, longest first (clf_text_batches_make): b[k] batch
 * k's ids and mask [batch, seq]; order[s] is the text at row s of the
 * batches' concatenation. */
struct batches {
    struct clf_text_batches *tb;
    const struct clf_dp_batch *b;
    size_t n;
    const size_t *order;
};

static void free_batches(struct batches *bt)
{
    clf_text_batches_destroy(bt->tb);
}

/* Makes the batches of n texts (their ids and lengths given): at most bs
 * texts and max_tokens padded ids (0: no bound) each. */
static enum clf_status make_batches(struct clf_ctx *ctx, int32_t **ids, const size_t *len,
                                    size_t n, int64_t bs, int64_t max_tokens, struct batches *bt)
{
    struct clf_embed_params p = clf_embed_params_default();
    p.batch = bs;
    p.max_batch_tokens = max_tokens;
    enum clf_status st =
        clf_text_batches_make(ctx, (const int32_t *const *)ids, len, n, &p, &bt->tb);
    bt->b = clf_text_batches_list(bt->tb);
    bt->n = clf_text_batches_count(bt->tb);
    bt->order = clf_text_batches_order(bt->tb);
    return st;
}

/* --tensor-parallel, one batch into out [batch, d]: the embeddings on ctx,
 * read back; the encoder over the group or the ranks (key padding: mask
 * == 0); the hidden states written back to ctx and pooled there. Under
 * mpirun the ranks first agree that every one has its embeddings (the
 * forward's all-reduces would wait for a rank that failed before); *quiet
 * says the failure is another rank's, reported there. */
static enum clf_status embed_batch_tp(struct clf_ctx *ctx, struct clf_bert *b,
                                      struct clf_encoder_tp *tp, struct cli_mpi *mpi,
                                      const struct embed_setup *su,
                                      const struct clf_dp_batch *bt, int64_t cols, float *out,
                                      bool *quiet)
{
    *quiet = false;
    const int64_t d = clf_bert_config(b).d_model;
    const int64_t shape[2] = {bt->batch, bt->seq};
    const size_t rows = (size_t)(bt->batch * bt->seq), bytes = rows * (size_t)d * sizeof(float);
    struct clf_tensor *ti = NULL, *tm = NULL, *e = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL, *pool = NULL;
    float *x = malloc(bytes), *hs = malloc(bytes);
    int32_t *pad = malloc(rows * sizeof *pad);
    enum clf_status st = x && hs && pad ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &ti);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &tm);
    if (st == CLF_OK)
        st = clf_tensor_write(ti, bt->ids, rows * sizeof *bt->ids);
    if (st == CLF_OK)
        st = clf_tensor_write(tm, bt->mask, rows * sizeof *bt->mask);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_bert_embeddings(b, g, ti, tm, &e);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(e, x, bytes);
    for (size_t i = 0; st == CLF_OK && i < rows; i++)
        pad[i] = !bt->mask[i]; /* the mask becomes the key padding */
    if (!cli_mpi_all_ok(mpi, st == CLF_OK) && st == CLF_OK) {
        st = CLF_E_COMM;
        *quiet = true;
    }
    if (st == CLF_OK)
        st = clf_encoder_tp_forward(tp, x, bt->batch, bt->seq, pad, hs);
    const int64_t hshape[3] = {bt->batch, bt->seq, d};
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, hshape, &h);
    if (st == CLF_OK)
        st = clf_tensor_write(h, hs, bytes);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &pool);
    if (st == CLF_OK)
        st = clf_op_sentence_pool(pool, h, tm, su->pooling, su->dims, su->normalize, &y);
    if (st == CLF_OK)
        st = clf_graph_run(pool);
    if (st == CLF_OK)
        st = clf_tensor_read(y, out, (size_t)(bt->batch * cols) * sizeof *out);
    clf_graph_destroy(pool);
    clf_graph_destroy(g);
    clf_tensor_destroy(h);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    free(pad);
    free(x);
    free(hs);
    return st;
}

/* Prints ctx's error (under mpirun: with the rank). */
static void rank_error(const struct cli_mpi *mpi, struct clf_ctx *ctx, enum clf_status st)
{
    const char *m = *clf_ctx_last_error(ctx) ? clf_ctx_last_error(ctx) : clf_status_str(st);
    if (mpi->active)
        cli_error("rank %d: %s", mpi->rank, m);
    else
        cli_error("%s", m);
}

/* Where the embeddings go: *e [n, d] (malloc'd once d is known), n texts. */
struct embed_out {
    float *e;
    int64_t d;
    size_t n;
};

/* Room for the embeddings of d floats each. */
static enum clf_status alloc_out(struct embed_out *out, int64_t d)
{
    out->d = d;
    out->e = malloc(out->n * (size_t)d * sizeof *out->e);
    return out->e ? CLF_OK : CLF_E_OUT_OF_MEMORY;
}

/* --tensor-parallel: the model's embeddings on ctx (the group's first
 * device, or this rank's), its layers split over the group or the ranks
 * (no device holds the whole model); every batch through all of them, into
 * out. Under mpirun every rank runs every step and returns the same
 * success or failure; a rank prints its own failure. */
static enum clf_status embed_tp(const struct embed_opts *o, const struct embed_setup *su,
                                struct clf_ctx *ctx, struct clf_group *grp, struct cli_mpi *mpi,
                                const struct batches *bt, struct embed_out *out,
                                struct embed_times *tm)
{
    struct clf_bert *b = NULL;
    struct clf_encoder_tp *tp = NULL;
    const struct clf_tp_comm comm = {mpi->rank, mpi->size, cli_mpi_allreduce_sum, mpi};
    double t = cli_now_ms();
    const char *dir = su->model_dir;
    enum clf_status st = grp ? clf_bert_load_tp(grp, dir, &o->cfg, &b, &tp)
                             : clf_bert_load_tp_rank(ctx, dir, &o->cfg, &comm, &b, &tp);
    tm->load_ms = cli_now_ms() - t;
    if (st == CLF_OK)
        st = alloc_out(out, su->dims ? su->dims
                                     : clf_pooling_width(su->pooling, clf_bert_config(b).d_model));
    if (st != CLF_OK)
        rank_error(mpi, ctx, st);
    bool go = cli_mpi_all_ok(mpi, st == CLF_OK);
    if (st == CLF_OK && !go)
        st = CLF_E_COMM;
    /* every rank makes the same collective calls: one agreement inside
     * each batch, the forward's all-reduces, and one after it */
    float *at = out->e;
    for (size_t k = 0; go && k < bt->n; k++) {
        bool quiet;
        st = embed_batch_tp(ctx, b, tp, mpi, su, &bt->b[k], out->d, at, &quiet);
        at += (size_t)(bt->b[k].batch * out->d);
        if (st != CLF_OK && !quiet)
            rank_error(mpi, ctx, st);
        go = cli_mpi_all_ok(mpi, st == CLF_OK);
        if (st == CLF_OK && !go)
            st = CLF_E_COMM;
    }
    clf_encoder_tp_destroy(tp);
    clf_bert_destroy(b);
    return st;
}

/* Data parallel (also one device: a rank of one): the model on every
 * member of the group, or on this rank's device (clf_dp); the batches dealt
 * whole over them, the embeddings gathered into out (under mpirun on rank
 * 0, over MPI). The FFN activation quantiser is calibrated on the first
 * batch, as one device would. Every rank returns the same success or
 * failure; a rank prints its own failure. */
static enum clf_status embed_dp(const struct embed_opts *o, const struct embed_setup *su,
                                struct clf_ctx *ctx, struct clf_group *grp, struct cli_mpi *mpi,
                                const struct batches *bt, struct embed_out *out,
                                struct embed_times *tm)
{
    struct clf_dp *dp = NULL;
    const struct clf_dp_comm comm = {mpi->rank, mpi->size, cli_mpi_dp_gather, mpi};
    double t = cli_now_ms();
    const char *dir = su->model_dir;
    enum clf_status st = grp ? clf_dp_create_bert(grp, dir, &o->cfg, &dp)
                             : clf_dp_create_bert_rank(ctx, dir, &o->cfg, &comm, &dp);
    tm->load_ms = cli_now_ms() - t;
    if (st == CLF_OK)
        st = embed_setup_runner(dp, su);
    if (st == CLF_OK)
        st = alloc_out(out, clf_dp_embed_dim(dp));
    if (st == CLF_OK && o->cfg.ffn_act.kind != CLF_ACTQ_NONE)
        st = clf_dp_calibrate_embed(dp, &bt->b[0]);
    if (st != CLF_OK)
        rank_error(mpi, ctx, st);
    /* the embedding's gather is the only exchange: every rank there */
    if (cli_mpi_all_ok(mpi, st == CLF_OK)) {
        st = clf_dp_embed(dp, bt->b, bt->n, out->e);
        if (st != CLF_OK)
            rank_error(mpi, ctx, st);
    } else if (st == CLF_OK) {
        st = CLF_E_COMM;
    }
    clf_dp_destroy(dp);
    return st;
}

/* The similarity of rows i and j of e [n, d], as sentence-transformers'
 * similarity function fn names it (NULL: cosine, 0 for a zero row; dot;
 * euclidean and manhattan as negated distances, larger = more similar). */
static double similarity(const char *fn, const float *e, int64_t d, size_t i, size_t j)
{
    const float *a = e + i * (size_t)d, *b = e + j * (size_t)d;
    if (!fn || !strcmp(fn, "cosine"))
        return embed_cosine(a, b, d);
    const bool dot = !strcmp(fn, "dot"), l2 = !strcmp(fn, "euclidean"); /* else manhattan */
    double s = 0;
    for (int64_t k = 0; k < d; k++) {
        const double x = a[k], y = b[k];
        s += dot ? x * y : l2 ? (x - y) * (x - y) : fabs(x - y);
    }
    return dot ? s : l2 ? -sqrt(s) : -s;
}

static int print_output(const struct embed_opts *o, const struct cli_texts *t, const size_t *len,
                        const float *e, int64_t d, const char *fn)
{
    if (o->similarity && !o->json) {
        for (size_t i = 0; i < t->n; i++) { /* a NUL shown as a space */
            printf("%3zu  ", i);
            for (size_t k = 0; k < t->len[i]; k++)
                putchar(t->s[i][k] ? t->s[i][k] : ' ');
            putchar('\n');
        }
        printf("\n    ");
        for (size_t j = 0; j < t->n; j++)
            printf(" %7zu", j);
        printf("\n");
        for (size_t i = 0; i < t->n; i++) {
            printf("%3zu ", i);
            for (size_t j = 0; j < t->n; j++)
                printf(" %7.4f", similarity(fn, e, d, i, j));
            printf("\n");
        }
        return CLI_OK;
    }
    if (o->similarity) {
        cJSON *r = cJSON_CreateObject(), *ts = cJSON_AddArrayToObject(r, "texts"),
              *m = cJSON_AddArrayToObject(r, "similarity");
        for (size_t i = 0; i < t->n; i++) {
            cJSON_AddItemToArray(ts, cli_json_bytes(t->s[i], t->len[i]));
            cJSON *row = cJSON_CreateArray();
            for (size_t j = 0; j < t->n; j++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber(similarity(fn, e, d, i, j)));
            cJSON_AddItemToArray(m, row);
        }
        return cli_print_json(r);
    }
    if (o->npy)
        return CLI_OK;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < t->n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddItemToObject(x, "text", cli_json_bytes(t->s[i], t->len[i]));
        cJSON_AddNumberToObject(x, "tokens", (double)len[i]);
        cJSON *v = cJSON_AddArrayToObject(x, "embedding");
        for (int64_t k = 0; k < d; k++)
            cJSON_AddItemToArray(v, cJSON_CreateNumber(e[i * (size_t)d + (size_t)k]));
        cJSON_AddItemToArray(a, x);
    }
    return cli_print_json(a);
}

/* --timings: one JSON line on stderr (counters of ctx: the first device's
 * of a group). */
static void print_timings(const struct embed_times *tm, struct clf_ctx *ctx)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "context_ms", tm->context_ms);
    cJSON_AddNumberToObject(o, "tokenize_ms", tm->tokenize_ms);
    cJSON_AddNumberToObject(o, "load_ms", tm->load_ms);
    cJSON_AddNumberToObject(o, "embed_ms", tm->embed_ms);
    cJSON_AddItemToObject(o, "startup", cli_startup_json(ctx));
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        fprintf(stderr, "timings: %s\n", s);
    free(s);
    cJSON_Delete(o);
}

/* The folder's configuration (clf_sentence_folder_load) with the options
 * over it, into *su; *sf receives the folder (for its prompts). Returns 0
 * or a CLI exit code (the error printed). */
static int setup(const struct embed_opts *o, const char *dir, struct embed_setup *su,
                 struct clf_sentence_folder **sf)
{
    int rc = embed_setup_folder(dir, su, sf);
    if (rc)
        return rc;
    if (o->max_seq)
        su->tp.max_length = o->max_seq;
    if (o->pooling)
        su->pooling = o->pooling;
    if (o->normalize)
        su->normalize = o->normalize > 0;
    su->dims = o->dims;
    if (clf_sentence_folder_dense_count(*sf) && o->tp)
        return cli_error("%s: Dense modules with --tensor-parallel are not supported", dir);
    if (o->prompt_text) {
        su->prompt_name = NULL;
        su->prompt = *o->prompt_text ? o->prompt_text : NULL;
    } else if (o->prompt_name) {
        su->prompt_name = o->prompt_name;
        su->prompt = clf_sentence_folder_prompt(*sf, su->prompt_name);
        if (!su->prompt) {
            char names[512] = "";
            size_t at = 0;
            for (size_t i = 0; i < clf_sentence_folder_prompt_count(*sf) && at < sizeof names; i++)
                at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "",
                                       clf_sentence_folder_prompt_name(*sf, i));
            return cli_usage_error("embed", "--prompt %s: %s has no such prompt (%s%s)",
                                   o->prompt_name, dir, at ? "it has: " : "it has none",
                                   names);
        }
    }
    if (su->prompt && !su->pool_prompt && o->tp)
        return cli_error("%s: a prompt left out of the pooling (include_prompt false) with "
                         "--tensor-parallel is not supported",
                         dir);
    return 0;
}

int cmd_embed(int argc, char **argv)
{
    struct embed_opts o = {0};
    struct cli_texts t = {0};
    o.cfg = clf_encoder_config_default();
    o.batch = 32;
    int rc = parse(argc, argv, &o, &t);
    if (rc) {
        cli_texts_free(&t);
        return rc < 0 ? CLI_OK : rc;
    }
    char def[4096];
    const char *dir = o.model ? o.model : def;
    if (!o.model && clf_default_model_dir(def, sizeof def) != CLF_OK) {
        cli_texts_free(&t);
        return cli_error("the model directory's path is too long (give --model DIR)");
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int have = cli_input_exists(path);
    if (have == 0) {
        snprintf(path, sizeof path, "%s/modules.json", dir);
        have = cli_input_exists(path);
    }
    if (have <= 0) {
        cli_texts_free(&t);
        return have < 0 ? CLI_FAIL
                        : cli_error("no model at %s (no config.json nor modules.json): run "
                                    "tools/fetch_model.sh, or give --model DIR",
                                    dir);
    }
    struct embed_setup su = {0};
    struct clf_sentence_folder *sf = NULL;
    rc = setup(&o, dir, &su, &sf);
    if (rc || o.describe) {
        if (!rc)
            rc = embed_describe(dir, sf, &su, o.json);
        clf_sentence_folder_destroy(sf);
        cli_texts_free(&t);
        return rc;
    }

    struct embed_times tm = {cli_now_ms(), 0, 0, 0, 0};
    struct cli_mpi mpi;
    cli_mpi_begin(&mpi);
    /* progress on a terminal, as run: none with --json or on other ranks */
    struct clf_ctx_params p = cli_ctx_params(o.device, o.json || mpi.rank > 0);
    char spec[256], msg[512];
    struct clf_ctx *ctx = NULL; /* this rank's (or the group's first) device */
    struct clf_group *grp = NULL;
    struct clf_tokenizer *tok = NULL;
    int32_t **ids = calloc(t.n, sizeof *ids);
    size_t *len = calloc(t.n, sizeof *len);
    struct embed_out out = {0};
    rc = CLI_FAIL;
    bool ok = ids && len;
    if (!ok)
        cli_error("out of memory");
    if (ok && o.devices) {
        if (clf_group_create(o.devices, &p, &grp, msg, sizeof msg) != CLF_OK)
            ok = !cli_error("--devices %s: %s", o.devices, msg);
        else
            ctx = clf_group_ctx(grp, 0);
    } else if (ok) {
        if (mpi.active && !cli_mpi_device(o.device, mpi.local_rank, spec, sizeof spec, msg,
                                          sizeof msg))
            ok = !cli_error("%s", msg);
        if (mpi.active)
            p.device = spec;
        ok = ok && clf_ctx_create(&p, &ctx) == CLF_OK; /* the log handler says why */
    }
    if (!cli_mpi_all_ok(&mpi, ok))
        goto done;
    cli_hold_active(ctx);
    tm.context_ms = cli_now_ms() - tm.t0;
    const struct clf_tokenizer_params tp = su.tp;
    if (!cli_mpi_all_ok(&mpi, embed_tokenizer_path(&su, path, sizeof path)))
        goto done;
    enum clf_status st = clf_tokenizer_load(ctx, path, &tp, &tok);
    if (st == CLF_OK)
        st = embed_prompt_skip(&su, tok);
    for (size_t i = 0; st == CLF_OK && i < t.n; i++) {
        bool cut = false;
        ids[i] = malloc((size_t)tp.max_length * sizeof **ids);
        st = ids[i] ? clf_tokenizer_encode_sentence_len(tok, su.prompt, t.s[i], t.len[i], ids[i],
                                                        (size_t)tp.max_length, &len[i], &cut)
                    : CLF_E_OUT_OF_MEMORY;
        if (st == CLF_OK && cut && o.no_truncate) {
            if (mpi.rank == 0)
                cli_error("text %zu is longer than %lld tokens (--no-truncate)", i + 1,
                          (long long)tp.max_length);
            cli_mpi_all_ok(&mpi, false);
            goto done;
        }
        if (st == CLF_OK && cut && mpi.rank == 0)
            fprintf(stderr, "clformer: text %zu truncated to %zu tokens\n", i + 1, len[i]);
        if (st == CLF_E_INVALID_ARG) {
            if (mpi.rank == 0)
                cli_error("text %zu: %s", i + 1, clf_ctx_last_error(ctx));
            cli_mpi_all_ok(&mpi, false);
            goto done;
        }
    }
    /* the ranks must have the same texts and model (see cli_mpi_same) */
    uint64_t h = XXH3_64bits_withSeed(dir, strlen(dir),
                                      (uint64_t)o.batch ^ ((uint64_t)o.max_tokens << 17) ^
                                          ((uint64_t)su.pooling << 40) ^
                                          ((uint64_t)su.normalize << 47) ^
                                          ((uint64_t)su.dims << 48));
    for (size_t i = 0; st == CLF_OK && i < t.n; i++)
        h = XXH3_64bits_withSeed(ids[i], len[i] * sizeof **ids, h ^ len[i]);
    if (st != CLF_OK)
        cli_error("%s", *clf_ctx_last_error(ctx) ? clf_ctx_last_error(ctx) : clf_status_str(st));
    if (!cli_mpi_all_ok(&mpi, st == CLF_OK))
        goto done;
    if (!cli_mpi_same(&mpi, h)) {
        if (mpi.rank == 0)
            cli_error("the ranks have different texts or models (files that differ between "
                      "nodes, or mpirun's MPMD form with other arguments)");
        goto done;
    }
    /* the batches of --batch texts, the same on every rank and device */
    struct batches bt = {0};
    if (st == CLF_OK)
        st = make_batches(ctx, ids, len, t.n, o.batch, o.max_tokens, &bt);
    if (st != CLF_OK)
        cli_error("%s", clf_ctx_last_error(ctx));
    if (!cli_mpi_all_ok(&mpi, st == CLF_OK)) {
        free_batches(&bt);
        goto done;
    }
    /* every rank every batch (no share, no gather), or the batches dealt */
    out.n = t.n;
    double t1 = cli_now_ms();
    tm.tokenize_ms = t1 - tm.t0 - tm.context_ms;
    st = o.tp ? embed_tp(&o, &su, ctx, grp, &mpi, &bt, &out, &tm)
              : embed_dp(&o, &su, ctx, grp, &mpi, &bt, &out, &tm);
    tm.embed_ms = cli_now_ms() - t1 - tm.load_ms;
    if (st == CLF_OK && mpi.rank == 0) { /* back to the texts' order */
        float *e = malloc(t.n * (size_t)out.d * sizeof *e);
        if (!e) {
            st = CLF_E_OUT_OF_MEMORY;
            cli_error("out of memory");
        }
        for (size_t s = 0; e && s < t.n; s++)
            memcpy(e + bt.order[s] * (size_t)out.d, out.e + s * (size_t)out.d,
                   (size_t)out.d * sizeof *e);
        if (e) {
            free(out.e);
            out.e = e;
        }
    }
    free_batches(&bt);
    if (st != CLF_OK)
        goto done;
    if (mpi.rank > 0) { /* rank 0 reports */
        rc = CLI_OK;
        goto done;
    }
    if (o.npy) {
        const int64_t shape[2] = {(int64_t)t.n, out.d};
        char msg[1024];
        if (clf_npy_write(o.npy, out.e, 2, shape, msg, sizeof msg) != CLF_OK) {
            cli_error("%s", msg);
            goto done;
        }
    }
    rc = print_output(&o, &t, len, out.e, out.d, clf_sentence_folder_similarity(sf));
    if (rc == CLI_OK && o.timings)
        print_timings(&tm, ctx);
    if (rc == CLI_OK)
        cli_save_binaries_later(ctx);
done:
    clf_sentence_folder_destroy(sf);
    for (size_t i = 0; ids && i < t.n; i++)
        free(ids[i]);
    free(ids);
    free(len);
    free(out.e);
    clf_tokenizer_destroy(tok);
    if (grp)
        clf_group_destroy(grp);
    else
        clf_ctx_destroy(ctx);
    cli_mpi_end(&mpi);
    cli_texts_free(&t);
    return rc;
}
