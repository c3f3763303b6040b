/* The size rule of the public structs (abi.h). */
#include <string.h>

#include "abi.h"
#include "ctx.h"

/* The caller's size field, or a failure naming type when it cannot be one. */
static enum clf_status user_size(struct clf_ctx *ctx, const char *type, const void *user,
                                 size_t *size)
{
    memcpy(size, user, sizeof *size);
    if (*size < sizeof *size)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "struct %s: size %zu is not a struct size (set it to sizeof the struct)",
                        type, *size);
    return CLF_OK;
}

enum clf_status clf_abi_export(struct clf_ctx *ctx, const char *type, void *user,
                               const void *src, size_t known)
{
    size_t size = 0;
    enum clf_status st = user_size(ctx, type, user, &size);
    if (st != CLF_OK)
        return st;
    unsigned char *dst = user;
    size_t n = size < known ? size : known;
    memcpy(dst + sizeof size, (const unsigned char *)src + sizeof size, n - sizeof size);
    if (size > known)
        memset(dst + known, 0, size - known);
    return CLF_OK;
}
