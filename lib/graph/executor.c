/*
 * Executor: enqueues the nodes of a graph in recording order (a topological
 * order), each waiting on its dependencies' events, so that an out-of-order
 * queue may overlap independent nodes; then waits for all of them.
 */
#include <stdlib.h>

#include "graph.h"

/* Device time of a completed event in ms, or -1 without profiling. */
static double event_ms(cl_event ev)
{
    cl_ulong t0 = 0, t1 = 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) !=
            CL_SUCCESS ||
        t1 < t0)
        return -1;
    return (double)(t1 - t0) / 1e6;
}

/* Waits for and releases the first n events of evs, recording each node's
 * device time. */
static cl_int finish(struct clf_graph *g, cl_event *evs, size_t n)
{
    cl_int worst = CL_SUCCESS;
    for (size_t i = 0; i < n; i++) {
        g->nodes[i].timed = false;
        if (!evs[i])
            continue;
        cl_int err = clWaitForEvents(1, &evs[i]);
        cl_int status = CL_COMPLETE;
        if (err == CL_SUCCESS)
            err = clGetEventInfo(evs[i], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                 &status, NULL);
        if (err == CL_SUCCESS && status < 0)
            err = status;
        if (err != CL_SUCCESS && worst == CL_SUCCESS)
            worst = err;
        double ms = err == CL_SUCCESS ? event_ms(evs[i]) : -1;
        g->nodes[i].timed = ms >= 0;
        g->nodes[i].time_ms = ms;
        clReleaseEvent(evs[i]);
    }
    return worst;
}

enum clf_status clf_graph_node_time(const struct clf_graph *g, size_t i, double *ms)
{
    if (!g || !ms)
        return CLF_E_INVALID_ARG;
    if (i >= g->n_nodes)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "no node %zu (the graph has %zu)", i,
                        g->n_nodes);
    if (!g->nodes[i].timed)
        return clf_fail(g->ctx, CLF_E_STATE, "node %zu has no time (not run, or no profiling)",
                        i);
    *ms = g->nodes[i].time_ms;
    return CLF_OK;
}

enum clf_status clf_graph_run(struct clf_graph *g)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = g->ctx;
    if (g->n_nodes == 0)
        return CLF_OK;
    size_t max_deps = 1;
    for (size_t i = 0; i < g->n_nodes; i++)
        max_deps = g->nodes[i].n_deps > max_deps ? g->nodes[i].n_deps : max_deps;
    cl_event *evs = calloc(g->n_nodes, sizeof *evs);
    cl_event *wait = calloc(max_deps, sizeof *wait);
    if (!evs || !wait) {
        free(evs);
        free(wait);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to run a graph");
    }
    enum clf_status st = CLF_OK;
    size_t done = 0;
    for (; done < g->n_nodes; done++) {
        struct clf_node *node = &g->nodes[done];
        for (size_t k = 0; k < node->n_deps; k++)
            wait[k] = evs[node->deps[k]];
        st = node->impl->enqueue(ctx, node, (cl_uint)node->n_deps, wait, &evs[done]);
        if (st != CLF_OK) {
            evs[done] = NULL;
            break;
        }
        node->out->storage->version++;
    }
    if (st != CLF_OK)
        clFinish(ctx->queue); /* let what was enqueued drain before reporting */
    cl_int err = finish(g, evs, done);
    if (st == CLF_OK && err != CL_SUCCESS)
        st = clf_fail_cl(ctx, err, "graph execution");
    free(evs);
    free(wait);
    return st;
}
