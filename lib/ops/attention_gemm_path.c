/*
 * The GEMM path of exact attention: S = c Q.K^T by the GEMM providers of
 * gemm.h (one batched GEMM over batch x heads when the strides allow it,
 * else one per batch entry), the masked softmax of attn_softmax_*
 * (cl/attention.cl) in place, with the position bias when there is one,
 * then O = P.V into out (through a dense
 * scratch and a copy when out's rows are not contiguous).
 */
#include <math.h>
#include <string.h>

#include "attention_exact.h"

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
 * with the GROUP (and SUBGROUP) family. */
static enum clf_status enqueue_softmax(struct clf_ctx *ctx, const struct attn_node *an,
                                       const char *opts, cl_mem kb, int nk_pad, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    bool cpu = an->variant == CLF_ATTN_FUSED_CPU; /* GROUP, SUBGROUP: per group */
    const char *name = cpu ? "attn_softmax_item" : "attn_softmax_group";
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention", opts, name, &k);
    if (st != CLF_OK)
        return st;
    cl_mem s = an->scores->storage->mem;
    cl_int nkp = nk_pad, heads = (cl_int)p->heads, sq = (cl_int)p->sq, sk = (cl_int)p->sk;
    cl_int causal = p->causal;
    /* the position bias, or a NULL buffer the kernel does not read */
    cl_mem pb = p->pb ? p->pb->storage->mem : NULL;
    cl_long pb_off = p->pb ? p->pb->offset : 0, pb_hs = p->pb ? p->pb->strides[0] : 0;
    cl_int has_pb = p->pb != NULL;
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &s},   {sizeof(cl_mem), &kb},  {sizeof nkp, &nkp},
        {sizeof heads, &heads}, {sizeof sq, &sq},       {sizeof sk, &sk},
        {sizeof causal, &causal}, {sizeof(cl_mem), &pb}, {sizeof pb_off, &pb_off},
        {sizeof pb_hs, &pb_hs}, {sizeof has_pb, &has_pb}};
    st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t rows = (size_t)(p->batch * p->heads * p->sq);
    if (cpu) {
        size_t local = 1;
        return clf_launch(ctx, k, 1, &rows, &local, n_wait, wait, ev, name);
    }
    size_t ls = 1;
    st = clf_pow2_group_size(ctx, k, p->sk, 256, sizeof(float), &ls);
    if (st != CLF_OK)
        return st;
    cl_int err = clf_set_arg(k, CLF_NARGS(args), ls * sizeof(float), NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clSetKernelArg(attn_softmax_group scratch)");
    size_t global = rows * ls;
    return clf_launch(ctx, k, 1, &global, &ls, n_wait, wait, ev, name);
}

enum clf_status clf_attn_gemm_path_bytes(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                         size_t *bytes)
{
    int64_t bh = p->batch * p->heads;
    double sbytes = (double)bh * (double)p->sq * (double)p->sk * sizeof(float);
    *bytes = 0;
    if (sbytes > (double)ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "attention (gemm): the %lld x %lld x %lld scores need %.0f bytes, the "
                        "device allows %llu per buffer; use the fused implementation",
                        (long long)bh, (long long)p->sq, (long long)p->sk, sbytes,
                        (unsigned long long)ctx->info.max_alloc_bytes);
    *bytes = (size_t)sbytes;
    return CLF_OK;
}

enum clf_status clf_attn_gemm_path_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &an->prob;
    int64_t bh = p->batch * p->heads;
    size_t sbytes;
    enum clf_status st = clf_attn_gemm_path_bytes(ctx, p, &sbytes);
    if (st != CLF_OK)
        return st;
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

    /* the softmax kernels read VW alone: the default program but for it */
    char buf[CLF_ATTN_OPTIONS_LEN];
    struct clf_attn_options so = clf_attn_options_default();
    so.v[CLF_ATTN_OPT_VW] = clf_attn_cpu_config(ctx)->vw;
    const char *opts = clf_attn_options_str(CLF_ATTN_PROGRAM_EXACT, &so, buf);
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
