/*
 * Linformer (Wang et al. 2020): keys and values projected along the
 * sequence, K' = E.K and V' = F.V with E, F [r, seq_k] shared by every batch
 * entry and head, then exact attention of Q on (K', V') (seq_k' = r):
 * O(n r d) instead of O(n^2 d).
 *
 * Composed of existing ops, no kernel of its own:
 *  - the projections are GEMMs with E (resp. F) as the shared 2-D operand.
 *    clf_op_gemm shares B, not A, across a batch, so they are computed
 *    transposed: K'^T[bh] = K[bh]^T . E^T ([d, r] per batch entry and head,
 *    K read through its own strides as A with trans_a, E as B with
 *    trans_b) into a dense [batch, heads, d, r] tensor, which the attention
 *    reads as [batch, heads, r, d] with strides (heads d r, d r, 1, r). One
 *    batched GEMM over batch x heads when K's (batch, head) strides flatten
 *    into one stride, else one GEMM per batch entry over its heads;
 *  - the attention is clf_attention_record with the exact variant on
 *    (q, K', V'), the kernel family passed through.
 *
 * E, F: params.proj_e / proj_f (f32 [rank, seq_k], any strides with one unit
 * stride, both or neither), else made once at record time on the host and
 * owned by the graph: CLF_PROJ_MEAN segment means (E = F, one tensor; rows
 * split the keys into r nearly equal segments, the first seq_k mod r one key
 * longer, entries 1/len; rank > seq_k is capped at seq_k, where E = I and
 * the op is exact attention), CLF_PROJ_GAUSSIAN N(0, 1/r) entries from
 * variant.seed (splitmix64 + Box-Muller, E then F from one stream).
 *
 * Not supported (CLF_E_UNSUPPORTED, before anything is recorded): causal
 * (a projected key mixes past and future positions) and key padding (E
 * would have to differ per batch entry; zero the padded keys' columns of a
 * given E instead, per batch entry, with a graph per batch).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

int64_t clf_linformer_rank(const struct clf_attention_variant *v, int64_t sk)
{
    if (v->projection == CLF_PROJ_MEAN && v->rank > sk)
        return sk;
    return v->rank;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]. */
static double unit_open(uint64_t *state)
{
    return ((double)(splitmix64(state) >> 11) + 1.0) * 0x1p-53;
}

void clf_linformer_projection(enum clf_attention_projection proj, uint64_t seed, int64_t r,
                              int64_t sk, int which, float *out)
{
    size_t n = (size_t)(r * sk);
    if (proj == CLF_PROJ_GAUSSIAN) {
        uint64_t state = seed;
        const double sd = 1.0 / sqrt((double)r);
        /* E takes the first ceil(n/2) pairs of the stream, F the next */
        size_t pairs = (n + 1) / 2;
        for (size_t skip = 0; skip < (which ? pairs : 0); skip++) {
            splitmix64(&state);
            splitmix64(&state);
        }
        for (size_t i = 0; i < n; i += 2) {
            double u1 = unit_open(&state), u2 = unit_open(&state);
            double rad = sqrt(-2.0 * log(u1)) * sd, th = 2.0 * M_PI * u2;
            out[i] = (float)(rad * cos(th));
            if (i + 1 < n)
                out[i + 1] = (float)(rad * sin(th));
        }
        return;
    }
    memset(out, 0, n * sizeof *out);
    const int64_t base = sk / r, extra = sk % r;
    for (int64_t i = 0; i < r; i++) {
        int64_t len = base + (i < extra), start = i * base + (i < extra ? i : extra);
        float w = (float)(1.0 / (double)len);
        for (int64_t j = start; j < start + len; j++)
            out[i * sk + j] = w;
    }
}

/* Checks a given projection: f32 2-D [r, sk] of the graph's context. */
static enum clf_status check_proj(struct clf_graph *g, const struct clf_tensor *t,
                                  const char *what, int64_t r, int64_t sk)
{
    char label[40];
    snprintf(label, sizeof label, "attention %s", what);
    enum clf_status st = clf_graph_check_input(g, t, label);
    if (st != CLF_OK)
        return st;
    if (t->dtype != CLF_F32 || t->ndim != 2 || t->shape[0] != r || t->shape[1] != sk)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "attention: %s must be f32 [rank, seq_k] = [%lld, %lld], got %s %d-D "
                        "[%lld%s%lld]",
                        what, (long long)r, (long long)sk, clf_dtype_str(t->dtype), t->ndim,
                        (long long)t->shape[0], t->ndim > 1 ? ", " : "",
                        t->ndim > 1 ? (long long)t->shape[1] : 0LL);
    return CLF_OK;
}

/* A generated projection [r, sk], owned by the graph. */
static enum clf_status make_proj(struct clf_graph *g, const struct clf_attention_variant *v,
                                 int64_t r, int64_t sk, int which, struct clf_tensor **out)
{
    struct clf_ctx *ctx = g->ctx;
    size_t n = (size_t)(r * sk);
    float *host = malloc(n * sizeof *host);
    if (!host)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a Linformer projection");
    clf_linformer_projection(v->projection, v->seed, r, sk, which, host);
    int64_t shape[2] = {r, sk};
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, 2, shape, &t);
    if (st == CLF_OK)
        st = clf_tensor_write(t, host, n * sizeof *host);
    free(host);
    if (st != CLF_OK) {
        clf_tensor_free(t);
        return st;
    }
    st = clf_graph_adopt(g, t); /* frees t on failure */
    if (st == CLF_OK)
        *out = t;
    return st;
}

/* Records X'^T = X^T . P^T for every (batch, head) of x [B, H, sk, d] into
 * a new graph-owned dense [B, H, d, r] tensor; *proj_out is the
 * [B, H, r, d] view of it the attention reads. */
static enum clf_status project(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor *pm,
                               int64_t r, struct clf_tensor **proj_out)
{
    struct clf_ctx *ctx = g->ctx;
    const int64_t B = x->shape[0], H = x->shape[1], sk = x->shape[2], d = x->shape[3];
    int64_t dshape[4] = {B, H, d, r};
    struct clf_tensor *dense = NULL;
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, 4, dshape, &dense);
    if (st != CLF_OK)
        return st;
    if ((st = clf_graph_adopt(g, dense)) != CLF_OK)
        return st;
    struct clf_gemm_params gp = clf_gemm_params_default();
    gp.trans_a = true;
    gp.trans_b = true;
    /* (b, h) of x as one batch index of stride x.s1 */
    const bool flat = B == 1 || H == 1 || x->strides[0] == H * x->strides[1];
    const int64_t nb = flat ? 1 : B, per = flat ? B * H : H;
    for (int64_t b = 0; b < nb && st == CLF_OK; b++) {
        int64_t ashape[3] = {per, sk, d};
        int64_t astr[3] = {H == 1 && flat ? x->strides[0] : x->strides[1], x->strides[2],
                           x->strides[3]};
        int64_t cshape[3] = {per, d, r}, cstr[3] = {d * r, r, 1};
        struct clf_tensor *a = NULL, *c = NULL, *y = NULL;
        st = clf_graph_view(g, x, 3, ashape, astr, x->offset + b * x->strides[0], &a);
        if (st == CLF_OK)
            st = clf_graph_view(g, dense, 3, cshape, cstr, b * H * d * r, &c);
        if (st == CLF_OK) {
            gp.c = c;
            st = clf_op_gemm(g, a, pm, &gp, &y);
        }
    }
    if (st != CLF_OK)
        return st;
    int64_t vshape[4] = {B, H, r, d}, vstr[4] = {H * d * r, d * r, 1, r};
    return clf_graph_view(g, dense, 4, vshape, vstr, 0, proj_out);
}

enum clf_status clf_attention_lowrank_record(struct clf_graph *g, struct clf_tensor *q,
                                             struct clf_tensor *k, struct clf_tensor *v,
                                             const struct clf_attention_params *p,
                                             enum clf_attn_fused_variant family,
                                             struct clf_tensor **out)
{
    struct clf_ctx *ctx = g->ctx;
    const struct clf_attention_variant *var = &p->variant;
    const int64_t sk = k->shape[2];
    if (p->causal)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: causal masking is not supported with Linformer (projected "
                        "keys mix all positions)");
    if (p->key_padding)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: key padding is not supported with Linformer (zero the padded "
                        "keys' columns of a given E and F instead)");
    if ((p->proj_e == NULL) != (p->proj_f == NULL))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "attention: Linformer needs both proj_e and proj_f, or neither");
    const int64_t r = p->proj_e ? var->rank : clf_linformer_rank(var, sk);
    if (r > INT32_MAX / 2 || r * sk > ((int64_t)1 << 31))
        return clf_fail(ctx, CLF_E_SHAPE,
                        "attention: Linformer rank %lld x seq_k %lld is too large",
                        (long long)r, (long long)sk);
    enum clf_status st;
    if (p->proj_e) {
        if ((st = check_proj(g, p->proj_e, "proj_e", r, sk)) != CLF_OK ||
            (st = check_proj(g, p->proj_f, "proj_f", r, sk)) != CLF_OK)
            return st;
        if (p->out && (p->out->storage == p->proj_e->storage ||
                       p->out->storage == p->proj_f->storage))
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "attention: out shares storage with proj_e or proj_f");
    }
    struct clf_tensor *e = p->proj_e, *f = p->proj_f;
    if (!e) {
        st = make_proj(g, var, r, sk, 0, &e);
        if (st != CLF_OK)
            return st;
        if (var->projection == CLF_PROJ_MEAN)
            f = e;
        else if ((st = make_proj(g, var, r, sk, 1, &f)) != CLF_OK)
            return st;
    }
    struct clf_tensor *kp = NULL, *vp = NULL;
    if ((st = project(g, k, e, r, &kp)) != CLF_OK || (st = project(g, v, f, r, &vp)) != CLF_OK)
        return st;
    struct clf_attention_params ep = *p;
    memset(&ep.variant, 0, sizeof ep.variant); /* exact */
    ep.proj_e = ep.proj_f = NULL;
    ep.kept = NULL;
    if (ep.scale == 0.0f) /* the head_dim is unchanged: same default */
        ep.scale = (float)(1.0 / sqrt((double)q->shape[3]));
    return clf_attention_record(g, q, kp, vp, &ep, family, out);
}
