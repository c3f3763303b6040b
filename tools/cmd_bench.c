/*
 * `clformer bench`: times ops on the device against a CPU baseline measured
 * in the same run (OpenBLAS for GEMM when built with it, a plain C loop for
 * the row ops), after warm-up, as medians of many runs.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef CLF_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "baseline.h"
#include "bench.h"
#include "cli.h"
#include "plot_svg.h"

static void pause_for_openblas(void)
{
    /* OpenBLAS's idle workers spin for a while after a call and would slow
     * the device measured next in this process */
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

void bench_fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) { /* xorshift, values in [-1, 1) */
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        x[i] = (float)((double)seed / 2147483648.0 - 1.0);
    }
}

double bench_rel_error(const float *y, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)y[i] - ref[i];
        num += e * e;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double bench_time_graph(struct clf_ctx *ctx, struct clf_graph *g, int runs)
{
    (void)ctx;
    double *t = malloc((size_t)runs * sizeof *t);
    double start = cli_now_ms();
    for (int w = 0; w < 2 || cli_now_ms() - start < 300; w++)
        if (clf_graph_run(g) != CLF_OK) {
            free(t);
            return -1;
        }
    for (int r = 0; r < runs; r++) {
        double t0 = cli_now_ms();
        if (clf_graph_run(g) != CLF_OK) {
            free(t);
            return -1;
        }
        t[r] = cli_now_ms() - t0;
    }
    double m = cli_median(t, runs);
    free(t);
    return m;
}

struct clf_tensor *bench_upload(struct clf_ctx *ctx, int nd, const int64_t *shape,
                                const float *x)
{
    struct clf_tensor *t = NULL;
    if (clf_tensor_create(ctx, CLF_F32, nd, shape, &t) != CLF_OK)
        return NULL;
    if (clf_tensor_write(t, x, (size_t)clf_tensor_numel(t) * sizeof *x) != CLF_OK) {
        clf_tensor_destroy(t);
        return NULL;
    }
    return t;
}

/* One GEMM shape: C[M,N] = A[M,K] · W[N,K]ᵀ (W as nn.Linear weights). */
static int bench_gemm_shape(struct clf_ctx *ctx, const struct bench_opts *o, int64_t m,
                            int64_t n, int64_t k, cJSON *arr)
{
    size_t na = (size_t)(m * k), nb = (size_t)(n * k), nc = (size_t)(m * n);
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    float *ref = malloc(nc * sizeof *ref);
    int rc = CLI_FAIL;
    struct clf_tensor *ta = NULL, *tb = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    bench_fill(a, na, 1);
    bench_fill(b, nb, 2);
    int64_t as[2] = {m, k}, bs[2] = {n, k};
    ta = bench_upload(ctx, 2, as, a);
    tb = bench_upload(ctx, 2, bs, b);
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_b = true;
    p.provider = o->provider;
    if (!ta || !tb || clf_graph_create(ctx, &g) != CLF_OK ||
        clf_op_gemm(g, ta, tb, &p, &y) != CLF_OK) {
        cli_error("gemm setup failed: %s", clf_ctx_last_error(ctx));
        goto done;
    }
    double ms = bench_time_graph(ctx, g, o->runs);
    if (ms < 0 || clf_tensor_read(y, c, nc * sizeof *c) != CLF_OK) {
        cli_error("gemm failed: %s", clf_ctx_last_error(ctx));
        goto done;
    }
    double gflops = 2.0 * (double)m * (double)n * (double)k / (ms * 1e6);
    struct clf_node_info chosen = {.size = sizeof chosen};
    clf_graph_node_info(g, 0, &chosen);

    /* baseline, and the error against it relative to the largest |C| */
    double base_ms = -1, base_gflops = 0, err = 0, cmax = 0;
#ifdef CLF_HAVE_OPENBLAS
    double *t = malloc((size_t)o->runs * sizeof *t);
    for (int r = -2; r < o->runs; r++) {
        double t0 = cli_now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)k, b, (int)k, 0.0f, ref, (int)n);
        if (r >= 0)
            t[r] = cli_now_ms() - t0;
    }
    base_ms = cli_median(t, o->runs);
    free(t);
    pause_for_openblas();
    base_gflops = 2.0 * (double)m * (double)n * (double)k / (base_ms * 1e6);
    for (size_t i = 0; i < nc; i++) {
        double d = fabs((double)c[i] - ref[i]);
        err = d > err || isnan(d) ? d : err;
        cmax = fabs(ref[i]) > cmax ? fabs(ref[i]) : cmax;
    }
#endif
    double rel = cmax > 0 ? err / cmax : err;
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", "gemm");
        cJSON_AddNumberToObject(e, "m", (double)m);
        cJSON_AddNumberToObject(e, "n", (double)n);
        cJSON_AddNumberToObject(e, "k", (double)k);
        cJSON_AddStringToObject(e, "provider", clf_gemm_provider_str(o->provider));
        cJSON_AddStringToObject(e, "chosen", chosen.desc);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "gflops", gflops);
        if (base_ms >= 0) {
            cJSON_AddStringToObject(e, "baseline", "openblas");
            cJSON_AddNumberToObject(e, "baseline_ms", base_ms);
            cJSON_AddNumberToObject(e, "baseline_gflops", base_gflops);
            cJSON_AddNumberToObject(e, "ratio", gflops / base_gflops);
            cJSON_AddNumberToObject(e, "max_rel_error", rel);
        }
        cJSON_AddItemToArray(arr, e);
    } else if (base_ms >= 0) {
        printf("gemm %5lldx%5lldx%5lld  %8.3f ms %7.1f GFLOP/s | openblas %8.3f ms %7.1f "
               "GFLOP/s | ratio %.2f | max err %.1e | %s\n",
               (long long)m, (long long)n, (long long)k, ms, gflops, base_ms, base_gflops,
               gflops / base_gflops, rel, chosen.desc);
    } else {
        printf("gemm %5lldx%5lldx%5lld  %8.3f ms %7.1f GFLOP/s (built without OpenBLAS: no "
               "baseline) | %s\n",
               (long long)m, (long long)n, (long long)k, ms, gflops, chosen.desc);
    }
    rc = CLI_OK;
done:
    clf_graph_destroy(g);
    clf_tensor_destroy(ta);
    clf_tensor_destroy(tb);
    free(a);
    free(b);
    free(c);
    free(ref);
    return rc;
}

/* Softmax or LayerNorm over rows × n: GB/s counts one read and one write. */
static int bench_rows(struct clf_ctx *ctx, const struct bench_opts *o, bool softmax,
                      int64_t rows, int64_t n, cJSON *arr)
{
    size_t total = (size_t)(rows * n);
    float *x = malloc(total * sizeof *x), *y = malloc(total * sizeof *y),
          *ref = malloc(total * sizeof *ref);
    int rc = CLI_FAIL;
    struct clf_graph *g = NULL;
    struct clf_tensor *tx = NULL, *out = NULL;
    bench_fill(x, total, 3);
    int64_t shape[2] = {rows, n};
    tx = bench_upload(ctx, 2, shape, x);
    enum clf_status st = !tx ? CLF_E_OUT_OF_MEMORY : clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = softmax ? clf_op_softmax(g, tx, &out)
                     : clf_op_layernorm(g, tx, NULL, NULL, 1e-5f, &out);
    if (st != CLF_OK) {
        cli_error("%s setup failed: %s", softmax ? "softmax" : "layernorm",
                  clf_ctx_last_error(ctx));
        goto done;
    }
    double ms = bench_time_graph(ctx, g, o->runs);
    if (ms < 0 || clf_tensor_read(out, y, total * sizeof *y) != CLF_OK) {
        cli_error("%s failed: %s", softmax ? "softmax" : "layernorm", clf_ctx_last_error(ctx));
        goto done;
    }
    double *t = malloc((size_t)o->runs * sizeof *t);
    for (int r = -2; r < o->runs; r++) {
        double t0 = cli_now_ms();
        (softmax ? base_softmax : base_layernorm)(x, ref, rows, n);
        if (r >= 0)
            t[r] = cli_now_ms() - t0;
    }
    double base_ms = cli_median(t, o->runs);
    free(t);
    double err = 0;
    for (size_t i = 0; i < total; i++) {
        double d = fabs((double)y[i] - ref[i]);
        err = d > err || isnan(d) ? d : err;
    }
    double gbs = 2.0 * (double)total * sizeof(float) / (ms * 1e6);
    double base_gbs = 2.0 * (double)total * sizeof(float) / (base_ms * 1e6);
    const char *name = softmax ? "softmax" : "layernorm";
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", name);
        cJSON_AddNumberToObject(e, "rows", (double)rows);
        cJSON_AddNumberToObject(e, "n", (double)n);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "gbs", gbs);
        cJSON_AddStringToObject(e, "baseline", "c-loop-1-thread-vectorised");
        cJSON_AddNumberToObject(e, "baseline_ms", base_ms);
        cJSON_AddNumberToObject(e, "baseline_gbs", base_gbs);
        cJSON_AddNumberToObject(e, "ratio", base_ms / ms);
        cJSON_AddNumberToObject(e, "max_abs_error", err);
        cJSON_AddItemToArray(arr, e);
    } else {
        printf("%-9s %6lldx%-6lld %8.3f ms %6.2f GB/s | C loop %8.3f ms %6.2f GB/s | ratio "
               "%.2f | max err %.1e\n",
               name, (long long)rows, (long long)n, ms, gbs, base_ms, base_gbs, base_ms / ms,
               err);
    }
    rc = CLI_OK;
done:
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    free(x);
    free(y);
    free(ref);
    return rc;
}


/* One attention size with one implementation: 12 heads, head_dim 64. */
static int bench_attention_n(struct clf_ctx *ctx, const struct bench_opts *o, int64_t n,
                             enum clf_attention_impl impl, cJSON *arr)
{
    const int64_t heads = 12, d = 64;
    size_t total = (size_t)(heads * n * d);
    float *q = malloc(total * sizeof *q), *k = malloc(total * sizeof *k),
          *v = malloc(total * sizeof *v), *out = malloc(total * sizeof *out);
    int64_t shape[4] = {1, heads, n, d};
    struct clf_tensor *tq = NULL, *tk = NULL, *tv = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    int rc = CLI_FAIL;
    bench_fill(q, total, 4);
    bench_fill(k, total, 5);
    bench_fill(v, total, 6);
    clf_ctx_trim(ctx);
    struct clf_ctx_stats s0, s1;
    clf_ctx_stats(ctx, &s0);
    tq = bench_upload(ctx, 4, shape, q);
    tk = bench_upload(ctx, 4, shape, k);
    tv = bench_upload(ctx, 4, shape, v);
    struct clf_attention_params p = clf_attention_params_default();
    p.impl = impl;
    enum clf_status st = tq && tk && tv ? clf_graph_create(ctx, &g) : CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_op_attention(g, tq, tk, tv, &p, &y);
    double ms = st == CLF_OK ? bench_time_graph(ctx, g, o->runs) : -1;
    const char *name = clf_attention_impl_str(impl);
    if (ms < 0) { /* e.g. the n×n scores of the GEMM path do not fit: report, go on */
        if (o->json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "op", "attention");
            cJSON_AddStringToObject(e, "impl", name);
            cJSON_AddNumberToObject(e, "n", (double)n);
            cJSON_AddStringToObject(e, "error", clf_ctx_last_error(ctx));
            cJSON_AddItemToArray(arr, e);
        } else {
            printf("attention n %5lld %-5s  n/a: %s\n", (long long)n, name,
                   clf_ctx_last_error(ctx));
        }
        rc = CLI_OK;
        goto done;
    }
    clf_ctx_stats(ctx, &s1);
    double mem = (double)(s1.pool_bytes_peak - s0.pool_bytes_live);
    double io = 4.0 * (double)total * sizeof(float); /* q, k, v, out */
    double gflops = 4.0 * (double)n * (double)n * (double)d * (double)heads / (ms * 1e6);
    struct clf_node_info chosen = {.size = sizeof chosen};
    clf_graph_node_info(g, 0, &chosen);
    clf_tensor_read(y, out, total * sizeof *out);
    double base_ms = -1, err = 0;
#ifdef CLF_HAVE_OPENBLAS
    float *ref = malloc(total * sizeof *ref), *s = malloc((size_t)(n * n) * sizeof *s);
    if (ref && s) {
        double *t = malloc((size_t)o->runs * sizeof *t);
        for (int r = -1; r < o->runs; r++) {
            double t0 = cli_now_ms();
            base_attention(q, k, v, ref, s, heads, n, d);
            if (r >= 0)
                t[r] = cli_now_ms() - t0;
        }
        base_ms = cli_median(t, o->runs);
        free(t);
        for (size_t i = 0; i < total; i++) {
            double e = fabs((double)out[i] - ref[i]);
            err = e > err || isnan(e) ? e : err;
        }
        pause_for_openblas();
    }
    free(ref);
    free(s);
#endif
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", "attention");
        cJSON_AddStringToObject(e, "impl", name);
        cJSON_AddStringToObject(e, "chosen", chosen.desc);
        cJSON_AddNumberToObject(e, "n", (double)n);
        cJSON_AddNumberToObject(e, "heads", (double)heads);
        cJSON_AddNumberToObject(e, "head_dim", (double)d);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "gflops", gflops);
        cJSON_AddNumberToObject(e, "device_bytes", mem);
        cJSON_AddNumberToObject(e, "device_bytes_beyond_qkvo", mem - io);
        if (base_ms >= 0) {
            cJSON_AddStringToObject(e, "baseline", "openblas sgemm + softmax + sgemm");
            cJSON_AddNumberToObject(e, "baseline_ms", base_ms);
            cJSON_AddNumberToObject(e, "ratio", base_ms / ms);
            cJSON_AddNumberToObject(e, "max_abs_error", err);
        }
        cJSON_AddItemToArray(arr, e);
    } else {
        char b1[32], b2[32];
        printf("attention n %5lld %-5s %9.3f ms %6.1f GFLOP/s | device memory %s (%s beyond "
               "q, k, v, out)",
               (long long)n, name, ms, gflops, cli_bytes((unsigned long long)mem, b1, sizeof b1),
               cli_bytes((unsigned long long)(mem > io ? mem - io : 0), b2, sizeof b2));
        if (base_ms >= 0)
            printf(" | openblas 3-step %9.3f ms | ratio %.2f | max err %.1e", base_ms,
                   base_ms / ms, err);
        printf(" | %s\n", chosen.desc);
    }
    rc = CLI_OK;
done:
    clf_graph_destroy(g);
    clf_tensor_destroy(tq);
    clf_tensor_destroy(tk);
    clf_tensor_destroy(tv);
    free(q);
    free(k);
    free(v);
    free(out);
    return rc;
}

/* Runs g (timed) and reads its output y into host; the time in ms, -1 on
 * failure. Also writes "node ms, node ms" of the latest run into nodes. */
static double time_and_read(struct clf_ctx *ctx, struct clf_graph *g, const struct bench_opts *o,
                            struct clf_tensor *y, float *host, size_t count, char *nodes,
                            size_t size)
{
    double ms = bench_time_graph(ctx, g, o->runs);
    if (ms < 0 || clf_tensor_read(y, host, count * sizeof *host) != CLF_OK)
        return -1;
    /* device time by step: the op's name, or the step of a multi-node op
     * (top-k's "select" and "attend"), summed over its nodes */
    struct {
        char label[16];
        int count;
        double ms;
    } steps[16];
    int n_steps = 0;
    for (size_t i = 0; i < clf_graph_node_count(g); i++) {
        struct clf_node_info info = {.size = sizeof info};
        if (clf_graph_node_info(g, i, &info) != CLF_OK || !info.timed)
            continue;
        static const char *named[] = {"select", "attend", "kept"};
        const char *label = info.op, *desc = info.desc;
        for (int k = 0; k < 3; k++) {
            const char *at = strstr(desc, named[k]);
            size_t len = strlen(named[k]);
            if (at && at > desc && at[-1] == ' ' && (at[len] == ' ' || at[len] == 0))
                label = named[k];
        }
        int k = 0;
        while (k < n_steps && strcmp(steps[k].label, label))
            k++;
        if (k == n_steps) {
            if (n_steps == 16)
                continue;
            snprintf(steps[k].label, sizeof steps[k].label, "%.15s", label);
            steps[k].count = 0;
            steps[k].ms = 0;
            n_steps++;
        }
        steps[k].count++;
        steps[k].ms += info.time_ms;
    }
    size_t used = 0;
    nodes[0] = 0;
    for (int k = 0; k < n_steps && used + 1 < size; k++) {
        int w = steps[k].count > 1
                    ? snprintf(nodes + used, size - used, "%s%s %.3f ms (%d nodes)",
                               used ? ", " : "", steps[k].label, steps[k].ms, steps[k].count)
                    : snprintf(nodes + used, size - used, "%s%s %.3f ms", used ? ", " : "",
                               steps[k].label, steps[k].ms);
        used += w > 0 ? (size_t)w : 0;
    }
    return ms;
}

/* Sparse variants against exact attention (12 heads, head_dim 64): for each
 * n, time and relative error ‖out − exact‖/‖exact‖ of every --attn variant,
 * the device time of each node (top-k's selection apart), and a chart. */
static int bench_attention_variants(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    static const int64_t dflt[] = {512, 2048, 8192};
    const int64_t heads = 12, d = 64;
    struct plot_panel panels[2];
    memset(panels, 0, sizeof panels);
    snprintf(panels[0].title, sizeof panels[0].title, "time (12 heads, head_dim 64)");
    snprintf(panels[0].xlabel, sizeof panels[0].xlabel, "sequence length n");
    snprintf(panels[0].ylabel, sizeof panels[0].ylabel, "ms");
    snprintf(panels[1].title, sizeof panels[1].title, "error against exact attention");
    snprintf(panels[1].xlabel, sizeof panels[1].xlabel, "sequence length n");
    snprintf(panels[1].ylabel, sizeof panels[1].ylabel, "relative error");
    int rc = CLI_OK;
    for (int ni = 0; rc == CLI_OK && ni < (o->seq ? 1 : 3); ni++) {
        int64_t n = o->seq ? o->seq : dflt[ni];
        size_t total = (size_t)(heads * n * d);
        float *q = malloc(total * sizeof *q), *k = malloc(total * sizeof *k),
              *v = malloc(total * sizeof *v), *exact = malloc(total * sizeof *exact),
              *out = malloc(total * sizeof *out);
        int64_t shape[4] = {1, heads, n, d};
        bench_fill(q, total, 4);
        bench_fill(k, total, 5);
        bench_fill(v, total, 6);
        struct clf_tensor *tq = bench_upload(ctx, 4, shape, q), *tk = bench_upload(ctx, 4, shape, k),
                          *tv = bench_upload(ctx, 4, shape, v);
        double exact_ms = -1;
        for (int vi = -1; rc == CLI_OK && vi < o->n_variants; vi++) {
            /* vi = -1: the exact reference (fused) */
            struct clf_attention_params p = clf_attention_params_default();
            char name[64] = "exact", nodes[512] = "";
            if (vi >= 0) {
                p.variant = o->variants[vi];
                clf_attention_variant_str(&p.variant, name, sizeof name);
                if (p.variant.sparsity == CLF_ATTN_EXACT)
                    continue; /* that is the reference itself */
            } else {
                p.impl = CLF_ATTN_FUSED;
            }
            struct clf_graph *g = NULL;
            struct clf_tensor *y = NULL, *kept = NULL;
            enum clf_status st = tq && tk && tv ? clf_graph_create(ctx, &g) : CLF_E_OUT_OF_MEMORY;
            int64_t ks[3] = {1, heads, n};
            if (st == CLF_OK && p.variant.sparsity == CLF_ATTN_THRESHOLD)
                st = clf_tensor_create(ctx, CLF_I32, 3, ks, &kept);
            p.kept = kept;
            if (st == CLF_OK)
                st = clf_op_attention(g, tq, tk, tv, &p, &y);
            double ms = st == CLF_OK ? time_and_read(ctx, g, o, y, vi < 0 ? exact : out, total,
                                                     nodes, sizeof nodes)
                                     : -1;
            double kept_frac = -1; /* threshold: mean kept keys / n */
            if (ms >= 0 && kept) {
                int32_t *kc = malloc((size_t)(heads * n) * sizeof *kc);
                if (kc && clf_tensor_read(kept, kc, (size_t)(heads * n) * sizeof *kc) == CLF_OK) {
                    double sum = 0;
                    for (int64_t i = 0; i < heads * n; i++)
                        sum += kc[i];
                    kept_frac = sum / ((double)(heads * n) * (double)n);
                }
                free(kc);
            }
            clf_graph_destroy(g);
            clf_tensor_destroy(kept);
            if (ms < 0) {
                if (vi < 0) {
                    rc = cli_error("exact attention at n %lld: %s", (long long)n,
                                   clf_ctx_last_error(ctx));
                    break;
                }
                printf("attention n %5lld %-22s n/a: %s\n", (long long)n, name,
                       clf_ctx_last_error(ctx));
                continue;
            }
            if (vi < 0)
                exact_ms = ms;
            const double rel = vi < 0 ? 0 : bench_rel_error(out, exact, total);
            plot_add(&panels[0], name, (double)n, ms);
            if (vi >= 0)
                plot_add(&panels[1], name, (double)n, rel > 0 ? rel : 1e-16);
            if (o->json) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "op", "attention");
                cJSON_AddStringToObject(e, "variant", name);
                cJSON_AddNumberToObject(e, "n", (double)n);
                cJSON_AddNumberToObject(e, "ms", ms);
                cJSON_AddNumberToObject(e, "speedup_vs_exact", exact_ms / ms);
                cJSON_AddNumberToObject(e, "rel_error", rel);
                cJSON_AddStringToObject(e, "nodes", nodes);
                if (kept_frac >= 0)
                    cJSON_AddNumberToObject(e, "kept_fraction", kept_frac);
                cJSON_AddItemToArray(arr, e);
            } else {
                char kf[32] = "";
                if (kept_frac >= 0)
                    snprintf(kf, sizeof kf, " | kept %.2f%%", 100 * kept_frac);
                printf("attention n %5lld %-22s %10.3f ms | %6.2fx exact | rel error %.2e%s | %s\n",
                       (long long)n, name, ms, exact_ms / ms, rel, kf, nodes);
            }
        }
        clf_tensor_destroy(tq);
        clf_tensor_destroy(tk);
        clf_tensor_destroy(tv);
        free(q);
        free(k);
        free(v);
        free(exact);
        free(out);
    }
    char msg[600];
    if (rc == CLI_OK && o->plot &&
        !plot_write_svg(o->plot, "clformer bench attention", panels, 2, msg, sizeof msg))
        rc = cli_error("cannot write the plot: %s", msg);
    return rc;
}

/* Times one encoder layer, d_model 384, 12 heads, d_ff 1536 (the issue's
 * shape), seeded weights and input, attention variant v: returns the median
 * ms (-1 on failure, the reason in the context), the device bytes beyond
 * what was live before in *mem, and the output [seq, 384] in out (may be
 * NULL). */
static double layer_time(struct clf_ctx *ctx, const struct bench_opts *o, int64_t seq,
                         const struct clf_attention_variant *v, float *out, double *mem)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 384;
    c.heads = 12;
    c.d_ff = 1536;
    c.layers = 1;
    c.attn_impl = o->attn_impl;
    c.attn = *v;
    const int64_t d = c.d_model;
    size_t total = (size_t)(seq * d);
    float *x = malloc(total * sizeof *x);
    struct clf_encoder *enc = NULL;
    struct clf_tensor *tx = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    if (!x)
        return -1;
    bench_fill(x, total, 7);
    clf_ctx_trim(ctx);
    struct clf_ctx_stats s0, s1;
    clf_ctx_stats(ctx, &s0);
    int64_t xs[3] = {1, seq, d};
    enum clf_status st = clf_encoder_create_random(ctx, &c, 1, &enc);
    if (st == CLF_OK && !(tx = bench_upload(ctx, 3, xs, x)))
        st = CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, tx, NULL, &y);
    double ms = st == CLF_OK ? bench_time_graph(ctx, g, o->runs) : -1;
    if (ms >= 0 && out && clf_tensor_read(y, out, total * sizeof *out) != CLF_OK)
        ms = -1;
    clf_ctx_stats(ctx, &s1);
    *mem = (double)(s1.pool_bytes_peak - s0.pool_bytes_live);
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    clf_encoder_destroy(enc);
    free(x);
    return ms;
}

/* Attention variants inside the layer against the exact layer: time and
 * relative error ‖y − y_exact‖/‖y_exact‖ of the layer's output, for seq
 * 512 and 2048 (or --seq). Random weights: the weights' score forms have
 * flat spectra, so low-rank variants are far from their best case here. */
static int bench_layer_variants(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    static const int64_t dflt[] = {512, 2048};
    int rc = CLI_OK;
    for (int ni = 0; rc == CLI_OK && ni < (o->seq ? 1 : 2); ni++) {
        int64_t n = o->seq ? o->seq : dflt[ni];
        size_t total = (size_t)(n * 384);
        float *exact = malloc(total * sizeof *exact), *out = malloc(total * sizeof *out);
        double exact_ms = -1;
        for (int vi = -1; rc == CLI_OK && exact && out && vi < o->n_variants; vi++) {
            struct clf_attention_variant ex;
            memset(&ex, 0, sizeof ex);
            const struct clf_attention_variant *v = vi < 0 ? &ex : &o->variants[vi];
            char name[64];
            clf_attention_variant_str(v, name, sizeof name);
            if (vi >= 0 && v->sparsity == CLF_ATTN_EXACT)
                continue;
            double mem = 0, ms = layer_time(ctx, o, n, v, vi < 0 ? exact : out, &mem);
            if (ms < 0) {
                if (vi < 0)
                    rc = cli_error("exact layer at seq %lld: %s", (long long)n,
                                   clf_ctx_last_error(ctx));
                else
                    printf("layer seq %5lld %-24s n/a: %s\n", (long long)n, name,
                           clf_ctx_last_error(ctx));
                continue;
            }
            if (vi < 0)
                exact_ms = ms;
            const double rel = vi < 0 ? 0 : bench_rel_error(out, exact, total);
            if (o->json) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "op", "layer");
                cJSON_AddStringToObject(e, "variant", name);
                cJSON_AddNumberToObject(e, "seq", (double)n);
                cJSON_AddNumberToObject(e, "ms", ms);
                cJSON_AddNumberToObject(e, "speedup_vs_exact", exact_ms / ms);
                cJSON_AddNumberToObject(e, "rel_error", rel);
                cJSON_AddNumberToObject(e, "device_bytes", mem);
                cJSON_AddItemToArray(arr, e);
            } else {
                char b[32];
                printf("layer seq %5lld %-24s %10.3f ms | %6.2fx exact | rel error %.2e | device "
                       "memory %s\n",
                       (long long)n, name, ms, exact_ms / ms, rel,
                       cli_bytes((unsigned long long)mem, b, sizeof b));
            }
        }
        if (!exact || !out)
            rc = cli_error("out of host memory");
        free(exact);
        free(out);
    }
    return rc;
}

/* One encoder layer, exact attention, against its GEMMs through OpenBLAS. */
static int bench_layer(struct clf_ctx *ctx, const struct bench_opts *o, int64_t seq, cJSON *arr)
{
    const int64_t d = 384, f = 1536, n = seq;
    struct clf_attention_variant ex;
    memset(&ex, 0, sizeof ex);
    double mem = 0, ms = layer_time(ctx, o, seq, &ex, NULL, &mem);
    if (ms < 0)
        return cli_error("layer: %s", clf_ctx_last_error(ctx));
    double flops = 2.0 * (double)n * (4.0 * (double)(d * d) + 2.0 * (double)(d * f)) +
                   4.0 * (double)n * (double)n * (double)d;
    double base_ms = -1;
#ifdef CLF_HAVE_OPENBLAS
    /* the layer's GEMMs alone through OpenBLAS: a floor for any BLAS-based
     * implementation (no softmax, LayerNorm, bias or residual work) */
    float *a = malloc((size_t)(n * f) * sizeof *a), *w = malloc((size_t)(f * d) * sizeof *w);
    float *r = malloc((size_t)(n * f) * sizeof *r), *s = malloc((size_t)(n * n) * sizeof *s);
    if (a && w && r && s) {
        bench_fill(a, (size_t)(n * f), 8);
        bench_fill(w, (size_t)(f * d), 9);
        double *t = malloc((size_t)o->runs * sizeof *t);
        for (int rr = -1; rr < o->runs; rr++) {
            double t0 = cli_now_ms();
            const int in[4] = {(int)d, (int)d, (int)d, (int)f}, on[4] = {3 * (int)d, (int)d,
                                                                         (int)f, (int)d};
            for (int i = 0; i < 4; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, on[i], in[i], 1.0f,
                            a, in[i], w, in[i], 0.0f, r, on[i]);
            for (int h = 0; h < 12; h++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, 32, 1.0f, a,
                            (int)d, w, (int)d, 0.0f, s, (int)n);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, 32, (int)n, 1.0f,
                            s, (int)n, w, (int)d, 0.0f, r, (int)d);
            }
            if (rr >= 0)
                t[rr] = cli_now_ms() - t0;
        }
        base_ms = cli_median(t, o->runs);
        free(t);
        pause_for_openblas();
    }
    free(a);
    free(w);
    free(r);
    free(s);
#endif
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", "layer");
        cJSON_AddNumberToObject(e, "d_model", (double)d);
        cJSON_AddNumberToObject(e, "heads", 12);
        cJSON_AddNumberToObject(e, "d_ff", (double)f);
        cJSON_AddNumberToObject(e, "seq", (double)n);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "gflops", flops / (ms * 1e6));
        cJSON_AddNumberToObject(e, "device_bytes", mem);
        if (base_ms >= 0) {
            cJSON_AddStringToObject(e, "baseline", "openblas gemms only");
            cJSON_AddNumberToObject(e, "baseline_ms", base_ms);
            cJSON_AddNumberToObject(e, "ratio", base_ms / ms);
        }
        cJSON_AddItemToArray(arr, e);
    } else {
        char b[32];
        printf("layer d %lld h 12 ff %lld seq %lld  %8.3f ms %6.1f GFLOP/s | device memory %s",
               (long long)d, (long long)f, (long long)n, ms, flops / (ms * 1e6),
               cli_bytes((unsigned long long)mem, b, sizeof b));
        if (base_ms >= 0)
            printf(" | openblas GEMMs alone %8.3f ms | ratio %.2f", base_ms, base_ms / ms);
        printf("\n");
    }
    return CLI_OK;
}

static void help(void)
{
    printf("Usage: clformer bench gemm|softmax|layernorm|attention|layer|quant|ffn|model|embed|\n"
           "                      scale [OPTIONS]\n\n"
           "Times an op on the device (median of --runs runs after a warm-up of at least\n"
           "two runs and 300 ms, which covers kernel builds and auto-tuning) against a\n"
           "CPU baseline measured in the same run: OpenBLAS cblas_sgemm for gemm (when\n"
           "built with OpenBLAS), a vectorised one-thread C loop for softmax and\n"
           "layernorm. Prints GFLOP/s or GB/s, the ratio and the largest error against\n"
           "the baseline. Sets POCL_AFFINITY=1 (unless set) to pin PoCL's worker threads.\n\n"
           "  gemm       C[M,N] = A[M,K] * W[N,K]^T; default shapes 512x1536x384,\n"
           "             512x384x1536, 1024x1024x1024 (MxNxK)\n"
           "  softmax    rows x N, default 6144x512 (12 heads x 512 queries x 512 keys)\n"
           "  layernorm  rows x N, default 512x384 and 512x768\n"
           "  attention  12 heads, head_dim 64, n = 512 ... 8192 (--seq for one n), each\n"
           "             implementation (--attn-impl for one); baseline: OpenBLAS sgemm,\n"
           "             softmax, sgemm per head; device memory beyond q, k, v, out\n"
           "  layer      one encoder layer, d_model 384, 12 heads, d_ff 1536, seq 512\n"
           "             (--seq); baseline: the layer's GEMMs alone through OpenBLAS\n"
           "  quant      int8 GEMM against f32 GEMM (512x1536x384, 512x384x1536); the error\n"
           "             and bytes of each quantisation scheme on K ~ N(0,1); int8 K/V (f32\n"
           "             or int8 queries) and fp16 / log attention weights against exact\n"
           "             attention (n 512, 2048 or --seq); FFN activation quantisers on\n"
           "             GELU(N(0,1))\n"
           "  ffn        dense, SVD (ranks 32..256) and Tensor-Train FFN weights in one\n"
           "             layer at 384/1536 and 768/3072, seq 512 (--seq): parameters,\n"
           "             FLOPs, FFN time, errors, and the measured break-even rank\n"
           "  model      a BERT sentence model (all-MiniLM-L6-v2) exact and with each\n"
           "             attention variant, K/V and attention-weight quantisation, int8\n"
           "             linear layers, low-rank / TT FFN and FFN activation quantisers, on\n"
           "             64 built-in sentences (32 graded pairs): time per batch, device\n"
           "             memory, cosine to the exact embeddings, Spearman correlation of the\n"
           "             pair similarities with the exact model's; --speed: the exact\n"
           "             model's sentences/s for batches of 1, 8 and 32 (default --runs 5,\n"
           "             with --speed 10)\n"
           "  embed      texts in, vectors out (the library's clf_dp_embed_texts: tokenise,\n"
           "             sort longest first, batch, run, pool, normalise) in batches of at\n"
           "             most 1, 8 and 32 texts: sentences/s, tokens/s and the batches'\n"
           "             padding (not computed where a batch runs ragged: exact attention\n"
           "             on a CPU device), over 256 generated sentences of 5-40 words or\n"
           "             --file's lines; and where a pass went: the texts' and the\n"
           "             batches' host work, recordings, graph runs, their device time\n"
           "             (default --runs 3 passes over all texts, after one warm-up pass)\n");
    printf("  scale      a 6-layer encoder (d_model 384, 12 heads, d_ff 1536, seq 128, batch\n"
           "             8) on 1, 2 and 4 devices, data and tensor parallel: time, efficiency\n"
           "             t1 / (N tN), the weights' bytes on each device, bytes exchanged per\n"
           "             layer and their time on PCIe 4.0,\n"
           "             NVLink 4 and 100 GbE; --mpi (under mpirun): rank 0 alone against\n"
           "             all ranks with the gather, and against tensor parallelism over\n"
           "             the ranks (all-reduces over MPI; default --runs 5)\n\n"
           "  -d, --device SPEC     device (see clformer info --help)\n"
           "      --provider P      gemm provider: auto (default), clblast, native\n"
           "      --shape MxNxK     one gemm shape, or ROWSxN for the row ops\n"
           "      --seq N           sequence length (attention, layer)\n"
           "      --attn-impl I     auto, fused, gemm (attention, layer)\n"
           "      --attn SPEC       attention: compare a variant with exact attention for\n"
           "                        n = 512, 2048, 8192; layer: the layer with that variant\n"
           "                        against the exact layer for seq 512, 2048 (repeatable,\n"
           "                        up to 8): threshold:T[,renorm], topk:K, window:W[,left:L]\n"
           "                        [,right:R][,global:G], linformer:R, nystrom:M[,iters:N],\n"
           "                        svd:R[,rand] (layer only: it factorises the weights)\n"
           "      --plot FILE.svg   with --attn: draw time and error against n (log axes)\n"
           "      --model DIR       model, embed: the model directory (default as clformer\n"
           "                        embed)\n"
           "      --speed           model: sentences per second of the exact model\n"
           "      --file FILE       embed: the texts, one per line\n"
           "      --devices LIST    scale: the devices (default all; the first 1, 2, 4 used)\n"
           "      --mpi             scale: time the ranks of mpirun instead\n"
           "      --runs N          timed runs (default 20)\n"
           "      --json            print JSON\n"
           "  -h, --help            this text\n");
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
                                         {"provider", required_argument, NULL, 'p'},
                                         {"shape", required_argument, NULL, 's'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"seq", required_argument, NULL, 'n'},
                                         {"attn-impl", required_argument, NULL, 'a'},
                                         {"attn", required_argument, NULL, 'v'},
                                         {"plot", required_argument, NULL, 'P'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"speed", no_argument, NULL, 'S'},
                                         {"devices", required_argument, NULL, 'D'},
                                         {"mpi", no_argument, NULL, 'M'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    struct bench_opts o;
    memset(&o, 0, sizeof o);
    o.provider = CLF_GEMM_AUTO;
    o.attn_impl = CLF_ATTN_AUTO;
    o.runs = 20;
    const char *shape = NULL;
    bool runs_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.device = optarg; break;
        case 'p':
            if (!strcmp(optarg, "auto"))
                o.provider = CLF_GEMM_AUTO;
            else if (!strcmp(optarg, "clblast"))
                o.provider = CLF_GEMM_CLBLAST;
            else if (!strcmp(optarg, "native"))
                o.provider = CLF_GEMM_NATIVE;
            else
                return cli_usage_error("bench", "unknown provider '%s'", optarg);
            break;
        case 's': shape = optarg; break;
        case 'r': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 100000)
                return cli_usage_error("bench", "--runs needs a number from 1 to 100000");
            o.runs = (int)v;
            runs_given = true;
            break;
        }
        case 'n': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v < 1 || v > (1 << 20))
                return cli_usage_error("bench", "--seq needs a number from 1 to 1048576");
            o.seq = v;
            break;
        }
        case 'a':
            if (!cli_parse_attn_impl(optarg, &o.attn_impl))
                return cli_usage_error("bench", "unknown --attn-impl '%s'", optarg);
            break;
        case 'v': {
            char msg[256];
            if (o.n_variants == 8)
                return cli_usage_error("bench", "at most 8 --attn variants");
            if (clf_attention_variant_parse(optarg, &o.variants[o.n_variants], msg, sizeof msg) !=
                CLF_OK)
                return cli_usage_error("bench", "--attn %s: %s", optarg, msg);
            o.n_variants++;
            break;
        }
        case 'P': o.plot = optarg; break;
        case 'j': o.json = true; break;
        case 'm': o.model = optarg; break;
        case 'f': o.file = optarg; break;
        case 'S': o.speed = true; break;
        case 'D': o.devices = optarg; break;
        case 'M': o.mpi = true; break;
        case 'h': help(); return CLI_OK;
        case ':':
            return cli_usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("bench", optind >= argc ? "which benchmark? gemm, softmax, "
                                                         "layernorm, attention, layer, quant, "
                                                         "ffn, model, embed or scale%s"
                                                       : "one benchmark at a time%s", "");
    const char *what = argv[optind];
    bool is_gemm = !strcmp(what, "gemm"), is_sm = !strcmp(what, "softmax"),
         is_ln = !strcmp(what, "layernorm"), is_attn = !strcmp(what, "attention"),
         is_layer = !strcmp(what, "layer"), is_quant = !strcmp(what, "quant"),
         is_ffn = !strcmp(what, "ffn"), is_model = !strcmp(what, "model"),
         is_scale = !strcmp(what, "scale"), is_embed = !strcmp(what, "embed");
    if (!is_gemm && !is_sm && !is_ln && !is_attn && !is_layer && !is_quant && !is_ffn &&
        !is_model && !is_scale && !is_embed)
        return cli_usage_error("bench", "unknown benchmark '%s'", what);
    if ((o.n_variants && !is_attn && !is_layer) || (o.plot && !is_attn))
        return cli_usage_error("bench", "--attn is for the attention and layer benchmarks, "
                                        "--plot for attention");
    if (o.plot && !o.n_variants)
        return cli_usage_error("bench", "--plot draws the --attn variants: give at least one");
    if ((o.model && !is_model && !is_embed) || (o.speed && !is_model))
        return cli_usage_error("bench", "--model is for the model and embed benchmarks, --speed "
                                        "for model");
    if (o.file && !is_embed)
        return cli_usage_error("bench", "--file is for the embed benchmark");
    if (is_embed && (shape || o.seq))
        return cli_usage_error("bench", "the embed benchmark takes texts: no --shape or --seq");
    if (is_embed && !runs_given) /* a pass embeds every text: ~1-4 s */
        o.runs = 3;
    if (is_model && (shape || o.seq))
        return cli_usage_error("bench", "the model benchmark has its own sentences: no --shape "
                                        "or --seq");
    if (is_model && !runs_given) /* 25 loads, 64 sentences in ~0.25 s: ~75 s on 2 cores */
        o.runs = o.speed ? 10 : 5;
    if (shape && (is_attn || is_layer || is_quant || is_ffn))
        return cli_usage_error("bench", "--shape is for gemm and the row ops; use --seq");
    if (shape && !cli_parse_dims(shape, o.shape, is_gemm ? 3 : 2))
        return cli_usage_error("bench", "bad --shape '%s' (%s)", shape,
                               is_gemm ? "MxNxK" : "ROWSxN");

    if ((o.devices || o.mpi) && !is_scale)
        return cli_usage_error("bench", "--devices and --mpi are for the scale benchmark");
    if (is_scale && (shape || (o.devices && o.mpi)))
        return cli_usage_error("bench", "scale: no --shape; --devices or --mpi, not both");
    if (is_scale && !runs_given)
        o.runs = 5;
    if (is_scale) { /* its own contexts: a device group, or one per MPI rank */
        cJSON *root = o.json ? cJSON_CreateObject() : NULL;
        cJSON *res = root ? cJSON_AddArrayToObject(root, "results") : NULL;
        if (root)
            cJSON_AddNumberToObject(root, "runs", o.runs);
        int src = bench_scale(&o, res);
        if (root && src == CLI_OK && !(o.mpi && cJSON_GetArraySize(res) == 0))
            return cli_print_json(root);
        cJSON_Delete(root);
        return src;
    }

    /* PoCL (CPU devices) sometimes leaves both of its worker threads on one
     * core after other threads (OpenBLAS's) ran: measured ratios then swing
     * by 2x. Pinning its workers removes that noise; a variable the user set
     * wins. Other drivers ignore it. */
    setenv("POCL_AFFINITY", "1", 0);
    struct clf_ctx_params p = cli_ctx_params(o.device, o.json);
    p.gemm_provider = o.provider;
    struct clf_ctx *ctx = NULL;
    if (clf_ctx_create(&p, &ctx) != CLF_OK)
        return CLI_FAIL;
    struct clf_device_info info;
    clf_ctx_device_info(ctx, &info);
    cJSON *root = o.json ? cJSON_CreateObject() : NULL, *arr = NULL;
    if (root) {
        cJSON_AddStringToObject(root, "device", info.name);
        cJSON_AddStringToObject(root, "platform", info.platform_name);
        cJSON_AddNumberToObject(root, "runs", o.runs);
        arr = cJSON_AddArrayToObject(root, "results");
    } else {
        printf("device: %s (%s), median of %d runs\n", info.name, info.platform_name, o.runs);
    }
    int rc = CLI_OK;
    if (is_attn && o.n_variants) {
        rc = bench_attention_variants(ctx, &o, arr);
    } else if (is_attn) {
        static const int64_t ns[] = {512, 1024, 2048, 4096, 8192};
        for (size_t i = 0; rc == CLI_OK && i < sizeof ns / sizeof ns[0]; i++) {
            if (o.seq && ns[i] != ns[0])
                break;
            int64_t n = o.seq ? o.seq : ns[i];
            if (o.attn_impl != CLF_ATTN_AUTO) {
                rc = bench_attention_n(ctx, &o, n, o.attn_impl, arr);
                continue;
            }
            for (int impl = CLF_ATTN_FUSED; rc == CLI_OK && impl <= CLF_ATTN_GEMM; impl++)
                rc = bench_attention_n(ctx, &o, n, (enum clf_attention_impl)impl, arr);
        }
    } else if (is_quant) {
        rc = bench_quant(ctx, &o, arr);
    } else if (is_ffn) {
        rc = bench_ffn(ctx, &o, arr);
    } else if (is_model) {
        rc = bench_model(ctx, &o, arr);
    } else if (is_embed) {
        rc = bench_embed(ctx, &o, arr);
    } else if (is_layer && o.n_variants) {
        rc = bench_layer_variants(ctx, &o, arr);
    } else if (is_layer) {
        rc = bench_layer(ctx, &o, o.seq ? o.seq : 512, arr);
    } else if (is_gemm) {
        static const int64_t dflt[][3] = {{512, 1536, 384}, {512, 384, 1536}, {1024, 1024, 1024}};
        if (o.shape[0])
            rc = bench_gemm_shape(ctx, &o, o.shape[0], o.shape[1], o.shape[2], arr);
        for (int i = 0; !o.shape[0] && rc == CLI_OK && i < 3; i++)
            rc = bench_gemm_shape(ctx, &o, dflt[i][0], dflt[i][1], dflt[i][2], arr);
    } else {
        static const int64_t sm[][2] = {{6144, 512}}, ln[][2] = {{512, 384}, {512, 768}};
        const int64_t(*d)[2] = is_sm ? sm : ln;
        int nd = is_sm ? 1 : 2;
        if (o.shape[0])
            rc = bench_rows(ctx, &o, is_sm, o.shape[0], o.shape[1], arr);
        for (int i = 0; !o.shape[0] && rc == CLI_OK && i < nd; i++)
            rc = bench_rows(ctx, &o, is_sm, d[i][0], d[i][1], arr);
    }
    if (root) {
        if (rc == CLI_OK)
            rc = cli_print_json(root);
        else
            cJSON_Delete(root);
    }
    clf_ctx_destroy(ctx);
    return rc;
}
