/*
 * Internal graph representation: nodes recorded in program order, each with
 * an op implementation, its input tensors, its output tensor and the indices
 * of the earlier nodes it depends on.
 */
#ifndef CLF_GRAPH_GRAPH_H
#define CLF_GRAPH_GRAPH_H

#include "../runtime/tensor.h"

#define CLF_NODE_MAX_IN 4
#define CLF_NODE_MAX_PARAMS 4

struct clf_node;

/* What an op family provides to the executor. */
struct clf_op_impl {
    const char *name; /* for messages and profiles, e.g. "add" */
    /* Enqueues the node after the events in wait; *ev receives its
     * completion event. Sets the context's last error on failure. */
    enum clf_status (*enqueue)(struct clf_ctx *ctx, const struct clf_node *node, cl_uint n_wait,
                               const cl_event *wait, cl_event *ev);
};

struct clf_node {
    const struct clf_op_impl *impl;
    struct clf_tensor *in[CLF_NODE_MAX_IN];
    int n_in;
    struct clf_tensor *out;
    float params[CLF_NODE_MAX_PARAMS];
    int n_params;
    size_t *deps; /* indices of earlier nodes this one waits for */
    size_t n_deps;
};

struct clf_graph {
    struct clf_ctx *ctx;
    struct clf_node *nodes;
    size_t n_nodes, cap_nodes;
};

/* Checks that a tensor can be an input of g: same context. */
enum clf_status clf_graph_check_input(struct clf_graph *g, const struct clf_tensor *t,
                                      const char *what);

/* Creates a graph-owned dense output tensor shaped like `like`. */
enum clf_status clf_graph_new_output(struct clf_graph *g, enum clf_dtype dtype,
                                     const struct clf_tensor *like, struct clf_tensor **out);

/* Appends a node; takes ownership of `out` (a graph-owned tensor) whether
 * or not it succeeds. Dependencies are the latest earlier writers of each
 * input's storage. */
enum clf_status clf_graph_add_node(struct clf_graph *g, const struct clf_op_impl *impl,
                                   struct clf_tensor *const *in, int n_in, const float *params,
                                   int n_params, struct clf_tensor *out);

#endif
