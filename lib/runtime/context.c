/* Context: device selection, OpenCL context and queue, configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_dir.h"
#include "device.h"
#include "env.h"
#include "launch.h"
#include "program.h"
#include "tensor.h"
#include "abi.h"

void clf_ctx_params_init(struct clf_ctx_params *out, size_t size)
{
    struct clf_env env;
    struct clf_env_values ev;
    char msg[200];
    clf_env_read(&env);
    (void)clf_env_parse(&env, &ev, msg, sizeof msg); /* clf_ctx_create refuses a bad one */
    struct clf_ctx_params p;
    memset(&p, 0, sizeof p);
    p.device = NULL;
    p.cache_dir = NULL;
    p.disk_cache = true;
    p.cl_dir = NULL;
    p.log_fn = NULL;
    p.log_user = NULL;
    p.log_level = (enum clf_log_level)ev.log;
    p.progress_fn = NULL;
    p.progress_user = NULL;
    p.pool_max_bytes = (size_t)256 << 20;
    p.profiling = true;
    p.gemm_provider = (enum clf_gemm_provider)ev.gemm;
    p.queues = ev.queues;
    p.command_buffers = ev.command_buffer != 0;
    p.tune_mode = CLF_TUNE_AUTO; /* $CLFORMER_TUNE is read (and checked) by clf_ctx_create */
    p.program_binaries = (enum clf_program_binaries)ev.binaries;
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

/* Resolves the cache directory: params, env, XDG, HOME; NULL when disabled
 * (*oom set when a string could not be allocated). */
static char *resolve_cache_dir(const struct clf_ctx_params *p, const struct clf_env *env,
                               bool *oom)
{
    char *dir = NULL;
    *oom = false;
    if (!p->disk_cache)
        return NULL;
    if (p->cache_dir)
        dir = p->cache_dir[0] ? strdup(p->cache_dir) : NULL;
    else if (env->cache_dir)
        dir = env->cache_dir[0] ? strdup(env->cache_dir) : NULL;
    else if (env->xdg_cache && env->xdg_cache[0])
        dir = join(env->xdg_cache, "clformer");
    else if (env->home && env->home[0])
        dir = join(env->home, ".cache/clformer");
    else
        return NULL;
    bool wanted = p->cache_dir ? p->cache_dir[0] != 0
                               : !env->cache_dir || env->cache_dir[0] != 0;
    *oom = wanted && !dir;
    return dir;
}

/* True for drivers that keep a cache of their own builds, keyed by source
 * and options, and compile again to answer CL_PROGRAM_BINARIES: PoCL (its
 * binary holds every kernel compiled for any work-group size, seconds per
 * program, while a rebuild from source hits its cache in ~65 ms). */
static bool driver_caches_builds(const struct clf_device_info *d)
{
    return strstr(d->platform_name, "Portable Computing Language") ||
           strstr(d->platform_version, "PoCL");
}

/* ctx->read_binaries / write_binaries from the policy, once the device is
 * known. */
static void set_binaries(struct clf_ctx *ctx, enum clf_program_binaries policy)
{
    ctx->read_binaries = ctx->cache_dir && policy != CLF_BINARIES_OFF;
    ctx->write_binaries = ctx->read_binaries &&
                          (policy == CLF_BINARIES_ON || !driver_caches_builds(&ctx->info));
}

static void set_base_options(struct clf_ctx *ctx)
{
    const struct clf_device_info *d = &ctx->info;
    char std[32] = "";
    if (d->c_major >= 1)
        snprintf(std, sizeof std, "-cl-std=CL%d.%d ", d->c_major, d->c_minor);
    snprintf(ctx->base_options, sizeof ctx->base_options,
             "%s-DCLF_HAS_FP16=%d -DCLF_HAS_FP64=%d -DCLF_HAS_SUBGROUPS=%d "
             "-DCLF_HAS_INT_DOT=%d -DCLF_DEVICE_CPU=%d -DCLF_VEC_FLOAT=%u",
             std, d->fp16, d->fp64, d->subgroups, d->int_dot_product,
             d->type == CLF_DEVICE_CPU, ctx->float_lanes);
}

/* Opens the device spec names; spec_var names the environment variable
 * spec came from (NULL: the caller's params), for the message. */
static enum clf_status open_device(struct clf_ctx *ctx, const char *spec, const char *spec_var,
                                   bool profiling, int n_queues)
{
    struct clf_device_entry *devs = NULL;
    size_t n = 0, pick = 0;
    char msg[2048];
    enum clf_status st = clf_device_enumerate(&devs, &n, msg, sizeof msg);
    if (st != CLF_OK)
        return clf_fail(ctx, st, "%s", msg);
    struct clf_device_info *infos = calloc(n, sizeof *infos);
    if (!infos) {
        free(devs);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the device list");
    }
    for (size_t i = 0; i < n; i++)
        infos[i] = devs[i].info;
    st = clf_device_match(spec, infos, n, &pick, msg, sizeof msg);
    free(infos);
    if (st != CLF_OK) {
        free(devs);
        if (spec_var)
            return clf_fail(ctx, st, "environment variable %s '%s': %s", spec_var, spec, msg);
        return clf_fail(ctx, st, "%s", msg);
    }
    ctx->platform = devs[pick].platform;
    ctx->device = devs[pick].device;
    ctx->info = devs[pick].info;
    free(devs);

    cl_int err = CL_SUCCESS;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform,
                                     0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        ctx->context = NULL;
        return clf_fail_cl(ctx, err, "clCreateContext");
    }
    /* queues == 0: one queue, out-of-order when the device allows it;
     * N >= 1: N in-order queues (the executor spreads nodes over them) */
    cl_command_queue_properties qp = 0;
    if (n_queues == 0 && ctx->info.out_of_order_queue)
        qp |= CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE;
    if (profiling && ctx->info.profiling)
        qp |= CL_QUEUE_PROFILING_ENABLE;
    int nq = n_queues == 0 ? 1 : n_queues;
    for (int i = 0; i < nq; i++) {
        ctx->queues[i] = clCreateCommandQueue(ctx->context, ctx->device, qp, &err);
        if (err != CL_SUCCESS && qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) {
            qp &= ~(cl_command_queue_properties)CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE;
            ctx->queues[i] = clCreateCommandQueue(ctx->context, ctx->device, qp, &err);
        }
        if (err != CL_SUCCESS) {
            ctx->queues[i] = NULL;
            return clf_fail_cl(ctx, err, "clCreateCommandQueue");
        }
        ctx->n_queues = i + 1;
    }
    ctx->queue = ctx->queues[0];
    ctx->queue_out_of_order = (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    ctx->profiling = (qp & CL_QUEUE_PROFILING_ENABLE) != 0;
    return CLF_OK;
}

#if defined(__GNUC__) && defined(__ELF__)
/* OpenCL 2.1, declared here because the headers are used at the 1.2 level;
 * weak so that a 1.2 ICD loader without it still links (then NULL). */
extern CL_API_ENTRY cl_kernel CL_API_CALL clCloneKernel(cl_kernel, cl_int *)
    __attribute__((weak));
#define CLF_CLONE_KERNEL clCloneKernel
#else
#define CLF_CLONE_KERNEL NULL
#endif

cl_kernel clf_clone_kernel(struct clf_ctx *ctx, cl_kernel k, cl_int *err)
{
    (void)ctx;
    cl_kernel (*clone)(cl_kernel, cl_int *) = CLF_CLONE_KERNEL;
    if (!clone) {
        *err = CL_INVALID_OPERATION;
        return NULL;
    }
    return clone(k, err);
}

/* The version of extension `name` on the device (CL_MAKE_VERSION's
 * encoding: major << 22 | minor << 12 | patch), from
 * CL_DEVICE_EXTENSIONS_WITH_VERSION (OpenCL 3.0; declared here since the
 * headers are used at the 1.2 level); 0 when the query is not answered. */
static unsigned ext_version(cl_device_id dev, const char *name)
{
    struct {
        cl_uint version;
        char name[64]; /* CL_NAME_VERSION_MAX_NAME_SIZE */
    } *list = NULL;
    size_t size = 0;
    unsigned version = 0;
    const cl_device_info extensions_with_version = 0x1060;
    if (clGetDeviceInfo(dev, extensions_with_version, 0, NULL, &size) != CL_SUCCESS || !size ||
        !(list = malloc(size)) ||
        clGetDeviceInfo(dev, extensions_with_version, size, list, NULL) != CL_SUCCESS)
        size = 0;
    for (size_t i = 0; i < size / sizeof *list; i++)
        if (!strncmp(list[i].name, name, sizeof list[i].name))
            version = list[i].version;
    free(list);
    return version;
}

#define CLF_VERSION(major, minor, patch) (((major) << 22) | ((minor) << 12) | (patch))

/* Whether command buffers recorded for our queue (out-of-order or not) are
 * allowed: from CL_DEVICE_COMMAND_BUFFER_SUPPORTED_QUEUE_PROPERTIES_KHR
 * where the device answers it (0.9.5 and later), else from the older
 * capability bit CL_COMMAND_BUFFER_CAPABILITY_OUT_OF_ORDER_KHR. */
static bool command_buffer_queue_ok(struct clf_ctx *ctx)
{
    const cl_device_info supported_props = 0x129A;
    cl_command_queue_properties need = 0, have = 0, supported = 0;
    cl_device_command_buffer_capabilities_khr caps = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_COMMAND_BUFFER_REQUIRED_QUEUE_PROPERTIES_KHR,
                        sizeof need, &need, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(ctx->device, CL_DEVICE_COMMAND_BUFFER_CAPABILITIES_KHR, sizeof caps,
                        &caps, NULL) != CL_SUCCESS ||
        clGetCommandQueueInfo(ctx->queues[0], CL_QUEUE_PROPERTIES, sizeof have, &have, NULL) !=
            CL_SUCCESS)
        return false;
    if ((need & ~have) != 0)
        return false;
    if (!ctx->queue_out_of_order)
        return true;
    if (clGetDeviceInfo(ctx->device, supported_props, sizeof supported, &supported, NULL) ==
        CL_SUCCESS)
        return (supported & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    return (caps & CL_COMMAND_BUFFER_CAPABILITY_OUT_OF_ORDER_KHR) != 0;
}

/*
 * Makes recordings mutable (ctx->cb.update) when the device has
 * cl_khr_command_buffer_mutable_dispatch at 0.9.3 or later (the update's
 * interface changed at 0.9.3; below 2.0) and can update kernel arguments
 * and global sizes.
 */
static void load_mutable_dispatch(struct clf_ctx *ctx)
{
    unsigned version = ext_version(ctx->device, "cl_khr_command_buffer_mutable_dispatch");
    const cl_mutable_dispatch_fields_khr need =
        CL_MUTABLE_DISPATCH_ARGUMENTS_KHR | CL_MUTABLE_DISPATCH_GLOBAL_SIZE_KHR;
    cl_mutable_dispatch_fields_khr caps = 0;
    if (version < CLF_VERSION(0u, 9u, 3u) || version >= CLF_VERSION(2u, 0u, 0u) ||
        clGetDeviceInfo(ctx->device, CL_DEVICE_MUTABLE_DISPATCH_CAPABILITIES_KHR, sizeof caps,
                        &caps, NULL) != CL_SUCCESS ||
        (caps & need) != need)
        return;
    void *sym = clGetExtensionFunctionAddressForPlatform(ctx->platform,
                                                         "clUpdateMutableCommandsKHR");
    if (sym)
        memcpy(&ctx->cb.update, &sym, sizeof sym);
}

/*
 * Enables command-buffer recording when the device has
 * cl_khr_command_buffer at a version we know (0.9.x, whose provisional
 * interface changed at 0.9.5, or 1.x), its platform is OpenCL >= 2.1
 * (recording clones each kernel, clCloneKernel: PoCL 3.1 does not capture a
 * kernel's arguments when a command is recorded, so every recorded command
 * gets a kernel object of its own whose arguments never change), the entry
 * points load, and the device allows command buffers on our queue.
 */
static void load_command_buffers(struct clf_ctx *ctx)
{
    int major = 0, minor = 0;
    /* PoCL before 4: its cl_khr_command_buffer 0.9.0 does not capture a
     * kernel's arguments when a command is recorded (a later
     * clSetKernelArg leaves the command with freed argument storage:
     * measured, it crashes or computes with other arguments), and it
     * crashed recording gemm_cpu_tile even with cloned kernels */
    int pocl_major = 0;
    const char *pocl = strstr(ctx->info.platform_version, "PoCL ");
    if (pocl && sscanf(pocl, "PoCL %d", &pocl_major) == 1 && pocl_major < 4)
        return;
    if (!ctx->info.command_buffer || !CLF_CLONE_KERNEL ||
        sscanf(ctx->info.platform_version, "OpenCL %d.%d", &major, &minor) != 2 ||
        major * 10 + minor < 21)
        return;
    /* a platform below 3.0 cannot say: the version of the headers' time */
    unsigned version = ext_version(ctx->device, "cl_khr_command_buffer");
    if (!version)
        version = CLF_VERSION(0u, 9u, 0u);
    if (version >= CLF_VERSION(2u, 0u, 0u))
        return;
    /* (memcpy: ISO C has no cast from void * to a function pointer) */
#define CLF_CB_LOAD(field, name)                                                              \
    {                                                                                         \
        void *sym = clGetExtensionFunctionAddressForPlatform(ctx->platform, #name);          \
        if (!sym)                                                                             \
            return;                                                                           \
        memcpy(&ctx->cb.field, &sym, sizeof sym);                                             \
    }
    CLF_CB_LOAD(create, clCreateCommandBufferKHR)
    CLF_CB_LOAD(finalize, clFinalizeCommandBufferKHR)
    CLF_CB_LOAD(release, clReleaseCommandBufferKHR)
    CLF_CB_LOAD(enqueue, clEnqueueCommandBufferKHR)
    CLF_CB_LOAD(ndrange, clCommandNDRangeKernelKHR)
    if (version >= CLF_VERSION(0u, 9u, 5u))
        CLF_CB_LOAD(barrier_props, clCommandBarrierWithWaitListKHR)
    else
        CLF_CB_LOAD(barrier, clCommandBarrierWithWaitListKHR)
#undef CLF_CB_LOAD
    if (command_buffer_queue_ok(ctx)) {
        ctx->command_buffers = true;
        load_mutable_dispatch(ctx);
    }
}

/* clf_ctx_create's way of opening the device: by params->device's spec. */
static enum clf_status open_by_spec(struct clf_ctx *ctx, const struct clf_ctx_params *p,
                                    void *user)
{
    (void)user;
    const char *spec = p->device ? p->device : clf_device_default_spec();
    bool from_env = !p->device && strcmp(spec, "auto");
    return open_device(ctx, spec, from_env ? "CLFORMER_DEVICE" : NULL, p->profiling, p->queues);
}

enum clf_status clf_ctx_create(const struct clf_ctx_params *params, struct clf_ctx **out)
{
    return clf_ctx_create_with(params, open_by_spec, NULL, out);
}

enum clf_status clf_ctx_create_with(const struct clf_ctx_params *params, clf_ctx_open_fn open,
                                    void *user, struct clf_ctx **out)
{
    if (!out)
        return CLF_E_INVALID_ARG;
    *out = NULL;
    struct clf_env env;
    struct clf_env_values ev;
    char env_msg[200];
    clf_env_read(&env);
    bool env_ok = clf_env_parse(&env, &ev, env_msg, sizeof env_msg);

    struct clf_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return CLF_E_OUT_OF_MEMORY;
    ctx->refs = 1; /* the caller's */
    /* the caller's params over the defaults (left alone when refused: the
     * failure is then logged as the defaults say) */
    struct clf_ctx_params pl = clf_ctx_params_default();
    const struct clf_ctx_params *p = &pl;
    enum clf_status st = clf_abi_import(ctx, "clf_ctx_params", params, &pl, sizeof pl);
    ctx->log_fn = p->log_fn;
    ctx->log_user = p->log_user;
    ctx->log_level = p->log_level;
    ctx->progress_fn = p->progress_fn;
    ctx->progress_user = p->progress_user;
    ctx->pool.max_free_bytes = p->pool_max_bytes;
    if (st != CLF_OK)
        goto fail;
    if (!env_ok) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "%s", env_msg);
        goto fail;
    }

    ctx->gemm_provider = p->gemm_provider;
    if ((unsigned)p->gemm_provider > CLF_GEMM_NATIVE) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "gemm_provider %d out of range",
                      (int)p->gemm_provider);
        goto fail;
    }
    if (p->queues < 0 || p->queues > CLF_MAX_QUEUES) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "queues %d out of range [0, %d]", p->queues,
                      CLF_MAX_QUEUES);
        goto fail;
    }
    if ((unsigned)p->log_level > CLF_LOG_NONE) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "log_level %d out of range", (int)p->log_level);
        goto fail;
    }
    ctx->tune_mode = p->tune_mode;
    if ((unsigned)p->tune_mode > CLF_TUNE_FULL) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "tune_mode %d out of range", (int)p->tune_mode);
        goto fail;
    }
    if (p->tune_mode == CLF_TUNE_AUTO)
        ctx->tune_mode = (enum clf_tune_mode)ev.tune;
    if ((unsigned)p->program_binaries > CLF_BINARIES_OFF) {
        st = clf_fail(ctx, CLF_E_INVALID_ARG, "program_binaries %d out of range",
                      (int)p->program_binaries);
        goto fail;
    }
    ctx->plan_mode = ev.plan;
    bool oom = false;
    ctx->cache_dir = resolve_cache_dir(p, &env, &oom);
    const char *cl_dir = p->cl_dir ? p->cl_dir : env.cl_dir;
    if (cl_dir && cl_dir[0] && !(ctx->cl_dir = strdup(cl_dir)))
        oom = true;
    if (oom) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the context's paths");
        goto fail;
    }
    st = open(ctx, p, user);
    if (st != CLF_OK)
        goto fail;
    if (ctx->cache_dir && !clf_cache_dir_private(ctx, ctx->cache_dir)) {
        free(ctx->cache_dir);
        ctx->cache_dir = NULL;
    }
    ctx->float_lanes = clf_device_float_lanes(ctx->device, &ctx->info);
    set_base_options(ctx);
    set_binaries(ctx, p->program_binaries);
    /* CLFORMER_COMMAND_BUFFER=1 records on every device that can; by
     * default CPU devices enqueue directly: replaying a recording of the
     * short job took 1.4-2.1x the direct run's wall time on Intel's CPU
     * runtime 2026.2 (docs/measurements.md), and PoCL 3.1 cannot record */
    bool cb_forced = ev.command_buffer == 1;
    if (p->command_buffers && (cb_forced || ctx->info.type != CLF_DEVICE_CPU))
        load_command_buffers(ctx);
    clf_log(ctx, CLF_LOG_INFO, "device '%s' (%s), cache %s (program binaries %s), kernels %s",
            ctx->info.name, ctx->info.platform_name, ctx->cache_dir ? ctx->cache_dir : "disabled",
            ctx->write_binaries  ? "read and written"
            : ctx->read_binaries ? "read, not written: the driver caches its builds"
                                 : "not used",
            ctx->cl_dir ? ctx->cl_dir : "embedded");
    *out = ctx;
    return CLF_OK;

fail:
    clf_log(ctx, CLF_LOG_ERROR, "cannot create context: %s", ctx->last_error);
    clf_ctx_destroy(ctx);
    return st;
}

enum clf_status clf_ctx_in_order_queue(struct clf_ctx *ctx, cl_command_queue *out)
{
    if (ctx->rec || !ctx->queue)
        return clf_fail(ctx, CLF_E_UNSUPPORTED,
                        "no queue while a graph is recorded into a command buffer");
    if (!ctx->queue_out_of_order) {
        *out = ctx->queue;
        return CLF_OK;
    }
    if (!ctx->queue_in_order) {
        cl_int err = CL_SUCCESS;
        cl_command_queue_properties qp = ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
        ctx->queue_in_order = clCreateCommandQueue(ctx->context, ctx->device, qp, &err);
        if (err != CL_SUCCESS) {
            ctx->queue_in_order = NULL;
            return clf_fail_cl(ctx, err, "clCreateCommandQueue(in-order)");
        }
    }
    *out = ctx->queue_in_order;
    return CLF_OK;
}

enum clf_status clf_ctx_on_destroy(struct clf_ctx *ctx, void (*fn)(struct clf_ctx *ctx))
{
    for (int i = 0; i < ctx->n_on_destroy; i++)
        if (ctx->on_destroy[i] == fn)
            return CLF_OK;
    if (ctx->n_on_destroy == (int)(sizeof ctx->on_destroy / sizeof ctx->on_destroy[0]))
        return clf_fail(ctx, CLF_E_STATE, "too many cleanup hooks on the context");
    ctx->on_destroy[ctx->n_on_destroy++] = fn;
    return CLF_OK;
}

struct clf_tensor *clf_ctx_owned_find(const struct clf_ctx *ctx, int kind, const int64_t key[4])
{
    for (size_t i = 0; i < ctx->n_owned; i++)
        if (ctx->owned[i].kind == kind && !memcmp(ctx->owned[i].key, key, sizeof(int64_t) * 4))
            return ctx->owned[i].tensor;
    return NULL;
}

enum clf_status clf_ctx_owned_add(struct clf_ctx *ctx, int kind, const int64_t key[4],
                                  struct clf_tensor *t)
{
    struct clf_ctx_tensor *grown = realloc(ctx->owned, (ctx->n_owned + 1) * sizeof *grown);
    if (!grown) {
        clf_tensor_free(t);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a context table");
    }
    ctx->owned = grown;
    grown[ctx->n_owned].kind = kind;
    memcpy(grown[ctx->n_owned].key, key, sizeof(int64_t) * 4);
    grown[ctx->n_owned].tensor = t;
    t->ctx_owned = true;
    ctx->refs--; /* the tensor's own: the context owns it now */
    ctx->n_owned++;
    return CLF_OK;
}

/* Frees the context, once its last reference is gone. */
static void ctx_free(struct clf_ctx *ctx)
{
    ctx->freeing = true;
    for (int i = 0; i < ctx->n_queues; i++)
        clFinish(ctx->queues[i]);
    if (ctx->queue_in_order)
        clFinish(ctx->queue_in_order);
    for (int i = 0; i < ctx->n_on_destroy; i++)
        ctx->on_destroy[i](ctx);
    clf_recorder_spares_free(ctx); /* before the kernels their clones came from */
    for (size_t i = 0; i < ctx->n_owned; i++)
        clf_tensor_free(ctx->owned[i].tensor);
    free(ctx->owned);
    if (ctx->stats.pool_bytes_live) /* a buffer held without a reference: a bug of ours */
        clf_log(ctx, CLF_LOG_WARN, "context freed while %llu device bytes are held",
                (unsigned long long)ctx->stats.pool_bytes_live);
    clf_log(ctx, CLF_LOG_DEBUG, "context on '%s' freed", ctx->info.name);
    clf_pool_trim(ctx);
    free(ctx->pool.free_bufs);
    free(ctx->run_evs);
    clf_programs_release(ctx);
    if (ctx->queue_in_order)
        clReleaseCommandQueue(ctx->queue_in_order);
    for (int i = 0; i < ctx->n_queues; i++)
        clReleaseCommandQueue(ctx->queues[i]);
    if (ctx->context)
        clReleaseContext(ctx->context);
    if (ctx->wrapped)
        clReleaseDevice(ctx->device);
    free(ctx->cache_dir);
    free(ctx->cl_dir);
    free(ctx);
}

void clf_ctx_ref(struct clf_ctx *ctx)
{
    if (ctx)
        ctx->refs++;
}

void clf_ctx_unref(struct clf_ctx *ctx)
{
    /* while freeing, the context's own tensors and caches go: no count */
    if (!ctx || ctx->freeing)
        return;
    if (--ctx->refs == 0)
        ctx_free(ctx);
}

void clf_ctx_destroy(struct clf_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->released) {
        clf_log(ctx, CLF_LOG_ERROR, "clf_ctx_destroy called twice on a context (ignored)");
        return;
    }
    ctx->released = true;
    if (ctx->refs > 1)
        clf_log(ctx, CLF_LOG_DEBUG,
                "context released by its caller; %d tensors, graphs or tokenizers keep it",
                ctx->refs - 1);
    clf_ctx_unref(ctx);
}

const char *clf_ctx_last_error(const struct clf_ctx *ctx)
{
    return ctx ? ctx->last_error : "no context";
}

enum clf_status clf_ctx_device_info(const struct clf_ctx *ctx, struct clf_device_info *out)
{
    if (!ctx || !out)
        return CLF_E_INVALID_ARG;
    *out = ctx->info;
    return CLF_OK;
}

const char *clf_ctx_cache_dir(const struct clf_ctx *ctx)
{
    return ctx ? ctx->cache_dir : NULL;
}

enum clf_status clf_ctx_stats(const struct clf_ctx *ctx, struct clf_ctx_stats *out)
{
    if (!ctx || !out)
        return CLF_E_INVALID_ARG;
    *out = ctx->stats;
    return CLF_OK;
}

void clf_ctx_trim(struct clf_ctx *ctx)
{
    if (!ctx)
        return;
    clf_recorder_spares_free(ctx); /* a spare may keep its graph's buffers alive */
    clf_pool_trim(ctx);
    ctx->stats.pool_bytes_peak = ctx->stats.pool_bytes_live;
}

enum clf_status clf_ctx_warmup(struct clf_ctx *ctx)
{
    if (!ctx)
        return CLF_E_INVALID_ARG;
    int total = 0, done = 0;
    /* one build per program: a family built with others counts once */
    for (size_t i = 0; i < clf_cl_sources_count; i++) {
        const char *family = clf_cl_sources[i].family;
        total += clf_program_is_family(family) && clf_program_name(family) == family;
    }
    for (size_t i = 0; i < clf_cl_sources_count; i++) {
        const char *family = clf_cl_sources[i].family;
        if (!clf_program_is_family(family) || clf_program_name(family) != family)
            continue;
        char item[128];
        snprintf(item, sizeof item, "%s.cl", family);
        if (ctx->progress_fn)
            ctx->progress_fn(ctx->progress_user, "building kernels", done, total, item);
        struct clf_program_entry *prog = NULL;
        ctx->warming = true;
        enum clf_status st = clf_program_get(ctx, family, NULL, &prog);
        ctx->warming = false;
        if (st != CLF_OK)
            return st;
        done++;
    }
    if (ctx->progress_fn)
        ctx->progress_fn(ctx->progress_user, "building kernels", done, total, NULL);
    return CLF_OK;
}
