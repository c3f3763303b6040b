/*
 * Shipped tuning defaults (see tune_defaults.h). Each entry matches class
 * keys by a pattern ('*' any text, '?' one character; the first entry that
 * matches wins) and says where its choice was measured or why it is made.
 * Keys: GEMM "m<b>-n<b>-k<b>-b<batched>-<A layout><B layout>" with sizes
 * bucketed 0: <=16, 1: <=64, 2: <=256, 3: <=1024, 4: more, layouts r (rows
 * contiguous), c (columns), s (strided) (gemm_tune.c); attention
 * "q<b>-k<b>-d<d>[-v<dv>]-h<b>-c<causal>" (attention_tune.c). GEMM configs
 * index clf_gemm_cpu_configs (0: 6x64 float16, 1: 8x48 float16, 2: 6x16
 * float8) on CPU devices, clf_gemm_gpu_configs on GPUs.
 */
#include <string.h>

#include "../runtime/device.h"
#include "tune_defaults.h"

enum device_class {
    CLASS_NONE,       /* no defaults: fast mode measures */
    CLASS_CPU_512,    /* a CPU device preferring 16-float vectors (AVX-512) */
    CLASS_CPU,        /* any other CPU device */
    CLASS_GPU_NVIDIA,
    CLASS_GPU_AMD,
    CLASS_GPU_INTEL
};

static const struct shipped {
    enum device_class cls;
    const char *family;
    const char *pattern;
    const char *choice;
} shipped[] = {
    /* PoCL 3.1 on a 2-core Xeon (Sapphire Rapids, AVX-512): three passes of
     * `clformer tune --mode full` over the default `run` job and
     * all-MiniLM-L6-v2 (23 classes; docs/measurements.md, "Tuning").
     * CLBlast lost 2.5-55x on every class. Over 256 rows, not batched: 6x64
     * won 14 of 18 measurements (the median of its time over the fastest's
     * 1.00). Up to 256 rows, and the batched GEMMs of the attention's GEMM
     * path: 8x48 won 36 of 51 and came within 5% in 43 (median 1.00, worst
     * 1.35). 6x16 never won by more than noise. */
    {CLASS_CPU_512, "gemm", "m3-*-b0-*", "native:0"},
    {CLASS_CPU_512, "gemm", "m4-*-b0-*", "native:0"},
    {CLASS_CPU_512, "gemm", "*", "native:1"},
    /* Not measured: the one tile whose float8 accumulators fit 256-bit
     * vectors (the float16 tiles spill there). */
    {CLASS_CPU, "gemm", "*", "native:2"},
    /* PoCL (as above): the fused kernel won every size class measured (27
     * measurements, 9 classes of 16 to 512 tokens), 1.35-4.0x ahead of the
     * GEMM path, whose n x n scores go through memory; assumed for other
     * CPU runtimes, whose caches work alike. */
    {CLASS_CPU_512, "attention", "*", "fused"},
    {CLASS_CPU, "attention", "*", "fused"},
    /* GPUs, not measured (no GPU here): CLBlast is tuned per GPU family by
     * its authors and is the GEMM clformer's design takes on GPUs; where a
     * strided operand rules it out, the 16x16 local-memory tile. */
    {CLASS_GPU_NVIDIA, "gemm", "*s?", "native:0"},
    {CLASS_GPU_NVIDIA, "gemm", "*s", "native:0"},
    {CLASS_GPU_NVIDIA, "gemm", "*", "clblast"},
    {CLASS_GPU_AMD, "gemm", "*s?", "native:0"},
    {CLASS_GPU_AMD, "gemm", "*s", "native:0"},
    {CLASS_GPU_AMD, "gemm", "*", "clblast"},
    {CLASS_GPU_INTEL, "gemm", "*s?", "native:0"},
    {CLASS_GPU_INTEL, "gemm", "*s", "native:0"},
    {CLASS_GPU_INTEL, "gemm", "*", "clblast"},
    /* GPUs, not measured: the fused kernel (K and V tiles in local memory,
     * FlashAttention's recurrence) never writes the n x n scores that the
     * GEMM path writes once and reads twice. */
    {CLASS_GPU_NVIDIA, "attention", "*", "fused"},
    {CLASS_GPU_AMD, "attention", "*", "fused"},
    {CLASS_GPU_INTEL, "attention", "*", "fused"},
};

static enum device_class device_class(const struct clf_ctx *ctx)
{
    const struct clf_device_info *d = &ctx->info;
    if (d->type & CLF_DEVICE_CPU) /* lanes, not the preference (Intel's runtime prefers 1) */
        return ctx->float_lanes >= 16 ? CLASS_CPU_512 : CLASS_CPU;
    if (!(d->type & CLF_DEVICE_GPU))
        return CLASS_NONE;
    if (clf_icontains(d->vendor, "nvidia"))
        return CLASS_GPU_NVIDIA;
    if (clf_icontains(d->vendor, "advanced micro devices") || clf_icontains(d->vendor, "amd"))
        return CLASS_GPU_AMD;
    if (clf_icontains(d->vendor, "intel"))
        return CLASS_GPU_INTEL;
    return CLASS_NONE;
}

/* Glob match: '*' any text (also none), '?' one character. */
static bool matches(const char *pat, const char *s)
{
    if (*pat == '*')
        return matches(pat + 1, s) || (*s && matches(pat, s + 1));
    if (!*pat)
        return !*s;
    return *s && (*pat == '?' || *pat == *s) && matches(pat + 1, s + 1);
}

const char *clf_tune_shipped(const struct clf_ctx *ctx, const char *family, const char *key)
{
    enum device_class cls = device_class(ctx);
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++)
        if (shipped[i].cls == cls && !strcmp(shipped[i].family, family) &&
            matches(shipped[i].pattern, key))
            return shipped[i].choice;
    return NULL;
}
