/* The candidate-timing loop of the auto-tuners (see tuner.h). */
#include <math.h>
#include <stdio.h>

#include "tune.h"
#include "tuner.h"

void clf_tuner_session_begin(struct clf_ctx *ctx, int steps)
{
    if (ctx->tune_depth++ == 0) {
        ctx->tune_done = 0;
        ctx->tune_total = 0;
        ctx->tune_announced = false;
    }
    ctx->tune_total += steps;
}

void clf_tuner_session_end(struct clf_ctx *ctx)
{
    if (--ctx->tune_depth > 0)
        return;
    if (ctx->progress_fn && ctx->tune_total > 0)
        ctx->progress_fn(ctx->progress_user, "tuning", ctx->tune_total, ctx->tune_total, NULL);
    ctx->tune_done = ctx->tune_total = 0;
    ctx->tune_announced = false;
}

/* Reports the step starting now: "<what> <item>". */
static void report(struct clf_ctx *ctx, const struct clf_tuner *t, const char *item)
{
    if (!ctx->progress_fn)
        return;
    char text[160];
    snprintf(text, sizeof text, "%s %s", t->what, item);
    ctx->progress_fn(ctx->progress_user, "tuning", ctx->tune_done, ctx->tune_total, text);
}

/* One run of candidate i, waited for; *ms receives its wall time. */
static enum clf_status time_run(struct clf_ctx *ctx, const struct clf_tuner *t, int i,
                                double *ms)
{
    cl_event ev = NULL;
    /* a tuned node's device time is its own kernels', not its candidates' */
    const bool track = ctx->track;
    ctx->track = false;
    double t0 = clf_now_ms();
    enum clf_status st = t->run(ctx, t->user, i, &ev);
    if (st == CLF_OK) {
        cl_int err = clWaitForEvents(1, &ev);
        if (err != CL_SUCCESS)
            st = clf_fail_cl(ctx, err, "clWaitForEvents(tuning)");
    }
    if (ev)
        clReleaseEvent(ev);
    *ms = clf_now_ms() - t0;
    ctx->track = track;
    return st;
}

/* The rounds of clf_tuner_run: fastest[i] receives candidate i's fastest
 * timed run, or -1 when it failed (*last: the last failure). */
static void rounds(struct clf_ctx *ctx, const struct clf_tuner *t, double *fastest,
                   enum clf_status *last)
{
    double total[CLF_TUNER_MAX_CANDIDATES]; /* the time of each one's timed runs */
    int alive = 0;
    for (int r = -1; r < CLF_TUNER_MAX_ROUNDS && (r < 0 || alive); r++) {
        bool enough = r + 1 >= CLF_TUNER_MIN_ROUNDS;
        if (r == 0)
            report(ctx, t, "timing");
        for (int i = 0; i < t->n; i++) {
            if (r < 0) { /* the warm-up round */
                report(ctx, t, t->names[i]);
                fastest[i] = INFINITY;
                total[i] = 0;
                alive++;
            } else if (fastest[i] < 0) {
                continue;
            }
            double ms = 0;
            enum clf_status st = time_run(ctx, t, i, &ms);
            if (r < 0)
                ctx->tune_done++;
            if (st != CLF_OK) {
                clf_log(ctx, CLF_LOG_DEBUG, "%s: %s failed: %s", t->what, t->names[i],
                        ctx->last_error);
                fastest[i] = -1;
                alive--;
                *last = st;
                continue;
            }
            if (r < 0)
                continue;
            total[i] += ms;
            fastest[i] = ms < fastest[i] ? ms : fastest[i];
            enough = enough && total[i] >= CLF_TUNER_MIN_MS;
        }
        if (r >= 0 && enough)
            break;
    }
    ctx->tune_done++; /* the timed rounds' step */
}

enum clf_status clf_tuner_run(struct clf_ctx *ctx, const struct clf_tuner *t, int *best,
                              cJSON **times)
{
    *times = NULL;
    if (t->n < 0 || t->n > CLF_TUNER_MAX_CANDIDATES)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s: %d candidates (at most %d)", t->what,
                        t->n, CLF_TUNER_MAX_CANDIDATES);
    clf_tuner_session_begin(ctx, 0);
    if (ctx->tune_announced)
        ctx->tune_announced = false;
    else
        ctx->tune_total += CLF_TUNER_STEPS(t->n);
    double fastest[CLF_TUNER_MAX_CANDIDATES];
    enum clf_status last = CLF_OK;
    rounds(ctx, t, fastest, &last);
    clf_tuner_session_end(ctx);
    *best = -1;
    for (int i = 0; i < t->n; i++)
        if (fastest[i] >= 0 && (*best < 0 || fastest[i] < fastest[*best]))
            *best = i;
    if (*best < 0)
        return last != CLF_OK ? last
                              : clf_fail(ctx, CLF_E_UNSUPPORTED, "%s: no candidate ran", t->what);
    *times = cJSON_CreateObject();
    for (int i = 0; i < t->n; i++)
        if (fastest[i] >= 0)
            cJSON_AddNumberToObject(*times, t->names[i], fastest[i]);
    return CLF_OK;
}

enum clf_status clf_tuner_zeros(struct clf_ctx *ctx, int ndim, const int64_t *shape,
                                struct clf_tensor **t)
{
    enum clf_status st = clf_tensor_new(ctx, CLF_F32, ndim, shape, t);
    if (st != CLF_OK)
        return st;
    float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(ctx->queue, (*t)->storage->mem, &zero, sizeof zero, 0,
                                     (*t)->storage->bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(ctx->queue);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "clEnqueueFillBuffer");
}

enum clf_status clf_tuner_keep(struct clf_ctx *ctx, const char *family, const char *key,
                               cJSON *fields, cJSON *times, const char *choice)
{
    if (!fields || !times) {
        cJSON_Delete(fields);
        cJSON_Delete(times);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for %s tuning records",
                        family);
    }
    cJSON_AddItemToObject(fields, "ms", times);
    cJSON_AddStringToObject(fields, "mode", ctx->tune_mode == CLF_TUNE_FULL ? "full" : "fast");
    clf_log(ctx, CLF_LOG_INFO, "%s %s on '%s': %s", family, key, ctx->info.name, choice);
    return clf_tune_put(ctx, family, key, fields);
}
