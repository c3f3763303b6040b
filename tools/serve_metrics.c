/* `clformer serve`'s counters and histograms, as Prometheus text (see
 * serve.h). One mutex guards them all: they change a few times a request. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define MAX_BUCKETS 16
#define MAX_STATUS 16 /* distinct status codes counted per endpoint */

const char *const serve_ep_names[SERVE_EP_COUNT] = {"/v1/embeddings", "/embed", "/health",
                                                    "/metrics", "other"};

/* Each histogram's name, help and upper bounds (+Inf is implied). */
static const struct {
    const char *name, *help;
    double le[MAX_BUCKETS];
    int n;
} hist_def[SERVE_H_COUNT] = {
    {"clformer_batch_inputs", "Inputs in one batch a worker ran",
     {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}, 10},
    {"clformer_batch_tokens", "Token ids in one batch a worker ran (padding not counted)",
     {16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384}, 9},
    {"clformer_queue_seconds", "Time an input waited in the queue before a worker took it",
     {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}, 12},
    {"clformer_request_seconds", "Time from a request's arrival to its answer",
     {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, 11},
};

struct hist {
    unsigned long long count[MAX_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
    double sum;
};

struct serve_metrics {
    pthread_mutex_t lock;
    struct {
        unsigned status;
        unsigned long long n;
    } req[SERVE_EP_COUNT][MAX_STATUS];
    unsigned long long inputs, tokens;
    struct hist h[SERVE_H_COUNT];
};

struct serve_metrics *serve_metrics_create(void)
{
    struct serve_metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->lock, NULL)) {
        free(m);
        return NULL;
    }
    return m;
}

void serve_metrics_destroy(struct serve_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void observe_locked(struct serve_metrics *m, enum serve_hist h, double v)
{
    int b = 0;
    while (b < hist_def[h].n && v > hist_def[h].le[b])
        b++;
    m->h[h].count[b]++;
    m->h[h].sum += v;
}

void serve_metrics_request(struct serve_metrics *m, enum serve_endpoint ep, unsigned status,
                           double seconds)
{
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < MAX_STATUS; i++) {
        if (m->req[ep][i].status == status || !m->req[ep][i].status) {
            m->req[ep][i].status = status;
            m->req[ep][i].n++;
            break;
        }
    }
    observe_locked(m, SERVE_H_LATENCY_S, seconds);
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_inputs(struct serve_metrics *m, size_t inputs, size_t tokens)
{
    pthread_mutex_lock(&m->lock);
    m->inputs += inputs;
    m->tokens += tokens;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_observe(struct serve_metrics *m, enum serve_hist h, double v)
{
    pthread_mutex_lock(&m->lock);
    observe_locked(m, h, v);
    pthread_mutex_unlock(&m->lock);
}

char *serve_metrics_text(struct serve_metrics *m)
{
    struct serve_text o = {NULL, 0, 0, true};
    pthread_mutex_lock(&m->lock);
    serve_put(&o, "# HELP clformer_requests_total HTTP requests answered, by endpoint and status\n"
            "# TYPE clformer_requests_total counter\n");
    for (int ep = 0; ep < SERVE_EP_COUNT; ep++)
        for (int i = 0; i < MAX_STATUS && m->req[ep][i].status; i++)
            serve_put(&o, "clformer_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n", serve_ep_names[ep],
                m->req[ep][i].status, m->req[ep][i].n);
    serve_put(&o, "# HELP clformer_inputs_total Inputs embedded\n# TYPE clformer_inputs_total counter\n"
            "clformer_inputs_total %llu\n",
        m->inputs);
    serve_put(&o, "# HELP clformer_tokens_total Token ids embedded (special tokens included)\n"
            "# TYPE clformer_tokens_total counter\nclformer_tokens_total %llu\n",
        m->tokens);
    for (int h = 0; h < SERVE_H_COUNT; h++) {
        const char *name = hist_def[h].name;
        serve_put(&o, "# HELP %s %s\n# TYPE %s histogram\n", name, hist_def[h].help, name);
        unsigned long long cum = 0;
        for (int b = 0; b < hist_def[h].n; b++) {
            cum += m->h[h].count[b];
            serve_put(&o, "%s_bucket{le=\"%g\"} %llu\n", name, hist_def[h].le[b], cum);
        }
        cum += m->h[h].count[hist_def[h].n];
        serve_put(&o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, cum, name,
            m->h[h].sum, name, cum);
    }
    pthread_mutex_unlock(&m->lock);
    if (!o.ok)
        free(o.s);
    return o.ok ? o.s : NULL;
}
