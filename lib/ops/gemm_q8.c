/*
 * Integer GEMM for quantised linear layers (cl/gemm_q8.cl):
 *   C[m, n] = act(a_scale[m] · b_scale[n] · Σ_k A[m, k]·B[n, k] + bias[n])
 * with A i8 [M, K], B i8 [N, K] (rows contiguous), exact i32 sums and an
 * fp32 epilogue. Checked when recorded (nothing is recorded for a bad
 * call); one node.
 *
 * Node: in[0] = A, in[1] = a_scale, in[2] = B, in[3] = b_scale,
 * in[4] = bias (may be NULL); iparams[0] = act, iparams[1] = kernel,
 * chosen when recorded:
 *  - Q8_PACKED (CPU devices): A packed into f32 panels on every run
 *    (gemm_q8_pack_a into the node's scratch), B packed once into f32
 *    panels kept as a derived buffer of B while its storage version is
 *    unchanged (weights: packed at their first use), then gemm_q8_packed —
 *    three launches, the f32 native GEMM's scheme (gemm_cpu.c) with exact
 *    integer sums; the packed B takes 4 bytes per weight;
 *  - Q8_CPU (CPU devices whose buffers could not hold the panels): one
 *    launch of gemm_q8_cpu on the unpacked operands;
 *  - Q8_TILED (other devices): one launch of gemm_q8_tiled.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gemm.h" /* struct clf_gemm_scratch */
#include "ops.h"
#include "../runtime/abi.h"

/* Largest K whose sums stay exact in int32 for codes in [−127, 127]:
 * floor(2^31 / 127²). */
#define Q8_MAX_K 133144

enum { Q8_CPU = 0, Q8_TILED = 1, Q8_PACKED = 2 };

/* Kind of the derived buffer holding B's panels (struct clf_derived;
 * CLF_DERIVED_GEMM_PACK_B = 1 is the f32 GEMM's). */
#define CLF_DERIVED_GEMM_Q8_PACK_B 2

/* Packed kernels (gemm_q8.cl): register tile TM x TN of VW-lane vectors;
 * depth steps per pack work-item (Q8_PACK_K there). 6 x 64 with float16
 * (24 zmm accumulators: the f32 GEMM's best tile on AVX-512), 6 x 16 with
 * float8 where the device's float vectors are narrower (AVX2). */
#define Q8_PACK_K 512
#define Q8_LOCAL_PACKED 4

static void packed_tile(const struct clf_ctx *ctx, int *tm, int *tn, int *vw)
{
    *tm = 6;
    *vw = ctx->float_lanes >= 16 ? 16 : 8;
    *tn = *vw == 16 ? 64 : 16;
}

/* Bytes of ceil(rows/t) f32 panels of depth k and width t (at least 64, so
 * that k = 0 still gets a buffer). */
static uint64_t panel_bytes(int64_t rows, int64_t k, int t)
{
    uint64_t b = (uint64_t)clf_ceil_div(rows, t) * (uint64_t)k * (uint64_t)t * sizeof(float);
    return b < 64 ? 64 : b;
}

/* Local size of gemm_q8_cpu along n, fixed: PoCL compiles once per local
 * size. */
#define Q8_LOCAL0 4

/* Tiled kernel: QB x QB outputs per work-group of QL x QL (gemm_q8.cl). */
#define Q8_QB 64
#define Q8_QL 16

void clf_gemm_q8_params_init(struct clf_gemm_q8_params *out, size_t size)
{
    struct clf_gemm_q8_params p = {0};
    p.bias = NULL;
    p.act = CLF_ACT_NONE;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

static void q8_state_free(struct clf_ctx *ctx, void *state)
{
    clf_gemm_scratch_release(ctx, state);
    free(state);
}

/* Enqueues pack kernel `name` (src, off, rs, rows, k, dst) over
 * (ceil(rows/t), ceil(k/Q8_PACK_K)) work-items after the wait events. */
static enum clf_status enqueue_pack(struct clf_ctx *ctx, const char *opts, const char *name,
                                    const struct clf_tensor *src, int64_t rows, int64_t k,
                                    int t, cl_mem dst, cl_uint n_wait, const cl_event *wait,
                                    cl_event *ev)
{
    cl_kernel kern = NULL;
    enum clf_status st = clf_kernel_get(ctx, "gemm_q8", opts, name, &kern);
    if (st != CLF_OK)
        return st;
    struct clf_targ s = clf_targ_of(src);
    cl_long rs = s.str.s[2];
    cl_int r = (cl_int)rows, kd = (cl_int)k;
    const struct clf_karg args[] = {{sizeof(cl_mem), &s.mem}, {sizeof s.off, &s.off},
                                    {sizeof rs, &rs},         {sizeof r, &r},
                                    {sizeof kd, &kd},         {sizeof(cl_mem), &dst}};
    st = clf_set_args(ctx, kern, name, args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    /* fixed local size: PoCL compiles a work-group function per local size */
    size_t global[2] = {(size_t)clf_ceil_div(rows, t),
                        (size_t)clf_ceil_div(k > 0 ? k : 1, Q8_PACK_K)};
    size_t local[2] = {1, 1};
    return clf_launch(ctx, kern, 2, global, local, n_wait, wait, ev, name);
}

/* The Q8_PACKED scheme (see the top of this file). */
static enum clf_status enqueue_packed(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                      const cl_event *wait, cl_event *ev)
{
    struct clf_tensor *a = node->in[0], *b = node->in[2], *c = node->out;
    const int64_t m = a->shape[0], kd = a->shape[1], n = b->shape[0];
    int tm, tn, vw;
    packed_tile(ctx, &tm, &tn, &vw);
    char opts[48];
    snprintf(opts, sizeof opts, "-DTM=%d -DTN=%d -DVW=%d", tm, tn, vw);
    const cl_event *wl = n_wait ? wait : NULL;
    cl_event ev_a = NULL, ev_b = NULL;

    /* A: packed on every run into the node's scratch, after the wait list */
    cl_mem apk = NULL;
    enum clf_status st =
        clf_gemm_scratch_get(ctx, node->state, 0, (size_t)panel_bytes(m, kd, tm), &apk);
    if (st != CLF_OK)
        return st;
    st = enqueue_pack(ctx, opts, "gemm_q8_pack_a", a, m, kd, tm, apk, n_wait, wl, &ev_a);
    if (st != CLF_OK)
        return st;

    /* B: packed once per (layout, contents), kept with the tensor */
    struct clf_targ bt = clf_targ_of(b);
    const int64_t key[8] = {tn, kd, n, bt.off, bt.str.s[2], 0, 0, 0};
    struct clf_derived *d = NULL;
    bool fresh = false;
    st = clf_derived_get(b, CLF_DERIVED_GEMM_Q8_PACK_B, key, (size_t)panel_bytes(n, kd, tn), &d,
                         &fresh);
    if (st != CLF_OK)
        goto fail;
    if (!fresh) {
        st = enqueue_pack(ctx, opts, "gemm_q8_pack_b", b, n, kd, tn, d->mem, n_wait, wl, &ev_b);
        if (st != CLF_OK)
            goto fail;
        clf_derived_mark_fresh(b, d, ev_b); /* later users wait for ev_b */
    } else if (d->ready) {
        ev_b = d->ready; /* a pack enqueued earlier may still be running */
        clRetainEvent(ev_b);
    }

    /* the tiles, after both packs */
    cl_kernel kern = NULL;
    st = clf_kernel_get(ctx, "gemm_q8", opts, "gemm_q8_packed", &kern);
    if (st != CLF_OK)
        goto fail;
    struct clf_targ sa = clf_targ_of(node->in[1]), sb = clf_targ_of(node->in[3]);
    struct clf_targ bias = node->in[4] ? clf_targ_of(node->in[4]) : sa; /* not read then */
    struct clf_targ ct = clf_targ_of(c);
    cl_long sa_st = sa.str.s[3], sb_st = sb.str.s[3], bias_st = bias.str.s[3];
    cl_long c_rs = ct.str.s[2];
    cl_int has_bias = node->in[4] != NULL, mi = (cl_int)m, ni = (cl_int)n, ki = (cl_int)kd;
    cl_int act = (cl_int)node->iparams[0];
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &apk},     {sizeof(cl_mem), &d->mem},   {sizeof(cl_mem), &sa.mem},
        {sizeof sa.off, &sa.off},   {sizeof sa_st, &sa_st},      {sizeof(cl_mem), &sb.mem},
        {sizeof sb.off, &sb.off},   {sizeof sb_st, &sb_st},      {sizeof(cl_mem), &bias.mem},
        {sizeof bias.off, &bias.off}, {sizeof bias_st, &bias_st}, {sizeof has_bias, &has_bias},
        {sizeof(cl_mem), &ct.mem},  {sizeof ct.off, &ct.off},    {sizeof c_rs, &c_rs},
        {sizeof mi, &mi},           {sizeof ni, &ni},            {sizeof ki, &ki},
        {sizeof act, &act},
    };
    st = clf_set_args(ctx, kern, "gemm_q8_packed", args, CLF_NARGS(args));
    if (st != CLF_OK)
        goto fail;
    size_t local[2] = {Q8_LOCAL_PACKED, 1};
    size_t global[2] = {clf_round_up((size_t)clf_ceil_div(m, tm), local[0]),
                        (size_t)clf_ceil_div(n, tn)};
    cl_event deps[2] = {ev_a, ev_b};
    st = clf_launch(ctx, kern, 2, global, local, ev_b ? 2 : 1, deps, ev, "gemm_q8_packed");
    if (st != CLF_OK)
        goto fail;
    clf_release_event(&ev_a);
    clf_release_event(&ev_b);
    return CLF_OK;

fail:
    /* let what was enqueued drain before the scratch can be reused */
    if (ev_a || ev_b)
        clFinish(ctx->queue);
    clf_release_event(&ev_a);
    clf_release_event(&ev_b);
    return st;
}

static enum clf_status enqueue_gemm_q8(struct clf_ctx *ctx, struct clf_node *node,
                                       cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    if (node->iparams[1] == Q8_PACKED)
        return enqueue_packed(ctx, node, n_wait, wait, ev);
    const bool cpu = node->iparams[1] == Q8_CPU;
    const char *name = cpu ? "gemm_q8_cpu" : "gemm_q8_tiled";
    /* register tile of gemm_q8_cpu: QM x QN int8 accumulators, 4 x 8 (32
     * ymm registers with AVX-512VL; 4 x 8 measured ~1.5x faster than 4 x 4
     * here); 2 x 4 where the device prefers narrower int vectors (AVX2: 16
     * registers) */
    int qm = 4, qn = 8;
    if (cpu && ctx->info.vec_int < 16)
        qm = 2;
    char opts[32];
    snprintf(opts, sizeof opts, "-DQM=%d -DQN=%d", qm, qn);
    cl_kernel k = NULL;
    cl_uint arg = 0;
    /* A, a_scale, B, b_scale, bias -> C, shape, then k, has_bias, act */
    enum clf_status st = clf_kernel_io(ctx, node, "gemm_q8", cpu ? opts : NULL, name, &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_int kd = (cl_int)node->in[0]->shape[1], has_bias = node->in[4] != NULL;
    cl_int act = (cl_int)node->iparams[0];
    cl_int err = clf_set_arg(k, arg++, sizeof kd, &kd);
    err |= clf_set_arg(k, arg++, sizeof has_bias, &has_bias);
    err |= clf_set_arg(k, arg++, sizeof act, &act);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of %s failed", name);
    size_t m = (size_t)node->out->shape[0], n = (size_t)node->out->shape[1];
    size_t global[2], local[2];
    if (cpu) {
        local[0] = Q8_LOCAL0;
        local[1] = 1;
        global[0] = clf_round_up((size_t)clf_ceil_div((int64_t)n, qn), local[0]);
        global[1] = (size_t)clf_ceil_div((int64_t)m, qm);
    } else {
        local[0] = local[1] = Q8_QL;
        global[0] = (size_t)clf_ceil_div((int64_t)n, Q8_QB) * Q8_QL;
        global[1] = (size_t)clf_ceil_div((int64_t)m, Q8_QB) * Q8_QL;
    }
    return clf_launch(ctx, k, 2, global, local, n_wait, wait, ev, name);
}

static void describe_gemm_q8(const struct clf_node *node, char *buf, size_t size)
{
    snprintf(buf, size, "gemm_q8 %lldx%lldx%lld %s", (long long)node->out->shape[0],
             (long long)node->out->shape[1], (long long)node->in[0]->shape[1],
             node->iparams[1] == Q8_PACKED ? "packed"
             : node->iparams[1] == Q8_CPU  ? "cpu"
                                           : "tiled");
}

/* 2·M·N·K integer operations (C [M, N], A [M, K]). */
static double flops_gemm_q8(const struct clf_node *node)
{
    return 2.0 * (double)node->out->shape[0] * (double)node->out->shape[1] *
           (double)node->in[0]->shape[1];
}

static const struct clf_op_impl op_gemm_q8 = {.name = "gemm_q8",
                                              .enqueue = enqueue_gemm_q8,
                                              .describe = describe_gemm_q8,
                                              .flops = flops_gemm_q8};

/* True when t is dtype [len] (1-D). */
static bool is_vector(const struct clf_tensor *t, enum clf_dtype dtype, int64_t len)
{
    return t->dtype == dtype && t->ndim == 1 && t->shape[0] == len;
}

enum clf_status clf_op_gemm_q8(struct clf_graph *g, struct clf_tensor *a,
                               struct clf_tensor *a_scale, struct clf_tensor *b,
                               struct clf_tensor *b_scale, const struct clf_gemm_q8_params *params,
                               struct clf_tensor **c)
{
    enum clf_status st = clf_graph_check_call(g, c, "gemm_q8");
    if (st != CLF_OK)
        return st;
    struct clf_ctx *ctx = g->ctx;
    struct clf_gemm_q8_params dflt = clf_gemm_q8_params_default();
    if ((st = clf_abi_import(ctx, "clf_gemm_q8_params", params, &dflt, sizeof dflt)) != CLF_OK)
        return st;
    const struct clf_gemm_q8_params *p = &dflt;
    if ((st = clf_graph_check_input(g, a, "A")) != CLF_OK ||
        (st = clf_graph_check_input(g, a_scale, "a_scale")) != CLF_OK ||
        (st = clf_graph_check_input(g, b, "B")) != CLF_OK ||
        (st = clf_graph_check_input(g, b_scale, "b_scale")) != CLF_OK)
        return st;
    if (p->bias && (st = clf_graph_check_input(g, p->bias, "bias")) != CLF_OK)
        return st;
    if ((unsigned)p->act > CLF_ACT_TANH)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown activation %d", (int)p->act);
    if (a->dtype != CLF_I8 || b->dtype != CLF_I8 || a->ndim != 2 || b->ndim != 2)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8 needs 2-D i8 A and B (got %d-D %s, %d-D %s)",
                        a->ndim, clf_dtype_str(a->dtype), b->ndim, clf_dtype_str(b->dtype));
    const int64_t m = a->shape[0], kd = a->shape[1], n = b->shape[0];
    if (b->shape[1] != kd)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8: A is [%lld, %lld], B [%lld, %lld]: K differs",
                        (long long)m, (long long)kd, (long long)n, (long long)b->shape[1]);
    if ((kd > 1 && (a->strides[1] != 1 || b->strides[1] != 1)))
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8 needs rows of A and B contiguous");
    if (kd > Q8_MAX_K)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "gemm_q8: K = %lld exceeds %d (int32 sums would overflow)",
                        (long long)kd, Q8_MAX_K);
    if (m > INT32_MAX / 2 || n > INT32_MAX / 2)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8: M or N beyond 2^30");
    if (!is_vector(a_scale, CLF_F32, m) || !is_vector(b_scale, CLF_F32, n))
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8 needs scales f32 [%lld] and [%lld]",
                        (long long)m, (long long)n);
    if (p->bias && !is_vector(p->bias, CLF_F32, n))
        return clf_fail(ctx, CLF_E_SHAPE, "gemm_q8 bias must be f32 [%lld]", (long long)n);

    struct clf_node node = {0};
    node.impl = &op_gemm_q8;
    node.n_in = 5;
    node.in[0] = a;
    node.in[1] = a_scale;
    node.in[2] = b;
    node.in[3] = b_scale;
    node.in[4] = p->bias;
    node.iparams[0] = p->act;
    node.iparams[1] = ctx->info.type == CLF_DEVICE_CPU ? Q8_CPU : Q8_TILED;
    if (node.iparams[1] == Q8_CPU) {
        int tm, tn, vw;
        packed_tile(ctx, &tm, &tn, &vw);
        if (panel_bytes(m, kd, tm) <= ctx->info.max_alloc_bytes &&
            panel_bytes(n, kd, tn) <= ctx->info.max_alloc_bytes) {
            node.iparams[1] = Q8_PACKED;
            node.state = calloc(1, sizeof(struct clf_gemm_scratch));
            if (!node.state)
                return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "gemm_q8: out of memory");
            node.state_free = q8_state_free;
        }
    }
    const int64_t shape[2] = {m, n};
    st = clf_graph_new_output(g, CLF_F32, 2, shape, &node.out);
    if (st != CLF_OK) {
        free(node.state);
        return st;
    }
    node.out_owned = true;
    st = clf_graph_add_node(g, &node);
    if (st == CLF_OK)
        *c = node.out;
    return st;
}
