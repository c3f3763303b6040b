/* The executor's queues, per-node timings and costs, and command buffers:
 * a diamond graph run with 1, 2 and 4 in-order queues, directly and
 * recorded / replayed, with new inputs between runs; weights rewritten
 * after recording; a launch that fails; a graph with a marker node (a
 * recorded barrier) on the default queue; mutable recordings brought up to
 * date instead of recorded anew. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/runtime/fault.h"
#include "../lib/runtime/launch.h" /* clf_test_fail_launch_after */
#include "../lib/runtime/ctx.h"

/*
 * The diamond (M = N = K = 96):
 *   a = x · W            (gemm, native provider: W packed once on CPUs)
 *   b = relu(a)          c = 0.5 a + 0.25     (independent of each other)
 *   d = b + c
 * x and W hold small integers in [-4, 4], so every product and partial
 * sum is an integer below 2^24 in magnitude (|sum| <= 96 * 16): the GEMM
 * is exact in any summation order, and so are relu, 0.5 a + 0.25 and
 * b + c (a few integer bits plus two fraction bits). The double reference
 * is therefore exact and every configuration must match it bitwise.
 */
#define DIM 96

struct diamond {
    int m;                 /* rows of x, a, ..., d (DIM but in test_mutable) */
    struct clf_graph *g;
    struct clf_tensor *x, *w, *a, *b, *c, *d;
};

static void fill_ints(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int)(test_rand_u64() % 9) - 4);
}

static void reference(const float *x, const float *w, double *d, int m)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < DIM; j++) {
            double a = 0;
            for (int k = 0; k < DIM; k++)
                a += (double)x[i * DIM + k] * w[k * DIM + j];
            d[i * DIM + j] = (a > 0 ? a : 0) + (0.5 * a + 0.25);
        }
}

/* The diamond over m rows of x; swapped: c computed before b (the same
 * values through other kernels in the same number of nodes). */
static void build_rows(struct clf_ctx *ctx, struct diamond *dm, int m, bool swapped)
{
    int64_t shape[2] = {m, DIM}, wshape[2] = {DIM, DIM};
    dm->m = m;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &dm->x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, wshape, &dm->w));
    ck_assert_ok(ctx, clf_graph_create(ctx, &dm->g));
    struct clf_gemm_params gp = clf_gemm_params_default();
    gp.provider = CLF_GEMM_NATIVE;
    ck_assert_ok(ctx, clf_op_gemm(dm->g, dm->x, dm->w, &gp, &dm->a));
    if (swapped) {
        ck_assert_ok(ctx, clf_op_scale(dm->g, dm->a, 0.5f, 0.25f, &dm->c));
        ck_assert_ok(ctx, clf_op_act(dm->g, dm->a, CLF_ACT_RELU, &dm->b));
    } else {
        ck_assert_ok(ctx, clf_op_act(dm->g, dm->a, CLF_ACT_RELU, &dm->b));
        ck_assert_ok(ctx, clf_op_scale(dm->g, dm->a, 0.5f, 0.25f, &dm->c));
    }
    ck_assert_ok(ctx, clf_op_add(dm->g, dm->b, dm->c, &dm->d));
    ck_assert_uint_eq(clf_graph_node_count(dm->g), 4);
}

static void build(struct clf_ctx *ctx, struct diamond *dm)
{
    build_rows(ctx, dm, DIM, false);
}

static void destroy(struct diamond *dm)
{
    clf_graph_destroy(dm->g);
    clf_tensor_destroy(dm->x);
    clf_tensor_destroy(dm->w);
}

/* Where set, run_check counts the enqueue-kind fault hooks its graph run
 * passes (fault.h) into *count_enqueues; where nonzero, the run's
 * fail_enqueue_at-th such hook fails. */
static unsigned long *count_enqueues, fail_enqueue_at;

/* Writes new x (and W when w_too), runs, checks d bitwise. */
static void run_check(struct clf_ctx *ctx, struct diamond *dm, float *x, float *w, bool w_too,
                      const char *what)
{
    const int m = dm->m;
    fill_ints(x, (size_t)m * DIM);
    ck_assert_ok(ctx, clf_tensor_write(dm->x, x, (size_t)m * DIM * sizeof *x));
    if (w_too) {
        fill_ints(w, DIM * DIM);
        ck_assert_ok(ctx, clf_tensor_write(dm->w, w, DIM * DIM * sizeof *w));
    }
    double *ref = malloc((size_t)m * DIM * sizeof *ref);
    reference(x, w, ref, m);
    if (count_enqueues)
        clf_fault_count(true);
    if (fail_enqueue_at)
        clf_fault_arm(CLF_FAULT_ENQUEUE, fail_enqueue_at, CL_OUT_OF_RESOURCES);
    ck_assert_ok(ctx, clf_graph_run(dm->g));
    if (count_enqueues) {
        *count_enqueues = clf_fault_calls(CLF_FAULT_ENQUEUE);
        clf_fault_reset();
    }
    float *d = test_read_all(dm->d);
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)m * DIM; i++)
        bad += !((double)d[i] == ref[i]); /* NaN never passes */
    ck_assert_msg(bad == 0, "%s: %zu of %d elements differ from the exact result", what, bad,
                  m * DIM);
    free(d);
    free(ref);
}

static struct clf_ctx *make_ctx(int queues, bool command_buffers)
{
    static char *cache;
    if (!cache)
        cache = test_make_tmpdir("queues-cache"); /* shared: one build of each program */
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache;
    p.queues = queues;
    p.command_buffers = command_buffers;
    p.gemm_provider = CLF_GEMM_NATIVE;
    struct clf_ctx *ctx = NULL;
    enum clf_status st = clf_ctx_create(&p, &ctx);
    ck_assert_msg(st == CLF_OK, "context with %d queues: %s", queues, clf_status_str(st));
    ck_assert_int_eq(ctx->n_queues, queues == 0 ? 1 : queues);
    return ctx;
}

/* Intel's CPU runtime (cl_khr_command_buffer 1.0) must record graphs: it is
 * where the command-buffer cases of this suite run in the test command. */
static void expect_recording(struct clf_ctx *ctx, const char *what)
{
    if (ctx->info.command_buffer && !strcmp(ctx->info.platform_name, "Intel(R) OpenCL"))
        ck_assert_msg(ctx->command_buffers,
                      "%s: Intel's runtime has cl_khr_command_buffer, yet graphs are not "
                      "recorded",
                      what);
}

/* True when the latest run of g was a replay (no per-node times then). */
static bool replayed(struct clf_graph *g)
{
    struct clf_node_info n = test_node_info(g, 0);
    ck_assert(!(n.replayed && n.timed));
    return n.replayed;
}

/* Queues 1, 2 and 4, each with command buffers (direct, record, replay)
 * and without (three direct runs), new inputs every run: all exact. */
START_TEST(test_diamond_configs)
{
    static const int queues[] = {1, 2, 4};
    float *x = malloc(DIM * DIM * sizeof *x), *w = malloc(DIM * DIM * sizeof *w);
    for (int qi = 0; qi < 3; qi++) {
        struct clf_ctx *ctx = make_ctx(queues[qi], true);
        bool cb_on = ctx->command_buffers;
        expect_recording(ctx, "diamond");
        for (int with_cb = 1; with_cb >= 0; with_cb--) {
            ctx->command_buffers = cb_on && with_cb;
            struct diamond dm;
            build(ctx, &dm);
            for (int run = 0; run < 3; run++) {
                char what[96];
                snprintf(what, sizeof what, "queues %d, command buffers %s, run %d",
                         queues[qi], ctx->command_buffers ? "on" : "off", run);
                run_check(ctx, &dm, x, w, run == 0, what);
                /* runs 0 (direct) and 1 (records, then runs the buffer)
                 * are not replays of an earlier recording; run 2 replays */
                if (run == 2 && ctx->command_buffers)
                    ck_assert_msg(replayed(dm.g), "%s: not replayed", what);
                if (!ctx->command_buffers)
                    ck_assert(!replayed(dm.g));
            }
            destroy(&dm);
        }
        if (!cb_on)
            printf("queues: the device has no usable command buffers: direct runs only\n");
        clf_ctx_destroy(ctx);
    }
    free(x);
    free(w);
}
END_TEST

/* Per-node timings with 2 queues: indices in range, start <= end, the two
 * branches b and c (nodes 1, 2) on different queues; costs. */
START_TEST(test_timings_and_cost)
{
    struct clf_ctx *ctx = make_ctx(2, false);
    ck_assert(!ctx->command_buffers);
    struct diamond dm;
    build(ctx, &dm);
    struct clf_node_info t[4];
    t[0] = test_node_info(dm.g, 0);
    ck_assert(!t[0].timed && !t[0].replayed); /* not run */
    float *x = malloc(DIM * DIM * sizeof *x), *w = malloc(DIM * DIM * sizeof *w);
    run_check(ctx, &dm, x, w, true, "timings");
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    for (size_t i = 0; i < 4; i++)
        t[i] = test_node_info(dm.g, i);
    for (size_t i = 0; i < 4 && info.profiling; i++) {
        ck_assert(t[i].timed);
        ck_assert_int_ge(t[i].queue, 0);
        ck_assert_int_lt(t[i].queue, 2);
        ck_assert(t[i].start_ms >= 0 && t[i].start_ms <= t[i].end_ms);
        ck_assert(!t[i].replayed);
        double ms = t[i].time_ms;
        ck_assert(ms >= 0 && ms <= t[i].end_ms - t[i].start_ms + 1e-6);
        printf("queues: node %zu on queue %d, %.3f .. %.3f ms\n", i, t[i].queue, t[i].start_ms,
               t[i].end_ms);
    }
    if (info.profiling) {
        ck_assert_int_ne(t[1].queue, t[2].queue);
        ck_assert_int_eq(t[1].queue, t[0].queue); /* b continues a's chain */
        ck_assert(t[1].start_ms >= t[0].end_ms && t[3].start_ms >= t[2].end_ms);
    }

    ck_assert(t[0].flops == 2.0 * DIM * DIM * DIM);
    ck_assert(t[0].bytes == 3.0 * DIM * DIM * 4); /* x, W, a */
    ck_assert(t[3].flops == (double)DIM * DIM);
    ck_assert(t[3].bytes == 3.0 * DIM * DIM * 4); /* b, c, d */
    struct clf_node_info past = {.size = sizeof past};
    ck_assert_status(ctx, clf_graph_node_info(dm.g, 4, &past), CLF_E_INVALID_ARG);
    destroy(&dm);
    clf_ctx_destroy(ctx);
    free(x);
    free(w);
}
END_TEST

/* A recorded graph whose weight is rewritten: the recording (which does
 * not repack W) is dropped, the next run is direct and repacks, the one
 * after records again; all exact. Then a launch failing while running
 * directly and while recording: an error, or a direct fallback, and the
 * context keeps working. */
START_TEST(test_rewrite_and_failure)
{
    struct clf_ctx *ctx = make_ctx(0, true);
    expect_recording(ctx, "the default queue");
    struct diamond dm;
    build(ctx, &dm);
    float *x = malloc(DIM * DIM * sizeof *x), *w = malloc(DIM * DIM * sizeof *w);
    run_check(ctx, &dm, x, w, true, "direct");
    run_check(ctx, &dm, x, w, false, "recorded");
    run_check(ctx, &dm, x, w, false, "replayed");
    ck_assert(!ctx->command_buffers || replayed(dm.g));
    run_check(ctx, &dm, x, w, true, "new W (direct)");
    ck_assert(!replayed(dm.g));
    run_check(ctx, &dm, x, w, false, "new W (recorded again)");
    run_check(ctx, &dm, x, w, true, "newer W (direct)");
    run_check(ctx, &dm, x, w, false, "newer W (recorded again)");
    run_check(ctx, &dm, x, w, false, "newer W (replayed)");
    ck_assert(!ctx->command_buffers || replayed(dm.g));
    destroy(&dm);

    /* direct run: the 3rd launch fails (the GEMM takes 2 or more) */
    build(ctx, &dm);
    clf_recorder_spares_free(ctx); /* a recording, not an update of dm's old one */
    clf_test_fail_launch_after(3);
    enum clf_status st = clf_graph_run(dm.g);
    clf_test_fail_launch_after(0);
    ck_assert_msg(st == CLF_E_OUT_OF_MEMORY, "got %s", clf_status_str(st));
    ck_assert(strstr(clf_ctx_last_error(ctx), "CL_OUT_OF_RESOURCES") != NULL);
    run_check(ctx, &dm, x, w, true, "after a failed run");
    /* recording: the first recorded launch fails; the run falls back to a
     * direct one, which is exact */
    if (ctx->command_buffers) {
        clf_test_fail_launch_after(1);
        run_check(ctx, &dm, x, w, false, "failed recording");
        clf_test_fail_launch_after(0);
    }
    run_check(ctx, &dm, x, w, false, "after a failed recording");
    destroy(&dm);
    clf_ctx_destroy(ctx);
    free(x);
    free(w);
}
END_TEST

/*
 * A marker node recorded as a command-buffer barrier, on the default queue
 * (out-of-order where the device has them): per-row symmetric int8
 * quantisation orders its scale output after the codes with a marker node
 * (in its work-item kernel set, chosen for CPU devices when the op is
 * recorded, and so recorded here as on a CPU device whatever the device).
 * Each row of x holds integers in [-126, 126] and one +-127, so the row's
 * scale is 127 / 127 = 1 exactly, the codes equal x and the dequantised y
 * equals x bitwise: direct, recorded and replayed runs, new x each time.
 */
START_TEST(test_marker_recorded)
{
    enum { ROWS = 32, COLS = 64 };
    struct clf_ctx *ctx = make_ctx(0, true);
    expect_recording(ctx, "a graph with a marker node");
    int64_t shape[2] = {ROWS, COLS};
    struct clf_tensor *x = NULL, *q = NULL, *scale = NULL, *zero = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_quant_params qp = clf_quant_params_default();
    enum clf_device_type type = ctx->info.type;
    ctx->info.type = CLF_DEVICE_CPU;
    enum clf_status st = clf_op_quantize(g, x, &qp, &q, &scale, &zero);
    ctx->info.type = type;
    ck_assert_ok(ctx, st);
    ck_assert_ok(ctx, clf_op_dequantize(g, q, scale, NULL, &qp, &y));
    bool has_marker = false;
    for (size_t i = 0; i < clf_graph_node_count(g); i++)
        has_marker |= !strcmp(test_node_info(g, i).op, "quantize_output");
    ck_assert_msg(has_marker, "the quantisation recorded no marker node");
    float *xs = malloc(ROWS * COLS * sizeof *xs);
    for (int run = 0; run < 3; run++) {
        for (int i = 0; i < ROWS * COLS; i++)
            xs[i] = (float)((int)(test_rand_u64() % 253) - 126);
        for (int r = 0; r < ROWS; r++)
            xs[r * COLS + (int)(test_rand_u64() % COLS)] = test_rand_u64() % 2 ? 127.0f : -127.0f;
        ck_assert_ok(ctx, clf_tensor_write(x, xs, ROWS * COLS * sizeof *xs));
        ck_assert_ok(ctx, clf_graph_run(g));
        float *ys = test_read_all(y), *ss = test_read_all(scale);
        size_t bad = 0;
        for (int i = 0; i < ROWS * COLS; i++)
            bad += !(ys[i] == xs[i]); /* NaN never passes */
        for (int r = 0; r < ROWS; r++)
            bad += !(ss[r] == 1.0f);
        ck_assert_msg(bad == 0, "run %d: %zu values differ from x (or scales from 1)", run, bad);
        if (run == 2 && ctx->command_buffers)
            ck_assert_msg(replayed(g), "run 2 not replayed");
        free(ys);
        free(ss);
    }
    free(xs);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_ctx_destroy(ctx);
}
END_TEST

/* Command buffers recorded and recordings updated since *rec, *upd (then
 * set to the counts of now): drec and dupd of them, else a failure. */
static void expect_counts(struct clf_ctx *ctx, unsigned long *rec, unsigned long *upd,
                          unsigned long drec, unsigned long dupd, const char *what)
{
    ck_assert_msg(ctx->cb_recorded - *rec == drec && ctx->cb_updated - *upd == dupd,
                  "%s: %lu recorded and %lu updated, want %lu and %lu", what,
                  ctx->cb_recorded - *rec, ctx->cb_updated - *upd, drec, dupd);
    *rec = ctx->cb_recorded;
    *upd = ctx->cb_updated;
}

/*
 * Mutable command buffers (cl_khr_command_buffer_mutable_dispatch: Intel's
 * runtime here), brought up to date where they would be recorded anew:
 *  - W rewritten: the run after the direct one (which repacks W) updates;
 *  - the output kept: the graph plans again, its buffers move (the same
 *    dependencies: keeping an intermediate would change them, and record
 *    anew), and the next run updates the recording with the new buffers;
 *  - a destroyed graph's recording taken over by a graph over 160 rows
 *    instead of 96 (new buffers, larger global sizes: rows left out would
 *    keep the previous run's values and fail the check);
 *  - one taken over by a graph of as many nodes but other kernels (b and c
 *    swapped), an update whose first launch fails and one whose
 *    clUpdateMutableCommandsKHR fails: recorded anew;
 *  - three graphs destroyed: the last two recordings kept as spares, which
 *    clf_ctx_trim releases.
 * Every run is exact against the double reference. A device that records
 * without the extension records where an update would be; one that does
 * not record does neither.
 */
START_TEST(test_mutable)
{
    struct clf_ctx *ctx = make_ctx(0, true);
    expect_recording(ctx, "mutable dispatch");
    const bool cb = ctx->command_buffers, mut = cb && ctx->cb.update;
    if (cb && !strcmp(ctx->info.platform_name, "Intel(R) OpenCL"))
        ck_assert_msg(mut, "Intel's runtime has cl_khr_command_buffer_mutable_dispatch, yet "
                           "recordings are not mutable");
    printf("queues: command buffers %s, mutable %s\n", cb ? "on" : "off", mut ? "yes" : "no");
    /* where an update is expected: (records, updates) */
    const unsigned long ur = cb && !mut, uu = mut;
    unsigned long rec = ctx->cb_recorded, upd = ctx->cb_updated;
    float *x = malloc(160 * DIM * sizeof *x), *w = malloc(DIM * DIM * sizeof *w);
    struct diamond dm;
    build(ctx, &dm);
    run_check(ctx, &dm, x, w, true, "direct");
    run_check(ctx, &dm, x, w, false, "recorded");
    expect_counts(ctx, &rec, &upd, cb, 0, "first recording");
    run_check(ctx, &dm, x, w, true, "new W (direct)");
    run_check(ctx, &dm, x, w, false, "new W (updated)");
    expect_counts(ctx, &rec, &upd, ur, uu, "new W");
    ck_assert(!cb || replayed(dm.g));
    run_check(ctx, &dm, x, w, false, "new W (replayed)");
    ck_assert_ok(ctx, clf_graph_keep(dm.g, dm.d));
    run_check(ctx, &dm, x, w, false, "d kept (updated)");
    expect_counts(ctx, &rec, &upd, ur, uu, "d kept");
    run_check(ctx, &dm, x, w, false, "d kept (replayed)");
    expect_counts(ctx, &rec, &upd, 0, 0, "replays");

    /* taken over by 160 rows */
    destroy(&dm);
    build_rows(ctx, &dm, 160, false);
    run_check(ctx, &dm, x, w, true, "160 rows (direct)");
    run_check(ctx, &dm, x, w, false, "160 rows (took the recording over)");
    expect_counts(ctx, &rec, &upd, ur, uu, "160 rows");
    run_check(ctx, &dm, x, w, false, "160 rows (replayed)");
    ck_assert(!cb || replayed(dm.g));

    /* other kernels in as many nodes: the update fails, recorded anew */
    destroy(&dm);
    build_rows(ctx, &dm, 160, true);
    run_check(ctx, &dm, x, w, true, "swapped (direct)");
    run_check(ctx, &dm, x, w, false, "swapped (recorded anew)");
    expect_counts(ctx, &rec, &upd, cb, 0, "other kernels");
    run_check(ctx, &dm, x, w, false, "swapped (replayed)");

    /* the update's first launch fails: recorded anew */
    run_check(ctx, &dm, x, w, true, "newest W (direct)");
    clf_test_fail_launch_after(cb ? 1 : 0); /* a direct run would fail with it */
    run_check(ctx, &dm, x, w, false, "failed update (recorded anew)");
    clf_test_fail_launch_after(0);
    expect_counts(ctx, &rec, &upd, cb, 0, "a failed update");
    run_check(ctx, &dm, x, w, false, "after a failed update (replayed)");
    ck_assert(!cb || replayed(dm.g));

    /* clUpdateMutableCommandsKHR itself fails (the last enqueue-kind hook
     * of an updating run, counted on one first): recorded anew */
    if (mut) {
        unsigned long calls = 0;
        run_check(ctx, &dm, x, w, true, "W again (direct)");
        count_enqueues = &calls;
        run_check(ctx, &dm, x, w, false, "W again (updated, calls counted)");
        count_enqueues = NULL;
        expect_counts(ctx, &rec, &upd, 0, 1, "counted update");
        run_check(ctx, &dm, x, w, true, "W once more (direct)");
        fail_enqueue_at = calls;
        run_check(ctx, &dm, x, w, false, "failed update call (recorded anew)");
        fail_enqueue_at = 0;
        ck_assert(clf_fault_fired(CLF_FAULT_ENQUEUE));
        clf_fault_reset();
        expect_counts(ctx, &rec, &upd, 1, 0, "a failed update call");
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), "clUpdateMutableCommandsKHR") != NULL,
                      "last error: %s", clf_ctx_last_error(ctx));
    }
    destroy(&dm);

    /* three recorded graphs destroyed together: the last two kept;
     * clf_ctx_trim releases them */
    clf_ctx_trim(ctx);
    struct diamond three[3];
    for (int i = 0; i < 3; i++) {
        build(ctx, &three[i]);
        run_check(ctx, &three[i], x, w, true, "spares (direct)");
        run_check(ctx, &three[i], x, w, false, "spares (recorded)");
    }
    expect_counts(ctx, &rec, &upd, 3 * cb, 0, "three graphs alive");
    for (int i = 0; i < 3; i++)
        destroy(&three[i]);
    ck_assert_int_eq(ctx->n_spares, mut ? CLF_SPARE_RECORDINGS : 0);
    clf_ctx_trim(ctx);
    ck_assert_int_eq(ctx->n_spares, 0);
    clf_ctx_destroy(ctx);
    free(x);
    free(w);
}
END_TEST

/* A graph of enc over x [1, seq, 64], its output. */
static struct clf_graph *encoder_graph(struct clf_ctx *ctx, struct clf_encoder *enc, int64_t seq,
                                       struct clf_tensor **x, struct clf_tensor **y)
{
    int64_t shape[3] = {1, seq, 64};
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, shape, x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, *x, NULL, y));
    return g;
}

/* Writes xs (n floats) into x, runs g, returns y. */
static float *encoder_run(struct clf_ctx *ctx, struct clf_graph *g, struct clf_tensor *x,
                          struct clf_tensor *y, const float *xs, size_t n)
{
    ck_assert_ok(ctx, clf_tensor_write(x, xs, n * sizeof *xs));
    ck_assert_ok(ctx, clf_graph_run(g));
    return test_read_all(y);
}

/*
 * A whole encoder (2 layers, d_model 64, 4 heads, d_ff 128: every op kind
 * of a layer) taken over by a graph of another length: seq 15's recording
 * updated for seq 16 (the same kernels; new buffers and length arguments,
 * while most global sizes round alike: test_mutable checks sizes). The
 * updated command buffer must give a direct run's output bitwise (the same
 * kernels with the same arguments): run 2 (updated, input x2) against a
 * fresh graph's direct run of x2, and run 3 (a replay, input x1 again)
 * against run 1 (direct, x1), run 2 having left another output behind.
 */
START_TEST(test_mutable_encoder)
{
    struct clf_ctx *ctx = make_ctx(0, true);
    const bool cb = ctx->command_buffers, mut = cb && ctx->cb.update;
    struct clf_encoder_config cfg;
    clf_encoder_config_init(&cfg, sizeof cfg);
    cfg.layers = 2;
    cfg.d_model = 64;
    cfg.heads = 4;
    cfg.d_ff = 128;
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &cfg, test_seed(), &enc));
    const size_t n = 16 * 64;
    float *x1 = test_random_floats(n, -1, 1), *x2 = test_random_floats(n, -1, 1);
    struct clf_tensor *x = NULL, *y = NULL;
    struct clf_graph *g = encoder_graph(ctx, enc, 15, &x, &y);
    for (int run = 0; run < 2; run++)
        free(encoder_run(ctx, g, x, y, x1, 15 * 64));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    unsigned long rec = ctx->cb_recorded, upd = ctx->cb_updated;
    g = encoder_graph(ctx, enc, 16, &x, &y);
    float *y1 = encoder_run(ctx, g, x, y, x1, n);
    float *y2 = encoder_run(ctx, g, x, y, x2, n);
    expect_counts(ctx, &rec, &upd, cb && !mut, mut, "seq 16 after seq 15");
    float *y3 = encoder_run(ctx, g, x, y, x1, n);
    ck_assert(!cb || replayed(g));
    struct clf_tensor *xc = NULL, *yc = NULL;
    struct clf_graph *gc = encoder_graph(ctx, enc, 16, &xc, &yc);
    float *y2_direct = encoder_run(ctx, gc, xc, yc, x2, n);
    size_t bad2 = 0, bad3 = 0, same = 0;
    for (size_t i = 0; i < n; i++) {
        bad2 += memcmp(&y2[i], &y2_direct[i], sizeof *y2) != 0 || y2[i] != y2[i];
        bad3 += memcmp(&y3[i], &y1[i], sizeof *y1) != 0 || y1[i] != y1[i];
        same += y2[i] == y1[i];
    }
    ck_assert_msg(bad2 == 0, "updated run: %zu of %zu outputs differ from a direct run's", bad2, n);
    ck_assert_msg(bad3 == 0, "replay: %zu of %zu outputs differ from run 1's", bad3, n);
    ck_assert_msg(same < n / 100, "x2's output equals x1's in %zu of %zu places", same, n);
    free(x1);
    free(x2);
    free(y1);
    free(y2);
    free(y3);
    free(y2_direct);
    clf_graph_destroy(gc);
    clf_tensor_destroy(xc);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);
    clf_ctx_destroy(ctx);
}
END_TEST

/* CLFORMER_COMMAND_BUFFER: unset, CPU devices never record (replays
 * measured slower there); 0 never; 1 wherever the device can (main sets
 * it); another value refused. */
START_TEST(test_policy)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    struct clf_ctx *ctx = NULL;
    setenv("CLFORMER_COMMAND_BUFFER", "sometimes", 1);
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    setenv("CLFORMER_COMMAND_BUFFER", "0", 1);
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    ck_assert(!ctx->command_buffers);
    clf_ctx_destroy(ctx);
    unsetenv("CLFORMER_COMMAND_BUFFER");
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    ck_assert(ctx->info.type != CLF_DEVICE_CPU || !ctx->command_buffers);
    clf_ctx_destroy(ctx);
    setenv("CLFORMER_COMMAND_BUFFER", "1", 1);
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    expect_recording(ctx, "CLFORMER_COMMAND_BUFFER=1");
    clf_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    /* record on CPU devices too (by default only other devices do): the
     * command-buffer cases run on Intel's CPU runtime */
    setenv("CLFORMER_COMMAND_BUFFER", "1", 1);
    test_require_device();
    printf("queues: seed %llu\n", (unsigned long long)test_seed());
    Suite *s = suite_create("queues");
    TCase *tc = tcase_create("queues");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_diamond_configs);
    tcase_add_test(tc, test_timings_and_cost);
    tcase_add_test(tc, test_rewrite_and_failure);
    tcase_add_test(tc, test_marker_recorded);
    tcase_add_test(tc, test_mutable);
    tcase_add_test(tc, test_mutable_encoder);
    tcase_add_test(tc, test_policy);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
