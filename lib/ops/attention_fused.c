/*
 * The fused implementation of exact attention (cl/attention.cl): the
 * online-softmax recurrence of FlashAttention, never an n x n buffer. On
 * CPU devices attn_fused_cpu keeps a block of QB queries per work-item in
 * vector lanes and walks the keys in register tiles (the keys first packed
 * into transposed panels by attn_pack_k: O(n d) scratch; when every head
 * has one query block, by the work-item itself, with no pack launch) and
 * masks padded keys from the mask itself; on other devices
 * attn_fused_group stages K/V tiles in local memory, and, where the device
 * has subgroups, attn_fused_subgroup runs a query per sub-group (lanes over
 * keys, then over dv) with no local memory (chosen by measurement:
 * attention_tune.c).
 */
#include <math.h>

#include "attention_exact.h"

/* The exact program's options for an's problem: this device's CPU tiles,
 * its DMAX, the group shape (*gq, *gk) and the required sub-group size;
 * into buf, or NULL for the default program. */
static const char *fused_options(const struct clf_ctx *ctx, const struct attn_node *an,
                                 char *buf, int *gq, int *gk)
{
    const struct clf_attn_problem *p = &an->prob;
    int dmax = clf_attn_problem_dmax(p);
    clf_attn_group_config(ctx, dmax, gq, gk);
    struct clf_attn_options o = clf_attn_options_cpu(ctx, p->d > p->dv ? p->d : p->dv);
    o.v[CLF_ATTN_OPT_GQ] = *gq;
    o.v[CLF_ATTN_OPT_GK] = *gk;
    o.v[CLF_ATTN_OPT_SG] = an->sg_required;
    return clf_attn_options_str(CLF_ATTN_PROGRAM_EXACT, &o, buf);
}

enum clf_status clf_attn_fused_cpu_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    const struct clf_attn_cpu_config *cfg = clf_attn_cpu_config(ctx);
    char buf[CLF_ATTN_OPTIONS_LEN];
    int gq, gk;
    const char *opts = fused_options(ctx, an, buf, &gq, &gk);
    int qb = cfg->qv * cfg->vw;
    /* one query block per head: each key is read once, so the kernel packs
     * its own key tiles and the pack launch is saved */
    cl_int kdirect = clf_ceil_div(p->sq, qb) == 1 || p->cu; /* ragged: always */
    struct clf_attn_cpu_inputs in;
    enum clf_status st = clf_attn_cpu_inputs(
        ctx, p, "attention", opts, CLF_ATTN_DENSE_V | (kdirect ? 0 : CLF_ATTN_KEY_PANELS),
        &an->fs, &an->vdense, "attention (fused)", n_wait, wait, &in);
    cl_kernel k = NULL;
    if (st == CLF_OK)
        st = clf_kernel_get(ctx, "attention", opts, "attn_fused_cpu", &k);
    if (st == CLF_OK) {
        struct clf_targ qt = clf_targ_of(p->q), kt = clf_targ_of(p->k), vt = clf_targ_of(in.v),
                        ot = clf_targ_of(p->out);
        /* q's buffer stands in for what is not read: an absent mask (!has_pad),
         * the panels when kdirect */
        struct clf_targ pad = clf_targ_of(p->pad ? p->pad : p->q);
        cl_mem kp = kdirect ? qt.mem : in.kp, cu = p->cu ? p->cu->storage->mem : qt.mem;
        cl_long cu_off = p->cu ? p->cu->offset : 0;
        cl_int ragged = p->cu != NULL, rows = (cl_int)p->rows;
        cl_int sq = (cl_int)p->sq, sk = (cl_int)p->sk, d = (cl_int)p->d, dv = (cl_int)p->dv;
        cl_int nkb = in.nkb, causal = p->causal, has_pad = p->pad != NULL;
        cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
        const struct clf_karg args[] = {CLF_TARG(qt),         {sizeof(cl_mem), &kp},
                                        CLF_TARG(kt),         {sizeof kdirect, &kdirect},
                                        CLF_TARG(pad),        {sizeof has_pad, &has_pad},
                                        {sizeof(cl_mem), &cu}, {sizeof cu_off, &cu_off},
                                        {sizeof ragged, &ragged},
                                        {sizeof rows, &rows},
                                        CLF_TARG(vt),         CLF_TARG(ot),
                                        {sizeof sq, &sq},     {sizeof sk, &sk},
                                        {sizeof d, &d},       {sizeof dv, &dv},
                                        {sizeof nkb, &nkb},   {sizeof cl2, &cl2},
                                        {sizeof causal, &causal}};
        st = clf_set_args(ctx, k, "attn_fused_cpu", args, CLF_NARGS(args));
    }
    if (st == CLF_OK) {
        size_t global[3] = {(size_t)clf_ceil_div(p->sq, qb), (size_t)p->heads, (size_t)p->batch};
        size_t local[3] = {1, 1, 1};
        st = clf_launch(ctx, k, 3, global, local, in.n_deps, in.deps, ev, "attn_fused_cpu");
    }
    if (st != CLF_OK && in.n_ev)
        clFinish(ctx->queue);
    clf_attn_cpu_inputs_release(&in);
    return st;
}

/* attn_fused_group or attn_fused_subgroup (sub: the latter), which share
 * their arguments, after the key bias kb [batch][nk_pad] (nk_pad: seq_k
 * rounded up to the group kernel's GK) made by attn_key_bias. */
static enum clf_status fused_gpu_enqueue(struct clf_ctx *ctx, struct attn_node *an, bool sub,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    const char *name = sub ? "attn_fused_subgroup" : "attn_fused_group";
    char buf[CLF_ATTN_OPTIONS_LEN];
    int gq, gk;
    const char *opts = fused_options(ctx, an, buf, &gq, &gk);
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
    st = clf_kernel_get(ctx, "attention", opts, name, &k);
    if (st == CLF_OK) {
        struct clf_targ qt = clf_targ_of(p->q), kt = clf_targ_of(p->k), vt = clf_targ_of(p->v),
                        ot = clf_targ_of(p->out);
        cl_int sq = (cl_int)p->sq, sk = (cl_int)p->sk, d = (cl_int)p->d, dv = (cl_int)p->dv;
        cl_int causal = p->causal, nkp = nk_pad;
        cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
        const struct clf_karg args[] = {CLF_TARG(qt),       CLF_TARG(kt),
                                        CLF_TARG(vt),       {sizeof(cl_mem), &kb},
                                        {sizeof nkp, &nkp}, CLF_TARG(ot),
                                        {sizeof sq, &sq},   {sizeof sk, &sk},
                                        {sizeof d, &d},     {sizeof dv, &dv},
                                        {sizeof cl2, &cl2}, {sizeof causal, &causal}};
        st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    }
    if (st == CLF_OK) {
        /* group: a work-item per query, GQ per group; subgroup: a sub-group
         * per query, per_group of them per group of `local` work-items */
        size_t local = (size_t)gq;
        int per_group = gq;
        if (sub) {
            if (!an->sg_local) /* the kernel's: asked once */
                clf_attn_subgroup_config(ctx, k, &an->sg_local, &an->sg_per_group,
                                         &an->sg_ran);
            local = an->sg_local;
            per_group = an->sg_per_group;
        }
        size_t global[3] = {(size_t)clf_ceil_div(p->sq, per_group) * local, (size_t)p->heads,
                            (size_t)p->batch};
        size_t lsz[3] = {local, 1, 1};
        st = clf_launch(ctx, k, 3, global, lsz, 1, &ev_kb, ev, name);
    }
    if (st != CLF_OK)
        clFinish(ctx->queue);
    clf_release_event(&ev_kb);
    return st;
}

enum clf_status clf_attn_fused_group_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                             cl_uint n_wait, const cl_event *wait,
                                             cl_event *ev)
{
    return fused_gpu_enqueue(ctx, an, false, n_wait, wait, ev);
}

enum clf_status clf_attn_fused_subgroup_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                                cl_uint n_wait, const cl_event *wait,
                                                cl_event *ev)
{
    /* only where the device has subgroups: clf_attention_record refuses the
     * family elsewhere, and the tuner offers it only there */
    return fused_gpu_enqueue(ctx, an, true, n_wait, wait, ev);
}
