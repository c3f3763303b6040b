/*
 * Internal definition of the context and the helpers every part of the
 * library uses to report errors and log. Not installed.
 */
#ifndef CLF_RUNTIME_CTX_H
#define CLF_RUNTIME_CTX_H

#include "clformer.h"
#include "cl.h"
#include "clformer/opencl.h" /* after cl.h: the interop entry points */
#include "pool.h"

#include <CL/cl_ext.h> /* cl_khr_command_buffer types */

/* Most queues a context makes (clf_ctx_params.queues). */
#define CLF_MAX_QUEUES 16

/* clCommandBarrierWithWaitListKHR since version 0.9.5 of
 * cl_khr_command_buffer (1.0 keeps it), which gave every recording entry
 * point a properties list; the system's headers may declare the older one,
 * without it (the ABIs differ, so the version decides which is called). */
typedef cl_int(CL_API_CALL *clf_cb_barrier_props_fn)(cl_command_buffer_khr, cl_command_queue,
                                                     const cl_ulong *properties, cl_uint,
                                                     const cl_sync_point_khr *,
                                                     cl_sync_point_khr *,
                                                     cl_mutable_command_khr *);

/* cl_khr_command_buffer_mutable_dispatch from version 0.9.3 on (the
 * headers of 0.9.3 and 0.9.5 agree): an array of update configs, each
 * without the type and next fields of the older form that the system's
 * headers declare (the ABIs differ; older versions are not used). */
struct clf_mutable_dispatch_config {
    cl_mutable_command_khr command;
    cl_uint num_args;
    cl_uint num_svm_args;
    cl_uint num_exec_infos;
    cl_uint work_dim;
    const cl_mutable_dispatch_arg_khr *arg_list;
    const cl_mutable_dispatch_arg_khr *arg_svm_list;
    const cl_mutable_dispatch_exec_info_khr *exec_info_list;
    const size_t *global_work_offset;
    const size_t *global_work_size;
    const size_t *local_work_size;
};
#define CLF_MUTABLE_DISPATCH_CONFIG 0 /* its cl_command_buffer_update_type_khr */
typedef cl_int(CL_API_CALL *clf_update_mutable_fn)(cl_command_buffer_khr, cl_uint num_configs,
                                                   const cl_uint *config_types,
                                                   const void **configs);

/* The cl_khr_command_buffer entry points (loaded per platform). */
struct clf_cb_api {
    clCreateCommandBufferKHR_fn create;
    clFinalizeCommandBufferKHR_fn finalize;
    clReleaseCommandBufferKHR_fn release;
    clEnqueueCommandBufferKHR_fn enqueue;
    clCommandNDRangeKernelKHR_fn ndrange;      /* the same ABI in every version */
    clCommandBarrierWithWaitListKHR_fn barrier; /* before 0.9.5 (else NULL) */
    clf_cb_barrier_props_fn barrier_props;      /* 0.9.5 and later (else NULL) */
    /* cl_khr_command_buffer_mutable_dispatch >= 0.9.3 with arguments and
     * global sizes updatable (else NULL): command buffers are made mutable
     * and brought up to date instead of recorded anew (launch.h) */
    clf_update_mutable_fn update;
};

/* Recordings of destroyed graphs a context keeps for a graph of the same
 * nodes to take over and update (executor.c): most kept. */
#define CLF_SPARE_RECORDINGS 2

struct clf_recorder; /* launch.h: a command buffer being recorded */

/* A kernel object kept for reuse (arguments are set before each launch;
 * a context is used by one thread at a time). */
struct clf_kernel_entry {
    char *name;
    cl_kernel kernel;
};

/* One built program, keyed by source family and build options. */
struct clf_program_entry {
    char *family;      /* e.g. "elementwise" (cl/elementwise.cl) */
    char *options;     /* full build options used */
    cl_program program;
    bool unsaved;      /* built from source, its binary not written (the driver
                          caches its builds: clf_ctx_unsaved_programs) */
    struct clf_kernel_entry *kernels;
    size_t n_kernels;
};

/* Kinds of context-owned tensors. */
enum clf_ctx_tensor_kind {
    CLF_CTX_TENSOR_SINUSOIDAL = 1, /* key: max_len, d_model */
    CLF_CTX_TENSOR_ROPE = 2        /* key: max_len, dim, theta's bits */
};

/* A tensor the context owns (e.g. a precomputed positional table), found
 * again by (kind, key) and destroyed with the context; it holds no
 * reference to the context (that would be a cycle). */
struct clf_ctx_tensor {
    int kind;
    int64_t key[4];
    struct clf_tensor *tensor;
};

struct clf_ctx {
    /* References: the caller's (until clf_ctx_destroy) and one per tensor,
     * graph and tokenizer made on the context; the last one frees it. A
     * context is used by one thread at a time, so a plain count. */
    int refs;
    bool released;             /* clf_ctx_destroy dropped the caller's reference */
    bool freeing;              /* the last reference is gone: being freed */
    struct clf_device_info info;
    unsigned float_lanes;      /* clf_device_float_lanes: sizes the CPU kernels' tiles */
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    bool wrapped;              /* the device, context and queues[0] are a caller's
                                  (clf_ctx_wrap_cl), retained and released by us */
    /* The queue ops enqueue on: queues[0] outside graph runs; the executor
     * points it at each node's queue while enqueueing the node, and sets
     * it to NULL while recording a command buffer (so that anything not
     * routed through clf_launch / clf_marker fails instead of running). */
    cl_command_queue queue;
    /* CLFORMER_PLAN: 0 auto (the arena on CPU devices, whole buffers
     * elsewhere: NVIDIA's driver 580 crashed releasing sub-buffers), 1 an
     * arena with sub-buffers, 2 whole buffers reused (the pool layout),
     * 3 no reuse */
    int plan_mode;
    cl_command_queue queues[CLF_MAX_QUEUES]; /* made at creation; [0] the home queue */
    int n_queues;
    bool queue_out_of_order;   /* queues[0] (the only one) is out-of-order */
    bool profiling;            /* the queues have profiling enabled */

    bool command_buffers;      /* graphs are recorded and replayed (param, device
                                  extension and entry points all present) */
    struct clf_cb_api cb;
    struct clf_recorder *rec;  /* non-NULL while a graph is recorded (or updated) */
    /* mutable recordings of destroyed graphs, oldest first (executor.c) */
    struct clf_recorder *spares[CLF_SPARE_RECORDINGS];
    int n_spares;
    /* command buffers recorded, and recordings brought up to date by an
     * update instead (the tests' and benches' counts) */
    unsigned long cb_recorded, cb_updated;
    /* While track is set (the executor's direct runs with profiling),
     * clf_launch keeps a reference to each kernel's event in run_evs, in
     * enqueue order; the executor times and releases them. */
    bool track;
    cl_event *run_evs;
    size_t n_run_evs, cap_run_evs;

    char *cache_dir;           /* NULL: disk cache disabled */
    bool read_binaries;        /* program binaries are loaded from cache_dir */
    bool write_binaries;       /* and written there after a build from source
                                  (clf_ctx_params.program_binaries resolved) */
    char *cl_dir;              /* NULL: embedded sources */
    char base_options[256];    /* -cl-std and feature defines for every build */

    clf_log_fn log_fn;         /* NULL: stderr */
    void *log_user;
    enum clf_log_level log_level;
    clf_progress_fn progress_fn;
    void *progress_user;
    bool warming;              /* in clf_ctx_warmup, which reports the builds */

    enum clf_gemm_provider gemm_provider; /* context default for GEMM ops */

    char last_error[4096];

    struct clf_program_entry *programs;
    size_t n_programs, cap_programs;

    cl_command_queue queue_in_order; /* lazily made for libraries that need in-order
                                        execution (CLBlast) when `queue` is not */
    void (*on_destroy[4])(struct clf_ctx *ctx); /* cleanups registered by ops */
    int n_on_destroy;

    void *tune;                /* tuning records (tune.c) */
    enum clf_tune_mode tune_mode; /* resolved: OFF, FAST or FULL */
    /* The tuners' overall progress (tuner.c): steps done of all steps
     * announced since the outermost clf_tuner_session_begin; `announced`:
     * the next tuner run's steps are already counted in tune_total. */
    int tune_depth, tune_done, tune_total;
    bool tune_announced;

    struct clf_ctx_tensor *owned;
    size_t n_owned;

    struct clf_pool pool;
    struct clf_ctx_stats stats;
};

/* Logs one message at a level (formatted like printf). */
void clf_log(struct clf_ctx *ctx, enum clf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a failure as the context's last error, logs it at DEBUG level,
 * and returns status so that callers can `return clf_fail(...)`. */
enum clf_status clf_fail(struct clf_ctx *ctx, enum clf_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same for a failed OpenCL call: the message names the call and the error;
 * allocation errors map to CLF_E_OUT_OF_MEMORY, others to CLF_E_OPENCL. */
enum clf_status clf_fail_cl(struct clf_ctx *ctx, cl_int err, const char *call);

/* Name of an OpenCL error code, e.g. "CL_OUT_OF_RESOURCES". */
const char *clf_cl_error_name(cl_int err);

/* An in-order queue on the context's device: `queue` (the current one)
 * when it is in-order, else a second queue made on first use.
 * CLF_E_UNSUPPORTED while a command buffer is recorded (no queue). */
enum clf_status clf_ctx_in_order_queue(struct clf_ctx *ctx, cl_command_queue *out);
/* clCloneKernel where the ICD loader has it (else NULL, *err set). */
cl_kernel clf_clone_kernel(struct clf_ctx *ctx, cl_kernel k, cl_int *err);

/* A reference to ctx (NULL is fine): whatever holds one keeps the context
 * alive after clf_ctx_destroy. */
void clf_ctx_ref(struct clf_ctx *ctx);
/* Drops a reference (NULL is fine); the last one frees the context. */
void clf_ctx_unref(struct clf_ctx *ctx);

/* Registers fn to run once when the context is freed (before its queues
 * are released); registering the same fn twice is a no-op. */
enum clf_status clf_ctx_on_destroy(struct clf_ctx *ctx, void (*fn)(struct clf_ctx *ctx));

/* The context-owned tensor of (kind, key), or NULL. */
struct clf_tensor *clf_ctx_owned_find(const struct clf_ctx *ctx, int kind, const int64_t key[4]);
/* Hands t to the context under (kind, key); on failure t is freed. */
enum clf_status clf_ctx_owned_add(struct clf_ctx *ctx, int kind, const int64_t key[4],
                                  struct clf_tensor *t);

/* Opens a new context's device: sets platform, device, info, context,
 * queues, n_queues, queue, queue_out_of_order and profiling, as p asks. */
typedef enum clf_status (*clf_ctx_open_fn)(struct clf_ctx *ctx, const struct clf_ctx_params *p,
                                           void *user);
/* clf_ctx_create with another way of opening the device (interop.c). */
enum clf_status clf_ctx_create_with(const struct clf_ctx_params *params, clf_ctx_open_fn open,
                                    void *user, struct clf_ctx **out);

/* Milliseconds from a monotonic clock. */
double clf_now_ms(void);

#endif
