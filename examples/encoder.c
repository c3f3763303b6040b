/*
 * An encoder stack forward on random input: the library's main job.
 *
 *   cc encoder.c $(pkg-config --cflags --libs clformer) -lm -o encoder
 *   ./encoder [SEED]
 *
 * The encoder is PyTorch's nn.TransformerEncoder at inference (post-LN,
 * ReLU): 2 layers, d_model 64, 4 heads, d_ff 256, with seeded random
 * weights (clf_encoder_create_random: `clformer run --seed SEED` makes the
 * same ones). The input x [1, 16, 64] is a xorshift32 stream (state 2463534242
 * xor SEED) mapped to [-1, 1) in steps of 2^-23, so every value is exact in
 * float32 and any language can make it again. Prints the output's shape, the
 * first token's first 8 values and the output's mean and RMS.
 */
#include <clformer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { BATCH = 1, SEQ = 16, D_MODEL = 64 };

/* x[i] = (s >> 8) / 2^23 - 1 for the successive states s of xorshift32. */
static void random_input(float *x, size_t n, uint32_t seed)
{
    uint32_t s = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        x[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
    }
}

int main(int argc, char **argv)
{
    const uint32_t seed = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1;
    static float x[BATCH * SEQ * D_MODEL], y[BATCH * SEQ * D_MODEL];
    const int64_t shape[3] = {BATCH, SEQ, D_MODEL};
    random_input(x, sizeof x / sizeof x[0], seed);

    struct clf_ctx *ctx = NULL;
    struct clf_encoder *enc = NULL;
    struct clf_tensor *tx = NULL, *ty = NULL;
    struct clf_graph *g = NULL;
    if (clf_ctx_create(NULL, &ctx) != CLF_OK) /* NULL: the default params */
        return 1;                             /* the log handler said why */

    /* Every fallible call returns a status; the first failure skips the
     * rest, and the context keeps its message. */
    struct clf_encoder_config cfg = clf_encoder_config_default();
    cfg.layers = 2;
    cfg.d_model = D_MODEL;
    cfg.heads = 4;
    cfg.d_ff = 256;
    enum clf_status st = clf_encoder_create_random(ctx, &cfg, seed, &enc);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, shape, &tx);
    if (st == CLF_OK)
        st = clf_tensor_write(tx, x, sizeof x);
    if (st == CLF_OK) /* ops are recorded on a graph ... */
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK) /* no key padding: every token counts */
        st = clf_encoder_forward(enc, g, tx, NULL, &ty);
    if (st == CLF_OK) /* ... and run together: kernels built, tuned, enqueued */
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(ty, y, sizeof y);
    if (st != CLF_OK) {
        fprintf(stderr, "encoder: %s: %s\n", clf_status_str(st), clf_ctx_last_error(ctx));
    } else {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < sizeof y / sizeof y[0]; i++)
            sum += y[i], sq += (double)y[i] * y[i];
        printf("output [%lld, %lld, %lld]\ny[0, 0, 0:8]", (long long)clf_tensor_dim(ty, 0),
               (long long)clf_tensor_dim(ty, 1), (long long)clf_tensor_dim(ty, 2));
        for (int k = 0; k < 8; k++)
            printf(" %.6f", y[k]);
        printf("\nmean %.6f rms %.6f\n", sum / (double)(sizeof y / sizeof y[0]),
               sqrt(sq / (double)(sizeof y / sizeof y[0])));
    }
    clf_graph_destroy(g); /* also frees ty, which the graph owns */
    clf_tensor_destroy(tx);
    clf_encoder_destroy(enc);
    clf_ctx_destroy(ctx);
    return st == CLF_OK ? 0 : 1;
}
