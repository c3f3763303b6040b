/* The submission layer (see launch.h): launches, markers, recording. */
#include <stdlib.h>

#include "fault.h"
#include "launch.h"

void clf_test_fail_launch_after(int n)
{
    clf_fault_arm(CLF_FAULT_LAUNCH, n > 0 ? (unsigned long)n : 0, CL_OUT_OF_RESOURCES);
}

static enum clf_status launch_failed(struct clf_ctx *ctx, cl_int err, const char *what)
{
    return clf_fail(ctx, err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                                 err == CL_OUT_OF_HOST_MEMORY
                             ? CLF_E_OUT_OF_MEMORY
                             : CLF_E_OPENCL,
                    "enqueueing %s failed: %s (%d)", what, clf_cl_error_name(err), (int)err);
}

/* Keeps a command's event in ctx->run_evs while the executor times a run
 * (no memory to grow the array ends the tracking: the nodes enqueued after
 * are timed from their last command alone). */
static void track(struct clf_ctx *ctx, cl_event e)
{
    if (!ctx->track || !e)
        return;
    if (ctx->n_run_evs == ctx->cap_run_evs) {
        size_t cap = ctx->cap_run_evs ? 2 * ctx->cap_run_evs : 256;
        cl_event *grown = realloc(ctx->run_evs, cap * sizeof *grown);
        if (!grown) {
            ctx->track = false;
            return;
        }
        ctx->run_evs = grown;
        ctx->cap_run_evs = cap;
    }
    clRetainEvent(e);
    ctx->run_evs[ctx->n_run_evs++] = e;
}

/* Translates a wait list into r's sync points (sps: room for n_wait). */
static cl_int record_waits(struct clf_recorder *r, cl_uint n_wait, const cl_event *wait,
                           cl_sync_point_khr *sps, cl_uint *n_sps)
{
    *n_sps = 0;
    for (cl_uint i = 0; i < n_wait; i++) {
        if (!wait[i])
            continue;
        size_t j = r->n;
        while (j > 0 && r->evs[j - 1] != wait[i])
            j--;
        if (j > 0) {
            sps[(*n_sps)++] = r->sps[j - 1];
            continue;
        }
        /* not recorded here: an event of an earlier run, complete before
         * the command buffer can run */
        cl_int err = clf_fault(CLF_FAULT_WAIT, &err) ? err : clWaitForEvents(1, &wait[i]);
        if (err != CL_SUCCESS)
            return err;
    }
    return CL_SUCCESS;
}

/* Makes the stand-in event of sync point sp (kept in r, one reference for
 * the caller in *ev when ev is not NULL). */
static cl_int record_result(struct clf_ctx *ctx, struct clf_recorder *r, cl_sync_point_khr sp,
                            cl_event *ev)
{
    if (!ev)
        return CL_SUCCESS;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        cl_event *evs = realloc(r->evs, cap * sizeof *evs);
        if (!evs)
            return CL_OUT_OF_HOST_MEMORY;
        r->evs = evs;
        cl_sync_point_khr *sps = realloc(r->sps, cap * sizeof *sps);
        if (!sps)
            return CL_OUT_OF_HOST_MEMORY;
        r->sps = sps;
        r->cap = cap;
    }
    cl_int err = CL_SUCCESS;
    cl_event e = clCreateUserEvent(ctx->context, &err);
    if (err != CL_SUCCESS)
        return err;
    err = clSetUserEventStatus(e, CL_COMPLETE);
    if (err != CL_SUCCESS) {
        clReleaseEvent(e);
        return err;
    }
    r->evs[r->n] = e;
    r->sps[r->n++] = sp;
    clRetainEvent(e);
    *ev = e;
    return CL_SUCCESS;
}

/* Records k (cloned: its arguments as set now) into ctx->rec. */
static cl_int record_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                            const size_t *local, cl_uint n_wait, const cl_event *wait,
                            cl_event *ev)
{
    struct clf_recorder *r = ctx->rec;
    cl_sync_point_khr stack[8], *sps = n_wait <= 8 ? stack : malloc(n_wait * sizeof *sps);
    if (!sps)
        return CL_OUT_OF_HOST_MEMORY;
    cl_uint n_sps = 0;
    cl_int err = record_waits(r, n_wait, wait, sps, &n_sps);
    cl_kernel kc = NULL;
    if (err == CL_SUCCESS && r->n_kernels == r->cap_kernels) {
        size_t cap = r->cap_kernels ? 2 * r->cap_kernels : 64;
        cl_kernel *ks = realloc(r->kernels, cap * sizeof *ks);
        if (ks) {
            r->kernels = ks;
            r->cap_kernels = cap;
        } else {
            err = CL_OUT_OF_HOST_MEMORY;
        }
    }
    if (err == CL_SUCCESS)
        kc = clf_clone_kernel(ctx, k, &err);
    if (err == CL_SUCCESS) {
        r->kernels[r->n_kernels++] = kc;
        cl_sync_point_khr sp = 0;
        err = ctx->cb.ndrange(r->cb, NULL, NULL, kc, dims, NULL, global, local, n_sps,
                              n_sps ? sps : NULL, &sp, NULL);
        if (err == CL_SUCCESS)
            err = record_result(ctx, r, sp, ev);
    }
    if (sps != stack)
        free(sps);
    return err;
}

enum clf_status clf_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                           const size_t *local, cl_uint n_wait, const cl_event *wait, cl_event *ev,
                           const char *what)
{
    if (ev)
        *ev = NULL;
    if (!local)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s launched without a local size", what);
    cl_int ferr = CL_SUCCESS;
    if (clf_fault(CLF_FAULT_LAUNCH, &ferr) || clf_fault(CLF_FAULT_ENQUEUE, &ferr))
        return launch_failed(ctx, ferr, what);
    if (ctx->rec) {
        cl_int err = record_launch(ctx, k, dims, global, local, n_wait, wait, ev);
        return err == CL_SUCCESS ? CLF_OK : launch_failed(ctx, err, what);
    }
    cl_event own = NULL;
    cl_event *out = ev ? ev : ctx->track ? &own : NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, global, local, n_wait,
                                        n_wait ? wait : NULL, out);
    if (err != CL_SUCCESS)
        return launch_failed(ctx, err, what);
    if (out)
        track(ctx, *out);
    if (own)
        clReleaseEvent(own);
    return CLF_OK;
}

enum clf_status clf_launch_rounded(struct clf_ctx *ctx, cl_kernel k, cl_uint dims,
                                   const size_t *global, enum clf_work work, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev, const char *what)
{
    size_t group = work == CLF_WORK_ELEMENT            ? 4096
                   : ctx->info.type == CLF_DEVICE_CPU ? 8
                                                      : 64;
    size_t kmax = 0, local[3] = {group, 1, 1}, rounded[3];
    if (ev)
        *ev = NULL;
    if (dims < 1 || dims > 3)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s launched over %u dimensions", what, dims);
    /* the kernel's own limit (registers, local memory) and the device's:
     * properties of k and the device, never of the shape */
    cl_int err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                          &kmax, NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clGetKernelWorkGroupInfo");
    while (local[0] > 1 && ((kmax && local[0] > kmax) ||
                            (ctx->info.max_work_group_size &&
                             local[0] > ctx->info.max_work_group_size)))
        local[0] /= 2;
    for (cl_uint d = 0; d < dims; d++)
        rounded[d] = (global[d] + local[d] - 1) / local[d] * local[d];
    return clf_launch(ctx, k, dims, rounded, local, n_wait, wait, ev, what);
}

enum clf_status clf_marker(struct clf_ctx *ctx, cl_uint n_wait, const cl_event *wait,
                           cl_event *ev)
{
    if (ev)
        *ev = NULL;
    cl_int err;
    if (clf_fault(CLF_FAULT_ENQUEUE, &err))
        return clf_fail_cl(ctx, err, "clEnqueueMarkerWithWaitList");
    if (ctx->rec) {
        struct clf_recorder *r = ctx->rec;
        cl_sync_point_khr stack[8], *sps = n_wait <= 8 ? stack : malloc(n_wait * sizeof *sps);
        if (!sps)
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to record a barrier");
        cl_uint n_sps = 0;
        err = record_waits(r, n_wait, wait, sps, &n_sps);
        cl_sync_point_khr sp = 0;
        if (err == CL_SUCCESS)
            err = ctx->cb.barrier_props
                      ? ctx->cb.barrier_props(r->cb, NULL, NULL, n_sps, n_sps ? sps : NULL, &sp,
                                              NULL)
                      : ctx->cb.barrier(r->cb, NULL, n_sps, n_sps ? sps : NULL, &sp, NULL);
        if (err == CL_SUCCESS)
            err = record_result(ctx, r, sp, ev);
        if (sps != stack)
            free(sps);
        return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clCommandBarrierWithWaitListKHR");
    }
    /* not tracked: a marker does no work, and a runtime may time it from
     * its enqueueing (a node made of markers alone is timed by its last) */
    err = clEnqueueMarkerWithWaitList(ctx->queue, n_wait, n_wait ? wait : NULL, ev);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueMarkerWithWaitList");
}

void clf_recorder_drop_events(struct clf_recorder *r)
{
    for (size_t i = 0; i < r->n; i++)
        clReleaseEvent(r->evs[i]);
    free(r->evs);
    free(r->sps);
    r->evs = NULL;
    r->sps = NULL;
    r->n = r->cap = 0;
}

void clf_recorder_free(struct clf_ctx *ctx, struct clf_recorder *r)
{
    clf_recorder_drop_events(r);
    if (r->cb)
        ctx->cb.release(r->cb);
    r->cb = NULL;
    for (size_t i = 0; i < r->n_kernels; i++)
        clReleaseKernel(r->kernels[i]);
    free(r->kernels);
    r->kernels = NULL;
    r->n_kernels = r->cap_kernels = 0;
}


enum clf_status clf_recorder_begin(struct clf_ctx *ctx, struct clf_recorder *r)
{
    cl_int err = CL_SUCCESS;
    r->cb = ctx->cb.create(1, &ctx->queues[0], NULL, &err);
    if (err != CL_SUCCESS || !r->cb)
        return clf_fail_cl(ctx, err != CL_SUCCESS ? err : CL_INVALID_VALUE,
                           "clCreateCommandBufferKHR");
    ctx->rec = r;
    ctx->queue = NULL;
    return CLF_OK;
}

enum clf_status clf_recorder_end(struct clf_ctx *ctx, struct clf_recorder *r, enum clf_status st)
{
    ctx->rec = NULL;
    ctx->queue = ctx->queues[0];
    if (st != CLF_OK)
        return st;
    cl_int err = ctx->cb.finalize(r->cb);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clFinalizeCommandBufferKHR");
}
