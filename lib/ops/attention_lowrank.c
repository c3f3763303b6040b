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
 *  - the attention is an exact attention node (attention_exact.c) on
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
    /* exact attention of q on (K', V'): seq_k' = r, the scale and out of p */
    if ((st = clf_attn_check_sizes(ctx, q->shape[0], q->shape[1], q->shape[2], r, q->shape[3],
                                   q->shape[3])) != CLF_OK)
        return st;
    struct clf_attn_problem prob;
    bool out_owned = false;
    if ((st = clf_attn_problem_make(g, q, kp, vp, p, &prob, &out_owned)) != CLF_OK)
        return st;
    return clf_attention_exact_record(g, &prob, p->impl, clf_attn_family(ctx, family), out_owned,
                                      out);
}

/*
 * Nystromformer (Xiong et al. 2021), per batch entry and head (flattened
 * into one GEMM batch index bh):
 *   Q~ = P_q.Q, K~ = P_k.K       landmarks: segment means (P as Linformer's
 *                                CLF_PROJ_MEAN, m capped at min(seq_q, seq_k))
 *   F = softmax(s Q.K~^T)        [sq, m]
 *   A = softmax(s Q~.K~^T)       [m, m]
 *   B = softmax(s Q~.K^T)        [m, sk]
 *   out = F.(Z.(B.V))            Z ~ A^+
 * with s the score scale (the paper's d^-1/4 on Q and K, as GEMM alpha).
 * Z_0 = A^T / (||A||_1 ||A||_inf) per matrix (nys_norm, nys_z0), then
 * `iters` times (default 6)
 *   AZ = A.Z; T1 = 7I - AZ; T2 = 15I - AZ.T1; T3 = 13I - AZ.T2;
 *   Z <- 1/4 Z.T3
 * the c I terms filled by nys_eye and accumulated by GEMMs with beta = 1,
 * alpha = -1. No [n, n] buffer: the largest are F [sq, m] and B [m, sk].
 * Inputs whose (batch, head) strides do not flatten or whose matrices have
 * no unit stride are copied dense first; an out whose rows are not
 * contiguous (or do not flatten) gets a dense result stored by nys_store.
 */

/* Launches kernel `name` of attention_lowrank with arguments args[0..n)
 * over global[0..dims) (clf_launch_rounded, work-items doing work). */
static enum clf_status nys_launch(struct clf_ctx *ctx, const char *name,
                                  const struct clf_karg *args, cl_uint n, cl_uint dims,
                                  const size_t *global, enum clf_work work, cl_uint n_wait,
                                  const cl_event *wait, cl_event *ev)
{
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention_lowrank", NULL, name, &k);
    if (st == CLF_OK)
        st = clf_set_args(ctx, k, name, args, n);
    if (st != CLF_OK)
        return st;
    return clf_launch_rounded(ctx, k, dims, global, work, n_wait, wait, ev, name);
}

/* nys_norm: in[0] = A [bh, m, m] dense, out = nrm [bh]; iparams[0] = m. */
static enum clf_status enqueue_nys_norm(struct clf_ctx *ctx, struct clf_node *node,
                                        cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_long m = node->iparams[0], count = node->out->shape[0];
    struct clf_targ a = clf_targ_of(node->in[0]), n = clf_targ_of(node->out);
    const struct clf_karg args[] = {{sizeof(cl_mem), &a.mem}, {sizeof(cl_long), &a.off},
                                    {sizeof(cl_mem), &n.mem}, {sizeof(cl_long), &n.off},
                                    {sizeof(cl_long), &m},      {sizeof(cl_long), &count}};
    size_t global = (size_t)count;
    return nys_launch(ctx, "nys_norm", args, CLF_NARGS(args), 1, &global, CLF_WORK_ROW, n_wait, wait, ev);
}

/* nys_z0: in[0] = A, in[1] = nrm, out = Z; iparams[0] = m. */
static enum clf_status enqueue_nys_z0(struct clf_ctx *ctx, struct clf_node *node,
                                      cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_long m = node->iparams[0];
    struct clf_targ a = clf_targ_of(node->in[0]), n = clf_targ_of(node->in[1]),
                    z = clf_targ_of(node->out);
    const struct clf_karg args[] = {{sizeof(cl_mem), &a.mem}, {sizeof(cl_long), &a.off},
                                    {sizeof(cl_mem), &n.mem}, {sizeof(cl_long), &n.off},
                                    {sizeof(cl_mem), &z.mem}, {sizeof(cl_long), &z.off},
                                    {sizeof(cl_long), &m}};
    size_t global[2] = {(size_t)(m * m), (size_t)node->out->shape[0]};
    return nys_launch(ctx, "nys_z0", args, CLF_NARGS(args), 2, global, CLF_WORK_ELEMENT, n_wait, wait, ev);
}

/* nys_eye: in[0] = X or NULL, out = Y; iparams[0] = m, fparams[0] = c. */
static enum clf_status enqueue_nys_eye(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_long m = node->iparams[0];
    cl_float c = node->fparams[0];
    cl_int use_x = node->in[0] != NULL;
    struct clf_targ y = clf_targ_of(node->out);
    struct clf_targ x = use_x ? clf_targ_of(node->in[0]) : y; /* unread without X */
    const struct clf_karg args[] = {{sizeof(cl_mem), &x.mem},   {sizeof(cl_long), &x.off},
                                    {sizeof(cl_int), &use_x},   {sizeof(cl_mem), &y.mem},
                                    {sizeof(cl_long), &y.off},  {sizeof(cl_long), &m},
                                    {sizeof(cl_float), &c}};
    size_t global[2] = {(size_t)(m * m), (size_t)node->out->shape[0]};
    return nys_launch(ctx, "nys_eye", args, CLF_NARGS(args), 2, global, CLF_WORK_ELEMENT, n_wait, wait, ev);
}

/* nys_store: in[0] = X (4-D), out = Y (4-D, same shape, any strides). */
static enum clf_status enqueue_nys_store(struct clf_ctx *ctx, struct clf_node *node,
                                         cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_long4 shape, xs, ys;
    cl_long xo, yo;
    clf_tensor_layout4(node->in[0], &shape, &xs, &xo);
    clf_tensor_layout4(node->out, &shape, &ys, &yo);
    cl_mem xm = node->in[0]->storage->mem, ym = node->out->storage->mem;
    const struct clf_karg args[] = {{sizeof(cl_mem), &xm},  {sizeof(cl_long), &xo},
                                    {sizeof(cl_long4), &xs}, {sizeof(cl_mem), &ym},
                                    {sizeof(cl_long), &yo},  {sizeof(cl_long4), &ys},
                                    {sizeof(cl_long4), &shape}};
    size_t global = (size_t)clf_tensor_numel(node->out);
    return nys_launch(ctx, "nys_store", args, CLF_NARGS(args), 1, &global, CLF_WORK_ELEMENT, n_wait, wait, ev);
}

static const struct clf_op_impl op_nys_norm = {.name = "nys_norm", .enqueue = enqueue_nys_norm};
static const struct clf_op_impl op_nys_z0 = {.name = "nys_z0", .enqueue = enqueue_nys_z0};
static const struct clf_op_impl op_nys_eye = {.name = "nys_eye", .enqueue = enqueue_nys_eye};
static const struct clf_op_impl op_nys_store = {.name = "nys_store",
                                                .enqueue = enqueue_nys_store};

/* A graph-owned dense f32 tensor. */
static enum clf_status nys_new(struct clf_graph *g, int ndim, const int64_t *shape,
                               struct clf_tensor **out)
{
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_tensor_new(g->ctx, CLF_F32, ndim, shape, &t);
    if (st != CLF_OK)
        return st;
    if ((st = clf_graph_adopt(g, t)) != CLF_OK)
        return st;
    *out = t;
    return CLF_OK;
}

/* Records a node of impl over in[0], in[1] (may be NULL) writing out. */
static enum clf_status nys_node(struct clf_graph *g, const struct clf_op_impl *impl,
                                struct clf_tensor *in0, struct clf_tensor *in1,
                                struct clf_tensor *out, int64_t m, float c)
{
    struct clf_node node;
    memset(&node, 0, sizeof node);
    node.impl = impl;
    node.in[0] = in0;
    node.in[1] = in1;
    node.n_in = 2;
    node.out = out;
    node.iparams[0] = m;
    node.fparams[0] = c;
    return clf_graph_add_node(g, &node);
}

/* The [bh, rows, d] view GEMMs read of x [B, H, rows, d]: x itself when its
 * (batch, head) strides flatten and a matrix has a unit stride, else a
 * dense copy. */
static enum clf_status nys_flat(struct clf_graph *g, struct clf_tensor *x,
                                struct clf_tensor **out)
{
    const int64_t B = x->shape[0], H = x->shape[1], n = x->shape[2], d = x->shape[3];
    const int64_t *s = x->strides;
    const bool flat = B == 1 || H == 1 || s[0] == H * s[1];
    enum clf_status st;
    if (!flat || !(s[3] == 1 || s[2] == 1) || (B * H > 1 && (H == 1 ? s[0] : s[1]) == 0)) {
        if ((st = clf_op_copy(g, x, &x)) != CLF_OK)
            return st;
        s = x->strides;
    }
    int64_t shape[3] = {B * H, n, d};
    int64_t str[3] = {H == 1 ? s[0] : s[1], s[2], s[3]};
    return clf_graph_view(g, x, 3, shape, str, x->offset, out);
}

/* One GEMM: C = alpha op(A).op(B) (+ C with c and beta = 1). */
static enum clf_status nys_gemm(struct clf_graph *g, struct clf_tensor *a, bool ta,
                                struct clf_tensor *b, bool tb, float alpha,
                                struct clf_tensor *c, float beta, struct clf_tensor **out)
{
    struct clf_gemm_params gp = clf_gemm_params_default();
    gp.trans_a = ta;
    gp.trans_b = tb;
    gp.alpha = alpha;
    gp.beta = beta;
    gp.c = c;
    return clf_op_gemm(g, a, b, &gp, out);
}

enum clf_status clf_attention_nystrom_record(struct clf_graph *g, struct clf_tensor *q,
                                             struct clf_tensor *k, struct clf_tensor *v,
                                             const struct clf_attention_params *p,
                                             struct clf_tensor **out)
{
    struct clf_ctx *ctx = g->ctx;
    const struct clf_attention_variant *var = &p->variant;
    if (p->causal)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: causal masking is not supported with Nystromformer "
                        "(landmarks mix all positions)");
    if (p->key_padding)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "attention: key padding is not supported with Nystromformer "
                        "(landmarks average padded keys)");
    const int64_t B = q->shape[0], H = q->shape[1], sq = q->shape[2], d = q->shape[3];
    const int64_t sk = k->shape[2], BH = B * H;
    int64_t m = clf_nystrom_landmarks(var, sq, sk);
    const int iters = var->iters ? var->iters : 6;
    if (m > INT32_MAX / 2 || m * sq > ((int64_t)1 << 31) || m * sk > ((int64_t)1 << 31) ||
        BH * m * (sq > sk ? sq : sk) > ((int64_t)1 << 40))
        return clf_fail(ctx, CLF_E_SHAPE, "attention: Nystrom landmarks %lld are too many",
                        (long long)m);
    const float s = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)d));
    struct clf_attention_variant mean;
    memset(&mean, 0, sizeof mean);
    mean.projection = CLF_PROJ_MEAN;
    enum clf_status st;
    struct clf_tensor *pq = NULL, *pk = NULL;
    if ((st = make_proj(g, &mean, m, sq, 0, &pq)) != CLF_OK)
        return st;
    if (sk == sq)
        pk = pq;
    else if ((st = make_proj(g, &mean, m, sk, 0, &pk)) != CLF_OK)
        return st;
    struct clf_tensor *q3, *k3, *v3;
    if ((st = nys_flat(g, q, &q3)) != CLF_OK || (st = nys_flat(g, k, &k3)) != CLF_OK ||
        (st = nys_flat(g, v, &v3)) != CLF_OK)
        return st;
    /* landmarks, transposed: Q~^T = Q^T.P_q^T [bh, d, m] (P shared as B) */
    struct clf_tensor *qlt, *klt, *sf, *sa, *sb, *f, *a, *bm, *bv;
    if ((st = nys_gemm(g, q3, true, pq, true, 1.0f, NULL, 0.0f, &qlt)) != CLF_OK ||
        (st = nys_gemm(g, k3, true, pk, true, 1.0f, NULL, 0.0f, &klt)) != CLF_OK ||
        (st = nys_gemm(g, q3, false, klt, false, s, NULL, 0.0f, &sf)) != CLF_OK ||
        (st = nys_gemm(g, qlt, true, klt, false, s, NULL, 0.0f, &sa)) != CLF_OK ||
        (st = nys_gemm(g, qlt, true, k3, true, s, NULL, 0.0f, &sb)) != CLF_OK ||
        (st = clf_op_softmax(g, sf, &f)) != CLF_OK ||
        (st = clf_op_softmax(g, sa, &a)) != CLF_OK ||
        (st = clf_op_softmax(g, sb, &bm)) != CLF_OK ||
        (st = nys_gemm(g, bm, false, v3, false, 1.0f, NULL, 0.0f, &bv)) != CLF_OK)
        return st;
    /* Z ~ A^+ */
    int64_t mm[3] = {BH, m, m}, one[1] = {BH};
    struct clf_tensor *nrm, *z[2], *az, *t1, *t2, *t3, *y;
    if ((st = nys_new(g, 1, one, &nrm)) != CLF_OK || (st = nys_new(g, 3, mm, &z[0])) != CLF_OK ||
        (st = nys_new(g, 3, mm, &z[1])) != CLF_OK || (st = nys_new(g, 3, mm, &az)) != CLF_OK ||
        (st = nys_new(g, 3, mm, &t1)) != CLF_OK || (st = nys_new(g, 3, mm, &t2)) != CLF_OK ||
        (st = nys_new(g, 3, mm, &t3)) != CLF_OK)
        return st;
    if ((st = nys_node(g, &op_nys_norm, a, NULL, nrm, m, 0.0f)) != CLF_OK ||
        (st = nys_node(g, &op_nys_z0, a, nrm, z[0], m, 0.0f)) != CLF_OK)
        return st;
    int cur = 0;
    for (int it = 0; it < iters; it++, cur ^= 1) {
        if ((st = nys_gemm(g, a, false, z[cur], false, 1.0f, az, 0.0f, &y)) != CLF_OK ||
            (st = nys_node(g, &op_nys_eye, az, NULL, t1, m, 7.0f)) != CLF_OK ||
            (st = nys_node(g, &op_nys_eye, NULL, NULL, t2, m, 15.0f)) != CLF_OK ||
            (st = nys_gemm(g, az, false, t1, false, -1.0f, t2, 1.0f, &y)) != CLF_OK ||
            (st = nys_node(g, &op_nys_eye, NULL, NULL, t3, m, 13.0f)) != CLF_OK ||
            (st = nys_gemm(g, az, false, t2, false, -1.0f, t3, 1.0f, &y)) != CLF_OK ||
            (st = nys_gemm(g, z[cur], false, t3, false, 0.25f, z[cur ^ 1], 0.0f, &y)) != CLF_OK)
            return st;
    }
    struct clf_tensor *w;
    if ((st = nys_gemm(g, z[cur], false, bv, false, 1.0f, NULL, 0.0f, &w)) != CLF_OK)
        return st;
    /* out = F.W, straight into out when its rows are contiguous and its
     * (batch, head) strides flatten */
    struct clf_tensor *o = p->out;
    if (!o) {
        int64_t shape[4] = {B, H, sq, d};
        if ((st = nys_new(g, 4, shape, &o)) != CLF_OK)
            return st;
    }
    const int64_t *os = o->strides;
    const bool direct = (o->shape[3] == 1 || os[3] == 1) &&
                        (B == 1 || H == 1 || os[0] == H * os[1]) &&
                        (BH == 1 || (H == 1 ? os[0] : os[1]) != 0);
    struct clf_tensor *dst = o;
    if (!direct) {
        int64_t shape[4] = {B, H, sq, d};
        if ((st = nys_new(g, 4, shape, &dst)) != CLF_OK)
            return st;
    }
    int64_t shape3[3] = {BH, sq, d};
    int64_t str3[3] = {H == 1 ? dst->strides[0] : dst->strides[1], dst->strides[2], 1};
    struct clf_tensor *o3;
    if ((st = clf_graph_view(g, dst, 3, shape3, str3, dst->offset, &o3)) != CLF_OK ||
        (st = nys_gemm(g, f, false, w, false, 1.0f, o3, 0.0f, &y)) != CLF_OK)
        return st;
    if (!direct && (st = nys_node(g, &op_nys_store, dst, NULL, o, 0, 0.0f)) != CLF_OK)
        return st;
    *out = o;
    return CLF_OK;
}

int64_t clf_nystrom_landmarks(const struct clf_attention_variant *v, int64_t sq, int64_t sk)
{
    int64_t m = v->rank, n = sq < sk ? sq : sk;
    return m > n ? n : m;
}
