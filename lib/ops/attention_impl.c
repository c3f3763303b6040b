/* The exact attention's implementations: dispatch and node state (see
 * attention_exact.h). */
#include "attention_exact.h"

void clf_attn_node_release(struct clf_ctx *ctx, struct attn_node *an)
{
    clf_gemm_scratch_release(ctx, &an->fs);
    clf_gemm_scratch_release(ctx, &an->gs[0]);
    clf_gemm_scratch_release(ctx, &an->gs[1]);
    clf_tensor_free(an->vdense);
    clf_tensor_free(an->scores);
    clf_tensor_free(an->odense);
    an->vdense = an->scores = an->odense = NULL;
}

enum clf_status clf_attn_exact_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                       enum clf_attention_impl impl, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev)
{
    if (ev)
        *ev = NULL;
    if (impl == CLF_ATTN_GEMM)
        return clf_attn_gemm_path_enqueue(ctx, an, n_wait, wait, ev);
    if (an->variant == CLF_ATTN_FUSED_GROUP)
        return clf_attn_fused_group_enqueue(ctx, an, n_wait, wait, ev);
    if (an->variant == CLF_ATTN_FUSED_SUBGROUP)
        return clf_attn_fused_subgroup_enqueue(ctx, an, n_wait, wait, ev);
    return clf_attn_fused_cpu_enqueue(ctx, an, n_wait, wait, ev);
}
