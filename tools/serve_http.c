/*
 * `clformer serve`'s HTTP side on libmicrohttpd (see serve.h): a thread
 * per connection, whose handler reads the body, parses it (serve_api.c),
 * waits for its vectors (serve_batcher_embed) and answers. A client that
 * goes away while it waits only loses its answer: the batch it shares
 * with others runs and their answers go out. The requests in flight are
 * counted from a request's first call to libmicrohttpd's "completed"
 * notice, so that stopping waits for them.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "serve.h"

struct serve_http {
    struct MHD_Daemon *d;
    const struct serve_model *m;
    struct serve_batcher *b;
    struct serve_metrics *mx;
    size_t max_body;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned in_flight;
    bool stopping;
    atomic_bool listening; /* started: libmicrohttpd's messages go to stderr */
    char start_msg[256]; /* before: its last message, for the error */
};

/* One request's state, from its first call to its completion. */
struct req {
    enum serve_endpoint ep;
    double t0;
    char *body;
    size_t len, cap;
    bool too_big; /* the body passed max_body: the rest is dropped */
    bool answered;
};

/* Queues text (malloc'd; freed here) as the answer. */
static enum MHD_Result answer(struct serve_http *h, struct MHD_Connection *c, struct req *q,
                              unsigned status, char *text, const char *type)
{
    if (!text) {
        static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                            "\"param\":null,\"code\":\"out_of_memory\"}}";
        status = 500;
        type = "application/json";
        text = strdup(oom);
        if (!text)
            return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                q->ep == SERVE_EP_HEALTH || q->ep == SERVE_EP_METRICS ? "GET"
                                                                                      : "POST");
    const enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    q->answered = true;
    serve_metrics_request(h->mx, q->ep, status, cli_now_ms() / 1e3 - q->t0);
    return ok;
}

static enum MHD_Result answer_error(struct serve_http *h, struct MHD_Connection *c, struct req *q,
                                    const struct serve_error *e)
{
    return answer(h, c, q, e->status, serve_error_json(q->ep, e), "application/json");
}

/* The whole body read: the embeddings, or the error. */
static enum MHD_Result embed(struct serve_http *h, struct MHD_Connection *c, struct req *q)
{
    struct serve_error e;
    if (q->too_big) {
        serve_fail(&e, 413, "body_too_large", NULL,
                   "the body is larger than the server's %zu bytes (--max-body-bytes)",
                   h->max_body);
        return answer_error(h, c, q, &e);
    }
    struct serve_request r;
    float *vecs = NULL;
    bool ok = serve_request_parse(h->m, q->ep, q->body ? q->body : "", &r, &e);
    if (ok) {
        vecs = malloc(r.n * (size_t)h->m->dim * sizeof *vecs);
        ok = vecs ? serve_batcher_embed(h->b, &r, vecs, &e)
                  : serve_fail(&e, 500, "out_of_memory", NULL, "out of memory");
    }
    enum MHD_Result res;
    if (ok) {
        serve_metrics_inputs(h->mx, r.n, r.tokens);
        res = answer(h, c, q, 200, serve_answer(h->m, q->ep, &r, vecs), "application/json");
    } else {
        res = answer_error(h, c, q, &e);
    }
    free(vecs);
    serve_request_free(&r);
    return res;
}

static enum serve_endpoint route(const char *url)
{
    for (int i = 0; i < SERVE_EP_OTHER; i++)
        if (!strcmp(url, serve_ep_names[i]))
            return (enum serve_endpoint)i;
    return SERVE_EP_OTHER;
}

/* The first call of a request: 404, 405, the GET endpoints, or a body
 * announced too large are answered at once. */
static enum MHD_Result first_call(struct serve_http *h, struct MHD_Connection *c, struct req *q,
                                  const char *url, const char *method)
{
    struct serve_error e;
    const bool post = q->ep == SERVE_EP_OPENAI || q->ep == SERVE_EP_TEI;
    if (q->ep == SERVE_EP_OTHER) {
        serve_fail(&e, 404, "not_found", NULL,
                   "no endpoint %s (POST /v1/embeddings, POST /embed, GET /health, GET "
                   "/metrics)",
                   url);
        return answer_error(h, c, q, &e);
    }
    if (strcmp(method, post ? "POST" : "GET")) {
        serve_fail(&e, 405, "method_not_allowed", NULL, "%s takes %s, not %s", url,
                   post ? "POST" : "GET", method);
        return answer_error(h, c, q, &e);
    }
    if (q->ep == SERVE_EP_HEALTH) {
        pthread_mutex_lock(&h->lock);
        const bool stopping = h->stopping;
        pthread_mutex_unlock(&h->lock);
        return answer(h, c, q, stopping ? 503 : 200,
                      strdup(stopping ? "{\"status\":\"stopping\"}" : "{\"status\":\"ok\"}"),
                      "application/json");
    }
    if (q->ep == SERVE_EP_METRICS)
        return answer(h, c, q, 200, serve_metrics_text(h->mx), "text/plain; version=0.0.4");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > h->max_body) {
        q->too_big = true;
        return embed(h, c, q);
    }
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **state)
{
    (void)version;
    struct serve_http *h = cls;
    struct req *q = *state;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO;
        q->t0 = cli_now_ms() / 1e3;
        q->ep = route(url);
        *state = q;
        pthread_mutex_lock(&h->lock);
        h->in_flight++;
        pthread_mutex_unlock(&h->lock);
        return first_call(h, c, q, url, method);
    }
    if (q->answered) { /* answered early: the rest of the body is dropped */
        *size = 0;
        return MHD_YES;
    }
    if (*size) {
        if (q->too_big || q->len + *size > h->max_body) {
            q->too_big = true;
        } else {
            if (q->len + *size + 1 > q->cap) {
                size_t cap = 2 * (q->len + *size) + 1;
                char *b = realloc(q->body, cap);
                if (!b)
                    return MHD_NO;
                q->body = b;
                q->cap = cap;
            }
            memcpy(q->body + q->len, data, *size);
            q->len += *size;
            q->body[q->len] = 0;
        }
        *size = 0;
        return MHD_YES;
    }
    return embed(h, c, q);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    struct serve_http *h = cls;
    struct req *q = *state;
    if (!q)
        return;
    free(q->body);
    free(q);
    *state = NULL;
    pthread_mutex_lock(&h->lock);
    h->in_flight--;
    pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->lock);
}

/* libmicrohttpd's messages: kept while starting (the error says it on
 * its one line), then "clformer: libmicrohttpd: ..." lines on stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct serve_http *h = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    if (h->listening)
        fprintf(stderr, "clformer: libmicrohttpd: %s\n", msg);
    else
        snprintf(h->start_msg, sizeof h->start_msg, "%s", msg);
}

bool serve_http_start(const struct serve_http_params *p, const struct serve_model *m,
                      struct serve_batcher *b, struct serve_metrics *mx, struct serve_http **out,
                      int *port)
{
    *out = NULL;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p->port)};
    const bool ipv6 = inet_pton(AF_INET, p->host, &v4.sin_addr) != 1;
    if (ipv6 && inet_pton(AF_INET6, p->host, &v6.sin6_addr) != 1) {
        cli_error("--host %s is not a numeric IPv4 or IPv6 address", p->host);
        return false;
    }
    struct serve_http *h = calloc(1, sizeof *h);
    if (!h) {
        cli_error("out of memory");
        return false;
    }
    *h = (struct serve_http){.m = m, .b = b, .mx = mx, .max_body = p->max_body};
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->idle, NULL);
    const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                           MHD_USE_ITC | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(
        flags, (uint16_t)p->port, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR,
        ipv6 ? (struct sockaddr *)&v6 : (struct sockaddr *)&v4, MHD_OPTION_NOTIFY_COMPLETED,
        completed, h, MHD_OPTION_CONNECTION_LIMIT, p->max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        cli_error("cannot listen on %s port %d: %s", p->host, p->port,
                  *h->start_msg ? h->start_msg : "libmicrohttpd failed to start");
        serve_http_stop(h);
        return false;
    }
    h->listening = true;
    *port = info->port;
    *out = h;
    return true;
}

void serve_http_stop(struct serve_http *h)
{
    if (!h)
        return;
    if (h->d) {
        const MHD_socket s = MHD_quiesce_daemon(h->d); /* no new connection */
        if (s != MHD_INVALID_SOCKET)
            close(s);
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        while (h->in_flight)
            pthread_cond_wait(&h->idle, &h->lock);
        pthread_mutex_unlock(&h->lock);
        MHD_stop_daemon(h->d);
    }
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
