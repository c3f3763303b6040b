/* What the measuring programs of test/ (bench-*.c) share: a clock, an
 * ascending sort of timings and fixed pseudo-random inputs. Header-only
 * (each is one small program). */
#ifndef CLF_TEST_BENCH_COMMON_H
#define CLF_TEST_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic wall time in ms. */
static inline double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* qsort's comparison of doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n floats in [-1, 1), the same on every run (a 64-bit LCG from a fixed
 * seed: benches compare speeds, not results, and want one input). */
static inline void bench_fill_uniform(float *x, size_t n)
{
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(r >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

#endif
