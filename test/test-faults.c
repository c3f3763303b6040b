/*
 * Fault injection (lib/runtime/fault.h): every OpenCL call of a kind in a
 * whole workload made to fail, one at a time.
 *
 * The workload: create a 2-layer encoder with seeded random weights
 * (d_model 32, 2 heads, d_ff 64), upload x [2, 8, 32] and a key padding
 * [2, 8], record the forward on a new graph, run it twice, read the
 * output, destroy everything; with one queue (out-of-order where the
 * device has them) and with two in-order queues (cross-queue events). For each
 * kind the calls of that kind in one workload are counted, then for each N
 * the N-th call is made to fail, once (a retry or fallback may then hide
 * it) and, in a second pass, from that call on (a persistent failure:
 * the error paths), and the workload run again:
 *   - a status comes back (no crash, abort or hang: SIGALRM ends a test
 *     that runs past its time), and the armed call was reached;
 *   - an error carries a message; CLF_OK (the library worked around the
 *     fault: a pool retry, a rebuild after a rejected cached binary, a
 *     missing profiling time) must give the reference output, bitwise;
 *   - disarmed, the same context runs the workload again and gets the
 *     reference output bitwise (computed once beforehand; the workload is
 *     deterministic: same kernels, same work sizes, same data);
 *   - nothing leaks: with everything destroyed, the context's live pool
 *     bytes are back to their baseline.
 * BUFFER faults start from an empty pool (clf_ctx_trim before each
 * workload), so that every allocation reaches clCreateBuffer, and are
 * also swept with the graph memory in whole buffers (the planner's layout
 * on GPUs) rather than the CPU's arena of sub-buffers. BUILD faults
 * need builds: each trial creates a fresh context over a program cache
 * directory that is either emptied first (programs built from source:
 * clBuildProgram) or filled by an earlier workload (clCreateProgramWith-
 * Binary; a fault there falls back to a build from source). PoCL's own
 * kernel cache keeps those builds cheap.
 * GEMMs use the native kernels and attention the fused kernel, so that no
 * auto-tuner measures anything (tuning would make the counts vary).
 *
 * Sampling: a kind with at most SWEEP_ALL calls is swept over every call;
 * a larger one over the first and last 10 calls and every k-th in between
 * (k chosen so that about SWEEP_ALL trials are run), to keep the suite
 * within about a minute on a 2-core CPU under PoCL.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "../lib/runtime/ctx.h"
#include "../lib/runtime/fault.h"

#define SEED 20240611u
#define SWEEP_ALL 120
#define TEST_SECONDS 300 /* per test, then SIGALRM */

static const int64_t x_shape[3] = {2, 8, 32};
#define X_NUMEL (2 * 8 * 32)

static float x_host[X_NUMEL];
/* key padding [2, 8]: the second text's last 3 tokens are padding */
static const int32_t kp_host[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
static float ref_out[X_NUMEL];

static struct clf_encoder_config config(void)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 32;
    c.heads = 2;
    c.d_ff = 64;
    c.layers = 2;
    c.attn_impl = CLF_ATTN_FUSED;
    return c;
}

static void quiet_log(void *user, enum clf_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    (void)msg;
}

/* queues: clf_ctx_params.queues (0: one queue, out-of-order where the
 * device has them; 2: two in-order queues, events across them) */
static struct clf_ctx *make_ctx(const char *cache_dir, int queues)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache_dir;
    p.queues = queues;
    p.gemm_provider = CLF_GEMM_NATIVE;
    p.log_fn = quiet_log; /* injected failures log errors by design */
    struct clf_ctx *ctx = NULL;
    enum clf_status st = clf_ctx_create(&p, &ctx);
    ck_assert_msg(st == CLF_OK, "clf_ctx_create: %s", clf_status_str(st));
    return ctx;
}

/* The workload; out (X_NUMEL floats) receives the output on success.
 * The graph runs twice (a second run reuses the planned memory and the
 * packed weights); the output read is the second run's. */
static enum clf_status workload(struct clf_ctx *ctx, float *out)
{
    struct clf_encoder_config cfg = config();
    struct clf_encoder *enc = NULL;
    struct clf_tensor *x = NULL, *kp = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    enum clf_status st = clf_encoder_create_random(ctx, &cfg, SEED, &enc);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, x_shape, &x);
    if (st == CLF_OK)
        st = clf_tensor_write(x, x_host, sizeof x_host);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_I32, 2, x_shape, &kp);
    if (st == CLF_OK)
        st = clf_tensor_write(kp, kp_host, sizeof kp_host);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, x, kp, &y);
    for (int r = 0; r < 2 && st == CLF_OK; r++)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(y, out, X_NUMEL * sizeof *out);
    clf_graph_destroy(g);
    clf_tensor_destroy(kp);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);
    return st;
}

static uint64_t live_bytes(struct clf_ctx *ctx)
{
    struct clf_ctx_stats s;
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s));
    return s.pool_bytes_live;
}

/* Runs the workload, checks the output against the reference bitwise. */
static void check_workload(struct clf_ctx *ctx, const char *what, unsigned long n)
{
    float *out = malloc(sizeof ref_out);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < X_NUMEL; i++)
        out[i] = NAN;
    enum clf_status st = workload(ctx, out);
    ck_assert_msg(st == CLF_OK, "%s %lu: the workload after the fault failed: %s: %s", what, n,
                  clf_status_str(st), clf_ctx_last_error(ctx));
    ck_assert_msg(!memcmp(out, ref_out, sizeof ref_out),
                  "%s %lu: the workload after the fault differs from the reference", what, n);
    free(out);
}

static unsigned long n_failed; /* trials whose workload failed */

/* One trial: the n-th call of kind (from_on: and every later one) fails
 * with err during the workload. */
static void trial(struct clf_ctx *ctx, enum clf_fault_kind kind, unsigned long n, cl_int err,
                  uint64_t baseline, bool trim, bool from_on)
{
    const char *what = clf_fault_kind_str(kind);
    float *out = malloc(sizeof ref_out);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < X_NUMEL; i++)
        out[i] = NAN;
    if (trim)
        clf_ctx_trim(ctx);
    if (from_on)
        clf_fault_arm_from(kind, n, err);
    else
        clf_fault_arm(kind, n, err);
    enum clf_status st = workload(ctx, out);
    n_failed += st != CLF_OK;
    bool fired = clf_fault_fired(kind);
    clf_fault_reset();
    ck_assert_msg(fired, "%s %lu: the call was not reached (the count varies?)", what, n);
    if (st == CLF_OK)
        ck_assert_msg(!memcmp(out, ref_out, sizeof ref_out),
                      "%s %lu: the run succeeded with a wrong output", what, n);
    else
        ck_assert_msg(clf_ctx_last_error(ctx)[0] != 0, "%s %lu: %s without a message", what, n,
                      clf_status_str(st));
    free(out);
    ck_assert_msg(live_bytes(ctx) == baseline,
                  "%s %lu (%s): %llu live pool bytes after destroying everything, %llu before",
                  what, n, clf_status_str(st), (unsigned long long)live_bytes(ctx),
                  (unsigned long long)baseline);
    if (trim)
        clf_ctx_trim(ctx);
    check_workload(ctx, what, n);
    ck_assert_msg(live_bytes(ctx) == baseline, "%s %lu: leak after the clean workload", what, n);
}

/* Whether call n of count is in the sample (see the file's comment). */
static bool sampled(unsigned long n, unsigned long count)
{
    if (count <= SWEEP_ALL || n <= 10 || n + 10 > count)
        return true;
    unsigned long k = (count + SWEEP_ALL - 21) / (SWEEP_ALL - 20);
    return n % k == 0;
}

/* Counts the calls of kind in one workload (twice: they must agree). */
static unsigned long count_calls(struct clf_ctx *ctx, enum clf_fault_kind kind, bool trim)
{
    unsigned long counts[2];
    float *out = malloc(sizeof ref_out);
    ck_assert_ptr_nonnull(out);
    for (int r = 0; r < 2; r++) {
        if (trim)
            clf_ctx_trim(ctx);
        clf_fault_count(true);
        enum clf_status st = workload(ctx, out);
        counts[r] = clf_fault_calls(kind);
        clf_fault_reset();
        ck_assert_ok(ctx, st);
    }
    free(out);
    ck_assert_msg(counts[0] == counts[1], "%s: %lu calls, then %lu", clf_fault_kind_str(kind),
                  counts[0], counts[1]);
    return counts[0];
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "faults: a test ran past its time (a hang?)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void start_timer(void)
{
    signal(SIGALRM, on_alarm);
    alarm(TEST_SECONDS);
}

/* The reference output, from a context of its own. */
static void setup(void)
{
    uint64_t s = SEED;
    for (size_t i = 0; i < X_NUMEL; i++) { /* splitmix64 -> [-1, 1) */
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        x_host[i] = (float)((double)(z >> 11) * 0x1p-52 - 1.0);
    }
    char *dir = test_make_tmpdir("faults-ref");
    struct clf_ctx *ctx = make_ctx(dir, 0);
    for (size_t i = 0; i < X_NUMEL; i++)
        ref_out[i] = NAN;
    ck_assert_ok(ctx, workload(ctx, ref_out));
    for (size_t i = 0; i < X_NUMEL; i++)
        ck_assert_msg(ref_out[i] == ref_out[i], "reference output %zu is NaN", i);
    clf_ctx_destroy(ctx);
    test_remove_dir(dir);
    free(dir);
}

/* BUFFER, ENQUEUE, LAUNCH, WAIT: one context, its programs already built. */
static void sweep_warm(enum clf_fault_kind kind, cl_int err, bool trim, int queues, int plan)
{
    start_timer();
    n_failed = 0;
    char *dir = test_make_tmpdir("faults");
    struct clf_ctx *ctx = make_ctx(dir, queues);
    ctx->plan_mode = plan; /* CLFORMER_PLAN: 0 auto, 2 whole buffers (as on GPUs) */
    check_workload(ctx, "warm-up", 0); /* builds the programs */
    uint64_t baseline = live_bytes(ctx);
    unsigned long count = count_calls(ctx, kind, trim), trials = 0;
    ck_assert_msg(count > 0, "%s: no calls", clf_fault_kind_str(kind));
    for (int from_on = 0; from_on < 2; from_on++) {
        n_failed = trials = 0;
        for (unsigned long n = 1; n <= count; n++)
            if (sampled(n, count)) {
                trial(ctx, kind, n, err, baseline, trim, from_on);
                trials++;
            }
        printf("faults: %s (queues %d, plan %d, %s): %lu calls, %lu trials: %lu failed, %lu "
               "recovered\n",
               clf_fault_kind_str(kind), queues, plan, from_on ? "that call on" : "one call",
               count, trials, n_failed, trials - n_failed);
    }
    clf_ctx_destroy(ctx);
    test_remove_dir(dir);
    free(dir);
    alarm(0);
}

START_TEST(test_buffer)
{
    sweep_warm(CLF_FAULT_BUFFER, CL_MEM_OBJECT_ALLOCATION_FAILURE, true, 0, 0);
    sweep_warm(CLF_FAULT_BUFFER, CL_MEM_OBJECT_ALLOCATION_FAILURE, true, 2, 0);
    sweep_warm(CLF_FAULT_BUFFER, CL_MEM_OBJECT_ALLOCATION_FAILURE, true, 2, 2);
}
END_TEST

START_TEST(test_enqueue)
{
    sweep_warm(CLF_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, false, 0, 0);
    sweep_warm(CLF_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, false, 2, 0);
}
END_TEST

START_TEST(test_launch)
{
    /* clf_test_fail_launch_after's kind (a subset of ENQUEUE), with an
     * error that is not an out-of-memory one */
    sweep_warm(CLF_FAULT_LAUNCH, CL_INVALID_KERNEL_ARGS, false, 0, 0);
    sweep_warm(CLF_FAULT_LAUNCH, CL_INVALID_KERNEL_ARGS, false, 2, 0);
}
END_TEST

START_TEST(test_wait)
{
    sweep_warm(CLF_FAULT_WAIT, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, false, 0, 0);
    sweep_warm(CLF_FAULT_WAIT, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, false, 2, 0);
}
END_TEST

/* Empties a cache directory (its files: one level). */
static void empty_dir(char **dir, const char *tag)
{
    test_remove_dir(*dir);
    free(*dir);
    *dir = test_make_tmpdir(tag);
}

/* BUILD: a fresh context per trial, over an empty (cold) or a filled
 * (warm: binaries from an earlier workload) program cache directory. */
static void sweep_build(bool warm)
{
    start_timer();
    const char *what = warm ? "build (cached binaries)" : "build (from source)";
    char *dir = test_make_tmpdir("faults-build");
    float *out = malloc(sizeof ref_out);
    ck_assert_ptr_nonnull(out);
    if (warm) { /* fills the cache */
        struct clf_ctx *ctx = make_ctx(dir, 0);
        ck_assert_ok(ctx, workload(ctx, out));
        clf_ctx_destroy(ctx);
    }
    unsigned long counts[2];
    for (int r = 0; r < 2; r++) { /* the count, twice: they must agree */
        if (!warm)
            empty_dir(&dir, "faults-build");
        struct clf_ctx *ctx = make_ctx(dir, 0);
        clf_fault_count(true);
        enum clf_status st = workload(ctx, out);
        counts[r] = clf_fault_calls(CLF_FAULT_BUILD);
        clf_fault_reset();
        ck_assert_ok(ctx, st);
        clf_ctx_destroy(ctx);
    }
    free(out);
    ck_assert_msg(counts[0] == counts[1], "%s: %lu calls, then %lu", what, counts[0], counts[1]);
    unsigned long count = counts[0];
    ck_assert_msg(count > 0, "%s: no calls", what);
    for (int from_on = 0; from_on < 2; from_on++) {
        unsigned long trials = 0;
        n_failed = 0;
        for (unsigned long n = 1; n <= count; n++) {
            if (!sampled(n, count))
                continue;
            if (!warm)
                empty_dir(&dir, "faults-build");
            struct clf_ctx *ctx = make_ctx(dir, 0);
            uint64_t baseline = live_bytes(ctx);
            trial(ctx, CLF_FAULT_BUILD, n, CL_BUILD_PROGRAM_FAILURE, baseline, false, from_on);
            clf_ctx_destroy(ctx);
            trials++;
        }
        printf("faults: %s, %s: %lu calls, %lu trials: %lu failed, %lu recovered\n", what,
               from_on ? "that call on" : "one call", count, trials, n_failed, trials - n_failed);
    }
    test_remove_dir(dir);
    free(dir);
    alarm(0);
}

START_TEST(test_build_cold)
{
    sweep_build(false);
}
END_TEST

START_TEST(test_build_warm)
{
    sweep_build(true);
}
END_TEST

/* The hook itself: disarmed it never fires; armed it fires once, on the
 * n-th call, with the armed error; clf_test_fail_launch_after arms LAUNCH. */
START_TEST(test_hook)
{
    cl_int err = CL_SUCCESS;
    clf_fault_reset();
    for (int i = 0; i < 5; i++)
        ck_assert(!clf_fault(CLF_FAULT_BUFFER, &err));
    clf_fault_arm(CLF_FAULT_BUFFER, 3, CL_OUT_OF_HOST_MEMORY);
    ck_assert(!clf_fault(CLF_FAULT_BUFFER, &err));
    ck_assert(!clf_fault(CLF_FAULT_ENQUEUE, &err)); /* another kind */
    ck_assert(!clf_fault(CLF_FAULT_BUFFER, &err));
    ck_assert(clf_fault(CLF_FAULT_BUFFER, &err));
    ck_assert_int_eq(err, CL_OUT_OF_HOST_MEMORY);
    ck_assert(clf_fault_fired(CLF_FAULT_BUFFER));
    ck_assert(!clf_fault(CLF_FAULT_BUFFER, &err)); /* once */
    ck_assert_int_eq(clf_fault_active, 0);
    clf_fault_count(true);
    ck_assert(!clf_fault(CLF_FAULT_WAIT, &err));
    ck_assert(!clf_fault(CLF_FAULT_WAIT, &err));
    ck_assert_uint_eq(clf_fault_calls(CLF_FAULT_WAIT), 2);
    clf_fault_reset();
    ck_assert_int_eq(clf_fault_active, 0);
}
END_TEST

/* The pool near the device's largest allocation (a defect found with the
 * fault work): a request within the limit whose size class (up to 25%
 * more) exceeds it gets a buffer of exactly its size; one past the limit
 * is refused. The limit is lowered on a private context to 1 MiB + 768
 * bytes, whose class would be 1.25 MiB. */
START_TEST(test_pool_max_alloc)
{
    char *dir = test_make_tmpdir("faults-pool");
    struct clf_ctx *ctx = make_ctx(dir, 0);
    const uint64_t saved = ctx->info.max_alloc_bytes, limit = (1u << 20) + 768, base = live_bytes(ctx);
    ctx->info.max_alloc_bytes = limit;
    const int64_t at[1] = {(int64_t)limit / 4}, under[1] = {(int64_t)limit / 4 - 64},
                  over[1] = {(int64_t)limit / 4 + 1};
    struct clf_tensor *a = NULL, *b = NULL, *c = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, at, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, under, &b));
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 1, over, &c), CLF_E_OUT_OF_MEMORY);
    ck_assert_uint_eq(live_bytes(ctx), base + limit + (limit - 256));
    /* released and asked for again: the same exact-size buffer */
    clf_tensor_destroy(a);
    struct clf_ctx_stats s0, s1;
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s0));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, at, &a));
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s1));
    ck_assert_uint_eq(s1.pool_hits, s0.pool_hits + 1);
    float *host = malloc((size_t)limit);
    ck_assert_ptr_nonnull(host);
    for (int64_t i = 0; i < at[0]; i++)
        host[i] = (float)i;
    ck_assert_ok(ctx, clf_tensor_write(a, host, (size_t)limit));
    memset(host, 0, (size_t)limit);
    ck_assert_ok(ctx, clf_tensor_read(a, host, (size_t)limit));
    ck_assert(host[at[0] - 1] == (float)(at[0] - 1));
    free(host);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);
    ck_assert_uint_eq(live_bytes(ctx), base);
    ctx->info.max_alloc_bytes = saved;
    clf_ctx_destroy(ctx);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    test_require_device();
    printf("faults: seed %u (fixed: the workload must be deterministic)\n", SEED);
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, TEST_SECONDS);
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_hook);
    tcase_add_test(tc, test_pool_max_alloc);
    tcase_add_test(tc, test_buffer);
    tcase_add_test(tc, test_enqueue);
    tcase_add_test(tc, test_launch);
    tcase_add_test(tc, test_wait);
    tcase_add_test(tc, test_build_cold);
    tcase_add_test(tc, test_build_warm);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
