/*
 * On-disk cache of program binaries.
 *
 * Key: XXH3-128 of (format version, source text, build options, device
 * name, driver version, platform version), so that a new driver or a changed
 * kernel simply misses. File <key hex>.clbin:
 *   8 bytes  magic "CLFPRG01"
 *   16 bytes key (guards against renamed or colliding files)
 *   8 bytes  binary size, little endian
 *   8 bytes  XXH3-64 of the binary
 *   binary
 * Anything that does not check out (short, wrong magic/key/size/hash) is a
 * rejected entry: the caller rebuilds from source and overwrites it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "cache_dir.h"
#include "file.h"
#include "program.h"

#define MAGIC "CLFPRG01"
#define HEADER_SIZE (8 + 16 + 8 + 8)
#define FORMAT_VERSION "clformer-program-cache-1"

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void clf_cache_key(const struct clf_ctx *ctx, const char *source, const char *options,
                   unsigned char key[16])
{
    XXH3_state_t *st = XXH3_createState();
    const char *parts[] = {FORMAT_VERSION, source, options, ctx->info.name,
                           ctx->info.driver_version, ctx->info.platform_version};
    XXH128_hash_t h;
    if (st) {
        XXH3_128bits_reset(st);
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            XXH3_128bits_update(st, parts[i], strlen(parts[i]) + 1); /* with NUL separator */
        h = XXH3_128bits_digest(st);
        XXH3_freeState(st);
    } else { /* no memory for the state: hash a bounded concatenation instead */
        char buf[8192];
        snprintf(buf, sizeof buf, "%s|%s|%s|%s|%s|%s", parts[0], parts[1], parts[2], parts[3],
                 parts[4], parts[5]);
        h = XXH3_128bits(buf, strlen(buf));
    }
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(key, c.digest, 16);
}

void clf_cache_path(const struct clf_ctx *ctx, const unsigned char key[16], char *path,
                    size_t size)
{
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    snprintf(path, size, "%s/%s.clbin", ctx->cache_dir ? ctx->cache_dir : ".", hex);
}

bool clf_cache_load(struct clf_ctx *ctx, const unsigned char key[16], unsigned char **bin,
                    size_t *size)
{
    char path[4096];
    *bin = NULL;
    *size = 0;
    if (!ctx->cache_dir)
        return false;
    clf_cache_path(ctx, key, path, sizeof path);
    char *data = NULL, msg[512];
    size_t n = 0;
    struct clf_msg m = clf_msg_init(msg, sizeof msg);
    const char *why = NULL;
    if (clf_file_read(&m, path, SIZE_MAX, &data, &n) != CLF_OK) {
        if (errno == ENOENT) /* the normal miss */
            return false;
        why = msg;
        goto reject;
    }
    if (n < HEADER_SIZE) {
        why = "shorter than its header";
        goto reject;
    }
    if (memcmp(data, MAGIC, 8) != 0) {
        why = "bad magic";
        goto reject;
    }
    if (memcmp(data + 8, key, 16) != 0) {
        why = "key mismatch";
        goto reject;
    }
    uint64_t body = get_u64((const unsigned char *)data + 24);
    if (body == 0 || body != (uint64_t)n - HEADER_SIZE) {
        why = "size mismatch (truncated?)";
        goto reject;
    }
    if (XXH3_64bits(data + HEADER_SIZE, (size_t)body) !=
        get_u64((const unsigned char *)data + 32)) {
        why = "checksum mismatch";
        goto reject;
    }
    /* the binary moved to the start of the buffer the caller frees */
    memmove(data, data + HEADER_SIZE, (size_t)body);
    *bin = (unsigned char *)data;
    *size = (size_t)body;
    return true;

reject:
    free(data);
    ctx->stats.cache_rejected++;
    clf_log(ctx, CLF_LOG_DEBUG, "program cache entry %s rejected: %s; rebuilding", path, why);
    return false;
}

void clf_cache_store(struct clf_ctx *ctx, const unsigned char key[16], const unsigned char *bin,
                     size_t size)
{
    char path[4096];
    unsigned char hdr[HEADER_SIZE];
    if (!ctx->cache_dir || !bin || !size)
        return;
    memcpy(hdr, MAGIC, 8);
    memcpy(hdr + 8, key, 16);
    put_u64(hdr + 24, size);
    put_u64(hdr + 32, XXH3_64bits(bin, size));
    clf_cache_path(ctx, key, path, sizeof path);
    if (clf_cache_write_file(ctx, strrchr(path, '/') + 1, hdr, HEADER_SIZE, bin, size))
        ctx->stats.cache_writes++;
}
