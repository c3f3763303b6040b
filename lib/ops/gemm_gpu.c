/* Native GEMM for GPUs (cl/gemm.cl, gemm_tiled) and the standalone
 * epilogue (gemm_epilogue) used after CLBlast. */
#include <stdio.h>

#include "gemm.h"

const struct clf_gemm_gpu_config clf_gemm_gpu_configs[] = {
    {16, 4},
    {32, 8},
    {16, 1},
};
const int clf_gemm_gpu_n_configs = sizeof clf_gemm_gpu_configs / sizeof clf_gemm_gpu_configs[0];

/* Bias buffer argument: the bias, or C as a never-read placeholder. */
static cl_mem bias_mem(const struct clf_gemm_problem *p)
{
    return p->bias_t ? p->bias_t->storage->mem : p->c_t->storage->mem;
}

static enum clf_status check_int_sizes(struct clf_ctx *ctx, const struct clf_gemm_problem *p)
{
    if (p->m > INT32_MAX || p->n > INT32_MAX || p->k > INT32_MAX)
        return clf_fail(ctx, CLF_E_SHAPE, "gemm dimensions beyond 2^31 are not supported");
    return CLF_OK;
}

enum clf_status clf_gemm_gpu_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     const struct clf_gemm_gpu_config *cfg, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev)
{
    char opts[64];
    cl_kernel kern = NULL;
    enum clf_status st = check_int_sizes(ctx, p);
    if (st != CLF_OK)
        return st;
    if ((size_t)cfg->ts * (size_t)(cfg->ts / cfg->wpt) > ctx->info.max_work_group_size)
        return clf_fail(ctx, CLF_E_UNSUPPORTED, "GEMM tile %dx%d exceeds the work-group limit",
                        cfg->ts, cfg->ts / cfg->wpt);
    snprintf(opts, sizeof opts, "-DTS=%d -DWPT=%d", cfg->ts, cfg->wpt);
    st = clf_kernel_get(ctx, "gemm", opts, "gemm_tiled", &kern);
    if (st != CLF_OK)
        return st;
    cl_mem bm = bias_mem(p);
    cl_int has_bias = p->bias_t != NULL, m = (cl_int)p->m, n = (cl_int)p->n, k = (cl_int)p->k,
           act = (cl_int)p->act;
    cl_uint i = 0;
    cl_int err = 0;
#define ARG(v) err |= clf_set_arg(kern, i++, sizeof(v), &(v))
    ARG(p->a_t->storage->mem); ARG(p->a_off); ARG(p->a_rs); ARG(p->a_cs); ARG(p->a_bs);
    ARG(p->b_t->storage->mem); ARG(p->b_off); ARG(p->b_rs); ARG(p->b_cs); ARG(p->b_bs);
    ARG(p->c_t->storage->mem); ARG(p->c_off); ARG(p->c_rs); ARG(p->c_bs);
    ARG(bm); ARG(p->bias_off); ARG(has_bias);
    ARG(m); ARG(n); ARG(k); ARG(p->alpha); ARG(p->beta); ARG(act);
#undef ARG
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of gemm_tiled failed");
    size_t ts = (size_t)cfg->ts, rts = (size_t)(cfg->ts / cfg->wpt);
    size_t global[3] = {((size_t)p->m + ts - 1) / ts * ts, ((size_t)p->n + ts - 1) / ts * rts,
                        (size_t)p->batch};
    size_t local[3] = {ts, rts, 1};
    return clf_launch(ctx, kern, 3, global, local, n_wait, wait, ev, "gemm_tiled");
}

enum clf_status clf_gemm_epilogue_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                          cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_kernel kern = NULL;
    enum clf_status st = check_int_sizes(ctx, p);
    if (st == CLF_OK)
        st = clf_kernel_get(ctx, "gemm", NULL, "gemm_epilogue", &kern);
    if (st != CLF_OK)
        return st;
    cl_mem bm = bias_mem(p);
    cl_int has_bias = p->bias_t != NULL, act = (cl_int)p->act, n = (cl_int)p->n;
    cl_uint i = 0;
    cl_int err = 0;
#define ARG(v) err |= clf_set_arg(kern, i++, sizeof(v), &(v))
    ARG(p->c_t->storage->mem); ARG(p->c_off); ARG(p->c_rs); ARG(p->c_bs);
    ARG(bm); ARG(p->bias_off); ARG(has_bias); ARG(act); ARG(n);
#undef ARG
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of gemm_epilogue failed");
    size_t global[3] = {(size_t)p->n, (size_t)p->m, (size_t)p->batch};
    return clf_launch_rounded(ctx, kern, 3, global, CLF_WORK_ELEMENT, n_wait, wait, ev, "gemm_epilogue");
}
