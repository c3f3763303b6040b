/* Tuning records (see tune.h), and their export and import. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache_dir.h"
#include "file.h"
#include "tune.h"

#define TUNE_FORMAT "clformer-tune"
#define TUNE_VERSION 1

struct tune_state {
    cJSON *root; /* the file's layout (tune.h) */
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

/* A family of records: an object member of the root other than "device". */
static bool is_family(const cJSON *item)
{
    return cJSON_IsObject(item) && strcmp(item->string, "device") != 0;
}

/* Counts the records of every family. */
static unsigned count_records(const cJSON *root)
{
    unsigned n = 0;
    const cJSON *fam = NULL;
    cJSON_ArrayForEach(fam, root)
        if (is_family(fam))
            n += (unsigned)cJSON_GetArraySize(fam);
    return n;
}

/* Sets root's "format", "version" and "device" (ctx's device's identity),
 * replacing what was there (files of earlier versions named the device by
 * a string alone). False without host memory. */
static bool set_identity(struct clf_ctx *ctx, cJSON *root)
{
    cJSON_DeleteItemFromObject(root, "format");
    cJSON_DeleteItemFromObject(root, "version");
    cJSON_DeleteItemFromObject(root, "device");
    cJSON *dev = cJSON_CreateObject();
    if (!dev || !cJSON_AddStringToObject(dev, "name", ctx->info.name) ||
        !cJSON_AddStringToObject(dev, "driver", ctx->info.driver_version) ||
        !cJSON_AddStringToObject(dev, "platform", ctx->info.platform_version)) {
        cJSON_Delete(dev);
        return false;
    }
    return cJSON_AddStringToObject(root, "format", TUNE_FORMAT) &&
           cJSON_AddNumberToObject(root, "version", TUNE_VERSION) &&
           cJSON_AddItemToObject(root, "device", dev);
}

/* The cache file's root: ours, or one of an earlier version (no
 * "format"); NULL (freed) for anything else. */
static cJSON *usable_root(cJSON *root)
{
    const cJSON *fmt = cJSON_GetObjectItem(root, "format");
    if (cJSON_IsObject(root) && (!fmt || (cJSON_IsString(fmt) &&
                                          !strcmp(fmt->valuestring, TUNE_FORMAT))))
        return root;
    cJSON_Delete(root);
    return NULL;
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
        ts->root = usable_root(cJSON_Parse(text));
        free(text);
        if (!ts->root)
            clf_log(ctx, CLF_LOG_DEBUG, "tuning file %s unreadable; measuring again", ts->file);
        else
            ctx->stats.tune_loaded += count_records(ts->root);
    }
    if ((!ts->root && !(ts->root = cJSON_CreateObject())) || !set_identity(ctx, ts->root) ||
        clf_ctx_on_destroy(ctx, tune_free) != CLF_OK) {
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
    if (!cJSON_IsObject(rec))
        return NULL;
    const cJSON *mode = cJSON_GetObjectItem(rec, "mode");
    if (ctx->tune_mode == CLF_TUNE_FULL && cJSON_IsString(mode) &&
        strcmp(mode->valuestring, "full") != 0)
        return NULL;
    return rec;
}

/* Puts record under (family, key) of the state, replacing one there (takes
 * the record, also on failure). */
static bool store(struct tune_state *ts, const char *family, const char *key, cJSON *record)
{
    cJSON *fam = cJSON_GetObjectItem(ts->root, family);
    if (!is_family(fam)) {
        cJSON_DeleteItemFromObject(ts->root, family);
        fam = cJSON_AddObjectToObject(ts->root, family);
    }
    if (!fam) {
        cJSON_Delete(record);
        return false;
    }
    cJSON_DeleteItemFromObject(fam, key);
    if (cJSON_AddItemToObject(fam, key, record))
        return true;
    cJSON_Delete(record); /* (cJSON keeps it only on success) */
    return false;
}

/* Rewrites the cache file (nothing when the disk cache is disabled). */
static void save(struct clf_ctx *ctx, struct tune_state *ts)
{
    char *text = cJSON_Print(ts->root);
    if (text)
        clf_cache_write_file(ctx, ts->file, text, strlen(text), NULL, 0);
    cJSON_free(text);
}

enum clf_status clf_tune_put(struct clf_ctx *ctx, const char *family, const char *key,
                             cJSON *record)
{
    struct tune_state *ts = state(ctx);
    if (!ts)
        cJSON_Delete(record);
    if (!ts || !store(ts, family, key, record))
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for tuning records");
    ctx->stats.tuned++;
    save(ctx, ts);
    return CLF_OK;
}

/* The records as JSON text (cJSON_free it) into *text, for fn (a public
 * entry point) whose other arguments are fine when args_ok. */
static enum clf_status records_text(struct clf_ctx *ctx, bool args_ok, const char *fn,
                                    char **text)
{
    *text = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!args_ok)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s: a NULL argument", fn);
    struct tune_state *ts = state(ctx);
    *text = ts ? cJSON_Print(ts->root) : NULL;
    return *text ? CLF_OK
                 : clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for tuning records");
}

enum clf_status clf_tune_json(struct clf_ctx *ctx, char *buf, size_t size, size_t *len)
{
    char *text = NULL;
    enum clf_status st = records_text(ctx, len && (buf || !size), "clf_tune_json", &text);
    if (st != CLF_OK)
        return st;
    *len = strlen(text);
    if (size > *len)
        memcpy(buf, text, *len + 1);
    cJSON_free(text);
    return CLF_OK;
}

enum clf_status clf_tune_export(struct clf_ctx *ctx, const char *path)
{
    char *text = NULL;
    enum clf_status st = records_text(ctx, path != NULL, "clf_tune_export", &text);
    if (st != CLF_OK)
        return st;
    char why[512];
    struct clf_msg m = clf_msg_init(why, sizeof why);
    st = clf_file_write_parts(&m, path, CLF_FILE_STREAM, text, strlen(text), "\n", 1);
    cJSON_free(text);
    return st == CLF_OK ? CLF_OK : clf_fail(ctx, st, "%s", why);
}

/* The string member `name` of o, or NULL. */
static const char *string_of(const cJSON *o, const char *name)
{
    const cJSON *s = cJSON_GetObjectItem(o, name);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* Checks a parsed import file against ctx's device: CLF_OK, or the
 * refusal naming path. */
static enum clf_status check_import(struct clf_ctx *ctx, const char *path, const cJSON *root)
{
    const char *fmt = string_of(root, "format");
    if (!cJSON_IsObject(root) || !fmt || strcmp(fmt, TUNE_FORMAT) != 0)
        return clf_fail(ctx, CLF_E_FORMAT, "%s is not a clformer tuning file (no \"format\": "
                        "\"%s\")", path, TUNE_FORMAT);
    const cJSON *version = cJSON_GetObjectItem(root, "version");
    if (!cJSON_IsNumber(version) || version->valuedouble != TUNE_VERSION)
        return clf_fail(ctx, CLF_E_FORMAT, "%s: tuning file version %g, this library reads %d",
                        path, cJSON_IsNumber(version) ? version->valuedouble : 0.0,
                        TUNE_VERSION);
    const cJSON *dev = cJSON_GetObjectItem(root, "device");
    const char *name = string_of(dev, "name"), *driver = string_of(dev, "driver"),
               *platform = string_of(dev, "platform");
    if (!name || !driver || !platform)
        return clf_fail(ctx, CLF_E_FORMAT, "%s: corrupt tuning file (no device name, driver "
                        "and platform)", path);
    if (strcmp(name, ctx->info.name) || strcmp(driver, ctx->info.driver_version) ||
        strcmp(platform, ctx->info.platform_version))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "%s holds the tuning records of another device: '%s', driver %s, "
                        "platform %s (this one: '%s', driver %s, platform %s)", path, name,
                        driver, platform, ctx->info.name, ctx->info.driver_version,
                        ctx->info.platform_version);
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, root) {
        if (!strcmp(item->string, "format") || !strcmp(item->string, "version") ||
            !strcmp(item->string, "device"))
            continue;
        if (!cJSON_IsObject(item))
            return clf_fail(ctx, CLF_E_FORMAT, "%s: corrupt tuning file (\"%s\" is not a "
                            "family of records)", path, item->string);
        const cJSON *rec = NULL;
        cJSON_ArrayForEach(rec, item)
            if (!cJSON_IsObject(rec) || !cJSON_IsObject(cJSON_GetObjectItem(rec, "ms")))
                return clf_fail(ctx, CLF_E_FORMAT, "%s: corrupt tuning file (record %s %s "
                                "malformed)", path, item->string, rec->string);
    }
    return CLF_OK;
}

/* Copies every record of root (checked) into ts, counting them in *count. */
static enum clf_status merge(struct clf_ctx *ctx, struct tune_state *ts, const cJSON *root,
                             unsigned *count)
{
    const cJSON *fam = NULL;
    cJSON_ArrayForEach(fam, root) {
        if (!is_family(fam))
            continue;
        const cJSON *rec = NULL;
        cJSON_ArrayForEach(rec, fam) {
            if (!store(ts, fam->string, rec->string, cJSON_Duplicate(rec, true)))
                return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for tuning records");
            (*count)++;
        }
    }
    return CLF_OK;
}

enum clf_status clf_tune_import(struct clf_ctx *ctx, const char *path, unsigned *imported)
{
    if (imported)
        *imported = 0;
    if (!ctx || !path)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tune_import: NULL path")
                   : CLF_E_INVALID_ARG;
    char *text = NULL;
    size_t n = 0;
    char why[512];
    struct clf_msg m = clf_msg_init(why, sizeof why);
    enum clf_status rs = clf_file_read(&m, path, SIZE_MAX, &text, &n);
    if (rs != CLF_OK)
        return clf_fail(ctx, rs, "%s", why);
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    enum clf_status st = root ? check_import(ctx, path, root)
                              : clf_fail(ctx, CLF_E_FORMAT, "%s: corrupt tuning file (not "
                                         "JSON)", path);
    struct tune_state *ts = st == CLF_OK ? state(ctx) : NULL;
    if (st == CLF_OK && !ts)
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for tuning records");
    unsigned count = 0;
    if (st == CLF_OK)
        st = merge(ctx, ts, root, &count);
    cJSON_Delete(root);
    if (count)
        save(ctx, ts);
    if (imported)
        *imported = count;
    return st;
}
