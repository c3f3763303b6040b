/*
 * Sparse attention variants (clf_op_attention with params.variant set;
 * kernels in cl/attention_sparse.cl):
 *  - threshold: one node; two passes over the keys per query block (1:
 *    running max and sum; 2: the weights, which are kept when >= tau, P.V
 *    over the kept ones, kept counts). O(n d) device memory.
 *  - top-k: two nodes, so that clf_graph_node_info times the selection
 *    apart: "select" writes the indices of each query's k best keys
 *    [batch, heads, seq_q, k] (a bounded heap per query, keys in increasing
 *    order, ties to the lower index), "attend" runs the softmax and P.V over
 *    them. k >= seq_k is clamped to seq_k (every attended key).
 *  - window: one node; each query block reads only the key tiles of its
 *    band and of the global keys: O(n w) work.
 * Band positions are key indices (query i at key position i, top-left
 * aligned like the causal mask) whatever seq_q and seq_k are.
 *
 * On CPU devices the kernels keep QB queries per work-item in vector lanes
 * and the keys in register tiles of packed panels (as attn_fused_cpu); on
 * other devices (or when the GROUP family is forced) one work-item runs one
 * query with scalar loops. The top-k attend kernel is the per-query one on
 * every device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

enum sp_kind { SP_WINDOW, SP_THRESHOLD, SP_SELECT, SP_ATTEND, SP_MARK };

struct sp_node {
    enum sp_kind kind;
    struct clf_attn_problem prob;
    struct clf_attention_variant var;
    bool cpu;                    /* CPU kernel family */
    int kk;                      /* top-k: keys kept per query (<= seq_k) */
    struct clf_tensor *kept;     /* threshold: [b, h, sq] i32 or NULL */
    struct clf_tensor *idx;      /* top-k: [b, h, sq, kk] i32 (graph-owned) */
    struct clf_gemm_scratch fs;  /* slot 0 key panels, slot 1 key bias */
    struct clf_gemm_scratch hs;  /* slot 0 heap scores (select) */
    struct clf_tensor *vdense;   /* dense copy of v (CPU kernels, v.s3 != 1) */
    bool ran;
};

static void sp_node_free(struct clf_ctx *ctx, void *state)
{
    struct sp_node *sn = state;
    clf_gemm_scratch_release(ctx, &sn->fs);
    clf_gemm_scratch_release(ctx, &sn->hs);
    clf_tensor_free(sn->vdense);
    free(sn);
}

/* ------------------------------------------------------------------------ */
/* Launch helpers                                                           */
/* ------------------------------------------------------------------------ */

/* The sparse program's options: this device's CPU tiles and d's DMAX
 * (NULL: the default program). */
static const char *sp_opts(const struct clf_ctx *ctx, int64_t d, char *buf)
{
    struct clf_attn_options o = clf_attn_options_cpu(ctx, d);
    return clf_attn_options_str(CLF_ATTN_PROGRAM_SPARSE, &o, buf);
}

/* Clamps a band side or a global count (>= 0) to what an int kernel
 * argument needs: nothing beyond seq_q + seq_k matters. */
static cl_int clamp_side(int64_t x, const struct clf_attn_problem *p)
{
    int64_t lim = p->sq + p->sk;
    return (cl_int)(x < lim ? x : lim);
}

/* Key bias for the per-query kernels: [batch][sk]. */
static enum clf_status prep_item(struct clf_ctx *ctx, struct sp_node *sn,
                                 cl_uint n_wait, const cl_event *wait, cl_mem *kb, cl_event *ev)
{
    const struct clf_attn_problem *p = &sn->prob;
    enum clf_status st =
        clf_gemm_scratch_get(ctx, &sn->fs, 1, (size_t)(p->batch * p->sk) * sizeof(float), kb);
    if (st != CLF_OK)
        return st;
    return clf_attn_enqueue_key_bias(ctx, p, NULL, *kb, (int)p->sk, n_wait, wait, ev);
}

/* ------------------------------------------------------------------------ */
/* Enqueue                                                                  */
/* ------------------------------------------------------------------------ */

static enum clf_status enqueue_main(struct clf_ctx *ctx, struct sp_node *sn, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &sn->prob;
    char buf[CLF_ATTN_OPTIONS_LEN];
    const char *opts = sp_opts(ctx, p->d, buf);
    const struct clf_attn_cpu_config *cfg = clf_attn_cpu_config(ctx);
    struct clf_targ qt = clf_targ_of(p->q), ot = clf_targ_of(p->out);
    cl_int sq = (cl_int)p->sq, sk = (cl_int)p->sk, d = (cl_int)p->d, causal = p->causal;
    cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
    cl_int wl = clamp_side(sn->var.window_left, p);
    cl_int wre = p->causal ? 0 : clamp_side(sn->var.window_right, p);
    cl_int ng = clamp_side(sn->var.global_tokens, p);
    cl_float tau = sn->var.threshold;
    cl_int renorm = sn->var.renormalize, has_kept = sn->kept != NULL, kk = sn->kk;
    struct clf_targ kt = sn->kept ? clf_targ_of(sn->kept) : clf_targ_of(p->q);
    cl_mem hs = NULL, idx = sn->idx ? sn->idx->storage->mem : NULL;
    enum clf_status st = CLF_OK;
    if (sn->kind == SP_SELECT) {
        size_t bytes = (size_t)(p->batch * p->heads * p->sq) * (size_t)sn->kk * sizeof(float);
        st = clf_gemm_scratch_get(ctx, &sn->hs, 0, bytes, &hs);
        if (st != CLF_OK)
            return st;
    }
    cl_kernel k = NULL;
    const char *name = NULL;
    if (sn->cpu) {
        struct clf_attn_cpu_inputs cp;
        st = clf_attn_cpu_inputs(ctx, p, "attention_sparse", opts,
                                 CLF_ATTN_KEY_BIAS | CLF_ATTN_KEY_PANELS |
                                     (sn->kind != SP_SELECT ? CLF_ATTN_DENSE_V : 0),
                                 &sn->fs, &sn->vdense, "sparse attention", n_wait, wait, &cp);
        struct clf_targ vt = clf_targ_of(cp.v);
        cl_int nkb = cp.nkb;
        name = sn->kind == SP_WINDOW      ? "sp_window_cpu"
               : sn->kind == SP_THRESHOLD ? "sp_threshold_cpu"
                                          : "sp_topk_select_cpu";
        if (st == CLF_OK)
            st = clf_kernel_get(ctx, "attention_sparse", opts, name, &k);
        if (st == CLF_OK && sn->kind == SP_WINDOW) {
            const struct clf_karg args[] = {
                CLF_TARG(qt),           {sizeof(cl_mem), &cp.kp}, {sizeof(cl_mem), &cp.kb},
                CLF_TARG(vt),           CLF_TARG(ot),                 {sizeof sq, &sq},
                {sizeof sk, &sk},   {sizeof d, &d},           {sizeof nkb, &nkb},
                {sizeof cl2, &cl2}, {sizeof causal, &causal}, {sizeof wl, &wl},
                {sizeof wre, &wre}, {sizeof ng, &ng}};
            st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
        } else if (st == CLF_OK && sn->kind == SP_THRESHOLD) {
            const struct clf_karg args[] = {
                CLF_TARG(qt),           {sizeof(cl_mem), &cp.kp}, {sizeof(cl_mem), &cp.kb},
                CLF_TARG(vt),           CLF_TARG(ot),                 CLF_TARG(kt),
                {sizeof has_kept, &has_kept}, {sizeof sq, &sq}, {sizeof sk, &sk},
                {sizeof d, &d},     {sizeof nkb, &nkb},       {sizeof cl2, &cl2},
                {sizeof causal, &causal}, {sizeof tau, &tau}, {sizeof renorm, &renorm}};
            st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
        } else if (st == CLF_OK) {
            const struct clf_karg args[] = {
                CLF_TARG(qt),           {sizeof(cl_mem), &cp.kp}, {sizeof(cl_mem), &cp.kb},
                {sizeof sq, &sq},   {sizeof sk, &sk},         {sizeof d, &d},
                {sizeof nkb, &nkb}, {sizeof cl2, &cl2},       {sizeof causal, &causal},
                {sizeof kk, &kk},   {sizeof(cl_mem), &idx},   {sizeof(cl_mem), &hs}};
            st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
        }
        if (st == CLF_OK) {
            int qb = cfg->qv * cfg->vw;
            size_t global[3] = {(size_t)clf_ceil_div(p->sq, qb), (size_t)p->heads, (size_t)p->batch};
            size_t local[3] = {1, 1, 1};
            st = clf_launch(ctx, k, 3, global, local, cp.n_deps, cp.deps, ev, name);
        }
        if (st != CLF_OK && cp.n_ev)
            clFinish(ctx->queue);
        clf_attn_cpu_inputs_release(&cp);
        return st;
    }
    cl_mem kb = NULL;
    cl_event ev_kb = NULL;
    st = prep_item(ctx, sn, n_wait, wait, &kb, &ev_kb);
    struct clf_targ kkt = clf_targ_of(p->k), vt = clf_targ_of(p->v);
    cl_int nkp = sk;
    name = sn->kind == SP_WINDOW      ? "sp_window_item"
           : sn->kind == SP_THRESHOLD ? "sp_threshold_item"
                                      : "sp_topk_select_item";
    if (st == CLF_OK)
        st = clf_kernel_get(ctx, "attention_sparse", opts, name, &k);
    if (st == CLF_OK && sn->kind == SP_WINDOW) {
        const struct clf_karg args[] = {CLF_TARG(qt),           CLF_TARG(kkt),
                                    CLF_TARG(vt),           {sizeof(cl_mem), &kb},
                                    {sizeof nkp, &nkp}, CLF_TARG(ot),
                                    {sizeof sq, &sq},   {sizeof sk, &sk},
                                    {sizeof d, &d},     {sizeof cl2, &cl2},
                                    {sizeof causal, &causal}, {sizeof wl, &wl},
                                    {sizeof wre, &wre}, {sizeof ng, &ng}};
        st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    } else if (st == CLF_OK && sn->kind == SP_THRESHOLD) {
        const struct clf_karg args[] = {CLF_TARG(qt),           CLF_TARG(kkt),
                                    CLF_TARG(vt),           {sizeof(cl_mem), &kb},
                                    {sizeof nkp, &nkp}, CLF_TARG(ot),
                                    CLF_TARG(kt),           {sizeof has_kept, &has_kept},
                                    {sizeof sq, &sq},   {sizeof sk, &sk},
                                    {sizeof d, &d},     {sizeof cl2, &cl2},
                                    {sizeof causal, &causal}, {sizeof tau, &tau},
                                    {sizeof renorm, &renorm}};
        st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    } else if (st == CLF_OK) {
        const struct clf_karg args[] = {CLF_TARG(qt),         CLF_TARG(kkt),
                                    {sizeof(cl_mem), &kb}, {sizeof nkp, &nkp},
                                    {sizeof sq, &sq}, {sizeof sk, &sk},
                                    {sizeof d, &d},   {sizeof cl2, &cl2},
                                    {sizeof causal, &causal}, {sizeof kk, &kk},
                                    {sizeof(cl_mem), &idx}, {sizeof(cl_mem), &hs}};
        st = clf_set_args(ctx, k, name, args, CLF_NARGS(args));
    }
    if (st == CLF_OK) {
        size_t l = clf_attn_helper_local(ctx, 64);
        size_t global[3] = {clf_round_up((size_t)p->sq, l), (size_t)p->heads, (size_t)p->batch};
        size_t local[3] = {l, 1, 1};
        st = clf_launch(ctx, k, 3, global, local, 1, &ev_kb, ev, name);
    }
    if (st != CLF_OK && ev_kb)
        clFinish(ctx->queue);
    clf_release_event(&ev_kb);
    return st;
}

static enum clf_status enqueue_attend(struct clf_ctx *ctx, struct sp_node *sn, cl_uint n_wait,
                                      const cl_event *wait, cl_event *ev)
{
    const struct clf_attn_problem *p = &sn->prob;
    char buf[CLF_ATTN_OPTIONS_LEN];
    const char *opts = sp_opts(ctx, p->d, buf);
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention_sparse", opts, "sp_topk_attend", &k);
    if (st != CLF_OK)
        return st;
    struct clf_targ qt = clf_targ_of(p->q), kt = clf_targ_of(p->k), vt = clf_targ_of(p->v), ot = clf_targ_of(p->out);
    cl_mem idx = sn->idx->storage->mem;
    cl_int sq = (cl_int)p->sq, d = (cl_int)p->d, kk = sn->kk;
    cl_float cl2 = (cl_float)((double)p->scale * M_LOG2E);
    const struct clf_karg args[] = {CLF_TARG(qt),         CLF_TARG(kt),         CLF_TARG(vt),
                                {sizeof(cl_mem), &idx}, CLF_TARG(ot),   {sizeof sq, &sq},
                                {sizeof d, &d},   {sizeof cl2, &cl2}, {sizeof kk, &kk}};
    st = clf_set_args(ctx, k, "sp_topk_attend", args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t l = clf_attn_helper_local(ctx, sn->cpu ? 16 : 64);
    size_t global[3] = {clf_round_up((size_t)p->sq, l), (size_t)p->heads, (size_t)p->batch};
    size_t local[3] = {l, 1, 1};
    return clf_launch(ctx, k, 3, global, local, n_wait, wait, ev, "sp_topk_attend");
}

static enum clf_status enqueue_sparse(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                      const cl_event *wait, cl_event *ev)
{
    struct sp_node *sn = node->state;
    enum clf_status st;
    if (ev)
        *ev = NULL;
    if (sn->kind == SP_MARK) {
        st = clf_marker(ctx, n_wait, wait, ev);
    } else if (sn->kind == SP_ATTEND) {
        st = enqueue_attend(ctx, sn, n_wait, wait, ev);
    } else {
        st = enqueue_main(ctx, sn, n_wait, wait, ev);
    }
    if (st == CLF_OK)
        sn->ran = true;
    return st;
}

static void describe_sparse(const struct clf_node *node, char *buf, size_t size)
{
    const struct sp_node *sn = node->state;
    const struct clf_attn_problem *p = &sn->prob;
    char var[96];
    clf_attention_variant_str(&sn->var, var, sizeof var);
    static const char *stage[] = {"", "", " select", " attend", " kept"};
    int w = snprintf(buf, size, "attention %lldx%lld q%lld k%lld d%lld%s%s %s%s",
                     (long long)p->batch, (long long)p->heads, (long long)p->sq,
                     (long long)p->sk, (long long)p->d, p->causal ? " causal" : "",
                     p->pad ? " padded" : "", var, stage[sn->kind]);
    if (w < 0 || (size_t)w >= size)
        return;
    char *s = buf + w;
    size_t left = size - (size_t)w;
    const struct clf_ctx *ctx = p->q->ctx;
    const struct clf_attn_cpu_config *c = clf_attn_cpu_config(ctx);
    if (sn->kind == SP_MARK)
        return;
    if (sn->kind == SP_ATTEND)
        snprintf(s, left, " (k %d, one query per work-item, d<=%d)", sn->kk, clf_attn_dmax(p->d));
    else if (sn->cpu)
        snprintf(s, left, " cpu (%d queries x %d keys, float%d, d<=%d%s)", c->qv * c->vw, c->bk,
                 c->vw, clf_attn_dmax(p->d),
                 sn->kind == SP_SELECT ? ", bounded heap" : sn->kind == SP_THRESHOLD ? ", 2 passes" : "");
    else
        snprintf(s, left, " item (one query per work-item, d<=%d%s)", clf_attn_dmax(p->d),
                 sn->kind == SP_SELECT ? ", bounded heap" : "");
}

static const struct clf_op_impl op_sparse = {
    .name = "attention", .enqueue = enqueue_sparse, .describe = describe_sparse};

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

enum clf_status clf_attention_sparse_check(struct clf_graph *g,
                                           const struct clf_attention_params *p, int64_t batch,
                                           int64_t heads, int64_t sq, const struct clf_tensor *q,
                                           const struct clf_tensor *k,
                                           const struct clf_tensor *v)
{
    struct clf_ctx *ctx = g->ctx;
    const struct clf_tensor *m = p->kept;
    if (!m)
        return CLF_OK;
    enum clf_status st = clf_graph_check_input(g, m, "attention kept");
    if (st != CLF_OK)
        return st;
    if (p->variant.sparsity != CLF_ATTN_THRESHOLD)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: kept counts apply to the threshold variant only");
    if (m->dtype != CLF_I32 || m->ndim != 3 || m->shape[0] != batch || m->shape[1] != heads ||
        m->shape[2] != sq)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: kept must be i32 [batch, heads, seq_q] = [%lld, %lld, %lld], "
                        "got %s %d-D",
                        (long long)batch, (long long)heads, (long long)sq,
                        clf_dtype_str(m->dtype), m->ndim);
    for (int i = 0; i < 3; i++)
        if (m->shape[i] > 1 && m->strides[i] == 0)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: kept has a stride 0 (counts would be written more than "
                            "once)");
    if (m->storage == q->storage || m->storage == k->storage || m->storage == v->storage ||
        (p->key_padding && m->storage == p->key_padding->storage) ||
        (p->out && m->storage == p->out->storage))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: kept shares storage with q, k, v, the mask or out");
    return CLF_OK;
}

static enum clf_status add(struct clf_graph *g, struct clf_node *node, const struct sp_node *proto)
{
    struct sp_node *sn = malloc(sizeof *sn);
    if (!sn) {
        if (node->out_owned)
            clf_tensor_free(node->out);
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for an attention node");
    }
    *sn = *proto;
    node->impl = &op_sparse;
    node->state = sn;
    node->state_free = sp_node_free;
    return clf_graph_add_node(g, node);
}

enum clf_status clf_attention_sparse_record(struct clf_graph *g,
                                            const struct clf_attn_problem *prob,
                                            const struct clf_attention_params *p,
                                            enum clf_attn_fused_variant family, bool out_owned,
                                            struct clf_tensor **out)
{
    struct clf_ctx *ctx = g->ctx;
    struct sp_node proto;
    memset(&proto, 0, sizeof proto);
    proto.prob = *prob;
    proto.var = p->variant;
    proto.cpu = family == CLF_ATTN_FUSED_CPU;
    proto.kept = p->kept;
    struct clf_node node;
    enum clf_status st;
    switch (p->variant.sparsity) {
    case CLF_ATTN_WINDOW:
    case CLF_ATTN_THRESHOLD:
        proto.kind = p->variant.sparsity == CLF_ATTN_WINDOW ? SP_WINDOW : SP_THRESHOLD;
        memset(&node, 0, sizeof node);
        node.out = prob->out;
        node.out_owned = out_owned;
        node.in[0] = prob->q, node.in[1] = prob->k, node.in[2] = prob->v;
        node.in[3] = prob->pad, node.in[4] = p->kept;
        node.n_in = 5;
        st = add(g, &node, &proto);
        if (st != CLF_OK || !p->kept)
            break;
        /* the counts are a second output: a marker node writing kept
         * orders later readers of kept after the counts */
        proto.kind = SP_MARK;
        memset(&node, 0, sizeof node);
        node.out = p->kept;
        node.in[0] = prob->out;
        node.n_in = 1;
        st = add(g, &node, &proto);
        break;
    case CLF_ATTN_TOPK: {
        proto.kk = (int)(p->variant.topk < prob->sk ? p->variant.topk : prob->sk);
        double bytes = (double)(prob->batch * prob->heads * prob->sq) * proto.kk * 4.0;
        if (bytes > (double)ctx->info.max_alloc_bytes) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                          "attention top-k: %.0f bytes of indices exceed the device's %llu per "
                          "buffer",
                          bytes, (unsigned long long)ctx->info.max_alloc_bytes);
            if (out_owned)
                clf_tensor_free(prob->out);
            return st;
        }
        int64_t shape[4] = {prob->batch, prob->heads, prob->sq, proto.kk};
        struct clf_tensor *idx = NULL;
        st = clf_graph_new_output(g, CLF_I32, 4, shape, &idx);
        if (st != CLF_OK) {
            if (out_owned)
                clf_tensor_free(prob->out);
            return st;
        }
        proto.idx = idx;
        proto.kind = SP_SELECT;
        memset(&node, 0, sizeof node);
        node.out = idx;
        node.out_owned = true;
        node.in[0] = prob->q, node.in[1] = prob->k, node.in[2] = prob->pad;
        node.n_in = 3;
        st = add(g, &node, &proto);
        if (st != CLF_OK) {
            if (out_owned)
                clf_tensor_free(prob->out);
            return st;
        }
        proto.kind = SP_ATTEND;
        memset(&node, 0, sizeof node);
        node.out = prob->out;
        node.out_owned = out_owned;
        node.in[0] = prob->q, node.in[1] = prob->k, node.in[2] = prob->v, node.in[3] = idx;
        node.n_in = 4;
        st = add(g, &node, &proto);
        break;
    }
    default:
        if (out_owned)
            clf_tensor_free(prob->out);
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention: unknown sparsity %d",
                        (int)p->variant.sparsity);
    }
    if (st == CLF_OK)
        *out = prob->out;
    return st;
}
