/* Internal definition of tensors and their shared storage. */
#ifndef CLF_RUNTIME_TENSOR_H
#define CLF_RUNTIME_TENSOR_H

#include "ctx.h"

/*
 * What the layer that plans a storage's memory (the graph's memory plan,
 * lib/graph/plan.c) tells the runtime about it: the transfers ask before
 * reading or writing. `planner` is the planner's record of the storage
 * (struct clf_storage's planner).
 */
struct clf_storage_hooks {
    /* CLF_OK when the contents may be read now; else the reason, set as
     * ctx's last error. */
    enum clf_status (*check_readable)(struct clf_ctx *ctx, void *planner);
    /* Gives the storage device memory (mem) before a write when it has
     * none. */
    enum clf_status (*ensure_memory)(void *planner);
};

/* A device buffer shared by a tensor and its views (reference counted). */
struct clf_storage {
    cl_mem mem;         /* NULL while a planned storage has no memory yet */
    size_t class_bytes; /* size of the pooled buffer */
    size_t bytes;       /* bytes requested: numel * dtype size of the creator */
    int refs;
    uint64_t version;   /* bumped by every write (host or graph node): caches
                           derived from the contents compare it */
    bool wrapped;       /* mem is a caller's buffer (clf_tensor_wrap_cl), retained:
                           released, never pooled; the caller may write it behind
                           our back, so nothing derived from it is ever fresh */
    /* A planned storage (hooks set, clf_tensor_new_planned): its memory
     * comes from a planner above the runtime, and mem is this storage's own
     * reference (e.g. a sub-buffer of a graph's arena), released with the
     * storage, not pooled. NULL for a storage of the buffer pool. */
    const struct clf_storage_hooks *hooks;
    void *planner;      /* the planner's record of this storage, for hooks */
};

/* A device buffer derived from a tensor's contents (e.g. a weight packed
 * into GEMM panels), kept with the tensor and valid while the storage's
 * version equals `version`. */
struct clf_derived {
    int kind;           /* who made it, e.g. CLF_DERIVED_GEMM_PACK_B */
    int64_t key[8];     /* the maker's parameters (panel sizes, layout...) */
    uint64_t version;   /* storage version it was made from */
    cl_event ready;     /* completes when the last fill has finished (or NULL):
                           users on an out-of-order queue wait for it */
    cl_mem mem;
    size_t class_bytes; /* pool size class of mem */
    struct clf_derived *next;
};

struct clf_tensor {
    struct clf_ctx *ctx;
    struct clf_storage *storage;
    enum clf_dtype dtype;
    int ndim;
    int64_t shape[CLF_MAX_DIMS];   /* outermost first */
    int64_t strides[CLF_MAX_DIMS]; /* in elements */
    int64_t offset;                /* in elements */
    struct clf_graph *owner;       /* non-NULL: destroyed with that graph */
    bool ctx_owned;                /* destroyed with the context */
    struct clf_derived *derived;   /* cached derived buffers, freed with the tensor */
};

/* Creates a dense tensor with new storage (the public create, minus argument
 * checks on ctx). */
enum clf_status clf_tensor_new(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                               const int64_t *shape, struct clf_tensor **out);

/* Frees a tensor whatever its owner. */
void clf_tensor_free(struct clf_tensor *t);

/* Drops one reference to s; the last frees it and its memory. */
void clf_storage_release(struct clf_ctx *ctx, struct clf_storage *s);

/* A dense tensor of planned storage: shape and bytes known, no device
 * memory (s->mem NULL) until its planner gives it some; with hooks NULL, a
 * storage whose memory the caller sets (clf_tensor_wrap_cl). */
enum clf_status clf_tensor_new_planned(struct clf_ctx *ctx, const struct clf_storage_hooks *hooks,
                                       void *planner, enum clf_dtype dtype, int ndim,
                                       const int64_t *shape, struct clf_tensor **out);

/* Finds the derived buffer of (kind, key) of t. Returns it with *fresh set
 * when it matches the storage's current version; otherwise creates or
 * resizes it (at least `bytes`, contents undefined) with *fresh false, and
 * the caller fills it then calls clf_derived_mark_fresh. */
enum clf_status clf_derived_get(struct clf_tensor *t, int kind, const int64_t key[8],
                                size_t bytes, struct clf_derived **out, bool *fresh);
/* Records that d now matches its tensor's current storage version, once
 * `filled` (retained; may be NULL) completes. */
void clf_derived_mark_fresh(const struct clf_tensor *t, struct clf_derived *d, cl_event filled);

/* Shape, strides and offset padded in front to 4-D (for kernel arguments). */
void clf_tensor_layout4(const struct clf_tensor *t, cl_long4 *shape, cl_long4 *strides,
                        cl_long *offset);

/* True when a and b have the same ndim and sizes. */
bool clf_same_shape(const struct clf_tensor *a, const struct clf_tensor *b);

/* Enqueues dst = src element by element (same shape and dtype, any strides),
 * after the events in wait; *ev (may be NULL) receives the completion event. */
enum clf_status clf_copy_enqueue(struct clf_ctx *ctx, const struct clf_tensor *src,
                                 const struct clf_tensor *dst, cl_uint n_wait,
                                 const cl_event *wait, cl_event *ev);

/* Writes bytes (all of them) of a tensor's contents at dst. */
typedef enum clf_status (*clf_fill_fn)(void *user, void *dst, size_t bytes);

/*
 * clf_tensor_write without a host copy of the contents: maps the bytes of
 * a contiguous t for writing (no transfer from the device), lets fill
 * write all of them, unmaps. On a CPU device the pointer is the buffer
 * itself, so a weight read from a file lands in it directly (a model's
 * loading was a read into host memory and then a copy into each buffer).
 * A non-contiguous t is CLF_E_SHAPE. fill's failure is returned (the
 * contents are then undefined).
 */
enum clf_status clf_tensor_fill(struct clf_tensor *t, clf_fill_fn fill, void *user);

#endif
