/* Tuning records (see tune.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache_dir.h"
#include "tune.h"

struct tune_state {
    cJSON *root; /* {"device": name, "<family>": {"<key>": record, ...}, ...} */
    char file[64];
};

static void tune_free(struct clf_ctx *ctx)
{
    struct tune_state *ts = ctx->tune;
    if (ts) {
        cJSON_Delete(ts->root);
        free(ts);
        ctx->tune = NULL;
    }
}

/* Counts the records of every family in a loaded file. */
static unsigned count_records(const cJSON *root)
{
    unsigned n = 0;
    const cJSON *fam = NULL;
    cJSON_ArrayForEach(fam, root)
        if (cJSON_IsObject(fam))
            n += (unsigned)cJSON_GetArraySize(fam);
    return n;
}

/* Loads (or starts) the records of this device. */
static struct tune_state *state(struct clf_ctx *ctx)
{
    if (ctx->tune)
        return ctx->tune;
    struct tune_state *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    char id[1024];
    snprintf(id, sizeof id, "tune-1|%s|%s|%s", ctx->info.name, ctx->info.driver_version,
             ctx->info.platform_version);
    snprintf(ts->file, sizeof ts->file, "tune-%016llx.json",
             (unsigned long long)XXH3_64bits(id, strlen(id)));
    char *text = NULL;
    size_t n = 0;
    if (clf_cache_read_file(ctx, ts->file, &text, &n)) {
        ts->root = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(ts->root)) {
            clf_log(ctx, CLF_LOG_DEBUG, "tuning file %s unreadable; measuring again", ts->file);
            cJSON_Delete(ts->root);
            ts->root = NULL;
        } else {
            ctx->stats.tune_loaded += count_records(ts->root);
        }
    }
    if (!ts->root && (!(ts->root = cJSON_CreateObject()) ||
                      !cJSON_AddStringToObject(ts->root, "device", ctx->info.name))) {
        cJSON_Delete(ts->root);
        free(ts);
        return NULL;
    }
    if (clf_ctx_on_destroy(ctx, tune_free) != CLF_OK) {
        cJSON_Delete(ts->root);
        free(ts);
        return NULL;
    }
    ctx->tune = ts;
    return ts;
}

const cJSON *clf_tune_get(struct clf_ctx *ctx, const char *family, const char *key)
{
    struct tune_state *ts = state(ctx);
    if (!ts)
        return NULL;
    const cJSON *rec = cJSON_GetObjectItem(cJSON_GetObjectItem(ts->root, family), key);
    return cJSON_IsObject(rec) ? rec : NULL;
}

enum clf_status clf_tune_put(struct clf_ctx *ctx, const char *family, const char *key,
                             cJSON *record)
{
    struct tune_state *ts = state(ctx);
    cJSON *fam = ts ? cJSON_GetObjectItem(ts->root, family) : NULL;
    if (ts && !cJSON_IsObject(fam)) {
        cJSON_DeleteItemFromObject(ts->root, family);
        fam = cJSON_AddObjectToObject(ts->root, family);
    }
    if (!fam) {
        cJSON_Delete(record);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for tuning records");
    }
    cJSON_DeleteItemFromObject(fam, key);
    cJSON_AddItemToObject(fam, key, record);
    ctx->stats.tuned++;
    char *text = cJSON_Print(ts->root);
    if (text)
        clf_cache_write_file(ctx, ts->file, text, strlen(text), NULL, 0);
    cJSON_free(text);
    return CLF_OK;
}
