/*
 * `clformer serve`'s dynamic batching (see serve.h): requests wait in a
 * bounded queue, first come first served; a worker per device takes the
 * untaken inputs at the queue's head, across requests, up to the token
 * budget (a longer input goes alone), after waiting at most max_wait_ms
 * for the budget to fill; it embeds them in one clf_dp_embed call (the
 * inputs batched longest first by clf_text_batches_make, as `clformer
 * embed` does) and writes each vector into its own request's rows. A
 * request is answered once all its inputs are done: its vectors are its
 * own whichever workers ran them. One mutex guards the queue; `work`
 * wakes the workers, `done` the requests waiting.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "serve.h"

/* A request in the queue (on its handler's stack while it waits). */
struct job {
    const struct serve_request *r;
    float *out;          /* [r->n, dim] */
    size_t next;         /* inputs handed to workers */
    size_t left;         /* inputs not yet embedded */
    enum clf_status st;  /* the first failure of its batches */
    char msg[200];       /* and its message */
    double queued;       /* cli_now_ms() / 1e3 at submission */
    struct job *qnext;
};

/* One input of a worker's batch: which request, which input. */
struct slot {
    struct job *job;
    size_t i;
};

struct worker {
    struct serve_batcher *b;
    struct serve_device *dev;
    pthread_t thread;
    bool started;
    struct slot *slots; /* [cap] */
    size_t cap;
};

struct serve_batcher {
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    struct job *head, *tail;
    size_t queued;         /* requests in the queue */
    size_t queued_tokens;  /* ids of the untaken inputs */
    bool hurry;    /* stopping soon: no waiting for batches to fill */
    bool stopping;
    struct serve_batch_params p;
    struct serve_metrics *mx;
    struct worker *w;
    int n;
};

/* The slots' inputs (all for only < 0, else those whose prompted ==
 * only) as batches of the budget, embedded in one call, the prompt's
 * tokens left out of the pooling for prompted ones; each row copied to its
 * request. */
static enum clf_status run_pass(struct worker *w, size_t n, int only, char *msg,
                                size_t msg_size)
{
    struct serve_batcher *b = w->b;
    const int32_t **ids = malloc(n * sizeof *ids);
    size_t *len = malloc(n * sizeof *len), *at = malloc(n * sizeof *at), m = 0;
    float *vecs = malloc(n * (size_t)b->p.dim * sizeof *vecs);
    struct clf_text_batches *tb = NULL;
    enum clf_status st = ids && len && at && vecs ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    for (size_t s = 0; st == CLF_OK && s < n; s++) {
        const struct serve_input *in = &w->slots[s].job->r->in[w->slots[s].i];
        if (only >= 0 && in->prompted != (bool)only)
            continue;
        ids[m] = in->ids;
        len[m] = in->len;
        at[m++] = s;
    }
    if (st == CLF_OK && m) {
        struct clf_embed_params p = clf_embed_params_default();
        p.batch = (int64_t)m;
        p.max_batch_tokens = b->p.max_batch_tokens;
        st = clf_dp_set_pooling_skip(w->dev->dp, only ? b->p.pool_skip : 0);
        if (st == CLF_OK)
            st = clf_text_batches_make(w->dev->ctx, ids, len, m, &p, &tb);
        if (st == CLF_OK)
            st = clf_dp_embed(w->dev->dp, clf_text_batches_list(tb),
                              clf_text_batches_count(tb), vecs);
        const size_t *order = st == CLF_OK ? clf_text_batches_order(tb) : NULL;
        for (size_t r = 0; order && r < m; r++) {
            const struct slot *sl = &w->slots[at[order[r]]];
            memcpy(sl->job->out + sl->i * (size_t)b->p.dim, vecs + r * (size_t)b->p.dim,
                   (size_t)b->p.dim * sizeof *vecs);
        }
    }
    if (st != CLF_OK) {
        const char *why = clf_ctx_last_error(w->dev->ctx);
        snprintf(msg, msg_size, "%s", why && *why ? why : clf_status_str(st));
    }
    clf_text_batches_destroy(tb);
    free(ids);
    free(len);
    free(at);
    free(vecs);
    return st;
}

/* Takes the head's inputs up to the budget into w->slots (the lock held);
 * returns how many, and their tokens in *tokens. */
static size_t take(struct worker *w, size_t *tokens)
{
    struct serve_batcher *b = w->b;
    size_t n = 0;
    *tokens = 0;
    const double now = cli_now_ms() / 1e3;
    while (b->head) {
        struct job *j = b->head;
        const size_t len = j->r->in[j->next].len;
        if (n && *tokens + len > (size_t)b->p.max_batch_tokens)
            break;
        if (n == w->cap) {
            size_t cap = 2 * w->cap + 64;
            struct slot *s = realloc(w->slots, cap * sizeof *s);
            if (!s)
                break; /* the next batch takes the rest */
            w->slots = s;
            w->cap = cap;
        }
        if (!j->next)
            serve_metrics_observe(b->mx, SERVE_H_QUEUE_S, now - j->queued);
        w->slots[n++] = (struct slot){j, j->next++};
        *tokens += len;
        b->queued_tokens -= len;
        if (j->next == j->r->n) {
            b->head = j->qnext;
            b->tail = b->head ? b->tail : NULL;
            b->queued--;
        }
    }
    return n;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct serve_batcher *b = w->b;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stopping)
            pthread_cond_wait(&b->work, &b->lock);
        if (!b->head)
            break; /* stopping, and nothing left */
        /* let the batch fill, up to the wait bound (not when stopping soon) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        const long long ns = until.tv_nsec + b->p.max_wait_ms * 1000000LL;
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        while (b->head && !b->hurry && b->queued_tokens < (size_t)b->p.max_batch_tokens)
            if (pthread_cond_timedwait(&b->work, &b->lock, &until) == ETIMEDOUT)
                break;
        size_t tokens = 0;
        const size_t n = take(w, &tokens);
        if (!n)
            continue; /* another worker took them */
        pthread_mutex_unlock(&b->lock);
        serve_metrics_observe(b->mx, SERVE_H_BATCH_INPUTS, (double)n);
        serve_metrics_observe(b->mx, SERVE_H_BATCH_TOKENS, (double)tokens);
        char msg[200] = "";
        /* token ids pool all their tokens: apart when texts leave some out */
        enum clf_status st = run_pass(w, n, b->p.pool_skip ? 1 : -1, msg, sizeof msg);
        if (st == CLF_OK && b->p.pool_skip)
            st = run_pass(w, n, 0, msg, sizeof msg);
        pthread_mutex_lock(&b->lock);
        for (size_t s = 0; s < n; s++) {
            struct job *j = w->slots[s].job;
            if (st != CLF_OK && j->st == CLF_OK) {
                j->st = st;
                memcpy(j->msg, msg, sizeof j->msg);
            }
            j->left--;
        }
        pthread_cond_broadcast(&b->done);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

enum clf_status serve_batcher_start(struct serve_device *devs, int n,
                                    const struct serve_batch_params *p, struct serve_metrics *mx,
                                    struct serve_batcher **out)
{
    *out = NULL;
    struct serve_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return CLF_E_OUT_OF_MEMORY;
    b->w = calloc((size_t)n, sizeof *b->w);
    if (!b->w) {
        free(b);
        return CLF_E_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, NULL);
    b->p = *p;
    b->mx = mx;
    b->n = n;
    for (int i = 0; i < n; i++) {
        /* room for a batch's first input at least: take() never fails on it */
        b->w[i] = (struct worker){.b = b, .dev = &devs[i], .cap = 64};
        b->w[i].slots = malloc(b->w[i].cap * sizeof *b->w[i].slots);
        b->w[i].started = b->w[i].slots &&
                          !pthread_create(&b->w[i].thread, NULL, worker_main, &b->w[i]);
        if (!b->w[i].started) {
            serve_batcher_stop(b);
            return CLF_E_OUT_OF_MEMORY;
        }
    }
    *out = b;
    return CLF_OK;
}

bool serve_batcher_embed(struct serve_batcher *b, const struct serve_request *r, float *vecs,
                         struct serve_error *e)
{
    struct job j = {
        .r = r, .out = vecs, .left = r->n, .st = CLF_OK, .queued = cli_now_ms() / 1e3};
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        return serve_fail(e, 503, "shutting_down", NULL, "the server is shutting down");
    }
    if (b->queued >= b->p.max_queue) {
        pthread_mutex_unlock(&b->lock);
        return serve_fail(e, 503, "queue_full", NULL,
                          "the queue is full (%zu requests waiting, --max-queue): try again",
                          b->queued);
    }
    if (b->tail)
        b->tail->qnext = &j;
    else
        b->head = &j;
    b->tail = &j;
    b->queued++;
    for (size_t i = 0; i < r->n; i++)
        b->queued_tokens += r->in[i].len;
    pthread_cond_broadcast(&b->work);
    while (j.left)
        pthread_cond_wait(&b->done, &b->lock);
    pthread_mutex_unlock(&b->lock);
    if (j.st != CLF_OK)
        return serve_fail(e, 500, "device_error", NULL, "the embedding failed: %s", j.msg);
    return true;
}

void serve_batcher_hurry(struct serve_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->hurry = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
}

void serve_batcher_stop(struct serve_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->hurry = b->stopping = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->n; i++) {
        if (b->w[i].started)
            pthread_join(b->w[i].thread, NULL);
        free(b->w[i].slots);
    }
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->lock);
    free(b->w);
    free(b);
}
