/* Graph core: recorded ops run in dependency order and match a
 * double-precision CPU reference; repeated runs with new inputs; errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/graph/graph.h" /* internal: dependency lists, the memory plan */

/* Largest relative error of out against ref; NaN in out gives +inf. */
static double max_rel_err(const float *out, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - ref[i]) / fabs(ref[i]);
        if (!(e <= worst)) /* NaN-safe: NaN makes it inf */
            worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/*
 * The graph (S = 5 x 12, all values in [0.5, 1.5], so nothing cancels):
 *   h  = view of x as [heads 3, seq 5, d 4]       (input view, strided)
 *   s  = a + b                                      depth 1
 *   p  = s * c                                      depth 2
 *   q  = scale(p, 0.5, 0.25)  (one fma rounding)    depth 3
 *   hc = copy(h)                                    exact
 *   r  = q + hc (q reshaped by a view)              depth 4
 * Each op rounds its exact result once, so with positive operands the
 * relative error of a depth-k result is at most (1+u)^k - 1 ~ k*u over the
 * exact value computed in double from the same float inputs.
 */
START_TEST(test_dependent_ops)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[3] = {3, 5, 4};
    int64_t xs[2] = {5, 12};
    float a[60], b[60], c[60], x[60], out[60];
    double ref_q[60], ref_r[60];
    struct clf_tensor *ta, *tb, *tc, *tx, *h, *s, *p, *q, *hc, *qv, *r;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, shape, &ta));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, shape, &tb));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, shape, &tc));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, xs, &tx));
    int64_t hst[3] = {4, 12, 1};
    ck_assert_ok(ctx, clf_tensor_view(tx, 3, shape, hst, 0, &h));

    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_add(g, ta, tb, &s));
    ck_assert_ok(ctx, clf_op_mul(g, s, tc, &p));
    ck_assert_ok(ctx, clf_op_scale(g, p, 0.5f, 0.25f, &q));
    ck_assert_ok(ctx, clf_op_copy(g, h, &hc));
    /* q seen through a view of its own storage: the dependency must follow */
    int64_t qst[3] = {20, 4, 1};
    ck_assert_ok(ctx, clf_tensor_view(q, 3, shape, qst, 0, &qv));
    ck_assert_ok(ctx, clf_op_add(g, qv, hc, &r));
    ck_assert_uint_eq(clf_graph_node_count(g), 5);
    ck_assert_str_eq(test_node_info(g, 1).desc, "mul");
    ck_assert(clf_tensor_is_contiguous(hc));

    for (int run = 0; run < 3; run++) { /* the same graph, new inputs each time */
        test_fill_uniform(a, 60, 0.25, 0.75);
        test_fill_uniform(b, 60, 0.25, 0.75);
        test_fill_uniform(c, 60, 0.5, 1.5);
        test_fill_uniform(x, 60, 0.5, 1.5);
        ck_assert_ok(ctx, clf_tensor_write(ta, a, sizeof a));
        ck_assert_ok(ctx, clf_tensor_write(tb, b, sizeof b));
        ck_assert_ok(ctx, clf_tensor_write(tc, c, sizeof c));
        ck_assert_ok(ctx, clf_tensor_write(tx, x, sizeof x));
        test_poison(s);
        test_poison(p);
        test_poison(q);
        test_poison(hc);
        test_poison(r);
        ck_assert_ok(ctx, clf_graph_run(g));

        for (int hh = 0; hh < 3; hh++)
            for (int t = 0; t < 5; t++)
                for (int d = 0; d < 4; d++) {
                    int i = (hh * 5 + t) * 4 + d;
                    ref_q[i] = 0.5 * (((double)a[i] + b[i]) * c[i]) + 0.25;
                    ref_r[i] = ref_q[i] + x[t * 12 + hh * 4 + d];
                }
        ck_assert_ok(ctx, clf_tensor_read(q, out, sizeof out));
        double eq = max_rel_err(out, ref_q, 60);
        ck_assert_msg(eq <= 3 * TEST_U32 * (1 + 1e-6), "q: relative error %g > 3u", eq);
        ck_assert_ok(ctx, clf_tensor_read(hc, out, sizeof out));
        for (int hh = 0; hh < 3; hh++)
            for (int t = 0; t < 5; t++)
                for (int d = 0; d < 4; d++)
                    ck_assert_float_eq(out[(hh * 5 + t) * 4 + d], x[t * 12 + hh * 4 + d]);
        ck_assert_ok(ctx, clf_tensor_read(r, out, sizeof out));
        double er = max_rel_err(out, ref_r, 60);
        ck_assert_msg(er <= 4 * TEST_U32 * (1 + 1e-6), "r: relative error %g > 4u", er);
    }
    /* graph-owned outputs ignore clf_tensor_destroy; the graph frees them */
    clf_tensor_destroy(r);
    clf_tensor_destroy(qv);
    clf_graph_destroy(g);
    clf_tensor_destroy(h);
    clf_tensor_destroy(ta);
    clf_tensor_destroy(tb);
    clf_tensor_destroy(tc);
    clf_tensor_destroy(tx);
}
END_TEST

/* A chain of 20 doublings ending in a diamond: checks that the order is kept
 * over many nodes on an out-of-order queue (every result is exact: powers of
 * two times small integers). Large enough that a missing dependency races. */
#define N_CHAIN (1 << 18)
/* One call describes a node: the op's name (the first word of the
 * description, which tools used to cut out), description, cost, and after
 * a run its times. The struct's size decides what is written: a caller
 * built against an older (smaller) struct gets only the fields it has, a
 * newer (larger) one gets the fields it does not know zeroed. */
START_TEST(test_node_description)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t s23[2] = {2, 3}, s34[2] = {3, 4};
    struct clf_tensor *a, *b, *y1, *y2, *y3;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s23, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s34, &b));
    const float ones[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_ok(ctx, clf_tensor_write(a, ones, 6 * sizeof(float)));
    ck_assert_ok(ctx, clf_tensor_write(b, ones, 12 * sizeof(float)));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_add(g, a, a, &y1));
    ck_assert_ok(ctx, clf_op_gemm(g, y1, b, NULL, &y2));
    ck_assert_ok(ctx, clf_op_softmax(g, y2, &y3));
    static const char *ops[3] = {"add", "gemm", "softmax"};
    static const double flops[2] = {6, 2 * 2 * 3 * 4};
    /* bytes: add reads a once (the same tensor twice) and writes y1 */
    static const double bytes[3] = {2 * 6 * 4, (6 + 12 + 8) * 4, 2 * 8 * 4};
    for (int run = 0; run < 2; run++) {
        if (run)
            ck_assert_ok(ctx, clf_graph_run(g));
        for (size_t i = 0; i < 3; i++) {
            struct clf_node_info n = test_node_info(g, i);
            ck_assert_uint_eq(n.size, sizeof n);
            ck_assert_str_eq(n.op, ops[i]);
            size_t len = strlen(n.op);
            ck_assert_msg(!strncmp(n.desc, n.op, len) && (n.desc[len] == ' ' || !n.desc[len]),
                          "%s: %s", n.op, n.desc);
            if (i < 2) /* softmax's count is its own (rows.c) */
                ck_assert_msg(n.flops == flops[i], "%s: %g flops", n.op, n.flops);
            ck_assert_msg(n.bytes == bytes[i], "%s: %g bytes", n.op, n.bytes);
            ck_assert(!n.replayed);
            struct clf_device_info info;
            ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
            ck_assert(n.timed == (run == 1 && info.profiling));
            if (n.timed)
                ck_assert(n.time_ms >= 0 && n.start_ms >= 0 && n.start_ms <= n.end_ms);
            else
                ck_assert(n.time_ms == 0 && n.start_ms == 0 && n.end_ms == 0);
        }
    }

    /* an older caller: its struct ends before flops; nothing past it written */
    union {
        struct clf_node_info n;
        unsigned char bytes[sizeof(struct clf_node_info) + 32];
    } u;
    const size_t old = offsetof(struct clf_node_info, flops);
    memset(&u, 0xab, sizeof u);
    u.n.size = old;
    ck_assert_ok(ctx, clf_graph_node_info(g, 1, &u.n));
    ck_assert_uint_eq(u.n.size, old);
    ck_assert_str_eq(u.n.op, "gemm");
    ck_assert(!strncmp(u.n.desc, "gemm ", 5));
    for (size_t k = old; k < sizeof u; k++)
        ck_assert_msg(u.bytes[k] == 0xab, "byte %zu written", k);
    /* a newer caller: 32 more bytes, zeroed; its size stays */
    memset(&u, 0xab, sizeof u);
    u.n.size = sizeof u;
    ck_assert_ok(ctx, clf_graph_node_info(g, 1, &u.n));
    ck_assert_uint_eq(u.n.size, sizeof u);
    ck_assert_str_eq(u.n.op, "gemm");
    ck_assert(u.n.flops == flops[1]);
    for (size_t k = sizeof u.n; k < sizeof u; k++)
        ck_assert_msg(u.bytes[k] == 0, "byte %zu not zeroed", k);
    /* refused: no size, NULL, out of range */
    struct clf_node_info n = {.size = 0};
    ck_assert_status(ctx, clf_graph_node_info(g, 0, &n), CLF_E_INVALID_ARG);
    n.size = sizeof(size_t) - 1;
    ck_assert_status(ctx, clf_graph_node_info(g, 0, &n), CLF_E_INVALID_ARG);
    n.size = sizeof n;
    ck_assert_status(ctx, clf_graph_node_info(g, 0, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_graph_node_info(g, 3, &n), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_graph_node_info(NULL, 0, &n), CLF_E_INVALID_ARG);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);
}
END_TEST

START_TEST(test_chain_and_diamond)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[1] = {N_CHAIN};
    float *host = malloc(N_CHAIN * sizeof *host), *out = malloc(N_CHAIN * sizeof *out);
    for (int i = 0; i < N_CHAIN; i++)
        host[i] = (float)(i % 1000 - 500);
    struct clf_tensor *x, *y, *left, *right;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &x));
    ck_assert_ok(ctx, clf_tensor_write(x, host, N_CHAIN * sizeof *host));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    y = x;
    for (int k = 0; k < 20; k++) /* y = 2^20 * x, exactly */
        ck_assert_ok(ctx, clf_op_scale(g, y, 2.0f, 0.0f, &y));
    ck_assert_ok(ctx, clf_op_scale(g, y, 0.5f, 0.0f, &left)); /* 2^19 x */
    ck_assert_ok(ctx, clf_op_scale(g, y, 0.25f, 0.0f, &right)); /* 2^18 x */
    ck_assert_ok(ctx, clf_op_add(g, left, right, &y)); /* 3 * 2^18 x, exact */
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(y, out, N_CHAIN * sizeof *out));
    for (int i = 0; i < N_CHAIN; i++)
        ck_assert_float_eq(out[i], 3.0f * 262144.0f * (float)(i % 1000 - 500));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    free(host);
    free(out);
}
END_TEST

/* The recorded dependencies themselves (a race test alone can pass by luck):
 * each node waits for exactly the latest writers of its inputs' storage,
 * views included. */
START_TEST(test_dependencies_recorded)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[2] = {4, 8}, half[2] = {4, 4}, st[2] = {8, 1};
    struct clf_tensor *x, *a, *b, *c, *av, *d, *e;
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_scale(g, x, 2, 0, &a));          /* 0: no deps */
    ck_assert_ok(ctx, clf_op_scale(g, x, 3, 0, &b));          /* 1: no deps */
    ck_assert_ok(ctx, clf_op_add(g, a, b, &c));               /* 2: 0, 1 */
    ck_assert_ok(ctx, clf_tensor_view(a, 2, half, st, 4, &av));
    ck_assert_ok(ctx, clf_op_copy(g, av, &d));                /* 3: 0 (through a view) */
    ck_assert_ok(ctx, clf_op_mul(g, c, c, &e));               /* 4: 2 once */
    ck_assert_uint_eq(g->n_nodes, 5);
    ck_assert_uint_eq(g->nodes[0].n_deps, 0);
    ck_assert_uint_eq(g->nodes[1].n_deps, 0);
    ck_assert_uint_eq(g->nodes[2].n_deps, 2);
    ck_assert_uint_eq(g->nodes[2].deps[0], 0);
    ck_assert_uint_eq(g->nodes[2].deps[1], 1);
    ck_assert_uint_eq(g->nodes[3].n_deps, 1);
    ck_assert_uint_eq(g->nodes[3].deps[0], 0);
    ck_assert_uint_eq(g->nodes[4].n_deps, 1);
    ck_assert_uint_eq(g->nodes[4].deps[0], 2);
    clf_tensor_destroy(av);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
}
END_TEST

/* Elementwise ops on strided views (the non-dense index path) and on dense
 * tensors at an offset (the dense path), against exact products/sums. */
START_TEST(test_strided_elementwise)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s[2] = {7, 9}, ts[2] = {9, 7}, tst[2] = {1, 9}, rs[1] = {9};
    float x[63], out[63];
    for (int i = 0; i < 63; i++)
        x[i] = (float)(i % 11) - 5.0f;
    struct clf_tensor *tx = test_upload(2, s, x), *xt, *row1, *y, *z, *w;
    ck_assert_ok(ctx, clf_tensor_view(tx, 2, ts, tst, 0, &xt)); /* transpose */
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_mul(g, xt, xt, &y));
    ck_assert_ok(ctx, clf_op_scale(g, xt, 2.0f, 1.0f, &z));
    int64_t unit[1] = {1};
    ck_assert_ok(ctx, clf_tensor_view(tx, 1, rs, unit, 27, &row1)); /* dense, offset 27 */
    ck_assert_ok(ctx, clf_op_add(g, row1, row1, &w));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 7; j++)
            ck_assert_float_eq(out[i * 7 + j], x[j * 9 + i] * x[j * 9 + i]);
    ck_assert_ok(ctx, clf_tensor_read(z, out, sizeof out));
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 7; j++)
            ck_assert_float_eq(out[i * 7 + j], 2.0f * x[j * 9 + i] + 1.0f);
    ck_assert_ok(ctx, clf_tensor_read(w, out, 9 * sizeof *out));
    for (int j = 0; j < 9; j++)
        ck_assert_float_eq(out[j], 2.0f * x[27 + j]);
    clf_graph_destroy(g);
    clf_tensor_destroy(row1);
    clf_tensor_destroy(xt);
    clf_tensor_destroy(tx);
}
END_TEST

START_TEST(test_copy_each_dtype)
{
    struct clf_ctx *ctx = test_ctx();
    static const enum clf_dtype dts[] = {CLF_F32, CLF_F16, CLF_I8, CLF_I32};
    int64_t shape[2] = {6, 10}, ts[2] = {10, 6}, tst[2] = {1, 10};
    unsigned char host[240], out[240];
    for (int k = 0; k < 4; k++) {
        size_t es = clf_dtype_size(dts[k]);
        for (size_t i = 0; i < sizeof host; i++)
            host[i] = (unsigned char)test_rand_u64();
        struct clf_tensor *x, *xt, *y;
        struct clf_graph *g;
        ck_assert_ok(ctx, clf_tensor_create(ctx, dts[k], 2, shape, &x));
        ck_assert_ok(ctx, clf_tensor_write(x, host, 60 * es));
        ck_assert_ok(ctx, clf_tensor_view(x, 2, ts, tst, 0, &xt)); /* transpose */
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_op_copy(g, xt, &y));
        ck_assert_int_eq(clf_tensor_dtype(y), dts[k]);
        ck_assert_ok(ctx, clf_graph_run(g));
        memset(out, 0xee, sizeof out);
        ck_assert_ok(ctx, clf_tensor_read(y, out, 60 * es));
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 6; j++)
                ck_assert(!memcmp(out + (size_t)(i * 6 + j) * es, host + (size_t)(j * 10 + i) * es,
                                  es));
        clf_graph_destroy(g);
        clf_tensor_destroy(xt);
        clf_tensor_destroy(x);
    }
}
END_TEST

START_TEST(test_op_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s1[2] = {2, 3}, s2[2] = {3, 2};
    struct clf_tensor *a, *b, *i8, *y = (struct clf_tensor *)ctx;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s1, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s2, &b));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, s1, &i8));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_add(g, a, b, &y), CLF_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_mul(g, a, i8, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_scale(g, i8, 1, 0, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_add(g, a, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_add(g, a, a, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_copy(g, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_graph_run(g)); /* empty graph: nothing to do */

    /* a tensor of another context is refused */
    struct clf_ctx *other = NULL;
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = "";
    ck_assert_int_eq(clf_ctx_create(&p, &other), CLF_OK);
    struct clf_tensor *foreign;
    ck_assert_ok(other, clf_tensor_create(other, CLF_F32, 2, s1, &foreign));
    ck_assert_status(ctx, clf_op_add(g, a, foreign, &y), CLF_E_INVALID_ARG);
    clf_tensor_destroy(foreign);
    clf_ctx_destroy(other);

    clf_graph_destroy(g);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);
    clf_tensor_destroy(i8);
}
END_TEST

/* ---- memory planning (lib/graph/plan.c) ---- */

/* Runs a 6-layer encoder on x in a fresh graph; returns the output on the
 * host. no_reuse defeats the planner (every tensor its own memory). */
static float *encoder_once(struct clf_encoder *enc, struct clf_tensor *x, size_t n,
                           bool no_reuse)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_graph *g;
    struct clf_tensor *y;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    g->no_reuse = no_reuse;
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, x, NULL, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = malloc(n * sizeof *out);
    ck_assert_ok(ctx, clf_tensor_read(y, out, n * sizeof *out));
    clf_graph_destroy(g);
    return out;
}

/*
 * A 6-layer encoder stack (d 48, 4 heads, ff 80, seq 16, batch 2): the plan
 * shares memory between layers, so it needs well under a third of one
 * buffer per tensor (each layer's ~20 tensors die within the layer; only
 * a few live at a time). The results are bitwise those of the same graph
 * with planning defeated (the same kernels on the same data: sharing memory
 * must change nothing), and one plan run on two inputs gives each input's
 * result (a fresh graph's, bitwise).
 */
START_TEST(test_plan_encoder)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_encoder_config c = clf_encoder_config_default();
    c.d_model = 48, c.heads = 4, c.d_ff = 80, c.layers = 6;
    struct clf_encoder *enc;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &c, test_rand_u64(), &enc));
    int64_t xs[3] = {2, 16, 48};
    size_t n = 2 * 16 * 48;
    float *x1 = malloc(n * sizeof *x1), *x2 = malloc(n * sizeof *x2);
    float *out = malloc(n * sizeof *out);
    test_fill_uniform(x1, n, -1, 1);
    test_fill_uniform(x2, n, -1, 1);
    struct clf_tensor *x = test_upload(3, xs, x1), *y;
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_encoder_forward(enc, g, x, NULL, &y));
    size_t planned = 0, naive = 0;
    ck_assert_status(ctx, clf_graph_memory(g, &planned, &naive), CLF_E_STATE);
    ck_assert_status(ctx, clf_tensor_read(y, out, n * sizeof *out), CLF_E_STATE); /* not run */
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_graph_memory(g, &planned, &naive));
    printf("encoder 6 x (d 48, ff 80), [2, 16] tokens: planned %zu bytes, naive %zu (%.1fx), "
           "%s, %zu nodes\n",
           planned, naive, (double)naive / (double)planned, g->arena ? "arena" : "pool",
           g->n_nodes);
    ck_assert_uint_le(planned, naive / 3);

    float *ref = encoder_once(enc, x, n, true);
    ck_assert_ok(ctx, clf_tensor_read(y, out, n * sizeof *out));
    ck_assert(!memcmp(out, ref, n * sizeof *out));
    free(ref);

    /* the same plan, another input */
    ck_assert_ok(ctx, clf_tensor_write(x, x2, n * sizeof *x2));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(y, out, n * sizeof *out));
    ref = encoder_once(enc, x, n, false);
    ck_assert(!memcmp(out, ref, n * sizeof *out));
    for (size_t i = 0; i < n; i++)
        ck_assert(isfinite(out[i]));
    free(ref);
    /* and back to the first */
    ck_assert_ok(ctx, clf_tensor_write(x, x1, n * sizeof *x1));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(y, out, n * sizeof *out));
    ref = encoder_once(enc, x, n, true);
    ck_assert(!memcmp(out, ref, n * sizeof *out));
    free(ref);

    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);
    free(x1);
    free(x2);
    free(out);
}
END_TEST

#define N_PLAN (1 << 18)

/*
 * Graph of equal-size tensors where memory is reused across independent
 * branches (x and w are inputs):
 *   0: a = 2x         lifetime [0, 1]
 *   1: b = 3a         [1, 3]      (a's last reader)
 *   2: c = 5w         [2, 3]      independent of 0 and 1: takes a's memory
 *   3: d = b + c      [3, end]    result
 * Node 2 must wait for nodes 0 and 1 (it overwrites a, which node 1 reads):
 * without that dependency an out-of-order queue may run it first and b
 * would be 3 * 5w. All values are small integers times powers of two:
 * every result is exact.
 */
static void record_reuse(struct clf_graph *g, struct clf_tensor *x, struct clf_tensor *w,
                         struct clf_tensor **a, struct clf_tensor **b, struct clf_tensor **c,
                         struct clf_tensor **d)
{
    struct clf_ctx *ctx = test_ctx();
    ck_assert_ok(ctx, clf_op_scale(g, x, 2, 0, a));
    ck_assert_ok(ctx, clf_op_scale(g, *a, 3, 0, b));
    ck_assert_ok(ctx, clf_op_scale(g, w, 5, 0, c));
    ck_assert_ok(ctx, clf_op_add(g, *b, *c, d));
}

/* The memory plan's record of t's storage (t made by g's ops). */
static const struct clf_plan_store *plan_of(const struct clf_graph *g, const struct clf_tensor *t)
{
    const struct clf_plan_store *rec = clf_plan_store_of(g, t->storage);
    ck_assert_ptr_nonnull(rec);
    return rec;
}

static bool has_dep(const struct clf_node *n, size_t j)
{
    for (size_t k = 0; k < n->n_deps; k++)
        if (n->deps[k] == j)
            return true;
    return false;
}

START_TEST(test_plan_reuse_order)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[1] = {N_PLAN};
    float *hx = malloc(N_PLAN * sizeof *hx), *hw = malloc(N_PLAN * sizeof *hw);
    float *out = malloc(N_PLAN * sizeof *out);
    struct clf_tensor *x, *w, *a, *b, *c, *d, *e;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &w));
    printf("queue %s\n", ctx->queue_out_of_order ? "out of order" : "in order");
    for (int pool = 0; pool < 2; pool++) { /* the arena, then the fallback pool */
        for (int i = 0; i < N_PLAN; i++) {
            hx[i] = (float)(i % 1000 - 500);
            hw[i] = (float)(i % 77 - 38);
        }
        ck_assert_ok(ctx, clf_tensor_write(x, hx, N_PLAN * sizeof *hx));
        ck_assert_ok(ctx, clf_tensor_write(w, hw, N_PLAN * sizeof *hw));
        struct clf_graph *g;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        g->plan_pool = pool;
        record_reuse(g, x, w, &a, &b, &c, &d);
        ck_assert_uint_eq(g->nodes[2].n_deps, 0); /* recorded: independent */
        for (int run = 0; run < 3; run++) {
            ck_assert_ok(ctx, clf_graph_run(g));
            /* the arena where the context's plan mode allows it (auto: CPU
             * devices; CLFORMER_PLAN may force either) */
            const bool arena_ok =
                ctx->plan_mode == 1 || (ctx->plan_mode == 0 && ctx->info.type == CLF_DEVICE_CPU);
            ck_assert_int_eq(g->arena, !pool && arena_ok);
            /* c shares a's memory: node 2 waits for node 0 (a's writer) and
             * node 1 (its reader); the plan did not add deps twice */
            if (g->arena)
                ck_assert_uint_eq(plan_of(g, c)->off, plan_of(g, a)->off);
            else
                ck_assert_ptr_eq(c->storage->mem, a->storage->mem);
            ck_assert(plan_of(g, a)->reused);
            ck_assert(!plan_of(g, b)->reused && !plan_of(g, c)->reused &&
                      !plan_of(g, d)->reused);
            ck_assert(has_dep(&g->nodes[2], 0) && has_dep(&g->nodes[2], 1));
            ck_assert_uint_eq(g->nodes[2].n_deps, 2);
            ck_assert_ok(ctx, clf_tensor_read(d, out, N_PLAN * sizeof *out));
            for (int i = 0; i < N_PLAN; i++)
                ck_assert_float_eq(out[i], 6.0f * hx[i] + 5.0f * hw[i]);
            ck_assert_ok(ctx, clf_tensor_read(b, out, N_PLAN * sizeof *out));
            for (int i = 0; i < N_PLAN; i++)
                ck_assert_float_eq(out[i], 6.0f * hx[i]);
            /* a's memory now holds c: reading it is refused */
            ck_assert_status(ctx, clf_tensor_read(a, out, N_PLAN * sizeof *out), CLF_E_STATE);
            size_t planned, naive;
            ck_assert_ok(ctx, clf_graph_memory(g, &planned, &naive));
            ck_assert_uint_eq(naive, 4 * N_PLAN * sizeof(float));
            ck_assert_uint_le(planned, naive * 3 / 4 + 4096); /* 3 tensors' memory (+ alignment) */
            for (int i = 0; i < N_PLAN; i++) /* next run: new inputs */
                hx[i] = (float)((i + run + 1) % 999 - 500);
            ck_assert_ok(ctx, clf_tensor_write(x, hx, N_PLAN * sizeof *hx));
        }
        /* a node added after running plans again: d becomes an intermediate
         * (read by e), e the result */
        ck_assert_ok(ctx, clf_op_scale(g, d, 0.5f, 0, &e));
        ck_assert(!g->planned);
        ck_assert_status(ctx, clf_tensor_read(e, out, N_PLAN * sizeof *out), CLF_E_STATE);
        uint64_t gen = g->plan_gen;
        ck_assert_ok(ctx, clf_graph_run(g));
        ck_assert_uint_eq(g->plan_gen, gen + 1);
        ck_assert_uint_eq(g->nodes[2].n_deps, 2); /* recomputed, not doubled */
        ck_assert_ok(ctx, clf_tensor_read(e, out, N_PLAN * sizeof *out));
        for (int i = 0; i < N_PLAN; i++)
            ck_assert_float_eq(out[i], 0.5f * (6.0f * hx[i] + 5.0f * hw[i]));
        clf_graph_destroy(g);
    }
    clf_tensor_destroy(x);
    clf_tensor_destroy(w);
    free(hx);
    free(hw);
    free(out);
}
END_TEST

/* clf_graph_keep: a kept intermediate keeps its memory and reads back;
 * keeping after planning plans again; tensors not made by the graph are
 * refused. */
START_TEST(test_plan_keep)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[1] = {4096};
    float hx[4096], hw[4096], out[4096];
    for (int i = 0; i < 4096; i++) {
        hx[i] = (float)(i % 100 - 50);
        hw[i] = (float)(i % 7);
    }
    struct clf_tensor *x = test_upload(1, shape, hx), *w = test_upload(1, shape, hw);
    struct clf_tensor *a, *b, *c, *d, *av;
    struct clf_graph *g, *other;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_graph_create(ctx, &other));
    record_reuse(g, x, w, &a, &b, &c, &d);
    ck_assert_status(ctx, clf_graph_keep(g, x), CLF_E_INVALID_ARG); /* not the graph's */
    ck_assert_status(ctx, clf_graph_keep(other, a), CLF_E_INVALID_ARG); /* another graph's */
    ck_assert_status(ctx, clf_graph_keep(g, NULL), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_graph_run(g));
    size_t p1, p2, naive;
    ck_assert_ok(ctx, clf_graph_memory(g, &p1, &naive));
    ck_assert_status(ctx, clf_tensor_read(a, out, sizeof out), CLF_E_STATE);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "clf_graph_keep"), "message: %s",
                  clf_ctx_last_error(ctx));
    /* keep a through a view of it, after planning: the next run plans again */
    int64_t unit[1] = {1};
    ck_assert_ok(ctx, clf_graph_view(g, a, 1, shape, unit, 0, &av));
    ck_assert_ok(ctx, clf_graph_keep(g, av));
    ck_assert(!g->planned);
    ck_assert_status(ctx, clf_graph_memory(g, &p2, &naive), CLF_E_STATE);
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_graph_memory(g, &p2, &naive));
    ck_assert_uint_gt(p2, p1); /* a no longer shares */
    ck_assert(!plan_of(g, a)->reused);
    ck_assert_ok(ctx, clf_tensor_read(a, out, sizeof out));
    for (int i = 0; i < 4096; i++)
        ck_assert_float_eq(out[i], 2.0f * hx[i]);
    ck_assert_ok(ctx, clf_tensor_read(d, out, sizeof out));
    for (int i = 0; i < 4096; i++)
        ck_assert_float_eq(out[i], 6.0f * hx[i] + 5.0f * hw[i]);
    clf_graph_destroy(other);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(w);
}
END_TEST

/* The diamond a -> b, a -> c, (b, c) -> d with a, b, c intermediates:
 * b and c are alive together (neither may take the other's memory), d may
 * take a's. */
START_TEST(test_plan_diamond)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[1] = {N_PLAN};
    float *hx = malloc(N_PLAN * sizeof *hx), *out = malloc(N_PLAN * sizeof *out);
    for (int i = 0; i < N_PLAN; i++)
        hx[i] = (float)(i % 1000 - 500);
    struct clf_tensor *x, *a, *b, *c, *d;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &x));
    ck_assert_ok(ctx, clf_tensor_write(x, hx, N_PLAN * sizeof *hx));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_scale(g, x, 2, 0, &a));   /* 0 */
    ck_assert_ok(ctx, clf_op_scale(g, a, 3, 0, &b));   /* 1 */
    ck_assert_ok(ctx, clf_op_scale(g, a, 0.5f, 0, &c)); /* 2 */
    ck_assert_ok(ctx, clf_op_add(g, b, c, &d));        /* 3 */
    test_poison(d); /* writing before the first run plans the graph */
    ck_assert(g->planned);
    ck_assert_status(ctx, clf_tensor_read(d, out, N_PLAN * sizeof *out), CLF_E_STATE);
    for (int run = 0; run < 2; run++) {
        ck_assert_ok(ctx, clf_graph_run(g));
        ck_assert_ok(ctx, clf_tensor_read(d, out, N_PLAN * sizeof *out));
        for (int i = 0; i < N_PLAN; i++)
            ck_assert_float_eq(out[i], 7.0f * hx[i]);
    }
    ck_assert_ptr_ne(b->storage->mem, c->storage->mem);
    size_t planned, naive;
    ck_assert_ok(ctx, clf_graph_memory(g, &planned, &naive));
    ck_assert_uint_le(planned, naive * 3 / 4 + 4096);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    free(hx);
    free(out);
}
END_TEST

/* A graph that cannot fit the device (its memory and largest allocation
 * lowered on the context) is refused by its run before anything is
 * planned, tuned or built, with the sizes in the message; it runs once
 * the device is back as it was. */
START_TEST(test_plan_fit)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t shape[1] = {N_PLAN};
    const size_t bytes = N_PLAN * sizeof(float);
    float *hx = malloc(bytes), *out = malloc(bytes);
    for (int i = 0; i < N_PLAN; i++)
        hx[i] = (float)(i % 100);
    struct clf_tensor *x, *a, *b, *c;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &x));
    ck_assert_ok(ctx, clf_tensor_write(x, hx, bytes));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_scale(g, x, 2, 0, &a));
    ck_assert_ok(ctx, clf_op_scale(g, a, 3, 0, &b));
    ck_assert_ok(ctx, clf_op_add(g, a, b, &c)); /* a, b and c alive together: 3 x bytes */
    const uint64_t global = ctx->info.global_mem_bytes, max_alloc = ctx->info.max_alloc_bytes;
    ctx->info.global_mem_bytes = 2 * bytes;
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_OUT_OF_MEMORY);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "CL_DEVICE_GLOBAL_MEM_SIZE"), "%s",
                  clf_ctx_last_error(ctx));
    char has[32];
    snprintf(has, sizeof has, "the device has %zu", 2 * bytes);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), has), "%s", clf_ctx_last_error(ctx));
    ck_assert(!g->planned);
    ctx->info.global_mem_bytes = global;
    ctx->info.max_alloc_bytes = bytes - 1;
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_OUT_OF_MEMORY);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "CL_DEVICE_MAX_MEM_ALLOC_SIZE"), "%s",
                  clf_ctx_last_error(ctx));
    ck_assert(!g->planned);
    ctx->info.max_alloc_bytes = max_alloc;
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(c, out, bytes));
    for (int i = 0; i < N_PLAN; i++)
        ck_assert_float_eq(out[i], 8.0f * hx[i]);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    free(hx);
    free(out);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_dependent_ops);
    tcase_add_test(tc, test_node_description);
    tcase_add_test(tc, test_chain_and_diamond);
    tcase_add_test(tc, test_dependencies_recorded);
    tcase_add_test(tc, test_strided_elementwise);
    tcase_add_test(tc, test_copy_each_dtype);
    tcase_add_test(tc, test_op_errors);
    tcase_add_test(tc, test_plan_encoder);
    tcase_add_test(tc, test_plan_reuse_order);
    tcase_add_test(tc, test_plan_keep);
    tcase_add_test(tc, test_plan_diamond);
    tcase_add_test(tc, test_plan_fit);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
