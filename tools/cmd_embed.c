/*
 * `clformer embed`: sentence embeddings with a BERT model directory (e.g.
 * all-MiniLM-L6-v2): WordPiece tokens (clf_tokenizer_*), batches padded to
 * their longest text with a mask, clf_bert_forward, then the masked mean,
 * L2-normalised (clf_op_mean_pool_normalize), as sentence-transformers.
 *
 * Several devices: --devices LIST deals the batches over a device group
 * (a model on each, one thread each); under mpirun (built with MPI) each
 * rank embeds its share of the batches and rank 0 gathers and prints. The
 * batches are the same as on one device, so the embeddings are too.
 * --tensor-parallel instead splits the model's layers over the group, or
 * over the ranks (an all-reduce over MPI), and every batch goes through
 * all of them.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cli.h"
#include "cli_mpi.h"

struct embed_opts {
    const char *model, *device, *npy, *file;
    const char *devices; /* --devices LIST */
    bool tp;             /* --tensor-parallel */
    bool json, similarity;
    int64_t batch;
    struct clf_encoder_config cfg;
};

/* The texts: one allocation each. */
struct texts {
    char **s;
    size_t n, cap;
};

static void help(void)
{
    printf("Usage: clformer embed [OPTIONS] TEXT...\n\n"
           "Sentence embeddings of the texts (and of the lines of --file) with a BERT\n"
           "model directory (config.json, model.safetensors, vocab.txt): the mean of\n"
           "the last hidden states over each text's tokens, L2-normalised, as\n"
           "sentence-transformers computes them. Texts longer than the tokenizer's\n"
           "256 tokens are truncated (reported on stderr).\n\n"
           "  -m, --model DIR        model directory; default $CLFORMER_MODEL_DIR, else\n"
           "                         ${XDG_CACHE_HOME:-~/.cache}/clformer/models/all-MiniLM-L6-v2\n"
           "                         (tools/fetch_model.sh puts it there)\n"
           "  -d, --device SPEC      device (see clformer info --help); default auto\n"
           "  -f, --file FILE        one more text per line (empty lines are skipped)\n"
           "      --batch N          texts per forward pass (default 32)\n"
           "      --json             JSON output (the default; with --similarity: an object\n"
           "                         {\"texts\", \"similarity\"})\n"
           "      --npy FILE         write the embeddings as float32 .npy [texts, d] instead\n"
           "                         of printing them\n"
           "      --similarity       print the cosine similarity matrix of the texts\n"
           "      --attn-impl I      auto (default), fused, gemm\n"
           "      --attn SPEC        attention variant, as clformer run --attn\n"
           "      --ffn SPEC         FFN weights, as clformer run --ffn\n"
           "      --drop-dense       free the f32 weights a prepared form replaces\n"
           "      --kv F             K and V storage: f32 (default), int8, int8:channel\n"
           "      --attn-quant F     attention weights: f32 (default), f16, log:B\n"
           "      --linear F         linear layers: f32 (default), int8\n"
           "      --ffn-act SPEC     quantiser before W2 (as clformer run); free parameters\n"
           "                         are calibrated on the first batch of texts\n"
           "      --devices LIST     deal the batches over these devices (\"all\",\n"
           "                         \"gpu:0,gpu:1\", ...), a model on each, at the same time\n"
           "      --tensor-parallel  with --devices, or under mpirun: split every layer's\n"
           "                         heads and FFN over the devices (ranks) instead, and\n"
           "                         run every batch on all of them (no other model option)\n"
           "  -h, --help             this text\n"
           "\nOutput: a JSON array of {\"text\", \"tokens\", \"embedding\"}.\n"
           "Under mpirun (when built with MPI) every rank embeds its share of the\n"
           "batches on its own device and rank 0 prints (or writes) them all; with\n"
           "--tensor-parallel every rank runs every batch with its share of each layer.\n");
}

static int add_text(struct texts *t, const char *s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **p = realloc(t->s, cap * sizeof *p);
        if (!p)
            return -1;
        t->s = p;
        t->cap = cap;
    }
    if (!(t->s[t->n] = strdup(s)))
        return -1;
    t->n++;
    return 0;
}

static void free_texts(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
}

/* Appends the non-empty lines of path (without their line ends). */
static int read_lines(const char *path, struct texts *t)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_error("%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_OK;
    while (rc == CLI_OK && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len && add_text(t, line))
            rc = cli_error("out of memory");
    }
    if (rc == CLI_OK && ferror(f))
        rc = cli_error("%s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

static int parse(int argc, char **argv, struct embed_opts *o, struct texts *t)
{
    enum { O_BATCH = 256, O_JSON, O_NPY, O_SIM, O_ATTN_IMPL, O_VARIANT, O_LAYER, O_DEVICES,
           O_TP };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"device", required_argument, NULL, 'd'},
        {"file", required_argument, NULL, 'f'},   {"batch", required_argument, NULL, O_BATCH},
        {"json", no_argument, NULL, O_JSON},      {"npy", required_argument, NULL, O_NPY},
        {"similarity", no_argument, NULL, O_SIM},
        {"attn-impl", required_argument, NULL, O_ATTN_IMPL},
        {"attn", required_argument, NULL, O_VARIANT},
        {"kv", required_argument, NULL, O_LAYER}, {"attn-quant", required_argument, NULL, O_LAYER},
        {"linear", required_argument, NULL, O_LAYER},
        {"ffn-act", required_argument, NULL, O_LAYER},
        {"ffn", required_argument, NULL, O_LAYER},
        {"drop-dense", no_argument, NULL, O_LAYER}, {"help", no_argument, NULL, 'h'},
        {"devices", required_argument, NULL, O_DEVICES},
        {"tensor-parallel", no_argument, NULL, O_TP},
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
        case O_JSON: o->json = true; break;
        case O_DEVICES: o->devices = optarg; break;
        case O_TP: o->tp = true; break;
        case O_NPY: o->npy = optarg; break;
        case O_SIM: o->similarity = true; break;
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
        if (add_text(t, argv[i]))
            return cli_error("out of memory");
    if (o->file) {
        int rc = read_lines(o->file, t);
        if (rc)
            return rc;
    }
    if (!t->n)
        return cli_usage_error("embed", "no text to embed (give TEXT... or --file FILE)");
    if (o->devices && o->device)
        return cli_usage_error("embed", "give --device or --devices, not both");
    if (o->devices && cli_mpi_launched())
        return cli_usage_error("embed", "--devices is not for mpirun (each rank takes one "
                                        "device)");
    if (o->tp && !o->devices && !cli_mpi_launched())
        return cli_usage_error("embed", "--tensor-parallel needs --devices LIST, or mpirun");
    return 0;
}

/* The batch's ids and mask (1 = token) padded to its longest text (*seq):
 * the host mask *pm [nb, seq] (malloc'd) and device tensors ti, tm. */
static enum clf_status batch_inputs(struct clf_ctx *ctx, int32_t **ids, const size_t *len,
                                    size_t nb, size_t *seq_out, int32_t **pm_out,
                                    struct clf_tensor **ti, struct clf_tensor **tm)
{
    size_t seq = 1;
    for (size_t i = 0; i < nb; i++)
        seq = len[i] > seq ? len[i] : seq;
    int32_t *pi = calloc(nb * seq, sizeof *pi), *pm = calloc(nb * seq, sizeof *pm);
    const int64_t shape[2] = {(int64_t)nb, (int64_t)seq};
    enum clf_status st = pi && pm ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    for (size_t i = 0; st == CLF_OK && i < nb; i++)
        for (size_t t = 0; t < len[i]; t++) {
            pi[i * seq + t] = ids[i][t];
            pm[i * seq + t] = 1;
        }
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, ti);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, tm);
    if (st == CLF_OK)
        st = clf_tensor_write(*ti, pi, nb * seq * sizeof *pi);
    if (st == CLF_OK)
        st = clf_tensor_write(*tm, pm, nb * seq * sizeof *pm);
    free(pi);
    *seq_out = seq;
    *pm_out = pm;
    return st;
}

/* Embeds texts [first, first + nb) (their ids and lengths given) into
 * out [nb, d]; calibrate: first calibrate the FFN activation quantiser on
 * this batch (out NULL: only that). */
static enum clf_status embed_batch(struct clf_ctx *ctx, struct clf_bert *b, int32_t **ids,
                                   const size_t *len, size_t nb, bool calibrate, float *out)
{
    size_t seq;
    int32_t *pm = NULL;
    struct clf_tensor *ti = NULL, *tm = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    enum clf_status st = batch_inputs(ctx, ids, len, nb, &seq, &pm, &ti, &tm);
    if (st == CLF_OK && calibrate)
        st = clf_bert_calibrate(b, ti, tm);
    if (!out)
        nb = 0; /* calibration only */
    if (st == CLF_OK && nb)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK && nb)
        st = clf_bert_forward(b, g, ti, tm, &h);
    if (st == CLF_OK && nb)
        st = clf_op_mean_pool_normalize(g, h, tm, &y);
    if (st == CLF_OK && nb)
        st = clf_graph_run(g);
    if (st == CLF_OK && nb)
        st = clf_tensor_read(y, out, (size_t)clf_tensor_numel(y) * sizeof *out);
    clf_graph_destroy(g);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    free(pm);
    return st;
}

/* --tensor-parallel, one batch into out [nb, d]: the embeddings on ctx,
 * read back; the encoder over the group or the ranks (key padding: mask
 * == 0); the hidden states written back to ctx and pooled there. Under
 * mpirun the ranks first agree that every one has its embeddings (the
 * forward's all-reduces would wait for a rank that failed before); *quiet
 * says the failure is another rank's, reported there. */
static enum clf_status embed_batch_tp(struct clf_ctx *ctx, struct clf_bert *b,
                                      struct clf_encoder_tp *tp, struct cli_mpi *mpi,
                                      int32_t **ids, const size_t *len, size_t nb, float *out,
                                      bool *quiet)
{
    *quiet = false;
    const int64_t d = clf_bert_config(b).d_model;
    size_t seq;
    int32_t *pm = NULL;
    struct clf_tensor *ti = NULL, *tm = NULL, *e = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL, *pool = NULL;
    enum clf_status st = batch_inputs(ctx, ids, len, nb, &seq, &pm, &ti, &tm);
    const size_t rows = nb * seq, bytes = rows * (size_t)d * sizeof(float);
    float *x = st == CLF_OK ? malloc(bytes) : NULL, *hs = st == CLF_OK ? malloc(bytes) : NULL;
    if (st == CLF_OK && (!x || !hs))
        st = CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_bert_embeddings(b, g, ti, tm, &e);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(e, x, bytes);
    for (size_t i = 0; st == CLF_OK && i < rows; i++)
        pm[i] = !pm[i]; /* the mask becomes the key padding */
    if (!cli_mpi_all_ok(mpi, st == CLF_OK) && st == CLF_OK) {
        st = CLF_E_COMM;
        *quiet = true;
    }
    if (st == CLF_OK)
        st = clf_encoder_tp_forward(tp, x, (int64_t)nb, (int64_t)seq, pm, hs);
    const int64_t hshape[3] = {(int64_t)nb, (int64_t)seq, d};
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, hshape, &h);
    if (st == CLF_OK)
        st = clf_tensor_write(h, hs, bytes);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &pool);
    if (st == CLF_OK)
        st = clf_op_mean_pool_normalize(pool, h, tm, &y);
    if (st == CLF_OK)
        st = clf_graph_run(pool);
    if (st == CLF_OK)
        st = clf_tensor_read(y, out, nb * (size_t)d * sizeof *out);
    clf_graph_destroy(pool);
    clf_graph_destroy(g);
    clf_tensor_destroy(h);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    free(pm);
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

/* --tensor-parallel: the model on ctx (the group's first device, or this
 * rank's), its encoder split over the group or the ranks; every batch of
 * --batch texts through all of them, into e [n, d]. Under mpirun every
 * rank runs every step and returns the same success or failure; a rank
 * prints its own failure. */
static enum clf_status embed_tp(const struct embed_opts *o, const char *dir, struct clf_ctx *ctx,
                                struct clf_group *grp, struct cli_mpi *mpi, int32_t **ids,
                                const size_t *len, size_t n, float *e)
{
    struct clf_bert *b = NULL;
    struct clf_encoder_tp *tp = NULL;
    const struct clf_tp_comm comm = {mpi->rank, mpi->size, cli_mpi_allreduce_sum, mpi};
    enum clf_status st = clf_bert_load(ctx, dir, &o->cfg, &b);
    if (st == CLF_OK)
        st = grp ? clf_encoder_tp_create_from(grp, clf_bert_encoder(b), &tp)
                 : clf_encoder_tp_create_rank_from(ctx, clf_bert_encoder(b), &comm, &tp);
    const size_t bs = (size_t)o->batch;
    const int64_t d = st == CLF_OK ? clf_bert_config(b).d_model : 0;
    if (st != CLF_OK)
        rank_error(mpi, ctx, st);
    bool go = cli_mpi_all_ok(mpi, st == CLF_OK);
    if (st == CLF_OK && !go)
        st = CLF_E_COMM;
    /* every rank makes the same collective calls: one agreement inside
     * each batch, the forward's all-reduces, and one after it */
    for (size_t t0 = 0; go && t0 < n; t0 += bs) {
        const size_t nb = n - t0 < bs ? n - t0 : bs;
        bool quiet;
        st = embed_batch_tp(ctx, b, tp, mpi, ids + t0, len + t0, nb, e + t0 * (size_t)d,
                            &quiet);
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

/* Cosine similarity of rows i and j of e [n, d] (0 for a zero row). */
static double cosine(const float *e, int64_t d, size_t i, size_t j)
{
    double dot = 0, ni = 0, nj = 0;
    for (int64_t k = 0; k < d; k++) {
        dot += (double)e[i * (size_t)d + (size_t)k] * e[j * (size_t)d + (size_t)k];
        ni += (double)e[i * (size_t)d + (size_t)k] * e[i * (size_t)d + (size_t)k];
        nj += (double)e[j * (size_t)d + (size_t)k] * e[j * (size_t)d + (size_t)k];
    }
    return ni > 0 && nj > 0 ? dot / sqrt(ni * nj) : 0.0;
}

static int print_output(const struct embed_opts *o, const struct texts *t, const size_t *len,
                        const float *e, int64_t d)
{
    if (o->similarity && !o->json) {
        for (size_t i = 0; i < t->n; i++)
            printf("%3zu  %s\n", i, t->s[i]);
        printf("\n    ");
        for (size_t j = 0; j < t->n; j++)
            printf(" %7zu", j);
        printf("\n");
        for (size_t i = 0; i < t->n; i++) {
            printf("%3zu ", i);
            for (size_t j = 0; j < t->n; j++)
                printf(" %7.4f", cosine(e, d, i, j));
            printf("\n");
        }
        return CLI_OK;
    }
    if (o->similarity) {
        cJSON *r = cJSON_CreateObject(), *ts = cJSON_AddArrayToObject(r, "texts"),
              *m = cJSON_AddArrayToObject(r, "similarity");
        for (size_t i = 0; i < t->n; i++) {
            cJSON_AddItemToArray(ts, cJSON_CreateString(t->s[i]));
            cJSON *row = cJSON_CreateArray();
            for (size_t j = 0; j < t->n; j++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber(cosine(e, d, i, j)));
            cJSON_AddItemToArray(m, row);
        }
        return cli_print_json(r);
    }
    if (o->npy)
        return CLI_OK;
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < t->n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "text", t->s[i]);
        cJSON_AddNumberToObject(x, "tokens", (double)len[i]);
        cJSON *v = cJSON_AddArrayToObject(x, "embedding");
        for (int64_t k = 0; k < d; k++)
            cJSON_AddItemToArray(v, cJSON_CreateNumber(e[i * (size_t)d + (size_t)k]));
        cJSON_AddItemToArray(a, x);
    }
    return cli_print_json(a);
}

/* One device's part: batches [first, first + count) of --batch texts. */
struct embed_worker {
    struct clf_ctx *ctx; /* borrowed */
    struct clf_bert *b;
    size_t first, count;
    enum clf_status st;
};

struct embed_job {
    const struct embed_opts *o;
    const char *dir;
    struct embed_worker *w;
    int32_t **ids;
    const size_t *len;
    size_t n;  /* texts */
    int64_t d; /* embedding size */
    float *e;  /* [n, d]; a rank writes its share at the start */
    size_t at; /* the text whose embedding goes to e's first row */
};

/* Worker i: loads the model on its device, calibrates (on the first batch
 * of all, as one device would) and embeds its batches into e. */
static void embed_worker(void *arg, int i)
{
    struct embed_job *j = arg;
    struct embed_worker *w = &j->w[i];
    const size_t bs = (size_t)j->o->batch;
    if (!w->count)
        return;
    w->st = clf_bert_load(w->ctx, j->dir, &j->o->cfg, &w->b);
    const size_t n0 = j->n < bs ? j->n : bs;
    if (w->st == CLF_OK && w->first) /* the first batch's worker calibrates as it embeds */
        w->st = embed_batch(w->ctx, w->b, j->ids, j->len, n0, true, NULL);
    for (size_t k = w->first; w->st == CLF_OK && k < w->first + w->count; k++) {
        size_t t0 = k * bs, nb = j->n - t0 < bs ? j->n - t0 : bs;
        w->st = embed_batch(w->ctx, w->b, j->ids + t0, j->len + t0, nb, k == 0,
                            j->e + (t0 - j->at) * (size_t)j->d);
    }
}

int cmd_embed(int argc, char **argv)
{
    struct embed_opts o = {0};
    struct texts t = {0};
    o.cfg = clf_encoder_config_default();
    o.batch = 32;
    int rc = parse(argc, argv, &o, &t);
    if (rc) {
        free_texts(&t);
        return rc < 0 ? CLI_OK : rc;
    }
    char def[4096];
    const char *dir = o.model ? o.model : def;
    if (!o.model && clf_default_model_dir(def, sizeof def) != CLF_OK) {
        free_texts(&t);
        return cli_error("the model directory's path is too long (give --model DIR)");
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        free_texts(&t);
        return cli_error("no model at %s (no config.json): run tools/fetch_model.sh, or give "
                         "--model DIR",
                         dir);
    }
    fclose(f);

    struct cli_mpi mpi;
    cli_mpi_begin(&mpi);
    struct clf_ctx_params p = cli_ctx_params(o.device, true);
    char spec[256], msg[512];
    struct clf_ctx *ctx = NULL; /* this rank's (or the group's first) device */
    struct clf_group *grp = NULL;
    struct clf_tokenizer *tok = NULL;
    struct embed_worker *w = NULL;
    int nw = 1;
    int32_t **ids = calloc(t.n, sizeof *ids);
    size_t *len = calloc(t.n, sizeof *len), *counts = NULL;
    float *e = NULL;
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
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    enum clf_status st = clf_tokenizer_load(ctx, path, &tp, &tok);
    for (size_t i = 0; st == CLF_OK && i < t.n; i++) {
        bool cut = false;
        ids[i] = malloc((size_t)tp.max_length * sizeof **ids);
        st = ids[i] ? clf_tokenizer_encode(tok, t.s[i], ids[i], (size_t)tp.max_length, &len[i],
                                           &cut)
                    : CLF_E_OUT_OF_MEMORY;
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
    uint64_t h = XXH3_64bits_withSeed(dir, strlen(dir), (uint64_t)o.batch);
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
    /* the workers: one per group member, else one (this rank's); batches
     * dealt in contiguous runs, so that a rank's embeddings are one block */
    const size_t nbatch = (t.n + (size_t)o.batch - 1) / (size_t)o.batch;
    nw = grp ? clf_group_size(grp) : 1;
    w = calloc((size_t)nw, sizeof *w);
    counts = calloc((size_t)mpi.size, sizeof *counts);
    if (st == CLF_OK && (!w || !counts))
        st = CLF_E_OUT_OF_MEMORY;
    size_t at = 0; /* this rank's first text */
    for (int r = 0; st == CLF_OK && r < mpi.size; r++) {
        size_t fb, cb;
        cli_shard(nbatch, mpi.size, r, &fb, &cb);
        size_t a = fb * (size_t)o.batch, z = (fb + cb) * (size_t)o.batch;
        counts[r] = (z < t.n ? z : t.n) - (a < t.n ? a : t.n);
        if (r == mpi.rank && mpi.active) {
            at = a;
            w[0].first = fb;
            w[0].count = cb;
        }
    }
    for (int i = 0; st == CLF_OK && !mpi.active && i < nw; i++)
        cli_shard(nbatch, nw, i, &w[i].first, &w[i].count);
    for (int i = 0; st == CLF_OK && i < nw; i++)
        w[i].ctx = grp ? clf_group_ctx(grp, i) : ctx;
    /* the embedding size from the model's config (each worker loads it) */
    struct clf_bert *probe = NULL;
    int64_t d = 0;
    if (st == CLF_OK && (st = clf_bert_load(ctx, dir, &o.cfg, &probe)) == CLF_OK)
        d = clf_bert_config(probe).d_model;
    clf_bert_destroy(probe);
    if (st == CLF_OK && !(e = malloc(t.n * (size_t)d * sizeof *e)))
        st = CLF_E_OUT_OF_MEMORY;
    if (o.tp) { /* every rank every batch: no share, no gather */
        if (st != CLF_OK)
            rank_error(&mpi, ctx, st);
        if (!cli_mpi_all_ok(&mpi, st == CLF_OK) ||
            embed_tp(&o, dir, ctx, grp, &mpi, ids, len, t.n, e) != CLF_OK)
            goto done;
    } else if (st == CLF_OK) {
        struct embed_job job = {&o, dir, w, ids, len, t.n, d, e, at};
        cli_parallel(nw, embed_worker, &job);
        for (int i = 0; i < nw; i++)
            if (w[i].st != CLF_OK) {
                st = w[i].st;
                ctx = w[i].ctx; /* for its error */
                break;
            }
    }
    if (st != CLF_OK) {
        cli_error("%s", st == CLF_E_OUT_OF_MEMORY && !*clf_ctx_last_error(ctx)
                            ? "out of memory"
                            : clf_ctx_last_error(ctx));
        cli_mpi_all_ok(&mpi, false);
        goto done;
    }
    if (!cli_mpi_all_ok(&mpi, true))
        goto done;
    for (int r = 0; r < mpi.size; r++)
        counts[r] *= (size_t)d;
    if (mpi.active && !o.tp && !cli_mpi_gather(&mpi, e, counts, e)) { /* rank 0's share is in place */
        cli_error("MPI_Gatherv failed");
        goto done;
    }
    if (mpi.rank > 0) { /* rank 0 reports */
        rc = CLI_OK;
        goto done;
    }
    if (o.npy) {
        const int64_t shape[2] = {(int64_t)t.n, d};
        char msg[1024];
        if (clf_npy_write(o.npy, e, 2, shape, msg, sizeof msg) != CLF_OK) {
            cli_error("%s", msg);
            goto done;
        }
    }
    rc = print_output(&o, &t, len, e, d);
done:
    for (size_t i = 0; ids && i < t.n; i++)
        free(ids[i]);
    free(ids);
    free(len);
    free(e);
    free(counts);
    for (int i = 0; w && i < nw; i++)
        clf_bert_destroy(w[i].b);
    free(w);
    clf_tokenizer_destroy(tok);
    if (grp)
        clf_group_destroy(grp);
    else
        clf_ctx_destroy(ctx);
    cli_mpi_end(&mpi);
    free_texts(&t);
    return rc;
}
