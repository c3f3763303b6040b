/* Host <-> device transfers of tensors, and the strided copy (cl/copy.cl)
 * that gathers or scatters non-contiguous views through a dense buffer. */
#include <stdlib.h>

#include "fault.h"
#include "launch.h"
#include "program.h"
#include "tensor.h"

enum clf_status clf_copy_enqueue(struct clf_ctx *ctx, const struct clf_tensor *src,
                                 const struct clf_tensor *dst, cl_uint n_wait,
                                 const cl_event *wait, cl_event *ev)
{
    static const char *names[] = {NULL, "copy_u8", "copy_u16", NULL, "copy_u32"};
    size_t es = clf_dtype_size(src->dtype);
    if (es != clf_dtype_size(dst->dtype) || !clf_same_shape(src, dst))
        return clf_fail(ctx, CLF_E_SHAPE, "copy between tensors of different shape or dtype");
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "copy", NULL, names[es], &k);
    if (st != CLF_OK)
        return st;
    cl_long4 sshape, sstr, dshape, dstr;
    cl_long soff, doff;
    clf_tensor_layout4(src, &sshape, &sstr, &soff);
    clf_tensor_layout4(dst, &dshape, &dstr, &doff);
    cl_int err = 0;
    err |= clf_set_arg(k, 0, sizeof(cl_mem), &src->storage->mem);
    err |= clf_set_arg(k, 1, sizeof soff, &soff);
    err |= clf_set_arg(k, 2, sizeof sstr, &sstr);
    err |= clf_set_arg(k, 3, sizeof(cl_mem), &dst->storage->mem);
    err |= clf_set_arg(k, 4, sizeof doff, &doff);
    err |= clf_set_arg(k, 5, sizeof dstr, &dstr);
    err |= clf_set_arg(k, 6, sizeof sshape, &sshape);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", names[es]);
    size_t global = (size_t)clf_tensor_numel(src);
    /* through clf_launch: recorded when the executor records a graph */
    return clf_launch_rounded(ctx, k, 1, &global, CLF_WORK_ELEMENT, n_wait, wait, ev, names[es]);
}

/* Checks a transfer's arguments; *bytes_needed receives numel * dtype size. */
static enum clf_status check_transfer(struct clf_tensor *t, const void *host, size_t bytes)
{
    if (!t)
        return CLF_E_INVALID_ARG;
    if (!host)
        return clf_fail(t->ctx, CLF_E_INVALID_ARG, "NULL host pointer");
    size_t need = (size_t)clf_tensor_numel(t) * clf_dtype_size(t->dtype);
    if (bytes != need)
        return clf_fail(t->ctx, CLF_E_SHAPE, "transfer of %zu bytes for a %s tensor of %zu bytes",
                        bytes, clf_dtype_str(t->dtype), need);
    return CLF_OK;
}

/* A tensor of planned storage is readable when its planner says so (a
 * graph's tensor: once the graph has run, see lib/graph/plan.c). */
static enum clf_status check_readable(const struct clf_tensor *t)
{
    const struct clf_storage *s = t->storage;
    return s->hooks ? s->hooks->check_readable(t->ctx, s->planner) : CLF_OK;
}

/* Writing a tensor of planned storage gives it memory first (a graph's
 * tensor: the graph plans, e.g. to poison outputs before a run). */
static enum clf_status ensure_memory(struct clf_tensor *t)
{
    const struct clf_storage *s = t->storage;
    return s->hooks ? s->hooks->ensure_memory(s->planner) : CLF_OK;
}

/*
 * Writes bytes of src into mem at offset and waits until the buffer holds
 * them. A blocking write alone is not enough: it only promises that src
 * may be reused when it returns, and on an out-of-order queue nothing
 * orders the write before the commands enqueued after it (Intel's CPU
 * runtime 2026.2 returns before the bytes are in the buffer: a kernel or a
 * read enqueued next saw the old ones), so the write's event is waited for.
 */
static cl_int write_done(struct clf_ctx *ctx, cl_mem mem, size_t offset, size_t bytes,
                         const void *src)
{
    cl_event ev = NULL;
    cl_int err = clf_fault(CLF_FAULT_ENQUEUE, &err)
                     ? err
                     : clEnqueueWriteBuffer(ctx->queue, mem, CL_TRUE, offset, bytes, src, 0,
                                            NULL, &ev);
    if (err == CL_SUCCESS)
        err = clf_fault(CLF_FAULT_WAIT, &err) ? err : clWaitForEvents(1, &ev);
    if (ev)
        clReleaseEvent(ev);
    return err;
}

/* Runs a copy and waits for it. */
static enum clf_status copy_sync(struct clf_ctx *ctx, const struct clf_tensor *src,
                                 const struct clf_tensor *dst)
{
    cl_event ev = NULL;
    enum clf_status st = clf_copy_enqueue(ctx, src, dst, 0, NULL, &ev);
    if (st != CLF_OK)
        return st;
    cl_int err = clf_fault(CLF_FAULT_WAIT, &err) ? err : clWaitForEvents(1, &ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clWaitForEvents(copy)");
}

enum clf_status clf_tensor_write(struct clf_tensor *t, const void *src, size_t bytes)
{
    enum clf_status st = check_transfer(t, src, bytes);
    if (st == CLF_OK)
        st = ensure_memory(t);
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = t->ctx;
    size_t es = clf_dtype_size(t->dtype);
    t->storage->version++;
    if (clf_tensor_is_contiguous(t)) {
        cl_int err = write_done(ctx, t->storage->mem, (size_t)t->offset * es, bytes, src);
        return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueWriteBuffer");
    }
    for (int i = 0; i < t->ndim; i++)
        if (t->strides[i] == 0 && t->shape[i] > 1)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "cannot write a view whose elements overlap (stride 0, dim %d)", i);
    struct clf_tensor *tmp = NULL;
    st = clf_tensor_new(ctx, t->dtype, t->ndim, t->shape, &tmp);
    if (st != CLF_OK)
        return st;
    cl_int err = write_done(ctx, tmp->storage->mem, 0, bytes, src);
    st = err == CL_SUCCESS ? copy_sync(ctx, tmp, t) : clf_fail_cl(ctx, err, "clEnqueueWriteBuffer");
    clf_tensor_free(tmp);
    return st;
}

enum clf_status clf_tensor_fill(struct clf_tensor *t, clf_fill_fn fill, void *user)
{
    if (!t || !fill)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = t->ctx;
    if (!clf_tensor_is_contiguous(t))
        return clf_fail(ctx, CLF_E_SHAPE, "filling a view that is not contiguous");
    enum clf_status st = ensure_memory(t);
    if (st != CLF_OK)
        return st;
    size_t es = clf_dtype_size(t->dtype), bytes = (size_t)clf_tensor_numel(t) * es;
    cl_int err = CL_SUCCESS;
    void *p = clf_fault(CLF_FAULT_ENQUEUE, &err) ? NULL
              : clEnqueueMapBuffer(ctx->queue, t->storage->mem, CL_TRUE,
                                   CL_MAP_WRITE_INVALIDATE_REGION, (size_t)t->offset * es, bytes,
                                   0, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clEnqueueMapBuffer");
    t->storage->version++;
    st = fill(user, p, bytes);
    cl_event ev = NULL;
    err = clEnqueueUnmapMemObject(ctx->queue, t->storage->mem, p, 0, NULL, &ev);
    if (err == CL_SUCCESS)
        err = clWaitForEvents(1, &ev);
    if (ev)
        clReleaseEvent(ev);
    if (err != CL_SUCCESS && st == CLF_OK)
        st = clf_fail_cl(ctx, err, "clEnqueueUnmapMemObject");
    return st;
}

enum clf_status clf_tensor_read(struct clf_tensor *t, void *dst, size_t bytes)
{
    enum clf_status st = check_transfer(t, dst, bytes);
    if (st == CLF_OK)
        st = check_readable(t);
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = t->ctx;
    size_t es = clf_dtype_size(t->dtype);
    if (clf_tensor_is_contiguous(t)) {
        cl_int err = clf_fault(CLF_FAULT_ENQUEUE, &err) ? err : clEnqueueReadBuffer(ctx->queue, t->storage->mem, CL_TRUE,
                                         (size_t)t->offset * es, bytes, dst, 0, NULL, NULL);
        return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueReadBuffer");
    }
    struct clf_tensor *tmp = NULL;
    st = clf_tensor_new(ctx, t->dtype, t->ndim, t->shape, &tmp);
    if (st != CLF_OK)
        return st;
    st = copy_sync(ctx, t, tmp);
    if (st == CLF_OK) {
        cl_int err = clf_fault(CLF_FAULT_ENQUEUE, &err) ? err : clEnqueueReadBuffer(ctx->queue, tmp->storage->mem, CL_TRUE, 0, bytes, dst,
                                         0, NULL, NULL);
        if (err != CL_SUCCESS)
            st = clf_fail_cl(ctx, err, "clEnqueueReadBuffer");
    }
    clf_tensor_free(tmp);
    return st;
}
