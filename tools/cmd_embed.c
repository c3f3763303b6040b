/*
 * `clformer embed`: sentence embeddings with a BERT model directory (e.g.
 * all-MiniLM-L6-v2): WordPiece tokens (clf_tokenizer_*), batches padded to
 * their longest text with a mask, clf_bert_forward, then the masked mean,
 * L2-normalised (clf_op_mean_pool_normalize), as sentence-transformers.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct embed_opts {
    const char *model, *device, *npy, *file;
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
           "      --kv F             K and V storage: f32 (default), int8, int8:channel\n"
           "      --attn-quant F     attention weights: f32 (default), f16, log:B\n"
           "      --linear F         linear layers: f32 (default), int8\n"
           "      --ffn-act SPEC     quantiser before W2 (as clformer run); free parameters\n"
           "                         are calibrated on the first batch of texts\n"
           "  -h, --help             this text\n"
           "\nOutput: a JSON array of {\"text\", \"tokens\", \"embedding\"}.\n");
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
    enum { O_BATCH = 256, O_JSON, O_NPY, O_SIM, O_ATTN_IMPL, O_VARIANT, O_LAYER };
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
        {"ffn", required_argument, NULL, O_LAYER}, {"help", no_argument, NULL, 'h'},
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
        case O_NPY: o->npy = optarg; break;
        case O_SIM: o->similarity = true; break;
        case O_ATTN_IMPL:
            if (!strcmp(optarg, "auto"))
                o->cfg.attn_impl = CLF_ATTN_AUTO;
            else if (!strcmp(optarg, "fused"))
                o->cfg.attn_impl = CLF_ATTN_FUSED;
            else if (!strcmp(optarg, "gemm"))
                o->cfg.attn_impl = CLF_ATTN_GEMM;
            else
                return cli_usage_error("embed", "unknown --attn-impl '%s' (auto, fused, gemm)",
                                       optarg);
            break;
        case O_VARIANT: {
            char msg[256];
            if (clf_attention_variant_parse(optarg, &o->cfg.attn, msg, sizeof msg) != CLF_OK)
                return cli_usage_error("embed", "--attn %s: %s", optarg, msg);
            break;
        }
        case O_LAYER: {
            char msg[256];
            if (!cli_parse_layer_option(opts[li].name, optarg, &o->cfg, msg, sizeof msg))
                return cli_usage_error("embed", "%s", msg);
            break;
        }
        case 'h': help(); return -1;
        case ':': return cli_usage_error("embed", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("embed", "unknown option '%s'", argv[optind - 1]);
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
    return 0;
}

/* The default model directory (static buffer). */
static const char *default_model(void)
{
    static char dir[4096];
    const char *env = getenv("CLFORMER_MODEL_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/clformer/models/all-MiniLM-L6-v2", xdg);
    else
        snprintf(dir, sizeof dir, "%s/.cache/clformer/models/all-MiniLM-L6-v2",
                 home ? home : ".");
    return dir;
}

/* Embeds texts [first, first + nb) (their ids and lengths given) into
 * out [nb, d]; calibrate: first calibrate the FFN activation quantiser on
 * this batch. */
static enum clf_status embed_batch(struct clf_ctx *ctx, struct clf_bert *b, int32_t **ids,
                                   const size_t *len, size_t nb, bool calibrate, float *out)
{
    size_t seq = 1;
    for (size_t i = 0; i < nb; i++)
        seq = len[i] > seq ? len[i] : seq;
    int32_t *pi = calloc(nb * seq, sizeof *pi), *pm = calloc(nb * seq, sizeof *pm);
    struct clf_tensor *ti = NULL, *tm = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    const int64_t shape[2] = {(int64_t)nb, (int64_t)seq};
    enum clf_status st = pi && pm ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    for (size_t i = 0; st == CLF_OK && i < nb; i++)
        for (size_t t = 0; t < len[i]; t++) {
            pi[i * seq + t] = ids[i][t];
            pm[i * seq + t] = 1;
        }
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &ti);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, shape, &tm);
    if (st == CLF_OK)
        st = clf_tensor_write(ti, pi, nb * seq * sizeof *pi);
    if (st == CLF_OK)
        st = clf_tensor_write(tm, pm, nb * seq * sizeof *pm);
    if (st == CLF_OK && calibrate)
        st = clf_bert_calibrate(b, ti, tm);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_bert_forward(b, g, ti, tm, &h);
    if (st == CLF_OK)
        st = clf_op_mean_pool_normalize(g, h, tm, &y);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(y, out, (size_t)clf_tensor_numel(y) * sizeof *out);
    clf_graph_destroy(g);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    free(pi);
    free(pm);
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
    const char *dir = o.model ? o.model : default_model();
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

    struct clf_ctx_params p = cli_ctx_params(o.device, true);
    struct clf_ctx *ctx = NULL;
    struct clf_bert *b = NULL;
    struct clf_tokenizer *tok = NULL;
    int32_t **ids = calloc(t.n, sizeof *ids);
    size_t *len = calloc(t.n, sizeof *len);
    float *e = NULL;
    rc = CLI_FAIL;
    if (!ids || !len) {
        cli_error("out of memory");
        goto done;
    }
    if (clf_ctx_create(&p, &ctx) != CLF_OK)
        goto done; /* the log handler has said why */
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    enum clf_status st = clf_bert_load(ctx, dir, &o.cfg, &b);
    if (st == CLF_OK)
        st = clf_tokenizer_load(ctx, path, &tp, &tok);
    const int64_t d = st == CLF_OK ? clf_bert_config(b).d_model : 0;
    for (size_t i = 0; st == CLF_OK && i < t.n; i++) {
        bool cut = false;
        ids[i] = malloc((size_t)tp.max_length * sizeof **ids);
        st = ids[i] ? clf_tokenizer_encode(tok, t.s[i], ids[i], (size_t)tp.max_length, &len[i],
                                           &cut)
                    : CLF_E_OUT_OF_MEMORY;
        if (st == CLF_OK && cut)
            fprintf(stderr, "clformer: text %zu truncated to %zu tokens\n", i + 1, len[i]);
        if (st == CLF_E_INVALID_ARG) {
            cli_error("text %zu: %s", i + 1, clf_ctx_last_error(ctx));
            goto done;
        }
    }
    if (st == CLF_OK && !(e = malloc(t.n * (size_t)d * sizeof *e)))
        st = CLF_E_OUT_OF_MEMORY;
    for (size_t i = 0; st == CLF_OK && i < t.n; i += (size_t)o.batch) {
        size_t nb = t.n - i < (size_t)o.batch ? t.n - i : (size_t)o.batch;
        st = embed_batch(ctx, b, ids + i, len + i, nb, i == 0, e + i * (size_t)d);
    }
    if (st != CLF_OK) {
        cli_error("%s", st == CLF_E_OUT_OF_MEMORY && !*clf_ctx_last_error(ctx)
                            ? "out of memory"
                            : clf_ctx_last_error(ctx));
        goto done;
    }
    if (o.npy) {
        const int64_t shape[2] = {(int64_t)t.n, d};
        if (clf_npy_write(ctx, o.npy, e, 2, shape) != CLF_OK) {
            cli_error("%s", clf_ctx_last_error(ctx));
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
    clf_tokenizer_destroy(tok);
    clf_bert_destroy(b);
    clf_ctx_destroy(ctx);
    free_texts(&t);
    return rc;
}
