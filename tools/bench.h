/* Shared by the `clformer bench` benchmarks (cmd_bench.c, bench_*.c). */
#ifndef CLF_TOOLS_BENCH_H
#define CLF_TOOLS_BENCH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "clformer.h"

struct bench_opts {
    const char *device;
    enum clf_gemm_provider provider;
    enum clf_attention_impl attn_impl; /* --attn-impl; AUTO: both implementations */
    int runs;
    bool json;
    int64_t shape[3]; /* --shape, 0 when not given */
    int64_t seq;      /* --seq, 0 when not given */
    int n_variants;   /* --attn, repeatable */
    struct clf_attention_variant variants[8];
    const char *plot;  /* --plot FILE.svg */
    const char *model; /* --model DIR (model, embed), NULL: the default directory */
    const char *file;  /* --file FILE (embed): one text per line */
    bool speed;        /* --speed (model) */
    const char *devices; /* --devices LIST (scale; default all) */
    bool mpi;            /* --mpi (scale: the ranks of mpirun) */
};

/* x[i] in [-1, 1) from a xorshift seeded by seed. */
void bench_fill(float *x, size_t n, unsigned seed);

/* Times `runs` runs of g after a warm-up of at least two runs and 300 ms
 * (kernel builds, tuning, weight packing, and the slow first ~100 ms of a
 * process seen with PoCL); median ms, or -1 (the reason in the context's
 * last error). */
double bench_time_graph(struct clf_ctx *ctx, struct clf_graph *g, int runs);

/* ‖y − ref‖₂ / ‖ref‖₂ over n values (‖y − ref‖₂ when ref is all zeros;
 * NaN when y has one). */
double bench_rel_error(const float *y, const float *ref, size_t n);

/* A new f32 device tensor holding x, or NULL. */
struct clf_tensor *bench_upload(struct clf_ctx *ctx, int nd, const int64_t *shape,
                                const float *x);

/* `clformer bench ffn` (bench_ffn.c). */
int bench_ffn(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr);

/* `clformer bench quant` (bench_quant.c). */
int bench_quant(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr);

/* `clformer bench model` (bench_model.c). */
int bench_model(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr);

/* `clformer bench embed` (bench_embed.c): texts in, vectors out in batches of
 * 1, 8 and 32. */
int bench_embed(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr);

/* `clformer bench scale` (bench_scale.c): 1, 2 and 4 devices, data and
 * tensor parallel, with the device memory each holds, or with o->mpi the
 * ranks of mpirun; makes its own contexts. */
int bench_scale(const struct bench_opts *o, cJSON *arr);

#endif
