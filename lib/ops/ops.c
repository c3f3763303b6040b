/* Helpers shared by the op families. */
#include <stdlib.h>

#include "ops.h"

cl_int clf_set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t)
{
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(t, &shape, &strides, &off);
    cl_int err = clf_set_arg(k, arg, sizeof(cl_mem), &t->storage->mem);
    err |= clf_set_arg(k, arg + 1, sizeof off, &off);
    err |= clf_set_arg(k, arg + 2, sizeof strides, &strides);
    return err;
}

enum clf_status clf_set_args(struct clf_ctx *ctx, cl_kernel k, const char *name,
                             const struct clf_karg *args, cl_uint n)
{
    for (cl_uint i = 0; i < n; i++) {
        cl_int err = clf_set_arg(k, i, args[i].size, args[i].value);
        if (err != CL_SUCCESS)
            return clf_fail(ctx, CLF_E_OPENCL, "setting argument %u of %s failed: %s (%d)", i,
                            name, clf_cl_error_name(err), (int)err);
    }
    return CLF_OK;
}

struct clf_targ clf_targ_of(const struct clf_tensor *t)
{
    struct clf_targ a;
    cl_long4 shape;
    a.mem = t->storage->mem;
    clf_tensor_layout4(t, &shape, &a.str, &a.off);
    return a;
}

void clf_release_event(cl_event *e)
{
    if (*e)
        clReleaseEvent(*e);
    *e = NULL;
}

enum clf_status clf_kernel_io(struct clf_ctx *ctx, const struct clf_node *node,
                              const char *family, const char *opts, const char *name,
                              cl_kernel *k, cl_uint *next)
{
    enum clf_status st = clf_kernel_get(ctx, family, opts, name, k);
    if (st != CLF_OK)
        return st;
    cl_uint arg = 0;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < node->n_in; i++, arg += 3) {
        if (node->in[i]) {
            err |= clf_set_tensor_args(*k, arg, node->in[i]);
        } else { /* an absent optional input: a placeholder never read */
            cl_long off = 0;
            cl_long4 zero = {{0, 0, 0, 0}};
            err |= clf_set_arg(*k, arg, sizeof(cl_mem), &node->in[0]->storage->mem);
            err |= clf_set_arg(*k, arg + 1, sizeof off, &off);
            err |= clf_set_arg(*k, arg + 2, sizeof zero, &zero);
        }
    }
    err |= clf_set_tensor_args(*k, arg, node->out);
    arg += 3;
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(node->out, &shape, &strides, &off);
    err |= clf_set_arg(*k, arg++, sizeof shape, &shape);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    *next = arg;
    return CLF_OK;
}

enum clf_status clf_pow2_group_size(struct clf_ctx *ctx, cl_kernel k, int64_t n, size_t max,
                                    size_t local_per_item, size_t *ls)
{
    size_t kmax = 0;
    cl_int err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                          &kmax, NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clGetKernelWorkGroupInfo");
    size_t cap = max;
    if (kmax && kmax < cap)
        cap = kmax;
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < cap)
        cap = ctx->info.max_work_group_size;
    if (ctx->info.local_mem_bytes && ctx->info.local_mem_bytes / local_per_item < cap)
        cap = (size_t)(ctx->info.local_mem_bytes / local_per_item);
    size_t s = 1;
    while (2 * s <= cap && (int64_t)s < n)
        s *= 2;
    *ls = s;
    return CLF_OK;
}

enum clf_status clf_launch_per_element(struct clf_ctx *ctx, cl_kernel k,
                                       const struct clf_node *node, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev, const char *name)
{
    size_t global = (size_t)clf_tensor_numel(node->out);
    return clf_launch_rounded(ctx, k, 1, &global, CLF_WORK_ELEMENT, n_wait, wait, ev, name);
}

/* Kernel `name` with its clf_kernel_io arguments, then args[0..n),
 * launched over node->out's elements (rows false) or its rows (all but the
 * last dimension). */
static enum clf_status launch_io(struct clf_ctx *ctx, const struct clf_node *node,
                                 const char *family, const char *name,
                                 const struct clf_karg *args, cl_uint n, bool rows,
                                 cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_kernel k = NULL;
    cl_uint arg = 0;
    enum clf_status st = clf_kernel_io(ctx, node, family, NULL, name, &k, &arg);
    for (cl_uint i = 0; st == CLF_OK && i < n; i++)
        if (clf_set_arg(k, arg + i, args[i].size, args[i].value) != CL_SUCCESS)
            st = clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    if (st != CLF_OK)
        return st;
    const struct clf_tensor *out = node->out;
    size_t global = rows ? 1 : (size_t)clf_tensor_numel(out);
    for (int i = 0; rows && i + 1 < out->ndim; i++)
        global *= (size_t)out->shape[i];
    return clf_launch_rounded(ctx, k, 1, &global, rows ? CLF_WORK_ROW : CLF_WORK_ELEMENT, n_wait,
                              wait, ev, name);
}

enum clf_status clf_launch_io_args(struct clf_ctx *ctx, const struct clf_node *node,
                                   const char *family, const char *name,
                                   const struct clf_karg *args, cl_uint n, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    return launch_io(ctx, node, family, name, args, n, false, n_wait, wait, ev);
}

enum clf_status clf_launch_io_rows(struct clf_ctx *ctx, const struct clf_node *node,
                                   const char *family, const char *name,
                                   const struct clf_karg *args, cl_uint n, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    return launch_io(ctx, node, family, name, args, n, true, n_wait, wait, ev);
}

enum clf_status clf_add_node_with_output(struct clf_graph *g, struct clf_node *node,
                                         enum clf_dtype dtype, int ndim, const int64_t *shape,
                                         struct clf_tensor **out)
{
    enum clf_status st = clf_graph_new_output(g, dtype, ndim, shape, &node->out);
    if (st != CLF_OK)
        return st;
    node->out_owned = true;
    st = clf_graph_add_node(g, node);
    if (st == CLF_OK)
        *out = node->out;
    return st;
}
