/*
 * GEMM auto-tune: for each shape class on a device, every candidate (the
 * native family's configurations, and CLBlast when the layout allows it) is
 * run on scratch operands of the problem's size and timed by the tuner of
 * lib/runtime/tuner.h; the fastest is kept as a tuning record
 * (lib/runtime/tune.h: in the context and in the cache directory, per
 * device).
 *
 * Shape class: each of m, n, k bucketed (<=16, <=64, <=256, <=1024, more),
 * batched or not, and each operand's layout (rows contiguous, columns
 * contiguous, other) — the things that change which kernel wins.
 */
#include <stdio.h>
#include <string.h>

#include "../runtime/tune.h"
#include "../runtime/tuner.h"
#include "gemm.h"

static int bucket(int64_t x)
{
    return x <= 16 ? 0 : x <= 64 ? 1 : x <= 256 ? 2 : x <= 1024 ? 3 : 4;
}

static char layout_char(cl_long rs, cl_long cs)
{
    return cs == 1 ? 'r' : rs == 1 ? 'c' : 's';
}

static void class_key(const struct clf_gemm_problem *p, char *key, size_t size)
{
    snprintf(key, size, "m%d-n%d-k%d-b%d-%c%c", bucket(p->m), bucket(p->n), bucket(p->k),
             p->batch > 1, layout_char(p->a_rs, p->a_cs), layout_char(p->b_rs, p->b_cs));
}

/* A recorded choice, validated against what this build offers. */
static bool recorded(struct clf_ctx *ctx, const cJSON *rec, const struct clf_gemm_problem *p,
                     struct clf_gemm_choice *out)
{
    const cJSON *prov = cJSON_GetObjectItem(rec, "provider");
    const cJSON *cfg = cJSON_GetObjectItem(rec, "config");
    if (!cJSON_IsString(prov) || !cJSON_IsNumber(cfg))
        return false;
    int n_native = ctx->info.type == CLF_DEVICE_CPU ? clf_gemm_cpu_n_configs
                                                    : clf_gemm_gpu_n_configs;
    if (!strcmp(prov->valuestring, "clblast") && clf_gemm_clblast_supports(p)) {
        out->provider = CLF_GEMM_CLBLAST;
        out->config = 0;
        return true;
    }
    if (!strcmp(prov->valuestring, "native") && cfg->valueint >= 0 &&
        cfg->valueint < n_native) {
        out->provider = CLF_GEMM_NATIVE;
        out->config = cfg->valueint;
        return true;
    }
    return false;
}

/* A dense scratch tensor for an operand of `rows` x `cols` stored row-major
 * or transposed like the problem's (layout char), batch copies. */
static enum clf_status scratch_operand(struct clf_ctx *ctx, int64_t batch, int64_t rows,
                                       int64_t cols, char layout, struct clf_tensor **t,
                                       cl_long *rs, cl_long *cs, cl_long *bs)
{
    bool trans = layout == 'c';
    int64_t shape[3] = {batch, trans ? cols : rows, trans ? rows : cols};
    *rs = trans ? 1 : cols;
    *cs = trans ? rows : 1;
    *bs = rows * cols;
    return clf_tuner_zeros(ctx, 3, shape, t);
}

/* The candidates being measured: run_candidate's user data. */
struct candidates {
    const struct clf_gemm_problem *q; /* on scratch operands */
    struct clf_gemm_choice choice[CLF_TUNER_MAX_CANDIDATES];
    struct clf_gemm_scratch scratch[CLF_TUNER_MAX_CANDIDATES];
};

static enum clf_status run_candidate(struct clf_ctx *ctx, void *user, int i, cl_event *ev)
{
    struct candidates *c = user;
    return clf_gemm_run_choice(ctx, c->q, &c->choice[i], &c->scratch[i], 0, NULL, ev);
}

/* Measures every candidate on scratch operands shaped like p. */
static enum clf_status measure(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                               struct clf_gemm_choice *out, cJSON **times)
{
    struct clf_gemm_problem q = *p;
    struct clf_tensor *a = NULL, *b = NULL, *c = NULL;
    q.batch = p->batch < 4 ? p->batch : 4; /* enough to time the batched path */
    q.alpha = 1.0f;
    q.beta = 0.0f;
    q.bias_t = NULL;
    q.act = CLF_ACT_NONE;
    cl_long dummy;
    enum clf_status st = scratch_operand(ctx, q.batch, q.m, q.k, layout_char(p->a_rs, p->a_cs),
                                         &a, &q.a_rs, &q.a_cs, &q.a_bs);
    if (st == CLF_OK)
        st = scratch_operand(ctx, p->b_bs ? q.batch : 1, q.k, q.n,
                             layout_char(p->b_rs, p->b_cs), &b, &q.b_rs, &q.b_cs, &q.b_bs);
    if (st == CLF_OK)
        st = scratch_operand(ctx, q.batch, q.m, q.n, 'r', &c, &q.c_rs, &dummy, &q.c_bs);
    if (st != CLF_OK)
        goto done;
    if (!p->b_bs)
        q.b_bs = 0;
    q.a_t = a;
    q.b_t = b;
    q.c_t = c;
    q.a_off = q.b_off = q.c_off = 0;

    int n_native = ctx->info.type == CLF_DEVICE_CPU ? clf_gemm_cpu_n_configs
                                                    : clf_gemm_gpu_n_configs;
    struct candidates cands;
    memset(&cands, 0, sizeof cands);
    cands.q = &q;
    int n = 0;
    for (int i = 0; i < n_native && n < CLF_TUNER_MAX_CANDIDATES - 1; i++) {
        /* CPU tiles wider than the device's vectors are correct but spill */
        if (ctx->info.type == CLF_DEVICE_CPU &&
            (unsigned)clf_gemm_cpu_configs[i].vw >
                (ctx->float_lanes > 4 ? ctx->float_lanes : 4))
            continue;
        cands.choice[n++] = (struct clf_gemm_choice){CLF_GEMM_NATIVE, i};
    }
    if (clf_gemm_clblast_supports(&q))
        cands.choice[n++] = (struct clf_gemm_choice){CLF_GEMM_CLBLAST, 0};
    char names[CLF_TUNER_MAX_CANDIDATES][32];
    const char *name_ptrs[CLF_TUNER_MAX_CANDIDATES];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s:%d",
                 clf_gemm_provider_str(cands.choice[i].provider), cands.choice[i].config);
        name_ptrs[i] = names[i];
    }
    const struct clf_tuner tuner = {"tuning gemm", n, name_ptrs, run_candidate, &cands};
    int best = 0;
    st = clf_tuner_run(ctx, &tuner, &best, times);
    if (st == CLF_OK)
        *out = cands.choice[best];
    for (int i = 0; i < n; i++)
        clf_gemm_scratch_release(ctx, &cands.scratch[i]);
done:
    clf_tensor_free(a);
    clf_tensor_free(b);
    clf_tensor_free(c);
    return st;
}

enum clf_status clf_gemm_tune_choose(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     struct clf_gemm_choice *out)
{
    char key[64];
    class_key(p, key, sizeof key);
    const cJSON *rec = clf_tune_get(ctx, "gemm", key);
    if (rec && recorded(ctx, rec, p, out))
        return CLF_OK;
    cJSON *times = NULL;
    enum clf_status st = measure(ctx, p, out, &times);
    if (st != CLF_OK)
        return st;
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "provider", clf_gemm_provider_str(out->provider));
    cJSON_AddNumberToObject(fields, "config", out->config);
    char choice[32];
    snprintf(choice, sizeof choice, "%s:%d", clf_gemm_provider_str(out->provider), out->config);
    return clf_tuner_keep(ctx, "gemm", key, fields, times, choice);
}
