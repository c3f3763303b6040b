/*
 * Exact attention (clf_op_attention): softmax(scale Q.K^T + mask).V per
 * batch and head, with any strides, causal and key-padding masks. Q and K
 * share a head_dim d, V and the output have their own dv (the sparse and
 * low-rank variants need dv == d).
 *
 * Two implementations (cl/attention.cl):
 *  - fused: the online-softmax recurrence of FlashAttention, never an
 *    n x n buffer. On CPU devices attn_fused_cpu keeps a block of QB
 *    queries per work-item in vector lanes and walks the keys in register
 *    tiles (the keys first packed into transposed panels by attn_pack_k:
 *    O(n d) scratch); on other devices attn_fused_group stages K/V tiles in
 *    local memory.
 *  - gemm: S = c Q.K^T by the GEMM providers of gemm.h (one batched GEMM
 *    over batch x heads when the strides allow it, else one per batch
 *    entry), the masked softmax of attn_softmax_* in place, then O = P.V
 *    into out (through a dense scratch and a copy when out's rows are not
 *    contiguous).
 * Both compute in base 2: c = scale * log2(e), weights 2^(t - max t).
 *
 * AUTO measures both once per device and size class (like gemm_tune.c,
 * records under family "attention") and remembers the faster; sizes whose
 * n x n scores would be too big to time cheaply go to the fused kernel.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/tune.h"
#include "attention.h"
#include "attention_variant.h"
#include "../runtime/abi.h"

const char *clf_attention_impl_str(enum clf_attention_impl impl)
{
    switch (impl) {
    case CLF_ATTN_AUTO: return "auto";
    case CLF_ATTN_FUSED: return "fused";
    case CLF_ATTN_GEMM: return "gemm";
    }
    return "?";
}

void clf_attention_params_init(struct clf_attention_params *out, size_t size)
{
    struct clf_attention_params p;
    memset(&p, 0, sizeof p);
    p.scale = 0.0f;
    p.causal = false;
    p.key_padding = NULL;
    p.impl = CLF_ATTN_AUTO;
    p.out = NULL;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* ------------------------------------------------------------------------ */
/* Kernel configurations                                                    */
/* ------------------------------------------------------------------------ */

/*
 * attn_fused_cpu tiles (see attention.cl): VW lanes (queries) per vector,
 * QV query vectors per work-item, BK keys per tile, DC head_dim elements
 * per P.V pass. The first is for devices with 16-float vectors (AVX-512):
 * 2 x 12 = 24 zmm score accumulators, 2 x 8 = 16 P.V accumulators; on the
 * 2-core AVX-512 PoCL 3.1 device, 12 heads, d = 64, it ran at 220-260
 * GFLOP/s for n = 512..4096, against 190-200 for 16 queries x 16 keys
 * (1 x 16 accumulators) and 200-215 for 32 x 8. The second is for 8-float
 * vectors and 16 registers (AVX2): 12 + 1 and 8 + 1 registers (147 GFLOP/s
 * on the AVX-512 device, not measured on an AVX2 one).
 */
static const struct clf_attn_cpu_config cpu_configs[] = {
    {16, 2, 12, 8},
    {8, 1, 12, 8},
};

/* The options every kernel builds with when no define is passed (the
 * defaults of attention.cl, what clf_ctx_warmup builds). */
#define DEFAULT_OPTS "-DVW=16 -DQV=2 -DBK=12 -DDC=8 -DDMAX=64 -DGQ=64 -DGK=64"

const struct clf_attn_cpu_config *clf_attn_cpu_config(const struct clf_ctx *ctx)
{
    return ctx->info.vec_float >= 16 ? &cpu_configs[0] : &cpu_configs[1];
}

/* Work-group shape of attn_fused_group: GQ queries (work-items) and GK keys
 * per local tile, K and V tiles of GK x DMAX floats each within the
 * device's local memory. */
static void group_config(const struct clf_ctx *ctx, int dmax, int *gq, int *gk)
{
    int q = 64;
    while (q > 1 && (size_t)q > ctx->info.max_work_group_size)
        q /= 2;
    int k = 4096 / dmax;
    if (k > 64)
        k = 64;
    uint64_t local = ctx->info.local_mem_bytes ? ctx->info.local_mem_bytes : 32768;
    while (k > 1 && (uint64_t)(2 * k * dmax + k) * sizeof(float) + 1024 > local)
        k /= 2;
    *gq = q;
    *gk = k;
}

/* The DMAX bucket of a problem: its private arrays hold max(d, dv). */
static int problem_dmax(const struct clf_attn_problem *p)
{
    return clf_attn_dmax(p->d > p->dv ? p->d : p->dv);
}

/* Build options: buf, or NULL when they are the defaults (the program
 * clf_ctx_warmup builds is then reused). */
static const char *opts_or_default(char *buf, size_t size, int vw, int qv, int bk, int dc,
                                   int dmax, int gq, int gk)
{
    snprintf(buf, size, "-DVW=%d -DQV=%d -DBK=%d -DDC=%d -DDMAX=%d -DGQ=%d -DGK=%d", vw, qv, bk,
             dc, dmax, gq, gk);
    return strcmp(buf, DEFAULT_OPTS) ? buf : NULL;
}

/* ------------------------------------------------------------------------ */
/* Node state                                                               */
/* ------------------------------------------------------------------------ */

struct attn_node {
    struct clf_attn_problem prob;
    enum clf_attention_impl requested;
    enum clf_attn_fused_variant variant; /* resolved: CPU or GROUP */
    bool chosen;
    enum clf_attention_impl impl;        /* FUSED or GEMM once chosen */
    bool measured;                       /* chosen by the tuner (AUTO) */
    /* fused: slot 0 key panels (CPU variant), slot 1 key bias */
    struct clf_gemm_scratch fs;
    struct clf_tensor *vdense;           /* dense copy of v [b, h, sk, dv] (CPU variant,
                                            v.s3 != 1) */
    /* gemm path */
    struct clf_tensor *scores;           /* [bh, sq, sk] */
    struct clf_tensor *odense;           /* [b, h, sq, dv] when out's rows are strided */
    struct clf_gemm_scratch gs[2];       /* of Q.K^T and P.V */
    bool gemm_chosen;
    struct clf_gemm_choice gc[2];
    bool gemm_flat;                      /* one batched GEMM over batch x heads */
};

static void attn_node_release(struct clf_ctx *ctx, struct attn_node *an)
{
    clf_gemm_scratch_release(ctx, &an->fs);
    clf_gemm_scratch_release(ctx, &an->gs[0]);
    clf_gemm_scratch_release(ctx, &an->gs[1]);
    clf_tensor_free(an->vdense);
    clf_tensor_free(an->scores);
    clf_tensor_free(an->odense);
    an->vdense = an->scores = an->odense = NULL;
}

static void attn_node_free(struct clf_ctx *ctx, void *state)
{
    struct attn_node *an = state;
    attn_node_release(ctx, an);
    free(an);
}

/* ------------------------------------------------------------------------ */
/* Launch helpers                                                           */
/* ------------------------------------------------------------------------ */

/* Local size for 1-D helper kernels on this device (a fixed one, so that
 * PoCL compiles each kernel once whatever the global size). */
static size_t helper_local(const struct clf_ctx *ctx, size_t want)
{
    size_t l = want;
    while (l > 1 && l > ctx->info.max_work_group_size)
        l /= 2;
    return l;
}

enum clf_status clf_attn_enqueue_key_bias(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                        const char *opts, cl_mem kb, int nk_pad, cl_uint n_wait,
                                        const cl_event *wait, cl_event *ev)
{
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention", opts, "attn_key_bias", &k);
    if (st != CLF_OK)
        return st;
    struct clf_targ pad = p->pad ? clf_targ_of(p->pad) : clf_targ_of(p->q); /* unread when !has_pad */
    cl_int has_pad = p->pad != NULL, sk = (cl_int)p->sk, nkp = nk_pad;
    const struct clf_karg args[] = {CLF_TARG(pad),          {sizeof has_pad, &has_pad},
                                {sizeof sk, &sk},   {sizeof nkp, &nkp},
                                {sizeof(cl_mem), &kb}};
    st = clf_set_args(ctx, k, "attn_key_bias", args, sizeof args / sizeof args[0]);
    if (st != CLF_OK)
        return st;
    size_t local[2] = {helper_local(ctx, 64), 1};
    size_t global[2] = {clf_round_up((size_t)nk_pad, local[0]), (size_t)p->batch};
    return clf_launch(ctx, k, 2, global, local, n_wait, wait, ev, "attn_key_bias");
}

/* ------------------------------------------------------------------------ */
/* Fused implementation                                                     */
/* ------------------------------------------------------------------------ */

static enum clf_status enqueue_fused_cpu(struct clf_ctx *ctx, struct attn_node *an,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    const struct clf_attn_cpu_config *cfg = clf_attn_cpu_config(ctx);
    int dmax = problem_dmax(p), gq, gk;
    group_config(ctx, dmax, &gq, &gk);
    char buf[128];
    const char *opts = opts_or_default(buf, sizeof buf, cfg->vw, cfg->qv, cfg->bk, cfg->dc, dmax,
                                       gq, gk);
    int64_t nkb = clf_ceil_div(p->sk, cfg->bk);
    int nk_pad = (int)(nkb * cfg->bk);
    size_t kp_bytes = (size_t)(p->batch * p->heads * nkb * p->d * cfg->bk) * sizeof(float);
    size_t kb_bytes = (size_t)(p->batch * nk_pad) * sizeof(float);
    if (kp_bytes > ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "attention (fused): %zu bytes of key panels exceed the device's %llu "
                        "per buffer",
                        kp_bytes, (unsigned long long)ctx->info.max_alloc_bytes);
    cl_mem kp = NULL, kb = NULL;
    enum clf_status st = clf_gemm_scratch_get(ctx, &an->fs, 0, kp_bytes, &kp);
    if (st == CLF_OK)
        st = clf_gemm_scratch_get(ctx, &an->fs, 1, kb_bytes, &kb);
    if (st != CLF_OK)
        return st;

    cl_event evs[3] = {NULL, NULL, NULL};
    cl_uint n_ev = 0;
    st = clf_attn_enqueue_key_bias(ctx, p, opts, kb, nk_pad, n_wait, wait, &evs[n_ev]);
    if (st != CLF_OK)
        goto fail;
    n_ev++;

    cl_kernel k = NULL;
    st = clf_kernel_get(ctx, "attention", opts, "attn_pack_k", &k);
    if (st != CLF_OK)
        goto fail;
    struct clf_targ kt = clf_targ_of(p->k);
    cl_int sk = (cl_int)p->sk, d = (cl_int)p->d, nkbi = (cl_int)nkb;
    {
        const struct clf_karg args[] = {CLF_TARG(kt), {sizeof sk, &sk}, {sizeof d, &d},
                                    {sizeof nkbi, &nkbi}, {sizeof(cl_mem), &kp}};
        st = clf_set_args(ctx, k, "attn_pack_k", args, sizeof args / sizeof args[0]);
    }
    if (st != CLF_OK)
        goto fail;
    {
        size_t global[3] = {(size_t)nkb, (size_t)p->heads, (size_t)p->batch};
        size_t local[3] = {1, 1, 1};
        st = clf_launch(ctx, k, 3, global, local, n_wait, wait, &evs[n_ev], "attn_pack_k");
    }
    if (st != CLF_OK)
        goto fail;
    n_ev++;

    const struct clf_tensor *vsrc = p->v;
    if (p->dv > 1 && p->v->strides[3] != 1) {
        if (!an->vdense) {
            int64_t shape[4] = {p->batch, p->heads, p->sk, p->dv};
            st = clf_tensor_new(ctx, CLF_F32, 4, shape, &an->vdense);
            if (st != CLF_OK)
                goto fail;
        }
        st = clf_copy_enqueue(ctx, p->v, an->vdense, n_wait, wait, &evs[n_ev]);
        if (st != CLF_OK)
            goto fail;
        n_ev++;
        vsrc = an->vdense;
    }

    st = clf_kernel_get(ctx, "attention", opts, "attn_fused_cpu", &k);
    if (st != CLF_OK)
        goto fail;
    struct clf_targ qt = clf_targ_of(p->q), vt = clf_targ_of(vsrc), ot = clf_targ_of(p->out);
    cl_int sq = (cl_int)p->sq, dv = (cl_int)p->dv, causal = p->causal;
    cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
    {
        const struct clf_karg args[] = {CLF_TARG(qt),           {sizeof(cl_mem), &kp},
                                    {sizeof(cl_mem), &kb}, CLF_TARG(vt),
                                    CLF_TARG(ot),           {sizeof sq, &sq},
                                    {sizeof sk, &sk},   {sizeof d, &d},
                                    {sizeof dv, &dv},   {sizeof nkbi, &nkbi},
                                    {sizeof cl2, &cl2},
                                    {sizeof causal, &causal}};
        st = clf_set_args(ctx, k, "attn_fused_cpu", args, sizeof args / sizeof args[0]);
    }
    if (st != CLF_OK)
        goto fail;
    {
        int qb = cfg->qv * cfg->vw;
        size_t global[3] = {(size_t)clf_ceil_div(p->sq, qb), (size_t)p->heads, (size_t)p->batch};
        size_t local[3] = {1, 1, 1};
        st = clf_launch(ctx, k, 3, global, local, n_ev, evs, ev, "attn_fused_cpu");
    }
fail:
    if (st != CLF_OK && n_ev)
        clFinish(ctx->queue);
    for (cl_uint i = 0; i < n_ev; i++)
        clf_release_event(&evs[i]);
    return st;
}

static enum clf_status enqueue_fused_group(struct clf_ctx *ctx, struct attn_node *an,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    const struct clf_attn_cpu_config *cfg = clf_attn_cpu_config(ctx);
    int dmax = problem_dmax(p), gq, gk;
    group_config(ctx, dmax, &gq, &gk);
    char buf[128];
    const char *opts = opts_or_default(buf, sizeof buf, cfg->vw, cfg->qv, cfg->bk, cfg->dc, dmax,
                                       gq, gk);
    int nk_pad = (int)(clf_ceil_div(p->sk, gk) * gk);
    cl_mem kb = NULL;
    enum clf_status st =
        clf_gemm_scratch_get(ctx, &an->fs, 1, (size_t)(p->batch * nk_pad) * sizeof(float), &kb);
    if (st != CLF_OK)
        return st;
    cl_event ev_kb = NULL;
    st = clf_attn_enqueue_key_bias(ctx, p, opts, kb, nk_pad, n_wait, wait, &ev_kb);
    if (st != CLF_OK)
        return st;
    cl_kernel k = NULL;
    st = clf_kernel_get(ctx, "attention", opts, "attn_fused_group", &k);
    if (st == CLF_OK) {
        struct clf_targ qt = clf_targ_of(p->q), kt = clf_targ_of(p->k), vt = clf_targ_of(p->v),
                    ot = clf_targ_of(p->out);
        cl_int sq = (cl_int)p->sq, sk = (cl_int)p->sk, d = (cl_int)p->d, dv = (cl_int)p->dv;
        cl_int causal = p->causal, nkp = nk_pad;
        cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
        const struct clf_karg args[] = {CLF_TARG(qt),
                                    CLF_TARG(kt),
                                    CLF_TARG(vt),
                                    {sizeof(cl_mem), &kb},
                                    {sizeof nkp, &nkp},
                                    CLF_TARG(ot),
                                    {sizeof sq, &sq},
                                    {sizeof sk, &sk},
                                    {sizeof d, &d},
                                    {sizeof dv, &dv},
                                    {sizeof cl2, &cl2},
                                    {sizeof causal, &causal}};
        st = clf_set_args(ctx, k, "attn_fused_group", args, sizeof args / sizeof args[0]);
    }
    if (st == CLF_OK) {
        size_t global[3] = {(size_t)(clf_ceil_div(p->sq, gq) * gq), (size_t)p->heads,
                            (size_t)p->batch};
        size_t local[3] = {(size_t)gq, 1, 1};
        st = clf_launch(ctx, k, 3, global, local, 1, &ev_kb, ev, "attn_fused_group");
    }
    if (st != CLF_OK)
        clFinish(ctx->queue);
    clf_release_event(&ev_kb);
    return st;
}

/* ------------------------------------------------------------------------ */
/* GEMM implementation                                                      */
/* ------------------------------------------------------------------------ */

/* True when (b, h) of t can be one index of stride *s: element (b, h) at
 * (b*heads + h) * s. */
static bool flat_stride(const struct clf_tensor *t, int64_t batch, int64_t heads, cl_long *s)
{
    *s = heads > 1 ? t->strides[1] : t->strides[0];
    return batch == 1 || t->strides[0] == heads * *s;
}

/* The two GEMM problems for batch entry b (all of them when flat: b = 0,
 * batch = batch*heads). */
static void gemm_problems(const struct attn_node *an, const struct clf_tensor *o, int64_t b,
                          struct clf_gemm_problem *qk, struct clf_gemm_problem *pv)
{
    const struct clf_attn_problem *p = &an->prob;
    struct clf_tensor *q = p->q, *k = p->k, *v = p->v;
    int64_t sq = p->sq, sk = p->sk;
    cl_long qs, ks, vs, os;
    bool flat = an->gemm_flat;
    if (flat) {
        flat_stride(q, p->batch, p->heads, &qs);
        flat_stride(k, p->batch, p->heads, &ks);
        flat_stride(v, p->batch, p->heads, &vs);
        flat_stride(o, p->batch, p->heads, &os);
    } else {
        qs = q->strides[1];
        ks = k->strides[1];
        vs = v->strides[1];
        os = o->strides[1];
    }
    int64_t batch = flat ? p->batch * p->heads : p->heads;
    cl_long sbase = (cl_long)(b * p->heads * sq * sk);

    memset(qk, 0, sizeof *qk);
    qk->batch = batch, qk->m = sq, qk->n = sk, qk->k = p->d;
    qk->a_t = q, qk->b_t = k, qk->c_t = an->scores;
    qk->a_off = q->offset + b * q->strides[0], qk->a_rs = q->strides[2];
    qk->a_cs = q->strides[3], qk->a_bs = qs;
    /* B[kk, j] = K[j, kk] */
    qk->b_off = k->offset + b * k->strides[0], qk->b_rs = k->strides[3];
    qk->b_cs = k->strides[2], qk->b_bs = ks;
    qk->c_off = an->scores->offset + sbase, qk->c_rs = sk, qk->c_bs = sq * sk;
    qk->alpha = (float)((double)p->scale * M_LOG2E);
    qk->beta = 0.0f;
    qk->act = CLF_ACT_NONE;

    memset(pv, 0, sizeof *pv);
    pv->batch = batch, pv->m = sq, pv->n = p->dv, pv->k = sk;
    pv->a_t = an->scores, pv->b_t = v, pv->c_t = (struct clf_tensor *)o;
    pv->a_off = an->scores->offset + sbase, pv->a_rs = sk, pv->a_cs = 1, pv->a_bs = sq * sk;
    pv->b_off = v->offset + b * v->strides[0], pv->b_rs = v->strides[2];
    pv->b_cs = v->strides[3], pv->b_bs = vs;
    pv->c_off = o->offset + b * o->strides[0], pv->c_rs = o->strides[2], pv->c_bs = os;
    pv->alpha = 1.0f;
    pv->beta = 0.0f;
    pv->act = CLF_ACT_NONE;
}

/* The provider for a GEMM of the attention node: the context's choice,
 * measured when AUTO (gemm_tune.c). */
static enum clf_status choose_gemm(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                   struct clf_gemm_choice *c)
{
    if (ctx->gemm_provider == CLF_GEMM_AUTO)
        return clf_gemm_tune_choose(ctx, p, c);
    c->provider = ctx->gemm_provider;
    c->config = 0;
    if (c->provider == CLF_GEMM_CLBLAST && !clf_gemm_clblast_supports(p))
        c->provider = CLF_GEMM_NATIVE; /* CLBlast needs unit strides */
    return CLF_OK;
}

/* Launches the masked softmax over the scores after the wait list: one
 * work-item per row with the CPU kernel family, one work-group per row
 * with the GROUP family. */
static enum clf_status enqueue_softmax(struct clf_ctx *ctx, const struct attn_node *an,
                                       const char *opts, cl_mem kb, int nk_pad, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    bool cpu = an->variant != CLF_ATTN_FUSED_GROUP;
    const char *name = cpu ? "attn_softmax_item" : "attn_softmax_group";
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention", opts, name, &k);
    if (st != CLF_OK)
        return st;
    cl_mem s = an->scores->storage->mem;
    cl_int nkp = nk_pad, heads = (cl_int)p->heads, sq = (cl_int)p->sq, sk = (cl_int)p->sk;
    cl_int causal = p->causal;
    const struct clf_karg args[] = {{sizeof(cl_mem), &s}, {sizeof(cl_mem), &kb}, {sizeof nkp, &nkp},
                                {sizeof heads, &heads}, {sizeof sq, &sq},  {sizeof sk, &sk},
                                {sizeof causal, &causal}};
    st = clf_set_args(ctx, k, name, args, sizeof args / sizeof args[0]);
    if (st != CLF_OK)
        return st;
    size_t rows = (size_t)(p->batch * p->heads * p->sq);
    if (cpu) {
        size_t local = 1;
        return clf_launch(ctx, k, 1, &rows, &local, n_wait, wait, ev, name);
    }
    size_t kmax = 0, cap = 256;
    cl_int err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                          &kmax, NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clGetKernelWorkGroupInfo");
    if (kmax && kmax < cap)
        cap = kmax;
    if (ctx->info.max_work_group_size && ctx->info.max_work_group_size < cap)
        cap = ctx->info.max_work_group_size;
    size_t ls = 1;
    while (2 * ls <= cap && (int64_t)ls < p->sk)
        ls *= 2;
    err = clSetKernelArg(k, 7, ls * sizeof(float), NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clSetKernelArg(attn_softmax_group scratch)");
    size_t global = rows * ls;
    return clf_launch(ctx, k, 1, &global, &ls, n_wait, wait, ev, name);
}

static enum clf_status enqueue_gemm_path(struct clf_ctx *ctx, struct attn_node *an,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    enum clf_status st = CLF_OK;
    int64_t bh = p->batch * p->heads;
    double sbytes = (double)bh * (double)p->sq * (double)p->sk * sizeof(float);
    if (sbytes > (double)ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "attention (gemm): the %lld x %lld x %lld scores need %.0f bytes, the "
                        "device allows %llu per buffer; use the fused implementation",
                        (long long)bh, (long long)p->sq, (long long)p->sk, sbytes,
                        (unsigned long long)ctx->info.max_alloc_bytes);
    if (!an->scores) {
        int64_t shape[3] = {bh, p->sq, p->sk};
        st = clf_tensor_new(ctx, CLF_F32, 3, shape, &an->scores);
        if (st != CLF_OK)
            return st;
    }
    /* P.V straight into out when its rows are contiguous, else a scratch */
    bool direct = p->dv == 1 || p->out->strides[3] == 1;
    const struct clf_tensor *o = p->out;
    if (!direct) {
        if (!an->odense) {
            int64_t shape[4] = {p->batch, p->heads, p->sq, p->dv};
            st = clf_tensor_new(ctx, CLF_F32, 4, shape, &an->odense);
            if (st != CLF_OK)
                return st;
        }
        o = an->odense;
    }
    cl_long s;
    an->gemm_flat = flat_stride(p->q, p->batch, p->heads, &s) &&
                    flat_stride(p->k, p->batch, p->heads, &s) &&
                    flat_stride(p->v, p->batch, p->heads, &s) &&
                    flat_stride(o, p->batch, p->heads, &s);
    int64_t nb = an->gemm_flat ? 1 : p->batch;
    struct clf_gemm_problem qk, pv;
    if (!an->gemm_chosen) {
        gemm_problems(an, o, 0, &qk, &pv);
        st = choose_gemm(ctx, &qk, &an->gc[0]);
        if (st == CLF_OK)
            st = choose_gemm(ctx, &pv, &an->gc[1]);
        if (st != CLF_OK)
            return st;
        an->gemm_chosen = true;
    }

    char buf[128];
    const struct clf_attn_cpu_config *cfg = clf_attn_cpu_config(ctx);
    const char *opts = opts_or_default(buf, sizeof buf, cfg->vw, 2, 12, 8, 64, 64, 64);
    int nk_pad = (int)p->sk;
    cl_mem kb = NULL;
    st = clf_gemm_scratch_get(ctx, &an->fs, 1, (size_t)(p->batch * nk_pad) * sizeof(float), &kb);
    if (st != CLF_OK)
        return st;

    /* one chain: key bias, Q.K^T per batch entry, softmax, P.V per batch
     * entry, copy (the GEMMs of a kind share their scratch) */
    cl_event prev = NULL, next = NULL, ev_kb = NULL;
    st = clf_attn_enqueue_key_bias(ctx, p, opts, kb, nk_pad, n_wait, wait, &ev_kb);
    if (st != CLF_OK)
        return st;
    for (int64_t b = 0; st == CLF_OK && b < nb; b++) {
        gemm_problems(an, o, b, &qk, &pv);
        st = clf_gemm_run_choice(ctx, &qk, &an->gc[0], &an->gs[0], prev ? 1 : n_wait,
                                 prev ? &prev : wait, &next);
        clf_release_event(&prev);
        prev = next;
        next = NULL;
    }
    if (st == CLF_OK) {
        cl_event w[2] = {prev, ev_kb};
        st = enqueue_softmax(ctx, an, opts, kb, nk_pad, 2, w, &next);
        clf_release_event(&prev);
        prev = next;
        next = NULL;
    }
    for (int64_t b = 0; st == CLF_OK && b < nb; b++) {
        gemm_problems(an, o, b, &qk, &pv);
        st = clf_gemm_run_choice(ctx, &pv, &an->gc[1], &an->gs[1], 1, &prev, &next);
        clf_release_event(&prev);
        prev = next;
        next = NULL;
    }
    if (st == CLF_OK && !direct) {
        st = clf_copy_enqueue(ctx, an->odense, p->out, 1, &prev, &next);
        clf_release_event(&prev);
        prev = next;
        next = NULL;
    }
    if (st != CLF_OK)
        clFinish(ctx->queue);
    clf_release_event(&ev_kb);
    if (st == CLF_OK && ev)
        *ev = prev;
    else
        clf_release_event(&prev);
    return st;
}

static enum clf_status enqueue_impl(struct clf_ctx *ctx, struct attn_node *an,
                                    enum clf_attention_impl impl, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    if (ev)
        *ev = NULL;
    if (impl == CLF_ATTN_GEMM)
        return enqueue_gemm_path(ctx, an, n_wait, wait, ev);
    if (an->variant == CLF_ATTN_FUSED_GROUP)
        return enqueue_fused_group(ctx, an, n_wait, wait, ev);
    return enqueue_fused_cpu(ctx, an, n_wait, wait, ev);
}

/* ------------------------------------------------------------------------ */
/* AUTO: measured once per device and size class                            */
/* ------------------------------------------------------------------------ */

/* Both implementations run once to warm up (kernel builds, GEMM tuning),
 * then alternately (so that a passing disturbance, e.g. another process
 * busy for a while, hits both alike) at least TUNE_MIN_RUNS times each and
 * until TUNE_MIN_MS have passed (at most TUNE_MAX_RUNS); each one's time is
 * its fastest run. */
#define TUNE_MIN_RUNS 3
#define TUNE_MAX_RUNS 20
#define TUNE_MIN_MS 60.0
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

/* One run of impl, waited for; *ms receives its wall time. */
static enum clf_status time_one(struct clf_ctx *ctx, struct attn_node *an,
                                enum clf_attention_impl impl, double *ms)
{
    cl_event ev = NULL;
    /* fresh K and V contents, as when a projection feeds them on every run:
     * the GEMM path may not reuse K and V packed by an earlier run */
    an->prob.k->storage->version++;
    an->prob.v->storage->version++;
    double t0 = clf_now_ms();
    enum clf_status st = enqueue_impl(ctx, an, impl, 0, NULL, &ev);
    if (st == CLF_OK) {
        cl_int err = clWaitForEvents(1, &ev);
        clReleaseEvent(ev);
        if (err != CL_SUCCESS)
            st = clf_fail_cl(ctx, err, "clWaitForEvents(attention tune)");
    }
    *ms = clf_now_ms() - t0;
    return st;
}

/* A dense [1, heads, rows, d] scratch tensor of zeros. */
static enum clf_status zeros(struct clf_ctx *ctx, int64_t heads, int64_t rows, int64_t d,
                             struct clf_tensor **t)
{
    int64_t shape[4] = {1, heads, rows, d};
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, 4, shape, t);
    if (st != CLF_OK)
        return st;
    float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(ctx->queue, (*t)->storage->mem, &zero, sizeof zero, 0,
                                     (size_t)(heads * rows * d) * sizeof(float), 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueFillBuffer");
}

static enum clf_status measure(struct clf_ctx *ctx, const struct attn_node *an,
                               enum clf_attention_impl *best, cJSON *times)
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
    static const enum clf_attention_impl impls[2] = {CLF_ATTN_FUSED, CLF_ATTN_GEMM};
    double best_ms[2] = {-1, -1}, total = 0;
    for (int r = -1; st == CLF_OK && r < TUNE_MAX_RUNS && (r < TUNE_MIN_RUNS || total < TUNE_MIN_MS);
         r++) {
        for (int i = 0; st == CLF_OK && i < 2; i++) {
            if (r < 0 && ctx->progress_fn)
                ctx->progress_fn(ctx->progress_user, "tuning attention", i, 2,
                                 clf_attention_impl_str(impls[i]));
            double ms = 0;
            st = time_one(ctx, &t, impls[i], &ms);
            if (st != CLF_OK || r < 0)
                continue;
            total += ms;
            best_ms[i] = best_ms[i] < 0 || ms < best_ms[i] ? ms : best_ms[i];
        }
    }
    if (st == CLF_OK) {
        for (int i = 0; i < 2; i++)
            cJSON_AddNumberToObject(times, clf_attention_impl_str(impls[i]), best_ms[i]);
        *best = best_ms[1] < best_ms[0] ? CLF_ATTN_GEMM : CLF_ATTN_FUSED;
    }
    if (ctx->progress_fn)
        ctx->progress_fn(ctx->progress_user, "tuning attention", 2, 2, NULL);
    attn_node_release(ctx, &t);
    clf_tensor_free(t.prob.q);
    clf_tensor_free(t.prob.k);
    clf_tensor_free(t.prob.v);
    clf_tensor_free(t.prob.out);
    return st;
}

static enum clf_status tune_choose(struct clf_ctx *ctx, struct attn_node *an,
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
    cJSON *times = cJSON_CreateObject();
    cJSON *record = cJSON_CreateObject();
    if (!times || !record) {
        cJSON_Delete(times);
        cJSON_Delete(record);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for attention tuning records");
    }
    enum clf_status st = measure(ctx, an, out, times);
    if (st != CLF_OK) {
        cJSON_Delete(times);
        cJSON_Delete(record);
        return st;
    }
    cJSON_AddStringToObject(record, "impl", clf_attention_impl_str(*out));
    cJSON_AddItemToObject(record, "ms", times);
    clf_log(ctx, CLF_LOG_INFO, "attention %s on '%s': %s", key, ctx->info.name,
            clf_attention_impl_str(*out));
    return clf_tune_put(ctx, "attention", key, record);
}

/* ------------------------------------------------------------------------ */
/* The op                                                                   */
/* ------------------------------------------------------------------------ */

static enum clf_status enqueue_attention(struct clf_ctx *ctx, struct clf_node *node,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    struct attn_node *an = node->state;
    if (!an->chosen) {
        enum clf_status st = CLF_OK;
        if (an->requested == CLF_ATTN_AUTO) {
            st = tune_choose(ctx, an, &an->impl);
            an->measured = true;
        } else {
            an->impl = an->requested;
        }
        if (st != CLF_OK)
            return st;
        an->chosen = true;
    }
    return enqueue_impl(ctx, an, an->impl, n_wait, wait, ev);
}

static void describe_attention(const struct clf_node *node, char *buf, size_t size)
{
    const struct attn_node *an = node->state;
    const struct clf_attn_problem *p = &an->prob;
    char dvs[32] = "";
    if (p->dv != p->d)
        snprintf(dvs, sizeof dvs, " dv%lld", (long long)p->dv);
    int w = snprintf(buf, size, "attention %lldx%lld q%lld k%lld d%lld%s%s%s",
                     (long long)p->batch, (long long)p->heads, (long long)p->sq,
                     (long long)p->sk, (long long)p->d, dvs, p->causal ? " causal" : "",
                     p->pad ? " padded" : "");
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
                 an->variant == CLF_ATTN_FUSED_GROUP ? "group" : "row",
                 an->gemm_flat ? "" : ", per batch");
    } else if (an->variant == CLF_ATTN_FUSED_GROUP) {
        int gq, gk;
        group_config(ctx, problem_dmax(p), &gq, &gk);
        snprintf(s, left, " %sfused group (%d queries x %d keys in local memory, d<=%d)", how, gq,
                 gk, problem_dmax(p));
    } else {
        const struct clf_attn_cpu_config *c = clf_attn_cpu_config(ctx);
        snprintf(s, left, " %sfused cpu (%d queries x %d keys, float%d, d<=%d)", how,
                 c->qv * c->vw, c->bk, c->vw, problem_dmax(p));
    }
}

double clf_attention_flops(const struct clf_tensor *q, const struct clf_tensor *k,
                           const struct clf_tensor *v)
{
    int nd = q->ndim;
    double sq = (double)q->shape[nd - 2], d = (double)q->shape[nd - 1];
    double sk = (double)k->shape[nd - 2], dv = (double)v->shape[nd - 1];
    double bh = (double)clf_tensor_numel(q) / (sq * d > 0 ? sq * d : 1);
    return 2.0 * bh * sq * sk * (d + dv);
}

static double flops_attention(const struct clf_node *node)
{
    return clf_attention_flops(node->in[0], node->in[1], node->in[2]);
}

static const struct clf_op_impl op_attention = {.name = "attention",
                                                .enqueue = enqueue_attention,
                                                .describe = describe_attention,
                                                .flops = flops_attention};

/* The name of a sparsity in errors (as --attn spells it). */
static const char *sparsity_name(enum clf_attention_sparsity s)
{
    switch (s) {
    case CLF_ATTN_EXACT: return "exact";
    case CLF_ATTN_THRESHOLD: return "threshold";
    case CLF_ATTN_TOPK: return "topk";
    case CLF_ATTN_WINDOW: return "window";
    case CLF_ATTN_LINFORMER: return "linformer";
    case CLF_ATTN_NYSTROM: return "nystrom";
    default: return "sparse";
    }
}

/* Checks one of q, k, v: f32, 4-D; names it in errors. */
static enum clf_status check_qkv(struct clf_graph *g, const struct clf_tensor *t, const char *what)
{
    char label[32];
    snprintf(label, sizeof label, "attention %s", what);
    enum clf_status st = clf_graph_check_input(g, t, label);
    if (st != CLF_OK)
        return st;
    if (t->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "attention: %s must be f32, got %s", what,
                        clf_dtype_str(t->dtype));
    if (t->ndim != 4)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "attention: %s must be 4-D [batch, heads, seq, head_dim], got %d-D", what,
                        t->ndim);
    return CLF_OK;
}

/* True when two tensors' element ranges may overlap (same storage and
 * intersecting [first, last] spans). */
static bool may_overlap(const struct clf_tensor *a, const struct clf_tensor *b)
{
    if (a->storage != b->storage)
        return false;
    int64_t a0 = a->offset, a1 = a->offset, b0 = b->offset, b1 = b->offset;
    for (int i = 0; i < a->ndim; i++)
        a1 += (a->shape[i] - 1) * a->strides[i];
    for (int i = 0; i < b->ndim; i++)
        b1 += (b->shape[i] - 1) * b->strides[i];
    return a0 <= b1 && b0 <= a1;
}

static bool same_layout(const struct clf_tensor *a, const struct clf_tensor *b)
{
    if (a->storage != b->storage || a->offset != b->offset || a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->strides[i] != b->strides[i]))
            return false;
    return true;
}

enum clf_status clf_attention_record(struct clf_graph *g, struct clf_tensor *q,
                                     struct clf_tensor *k, struct clf_tensor *v,
                                     const struct clf_attention_params *params,
                                     enum clf_attn_fused_variant variant,
                                     struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "attention");
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = g->ctx;
    struct clf_attention_params dflt = clf_attention_params_default();
    if ((st = clf_abi_import(ctx, "clf_attention_params", params, &dflt, sizeof dflt)) != CLF_OK)
        return st;
    const struct clf_attention_params *p = &dflt;
    if ((st = check_qkv(g, q, "q")) != CLF_OK || (st = check_qkv(g, k, "k")) != CLF_OK ||
        (st = check_qkv(g, v, "v")) != CLF_OK)
        return st;
    int64_t batch = q->shape[0], heads = q->shape[1], sq = q->shape[2], d = q->shape[3];
    int64_t sk = k->shape[2], dv = v->shape[3];
    if (d > CLF_ATTN_MAX_HEAD_DIM)
        return clf_fail(ctx, CLF_E_SHAPE, "attention: head_dim %lld is above the supported %d",
                        (long long)d, CLF_ATTN_MAX_HEAD_DIM);
    if (dv > CLF_ATTN_MAX_HEAD_DIM)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: v's head_dim %lld is above the supported %d", (long long)dv,
                        CLF_ATTN_MAX_HEAD_DIM);
    const char *dims[4] = {"batch", "heads", "seq", "head_dim"};
    for (int i = 0; i < 4; i++) {
        if (i != 2 && k->shape[i] != q->shape[i])
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: k's %s (%lld) differs from q's (%lld); q is [%lld, %lld, "
                            "%lld, %lld], k [%lld, %lld, %lld, %lld]",
                            dims[i], (long long)k->shape[i], (long long)q->shape[i],
                            (long long)batch, (long long)heads, (long long)sq, (long long)d,
                            (long long)k->shape[0], (long long)k->shape[1],
                            (long long)k->shape[2], (long long)k->shape[3]);
        if (i < 3 && v->shape[i] != k->shape[i])
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: v's %s (%lld) differs from k's (%lld); v must be [batch, "
                            "heads, seq_k, dv] = [%lld, %lld, %lld, dv]",
                            dims[i], (long long)v->shape[i], (long long)k->shape[i],
                            (long long)k->shape[0], (long long)k->shape[1],
                            (long long)k->shape[2]);
    }
    int64_t dm = d > dv ? d : dv;
    if (sq > INT32_MAX / 2 || sk > INT32_MAX / 2 || batch * heads > INT32_MAX ||
        sq * dm > INT32_MAX / 2 || sk * dm > INT32_MAX / 2)
        return clf_fail(ctx, CLF_E_SHAPE, "attention: sizes beyond 2^30 are not supported");
    if (!isfinite(p->scale))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention: scale must be finite, got %g",
                        (double)p->scale);
    st = clf_attention_variant_check(g->ctx, &p->variant);
    if (st != CLF_OK)
        return st;
    if (p->variant.sparsity == CLF_ATTN_SVD)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: svd factorises the weights' score forms, which the op does "
                        "not see: use it through the encoder (clf_encoder_config.attn), or give "
                        "the op q and k projected to the rank");
    if (dv != d && p->variant.sparsity != CLF_ATTN_EXACT)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: v's head_dim %lld differs from q's %lld; the %s variant "
                        "needs v's head_dim equal to q's (only exact attention allows dv != dk)",
                        (long long)dv, (long long)d,
                        sparsity_name(p->variant.sparsity));
    st = clf_attention_sparse_check(g, p, batch, heads, sq, q, k, v);
    if (st != CLF_OK)
        return st;
    if ((p->proj_e || p->proj_f) && p->variant.sparsity != CLF_ATTN_LINFORMER)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: proj_e/proj_f are Linformer's projections");
    if ((unsigned)p->impl > CLF_ATTN_GEMM)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention: unknown implementation %d",
                        (int)p->impl);
    if (variant < CLF_ATTN_FUSED_BY_DEVICE || variant > CLF_ATTN_FUSED_GROUP)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention: unknown fused variant %d",
                        (int)variant);
    if (p->key_padding) {
        struct clf_tensor *m = p->key_padding;
        if ((st = clf_graph_check_input(g, m, "attention key_padding")) != CLF_OK)
            return st;
        if (m->dtype != CLF_I32)
            return clf_fail(ctx, CLF_E_SHAPE, "attention: key_padding must be i32, got %s",
                            clf_dtype_str(m->dtype));
        if (m->ndim != 2 || m->shape[0] != batch || m->shape[1] != sk)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: key_padding must be [batch, seq_k] = [%lld, %lld], got "
                            "%d-D [%lld%s%lld]",
                            (long long)batch, (long long)sk, m->ndim, (long long)m->shape[0],
                            m->ndim > 1 ? ", " : "", m->ndim > 1 ? (long long)m->shape[1] : 0LL);
    }
    struct clf_node node;
    memset(&node, 0, sizeof node);
    if (p->out) {
        struct clf_tensor *o = p->out;
        if ((st = clf_graph_check_input(g, o, "attention out")) != CLF_OK)
            return st;
        bool ok = o->dtype == CLF_F32 && o->ndim == 4 && o->shape[0] == batch &&
                  o->shape[1] == heads && o->shape[2] == sq && o->shape[3] == dv;
        if (!ok) {
            char got[96] = "";
            if (o->ndim == 4)
                snprintf(got, sizeof got, " [%lld, %lld, %lld, %lld]", (long long)o->shape[0],
                         (long long)o->shape[1], (long long)o->shape[2], (long long)o->shape[3]);
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: out must be f32 [batch, heads, seq_q, dv] = "
                            "[%lld, %lld, %lld, %lld] (dv: v's head_dim), got %s %d-D%s",
                            (long long)batch, (long long)heads, (long long)sq, (long long)dv,
                            clf_dtype_str(o->dtype), o->ndim, got);
        }
        for (int i = 0; i < 4; i++)
            if (o->shape[i] > 1 && o->strides[i] == 0)
                return clf_fail(ctx, CLF_E_SHAPE,
                                "attention: out's %s has stride 0 (elements would be written "
                                "more than once)",
                                dims[i]);
        if (may_overlap(o, k) || may_overlap(o, v) || (may_overlap(o, q) && !same_layout(o, q)) ||
            (p->key_padding && o->storage == p->key_padding->storage))
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "attention: out overlaps k, v or the mask (only q itself, with the "
                            "same layout, may be overwritten)");
        node.out = o;
    }
    if (p->variant.sparsity == CLF_ATTN_LINFORMER) /* projections, then exact attention */
        return clf_attention_lowrank_record(g, q, k, v, p, variant, out);
    if (p->variant.sparsity == CLF_ATTN_NYSTROM) /* GEMMs, softmaxes, pseudo-inverse */
        return clf_attention_nystrom_record(g, q, k, v, p, out);
    if (!p->out) {
        int64_t shape[4] = {batch, heads, sq, dv};
        st = clf_graph_new_output(g, CLF_F32, 4, shape, &node.out);
        if (st != CLF_OK)
            return st;
        node.out_owned = true;
    }
    if (variant == CLF_ATTN_FUSED_BY_DEVICE)
        variant = ctx->info.type == CLF_DEVICE_CPU ? CLF_ATTN_FUSED_CPU : CLF_ATTN_FUSED_GROUP;
    if (p->variant.sparsity != CLF_ATTN_EXACT) {
        /* sparse variants run their own kernels (p->impl does not apply) */
        struct clf_attn_problem prob;
        memset(&prob, 0, sizeof prob);
        prob.batch = batch, prob.heads = heads, prob.sq = sq, prob.sk = sk, prob.d = d;
        prob.dv = dv;
        prob.q = q, prob.k = k, prob.v = v, prob.out = node.out;
        prob.pad = p->key_padding;
        prob.scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)d));
        prob.causal = p->causal;
        return clf_attention_sparse_record(g, &prob, p, variant, node.out_owned, out);
    }
    struct attn_node *an = calloc(1, sizeof *an);
    if (!an) {
        if (node.out_owned)
            clf_tensor_free(node.out);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for an attention node");
    }
    an->prob.batch = batch;
    an->prob.heads = heads;
    an->prob.sq = sq;
    an->prob.sk = sk;
    an->prob.d = d;
    an->prob.dv = dv;
    an->prob.q = q;
    an->prob.k = k;
    an->prob.v = v;
    an->prob.out = node.out;
    an->prob.pad = p->key_padding;
    an->prob.scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)d));
    an->prob.causal = p->causal;
    an->requested = p->impl;
    an->variant = variant;
    node.impl = &op_attention;
    node.in[0] = q;
    node.in[1] = k;
    node.in[2] = v;
    node.in[3] = p->key_padding;
    node.n_in = 4;
    node.state = an;
    node.state_free = attn_node_free;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}

enum clf_status clf_op_attention(struct clf_graph *g, struct clf_tensor *q, struct clf_tensor *k,
                                 struct clf_tensor *v, const struct clf_attention_params *p,
                                 struct clf_tensor **out)
{
    return clf_attention_record(g, q, k, v, p, CLF_ATTN_FUSED_BY_DEVICE, out);
}
