/*
 * FFN activation quantisers (lib/ops/actq.c, cl/actq.cl): clf_op_actq
 * against a host reference applying the same rule, the calibration, the
 * --ffn-act grammar and the argument errors. Seed printed by test_seed.
 *
 * Exactness: every output is either a given value (α, a level) or one fp32
 * operation on exact operands (code·s; PWL tails fma(code, s2, p) with
 * fl(|x| − p) as the quotient's numerator, the same float operations
 * here), and the codes are rne of the exact quotient on the device
 * (q_rne_div). The host takes rne of the double quotient of the two
 * floats: an exact tie k + ½ is representable, and a non-tie below 2^23
 * differs from every half-integer by at least 2^−25·(1/2^23) relative >
 * 2^−53, so the double quotient is on the same side. So outputs must match
 * bit for bit (NaN: both NaN). The exception is BINARY with α = mean|x|
 * per row, where the device sums in another order: α is checked within
 * γ_n relative (below) and the sign pattern exactly.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Internal (lib/ops/actq.c): the op with an explicit BINARY-mean variant
 * (0: one work-item per row, 1: one work-group per row). */
enum clf_status clf_actq_record(struct clf_graph *g, struct clf_tensor *x,
                                const struct clf_actq *q, int variant, struct clf_tensor **y);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

enum layout { DENSE, TRANSPOSED, PADDED };
static const char *layout_name[] = {"dense", "transposed", "padded"};

/* A strided input with values uniform in [-3, 3). */
static void input_make(struct test_input *in, int ndim, const int64_t *shape, enum layout lay)
{
    memset(in, 0, sizeof *in);
    in->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        in->shape[k] = shape[k];
    /* dense strides of the storage order; TRANSPOSED swaps the last two
     * dimensions in storage (1-D: stride 2), PADDED pads rows by 3 and
     * offsets by 5 */
    int64_t st = 1;
    in->offset = lay == PADDED ? 5 : 0;
    if (lay == TRANSPOSED && ndim >= 2) {
        in->strides[ndim - 2] = 1;
        in->strides[ndim - 1] = shape[ndim - 2];
        st = shape[ndim - 2] * shape[ndim - 1];
        for (int k = ndim - 3; k >= 0; k--) {
            in->strides[k] = st;
            st *= shape[k];
        }
    } else {
        st = lay == TRANSPOSED ? 2 : 1;
        for (int k = ndim - 1; k >= 0; k--) {
            in->strides[k] = st;
            st *= shape[k] + (lay == PADDED && k == ndim - 1 ? 3 : 0);
        }
    }
    in->total = (size_t)(st + in->offset);
    test_input_alloc(in);
    test_fill_uniform(in->host, in->total, -3, 3);
}

static double rne_div(float x, float s)
{
    return nearbyint((double)x / (double)s);
}

/* The reference quantiser for one element (α: BINARY's α). */
static float ref_apply(const struct clf_actq *q, float x, float alpha)
{
    if (isnan(x) || q->kind == CLF_ACTQ_NONE)
        return x;
    switch (q->kind) {
    case CLF_ACTQ_BINARY:
        return x >= 0.0f ? alpha : -alpha;
    case CLF_ACTQ_STEPS: {
        int i = 0;
        while (i < q->n_thresholds && q->thresholds[i] <= x)
            i++;
        return q->levels[i];
    }
    case CLF_ACTQ_PWL: {
        double L = (1 << (q->bits - 1)) - 1;
        float p = q->breakpoint, c = q->clip;
        float s1 = (float)((double)p / L), s2 = (float)(((double)c - p) / L);
        float a = fabsf(x), y;
        if (a <= p) {
            float k = (float)fmin(rne_div(a, s1), L);
            y = k == 0.0f ? 0.0f : k * s1;
        } else {
            float k = a > c ? (float)L : (float)fmin(rne_div(a - p, s2), L);
            y = fmaf(k, s2, p);
        }
        return x < 0.0f && y != 0.0f ? -y : y;
    }
    case CLF_ACTQ_LSQ: {
        double qn = q->is_signed ? (1 << (q->bits - 1)) : 0;
        double qp = q->is_signed ? (1 << (q->bits - 1)) - 1 : (1 << q->bits) - 1;
        float k = (float)fmin(fmax(isinf(x) ? x : rne_div(x, q->step), -qn), qp);
        return k == 0.0f ? 0.0f : k * q->step;
    }
    default:
        return NAN;
    }
}

static bool same_bits(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Runs the op (variant −1: the public call) on in; returns y (malloc'd). */
static float *run_actq(const struct test_input *in, const struct clf_actq *q, int variant)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *y;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    if (variant < 0)
        ck_assert_ok(ctx, clf_op_actq(g, in->view, q, &y));
    else
        ck_assert_ok(ctx, clf_actq_record(g, in->view, q, variant, &y));
    ck_assert_int_eq(clf_tensor_ndim(y), in->ndim);
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = test_read_all(y);
    clf_graph_destroy(g);
    return out;
}

static double gauss(void)
{
    double u1 = test_rand_uniform(0x1p-60, 1), u2 = test_rand_uniform(0, 1);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* ------------------------------------------------------------------------ */
/* Every kind, bit for bit                                                  */
/* ------------------------------------------------------------------------ */

static const struct {
    int ndim;
    int64_t shape[4];
    enum layout lay;
} shapes[] = {
    {2, {7, 13}, DENSE},
    {3, {3, 5, 17}, TRANSPOSED},
    {1, {1001}, TRANSPOSED},
    {4, {2, 3, 1, 33}, PADDED},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static struct clf_actq make_q(enum clf_actq_kind kind)
{
    struct clf_actq q;
    memset(&q, 0, sizeof q);
    q.kind = kind;
    return q;
}

/*
 * Specials and exact ties placed among the random values: the LSQ steps
 * are powers of two and the PWL quantiser has s1 = 0.125 (p = 0.875, 4
 * bits: L = 7) and s2 = 0.25 (c = 2.625), so (k + ½)·s and p + (k + ½)·s2
 * are exact ties, rounded to the even code.
 */
static const float specials[] = {NAN,    INFINITY, -INFINITY, 0.0f,    -0.0f,   0.0625f,
                                 -0.1875f, 0.3125f, 0.125f,   1.0f,    1.125f,  -1.375f,
                                 2.5f,    -2.625f,  2.75f,    0.375f,  -0.625f, 0.875f,
                                 -0.875f, 1e30f,   -1e30f,    1e-30f,  0.5f,    -1.5f};
#define N_SPECIALS (sizeof specials / sizeof specials[0])

START_TEST(test_kinds)
{
    struct clf_actq qs[9];
    const char *names[9];
    int nq = 0;
    qs[nq] = make_q(CLF_ACTQ_NONE), names[nq++] = "none";
    qs[nq] = make_q(CLF_ACTQ_BINARY), qs[nq].alpha = 0.7f, names[nq++] = "binary alpha 0.7";
    qs[nq] = make_q(CLF_ACTQ_STEPS), names[nq] = "steps 3 thresholds";
    qs[nq].n_thresholds = 3;
    memcpy(qs[nq].thresholds, (float[]){-1.0f, 0.0f, 1.125f}, 3 * sizeof(float));
    memcpy(qs[nq++].levels, (float[]){-2.0f, -0.5f, 0.5f, 2.0f}, 4 * sizeof(float));
    qs[nq] = make_q(CLF_ACTQ_PWL), qs[nq].bits = 4, qs[nq].clip = 2.625f;
    qs[nq].breakpoint = 0.875f, names[nq++] = "pwl 4-bit (ties)";
    qs[nq] = make_q(CLF_ACTQ_PWL), qs[nq].bits = 3, qs[nq].clip = 2.3f;
    qs[nq].breakpoint = 0.7f, names[nq++] = "pwl 3-bit";
    qs[nq] = make_q(CLF_ACTQ_LSQ), qs[nq].bits = 4, qs[nq].is_signed = true;
    qs[nq].step = 0.25f, names[nq++] = "lsq 4-bit signed s=0.25";
    qs[nq] = make_q(CLF_ACTQ_LSQ), qs[nq].bits = 8, qs[nq].is_signed = true;
    qs[nq].step = 0.0371f, names[nq++] = "lsq 8-bit signed s=0.0371";
    qs[nq] = make_q(CLF_ACTQ_LSQ), qs[nq].bits = 3, qs[nq].step = 0.125f;
    names[nq++] = "pact 3-bit s=0.125";
    qs[nq] = make_q(CLF_ACTQ_LSQ), qs[nq].bits = 1, qs[nq].step = 1.5f;
    names[nq++] = "pact 1-bit s=1.5";
    for (size_t c = 0; c < N_SHAPES; c++) {
        struct test_input in;
        input_make(&in, shapes[c].ndim, shapes[c].shape, shapes[c].lay);
        for (size_t i = 0; i < N_SPECIALS && (int64_t)i < test_input_numel(&in); i++)
            in.host[test_input_elem(&in, (int64_t)(i * 5) % test_input_numel(&in))] = specials[i];
        test_input_upload(&in);
        for (int k = 0; k < nq; k++) {
            float *out = run_actq(&in, &qs[k], -1);
            for (int64_t i = 0; i < test_input_numel(&in); i++) {
                float x = in.host[test_input_elem(&in, i)], ref = ref_apply(&qs[k], x, qs[k].alpha);
                ck_assert_msg(same_bits(out[i], ref),
                              "%s, %s %lld elements: x[%lld] = %.9g gives %.9g, reference %.9g",
                              names[k], layout_name[shapes[c].lay], (long long)test_input_numel(&in),
                              (long long)i, (double)x, (double)out[i], (double)ref);
            }
            free(out);
        }
        printf("  %-10s %lld elements: %d quantisers bit-exact\n", layout_name[shapes[c].lay],
               (long long)test_input_numel(&in), nq);
        test_input_free(&in);
    }
}
END_TEST

/*
 * BINARY with α = mean|x| per row (finite values only). The device sums n
 * nonnegative terms in some order: |Σ̂ − Σ| <= γ_{n−1} Σ (Higham 4.3,
 * any order, tree included), then one correctly rounded division (u), so
 * |α − Σ/m| <= (γ_{n−1}(1 + u) + u) Σ/m <= γ_n Σ/m. Every element of a
 * row must carry the same α, with the sign pattern of x exactly.
 */
START_TEST(test_binary_mean)
{
    for (size_t c = 0; c < N_SHAPES; c++) {
        for (int variant = 0; variant < 2; variant++) {
            struct test_input in;
            input_make(&in, shapes[c].ndim, shapes[c].shape, shapes[c].lay);
            int64_t cols = in.shape[in.ndim - 1], rows = test_input_numel(&in) / cols;
            /* specials in row 0; the last row all non-finite (α = 0) when
             * there are several rows */
            for (size_t i = 0; i < 6 && (int64_t)i < cols; i++)
                in.host[test_input_elem(&in, (int64_t)i)] = specials[i];
            if (rows > 1)
                for (int64_t j = 0; j < cols; j++)
                    in.host[test_input_elem(&in, (rows - 1) * cols + j)] = j % 2 ? NAN : -INFINITY;
            test_input_upload(&in);
            struct clf_actq q = make_q(CLF_ACTQ_BINARY);
            float *out = run_actq(&in, &q, variant);
            double worst = 0;
            for (int64_t r = 0; r < rows; r++) {
                double sum = 0;
                int64_t m = 0;
                for (int64_t j = 0; j < cols; j++) {
                    float x = in.host[test_input_elem(&in, r * cols + j)];
                    if (isfinite(x)) {
                        sum += fabs(x);
                        m++;
                    }
                }
                double ref = m ? sum / (double)m : 0, bound = test_gamma((double)cols) * ref;
                float alpha = NAN;
                for (int64_t j = 0; j < cols; j++)
                    if (!isnan(out[r * cols + j]))
                        alpha = fabsf(out[r * cols + j]);
                ck_assert_msg(rows == 1 || r < rows - 1 || alpha == 0.0f,
                              "an all non-finite row gets alpha %g, not 0", (double)alpha);
                ck_assert_msg(fabs(alpha - ref) <= bound,
                              "row %lld: alpha %.9g, reference %.17g, bound %.3g",
                              (long long)r, (double)alpha, ref, bound);
                if (bound > 0)
                    worst = fmax(worst, fabs(alpha - ref) / bound);
                for (int64_t j = 0; j < cols; j++) {
                    float x = in.host[test_input_elem(&in, r * cols + j)], y = out[r * cols + j];
                    ck_assert_msg(same_bits(y, ref_apply(&q, x, alpha)),
                                  "row %lld col %lld: x = %g gives %g (alpha %g)",
                                  (long long)r, (long long)j, (double)x, (double)y,
                                  (double)alpha);
                }
            }
            printf("  binary mean %-5s %-10s %lld x %lld: worst alpha error / gamma_n bound "
                   "= %.3f\n",
                   variant ? "group" : "item", layout_name[shapes[c].lay], (long long)rows,
                   (long long)cols, worst);
            free(out);
            test_input_free(&in);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Expected errors on N(0, 1)                                               */
/* ------------------------------------------------------------------------ */

/*
 * Binarisation with α = mean|x|: for x ~ N(0, 1), E(|x| − E|x|)² / E x² =
 * 1 − 2/π, so ‖y − x‖/‖x‖ → √(1 − 2/π) = 0.6028. Its sampling spread, by
 * the delta method on R² = 1 − m²/v (m = mean|x|, v = mean x²; Var|x| =
 * 1 − 2/π, Var x² = 2, Cov(|x|, x²) = √(2/π)): n Var R² = 0.1146, so
 * sd R = √(0.1146/n) / (2R) = 8.9e-4 for n = 1e5. The per-row α (rows of
 * 5000) biases R² down by Var|x|/5000 = 7e-5. Bound: 6 sd + that bias.
 */
START_TEST(test_binary_gauss)
{
    const int64_t rows = 20, cols = 5000, n = rows * cols;
    int64_t shape[2] = {rows, cols};
    struct test_input in;
    input_make(&in, 2, shape, DENSE);
    for (int64_t i = 0; i < n; i++)
        in.host[i] = (float)gauss();
    test_input_upload(&in);
    struct clf_actq q = make_q(CLF_ACTQ_BINARY);
    float *out = run_actq(&in, &q, -1);
    double e2 = 0, x2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)out[i] - in.host[i];
        e2 += d * d;
        x2 += (double)in.host[i] * in.host[i];
    }
    double rel = sqrt(e2 / x2), expect = sqrt(1 - 2 / M_PI);
    double bound = 6 * sqrt(0.1146 / (double)n) / (2 * expect) + (1 - 2 / M_PI) / cols / expect;
    printf("  binary on N(0,1), %lld samples: relative error %.5f, expected %.5f +- %.4f\n",
           (long long)n, rel, expect, bound);
    ck_assert_msg(fabs(rel - expect) <= bound, "binarisation error %.5f, expected %.5f +- %.4f",
                  rel, expect, bound);
    free(out);
    test_input_free(&in);
}
END_TEST

/*
 * LSQ 4-bit signed, s calibrated (2 mean|x| / √7), on N(0, 1). The
 * expected squared error E(Q(x) − x)² for that s and its variance are
 * integrated numerically (trapezoid on [−12, 12], h = 1e-4: the integrand
 * is continuous and piecewise smooth, error far below the sampling spread);
 * the sample mean of (Q(x) − x)² must lie within 6 standard deviations.
 */
START_TEST(test_lsq_gauss)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t n = 100000;
    struct test_input in;
    input_make(&in, 1, &n, DENSE);
    double sabs = 0;
    for (int64_t i = 0; i < n; i++) {
        in.host[i] = (float)gauss();
        sabs += fabs(in.host[i]);
    }
    test_input_upload(&in);
    struct clf_actq q = make_q(CLF_ACTQ_LSQ);
    q.bits = 4;
    q.is_signed = true;
    ck_assert_ok(ctx, clf_actq_calibrate(ctx, in.host, (size_t)n, &q));
    ck_assert(q.step == (float)(2 * (sabs / (double)n) / sqrt(7.0)));
    float *out = run_actq(&in, &q, -1);
    double e2 = 0, x2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)out[i] - in.host[i];
        ck_assert(same_bits(out[i], ref_apply(&q, in.host[i], 0)));
        e2 += d * d;
        x2 += (double)in.host[i] * in.host[i];
    }
    double m1 = 0, m2 = 0, h = 1e-4;
    for (double x = -12; x <= 12; x += h) {
        double qx = fmin(fmax(nearbyint(x / q.step), -8), 7) * q.step, d2 = (qx - x) * (qx - x);
        double w = h * exp(-x * x / 2) / sqrt(2 * M_PI);
        m1 += w * d2;
        m2 += w * d2 * d2;
    }
    double sd = sqrt((m2 - m1 * m1) / (double)n), mse = e2 / (double)n;
    printf("  lsq 4-bit signed, s = %.6f calibrated on N(0,1), %lld samples: relative error "
           "%.5f, MSE %.6f, expected %.6f +- %.6f\n",
           (double)q.step, (long long)n, sqrt(e2 / x2), mse, m1, 6 * sd);
    ck_assert_msg(fabs(mse - m1) <= 6 * sd, "MSE %.6f, expected %.6f +- %.6f", mse, m1, 6 * sd);
    free(out);
    test_input_free(&in);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Calibration                                                              */
/* ------------------------------------------------------------------------ */

static double pwl_sse(const float *x, size_t n, int bits, float c, float p)
{
    struct clf_actq q = make_q(CLF_ACTQ_PWL);
    q.bits = bits;
    q.clip = c;
    q.breakpoint = p;
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)ref_apply(&q, x[i], 0) - x[i];
        e += d * d;
    }
    return e;
}

START_TEST(test_calibrate)
{
    struct clf_ctx *ctx = test_ctx();
    /* LSQ init on a known sample: mean|x| = 2.5, Q_P = 7 */
    const float known[] = {1, -2, 3, -4, NAN, INFINITY};
    struct clf_actq q = make_q(CLF_ACTQ_LSQ);
    q.bits = 4;
    q.is_signed = true;
    ck_assert_ok(ctx, clf_actq_calibrate(ctx, known, 6, &q));
    ck_assert(q.step == (float)(5 / sqrt(7.0)));
    ck_assert(q.bits == 4 && q.is_signed && q.kind == CLF_ACTQ_LSQ);
    /* BINARY: α = mean|x| of the finite values */
    q = make_q(CLF_ACTQ_BINARY);
    ck_assert_ok(ctx, clf_actq_calibrate(ctx, known, 6, &q));
    ck_assert(q.alpha == 2.5f);
    /* PACT: x = −500..1999 (shuffled order irrelevant): x+ has 2500 values,
     * the 99.9th percentile by nearest rank is the ceil(2497.5) = 2498th
     * smallest: 1997; s = 1997/15 */
    float *pact = malloc(2500 * sizeof *pact);
    for (int i = 0; i < 2500; i++)
        pact[i] = (float)((i * 7919) % 2500 - 500);
    q = make_q(CLF_ACTQ_LSQ);
    q.bits = 4;
    ck_assert_ok(ctx, clf_actq_calibrate(ctx, pact, 2500, &q));
    ck_assert_msg(q.step == (float)(1997.0 / 15), "pact step %.9g", (double)q.step);
    free(pact);
    /* PWL: c = max|x|, p minimises the squared error over the candidates
     * fl(c·k/65), k = 1..64 (brute force here) */
    for (int bits = 2; bits <= 8; bits += 3) {
        size_t n = 3000;
        float *x = malloc(n * sizeof *x);
        double cmax = 0;
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(gauss() * (i % 3 ? 1 : 4));
            cmax = fmax(cmax, fabs(x[i]));
        }
        q = make_q(CLF_ACTQ_PWL);
        q.bits = bits;
        ck_assert_ok(ctx, clf_actq_calibrate(ctx, x, n, &q));
        ck_assert(q.clip == (float)cmax);
        double best = INFINITY;
        int best_k = 0;
        for (int k = 1; k <= 64; k++) {
            double e = pwl_sse(x, n, bits, q.clip, (float)((double)q.clip * k / 65));
            if (e < best)
                best = e, best_k = k;
        }
        double got = pwl_sse(x, n, bits, q.clip, q.breakpoint);
        ck_assert_msg(got == best, "pwl %d-bit: breakpoint %g has error %g, best %g (k = %d)",
                      bits, (double)q.breakpoint, got, best, best_k);
        ck_assert(q.breakpoint == (float)((double)q.clip * best_k / 65));
        printf("  pwl %d-bit calibrated: clip %.4f, breakpoint %.4f (candidate %d/64), "
               "RMS error %.5f\n",
               bits, (double)q.clip, (double)q.breakpoint, best_k, sqrt(best / (double)n));
        free(x);
    }
    /* errors leave q alone */
    struct clf_actq keep = make_q(CLF_ACTQ_LSQ);
    keep.bits = 4;
    keep.step = 0.5f;
    q = keep;
    ck_assert_status(ctx, clf_actq_calibrate(ctx, known, 0, &q), CLF_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "empty"));
    ck_assert_status(ctx, clf_actq_calibrate(ctx, NULL, 4, &q), CLF_E_INVALID_ARG);
    const float nonfinite[] = {NAN, INFINITY};
    ck_assert_status(ctx, clf_actq_calibrate(ctx, nonfinite, 2, &q), CLF_E_INVALID_ARG);
    const float negative[] = {-1, -2};
    ck_assert_status(ctx, clf_actq_calibrate(ctx, negative, 2, &q), CLF_E_INVALID_ARG);
    ck_assert(q.step == 0.5f && q.bits == 4);
    q.bits = 9;
    ck_assert_status(ctx, clf_actq_calibrate(ctx, known, 4, &q), CLF_E_INVALID_ARG);
    q.bits = 0;
    ck_assert_status(ctx, clf_actq_calibrate(ctx, known, 4, &q), CLF_E_INVALID_ARG);
    ck_assert(q.step == 0.5f);
    ck_assert_status(ctx, clf_actq_calibrate(ctx, known, 4, NULL), CLF_E_INVALID_ARG);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Grammar                                                                  */
/* ------------------------------------------------------------------------ */

static bool same_q(const struct clf_actq *a, const struct clf_actq *b)
{
    if (a->kind != b->kind || a->bits != b->bits || a->is_signed != b->is_signed ||
        !same_bits(a->alpha, b->alpha) || !same_bits(a->step, b->step) ||
        !same_bits(a->clip, b->clip) || !same_bits(a->breakpoint, b->breakpoint) ||
        a->n_thresholds != b->n_thresholds)
        return false;
    for (int i = 0; i < a->n_thresholds; i++)
        if (!same_bits(a->thresholds[i], b->thresholds[i]))
            return false;
    for (int i = 0; i <= a->n_thresholds && a->n_thresholds > 0; i++)
        if (!same_bits(a->levels[i], b->levels[i]))
            return false;
    return true;
}

START_TEST(test_parse)
{
    /* canonical forms: str(parse(s)) == s, and parse(str(q)) == q */
    static const char *canon[] = {
        "none", "binary", "binary:0.5", "lsq:4", "lsq:4,signed", "lsq:8,signed,step:0.0371",
        "lsq:1,step:1.5", "pwl:4", "pwl:4,clip:2.625,bp:0.875", "pwl:2,clip:3,bp:1e-05",
        "steps:0:-1/1", "steps:-1/0/1.125:-2/-0.5/0.5/2", "binary:0.1"};
    char msg[1024], buf[1024];
    for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        struct clf_actq q, r;
        ck_assert_msg(clf_actq_parse(canon[i], &q, msg, sizeof msg) == CLF_OK, "%s: %s",
                      canon[i], msg);
        clf_actq_str(&q, buf, sizeof buf);
        ck_assert_str_eq(buf, canon[i]);
        ck_assert_int_eq(clf_actq_parse(buf, &r, msg, sizeof msg), CLF_OK);
        ck_assert(same_q(&q, &r));
    }
    /* random values round-trip exactly */
    for (int t = 0; t < 200; t++) {
        struct clf_actq q = make_q(CLF_ACTQ_STEPS), r;
        q.n_thresholds = 1 + t % 15;
        float v = (float)test_rand_uniform(-5, -4);
        for (int i = 0; i < q.n_thresholds; i++)
            q.thresholds[i] = v += (float)test_rand_uniform(1e-3, 1);
        for (int i = 0; i <= q.n_thresholds; i++)
            q.levels[i] = (float)test_rand_uniform(-1e3, 1e3);
        if (t % 3 == 1) {
            q = make_q(CLF_ACTQ_LSQ);
            q.bits = 2 + t % 7;
            q.is_signed = t % 2;
            q.step = (float)exp(test_rand_uniform(-20, 5));
        } else if (t % 3 == 2) {
            q = make_q(CLF_ACTQ_PWL);
            q.bits = 2 + t % 7;
            q.clip = (float)test_rand_uniform(0.5, 20);
            q.breakpoint = q.clip * (float)test_rand_uniform(0.01, 0.99);
        }
        clf_actq_str(&q, buf, sizeof buf);
        ck_assert_msg(clf_actq_parse(buf, &r, msg, sizeof msg) == CLF_OK, "%s: %s", buf, msg);
        ck_assert_msg(same_q(&q, &r), "%s does not round-trip", buf);
    }
    /* pact: s = A / (2^B − 1) */
    struct clf_actq q;
    ck_assert_int_eq(clf_actq_parse("pact:4,alpha:6", &q, msg, sizeof msg), CLF_OK);
    ck_assert(q.kind == CLF_ACTQ_LSQ && !q.is_signed && q.bits == 4 && q.step == 0.4f);
    ck_assert_int_eq(clf_actq_parse("pact:3", &q, msg, sizeof msg), CLF_OK);
    ck_assert(q.kind == CLF_ACTQ_LSQ && q.bits == 3 && q.step == 0);
    ck_assert_int_eq(clf_actq_parse("lsq:4,step:0.5,signed", &q, NULL, 0), CLF_OK);
    ck_assert(q.is_signed && q.step == 0.5f);
    /* rejected, each with a message, q untouched */
    static const char *bad[] = {
        "", "None", "binary:", "binary:0", "binary:-1", "binary:nan", "binary:inf", "binary:1x",
        "none:1", "lsq", "lsq:", "lsq:0", "lsq:9", "lsq:1,signed", "lsq:4,step:0",
        "lsq:4,step:-1", "lsq:4,step:nan", "lsq:4,signed,signed", "lsq:4,bogus", "lsq:4,",
        "lsq:x", "lsq:123", "pact:0", "pact:4,alpha:0", "pact:4,signed", "pwl:1", "pwl:9",
        "pwl:4,clip:2", "pwl:4,bp:1", "pwl:4,clip:1,bp:1", "pwl:4,clip:1,bp:2",
        "pwl:4,clip:-1,bp:0.5", "steps", "steps:1", "steps:1:2", "steps:1:2/3/4",
        "steps:2/1:0/1/2", "steps:1/1:0/1/2", "steps:a:1/2", "steps:1//2:0/1/2",
        "steps:1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16:0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16",
        "gelu"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct clf_actq keep = make_q(CLF_ACTQ_BINARY);
        keep.alpha = 3;
        q = keep;
        msg[0] = '\0';
        ck_assert_msg(clf_actq_parse(bad[i], &q, msg, sizeof msg) == CLF_E_INVALID_ARG,
                      "\"%s\" accepted", bad[i]);
        ck_assert_msg(msg[0] != '\0', "\"%s\": no message", bad[i]);
        ck_assert_msg(same_q(&q, &keep), "\"%s\" changed q", bad[i]);
    }
    printf("  grammar: %zu canonical forms, 200 random round trips, %zu bad strings "
           "rejected\n  e.g. \"%s\" -> %s\n",
           sizeof canon / sizeof canon[0], sizeof bad / sizeof bad[0],
           bad[sizeof bad / sizeof bad[0] - 1], msg);
    ck_assert_int_eq(clf_actq_parse(NULL, &q, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_actq_parse("none", NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    clf_actq_str(&q, buf, 4); /* truncated, terminated */
    ck_assert_uint_le(strlen(buf), 3);
    clf_actq_str(&q, NULL, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Argument errors                                                          */
/* ------------------------------------------------------------------------ */

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s2[2] = {3, 5};
    struct clf_tensor *x, *xi, *y;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s2, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s2, &xi));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));

#define EXPECT(qq, status, word)                                                                \
    do {                                                                                         \
        y = (struct clf_tensor *)ctx;                                                            \
        ck_assert_status(ctx, clf_op_actq(g, x, &(qq), &y), status);                             \
        ck_assert_ptr_null(y);                                                                   \
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), word) != NULL,                              \
                      "message \"%s\" lacks \"%s\"", clf_ctx_last_error(ctx), word);             \
    } while (0)

    struct clf_actq q = make_q(CLF_ACTQ_LSQ);
    q.step = 0.5f;
    q.bits = 0;
    EXPECT(q, CLF_E_INVALID_ARG, "bits");
    q.bits = 9;
    EXPECT(q, CLF_E_INVALID_ARG, "bits");
    q.bits = 1;
    q.is_signed = true;
    EXPECT(q, CLF_E_INVALID_ARG, "bits");
    q.bits = 4;
    q.step = 0;
    EXPECT(q, CLF_E_INVALID_ARG, "step");
    q.step = -1;
    EXPECT(q, CLF_E_INVALID_ARG, "step");
    q.step = NAN;
    EXPECT(q, CLF_E_INVALID_ARG, "step");
    q.step = INFINITY;
    EXPECT(q, CLF_E_INVALID_ARG, "step");
    q.step = 1e-40f; /* subnormal */
    EXPECT(q, CLF_E_INVALID_ARG, "step");
    q = make_q(CLF_ACTQ_PWL);
    q.bits = 4;
    q.clip = 0;
    q.breakpoint = 0.5f;
    EXPECT(q, CLF_E_INVALID_ARG, "clip");
    q.clip = -2;
    EXPECT(q, CLF_E_INVALID_ARG, "clip");
    q.clip = NAN;
    EXPECT(q, CLF_E_INVALID_ARG, "clip");
    q.clip = 2;
    q.breakpoint = 2;
    EXPECT(q, CLF_E_INVALID_ARG, "breakpoint");
    q.breakpoint = 0;
    EXPECT(q, CLF_E_INVALID_ARG, "breakpoint");
    q.breakpoint = -1;
    EXPECT(q, CLF_E_INVALID_ARG, "breakpoint");
    q.breakpoint = NAN;
    EXPECT(q, CLF_E_INVALID_ARG, "breakpoint");
    q.breakpoint = 1;
    q.bits = 1;
    EXPECT(q, CLF_E_INVALID_ARG, "bits");
    q.bits = 9;
    EXPECT(q, CLF_E_INVALID_ARG, "bits");
    q = make_q(CLF_ACTQ_BINARY);
    q.alpha = -1;
    EXPECT(q, CLF_E_INVALID_ARG, "alpha");
    q.alpha = NAN;
    EXPECT(q, CLF_E_INVALID_ARG, "alpha");
    q.alpha = INFINITY;
    EXPECT(q, CLF_E_INVALID_ARG, "alpha");
    q = make_q(CLF_ACTQ_STEPS);
    q.n_thresholds = 0;
    EXPECT(q, CLF_E_INVALID_ARG, "thresholds");
    q.n_thresholds = CLF_ACTQ_MAX_STEPS;
    EXPECT(q, CLF_E_INVALID_ARG, "thresholds");
    q.n_thresholds = 3;
    q.thresholds[0] = 0, q.thresholds[1] = 2, q.thresholds[2] = 1;
    EXPECT(q, CLF_E_INVALID_ARG, "ascending");
    q.thresholds[2] = 2;
    EXPECT(q, CLF_E_INVALID_ARG, "ascending");
    q.thresholds[2] = INFINITY;
    EXPECT(q, CLF_E_INVALID_ARG, "threshold");
    q.thresholds[2] = 3;
    q.levels[3] = NAN;
    EXPECT(q, CLF_E_INVALID_ARG, "level");
    q = make_q((enum clf_actq_kind)99);
    EXPECT(q, CLF_E_INVALID_ARG, "kind");
#undef EXPECT
    q = make_q(CLF_ACTQ_NONE);
    ck_assert_status(ctx, clf_op_actq(g, xi, &q, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_actq(g, NULL, &q, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_actq(g, x, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_actq(g, x, &q, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_actq(NULL, x, &q, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_graph_run(g));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xi);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("actq");
    TCase *tc = tcase_create("actq");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_calibrate);
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_binary_mean);
    tcase_add_test(tc, test_binary_gauss);
    tcase_add_test(tc, test_lsq_gauss);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
