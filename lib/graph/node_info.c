/* What a graph's nodes are, compute and took: clf_graph_node_info. */
#include <stdio.h>
#include <string.h>

#include "../runtime/abi.h"
#include "graph.h"

/* Bytes of t's elements (a view: its own extent). */
static double tensor_bytes(const struct clf_tensor *t)
{
    return (double)clf_tensor_numel(t) * (double)clf_dtype_size(t->dtype);
}

/* The output's bytes and each distinct input's. */
static double node_bytes(const struct clf_node *node)
{
    double b = tensor_bytes(node->out);
    for (int j = 0; j < node->n_in; j++) {
        bool seen = !node->in[j];
        for (int k = 0; k < j && !seen; k++)
            seen = node->in[k] == node->in[j];
        if (!seen)
            b += tensor_bytes(node->in[j]);
    }
    return b;
}

enum clf_status clf_graph_node_info(const struct clf_graph *g, size_t i, struct clf_node_info *out)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    if (!out)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "clf_graph_node_info: NULL output");
    if (i >= g->n_nodes)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "no node %zu (the graph has %zu)", i,
                        g->n_nodes);
    const struct clf_node *n = &g->nodes[i];
    struct clf_node_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    info.op = n->impl->name;
    if (n->impl->describe)
        n->impl->describe(n, info.desc, sizeof info.desc);
    else
        snprintf(info.desc, sizeof info.desc, "%s", n->impl->name);
    info.flops = n->impl->flops ? n->impl->flops(n) : 0;
    info.bytes = node_bytes(n);
    info.timed = clf_exec_node_span(g, i, &info.replayed, &info.start_ms, &info.end_ms,
                                    &info.queue);
    if (info.timed)
        info.time_ms = n->time_ms;
    return clf_abi_export(g->ctx, "clf_node_info", out, &info, sizeof info);
}
