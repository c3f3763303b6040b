/* Status strings, OpenCL error names, the context's last error and logging. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctx.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *clf_version(void)
{
    return STR(CLF_VERSION_MAJOR) "." STR(CLF_VERSION_MINOR) "." STR(CLF_VERSION_PATCH);
}

const char *clf_status_str(enum clf_status status)
{
    switch (status) {
    case CLF_OK: return "ok";
    case CLF_E_INVALID_ARG: return "invalid argument";
    case CLF_E_SHAPE: return "shape, stride or dtype mismatch";
    case CLF_E_NO_DEVICE: return "no OpenCL device";
    case CLF_E_DEVICE_SPEC: return "unknown or ambiguous device spec";
    case CLF_E_OUT_OF_MEMORY: return "out of memory";
    case CLF_E_BUILD: return "kernel build failed";
    case CLF_E_OPENCL: return "OpenCL error";
    case CLF_E_IO: return "I/O error";
    case CLF_E_FORMAT: return "malformed input";
    case CLF_E_UNSUPPORTED: return "unsupported";
    case CLF_E_STATE: return "invalid state";
    case CLF_E_NUMERIC: return "numerical failure";
    case CLF_E_COMM: return "communication with other ranks failed";
    }
    return "unknown status";
}

const char *clf_cl_error_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE)
    E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY) E(CL_PROFILING_INFO_NOT_AVAILABLE)
    E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH) E(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE) E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) E(CL_COMPILE_PROGRAM_FAILURE)
    E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE) E(CL_DEVICE_PARTITION_FAILED)
    E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE)
    E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

static const char *level_name(enum clf_log_level level)
{
    switch (level) {
    case CLF_LOG_DEBUG: return "debug";
    case CLF_LOG_INFO: return "info";
    case CLF_LOG_WARN: return "warning";
    case CLF_LOG_ERROR: return "error";
    default: return "";
    }
}

static void vlog(struct clf_ctx *ctx, enum clf_log_level level, const char *fmt, va_list ap)
{
    if (!ctx || level < ctx->log_level || level >= CLF_LOG_NONE)
        return;
    char msg[8192];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (ctx->log_fn)
        ctx->log_fn(ctx->log_user, level, msg);
    else
        fprintf(stderr, "clformer: %s: %s\n", level_name(level), msg);
}

void clf_log(struct clf_ctx *ctx, enum clf_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, level, fmt, ap);
    va_end(ap);
}

enum clf_status clf_fail(struct clf_ctx *ctx, enum clf_status status, const char *fmt, ...)
{
    if (!ctx)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->last_error, sizeof ctx->last_error, fmt, ap);
    va_end(ap);
    clf_log(ctx, CLF_LOG_DEBUG, "%s (%s)", ctx->last_error, clf_status_str(status));
    return status;
}

enum clf_status clf_fail_cl(struct clf_ctx *ctx, cl_int err, const char *call)
{
    enum clf_status st = CLF_E_OPENCL;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY ||
        err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        st = CLF_E_OUT_OF_MEMORY;
    return clf_fail(ctx, st, "%s failed: %s (%d)", call, clf_cl_error_name(err), (int)err);
}

double clf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
