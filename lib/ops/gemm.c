/*
 * The GEMM op (the entry point): resolves tensors, transpositions and batch
 * strides into a struct clf_gemm_problem at record time, and at run time
 * hands it to the provider chosen (forced, or measured by the auto-tuner,
 * gemm_tune.c) through clf_gemm_run_choice (gemm_run.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h"
#include "../runtime/abi.h"

const char *clf_gemm_provider_str(enum clf_gemm_provider p)
{
    switch (p) {
    case CLF_GEMM_AUTO: return "auto";
    case CLF_GEMM_CLBLAST: return "clblast";
    case CLF_GEMM_NATIVE: return "native";
    }
    return "?";
}

const char *clf_precision_str(enum clf_precision p)
{
    switch (p) {
    case CLF_PRECISION_F32: return "f32";
    case CLF_PRECISION_F16: return "f16";
    case CLF_PRECISION_BF16: return "bf16";
    }
    return "?";
}

void clf_gemm_params_init(struct clf_gemm_params *out, size_t size)
{
    struct clf_gemm_params p = {0};
    p.trans_a = false;
    p.trans_b = false;
    p.alpha = 1.0f;
    p.beta = 0.0f;
    p.bias = NULL;
    p.act = CLF_ACT_NONE;
    p.c = NULL;
    p.provider = CLF_GEMM_AUTO;
    p.b_precision = CLF_PRECISION_F32;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* Per-node state: the problem (resolved at record time), the requested
 * provider, the choice made at the first run, and the scratch buffers. */
struct gemm_node {
    struct clf_gemm_problem prob;
    enum clf_gemm_provider requested;
    bool chosen;
    struct clf_gemm_choice choice;
    struct clf_gemm_scratch scratch;
};

static void gemm_node_free(struct clf_ctx *ctx, void *state)
{
    struct gemm_node *gn = state;
    clf_gemm_scratch_release(ctx, &gn->scratch);
    free(gn);
}

/* The provider the node asks for: its own, else the context's. */
static enum clf_gemm_provider requested(const struct clf_ctx *ctx, const struct gemm_node *gn)
{
    return gn->requested != CLF_GEMM_AUTO ? gn->requested : ctx->gemm_provider;
}

static enum clf_status enqueue_gemm(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    struct gemm_node *gn = node->state;
    if (!gn->chosen) {
        enum clf_gemm_provider req = requested(ctx, gn);
        enum clf_status st = CLF_OK;
        if (req == CLF_GEMM_AUTO) {
            st = clf_gemm_tune_choose(ctx, &gn->prob, &gn->choice);
        } else if (req == CLF_GEMM_CLBLAST && !clf_gemm_clblast_supports(&gn->prob)) {
            st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                          "CLBlast needs a unit stride in each GEMM operand; use the native "
                          "provider or contiguous operands");
        } else {
            gn->choice.provider = req;
            gn->choice.config = 0;
        }
        if (st != CLF_OK)
            return st;
        gn->chosen = true;
    }
    return clf_gemm_run_choice(ctx, &gn->prob, &gn->choice, &gn->scratch, n_wait, wait, ev);
}

/* The graph's tuning pass (lib/graph/graph_tune.c): the steps of the
 * node's class measurement still to be made, or 0. */
static int tune_steps_gemm(struct clf_ctx *ctx, const struct clf_node *node, bool thorough,
                           char *key, size_t size)
{
    const struct gemm_node *gn = node->state;
    if (gn->chosen || requested(ctx, gn) != CLF_GEMM_AUTO)
        return 0;
    return clf_gemm_tune_pending(ctx, &gn->prob, thorough, key, size);
}

static enum clf_status tune_gemm(struct clf_ctx *ctx, struct clf_node *node)
{
    const struct gemm_node *gn = node->state;
    return clf_gemm_tune_measure(ctx, &gn->prob);
}

static void describe_gemm(const struct clf_node *node, char *buf, size_t size)
{
    const struct gemm_node *gn = node->state;
    const struct clf_gemm_problem *p = &gn->prob;
    int w = clf_gemm_problem_str(p, buf, size);
    if (w >= 0 && (size_t)w < size && p->b_prec != CLF_PRECISION_F32)
        w += snprintf(buf + w, size - (size_t)w, " B %s", clf_precision_str(p->b_prec));
    if (w < 0 || (size_t)w >= size)
        return;
    if (!gn->chosen) {
        snprintf(buf + w, size - (size_t)w, " %s (not run yet)",
                 clf_gemm_provider_str(gn->requested));
    } else if (gn->choice.provider == CLF_GEMM_CLBLAST) {
        snprintf(buf + w, size - (size_t)w, " clblast");
    } else if (p->a_t->ctx->info.type == CLF_DEVICE_CPU) {
        const struct clf_gemm_cpu_config *c = &clf_gemm_cpu_configs[gn->choice.config];
        snprintf(buf + w, size - (size_t)w, " native:%d (cpu tile %dx%d, float%d)",
                 gn->choice.config, c->tm, c->tn, c->vw);
    } else {
        const struct clf_gemm_gpu_config *c = &clf_gemm_gpu_configs[gn->choice.config];
        snprintf(buf + w, size - (size_t)w, " native:%d (gpu tile %d, %d per item)",
                 gn->choice.config, c->ts, c->wpt);
    }
}

/* 2·M·N·K per batch entry (the epilogue's O(M·N) is left out). */
static double flops_gemm(const struct clf_node *node)
{
    const struct clf_gemm_problem *p = &((const struct gemm_node *)node->state)->prob;
    return 2.0 * (double)p->batch * (double)p->m * (double)p->n * (double)p->k;
}

static const struct clf_op_impl op_gemm = {.name = "gemm",
                                           .enqueue = enqueue_gemm,
                                           .describe = describe_gemm,
                                           .flops = flops_gemm,
                                           .tune_steps = tune_steps_gemm,
                                           .tune = tune_gemm};

/* Rows, columns and (row, column) strides of the matrix in the last two
 * dimensions of t, transposed when trans. */
static void matrix_view(const struct clf_tensor *t, bool trans, int64_t *rows, int64_t *cols,
                        cl_long *rs, cl_long *cs)
{
    int nd = t->ndim;
    int64_t r = t->shape[nd - 2], c = t->shape[nd - 1];
    int64_t sr = t->strides[nd - 2], sc = t->strides[nd - 1];
    *rows = trans ? c : r;
    *cols = trans ? r : c;
    *rs = trans ? sc : sr;
    *cs = trans ? sr : sc;
}

enum clf_status clf_op_gemm(struct clf_graph *g, struct clf_tensor *a, struct clf_tensor *b,
                            const struct clf_gemm_params *params, struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "gemm");
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = g->ctx;
    struct clf_gemm_params dflt = clf_gemm_params_default();
    if ((st = clf_abi_import(ctx, "clf_gemm_params", params, &dflt, sizeof dflt)) != CLF_OK)
        return st;
    const struct clf_gemm_params *p = &dflt;
    if ((st = clf_graph_check_input(g, a, "A")) != CLF_OK ||
        (st = clf_graph_check_input(g, b, "B")) != CLF_OK)
        return st;
    if (p->bias && (st = clf_graph_check_input(g, p->bias, "bias")) != CLF_OK)
        return st;
    if (p->c && (st = clf_graph_check_input(g, p->c, "C")) != CLF_OK)
        return st;
    if (a->dtype != CLF_F32 || b->dtype != CLF_F32)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm needs f32 operands (got %s, %s)",
                        clf_dtype_str(a->dtype), clf_dtype_str(b->dtype));
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm operands are 2-D or 3-D (got %d-D and %d-D)",
                        a->ndim, b->ndim);
    if (b->ndim == 3 && a->ndim != 3)
        return clf_fail(ctx, CLF_E_SHAPE, "a batched B needs a batched A");
    if ((unsigned)p->act > CLF_ACT_TANH)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown activation %d", (int)p->act);
    if ((unsigned)p->provider > CLF_GEMM_NATIVE)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown GEMM provider %d", (int)p->provider);
    if ((unsigned)p->b_precision > CLF_PRECISION_BF16)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown GEMM precision %d",
                        (int)p->b_precision);
    if (p->b_precision != CLF_PRECISION_F32) {
        enum clf_gemm_provider req = p->provider != CLF_GEMM_AUTO ? p->provider
                                                                  : ctx->gemm_provider;
        if (ctx->info.type != CLF_DEVICE_CPU)
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "gemm with %s weights runs on CPU devices only",
                            clf_precision_str(p->b_precision));
        if (req == CLF_GEMM_CLBLAST)
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "gemm with %s weights needs the native provider, not CLBlast",
                            clf_precision_str(p->b_precision));
    }

    struct clf_gemm_problem pr = {0};
    int64_t kb = 0;
    pr.batch = a->ndim == 3 ? a->shape[0] : 1;
    matrix_view(a, p->trans_a, &pr.m, &pr.k, &pr.a_rs, &pr.a_cs);
    matrix_view(b, p->trans_b, &kb, &pr.n, &pr.b_rs, &pr.b_cs);
    if (kb != pr.k)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm inner dimensions differ: op(A) is %lldx%lld, "
                        "op(B) is %lldx%lld", (long long)pr.m, (long long)pr.k, (long long)kb,
                        (long long)pr.n);
    if (b->ndim == 3 && b->shape[0] != pr.batch)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm batch sizes differ (%lld and %lld)",
                        (long long)pr.batch, (long long)b->shape[0]);
    pr.a_t = a;
    pr.b_t = b;
    pr.a_off = a->offset;
    pr.b_off = b->offset;
    pr.a_bs = a->ndim == 3 ? a->strides[0] : 0;
    pr.b_bs = b->ndim == 3 ? b->strides[0] : 0;
    pr.alpha = p->alpha;
    pr.beta = p->beta;
    pr.act = p->act;
    pr.b_prec = p->b_precision;

    if (p->bias) {
        if (p->bias->dtype != CLF_F32 || p->bias->ndim != 1 || p->bias->shape[0] != pr.n ||
            (pr.n > 1 && p->bias->strides[0] != 1))
            return clf_fail(ctx, CLF_E_SHAPE, "gemm bias must be a contiguous f32 [%lld]",
                            (long long)pr.n);
        pr.bias_t = p->bias;
        pr.bias_off = p->bias->offset;
    }

    int64_t oshape[3] = {pr.batch, pr.m, pr.n};
    int ond = a->ndim;
    const int64_t *os = ond == 3 ? oshape : oshape + 1;
    struct clf_node node = {0};
    if (p->c) {
        struct clf_tensor *c = p->c;
        bool ok = c->dtype == CLF_F32 && c->ndim == ond && (pr.n == 1 || c->strides[ond - 1] == 1);
        for (int i = 0; ok && i < ond; i++)
            ok = c->shape[i] == os[i];
        if (!ok)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "gemm C must be f32 %s[%lld, %lld] with contiguous rows",
                            ond == 3 ? "[batch] " : "", (long long)pr.m, (long long)pr.n);
        node.out = c;
    } else {
        if (p->beta != 0.0f)
            return clf_fail(ctx, CLF_E_INVALID_ARG, "gemm beta != 0 needs an existing C");
        st = clf_graph_new_output(g, CLF_F32, ond, os, &node.out);
        if (st != CLF_OK)
            return st;
        node.out_owned = true;
    }
    pr.c_t = node.out;
    pr.c_off = node.out->offset;
    pr.c_rs = node.out->strides[ond - 2];
    pr.c_bs = ond == 3 ? node.out->strides[0] : 0;

    struct gemm_node *gn = calloc(1, sizeof *gn);
    if (!gn) {
        if (node.out_owned)
            clf_tensor_free(node.out);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a gemm node");
    }
    gn->prob = pr;
    gn->requested = p->provider;
    node.impl = &op_gemm;
    node.in[0] = a;
    node.in[1] = b;
    node.in[2] = p->bias;
    node.in[3] = p->beta != 0.0f ? p->c : NULL; /* C is read only when beta != 0 */
    node.n_in = 4;
    node.state = gn;
    node.state_free = gemm_node_free;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}
