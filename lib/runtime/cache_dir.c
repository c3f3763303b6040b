/* Files in the context's cache directory (see cache_dir.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_dir.h"
#include "file.h"

/* mkdir -p, every directory it makes private (0700) */
static bool make_dirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST;
}

bool clf_cache_dir_private(struct clf_ctx *ctx, const char *dir)
{
    if (!make_dirs(dir)) {
        clf_log(ctx, CLF_LOG_WARN, "cannot create the cache directory %s (%s): running without "
                "a cache", dir, strerror(errno));
        return false;
    }
    struct stat sb;
    const char *why = NULL;
    char buf[64];
    if (stat(dir, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode))
        why = "not a directory";
    else if (sb.st_uid != geteuid()) {
        snprintf(buf, sizeof buf, "owned by uid %lu, not %lu", (unsigned long)sb.st_uid,
                 (unsigned long)geteuid());
        why = buf;
    } else if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(buf, sizeof buf, "mode %04o: writable by %s", (unsigned)(sb.st_mode & 07777),
                 sb.st_mode & S_IWOTH ? "other users" : "its group");
        why = buf;
    }
    if (!why)
        return true;
    clf_log(ctx, CLF_LOG_WARN,
            "cache directory %s not used (%s): the program binaries kept there run as "
            "this user, so it must be this user's alone (chmod go-w, or another "
            "CLFORMER_CACHE_DIR); running without a cache",
            dir, why);
    return false;
}

bool clf_cache_write_file(struct clf_ctx *ctx, const char *name, const void *head,
                          size_t head_size, const void *body, size_t body_size)
{
    char path[4096];
    if (!ctx->cache_dir)
        return false;
    if (!make_dirs(ctx->cache_dir)) {
        clf_log(ctx, CLF_LOG_WARN, "cannot create cache directory %s: %s", ctx->cache_dir,
                strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/%s", ctx->cache_dir, name);
    char why[512];
    struct clf_msg m = clf_msg_init(why, sizeof why);
    if (clf_file_write_parts(&m, path, 0, head, head_size, body, body_size) == CLF_OK)
        return true;
    clf_log(ctx, CLF_LOG_WARN, "cannot write cache file %s", why);
    return false;
}

bool clf_cache_read_file(struct clf_ctx *ctx, const char *name, char **data, size_t *size)
{
    char path[4096];
    *data = NULL;
    *size = 0;
    if (!ctx->cache_dir)
        return false;
    snprintf(path, sizeof path, "%s/%s", ctx->cache_dir, name);
    char why[512];
    struct clf_msg m = clf_msg_init(why, sizeof why);
    if (clf_file_read(&m, path, SIZE_MAX, data, size) == CLF_OK)
        return true;
    if (errno != ENOENT) /* a missing entry is the normal miss */
        clf_log(ctx, CLF_LOG_DEBUG, "cache file not used: %s", why);
    return false;
}
