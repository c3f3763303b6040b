/* One GEMM choice run: the provider and configuration of a struct
 * clf_gemm_choice (for the op, the tuner and the ops that run GEMMs
 * inside their nodes). */
#include "gemm.h"

enum clf_status clf_gemm_run_choice(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                    const struct clf_gemm_choice *c,
                                    struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    if (c->provider == CLF_GEMM_CLBLAST)
        return clf_gemm_clblast_enqueue(ctx, p, scratch, n_wait, wait, ev);
    if (ctx->info.type == CLF_DEVICE_CPU) {
        if (c->config < 0 || c->config >= clf_gemm_cpu_n_configs)
            return clf_fail(ctx, CLF_E_INVALID_ARG, "no CPU GEMM configuration %d", c->config);
        return clf_gemm_cpu_enqueue(ctx, p, &clf_gemm_cpu_configs[c->config], scratch, n_wait,
                                    wait, ev);
    }
    if (c->config < 0 || c->config >= clf_gemm_gpu_n_configs)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "no GPU GEMM configuration %d", c->config);
    return clf_gemm_gpu_enqueue(ctx, p, &clf_gemm_gpu_configs[c->config], n_wait, wait, ev);
}
