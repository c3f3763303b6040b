/*
 * The auto-tuners' candidate-timing loop (lib/runtime/tuner.h) on fake
 * candidates: each run sleeps a set time and completes a user event, or
 * fails. Checks the fastest is chosen, the warm-up run is not timed, the
 * rounds alternate and stop by the documented rules, failing candidates
 * are dropped, and the tuner fails only when none is left.
 */
#include <string.h>
#include <time.h>

#include "common.h"
#include "../lib/runtime/tuner.h"

#define N_FAKE 3

struct fake {
    double run_ms[N_FAKE];     /* of each timed run */
    double warmup_ms[N_FAKE];  /* of the first run */
    int fail_at[N_FAKE];       /* that run (0: the warm-up) fails; -1: never */
    int runs[N_FAKE];
    int order[3 * (CLF_TUNER_MAX_ROUNDS + 1)]; /* candidates in the order they ran */
    int n_order;
};

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms * 1e6) % 1000000000L};
    nanosleep(&ts, NULL);
}

static enum clf_status fake_run(struct clf_ctx *ctx, void *user, int i, cl_event *ev)
{
    struct fake *f = user;
    int run = f->runs[i]++;
    f->order[f->n_order++] = i;
    if (run == f->fail_at[i])
        return clf_fail(ctx, CLF_E_OPENCL, "fake candidate %d fails run %d", i, run);
    sleep_ms(run == 0 ? f->warmup_ms[i] : f->run_ms[i]);
    cl_int err = CL_SUCCESS;
    *ev = clCreateUserEvent(ctx->context, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_int_eq(clSetUserEventStatus(*ev, CL_COMPLETE), CL_SUCCESS);
    return CLF_OK;
}

static const char *const names[N_FAKE] = {"a", "b", "c"};

static void fake_init(struct fake *f, double a, double b, double c)
{
    memset(f, 0, sizeof *f);
    f->run_ms[0] = a;
    f->run_ms[1] = b;
    f->run_ms[2] = c;
    for (int i = 0; i < N_FAKE; i++)
        f->fail_at[i] = -1;
}

/* Runs the tuner over f's candidates. */
static enum clf_status tune(struct fake *f, int *best, cJSON **times)
{
    const struct clf_tuner t = {"tuning fake", N_FAKE, names, fake_run, f};
    *best = -1;
    *times = NULL;
    return clf_tuner_run(test_ctx(), &t, best, times);
}

static double time_of(const cJSON *times, const char *name)
{
    const cJSON *t = cJSON_GetObjectItem(times, name);
    return cJSON_IsNumber(t) ? t->valuedouble : -1;
}

/* Short runs: rounds go on until each candidate has CLF_TUNER_MIN_MS of
 * timed runs; the fastest wins; the slow warm-up is not timed. */
START_TEST(test_fastest_min_time)
{
    struct clf_ctx *ctx = test_ctx();
    struct fake f;
    fake_init(&f, 3.0, 1.0, 2.0);
    f.warmup_ms[1] = 60.0; /* b's warm-up is slow (a kernel build) */
    cJSON *times;
    int best;
    ck_assert_ok(ctx, tune(&f, &best, &times));
    ck_assert_int_eq(best, 1);
    double tb = time_of(times, "b");
    ck_assert_msg(tb >= 1.0 && tb < 30.0, "b's time %g ms (its warm-up timed?)", tb);
    ck_assert(time_of(times, "a") >= 3.0 && time_of(times, "c") >= 2.0);
    /* one warm-up run, then the same number of rounds for all */
    int rounds = f.runs[0] - 1;
    ck_assert_int_eq(f.runs[1], rounds + 1);
    ck_assert_int_eq(f.runs[2], rounds + 1);
    /* b's runs of >= 1 ms reach CLF_TUNER_MIN_MS in at most 40 rounds, but
     * not in the minimum rounds (a and c get there first) */
    ck_assert_int_gt(rounds, CLF_TUNER_MIN_ROUNDS);
    ck_assert_int_le(rounds, (int)CLF_TUNER_MIN_MS);
    /* alternating: round r runs a, b, c in turn */
    for (int k = 0; k < f.n_order; k++)
        ck_assert_int_eq(f.order[k], k % N_FAKE);
    cJSON_Delete(times);
}
END_TEST

/* Candidates of run times a, b, c (b the fastest) each run `runs` times
 * (the warm-up included). */
static void check_runs(double a, double b, double c, int runs)
{
    struct fake f;
    fake_init(&f, a, b, c);
    cJSON *times;
    int best;
    ck_assert_ok(test_ctx(), tune(&f, &best, &times));
    if (b < a && b < c)
        ck_assert_int_eq(best, 1);
    for (int i = 0; i < N_FAKE; i++)
        ck_assert_int_eq(f.runs[i], runs);
    cJSON_Delete(times);
}

/* Long runs reach CLF_TUNER_MIN_MS before CLF_TUNER_MIN_ROUNDS rounds; runs
 * too short to add up to it stop at CLF_TUNER_MAX_ROUNDS rounds. */
START_TEST(test_round_bounds)
{
    check_runs(12.0, 9.0, 15.0, 1 + CLF_TUNER_MIN_ROUNDS);
    check_runs(0.0, 0.0, 0.0, 1 + CLF_TUNER_MAX_ROUNDS);
}
END_TEST

/* A candidate failing its warm-up or a timed run is dropped: it runs no
 * more, has no time, cannot win. */
START_TEST(test_failures_dropped)
{
    struct clf_ctx *ctx = test_ctx();
    struct fake f;
    fake_init(&f, 6.0, 1.0, 0.5);
    f.fail_at[1] = 3; /* b, the faster of the two left, fails its third timed run */
    f.fail_at[2] = 0; /* c, the fastest, fails its warm-up */
    cJSON *times;
    int best;
    ck_assert_ok(ctx, tune(&f, &best, &times));
    ck_assert_int_eq(best, 0);
    ck_assert_int_eq(f.runs[1], 4);
    ck_assert_int_eq(f.runs[2], 1);
    ck_assert(time_of(times, "a") >= 6.0);
    ck_assert(!cJSON_GetObjectItem(times, "b") && !cJSON_GetObjectItem(times, "c"));
    cJSON_Delete(times);
}
END_TEST

/* Every candidate failing: the tuner fails with the last failure. */
START_TEST(test_all_fail)
{
    struct clf_ctx *ctx = test_ctx();
    struct fake f;
    fake_init(&f, 1.0, 1.0, 1.0);
    f.fail_at[0] = 0;
    f.fail_at[1] = 2;
    f.fail_at[2] = 1;
    cJSON *times;
    int best;
    ck_assert_status(ctx, tune(&f, &best, &times), CLF_E_OPENCL);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "candidate 1 fails run 2"), "%s",
                  clf_ctx_last_error(ctx));
    ck_assert_ptr_null(times);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("tuner");
    TCase *tc = tcase_create("loop");
    tcase_add_test(tc, test_fastest_min_time);
    tcase_add_test(tc, test_round_bounds);
    tcase_add_test(tc, test_failures_dropped);
    tcase_add_test(tc, test_all_fail);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
