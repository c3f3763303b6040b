/* The candidate-timing loop of the auto-tuners (see tuner.h). */
#include <math.h>

#include "tune.h"
#include "tuner.h"

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

enum clf_status clf_tuner_run(struct clf_ctx *ctx, const struct clf_tuner *t, int *best,
                              cJSON **times)
{
    *times = NULL;
    if (t->n < 0 || t->n > CLF_TUNER_MAX_CANDIDATES)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "%s: %d candidates (at most %d)", t->what,
                        t->n, CLF_TUNER_MAX_CANDIDATES);
    /* fastest[i] < 0: dropped; total[i]: the time of its timed runs */
    double fastest[CLF_TUNER_MAX_CANDIDATES], total[CLF_TUNER_MAX_CANDIDATES];
    enum clf_status last = CLF_OK;
    int alive = 0;
    for (int r = -1; r < CLF_TUNER_MAX_ROUNDS && (r < 0 || alive); r++) {
        bool enough = r + 1 >= CLF_TUNER_MIN_ROUNDS;
        for (int i = 0; i < t->n; i++) {
            if (r < 0) { /* the warm-up round */
                if (ctx->progress_fn)
                    ctx->progress_fn(ctx->progress_user, t->what, i, t->n, t->names[i]);
                fastest[i] = INFINITY;
                total[i] = 0;
                alive++;
            } else if (fastest[i] < 0) {
                continue;
            }
            double ms = 0;
            enum clf_status st = time_run(ctx, t, i, &ms);
            if (st != CLF_OK) {
                clf_log(ctx, CLF_LOG_DEBUG, "%s: %s failed: %s", t->what, t->names[i],
                        ctx->last_error);
                fastest[i] = -1;
                alive--;
                last = st;
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
    if (ctx->progress_fn)
        ctx->progress_fn(ctx->progress_user, t->what, t->n, t->n, NULL);
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
    clf_log(ctx, CLF_LOG_INFO, "%s %s on '%s': %s", family, key, ctx->info.name, choice);
    return clf_tune_put(ctx, family, key, fields);
}
