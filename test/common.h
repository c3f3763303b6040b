/* Helpers shared by the Check suites: a shared context, seeded random data,
 * poisoning, error norms. */
#ifndef CLF_TEST_COMMON_H
#define CLF_TEST_COMMON_H

#include <check.h>
#include <stdint.h>

#include "clformer.h"

/* Exit status that meson counts as "skipped". */
#define TEST_SKIP 77

/* Exits with TEST_SKIP (after saying why) when no OpenCL device exists. */
void test_require_device(void);

/* The suite's shared context (created on first use, default device,
 * disk cache in a private temporary directory). */
struct clf_ctx *test_ctx(void);
/* Destroys the shared context. */
void test_ctx_release(void);

/* Random numbers from a seed printed once per suite: $CLF_TEST_SEED when
 * set, else the clock. */
uint64_t test_seed(void);
uint64_t test_rand_u64(void);
/* Uniform in [lo, hi). */
double test_rand_uniform(double lo, double hi);
/* Fills n floats uniformly in [lo, hi). */
void test_fill_uniform(float *x, size_t n, double lo, double hi);

/* Creates a fresh empty directory under $TMPDIR (malloc'd path). */
char *test_make_tmpdir(const char *tag);
/* Removes a directory and the files in it (one level). */
void test_remove_dir(const char *dir);

/* Unit roundoff of binary32. */
#define TEST_U32 0x1p-24
/* gamma_n = n u / (1 - n u): the bound of n fp32 roundings (Higham, 3.1). */
double test_gamma(double n);

/* Fills an f32 tensor with NaN (poisons an output before a run). */
void test_poison(struct clf_tensor *t);
/* Reads an f32 tensor (dense, logical order) into a new malloc'd array. */
float *test_read_all(struct clf_tensor *t);
/* A new dense f32 tensor on the shared context holding host. */
struct clf_tensor *test_upload(int ndim, const int64_t *shape, const float *host);

/* A = Q1 diag(1/j) Q2^T, [m, n] row-major double (malloc'd), with Q1
 * [m, k] and Q2 [n, k] random orthonormal (Gram-Schmidt twice: orthogonal
 * to ~1e-16), k = min(m, n): singular values exactly 1/j up to rounding, so
 * every rank-r truncation error is known. q1 and q2 (may be NULL) receive
 * the factors (malloc'd) for tests that need A_r itself. */
double *test_known_spectrum(int64_t m, int64_t n, double **q1, double **q2);

/* Runs a suite without forking (OpenCL state does not survive fork) and
 * returns the process exit status. */
int test_run_suite(Suite *s);

/* Asserts a status, printing the context's last error on mismatch. */
#define ck_assert_status(ctx, expr, want)                                                    \
    do {                                                                                     \
        enum clf_status st_ = (expr);                                                        \
        ck_assert_msg(st_ == (want), "%s returned %s (%d), expected %s: %s", #expr,          \
                      clf_status_str(st_), (int)st_, clf_status_str(want),                   \
                      clf_ctx_last_error(ctx));                                              \
    } while (0)

#define ck_assert_ok(ctx, expr) ck_assert_status(ctx, expr, CLF_OK)

#endif
