/*
 * Sentence pooling (cl/pooling.cl): sentence-transformers' Pooling modes,
 * Matryoshka truncation and L2 normalisation in one node and kernel
 * (clf_op_sentence_pool; clf_op_mean_pool_normalize is its mean and
 * normalise), and the key padding of an attention mask
 * (clf_pooling_key_padding). Arguments are checked when recorded.
 */
#include <stdio.h>

#include "pooling.h"

static enum clf_status enqueue_key_padding(struct clf_ctx *ctx, struct clf_node *node,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* mask -> kp, shape */
    return clf_launch_io_args(ctx, node, "pooling", "pool_key_padding", NULL, 0, n_wait, wait, ev);
}

static enum clf_status enqueue_sentence(struct clf_ctx *ctx, struct clf_node *node,
                                        cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* h, mask -> y, shape, then seq, d, modes (iparams[0], enum clf_pooling's
     * bits), normalize (iparams[1]); one work-item per text */
    cl_long seq = node->in[0]->shape[1], d = node->in[0]->shape[2];
    cl_int modes = (cl_int)node->iparams[0], normalize = (cl_int)node->iparams[1];
    const struct clf_karg args[] = {
        {sizeof seq, &seq}, {sizeof d, &d}, {sizeof modes, &modes}, {sizeof normalize, &normalize}};
    return clf_launch_io_rows(ctx, node, "pooling", "pool_sentence", args, CLF_NARGS(args),
                              n_wait, wait, ev);
}

static enum clf_status enqueue_truncate_normalize(struct clf_ctx *ctx, struct clf_node *node,
                                                  cl_uint n_wait, const cl_event *wait,
                                                  cl_event *ev)
{
    /* x -> y, shape, then normalize (iparams[0]); one work-item per row */
    cl_int normalize = (cl_int)node->iparams[0];
    const struct clf_karg args[] = {{sizeof normalize, &normalize}};
    return clf_launch_io_rows(ctx, node, "pooling", "rows_truncate_normalize", args,
                              CLF_NARGS(args), n_wait, wait, ev);
}

static const struct clf_op_impl op_truncate_normalize = {.name = "truncate_normalize",
                                                         .enqueue = enqueue_truncate_normalize};

static const struct clf_op_impl op_key_padding = {.name = "key_padding",
                                                  .enqueue = enqueue_key_padding};
static const struct clf_op_impl op_sentence = {.name = "sentence_pool",
                                               .enqueue = enqueue_sentence};

/* Checks an attention mask: i32 [batch, seq] (of hidden's first two
 * dimensions when hidden is given). */
static enum clf_status check_mask(struct clf_graph *g, const struct clf_tensor *mask,
                                  const struct clf_tensor *hidden, const char *op)
{
    enum clf_status st = clf_graph_check_input(g, mask, "mask");
    if (st != CLF_OK)
        return st;
    if (mask->dtype != CLF_I32 || mask->ndim != 2 ||
        (hidden && (mask->shape[0] != hidden->shape[0] || mask->shape[1] != hidden->shape[1])))
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s: the mask must be i32 [batch, seq]%s", op,
                        hidden ? " matching the hidden states" : "");
    return CLF_OK;
}

enum clf_status clf_pooling_key_padding(struct clf_graph *g, struct clf_tensor *mask,
                                     struct clf_tensor **kp)
{
    enum clf_status st = clf_graph_check_call(g, kp, "key_padding");
    if (st == CLF_OK)
        st = check_mask(g, mask, NULL, "key_padding");
    if (st != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_key_padding;
    node.n_in = 1;
    node.in[0] = mask;
    return clf_add_node_with_output(g, &node, CLF_I32, 2, mask->shape, kp);
}

int64_t clf_pooling_width(unsigned modes, int64_t d)
{
    if (modes == 0 || (modes & ~(unsigned)CLF_POOL_ALL))
        return 0;
    int64_t k = 0; /* the bits set */
    for (; modes; modes &= modes - 1)
        k++;
    return k * d;
}

enum clf_status clf_op_sentence_pool(struct clf_graph *g, struct clf_tensor *hidden,
                                     struct clf_tensor *mask, unsigned modes, int64_t dims,
                                     bool normalize, struct clf_tensor **out)
{
    const char *op = "sentence_pool";
    enum clf_status st = clf_graph_check_call(g, out, op);
    if (st == CLF_OK)
        st = clf_graph_check_input(g, hidden, "hidden states");
    if (st != CLF_OK)
        return st;
    if (hidden->dtype != CLF_F32 || hidden->ndim != 3)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s: hidden states must be f32 [batch, seq, d]", op);
    if ((st = check_mask(g, mask, hidden, op)) != CLF_OK)
        return st;
    const int64_t width = clf_pooling_width(modes, hidden->shape[2]);
    if (!width)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: pooling modes 0x%x: not a nonempty set of "
                        "enum clf_pooling's bits", op, modes);
    if (dims < 0 || dims > width)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                        "%s: %lld dimensions asked of a %lld-wide pooled vector", op,
                        (long long)dims, (long long)width);
    const int64_t ps[2] = {hidden->shape[0], dims ? dims : width};
    struct clf_node node = {0};
    node.impl = &op_sentence;
    node.n_in = 2;
    node.in[0] = hidden;
    node.in[1] = mask;
    node.iparams[0] = modes;
    node.iparams[1] = normalize;
    return clf_add_node_with_output(g, &node, CLF_F32, 2, ps, out);
}

enum clf_status clf_op_mean_pool_normalize(struct clf_graph *g, struct clf_tensor *hidden,
                                           struct clf_tensor *mask, struct clf_tensor **out)
{
    return clf_op_sentence_pool(g, hidden, mask, CLF_POOL_MEAN, 0, true, out);
}

enum clf_status clf_pooling_truncate_normalize(struct clf_graph *g, struct clf_tensor *x,
                                               int64_t dims, bool normalize,
                                               struct clf_tensor **out)
{
    const char *op = "truncate_normalize";
    enum clf_status st = clf_graph_check_call(g, out, op);
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "vectors");
    if (st != CLF_OK)
        return st;
    if (x->dtype != CLF_F32 || x->ndim != 2)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s: vectors must be f32 [rows, n]", op);
    if (dims < 0 || dims > x->shape[1])
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: %lld dimensions of %lld", op,
                        (long long)dims, (long long)x->shape[1]);
    const int64_t ys[2] = {x->shape[0], dims ? dims : x->shape[1]};
    struct clf_node node = {0};
    node.impl = &op_truncate_normalize;
    node.n_in = 1;
    node.in[0] = x;
    node.iparams[0] = normalize;
    return clf_add_node_with_output(g, &node, CLF_F32, 2, ys, out);
}
