/* Device buffer pool (see pool.h). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "ctx.h"
#include "fault.h"

size_t clf_pool_class(size_t bytes)
{
    size_t b = (bytes + 255) & ~(size_t)255;
    if (b <= 1024)
        return b;
    size_t p = 1024;
    while (p < b / 2 && p <= SIZE_MAX / 4)
        p *= 2;
    /* p < b <= 2p: round up to a multiple of p/4 */
    size_t q = p / 4;
    return (b + q - 1) / q * q;
}

/* Large buffers on CPU devices live in host memory the library allocates
 * (CL_MEM_USE_HOST_PTR: PoCL and Intel's CPU runtime both use it in place,
 * checked by mapping), aligned to 2 MiB and advised as transparent huge
 * pages where the kernel offers them on request
 * (/sys/kernel/mm/transparent_hugepage/enabled "madvise", Debian's default).
 * The first touch of each 4 KiB page is a fault that zeroes it: reading
 * all-MiniLM-L6-v2's 90 MB of weights into fresh memory took 45-52 ms here,
 * against 15-18 ms into memory already touched, and the weights' packing
 * writes 42 MB more. Huge pages fault 2 MiB at a time. From 2 MiB up: a
 * smaller buffer holds no whole huge page. */
#define HUGE_BYTES ((size_t)2 << 20)

static void CL_CALLBACK free_host(cl_mem m, void *host)
{
    (void)m;
    free(host);
}

static cl_mem create_host_backed(struct clf_ctx *ctx, size_t bytes, cl_int *err)
{
    /* posix_memalign, not aligned_alloc: C11 wants a size that is a
     * multiple of the alignment (AddressSanitizer's refuses any other) */
    size_t rounded = (bytes + 4095) & ~(size_t)4095;
    void *host = NULL;
    if (rounded < bytes || posix_memalign(&host, HUGE_BYTES, rounded) != 0)
        host = NULL;
    if (!host) {
        *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(host, rounded & ~(HUGE_BYTES - 1), MADV_HUGEPAGE); /* advice only */
#endif
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes,
                              host, err);
    if (*err != CL_SUCCESS || !m) {
        free(host);
        return NULL;
    }
    *err = clSetMemObjectDestructorCallback(m, free_host, host);
    if (*err != CL_SUCCESS) {
        /* nothing would free host: it is left allocated, since the runtime
         * may release the buffer later than clReleaseMemObject returns */
        clReleaseMemObject(m);
        return NULL;
    }
    return m;
}

cl_int clf_buffer_create(struct clf_ctx *ctx, size_t bytes, cl_mem *out)
{
    cl_int err = CL_SUCCESS;
    const bool cpu = ctx->info.type == CLF_DEVICE_CPU;
    cl_mem m = NULL;
    if (!clf_fault(CLF_FAULT_BUFFER, &err))
        m = cpu && bytes >= HUGE_BYTES
                ? create_host_backed(ctx, bytes, &err)
                : clCreateBuffer(ctx->context,
                                 CL_MEM_READ_WRITE | (cpu ? CL_MEM_ALLOC_HOST_PTR : 0), bytes,
                                 NULL, &err);
    *out = NULL;
    if (err != CL_SUCCESS || !m)
        return err != CL_SUCCESS ? err : CL_MEM_OBJECT_ALLOCATION_FAILURE;
    /* A CPU runtime allocates CL_MEM_ALLOC_HOST_PTR memory in clCreateBuffer
     * (PoCL and Intel's both do, and report failure there). A GPU driver may
     * place the memory on first use, so there a content-undefined migration
     * (nothing is copied) is waited for. Not on CPU devices: besides being
     * useless there, this wait, made while a graph is being enqueued from two
     * threads on two contexts, sometimes never returns on Intel's CPU runtime
     * (2026.2; one hang in about 30 runs of python/tests/test_threads.py under
     * load, in clWaitForEvents on an out-of-order queue). */
    cl_event ev = NULL;
    cl_int status = CL_COMPLETE;
    if (!cpu && ctx->queues[0] && !clf_fault(CLF_FAULT_BUFFER, &err))
        err = clEnqueueMigrateMemObjects(ctx->queues[0], 1, &m,
                                         CL_MIGRATE_MEM_OBJECT_CONTENT_UNDEFINED, 0, NULL, &ev);
    if (ev && err == CL_SUCCESS)
        err = clWaitForEvents(1, &ev);
    if (ev && err == CL_SUCCESS)
        err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                             NULL);
    if (ev)
        clReleaseEvent(ev);
    if (err == CL_SUCCESS && status < 0)
        err = status;
    if (err != CL_SUCCESS) {
        clReleaseMemObject(m);
        return err;
    }
    *out = m;
    return CL_SUCCESS;
}

enum clf_status clf_pool_acquire(struct clf_ctx *ctx, size_t bytes, cl_mem *mem,
                                 size_t *class_bytes)
{
    struct clf_pool *pool = &ctx->pool;
    size_t cls = clf_pool_class(bytes);
    /* a request near the device's largest allocation whose class would
     * exceed it gets exactly what it asked for (a size no other class has:
     * released, it serves requests of this very size only) */
    if (cls > ctx->info.max_alloc_bytes && bytes <= ctx->info.max_alloc_bytes)
        cls = bytes;
    *mem = NULL;
    for (size_t i = pool->n_free; i-- > 0;) {
        if (pool->free_bufs[i].bytes != cls)
            continue;
        *mem = pool->free_bufs[i].mem;
        pool->free_bufs[i] = pool->free_bufs[--pool->n_free];
        ctx->stats.pool_bytes_free -= cls;
        ctx->stats.pool_bytes_live += cls;
        if (ctx->stats.pool_bytes_live > ctx->stats.pool_bytes_peak)
            ctx->stats.pool_bytes_peak = ctx->stats.pool_bytes_live;
        ctx->stats.pool_hits++;
        *class_bytes = cls;
        return CLF_OK;
    }
    if (cls > ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "buffer of %zu bytes exceeds the device's max allocation of %llu bytes",
                        bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    cl_mem m;
    cl_int err = clf_buffer_create(ctx, cls, &m);
    if (err != CL_SUCCESS) {
        /* Free pooled memory and try once more before giving up. */
        clf_pool_trim(ctx);
        err = clf_buffer_create(ctx, cls, &m);
        if (err != CL_SUCCESS) {
            clf_fail_cl(ctx, err, "clCreateBuffer");
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "cannot allocate %zu bytes on '%s': %s",
                            cls, ctx->info.name, clf_cl_error_name(err));
        }
    }
    ctx->stats.pool_misses++;
    ctx->stats.pool_bytes_live += cls;
    if (ctx->stats.pool_bytes_live > ctx->stats.pool_bytes_peak)
        ctx->stats.pool_bytes_peak = ctx->stats.pool_bytes_live;
    *mem = m;
    *class_bytes = cls;
    return CLF_OK;
}

void clf_pool_release(struct clf_ctx *ctx, cl_mem mem, size_t class_bytes)
{
    struct clf_pool *pool = &ctx->pool;
    ctx->stats.pool_bytes_live -= class_bytes;
    if (ctx->stats.pool_bytes_free + class_bytes <= pool->max_free_bytes) {
        if (pool->n_free == pool->cap_free) {
            size_t cap = pool->cap_free ? pool->cap_free * 2 : 16;
            struct clf_pool_buf *grown = realloc(pool->free_bufs, cap * sizeof *grown);
            if (!grown) {
                clReleaseMemObject(mem);
                return;
            }
            pool->free_bufs = grown;
            pool->cap_free = cap;
        }
        pool->free_bufs[pool->n_free].mem = mem;
        pool->free_bufs[pool->n_free].bytes = class_bytes;
        pool->n_free++;
        ctx->stats.pool_bytes_free += class_bytes;
        return;
    }
    clReleaseMemObject(mem);
}

void clf_pool_trim(struct clf_ctx *ctx)
{
    struct clf_pool *pool = &ctx->pool;
    for (size_t i = 0; i < pool->n_free; i++)
        clReleaseMemObject(pool->free_bufs[i].mem);
    pool->n_free = 0;
    ctx->stats.pool_bytes_free = 0;
}
