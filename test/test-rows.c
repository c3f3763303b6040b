/*
 * Row ops (lib/ops/rows.c, cl/rows.cl): bias add, activations, softmax,
 * layernorm and the embedding gather, each against a double-precision
 * reference on fresh random inputs (seed printed by test_seed), outputs
 * poisoned with NaN first, strided inputs (transposed and head-split views),
 * odd row lengths and counts, both row-reduction variants, special values,
 * and argument errors.
 *
 * Error bounds are first-order bounds derived from the arithmetic each
 * kernel does, per element, with the accuracy the OpenCL C specification
 * requires of the full profile (table "ULP values for single precision
 * built-in math functions": exp <= 3 ulp, erf <= 16 ulp, tanh <= 5 ulp,
 * rsqrt <= 2 ulp, x / y <= 2.5 ulp; +, -, * and fma correctly rounded).
 * One ulp of a value v is at most 2^-23 |v| = 2u |v|, u = 2^-24, so k ulp
 * is a relative error of at most 2k u. Second-order terms (products of two
 * relative errors, each below 1e-3 in every case here) are covered by the
 * factor SLACK. Results that underflow may be flushed to zero (denormals are
 * optional for float in OpenCL), which adds absolute terms of 2^-126.
 * A NaN output never passes: every check is `!(err <= bound)` -> fail.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/ops/rows.h" /* internal: explicit kernel variants, unchecked gather */
#include "../lib/runtime/program.h" /* internal: clf_program_source (the erf test) */

/* Smallest normal binary32. */
#define FLT_MIN_NORMAL 0x1p-126
/* Covers the neglected second-order terms of the first-order bounds. */
#define SLACK 1.01

#define N_VARIANTS 3
static const enum clf_rows_variant variants[N_VARIANTS] = {CLF_ROWS_PER_ITEM, CLF_ROWS_PER_GROUP,
                                                           CLF_ROWS_PER_ITEM_VEC};
static const char *variant_name[N_VARIANTS] = {"per-item", "per-group", "per-item-vec"};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static const char *layout_name[3] = {"dense", "transposed", "head-split"};

/* A strided input with values uniform in [lo, hi). */
static void input_make(struct test_input *in, int ndim, const int64_t *shape,
                       enum test_layout lay, double lo, double hi)
{
    test_input_make(in, ndim, shape, lay);
    test_fill_uniform(in->host, in->total, lo, hi);
}

/* Value of element j of row r (rows: the last dimension). */
static double at(const struct test_input *in, int64_t r, int64_t j)
{
    return in->host[test_input_elem(in, r * in->shape[in->ndim - 1] + j)];
}

/* True when in (NULL: absent) is contiguous along its last dimension. */
static bool last_contiguous(const struct test_input *in)
{
    return !in || in->shape[in->ndim - 1] <= 1 || in->strides[in->ndim - 1] == 1;
}

/* The variant a record with variants[v] must store: the vector variant
 * only for rows contiguous in x, gamma and beta, else the per-item one. */
static enum clf_rows_variant expected_variant(int v, const struct test_input *x,
                                              const struct test_input *gamma,
                                              const struct test_input *beta)
{
    if (variants[v] != CLF_ROWS_PER_ITEM_VEC)
        return variants[v];
    return last_contiguous(x) && last_contiguous(gamma) && last_contiguous(beta)
               ? CLF_ROWS_PER_ITEM_VEC
               : CLF_ROWS_PER_ITEM;
}

/* Tracks the worst err / bound of a check and fails on the first element
 * that breaks its bound (NaN breaks every bound). */
struct worst {
    double ratio;
    const char *what;
};

static void check_elem(struct worst *w, int64_t i, double out, double ref, double bound)
{
    double err = fabs(out - ref);
    if (!(err <= bound))
        ck_abort_msg("%s: element %lld = %.9g, reference %.17g, error %.3g > bound %.3g",
                     w->what, (long long)i, out, ref, err, bound);
    if (bound > 0 && err / bound > w->ratio)
        w->ratio = err / bound;
}

static void report(const struct worst *w)
{
    printf("  %-52s worst error / bound = %.3f\n", w->what, w->ratio);
}

/* ------------------------------------------------------------------------ */
/* Bias add                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * y = x + b is one correctly rounded addition: |y - (x + b)| <= u |x + b|.
 * The reference x + b is computed in double (exact or within 2^-53
 * relative), absorbed by the factor 1 + 2^-20.
 */
START_TEST(test_bias_add)
{
    struct clf_ctx *ctx = test_ctx();
    static const struct {
        int ndim;
        int64_t shape[4];
        enum test_layout x_lay, b_lay;
    } cases[] = {
        {2, {5, 7}, TEST_DENSE, TEST_DENSE},
        {3, {3, 5, 13}, TEST_HEADSPLIT, TEST_TRANSPOSED},
        {2, {9, 13}, TEST_TRANSPOSED, TEST_DENSE},
        {1, {7}, TEST_TRANSPOSED, TEST_TRANSPOSED},
        {4, {2, 3, 1, 1001}, TEST_HEADSPLIT, TEST_DENSE},
        {2, {3, 1}, TEST_DENSE, TEST_DENSE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct test_input x, b;
        int64_t n = cases[c].shape[cases[c].ndim - 1];
        input_make(&x, cases[c].ndim, cases[c].shape, cases[c].x_lay, -1, 1);
        input_make(&b, 1, &n, cases[c].b_lay, -1, 1);
        test_input_upload(&x);
        test_input_upload(&b);
        struct clf_graph *g;
        struct clf_tensor *y;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_op_bias_add(g, x.view, b.view, &y));
        ck_assert_int_eq(clf_tensor_ndim(y), cases[c].ndim);
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y);
        char what[96];
        snprintf(what, sizeof what, "bias_add %d-D n=%lld %s", cases[c].ndim, (long long)n,
                 layout_name[cases[c].x_lay]);
        struct worst w = {0, what};
        for (int64_t i = 0; i < test_input_numel(&x); i++) {
            double ref = (double)x.host[test_input_elem(&x, i)] + (double)b.host[test_input_elem(&b, i % n)];
            check_elem(&w, i, out[i], ref, TEST_U32 * fabs(ref) * (1 + 0x1p-20));
        }
        report(&w);
        free(out);
        clf_graph_destroy(g);
        test_input_free(&x);
        test_input_free(&b);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Activations                                                              */
/* ------------------------------------------------------------------------ */

/*
 * GELU, erf form, as common.cl evaluates it: t = x * fl(1/sqrt 2) (two
 * roundings: relative 2u), E = erf(t) (16 ulp: 32u |E|), F = 1 + E (u |F|),
 * y = (0.5 x) * F (0.5 x exact, one rounding u |y|). The perturbation of t
 * moves E by |erf'(t)| |t| 2u. So, to first order,
 *   |y - ref| <= 0.5 |x| u (2 |t| erf'(t) + 32 |E| + |1 + E|) + u |y|.
 * This is an absolute bound where 1 + E cancels (x << 0), as it must be.
 */
static double gelu_bound(double x, double *ref)
{
    double t = x / sqrt(2.0), e = erf(t);
    double de = 2 / sqrt(M_PI) * exp(-t * t);
    *ref = 0.5 * x * (1 + e);
    return SLACK * (0.5 * fabs(x) * TEST_U32 * (2 * fabs(t) * de + 32 * fabs(e) + fabs(1 + e)) +
                    TEST_U32 * fabs(*ref)) +
           FLT_MIN_NORMAL;
}

/*
 * GELU, tanh form: q = ((a x) x) x with a = fl(0.044715) (relative 4u:
 * the constant and three products); s = x + q (x and q have the same sign,
 * so |q| <= |s| and the error is <= 4u |q| + u |s| <= 5u |s|); w = k s with
 * k = fl(sqrt(2/pi)) (7u |w|); T = tanh(w) (5 ulp: 10u |T|, plus the
 * perturbation sech^2(w) 7u |w|); F = 1 + T (u |F|); y = (0.5 x) F (u |y|):
 *   |y - ref| <= 0.5 |x| u (7 |w| sech^2(w) + 10 |T| + |1 + T|) + u |y|.
 * A tiny x makes x^3 underflow (flushed): covered by the 2^-126 term.
 */
static double gelu_tanh_bound(double x, double *ref)
{
    double w = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x), t = tanh(w);
    double ch = cosh(w), sech2 = isinf(ch) ? 0 : 1 / (ch * ch);
    *ref = 0.5 * x * (1 + t);
    return SLACK * (0.5 * fabs(x) * TEST_U32 * (7 * fabs(w) * sech2 + 10 * fabs(t) + fabs(1 + t)) +
                    TEST_U32 * fabs(*ref)) +
           FLT_MIN_NORMAL;
}

/* act(v) in double into *ref, and the bound of the float evaluation's
 * error (0 for none and ReLU, which are exact). */
static double act_bound(double v, enum clf_act act, double *ref)
{
    *ref = v;
    if (act == CLF_ACT_RELU)
        *ref = v > 0 ? v : 0;
    else if (act == CLF_ACT_GELU)
        return gelu_bound(v, ref);
    else if (act == CLF_ACT_GELU_TANH)
        return gelu_tanh_bound(v, ref);
    else if (act == CLF_ACT_TANH) /* OpenCL's tanh: 5 ulp */
        return *ref = tanh(v), 10 * TEST_U32 * fabs(*ref);
    return 0;
}

/* The inputs of test_act (test_glu doubles their last dimension) and the
 * activations. */
static const struct {
    int ndim;
    int64_t shape[4];
    enum test_layout lay;
} act_cases[] = {
    {3, {3, 5, 13}, TEST_HEADSPLIT},
    {2, {9, 1001}, TEST_TRANSPOSED},
    {1, {7}, TEST_DENSE},
};
static const enum clf_act acts[] = {CLF_ACT_NONE, CLF_ACT_RELU, CLF_ACT_GELU, CLF_ACT_GELU_TANH,
                                    CLF_ACT_TANH};

START_TEST(test_act)
{
    struct clf_ctx *ctx = test_ctx();
    static const float specials[] = {0.0f,  -0.0f, 20.0f, -20.0f, 1e-20f, -1e-20f, 3.0f,
                                     -3.0f, 6.0f,  -6.0f, 0.5f,   -0.5f,  1e-3f,   -10.0f};
    static const char *act_name[] = {"none", "relu", "gelu", "gelu_tanh", "tanh"};
    for (size_t c = 0; c < sizeof act_cases / sizeof act_cases[0]; c++) {
        struct test_input x;
        input_make(&x, act_cases[c].ndim, act_cases[c].shape, act_cases[c].lay, -6, 6);
        int64_t n = test_input_numel(&x);
        for (int64_t i = 0; i < n && i < (int64_t)(sizeof specials / sizeof specials[0]); i++)
            x.host[test_input_elem(&x, i * 3 % n)] = specials[i];
        test_input_upload(&x);
        for (int a = 0; a < 5; a++) {
            struct clf_graph *g;
            struct clf_tensor *y;
            ck_assert_ok(ctx, clf_graph_create(ctx, &g));
            ck_assert_ok(ctx, clf_op_act(g, x.view, acts[a], &y));
            test_poison(y);
            ck_assert_ok(ctx, clf_graph_run(g));
            float *out = test_read_all(y);
            char what[96];
            snprintf(what, sizeof what, "act %s %lld elements %s", act_name[a], (long long)n,
                     layout_name[act_cases[c].lay]);
            struct worst w = {0, what};
            for (int64_t i = 0; i < n; i++) {
                double ref, bound = act_bound(x.host[test_input_elem(&x, i)], acts[a], &ref);
                check_elem(&w, i, out[i], ref, bound);
            }
            report(&w);
            free(out);
            clf_graph_destroy(g);
        }
        test_input_free(&x);
    }
}
END_TEST

/*
 * glu: y = act(a)·g with a, g the halves of x's rows. The float act(a) is
 * within `ab` of the exact one (act_bound), then one rounding of the
 * product:
 * |y − act(a)·g| <= |g|·ab + u·(|act(a)·g| + |g|·ab).
 */
START_TEST(test_glu)
{
    struct clf_ctx *ctx = test_ctx();
    for (size_t c = 0; c < sizeof act_cases / sizeof act_cases[0]; c++) {
        struct test_input x;
        const int nd = act_cases[c].ndim;
        int64_t shape[4];
        memcpy(shape, act_cases[c].shape, sizeof shape);
        shape[nd - 1] *= 2;
        input_make(&x, nd, shape, act_cases[c].lay, -6, 6);
        test_input_upload(&x);
        const int64_t w = shape[nd - 1], n = w / 2, rows = test_input_numel(&x) / w;
        for (int a = 0; a < 5; a++) {
            struct clf_graph *g;
            struct clf_tensor *y;
            ck_assert_ok(ctx, clf_graph_create(ctx, &g));
            ck_assert_ok(ctx, clf_op_glu(g, x.view, acts[a], &y));
            ck_assert_int_eq(clf_tensor_ndim(y), nd);
            ck_assert_int_eq(clf_tensor_dim(y, nd - 1), n);
            test_poison(y);
            ck_assert_ok(ctx, clf_graph_run(g));
            float *out = test_read_all(y);
            char what[96];
            snprintf(what, sizeof what, "glu act %d %lld rows of %lld %s", (int)acts[a],
                     (long long)rows, (long long)w, layout_name[act_cases[c].lay]);
            struct worst wst = {0, what};
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < n; j++) {
                    double v = x.host[test_input_elem(&x, r * w + j)];
                    double gv = x.host[test_input_elem(&x, r * w + n + j)];
                    double act, ab = act_bound(v, acts[a], &act);
                    double ref = act * gv;
                    double bound = fabs(gv) * ab + TEST_U32 * (fabs(ref) + fabs(gv) * ab);
                    check_elem(&wst, r * n + j, out[r * n + j], ref, bound);
                }
            report(&wst);
            free(out);
            clf_graph_destroy(g);
        }
        test_input_free(&x);
    }
}
END_TEST

/*
 * clf_erf (cl/common.cl, the erf of GELU): a branch-free polynomial
 * evaluation whose worst error over every float in [0, 4.5] is 2.44 ulp of
 * erf (measured against the double erf when it was written), so within 3
 * ulp here, on ~2^20 floats spread over [0, 4.5] (every 1024th bit pattern),
 * every float within 2^12 steps of the branch points 1 and 4, the negated
 * values (erf is odd: bitwise -erf(x)), subnormals (a device may flush
 * them: within 2^-125 absolute), ±0, ±inf (±1) and NaN (NaN). Built as a
 * program of common.cl, the row-op bundle and one kernel, with the context's own options.
 */
START_TEST(test_erf)
{
    struct clf_ctx *ctx = test_ctx();
    const float hi = 4.5f;
    uint32_t b_hi;
    memcpy(&b_hi, &hi, sizeof b_hi);
    size_t cap = (size_t)b_hi / 1024 + 4 * 8192 + 64, n = 0;
    float *x = malloc(2 * cap * sizeof *x), *y = malloc(2 * cap * sizeof *y);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    for (uint32_t b = 0; b <= b_hi; b += 1024)
        memcpy(&x[n++], &b, sizeof b);
    static const float edges[2] = {1.0f, 4.0f};
    for (int e = 0; e < 2; e++) {
        uint32_t c;
        memcpy(&c, &edges[e], sizeof c);
        for (uint32_t b = c - 4096; b < c + 4096; b++)
            memcpy(&x[n++], &b, sizeof b);
    }
    static const float specials[] = {0.0f, 1e-40f, 1e-45f, 1.17549435e-38f, INFINITY, NAN, 3.9999998f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        x[n++] = specials[i];
    for (size_t i = 0; i < n; i++) /* the negated copies */
        x[n + i] = -x[i];
    size_t total = 2 * n;

    char *src = NULL;
    ck_assert_ok(ctx, clf_program_source(ctx, "copy", &src)); /* common.cl and the bundle */
    static const char kern[] = "\n__kernel void t_erf(__global const float *x, __global float *y)"
                               "\n{ size_t i = get_global_id(0); y[i] = clf_erf(x[i]); }\n";
    char *full = malloc(strlen(src) + sizeof kern);
    ck_assert_ptr_nonnull(full);
    strcpy(full, src);
    strcat(full, kern);
    cl_int err;
    const char *srcs[1] = {full};
    cl_program prog = clCreateProgramWithSource(ctx->context, 1, srcs, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    if (clBuildProgram(prog, 1, &ctx->device, ctx->base_options, NULL, NULL) != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        ck_abort_msg("building common.cl with clf_erf's test kernel failed:\n%s", log);
    }
    cl_kernel k = clCreateKernel(prog, "t_erf", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bx = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               total * sizeof *x, x, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem by = clCreateBuffer(ctx->context, CL_MEM_WRITE_ONLY, total * sizeof *y, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    ck_assert_int_eq(clSetKernelArg(k, 0, sizeof bx, &bx), CL_SUCCESS);
    ck_assert_int_eq(clSetKernelArg(k, 1, sizeof by, &by), CL_SUCCESS);
    cl_event done; /* the context's queue may be out of order */
    ck_assert_int_eq(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &total, NULL, 0, NULL, &done),
                     CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(ctx->queue, by, CL_TRUE, 0, total * sizeof *y, y, 1,
                                         &done, NULL),
                     CL_SUCCESS);
    clReleaseEvent(done);
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < total; i++) {
        if (isnan(x[i])) {
            ck_assert_msg(isnan(y[i]), "erf(NaN) = %g, not NaN", (double)y[i]);
            continue;
        }
        if (i >= n) /* odd: bitwise */
            ck_assert_msg(memcmp(&y[i], &(float){-y[i - n]}, sizeof(float)) == 0,
                          "erf(%.9g) = %.9g but erf(%.9g) = %.9g", (double)x[i], (double)y[i],
                          (double)x[i - n], (double)y[i - n]);
        double ref = erf((double)x[i]);
        float rf = (float)ref;
        double ulp = fabs((double)nextafterf(rf, INFINITY) - (double)rf);
        if (fabs(rf) == 1.0f)
            ulp = 0x1p-24;
        double e = fabs((double)y[i] - ref);
        bool sub = fabs((double)x[i]) < 0x1p-126; /* subnormal: flushing allowed */
        ck_assert_msg(sub ? e <= 0x1p-125 : e <= 3 * ulp,
                      "erf(%.9g) = %.9g, exact %.12g: %.2f ulp off (bound 3)", (double)x[i],
                      (double)y[i], ref, e / ulp);
        if (!sub && e / ulp > worst) {
            worst = e / ulp;
            worst_x = x[i];
        }
    }
    printf("  erf over %zu floats: worst %.2f ulp (at %.9g), bound 3\n", total, worst,
           (double)worst_x);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    free(full);
    free(src);
    free(x);
    free(y);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Softmax                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The kernel computes m = max x (exact), d_j = x_j - m (one rounding, so
 * exp sees d_j (1 + delta), |delta| <= u, and exp(d_j) moves by |d_j| u
 * relative), e_j = exp(d_j) (3 ulp: 6u), s = sum e_j (any order: (N-1) u
 * relative, all terms positive), y_j = e_j / s (2.5 ulp: 5u). With
 * eps_j = (|d_j| + 6) u and r_j = exp(d_j):
 *   rho_s = sum_j r_j eps_j / sum_j r_j + (N - 1) u      (relative, of s)
 *   |y_j - ref_j| <= ref_j (eps_j + rho_s + 5u) + (N + 2) 2^-126
 * the last term for exps and quotients below 2^-126 flushed to zero (s >= 1,
 * since the maximum contributes exp(0)).
 */
static void check_softmax_rows(const struct test_input *x, const float *out, struct worst *w)
{
    int64_t n = x->shape[x->ndim - 1], rows = test_input_numel(x) / n;
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY;
        for (int64_t j = 0; j < n; j++)
            m = fmax(m, at(x, r, j));
        if (isinf(m) && m < 0) { /* all -inf: NaN by decision, see cl/rows.cl */
            for (int64_t j = 0; j < n; j++)
                ck_assert_msg(isnan(out[r * n + j]), "%s: all -inf row %lld gave %g, not NaN",
                              w->what, (long long)r, out[r * n + j]);
            continue;
        }
        double sum = 0, weighted = 0;
        for (int64_t j = 0; j < n; j++) {
            double d = at(x, r, j) - m, e = exp(d);
            sum += e;
            if (e > 0)
                weighted += e * (fabs(d) + 6) * TEST_U32;
        }
        double rho_s = weighted / sum + (double)(n - 1) * TEST_U32;
        for (int64_t j = 0; j < n; j++) {
            double d = at(x, r, j) - m, e = exp(d), ref = e / sum;
            double rel = e > 0 ? (fabs(d) + 6) * TEST_U32 + rho_s + 5 * TEST_U32 : 0;
            double bound = SLACK * ref * rel + (double)(n + 2) * FLT_MIN_NORMAL;
            check_elem(w, r * n + j, out[r * n + j], ref, bound);
        }
    }
}

/* Records softmax of x with a variant, runs it, checks it. */
static void run_softmax(struct test_input *x, int v, const char *label)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *y;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_softmax_record(g, x->view, variants[v], &y));
    enum clf_rows_variant taken = expected_variant(v, x, NULL, NULL);
    ck_assert_int_eq(g->nodes[g->n_nodes - 1].iparams[0], taken);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    char what[128];
    snprintf(what, sizeof what, "softmax %s %s%s", label, variant_name[v],
             taken != variants[v] ? " (took per-item)" : "");
    struct worst w = {0, what};
    check_softmax_rows(x, out, &w);
    report(&w);
    free(out);
    clf_graph_destroy(g);
}

/* Shapes for the row reductions: odd row lengths (1, 7, 13, 1001) and
 * lengths around the vector widths 8 and 16 (9, 15, 16, 17, 33), odd row
 * counts, every layout. Dense and head-split inputs are contiguous along
 * the rows (the vector variant runs; head-split rows start at odd offsets),
 * transposed ones are not (it falls back to per-item). */
static const struct {
    int ndim;
    int64_t shape[4];
    enum test_layout lay;
} row_cases[] = {
    {2, {5, 1}, TEST_DENSE},
    {2, {9, 7}, TEST_TRANSPOSED},
    {3, {3, 5, 13}, TEST_HEADSPLIT},
    {4, {1, 3, 5, 7}, TEST_HEADSPLIT},
    {2, {3, 1001}, TEST_DENSE},
    {3, {3, 5, 1001}, TEST_TRANSPOSED},
    {1, {13}, TEST_TRANSPOSED},
    {2, {9, 7}, TEST_DENSE},
    {3, {3, 5, 13}, TEST_DENSE},
    {2, {3, 9}, TEST_HEADSPLIT},
    {2, {4, 15}, TEST_DENSE},
    {3, {2, 3, 16}, TEST_HEADSPLIT},
    {2, {5, 16}, TEST_DENSE},
    {2, {3, 17}, TEST_DENSE},
    {2, {5, 16}, TEST_TRANSPOSED},
    {3, {3, 2, 17}, TEST_HEADSPLIT},
    {2, {3, 33}, TEST_DENSE},
    {1, {1001}, TEST_DENSE},
};
#define N_ROW_CASES (sizeof row_cases / sizeof row_cases[0])

START_TEST(test_softmax_random)
{
    for (size_t c = 0; c < N_ROW_CASES; c++) {
        struct test_input x;
        input_make(&x, row_cases[c].ndim, row_cases[c].shape, row_cases[c].lay, -8, 8);
        test_input_upload(&x);
        char label[64];
        snprintf(label, sizeof label, "%d-D n=%lld rows=%lld %s", row_cases[c].ndim,
                 (long long)row_cases[c].shape[row_cases[c].ndim - 1],
                 (long long)(test_input_numel(&x) / row_cases[c].shape[row_cases[c].ndim - 1]),
                 layout_name[row_cases[c].lay]);
        for (int v = 0; v < N_VARIANTS; v++)
            run_softmax(&x, v, label);
        test_input_free(&x);
    }
}
END_TEST

/* Rows of huge, tiny, constant, masked (-inf) values; a row of only -inf
 * (NaN, as in PyTorch: 0/0); rows whose subtraction overflows to -inf. */
START_TEST(test_softmax_special)
{
    enum { R = 8, N = 6 };
    static const float rows[R][N] = {
        {1e30f, -1e30f, 3e29f, 1e30f, -3e38f, 0.0f},           /* huge: 0.5, 0.5, rest 0 */
        {1e30f, 0.99999994e30f, 1e30f, 1e25f, -1e30f, 1e29f},  /* huge, near ties */
        {1e-30f, -1e-30f, 1e-38f, 3e-39f, 0.0f, -0.0f},        /* tiny (one subnormal) */
        {3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f},                  /* constant: 1/6 */
        {-INFINITY, 1.0f, 2.0f, -INFINITY, 0.5f, -INFINITY},   /* masked */
        {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY}, /* NaN */
        {3.4e38f, -3.4e38f, 3.3e38f, -1.0f, 3.4e38f, 0.0f},    /* x - m overflows to -inf */
        {-87.0f, -103.0f, -120.0f, 0.0f, -150.0f, -200.0f},    /* exps underflow */
    };
    int64_t shape[2] = {R, N};
    static const enum test_layout lays[N_VARIANTS] = {TEST_HEADSPLIT, TEST_TRANSPOSED, TEST_DENSE};
    for (int v = 0; v < N_VARIANTS; v++) {
        struct test_input x;
        input_make(&x, 2, shape, lays[v], 0, 1);
        for (int r = 0; r < R; r++)
            for (int j = 0; j < N; j++)
                x.host[test_input_elem(&x, r * N + j)] = rows[r][j];
        test_input_upload(&x);
        run_softmax(&x, v, "special rows");
        test_input_free(&x);
    }
    /* a row of length 1 is 1 (here for huge and tiny values too) */
    int64_t one[2] = {5, 1};
    static const float vals[5] = {1e30f, -1e30f, 0.0f, 1e-30f, -7.0f};
    for (int v = 0; v < N_VARIANTS; v++) {
        struct test_input x;
        input_make(&x, 2, one, TEST_DENSE, 0, 1);
        for (int r = 0; r < 5; r++)
            x.host[test_input_elem(&x, r)] = vals[r];
        test_input_upload(&x);
        run_softmax(&x, v, "rows of length 1");
        test_input_free(&x);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* LayerNorm                                                                */
/* ------------------------------------------------------------------------ */

/*
 * The kernel (cl/rows.cl) shifts by the pivot p = x_0: a_j = fl(x_j - p)
 * (error <= u |a_j|), d = fl(fl(sum a_j) * fl(1/N)) (summation in any
 * order (N - 1) u sum |a_j|, plus the a_j roundings and two more roundings:
 * |d - mean(a)| <= (N + 2) u abar, abar = mean |a_j|), c_j = fl(a_j - d)
 * (another u |c_j|): |c_j - (x_j - mu)| <= Ec_j = u (|a_j| + (N + 2) abar +
 * |c_j|). The variance v = fl(fl(sum c_j^2) * fl(1/N)) has (N + 2) u from
 * its own roundings, and the errors of c_j move it by 2 sum c_j dc_j / N,
 * where the common part of dc_j (the error of d) cancels since sum c_j = 0,
 * leaving 2u sum |c_j| (|a_j| + |c_j|) / N; adding eps rounds once more:
 *   rho_w = ((N + 2) u var + 2u sum |c_j| (|a_j| + |c_j|) / N) / (var + eps) + u
 * rsqrt (2 ulp = 4u) halves it: rho_r = rho_w / 2 + 4u. Then z_j = c_j r
 * (one rounding) and y_j = fma(z_j, g_j, b_j) (one rounding), with
 * se = sqrt(var + eps):
 *   |z_j - ref z_j| <= Ec_j / se + |z_j| (rho_r + u)
 *   |y_j - ref y_j| <= |g_j| (Ec_j / se + |z_j| (rho_r + u)) + u |y_j|
 * The error is thus relative to the row's standard deviation: a row with
 * mean 1e4 and spread 1 keeps ~N u accuracy (a mean formed as sum x / N
 * would carry u 1e4 / sigma ~ 2e-3 into every output).
 */
static void check_layernorm_rows(const struct test_input *x, const struct test_input *gamma,
                                 const struct test_input *beta, float eps, const float *out,
                                 struct worst *w)
{
    int64_t n = x->shape[x->ndim - 1], rows = test_input_numel(x) / n;
    double *a = malloc((size_t)n * sizeof *a), *c = malloc((size_t)n * sizeof *c);
    for (int64_t r = 0; r < rows; r++) {
        double p = at(x, r, 0), sa = 0, sabs = 0;
        for (int64_t j = 0; j < n; j++) {
            a[j] = at(x, r, j) - p; /* exact in double */
            sa += a[j];
            sabs += fabs(a[j]);
        }
        double mean_a = sa / (double)n, abar = sabs / (double)n, var = 0, cross = 0;
        for (int64_t j = 0; j < n; j++) {
            c[j] = a[j] - mean_a;
            var += c[j] * c[j];
            cross += fabs(c[j]) * (fabs(a[j]) + fabs(c[j]));
        }
        var /= (double)n;
        cross /= (double)n;
        double se = sqrt(var + (double)eps);
        double rho_w = ((double)(n + 2) * TEST_U32 * var + 2 * TEST_U32 * cross) / (var + (double)eps) + TEST_U32;
        double rho_r = rho_w / 2 + 4 * TEST_U32;
        for (int64_t j = 0; j < n; j++) {
            double g = gamma ? gamma->host[test_input_elem(gamma, j)] : 1.0;
            double b = beta ? beta->host[test_input_elem(beta, j)] : 0.0;
            double z = c[j] / se, ref = z * g + b;
            double ec = TEST_U32 * (fabs(a[j]) + (double)(n + 2) * abar + fabs(c[j]));
            double bound = SLACK * (fabs(g) * (ec / se + fabs(z) * (rho_r + TEST_U32)) +
                                    TEST_U32 * fabs(ref));
            check_elem(w, r * n + j, out[r * n + j], ref, bound);
        }
    }
    free(a);
    free(c);
}

static void run_layernorm(struct test_input *x, struct test_input *gamma, struct test_input *beta, float eps,
                          int v, const char *label)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *y;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_layernorm_record(g, x->view, NULL, gamma ? gamma->view : NULL,
                                                beta ? beta->view : NULL, eps, variants[v], &y));
    enum clf_rows_variant taken = expected_variant(v, x, gamma, beta);
    ck_assert_int_eq(g->nodes[g->n_nodes - 1].iparams[0], taken);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    char what[128];
    snprintf(what, sizeof what, "layernorm %s%s%s %s%s", label, gamma ? " gamma" : "",
             beta ? " beta" : "", variant_name[v],
             taken != variants[v] ? " (took per-item)" : "");
    struct worst w = {0, what};
    check_layernorm_rows(x, gamma, beta, eps, out, &w);
    report(&w);
    free(out);
    clf_graph_destroy(g);
}

START_TEST(test_layernorm_random)
{
    for (size_t c = 0; c < N_ROW_CASES; c++) {
        int64_t n = row_cases[c].shape[row_cases[c].ndim - 1];
        struct test_input x, gamma, beta, gamma_d, beta_d;
        input_make(&x, row_cases[c].ndim, row_cases[c].shape, row_cases[c].lay, -2, 3);
        input_make(&gamma, 1, &n, c % 2 ? TEST_TRANSPOSED : TEST_DENSE, 0.5, 1.5);
        input_make(&beta, 1, &n, c % 3 ? TEST_DENSE : TEST_TRANSPOSED, -1, 1);
        input_make(&gamma_d, 1, &n, TEST_DENSE, 0.5, 1.5); /* contiguous: the vector path */
        input_make(&beta_d, 1, &n, TEST_DENSE, -1, 1);
        test_input_upload(&x);
        test_input_upload(&gamma);
        test_input_upload(&beta);
        test_input_upload(&gamma_d);
        test_input_upload(&beta_d);
        char label[64];
        snprintf(label, sizeof label, "%d-D n=%lld rows=%lld %s", row_cases[c].ndim,
                 (long long)n, (long long)(test_input_numel(&x) / n), layout_name[row_cases[c].lay]);
        for (int v = 0; v < N_VARIANTS; v++) {
            /* with both, with only one, and with neither of gamma / beta */
            run_layernorm(&x, &gamma, &beta, 1e-5f, v, label);
            run_layernorm(&x, &gamma_d, &beta_d, 1e-5f, v, label);
            run_layernorm(&x, c % 2 ? &gamma : NULL, c % 2 ? NULL : &beta, 1e-5f, v, label);
            if (c == 0 || c == 4)
                run_layernorm(&x, NULL, NULL, 1e-5f, v, label);
        }
        test_input_free(&x);
        test_input_free(&gamma);
        test_input_free(&beta);
        test_input_free(&gamma_d);
        test_input_free(&beta_d);
    }
}
END_TEST

/* Rows with mean 1e4 and spread ~1 (N = 13 and 1001), a constant row (var
 * 0: y = beta), a row whose pivot is an outlier, a large eps. */
START_TEST(test_layernorm_large_mean)
{
    static const int64_t lens[2] = {13, 1001};
    for (int l = 0; l < 2; l++) {
        int64_t n = lens[l], shape[2] = {7, n};
        struct test_input x, gamma, beta;
        input_make(&x, 2, shape, l ? TEST_DENSE : TEST_TRANSPOSED, 1e4 - 0.5, 1e4 + 0.5);
        input_make(&gamma, 1, &n, TEST_DENSE, 0.5, 1.5);
        input_make(&beta, 1, &n, TEST_DENSE, -1, 1);
        for (int64_t j = 0; j < n; j++) /* row 5: constant */
            x.host[test_input_elem(&x, 5 * n + j)] = 12345.0f;
        x.host[test_input_elem(&x, 6 * n)] = 1e4f + 40.0f; /* row 6: the pivot is an outlier */
        test_input_upload(&x);
        test_input_upload(&gamma);
        test_input_upload(&beta);
        char label[64];
        snprintf(label, sizeof label, "mean 1e4 n=%lld", (long long)n);
        for (int v = 0; v < N_VARIANTS; v++) {
            run_layernorm(&x, &gamma, &beta, 1e-5f, v, label);
            run_layernorm(&x, NULL, NULL, 1e-5f, v, label);
            run_layernorm(&x, &gamma, NULL, 0.25f, v, label);
        }
        test_input_free(&x);
        test_input_free(&gamma);
        test_input_free(&beta);
    }
}
END_TEST

/*
 * LN(x + res) in one kernel (clf_op_add_layernorm, each variant): bitwise
 * equal to clf_op_add then the same variant's layernorm (the fused kernel
 * rounds t = fl(x + res) once, the same way at each read, and then does
 * what the layernorm does to t), and within the layernorm bound of the
 * double-precision layernorm of the rounded t. x and res in different
 * layouts (res transposed or dense), so both strides are honoured.
 */
static void run_add_layernorm(struct test_input *x, struct test_input *res,
                              struct test_input *gamma, struct test_input *beta, int v,
                              const char *label)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *y, *t, *y2;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_layernorm_record(g, x->view, res->view, gamma->view, beta->view,
                                                1e-5f, variants[v], &y));
    enum clf_rows_variant taken = expected_variant(v, x, gamma, beta);
    if (taken == CLF_ROWS_PER_ITEM_VEC && !last_contiguous(res))
        taken = CLF_ROWS_PER_ITEM;
    ck_assert_int_eq(g->nodes[g->n_nodes - 1].iparams[0], taken);
    ck_assert_ok(ctx, clf_op_add(g, x->view, res->view, &t));
    ck_assert_ok(ctx, clf_rows_layernorm_record(g, t, NULL, gamma->view, beta->view, 1e-5f,
                                                taken, &y2));
    ck_assert_int_eq(g->nodes[g->n_nodes - 1].iparams[0], taken);
    ck_assert_ok(ctx, clf_graph_keep(g, y));
    test_poison(y);
    test_poison(y2);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y), *unfused = test_read_all(y2);
    int64_t numel = test_input_numel(x);
    for (int64_t i = 0; i < numel; i++)
        ck_assert_msg(memcmp(&out[i], &unfused[i], sizeof(float)) == 0,
                      "add_layernorm %s %s: element %lld is %.9g fused, %.9g as add + layernorm",
                      label, variant_name[taken], (long long)i, (double)out[i],
                      (double)unfused[i]);
    /* t = fl(x + res) on the host (one IEEE rounding, as the device's) */
    struct test_input th;
    test_input_make(&th, x->ndim, x->shape, TEST_DENSE);
    for (int64_t i = 0; i < numel; i++)
        th.host[test_input_elem(&th, i)] =
            x->host[test_input_elem(x, i)] + res->host[test_input_elem(res, i)];
    char what[128];
    snprintf(what, sizeof what, "add_layernorm %s %s", label, variant_name[taken]);
    struct worst w = {0, what};
    check_layernorm_rows(&th, gamma, beta, 1e-5f, out, &w);
    report(&w);
    test_input_free(&th);
    free(out);
    free(unfused);
    clf_graph_destroy(g);
}

START_TEST(test_add_layernorm)
{
    for (size_t c = 0; c < N_ROW_CASES; c++) {
        int64_t n = row_cases[c].shape[row_cases[c].ndim - 1];
        struct test_input x, res, gamma, beta;
        input_make(&x, row_cases[c].ndim, row_cases[c].shape, row_cases[c].lay, -2, 3);
        input_make(&res, row_cases[c].ndim, row_cases[c].shape,
                   c % 2 ? TEST_TRANSPOSED : TEST_DENSE, -3, 2);
        input_make(&gamma, 1, &n, TEST_DENSE, 0.5, 1.5);
        input_make(&beta, 1, &n, TEST_DENSE, -1, 1);
        test_input_upload(&x);
        test_input_upload(&res);
        test_input_upload(&gamma);
        test_input_upload(&beta);
        char label[64];
        snprintf(label, sizeof label, "%d-D n=%lld %s + %s", row_cases[c].ndim, (long long)n,
                 layout_name[row_cases[c].lay], layout_name[c % 2 ? TEST_TRANSPOSED : TEST_DENSE]);
        for (int v = 0; v < N_VARIANTS; v++)
            run_add_layernorm(&x, &res, &gamma, &beta, v, label);
        test_input_free(&x);
        test_input_free(&res);
        test_input_free(&gamma);
        test_input_free(&beta);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Embedding                                                                */
/* ------------------------------------------------------------------------ */

enum { V = 11, D = 7 };

/* A [V, D] table in the layout given (TEST_TRANSPOSED: [D, V] storage).
 * D = 7 is below every vector width: embedding_rows copies by its scalar
 * tail here; its vector loop is checked bit for bit by test-bert's ragged
 * batches (rows of 384). */
static void make_table(struct test_input *t, enum test_layout layout)
{
    int64_t shape[2] = {V, D};
    input_make(t, 2, shape, layout, -1, 1);
    test_input_upload(t);
}

/* Checks out [ids..., D] against the table and the host ids. */
static void check_gather(const struct test_input *t, const int32_t *ids, int64_t n_ids,
                         const float *out)
{
    for (int64_t i = 0; i < n_ids; i++)
        for (int64_t k = 0; k < D; k++) {
            float ref = t->host[test_input_elem(t, (int64_t)ids[i] * D + k)];
            ck_assert_msg(out[i * D + k] == ref, "embedding: out[%lld][%lld] = %g, expected %g",
                          (long long)i, (long long)k, out[i * D + k], ref);
        }
}

/* The table dense (embedding_rows: a work-item per row) and transposed
 * (embedding_gather: per element). */
START_TEST(test_embedding)
{
    const enum test_layout layout = _i ? TEST_TRANSPOSED : TEST_DENSE;
    struct clf_ctx *ctx = test_ctx();
    struct test_input table;
    make_table(&table, layout);
    static const struct {
        int ndim;
        int64_t shape[3];
        bool transposed; /* ids a transposed view (strided) */
    } cases[] = {
        {1, {5}, false},
        {2, {2, 3}, true},
        {3, {2, 2, 3}, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int nd = cases[c].ndim;
        int64_t n_ids = 1, st[3], sshape[3];
        for (int d = 0; d < nd; d++)
            n_ids *= cases[c].shape[d];
        int32_t ids[12], storage[12];
        for (int64_t i = 0; i < n_ids; i++)
            ids[i] = (int32_t)(test_rand_u64() % V);
        /* storage layout: dense, or the last two dimensions swapped */
        for (int d = 0; d < nd; d++)
            sshape[d] = cases[c].shape[d];
        if (cases[c].transposed) {
            sshape[nd - 1] = cases[c].shape[nd - 2];
            sshape[nd - 2] = cases[c].shape[nd - 1];
        }
        int64_t s = 1;
        for (int d = nd - 1; d >= 0; d--) {
            st[d] = s;
            s *= sshape[d];
        }
        if (cases[c].transposed) {
            int64_t tmp = st[nd - 1];
            st[nd - 1] = st[nd - 2];
            st[nd - 2] = tmp;
        }
        struct clf_tensor *base, *view, *copied, *y;
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, &n_ids, &base));
        ck_assert_ok(ctx, clf_tensor_view(base, nd, cases[c].shape, st, 0, &view));
        struct clf_graph *g;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        /* the ids reach the gather through a copy node: the host check must
         * wait for it */
        ck_assert_ok(ctx, clf_op_copy(g, view, &copied));
        ck_assert_ok(ctx, clf_op_embedding(g, table.view, copied, &y));
        ck_assert_int_eq(clf_tensor_ndim(y), nd + 1);
        for (int d = 0; d < nd; d++)
            ck_assert_int_eq(clf_tensor_dim(y, d), cases[c].shape[d]);
        ck_assert_int_eq(clf_tensor_dim(y, nd), D);

        for (int round = 0; round < 4; round++) {
            /* rounds 1 and 2 put -1 and V at the last position */
            int32_t bad = round == 1 ? -1 : V;
            int64_t pos = n_ids - 1;
            int32_t saved = ids[pos];
            if (round == 1 || round == 2)
                ids[pos] = bad;
            for (int64_t i = 0; i < n_ids; i++) { /* scatter into the storage order */
                int64_t rest = i, o = 0;
                for (int d = nd - 1; d >= 0; d--) {
                    o += (rest % cases[c].shape[d]) * st[d];
                    rest /= cases[c].shape[d];
                }
                storage[o] = ids[i];
            }
            ck_assert_ok(ctx, clf_tensor_write(base, storage, (size_t)n_ids * sizeof *storage));
            test_poison(y);
            if (round == 1 || round == 2) {
                ck_assert_status(ctx, clf_graph_run(g), CLF_E_INVALID_ARG);
                char want[32];
                snprintf(want, sizeof want, "id %d", (int)bad);
                ck_assert_msg(strstr(clf_ctx_last_error(ctx), want) != NULL,
                              "message does not name the id: %s", clf_ctx_last_error(ctx));
                char where[64] = "[";
                int64_t rest = pos, idx[3];
                for (int d = nd - 1; d >= 0; d--) {
                    idx[d] = rest % cases[c].shape[d];
                    rest /= cases[c].shape[d];
                }
                for (int d = 0; d < nd; d++)
                    snprintf(where + strlen(where), sizeof where - strlen(where), "%s%lld",
                             d ? ", " : "", (long long)idx[d]);
                ck_assert_msg(strstr(clf_ctx_last_error(ctx), where) != NULL,
                              "message does not name position %s]: %s", where,
                              clf_ctx_last_error(ctx));
                ids[pos] = saved;
                continue;
            }
            /* rounds 0 and 3: valid ids; round 3 shows the context (and the
             * graph) work after a failed run */
            ck_assert_ok(ctx, clf_graph_run(g));
            float *out = test_read_all(y);
            check_gather(&table, ids, n_ids, out);
            free(out);
        }
        clf_graph_destroy(g);
        clf_tensor_destroy(view);
        clf_tensor_destroy(base);
    }
    test_input_free(&table);
}
END_TEST

/*
 * BERT's embedding layer in one kernel (clf_rows_embedding_ln_record):
 * bitwise equal to the gather, the type-row bias add, the position add and
 * the vector layernorm recorded one by one in the same graph, and within
 * the layernorm bound of the double-precision layernorm of the rounded sum;
 * with and without a token-type row, for a width with a vector tail (37)
 * and one without (64); ids given through a transposed (strided) view; an
 * out-of-range id fails the run, naming it.
 */
static void run_embedding_ln(int64_t d, bool with_type)
{
    struct clf_ctx *ctx = test_ctx();
    enum { EV = 50, EB = 3, ES = 5, EP = 7 };
    int64_t ws[2] = {EV, d}, ps[2] = {EP, d};
    struct test_input word, pos, type, gamma, beta;
    input_make(&word, 2, ws, TEST_DENSE, -1, 1);
    input_make(&pos, 2, ps, TEST_DENSE, -0.5, 0.5);
    input_make(&type, 1, &d, TEST_DENSE, -0.2, 0.2);
    input_make(&gamma, 1, &d, TEST_DENSE, 0.5, 1.5);
    input_make(&beta, 1, &d, TEST_DENSE, -1, 1);
    struct test_input *all[5] = {&word, &pos, &type, &gamma, &beta};
    for (int i = 0; i < 5; i++)
        test_input_upload(all[i]);
    /* ids [EB, ES] as a view of [ES, EB] storage */
    int32_t ids[EB * ES], storage[EB * ES];
    for (int i = 0; i < EB * ES; i++)
        ids[i] = (int32_t)(test_rand_u64() % EV);
    for (int b = 0; b < EB; b++)
        for (int t = 0; t < ES; t++)
            storage[t * EB + b] = ids[b * ES + t];
    int64_t n_ids = EB * ES, is[2] = {EB, ES}, ist[2] = {1, EB};
    struct clf_tensor *ibase, *iview, *y, *w1, *w2, *w3, *y2;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, &n_ids, &ibase));
    ck_assert_ok(ctx, clf_tensor_write(ibase, storage, sizeof storage));
    ck_assert_ok(ctx, clf_tensor_view(ibase, 2, is, ist, 0, &iview));
    struct clf_tensor *tv = with_type ? type.view : NULL;
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_embedding_ln_record(g, word.view, iview, pos.view, tv, gamma.view,
                                                   beta.view, 1e-12f, true, &y));
    ck_assert_int_eq(clf_tensor_ndim(y), 3);
    ck_assert_int_eq(clf_tensor_dim(y, 2), d);
    ck_assert_ok(ctx, clf_graph_keep(g, y));
    ck_assert_ok(ctx, clf_op_embedding(g, word.view, iview, &w1));
    if (with_type)
        ck_assert_ok(ctx, clf_op_bias_add(g, w1, type.view, &w2));
    else
        w2 = w1;
    ck_assert_ok(ctx, clf_op_posenc_add(g, w2, pos.view, &w3));
    ck_assert_ok(ctx, clf_rows_layernorm_record(g, w3, NULL, gamma.view, beta.view, 1e-12f,
                                                CLF_ROWS_PER_ITEM_VEC, &y2));
    ck_assert_int_eq(g->nodes[g->n_nodes - 1].iparams[0], CLF_ROWS_PER_ITEM_VEC);
    test_poison(y);
    test_poison(y2);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y), *unfused = test_read_all(y2);
    int64_t numel = n_ids * d, shape3[3] = {EB, ES, d};
    for (int64_t i = 0; i < numel; i++)
        ck_assert_msg(memcmp(&out[i], &unfused[i], sizeof(float)) == 0,
                      "embedding_ln d=%lld%s: element %lld is %.9g fused, %.9g op by op",
                      (long long)d, with_type ? " type" : "", (long long)i, (double)out[i],
                      (double)unfused[i]);
    struct test_input sum;
    test_input_make(&sum, 3, shape3, TEST_DENSE);
    for (int64_t r = 0; r < n_ids; r++)
        for (int64_t j = 0; j < d; j++) {
            float e = word.host[test_input_elem(&word, ids[r] * d + j)];
            if (with_type)
                e += type.host[test_input_elem(&type, j)];
            e += pos.host[test_input_elem(&pos, (r % ES) * d + j)];
            sum.host[test_input_elem(&sum, r * d + j)] = e;
        }
    char what[64];
    snprintf(what, sizeof what, "embedding_ln d=%lld%s", (long long)d, with_type ? " type" : "");
    struct worst w = {0, what};
    check_layernorm_rows(&sum, &gamma, &beta, 1e-12f, out, &w);
    report(&w);
    test_input_free(&sum);
    free(out);
    free(unfused);
    clf_graph_destroy(g);

    /* an id out of range fails the run with its position */
    storage[2 * EB + 1] = EV; /* ids[1][2] */
    ck_assert_ok(ctx, clf_tensor_write(ibase, storage, sizeof storage));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_embedding_ln_record(g, word.view, iview, pos.view, tv, gamma.view,
                                                   beta.view, 1e-12f, true, &y));
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "[1, 2]") != NULL, "%s",
                  clf_ctx_last_error(ctx));
    clf_graph_destroy(g);
    clf_tensor_destroy(iview);
    clf_tensor_destroy(ibase);
    for (int i = 0; i < 5; i++)
        test_input_free(all[i]);
}

START_TEST(test_embedding_ln)
{
    run_embedding_ln(37, true);
    run_embedding_ln(64, true);
    run_embedding_ln(37, false);
}
END_TEST

/* Without the host check, out-of-range ids are clamped to [0, V - 1]
 * (both kernels, as test_embedding). */
START_TEST(test_embedding_clamp)
{
    struct clf_ctx *ctx = test_ctx();
    struct test_input table;
    make_table(&table, _i ? TEST_TRANSPOSED : TEST_DENSE);
    int32_t ids[6] = {-1, V, V + 1000, 3, INT32_MIN, INT32_MAX};
    int32_t clamped[6] = {0, V - 1, V - 1, 3, 0, V - 1};
    int64_t n = 6;
    struct clf_tensor *t, *y;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, &n, &t));
    ck_assert_ok(ctx, clf_tensor_write(t, ids, sizeof ids));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_rows_embedding_record(g, table.view, t, false, &y));
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    check_gather(&table, clamped, n, out);
    free(out);
    clf_graph_destroy(g);
    clf_tensor_destroy(t);
    test_input_free(&table);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Variant choice and errors                                                */
/* ------------------------------------------------------------------------ */

START_TEST(test_auto_variant)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    /* the per-group kernels reduce through subgroups where the device has
     * them (common.cl): Intel's runtime must say it has, since that pass
     * is where this suite runs that path */
    if (!strcmp(info.platform_name, "Intel(R) OpenCL"))
        ck_assert_msg(info.subgroups, "Intel's runtime reports no subgroups");
    enum clf_rows_variant want =
        info.type == CLF_DEVICE_CPU ? CLF_ROWS_PER_ITEM : CLF_ROWS_PER_GROUP;
    ck_assert_int_eq(clf_rows_auto_variant(ctx), want);
    /* contiguous rows on a CPU device take the vector variant; strided rows
     * (x transposed, or a strided gamma) the per-item one */
    enum clf_rows_variant want_dense =
        info.type == CLF_DEVICE_CPU ? CLF_ROWS_PER_ITEM_VEC : CLF_ROWS_PER_GROUP;
    int64_t shape[2] = {3, 5}, tshape[2] = {5, 3}, tstr[2] = {1, 5}, n10 = 10, n5 = 5, two = 2;
    struct clf_tensor *x, *xt, *g10, *gs, *y;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &x));
    ck_assert_ok(ctx, clf_tensor_view(x, 2, tshape, tstr, 0, &xt));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n10, &g10));
    ck_assert_ok(ctx, clf_tensor_view(g10, 1, &n5, &two, 0, &gs));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_softmax(g, x, &y));
    ck_assert_ok(ctx, clf_op_layernorm(g, x, NULL, NULL, 1e-5f, &y));
    ck_assert_ok(ctx, clf_op_softmax(g, xt, &y));
    ck_assert_ok(ctx, clf_op_layernorm(g, xt, NULL, NULL, 1e-5f, &y));
    ck_assert_ok(ctx, clf_op_layernorm(g, x, gs, NULL, 1e-5f, &y));
    ck_assert_ok(ctx, clf_op_layernorm(g, x, NULL, gs, 1e-5f, &y));
    ck_assert_int_eq(g->nodes[0].iparams[0], want_dense);
    ck_assert_int_eq(g->nodes[1].iparams[0], want_dense);
    for (int i = 2; i < 6; i++)
        ck_assert_int_eq(g->nodes[i].iparams[0], want);
    clf_graph_destroy(g);
    clf_tensor_destroy(gs);
    clf_tensor_destroy(g10);
    clf_tensor_destroy(xt);
    clf_tensor_destroy(x);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s2[2] = {3, 5}, s1[1] = {5}, s4[1] = {4}, s4d[4] = {1, 2, 2, 2};
    struct clf_tensor *x, *xi, *b5, *b4, *b2d, *ids, *ids4, *idsf, *tab1, *y;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s2, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s2, &xi));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &b5));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s4, &b4));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s2, &b2d));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 1, s1, &ids));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 4, s4d, &ids4));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &idsf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &tab1));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));

#define EXPECT(call, status, word)                                                              \
    do {                                                                                         \
        y = (struct clf_tensor *)ctx;                                                            \
        ck_assert_status(ctx, call, status);                                                     \
        ck_assert_ptr_null(y);                                                                   \
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), word) != NULL,                              \
                      "%s: message \"%s\" lacks \"%s\"", #call, clf_ctx_last_error(ctx), word);  \
    } while (0)

    /* bias_add */
    EXPECT(clf_op_bias_add(g, NULL, b5, &y), CLF_E_INVALID_ARG, "bias_add");
    EXPECT(clf_op_bias_add(g, x, NULL, &y), CLF_E_INVALID_ARG, "bias");
    EXPECT(clf_op_bias_add(g, x, b4, &y), CLF_E_SHAPE, "bias");
    EXPECT(clf_op_bias_add(g, x, b2d, &y), CLF_E_SHAPE, "bias");
    EXPECT(clf_op_bias_add(g, xi, b5, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_op_bias_add(g, x, ids, &y), CLF_E_SHAPE, "f32");
    ck_assert_status(ctx, clf_op_bias_add(g, x, b5, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_bias_add(NULL, x, b5, &y), CLF_E_INVALID_ARG);
    /* act */
    EXPECT(clf_op_act(g, NULL, CLF_ACT_RELU, &y), CLF_E_INVALID_ARG, "act");
    EXPECT(clf_op_act(g, xi, CLF_ACT_RELU, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_op_act(g, x, (enum clf_act)99, &y), CLF_E_INVALID_ARG, "activation");
    EXPECT(clf_op_act(g, x, (enum clf_act)-1, &y), CLF_E_INVALID_ARG, "activation");
    /* glu: x [3, 5] has an odd last dimension */
    EXPECT(clf_op_glu(g, NULL, CLF_ACT_GELU, &y), CLF_E_INVALID_ARG, "glu");
    EXPECT(clf_op_glu(g, xi, CLF_ACT_GELU, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_op_glu(g, x, CLF_ACT_GELU, &y), CLF_E_SHAPE, "odd");
    EXPECT(clf_op_glu(g, b4, (enum clf_act)99, &y), CLF_E_INVALID_ARG, "activation");
    ck_assert_status(ctx, clf_op_glu(g, b4, CLF_ACT_GELU, NULL), CLF_E_INVALID_ARG);
    /* softmax */
    EXPECT(clf_op_softmax(g, NULL, &y), CLF_E_INVALID_ARG, "softmax");
    EXPECT(clf_op_softmax(g, xi, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_rows_softmax_record(g, x, (enum clf_rows_variant)7, &y), CLF_E_INVALID_ARG,
           "variant");
    ck_assert_status(ctx, clf_op_softmax(g, x, NULL), CLF_E_INVALID_ARG);
    /* layernorm */
    EXPECT(clf_op_layernorm(g, NULL, NULL, NULL, 1e-5f, &y), CLF_E_INVALID_ARG, "layernorm");
    EXPECT(clf_op_layernorm(g, xi, NULL, NULL, 1e-5f, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_op_layernorm(g, x, b4, NULL, 1e-5f, &y), CLF_E_SHAPE, "gamma");
    EXPECT(clf_op_layernorm(g, x, NULL, b4, 1e-5f, &y), CLF_E_SHAPE, "beta");
    EXPECT(clf_op_layernorm(g, x, b5, ids, 1e-5f, &y), CLF_E_SHAPE, "beta");
    EXPECT(clf_op_layernorm(g, x, b2d, NULL, 1e-5f, &y), CLF_E_SHAPE, "gamma");
    EXPECT(clf_op_layernorm(g, x, NULL, NULL, 0.0f, &y), CLF_E_INVALID_ARG, "eps");
    EXPECT(clf_op_layernorm(g, x, NULL, NULL, -1e-5f, &y), CLF_E_INVALID_ARG, "eps");
    EXPECT(clf_op_layernorm(g, x, NULL, NULL, NAN, &y), CLF_E_INVALID_ARG, "eps");
    EXPECT(clf_op_layernorm(g, x, NULL, NULL, INFINITY, &y), CLF_E_INVALID_ARG, "eps");
    EXPECT(clf_op_add_layernorm(g, x, NULL, NULL, NULL, 1e-5f, &y), CLF_E_INVALID_ARG, "residual");
    EXPECT(clf_op_add_layernorm(g, x, xi, NULL, NULL, 1e-5f, &y), CLF_E_SHAPE, "residual");
    EXPECT(clf_op_add_layernorm(g, x, b5, NULL, NULL, 1e-5f, &y), CLF_E_SHAPE, "residual");
    EXPECT(clf_op_add_layernorm(g, x, x, b4, NULL, 1e-5f, &y), CLF_E_SHAPE, "gamma");
    EXPECT(clf_op_add_layernorm(g, x, x, NULL, NULL, 0.0f, &y), CLF_E_INVALID_ARG, "eps");
    ck_assert_int_eq(clf_op_add_layernorm(NULL, x, x, NULL, NULL, 1e-5f, &y), CLF_E_INVALID_ARG);
    /* embedding */
    /* embedding_ln: x [3, 5] as the word and position tables, b5 the rows */
    {
        int64_t s24[2] = {2, 4}, s1x[2] = {1, 3};
        struct clf_tensor *ids2, *ids1;
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s24, &ids2));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s1x, &ids1));
        EXPECT(clf_rows_embedding_ln_record(g, x, ids, x, b5, b5, b5, 1e-5f, true, &y),
               CLF_E_SHAPE, "ids");
        EXPECT(clf_rows_embedding_ln_record(g, x, ids2, x, b5, b5, b5, 1e-5f, true, &y),
               CLF_E_SHAPE, "position");
        EXPECT(clf_rows_embedding_ln_record(g, xi, ids1, x, b5, b5, b5, 1e-5f, true, &y),
               CLF_E_SHAPE, "f32");
        EXPECT(clf_rows_embedding_ln_record(g, x, ids1, x, b4, b5, b5, 1e-5f, true, &y),
               CLF_E_SHAPE, "type");
        EXPECT(clf_rows_embedding_ln_record(g, x, ids1, x, NULL, NULL, b5, 1e-5f, true, &y),
               CLF_E_INVALID_ARG, "gamma");
        EXPECT(clf_rows_embedding_ln_record(g, x, ids1, x, NULL, b5, b4, 1e-5f, true, &y),
               CLF_E_SHAPE, "beta");
        EXPECT(clf_rows_embedding_ln_record(g, x, ids1, x, NULL, b5, b5, 0.0f, true, &y),
               CLF_E_INVALID_ARG, "eps");
        clf_tensor_destroy(ids2);
        clf_tensor_destroy(ids1);
    }
    EXPECT(clf_op_embedding(g, NULL, ids, &y), CLF_E_INVALID_ARG, "table");
    EXPECT(clf_op_embedding(g, x, NULL, &y), CLF_E_INVALID_ARG, "ids");
    EXPECT(clf_op_embedding(g, xi, ids, &y), CLF_E_SHAPE, "f32");
    EXPECT(clf_op_embedding(g, x, idsf, &y), CLF_E_SHAPE, "i32");
    EXPECT(clf_op_embedding(g, tab1, ids, &y), CLF_E_SHAPE, "2-D");
    EXPECT(clf_op_embedding(g, x, ids4, &y), CLF_E_SHAPE, "ids");
#undef EXPECT

    /* a tensor of another context is refused */
    struct clf_ctx *other = NULL;
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = "";
    ck_assert_int_eq(clf_ctx_create(&p, &other), CLF_OK);
    struct clf_tensor *foreign;
    ck_assert_ok(other, clf_tensor_create(other, CLF_F32, 1, s1, &foreign));
    ck_assert_status(ctx, clf_op_bias_add(g, x, foreign, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_layernorm(g, x, foreign, NULL, 1e-5f, &y), CLF_E_INVALID_ARG);
    clf_tensor_destroy(foreign);
    clf_ctx_destroy(other);

    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_graph_run(g));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xi);
    clf_tensor_destroy(b5);
    clf_tensor_destroy(b4);
    clf_tensor_destroy(b2d);
    clf_tensor_destroy(ids);
    clf_tensor_destroy(ids4);
    clf_tensor_destroy(idsf);
    clf_tensor_destroy(tab1);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("rows");
    TCase *tc = tcase_create("rows");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_auto_variant);
    tcase_add_test(tc, test_bias_add);
    tcase_add_test(tc, test_act);
    tcase_add_test(tc, test_glu);
    tcase_add_test(tc, test_erf);
    tcase_add_test(tc, test_softmax_random);
    tcase_add_test(tc, test_softmax_special);
    tcase_add_test(tc, test_layernorm_random);
    tcase_add_test(tc, test_layernorm_large_mean);
    tcase_add_test(tc, test_add_layernorm);
    tcase_add_loop_test(tc, test_embedding, 0, 2);
    tcase_add_loop_test(tc, test_embedding_clamp, 0, 2);
    tcase_add_test(tc, test_embedding_ln);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
