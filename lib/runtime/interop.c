/*
 * A caller's OpenCL objects (clformer/opencl.h): a context over the
 * caller's cl_context, device and queue, and a tensor over the caller's
 * cl_mem. Each is retained while clformer uses it and released after;
 * the caller keeps its own references.
 */
#include "device.h"
#include "tensor.h"

/* The caller's objects handed to clf_ctx_create_with. */
struct cl_objects {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue;
};

/* Opens the device of a wrapped context: checks that the queue is the
 * context's on that device, probes the device, retains the three. */
static enum clf_status adopt(struct clf_ctx *ctx, const struct clf_ctx_params *p, void *user)
{
    const struct cl_objects *o = user;
    if (!o->context || !o->device || !o->queue)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_ctx_wrap_cl: NULL %s",
                        !o->context ? "context" : !o->device ? "device" : "queue");
    if (p->queues > 1)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "queues %d: a context over a caller's queue runs on that queue alone "
                        "(queues 0 or 1)",
                        p->queues);
    cl_context qctx = NULL;
    cl_device_id qdev = NULL;
    cl_command_queue_properties qp = 0;
    cl_int err = clGetCommandQueueInfo(o->queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(o->queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL);
    if (err == CL_SUCCESS)
        err = clGetCommandQueueInfo(o->queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_ctx_wrap_cl: not a command queue (%s)",
                        clf_cl_error_name(err));
    if (qctx != o->context)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "clf_ctx_wrap_cl: the queue belongs to another OpenCL context");
    if (qdev != o->device)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "clf_ctx_wrap_cl: the queue is on another device");
    clf_device_describe(o->device, &ctx->platform, &ctx->info);
    clRetainDevice(o->device);
    clRetainContext(o->context);
    clRetainCommandQueue(o->queue);
    ctx->wrapped = true;
    ctx->device = o->device;
    ctx->context = o->context;
    ctx->queues[0] = ctx->queue = o->queue;
    ctx->n_queues = 1;
    ctx->queue_out_of_order = (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    ctx->profiling = (qp & CL_QUEUE_PROFILING_ENABLE) != 0;
    return CLF_OK;
}

enum clf_status clf_ctx_wrap_cl(const struct clf_ctx_params *params, cl_context context,
                                cl_device_id device, cl_command_queue queue, struct clf_ctx **out)
{
    struct cl_objects o = {context, device, queue};
    return clf_ctx_create_with(params, adopt, &o, out);
}

enum clf_status clf_tensor_wrap_cl(struct clf_ctx *ctx, cl_mem mem, enum clf_dtype dtype,
                                   int ndim, const int64_t *shape, int64_t offset,
                                   struct clf_tensor **out)
{
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!mem)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tensor_wrap_cl: NULL buffer");
    cl_mem_object_type type = 0;
    cl_context owner = NULL;
    size_t size = 0;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    if (err == CL_SUCCESS)
        err = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tensor_wrap_cl: not a memory object (%s)",
                        clf_cl_error_name(err));
    if (type != CL_MEM_OBJECT_BUFFER)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tensor_wrap_cl: not a buffer (an image?)");
    if (owner != ctx->context)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "clf_tensor_wrap_cl: the buffer belongs to another OpenCL context");
    /* a dense tensor without memory of its own (checks dtype and shape) */
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_tensor_new_planned(ctx, NULL, NULL, dtype, ndim, shape, &t);
    if (st != CLF_OK)
        return st;
    size_t es = clf_dtype_size(dtype);
    size_t numel = t->storage->bytes / es, room = size / es;
    if (offset < 0 || (uint64_t)offset > room || numel > room - (size_t)offset) {
        clf_tensor_free(t);
        return clf_fail(ctx, CLF_E_SHAPE,
                        "clf_tensor_wrap_cl: %zu elements at offset %lld do not fit in a buffer "
                        "of %zu bytes (%zu %s elements)",
                        numel, (long long)offset, size, room, clf_dtype_str(dtype));
    }
    clRetainMemObject(mem);
    t->storage->mem = mem;
    t->storage->wrapped = true;
    t->storage->bytes = room * es; /* views may address the whole buffer */
    t->offset = offset;
    *out = t;
    return CLF_OK;
}
