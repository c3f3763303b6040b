/*
 * The CPU GEMM provider (lib/ops/gemm_cpu.c, cl/gemm_cpu.cl), called
 * directly with hand-built problems: every tile configuration, odd sizes,
 * transposed and strided operands, batches with own and shared B, the fused
 * epilogue (alpha, beta, bias, each activation), the packed-B cache, event
 * chaining and argument errors. Each result is checked per element against
 * a double-precision reference with a bound derived from the arithmetic
 * (see elem_bound).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "../lib/ops/gemm.h"

/* Marks C elements the problem does not address: they must survive. */
#define SENTINEL 4242.0f

/*
 * Per-element error bound of the provider's result against the exact
 * act(alpha·s + beta·c + bias), s = Σ_k a_k·b_k over the fp32 inputs.
 *
 * 1. The kernel accumulates s with one fma per k in order, starting from 0:
 *    k roundings, so |ŝ − s| ≤ γ_k·Σ|a_k·b_k| (= γ_k·mag).
 * 2. The epilogue rounds three times: t1 = alpha·ŝ, t2 = fma(beta, c, t1)
 *    (only with beta ≠ 0), t3 = t2 + bias. Each rounding's error is at most
 *    u times a quantity bounded by |alpha|(1+γ_k)·mag + |beta·c| + |bias|,
 *    so the pre-activation error is
 *      E = |alpha|·γ_k·mag + γ_3·(|alpha|(1+γ_k)·mag + |beta·c| + |bias|).
 * 3. The activation adds its Lipschitz factor and its own float
 *    evaluation (test_act_bound in common.h, which derives them).
 */
static double elem_bound(int64_t k, double mag, double alpha, double beta_c, double bias,
                         double pre, enum clf_act act)
{
    double gk = test_gamma((double)k);
    double e = fabs(alpha) * gk * mag +
               test_gamma(3) * (fabs(alpha) * (1 + gk) * mag + fabs(beta_c) + fabs(bias));
    return test_act_bound(e, pre, act);
}

/* One GEMM case: layouts and epilogue. */
struct gcase {
    int64_t batch, m, n, k;
    bool a_trans;  /* A stored [k][m] (a_rs = 1) instead of [m][k] */
    bool b_trans;  /* B stored [n][k] (nn.Linear weights, b_rs = 1) instead of [k][n] */
    bool b_shared; /* one B for every batch (b_bs = 0) */
    int pad;       /* extra elements after each row and batch, and as offsets */
    float alpha, beta;
    bool bias;
    enum clf_act act;
};

static const char *act_name(enum clf_act a)
{
    static const char *names[] = {"none", "relu", "gelu", "gelu_tanh", "tanh"};
    return names[a];
}

static void describe(const struct gcase *g, const struct clf_gemm_cpu_config *cfg, char *buf,
                     size_t size)
{
    snprintf(buf, size,
             "tile %dx%d/%d, batch %lld, %lldx%lldx%lld, A%s B%s%s pad %d, alpha %g beta %g, "
             "bias %d, act %s",
             cfg->tm, cfg->tn, cfg->local0, (long long)g->batch, (long long)g->m,
             (long long)g->n, (long long)g->k, g->a_trans ? "^T" : "", g->b_trans ? "^T" : "",
             g->b_shared ? " shared" : "", g->pad, g->alpha, g->beta, g->bias,
             act_name(g->act));
}

/* A 1-D f32 tensor of n elements holding host data. */
static struct clf_tensor *make_buf(const float *data, int64_t n)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n, &t));
    ck_assert_ok(ctx, clf_tensor_write(t, data, (size_t)n * sizeof(float)));
    return t;
}

static float *alloc_floats(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* Operands of a case on the host and the device, with their layout. */
struct operands {
    struct clf_gemm_problem p;
    float *a, *b, *c, *bias; /* host copies of whole buffers */
    int64_t a_len, b_len, c_len, bias_len;
};

/* Refills C (host copy and device): the elements o->p addresses uniform in
 * [-1, 1) when beta ≠ 0, NaN when beta = 0; every other one SENTINEL. */
static void reset_c(struct operands *o)
{
    const struct clf_gemm_problem *p = &o->p;
    for (int64_t i = 0; i < o->c_len; i++)
        o->c[i] = SENTINEL;
    for (int64_t q = 0; q < p->batch; q++)
        for (int64_t i = 0; i < p->m; i++)
            for (int64_t j = 0; j < p->n; j++)
                o->c[p->c_off + q * p->c_bs + i * p->c_rs + j] =
                    p->beta != 0 ? (float)test_rand_uniform(-1, 1) : NAN;
    ck_assert_ok(test_ctx(),
                 clf_tensor_write(p->c_t, o->c, (size_t)o->c_len * sizeof(float)));
}

/* Builds the buffers and problem of g: A, B (and bias) uniform in [-1, 1),
 * the addressed C elements uniform (beta ≠ 0) or NaN (beta = 0), every
 * other C element SENTINEL. */
static void build(const struct gcase *g, struct operands *o)
{
    memset(o, 0, sizeof *o);
    struct clf_gemm_problem *p = &o->p;
    const int64_t pad = g->pad, bb = g->b_shared ? 1 : g->batch;
    p->batch = g->batch;
    p->m = g->m;
    p->n = g->n;
    p->k = g->k;
    p->alpha = g->alpha;
    p->beta = g->beta;
    p->act = g->act;

    p->a_off = pad;
    if (g->a_trans) {
        p->a_rs = 1;
        p->a_cs = g->m + pad;
        p->a_bs = g->k * p->a_cs + pad;
    } else {
        p->a_rs = g->k + pad;
        p->a_cs = 1;
        p->a_bs = g->m * p->a_rs + pad;
    }
    o->a_len = p->a_off + g->batch * p->a_bs + 1;

    p->b_off = 2 * pad;
    int64_t b_per;
    if (g->b_trans) {
        p->b_rs = 1;
        p->b_cs = g->k + pad;
        b_per = g->n * p->b_cs + pad;
    } else {
        p->b_rs = g->n + pad;
        p->b_cs = 1;
        b_per = g->k * p->b_rs + pad;
    }
    p->b_bs = g->b_shared ? 0 : b_per;
    o->b_len = p->b_off + bb * b_per + 1;

    p->c_off = pad;
    p->c_rs = g->n + pad;
    p->c_bs = g->m * p->c_rs + pad;
    o->c_len = p->c_off + g->batch * p->c_bs + 1;

    o->a = alloc_floats(o->a_len);
    o->b = alloc_floats(o->b_len);
    o->c = alloc_floats(o->c_len);
    test_fill_uniform(o->a, (size_t)o->a_len, -1, 1);
    test_fill_uniform(o->b, (size_t)o->b_len, -1, 1);
    p->a_t = make_buf(o->a, o->a_len);
    p->b_t = make_buf(o->b, o->b_len);
    p->c_t = make_buf(o->c, o->c_len); /* contents set by reset_c */
    reset_c(o);
    if (g->bias) {
        o->bias_len = g->n + pad;
        o->bias = alloc_floats(o->bias_len);
        test_fill_uniform(o->bias, (size_t)o->bias_len, -1, 1);
        p->bias_t = make_buf(o->bias, o->bias_len);
        p->bias_off = pad;
    }
}

static void release(struct operands *o)
{
    clf_tensor_destroy(o->p.a_t);
    clf_tensor_destroy(o->p.b_t);
    clf_tensor_destroy(o->p.c_t);
    clf_tensor_destroy(o->p.bias_t);
    free(o->a);
    free(o->b);
    free(o->c);
    free(o->bias);
}

/* Runs the problem and waits for it. */
static void run(const struct clf_gemm_problem *p, const struct clf_gemm_cpu_config *cfg,
                struct clf_gemm_scratch *s)
{
    struct clf_ctx *ctx = test_ctx();
    cl_event ev = NULL;
    ck_assert_ok(ctx, clf_gemm_cpu_enqueue(ctx, p, cfg, s, 0, NULL, &ev));
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
    cl_int status = 0;
    ck_assert_int_eq(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                    &status, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(status, CL_COMPLETE);
    clReleaseEvent(ev);
}

/*
 * Reads C back and compares every addressed element with the reference
 * computed from the host operands (c0 = C before the run), and every other
 * element with SENTINEL. Returns the largest error / bound seen.
 */
static double check(const struct operands *o, const float *c0, const char *what)
{
    const struct clf_gemm_problem *p = &o->p;
    float *out = alloc_floats(o->c_len);
    ck_assert_ok(test_ctx(), clf_tensor_read(p->c_t, out, (size_t)o->c_len * sizeof(float)));
    char *addressed = calloc((size_t)o->c_len, 1);
    ck_assert_ptr_nonnull(addressed);
    double worst = 0;
    for (int64_t q = 0; q < p->batch; q++)
        for (int64_t i = 0; i < p->m; i++)
            for (int64_t j = 0; j < p->n; j++) {
                double s = 0, mag = 0;
                for (int64_t kk = 0; kk < p->k; kk++) {
                    double prod = (double)o->a[p->a_off + q * p->a_bs + i * p->a_rs +
                                               kk * p->a_cs] *
                                  (double)o->b[p->b_off + q * p->b_bs + kk * p->b_rs +
                                               j * p->b_cs];
                    s += prod;
                    mag += fabs(prod);
                }
                int64_t ci = p->c_off + q * p->c_bs + i * p->c_rs + j;
                addressed[ci] = 1;
                double beta_c = p->beta != 0 ? (double)p->beta * c0[ci] : 0;
                double bias = o->bias ? o->bias[p->bias_off + j] : 0;
                double pre = (double)p->alpha * s + beta_c + bias;
                double ref = test_act_ref(pre, p->act);
                double bound = elem_bound(p->k, mag, p->alpha, beta_c, bias, pre, p->act);
                double err = fabs((double)out[ci] - ref);
                ck_assert_msg(err <= bound,
                              "%s: C[%lld][%lld][%lld] = %.9g, reference %.9g, error %.3g > "
                              "bound %.3g",
                              what, (long long)q, (long long)i, (long long)j, (double)out[ci],
                              ref, err, bound);
                if (bound > 0 && err / bound > worst)
                    worst = err / bound;
            }
    for (int64_t i = 0; i < o->c_len; i++)
        ck_assert_msg(addressed[i] || out[i] == SENTINEL,
                      "%s: element %lld outside the problem was written (%g)", what,
                      (long long)i, (double)out[i]);
    free(addressed);
    free(out);
    return worst;
}

/* Builds, runs and checks one case with one config. */
static void run_case(const struct gcase *g, const struct clf_gemm_cpu_config *cfg)
{
    char what[256];
    describe(g, cfg, what, sizeof what);
    struct operands o;
    build(g, &o);
    struct clf_gemm_scratch s = {0};
    run(&o.p, cfg, &s);
    check(&o, o.c, what);
    clf_gemm_scratch_release(test_ctx(), &s);
    release(&o);
}

/* The packed-B derived buffers of t (counted; the first one returned). */
static int pack_b_entries(const struct clf_tensor *t, struct clf_derived **first)
{
    int n = 0;
    *first = NULL;
    for (struct clf_derived *d = t->derived; d; d = d->next)
        if (d->kind == CLF_DERIVED_GEMM_PACK_B) {
            if (!*first)
                *first = d;
            n++;
        }
    return n;
}

/* ------------------------------------------------------------------------ */

/* Odd sizes (1, 7, 13, ~1000 in each dimension in turn, and sizes that are
 * no multiple of any tile), each operand row-major and transposed, strided
 * with padding and offsets, with every config. beta = 0 with C poisoned
 * with NaN: no NaN may leak. */
START_TEST(test_sizes_layouts)
{
    static const int64_t sizes[][3] = {
        {1, 1, 1},   {1, 7, 13},  {7, 1, 13},  {13, 13, 7},  {7, 13, 1000},
        {1000, 7, 13}, {13, 1000, 7}, {67, 131, 29}, {6, 64, 16}, {8, 48, 1},
    };
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[_i];
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int layout = 0; layout < 4; layout++) {
            struct gcase g = {.batch = 1, .m = sizes[s][0], .n = sizes[s][1], .k = sizes[s][2],
                              .a_trans = layout & 1, .b_trans = layout & 2, .pad = (int)s % 3,
                              .alpha = 1, .beta = 0};
            run_case(&g, cfg);
        }
}
END_TEST

/* Batches with their own strided B and with one shared B (b_bs = 0). */
START_TEST(test_batched)
{
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[_i];
    for (int layout = 0; layout < 4; layout++)
        for (int shared = 0; shared < 2; shared++) {
            struct gcase g = {.batch = 3, .m = 19, .n = 70, .k = 37, .a_trans = layout & 1,
                              .b_trans = layout & 2, .b_shared = shared, .pad = 3,
                              .alpha = 1, .beta = 0};
            run_case(&g, cfg);
        }
    /* many small heads, as attention makes them */
    struct gcase heads = {.batch = 12, .m = 33, .n = 64, .k = 64, .b_trans = true, .pad = 1,
                          .alpha = 0.125f};
    run_case(&heads, cfg);
}
END_TEST

/* The fused epilogue: alpha, beta ≠ 0 accumulating into C, bias, every
 * activation; beta = 0 over NaN. */
START_TEST(test_epilogue)
{
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[_i];
    static const float ab[][2] = {{1, 0}, {0.75f, -1.5f}, {-2, 1}, {0, 0.5f}};
    for (int act = CLF_ACT_NONE; act <= CLF_ACT_TANH; act++)
        for (size_t e = 0; e < sizeof ab / sizeof ab[0]; e++)
            for (int bias = 0; bias < 2; bias++) {
                struct gcase g = {.batch = 2, .m = 23, .n = 41, .k = 53, .b_trans = e & 1,
                                  .pad = 2, .alpha = ab[e][0], .beta = ab[e][1], .bias = bias,
                                  .act = (enum clf_act)act};
                run_case(&g, cfg);
            }
    /* k = 0: C = act(beta·C + bias), A and B never read */
    struct gcase g0 = {.batch = 1, .m = 5, .n = 9, .k = 0, .alpha = 1, .beta = 2, .bias = true,
                       .act = CLF_ACT_RELU};
    run_case(&g0, cfg);
}
END_TEST

/* B (weights) is packed once: a second run with new A reuses the packed
 * panels without repacking (proved by zeroing them behind the cache's
 * back: the result becomes 0), and a write to B makes the next run repack. */
START_TEST(test_b_cache)
{
    struct clf_ctx *ctx = test_ctx();
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[_i];
    struct gcase g = {.batch = 1, .m = 29, .n = 77, .k = 45, .b_trans = true, .pad = 1,
                      .alpha = 1, .beta = 0};
    struct operands o;
    build(&g, &o);
    struct clf_gemm_scratch s = {0};
    char what[256];
    describe(&g, cfg, what, sizeof what);

    run(&o.p, cfg, &s);
    check(&o, o.c, what);
    struct clf_derived *d = NULL;
    ck_assert_int_eq(pack_b_entries(o.p.b_t, &d), 1);
    ck_assert_uint_eq(d->version, o.p.b_t->storage->version);
    uint64_t version = d->version;
    cl_mem mem = d->mem;

    /* zero the packed panels behind the cache's back */
    float zero = 0;
    ck_assert_int_eq(clEnqueueFillBuffer(ctx->queue, d->mem, &zero, sizeof zero, 0,
                                         d->class_bytes, 0, NULL, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clFinish(ctx->queue), CL_SUCCESS);
    test_fill_uniform(o.a, (size_t)o.a_len, -1, 1);
    ck_assert_ok(ctx, clf_tensor_write(o.p.a_t, o.a, (size_t)o.a_len * sizeof(float)));
    run(&o.p, cfg, &s);
    float *out = alloc_floats(o.c_len);
    ck_assert_ok(ctx, clf_tensor_read(o.p.c_t, out, (size_t)o.c_len * sizeof(float)));
    for (int64_t i = 0; i < g.m; i++)
        for (int64_t j = 0; j < g.n; j++)
            ck_assert_msg(out[o.p.c_off + i * o.p.c_rs + j] == 0,
                          "second run repacked B (C[%lld][%lld] = %g)", (long long)i,
                          (long long)j, (double)out[o.p.c_off + i * o.p.c_rs + j]);
    free(out);
    ck_assert_int_eq(pack_b_entries(o.p.b_t, &d), 1);
    ck_assert_uint_eq(d->version, version);
    ck_assert_ptr_eq(d->mem, mem);

    /* a write to B: the next run repacks (same entry, new version) */
    test_fill_uniform(o.b, (size_t)o.b_len, -1, 1);
    ck_assert_ok(ctx, clf_tensor_write(o.p.b_t, o.b, (size_t)o.b_len * sizeof(float)));
    run(&o.p, cfg, &s);
    check(&o, o.c, what);
    ck_assert_int_eq(pack_b_entries(o.p.b_t, &d), 1);
    ck_assert_uint_eq(d->version, o.p.b_t->storage->version);
    ck_assert_uint_ne(d->version, version);

    /* another layout of the same tensor (B without its first column) gets
     * its own packed buffer */
    o.p.b_off += o.p.b_cs;
    o.p.n -= 1;
    reset_c(&o);
    run(&o.p, cfg, &s);
    check(&o, o.c, what);
    ck_assert_int_eq(pack_b_entries(o.p.b_t, &d), 2);

    clf_gemm_scratch_release(ctx, &s);
    release(&o);
}
END_TEST

/* A shared B is packed once for all batches, not once per batch. */
START_TEST(test_shared_b_packed_once)
{
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[0];
    struct gcase g = {.batch = 8, .m = 16, .n = 96, .k = 80, .b_trans = true, .b_shared = true,
                      .alpha = 1};
    struct operands o;
    build(&g, &o);
    struct clf_gemm_scratch s = {0};
    run(&o.p, cfg, &s);
    char what[256];
    describe(&g, cfg, what, sizeof what);
    check(&o, o.c, what);
    struct clf_derived *d = NULL;
    ck_assert_int_eq(pack_b_entries(o.p.b_t, &d), 1);
    /* one batch of panels: ceil(n/TN)·TN·k floats (the pool rounds sizes up
     * by at most 25%, far below a second batch) */
    size_t one = (size_t)((g.n + cfg->tn - 1) / cfg->tn * cfg->tn * g.k) * sizeof(float);
    ck_assert_uint_lt(d->class_bytes, 2 * one);
    clf_gemm_scratch_release(test_ctx(), &s);
    release(&o);
}
END_TEST

/* The GEMM waits for its wait list (a user event here) and its event
 * completes after the result is in C; a chain of two dependent GEMMs
 * (the second reads the first's output as A) is ordered by events alone. */
START_TEST(test_events)
{
    struct clf_ctx *ctx = test_ctx();
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[0];
    struct gcase g = {.batch = 1, .m = 40, .n = 40, .k = 40, .alpha = 1};
    struct operands o;
    build(&g, &o);
    struct clf_gemm_scratch s1 = {0}, s2 = {0};
    cl_int err;
    cl_event user = clCreateUserEvent(ctx->context, &err);
    ck_assert_int_eq(err, CL_SUCCESS);

    /* first: C1 = A·B after the user event */
    cl_event ev1 = NULL, ev2 = NULL;
    ck_assert_ok(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, cfg, &s1, 1, &user, &ev1));
    /* second: C2 = C1·B, waiting only on ev1 */
    struct clf_gemm_problem p2 = o.p;
    int64_t n2 = o.c_len;
    struct clf_tensor *c2 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n2, &c2));
    p2.a_t = o.p.c_t;
    p2.a_off = o.p.c_off;
    p2.a_rs = o.p.c_rs;
    p2.a_cs = 1;
    p2.a_bs = o.p.c_bs;
    p2.c_t = c2;
    ck_assert_ok(ctx, clf_gemm_cpu_enqueue(ctx, &p2, cfg, &s2, 1, &ev1, &ev2));

    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    cl_int status = CL_COMPLETE;
    ck_assert_int_eq(clGetEventInfo(ev2, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                    &status, NULL),
                     CL_SUCCESS);
    ck_assert_msg(status != CL_COMPLETE, "the GEMM ran before its wait list completed");
    ck_assert_int_eq(clSetUserEventStatus(user, CL_COMPLETE), CL_SUCCESS);
    ck_assert_int_eq(clWaitForEvents(1, &ev2), CL_SUCCESS);
    ck_assert_int_eq(clGetEventInfo(ev1, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                    &status, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(status, CL_COMPLETE);

    /* C1 against the reference, then C2 against a reference computed from
     * the C1 the device produced (its own rounding checked above) */
    check(&o, o.c, "events: first GEMM");
    float *c1 = alloc_floats(o.c_len), *out = alloc_floats(n2);
    ck_assert_ok(ctx, clf_tensor_read(o.p.c_t, c1, (size_t)o.c_len * sizeof(float)));
    ck_assert_ok(ctx, clf_tensor_read(c2, out, (size_t)n2 * sizeof(float)));
    for (int64_t i = 0; i < g.m; i++)
        for (int64_t j = 0; j < g.n; j++) {
            double sum = 0, mag = 0;
            for (int64_t kk = 0; kk < g.k; kk++) {
                double prod = (double)c1[p2.a_off + i * p2.a_rs + kk] *
                              o.b[p2.b_off + kk * p2.b_rs + j * p2.b_cs];
                sum += prod;
                mag += fabs(prod);
            }
            double err = fabs(out[p2.c_off + i * p2.c_rs + j] - sum);
            double bound = elem_bound(g.k, mag, 1, 0, 0, sum, CLF_ACT_NONE);
            ck_assert_msg(err <= bound, "events: second GEMM C[%lld][%lld] error %.3g > %.3g",
                          (long long)i, (long long)j, err, bound);
        }
    free(c1);
    free(out);
    clReleaseEvent(ev1);
    clReleaseEvent(ev2);
    clReleaseEvent(user);
    clf_tensor_destroy(c2);
    clf_gemm_scratch_release(ctx, &s1);
    clf_gemm_scratch_release(ctx, &s2);
    release(&o);
}
END_TEST

/* An empty problem enqueues a marker after the wait list; NULL ev is fine. */
START_TEST(test_empty)
{
    struct clf_ctx *ctx = test_ctx();
    struct gcase g = {.batch = 1, .m = 3, .n = 4, .k = 5, .alpha = 1};
    struct operands o;
    build(&g, &o);
    struct clf_gemm_scratch s = {0};
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[0];
    struct clf_gemm_problem p = o.p;
    int64_t *dims[] = {&p.m, &p.n, &p.batch};
    for (int i = 0; i < 3; i++) {
        p = o.p;
        *dims[i] = 0;
        cl_event ev = NULL;
        ck_assert_ok(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev));
        ck_assert_ptr_nonnull(ev);
        ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
        clReleaseEvent(ev);
    }
    /* a full problem without an output event */
    ck_assert_ok(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, cfg, &s, 0, NULL, NULL));
    ck_assert_int_eq(clFinish(ctx->queue), CL_SUCCESS);
    check(&o, o.c, "no output event");
    clf_gemm_scratch_release(ctx, &s);
    release(&o);
}
END_TEST

/* Argument errors are reported, never crash, and name the problem. */
START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct gcase g = {.batch = 2, .m = 6, .n = 5, .k = 4, .alpha = 1};
    struct operands o;
    build(&g, &o);
    struct clf_gemm_scratch s = {0};
    const struct clf_gemm_cpu_config *cfg = &clf_gemm_cpu_configs[0];
    cl_event ev = (cl_event)1;
    struct clf_gemm_problem p;

    ck_assert_int_eq(clf_gemm_cpu_enqueue(NULL, &o.p, cfg, &s, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, NULL, cfg, &s, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(ev);
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, NULL, &s, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, cfg, NULL, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, cfg, &s, 2, NULL, &ev),
                     CLF_E_INVALID_ARG);

    static const struct clf_gemm_cpu_config bad_cfgs[] = {
        {0, 16, 8, 4}, {17, 16, 8, 4}, {6, 12, 8, 4}, {6, 80, 16, 4}, {6, 16, 8, 0},
        {6, 24, 12, 4}, {6, 16, 32, 4},
    };
    for (size_t i = 0; i < sizeof bad_cfgs / sizeof bad_cfgs[0]; i++) {
        ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &o.p, &bad_cfgs[i], &s, 0, NULL, &ev),
                         CLF_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "tile"));
    }

    p = o.p;
    p.k = -1;
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev), CLF_E_SHAPE);
    p = o.p;
    p.a_t = NULL;
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);
    p = o.p;
    p.act = (enum clf_act)9;
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev),
                     CLF_E_INVALID_ARG);

    /* views reaching past their buffers */
    const char *names[] = {"A", "B", "C", "bias"};
    for (int which = 0; which < 4; which++) {
        p = o.p;
        if (which == 0)
            p.a_rs += 1000;
        else if (which == 1)
            p.b_bs = o.b_len;
        else if (which == 2)
            p.c_off = o.c_len;
        else {
            p.bias_t = o.p.a_t;
            p.bias_off = o.a_len - 2;
        }
        ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev),
                         CLF_E_SHAPE);
        ck_assert_msg(strncmp(strstr(clf_ctx_last_error(ctx), ": ") + 2, names[which],
                              strlen(names[which])) == 0,
                      "message '%s' does not name %s", clf_ctx_last_error(ctx), names[which]);
    }
    p = o.p;
    p.a_cs = -1;
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev), CLF_E_SHAPE);

    /* a non-f32 operand */
    int64_t n8 = 64;
    struct clf_tensor *i8 = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 1, &n8, &i8));
    p = o.p;
    p.b_t = i8;
    ck_assert_status(ctx, clf_gemm_cpu_enqueue(ctx, &p, cfg, &s, 0, NULL, &ev), CLF_E_SHAPE);
    clf_tensor_destroy(i8);

    /* after all that, a good call still works */
    run(&o.p, cfg, &s);
    check(&o, o.c, "after errors");
    clf_gemm_scratch_release(ctx, &s);
    release(&o);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *su = suite_create("gemm-cpu");
    TCase *tc = tcase_create("gemm-cpu");
    tcase_set_timeout(tc, 300);
    int nc = clf_gemm_cpu_n_configs;
    tcase_add_loop_test(tc, test_sizes_layouts, 0, nc);
    tcase_add_loop_test(tc, test_batched, 0, nc);
    tcase_add_loop_test(tc, test_epilogue, 0, nc);
    tcase_add_loop_test(tc, test_b_cache, 0, nc);
    tcase_add_test(tc, test_shared_b_packed_once);
    tcase_add_test(tc, test_events);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(su, tc);
    int rc = test_run_suite(su);
    test_ctx_release();
    return rc;
}
