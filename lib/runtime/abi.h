/*
 * The size rule of the public structs whose first field is `size_t size`
 * (clformer/core.h, "ABI of structs"): the caller's struct may be an older
 * (smaller) or a newer (larger) version of the library's own. Internal.
 */
#ifndef CLF_RUNTIME_ABI_H
#define CLF_RUNTIME_ABI_H

#include <stddef.h>

#include "clformer.h"

/*
 * Copies the library's struct src (`known` bytes, its size field included)
 * into the caller's struct `user`, whose first field says how many bytes it
 * has: the fields that fit; bytes past `known` (a newer caller's fields) are
 * zeroed; the caller's size stays. CLF_E_INVALID_ARG, naming `type`, when
 * that size is smaller than the size field itself (0: not set).
 */
enum clf_status clf_abi_export(struct clf_ctx *ctx, const char *type, void *user,
                               const void *src, size_t known);

#endif
