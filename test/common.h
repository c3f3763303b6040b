/* Helpers shared by the Check suites: a shared context, seeded random data,
 * poisoning, error norms. */
#ifndef CLF_TEST_COMMON_H
#define CLF_TEST_COMMON_H

#include <check.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "clformer.h"

/* Exit status that meson counts as "skipped". */
#define TEST_SKIP 77

/* True when an OpenCL device exists. */
bool test_have_device(void);
/* Exits with TEST_SKIP (after saying why) when no OpenCL device exists. */
void test_require_device(void);

/* The suite's shared context (created on first use, default device,
 * disk cache in a private temporary directory). */
struct clf_ctx *test_ctx(void);
/* Destroys the shared context (or, with CLF_TEST_LEAK=1, leaks it: the
 * sanitizer step's proof that our leaks are still reported). */
void test_ctx_release(void);

/* Random numbers from a seed printed once per suite: $CLF_TEST_SEED when
 * set, else the clock. */
uint64_t test_seed(void);
uint64_t test_rand_u64(void);
/* Uniform in [lo, hi). */
double test_rand_uniform(double lo, double hi);
/* Fills n floats uniformly in [lo, hi). */
void test_fill_uniform(float *x, size_t n, double lo, double hi);

/* How a strided test input is laid out in its storage. */
enum test_layout {
    TEST_DENSE,      /* row-major */
    TEST_TRANSPOSED, /* last two dimensions swapped in storage: rows are
                        strided (a 1-D input gets stride 2) */
    TEST_HEADSPLIT   /* first two dimensions swapped in storage (for >= 3-D:
                        a [heads, seq, d] view of [seq, heads, d]),
                        innermost storage dimension padded by 3, offset 2 */
};
/* The strides (ndim of them) and offset of a view of logical shape
 * `shape` laid out as lay in a 1-D storage; returns the storage's element
 * count. */
int64_t test_layout_strides(int ndim, const int64_t *shape, enum test_layout lay,
                            int64_t *strides, int64_t *offset);

/* A strided f32 test input: a view of a 1-D storage tensor, with the
 * storage's contents on the host. */
struct test_input {
    struct clf_tensor *base, *view;
    float *host;  /* the storage */
    size_t total; /* storage elements */
    int ndim;
    int64_t shape[CLF_MAX_DIMS], strides[CLF_MAX_DIMS], offset;
};
/* Allocates host (total floats, not initialised) and creates base and view
 * on the shared context from in's total, ndim, shape, strides, offset. */
void test_input_alloc(struct test_input *in);
/* A new input of the given shape laid out as lay (test_layout_strides),
 * host not initialised. */
void test_input_make(struct test_input *in, int ndim, const int64_t *shape,
                     enum test_layout lay);
/* Storage index of logical element i (row-major order). */
size_t test_input_elem(const struct test_input *in, int64_t i);
/* Number of logical elements. */
int64_t test_input_numel(const struct test_input *in);
/* Sends the host storage to the device (after the caller changed it). */
void test_input_upload(const struct test_input *in);
/* Destroys the tensors and frees host. */
void test_input_free(struct test_input *in);

/* clf_graph_node_info of node i, asserting success. */
struct clf_node_info test_node_info(const struct clf_graph *g, size_t i);

/* Writes a safetensors file (clf_safetensors_write), asserting success. */
void test_write_safetensors(const char *path, const struct clf_safetensors_entry *e, size_t n);
/* Opens a safetensors file (clf_safetensors_open), asserting success. */
struct clf_safetensors *test_open_safetensors(const char *path);

/* Writes text into dir/name; returns that path (malloc'd). */
char *test_write_text(const char *dir, const char *name, const char *text);

/* Creates a fresh empty directory under $TMPDIR (malloc'd path). */
char *test_make_tmpdir(const char *tag);
/* Removes a directory and everything in it. */
void test_remove_dir(const char *dir);

/* Unit roundoff of binary32. */
#define TEST_U32 0x1p-24
/* gamma_n = n u / (1 - n u): the bound of n fp32 roundings (Higham, 3.1). */
double test_gamma(double n);

/* act(x) in double, the formulas of enum clf_act. */
double test_act_ref(double x, enum clf_act act);

/*
 * Error bound of a float activation act(x̂) against the exact act(x), with
 * |x̂ − x| ≤ e and |x| = |pre|. act is L-Lipschitz: L = 1 for none and
 * ReLU, L = 1.13 for both GELU forms (max |act'| = 1.1290 at x ≈ ±√2),
 * giving L·e; plus the float evaluation of act itself at an argument of
 * magnitude X ≤ |pre| + e:
 *  - ReLU (fmax) and none are exact;
 *  - GELU 0.5·x·(1 + erf(x·c)): the argument's 2 roundings moved through
 *    erf' ≤ 1.13 (≤ 1.6·u·X), erf within 16 ulp (≤ 32u, OpenCL's full
 *    profile bound), 1 + e (2u), the product (u·X): in all
 *    0.5·X·(1.6·u·X + 34u) + u·X ≤ u·X·(18 + 0.8·X);
 *  - tanh form: the cubic argument z = c1·(x + c2·x³) takes ≤ 7 roundings
 *    (constants included), |ẑ − z| ≤ γ_7·A with A = 0.8·(X + 0.045·X³);
 *    tanh' ≤ 1, tanh within 5 ulp (10u), 1 + t (2u), product (u·X):
 *    0.5·X·(7u·A + 12u) + u·X ≤ u·X·(7 + 4·A).
 */
double test_act_bound(double e, double pre, enum clf_act act);

/* Fills an f32 tensor with NaN (poisons an output before a run). */
void test_poison(struct clf_tensor *t);
/* Reads an f32 tensor (dense, logical order) into a new malloc'd array. */
float *test_read_all(struct clf_tensor *t);
/* A new dense f32 tensor on the shared context holding host. */
struct clf_tensor *test_upload(int ndim, const int64_t *shape, const float *host);
/* Writes t's numel floats from x (the whole tensor, logical order). */
void test_write_all(struct clf_tensor *t, const float *x);
/* A 4-D view of base (clf_tensor_view) on the shared context. */
struct clf_tensor *test_view4(struct clf_tensor *base, const int64_t *shape,
                              const int64_t *strides, int64_t offset);
/* A new [B, S] i32 padding mask on the shared context holding pad. */
struct clf_tensor *test_upload_pad(int64_t B, int64_t S, const int32_t *pad);
/* n floats uniformly in [lo, hi) (test_fill_uniform), malloc'd. */
float *test_random_floats(size_t n, double lo, double hi);

/* A = Q1 diag(1/j) Q2^T, [m, n] row-major double (malloc'd), with Q1
 * [m, k] and Q2 [n, k] random orthonormal (Gram-Schmidt twice: orthogonal
 * to ~1e-16), k = min(m, n): singular values exactly 1/j up to rounding, so
 * every rank-r truncation error is known. q1 and q2 (may be NULL) receive
 * the factors (malloc'd) for tests that need A_r itself. */
double *test_known_spectrum(int64_t m, int64_t n, double **q1, double **q2);

/* Rank r of n's share of a tensor-parallel encoder of configuration c,
 * from the weight sizes, in bytes: its 1/n of every split matrix and bias
 * (Q, K, V rows and Wo columns of its heads, W1 rows, b1 entries and W2
 * columns of its d_ff/n), the replicated LayerNorms, rank 0's
 * out_proj.bias and linear2.bias, and (norm) rank 0's final norm.
 * *tensors: how many device tensors that is. */
double test_tp_rank_bytes(const struct clf_encoder_config *c, int n, int r, bool norm,
                          int *tensors);
/* The most a context's live bytes (clf_ctx_stats) may be for `tensors`
 * tensors of `bytes` in all: the buffer pool rounds each one up to 256
 * bytes, then to a quarter of the power of two below it
 * (lib/runtime/pool.c): at most 1.25·(bytes + 255) each. */
double test_pool_bound(double bytes, int tensors);
/* A context's live device bytes now, and their peak since the last trim. */
void test_device_bytes(struct clf_ctx *ctx, double *live, double *peak);

/* Runs a suite without forking (OpenCL state does not survive fork) and
 * returns the process exit status. */
int test_run_suite(Suite *s);

/* Asserts a status, printing `message` (evaluated after expr) on mismatch. */
#define ck_assert_status_msg(message, expr, want)                                            \
    do {                                                                                     \
        enum clf_status st_ = (expr);                                                        \
        ck_assert_msg(st_ == (want), "%s returned %s (%d), expected %s: %s", #expr,          \
                      clf_status_str(st_), (int)st_, clf_status_str(want), (message));       \
    } while (0)

/* Asserts a status, printing the context's last error on mismatch. */
#define ck_assert_status(ctx, expr, want)                                                    \
    ck_assert_status_msg(clf_ctx_last_error(ctx), expr, want)

#define ck_assert_ok(ctx, expr) ck_assert_status(ctx, expr, CLF_OK)

/* A whole file, NUL-terminated (malloc'd; *len, when not NULL, its bytes);
 * the test fails when it cannot be read. */
char *test_read_file(const char *path, size_t *len);
/* A JSON file of the sources (e.g. a golden under test/reference), parsed;
 * the test fails when it is missing or malformed. */
cJSON *test_read_json(const char *path);

#endif
