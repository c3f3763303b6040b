/*
 * Rotary position embedding (RoPE, Su et al. 2021) in the rotate-half
 * layout (kernel rope_apply in cl/posenc.cl): the cos | sin table,
 * precomputed once per context per (positions, dim, θ), and the op that
 * rotates x [..., seq, dim] by it.
 */
#include <math.h>
#include <string.h>

#include "ops.h"

/*
 * table[pos, i] = cos(a), table[pos, d/2 + i] = sin(a), i < d/2, with the
 * angle a = pos·θ^(−2i/d) formed in f32 as Hugging Face forms it (and so
 * the models trained with it): the exponent e = 2i/d, the inverse
 * frequency f = 1/θ^e and a = pos·f each rounded to f32 (powf: glibc's is
 * correctly rounded in all but rare cases, as torch's f32 pow), then cos
 * and sin of that f32 angle in double, rounded once to f32. The exact
 * angle differs from it by up to a·(ln θ + 3)·2^-24 (5e-4 rad at position
 * 8191), which moves a long text's embedding; test-posenc checks the table
 * against transformers' own (test/reference/rope-hf.json) and against the
 * exact angle within that bound.
 */
static void fill_rope(float *t, const int64_t key[4])
{
    const int64_t max_len = key[0], d = key[1], h = d / 2;
    double theta;
    memcpy(&theta, &key[2], sizeof theta);
    for (int64_t i = 0; i < h; i++) {
        const float e = (float)(2 * i) / (float)d;
        const float f = 1.0f / powf((float)theta, e);
        for (int64_t pos = 0; pos < max_len; pos++) {
            const float angle = (float)pos * f;
            t[pos * d + i] = (float)cos((double)angle);
            t[pos * d + h + i] = (float)sin((double)angle);
        }
    }
}

enum clf_status clf_rope_table(struct clf_ctx *ctx, int64_t max_len, int64_t dim, double theta,
                               struct clf_tensor **table)
{
    if (!table)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer for rope_table")
                   : CLF_E_INVALID_ARG;
    *table = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (max_len < 1 || dim < 2 || dim % 2)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "rotary table of %lld positions x %lld columns (positions >= 1, "
                        "columns even and >= 2)",
                        (long long)max_len, (long long)dim);
    if (!(theta > 0) || !isfinite(theta))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "rotary table: theta %g (must be finite, > 0)",
                        theta);
    int64_t key[4] = {max_len, dim, 0, 0}; /* theta's bits in key[2] */
    memcpy(&key[2], &theta, sizeof theta);
    return clf_owned_table(ctx, CLF_CTX_TENSOR_ROPE, key, fill_rope, "rotary", table);
}

static enum clf_status enqueue_rope(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    /* x [d0, d1, seq, d], table [rows, d] -> y [d0, d1, seq, d], shape */
    return clf_launch_io_args(ctx, node, "posenc", "rope_apply", NULL, 0, n_wait, wait, ev);
}

/* A product and an fma per element. */
static double flops_rope(const struct clf_node *node)
{
    return 3.0 * (double)clf_tensor_numel(node->out);
}

static const struct clf_op_impl op_rope = {.name = "rope", .enqueue = enqueue_rope,
                                           .flops = flops_rope};

enum clf_status clf_op_rope(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor *table,
                            struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "rope");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "rope input");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, table, "rope table");
    if (st != CLF_OK)
        return st;
    if (x->dtype != CLF_F32 || table->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "rope needs an f32 input and table (got %s, %s)",
                        clf_dtype_str(x->dtype), clf_dtype_str(table->dtype));
    if (x->ndim < 2 || table->ndim != 2)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "rope needs x [..., seq, dim] and a table [positions, dim] (got %d and "
                        "%d dimensions)",
                        x->ndim, table->ndim);
    const int64_t seq = x->shape[x->ndim - 2], d = x->shape[x->ndim - 1];
    if (d % 2 || d != table->shape[1])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "rope: input has %lld columns, the table %lld (equal and even)",
                        (long long)d, (long long)table->shape[1]);
    if (seq > table->shape[0])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "rope: sequence length %lld exceeds the table's %lld positions",
                        (long long)seq, (long long)table->shape[0]);
    struct clf_node node = {0};
    node.impl = &op_rope;
    node.n_in = 2;
    node.in[0] = x;
    node.in[1] = table;
    return clf_add_node_with_output(g, &node, CLF_F32, x->ndim, x->shape, out);
}
