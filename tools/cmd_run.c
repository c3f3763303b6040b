/*
 * `clformer run`: the main job. Runs the encoder stack forward on the
 * selected device, with weights from a safetensors file or seeded random
 * ones, on an input from a .npy file or seeded random data; prints the
 * device, configuration, time, tokens/s and a per-op time summary.
 *
 * Several devices: --devices LIST splits the batch over a device group
 * (clf_dp_create: a replica of the weights on each, one thread each; data
 * parallelism), or with --tensor-parallel runs one clf_encoder_tp over the
 * group. Under mpirun (built with MPI) each rank is one rank of a
 * data-parallel runner (clf_dp_create_rank: its share of the batch on its
 * own device, the outputs gathered on rank 0 over MPI, tools/cli_mpi.h);
 * with --tensor-parallel each rank holds its share of every layer instead
 * (clf_encoder_tp_create_rank) and the ranks all-reduce over MPI. Without
 * either, the one device is a data-parallel rank of one.
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

/* --runs auto: timed runs for about RUNS_AUTO_MS, at most RUNS_AUTO_MAX. */
#define RUNS_AUTO_MS 200.0
#define RUNS_AUTO_MAX 1000

struct run_opts {
    const char *device, *weights, *input, *output;
    int64_t seq, batch;
    struct clf_encoder_config cfg;
    uint64_t seed;
    int runs;          /* --runs N; 0: auto */
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
           "                         int8:channel (per sequence and channel); ,q after\n"
           "                         an int8 one: the queries in int8 too (integer scores)\n"
           "      --attn-quant F     attention weights: f32 (default), f16, log:B\n"
           "      --linear F         linear layers: f32 (default), int8 (per-channel\n"
           "                         weights, per-token activations)\n"
           "      --precision P      linear layers' weights in their GEMMs: f32\n"
           "                         (default), f16, bf16 (rounded once, computed in f32;\n"
           "                         CPU devices)\n"
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
           "      --runs N|auto      timed runs after one warm-up; default auto: as many\n"
           "                         as fit in about 0.2 s, at least 1 (one run of the\n"
           "                         default job on a 2-core CPU; it used to be 3)\n"
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
        {"precision", required_argument, NULL, O_ENC},
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
            if (!strcmp(optarg, "auto"))
                o->runs = 0;
            else if (!cli_parse_int(optarg, 1, 100000, &v))
                rc = cli_usage_error("run", "--runs needs auto or an integer from 1 to 100000");
            else
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

/* What cmd_run builds, uses and frees. */
struct run_state {
    struct run_opts o;
    struct cli_mpi mpi;
    struct clf_ctx *ctx;       /* this rank's device (also without mpirun), or the group's first */
    struct clf_group *grp;     /* --devices */
    float *host, *out;         /* the input and the output [batch, seq, d] */
    int in_ndim;               /* the input's: 2 ([seq, d] from a file) or 3 */
    double *times;             /* [runs, or RUNS_AUTO_MAX] */
    int n_runs;                /* timed runs done */
    struct clf_dp *dp;         /* data parallel: over the group, or this rank (of one) */
    struct clf_encoder_tp *tp; /* --tensor-parallel */
    double context_ms;         /* the devices' contexts made */
    double load_ms, warm_ms, ms, mpi_sent;
    double max_abs, rel;       /* --check */
};

/* The devices: the group of --devices, else this rank's (or the only) one,
 * a context each. Under mpirun every rank agrees. */
static bool open_devices(struct run_state *s)
{
    const struct run_opts *o = &s->o;
    const bool quiet = o->json || s->mpi.rank > 0;
    struct clf_ctx_params p = cli_ctx_params(o->device, quiet);
    p.queues = o->queues;
    if (o->profile || o->trace) /* per-node times need direct runs */
        p.command_buffers = false;
    char spec[256], msg[512];
    bool ok = true;
    if (o->tp && !o->devices && !s->mpi.active) {
        cli_error("--tensor-parallel under mpirun needs clformer built with MPI (meson "
                  "option mpi)");
        return false;
    }
    if (o->devices) {
        if (clf_group_create(o->devices, &p, &s->grp, msg, sizeof msg) != CLF_OK)
            return !cli_error("--devices %s: %s", o->devices, msg);
        s->ctx = clf_group_ctx(s->grp, 0);
        return true;
    }
    if (s->mpi.active) {
        ok = cli_mpi_device(o->device, s->mpi.local_rank, spec, sizeof spec, msg, sizeof msg);
        p.device = spec;
    }
    if (!cli_mpi_all_ok(&s->mpi, ok && clf_ctx_create(&p, &s->ctx) == CLF_OK)) {
        if (!ok)
            cli_error("%s", msg);
        return false;
    }
    cli_hold_active(s->ctx);
    return true;
}

/* The input: [seq, d] or [batch, seq, d] from the file, else seeded; every
 * rank reads all of it, and the ranks check that they hold the same input,
 * seed and weights file. Also the output and the timings' room. */
static bool read_input(struct run_state *s)
{
    struct run_opts *o = &s->o;
    int64_t shape[CLF_MAX_DIMS];
    bool ok = true;
    s->in_ndim = 3;
    if (o->input) {
        ok = cli_read_activations(o->input, o->cfg.d_model, &s->host, &s->in_ndim, shape);
        if (ok) {
            o->batch = s->in_ndim == 3 ? shape[0] : 1;
            o->seq = shape[s->in_ndim - 2];
        }
    } else {
        size_t n = (size_t)(o->batch * o->seq * o->cfg.d_model);
        s->host = malloc(n * sizeof *s->host);
        if (s->host)
            cli_seeded_input(s->host, n, o->seed);
        else
            ok = !cli_error("out of memory");
    }
    const size_t n = (size_t)(o->batch * o->seq * o->cfg.d_model);
    s->out = ok ? malloc(n * sizeof *s->out) : NULL;
    s->times = calloc((size_t)(o->runs ? o->runs : RUNS_AUTO_MAX), sizeof *s->times);
    if (ok && (!s->out || !s->times))
        ok = !cli_error("out of memory");
    if (!cli_mpi_all_ok(&s->mpi, ok))
        return false;
    /* the ranks must hold the same input, seed and weights file (hashed
     * only under mpirun: seconds for a large input) */
    uint64_t h = 0;
    if (s->mpi.active)
        h = XXH3_64bits_withSeed(s->host, n * sizeof *s->host, o->seed);
    if (s->mpi.active && o->weights)
        h = XXH3_64bits_withSeed(o->weights, strlen(o->weights), h);
    if (!cli_mpi_same(&s->mpi, h)) {
        if (s->mpi.rank == 0)
            cli_error("the ranks have different inputs, seeds or weights files (files that "
                      "differ between nodes, or mpirun's MPMD form with other arguments)");
        return false;
    }
    return true;
}

/* Prints why the encoder failed (every rank: another rank's failure, at
 * least). */
static void rank_error(const struct run_state *s)
{
    if (s->mpi.active)
        cli_error("rank %d: %s", s->mpi.rank, clf_ctx_last_error(s->ctx));
    else
        cli_error("%s", clf_ctx_last_error(s->ctx));
}

/* The encoder: tensor parallel (a group's, or this rank's share of one over
 * the MPI ranks), else data parallel (a replica per group member, or this
 * rank's: the only one without mpirun), its quantisers calibrated on the
 * whole batch, --save written. Every rank agrees. */
static bool build(struct run_state *s)
{
    const struct run_opts *o = &s->o;
    double t0 = cli_now_ms();
    enum clf_status st;
    if (o->tp) {
        const struct clf_tp_comm comm = {s->mpi.rank, s->mpi.size, cli_mpi_allreduce_sum, &s->mpi};
        st = s->grp ? clf_encoder_tp_create(s->grp, &o->cfg, o->weights, o->seed, &s->tp)
                    : clf_encoder_tp_create_rank(s->ctx, &o->cfg, o->weights, o->seed, &comm,
                                                 &s->tp);
    } else {
        const struct clf_dp_comm comm = {s->mpi.rank, s->mpi.size, cli_mpi_dp_gather, &s->mpi};
        st = s->grp ? clf_dp_create(s->grp, &o->cfg, o->weights, o->seed, &s->dp)
                    : clf_dp_create_rank(s->ctx, &o->cfg, o->weights, o->seed, &comm, &s->dp);
        /* the FFN activation quantisers' free parameters: calibrated on the
         * whole batch by every replica, as one device would */
        if (st == CLF_OK && o->cfg.ffn_act.kind != CLF_ACTQ_NONE)
            st = clf_dp_calibrate(s->dp, s->host, o->batch, o->seq, NULL);
        if (st == CLF_OK && o->save && s->mpi.rank == 0) /* the replicas' weights are the same */
            st = clf_encoder_save(clf_dp_encoder(s->dp, 0), o->save);
    }
    s->load_ms = cli_now_ms() - t0;
    if (st != CLF_OK) {
        rank_error(s);
        if (s->mpi.rank == 0)
            cli_model_folder_hint(o->weights);
    }
    return cli_mpi_all_ok(&s->mpi, st == CLF_OK);
}

/* One forward of the whole batch into s->out (under mpirun every rank
 * runs it: the all-reduces or the gather inside). */
static enum clf_status forward(struct run_state *s)
{
    const struct run_opts *o = &s->o;
    return s->tp ? clf_encoder_tp_forward(s->tp, s->host, o->batch, o->seq, NULL, s->out)
                 : clf_dp_forward(s->dp, s->host, o->batch, o->seq, NULL, s->out);
}

/* The warm-up (kernel builds, tuning, weight packing, recording) and the
 * timed runs, each the slowest rank's time; under mpirun rank 0 then holds
 * the whole output. */
static bool time_runs(struct run_state *s)
{
    const struct run_opts *o = &s->o;
    double t0 = cli_now_ms();
    enum clf_status st = forward(s);
    s->warm_ms = cli_now_ms() - t0;
    /* the ranks agree before each run: a rank may fail after a forward's
     * last exchange (tensor parallel: its closing LayerNorm) */
    /* --runs auto: stop before the next run (taken to last as long as the
     * latest) would take the timed runs past RUNS_AUTO_MS; the times are
     * the slowest rank's, so every rank stops after the same run */
    const int most = o->runs ? o->runs : RUNS_AUTO_MAX;
    double total = 0;
    s->n_runs = 0;
    while (cli_mpi_all_ok(&s->mpi, st == CLF_OK) && s->n_runs < most) {
        cli_mpi_barrier(&s->mpi);
        s->mpi.sent = 0;
        t0 = cli_now_ms();
        st = forward(s);
        double t = cli_mpi_max(&s->mpi, cli_now_ms() - t0); /* the slowest rank */
        s->times[s->n_runs++] = t;
        s->mpi_sent = s->mpi.sent;
        total += t;
        if (!o->runs && total + t > RUNS_AUTO_MS)
            break;
    }
    if (st != CLF_OK) /* every rank says why (another rank's failure, at least) */
        rank_error(s);
    if (!cli_mpi_all_ok(&s->mpi, st == CLF_OK))
        return false;
    s->ms = cli_median(s->times, s->n_runs);
    return true;
}

/* --output: the output as .npy, in the input's rank. */
static bool write_output(const struct run_state *s)
{
    const struct run_opts *o = &s->o;
    int64_t os[3] = {o->batch, o->seq, o->cfg.d_model};
    bool flat = o->input && s->in_ndim == 2;
    char msg[1024];
    if (!o->output || clf_npy_write(o->output, s->out, flat ? 2 : 3, flat ? os + 1 : os, msg,
                                    sizeof msg) == CLF_OK)
        return true;
    return !cli_error("%s", msg);
}

/* --check: the output against the double-precision CPU reference with the
 * same weights (the first replica's; loaded again for tensor parallelism). */
static bool check(struct run_state *s)
{
    const struct run_opts *o = &s->o;
    const size_t n = (size_t)(o->batch * o->seq * o->cfg.d_model);
    struct clf_encoder *ref_enc = NULL, *we = s->dp ? clf_dp_encoder(s->dp, 0) : NULL;
    if (!we && (o->weights ? clf_encoder_load(s->ctx, &o->cfg, o->weights, &ref_enc)
                           : clf_encoder_create_random(s->ctx, &o->cfg, o->seed, &ref_enc)) ==
                   CLF_OK)
        we = ref_enc;
    double *ref = malloc(n * sizeof *ref);
    struct ref_weights *rw = we ? ref_weights_read(we) : NULL;
    bool ok = ref && rw && ref_encoder_forward(rw, o->batch, o->seq, s->host, NULL, ref) == 0;
    if (!ok)
        cli_error("the CPU reference failed: %s", clf_ctx_last_error(s->ctx));
    double num = 0, den = 0;
    for (size_t i = 0; ok && i < n; i++) {
        double e = fabs((double)s->out[i] - ref[i]);
        s->max_abs = e > s->max_abs || isnan(e) ? e : s->max_abs;
        num += e * e;
        den += ref[i] * ref[i];
    }
    s->rel = den > 0 ? sqrt(num / den) : sqrt(num);
    ref_weights_free(rw);
    clf_encoder_destroy(ref_enc);
    free(ref);
    return ok;
}

/* What the report shows besides the timings. */
struct run_report {
    struct clf_graph *g; /* the first replica's graph: per-op times, memory */
    struct profile_op ops[32];
    int nops;
    double dev_total;
    size_t planned, naive;
    bool have_mem;
    double comm; /* tensor parallel: bytes per layer and device */
    int ndev;
    const char *mode, *act;
    char attn[96], quant[256];
    bool several; /* the per-op figures are the first device's of several */
};

static void gather_report(const struct run_state *s, struct run_report *r)
{
    const struct run_opts *o = &s->o;
    r->g = s->dp ? clf_dp_graph(s->dp, 0) : NULL;
    r->nops = r->g ? profile_ops(r->g, r->ops, 32, &r->dev_total) : 0;
    r->have_mem = r->g && clf_graph_memory(r->g, &r->planned, &r->naive) == CLF_OK;
    r->comm = 0;
    if (s->tp)
        clf_encoder_tp_comm_bytes(s->tp, &r->comm);
    r->ndev = s->grp ? clf_group_size(s->grp) : 1;
    r->mode = o->tp && s->mpi.active ? "tensor-mpi"
              : o->tp                ? "tensor"
              : s->grp               ? "data"
              : s->mpi.active        ? "mpi"
                                     : "none";
    r->act = o->cfg.act == CLF_ACT_RELU ? "relu" : o->cfg.act == CLF_ACT_GELU ? "gelu" : "gelu-tanh";
    clf_attention_variant_str(&o->cfg.attn, r->attn, sizeof r->attn);
    cli_layer_options_str(&o->cfg, r->quant, sizeof r->quant);
    r->several = (s->grp && !o->tp && r->ndev > 1) || s->mpi.size > 1;
}

static int report_json(const struct run_state *s, const struct run_report *rp)
{
    const struct run_opts *o = &s->o;
    struct clf_device_info info;
    clf_ctx_device_info(s->ctx, &info);
    const double tokens = (double)(o->batch * o->seq);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "device", info.name);
    cJSON_AddStringToObject(r, "platform", info.platform_name);
    cJSON_AddStringToObject(r, "parallel", rp->mode);
    cJSON *devs = cJSON_AddArrayToObject(r, "devices");
    for (int i = 0; i < rp->ndev; i++) {
        struct clf_device_info di;
        clf_ctx_device_info(s->grp ? clf_group_ctx(s->grp, i) : s->ctx, &di);
        cJSON_AddItemToArray(devs, cJSON_CreateString(di.name));
    }
    cJSON_AddNumberToObject(r, "ranks", s->mpi.size);
    if (s->tp)
        cJSON_AddNumberToObject(r, "comm_bytes_per_layer", rp->comm);
    if (s->tp && s->mpi.active)
        cJSON_AddNumberToObject(r, "mpi_bytes_per_layer", s->mpi_sent / (double)o->cfg.layers);
    cJSON *c = cJSON_AddObjectToObject(r, "config");
    cJSON_AddNumberToObject(c, "d_model", (double)o->cfg.d_model);
    cJSON_AddNumberToObject(c, "heads", (double)o->cfg.heads);
    cJSON_AddNumberToObject(c, "d_ff", (double)o->cfg.d_ff);
    cJSON_AddNumberToObject(c, "layers", (double)o->cfg.layers);
    cJSON_AddStringToObject(c, "activation", rp->act);
    cJSON_AddBoolToObject(c, "norm_first", o->cfg.norm_first);
    cJSON_AddStringToObject(c, "attention", rp->attn);
    cJSON_AddStringToObject(c, "options", rp->quant);
    cJSON_AddNumberToObject(c, "batch", (double)o->batch);
    cJSON_AddNumberToObject(c, "seq", (double)o->seq);
    cJSON_AddStringToObject(c, "weights", o->weights ? o->weights : "random");
    cJSON_AddNumberToObject(r, "context_ms", s->context_ms);
    cJSON_AddNumberToObject(r, "load_ms", s->load_ms);
    cJSON_AddNumberToObject(r, "first_run_ms", s->warm_ms);
    cJSON_AddNumberToObject(r, "runs", s->n_runs);
    cJSON_AddItemToObject(r, "startup", cli_startup_json(s->ctx));
    cJSON_AddNumberToObject(r, "ms", s->ms);
    cJSON_AddNumberToObject(r, "tokens_per_s", tokens / (s->ms / 1e3));
    cJSON_AddItemToObject(r, "ops", profile_json(rp->ops, rp->nops));
    if (rp->have_mem) {
        cJSON_AddNumberToObject(r, "planned_bytes", (double)rp->planned);
        cJSON_AddNumberToObject(r, "naive_bytes", (double)rp->naive);
    }
    if (o->check) {
        cJSON_AddNumberToObject(r, "max_abs_error", s->max_abs);
        cJSON_AddNumberToObject(r, "rel_error", s->rel);
    }
    return cli_print_json(r);
}

/* The devices, ranks and communication lines of the text report. */
static void print_parallel(const struct run_state *s, const struct run_report *rp)
{
    if (s->grp) {
        printf("devices  %d, %s parallel:", rp->ndev, rp->mode);
        for (int i = 0; i < rp->ndev; i++) {
            struct clf_device_info di;
            clf_ctx_device_info(clf_group_ctx(s->grp, i), &di);
            printf("%s %s", i ? "," : "", di.name);
        }
        printf("\n");
    }
    if (s->mpi.active)
        printf("ranks    %d (MPI), %s; rank 0's device above\n", s->mpi.size,
               s->tp ? "tensor parallel: every layer split over them"
                     : "the batch split over them");
    if (s->tp) {
        char b[32];
        printf("comm     %s per layer sent and received by each device (all-reduces, "
               "through the host)\n",
               cli_bytes((unsigned long long)rp->comm, b, sizeof b));
        if (s->mpi.active)
            printf("         %s per layer sent by each rank over MPI (reduce-scatter + "
                   "all-gather)\n",
                   cli_bytes((unsigned long long)(s->mpi_sent / (double)s->o.cfg.layers), b,
                             sizeof b));
    }
}

/* The memory, per-op and check lines of the text report. */
static void print_details(const struct run_state *s, const struct run_report *rp)
{
    const struct run_opts *o = &s->o;
    const char *first = rp->several ? " (the first device's)" : "";
    if (rp->have_mem) {
        char b1[32], b2[32];
        printf("memory   intermediates planned %s, %s with a buffer each%s\n",
               cli_bytes((unsigned long long)rp->planned, b1, sizeof b1),
               cli_bytes((unsigned long long)rp->naive, b2, sizeof b2), first);
    }
    if (rp->nops && o->profile) {
        printf("profile  device time of the last run, by op%s:\n", first);
        profile_print(rp->ops, rp->nops, rp->dev_total);
    } else if (rp->nops) {
        printf("ops      device time of the last run, by op%s:\n", first);
        for (int i = 0; i < rp->nops; i++)
            printf("  %-12s %4d x %9.3f ms  %5.1f%%\n", rp->ops[i].name, rp->ops[i].count,
                   rp->ops[i].ms, rp->dev_total > 0 ? 100 * rp->ops[i].ms / rp->dev_total : 0.0);
    } else if (o->profile) {
        printf("profile  no per-node times (profiling off, or replayed)\n");
    }
    if (o->check)
        printf("check    max abs error %.3e, relative error %.3e (against double precision%s)\n",
               s->max_abs, s->rel,
               strcmp(rp->quant, "none") || o->cfg.attn.sparsity != CLF_ATTN_EXACT
                   ? ", exact attention, no quantisation: the approximation's error"
                   : "");
}

static int report_text(const struct run_state *s, const struct run_report *rp)
{
    const struct run_opts *o = &s->o;
    struct clf_device_info info;
    clf_ctx_device_info(s->ctx, &info);
    const double tokens = (double)(o->batch * o->seq);
    printf("device   %s (%s)\n", info.name, info.platform_name);
    print_parallel(s, rp);
    printf("config   %lld layers, d_model %lld, %lld heads, d_ff %lld, %s, %s, attention %s, "
           "options %s, batch %lld, seq %lld, weights %s\n",
           (long long)o->cfg.layers, (long long)o->cfg.d_model, (long long)o->cfg.heads,
           (long long)o->cfg.d_ff, rp->act, o->cfg.norm_first ? "pre-LN" : "post-LN", rp->attn,
           rp->quant, (long long)o->batch, (long long)o->seq, o->weights ? o->weights : "random");
    printf("time     %.2f ms (median of %d runs), %.0f tokens/s; first run %.1f ms, "
           "setup %.1f ms\n",
           s->ms, s->n_runs, tokens / (s->ms / 1e3), s->warm_ms, s->load_ms);
    struct clf_ctx_stats st;
    if (clf_ctx_stats(s->ctx, &st) == CLF_OK)
        printf("startup  context %.1f ms; kernel programs %u built, %u loaded from the cache "
               "in %.1f ms; %u shape classes tuned%s\n",
               s->context_ms, st.programs_built, st.programs_loaded, st.build_ms, st.tuned,
               rp->several ? " (the first device's)" : "");
    print_details(s, rp);
    return CLI_OK;
}

/* Rank 0's report: --output, --check, --trace, then the figures. */
static int report(struct run_state *s)
{
    struct run_report rp;
    if (!write_output(s) || (s->o.check && !check(s)))
        return CLI_FAIL;
    gather_report(s, &rp);
    char msg[600];
    if (s->o.trace && rp.g && !profile_write_trace(rp.g, s->o.trace, msg, sizeof msg))
        return cli_error("cannot write the trace: %s", msg);
    return s->o.json ? report_json(s, &rp) : report_text(s, &rp);
}

static void free_state(struct run_state *s)
{
    clf_dp_destroy(s->dp);
    clf_encoder_tp_destroy(s->tp);
    if (s->grp)
        clf_group_destroy(s->grp);
    else
        clf_ctx_destroy(s->ctx);
    free(s->host);
    free(s->out);
    free(s->times);
}

int cmd_run(int argc, char **argv)
{
    struct run_state s = {0};
    struct run_opts *o = &s.o;
    o->cfg = clf_encoder_config_default();
    o->seq = 512;
    o->batch = 1;
    o->seed = 1;
    o->runs = 0; /* auto */
    int rc = parse(argc, argv, o);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    cli_mpi_begin(&s.mpi);
    rc = CLI_FAIL;
    double t0 = cli_now_ms();
    bool opened = open_devices(&s);
    s.context_ms = cli_now_ms() - t0;
    if (opened && read_input(&s) && build(&s) && time_runs(&s))
        rc = s.mpi.rank > 0 ? CLI_OK : report(&s); /* rank 0 reports */
    if (rc == CLI_OK)
        cli_save_binaries_later(s.ctx);
    free_state(&s);
    cli_mpi_end(&s.mpi);
    return rc;
}
