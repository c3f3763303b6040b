/*
 * The tuning pass of a graph: before a graph's first run (and in
 * clf_graph_tune), the shape classes its nodes' auto-tuners would measure
 * are listed first, one per class key, so that the total is known; then
 * each is measured under one progress count ("tuning", steps done of all;
 * lib/runtime/tuner.h). The nodes then find their choices recorded.
 */
#include <stdlib.h>
#include <string.h>

#include "../runtime/tuner.h"
#include "graph.h"

#define KEY_SIZE 96

/* A class to measure: the first node of its key, and its steps. */
struct pending {
    struct clf_node *node;
    int steps;
    char key[KEY_SIZE];
};

/* Lists the classes of nodes [from, n) into list (deduplicated by key);
 * returns their count, *steps their steps. */
static size_t list_pending(struct clf_graph *g, size_t from, bool thorough,
                           struct pending *list, int *steps)
{
    size_t n = 0;
    *steps = 0;
    for (size_t i = from; i < g->n_nodes; i++) {
        struct clf_node *node = &g->nodes[i];
        char key[KEY_SIZE];
        int s = node->impl->tune_steps
                    ? node->impl->tune_steps(g->ctx, node, thorough, key, sizeof key)
                    : 0;
        bool seen = false;
        for (size_t j = 0; j < n && !seen && s > 0; j++)
            seen = !strcmp(list[j].key, key);
        if (s <= 0 || seen)
            continue;
        list[n].node = node;
        list[n].steps = s;
        memcpy(list[n].key, key, sizeof key);
        *steps += s;
        n++;
    }
    return n;
}

enum clf_status clf_graph_tune_pass(struct clf_graph *g, bool thorough)
{
    struct clf_ctx *ctx = g->ctx;
    size_t from = thorough ? 0 : g->tune_checked;
    if (from >= g->n_nodes || ctx->tune_mode == CLF_TUNE_OFF)
        return CLF_OK;
    struct pending *list = malloc((g->n_nodes - from) * sizeof *list);
    if (!list)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to plan tuning");
    int steps = 0;
    size_t n = list_pending(g, from, thorough, list, &steps);
    enum clf_status st = CLF_OK;
    clf_tuner_session_begin(ctx, steps);
    for (size_t i = 0; i < n && st == CLF_OK; i++) {
        ctx->tune_announced = true;
        st = list[i].node->impl->tune(ctx, list[i].node);
        if (ctx->tune_announced) { /* it measured nothing: not counted after all */
            ctx->tune_announced = false;
            ctx->tune_total -= list[i].steps;
        }
    }
    clf_tuner_session_end(ctx);
    free(list);
    if (st == CLF_OK && !thorough)
        g->tune_checked = g->n_nodes;
    return st;
}

enum clf_status clf_graph_tune(struct clf_graph *g)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    if (g->ctx->tune_mode == CLF_TUNE_OFF)
        return clf_fail(g->ctx, CLF_E_STATE, "clf_graph_tune: the context's tuning is off");
    enum clf_status st = clf_graph_check_fit(g);
    return st == CLF_OK ? clf_graph_tune_pass(g, true) : st;
}
