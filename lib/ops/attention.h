/*
 * Attention internals (lib/ops/attention.c, cl/attention.cl): the problem
 * the op resolves at record time, the implementations it can run, and a
 * recording entry that forces a kernel variant (tests run the GPU variant
 * on CPU devices with it).
 */
#ifndef CLF_OPS_ATTENTION_H
#define CLF_OPS_ATTENTION_H

#include "gemm.h"

/* Largest head_dim. */
#define CLF_ATTN_MAX_HEAD_DIM 256

/* head_dim bucket: the DMAX a program is built for (of max(dk, dv) for
 * the exact kernels). */
static inline int clf_attn_dmax(int64_t d)
{
    return d <= 32 ? 32 : d <= 64 ? 64 : d <= 128 ? 128 : 256;
}

/* Kernel family: the fused kernel and the GEMM path's softmax. */
enum clf_attn_fused_variant {
    CLF_ATTN_FUSED_BY_DEVICE = -1, /* CPU devices: CPU; others: GROUP */
    CLF_ATTN_FUSED_CPU = 0,        /* register tiles, no local memory (attn_fused_cpu);
                                      one work-item per softmax row */
    CLF_ATTN_FUSED_GROUP = 1       /* K/V tiles in local memory (attn_fused_group);
                                      one work-group per softmax row */
};

/*
 * out[b,h,i,:] = sum_j softmax_j(scale q[b,h,i,:].k[b,h,j,:] + mask) v[b,h,j,:]
 * for b < batch, h < heads, i < sq; j < sk. Tensors are 4-D [b, h, row, dd]
 * with any strides (their own offsets and strides are used): q [.., sq, d],
 * k [.., sk, d], v [.., sk, dv], out [.., sq, dv]. The sparse variants need
 * dv == d.
 */
struct clf_attn_problem {
    int64_t batch, heads, sq, sk, d; /* d: q's and k's head_dim */
    int64_t dv;                      /* v's and out's head_dim */
    struct clf_tensor *q, *k, *v, *out;
    struct clf_tensor *pad; /* [batch, sk] i32 or NULL */
    float scale;            /* resolved (never 0) */
    bool causal;
};

/* Register tiles of the CPU kernels that keep queries in vector lanes
 * (attn_fused_cpu, attn_quant_cpu): VW lanes (queries) per vector, QV
 * query vectors per work-item, BK keys per tile, DC head_dim elements per
 * P.V pass; chosen by the device's float vector width (attention.c). */
struct clf_attn_cpu_config {
    int vw, qv, bk, dc;
};
const struct clf_attn_cpu_config *clf_attn_cpu_config(const struct clf_ctx *ctx);

/* q [b, h, sq, d], k [b, h, sk, d], v [b, h, sk, dv]: 2·sq·sk·d for Q.K^T
 * and 2·sq·sk·dv for P.V per (batch, head), the softmax's O(sq·sk) and a
 * causal mask's halving left out (the nodes' FLOP counts). */
double clf_attention_flops(const struct clf_tensor *q, const struct clf_tensor *k,
                           const struct clf_tensor *v);

/* clf_op_attention with the kernel family forced (tests run the GPU
 * family on CPU devices with it). */
enum clf_status clf_attention_record(struct clf_graph *g, struct clf_tensor *q,
                                     struct clf_tensor *k, struct clf_tensor *v,
                                     const struct clf_attention_params *p,
                                     enum clf_attn_fused_variant variant,
                                     struct clf_tensor **out);

/* Enqueues attn_key_bias (cl/attention.cl): kb [batch][nk_pad] = 0 for an
 * attended key, -inf for a padded one or one past seq_k, after the wait
 * list. opts: the attention program's options (NULL: the default one). */
enum clf_status clf_attn_enqueue_key_bias(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                          const char *opts, cl_mem kb, int nk_pad,
                                          cl_uint n_wait, const cl_event *wait, cl_event *ev);

/* Sparse variants (attention_sparse.c). */

/* Checks params.kept (before anything is recorded). */
enum clf_status clf_attention_sparse_check(struct clf_graph *g,
                                           const struct clf_attention_params *p, int64_t batch,
                                           int64_t heads, int64_t sq, const struct clf_tensor *q,
                                           const struct clf_tensor *k,
                                           const struct clf_tensor *v);

/* Records the nodes of a sparse variant (p->variant, already checked) of
 * prob (its out set; out_owned: created by the op, freed on failure) with
 * the resolved kernel family (CPU or GROUP). */
enum clf_status clf_attention_sparse_record(struct clf_graph *g,
                                            const struct clf_attn_problem *prob,
                                            const struct clf_attention_params *p,
                                            enum clf_attn_fused_variant family, bool out_owned,
                                            struct clf_tensor **out);


/* Linformer (attention_lowrank.c). */

/* The projected length the op uses: variant.rank, capped at seq_k with
 * CLF_PROJ_MEAN (segments hold >= 1 key; rank >= seq_k is then E = I,
 * exact attention); CLF_PROJ_GAUSSIAN and given E, F keep it. */
int64_t clf_linformer_rank(const struct clf_attention_variant *v, int64_t sk);

/* Fills out [r, sk] (row-major) with the generated projection: which = 0
 * for E, 1 for F (equal for CLF_PROJ_MEAN; independent N(0, 1/r) streams of
 * splitmix64 + Box-Muller from seed for CLF_PROJ_GAUSSIAN). Host only,
 * deterministic. */
void clf_linformer_projection(enum clf_attention_projection proj, uint64_t seed, int64_t r,
                              int64_t sk, int which, float *out);

/* Records Linformer (p->variant LINFORMER, already checked; q, k, v, the
 * sizes and p->out checked by clf_attention_record): K' = E.K, V' = F.V by
 * GEMMs, then exact attention of q on (K', V') with the kernel family
 * forced as given. Causal and key padding are CLF_E_UNSUPPORTED. */
enum clf_status clf_attention_lowrank_record(struct clf_graph *g, struct clf_tensor *q,
                                             struct clf_tensor *k, struct clf_tensor *v,
                                             const struct clf_attention_params *p,
                                             enum clf_attn_fused_variant family,
                                             struct clf_tensor **out);

/* Nystromformer (attention_lowrank.c). */

/* The landmark count the op uses: variant.rank capped at min(seq_q, seq_k)
 * (segments hold >= 1 token). */
int64_t clf_nystrom_landmarks(const struct clf_attention_variant *v, int64_t sq, int64_t sk);

/* Records Nystromformer (p->variant NYSTROM, already checked; q, k, v, the
 * sizes and p->out checked by clf_attention_record) as GEMMs, softmaxes and
 * the nys_* kernels of cl/attention_lowrank.cl. Causal and key padding are
 * CLF_E_UNSUPPORTED. */
enum clf_status clf_attention_nystrom_record(struct clf_graph *g, struct clf_tensor *q,
                                             struct clf_tensor *k, struct clf_tensor *v,
                                             const struct clf_attention_params *p,
                                             struct clf_tensor **out);

#endif
