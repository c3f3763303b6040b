/*
 * GEMM internals: the problem every provider receives, and the providers.
 * The public op (clf_op_gemm, gemm.c) resolves tensors, transpositions and
 * batch strides into a struct clf_gemm_problem; a provider enqueues it.
 *
 * Calls run one way: the op (gemm.c) -> the auto-tuner (gemm_tune.c) ->
 * one choice run (gemm_run.c) -> the providers (gemm_cpu.c, gemm_gpu.c,
 * gemm_clblast.c) -> their scratch (gemm_scratch.c); other ops that run
 * GEMMs inside their nodes enter at the tuner or at gemm_run.c.
 */
#ifndef CLF_OPS_GEMM_H
#define CLF_OPS_GEMM_H

#include "ops.h"

/* Kinds of derived buffers (struct clf_derived) made by GEMM providers. */
#define CLF_DERIVED_GEMM_PACK_B 1

/*
 * For every batch p in [0, batch), i in [0, m), j in [0, n):
 *   C_p[i,j] = act(alpha · Σ_k A_p[i,k] · B_p[k,j] + beta · C_p[i,j] + bias[j])
 * with (all offsets and strides in elements of f32 buffers)
 *   A_p[i,k] = a[a_off + p·a_bs + i·a_rs + k·a_cs]
 *   B_p[k,j] = b[b_off + p·b_bs + k·b_rs + j·b_cs]      (b_bs = 0: B shared)
 *   C_p[i,j] = c[c_off + p·c_bs + i·c_rs + j]            (rows contiguous)
 *   bias[j]  = bias[bias_off + j]                        (bias_t NULL: none)
 * When beta == 0, C's old contents are never read (NaN in C stays out).
 */
struct clf_gemm_problem {
    int64_t batch, m, n, k;
    struct clf_tensor *a_t, *b_t, *c_t, *bias_t; /* for buffers and derived caches */
    cl_long a_off, a_rs, a_cs, a_bs;
    cl_long b_off, b_rs, b_cs, b_bs;
    cl_long c_off, c_rs, c_bs;
    cl_long bias_off;
    float alpha, beta;
    enum clf_act act;
    enum clf_precision b_prec; /* B's storage in the kernels (CPU provider only) */
};

/* Scratch a provider keeps between runs of one node (e.g. the packed A
 * operand); freed with the node. */
struct clf_gemm_scratch {
    cl_mem buf[2];
    size_t class_bytes[2];
};

/* Gets scratch buffer `slot` of at least `bytes` from the pool (kept and
 * reused when big enough; gemm_scratch.c). */
enum clf_status clf_gemm_scratch_get(struct clf_ctx *ctx, struct clf_gemm_scratch *s, int slot,
                                     size_t bytes, cl_mem *out);
/* Returns the scratch buffers to the pool. */
void clf_gemm_scratch_release(struct clf_ctx *ctx, struct clf_gemm_scratch *s);

/*
 * Native kernels for CPU devices (gemm_cpu.c, cl/gemm_cpu.cl): both operands
 * packed into panels (A as [batch][ceil(m/TM)][k][TM], B as
 * [batch_b][ceil(n/TN)][k][TN], zero-padded), a register tile of TM×TN
 * outputs per work-item, no local memory, no barriers; the epilogue (alpha,
 * beta, bias, act) fused into the store. B is packed once and kept as a
 * derived buffer of b_t while its contents do not change (weights); A is
 * packed on the device by a pack kernel on every run.
 */
struct clf_gemm_cpu_config {
    int tm, tn;        /* register tile */
    int vw;            /* accumulator vector width (floatVW); tn is a multiple */
    int local0;        /* work-group size along the tile rows (local size local0 × 1) */
};
extern const struct clf_gemm_cpu_config clf_gemm_cpu_configs[];
extern const int clf_gemm_cpu_n_configs;

/* Rows of A up to which the CPU tiles read A in place rather than from
 * packed panels (when A's rows are contiguous, a_cs = 1): a short
 * activation is then used where it lies, without a pack kernel and a pass
 * over it per GEMM. Measured with `clformer bench gemm` on the 2-core
 * AVX-512 PoCL device (tile 8x48), in place against packed: 18x384x1536
 * 0.155 against 0.202 ms, 64x1536x384 0.365 against 0.440, 96x384x1536
 * 0.504 against 0.606; but 128x384x1536 1.04 against 0.81 and 512x384x1536
 * 4.5 against 3.1 (eight rows 6 KiB apart stream worse than one panel). */
#define CLF_GEMM_CPU_DIRECT_M 64
/* True when the CPU provider reads p's A in place (see above). */
static inline bool clf_gemm_cpu_a_direct(const struct clf_gemm_problem *p)
{
    return p->a_cs == 1 && p->m <= CLF_GEMM_CPU_DIRECT_M;
}

enum clf_status clf_gemm_cpu_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     const struct clf_gemm_cpu_config *cfg,
                                     struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev);

/* CLBlast (gemm_clblast.c): Sgemm / SgemmStridedBatched on an in-order
 * queue, then cl/gemm.cl's epilogue for bias and activation. Needs a unit
 * stride in each of A and B (row- or column-major storage) and f32 B. Scratch slot 1
 * holds Sgemm's temp buffer, sized once per node. */
bool clf_gemm_clblast_supports(const struct clf_gemm_problem *p);
enum clf_status clf_gemm_clblast_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                         struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                         const cl_event *wait, cl_event *ev);

/* Native kernels for GPUs (gemm_gpu.c, cl/gemm.cl): TS×TS tiles of A and B
 * staged in local memory, each work-item accumulating WPT outputs of a
 * column, epilogue fused; any strides. */
struct clf_gemm_gpu_config {
    int ts;  /* tile size (work-group covers a TS×TS block of C) */
    int wpt; /* outputs per work-item (local size TS × TS/WPT) */
};
extern const struct clf_gemm_gpu_config clf_gemm_gpu_configs[];
extern const int clf_gemm_gpu_n_configs;
enum clf_status clf_gemm_gpu_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     const struct clf_gemm_gpu_config *cfg, cl_uint n_wait,
                                     const cl_event *wait, cl_event *ev);

/* C = act(C + bias) over the problem's C (after a provider without a fused
 * epilogue). */
enum clf_status clf_gemm_epilogue_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                          cl_uint n_wait, const cl_event *wait, cl_event *ev);

/* A provider and one of its configurations. */
struct clf_gemm_choice {
    enum clf_gemm_provider provider; /* CLF_GEMM_CLBLAST or CLF_GEMM_NATIVE */
    int config;                      /* index into the native family's configs */
};

/* Runs one choice (gemm_run.c). */
enum clf_status clf_gemm_run_choice(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                    const struct clf_gemm_choice *c,
                                    struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev);

/* Auto-tune (gemm_tune.c): the choice for p's shape class on this device:
 * a tuning record (lib/runtime/tune.h), a shipped default
 * (tune_defaults.c), or measured now (on scratch buffers, never on p's
 * own) and kept as a record, as the context's tuning mode says. */
enum clf_status clf_gemm_tune_choose(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                     struct clf_gemm_choice *out);
/* The tuner's steps (CLF_TUNER_STEPS) that choosing for p's class would
 * measure, with "gemm <class key>" in key; 0 when the choice is known
 * (with `thorough`, shipped defaults do not count). */
int clf_gemm_tune_pending(struct clf_ctx *ctx, const struct clf_gemm_problem *p, bool thorough,
                          char *key, size_t size);
/* Measures p's class now and keeps the record (CLF_E_STATE when tuning is
 * off). */
enum clf_status clf_gemm_tune_measure(struct clf_ctx *ctx, const struct clf_gemm_problem *p);
/* p's shape class, e.g. "m3-n4-k3-b0-rc" (see gemm_tune.c), into key. */
void clf_gemm_class_key(const struct clf_gemm_problem *p, char *key, size_t size);
/* "gemm MxNxK" (" xB" when batched) into buf; snprintf's return. */
int clf_gemm_problem_str(const struct clf_gemm_problem *p, char *buf, size_t size);

#endif
