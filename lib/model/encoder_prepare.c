/* What the encoder makes from its weights when they arrive (see
 * encoder_internal.h): SVD score forms for SVD attention, FFN factors,
 * int8 weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/ctx.h"
#include "../ops/tt.h"
#include "encoder_internal.h"
#include "ffn_factor.h"
#include "qk_lowrank.h"

/* Creates a device tensor holding host data. */
enum clf_status clf_encoder_upload(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                   const float *host, struct clf_tensor **out)
{
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, ndim, shape, out);
    if (st == CLF_OK)
        st = clf_tensor_write(*out, host, (size_t)clf_tensor_numel(*out) * sizeof *host);
    if (st != CLF_OK) {
        clf_tensor_destroy(*out);
        *out = NULL;
    }
    return st;
}

enum clf_status clf_encoder_upload_fill(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                        clf_fill_fn fill, void *user, struct clf_tensor **out)
{
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, ndim, shape, out);
    if (st == CLF_OK)
        st = clf_tensor_fill(*out, fill, user);
    if (st != CLF_OK) {
        clf_tensor_destroy(*out);
        *out = NULL;
    }
    return st;
}

/* SVD attention: factorises every layer's score forms (qk_lowrank.h) from
 * its in_proj weights, once, when the weights arrive. The mean relative
 * error of the heads' forms goes to the log. */
static enum clf_status prepare_svd(struct clf_encoder *enc)
{
    const struct clf_encoder_config *c = &enc->cfg;
    if (c->attn.sparsity != CLF_ATTN_SVD)
        return CLF_OK;
    const int64_t d = c->d_model, h = c->heads, r = clf_qk_lowrank_rank(&c->attn, d / h);
    const int64_t rows = 2 * h * r + d;
    float *w = malloc((size_t)(3 * d * d) * sizeof *w), *b = malloc((size_t)(3 * d) * sizeof *b);
    float *ow = malloc((size_t)(rows * d) * sizeof *ow), *ob = malloc((size_t)rows * sizeof *ob);
    double *err = malloc((size_t)h * sizeof *err);
    enum clf_status st = CLF_OK;
    if (!w || !b || !ow || !ob || !err)
        st = clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for SVD attention");
    for (int64_t i = 0; st == CLF_OK && i < c->layers; i++) {
        struct layer *l = &enc->layers[i];
        const int64_t ws[2] = {rows, d};
        st = clf_tensor_read(l->in_w, w, (size_t)(3 * d * d) * sizeof *w);
        if (st == CLF_OK)
            st = clf_tensor_read(l->in_b, b, (size_t)(3 * d) * sizeof *b);
        if (st == CLF_OK)
            st = clf_qk_lowrank(enc->ctx, w, b, d, h, &c->attn, ow, ob, err);
        if (st == CLF_OK)
            st = clf_encoder_upload(enc->ctx, 2, ws, ow, &l->svd_w);
        if (st == CLF_OK)
            st = clf_encoder_upload(enc->ctx, 1, &rows, ob, &l->svd_b);
        if (st == CLF_OK) {
            double mean = 0, worst = 0;
            for (int64_t k = 0; k < h; k++) {
                mean += err[k] / (double)h;
                worst = err[k] > worst ? err[k] : worst;
            }
            clf_log(enc->ctx, CLF_LOG_INFO,
                    "layer %lld: score forms at rank %lld, relative error mean %.3g, worst %.3g",
                    (long long)i, (long long)r, mean, worst);
        }
    }
    free(w);
    free(b);
    free(ow);
    free(ob);
    free(err);
    return st;
}

/* *q, *s: owned i8 codes and per-row scales of w [N, K] (symmetric, 8
 * bits: one scale per output channel), made by clf_op_quantize on a graph
 * of their own and copied out of it. */
static enum clf_status quantize_weight(struct clf_ctx *ctx, struct clf_tensor *w,
                                       struct clf_tensor **q, struct clf_tensor **s)
{
    struct clf_graph *g = NULL;
    struct clf_tensor *gq = NULL, *gs = NULL, *gz = NULL;
    struct clf_quant_params p = clf_quant_params_default();
    const int64_t rows = clf_tensor_dim(w, 0), cols = clf_tensor_dim(w, 1);
    const int64_t shape[2] = {rows, cols};
    size_t bytes = (size_t)(rows * cols);
    void *host = malloc(bytes + (size_t)rows * sizeof(float));
    enum clf_status st = host ? clf_graph_create(ctx, &g) : CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_op_quantize(g, w, &p, &gq, &gs, &gz);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(gq, host, bytes);
    if (st == CLF_OK)
        st = clf_tensor_read(gs, (char *)host + bytes, (size_t)rows * sizeof(float));
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I8, 2, shape, q);
    if (st == CLF_OK)
        st = clf_tensor_write(*q, host, bytes);
    if (st == CLF_OK)
        st = clf_encoder_upload(ctx, 1, &rows, (const float *)(void *)((char *)host + bytes), s);
    if (st == CLF_E_OUT_OF_MEMORY && !host)
        st = clf_fail(ctx, st, "no host memory to quantise a weight");
    clf_graph_destroy(g);
    free(host);
    return st;
}

/* linear_int8: quantises every layer's linear weights once. */
static enum clf_status prepare_int8(struct clf_encoder *enc)
{
    enum clf_status st = CLF_OK;
    for (int64_t i = 0; st == CLF_OK && enc->cfg.linear_int8 && i < enc->cfg.layers; i++) {
        struct layer *l = &enc->layers[i];
        st = quantize_weight(enc->ctx, l->svd_w ? l->svd_w : l->in_w, &l->qkv_q, &l->qkv_s);
        if (st == CLF_OK)
            st = quantize_weight(enc->ctx, l->out_w, &l->out_q, &l->out_s);
        if (st == CLF_OK && enc->cfg.ffn.format == CLF_FFN_DENSE)
            st = quantize_weight(enc->ctx, l->w1, &l->w1_q, &l->w1_s);
        if (st == CLF_OK && enc->cfg.ffn.format == CLF_FFN_DENSE)
            st = quantize_weight(enc->ctx, l->w2, &l->w2_q, &l->w2_s);
    }
    return st;
}

/* *l [m, r], *r [r, n]: W's SVD factors (ffn_factor.h), uploaded. */
static enum clf_status factor_weight(struct clf_encoder *enc, struct clf_tensor *w, int64_t layer,
                                     const char *name, struct clf_tensor **l,
                                     struct clf_tensor **r, double *rel_error)
{
    const int64_t m = clf_tensor_dim(w, 0), n = clf_tensor_dim(w, 1);
    float *host = malloc((size_t)(m * n) * sizeof *host), *left = NULL, *right = NULL;
    int64_t rank = 0;
    double err = 0;
    enum clf_status st = host ? clf_tensor_read(w, host, (size_t)(m * n) * sizeof *host)
                              : clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY,
                                         "no host memory to factorise a weight");
    if (st == CLF_OK)
        st = clf_ffn_lowrank(enc->ctx, host, m, n, &enc->cfg.ffn, &left, &right, &rank, &err);
    const int64_t ls[2] = {m, rank}, rs[2] = {rank, n};
    if (st == CLF_OK)
        st = clf_encoder_upload(enc->ctx, 2, ls, left, l);
    if (st == CLF_OK)
        st = clf_encoder_upload(enc->ctx, 2, rs, right, r);
    if (st == CLF_OK)
        *rel_error = err;
    if (st == CLF_OK)
        clf_log(enc->ctx, CLF_LOG_INFO,
                "layer %lld %s [%lld, %lld]: rank %lld, relative error %.3g, %lld of %lld "
                "parameters",
                (long long)layer, name, (long long)m, (long long)n, (long long)rank, err,
                (long long)(rank * (m + n)), (long long)(m * n));
    free(host), free(left), free(right);
    return st;
}

/* tt: W's Tensor-Train (TT-SVD with d cores, modes from clf_tt_modes,
 * ranks capped by cfg.ffn.rank and/or set by cfg.ffn.eps), unless tt->d is
 * set already (from a file); then its device copy. */
static enum clf_status tt_weight(struct clf_encoder *enc, struct clf_tensor *w, int64_t layer,
                                 const char *name, struct clf_tt *tt, struct clf_tt_weights **dev,
                                 double *rel_error)
{
    const int64_t m = clf_tensor_dim(w, 0), n = clf_tensor_dim(w, 1);
    const struct clf_ffn_factor *f = &enc->cfg.ffn;
    enum clf_status st = CLF_OK;
    if (!tt->d) {
        const int d = f->tt_cores ? f->tt_cores : 3;
        int64_t mm[CLF_TT_MAX_D], nn[CLF_TT_MAX_D];
        float *host = malloc((size_t)(m * n) * sizeof *host);
        double *a = malloc((size_t)(m * n) * sizeof *a), err = 0;
        st = host && a ? clf_tensor_read(w, host, (size_t)(m * n) * sizeof *host)
                       : clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for TT-SVD");
        for (int64_t i = 0; st == CLF_OK && i < m * n; i++)
            a[i] = host[i];
        if (st == CLF_OK)
            st = clf_tt_modes(m, d, mm);
        if (st == CLF_OK)
            st = clf_tt_modes(n, d, nn);
        if (st == CLF_OK)
            st = clf_tt_svd(enc->ctx, a, m, n, d, mm, nn, f->rank, f->rank ? 0 : f->eps, tt, &err);
        if (st == CLF_OK)
            *rel_error = err;
        if (st == CLF_OK)
            clf_log(enc->ctx, CLF_LOG_INFO,
                    "layer %lld %s [%lld, %lld]: %d TT cores, relative error %.3g, %lld of %lld "
                    "parameters, %.3g of %.3g FLOPs per token",
                    (long long)layer, name, (long long)m, (long long)n, d, err,
                    (long long)clf_tt_params(tt), (long long)(m * n), clf_tt_flops_per_token(tt),
                    2.0 * (double)(m * n));
        free(host), free(a);
    }
    return st == CLF_OK ? clf_tt_upload(enc->ctx, tt, dev) : st;
}

/* FFN factors (SVD, RSVD) or Tensor-Trains, unless the weights file gave them. */
static enum clf_status prepare_ffn(struct clf_encoder *enc)
{
    const enum clf_ffn_format f = enc->cfg.ffn.format;
    enum clf_status st = CLF_OK;
    for (int64_t i = 0; st == CLF_OK && f == CLF_FFN_TT && i < enc->cfg.layers; i++) {
        struct layer *l = &enc->layers[i];
        st = tt_weight(enc, l->w1, i, "linear1", &l->tt1, &l->tt1_w, &l->ffn_error[0]);
        if (st == CLF_OK)
            st = tt_weight(enc, l->w2, i, "linear2", &l->tt2, &l->tt2_w, &l->ffn_error[1]);
    }
    for (int64_t i = 0; st == CLF_OK && (f == CLF_FFN_SVD || f == CLF_FFN_RSVD) &&
                        i < enc->cfg.layers;
         i++) {
        struct layer *l = &enc->layers[i];
        if (!l->w1_l)
            st = factor_weight(enc, l->w1, i, "linear1", &l->w1_l, &l->w1_r, &l->ffn_error[0]);
        if (st == CLF_OK && !l->w2_l)
            st = factor_weight(enc, l->w2, i, "linear2", &l->w2_l, &l->w2_r, &l->ffn_error[1]);
    }
    return st;
}

enum clf_status clf_encoder_prepare(struct clf_encoder *enc)
{
    enum clf_status st = prepare_svd(enc);
    if (st == CLF_OK)
        st = prepare_ffn(enc);
    if (st == CLF_OK)
        st = prepare_int8(enc);
    for (int64_t i = 0; st == CLF_OK && enc->cfg.drop_dense && i < enc->cfg.layers; i++) {
        /* the f32 weights the forward pass no longer reads (biases stay) */
        struct layer *l = &enc->layers[i];
        struct clf_tensor **drop[4] = {
            l->svd_w || l->qkv_q ? &l->in_w : NULL, l->out_q ? &l->out_w : NULL,
            l->w1_l || l->tt1_w || l->w1_q ? &l->w1 : NULL,
            l->w2_l || l->tt2_w || l->w2_q ? &l->w2 : NULL};
        for (int k = 0; k < 4; k++)
            if (drop[k]) {
                clf_tensor_destroy(*drop[k]);
                *drop[k] = NULL;
            }
    }
    return st;
}

