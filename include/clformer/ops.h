/**
 * @file clformer/ops.h
 * @brief Tensors, graphs and ops: device tensors, graphs of ops and their
 * node information, and every op (element-wise, dense, positional
 * encodings, attention and its variants, quantisation).
 *
 * Part of the public API; include clformer.h (the umbrella).
 */
#ifndef CLFORMER_OPS_H
#define CLFORMER_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup ops Tensors, graphs and ops
 * Tensors on a context, graphs of ops recorded on them, and the ops.
 * @{
 */

/** @defgroup tensors Tensors
 * Device buffers with a dtype, a shape and strides; views share storage.
 * @{ */

/** Element types. f16 is storage: IEEE binary16 bits in a uint16_t. */
enum clf_dtype {
    CLF_F32 = 0, /**< IEEE binary32 */
    CLF_F16 = 1, /**< IEEE binary16 (storage; arithmetic in f32) */
    CLF_I8 = 2,  /**< signed 8-bit integer (quantised codes) */
    CLF_I32 = 3  /**< signed 32-bit integer (ids, masks, counts) */
};

/** Bytes per element (0 for an unknown dtype). */
CLF_API size_t clf_dtype_size(enum clf_dtype dtype);
/** "f32", "f16", "i8", "i32", or "?" */
CLF_API const char *clf_dtype_str(enum clf_dtype dtype);

/** float -> binary16 bits, round to nearest even; NaN stays NaN. */
CLF_API uint16_t clf_f32_to_f16(float x);
/** binary16 bits -> float (exact). */
CLF_API float clf_f16_to_f32(uint16_t h);

/**
 * A tensor: a device buffer plus dtype, shape (outermost first), strides in
 * elements and an element offset. A view shares its base's storage; storage
 * lives until the last tensor using it is destroyed. A tensor keeps its
 * context alive (see @ref context "Contexts").
 */
struct clf_tensor;

/**
 * Creates a dense row-major tensor with uninitialised contents.
 * @param ctx    the context whose device holds it
 * @param dtype  element type
 * @param ndim   1..CLF_MAX_DIMS
 * @param shape  ndim sizes, each >= 1
 * @param out    receives the tensor (NULL on failure)
 */
CLF_API enum clf_status clf_tensor_create(struct clf_ctx *ctx, enum clf_dtype dtype, int ndim,
                                          const int64_t *shape, struct clf_tensor **out);

/**
 * Creates a view of base's storage: element (i0..) lives at
 * offset + sum(i_k * strides[k]) of the storage base addresses (so offset and
 * strides are relative to the storage, in elements, not to base's layout).
 * Strides are >= 0; every addressed element must lie inside the storage.
 */
CLF_API enum clf_status clf_tensor_view(struct clf_tensor *base, int ndim, const int64_t *shape,
                                        const int64_t *strides, int64_t offset,
                                        struct clf_tensor **out);

/** View of elements [start, start+len) along dimension dim of base. */
CLF_API enum clf_status clf_tensor_slice(struct clf_tensor *base, int dim, int64_t start,
                                         int64_t len, struct clf_tensor **out);

/** Destroys a tensor (NULL is fine). Tensors owned by a graph or by the
 *  context (clf_posenc_sinusoidal) are left alone. */
CLF_API void clf_tensor_destroy(struct clf_tensor *t);

/**
 * Copies host data into the tensor. src holds numel elements, dense row-major
 * in the tensor's shape; bytes must equal numel * dtype size. Blocking.
 */
CLF_API enum clf_status clf_tensor_write(struct clf_tensor *t, const void *src, size_t bytes);

/** Copies the tensor into dst, dense row-major; bytes = numel * dtype size. Blocking. */
CLF_API enum clf_status clf_tensor_read(struct clf_tensor *t, void *dst, size_t bytes);

/** Element type (CLF_F32 for NULL). */
CLF_API enum clf_dtype clf_tensor_dtype(const struct clf_tensor *t);
/** Number of dimensions; 0 for NULL. */
CLF_API int clf_tensor_ndim(const struct clf_tensor *t);
/** Size of dimension dim; 0 when out of range. */
CLF_API int64_t clf_tensor_dim(const struct clf_tensor *t, int dim);
/** Stride of dimension dim in elements; 0 when out of range. */
CLF_API int64_t clf_tensor_stride(const struct clf_tensor *t, int dim);
/** Element offset into the storage. */
CLF_API int64_t clf_tensor_offset(const struct clf_tensor *t);
/** Number of elements; 0 for NULL. */
CLF_API int64_t clf_tensor_numel(const struct clf_tensor *t);
/** True when the layout is dense row-major (possibly at an offset). */
CLF_API bool clf_tensor_is_contiguous(const struct clf_tensor *t);

/** @} */

/** @defgroup graphs Graphs
 * Ops are recorded on a graph, then run; node information for profiles.
 * @{ */

/**
 * A graph of ops. Ops are recorded first (clf_op_*), then executed by
 * clf_graph_run, which enqueues every node in dependency order with events.
 * Each op creates its output tensor; output tensors belong to the graph and
 * live until clf_graph_destroy (read them with clf_tensor_read; views of
 * them may be taken and must be destroyed before the graph). A graph keeps
 * its context alive (see @ref context "Contexts").
 */
struct clf_graph;

/** Creates an empty graph on a context. */
CLF_API enum clf_status clf_graph_create(struct clf_ctx *ctx, struct clf_graph **out);
/** Destroys the graph and the tensors its ops created (NULL is fine). */
CLF_API void clf_graph_destroy(struct clf_graph *g);
/** Number of recorded nodes. */
CLF_API size_t clf_graph_node_count(const struct clf_graph *g);

/**
 * Executes every recorded node; blocks until all have finished. May be
 * called again (for example after writing new inputs). The first run plans
 * the graph: the tensors its ops create get device memory by lifetime, so
 * that an intermediate tensor's memory is reused once its last reader has
 * run (a graph's outputs that no later node reads, and tensors passed to
 * clf_graph_keep, live to the end). Recording more nodes plans again.
 */
CLF_API enum clf_status clf_graph_run(struct clf_graph *g);

/**
 * Measures now every shape class the graph's automatic choices (GEMMs of
 * provider CLF_GEMM_AUTO, exact attention of impl CLF_ATTN_AUTO) use that
 * has no tuning record good enough for the context's tuning mode, whatever
 * the shipped defaults say: under CLF_TUNE_FULL every candidate is timed
 * (records measured in fast mode are measured again), otherwise the
 * candidates that can win on the device. Each class is measured once; the
 * progress handler sees one count over all of them ("tuning", steps done of
 * all steps). The records are kept (see clf_tune_export), and later runs
 * use them. CLF_E_STATE under CLF_TUNE_OFF. clf_graph_run does the same
 * before its first run, leaving out the classes the shipped defaults cover.
 */
CLF_API enum clf_status clf_graph_tune(struct clf_graph *g);

/**
 * Keeps a tensor that g's ops created (an intermediate, e.g. an activation
 * to inspect; or a view of one) alive and readable after the run: its
 * memory is not reused. Call it before running; after a run the next run
 * plans again. CLF_E_INVALID_ARG when t was not created by g's ops.
 * Reading an intermediate whose memory was reused is CLF_E_STATE, and so
 * is reading any tensor g's ops created before g has run. Writing one
 * before the first run (e.g. to poison it) plans g then; a run may
 * overwrite what was written into an intermediate.
 */
CLF_API enum clf_status clf_graph_keep(struct clf_graph *g, struct clf_tensor *t);

/**
 * The device memory of the tensors g's ops created: *planned as laid out
 * by the planner (what the graph holds), *naive if each had its own
 * buffer. CLF_E_STATE before the first run (nothing planned yet).
 */
CLF_API enum clf_status clf_graph_memory(const struct clf_graph *g, size_t *planned,
                                         size_t *naive);

/** Size of clf_node_info's description, its terminating NUL included. */
#define CLF_NODE_DESC_SIZE 256

/**
 * What node i of a graph is, computes and (in the latest run) took:
 * filled by clf_graph_node_info. Set size to sizeof(struct clf_node_info)
 * first: the library fills the fields that fit in it (a program built
 * against older headers gets the fields it knows) and zeroes any it does
 * not know.
 */
struct clf_node_info {
    size_t size;     /**< set by the caller: sizeof(struct clf_node_info) */
    /** The op's name: "gemm", "attention", "layernorm", ... (a string of
     *  the library, never freed) */
    const char *op;
    /** The op and, once the graph has run, what it chose, e.g. "gemm
     *  24x40x16 native:0 (tile 6x64, float16)"; truncated to fit */
    char desc[CLF_NODE_DESC_SIZE];
    /** Its floating-point (or integer) operations, for throughput figures;
     *  0 for data movement */
    double flops;
    /** Bytes its inputs and output occupy (a lower bound on its memory
     *  traffic) */
    double bytes;
    /** The fields below hold the latest run's times: false before any run,
     *  without profiling (clf_ctx_params.profiling) or when the run
     *  replayed a recorded command buffer */
    bool timed;
    /** The latest run replayed a recorded command buffer (no per-node
     *  times then: set clf_ctx_params.command_buffers = false for them) */
    bool replayed;
    double time_ms;  /**< device time: the durations of its commands summed */
    double start_ms; /**< device start of its earliest command, from the run's first start */
    double end_ms;   /**< device end of its latest command, same origin */
    int queue;       /**< index of the queue it ran on (0 with one queue) */
};

/**
 * Fills *out for node i (in recording order): op name, description, cost
 * and, after a run, times. CLF_E_INVALID_ARG for a NULL g or out, an unset
 * out->size, or i out of range.
 */
CLF_API enum clf_status clf_graph_node_info(const struct clf_graph *g, size_t i,
                                            struct clf_node_info *out);

/** @} */

/** @defgroup dense_ops Element-wise, dense and row ops
 * GEMM, activations, softmax, LayerNorm, embeddings, sentence pooling.
 * @{ */

/** Activation functions (of an op or of a GEMM epilogue). */
enum clf_act {
    CLF_ACT_NONE = 0,      /**< x */
    CLF_ACT_RELU = 1,      /**< max(0, x) */
    CLF_ACT_GELU = 2,      /**< 0.5·x·(1 + erf(x/√2)), the exact form */
    CLF_ACT_GELU_TANH = 3, /**< 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
    CLF_ACT_TANH = 4       /**< tanh(x) (sentence-transformers' Dense default) */
};

/** out = a + b, elementwise; a and b f32 of the same shape (any strides). */
CLF_API enum clf_status clf_op_add(struct clf_graph *g, struct clf_tensor *a,
                                   struct clf_tensor *b, struct clf_tensor **out);
/** out = a * b, elementwise; a and b f32 of the same shape (any strides). */
CLF_API enum clf_status clf_op_mul(struct clf_graph *g, struct clf_tensor *a,
                                   struct clf_tensor *b, struct clf_tensor **out);
/** out = alpha * x + beta, elementwise; x f32. */
CLF_API enum clf_status clf_op_scale(struct clf_graph *g, struct clf_tensor *x, float alpha,
                                     float beta, struct clf_tensor **out);
/** out = dense row-major copy of x (any dtype, any strides). */
CLF_API enum clf_status clf_op_copy(struct clf_graph *g, struct clf_tensor *x,
                                    struct clf_tensor **out);

/**
 * Storage precision of weights (a GEMM's B operand) in the native CPU
 * kernels. B is rounded to the format to nearest even once, when it is
 * packed, and widened back to f32 exactly as it is read; the products and
 * sums stay f32. So the result is the f32 GEMM of round(B), and against
 * the exact B each output moves by at most u·Σ_k |a_ik·b_kj| more, with u
 * the format's unit roundoff (plus, for F16, 2^-25 per term whose |b| is
 * below 2^-14, where the format is subnormal).
 */
enum clf_precision {
    CLF_PRECISION_F32 = 0,  /**< f32: B as it is */
    /** IEEE binary16: u = 2^-11; |b| beyond 65504 becomes ±inf (b beyond
     *  65520 in magnitude), so only for weights within that range */
    CLF_PRECISION_F16 = 1,
    CLF_PRECISION_BF16 = 2  /**< bfloat16: u = 2^-8, f32's range */
};

/** "f32", "f16" or "bf16" (or "?"). */
CLF_API const char *clf_precision_str(enum clf_precision p);

/** Options of clf_op_gemm; get one from clf_gemm_params_default(). */
struct clf_gemm_params {
    /** The struct\'s size: set by clf_gemm_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    bool trans_a;             /**< use Aᵀ. Default false */
    bool trans_b;             /**< use Bᵀ (nn.Linear weights [N, K]). Default false */
    float alpha;              /**< Default 1 */
    float beta;               /**< Default 0; needs `c` when not 0 */
    /** [N] f32 added to every row after alpha·A·B (+ beta·C). Default NULL. */
    struct clf_tensor *bias;
    enum clf_act act;         /**< applied last. Default CLF_ACT_NONE */
    /** Existing output to write (and, with beta ≠ 0, to accumulate into):
     *  [M, N] or [batch, M, N] f32, last dimension contiguous. Default NULL:
     *  the op creates a graph-owned output. */
    struct clf_tensor *c;
    /** Default CLF_GEMM_AUTO: the context's choice (clf_ctx_params.gemm_provider). */
    enum clf_gemm_provider provider;
    /** B's storage in the kernels (see enum clf_precision). Default
     *  CLF_PRECISION_F32. F16 and BF16 run on CPU devices with the native
     *  provider (AUTO chooses it); CLBlast, or another device type, is
     *  CLF_E_UNSUPPORTED. B stays as it is: the rounded copy is the packed
     *  one, made again when B is written. */
    enum clf_precision b_precision;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_gemm_params_init(struct clf_gemm_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_gemm_params)

/**
 * out = act(alpha · op(A) · op(B) + beta · C + bias), row-major f32.
 * op(A) is [M, K] (A is [K, M] with trans_a), op(B) is [K, N] (B is [N, K]
 * with trans_b). Batched: A [batch, ·, ·] and B [batch, ·, ·] or a 2-D B
 * shared by every batch; the batch stride is each tensor's dim-0 stride, so
 * heads addressed by strides need no copy. Each matrix needs one unit
 * stride (rows or columns contiguous). Output [M, N] or [batch, M, N].
 * p NULL means clf_gemm_params_default().
 */
CLF_API enum clf_status clf_op_gemm(struct clf_graph *g, struct clf_tensor *a, struct clf_tensor *b,
                                    const struct clf_gemm_params *p, struct clf_tensor **out);

/** out[..., j] = x[..., j] + bias[j]; x f32 [..., N], bias f32 [N]. */
CLF_API enum clf_status clf_op_bias_add(struct clf_graph *g, struct clf_tensor *x,
                                        struct clf_tensor *bias, struct clf_tensor **out);

/** out = act(x), elementwise, x f32. */
CLF_API enum clf_status clf_op_act(struct clf_graph *g, struct clf_tensor *x, enum clf_act act,
                                   struct clf_tensor **out);

/**
 * A gated linear unit's gate (GLU family: GeGLU with CLF_ACT_GELU, ReGLU
 * with CLF_ACT_RELU; Shazeer 2020): x f32 [..., 2n] (any strides) split in
 * halves a = x[..., :n] and g = x[..., n:] (as torch's chunk(2, dim=-1)),
 * out[..., j] = act(a[..., j])·g[..., j], a new dense f32 [..., n]. An odd
 * last dimension is CLF_E_SHAPE.
 */
CLF_API enum clf_status clf_op_glu(struct clf_graph *g, struct clf_tensor *x, enum clf_act act,
                                   struct clf_tensor **out);

/** Softmax over the last dimension, max-subtracted (no overflow for any
 *  finite input); x f32 [..., N]. −inf entries give 0; a row of only −inf,
 *  or with NaN or +inf, gives NaN (as PyTorch). */
CLF_API enum clf_status clf_op_softmax(struct clf_graph *g, struct clf_tensor *x,
                                       struct clf_tensor **out);

/**
 * LayerNorm over the last dimension: (x − mean) / sqrt(var + eps) · gamma +
 * beta, variance of the deviations (two-pass: exact for rows with a large
 * mean). x f32 [..., N]; gamma, beta f32 [N] or NULL (1 and 0); eps > 0.
 */
CLF_API enum clf_status clf_op_layernorm(struct clf_graph *g, struct clf_tensor *x,
                                         struct clf_tensor *gamma, struct clf_tensor *beta,
                                         float eps, struct clf_tensor **out);

/**
 * LayerNorm of a residual sum, LN(x + res), as clf_op_add then
 * clf_op_layernorm give it (bitwise: each x + res is rounded once, the same
 * way at each read), in one kernel that never writes the sum: the
 * "Add & Norm" of a post-LN layer. res f32 of x's shape (any strides, not
 * NULL); the rest as clf_op_layernorm.
 */
CLF_API enum clf_status clf_op_add_layernorm(struct clf_graph *g, struct clf_tensor *x,
                                             struct clf_tensor *res, struct clf_tensor *gamma,
                                             struct clf_tensor *beta, float eps,
                                             struct clf_tensor **out);

/**
 * Embedding gather: out[..., :] = table[ids[...], :]. table f32 [V, D], ids
 * i32 of any shape (up to 3 dims). Every id is checked against V before the
 * kernel runs (the run waits for the ids and reads them back: one host
 * synchronisation per run): an id outside [0, V) makes clf_graph_run fail
 * with CLF_E_INVALID_ARG naming it and its position.
 */
CLF_API enum clf_status clf_op_embedding(struct clf_graph *g, struct clf_tensor *table,
                                         struct clf_tensor *ids, struct clf_tensor **out);

/** Sentence pooling modes: sentence-transformers' Pooling (its
 *  pooling_mode_* flags), a bit set for clf_op_sentence_pool; several are
 *  concatenated in this order. m_t = mask[b, t] (as a float). */
enum clf_pooling {
    CLF_POOL_CLS = 1,            /**< the first token's row, hidden[b, 0, :] */
    CLF_POOL_MAX = 2,            /**< max over the tokens (m_t != 0), padding
                                      counting -1e9 */
    CLF_POOL_MEAN = 4,           /**< Σ_t m_t·hidden[b,t,:] / max(Σ_t m_t, 1e-9) */
    CLF_POOL_MEAN_SQRT_LEN = 8,  /**< Σ_t m_t·hidden[b,t,:] / sqrt(max(Σ_t m_t, 1e-9)) */
    CLF_POOL_WEIGHTED_MEAN = 16, /**< the mean with weights m_t·(t+1) (positions) */
    CLF_POOL_LAST_TOKEN = 32,    /**< m_l·hidden[b, l, :], l the last token before the
                                      first m_t = 0 (seq - 1 when none; 0 at least) */
    CLF_POOL_ALL = 63            /**< every bit above */
};

/** The columns clf_op_sentence_pool's modes give over d-wide hidden states
 *  before any truncation (k modes: k·d), or 0 for modes that are not a
 *  nonempty set of enum clf_pooling's bits. */
CLF_API int64_t clf_pooling_width(unsigned modes, int64_t d);

/**
 * Sentence embeddings as sentence-transformers computes them: Pooling with
 * the modes (a nonzero set of enum clf_pooling bits; k of them give a
 * vector of k·d columns, their order the enum's), the first dims columns
 * kept (0 keeps them all; at most k·d: Matryoshka truncation), then with
 * normalize L2 normalisation over the kept columns: out[b] = p[b] /
 * max(‖p[b]‖₂, 1e-12). hidden f32 [batch, seq, d] (any strides), mask i32
 * [batch, seq] (1 = token, 0 = padding; other values weigh the token in
 * the means); *out receives f32 [batch, dims or k·d] (graph-owned). Sums
 * in f32 in token order. Bad modes or dims are CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_op_sentence_pool(struct clf_graph *g, struct clf_tensor *hidden,
                                             struct clf_tensor *mask, unsigned modes,
                                             int64_t dims, bool normalize,
                                             struct clf_tensor **out);

/**
 * Sentence embeddings as sentence-transformers computes them (Pooling
 * mean, then Normalize; clf_op_sentence_pool with CLF_POOL_MEAN, every
 * column and normalize): p[b] = Σ_t mask[b,t]·hidden[b,t,:] /
 * max(Σ_t mask[b,t], 1e-9), out[b] = p[b] / max(‖p[b]‖₂, 1e-12).
 * hidden f32 [batch, seq, d] (any strides), mask i32 [batch, seq] (1 =
 * token, 0 = padding; other values weigh the token); *out receives f32
 * [batch, d] (graph-owned). A text with no token gets zeros. Sums in f32.
 */
CLF_API enum clf_status clf_op_mean_pool_normalize(struct clf_graph *g, struct clf_tensor *hidden,
                                                   struct clf_tensor *mask,
                                                   struct clf_tensor **out);

/** @} */

/** @defgroup posenc Positional encodings
 * The sinusoidal table of the Transformer (Vaswani et al. 2017), precomputed
 * once per context; learned tables; a low-rank factorised table (truncated SVD).
 * @{ */

/**
 * The sinusoidal table PE[pos, 2i] = sin(pos / 10000^(2i/d)),
 * PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), [max_len, d_model] f32, computed
 * in double on the host and rounded once, once per context per
 * (max_len, d_model), and kept by the context (it lives until
 * clf_ctx_destroy; clf_tensor_destroy ignores it). An odd d_model ends with
 * a sine column.
 */
CLF_API enum clf_status clf_posenc_sinusoidal(struct clf_ctx *ctx, int64_t max_len,
                                              int64_t d_model, struct clf_tensor **table);

/**
 * out[..., s, :] = x[..., s, :] + table[s, :]: adds a positional table (the
 * sinusoidal one or a learned one from weights) to x [..., seq, d], seq ≤
 * the table's rows; a 1-D x [d] is position 0.
 */
CLF_API enum clf_status clf_op_posenc_add(struct clf_graph *g, struct clf_tensor *x,
                                          struct clf_tensor *table, struct clf_tensor **out);

/**
 * Low-rank factorisation of a positional table, P ≈ U·V with U [max_len, r]
 * and V [r, d], by truncated SVD on the host (LAPACK): U = U_r·Σ_r, V = V_rᵀ.
 * Creates U and V (the caller destroys them). rel_error (may be NULL)
 * receives ‖P − U·V‖_F / ‖P‖_F from the discarded singular values.
 */
CLF_API enum clf_status clf_posenc_factorize(struct clf_ctx *ctx, struct clf_tensor *table,
                                             int64_t rank, struct clf_tensor **u,
                                             struct clf_tensor **v, double *rel_error);

/** out[..., s, :] = x[..., s, :] + U[s, :]·V: the low-rank table applied
 *  without forming it. */
CLF_API enum clf_status clf_op_posenc_add_lowrank(struct clf_graph *g, struct clf_tensor *x,
                                                  struct clf_tensor *u, struct clf_tensor *v,
                                                  struct clf_tensor **out);

/**
 * The rotary table of RoPE (Su et al. 2021) in the rotate-half layout of
 * Hugging Face's models (GPT-NeoX, LLaMA, ModernBERT): [max_len, dim] f32,
 * column i < dim/2 holding cos(pos·θ^(−2i/dim)) and column dim/2 + i
 * sin(pos·θ^(−2i/dim)), θ = theta. Computed in double on the host and
 * rounded once, once per context per (max_len, dim, theta), and kept by
 * the context (it lives until clf_ctx_destroy; clf_tensor_destroy ignores
 * it). dim even and >= 2, max_len >= 1 (CLF_E_SHAPE otherwise); theta
 * finite and > 0 (CLF_E_INVALID_ARG).
 */
CLF_API enum clf_status clf_rope_table(struct clf_ctx *ctx, int64_t max_len, int64_t dim,
                                       double theta, struct clf_tensor **table);

/**
 * Rotary position embedding of x [..., seq, dim] (f32, any strides, up to
 * 4 dimensions; position s is x's second-to-last index) with a table from
 * clf_rope_table (rows >= seq, columns dim): for i < h = dim/2,
 * out[..., s, i] = x[..., s, i]·cos − x[..., s, h + i]·sin and
 * out[..., s, h + i] = x[..., s, h + i]·cos + x[..., s, i]·sin, cos and
 * sin the table's row s. *out: a new dense f32 tensor of x's shape. Each
 * output is a product and an fma: within 2u·(|x_a·cos| + |x_b·sin|) of the
 * value with the table's entries (u = 2^-24).
 */
CLF_API enum clf_status clf_op_rope(struct clf_graph *g, struct clf_tensor *x,
                                    struct clf_tensor *table, struct clf_tensor **out);

/** @} */

/** @defgroup attention Attention
 * Exact attention (a fused online-softmax kernel, FlashAttention's recurrence, or
 * a GEMM path); sparse variants (threshold, top-k, sliding window with global
 * tokens as in Longformer); low-rank variants (Linformer, Nyströmformer, SVD).
 * @{ */

/** Which attention implementation runs. */
enum clf_attention_impl {
    CLF_ATTN_AUTO = 0,  /**< chosen by device and size (measured once, remembered) */
    CLF_ATTN_FUSED = 1, /**< online-softmax kernel (FlashAttention recurrence), O(n·d)
                             memory: never an n×n buffer */
    CLF_ATTN_GEMM = 2   /**< batched Q·Kᵀ, masked softmax, ·V (n×n scores) */
};

/** Name of an implementation ("auto", "fused", "gemm"). */
CLF_API const char *clf_attention_impl_str(enum clf_attention_impl impl);

/** Which keys each query keeps: exact attention, a sparse pattern
 *  (threshold, top-k, a sliding window) or a low-rank approximation
 *  (Linformer, Nyströmformer, SVD). */
enum clf_attention_sparsity {
    CLF_ATTN_EXACT = 0,     /**< every (unmasked) key */
    CLF_ATTN_THRESHOLD = 1, /**< softmax weights below τ become zero */
    CLF_ATTN_TOPK = 2,      /**< the k largest scores per query, softmax over them */
    CLF_ATTN_WINDOW = 3,    /**< a band of keys around the query, plus global tokens */
    CLF_ATTN_LINFORMER = 4, /**< keys and values projected to `rank` rows along the
                                 sequence (K' = E·K, V' = F·V), then exact attention;
                                 no causal or key-padding mask (CLF_E_UNSUPPORTED) */
    CLF_ATTN_NYSTROM = 5,   /**< Nyströmformer: `rank` landmarks (segment means of Q and
                                 K), softmax(QK̃ᵀ)·A⁺·softmax(Q̃Kᵀ)·V with A⁺ by `iters`
                                 Newton–Schulz-type iterations; no causal or padding */
    CLF_ATTN_SVD = 6        /**< low-rank score form, a property of the weights: the
                                 encoder factorises each head's bilinear form
                                 [W_Q,h b_Q,h]ᵀ[W_K,h b_K,h] to `rank` by truncated
                                 SVD (LAPACK) or randomised SVD (`randomized`), so
                                 that Q and K have `rank` columns per head; exact
                                 when rank >= head_dim. clf_op_attention, which
                                 sees Q and K rather than weights, refuses it
                                 (CLF_E_UNSUPPORTED) */
};

/** How Linformer's projections E, F [rank, seq_k] are made when the op is
 *  not given them (clf_attention_params.proj_e / proj_f). */
enum clf_attention_projection {
    CLF_PROJ_MEAN = 0,    /**< E = F = segment means: row i averages the keys of segment
                               i (seq_k split into rank nearly equal segments, the first
                               seq_k mod rank one key longer) */
    CLF_PROJ_GAUSSIAN = 1 /**< entries N(0, 1/rank) from `seed` (E and F independent) */
};

/**
 * The sparse variant of an attention: one plain struct shared by the op
 * (clf_attention_params.variant), the encoder (clf_encoder_config) and the
 * command line's --attn (clf_attention_variant_parse). Fields not used by
 * the chosen sparsity are ignored.
 */
struct clf_attention_variant {
    enum clf_attention_sparsity sparsity; /**< Default CLF_ATTN_EXACT */
    /** THRESHOLD: τ in [0, 1); weights p_ij = softmax_j(s_ij) below τ are
     *  dropped. τ = 0 is exact attention. Default 0. */
    float threshold;
    /** THRESHOLD: divide by the sum of the kept weights (default false: keep
     *  the exact weights, which stays closer to exact attention). */
    bool renormalize;
    /** TOPK: k >= 1; each query keeps its k largest scores, ties broken
     *  towards the lower key index; k >= seq_k is exact. Default 0 (unset). */
    int64_t topk;
    /** WINDOW: query i attends keys [i − window_left, i + window_right]
     *  (>= 0). Default 0. */
    int64_t window_left;
    /** WINDOW: see window_left (>= 0; the op's causal flag caps it at 0).
     *  Default 0. */
    int64_t window_right;
    /** WINDOW: the first global_tokens keys are attended by every query and
     *  the first global_tokens queries attend every key (Longformer).
     *  Default 0. */
    int64_t global_tokens;
    /** LINFORMER: the projected length r >= 1 (with CLF_PROJ_MEAN, r is
     *  capped at seq_k, where E is the identity: exact attention). NYSTROM:
     *  the landmarks. SVD: the rank of each head's score form (capped at
     *  head_dim, where the form is exact). Default 0 (unset). */
    int64_t rank;
    /** LINFORMER: CLF_PROJ_MEAN (default) or CLF_PROJ_GAUSSIAN. */
    enum clf_attention_projection projection;
    /** LINFORMER with CLF_PROJ_GAUSSIAN, SVD with `randomized`: the seed.
     *  Default 0. */
    uint64_t seed;
    /** NYSTROM: iterations of the Moore–Penrose pseudo-inverse
     *  Z ← ¼·Z(13I − AZ(15I − AZ(7I − AZ))) from Z₀ = Aᵀ/(‖A‖₁‖A‖∞). The
     *  paper's 6 is not converged (~1e-2 off on exact cases); 20 reach
     *  ~1e-7 in fp32. Default 0: 6.
     *  SVD with `randomized`: the power iterations q (>= 0). */
    int iters;
    /** SVD: false (default) for LAPACK's truncated SVD, true for the
     *  randomised SVD (Halko et al. 2011) with `oversample` extra columns,
     *  `iters` power iterations and the Gaussian test matrix from `seed`.
     *  The parser's defaults for svd:R,rand are p = 10, q = 1. */
    bool randomized;
    /** SVD with `randomized`: the oversampling p (>= 0). Default 0. */
    int64_t oversample;
};

/**
 * Parses the --attn grammar into v (starting from exact attention):
 *   exact
 *   threshold:TAU[,renorm]          e.g. threshold:1e-3
 *   topk:K                          e.g. topk:32
 *   nystrom:M[,iters:N]             M landmarks, N pseudo-inverse iterations
 *   svd:R[,rand[,p:P][,q:Q][,seed:S]]
 *                                   each head's score form at rank R (LAPACK;
 *                                   rand: randomised SVD, p 10 and q 1 unless
 *                                   given); for the encoder, not the op
 *   linformer:R[,mean|,gauss][,seed:S]
 *                                   keys and values projected to R rows
 *                                   (segment means by default)
 *   window:W[,left:L][,right:R][,global:G]
 *                                   a band of W+1 keys centred on the query
 *                                   (Longformer's window size: left = W/2,
 *                                   right = W − W/2); left/right override a
 *                                   side; e.g. window:128,global:2
 * Values are checked as clf_op_attention checks them. On failure msg (may
 * be NULL) receives a one-line explanation.
 * @return CLF_OK, or CLF_E_INVALID_ARG
 */
CLF_API enum clf_status clf_attention_variant_parse(const char *spec,
                                                    struct clf_attention_variant *v, char *msg,
                                                    size_t msg_size);

/** Writes the --attn form of v into buf (e.g. "window:128,global:2"). */
CLF_API void clf_attention_variant_str(const struct clf_attention_variant *v, char *buf,
                                       size_t size);

/** Options of clf_op_attention; get one from clf_attention_params_default(). */
struct clf_attention_params {
    /** The struct\'s size: set by clf_attention_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    /** Score scale. Default 0: 1/sqrt(head_dim). */
    float scale;
    /** Query i attends keys j <= i only (top-left aligned, as PyTorch's
     *  is_causal). Default false. */
    bool causal;
    /** [batch, seq_k] i32: nonzero marks a padded key that no query
     *  attends. Default NULL: no padding. */
    struct clf_tensor *key_padding;
    /** Default CLF_ATTN_AUTO. */
    enum clf_attention_impl impl;
    /** Existing output [batch, heads, seq_q, head_dim] f32, any strides
     *  (e.g. a view into a [batch, seq, heads·head_dim] tensor, so that
     *  heads are merged without a copy). Default NULL: a new output. */
    struct clf_tensor *out;
    /** Sparse variant. Default: exact. Invalid values are CLF_E_INVALID_ARG
     *  before anything is recorded. */
    struct clf_attention_variant variant;
    /** THRESHOLD only: [batch, heads, seq_q] i32 receiving the number of keys
     *  each query kept (the kept fraction = count / seq_k). Default NULL. */
    struct clf_tensor *kept;
    /** LINFORMER only (CLF_E_INVALID_ARG otherwise): E and F, f32
     *  [rank, seq_k] (e.g. from a weights file), shared by every batch and
     *  head; both or neither. Default NULL: made as variant.projection says. */
    struct clf_tensor *proj_e;
    struct clf_tensor *proj_f; /**< LINFORMER only: F, as proj_e */
    /** A relative position bias (MPNet's, T5's): f32 [heads, seq_q + seq_k −
     *  1] with unit element stride (the row stride is free, so a view into a
     *  longer table serves every length); bias[h, j − i + seq_q − 1] is
     *  added to the scaled score of query i and key j of head h before the
     *  mask and the softmax. Exact attention only, on the GEMM path (AUTO
     *  takes it; CLF_ATTN_FUSED is CLF_E_UNSUPPORTED). Default NULL: none. */
    struct clf_tensor *position_bias;
    /** Ragged batches (FlashAttention's variable-length form): i32 [n + 1]
     *  cumulative offsets of n sequences packed end to end along the rows
     *  of q, k, v and out, whose batch dimension is then 1 (q and k the same
     *  rows: self-attention); sequence b is the rows from seq_offsets[b] to
     *  seq_offsets[b+1] − 1, attends only itself, and counts its positions
     *  (causal order) from its first row. Offsets out of [0, rows] are
     *  clamped, never read past. Needs max_seq_len; exact attention on a CPU
     *  device's fused kernel only (CLF_E_UNSUPPORTED otherwise), no
     *  key_padding or position_bias. Default NULL: q's batch dimension. */
    struct clf_tensor *seq_offsets;
    /** With seq_offsets: the longest sequence's rows (1 .. rows); longer
     *  sequences are cut to it. Default 0. */
    int64_t max_seq_len;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_attention_params_init(struct clf_attention_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_attention_params)

/**
 * out = softmax(Q·Kᵀ·scale + position bias + mask)·V per batch and head.
 * q [batch, heads, seq_q, dk], k [batch, heads, seq_k, dk],
 * v [batch, heads, seq_k, dv], out [batch, heads, seq_q, dv]; f32, any
 * strides (heads addressed by strides need no copy); dk and dv each 1 to
 * 256 and may differ (as PyTorch's E and Ev) for exact attention, while the
 * sparse and low-rank variants need dv = dk (CLF_E_SHAPE otherwise); the
 * default scale is 1/sqrt(dk); seq_q may differ from seq_k. A query whose
 * keys are all masked gets zeros, never NaN.
 * p NULL means clf_attention_params_default().
 */
CLF_API enum clf_status clf_op_attention(struct clf_graph *g, struct clf_tensor *q,
                                         struct clf_tensor *k, struct clf_tensor *v,
                                         const struct clf_attention_params *p,
                                         struct clf_tensor **out);

/** @} */

/** @defgroup quant Quantisation
 * Linear (symmetric, affine) and logarithmic (power-of-two) int8 codes,
 * integer GEMM, mixed-precision attention (K and V int8, weights fp16 or
 * log-coded), and the FFN's activation quantisers (binarisation,
 * multi-threshold, PWLQ, LSQ / PACT).
 * @{ */

/*
 * One rounding rule everywhere: rne(t) rounds to the nearest integer, ties
 * to even (C's nearbyint/rint in the default mode, OpenCL's rint), applied
 * to the exact quotient x/s (the device corrects its division with an fma
 * residual, so codes never depend on the driver's division accuracy).
 * Scales computed on the device are correctly rounded fp32 quotients.
 */

/** How values map to integer codes. With b bits: */
enum clf_quant_scheme {
    /** q = clamp(rne(x/s), −Q, Q), Q = 2^(b−1) − 1, s = max|x| / Q;
     *  x ≈ q·s. b in 2..8. */
    CLF_QUANT_SYMMETRIC = 0,
    /** q = clamp(rne(x/s) + z, −2^(b−1), 2^(b−1) − 1) with lo = min(min x, 0),
     *  hi = max(max x, 0), s = (hi − lo) / (2^b − 1), z = −2^(b−1) − rne(lo/s)
     *  (0 is exact); x ≈ (q − z)·s. b in 1..8. */
    CLF_QUANT_AFFINE = 1,
    /** Powers of two: s = 2^E (E = lg(max|x|)); q = sign(x)·(e − E + L) for
     *  e = lg(|x|) >= E − L + 1, else 0, L = 2^(b−1) − 1 levels;
     *  x ≈ sign(q)·s·2^(|q| − L). lg(y) is log2 rounded in the log domain:
     *  with y = m·2^k, m in [0.5, 1) (frexp), lg(y) = k when m >= 0x1.6a09e6p-1f
     *  (√½ rounded to fp32), else k − 1. b in 2..8. */
    CLF_QUANT_LOG = 2
};

/** Which elements share a scale. A tensor of 1 to 4 dims is seen as
 *  [rows, cols]: cols = its last dimension, rows = the product of the others. */
enum clf_quant_axis {
    CLF_QUANT_TENSOR = 0, /**< one scale */
    CLF_QUANT_ROW = 1,    /**< one per row (per token for activations, K and V) */
    CLF_QUANT_COLUMN = 2  /**< one per column (per channel) */
};

/** Options of clf_op_quantize / clf_op_dequantize; get one from
 *  clf_quant_params_default(). */
struct clf_quant_params {
    /** The struct\'s size: set by clf_quant_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    enum clf_quant_scheme scheme; /**< Default CLF_QUANT_SYMMETRIC */
    enum clf_quant_axis axis;     /**< Default CLF_QUANT_ROW */
    int bits;                     /**< Default 8; ranges per scheme above */
    /** Given scales instead of computed ones (host values, copied when the
     *  op is recorded): 1, rows or cols of them by `axis`, each > 0 and
     *  finite (CLF_E_INVALID_ARG otherwise; LOG: powers of two). Default
     *  NULL: computed on the device by max-abs / min-max reductions. */
    const float *scales;
    /** AFFINE with given scales: the zero points (same count). */
    const int32_t *zeros;
    size_t n_scales; /**< count of scales (and zeros) */
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_quant_params_init(struct clf_quant_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_quant_params)

/**
 * Quantises x (f32, 1 to 4 dims, any strides) to dense i8 codes q of the
 * same shape, with scale f32 [groups] (groups: 1, rows or cols) and, for
 * AFFINE, zero i32 [groups] (else *zero is set to NULL; zero may be NULL
 * then). Non-finite inputs are skipped by the reductions; NaN quantises as 0
 * does (code 0; AFFINE: code z), ±Inf saturates (to the extreme code). A
 * group whose values are all 0 (or not finite) gets s = 0, z = 0 and codes 0
 * (dequantised: 0). Computed scales that would overflow saturate: LOG uses
 * E <= 127, AFFINE with b = 1 at most FLT_MAX (hi − lo is rounded to fp32
 * once; where that overflows, the scale is ((hi − lo)/2) / ((2^b − 1)/2)).
 * Scales are exact for normal quotients; subnormal inputs and scales follow
 * the device's denormal support. Given scales (p->scales) are checked and
 * copied when the op is recorded: count = groups (CLF_E_SHAPE), each > 0 and
 * finite, LOG: powers of two, AFFINE: zeros required, each in
 * [−2^(b−1), 2^(b−1) − 1]; zeros without scales, or for another scheme, are
 * refused (CLF_E_INVALID_ARG); q is then the only node recorded.
 * p NULL means clf_quant_params_default(). All outputs are graph-owned.
 * Errors: CLF_E_INVALID_ARG (bits outside the scheme's range, bad scales or
 * zeros, unknown scheme or axis, NULL q or scale, NULL zero for AFFINE),
 * CLF_E_SHAPE (dtype, dims, scale count); nothing is recorded then.
 */
CLF_API enum clf_status clf_op_quantize(struct clf_graph *g, struct clf_tensor *x,
                                        const struct clf_quant_params *p, struct clf_tensor **q,
                                        struct clf_tensor **scale, struct clf_tensor **zero);

/** y (f32, q's shape, dense) from i8 codes q (any strides), scale f32 and,
 *  for AFFINE, zero i32 (NULL otherwise: CLF_E_INVALID_ARG if given), each of
 *  `groups` elements in any shape and strides (CLF_E_SHAPE otherwise), as
 *  p->scheme / axis / bits say (p->scales is ignored; p NULL: defaults).
 *  One fp32 rounding: SYMMETRIC q·s, AFFINE (q − z)·s, LOG
 *  sign(q)·s·2^(|q| − L) (0 for q = 0). */
CLF_API enum clf_status clf_op_dequantize(struct clf_graph *g, struct clf_tensor *q,
                                          struct clf_tensor *scale, struct clf_tensor *zero,
                                          const struct clf_quant_params *p,
                                          struct clf_tensor **y);

/** Options of clf_op_gemm_q8; get one from clf_gemm_q8_params_default(). */
struct clf_gemm_q8_params {
    /** The struct\'s size: set by clf_gemm_q8_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    struct clf_tensor *bias; /**< [N] f32 added after scaling. Default NULL */
    enum clf_act act;        /**< applied last. Default CLF_ACT_NONE */
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_gemm_q8_params_init(struct clf_gemm_q8_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_gemm_q8_params)

/**
 * Integer GEMM for quantised linear layers:
 *   C[m, n] = act(a_scale[m] · b_scale[n] · Σ_k A[m, k]·B[n, k] + bias[n])
 * A i8 [M, K] (activations, per-row symmetric scales a_scale f32 [M]),
 * B i8 [N, K] (nn.Linear weights, per-output-channel scales b_scale f32
 * [N]), rows contiguous (any row stride). The sum is exact in i32 (K <=
 * 2^31 / 127² = 133,144, else CLF_E_SHAPE; codes −128 are fine while
 * K·128² < 2^31, K <= 131,071); the scaling is fp32, in the order
 * (a_scale·b_scale)·(float)Σ + bias, then act. Errors: CLF_E_SHAPE (dtypes,
 * dims, K, scale or bias lengths), CLF_E_INVALID_ARG (act). Uses
 * cl_khr_integer_dot_product when the device has it, plain integer code
 * otherwise. C f32 [M, N], graph-owned.
 * p NULL means clf_gemm_q8_params_default().
 */
CLF_API enum clf_status clf_op_gemm_q8(struct clf_graph *g, struct clf_tensor *a,
                                       struct clf_tensor *a_scale, struct clf_tensor *b,
                                       struct clf_tensor *b_scale,
                                       const struct clf_gemm_q8_params *p, struct clf_tensor **c);

/** Storage of the attention weights P in clf_op_attention_quant. */
enum clf_p_format {
    CLF_P_F32 = 0,  /**< fp32 (no rounding) */
    CLF_P_F16 = 1,  /**< rounded to fp16 (vstore_half, round to nearest even) */
    CLF_P_LOG = 2   /**< powers of two, CLF_QUANT_LOG with full scale 1 and
                         `p_bits` bits: p ≈ 2^−j for j < L, smaller p → 0 */
};

/** Options of clf_op_attention_quant; get one from
 *  clf_attention_quant_params_default(). */
struct clf_attention_quant_params {
    /** The struct\'s size: set by clf_attention_quant_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    float scale;                     /**< Default 0: 1/sqrt(head_dim) */
    bool causal;                     /**< as clf_attention_params. Default false */
    struct clf_tensor *key_padding;  /**< as clf_attention_params. Default NULL */
    /** K and V i8: CLF_QUANT_ROW (per token: scales [batch, heads, seq_k])
     *  or CLF_QUANT_COLUMN (per channel: scales [batch, heads, head_dim]).
     *  Default CLF_QUANT_ROW. Ignored for f32 K and V. */
    enum clf_quant_axis kv_axis;
    enum clf_p_format p_format;      /**< Default CLF_P_F32 */
    int p_bits;                      /**< CLF_P_LOG: 2..8. Default 4 */
    /** Quantise the queries too, so that q.k is an integer dot product
     *  (i8 K and V only: with f32 K and V CLF_E_INVALID_ARG). Per query i,
     *  qc = c·q (per token) or c·q·ks (per channel: K's channel scale folded
     *  in), c = fl(scale·log2 e); s_i = max|qc| / 127 (correctly rounded;
     *  0 gives codes 0 and scores 0); codes rne(qc/s_i) of the exact
     *  quotient clamped to ±127; score t_j = ((float)Σ code·kcode)·s_i,
     *  then ·ks[j] per token. The sum is exact (|Σ| <= 256·127² < 2^24).
     *  Uses cl_khr_integer_dot_product where the device has it (same
     *  results without). q must be finite. Default false */
    bool q_int8;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_attention_quant_params_init(struct clf_attention_quant_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_attention_quant_params)

/**
 * Mixed-precision attention: q f32 [batch, heads, seq_q, head_dim] (any
 * strides); k and v either both f32 (any strides; k_scale, v_scale NULL) or
 * both symmetric i8 codes [batch, heads, seq_k, head_dim] (any strides)
 * with f32 scales, dequantised as code·scale: per token [batch, heads,
 * seq_k] (p->kv_axis CLF_QUANT_ROW) or per channel [batch, heads, head_dim]
 * (CLF_QUANT_COLUMN); a scale tensor may also be 1-D [batch·heads·n] (as
 * clf_op_quantize makes per row of a dense 4-D tensor) or, per channel,
 * 1-D [head_dim] shared by every batch entry and head. v's head_dim may
 * differ from q's and k's. fp32 scores s_j = scale·q·k_j and fp32
 * accumulation. Two passes over the keys: the row maximum m first, then
 * p_j = exp(s_j − m) stored as p->p_format says, out = Σ p_j v_j / Σ p_j
 * (both sums over the stored p_j). causal and key_padding as
 * clf_attention_params; a query with every key masked gets zeros.
 * head_dim up to 256. Output f32 [batch, heads, seq_q, v's head_dim],
 * dense, graph-owned.
 * Errors: CLF_E_SHAPE (dtypes: q not f32, k and v not both f32 or both i8;
 * dims, mismatched sizes, scale shapes, head_dim > 256, key_padding not
 * i32 [batch, seq_k]); CLF_E_INVALID_ARG (NULL tensors, scales missing for
 * i8 or given for f32, kv_axis not ROW or COLUMN for i8, unknown p_format,
 * p_bits outside 2..8 with CLF_P_LOG, non-finite scale, q_int8 with f32 K
 * and V). Nothing is recorded on error.
 * p NULL means clf_attention_quant_params_default().
 */
CLF_API enum clf_status clf_op_attention_quant(struct clf_graph *g, struct clf_tensor *q,
                                               struct clf_tensor *k, struct clf_tensor *k_scale,
                                               struct clf_tensor *v, struct clf_tensor *v_scale,
                                               const struct clf_attention_quant_params *p,
                                               struct clf_tensor **out);

/** Activation quantisers for the FFN, between the activation and W2.
 *  Codes are rne of the exact quotient (as above); a zero code gives +0. */
enum clf_actq_kind {
    CLF_ACTQ_NONE = 0, /**< y = x */
    /** y = sign(x)·α (sign(0) = sign(−0) = +1), α = mean|x| over the finite
     *  values of the row (correctly rounded quotient; 0 for a row without
     *  finite values), or `alpha` when given (> 0). */
    CLF_ACTQ_BINARY = 1,
    /** Multi-threshold: y = levels[i] where thresholds[i−1] <= x <
     *  thresholds[i] (n_thresholds strictly ascending and finite,
     *  n_thresholds + 1 finite levels). */
    CLF_ACTQ_STEPS = 2,
    /** PWLQ (Fang et al. 2020): b-bit uniform on [−c, c] split by the
     *  breakpoint 0 < p < c into a centre |x| <= p and tails p < |x| <= c,
     *  each with L = 2^(b−1) − 1 steps per sign; |x| > c saturates. Steps
     *  s1 = p/L, s2 = (c − p)/L computed in double, rounded to float (both
     *  must be normal); centre y = ±min(rne(|x|/s1), L)·s1, tails
     *  y = ±fma(k, s2, p) with k = min(rne(fl(|x| − p)/s2), L) (k = L
     *  beyond c). b in 2..8. */
    CLF_ACTQ_PWL = 3,
    /** LSQ / PACT inference form: y = clip(rne(x/s), −Q_N, Q_P)·s with
     *  Q_N = 2^(b−1), Q_P = 2^(b−1) − 1 (signed, b in 2..8), or Q_N = 0,
     *  Q_P = 2^b − 1 (unsigned, b in 1..8; PACT's clip(x, 0, α) with
     *  s = α/(2^b − 1)); s a positive normal float. */
    CLF_ACTQ_LSQ = 4
};

/** Most levels of a CLF_ACTQ_STEPS quantiser (one more than thresholds). */
#define CLF_ACTQ_MAX_STEPS 16

/** An activation quantiser; zero-initialised means none. */
struct clf_actq {
    enum clf_actq_kind kind; /**< Default (0) CLF_ACTQ_NONE */
    int bits;            /**< PWL: 2..8; LSQ: 1..8 unsigned, 2..8 signed */
    bool is_signed;      /**< LSQ: signed codes (default false: unsigned, PACT) */
    float alpha;         /**< BINARY: given α (0: mean|x| per row) */
    float step;          /**< LSQ: s > 0 */
    float clip;          /**< PWL: c > 0 */
    float breakpoint;    /**< PWL: p in (0, c) */
    int n_thresholds;    /**< STEPS: 1 .. CLF_ACTQ_MAX_STEPS − 1 */
    float thresholds[CLF_ACTQ_MAX_STEPS - 1]; /**< STEPS: n_thresholds of them, ascending */
    float levels[CLF_ACTQ_MAX_STEPS];         /**< STEPS: n_thresholds + 1 of them */
};

/**
 * y = quantiser(x), elementwise (BINARY with α = 0: per row of the last
 * dimension), x f32 1 to 4 dims, any strides, y dense and graph-owned.
 * Bad parameters (kind, bits, non-positive or non-finite α, s, c, p,
 * subnormal steps, unordered or non-finite thresholds, non-finite levels,
 * a threshold count outside 1..15) are CLF_E_INVALID_ARG and record
 * nothing. NaN stays NaN; ±Inf saturates where the quantiser clips
 * (BINARY: ±α, PWL, LSQ: the extreme code, STEPS: the first / last level),
 * else stays (NONE).
 */
CLF_API enum clf_status clf_op_actq(struct clf_graph *g, struct clf_tensor *x,
                                    const struct clf_actq *q, struct clf_tensor **y);

/**
 * Calibrates q's free parameters from a host sample of activations
 * (n values; non-finite values skipped), keeping kind and bits (and
 * is_signed): LSQ: s = 2·mean|x| / √Q_P (LSQ's initialisation, Esser et
 * al. 2020) when signed, and for unsigned (PACT) α = the 99.9th percentile
 * of x⁺ = max(x, 0) (nearest rank: the ⌈0.999·m⌉-th smallest of m; the
 * maximum when that is 0), s = α / (2^b − 1); PWL: c = max|x| and p the
 * candidate fl(c·k/65), k = 1..64, with the least squared error over the
 * sample (the first on ties); BINARY: α = mean|x|; NONE, STEPS: nothing
 * (given). Computed in double, rounded once to float. CLF_E_INVALID_ARG
 * (q unchanged) for an empty sample, one without finite values, bad bits
 * or kind, or one that gives no usable step (LSQ: all values 0, or PACT:
 * none positive; PWL: max|x| = 0).
 */
CLF_API enum clf_status clf_actq_calibrate(struct clf_ctx *ctx, const float *x, size_t n,
                                           struct clf_actq *q);

/**
 * Parses the --ffn-act grammar into q: none, binary[:ALPHA],
 * lsq:B[,signed][,step:S], pact:B[,alpha:A] (LSQ unsigned, s = A/(2^B − 1)
 * in double), pwl:B[,clip:C,bp:P] (both or neither),
 * steps:T1/T2/...:L0/L1/... (thresholds, then levels). Options in any
 * order, each at most once; given values finite and > 0. Free parameters
 * left 0 are calibrated (clf_actq_calibrate) by the encoder; all others
 * are checked as clf_op_actq does. On failure q is unchanged and msg (may
 * be NULL) receives why. CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_actq_parse(const char *spec, struct clf_actq *q, char *msg,
                                       size_t msg_size);

/** Writes the --ffn-act form of q into buf (truncated to size, always
 *  terminated): the grammar's canonical form, every value in the shortest
 *  %g form that reads back exactly, so parse(str(q)) == q; PACT is written
 *  as lsq:B,step:S. */
CLF_API void clf_actq_str(const struct clf_actq *q, char *buf, size_t size);

/** @} */
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_OPS_H */
