/*
 * CPU baselines of `clformer bench`, measured in the same run as the device:
 * plain C row ops (one thread, vectorised: this file is built with -O3
 * -ffast-math so that GCC uses glibc's vector expf), and attention as
 * OpenBLAS's three steps when the tool is built with OpenBLAS.
 */
#ifndef CLF_TOOLS_BASELINE_H
#define CLF_TOOLS_BASELINE_H

#include <stdint.h>

/* y = softmax of each row of x [rows, n]. */
void base_softmax(const float *x, float *y, int64_t rows, int64_t n);
/* y = (x - mean) / sqrt(var + 1e-5) per row of x [rows, n]. */
void base_layernorm(const float *x, float *y, int64_t rows, int64_t n);

#ifdef CLF_HAVE_OPENBLAS
/* Per head: S = Q·Kᵀ/sqrt(d) (cblas_sgemm), softmax rows of S, O = S·V
 * (cblas_sgemm); q, k, v, o [heads, n, d]; s an n×n scratch. */
void base_attention(const float *q, const float *k, const float *v, float *o, float *s,
                    int64_t heads, int64_t n, int64_t d);
#endif

#endif
