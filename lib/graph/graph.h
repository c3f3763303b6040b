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
struct clf_graph;

/* The memory plan's record of one storage a graph's ops create
 * (clf_graph_new_output); the storage's planner (runtime/tensor.h). */
struct clf_plan_store {
    struct clf_graph *g;
    struct clf_storage *s; /* one reference, dropped when g is destroyed */
    size_t index;          /* in g->stores */
    bool keep;             /* clf_graph_keep: lives to the end of the graph */
    bool reused;           /* latest plan: a later tensor takes its memory during a run */
    size_t off;            /* latest plan: byte offset in the arena or its buffer */
    int buf;               /* latest plan: which of the graph's buffers */
};

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
    /* Optional: the node's floating-point (or integer) operations, for
     * clf_graph_node_info; NULL means 0 (data movement). */
    double (*flops)(const struct clf_node *node);
    /* Optional, for ops whose choice an auto-tuner measures (graph_tune.c):
     * the tuner's steps (CLF_TUNER_STEPS) that the node's first run would
     * spend measuring under the context's tuning mode, with `thorough`
     * whatever the shipped defaults say, and "<family> <class key>" in key
     * (nodes of one key share one measurement); 0 when nothing is to be
     * measured (a forced choice, a record, a node that already ran). */
    int (*tune_steps)(struct clf_ctx *ctx, const struct clf_node *node, bool thorough,
                      char *key, size_t size);
    /* Measures the node's class now and keeps the record (with tune_steps). */
    enum clf_status (*tune)(struct clf_ctx *ctx, struct clf_node *node);
    /* Optional, for ops that make device buffers of their own at their first
     * run: *bytes their size; CLF_E_OUT_OF_MEMORY with a message giving the
     * sizes when one of them can never be allocated on the device (checked
     * by clf_graph_check_fit before any tuning or building). */
    enum clf_status (*own_bytes)(struct clf_ctx *ctx, const struct clf_node *node,
                                 size_t *bytes);
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
    size_t *deps;                     /* indices of earlier nodes this one waits for;
                                         capacity: the node's own index + 1 */
    size_t n_deps;
    size_t n_deps_rec;                /* deps[0..n_deps_rec) come from recording, the
                                         rest from the memory plan (memory reuse) */
    double time_ms;                   /* device time of its commands, summed, latest run */
    bool timed;                       /* time_ms is valid */
};

struct clf_graph {
    struct clf_ctx *ctx;
    struct clf_node *nodes;
    size_t n_nodes, cap_nodes;
    struct clf_tensor **adopted; /* tensors (views) the graph destroys */
    size_t n_adopted;
    /* Memory plan (plan.c). The records of the storages of the tensors the
     * graph's ops create (clf_graph_new_output), in creation order. */
    struct clf_plan_store **stores;
    size_t n_stores, cap_stores;
    bool planned;         /* every storage in stores has memory, deps include reuse */
    bool ran;             /* clf_graph_run started since the latest plan */
    bool no_reuse;        /* testing: every storage lives to the end (no sharing) */
    bool plan_pool;       /* testing: skip the arena, use the buffer pool fallback */
    cl_mem *bufs;         /* the arena (one buffer) or the pool's whole buffers */
    size_t n_bufs;
    bool arena;           /* bufs[0] is an arena of sub-buffers */
    size_t planned_bytes; /* the arena's size, or the sum of the pool's buffers */
    size_t naive_bytes;   /* the sum of the storages' sizes */
    uint64_t plan_gen;    /* bumped by every plan: whoever keeps the storages' cl_mem
                             handles across runs (recorded command buffers) compares it */
    struct clf_exec *exec; /* executor state (executor.c): queues used, timings, the
                              recorded command buffer; freed by clf_exec_free */
    size_t tune_checked;  /* nodes [0, tune_checked) had their tuning done before a
                             run (graph_tune.c) */
};

/* The tuning pass (graph_tune.c): measures every class that g's nodes
 * from g->tune_checked on would measure in their first run, all of them up
 * front with one progress count (with `thorough`, shipped defaults do not
 * count, and every node is looked at). */
enum clf_status clf_graph_tune_pass(struct clf_graph *g, bool thorough);

/* Frees g->exec (executor.c); called by clf_graph_destroy. */
void clf_exec_free(struct clf_graph *g);

/* Node i in g's latest run (executor.c): *replayed tells whether the run
 * replayed a recorded command buffer; true with the span of its commands
 * (*start_ms, *end_ms from the run's first start) and its *queue when the
 * run timed the node (profiling, not a replay). */
bool clf_exec_node_span(const struct clf_graph *g, size_t i, bool *replayed, double *start_ms,
                        double *end_ms, int *queue);

/*
 * Plans the memory of g's storages (plan.c): frees any previous plan, gives
 * each storage device memory by lifetime (see plan.c) and adds to the
 * nodes the dependencies that memory reuse needs. Clears g->ran.
 */
enum clf_status clf_graph_plan(struct clf_graph *g);

/* Called by clf_graph_run before enqueueing: plans when g is not planned,
 * then marks g as run (its storages become readable). */
enum clf_status clf_graph_prepare_run(struct clf_graph *g);

/* Refuses (CLF_E_OUT_OF_MEMORY, the sizes in the message) a graph that
 * cannot fit the device: a storage over CL_DEVICE_MAX_MEM_ALLOC_SIZE, a
 * node's own buffer that cannot be allocated (own_bytes), or the planned
 * intermediates with the nodes' own buffers over CL_DEVICE_GLOBAL_MEM_SIZE.
 * Done by clf_graph_run and clf_graph_tune before tuning (plan.c). */
enum clf_status clf_graph_check_fit(struct clf_graph *g);

/* The hooks of the storages g's ops create (plan.c): a tensor is readable
 * once its graph has run, unless a later tensor took its memory during the
 * run (an intermediate not passed to clf_graph_keep); writing one plans
 * its graph first, so that it has memory (e.g. poisoning outputs before a
 * run; what is written into an intermediate may be overwritten by the
 * run). */
extern const struct clf_storage_hooks clf_plan_hooks;

/* The record of s when g's ops created it, else NULL. */
struct clf_plan_store *clf_plan_store_of(const struct clf_graph *g, const struct clf_storage *s);

/* Releases the memory of g's plan (the storages' handles, then the
 * buffers); g is no longer planned. */
void clf_graph_plan_free(struct clf_graph *g);

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

/* Creates a graph-owned dense output tensor of the given shape. Its
 * storage gets device memory when the graph plans (first run). */
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
