/*
 * A new graph's recording against an update of a destroyed graph's
 * (cl_khr_command_buffer_mutable_dispatch), on one device:
 *   bench-mutable [LAYERS D_MODEL HEADS D_FF BATCH SEQ ROUNDS]
 * (defaults 6 384 6 1536 1 16 20: the short-sequence model of the issue
 * that asked for it). Each round, in each mode, builds the encoder's graph
 * (random weights, fixed seed) for x [BATCH, SEQ + round % 2, D_MODEL], so
 * that consecutive graphs differ in their sizes and buffers, runs it three
 * times and destroys it:
 *   run 1  direct (what a run costs without command buffers);
 *   run 2  records a command buffer and runs it ("record" mode: recordings
 *          made immutable), or takes the previous graph's recording over,
 *          updates its arguments and global sizes and runs it ("update");
 *   run 3  replays it.
 * Prints each mode's medians over the rounds after the first two (warm-up:
 * builds, and the update mode's first graph has nothing to take over) and
 * the context's counts of recordings and updates, which must show that
 * each mode did what it says. Command buffers are forced on (CPU devices
 * do not record by default). Not a test: built for measurements
 * (docs/measurements.md); it reads the context's internals.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench-common.h"
#include "../lib/runtime/ctx.h" /* internal: the update entry point and counts */

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One round of a mode: the three runs' wall times into t[0..2]. */
static enum clf_status round_of(struct clf_ctx *ctx, struct clf_encoder *enc, int64_t batch,
                                int64_t seq, int64_t d, const float *xs, double t[3])
{
    int64_t shape[3] = {batch, seq, d};
    struct clf_graph *g = NULL;
    struct clf_tensor *x = NULL, *y = NULL;
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, 3, shape, &x);
    if (st == CLF_OK)
        st = clf_tensor_write(x, xs, (size_t)(batch * seq * d) * sizeof *xs);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, x, NULL, &y);
    for (int r = 0; r < 3 && st == CLF_OK; r++) {
        double t0 = bench_now_ms();
        st = clf_graph_run(g);
        t[r] = bench_now_ms() - t0;
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    return st;
}

int main(int argc, char **argv)
{
    int64_t a[7] = {6, 384, 6, 1536, 1, 16, 20};
    for (int i = 1; i < argc && i <= 7; i++)
        a[i - 1] = atoll(argv[i]);
    const int rounds = (int)a[6];
    if (rounds < 3 || a[0] < 1 || a[1] < 1 || a[2] < 1 || a[3] < 1 || a[4] < 1 || a[5] < 1) {
        fprintf(stderr, "usage: %s [LAYERS D_MODEL HEADS D_FF BATCH SEQ ROUNDS>=3]\n", argv[0]);
        return 2;
    }
    setenv("CLFORMER_COMMAND_BUFFER", "1", 1);
    struct clf_ctx *ctx = NULL;
    struct clf_ctx_params cp = clf_ctx_params_default();
    if (clf_ctx_create(&cp, &ctx) != CLF_OK) {
        fprintf(stderr, "bench-mutable: no device\n");
        return 1;
    }
    const clf_update_mutable_fn update = ctx->cb.update;
    printf("device: %s (%s); command buffers %s, mutable dispatch %s\n", ctx->info.name,
           ctx->info.platform_name, ctx->command_buffers ? "on" : "off",
           update ? "yes" : "no");
    if (!ctx->command_buffers || !update) {
        fprintf(stderr, "bench-mutable: the device cannot update recordings\n");
        clf_ctx_destroy(ctx);
        return 1;
    }
    struct clf_encoder_config cfg;
    clf_encoder_config_init(&cfg, sizeof cfg);
    cfg.layers = a[0];
    cfg.d_model = a[1];
    cfg.heads = a[2];
    cfg.d_ff = a[3];
    struct clf_encoder *enc = NULL;
    enum clf_status st = clf_encoder_create_random(ctx, &cfg, 7, &enc);
    const int64_t batch = a[4], seq = a[5], d = a[1];
    float *xs = malloc((size_t)(batch * (seq + 1) * d) * sizeof *xs);
    if (xs)
        bench_fill_uniform(xs, (size_t)(batch * (seq + 1) * d));
    double *t[2][3];
    unsigned long made[2] = {0, 0}, updated[2] = {0, 0};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            t[m][k] = calloc((size_t)rounds, sizeof **t);
    for (int i = 0; i < rounds && st == CLF_OK && xs; i++)
        for (int m = 0; m < 2 && st == CLF_OK; m++) { /* interleaved: drift hits both */
            ctx->cb.update = m ? update : NULL;
            unsigned long rec0 = ctx->cb_recorded, upd0 = ctx->cb_updated;
            double tt[3];
            st = round_of(ctx, enc, batch, seq + i % 2, d, xs, tt);
            for (int k = 0; k < 3; k++)
                t[m][k][i] = tt[k];
            if (i >= 2) {
                made[m] += ctx->cb_recorded - rec0;
                updated[m] += ctx->cb_updated - upd0;
            }
        }
    ctx->cb.update = update;
    if (st != CLF_OK || !xs) {
        fprintf(stderr, "bench-mutable: %s: %s\n", clf_status_str(st), clf_ctx_last_error(ctx));
        return 1;
    }
    printf("encoder: %lld layers, d_model %lld, %lld heads, d_ff %lld; x [%lld, %lld|%lld, "
           "%lld]; medians of %d rounds after 2\n",
           (long long)a[0], (long long)a[1], (long long)a[2], (long long)a[3],
           (long long)batch, (long long)seq, (long long)seq + 1, (long long)d, rounds - 2);
    static const char *names[2] = {"record", "update"};
    double med[2][3];
    for (int m = 0; m < 2; m++) {
        for (int k = 0; k < 3; k++)
            med[m][k] = median(t[m][k] + 2, rounds - 2);
        printf("%-6s  direct %8.3f ms  run 2 %8.3f ms  replay %8.3f ms  run 2 - replay %8.3f ms"
               "  (%lu recorded, %lu updated)\n",
               names[m], med[m][0], med[m][1], med[m][2], med[m][1] - med[m][2], made[m],
               updated[m]);
    }
    printf("update / record (run 2 - replay): %.2f\n",
           (med[1][1] - med[1][2]) / (med[0][1] - med[0][2]));
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            free(t[m][k]);
    free(xs);
    clf_encoder_destroy(enc);
    clf_ctx_destroy(ctx);
    return 0;
}
