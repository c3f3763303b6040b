/*
 * GEMM auto-tune: for each shape class on a device, the candidates (the
 * native family's configurations, and CLBlast when the layout allows it;
 * which of them, by the tuning mode: see candidates()) are run on scratch
 * operands of the problem's size and timed by the tuner of
 * lib/runtime/tuner.h; the fastest is kept as a tuning record
 * (lib/runtime/tune.h: in the context and in the cache directory, per
 * device). A class is measured only when no record the mode accepts, and
 * (in fast mode) no shipped default (tune_defaults.c), gives the choice.
 *
 * Shape class: each of m, n, k bucketed (<=16, <=64, <=256, <=1024, more),
 * batched or not, and each operand's layout (rows contiguous, columns
 * contiguous, other) — the things that change which kernel wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/tune.h"
#include "../runtime/tuner.h"
#include "gemm.h"
#include "tune_defaults.h"

static int bucket(int64_t x)
{
    return x <= 16 ? 0 : x <= 64 ? 1 : x <= 256 ? 2 : x <= 1024 ? 3 : 4;
}

static char layout_char(cl_long rs, cl_long cs)
{
    return cs == 1 ? 'r' : rs == 1 ? 'c' : 's';
}

void clf_gemm_class_key(const struct clf_gemm_problem *p, char *key, size_t size)
{
    snprintf(key, size, "m%d-n%d-k%d-b%d-%c%c", bucket(p->m), bucket(p->n), bucket(p->k),
             p->batch > 1, layout_char(p->a_rs, p->a_cs), layout_char(p->b_rs, p->b_cs));
}

/* The choice of provider name prov and configuration cfg, when this build
 * offers it for p on this device. */
static bool valid_choice(struct clf_ctx *ctx, const struct clf_gemm_problem *p, const char *prov,
                         int cfg, struct clf_gemm_choice *out)
{
    int n_native = ctx->info.type == CLF_DEVICE_CPU ? clf_gemm_cpu_n_configs
                                                    : clf_gemm_gpu_n_configs;
    if (!strcmp(prov, "clblast") && clf_gemm_clblast_supports(p)) {
        *out = (struct clf_gemm_choice){CLF_GEMM_CLBLAST, 0};
        return true;
    }
    if (!strcmp(prov, "native") && cfg >= 0 && cfg < n_native) {
        *out = (struct clf_gemm_choice){CLF_GEMM_NATIVE, cfg};
        return true;
    }
    return false;
}

int clf_gemm_problem_str(const struct clf_gemm_problem *p, char *buf, size_t size)
{
    int w = snprintf(buf, size, "gemm %lldx%lldx%lld", (long long)p->m, (long long)p->n,
                     (long long)p->k);
    if (p->batch > 1 && w > 0 && (size_t)w < size)
        w += snprintf(buf + w, size - (size_t)w, " x%lld", (long long)p->batch);
    return w;
}

/* A recorded choice, validated against what this build offers. */
static bool recorded(struct clf_ctx *ctx, const cJSON *rec, const struct clf_gemm_problem *p,
                     struct clf_gemm_choice *out)
{
    const cJSON *prov = cJSON_GetObjectItem(rec, "provider");
    const cJSON *cfg = cJSON_GetObjectItem(rec, "config");
    return cJSON_IsString(prov) && cJSON_IsNumber(cfg) &&
           valid_choice(ctx, p, prov->valuestring, cfg->valueint, out);
}

/* The shipped default of the class (tune_defaults.c: "native:N" or
 * "clblast"), when it fits p. */
static bool shipped(struct clf_ctx *ctx, const char *key, const struct clf_gemm_problem *p,
                    struct clf_gemm_choice *out)
{
    const char *s = clf_tune_shipped(ctx, "gemm", key);
    if (!s)
        return false;
    if (!strncmp(s, "native:", 7))
        return valid_choice(ctx, p, "native", atoi(s + 7), out);
    return valid_choice(ctx, p, s, 0, out);
}

/*
 * The candidates for p on this device under the context's tuning mode, the
 * one expected fastest first (the choice of CLF_TUNE_OFF without a record
 * or default). Under CLF_TUNE_FULL every configuration and CLBlast where
 * the layout allows it. Otherwise those that can win: on CPU devices the
 * native tiles whose accumulators fit the device's vectors (float8 always:
 * at worst it spills a little, where a wider tile spills badly) and no
 * CLBlast, whose GPU kernels lose 10-30x there (docs/measurements.md); on
 * other devices CLBlast first, then the native tiles. Returns the count.
 */
static int candidates(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                      struct clf_gemm_choice *c)
{
    bool cpu = ctx->info.type == CLF_DEVICE_CPU;
    bool full = ctx->tune_mode == CLF_TUNE_FULL;
    int n_native = cpu ? clf_gemm_cpu_n_configs : clf_gemm_gpu_n_configs;
    int n = 0;
    bool blas = clf_gemm_clblast_supports(p) && (full || !cpu);
    if (blas && !cpu)
        c[n++] = (struct clf_gemm_choice){CLF_GEMM_CLBLAST, 0};
    unsigned widest = ctx->float_lanes > 8 ? ctx->float_lanes : 8;
    for (int i = 0; i < n_native && n < CLF_TUNER_MAX_CANDIDATES - 1; i++)
        if (full || !cpu || (unsigned)clf_gemm_cpu_configs[i].vw <= widest)
            c[n++] = (struct clf_gemm_choice){CLF_GEMM_NATIVE, i};
    if (blas && cpu)
        c[n++] = (struct clf_gemm_choice){CLF_GEMM_CLBLAST, 0};
    return n;
}

/* The choice for p's class known without measuring: a record the tuning
 * mode accepts; else, unless `thorough` or under CLF_TUNE_FULL, the shipped
 * default; else under CLF_TUNE_OFF the candidate expected fastest. False:
 * it is to be measured. */
static bool known(struct clf_ctx *ctx, const struct clf_gemm_problem *p, const char *key,
                  bool thorough, struct clf_gemm_choice *out)
{
    const cJSON *rec = clf_tune_get(ctx, "gemm", key);
    if (rec && recorded(ctx, rec, p, out))
        return true;
    if (!thorough && ctx->tune_mode != CLF_TUNE_FULL && shipped(ctx, key, p, out))
        return true;
    struct clf_gemm_choice c[CLF_TUNER_MAX_CANDIDATES];
    if (ctx->tune_mode == CLF_TUNE_OFF && candidates(ctx, p, c) > 0) {
        *out = c[0];
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

    struct candidates cands;
    memset(&cands, 0, sizeof cands);
    cands.q = &q;
    int n = candidates(ctx, p, cands.choice); /* p's layout decides CLBlast, not q's */
    char names[CLF_TUNER_MAX_CANDIDATES][32];
    const char *name_ptrs[CLF_TUNER_MAX_CANDIDATES];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s:%d",
                 clf_gemm_provider_str(cands.choice[i].provider), cands.choice[i].config);
        name_ptrs[i] = names[i];
    }
    char what[96];
    clf_gemm_problem_str(p, what, sizeof what);
    const struct clf_tuner tuner = {what, n, name_ptrs, run_candidate, &cands};
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

/* Measures p's class and keeps the record; *out receives the choice. */
static enum clf_status measure_and_keep(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                        const char *key, struct clf_gemm_choice *out)
{
    if (ctx->tune_mode == CLF_TUNE_OFF)
        return clf_fail(ctx, CLF_E_STATE, "gemm %s: tuning is off and no choice is known", key);
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

/* p with f32 B: 16-bit weights take the tile of the f32 problem (the
 * k-loop is the same but for B's loads), whose records, defaults and
 * measurements are the only ones kept. */
static struct clf_gemm_problem as_f32(const struct clf_gemm_problem *p)
{
    struct clf_gemm_problem f = *p;
    f.b_prec = CLF_PRECISION_F32;
    return f;
}

/*
 * Short activations on CPU devices. A class holds m from 17 to 64 (or up to
 * 16), and its choice was measured at one of them or shipped; the CPU tiles
 * compute whole tiles of TM rows, padding the rest. Between native tiles of
 * the same vector width and as many accumulators (6x64 and 8x48 float16:
 * the same work per row), the one that pads fewer rows of m is taken, a tie
 * keeping the class's choice. Not batched only, where it was measured
 * inside the encoder: 12-18 % faster at 12, 18 and 30 rows, no difference
 * where neither pads fewer (docs/measurements.md, "Short sequences' tile").
 */
static void fit_rows(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                     struct clf_gemm_choice *c)
{
    if (ctx->info.type != CLF_DEVICE_CPU || c->provider != CLF_GEMM_NATIVE || p->m > 64 ||
        p->batch > 1)
        return;
    const struct clf_gemm_cpu_config *now = &clf_gemm_cpu_configs[c->config];
    size_t best = clf_round_up((size_t)p->m, (size_t)now->tm);
    for (int i = 0; i < clf_gemm_cpu_n_configs; i++) {
        const struct clf_gemm_cpu_config *t = &clf_gemm_cpu_configs[i];
        const size_t rows = clf_round_up((size_t)p->m, (size_t)t->tm);
        if (t->vw == now->vw && t->tm * t->tn == now->tm * now->tn && rows < best) {
            best = rows;
            c->config = i;
        }
    }
}

enum clf_status clf_gemm_tune_choose(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     struct clf_gemm_choice *out)
{
    char key[64];
    if (p->b_prec != CLF_PRECISION_F32) {
        /* the f32 problem's choice, or the first native candidate where
         * that is CLBlast */
        struct clf_gemm_problem f = as_f32(p);
        struct clf_gemm_choice c[CLF_TUNER_MAX_CANDIDATES];
        enum clf_status st = clf_gemm_tune_choose(ctx, &f, out);
        if (st == CLF_OK && out->provider == CLF_GEMM_CLBLAST) {
            if (candidates(ctx, p, c) == 0) /* CLBlast is not among p's */
                return clf_fail(ctx, CLF_E_UNSUPPORTED, "no native GEMM tile for this device");
            *out = c[0];
        }
        return st;
    }
    clf_gemm_class_key(p, key, sizeof key);
    enum clf_status st = known(ctx, p, key, false, out) ? CLF_OK
                                                        : measure_and_keep(ctx, p, key, out);
    if (st == CLF_OK)
        fit_rows(ctx, p, out);
    return st;
}

int clf_gemm_tune_pending(struct clf_ctx *ctx, const struct clf_gemm_problem *p, bool thorough,
                          char *key, size_t size)
{
    if (p->b_prec != CLF_PRECISION_F32) { /* what the f32 problem's choice needs */
        struct clf_gemm_problem f = as_f32(p);
        return clf_gemm_tune_pending(ctx, &f, thorough, key, size);
    }
    char k[64];
    struct clf_gemm_choice c[CLF_TUNER_MAX_CANDIDATES];
    clf_gemm_class_key(p, k, sizeof k);
    if (ctx->tune_mode == CLF_TUNE_OFF || known(ctx, p, k, thorough, c))
        return 0;
    snprintf(key, size, "gemm %s", k);
    return CLF_TUNER_STEPS(candidates(ctx, p, c));
}

enum clf_status clf_gemm_tune_measure(struct clf_ctx *ctx, const struct clf_gemm_problem *p)
{
    char key[64];
    struct clf_gemm_choice c;
    struct clf_gemm_problem f = as_f32(p);
    clf_gemm_class_key(&f, key, sizeof key);
    return measure_and_keep(ctx, &f, key, &c);
}
