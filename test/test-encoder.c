/*
 * The encoder layer and stack against the double-precision CPU reference
 * (reference/ref_encoder.c): post-LN and pre-LN, ReLU and GELU, one and two
 * layers, key padding, weights random or from safetensors files with
 * PyTorch's names, and configuration / weight-file errors.
 *
 * Error bound (relative, Frobenius norm over the output). Every stage of a
 * layer is a set of fp32 dot products of length K <= Kmax = max(d_model,
 * d_ff, seq) (projections, attention scores and P·V, FFN) or a LayerNorm /
 * softmax over one of those lengths; each adds at most gamma_Kmax relative
 * error to its result (Higham 3.1), and the following stages carry it on
 * scaled by their condition: LayerNorm renormalises rows (condition ~
 * |gamma|/sigma of its input, O(1) here: weights ~ U(±1/sqrt(fan_in)),
 * gamma ~ 1), the residual adds are well conditioned, softmax's condition
 * is bounded by the score range (|scores| <= a few units here). With at
 * most 8 such stages per layer and an O(1) condition at each, the bound is
 * 8 · C · layers · gamma_Kmax with C = 8 covering the conditions — chosen
 * from this accounting before looking at any output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/linalg/svd.h" /* internal: LAPACK's SVD, for the truncated reference */
#include "../lib/linalg/tt_svd.h" /* internal: TT-matrix reconstruction */
#include "common.h"
#include "ref_encoder.h" /* reference/: the double-precision encoder */

static double bound(const struct clf_encoder_config *c, int64_t seq)
{
    double kmax = (double)c->d_model;
    kmax = (double)c->d_ff > kmax ? (double)c->d_ff : kmax;
    kmax = (double)seq > kmax ? (double)seq : kmax;
    return 8 * 8 * (double)c->layers * test_gamma(kmax);
}

/* When > 0, check_against_reference gives its reference every head's score
 * form truncated to this rank (the SVD attention's approximation, applied
 * in double from the weights through LAPACK). */
static int64_t ref_form_rank;

/* Sets the truncated forms M_h,r = U_r Σ_r V_rᵀ of M_h = [W_Q,h b_Q,h]ᵀ[W_K,h b_K,h]
 * on the reference (qk_lowrank.h) for every layer and head. */
static void set_truncated_forms(struct ref_weights *rw, struct clf_encoder *enc, int64_t r)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    const int64_t d = c.d_model, hd = d / c.heads, n = d + 1, k = n;
    float *w = malloc((size_t)(3 * d * d) * sizeof *w), *b = malloc((size_t)(3 * d) * sizeof *b);
    double *m = malloc((size_t)(n * n) * sizeof *m), *u = malloc((size_t)(n * k) * sizeof *u);
    double *sv = malloc((size_t)k * sizeof *sv), *vt = malloc((size_t)(k * n) * sizeof *vt);
    for (int64_t li = 0; li < c.layers; li++) {
        ck_assert_ok(test_ctx(), clf_encoder_read_weight(enc, (int)li, "self_attn.in_proj_weight",
                                                         w, (size_t)(3 * d * d)));
        ck_assert_ok(test_ctx(),
                     clf_encoder_read_weight(enc, (int)li, "self_attn.in_proj_bias", b,
                                             (size_t)(3 * d)));
        for (int64_t h = 0; h < c.heads; h++) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t e = h * hd; e < (h + 1) * hd; e++)
                        acc += (i < d ? (double)w[e * d + i] : (double)b[e]) *
                               (j < d ? (double)w[(d + e) * d + j] : (double)b[d + e]);
                    m[i * n + j] = acc;
                }
            ck_assert_int_eq(clf_svd(NULL, m, n, n, u, sv, vt), CLF_OK);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t e = 0; e < r && e < k; e++)
                        acc += u[i * k + e] * sv[e] * vt[e * n + j];
                    m[i * n + j] = acc;
                }
            ck_assert_int_eq(ref_weights_set_score_form(rw, li, h, m), 0);
        }
    }
    free(w);
    free(b);
    free(m);
    free(u);
    free(sv);
    free(vt);
}

/* When > 0, check_against_reference gives its reference W1 and W2
 * truncated to this rank (the SVD FFN's approximation, in double through
 * LAPACK, rounded once to float). */
static int64_t ref_ffn_rank;

/* The rank-r truncation of w [m, n] in place (double SVD, one rounding). */
static void truncate_matrix(float *w, int64_t m, int64_t n, int64_t r)
{
    const int64_t k = m < n ? m : n;
    double *a = malloc((size_t)(m * n) * sizeof *a), *u = malloc((size_t)(m * k) * sizeof *u);
    double *sv = malloc((size_t)k * sizeof *sv), *vt = malloc((size_t)(k * n) * sizeof *vt);
    for (int64_t i = 0; i < m * n; i++)
        a[i] = w[i];
    ck_assert_int_eq(clf_svd(NULL, a, m, n, u, sv, vt), CLF_OK);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t e = 0; e < r && e < k; e++)
                acc += u[i * k + e] * sv[e] * vt[e * n + j];
            w[i * n + j] = (float)acc;
        }
    free(a), free(u), free(sv), free(vt);
}

static void set_truncated_ffn(struct ref_weights *rw, struct clf_encoder *enc, int64_t r)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    const size_t n = (size_t)(c.d_model * c.d_ff);
    float *w = malloc(n * sizeof *w);
    const char *names[2] = {"linear1.weight", "linear2.weight"};
    for (int64_t li = 0; li < c.layers; li++)
        for (int k = 0; k < 2; k++) {
            ck_assert_ok(test_ctx(), clf_encoder_read_weight(enc, (int)li, names[k], w, n));
            truncate_matrix(w, k ? c.d_model : c.d_ff, k ? c.d_ff : c.d_model, r);
            ck_assert_int_eq(ref_weights_set(rw, li, names[k], w, n), 0);
        }
    free(w);
}

/* When set, check_against_reference gives its reference W1 and W2 as the
 * Tensor-Trains saved in this file (clf_encoder_save), reconstructed in
 * double and rounded once to float. */
static const char *ref_tt_file;

static void set_tt_ffn(struct ref_weights *rw, struct clf_encoder *enc, const char *path)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    const size_t n = (size_t)(c.d_model * c.d_ff);
    struct clf_safetensors *st = test_open_safetensors(path);
    double *wd = malloc(n * sizeof *wd);
    float *w = malloc(n * sizeof *w);
    for (int64_t li = 0; li < c.layers; li++)
        for (int k = 0; k < 2; k++) {
            struct clf_tt tt;
            memset(&tt, 0, sizeof tt);
            for (int j = 0; j < CLF_TT_MAX_D; j++) {
                char name[96];
                int nd = 0;
                int64_t sh[CLF_MAX_DIMS];
                snprintf(name, sizeof name, "layers.%lld.linear%d.tt.core.%d", (long long)li,
                         k + 1, j);
                if (clf_safetensors_shape(st, name, &nd, sh, NULL) != CLF_OK)
                    break;
                size_t count = (size_t)(sh[0] * sh[1] * sh[2] * sh[3]);
                float *h = malloc(count * sizeof *h);
                ck_assert_status_msg(clf_safetensors_last_error(st),
                                     clf_safetensors_read(st, name, h, count), CLF_OK);
                tt.cores[j] = malloc(count * sizeof *tt.cores[j]);
                for (size_t e = 0; e < count; e++)
                    tt.cores[j][e] = h[e];
                free(h);
                tt.r[j] = sh[0], tt.m[j] = sh[1], tt.n[j] = sh[2], tt.r[j + 1] = sh[3];
                tt.d = j + 1;
            }
            ck_assert_int_ge(tt.d, 1);
            ck_assert_int_eq(clf_tt_to_dense(&tt, wd), CLF_OK);
            for (size_t e = 0; e < n; e++)
                w[e] = (float)wd[e];
            ck_assert_int_eq(ref_weights_set(rw, li, k ? "linear2.weight" : "linear1.weight", w, n),
                             0);
            clf_tt_free(&tt);
        }
    clf_safetensors_close(st);
    free(wd), free(w);
}

/* x rounded to bfloat16, to nearest even (finite x). */
static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The reference's linear weights rounded as an encoder with weights in
 * precision p computes with them (clf_gemm_params.b_precision): the same
 * approximation, so the f32 bound applies unchanged. */
static void set_rounded_linear(struct ref_weights *rw, struct clf_encoder *enc,
                               enum clf_precision p)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    const int64_t d = c.d_model, f = c.d_ff;
    const struct {
        const char *name;
        size_t n;
    } ws[] = {{"self_attn.in_proj_weight", (size_t)(3 * d * d)},
              {"self_attn.out_proj.weight", (size_t)(d * d)},
              {"linear1.weight", (size_t)(f * d)},
              {"linear2.weight", (size_t)(d * f)}};
    float *w = malloc(ws[2].n * 3 * sizeof *w); /* the largest */
    for (int64_t li = 0; li < c.layers; li++)
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
            ck_assert_ok(test_ctx(), clf_encoder_read_weight(enc, (int)li, ws[k].name, w, ws[k].n));
            for (size_t i = 0; i < ws[k].n; i++)
                w[i] = p == CLF_PRECISION_F16 ? clf_f16_to_f32(clf_f32_to_f16(w[i]))
                                              : bf16_round(w[i]);
            ck_assert_int_eq(ref_weights_set(rw, li, ws[k].name, w, ws[k].n), 0);
        }
    free(w);
}

/* Runs enc on fresh x (optionally padded) and compares with the reference;
 * returns the relative error. */
static double check_against_reference(struct clf_encoder *enc, int64_t batch, int64_t seq,
                                    bool padding, bool strided_x)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    const int64_t d = c.d_model;
    size_t n = (size_t)(batch * seq * d);
    float *x = malloc(n * sizeof *x), *out;
    double *ref = malloc(n * sizeof *ref);
    int32_t *pad = NULL;
    test_fill_uniform(x, n, -1, 1);
    struct clf_tensor *tx = NULL, *tp = NULL, *y = NULL, *base = NULL;
    if (strided_x) { /* x as [batch, seq, d] inside a [seq, batch, d + 3] buffer */
        int64_t bs[3] = {seq, batch, d + 3};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, bs, &base));
        int64_t vs[3] = {batch, seq, d}, vst[3] = {d + 3, batch * (d + 3), 1};
        ck_assert_ok(ctx, clf_tensor_view(base, 3, vs, vst, 1, &tx));
        ck_assert_ok(ctx, clf_tensor_write(tx, x, n * sizeof *x));
    } else {
        int64_t xs[3] = {batch, seq, d};
        tx = test_upload(3, xs, x);
    }
    if (padding) { /* batch b pads its last b keys; the last batch pads all of them */
        pad = calloc((size_t)(batch * seq), sizeof *pad);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t j = 0; j < seq; j++)
                pad[b * seq + j] = b == batch - 1 && batch > 1 ? 1 : j >= seq - b;
        int64_t ps[2] = {batch, seq};
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &tp));
        ck_assert_ok(ctx, clf_tensor_write(tp, pad, (size_t)(batch * seq) * sizeof *pad));
    }
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, tx, tp, &y));
    ck_assert_int_eq(clf_tensor_ndim(y), 3);
    ck_assert_int_eq(clf_tensor_dim(y, 2), d);
    ck_assert_ok(ctx, clf_graph_run(g));
    out = test_read_all(y);

    struct ref_weights *rw = ref_weights_read(enc);
    ck_assert_ptr_nonnull(rw);
    if (ref_form_rank > 0)
        set_truncated_forms(rw, enc, ref_form_rank);
    if (ref_ffn_rank > 0)
        set_truncated_ffn(rw, enc, ref_ffn_rank);
    if (ref_tt_file)
        set_tt_ffn(rw, enc, ref_tt_file);
    if (c.precision != CLF_PRECISION_F32)
        set_rounded_linear(rw, enc, c.precision);
    ck_assert_int_eq(ref_encoder_forward(rw, batch, seq, x, pad, ref), 0);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)out[i] - ref[i];
        num += e * e;
        den += ref[i] * ref[i];
    }
    double rel = sqrt(num / den), b = bound(&c, seq);
    char attn[160], ffn[64];
    clf_attention_variant_str(&c.attn, attn, sizeof attn);
    clf_ffn_factor_str(&c.ffn, ffn, sizeof ffn);
    if (c.ffn.format != CLF_FFN_DENSE)
        snprintf(attn + strlen(attn), sizeof attn - strlen(attn), ", ffn %s", ffn);
    printf("encoder %lld layer(s) d %lld h %lld ff %lld %s %s %s batch %lld seq %lld%s%s: rel "
           "error %.2e (bound %.2e)\n",
           (long long)c.layers, (long long)d, (long long)c.heads, (long long)c.d_ff,
           c.norm_first ? "pre-LN" : "post-LN", c.act == CLF_ACT_RELU ? "relu" : "gelu", attn,
           (long long)batch, (long long)seq, padding ? " padded" : "",
           ref_form_rank > 0 ? " (reference: truncated forms)"
           : ref_ffn_rank > 0 ? " (reference: truncated W1, W2)"
           : ref_tt_file      ? " (reference: the saved Tensor-Trains)"
           : c.precision == CLF_PRECISION_F16  ? " (reference: weights rounded to f16)"
           : c.precision == CLF_PRECISION_BF16 ? " (reference: weights rounded to bf16)"
                                               : "",
           rel, b);
    ck_assert_msg(rel <= b, "relative error %g above the bound %g", rel, b);
    ref_weights_free(rw);
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    clf_tensor_destroy(base);
    clf_tensor_destroy(tp);
    free(x);
    free(out);
    free(ref);
    free(pad);
    return rel;
}

/* enc's forward pass on the host input x [b, s, d] (shape xs) with key
 * padding pad [b, s] (or NULL): the output, malloc'd. */
static float *forward_padded(struct clf_encoder *enc, const int64_t xs[3], const float *x,
                             const int32_t *pad)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g = NULL;
    struct clf_tensor *tx = test_upload(3, xs, x), *y = NULL;
    struct clf_tensor *tp = pad ? test_upload_pad(xs[0], xs[1], pad) : NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, tx, tp, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    clf_tensor_destroy(tp);
    return out;
}

static float *forward_host(struct clf_encoder *enc, const int64_t xs[3], const float *x)
{
    return forward_padded(enc, xs, x, NULL);
}

static struct clf_encoder_config small_config(int layers, bool norm_first, enum clf_act act)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 48;
    c.heads = 4;
    c.d_ff = 80;
    c.layers = layers;
    c.norm_first = norm_first;
    c.act = act;
    return c;
}

START_TEST(test_random_layers)
{
    struct clf_ctx *ctx = test_ctx();
    /* _i: bit 0 pre-LN, bit 1 GELU, bit 2 two layers */
    struct clf_encoder_config c =
        small_config(_i & 4 ? 2 : 1, _i & 1, _i & 2 ? CLF_ACT_GELU : CLF_ACT_RELU);
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
    check_against_reference(enc, 2, 13, false, false);
    check_against_reference(enc, 3, 17, true, _i & 1);
    clf_encoder_destroy(enc);
}
END_TEST

static double quantised_error(struct clf_encoder *enc, int64_t batch, int64_t seq,
                              enum clf_status *calibrate);

/* Linear weights in f16 and bf16 (CPU devices): against the reference
 * with the same weights rounded, within the f32 bound; post- and pre-LN,
 * padded; refused with int8 linear layers, an unknown precision, and
 * (other devices) anywhere but on a CPU. */
START_TEST(test_precision)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder *enc = NULL;
    struct clf_encoder_config c = small_config(2, false, CLF_ACT_GELU);
    c.precision = (enum clf_precision)3;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c.precision = CLF_PRECISION_F16;
    c.linear_int8 = true;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c.linear_int8 = false;
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    if (info.type != CLF_DEVICE_CPU) {
        ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_UNSUPPORTED);
        return;
    }
    /* the reference with rounded weights must also be nearer than the one
     * with the exact weights: the rounding is applied, and is the one the
     * reference applies */
    for (int p = CLF_PRECISION_F16; p <= CLF_PRECISION_BF16; p++)
        for (int nf = 0; nf < 2; nf++) {
            c = small_config(2, nf, CLF_ACT_GELU);
            c.precision = (enum clf_precision)p;
            ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
            double rounded = check_against_reference(enc, 3, 11, true, false);
            enum clf_status cal;
            double exact = quantised_error(enc, 3, 11, &cal);
            ck_assert_ok(ctx, cal);
            ck_assert_msg(rounded < exact, "%s: error %g against rounded weights, %g against "
                          "exact ones", clf_precision_str(c.precision), rounded, exact);
            clf_encoder_destroy(enc);
        }
}
END_TEST

START_TEST(test_longer_sequence)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = small_config(1, false, CLF_ACT_GELU_TANH);
    c.d_model = 64;
    c.heads = 2; /* head_dim 32 */
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, 7, &enc));
    check_against_reference(enc, 1, 300, false, false);
    clf_encoder_destroy(enc);
}
END_TEST

/* Host weights in PyTorch's names, written to a safetensors file. */
struct file_weights {
    float *data[16];
    struct clf_safetensors_entry e[32];
    int64_t shapes[32][2];
    char names[32][64];
    size_t n;
};

static void add_weight(struct file_weights *fw, const char *name, int64_t rows, int64_t cols,
                       double center)
{
    size_t i = fw->n++;
    size_t count = (size_t)(rows * (cols ? cols : 1));
    float *p = malloc(count * sizeof *p);
    for (size_t k = 0; k < count; k++)
        p[k] = (float)(center + test_rand_uniform(-0.2, 0.2));
    snprintf(fw->names[i], sizeof fw->names[i], "%s", name);
    fw->shapes[i][0] = rows;
    fw->shapes[i][1] = cols;
    fw->e[i].name = fw->names[i];
    fw->e[i].data = p;
    fw->e[i].ndim = cols ? 2 : 1;
    fw->e[i].shape = fw->shapes[i];
}

static void layer_weights(struct file_weights *fw, const char *prefix, int64_t d, int64_t f)
{
    static const struct {
        const char *name;
        char r, c;
        double center;
    } w[] = {{"self_attn.in_proj_weight", '3', 'd', 0}, {"self_attn.in_proj_bias", '3', 0, 0},
             {"self_attn.out_proj.weight", 'd', 'd', 0}, {"self_attn.out_proj.bias", 'd', 0, 0},
             {"linear1.weight", 'f', 'd', 0}, {"linear1.bias", 'f', 0, 0},
             {"linear2.weight", 'd', 'f', 0}, {"linear2.bias", 'd', 0, 0},
             {"norm1.weight", 'd', 0, 1}, {"norm1.bias", 'd', 0, 0},
             {"norm2.weight", 'd', 0, 1}, {"norm2.bias", 'd', 0, 0}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", prefix, w[i].name);
        int64_t rows = w[i].r == '3' ? 3 * d : w[i].r == 'd' ? d : f;
        int64_t cols = w[i].c == 'd' ? d : w[i].c == 'f' ? f : 0;
        add_weight(fw, name, rows, cols, w[i].center);
    }
}

static void free_weights(struct file_weights *fw)
{
    for (size_t i = 0; i < fw->n; i++)
        free((void *)fw->e[i].data);
    fw->n = 0;
}

START_TEST(test_weights_from_files)
{
    struct clf_ctx *ctx = test_ctx();
    char *dir = test_make_tmpdir("weights");
    char path[4200];
    struct clf_encoder_config c = small_config(1, false, CLF_ACT_RELU);
    struct clf_encoder *enc = NULL;
    float got[48];

    /* one nn.TransformerEncoderLayer, bare names */
    struct file_weights fw = {0};
    layer_weights(&fw, "", c.d_model, c.d_ff);
    snprintf(path, sizeof path, "%s/layer.safetensors", dir);
    test_write_safetensors(path, fw.e, fw.n);
    ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &enc));
    ck_assert_ok(ctx, clf_encoder_read_weight(enc, 0, "norm2.bias", got, 48));
    ck_assert_mem_eq(got, fw.e[11].data, sizeof got); /* the file's values, unchanged */
    check_against_reference(enc, 2, 9, true, false);
    clf_encoder_destroy(enc);
    free_weights(&fw);

    /* nn.TransformerEncoder with two layers and a final norm */
    c.layers = 2;
    layer_weights(&fw, "layers.0.", c.d_model, c.d_ff);
    layer_weights(&fw, "layers.1.", c.d_model, c.d_ff);
    add_weight(&fw, "norm.weight", c.d_model, 0, 1);
    add_weight(&fw, "norm.bias", c.d_model, 0, 0);
    snprintf(path, sizeof path, "%s/stack.safetensors", dir);
    test_write_safetensors(path, fw.e, fw.n);
    ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &enc));
    ck_assert_ok(ctx, clf_encoder_read_weight(enc, -1, "norm.bias", got, 48));
    ck_assert_mem_eq(got, fw.e[25].data, sizeof got);
    check_against_reference(enc, 1, 11, false, false);
    clf_encoder_destroy(enc);

    /* the configuration disagrees with the file */
    c.layers = 1; /* the file holds two */
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_SHAPE);
    ck_assert_ptr_null(enc);
    c.layers = 3; /* the file holds two */
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "layers.2."));
    c.layers = 2;
    c.d_ff = 96;
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "linear1.weight"));
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "stack.safetensors"));
    c.d_ff = 80;
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_IO);
    free_weights(&fw);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/*
 * SVD attention (lib/model/qk_lowrank.h). Exact cases: a head's score form
 * has rank <= head_dim, so svd:R with R >= head_dim reproduces exact
 * attention; and weights whose W_Q,h, b_Q,h rows beyond r are zero give
 * forms of rank <= r, reproduced by svd:r, and by the randomised SVD since
 * r + p covers the form's whole range. Truncated case: the reference gets
 * each head's form truncated in double (LAPACK) — the same approximation —
 * and the randomised SVD with r + p >= rank(M_h) = head_dim matches it too
 * (its sample space then spans the form's range exactly).
 */
START_TEST(test_svd_attention)
{
    struct clf_ctx *ctx = test_ctx();
    char *dir = test_make_tmpdir("svd");
    char path[4200], msg[128];
    struct clf_encoder_config c = small_config(1, false, CLF_ACT_RELU);
    const int64_t d = c.d_model, hd = d / c.heads, r = 5;
    struct clf_encoder *enc = NULL;

    /* full rank on random weights: exact (svd:hd, svd above hd capped) */
    const char *full[] = {"svd:12", "svd:40", "svd:12,rand,q:0"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ok(ctx, clf_attention_variant_parse(full[i], &c.attn, msg, sizeof msg));
        ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
        check_against_reference(enc, 2, 11, i == 0, false);
        clf_encoder_destroy(enc);
    }

    /* forms of rank r by construction: svd:r and svd:r,rand are exact */
    struct file_weights fw = {0};
    layer_weights(&fw, "", d, c.d_ff);
    float *qw = (float *)fw.e[0].data, *qb = (float *)fw.e[1].data;
    for (int64_t h = 0; h < c.heads; h++)
        for (int64_t e = r; e < hd; e++) {
            qb[h * hd + e] = 0;
            for (int64_t i = 0; i < d; i++)
                qw[(h * hd + e) * d + i] = 0;
        }
    snprintf(path, sizeof path, "%s/rank5.safetensors", dir);
    test_write_safetensors(path, fw.e, fw.n);
    const char *lowrank[] = {"svd:5", "svd:5,rand,seed:3"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_ok(ctx, clf_attention_variant_parse(lowrank[i], &c.attn, msg, sizeof msg));
        ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &enc));
        check_against_reference(enc, 2, 13, true, false);
        clf_encoder_destroy(enc);
    }
    free_weights(&fw);

    /* truncated below the forms' rank: against the truncated reference */
    const char *trunc[] = {"svd:3", "svd:3,rand,p:9,q:0"};
    ref_form_rank = 3;
    for (size_t i = 0; i < 2; i++) {
        ck_assert_ok(ctx, clf_attention_variant_parse(trunc[i], &c.attn, msg, sizeof msg));
        ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
        check_against_reference(enc, 2, 13, i == 1, false);
        clf_encoder_destroy(enc);
    }
    ref_form_rank = 0;

    /* the grammar */
    struct clf_attention_variant v;
    char buf[64];
    ck_assert_ok(ctx, clf_attention_variant_parse("svd:7,rand", &v, msg, sizeof msg));
    ck_assert(v.sparsity == CLF_ATTN_SVD && v.rank == 7 && v.randomized);
    ck_assert_int_eq(v.oversample, 10);
    ck_assert_int_eq(v.iters, 1);
    clf_attention_variant_str(&v, buf, sizeof buf);
    ck_assert_str_eq(buf, "svd:7,rand,p:10,q:1");
    ck_assert_ok(ctx, clf_attention_variant_parse("svd:7,q:2,rand,p:0,seed:5", &v, msg, sizeof msg));
    ck_assert(v.oversample == 0 && v.iters == 2 && v.seed == 5);
    clf_attention_variant_str(&v, buf, sizeof buf);
    ck_assert_str_eq(buf, "svd:7,rand,p:0,q:2,seed:5");
    const char *bad[] = {"svd",     "svd:0",          "svd:-2",          "svd:4,p:3",
                         "svd:4,q:1", "svd:4,rand,p:-1", "svd:4,rand,q:x", "svd:4,rand,p:1,p:2",
                         "svd:4,gauss"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(clf_attention_variant_parse(bad[i], &v, msg, sizeof msg) ==
                          CLF_E_INVALID_ARG && msg[0],
                      "'%s' accepted", bad[i]);
    c.attn.sparsity = CLF_ATTN_SVD;
    c.attn.rank = 0;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(enc);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* Relative error of enc's output on fresh x against the exact double
 * reference (no quantisation: it sees only the weights). */
static double quantised_error(struct clf_encoder *enc, int64_t batch, int64_t seq,
                              enum clf_status *calibrate)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    size_t n = (size_t)(batch * seq * c.d_model);
    float *x = malloc(n * sizeof *x), *out;
    double *ref = malloc(n * sizeof *ref);
    test_fill_uniform(x, n, -1, 1);
    int64_t xs[3] = {batch, seq, c.d_model};
    struct clf_tensor *tx = test_upload(3, xs, x), *y = NULL;
    struct clf_graph *g = NULL;
    *calibrate = clf_encoder_calibrate(enc, tx, NULL);
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, tx, NULL, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    out = test_read_all(y);
    struct ref_weights *rw = ref_weights_read(enc);
    ck_assert_int_eq(ref_encoder_forward(rw, batch, seq, x, NULL, ref), 0);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)out[i] - ref[i];
        num += e * e;
        den += ref[i] * ref[i];
    }
    ref_weights_free(rw);
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    free(x), free(out), free(ref);
    return isnan(num) ? INFINITY : sqrt(num / den);
}

/* Sets in c the quantisation option what, "KEY VALUE" as clformer run
 * spells it (--KEY VALUE): kv, attn-quant, linear, precision, ffn-act. */
static void apply_mode(struct clf_encoder_config *c, const char *what)
{
    struct clf_ctx *ctx = test_ctx();
    const char *val = strchr(what, ' ') + 1;
    char key[32], msg[128];
    snprintf(key, sizeof key, "%.*s", (int)(val - 1 - what), what);
    if (!strcmp(key, "kv")) {
        c->kv = strstr(val, "channel") ? CLF_KV_INT8_CHANNEL : CLF_KV_INT8_TOKEN;
        c->attn_q_int8 = strstr(val, ",q") != NULL;
    }
    else if (!strcmp(key, "attn-quant"))
        c->attn_p = strstr(val, "log") ? CLF_P_LOG : CLF_P_F16;
    else if (!strcmp(key, "linear"))
        c->linear_int8 = true;
    else if (!strcmp(key, "precision"))
        c->precision = strcmp(val, "f16") ? CLF_PRECISION_BF16 : CLF_PRECISION_F16;
    else
        ck_assert_ok(ctx, clf_actq_parse(val, &c->ffn_act, msg, sizeof msg));
}

/*
 * The quantisation modes wired into the encoder. Each op is tested exactly
 * against a reference applying the same rounding in its own suite
 * (test-quant, test-gemm-q8, test-attention-quant, test-actq); here each
 * mode must (a) change the output (error above fp32 rounding: the mode is
 * applied, not ignored) and (b) stay within the error its quantisation
 * step allows. Bounds: 8-bit symmetric codes carry a relative error of at
 * most 1/(2·127) per element (~0.4 %), less in the mean (~0.23 % rms for a
 * uniform rounding error); through a post-LN layer (LayerNorm renormalises)
 * these stay of that order, so 2e-2 covers int8 K/V, fp16 P (2^-11),
 * int8 linear layers and linear weights in f16 (2^-11) or bf16 (2^-8, as
 * int8's step) with margin. Coarser quantisers (4-bit LSQ: step ~ a
 * tenth of the range; log:4 weights: factor-√2 levels; binarisation:
 * ~60 % per activation) get bounds from their own step: 0.3 for 4-bit and
 * log P, 1.0 for binarisation (which keeps only signs, but the residual
 * path and LayerNorm keep the output from collapsing). Unsigned LSQ (PACT)
 * also clips GELU's negative lobe (down to −0.17) and the top 0.1 %: a
 * clipping error of a few per cent whatever the bits, hence 0.3 too.
 */
START_TEST(test_quantised_modes)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config base = small_config(1, false, CLF_ACT_GELU);
    static const struct {
        const char *what;
        double bound;
    } modes[] = {{"kv int8", 2e-2},        {"kv int8:channel", 2e-2}, {"kv int8,q", 2e-2},
                 {"kv int8:channel,q", 2e-2}, {"attn-quant f16", 2e-2},
                 {"attn-quant log:4", 0.3}, {"linear int8", 2e-2},
                 {"precision f16", 2e-2},   {"precision bf16", 2e-2},
                 {"ffn-act lsq:8,signed", 2e-2}, {"ffn-act lsq:4,signed", 0.3},
                 {"ffn-act lsq:4", 0.3}, {"ffn-act pwl:4", 0.3}, {"ffn-act binary", 1.0}};
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        struct clf_encoder_config c = base;
        if (!strncmp(modes[i].what, "precision", 9) && info.type != CLF_DEVICE_CPU)
            continue; /* CPU devices only: test_precision checks the refusal */
        apply_mode(&c, modes[i].what);
        struct clf_encoder *enc = NULL;
        ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
        enum clf_status cal;
        double rel = quantised_error(enc, 2, 16, &cal);
        ck_assert_ok(ctx, cal);
        printf("encoder with %s: rel error against exact %.3e (bound %.1e)\n", modes[i].what,
               rel, modes[i].bound);
        ck_assert_msg(rel > 1e-6 && rel <= modes[i].bound, "%s: error %g outside (1e-6, %g]",
                      modes[i].what, rel, modes[i].bound);
        clf_encoder_destroy(enc);
    }

    /* uncalibrated quantisers: forward refuses, calibrate fixes it */
    struct clf_encoder_config c = base;
    char msg[128];
    ck_assert_ok(ctx, clf_actq_parse("lsq:4", &c.ffn_act, msg, sizeof msg));
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, 3, &enc));
    int64_t xs[3] = {1, 5, c.d_model};
    struct clf_tensor *x = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_encoder_forward(enc, g, x, NULL, &y), CLF_E_STATE);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    float zeros[5 * 48] = {0};
    ck_assert_ok(ctx, clf_tensor_write(x, zeros, sizeof zeros));
    ck_assert_ok(ctx, clf_encoder_calibrate(enc, x, NULL));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, x, NULL, &y));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);

    /* the step from the weights file: equal to giving it in the configuration */
    char *dir = test_make_tmpdir("actq"), path[4200];
    struct file_weights fw = {0};
    layer_weights(&fw, "", c.d_model, c.d_ff);
    add_weight(&fw, "ffn_act.step", 1, 0, 0.3);
    const float step = fw.e[fw.n - 1].data[0];
    snprintf(path, sizeof path, "%s/actq.safetensors", dir);
    test_write_safetensors(path, fw.e, fw.n);
    c = base;
    ck_assert_ok(ctx, clf_actq_parse("lsq:4,signed", &c.ffn_act, msg, sizeof msg));
    float *outs[2];
    for (int i = 0; i < 2; i++) {
        c.ffn_act.step = i ? step : 0; /* 0: from the file */
        ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &enc));
        int64_t s3[3] = {1, 7, c.d_model};
        float xin[7 * 48];
        for (int k = 0; k < 7 * 48; k++)
            xin[k] = (float)sin(k);
        outs[i] = forward_host(enc, s3, xin); /* no calibration needed */
        clf_encoder_destroy(enc);
    }
    ck_assert_mem_eq(outs[0], outs[1], 7 * 48 * sizeof(float));
    free(outs[0]), free(outs[1]);
    ((float *)fw.e[fw.n - 1].data)[0] = -1; /* a bad value in the file */
    test_write_safetensors(path, fw.e, fw.n);
    c.ffn_act.step = 0;
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "ffn_act.step"));
    free_weights(&fw);
    test_remove_dir(dir);
    free(dir);

    /* configurations that cannot work */
    c = base;
    c.kv = CLF_KV_INT8_TOKEN;
    ck_assert_ok(ctx, clf_attention_variant_parse("topk:4", &c.attn, msg, sizeof msg));
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_UNSUPPORTED);
    c = base;
    c.attn_p = CLF_P_LOG;
    c.attn_p_bits = 9;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = base;
    c.kv = (enum clf_kv_format)7;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = base; /* int8 queries with f32 K and V */
    c.attn_q_int8 = true;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(enc);
}
END_TEST

/*
 * Batch independence, for every quantisation option (and none): a
 * sequence of 8 tokens gives bitwise the same output rows run alone and
 * run as item 1 of 3 between batch-mates 3x and 0.1x its magnitude, the
 * batch of its length or (a server's batch of texts) of 11 tokens, the
 * sequence then padded with 3 tokens 50x its magnitude. Every scale spans
 * one token or one sequence's unpadded tokens (K/V per channel: per
 * sequence and channel), the GEMMs and row ops never mix rows, each
 * sequence's attention reads only its own keys (padded ones weigh exactly
 * 0), and the kernels add in an order that does not depend on the batch,
 * so nothing of the batch-mates or the padding can reach the sequence's
 * rows. The calibrated quantisers are calibrated once, before both runs
 * (calibration prepares the model, as loading its weights does); the
 * exact attention's implementation is pinned (auto measures per size
 * class, and fused and GEMM differ in their last bits). Two layers, so a
 * first layer's scales feed the second's.
 */
START_TEST(test_batch_independence)
{
    struct clf_ctx *ctx = test_ctx();
    static const char *modes[] = {
        "kv f32",          "kv int8",           "kv int8:channel",      "kv int8,q",
        "kv int8:channel,q", "attn-quant f16",
        "attn-quant log:4", "linear int8",      "precision f16",        "precision bf16",
        "ffn-act binary",  "ffn-act binary:0.5", "ffn-act lsq:4,signed", "ffn-act pact:4",
        "ffn-act pwl:4",   "ffn-act steps:-0.2/0.3:-1/0/1"};
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    const int64_t len = 8, d = 48, n = len * d;
    float *one = malloc((size_t)n * sizeof *one);
    test_fill_uniform(one, (size_t)n, -1, 1);
    for (int padded = 0; padded < 2; padded++) {
        const int64_t seq = padded ? len + 3 : len, m = seq * d;
        float *x = malloc(3 * (size_t)m * sizeof *x);
        int32_t *pad = calloc(3 * (size_t)seq, sizeof *pad);
        test_fill_uniform(x, 3 * (size_t)m, -1, 1);
        for (int64_t i = 0; i < m; i++) {
            x[i] *= 3.0f;         /* item 0: 3x */
            x[m + i] *= 50.0f;    /* item 1: its padding 50x */
            x[2 * m + i] *= 0.1f; /* item 2: 0.1x */
        }
        memcpy(x + m, one, (size_t)n * sizeof *x);
        for (int64_t j = len; j < seq; j++)
            pad[seq + j] = 1;
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
            if (!strncmp(modes[i], "precision", 9) && info.type != CLF_DEVICE_CPU)
                continue; /* CPU devices only */
            struct clf_encoder_config c = small_config(2, false, CLF_ACT_GELU);
            c.attn_impl = CLF_ATTN_FUSED;
            if (strcmp(modes[i], "kv f32"))
                apply_mode(&c, modes[i]);
            struct clf_encoder *enc = NULL;
            ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
            const int64_t s1[3] = {1, len, d}, s3[3] = {3, seq, d};
            struct clf_tensor *cal = test_upload(3, s1, one);
            ck_assert_ok(ctx, clf_encoder_calibrate(enc, cal, NULL)); /* a no-op for most */
            clf_tensor_destroy(cal);
            float *alone = forward_padded(enc, s1, one, NULL);
            float *batch = forward_padded(enc, s3, x, padded ? pad : NULL);
            double most = 0;
            for (int64_t j = 0; j < n; j++)
                most = fmax(most, fabs((double)alone[j] - batch[m + j]));
            printf("batch independence%s, %s: largest difference %.3e\n",
                   padded ? " (padded)" : "", modes[i], most);
            ck_assert_msg(!memcmp(alone, batch + m, (size_t)n * sizeof *alone),
                          "%s%s: the sequence's rows differ in a batch (largest difference %g)",
                          modes[i], padded ? " (padded)" : "", most);
            free(alone), free(batch);
            clf_encoder_destroy(enc);
        }
        free(x), free(pad);
    }
    free(one);
}
END_TEST

/*
 * Low-rank FFN weights. Exact cases: at full rank (min(d_model, d_ff))
 * the factors reproduce W to fp32 rounding, so the layer equals the dense
 * reference; the randomised SVD with r + p >= min(d_model, d_ff) samples the
 * whole range and equals the truncated SVD. Truncated cases: against the
 * reference with W1, W2 replaced by their rank-r truncations (double SVD,
 * one rounding to float). The error-target form picks the smallest rank
 * whose Eckart–Young tail meets eps. Saving and loading the factors gives a
 * bitwise-equal forward pass.
 */
START_TEST(test_ffn_lowrank)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = small_config(2, false, CLF_ACT_GELU);
    char msg[128];
    struct clf_encoder *enc = NULL;
    static const struct {
        const char *spec;
        int64_t ref_rank; /* 0: exact */
    } cases[] = {{"svd:48", 0}, {"svd:100", 0}, {"rsvd:48,q:0", 0}, {"svd:7", 7},
                 {"rsvd:7,p:41,q:0", 7}, {"rsvd:7,p:5,q:2", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ok(ctx, clf_ffn_factor_parse(cases[i].spec, &c.ffn, msg, sizeof msg));
        ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
        if (cases[i].ref_rank >= 0) {
            ref_ffn_rank = cases[i].ref_rank;
            check_against_reference(enc, 2, 9, i % 2, false);
            ref_ffn_rank = 0;
        } else { /* q = 2 power iterations: close to the truncation, not equal */
            enum clf_status cal;
            double rel = quantised_error(enc, 2, 9, &cal);
            printf("encoder with ffn %s: rel error against dense %.3e\n", cases[i].spec, rel);
            ck_assert(rel > 1e-5 && rel < 1.0);
        }
        clf_encoder_destroy(enc);
    }

    /* eps: the smallest rank meeting the target, read back from a saved file */
    char *dir = test_make_tmpdir("ffn"), path[4200];
    snprintf(path, sizeof path, "%s/ffn.safetensors", dir);
    ck_assert_ok(ctx, clf_ffn_factor_parse("svd:eps=0.3", &c.ffn, msg, sizeof msg));
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, 5, &enc));
    ck_assert_ok(ctx, clf_encoder_save(enc, path));
    struct clf_safetensors *st = test_open_safetensors(path);
    int nd = 0;
    int64_t shape[CLF_MAX_DIMS];
    ck_assert_status_msg(clf_safetensors_last_error(st),
                         clf_safetensors_shape(st, "layers.1.linear2.lowrank.left", &nd, shape,
                                               NULL),
                         CLF_OK);
    clf_safetensors_close(st);
    {
        const int64_t m = c.d_model, n = c.d_ff, k = m;
        float *w = malloc((size_t)(m * n) * sizeof *w);
        double *a = malloc((size_t)(m * n) * sizeof *a), *sv = malloc((size_t)k * sizeof *sv);
        ck_assert_ok(ctx, clf_encoder_read_weight(enc, 1, "linear2.weight", w, (size_t)(m * n)));
        for (int64_t i = 0; i < m * n; i++)
            a[i] = w[i];
        ck_assert_int_eq(clf_svd(NULL, a, m, n, NULL, sv, NULL), CLF_OK);
        int64_t want = clf_svd_rank_for_error(sv, k, 0.3);
        printf("svd:eps=0.3 on linear2 [48, 80]: rank %lld (expected %lld)\n",
               (long long)shape[1], (long long)want);
        ck_assert_int_eq(shape[1], want);
        ck_assert(want > 1 && want < k);
        struct clf_ffn_stats fs;
        ck_assert_ok(ctx, clf_encoder_ffn_stats(enc, 1, &fs));
        ck_assert_int_eq(fs.rank[1], want);
        ck_assert(fabs(fs.rel_error[1] - clf_svd_tail_error(sv, k, want)) < 1e-12);
        ck_assert(fs.rel_error[1] <= 0.3 && fs.rel_error[0] <= 0.3);
        ck_assert_int_eq(fs.params, (fs.rank[0] + fs.rank[1]) * (m + n));
        ck_assert(fs.flops_per_token == 2.0 * (double)fs.params);
        ck_assert_int_eq(fs.dense_params, 2 * m * n);
        ck_assert_status(ctx, clf_encoder_ffn_stats(enc, 2, &fs), CLF_E_INVALID_ARG);
        free(w), free(a), free(sv);
    }

    /* the saved factors load without factorising: the same forward, bit for bit */
    int64_t xs[3] = {1, 6, c.d_model};
    float xin[6 * 48];
    for (int i = 0; i < 6 * 48; i++)
        xin[i] = (float)cos(i);
    float *outs[2];
    struct clf_encoder *encs[2] = {enc, NULL};
    c.ffn.rank = 0; /* from the file */
    ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &encs[1]));
    for (int i = 0; i < 2; i++)
        outs[i] = forward_host(encs[i], xs, xin);
    ck_assert_mem_eq(outs[0], outs[1], sizeof xin);
    free(outs[0]), free(outs[1]);
    struct clf_ffn_stats loaded;
    ck_assert_ok(ctx, clf_encoder_ffn_stats(encs[1], 1, &loaded));
    ck_assert(isnan(loaded.rel_error[1]) && loaded.rank[1] == shape[1]); /* not measured */
    clf_encoder_destroy(encs[1]);
    clf_encoder_destroy(enc);
    c.ffn.rank = shape[1] + 1; /* disagrees with the file */
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, path, &enc), CLF_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "lowrank"));
    test_remove_dir(dir);
    free(dir);

    /* Tensor-Train: full ranks (tiny eps) reproduce W; capped ranks against
     * the reference holding the saved cores' reconstruction; then the file
     * loads back to the same forward pass */
    dir = test_make_tmpdir("tt");
    snprintf(path, sizeof path, "%s/tt.safetensors", dir);
    const char *tts[] = {"tt:eps=1e-9", "tt:3", "tt:2,d:2"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ok(ctx, clf_ffn_factor_parse(tts[i], &c.ffn, msg, sizeof msg));
        ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
        ck_assert_ok(ctx, clf_encoder_save(enc, path));
        if (i) /* exact at full ranks: the plain reference */
            ref_tt_file = path;
        check_against_reference(enc, 2, 9, true, false);
        ref_tt_file = NULL;
        ck_assert_ok(ctx, clf_encoder_load(ctx, &c, path, &encs[1]));
        encs[0] = enc;
        for (int e = 0; e < 2; e++)
            outs[e] = forward_host(encs[e], xs, xin);
        ck_assert_mem_eq(outs[0], outs[1], sizeof xin);
        free(outs[0]), free(outs[1]);
        clf_encoder_destroy(encs[1]);
        clf_encoder_destroy(enc);
    }
    test_remove_dir(dir);
    free(dir);

    /* the grammar */
    struct clf_ffn_factor f;
    char buf[64];
    ck_assert_ok(ctx, clf_ffn_factor_parse("rsvd:32", &f, msg, sizeof msg));
    ck_assert(f.format == CLF_FFN_RSVD && f.rank == 32 && f.oversample == 10 && f.power_iters == 1);
    clf_ffn_factor_str(&f, buf, sizeof buf);
    ck_assert_str_eq(buf, "rsvd:32,p:10,q:1");
    ck_assert_ok(ctx, clf_ffn_factor_parse("tt:eps=0.01,d:4", &f, msg, sizeof msg));
    clf_ffn_factor_str(&f, buf, sizeof buf);
    ck_assert_str_eq(buf, "tt:eps=0.01,d:4");
    const char *bad[] = {"", "svd", "svd:0", "svd:eps=0", "svd:eps=1", "svd:eps=x", "dense:3",
                         "svd:8,p:3", "rsvd:8,d:3", "tt:4,d:1", "tt:4,d:7", "rsvd:8,p:-1",
                         "lowrank:8", "tt:4,d:3,d:3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(clf_ffn_factor_parse(bad[i], &f, msg, sizeof msg) == CLF_E_INVALID_ARG &&
                          msg[0],
                      "'%s' accepted", bad[i]);
}
END_TEST

/* drop_dense frees the f32 weights a prepared form replaces: the forward
 * pass is bitwise the same, the device holds less, and the dropped weights
 * can be neither read nor saved. */
START_TEST(test_drop_dense)
{
    struct clf_ctx *ctx = test_ctx();
    char msg[128];
    const char *what[] = {"ffn svd:8", "linear int8", "ffn tt:2 + attn svd:4"};
    for (int m = 0; m < 3; m++) {
        struct clf_encoder_config c = small_config(2, false, CLF_ACT_GELU);
        if (m == 0)
            ck_assert_ok(ctx, clf_ffn_factor_parse("svd:8", &c.ffn, msg, sizeof msg));
        if (m == 1)
            c.linear_int8 = true;
        if (m == 2) {
            ck_assert_ok(ctx, clf_ffn_factor_parse("tt:2", &c.ffn, msg, sizeof msg));
            ck_assert_ok(ctx, clf_attention_variant_parse("svd:4", &c.attn, msg, sizeof msg));
        }
        int64_t xs[3] = {2, 7, c.d_model};
        float xin[2 * 7 * 48];
        for (int i = 0; i < 2 * 7 * 48; i++)
            xin[i] = (float)sin(0.7 * i);
        float *outs[2];
        uint64_t live[2];
        for (int drop = 0; drop < 2; drop++) {
            struct clf_ctx_stats s0, s1;
            clf_ctx_trim(ctx);
            clf_ctx_stats(ctx, &s0);
            c.drop_dense = drop;
            struct clf_encoder *enc = NULL;
            ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, 77, &enc));
            clf_ctx_stats(ctx, &s1);
            live[drop] = s1.pool_bytes_live - s0.pool_bytes_live;
            outs[drop] = forward_host(enc, xs, xin);
            float w[80 * 48];
            enum clf_status want = drop ? CLF_E_STATE : CLF_OK;
            ck_assert_status(ctx, clf_encoder_read_weight(enc, 1, "linear1.weight", w, 80 * 48),
                             want);
            ck_assert_ok(ctx, clf_encoder_read_weight(enc, 1, "linear1.bias", w, 80));
            if (drop) {
                char *dir = test_make_tmpdir("drop"), path[4200];
                snprintf(path, sizeof path, "%s/e.safetensors", dir);
                ck_assert_status(ctx, clf_encoder_save(enc, path), CLF_E_STATE);
                test_remove_dir(dir);
                free(dir);
            }
            clf_encoder_destroy(enc);
        }
        printf("drop_dense, %s: weights %llu -> %llu device bytes\n", what[m],
               (unsigned long long)live[0], (unsigned long long)live[1]);
        ck_assert_mem_eq(outs[0], outs[1], sizeof xin);
        ck_assert(live[1] < live[0]);
        free(outs[0]), free(outs[1]);
    }
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = small_config(1, false, CLF_ACT_RELU);
    struct clf_encoder *enc = NULL;
    c.heads = 5; /* does not divide 48 */
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = small_config(1, false, CLF_ACT_NONE);
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = small_config(0, false, CLF_ACT_RELU);
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = small_config(1, false, CLF_ACT_RELU);
    c.eps = 0;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, &enc), CLF_E_INVALID_ARG);
    c = small_config(1, false, CLF_ACT_RELU);
    ck_assert_status(ctx, clf_encoder_create_random(ctx, NULL, 1, &enc), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_create_random(NULL, &c, 1, &enc), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &c, 1, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_encoder_load(ctx, &c, NULL, &enc), CLF_E_INVALID_ARG);

    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, 1, &enc));
    float w[48];
    ck_assert_status(ctx, clf_encoder_read_weight(enc, 1, "norm1.weight", w, 48),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_encoder_read_weight(enc, 0, "norm3.weight", w, 48), CLF_E_FORMAT);
    ck_assert_status(ctx, clf_encoder_read_weight(enc, -1, "norm.weight", w, 48), CLF_E_FORMAT);
    ck_assert_status(ctx, clf_encoder_read_weight(enc, 0, "norm1.weight", w, 47), CLF_E_SHAPE);

    struct clf_graph *g = NULL;
    struct clf_tensor *x = NULL, *pad = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    int64_t bad[3] = {1, 4, 47}, good[3] = {1, 4, 48}, ps[2] = {1, 5};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, bad, &x));
    ck_assert_status(ctx, clf_encoder_forward(enc, g, x, NULL, &y), CLF_E_SHAPE);
    clf_tensor_destroy(x);
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, good, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &pad));
    ck_assert_status(ctx, clf_encoder_forward(enc, g, x, pad, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_encoder_forward(enc, g, x, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_forward(NULL, g, x, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(pad);
    clf_encoder_destroy(enc);
    clf_encoder_destroy(NULL);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("encoder");
    TCase *tc = tcase_create("encoder");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_errors);
    tcase_add_loop_test(tc, test_random_layers, 0, 8);
    tcase_add_test(tc, test_longer_sequence);
    tcase_add_test(tc, test_weights_from_files);
    tcase_add_test(tc, test_svd_attention);
    tcase_add_test(tc, test_quantised_modes);
    tcase_add_test(tc, test_batch_independence);
    tcase_add_test(tc, test_precision);
    tcase_add_test(tc, test_ffn_lowrank);
    tcase_add_test(tc, test_drop_dense);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
