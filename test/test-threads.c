/* Threads: contexts are independent. Two threads, each with a context of
 * its own, run the same small encoder forward pass (the same config, weight
 * seed and input) at the same time; both results must equal, bit for bit,
 * the serial run on one context first. Every kernel is deterministic on a
 * given device (fixed reduction orders, no atomics in these ops), so any
 * difference means shared state leaking between contexts (a program cache,
 * a tuning table, a pool, a static buffer), not rounding. The three
 * contexts choose their kernels alike: tuning off (the shipped default or
 * the candidate expected fastest), since timings taken on the spot may
 * choose another GEMM tile or attention path (another summation order)
 * where no default is shipped, as on an accelerator. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* A small post-LN encoder: 2 layers, d_model 32, 4 heads, d_ff 64, on
 * [2, 8, 32] inputs: every op of the forward pass, a few ms. */
#define BATCH 2
#define SEQ 8
#define D 32
#define N (BATCH * SEQ * D)
#define WEIGHT_SEED 1234u

static float input[N];

struct job {
    struct clf_ctx *ctx; /* NULL: make (and destroy) one */
    float out[N];
    enum clf_status st;
    char err[512];       /* the failure's message */
};

static enum clf_status forward(struct clf_ctx *ctx, float *out)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.layers = 2;
    c.d_model = D;
    c.heads = 4;
    c.d_ff = 64;
    struct clf_encoder *enc = NULL;
    struct clf_graph *g = NULL;
    struct clf_tensor *x = NULL, *y = NULL;
    const int64_t shape[3] = {BATCH, SEQ, D};
    enum clf_status st = clf_encoder_create_random(ctx, &c, WEIGHT_SEED, &enc);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, shape, &x);
    if (st == CLF_OK)
        st = clf_tensor_write(x, input, sizeof input);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, x, NULL, &y);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(y, out, N * sizeof *out);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);
    return st;
}

/* A context of its own: no disk cache (it builds its programs itself),
 * tuning off (choices that do not depend on timings). */
static enum clf_status own_context(struct clf_ctx **ctx)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.disk_cache = false;
    p.tune_mode = CLF_TUNE_OFF;
    return clf_ctx_create(&p, ctx);
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct clf_ctx *ctx = NULL;
    j->st = own_context(&ctx);
    if (j->st != CLF_OK) {
        snprintf(j->err, sizeof j->err, "clf_ctx_create failed");
        return NULL;
    }
    for (size_t i = 0; i < N; i++)
        j->out[i] = NAN; /* poison: NaN never matches */
    j->st = forward(ctx, j->out);
    snprintf(j->err, sizeof j->err, "%s", clf_ctx_last_error(ctx));
    clf_ctx_destroy(ctx);
    return NULL;
}

START_TEST(test_two_contexts_in_parallel)
{
    struct clf_ctx *ctx = NULL;
    ck_assert_int_eq(own_context(&ctx), CLF_OK);
    test_fill_uniform(input, N, -1, 1);
    static float serial[N];
    ck_assert_ok(ctx, forward(ctx, serial));
    clf_ctx_destroy(ctx);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(serial[i] == serial[i], "serial output %zu is NaN", i);

    static struct job jobs[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        ck_assert_int_eq(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    }
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < 2; t++) {
        ck_assert_msg(jobs[t].st == CLF_OK, "thread %d: %s: %s", t, clf_status_str(jobs[t].st),
                      jobs[t].err);
        /* bitwise: memcmp, so that -0 vs +0 or two NaNs would also differ */
        size_t first = N;
        for (size_t i = 0; i < N && first == N; i++)
            if (memcmp(&jobs[t].out[i], &serial[i], sizeof serial[i]) != 0)
                first = i;
        ck_assert_msg(first == N, "thread %d: output %zu is %a, the serial run gave %a", t,
                      first, first < N ? (double)jobs[t].out[first] : 0.0,
                      first < N ? (double)serial[first] : 0.0);
    }
    printf("threads: 2 contexts in parallel, %d outputs bitwise equal to the serial run\n", N);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("contexts");
    tcase_add_test(tc, test_two_contexts_in_parallel);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
