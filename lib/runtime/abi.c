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
                        "struct %s: size %zu is not a struct size (set it with %s_init or "
                        "_default, or to sizeof the struct)",
                        type, *size, type);
    return CLF_OK;
}

void clf_abi_fill(void *user, size_t size, const void *src, size_t known)
{
    if (!user || size < sizeof size)
        return;
    unsigned char *dst = user;
    size_t n = size < known ? size : known;
    memcpy(dst + sizeof size, (const unsigned char *)src + sizeof size, n - sizeof size);
    if (size > known)
        memset(dst + known, 0, size - known);
    memcpy(dst, &size, sizeof size);
}

enum clf_status clf_abi_export(struct clf_ctx *ctx, const char *type, void *user,
                               const void *src, size_t known)
{
    size_t size = 0;
    enum clf_status st = user_size(ctx, type, user, &size);
    if (st == CLF_OK)
        clf_abi_fill(user, size, src, known);
    return st;
}

enum clf_status clf_abi_import(struct clf_ctx *ctx, const char *type, const void *user,
                               void *local, size_t known)
{
    if (!user)
        return CLF_OK;
    size_t size = 0;
    enum clf_status st = user_size(ctx, type, user, &size);
    if (st != CLF_OK)
        return st;
    const unsigned char *src = user;
    for (size_t i = known; i < size; i++)
        if (src[i])
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "struct %s: the caller's is %zu bytes and sets fields past byte %zu, "
                            "which this version of the library (%s) does not know",
                            type, size, known, clf_version());
    size_t n = size < known ? size : known;
    memcpy((unsigned char *)local + sizeof size, src + sizeof size, n - sizeof size);
    return CLF_OK;
}
