/*
 * For test/oclgrind.sh: the kernels that no command launches, through the
 * public API on the default device, on one tiny shape x [2, 7, 10] (no size
 * a multiple of a work-group):
 *  - positional encodings (cl/posenc.cl): x plus the sinusoidal table of 9
 *    rows, then plus its rank-3 factorisation U·V, both compared with the
 *    host's sums (exits 1 on a difference beyond f32 rounding);
 *  - element-wise ops (mul, scale), copies of i8 and f16 tensors, the
 *    stand-alone bias add and activation, softmax (on x, and on a
 *    transposed view) and LayerNorm on that view (a row per work-item on
 *    CPU devices: the vectorised row kernels need contiguous rows), the
 *    embedding gather, and affine
 *    quantisation per column with its dequantisation, and attention with
 *    int8 queries, K and V (q_int8: the integer scores; x as q [2, 1, 7,
 *    10], head_dim 10 ending in a partial word of 4 codes). Only their
 *    status is checked: the suites check their values, this checks their
 *    accesses.
 * Exits 1 on an error.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <clformer.h>

enum { B = 2, S = 7, D = 10, L = 9, R = 3 };

static float x_host[B * S * D];

/* |got - want| within a few f32 roundings of the terms' magnitude */
static int compare(const float *got, const double *want, const double *mag, const char *what)
{
    for (int i = 0; i < B * S * D; i++)
        if (fabs(got[i] - want[i]) > 8 * 0x1p-24 * (mag[i] + 1e-30)) {
            fprintf(stderr, "oclgrind-ops: %s[%d] = %.9g, host %.9g\n", what, i, got[i],
                    want[i]);
            return 1;
        }
    return 0;
}

/* The ops of the second list, recorded into g (their outputs graph-owned;
 * the inputs, which are not, are put in in[]). */
static enum clf_status more_ops(struct clf_ctx *ctx, struct clf_graph *g, struct clf_tensor *x,
                                struct clf_tensor **in)
{
    static const float bias[D] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10};
    static const int32_t ids[S] = {3, 0, 8, 8, 1, 5, 2}, small_ids[3] = {6, 0, 2};
    static uint16_t half[S * D];
    const int64_t d1[1] = {D}, t_shape[2] = {S, D}, t_strides[2] = {1, S}, ids_shape[1] = {S},
                  table_shape[2] = {L, D}, half_shape[2] = {S, D};
    for (int i = 0; i < S * D; i++)
        half[i] = clf_f32_to_f16((float)i / 8);
    struct clf_tensor *t, *out;
    struct clf_quant_params qp = clf_quant_params_default();
    qp.scheme = CLF_QUANT_AFFINE;
    qp.axis = CLF_QUANT_COLUMN;
    struct clf_tensor *q, *scale, *zero;
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, 1, d1, &in[0]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[0], bias, sizeof bias);
    if (st == CLF_OK) /* x's storage as [S, D] with column-major strides */
        st = clf_tensor_view(x, 2, t_shape, t_strides, 0, &in[1]);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 1, ids_shape, &in[2]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[2], ids, sizeof ids);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 2, table_shape, &in[3]);
    if (st == CLF_OK) /* any values: the first L * D of x */
        st = clf_tensor_write(in[3], x_host, L * D * sizeof(float));
    const int64_t small_shape[1] = {3};
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 1, small_shape, &in[5]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[5], small_ids, sizeof small_ids);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F16, 2, half_shape, &in[4]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[4], half, sizeof half);
    if (st == CLF_OK)
        st = clf_op_mul(g, x, x, &t);
    if (st == CLF_OK)
        st = clf_op_scale(g, t, 0.5f, 1.0f, &out);
    if (st == CLF_OK)
        st = clf_op_bias_add(g, in[1], in[0], &t);
    if (st == CLF_OK)
        st = clf_op_act(g, t, CLF_ACT_GELU, &out);
    if (st == CLF_OK)
        st = clf_op_softmax(g, in[1], &out);
    if (st == CLF_OK) /* contiguous rows: the vectorised kernel on CPU devices */
        st = clf_op_softmax(g, x, &out);
    if (st == CLF_OK)
        st = clf_op_layernorm(g, in[1], NULL, NULL, 1e-5f, &out);
    if (st == CLF_OK) /* rows contiguous: a work-item per row (embedding_rows) */
        st = clf_op_embedding(g, in[3], in[2], &out);
    if (st == CLF_OK) /* x's column-major [S, D] view: strided rows, a work-item per
                         element (embedding_gather) */
        st = clf_op_embedding(g, in[1], in[5], &out);
    if (st == CLF_OK)
        st = clf_op_quantize(g, x, &qp, &q, &scale, &zero);
    if (st == CLF_OK)
        st = clf_op_dequantize(g, q, scale, zero, &qp, &out);
    if (st == CLF_OK)
        st = clf_op_copy(g, q, &out);
    if (st == CLF_OK)
        st = clf_op_copy(g, in[4], &out);
    /* attention, q_int8: q a view of x [B, 1, S, D]; K and V the same codes
     * [B, 1, S, D] (any values), scales per token [B, 1, S] */
    static int8_t codes[B * S * D];
    static float scales[B * S];
    for (int i = 0; i < B * S * D; i++)
        codes[i] = (int8_t)((i * 37) % 255 - 127);
    for (int i = 0; i < B * S; i++)
        scales[i] = 0.01f * (float)(i + 1);
    const int64_t h4[4] = {B, 1, S, D}, h4s[4] = {S * D, S * D, D, 1}, h3[3] = {B, 1, S};
    if (st == CLF_OK)
        st = clf_tensor_view(x, 4, h4, h4s, 0, &in[6]);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I8, 4, h4, &in[7]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[7], codes, sizeof codes);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, h3, &in[8]);
    if (st == CLF_OK)
        st = clf_tensor_write(in[8], scales, sizeof scales);
    struct clf_attention_quant_params ap = clf_attention_quant_params_default();
    ap.q_int8 = true;
    if (st == CLF_OK)
        st = clf_op_attention_quant(g, in[6], in[7], in[8], in[7], in[8], &ap, &out);
    return st;
}

int main(void)
{
    float *x = x_host;
    static float pe[L * D], u[L * R], v[R * D], y_add[B * S * D],
        y_low[B * S * D];
    for (int i = 0; i < B * S * D; i++)
        x[i] = (float)((i * 37 % 101) / 50.0 - 1.0);

    struct clf_ctx *ctx = NULL;
    struct clf_tensor *tx = NULL, *table = NULL, *tu = NULL, *tv = NULL, *add = NULL,
                      *low = NULL;
    struct clf_tensor *in[9] = {NULL};
    struct clf_graph *g = NULL;
    const int64_t shape[3] = {B, S, D};
    enum clf_status st = clf_ctx_create(NULL, &ctx);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, shape, &tx);
    if (st == CLF_OK)
        st = clf_tensor_write(tx, x, sizeof x_host);
    if (st == CLF_OK)
        st = clf_posenc_sinusoidal(ctx, L, D, &table);
    if (st == CLF_OK)
        st = clf_posenc_factorize(ctx, table, R, &tu, &tv, NULL);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_op_posenc_add(g, tx, table, &add);
    if (st == CLF_OK)
        st = clf_op_posenc_add_lowrank(g, tx, tu, tv, &low);
    if (st == CLF_OK)
        st = more_ops(ctx, g, tx, in);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(add, y_add, sizeof y_add);
    if (st == CLF_OK)
        st = clf_tensor_read(low, y_low, sizeof y_low);
    if (st == CLF_OK)
        st = clf_tensor_read(table, pe, sizeof pe);
    if (st == CLF_OK)
        st = clf_tensor_read(tu, u, sizeof u);
    if (st == CLF_OK)
        st = clf_tensor_read(tv, v, sizeof v);
    int rc = 0;
    if (st != CLF_OK) {
        fprintf(stderr, "oclgrind-ops: %s: %s\n", clf_status_str(st),
                ctx ? clf_ctx_last_error(ctx) : "no context");
        rc = 1;
    } else {
        static double want_add[B * S * D], want_low[B * S * D], mag_add[B * S * D],
            mag_low[B * S * D];
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
                for (int j = 0; j < D; j++) {
                    int i = (b * S + s) * D + j;
                    double uv = 0, m = fabs(x[i]);
                    for (int k = 0; k < R; k++) {
                        uv += (double)u[s * R + k] * v[k * D + j];
                        m += fabs((double)u[s * R + k] * v[k * D + j]);
                    }
                    want_add[i] = (double)x[i] + pe[s * D + j];
                    mag_add[i] = fabs(x[i]) + fabs(pe[s * D + j]);
                    want_low[i] = x[i] + uv;
                    mag_low[i] = m;
                }
        rc = compare(y_add, want_add, mag_add, "x + PE") ||
             compare(y_low, want_low, mag_low, "x + U.V");
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(tu);
    clf_tensor_destroy(tv);
    for (int i = 8; i >= 0; i--) /* views before what they view */
        clf_tensor_destroy(in[i]);
    clf_tensor_destroy(tx);
    clf_ctx_destroy(ctx);
    if (rc == 0)
        printf("ops: x + PE and x + U.V match the host's sums; the other ops ran\n");
    return rc;
}
