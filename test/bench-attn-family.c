/*
 * The fused attention kernels side by side on one device:
 *   bench-attn-family BATCH HEADS SEQ D [RUNS] [causal]
 * runs exact attention on q, k, v [BATCH, HEADS, SEQ, D] (uniform in
 * [-1, 1], seed fixed) with the fused implementation forced to each kernel
 * family this device can run: attn_fused_cpu (CPU), attn_fused_group
 * (GROUP) and, where the device has subgroups, attn_fused_subgroup
 * (SUBGROUP); clf_op_attention cannot force a family, so this uses the
 * internal clf_attention_record, as test-attention does. Each family's graph
 * runs 3 times to warm up (builds, first-launch compiles), then RUNS rounds
 * (default 30), each round one run of every family in turn (so that drift
 * on a shared machine hits all alike); prints each family's median, min and
 * the ratio of medians to the CPU family, and the largest difference of
 * each output from the CPU family's. Not a test: built for measurements
 * (docs/measurements.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-common.h"
#include "../lib/ops/attention.h" /* internal: forcing the fused kernel family */

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s BATCH HEADS SEQ D [RUNS] [causal]\n", argv[0]);
        return 2;
    }
    int64_t B = atoll(argv[1]), H = atoll(argv[2]), S = atoll(argv[3]), D = atoll(argv[4]);
    int runs = argc > 5 ? atoi(argv[5]) : 30;
    bool causal = argc > 6 && !strcmp(argv[6], "causal");
    if (B < 1 || H < 1 || S < 1 || D < 1 || runs < 1) {
        fprintf(stderr, "bench-attn-family: sizes and runs must be >= 1\n");
        return 2;
    }
    struct clf_ctx *ctx = NULL;
    struct clf_ctx_params cp = clf_ctx_params_default();
    if (clf_ctx_create(&cp, &ctx) != CLF_OK) {
        fprintf(stderr, "bench-attn-family: no device\n");
        return 1;
    }
    struct clf_device_info info;
    clf_ctx_device_info(ctx, &info);
    static const enum clf_attn_fused_variant fams[3] = {
        CLF_ATTN_FUSED_CPU, CLF_ATTN_FUSED_GROUP, CLF_ATTN_FUSED_SUBGROUP};
    static const char *names[3] = {"cpu", "group", "subgroup"};
    int nf = info.subgroups ? 3 : 2;
    size_t n = (size_t)(B * H * S * D);
    float *x = malloc(n * sizeof *x), *out[3] = {NULL, NULL, NULL};
    double *t[3];
    bench_fill_uniform(x, n);
    int64_t shape[4] = {B, H, S, D};
    struct clf_tensor *q = NULL, *k = NULL, *v = NULL, *y[3] = {NULL, NULL, NULL};
    struct clf_graph *g[3] = {NULL, NULL, NULL};
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, 4, shape, &q);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 4, shape, &k);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 4, shape, &v);
    if (st == CLF_OK)
        st = clf_tensor_write(q, x, n * sizeof *x);
    if (st == CLF_OK) { /* k: x reversed, v: x shifted, so that q, k, v differ */
        for (size_t i = 0; i < n / 2; i++) {
            float s = x[i];
            x[i] = x[n - 1 - i];
            x[n - 1 - i] = s;
        }
        st = clf_tensor_write(k, x, n * sizeof *x);
    }
    if (st == CLF_OK) {
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f * x[i] + 0.25f;
        st = clf_tensor_write(v, x, n * sizeof *x);
    }
    struct clf_attention_params p = clf_attention_params_default();
    p.impl = CLF_ATTN_FUSED;
    p.causal = causal;
    for (int f = 0; f < nf && st == CLF_OK; f++) {
        st = clf_graph_create(ctx, &g[f]);
        if (st == CLF_OK)
            st = clf_attention_record(g[f], q, k, v, &p, fams[f], &y[f]);
        for (int w = 0; w < 3 && st == CLF_OK; w++)
            st = clf_graph_run(g[f]);
        t[f] = malloc((size_t)runs * sizeof *t[f]);
    }
    for (int i = 0; i < runs && st == CLF_OK; i++)
        for (int f = 0; f < nf && st == CLF_OK; f++) {
            double t0 = bench_now_ms();
            st = clf_graph_run(g[f]);
            t[f][i] = bench_now_ms() - t0;
        }
    if (st != CLF_OK) {
        fprintf(stderr, "bench-attention-family: %s: %s\n", clf_status_str(st),
                clf_ctx_last_error(ctx));
        return 1;
    }
    printf("device: %s (%s)\nattention fused, batch %lld, heads %lld, seq %lld, d %lld%s; "
           "%d rounds after 3 warm-up runs\n",
           info.name, info.platform_name, (long long)B, (long long)H, (long long)S,
           (long long)D, causal ? ", causal" : "", runs);
    double med[3];
    for (int f = 0; f < nf; f++) {
        out[f] = malloc(n * sizeof *out[f]);
        clf_tensor_read(y[f], out[f], n * sizeof *out[f]);
        qsort(t[f], (size_t)runs, sizeof *t[f], bench_cmp_double);
        med[f] = t[f][runs / 2];
        double diff = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)out[f][i] - out[0][i]);
            diff = e > diff || isnan(e) ? e : diff;
        }
        char desc[256];
        struct clf_node_info ni = {.size = sizeof ni};
        clf_graph_node_info(g[f], 0, &ni);
        snprintf(desc, sizeof desc, "%s", ni.desc);
        printf("%-9s median %8.3f ms  min %8.3f ms  x%.2f of cpu  max |out - cpu's| %.2g  [%s]\n",
               names[f], med[f], t[f][0], med[f] / med[0], diff, desc);
    }
    for (int f = 0; f < nf; f++) {
        clf_graph_destroy(g[f]);
        free(t[f]);
        free(out[f]);
    }
    clf_tensor_destroy(q);
    clf_tensor_destroy(k);
    clf_tensor_destroy(v);
    free(x);
    clf_ctx_destroy(ctx);
    return 0;
}
