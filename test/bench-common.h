/* What the measuring programs of test/ (bench-*.c) share: a clock and an
 * ascending sort of timings. Header-only (each is one small program). */
#ifndef CLF_TEST_BENCH_COMMON_H
#define CLF_TEST_BENCH_COMMON_H

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

#endif
