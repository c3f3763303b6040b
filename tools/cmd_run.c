/*
 * `clformer run`: the main job. Runs the encoder stack forward on the
 * selected device, with weights from a safetensors file or seeded random
 * ones, on an input from a .npy file or seeded random data; prints the
 * device, configuration, time, tokens/s and a per-op time summary.
 *
 * Several devices: --devices LIST splits the batch over a device group (a
 * replica of the weights on each, one thread each; data parallelism), or
 * with --tensor-parallel runs one clf_encoder_tp over the group. Under
 * mpirun (built with MPI) each rank takes its share of the batch on its
 * own device and rank 0 gathers the output (tools/cli_mpi.h); with
 * --tensor-parallel each rank holds its share of every layer instead
 * (clf_encoder_tp_create_rank) and the ranks all-reduce over MPI.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cli.h"
#include "cli_mpi.h"
#include "profile.h"
#include "ref_encoder.h"

struct run_opts {
    const char *device, *weights, *input, *output;
    int64_t seq, batch;
    struct clf_encoder_config cfg;
    uint64_t seed;
    int runs;
    bool check, json;
    const char *save;  /* --save FILE */
    bool profile;      /* --profile */
    const char *trace; /* --trace FILE.json */
    int queues;        /* --queues N */
    const char *devices; /* --devices LIST */
    bool tp;             /* --tensor-parallel */
};

static void help(void)
{
    printf("Usage: clformer run [OPTIONS]\n\n"
           "Runs an encoder stack (the seed's ParallelTransformer: post-LN layers of\n"
           "multi-head self-attention and a feed-forward network) forward on the device.\n"
           "Without --weights the weights are seeded random; without --input so is x.\n\n"
           "  -d, --device SPEC      device (see clformer info --help); default auto\n"
           "  -w, --weights FILE     safetensors with PyTorch nn.TransformerEncoder names\n"
           "                         (layers.N.self_attn.in_proj_weight, ...) or, for one\n"
           "                         layer, nn.TransformerEncoderLayer names\n"
           "  -i, --input FILE       float32 .npy [seq, d_model] or [batch, seq, d_model]\n"
           "  -o, --output FILE      write the output as float32 .npy (same shape)\n"
           "      --seq N            sequence length without --input (default 512)\n"
           "      --batch N          batch size without --input (default 1)\n"
           "      --layers N         default 6\n"
           "      --d-model N        default 512\n"
           "      --heads N          default 8\n"
           "      --d-ff N           default 2048\n"
           "      --activation A     relu (default), gelu, gelu-tanh\n"
           "      --eps X            LayerNorm epsilon (default 1e-5)\n"
           "      --norm-first       pre-LN layers instead of post-LN\n"
           "      --attn-impl I      auto (default), fused, gemm\n"
           "      --attn SPEC        exact (default), threshold:T[,renorm], topk:K,\n"
           "                         window:W[,left:L][,right:R][,global:G], linformer:R,\n"
           "                         nystrom:M[,iters:N], svd:R[,rand[,p:P][,q:Q]]\n"
           "      --ffn SPEC         FFN weights: dense (default), svd:R, svd:eps=E,\n"
           "                         rsvd:R[,p:P][,q:Q][,seed:S], tt:R[,d:D], tt:eps=E\n"
           "      --profile          device time by op: nodes, ms, share, GFLOP/s, GB/s\n"
           "                         (per-node times: no command-buffer replay)\n"
           "      --trace FILE.json  the last run as Chrome trace events (Perfetto,\n"
           "                         chrome://tracing), one track per queue\n"
           "      --queues N         0: one out-of-order queue if the device has one\n"
           "                         (default); N: N in-order queues\n"
           "      --drop-dense       free the f32 weights that a prepared form (--ffn,\n"
           "                         --linear int8, --attn svd) replaces\n"
           "      --save FILE        write the prepared weights (with FFN factors and\n"
           "                         calibrated quantiser parameters) as safetensors, for\n"
           "                         a later --weights FILE that skips preparing them\n"
           "      --kv F             K and V storage: f32 (default), int8 (per token),\n"
           "                         int8:channel\n"
           "      --attn-quant F     attention weights: f32 (default), f16, log:B\n"
           "      --linear F         linear layers: f32 (default), int8 (per-channel\n"
           "                         weights, per-token activations)\n"
           "      --ffn-act SPEC     quantiser before W2: none (default), binary[:A],\n"
           "                         lsq:B[,signed][,step:S], pact:B[,alpha:A],\n"
           "                         pwl:B[,clip:C,bp:P], steps:T1/T2/..:L0/L1/..; free\n"
           "                         parameters are calibrated on the input itself\n"
           "");
    printf("      --devices LIST     data parallelism: the batch split over these devices\n"
           "                         (\"all\", \"gpu:0,gpu:1\", ...), a replica of the weights\n"
           "                         on each, run at the same time; the output is the same\n"
           "                         as one device's\n"
           "      --tensor-parallel  with --devices, or under mpirun: split each layer's\n"
           "                         heads and FFN over the devices (ranks) instead (dense\n"
           "                         f32, exact attention; heads and d-ff divisible by\n"
           "                         their number)\n"
           "      --seed N           seed of random weights and input (default 1)\n"
           "      --runs N           timed runs after one warm-up (default 3)\n"
           "      --check            compare with a double-precision CPU reference (exact\n"
           "                         attention: with --attn it shows the variant's error)\n"
           "      --json             print JSON\n"
           "  -h, --help             this text\n"
           "\nUnder mpirun (when built with MPI) every rank runs its share of the batch\n"
           "on its own device (a bare --device type or auto: the node-local rank's one\n"
           "of that type) and rank 0 gathers and prints the result. With\n"
           "--tensor-parallel the ranks split every layer instead, meeting in an\n"
           "all-reduce over MPI after each attention and feed-forward block; the output\n"
           "is the same bits as --devices with as many devices of the same kind.\n");
}

static int parse(int argc, char **argv, struct run_opts *o)
{
    /* O_ENC: the encoder options of cli_encoder_option */
    enum { O_SEQ = 256, O_BATCH, O_ENC, O_NORMFIRST, O_SEED, O_RUNS, O_CHECK, O_JSON, O_SAVE,
           O_PROFILE, O_TRACE, O_QUEUES, O_DEVICES, O_TP };
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"weights", required_argument, NULL, 'w'},
        {"input", required_argument, NULL, 'i'},  {"output", required_argument, NULL, 'o'},
        {"seq", required_argument, NULL, O_SEQ},  {"batch", required_argument, NULL, O_BATCH},
        {"layers", required_argument, NULL, O_ENC}, {"d-model", required_argument, NULL, O_ENC},
        {"heads", required_argument, NULL, O_ENC},  {"d-ff", required_argument, NULL, O_ENC},
        {"activation", required_argument, NULL, O_ENC}, {"eps", required_argument, NULL, O_ENC},
        {"norm-first", no_argument, NULL, O_NORMFIRST},
        {"attn-impl", required_argument, NULL, O_ENC}, {"attn", required_argument, NULL, O_ENC},
        {"kv", required_argument, NULL, O_ENC},     {"attn-quant", required_argument, NULL, O_ENC},
        {"linear", required_argument, NULL, O_ENC}, {"ffn-act", required_argument, NULL, O_ENC},
        {"ffn", required_argument, NULL, O_ENC},    {"drop-dense", no_argument, NULL, O_ENC},
        {"save", required_argument, NULL, O_SAVE},
        {"profile", no_argument, NULL, O_PROFILE}, {"trace", required_argument, NULL, O_TRACE},
        {"queues", required_argument, NULL, O_QUEUES},
        {"devices", required_argument, NULL, O_DEVICES},
        {"tensor-parallel", no_argument, NULL, O_TP},
        {"seed", required_argument, NULL, O_SEED}, {"runs", required_argument, NULL, O_RUNS},
        {"check", no_argument, NULL, O_CHECK},    {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0}};
    int c;
    int64_t v;
    opterr = 0;
    int li = -1;
    while ((c = getopt_long(argc, argv, ":d:w:i:o:h", opts, &li)) != -1) {
        int rc = 0;
        switch (c) {
        case 'd': o->device = optarg; break;
        case 'w': o->weights = optarg; break;
        case 'i': o->input = optarg; break;
        case 'o': o->output = optarg; break;
        case O_SEQ: rc = cli_int_option("run", "seq", optarg, 1, 1 << 20, &o->seq); break;
        case O_BATCH: rc = cli_int_option("run", "batch", optarg, 1, 1 << 16, &o->batch); break;
        case O_RUNS:
            if (!(rc = cli_int_option("run", "runs", optarg, 1, 100000, &v)))
                o->runs = (int)v;
            break;
        case O_SEED: rc = cli_seed_option("run", optarg, &o->seed); break;
        case O_NORMFIRST: o->cfg.norm_first = true; break;
        case O_ENC: rc = cli_encoder_option("run", opts[li].name, optarg, &o->cfg); break;
        case O_SAVE: o->save = optarg; break;
        case O_PROFILE: o->profile = true; break;
        case O_TRACE: o->trace = optarg; break;
        case O_QUEUES:
            if (!cli_parse_int(optarg, 0, 64, &v))
                return cli_usage_error("run", "--queues needs an integer from 0 to 64");
            o->queues = (int)v;
            break;
        case O_DEVICES: o->devices = optarg; break;
        case O_TP: o->tp = true; break;
        case O_CHECK: o->check = true; break;
        case O_JSON: o->json = true; break;
        case 'h': help(); return -1;
        default: return cli_getopt_error("run", c, argv);
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    int rc = cli_check_shape("run", &o->cfg);
    if (rc)
        return rc;
    if (o->tp && !o->devices && !cli_mpi_launched())
        return cli_usage_error("run", "--tensor-parallel needs --devices LIST, or mpirun");
    if (o->devices && o->device)
        return cli_usage_error("run", "give --device or --devices, not both");
    if (o->devices && cli_mpi_launched())
        return cli_usage_error("run", "--devices is not for mpirun (each rank takes one device)");
    if (o->tp && (o->save || o->profile || o->trace))
        return cli_usage_error("run", "--save, --profile and --trace are not for "
                                      "--tensor-parallel");
    return 0;
}

/* One device's part of the batch: items [first, first + count). */
struct replica {
    struct clf_ctx *ctx; /* borrowed (the group's or the run's) */
    struct clf_encoder *enc;
    struct clf_graph *g;
    struct clf_tensor *x, *y;
    size_t first, count; /* its items of the batch */
    size_t at;           /* where its output goes in out, in items */
    enum clf_status st;
};

/* What the threads of one step share. */
struct run_job {
    const struct run_opts *o;
    struct replica *r;
    const float *host; /* the whole input [batch, seq, d] */
    float *out;        /* the whole output; a rank writes only its share */
};

/* Replica i: weights, its slice of x, the graph (recorded, not run). The
 * FFN activation quantisers' free parameters are calibrated on the whole
 * batch, so that every replica quantises as one device would. */
static void setup_replica(void *arg, int i)
{
    struct run_job *j = arg;
    struct replica *r = &j->r[i];
    const struct run_opts *o = j->o;
    const size_t row = (size_t)(o->seq * o->cfg.d_model);
    if (!r->count)
        return;
    r->st = o->weights ? clf_encoder_load(r->ctx, &o->cfg, o->weights, &r->enc)
                       : clf_encoder_create_random(r->ctx, &o->cfg, o->seed, &r->enc);
    const int64_t xs[3] = {(int64_t)r->count, o->seq, o->cfg.d_model};
    if (r->st == CLF_OK)
        r->st = clf_tensor_create(r->ctx, CLF_F32, 3, xs, &r->x);
    if (r->st == CLF_OK)
        r->st = clf_tensor_write(r->x, j->host + r->first * row, r->count * row * sizeof(float));
    if (r->st == CLF_OK && o->cfg.ffn_act.kind != CLF_ACTQ_NONE) {
        struct clf_tensor *all = r->x;
        const int64_t as[3] = {o->batch, o->seq, o->cfg.d_model};
        if (r->count != (size_t)o->batch) {
            all = NULL;
            r->st = clf_tensor_create(r->ctx, CLF_F32, 3, as, &all);
            if (r->st == CLF_OK)
                r->st = clf_tensor_write(all, j->host, (size_t)o->batch * row * sizeof(float));
        }
        if (r->st == CLF_OK)
            r->st = clf_encoder_calibrate(r->enc, all, NULL);
        if (all != r->x)
            clf_tensor_destroy(all);
    }
    if (r->st == CLF_OK)
        r->st = clf_graph_create(r->ctx, &r->g);
    if (r->st == CLF_OK)
        r->st = clf_encoder_forward(r->enc, r->g, r->x, NULL, &r->y);
}

static void run_replica(void *arg, int i)
{
    struct replica *r = &((struct run_job *)arg)->r[i];
    if (r->count && r->st == CLF_OK)
        r->st = clf_graph_run(r->g);
}

/* Reads replica i's output into its rows of out (for a rank: of out's
 * start, where its share is kept before the gather). */
static void read_replica(void *arg, int i)
{
    struct run_job *j = arg;
    struct replica *r = &j->r[i];
    const size_t row = (size_t)(j->o->seq * j->o->cfg.d_model);
    if (r->count && r->st == CLF_OK)
        r->st = clf_tensor_read(r->y, j->out + r->at * row, r->count * row * sizeof(float));
}

static bool replicas_ok(const struct replica *r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i].st != CLF_OK)
            return false;
    return true;
}

/* The first failed replica's status, its error printed. */
static enum clf_status replicas_status(const struct replica *r, int n)
{
    for (int i = 0; i < n; i++)
        if (r[i].st != CLF_OK) {
            cli_error("device %d: %s", i, clf_ctx_last_error(r[i].ctx));
            return r[i].st;
        }
    return CLF_OK;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {0};
    o.cfg = clf_encoder_config_default();
    o.seq = 512;
    o.batch = 1;
    o.seed = 1;
    o.runs = 3;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;

    struct cli_mpi mpi;
    cli_mpi_begin(&mpi);
    const bool quiet = o.json || mpi.rank > 0;
    struct clf_ctx_params p = cli_ctx_params(o.device, quiet);
    p.queues = o.queues;
    if (o.profile || o.trace) /* per-node times need direct runs */
        p.command_buffers = false;
    char spec[256], msg[512];
    struct clf_ctx *ctx = NULL; /* this rank's device (also without mpirun) */
    struct clf_group *grp = NULL;
    struct clf_encoder_tp *tp = NULL;
    struct clf_encoder *ref_enc = NULL; /* --check with --tensor-parallel */
    struct replica *reps = NULL;
    int nrep = 0;
    struct ref_weights *rw = NULL;
    float *host = NULL, *out = NULL;
    double *ref = NULL, *times = NULL;
    size_t *counts = NULL;
    rc = CLI_FAIL;
    bool ok = true;
    if (o.tp && !o.devices && !mpi.active) {
        cli_error("--tensor-parallel under mpirun needs clformer built with MPI (meson "
                  "option mpi)");
        goto done;
    }
    if (o.devices) {
        if (clf_group_create(o.devices, &p, &grp, msg, sizeof msg) != CLF_OK) {
            cli_error("--devices %s: %s", o.devices, msg);
            goto done;
        }
        ctx = clf_group_ctx(grp, 0);
    } else {
        if (mpi.active) {
            ok = cli_mpi_device(o.device, mpi.local_rank, spec, sizeof spec, msg, sizeof msg);
            p.device = spec;
        }
        if (!cli_mpi_all_ok(&mpi, ok && clf_ctx_create(&p, &ctx) == CLF_OK)) {
            if (!ok)
                cli_error("%s", msg);
            goto done;
        }
    }

    /* input: [seq, d] or [batch, seq, d] from the file, else seeded; every
     * rank reads all of it and takes its share */
    int64_t shape[CLF_MAX_DIMS];
    int nd = 3;
    if (o.input) {
        char msg[1024];
        if (clf_npy_read(o.input, &host, &nd, shape, msg, sizeof msg) != CLF_OK) {
            cli_error("%s", msg);
            ok = false;
        } else if ((nd != 2 && nd != 3) || shape[nd - 1] != o.cfg.d_model) {
            cli_error("%s: shape must be [seq, %lld] or [batch, seq, %lld]", o.input,
                      (long long)o.cfg.d_model, (long long)o.cfg.d_model);
            ok = false;
        } else {
            o.batch = nd == 3 ? shape[0] : 1;
            o.seq = shape[nd - 2];
        }
    } else {
        size_t n = (size_t)(o.batch * o.seq * o.cfg.d_model);
        host = malloc(n * sizeof *host);
        if (host)
            cli_seeded_input(host, n, o.seed);
        else
            ok = !cli_error("out of memory");
    }
    const size_t row = (size_t)(o.seq * o.cfg.d_model);
    const size_t n = (size_t)o.batch * row;
    out = ok ? malloc(n * sizeof *out) : NULL;
    times = calloc((size_t)o.runs, sizeof *times);
    if (ok && (!out || !times))
        ok = !cli_error("out of memory");
    if (!cli_mpi_all_ok(&mpi, ok))
        goto done;
    /* the ranks must hold the same input, seed and weights file */
    uint64_t h = XXH3_64bits_withSeed(host, n * sizeof *host, o.seed);
    if (o.weights)
        h = XXH3_64bits_withSeed(o.weights, strlen(o.weights), h);
    if (!cli_mpi_same(&mpi, h)) {
        if (mpi.rank == 0)
            cli_error("the ranks have different inputs, seeds or weights files (files that "
                      "differ between nodes, or mpirun's MPMD form with other arguments)");
        goto done;
    }

    /* the replicas: one per group member (data parallel), else one holding
     * this rank's share of the batch (all of it without mpirun) */
    nrep = grp && !o.tp ? clf_group_size(grp) : 1;
    reps = calloc((size_t)nrep, sizeof *reps);
    counts = calloc((size_t)mpi.size, sizeof *counts);
    if (!reps || !counts) {
        cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < nrep; i++) {
        reps[i].ctx = grp ? clf_group_ctx(grp, i) : ctx;
        cli_shard((size_t)o.batch, nrep > 1 ? nrep : mpi.size, nrep > 1 ? i : mpi.rank,
                  &reps[i].first, &reps[i].count);
    }
    for (int r = 0; r < mpi.size; r++) {
        size_t first;
        cli_shard((size_t)o.batch, mpi.size, r, &first, &counts[r]);
        counts[r] *= row;
    }
    /* a rank keeps its share at the start of out until the gather */
    for (int i = 0; i < nrep; i++)
        reps[i].at = mpi.active ? 0 : reps[i].first;
    struct run_job job = {&o, reps, host, out};

    double t0 = cli_now_ms(), load_ms, warm_ms, mpi_sent = 0;
    enum clf_status st = CLF_OK;
    if (o.tp) {
        /* a group's encoder, or this rank's share of one over the MPI ranks;
         * under mpirun every rank runs every step (the all-reduces inside) */
        const struct clf_tp_comm comm = {mpi.rank, mpi.size, cli_mpi_allreduce_sum, &mpi};
        st = grp ? clf_encoder_tp_create(grp, &o.cfg, o.weights, o.seed, &tp)
                 : clf_encoder_tp_create_rank(ctx, &o.cfg, o.weights, o.seed, &comm, &tp);
        load_ms = cli_now_ms() - t0;
        t0 = cli_now_ms();
        if (cli_mpi_all_ok(&mpi, st == CLF_OK))
            st = clf_encoder_tp_forward(tp, host, o.batch, o.seq, NULL, out);
        warm_ms = cli_now_ms() - t0;
        for (int r = 0; cli_mpi_all_ok(&mpi, st == CLF_OK) && r < o.runs; r++) {
            cli_mpi_barrier(&mpi);
            mpi.sent = 0;
            t0 = cli_now_ms();
            st = clf_encoder_tp_forward(tp, host, o.batch, o.seq, NULL, out);
            times[r] = cli_mpi_max(&mpi, cli_now_ms() - t0); /* the slowest rank */
            mpi_sent = mpi.sent;
        }
        if (st != CLF_OK) { /* every rank says why (another rank's failure, at least) */
            if (mpi.active)
                cli_error("rank %d: %s", mpi.rank, clf_ctx_last_error(ctx));
            else
                cli_error("%s", clf_ctx_last_error(ctx));
        }
        if (!cli_mpi_all_ok(&mpi, st == CLF_OK))
            goto done;
    } else {
        cli_parallel(nrep, setup_replica, &job);
        st = replicas_status(reps, nrep);
        if (st == CLF_OK && o.save && mpi.rank == 0) /* the ranks' weights are the same */
            st = clf_encoder_save(reps[0].enc, o.save);
        load_ms = cli_now_ms() - t0;
        if (!cli_mpi_all_ok(&mpi, st == CLF_OK))
            goto done;
        /* warm-up: kernel builds, tuning, weight packing */
        t0 = cli_now_ms();
        cli_parallel(nrep, run_replica, &job);
        warm_ms = cli_now_ms() - t0;
        for (int r = 0; cli_mpi_all_ok(&mpi, replicas_ok(reps, nrep)) && r < o.runs; r++) {
            cli_mpi_barrier(&mpi);
            t0 = cli_now_ms();
            cli_parallel(nrep, run_replica, &job);
            times[r] = cli_mpi_max(&mpi, cli_now_ms() - t0); /* the slowest rank */
        }
        cli_parallel(nrep, read_replica, &job);
        if (!cli_mpi_all_ok(&mpi, replicas_status(reps, nrep) == CLF_OK))
            goto done;
        /* rank 0 gathers in place: its share is already at the start */
        if (mpi.active && !cli_mpi_gather(&mpi, out, counts, out)) {
            cli_error("MPI_Gatherv failed");
            goto done;
        }
    }
    double ms = cli_median(times, o.runs);
    if (mpi.rank > 0) { /* rank 0 reports */
        rc = CLI_OK;
        goto done;
    }
    if (o.output) {
        int64_t os[3] = {o.batch, o.seq, o.cfg.d_model};
        bool flat = o.input && nd == 2;
        char msg[1024];
        if (clf_npy_write(o.output, out, flat ? 2 : 3, flat ? os + 1 : os, msg, sizeof msg) !=
            CLF_OK) {
            cli_error("%s", msg);
            goto done;
        }
    }
    double max_abs = 0, rel = 0;
    if (o.check) {
        struct clf_encoder *we = reps[0].enc;
        if (!we && (o.weights ? clf_encoder_load(ctx, &o.cfg, o.weights, &ref_enc)
                              : clf_encoder_create_random(ctx, &o.cfg, o.seed, &ref_enc)) ==
                       CLF_OK)
            we = ref_enc;
        ref = malloc(n * sizeof *ref);
        rw = we ? ref_weights_read(we) : NULL;
        if (!ref || !rw || ref_encoder_forward(rw, o.batch, o.seq, host, NULL, ref) != 0) {
            cli_error("the CPU reference failed: %s", clf_ctx_last_error(ctx));
            goto done;
        }
        double num = 0, den = 0;
        for (size_t i = 0; i < n; i++) {
            double e = fabs((double)out[i] - ref[i]);
            max_abs = e > max_abs || isnan(e) ? e : max_abs;
            num += e * e;
            den += ref[i] * ref[i];
        }
        rel = den > 0 ? sqrt(num / den) : sqrt(num);
    }

    /* per-op times, memory and the trace: the first replica's graph */
    struct clf_graph *g = reps[0].g;
    struct profile_op ops[32];
    double dev_total = 0;
    int nops = g ? profile_ops(g, ops, 32, &dev_total) : 0;
    size_t planned = 0, naive = 0;
    bool have_mem = g && clf_graph_memory(g, &planned, &naive) == CLF_OK;
    if (o.trace && g && !profile_write_trace(g, o.trace)) {
        cli_error("cannot write the trace %s: %s", o.trace, strerror(errno));
        goto done;
    }
    double comm = 0;
    if (tp)
        clf_encoder_tp_comm_bytes(tp, &comm);
    const int ndev = grp ? clf_group_size(grp) : 1;
    const char *mode = o.tp && mpi.active ? "tensor-mpi"
                       : o.tp             ? "tensor"
                       : grp              ? "data"
                       : mpi.active       ? "mpi"
                                          : "none";
    struct clf_device_info info;
    clf_ctx_device_info(ctx, &info);
    double tokens = (double)(o.batch * o.seq);
    const char *act = o.cfg.act == CLF_ACT_RELU ? "relu"
                      : o.cfg.act == CLF_ACT_GELU ? "gelu" : "gelu-tanh";
    char attn[96], quant[256];
    clf_attention_variant_str(&o.cfg.attn, attn, sizeof attn);
    cli_layer_options_str(&o.cfg, quant, sizeof quant);
    if (o.json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "device", info.name);
        cJSON_AddStringToObject(r, "platform", info.platform_name);
        cJSON_AddStringToObject(r, "parallel", mode);
        cJSON *devs = cJSON_AddArrayToObject(r, "devices");
        for (int i = 0; i < ndev; i++) {
            struct clf_device_info di;
            clf_ctx_device_info(grp ? clf_group_ctx(grp, i) : ctx, &di);
            cJSON_AddItemToArray(devs, cJSON_CreateString(di.name));
        }
        cJSON_AddNumberToObject(r, "ranks", mpi.size);
        if (tp)
            cJSON_AddNumberToObject(r, "comm_bytes_per_layer", comm);
        if (tp && mpi.active)
            cJSON_AddNumberToObject(r, "mpi_bytes_per_layer", mpi_sent / (double)o.cfg.layers);
        cJSON *c = cJSON_AddObjectToObject(r, "config");
        cJSON_AddNumberToObject(c, "d_model", (double)o.cfg.d_model);
        cJSON_AddNumberToObject(c, "heads", (double)o.cfg.heads);
        cJSON_AddNumberToObject(c, "d_ff", (double)o.cfg.d_ff);
        cJSON_AddNumberToObject(c, "layers", (double)o.cfg.layers);
        cJSON_AddStringToObject(c, "activation", act);
        cJSON_AddBoolToObject(c, "norm_first", o.cfg.norm_first);
        cJSON_AddStringToObject(c, "attention", attn);
        cJSON_AddStringToObject(c, "options", quant);
        cJSON_AddNumberToObject(c, "batch", (double)o.batch);
        cJSON_AddNumberToObject(c, "seq", (double)o.seq);
        cJSON_AddStringToObject(c, "weights", o.weights ? o.weights : "random");
        cJSON_AddNumberToObject(r, "load_ms", load_ms);
        cJSON_AddNumberToObject(r, "first_run_ms", warm_ms);
        cJSON_AddNumberToObject(r, "ms", ms);
        cJSON_AddNumberToObject(r, "tokens_per_s", tokens / (ms / 1e3));
        cJSON_AddItemToObject(r, "ops", profile_json(ops, nops));
        if (have_mem) {
            cJSON_AddNumberToObject(r, "planned_bytes", (double)planned);
            cJSON_AddNumberToObject(r, "naive_bytes", (double)naive);
        }
        if (o.check) {
            cJSON_AddNumberToObject(r, "max_abs_error", max_abs);
            cJSON_AddNumberToObject(r, "rel_error", rel);
        }
        rc = cli_print_json(r);
    } else {
        printf("device   %s (%s)\n", info.name, info.platform_name);
        if (grp) {
            printf("devices  %d, %s parallel:", ndev, mode);
            for (int i = 0; i < ndev; i++) {
                struct clf_device_info di;
                clf_ctx_device_info(clf_group_ctx(grp, i), &di);
                printf("%s %s", i ? "," : "", di.name);
            }
            printf("\n");
        }
        if (mpi.active)
            printf("ranks    %d (MPI), %s; rank 0's device above\n", mpi.size,
                   tp ? "tensor parallel: every layer split over them"
                      : "the batch split over them");
        if (tp) {
            char b[32];
            printf("comm     %s per layer sent and received by each device (all-reduces, "
                   "through the host)\n",
                   cli_bytes((unsigned long long)comm, b, sizeof b));
            if (mpi.active)
                printf("         %s per layer sent by each rank over MPI (reduce-scatter + "
                       "all-gather)\n",
                       cli_bytes((unsigned long long)(mpi_sent / (double)o.cfg.layers), b,
                                 sizeof b));
        }
        printf("config   %lld layers, d_model %lld, %lld heads, d_ff %lld, %s, %s, attention %s, "
               "options %s, batch %lld, seq %lld, weights %s\n",
               (long long)o.cfg.layers, (long long)o.cfg.d_model, (long long)o.cfg.heads,
               (long long)o.cfg.d_ff, act, o.cfg.norm_first ? "pre-LN" : "post-LN", attn, quant,
               (long long)o.batch, (long long)o.seq, o.weights ? o.weights : "random");
        printf("time     %.2f ms (median of %d runs), %.0f tokens/s; first run %.1f ms, "
               "setup %.1f ms\n",
               ms, o.runs, tokens / (ms / 1e3), warm_ms, load_ms);
        if (have_mem) {
            char b1[32], b2[32];
            printf("memory   intermediates planned %s, %s with a buffer each%s\n",
                   cli_bytes((unsigned long long)planned, b1, sizeof b1),
                   cli_bytes((unsigned long long)naive, b2, sizeof b2),
                   nrep > 1 || mpi.size > 1 ? " (the first device's)" : "");
        }
        if (nops && o.profile) {
            printf("profile  device time of the last run, by op%s:\n",
                   nrep > 1 || mpi.size > 1 ? " (the first device's)" : "");
            profile_print(ops, nops, dev_total);
        } else if (nops) {
            printf("ops      device time of the last run, by op%s:\n",
                   nrep > 1 || mpi.size > 1 ? " (the first device's)" : "");
            for (int i = 0; i < nops; i++)
                printf("  %-12s %4d x %9.3f ms  %5.1f%%\n", ops[i].name, ops[i].count, ops[i].ms,
                       dev_total > 0 ? 100 * ops[i].ms / dev_total : 0.0);
        } else if (o.profile) {
            printf("profile  no per-node times (profiling off, or replayed)\n");
        }
        if (o.check)
            printf("check    max abs error %.3e, relative error %.3e (against double precision%s)\n",
                   max_abs, rel,
                   strcmp(quant, "none") || o.cfg.attn.sparsity != CLF_ATTN_EXACT
                       ? ", exact attention, no quantisation: the approximation's error"
                       : "");
        rc = CLI_OK;
    }
done:
    ref_weights_free(rw);
    for (int i = 0; reps && i < nrep; i++) {
        clf_graph_destroy(reps[i].g);
        clf_tensor_destroy(reps[i].x);
        clf_encoder_destroy(reps[i].enc);
    }
    free(reps);
    free(counts);
    free(times);
    clf_encoder_destroy(ref_enc);
    clf_encoder_tp_destroy(tp);
    if (grp)
        clf_group_destroy(grp);
    else
        clf_ctx_destroy(ctx);
    free(host);
    free(out);
    free(ref);
    cli_mpi_end(&mpi);
    return rc;
}
