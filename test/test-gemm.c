/*
 * The GEMM op against a double-precision reference: odd sizes, every
 * transposition, batched heads addressed by strides, a shared B, beta != 0
 * accumulating into C, bias and activations, each provider (native and
 * CLBlast through the op, the GPU tile kernels directly), the auto-tuner's
 * memory, in-place dependencies, and bad arguments.
 *
 * Error bound, per element: the exact result y = alpha*sum_k a_k b_k
 * + beta*c + bias is computed in double from the same float inputs. In
 * fp32 any summation order of K products (with or without fma) satisfies
 * |fl(s) - s| <= gamma_K * sum_k |a_k b_k|, gamma_K = K u / (1 - K u),
 * u = 2^-24 (Higham, Accuracy and Stability, 3.1; blocked and tree orders
 * have smaller constants). alpha, beta*c and bias add at most three more
 * roundings of the running value, so
 *   |out - y| <= gamma_{K+3} * (|alpha| sum_k |a_k b_k| + |beta c| + |bias|).
 * ReLU is exact; GELU adds its own error (erf/tanh within 16 ulp in the
 * OpenCL C full profile, then a few roundings): 32 u |gelu(y)| on top of the
 * propagated bound (|gelu'| <= 1.13).
 *
 * Weights in f16 / bf16 (b_precision): the kernels compute the f32 GEMM of
 * round(B), so against a reference built from round(B) the bound above
 * holds unchanged; against the exact B each product moves by at most
 * u_w |a_k b_k| (u_w = 2^-11 for f16, 2^-8 for bf16, round to nearest),
 * and for f16 by at most 2^-25 |a_k| more where |b_k| < 2^-14 (subnormal
 * spacing 2^-24), so |alpha| (u_w sum_k |a_k b_k| + 2^-25 sum_{small b} |a_k|)
 * is added. B already representable in the format gives the f32 result
 * bit for bit (the same tile, the same fma order, exact widening).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/ops/gemm.h" /* internal: the GPU kernels, provider checks */
#include "common.h"


struct mats {
    int64_t batch, m, n, k;
    bool ta, tb, shared_b;
    float *a, *b, *c0, *bias; /* host copies, in the stored layouts */
    /* f16 / bf16: the reference takes round(B) (round_b), or the exact B
     * with the rounding's bound added (see the header) */
    enum clf_precision prec;
    bool round_b;
};

/* x rounded to bfloat16, to nearest even (NaN kept). */
static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return x;
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* x as the kernels see B in format prec. */
static float round_to(float x, enum clf_precision prec)
{
    return prec == CLF_PRECISION_F16    ? clf_f16_to_f32(clf_f32_to_f16(x))
           : prec == CLF_PRECISION_BF16 ? bf16_round(x)
                                        : x;
}

/* A_p[i,k] and B_p[k,j] from the stored layouts. */
static double a_at(const struct mats *s, int64_t p, int64_t i, int64_t kk)
{
    return s->ta ? s->a[(p * s->k + kk) * s->m + i] : s->a[(p * s->m + i) * s->k + kk];
}

static double b_at(const struct mats *s, int64_t p, int64_t kk, int64_t j)
{
    int64_t q = s->shared_b ? 0 : p;
    float b = s->tb ? s->b[(q * s->n + j) * s->k + kk] : s->b[(q * s->k + kk) * s->n + j];
    return s->round_b ? round_to(b, s->prec) : b;
}

/* Checks out (dense [batch, m, n]) against the reference; returns the
 * largest error / bound ratio (must be <= 1; NaN -> inf). */
static double check(const struct mats *s, const float *out, float alpha, float beta,
                    enum clf_act act)
{
    double worst = 0;
    for (int64_t p = 0; p < s->batch; p++)
        for (int64_t i = 0; i < s->m; i++)
            for (int64_t j = 0; j < s->n; j++) {
                double dot = 0, mag = 0, narrow = 0; /* narrow: B's rounding, exact B */
                double uw = s->prec == CLF_PRECISION_F16    ? 0x1p-11
                            : s->prec == CLF_PRECISION_BF16 ? 0x1p-8
                                                            : 0;
                for (int64_t kk = 0; kk < s->k; kk++) {
                    double av = a_at(s, p, i, kk), bv = b_at(s, p, kk, j);
                    double t = av * bv;
                    dot += t;
                    mag += fabs(t);
                    if (!s->round_b && s->prec != CLF_PRECISION_F32)
                        narrow += uw * fabs(t) +
                                  (s->prec == CLF_PRECISION_F16 && fabs(bv) < 0x1p-14
                                       ? 0x1p-25 * fabs(av)
                                       : 0);
                }
                size_t idx = (size_t)((p * s->m + i) * s->n + j);
                double cold = beta != 0 ? s->c0[idx] : 0, bj = s->bias ? s->bias[j] : 0;
                double y = alpha * dot + beta * cold + bj;
                /* against the exact B, the kernels' products are each up
                 * to (1 + u_w) larger in magnitude */
                double grow = !s->round_b ? 1 + uw : 1;
                double bound = test_gamma((double)s->k + 3) *
                                   (fabs(alpha) * mag * grow + fabs(beta * cold) + fabs(bj)) +
                               fabs(alpha) * narrow;
                double ref = test_act_ref(y, act);
                if (act == CLF_ACT_GELU || act == CLF_ACT_GELU_TANH)
                    bound = 1.13 * bound + 32 * TEST_U32 * fabs(ref);
                bound += 1e-37; /* an exact zero result */
                double r = fabs((double)out[idx] - ref) / bound;
                if (!(r <= worst))
                    worst = isnan(r) ? INFINITY : r;
            }
    return worst;
}

static float *host_random(size_t n)
{
    float *x = malloc(n * sizeof *x);
    test_fill_uniform(x, n, -1, 1);
    return x;
}

/* Runs one op-level GEMM on fresh data and checks it. */
static void run_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                     bool shared_b, float beta, bool bias, enum clf_act act,
                     enum clf_gemm_provider prov)
{
    struct clf_ctx *ctx = test_ctx();
    struct mats s = {batch, m, n, k, ta, tb, shared_b, NULL, NULL, NULL, NULL, CLF_PRECISION_F32, false};
    int64_t bb = shared_b ? 1 : batch;
    s.a = host_random((size_t)(batch * m * k));
    s.b = host_random((size_t)(bb * k * n));
    s.c0 = host_random((size_t)(batch * m * n));
    s.bias = bias ? host_random((size_t)n) : NULL;
    bool batched = batch > 1 || !shared_b;
    int64_t ash[3] = {batch, ta ? k : m, ta ? m : k};
    int64_t bsh[3] = {bb, tb ? n : k, tb ? k : n};
    int64_t csh[3] = {batch, m, n};
    int nd = batched ? 3 : 2;
    struct clf_tensor *ta_t = test_upload(nd, batched ? ash : ash + 1, s.a);
    struct clf_tensor *tb_t = test_upload(shared_b ? 2 : 3, shared_b ? bsh + 1 : bsh, s.b);
    struct clf_tensor *tc = test_upload(nd, batched ? csh : csh + 1, s.c0);
    struct clf_tensor *tbias = bias ? test_upload(1, &n, s.bias) : NULL;
    if (beta == 0)
        test_poison(tc); /* must not leak into the result */

    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_a = ta;
    p.trans_b = tb;
    p.alpha = 0.75f;
    p.beta = beta;
    p.bias = tbias;
    p.act = act;
    p.c = tc;
    p.provider = prov;
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_op_gemm(g, ta_t, tb_t, &p, &y));
    ck_assert_ptr_eq(y, tc);
    ck_assert_ok(ctx, clf_graph_run(g));
    float *out = malloc((size_t)(batch * m * n) * sizeof *out);
    ck_assert_ok(ctx, clf_tensor_read(y, out, (size_t)(batch * m * n) * sizeof *out));
    double r = check(&s, out, 0.75f, beta, act);
    ck_assert_msg(r <= 1, "%s b%lld %lldx%lldx%lld ta%d tb%d beta %g act %d: error %g x bound",
                  clf_gemm_provider_str(prov), (long long)batch, (long long)m, (long long)n,
                  (long long)k, ta, tb, (double)beta, (int)act, r);
    clf_graph_destroy(g);
    clf_tensor_destroy(ta_t);
    clf_tensor_destroy(tb_t);
    clf_tensor_destroy(tc);
    clf_tensor_destroy(tbias);
    free(s.a);
    free(s.b);
    free(s.c0);
    free(s.bias);
    free(out);
}

/*
 * One B shared by two GEMM nodes of one graph, in f32 and in `prec` (two
 * packs of B, kept apart): the narrow result within the bound against
 * round(B) and against B; with B made representable first (representable),
 * bit for bit the f32 one. bias and GELU in the epilogue.
 */
static void run_narrow_case(int64_t m, int64_t n, int64_t k, bool tb, enum clf_precision prec,
                            bool representable)
{
    struct clf_ctx *ctx = test_ctx();
    struct mats s = {1, m, n, k, false, tb, true, NULL, NULL, NULL, NULL, prec, true};
    s.a = host_random((size_t)(m * k));
    s.b = host_random((size_t)(k * n));
    s.bias = host_random((size_t)n);
    for (int64_t i = 0; representable && i < k * n; i++)
        s.b[i] = round_to(s.b[i], prec);
    int64_t ash[2] = {m, k}, bsh[2] = {tb ? n : k, tb ? k : n};
    struct clf_tensor *ta_t = test_upload(2, ash, s.a), *tb_t = test_upload(2, bsh, s.b);
    struct clf_tensor *tbias = test_upload(1, &n, s.bias), *y32 = NULL, *y16 = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_b = tb;
    p.alpha = 0.75f;
    p.bias = tbias;
    p.act = CLF_ACT_GELU;
    ck_assert_ok(ctx, clf_op_gemm(g, ta_t, tb_t, &p, &y32));
    p.b_precision = prec;
    ck_assert_ok(ctx, clf_op_gemm(g, ta_t, tb_t, &p, &y16));
    ck_assert_ok(ctx, clf_graph_run(g));
    float *o32 = test_read_all(y32), *o16 = test_read_all(y16);
    double r_round = check(&s, o16, 0.75f, 0, CLF_ACT_GELU);
    s.round_b = false;
    double r_exact = check(&s, o16, 0.75f, 0, CLF_ACT_GELU);
    ck_assert_msg(r_round <= 1 && r_exact <= 1,
                  "%s %lldx%lldx%lld tb%d: error %g x bound against round(B), %g x against B",
                  clf_precision_str(prec), (long long)m, (long long)n, (long long)k, tb, r_round,
                  r_exact);
    if (representable)
        ck_assert_msg(!memcmp(o32, o16, (size_t)(m * n) * sizeof *o32),
                      "%s %lldx%lldx%lld: representable B, yet not the f32 result",
                      clf_precision_str(prec), (long long)m, (long long)n, (long long)k);
    clf_graph_destroy(g);
    clf_tensor_destroy(ta_t);
    clf_tensor_destroy(tb_t);
    clf_tensor_destroy(tbias);
    free(s.a);
    free(s.b);
    free(s.bias);
    free(o32);
    free(o16);
}

static const int64_t odd[][3] = {{1, 1, 1}, {7, 13, 1}, {13, 7, 29}, {1, 33, 100},
                                 {37, 1, 9}, {61, 67, 71}};

START_TEST(test_native_sizes_and_transposes)
{
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        for (int t = 0; t < 4; t++)
            run_case(1, odd[i][0], odd[i][1], odd[i][2], t & 1, t & 2, true, 0, false,
                     CLF_ACT_NONE, CLF_GEMM_NATIVE);
    run_case(1, 1000, 13, 7, false, true, true, 0, false, CLF_ACT_NONE, CLF_GEMM_NATIVE);
    run_case(1, 7, 1000, 13, true, false, true, 0, false, CLF_ACT_NONE, CLF_GEMM_NATIVE);
    run_case(1, 13, 7, 1000, false, false, true, 0, false, CLF_ACT_NONE, CLF_GEMM_NATIVE);
}
END_TEST

/* Weights in f16 and bf16 on CPU devices (refused elsewhere); special
 * values: f16 overflow to inf, NaN kept; a bad precision refused. */
START_TEST(test_narrow_weights)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s23[2] = {2, 3}, s34[2] = {3, 4};
    struct clf_tensor *a = NULL, *b = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s23, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s34, &b));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    p.b_precision = (enum clf_precision)3;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_str_eq(clf_precision_str((enum clf_precision)3), "?");
    ck_assert_str_eq(clf_precision_str(CLF_PRECISION_BF16), "bf16");
    p.b_precision = CLF_PRECISION_F16;
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    if (info.type != CLF_DEVICE_CPU) {
        ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_UNSUPPORTED);
        printf("gemm: not a CPU device: 16-bit weights refused\n");
        clf_graph_destroy(g);
        clf_tensor_destroy(a);
        clf_tensor_destroy(b);
        return;
    }
    p.provider = CLF_GEMM_CLBLAST;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(ctx), "CLBlast") != NULL);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* b = [70000, NaN, 1, 0.5] in every row of B [3, 4]; a = 1: f16 makes
     * column 0 inf (70000 > 65504), bf16 keeps it finite; NaN stays NaN */
    float ah[6] = {1, 1, 1, 1, 1, 1}, bh[12];
    for (int r = 0; r < 3; r++) {
        bh[r * 4 + 0] = 70000.0f;
        bh[r * 4 + 1] = NAN;
        bh[r * 4 + 2] = 1.0f;
        bh[r * 4 + 3] = 0.5f;
    }
    ck_assert_ok(ctx, clf_tensor_write(a, ah, sizeof ah));
    ck_assert_ok(ctx, clf_tensor_write(b, bh, sizeof bh));
    struct clf_tensor *y16 = NULL, *ybf = NULL;
    p.provider = CLF_GEMM_AUTO;
    ck_assert_ok(ctx, clf_op_gemm(g, a, b, &p, &y16));
    p.b_precision = CLF_PRECISION_BF16;
    ck_assert_ok(ctx, clf_op_gemm(g, a, b, &p, &ybf));
    ck_assert_ok(ctx, clf_graph_run(g));
    float *o16 = test_read_all(y16), *obf = test_read_all(ybf);
    for (int r = 0; r < 2; r++) {
        ck_assert(isinf(o16[r * 4]) && o16[r * 4] > 0);
        ck_assert(isfinite(obf[r * 4]) && obf[r * 4] == 3 * bf16_round(70000.0f));
        ck_assert(isnan(o16[r * 4 + 1]) && isnan(obf[r * 4 + 1]));
        ck_assert(o16[r * 4 + 2] == 3 && obf[r * 4 + 3] == 1.5f);
    }
    free(o16);
    free(obf);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);

    static const int64_t sizes[][3] = {{1, 1, 1}, {13, 7, 29}, {1, 33, 100}, {61, 67, 71},
                                       {16, 130, 384}};
    for (int prec = CLF_PRECISION_F16; prec <= CLF_PRECISION_BF16; prec++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (int t = 0; t < 2; t++) {
                run_narrow_case(sizes[i][0], sizes[i][1], sizes[i][2], t, prec, false);
                run_narrow_case(sizes[i][0], sizes[i][1], sizes[i][2], t, prec, true);
            }
}
END_TEST

START_TEST(test_native_epilogue_and_batches)
{
    static const enum clf_act acts[] = {CLF_ACT_NONE, CLF_ACT_RELU, CLF_ACT_GELU,
                                        CLF_ACT_GELU_TANH};
    for (int a = 0; a < 4; a++)
        run_case(1, 19, 23, 17, false, true, true, 0.5f, true, acts[a], CLF_GEMM_NATIVE);
    run_case(3, 9, 11, 13, false, false, false, 0, false, CLF_ACT_NONE, CLF_GEMM_NATIVE);
    run_case(4, 17, 5, 33, true, true, false, -1.25f, true, CLF_ACT_RELU, CLF_GEMM_NATIVE);
    run_case(5, 6, 16, 8, false, true, true, 0, true, CLF_ACT_NONE, CLF_GEMM_NATIVE);
}
END_TEST

START_TEST(test_clblast)
{
    run_case(1, 13, 7, 29, false, false, true, 0, false, CLF_ACT_NONE, CLF_GEMM_CLBLAST);
    run_case(1, 130, 70, 90, true, true, true, 0.5f, true, CLF_ACT_GELU, CLF_GEMM_CLBLAST);
    run_case(1, 64, 1, 64, false, true, true, 0, false, CLF_ACT_NONE, CLF_GEMM_CLBLAST);
    run_case(3, 9, 11, 13, false, true, false, 0, true, CLF_ACT_RELU, CLF_GEMM_CLBLAST);
    run_case(2, 9, 11, 13, true, false, true, 1.0f, false, CLF_ACT_NONE, CLF_GEMM_CLBLAST);
}
END_TEST

/* Attention-style heads addressed by strides: X [seq, heads*d] seen as
 * [heads, seq, d]; S_h = X_h X_hᵀ batched over heads, no copies. */
START_TEST(test_head_views)
{
    struct clf_ctx *ctx = test_ctx();
    enum { SEQ = 11, H = 3, D = 8 };
    float x[SEQ * H * D], out[H * SEQ * SEQ];
    test_fill_uniform(x, SEQ * H * D, -1, 1);
    int64_t xs[2] = {SEQ, H * D};
    struct clf_tensor *tx = test_upload(2, xs, x), *heads = NULL, *y = NULL;
    int64_t hs[3] = {H, SEQ, D}, hst[3] = {D, H * D, 1};
    ck_assert_ok(ctx, clf_tensor_view(tx, 3, hs, hst, 0, &heads));
    for (int prov = CLF_GEMM_CLBLAST; prov <= CLF_GEMM_NATIVE; prov++) {
        struct clf_graph *g = NULL;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        struct clf_gemm_params p = clf_gemm_params_default();
        p.trans_b = true;
        p.provider = (enum clf_gemm_provider)prov;
        ck_assert_ok(ctx, clf_op_gemm(g, heads, heads, &p, &y));
        ck_assert_int_eq(clf_tensor_ndim(y), 3);
        test_poison(y);
        ck_assert_ok(ctx, clf_graph_run(g));
        ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
        for (int h = 0; h < H; h++)
            for (int i = 0; i < SEQ; i++)
                for (int j = 0; j < SEQ; j++) {
                    double dot = 0, mag = 0;
                    for (int d = 0; d < D; d++) {
                        double t = (double)x[i * H * D + h * D + d] * x[j * H * D + h * D + d];
                        dot += t;
                        mag += fabs(t);
                    }
                    double e = fabs(out[(h * SEQ + i) * SEQ + j] - dot);
                    ck_assert_msg(e <= test_gamma(D + 3) * mag + 1e-37, "%s head %d (%d,%d)",
                                  clf_gemm_provider_str(p.provider), h, i, j);
                }
        clf_graph_destroy(g);
    }
    clf_tensor_destroy(heads);
    clf_tensor_destroy(tx);
}
END_TEST

/* The GPU family's local-memory tile kernels, run directly (PoCL is a CPU
 * device, so the op would pick the CPU family). */
START_TEST(test_gpu_tiles)
{
    struct clf_ctx *ctx = test_ctx();
    for (int cfg = 0; cfg < clf_gemm_gpu_n_configs; cfg++) {
        enum { B = 2, M = 37, N = 45, K = 70 };
        struct mats s = {B, M, N, K, true, false, false, NULL, NULL, NULL, NULL, CLF_PRECISION_F32, false};
        s.a = host_random(B * M * K);
        s.b = host_random(B * K * N);
        s.c0 = host_random(B * M * N);
        s.bias = host_random(N);
        int64_t ash[3] = {B, K, M}, bsh[3] = {B, K, N}, csh[3] = {B, M, N}, nn = N;
        struct clf_tensor *a = test_upload(3, ash, s.a), *b = test_upload(3, bsh, s.b),
                          *c = test_upload(3, csh, s.c0), *bias = test_upload(1, &nn, s.bias);
        struct clf_gemm_problem p = {0};
        p.batch = B, p.m = M, p.n = N, p.k = K;
        p.a_t = a, p.b_t = b, p.c_t = c, p.bias_t = bias;
        p.a_rs = 1, p.a_cs = M, p.a_bs = K * M;
        p.b_rs = N, p.b_cs = 1, p.b_bs = K * N;
        p.c_rs = N, p.c_bs = M * N;
        p.alpha = 0.75f, p.beta = 0.5f, p.act = CLF_ACT_GELU_TANH;
        cl_event ev = NULL;
        ck_assert_ok(ctx, clf_gemm_gpu_enqueue(ctx, &p, &clf_gemm_gpu_configs[cfg], 0, NULL, &ev));
        ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
        clReleaseEvent(ev);
        float *out = malloc(B * M * N * sizeof *out);
        ck_assert_ok(ctx, clf_tensor_read(c, out, B * M * N * sizeof *out));
        double r = check(&s, out, 0.75f, 0.5f, CLF_ACT_GELU_TANH);
        ck_assert_msg(r <= 1, "gpu config %d: error %g x bound", cfg, r);
        free(out);
        free(s.a);
        free(s.b);
        free(s.c0);
        free(s.bias);
        clf_tensor_destroy(a);
        clf_tensor_destroy(b);
        clf_tensor_destroy(c);
        clf_tensor_destroy(bias);
    }
}
END_TEST

/* AUTO measures a shape class once (tuning mode full: every candidate,
 * whatever the shipped defaults say), writes it to the cache directory,
 * and a second context reads it instead of measuring. */
START_TEST(test_auto_tune_remembered)
{
    char *dir = test_make_tmpdir("tune");
    for (int round = 0; round < 2; round++) {
        struct clf_ctx_params cp = clf_ctx_params_default();
        cp.cache_dir = dir;
        cp.gemm_provider = CLF_GEMM_AUTO;
        cp.tune_mode = CLF_TUNE_FULL;
        struct clf_ctx *ctx = NULL;
        ck_assert_int_eq(clf_ctx_create(&cp, &ctx), CLF_OK);
        enum { M = 24, N = 40, K = 16 };
        float a[M * K], b[N * K], out[M * N];
        test_fill_uniform(a, M * K, -1, 1);
        test_fill_uniform(b, N * K, -1, 1);
        int64_t as[2] = {M, K}, bs[2] = {N, K};
        struct clf_tensor *ta, *tb, *y;
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, as, &ta));
        ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, bs, &tb));
        ck_assert_ok(ctx, clf_tensor_write(ta, a, sizeof a));
        ck_assert_ok(ctx, clf_tensor_write(tb, b, sizeof b));
        struct clf_graph *g;
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        struct clf_gemm_params p = clf_gemm_params_default();
        p.trans_b = true;
        ck_assert_ok(ctx, clf_op_gemm(g, ta, tb, &p, &y));
        ck_assert_str_eq(test_node_info(g, 0).desc, "gemm 24x40x16 auto (not run yet)");
        ck_assert_ok(ctx, clf_graph_run(g));
        struct clf_node_info n = test_node_info(g, 0);
        ck_assert_msg(strstr(n.desc, "native:") || strstr(n.desc, "clblast"), "%s", n.desc);
        struct clf_node_info info = {.size = sizeof info};
        ck_assert_status(ctx, clf_graph_node_info(g, 1, &info), CLF_E_INVALID_ARG);
        ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double dot = 0, mag = 0;
                for (int kk = 0; kk < K; kk++) {
                    dot += (double)a[i * K + kk] * b[j * K + kk];
                    mag += fabs((double)a[i * K + kk] * b[j * K + kk]);
                }
                ck_assert(fabs(out[i * N + j] - dot) <= test_gamma(K + 3) * mag + 1e-37);
            }
        struct clf_ctx_stats st;
        ck_assert_ok(ctx, clf_ctx_stats(ctx, &st));
        if (round == 0) {
            ck_assert_uint_eq(st.tuned, 1);
            ck_assert_uint_eq(st.tune_loaded, 0);
        } else {
            ck_assert_uint_eq(st.tuned, 0);
            ck_assert_uint_ge(st.tune_loaded, 1);
        }
        clf_graph_destroy(g);
        clf_tensor_destroy(ta);
        clf_tensor_destroy(tb);
        clf_ctx_destroy(ctx);
    }
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* In-place C: a later GEMM writing C waits for an earlier reader of C
 * (write after read) and for its earlier writer (write after write). */
START_TEST(test_in_place_dependencies)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s[2] = {8, 8};
    float ones[64], eye[64], got[64];
    for (int i = 0; i < 64; i++) {
        ones[i] = 1.0f;
        eye[i] = i % 9 == 0 ? 1.0f : 0.0f;
    }
    struct clf_tensor *a = test_upload(2, s, ones), *id = test_upload(2, s, eye), *c = test_upload(2, s, ones);
    struct clf_tensor *snap = NULL, *y1 = NULL, *y2 = NULL;
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    p.provider = CLF_GEMM_NATIVE;
    p.c = c;
    ck_assert_ok(ctx, clf_op_gemm(g, a, id, &p, &y1)); /* 0: c = 1 */
    ck_assert_ok(ctx, clf_op_copy(g, c, &snap));       /* 1: reads c */
    p.beta = 1.0f;
    ck_assert_ok(ctx, clf_op_gemm(g, a, a, &p, &y2));  /* 2: c = 8 + c = 9 */
    struct clf_graph *gi = g;
    ck_assert_uint_eq(gi->nodes[1].n_deps, 1);
    ck_assert_uint_eq(gi->nodes[2].n_deps, 2); /* after 0 (WAW) and 1 (WAR) */
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(snap, got, sizeof got));
    for (int i = 0; i < 64; i++)
        ck_assert_float_eq(got[i], 1.0f);
    ck_assert_ok(ctx, clf_tensor_read(c, got, sizeof got));
    for (int i = 0; i < 64; i++)
        ck_assert_float_eq(got[i], 9.0f);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);
    clf_tensor_destroy(id);
    clf_tensor_destroy(c);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t s23[2] = {2, 3}, s34[2] = {3, 4}, s44[2] = {4, 4}, s3[1] = {3}, s234[3] = {2, 3, 4};
    struct clf_tensor *a, *b, *c44, *bias3, *i8, *b3, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s23, &a));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s34, &b));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, s44, &c44));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s3, &bias3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, s34, &i8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s234, &b3));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    ck_assert_status(ctx, clf_op_gemm(g, a, a, NULL, &y), CLF_E_SHAPE); /* 2x3 . 2x3 */
    ck_assert_status(ctx, clf_op_gemm(g, a, i8, NULL, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_gemm(g, a, b3, NULL, &y), CLF_E_SHAPE); /* batched B, 2-D A */
    ck_assert_status(ctx, clf_op_gemm(g, a, bias3, NULL, &y), CLF_E_SHAPE); /* 1-D */
    p.beta = 1;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_INVALID_ARG); /* no C */
    p.beta = 0;
    p.c = c44;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_SHAPE); /* C 4x4 for 2x4 */
    p.c = NULL;
    p.bias = bias3;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_SHAPE); /* bias 3 for n 4 */
    p.bias = NULL;
    p.act = (enum clf_act)9;
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, &y), CLF_E_INVALID_ARG);
    p.act = CLF_ACT_NONE;
    ck_assert_status(ctx, clf_op_gemm(g, NULL, b, &p, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_gemm(g, a, b, &p, NULL), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(y);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);

    /* CLBlast forced on operands without a unit stride: refused at run */
    int64_t vs[2] = {2, 2}, vst[2] = {2, 2};
    struct clf_tensor *v;
    ck_assert_ok(ctx, clf_tensor_view(c44, 2, vs, vst, 0, &v));
    p.provider = CLF_GEMM_CLBLAST;
    ck_assert_ok(ctx, clf_op_gemm(g, v, v, &p, &y));
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_UNSUPPORTED);
    clf_graph_destroy(g);
    clf_tensor_destroy(v);
    clf_tensor_destroy(a);
    clf_tensor_destroy(b);
    clf_tensor_destroy(c44);
    clf_tensor_destroy(bias3);
    clf_tensor_destroy(i8);
    clf_tensor_destroy(b3);
    ck_assert_str_eq(clf_gemm_provider_str(CLF_GEMM_CLBLAST), "clblast");
    ck_assert_str_eq(clf_gemm_provider_str((enum clf_gemm_provider)7), "?");
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_native_sizes_and_transposes);
    tcase_add_test(tc, test_native_epilogue_and_batches);
    tcase_add_test(tc, test_narrow_weights);
    tcase_add_test(tc, test_head_views);
    tcase_add_test(tc, test_gpu_tiles);
    tcase_add_test(tc, test_in_place_dependencies);
    tcase_add_test(tc, test_clblast);
    tcase_add_test(tc, test_auto_tune_remembered);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
