/* Helpers shared by the op families in lib/ops. */
#ifndef CLF_OPS_OPS_H
#define CLF_OPS_OPS_H

#include "../graph/graph.h"
#include "../runtime/program.h"

/* Sets (buffer, element offset, long4 strides) of t at kernel arguments
 * arg, arg+1, arg+2 (the layout every kernel in cl/ takes, see common.cl). */
cl_int clf_set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t);

/*
 * Enqueues k over `dims` global sizes (local sizes NULL: the driver's
 * choice) on ctx->queue, after the wait events; names `what` in an error.
 * Every kernel launch of the library goes through here (and every marker
 * through clf_marker), so that while the executor records a graph
 * (ctx->rec set) the launch is recorded into the command buffer instead:
 * with a clone of k (arguments as set now), the wait events translated to
 * sync points, and *ev a stand-in event (see struct clf_recorder).
 */
enum clf_status clf_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                           const size_t *local, cl_uint n_wait, const cl_event *wait, cl_event *ev,
                           const char *what);

/*
 * Gets kernel `name` of program `family` (build options `opts`, may be NULL)
 * and sets the arguments the per-element and per-row kernels of cl/ begin
 * with: (buffer, offset, long4 strides) of node->in[0..n_in) in order — a
 * NULL input gets in[0]'s buffer with zero offset and strides (its kernel
 * is told not to read it) — then of node->out, then the out's long4 shape.
 * *next receives the index of the next argument.
 */
enum clf_status clf_kernel_io(struct clf_ctx *ctx, const struct clf_node *node,
                              const char *family, const char *opts, const char *name,
                              cl_kernel *k, cl_uint *next);

/* Enqueues k with one work-item per element of node->out. */
enum clf_status clf_launch_per_element(struct clf_ctx *ctx, cl_kernel k,
                                       const struct clf_node *node, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev, const char *name);

/* Work-group size of a local-memory tree reduction over n elements with
 * kernel k: the smallest power of two >= n, at most max (a power of two)
 * and what the device and k allow, each work-item taking local_per_item
 * bytes of local memory. */
enum clf_status clf_pow2_group_size(struct clf_ctx *ctx, cl_kernel k, int64_t n, size_t max,
                                    size_t local_per_item, size_t *ls);

/* Creates node's graph-owned output of the given dtype and shape and
 * appends node to g; *out receives the output. */
enum clf_status clf_add_node_with_output(struct clf_graph *g, struct clf_node *node,
                                         enum clf_dtype dtype, int ndim, const int64_t *shape,
                                         struct clf_tensor **out);

/* One kernel argument: its size and a pointer to its value. */
struct clf_karg {
    size_t size;
    const void *value;
};

/* Sets args[0..n) as k's arguments 0..n-1; names kernel `name` and the
 * argument in an error. */
enum clf_status clf_set_args(struct clf_ctx *ctx, cl_kernel k, const char *name,
                             const struct clf_karg *args, cl_uint n);

#define CLF_NARGS(a) ((cl_uint)(sizeof(a) / sizeof((a)[0])))

/* The per-element op launch: kernel `name` of program `family` with its
 * clf_kernel_io arguments, then args[0..n) (n may be 0) as the next ones,
 * launched with one work-item per element of node->out. */
enum clf_status clf_launch_io_args(struct clf_ctx *ctx, const struct clf_node *node,
                                   const char *family, const char *name,
                                   const struct clf_karg *args, cl_uint n, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev);

/* A tensor as the kernel argument triple of cl/common.cl: buffer, element
 * offset, long4 strides (padded to 4-D). */
struct clf_targ {
    cl_mem mem;
    cl_long off;
    cl_long4 str;
};

struct clf_targ clf_targ_of(const struct clf_tensor *t);

/* The three struct clf_karg entries of a struct clf_targ. */
#define CLF_TARG(a)                                                                           \
    {sizeof(cl_mem), &(a).mem}, {sizeof(cl_long), &(a).off}, {sizeof(cl_long4), &(a).str}

static inline int64_t clf_ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static inline size_t clf_round_up(size_t a, size_t b)
{
    return (a + b - 1) / b * b;
}

/* Releases *e when set and clears it. */
void clf_release_event(cl_event *e);

/* A marker after the wait events (*ev its event, may be NULL for none);
 * recorded as a barrier while recording. */
enum clf_status clf_marker(struct clf_ctx *ctx, cl_uint n_wait, const cl_event *wait,
                           cl_event *ev);

/*
 * A command buffer being recorded (cl_khr_command_buffer). Ops keep
 * passing cl_event values around unchanged: each recorded command's sync
 * point is represented by a stand-in, a user event already set complete
 * (so it is an ordinary event to retain, release or even wait for), and
 * `evs`/`sps` map stand-ins back to sync points when they appear in a
 * later wait list. Events in a wait list that are not stand-ins come from
 * earlier runs (e.g. a derived buffer's fill): they are waited for at
 * record time and dropped.
 */
struct clf_recorder {
    cl_command_buffer_khr cb;
    cl_event *evs;            /* stand-ins (one reference each) */
    cl_sync_point_khr *sps;   /* their sync points */
    size_t n, cap;
    cl_kernel *kernels;       /* clones used by the recorded commands */
    size_t n_kernels, cap_kernels;
};

/* Releases r's stand-in events (after recording: the command buffer and
 * the kernels stay). */
void clf_recorder_drop_events(struct clf_recorder *r);
/* Releases everything r holds: the command buffer, then the kernels. */
void clf_recorder_free(struct clf_ctx *ctx, struct clf_recorder *r);

/* Test hook: the n-th kernel launch from now (1: the next one) fails as if
 * the device returned CL_OUT_OF_RESOURCES, recorded or not; 0 disables. */
void clf_test_fail_launch_after(int n);

#endif
