/*
 * Row ops (cl/rows.cl): bias add, activation, softmax, layernorm, embedding.
 * Every op checks its arguments when recorded (nothing is launched for a
 * bad call) and records one node; the enqueue functions set the kernel
 * arguments and launch.
 *
 * Node parameters:
 *   act        iparams[0] = enum clf_act
 *   softmax    iparams[0] = enum clf_rows_variant (resolved, never AUTO;
 *              PER_ITEM_VEC only for rows contiguous in every input)
 *   layernorm  iparams[0] = variant; fparams[0] = eps, fparams[1] = 1/N
 *              (rounded once on the host); in[1] = gamma, in[2] = beta,
 *              in[3] = a residual added to x first (any may be NULL)
 *   embedding  iparams[0] = 1 to check the ids on the host before the
 *              gather; in[0] = table, in[1] = ids
 *   embedding_ln  in[0] = word table, in[1] = ids, in[2] = positions,
 *              in[3] = type row (may be NULL), in[4] = gamma, in[5] = beta;
 *              iparams[0] = 1 to check the ids; fparams[0] = eps,
 *              fparams[1] = 1/D
 *
 * The embedding check is a synchronisation point: its enqueue waits for the
 * nodes producing the ids and reads them back (blocking) on every run, so
 * nodes recorded after it are enqueued only once the ids are known.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rows.h"

/* Largest work-group size the group variants use (a power of two). */
#define ROWS_MAX_GROUP 256

enum clf_rows_variant clf_rows_auto_variant(const struct clf_ctx *ctx)
{
    return ctx->info.type == CLF_DEVICE_CPU ? CLF_ROWS_PER_ITEM : CLF_ROWS_PER_GROUP;
}

/* ------------------------------------------------------------------------ */
/* Enqueue                                                                  */
/* ------------------------------------------------------------------------ */

/* Number of rows (product of all but the last dimension). */
static int64_t row_count(const struct clf_tensor *t)
{
    return clf_tensor_numel(t) / t->shape[t->ndim - 1];
}

/* Kernel name of a row-reduction node: base is "softmax" or "layernorm"
 * (the vector variant's width follows the device's float lanes,
 * CLF_VEC_FLOAT of every build: no options of its own). */
static void rows_kernel(const struct clf_node *node, const char *base, char *name, size_t size)
{
    const char *suffix = node->iparams[0] == CLF_ROWS_PER_ITEM   ? "item"
                         : node->iparams[0] == CLF_ROWS_PER_GROUP ? "group"
                                                                  : "vec";
    snprintf(name, size, "%s_%s", base, suffix);
}

/* Launches a row-reduction kernel whose arguments up to `arg` are set: the
 * item variant over rows, the group variant over rows work-groups with a
 * local scratch argument at `arg`. */
static enum clf_status launch_rows(struct clf_ctx *ctx, cl_kernel k, cl_uint arg,
                                   const struct clf_node *node, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev, const char *name)
{
    const struct clf_tensor *y = node->out;
    size_t rows = (size_t)row_count(y);
    if (node->iparams[0] != CLF_ROWS_PER_GROUP)
        return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, name);
    size_t ls = 1;
    enum clf_status st = clf_pow2_group_size(ctx, k, y->shape[y->ndim - 1], ROWS_MAX_GROUP,
                                             sizeof(float), &ls);
    if (st != CLF_OK)
        return st;
    cl_int err = clf_set_arg(k, arg, ls * sizeof(float), NULL);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting the local scratch of %s failed: %s", name,
                        clf_cl_error_name(err));
    size_t global = rows * ls;
    return clf_launch(ctx, k, 1, &global, &ls, n_wait, wait, ev, name);
}

static enum clf_status enqueue_bias_add(struct clf_ctx *ctx, struct clf_node *node,
                                        cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x, bias -> y, shape */
    return clf_launch_io_args(ctx, node, "rows", "rows_bias_add", NULL, 0, n_wait, wait, ev);
}

/* act and glu: kernel rows_<op name>, x -> y, y's shape, then the
 * activation code (glu's x is [..., 2n] for y [..., n]). */
static enum clf_status enqueue_act(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    char name[32];
    snprintf(name, sizeof name, "rows_%s", node->impl->name);
    cl_int act = (cl_int)node->iparams[0];
    const struct clf_karg args[] = {{sizeof act, &act}};
    return clf_launch_io_args(ctx, node, "rows", name, args, CLF_NARGS(args), n_wait, wait, ev);
}

static enum clf_status enqueue_softmax(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x -> y, shape */
    char name[32];
    rows_kernel(node, "softmax", name, sizeof name);
    cl_kernel k = NULL;
    cl_uint arg = 0;
    enum clf_status st = clf_kernel_io(ctx, node, "rows", NULL, name, &k, &arg);
    return st == CLF_OK ? launch_rows(ctx, k, arg, node, n_wait, wait, ev, name) : st;
}

static enum clf_status enqueue_layernorm(struct clf_ctx *ctx, struct clf_node *node,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x, gamma, beta, residual (any but x may be absent) -> y, shape, then
     * eps, 1/N and whether gamma, beta and the residual are given */
    char name[32];
    rows_kernel(node, "layernorm", name, sizeof name);
    cl_kernel k = NULL;
    cl_uint arg = 0;
    enum clf_status st = clf_kernel_io(ctx, node, "rows", NULL, name, &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_float eps = node->fparams[0], inv_n = node->fparams[1];
    cl_int has_gamma = node->in[1] != NULL, has_beta = node->in[2] != NULL;
    cl_int has_res = node->in[3] != NULL;
    cl_int err = clf_set_arg(k, arg++, sizeof eps, &eps);
    err |= clf_set_arg(k, arg++, sizeof inv_n, &inv_n);
    err |= clf_set_arg(k, arg++, sizeof has_gamma, &has_gamma);
    err |= clf_set_arg(k, arg++, sizeof has_beta, &has_beta);
    err |= clf_set_arg(k, arg++, sizeof has_res, &has_res);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    return launch_rows(ctx, k, arg, node, n_wait, wait, ev, name);
}

/* Reads the ids back (after the wait list) and fails on the first one
 * outside [0, V). */
static enum clf_status check_ids(struct clf_ctx *ctx, struct clf_tensor *ids, int64_t vocab,
                                 cl_uint n_wait, const cl_event *wait)
{
    if (n_wait) {
        clFlush(ctx->queue);
        cl_int err = clWaitForEvents(n_wait, wait);
        if (err != CL_SUCCESS)
            return clf_fail_cl(ctx, err, "clWaitForEvents(embedding ids)");
    }
    size_t n = (size_t)clf_tensor_numel(ids);
    int32_t *host = malloc(n * sizeof *host);
    if (!host)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to check %zu embedding ids", n);
    enum clf_status st = clf_tensor_read(ids, host, n * sizeof *host);
    for (size_t i = 0; st == CLF_OK && i < n; i++) {
        if (host[i] >= 0 && host[i] < vocab)
            continue;
        /* position of element i in ids' shape, outermost first */
        int64_t idx[CLF_MAX_DIMS] = {0};
        size_t rest = i;
        for (int d = ids->ndim - 1; d >= 0; d--) {
            idx[d] = (int64_t)(rest % (size_t)ids->shape[d]);
            rest /= (size_t)ids->shape[d];
        }
        char pos[96];
        int w = 0;
        for (int d = 0; d < ids->ndim; d++)
            w += snprintf(pos + w, sizeof pos - (size_t)w, "%s%lld", d ? ", " : "",
                          (long long)idx[d]);
        st = clf_fail(ctx, CLF_E_INVALID_ARG,
                      "embedding: id %d at position [%s] is outside the table's rows [0, %lld)",
                      (int)host[i], pos, (long long)vocab);
    }
    free(host);
    return st;
}

static enum clf_status enqueue_embedding(struct clf_ctx *ctx, struct clf_node *node,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    struct clf_tensor *table = node->in[0], *ids = node->in[1];
    cl_long vocab = table->shape[0];
    enum clf_status st;
    if (node->iparams[0]) {
        st = check_ids(ctx, ids, vocab, n_wait, wait);
        if (st != CLF_OK)
            return st;
    }
    cl_kernel k = NULL;
    cl_long4 shape, ids_shape, strides;
    cl_long off;
    const cl_long D = table->shape[1];
    if (table->strides[1] == 1 || D == 1) { /* contiguous rows: a work-item per row */
        st = clf_kernel_get(ctx, "rows", NULL, "embedding_rows", &k);
        if (st != CLF_OK)
            return st;
        cl_mem tm = table->storage->mem, im = ids->storage->mem, ym = node->out->storage->mem;
        cl_long t_off = table->offset, t_rs = table->strides[0], y_off = node->out->offset;
        cl_long rows = clf_tensor_numel(ids);
        clf_tensor_layout4(ids, &ids_shape, &strides, &off);
        const struct clf_karg args[] = {
            {sizeof tm, &tm},       {sizeof t_off, &t_off},     {sizeof t_rs, &t_rs},
            {sizeof im, &im},       {sizeof off, &off},         {sizeof strides, &strides},
            {sizeof ids_shape, &ids_shape}, {sizeof ym, &ym},   {sizeof y_off, &y_off},
            {sizeof rows, &rows},   {sizeof D, &D},             {sizeof vocab, &vocab},
        };
        st = clf_set_args(ctx, k, "embedding_rows", args, CLF_NARGS(args));
        if (st != CLF_OK)
            return st;
        size_t global = (size_t)rows;
        return clf_launch_rounded(ctx, k, 1, &global, CLF_WORK_ROW, n_wait, wait, ev,
                                  "embedding_rows");
    }
    st = clf_kernel_get(ctx, "rows", NULL, "embedding_gather", &k);
    if (st != CLF_OK)
        return st;
    clf_tensor_layout4(node->out, &shape, &strides, &off);
    clf_tensor_layout4(ids, &ids_shape, &strides, &off);
    cl_int err = clf_set_tensor_args(k, 0, table);
    err |= clf_set_tensor_args(k, 3, ids);
    err |= clf_set_tensor_args(k, 6, node->out);
    err |= clf_set_arg(k, 9, sizeof shape, &shape);
    err |= clf_set_arg(k, 10, sizeof ids_shape, &ids_shape);
    err |= clf_set_arg(k, 11, sizeof vocab, &vocab);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of embedding_gather failed");
    size_t global = (size_t)clf_tensor_numel(node->out);
    return clf_launch_rounded(ctx, k, 1, &global, CLF_WORK_ELEMENT, n_wait, wait, ev, "embedding_gather");
}

static enum clf_status enqueue_embedding_ln(struct clf_ctx *ctx, struct clf_node *node,
                                            cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* word, ids, pos, type, gamma, beta -> y, shape, then vocab, has_type, eps, 1/D */
    cl_long vocab = node->in[0]->shape[0];
    enum clf_status st;
    if (node->iparams[0] && (st = check_ids(ctx, node->in[1], vocab, n_wait, wait)) != CLF_OK)
        return st;
    cl_kernel k = NULL;
    cl_uint arg = 0;
    st = clf_kernel_io(ctx, node, "rows", NULL, "embedding_ln", &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_int has_type = node->in[3] != NULL;
    cl_float eps = node->fparams[0], inv_n = node->fparams[1];
    cl_int err = clf_set_arg(k, arg++, sizeof vocab, &vocab);
    err |= clf_set_arg(k, arg++, sizeof has_type, &has_type);
    err |= clf_set_arg(k, arg++, sizeof eps, &eps);
    err |= clf_set_arg(k, arg++, sizeof inv_n, &inv_n);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of embedding_ln failed");
    size_t rows = (size_t)row_count(node->out);
    return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, "embedding_ln");
}

/* Operation counts for clf_graph_node_cost, per output element: 1 for a
 * bias add or ReLU, ~20 for GELU (erf or tanh and a cube: a rough figure),
 * ~5 for softmax (max, subtract, exp, sum, scale) and layernorm (mean,
 * centre, square-sum, normalise, affine). */
static double flops_per_elem(const struct clf_node *node, double per)
{
    return per * (double)clf_tensor_numel(node->out);
}

static double flops_bias_add(const struct clf_node *node)
{
    return flops_per_elem(node, 1);
}

static double flops_act(const struct clf_node *node)
{
    return flops_per_elem(node, node->iparams[0] == CLF_ACT_GELU ||
                                        node->iparams[0] == CLF_ACT_GELU_TANH ||
                                        node->iparams[0] == CLF_ACT_TANH
                                    ? 20
                                    : 1);
}

static double flops_rows5(const struct clf_node *node)
{
    return flops_per_elem(node, 5);
}

static const struct clf_op_impl op_bias_add = {.name = "bias_add", .enqueue = enqueue_bias_add,
                                               .flops = flops_bias_add};
static const struct clf_op_impl op_act = {.name = "act", .enqueue = enqueue_act,
                                          .flops = flops_act};
static const struct clf_op_impl op_glu = {.name = "glu", .enqueue = enqueue_act,
                                          .flops = flops_act};
static const struct clf_op_impl op_softmax = {.name = "softmax", .enqueue = enqueue_softmax,
                                              .flops = flops_rows5};
static const struct clf_op_impl op_layernorm = {.name = "layernorm", .enqueue = enqueue_layernorm,
                                                .flops = flops_rows5};
static const struct clf_op_impl op_embedding = {.name = "embedding", .enqueue = enqueue_embedding};
static const struct clf_op_impl op_embedding_ln = {.name = "embedding_ln",
                                                   .enqueue = enqueue_embedding_ln,
                                                   .flops = flops_rows5};

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

/* Checks an input: present, of g's context, of dtype `dtype`. */
static enum clf_status check_tensor(struct clf_graph *g, const struct clf_tensor *t,
                                    enum clf_dtype dtype, const char *op, const char *what)
{
    char label[64];
    snprintf(label, sizeof label, "%s %s", op, what);
    enum clf_status st = clf_graph_check_input(g, t, label);
    if (st != CLF_OK)
        return st;
    if (t->dtype != dtype)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs %s %s (got %s)", op, clf_dtype_str(dtype),
                        what, clf_dtype_str(t->dtype));
    return CLF_OK;
}

/* Checks an optional per-column vector (bias, gamma, beta): f32 [n]. */
static enum clf_status check_vector(struct clf_graph *g, const struct clf_tensor *t, int64_t n,
                                    const char *op, const char *what)
{
    enum clf_status st = check_tensor(g, t, CLF_F32, op, what);
    if (st != CLF_OK)
        return st;
    if (t->ndim != 1 || t->shape[0] != n)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "%s: %s must be [%lld] (the last dimension of the input), got %d-D "
                        "with %lld elements",
                        op, what, (long long)n, t->ndim, (long long)clf_tensor_numel(t));
    return CLF_OK;
}

/* A layernorm's eps: > 0 and finite. */
static enum clf_status check_eps(struct clf_graph *g, const char *op, float eps)
{
    if (!(eps > 0.0f) || isinf(eps))
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: eps must be > 0 and finite (got %g)", op,
                        (double)eps);
    return CLF_OK;
}

/* True when t (NULL: absent) has stride 1 in its last dimension (or a last
 * dimension of 1). */
static bool last_contiguous(const struct clf_tensor *t)
{
    return !t || t->shape[t->ndim - 1] <= 1 || t->strides[t->ndim - 1] == 1;
}

/* Resolves *variant: AUTO by device type, then PER_ITEM and PER_ITEM_VEC to
 * PER_ITEM_VEC when x, gamma, beta and res (any but x may be NULL) are
 * contiguous along the rows (the output always is), else to PER_ITEM. AUTO
 * takes the vector variant on CPU devices only. */
static enum clf_status check_variant(struct clf_graph *g, enum clf_rows_variant *variant,
                                     const char *op, const struct clf_tensor *x,
                                     const struct clf_tensor *gamma,
                                     const struct clf_tensor *beta, const struct clf_tensor *res)
{
    bool contiguous = last_contiguous(x) && last_contiguous(gamma) && last_contiguous(beta) &&
                      last_contiguous(res);
    if (*variant == CLF_ROWS_AUTO) {
        *variant = clf_rows_auto_variant(g->ctx);
        if (*variant == CLF_ROWS_PER_ITEM && g->ctx->info.type == CLF_DEVICE_CPU)
            *variant = CLF_ROWS_PER_ITEM_VEC;
    }
    if (*variant != CLF_ROWS_PER_ITEM && *variant != CLF_ROWS_PER_GROUP &&
        *variant != CLF_ROWS_PER_ITEM_VEC)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: unknown kernel variant %d", op,
                        (int)*variant);
    if (*variant == CLF_ROWS_PER_ITEM_VEC && !contiguous)
        *variant = CLF_ROWS_PER_ITEM;
    return CLF_OK;
}

enum clf_status clf_op_bias_add(struct clf_graph *g, struct clf_tensor *x,
                                struct clf_tensor *bias, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "bias_add");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "bias_add", "input");
    if (st == CLF_OK)
        st = check_vector(g, bias, x->shape[x->ndim - 1], "bias_add", "bias");
    if (st != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_bias_add;
    node.n_in = 2;
    node.in[0] = x;
    node.in[1] = bias;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, x->shape, out);
}

/* CLF_E_INVALID_ARG, naming op, unless act is an enum clf_act value. */
static enum clf_status check_act(struct clf_graph *g, enum clf_act act, const char *op)
{
    switch (act) {
    case CLF_ACT_NONE:
    case CLF_ACT_RELU:
    case CLF_ACT_GELU:
    case CLF_ACT_GELU_TANH:
    case CLF_ACT_TANH:
        return CLF_OK;
    default:
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: unknown activation %d", op, (int)act);
    }
}

enum clf_status clf_op_act(struct clf_graph *g, struct clf_tensor *x, enum clf_act act,
                           struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "act");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "act", "input");
    if (st != CLF_OK)
        return st;
    if ((st = check_act(g, act, "act")) != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_act;
    node.n_in = 1;
    node.in[0] = x;
    node.iparams[0] = act;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, x->shape, out);
}

enum clf_status clf_op_glu(struct clf_graph *g, struct clf_tensor *x, enum clf_act act,
                           struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "glu");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "glu", "input");
    if (st == CLF_OK)
        st = check_act(g, act, "glu");
    if (st != CLF_OK)
        return st;
    int64_t shape[CLF_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    if (shape[x->ndim - 1] % 2)
        return clf_fail(g->ctx, CLF_E_SHAPE, "glu: the input's last dimension %lld is odd",
                        (long long)shape[x->ndim - 1]);
    shape[x->ndim - 1] /= 2;
    struct clf_node node = {0};
    node.impl = &op_glu;
    node.n_in = 1;
    node.in[0] = x;
    node.iparams[0] = act;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, shape, out);
}

enum clf_status clf_rows_softmax_record(struct clf_graph *g, struct clf_tensor *x,
                                        enum clf_rows_variant variant, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "softmax");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "softmax", "input");
    if (st == CLF_OK)
        st = check_variant(g, &variant, "softmax", x, NULL, NULL, NULL);
    if (st != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_softmax;
    node.n_in = 1;
    node.in[0] = x;
    node.iparams[0] = variant;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, x->shape, out);
}

enum clf_status clf_op_softmax(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor **out)
{
    return clf_rows_softmax_record(g, x, CLF_ROWS_AUTO, out);
}

enum clf_status clf_rows_layernorm_record(struct clf_graph *g, struct clf_tensor *x,
                                          struct clf_tensor *res, struct clf_tensor *gamma,
                                          struct clf_tensor *beta, float eps,
                                          enum clf_rows_variant variant, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "layernorm");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "layernorm", "input");
    if (st == CLF_OK && res)
        st = check_tensor(g, res, CLF_F32, "layernorm", "residual");
    if (st != CLF_OK)
        return st;
    if (res && !clf_same_shape(x, res))
        return clf_fail(g->ctx, CLF_E_SHAPE, "layernorm: the residual's shape differs from the input's");
    int64_t n = x->shape[x->ndim - 1];
    if (gamma)
        st = check_vector(g, gamma, n, "layernorm", "gamma");
    if (st == CLF_OK && beta)
        st = check_vector(g, beta, n, "layernorm", "beta");
    if (st != CLF_OK)
        return st;
    if ((st = check_eps(g, "layernorm", eps)) != CLF_OK)
        return st;
    st = check_variant(g, &variant, "layernorm", x, gamma, beta, res);
    if (st != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_layernorm;
    node.n_in = 4;
    node.in[0] = x;
    node.in[1] = gamma;
    node.in[2] = beta;
    node.in[3] = res;
    node.fparams[0] = eps;
    node.fparams[1] = 1.0f / (float)n; /* one IEEE rounding (n < 2^24 is exact as a float) */
    node.iparams[0] = variant;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, x->shape, out);
}

enum clf_status clf_op_layernorm(struct clf_graph *g, struct clf_tensor *x,
                                 struct clf_tensor *gamma, struct clf_tensor *beta, float eps,
                                 struct clf_tensor **out)
{
    return clf_rows_layernorm_record(g, x, NULL, gamma, beta, eps, CLF_ROWS_AUTO, out);
}

enum clf_status clf_op_add_layernorm(struct clf_graph *g, struct clf_tensor *x,
                                     struct clf_tensor *res, struct clf_tensor *gamma,
                                     struct clf_tensor *beta, float eps, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "add_layernorm");
    if (st == CLF_OK && !res) /* a NULL residual is a slip: clf_op_layernorm is x alone */
        st = clf_fail(g->ctx, CLF_E_INVALID_ARG, "add_layernorm: NULL residual");
    if (st != CLF_OK)
        return st;
    return clf_rows_layernorm_record(g, x, res, gamma, beta, eps, CLF_ROWS_AUTO, out);
}

enum clf_status clf_rows_embedding_record(struct clf_graph *g, struct clf_tensor *table,
                                          struct clf_tensor *ids, bool check_ids,
                                          struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "embedding");
    if (st == CLF_OK)
        st = check_tensor(g, table, CLF_F32, "embedding", "table");
    if (st == CLF_OK)
        st = check_tensor(g, ids, CLF_I32, "embedding", "ids");
    if (st != CLF_OK)
        return st;
    if (table->ndim != 2)
        return clf_fail(g->ctx, CLF_E_SHAPE, "embedding: the table must be 2-D [V, D], got %d-D",
                        table->ndim);
    if (ids->ndim > CLF_MAX_DIMS - 1)
        return clf_fail(g->ctx, CLF_E_SHAPE, "embedding: ids must have 1 to %d dimensions, got %d",
                        CLF_MAX_DIMS - 1, ids->ndim);
    int64_t shape[CLF_MAX_DIMS];
    for (int d = 0; d < ids->ndim; d++)
        shape[d] = ids->shape[d];
    shape[ids->ndim] = table->shape[1];
    struct clf_node node = {0};
    node.impl = &op_embedding;
    node.n_in = 2;
    node.in[0] = table;
    node.in[1] = ids;
    node.iparams[0] = check_ids;
    return clf_add_node_with_output(g, &node, CLF_F32, ids->ndim + 1, shape, out);
}

enum clf_status clf_op_embedding(struct clf_graph *g, struct clf_tensor *table,
                                 struct clf_tensor *ids, struct clf_tensor **out)
{
    return clf_rows_embedding_record(g, table, ids, true, out);
}

/* Checks a table of embedding_ln: f32 [rows >= min_rows, d], rows contiguous. */
static enum clf_status check_table(struct clf_graph *g, const struct clf_tensor *t,
                                   int64_t min_rows, int64_t d, const char *what)
{
    enum clf_status st = check_tensor(g, t, CLF_F32, "embedding_ln", what);
    if (st != CLF_OK)
        return st;
    if (t->ndim != 2 || t->shape[0] < min_rows || (d >= 0 && t->shape[1] != d) ||
        !last_contiguous(t))
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "embedding_ln: the %s table must be f32 [>= %lld, %lld] with contiguous "
                        "rows",
                        what, (long long)min_rows, (long long)d);
    return CLF_OK;
}

enum clf_status clf_rows_embedding_ln_record(struct clf_graph *g, struct clf_tensor *word,
                                             struct clf_tensor *ids, struct clf_tensor *pos,
                                             struct clf_tensor *type, struct clf_tensor *gamma,
                                             struct clf_tensor *beta, float eps, bool check_ids,
                                             struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "embedding_ln");
    if (st == CLF_OK)
        st = check_tensor(g, ids, CLF_I32, "embedding_ln", "ids");
    if (st != CLF_OK)
        return st;
    if (ids->ndim != 2)
        return clf_fail(g->ctx, CLF_E_SHAPE, "embedding_ln: ids must be i32 [batch, seq]");
    st = check_table(g, word, 1, -1, "word");
    const int64_t d = st == CLF_OK ? word->shape[1] : 0;
    if (st == CLF_OK)
        st = check_table(g, pos, ids->shape[1], d, "position");
    if (st == CLF_OK && type)
        st = check_vector(g, type, d, "embedding_ln", "token type row");
    if (st == CLF_OK)
        st = check_vector(g, gamma, d, "embedding_ln", "gamma");
    if (st == CLF_OK)
        st = check_vector(g, beta, d, "embedding_ln", "beta");
    if (st != CLF_OK)
        return st;
    if (!last_contiguous(type) || !last_contiguous(gamma) || !last_contiguous(beta))
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "embedding_ln: the type row, gamma and beta must be contiguous");
    if ((st = check_eps(g, "embedding_ln", eps)) != CLF_OK)
        return st;
    struct clf_node node = {0};
    node.impl = &op_embedding_ln;
    node.n_in = 6;
    node.in[0] = word;
    node.in[1] = ids;
    node.in[2] = pos;
    node.in[3] = type;
    node.in[4] = gamma;
    node.in[5] = beta;
    node.iparams[0] = check_ids;
    node.fparams[0] = eps;
    node.fparams[1] = 1.0f / (float)d;
    const int64_t shape[3] = {ids->shape[0], ids->shape[1], d};
    return clf_add_node_with_output(g, &node, CLF_F32, 3, shape, out);
}
