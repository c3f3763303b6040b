/* Files in the context's cache directory, read and written through file.h. */
#ifndef CLF_RUNTIME_CACHE_DIR_H
#define CLF_RUNTIME_CACHE_DIR_H

#include "ctx.h"

/* Writes <cache_dir>/<name> as head followed by body (either may be empty):
 * to a temporary file first, renamed into place, so readers never see a
 * partial file. Creates the directory. Returns false (after a warning in the
 * log) on failure, or when the disk cache is disabled. */
bool clf_cache_write_file(struct clf_ctx *ctx, const char *name, const void *head,
                          size_t head_size, const void *body, size_t body_size);

/* Reads <cache_dir>/<name> whole into a malloc'd buffer (NUL-terminated,
 * size excludes the NUL); false when absent, unreadable or disabled. */
bool clf_cache_read_file(struct clf_ctx *ctx, const char *name, char **data, size_t *size);

/* Makes the cache directory dir ready: created (with any missing parent)
 * mode 0700 when absent. false, after one warning in the log, when it is
 * not to be used: not creatable, not a directory, owned by another user or
 * writable by its group or others (another user could put a native
 * program binary there, which the context would load and run). */
bool clf_cache_dir_private(struct clf_ctx *ctx, const char *dir);

#endif
