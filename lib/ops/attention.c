/*
 * The attention op (clf_op_attention), its entry point: checks the
 * arguments, then records the variant asked for — exact attention
 * (attention_exact.c), the sparse variants (attention_sparse.c), Linformer
 * and Nystromformer (attention_lowrank.c). See attention.h for the files
 * below.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "attention_variant.h"
#include "../runtime/abi.h"

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

/* The ragged form's conditions (clf_attention_params.seq_offsets). */
static enum clf_status check_ragged(struct clf_graph *g, const struct clf_tensor *q,
                                    const struct clf_tensor *k, const struct clf_tensor *v,
                                    const struct clf_attention_params *p,
                                    enum clf_attn_fused_variant variant)
{
    struct clf_ctx *ctx = g->ctx;
    const struct clf_tensor *cu = p->seq_offsets;
    enum clf_status st = clf_graph_check_input(g, (struct clf_tensor *)cu, "attention seq_offsets");
    if (st != CLF_OK)
        return st;
    if (cu->dtype != CLF_I32 || cu->ndim != 1 || cu->shape[0] < 2 ||
        cu->shape[0] - 1 > INT32_MAX || cu->strides[0] != 1)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: seq_offsets must be i32 [n + 1], n >= 1, contiguous; got %s "
                        "%d-D [%lld]",
                        clf_dtype_str(cu->dtype), cu->ndim, (long long)cu->shape[0]);
    if (q->shape[0] != 1 || k->shape[2] != q->shape[2])
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: with seq_offsets, q, k and v hold the packed rows: batch 1 "
                        "and the same rows for q and k (got batch %lld, %lld and %lld rows)",
                        (long long)q->shape[0], (long long)q->shape[2], (long long)k->shape[2]);
    if (p->max_seq_len < 1 || p->max_seq_len > q->shape[2])
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: max_seq_len %lld with seq_offsets: must be 1 .. %lld (the "
                        "rows)",
                        (long long)p->max_seq_len, (long long)q->shape[2]);
    if (q->shape[2] > INT32_MAX)
        return clf_fail(ctx, CLF_E_SHAPE, "attention: more than 2^31 packed rows");
    if (p->key_padding || p->position_bias || p->variant.sparsity != CLF_ATTN_EXACT)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: seq_offsets take the place of key_padding, with exact "
                        "attention and no position_bias");
    if (p->impl == CLF_ATTN_GEMM || clf_attn_family(ctx, variant) != CLF_ATTN_FUSED_CPU)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: ragged batches (seq_offsets) run on the CPU devices' fused "
                        "kernel only, not %s",
                        p->impl == CLF_ATTN_GEMM ? "the GEMM path" : "this device's");
    if (v->shape[3] > 1 && v->strides[3] != 1)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: with seq_offsets, v's head_dim must have unit stride");
    return CLF_OK;
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
    st = clf_attn_check_sizes(ctx, batch, heads, sq, sk, d, dv);
    if (st != CLF_OK)
        return st;
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
    if (variant < CLF_ATTN_FUSED_BY_DEVICE || variant > CLF_ATTN_FUSED_SUBGROUP)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "attention: unknown fused variant %d",
                        (int)variant);
    if (variant == CLF_ATTN_FUSED_SUBGROUP && !ctx->info.subgroups)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: the sub-group kernel needs cl_khr_subgroups or "
                        "cl_intel_subgroups, which %s lacks",
                        ctx->info.name);
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
    if (p->position_bias) {
        struct clf_tensor *pb = p->position_bias;
        if ((st = clf_graph_check_input(g, pb, "attention position_bias")) != CLF_OK)
            return st;
        if (pb->dtype != CLF_F32 || pb->ndim != 2 || pb->shape[0] != heads ||
            pb->shape[1] != sq + sk - 1 || (pb->shape[1] > 1 && pb->strides[1] != 1))
            return clf_fail(ctx, CLF_E_SHAPE,
                            "attention: position_bias must be f32 [heads, seq_q + seq_k - 1] = "
                            "[%lld, %lld] with unit element stride, got %s %d-D [%lld%s%lld]",
                            (long long)heads, (long long)(sq + sk - 1),
                            clf_dtype_str(pb->dtype), pb->ndim, (long long)pb->shape[0],
                            pb->ndim > 1 ? ", " : "",
                            pb->ndim > 1 ? (long long)pb->shape[1] : 0LL);
        if (p->variant.sparsity != CLF_ATTN_EXACT)
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "attention: a position bias needs exact attention, not %s",
                            sparsity_name(p->variant.sparsity));
        if (p->impl == CLF_ATTN_FUSED)
            return clf_fail(ctx, CLF_E_UNSUPPORTED,
                            "attention: a position bias runs on the GEMM path (impl gemm or "
                            "auto), not the fused kernels");
    }
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
            (p->key_padding && o->storage == p->key_padding->storage) ||
            (p->position_bias && may_overlap(o, p->position_bias)))
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "attention: out overlaps k, v, the mask or the position bias (only "
                            "q itself, with the same layout, may be overwritten)");
    }
    if (p->seq_offsets && (st = check_ragged(g, q, k, v, p, variant)) != CLF_OK)
        return st;
    if (p->variant.sparsity == CLF_ATTN_LINFORMER) /* projections, then exact attention */
        return clf_attention_lowrank_record(g, q, k, v, p, variant, out);
    if (p->variant.sparsity == CLF_ATTN_NYSTROM) /* GEMMs, softmaxes, pseudo-inverse */
        return clf_attention_nystrom_record(g, q, k, v, p, out);
    struct clf_attn_problem prob;
    bool out_owned = false;
    st = clf_attn_problem_make(g, q, k, v, p, &prob, &out_owned);
    if (st != CLF_OK)
        return st;
    variant = clf_attn_family(ctx, variant);
    if (p->seq_offsets) { /* n sequences of at most max_seq_len rows each */
        prob.cu = p->seq_offsets;
        prob.rows = sq;
        prob.batch = p->seq_offsets->shape[0] - 1;
        prob.sq = prob.sk = p->max_seq_len;
        return clf_attention_exact_record(g, &prob, CLF_ATTN_FUSED, variant, out_owned, out);
    }
    if (p->variant.sparsity != CLF_ATTN_EXACT) /* their own kernels (p->impl does not apply) */
        return clf_attention_sparse_record(g, &prob, p, variant, out_owned, out);
    return clf_attention_exact_record(g, &prob, p->impl, variant, out_owned, out);
}

enum clf_status clf_op_attention(struct clf_graph *g, struct clf_tensor *q, struct clf_tensor *k,
                                 struct clf_tensor *v, const struct clf_attention_params *p,
                                 struct clf_tensor **out)
{
    return clf_attention_record(g, q, k, v, p, CLF_ATTN_FUSED_BY_DEVICE, out);
}
