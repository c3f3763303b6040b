/*
 * Device groups, the tensor-parallel encoder and the data-parallel runner.
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
 *
 * What a rank holds: its context's live device bytes (clf_ctx_stats) after
 * it is made, and their peak while it is made, for N = 1, 2, 4 (from a
 * seed and from a file) and per member of a group: at least its share's
 * bytes from the weight sizes, at most the buffer pool's rounding of them,
 * below the whole model's (which a rank that made the whole model first
 * would exceed).
 *
 * The data-parallel runner (clf_dp) against one device's forward of the
 * whole batch: 20 option sets (attention variants, quantisers, FFN
 * factorisations, calibrated activation quantisers) bit for bit but K/V
 * int8 per channel (its scales span a share's tokens: near, reported);
 * shapes changing, a member idle, weights from a file; ranks meeting in an
 * all-gather over shared memory equal the group bit for bit, and a failed
 * exchange, a failed rank or a device fault is returned on every rank.
 */
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/model/dp_internal.h"
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
    float *buf[MAX_RANKS];          /* each rank's all-reduce buffer, or gather output */
    size_t count[MAX_RANKS];        /* all-reduce: its floats */
    bool ok[MAX_RANKS];
    int calls[MAX_RANKS]; /* exchanges so far, per rank */
    int fail_at;          /* the call index whose exchange fails (-1: none) */
};

/* A rank of a tensor-parallel encoder (tp) or a data-parallel runner (dp). */
struct rank_arg {
    struct world *w;
    int rank;
    /* the forward to run */
    struct clf_encoder_tp *tp;
    struct clf_dp *dp;
    const float *x;
    const int32_t *pad;
    int64_t batch, seq;
    float *y;
    enum clf_status st;
    int layers, in_tail; /* test_tp_rank_faults */
};

/* The start of rank a's exchange: its buffer and ok published, the first
 * barrier; then whether every rank is ok and this call is not the one made
 * to fail (w->fail_at). */
static bool meet(struct rank_arg *a, float *buf, bool ok)
{
    struct world *w = a->w;
    const int r = a->rank, call = w->calls[r]++;
    w->buf[r] = buf, w->ok[r] = ok;
    pthread_barrier_wait(&w->barrier);
    bool all = call != w->fail_at;
    for (int q = 0; q < w->n; q++)
        all = all && w->ok[q];
    return all;
}

/* clf_tp_comm's all-reduce: each rank sums every element in rank order
 * into its own copy after the first barrier, and takes it after the second
 * (when nobody reads the partials any more). */
static bool world_allreduce(void *user, float *buf, size_t count, bool ok)
{
    struct rank_arg *a = user;
    struct world *w = a->w;
    w->count[a->rank] = count;
    bool all = meet(a, buf, ok);
    for (int q = 0; q < w->n; q++)
        all = all && w->count[q] == count;
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

/* clf_dp_comm's gather as an all-gather: after the first barrier each
 * rank copies the others' blocks into its own y (each reads only the
 * others' own blocks, which nobody writes), then meets them again. */
static bool world_gather(void *user, float *y, const size_t *counts, bool ok)
{
    struct rank_arg *a = user;
    struct world *w = a->w;
    const bool all = meet(a, y, ok);
    size_t at = 0;
    for (int q = 0; all && q < w->n; q++) {
        if (q != a->rank)
            memcpy(y + at, w->buf[q] + at, counts[q] * sizeof *y);
        at += counts[q];
    }
    pthread_barrier_wait(&w->barrier);
    return all;
}

static void *rank_forward(void *arg)
{
    struct rank_arg *a = arg;
    a->st = a->dp ? clf_dp_forward(a->dp, a->x, a->batch, a->seq, a->pad, a->y)
                  : clf_encoder_tp_forward(a->tp, a->x, a->batch, a->seq, a->pad, a->y);
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

/* Whether rank a (alone) told the others of its failed forward: a data-
 * parallel rank calls the gather once with ok false; a tensor-parallel
 * one calls the all-reduce with ok false, unless it failed after the last
 * one (its closing LayerNorm: counted in a->in_tail). */
static bool told_others(struct rank_arg *a)
{
    if (a->dp)
        return a->w->calls[0] == 1 && !a->w->ok[0];
    const bool tail = a->w->calls[0] == 2 * a->layers && a->w->ok[0];
    a->in_tail += tail;
    return tail || !a->w->ok[0];
}

/* One rank (N = 1, one thread: fault injection is process-wide), every
 * enqueue of a forward made to fail in turn: each time the forward gives
 * the right result (want, count floats), or fails with its own status
 * (not CLF_E_COMM) and a message, having told the others; the next forward
 * is right again. Returns how many failed; *calls the enqueues. */
static int fail_every_enqueue(struct clf_ctx *ctx, struct rank_arg *a, const float *want,
                              size_t count, unsigned long *calls)
{
    clf_fault_count(true);
    rank_forward(a);
    ck_assert_ok(ctx, a->st);
    *calls = clf_fault_calls(CLF_FAULT_ENQUEUE);
    clf_fault_reset();
    ck_assert_uint_gt(*calls, 0);
    int failed = 0;
    for (unsigned long k = 1; k <= *calls; k++) {
        memset(a->w->calls, 0, sizeof a->w->calls);
        clf_fault_arm(CLF_FAULT_ENQUEUE, k, CL_OUT_OF_RESOURCES);
        rank_forward(a);
        ck_assert_msg(clf_fault_fired(CLF_FAULT_ENQUEUE), "enqueue %lu of %lu not reached", k,
                      *calls);
        clf_fault_reset();
        if (a->st == CLF_OK) { /* worked around: the right result */
            ck_assert_int_eq(memcmp(a->y, want, count * sizeof *want), 0);
        } else {
            failed++;
            ck_assert_msg(a->st != CLF_E_COMM, "enqueue %lu: CLF_E_COMM for its own failure", k);
            ck_assert_msg(*clf_ctx_last_error(ctx), "enqueue %lu: no message", k);
            ck_assert_msg(told_others(a), "enqueue %lu: the others were not told", k);
        }
        rank_forward(a);
        ck_assert_ok(ctx, a->st);
        ck_assert_int_eq(memcmp(a->y, want, count * sizeof *want), 0);
    }
    ck_assert_int_gt(failed, 0);
    return failed;
}

/* n ranks on the first n members of grp (rank r on member r), meeting in
 * w (its barrier made here): data-parallel runners (dp) or tensor-parallel
 * encoders of configuration c with seed's weights, in a[0..n). */
static void make_ranks(struct clf_group *grp, int n, struct world *w, struct rank_arg *a,
                       const struct clf_encoder_config *c, uint64_t seed, bool dp)
{
    ck_assert_int_le(n, MAX_RANKS);
    *w = (struct world){.n = n, .fail_at = -1};
    ck_assert_int_eq(pthread_barrier_init(&w->barrier, NULL, (unsigned)n), 0);
    memset(a, 0, (size_t)n * sizeof *a);
    for (int r = 0; r < n; r++) {
        struct clf_ctx *ctx = clf_group_ctx(grp, r);
        const struct clf_tp_comm tc = {r, n, world_allreduce, &a[r]};
        const struct clf_dp_comm dc = {r, n, world_gather, &a[r]};
        a[r].w = w, a[r].rank = r, a[r].layers = (int)c->layers;
        if (dp)
            ck_assert_ok(ctx, clf_dp_create_rank(ctx, c, NULL, seed, &dc, &a[r].dp));
        else
            ck_assert_ok(ctx, clf_encoder_tp_create_rank(ctx, c, NULL, seed, &tc, &a[r].tp));
    }
}

/* Gives every rank of a[0..n) (rank r on member r of grp) the input x
 * [batch, seq] with key padding pad and a new output of NaNs, runs their
 * forwards at once, and checks that each gives want (count floats) bit
 * for bit. */
static void ranks_give(struct rank_arg *a, int n, struct clf_group *grp, const float *x,
                       const int32_t *pad, int64_t batch, int64_t seq, const float *want,
                       size_t count)
{
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
    }
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
        struct world w;
        struct rank_arg a[MAX_RANKS];
        make_ranks(grp, n, &w, a, &c, seed, false);
        const int64_t shapes[3][2] = {{3, 7}, {1, 5}, {3, 7}};
        for (int k = 0; k < 3; k++) {
            const int64_t batch = shapes[k][0], seq = shapes[k][1];
            const size_t count = (size_t)(batch * seq * c.d_model);
            int32_t *pad = NULL;
            float *x = make_input(batch, seq, c.d_model, k != 1, &pad);
            float *want = malloc(count * sizeof *want);
            ck_assert_ok(ctx0, clf_encoder_tp_forward(gtp, x, batch, seq, pad, want));
            ranks_give(a, n, grp, x, pad, batch, seq, want, count);
            for (int r = 0; r < n; r++) {
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
/* What test_tp_rank_faults and test_dp_rank_faults share: one rank of
 * one, tensor parallel (gather NULL) or data parallel, through
 * fail_every_enqueue. */
static void rank_faults(bool dp)
{
    struct clf_group *one = shared_group(false);
    struct clf_ctx *ctx = clf_group_ctx(one, 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct world w;
    struct rank_arg a;
    make_ranks(one, 1, &w, &a, &c, test_rand_u64(), dp);
    a.batch = 2, a.seq = 5;
    const size_t count = (size_t)(a.batch * a.seq * c.d_model);
    int32_t *pad = NULL;
    float *x = make_input(a.batch, a.seq, c.d_model, true, &pad);
    float *want = malloc(count * sizeof *want);
    a.x = x, a.pad = pad, a.y = want;
    rank_forward(&a);
    ck_assert_ok(ctx, a.st);
    a.y = malloc(count * sizeof *a.y);
    unsigned long calls;
    const int failed = fail_every_enqueue(ctx, &a, want, count, &calls);
    printf("one %s rank: %lu enqueues failed in turn, %d forwards failed (%d after the last "
           "exchange), every later one right\n",
           dp ? "data-parallel" : "tensor-parallel", calls, failed, a.in_tail);
    clf_encoder_tp_destroy(a.tp);
    clf_dp_destroy(a.dp);
    pthread_barrier_destroy(&w.barrier);
    free(x), free(pad), free(want), free(a.y);
}

START_TEST(test_tp_rank_faults)
{
    rank_faults(false);
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

/* ------------------------------------------------------------------------ */
/* What a rank holds on its device                                          */
/* ------------------------------------------------------------------------ */

/* Creates with fn(arg) on ctx and checks what ctx holds after (held) and
 * at most during (peak) against rank r of n's weights: at least their
 * bytes, at most held_bound; for n > 1 also below the whole model's bytes
 * (full), which a rank that made the whole model first would exceed. */
static void check_rank_memory(struct clf_ctx *ctx, const struct clf_encoder_config *c, int n,
                              int r, bool norm, double full, const char *what,
                              struct clf_encoder_tp *(*fn)(void *arg), void *arg,
                              struct clf_encoder_tp **out)
{
    double live0, peak0, live, peak;
    clf_ctx_trim(ctx);
    test_device_bytes(ctx, &live0, &peak0);
    *out = fn(arg);
    test_device_bytes(ctx, &live, &peak);
    int tensors;
    const double want = test_tp_rank_bytes(c, n, r, norm, &tensors), b = test_pool_bound(want, tensors);
    printf("%s: rank %d of %d holds %.0f bytes (peak %.0f) of its weights' %.0f (bound %.0f; "
           "the whole model %.0f)\n",
           what, r, n, live - live0, peak - live0, want, b, full);
    ck_assert_msg(live - live0 >= want && live - live0 <= b, "held %.0f not in [%.0f, %.0f]",
                  live - live0, want, b);
    ck_assert_msg(peak - live0 <= b, "peak %.0f above %.0f", peak - live0, b);
    if (n > 1)
        ck_assert_msg(peak - live0 < full, "peak %.0f: the whole model (%.0f) was there",
                      peak - live0, full);
}

struct rank_make {
    struct clf_ctx *ctx;
    const struct clf_encoder_config *c;
    const char *path;
    uint64_t seed;
    struct clf_tp_comm comm;
};

static struct clf_encoder_tp *make_rank(void *arg)
{
    struct rank_make *m = arg;
    struct clf_encoder_tp *tp = NULL;
    ck_assert_ok(m->ctx, clf_encoder_tp_create_rank(m->ctx, m->c, m->path, m->seed, &m->comm, &tp));
    return tp;
}

/* A rank of N = 1, 2, 4 holds its share and the replicated parts only,
 * made from a seed and from a file, as measured by the
 * context's own accounting (clf_ctx_stats); and its forward is still the
 * group's (test_tp_ranks checks the bits). */
START_TEST(test_tp_rank_memory)
{
    struct clf_ctx *ctx = clf_group_ctx(shared_group(false), 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    c.d_model = 128, c.heads = 8, c.d_ff = 512;
    const uint64_t seed = test_rand_u64();
    int tensors;
    const double full = test_tp_rank_bytes(&c, 1, 0, false, &tensors);
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, seed, &enc));
    char *dir = test_make_tmpdir("group-rank-memory"), path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    ck_assert_ok(ctx, clf_encoder_save(enc, path));
    clf_encoder_destroy(enc);
    for (int n = 1; n <= 4; n *= 2)
        for (int r = 0; r < n; r += n > 1 ? n - 1 : 1) {
            struct rank_make m = {ctx, &c, NULL, seed, {r, n, never_called, NULL}};
            struct clf_encoder_tp *tp = NULL;
            check_rank_memory(ctx, &c, n, r, false, full, "seeded", make_rank, &m, &tp);
            clf_encoder_tp_destroy(tp);
            m.path = path;
            check_rank_memory(ctx, &c, n, r, false, full, "from a file", make_rank, &m, &tp);
            clf_encoder_tp_destroy(tp);
        }
    test_remove_dir(dir);
    free(dir);
}
END_TEST

struct group_make {
    struct clf_group *grp;
    const struct clf_encoder_config *c;
    uint64_t seed;
};

static struct clf_encoder_tp *make_group(void *arg)
{
    struct group_make *m = arg;
    struct clf_encoder_tp *tp = NULL;
    ck_assert_ok(clf_group_ctx(m->grp, 0), clf_encoder_tp_create(m->grp, m->c, NULL, m->seed, &tp));
    return tp;
}

/* The group's members: each holds its share (member 0 measured while the
 * group is made; the others after). */
START_TEST(test_tp_group_memory)
{
    if (n_devs < 2) {
        printf("one device: a group's memory per member not tried\n");
        return;
    }
    struct clf_group *grp = shared_group(true);
    const int n = clf_group_size(grp);
    struct clf_encoder_config c = small_config(true, CLF_ACT_GELU);
    c.d_model = 128, c.heads = 8, c.d_ff = 512;
    if (c.heads % n || c.d_ff % n) {
        printf("%d devices do not divide the heads: not tried\n", n);
        return;
    }
    int tensors;
    const double full = test_tp_rank_bytes(&c, 1, 0, false, &tensors);
    double live0[MAX_RANKS], peak0;
    ck_assert_int_le(n, MAX_RANKS);
    for (int r = 1; r < n; r++) {
        clf_ctx_trim(clf_group_ctx(grp, r));
        test_device_bytes(clf_group_ctx(grp, r), &live0[r], &peak0);
    }
    struct group_make m = {grp, &c, test_rand_u64()};
    struct clf_encoder_tp *tp = NULL;
    check_rank_memory(clf_group_ctx(grp, 0), &c, n, 0, false, full, "group", make_group, &m, &tp);
    for (int r = 1; r < n; r++) {
        double live, peak;
        test_device_bytes(clf_group_ctx(grp, r), &live, &peak);
        const double want = test_tp_rank_bytes(&c, n, r, false, &tensors), b = test_pool_bound(want, tensors);
        printf("group: member %d of %d holds %.0f bytes (peak %.0f; bound %.0f)\n", r, n,
               live - live0[r], peak - live0[r], b);
        ck_assert(live - live0[r] >= want && live - live0[r] <= b && peak - live0[r] <= b);
    }
    clf_encoder_tp_destroy(tp);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The data-parallel runner                                                 */
/* ------------------------------------------------------------------------ */

/* One option set of the encoder (small_config otherwise). */
struct dp_case {
    const char *name;
    const char *attn, *ffn, *ffn_act; /* --attn, --ffn, --ffn-act specs, or NULL */
    enum clf_kv_format kv;
    enum clf_p_format attn_p;
    enum clf_precision precision; /* CPU devices only */
    bool linear_int8, norm_first, gemm_impl;
    bool unpadded; /* the variant takes no key padding */
};

static const struct dp_case dp_cases[] = {
    {.name = "exact, post-LN"},
    {.name = "exact, pre-LN, GEMM attention", .norm_first = true, .gemm_impl = true},
    {.name = "threshold", .attn = "threshold:0.05"},
    {.name = "top-k", .attn = "topk:3"},
    {.name = "window", .attn = "window:4,global:1"},
    {.name = "Linformer", .attn = "linformer:4", .unpadded = true},
    {.name = "Nystrom", .attn = "nystrom:4,iters:6", .unpadded = true},
    {.name = "SVD attention", .attn = "svd:4"},
    {.name = "K/V int8 per token", .kv = CLF_KV_INT8_TOKEN},
    {.name = "K/V int8 per channel", .kv = CLF_KV_INT8_CHANNEL},
    {.name = "attention weights f16", .attn_p = CLF_P_F16},
    {.name = "attention weights log", .attn_p = CLF_P_LOG},
    {.name = "linear int8", .linear_int8 = true},
    {.name = "linear weights f16", .precision = CLF_PRECISION_F16},
    {.name = "linear weights bf16", .precision = CLF_PRECISION_BF16},
    {.name = "FFN SVD", .ffn = "svd:8"},
    {.name = "FFN RSVD", .ffn = "rsvd:8,seed:3"},
    {.name = "FFN TT", .ffn = "tt:4"},
    {.name = "FFN act binary", .ffn_act = "binary"},
    {.name = "FFN act binary, alpha given", .ffn_act = "binary:0.5"},
    {.name = "FFN act LSQ signed (calibrated)", .ffn_act = "lsq:4,signed"},
    {.name = "FFN act steps", .ffn_act = "steps:-0.2/0.3:-1/0/1"},
    {.name = "FFN act LSQ (calibrated)", .ffn_act = "lsq:4"},
    {.name = "FFN act PACT", .ffn_act = "pact:4"},
    {.name = "FFN act PWL (calibrated)", .ffn_act = "pwl:4"},
};

static struct clf_encoder_config dp_config(const struct dp_case *k)
{
    struct clf_encoder_config c = small_config(k->norm_first, CLF_ACT_GELU);
    char msg[256] = "";
    if (k->attn)
        ck_assert_msg(clf_attention_variant_parse(k->attn, &c.attn, msg, sizeof msg) == CLF_OK,
                      "%s", msg);
    if (k->ffn)
        ck_assert_msg(clf_ffn_factor_parse(k->ffn, &c.ffn, msg, sizeof msg) == CLF_OK, "%s", msg);
    if (k->ffn_act)
        ck_assert_msg(clf_actq_parse(k->ffn_act, &c.ffn_act, msg, sizeof msg) == CLF_OK, "%s",
                      msg);
    c.kv = k->kv;
    c.attn_p = k->attn_p;
    c.linear_int8 = k->linear_int8;
    c.precision = k->precision;
    c.attn_impl = k->gemm_impl ? CLF_ATTN_GEMM : CLF_ATTN_FUSED; /* see test_dp_options */
    return c;
}

/* One device's whole-batch result of enc (on ctx), calibrated first on the
 * batch itself when its quantisers need it. */
static float *one_device(struct clf_ctx *ctx, struct clf_encoder *enc, const float *x,
                         int64_t batch, int64_t seq, const int32_t *pad)
{
    struct clf_encoder_config c = clf_encoder_get_config(enc);
    struct clf_tensor *tx = NULL, *tp = NULL;
    const int64_t xs[3] = {batch, seq, c.d_model}, ps[2] = {batch, seq};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &tx));
    ck_assert_ok(ctx, clf_tensor_write(tx, x, (size_t)(batch * seq * c.d_model) * sizeof *x));
    if (pad) {
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &tp));
        ck_assert_ok(ctx, clf_tensor_write(tp, pad, (size_t)(batch * seq) * sizeof *pad));
    }
    ck_assert_ok(ctx, clf_encoder_calibrate(enc, tx, tp));
    clf_tensor_destroy(tx);
    clf_tensor_destroy(tp);
    return reference(ctx, enc, x, batch, seq, pad);
}

/* Relative Frobenius difference of a and b (n floats); NaN stays NaN. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* Every option set over the group (every device; batch 3 of 7 tokens,
 * padded but for Linformer: shares of 2 and 1 on two devices) against one
 * device's forward of the whole batch: the same bits for every option,
 * quantised ones included (each scale spans one token or one sequence;
 * calibration runs on the whole batch on every member). */
START_TEST(test_dp_options)
{
    struct clf_group *grp = shared_group(n_devs >= 2);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    const int64_t batch = 3, seq = 7;
    int32_t *padding = NULL;
    float *x = make_input(batch, seq, 48, true, &padding);
    const size_t n = (size_t)(batch * seq * 48);
    float *y = malloc(n * sizeof *y);
    struct clf_device_info info;
    ck_assert_ok(ctx0, clf_ctx_device_info(ctx0, &info));
    for (size_t k = 0; k < sizeof dp_cases / sizeof dp_cases[0]; k++) {
        const struct dp_case *dc = &dp_cases[k];
        if (dc->precision != CLF_PRECISION_F32 && info.type != CLF_DEVICE_CPU)
            continue;
        const int32_t *pad = dc->unpadded ? NULL : padding;
        struct clf_encoder_config c = dp_config(dc);
        const uint64_t seed = test_rand_u64();
        struct clf_encoder *enc = NULL;
        struct clf_dp *dp = NULL;
        ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, &c, seed, &enc));
        float *want = one_device(ctx0, enc, x, batch, seq, pad);
        ck_assert_ok(ctx0, clf_dp_create(grp, &c, NULL, seed, &dp));
        ck_assert_ok(ctx0, clf_dp_calibrate(dp, x, batch, seq, pad));
        for (size_t i = 0; i < n; i++)
            y[i] = NAN;
        ck_assert_ok(ctx0, clf_dp_forward(dp, x, batch, seq, pad, y));
        const bool same = !memcmp(y, want, n * sizeof *y);
        const double rel = rel_diff(y, want, n);
        printf("data parallel over %d, %-32s %s (relative difference %.2e)\n",
               clf_group_size(grp), dc->name, same ? "bit for bit one device's" : "differs",
               rel);
        ck_assert_msg(same, "%s: not one device's result (relative difference %g)", dc->name,
                      rel);
        clf_dp_destroy(dp);
        clf_encoder_destroy(enc);
        free(want);
    }
    free(x), free(padding), free(y);
}
END_TEST

/* Shapes over the group and over a group of one: a member idle (batch 1),
 * shapes changing (graphs recorded again), padding on and off, replays;
 * weights from a file; the accessors. */
START_TEST(test_dp_shapes)
{
    for (int all = 0; all < 2; all++) {
        if (all && n_devs < 2)
            break;
        struct clf_group *grp = shared_group(all);
        struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
        struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
        c.attn_impl = CLF_ATTN_FUSED; /* see test_dp_options */
        struct clf_encoder *enc = NULL;
        struct clf_dp *dp = NULL, *from_file = NULL;
        ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, &c, test_rand_u64(), &enc));
        char *dir = test_make_tmpdir("group-dp"), path[512];
        snprintf(path, sizeof path, "%s/w.safetensors", dir);
        ck_assert_ok(ctx0, clf_encoder_save(enc, path));
        ck_assert_ok(ctx0, clf_dp_create(grp, &c, path, 0, &dp));
        ck_assert_int_eq(clf_dp_members(dp), clf_group_size(grp));
        for (int i = 0; i < clf_dp_members(dp); i++) {
            ck_assert_ptr_nonnull(clf_dp_encoder(dp, i));
            ck_assert_ptr_null(clf_dp_graph(dp, i));
        }
        ck_assert_ptr_null(clf_dp_encoder(dp, -1));
        ck_assert_ptr_null(clf_dp_encoder(dp, clf_dp_members(dp)));
        ck_assert_ptr_null(clf_dp_graph(dp, clf_dp_members(dp)));
        /* a shape seen before runs the graph kept for it (each shape's
         * graph stays alive beside the others: no pointer is reused) */
        const int64_t shapes[][3] = {{3, 7, 1}, {1, 5, 0}, {4, 6, 1}, {4, 6, 1},
                                     {3, 7, 0}, {1, 5, 0}, {3, 7, 1}};
        const size_t n_shapes = sizeof shapes / sizeof shapes[0];
        struct clf_graph *kept[sizeof shapes / sizeof shapes[0]] = {0};
        for (size_t k = 0; k < n_shapes; k++) {
            const int64_t batch = shapes[k][0], seq = shapes[k][1];
            const size_t n = (size_t)(batch * seq * c.d_model);
            int32_t *pad = NULL;
            float *x = make_input(batch, seq, c.d_model, shapes[k][2], &pad);
            float *want = reference(ctx0, enc, x, batch, seq, pad), *y = malloc(n * sizeof *y);
            for (size_t i = 0; i < n; i++)
                y[i] = NAN;
            ck_assert_ok(ctx0, clf_dp_forward(dp, x, batch, seq, pad, y));
            ck_assert_msg(!memcmp(y, want, n * sizeof *y), "batch %lld seq %lld: not one device's",
                          (long long)batch, (long long)seq);
            kept[k] = clf_dp_graph(dp, 0);
            ck_assert_ptr_nonnull(kept[k]);
            for (size_t j = 0; j < k; j++) {
                const bool same = !memcmp(shapes[j], shapes[k], sizeof shapes[k]);
                ck_assert_msg((kept[j] == kept[k]) == same,
                              "shapes %zu and %zu: %s graph", j, k,
                              same ? "recorded again, not the kept" : "one");
            }
            printf("data parallel over %d, batch %lld seq %lld%s: one device's bits\n",
                   clf_group_size(grp), (long long)batch, (long long)seq, pad ? " padded" : "");
            free(x), free(pad), free(want), free(y);
        }
        clf_dp_destroy(dp);
        clf_encoder_destroy(enc);
        ck_assert_status(ctx0, clf_dp_create(grp, &c, "/nonexistent/w.safetensors", 0, &from_file),
                         CLF_E_IO);
        ck_assert_ptr_null(from_file);
        test_remove_dir(dir);
        free(dir);
    }
}
END_TEST

/* More shapes than a member keeps (64: lib/model/dp.c's DP_SHAPES): the
 * least recently run give way. Seq 1..64 fill the slots; seq 1 runs
 * again (kept: nothing recorded), so seq 65 must evict seq 2, the least
 * recently run, and not seq 1; seq 1 is then still kept and seq 2 is
 * recorded again. The member's recording count says which, where graph
 * addresses could not (a graph recorded anew may take a freed graph's
 * address). Every shape, evicted and recorded again or kept, still gives
 * one device's bits. */
START_TEST(test_dp_shape_eviction)
{
    struct clf_group *grp = shared_group(false);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    c.layers = 1;
    c.attn_impl = CLF_ATTN_FUSED;
    struct clf_encoder *enc = NULL;
    struct clf_dp *dp = NULL;
    ck_assert_ok(ctx0, clf_encoder_create_random(ctx0, &c, test_rand_u64(), &enc));
    char *dir = test_make_tmpdir("group-dp-evict"), path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    ck_assert_ok(ctx0, clf_encoder_save(enc, path));
    ck_assert_ok(ctx0, clf_dp_create(grp, &c, path, 0, &dp));
    /* after seq 1..64: the sequence run next and the recordings after it */
    const int64_t tail[][2] = {{1, 64}, {65, 65}, {1, 65}, {2, 66}, {65, 66}, {3, 67}};
    const int n_tail = (int)(sizeof tail / sizeof tail[0]);
    for (int k = 1; k <= 64 + n_tail; k++) {
        const int64_t seq = k <= 64 ? k : tail[k - 65][0];
        const size_t n = (size_t)(seq * c.d_model);
        int32_t *none = NULL;
        float *x = make_input(1, seq, c.d_model, false, &none);
        float *y = malloc(n * sizeof *y);
        ck_assert_ok(ctx0, clf_dp_forward(dp, x, 1, seq, NULL, y));
        const uint64_t want_rec = k <= 64 ? (uint64_t)k : (uint64_t)tail[k - 65][1];
        ck_assert_msg(clf_dp_recorded(dp, 0) == want_rec,
                      "run %d, seq %lld: %llu graphs recorded, want %llu (%s)", k,
                      (long long)seq, (unsigned long long)clf_dp_recorded(dp, 0),
                      (unsigned long long)want_rec,
                      k <= 64 ? "each new shape once" : "the least recently run evicted");
        if (k % 16 == 0 || k > 64) {
            float *want = reference(ctx0, enc, x, 1, seq, NULL);
            ck_assert_msg(!memcmp(y, want, n * sizeof *y), "run %d, seq %lld: not one device's",
                          k, (long long)seq);
            free(want);
        }
        free(x), free(y);
    }
    ck_assert_uint_eq(clf_dp_recorded(NULL, 0), 0);
    ck_assert_uint_eq(clf_dp_recorded(dp, clf_dp_members(dp)), 0);
    printf("%d runs of 67 shapes, the least recently run evicted: one device's bits\n",
           64 + n_tail);
    clf_dp_destroy(dp);
    clf_encoder_destroy(enc);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* NULL and wrong arguments, a member that cannot make its replica, the
 * other kind of runner's calls, and a forward that then runs. */
START_TEST(test_dp_errors)
{
    struct clf_dp *dp = (struct clf_dp *)1;
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct clf_group *grp = shared_group(n_devs >= 2);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    const int32_t ids[1] = {0}, mask[1] = {1};
    float x[48], y[48];
    ck_assert_int_eq(clf_dp_create(NULL, &c, NULL, 1, &dp), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(dp);
    ck_assert_int_eq(clf_dp_create(grp, &c, NULL, 1, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_dp_create(grp, NULL, NULL, 1, &dp), CLF_E_INVALID_ARG);
    c.d_model = 50; /* 4 heads do not divide it: each member refuses */
    ck_assert_status(ctx0, clf_dp_create(grp, &c, NULL, 1, &dp), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(dp);
    ck_assert_status(ctx0, clf_dp_create_bert(grp, NULL, NULL, &dp), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_dp_create_bert(grp, "/nonexistent", NULL, &dp), CLF_E_IO);
    ck_assert_int_eq(clf_dp_forward(NULL, x, 1, 1, NULL, y), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_dp_members(NULL), 0);
    ck_assert_ptr_null(clf_dp_encoder(NULL, 0));
    ck_assert_ptr_null(clf_dp_graph(NULL, 0));
    clf_dp_destroy(NULL);

    c = small_config(false, CLF_ACT_RELU);
    c.layers = 1;
    ck_assert_ok(ctx0, clf_dp_create(grp, &c, NULL, 1, &dp));
    ck_assert_status(ctx0, clf_dp_forward(dp, NULL, 1, 1, NULL, y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_dp_forward(dp, x, 1, 1, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_dp_forward(dp, x, 0, 1, NULL, y), CLF_E_SHAPE);
    ck_assert_status(ctx0, clf_dp_forward(dp, x, 1, -1, NULL, y), CLF_E_SHAPE);
    ck_assert_status(ctx0, clf_dp_calibrate(dp, NULL, 1, 1, NULL), CLF_E_INVALID_ARG);
    const struct clf_dp_batch b = {ids, mask, 1, 1};
    ck_assert_status(ctx0, clf_dp_embed(dp, &b, 1, y), CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx0), "clf_dp_forward"), "%s",
                  clf_ctx_last_error(ctx0));
    test_fill_uniform(x, 48, -1, 1);
    ck_assert_ok(ctx0, clf_dp_calibrate(dp, x, 1, 1, NULL)); /* nothing to calibrate */
    ck_assert_ok(ctx0, clf_dp_forward(dp, x, 1, 1, NULL, y));
    for (int i = 0; i < 48; i++)
        ck_assert(isfinite(y[i]));
    clf_dp_destroy(dp);
}
END_TEST

/* A rank per device (batch 5: uneven shares on two): every rank's
 * gathered output is the group runner's bit for bit; an exchange that
 * fails, or a rank that fails, makes every rank return. */
START_TEST(test_dp_ranks)
{
    struct clf_group *grp = shared_group(n_devs >= 2);
    const int nd = clf_group_size(grp);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    struct clf_encoder_config c = small_config(true, CLF_ACT_GELU);
    c.attn_impl = CLF_ATTN_FUSED; /* see test_dp_options */
    const uint64_t seed = test_rand_u64();
    struct clf_dp *gdp = NULL;
    ck_assert_ok(ctx0, clf_dp_create(grp, &c, NULL, seed, &gdp));
    {
        const int n = nd;
        struct world w;
        struct rank_arg a[MAX_RANKS];
        make_ranks(grp, n, &w, a, &c, seed, true);
        const int64_t batch = 5, seq = 6;
        const size_t count = (size_t)(batch * seq * c.d_model);
        int32_t *pad = NULL;
        float *x = make_input(batch, seq, c.d_model, true, &pad);
        float *want = malloc(count * sizeof *want);
        ck_assert_ok(ctx0, clf_dp_forward(gdp, x, batch, seq, pad, want));
        ranks_give(a, n, grp, x, pad, batch, seq, want, count);
        printf("data-parallel ranks N=%d, batch %lld: every rank's gathered output equals the "
               "group's bit for bit\n",
               n, (long long)batch);
        /* the exchange fails: every rank returns CLF_E_COMM */
        w.fail_at = w.calls[0];
        forward_ranks(a, n);
        for (int r = 0; r < n; r++)
            ck_assert_status(clf_group_ctx(grp, r), a[r].st, CLF_E_COMM);
        printf("gather failed: %s\n", clf_ctx_last_error(ctx0));
        /* the last rank fails (no input): it says so, the others return */
        w.fail_at = -1;
        a[n - 1].x = NULL;
        forward_ranks(a, n);
        a[n - 1].x = x;
        for (int r = 0; r < n; r++)
            ck_assert_status(clf_group_ctx(grp, r), a[r].st,
                             r == n - 1 ? CLF_E_INVALID_ARG : CLF_E_COMM);
        forward_ranks(a, n);
        for (int r = 0; r < n; r++) {
            ck_assert_ok(clf_group_ctx(grp, r), a[r].st);
            ck_assert_int_eq(memcmp(a[r].y, want, count * sizeof *want), 0);
            clf_dp_destroy(a[r].dp);
            free(a[r].y);
        }
        pthread_barrier_destroy(&w.barrier);
        free(x), free(pad), free(want);
    }
    clf_dp_destroy(gdp);
}
END_TEST

/* One rank (N = 1, one thread: fault injection is process-wide): every
 * enqueue of a forward made to fail in turn. The rank returns its own
 * error, not CLF_E_COMM, having told the others (the gather called with
 * ok false), and then runs right again. */
START_TEST(test_dp_rank_faults)
{
    rank_faults(true);
}
END_TEST

START_TEST(test_dp_rank_errors)
{
    struct clf_ctx *ctx = clf_group_ctx(shared_group(false), 0);
    struct clf_encoder_config c = small_config(false, CLF_ACT_RELU);
    struct clf_dp *dp = (struct clf_dp *)1;
    struct clf_dp_comm comm = {0, 2, NULL, NULL};
    ck_assert_int_eq(clf_dp_create_rank(NULL, &c, NULL, 1, &comm, &dp), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(dp);
    ck_assert_status(ctx, clf_dp_create_rank(ctx, &c, NULL, 1, &comm, &dp), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_create_rank(ctx, &c, NULL, 1, NULL, &dp), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_create_bert_rank(ctx, "/nonexistent", NULL, &comm, &dp),
                     CLF_E_INVALID_ARG);
    comm.gather = world_gather;
    const int bad[][2] = {{2, 2}, {-1, 2}, {0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        comm.rank = bad[i][0], comm.size = bad[i][1];
        ck_assert_status(ctx, clf_dp_create_rank(ctx, &c, NULL, 1, &comm, &dp),
                         CLF_E_INVALID_ARG);
        ck_assert_ptr_null(dp);
    }
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
    tcase_add_test(tc, test_tp_rank_memory);
    tcase_add_test(tc, test_tp_group_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("data-parallel");
    tcase_add_test(tc, test_dp_options);
    tcase_add_test(tc, test_dp_shapes);
    tcase_add_test(tc, test_dp_shape_eviction);
    tcase_add_test(tc, test_dp_errors);
    tcase_add_test(tc, test_dp_ranks);
    tcase_add_test(tc, test_dp_rank_faults);
    tcase_add_test(tc, test_dp_rank_errors);
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
