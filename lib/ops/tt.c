/*
 * Tensor-Train linear layer (cl/tt.cl): upload of the cores and the op,
 * recorded as one node per core (S_k = 1 steps as clf_op_gemm nodes, see
 * tt.h) plus, at times, a tt_bias_act node.
 *
 * Node parameters of a step (impl "tt_contract"):
 *   in[0] = the step's input (x for step 0, else the previous step's out),
 *   in[1] = the core gt[k] [K, Qpad], in[2] = bias [M] or NULL (last step)
 *   iparams[0] P, [1] Q = m_k·r_{k+1}, [2] Qpad, [3] K = r_k·n_k,
 *   [4] S = Π_{u>k} n_u, [5] in_ldp (row stride of in[0] over p),
 *   [6] act (NONE except in the last step), [7] M (the bias period)
 * Node parameters of impl "tt_bias_act": in[0] = the last GEMM's output
 * viewed [B, M], in[1] = bias [M] or NULL; iparams[0] M, [1] act.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tt.h"

/* Tile sizes of tt_contract (TT_TC x TT_TQ in cl/tt.cl). */
#define TT_TC 8

static enum clf_status enqueue_tt(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                  const cl_event *wait, cl_event *ev)
{
    /* in, gt, bias (placeholder when absent) -> out, shape, then the scalars */
    cl_kernel k = NULL;
    cl_uint arg = 0;
    enum clf_status st = clf_kernel_io(ctx, node, "tt", NULL, "tt_contract", &k, &arg);
    if (st != CLF_OK)
        return st;
    const int64_t *ip = node->iparams;
    cl_long P = ip[0], Q = ip[1], Qpad = ip[2], K = ip[3], S = ip[4], ldp = ip[5], M = ip[7];
    cl_int act = (cl_int)ip[6], has_bias = node->in[2] != NULL;
    const struct clf_karg args[] = {
        {sizeof P, &P},   {sizeof Q, &Q},     {sizeof Qpad, &Qpad},         {sizeof K, &K},
        {sizeof S, &S},   {sizeof ldp, &ldp}, {sizeof has_bias, &has_bias}, {sizeof M, &M},
        {sizeof act, &act}};
    for (cl_uint i = 0; i < CLF_NARGS(args); i++)
        if (clf_set_arg(k, arg + i, args[i].size, args[i].value) != CL_SUCCESS)
            return clf_fail(ctx, CLF_E_OPENCL, "setting argument %u of tt_contract failed",
                            arg + i);
    const size_t global[2] = {(size_t)clf_ceil_div(P * S, TT_TC),
                              (size_t)(Qpad / CLF_TT_QTILE)};
    return clf_launch_rounded(ctx, k, 2, global, CLF_WORK_ROW, n_wait, wait, ev, "tt_contract");
}

static void describe_tt(const struct clf_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "tt_contract P=%lld Q=%lld K=%lld S=%lld", (long long)node->iparams[0],
             (long long)node->iparams[1], (long long)node->iparams[3],
             (long long)node->iparams[4]);
}

static const struct clf_op_impl op_tt = {
    .name = "tt_contract", .enqueue = enqueue_tt, .describe = describe_tt};

static enum clf_status enqueue_bias_act(struct clf_ctx *ctx, struct clf_node *node,
                                        cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    /* in, bias (placeholder when absent) -> out, shape, then the scalars */
    cl_kernel k = NULL;
    cl_uint arg = 0;
    enum clf_status st = clf_kernel_io(ctx, node, "tt", NULL, "tt_bias_act", &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_long M = node->iparams[0];
    cl_int act = (cl_int)node->iparams[1], has_bias = node->in[1] != NULL;
    const struct clf_karg args[] = {{sizeof M, &M}, {sizeof has_bias, &has_bias},
                                    {sizeof act, &act}};
    for (cl_uint i = 0; i < CLF_NARGS(args); i++)
        if (clf_set_arg(k, arg + i, args[i].size, args[i].value) != CL_SUCCESS)
            return clf_fail(ctx, CLF_E_OPENCL, "setting argument %u of tt_bias_act failed",
                            arg + i);
    return clf_launch_per_element(ctx, k, node, n_wait, wait, ev, "tt_bias_act");
}

static const struct clf_op_impl op_bias_act = {.name = "tt_bias_act",
                                               .enqueue = enqueue_bias_act};

void clf_tt_weights_free(struct clf_tt_weights *w)
{
    if (!w)
        return;
    for (int k = 0; k < CLF_TT_MAX_D; k++) {
        clf_tensor_destroy(w->gv[k]);
        clf_tensor_destroy(w->gt[k]);
    }
    free(w);
}

enum clf_status clf_tt_upload(struct clf_ctx *ctx, const struct clf_tt *tt,
                              struct clf_tt_weights **out)
{
    if (!ctx || !out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "TT upload: NULL output")
                   : CLF_E_INVALID_ARG;
    *out = NULL;
    enum clf_status st = clf_tt_check(ctx, tt);
    if (st != CLF_OK)
        return st;
    struct clf_tt_weights *w = calloc(1, sizeof *w);
    if (!w)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT upload: no host memory");
    w->ctx = ctx;
    w->d = tt->d;
    w->rtl = clf_tt_order_rtl(tt);
    w->M = w->N = 1;
    w->r[0] = tt->r[0];
    for (int k = 0; k < tt->d; k++) {
        w->m[k] = tt->m[k];
        w->n[k] = tt->n[k];
        w->r[k + 1] = tt->r[k + 1];
        w->M *= tt->m[k];
        w->N *= tt->n[k];
    }
    float *host = NULL;
    for (int k = 0; k < tt->d && st == CLF_OK; k++) {
        const int64_t A = tt->r[k], Mk = tt->m[k], Nk = tt->n[k], R = tt->r[k + 1];
        const int64_t K = w->rtl ? Nk * R : A * Nk, Q = w->rtl ? A * Mk : Mk * R, Qpad = (int64_t)clf_round_up((size_t)Q, CLF_TT_QTILE);
        w->qpad[k] = Qpad;
        host = calloc((size_t)(K * Qpad), sizeof *host);
        if (!host) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT upload: no host memory for core %d", k);
            break;
        }
        const double *g = tt->cores[k]; /* [A, Mk, Nk, R] */
        for (int64_t a = 0; a < A; a++)
            for (int64_t i = 0; i < Mk; i++)
                for (int64_t j = 0; j < Nk; j++)
                    for (int64_t b = 0; b < R; b++) {
                        const double v = g[((a * Mk + i) * Nk + j) * R + b];
                        if (!(fabs(v) <= 3.4028234663852886e38)) {
                            st = clf_fail(ctx, CLF_E_INVALID_ARG,
                                          "TT upload: core %d element (%lld, %lld, %lld, %lld) "
                                          "is not a finite f32", k, (long long)a, (long long)i,
                                          (long long)j, (long long)b);
                            goto next;
                        }
                        if (w->rtl)
                            host[(j * R + b) * Qpad + a * Mk + i] = (float)v;
                        else
                            host[(a * Nk + j) * Qpad + i * R + b] = (float)v;
                    }
        const int64_t shape[2] = {K, Qpad};
        st = clf_tensor_create(ctx, CLF_F32, 2, shape, &w->gt[k]);
        if (st == CLF_OK)
            st = clf_tensor_write(w->gt[k], host, (size_t)(K * Qpad) * sizeof *host);
        if (st == CLF_OK) {
            const int64_t vshape[2] = {K, Q}, vstr[2] = {Qpad, 1};
            st = clf_tensor_view(w->gt[k], 2, vshape, vstr, 0, &w->gv[k]);
        }
    next:
        free(host);
        host = NULL;
    }
    if (st != CLF_OK) {
        clf_tt_weights_free(w);
        return st;
    }
    *out = w;
    return CLF_OK;
}

enum clf_status clf_op_tt_linear(struct clf_graph *g, struct clf_tensor *x,
                                 const struct clf_tt_weights *w, struct clf_tensor *bias,
                                 enum clf_act act, struct clf_tensor **y)
{
    enum clf_status st = clf_graph_check_call(g, y, "tt_linear");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "tt_linear input");
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = g->ctx;
    if (!w)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "tt_linear: NULL TT weights");
    if (w->ctx != ctx)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "tt_linear: the TT weights belong to another "
                        "context");
    if (act < CLF_ACT_NONE || act > CLF_ACT_TANH)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "tt_linear: unknown activation %d", (int)act);
    if (x->dtype != CLF_F32 || x->ndim != 2 || x->shape[1] != w->N || x->strides[1] != 1)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "tt_linear: x must be f32 [B, %lld] with contiguous rows (got %s, %d-D, "
                        "last size %lld, last stride %lld)", (long long)w->N,
                        clf_dtype_str(x->dtype), x->ndim, (long long)x->shape[x->ndim - 1],
                        (long long)x->strides[x->ndim - 1]);
    if (bias) {
        st = clf_graph_check_input(g, bias, "tt_linear bias");
        if (st != CLF_OK)
            return st;
        if (bias->dtype != CLF_F32 || bias->ndim != 1 || bias->shape[0] != w->M)
            return clf_fail(ctx, CLF_E_SHAPE, "tt_linear: bias must be f32 [%lld]",
                            (long long)w->M);
    }
    for (int k = 0; k < w->d; k++)
        if (!w->gt[k] || !w->gv[k] || w->gt[k]->ctx != ctx)
            return clf_fail(ctx, CLF_E_INVALID_ARG, "tt_linear: core %d missing", k);

    const int64_t B = x->shape[0], ldx = x->strides[0];
    struct clf_tensor *in = x;
    int64_t P = B; /* P_k of the step (see tt.h) */
    if (w->rtl)
        for (int u = 0; u + 1 < w->d; u++)
            P *= w->n[u];
    for (int t = 0; t < w->d; t++) {
        const int k = w->rtl ? w->d - 1 - t : t;
        const int64_t K = w->rtl ? w->n[k] * w->r[k + 1] : w->r[k] * w->n[k];
        const int64_t Q = w->rtl ? w->r[k] * w->m[k] : w->m[k] * w->r[k + 1];
        int64_t S = 1;
        for (int u = k + 1; u < w->d; u++)
            S *= w->rtl ? w->m[u] : w->n[u];
        const bool last = t == w->d - 1;
        struct clf_tensor *out = NULL;
        if (S == 1) {
            /* out [P, Q] = in [P, K] · gv[k] [K, Q]: rows of in contiguous.
             * On x: P = B·(N/K) rows, b-th block at b·ldx (a batched GEMM
             * with the core shared unless x is dense or N = K). */
            struct clf_tensor *a = in;
            if (in == x && K != w->N && ldx != w->N) {
                const int64_t sh[3] = {B, w->N / K, K}, str[3] = {ldx, K, 1};
                st = clf_graph_view(g, x, 3, sh, str, x->offset, &a);
            } else if (in != x || K != w->N) {
                const int64_t sh[2] = {P, K}, str[2] = {K, 1};
                st = clf_graph_view(g, in, 2, sh, str, in->offset, &a);
            }
            if (st != CLF_OK)
                return st;
            struct clf_gemm_params gp = clf_gemm_params_default();
            /* rows are tokens: the GEMM's epilogue (its bias must be contiguous) */
            const bool epi = last && Q == w->M && (!bias || w->M == 1 || bias->strides[0] == 1);
            if (epi) {
                gp.bias = bias;
                gp.act = act;
            }
            st = clf_op_gemm(g, a, w->gv[k], &gp, &out);
            if (st != CLF_OK)
                return st;
            if (last && !epi) {
                /* out [P, Q] is y [B, M] in memory */
                const int64_t sh[2] = {B, w->M}, str[2] = {w->M, 1};
                struct clf_tensor *yv = NULL;
                st = clf_graph_view(g, out, 2, sh, str, out->offset, &yv);
                if (st != CLF_OK)
                    return st;
                out = yv;
                if (bias || act != CLF_ACT_NONE) {
                    struct clf_node node = {0};
                    node.impl = &op_bias_act;
                    node.n_in = 2;
                    node.in[0] = yv;
                    node.in[1] = bias;
                    node.iparams[0] = w->M;
                    node.iparams[1] = act;
                    st = clf_add_node_with_output(g, &node, CLF_F32, 2, sh, &out);
                    if (st != CLF_OK)
                        return st;
                }
            }
        } else {
            struct clf_node node = {0};
            node.impl = &op_tt;
            node.n_in = 3;
            node.in[0] = in;
            node.in[1] = w->gt[k];
            node.in[2] = last ? bias : NULL;
            node.iparams[0] = P;
            node.iparams[1] = Q;
            node.iparams[2] = w->qpad[k];
            node.iparams[3] = K;
            node.iparams[4] = S;
            node.iparams[5] = in == x ? ldx : K * S; /* intermediates are dense */
            node.iparams[6] = last ? act : CLF_ACT_NONE;
            node.iparams[7] = w->M;
            const int64_t out_shape[2] = {last ? B : P, last ? w->M : Q * S};
            st = clf_add_node_with_output(g, &node, CLF_F32, 2, out_shape, &out);
            if (st != CLF_OK)
                return st;
        }
        in = out;
        if (!last) /* the next step's P (see tt.h) */
            P = w->rtl ? P / w->n[k - 1] : P * w->m[k];
    }
    *y = in;
    return CLF_OK;
}
