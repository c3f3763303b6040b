/*
 * The submission layer: every kernel launch and marker of the library goes
 * through clf_launch / clf_marker, so that while the executor records a
 * graph (clf_recorder_begin .. clf_recorder_end) they are recorded into a
 * command buffer (cl_khr_command_buffer) instead of enqueued.
 */
#ifndef CLF_RUNTIME_LAUNCH_H
#define CLF_RUNTIME_LAUNCH_H

#include "ctx.h"

/*
 * Enqueues k over `dims` global sizes in work-groups of `local` sizes on
 * ctx->queue, after the wait events; names `what` in an error. local is
 * never NULL (CLF_E_INVALID_ARG): a driver-chosen local size depends on the
 * global size, and PoCL compiles a kernel anew for every local size it
 * meets (0.1-1.5 s each), so that every new shape would compile again;
 * kernels that take any size go through clf_launch_rounded.
 * While a graph is recorded (ctx->rec set) the launch is recorded into the
 * command buffer instead: with a clone of k (arguments as set now), the
 * wait events translated to sync points, and *ev a stand-in event (see
 * struct clf_recorder).
 */
enum clf_status clf_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                           const size_t *local, cl_uint n_wait, const cl_event *wait, cl_event *ev,
                           const char *what);

/*
 * What one work-item of a clf_launch_rounded launch does, which sets the
 * work-group size (a property of the kernel and the device, never of the
 * shape). Measured on PoCL 3.1 (2-core AVX-512), BERT batch 8 x 18 tokens:
 *  CLF_WORK_ELEMENT  one element, a few operations: 4096 work-items per
 *                    group (PoCL's largest; a GPU's limit caps it); PoCL
 *                    runs a group as one vectorised loop and its own choice
 *                    is as large, and smaller groups cost more (64 made an
 *                    add of 55k elements 1.6x slower than PoCL's choice,
 *                    1024 still 1.1x);
 *  CLF_WORK_ROW      a row or another long loop: 8 per group on CPU devices,
 *                    so that a hundred rows still spread over the cores
 *                    (groups of 64 made LayerNorm of 144 rows 1.6x slower),
 *                    64 elsewhere (whole warps and wavefronts).
 */
enum clf_work { CLF_WORK_ELEMENT, CLF_WORK_ROW };

/*
 * clf_launch in work-groups of a fixed shape, whatever the global sizes:
 * the work-items of `work` along dimension 0 (fewer where the device or k
 * allows fewer), 1 along the others, and global[0] rounded up to a whole
 * number of work-groups. The kernel must return at once, before any read
 * or write, for the work-items at or past the real global[0] (it is given
 * the size it covers: the common.cl guards).
 */
enum clf_status clf_launch_rounded(struct clf_ctx *ctx, cl_kernel k, cl_uint dims,
                                   const size_t *global, enum clf_work work, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev, const char *what);

/* A marker after the wait events (*ev its event, may be NULL for none);
 * recorded as a barrier while recording. */
enum clf_status clf_marker(struct clf_ctx *ctx, cl_uint n_wait, const cl_event *wait,
                           cl_event *ev);

/*
 * A command buffer being recorded. Ops keep passing cl_event values around
 * unchanged: each recorded command's sync point is represented by a
 * stand-in, a user event already set complete (so it is an ordinary event
 * to retain, release or even wait for), and `evs`/`sps` map stand-ins back
 * to sync points when they appear in a later wait list. Events in a wait
 * list that are not stand-ins come from earlier runs (e.g. a derived
 * buffer's fill): they are waited for at record time and dropped.
 */
struct clf_recorder {
    cl_command_buffer_khr cb;
    cl_event *evs;            /* stand-ins (one reference each) */
    cl_sync_point_khr *sps;   /* their sync points */
    size_t n, cap;
    cl_kernel *kernels;       /* clones used by the recorded commands */
    size_t n_kernels, cap_kernels;
};

/* Creates r's command buffer on queues[0] and starts recording into it:
 * ctx->rec = r, and ctx->queue NULL so that anything not routed through
 * clf_launch / clf_marker fails instead of running. */
enum clf_status clf_recorder_begin(struct clf_ctx *ctx, struct clf_recorder *r);

/* Stops recording (ctx->queue back to queues[0]); when st, the status of
 * the recording, is CLF_OK, finalizes r's command buffer. Returns st or
 * the finalization's failure. */
enum clf_status clf_recorder_end(struct clf_ctx *ctx, struct clf_recorder *r,
                                 enum clf_status st);

/* Releases r's stand-in events (after recording: the command buffer and
 * the kernels stay). */
void clf_recorder_drop_events(struct clf_recorder *r);
/* Releases everything r holds: the command buffer, then the kernels. */
void clf_recorder_free(struct clf_ctx *ctx, struct clf_recorder *r);

/* Test hook: the n-th kernel launch from now (1: the next one) fails as if
 * the device returned CL_OUT_OF_RESOURCES, recorded or not; 0 disables. */
void clf_test_fail_launch_after(int n);

#endif
