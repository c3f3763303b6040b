/* Tensors: dense creation from the pool, views, host transfers. */
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

size_t clf_dtype_size(enum clf_dtype dtype)
{
    switch (dtype) {
    case CLF_F32: return 4;
    case CLF_F16: return 2;
    case CLF_I8: return 1;
    case CLF_I32: return 4;
    }
    return 0;
}

const char *clf_dtype_str(enum clf_dtype dtype)
{
    switch (dtype) {
    case CLF_F32: return "f32";
    case CLF_F16: return "f16";
    case CLF_I8: return "i8";
    case CLF_I32: return "i32";
    }
    return "?";
}

/* Checks ndim and sizes; *numel receives the element count. Rejects counts
 * whose byte size would not fit in size_t / int64. */
static enum clf_status check_shape(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                                   const int64_t *shape, int64_t *numel)
{
    size_t es = clf_dtype_size(dtype);
    if (!es)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown dtype %d", (int)dtype);
    if (ndim < 1 || ndim > CLF_MAX_DIMS)
        return clf_fail(ctx, CLF_E_SHAPE, "ndim %d outside 1..%d", ndim, CLF_MAX_DIMS);
    if (!shape)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL shape");
    int64_t n = 1;
    const int64_t limit = INT64_MAX / 8;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return clf_fail(ctx, CLF_E_SHAPE, "dimension %d has size %lld (must be >= 1)", i,
                            (long long)shape[i]);
        if (shape[i] > limit / n)
            return clf_fail(ctx, CLF_E_SHAPE, "element count overflows at dimension %d", i);
        n *= shape[i];
    }
    if ((uint64_t)n > SIZE_MAX / es)
        return clf_fail(ctx, CLF_E_SHAPE, "tensor of %lld elements does not fit in memory",
                        (long long)n);
    *numel = n;
    return CLF_OK;
}

/* A dense tensor over a new storage (bytes set, no device memory yet). */
static enum clf_status tensor_alloc(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                                    const int64_t *shape, struct clf_tensor **out)
{
    int64_t numel = 0;
    *out = NULL;
    enum clf_status st = check_shape(ctx, dtype, ndim, shape, &numel);
    if (st != CLF_OK)
        return st;
    struct clf_tensor *t = calloc(1, sizeof *t);
    struct clf_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a tensor");
    }
    s->bytes = (size_t)numel * clf_dtype_size(dtype);
    s->refs = 1;
    clf_ctx_ref(ctx);
    t->ctx = ctx;
    t->storage = s;
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        stride *= shape[i];
    }
    *out = t;
    return CLF_OK;
}

enum clf_status clf_tensor_new(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                               const int64_t *shape, struct clf_tensor **out)
{
    enum clf_status st = tensor_alloc(ctx, dtype, ndim, shape, out);
    if (st != CLF_OK)
        return st;
    struct clf_storage *s = (*out)->storage;
    st = clf_pool_acquire(ctx, s->bytes, &s->mem, &s->class_bytes);
    if (st != CLF_OK) {
        free(s);
        free(*out);
        *out = NULL;
        clf_ctx_unref(ctx);
    }
    return st;
}

enum clf_status clf_tensor_new_planned(struct clf_ctx *ctx, const struct clf_storage_hooks *hooks,
                                       void *planner, enum clf_dtype dtype, int ndim,
                                       const int64_t *shape, struct clf_tensor **out)
{
    enum clf_status st = tensor_alloc(ctx, dtype, ndim, shape, out);
    if (st == CLF_OK) {
        (*out)->storage->hooks = hooks;
        (*out)->storage->planner = planner;
    }
    return st;
}

enum clf_status clf_tensor_create(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                                  const int64_t *shape, struct clf_tensor **out)
{
    if (!out)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer");
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    return clf_tensor_new(ctx, dtype, ndim, shape, out);
}

enum clf_status clf_tensor_view(struct clf_tensor *base, int ndim, const int64_t *shape,
                                const int64_t *strides, int64_t offset, struct clf_tensor **out)
{
    if (!out)
        return base ? clf_fail(base->ctx, CLF_E_INVALID_ARG, "NULL output pointer")
                    : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!base)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = base->ctx;
    int64_t numel = 0;
    enum clf_status st = check_shape(ctx, base->dtype, ndim, shape, &numel);
    if (st != CLF_OK)
        return st;
    if (!strides)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL strides");
    int64_t storage_numel = (int64_t)(base->storage->bytes / clf_dtype_size(base->dtype));
    if (offset < 0 || offset >= storage_numel)
        return clf_fail(ctx, CLF_E_SHAPE, "view offset %lld outside storage of %lld elements",
                        (long long)offset, (long long)storage_numel);
    int64_t last = offset; /* highest element index addressed */
    for (int i = 0; i < ndim; i++) {
        if (strides[i] < 0)
            return clf_fail(ctx, CLF_E_SHAPE, "negative stride %lld at dimension %d",
                            (long long)strides[i], i);
        if (strides[i] > 0 && shape[i] - 1 > (storage_numel - last) / strides[i])
            return clf_fail(ctx, CLF_E_SHAPE, "view runs past storage at dimension %d", i);
        last += (shape[i] - 1) * strides[i];
    }
    if (last >= storage_numel)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "view addresses element %lld of a storage of %lld elements",
                        (long long)last, (long long)storage_numel);
    struct clf_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a view");
    clf_ctx_ref(ctx);
    t->ctx = ctx;
    t->storage = base->storage;
    t->storage->refs++;
    t->dtype = base->dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->strides[i] = strides[i];
    }
    t->offset = offset;
    *out = t;
    return CLF_OK;
}

enum clf_status clf_tensor_slice(struct clf_tensor *base, int dim, int64_t start, int64_t len,
                                 struct clf_tensor **out)
{
    if (!out)
        return base ? clf_fail(base->ctx, CLF_E_INVALID_ARG, "NULL output pointer")
                    : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!base)
        return CLF_E_INVALID_ARG;
    if (dim < 0 || dim >= base->ndim)
        return clf_fail(base->ctx, CLF_E_SHAPE, "slice dimension %d outside 0..%d", dim,
                        base->ndim - 1);
    if (start < 0 || len < 1 || start > base->shape[dim] - len)
        return clf_fail(base->ctx, CLF_E_SHAPE, "slice [%lld, %lld+%lld) outside 0..%lld",
                        (long long)start, (long long)start, (long long)len,
                        (long long)base->shape[dim]);
    int64_t shape[CLF_MAX_DIMS];
    memcpy(shape, base->shape, sizeof shape);
    shape[dim] = len;
    return clf_tensor_view(base, base->ndim, shape, base->strides,
                           base->offset + start * base->strides[dim], out);
}

enum clf_status clf_derived_get(struct clf_tensor *t, int kind, const int64_t key[8],
                                size_t bytes, struct clf_derived **out, bool *fresh)
{
    struct clf_derived *d = t->derived;
    *out = NULL;
    *fresh = false;
    while (d && (d->kind != kind || memcmp(d->key, key, sizeof d->key) != 0))
        d = d->next;
    if (d && d->class_bytes >= bytes) {
        *fresh = !t->storage->wrapped && d->version == t->storage->version;
        *out = d;
        return CLF_OK;
    }
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d)
            return clf_fail(t->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a derived buffer");
        d->kind = kind;
        memcpy(d->key, key, sizeof d->key);
        d->next = t->derived;
        t->derived = d;
    } else if (d->mem) {
        /* kernels enqueued earlier may still read the old buffer */
        clFinish(t->ctx->queue);
        clf_pool_release(t->ctx, d->mem, d->class_bytes);
        d->mem = NULL;
    }
    enum clf_status st = clf_pool_acquire(t->ctx, bytes, &d->mem, &d->class_bytes);
    if (st != CLF_OK) {
        d->mem = NULL;
        d->class_bytes = 0;
        return st;
    }
    d->version = (uint64_t)-1;
    *out = d;
    return CLF_OK;
}

void clf_derived_mark_fresh(const struct clf_tensor *t, struct clf_derived *d, cl_event filled)
{
    if (filled)
        clRetainEvent(filled);
    if (d->ready)
        clReleaseEvent(d->ready);
    d->ready = filled;
    /* a wrapped buffer's contents may change unseen: never fresh, so that
     * it is derived again at every use and graphs that read it are not
     * recorded (the executor's recorded inputs must stay fresh) */
    d->version = t->storage->wrapped ? (uint64_t)-1 : t->storage->version;
}

void clf_tensor_free(struct clf_tensor *t)
{
    if (!t)
        return;
    while (t->derived) {
        struct clf_derived *d = t->derived;
        t->derived = d->next;
        if (d->ready)
            clReleaseEvent(d->ready);
        if (d->mem)
            clf_pool_release(t->ctx, d->mem, d->class_bytes);
        free(d);
    }
    clf_storage_release(t->ctx, t->storage);
    struct clf_ctx *ctx = t->ctx;
    bool holds_ref = !t->ctx_owned;
    free(t);
    if (holds_ref) /* last: this may free the context */
        clf_ctx_unref(ctx);
}

void clf_storage_release(struct clf_ctx *ctx, struct clf_storage *s)
{
    if (--s->refs > 0)
        return;
    if (s->hooks || s->wrapped) {
        if (s->mem)
            clReleaseMemObject(s->mem);
    } else {
        clf_pool_release(ctx, s->mem, s->class_bytes);
    }
    free(s);
}

void clf_tensor_destroy(struct clf_tensor *t)
{
    if (t && !t->owner && !t->ctx_owned)
        clf_tensor_free(t);
}

void clf_tensor_layout4(const struct clf_tensor *t, cl_long4 *shape, cl_long4 *strides,
                        cl_long *offset)
{
    int pad = CLF_MAX_DIMS - t->ndim;
    for (int i = 0; i < CLF_MAX_DIMS; i++) {
        shape->s[i] = i < pad ? 1 : t->shape[i - pad];
        strides->s[i] = i < pad ? 0 : t->strides[i - pad];
    }
    *offset = t->offset;
}

bool clf_same_shape(const struct clf_tensor *a, const struct clf_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

enum clf_dtype clf_tensor_dtype(const struct clf_tensor *t)
{
    return t ? t->dtype : CLF_F32;
}

int clf_tensor_ndim(const struct clf_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t clf_tensor_dim(const struct clf_tensor *t, int dim)
{
    return t && dim >= 0 && dim < t->ndim ? t->shape[dim] : 0;
}

int64_t clf_tensor_stride(const struct clf_tensor *t, int dim)
{
    return t && dim >= 0 && dim < t->ndim ? t->strides[dim] : 0;
}

int64_t clf_tensor_offset(const struct clf_tensor *t)
{
    return t ? t->offset : 0;
}

int64_t clf_tensor_numel(const struct clf_tensor *t)
{
    if (!t)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

bool clf_tensor_is_contiguous(const struct clf_tensor *t)
{
    if (!t)
        return false;
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != stride)
            return false;
        stride *= t->shape[i];
    }
    return true;
}
