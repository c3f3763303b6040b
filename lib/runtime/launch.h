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

/* Work-items per work-group of clf_launch_rounded along dimension 0: a
 * multiple of the SIMD widths in use (16 AVX-512 float lanes, NVIDIA's 32,
 * AMD's 64), and small enough that a few hundred rows still make several
 * work-groups for the cores of a CPU device. */
#define CLF_ROUNDED_GROUP 64

/*
 * clf_launch in work-groups of a fixed shape, whatever the global sizes:
 * CLF_ROUNDED_GROUP work-items along dimension 0 (fewer where the device or
 * k allows fewer), 1 along the others, and global[0] rounded up to a whole
 * number of work-groups. The kernel must return at once, before any read
 * or write, for the work-items at or past the real global[0] (it is given
 * the size it covers: the common.cl guards).
 */
enum clf_status clf_launch_rounded(struct clf_ctx *ctx, cl_kernel k, cl_uint dims,
                                   const size_t *global, cl_uint n_wait, const cl_event *wait,
                                   cl_event *ev, const char *what);

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
