/*
 * The exact attention node's state, shared by its files (see attention.h):
 * attention_exact.c (the node), attention_tune.c (AUTO), attention_impl.c
 * (dispatch, state), attention_fused.c and attention_gemm_path.c (the
 * implementations).
 */
#ifndef CLF_OPS_ATTENTION_EXACT_H
#define CLF_OPS_ATTENTION_EXACT_H

#include "attention.h"

struct attn_node {
    struct clf_attn_problem prob;
    enum clf_attention_impl requested;
    enum clf_attn_fused_variant variant; /* resolved: CPU, GROUP or SUBGROUP (AUTO on GROUP
                                            may choose SUBGROUP: attention_tune.c) */
    bool chosen;
    enum clf_attention_impl impl;        /* FUSED or GEMM once chosen */
    bool measured;                       /* chosen by the tuner (AUTO) */
    /* SUBGROUP: the sub-group size required of attn_fused_subgroup (build
     * define SG; 0: the compiler's choice, as the library always leaves it;
     * test-attention sets others to run the kernel at every size the device
     * offers), and the size it last ran with (0: unknown or not run) */
    int sg_required, sg_ran;
    /* SUBGROUP: the launch shape clf_attn_subgroup_config gave for the
     * node's kernel, asked on its first enqueue (0: not yet) */
    size_t sg_local;
    int sg_per_group;
    /* fused: slot 0 key panels (CPU variant), slot 1 key bias */
    struct clf_gemm_scratch fs;
    struct clf_tensor *vdense;           /* dense copy of v [b, h, sk, dv] (CPU variant,
                                            v.s3 != 1) */
    /* gemm path */
    struct clf_tensor *scores;           /* [bh, sq, sk] */
    struct clf_tensor *odense;           /* [b, h, sq, dv] when out's rows are strided */
    struct clf_gemm_scratch gs[2];       /* of Q.K^T and P.V */
    bool gemm_chosen;
    struct clf_gemm_choice gc[2];
    bool gemm_flat;                      /* one batched GEMM over batch x heads */
};

/* Releases an's buffers (attention_impl.c). */
void clf_attn_node_release(struct clf_ctx *ctx, struct attn_node *an);

/* Enqueues implementation impl (FUSED or GEMM) of an after the wait list
 * (attention_impl.c). */
enum clf_status clf_attn_exact_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                       enum clf_attention_impl impl, cl_uint n_wait,
                                       const cl_event *wait, cl_event *ev);

/* The fused kernels (attention_fused.c): attn_fused_cpu after key bias and
 * key panels, attn_fused_group after key bias. */
enum clf_status clf_attn_fused_cpu_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev);
enum clf_status clf_attn_fused_group_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                             cl_uint n_wait, const cl_event *wait,
                                             cl_event *ev);
/* attn_fused_subgroup after key bias (devices with subgroups only). */
enum clf_status clf_attn_fused_subgroup_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                                cl_uint n_wait, const cl_event *wait,
                                                cl_event *ev);

/* The GEMM path's scores buffer [batch x heads, sq, sk] in *bytes;
 * CLF_E_OUT_OF_MEMORY, giving the sizes, when the device cannot allocate it
 * (attention_gemm_path.c). */
enum clf_status clf_attn_gemm_path_bytes(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                         size_t *bytes);

/* The GEMM path (attention_gemm_path.c): S = c Q.K^T, the masked softmax
 * in place, O = P.V. */
enum clf_status clf_attn_gemm_path_enqueue(struct clf_ctx *ctx, struct attn_node *an,
                                           cl_uint n_wait, const cl_event *wait, cl_event *ev);

/* AUTO (attention_tune.c): the faster implementation for an's size class
 * on this device, measured once and kept as a tuning record, into an->impl
 * (and an->variant: SUBGROUP when the sub-group kernel won for a GROUP
 * node). */
enum clf_status clf_attn_tune_choose(struct clf_ctx *ctx, struct attn_node *an);
/* p's size class, e.g. "q4-k4-d64-h2-c0" (see attention_tune.c), into key. */
void clf_attn_class_key(const struct clf_attn_problem *p, char *key, size_t size);
/* The tuner's steps that choosing for an's class would measure, with
 * "attention <class key>" in key; 0 when the choice is known (with
 * `thorough`, shipped defaults do not count). */
int clf_attn_tune_pending(struct clf_ctx *ctx, const struct attn_node *an, bool thorough,
                          char *key, size_t size);
/* Measures an's class now and keeps the record (CLF_E_STATE when tuning is
 * off); for the classes clf_attn_tune_pending counts. */
enum clf_status clf_attn_tune_measure(struct clf_ctx *ctx, const struct attn_node *an);

#endif
