/*
 * Tuning modes, shipped defaults and the sharing of tuning records:
 *  - CLFORMER_TUNE / clf_ctx_params.tune_mode: off measures nothing and
 *    takes the shipped defaults of the device's class (every GEMM and
 *    attention node's choice is the table's for its class, no tuning file
 *    is written); full measures every candidate (CLBlast included) and an
 *    encoder's output with off and with full agree within the GEMMs'
 *    rounding bound; fast takes the defaults where they exist, measures
 *    only the candidates that can win when asked (clf_graph_tune), accepts
 *    records measured in full, while full measures a fast record again;
 *  - clf_graph_tune lists every class first: the progress handler sees one
 *    count over all classes, ending at its total;
 *  - clf_tune_export / clf_tune_import round trip (the records equal, an
 *    importing device then measures nothing), and the refusals, each
 *    naming the file and merging nothing: a corrupt (truncated) file, a
 *    file that is not a tuning file, another device's file, a missing one;
 *  - a bad CLFORMER_TUNE (or tune_mode) makes clf_ctx_create fail with a
 *    message naming the variable and the accepted values;
 *  - short activations (m <= 64) take the CPU tile that pads fewer rows.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "../lib/ops/attention_exact.h" /* internal: the attention's size class */
#include "../lib/ops/gemm.h"            /* internal: the GEMM's shape class */
#include "../lib/ops/tune_defaults.h"   /* internal: the shipped table */
#include "../lib/runtime/ctx.h"         /* internal: the resolved tune mode */

/* The workload: a 2-layer encoder (d_model 32, 2 heads, d_ff 64) over
 * x [2, 16, 32]: GEMMs of 32 rows, attention of 16 queries. */
#define SEED 424242u
static const int64_t x_shape[3] = {2, 16, 32};
#define X_NUMEL (2 * 16 * 32)
#define LAYERS 2
#define D_FF 64

static struct clf_encoder_config config(void)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 32;
    c.heads = 2;
    c.d_ff = D_FF;
    c.layers = LAYERS;
    return c;
}

/* A context on cache directory dir with the given tuning mode (and
 * everything else automatic). */
static struct clf_ctx *make_ctx(const char *dir, enum clf_tune_mode mode)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = dir;
    p.tune_mode = mode;
    p.gemm_provider = CLF_GEMM_AUTO;
    struct clf_ctx *ctx = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    return ctx;
}

/* The recorded workload: destroy with work_free. */
struct work {
    struct clf_encoder *enc;
    struct clf_tensor *x, *y;
    struct clf_graph *g;
};

static void work_record(struct clf_ctx *ctx, struct work *w)
{
    static float x[X_NUMEL];
    for (int i = 0; i < X_NUMEL; i++) /* the same input in every context */
        x[i] = (float)sin(0.37 * i);
    struct clf_encoder_config cfg = config();
    memset(w, 0, sizeof *w);
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &cfg, SEED, &w->enc));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, x_shape, &w->x));
    ck_assert_ok(ctx, clf_tensor_write(w->x, x, sizeof x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &w->g));
    ck_assert_ok(ctx, clf_encoder_forward(w->enc, w->g, w->x, NULL, &w->y));
}

static void work_free(struct work *w)
{
    clf_graph_destroy(w->g);
    clf_tensor_destroy(w->x);
    clf_encoder_destroy(w->enc);
}

/* Runs the workload on ctx; out receives the output. */
static void work_run(struct clf_ctx *ctx, float *out)
{
    struct work w;
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_run(w.g));
    ck_assert_ok(ctx, clf_tensor_read(w.y, out, X_NUMEL * sizeof *out));
    work_free(&w);
}

static unsigned tuned(struct clf_ctx *ctx)
{
    struct clf_ctx_stats st;
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &st));
    return st.tuned;
}

/* Files named tune-*.json in dir. */
static int tune_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, "tune-", 5) && strstr(e->d_name, ".json") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* The device's records, parsed (clf_tune_json). */
static cJSON *records(struct clf_ctx *ctx)
{
    size_t len = 0;
    ck_assert_ok(ctx, clf_tune_json(ctx, NULL, 0, &len));
    char *text = malloc(len + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_ok(ctx, clf_tune_json(ctx, text, len + 1, &len));
    ck_assert_uint_eq(strlen(text), len);
    cJSON *r = cJSON_Parse(text);
    ck_assert_ptr_nonnull(r);
    free(text);
    return r;
}

/* The records of one family (an object, possibly empty). */
static int family_size(const cJSON *r, const char *family)
{
    return cJSON_GetArraySize(cJSON_GetObjectItem(r, family));
}

/* Checks that every GEMM and attention node of g took the shipped choice
 * of its class (the encoder's linear layers: A rows and W^T columns
 * contiguous). */
static void check_shipped(struct clf_ctx *ctx, const struct clf_graph *g)
{
    int gemms = 0, attns = 0;
    for (size_t i = 0; i < clf_graph_node_count(g); i++) {
        struct clf_node_info n = test_node_info(g, i);
        long long m, nn, k, b, h, sq, sk, d;
        char key[64];
        if (sscanf(n.desc, "gemm %lldx%lldx%lld", &m, &nn, &k) == 3) {
            struct clf_gemm_problem p = {.batch = 1, .m = m, .n = nn, .k = k, .a_rs = k,
                                         .a_cs = 1, .b_rs = 1, .b_cs = k};
            clf_gemm_class_key(&p, key, sizeof key);
            const char *want = clf_tune_shipped(ctx, "gemm", key);
            ck_assert_msg(want && strstr(n.desc, want), "%s: shipped %s for %s", n.desc,
                          want ? want : "nothing", key);
            gemms++;
        } else if (sscanf(n.desc, "attention %lldx%lld q%lld k%lld d%lld", &b, &h, &sq, &sk,
                          &d) == 5) {
            struct clf_attn_problem p = {.batch = b, .heads = h, .sq = sq, .sk = sk, .d = d,
                                         .dv = d};
            clf_attn_class_key(&p, key, sizeof key);
            const char *want = clf_tune_shipped(ctx, "attention", key);
            char expect[32];
            snprintf(expect, sizeof expect, " auto: %s ", want ? want : "?");
            ck_assert_msg(want && strstr(n.desc, expect), "%s: shipped %s for %s", n.desc,
                          want ? want : "nothing", key);
            attns++;
        }
    }
    ck_assert_int_eq(gemms, 4 * LAYERS);
    ck_assert_int_eq(attns, LAYERS);
}

/* Off: nothing measured, nothing written, every choice the shipped one;
 * full: every candidate measured (CLBlast included where the layout
 * allows it: every class here); the outputs agree within the GEMMs'
 * rounding: each of the 4 GEMMs per layer may differ by twice its
 * bound gamma_K (two summation orders), K <= d_ff, and LayerNorm after
 * each sub-layer keeps a relative difference relative; the attention's
 * implementations differ by a few ulps, well inside that. */
START_TEST(test_off_and_full)
{
    char *dir_off = test_make_tmpdir("tune-off"), *dir_full = test_make_tmpdir("tune-full");
    static float y_off[X_NUMEL], y_full[X_NUMEL];

    struct clf_ctx *ctx = make_ctx(dir_off, CLF_TUNE_OFF);
    if (!clf_tune_shipped(ctx, "gemm", "m1-n1-k1-b0-rc")) {
        printf("no shipped defaults for this device's class: checking only 'off' measures "
               "nothing\n");
    }
    struct work w;
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_run(w.g));
    ck_assert_ok(ctx, clf_tensor_read(w.y, y_off, sizeof y_off));
    ck_assert_uint_eq(tuned(ctx), 0);
    if (clf_tune_shipped(ctx, "gemm", "m1-n1-k1-b0-rc"))
        check_shipped(ctx, w.g);
    ck_assert_status(ctx, clf_graph_tune(w.g), CLF_E_STATE); /* off never measures */
    work_free(&w);
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(tune_files(dir_off), 0);

    ctx = make_ctx(dir_full, CLF_TUNE_FULL);
    work_run(ctx, y_full);
    ck_assert_uint_ge(tuned(ctx), 3); /* 2 GEMM classes (the FFN's first shares one), attention */
    cJSON *r = records(ctx);
    const cJSON *fam = NULL, *rec = NULL;
    cJSON_ArrayForEach(fam, r) {
        if (!cJSON_IsObject(fam) || !strcmp(fam->string, "device"))
            continue;
        cJSON_ArrayForEach(rec, fam) {
            const cJSON *mode = cJSON_GetObjectItem(rec, "mode");
            ck_assert(cJSON_IsString(mode) && !strcmp(mode->valuestring, "full"));
            if (!strcmp(fam->string, "gemm"))
                ck_assert_msg(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "ms"), "clblast:0"),
                              "full mode left CLBlast out of %s", rec->string);
        }
    }
    ck_assert_int_ge(family_size(r, "gemm"), 2);
    ck_assert_int_ge(family_size(r, "attention"), 1);
    cJSON_Delete(r);
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(tune_files(dir_full), 1);

    double diff = 0, norm = 0;
    for (int i = 0; i < X_NUMEL; i++) {
        ck_assert(isfinite(y_off[i]) && isfinite(y_full[i]));
        diff += ((double)y_off[i] - y_full[i]) * ((double)y_off[i] - y_full[i]);
        norm += (double)y_full[i] * y_full[i];
    }
    double rel = sqrt(diff / norm), bound = 2.0 * 4 * LAYERS * test_gamma(D_FF);
    printf("off vs full: relative difference %.3g (bound %.3g)\n", rel, bound);
    ck_assert_msg(rel <= bound, "off and full differ by %g (bound %g)", rel, bound);
    test_remove_dir(dir_off);
    test_remove_dir(dir_full);
    free(dir_off);
    free(dir_full);
}
END_TEST

/* clf_graph_tune over the workload in a new context on dir: the classes it
 * measured. */
static unsigned tune_pass(const char *dir, enum clf_tune_mode mode)
{
    struct clf_ctx *ctx = make_ctx(dir, mode);
    struct work w;
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    unsigned n = tuned(ctx);
    work_free(&w);
    clf_ctx_destroy(ctx);
    return n;
}

/* Progress of a tuning pass: (what, done, total, item) calls. */
struct progress_log {
    int calls, first_total, last_done, last_total;
    bool total_changed, went_back, ended;
};

static void log_progress(void *user, const char *what, int done, int total, const char *item)
{
    struct progress_log *l = user;
    if (strcmp(what, "tuning") != 0)
        return;
    if (l->calls++ == 0)
        l->first_total = total;
    l->total_changed |= total != l->first_total;
    l->went_back |= done < l->last_done;
    l->last_done = done;
    l->last_total = total;
    l->ended = item == NULL;
}

/* Fast: nothing measured where the defaults say; clf_graph_tune measures
 * every class (only the candidates that can win: no CLBlast on a CPU
 * device), counting over all of them; the records serve a second context;
 * full measures a fast record again, fast accepts a full one. Without
 * shipped defaults for the device (an accelerator) a run would measure
 * every class itself, leaving clf_graph_tune nothing: no run first. */
START_TEST(test_fast_and_graph_tune)
{
    char *dir = test_make_tmpdir("tune-fast");
    static float y[X_NUMEL];
    struct progress_log log = {0};
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = dir;
    p.tune_mode = CLF_TUNE_FAST;
    p.progress_fn = log_progress;
    p.progress_user = &log;
    struct clf_ctx *ctx = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    bool defaults = clf_tune_shipped(ctx, "gemm", "m1-n1-k1-b0-rc") != NULL;
    if (defaults) {
        work_run(ctx, y);
        ck_assert_uint_eq(tuned(ctx), 0);
    }

    struct work w;
    work_record(ctx, &w);
    unsigned before = tuned(ctx);
    memset(&log, 0, sizeof log);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    unsigned classes = tuned(ctx) - before;
    if (defaults)
        ck_assert_uint_ge(classes, 3);
    /* one count over all classes: (candidates + 1) steps each, total known
     * from the start, done never going back, ending at the total */
    ck_assert_int_gt(log.calls, (int)classes);
    if (defaults) /* else GEMMs measured inside an attention candidate add theirs */
        ck_assert_msg(!log.total_changed, "the total changed during the pass");
    ck_assert(!log.went_back && log.ended);
    ck_assert_int_eq(log.last_done, log.last_total);
    ck_assert_int_ge(log.last_total, 3 * (int)classes);
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    cJSON *r = records(ctx);
    const cJSON *rec = NULL;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(r, "gemm")) {
        ck_assert_str_eq(cJSON_GetObjectItem(rec, "mode")->valuestring, "fast");
        if (info.type == CLF_DEVICE_CPU)
            ck_assert(!cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "ms"), "clblast:0"));
    }
    cJSON_Delete(r);
    /* every class measured: a second pass has nothing left */
    before = tuned(ctx);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    ck_assert_uint_eq(tuned(ctx), before);
    work_free(&w);
    clf_ctx_destroy(ctx);

    /* another context reads them: fast measures nothing, full again, then
     * fast accepts full's records */
    ck_assert_uint_eq(tune_pass(dir, CLF_TUNE_FAST), 0);
    ck_assert_uint_ge(tune_pass(dir, CLF_TUNE_FULL), classes); /* (and the GEMM path's GEMMs) */
    ck_assert_uint_eq(tune_pass(dir, CLF_TUNE_FAST), 0);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* Writes the first n bytes of text as dir/name; returns the path (free). */
static char *write_part(const char *dir, const char *name, const char *text, size_t n)
{
    char *part = strndup(text, n);
    ck_assert_ptr_nonnull(part);
    char *path = test_write_text(dir, name, part);
    free(part);
    return path;
}

/* An import of path refused with status want, naming the file; nothing
 * merged. */
static void check_refused(struct clf_ctx *ctx, const char *path, enum clf_status want)
{
    cJSON *r0 = records(ctx);
    unsigned n = 99;
    ck_assert_status(ctx, clf_tune_import(ctx, path, &n), want);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), path), "the refusal does not name the file: "
                  "%s", clf_ctx_last_error(ctx));
    cJSON *r1 = records(ctx);
    ck_assert(cJSON_Compare(r0, r1, true));
    cJSON_Delete(r0);
    cJSON_Delete(r1);
}

/* Export then import into an empty cache directory: the same records, kept
 * there, and the importing context measures nothing. Then the refusals. */
START_TEST(test_export_import)
{
    char *a = test_make_tmpdir("tune-a"), *b = test_make_tmpdir("tune-b");
    char *files = test_make_tmpdir("tune-files");
    char path[4200];
    snprintf(path, sizeof path, "%s/records.json", files);

    struct clf_ctx *ctx = make_ctx(a, CLF_TUNE_FAST);
    struct work w;
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    work_free(&w);
    ck_assert_ok(ctx, clf_tune_export(ctx, path));
    cJSON *ra = records(ctx);
    unsigned n_records = (unsigned)(family_size(ra, "gemm") + family_size(ra, "attention"));
    ck_assert_uint_ge(n_records, 1);
    ck_assert_status(ctx, clf_tune_export(ctx, "/nonexistent-dir/x/records.json"), CLF_E_IO);
    ck_assert(strstr(clf_ctx_last_error(ctx), "/nonexistent-dir/x/records.json"));
    clf_ctx_destroy(ctx);

    ctx = make_ctx(b, CLF_TUNE_FAST);
    unsigned imported = 0;
    ck_assert_ok(ctx, clf_tune_import(ctx, path, &imported));
    ck_assert_uint_eq(imported, n_records);
    cJSON *rb = records(ctx);
    ck_assert(cJSON_Compare(ra, rb, true));
    cJSON_Delete(rb);
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(tune_files(b), 1);
    ctx = make_ctx(b, CLF_TUNE_FAST); /* from the cache directory now */
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    ck_assert_uint_eq(tuned(ctx), 0);
    work_free(&w);

    /* refusals: truncated, not a tuning file, a malformed record, another
     * device, missing (the records: what the export wrote) */
    char *text = cJSON_Print(ra), *bad;
    ck_assert_ptr_nonnull(text);
    check_refused(ctx, bad = write_part(files, "truncated.json", text, strlen(text) / 2),
                  CLF_E_FORMAT);
    free(bad);
    check_refused(ctx, bad = test_write_text(files, "other.json", "{\"weights\": [1, 2, 3]}"),
                  CLF_E_FORMAT);
    free(bad);
    cJSON *doc = cJSON_Duplicate(ra, true), *gemm = cJSON_GetObjectItem(doc, "gemm");
    cJSON_AddItemToObject(gemm, "m0-n0-k0-b0-rr", cJSON_CreateNumber(3));
    char *s = cJSON_Print(doc);
    check_refused(ctx, bad = test_write_text(files, "record.json", s), CLF_E_FORMAT);
    free(bad);
    cJSON_free(s);
    cJSON_DeleteItemFromObject(gemm, "m0-n0-k0-b0-rr");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(doc, "device"), "driver",
                              cJSON_CreateString("0.0-some-other-driver"));
    s = cJSON_Print(doc);
    check_refused(ctx, bad = test_write_text(files, "foreign.json", s), CLF_E_INVALID_ARG);
    ck_assert(strstr(clf_ctx_last_error(ctx), "another device"));
    free(bad);
    cJSON_free(s);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.json", files);
    check_refused(ctx, missing, CLF_E_IO);
    cJSON_Delete(doc);
    cJSON_free(text);
    clf_ctx_destroy(ctx);

    /* a FIFO planted in place of the cache's records file: neither read
     * nor written (either would wait for ever; alarm fails the test
     * instead), the records measured again */
    char fifo[4200] = "";
    DIR *d = opendir(b);
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, "tune-", 5))
            snprintf(fifo, sizeof fifo, "%s/%s", b, e->d_name);
    if (d)
        closedir(d);
    ck_assert(fifo[0] && unlink(fifo) == 0 && mkfifo(fifo, 0600) == 0);
    alarm(120);
    ctx = make_ctx(b, CLF_TUNE_FAST);
    work_record(ctx, &w);
    ck_assert_ok(ctx, clf_graph_tune(w.g));
    ck_assert_uint_ge(tuned(ctx), 1);
    work_free(&w);
    clf_ctx_destroy(ctx);
    alarm(0);
    struct stat sb;
    ck_assert(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));

    cJSON_Delete(ra);
    test_remove_dir(a);
    test_remove_dir(b);
    test_remove_dir(files);
    free(a);
    free(b);
    free(files);
}
END_TEST

static void keep_log(void *user, enum clf_log_level level, const char *msg)
{
    if (level == CLF_LOG_ERROR)
        snprintf(user, 512, "%s", msg);
}

/* CLFORMER_TUNE: off/fast/full read when tune_mode is AUTO, anything else
 * refused naming the variable and its values (whatever the params say); a
 * mode set by the caller wins over a good value; an out-of-range tune_mode
 * is refused. */
START_TEST(test_env)
{
    char msg[512] = "";
    struct clf_ctx_params p = clf_ctx_params_default();
    ck_assert_int_eq(p.tune_mode, CLF_TUNE_AUTO);
    p.log_fn = keep_log;
    p.log_user = msg;
    p.disk_cache = false;
    struct clf_ctx *ctx = NULL;
    setenv("CLFORMER_TUNE", "sometimes", 1);
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(msg, "CLFORMER_TUNE 'sometimes': off, fast or full"), "%s", msg);
    p.tune_mode = CLF_TUNE_FAST; /* a bad value is refused all the same */
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_INVALID_ARG);
    setenv("CLFORMER_TUNE", "off", 1); /* the caller's mode wins */
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    ck_assert_int_eq(ctx->tune_mode, CLF_TUNE_FAST);
    clf_ctx_destroy(ctx);

    setenv("CLFORMER_TUNE", "off", 1); /* read: clf_graph_tune refuses under off */
    p.tune_mode = CLF_TUNE_AUTO;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_graph_tune(g), CLF_E_STATE);
    clf_graph_destroy(g);
    clf_ctx_destroy(ctx);
    unsetenv("CLFORMER_TUNE");

    p.tune_mode = (enum clf_tune_mode)7;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(msg, "tune_mode 7 out of range"), "%s", msg);
    ck_assert_int_eq(clf_graph_tune(NULL), CLF_E_INVALID_ARG);
}
END_TEST

/* Short activations on a CPU device with AVX-512's defaults (8x48 float16
 * up to 256 rows): the choice takes 6x64 where it pads fewer rows of m
 * (both tiles hold 24 float16 accumulators), keeps 8x48 on a tie or where
 * it pads fewer, and leaves batched problems and m over 64 alone. */
START_TEST(test_short_rows)
{
    char *dir = test_make_tmpdir("tune-rows");
    struct clf_ctx *ctx = make_ctx(dir, CLF_TUNE_OFF);
    const char *shipped = clf_tune_shipped(ctx, "gemm", "m1-n4-k3-b0-rc");
    if (ctx->info.type != CLF_DEVICE_CPU || !shipped || strcmp(shipped, "native:1") != 0) {
        printf("skip: not a CPU device whose short GEMMs default to 8x48 (%s)\n",
               shipped ? shipped : "no default");
    } else {
        ck_assert_int_eq(clf_gemm_cpu_configs[0].tm * clf_gemm_cpu_configs[0].tn,
                         clf_gemm_cpu_configs[1].tm * clf_gemm_cpu_configs[1].tn);
        static const struct {
            int64_t m, batch;
            int config;
        } cases[] = {
            {12, 1, 0}, {18, 1, 0}, {30, 1, 0}, {60, 1, 0},  /* 6x64 pads fewer */
            {8, 1, 1},  {16, 1, 1}, {24, 1, 1}, {40, 1, 1},  /* 8x48 pads fewer, or a tie */
            {18, 2, 1}, {90, 1, 1}, {130, 1, 1},             /* batched; over 64 rows */
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct clf_gemm_problem p = {.batch = cases[i].batch, .m = cases[i].m, .n = 1536,
                                         .k = 384, .a_rs = 384, .a_cs = 1, .b_rs = 1,
                                         .b_cs = 384, .b_prec = CLF_PRECISION_F32};
            struct clf_gemm_choice c;
            ck_assert_ok(ctx, clf_gemm_tune_choose(ctx, &p, &c));
            ck_assert_msg(c.provider == CLF_GEMM_NATIVE && c.config == cases[i].config,
                          "m %lld batch %lld: native:%d, expected native:%d",
                          (long long)cases[i].m, (long long)cases[i].batch, c.config,
                          cases[i].config);
            p.b_prec = CLF_PRECISION_F16; /* 16-bit weights take the f32 problem's tile */
            ck_assert_ok(ctx, clf_gemm_tune_choose(ctx, &p, &c));
            ck_assert_int_eq(c.config, cases[i].config);
        }
    }
    clf_ctx_destroy(ctx);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("tune");
    TCase *tc = tcase_create("modes");
    tcase_add_test(tc, test_off_and_full);
    tcase_add_test(tc, test_fast_and_graph_tune);
    tcase_add_test(tc, test_export_import);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_short_rows);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
