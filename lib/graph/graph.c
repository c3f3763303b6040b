/* Graph recording: nodes, dependencies, graph-owned output tensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

enum clf_status clf_graph_create(struct clf_ctx *ctx, struct clf_graph **out)
{
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    struct clf_graph *g = calloc(1, sizeof *g);
    if (!g)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph");
    clf_ctx_ref(ctx);
    g->ctx = ctx;
    *out = g;
    return CLF_OK;
}

static void node_release(struct clf_ctx *ctx, struct clf_node *n)
{
    if (n->out_owned)
        clf_tensor_free(n->out);
    if (n->state && n->state_free)
        n->state_free(ctx, n->state);
    free(n->deps);
}

void clf_graph_destroy(struct clf_graph *g)
{
    if (!g)
        return;
    clf_exec_free(g); /* the recorded command buffer, before what it uses */
    for (size_t i = 0; i < g->n_nodes; i++)
        node_release(g->ctx, &g->nodes[i]);
    for (size_t i = 0; i < g->n_adopted; i++)
        clf_tensor_free(g->adopted[i]);
    free(g->adopted);
    /* the storages' sub-buffers go before the arena they are cut from */
    for (size_t i = 0; i < g->n_stores; i++) {
        clf_storage_release(g->ctx, g->stores[i]->s);
        free(g->stores[i]);
    }
    free(g->stores);
    for (size_t i = 0; i < g->n_bufs; i++)
        clReleaseMemObject(g->bufs[i]);
    free(g->bufs);
    free(g->nodes);
    struct clf_ctx *ctx = g->ctx;
    free(g);
    clf_ctx_unref(ctx); /* last: this may free the context */
}

enum clf_status clf_graph_adopt(struct clf_graph *g, struct clf_tensor *t)
{
    struct clf_tensor **grown = realloc(g->adopted, (g->n_adopted + 1) * sizeof *grown);
    if (!grown) {
        clf_tensor_free(t);
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph tensor");
    }
    g->adopted = grown;
    g->adopted[g->n_adopted++] = t;
    t->owner = g;
    return CLF_OK;
}

enum clf_status clf_graph_view(struct clf_graph *g, struct clf_tensor *base, int ndim,
                               const int64_t *shape, const int64_t *strides, int64_t offset,
                               struct clf_tensor **out)
{
    enum clf_status st = clf_tensor_view(base, ndim, shape, strides, offset, out);
    return st == CLF_OK ? clf_graph_adopt(g, *out) : st;
}

size_t clf_graph_node_count(const struct clf_graph *g)
{
    return g ? g->n_nodes : 0;
}

enum clf_status clf_graph_check_call(struct clf_graph *g, struct clf_tensor **out, const char *op)
{
    if (out)
        *out = NULL;
    if (!g)
        return CLF_E_INVALID_ARG;
    if (!out)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL output pointer for %s", op);
    return CLF_OK;
}

enum clf_status clf_graph_check_input(struct clf_graph *g, const struct clf_tensor *t,
                                      const char *what)
{
    if (!t)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL tensor for %s", what);
    if (t->ctx != g->ctx)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "%s belongs to another context", what);
    return CLF_OK;
}

enum clf_status clf_graph_new_output(struct clf_graph *g, enum clf_dtype dtype, int ndim,
                                     const int64_t *shape, struct clf_tensor **out)
{
    if (g->n_stores == g->cap_stores) {
        size_t cap = g->cap_stores ? 2 * g->cap_stores : 16;
        struct clf_plan_store **grown = realloc(g->stores, cap * sizeof *grown);
        if (!grown) {
            *out = NULL;
            return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph tensor");
        }
        g->stores = grown;
        g->cap_stores = cap;
    }
    struct clf_plan_store *rec = calloc(1, sizeof *rec);
    if (!rec) {
        *out = NULL;
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph tensor");
    }
    enum clf_status st = clf_tensor_new_planned(g->ctx, &clf_plan_hooks, rec, dtype, ndim,
                                                shape, out);
    if (st != CLF_OK) {
        free(rec);
        return st;
    }
    (*out)->owner = g;
    (*out)->storage->refs++; /* the graph's reference, dropped at destroy */
    rec->g = g;
    rec->s = (*out)->storage;
    rec->index = g->n_stores;
    g->stores[g->n_stores++] = rec;
    g->planned = false;
    return CLF_OK;
}

enum clf_status clf_graph_keep(struct clf_graph *g, struct clf_tensor *t)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    if (!t)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL tensor to keep");
    struct clf_plan_store *rec = clf_plan_store_of(g, t->storage);
    if (!rec)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG,
                        "clf_graph_keep: the tensor was not created by this graph's ops");
    if (!rec->keep) {
        rec->keep = true;
        g->planned = false; /* a planned graph plans again on its next run */
    }
    return CLF_OK;
}

enum clf_status clf_graph_memory(const struct clf_graph *g, size_t *planned, size_t *naive)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    if (!planned || !naive)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL output pointer");
    *planned = *naive = 0;
    if (!g->planned)
        return clf_fail(g->ctx, CLF_E_STATE,
                        "the graph's memory is planned by its first run (none since the "
                        "latest change)");
    *planned = g->planned_bytes;
    *naive = g->naive_bytes;
    return CLF_OK;
}

static bool reads(const struct clf_node *n, const struct clf_storage *s)
{
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] && n->in[i]->storage == s)
            return true;
    return false;
}

static void add_dep(struct clf_node *n, size_t j)
{
    for (size_t k = 0; k < n->n_deps; k++)
        if (n->deps[k] == j)
            return;
    n->deps[n->n_deps++] = j;
}

enum clf_status clf_graph_add_node(struct clf_graph *g, const struct clf_node *proto)
{
    struct clf_node node = *proto;
    node.deps = NULL;
    node.n_deps = 0;
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        struct clf_node *grown = realloc(g->nodes, cap * sizeof *grown);
        if (!grown) {
            node_release(g->ctx, &node);
            return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph node");
        }
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    /* at most one writer per input, plus the output's writer and readers */
    node.deps = calloc(g->n_nodes + 1, sizeof *node.deps);
    if (!node.deps) {
        node_release(g->ctx, &node);
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph node");
    }
    for (int i = 0; i < node.n_in; i++) {
        if (!node.in[i])
            continue;
        for (size_t j = g->n_nodes; j-- > 0;)
            if (g->nodes[j].out->storage == node.in[i]->storage) {
                add_dep(&node, j);
                break;
            }
    }
    const struct clf_storage *os = node.out->storage;
    for (size_t j = g->n_nodes; j-- > 0;) {
        if (g->nodes[j].out->storage == os) {
            add_dep(&node, j);
            break;
        }
        if (reads(&g->nodes[j], os))
            add_dep(&node, j);
    }
    node.n_deps_rec = node.n_deps;
    g->nodes[g->n_nodes++] = node;
    g->planned = false; /* lifetimes changed: plan again on the next run */
    return CLF_OK;
}
