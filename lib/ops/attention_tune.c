/*
 * AUTO for exact attention: the implementations (fused, GEMM path; on the
 * GROUP family of a device with subgroups also the sub-group fused kernel,
 * recorded as "fused-subgroup": no GPU was at hand to compare it with
 * attn_fused_group, and on Intel's CPU runtime it won at 32 keys and lost
 * at 128 (docs/measurements.md), so it is measured, not assumed) timed
 * once per device and size class by the tuner of lib/runtime/tuner.h on
 * zero operands, the faster kept as a tuning record under family
 * "attention" (lib/runtime/tune.h); sizes whose n x n scores would be too
 * big to time cheaply go to the fused kernel. A class is measured only when
 * no record the tuning mode accepts, and (in fast mode) no shipped default
 * (tune_defaults.c), gives the choice; with tuning off and neither, the
 * fused kernel is taken (it never holds the n x n scores).
 */
#include <stdio.h>
#include <string.h>

#include "../runtime/tune.h"
#include "../runtime/tuner.h"
#include "attention_exact.h"
#include "tune_defaults.h"

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
void clf_attn_class_key(const struct clf_attn_problem *p, char *key, size_t size)
{
    int64_t bh = p->batch * p->heads;
    int hb = bh == 1 ? 0 : bh <= 4 ? 1 : bh <= 16 ? 2 : 3;
    char vpart[16] = "";
    if (p->dv != p->d)
        snprintf(vpart, sizeof vpart, "-v%d", clf_attn_dmax(p->dv));
    snprintf(key, size, "q%d-k%d-d%d%s-h%d-c%d", seq_bucket(p->sq), seq_bucket(p->sk),
             clf_attn_dmax(p->d), vpart, hb, p->causal);
}

/* A choice of AUTO: an implementation and, for FUSED, the kernel family
 * that runs it; name as kept in the record ("fused": the node's own
 * family's fused kernel). */
struct choice {
    enum clf_attention_impl impl;
    enum clf_attn_fused_variant variant;
    const char *name;
};

/* The candidates for a node of family `variant` (resolved) into c[3]; their
 * count. */
static int candidates(const struct clf_ctx *ctx, enum clf_attn_fused_variant variant,
                      struct choice *c)
{
    int n = 0;
    c[n++] = (struct choice){CLF_ATTN_FUSED, variant, "fused"};
    if (variant == CLF_ATTN_FUSED_GROUP && ctx->info.subgroups)
        c[n++] = (struct choice){CLF_ATTN_FUSED, CLF_ATTN_FUSED_SUBGROUP, "fused-subgroup"};
    c[n++] = (struct choice){CLF_ATTN_GEMM, variant, "gemm"};
    return n;
}

/* The measuring node and its candidates (clf_tuner's user). */
struct tune_state {
    struct attn_node *an;
    struct choice c[3];
};

/* One run of candidate i on the node (clf_tuner's run). */
static enum clf_status tune_run(struct clf_ctx *ctx, void *user, int i, cl_event *ev)
{
    struct tune_state *ts = user;
    struct attn_node *an = ts->an;
    /* fresh K and V contents, as when a projection feeds them on every run:
     * the GEMM path may not reuse K and V packed by an earlier run */
    an->prob.k->storage->version++;
    an->prob.v->storage->version++;
    an->variant = ts->c[i].variant;
    return clf_attn_exact_enqueue(ctx, an, ts->c[i].impl, 0, NULL, ev);
}

/* A dense [1, heads, rows, d] tensor of zeros. */
static enum clf_status zeros(struct clf_ctx *ctx, int64_t heads, int64_t rows, int64_t d,
                             struct clf_tensor **t)
{
    int64_t shape[4] = {1, heads, rows, d};
    return clf_tuner_zeros(ctx, 4, shape, t);
}

static enum clf_status measure(struct clf_ctx *ctx, const struct attn_node *an,
                               struct choice *best, cJSON **times)
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
    struct tune_state ts = {&t, {{0}}};
    int n = candidates(ctx, an->variant, ts.c);
    const char *names[3];
    for (int i = 0; i < n; i++)
        names[i] = ts.c[i].name;
    char what[96];
    snprintf(what, sizeof what, "attention q%lld k%lld d%lld x%lld", (long long)p->sq,
             (long long)p->sk, (long long)p->d, (long long)(p->batch * p->heads));
    const struct clf_tuner tuner = {what, n, names, tune_run, &ts};
    int i = 0;
    if (st == CLF_OK)
        st = clf_tuner_run(ctx, &tuner, &i, times);
    if (st == CLF_OK)
        *best = ts.c[i];
    clf_attn_node_release(ctx, &t);
    clf_tensor_free(t.prob.q);
    clf_tensor_free(t.prob.k);
    clf_tensor_free(t.prob.v);
    clf_tensor_free(t.prob.out);
    return st;
}

/* A choice's name, as kept, for a node of family `variant` (false for
 * others): "fused" (the family's fused kernel), "gemm", "fused-subgroup"
 * (the family's fused kernel where the node cannot run the sub-group one:
 * a record kept by a GROUP-family node, read by a CPU-family one). */
static bool parse_impl(const struct clf_ctx *ctx, enum clf_attn_fused_variant variant,
                       const char *s, struct choice *out)
{
    struct choice c[3];
    int n = candidates(ctx, variant, c);
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, c[i].name)) {
            *out = c[i];
            return true;
        }
    if (s && !strcmp(s, "fused-subgroup")) {
        *out = c[0];
        return true;
    }
    return false;
}

/* The choice for an's class known without measuring (see the top; with
 * `thorough` the shipped defaults do not count); false: to be measured.
 * key receives the class key. */
static bool known(struct clf_ctx *ctx, const struct attn_node *an, bool thorough, char *key,
                  size_t size, struct choice *out)
{
    struct choice fused = {CLF_ATTN_FUSED, an->variant, "fused"};
    const struct clf_attn_problem *p = &an->prob;
    double head_flops = 2.0 * (double)p->sq * (double)p->sk * (double)(p->d + p->dv);
    double scores = (double)(p->batch * p->heads) * (double)p->sq * (double)p->sk * sizeof(float);
    clf_attn_class_key(p, key, size);
    *out = fused;
    if (head_flops > TUNE_MAX_HEAD_FLOPS || scores > (double)ctx->info.max_alloc_bytes)
        return true;
    const cJSON *rec = clf_tune_get(ctx, "attention", key);
    const cJSON *impl = rec ? cJSON_GetObjectItem(rec, "impl") : NULL;
    if (cJSON_IsString(impl) && parse_impl(ctx, an->variant, impl->valuestring, out))
        return true;
    if (!thorough && ctx->tune_mode != CLF_TUNE_FULL &&
        parse_impl(ctx, an->variant, clf_tune_shipped(ctx, "attention", key), out))
        return true;
    *out = fused;
    return ctx->tune_mode == CLF_TUNE_OFF;
}

/* Measures an's class and keeps the record; *out receives the choice. */
static enum clf_status measure_and_keep(struct clf_ctx *ctx, const struct attn_node *an,
                                        const char *key, struct choice *out)
{
    cJSON *times = NULL;
    enum clf_status st = measure(ctx, an, out, &times);
    if (st != CLF_OK)
        return st;
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "impl", out->name);
    return clf_tuner_keep(ctx, "attention", key, fields, times, out->name);
}

enum clf_status clf_attn_tune_choose(struct clf_ctx *ctx, struct attn_node *an)
{
    char key[64];
    struct choice c;
    enum clf_status st = CLF_OK;
    if (!known(ctx, an, false, key, sizeof key, &c))
        st = measure_and_keep(ctx, an, key, &c);
    if (st == CLF_OK) {
        an->impl = c.impl;
        an->variant = c.variant;
    }
    return st;
}

int clf_attn_tune_pending(struct clf_ctx *ctx, const struct attn_node *an, bool thorough,
                          char *key, size_t size)
{
    char k[64];
    struct choice c[3];
    if (ctx->tune_mode == CLF_TUNE_OFF || known(ctx, an, thorough, k, sizeof k, c))
        return 0;
    snprintf(key, size, "attention %s", k);
    return CLF_TUNER_STEPS(candidates(ctx, an->variant, c));
}

enum clf_status clf_attn_tune_measure(struct clf_ctx *ctx, const struct attn_node *an)
{
    char key[64];
    struct choice c;
    if (ctx->tune_mode == CLF_TUNE_OFF)
        return clf_fail(ctx, CLF_E_STATE, "attention: tuning is off");
    clf_attn_class_key(&an->prob, key, sizeof key);
    return measure_and_keep(ctx, an, key, &c);
}
