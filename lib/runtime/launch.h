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
 * Sets argument `index` of k (clSetKernelArg), the way every argument of
 * the library is set: while a recording is brought up to date
 * (clf_recorder_update_begin) the value is also kept for the update. The
 * pass is per thread (a context is used by one thread at a time, and the
 * argument sites do not all see the context).
 */
cl_int clf_set_arg(cl_kernel k, cl_uint index, size_t size, const void *value);

/* One recorded command, kept where the command buffer is mutable
 * (cl_khr_command_buffer_mutable_dispatch) so that a later pass can match
 * its launches to them. */
struct clf_rec_cmd {
    cl_kernel kernel;               /* the kernel launched (the context's own,
                                       not the clone); NULL: a barrier */
    cl_mutable_command_khr handle;  /* the launch's handle for updates */
    cl_uint dims;
    size_t local[3];
    cl_sync_point_khr sp;           /* its sync point */
    size_t wait_at, n_wait;         /* its wait list: waits[wait_at ..] */
};

/* An argument value kept by an update pass: its bytes at vals[at]
 * (SIZE_MAX: NULL, a local-memory size). */
struct clf_rec_arg {
    cl_uint index;
    size_t size, at;
};

/* The latest values an update pass set on one kernel's arguments. */
struct clf_arg_shadow {
    cl_kernel k;
    cl_uint n;                      /* the kernel's arguments */
    struct clf_rec_arg *a;          /* [n]; size 0: not set in this pass */
};

/* One launch's update: command cmd, its new global size, its arguments
 * args[arg_at .. arg_at + n_args). */
struct clf_rec_update {
    size_t cmd;
    size_t global[3];
    size_t arg_at;
    cl_uint n_args;
};

/*
 * A command buffer being recorded. Ops keep passing cl_event values around
 * unchanged: each recorded command's sync point is represented by a
 * stand-in, a user event already set complete (so it is an ordinary event
 * to retain, release or even wait for), and `evs`/`sps` map stand-ins back
 * to sync points when they appear in a later wait list. Events in a wait
 * list that are not stand-ins come from earlier runs (e.g. a derived
 * buffer's fill): they are waited for at record time and dropped.
 *
 * Mutable command buffers (ctx->cb.update set, see struct clf_cb_api)
 * keep their commands (cmds, waits), so that the recording can later be
 * brought up to date instead of recorded anew: an update pass runs the
 * same ops again (clf_recorder_update_begin .. _end); each launch must
 * meet the next recorded command (the same kernel, dimensions, local size
 * and wait list) with every argument of its kernel set during the pass,
 * and the pass then sets every launch's arguments and global size in one
 * clUpdateMutableCommandsKHR. Anything else (another kernel, a launch too
 * many or too few, an argument set before the pass) fails the pass with
 * CLF_E_UNSUPPORTED, and the caller records anew.
 */
struct clf_recorder {
    cl_command_buffer_khr cb;
    cl_event *evs;            /* stand-ins (one reference each) */
    cl_sync_point_khr *sps;   /* their sync points */
    size_t n, cap;
    cl_kernel *kernels;       /* clones used by the recorded commands */
    size_t n_kernels, cap_kernels;
    size_t nodes;             /* the graph's nodes when recorded (the executor's) */
    bool mutable_cb;          /* created with CL_COMMAND_BUFFER_MUTABLE_KHR */
    struct clf_rec_cmd *cmds; /* its commands, in recording order (mutable only) */
    size_t n_cmds, cap_cmds;
    cl_sync_point_khr *waits;
    size_t n_waits, cap_waits;
    /* an update pass */
    bool updating;
    size_t cursor;            /* the next command a launch or barrier must meet */
    struct clf_arg_shadow *shadows;
    size_t n_shadows, cap_shadows;
    unsigned char *vals;      /* argument bytes kept by clf_set_arg */
    size_t n_vals, cap_vals;
    bool lost;                /* no memory to keep a value: the pass fails */
    struct clf_rec_arg *args; /* the launches' arguments */
    size_t n_args, cap_args;
    struct clf_rec_update *upds;
    size_t n_upds, cap_upds;
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

/* Starts a pass that brings r (finalized, mutable) up to date: ctx->rec
 * = r as while recording, and clf_set_arg keeps the values it sets. */
enum clf_status clf_recorder_update_begin(struct clf_ctx *ctx, struct clf_recorder *r);

/* Ends the pass: when st, the pass's status, is CLF_OK and every recorded
 * command was met, applies the launches' arguments and global sizes
 * (clUpdateMutableCommandsKHR). Returns st, CLF_E_UNSUPPORTED for a
 * command not met, or the update's failure; r is unchanged on failure. */
enum clf_status clf_recorder_update_end(struct clf_ctx *ctx, struct clf_recorder *r,
                                        enum clf_status st);

/* Releases r's stand-in events (after recording: the command buffer and
 * the kernels stay). */
void clf_recorder_drop_events(struct clf_recorder *r);
/* Releases everything r holds: the command buffer, then the kernels. */
void clf_recorder_free(struct clf_ctx *ctx, struct clf_recorder *r);

/* Spare recordings (ctx->spares): a destroyed graph's mutable recording
 * is kept for a later graph of as many nodes to take over and bring up to
 * date (its arguments and sizes) instead of recording anew. keep_spare
 * moves r there (the oldest spare goes when CLF_SPARE_RECORDINGS are
 * kept; an immutable r is freed), leaving r empty; take_spare moves the
 * newest spare recorded for `nodes` nodes into r (false: none);
 * spares_free releases them all (the context's end). */
void clf_recorder_keep_spare(struct clf_ctx *ctx, struct clf_recorder *r);
bool clf_recorder_take_spare(struct clf_ctx *ctx, size_t nodes, struct clf_recorder *r);
void clf_recorder_spares_free(struct clf_ctx *ctx);

/* Test hook: the n-th kernel launch from now (1: the next one) fails as if
 * the device returned CL_OUT_OF_RESOURCES, recorded or not; 0 disables. */
void clf_test_fail_launch_after(int n);

#endif
