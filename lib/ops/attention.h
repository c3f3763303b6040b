/*
 * Attention internals (cl/attention*.cl). Calls run one way:
 *   attention.c         the op clf_op_attention: checks, then dispatch to
 *     attention_exact.c   the exact node (record, run, describe), which
 *                         picks an implementation, measured when AUTO by
 *     attention_tune.c    the tuner, and runs it through
 *     attention_impl.c    the exact implementations' dispatch: the fused
 *                         kernels (attention_fused.c) and the GEMM path
 *                         (attention_gemm_path.c);
 *     attention_sparse.c, attention_lowrank.c  the variants (Linformer
 *                         records an exact node through attention_exact.c);
 *   attention_quant.c   its own op (clf_op_attention_quant);
 * and all of them call the shared code below them: attention_common.c (the
 * problem, the tiles, key bias and key panels) and attention_options.c
 * (the programs' build options).
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
    CLF_ATTN_FUSED_GROUP = 1,      /* K/V tiles in local memory (attn_fused_group);
                                      one work-group per softmax row. With AUTO on a
                                      device with subgroups, the tuner also measures
                                      attn_fused_subgroup (attention_tune.c) */
    CLF_ATTN_FUSED_SUBGROUP = 2    /* one sub-group per query, no local memory
                                      (attn_fused_subgroup); devices with subgroups only
                                      (CLF_E_UNSUPPORTED elsewhere); the GEMM path's
                                      softmax and the sparse variants as GROUP */
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
    struct clf_tensor *pb;  /* position bias [heads, sq + sk - 1] f32 (unit element
                               stride) or NULL: exact attention's GEMM path only */
    float scale;            /* resolved (never 0) */
    bool causal;
    /* ragged (clf_attention_params.seq_offsets): i32 [batch + 1] offsets of
     * the sequences packed along the rows of q, k, v, out (their batch
     * dimension 1, `rows` rows); sq = sk = the longest sequence. NULL:
     * not ragged. */
    struct clf_tensor *cu;
    int64_t rows;
};

/* ------------------------------------------------------------------------ */
/* Shared code (attention_common.c)                                         */
/* ------------------------------------------------------------------------ */

/* Register tiles of the CPU kernels that keep queries in vector lanes
 * (attn_fused_cpu, the sparse *_cpu kernels, attn_quant_cpu): VW lanes
 * (queries) per vector, QV query vectors per work-item, BK keys per tile,
 * DC head_dim elements per P.V pass; chosen by the device's float vector
 * width. */
struct clf_attn_cpu_config {
    int vw, qv, bk, dc;
};
const struct clf_attn_cpu_config *clf_attn_cpu_config(const struct clf_ctx *ctx);

/* Launch shape of attn_fused_subgroup for its kernel k: the local size
 * *local (a multiple of the sub-group size the device reports for it, via
 * clGetKernelSubGroupInfoKHR where the platform has it; else 64 capped by
 * the device), the queries one work-group covers per pass, *per_group
 * (local / sub-group size; local when the size is unknown: the kernel
 * loops over queries, so the guess only sizes the grid), and that
 * sub-group size in *sg (0: unknown). */
void clf_attn_subgroup_config(struct clf_ctx *ctx, cl_kernel k, size_t *local, int *per_group,
                              int *sg);

/* Work-group shape of attn_fused_group: GQ queries (work-items) and GK keys
 * per local tile, K and V tiles of GK x DMAX floats each within the
 * device's local memory. */
void clf_attn_group_config(const struct clf_ctx *ctx, int dmax, int *gq, int *gk);

/* The DMAX bucket of a problem: its private arrays hold max(d, dv). */
int clf_attn_problem_dmax(const struct clf_attn_problem *p);

/* The kernel family to run: `family`, or by the device when
 * CLF_ATTN_FUSED_BY_DEVICE (CPU devices: CPU; others: GROUP, whose AUTO
 * also measures SUBGROUP where the device has subgroups). */
enum clf_attn_fused_variant clf_attn_family(const struct clf_ctx *ctx,
                                            enum clf_attn_fused_variant family);

/* Checks that the sizes fit the kernels' int arguments. */
enum clf_status clf_attn_check_sizes(struct clf_ctx *ctx, int64_t batch, int64_t heads,
                                     int64_t sq, int64_t sk, int64_t d, int64_t dv);

/* Fills *prob for q, k, v (4-D, checked) with p's scale (0: 1/sqrt(d)),
 * causal mask and key padding; its out is p->out, or a new graph output
 * [batch, heads, seq_q, dv] (*out_owned then true). */
enum clf_status clf_attn_problem_make(struct clf_graph *g, struct clf_tensor *q,
                                      struct clf_tensor *k, struct clf_tensor *v,
                                      const struct clf_attention_params *p,
                                      struct clf_attn_problem *prob, bool *out_owned);

/* q [b, h, sq, d], k [b, h, sk, d], v [b, h, sk, dv]: 2·sq·sk·d for Q.K^T
 * and 2·sq·sk·dv for P.V per (batch, head), the softmax's O(sq·sk) and a
 * causal mask's halving left out (the nodes' FLOP counts). */
double clf_attention_flops(const struct clf_tensor *q, const struct clf_tensor *k,
                           const struct clf_tensor *v);

/* Local size for 1-D helper kernels on this device: want, halved to what
 * the device allows (a fixed one, so that PoCL compiles each kernel once
 * whatever the global size). */
size_t clf_attn_helper_local(const struct clf_ctx *ctx, size_t want);

/* Enqueues attn_key_bias (cl/attention.cl): kb [batch][nk_pad] = 0 for an
 * attended key, -inf for a padded one or one past seq_k, after the wait
 * list. opts: the attention program's options (NULL: the default one). */
enum clf_status clf_attn_enqueue_key_bias(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                          const char *opts, cl_mem kb, int nk_pad,
                                          cl_uint n_wait, const cl_event *wait, cl_event *ev);

/* Bytes of the key panels of k [b, h, sk, d] in tiles of bk keys. */
size_t clf_attn_key_panel_bytes(const struct clf_tensor *k, int bk);

/* Enqueues attn_pack_k (attention_common.cl) of program `family` built
 * with opts (its BK = bk): k [b, h, sk, d] into key panels kp
 * [b][h][ceil(sk/bk)][d][bk], after the wait list. */
enum clf_status clf_attn_enqueue_pack_k(struct clf_ctx *ctx, const char *family,
                                        const char *opts, const struct clf_tensor *k, int bk,
                                        cl_mem kp, cl_uint n_wait, const cl_event *wait,
                                        cl_event *ev);

/* What the CPU kernels (attn_fused_cpu, the sparse *_cpu kernels) read
 * besides q: the parts a kernel asks for (clf_attn_cpu_inputs). */
enum clf_attn_cpu_part {
    CLF_ATTN_KEY_BIAS = 1,   /* kb from attn_key_bias (attn_fused_cpu masks by itself) */
    CLF_ATTN_KEY_PANELS = 2, /* kp from attn_pack_k (attn_fused_cpu packs its own when
                              * every head has one query block) */
    CLF_ATTN_DENSE_V = 4     /* v copied when its rows are strided (dv > 1) */
};
struct clf_attn_cpu_inputs {
    cl_mem kp;                  /* key panels [b][h][nkb][d][BK] (attn_pack_k), or NULL */
    cl_mem kb;                  /* key bias [batch][nkb * BK] (attn_key_bias), or NULL */
    int nkb;                    /* key tiles: ceil(seq_k / BK) */
    const struct clf_tensor *v; /* p->v, or a dense copy when its rows are strided */
    cl_event evs[3];            /* what made them */
    cl_uint n_ev;
    const cl_event *deps;       /* what the kernel reading them waits for: evs, or the
                                 * caller's wait list when nothing was enqueued */
    cl_uint n_deps;
};

/* Enqueues the CPU inputs of p that `parts` (clf_attn_cpu_part flags)
 * names after the wait list, in slots 0 (panels) and 1 (bias) of fs: the
 * key bias from cl/attention.cl's default program, the key panels from
 * program `family` built with opts (the BK of this device's CPU tiles),
 * a dense copy of strided v in *vdense (made on first use). Every launch
 * saved counts on a CPU device: one that wakes a second worker thread
 * costs about 20 us on the project's VM (docs/measurements.md). `what`
 * names the op in errors. On failure the caller finishes the queue and
 * releases what in->evs holds. */
enum clf_status clf_attn_cpu_inputs(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                    const char *family, const char *opts, unsigned parts,
                                    struct clf_gemm_scratch *fs,
                                    struct clf_tensor **vdense, const char *what,
                                    cl_uint n_wait, const cl_event *wait,
                                    struct clf_attn_cpu_inputs *in);

/* Releases the events of in. */
void clf_attn_cpu_inputs_release(struct clf_attn_cpu_inputs *in);

/* ------------------------------------------------------------------------ */
/* Build options (attention_options.c)                                      */
/* ------------------------------------------------------------------------ */

/*
 * The -D options of the attention programs, written once: the table
 * clf_attn_opt_defs holds each one's name, default and the programs that
 * read it. The host passes every option of a program, formatted from a
 * struct clf_attn_options (clf_attn_options_str). The .cl files give each
 * option the same default (#ifndef NAME / #define NAME value) so that a
 * program also builds bare (clf_ctx_warmup, CLFORMER_CL_DIR): test-attention
 * checks that every default there equals the table's. A program whose
 * options all equal the defaults is built with none (NULL): the one
 * clf_ctx_warmup built.
 */
enum clf_attn_program {
    CLF_ATTN_PROGRAM_EXACT,  /* cl/attention.cl */
    CLF_ATTN_PROGRAM_SPARSE, /* cl/attention_sparse.cl */
    CLF_ATTN_PROGRAM_QUANT,  /* cl/attention_quant.cl */
    CLF_ATTN_PROGRAMS
};

enum clf_attn_opt {
    CLF_ATTN_OPT_VW,     /* float lanes per vector of the CPU kernels (8 or 16) */
    CLF_ATTN_OPT_QV,     /* query vectors per work-item (1 or 2) */
    CLF_ATTN_OPT_BK,     /* keys per register tile and per key panel */
    CLF_ATTN_OPT_DC,     /* head_dim elements per P.V pass */
    CLF_ATTN_OPT_DMAX,   /* largest head_dim (d and dv), sizes private arrays */
    CLF_ATTN_OPT_GQ,     /* queries per work-group of attn_fused_group */
    CLF_ATTN_OPT_GK,     /* keys per local-memory tile of attn_fused_group */
    CLF_ATTN_OPT_SG,     /* required sub-group size of attn_fused_subgroup (0: the
                            compiler's choice; honoured with cl_intel_required_subgroup_size) */
    CLF_ATTN_OPT_KV,     /* quantised K, V: 0 f32, 1 i8 per token, 2 i8 per channel */
    CLF_ATTN_OPT_PF,     /* how P is stored (enum clf_p_format) */
    CLF_ATTN_OPT_AQ_CPU, /* 1: the quantised CPU kernels, 0: attn_quant */
    CLF_ATTN_OPT_VS3,    /* 1: the quantised CPU kernel's v has unit last stride */
    CLF_ATTN_OPT_QI8,    /* int8 queries: 0 off, 1 plain integer dot products,
                            2 cl_khr_integer_dot_product's packed 4x8-bit ones */
    CLF_ATTN_OPTS
};

struct clf_attn_opt_def {
    const char *name;  /* the define, e.g. "VW" */
    int value;         /* its default */
    unsigned programs; /* bit (1u << enum clf_attn_program) per program reading it */
};
extern const struct clf_attn_opt_def clf_attn_opt_defs[CLF_ATTN_OPTS];
extern const char *const clf_attn_program_family[CLF_ATTN_PROGRAMS];

/* Values of every option (indexed by enum clf_attn_opt). */
struct clf_attn_options {
    int v[CLF_ATTN_OPTS];
};

/* Every option at its default. */
struct clf_attn_options clf_attn_options_default(void);

/* The defaults with this device's CPU tiles (VW, QV, BK, DC) and DMAX
 * for head_dims up to dmax_of. */
struct clf_attn_options clf_attn_options_cpu(const struct clf_ctx *ctx, int64_t dmax_of);

/* "-DVW=16 -DQV=2 ..." of every option program reads, into buf (at least
 * CLF_ATTN_OPTIONS_LEN bytes); returns NULL when they all equal the
 * defaults, else buf. */
#define CLF_ATTN_OPTIONS_LEN 256
const char *clf_attn_options_str(enum clf_attn_program program, const struct clf_attn_options *o,
                                 char *buf);

/* ------------------------------------------------------------------------ */
/* The op (attention.c) and the exact node (attention_exact.c)              */
/* ------------------------------------------------------------------------ */

/* clf_op_attention with the kernel family forced (tests run the GPU
 * family on CPU devices with it). */
enum clf_status clf_attention_record(struct clf_graph *g, struct clf_tensor *q,
                                     struct clf_tensor *k, struct clf_tensor *v,
                                     const struct clf_attention_params *p,
                                     enum clf_attn_fused_variant variant,
                                     struct clf_tensor **out);

/* Records an exact attention node of prob (its out set; out_owned: created
 * by the op, freed on failure) running impl (AUTO: measured at the first
 * run) with the kernel family (CPU or GROUP). */
enum clf_status clf_attention_exact_record(struct clf_graph *g,
                                           const struct clf_attn_problem *prob,
                                           enum clf_attention_impl impl,
                                           enum clf_attn_fused_variant family, bool out_owned,
                                           struct clf_tensor **out);

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
 * GEMMs, then an exact attention node of q on (K', V') with the kernel
 * family given (CPU or GROUP). Causal and key padding are
 * CLF_E_UNSUPPORTED. */
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
