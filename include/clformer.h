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
    CLF_E_STATE          /**< the object is not in a state to do this */
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
    unsigned pool_hits;           /**< allocations served by the pool */
    unsigned pool_misses;         /**< allocations that created a buffer */
};

/** Copies the context's counters. */
CLF_API enum clf_status clf_ctx_stats(const struct clf_ctx *ctx, struct clf_ctx_stats *out);

/** Releases every pooled (free) device buffer. */
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

/** Destroys a tensor (NULL is fine). Graph-owned tensors are not destroyed. */
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
 * Executes every recorded node; blocks until all have finished. May be
 * called again (for example after writing new inputs).
 */
CLF_API enum clf_status clf_graph_run(struct clf_graph *g);

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

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_H */
