/*
 * The encoder stack: the seed's ParallelTransformer layer (§5), i.e.
 * PyTorch's nn.TransformerEncoderLayer at inference (dropout = identity):
 *   post-LN:  x = LN1(x + MHA(x));      x = LN2(x + FFN(x))
 *   pre-LN:   x = x + MHA(LN1(x));      x = x + FFN(LN2(x))
 *   MHA(x)  = concat_h(attention(x Wq_hᵀ + bq_h, x Wk_hᵀ + bk_h, x Wv_hᵀ + bv_h)) Woᵀ + bo
 *   FFN(x)  = act(x W1ᵀ + b1) W2ᵀ + b2
 * with one fused QKV projection (in_proj_weight [3d, d]), heads addressed
 * by strides in the [tokens, 3d] projection (no transposing copies), and
 * the attention writing straight into the [tokens, d] layout the output
 * projection reads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"
#include "../ops/attention.h"
#include "../ops/attention_variant.h"
#include "../ops/quant.h"
#include "encoder_internal.h"
#include "../ops/tt.h"
#include "ffn_factor.h"
#include "qk_lowrank.h"
#include "../runtime/abi.h"

const struct weight_desc clf_encoder_weight_table[] = {
    {"self_attn.in_proj_weight", offsetof(struct layer, in_w), '3', 'd'},
    {"self_attn.in_proj_bias", offsetof(struct layer, in_b), '3', 0},
    {"self_attn.out_proj.weight", offsetof(struct layer, out_w), 'd', 'd'},
    {"self_attn.out_proj.bias", offsetof(struct layer, out_b), 'd', 0},
    {"linear1.weight", offsetof(struct layer, w1), 'f', 'd'},
    {"linear1.bias", offsetof(struct layer, b1), 'f', 0},
    {"linear2.weight", offsetof(struct layer, w2), 'd', 'f'},
    {"linear2.bias", offsetof(struct layer, b2), 'd', 0},
    {"norm1.weight", offsetof(struct layer, n1w), 'd', 0},
    {"norm1.bias", offsetof(struct layer, n1b), 'd', 0},
    {"norm2.weight", offsetof(struct layer, n2w), 'd', 0},
    {"norm2.bias", offsetof(struct layer, n2b), 'd', 0},
};
_Static_assert(sizeof clf_encoder_weight_table / sizeof clf_encoder_weight_table[0] == N_WEIGHTS,
               "N_WEIGHTS counts the table");

struct clf_tensor **clf_encoder_slot(struct layer *l, const struct weight_desc *w)
{
    return (struct clf_tensor **)((char *)l + w->offset);
}

int64_t clf_encoder_dim(const struct clf_encoder_config *c, char unit)
{
    return unit == 'd' ? c->d_model : unit == 'f' ? c->d_ff : unit == '3' ? 3 * c->d_model : 0;
}

int clf_encoder_weight_shape(const struct clf_encoder_config *c, const struct weight_desc *w,
                             int64_t shape[2])
{
    shape[0] = clf_encoder_dim(c, w->rows);
    shape[1] = clf_encoder_dim(c, w->cols);
    return w->cols ? 2 : 1;
}

void clf_encoder_config_init(struct clf_encoder_config *out, size_t size)
{
    struct clf_encoder_config c;
    memset(&c, 0, sizeof c);
    c.d_model = 512;
    c.heads = 8;
    c.d_ff = 2048;
    c.layers = 6;
    c.act = CLF_ACT_RELU;
    c.eps = 1e-5f;
    c.norm_first = false;
    c.attn_impl = CLF_ATTN_AUTO;
    c.attn_p_bits = 4;
    c.attn_q_int8 = false;
    c.size = sizeof c;
    clf_abi_fill(out, size, &c, sizeof c);
}

enum clf_status clf_encoder_check_config(struct clf_ctx *ctx, const struct clf_encoder_config *c)
{
    if (!c)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL encoder configuration");
    if (c->d_model < 1 || c->heads < 1 || c->d_ff < 1 || c->layers < 1 ||
        c->d_model > (1 << 20) || c->d_ff > (1 << 22) || c->layers > 1024)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "encoder sizes out of range (d_model %lld, heads %lld, d_ff %lld, "
                        "layers %lld)",
                        (long long)c->d_model, (long long)c->heads, (long long)c->d_ff,
                        (long long)c->layers);
    if (c->d_model % c->heads)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "heads (%lld) must divide d_model (%lld)",
                        (long long)c->heads, (long long)c->d_model);
    if (c->d_model / c->heads > 256)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "head_dim %lld is above 256",
                        (long long)(c->d_model / c->heads));
    if (c->act != CLF_ACT_RELU && c->act != CLF_ACT_GELU && c->act != CLF_ACT_GELU_TANH)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "encoder activation must be ReLU or GELU");
    if (!(c->eps > 0) || isinf(c->eps))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "LayerNorm eps must be positive and finite");
    if ((unsigned)c->attn_impl > CLF_ATTN_GEMM)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown attention implementation %d",
                        (int)c->attn_impl);
    if ((unsigned)c->kv > CLF_KV_INT8_CHANNEL || (unsigned)c->attn_p > CLF_P_LOG)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown K/V or attention-weight format");
    if (c->attn_p == CLF_P_LOG && (c->attn_p_bits < 2 || c->attn_p_bits > 8))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "log-quantised attention weights need 2..8 bits, "
                                                "got %d", c->attn_p_bits);
    if (c->attn_q_int8 && c->kv == CLF_KV_F32)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "int8 queries (attn_q_int8) need int8 K and V");
    if ((c->kv != CLF_KV_F32 || c->attn_p != CLF_P_F32) && c->attn.sparsity != CLF_ATTN_EXACT)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "quantised K/V or attention weights need exact attention (the sparse "
                        "and low-rank variants run their own kernels)");
    if (clf_ffn_factor_check(ctx, &c->ffn) != CLF_OK)
        return CLF_E_INVALID_ARG;
    if ((unsigned)c->ffn_act.kind > CLF_ACTQ_LSQ)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown FFN activation quantiser %d",
                        (int)c->ffn_act.kind);
    if ((unsigned)c->precision > CLF_PRECISION_BF16)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown weight precision %d", (int)c->precision);
    if (c->precision != CLF_PRECISION_F32 && c->linear_int8)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s weights and int8 linear layers exclude each "
                        "other", clf_precision_str(c->precision));
    if (c->precision != CLF_PRECISION_F32 && ctx->info.type != CLF_DEVICE_CPU)
        return clf_fail(ctx, CLF_E_UNSUPPORTED, "%s weights run on CPU devices only",
                        clf_precision_str(c->precision));
    return clf_attention_variant_check(ctx, &c->attn);
}

void clf_encoder_destroy(struct clf_encoder *enc)
{
    if (!enc)
        return;
    for (int64_t i = 0; enc->layers && i < enc->cfg.layers; i++)
    {
        for (size_t w = 0; w < N_WEIGHTS; w++)
            clf_tensor_destroy(*clf_encoder_slot(&enc->layers[i], &clf_encoder_weight_table[w]));
        struct clf_tensor **extra[] = EXTRA_TENSORS(&enc->layers[i]);
        for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
            clf_tensor_destroy(*extra[k]);
        clf_tt_free(&enc->layers[i].tt1);
        clf_tt_free(&enc->layers[i].tt2);
        clf_tt_weights_free(enc->layers[i].tt1_w);
        clf_tt_weights_free(enc->layers[i].tt2_w);
    }
    free(enc->layers);
    clf_tensor_destroy(enc->norm_w);
    clf_tensor_destroy(enc->norm_b);
    clf_tensor_destroy(enc->rel_bias);
    if (enc->modern) {
        free(enc->modern->rope);
        free(enc->modern->window);
        free(enc->modern);
    }
    free(enc);
}

enum clf_status clf_encoder_set_rel_bias(struct clf_encoder *enc, struct clf_tensor *table,
                                         int64_t max_len)
{
    if (!enc || !table || max_len < 1 || table->ndim != 2 ||
        table->shape[0] != enc->cfg.heads || table->shape[1] != 2 * max_len - 1) {
        clf_tensor_destroy(table);
        return enc ? clf_fail(enc->ctx, CLF_E_INVALID_ARG,
                              "encoder: a relative position bias must be [heads, 2 max_len - 1]")
                   : CLF_E_INVALID_ARG;
    }
    clf_tensor_destroy(enc->rel_bias);
    enc->rel_bias = table;
    enc->rel_max = max_len;
    return CLF_OK;
}

enum clf_status clf_encoder_set_modern(struct clf_encoder *enc, int64_t max_len,
                                       const double *theta, const int64_t *window)
{
    const struct clf_encoder_config *c = &enc->cfg;
    const char *what = c->attn.sparsity != CLF_ATTN_EXACT            ? "an approximate attention"
                       : c->kv != CLF_KV_F32 || c->attn_p != CLF_P_F32 ? "a quantised attention"
                       : c->linear_int8                               ? "int8 linear layers"
                       : c->ffn.format != CLF_FFN_DENSE               ? "a factored FFN"
                       : c->ffn_act.kind != CLF_ACTQ_NONE ? "an FFN activation quantiser"
                                                          : NULL;
    if (what)
        return clf_fail(enc->ctx, CLF_E_UNSUPPORTED,
                        "ModernBERT's layers (rotary positions, gated FFN) do not take %s",
                        what);
    if (!c->norm_first)
        return clf_fail(enc->ctx, CLF_E_STATE, "ModernBERT's layers are pre-LN");
    struct clf_encoder_modern *m = calloc(1, sizeof *m);
    if (m) {
        m->rope = calloc((size_t)c->layers, sizeof *m->rope);
        m->window = calloc((size_t)c->layers, sizeof *m->window);
    }
    enum clf_status st = m && m->rope && m->window
                             ? CLF_OK
                             : clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY,
                                        "no host memory for ModernBERT's layers");
    for (int64_t i = 0; st == CLF_OK && i < c->layers; i++) {
        m->window[i] = window[i] > 0 ? window[i] : 0;
        st = clf_rope_table(enc->ctx, max_len, c->d_model / c->heads, theta[i], &m->rope[i]);
    }
    if (st == CLF_OK) {
        enc->modern = m;
        return CLF_OK;
    }
    if (m) {
        free(m->rope);
        free(m->window);
    }
    free(m);
    return st;
}

/* Checks the arguments every constructor takes and allocates the encoder
 * into *enc; *out (the caller's pointer) is cleared first. */
enum clf_status clf_encoder_new(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                struct clf_encoder **out, struct clf_encoder **enc_out)
{
    *enc_out = NULL;
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    /* the caller's configuration, read by the ABI rule (clformer/core.h) */
    struct clf_encoder_config c = clf_encoder_config_default();
    enum clf_status st = cfg ? clf_abi_import(ctx, "clf_encoder_config", cfg, &c, sizeof c)
                             : clf_encoder_check_config(ctx, NULL);
    if (st == CLF_OK)
        st = clf_encoder_check_config(ctx, &c);
    if (st != CLF_OK)
        return st;
    cfg = &c;
    struct clf_encoder *enc = calloc(1, sizeof *enc);
    if (enc)
        enc->layers = calloc((size_t)cfg->layers, sizeof *enc->layers);
    if (!enc || !enc->layers) {
        free(enc);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for an encoder");
    }
    enc->ctx = ctx;
    enc->cfg = *cfg;
    for (int64_t i = 0; i < cfg->layers; i++) {
        enc->layers[i].actq = cfg->ffn_act;
        /* stays NaN for factors a file gives; prepared ones set it */
        enc->layers[i].ffn_error[0] = enc->layers[i].ffn_error[1] =
            cfg->ffn.format == CLF_FFN_DENSE ? 0.0 : NAN;
    }
    *enc_out = enc;
    return CLF_OK;
}

/* splitmix64: the state advances by SPLITMIX_STEP per draw, so a stream
 * can start at any draw k (state seed + k·SPLITMIX_STEP). */
#define SPLITMIX_STEP 0x9e3779b97f4a7c15ull

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += SPLITMIX_STEP);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double uniform(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * 0x1.0p-52 - 1.0;
}

/* Element count of weight w of a layer. */
static size_t weight_count(const struct clf_encoder_config *cfg, size_t w)
{
    int64_t shape[2];
    int nd = clf_encoder_weight_shape(cfg, &clf_encoder_weight_table[w], shape);
    return (size_t)(shape[0] * (nd == 2 ? shape[1] : 1));
}

/* The random weights are one splitmix64 stream drawn in (layer, table)
 * order: weight w of layer l starts after the draws of every weight before
 * it. Matrices uniform in ±1/sqrt(fan_in), biases ±0.1/sqrt(fan_in) (their
 * matrix's fan_in), LayerNorm gammas 1 ± 0.1 and betas ± 0.1. */
void clf_encoder_random_weight(const struct clf_encoder_config *cfg, uint64_t seed, int64_t layer,
                               size_t w, float *host)
{
    uint64_t before = 0, per_layer = 0;
    for (size_t k = 0; k < N_WEIGHTS; k++) {
        per_layer += weight_count(cfg, k);
        before += k < w ? weight_count(cfg, k) : 0;
    }
    uint64_t state = seed + ((uint64_t)layer * per_layer + before) * SPLITMIX_STEP;
    const struct weight_desc *wd = &clf_encoder_weight_table[w];
    const size_t n = weight_count(cfg, w);
    bool norm = !strncmp(wd->name, "norm", 4), is_gamma = norm && strstr(wd->name, "weight");
    /* fan_in: the matrix's columns; a bias uses its matrix's */
    double fan_in = (double)clf_encoder_dim(cfg, wd->cols ? wd->cols
                                                          : clf_encoder_weight_table[w - 1].cols);
    double a = norm ? 0.1 : wd->cols ? 1.0 / sqrt(fan_in) : 0.1 / sqrt(fan_in);
    for (size_t e = 0; e < n; e++)
        host[e] = (float)((is_gamma ? 1.0 : 0.0) + a * uniform(&state));
}

/* Random weight w of layer i drawn straight into its device tensor. */
struct random_fill {
    const struct clf_encoder_config *cfg;
    uint64_t seed;
    int64_t layer;
    size_t w;
};

static enum clf_status fill_random(void *user, void *dst, size_t bytes)
{
    const struct random_fill *f = user;
    (void)bytes; /* the tensor was made with the weight's shape */
    clf_encoder_random_weight(f->cfg, f->seed, f->layer, f->w, dst);
    return CLF_OK;
}

enum clf_status clf_encoder_create_random(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                          uint64_t seed, struct clf_encoder **out)
{
    struct clf_encoder *enc = NULL;
    enum clf_status st = clf_encoder_new(ctx, cfg, out, &enc);
    if (st != CLF_OK)
        return st;
    cfg = &enc->cfg; /* the caller's, as clf_encoder_new read it */
    for (int64_t i = 0; st == CLF_OK && i < cfg->layers; i++) {
        for (size_t w = 0; st == CLF_OK && w < N_WEIGHTS; w++) {
            const struct weight_desc *wd = &clf_encoder_weight_table[w];
            int64_t shape[2];
            int nd = clf_encoder_weight_shape(cfg, wd, shape);
            struct random_fill f = {cfg, seed, i, w};
            st = clf_encoder_upload_fill(ctx, nd, shape, fill_random, &f,
                                         clf_encoder_slot(&enc->layers[i], wd));
        }
    }
    if (st == CLF_OK)
        st = clf_encoder_prepare(enc);
    if (st != CLF_OK) {
        clf_encoder_destroy(enc);
        return st;
    }
    *out = enc;
    return CLF_OK;
}

enum clf_status clf_encoder_ffn_stats(const struct clf_encoder *enc, int layer,
                                      struct clf_ffn_stats *out)
{
    if (!enc || !out)
        return CLF_E_INVALID_ARG;
    if (layer < 0 || layer >= enc->cfg.layers)
        return clf_fail(enc->ctx, CLF_E_INVALID_ARG, "no layer %d (the encoder has %lld)", layer,
                        (long long)enc->cfg.layers);
    const struct layer *l = &enc->layers[layer];
    const int64_t d = enc->cfg.d_model, f = enc->cfg.d_ff;
    memset(out, 0, sizeof *out);
    out->dense_params = 2 * d * f;
    out->dense_flops_per_token = 4.0 * (double)(d * f);
    out->params = out->dense_params;
    out->flops_per_token = out->dense_flops_per_token;
    const struct clf_tt *tts[2] = {&l->tt1, &l->tt2};
    struct clf_tensor *lefts[2] = {l->w1_l, l->w2_l};
    if (tts[0]->d || lefts[0]) {
        out->params = 0;
        out->flops_per_token = 0;
    }
    for (int k = 0; k < 2; k++) {
        out->rel_error[k] = l->ffn_error[k];
        if (tts[k]->d) {
            out->params += clf_tt_params(tts[k]);
            out->flops_per_token += clf_tt_flops_per_token(tts[k]);
            for (int j = 1; j < tts[k]->d; j++)
                out->rank[k] = tts[k]->r[j] > out->rank[k] ? tts[k]->r[j] : out->rank[k];
        } else if (lefts[k]) {
            const int64_t r = clf_tensor_dim(lefts[k], 1);
            out->rank[k] = r;
            out->params += r * (d + f);
            out->flops_per_token += 2.0 * (double)(r * (d + f));
        }
    }
    return CLF_OK;
}

void clf_encoder_config_of(const struct clf_encoder *enc, struct clf_encoder_config *p,
                           size_t size)
{
    if (enc)
        clf_abi_fill(p, size, &enc->cfg, sizeof enc->cfg);
    else
        clf_encoder_config_init(p, size);
}

enum clf_status clf_encoder_read_weight(struct clf_encoder *enc, int layer, const char *name,
                                        float *dst, size_t count)
{
    if (!enc)
        return CLF_E_INVALID_ARG;
    if (!name || !dst)
        return clf_fail(enc->ctx, CLF_E_INVALID_ARG, "NULL name or destination");
    struct clf_tensor *t = NULL;
    if (layer == -1) {
        t = !strcmp(name, "norm.weight") ? enc->norm_w : !strcmp(name, "norm.bias") ? enc->norm_b
                                                                                    : NULL;
    } else if (layer >= 0 && layer < enc->cfg.layers) {
        for (size_t w = 0; w < N_WEIGHTS; w++)
            if (!strcmp(name, clf_encoder_weight_table[w].name))
                t = *clf_encoder_slot(&enc->layers[layer], &clf_encoder_weight_table[w]);
    } else {
        return clf_fail(enc->ctx, CLF_E_INVALID_ARG, "no layer %d (the encoder has %lld)", layer,
                        (long long)enc->cfg.layers);
    }
    bool known = false;
    for (size_t w = 0; layer >= 0 && w < N_WEIGHTS; w++)
        known = known || !strcmp(name, clf_encoder_weight_table[w].name);
    if (!t && known && enc->cfg.drop_dense)
        return clf_fail(enc->ctx, CLF_E_STATE,
                        "'%s' was dropped after preparation (drop_dense): its prepared form "
                        "replaces it",
                        name);
    if (!t)
        return clf_fail(enc->ctx, CLF_E_FORMAT, "the encoder has no weight '%s'%s", name,
                        layer == -1 ? " (no final norm)" : "");
    return clf_tensor_read(t, dst, count * sizeof *dst);
}

/* ------------------------------------------------------------------------ */
/* Weight readers (encoder_internal.h): an encoder's, random ones           */
/* ------------------------------------------------------------------------ */

static enum clf_status read_encoder(void *self, int layer, const char *name, float *dst,
                                    size_t count)
{
    return clf_encoder_read_weight(self, layer, name, dst, count);
}

void clf_encoder_reader(struct clf_encoder *enc, struct clf_weight_reader *r)
{
    *r = (struct clf_weight_reader){read_encoder, NULL, enc, enc->norm_w != NULL};
}

/* The random reader's state: the configuration and the seed. */
struct random_src {
    struct clf_encoder_config cfg;
    uint64_t seed;
};

static enum clf_status read_random(void *self, int layer, const char *name, float *dst,
                                   size_t count)
{
    const struct random_src *s = self;
    for (size_t w = 0; layer >= 0 && layer < s->cfg.layers && w < N_WEIGHTS; w++)
        if (!strcmp(name, clf_encoder_weight_table[w].name) && count == weight_count(&s->cfg, w)) {
            clf_encoder_random_weight(&s->cfg, s->seed, layer, w, dst);
            return CLF_OK;
        }
    return CLF_E_INVALID_ARG; /* a caller's bug: the readers' users ask for table names */
}

enum clf_status clf_encoder_random_reader(const struct clf_encoder_config *cfg, uint64_t seed,
                                          struct clf_weight_reader *r)
{
    struct random_src *s = malloc(sizeof *s);
    if (!s)
        return CLF_E_OUT_OF_MEMORY;
    s->cfg = *cfg;
    s->seed = seed;
    *r = (struct clf_weight_reader){read_random, free, s, false};
    return CLF_OK;
}

void clf_weight_reader_close(struct clf_weight_reader *r)
{
    if (r && r->close)
        r->close(r->self);
    if (r)
        memset(r, 0, sizeof *r);
}

/* A linear layer's weights: f32 W [out, in] and, with linear_int8, its
 * codes and per-output-channel scales, or SVD factors W ≈ left·right. */
struct lin {
    struct clf_tensor *w, *b, *wq, *ws, *left, *right;
    const struct clf_tt_weights *tt;
};

/* y = x Wᵀ + b (act) (+ c) for x [tokens, in], W [out, in]. f32: one GEMM
 * with the bias and activation fused, accumulating into c (may be NULL)
 * in place. int8 (wq set): x quantised per token, clf_op_gemm_q8, then c
 * added (a new tensor). */
static enum clf_status linear(struct clf_graph *g, struct clf_tensor *x, const struct lin *w,
                              enum clf_precision prec, enum clf_act act, struct clf_tensor *c,
                              struct clf_tensor **y)
{
    if (w->wq) {
        struct clf_quant_params qp = clf_quant_params_default(); /* symmetric, per row, 8 bits */
        struct clf_gemm_q8_params p = clf_gemm_q8_params_default();
        struct clf_tensor *xq = NULL, *xs = NULL, *xz = NULL, *t = NULL;
        p.bias = w->b;
        p.act = act;
        enum clf_status st = clf_op_quantize(g, x, &qp, &xq, &xs, &xz);
        if (st == CLF_OK)
            st = clf_op_gemm_q8(g, xq, xs, w->wq, w->ws, &p, c ? &t : y);
        if (st == CLF_OK && c)
            st = clf_op_add(g, c, t, y);
        return st;
    }
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_b = true;
    p.bias = w->b;
    p.act = act;
    p.c = c;
    p.beta = c ? 1.0f : 0.0f;
    p.b_precision = prec;
    if (w->tt) { /* core by core, then c added */
        struct clf_tensor *t = NULL;
        enum clf_status st = clf_op_tt_linear(g, x, w->tt, w->b, act, c ? &t : y);
        return st == CLF_OK && c ? clf_op_add(g, c, t, y) : st;
    }
    if (w->left) { /* x·Rᵀ [tokens, r], then ·Lᵀ with the bias and activation */
        struct clf_gemm_params p1 = clf_gemm_params_default();
        struct clf_tensor *t = NULL;
        p1.trans_b = true;
        p1.b_precision = prec;
        enum clf_status st = clf_op_gemm(g, x, w->right, &p1, &t);
        return st == CLF_OK ? clf_op_gemm(g, t, w->left, &p, y) : st;
    }
    return clf_op_gemm(g, x, w->w, &p, y);
}

/* Quantised attention (cfg.kv, cfg.attn_p): K and V of qkv [tokens, w]
 * (k at column koff, v at voff, head j at j·hd) to int8 as cfg.kv says,
 * then clf_op_attention_quant; *o receives [batch, heads, seq, hd]. */
static enum clf_status attention_quant(struct clf_encoder *enc, struct clf_graph *g,
                                       struct clf_tensor *q, struct clf_tensor *k,
                                       struct clf_tensor *v, struct clf_tensor *qkv,
                                       int64_t koff, int64_t voff, int64_t batch, int64_t seq,
                                       struct clf_tensor *key_padding, struct clf_tensor **o)
{
    const struct clf_encoder_config *c = &enc->cfg;
    const int64_t d = c->d_model, h = c->heads, hd = d / h, w = qkv->strides[0];
    struct clf_attention_quant_params ap = clf_attention_quant_params_default();
    ap.key_padding = key_padding;
    ap.p_format = c->attn_p;
    ap.p_bits = c->attn_p_bits;
    ap.q_int8 = c->attn_q_int8;
    struct clf_tensor *kv[2] = {k, v}, *codes[2] = {NULL, NULL}, *scales[2] = {NULL, NULL};
    enum clf_status st = CLF_OK;
    for (int i = 0; st == CLF_OK && c->kv != CLF_KV_F32 && i < 2; i++) {
        struct clf_quant_params qp = clf_quant_params_default();
        struct clf_tensor *src = kv[i], *cq = NULL, *cs = NULL, *cz = NULL;
        const int64_t hs[4] = {batch, h, seq, hd};
        if (c->kv == CLF_KV_INT8_TOKEN) {
            /* rows of [batch, heads, seq, hd]: scales [batch·heads·seq] */
            const int64_t ss[3] = {batch, h, seq}, sst[3] = {h * seq, seq, 1};
            st = clf_op_quantize(g, src, &qp, &codes[i], &cs, &cz);
            if (st == CLF_OK)
                st = clf_graph_view(g, cs, 3, ss, sst, 0, &scales[i]);
            ap.kv_axis = CLF_QUANT_ROW;
        } else {
            /* per sequence and channel: one scale per (sequence, column)
             * of [batch, seq, d] over the sequence's unpadded tokens, so
             * that neither its batch-mates nor its padding (whose length
             * depends on the batch's longest text) reach it; codes [batch,
             * seq, d] read as [batch, heads, seq, hd], scales [batch, d] as
             * [batch, heads, hd] */
            const int64_t ts[3] = {batch, seq, d}, tst[3] = {seq * w, w, 1};
            const int64_t cst[4] = {seq * d, hd, d, 1};
            const int64_t ss[3] = {batch, h, hd}, sst[3] = {d, hd, 1};
            st = clf_graph_view(g, qkv, 3, ts, tst, i ? voff : koff, &src);
            if (st == CLF_OK)
                st = clf_quantize_seq_columns(g, src, key_padding, &cq, &cs);
            if (st == CLF_OK)
                st = clf_graph_view(g, cq, 4, hs, cst, 0, &codes[i]);
            if (st == CLF_OK)
                st = clf_graph_view(g, cs, 3, ss, sst, 0, &scales[i]);
            ap.kv_axis = CLF_QUANT_COLUMN;
        }
    }
    if (st == CLF_OK && c->kv == CLF_KV_F32)
        codes[0] = k, codes[1] = v;
    if (st == CLF_OK)
        st = clf_op_attention_quant(g, q, codes[0], scales[0], codes[1], scales[1], &ap, o);
    return st;
}

/* ModernBERT: Q and K of qkv [tokens, 3d] rotated by layer li's table.
 * Q's heads then K's are the 2·heads heads of one [batch, 2h, seq, hd]
 * view, so one rope op; *q and *k are the halves of its dense output. */
static enum clf_status rotate_qk(struct clf_encoder *enc, struct clf_graph *g, int64_t li,
                                 struct clf_tensor *qkv, int64_t batch, int64_t seq,
                                 struct clf_tensor **q, struct clf_tensor **k)
{
    const int64_t h = enc->cfg.heads, hd = enc->cfg.d_model / h, w = qkv->strides[0];
    const int64_t qks[4] = {batch, 2 * h, seq, hd}, qkst[4] = {seq * w, hd, w, 1};
    const int64_t hs[4] = {batch, h, seq, hd}, rst[4] = {2 * h * seq * hd, seq * hd, hd, 1};
    struct clf_tensor *qk = NULL, *rot = NULL;
    enum clf_status st = clf_graph_view(g, qkv, 4, qks, qkst, qkv->offset, &qk);
    if (st == CLF_OK)
        st = clf_op_rope(g, qk, enc->modern->rope[li], &rot);
    if (st == CLF_OK)
        st = clf_graph_view(g, rot, 4, hs, rst, rot->offset, q);
    if (st == CLF_OK)
        st = clf_graph_view(g, rot, 4, hs, rst, rot->offset + h * seq * hd, k);
    return st;
}

/* Which keys a query sees: its batch entry's, less the padded ones (pad:
 * i32 [batch, seq], or NULL); or, ragged (cu != NULL: batch 1, seq the
 * packed tokens), its sequence's (cu: i32 [n + 1] offsets, max_seq the
 * longest; clf_attention_params.seq_offsets). */
struct seqs {
    struct clf_tensor *pad, *cu;
    int64_t max_seq;
};

/* Multi-head self-attention of layer li on x [tokens = batch·seq, d]:
 * returns the output projection [tokens, d]. */
static enum clf_status mha(struct clf_encoder *enc, struct clf_graph *g, int64_t li,
                           struct clf_tensor *x, int64_t batch, int64_t seq,
                           const struct seqs *sq, struct clf_tensor *pos_bias,
                           struct clf_tensor **y)
{
    struct clf_tensor *key_padding = sq->pad;
    const struct layer *l = &enc->layers[li];
    const struct clf_encoder_config *c = &enc->cfg;
    const int64_t d = c->d_model, h = c->heads, hd = d / h;
    struct clf_tensor *qkv = NULL, *q = NULL, *k = NULL, *v = NULL, *attn = NULL, *heads = NULL,
                      *o = NULL;
    const bool svd = c->attn.sparsity == CLF_ATTN_SVD;
    const bool quant = c->kv != CLF_KV_F32 || c->attn_p != CLF_P_F32;
    /* qkv [tokens, w]: q, k, v of head j at columns j·qd, h·qd + j·qd, 2·h·qd + j·hd,
     * qd = hd (w = 3d), or the SVD rank r (w = 2·h·r + d) */
    const int64_t qd = svd ? clf_qk_lowrank_rank(&c->attn, hd) : hd, w = 2 * h * qd + d;
    const struct lin in = {svd ? l->svd_w : l->in_w, svd ? l->svd_b : l->in_b, l->qkv_q, l->qkv_s,
                           NULL, NULL, NULL};
    const struct lin out = {l->out_w, l->out_b, l->out_q, l->out_s, NULL, NULL, NULL};
    if (pos_bias && (svd || quant || c->attn.sparsity != CLF_ATTN_EXACT))
        return clf_fail(g->ctx, CLF_E_UNSUPPORTED,
                        "encoder: this model's relative position bias needs exact f32 "
                        "attention (no sparse, low-rank or quantised attention, --kv or "
                        "--attn-quant)");
    enum clf_status st = linear(g, x, &in, c->precision, CLF_ACT_NONE, NULL, &qkv);
    const int64_t qks[4] = {batch, h, seq, qd}, hs[4] = {batch, h, seq, hd};
    const int64_t qs[4] = {seq * w, qd, w, 1}, vs[4] = {seq * w, hd, w, 1};
    if (st == CLF_OK)
        st = clf_graph_view(g, qkv, 4, qks, qs, 0, &q);
    if (st == CLF_OK)
        st = clf_graph_view(g, qkv, 4, qks, qs, h * qd, &k);
    if (st == CLF_OK)
        st = clf_graph_view(g, qkv, 4, hs, vs, 2 * h * qd, &v);
    if (st == CLF_OK && enc->modern)
        st = rotate_qk(enc, g, li, qkv, batch, seq, &q, &k);
    const int64_t ts[2] = {batch * seq, d};
    if (quant) {
        /* o [batch, heads, seq, hd] dense, then its heads merged by a copy
         * through the [batch, seq, heads, hd] view */
        const int64_t ms[4] = {batch, seq, h, hd}, mst[4] = {h * seq * hd, hd, seq * hd, 1};
        struct clf_tensor *mv = NULL, *merged = NULL;
        if (st == CLF_OK)
            st = attention_quant(enc, g, q, k, v, qkv, h * qd, 2 * h * qd, batch, seq,
                                 key_padding, &o);
        if (st == CLF_OK)
            st = clf_graph_view(g, o, 4, ms, mst, 0, &mv);
        if (st == CLF_OK)
            st = clf_op_copy(g, mv, &merged);
        if (st == CLF_OK)
            st = clf_graph_view(g, merged, 2, ts, (const int64_t[2]){d, 1}, 0, &attn);
    } else {
        /* the attention writes each head into its columns of attn [tokens, d] */
        const int64_t os[4] = {seq * d, hd, d, 1};
        if (st == CLF_OK)
            st = clf_graph_new_output(g, CLF_F32, 2, ts, &attn);
        if (st == CLF_OK && (st = clf_graph_adopt(g, attn)) == CLF_OK)
            st = clf_graph_view(g, attn, 4, hs, os, 0, &heads);
        if (st == CLF_OK) {
            struct clf_attention_params ap = clf_attention_params_default();
            ap.key_padding = key_padding;
            ap.impl = c->attn_impl;
            if (svd) /* the factored forms give the scores; the attention itself is exact */
                ap.scale = (float)(1.0 / sqrt((double)hd));
            else
                ap.variant = c->attn;
            if (enc->modern && enc->modern->window[li]) { /* a local layer */
                ap.variant.sparsity = CLF_ATTN_WINDOW;
                ap.variant.window_left = ap.variant.window_right = enc->modern->window[li];
            }
            ap.out = heads;
            ap.position_bias = pos_bias;
            ap.seq_offsets = sq->cu;
            ap.max_seq_len = sq->max_seq;
            st = clf_op_attention(g, q, k, v, &ap, &o);
        }
    }
    if (st == CLF_OK)
        st = linear(g, attn, &out, c->precision, CLF_ACT_NONE, NULL, y);
    return st;
}

/* The FFN's hidden activations f [tokens, d_ff] → the quantised ones (or f
 * itself while calibrating, recording it). */
static enum clf_status ffn_act_quant(struct clf_encoder *enc, struct clf_graph *g,
                                     const struct layer *l, int64_t layer, struct clf_tensor *f,
                                     struct clf_tensor **fq)
{
    if (l->actq.kind == CLF_ACTQ_NONE) {
        *fq = f;
        return CLF_OK;
    }
    if (enc->calib) {
        enc->calib[layer] = f;
        *fq = f;
        return CLF_OK;
    }
    return clf_op_actq(g, f, &l->actq, fq);
}

/* One layer on x [tokens, d]; *y receives [tokens, d]. */
static enum clf_status layer_forward(struct clf_encoder *enc, struct clf_graph *g, int64_t li,
                                     struct clf_tensor *x, int64_t batch, int64_t seq,
                                     const struct seqs *sq, struct clf_tensor *pos_bias,
                                     struct clf_tensor **y)
{
    const struct clf_encoder_config *c = &enc->cfg;
    const struct layer *l = &enc->layers[li];
    const struct lin w1 = {l->w1, l->b1, l->w1_q, l->w1_s, l->w1_l, l->w1_r, l->tt1_w};
    const struct lin w2 = {l->w2, l->b2, l->w2_q, l->w2_s, l->w2_l, l->w2_r, l->tt2_w};
    struct clf_tensor *a = NULL, *r = NULL, *n = NULL, *f = NULL, *fq = NULL, *out = NULL;
    enum clf_status st;
    if (!c->norm_first) {
        /* n = LN1(x + MHA(x)) (one kernel); f = act(n W1ᵀ + b1); n += q(f) W2ᵀ + b2;
         * y = LN2(n) */
        st = mha(enc, g, li, x, batch, seq, sq, pos_bias, &a);
        if (st == CLF_OK)
            st = clf_op_add_layernorm(g, x, a, l->n1w, l->n1b, c->eps, &n);
        if (st == CLF_OK)
            st = linear(g, n, &w1, c->precision, c->act, NULL, &f);
        if (st == CLF_OK)
            st = ffn_act_quant(enc, g, l, li, f, &fq);
        if (st == CLF_OK) /* in place (f32): n is this layer's own intermediate */
            st = linear(g, fq, &w2, c->precision, CLF_ACT_NONE, n, &out);
        if (st == CLF_OK)
            st = clf_op_layernorm(g, out, l->n2w, l->n2b, c->eps, y);
    } else {
        /* n = LN1(x); r = x + MHA(n); n2 = LN2(r); r += FFN(n2); y = r
         * (ModernBERT: no LN1 where its weight is NULL; FFN gated) */
        if (enc->modern && !l->n1w)
            n = x, st = CLF_OK;
        else
            st = clf_op_layernorm(g, x, l->n1w, l->n1b, c->eps, &n);
        if (st == CLF_OK)
            st = mha(enc, g, li, n, batch, seq, sq, pos_bias, &a);
        if (st == CLF_OK)
            st = clf_op_add(g, x, a, &r);
        if (st == CLF_OK)
            st = clf_op_layernorm(g, r, l->n2w, l->n2b, c->eps, &n);
        if (st == CLF_OK && enc->modern) { /* f = act(a) ⊙ g of [a, g] = n W1ᵀ + b1 */
            struct clf_tensor *ag = NULL;
            st = linear(g, n, &w1, c->precision, CLF_ACT_NONE, NULL, &ag);
            if (st == CLF_OK)
                st = clf_op_glu(g, ag, c->act, &f);
        } else if (st == CLF_OK)
            st = linear(g, n, &w1, c->precision, c->act, NULL, &f);
        if (st == CLF_OK)
            st = ffn_act_quant(enc, g, l, li, f, &fq);
        if (st == CLF_OK)
            st = linear(g, fq, &w2, c->precision, CLF_ACT_NONE, r, &out);
        if (st == CLF_OK)
            *y = out;
    }
    return st;
}

/* True when a layer's quantiser still has a parameter to calibrate. */
static bool needs_calibration(const struct clf_actq *q)
{
    return (q->kind == CLF_ACTQ_LSQ && q->step == 0) ||
           (q->kind == CLF_ACTQ_PWL && (q->clip == 0 || q->breakpoint == 0));
}

/* clf_encoder_forward, and the ragged form (sq->cu: x [1, tokens, d]). */
static enum clf_status forward(struct clf_encoder *enc, struct clf_graph *g,
                               struct clf_tensor *x, const struct seqs *sq,
                               struct clf_tensor **out)
{
    struct clf_tensor *key_padding = sq->pad;
    if (!enc)
        return CLF_E_INVALID_ARG;
    enum clf_status st = clf_graph_check_call(g, out, "encoder");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "encoder input");
    if (st != CLF_OK)
        return st;
    if (g->ctx != enc->ctx)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "the graph and the encoder differ in context");
    const int64_t d = enc->cfg.d_model;
    if (x->dtype != CLF_F32 || x->ndim != 3 || x->shape[2] != d)
        return clf_fail(g->ctx, CLF_E_SHAPE, "encoder input must be f32 [batch, seq, %lld]",
                        (long long)d);
    const int64_t batch = x->shape[0], seq = x->shape[1];
    if (key_padding) {
        if ((st = clf_graph_check_input(g, key_padding, "key padding")) != CLF_OK)
            return st;
        if (key_padding->dtype != CLF_I32 || key_padding->ndim != 2 ||
            key_padding->shape[0] != batch || key_padding->shape[1] != seq)
            return clf_fail(g->ctx, CLF_E_SHAPE, "key padding must be i32 [%lld, %lld]",
                            (long long)batch, (long long)seq);
    }
    /* x as [tokens, d]: a view when its layout allows, else a dense copy */
    struct clf_tensor *cur = NULL;
    const int64_t ts[2] = {batch * seq, d};
    if (x->strides[2] == 1 && x->strides[0] == seq * x->strides[1]) {
        const int64_t st2[2] = {x->strides[1], 1};
        st = clf_graph_view(g, x, 2, ts, st2, x->offset, &cur);
    } else {
        struct clf_tensor *dense = NULL;
        st = clf_op_copy(g, x, &dense);
        if (st == CLF_OK)
            st = clf_graph_view(g, dense, 2, ts, dense->strides + 1, 0, &cur);
    }
    for (int64_t i = 0; st == CLF_OK && !enc->calib && i < enc->cfg.layers; i++)
        if (needs_calibration(&enc->layers[i].actq))
            st = clf_fail(g->ctx, CLF_E_STATE,
                          "layer %lld's FFN activation quantiser has parameters to calibrate: "
                          "call clf_encoder_calibrate first, or give them",
                          (long long)i);
    /* the relative position bias's [heads, 2 seq - 1] middle columns */
    struct clf_tensor *pos_bias = NULL;
    if (st == CLF_OK && enc->rel_bias && seq > enc->rel_max)
        st = clf_fail(g->ctx, CLF_E_SHAPE,
                      "encoder: %lld tokens per sequence; the relative position bias covers %lld",
                      (long long)seq, (long long)enc->rel_max);
    else if (st == CLF_OK && enc->rel_bias) {
        const int64_t ps[2] = {enc->cfg.heads, 2 * seq - 1};
        st = clf_graph_view(g, enc->rel_bias, 2, ps, enc->rel_bias->strides,
                            enc->rel_bias->offset + enc->rel_max - seq, &pos_bias);
    }
    for (int64_t i = 0; st == CLF_OK && i < enc->cfg.layers; i++)
        st = layer_forward(enc, g, i, cur, batch, seq, sq, pos_bias, &cur);
    if (st == CLF_OK && enc->norm_w)
        st = clf_op_layernorm(g, cur, enc->norm_w, enc->norm_b, enc->cfg.eps, &cur);
    const int64_t os[3] = {batch, seq, d}, ost[3] = {seq * d, d, 1};
    if (st == CLF_OK)
        st = clf_graph_view(g, cur, 3, os, ost, cur->offset, out);
    return st;
}

enum clf_status clf_encoder_forward(struct clf_encoder *enc, struct clf_graph *g,
                                    struct clf_tensor *x, struct clf_tensor *key_padding,
                                    struct clf_tensor **out)
{
    const struct seqs sq = {key_padding, NULL, 0};
    return forward(enc, g, x, &sq, out);
}

bool clf_encoder_can_ragged(const struct clf_encoder *enc)
{
    const struct clf_encoder_config *c = &enc->cfg;
    return c->attn.sparsity == CLF_ATTN_EXACT && c->kv == CLF_KV_F32 && c->attn_p == CLF_P_F32 &&
           !enc->rel_bias && !enc->modern && c->attn_impl != CLF_ATTN_GEMM &&
           clf_attn_family(enc->ctx, CLF_ATTN_FUSED_BY_DEVICE) == CLF_ATTN_FUSED_CPU;
}

enum clf_status clf_encoder_forward_ragged(struct clf_encoder *enc, struct clf_graph *g,
                                           struct clf_tensor *x, struct clf_tensor *offsets,
                                           int64_t max_seq, struct clf_tensor **out)
{
    if (!enc)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = g ? g->ctx : enc->ctx;
    if (!offsets || !x || x->ndim != 3 || x->shape[0] != 1)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "encoder (ragged): x must be [1, tokens, d] with sequence offsets");
    if (!clf_encoder_can_ragged(enc)) /* what mha() would otherwise pass on */
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "encoder: ragged batches need exact f32 attention on a CPU device, "
                        "without a position bias or rotary positions");
    const struct seqs sq = {NULL, offsets, max_seq};
    return forward(enc, g, x, &sq, out);
}

enum clf_status clf_encoder_calibrate(struct clf_encoder *enc, struct clf_tensor *x,
                                      struct clf_tensor *key_padding)
{
    if (!enc)
        return CLF_E_INVALID_ARG;
    bool any = false;
    for (int64_t i = 0; i < enc->cfg.layers; i++)
        any = any || needs_calibration(&enc->layers[i].actq);
    if (!any)
        return CLF_OK;
    struct clf_graph *g = NULL;
    struct clf_tensor *y = NULL;
    float *host = NULL;
    enc->calib = calloc((size_t)enc->cfg.layers, sizeof *enc->calib);
    enum clf_status st = enc->calib ? clf_graph_create(enc->ctx, &g)
                                    : clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY,
                                               "no host memory to calibrate");
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, x, key_padding, &y);
    for (int64_t i = 0; st == CLF_OK && i < enc->cfg.layers; i++)
        if (enc->calib[i]) /* read after the run: their memory must not be reused */
            st = clf_graph_keep(g, enc->calib[i]);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    for (int64_t i = 0; st == CLF_OK && i < enc->cfg.layers; i++) {
        struct layer *l = &enc->layers[i];
        if (!needs_calibration(&l->actq))
            continue;
        size_t n = (size_t)clf_tensor_numel(enc->calib[i]);
        float *h = realloc(host, n * sizeof *h);
        if (!h) {
            st = clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY, "no host memory to calibrate");
            break;
        }
        host = h;
        struct clf_actq q = l->actq;
        st = clf_tensor_read(enc->calib[i], host, n * sizeof *host);
        if (st == CLF_OK)
            st = clf_actq_calibrate(enc->ctx, host, n, &q);
        if (st == CLF_OK)
            l->actq = q;
    }
    free(host);
    clf_graph_destroy(g);
    free(enc->calib);
    enc->calib = NULL;
    return st;
}
