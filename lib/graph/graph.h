/*
 * Internal graph representation: nodes recorded in program order, each with
 * an op implementation, its input tensors, its output tensor, parameters,
 * optional per-node state (scratch buffers kept between runs) and the
 * indices of the earlier nodes it depends on.
 */
#ifndef CLF_GRAPH_GRAPH_H
#define CLF_GRAPH_GRAPH_H

#include "../runtime/tensor.h"

#define CLF_NODE_MAX_IN 6
#define CLF_NODE_MAX_PARAMS 8

struct clf_node;

/* What an op family provides to the executor. */
struct clf_op_impl {
    const char *name; /* for messages and profiles, e.g. "add" */
    /* Enqueues the node after the events in wait; *ev receives its
     * completion event. Sets the context's last error on failure. The node
     * is mutable so that an op may keep scratch state in node->state. */
    enum clf_status (*enqueue)(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                               const cl_event *wait, cl_event *ev);
    /* Optional: writes what the node runs (e.g. the kernel variant chosen)
     * into buf; NULL means the op's name alone. */
    void (*describe)(const struct clf_node *node, char *buf, size_t size);
};

struct clf_node {
    const struct clf_op_impl *impl;
    struct clf_tensor *in[CLF_NODE_MAX_IN]; /* NULL entries allowed (optional inputs) */
    int n_in;
    struct clf_tensor *out;
    bool out_owned;                   /* out was created by the graph and dies with it */
    float fparams[CLF_NODE_MAX_PARAMS];
    int64_t iparams[CLF_NODE_MAX_PARAMS];
    void *state;                      /* op-specific, freed by state_free */
    void (*state_free)(struct clf_ctx *ctx, void *state);
    size_t *deps;                     /* indices of earlier nodes this one waits for */
    size_t n_deps;
    double time_ms;                   /* device time of the last command, latest run */
    bool timed;                       /* time_ms is valid */
};

struct clf_graph {
    struct clf_ctx *ctx;
    struct clf_node *nodes;
    size_t n_nodes, cap_nodes;
    struct clf_tensor **adopted; /* tensors (views) the graph destroys */
    size_t n_adopted;
};

/* Hands a tensor (typically a view made while recording) to the graph,
 * which destroys it with itself; on failure t is destroyed. */
enum clf_status clf_graph_adopt(struct clf_graph *g, struct clf_tensor *t);

/* A view of base (clf_tensor_view) owned by the graph. */
enum clf_status clf_graph_view(struct clf_graph *g, struct clf_tensor *base, int ndim,
                               const int64_t *shape, const int64_t *strides, int64_t offset,
                               struct clf_tensor **out);

/* Checks that a tensor can be an input of g: not NULL, same context. */
enum clf_status clf_graph_check_input(struct clf_graph *g, const struct clf_tensor *t,
                                      const char *what);

/* Creates a graph-owned dense output tensor of the given shape. */
enum clf_status clf_graph_new_output(struct clf_graph *g, enum clf_dtype dtype, int ndim,
                                     const int64_t *shape, struct clf_tensor **out);

/*
 * Appends a copy of *proto (impl, in, n_in, out, out_owned, parameters and
 * state set; deps are computed here). Dependencies: for every input, the
 * latest earlier node writing its storage (read after write); for the
 * output, the latest earlier writer of its storage and every reader since
 * (write after write, write after read). On failure an owned output and the
 * state are freed.
 */
enum clf_status clf_graph_add_node(struct clf_graph *g, const struct clf_node *proto);

/* Common front of an op: checks g and out, sets *out = NULL. */
enum clf_status clf_graph_check_call(struct clf_graph *g, struct clf_tensor **out,
                                     const char *op);

#endif
