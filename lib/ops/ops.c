/* Helpers shared by the op families. */
#include "ops.h"

cl_int clf_set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t)
{
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(t, &shape, &strides, &off);
    cl_int err = clSetKernelArg(k, arg, sizeof(cl_mem), &t->storage->mem);
    err |= clSetKernelArg(k, arg + 1, sizeof off, &off);
    err |= clSetKernelArg(k, arg + 2, sizeof strides, &strides);
    return err;
}

enum clf_status clf_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                           const size_t *local, cl_uint n_wait, const cl_event *wait, cl_event *ev,
                           const char *what)
{
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, global, local, n_wait,
                                        n_wait ? wait : NULL, ev);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                                     err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY
                                 ? CLF_E_OUT_OF_MEMORY
                                 : CLF_E_OPENCL,
                        "enqueueing %s failed: %s (%d)", what, clf_cl_error_name(err), (int)err);
    return CLF_OK;
}

enum clf_status clf_set_args(struct clf_ctx *ctx, cl_kernel k, const char *name,
                             const struct clf_karg *args, cl_uint n)
{
    for (cl_uint i = 0; i < n; i++) {
        cl_int err = clSetKernelArg(k, i, args[i].size, args[i].value);
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
            err |= clSetKernelArg(*k, arg, sizeof(cl_mem), &node->in[0]->storage->mem);
            err |= clSetKernelArg(*k, arg + 1, sizeof off, &off);
            err |= clSetKernelArg(*k, arg + 2, sizeof zero, &zero);
        }
    }
    err |= clf_set_tensor_args(*k, arg, node->out);
    arg += 3;
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(node->out, &shape, &strides, &off);
    err |= clSetKernelArg(*k, arg++, sizeof shape, &shape);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    *next = arg;
    return CLF_OK;
}

enum clf_status clf_launch_per_element(struct clf_ctx *ctx, cl_kernel k,
                                       const struct clf_node *node, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev, const char *name)
{
    size_t global = (size_t)clf_tensor_numel(node->out);
    return clf_launch(ctx, k, 1, &global, NULL, n_wait, wait, ev, name);
}
