/* The submission layer (see launch.h): launches, markers, recording. */
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "grow.h"
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

/* The update pass of this thread, if any (clf_set_arg keeps its values). */
static _Thread_local struct clf_recorder *capture;

/* r's shadow of k's arguments (made on k's first value in the pass), or
 * NULL on no memory or a failed query. */
static struct clf_arg_shadow *shadow_of(struct clf_recorder *r, cl_kernel k)
{
    for (size_t i = r->n_shadows; i-- > 0;)
        if (r->shadows[i].k == k)
            return &r->shadows[i];
    cl_uint n = 0;
    if (clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof n, &n, NULL) != CL_SUCCESS)
        return NULL;
    if (!clf_grow((void **)&r->shadows, &r->cap_shadows, r->n_shadows + 1, sizeof *r->shadows))
        return NULL;
    struct clf_arg_shadow *sh = &r->shadows[r->n_shadows];
    sh->k = k;
    sh->n = n;
    sh->a = calloc(n ? n : 1, sizeof *sh->a);
    if (!sh->a)
        return NULL;
    r->n_shadows++;
    return sh;
}

cl_int clf_set_arg(cl_kernel k, cl_uint index, size_t size, const void *value)
{
    cl_int err = clSetKernelArg(k, index, size, value);
    struct clf_recorder *r = capture;
    if (err != CL_SUCCESS || !r || r->lost)
        return err;
    struct clf_arg_shadow *sh = shadow_of(r, k);
    if (!sh || index >= sh->n ||
        (value && !clf_grow((void **)&r->vals, &r->cap_vals, r->n_vals + size, 1))) {
        r->lost = true;
        return err;
    }
    sh->a[index].index = index;
    sh->a[index].size = size;
    sh->a[index].at = value ? r->n_vals : SIZE_MAX;
    if (value) {
        memcpy(r->vals + r->n_vals, value, size);
        r->n_vals += size;
    }
    return err;
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

/* Keeps a recorded command of a mutable recording (kernel NULL: a
 * barrier) with its wait list sps[0..n_sps). */
static cl_int keep_cmd(struct clf_recorder *r, cl_kernel kernel, cl_mutable_command_khr handle,
                       cl_uint dims, const size_t *local, cl_sync_point_khr sp,
                       const cl_sync_point_khr *sps, cl_uint n_sps)
{
    if (!r->mutable_cb)
        return CL_SUCCESS;
    if (!clf_grow((void **)&r->cmds, &r->cap_cmds, r->n_cmds + 1, sizeof *r->cmds) ||
        !clf_grow((void **)&r->waits, &r->cap_waits, r->n_waits + n_sps, sizeof *r->waits))
        return CL_OUT_OF_HOST_MEMORY;
    struct clf_rec_cmd *c = &r->cmds[r->n_cmds++];
    memset(c, 0, sizeof *c);
    c->kernel = kernel;
    c->handle = handle;
    c->dims = dims;
    for (cl_uint d = 0; kernel && d < dims; d++)
        c->local[d] = local[d];
    c->sp = sp;
    c->wait_at = r->n_waits;
    c->n_wait = n_sps;
    if (n_sps)
        memcpy(r->waits + r->n_waits, sps, n_sps * sizeof *sps);
    r->n_waits += n_sps;
    return CL_SUCCESS;
}

/* The recorded command an update pass meets next, if it is a launch of
 * kernel (NULL: a barrier) over dims with local sizes `local` and the wait
 * list sps[0..n_sps); else NULL. */
static const struct clf_rec_cmd *meet(struct clf_recorder *r, cl_kernel kernel, cl_uint dims,
                                      const size_t *local, const cl_sync_point_khr *sps,
                                      cl_uint n_sps)
{
    if (r->cursor >= r->n_cmds)
        return NULL;
    const struct clf_rec_cmd *c = &r->cmds[r->cursor];
    if (c->kernel != kernel || c->n_wait != n_sps ||
        (n_sps && memcmp(r->waits + c->wait_at, sps, n_sps * sizeof *sps)))
        return NULL;
    if (kernel && (c->dims != dims || memcmp(c->local, local, dims * sizeof *local)))
        return NULL;
    r->cursor++;
    return c;
}

/* An update pass's launch of k: the next recorded command must be k's
 * (see meet) and every argument of k set in this pass; its update (the
 * arguments' values as set now and the global size) is kept for
 * clf_recorder_update_end. CL_INVALID_OPERATION for a mismatch. */
static cl_int update_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                            const size_t *local, const cl_sync_point_khr *sps, cl_uint n_sps,
                            cl_event *ev)
{
    struct clf_recorder *r = ctx->rec;
    const struct clf_rec_cmd *c = meet(r, k, dims, local, sps, n_sps);
    if (!c)
        return CL_INVALID_OPERATION;
    struct clf_arg_shadow *sh = r->lost ? NULL : shadow_of(r, k);
    if (!sh)
        return CL_OUT_OF_HOST_MEMORY;
    const cl_uint n = sh->n;
    for (cl_uint i = 0; i < n; i++)
        if (!sh->a[i].size)
            return CL_INVALID_OPERATION; /* set before the pass: unknown here */
    if (!clf_grow((void **)&r->upds, &r->cap_upds, r->n_upds + 1, sizeof *r->upds) ||
        !clf_grow((void **)&r->args, &r->cap_args, r->n_args + n, sizeof *r->args))
        return CL_OUT_OF_HOST_MEMORY;
    struct clf_rec_update *u = &r->upds[r->n_upds++];
    memset(u, 0, sizeof *u);
    u->cmd = (size_t)(c - r->cmds);
    for (cl_uint d = 0; d < dims; d++)
        u->global[d] = global[d];
    u->arg_at = r->n_args;
    u->n_args = n;
    if (n)
        memcpy(r->args + r->n_args, sh->a, n * sizeof *sh->a);
    r->n_args += n;
    return record_result(ctx, r, c->sp, ev);
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
    if (r->updating) {
        if (err == CL_SUCCESS)
            err = update_launch(ctx, k, dims, global, local, sps, n_sps, ev);
        if (sps != stack)
            free(sps);
        return err;
    }
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
        cl_mutable_command_khr handle = NULL;
        /* arguments and global sizes updatable; the local sizes stay */
        const cl_ulong props[] = {CL_MUTABLE_DISPATCH_UPDATABLE_FIELDS_KHR,
                                  CL_MUTABLE_DISPATCH_ARGUMENTS_KHR |
                                      CL_MUTABLE_DISPATCH_GLOBAL_SIZE_KHR,
                                  0};
        err = ctx->cb.ndrange(r->cb, NULL, r->mutable_cb ? props : NULL, kc, dims, NULL, global,
                              local, n_sps, n_sps ? sps : NULL, &sp,
                              r->mutable_cb ? &handle : NULL);
        if (err == CL_SUCCESS)
            err = keep_cmd(r, k, handle, dims, local, sp, sps, n_sps);
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
        if (err == CL_INVALID_OPERATION && ctx->rec->updating)
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "%s: a launch unlike the recording's command %zu (or with an "
                            "argument set before the update)",
                            what, ctx->rec->cursor);
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
        if (err == CL_SUCCESS && r->updating) { /* the recorded barrier's sync point */
            const struct clf_rec_cmd *met = meet(r, NULL, 0, NULL, sps, n_sps);
            if (!met) {
                if (sps != stack)
                    free(sps);
                return clf_fail(ctx, CLF_E_UNSUPPORTED,
                                "a barrier unlike the recording's command %zu", r->cursor);
            }
            sp = met->sp;
        } else if (err == CL_SUCCESS) {
            err = ctx->cb.barrier_props
                      ? ctx->cb.barrier_props(r->cb, NULL, NULL, n_sps, n_sps ? sps : NULL, &sp,
                                              NULL)
                      : ctx->cb.barrier(r->cb, NULL, n_sps, n_sps ? sps : NULL, &sp, NULL);
            if (err == CL_SUCCESS)
                err = keep_cmd(r, NULL, NULL, 0, NULL, sp, sps, n_sps);
        }
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

/* Frees an update pass's state. */
static void pass_free(struct clf_recorder *r)
{
    for (size_t i = 0; i < r->n_shadows; i++)
        free(r->shadows[i].a);
    free(r->shadows);
    free(r->vals);
    free(r->args);
    free(r->upds);
    r->shadows = NULL;
    r->vals = NULL;
    r->args = NULL;
    r->upds = NULL;
    r->n_shadows = r->cap_shadows = r->n_vals = r->cap_vals = r->n_args = r->cap_args = 0;
    r->n_upds = r->cap_upds = 0;
    r->lost = false;
    r->updating = false;
}

void clf_recorder_free(struct clf_ctx *ctx, struct clf_recorder *r)
{
    clf_recorder_drop_events(r);
    pass_free(r);
    if (r->cb)
        ctx->cb.release(r->cb);
    r->cb = NULL;
    for (size_t i = 0; i < r->n_kernels; i++)
        clReleaseKernel(r->kernels[i]);
    free(r->kernels);
    r->kernels = NULL;
    r->n_kernels = r->cap_kernels = 0;
    free(r->cmds);
    free(r->waits);
    r->cmds = NULL;
    r->waits = NULL;
    r->n_cmds = r->cap_cmds = r->n_waits = r->cap_waits = 0;
    r->mutable_cb = false;
    r->nodes = 0;
}

enum clf_status clf_recorder_begin(struct clf_ctx *ctx, struct clf_recorder *r)
{
    cl_int err = CL_SUCCESS;
    const cl_command_buffer_properties_khr props[] = {CL_COMMAND_BUFFER_FLAGS_KHR,
                                                      CL_COMMAND_BUFFER_MUTABLE_KHR, 0};
    r->mutable_cb = ctx->cb.update != NULL;
    r->cb = ctx->cb.create(1, &ctx->queues[0], r->mutable_cb ? props : NULL, &err);
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
    if (err == CL_SUCCESS)
        ctx->cb_recorded++;
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clFinalizeCommandBufferKHR");
}

enum clf_status clf_recorder_update_begin(struct clf_ctx *ctx, struct clf_recorder *r)
{
    if (!r->cb || !r->mutable_cb || !ctx->cb.update)
        return clf_fail(ctx, CLF_E_UNSUPPORTED, "the recording is not mutable");
    pass_free(r);
    r->updating = true;
    r->cursor = 0;
    capture = r;
    ctx->rec = r;
    ctx->queue = NULL;
    return CLF_OK;
}

enum clf_status clf_recorder_update_end(struct clf_ctx *ctx, struct clf_recorder *r,
                                        enum clf_status st)
{
    capture = NULL;
    ctx->rec = NULL;
    ctx->queue = ctx->queues[0];
    if (st == CLF_OK && r->cursor != r->n_cmds)
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "the update met %zu of the recording's %zu commands", r->cursor,
                      r->n_cmds);
    size_t n = r->n_upds;
    struct clf_mutable_dispatch_config *cfg = NULL;
    cl_mutable_dispatch_arg_khr *args = NULL;
    const void **ptrs = NULL;
    cl_uint *types = NULL;
    if (st == CLF_OK) {
        cfg = calloc(n ? n : 1, sizeof *cfg);
        args = calloc(r->n_args ? r->n_args : 1, sizeof *args);
        ptrs = calloc(n ? n : 1, sizeof *ptrs);
        types = calloc(n ? n : 1, sizeof *types);
        if (!cfg || !args || !ptrs || !types)
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to update a recording");
    }
    if (st == CLF_OK) {
        for (size_t i = 0; i < r->n_args; i++) {
            args[i].arg_index = r->args[i].index;
            args[i].arg_size = r->args[i].size;
            args[i].arg_value = r->args[i].at == SIZE_MAX ? NULL : r->vals + r->args[i].at;
        }
        for (size_t i = 0; i < n; i++) {
            const struct clf_rec_update *u = &r->upds[i];
            cfg[i].command = r->cmds[u->cmd].handle;
            cfg[i].num_args = u->n_args;
            cfg[i].arg_list = u->n_args ? args + u->arg_at : NULL;
            cfg[i].work_dim = r->cmds[u->cmd].dims;
            cfg[i].global_work_size = u->global;
            types[i] = CLF_MUTABLE_DISPATCH_CONFIG;
            ptrs[i] = &cfg[i];
        }
        cl_int err = CL_SUCCESS;
        if (n && !clf_fault(CLF_FAULT_ENQUEUE, &err))
            err = ctx->cb.update(r->cb, (cl_uint)n, types, ptrs);
        if (err != CL_SUCCESS)
            st = clf_fail_cl(ctx, err, "clUpdateMutableCommandsKHR");
        else
            ctx->cb_updated++;
    }
    free(cfg);
    free(args);
    free(ptrs);
    free(types);
    pass_free(r);
    return st;
}

void clf_recorder_keep_spare(struct clf_ctx *ctx, struct clf_recorder *r)
{
    struct clf_recorder *spare = NULL;
    if (!r->cb || !r->mutable_cb || ctx->freeing || !(spare = malloc(sizeof *spare))) {
        clf_recorder_free(ctx, r);
        return;
    }
    clf_recorder_drop_events(r);
    pass_free(r);
    *spare = *r;
    memset(r, 0, sizeof *r);
    if (ctx->n_spares == CLF_SPARE_RECORDINGS) { /* the oldest goes */
        clf_recorder_free(ctx, ctx->spares[0]);
        free(ctx->spares[0]);
        memmove(ctx->spares, ctx->spares + 1, (size_t)(ctx->n_spares - 1) * sizeof *ctx->spares);
        ctx->n_spares--;
    }
    ctx->spares[ctx->n_spares++] = spare;
}

bool clf_recorder_take_spare(struct clf_ctx *ctx, size_t nodes, struct clf_recorder *r)
{
    for (int i = ctx->n_spares; ctx->cb.update && i-- > 0;) {
        if (ctx->spares[i]->nodes != nodes)
            continue;
        clf_recorder_free(ctx, r);
        *r = *ctx->spares[i];
        free(ctx->spares[i]);
        memmove(ctx->spares + i, ctx->spares + i + 1,
                (size_t)(ctx->n_spares - i - 1) * sizeof *ctx->spares);
        ctx->n_spares--;
        return true;
    }
    return false;
}

void clf_recorder_spares_free(struct clf_ctx *ctx)
{
    for (int i = 0; i < ctx->n_spares; i++) {
        clf_recorder_free(ctx, ctx->spares[i]);
        free(ctx->spares[i]);
    }
    ctx->n_spares = 0;
}
