/*
 * `clformer serve`: an OpenAI-compatible embeddings server (see serve.h for
 * its pieces). Set up as `clformer embed` is (embed_setup_folder, the
 * folder's tokenizer and prompt, clf_dp_set_folder), with a runner per
 * device (a clf_dp rank of one on each context) left unnormalised:
 * requests choose their normalisation and Matryoshka dimensions
 * (serve_answer). SIGTERM and SIGINT are taken by sigwait in the main
 * thread (blocked in every other): it stops accepting, waits for the
 * requests in flight, and exits 0.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_mpi.h"
#include "embed_folder.h"
#include "serve.h"

struct serve_opts {
    const char *model, *device, *devices, *host;
    int64_t port, max_batch_tokens, max_wait_ms, max_queue, max_inputs, max_body;
};

static void help(void)
{
    printf("Usage: clformer serve [OPTIONS]\n\n"
           "An embeddings server over HTTP: OpenAI's POST /v1/embeddings and\n"
           "text-embeddings-inference's POST /embed, GET /health and GET /metrics\n"
           "(Prometheus). The model is set up as `clformer embed` sets it up (its\n"
           "folder's pooling, Dense layers, normalisation, length and default prompt).\n"
           "Concurrent requests are batched: a worker per device takes the waiting\n"
           "inputs, across requests, up to --max-batch-tokens, after waiting at most\n"
           "--max-wait-ms for more, and runs them in one call. Once the model is\n"
           "loaded it prints one line on stdout, \"listening on http://HOST:PORT\".\n"
           "SIGTERM or SIGINT: it stops accepting, answers the requests in flight and\n"
           "exits 0. docs/cli.md describes the requests, answers and errors.\n\n"
           "  -m, --model DIR        model directory (as clformer embed's); default\n"
           "                         $CLFORMER_MODEL_DIR, else\n"
           "                         ${XDG_CACHE_HOME:-~/.cache}/clformer/models/all-MiniLM-L6-v2\n"
           "      --host ADDR        numeric IPv4 or IPv6 address to listen on\n"
           "                         (default 127.0.0.1)\n"
           "      --port N           TCP port (default 8080; 0: a free one)\n"
           "  -d, --device SPEC      device (see clformer info --help); default auto\n"
           "      --devices LIST     a worker on each device of LIST (clformer embed's\n"
           "                         grammar, e.g. all, cpu:0,cpu:1)\n");
    printf("      --max-batch-tokens N  token ids per batch at most, padding included\n"
           "                         (default 1024; a longer input goes alone)\n"
           "      --max-wait-ms N    how long a worker waits for a batch to fill\n"
           "                         (default 5)\n"
           "      --max-queue N      requests waiting at most; more are refused with\n"
           "                         503 (default 256)\n"
           "      --max-inputs N     inputs per request at most (default 2048; more: 413)\n"
           "      --max-body-bytes N request bodies at most (default 8388608; more: 413)\n"
           "  -h, --help             this help\n");
}

static int parse(int argc, char **argv, struct serve_opts *o)
{
    enum { O_HOST = 256, O_PORT, O_DEVICES, O_TOKENS, O_WAIT, O_QUEUE, O_INPUTS, O_BODY };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"device", required_argument, NULL, 'd'},
        {"devices", required_argument, NULL, O_DEVICES},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"max-batch-tokens", required_argument, NULL, O_TOKENS},
        {"max-wait-ms", required_argument, NULL, O_WAIT},
        {"max-queue", required_argument, NULL, O_QUEUE},
        {"max-inputs", required_argument, NULL, O_INPUTS},
        {"max-body-bytes", required_argument, NULL, O_BODY},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    int c, rc = 0;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, ":m:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'd': o->device = optarg; break;
        case O_DEVICES: o->devices = optarg; break;
        case O_HOST: o->host = optarg; break;
        case O_PORT: rc = cli_int_option("serve", "port", optarg, 0, 65535, &o->port); break;
        case O_TOKENS:
            rc = cli_int_option("serve", "max-batch-tokens", optarg, 1, INT64_C(1) << 24,
                                &o->max_batch_tokens);
            break;
        case O_WAIT:
            rc = cli_int_option("serve", "max-wait-ms", optarg, 0, 60000, &o->max_wait_ms);
            break;
        case O_QUEUE:
            rc = cli_int_option("serve", "max-queue", optarg, 1, 65536, &o->max_queue);
            break;
        case O_INPUTS:
            rc = cli_int_option("serve", "max-inputs", optarg, 1, 1 << 20, &o->max_inputs);
            break;
        case O_BODY:
            rc = cli_int_option("serve", "max-body-bytes", optarg, 1, INT64_C(1) << 32,
                                &o->max_body);
            break;
        case 'h': help(); return -1;
        default: return cli_getopt_error("serve", c, argv);
        }
    }
    if (!rc && optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (!rc && o->device && o->devices)
        return cli_usage_error("serve", "give --device or --devices, not both");
    return rc;
}

/* The folder's name (its path's last part), what answers name as the
 * model when a request names none. */
static const char *folder_name(const char *dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

/* Device i's runner, set up as the folder says but unnormalised, and one
 * text embedded so that its kernels are built before the first request. */
static enum clf_status make_runner(struct serve_device *dev, const struct embed_setup *su,
                                   struct clf_tokenizer *tok)
{
    /* a rank of one, as `clformer embed` is without mpirun: nothing to gather */
    static struct cli_mpi alone = {.size = 1};
    const struct clf_dp_comm comm = {0, 1, cli_mpi_dp_gather, &alone};
    const struct clf_encoder_config cfg = clf_encoder_config_default();
    struct embed_setup raw = *su; /* serve_answer normalises */
    raw.normalize = false;
    enum clf_status st = clf_dp_create_bert_rank(dev->ctx, su->model_dir, &cfg, &comm, &dev->dp);
    if (st == CLF_OK)
        st = embed_setup_runner(dev->dp, &raw);
    const char *text = "warm up";
    float *v = st == CLF_OK ? malloc((size_t)clf_dp_embed_dim(dev->dp) * sizeof *v) : NULL;
    struct clf_embed_params p = clf_embed_params_default();
    p.prompt = su->prompt;
    p.pool_prompt = su->pool_prompt;
    if (st == CLF_OK)
        st = v ? clf_dp_embed_texts(dev->dp, tok, &text, 1, &p, v, NULL, NULL)
               : CLF_E_OUT_OF_MEMORY;
    free(v);
    return st;
}

/* Everything the server holds, for one cleanup. */
struct server {
    struct clf_sentence_folder *sf;
    struct clf_group *grp;
    struct clf_ctx *ctx; /* without --devices */
    struct serve_device *dev;
    int n_dev;
    struct clf_tokenizer *tok;
    struct serve_metrics *mx;
};

static void server_free(struct server *s)
{
    for (int i = 0; s->dev && i < s->n_dev; i++)
        clf_dp_destroy(s->dev[i].dp);
    free(s->dev);
    clf_tokenizer_destroy(s->tok);
    clf_group_destroy(s->grp);
    clf_ctx_destroy(s->ctx);
    clf_sentence_folder_destroy(s->sf);
    serve_metrics_destroy(s->mx);
}

/* The folder, the devices, their runners and the tokenizer. Returns 0 or
 * a CLI exit code, the error printed. */
static int load(const struct serve_opts *o, const char *dir, struct server *s,
                struct embed_setup *su)
{
    int rc = embed_setup_folder(dir, su, &s->sf);
    if (rc)
        return rc;
    struct clf_ctx_params p = cli_ctx_params(o->device, true);
    char msg[512], path[4200];
    if (o->devices) {
        if (clf_group_create(o->devices, &p, &s->grp, msg, sizeof msg) != CLF_OK)
            return cli_error("--devices %s: %s", o->devices, msg);
        s->n_dev = clf_group_size(s->grp);
    } else {
        if (clf_ctx_create(&p, &s->ctx) != CLF_OK)
            return CLI_FAIL; /* the log handler said why */
        s->n_dev = 1;
    }
    s->dev = calloc((size_t)s->n_dev, sizeof *s->dev);
    s->mx = serve_metrics_create();
    if (!s->dev || !s->mx)
        return cli_error("out of memory");
    if (!embed_tokenizer_path(su, path, sizeof path))
        return CLI_FAIL;
    /* the tokenizer is host code: no context, its errors are the parser's */
    enum clf_status st = clf_tokenizer_load(NULL, path, &su->tp, &s->tok);
    if (st != CLF_OK)
        return cli_error("%s: cannot load the tokenizer (%s)", path, clf_status_str(st));
    if (embed_prompt_skip(su, s->tok) != CLF_OK)
        return cli_error("the prompt does not tokenise");
    for (int i = 0; i < s->n_dev; i++) {
        s->dev[i].ctx = s->grp ? clf_group_ctx(s->grp, i) : s->ctx;
        st = make_runner(&s->dev[i], su, s->tok);
        if (st != CLF_OK)
            return cli_error("%s", *clf_ctx_last_error(s->dev[i].ctx)
                                       ? clf_ctx_last_error(s->dev[i].ctx)
                                       : clf_status_str(st));
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o = {.host = "127.0.0.1",
                           .port = 8080,
                           .max_batch_tokens = 1024,
                           .max_wait_ms = 5,
                           .max_queue = 256,
                           .max_inputs = 2048,
                           .max_body = 8 << 20};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    char def[4096], name[4096];
    const char *dir = o.model ? o.model : def;
    if (!o.model && clf_default_model_dir(def, sizeof def) != CLF_OK)
        return cli_error("the model directory's path is too long (give --model DIR)");

    struct server s = {0};
    struct embed_setup su = {0};
    rc = load(&o, dir, &s, &su);
    if (rc) {
        server_free(&s);
        return rc;
    }
    pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER;
    const struct serve_model m = {
        .tok = s.tok,
        .tok_lock = &tok_lock,
        .prompt = su.prompt,
        .max_length = su.tp.max_length,
        .vocab = su.tp.vocab_limit,
        .dim = clf_dp_embed_dim(s.dev[0].dp),
        .normalize = su.normalize,
        .name = folder_name(dir, name, sizeof name),
        .max_inputs = (size_t)o.max_inputs,
    };
    const struct serve_batch_params bp = {o.max_batch_tokens, o.max_wait_ms,
                                          (size_t)o.max_queue, su.pool_skip, m.dim};
    /* the signals go to sigwait below: blocked in every thread started */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct serve_batcher *b = NULL;
    struct serve_http *h = NULL;
    int port = 0;
    /* every queued request holds a connection: more connections than the
     * queue holds, so that a full queue answers 503 */
    const struct serve_http_params hp = {o.host, (int)o.port, (size_t)o.max_body,
                                         (unsigned)o.max_queue + 64};
    if (serve_batcher_start(s.dev, s.n_dev, &bp, s.mx, &b) != CLF_OK) {
        rc = cli_error("cannot start the workers");
    } else if (!serve_http_start(&hp, &m, b, s.mx, &h, &port)) {
        rc = CLI_FAIL;
    } else {
        const bool v6 = strchr(o.host, ':') != NULL;
        printf("listening on http://%s%s%s:%d\n", v6 ? "[" : "", o.host, v6 ? "]" : "", port);
        fflush(stdout);
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "clformer: %s: finishing the requests in flight\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    serve_batcher_hurry(b);
    serve_http_stop(h);
    serve_batcher_stop(b);
    pthread_mutex_destroy(&tok_lock);
    server_free(&s);
    return rc;
}
