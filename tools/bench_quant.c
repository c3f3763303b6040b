/*
 * `clformer bench quant`: what each quantisation mode costs and saves on
 * the device, every number measured in the same run:
 *   1. int8 GEMM (activations quantised per token, weights per channel)
 *      against the f32 GEMM of the same shapes: time and error;
 *   2. quantise→dequantise of a K-like matrix [12·512, 64] ~ N(0, 1) in
 *      every scheme: error and bytes;
 *   3. mixed-precision attention (int8 K/V per token or per channel, with
 *      f32 or int8 queries (q_int8: integer scores), fp16 or log-quantised
 *      attention weights) against exact fp32 attention: time, K+V bytes,
 *      error;
 *   4. FFN activation quantisers on GELU(N(0, 1)) activations [512, 1536],
 *      calibrated on those activations: error and time.
 * Errors are relative Frobenius norms ‖y − y_ref‖ / ‖y_ref‖.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

/* N(0, 1) values (Box–Muller on bench_fill's uniforms). */
static void normal_fill(float *x, size_t n, unsigned seed)
{
    float *u = malloc(2 * n * sizeof *u);
    if (!u) {
        memset(x, 0, n * sizeof *x);
        return;
    }
    bench_fill(u, 2 * n, seed);
    for (size_t i = 0; i < n; i++) {
        double a = 0.5 * ((double)u[2 * i] + 1.0), b = 0.5 * ((double)u[2 * i + 1] + 1.0);
        x[i] = (float)(sqrt(-2.0 * log(a > 1e-300 ? a : 1e-300)) * cos(2.0 * M_PI * b));
    }
    free(u);
}

/* Runs g timed, then reads y (count floats) into host: ms or -1. */
static double run_read(struct clf_ctx *ctx, struct clf_graph *g, int runs, struct clf_tensor *y,
                       float *host, size_t count)
{
    double ms = bench_time_graph(ctx, g, runs);
    if (ms >= 0 && clf_tensor_read(y, host, count * sizeof *host) != CLF_OK)
        ms = -1;
    return ms;
}

static void add_row(cJSON *arr, const char *part, const char *mode, double ms, double ref_ms,
                    double err, double bytes, double ref_bytes)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "op", "quant");
    cJSON_AddStringToObject(e, "part", part);
    cJSON_AddStringToObject(e, "mode", mode);
    if (ms >= 0)
        cJSON_AddNumberToObject(e, "ms", ms);
    if (ref_ms > 0)
        cJSON_AddNumberToObject(e, "ref_ms", ref_ms);
    cJSON_AddNumberToObject(e, "rel_error", err);
    if (bytes > 0)
        cJSON_AddNumberToObject(e, "bytes", bytes);
    if (ref_bytes > 0)
        cJSON_AddNumberToObject(e, "ref_bytes", ref_bytes);
    cJSON_AddItemToArray(arr, e);
}

/* 1. int8 GEMM against f32 GEMM: C[M,N] = X[M,K]·W[N,K]ᵀ. */
static int bench_gemm(struct clf_ctx *ctx, const struct bench_opts *o, int64_t m, int64_t n,
                      int64_t k, cJSON *arr)
{
    size_t nx = (size_t)(m * k), nw = (size_t)(n * k), ny = (size_t)(m * n);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
    float *y = malloc(ny * sizeof *y), *y8 = malloc(ny * sizeof *y8);
    struct clf_graph *gw = NULL, *gx = NULL, *g32 = NULL, *g8 = NULL, *g8q = NULL;
    struct clf_tensor *tx = NULL, *tw = NULL, *wq = NULL, *ws = NULL, *wz = NULL, *xq = NULL,
                      *xs = NULL, *xz = NULL, *c32 = NULL, *c8 = NULL, *c8q = NULL, *q2 = NULL,
                      *s2 = NULL, *z2 = NULL;
    int rc = CLI_FAIL;
    if (!x || !w || !y || !y8)
        goto done;
    normal_fill(x, nx, 11);
    bench_fill(w, nw, 12);
    const int64_t xs2[2] = {m, k}, ws2[2] = {n, k};
    struct clf_quant_params qp = clf_quant_params_default();
    struct clf_gemm_params gp = clf_gemm_params_default();
    gp.trans_b = true;
    enum clf_status st = (tx = bench_upload(ctx, 2, xs2, x)) && (tw = bench_upload(ctx, 2, ws2, w))
                             ? CLF_OK
                             : CLF_E_OUT_OF_MEMORY;
    /* weights quantised once; x quantised once for the GEMM-only timing */
    if (st == CLF_OK && (st = clf_graph_create(ctx, &gw)) == CLF_OK &&
        (st = clf_op_quantize(gw, tw, &qp, &wq, &ws, &wz)) == CLF_OK)
        st = clf_graph_run(gw);
    if (st == CLF_OK && (st = clf_graph_create(ctx, &gx)) == CLF_OK &&
        (st = clf_op_quantize(gx, tx, &qp, &xq, &xs, &xz)) == CLF_OK)
        st = clf_graph_run(gx);
    if (st == CLF_OK && (st = clf_graph_create(ctx, &g32)) == CLF_OK)
        st = clf_op_gemm(g32, tx, tw, &gp, &c32);
    if (st == CLF_OK && (st = clf_graph_create(ctx, &g8)) == CLF_OK)
        st = clf_op_gemm_q8(g8, xq, xs, wq, ws, NULL, &c8);
    if (st == CLF_OK && (st = clf_graph_create(ctx, &g8q)) == CLF_OK &&
        (st = clf_op_quantize(g8q, tx, &qp, &q2, &s2, &z2)) == CLF_OK)
        st = clf_op_gemm_q8(g8q, q2, s2, wq, ws, NULL, &c8q);
    double ms32 = st == CLF_OK ? run_read(ctx, g32, o->runs, c32, y, ny) : -1;
    double ms8 = ms32 >= 0 ? run_read(ctx, g8, o->runs, c8, y8, ny) : -1;
    double ms8q = ms8 >= 0 ? run_read(ctx, g8q, o->runs, c8q, y8, ny) : -1;
    if (ms8q < 0) {
        cli_error("gemm %lldx%lldx%lld: %s", (long long)m, (long long)n, (long long)k,
                  clf_ctx_last_error(ctx));
        goto done;
    }
    double err = bench_rel_error(y8, y, ny), flops = 2.0 * (double)m * (double)n * (double)k;
    double b32 = 4.0 * (double)nw, b8 = (double)nw + 4.0 * (double)n;
    char mode[64], b1[32], b2[32];
    snprintf(mode, sizeof mode, "gemm %lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
    if (o->json) {
        add_row(arr, "gemm", mode, ms8, ms32, err, b8, b32);
        cJSON_AddNumberToObject(cJSON_GetArrayItem(arr, cJSON_GetArraySize(arr) - 1),
                                "ms_with_activation_quantisation", ms8q);
    } else {
        printf("%-26s f32 %8.3f ms %6.1f GFLOP/s | int8 %8.3f ms %6.1f GOP/s (%.2fx f32), "
               "with per-token quantisation %8.3f ms (%.2fx) | rel error %.2e | weights %s -> %s\n",
               mode, ms32, flops / (ms32 * 1e6), ms8, flops / (ms8 * 1e6), ms32 / ms8, ms8q,
               ms32 / ms8q, err, cli_bytes((unsigned long long)b32, b1, sizeof b1),
               cli_bytes((unsigned long long)b8, b2, sizeof b2));
    }
    rc = CLI_OK;
done:
    clf_graph_destroy(g8q);
    clf_graph_destroy(g8);
    clf_graph_destroy(g32);
    clf_graph_destroy(gx);
    clf_graph_destroy(gw);
    clf_tensor_destroy(tx);
    clf_tensor_destroy(tw);
    free(x), free(w), free(y), free(y8);
    return rc;
}

/* 2. quantise → dequantise in every scheme on K [rows, 64] ~ N(0, 1). */
static int bench_schemes(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    static const struct {
        enum clf_quant_scheme scheme;
        enum clf_quant_axis axis;
        int bits;
        const char *name;
    } modes[] = {
        {CLF_QUANT_SYMMETRIC, CLF_QUANT_TENSOR, 8, "symmetric int8 per tensor"},
        {CLF_QUANT_SYMMETRIC, CLF_QUANT_ROW, 8, "symmetric int8 per token"},
        {CLF_QUANT_SYMMETRIC, CLF_QUANT_COLUMN, 8, "symmetric int8 per channel"},
        {CLF_QUANT_AFFINE, CLF_QUANT_ROW, 8, "affine int8 per token"},
        {CLF_QUANT_SYMMETRIC, CLF_QUANT_ROW, 4, "symmetric 4-bit per token"},
        {CLF_QUANT_AFFINE, CLF_QUANT_ROW, 4, "affine 4-bit per token"},
        {CLF_QUANT_LOG, CLF_QUANT_ROW, 8, "log 8-bit per token"},
        {CLF_QUANT_LOG, CLF_QUANT_ROW, 4, "log 4-bit per token"},
    };
    const int64_t rows = 12 * 512, cols = 64, shape[2] = {rows, cols};
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    struct clf_tensor *tx = NULL;
    int rc = CLI_OK;
    if (!x || !y || (normal_fill(x, n, 21), !(tx = bench_upload(ctx, 2, shape, x))))
        rc = cli_error("out of memory");
    for (size_t i = 0; rc == CLI_OK && i < sizeof modes / sizeof modes[0]; i++) {
        struct clf_quant_params p = clf_quant_params_default();
        p.scheme = modes[i].scheme;
        p.axis = modes[i].axis;
        p.bits = modes[i].bits;
        struct clf_graph *g = NULL;
        struct clf_tensor *q = NULL, *s = NULL, *z = NULL, *r = NULL;
        enum clf_status st = clf_graph_create(ctx, &g);
        if (st == CLF_OK)
            st = clf_op_quantize(g, tx, &p, &q, &s, &z);
        if (st == CLF_OK)
            st = clf_op_dequantize(g, q, s, z, &p, &r);
        double ms = st == CLF_OK ? run_read(ctx, g, o->runs, r, y, n) : -1;
        if (ms < 0) {
            rc = cli_error("%s: %s", modes[i].name, clf_ctx_last_error(ctx));
        } else {
            double groups = p.axis == CLF_QUANT_TENSOR ? 1 : p.axis == CLF_QUANT_ROW ? rows : cols;
            /* codes stored one per byte; scales (and zero points) 4 bytes each */
            double bytes = (double)n + groups * (p.scheme == CLF_QUANT_AFFINE ? 8 : 4);
            double err = bench_rel_error(y, x, n);
            char b1[32], b2[32];
            if (o->json)
                add_row(arr, "scheme", modes[i].name, ms, -1, err, bytes, 4.0 * (double)n);
            else
                printf("%-30s rel error %.2e | %s -> %s | quantise+dequantise %.3f ms\n",
                       modes[i].name, err, cli_bytes((unsigned long long)(4 * n), b1, sizeof b1),
                       cli_bytes((unsigned long long)bytes, b2, sizeof b2), ms);
        }
        clf_graph_destroy(g);
    }
    clf_tensor_destroy(tx);
    free(x), free(y);
    return rc;
}

/* 3. mixed-precision attention against exact fp32 attention; q, k, v in
 * the encoder's layout [n, 12·64] with heads as views. */
static int bench_attention_quant(struct clf_ctx *ctx, const struct bench_opts *o, int64_t n,
                                 cJSON *arr)
{
    static const struct {
        enum clf_kv_format kv;
        enum clf_p_format p;
        bool q_int8; /* the queries quantised too: integer scores */
        const char *name;
    } modes[] = {
        {CLF_KV_F32, CLF_P_F32, false, "f32 K/V, f32 P"},
        {CLF_KV_INT8_TOKEN, CLF_P_F32, false, "int8 K/V per token"},
        {CLF_KV_INT8_TOKEN, CLF_P_F32, true, "int8 Q, K/V per token"},
        {CLF_KV_INT8_CHANNEL, CLF_P_F32, false, "int8 K/V per channel"},
        {CLF_KV_INT8_CHANNEL, CLF_P_F32, true, "int8 Q, K/V per channel"},
        {CLF_KV_F32, CLF_P_F16, false, "f16 P"},
        {CLF_KV_F32, CLF_P_LOG, false, "log:4 P"},
        {CLF_KV_INT8_TOKEN, CLF_P_F16, false, "int8 K/V per token, f16 P"},
    };
    const int64_t h = 12, hd = 64, d = h * hd, ts[2] = {n, d};
    const int64_t hs[4] = {1, h, n, hd}, hst[4] = {n * d, hd, d, 1};
    const size_t total = (size_t)(n * d);
    float *host = malloc(total * sizeof *host), *exact = malloc(total * sizeof *exact),
          *out = malloc(total * sizeof *out);
    struct clf_tensor *t[3] = {NULL, NULL, NULL}, *views[3] = {NULL, NULL, NULL};
    int rc = CLI_OK;
    for (int i = 0; rc == CLI_OK && i < 3; i++) {
        if (!host || !exact || !out) {
            rc = cli_error("out of memory");
            break;
        }
        normal_fill(host, total, 31 + (unsigned)i);
        if (!(t[i] = bench_upload(ctx, 2, ts, host)) ||
            clf_tensor_view(t[i], 4, hs, hst, 0, &views[i]) != CLF_OK)
            rc = cli_error("attention inputs: %s", clf_ctx_last_error(ctx));
    }
    double exact_ms = -1;
    const double kv32 = 2.0 * 4.0 * (double)total;
    for (int mi = -1; rc == CLI_OK && mi < (int)(sizeof modes / sizeof modes[0]); mi++) {
        struct clf_graph *g = NULL;
        struct clf_tensor *y = NULL, *codes[2] = {views[1], views[2]}, *scales[2] = {NULL, NULL};
        struct clf_tensor *owned[2] = {NULL, NULL}; /* views made here */
        enum clf_status st = clf_graph_create(ctx, &g);
        double kv_bytes = kv32;
        if (mi < 0) { /* exact fp32 attention, the reference */
            struct clf_attention_params ap = clf_attention_params_default();
            ap.impl = CLF_ATTN_FUSED;
            if (st == CLF_OK)
                st = clf_op_attention(g, views[0], views[1], views[2], &ap, &y);
        } else {
            struct clf_attention_quant_params ap = clf_attention_quant_params_default();
            ap.p_format = modes[mi].p;
            ap.p_bits = 4;
            ap.q_int8 = modes[mi].q_int8;
            for (int i = 0; st == CLF_OK && modes[mi].kv != CLF_KV_F32 && i < 2; i++) {
                struct clf_quant_params qp = clf_quant_params_default();
                struct clf_tensor *q = NULL, *s = NULL, *z = NULL;
                if (modes[mi].kv == CLF_KV_INT8_TOKEN) {
                    const int64_t ss[3] = {1, h, n}, sst[3] = {h * n, n, 1};
                    st = clf_op_quantize(g, codes[i], &qp, &codes[i], &s, &z);
                    if (st == CLF_OK)
                        st = clf_tensor_view(s, 3, ss, sst, 0, &scales[i]);
                    ap.kv_axis = CLF_QUANT_ROW;
                    kv_bytes = 2.0 * ((double)total + 4.0 * (double)(h * n));
                } else {
                    const int64_t ss[3] = {1, h, hd}, sst[3] = {0, hd, 1};
                    qp.axis = CLF_QUANT_COLUMN;
                    st = clf_op_quantize(g, t[1 + i], &qp, &q, &s, &z);
                    if (st == CLF_OK)
                        st = clf_tensor_view(q, 4, hs, hst, 0, &codes[i]);
                    if (st == CLF_OK)
                        owned[i] = codes[i];
                    if (st == CLF_OK)
                        st = clf_tensor_view(s, 3, ss, sst, 0, &scales[i]);
                    ap.kv_axis = CLF_QUANT_COLUMN;
                    kv_bytes = 2.0 * ((double)total + 4.0 * (double)d);
                }
            }
            if (st == CLF_OK)
                st = clf_op_attention_quant(g, views[0], codes[0], scales[0], codes[1], scales[1],
                                            &ap, &y);
        }
        double ms = st == CLF_OK ? run_read(ctx, g, o->runs, y, mi < 0 ? exact : out, total) : -1;
        for (int i = 0; i < 2; i++) {
            clf_tensor_destroy(owned[i]);
            clf_tensor_destroy(scales[i]);
        }
        clf_graph_destroy(g);
        const char *name = mi < 0 ? "exact f32 (fused)" : modes[mi].name;
        if (ms < 0) {
            rc = cli_error("attention n %lld, %s: %s", (long long)n, name, clf_ctx_last_error(ctx));
            break;
        }
        if (mi < 0)
            exact_ms = ms;
        /* y is [1, 12, n, 64] dense in both cases */
        double err = mi < 0 ? 0 : bench_rel_error(out, exact, total);
        char label[96], b[32];
        snprintf(label, sizeof label, "attention n %lld, %s", (long long)n, name);
        if (o->json)
            add_row(arr, "attention", label, ms, exact_ms, err, kv_bytes, kv32);
        else
            printf("%-46s %9.3f ms (%.2fx exact) | K+V %s | rel error %.2e\n", label, ms,
                   exact_ms / ms, cli_bytes((unsigned long long)kv_bytes, b, sizeof b), err);
    }
    for (int i = 0; i < 3; i++) {
        clf_tensor_destroy(views[i]);
        clf_tensor_destroy(t[i]);
    }
    free(host), free(exact), free(out);
    return rc;
}

/* 4. FFN activation quantisers on GELU(N(0, 1)) [512, 1536]. */
static int bench_actq(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    /* pact:B is unsigned LSQ with s = α/(2^B − 1): it prints as lsq:B,step:S */
    static const char *specs[] = {"binary", "lsq:4,signed", "lsq:8,signed", "pact:4", "pwl:4",
                                  "steps:-1/0/1:-1.5/-0.5/0.5/1.5"};
    const int64_t shape[2] = {512, 1536};
    const size_t n = 512 * 1536;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    struct clf_tensor *tx = NULL;
    int rc = CLI_OK;
    if (x) {
        normal_fill(x, n, 41);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
    }
    if (!x || !y || !(tx = bench_upload(ctx, 2, shape, x)))
        rc = cli_error("out of memory");
    for (size_t i = 0; rc == CLI_OK && i < sizeof specs / sizeof specs[0]; i++) {
        struct clf_actq q;
        char msg[128], name[128];
        struct clf_graph *g = NULL;
        struct clf_tensor *r = NULL;
        enum clf_status st = clf_actq_parse(specs[i], &q, msg, sizeof msg);
        if (st == CLF_OK)
            st = clf_actq_calibrate(ctx, x, n, &q);
        if (st == CLF_OK)
            st = clf_graph_create(ctx, &g);
        if (st == CLF_OK)
            st = clf_op_actq(g, tx, &q, &r);
        double ms = st == CLF_OK ? run_read(ctx, g, o->runs, r, y, n) : -1;
        clf_graph_destroy(g);
        if (ms < 0) {
            rc = cli_error("ffn-act %s: %s", specs[i], clf_ctx_last_error(ctx));
            break;
        }
        clf_actq_str(&q, name, sizeof name);
        double err = bench_rel_error(y, x, n);
        if (o->json)
            add_row(arr, "ffn-act", name, ms, -1, err, -1, -1);
        else
            printf("ffn-act %-40s rel error %.2e | %.3f ms on GELU(N(0,1)) [512, 1536]\n", name,
                   err, ms);
    }
    clf_tensor_destroy(tx);
    free(x), free(y);
    return rc;
}

int bench_quant(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    static const int64_t shapes[][3] = {{512, 1536, 384}, {512, 384, 1536}};
    int rc = CLI_OK;
    for (int i = 0; rc == CLI_OK && i < 2; i++)
        rc = bench_gemm(ctx, o, shapes[i][0], shapes[i][1], shapes[i][2], arr);
    if (rc == CLI_OK)
        rc = bench_schemes(ctx, o, arr);
    static const int64_t ns[] = {512, 2048};
    for (int i = 0; rc == CLI_OK && i < (o->seq ? 1 : 2); i++)
        rc = bench_attention_quant(ctx, o, o->seq ? o->seq : ns[i], arr);
    if (rc == CLI_OK)
        rc = bench_actq(ctx, o, arr);
    return rc;
}
