/*
 * Memory planning: the tensors a graph's ops create (clf_graph_new_output)
 * get device memory when the graph first runs, by lifetime, so that an
 * intermediate's memory serves later tensors once its last reader has run.
 *
 * Lifetime of a storage: [first node touching it, last node touching it]
 * in recording order, where a node touches a storage when one of its
 * inputs or its output lies in it. A storage is a RESULT, living to the end
 * of the graph, when its last toucher writes it (nobody reads it after),
 * when it was passed to clf_graph_keep, or when no node touches it.
 *
 * Layout: one arena buffer, each storage a sub-buffer at an offset aligned
 * to CL_DEVICE_MEM_BASE_ADDR_ALIGN, placed greedily by size (largest first,
 * at the lowest offset not overlapping in address any placed storage whose
 * lifetime overlaps its own). When the arena exceeds the device's largest
 * allocation or sub-buffers fail, a pool of whole buffers instead: each
 * storage, in order of first use, takes the smallest free buffer that fits
 * (best fit) whose occupant's lifetime has ended, else a new buffer.
 *
 * Reuse needs ordering: when storage B takes memory of storage A (A's
 * lifetime ends before B's begins), every node touching B waits for every
 * node that touched A (deps beyond the node's n_deps_rec), so an
 * out-of-order queue cannot let B's writer overtake A's last reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "../runtime/fault.h"

/* One storage being planned. */
struct item {
    struct clf_plan_store *rec;
    struct clf_storage *s;  /* rec->s */
    size_t first, last;  /* lifetime in node indices; last = n_nodes for results */
    size_t *touch;       /* the nodes touching it, ascending */
    size_t n_touch;
    size_t off;          /* arena: byte offset */
};

/* Appends node i to the nodes touching it (they come in ascending order). */
static bool touch(struct item *it, size_t i)
{
    if (it->n_touch && it->touch[it->n_touch - 1] == i)
        return true;
    size_t *grown = realloc(it->touch, (it->n_touch + 1) * sizeof *grown);
    if (!grown)
        return false;
    it->touch = grown;
    it->touch[it->n_touch++] = i;
    return true;
}

static void add_dep(struct clf_node *n, size_t j)
{
    for (size_t k = 0; k < n->n_deps; k++)
        if (n->deps[k] == j)
            return;
    n->deps[n->n_deps++] = j;
}

/* B reuses A's memory: every node touching b waits for every node that
 * touched a (all of them earlier: a's lifetime ends before b's begins). */
static void order_reuse(struct clf_graph *g, const struct item *a, const struct item *b)
{
    for (size_t i = 0; i < b->n_touch; i++)
        for (size_t j = 0; j < a->n_touch; j++)
            add_dep(&g->nodes[b->touch[i]], a->touch[j]);
    a->rec->reused = true;
}

static bool lifetimes_overlap(const struct item *a, const struct item *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* The earlier of two storages with disjoint lifetimes, and the later. */
static void order_pair(struct clf_graph *g, const struct item *a, const struct item *b)
{
    if (a->last < b->first)
        order_reuse(g, a, b);
    else
        order_reuse(g, b, a);
}

static int by_size_desc(const void *pa, const void *pb)
{
    const struct item *a = *(struct item *const *)pa, *b = *(struct item *const *)pb;
    if (a->s->bytes != b->s->bytes)
        return a->s->bytes > b->s->bytes ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

static int by_offset(const void *pa, const void *pb)
{
    const struct item *a = *(struct item *const *)pa, *b = *(struct item *const *)pb;
    return a->off < b->off ? -1 : a->off > b->off;
}

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* Frees n items and their touch lists (NULL items: nothing). */
static void items_free(struct item *items, size_t n)
{
    if (items)
        for (size_t i = 0; i < n; i++)
            free(items[i].touch);
    free(items);
}

/* The arena's alignment of storages: CL_DEVICE_MEM_BASE_ADDR_ALIGN. */
static size_t arena_align(const struct clf_ctx *ctx)
{
    size_t align = ctx->info.mem_base_align_bits / 8;
    return align ? align : 128;
}

/* Greedy-by-size placement; returns the arena's size. */
static size_t pack(struct item *items, size_t n, size_t align, struct item **order,
                   struct item **live)
{
    for (size_t i = 0; i < n; i++)
        order[i] = &items[i];
    qsort(order, n, sizeof *order, by_size_desc);
    size_t arena = 0;
    for (size_t i = 0; i < n; i++) {
        struct item *it = order[i];
        size_t n_live = 0;
        for (size_t j = 0; j < i; j++) /* the placed ones alive at the same time */
            if (lifetimes_overlap(order[j], it))
                live[n_live++] = order[j];
        qsort(live, n_live, sizeof *live, by_offset);
        size_t off = 0;
        for (size_t j = 0; j < n_live; j++) {
            if (off + it->s->bytes <= live[j]->off)
                break; /* fits in the gap before live[j] */
            size_t end = align_up(live[j]->off + live[j]->s->bytes, align);
            off = end > off ? end : off;
        }
        it->off = off;
        arena = off + it->s->bytes > arena ? off + it->s->bytes : arena;
    }
    return arena;
}

/* Cuts every storage's sub-buffer from the arena; false on a CL error
 * (the caller falls back to the pool). */
static bool cut_arena(struct clf_graph *g, struct item *items, size_t n, size_t arena)
{
    cl_mem m;
    cl_int err = clf_buffer_create(g->ctx, arena, &m);
    if (err != CL_SUCCESS)
        return false;
    g->bufs[0] = m;
    g->n_bufs = 1;
    for (size_t i = 0; i < n; i++) {
        cl_buffer_region r = {items[i].off, items[i].s->bytes};
        items[i].s->mem = clf_fault(CLF_FAULT_BUFFER, &err) ? NULL : clCreateSubBuffer(m, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                            &r, &err);
        if (err != CL_SUCCESS || !items[i].s->mem) {
            items[i].s->mem = NULL;
            clf_graph_plan_free(g);
            return false;
        }
        items[i].rec->off = items[i].off;
        items[i].rec->buf = 0;
    }
    g->arena = true;
    g->planned_bytes = arena;
    return true;
}

static int by_first(const void *pa, const void *pb)
{
    const struct item *a = *(struct item *const *)pa, *b = *(struct item *const *)pb;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* The fallback: whole buffers shared by storages of disjoint lifetimes. */
static enum clf_status pool(struct clf_graph *g, struct item *items, size_t n,
                            struct item **order, struct item **occupant, size_t *buf_bytes)
{
    struct clf_ctx *ctx = g->ctx;
    for (size_t i = 0; i < n; i++)
        order[i] = &items[i];
    qsort(order, n, sizeof *order, by_first);
    g->planned_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct item *it = order[i];
        size_t best = (size_t)-1;
        for (size_t b = 0; b < g->n_bufs; b++)
            if (occupant[b]->last < it->first && buf_bytes[b] >= it->s->bytes &&
                (best == (size_t)-1 || buf_bytes[b] < buf_bytes[best]))
                best = b;
        if (best == (size_t)-1) {
            if (it->s->bytes > ctx->info.max_alloc_bytes)
                return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                                "a graph tensor of %zu bytes exceeds the device's max "
                                "allocation of %llu bytes",
                                it->s->bytes, (unsigned long long)ctx->info.max_alloc_bytes);
            cl_mem m;
            cl_int err = clf_buffer_create(ctx, it->s->bytes, &m);
            if (err != CL_SUCCESS) {
                clf_fail_cl(ctx, err, "clCreateBuffer");
                return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                                "cannot allocate %zu bytes for a graph tensor on '%s'",
                                it->s->bytes, ctx->info.name);
            }
            best = g->n_bufs++;
            g->bufs[best] = m;
            buf_bytes[best] = it->s->bytes;
            g->planned_bytes += it->s->bytes;
        } else {
            order_reuse(g, occupant[best], it);
        }
        occupant[best] = it;
        clRetainMemObject(g->bufs[best]);
        it->s->mem = g->bufs[best];
        it->rec->off = 0;
        it->rec->buf = (int)best;
    }
    return CLF_OK;
}

void clf_graph_plan_free(struct clf_graph *g)
{
    for (size_t i = 0; i < g->n_stores; i++) {
        struct clf_storage *s = g->stores[i]->s;
        if (s->mem)
            clReleaseMemObject(s->mem); /* sub-buffers before their arena */
        s->mem = NULL;
        g->stores[i]->reused = false;
    }
    for (size_t i = 0; i < g->n_bufs; i++)
        clReleaseMemObject(g->bufs[i]);
    g->n_bufs = 0;
    g->arena = false;
    g->planned = false;
    g->ran = false;
    g->planned_bytes = 0;
}

/* Lifetimes of the storages and the nodes touching them. */
static enum clf_status lifetimes(struct clf_graph *g, struct item *items)
{
    size_t n = g->n_stores, end = g->n_nodes;
    for (size_t i = 0; i < n; i++) {
        items[i].rec = g->stores[i];
        items[i].s = g->stores[i]->s;
    }
    for (size_t k = 0; k < g->n_nodes; k++) {
        const struct clf_node *node = &g->nodes[k];
        for (int j = 0; j <= node->n_in; j++) {
            const struct clf_tensor *t = j < node->n_in ? node->in[j] : node->out;
            const struct clf_plan_store *rec = t ? clf_plan_store_of(g, t->storage) : NULL;
            if (!rec)
                continue;
            if (!touch(&items[rec->index], k))
                return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory to plan a graph");
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[i];
        if (!it->n_touch || it->rec->keep || g->no_reuse || g->ctx->plan_mode == 3) {
            it->first = it->n_touch ? it->touch[0] : 0;
            it->last = end;
            continue;
        }
        it->first = it->touch[0];
        size_t lastk = it->touch[it->n_touch - 1];
        /* written by its last toucher (nobody reads it after): a result */
        it->last = g->nodes[lastk].out->storage == it->s ? end : lastk;
    }
    return CLF_OK;
}

enum clf_status clf_graph_plan(struct clf_graph *g)
{
    struct clf_ctx *ctx = g->ctx;
    clf_graph_plan_free(g);
    for (size_t k = 0; k < g->n_nodes; k++)
        g->nodes[k].n_deps = g->nodes[k].n_deps_rec;
    g->plan_gen++;
    size_t n = g->n_stores;
    g->naive_bytes = 0;
    for (size_t i = 0; i < n; i++)
        g->naive_bytes += g->stores[i]->s->bytes;
    if (n == 0) {
        g->planned = true;
        return CLF_OK;
    }
    struct item *items = calloc(n, sizeof *items);
    struct item **order = calloc(n, sizeof *order);
    struct item **scratch = calloc(n, sizeof *scratch);
    size_t *buf_bytes = calloc(n, sizeof *buf_bytes);
    cl_mem *bufs = realloc(g->bufs, n * sizeof *bufs);
    if (bufs)
        g->bufs = bufs;
    enum clf_status st = items && order && scratch && buf_bytes && bufs
                             ? CLF_OK
                             : clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to plan a graph");
    if (st == CLF_OK)
        st = lifetimes(g, items);
    if (st == CLF_OK) {
        size_t arena = pack(items, n, arena_align(ctx), order, scratch);
        /* sub-buffers: on CPU devices unless told (NVIDIA's driver 580
         * crashed in clReleaseMemObject of sub-buffers in our tests) */
        bool arena_ok = ctx->plan_mode == 1 || (ctx->plan_mode == 0 && ctx->info.type == CLF_DEVICE_CPU);
        if (g->plan_pool || !arena_ok || arena > ctx->info.max_alloc_bytes ||
            !cut_arena(g, items, n, arena)) {
            st = pool(g, items, n, order, scratch, buf_bytes);
        } else {
            /* every pair sharing addresses (necessarily at different times) */
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                    if (items[i].off < items[j].off + items[j].s->bytes &&
                        items[j].off < items[i].off + items[i].s->bytes)
                        order_pair(g, &items[i], &items[j]);
        }
    }
    items_free(items, n);
    free(order);
    free(scratch);
    free(buf_bytes);
    if (st != CLF_OK) {
        clf_graph_plan_free(g);
        for (size_t k = 0; k < g->n_nodes; k++)
            g->nodes[k].n_deps = g->nodes[k].n_deps_rec;
        return st;
    }
    g->planned = true;
    return CLF_OK;
}

enum clf_status clf_graph_prepare_run(struct clf_graph *g)
{
    if (!g->planned) {
        enum clf_status st = clf_graph_plan(g);
        if (st != CLF_OK)
            return st;
    }
    g->ran = true;
    return CLF_OK;
}

/* The arena a plan of g's storages would take (lifetimes and placement,
 * nothing allocated) into *bytes. */
static enum clf_status planned_size(struct clf_graph *g, size_t *bytes)
{
    size_t n = g->n_stores;
    *bytes = 0;
    if (n == 0)
        return CLF_OK;
    struct item *items = calloc(n, sizeof *items);
    struct item **order = calloc(n, sizeof *order);
    struct item **live = calloc(n, sizeof *live);
    enum clf_status st =
        items && order && live
            ? lifetimes(g, items)
            : clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "no host memory to plan a graph");
    if (st == CLF_OK)
        *bytes = pack(items, n, arena_align(g->ctx), order, live);
    items_free(items, n);
    free(order);
    free(live);
    return st;
}

enum clf_status clf_graph_check_fit(struct clf_graph *g)
{
    struct clf_ctx *ctx = g->ctx;
    const unsigned long long max_alloc = ctx->info.max_alloc_bytes,
                             global = ctx->info.global_mem_bytes;
    for (size_t i = 0; i < g->n_stores; i++)
        if (max_alloc && g->stores[i]->s->bytes > max_alloc)
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                            "a tensor of the graph needs %zu bytes; the device allows %llu per "
                            "buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                            g->stores[i]->s->bytes, max_alloc);
    size_t own = 0;
    for (size_t k = 0; k < g->n_nodes; k++) {
        size_t b = 0;
        const struct clf_op_impl *impl = g->nodes[k].impl;
        enum clf_status st = impl->own_bytes ? impl->own_bytes(ctx, &g->nodes[k], &b) : CLF_OK;
        if (st != CLF_OK)
            return st;
        own = own + b < own ? SIZE_MAX : own + b;
    }
    size_t planned = 0;
    enum clf_status st = planned_size(g, &planned);
    if (st != CLF_OK)
        return st;
    if (global && (planned > global || own > global - planned))
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "the graph needs %zu bytes of device memory for its intermediates as "
                        "planned and %zu for its nodes' own buffers; the device has %llu "
                        "(CL_DEVICE_GLOBAL_MEM_SIZE)",
                        planned, own, global);
    return CLF_OK;
}

struct clf_plan_store *clf_plan_store_of(const struct clf_graph *g, const struct clf_storage *s)
{
    struct clf_plan_store *rec = s->hooks == &clf_plan_hooks ? s->planner : NULL;
    return rec && rec->g == g ? rec : NULL;
}

static enum clf_status plan_check_readable(struct clf_ctx *ctx, void *planner)
{
    const struct clf_plan_store *rec = planner;
    if (!rec->s->mem || !rec->g->ran)
        return clf_fail(ctx, CLF_E_STATE,
                        "reading a graph's tensor before the graph has run: not run yet "
                        "(since its latest change)");
    if (rec->reused)
        return clf_fail(ctx, CLF_E_STATE,
                        "reading an intermediate tensor of a graph whose memory a later "
                        "tensor reused during the run: call clf_graph_keep on it before "
                        "running to read it");
    return CLF_OK;
}

static enum clf_status plan_ensure_memory(void *planner)
{
    struct clf_graph *g = ((struct clf_plan_store *)planner)->g;
    return g->planned ? CLF_OK : clf_graph_plan(g);
}

const struct clf_storage_hooks clf_plan_hooks = {plan_check_readable, plan_ensure_memory};
