/**
 * @file clformer/core.h
 * @brief Core and devices: status codes, the library version, OpenCL
 * devices and contexts.
 *
 * Part of the public API; include clformer.h (the umbrella), which
 * includes this header first.
 */
#ifndef CLFORMER_CORE_H
#define CLFORMER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @cond CLF_INTERNAL */
#if defined(CLF_BUILDING_LIBRARY) && defined(__GNUC__)
#define CLF_API __attribute__((visibility("default")))
#else
#define CLF_API
#endif
/** @endcond */

/**
 * @defgroup core Core and devices
 * Status codes, the version, OpenCL devices and contexts.
 * @{
 */

/** @defgroup abi The ABI of structs
 * How structs cross the library's boundary, so that a program built against
 * one version of these headers runs with another version of the library of
 * the same soname (its symbols are versioned, node CLFORMER_0).
 *
 * Params structs (clf_ctx_params, clf_gemm_params, clf_attention_params,
 * clf_quant_params, clf_gemm_q8_params, clf_attention_quant_params,
 * clf_encoder_config, clf_tokenizer_params) and the output struct
 * clf_node_info begin with `size_t size`: the size of the struct the
 * caller was compiled with.
 *  - Get a params struct from its X_default() or X_init(&p, sizeof p),
 *    which set size and the defaults; a struct zeroed by hand has size 0
 *    and is refused (CLF_E_INVALID_ARG). X_default() is inline: it returns
 *    the caller's own struct (a by-value return of the library's would not
 *    fit an older caller), and so are clf_encoder_get_config and
 *    clf_bert_config.
 *  - The library reads only the fields that fit in the caller's size: a
 *    caller built against older headers gets the defaults for the fields
 *    added since. A caller built against newer headers, on an older
 *    library, may only leave the fields that library does not know at
 *    zero (the "as before" of every added field); a nonzero one is
 *    CLF_E_UNSUPPORTED.
 *  - The library writes only the fields that fit in an output struct's
 *    size (clf_node_info), and zeroes those it does not know.
 *  - Fields are only ever added at the end; none is removed, moved or
 *    retyped under one soname.
 *  - A field added into the tail padding of the previous layout leaves
 *    the size unchanged (clf_attention_quant_params.q_int8 and
 *    clf_encoder_config.attn_q_int8 did): a library built before it reads
 *    the caller's struct as its own and cannot tell that the field was
 *    set. Such fields are added only before the first release; after it,
 *    a struct grows.
 *
 * The other structs (clf_device_info, clf_ctx_stats, clf_ffn_stats, and the
 * plain values embedded in params: clf_attention_variant, clf_actq,
 * clf_ffn_factor; clf_tp_comm, clf_safetensors_entry) have no size field:
 * they are fixed under one soname, and changing one bumps it.
 */

/** Defines X_default() of a params struct X: X_init on the caller's own
 *  struct, inline so that its size is the caller's (@ref abi "the ABI rule"). */
#define CLF_PARAMS_DEFAULT(type)                                                             \
    static inline struct type type##_default(void)                                           \
    {                                                                                        \
        struct type p;                                                                       \
        type##_init(&p, sizeof p);                                                           \
        return p;                                                                            \
    }

/** @defgroup status Status and version
 * Every fallible call returns an enum clf_status.
 * @{ */

#define CLF_VERSION_MAJOR 0 /**< major version of these headers */
#define CLF_VERSION_MINOR 1 /**< minor version of these headers */
#define CLF_VERSION_PATCH 0 /**< patch level of these headers */

/** Maximum number of tensor dimensions. */
#define CLF_MAX_DIMS 4

/** Result of every fallible call. */
enum clf_status {
    CLF_OK = 0,          /**< success */
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

/** @} */

/** @defgroup devices Devices
 * Enumerating the OpenCL devices and choosing one by a spec string.
 * @{ */

/** OpenCL device type, as a bit set compatible with a spec's type filter. */
enum clf_device_type {
    CLF_DEVICE_CPU = 1,         /**< a CPU (PoCL, Intel's CPU runtime) */
    CLF_DEVICE_GPU = 2,         /**< a GPU */
    CLF_DEVICE_ACCELERATOR = 4, /**< an accelerator (FPGA, DSP) */
    CLF_DEVICE_OTHER = 8        /**< anything else (custom devices) */
};

/** Capabilities of one OpenCL device, probed once. Plain data. */
struct clf_device_info {
    int platform_index;          /**< index of the platform, in enumeration order */
    int device_index;            /**< index of the device within its platform */
    char platform_name[128];     /**< CL_PLATFORM_NAME */
    char platform_vendor[128];   /**< CL_PLATFORM_VENDOR */
    char platform_version[128];  /**< e.g. "OpenCL 3.0 PoCL 3.1" */
    char name[256];              /**< CL_DEVICE_NAME */
    char vendor[128];            /**< CL_DEVICE_VENDOR */
    char driver_version[128];    /**< CL_DRIVER_VERSION */
    char version[128];           /**< device OpenCL version string */
    char c_version[128];         /**< device OpenCL C version string */
    int c_major;                 /**< parsed OpenCL C version: major, e.g. 1 */
    int c_minor;                 /**< parsed OpenCL C version: minor, e.g. 2 */
    enum clf_device_type type;   /**< CPU, GPU, accelerator or other */
    unsigned compute_units;      /**< CL_DEVICE_MAX_COMPUTE_UNITS */
    unsigned clock_mhz;          /**< CL_DEVICE_MAX_CLOCK_FREQUENCY */
    uint64_t global_mem_bytes;   /**< CL_DEVICE_GLOBAL_MEM_SIZE */
    uint64_t local_mem_bytes;    /**< CL_DEVICE_LOCAL_MEM_SIZE */
    bool local_mem_dedicated;    /**< false when local memory is emulated in global */
    uint64_t constant_mem_bytes; /**< CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE */
    uint64_t max_alloc_bytes;    /**< CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    size_t max_work_group_size;  /**< CL_DEVICE_MAX_WORK_GROUP_SIZE */
    unsigned mem_base_align_bits; /**< CL_DEVICE_MEM_BASE_ADDR_ALIGN */
    unsigned vec_char;           /**< preferred vector width of char */
    unsigned vec_short;          /**< preferred vector width of short */
    unsigned vec_int;            /**< preferred vector width of int */
    unsigned vec_long;           /**< preferred vector width of long */
    unsigned vec_float;          /**< preferred vector width of float */
    unsigned vec_double;         /**< preferred vector width of double (0: none) */
    unsigned vec_half;           /**< preferred vector width of half (0: none) */
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
 * @param spec      the spec
 * @param list      the devices (clf_devices_query)
 * @param count     their number
 * @param index     receives the chosen device's index in list
 * @param msg       on failure receives a one-line explanation that lists
 *                  what exists (may be NULL); always NUL-terminated when
 *                  msg_size > 0
 * @param msg_size  bytes of msg
 * @return CLF_OK, CLF_E_INVALID_ARG (NULL or empty spec), CLF_E_DEVICE_SPEC
 *         (unknown, ambiguous or out of range), CLF_E_NO_DEVICE (empty list)
 */
CLF_API enum clf_status clf_device_match(const char *spec,
                                         const struct clf_device_info *list, size_t count,
                                         size_t *index, char *msg, size_t msg_size);

/**
 * Enumerates the devices and picks one by spec, as clf_ctx_create does.
 * @param spec      device spec; NULL means $CLFORMER_DEVICE, else "auto"
 * @param out       receives the chosen device's capabilities
 * @param msg       on failure, a one-line explanation (may be NULL)
 * @param msg_size  bytes of msg
 */
CLF_API enum clf_status clf_device_find(const char *spec, struct clf_device_info *out, char *msg,
                                        size_t msg_size);

/** @} */

/** @defgroup context Contexts
 * A context is one device with its queues, kernel programs, caches and
 * buffer pool; tensors and graphs are made on one.
 *
 * Lifetime: a context is reference-counted by what is made on it. Every
 * tensor (views included), graph and tokenizer holds a reference, and
 * objects made of tensors (encoders, BERT models) hold it through them.
 * clf_ctx_destroy drops the caller's reference; the context is freed (its
 * queues, programs, caches and pool) when the last holder is destroyed.
 * Until then the holders stay fully usable (a graph still runs, a tensor
 * still reads and writes), but the caller must not pass the context itself
 * to any call after clf_ctx_destroy.
 * @{ */

/** A context: an OpenCL device, its queues, programs, caches and buffer
 *  pool (opaque). */
struct clf_ctx;

/** Severity of a log message, and the threshold of what is logged. */
enum clf_log_level {
    CLF_LOG_DEBUG = 0, /**< details (every failure's message, builds) */
    CLF_LOG_INFO = 1,  /**< what was chosen (device, cache) */
    CLF_LOG_WARN = 2,  /**< something to look at; the work went on */
    CLF_LOG_ERROR = 3, /**< a failure */
    CLF_LOG_NONE = 4   /**< as a threshold: log nothing */
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

/** Name of a provider ("auto", "clblast", "native"). */
CLF_API const char *clf_gemm_provider_str(enum clf_gemm_provider p);

/** How the auto-tuners (the GEMM provider and configuration of each shape
 *  class, the exact attention's implementation of each size class) choose.
 *  A choice once measured is kept as a tuning record of the device (in the
 *  cache directory); every mode uses the records there are. */
enum clf_tune_mode {
    CLF_TUNE_AUTO = 0, /**< $CLFORMER_TUNE (off, fast, full) when set, else CLF_TUNE_FAST */
    CLF_TUNE_OFF = 1,  /**< never measure: records, else the defaults shipped for the
                            device's class, else the candidate expected fastest */
    CLF_TUNE_FAST = 2, /**< records, else the shipped defaults where the device's class has
                            them, else a measurement of only the candidates that can win
                            (no CLBlast on CPU devices: 10-30x slower there) */
    CLF_TUNE_FULL = 3  /**< records measured in full, else a measurement of every
                            candidate (CLBlast included) */
};

/**
 * Whether built program binaries go to the disk cache
 * (clf_ctx_params.program_binaries). A binary is the driver's answer to
 * CL_PROGRAM_BINARIES after a build from source: loading it later skips
 * the compiler (about 5 ms instead of 65 ms or more per program on PoCL
 * 3.1). PoCL keeps a cache of its own builds, keyed by source, options and
 * device, and asking it for a binary makes it compile every kernel of the
 * program once more for any work-group size (seconds per program), so on
 * PoCL the library leaves its builds to that cache unless told otherwise.
 */
enum clf_program_binaries {
    CLF_BINARIES_AUTO = 0, /**< binaries found in the cache are loaded; new ones are
                                written, except on drivers that keep their own cache
                                of builds (PoCL) */
    CLF_BINARIES_ON = 1,   /**< loaded and written on every driver */
    CLF_BINARIES_OFF = 2   /**< neither: every program is built from its source */
};

/** Context configuration; get one from clf_ctx_params_default(). */
struct clf_ctx_params {
    /** The struct\'s size: set by clf_ctx_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    /** Device spec (see clf_device_match). Default NULL: $CLFORMER_DEVICE,
     *  else "auto". */
    const char *device;
    /** Directory of the program binary cache. Default NULL:
     *  $CLFORMER_CACHE_DIR, else $XDG_CACHE_HOME/clformer, else
     *  $HOME/.cache/clformer. An empty string disables the disk cache. */
    const char *cache_dir;
    /** Default true. false disables the disk cache whatever cache_dir says. */
    bool disk_cache;
    /** Directory holding FAMILY.cl kernel sources to use instead of the
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
    /** Progress handler for long work: kernel builds (each program built
     *  at its first use is one item of its own, "building kernels" 0 of 1,
     *  then 1 of 1 with a NULL item once built; clf_ctx_warmup counts all
     *  of its programs) and tuning. Default NULL: none. */
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
    /** Default true: on a device other than a CPU that has
     *  cl_khr_command_buffer, a graph is recorded into a command buffer
     *  after its first run and replayed ($CLFORMER_COMMAND_BUFFER=1: on CPU
     *  devices too, where replays were measured slower than enqueueing);
     *  false (or $CLFORMER_COMMAND_BUFFER=0) always enqueues directly.
     *  Where the device also has cl_khr_command_buffer_mutable_dispatch
     *  (0.9.3 or later), a recording that no longer fits its graph (new
     *  buffers after a plan, a repacked weight) is updated rather than
     *  recorded anew, and the context keeps the recordings of the last two
     *  destroyed graphs for a new graph of as many nodes and the same
     *  kernels (another sequence length, say) to take over and update
     *  (clf_ctx_trim releases them).
     *  Another value of the variable makes clf_ctx_create fail with
     *  CLF_E_INVALID_ARG. */
    bool command_buffers;
    /** How the auto-tuners choose. Default CLF_TUNE_AUTO: $CLFORMER_TUNE
     *  (off, fast, full; any other value makes clf_ctx_create fail with
     *  CLF_E_INVALID_ARG), else CLF_TUNE_FAST. */
    enum clf_tune_mode tune_mode;
    /** Program binaries in the disk cache (no effect without one). Default
     *  CLF_BINARIES_AUTO, or $CLFORMER_BINARIES (auto, on, off; another
     *  value makes clf_ctx_create fail with CLF_E_INVALID_ARG). */
    enum clf_program_binaries program_binaries;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_ctx_params_init(struct clf_ctx_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_ctx_params)

/**
 * Creates a context on the device chosen by params->device.
 * An environment variable of the library (CLFORMER_LOG, CLFORMER_GEMM,
 * CLFORMER_QUEUES, CLFORMER_COMMAND_BUFFER, CLFORMER_PLAN, CLFORMER_TUNE,
 * CLFORMER_BINARIES, CLFORMER_DEVICE) set to a value it does not accept
 * makes it fail with CLF_E_INVALID_ARG and a message naming the variable,
 * the value and the accepted values, whatever params say (an empty value
 * is as unset).
 * @param params  NULL means clf_ctx_params_default()
 * @param out     receives the context; NULL on failure. Failures before the
 *                context exists are reported through params->log_fn (or
 *                stderr by default) at CLF_LOG_ERROR.
 */
CLF_API enum clf_status clf_ctx_create(const struct clf_ctx_params *params,
                                       struct clf_ctx **out);

/** Drops the caller's reference to a context (NULL is fine): the context
 *  is freed now, or with the last tensor, graph or tokenizer still made on
 *  it (see @ref context "Contexts"). A second call on the same context is
 *  an error, logged and ignored while the context lives. */
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

/**
 * The kernel programs this context built from source without writing their
 * binaries to the cache: on drivers that keep a cache of their own builds
 * (PoCL), where CLFORMER_BINARIES auto reads binaries but does not write
 * them, since asking such a driver for a binary compiles every kernel of
 * the program again (seconds each). Loading a binary is faster than a
 * rebuild from the driver's cache (5-9 ms against 65-120 ms per program on
 * PoCL), so a later process starts faster once they are written: pass this
 * text to clf_ctx_save_binaries on a context of the same device, e.g. in a
 * background process (the `clformer` command does that after a command,
 * through `clformer save-binaries`). One line per program
 * ("FAMILY<tab>OPTIONS\n"), "" when there is none, written into buf
 * (NUL-terminated); *needed (may be NULL) receives the bytes it takes,
 * the NUL included. buf NULL with size 0 asks for the size alone; a buf
 * too small is CLF_E_INVALID_ARG (it holds as much as fits).
 */
CLF_API enum clf_status clf_ctx_unsaved_programs(struct clf_ctx *ctx, char *buf, size_t size,
                                                 size_t *needed);

/**
 * Writes the binaries of list's programs (clf_ctx_unsaved_programs' text,
 * from a context of the same device and library) into this context's
 * cache directory, whatever CLFORMER_BINARIES says (off, or no usable
 * cache directory: CLF_E_INVALID_ARG). Each program is built from source
 * (the driver's cache makes that quick) and its binary asked for (the slow
 * part on PoCL: seconds per program); programs whose binary is there
 * already are skipped. One process at a time per cache directory (a lock
 * file, binaries.lock, in it): while another holds it, nothing is done and
 * CLF_OK returned. *saved (may be NULL) counts the binaries written. A
 * line that is not FAMILY<tab>OPTIONS with a program of the library (a
 * family built on its own, not one of a bundle) is
 * CLF_E_INVALID_ARG before anything is built; a build failure is
 * CLF_E_BUILD.
 */
CLF_API enum clf_status clf_ctx_save_binaries(struct clf_ctx *ctx, const char *list, int *saved);

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

/**
 * Writes the tuning records of the context's device to a file: JSON with
 * the device's identity (name, driver version, platform version) and one
 * record per measured shape class, for clf_tune_import on another machine
 * with the same device. The file is written whole or not at all.
 */
CLF_API enum clf_status clf_tune_export(struct clf_ctx *ctx, const char *path);

/**
 * Merges the tuning records of a file written by clf_tune_export into the
 * device's own (a record of the file replaces one of the same class) and
 * keeps them in the cache directory. Refused, with a message naming the
 * file, and nothing merged: a file that cannot be read (CLF_E_IO), that is
 * not JSON or has a malformed record (CLF_E_FORMAT), that is not a
 * clformer tuning file (CLF_E_FORMAT), or whose device differs from the
 * context's in name, driver or platform version (CLF_E_INVALID_ARG).
 * @param ctx       the context whose device's records receive the file's
 * @param path      the file
 * @param imported  receives the number of records merged; may be NULL
 */
CLF_API enum clf_status clf_tune_import(struct clf_ctx *ctx, const char *path,
                                        unsigned *imported);

/**
 * The tuning records of the context's device as JSON text, the contents
 * clf_tune_export writes. *len receives the text's length (without the
 * NUL); when size > *len the text and a NUL are copied to buf (buf may be
 * NULL when size is 0, to ask for the length).
 */
CLF_API enum clf_status clf_tune_json(struct clf_ctx *ctx, char *buf, size_t size,
                                      size_t *len);

/** Copies the context's counters. */
CLF_API enum clf_status clf_ctx_stats(const struct clf_ctx *ctx, struct clf_ctx_stats *out);

/** Releases every pooled (free) device buffer and the recordings kept
 *  from destroyed graphs (where the device updates recordings: see
 *  clf_ctx_params.command_buffers), and restarts the peak of live bytes
 *  (clf_ctx_stats) from the bytes live now. */
CLF_API void clf_ctx_trim(struct clf_ctx *ctx);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_CORE_H */
