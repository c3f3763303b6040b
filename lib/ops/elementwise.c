/* Elementwise ops (cl/elementwise.cl) and the dense copy op (cl/copy.cl). */
#include <stdio.h>

#include "ops.h"

/* Enqueues kernel ew_<op name>: arguments are (buffer, offset, strides) for
 * each input then the output, the long4 shape, whether all are dense, then
 * the node's float parameters (fparams[0..n_f), n_f in iparams[0]); one
 * work-item per output element. */
static enum clf_status enqueue_ew(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                  const cl_event *wait, cl_event *ev)
{
    char name[32];
    cl_kernel k = NULL;
    cl_uint arg = 0;
    snprintf(name, sizeof name, "ew_%s", node->impl->name);
    enum clf_status st = clf_kernel_io(ctx, node, "elementwise", NULL, name, &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_int contig = clf_tensor_is_contiguous(node->out);
    for (int i = 0; i < node->n_in; i++)
        contig = contig && clf_tensor_is_contiguous(node->in[i]);
    cl_int err = clf_set_arg(k, arg++, sizeof contig, &contig);
    for (int64_t i = 0; i < node->iparams[0]; i++)
        err |= clf_set_arg(k, arg++, sizeof(float), &node->fparams[i]);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    return clf_launch_per_element(ctx, k, node, n_wait, wait, ev, name);
}

static enum clf_status enqueue_copy(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    return clf_copy_enqueue(ctx, node->in[0], node->out, n_wait, wait, ev);
}

/* One operation per output element (clf_graph_node_cost). */
static double flops_ew(const struct clf_node *node)
{
    return (double)clf_tensor_numel(node->out);
}

static const struct clf_op_impl op_add = {.name = "add", .enqueue = enqueue_ew,
                                          .flops = flops_ew};
static const struct clf_op_impl op_mul = {.name = "mul", .enqueue = enqueue_ew,
                                          .flops = flops_ew};
static const struct clf_op_impl op_scale = {.name = "scale", .enqueue = enqueue_ew,
                                            .flops = flops_ew};
static const struct clf_op_impl op_copy = {.name = "copy", .enqueue = enqueue_copy};

/* Records a node reading `in` (n_in tensors, all checked) whose new
 * graph-owned output has dtype `dtype` and the shape of in[0]. */
static enum clf_status record(struct clf_graph *g, const struct clf_op_impl *impl,
                              struct clf_tensor **in, int n_in, enum clf_dtype dtype,
                              const float *fparams, int n_f, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, impl->name);
    for (int i = 0; st == CLF_OK && i < n_in; i++)
        st = clf_graph_check_input(g, in[i], i ? "second input" : "input");
    if (st != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = impl;
    node.n_in = n_in;
    for (int i = 0; i < n_in; i++)
        node.in[i] = in[i];
    node.iparams[0] = n_f;
    for (int i = 0; i < n_f; i++)
        node.fparams[i] = fparams[i];
    return clf_add_node_with_output(g, &node, dtype, in[0]->ndim, in[0]->shape, out);
}

static enum clf_status record_binary(struct clf_graph *g, const struct clf_op_impl *impl,
                                     struct clf_tensor *a, struct clf_tensor *b,
                                     struct clf_tensor **out)
{
    struct clf_tensor *in[2] = {a, b};
    enum clf_status st = clf_graph_check_call(g, out, impl->name);
    if (st == CLF_OK && a && b) {
        if (a->dtype != CLF_F32 || b->dtype != CLF_F32)
            return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs f32 inputs (got %s, %s)", impl->name,
                            clf_dtype_str(a->dtype), clf_dtype_str(b->dtype));
        if (!clf_same_shape(a, b))
            return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs inputs of the same shape",
                            impl->name);
    }
    return st == CLF_OK ? record(g, impl, in, 2, CLF_F32, NULL, 0, out) : st;
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

enum clf_status clf_op_scale(struct clf_graph *g, struct clf_tensor *x, float alpha, float beta,
                             struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "scale");
    if (st == CLF_OK && x && x->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "scale needs an f32 input (got %s)",
                        clf_dtype_str(x->dtype));
    const float params[2] = {alpha, beta};
    return st == CLF_OK ? record(g, &op_scale, &x, 1, CLF_F32, params, 2, out) : st;
}

enum clf_status clf_op_copy(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "copy");
    return st == CLF_OK ? record(g, &op_copy, &x, 1, x ? x->dtype : CLF_F32, NULL, 0, out) : st;
}
