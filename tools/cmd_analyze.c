/*
 * `clformer analyze attention`: how low-rank a layer's attention is. Runs
 * the double-precision CPU reference (reference/ref_encoder.c) up to one layer,
 * takes each head's attention matrix P (seq x seq) for one sequence, and
 * prints its singular values (LAPACKE_dgesdd, values only), its numerical
 * rank and the best rank-r relative error in the Frobenius norm
 * (Eckart-Young: sqrt(sum_{j>r} s_j^2) / sqrt(sum_j s_j^2)) for each r.
 */
#include <getopt.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ref_encoder.h"

#define MAX_RANKS 64
#define RANK_TOL 1e-6 /* numerical rank: singular values above RANK_TOL * s_1 */

struct analyze_opts {
    const char *device, *weights, *input;
    int64_t seq, layer;
    struct clf_encoder_config cfg;
    uint64_t seed;
    int64_t ranks[MAX_RANKS];
    int nranks;
    bool json;
};

static void help(void)
{
    printf("Usage: clformer analyze attention [OPTIONS]\n\n"
           "Computes one layer's attention matrix per head for one sequence with the\n"
           "double-precision CPU reference, and reports its singular values, its numerical\n"
           "rank (singular values above 1e-6 times the largest) and, for each rank r, the\n"
           "relative error of the best rank-r approximation (Frobenius norm, Eckart-Young).\n"
           "Without --weights the weights are seeded random; without --input so is x.\n\n"
           "  -d, --device SPEC      device that loads the weights (default auto)\n"
           "  -w, --weights FILE     safetensors, as for clformer run\n"
           "  -i, --input FILE       float32 .npy [seq, d_model] or [batch, seq, d_model]\n"
           "                         (batch 0 is used)\n"
           "      --layer L          the layer to analyse, from 0 (default 0)\n"
           "      --ranks LIST       comma-separated ranks (default 8,16,32,64)\n"
           "      --seq N            sequence length without --input (default 128)\n"
           "      --layers N         default 6\n"
           "      --d-model N        default 512\n"
           "      --heads N          default 8\n"
           "      --d-ff N           default 2048\n"
           "      --activation A     relu (default), gelu, gelu-tanh\n"
           "      --norm-first       pre-LN layers instead of post-LN\n"
           "      --seed N           seed of random weights and input (default 1)\n"
           "      --json             print JSON (with every singular value)\n"
           "  -h, --help             this text\n");
}

static bool parse_ranks(const char *s, struct analyze_opts *o)
{
    o->nranks = 0;
    const char *p = s;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return false;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 1 || v > (1 << 20) || o->nranks == MAX_RANKS)
            return false;
        o->ranks[o->nranks++] = v;
        if (!*end)
            return true;
        if (*end != ',')
            return false;
        p = end + 1;
    }
}

static int parse(int argc, char **argv, struct analyze_opts *o)
{
    /* O_ENC: the encoder options of cli_encoder_option */
    enum { O_SEQ = 256, O_LAYERS, O_ENC, O_NORMFIRST, O_SEED, O_LAYER, O_RANKS, O_JSON };
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"weights", required_argument, NULL, 'w'},
        {"input", required_argument, NULL, 'i'},  {"seq", required_argument, NULL, O_SEQ},
        {"layers", required_argument, NULL, O_LAYERS},
        {"d-model", required_argument, NULL, O_ENC},
        {"heads", required_argument, NULL, O_ENC}, {"d-ff", required_argument, NULL, O_ENC},
        {"activation", required_argument, NULL, O_ENC},
        {"norm-first", no_argument, NULL, O_NORMFIRST},
        {"seed", required_argument, NULL, O_SEED}, {"layer", required_argument, NULL, O_LAYER},
        {"ranks", required_argument, NULL, O_RANKS}, {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0}};
    int c;
    bool layers_given = false;
    opterr = 0;
    optind = 1;
    int li = -1;
    while ((c = getopt_long(argc, argv, ":d:w:i:h", opts, &li)) != -1) {
        int rc = 0;
        switch (c) {
        case 'd': o->device = optarg; break;
        case 'w': o->weights = optarg; break;
        case 'i': o->input = optarg; break;
        case O_SEQ: rc = cli_int_option("analyze", "seq", optarg, 1, 1 << 16, &o->seq); break;
        case O_LAYER: rc = cli_int_option("analyze", "layer", optarg, 0, 1023, &o->layer); break;
        case O_LAYERS:
        case O_ENC:
            rc = cli_encoder_option("analyze", opts[li].name, optarg, &o->cfg);
            layers_given |= c == O_LAYERS;
            break;
        case O_SEED: rc = cli_seed_option("analyze", optarg, &o->seed); break;
        case O_NORMFIRST: o->cfg.norm_first = true; break;
        case O_RANKS:
            if (!parse_ranks(optarg, o))
                return cli_usage_error("analyze",
                                       "--ranks needs a comma-separated list of at most %d "
                                       "integers from 1 to %d, not '%s'",
                                       MAX_RANKS, 1 << 20, optarg);
            break;
        case O_JSON: o->json = true; break;
        case 'h': help(); return -1;
        default: return cli_getopt_error("analyze", c, argv);
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("analyze", "unexpected argument '%s'", argv[optind]);
    int rc = cli_check_shape("analyze", &o->cfg);
    if (rc)
        return rc;
    if ((layers_given || !o->weights) && o->layer >= o->cfg.layers)
        return cli_usage_error("analyze", "--layer %lld is out of range: the model has %lld "
                               "layers (0 to %lld)",
                               (long long)o->layer, (long long)o->cfg.layers,
                               (long long)o->cfg.layers - 1);
    return 0;
}

struct head_result {
    double *sv;     /* seq singular values, non-increasing */
    int64_t rank;   /* numerical rank */
    double err[MAX_RANKS];
};

/* Singular values of the n x n matrix a (destroyed) and the derived numbers. */
static int analyse_head(double *a, int64_t n, const struct analyze_opts *o,
                        struct head_result *r)
{
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)n, a,
                                     (lapack_int)n, r->sv, NULL, 1, NULL, 1);
    if (info != 0)
        return -1;
    /* tail[j] = sum_{i >= j} s_i^2, summed from the small end */
    double *tail = malloc((size_t)(n + 1) * sizeof *tail);
    if (!tail)
        return -1;
    tail[n] = 0;
    for (int64_t j = n - 1; j >= 0; j--)
        tail[j] = tail[j + 1] + r->sv[j] * r->sv[j];
    r->rank = 0;
    for (int64_t j = 0; j < n; j++)
        r->rank += r->sv[j] > RANK_TOL * r->sv[0];
    for (int k = 0; k < o->nranks; k++) {
        int64_t rr = o->ranks[k] < n ? o->ranks[k] : n;
        r->err[k] = tail[0] > 0 ? sqrt(tail[rr] / tail[0]) : 0;
    }
    free(tail);
    return 0;
}

int cmd_analyze(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("analyze", "analyze needs a subject: attention");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help();
        return CLI_OK;
    }
    if (strcmp(argv[1], "attention"))
        return cli_usage_error("analyze", "unknown analysis '%s' (attention)", argv[1]);

    struct analyze_opts o = {0};
    o.cfg = clf_encoder_config_default();
    o.seq = 128;
    o.seed = 1;
    o.ranks[0] = 8, o.ranks[1] = 16, o.ranks[2] = 32, o.ranks[3] = 64;
    o.nranks = 4;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;

    struct clf_ctx_params p = cli_ctx_params(o.device, o.json);
    struct clf_ctx *ctx = NULL;
    if (clf_ctx_create(&p, &ctx) != CLF_OK)
        return CLI_FAIL;
    struct clf_encoder *enc = NULL;
    struct ref_weights *rw = NULL;
    float *host = NULL;
    double *probs = NULL;
    struct head_result *heads = NULL;
    int64_t nh = 0;
    rc = CLI_FAIL;

    int64_t shape[CLF_MAX_DIMS];
    int nd = 0;
    if (o.input) {
        if (!cli_read_activations(o.input, o.cfg.d_model, &host, &nd, shape))
            goto done;
        o.seq = shape[nd - 2]; /* batch 0 is the first seq rows */
    } else {
        size_t n = (size_t)(o.seq * o.cfg.d_model);
        host = malloc(n * sizeof *host);
        if (!host) {
            cli_error("out of memory");
            goto done;
        }
        cli_seeded_input(host, n, o.seed);
    }

    enum clf_status st = o.weights ? clf_encoder_load(ctx, &o.cfg, o.weights, &enc)
                                   : clf_encoder_create_random(ctx, &o.cfg, o.seed, &enc);
    if (st != CLF_OK) {
        cli_error("%s", clf_ctx_last_error(ctx));
        cli_model_folder_hint(o.weights);
        goto done;
    }
    o.cfg = clf_encoder_get_config(enc);
    if (o.layer >= o.cfg.layers) {
        rc = cli_usage_error("analyze", "--layer %lld is out of range: the model has %lld "
                             "layers (0 to %lld)",
                             (long long)o.layer, (long long)o.cfg.layers,
                             (long long)o.cfg.layers - 1);
        goto done;
    }
    rw = ref_weights_read(enc);
    if (!rw) {
        cli_error("reading the weights failed: %s", clf_ctx_last_error(ctx));
        goto done;
    }
    const int64_t n = o.seq, h = o.cfg.heads;
    probs = malloc((size_t)(h * n * n) * sizeof *probs);
    heads = calloc((size_t)h, sizeof *heads);
    if (!probs || !heads || ref_encoder_attention(rw, n, host, o.layer, probs) != 0) {
        cli_error("the CPU reference failed (out of memory)");
        goto done;
    }
    for (; nh < h; nh++) {
        heads[nh].sv = malloc((size_t)n * sizeof *heads[nh].sv);
        if (!heads[nh].sv || analyse_head(probs + nh * n * n, n, &o, &heads[nh]) != 0) {
            nh++;
            cli_error("the SVD of head %lld failed", (long long)nh - 1);
            goto done;
        }
    }

    const char *act = o.cfg.act == CLF_ACT_RELU ? "relu"
                      : o.cfg.act == CLF_ACT_GELU ? "gelu" : "gelu-tanh";
    if (o.json) {
        cJSON *r = cJSON_CreateObject();
        cJSON *c = cJSON_AddObjectToObject(r, "config");
        cJSON_AddNumberToObject(c, "d_model", (double)o.cfg.d_model);
        cJSON_AddNumberToObject(c, "heads", (double)o.cfg.heads);
        cJSON_AddNumberToObject(c, "d_ff", (double)o.cfg.d_ff);
        cJSON_AddNumberToObject(c, "layers", (double)o.cfg.layers);
        cJSON_AddStringToObject(c, "activation", act);
        cJSON_AddBoolToObject(c, "norm_first", o.cfg.norm_first);
        cJSON_AddNumberToObject(c, "seq", (double)n);
        cJSON_AddStringToObject(c, "weights", o.weights ? o.weights : "random");
        cJSON_AddStringToObject(c, "input", o.input ? o.input : "random");
        cJSON_AddNumberToObject(r, "layer", (double)o.layer);
        cJSON_AddNumberToObject(r, "rank_tolerance", RANK_TOL);
        cJSON *ranks = cJSON_AddArrayToObject(r, "ranks");
        for (int k = 0; k < o.nranks; k++)
            cJSON_AddItemToArray(ranks, cJSON_CreateNumber((double)o.ranks[k]));
        cJSON *a = cJSON_AddArrayToObject(r, "heads");
        for (int64_t i = 0; i < h; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "head", (double)i);
            cJSON_AddItemToObject(e, "singular_values",
                                  cJSON_CreateDoubleArray(heads[i].sv, (int)n));
            cJSON_AddNumberToObject(e, "numerical_rank", (double)heads[i].rank);
            cJSON *errs = cJSON_AddArrayToObject(e, "errors");
            for (int k = 0; k < o.nranks; k++) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddNumberToObject(x, "rank", (double)o.ranks[k]);
                cJSON_AddNumberToObject(x, "rel_error", heads[i].err[k]);
                cJSON_AddItemToArray(errs, x);
            }
            cJSON_AddItemToArray(a, e);
        }
        rc = cli_print_json(r);
    } else {
        printf("config   %lld layers, d_model %lld, %lld heads, d_ff %lld, %s, %s, seq %lld, "
               "weights %s, input %s\n",
               (long long)o.cfg.layers, (long long)o.cfg.d_model, (long long)o.cfg.heads,
               (long long)o.cfg.d_ff, act, o.cfg.norm_first ? "pre-LN" : "post-LN",
               (long long)n, o.weights ? o.weights : "random", o.input ? o.input : "random");
        printf("layer    %lld: attention per head; rank = singular values above %g x the "
               "largest;\n         error = relative Frobenius error of the best rank-r "
               "approximation\n",
               (long long)o.layer, RANK_TOL);
        for (int64_t i = 0; i < h; i++) {
            printf("head %-3lld rank %4lld  sv", (long long)i, (long long)heads[i].rank);
            for (int64_t j = 0; j < n && j < 4; j++)
                printf(" %.4g", heads[i].sv[j]);
            printf("%s\n         error", n > 4 ? " ..." : "");
            for (int k = 0; k < o.nranks; k++)
                printf("  r=%lld %.3e", (long long)o.ranks[k], heads[i].err[k]);
            printf("\n");
        }
        rc = CLI_OK;
    }
done:
    for (int64_t i = 0; heads && i < nh; i++)
        free(heads[i].sv);
    free(heads);
    free(probs);
    ref_weights_free(rw);
    clf_encoder_destroy(enc);
    clf_ctx_destroy(ctx);
    free(host);
    return rc;
}
