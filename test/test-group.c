/*
 * Device groups and the tensor-parallel encoder.
 *
 * main() sets POCL_DEVICES="pthread pthread" (unless already set) before
 * the first OpenCL call, so that PoCL shows two CPU devices and the N = 2
 * cases run on one machine; with POCL_DEVICES=pthread (one device), or
 * another platform with one device, the cases that need two say so and
 * pass without them.
 *
 * Group specs: "all", "P:D" and "type:N" lists, order kept; a device named
 * twice (the same item, or two spellings of it), an index out of range, an
 * empty item, an empty or NULL list are refused, with the devices listed.
 *
 * The tensor-parallel encoder against one device's clf_encoder_forward
 * (same weights: same seed, or the same file) on the group's first
 * context, post-LN and pre-LN, ReLU and GELU, with key padding, N = 1 and
 * N = every device. Bound (relative, Frobenius norm): test-encoder.c's
 * accounting, 8 stages per layer, each an fp32 dot product of length <=
 * Kmax = max(d_model, d_ff, seq) or a normalisation over one, condition
 * factor C = 8: one device is within 8·C·layers·γ(Kmax) of the exact
 * result. The tensor-parallel pass computes the same dot products split
 * into N partial sums (each shorter) then adds the N partials and the bias
 * and residual in another order (the all-reduce): each sum gets at most N
 * more roundings, γ(Kmax) + N·u <= γ(Kmax + N), so it is within
 * 8·C·layers·γ(Kmax + N) of the exact result, and the two within the sum
 * of both bounds of each other.
 *
 * Ranks in other processes (clf_encoder_tp_create_rank, a clf_tp_comm):
 * emulated by one thread per rank, each on its own member of the group,
 * meeting in an all-reduce over shared memory that adds in rank order. Its
 * results must equal the group's bit for bit on every rank (the same
 * kernels on the same devices, the same additions in the same order); an
 * exchange that fails at a random sub-layer, or a rank that fails before
 * its first one, makes every rank return (CLF_E_COMM, or the failed rank's
 * own status) instead of waiting, and the next forward is right again; so
 * does a rank's device failure (every enqueue of a forward failed in turn,
 * lib/runtime/fault.h, with one rank: the injection is process-wide).
 */
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/runtime/fault.h"

static char *cache_dir;
static struct clf_device_info *devs;
static size_t n_devs;

static struct clf_ctx_params group_params(void)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    if (!cache_dir)
        cache_dir = test_make_tmpdir("group-cache");
    p.cache_dir = cache_dir;
    return p;
}

/* Creates a group expecting `want`; returns it (NULL on an expected
 * failure), msg receives the message. */
static struct clf_group *group(const char *spec, enum clf_status want, char *msg, size_t size)
{
    struct clf_ctx_params p = group_params();
    struct clf_group *g = (struct clf_group *)1;
    enum clf_status st = clf_group_create(spec, &p, &g, msg, size);
    ck_assert_msg(st == want, "clf_group_create(\"%s\") returned %s, expected %s: %s",
                  spec ? spec : "(null)", clf_status_str(st), clf_status_str(want), msg);
    if (st != CLF_OK)
        ck_assert_ptr_null(g);
    return g;
}

/* Member i of g is device `dev` of the list. */
static void check_member(struct clf_group *g, int i, size_t dev)
{
    struct clf_device_info info;
    ck_assert_ptr_nonnull(clf_group_ctx(g, i));
    ck_assert_int_eq(clf_ctx_device_info(clf_group_ctx(g, i), &info), CLF_OK);
    ck_assert_int_eq(info.platform_index, devs[dev].platform_index);
    ck_assert_int_eq(info.device_index, devs[dev].device_index);
}

START_TEST(test_group_specs)
{
    char msg[2048], spec[128], first[32];
    struct clf_group *g = group("all", CLF_OK, msg, sizeof msg);
    ck_assert_int_eq(clf_group_size(g), (int)n_devs);
    for (size_t i = 0; i < n_devs; i++)
        check_member(g, (int)i, i);
    ck_assert_ptr_null(clf_group_ctx(g, (int)n_devs));
    ck_assert_ptr_null(clf_group_ctx(g, -1));
    clf_group_destroy(g);
    g = group("  ALL ", CLF_OK, msg, sizeof msg);
    ck_assert_int_eq(clf_group_size(g), (int)n_devs);
    clf_group_destroy(g);
    printf("group 'all': %zu device(s)\n", n_devs);

    /* one device by P:D and by type:0 (the same device: list[0] is the
     * first of its type) */
    snprintf(first, sizeof first, "%d:%d", devs[0].platform_index, devs[0].device_index);
    g = group(first, CLF_OK, msg, sizeof msg);
    ck_assert_int_eq(clf_group_size(g), 1);
    check_member(g, 0, 0);
    clf_group_destroy(g);

    /* two spellings of one device, the same item twice */
    snprintf(spec, sizeof spec, "%s, %s:0", first, clf_device_type_str(devs[0].type));
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);
    ck_assert_msg(strstr(msg, "twice") && strstr(msg, "devices: "), "message: %s", msg);
    printf("duplicate '%s': %s\n", spec, msg);
    snprintf(spec, sizeof spec, "%s,%s", first, first);
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);

    /* out of range, unknown: the device list in the message */
    group("cpu:99", CLF_E_DEVICE_SPEC, msg, sizeof msg);
    ck_assert_msg(strstr(msg, first), "message: %s", msg);
    snprintf(spec, sizeof spec, "%s,7:7", first);
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);
    printf("out of range '%s': %s\n", spec, msg);
    group("no-such-device-name", CLF_E_DEVICE_SPEC, msg, sizeof msg);

    /* empty items and lists */
    snprintf(spec, sizeof spec, "%s,,%s", first, first);
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);
    ck_assert_msg(strstr(msg, "empty item 2"), "message: %s", msg);
    snprintf(spec, sizeof spec, "%s,", first);
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);
    snprintf(spec, sizeof spec, " ,%s", first);
    group(spec, CLF_E_DEVICE_SPEC, msg, sizeof msg);
    group("", CLF_E_INVALID_ARG, msg, sizeof msg);
    group("  ", CLF_E_INVALID_ARG, msg, sizeof msg);
    group(NULL, CLF_E_INVALID_ARG, msg, sizeof msg);
    struct clf_ctx_params p = group_params();
    ck_assert_int_eq(clf_group_create("all", &p, NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    /* msg may be NULL, p too */
    ck_assert_int_eq(clf_group_create("cpu:99", &p, &g, NULL, 0), CLF_E_DEVICE_SPEC);
    ck_assert_int_eq(clf_group_size(NULL), 0);
    ck_assert_ptr_null(clf_group_ctx(NULL, 0));
    clf_group_destroy(NULL);

    if (n_devs < 2) {
        printf("one device: the two-device specs are not tried\n");
        return;
    }
    /* two devices by P:D, in either order */
    snprintf(spec, sizeof spec, "%d:%d,%d:%d", devs[1].platform_index, devs[1].device_index,
             devs[0].platform_index, devs[0].device_index);
    g = group(spec, CLF_OK, msg, sizeof msg);
    ck_assert_int_eq(clf_group_size(g), 2);
    check_member(g, 0, 1);
    check_member(g, 1, 0);
    clf_group_destroy(g);
    /* by type, when the first two devices share one (PoCL's two pthread devices) */
    if (devs[0].type == devs[1].type) {
        const char *t = clf_device_type_str(devs[0].type);
        snprintf(spec, sizeof spec, "%s:0,%s:1", t, t);
        g = group(spec, CLF_OK, msg, sizeof msg);
        ck_assert_int_eq(clf_group_size(g), 2);
        check_member(g, 0, 0);
        check_member(g, 1, 1);
        clf_group_destroy(NULL);
        clf_group_destroy(g);
        printf("group '%s': 2 devices\n", spec);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */

static double bound(const struct clf_encoder_config *c, int64_t seq, int n)
{
    double kmax = (double)c->d_model;
    kmax = (double)c->d_ff > kmax ? (double)c->d_ff : kmax;
    kmax = (double)seq > kmax ? (double)seq : kmax;
    return 8 * 8 * (double)c->layers * (test_gamma(kmax) + test_gamma(kmax + n));
}

static struct clf_encoder_config small_config(bool norm_first, enum clf_act act)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 48;
    c.heads = 4;
    c.d_ff = 80;
    c.layers = 2;
    c.norm_first = norm_first;
    c.act = act;
    return c;
}

/* Runs one device's forward on ctx (which holds enc). */
static float *reference(struct clf_ctx *ctx, struct clf_encoder *enc, const float *x,
                        int64_t batch, int64_t seq, const int32_t *pad)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    struct clf_tensor *tx = NULL, *tp = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    const int64_t xs[3] = {batch, seq, c.d_model}, ps[2] = {batch, seq};
    const size_t n = (size_t)(batch * seq * c.d_model);
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &tx));
    ck_assert_ok(ctx, clf_tensor_write(tx, x, n * sizeof *x));
    if (pad) {
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &tp));
        ck_assert_ok(ctx, clf_tensor_write(tp, pad, (size_t)(batch * seq) * sizeof *pad));
    }
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, tx, tp, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = malloc(n * sizeof *out);
    ck_assert_ok(ctx, clf_tensor_read(y, out, n * sizeof *out));
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    clf_tensor_destroy(tp);
    return out;
}

static struct clf_group *grp_all, *grp_one;

/* The group of every device (N = n_devs) or of the first one (N = 1). */
static struct clf_group *shared_group(bool all)
{
    char msg[1024], first[32];
    struct clf_group **g = all ? &grp_all : &grp_one;
    if (!*g) {
        snprintf(first, sizeof first, "%d:%d", devs[0].platform_index, devs[0].device_index);
        *g = group(all ? "all" : first, CLF_OK, msg, sizeof msg);
    }
    return *g;
}

/* x [batch, seq, d] uniform in ±1; with padding, batch b pads its last b
 * keys and the last batch (when batch > 1) all of them (test-encoder's). */
static float *make_input(int64_t batch, int64_t seq, int64_t d, bool padding, int32_t **pad)
{
    const size_t n = (size_t)(batch * seq * d);
    float *x = malloc(n * sizeof *x);
    test_fill_uniform(x, n, -1, 1);
    *pad = NULL;
    if (padding) {
        *pad = calloc((size_t)(batch * seq), sizeof **pad);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t j = 0; j < seq; j++)
                (*pad)[b * seq + j] = b == batch - 1 && batch > 1 ? 1 : j >= seq - b;
    }
    return x;
}

/* The tensor-parallel forward of tp on x equals one device's forward of
 * full (the same weights, on the group's first context) within bound();
 * runs twice (the graphs recorded once, replayed: bitwise the same) and
 * checks the communication counter. */
static void check_tp(struct clf_group *grp, struct clf_encoder *full, struct clf_encoder_tp *tp,
                     int64_t batch, int64_t seq, bool padding)
{
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    const struct clf_encoder_config c = clf_encoder_get_config(full);
    const int64_t d = c.d_model;
    const int n_ways = clf_group_size(grp);
    const size_t n = (size_t)(batch * seq * d);
    int32_t *pad = NULL;
    float *x = make_input(batch, seq, d, padding, &pad);
    float *ref = reference(ctx0, full, x, batch, seq, pad);
    float *y = malloc(n * sizeof *y), *y2 = malloc(n * sizeof *y2);
    for (size_t i = 0; i < n; i++)
        y[i] = y2[i] = NAN;
    ck_assert_ok(ctx0, clf_encoder_tp_forward(tp, x, batch, seq, pad, y));
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)y[i] - ref[i];
        num += e * e; /* NaN stays NaN and fails the comparison */
        den += (double)ref[i] * ref[i];
    }
    const double rel = sqrt(num / den), b = bound(&c, seq, n_ways);
    printf("tp N=%d, %lld layer(s) d %lld h %lld ff %lld %s %s, batch %lld seq %lld%s: rel "
           "difference to one device %.2e (bound %.2e)\n",
           n_ways, (long long)c.layers, (long long)d, (long long)c.heads, (long long)c.d_ff,
           c.norm_first ? "pre-LN" : "post-LN", c.act == CLF_ACT_RELU ? "relu" : "gelu",
           (long long)batch, (long long)seq, padding ? " padded" : "", rel, b);
    ck_assert_msg(rel <= b, "relative difference %g above the bound %g", rel, b);

    /* replayed graphs, same input: the same result bit for bit (fixed
     * reduction order on the host, deterministic kernels) */
    ck_assert_ok(ctx0, clf_encoder_tp_forward(tp, x, batch, seq, pad, y2));
    ck_assert_int_eq(memcmp(y, y2, n * sizeof *y), 0);

    /* per layer and device: 2 sub-layer inputs written + 2 partials read */
    double bytes = 0;
    ck_assert_ok(ctx0, clf_encoder_tp_comm_bytes(tp, &bytes));
    ck_assert_double_eq(bytes, 4.0 * (double)(batch * seq * d) * 4.0);
    free(x), free(pad), free(ref), free(y), free(y2);
}

/* Both group sizes (1, and every device when there are more) on cfg. */
static void check_config(const struct clf_encoder_config *c, int64_t batch, int64_t seq,
                         bool padding)
{
    for (int all = 0; all < 2; all++) {
        if (all && n_devs < 2) {
            printf("one device: N = 2 not tried\n");
            break;
        }
        struct clf_group *grp = shared_group(all);
        struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
        const uint64_t seed = test_rand_u64();
        struct clf_encoder *full = NULL;
        struct clf_encoder_tp *tp = NULL;
        ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, c, seed, &full));
        ck_assert_ok(ctx0, clf_encoder_tp_create(grp, c, NULL, seed, &tp));
        check_tp(grp, full, tp, batch, seq, padding);
        clf_encoder_tp_destroy(tp);
        clf_encoder_destroy(full);
    }
}

START_TEST(test_tp_post_ln)
{
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    check_config(&c, 3, 7, true);
}
END_TEST

START_TEST(test_tp_pre_ln)
{
    struct clf_encoder_config c = small_config(true, CLF_ACT_GELU);
    check_config(&c, 3, 7, true);
}
END_TEST

/* Weights from a safetensors file with a final LayerNorm (post-LN and
 * pre-LN), and a change of shape (graphs recorded again). */
START_TEST(test_tp_file)
{
    struct clf_group *grp = shared_group(n_devs >= 2);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    static const char *names[] = {"self_attn.in_proj_weight", "self_attn.in_proj_bias",
                                  "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                                  "linear1.weight", "linear1.bias", "linear2.weight",
                                  "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight",
                                  "norm2.bias"};
    for (int norm_first = 0; norm_first < 2; norm_first++) {
        struct clf_encoder_config c = small_config(norm_first, CLF_ACT_GELU_TANH);
        const int64_t d = c.d_model, f = c.d_ff;
        const int64_t shapes[12][2] = {{3 * d, d}, {3 * d, 0}, {d, d}, {d, 0}, {f, d}, {f, 0},
                                       {d, f},     {d, 0},     {d, 0}, {d, 0}, {d, 0}, {d, 0}};
        struct clf_encoder *src = NULL, *full = NULL;
        struct clf_encoder_tp *tp = NULL;
        ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, &c, test_rand_u64(), &src));
        const size_t ne = (size_t)(12 * c.layers + 2);
        struct clf_safetensors_entry *e = calloc(ne, sizeof *e);
        float **data = calloc(ne, sizeof *data);
        char (*nm)[96] = calloc(ne, sizeof *nm);
        for (int64_t l = 0; l < c.layers; l++)
            for (int w = 0; w < 12; w++) {
                size_t i = (size_t)(l * 12 + w), count = (size_t)(shapes[w][0] *
                                                                  (shapes[w][1] ? shapes[w][1] : 1));
                data[i] = malloc(count * sizeof **data);
                ck_assert_ok(ctx0, clf_encoder_read_weight(src, (int)l, names[w], data[i], count));
                snprintf(nm[i], sizeof nm[i], "layers.%lld.%s", (long long)l, names[w]);
                e[i] = (struct clf_safetensors_entry){nm[i], data[i], shapes[w][1] ? 2 : 1,
                                                      shapes[w]};
            }
        for (int k = 0; k < 2; k++) { /* the final norm: gamma 1 ± 0.5, beta ± 0.5 */
            size_t i = ne - 2 + (size_t)k;
            data[i] = malloc((size_t)d * sizeof **data);
            test_fill_uniform(data[i], (size_t)d, k ? -0.5 : 0.5, k ? 0.5 : 1.5);
            snprintf(nm[i], sizeof nm[i], "norm.%s", k ? "bias" : "weight");
            e[i] = (struct clf_safetensors_entry){nm[i], data[i], 1, shapes[3]};
        }
        char *dir = test_make_tmpdir("group-weights"), path[512];
        snprintf(path, sizeof path, "%s/w.safetensors", dir);
        test_write_safetensors(path, e, ne);
        ck_assert_ok(ctx0, clf_encoder_load(ctx0, &c, path, &full));
        ck_assert_ok(ctx0, clf_encoder_tp_create(grp, &c, path, 0, &tp));
        check_tp(grp, full, tp, 2, 9, false);
        check_tp(grp, full, tp, 1, 5, true); /* another shape: recorded again */
        check_tp(grp, full, tp, 2, 9, false);
        clf_encoder_tp_destroy(tp);
        clf_encoder_destroy(full);
        clf_encoder_destroy(src);
        for (size_t i = 0; i < ne; i++)
            free(data[i]);
        free(data), free(e), free(nm);
        test_remove_dir(dir);
        free(dir);
    }
}
END_TEST

START_TEST(test_tp_errors)
{
    struct clf_group *grp = shared_group(n_devs >= 2);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct clf_encoder_tp *tp = (struct clf_encoder_tp *)1;
    float x[48], y[48];
    double bytes;

    /* what it does not do */
    c.linear_int8 = true;
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_UNSUPPORTED);
    ck_assert_ptr_null(tp);
    c = small_config(false, CLF_ACT_RELU);
    c.attn.sparsity = CLF_ATTN_WINDOW;
    c.attn.window_left = c.attn.window_right = 2;
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_UNSUPPORTED);
    c = small_config(false, CLF_ACT_RELU);
    c.ffn.format = CLF_FFN_SVD;
    c.ffn.rank = 4;
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_UNSUPPORTED);

    /* NULL arguments, an invalid configuration (checked by the encoder) */
    c = small_config(false, CLF_ACT_RELU);
    ck_assert_int_eq(clf_encoder_tp_create(NULL, &c, NULL, 1, &tp), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_tp_create(grp, NULL, NULL, 1, &tp), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_tp_create(grp, &c, NULL, 1, NULL), CLF_E_INVALID_ARG);
    c.d_model = 50; /* heads 4 do not divide it */
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_INVALID_ARG);
    c = small_config(false, CLF_ACT_RELU);
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, "/nonexistent/w.safetensors", 1, &tp),
                     CLF_E_IO);
    ck_assert_int_eq(clf_encoder_tp_forward(NULL, x, 1, 1, NULL, y), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_tp_comm_bytes(NULL, &bytes), CLF_E_INVALID_ARG);
    clf_encoder_tp_destroy(NULL);

    /* forward's arguments; the counter before any forward */
    c.d_model = 48;
    c.layers = 1;
    ck_assert_ok(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp));
    ck_assert_status(ctx0, clf_encoder_tp_comm_bytes(tp, &bytes), CLF_E_STATE);
    ck_assert_status(ctx0, clf_encoder_tp_forward(tp, NULL, 1, 1, NULL, y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_encoder_tp_forward(tp, x, 0, 1, NULL, y), CLF_E_SHAPE);
    ck_assert_status(ctx0, clf_encoder_tp_forward(tp, x, 1, -1, NULL, y), CLF_E_SHAPE);
    test_fill_uniform(x, 48, -1, 1);
    ck_assert_ok(ctx0, clf_encoder_tp_forward(tp, x, 1, 1, NULL, y));
    for (int i = 0; i < 48; i++)
        ck_assert(isfinite(y[i]));
    clf_encoder_tp_destroy(tp);

    if (n_devs < 2) {
        printf("one device: divisibility by N = 2 not tried\n");
        return;
    }
    /* heads or d_ff not divisible by the group's size: named */
    c = small_config(false, CLF_ACT_RELU);
    c.heads = 3;
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx0), "heads (3)"), "%s", clf_ctx_last_error(ctx0));
    c = small_config(false, CLF_ACT_RELU);
    c.d_ff = 81;
    ck_assert_status(ctx0, clf_encoder_tp_create(grp, &c, NULL, 1, &tp), CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx0), "d_ff (81)"), "%s", clf_ctx_last_error(ctx0));
    printf("not divisible: %s\n", clf_ctx_last_error(ctx0));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* One rank per thread, an all-reduce over shared memory                    */
/* ------------------------------------------------------------------------ */

#define MAX_RANKS 4

struct world {
    int n;
    pthread_barrier_t barrier;
    float *buf[MAX_RANKS];
    size_t count[MAX_RANKS];
    bool ok[MAX_RANKS];
    int calls[MAX_RANKS]; /* all-reduces so far, per rank */
    int fail_at;          /* the call index whose exchange fails (-1: none) */
};

struct rank_arg {
    struct world *w;
    int rank;
    /* the forward to run */
    struct clf_encoder_tp *tp;
    const float *x;
    const int32_t *pad;
    int64_t batch, seq;
    float *y;
    enum clf_status st;
};

/* clf_tp_comm's all-reduce: each rank sums every element in rank order
 * into its own copy after the first barrier, and takes it after the second
 * (when nobody reads the partials any more). */
static bool world_allreduce(void *user, float *buf, size_t count, bool ok)
{
    struct rank_arg *a = user;
    struct world *w = a->w;
    const int r = a->rank, call = w->calls[r]++;
    w->buf[r] = buf, w->count[r] = count, w->ok[r] = ok;
    pthread_barrier_wait(&w->barrier);
    bool all = call != w->fail_at;
    for (int q = 0; q < w->n; q++)
        all = all && w->ok[q] && w->count[q] == count;
    float *sum = all ? malloc(count * sizeof *sum) : NULL;
    for (size_t i = 0; sum && i < count; i++) {
        float s = w->buf[0][i];
        for (int q = 1; q < w->n; q++)
            s += w->buf[q][i];
        sum[i] = s;
    }
    pthread_barrier_wait(&w->barrier);
    if (sum)
        memcpy(buf, sum, count * sizeof *buf);
    free(sum);
    return sum != NULL;
}

static void *rank_forward(void *arg)
{
    struct rank_arg *a = arg;
    a->st = clf_encoder_tp_forward(a->tp, a->x, a->batch, a->seq, a->pad, a->y);
    return NULL;
}

/* Runs every rank's forward at once (rank 0 in this thread). */
static void forward_ranks(struct rank_arg *a, int n)
{
    pthread_t th[MAX_RANKS];
    for (int r = 1; r < n; r++)
        ck_assert_int_eq(pthread_create(&th[r], NULL, rank_forward, &a[r]), 0);
    rank_forward(&a[0]);
    for (int r = 1; r < n; r++)
        pthread_join(th[r], NULL);
}

/* n ranks (1, and every device): the same bits as the group's encoder on
 * every rank, with padding and a change of shape; failures on the way. */
START_TEST(test_tp_ranks)
{
    for (int all = 0; all < 2; all++) {
        if (all && n_devs < 2) {
            printf("one device: ranks on two devices not tried\n");
            break;
        }
        struct clf_group *grp = shared_group(all);
        const int n = clf_group_size(grp);
        ck_assert_int_le(n, MAX_RANKS);
        struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
        struct clf_encoder_config c = small_config(all, all ? CLF_ACT_GELU : CLF_ACT_RELU);
        const uint64_t seed = test_rand_u64();
        struct clf_encoder_tp *gtp = NULL;
        ck_assert_ok(ctx0, clf_encoder_tp_create(grp, &c, NULL, seed, &gtp));
        struct world w = {.n = n, .fail_at = -1};
        ck_assert_int_eq(pthread_barrier_init(&w.barrier, NULL, (unsigned)n), 0);
        struct rank_arg a[MAX_RANKS];
        memset(a, 0, sizeof a);
        for (int r = 0; r < n; r++) {
            struct clf_ctx *ctx = clf_group_ctx(grp, r);
            const struct clf_tp_comm comm = {r, n, world_allreduce, &a[r]};
            a[r].w = &w, a[r].rank = r;
            ck_assert_ok(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, seed, &comm, &a[r].tp));
        }
        const int64_t shapes[3][2] = {{3, 7}, {1, 5}, {3, 7}};
        for (int k = 0; k < 3; k++) {
            const int64_t batch = shapes[k][0], seq = shapes[k][1];
            const size_t count = (size_t)(batch * seq * c.d_model);
            int32_t *pad = NULL;
            float *x = make_input(batch, seq, c.d_model, k != 1, &pad);
            float *want = malloc(count * sizeof *want);
            ck_assert_ok(ctx0, clf_encoder_tp_forward(gtp, x, batch, seq, pad, want));
            for (int r = 0; r < n; r++) {
                a[r].x = x, a[r].pad = pad, a[r].batch = batch, a[r].seq = seq;
                a[r].y = malloc(count * sizeof *a[r].y);
                for (size_t i = 0; i < count; i++)
                    a[r].y[i] = NAN;
            }
            forward_ranks(a, n);
            for (int r = 0; r < n; r++) {
                ck_assert_ok(clf_group_ctx(grp, r), a[r].st);
                ck_assert_msg(!memcmp(a[r].y, want, count * sizeof *want),
                              "rank %d of %d: not the group's result", r, n);
                double bytes = 0;
                ck_assert_ok(clf_group_ctx(grp, r), clf_encoder_tp_comm_bytes(a[r].tp, &bytes));
                ck_assert_double_eq(bytes, 4.0 * (double)count * 4.0);
            }
            printf("ranks N=%d, batch %lld seq %lld%s: every rank's output equals the "
                   "group's bit for bit\n",
                   n, (long long)batch, (long long)seq, pad ? " padded" : "");

            if (k == 0) {
                /* the exchange fails at a random sub-layer: every rank
                 * returns CLF_E_COMM, then runs right again */
                memset(w.calls, 0, sizeof w.calls);
                w.fail_at = (int)(test_rand_u64() % (uint64_t)(2 * c.layers));
                forward_ranks(a, n);
                for (int r = 0; r < n; r++) {
                    ck_assert_status(clf_group_ctx(grp, r), a[r].st, CLF_E_COMM);
                    ck_assert_int_eq(w.calls[r], w.fail_at + 1);
                }
                printf("exchange failed at sub-layer %d: %s\n", w.fail_at,
                       clf_ctx_last_error(ctx0));
                for (int r = 0; r < n; r++) {
                    double bytes;
                    ck_assert_int_eq(clf_encoder_tp_comm_bytes(a[r].tp, &bytes), CLF_E_STATE);
                }
                w.fail_at = -1;
                /* the last rank fails before its first sub-layer (no
                 * input): the others stop at the first all-reduce */
                a[n - 1].x = NULL;
                memset(w.calls, 0, sizeof w.calls);
                forward_ranks(a, n);
                a[n - 1].x = x;
                for (int r = 0; r < n; r++) {
                    ck_assert_status(clf_group_ctx(grp, r), a[r].st,
                                     r == n - 1 ? CLF_E_INVALID_ARG : CLF_E_COMM);
                    ck_assert_int_eq(w.calls[r], 1);
                }
                forward_ranks(a, n);
                for (int r = 0; r < n; r++) {
                    ck_assert_ok(clf_group_ctx(grp, r), a[r].st);
                    ck_assert_int_eq(memcmp(a[r].y, want, count * sizeof *want), 0);
                }
            }
            for (int r = 0; r < n; r++)
                free(a[r].y);
            free(x), free(pad), free(want);
        }
        for (int r = 0; r < n; r++)
            clf_encoder_tp_destroy(a[r].tp);
        clf_encoder_tp_destroy(gtp);
        pthread_barrier_destroy(&w.barrier);
    }
}
END_TEST

/* One rank (N = 1, so one thread: fault injection is not thread-safe):
 * every enqueue of a forward made to fail in turn. The rank returns its own
 * error, not CLF_E_COMM, having told the others (the all-reduce called
 * with ok false) unless it failed after the last all-reduce, in the
 * closing LayerNorm; and then runs right again. */
START_TEST(test_tp_rank_faults)
{
    struct clf_ctx *ctx = clf_group_ctx(shared_group(false), 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct world w = {.n = 1, .fail_at = -1};
    ck_assert_int_eq(pthread_barrier_init(&w.barrier, NULL, 1), 0);
    struct rank_arg a = {.w = &w, .rank = 0, .batch = 2, .seq = 5};
    const struct clf_tp_comm comm = {0, 1, world_allreduce, &a};
    ck_assert_ok(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, test_rand_u64(), &comm, &a.tp));
    const size_t count = (size_t)(a.batch * a.seq * c.d_model);
    int32_t *pad = NULL;
    float *x = make_input(a.batch, a.seq, c.d_model, true, &pad);
    float *want = malloc(count * sizeof *want);
    a.x = x, a.pad = pad, a.y = malloc(count * sizeof *a.y);
    ck_assert_ok(ctx, clf_encoder_tp_forward(a.tp, x, a.batch, a.seq, pad, want));
    clf_fault_count(true);
    ck_assert_ok(ctx, clf_encoder_tp_forward(a.tp, x, a.batch, a.seq, pad, a.y));
    const unsigned long calls = clf_fault_calls(CLF_FAULT_ENQUEUE);
    clf_fault_reset();
    ck_assert_uint_gt(calls, 0);
    int failed = 0, in_tail = 0;
    for (unsigned long k = 1; k <= calls; k++) {
        memset(w.calls, 0, sizeof w.calls);
        clf_fault_arm(CLF_FAULT_ENQUEUE, k, CL_OUT_OF_RESOURCES);
        const enum clf_status st = clf_encoder_tp_forward(a.tp, x, a.batch, a.seq, pad, a.y);
        ck_assert_msg(clf_fault_fired(CLF_FAULT_ENQUEUE), "enqueue %lu of %lu not reached", k,
                      calls);
        clf_fault_reset();
        if (st == CLF_OK) { /* worked around: the right result */
            ck_assert_int_eq(memcmp(a.y, want, count * sizeof *want), 0);
        } else {
            failed++;
            ck_assert_msg(st != CLF_E_COMM, "enqueue %lu: CLF_E_COMM for its own failure", k);
            ck_assert_msg(*clf_ctx_last_error(ctx), "enqueue %lu: no message", k);
            const bool tail = w.calls[0] == 2 * c.layers && w.ok[0];
            in_tail += tail;
            ck_assert_msg(tail || !w.ok[0], "enqueue %lu: the others were not told", k);
        }
        ck_assert_ok(ctx, clf_encoder_tp_forward(a.tp, x, a.batch, a.seq, pad, a.y));
        ck_assert_int_eq(memcmp(a.y, want, count * sizeof *want), 0);
    }
    printf("one rank: %lu enqueues failed in turn, %d forwards failed (%d after the last "
           "all-reduce), every later one right\n",
           calls, failed, in_tail);
    ck_assert_int_gt(failed, 0);
    clf_encoder_tp_destroy(a.tp);
    pthread_barrier_destroy(&w.barrier);
    free(x), free(pad), free(want), free(a.y);
}
END_TEST

/* Sliced from an existing encoder (on another context than the group's
 * first, when there are two): the same bits as made from the same seed. */
START_TEST(test_tp_from)
{
    struct clf_group *grp = shared_group(n_devs >= 2);
    const int n = clf_group_size(grp);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0), *other = clf_group_ctx(grp, n - 1);
    struct clf_encoder_config c = small_config(true, CLF_ACT_GELU);
    const uint64_t seed = test_rand_u64();
    struct clf_encoder *full = NULL;
    struct clf_encoder_tp *made = NULL, *from = NULL, *rank_from = NULL;
    ck_assert_ok(other, clf_encoder_create_random(other, &c, seed, &full));
    ck_assert_ok(ctx0, clf_encoder_tp_create(grp, &c, NULL, seed, &made));
    ck_assert_ok(ctx0, clf_encoder_tp_create_from(grp, full, &from));
    struct world w = {.n = 1, .fail_at = -1};
    ck_assert_int_eq(pthread_barrier_init(&w.barrier, NULL, 1), 0);
    struct rank_arg a = {.w = &w, .rank = 0};
    const struct clf_tp_comm comm = {0, 1, world_allreduce, &a};
    ck_assert_ok(ctx0, clf_encoder_tp_create_rank_from(ctx0, full, &comm, &rank_from));
    clf_encoder_destroy(full); /* only read while slicing */
    const int64_t batch = 2, seq = 6;
    const size_t count = (size_t)(batch * seq * c.d_model);
    int32_t *pad = NULL;
    float *x = make_input(batch, seq, c.d_model, true, &pad);
    float *y[3];
    struct clf_encoder_tp *tps[3] = {made, from, rank_from};
    for (int i = 0; i < 3; i++) {
        y[i] = malloc(count * sizeof *y[i]);
        ck_assert_ok(ctx0, clf_encoder_tp_forward(tps[i], x, batch, seq, pad, y[i]));
    }
    ck_assert_int_eq(memcmp(y[0], y[1], count * sizeof *y[0]), 0);
    if (n == 1) /* a group of one and one rank of one: the same slices */
        ck_assert_int_eq(memcmp(y[0], y[2], count * sizeof *y[0]), 0);
    printf("from an encoder, N=%d: the same bits as from its seed\n", n);

    /* errors: NULL arguments, what the tensor-parallel encoder refuses */
    struct clf_encoder_tp *tp = (struct clf_encoder_tp *)1;
    ck_assert_int_eq(clf_encoder_tp_create_from(NULL, NULL, &tp), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_encoder_tp_create_from(grp, NULL, &tp), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(tp);
    ck_assert_status(ctx0, clf_encoder_tp_create_rank_from(ctx0, NULL, &comm, &tp),
                     CLF_E_INVALID_ARG);
    c.kv = CLF_KV_INT8_TOKEN;
    ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, &c, seed, &full));
    ck_assert_status(ctx0, clf_encoder_tp_create_from(grp, full, &tp), CLF_E_UNSUPPORTED);
    ck_assert_status(ctx0, clf_encoder_tp_create_rank_from(ctx0, full, NULL, &tp),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_encoder_tp_create_rank_from(ctx0, full, &comm, &tp),
                     CLF_E_UNSUPPORTED);
    ck_assert_ptr_null(tp);
    clf_encoder_destroy(full);
    for (int i = 0; i < 3; i++) {
        clf_encoder_tp_destroy(tps[i]);
        free(y[i]);
    }
    pthread_barrier_destroy(&w.barrier);
    free(x), free(pad);
}
END_TEST

static bool never_called(void *user, float *buf, size_t count, bool ok)
{
    (void)user, (void)buf, (void)count, (void)ok;
    ck_abort_msg("all-reduce called by a creation");
    return false;
}

START_TEST(test_tp_rank_errors)
{
    struct clf_ctx *ctx = clf_group_ctx(shared_group(false), 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct clf_encoder_tp *tp = (struct clf_encoder_tp *)1;
    struct clf_tp_comm comm = {0, 2, never_called, NULL};
    ck_assert_int_eq(clf_encoder_tp_create_rank(NULL, &c, NULL, 1, &comm, &tp),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(tp);
    ck_assert_int_eq(clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, NULL, NULL, 1, &comm, &tp),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, 1, NULL, &tp),
                     CLF_E_INVALID_ARG);
    comm.allreduce = NULL;
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &tp),
                     CLF_E_INVALID_ARG);
    comm.allreduce = never_called;
    const int bad[][2] = {{2, 2}, {-1, 2}, {0, 0}, {0, -3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        comm.rank = bad[i][0], comm.size = bad[i][1];
        ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &tp),
                         CLF_E_INVALID_ARG);
        ck_assert_ptr_null(tp);
    }
    /* 3 ranks do not divide 4 heads nor d_ff 80 */
    comm.rank = 1, comm.size = 3;
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &tp),
                     CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "3 ranks") &&
                      strstr(clf_ctx_last_error(ctx), "heads (4)"),
                  "%s", clf_ctx_last_error(ctx));
    /* what the group refuses, a rank refuses */
    comm.size = 2;
    c.kv = CLF_KV_INT8_TOKEN;
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, NULL, 1, &comm, &tp),
                     CLF_E_UNSUPPORTED);
    c = small_config(false, CLF_ACT_RELU);
    ck_assert_status(ctx, clf_encoder_tp_create_rank(ctx, &c, "/nonexistent/w.safetensors", 1,
                                                      &comm, &tp),
                     CLF_E_IO);
    ck_assert_ptr_null(tp);
}
END_TEST

int main(void)
{
    /* two PoCL devices on one machine, read by PoCL at platform init */
    setenv("POCL_DEVICES", "pthread pthread", 0);
    test_require_device();
    test_seed();
    if (clf_devices_query(&devs, &n_devs) != CLF_OK) {
        printf("no OpenCL device: skipping\n");
        return TEST_SKIP;
    }
    printf("%zu device(s) (POCL_DEVICES=\"%s\")\n", n_devs, getenv("POCL_DEVICES"));
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("groups");
    tcase_add_test(tc, test_group_specs);
    suite_add_tcase(s, tc);
    tc = tcase_create("tensor-parallel");
    tcase_add_test(tc, test_tp_post_ln);
    tcase_add_test(tc, test_tp_pre_ln);
    tcase_add_test(tc, test_tp_file);
    tcase_add_test(tc, test_tp_errors);
    tcase_add_test(tc, test_tp_ranks);
    tcase_add_test(tc, test_tp_rank_errors);
    tcase_add_test(tc, test_tp_rank_faults);
    tcase_add_test(tc, test_tp_from);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    clf_group_destroy(grp_all);
    clf_group_destroy(grp_one);
    clf_devices_free(devs);
    if (cache_dir) {
        test_remove_dir(cache_dir);
        free(cache_dir);
    }
    return rc;
}
