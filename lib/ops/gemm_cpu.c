/*
 * The GEMM provider for CPU devices (cl/gemm_cpu.cl): A is packed on the
 * device into panels [batch][ceil(m/TM)][k][TM] on every run (scratch slot
 * 0); B into panels [batch_b][ceil(n/TN)][k][TN] once (f32, or rounded to
 * f16 / bf16 as p->b_prec says: half the bytes to stream), kept as a derived
 * buffer of p->b_t while B's storage version and layout are unchanged
 * (weights are packed at their first use and then reused); then one
 * work-item per TM x TN tile of C accumulates the tile in registers and
 * applies the epilogue (alpha, beta, bias, act) as it stores.
 */
#include <limits.h>
#include <stdio.h>

#include "gemm.h"
#include "../runtime/tensor.h"

/*
 * Tile configurations worth tuning between (measured on the 2-core
 * AVX-512 PoCL 3.1 device this project is developed on, pack of A included,
 * against OpenBLAS with 2 threads in the same conditions):
 *  - 6x64: 6 rows x 4 float16 = 24 zmm accumulators; the best on this
 *    AVX-512 device (0.97-1.04x OpenBLAS at 512x1536x384, 512x384x1536,
 *    1024^3);
 *  - 8x48: 8 rows x 3 float16 = 24 accumulators; within a few percent of
 *    6x64, ahead of it for small m (8, 32 rows) and n a multiple of 48;
 *  - 6x16: 6 rows x 2 float8 = 12 ymm accumulators, the tile for devices
 *    with 256-bit vectors and 16 registers (AVX2); about 0.5x here.
 * The float16 tiles need 512-bit vectors to be fast (16 float lanes,
 * clf_device_float_lanes); elsewhere they spill and the tuner skips them.
 */
const struct clf_gemm_cpu_config clf_gemm_cpu_configs[] = {
    {6, 64, 16, 4},
    {8, 48, 16, 4},
    {6, 16, 8, 4},
};
const int clf_gemm_cpu_n_configs = (int)(sizeof clf_gemm_cpu_configs /
                                         sizeof clf_gemm_cpu_configs[0]);

/* Depth steps per work-item of the pack kernels (PACK_K in gemm_cpu.cl). */
#define PACK_K 512

/* Vector width of the accumulators for a configuration (VW in gemm_cpu.cl). */
static int cfg_vw(const struct clf_gemm_cpu_config *cfg)
{
    return cfg->vw;
}

static bool cfg_valid(const struct clf_gemm_cpu_config *cfg)
{
    int vw = cfg_vw(cfg);
    return (vw == 4 || vw == 8 || vw == 16) && cfg->tm >= 1 && cfg->tm <= 16 &&
           cfg->tn >= vw && cfg->tn <= 4 * vw && cfg->tn % vw == 0 && cfg->local0 >= 1 &&
           cfg->local0 <= 256;
}

/* Bytes of batches x ceil(rows/t) panels of depth k and width t, of
 * elements of `elem` bytes, or 0 when that overflows. At least 64 bytes
 * (k = 0 still gets a buffer). */
static size_t panel_bytes(int64_t batches, int64_t rows, int64_t k, int t, size_t elem)
{
    int64_t panels = clf_ceil_div(rows, t);
    double approx = (double)batches * (double)panels * (double)k * t * (double)elem;
    if (approx > (double)(SIZE_MAX / 2))
        return 0;
    size_t bytes = (size_t)batches * (size_t)panels * (size_t)k * (size_t)t * elem;
    return bytes < 64 ? 64 : bytes;
}

/* True when every element off + sum_i idx_i*str_i (0 <= idx_i < dim_i, all
 * dim_i >= 1) of a strided view lies inside t's storage (f32 elements). */
static bool view_fits(const struct clf_tensor *t, cl_long off, const cl_long *str,
                      const int64_t *dim, int n)
{
    int64_t last = off;
    if (off < 0)
        return false;
    for (int i = 0; i < n; i++) {
        int64_t step;
        if (str[i] < 0 || __builtin_mul_overflow(dim[i] - 1, str[i], &step) ||
            __builtin_add_overflow(last, step, &last))
            return false;
    }
    return (uint64_t)last < t->storage->bytes / sizeof(float);
}

static enum clf_status check_problem(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     const struct clf_gemm_cpu_config *cfg)
{
    if (!p || !cfg)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "gemm (cpu): NULL problem or config");
    if (!cfg_valid(cfg))
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "gemm (cpu): unsupported tile config %dx%d (float%d), local size %d",
                        cfg->tm, cfg->tn, cfg->vw, cfg->local0);
    if (p->batch < 0 || p->m < 0 || p->n < 0 || p->k < 0)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm (cpu): negative size (batch %lld, %lldx%lldx%lld)",
                        (long long)p->batch, (long long)p->m, (long long)p->n,
                        (long long)p->k);
    /* the kernels index m, n, k with int (with a tile of headroom) */
    if (p->m > INT_MAX - 64 || p->n > INT_MAX - 64 || p->k > INT_MAX - 64 ||
        p->batch > INT_MAX)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm (cpu): sizes beyond 2^31 are not supported");
    if (!p->a_t || !p->b_t || !p->c_t)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "gemm (cpu): NULL tensor for A, B or C");
    if (p->a_t->dtype != CLF_F32 || p->b_t->dtype != CLF_F32 || p->c_t->dtype != CLF_F32 ||
        (p->bias_t && p->bias_t->dtype != CLF_F32))
        return clf_fail(ctx, CLF_E_SHAPE, "gemm (cpu): A, B, C and bias must be f32");
    if ((int)p->act < CLF_ACT_NONE || (int)p->act > CLF_ACT_TANH)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "gemm (cpu): unknown activation %d",
                        (int)p->act);
    if (p->batch == 0 || p->m == 0 || p->n == 0)
        return CLF_OK;
    /* Every addressed element inside its buffer (a kernel reading past a
     * buffer could take the process down on a CPU device). */
    const cl_long a_str[3] = {p->a_bs, p->a_rs, p->a_cs}, b_str[3] = {p->b_bs, p->b_rs, p->b_cs};
    const cl_long c_str[3] = {p->c_bs, p->c_rs, 1}, one = 1;
    const int64_t a_dim[3] = {p->batch, p->m, p->k}, b_dim[3] = {p->batch, p->k, p->n};
    const int64_t c_dim[3] = {p->batch, p->m, p->n};
    const char *bad = NULL;
    if (p->k > 0 && !view_fits(p->a_t, p->a_off, a_str, a_dim, 3))
        bad = "A";
    else if (p->k > 0 && !view_fits(p->b_t, p->b_off, b_str, b_dim, 3))
        bad = "B";
    else if (!view_fits(p->c_t, p->c_off, c_str, c_dim, 3))
        bad = "C";
    else if (p->bias_t && !view_fits(p->bias_t, p->bias_off, &one, &p->n, 1))
        bad = "bias";
    if (bad)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "gemm (cpu): %s addressed outside its buffer (batch %lld, %lldx%lldx%lld)",
                        bad, (long long)p->batch, (long long)p->m, (long long)p->n,
                        (long long)p->k);
    return CLF_OK;
}

/*
 * Enqueues pack kernel `name` (gemm_cpu_pack_a or gemm_cpu_pack_b, see
 * gemm_cpu.cl) with its arguments (src, off, s1, s2, bs, rows, depth, dst):
 * for A (s1, s2) = (a_rs, a_cs), for B (b_rs, b_cs). One work-item per
 * panel of t rows and PACK_K depth steps, per batch; after the wait
 * events, completion in *ev.
 */
static enum clf_status enqueue_pack(struct clf_ctx *ctx, const char *opts, const char *name,
                                    cl_mem src, cl_long off, cl_long s1, cl_long s2, cl_long bs,
                                    int64_t batches, int64_t rows, int64_t depth, int t,
                                    cl_mem dst, cl_uint n_wait, const cl_event *wait,
                                    cl_event *ev)
{
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "gemm_cpu", opts, name, &k);
    if (st != CLF_OK)
        return st;
    cl_int r = (cl_int)rows, d = (cl_int)depth;
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &src}, {sizeof off, &off}, {sizeof s1, &s1}, {sizeof s2, &s2},
        {sizeof bs, &bs},       {sizeof r, &r},     {sizeof d, &d},   {sizeof(cl_mem), &dst},
    };
    st = clf_set_args(ctx, k, name, args, sizeof args / sizeof args[0]);
    if (st != CLF_OK)
        return st;
    /* A fixed local size: PoCL compiles a work-group function per local
     * size, so letting the driver choose would recompile per shape. */
    size_t global[3] = {(size_t)clf_ceil_div(rows, t), (size_t)clf_ceil_div(depth > 0 ? depth : 1, PACK_K),
                        (size_t)batches};
    size_t local[3] = {1, 1, 1};
    return clf_launch(ctx, k, 3, global, local, n_wait, wait, ev, name);
}

/* Key of a packed B: the panel width and storage, and B's layout. */
static void pack_b_key(const struct clf_gemm_problem *p, int tn, int64_t batch_b,
                       int64_t key[8])
{
    key[0] = tn + 1000 * (int64_t)p->b_prec; /* tn <= 64 */
    key[1] = p->k;
    key[2] = p->n;
    key[3] = p->b_off;
    key[4] = p->b_rs;
    key[5] = p->b_cs;
    key[6] = batch_b > 1 ? p->b_bs : 0;
    key[7] = batch_b;
}

enum clf_status clf_gemm_cpu_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     const struct clf_gemm_cpu_config *cfg,
                                     struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev)
{
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (ev)
        *ev = NULL;
    if (!scratch || (n_wait && !wait))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "gemm (cpu): NULL scratch or wait list");
    enum clf_status st = check_problem(ctx, p, cfg);
    if (st != CLF_OK)
        return st;
    const cl_event *wl = n_wait ? wait : NULL;

    if (p->batch == 0 || p->m == 0 || p->n == 0) { /* nothing to compute */
        return clf_marker(ctx, n_wait, wl, ev);
    }

    const int tm = cfg->tm, tn = cfg->tn;
    const int64_t batch_b = p->b_bs == 0 ? 1 : p->batch;
    size_t a_bytes = panel_bytes(p->batch, p->m, p->k, tm, sizeof(float));
    size_t b_bytes = panel_bytes(batch_b, p->n, p->k, tn,
                                 p->b_prec == CLF_PRECISION_F32 ? sizeof(float) : 2);
    if (!a_bytes || !b_bytes || a_bytes > ctx->info.max_alloc_bytes ||
        b_bytes > ctx->info.max_alloc_bytes)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                        "gemm (cpu): packed operands of %lld x (%lldx%lldx%lld) need %zu + %zu "
                        "bytes, the device allows %llu per buffer",
                        (long long)p->batch, (long long)p->m, (long long)p->n, (long long)p->k,
                        a_bytes, b_bytes, (unsigned long long)ctx->info.max_alloc_bytes);

    char opts[64];
    snprintf(opts, sizeof opts, "-DTM=%d -DTN=%d -DVW=%d -DBPREC=%d", tm, tn, cfg_vw(cfg),
             (int)p->b_prec);

    cl_event ev_a = NULL, ev_b = NULL, ev_c = NULL;
    cl_event *own = NULL; /* a wait list made here, freed on every path */

    /* A: read in place by the tiles (clf_gemm_cpu_a_direct), or packed on
     * every run into scratch slot 0 after the wait list. */
    const cl_int a_direct = clf_gemm_cpu_a_direct(p);
    cl_mem amem = p->a_t->storage->mem;
    cl_long a_off = p->a_off, a_rs = p->a_rs, a_bs = p->a_bs;
    if (!a_direct) {
        st = clf_gemm_scratch_get(ctx, scratch, 0, a_bytes, &amem);
        if (st != CLF_OK)
            return st;
        st = enqueue_pack(ctx, opts, "gemm_cpu_pack_a", p->a_t->storage->mem, p->a_off,
                          p->a_rs, p->a_cs, p->a_bs, p->batch, p->m, p->k, tm, amem, n_wait,
                          wl, &ev_a);
        if (st != CLF_OK)
            return st;
    }

    /* B: packed once per (layout, contents) and kept with the tensor; a
     * fresh one is used as it is. */
    int64_t key[8];
    pack_b_key(p, tn, batch_b, key);
    struct clf_derived *d = NULL;
    bool fresh = false;
    st = clf_derived_get(p->b_t, CLF_DERIVED_GEMM_PACK_B, key, b_bytes, &d, &fresh);
    if (st != CLF_OK)
        goto fail;
    if (!fresh) {
        st = enqueue_pack(ctx, opts, "gemm_cpu_pack_b", p->b_t->storage->mem, p->b_off, p->b_rs,
                          p->b_cs, batch_b > 1 ? p->b_bs : 0, batch_b, p->n, p->k, tn, d->mem,
                          n_wait, wl, &ev_b);
        if (st != CLF_OK)
            goto fail;
        /* later users (other nodes, later runs) find it fresh and wait for
         * d->ready: ev_b */
        clf_derived_mark_fresh(p->b_t, d, ev_b);
    } else if (d->ready) {
        ev_b = d->ready; /* a pack enqueued earlier may still be running */
        clRetainEvent(ev_b);
    }

    /* The tiles, after both packs (which waited on the wait list). */
    cl_kernel k = NULL;
    st = clf_kernel_get(ctx, "gemm_cpu", opts, "gemm_cpu_tile", &k);
    if (st != CLF_OK)
        goto fail;
    cl_mem bpk = d->mem, cmem = p->c_t->storage->mem;
    const cl_event *deps = NULL;
    cl_event pair[2] = {ev_a, ev_b};
    cl_uint n_deps = 0;
    if (!a_direct) { /* the pack of A waited for the wait list */
        deps = pair;
        n_deps = ev_b ? 2 : 1;
    } else if (!ev_b) {
        deps = wl;
        n_deps = n_wait;
    } else { /* the wait list and the pack of B */
        own = malloc((n_wait + 1) * sizeof *own);
        if (!own) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for a wait list");
            goto fail;
        }
        for (cl_uint i = 0; i < n_wait; i++)
            own[i] = wl[i];
        own[n_wait] = ev_b;
        deps = own;
        n_deps = n_wait + 1;
    }
    cl_mem bmem = p->bias_t ? p->bias_t->storage->mem : NULL;
    cl_long bp_bs = batch_b > 1 ? (cl_long)(clf_ceil_div(p->n, tn) * p->k * tn) : 0;
    cl_long c_off = p->c_off, c_rs = p->c_rs, c_bs = p->c_bs, bias_off = p->bias_off;
    cl_int has_bias = p->bias_t != NULL, m = (cl_int)p->m, n = (cl_int)p->n, kd = (cl_int)p->k;
    cl_int act = (cl_int)p->act;
    float alpha = p->alpha, beta = p->beta;
    const struct clf_karg args[] = {
        {sizeof(cl_mem), &amem},  {sizeof a_off, &a_off},  {sizeof a_rs, &a_rs},
        {sizeof a_bs, &a_bs},     {sizeof a_direct, &a_direct},
        {sizeof(cl_mem), &bpk},   {sizeof bp_bs, &bp_bs},
        {sizeof(cl_mem), &cmem},  {sizeof c_off, &c_off},  {sizeof c_rs, &c_rs},
        {sizeof c_bs, &c_bs},     {sizeof(cl_mem), bmem ? &bmem : NULL},
        {sizeof bias_off, &bias_off}, {sizeof has_bias, &has_bias}, {sizeof m, &m},
        {sizeof n, &n},           {sizeof kd, &kd},        {sizeof alpha, &alpha},
        {sizeof beta, &beta},     {sizeof act, &act},
    };
    st = clf_set_args(ctx, k, "gemm_cpu_tile", args, sizeof args / sizeof args[0]);
    if (st != CLF_OK)
        goto fail;
    size_t local[3] = {(size_t)cfg->local0, 1, 1};
    size_t global[3] = {clf_round_up((size_t)clf_ceil_div(p->m, tm), local[0]),
                        (size_t)clf_ceil_div(p->n, tn), (size_t)p->batch};
    st = clf_launch(ctx, k, 3, global, local, n_deps, deps, &ev_c, "gemm_cpu_tile");
    free(own);
    own = NULL;
    if (st != CLF_OK)
        goto fail;
    clf_release_event(&ev_a);
    clf_release_event(&ev_b);
    if (ev)
        *ev = ev_c;
    else
        clReleaseEvent(ev_c);
    return CLF_OK;

fail:
    free(own);
    /* Let what was enqueued drain before the scratch can be reused; a B
     * pack already enqueued completes, so B stays valid. */
    if (ev_a || ev_b)
        clFinish(ctx->queue);
    clf_release_event(&ev_a);
    clf_release_event(&ev_b);
    return st;
}
