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

/* One replica: its items of the batch, recorded. */
struct sc_rep {
    struct clf_ctx *ctx;
    struct clf_encoder *enc;
    struct clf_graph *g;
    struct clf_tensor *x, *y;
    enum clf_status st;
};

static enum clf_status rep_setup(struct sc_rep *r, struct clf_ctx *ctx, int64_t b, int64_t seq,
                                 const float *x)
{
    struct clf_encoder_config c = scale_cfg();
    const int64_t s[3] = {b, seq, c.d_model};
    r->ctx = ctx;
    enum clf_status st = clf_encoder_create_random(ctx, &c, 1, &r->enc);
    if (st == CLF_OK)
        st = (r->x = bench_upload(ctx, 3, s, x)) ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &r->g);
    if (st == CLF_OK)
        st = clf_encoder_forward(r->enc, r->g, r->x, NULL, &r->y);
    return st;
}

static void rep_free(struct sc_rep *r)
{
    clf_graph_destroy(r->g);
    clf_tensor_destroy(r->x);
    clf_encoder_destroy(r->enc);
    memset(r, 0, sizeof *r);
}

static void rep_run(void *arg, int i)
{
    struct sc_rep *r = &((struct sc_rep *)arg)[i];
    if (r->st == CLF_OK)
        r->st = clf_graph_run(r->g);
}

/* Median ms of n replicas run at the same time (after 2 warm-up runs). */
static double time_reps(struct sc_rep *r, int n, int runs)
{
    double *t = malloc((size_t)runs * sizeof *t), ms = -1;
    for (int k = -2; t && k < runs; k++) {
        double t0 = cli_now_ms();
        cli_parallel(n, rep_run, r);
        if (k >= 0)
            t[k] = cli_now_ms() - t0;
    }
    for (int i = 0; i < n; i++)
        if (r[i].st != CLF_OK)
            runs = 0;
    if (t && runs)
        ms = cli_median(t, runs);
    free(t);
    return ms;
}

static double time_tp(struct clf_encoder_tp *e, const float *x, float *y, int64_t seq, int runs)
{
    double *t = malloc((size_t)runs * sizeof *t), ms = -1;
    for (int k = -2; t && k < runs; k++) {
        double t0 = cli_now_ms();
        if (clf_encoder_tp_forward(e, x, SC_BATCH, seq, NULL, y) != CLF_OK) {
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

static void row(const struct bench_opts *o, cJSON *arr, const char *mode, int n, double ms,
                double t1, double bytes_layer)
{
    double eff = ms > 0 ? t1 / (n * ms) : 0;
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "mode", mode);
        cJSON_AddNumberToObject(e, "devices", n);
        cJSON_AddNumberToObject(e, "ms", ms);
        cJSON_AddNumberToObject(e, "efficiency", eff);
        cJSON_AddNumberToObject(e, "comm_bytes_per_layer", bytes_layer);
        add_links(e, bytes_layer);
        cJSON_AddItemToArray(arr, e);
        return;
    }
    char b[32];
    printf("%-15s %d  %9.2f ms  efficiency %5.2f  comm/layer %10s", mode, n, ms, eff,
           cli_bytes((unsigned long long)bytes_layer, b, sizeof b));
    for (size_t i = 0; bytes_layer > 0 && i < sizeof links / sizeof links[0]; i++)
        printf(" | %.3f ms", SC_LAYERS * bytes_layer / links[i].bps * 1e3);
    printf("\n");
}

/* Devices: the first two of o->devices (default "all") as "P:D" specs. */
static int scale_devices(const struct bench_opts *o, cJSON *arr, int64_t seq, const float *x)
{
    char msg[512], s1[32], s2[72];
    struct clf_ctx_params p = cli_ctx_params(NULL, true);
    struct clf_group *all = NULL, *g1 = NULL, *g2 = NULL;
    struct clf_encoder_tp *tp1 = NULL, *tp2 = NULL;
    struct sc_rep r[3] = {{0}};
    const int64_t d = scale_cfg().d_model;
    const size_t n = (size_t)(SC_BATCH * seq * d);
    float *y = malloc(n * sizeof *y);
    int rc = CLI_FAIL;
    if (clf_group_create(o->devices ? o->devices : "all", &p, &all, msg, sizeof msg) != CLF_OK) {
        cli_error("--devices: %s", msg);
        goto done;
    }
    int nd = clf_group_size(all) < 2 ? clf_group_size(all) : 2;
    struct clf_device_info i0, i1;
    clf_ctx_device_info(clf_group_ctx(all, 0), &i0);
    snprintf(s1, sizeof s1, "%d:%d", i0.platform_index, i0.device_index);
    if (nd == 2) {
        clf_ctx_device_info(clf_group_ctx(all, 1), &i1);
        snprintf(s2, sizeof s2, "%s,%d:%d", s1, i1.platform_index, i1.device_index);
    }
    if (!o->json)
        printf("encoder: %d layers, d_model 384, 12 heads, d_ff 1536, seq %lld, batch %d; "
               "devices: %d (%s%s%s)\n"
               "mode            N       time       efficiency   comm/layer   | implied link "
               "time per forward: PCIe 4.0 x16 | NVLink 4 | 100 GbE\n",
               SC_LAYERS, (long long)seq, SC_BATCH, nd, i0.name, nd == 2 ? ", " : "",
               nd == 2 ? i1.name : "");
    /* data parallel: one device the whole batch, then half each */
    enum clf_status st = rep_setup(&r[0], clf_group_ctx(all, 0), SC_BATCH, seq, x);
    double t1 = st == CLF_OK ? time_reps(r, 1, o->runs) : -1;
    if (t1 < 0) {
        cli_error("one device: %s", clf_ctx_last_error(clf_group_ctx(all, 0)));
        goto done;
    }
    row(o, arr, "data-parallel", 1, t1, t1, 0);
    rep_free(&r[0]);
    if (nd == 2) {
        st = rep_setup(&r[1], clf_group_ctx(all, 0), SC_BATCH / 2, seq, x);
        if (st == CLF_OK)
            st = rep_setup(&r[2], clf_group_ctx(all, 1), SC_BATCH / 2, seq, x + n / 2);
        double t2 = st == CLF_OK ? time_reps(r + 1, 2, o->runs) : -1;
        if (t2 < 0) {
            cli_error("two devices: %s", clf_ctx_last_error(clf_group_ctx(all, 0)));
            goto done;
        }
        row(o, arr, "data-parallel", 2, t2, t1, 0);
    }
    /* tensor parallel: a group of one, then of two */
    struct clf_encoder_config c = scale_cfg();
    double b1 = 0, b2 = 0;
    if (clf_group_create(s1, &p, &g1, msg, sizeof msg) != CLF_OK ||
        clf_encoder_tp_create(g1, &c, NULL, 1, &tp1) != CLF_OK) {
        cli_error("tensor parallel, one device: %s", msg);
        goto done;
    }
    double tt1 = time_tp(tp1, x, y, seq, o->runs);
    clf_encoder_tp_comm_bytes(tp1, &b1);
    row(o, arr, "tensor-parallel", 1, tt1, tt1, b1);
    if (nd == 2) {
        if (clf_group_create(s2, &p, &g2, msg, sizeof msg) != CLF_OK ||
            clf_encoder_tp_create(g2, &c, NULL, 1, &tp2) != CLF_OK) {
            cli_error("tensor parallel, two devices: %s", msg);
            goto done;
        }
        double tt2 = time_tp(tp2, x, y, seq, o->runs);
        clf_encoder_tp_comm_bytes(tp2, &b2);
        row(o, arr, "tensor-parallel", 2, tt2, tt1, b2);
    }
    if (!o->json)
        printf("data parallel exchanges no activations per layer (only the input and output, "
               "%.1f MiB per forward); the link columns are 6 layers of the measured "
               "per-layer bytes at the link's bandwidth\n",
               2.0 * (double)n * sizeof(float) / 1048576.0);
    rc = CLI_OK;
done:
    for (int i = 0; i < 3; i++)
        rep_free(&r[i]);
    clf_encoder_tp_destroy(tp1);
    clf_encoder_tp_destroy(tp2);
    clf_group_destroy(g1);
    clf_group_destroy(g2);
    clf_group_destroy(all);
    free(y);
    return rc;
}

/* One timed step of every rank: its share of the batch plus the gather
 * (r), or a tensor-parallel forward (tp). */
struct mpi_step {
    struct cli_mpi *m;
    struct sc_rep *r;     /* data parallel: this rank's replica, count outputs */
    size_t count;         /* floats of this rank's share (0: none) */
    const size_t *counts; /* every rank's, for the gather */
    struct clf_encoder_tp *tp; /* tensor parallel: the whole batch x */
    const float *x;
    int64_t seq;
    float *y;
};

static bool mpi_step_run(struct mpi_step *s)
{
    if (s->tp)
        return clf_encoder_tp_forward(s->tp, s->x, SC_BATCH, s->seq, NULL, s->y) == CLF_OK;
    bool ok = true;
    if (s->count) {
        rep_run(s->r, 0);
        ok = s->r->st == CLF_OK && clf_tensor_read(s->r->y, s->y, s->count * sizeof *s->y) ==
                                       CLF_OK;
    }
    return cli_mpi_gather(s->m, s->y, s->counts, s->y) && ok;
}

/* Median over runs (after 2 warm-up runs) of the slowest rank's time of a
 * step, each run started from a barrier, m->sent counting the latest
 * run's bytes; -1 on every rank when one failed. runs < 0: this rank
 * failed before, and only takes part in saying so. */
static double time_ranks(struct cli_mpi *m, int runs, double *t, struct mpi_step *s)
{
    bool ok = runs >= 0;
    for (int k = -2; cli_mpi_all_ok(m, ok) && k < runs; k++) {
        cli_mpi_barrier(m);
        m->sent = 0;
        double t0 = cli_now_ms();
        ok = mpi_step_run(s);
        if (k >= 0)
            t[k] = cli_mpi_max(m, cli_now_ms() - t0);
    }
    return cli_mpi_all_ok(m, ok) ? cli_median(t, runs) : -1;
}

/* --mpi: rank 0 alone (the whole batch), then every rank its share plus
 * MPI_Gatherv of the outputs to rank 0, then tensor parallel over the
 * ranks (clf_encoder_tp_create_rank, cli_mpi_allreduce_sum). */
static int scale_mpi(const struct bench_opts *o, cJSON *arr, int64_t seq, const float *x)
{
    struct cli_mpi m;
    cli_mpi_begin(&m);
    char spec[256], msg[256];
    struct clf_ctx *ctx = NULL;
    struct sc_rep r = {0};
    struct clf_encoder_tp *tp = NULL;
    const int64_t d = scale_cfg().d_model;
    const size_t row_n = (size_t)(seq * d), n = SC_BATCH * row_n;
    float *y = malloc(n * sizeof *y);
    size_t *counts = calloc((size_t)m.size, sizeof *counts), first = 0, cnt = 0;
    double *t = malloc((size_t)o->runs * sizeof *t), t1 = -1, tn = -1;
    int rc = CLI_FAIL;
    bool ok = y && counts && t && cli_mpi_device(o->device, m.local_rank, spec, sizeof spec, msg,
                                                 sizeof msg);
    struct clf_ctx_params p = cli_ctx_params(spec, true);
    ok = cli_mpi_all_ok(&m, ok && clf_ctx_create(&p, &ctx) == CLF_OK);
    if (!ok)
        goto done;
    if (m.rank == 0) {
        ok = rep_setup(&r, ctx, SC_BATCH, seq, x) == CLF_OK && (t1 = time_reps(&r, 1, o->runs)) >= 0;
        rep_free(&r);
    }
    cli_mpi_barrier_idle(&m); /* the others wait without taking rank 0's cores */
    if (!cli_mpi_all_ok(&m, ok))
        goto done;
    for (int k = 0; k < m.size; k++) {
        size_t f, c;
        cli_shard(SC_BATCH, m.size, k, &f, &c);
        counts[k] = c * row_n;
        if (k == m.rank) {
            first = f;
            cnt = c;
        }
    }
    ok = !cnt || rep_setup(&r, ctx, (int64_t)cnt, seq, x + first * row_n) == CLF_OK;
    struct mpi_step dp = {.m = &m, .r = &r, .y = y, .count = cnt * row_n, .counts = counts};
    if ((tn = time_ranks(&m, ok ? o->runs : -1, t, &dp)) < 0) {
        cli_error("rank %d: %s", m.rank, clf_ctx_last_error(ctx));
        goto done;
    }
    double gathered = (double)(n - counts[0]) * sizeof(float); /* rank 0 receives */
    /* tensor parallel over the ranks (when they divide 12 heads and d_ff
     * 1536): every rank the whole batch, its share of every layer */
    struct clf_encoder_config c = scale_cfg();
    double ttn = -1, sent = 0, staged = 0;
    if (c.heads % m.size == 0 && c.d_ff % m.size == 0) {
        const struct clf_tp_comm comm = {m.rank, m.size, cli_mpi_allreduce_sum, &m};
        ok = clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &tp) == CLF_OK;
        struct mpi_step tps = {.m = &m, .tp = tp, .x = x, .y = y, .seq = seq};
        /* every rank must try: the failed ones take part with ok false */
        if ((ttn = time_ranks(&m, ok ? o->runs : -1, t, &tps)) < 0) {
            cli_error("rank %d, tensor parallel: %s", m.rank, clf_ctx_last_error(ctx));
            goto done;
        }
        sent = m.sent / SC_LAYERS;
        clf_encoder_tp_comm_bytes(tp, &staged);
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
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "mode", "mpi");
        cJSON_AddNumberToObject(e, "rank0_cores", bound);
        cJSON_AddNumberToObject(e, "cores", (double)cores);
        cJSON_AddNumberToObject(e, "ranks", m.size);
        cJSON_AddNumberToObject(e, "ms_one_rank", t1);
        cJSON_AddNumberToObject(e, "ms", tn);
        cJSON_AddNumberToObject(e, "efficiency", t1 / (m.size * tn));
        cJSON_AddNumberToObject(e, "bytes_gathered", gathered);
        cJSON_AddItemToArray(arr, e);
        if (ttn > 0) {
            e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "mode", "mpi-tensor-parallel");
            cJSON_AddNumberToObject(e, "ranks", m.size);
            cJSON_AddNumberToObject(e, "ms_one_rank", t1);
            cJSON_AddNumberToObject(e, "ms", ttn);
            cJSON_AddNumberToObject(e, "efficiency", t1 / (m.size * ttn));
            cJSON_AddNumberToObject(e, "mpi_bytes_per_layer", sent);
            cJSON_AddNumberToObject(e, "staged_bytes_per_layer", staged);
            add_links(e, sent);
            cJSON_AddItemToArray(arr, e);
        }
    } else {
        char b[32];
        printf("encoder: %d layers, d_model 384, 12 heads, d_ff 1536, seq %lld, batch %d; "
               "MPI ranks %d%s (rank 0: %s)\n",
               SC_LAYERS, (long long)seq, SC_BATCH, m.size,
               m.active ? "" : " (not under mpirun)", info.name);
        printf("rank 0 may run on %d of the %ld cores%s\n", bound, cores,
               bound < cores ? " (mpirun's binding: ranks do not share cores; --bind-to none "
                               "lets them)"
                             : "");
        printf("rank 0 alone, whole batch     %9.2f ms\n", t1);
        printf("%d ranks, share + gather      %9.2f ms  efficiency %.2f  gathered %s per "
               "forward",
               m.size, tn, t1 / (m.size * tn), cli_bytes((unsigned long long)gathered, b, sizeof b));
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
            printf(" | %s %.3f ms", links[i].name, gathered / links[i].bps * 1e3);
        printf("\n");
        if (ttn > 0) {
            printf("%d ranks, tensor parallel     %9.2f ms  efficiency %.2f  MPI %s per layer "
                   "and rank",
                   m.size, ttn, t1 / (m.size * ttn),
                   cli_bytes((unsigned long long)sent, b, sizeof b));
            for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
                printf(" | %s %.3f ms", links[i].name, SC_LAYERS * sent / links[i].bps * 1e3);
            printf("\n");
        } else {
            printf("tensor parallel: %d ranks do not divide 12 heads and d_ff 1536\n", m.size);
        }
    }
done:
    clf_encoder_tp_destroy(tp);
    rep_free(&r);
    clf_ctx_destroy(ctx);
    free(y);
    free(counts);
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
