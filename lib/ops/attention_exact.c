/*
 * The exact attention node (clf_op_attention without a variant):
 * softmax(scale Q.K^T + mask).V per batch and head, with any strides,
 * causal and key-padding masks; Q and K share a head_dim d, V and the
 * output have their own dv. Two implementations (attention_impl.c): the
 * fused kernels and the GEMM path, both computing in base 2 (c = scale *
 * log2(e), weights 2^(t - max t)); AUTO measures both once per device and
 * size class (attention_tune.c) and remembers the faster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_exact.h"

static void attn_node_free(struct clf_ctx *ctx, void *state)
{
    struct attn_node *an = state;
    clf_attn_node_release(ctx, an);
    free(an);
}

static enum clf_status enqueue_attention(struct clf_ctx *ctx, struct clf_node *node,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    struct attn_node *an = node->state;
    if (!an->chosen) {
        enum clf_status st = CLF_OK;
        if (an->requested == CLF_ATTN_AUTO) {
            st = clf_attn_tune_choose(ctx, an);
            an->measured = true;
        } else {
            an->impl = an->requested;
        }
        if (st != CLF_OK)
            return st;
        an->chosen = true;
    }
    return clf_attn_exact_enqueue(ctx, an, an->impl, n_wait, wait, ev);
}

/* The graph's tuning pass (lib/graph/graph_tune.c). */
static int tune_steps_attention(struct clf_ctx *ctx, const struct clf_node *node, bool thorough,
                                char *key, size_t size)
{
    const struct attn_node *an = node->state;
    if (an->chosen || an->requested != CLF_ATTN_AUTO)
        return 0;
    return clf_attn_tune_pending(ctx, an, thorough, key, size);
}

static enum clf_status tune_attention(struct clf_ctx *ctx, struct clf_node *node)
{
    return clf_attn_tune_measure(ctx, node->state);
}

static void describe_attention(const struct clf_node *node, char *buf, size_t size)
{
    const struct attn_node *an = node->state;
    const struct clf_attn_problem *p = &an->prob;
    char dvs[32] = "";
    if (p->dv != p->d)
        snprintf(dvs, sizeof dvs, " dv%lld", (long long)p->dv);
    int w = snprintf(buf, size, "attention %lldx%lld q%lld k%lld d%lld%s%s%s%s",
                     (long long)p->batch, (long long)p->heads, (long long)p->sq,
                     (long long)p->sk, (long long)p->d, dvs, p->causal ? " causal" : "",
                     p->pad ? " padded" : p->cu ? " ragged" : "", p->pb ? " position-biased" : "");
    if (w < 0 || (size_t)w >= size)
        return;
    char *s = buf + w;
    size_t left = size - (size_t)w;
    const struct clf_ctx *ctx = p->q->ctx;
    if (!an->chosen) {
        snprintf(s, left, " %s (not run yet)", clf_attention_impl_str(an->requested));
        return;
    }
    const char *how = an->measured ? "auto: " : "";
    if (an->impl == CLF_ATTN_GEMM) {
        char g[2][48];
        for (int i = 0; i < 2; i++) {
            if (!an->gemm_chosen)
                snprintf(g[i], sizeof g[i], "?");
            else if (an->gc[i].provider == CLF_GEMM_CLBLAST)
                snprintf(g[i], sizeof g[i], "clblast");
            else
                snprintf(g[i], sizeof g[i], "native:%d", an->gc[i].config);
        }
        snprintf(s, left, " %sgemm (QK %s, PV %s, %s softmax%s)", how, g[0], g[1],
                 an->variant != CLF_ATTN_FUSED_CPU ? "group" : "row",
                 an->gemm_flat ? "" : ", per batch");
    } else if (an->variant == CLF_ATTN_FUSED_SUBGROUP) {
        char lanes[24] = "";
        if (an->sg_ran)
            snprintf(lanes, sizeof lanes, " of %d", an->sg_ran);
        snprintf(s, left, " %sfused subgroup (a sub-group%s per query, d<=%d)", how, lanes,
                 clf_attn_problem_dmax(p));
    } else if (an->variant == CLF_ATTN_FUSED_GROUP) {
        int gq, gk, dmax = clf_attn_problem_dmax(p);
        clf_attn_group_config(ctx, dmax, &gq, &gk);
        snprintf(s, left, " %sfused group (%d queries x %d keys in local memory, d<=%d)", how, gq,
                 gk, dmax);
    } else {
        const struct clf_attn_cpu_config *c = clf_attn_cpu_config(ctx);
        snprintf(s, left, " %sfused cpu (%d queries x %d keys, float%d, d<=%d)", how,
                 c->qv * c->vw, c->bk, c->vw, clf_attn_problem_dmax(p));
    }
}

static double flops_attention(const struct clf_node *node)
{
    const struct attn_node *an = node->state;
    const struct clf_attn_problem *p = &an->prob;
    if (p->cu) /* ragged: as if the rows were split evenly (the lengths are on the device) */
        return 2.0 * (double)p->heads * (double)p->rows * (double)p->rows /
               (double)p->batch * (double)(p->d + p->dv);
    return clf_attention_flops(node->in[0], node->in[1], node->in[2]);
}

/* The GEMM path's scores, when the node is to take it (asked for, or
 * chosen already). */
static enum clf_status own_bytes_attention(struct clf_ctx *ctx, const struct clf_node *node,
                                           size_t *bytes)
{
    const struct attn_node *an = node->state;
    bool gemm = an->chosen ? an->impl == CLF_ATTN_GEMM : an->requested == CLF_ATTN_GEMM;
    *bytes = 0;
    return gemm ? clf_attn_gemm_path_bytes(ctx, &an->prob, bytes) : CLF_OK;
}

static const struct clf_op_impl op_attention = {.name = "attention",
                                                .enqueue = enqueue_attention,
                                                .describe = describe_attention,
                                                .flops = flops_attention,
                                                .tune_steps = tune_steps_attention,
                                                .tune = tune_attention,
                                                .own_bytes = own_bytes_attention};

enum clf_status clf_attention_exact_record(struct clf_graph *g,
                                           const struct clf_attn_problem *prob,
                                           enum clf_attention_impl impl,
                                           enum clf_attn_fused_variant family, bool out_owned,
                                           struct clf_tensor **out)
{
    struct attn_node *an = calloc(1, sizeof *an);
    if (!an) {
        if (out_owned)
            clf_tensor_free(prob->out);
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for an attention node");
    }
    an->prob = *prob;
    /* a position bias has the GEMM path alone (clf_attention_record refuses FUSED) */
    an->requested = prob->pb ? CLF_ATTN_GEMM : impl;
    an->variant = family;
    struct clf_node node;
    memset(&node, 0, sizeof node);
    node.impl = &op_attention;
    node.in[0] = prob->q;
    node.in[1] = prob->k;
    node.in[2] = prob->v;
    node.in[3] = prob->pad;
    node.in[4] = prob->pb;
    node.in[5] = prob->cu;
    node.n_in = 6;
    node.out = prob->out;
    node.out_owned = out_owned;
    node.state = an;
    node.state_free = attn_node_free;
    enum clf_status st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}
