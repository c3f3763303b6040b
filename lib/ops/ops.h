/* Helpers shared by the op families in lib/ops. */
#ifndef CLF_OPS_OPS_H
#define CLF_OPS_OPS_H

#include "../graph/graph.h"
#include "../runtime/launch.h"
#include "../runtime/program.h"

/* Sets (buffer, element offset, long4 strides) of t at kernel arguments
 * arg, arg+1, arg+2 (the layout every kernel in cl/ takes, see common.cl). */
cl_int clf_set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t);

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

/* Enqueues k with one work-item per element of node->out
 * (clf_launch_rounded, CLF_WORK_ELEMENT: k returns for gid >= that count). */
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

/* The same with one work-item per row of node->out (all its dimensions but
 * the last; clf_launch_rounded, CLF_WORK_ROW): kernels that loop over a
 * row. */
enum clf_status clf_launch_io_rows(struct clf_ctx *ctx, const struct clf_node *node,
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

/* The context-owned f32 table [key[0], key[1]] of (kind, key)
 * (clf_ctx_owned_find): found, or filled on the host by fill(host, key),
 * written and kept by the context (posenc.c); `what` names it in errors. */
enum clf_status clf_owned_table(struct clf_ctx *ctx, int kind, const int64_t key[4],
                                void (*fill)(float *host, const int64_t key[4]),
                                const char *what, struct clf_tensor **table);

/* Releases *e when set and clears it. */
void clf_release_event(cl_event *e);

#endif
