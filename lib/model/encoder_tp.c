/*
 * The tensor-parallel encoder (Megatron-LM's layer split, Shoeybi et al.
 * 2019, §3) over a device group of N members, with a host-staged
 * all-reduce. The math is encoder.c's (post-LN and pre-LN); what differs is
 * where each product is computed.
 *
 * Weights of layer l on rank r (h heads of hd = d/h, dl = d/N, fl = f/N):
 *   in_w  [3·dl, d]  rows [r·dl, (r+1)·dl) of each of Wq, Wk, Wv (the heads
 *                    [r·h/N, (r+1)·h/N)), in_b [3·dl] their biases
 *   out_w [d, dl]    Wo's columns of those heads; bo only on rank 0
 *   w1    [fl, d]    W1's rows [r·fl, (r+1)·fl), b1 [fl] their entries
 *   w2    [d, fl]    W2's columns of that range; b2 only on rank 0
 *   norm1, norm2     replicated (every rank normalises its own input)
 * so that MHA(x) = Σ_r attn_r(x)·out_w_rᵀ + bo and FFN(x) = Σ_r
 * act(x·w1_rᵀ + b1_r)·w2_rᵀ + b2 exactly (the sums split by heads and by
 * hidden units). The weights arrive one at a time on the host (struct
 * clf_weight_reader: an existing encoder read back, a weights file, seeded
 * random weights, a BERT model's file), are sliced there, and only the
 * slices are uploaded: no device holds more than its share.
 *
 * One forward = 2·layers sub-layers j = 2l + s (s = 0 attention, 1 FFN);
 * for each, every rank runs its own small graph (recorded once per
 * (batch, seq, padded) and replayed) on the sub-layer input `in` [T, d],
 * T = batch·seq:
 *   h    = LN(in) when the sub-layer starts with a LayerNorm, else in:
 *          pre-LN: LN1_l (s = 0), LN2_l (s = 1); post-LN: LN2_{l−1} (s = 0,
 *          l > 0: the previous layer's closing norm), LN1_l (s = 1), none
 *          for the very first sub-layer
 *   res  = h (post-LN), in (pre-LN): the residual
 *   part = attn_r(h)·out_w_rᵀ, or act(h·w1_rᵀ + b1_r)·w2_rᵀ [T, d]; rank 0
 *          also adds the bias and the residual in the GEMM's epilogue
 *          (part_0 = ... + bias + res, with C = res, beta = 1)
 * Then the all-reduce, on the host: every rank's part is read back, the
 * sum Σ_r part_r is formed in fp32 in the fixed order r = 0, 1, ..., N−1
 * (each rank's thread sums its own block of rows), and written to every
 * rank as the next sub-layer's `in`. The LayerNorm thus runs on every
 * device (replicated, on identical inputs: no second round trip). After
 * the last sub-layer a tail graph on rank 0 applies what is left (post-LN:
 * LN2 of the last layer; and the optional final norm).
 *
 * Communication per layer and device: 2 inputs written and 2 partials read,
 * 4·T·d·4 bytes (the first sub-layer's input is x itself; the last sum
 * goes to rank 0's tail only, not counted, nor the key padding). A ring
 * all-reduce would move 2·2·(N−1)/N·T·d·4 per layer and device, i.e.
 * 2(N−1)/N of this; the host staging pays the full size for any N, even 1.
 *
 * Ranks run in one thread each (rank 0 in the caller's), meeting at two
 * barriers per sub-layer: after the device work (partials on the host)
 * and after the reduction (the sum complete).
 *
 * One rank of ranks in other processes (clf_encoder_tp_create_rank): the
 * same, with one rank held here (global rank comm.rank of comm.size) and
 * the caller's all-reduce in place of the barriers and the sum; every rank
 * then has the sum and runs the tail itself, so every rank returns y.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"
#include "../runtime/ctx.h"
#include "../runtime/abi.h"
#include "encoder_internal.h"

/* One layer's slices on one rank (out_b, b2 NULL on ranks > 0). */
struct tp_layer {
    struct clf_tensor *in_w, *in_b, *out_w, *out_b, *w1, *b1, *w2, *b2, *n1w, *n1b, *n2w, *n2b;
};

#define TP_LAYER_TENSORS(l)                                                                   \
    {                                                                                         \
        &(l)->in_w, &(l)->in_b, &(l)->out_w, &(l)->out_b, &(l)->w1, &(l)->b1, &(l)->w2,       \
            &(l)->b2, &(l)->n1w, &(l)->n1b, &(l)->n2w, &(l)->n2b                              \
    }

struct tp_rank {
    struct clf_ctx *ctx;
    struct tp_layer *layers;            /* [layers] */
    struct clf_tensor *norm_w, *norm_b; /* rank 0: the optional final norm */
    /* recorded for one shape */
    struct clf_tensor *in;              /* [T, d]: every sub-layer's input */
    struct clf_tensor *pad;             /* [batch, seq] i32, or NULL */
    struct clf_graph **graphs;          /* [2·layers] */
    struct clf_tensor **part;           /* [2·layers] their outputs [T, d] */
    float *host_part;                   /* [T·d]: the latest partial */
    double bytes;                       /* moved by the latest forward's sub-layers */
    enum clf_status st;                 /* the latest forward's status */
};

struct clf_encoder_tp {
    struct clf_tp_comm comm;            /* allreduce NULL: a group's host all-reduce */
    struct clf_encoder_config cfg;
    int n;                              /* the ranks the layers are split over (N) */
    int nlocal;                         /* ranks held here: N (a group), 1 (one rank) */
    int base;                           /* rank[0]'s global rank */
    struct tp_rank *rank;               /* [nlocal] */
    bool has_norm;                      /* a final LayerNorm (from the file) */
    /* the recorded shape */
    int64_t batch, seq;
    bool padded, recorded;
    struct clf_graph *tail;             /* rank 0: post-LN's last LN2, the final norm; or NULL */
    struct clf_tensor *tail_out;
    float *cur;                         /* [T·d]: the latest all-reduced sum (a group's;
                                           one rank's is its host_part) */
    double comm_bytes;                  /* per layer and device, latest forward (−1: none) */
};

/* Frees what was recorded for a shape. */
static void drop_shape(struct clf_encoder_tp *e)
{
    for (int r = 0; e->rank && r < e->nlocal; r++) {
        struct tp_rank *k = &e->rank[r];
        for (int64_t j = 0; k->graphs && j < 2 * e->cfg.layers; j++)
            clf_graph_destroy(k->graphs[j]);
        free(k->graphs);
        free(k->part);
        free(k->host_part);
        clf_tensor_destroy(k->in);
        clf_tensor_destroy(k->pad);
        k->graphs = NULL, k->part = NULL, k->host_part = NULL, k->in = NULL, k->pad = NULL;
    }
    clf_graph_destroy(e->tail);
    e->tail = NULL, e->tail_out = NULL;
    free(e->cur);
    e->cur = NULL;
    e->recorded = false;
}

void clf_encoder_tp_destroy(struct clf_encoder_tp *e)
{
    if (!e)
        return;
    drop_shape(e);
    for (int r = 0; e->rank && r < e->nlocal; r++) {
        struct tp_rank *k = &e->rank[r];
        for (int64_t l = 0; k->layers && l < e->cfg.layers; l++) {
            struct clf_tensor **t[] = TP_LAYER_TENSORS(&k->layers[l]);
            for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
                clf_tensor_destroy(*t[i]);
        }
        free(k->layers);
        clf_tensor_destroy(k->norm_w);
        clf_tensor_destroy(k->norm_b);
    }
    free(e->rank);
    free(e);
}

/* ------------------------------------------------------------------------ */
/* Weights: read one at a time on the host, each rank's slice uploaded.     */
/* ------------------------------------------------------------------------ */

/* How weight w of clf_encoder_weight_table (the same order as struct
 * tp_layer's fields) is split: by rows of each of Q, K and V, by rows, by
 * columns (a share of `part`: d/N for the heads, d_ff/N for the FFN), or
 * kept whole (on every rank, or on rank 0 only: the biases added once). */
enum tp_split { TP_WHOLE, TP_RANK0, TP_QKV_ROWS, TP_ROWS, TP_COLS };
static const struct {
    size_t offset; /* of the struct clf_tensor * in struct tp_layer */
    enum tp_split split;
    char part;     /* 'd' or 'f' */
} tp_table[N_WEIGHTS] = {
    {offsetof(struct tp_layer, in_w), TP_QKV_ROWS, 'd'},  /* self_attn.in_proj_weight */
    {offsetof(struct tp_layer, in_b), TP_QKV_ROWS, 'd'},  /* self_attn.in_proj_bias */
    {offsetof(struct tp_layer, out_w), TP_COLS, 'd'},     /* self_attn.out_proj.weight */
    {offsetof(struct tp_layer, out_b), TP_RANK0, 0},      /* self_attn.out_proj.bias */
    {offsetof(struct tp_layer, w1), TP_ROWS, 'f'},        /* linear1.weight */
    {offsetof(struct tp_layer, b1), TP_ROWS, 'f'},        /* linear1.bias */
    {offsetof(struct tp_layer, w2), TP_COLS, 'f'},        /* linear2.weight */
    {offsetof(struct tp_layer, b2), TP_RANK0, 0},         /* linear2.bias */
    {offsetof(struct tp_layer, n1w), TP_WHOLE, 0},        /* norm1.weight */
    {offsetof(struct tp_layer, n1b), TP_WHOLE, 0},        /* norm1.bias */
    {offsetof(struct tp_layer, n2w), TP_WHOLE, 0},        /* norm2.weight */
    {offsetof(struct tp_layer, n2b), TP_WHOLE, 0},        /* norm2.bias */
};

/* Rows [r0, r0 + nr) of src [rows, cols] into dst [nr, cols]. */
static void copy_rows(float *dst, const float *src, int64_t cols, int64_t r0, int64_t nr)
{
    memcpy(dst, src + r0 * cols, (size_t)(nr * cols) * sizeof *dst);
}

/* Columns [c0, c0 + nc) of src [rows, cols] into dst [rows, nc]. */
static void copy_cols(float *dst, const float *src, int64_t rows, int64_t cols, int64_t c0,
                      int64_t nc)
{
    for (int64_t i = 0; i < rows; i++)
        memcpy(dst + i * nc, src + i * cols + c0, (size_t)nc * sizeof *dst);
}

/* Global rank r's slice of weight w: full [shape[0], shape[1]] (nd 2) or
 * [shape[0]] (nd 1) into slice, shape becoming the slice's. Returns what
 * to upload (full itself when the weight is whole). */
static const float *slice_weight(const struct clf_encoder_tp *e, size_t w, int r,
                                 const float *full, float *slice, int nd, int64_t shape[2])
{
    const int64_t d = e->cfg.d_model, cols = nd == 2 ? shape[1] : 1;
    const int64_t part = (tp_table[w].part == 'f' ? e->cfg.d_ff : d) / e->n;
    switch (tp_table[w].split) {
    case TP_QKV_ROWS: /* the rows of Q, K and V of rank r's heads, stacked [q; k; v] */
        for (int p = 0; p < 3; p++)
            copy_rows(slice + p * part * cols, full, cols, p * d + r * part, part);
        shape[0] = 3 * part;
        return slice;
    case TP_ROWS:
        copy_rows(slice, full, cols, r * part, part);
        shape[0] = part;
        return slice;
    case TP_COLS:
        copy_cols(slice, full, shape[0], cols, r * part, part);
        shape[1] = part;
        return slice;
    default:
        return full;
    }
}

/* Reads layer l's weights (l = −1: the final norm) from rd one at a time
 * into full_buf and uploads each local rank's slice of it (through
 * slice_buf). Errors on rank 0's context, naming the member. */
static enum clf_status upload_layer(struct clf_encoder_tp *e, struct clf_weight_reader *rd,
                                    int64_t l, float *full_buf, float *slice_buf)
{
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    enum clf_status st = CLF_OK;
    for (size_t w = 0; st == CLF_OK && w < N_WEIGHTS; w++) {
        const struct weight_desc *wd = &clf_encoder_weight_table[w];
        int64_t fs[2];
        const int nd = clf_encoder_weight_shape(&e->cfg, wd, fs);
        if ((st = rd->read(rd->self, (int)l, wd->name, full_buf,
                           (size_t)(fs[0] * (nd == 2 ? fs[1] : 1)))) != CLF_OK)
            return st;
        for (int i = 0; st == CLF_OK && i < e->nlocal; i++) {
            const int r = e->base + i;
            if (tp_table[w].split == TP_RANK0 && r > 0)
                continue;
            int64_t shape[2] = {fs[0], fs[1]};
            const float *src = slice_weight(e, w, r, full_buf, slice_buf, nd, shape);
            struct tp_layer *t = &e->rank[i].layers[l];
            st = clf_encoder_upload(e->rank[i].ctx, nd, shape, src,
                                    (struct clf_tensor **)((char *)t + tp_table[w].offset));
            if (st != CLF_OK && i > 0) /* the reason is on that rank's context */
                st = clf_fail(ctx0, st, "device %d of the group: %s", i,
                              clf_ctx_last_error(e->rank[i].ctx));
        }
    }
    return st;
}

/* The final norm (rd->has_norm) on the rank that runs the tail: the first
 * one held here. */
static enum clf_status upload_norm(struct clf_encoder_tp *e, struct clf_weight_reader *rd,
                                   float *buf)
{
    const int64_t d = e->cfg.d_model;
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    enum clf_status st = rd->read(rd->self, -1, "norm.weight", buf, (size_t)d);
    if (st == CLF_OK)
        st = clf_encoder_upload(ctx0, 1, &d, buf, &e->rank[0].norm_w);
    if (st == CLF_OK)
        st = rd->read(rd->self, -1, "norm.bias", buf, (size_t)d);
    if (st == CLF_OK)
        st = clf_encoder_upload(ctx0, 1, &d, buf, &e->rank[0].norm_b);
    return st;
}

/* What the tensor-parallel encoder does not do (CLF_E_UNSUPPORTED), and
 * the divisibility it needs (CLF_E_INVALID_ARG). */
static enum clf_status check_tp_config(struct clf_ctx *ctx, const struct clf_encoder_config *c,
                                       int n, const char *what)
{
    if (c->attn.sparsity != CLF_ATTN_EXACT || c->kv != CLF_KV_F32 || c->attn_p != CLF_P_F32 ||
        c->linear_int8 || c->ffn.format != CLF_FFN_DENSE || c->ffn_act.kind != CLF_ACTQ_NONE ||
        c->precision != CLF_PRECISION_F32)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "the tensor-parallel encoder runs exact attention and dense f32 weights "
                        "only (no attention variant, K/V or weight quantisation, 16-bit "
                        "weights, FFN factorisation or activation quantiser)");
    if (c->heads >= 1 && c->d_ff >= 1 && (c->heads % n || c->d_ff % n))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "tensor parallelism over %d %s needs heads (%lld) and d_ff (%lld) "
                        "divisible by %d",
                        n, what, (long long)c->heads, (long long)c->d_ff, n);
    return CLF_OK;
}

/* The encoder of global ranks [base, base + nlocal) of n, on ctxs[0..nlocal)
 * (errors on ctxs[0]), sliced from rd's weights, comm (allreduce NULL for a
 * group) kept. Only the slices reach the devices. */
static enum clf_status split_tp(struct clf_ctx *const *ctxs, int nlocal, int base, int n,
                                const struct clf_tp_comm *comm,
                                const struct clf_encoder_config *cfg, struct clf_weight_reader *rd,
                                struct clf_encoder_tp **out)
{
    struct clf_ctx *ctx0 = ctxs[0];
    enum clf_status st = check_tp_config(ctx0, cfg, n, comm->allreduce ? "ranks" : "devices");
    if (st == CLF_OK)
        st = clf_encoder_check_config(ctx0, cfg);
    if (st != CLF_OK)
        return st;

    struct clf_encoder_tp *e = calloc(1, sizeof *e);
    if (e && (e->rank = calloc((size_t)nlocal, sizeof *e->rank)) != NULL)
        e->nlocal = nlocal; /* what destroy frees */
    const int64_t d = cfg->d_model, f = cfg->d_ff;
    const size_t big = (size_t)((3 * d > f ? 3 * d : f) * d);
    float *full_buf = malloc(big * sizeof *full_buf), *slice_buf = malloc(big * sizeof *slice_buf);
    bool layers = e && e->rank;
    for (int r = 0; layers && r < nlocal; r++) {
        e->rank[r].ctx = ctxs[r];
        e->rank[r].layers = calloc((size_t)cfg->layers, sizeof *e->rank[r].layers);
        layers = e->rank[r].layers != NULL;
    }
    if (!layers || !full_buf || !slice_buf) {
        st = clf_fail(ctx0, CLF_E_OUT_OF_MEMORY, "no host memory for a tensor-parallel encoder");
        goto done;
    }
    e->comm = *comm;
    e->cfg = *cfg;
    e->n = n;
    e->base = base;
    e->comm_bytes = -1;
    e->has_norm = rd->has_norm;
    for (int64_t l = 0; st == CLF_OK && l < cfg->layers; l++)
        st = upload_layer(e, rd, l, full_buf, slice_buf);
    if (st == CLF_OK && e->has_norm)
        st = upload_norm(e, rd, full_buf);
done:
    free(full_buf);
    free(slice_buf);
    if (st != CLF_OK) {
        clf_encoder_tp_destroy(e);
        return st;
    }
    *out = e;
    return CLF_OK;
}

enum clf_status clf_check_comm(struct clf_ctx *ctx, const void *comm, bool fn, const char *what,
                               int rank, int size)
{
    if (!comm || !fn)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL communicator or %s", what);
    if (size < 1 || rank < 0 || rank >= size)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "rank %d of %d ranks: out of range", rank, size);
    return CLF_OK;
}

/* What the _rank functions check of comm (on ctx). */
static enum clf_status check_comm(struct clf_ctx *ctx, const struct clf_tp_comm *comm)
{
    return clf_check_comm(ctx, comm, comm && comm->allreduce, "all-reduce", comm ? comm->rank : 0,
                          comm ? comm->size : 0);
}

enum clf_status clf_encoder_tp_split(struct clf_group *grp, struct clf_ctx *ctx,
                                     const struct clf_tp_comm *comm,
                                     const struct clf_encoder_config *cfg,
                                     struct clf_weight_reader *rd, struct clf_encoder_tp **out)
{
    enum clf_status st = grp ? CLF_OK : check_comm(ctx, comm);
    if (!grp)
        return st == CLF_OK ? split_tp(&ctx, 1, comm->rank, comm->size, comm, cfg, rd, out) : st;
    const int n = clf_group_size(grp);
    const struct clf_tp_comm none = {0, n, NULL, NULL};
    struct clf_ctx **ctxs = malloc((size_t)n * sizeof *ctxs);
    if (!ctxs)
        return clf_fail(clf_group_ctx(grp, 0), CLF_E_OUT_OF_MEMORY,
                        "no host memory for a tensor-parallel encoder");
    for (int r = 0; r < n; r++)
        ctxs[r] = clf_group_ctx(grp, r);
    st = split_tp(ctxs, n, 0, n, &none, cfg, rd, out);
    free(ctxs);
    return st;
}

/* Every constructor: checks the arguments (the group's, or ctx and comm),
 * then splits full's weights when given, else those of cfg's file (path)
 * or seed, read on the host (no device holds the whole model). */
static enum clf_status make_tp(struct clf_group *grp, struct clf_ctx *ctx,
                               const struct clf_tp_comm *comm, const struct clf_encoder *full,
                               const struct clf_encoder_config *cfg, const char *path,
                               uint64_t seed, struct clf_encoder_tp **out)
{
    if (!out)
        return CLF_E_INVALID_ARG;
    *out = NULL;
    if (grp)
        ctx = clf_group_ctx(grp, 0);
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!full && !cfg)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL encoder or configuration");
    enum clf_status st = grp ? CLF_OK : check_comm(ctx, comm);
    /* the caller's configuration, read by the ABI rule (clformer/core.h) */
    struct clf_encoder_config c = clf_encoder_config_default();
    if (st == CLF_OK && !full) {
        st = clf_abi_import(ctx, "clf_encoder_config", cfg, &c, sizeof c);
        cfg = &c;
    }
    if (st == CLF_OK && !full) /* before a file is opened */
        st = check_tp_config(ctx, cfg, grp ? clf_group_size(grp) : comm->size,
                             grp ? "devices" : "ranks");
    if (st == CLF_OK && !full)
        st = clf_encoder_check_config(ctx, cfg);
    if (st == CLF_OK && full && full->modern)
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "tensor parallelism does not split ModernBERT's layers (rotary positions, "
                      "gated FFN): run them on one device or data-parallel");
    if (st == CLF_OK && full && full->rel_bias) /* its ranks would drop the bias */
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "tensor parallelism does not split MPNet's relative position bias: run it "
                      "on one device or data-parallel");
    struct clf_weight_reader rd = {0};
    if (st == CLF_OK && full)
        clf_encoder_reader((struct clf_encoder *)full, &rd); /* only read */
    else if (st == CLF_OK && path)
        st = clf_encoder_file_reader(ctx, cfg, path, &rd);
    else if (st == CLF_OK && clf_encoder_random_reader(cfg, seed, &rd) != CLF_OK)
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for random weights");
    if (st == CLF_OK)
        st = clf_encoder_tp_split(grp, ctx, comm, full ? &full->cfg : cfg, &rd, out);
    clf_weight_reader_close(&rd);
    return st;
}

enum clf_status clf_encoder_tp_create(struct clf_group *grp, const struct clf_encoder_config *cfg,
                                      const char *path, uint64_t seed, struct clf_encoder_tp **out)
{
    return make_tp(grp, NULL, NULL, NULL, cfg, path, seed, out);
}

enum clf_status clf_encoder_tp_create_from(struct clf_group *grp, const struct clf_encoder *full,
                                           struct clf_encoder_tp **out)
{
    if (out)
        *out = NULL;
    if (!full) /* not make_tp's "configuration" */
        return clf_group_ctx(grp, 0) ? clf_fail(clf_group_ctx(grp, 0), CLF_E_INVALID_ARG,
                                                "NULL encoder")
                                     : CLF_E_INVALID_ARG;
    return make_tp(grp, NULL, NULL, full, NULL, NULL, 0, out);
}

enum clf_status clf_encoder_tp_create_rank(struct clf_ctx *ctx,
                                           const struct clf_encoder_config *cfg,
                                           const char *path, uint64_t seed,
                                           const struct clf_tp_comm *comm,
                                           struct clf_encoder_tp **out)
{
    return make_tp(NULL, ctx, comm, NULL, cfg, path, seed, out);
}

enum clf_status clf_encoder_tp_create_rank_from(struct clf_ctx *ctx,
                                                const struct clf_encoder *full,
                                                const struct clf_tp_comm *comm,
                                                struct clf_encoder_tp **out)
{
    if (out)
        *out = NULL;
    if (!full)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL encoder") : CLF_E_INVALID_ARG;
    return make_tp(NULL, ctx, comm, full, NULL, NULL, 0, out);
}

/* ------------------------------------------------------------------------ */
/* Recording: one graph per rank and sub-layer, for one shape.               */
/* ------------------------------------------------------------------------ */

/* The LayerNorm sub-layer j starts with (gamma, beta; NULL: none). */
static void input_norm(const struct clf_encoder_tp *e, const struct tp_rank *k, int64_t j,
                       struct clf_tensor **w, struct clf_tensor **b)
{
    const int64_t l = j / 2, s = j % 2;
    const struct tp_layer *t = &k->layers[l];
    *w = *b = NULL;
    if (e->cfg.norm_first) {
        *w = s ? t->n2w : t->n1w;
        *b = s ? t->n2b : t->n1b;
    } else if (s) {
        *w = t->n1w, *b = t->n1b;
    } else if (l > 0) {
        *w = k->layers[l - 1].n2w, *b = k->layers[l - 1].n2b;
    }
}

/* Records local rank i's graph of sub-layer j on g; *part receives its
 * output. */
static enum clf_status record_sublayer(struct clf_encoder_tp *e, int i, int64_t j,
                                       struct clf_graph *g, struct clf_tensor **part)
{
    const struct clf_encoder_config *c = &e->cfg;
    struct tp_rank *k = &e->rank[i];
    const int r = e->base + i;
    const struct tp_layer *t = &k->layers[j / 2];
    const int64_t batch = e->batch, seq = e->seq, tokens = batch * seq;
    const int64_t d = c->d_model, hl = c->heads / e->n, hd = d / c->heads, dl = hl * hd;
    struct clf_tensor *nw, *nb, *h = k->in, *res;
    enum clf_status st = CLF_OK;
    input_norm(e, k, j, &nw, &nb);
    if (nw)
        st = clf_op_layernorm(g, k->in, nw, nb, c->eps, &h);
    res = c->norm_first ? k->in : h;

    /* the last GEMM: rank 0 adds the bias and the residual */
    struct clf_gemm_params last = clf_gemm_params_default();
    last.trans_b = true;
    if (r == 0) {
        last.bias = j % 2 ? t->b2 : t->out_b;
        last.c = res;
        last.beta = 1.0f;
    }
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_b = true;
    if (j % 2 == 0) {
        /* qkv [T, 3·dl]: q, k, v of local head i at columns i·hd, dl + i·hd, 2·dl + i·hd */
        struct clf_tensor *qkv = NULL, *q = NULL, *kk = NULL, *v = NULL, *attn = NULL,
                          *heads = NULL, *o = NULL;
        const int64_t w = 3 * dl, hs[4] = {batch, hl, seq, hd}, qs[4] = {seq * w, hd, w, 1};
        const int64_t ts[2] = {tokens, dl}, os[4] = {seq * dl, hd, dl, 1};
        p.bias = t->in_b;
        if (st == CLF_OK)
            st = clf_op_gemm(g, h, t->in_w, &p, &qkv);
        if (st == CLF_OK)
            st = clf_graph_view(g, qkv, 4, hs, qs, 0, &q);
        if (st == CLF_OK)
            st = clf_graph_view(g, qkv, 4, hs, qs, dl, &kk);
        if (st == CLF_OK)
            st = clf_graph_view(g, qkv, 4, hs, qs, 2 * dl, &v);
        /* the attention writes each head into its columns of attn [T, dl] */
        if (st == CLF_OK)
            st = clf_graph_new_output(g, CLF_F32, 2, ts, &attn);
        if (st == CLF_OK && (st = clf_graph_adopt(g, attn)) == CLF_OK)
            st = clf_graph_view(g, attn, 4, hs, os, 0, &heads);
        if (st == CLF_OK) {
            struct clf_attention_params ap = clf_attention_params_default();
            ap.key_padding = k->pad;
            ap.impl = c->attn_impl;
            ap.out = heads;
            st = clf_op_attention(g, q, kk, v, &ap, &o);
        }
        if (st == CLF_OK)
            st = clf_op_gemm(g, attn, t->out_w, &last, part);
    } else {
        struct clf_tensor *fh = NULL;
        p.bias = t->b1;
        p.act = c->act;
        if (st == CLF_OK)
            st = clf_op_gemm(g, h, t->w1, &p, &fh);
        if (st == CLF_OK)
            st = clf_op_gemm(g, fh, t->w2, &last, part);
    }
    return st;
}

/* Records every local rank's graphs (and rank[0]'s tail) for (batch, seq,
 * padded). */
static enum clf_status record(struct clf_encoder_tp *e, int64_t batch, int64_t seq, bool padded)
{
    drop_shape(e);
    const int64_t d = e->cfg.d_model, tokens = batch * seq, nj = 2 * e->cfg.layers;
    const int64_t ts[2] = {tokens, d}, ps[2] = {batch, seq};
    e->batch = batch, e->seq = seq, e->padded = padded;
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    enum clf_status st = CLF_OK;
    if (!e->comm.allreduce) {
        e->cur = malloc((size_t)(tokens * d) * sizeof *e->cur);
        if (!e->cur)
            st = clf_fail(ctx0, CLF_E_OUT_OF_MEMORY, "no host memory for the all-reduce");
    }
    for (int r = 0; st == CLF_OK && r < e->nlocal; r++) {
        struct tp_rank *k = &e->rank[r];
        k->graphs = calloc((size_t)nj, sizeof *k->graphs);
        k->part = calloc((size_t)nj, sizeof *k->part);
        k->host_part = malloc((size_t)(tokens * d) * sizeof *k->host_part);
        if (!k->graphs || !k->part || !k->host_part)
            st = clf_fail(ctx0, CLF_E_OUT_OF_MEMORY, "no host memory for the all-reduce");
        if (st == CLF_OK)
            st = clf_tensor_create(k->ctx, CLF_F32, 2, ts, &k->in);
        if (st == CLF_OK && padded)
            st = clf_tensor_create(k->ctx, CLF_I32, 2, ps, &k->pad);
        for (int64_t j = 0; st == CLF_OK && j < nj; j++) {
            st = clf_graph_create(k->ctx, &k->graphs[j]);
            if (st == CLF_OK)
                st = record_sublayer(e, r, j, k->graphs[j], &k->part[j]);
        }
        if (st != CLF_OK && r > 0)
            st = clf_fail(ctx0, st, "device %d of the group: %s", r, clf_ctx_last_error(k->ctx));
    }
    /* rank[0]'s tail: post-LN's closing LN2 of the last layer, the final norm */
    const struct tp_layer *last = &e->rank[0].layers[e->cfg.layers - 1];
    if (st == CLF_OK && (!e->cfg.norm_first || e->has_norm)) {
        struct clf_tensor *y = e->rank[0].in;
        st = clf_graph_create(ctx0, &e->tail);
        if (st == CLF_OK && !e->cfg.norm_first)
            st = clf_op_layernorm(e->tail, y, last->n2w, last->n2b, e->cfg.eps, &y);
        if (st == CLF_OK && e->has_norm)
            st = clf_op_layernorm(e->tail, y, e->rank[0].norm_w, e->rank[0].norm_b, e->cfg.eps,
                                  &y);
        e->tail_out = y;
    }
    if (st != CLF_OK) {
        drop_shape(e);
        return st;
    }
    e->recorded = true;
    return CLF_OK;
}

/* ------------------------------------------------------------------------ */
/* The forward pass: one thread per rank, two barriers per sub-layer.        */
/* ------------------------------------------------------------------------ */

struct tp_run {
    struct clf_encoder_tp *e;
    const float *x;
    const int32_t *pad;
    pthread_barrier_t barrier;
    /* the gate: the ranks' threads start work once every one of them
     * exists (go = 1), or return (go = −1) when one could not be made */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go;
};

struct tp_worker {
    struct tp_run *run;
    int r;
};

/* Where the latest all-reduced sum [T·d] is: the group's buffer, or one
 * rank's own partial, summed in place by the caller's all-reduce. */
static float *sum_buf(struct clf_encoder_tp *e)
{
    return e->comm.allreduce ? e->rank[0].host_part : e->cur;
}

/* The group's all-reduce of sub-layer j, local rank i's share: the sum of
 * its block of rows, between two barriers. false when a rank failed. */
static bool group_allreduce(struct tp_run *run, int i)
{
    struct clf_encoder_tp *e = run->e;
    const int64_t d = e->cfg.d_model, tokens = e->batch * e->seq;
    const int64_t i0 = tokens * i / e->n * d, i1 = tokens * (i + 1) / e->n * d;
    pthread_barrier_wait(&run->barrier);
    /* every status is visible after the barrier, and none changes before
     * the next one: every rank stops at the same j */
    bool ok = true;
    for (int r = 0; r < e->n; r++)
        ok = ok && e->rank[r].st == CLF_OK;
    if (ok)
        for (int64_t x = i0; x < i1; x++) {
            float s = e->rank[0].host_part[x];
            for (int r = 1; r < e->n; r++)
                s += e->rank[r].host_part[x];
            e->cur[x] = s;
        }
    pthread_barrier_wait(&run->barrier);
    return ok;
}

/* Local rank i's forward: per sub-layer, its device part then the
 * all-reduce (the group's, or the caller's for one rank). */
static void run_rank(struct tp_run *run, int i)
{
    struct clf_encoder_tp *e = run->e;
    struct tp_rank *k = &e->rank[i];
    const int64_t d = e->cfg.d_model, tokens = e->batch * e->seq, nj = 2 * e->cfg.layers;
    const size_t count = (size_t)(tokens * d), bytes = count * sizeof(float);
    const float *sum = sum_buf(e);
    k->bytes = 0;
    k->st = CLF_OK;
    if (k->pad)
        k->st = clf_tensor_write(k->pad, run->pad, (size_t)tokens * sizeof(int32_t));
    for (int64_t j = 0; j < nj; j++) {
        /* the device's part: input in, graph, partial out */
        if (k->st == CLF_OK)
            k->st = clf_tensor_write(k->in, j ? sum : run->x, bytes);
        if (k->st == CLF_OK)
            k->st = clf_graph_run(k->graphs[j]);
        if (k->st == CLF_OK)
            k->st = clf_tensor_read(k->part[j], k->host_part, bytes);
        if (k->st == CLF_OK)
            k->bytes += 2.0 * (double)bytes;
        if (!e->comm.allreduce) {
            if (!group_allreduce(run, i))
                break;
            continue;
        }
        const bool ok = k->st == CLF_OK;
        if (!e->comm.allreduce(e->comm.user, k->host_part, count, ok)) {
            if (ok)
                k->st = clf_fail(k->ctx, CLF_E_COMM,
                                 "rank %d: the all-reduce after layer %lld's %s failed (another "
                                 "rank's failure, or the exchange's)",
                                 e->base, (long long)(j / 2), j % 2 ? "feed-forward" : "attention");
            break;
        }
        if (!ok) /* the all-reduce succeeded although this rank had failed */
            break;
    }
}

static void *rank_main(void *arg)
{
    const struct tp_worker *w = arg;
    pthread_mutex_lock(&w->run->lock);
    while (!w->run->go)
        pthread_cond_wait(&w->run->cond, &w->run->lock);
    const int go = w->run->go;
    pthread_mutex_unlock(&w->run->lock);
    if (go > 0)
        run_rank(w->run, w->r);
    return NULL;
}

/* Runs every local rank of a group at once, one thread each (rank 0 in
 * this one). */
static enum clf_status run_group(struct tp_run *run)
{
    struct clf_encoder_tp *e = run->e;
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    enum clf_status st = CLF_OK;
    struct tp_worker *w = calloc((size_t)e->n, sizeof *w);
    pthread_t *th = calloc((size_t)e->n, sizeof *th);
    bool sync = false;
    if (w && th && pthread_barrier_init(&run->barrier, NULL, (unsigned)e->n) == 0) {
        if (pthread_mutex_init(&run->lock, NULL) == 0) {
            if (pthread_cond_init(&run->cond, NULL) == 0)
                sync = true;
            else
                pthread_mutex_destroy(&run->lock);
        }
        if (!sync)
            pthread_barrier_destroy(&run->barrier);
    }
    if (!sync) {
        free(w);
        free(th);
        return clf_fail(ctx0, CLF_E_OUT_OF_MEMORY, "cannot synchronise the ranks' threads");
    }
    /* rank 0 runs in this thread, rank r > 0 in th[r] */
    int started = 1;
    for (int r = 0; r < e->n; r++)
        w[r] = (struct tp_worker){run, r};
    for (; started < e->n; started++)
        if (pthread_create(&th[started], NULL, rank_main, &w[started]) != 0)
            break;
    pthread_mutex_lock(&run->lock);
    run->go = started == e->n ? 1 : -1;
    pthread_cond_broadcast(&run->cond);
    pthread_mutex_unlock(&run->lock);
    if (started == e->n)
        rank_main(&w[0]);
    else
        st = clf_fail(ctx0, CLF_E_OUT_OF_MEMORY, "cannot start a thread per device");
    for (int r = 1; r < started; r++)
        pthread_join(th[r], NULL);
    pthread_cond_destroy(&run->cond);
    pthread_mutex_destroy(&run->lock);
    pthread_barrier_destroy(&run->barrier);
    free(w);
    free(th);
    return st;
}

/* Checks the arguments and records the graphs for this shape if needed. */
static enum clf_status prepare(struct clf_encoder_tp *e, const float *x, int64_t batch,
                               int64_t seq, const int32_t *key_padding, const float *y)
{
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    if (!x || !y)
        return clf_fail(ctx0, CLF_E_INVALID_ARG, "NULL input or output of the encoder");
    if (batch < 1 || seq < 1 || batch > (1 << 20) || seq > (1 << 20) ||
        batch * seq > (INT64_C(1) << 40) / e->cfg.d_model)
        return clf_fail(ctx0, CLF_E_SHAPE, "encoder input [%lld, %lld, %lld] out of range",
                        (long long)batch, (long long)seq, (long long)e->cfg.d_model);
    const bool padded = key_padding != NULL;
    if (!e->recorded || e->batch != batch || e->seq != seq || e->padded != padded)
        return record(e, batch, seq, padded);
    return CLF_OK;
}

enum clf_status clf_encoder_tp_forward(struct clf_encoder_tp *e, const float *x, int64_t batch,
                                       int64_t seq, const int32_t *key_padding, float *y)
{
    if (!e)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx0 = e->rank[0].ctx;
    e->comm_bytes = -1;
    enum clf_status st = prepare(e, x, batch, seq, key_padding, y);
    if (st != CLF_OK) {
        /* the other ranks are, or will be, in the first all-reduce */
        if (e->comm.allreduce)
            e->comm.allreduce(e->comm.user, NULL, 0, false);
        return st;
    }
    struct tp_run run;
    memset(&run, 0, sizeof run);
    run.e = e, run.x = x, run.pad = key_padding;
    if (e->comm.allreduce)
        run_rank(&run, 0);
    else if ((st = run_group(&run)) != CLF_OK)
        return st;
    for (int r = 0; r < e->nlocal; r++)
        if (e->rank[r].st != CLF_OK)
            return r ? clf_fail(ctx0, e->rank[r].st, "device %d of the group: %s", r,
                                clf_ctx_last_error(e->rank[r].ctx))
                     : e->rank[r].st;
    const size_t bytes = (size_t)(batch * seq * e->cfg.d_model) * sizeof(float);
    if (e->tail) {
        st = clf_tensor_write(e->rank[0].in, sum_buf(e), bytes);
        if (st == CLF_OK)
            st = clf_graph_run(e->tail);
        if (st == CLF_OK)
            st = clf_tensor_read(e->tail_out, y, bytes);
    } else {
        memcpy(y, sum_buf(e), bytes);
    }
    double most = 0;
    for (int r = 0; r < e->nlocal; r++)
        most = e->rank[r].bytes > most ? e->rank[r].bytes : most;
    e->comm_bytes = st == CLF_OK ? most / (double)e->cfg.layers : -1;
    return st;
}

enum clf_status clf_encoder_tp_comm_bytes(const struct clf_encoder_tp *e, double *bytes_per_layer)
{
    if (!e || !bytes_per_layer)
        return CLF_E_INVALID_ARG;
    if (e->comm_bytes < 0)
        return clf_fail(e->rank[0].ctx, CLF_E_STATE, "no tensor-parallel forward has run yet");
    *bytes_per_layer = e->comm_bytes;
    return CLF_OK;
}
