/*
 * Executor: runs the nodes of a graph in recording order (a topological
 * order), each waiting on its dependencies' events, then waits for all.
 *
 * Queues (clf_ctx_params.queues): with one queue (out-of-order when the
 * device has them) every node goes there; with N in-order queues each node
 * continues the queue of its dependency enqueued last when that queue's
 * latest node is that dependency (a chain stays on one queue), else takes
 * the least recently used queue; wait lists carry the events across
 * queues. ctx->queue is pointed at the node's queue while the node is
 * enqueued (the ops enqueue there) and set back to queues[0] after.
 *
 * Command buffers (cl_khr_command_buffer, clf_ctx_params.command_buffers):
 * the first run of a graph is direct (it tunes, chooses kernels, packs
 * weights); the next one records every node into a command buffer (the ops
 * run as usual, clf_launch / clf_marker record instead of enqueueing, see
 * runtime/launch.h), finalizes and enqueues it; later runs enqueue it
 * again. A node that cannot be recorded (CLBlast, host work, anything that
 * enqueues on a queue directly: ctx->queue is NULL while recording, so it
 * fails) makes the recording fail: the run is then made directly, and the
 * graph is not recorded again (until it gains nodes) when that direct run
 * succeeds. A recording is dropped when the graph gains nodes or is
 * planned again (its buffers may move), and when a graph input with
 * derived buffers (packed weights) was written since it was recorded: the
 * next run is direct (it refreshes them) and the one after records again.
 * Replays give no per-node times (the command buffer runs as one command).
 *
 * Mutable recordings (cl_khr_command_buffer_mutable_dispatch, ctx->cb.update):
 * a recording that stops describing the graph (planned again, a derived
 * input written) is kept as stale instead of dropped, and where it would be
 * recorded anew it is brought up to date (an update pass, launch.h: the
 * same launches with the arguments and global sizes of now). A destroyed
 * graph's recording becomes a spare of the context, which the next graph
 * of as many nodes to record takes over and updates (the runners' graphs of
 * another length). An update that fails (other kernels or dependencies:
 * a GEMM's tiles change with m, a new plan orders nodes otherwise) drops
 * the recording and records anew.
 */
#include <stdlib.h>

#include "graph.h"
#include "../runtime/fault.h"
#include "../runtime/launch.h"

/* A graph input that has derived buffers, and its storage version when
 * the graph was recorded. */
struct rec_input {
    struct clf_tensor *t;
    uint64_t version;
};

struct clf_exec {
    size_t cap;             /* entries in the per-node arrays */
    double *start_ms, *end_ms;
    int *queue;             /* queue index of each node, latest direct run */
    bool ran;               /* a run finished (successfully or not) */
    bool replayed;          /* the latest run replayed the command buffer */

    size_t direct_ok_nodes; /* n_nodes of the latest successful direct run (+1) */
    size_t unrecordable_nodes; /* n_nodes (+1) at which recording failed */
    struct clf_recorder rec; /* rec.cb: the recording (NULL: none); rec.nodes:
                                the graph's nodes when it was recorded */
    bool rec_stale;         /* rec (mutable) no longer describes the graph: it is
                               brought up to date where it would be recorded */
    uint64_t rec_plan_gen;
    struct rec_input *inputs;
    size_t n_inputs;
};

void clf_exec_free(struct clf_graph *g)
{
    struct clf_exec *ex = g->exec;
    if (!ex)
        return;
    clf_recorder_keep_spare(g->ctx, &ex->rec); /* a mutable one, for a later graph */
    free(ex->start_ms);
    free(ex->end_ms);
    free(ex->queue);
    free(ex->inputs);
    free(ex);
    g->exec = NULL;
}

static struct clf_exec *exec_get(struct clf_graph *g)
{
    struct clf_exec *ex = g->exec;
    if (!ex && !(ex = g->exec = calloc(1, sizeof *ex)))
        return NULL;
    if (ex->cap < g->n_nodes) {
        double *s = realloc(ex->start_ms, g->n_nodes * sizeof *s);
        if (s)
            ex->start_ms = s;
        double *e = realloc(ex->end_ms, g->n_nodes * sizeof *e);
        if (e)
            ex->end_ms = e;
        int *q = realloc(ex->queue, g->n_nodes * sizeof *q);
        if (q)
            ex->queue = q;
        if (!s || !e || !q)
            return NULL;
        ex->cap = g->n_nodes;
    }
    return ex;
}

/* Profiling times of a completed event in ns; false without profiling. */
static bool event_times(cl_event ev, cl_ulong *t0, cl_ulong *t1)
{
    return clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof *t0, t0, NULL) ==
               CL_SUCCESS &&
           clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof *t1, t1, NULL) ==
               CL_SUCCESS &&
           *t1 >= *t0;
}

/* Waits for the n events of list (none: nothing to wait for). */
static cl_int wait_list(const cl_event *list, size_t n)
{
    if (n == 0)
        return CL_SUCCESS;
    cl_int err;
    return clf_fault(CLF_FAULT_WAIT, &err) ? err : clWaitForEvents((cl_uint)n, list);
}

/* The error of a finished command: its execution status when negative. */
static cl_int event_error(cl_event ev)
{
    cl_int status = CL_COMPLETE;
    cl_int err = clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                                NULL);
    return err == CL_SUCCESS && status < 0 ? status : err;
}

/* Waits for one event; its execution status folded in. */
static cl_int wait_event(cl_event ev)
{
    cl_int err = wait_list(&ev, 1);
    return err == CL_SUCCESS ? event_error(ev) : err;
}

/* Adds a completed command's times to a node's: its duration to *busy,
 * its start and end to the span [*t0, *t1]; false without profiling. */
static bool add_times(cl_event ev, double *busy, cl_ulong *t0, cl_ulong *t1)
{
    cl_ulong s = 0, e = 0;
    if (!event_times(ev, &s, &e))
        return false;
    *busy += (double)(e - s) / 1e6;
    *t0 = s < *t0 ? s : *t0;
    *t1 = e > *t1 ? e : *t1;
    return true;
}

/*
 * Waits for the first n nodes' commands and releases their events: evs,
 * each node's final command (NULL entries skipped; sink[i]: no node waits
 * for node i), and ctx->run_evs, every kernel the nodes launched while
 * tracked (node i's are [cmd_end[i-1], cmd_end[i])). Records each node's
 * device time, the durations of its kernels and final command summed
 * (clf_node_info.time_ms; a final command of a library such as CLBlast
 * counts, its other commands are unknown), and its span: the earliest
 * start to the latest end of those commands, in ms from the earliest start
 * of the run (clf_node_info.start_ms, end_ms).
 *
 * One wait on the sinks (once they are done every node before them is) and
 * then on every event, already complete, instead of a wait per node: on a
 * CPU device the host shares the cores with the kernels, and a wait per
 * node woke it (PoCL) or made it a worker (Intel's runtime) at every
 * node's end. list has room for n events.
 */
static cl_int finish(struct clf_graph *g, struct clf_exec *ex, cl_event *evs,
                     const size_t *cmd_end, const bool *sink, cl_event *list, size_t n)
{
    struct clf_ctx *ctx = g->ctx;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i] && sink[i])
            list[k++] = evs[i];
    cl_int worst = wait_list(list, k);
    /* everything drained before the events go */
    cl_int err = wait_list(ctx->run_evs, ctx->n_run_evs);
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i])
            list[k++] = evs[i];
    cl_int err_final = wait_list(list, k);
    err = err == CL_SUCCESS ? err_final : err;
    if (worst == CL_SUCCESS && err != CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        worst = err;
    cl_ulong origin = (cl_ulong)-1;
    cl_ulong *t = calloc(2 * (n ? n : 1), sizeof *t); /* start, end per node */
    for (size_t i = 0; i < n; i++) {
        struct clf_node *node = &g->nodes[i];
        node->timed = false;
        if (!evs[i])
            continue;
        err = event_error(evs[i]);
        if (err != CL_SUCCESS && (worst == CL_SUCCESS ||
                                  worst == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST))
            worst = err;
        double busy = 0;
        cl_ulong t0 = (cl_ulong)-1, t1 = 0;
        bool final_seen = false, timed = err == CL_SUCCESS && t;
        for (size_t c = i ? cmd_end[i - 1] : 0; timed && c < cmd_end[i]; c++) {
            timed = add_times(ctx->run_evs[c], &busy, &t0, &t1);
            final_seen = final_seen || ctx->run_evs[c] == evs[i];
        }
        if (timed && !final_seen)
            timed = add_times(evs[i], &busy, &t0, &t1);
        if (timed) {
            node->timed = true;
            node->time_ms = busy;
            t[2 * i] = t0;
            t[2 * i + 1] = t1;
            origin = t0 < origin ? t0 : origin;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (g->nodes[i].timed) {
            ex->start_ms[i] = (double)(t[2 * i] - origin) / 1e6;
            ex->end_ms[i] = (double)(t[2 * i + 1] - origin) / 1e6;
        }
        if (evs[i])
            clReleaseEvent(evs[i]);
    }
    for (size_t c = 0; c < ctx->n_run_evs; c++)
        clReleaseEvent(ctx->run_evs[c]);
    ctx->n_run_evs = 0;
    free(t);
    return worst;
}

/* Lets everything enqueued on every queue drain (error paths). */
static void finish_queues(struct clf_ctx *ctx)
{
    for (int q = 0; q < ctx->n_queues; q++)
        clFinish(ctx->queues[q]);
    if (ctx->queue_in_order)
        clFinish(ctx->queue_in_order);
}

/* Enqueues every node directly, spread over the context's queues. */
static enum clf_status run_direct(struct clf_graph *g, struct clf_exec *ex)
{
    struct clf_ctx *ctx = g->ctx;
    size_t n = g->n_nodes, max_deps = 1;
    for (size_t i = 0; i < n; i++)
        max_deps = g->nodes[i].n_deps > max_deps ? g->nodes[i].n_deps : max_deps;
    cl_event *evs = calloc(n, sizeof *evs);
    size_t *cmd_end = calloc(n, sizeof *cmd_end); /* node i's commands end in run_evs */
    cl_event *wait = calloc(max_deps, sizeof *wait);
    cl_event *list = calloc(n, sizeof *list); /* finish's wait lists */
    bool *sink = malloc(n * sizeof *sink);
    if (!evs || !cmd_end || !wait || !list || !sink) {
        free(evs);
        free(cmd_end);
        free(wait);
        free(list);
        free(sink);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to run a graph");
    }
    for (size_t i = 0; i < n; i++)
        sink[i] = true;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < g->nodes[i].n_deps; k++)
            sink[g->nodes[i].deps[k]] = false;
    /* per queue: its latest node (or SIZE_MAX) */
    size_t last[CLF_MAX_QUEUES];
    for (int q = 0; q < CLF_MAX_QUEUES; q++)
        last[q] = SIZE_MAX;
    enum clf_status st = CLF_OK;
    size_t done = 0;
    ctx->n_run_evs = 0;
    ctx->track = ctx->profiling;
    for (; done < n; done++) {
        struct clf_node *node = &g->nodes[done];
        int q = 0;
        if (ctx->n_queues > 1) {
            size_t dep = SIZE_MAX; /* the dependency enqueued last */
            for (size_t k = 0; k < node->n_deps; k++)
                if (dep == SIZE_MAX || node->deps[k] > dep)
                    dep = node->deps[k];
            if (dep != SIZE_MAX && last[ex->queue[dep]] == dep) {
                q = ex->queue[dep];
            } else { /* least recently used: never used first, then oldest */
                for (int c = 1; c < ctx->n_queues; c++)
                    if (last[c] == SIZE_MAX ? last[q] != SIZE_MAX
                                            : last[q] != SIZE_MAX && last[c] < last[q])
                        q = c;
            }
        }
        ex->queue[done] = q;
        last[q] = done;
        for (size_t k = 0; k < node->n_deps; k++)
            wait[k] = evs[node->deps[k]];
        ctx->queue = ctx->queues[q];
        st = node->impl->enqueue(ctx, node, (cl_uint)node->n_deps, wait, &evs[done]);
        ctx->queue = ctx->queues[0];
        cmd_end[done] = ctx->n_run_evs;
        if (st != CLF_OK) {
            if (evs[done])
                clReleaseEvent(evs[done]);
            evs[done] = NULL;
            break;
        }
        node->out->storage->version++;
    }
    ctx->track = false;
    if (st != CLF_OK)
        finish_queues(ctx); /* let what was enqueued drain before reporting */
    cl_int err = finish(g, ex, evs, cmd_end, sink, list, done);
    if (st == CLF_OK && err != CL_SUCCESS)
        st = clf_fail_cl(ctx, err, "graph execution");
    free(evs);
    free(cmd_end);
    free(wait);
    free(list);
    free(sink);
    return st;
}

/* True when t's storage is written by a node of g (not a graph input). */
static bool written_by_graph(const struct clf_graph *g, const struct clf_tensor *t)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].out->storage == t->storage)
            return true;
    return false;
}

/* Collects the graph inputs with derived buffers into ex->inputs; false
 * when one of those buffers is stale (then the run should be direct, to
 * refresh it outside the recording) or on no memory. */
static bool collect_inputs(struct clf_graph *g, struct clf_exec *ex)
{
    ex->n_inputs = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const struct clf_node *node = &g->nodes[i];
        for (int j = 0; j < node->n_in; j++) {
            struct clf_tensor *t = node->in[j];
            if (!t || !t->derived || written_by_graph(g, t))
                continue;
            for (const struct clf_derived *d = t->derived; d; d = d->next)
                if (d->version != t->storage->version)
                    return false;
            bool seen = false;
            for (size_t k = 0; k < ex->n_inputs && !seen; k++)
                seen = ex->inputs[k].t == t;
            if (seen)
                continue;
            struct rec_input *grown = realloc(ex->inputs, (ex->n_inputs + 1) * sizeof *grown);
            if (!grown)
                return false;
            ex->inputs = grown;
            grown[ex->n_inputs].t = t;
            grown[ex->n_inputs++].version = t->storage->version;
        }
    }
    return true;
}

/* True while the recording still describes g. */
static bool recording_valid(const struct clf_graph *g, const struct clf_exec *ex)
{
    if (ex->rec.nodes != g->n_nodes || ex->rec_plan_gen != g->plan_gen)
        return false;
    for (size_t k = 0; k < ex->n_inputs; k++)
        if (ex->inputs[k].t->storage->version != ex->inputs[k].version)
            return false;
    return true;
}

/* Records every node into a new command buffer (update false: ex->rec.cb
 * on success), or brings ex->rec (mutable) up to date for them (update
 * true: the same launches with the arguments and sizes of now, launch.h;
 * ex->rec unchanged on failure). */
static enum clf_status record(struct clf_graph *g, struct clf_exec *ex, bool update)
{
    struct clf_ctx *ctx = g->ctx;
    size_t n = g->n_nodes, max_deps = 1;
    for (size_t i = 0; i < n; i++)
        max_deps = g->nodes[i].n_deps > max_deps ? g->nodes[i].n_deps : max_deps;
    cl_event *evs = calloc(n, sizeof *evs);
    cl_event *wait = calloc(max_deps, sizeof *wait);
    enum clf_status st = !evs || !wait ? clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                                                  "no host memory to record a graph")
                         : update     ? clf_recorder_update_begin(ctx, &ex->rec)
                                      : clf_recorder_begin(ctx, &ex->rec);
    if (st == CLF_OK) {
        for (size_t i = 0; i < n && st == CLF_OK; i++) {
            struct clf_node *node = &g->nodes[i];
            for (size_t k = 0; k < node->n_deps; k++)
                wait[k] = evs[node->deps[k]];
            st = node->impl->enqueue(ctx, node, (cl_uint)node->n_deps, wait, &evs[i]);
            if (st == CLF_OK)
                node->out->storage->version++;
        }
        st = update ? clf_recorder_update_end(ctx, &ex->rec, st)
                    : clf_recorder_end(ctx, &ex->rec, st);
    }
    for (size_t i = 0; evs && i < n; i++)
        if (evs[i])
            clReleaseEvent(evs[i]); /* stand-ins (or an op's foreign event) */
    free(evs);
    free(wait);
    clf_recorder_drop_events(&ex->rec);
    if (st != CLF_OK) {
        clf_log(ctx, CLF_LOG_DEBUG, "graph not %s: %s", update ? "updated" : "recorded",
                ctx->last_error);
        if (!update)
            clf_recorder_free(ctx, &ex->rec);
        return st;
    }
    if (update)
        clf_log(ctx, CLF_LOG_DEBUG, "graph of %zu nodes: its recording updated", n);
    ex->rec.nodes = n;
    ex->rec_plan_gen = g->plan_gen;
    ex->rec_stale = false;
    return CLF_OK;
}

/* Records g's nodes, or brings a mutable recording up to date for them
 * where one is at hand (ex->rec gone stale, or a destroyed graph's of as
 * many nodes: a spare); a failed update drops it and records anew. */
static enum clf_status record_or_update(struct clf_graph *g, struct clf_exec *ex)
{
    struct clf_ctx *ctx = g->ctx;
    if (ex->rec.cb && ex->rec.nodes != g->n_nodes) /* gained nodes: other launches */
        clf_recorder_free(ctx, &ex->rec);
    if (!ex->rec.cb)
        clf_recorder_take_spare(ctx, g->n_nodes, &ex->rec);
    if (ex->rec.cb) {
        if (record(g, ex, true) == CLF_OK)
            return CLF_OK;
        clf_recorder_free(ctx, &ex->rec);
    }
    return record(g, ex, false);
}

/* Enqueues the recorded command buffer and waits for it. */
static enum clf_status replay(struct clf_graph *g, struct clf_exec *ex, bool bump)
{
    struct clf_ctx *ctx = g->ctx;
    cl_event ev = NULL;
    cl_int err = ctx->cb.enqueue(1, &ctx->queues[0], ex->rec.cb, 0, NULL, &ev);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clEnqueueCommandBufferKHR");
    for (size_t i = 0; i < g->n_nodes; i++) {
        g->nodes[i].timed = false;
        if (bump)
            g->nodes[i].out->storage->version++;
    }
    ex->replayed = true;
    err = wait_event(ev);
    clReleaseEvent(ev);
    return err == CL_SUCCESS ? CLF_OK : clf_fail_cl(ctx, err, "graph execution (command buffer)");
}

enum clf_status clf_graph_run(struct clf_graph *g)
{
    if (!g)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = g->ctx;
    /* sizes that cannot fit, refused before tuning and building */
    enum clf_status pst = g->planned ? CLF_OK : clf_graph_check_fit(g);
    if (pst == CLF_OK)
        pst = clf_graph_tune_pass(g, false); /* new nodes' tuning (graph_tune.c) */
    if (pst == CLF_OK)
        pst = clf_graph_prepare_run(g); /* memory plan (plan.c) */
    if (pst != CLF_OK)
        return pst;
    if (g->n_nodes == 0)
        return CLF_OK;
    struct clf_exec *ex = exec_get(g);
    if (!ex)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to run a graph");
    ex->ran = true;
    ex->replayed = false;
    /* once invalid, a recording stays so until updated or recorded anew
     * (collect_inputs, below, rewrites the inputs recording_valid reads) */
    if (ex->rec.cb && !ex->rec_stale && !recording_valid(g, ex)) {
        if (ex->rec.mutable_cb)
            ex->rec_stale = true; /* kept, to update where it would be recorded */
        else
            clf_recorder_free(ctx, &ex->rec);
    }
    if (ex->rec.cb && !ex->rec_stale)
        return replay(g, ex, true);
    /* record when a direct run of these nodes succeeded and the graph's
     * derived buffers are fresh (refreshing them is for direct runs) */
    if (ctx->command_buffers && ex->direct_ok_nodes == g->n_nodes + 1 &&
        ex->unrecordable_nodes != g->n_nodes + 1 && collect_inputs(g, ex)) {
        if (record_or_update(g, ex) == CLF_OK)
            return replay(g, ex, false); /* record() bumped the versions */
        enum clf_status st = run_direct(g, ex);
        if (st == CLF_OK) /* the node, not the run, was the problem */
            ex->unrecordable_nodes = g->n_nodes + 1;
        return st;
    }
    enum clf_status st = run_direct(g, ex);
    if (st == CLF_OK)
        ex->direct_ok_nodes = g->n_nodes + 1;
    return st;
}

bool clf_exec_node_span(const struct clf_graph *g, size_t i, bool *replayed, double *start_ms,
                        double *end_ms, int *queue)
{
    const struct clf_exec *ex = g->exec;
    *replayed = ex && ex->ran && ex->replayed;
    if (!ex || !ex->ran || ex->replayed || i >= ex->cap || !g->nodes[i].timed)
        return false;
    *start_ms = ex->start_ms[i];
    *end_ms = ex->end_ms[i];
    *queue = ex->queue[i];
    return true;
}
