/*
 * clformer — a portable OpenCL compute backend for transformer inference.
 *
 * One public header. Conventions:
 *  - every object is opaque and created/destroyed in pairs;
 *  - every fallible call returns enum clf_status (CLF_OK == 0); the detailed
 *    message of the last failure is kept on the context (clf_ctx_last_error);
 *  - the library never exits or aborts on user or device errors;
 *  - a context and everything made from it (tensors, graphs) must be used by
 *    one thread at a time; distinct contexts may be used from distinct threads.
 */
#ifndef CLFORMER_H
#define CLFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CLF_BUILDING_LIBRARY) && defined(__GNUC__)
#define CLF_API __attribute__((visibility("default")))
#else
#define CLF_API
#endif

#define CLF_VERSION_MAJOR 0
#define CLF_VERSION_MINOR 1
#define CLF_VERSION_PATCH 0

/** Maximum number of tensor dimensions. */
#define CLF_MAX_DIMS 4

/* ------------------------------------------------------------------------ */
/* Status                                                                   */
/* ------------------------------------------------------------------------ */

/** Result of every fallible call. */
enum clf_status {
    CLF_OK = 0,
    CLF_E_INVALID_ARG,   /**< NULL pointer or out-of-range value */
    CLF_E_SHAPE,         /**< shapes, strides or dtypes do not fit */
    CLF_E_NO_DEVICE,     /**< no OpenCL platform or device present */
    CLF_E_DEVICE_SPEC,   /**< device spec unknown or ambiguous */
    CLF_E_OUT_OF_MEMORY, /**< host or device allocation failed */
    CLF_E_BUILD,         /**< a kernel program failed to build */
    CLF_E_OPENCL,        /**< any other OpenCL call failed */
    CLF_E_IO,            /**< reading or writing a file failed */
    CLF_E_FORMAT,        /**< a file or string is malformed */
    CLF_E_UNSUPPORTED,   /**< the device or build lacks a needed feature */
    CLF_E_STATE,         /**< the object is not in a state to do this */
    CLF_E_NUMERIC,       /**< a numerical method failed (e.g. an SVD did not converge) */
    CLF_E_COMM           /**< an exchange with other ranks failed (or another rank did) */
};

/** Short English description of a status; never NULL. */
CLF_API const char *clf_status_str(enum clf_status status);

/** Library version as "MAJOR.MINOR.PATCH". */
CLF_API const char *clf_version(void);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

/** OpenCL device type, as a bit set compatible with a spec's type filter. */
enum clf_device_type {
    CLF_DEVICE_CPU = 1,
    CLF_DEVICE_GPU = 2,
    CLF_DEVICE_ACCELERATOR = 4,
    CLF_DEVICE_OTHER = 8
};

/** Capabilities of one OpenCL device, probed once. Plain data. */
struct clf_device_info {
    int platform_index;          /**< index of the platform, in enumeration order */
    int device_index;            /**< index of the device within its platform */
    char platform_name[128];
    char platform_vendor[128];
    char platform_version[128];  /**< e.g. "OpenCL 3.0 PoCL 3.1" */
    char name[256];
    char vendor[128];
    char driver_version[128];
    char version[128];           /**< device OpenCL version string */
    char c_version[128];         /**< device OpenCL C version string */
    int c_major, c_minor;        /**< parsed OpenCL C version, e.g. 1, 2 */
    enum clf_device_type type;
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    bool local_mem_dedicated;    /**< false when local memory is emulated in global */
    uint64_t constant_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    unsigned mem_base_align_bits; /**< CL_DEVICE_MEM_BASE_ADDR_ALIGN */
    /** Preferred vector widths: char, short, int, long, float, double, half. */
    unsigned vec_char, vec_short, vec_int, vec_long, vec_float, vec_double, vec_half;
    bool fp16;                   /**< cl_khr_fp16 arithmetic */
    bool fp64;                   /**< double precision */
    bool subgroups;              /**< cl_khr_subgroups or cl_intel_subgroups */
    bool int_dot_product;        /**< cl_khr_integer_dot_product */
    bool command_buffer;         /**< cl_khr_command_buffer */
    bool out_of_order_queue;     /**< host queue supports out-of-order execution */
    bool profiling;              /**< host queue supports profiling */
};

/** Name of a device type ("cpu", "gpu", "accelerator", "other"). */
CLF_API const char *clf_device_type_str(enum clf_device_type type);

/**
 * Enumerates every device of every OpenCL platform and probes it.
 * @param out    receives a malloc'd array (free with clf_devices_free)
 * @param count  receives its length; 0 with CLF_E_NO_DEVICE when there is none
 */
CLF_API enum clf_status clf_devices_query(struct clf_device_info **out, size_t *count);

/** Frees a list returned by clf_devices_query (NULL is fine). */
CLF_API void clf_devices_free(struct clf_device_info *list);

/**
 * Picks one device from a list by a spec. Grammar (case-insensitive,
 * surrounding blanks ignored):
 *  - "auto": the first GPU, else the first accelerator, else the first CPU,
 *    else the first device;
 *  - "gpu", "cpu", "accelerator" (also "acc"): the first device of that
 *    type; "gpu:N" the N-th (from 0) device of that type;
 *  - "P:D": device D of platform P (both decimal indices);
 *  - any other text: a substring of the platform or device name; it must
 *    match exactly one device, or be followed by ":N" to take the N-th match.
 *
 * @param msg  on failure receives a one-line explanation that lists what
 *             exists (may be NULL); always NUL-terminated when msg_size > 0
 * @return CLF_OK, CLF_E_INVALID_ARG (NULL or empty spec), CLF_E_DEVICE_SPEC
 *         (unknown, ambiguous or out of range), CLF_E_NO_DEVICE (empty list)
 */
CLF_API enum clf_status clf_device_match(const char *spec,
                                         const struct clf_device_info *list, size_t count,
                                         size_t *index, char *msg, size_t msg_size);

/**
 * Enumerates the devices and picks one by spec, as clf_ctx_create does.
 * @param spec  device spec; NULL means $CLFORMER_DEVICE, else "auto"
 * @param out   receives the chosen device's capabilities
 * @param msg   on failure, a one-line explanation (may be NULL)
 */
CLF_API enum clf_status clf_device_find(const char *spec, struct clf_device_info *out, char *msg,
                                        size_t msg_size);

/* ------------------------------------------------------------------------ */
/* Context                                                                  */
/* ------------------------------------------------------------------------ */

struct clf_ctx;

enum clf_log_level {
    CLF_LOG_DEBUG = 0,
    CLF_LOG_INFO = 1,
    CLF_LOG_WARN = 2,
    CLF_LOG_ERROR = 3,
    CLF_LOG_NONE = 4 /**< as a threshold: log nothing */
};

/** Receives log messages (one message per call, no trailing newline). */
typedef void (*clf_log_fn)(void *user, enum clf_log_level level, const char *msg);

/**
 * Reports progress of long work: `what` names the phase ("building kernels"),
 * `done` of `total` items are finished, `item` names the current one.
 */
typedef void (*clf_progress_fn)(void *user, const char *what, int done, int total,
                                const char *item);

/** Who computes a GEMM. */
enum clf_gemm_provider {
    CLF_GEMM_AUTO = 0,    /**< measured once per device and shape class, remembered */
    CLF_GEMM_CLBLAST = 1, /**< CLBlast (tuned for GPUs) */
    CLF_GEMM_NATIVE = 2   /**< clformer's kernels: packed register tiles on CPU devices,
                               local-memory tiles on GPUs */
};

/** Context configuration; get one from clf_ctx_params_default(). */
struct clf_ctx_params {
    /** Device spec (see clf_device_match). Default NULL: $CLFORMER_DEVICE,
     *  else "auto". */
    const char *device;
    /** Directory of the program binary cache. Default NULL:
     *  $CLFORMER_CACHE_DIR, else $XDG_CACHE_HOME/clformer, else
     *  $HOME/.cache/clformer. An empty string disables the disk cache. */
    const char *cache_dir;
    /** Default true. false disables the disk cache whatever cache_dir says. */
    bool disk_cache;
    /** Directory holding <family>.cl kernel sources to use instead of the
     *  ones embedded in the library. Default NULL: $CLFORMER_CL_DIR, else the
     *  embedded sources. */
    const char *cl_dir;
    /** Log handler. Default NULL: messages at or above log_level go to
     *  stderr prefixed "clformer: ". */
    clf_log_fn log_fn;
    void *log_user;             /**< passed to log_fn; default NULL */
    /** Threshold. Default CLF_LOG_WARN, or $CLFORMER_LOG (debug, info,
     *  warn, error, none) when set. */
    enum clf_log_level log_level;
    /** Progress handler for long work (kernel builds). Default NULL: none. */
    clf_progress_fn progress_fn;
    void *progress_user;        /**< passed to progress_fn; default NULL */
    /** Bytes of released device buffers kept for reuse. Default 256 MiB. */
    size_t pool_max_bytes;
    /** Default true. Enables event profiling on the context's queue. */
    bool profiling;
    /** GEMM provider for ops that leave theirs at CLF_GEMM_AUTO. Default
     *  CLF_GEMM_AUTO (measured per device and shape class, the choice kept in
     *  the cache directory), or $CLFORMER_GEMM (auto, clblast, native). */
    enum clf_gemm_provider gemm_provider;
    /** How graphs run independent nodes concurrently. 0 (default): one
     *  out-of-order queue when the device has them, else one in-order
     *  queue. N >= 1: N in-order queues, nodes spread over them with event
     *  wait lists (1: everything in order). Also $CLFORMER_QUEUES. */
    int queues;
    /** Default true: where the device has cl_khr_command_buffer, a graph
     *  is recorded into a command buffer after its first run and replayed;
     *  false (or $CLFORMER_COMMAND_BUFFER=0) always enqueues directly. */
    bool command_buffers;
};

/** Returns the documented defaults. */
CLF_API struct clf_ctx_params clf_ctx_params_default(void);

/**
 * Creates a context on the device chosen by params->device.
 * @param params  NULL means clf_ctx_params_default()
 * @param out     receives the context; NULL on failure. Failures before the
 *                context exists are reported through params->log_fn (or
 *                stderr by default) at CLF_LOG_ERROR.
 */
CLF_API enum clf_status clf_ctx_create(const struct clf_ctx_params *params,
                                       struct clf_ctx **out);

/** Destroys a context. Its tensors and graphs must be destroyed first. */
CLF_API void clf_ctx_destroy(struct clf_ctx *ctx);

/** Message of the last failure on this context ("" when none). */
CLF_API const char *clf_ctx_last_error(const struct clf_ctx *ctx);

/** Copies the probed capabilities of the context's device. */
CLF_API enum clf_status clf_ctx_device_info(const struct clf_ctx *ctx,
                                            struct clf_device_info *out);

/** Directory of the disk cache in use, or NULL when disabled. */
CLF_API const char *clf_ctx_cache_dir(const struct clf_ctx *ctx);

/**
 * Builds (or loads from cache) every kernel program the library has, with
 * the options it will use on this device, reporting progress. Optional:
 * programs are otherwise built on first use.
 */
CLF_API enum clf_status clf_ctx_warmup(struct clf_ctx *ctx);

/** Counters of a context, for diagnostics and tests. */
struct clf_ctx_stats {
    unsigned programs_built;      /**< built from source */
    unsigned programs_loaded;     /**< loaded from the disk cache */
    unsigned programs_reused;     /**< served from the context's memory */
    unsigned cache_writes;        /**< binaries written to the disk cache */
    unsigned cache_rejected;      /**< corrupt, truncated or stale entries */
    double build_ms;              /**< wall time spent building/loading */
    uint64_t pool_bytes_live;     /**< device bytes held by live buffers */
    uint64_t pool_bytes_free;     /**< device bytes kept for reuse */
    uint64_t pool_bytes_peak;     /**< most live bytes at once (since creation or clf_ctx_trim) */
    unsigned pool_hits;           /**< allocations served by the pool */
    unsigned pool_misses;         /**< allocations that created a buffer */
    unsigned tuned;               /**< shape classes measured by the auto-tuners (GEMM, attention) */
    unsigned tune_loaded;         /**< tuning records read from the cache directory */
};

/** Copies the context's counters. */
CLF_API enum clf_status clf_ctx_stats(const struct clf_ctx *ctx, struct clf_ctx_stats *out);

/** Releases every pooled (free) device buffer, and restarts the peak of
 *  live bytes (clf_ctx_stats) from the bytes live now. */
CLF_API void clf_ctx_trim(struct clf_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */
/* ------------------------------------------------------------------------ */

/** Element types. f16 is storage: IEEE binary16 bits in a uint16_t. */
enum clf_dtype {
    CLF_F32 = 0,
    CLF_F16 = 1,
    CLF_I8 = 2,
    CLF_I32 = 3
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
 * lives until the last tensor using it is destroyed.
 */
struct clf_tensor;

/**
 * Creates a dense row-major tensor with uninitialised contents.
 * @param ndim   1..CLF_MAX_DIMS
 * @param shape  ndim sizes, each >= 1
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

/* ------------------------------------------------------------------------ */
/* Graphs                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * A graph of ops. Ops are recorded first (clf_op_*), then executed by
 * clf_graph_run, which enqueues every node in dependency order with events.
 * Each op creates its output tensor; output tensors belong to the graph and
 * live until clf_graph_destroy (read them with clf_tensor_read; views of
 * them may be taken and must be destroyed before the graph).
 */
struct clf_graph;

/** Creates an empty graph on a context. */
CLF_API enum clf_status clf_graph_create(struct clf_ctx *ctx, struct clf_graph **out);
/** Destroys the graph and the tensors its ops created (NULL is fine). */
CLF_API void clf_graph_destroy(struct clf_graph *g);
/** Number of recorded nodes. */
CLF_API size_t clf_graph_node_count(const struct clf_graph *g);

/**
 * Describes node i (in recording order): the op and, once the graph has
 * run, what it chose, e.g. "gemm native:0 (tile 6x64, float16)". Writes a
 * NUL-terminated string into buf; CLF_E_INVALID_ARG when i is out of range.
 */
CLF_API enum clf_status clf_graph_node_desc(const struct clf_graph *g, size_t i, char *buf,
                                            size_t size);

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

/** When and where node i's commands ran in the latest run. */
struct clf_node_timing {
    double start_ms; /**< device start of its first command, from the run's first start */
    double end_ms;   /**< device end of its last command, same origin */
    int queue;       /**< index of the queue it ran on (0 with one queue) */
    bool replayed;   /**< the run replayed a recorded command buffer */
};

/** Fills *out for node i (needs profiling); CLF_E_STATE before any run. */
CLF_API enum clf_status clf_graph_node_timing(const struct clf_graph *g, size_t i,
                                              struct clf_node_timing *out);

/**
 * What node i computes, for throughput figures: *flops its floating-point
 * (or integer) operations, *bytes the bytes its inputs and output occupy
 * (a lower bound on its memory traffic). 0 flops for data movement.
 */
CLF_API enum clf_status clf_graph_node_cost(const struct clf_graph *g, size_t i, double *flops,
                                            double *bytes);

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


/* ------------------------------------------------------------------------ */
/* Dense ops                                                                */
/* ------------------------------------------------------------------------ */

/** Activation functions (of an op or of a GEMM epilogue). */
enum clf_act {
    CLF_ACT_NONE = 0,
    CLF_ACT_RELU = 1,      /**< max(0, x) */
    CLF_ACT_GELU = 2,      /**< 0.5·x·(1 + erf(x/√2)), the exact form */
    CLF_ACT_GELU_TANH = 3  /**< 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
};

/** Name of a provider ("auto", "clblast", "native"). */
CLF_API const char *clf_gemm_provider_str(enum clf_gemm_provider p);

/** Options of clf_op_gemm; get one from clf_gemm_params_default(). */
struct clf_gemm_params {
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
};

/** Returns the documented defaults. */
CLF_API struct clf_gemm_params clf_gemm_params_default(void);

/**
 * out = act(alpha · op(A) · op(B) + beta · C + bias), row-major f32.
 * op(A) is [M, K] (A is [K, M] with trans_a), op(B) is [K, N] (B is [N, K]
 * with trans_b). Batched: A [batch, ·, ·] and B [batch, ·, ·] or a 2-D B
 * shared by every batch; the batch stride is each tensor's dim-0 stride, so
 * heads addressed by strides need no copy. Each matrix needs one unit
 * stride (rows or columns contiguous). Output [M, N] or [batch, M, N].
 * @param p  NULL means clf_gemm_params_default()
 */
CLF_API enum clf_status clf_op_gemm(struct clf_graph *g, struct clf_tensor *a, struct clf_tensor *b,
                                    const struct clf_gemm_params *p, struct clf_tensor **out);

/** out[..., j] = x[..., j] + bias[j]; x f32 [..., N], bias f32 [N]. */
CLF_API enum clf_status clf_op_bias_add(struct clf_graph *g, struct clf_tensor *x,
                                        struct clf_tensor *bias, struct clf_tensor **out);

/** out = act(x), elementwise, x f32. */
CLF_API enum clf_status clf_op_act(struct clf_graph *g, struct clf_tensor *x, enum clf_act act,
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
 * Embedding gather: out[..., :] = table[ids[...], :]. table f32 [V, D], ids
 * i32 of any shape (up to 3 dims). Every id is checked against V before the
 * kernel runs (the run waits for the ids and reads them back: one host
 * synchronisation per run): an id outside [0, V) makes clf_graph_run fail
 * with CLF_E_INVALID_ARG naming it and its position.
 */
CLF_API enum clf_status clf_op_embedding(struct clf_graph *g, struct clf_tensor *table,
                                         struct clf_tensor *ids, struct clf_tensor **out);

/* ------------------------------------------------------------------------ */
/* Positional encodings (seed §3.3)                                         */
/* ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */
/* Attention                                                                */
/* ------------------------------------------------------------------------ */

/** Which attention implementation runs. */
enum clf_attention_impl {
    CLF_ATTN_AUTO = 0,  /**< chosen by device and size (measured once, remembered) */
    CLF_ATTN_FUSED = 1, /**< online-softmax kernel (FlashAttention recurrence), O(n·d)
                             memory: never an n×n buffer */
    CLF_ATTN_GEMM = 2   /**< batched Q·Kᵀ, masked softmax, ·V (n×n scores) */
};

/** Name of an implementation ("auto", "fused", "gemm"). */
CLF_API const char *clf_attention_impl_str(enum clf_attention_impl impl);

/** Which keys each query keeps (seed §3.1.1, §4.2). */
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
     *  (>= 0; the op's causal flag caps the right side at 0). Default 0. */
    int64_t window_left, window_right;
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
    struct clf_tensor *proj_e, *proj_f;
};

/** Returns the documented defaults. */
CLF_API struct clf_attention_params clf_attention_params_default(void);

/**
 * out = softmax(Q·Kᵀ·scale + mask)·V per batch and head.
 * q [batch, heads, seq_q, dk], k [batch, heads, seq_k, dk],
 * v [batch, heads, seq_k, dv], out [batch, heads, seq_q, dv]; f32, any
 * strides (heads addressed by strides need no copy); dk and dv each 1 to
 * 256 and may differ (as PyTorch's E and Ev) for exact attention, while the
 * sparse and low-rank variants need dv = dk (CLF_E_SHAPE otherwise); the
 * default scale is 1/sqrt(dk); seq_q may differ from seq_k. A query whose
 * keys are all masked gets zeros, never NaN.
 * @param p  NULL means clf_attention_params_default()
 */
CLF_API enum clf_status clf_op_attention(struct clf_graph *g, struct clf_tensor *q,
                                         struct clf_tensor *k, struct clf_tensor *v,
                                         const struct clf_attention_params *p,
                                         struct clf_tensor **out);

/* ------------------------------------------------------------------------ */
/* Quantisation (seed §3.1.3, §3.2.2)                                       */
/* ------------------------------------------------------------------------ */

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

/** Returns the documented defaults. */
CLF_API struct clf_quant_params clf_quant_params_default(void);

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
    struct clf_tensor *bias; /**< [N] f32 added after scaling. Default NULL */
    enum clf_act act;        /**< applied last. Default CLF_ACT_NONE */
};

/** Returns the documented defaults. */
CLF_API struct clf_gemm_q8_params clf_gemm_q8_params_default(void);

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
 * @param p  NULL means clf_gemm_q8_params_default()
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
    float scale;                     /**< Default 0: 1/sqrt(head_dim) */
    bool causal;                     /**< as clf_attention_params. Default false */
    struct clf_tensor *key_padding;  /**< as clf_attention_params. Default NULL */
    /** K and V i8: CLF_QUANT_ROW (per token: scales [batch, heads, seq_k])
     *  or CLF_QUANT_COLUMN (per channel: scales [batch, heads, head_dim]).
     *  Default CLF_QUANT_ROW. Ignored for f32 K and V. */
    enum clf_quant_axis kv_axis;
    enum clf_p_format p_format;      /**< Default CLF_P_F32 */
    int p_bits;                      /**< CLF_P_LOG: 2..8. Default 4 */
};

/** Returns the documented defaults. */
CLF_API struct clf_attention_quant_params clf_attention_quant_params_default(void);

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
 * p_bits outside 2..8 with CLF_P_LOG, non-finite scale). Nothing is
 * recorded on error.
 * @param p  NULL means clf_attention_quant_params_default()
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

#define CLF_ACTQ_MAX_STEPS 16

/** An activation quantiser; zero-initialised means none. */
struct clf_actq {
    enum clf_actq_kind kind;
    int bits;            /**< PWL: 2..8; LSQ: 1..8 unsigned, 2..8 signed */
    bool is_signed;      /**< LSQ: signed codes (default false: unsigned, PACT) */
    float alpha;         /**< BINARY: given α (0: mean|x| per row) */
    float step;          /**< LSQ: s > 0 */
    float clip;          /**< PWL: c > 0 */
    float breakpoint;    /**< PWL: p in (0, c) */
    int n_thresholds;    /**< STEPS: 1 .. CLF_ACTQ_MAX_STEPS − 1 */
    float thresholds[CLF_ACTQ_MAX_STEPS - 1];
    float levels[CLF_ACTQ_MAX_STEPS];
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

/* ------------------------------------------------------------------------ */
/* Files: .npy and safetensors                                              */
/* ------------------------------------------------------------------------ */

/**
 * Reads a float32 .npy file (format versions 1 to 3, little-endian '<f4',
 * C order, 0 to CLF_MAX_DIMS dimensions) into a malloc'd array (free());
 * shape entries past *ndim are set to 0.
 * Anything else (fortran order, another dtype, a truncated or malformed
 * file) is CLF_E_FORMAT, or CLF_E_IO when the file cannot be read, with a
 * message naming the file and the problem.
 */
CLF_API enum clf_status clf_npy_read(struct clf_ctx *ctx, const char *path, float **data,
                                     int *ndim, int64_t shape[CLF_MAX_DIMS]);

/** Writes a float32 .npy file (version 1, '<f4', C order). */
CLF_API enum clf_status clf_npy_write(struct clf_ctx *ctx, const char *path, const float *data,
                                      int ndim, const int64_t *shape);

/** An open safetensors file (header parsed and checked; data read on demand). */
struct clf_safetensors;

/**
 * Opens a safetensors file: checks the header length against the file, the
 * JSON, every tensor's dtype, shape and byte range (inside the data,
 * consistent with the shape) before anything is used. Errors as
 * clf_npy_read, naming the file and the tensor.
 */
CLF_API enum clf_status clf_safetensors_open(struct clf_ctx *ctx, const char *path,
                                             struct clf_safetensors **out);
/** Closes a file (NULL is fine). */
CLF_API void clf_safetensors_close(struct clf_safetensors *st);
/** Number of tensors in the file. */
CLF_API size_t clf_safetensors_count(const struct clf_safetensors *st);
/** Name of tensor i (in file order), or NULL when out of range. */
CLF_API const char *clf_safetensors_name(const struct clf_safetensors *st, size_t i);
/**
 * Shape of a named tensor; dtype receives its safetensors dtype ("F32",
 * "F16", "BF16", "F64", ...; may be NULL). CLF_E_FORMAT (message naming
 * it) when there is no such tensor or it has more than CLF_MAX_DIMS dims.
 */
CLF_API enum clf_status clf_safetensors_shape(const struct clf_safetensors *st, const char *name,
                                              int *ndim, int64_t shape[CLF_MAX_DIMS],
                                              const char **dtype);
/**
 * Reads a named tensor as float32 into dst (count = its element count, else
 * CLF_E_SHAPE), converting F16, BF16 and F64; other dtypes, a missing
 * tensor or one of more than CLF_MAX_DIMS dims are CLF_E_FORMAT; CLF_E_IO
 * when the file shrank since it was opened.
 */
CLF_API enum clf_status clf_safetensors_read(struct clf_safetensors *st, const char *name,
                                             float *dst, size_t count);

/** One tensor to write. */
struct clf_safetensors_entry {
    const char *name;
    const float *data; /**< dense row-major */
    int ndim;
    const int64_t *shape;
};

/** Writes float32 tensors as a safetensors file (atomically: temp + rename),
 *  with {"__metadata__": {"format": "pt"}} as Hugging Face loaders expect;
 *  names must be unique, valid UTF-8 and not "__metadata__". */
CLF_API enum clf_status clf_safetensors_write(struct clf_ctx *ctx, const char *path,
                                              const struct clf_safetensors_entry *entries,
                                              size_t count);

/* ------------------------------------------------------------------------ */
/* The encoder (the seed's ParallelTransformer)                             */
/* ------------------------------------------------------------------------ */

/** How the encoder stores its feed-forward weights W1 [d_ff, d_model] and
 *  W2 [d_model, d_ff] (seed §3.2.1). */
enum clf_ffn_format {
    CLF_FFN_DENSE = 0, /**< as given */
    CLF_FFN_SVD = 1,   /**< W ≈ U_r·(Σ_r V_rᵀ) by LAPACK's truncated SVD: two GEMMs */
    CLF_FFN_RSVD = 2,  /**< the same factors by the randomised SVD (Halko et al.) */
    CLF_FFN_TT = 3     /**< Tensor-Train matrix (TT-SVD, Oseledets 2011) applied core
                            by core, never forming W */
};

/** The FFN weights' factorisation; zero-initialised means dense. */
struct clf_ffn_factor {
    enum clf_ffn_format format;
    /** SVD, RSVD: the rank r (capped at min of the weight's sides); TT:
     *  the largest TT-rank. 0: chosen from eps. */
    int64_t rank;
    /** With rank 0: the relative error target ‖W − W_r‖_F <= eps·‖W‖_F
     *  (SVD: the smallest rank whose Eckart–Young tail meets it; RSVD: from
     *  the randomised spectrum; TT: TT-SVD's bound). */
    double eps;
    int64_t oversample; /**< RSVD: p (the parser's default 10) */
    int power_iters;    /**< RSVD: q (the parser's default 1) */
    uint64_t seed;      /**< RSVD: the test matrix's seed */
    int tt_cores;       /**< TT: d, 2..6 (0: 3); d_model and d_ff are split into d
                             balanced factors */
};

/**
 * Parses the --ffn grammar: dense | svd:R | svd:eps=E | rsvd:R[,p:P][,q:Q][,seed:S]
 * | rsvd:eps=E[,...] | tt:R[,d:D] | tt:eps=E[,d:D]. On failure msg (may be
 * NULL) receives why. CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_ffn_factor_parse(const char *spec, struct clf_ffn_factor *f,
                                             char *msg, size_t msg_size);

/** Writes the --ffn form of f into buf. */
CLF_API void clf_ffn_factor_str(const struct clf_ffn_factor *f, char *buf, size_t size);

/** How the encoder stores the attention's K and V. */
enum clf_kv_format {
    CLF_KV_F32 = 0,         /**< fp32 */
    CLF_KV_INT8_TOKEN = 1,  /**< symmetric int8, one scale per token and head */
    CLF_KV_INT8_CHANNEL = 2 /**< symmetric int8, one scale per channel (of d_model),
                                 over all the batch's tokens */
};

/** Shape and behaviour of an encoder stack; get one from
 *  clf_encoder_config_default(). */
struct clf_encoder_config {
    int64_t d_model;   /**< Default 512 */
    int64_t heads;     /**< Default 8; must divide d_model */
    int64_t d_ff;      /**< Default 2048 */
    int64_t layers;    /**< Default 6 */
    enum clf_act act;  /**< CLF_ACT_RELU (default, as PyTorch) or CLF_ACT_GELU / GELU_TANH */
    float eps;         /**< LayerNorm epsilon. Default 1e-5 */
    /** false (default): post-LN, x = LN(x + MHA(x)), x = LN(x + FFN(x)) as
     *  the seed and PyTorch's default; true: pre-LN, x = x + MHA(LN(x)),
     *  x = x + FFN(LN(x)). */
    bool norm_first;
    enum clf_attention_impl attn_impl; /**< Default CLF_ATTN_AUTO */
    struct clf_attention_variant attn;  /**< Default exact attention */
    /* Quantisation (seed §3.1.3, §3.2.2). The attention formats need exact
     * attention (another variant with them is CLF_E_UNSUPPORTED). */
    enum clf_kv_format kv;     /**< K and V storage. Default CLF_KV_F32 */
    enum clf_p_format attn_p;  /**< attention weights' storage. Default CLF_P_F32 */
    int attn_p_bits;           /**< CLF_P_LOG: 2..8. Default 4 */
    /** Every linear layer (QKV, output projection, W1, W2) in int8:
     *  weights symmetric per output channel once at load, activations
     *  symmetric per token at run time, clf_op_gemm_q8. Default false. */
    bool linear_int8;
    /** FFN weights' factorisation, made when the weights arrive (or read
     *  from the file, see clf_encoder_load). Default dense. */
    struct clf_ffn_factor ffn;
    /** Free the f32 weights that a prepared form replaces in the forward
     *  pass (FFN factors or cores, int8 weights, SVD score forms), so that
     *  the device holds only what runs; clf_encoder_read_weight and
     *  clf_encoder_save then refuse those weights (CLF_E_STATE). Default
     *  false: keep them. */
    bool drop_dense;
    /** Quantiser between the FFN's activation and W2 (clf_op_actq); free
     *  parameters left 0 (LSQ's step, PWL's clip) are set per layer by
     *  clf_encoder_calibrate. Default none. */
    struct clf_actq ffn_act;
};

/** Returns the documented defaults. */
CLF_API struct clf_encoder_config clf_encoder_config_default(void);

/** A stack of encoder layers with its weights on the device. */
struct clf_encoder;

/**
 * Creates an encoder with seeded random weights: every weight matrix
 * uniform in ±1/sqrt(fan_in), biases uniform in ±0.1/sqrt(fan_in),
 * LayerNorm gamma in 1 ± 0.1 and beta in ±0.1 (splitmix64 from seed, the
 * same on every machine).
 */
CLF_API enum clf_status clf_encoder_create_random(struct clf_ctx *ctx,
                                                  const struct clf_encoder_config *cfg,
                                                  uint64_t seed, struct clf_encoder **out);

/**
 * Loads an encoder from a safetensors file with PyTorch state_dict names:
 * nn.TransformerEncoder's "layers.N.self_attn.in_proj_weight" ... (and an
 * optional final "norm.weight"/"norm.bias"), or, for one layer,
 * nn.TransformerEncoderLayer's "self_attn.in_proj_weight", ...,
 * "linear1.*", "linear2.*", "norm1.*", "norm2.*". Every tensor's shape is
 * checked against cfg (CLF_E_SHAPE naming the tensor); a missing tensor is
 * CLF_E_FORMAT. With cfg->ffn SVD or RSVD, factors in the file
 * ("linear1.lowrank.left" / ".right", as clf_encoder_save writes them) are
 * used instead of factorising (a configured rank must equal theirs, else
 * CLF_E_SHAPE); with TT, cores "linear1.tt.core.J" [r_J, m_J, n_J, r_J+1]
 * likewise (they must chain into the weight's shape). Optional one-element tensors per layer set the FFN
 * activation quantiser's parameters instead of calibration: "ffn_act.step"
 * (LSQ), "ffn_act.alpha" (BINARY's α, or PACT's α for unsigned LSQ: s =
 * α/(2^b − 1)), "ffn_act.clip" and "ffn_act.breakpoint" (PWL); a value that
 * is not positive and finite is CLF_E_FORMAT.
 */
CLF_API enum clf_status clf_encoder_load(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                         const char *path, struct clf_encoder **out);

/**
 * Writes enc's weights to a safetensors file in clf_encoder_load's names
 * ("layers.N." prefixes): the PyTorch weights, the FFN's SVD factors
 * ("layers.N.linear1.lowrank.left" [d_ff, r], ".right" [r, d_model], and
 * linear2's), the Tensor-Train cores ("layers.N.linear1.tt.core.J") and the
 * FFN activation quantiser's parameters
 * ("layers.N.ffn_act.step", ...) when the encoder has them, so that loading
 * the file again skips factorisation and calibration.
 */
CLF_API enum clf_status clf_encoder_save(struct clf_encoder *enc, const char *path);

/** What the encoder made of one layer's FFN weights (clf_encoder_ffn_stats). */
struct clf_ffn_stats {
    int64_t params;               /**< W1 and W2 as stored (factors, cores) */
    int64_t dense_params;         /**< 2·d_model·d_ff */
    double flops_per_token;       /**< of applying W1 and W2 as stored */
    double dense_flops_per_token; /**< 4·d_model·d_ff */
    int64_t rank[2];              /**< W1, W2: the SVD rank, or the largest TT-rank; 0 dense */
    /** W1, W2: ‖W − Ŵ‖_F / ‖W‖_F of the stored approximation (0 dense;
     *  NaN when the factors came from a file and were not measured). */
    double rel_error[2];
};

/** Fills *out for layer `layer`; CLF_E_INVALID_ARG out of range. */
CLF_API enum clf_status clf_encoder_ffn_stats(const struct clf_encoder *enc, int layer,
                                              struct clf_ffn_stats *out);

/** Destroys an encoder (NULL is fine); graphs recorded with it first. */
CLF_API void clf_encoder_destroy(struct clf_encoder *enc);

/** The encoder's configuration. */
CLF_API struct clf_encoder_config clf_encoder_get_config(const struct clf_encoder *enc);

/**
 * Copies one weight to the host as float32, by its PyTorch name within a
 * layer ("self_attn.in_proj_weight", "linear1.bias", "norm2.weight", ...);
 * layer −1 names the final "norm.weight"/"norm.bias" (CLF_E_FORMAT when
 * the encoder has none). count must equal the weight's element count.
 */
CLF_API enum clf_status clf_encoder_read_weight(struct clf_encoder *enc, int layer,
                                                const char *name, float *dst, size_t count);

/**
 * Records the forward pass of every layer on g: x f32 [batch, seq, d_model]
 * (any strides), key_padding i32 [batch, seq] (nonzero = padding) or NULL.
 * *out receives the graph-owned output [batch, seq, d_model].
 */
CLF_API enum clf_status clf_encoder_forward(struct clf_encoder *enc, struct clf_graph *g,
                                            struct clf_tensor *x, struct clf_tensor *key_padding,
                                            struct clf_tensor **out);

/**
 * Sets the free parameters of cfg.ffn_act (LSQ's step, PWL's clip and
 * breakpoint) per layer with clf_actq_calibrate, from the activations
 * before W2 in one forward pass of x (shapes as clf_encoder_forward) run
 * without the activation quantiser. Needed before clf_encoder_forward when
 * such a parameter is 0 (CLF_E_STATE otherwise); a no-op when there is
 * nothing to calibrate. Runs on its own graph.
 */
CLF_API enum clf_status clf_encoder_calibrate(struct clf_encoder *enc, struct clf_tensor *x,
                                              struct clf_tensor *key_padding);

/* ------------------------------------------------------------------------ */
/* A real model: BERT WordPiece tokenizer and sentence embeddings           */
/* ------------------------------------------------------------------------ */

/** Options of clf_tokenizer_load; get one from clf_tokenizer_params_default(). */
struct clf_tokenizer_params {
    bool lower_case;      /**< lower-case and strip accents (uncased BERT). Default true */
    int64_t max_length;   /**< tokens per text including [CLS] and [SEP]; longer texts
                               are truncated (reported). Default 256 */
    int64_t max_word_chars; /**< longer words become [UNK]. Default 100 */
};

/** Returns the documented defaults. */
CLF_API struct clf_tokenizer_params clf_tokenizer_params_default(void);

/** A BERT WordPiece tokenizer (vocabulary loaded from vocab.txt). */
struct clf_tokenizer;

/**
 * Loads vocab.txt (one token per line, id = line number, "\r\n" allowed,
 * a later duplicate wins as in Hugging Face's dict; lines must be UTF-8).
 * [CLS], [SEP], [UNK] and [PAD] must be present (CLF_E_FORMAT otherwise;
 * [MASK] is optional). p NULL means the defaults; max_length < 2 or
 * max_word_chars < 1 is CLF_E_INVALID_ARG. Errors name the file (CLF_E_IO
 * when it cannot be read). ctx only receives error messages and may be
 * NULL; the tokenizer is host code and needs no device. A tokenizer may be
 * used by one thread at a time (it keeps ctx for its errors).
 */
CLF_API enum clf_status clf_tokenizer_load(struct clf_ctx *ctx, const char *vocab_path,
                                           const struct clf_tokenizer_params *p,
                                           struct clf_tokenizer **out);
CLF_API void clf_tokenizer_destroy(struct clf_tokenizer *t);

/**
 * BERT's tokenisation of one UTF-8 text, as Hugging Face's BertTokenizer and
 * BertTokenizerFast (uncased) give it: the special tokens written in the
 * text ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"; exact case) are kept
 * as such; the rest is cleaned (U+0000, U+FFFD and every character of a
 * category C* except \t \n \r dropped; \t \n \r and categories Zs, Zl, Zp
 * are white space), CJK ideographs (BERT's _is_chinese_char ranges) become
 * words of their own, words are split on white space, lower-cased one code
 * point at a time and stripped of accents (Unicode NFD, marks of category
 * Mn removed, via utf8proc; both only with lower_case), split on
 * punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and categories P*), then
 * greedy longest-match WordPiece with "##" continuations ([UNK] for a word
 * of more than max_word_chars code points or with a position no piece
 * matches); [CLS] first, [SEP] last, truncated to max_length (the first
 * max_length - 2 pieces are kept). Only characters whose Unicode
 * properties differ between utf8proc's and Python's Unicode versions may
 * tokenise differently.
 *   ids       receives up to cap ids
 *   n         receives the number of ids (<= max_length)
 *   truncated receives whether the text was cut (may be NULL)
 * Invalid UTF-8 is CLF_E_INVALID_ARG; cap < the ids produced is CLF_E_SHAPE.
 */
CLF_API enum clf_status clf_tokenizer_encode(struct clf_tokenizer *t, const char *text,
                                             int32_t *ids, size_t cap, size_t *n,
                                             bool *truncated);

/** The id of a vocabulary token, or -1. */
CLF_API int32_t clf_tokenizer_token_id(const struct clf_tokenizer *t, const char *token);

/** A BERT encoder with its embeddings (e.g. all-MiniLM-L6-v2). */
struct clf_bert;

/**
 * Where clformer's default model lives (tools/fetch_model.sh puts
 * all-MiniLM-L6-v2 there): $CLFORMER_MODEL_DIR when set and not empty,
 * else ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2
 * ("." for $HOME when unset). Written into buf, NUL-terminated; whether
 * the directory exists is not checked. CLF_E_INVALID_ARG for a NULL buf or
 * one too small (buf then holds as much as fits).
 */
CLF_API enum clf_status clf_default_model_dir(char *buf, size_t size);

/**
 * Loads a Hugging Face BERT model directory: config.json (read with cJSON:
 * hidden_size, num_attention_heads, intermediate_size, num_hidden_layers,
 * vocab_size required; hidden_act "gelu" (erf form; "gelu_new" and
 * "gelu_pytorch_tanh" give the tanh form, "relu" ReLU, others
 * CLF_E_UNSUPPORTED), layer_norm_eps (default 1e-12),
 * max_position_embeddings (512), type_vocab_size (2); a
 * position_embedding_type other than "absolute" is CLF_E_UNSUPPORTED) and
 * model.safetensors (names with or without the "bert." prefix:
 * embeddings.word_embeddings.weight, ..., encoder.layer.N.attention.self.
 * query.weight, ...; the pooler is not used). Each layer becomes a post-LN
 * encoder layer (Q, K and V stacked into in_proj). options (may be NULL)
 * gives the encoder's attention variant, quantisation and FFN format; its
 * sizes, activation, eps and norm_first are ignored (the config's are
 * used). Every tensor's shape is checked (CLF_E_SHAPE naming it); a missing
 * one, or a missing config key, is CLF_E_FORMAT naming the file; a missing
 * file is CLF_E_IO; more layers in the file than configured is CLF_E_SHAPE.
 */
CLF_API enum clf_status clf_bert_load(struct clf_ctx *ctx, const char *model_dir,
                                      const struct clf_encoder_config *options,
                                      struct clf_bert **out);
CLF_API void clf_bert_destroy(struct clf_bert *b);

/** The model's encoder configuration (sizes from config.json). */
CLF_API struct clf_encoder_config clf_bert_config(const struct clf_bert *b);

/** The encoder inside (for clf_encoder_calibrate, _save, _ffn_stats). */
CLF_API struct clf_encoder *clf_bert_encoder(struct clf_bert *b);

/**
 * Records the model on g: ids i32 [batch, seq], mask i32 [batch, seq]
 * (1 = token, 0 = padding) or NULL (no padding); *hidden receives the last
 * hidden states f32 [batch, seq, d] (graph-owned). seq <= max_position_
 * embeddings (CLF_E_SHAPE otherwise). Embeddings: word rows (ids checked
 * against the vocabulary when the graph runs: clf_op_embedding) + token
 * type 0's row + position rows 0..seq-1, LayerNorm; then the encoder with
 * key padding (mask == 0), made on the device. Rows of padding get hidden
 * states too (they attend to the tokens); only the mask says which count.
 */
CLF_API enum clf_status clf_bert_forward(struct clf_bert *b, struct clf_graph *g,
                                         struct clf_tensor *ids, struct clf_tensor *mask,
                                         struct clf_tensor **hidden);

/**
 * Records only the embeddings, the encoder's input: *e receives f32
 * [batch, seq, d] (graph-owned); arguments and checks as clf_bert_forward
 * (the mask is checked, not used). With clf_encoder_tp_create_from(...,
 * clf_bert_encoder(b), ...) this runs the model tensor-parallel: read e
 * back, clf_encoder_tp_forward with key padding = (mask == 0).
 */
CLF_API enum clf_status clf_bert_embeddings(struct clf_bert *b, struct clf_graph *g,
                                            struct clf_tensor *ids, struct clf_tensor *mask,
                                            struct clf_tensor **e);

/**
 * Calibrates the free parameters of the options' ffn_act (clf_encoder_
 * calibrate) on the activations of these inputs (ids, mask as
 * clf_bert_forward, tensors the caller wrote); needed before
 * clf_bert_forward when such a parameter is 0, a no-op otherwise. Runs on
 * its own graphs.
 */
CLF_API enum clf_status clf_bert_calibrate(struct clf_bert *b, struct clf_tensor *ids,
                                           struct clf_tensor *mask);

/**
 * Sentence embeddings as sentence-transformers computes them (Pooling
 * mean, then Normalize): p[b] = Σ_t mask[b,t]·hidden[b,t,:] /
 * max(Σ_t mask[b,t], 1e-9), out[b] = p[b] / max(‖p[b]‖₂, 1e-12).
 * hidden f32 [batch, seq, d] (any strides), mask i32 [batch, seq] (1 =
 * token, 0 = padding; other values weigh the token); *out receives f32
 * [batch, d] (graph-owned). A text with no token gets zeros. Sums in f32.
 */
CLF_API enum clf_status clf_op_mean_pool_normalize(struct clf_graph *g, struct clf_tensor *hidden,
                                                   struct clf_tensor *mask,
                                                   struct clf_tensor **out);

/* ------------------------------------------------------------------------ */
/* Several devices: device groups, tensor and data parallelism              */
/* ------------------------------------------------------------------------ */

/**
 * A group of devices, one context each (its own queues, program builds and
 * caches). Contexts of a group are independent: work on different members
 * may run at the same time from different threads.
 */
struct clf_group;

/**
 * Creates a group from a device list spec: "all" (every device, in
 * clf_devices_query's order), or a comma-separated list of single specs
 * (clf_device_match's grammar, e.g. "gpu:0,gpu:1", "cpu:0,cpu:1",
 * "0:0,0:1"), members in the list's order. A device named twice (even by
 * two spellings, "0:0,cpu:0"), an empty item ("gpu:0,,gpu:1", a trailing
 * comma) or an item matching no device is CLF_E_DEVICE_SPEC; a NULL or
 * blank spec CLF_E_INVALID_ARG. p (may be NULL: defaults) gives every
 * context's parameters; its `device` field is replaced by the member's
 * "P:D". On failure msg (may be NULL) receives a one-line reason listing
 * the devices that exist, and *out is NULL.
 */
CLF_API enum clf_status clf_group_create(const char *spec, const struct clf_ctx_params *p,
                                         struct clf_group **out, char *msg, size_t msg_size);
CLF_API void clf_group_destroy(struct clf_group *g);
/** Number of devices. */
CLF_API int clf_group_size(const struct clf_group *g);
/** Member i's context (owned by the group), or NULL out of range. */
CLF_API struct clf_ctx *clf_group_ctx(struct clf_group *g, int i);

/**
 * A tensor-parallel encoder (Megatron-LM, Shoeybi et al. 2019) over the
 * N devices of a group: rank r holds heads [r·h/N, (r+1)·h/N) (their Q, K,
 * V rows of in_proj_weight and bias, their columns of out_proj.weight)
 * and the hidden units [r·f/N, (r+1)·f/N) of the FFN (those rows of W1
 * and entries of b1, those columns of W2); LayerNorm weights on every
 * rank, out_proj.bias and linear2.bias on rank 0 only (added once). One
 * all-reduce (sum) after each sub-layer, staged through the host: every
 * rank's partial [tokens, d] is read back, the partials summed in fp32 in
 * rank order (rank 0's already carries the bias and the residual), the
 * sum written to every rank as the next sub-layer's input, and every rank
 * applies the following LayerNorm itself (replicated, no second round
 * trip); the last LayerNorms (post-LN's closing one, a final norm) run on
 * rank 0. Ranks run in one thread each; each rank's graphs are recorded
 * once per (batch, seq, padded or not) and replayed. heads and d_ff must
 * be divisible by N (CLF_E_INVALID_ARG naming them). Exact attention,
 * dense f32 weights only (attention variants, K/V or weight quantisation,
 * FFN factors or activation quantisers: CLF_E_UNSUPPORTED). Errors are
 * reported on the group's first context (clf_ctx_last_error), naming the
 * member when another one failed.
 */
struct clf_encoder_tp;

/** Creates one from weights (path, as clf_encoder_load, a final norm
 *  included; NULL: seeded random weights identical to
 *  clf_encoder_create_random's with the same seed). The weights are read
 *  (or made) one at a time on the host and sliced there: each device
 *  receives only its slices and the replicated parts, never the whole
 *  model. */
CLF_API enum clf_status clf_encoder_tp_create(struct clf_group *grp,
                                              const struct clf_encoder_config *cfg,
                                              const char *path, uint64_t seed,
                                              struct clf_encoder_tp **out);

/**
 * How one rank of a tensor-parallel encoder whose ranks are in different
 * processes (MPI ranks, say, a device each) meets the others: its rank, the
 * number of ranks N, and the all-reduce, which the caller provides.
 */
struct clf_tp_comm {
    int rank; /**< this rank, in [0, size): it holds that share of the heads and d_ff */
    int size; /**< N >= 1; heads and d_ff must be divisible by it */
    /**
     * Sums buf over the ranks, in place. clf_encoder_tp_forward calls it on
     * every rank once per sub-layer (2·layers times a forward, in the same
     * order everywhere) with buf this rank's partial [tokens, d_model]
     * (count = tokens·d_model floats) and ok true. It returns true with buf
     * holding the sum, the same bits on every rank (add each element in
     * rank order, as the device group does, to match its results bit for
     * bit), or false on every rank when the exchange or any rank failed.
     * ok false says this rank failed (buf and count are then not to be
     * used; buf may be NULL): the call only tells the others, and must
     * return false. A forward that fails before its first sub-layer
     * (arguments, recording) still calls it once, so that the others stop
     * too. Called from the thread that called the forward.
     */
    bool (*allreduce)(void *user, float *buf, size_t count, bool ok);
    void *user; /**< passed to allreduce */
};

/**
 * Creates rank comm->rank's share of a tensor-parallel encoder on ctx: the
 * same slices as member comm->rank of a clf_encoder_tp_create group of
 * comm->size devices (weights from path, or seeded random ones: every rank
 * must pass the same cfg, path or seed), read and sliced on the host: ctx
 * never holds more than this rank's share. The forward then runs on every rank with the
 * same x and key_padding, and every rank receives y (each applies the
 * closing LayerNorms itself); with an all-reduce that adds in rank order
 * the result equals a group's of the same devices bit for bit. A failure of
 * the all-reduce is CLF_E_COMM (the rank that failed returns its own
 * status). NULL cfg, comm or comm->allreduce, or a rank out of [0, size),
 * is CLF_E_INVALID_ARG; comm is copied.
 */
CLF_API enum clf_status clf_encoder_tp_create_rank(struct clf_ctx *ctx,
                                                   const struct clf_encoder_config *cfg,
                                                   const char *path, uint64_t seed,
                                                   const struct clf_tp_comm *comm,
                                                   struct clf_encoder_tp **out);

/**
 * The same two, sliced from an existing encoder instead (on any context;
 * e.g. clf_bert_encoder's): its configuration, weights and final norm. It
 * must hold its dense f32 weights and use none of what the
 * tensor-parallel encoder refuses (CLF_E_UNSUPPORTED); it is only read,
 * and may be destroyed afterwards.
 */
CLF_API enum clf_status clf_encoder_tp_create_from(struct clf_group *grp,
                                                   const struct clf_encoder *full,
                                                   struct clf_encoder_tp **out);
CLF_API enum clf_status clf_encoder_tp_create_rank_from(struct clf_ctx *ctx,
                                                        const struct clf_encoder *full,
                                                        const struct clf_tp_comm *comm,
                                                        struct clf_encoder_tp **out);
CLF_API void clf_encoder_tp_destroy(struct clf_encoder_tp *e);

/**
 * y = encoder(x) on the host: x and y [batch, seq, d_model] f32,
 * key_padding [batch, seq] (nonzero = padded) or NULL. Equal to one
 * device's clf_encoder_forward within fp32 rounding (the partial sums are
 * added in another order); the same input gives the same output bit for
 * bit. One forward at a time per encoder.
 */
CLF_API enum clf_status clf_encoder_tp_forward(struct clf_encoder_tp *e, const float *x,
                                               int64_t batch, int64_t seq,
                                               const int32_t *key_padding, float *y);

/** Bytes each device sent to and received from the all-reduces per layer
 *  in the latest forward (for scaling estimates): its 2 sub-layer inputs
 *  written and 2 partials read, 4·tokens·d_model·4 for any N (even 1: the
 *  staging always goes through the host); the key padding and the closing
 *  LayerNorm's round trip are not counted, nor, for one rank of a
 *  clf_tp_comm, what its all-reduce sends to the other ranks (a ring or
 *  reduce-scatter + all-gather: 2·2·(N−1)/N·tokens·d_model·4 per layer).
 *  CLF_E_STATE before a successful forward. */
CLF_API enum clf_status clf_encoder_tp_comm_bytes(const struct clf_encoder_tp *e,
                                                  double *bytes_per_layer);

/* ---- issue 18, item 4: data parallelism and ranks that hold their share ---- */
/* (one block, to be moved with the rest of "Several devices" at the merge)    */

/**
 * BERT (clf_bert_load's model directory and options) split for tensor
 * parallelism over the N devices of a group, no device ever holding the
 * whole model: *tp receives the encoder layers (clf_encoder_tp_create's
 * slices, read from model.safetensors and sliced on the host), *emb a
 * model holding only the embeddings (word, position, token type rows and
 * their LayerNorm, replicated: small) on the group's first context, for
 * clf_bert_embeddings and clf_bert_config (clf_bert_forward and
 * clf_bert_calibrate on it are CLF_E_STATE; clf_bert_encoder is NULL).
 * The forward: clf_bert_embeddings, read back, clf_encoder_tp_forward with
 * key padding = (mask == 0). options as clf_bert_load's, limited to what
 * the tensor-parallel encoder runs (CLF_E_UNSUPPORTED otherwise). On
 * failure both are NULL. Destroy each with its own function.
 */
CLF_API enum clf_status clf_bert_load_tp(struct clf_group *grp, const char *model_dir,
                                         const struct clf_encoder_config *options,
                                         struct clf_bert **emb, struct clf_encoder_tp **tp);

/** The same as one rank of comm->size ranks in other processes (as
 *  clf_encoder_tp_create_rank): the embeddings and this rank's share of the
 *  layers on ctx. */
CLF_API enum clf_status clf_bert_load_tp_rank(struct clf_ctx *ctx, const char *model_dir,
                                              const struct clf_encoder_config *options,
                                              const struct clf_tp_comm *comm,
                                              struct clf_bert **emb, struct clf_encoder_tp **tp);

/**
 * A data-parallel runner: the work split over devices, each running a
 * replica of the same model, the results gathered in order. An encoder's
 * runner splits the items of a batch (clf_dp_forward); a BERT runner deals
 * whole batches of texts (clf_dp_embed: each keeps the padding it has on
 * one device). Of B items (batches), member (or rank) r of N takes
 * [first_r, first_r + count_r): contiguous, count_r = B/N and one more for
 * the first B mod N (a member with none idles). Each replica records the
 * graph one device would (clf_encoder_forward; clf_bert_forward then
 * clf_op_mean_pool_normalize) once per shape and replays it; the items of
 * a share never meet (rows of the GEMMs, each sequence's attention), so on
 * devices of one kind the output equals one device's bit for bit, for
 * every option but one: K/V int8 per channel (kv CLF_KV_INT8_CHANNEL)
 * takes a scale per column over all tokens of a share, so an encoder's
 * output then depends on the split (within the quantisation's error).
 * That holds when each share runs the kernels one device runs for the
 * whole batch: with attn_impl CLF_ATTN_AUTO the exact attention's
 * implementation (fused or GEMM, whose bits differ) is measured per size
 * class and device, and a share of fewer sequences may fall into another
 * class (batch·heads above 1, 4, 16) or, before the device's tuning
 * records are written (the cache directory), be measured otherwise; a
 * fixed attn_impl makes the choice everywhere the same. The GEMMs' choices
 * (provider and configuration, measured per size class too) gave the same
 * bits in the tests on PoCL's CPU devices (the native kernels add along k
 * in one order); GPUs' CLBlast and native GEMMs were not compared. One
 * call at a time per runner.
 */
struct clf_dp;

/** Over a group: a replica on every member (cfg with weights from path, as
 *  clf_encoder_load, or seeded random ones, as clf_encoder_create_random),
 *  made and run in one thread per member. Errors are reported on the
 *  group's first context, naming the member when another one failed. */
CLF_API enum clf_status clf_dp_create(struct clf_group *grp, const struct clf_encoder_config *cfg,
                                      const char *path, uint64_t seed, struct clf_dp **out);

/** The same with a BERT model on every member (clf_bert_load's model
 *  directory and options, which may be NULL), for clf_dp_embed. */
CLF_API enum clf_status clf_dp_create_bert(struct clf_group *grp, const char *model_dir,
                                           const struct clf_encoder_config *options,
                                           struct clf_dp **out);

/**
 * How one rank of a data-parallel run whose ranks are in different
 * processes (MPI ranks, a device each) meets the others: its rank, the
 * number of ranks N, and the gather of the outputs, which the caller
 * provides (the library calls no MPI).
 */
struct clf_dp_comm {
    int rank; /**< this rank, in [0, size): it runs share `rank` of every call */
    int size; /**< N >= 1 */
    /**
     * Gathers the ranks' outputs. Called once per forward (clf_dp_forward,
     * clf_dp_embed; not by a calibration) on every rank, from the thread
     * that called it, with
     * ok true, y the whole output (every rank's counts[r] floats in rank
     * order, counts the same array on every rank) holding this rank's
     * block at its place. It fills the other ranks' blocks at least on
     * rank 0 (a gather to rank 0) or on every rank (an all-gather), and
     * returns true on every rank, or false on every rank when the
     * exchange or any rank failed. ok false says this rank failed (y and
     * counts are then NULL): the call only tells the others, and must
     * return false. A forward that fails before running (its arguments)
     * still calls it, so that the others stop too.
     */
    bool (*gather)(void *user, float *y, const size_t *counts, bool ok);
    void *user; /**< passed to gather */
};

/** One rank's replica on ctx (cfg, path, seed as clf_dp_create: every rank
 *  must pass the same). Every rank then calls each forward with the same
 *  whole batch and receives the outputs where its gather puts them (its
 *  own share always). A failure of the gather is CLF_E_COMM (the rank
 *  that failed returns its own status). NULL cfg, comm or comm->gather, or
 *  a rank out of [0, size), is CLF_E_INVALID_ARG; comm is copied. No
 *  exchange is made while creating: the caller agrees on success. */
CLF_API enum clf_status clf_dp_create_rank(struct clf_ctx *ctx,
                                           const struct clf_encoder_config *cfg,
                                           const char *path, uint64_t seed,
                                           const struct clf_dp_comm *comm, struct clf_dp **out);
/** The same with BERT (as clf_dp_create_bert). */
CLF_API enum clf_status clf_dp_create_bert_rank(struct clf_ctx *ctx, const char *model_dir,
                                                const struct clf_encoder_config *options,
                                                const struct clf_dp_comm *comm,
                                                struct clf_dp **out);
CLF_API void clf_dp_destroy(struct clf_dp *dp);

/**
 * y = encoder(x) on the host, split over the members (or ranks): x and y
 * [batch, seq, d_model] f32, key_padding [batch, seq] (nonzero = padded)
 * or NULL. NULL x or y is CLF_E_INVALID_ARG; an out-of-range shape
 * CLF_E_SHAPE; a BERT runner's CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_dp_forward(struct clf_dp *dp, const float *x, int64_t batch,
                                       int64_t seq, const int32_t *key_padding, float *y);

/** Calibrates every replica's FFN activation quantisers (clf_encoder_
 *  calibrate) on the whole batch, as one device would (needed before a
 *  forward when the configuration leaves a parameter 0): each replica then
 *  quantises alike. A rank calibrates its own replica, without exchange
 *  (every rank must pass the same batch). */
CLF_API enum clf_status clf_dp_calibrate(struct clf_dp *dp, const float *x, int64_t batch,
                                         int64_t seq, const int32_t *key_padding);

/** One batch of texts for clf_dp_embed: ids and mask i32 [batch, seq] (1 =
 *  token, 0 = padding), as clf_bert_forward takes them. */
struct clf_dp_batch {
    const int32_t *ids;
    const int32_t *mask;
    int64_t batch;
    int64_t seq;
};

/**
 * Sentence embeddings of n batches with a BERT runner, the batches dealt
 * whole over the members (ranks) as above, each one forward: out f32
 * [Σ batch, d_model], the batches' rows in order, L2-normalised means of
 * the last hidden states (clf_op_mean_pool_normalize). A rank's block is
 * its batches' rows. NULL batches, ids, mask or out, or n = 0, is
 * CLF_E_INVALID_ARG; so is an encoder's runner.
 */
CLF_API enum clf_status clf_dp_embed(struct clf_dp *dp, const struct clf_dp_batch *batches,
                                     size_t n, float *out);
/** clf_dp_calibrate for a BERT runner: clf_bert_calibrate on every replica
 *  with this one batch (e.g. the first of the texts, as one device would
 *  calibrate). */
CLF_API enum clf_status clf_dp_calibrate_embed(struct clf_dp *dp,
                                               const struct clf_dp_batch *batch);

/** Replicas held here: the group's size, or 1 for a rank (0 for NULL). */
CLF_API int clf_dp_members(const struct clf_dp *dp);
/** Replica i's encoder (owned by the runner; a BERT runner's is its
 *  model's), e.g. for clf_encoder_save, or NULL out of range. */
CLF_API struct clf_encoder *clf_dp_encoder(struct clf_dp *dp, int i);
/** The graph replica i recorded last (owned by the runner: for
 *  clf_graph_node_time, clf_graph_memory; an idle replica keeps its
 *  previous one), or NULL when it has recorded none or i is out of
 *  range. */
CLF_API struct clf_graph *clf_dp_graph(struct clf_dp *dp, int i);

/* ---- end of issue 18, item 4 ---- */

/** Device time of node i's last command in the latest run, in ms (needs
 *  profiling, on by default); CLF_E_STATE before any run. */
CLF_API enum clf_status clf_graph_node_time(const struct clf_graph *g, size_t i, double *ms);

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_H */
