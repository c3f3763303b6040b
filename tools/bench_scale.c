/*
 * `clformer bench scale`: time per forward of a 6-layer encoder (d_model
 * 384, 12 heads, d_ff 1536, seq 128, batch 8) on 1 and 2 devices, data
 * parallel (the batch split, a replica of the weights on each device) and
 * tensor parallel (clf_encoder_tp), with efficiency t1 / (N·tN) and the
 * bytes each device exchanges per layer; with --mpi under mpirun, rank 0
 * alone against all ranks running their share plus the gather to rank 0,
 * and against tensor parallelism over the ranks (all-reduces over MPI).
 * The link table turns the measured bytes into time on real interconnects.
 */
#define _GNU_SOURCE /* sched_getaffinity: the cores mpirun bound a rank to */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "cli_mpi.h"

#define SC_LAYERS 6
#define SC_BATCH 8

/* Effective bandwidths (bytes/s) of common links, for the estimates. */
static const struct {
    const char *name;
    double bps;
} links[] = {{"PCIe 4.0 x16 (~25 GB/s)", 25e9},
             {"NVLink 4 (~450 GB/s per direction)", 450e9},
             {"100 Gb Ethernet (~11 GB/s)", 11e9}};

static struct clf_encoder_config scale_cfg(void)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.layers = SC_LAYERS;
    c.d_model = 384;
    c.heads = 12;
    c.d_ff = 1536;
    return c;
}

/* Median ms of runs forwards of the whole batch x (after 2 warm-up runs)
 * by the data-parallel runner dp or the tensor-parallel encoder tp (the
 * other NULL); -1 when one failed. */
static double time_forward(struct clf_dp *dp, struct clf_encoder_tp *tp, const float *x, float *y,
                           int64_t seq, int runs)
{
    double *t = malloc((size_t)runs * sizeof *t), ms = -1;
    for (int k = -2; t && k < runs; k++) {
        double t0 = cli_now_ms();
        enum clf_status st = dp ? clf_dp_forward(dp, x, SC_BATCH, seq, NULL, y)
                                : clf_encoder_tp_forward(tp, x, SC_BATCH, seq, NULL, y);
        if (st != CLF_OK) {
            free(t);
            return -1;
        }
        if (k >= 0)
            t[k] = cli_now_ms() - t0;
    }
    if (t)
        ms = cli_median(t, runs);
    free(t);
    return ms;
}

/* e's "link_ms_per_forward": SC_LAYERS layers of bytes_layer on each link. */
static void add_links(cJSON *e, double bytes_layer)
{
    cJSON *l = cJSON_AddObjectToObject(e, "link_ms_per_forward");
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        cJSON_AddNumberToObject(l, links[i].name, SC_LAYERS * bytes_layer / links[i].bps * 1e3);
}

#define SC_MAX_DEVICES 4

/* Device memory of a model on the members of a group, from each context's
 * own accounting of its buffers (clf_ctx_stats): what each holds once the
 * model is made, and the most it held while making it. */
struct sc_mem {
    int n;
    double live0[SC_MAX_DEVICES];
    double held[SC_MAX_DEVICES]; /* bytes each device holds: the weights */
    double most, peak;           /* the largest of held; of the peaks above live0 */
};

/* Member i of the group g, or ctx itself (g NULL: one rank's context). */
static struct clf_ctx *member(struct clf_group *g, struct clf_ctx *ctx, int i)
{
    return g ? clf_group_ctx(g, i) : ctx;
}

/* Before making the model on g (or ctx): the pooled buffers freed, the
 * peak restarted. */
static void mem_begin(struct clf_group *g, struct clf_ctx *ctx, struct sc_mem *m)
{
    m->n = g ? clf_group_size(g) : 1;
    for (int i = 0; i < m->n; i++) {
        struct clf_ctx_stats s;
        clf_ctx_trim(member(g, ctx, i));
        clf_ctx_stats(member(g, ctx, i), &s);
        m->live0[i] = (double)s.pool_bytes_live;
    }
}

static void mem_end(struct clf_group *g, struct clf_ctx *ctx, struct sc_mem *m)
{
    m->most = m->peak = 0;
    for (int i = 0; i < m->n; i++) {
        struct clf_ctx_stats s;
        clf_ctx_stats(member(g, ctx, i), &s);
        m->held[i] = (double)s.pool_bytes_live - m->live0[i];
        m->most = m->held[i] > m->most ? m->held[i] : m->most;
        const double peak = (double)s.pool_bytes_peak - m->live0[i];
        m->peak = peak > m->peak ? peak : m->peak;
    }
}

static void row(const struct bench_opts *o, cJSON *arr, const char *mode, int n, double ms,
                double t1, double bytes_layer, const struct sc_mem *m)
{
    double eff = ms > 0 ? t1 / (n * ms) : 0;
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "mode", mode);
        cJSON_AddNumberToObject(e, "devices", n);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "efficiency", eff);
        cJSON_AddNumberToObject(e, "comm_bytes_per_layer", bytes_layer);
        cJSON *held = cJSON_AddArrayToObject(e, "device_bytes");
        for (int i = 0; i < m->n; i++)
            cJSON_AddItemToArray(held, cJSON_CreateNumber(m->held[i]));
        cJSON_AddNumberToObject(e, "device_peak_bytes", m->peak);
        add_links(e, bytes_layer);
        cJSON_AddItemToArray(arr, e);
        return;
    }
    char b[32], w[32];
    printf("%-15s %d  %9.2f ms  efficiency %5.2f  comm/layer %10s  weights/device %10s", mode, n,
           ms, eff, cli_bytes((unsigned long long)bytes_layer, b, sizeof b),
           cli_bytes((unsigned long long)m->most, w, sizeof w));
    for (size_t i = 0; bytes_layer > 0 && i < sizeof links / sizeof links[0]; i++)
        printf(" | %.3f ms", SC_LAYERS * bytes_layer / links[i].bps * 1e3);
    printf("\n");
}

/* The first n members of all (n <= its size) as a new group. */
static struct clf_group *first_devices(struct clf_group *all, int n, char *msg, size_t size)
{
    char spec[SC_MAX_DEVICES * 24] = "";
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        struct clf_device_info info;
        clf_ctx_device_info(clf_group_ctx(all, i), &info);
        at += (size_t)snprintf(spec + at, sizeof spec - at, "%s%d:%d", i ? "," : "",
                               info.platform_index, info.device_index);
    }
    struct clf_ctx_params p = cli_ctx_params(NULL, true);
    struct clf_group *g = NULL;
    return clf_group_create(spec, &p, &g, msg, size) == CLF_OK ? g : NULL;
}

/* One row of the device table: the model made on grp (data parallel: a
 * replica per member; else tensor parallel), its memory measured, its
 * forward timed; *t1 is the one-device time (set by the N = 1 row). */
static bool scale_row(const struct bench_opts *o, cJSON *arr, struct clf_group *grp, bool data,
                      int64_t seq, const float *x, float *y, double *t1)
{
    const struct clf_encoder_config c = scale_cfg();
    const int n = clf_group_size(grp);
    struct clf_dp *dp = NULL;
    struct clf_encoder_tp *tp = NULL;
    struct sc_mem m;
    double ms = -1, bytes = 0;
    mem_begin(grp, NULL, &m);
    enum clf_status st = data ? clf_dp_create(grp, &c, NULL, 1, &dp)
                              : clf_encoder_tp_create(grp, &c, NULL, 1, &tp);
    mem_end(grp, NULL, &m);
    if (st == CLF_OK)
        ms = time_forward(dp, tp, x, y, seq, o->runs);
    if (ms >= 0 && tp)
        clf_encoder_tp_comm_bytes(tp, &bytes);
    clf_dp_destroy(dp);
    clf_encoder_tp_destroy(tp);
    if (ms < 0)
        return !cli_error("%s parallel, %d device(s): %s", data ? "data" : "tensor", n,
                          clf_ctx_last_error(clf_group_ctx(grp, 0)));
    if (n == 1)
        *t1 = ms;
    row(o, arr, data ? "data-parallel" : "tensor-parallel", n, ms, *t1, bytes, &m);
    return true;
}

/* Devices: groups of the first 1, 2 and 4 of o->devices (default "all"),
 * as many as there are; data parallel on each, then tensor parallel. */
static int scale_devices(const struct bench_opts *o, cJSON *arr, int64_t seq, const float *x)
{
    char msg[512];
    struct clf_ctx_params p = cli_ctx_params(NULL, true);
    struct clf_group *all = NULL, *g[3] = {NULL, NULL, NULL};
    const int sizes[3] = {1, 2, 4};
    const size_t n = (size_t)(SC_BATCH * seq * scale_cfg().d_model);
    float *y = malloc(n * sizeof *y);
    int rc = CLI_FAIL, ng = 0;
    if (clf_group_create(o->devices ? o->devices : "all", &p, &all, msg, sizeof msg) != CLF_OK) {
        cli_error("--devices: %s", msg);
        goto done;
    }
    for (; ng < 3 && sizes[ng] <= clf_group_size(all); ng++)
        if (!(g[ng] = first_devices(all, sizes[ng], msg, sizeof msg))) {
            cli_error("--devices: %s", msg);
            goto done;
        }
    if (!o->json) {
        printf("encoder: %d layers, d_model 384, 12 heads, d_ff 1536, seq %lld, batch %d; "
               "devices: %d (",
               SC_LAYERS, (long long)seq, SC_BATCH, sizes[ng - 1]);
        for (int i = 0; i < sizes[ng - 1]; i++) {
            struct clf_device_info info;
            clf_ctx_device_info(clf_group_ctx(all, i), &info);
            printf("%s%s", i ? ", " : "", info.name);
        }
        printf(")\nmode            N       time       efficiency   comm/layer   weights/device  "
               "| implied link time per forward: PCIe 4.0 x16 | NVLink 4 | 100 GbE\n");
    }
    for (int data = 1; data >= 0; data--) {
        double t1 = -1;
        for (int k = 0; k < ng; k++)
            if (!scale_row(o, arr, g[k], data, seq, x, y, &t1))
                goto done;
    }
    if (!o->json)
        printf("data parallel exchanges no activations per layer (only the input and output, "
               "%.1f MiB per forward); the link columns are 6 layers of the measured "
               "per-layer bytes at the link's bandwidth; weights/device: the most any device "
               "holds once the model is made (its context's live buffers, clf_ctx_stats): a "
               "replica, or 1/N of the split weights and the replicated LayerNorms\n",
               2.0 * (double)n * sizeof(float) / 1048576.0);
    rc = CLI_OK;
done:
    for (int k = 0; k < 3; k++)
        clf_group_destroy(g[k]);
    clf_group_destroy(all);
    free(y);
    return rc;
}

/* One timed step of every rank: a data-parallel forward (its share of the
 * batch plus the gather to rank 0) or a tensor-parallel one. */
struct mpi_step {
    struct clf_dp *dp;
    struct clf_encoder_tp *tp;
    const float *x;
    int64_t seq;
    float *y;
};

/* Median over runs (after 2 warm-up runs) of the slowest rank's time of a
 * step, each run started from a barrier, m->sent counting the latest
 * run's bytes; -1 on every rank when one failed. runs < 0: this rank
 * failed before, and only takes part in saying so. */
static double time_ranks(struct cli_mpi *m, int runs, double *t, const struct mpi_step *s)
{
    bool ok = runs >= 0;
    for (int k = -2; cli_mpi_all_ok(m, ok) && k < runs; k++) {
        cli_mpi_barrier(m);
        m->sent = 0;
        double t0 = cli_now_ms();
        ok = (s->dp ? clf_dp_forward(s->dp, s->x, SC_BATCH, s->seq, NULL, s->y)
                    : clf_encoder_tp_forward(s->tp, s->x, SC_BATCH, s->seq, NULL, s->y)) == CLF_OK;
        if (k >= 0)
            t[k] = cli_mpi_max(m, cli_now_ms() - t0);
    }
    return cli_mpi_all_ok(m, ok) ? cli_median(t, runs) : -1;
}

/* A row of --mpi: its time, the bytes exchanged (gathered per forward, or
 * sent over MPI per layer and rank by tensor parallelism, which also
 * stages `staged` bytes per layer through each rank's host) and the device
 * bytes held by a rank (the most of them). */
struct mpi_row {
    const char *mode;
    double ms, bytes, staged, held;
    bool tp;
};

static void mpi_json(cJSON *arr, const struct cli_mpi *m, const struct mpi_row *r, double t1,
                     int bound, long cores)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "mode", r->mode);
    if (!r->tp) {
        cJSON_AddNumberToObject(e, "rank0_cores", bound);
        cJSON_AddNumberToObject(e, "cores", (double)cores);
    }
    cJSON_AddNumberToObject(e, "ranks", m->size);
    cJSON_AddNumberToObject(e, "ms_one_rank", t1);
    cJSON_AddNumberToObject(e, "ms", r->ms);
    cJSON_AddNumberToObject(e, "efficiency", t1 / (m->size * r->ms));
    cJSON_AddNumberToObject(e, "device_bytes", r->held);
    if (r->tp) {
        cJSON_AddNumberToObject(e, "mpi_bytes_per_layer", r->bytes);
        cJSON_AddNumberToObject(e, "staged_bytes_per_layer", r->staged);
        add_links(e, r->bytes);
    } else {
        cJSON_AddNumberToObject(e, "bytes_gathered", r->bytes);
    }
    cJSON_AddItemToArray(arr, e);
}

/* Row r of --mpi on ctx: the model (data parallel as dp_comm's rank, else
 * tensor parallel over the ranks), its device bytes, its time
 * (time_ranks: r->ms -1 on every rank when one failed) and, tensor
 * parallel, its exchanged bytes. */
static void mpi_model(const struct bench_opts *o, struct cli_mpi *m, struct clf_ctx *ctx,
                      const struct clf_dp_comm *dp_comm, int64_t seq, const float *x, float *y,
                      double *t, struct mpi_row *r)
{
    const struct clf_encoder_config c = scale_cfg();
    struct sc_mem mem;
    struct mpi_step s = {.x = x, .seq = seq, .y = y};
    const struct clf_tp_comm comm = {m->rank, m->size, cli_mpi_allreduce_sum, m};
    mem_begin(NULL, ctx, &mem);
    bool ok = dp_comm ? clf_dp_create_rank(ctx, &c, NULL, 1, dp_comm, &s.dp) == CLF_OK
                      : clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &s.tp) == CLF_OK;
    mem_end(NULL, ctx, &mem);
    r->held = cli_mpi_max(m, mem.most);
    /* every rank must try: the failed ones take part with ok false */
    r->ms = time_ranks(m, ok ? o->runs : -1, t, &s);
    r->tp = s.tp != NULL;
    if (r->ms >= 0 && s.tp) {
        r->bytes = m->sent / SC_LAYERS;
        clf_encoder_tp_comm_bytes(s.tp, &r->staged);
    }
    clf_dp_destroy(s.dp);
    clf_encoder_tp_destroy(s.tp);
}

/* --mpi: rank 0 alone (the whole batch), then every rank its share plus
 * MPI_Gatherv of the outputs to rank 0 (clf_dp_create_rank,
 * cli_mpi_dp_gather), then tensor parallel over the ranks
 * (clf_encoder_tp_create_rank, cli_mpi_allreduce_sum). */
static int scale_mpi(const struct bench_opts *o, cJSON *arr, int64_t seq, const float *x)
{
    struct cli_mpi m;
    cli_mpi_begin(&m);
    char spec[256], msg[256];
    struct clf_ctx *ctx = NULL;
    const size_t n = (size_t)(SC_BATCH * seq * scale_cfg().d_model);
    float *y = malloc(n * sizeof *y);
    double *t = malloc((size_t)o->runs * sizeof *t), t1 = -1;
    struct mpi_row one = {.mode = "alone"}, dp = {.mode = "mpi"};
    struct mpi_row tp = {.mode = "mpi-tensor-parallel", .ms = -1};
    int rc = CLI_FAIL;
    bool ok = y && t && cli_mpi_device(o->device, m.local_rank, spec, sizeof spec, msg, sizeof msg);
    struct clf_ctx_params p = cli_ctx_params(spec, true);
    ok = cli_mpi_all_ok(&m, ok && clf_ctx_create(&p, &ctx) == CLF_OK);
    if (!ok)
        goto done;
    if (m.rank == 0) {
        struct cli_mpi none = {.size = 1}; /* rank 0 by itself: no MPI call, nothing to gather */
        const struct clf_dp_comm alone = {0, 1, cli_mpi_dp_gather, &none};
        mpi_model(o, &none, ctx, &alone, seq, x, y, t, &one);
        ok = (t1 = one.ms) >= 0;
    }
    cli_mpi_barrier_idle(&m); /* the others wait without taking rank 0's cores */
    if (!cli_mpi_all_ok(&m, ok))
        goto done;
    const struct clf_dp_comm comm = {m.rank, m.size, cli_mpi_dp_gather, &m};
    mpi_model(o, &m, ctx, &comm, seq, x, y, t, &dp);
    if (dp.ms < 0) {
        cli_error("rank %d: %s", m.rank, clf_ctx_last_error(ctx));
        goto done;
    }
    size_t first, count; /* rank 0 receives all but its own share */
    cli_shard(SC_BATCH, m.size, 0, &first, &count);
    dp.bytes = (double)(n - count * (n / SC_BATCH)) * sizeof(float);
    /* tensor parallel over the ranks (when they divide 12 heads and d_ff
     * 1536): every rank the whole batch, its share of every layer */
    struct clf_encoder_config c = scale_cfg();
    if (c.heads % m.size == 0 && c.d_ff % m.size == 0) {
        mpi_model(o, &m, ctx, NULL, seq, x, y, t, &tp);
        if (tp.ms < 0) {
            cli_error("rank %d, tensor parallel: %s", m.rank, clf_ctx_last_error(ctx));
            goto done;
        }
    }
    rc = CLI_OK;
    if (m.rank)
        goto done;
    struct clf_device_info info;
    clf_ctx_device_info(ctx, &info);
    /* mpirun binds each rank to a core by default (np <= 2): a CPU device
     * then has that core alone, and ranks do not share compute */
    cpu_set_t set;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int bound = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
    if (o->json) {
        mpi_json(arr, &m, &dp, t1, bound, cores);
        if (tp.ms > 0)
            mpi_json(arr, &m, &tp, t1, bound, cores);
    } else {
        char b[32], w[32];
        printf("encoder: %d layers, d_model 384, 12 heads, d_ff 1536, seq %lld, batch %d; "
               "MPI ranks %d%s (rank 0: %s)\n",
               SC_LAYERS, (long long)seq, SC_BATCH, m.size,
               m.active ? "" : " (not under mpirun)", info.name);
        printf("rank 0 may run on %d of the %ld cores%s\n", bound, cores,
               bound < cores ? " (mpirun's binding: ranks do not share cores; --bind-to none "
                               "lets them)"
                             : "");
        printf("rank 0 alone, whole batch     %9.2f ms  weights/device %s\n", t1,
               cli_bytes((unsigned long long)one.held, w, sizeof w));
        printf("%d ranks, share + gather      %9.2f ms  efficiency %.2f  weights/device %s  "
               "gathered %s per forward",
               m.size, dp.ms, t1 / (m.size * dp.ms), cli_bytes((unsigned long long)dp.held, w, sizeof w),
               cli_bytes((unsigned long long)dp.bytes, b, sizeof b));
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
            printf(" | %s %.3f ms", links[i].name, dp.bytes / links[i].bps * 1e3);
        printf("\n");
        if (tp.ms > 0) {
            printf("%d ranks, tensor parallel     %9.2f ms  efficiency %.2f  weights/device %s  "
                   "MPI %s per layer and rank",
                   m.size, tp.ms, t1 / (m.size * tp.ms),
                   cli_bytes((unsigned long long)tp.held, w, sizeof w),
                   cli_bytes((unsigned long long)tp.bytes, b, sizeof b));
            for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
                printf(" | %s %.3f ms", links[i].name, SC_LAYERS * tp.bytes / links[i].bps * 1e3);
            printf("\n");
        } else {
            printf("tensor parallel: %d ranks do not divide 12 heads and d_ff 1536\n", m.size);
        }
    }
done:
    clf_ctx_destroy(ctx);
    free(y);
    free(t);
    cli_mpi_end(&m);
    return rc;
}

int bench_scale(const struct bench_opts *o, cJSON *arr)
{
    const int64_t seq = o->seq ? o->seq : 128;
    const size_t n = (size_t)(SC_BATCH * seq * scale_cfg().d_model);
    float *x = malloc(n * sizeof *x);
    if (!x)
        return cli_error("out of memory");
    bench_fill(x, n, 7);
    int rc = o->mpi ? scale_mpi(o, arr, seq, x) : scale_devices(o, arr, seq, x);
    free(x);
    return rc;
}
