/*
 * `clformer tune`: the thorough tuning pass. Records a job on one graph,
 * never run (a BERT model at the batch sizes and lengths `embed` makes, the
 * default `run` job, or GEMMs of the given shapes), then clf_graph_tune
 * measures every GEMM and attention shape class the graph uses, the
 * classes listed first so that the progress line counts over all of them
 * and says how long is left. --import merges a tuning file first,
 * --export writes the device's records after.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_SHAPES 64

struct tune_opts {
    const char *device, *model, *export_path, *import_path;
    int64_t shapes[MAX_SHAPES][3]; /* --shape M x N x K */
    int n_shapes;
    enum clf_tune_mode mode;
    bool json;
};

/* What the job recorded: freed by job_free. */
struct job {
    struct clf_graph *g;
    struct clf_encoder *enc;
    struct clf_bert *bert;
    struct clf_tensor *t[2 * MAX_SHAPES]; /* inputs */
    int n_t;
    char what[160];
};

/* The batches of --model: embed's default --batch (32) and single texts,
 * at lengths reaching each of the attention's length classes up to the
 * tokenizer's 256 tokens. */
static const int64_t model_batches[] = {1, 32};
static const int64_t model_lengths[] = {16, 64, 128, 256};

static void help(void)
{
    printf("Usage: clformer tune [OPTIONS]\n\n"
           "Measures, on one device, every GEMM and attention shape class that a job\n"
           "uses, and keeps the choices as the device's tuning records (in the cache\n"
           "directory; every later run uses them). The classes are listed first: on a\n"
           "terminal a progress bar counts over all of them and estimates the time\n"
           "left. Classes measured before (in this mode, or in full) are kept.\n\n"
           "  -d, --device SPEC      device (see clformer info --help); default auto\n"
           "  -m, --model DIR        a BERT model directory: its layers at 1 and 32 texts\n"
           "                         of 16, 64, 128 and 256 tokens (as embed batches them)\n"
           "      --shape MxNxK      a GEMM of M rows, N outputs, depth K, as a linear\n"
           "                         layer computes it (x . W^T); may be repeated\n"
           "                         (without --model and --shape: the default `run` job,\n"
           "                         512 tokens of d_model 512, 8 heads, d_ff 2048)\n"
           "      --mode M           fast (default): the candidates that can win on the\n"
           "                         device; full: every candidate, CLBlast on CPU\n"
           "                         devices too (it compiles for minutes there)\n"
           "      --import FILE      merge FILE's records (a file of --export, for this\n"
           "                         same device) first; alone, nothing is measured\n"
           "      --export FILE      write the device's records, with its identity, to\n"
           "                         FILE (for --import on a machine with this device)\n"
           "      --json             print JSON (the records among it); no progress\n"
           "  -h, --help             this text\n"
           "\nCLFORMER_TUNE (off, fast, full) sets how other commands choose: off never\n"
           "measures (records, else the shipped defaults), fast (the default) measures\n"
           "only classes that neither records nor shipped defaults cover.\n");
}

static int parse(int argc, char **argv, struct tune_opts *o)
{
    enum { O_SHAPE = 256, O_MODE, O_IMPORT, O_EXPORT, O_JSON };
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},   {"model", required_argument, NULL, 'm'},
        {"shape", required_argument, NULL, O_SHAPE}, {"mode", required_argument, NULL, O_MODE},
        {"import", required_argument, NULL, O_IMPORT},
        {"export", required_argument, NULL, O_EXPORT},
        {"json", no_argument, NULL, O_JSON},        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->device = optarg; break;
        case 'm': o->model = optarg; break;
        case O_SHAPE:
            if (o->n_shapes == MAX_SHAPES)
                return cli_usage_error("tune", "at most %d --shape options", MAX_SHAPES);
            if (!cli_parse_dims(optarg, o->shapes[o->n_shapes], 3))
                return cli_usage_error("tune", "--shape needs MxNxK, each from 1 to %d",
                                       1 << 24);
            o->n_shapes++;
            break;
        case O_MODE:
            if (!strcmp(optarg, "fast"))
                o->mode = CLF_TUNE_FAST;
            else if (!strcmp(optarg, "full"))
                o->mode = CLF_TUNE_FULL;
            else
                return cli_usage_error("tune", "--mode takes fast or full, not '%s'", optarg);
            break;
        case O_IMPORT: o->import_path = optarg; break;
        case O_EXPORT: o->export_path = optarg; break;
        case O_JSON: o->json = true; break;
        case 'h': help(); return -1;
        default: return cli_getopt_error("tune", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("tune", "unexpected argument '%s'", argv[optind]);
    if (o->model && o->n_shapes)
        return cli_usage_error("tune", "give --model or --shape, not both");
    return 0;
}

static void job_free(struct job *j)
{
    clf_graph_destroy(j->g);
    for (int i = 0; i < j->n_t; i++)
        clf_tensor_destroy(j->t[i]);
    clf_encoder_destroy(j->enc);
    clf_bert_destroy(j->bert);
}

/* A new input tensor of the job (contents never read: the graph never
 * runs). */
static enum clf_status job_tensor(struct clf_ctx *ctx, struct job *j, enum clf_dtype dt,
                                  int ndim, const int64_t *shape, struct clf_tensor **t)
{
    enum clf_status st = clf_tensor_create(ctx, dt, ndim, shape, t);
    if (st == CLF_OK)
        j->t[j->n_t++] = *t;
    return st;
}

static enum clf_status record_shapes(struct clf_ctx *ctx, const struct tune_opts *o,
                                     struct job *j)
{
    enum clf_status st = CLF_OK;
    for (int i = 0; i < o->n_shapes && st == CLF_OK; i++) {
        const int64_t *s = o->shapes[i];
        int64_t as[2] = {s[0], s[2]}, ws[2] = {s[1], s[2]};
        struct clf_tensor *a = NULL, *w = NULL, *y = NULL;
        struct clf_gemm_params p = clf_gemm_params_default();
        p.trans_b = true;
        st = job_tensor(ctx, j, CLF_F32, 2, as, &a);
        if (st == CLF_OK)
            st = job_tensor(ctx, j, CLF_F32, 2, ws, &w);
        if (st == CLF_OK)
            st = clf_op_gemm(j->g, a, w, &p, &y);
    }
    snprintf(j->what, sizeof j->what, "%d GEMM shape%s", o->n_shapes, o->n_shapes > 1 ? "s" : "");
    return st;
}

static enum clf_status record_model(struct clf_ctx *ctx, const char *dir, struct job *j)
{
    enum clf_status st = clf_bert_load(ctx, dir, NULL, &j->bert);
    for (size_t b = 0; b < 2 && st == CLF_OK; b++)
        for (size_t l = 0; l < 4 && st == CLF_OK; l++) {
            int64_t shape[2] = {model_batches[b], model_lengths[l]};
            struct clf_tensor *ids = NULL, *mask = NULL, *h = NULL;
            st = job_tensor(ctx, j, CLF_I32, 2, shape, &ids);
            if (st == CLF_OK)
                st = job_tensor(ctx, j, CLF_I32, 2, shape, &mask);
            if (st == CLF_OK)
                st = clf_bert_forward(j->bert, j->g, ids, mask, &h);
        }
    snprintf(j->what, sizeof j->what, "the model %s at 1 and 32 texts of 16 to 256 tokens", dir);
    return st;
}

/* The default `run` job: one layer of its encoder (the others have the
 * same shapes) over its input. */
static enum clf_status record_run_job(struct clf_ctx *ctx, struct job *j)
{
    struct clf_encoder_config cfg = clf_encoder_config_default();
    cfg.layers = 1;
    int64_t shape[3] = {1, 512, cfg.d_model};
    struct clf_tensor *x = NULL, *y = NULL;
    enum clf_status st = clf_encoder_create_random(ctx, &cfg, 1, &j->enc);
    if (st == CLF_OK)
        st = job_tensor(ctx, j, CLF_F32, 3, shape, &x);
    if (st == CLF_OK)
        st = clf_encoder_forward(j->enc, j->g, x, NULL, &y);
    snprintf(j->what, sizeof j->what, "the default run job (512 tokens, d_model %lld, %lld "
             "heads, d_ff %lld)", (long long)cfg.d_model, (long long)cfg.heads,
             (long long)cfg.d_ff);
    return st;
}

/* The device's records (clf_tune_json), parsed; NULL on failure. */
static cJSON *records_of(struct clf_ctx *ctx)
{
    size_t len = 0;
    if (clf_tune_json(ctx, NULL, 0, &len) != CLF_OK)
        return NULL;
    char *text = malloc(len + 1);
    cJSON *r = text && clf_tune_json(ctx, text, len + 1, &len) == CLF_OK ? cJSON_Parse(text)
                                                                          : NULL;
    free(text);
    return r;
}

/* One line per record: family, class, the fastest candidate and its time,
 * then the others' times. */
static void print_records(const cJSON *root)
{
    const cJSON *fam = NULL, *rec = NULL, *t = NULL;
    cJSON_ArrayForEach(fam, root) {
        if (!cJSON_IsObject(fam) || !strcmp(fam->string, "device"))
            continue;
        cJSON_ArrayForEach(rec, fam) {
            const cJSON *ms = cJSON_GetObjectItem(rec, "ms"), *best = NULL;
            cJSON_ArrayForEach(t, ms)
                if (cJSON_IsNumber(t) && (!best || t->valuedouble < best->valuedouble))
                    best = t;
            if (!best)
                continue;
            const cJSON *mode = cJSON_GetObjectItem(rec, "mode");
            printf("  %-10s %-18s %-10s %9.3f ms  %-4s", fam->string, rec->string,
                   best->string, best->valuedouble,
                   cJSON_IsString(mode) ? mode->valuestring : "full");
            cJSON_ArrayForEach(t, ms)
                if (t != best && cJSON_IsNumber(t))
                    printf("  %s %.3f", t->string, t->valuedouble);
            printf("\n");
        }
    }
}

static int report(struct clf_ctx *ctx, const struct tune_opts *o, const struct job *j,
                  bool measured, unsigned n_measured, double seconds, int imported)
{
    struct clf_device_info d;
    clf_ctx_device_info(ctx, &d);
    cJSON *records = records_of(ctx);
    if (!records)
        return cli_error("cannot read the tuning records: %s", clf_ctx_last_error(ctx));
    const char *mode = o->mode == CLF_TUNE_FULL ? "full" : "fast";
    if (o->json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "device", d.name);
        cJSON_AddStringToObject(out, "mode", mode);
        if (measured) {
            cJSON_AddStringToObject(out, "job", j->what);
            cJSON_AddNumberToObject(out, "measured", n_measured);
            cJSON_AddNumberToObject(out, "seconds", seconds);
        }
        if (o->import_path)
            cJSON_AddNumberToObject(out, "imported", imported);
        if (o->export_path)
            cJSON_AddStringToObject(out, "exported", o->export_path);
        cJSON_AddItemToObject(out, "records", records);
        return cli_print_json(out);
    }
    printf("device    %s (%s)\n", d.name, d.platform_name);
    if (o->import_path)
        printf("imported  %d records from %s\n", imported, o->import_path);
    if (measured) {
        printf("job       %s\n", j->what);
        printf("measured  %u shape class%s in %.1f s (mode %s)\n", n_measured,
               n_measured == 1 ? "" : "es", seconds, mode);
    }
    printf("records   of this device (family, class, fastest, mode, the others):\n");
    print_records(records);
    if (o->export_path)
        printf("exported  to %s\n", o->export_path);
    cJSON_Delete(records);
    return CLI_OK;
}

int cmd_tune(int argc, char **argv)
{
    struct tune_opts o;
    memset(&o, 0, sizeof o);
    o.mode = CLF_TUNE_FAST;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;

    struct clf_ctx_params p = cli_ctx_params(o.device, o.json);
    p.tune_mode = o.mode;
    struct clf_ctx *ctx = NULL;
    if (clf_ctx_create(&p, &ctx) != CLF_OK)
        return CLI_FAIL; /* the log handler printed why */
    struct job j;
    memset(&j, 0, sizeof j);
    unsigned imported = 0;
    bool measure = !o.import_path || o.model || o.n_shapes;
    struct clf_ctx_stats before, after;
    double t0 = cli_now_ms(), seconds = 0;
    enum clf_status st = CLF_OK;
    if (o.import_path && (st = clf_tune_import(ctx, o.import_path, &imported)) != CLF_OK) {
        rc = cli_error("%s", clf_ctx_last_error(ctx));
        goto done;
    }
    clf_ctx_stats(ctx, &before);
    if (measure) {
        st = clf_graph_create(ctx, &j.g);
        if (st == CLF_OK)
            st = o.model ? record_model(ctx, o.model, &j)
                 : o.n_shapes ? record_shapes(ctx, &o, &j)
                              : record_run_job(ctx, &j);
        if (st == CLF_OK) {
            t0 = cli_now_ms();
            st = clf_graph_tune(j.g);
            seconds = (cli_now_ms() - t0) / 1e3;
        }
        if (st != CLF_OK) {
            rc = cli_error("tuning failed: %s", clf_ctx_last_error(ctx));
            goto done;
        }
    }
    clf_ctx_stats(ctx, &after);
    if (o.export_path && clf_tune_export(ctx, o.export_path) != CLF_OK) {
        rc = cli_error("%s", clf_ctx_last_error(ctx));
        goto done;
    }
    rc = report(ctx, &o, &j, measure, after.tuned - before.tuned, seconds, (int)imported);
done:
    job_free(&j);
    clf_ctx_destroy(ctx);
    return rc;
}
