/*
 * AUTO for exact attention: both implementations (fused, GEMM path) timed
 * once per device and size class by the tuner of lib/runtime/tuner.h on
 * zero operands, the faster kept as a tuning record under family
 * "attention" (lib/runtime/tune.h); sizes whose n x n scores would be too
 * big to time cheaply go to the fused kernel.
 */
#include <stdio.h>
#include <string.h>

#include "../runtime/tune.h"
#include "../runtime/tuner.h"
#include "attention_exact.h"

/* Work per timed run (flops, 2 sq sk (d + dv) per head; at most 16 heads) the
 * tuner aims at, and the work per head beyond which it does not measure:
 * the fused kernel is taken (measured 1.5-2.3x faster than the GEMM path
 * from n = 1024 on, and the GEMM path's n x n scores grow with n^2); so is
 * any problem whose scores would not fit one device buffer. */
#define TUNE_RUN_FLOPS 1e9
#define TUNE_MAX_HEAD_FLOPS 2.5e9

static int seq_bucket(int64_t n)
{
    static const int64_t edges[] = {16, 64, 128, 256, 512, 1024, 2048};
    int b = 0;
    while (b < 7 && n > edges[b])
        b++;
    return b;
}

/* The size class: "q<sq>-k<sk>-d<d>-h<bh>-c<causal>" (buckets) when
 * dv == d, as before dv existed; "q..-k..-d<d>-v<dv>-h..-c.." otherwise. */
static void class_key(const struct clf_attn_problem *p, char *key, size_t size)
{
    int64_t bh = p->batch * p->heads;
    int hb = bh == 1 ? 0 : bh <= 4 ? 1 : bh <= 16 ? 2 : 3;
    char vpart[16] = "";
    if (p->dv != p->d)
        snprintf(vpart, sizeof vpart, "-v%d", clf_attn_dmax(p->dv));
    snprintf(key, size, "q%d-k%d-d%d%s-h%d-c%d", seq_bucket(p->sq), seq_bucket(p->sk),
             clf_attn_dmax(p->d), vpart, hb, p->causal);
}

static const enum clf_attention_impl tune_impls[2] = {CLF_ATTN_FUSED, CLF_ATTN_GEMM};

/* One run of tune_impls[i] on the node `user` (clf_tuner's run). */
static enum clf_status tune_run(struct clf_ctx *ctx, void *user, int i, cl_event *ev)
{
    struct attn_node *an = user;
    /* fresh K and V contents, as when a projection feeds them on every run:
     * the GEMM path may not reuse K and V packed by an earlier run */
    an->prob.k->storage->version++;
    an->prob.v->storage->version++;
    return clf_attn_exact_enqueue(ctx, an, tune_impls[i], 0, NULL, ev);
}

/* A dense [1, heads, rows, d] tensor of zeros. */
static enum clf_status zeros(struct clf_ctx *ctx, int64_t heads, int64_t rows, int64_t d,
                             struct clf_tensor **t)
{
    int64_t shape[4] = {1, heads, rows, d};
    return clf_tuner_zeros(ctx, 4, shape, t);
}

static enum clf_status measure(struct clf_ctx *ctx, const struct attn_node *an,
                               enum clf_attention_impl *best, cJSON **times)
{
    const struct clf_attn_problem *p = &an->prob;
    double head_flops = 2.0 * (double)p->sq * (double)p->sk * (double)(p->d + p->dv);
    int64_t heads = (int64_t)(TUNE_RUN_FLOPS / head_flops);
    int64_t bh = p->batch * p->heads;
    heads = heads < 1 ? 1 : heads > bh ? bh : heads > 16 ? 16 : heads;
    struct attn_node t;
    memset(&t, 0, sizeof t);
    t.prob = *p;
    t.prob.batch = 1;
    t.prob.heads = heads;
    t.prob.pad = NULL;
    t.variant = an->variant;
    enum clf_status st = zeros(ctx, heads, p->sq, p->d, &t.prob.q);
    if (st == CLF_OK)
        st = zeros(ctx, heads, p->sk, p->d, &t.prob.k);
    if (st == CLF_OK)
        st = zeros(ctx, heads, p->sk, p->dv, &t.prob.v);
    if (st == CLF_OK)
        st = zeros(ctx, heads, p->sq, p->dv, &t.prob.out);
    const char *names[2] = {clf_attention_impl_str(tune_impls[0]),
                            clf_attention_impl_str(tune_impls[1])};
    const struct clf_tuner tuner = {"tuning attention", 2, names, tune_run, &t};
    int i = 0;
    if (st == CLF_OK)
        st = clf_tuner_run(ctx, &tuner, &i, times);
    if (st == CLF_OK)
        *best = tune_impls[i];
    clf_attn_node_release(ctx, &t);
    clf_tensor_free(t.prob.q);
    clf_tensor_free(t.prob.k);
    clf_tensor_free(t.prob.v);
    clf_tensor_free(t.prob.out);
    return st;
}

enum clf_status clf_attn_tune_choose(struct clf_ctx *ctx, struct attn_node *an,
                                     enum clf_attention_impl *out)
{
    const struct clf_attn_problem *p = &an->prob;
    double head_flops = 2.0 * (double)p->sq * (double)p->sk * (double)(p->d + p->dv);
    double scores = (double)(p->batch * p->heads) * (double)p->sq * (double)p->sk * sizeof(float);
    if (head_flops > TUNE_MAX_HEAD_FLOPS || scores > (double)ctx->info.max_alloc_bytes) {
        *out = CLF_ATTN_FUSED;
        return CLF_OK;
    }
    char key[64];
    class_key(p, key, sizeof key);
    const cJSON *rec = clf_tune_get(ctx, "attention", key);
    const cJSON *impl = rec ? cJSON_GetObjectItem(rec, "impl") : NULL;
    if (cJSON_IsString(impl)) {
        if (!strcmp(impl->valuestring, "fused")) {
            *out = CLF_ATTN_FUSED;
            return CLF_OK;
        }
        if (!strcmp(impl->valuestring, "gemm")) {
            *out = CLF_ATTN_GEMM;
            return CLF_OK;
        }
    }
    cJSON *times = NULL;
    enum clf_status st = measure(ctx, an, out, &times);
    if (st != CLF_OK)
        return st;
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "impl", clf_attention_impl_str(*out));
    return clf_tuner_keep(ctx, "attention", key, fields, times, clf_attention_impl_str(*out));
}
