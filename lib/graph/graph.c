/* Graph recording: nodes, dependencies, graph-owned output tensors. */
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
    g->ctx = ctx;
    *out = g;
    return CLF_OK;
}

void clf_graph_destroy(struct clf_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_nodes; i++) {
        clf_tensor_free(g->nodes[i].out);
        free(g->nodes[i].deps);
    }
    free(g->nodes);
    free(g);
}

size_t clf_graph_node_count(const struct clf_graph *g)
{
    return g ? g->n_nodes : 0;
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

enum clf_status clf_graph_new_output(struct clf_graph *g, enum clf_dtype dtype,
                                     const struct clf_tensor *like, struct clf_tensor **out)
{
    enum clf_status st = clf_tensor_new(g->ctx, dtype, like->ndim, like->shape, out);
    if (st == CLF_OK)
        (*out)->owner = g;
    return st;
}

enum clf_status clf_graph_add_node(struct clf_graph *g, const struct clf_op_impl *impl,
                                   struct clf_tensor *const *in, int n_in, const float *params,
                                   int n_params, struct clf_tensor *out)
{
    struct clf_node node;
    memset(&node, 0, sizeof node);
    if (n_in > CLF_NODE_MAX_IN || n_params > CLF_NODE_MAX_PARAMS) {
        clf_tensor_free(out);
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "too many inputs or parameters for %s",
                        impl->name);
    }
    if (g->n_nodes == g->cap_nodes) {
        size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        struct clf_node *grown = realloc(g->nodes, cap * sizeof *grown);
        if (!grown) {
            clf_tensor_free(out);
            return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph node");
        }
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    node.deps = calloc((size_t)n_in + 1, sizeof *node.deps);
    if (!node.deps) {
        clf_tensor_free(out);
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a graph node");
    }
    node.impl = impl;
    node.n_in = n_in;
    node.out = out;
    for (int i = 0; i < n_in; i++)
        node.in[i] = in[i];
    for (int i = 0; i < n_params; i++)
        node.params[i] = params[i];
    node.n_params = n_params;
    /* Read-after-write: the latest earlier node whose output shares storage
     * with an input (outputs are fresh tensors, so there is no other hazard). */
    for (int i = 0; i < n_in; i++) {
        for (size_t j = g->n_nodes; j-- > 0;) {
            if (g->nodes[j].out->storage != in[i]->storage)
                continue;
            bool seen = false;
            for (size_t k = 0; k < node.n_deps; k++)
                seen |= node.deps[k] == j;
            if (!seen)
                node.deps[node.n_deps++] = j;
            break;
        }
    }
    g->nodes[g->n_nodes++] = node;
    return CLF_OK;
}
