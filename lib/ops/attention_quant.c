/*
 * Mixed-precision attention (clf_op_attention_quant, cl/attention_quant.cl):
 * q f32, K and V f32 or symmetric i8 codes with per-token or per-channel
 * f32 scales, the attention weights P stored as fp32, fp16 or powers of
 * two (e.g. K and V int8, attention weights fp16). Scores and
 * accumulation are fp32; the weights come from a two-pass softmax (row
 * maximum, then p_j = exp(s_j - m)) so that each stored p_j is the rounding
 * of one fixed value, not of a running rescale.
 *
 * One node. Two kernel families, chosen when the op is recorded by the
 * device type (tests force the GPU one on CPU devices by setting the
 * context's device type around the recording):
 *  - CPU devices: attn_pack_k packs K (f32 or codes, as f32) into key panels
 *    in a scratch buffer (i8 V: aq_convert_v makes its codes dense f32 in
 *    another), then attn_quant_cpu computes QB queries per
 *    work-item in vector lanes with BK x QB register tiles (the structure
 *    of attention.cl's attn_fused_cpu, two passes over the key tiles);
 *  - other devices: attn_quant, one work-item per query.
 * Both do the same arithmetic (cl/attention_quant.cl). The program is
 * specialised per (KV: f32 / i8 per token / i8 per channel, PF: the P
 * format, DMAX: head_dim bucket, QI8: int8 queries; CPU: the tile shape
 * and whether v's rows are contiguous).
 *
 * q_int8 (i8 K and V only): each work-item quantises its own queries
 * (per query, symmetric, 127 levels) and the scores are exact integer
 * dot products times the query's scale. attn_quant uses the packed 4x8-bit
 * dot builtins of cl_khr_integer_dot_product where the device reports it
 * (QI8 2), else integer multiply-adds (QI8 1), the same i32 either way;
 * attn_quant_cpu keeps the codes in f32 lanes (exact: every partial sum
 * is an integer below 2^24). The choice is made at record time from
 * ctx->info.int_dot_product, which tests clear around the recording to
 * run QI8 1 on a device that has the builtins.
 *
 * Node: in[0] q, in[1] k, in[2] k_scale, in[3] v, in[4] v_scale (the
 * scales NULL for f32 K and V), in[5] key_padding (or NULL); the state
 * holds the resolved parameters and the scales' [batch, heads, n] layouts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "../runtime/abi.h"

/* Work-items (queries) per work-group: one fixed size per device so that
 * PoCL compiles the kernel once (it vectorises across the work-items of a
 * group: 16 float lanes); GPUs get 64. */
static size_t group_queries(const struct clf_ctx *ctx)
{
    size_t l = ctx->info.type == CLF_DEVICE_CPU ? 16 : 64;
    while (l > 1 && ctx->info.max_work_group_size && l > ctx->info.max_work_group_size)
        l /= 2;
    return l;
}

/* A scale tensor as [batch, heads, n]: offset and the strides of the three
 * dimensions in .s0 .. .s2. */
struct aq_scale_layout {
    cl_long off;
    cl_long4 str;
};


struct aq_node {
    bool cpu;       /* attn_quant_cpu (chosen at record time), else attn_quant */
    const struct clf_attn_cpu_config *cfg; /* its tiles (chosen at record time) */
    struct clf_gemm_scratch fs; /* cpu: slot 0 the key panels, 1 V's codes as f32 */
    int kv;         /* 0 f32, 1 i8 per token, 2 i8 per channel (the KV define) */
    int pf;         /* enum clf_p_format */
    int levels;     /* CLF_P_LOG: 2^(p_bits-1) - 1 */
    int dmax;       /* head_dim bucket */
    int qi8;        /* the QI8 define: 0 f32 queries, 1 int8 queries with plain
                       integer dot products, 2 with the packed dot builtins */
    bool causal;
    float c;        /* scale * log2(e) */
    float scale;    /* resolved scale (for describe) */
    int64_t batch, heads, sq, sk, d, dv;
    struct aq_scale_layout ks, vs;
};

static void aq_node_free(struct clf_ctx *ctx, void *state)
{
    struct aq_node *an = state;
    clf_gemm_scratch_release(ctx, &an->fs);
    free(an);
}

/* The CPU family: attn_pack_k into scratch panels (slot 0), for i8 V
 * aq_convert_v into a dense f32 scratch (slot 1), then attn_quant_cpu. */
/* The K and V scales' and the key padding's kernel arguments; absent ones
 * get q's buffer (tq), never read. */
static void side_args(const struct clf_node *node, const struct aq_node *an, struct clf_targ tq,
                      struct clf_targ *tks, struct clf_targ *tvs, struct clf_targ *tp)
{
    *tks = *tvs = *tp = tq;
    if (node->in[2]) {
        tks->mem = node->in[2]->storage->mem, tks->off = an->ks.off, tks->str = an->ks.str;
        tvs->mem = node->in[4]->storage->mem, tvs->off = an->vs.off, tvs->str = an->vs.str;
    }
    if (node->in[5])
        *tp = clf_targ_of(node->in[5]);
}

/* The quantised program's options of an: KV, PF, DMAX and QI8 (the rest at
 * their defaults: attn_quant, not the CPU kernels). */
static struct clf_attn_options aq_options(const struct aq_node *an)
{
    struct clf_attn_options o = clf_attn_options_default();
    o.v[CLF_ATTN_OPT_KV] = an->kv;
    o.v[CLF_ATTN_OPT_PF] = an->pf;
    o.v[CLF_ATTN_OPT_DMAX] = an->dmax;
    o.v[CLF_ATTN_OPT_QI8] = an->qi8;
    return o;
}

static enum clf_status enqueue_cpu(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                   const cl_event *wait, cl_event *ev)
{
    struct aq_node *an = node->state;
    const struct clf_attn_cpu_config *cfg = an->cfg;
    struct clf_tensor *v = node->in[3];
    int vs3 = an->kv != 0 || an->dv <= 1 || v->strides[3] == 1;
    struct clf_attn_options o = aq_options(an);
    o.v[CLF_ATTN_OPT_VW] = cfg->vw;
    o.v[CLF_ATTN_OPT_QV] = cfg->qv;
    o.v[CLF_ATTN_OPT_BK] = cfg->bk;
    o.v[CLF_ATTN_OPT_DC] = cfg->dc;
    o.v[CLF_ATTN_OPT_AQ_CPU] = 1;
    o.v[CLF_ATTN_OPT_VS3] = vs3;
    char buf[CLF_ATTN_OPTIONS_LEN];
    const char *opts = clf_attn_options_str(CLF_ATTN_PROGRAM_QUANT, &o, buf);
    int64_t nkb = clf_ceil_div(an->sk, cfg->bk);
    size_t kp_bytes = clf_attn_key_panel_bytes(node->in[1], cfg->bk);
    size_t vf_bytes = (size_t)(an->batch * an->heads * an->sk * an->dv) * sizeof(float);
    size_t most = kp_bytes > vf_bytes ? kp_bytes : vf_bytes;
    if (most > ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "attention_quant: %zu bytes of key panels or values exceed the "
                        "device's %llu per buffer",
                        most, (unsigned long long)ctx->info.max_alloc_bytes);
    cl_mem kp = NULL, vf = NULL;
    enum clf_status st = clf_gemm_scratch_get(ctx, &an->fs, 0, kp_bytes, &kp);
    if (st == CLF_OK && an->kv != 0)
        st = clf_gemm_scratch_get(ctx, &an->fs, 1, vf_bytes, &vf);
    if (st != CLF_OK)
        return st;
    cl_event evs[2] = {NULL, NULL};
    cl_uint n_ev = 0;
    cl_kernel k = NULL;
    cl_int sk = (cl_int)an->sk, d = (cl_int)an->d, dv = (cl_int)an->dv, nkbi = (cl_int)nkb;
    size_t local[3] = {1, 1, 1};
    st = clf_attn_enqueue_pack_k(ctx, "attention_quant", opts, node->in[1], cfg->bk, kp, n_wait,
                                 wait, &evs[n_ev]);
    if (st != CLF_OK)
        goto done;
    n_ev++;

    struct clf_targ tv = clf_targ_of(v);
    if (an->kv != 0) { /* codes as dense f32 [b, h, sk, dv] */
        if ((st = clf_kernel_get(ctx, "attention_quant", opts, "aq_convert_v", &k)) != CLF_OK)
            goto done;
        {
            const struct clf_karg args[] = {CLF_TARG(tv), {sizeof sk, &sk}, {sizeof dv, &dv},
                                            {sizeof(cl_mem), &vf}};
            st = clf_set_args(ctx, k, "aq_convert_v", args, CLF_NARGS(args));
        }
        if (st != CLF_OK)
            goto done;
        size_t global[3] = {(size_t)an->sk, (size_t)an->heads, (size_t)an->batch};
        st = clf_launch(ctx, k, 3, global, local, n_wait, wait, &evs[n_ev], "aq_convert_v");
        if (st != CLF_OK)
            goto done;
        n_ev++;
        tv.mem = vf, tv.off = 0;
        tv.str.s[3] = 1, tv.str.s[2] = an->dv, tv.str.s[1] = an->sk * an->dv;
        tv.str.s[0] = an->heads * an->sk * an->dv;
    }

    if ((st = clf_kernel_get(ctx, "attention_quant", opts, "attn_quant_cpu", &k)) != CLF_OK)
        goto done;
    struct clf_tensor *q = node->in[0];
    struct clf_targ tq = clf_targ_of(q), to = clf_targ_of(node->out);
    struct clf_targ tks, tvs, tp;
    side_args(node, an, tq, &tks, &tvs, &tp);
    cl_int sq = (cl_int)an->sq;
    cl_int causal = an->causal, has_pad = node->in[5] != NULL, levels = an->levels;
    cl_float c = an->c;
    {
        const struct clf_karg args[] = {
            CLF_TARG(tq),         {sizeof(cl_mem), &kp}, CLF_TARG(tks),
            CLF_TARG(tv),         CLF_TARG(tvs),         CLF_TARG(tp),
            CLF_TARG(to),         {sizeof sq, &sq},      {sizeof sk, &sk},
            {sizeof d, &d},       {sizeof dv, &dv},      {sizeof nkbi, &nkbi},
            {sizeof causal, &causal}, {sizeof has_pad, &has_pad}, {sizeof c, &c},
            {sizeof levels, &levels}};
        st = clf_set_args(ctx, k, "attn_quant_cpu", args, CLF_NARGS(args));
    }
    if (st != CLF_OK)
        goto done;
    {
        int qb = cfg->qv * cfg->vw;
        size_t global[3] = {(size_t)clf_ceil_div(an->sq, qb), (size_t)an->heads,
                            (size_t)an->batch};
        st = clf_launch(ctx, k, 3, global, local, n_ev, evs, ev, "attn_quant_cpu");
    }
done:
    if (st != CLF_OK && n_ev)
        clFinish(ctx->queue);
    for (cl_uint i = 0; i < n_ev; i++)
        clf_release_event(&evs[i]);
    return st;
}

static enum clf_status enqueue_attention_quant(struct clf_ctx *ctx, struct clf_node *node,
                                               cl_uint n_wait, const cl_event *wait,
                                               cl_event *ev)
{
    const struct aq_node *an = node->state;
    if (an->cpu)
        return enqueue_cpu(ctx, node, n_wait, wait, ev);
    struct clf_attn_options o = aq_options(an);
    char buf[CLF_ATTN_OPTIONS_LEN];
    const char *opts = clf_attn_options_str(CLF_ATTN_PROGRAM_QUANT, &o, buf);
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention_quant", opts, "attn_quant", &k);
    if (st != CLF_OK)
        return st;
    struct clf_tensor *q = node->in[0];
    struct clf_targ tq = clf_targ_of(q), tk = clf_targ_of(node->in[1]);
    struct clf_targ tv = clf_targ_of(node->in[3]), to = clf_targ_of(node->out);
    struct clf_targ tks, tvs, tp;
    side_args(node, an, tq, &tks, &tvs, &tp);
    cl_int sq = (cl_int)an->sq, sk = (cl_int)an->sk, d = (cl_int)an->d, dv = (cl_int)an->dv;
    cl_int causal = an->causal, has_pad = node->in[5] != NULL, levels = an->levels;
    cl_float c = an->c;
    const struct clf_karg args[] = {
        CLF_TARG(tq),  CLF_TARG(tk),          CLF_TARG(tks),           CLF_TARG(tv),
        CLF_TARG(tvs), CLF_TARG(tp),          CLF_TARG(to),            {sizeof sq, &sq},
        {sizeof sk, &sk}, {sizeof d, &d},     {sizeof dv, &dv},        {sizeof causal, &causal},
        {sizeof has_pad, &has_pad},           {sizeof c, &c},          {sizeof levels, &levels}};
    st = clf_set_args(ctx, k, "attn_quant", args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t lq = group_queries(ctx);
    size_t local[3] = {lq, 1, 1};
    size_t global[3] = {clf_round_up((size_t)an->sq, lq), (size_t)an->heads, (size_t)an->batch};
    return clf_launch(ctx, k, 3, global, local, n_wait, wait, ev, "attn_quant");
}

static const char *p_format_name(int pf)
{
    return pf == CLF_P_F16 ? "f16" : pf == CLF_P_LOG ? "log" : "f32";
}

static void describe_attention_quant(const struct clf_node *node, char *buf, size_t size)
{
    const struct aq_node *an = node->state;
    const char *kv = an->kv == 0 ? "f32" : an->kv == 1 ? "i8 per token" : "i8 per channel";
    char pb[16] = "", kern[48] = "per query";
    if (an->cpu)
        snprintf(kern, sizeof kern, "cpu tiles %d queries x %d keys", an->cfg->qv * an->cfg->vw,
                 an->cfg->bk);
    if (an->pf == CLF_P_LOG)
        snprintf(pb, sizeof pb, " (%d levels)", an->levels);
    /* the CPU kernel keeps the codes in f32 lanes whatever the device has */
    const char *qi = an->qi8 == 0 ? "" : an->qi8 == 2 && !an->cpu ? " q i8 dot4" : " q i8";
    snprintf(buf, size,
             "attention_quant %lldx%lld q%lld k%lld d%lld dv%lld kv %s%s p %s%s%s%s (%s)",
             (long long)an->batch, (long long)an->heads, (long long)an->sq, (long long)an->sk,
             (long long)an->d, (long long)an->dv, kv, qi, p_format_name(an->pf), pb,
             an->causal ? " causal" : "", node->in[5] ? " padded" : "",
             kern);
}

/* q in[0], k in[1], v in[3]: the exact attention's count. */
static double flops_attention_quant(const struct clf_node *node)
{
    return clf_attention_flops(node->in[0], node->in[1], node->in[3]);
}

static const struct clf_op_impl op_attention_quant = {.name = "attention_quant",
                                                      .enqueue = enqueue_attention_quant,
                                                      .describe = describe_attention_quant,
                                                      .flops = flops_attention_quant};

void clf_attention_quant_params_init(struct clf_attention_quant_params *out, size_t size)
{
    struct clf_attention_quant_params p;
    memset(&p, 0, sizeof p);
    p.scale = 0.0f;
    p.causal = false;
    p.key_padding = NULL;
    p.kv_axis = CLF_QUANT_ROW;
    p.p_format = CLF_P_F32;
    p.p_bits = 4;
    p.q_int8 = false;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* Checks a 4-D k or v of dtype want; names it in errors. */
static enum clf_status check_4d(struct clf_graph *g, const struct clf_tensor *t, const char *what,
                                enum clf_dtype want)
{
    char label[40];
    snprintf(label, sizeof label, "attention_quant %s", what);
    enum clf_status st = clf_graph_check_input(g, t, label);
    if (st != CLF_OK)
        return st;
    if (t->dtype != want)
        return clf_fail(g->ctx, CLF_E_SHAPE, "attention_quant: %s must be %s, got %s", what,
                        clf_dtype_str(want), clf_dtype_str(t->dtype));
    if (t->ndim != 4)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "attention_quant: %s must be 4-D [batch, heads, seq, head_dim], got %d-D",
                        what, t->ndim);
    return CLF_OK;
}

/*
 * Checks a scale tensor (f32) and resolves it as [batch, heads, n]:
 * 3-D [batch, heads, n]; or 1-D [batch*heads*n] (as clf_op_quantize makes
 * of a dense 4-D tensor per row); or, per channel (broadcast), 1-D [n]
 * (one scale per channel for every batch entry and head, as
 * clf_op_quantize makes per column).
 */
static enum clf_status check_scale(struct clf_graph *g, const struct clf_tensor *s,
                                   const char *what, int64_t batch, int64_t heads, int64_t n,
                                   bool per_channel, struct aq_scale_layout *lay)
{
    struct clf_ctx *ctx = g->ctx;
    char label[48];
    snprintf(label, sizeof label, "attention_quant %s", what);
    enum clf_status st = clf_graph_check_input(g, s, label);
    if (st != CLF_OK)
        return st;
    if (s->dtype != CLF_F32)
        return clf_fail(ctx, CLF_E_SHAPE, "attention_quant: %s must be f32, got %s", what,
                        clf_dtype_str(s->dtype));
    memset(lay, 0, sizeof *lay);
    lay->off = s->offset;
    if (s->ndim == 3 && s->shape[0] == batch && s->shape[1] == heads && s->shape[2] == n) {
        lay->str.s[0] = s->strides[0], lay->str.s[1] = s->strides[1];
        lay->str.s[2] = s->strides[2];
        return CLF_OK;
    }
    if (s->ndim == 1 && s->shape[0] == batch * heads * n) {
        lay->str.s[2] = s->strides[0];
        lay->str.s[1] = n * s->strides[0];
        lay->str.s[0] = heads * n * s->strides[0];
        return CLF_OK;
    }
    if (per_channel && s->ndim == 1 && s->shape[0] == n) {
        lay->str.s[2] = s->strides[0];
        return CLF_OK;
    }
    char got[96];
    int w = snprintf(got, sizeof got, "%d-D [", s->ndim);
    for (int i = 0; i < s->ndim && w > 0 && (size_t)w < sizeof got; i++)
        w += snprintf(got + w, sizeof got - (size_t)w, "%s%lld", i ? ", " : "",
                      (long long)s->shape[i]);
    if (w > 0 && (size_t)w < sizeof got)
        snprintf(got + w, sizeof got - (size_t)w, "]");
    return clf_fail(ctx, CLF_E_SHAPE,
                    "attention_quant: %s must be [batch, heads, %s] = [%lld, %lld, %lld] (or "
                    "1-D [%lld]%s), got %s",
                    what, per_channel ? "head_dim" : "seq_k", (long long)batch,
                    (long long)heads, (long long)n, (long long)(batch * heads * n),
                    per_channel ? " or [head_dim]" : "", got);
}

enum clf_status clf_op_attention_quant(struct clf_graph *g, struct clf_tensor *q,
                                       struct clf_tensor *k, struct clf_tensor *k_scale,
                                       struct clf_tensor *v, struct clf_tensor *v_scale,
                                       const struct clf_attention_quant_params *params,
                                       struct clf_tensor **out)
{
    enum clf_status st = clf_graph_check_call(g, out, "attention_quant");
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = g->ctx;
    struct clf_attention_quant_params dflt = clf_attention_quant_params_default();
    st = clf_abi_import(ctx, "clf_attention_quant_params", params, &dflt, sizeof dflt);
    if (st != CLF_OK)
        return st;
    const struct clf_attention_quant_params *p = &dflt;
    if ((st = check_4d(g, q, "q", CLF_F32)) != CLF_OK)
        return st;
    if ((st = clf_graph_check_input(g, k, "attention_quant k")) != CLF_OK ||
        (st = clf_graph_check_input(g, v, "attention_quant v")) != CLF_OK)
        return st;
    bool i8 = k->dtype == CLF_I8;
    if ((k->dtype != CLF_F32 && !i8) || v->dtype != k->dtype)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention_quant: k and v must be both f32 or both i8, got %s and %s",
                        clf_dtype_str(k->dtype), clf_dtype_str(v->dtype));
    if ((st = check_4d(g, k, "k", k->dtype)) != CLF_OK ||
        (st = check_4d(g, v, "v", k->dtype)) != CLF_OK)
        return st;
    int64_t batch = q->shape[0], heads = q->shape[1], sq = q->shape[2], d = q->shape[3];
    int64_t sk = k->shape[2], dv = v->shape[3];
    if (d > CLF_ATTN_MAX_HEAD_DIM || dv > CLF_ATTN_MAX_HEAD_DIM)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention_quant: head_dim %lld (q, k) / %lld (v) is above the "
                        "supported %d",
                        (long long)d, (long long)dv, CLF_ATTN_MAX_HEAD_DIM);
    const char *dims[4] = {"batch", "heads", "seq", "head_dim"};
    for (int i = 0; i < 4; i++) {
        if (i != 2 && k->shape[i] != q->shape[i])
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention_quant: k's %s (%lld) differs from q's (%lld)", dims[i],
                            (long long)k->shape[i], (long long)q->shape[i]);
        if (i < 3 && v->shape[i] != k->shape[i])
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention_quant: v's %s (%lld) differs from k's (%lld)", dims[i],
                            (long long)v->shape[i], (long long)k->shape[i]);
    }
    if (sq > INT32_MAX / 2 || sk > INT32_MAX / 2 || batch * heads > INT32_MAX)
        return clf_fail(ctx, CLF_E_SHAPE, "attention_quant: sizes beyond 2^30 are not supported");
    if (!isfinite(p->scale))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention_quant: scale must be finite, got %g",
                        (double)p->scale);
    if ((unsigned)p->p_format > CLF_P_LOG)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention_quant: unknown p_format %d",
                        (int)p->p_format);
    if (p->p_format == CLF_P_LOG && (p->p_bits < 2 || p->p_bits > 8))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention_quant: p_bits must be in 2..8 for CLF_P_LOG, got %d",
                        p->p_bits);
    struct aq_scale_layout ks, vs;
    memset(&ks, 0, sizeof ks);
    memset(&vs, 0, sizeof vs);
    int kv = 0;
    if (i8) {
        if (p->kv_axis != CLF_QUANT_ROW && p->kv_axis != CLF_QUANT_COLUMN)
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "attention_quant: kv_axis must be CLF_QUANT_ROW (per token) or "
                            "CLF_QUANT_COLUMN (per channel), got %d",
                            (int)p->kv_axis);
        if (!k_scale || !v_scale)
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "attention_quant: i8 k and v need k_scale and v_scale");
        bool col = p->kv_axis == CLF_QUANT_COLUMN;
        kv = col ? 2 : 1;
        if ((st = check_scale(g, k_scale, "k_scale", batch, heads, col ? d : sk, col, &ks)) !=
                CLF_OK ||
            (st = check_scale(g, v_scale, "v_scale", batch, heads, col ? dv : sk, col, &vs)) !=
                CLF_OK)
            return st;
    } else if (k_scale || v_scale) {
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention_quant: f32 k and v take no scales (k_scale, v_scale NULL)");
    } else if (p->q_int8) {
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention_quant: q_int8 needs i8 k and v, got f32");
    }
    if (p->key_padding) {
        struct clf_tensor *m = p->key_padding;
        if ((st = clf_graph_check_input(g, m, "attention_quant key_padding")) != CLF_OK)
            return st;
        if (m->dtype != CLF_I32)
            return clf_fail(ctx, CLF_E_SHAPE, "attention_quant: key_padding must be i32, got %s",
                            clf_dtype_str(m->dtype));
        if (m->ndim != 2 || m->shape[0] != batch || m->shape[1] != sk)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention_quant: key_padding must be [batch, seq_k] = [%lld, %lld]",
                            (long long)batch, (long long)sk);
    }
    struct aq_node *an = calloc(1, sizeof *an);
    if (!an)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for an attention_quant node");
    an->cpu = ctx->info.type == CLF_DEVICE_CPU;
    an->cfg = clf_attn_cpu_config(ctx); /* the attn_fused_cpu tiles */
    an->kv = kv;
    an->pf = (int)p->p_format;
    /* the packed dot builtins only in attn_quant: Intel's CPU compiler does
     * not vectorise them (2.6-8.4 GOP/s against 117 for f32 fma) */
    an->qi8 = !p->q_int8 ? 0 : ctx->info.int_dot_product && !an->cpu ? 2 : 1;
    an->levels = p->p_format == CLF_P_LOG ? (1 << (p->p_bits - 1)) - 1 : 0;
    an->dmax = clf_attn_dmax(d > dv ? d : dv);
    an->causal = p->causal;
    an->scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)d));
    an->c = (float)((double)an->scale * 1.4426950408889634); /* log2(e) */
    an->batch = batch, an->heads = heads, an->sq = sq, an->sk = sk, an->d = d, an->dv = dv;
    an->ks = ks;
    an->vs = vs;
    struct clf_node node;
    memset(&node, 0, sizeof node);
    int64_t shape[4] = {batch, heads, sq, dv};
    st = clf_graph_new_output(g, CLF_F32, 4, shape, &node.out);
    if (st != CLF_OK) {
        free(an);
        return st;
    }
    node.out_owned = true;
    node.impl = &op_attention_quant;
    node.in[0] = q;
    node.in[1] = k;
    node.in[2] = i8 ? k_scale : NULL;
    node.in[3] = v;
    node.in[4] = i8 ? v_scale : NULL;
    node.in[5] = p->key_padding;
    node.n_in = 6;
    node.state = an;
    node.state_free = aq_node_free;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *out = node.out;
    return st;
}
