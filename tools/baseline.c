/* CPU baselines of `clformer bench` (see baseline.h). */
#include "baseline.h"

#include <math.h>
#ifdef CLF_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* Built for the widest vectors the CPU running it has (gcc's ifunc clones;
 * clang 14 left the clones' symbols undefined across files, so with clang
 * the baselines build for the default target only). */
#if defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

/* Softmax of one row of n into y (y may be x). */
CLONES static void softmax_row(const float *x, float *y, int64_t n)
{
    float mx = x[0], sum = 0;
    for (int64_t j = 1; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        y[j] = expf(x[j] - mx);
        sum += y[j];
    }
    float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; j++)
        y[j] *= inv;
}

void base_softmax(const float *x, float *y, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++)
        softmax_row(x + r * n, y + r * n, n);
}

CLONES void base_layernorm(const float *x, float *y, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n, mean = 0, var = 0;
        for (int64_t j = 0; j < n; j++)
            mean += xr[j];
        mean /= (float)n;
        for (int64_t j = 0; j < n; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        float inv = 1.0f / sqrtf(var / (float)n + 1e-5f);
        for (int64_t j = 0; j < n; j++)
            yr[j] = (xr[j] - mean) * inv;
    }
}

#ifdef CLF_HAVE_OPENBLAS
void base_attention(const float *q, const float *k, const float *v, float *o, float *s,
                    int64_t heads, int64_t n, int64_t d)
{
    float scale = 1.0f / sqrtf((float)d);
    for (int64_t h = 0; h < heads; h++) {
        const float *qh = q + h * n * d, *kh = k + h * n * d, *vh = v + h * n * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)d, scale, qh,
                    (int)d, kh, (int)d, 0.0f, s, (int)n);
        base_softmax(s, s, n, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)d, (int)n, 1.0f, s,
                    (int)n, vh, (int)d, 0.0f, o + h * n * d, (int)d);
    }
}
#endif
