/*
 * Quantisation to i8 codes and back (cl/quant.cl): clf_op_quantize and
 * clf_op_dequantize, with the rules documented in clformer.h.
 *
 * Two sets of kernels, chosen when the op is recorded (iparams[3]): on CPU
 * devices work-item kernels without local memory or barriers (PoCL
 * emulates barriers with work-item loops, slowly), elsewhere work-group
 * reductions. Both give bitwise equal results (exact min / max, one
 * rounding rule).
 *
 * Work-group variant (QUANT_GROUP): up to four nodes, each with one output
 * (so that the graph's dependency tracking sees every write):
 *   quantize_reduce  in x                     out stats f32 [groups, 2]
 *                    (lo, hi per group; graph-owned scratch)
 *   quantize_scale   in stats                 out scale f32 [groups]
 *   quantize_zero    in stats, scale          out zero i32 [groups]  (affine)
 *   quantize         in x, scale, zero|NULL   out q i8, x's shape
 * Work-item variant (QUANT_ITEM), per row: one kernel writes all outputs,
 *   quantize_row     in x, scale, zero|NULL   out q (quant_row_item; also
 *                    writes scale and zero, listed as inputs so that the
 *                    marker nodes below are ordered after it)
 *   quantize_output  in q                     out scale   (a marker)
 *   quantize_output  in q                     out zero    (affine; a marker)
 * The markers are the recorded writers of the second outputs: later readers
 * of scale or zero wait for them, and so for quantize_row.
 * Work-item variant, per column and per tensor: a two-stage reduction,
 *   quantize_partial in x                     out part f32 [2, parts, cols]
 *                    (lo, hi per block of QUANT_BLOCK rows and column)
 *   quantize_finish  in part, zero|NULL       out scale (also writes zero)
 *   quantize_output  in scale                 out zero    (affine; a marker)
 *   quantize         in x, scale, zero|NULL   out q (quant_codes_rows)
 * With given scales only the last node: scale (and zero) are graph-owned
 * tensors filled from the host when the op is recorded.
 * A dequantisation records one node:
 *   dequantize       in q, scale, zero|NULL   out y f32, q's shape
 * Every node keeps iparams[0] = scheme, [1] = axis, [2] = bits,
 * [3] = variant.
 * clf_quantize_seq_columns (quant.h) records, on every device:
 *   quantize_seq     in x, key padding|NULL, scale   out q (quant_seq_cols_item;
 *                    writes scale too)
 *   quantize_output  in q                     out scale   (a marker)
 */
#include <math.h>

#include "quant.h"
#include "../runtime/abi.h"

/* Largest work-group size of quant_reduce (a power of two). */
#define QUANT_MAX_GROUP 256

/* Rows per work-item of quant_partial_item: enough work per item to hide
 * the launch, few enough partial results for quant_finish's loop. */
#define QUANT_BLOCK 32

/* Kernel sets (iparams[3]). */
enum quant_variant { QUANT_GROUP = 0, QUANT_ITEM = 1 };

static enum quant_variant variant_of(const struct clf_ctx *ctx)
{
    return ctx->info.type == CLF_DEVICE_CPU ? QUANT_ITEM : QUANT_GROUP;
}

void clf_quant_params_init(struct clf_quant_params *out, size_t size)
{
    struct clf_quant_params p = {0};
    p.scheme = CLF_QUANT_SYMMETRIC;
    p.axis = CLF_QUANT_ROW;
    p.bits = 8;
    p.scales = NULL;
    p.zeros = NULL;
    p.n_scales = 0;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* Rows and columns of t seen as [rows, cols] (cols: the last dimension). */
static int64_t cols_of(const struct clf_tensor *t)
{
    return t->shape[t->ndim - 1];
}

static int64_t rows_of(const struct clf_tensor *t)
{
    return clf_tensor_numel(t) / cols_of(t);
}

static int64_t groups_of(const struct clf_tensor *t, enum clf_quant_axis axis)
{
    return axis == CLF_QUANT_ROW ? rows_of(t) : axis == CLF_QUANT_COLUMN ? cols_of(t) : 1;
}

/* ------------------------------------------------------------------------ */
/* Enqueue                                                                  */
/* ------------------------------------------------------------------------ */

static enum clf_status enqueue_reduce(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                      const cl_event *wait, cl_event *ev)
{
    /* x, shape, stats, axis, affine, local lo, local hi */
    static const char name[] = "quant_reduce";
    const struct clf_tensor *x = node->in[0];
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "quant", NULL, name, &k);
    if (st != CLF_OK)
        return st;
    cl_int axis = (cl_int)node->iparams[1], affine = node->iparams[0] == CLF_QUANT_AFFINE;
    int64_t groups = groups_of(x, (enum clf_quant_axis)axis);
    size_t ls = 1;
    /* two local float arrays of ls */
    st = clf_pow2_group_size(ctx, k, clf_tensor_numel(x) / groups, QUANT_MAX_GROUP,
                             2 * sizeof(float), &ls);
    if (st != CLF_OK)
        return st;
    struct clf_targ xa = clf_targ_of(x);
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(x, &shape, &strides, &off);
    const struct clf_karg args[] = {
        CLF_TARG(xa),
        {sizeof shape, &shape},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof axis, &axis},
        {sizeof affine, &affine},
        {ls * sizeof(float), NULL},
        {ls * sizeof(float), NULL},
    };
    st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t global = (size_t)groups * ls;
    return clf_launch(ctx, k, 1, &global, &ls, n_wait, wait, ev, name);
}

/* Gets kernel `name` of the quant program and sets args[0..n) as its
 * arguments. */
static enum clf_status quant_kernel(struct clf_ctx *ctx, const char *name,
                                    const struct clf_karg *args, cl_uint n, cl_kernel *k)
{
    enum clf_status st = clf_kernel_get(ctx, "quant", NULL, name, k);
    return st == CLF_OK ? clf_set_args(ctx, *k, name, args, n) : st;
}

/* quant_kernel, launched with one work-item per element of node->out. */
static enum clf_status quant_launch_per_element(struct clf_ctx *ctx, const struct clf_node *node,
                                                const char *name, const struct clf_karg *args,
                                                cl_uint n, cl_uint n_wait, const cl_event *wait,
                                                cl_event *ev)
{
    cl_kernel k = NULL;
    enum clf_status st = quant_kernel(ctx, name, args, n, &k);
    return st == CLF_OK ? clf_launch_per_element(ctx, k, node, n_wait, wait, ev, name) : st;
}

static enum clf_status enqueue_scale(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev)
{
    /* stats, scale, scheme, bits, groups */
    static const char name[] = "quant_scale";
    cl_int scheme = (cl_int)node->iparams[0], bits = (cl_int)node->iparams[2];
    cl_long groups = clf_tensor_numel(node->out);
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &node->in[0]->storage->mem},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof scheme, &scheme},
        {sizeof bits, &bits},
        {sizeof groups, &groups},
    };
    return quant_launch_per_element(ctx, node, name, args, CLF_NARGS(args), n_wait, wait, ev);
}

static enum clf_status enqueue_zero(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    /* stats, scale, zero, bits, groups */
    static const char name[] = "quant_zero";
    cl_int bits = (cl_int)node->iparams[2];
    cl_long groups = clf_tensor_numel(node->out);
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &node->in[0]->storage->mem},
        {sizeof(cl_mem), &node->in[1]->storage->mem},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof bits, &bits},
        {sizeof groups, &groups},
    };
    return quant_launch_per_element(ctx, node, name, args, CLF_NARGS(args), n_wait, wait, ev);
}

static enum clf_status enqueue_codes(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev)
{
    /* x, shape, scale, zero (scale's buffer when absent), q, axis, scheme,
     * bits, has_zero; scale and zero are dense graph-owned tensors */
    const char *name = node->iparams[3] == QUANT_ITEM ? "quant_codes_rows" : "quant_codes";
    const struct clf_tensor *x = node->in[0], *scale = node->in[1], *zero = node->in[2];
    cl_kernel k = NULL;
    struct clf_targ xa = clf_targ_of(x);
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(x, &shape, &strides, &off);
    cl_int axis = (cl_int)node->iparams[1], scheme = (cl_int)node->iparams[0],
           bits = (cl_int)node->iparams[2], has_zero = zero != NULL;
    const struct clf_karg args[] = {
        CLF_TARG(xa),
        {sizeof shape, &shape},
        {sizeof(cl_mem), &scale->storage->mem},
        {sizeof(cl_mem), zero ? &zero->storage->mem : &scale->storage->mem},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof axis, &axis},
        {sizeof scheme, &scheme},
        {sizeof bits, &bits},
        {sizeof has_zero, &has_zero},
    };
    enum clf_status st = quant_kernel(ctx, name, args, CLF_NARGS(args), &k);
    if (st != CLF_OK)
        return st;
    if (node->iparams[3] == QUANT_GROUP)
        return clf_launch_per_element(ctx, k, node, n_wait, wait, ev, name);
    size_t rows = (size_t)rows_of(x);
    return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, name);
}

static enum clf_status enqueue_dequant(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* q, shape, scale + its shape, zero + its shape (scale again when
     * absent, never read), y, axis, scheme, bits */
    bool item = node->iparams[3] == QUANT_ITEM;
    const char *name = item ? "quant_dequant_rows" : "quant_dequant";
    const struct clf_tensor *q = node->in[0], *scale = node->in[1];
    const struct clf_tensor *zero = node->in[2] ? node->in[2] : scale;
    cl_kernel k = NULL;
    struct clf_targ qa = clf_targ_of(q), sa = clf_targ_of(scale), za = clf_targ_of(zero);
    cl_long4 shape, s_shape, z_shape, strides;
    cl_long off;
    clf_tensor_layout4(q, &shape, &strides, &off);
    clf_tensor_layout4(scale, &s_shape, &strides, &off);
    clf_tensor_layout4(zero, &z_shape, &strides, &off);
    cl_int axis = (cl_int)node->iparams[1], scheme = (cl_int)node->iparams[0],
           bits = (cl_int)node->iparams[2];
    cl_int lin = clf_tensor_is_contiguous(scale) && clf_tensor_is_contiguous(zero);
    const struct clf_karg args[] = {
        CLF_TARG(qa),
        {sizeof shape, &shape},
        CLF_TARG(sa),
        {sizeof s_shape, &s_shape},
        CLF_TARG(za),
        {sizeof z_shape, &z_shape},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof axis, &axis},
        {sizeof scheme, &scheme},
        {sizeof bits, &bits},
        {sizeof lin, &lin}, /* quant_dequant_rows only */
    };
    enum clf_status st = quant_kernel(ctx, name, args, CLF_NARGS(args) - (item ? 0 : 1), &k);
    if (st != CLF_OK)
        return st;
    if (!item)
        return clf_launch_per_element(ctx, k, node, n_wait, wait, ev, name);
    size_t rows = (size_t)rows_of(q);
    return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, name);
}

static enum clf_status enqueue_row(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    /* x, shape, q, scale, zero (scale's buffer when absent), scheme, bits */
    static const char name[] = "quant_row_item";
    const struct clf_tensor *x = node->in[0], *scale = node->in[1], *zero = node->in[2];
    cl_kernel k = NULL;
    struct clf_targ xa = clf_targ_of(x);
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(x, &shape, &strides, &off);
    cl_int scheme = (cl_int)node->iparams[0], bits = (cl_int)node->iparams[2];
    const struct clf_karg args[] = {
        CLF_TARG(xa),
        {sizeof shape, &shape},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof(cl_mem), &scale->storage->mem},
        {sizeof(cl_mem), zero ? &zero->storage->mem : &scale->storage->mem},
        {sizeof scheme, &scheme},
        {sizeof bits, &bits},
    };
    enum clf_status st = quant_kernel(ctx, name, args, CLF_NARGS(args), &k);
    if (st != CLF_OK)
        return st;
    size_t rows = (size_t)rows_of(x);
    return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, name);
}

static enum clf_status enqueue_partial(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x, shape, part, block; global [ceil(cols / 8), parts] */
    static const char name[] = "quant_partial_item";
    const struct clf_tensor *x = node->in[0];
    cl_kernel k = NULL;
    struct clf_targ xa = clf_targ_of(x);
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(x, &shape, &strides, &off);
    cl_long block = QUANT_BLOCK;
    const struct clf_karg args[] = {
        CLF_TARG(xa),
        {sizeof shape, &shape},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof block, &block},
    };
    enum clf_status st = quant_kernel(ctx, name, args, CLF_NARGS(args), &k);
    if (st != CLF_OK)
        return st;
    size_t global[2] = {(size_t)clf_ceil_div(cols_of(x), 8), (size_t)node->out->shape[1]};
    return clf_launch_rounded(ctx, k, 2, global, CLF_WORK_ROW, n_wait, wait, ev, name);
}

static enum clf_status enqueue_finish(struct clf_ctx *ctx, struct clf_node *node,
                                      cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* part, parts, cols, scale, zero (scale's buffer when absent), axis,
     * scheme, bits; one work-item per group */
    static const char name[] = "quant_finish";
    const struct clf_tensor *part = node->in[0], *zero = node->in[1];
    cl_long parts = part->shape[1], cols = part->shape[2];
    cl_int axis = (cl_int)node->iparams[1], scheme = (cl_int)node->iparams[0],
           bits = (cl_int)node->iparams[2];
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &part->storage->mem},
        {sizeof parts, &parts},
        {sizeof cols, &cols},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof(cl_mem), zero ? &zero->storage->mem : &node->out->storage->mem},
        {sizeof axis, &axis},
        {sizeof scheme, &scheme},
        {sizeof bits, &bits},
    };
    return quant_launch_per_element(ctx, node, name, args, CLF_NARGS(args), n_wait, wait, ev);
}

static enum clf_status enqueue_seq_columns(struct clf_ctx *ctx, struct clf_node *node,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x, shape, pad (x's buffer when absent), has_pad, q, scale, bits;
     * global [ceil(n / 8), batch] */
    static const char name[] = "quant_seq_cols_item";
    const struct clf_tensor *x = node->in[0], *pad = node->in[1], *scale = node->in[2];
    struct clf_targ xa = clf_targ_of(x), pa = pad ? clf_targ_of(pad) : xa;
    cl_long4 shape, strides;
    cl_long off;
    clf_tensor_layout4(x, &shape, &strides, &off);
    cl_int has_pad = pad != NULL, bits = 8;
    const struct clf_karg args[] = {
        CLF_TARG(xa),
        {sizeof shape, &shape},
        CLF_TARG(pa),
        {sizeof has_pad, &has_pad},
        {sizeof(cl_mem), &node->out->storage->mem},
        {sizeof(cl_mem), &scale->storage->mem},
        {sizeof bits, &bits},
    };
    cl_kernel k = NULL;
    enum clf_status st = quant_kernel(ctx, name, args, CLF_NARGS(args), &k);
    if (st != CLF_OK)
        return st;
    size_t global[2] = {(size_t)clf_ceil_div(cols_of(x), 8), (size_t)x->shape[0]};
    return clf_launch_rounded(ctx, k, 2, global, CLF_WORK_ROW, n_wait, wait, ev, name);
}

/* A second output's writer: orders the node after the one that wrote it. */
static enum clf_status enqueue_marker(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                      const cl_event *wait, cl_event *ev)
{
    (void)node;
    return clf_marker(ctx, n_wait, wait, ev);
}

static const struct clf_op_impl op_row = {.name = "quantize_row", .enqueue = enqueue_row};
static const struct clf_op_impl op_partial = {.name = "quantize_partial",
                                              .enqueue = enqueue_partial};
static const struct clf_op_impl op_finish = {.name = "quantize_finish",
                                             .enqueue = enqueue_finish};
static const struct clf_op_impl op_seq_columns = {.name = "quantize_seq",
                                                  .enqueue = enqueue_seq_columns};
static const struct clf_op_impl op_marker = {.name = "quantize_output", .enqueue = enqueue_marker};
static const struct clf_op_impl op_reduce = {.name = "quantize_reduce", .enqueue = enqueue_reduce};
static const struct clf_op_impl op_scale = {.name = "quantize_scale", .enqueue = enqueue_scale};
static const struct clf_op_impl op_zero = {.name = "quantize_zero", .enqueue = enqueue_zero};
static const struct clf_op_impl op_codes = {.name = "quantize", .enqueue = enqueue_codes};
static const struct clf_op_impl op_dequant = {.name = "dequantize", .enqueue = enqueue_dequant};

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

/* Checks scheme, axis and bits (CLF_E_INVALID_ARG). */
static enum clf_status check_params(struct clf_graph *g, const struct clf_quant_params *p,
                                    const char *op)
{
    if (p->scheme != CLF_QUANT_SYMMETRIC && p->scheme != CLF_QUANT_AFFINE &&
        p->scheme != CLF_QUANT_LOG)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: unknown scheme %d", op, (int)p->scheme);
    if (p->axis != CLF_QUANT_TENSOR && p->axis != CLF_QUANT_ROW && p->axis != CLF_QUANT_COLUMN)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: unknown axis %d", op, (int)p->axis);
    int lo = p->scheme == CLF_QUANT_AFFINE ? 1 : 2;
    if (p->bits < lo || p->bits > 8)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s: bits = %d outside %d..8 for this scheme",
                        op, p->bits, lo);
    return CLF_OK;
}

/* Checks that t has dtype `dtype` and 1 to CLF_MAX_DIMS dims (CLF_E_SHAPE). */
static enum clf_status check_tensor(struct clf_graph *g, const struct clf_tensor *t,
                                    enum clf_dtype dtype, const char *op, const char *what)
{
    if (t->dtype != dtype)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs an %s %s (got %s)", op,
                        clf_dtype_str(dtype), what, clf_dtype_str(t->dtype));
    if (t->ndim < 1 || t->ndim > CLF_MAX_DIMS)
        return clf_fail(g->ctx, CLF_E_SHAPE, "%s needs a 1- to %d-D %s", op, CLF_MAX_DIMS, what);
    return CLF_OK;
}

/* Checks the given scales (and zeros) of p for `groups` groups. */
static enum clf_status check_given(struct clf_graph *g, const struct clf_quant_params *p,
                                   int64_t groups)
{
    if (!p->scales)
        return p->zeros ? clf_fail(g->ctx, CLF_E_INVALID_ARG,
                                   "quantize: zero points given without scales")
                        : CLF_OK;
    if ((int64_t)p->n_scales != groups)
        return clf_fail(g->ctx, CLF_E_SHAPE, "quantize: %zu scales given, the axis needs %lld",
                        p->n_scales, (long long)groups);
    if (p->scheme == CLF_QUANT_AFFINE && !p->zeros)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "quantize: affine scales need zero points");
    if (p->scheme != CLF_QUANT_AFFINE && p->zeros)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                        "quantize: zero points given for a scheme without them");
    int32_t lowest = -(1 << (p->bits - 1)), highest = (1 << (p->bits - 1)) - 1;
    for (size_t i = 0; i < p->n_scales; i++) {
        float s = p->scales[i];
        int e;
        if (!(s > 0.0f) || !isfinite(s))
            return clf_fail(g->ctx, CLF_E_INVALID_ARG, "quantize: scale %zu = %g is not > 0 "
                            "and finite", i, (double)s);
        if (p->scheme == CLF_QUANT_LOG && frexpf(s, &e) != 0.5f)
            return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                            "quantize: log scale %zu = %g is not a power of two", i, (double)s);
        if (p->zeros && (p->zeros[i] < lowest || p->zeros[i] > highest))
            return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                            "quantize: zero point %zu = %d outside [%d, %d]", i,
                            (int)p->zeros[i], (int)lowest, (int)highest);
    }
    return CLF_OK;
}

/* Records a node of impl reading in[0..n_in) (NULL entries allowed after
 * the first) with parameters from p and a new graph-owned dense output. */
static enum clf_status add(struct clf_graph *g, const struct clf_op_impl *impl,
                           struct clf_tensor *const *in, int n_in,
                           const struct clf_quant_params *p, enum clf_dtype dtype, int ndim,
                           const int64_t *shape, struct clf_tensor **out)
{
    struct clf_node node = {0};
    node.impl = impl;
    node.n_in = n_in;
    for (int i = 0; i < n_in; i++)
        node.in[i] = in[i];
    node.iparams[0] = p->scheme;
    node.iparams[1] = p->axis;
    node.iparams[2] = p->bits;
    node.iparams[3] = variant_of(g->ctx);
    enum clf_status st = clf_graph_new_output(g, dtype, ndim, shape, &node.out);
    if (st != CLF_OK)
        return st;
    node.out_owned = true;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}

/* A graph-owned dense 1-D tensor of n elements written by a node that
 * does not declare it as its output (see the marker nodes). */
static enum clf_status hidden_output(struct clf_graph *g, enum clf_dtype dtype, int64_t n,
                                     struct clf_tensor **out)
{
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_graph_new_output(g, dtype, 1, &n, &t);
    if (st == CLF_OK)
        st = clf_graph_adopt(g, t);
    *out = st == CLF_OK ? t : NULL;
    return st;
}

/* Records a marker node reading `after` and declaring `out` as its output:
 * out was written by the node that wrote `after` (or read it as input). */
static enum clf_status add_marker(struct clf_graph *g, struct clf_tensor *after,
                                  struct clf_tensor *out)
{
    struct clf_node node = {0};
    node.impl = &op_marker;
    node.n_in = 1;
    node.in[0] = after;
    node.out = out;
    node.out_owned = false;
    return clf_graph_add_node(g, &node);
}

/* Records the nodes computing scale (and zero) with the work-item kernels
 * (see the file comment); for per-row groups the codes q too. */
static enum clf_status add_item(struct clf_graph *g, struct clf_tensor *x,
                                const struct clf_quant_params *p, int64_t groups,
                                struct clf_tensor **s, struct clf_tensor **z,
                                struct clf_tensor **q)
{
    bool affine = p->scheme == CLF_QUANT_AFFINE;
    enum clf_status st = CLF_OK;
    if (affine)
        st = hidden_output(g, CLF_I32, groups, z);
    if (p->axis == CLF_QUANT_ROW) {
        if (st == CLF_OK)
            st = hidden_output(g, CLF_F32, groups, s);
        struct clf_tensor *in[3] = {x, *s, *z};
        if (st == CLF_OK)
            st = add(g, &op_row, in, 3, p, CLF_I8, x->ndim, x->shape, q);
        if (st == CLF_OK)
            st = add_marker(g, *q, *s);
        if (st == CLF_OK && affine)
            st = add_marker(g, *q, *z);
        return st;
    }
    struct clf_tensor *part = NULL;
    const int64_t part_shape[3] = {2, clf_ceil_div(rows_of(x), QUANT_BLOCK), cols_of(x)};
    if (st == CLF_OK)
        st = add(g, &op_partial, &x, 1, p, CLF_F32, 3, part_shape, &part);
    struct clf_tensor *in[2] = {part, *z};
    if (st == CLF_OK)
        st = add(g, &op_finish, in, 2, p, CLF_F32, 1, &groups, s);
    if (st == CLF_OK && affine)
        st = add_marker(g, *s, *z);
    return st;
}

/* A graph-owned 1-D tensor of n elements holding host data. */
static enum clf_status upload(struct clf_graph *g, enum clf_dtype dtype, int64_t n,
                              const void *host, struct clf_tensor **out)
{
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_tensor_new(g->ctx, dtype, 1, &n, &t);
    if (st != CLF_OK)
        return st;
    st = clf_tensor_write(t, host, (size_t)n * clf_dtype_size(dtype));
    if (st != CLF_OK) {
        clf_tensor_free(t);
        return st;
    }
    st = clf_graph_adopt(g, t);
    if (st == CLF_OK)
        *out = t;
    return st;
}

enum clf_status clf_op_quantize(struct clf_graph *g, struct clf_tensor *x,
                                const struct clf_quant_params *p, struct clf_tensor **q,
                                struct clf_tensor **scale, struct clf_tensor **zero)
{
    if (zero)
        *zero = NULL;
    if (scale)
        *scale = NULL;
    enum clf_status st = clf_graph_check_call(g, q, "quantize");
    if (st != CLF_OK)
        return st;
    struct clf_quant_params def = clf_quant_params_default();
    if ((st = clf_abi_import(g->ctx, "clf_quant_params", p, &def, sizeof def)) != CLF_OK)
        return st;
    p = &def;
    if (!scale)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL scale output pointer for quantize");
    st = clf_graph_check_input(g, x, "input");
    if (st == CLF_OK)
        st = check_tensor(g, x, CLF_F32, "quantize", "input");
    if (st == CLF_OK)
        st = check_params(g, p, "quantize");
    if (st != CLF_OK)
        return st;
    bool affine = p->scheme == CLF_QUANT_AFFINE;
    if (affine && !zero)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL zero output pointer for affine quantize");
    int64_t groups = groups_of(x, p->axis);
    st = check_given(g, p, groups);
    if (st != CLF_OK)
        return st;

    struct clf_tensor *s = NULL, *z = NULL;
    if (p->scales) {
        st = upload(g, CLF_F32, groups, p->scales, &s);
        if (st == CLF_OK && affine)
            st = upload(g, CLF_I32, groups, p->zeros, &z);
    } else if (variant_of(g->ctx) == QUANT_ITEM) {
        st = add_item(g, x, p, groups, &s, &z, q);
    } else {
        struct clf_tensor *stats = NULL;
        const int64_t stats_shape[2] = {groups, 2};
        st = add(g, &op_reduce, &x, 1, p, CLF_F32, 2, stats_shape, &stats);
        if (st == CLF_OK)
            st = add(g, &op_scale, &stats, 1, p, CLF_F32, 1, &groups, &s);
        if (st == CLF_OK && affine) {
            struct clf_tensor *in[2] = {stats, s};
            st = add(g, &op_zero, in, 2, p, CLF_I32, 1, &groups, &z);
        }
    }
    struct clf_tensor *in[3] = {x, s, z};
    bool fused = !p->scales && p->axis == CLF_QUANT_ROW && variant_of(g->ctx) == QUANT_ITEM;
    if (st == CLF_OK && !fused)
        st = add(g, &op_codes, in, 3, p, CLF_I8, x->ndim, x->shape, q);
    if (st != CLF_OK) {
        *q = NULL;
        return st;
    }
    *scale = s;
    if (zero)
        *zero = z;
    return CLF_OK;
}

enum clf_status clf_op_dequantize(struct clf_graph *g, struct clf_tensor *q,
                                  struct clf_tensor *scale, struct clf_tensor *zero,
                                  const struct clf_quant_params *p, struct clf_tensor **y)
{
    enum clf_status st = clf_graph_check_call(g, y, "dequantize");
    if (st != CLF_OK)
        return st;
    struct clf_quant_params def = clf_quant_params_default();
    if ((st = clf_abi_import(g->ctx, "clf_quant_params", p, &def, sizeof def)) != CLF_OK)
        return st;
    p = &def;
    st = clf_graph_check_input(g, q, "codes");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, scale, "scale");
    if (st == CLF_OK)
        st = check_params(g, p, "dequantize");
    if (st == CLF_OK)
        st = check_tensor(g, q, CLF_I8, "dequantize", "code tensor");
    if (st == CLF_OK)
        st = check_tensor(g, scale, CLF_F32, "dequantize", "scale");
    if (st != CLF_OK)
        return st;
    int64_t groups = groups_of(q, p->axis);
    if (clf_tensor_numel(scale) != groups)
        return clf_fail(g->ctx, CLF_E_SHAPE, "dequantize: %lld scales, the axis needs %lld",
                        (long long)clf_tensor_numel(scale), (long long)groups);
    if (p->scheme == CLF_QUANT_AFFINE) {
        st = clf_graph_check_input(g, zero, "zero points");
        if (st == CLF_OK)
            st = check_tensor(g, zero, CLF_I32, "dequantize", "zero point tensor");
        if (st != CLF_OK)
            return st;
        if (clf_tensor_numel(zero) != groups)
            return clf_fail(g->ctx, CLF_E_SHAPE, "dequantize: %lld zero points, the axis needs "
                            "%lld", (long long)clf_tensor_numel(zero), (long long)groups);
    } else if (zero) {
        return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                        "dequantize: zero points given for a scheme without them");
    }
    struct clf_tensor *in[3] = {q, scale, zero};
    return add(g, &op_dequant, in, 3, p, CLF_F32, q->ndim, q->shape, y);
}

enum clf_status clf_quantize_seq_columns(struct clf_graph *g, struct clf_tensor *x,
                                         struct clf_tensor *key_padding, struct clf_tensor **q,
                                         struct clf_tensor **scale)
{
    if (scale)
        *scale = NULL;
    enum clf_status st = clf_graph_check_call(g, q, "quantize_seq_columns");
    if (st == CLF_OK && !scale)
        st = clf_fail(g->ctx, CLF_E_INVALID_ARG,
                      "NULL scale output pointer for quantize_seq_columns");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "quantize_seq_columns input");
    if (st == CLF_OK && key_padding)
        st = clf_graph_check_input(g, key_padding, "quantize_seq_columns key padding");
    if (st != CLF_OK)
        return st;
    if (x->dtype != CLF_F32 || x->ndim != 3)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "quantize_seq_columns needs an f32 [batch, seq, n] input (got %s, %d-D)",
                        clf_dtype_str(x->dtype), x->ndim);
    if (key_padding && (key_padding->dtype != CLF_I32 || key_padding->ndim != 2 ||
                        key_padding->shape[0] != x->shape[0] ||
                        key_padding->shape[1] != x->shape[1]))
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "quantize_seq_columns: the key padding must be i32 [batch, seq] = "
                        "[%lld, %lld]",
                        (long long)x->shape[0], (long long)x->shape[1]);
    struct clf_quant_params p = clf_quant_params_default();
    p.axis = CLF_QUANT_COLUMN;
    struct clf_tensor *s = NULL;
    st = hidden_output(g, CLF_F32, x->shape[0] * x->shape[2], &s);
    struct clf_tensor *in[3] = {x, key_padding, s};
    if (st == CLF_OK)
        st = add(g, &op_seq_columns, in, 3, &p, CLF_I8, 3, x->shape, q);
    if (st == CLF_OK)
        st = add_marker(g, *q, s);
    if (st != CLF_OK) {
        *q = NULL;
        return st;
    }
    *scale = s;
    return CLF_OK;
}
