/*
 * Quantisation (lib/ops/quant.c, cl/quant.cl): clf_op_quantize and
 * clf_op_dequantize against a host reference applying the same rules, on
 * fresh random inputs (seed printed by test_seed), outputs poisoned first.
 *
 * The rules are exact, so the checks are: codes and zero points identical,
 * scales and dequantised values bitwise equal. The reference:
 *   correctly rounded scale a/b: (float)((double)a / b) — the quotient of
 *     two floats rounded to double then to float is correctly rounded
 *     (53 >= 2*24 + 2: double rounding is innocuous for division);
 *   rne(x/s): nearbyint((double)x / s) — x/s is within 2^-53 relative of the
 *     exact quotient, which for quotients below 2^23 in magnitude is never
 *     that close to a half-integer without being one (x - (k + 1/2) s is a
 *     multiple of 2^-25 ulp(max(|x|, s)) when not 0), so the decision is the
 *     exact quotient's; larger quotients are clamped;
 *   lg(y): frexpf and the fp32 constant of the spec;
 *   dequantised values: the one fp32 rounding of q * s done in float.
 * The only statistical checks are the quantisation errors of N(0,1) data
 * (test_error_model), with bounds explained there.
 *
 * The op has two kernel sets, chosen when recorded by the device type:
 * work-item kernels on CPU devices, work-group reductions elsewhere. The
 * tests run the device's own; test_group_variant runs the exact checks
 * again with the other set, forced by recording with the context's device
 * type changed (both must give bitwise the same results).
 *
 * clf_quantize_seq_columns (K and V int8 per sequence and channel):
 * against the same reference applied per column to each sequence's
 * unpadded rows alone (test_seq_columns).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/runtime/ctx.h" /* internal: device type, to force the work-group kernels */
#include "../lib/ops/quant.h"    /* internal: clf_quantize_seq_columns */

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */
/* ------------------------------------------------------------------------ */

/* A strided f32 input: t (host holds the storage), vals the logical values
 * (row-major). */
struct input {
    struct test_input t;
    float *vals;
    int64_t n, rows, cols;
};

/* A standard normal deviate (Box-Muller). */
static double normal(void)
{
    double u1 = 1.0 - test_rand_uniform(0, 1), u2 = test_rand_uniform(0, 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Makes an input of N(0,1) values times `mag`. */
static void input_make(struct input *in, int ndim, const int64_t *shape, enum test_layout lay,
                       double mag)
{
    test_input_make(&in->t, ndim, shape, lay);
    in->n = test_input_numel(&in->t);
    in->cols = shape[ndim - 1];
    in->rows = in->n / in->cols;
    in->vals = malloc((size_t)in->n * sizeof *in->vals);
    for (size_t i = 0; i < in->t.total; i++)
        in->t.host[i] = (float)(mag * normal());
}

/* Logical element i, for reading and changing. */
static float *at(struct input *in, int64_t i)
{
    return &in->t.host[test_input_elem(&in->t, i)];
}

/* Uploads the storage and refreshes vals (after the caller changed host). */
static void input_upload(struct input *in)
{
    test_input_upload(&in->t);
    for (int64_t i = 0; i < in->n; i++)
        in->vals[i] = *at(in, i);
}

static void input_free(struct input *in)
{
    test_input_free(&in->t);
    free(in->vals);
}

/* ------------------------------------------------------------------------ */
/* Reference                                                                */
/* ------------------------------------------------------------------------ */

static const char *scheme_name[3] = {"symmetric", "affine", "log"};
static const char *axis_name[3] = {"tensor", "row", "column"};

static int64_t groups_of(int64_t rows, int64_t cols, enum clf_quant_axis axis)
{
    return axis == CLF_QUANT_ROW ? rows : axis == CLF_QUANT_COLUMN ? cols : 1;
}

static int64_t group_of(int64_t i, int64_t cols, enum clf_quant_axis axis)
{
    return axis == CLF_QUANT_ROW ? i / cols : axis == CLF_QUANT_COLUMN ? i % cols : 0;
}

/* lg(y) of the spec, for finite y > 0. */
static int lg(float y)
{
    int k;
    float m = frexpf(y, &k);
    return m >= 0x1.6a09e6p-1f ? k : k - 1;
}

/* rne(x / s) of the exact quotient (see the file comment). */
static double rne_div(float x, float s)
{
    return nearbyint((double)x / (double)s);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Scales (and zeros, affine) of x (n logical values, rows x cols) computed
 * as the spec says. */
static void ref_scales(const float *x, int64_t rows, int64_t cols,
                       const struct clf_quant_params *p, float *s, int32_t *z)
{
    int64_t groups = groups_of(rows, cols, p->axis);
    float *lo = calloc((size_t)groups, sizeof *lo), *hi = calloc((size_t)groups, sizeof *hi);
    for (int64_t i = 0; i < rows * cols; i++) {
        float v = x[i];
        int64_t g = group_of(i, cols, p->axis);
        if (!isfinite(v))
            continue;
        if (p->scheme == CLF_QUANT_AFFINE) {
            lo[g] = fminf(lo[g], v);
            hi[g] = fmaxf(hi[g], v);
        } else {
            hi[g] = fmaxf(hi[g], fabsf(v));
        }
    }
    int b = p->bits, lowest = -(1 << (b - 1)), highest = (1 << (b - 1)) - 1;
    for (int64_t g = 0; g < groups; g++) {
        float sc = 0.0f;
        if (p->scheme == CLF_QUANT_AFFINE) {
            double levels = (double)((1 << b) - 1);
            float d = hi[g] - lo[g]; /* one fp32 rounding */
            if (isinf(d)) /* the halved path, saturated at FLT_MAX */
                sc = fminf((float)((double)(0.5f * hi[g] - 0.5f * lo[g]) / (0.5 * levels)),
                           0x1.fffffep127f);
            else if (d > 0.0f)
                sc = (float)((double)d / levels);
            z[g] = sc > 0.0f ? (int32_t)clampd(lowest - rne_div(lo[g], sc), lowest, highest) : 0;
        } else if (hi[g] > 0.0f) {
            if (p->scheme == CLF_QUANT_LOG)
                sc = ldexpf(1.0f, lg(hi[g]) < 127 ? lg(hi[g]) : 127);
            else
                sc = (float)((double)hi[g] / (double)highest);
        }
        s[g] = sc;
    }
    free(lo);
    free(hi);
}

/* Code of v with scale s and zero z. */
static int ref_code(float v, float s, int32_t z, const struct clf_quant_params *p)
{
    int half = 1 << (p->bits - 1);
    if (isnan(v))
        v = 0.0f;
    if (!(s > 0.0f))
        return 0;
    if (p->scheme == CLF_QUANT_SYMMETRIC)
        return (int)clampd(rne_div(v, s), -(half - 1), half - 1);
    if (p->scheme == CLF_QUANT_AFFINE)
        return (int)clampd(rne_div(v, s) + z, -half, half - 1);
    if (v == 0.0f)
        return 0;
    int levels = half - 1;
    int e = isinf(v) ? 1000 : lg(fabsf(v));
    int level = e - lg(s) + levels;
    level = level < levels ? level : levels;
    return level >= 1 ? (v < 0 ? -level : level) : 0;
}

/* Dequantised code: one fp32 rounding (products in float). */
static float ref_value(int q, float s, int32_t z, const struct clf_quant_params *p)
{
    if (p->scheme == CLF_QUANT_AFFINE)
        return (float)(q - z) * s;
    if (p->scheme == CLF_QUANT_LOG) {
        int levels = (1 << (p->bits - 1)) - 1;
        return q == 0 ? 0.0f : copysignf(ldexpf(s, abs(q) - levels), (float)q);
    }
    return (float)q * s;
}

/* ------------------------------------------------------------------------ */
/* Running and comparing                                                    */
/* ------------------------------------------------------------------------ */

/* Device results of one quantise + dequantise. */
struct result {
    int8_t *q;
    float *s, *y;
    int32_t *z; /* NULL unless affine */
    int64_t groups;
};

static void result_free(struct result *r)
{
    free(r->q);
    free(r->s);
    free(r->y);
    free(r->z);
}

/* Fills t with a byte pattern (poisons an i8 or i32 output). */
static void poison_bytes(struct clf_tensor *t)
{
    size_t bytes = (size_t)clf_tensor_numel(t) * clf_dtype_size(clf_tensor_dtype(t));
    unsigned char *b = malloc(bytes);
    memset(b, 0x55, bytes);
    ck_assert_ok(test_ctx(), clf_tensor_write(t, b, bytes));
    free(b);
}

/* When true, run() records with the other kernel set than the device's
 * own (the context's device type switched while recording). */
static bool other_variant;

/* Quantises in->t.view with p then dequantises, on the device. */
static void run(struct input *in, const struct clf_quant_params *p, struct result *r)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *q, *s, *z = (struct clf_tensor *)1, *y;
    enum clf_device_type type = ctx->info.type;
    if (other_variant)
        ctx->info.type = type == CLF_DEVICE_CPU ? CLF_DEVICE_GPU : CLF_DEVICE_CPU;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_quantize(g, in->t.view, p, &q, &s, &z));
    ck_assert(p->scheme == CLF_QUANT_AFFINE ? z != NULL : z == NULL);
    ck_assert_ok(ctx, clf_op_dequantize(g, q, s, z, p, &y));
    ctx->info.type = type;
    r->groups = groups_of(in->rows, in->cols, p->axis);
    ck_assert_int_eq(clf_tensor_dtype(q), CLF_I8);
    ck_assert_int_eq(clf_tensor_numel(s), r->groups);
    ck_assert(clf_tensor_is_contiguous(q) && clf_tensor_is_contiguous(y));
    poison_bytes(q);
    if (!p->scales) /* given scales hold their values already */
        test_poison(s);
    if (z && !p->scales)
        poison_bytes(z);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    r->q = malloc((size_t)in->n);
    r->s = malloc((size_t)r->groups * sizeof(float));
    r->z = NULL;
    ck_assert_ok(ctx, clf_tensor_read(q, r->q, (size_t)in->n));
    ck_assert_ok(ctx, clf_tensor_read(s, r->s, (size_t)r->groups * sizeof(float)));
    if (z) {
        r->z = malloc((size_t)r->groups * sizeof(int32_t));
        ck_assert_ok(ctx, clf_tensor_read(z, r->z, (size_t)r->groups * sizeof(int32_t)));
    }
    r->y = test_read_all(y);
    clf_graph_destroy(g);
}

static bool same_bits(float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua == ub;
}

/* Checks r against the reference for in's values: scales and zeros (given
 * ones when p->scales) bitwise, codes, dequantised values bitwise. */
static void check(struct input *in, const struct clf_quant_params *p, const struct result *r,
                  const char *what)
{
    int64_t groups = r->groups;
    float *s = malloc((size_t)groups * sizeof *s);
    int32_t *z = calloc((size_t)groups, sizeof *z);
    if (p->scales) {
        memcpy(s, p->scales, (size_t)groups * sizeof *s);
        if (p->zeros)
            memcpy(z, p->zeros, (size_t)groups * sizeof *z);
    } else {
        ref_scales(in->vals, in->rows, in->cols, p, s, z);
    }
    for (int64_t g = 0; g < groups; g++) {
        if (!same_bits(r->s[g], s[g]))
            ck_abort_msg("%s: scale %lld = %a, reference %a", what, (long long)g,
                         (double)r->s[g], (double)s[g]);
        if (r->z && r->z[g] != z[g])
            ck_abort_msg("%s: zero %lld = %d, reference %d", what, (long long)g, (int)r->z[g],
                         (int)z[g]);
    }
    for (int64_t i = 0; i < in->n; i++) {
        int64_t g = group_of(i, in->cols, p->axis);
        int want = ref_code(in->vals[i], s[g], z[g], p);
        if (r->q[i] != want)
            ck_abort_msg("%s: element %lld = %a (x/s = %.17g): code %d, reference %d", what,
                         (long long)i, (double)in->vals[i],
                         (double)in->vals[i] / (double)s[g], (int)r->q[i], want);
        float v = ref_value(want, s[g], z[g], p);
        if (!same_bits(r->y[i], v))
            ck_abort_msg("%s: element %lld (code %d) dequantised to %a, reference %a", what,
                         (long long)i, want, (double)r->y[i], (double)v);
    }
    free(s);
    free(z);
}

static void run_check(struct input *in, const struct clf_quant_params *p, const char *what)
{
    struct result r;
    run(in, p, &r);
    check(in, p, &r, what);
    result_free(&r);
}

/* Bit widths tested per scheme. */
static const int bit_widths[3][3] = {{2, 4, 8}, {1, 4, 8}, {2, 4, 8}};

/* Every scheme x axis x bit width on in. */
static void all_params(struct input *in, const char *tag)
{
    for (int sc = 0; sc < 3; sc++)
        for (int ax = 0; ax < 3; ax++)
            for (int b = 0; b < 3; b++) {
                struct clf_quant_params p = clf_quant_params_default();
                p.scheme = (enum clf_quant_scheme)sc;
                p.axis = (enum clf_quant_axis)ax;
                p.bits = bit_widths[sc][b];
                char what[128];
                snprintf(what, sizeof what, "%s %s %s %d-bit", tag, scheme_name[sc],
                         axis_name[ax], p.bits);
                run_check(in, &p, what);
            }
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

/* N(0,1) inputs of odd shapes and layouts: every scheme, axis, bit width.
 * Rows of 131 and 13 contiguous values (vectors of 8 and a tail), strided
 * rows, and 3x5x7x16 head-split: 105 rows in blocks of the work-item
 * reduction that start inside the leading dimensions. */
static void random_cases(void)
{
    static const struct {
        int ndim;
        int64_t shape[4];
        enum test_layout lay;
        const char *name;
    } cases[] = {
        {2, {37, 131}, TEST_DENSE, "37x131"},
        {3, {3, 5, 13}, TEST_HEADSPLIT, "3x5x13 head-split"},
        {4, {2, 3, 4, 9}, TEST_TRANSPOSED, "2x3x4x9 transposed"},
        {1, {1001}, TEST_TRANSPOSED, "1001 stride 2"},
        {2, {1, 1}, TEST_DENSE, "1x1"},
        {4, {3, 5, 7, 16}, TEST_HEADSPLIT, "3x5x7x16 head-split"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct input in;
        input_make(&in, cases[c].ndim, cases[c].shape, cases[c].lay, 1.0);
        input_upload(&in);
        all_params(&in, cases[c].name);
        input_free(&in);
    }
}

START_TEST(test_random)
{
    random_cases();
}
END_TEST

/* Large and tiny magnitudes (scales stay normal), and a range whose width
 * hi - lo overflows fp32 (the affine scale takes the halved path). */
START_TEST(test_magnitudes)
{
    static const double mags[] = {1e37, 1e30, 1e-20, 1e-30};
    const int64_t shape[2] = {9, 40};
    for (size_t m = 0; m < sizeof mags / sizeof mags[0]; m++) {
        struct input in;
        input_make(&in, 2, shape, TEST_DENSE, mags[m]);
        input_upload(&in);
        char tag[32];
        snprintf(tag, sizeof tag, "magnitude %g", mags[m]);
        all_params(&in, tag);
        input_free(&in);
    }
    struct input in;
    input_make(&in, 2, shape, TEST_TRANSPOSED, 1e38);
    *at(&in, 0) = 3.0e38f; /* row 0 and column 0 span 6e38 > FLT_MAX */
    *at(&in, 1) = -3.0e38f;
    *at(&in, 40) = -3.3e38f;
    *at(&in, 45) = 0x1.fffffep127f; /* lg = 128: the log scale is capped at 2^127 */
    input_upload(&in);
    all_params(&in, "overflowing range");
    input_free(&in);
}
END_TEST

/* Ties: inputs exactly at (k + 1/2) s round to the even k or k + 1, with
 * computed and given scales; neighbours one ulp off round away from it. */
START_TEST(test_ties)
{
    /* one row of 2 * 41 + 1 values: x = (k + 1/2) s for k = -20..20, the
     * same one ulp towards zero, and the largest, m = 127 s, with
     * s = 3 * 2^-5 (not a power of two: x / s is not exact in fp32 on
     * every device, the residual decides); m / 127 = s exactly, so the
     * computed scale is s too. */
    const float s = 0.09375f;
    const int64_t shape[2] = {1, 83};
    struct input in;
    input_make(&in, 2, shape, TEST_DENSE, 1.0);
    for (int k = -20; k <= 20; k++) {
        float tie = (float)(k + 0.5) * s; /* (2k + 1) 3 2^-6: exact */
        *at(&in, k + 20) = tie;
        *at(&in, k + 61) = nextafterf(tie, 0.0f);
    }
    *at(&in, 82) = 127.0f * s;
    input_upload(&in);
    struct clf_quant_params p = clf_quant_params_default();
    struct result r;
    run(&in, &p, &r);
    check(&in, &p, &r, "symmetric ties, computed scale");
    ck_assert(same_bits(r.s[0], s));
    for (int k = -20; k <= 20; k++) {
        int even = (k % 2 == 0) ? k : k + 1;
        ck_assert_msg(r.q[k + 20] == even, "tie (%d + 1/2) s: code %d, want %d", k,
                      (int)r.q[k + 20], even);
        int below = k >= 0 ? k : k + 1; /* one ulp towards zero of the tie */
        ck_assert_msg(r.q[k + 61] == below, "near tie (%d + 1/2) s: code %d, want %d", k,
                      (int)r.q[k + 61], below);
    }
    result_free(&r);

    /* given scale s and (affine) zero 3: rne(x/s) + 3 */
    const float given = s;
    const int32_t zero = 3;
    p.scales = &given;
    p.n_scales = 1;
    run_check(&in, &p, "symmetric ties, given scale");
    p.scheme = CLF_QUANT_AFFINE;
    p.zeros = &zero;
    run(&in, &p, &r);
    check(&in, &p, &r, "affine ties, given scale");
    for (int k = -20; k <= 20; k++) {
        int even = (k % 2 == 0) ? k : k + 1;
        ck_assert_int_eq(r.q[k + 20], even + zero);
    }
    result_free(&r);
    input_free(&in);
}
END_TEST

/* NaN, +-Inf, an all-zero row and an all-non-finite row. */
START_TEST(test_special)
{
    const int64_t shape[2] = {4, 17};
    struct input in;
    input_make(&in, 2, shape, TEST_HEADSPLIT, 1.0);
    *at(&in, 3) = NAN;
    *at(&in, 5) = INFINITY;
    *at(&in, 6) = -INFINITY;
    for (int j = 0; j < 17; j++) {
        *at(&in, 17 + j) = 0.0f;                                        /* row 1: zeros */
        *at(&in, 34 + j) = j % 3 == 0 ? NAN : j % 3 == 1 ? INFINITY : -INFINITY; /* row 2 */
    }
    *at(&in, 17 + 4) = -0.0f;
    input_upload(&in);
    all_params(&in, "special values");
    /* the documented behaviour, explicitly, per row */
    for (int sc = 0; sc < 3; sc++) {
        struct clf_quant_params p = clf_quant_params_default();
        p.scheme = (enum clf_quant_scheme)sc;
        p.bits = 8;
        struct result r;
        run(&in, &p, &r);
        int32_t z0 = r.z ? r.z[0] : 0;
        int top = 127; /* Q, 2^7 - 1, L */
        int bottom = sc == CLF_QUANT_AFFINE ? -128 : -127;
        ck_assert_msg(r.q[3] == z0, "%s: NaN gives code %d", scheme_name[sc], (int)r.q[3]);
        ck_assert_msg(r.y[3] == 0.0f, "%s: NaN dequantises to %g", scheme_name[sc],
                      (double)r.y[3]);
        ck_assert_msg(r.q[5] == top && r.q[6] == bottom, "%s: +-Inf give %d, %d",
                      scheme_name[sc], (int)r.q[5], (int)r.q[6]);
        for (int row = 1; row <= 2; row++) {
            ck_assert_msg(r.s[row] == 0.0f, "%s: row %d scale %g", scheme_name[sc], row,
                          (double)r.s[row]);
            if (r.z)
                ck_assert_int_eq(r.z[row], 0);
            for (int j = 0; j < 17; j++) {
                ck_assert_int_eq(r.q[17 * row + j], 0);
                ck_assert(r.y[17 * row + j] == 0.0f);
            }
        }
        result_free(&r);
    }
    input_free(&in);
}
END_TEST

/* Given scales: random valid ones for every scheme and axis. */
START_TEST(test_given_scales)
{
    const int64_t shape[3] = {3, 7, 11};
    struct input in;
    input_make(&in, 3, shape, TEST_HEADSPLIT, 2.0);
    *at(&in, 10) = NAN;
    *at(&in, 11) = -INFINITY;
    input_upload(&in);
    for (int sc = 0; sc < 3; sc++)
        for (int ax = 0; ax < 3; ax++) {
            struct clf_quant_params p = clf_quant_params_default();
            p.scheme = (enum clf_quant_scheme)sc;
            p.axis = (enum clf_quant_axis)ax;
            p.bits = sc == CLF_QUANT_AFFINE ? 5 : 6;
            int64_t groups = groups_of(in.rows, in.cols, p.axis);
            float *s = malloc((size_t)groups * sizeof *s);
            int32_t *z = malloc((size_t)groups * sizeof *z);
            for (int64_t g = 0; g < groups; g++) {
                /* scales around the computed ones, some far too small
                 * (saturating) and some far too large (codes 0) */
                double f = test_rand_uniform(-4, 2);
                s[g] = sc == CLF_QUANT_LOG ? ldexpf(1.0f, (int)floor(f)) : (float)exp2(f) / 7;
                z[g] = (int32_t)test_rand_uniform(-16, 16); /* in [-16, 15] */
            }
            p.scales = s;
            p.n_scales = (size_t)groups;
            p.zeros = sc == CLF_QUANT_AFFINE ? z : NULL;
            char what[96];
            snprintf(what, sizeof what, "given scales %s %s", scheme_name[sc], axis_name[ax]);
            /* the host arrays may change once recorded: they are copied */
            struct clf_ctx *ctx = test_ctx();
            struct clf_graph *g;
            struct clf_tensor *q, *st, *zt;
            ck_assert_ok(ctx, clf_graph_create(ctx, &g));
            ck_assert_ok(ctx, clf_op_quantize(g, in.t.view, &p, &q, &st, &zt));
            ck_assert_uint_eq(clf_graph_node_count(g), 1);
            float s0 = s[0];
            s[0] = -1.0f;
            ck_assert_ok(ctx, clf_graph_run(g));
            float *got = test_read_all(st);
            ck_assert(same_bits(got[0], s0));
            free(got);
            clf_graph_destroy(g);
            s[0] = s0;
            run_check(&in, &p, what);
            free(s);
            free(z);
        }
    input_free(&in);
}
END_TEST

/*
 * Quantisation error on N(0,1) data, a [512, 64] K matrix per row, int8.
 * Model: with s the step of a row, the rounding error of a value inside the
 * clamp range is uniform on [-s/2, s/2] (variance s^2/12), so the expected
 * squared relative Frobenius error is sum_r cols s_r^2 / 12 / sum x^2. The
 * step is max|x| / 127 (symmetric) or (max - min) / 255 (affine); for 64
 * N(0,1) values E max|x| ~ 2.6 and E(max - min) ~ 4.8, giving ~5.9e-3 and
 * ~5.4e-3 (slightly less measured: the extreme values are exact). The test
 * asserts the measured error within [0.8, 1.2] of the model evaluated with
 * the actual scales (32768 errors: the estimate's relative standard
 * deviation is ~0.5%, so 20% leaves room for the exact extremes and the
 * finite-sample skew), and below fixed bounds 1.2 x the typical values,
 * 7.2e-3 and 6.5e-3 (the row maxima of 512 rows average out: their mean
 * varies by ~1% between seeds).
 */
START_TEST(test_error_model)
{
    const int64_t shape[2] = {512, 64};
    struct input in;
    input_make(&in, 2, shape, TEST_DENSE, 1.0);
    input_upload(&in);
    static const struct {
        enum clf_quant_scheme scheme;
        double bound;
    } cases[] = {{CLF_QUANT_SYMMETRIC, 7.2e-3}, {CLF_QUANT_AFFINE, 6.5e-3}};
    for (int c = 0; c < 2; c++) {
        struct clf_quant_params p = clf_quant_params_default();
        p.scheme = cases[c].scheme;
        struct result r;
        run(&in, &p, &r);
        check(&in, &p, &r, scheme_name[p.scheme]);
        double err2 = 0, ref2 = 0, model2 = 0;
        for (int64_t i = 0; i < in.n; i++) {
            double d = (double)r.y[i] - in.vals[i];
            err2 += d * d;
            ref2 += (double)in.vals[i] * in.vals[i];
        }
        for (int64_t g = 0; g < r.groups; g++)
            model2 += (double)in.cols * r.s[g] * r.s[g] / 12.0;
        double rel = sqrt(err2 / ref2), model = sqrt(model2 / ref2);
        printf("  per-row %s int8 [512, 64] N(0,1): relative Frobenius error %.4g "
               "(uniform model %.4g, bound %.3g)\n",
               scheme_name[p.scheme], rel, model, cases[c].bound);
        ck_assert_msg(rel >= 0.8 * model && rel <= 1.2 * model,
                      "%s: error %.4g, model %.4g", scheme_name[p.scheme], rel, model);
        ck_assert_msg(rel <= cases[c].bound, "%s: error %.4g > %.3g", scheme_name[p.scheme],
                      rel, cases[c].bound);
        result_free(&r);
    }
    input_free(&in);
}
END_TEST

/* Dequantisation of caller-made codes: a transposed i8 view, scales and
 * zero points as strided views (every other element of their storage),
 * codes over the whole i8 range (log codes beyond L too). */
START_TEST(test_dequant_strided)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t rows = 6, cols = 9, n = rows * cols, n2 = 2 * cols;
    int8_t codes[6 * 9];
    float sc[18];
    int32_t zs[18];
    for (int64_t i = 0; i < n; i++)
        codes[i] = (int8_t)(int)test_rand_uniform(-128, 128);
    codes[0] = -128;
    codes[1] = 127;
    codes[2] = 0;
    for (int i = 0; i < 18; i++) {
        sc[i] = ldexpf(1.0f, (int)test_rand_uniform(-6, 6)) * (i % 3 ? 1.0f : 0.75f);
        zs[i] = (int32_t)test_rand_uniform(-128, 128);
    }
    struct clf_tensor *qs, *qv, *ss, *sv, *zst, *zv;
    int64_t qshape[2] = {rows, cols}, qstr[2] = {1, rows}; /* column-major storage */
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 1, &n, &qs));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n2, &ss));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, &n2, &zst));
    int8_t stored[6 * 9];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            stored[c * rows + r] = codes[r * cols + c];
    ck_assert_ok(ctx, clf_tensor_write(qs, stored, sizeof stored));
    ck_assert_ok(ctx, clf_tensor_write(ss, sc, sizeof sc));
    ck_assert_ok(ctx, clf_tensor_write(zst, zs, sizeof zs));
    ck_assert_ok(ctx, clf_tensor_view(qs, 2, qshape, qstr, 0, &qv));
    int64_t gshape = cols, gstr = 2;
    ck_assert_ok(ctx, clf_tensor_view(ss, 1, &gshape, &gstr, 1, &sv));
    ck_assert_ok(ctx, clf_tensor_view(zst, 1, &gshape, &gstr, 1, &zv));
    for (int sc_i = 0; sc_i < 3; sc_i++) {
        struct clf_quant_params p = clf_quant_params_default();
        p.scheme = (enum clf_quant_scheme)sc_i;
        p.axis = CLF_QUANT_COLUMN;
        p.bits = 8;
        struct clf_graph *g;
        struct clf_tensor *y;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_op_dequantize(g, qv, sv, p.scheme == CLF_QUANT_AFFINE ? zv : NULL,
                                            &p, &y));
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = i % cols;
            float want = ref_value(codes[i], sc[2 * c + 1], zs[2 * c + 1], &p);
            ck_assert_msg(same_bits(out[i], want), "%s: element %lld (code %d) = %a, want %a",
                          scheme_name[sc_i], (long long)i, (int)codes[i], (double)out[i],
                          (double)want);
        }
        free(out);
        clf_graph_destroy(g);
    }
    clf_tensor_destroy(qv);
    clf_tensor_destroy(sv);
    clf_tensor_destroy(zv);
    clf_tensor_destroy(qs);
    clf_tensor_destroy(ss);
    clf_tensor_destroy(zst);
}
END_TEST

/* Bad arguments: the call fails with the documented status and records
 * nothing. */
START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    const int64_t shape[2] = {3, 4}, s5[1] = {5}, s3[1] = {3};
    struct clf_tensor *x, *xi, *q8, *q32, *sc3, *sc5, *sc3i, *z3;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, shape, &xi));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, shape, &q8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, shape, &q32));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s3, &sc3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s5, &sc5));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, s3, &sc3i));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, s3, &z3));
    struct clf_tensor *q, *s, *z, *y;
#define QUANT(pp, want)                                                                      \
    do {                                                                                     \
        q = s = z = y = (struct clf_tensor *)1;                                              \
        ck_assert_status(ctx, clf_op_quantize(g, x, pp, &q, &s, &z), want);                  \
        ck_assert(q == NULL && s == NULL && z == NULL);                                      \
    } while (0)

    /* bits outside each scheme's range, unknown scheme and axis */
    static const int bad_bits[3][2] = {{1, 9}, {0, 9}, {1, 9}};
    for (int sc = 0; sc < 3; sc++)
        for (int b = 0; b < 2; b++) {
            struct clf_quant_params p = clf_quant_params_default();
            p.scheme = (enum clf_quant_scheme)sc;
            p.bits = bad_bits[sc][b];
            QUANT(&p, CLF_E_INVALID_ARG);
            ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, NULL, &p, &y),
                             CLF_E_INVALID_ARG);
        }
    struct clf_quant_params p = clf_quant_params_default();
    p.scheme = (enum clf_quant_scheme)3;
    QUANT(&p, CLF_E_INVALID_ARG);
    p = clf_quant_params_default();
    p.axis = (enum clf_quant_axis)-1;
    QUANT(&p, CLF_E_INVALID_ARG);

    /* dtypes, NULL pointers */
    p = clf_quant_params_default();
    ck_assert_status(ctx, clf_op_quantize(g, xi, &p, &q, &s, &z), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_quantize(g, NULL, &p, &q, &s, &z), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_quantize(g, x, &p, NULL, &s, &z), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_quantize(g, x, &p, &q, NULL, &z), CLF_E_INVALID_ARG);
    p.scheme = CLF_QUANT_AFFINE;
    ck_assert_status(ctx, clf_op_quantize(g, x, &p, &q, &s, NULL), CLF_E_INVALID_ARG);

    /* given scales: row axis, 3 groups */
    const float ok3[3] = {0.5f, 1.0f, 2.0f};
    const int32_t zok[3] = {0, -128, 127};
    struct {
        float s[3];
        size_t n;
        enum clf_quant_scheme scheme;
        int with_zeros;
        int32_t z[3];
        enum clf_status want;
        const char *why;
    } bad[] = {
        {{0.5f, 0.0f, 1.0f}, 3, CLF_QUANT_SYMMETRIC, 0, {0}, CLF_E_INVALID_ARG, "zero scale"},
        {{0.5f, -1.0f, 1.0f}, 3, CLF_QUANT_SYMMETRIC, 0, {0}, CLF_E_INVALID_ARG, "negative"},
        {{NAN, 1.0f, 1.0f}, 3, CLF_QUANT_SYMMETRIC, 0, {0}, CLF_E_INVALID_ARG, "NaN"},
        {{1.0f, 1.0f, INFINITY}, 3, CLF_QUANT_AFFINE, 1, {0}, CLF_E_INVALID_ARG, "Inf"},
        {{1.0f, 1.0f, 1.0f}, 2, CLF_QUANT_SYMMETRIC, 0, {0}, CLF_E_SHAPE, "count"},
        {{1.0f, 1.0f, 1.0f}, 4, CLF_QUANT_LOG, 0, {0}, CLF_E_SHAPE, "count"},
        {{1.0f, 0.75f, 1.0f}, 3, CLF_QUANT_LOG, 0, {0}, CLF_E_INVALID_ARG, "not 2^k"},
        {{1.0f, 1.0f, 3.0f}, 3, CLF_QUANT_LOG, 0, {0}, CLF_E_INVALID_ARG, "not 2^k"},
        {{1.0f, 1.0f, 1.0f}, 3, CLF_QUANT_AFFINE, 0, {0}, CLF_E_INVALID_ARG, "no zeros"},
        {{1.0f, 1.0f, 1.0f}, 3, CLF_QUANT_AFFINE, 1, {0, 128, 0}, CLF_E_INVALID_ARG, "zero"},
        {{1.0f, 1.0f, 1.0f}, 3, CLF_QUANT_AFFINE, 1, {-129, 0, 0}, CLF_E_INVALID_ARG, "zero"},
        {{1.0f, 1.0f, 1.0f}, 3, CLF_QUANT_SYMMETRIC, 1, {0}, CLF_E_INVALID_ARG, "zeros"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = clf_quant_params_default();
        p.scheme = bad[i].scheme;
        p.scales = bad[i].s;
        p.n_scales = bad[i].n;
        p.zeros = bad[i].with_zeros ? bad[i].z : NULL;
        q = s = z = (struct clf_tensor *)1;
        enum clf_status st = clf_op_quantize(g, x, &p, &q, &s, &z);
        ck_assert_msg(st == bad[i].want, "given scales, %s: %s (%s)", bad[i].why,
                      clf_status_str(st), clf_ctx_last_error(ctx));
        ck_assert(q == NULL && s == NULL && z == NULL);
    }
    p = clf_quant_params_default();
    p.zeros = zok; /* zeros without scales */
    QUANT(&p, CLF_E_INVALID_ARG);
    p.scheme = CLF_QUANT_AFFINE;
    p.bits = 6; /* zok[1..2] outside [-32, 31] */
    p.scales = ok3;
    p.n_scales = 3;
    QUANT(&p, CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* dequantize: dtypes, counts, zero points */
    p = clf_quant_params_default();
    ck_assert_status(ctx, clf_op_dequantize(g, q32, sc3, NULL, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc5, NULL, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3i, NULL, &p, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, NULL, NULL, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, z3, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, NULL, &p, NULL), CLF_E_INVALID_ARG);
    p.axis = CLF_QUANT_COLUMN; /* 4 groups */
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, NULL, &p, &y), CLF_E_SHAPE);
    p = clf_quant_params_default();
    p.scheme = CLF_QUANT_AFFINE;
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, NULL, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_dequantize(g, q8, sc3, sc3, &p, &y), CLF_E_SHAPE);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
#undef QUANT

    /* valid calls record: computed per-row symmetric scales, work-group
     * kernels: reduce, scale, codes; work-item kernels (CPU): the fused
     * row kernel and the scale's marker */
    p = clf_quant_params_default();
    ck_assert_ok(ctx, clf_op_quantize(g, x, NULL, &q, &s, &z));
    ck_assert(z == NULL);
    size_t base = ctx->info.type == CLF_DEVICE_CPU ? 2 : 3;
    ck_assert_uint_eq(clf_graph_node_count(g), base);
    p.scheme = CLF_QUANT_AFFINE;
    p.scales = ok3;
    p.zeros = zok;
    p.n_scales = 3;
    ck_assert_ok(ctx, clf_op_quantize(g, x, &p, &q, &s, &z));
    ck_assert_uint_eq(clf_graph_node_count(g), base + 1);
    ck_assert_ok(ctx, clf_op_dequantize(g, q8, sc3, z3, &p, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), base + 2);

    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xi);
    clf_tensor_destroy(q8);
    clf_tensor_destroy(q32);
    clf_tensor_destroy(sc3);
    clf_tensor_destroy(sc5);
    clf_tensor_destroy(sc3i);
    clf_tensor_destroy(z3);
}
END_TEST

/* The other kernel set (work-group kernels on a CPU device, work-item ones
 * elsewhere): the exact checks of test_random, test_special and
 * test_error_model's per-row data. */
START_TEST(test_group_variant)
{
    other_variant = true;
    random_cases();
    const int64_t shape[2] = {4, 17};
    struct input in;
    input_make(&in, 2, shape, TEST_HEADSPLIT, 1.0);
    *at(&in, 3) = NAN;
    *at(&in, 5) = INFINITY;
    *at(&in, 6) = -INFINITY;
    for (int j = 0; j < 17; j++)
        *at(&in, 34 + j) = j % 3 == 0 ? NAN : j % 3 == 1 ? INFINITY : -INFINITY;
    input_upload(&in);
    all_params(&in, "other kernels, special values");
    input_free(&in);
    other_variant = false;
}
END_TEST

/*
 * Per sequence and column, symmetric 8 bits: x [B, S, N] (strided: a
 * [S, B, N] storage, rows padded, N = 8k + 5 so the vector path and the
 * element path both run, and N = 5 alone) with NaN, ±Inf and a value
 * 1e30 in a padded token; each sequence's scales and codes must be those
 * the reference gives its unpadded rows alone (the padded rows' codes
 * under the same scales); sequence 1 wholly padded (scales 0, codes 0);
 * without a key padding every token counts. Wrong shapes and dtypes are
 * refused.
 */
START_TEST(test_seq_columns)
{
    struct clf_ctx *ctx = test_ctx();
    for (int k = 0; k < 4; k++) {
        const int64_t B = 3, S = 6, N = k % 2 ? 5 : 21, shape[3] = {B, S, N};
        const bool padded = k < 2;
        struct input in;
        input_make(&in, 3, shape, TEST_HEADSPLIT, 2.0);
        int32_t pad[3 * 6];
        for (int i = 0; i < B * S; i++) /* item 0 pads its last 2 tokens, item 1 all */
            pad[i] = i / S == 1 || (i / S == 0 && i % S >= S - 2);
        *at(&in, 1 * N + 3) = NAN;
        *at(&in, 2 * N + 4) = INFINITY;
        *at(&in, (2 * S + 1) * N + 2) = -INFINITY;
        *at(&in, (S - 1) * N + 1) = 1e30f; /* a padded token of item 0 */
        input_upload(&in);
        struct clf_tensor *kp = padded ? test_upload_pad(B, S, pad) : NULL, *q = NULL, *sc = NULL;
        struct clf_graph *g = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_quantize_seq_columns(g, in.t.view, kp, &q, &sc));
        poison_bytes(q);
        test_poison(sc);
        ck_assert_ok(ctx, clf_graph_run(g));
        int8_t *codes = malloc((size_t)(B * S * N));
        float *got = test_read_all(sc);
        ck_assert_ok(ctx, clf_tensor_read(q, codes, (size_t)(B * S * N)));
        struct clf_quant_params p = clf_quant_params_default();
        p.axis = CLF_QUANT_COLUMN;
        float *rows = malloc((size_t)(S * N) * sizeof *rows), want[21];
        for (int64_t b = 0; b < B; b++) {
            int64_t kept = 0;
            for (int64_t t = 0; t < S; t++)
                if (!padded || !pad[b * S + t])
                    memcpy(rows + kept++ * N, in.vals + (b * S + t) * N, (size_t)N * sizeof *rows);
            ref_scales(rows, kept, N, &p, want, NULL);
            for (int64_t c = 0; c < N; c++) {
                ck_assert_msg(!memcmp(&got[b * N + c], &want[c], sizeof want[c]),
                              "N %lld%s: scale[%lld, %lld] = %a, want %a", (long long)N,
                              padded ? " padded" : "", (long long)b, (long long)c,
                              (double)got[b * N + c], (double)want[c]);
                for (int64_t t = 0; t < S; t++) {
                    int64_t i = (b * S + t) * N + c;
                    int w = ref_code(in.vals[i], want[c], 0, &p);
                    ck_assert_msg(codes[i] == w, "N %lld%s: code[%lld, %lld, %lld] = %d, want %d",
                                  (long long)N, padded ? " padded" : "", (long long)b,
                                  (long long)t, (long long)c, codes[i], w);
                }
            }
        }
        printf("quantize per sequence and column, N %lld%s: scales and codes exact\n",
               (long long)N, padded ? ", padded" : "");
        free(rows), free(codes), free(got);
        clf_graph_destroy(g);
        clf_tensor_destroy(kp);
        input_free(&in);
    }
    /* refusals */
    const int64_t s2[2] = {4, 8}, s3[3] = {2, 4, 8};
    struct clf_tensor *x2 = NULL, *x3 = NULL, *i3 = NULL, *q = NULL, *sc = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s2, &x2));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3, &x3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 3, s3, &i3));
    int32_t zeros[8] = {0};
    struct clf_tensor *kp_bad = test_upload_pad(2, 3, zeros), *kp_f32 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, (const int64_t[2]){2, 4}, &kp_f32));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_quantize_seq_columns(g, x2, NULL, &q, &sc), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, i3, NULL, &q, &sc), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, x3, kp_bad, &q, &sc), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, x3, kp_f32, &q, &sc), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, NULL, NULL, &q, &sc), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, x3, NULL, NULL, &sc), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_quantize_seq_columns(g, x3, NULL, &q, NULL), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(q);
    ck_assert_ptr_null(sc);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(x2), clf_tensor_destroy(x3), clf_tensor_destroy(i3);
    clf_tensor_destroy(kp_bad), clf_tensor_destroy(kp_f32);
}
END_TEST

START_TEST(test_defaults)
{
    struct clf_quant_params p = clf_quant_params_default();
    ck_assert_int_eq(p.scheme, CLF_QUANT_SYMMETRIC);
    ck_assert_int_eq(p.axis, CLF_QUANT_ROW);
    ck_assert_int_eq(p.bits, 8);
    ck_assert_ptr_null(p.scales);
    ck_assert_ptr_null(p.zeros);
    ck_assert_uint_eq(p.n_scales, 0);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("quant");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_magnitudes);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_special);
    tcase_add_test(tc, test_given_scales);
    tcase_add_test(tc, test_dequant_strided);
    tcase_add_test(tc, test_error_model);
    tcase_add_test(tc, test_group_variant);
    tcase_add_test(tc, test_seq_columns);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
