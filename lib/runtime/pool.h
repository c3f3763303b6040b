/* A pool of device buffers owned by the context: released buffers are kept
 * (up to a byte budget) and handed out again for requests of the same size
 * class, so repeated graph runs do not hit the driver's allocator. */
#ifndef CLF_RUNTIME_POOL_H
#define CLF_RUNTIME_POOL_H

#include <stddef.h>

#include "cl.h"
#include "clformer.h"

struct clf_ctx;

struct clf_pool_buf {
    cl_mem mem;
    size_t bytes; /* size class the buffer was created with */
};

struct clf_pool {
    struct clf_pool_buf *free_bufs;
    size_t n_free, cap_free;
    size_t max_free_bytes; /* the free bytes themselves are ctx->stats.pool_bytes_free */
};

/* Creates a device buffer of bytes (CL_MEM_READ_WRITE) whose memory exists
 * once this returns. On CPU devices: from 2 MiB up, host memory the library
 * allocates (2 MiB-aligned, advised as transparent huge pages, freed by the
 * buffer's destructor callback) used in place (CL_MEM_USE_HOST_PTR); below,
 * CL_MEM_ALLOC_HOST_PTR, which PoCL (otherwise allocating on first use and
 * aborting when that fails) and Intel's runtime allocate in clCreateBuffer.
 * On other devices, whose drivers may allocate on first use, a migration of
 * the new buffer, waited for. Every buffer the library makes comes from
 * here (the pool, the graphs' memory plan). CL_SUCCESS, or the OpenCL error
 * (*out NULL). */
cl_int clf_buffer_create(struct clf_ctx *ctx, size_t bytes, cl_mem *out);

/* Size class for a request: rounded up to 256 bytes, then to a quarter of
 * the next power of two (at most 25% slack). */
size_t clf_pool_class(size_t bytes);

/* Gets a buffer of at least `bytes` (> 0); *class_bytes receives its size. */
enum clf_status clf_pool_acquire(struct clf_ctx *ctx, size_t bytes, cl_mem *mem,
                                 size_t *class_bytes);

/* Returns a buffer obtained from clf_pool_acquire. */
void clf_pool_release(struct clf_ctx *ctx, cl_mem mem, size_t class_bytes);

/* Releases every free buffer. */
void clf_pool_trim(struct clf_ctx *ctx);

#endif
