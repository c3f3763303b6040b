/*
 * Positional encodings (kernels in cl/posenc.cl):
 *  - the sinusoidal table, precomputed once per context per size;
 *  - adding a table (sinusoidal or learned) to x [..., seq, d];
 *  - a low-rank factorisation P ≈ U·V of a table by truncated SVD on the
 *    host, and adding U·V to x without forming the table.
 */
#include <math.h>
#include <stdlib.h>

#include "ops.h"
#include "../linalg/svd.h"

/* Kind of the context-owned sinusoidal tables, key (max_len, d_model, 0, 0).
 * ("PE01": distinct from any small kind number another family may use.) */
#define CLF_OWNED_POSENC_SINUSOIDAL CLF_CTX_TENSOR_SINUSOIDAL

/*
 * PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same angle),
 * i.e. column c uses frequency index i = floor(c / 2). An odd d_model keeps
 * the same rule: its last column c = d-1 (even) is the sine of frequency
 * i = (d-1)/2, with no cosine partner. (So it is not the first d columns of
 * the table for d+1, whose exponents are 2i/(d+1).)
 *
 * Accuracy: computed on the host in double, then rounded once to f32. The
 * angle pos / 10000^(2i/d) has a relative error of a few double ulps, so sin
 * and cos are off by at most about angle * 2^-51 before rounding; the f32
 * rounding adds at most min(2^-24 |PE|, 2^-25) (|PE| <= 1, and 1 is exact).
 * For max_len below 2^20 the first term stays under 2^-31, so an entry is
 * the correctly rounded f32 value unless the exact value lies within 2^-31
 * of a rounding midpoint (then it may be the other neighbour). A device
 * computation would rest on OpenCL's sin/cos (4 ulp of f32, and f32
 * arguments: pos / 10000^(2i/d) itself rounded, an absolute angle error up
 * to max_len * 2^-24), which is far weaker for large positions.
 */
static void fill_sinusoidal(float *pe, const int64_t key[4])
{
    const int64_t max_len = key[0], d = key[1];
    for (int64_t c = 0; c < d; c++) {
        const int64_t i2 = c - c % 2; /* 2i */
        const double denom = pow(10000.0, (double)i2 / (double)d);
        for (int64_t pos = 0; pos < max_len; pos++) {
            const double angle = (double)pos / denom;
            pe[pos * d + c] = (float)(c % 2 ? cos(angle) : sin(angle));
        }
    }
}

enum clf_status clf_posenc_sinusoidal(struct clf_ctx *ctx, int64_t max_len, int64_t d_model,
                                      struct clf_tensor **table)
{
    if (!table)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer for posenc_sinusoidal")
                   : CLF_E_INVALID_ARG;
    *table = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (max_len < 1 || d_model < 1)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "sinusoidal table of %lld positions x %lld features (both must be >= 1)",
                        (long long)max_len, (long long)d_model);
    const int64_t key[4] = {max_len, d_model, 0, 0};
    return clf_owned_table(ctx, CLF_OWNED_POSENC_SINUSOIDAL, key, fill_sinusoidal, "sinusoidal",
                           table);
}

enum clf_status clf_owned_table(struct clf_ctx *ctx, int kind, const int64_t key[4],
                                void (*fill)(float *host, const int64_t key[4]),
                                const char *what, struct clf_tensor **table)
{
    struct clf_tensor *t = clf_ctx_owned_find(ctx, kind, key);
    if (t) {
        *table = t;
        return CLF_OK;
    }
    const int64_t shape[2] = {key[0], key[1]};
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, 2, shape, &t); /* checks overflow */
    if (st != CLF_OK)
        return st;
    const size_t bytes = (size_t)key[0] * (size_t)key[1] * sizeof(float);
    float *host = malloc(bytes);
    if (!host) {
        clf_tensor_free(t);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a %lld x %lld %s table",
                        (long long)key[0], (long long)key[1], what);
    }
    fill(host, key);
    st = clf_tensor_write(t, host, bytes);
    free(host);
    if (st != CLF_OK) {
        clf_tensor_free(t);
        return st;
    }
    st = clf_ctx_owned_add(ctx, kind, key, t); /* frees t on failure */
    if (st == CLF_OK)
        *table = t;
    return st;
}

/* ------------------------------------------------------------------------ */
/* Ops                                                                      */
/* ------------------------------------------------------------------------ */

/* posenc_add: in[0] = x, in[1] = table. */
static enum clf_status enqueue_add(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    /* x [d0, d1, seq, d], table [rows, d] -> y [d0, d1, seq, d], shape */
    return clf_launch_io_args(ctx, node, "posenc", "posenc_add", NULL, 0, n_wait, wait, ev);
}

/* posenc_add_lowrank: in[0] = x, in[1] = U, in[2] = V; iparams[0] = rank. */
static enum clf_status enqueue_lowrank(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* x [d0, d1, seq, d], U [rows, rank], V [rank, d] -> y, shape, then r */
    cl_long rank = node->iparams[0];
    const struct clf_karg args[] = {{sizeof rank, &rank}};
    return clf_launch_io_args(ctx, node, "posenc", "posenc_add_lowrank", args, CLF_NARGS(args),
                              n_wait, wait, ev);
}

static const struct clf_op_impl op_add = {.name = "posenc_add", .enqueue = enqueue_add};
static const struct clf_op_impl op_lowrank = {.name = "posenc_add_lowrank", .enqueue = enqueue_lowrank};

/* Checks that t is a 2-D f32 tensor; `what` names it in the message. */
static enum clf_status check_matrix(struct clf_ctx *ctx, const struct clf_tensor *t,
                                    const char *op, const char *what)
{
    if (t->dtype != CLF_F32)
        return clf_fail(ctx, CLF_E_SHAPE, "%s needs an f32 %s (got %s)", op, what,
                        clf_dtype_str(t->dtype));
    if (t->ndim != 2)
        return clf_fail(ctx, CLF_E_SHAPE, "%s needs a 2-D %s (got %d dimensions)", op, what,
                        t->ndim);
    return CLF_OK;
}

/* Checks x (f32 [..., seq, d]; a 1-D x [d] is one position, seq = 1) and
 * returns its seq and d. */
static enum clf_status check_x(struct clf_ctx *ctx, const struct clf_tensor *x, const char *op,
                               int64_t *seq, int64_t *d)
{
    if (x->dtype != CLF_F32)
        return clf_fail(ctx, CLF_E_SHAPE, "%s needs an f32 input (got %s)", op,
                        clf_dtype_str(x->dtype));
    *seq = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    *d = x->shape[x->ndim - 1];
    return CLF_OK;
}

/* Records a node over in[0..n_in) with a new graph-owned output shaped as
 * in[0] (x). */
static enum clf_status record(struct clf_graph *g, const struct clf_op_impl *impl,
                              struct clf_tensor **in, int n_in, int64_t rank,
                              struct clf_tensor **out)
{
    struct clf_node node = {0};
    node.impl = impl;
    node.n_in = n_in;
    for (int i = 0; i < n_in; i++)
        node.in[i] = in[i];
    node.iparams[0] = rank;
    enum clf_status st = clf_graph_new_output(g, CLF_F32, in[0]->ndim, in[0]->shape, &node.out);
    if (st != CLF_OK)
        return st;
    node.out_owned = true;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}

enum clf_status clf_op_posenc_add(struct clf_graph *g, struct clf_tensor *x,
                                  struct clf_tensor *table, struct clf_tensor **out)
{
    const char *op = "posenc_add";
    enum clf_status st = clf_graph_check_call(g, out, op);
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "posenc_add input");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, table, "posenc_add table");
    if (st != CLF_OK)
        return st;
    int64_t seq = 0, d = 0;
    if ((st = check_x(g->ctx, x, op, &seq, &d)) != CLF_OK ||
        (st = check_matrix(g->ctx, table, op, "table")) != CLF_OK)
        return st;
    if (seq > table->shape[0])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "posenc_add: sequence length %lld exceeds the table's %lld positions",
                        (long long)seq, (long long)table->shape[0]);
    if (d != table->shape[1])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "posenc_add: input has %lld features, the table %lld", (long long)d,
                        (long long)table->shape[1]);
    struct clf_tensor *in[2] = {x, table};
    return record(g, &op_add, in, 2, 0, out);
}

enum clf_status clf_op_posenc_add_lowrank(struct clf_graph *g, struct clf_tensor *x,
                                          struct clf_tensor *u, struct clf_tensor *v,
                                          struct clf_tensor **out)
{
    const char *op = "posenc_add_lowrank";
    enum clf_status st = clf_graph_check_call(g, out, op);
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "posenc_add_lowrank input");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, u, "posenc_add_lowrank U");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, v, "posenc_add_lowrank V");
    if (st != CLF_OK)
        return st;
    int64_t seq = 0, d = 0;
    if ((st = check_x(g->ctx, x, op, &seq, &d)) != CLF_OK ||
        (st = check_matrix(g->ctx, u, op, "U")) != CLF_OK ||
        (st = check_matrix(g->ctx, v, op, "V")) != CLF_OK)
        return st;
    const int64_t rank = u->shape[1];
    if (v->shape[0] != rank)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "posenc_add_lowrank: U [%lld, %lld] and V [%lld, %lld] have different "
                        "ranks",
                        (long long)u->shape[0], (long long)rank, (long long)v->shape[0],
                        (long long)v->shape[1]);
    if (seq > u->shape[0])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "posenc_add_lowrank: sequence length %lld exceeds U's %lld positions",
                        (long long)seq, (long long)u->shape[0]);
    if (d != v->shape[1])
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "posenc_add_lowrank: input has %lld features, V %lld", (long long)d,
                        (long long)v->shape[1]);
    struct clf_tensor *in[3] = {x, u, v};
    return record(g, &op_lowrank, in, 3, rank, out);
}

/* ------------------------------------------------------------------------ */
/* Low-rank factorisation                                                   */
/* ------------------------------------------------------------------------ */

/* Creates a dense f32 [rows, cols] tensor holding the double array src. */
static enum clf_status upload(struct clf_ctx *ctx, const double *src, int64_t rows, int64_t cols,
                              struct clf_tensor **out)
{
    const int64_t shape[2] = {rows, cols};
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, 2, shape, out);
    if (st != CLF_OK)
        return st;
    const size_t n = (size_t)rows * (size_t)cols;
    float *f = malloc(n * sizeof *f);
    if (!f)
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a low-rank factor");
    else {
        for (size_t i = 0; i < n; i++)
            f[i] = (float)src[i];
        st = clf_tensor_write(*out, f, n * sizeof *f);
    }
    free(f);
    if (st != CLF_OK) {
        clf_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

enum clf_status clf_posenc_factorize(struct clf_ctx *ctx, struct clf_tensor *table, int64_t rank,
                                     struct clf_tensor **u, struct clf_tensor **v,
                                     double *rel_error)
{
    if (u)
        *u = NULL;
    if (v)
        *v = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!u || !v)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer for posenc_factorize");
    if (!table)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL table for posenc_factorize");
    if (table->ctx != ctx)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "posenc_factorize: the table belongs to "
                                                "another context");
    enum clf_status st = check_matrix(ctx, table, "posenc_factorize", "table");
    if (st != CLF_OK)
        return st;
    const int64_t m = table->shape[0], n = table->shape[1], k = m < n ? m : n;
    if (rank < 1 || rank > k)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "posenc_factorize: rank %lld outside [1, %lld] for a %lld x %lld table",
                        (long long)rank, (long long)k, (long long)m, (long long)n);

    const size_t mn = (size_t)m * (size_t)n;
    float *tf = malloc(mn * sizeof *tf);
    double *a = malloc(mn * sizeof *a);
    double *left = malloc((size_t)m * (size_t)rank * sizeof *left);   /* [m, r] U_r Σ_r */
    double *right = malloc((size_t)rank * (size_t)n * sizeof *right); /* [r, n] V_rᵀ */
    if (!tf || !a || !left || !right) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "posenc_factorize: no host memory for a "
                                                "%lld x %lld table",
                      (long long)m, (long long)n);
        goto out;
    }
    if ((st = clf_tensor_read(table, tf, mn * sizeof *tf)) != CLF_OK)
        goto out;
    for (size_t i = 0; i < mn; i++)
        a[i] = tf[i];
    double err = 0;
    st = clf_svd_truncate(ctx, a, m, n, rank, CLF_SVD_SPLIT_LEFT, left, right, NULL, &err);
    if (st != CLF_OK)
        goto out;
    if ((st = upload(ctx, left, m, rank, u)) != CLF_OK)
        goto out;
    if ((st = upload(ctx, right, rank, n, v)) != CLF_OK) {
        clf_tensor_free(*u);
        *u = NULL;
        goto out;
    }
    if (rel_error)
        *rel_error = err;
out:
    free(tf);
    free(a);
    free(left);
    free(right);
    return st;
}
