/* Elementwise ops (cl/elementwise.cl) and the dense copy op (cl/copy.cl). */
#include <stdio.h>

#include "../graph/graph.h"
#include "../runtime/program.h"

/* Sets (buffer, offset, strides) for tensor t at arguments arg..arg+2. */
static cl_int set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t)
{
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(t, &shape, &strides, &off);
    cl_int err = clSetKernelArg(k, arg, sizeof(cl_mem), &t->storage->mem);
    err |= clSetKernelArg(k, arg + 1, sizeof off, &off);
    err |= clSetKernelArg(k, arg + 2, sizeof strides, &strides);
    return err;
}

/* Enqueues kernel ew_<op name>: arguments are (buffer, offset, strides) for
 * each input then the output, the long4 shape, then the node's float
 * parameters; one work-item per output element. */
static enum clf_status enqueue_ew(struct clf_ctx *ctx, const struct clf_node *node,
                                  cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    char name[32];
    cl_kernel k = NULL;
    snprintf(name, sizeof name, "ew_%s", node->impl->name);
    enum clf_status st = clf_kernel_get(ctx, "elementwise", NULL, name, &k);
    if (st != CLF_OK)
        return st;
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(node->out, &shape, &strides, &off);
    cl_uint arg = 0;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < node->n_in; i++, arg += 3)
        err |= set_tensor_args(k, arg, node->in[i]);
    err |= set_tensor_args(k, arg, node->out);
    arg += 3;
    err |= clSetKernelArg(k, arg++, sizeof shape, &shape);
    for (int i = 0; i < node->n_params; i++)
        err |= clSetKernelArg(k, arg++, sizeof(float), &node->params[i]);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    size_t global = (size_t)clf_tensor_numel(node->out);
    err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, NULL, n_wait,
                                 n_wait ? wait : NULL, ev);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueNDRangeKernel");
}

static enum clf_status enqueue_copy(struct clf_ctx *ctx, const struct clf_node *node,
                                    cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    return clf_copy_enqueue(ctx, node->in[0], node->out, n_wait, wait, ev);
}

static const struct clf_op_impl op_add = {"add", enqueue_ew};
static const struct clf_op_impl op_mul = {"mul", enqueue_ew};
static const struct clf_op_impl op_scale = {"scale", enqueue_ew};
static const struct clf_op_impl op_copy = {"copy", enqueue_copy};

static enum clf_status record_binary(struct clf_graph *g, const struct clf_op_impl *impl,
                                     struct clf_tensor *a, struct clf_tensor *b,
                                     struct clf_tensor **out)
{
    if (!g || !out)
        return g ? clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL argument to %s", impl->name)
                 : CLF_E_INVALID_ARG;
    *out = NULL;
    enum clf_status st = clf_graph_check_input(g, a, "a");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, b, "b");
    if (st != CLF_OK)
        return st;
    if (a->dtype != CLF_F32 || b->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs f32 inputs (got %s, %s)", impl->name,
                        clf_dtype_str(a->dtype), clf_dtype_str(b->dtype));
    if (!clf_same_shape(a, b))
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs inputs of the same shape", impl->name);
    struct clf_tensor *y = NULL;
    st = clf_graph_new_output(g, CLF_F32, a, &y);
    if (st != CLF_OK)
        return st;
    struct clf_tensor *in[2] = {a, b};
    st = clf_graph_add_node(g, impl, in, 2, NULL, 0, y);
    if (st == CLF_OK)
        *out = y;
    return st;
}

enum clf_status clf_op_add(struct clf_graph *g, struct clf_tensor *a, struct clf_tensor *b,
                           struct clf_tensor **out)
{
    return record_binary(g, &op_add, a, b, out);
}

enum clf_status clf_op_mul(struct clf_graph *g, struct clf_tensor *a, struct clf_tensor *b,
                           struct clf_tensor **out)
{
    return record_binary(g, &op_mul, a, b, out);
}

/* Records a unary node whose output has dtype `dtype` and x's shape. */
static enum clf_status record_unary(struct clf_graph *g, const struct clf_op_impl *impl,
                                    struct clf_tensor *x, enum clf_dtype dtype,
                                    const float *params, int n_params, struct clf_tensor **out)
{
    if (!g || !out)
        return g ? clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL argument to %s", impl->name)
                 : CLF_E_INVALID_ARG;
    *out = NULL;
    enum clf_status st = clf_graph_check_input(g, x, "x");
    if (st != CLF_OK)
        return st;
    struct clf_tensor *y = NULL;
    st = clf_graph_new_output(g, dtype, x, &y);
    if (st != CLF_OK)
        return st;
    st = clf_graph_add_node(g, impl, &x, 1, params, n_params, y);
    if (st == CLF_OK)
        *out = y;
    return st;
}

enum clf_status clf_op_scale(struct clf_graph *g, struct clf_tensor *x, float alpha, float beta,
                             struct clf_tensor **out)
{
    if (g && x && x->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "scale needs an f32 input (got %s)",
                        clf_dtype_str(x->dtype));
    const float params[2] = {alpha, beta};
    return record_unary(g, &op_scale, x, CLF_F32, params, 2, out);
}

enum clf_status clf_op_copy(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor **out)
{
    return record_unary(g, &op_copy, x, x ? x->dtype : CLF_F32, NULL, 0, out);
}
