/*
 * Kernel programs: sources (embedded or from $CLFORMER_CL_DIR), builds once
 * per (family, options) per context, and the on-disk binary cache.
 */
#ifndef CLF_RUNTIME_PROGRAM_H
#define CLF_RUNTIME_PROGRAM_H

#include "ctx.h"

/* Embedded kernel sources, generated from cl/ at build time. */
struct clf_cl_source {
    const char *family; /* file name without ".cl" */
    const char *text;
};
extern const struct clf_cl_source clf_cl_sources[];
extern const size_t clf_cl_sources_count;

/* Reads a family's full program text (cl/common.cl followed by
 * cl/<family>.cl, or by each family built together with it, whose
 * `#include "NAME.cl"` lines are replaced by those sources) into a
 * malloc'd string. */
enum clf_status clf_program_source(struct clf_ctx *ctx, const char *family, char **text);

/* False for include-only sources (common.cl and *_common.cl), which are
 * spliced into programs, never built alone. */
bool clf_program_is_family(const char *name);

/* The program a family's kernels are in: the family itself, or the first
 * of the small families that are built together as one program (see
 * program.c), whose full text clf_program_source gives for any of them. */
const char *clf_program_name(const char *family);

/* Returns the program for family built with the context's base options plus
 * `extra` (may be NULL), building or loading it from the disk cache on first
 * use. The entry stays owned by the context; the pointer is valid until the
 * next program is added (use it at once). */
enum clf_status clf_program_get(struct clf_ctx *ctx, const char *family, const char *extra,
                                struct clf_program_entry **out);

/* Returns a kernel of that program, created once and kept by the context
 * (borrowed: do not release). */
enum clf_status clf_kernel_get(struct clf_ctx *ctx, const char *family, const char *extra,
                               const char *kernel, cl_kernel *out);

/* Releases every program the context holds. */
void clf_programs_release(struct clf_ctx *ctx);

/* Disk cache (program_cache.c). key is 16 bytes. */
void clf_cache_key(const struct clf_ctx *ctx, const char *source, const char *options,
                   unsigned char key[16]);
/* Loads a binary; returns false (and counts a rejection when a file
 * existed) if there is no valid entry. *bin is malloc'd. */
bool clf_cache_load(struct clf_ctx *ctx, const unsigned char key[16], unsigned char **bin,
                    size_t *size);
/* Stores a binary atomically (temp file + rename); failures only log. */
void clf_cache_store(struct clf_ctx *ctx, const unsigned char key[16], const unsigned char *bin,
                     size_t size);
/* Path of an entry: <cache_dir>/<32 hex>.clbin (for tests and tools). */
void clf_cache_path(const struct clf_ctx *ctx, const unsigned char key[16], char *path,
                    size_t size);

#endif
