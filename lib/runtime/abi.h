/*
 * The size rule of the public structs whose first field is `size_t size`
 * (clformer/core.h, "The ABI of structs"): the caller's struct may be an
 * older (smaller) or a newer (larger) version of the library's own; the
 * library reads and writes only the bytes the caller's size covers.
 * Internal.
 */
#ifndef CLF_RUNTIME_ABI_H
#define CLF_RUNTIME_ABI_H

#include <stddef.h>

#include "clformer.h"

/*
 * The caller's struct `user` of `size` bytes from the library's struct src
 * of `known` bytes: the fields that fit, zeros past `known` (a newer
 * caller's fields), and size in its size field. A NULL user or a size
 * smaller than the size field is left alone. For the *_init functions.
 */
void clf_abi_fill(void *user, size_t size, const void *src, size_t known);

/*
 * clf_abi_fill for an output struct whose first field the caller set to
 * its size (left as it is). CLF_E_INVALID_ARG, naming `type`, when that
 * size is smaller than the size field itself (0: not set).
 */
enum clf_status clf_abi_export(struct clf_ctx *ctx, const char *type, void *user,
                               const void *src, size_t known);

/*
 * A caller's params struct (its size in its first field; user NULL: none)
 * read into the library's struct `local` of `known` bytes, which holds the
 * defaults: the caller's fields that fit replace them; fields of the
 * library's the caller's older struct lacks keep their defaults.
 * CLF_E_INVALID_ARG for a size smaller than the size field (0: not set by
 * *_init); CLF_E_UNSUPPORTED when a newer caller's struct sets a byte past
 * `known` (a field this library does not know; zeros are accepted, zero
 * being every later field's "as before").
 */
enum clf_status clf_abi_import(struct clf_ctx *ctx, const char *type, const void *user,
                               void *local, size_t known);

#endif
