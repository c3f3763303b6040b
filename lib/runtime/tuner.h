/*
 * The candidate-timing loop of every auto-tuner (the GEMM providers'
 * configurations, the exact attention's implementations): each candidate
 * runs once to warm up (kernel builds, packing, the tuning of GEMMs it
 * runs), then the candidates run in turn, round after round, so that a
 * passing disturbance (another process, the slow first ~100 ms of a
 * process on PoCL) hits them alike: at least CLF_TUNER_MIN_ROUNDS rounds
 * and until each has run CLF_TUNER_MIN_MS in its timed runs, at most
 * CLF_TUNER_MAX_ROUNDS. A candidate's time is its fastest run (wall time,
 * enqueue to completion), the figure least disturbed on a shared machine.
 * A candidate whose run fails is dropped (and logged); the tuner fails
 * only when none is left.
 */
#ifndef CLF_RUNTIME_TUNER_H
#define CLF_RUNTIME_TUNER_H

#include <cjson/cJSON.h>

#include "tensor.h"

#define CLF_TUNER_MIN_ROUNDS 6
#define CLF_TUNER_MAX_ROUNDS 50
#define CLF_TUNER_MIN_MS 40.0
#define CLF_TUNER_MAX_CANDIDATES 8

/* The candidates of one measurement. */
struct clf_tuner {
    const char *what;         /* what is measured, e.g. "gemm 512x2048x512" (in
                                 progress reports and messages) */
    int n;                    /* candidates, at most CLF_TUNER_MAX_CANDIDATES */
    const char *const *names; /* [n]: in progress reports and in `times` */
    /* Enqueues one run of candidate i; *ev receives its completion. */
    enum clf_status (*run)(struct clf_ctx *ctx, void *user, int i, cl_event *ev);
    void *user;
};

/* Progress: the handler sees one count, "tuning" done of total steps, over
 * every measurement of a session: CLF_TUNER_STEPS(n) steps for n
 * candidates (each warm-up, then the timed rounds). A session opened by
 * clf_tuner_session_begin(ctx, steps) counts the steps announced up front
 * and, for a measurement whose steps were announced, the caller sets
 * ctx->tune_announced just before it; any other measurement adds its own
 * steps as it starts (GEMMs measured inside an attention candidate's
 * run). A measurement outside any session is a session of its own.
 * Sessions nest; the outermost one's end clears the progress line. */
#define CLF_TUNER_STEPS(n) ((n) + 1)
void clf_tuner_session_begin(struct clf_ctx *ctx, int steps);
void clf_tuner_session_end(struct clf_ctx *ctx);

/* Times t's candidates: *best receives the index of the fastest and
 * *times a new object of "name": fastest ms for each candidate that ran
 * (NULL without host memory). Fails with the last failure when every
 * candidate failed. */
enum clf_status clf_tuner_run(struct clf_ctx *ctx, const struct clf_tuner *t, int *best,
                              cJSON **times);

/* Keeps the tuning record of (family, key) (lib/runtime/tune.h): fields,
 * the choice made (e.g. {"impl": "fused"}), with "ms": times and "mode"
 * (the context's: "full" or "fast") added (both taken, also on failure),
 * and logs `choice` as what was chosen. */
enum clf_status clf_tuner_keep(struct clf_ctx *ctx, const char *family, const char *key,
                               cJSON *fields, cJSON *times, const char *choice);

/* A dense f32 tensor of zeros for candidates to run on (timings do not
 * depend on the values; zeros hold no NaN or denormals). On a failed fill
 * *t is still set, for the caller to free. */
enum clf_status clf_tuner_zeros(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                struct clf_tensor **t);

#endif
