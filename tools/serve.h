/*
 * `clformer serve`: an embeddings server over HTTP (libmicrohttpd). The
 * pieces, one file each: serve_api.c reads requests' JSON and writes the
 * answers, serve_batch.c queues the inputs and runs them in batches on one
 * worker per device, serve_metrics.c counts for /metrics, serve_http.c
 * answers HTTP, cmd_serve.c reads the options and starts and stops it all.
 */
#ifndef CLF_TOOLS_SERVE_H
#define CLF_TOOLS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "clformer.h"

/* The endpoints, for routing and the metrics' labels. */
enum serve_endpoint {
    SERVE_EP_OPENAI, /* POST /v1/embeddings */
    SERVE_EP_TEI,    /* POST /embed */
    SERVE_EP_HEALTH, /* GET /health */
    SERVE_EP_METRICS, /* GET /metrics */
    SERVE_EP_OTHER,  /* anything else (404, 405) */
    SERVE_EP_COUNT
};
/* Their paths, and "other" (serve_metrics.c): routing and the labels. */
extern const char *const serve_ep_names[SERVE_EP_COUNT];

/* ---- serve_api.c: requests and answers ---- */

/* One input of a request, tokenised: ids [len] (malloc'd). prompted: a
 * text, after the folder's prompt (its leading tokens may be left out of
 * the pooling); false for token ids given as such. */
struct serve_input {
    int32_t *ids;
    size_t len;
    bool prompted;
};

/* A request's body, read. */
struct serve_request {
    struct serve_input *in; /* [n] */
    size_t n;
    size_t tokens;          /* Σ len: usage's prompt_tokens */
    char *model;            /* "model" as given, or NULL */
    bool base64;            /* encoding_format "base64" */
    int64_t dims;           /* "dimensions", 0: all */
    bool normalize;         /* the vectors L2-normalised at the end */
};

/* What the parsing needs from the server: the tokenizer (one thread at a
 * time: tok_lock around it), the prompt, the limits. */
struct serve_model {
    struct clf_tokenizer *tok;
    void *tok_lock;          /* pthread_mutex_t * */
    const char *prompt;      /* the folder's default prompt, or NULL */
    int64_t max_length;      /* tokens per input, special tokens included */
    int64_t vocab;           /* token ids are in [0, vocab) */
    int64_t dim;             /* the embedding's columns */
    bool normalize;          /* the folder's Normalize (what /v1/embeddings does) */
    const char *name;        /* the model's name when a request gives none */
    size_t max_inputs;       /* inputs per request at most */
};

/* A failed request: the HTTP status, OpenAI's "code" and "param" (or
 * NULL), and the message. */
struct serve_error {
    unsigned status;
    const char *code, *param;
    char message[256];
};

/* Reads body (NUL-terminated) as endpoint ep's request into *r (free with
 * serve_request_free, also after a failure). False with *e filled when it
 * is malformed, of the wrong types, over a limit, or does not tokenise. */
bool serve_request_parse(const struct serve_model *m, enum serve_endpoint ep, const char *body,
                         struct serve_request *r, struct serve_error *e);

void serve_request_free(struct serve_request *r);

/* The answer to r as a JSON text (malloc'd): vecs [r->n, m->dim] cut to
 * r->dims columns and normalised as r says (in place). NULL when out of
 * memory. */
char *serve_answer(const struct serve_model *m, enum serve_endpoint ep,
                   const struct serve_request *r, float *vecs);

/* An error's JSON text (malloc'd): OpenAI's {"error": {"message", "type",
 * "param", "code"}}, or text-embeddings-inference's {"error",
 * "error_type"} for /embed. */
char *serve_error_json(enum serve_endpoint ep, const struct serve_error *e);

/* Fills *e; returns false (for `return serve_fail(...)`). */
bool serve_fail(struct serve_error *e, unsigned status, const char *code, const char *param,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A growing text (NUL-terminated while ok; ok false once an allocation
 * failed), and printf onto its end. Start from {NULL, 0, 0, true}. */
struct serve_text {
    char *s;
    size_t n, cap;
    bool ok;
};
void serve_put(struct serve_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- serve_batch.c: the queue and the workers ---- */

struct serve_batcher;

/* One device's runner (a clf_dp rank of one, set up as the folder says,
 * unnormalised: serve_answer normalises) and its context's errors. */
struct serve_device {
    struct clf_ctx *ctx;
    struct clf_dp *dp;
};

struct serve_batch_params {
    int64_t max_batch_tokens; /* ids per batch at most (a longer input goes alone) */
    int64_t max_wait_ms;      /* how long a worker waits for the batch to fill */
    size_t max_queue;         /* requests waiting at most */
    int64_t pool_skip;        /* tokens of the prompt left out of the pooling */
    int64_t dim;              /* the runners' embedding columns */
};

struct serve_metrics;

/* Starts a worker thread per device (devs stay the caller's, used by those
 * threads alone until serve_batcher_stop). CLF_OK, or CLF_E_OUT_OF_MEMORY
 * and nothing started. */
enum clf_status serve_batcher_start(struct serve_device *devs, int n,
                                    const struct serve_batch_params *p, struct serve_metrics *mx,
                                    struct serve_batcher **out);

/* Embeds r's inputs into vecs [r->n, dim], waiting until every one is done
 * (by any of the workers, in batches with other requests' inputs). False
 * with *e filled when the queue is full (503), the batcher stops, or a
 * device failed (500, its message). */
bool serve_batcher_embed(struct serve_batcher *b, const struct serve_request *r, float *vecs,
                         struct serve_error *e);

/* From now on the workers run what is queued at once, without waiting for
 * their batches to fill (a shutdown has begun); requests are still taken. */
void serve_batcher_hurry(struct serve_batcher *b);

/* Lets the workers finish what is queued, joins them, frees b (later
 * requests: 503). */
void serve_batcher_stop(struct serve_batcher *b);

/* ---- serve_metrics.c: counters and histograms for /metrics ---- */

enum serve_hist {
    SERVE_H_BATCH_INPUTS, /* inputs in one worker's batch */
    SERVE_H_BATCH_TOKENS, /* ids in it (unpadded) */
    SERVE_H_QUEUE_S,      /* an input's wait before a worker took it, seconds */
    SERVE_H_LATENCY_S,    /* a request's time from its first byte to its answer, seconds */
    SERVE_H_COUNT
};

struct serve_metrics *serve_metrics_create(void);
void serve_metrics_destroy(struct serve_metrics *m);
/* A request answered: endpoint, status, its latency in seconds. */
void serve_metrics_request(struct serve_metrics *m, enum serve_endpoint ep, unsigned status,
                           double seconds);
/* An embedding request's inputs and tokens. */
void serve_metrics_inputs(struct serve_metrics *m, size_t inputs, size_t tokens);
void serve_metrics_observe(struct serve_metrics *m, enum serve_hist h, double v);
/* The Prometheus text exposition (malloc'd), or NULL. */
char *serve_metrics_text(struct serve_metrics *m);

/* ---- serve_http.c: the HTTP server ---- */

struct serve_http;

struct serve_http_params {
    const char *host;  /* numeric IPv4 or IPv6 address */
    int port;          /* 0: a free one */
    size_t max_body;   /* bytes of a request's body at most */
    unsigned max_conn; /* connections at once */
};

/* Listens and answers (a thread per connection); *port receives the port.
 * False with the reason printed. */
bool serve_http_start(const struct serve_http_params *p, const struct serve_model *m,
                      struct serve_batcher *b, struct serve_metrics *mx, struct serve_http **out,
                      int *port);

/* Stops accepting, waits until the requests in flight are answered, then
 * closes everything. */
void serve_http_stop(struct serve_http *h);

#endif
