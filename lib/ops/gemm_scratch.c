/* Scratch buffers of GEMM providers and of the ops that run them (see
 * struct clf_gemm_scratch in gemm.h). */
#include "gemm.h"

enum clf_status clf_gemm_scratch_get(struct clf_ctx *ctx, struct clf_gemm_scratch *s, int slot,
                                     size_t bytes, cl_mem *out)
{
    *out = NULL;
    if (s->buf[slot] && s->class_bytes[slot] >= bytes) {
        *out = s->buf[slot];
        return CLF_OK;
    }
    if (s->buf[slot]) {
        clf_pool_release(ctx, s->buf[slot], s->class_bytes[slot]);
        s->buf[slot] = NULL;
    }
    enum clf_status st = clf_pool_acquire(ctx, bytes, &s->buf[slot], &s->class_bytes[slot]);
    if (st != CLF_OK) {
        s->buf[slot] = NULL;
        return st;
    }
    *out = s->buf[slot];
    return CLF_OK;
}

void clf_gemm_scratch_release(struct clf_ctx *ctx, struct clf_gemm_scratch *s)
{
    for (int i = 0; i < 2; i++)
        if (s->buf[i])
            clf_pool_release(ctx, s->buf[i], s->class_bytes[i]);
    s->buf[0] = s->buf[1] = NULL;
}
