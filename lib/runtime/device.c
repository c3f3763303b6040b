/* Enumerates OpenCL platforms and devices and probes their capabilities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "env.h"

static void get_platform_str(cl_platform_id p, cl_platform_info what, char *dst, size_t n)
{
    dst[0] = 0;
    if (clGetPlatformInfo(p, what, n, dst, NULL) != CL_SUCCESS)
        dst[0] = 0;
    dst[n - 1] = 0;
}

static void get_dev_str(cl_device_id d, cl_device_info what, char *dst, size_t n)
{
    dst[0] = 0;
    if (clGetDeviceInfo(d, what, n, dst, NULL) != CL_SUCCESS)
        dst[0] = 0;
    dst[n - 1] = 0;
}

static uint64_t get_dev_u64(cl_device_id d, cl_device_info what)
{
    cl_ulong v = 0;
    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static unsigned get_dev_uint(cl_device_id d, cl_device_info what)
{
    cl_uint v = 0;
    return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

/* True when the space-separated extension list contains ext as a word. */
static bool has_ext(const char *list, const char *ext)
{
    size_t n = strlen(ext);
    for (const char *p = list; (p = strstr(p, ext)) != NULL; p += n) {
        bool start = p == list || p[-1] == ' ';
        bool end = p[n] == 0 || p[n] == ' ';
        if (start && end)
            return true;
    }
    return false;
}

/* "OpenCL C 1.2 PoCL" -> 1, 2 (0, 0 when unparsable). */
static void parse_c_version(const char *s, int *major, int *minor)
{
    *major = *minor = 0;
    if (sscanf(s, "OpenCL C %d.%d", major, minor) != 2)
        *major = *minor = 0;
}

static void probe(cl_platform_id p, cl_device_id d, struct clf_device_info *info)
{
    get_platform_str(p, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    get_platform_str(p, CL_PLATFORM_VENDOR, info->platform_vendor, sizeof info->platform_vendor);
    get_platform_str(p, CL_PLATFORM_VERSION, info->platform_version,
                     sizeof info->platform_version);
    get_dev_str(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_dev_str(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_dev_str(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_dev_str(d, CL_DEVICE_VERSION, info->version, sizeof info->version);
    get_dev_str(d, CL_DEVICE_OPENCL_C_VERSION, info->c_version, sizeof info->c_version);
    parse_c_version(info->c_version, &info->c_major, &info->c_minor);

    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->type = (t & CL_DEVICE_TYPE_GPU)           ? CLF_DEVICE_GPU
                 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? CLF_DEVICE_ACCELERATOR
                 : (t & CL_DEVICE_TYPE_CPU)         ? CLF_DEVICE_CPU
                                                    : CLF_DEVICE_OTHER;

    info->compute_units = get_dev_uint(d, CL_DEVICE_MAX_COMPUTE_UNITS);
    info->clock_mhz = get_dev_uint(d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    info->global_mem_bytes = get_dev_u64(d, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->local_mem_bytes = get_dev_u64(d, CL_DEVICE_LOCAL_MEM_SIZE);
    cl_device_local_mem_type lt = CL_GLOBAL;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    info->local_mem_dedicated = lt == CL_LOCAL;
    info->constant_mem_bytes = get_dev_u64(d, CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE);
    info->max_alloc_bytes = get_dev_u64(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    info->mem_base_align_bits = get_dev_uint(d, CL_DEVICE_MEM_BASE_ADDR_ALIGN);

    info->vec_char = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_CHAR);
    info->vec_short = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_SHORT);
    info->vec_int = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT);
    info->vec_long = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_LONG);
    info->vec_float = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT);
    info->vec_double = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE);
    info->vec_half = get_dev_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF);

    size_t ext_len = 0;
    char *ext = NULL;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS &&
        (ext = calloc(ext_len + 1, 1)) != NULL &&
        clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
        info->fp16 = has_ext(ext, "cl_khr_fp16");
        info->subgroups = has_ext(ext, "cl_khr_subgroups") || has_ext(ext, "cl_intel_subgroups");
        info->int_dot_product = has_ext(ext, "cl_khr_integer_dot_product");
        info->command_buffer = has_ext(ext, "cl_khr_command_buffer");
        info->fp64 = has_ext(ext, "cl_khr_fp64");
    }
    free(ext);
    cl_device_fp_config dfp = 0;
    clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dfp, &dfp, NULL);
    info->fp64 = info->fp64 || dfp != 0;

    cl_command_queue_properties qp = 0;
    clGetDeviceInfo(d, CL_DEVICE_QUEUE_PROPERTIES, sizeof qp, &qp, NULL);
    info->out_of_order_queue = (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    info->profiling = (qp & CL_QUEUE_PROFILING_ENABLE) != 0;
}

/* Finds d in the enumeration: its platform's index and its own, or -1. */
static void find_indices(cl_platform_id p, cl_device_id d, int *pi_out, int *di_out)
{
    *pi_out = *di_out = -1;
    cl_platform_id plats[64];
    cl_uint np = 0;
    if (clGetPlatformIDs(64, plats, &np) != CL_SUCCESS)
        return;
    for (cl_uint pi = 0; pi < np && pi < 64; pi++) {
        cl_device_id devs[256];
        cl_uint nd = 0;
        if (plats[pi] != p ||
            clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 256, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint di = 0; di < nd && di < 256; di++)
            if (devs[di] == d) {
                *pi_out = (int)pi;
                *di_out = (int)di;
            }
    }
}

void clf_device_describe(cl_device_id d, cl_platform_id *platform, struct clf_device_info *info)
{
    cl_platform_id p = NULL;
    clGetDeviceInfo(d, CL_DEVICE_PLATFORM, sizeof p, &p, NULL);
    memset(info, 0, sizeof *info);
    find_indices(p, d, &info->platform_index, &info->device_index);
    probe(p, d, info);
    *platform = p;
}

enum clf_status clf_device_enumerate(struct clf_device_entry **out, size_t *count, char *msg,
                                     size_t msg_size)
{
    enum clf_status st = CLF_OK;
    cl_platform_id *plats = NULL;
    struct clf_device_entry *list = NULL;
    size_t n = 0;
    cl_uint np = 0;

    *out = NULL;
    *count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(msg, msg_size, "no OpenCL platform found (clGetPlatformIDs: %d); "
                 "install an OpenCL driver, e.g. pocl-opencl-icd", (int)err);
        return CLF_E_NO_DEVICE;
    }
    plats = calloc(np, sizeof *plats);
    if (!plats) {
        st = CLF_E_OUT_OF_MEMORY;
        goto done;
    }
    clGetPlatformIDs(np, plats, NULL);
    for (cl_uint pi = 0; pi < np; pi++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || !nd)
            continue;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        struct clf_device_entry *grown = realloc(list, (n + nd) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            if (grown)
                list = grown;
            st = CLF_E_OUT_OF_MEMORY;
            goto done;
        }
        list = grown;
        if (clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS)
            nd = 0;
        for (cl_uint di = 0; di < nd; di++) {
            struct clf_device_entry *e = &list[n++];
            memset(e, 0, sizeof *e);
            e->platform = plats[pi];
            e->device = devs[di];
            e->info.platform_index = (int)pi;
            e->info.device_index = (int)di;
            probe(plats[pi], devs[di], &e->info);
        }
        free(devs);
    }
    if (n == 0) {
        snprintf(msg, msg_size, "%u OpenCL platform(s) but no device", (unsigned)np);
        st = CLF_E_NO_DEVICE;
    }
done:
    free(plats);
    if (st != CLF_OK) {
        if (st == CLF_E_OUT_OF_MEMORY)
            snprintf(msg, msg_size, "out of host memory enumerating devices");
        free(list);
        return st;
    }
    *out = list;
    *count = n;
    return CLF_OK;
}

enum clf_status clf_devices_query(struct clf_device_info **out, size_t *count)
{
    if (!out || !count)
        return CLF_E_INVALID_ARG;
    *out = NULL;
    *count = 0;
    struct clf_device_entry *e = NULL;
    size_t n = 0;
    char msg[256];
    enum clf_status st = clf_device_enumerate(&e, &n, msg, sizeof msg);
    if (st != CLF_OK)
        return st;
    struct clf_device_info *list = calloc(n, sizeof *list);
    if (!list) {
        free(e);
        return CLF_E_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = e[i].info;
    free(e);
    *out = list;
    *count = n;
    return CLF_OK;
}

void clf_devices_free(struct clf_device_info *list)
{
    free(list);
}

const char *clf_device_type_str(enum clf_device_type type)
{
    switch (type) {
    case CLF_DEVICE_CPU: return "cpu";
    case CLF_DEVICE_GPU: return "gpu";
    case CLF_DEVICE_ACCELERATOR: return "accelerator";
    case CLF_DEVICE_OTHER: return "other";
    }
    return "other";
}

const char *clf_device_default_spec(void)
{
    struct clf_env env;
    clf_env_read(&env);
    return env.device && env.device[0] ? env.device : "auto";
}

enum clf_status clf_device_find(const char *spec, struct clf_device_info *out, char *msg,
                                size_t msg_size)
{
    char local[8];
    if (!msg || !msg_size) {
        msg = local;
        msg_size = sizeof local;
    }
    msg[0] = 0;
    if (!out) {
        snprintf(msg, msg_size, "NULL output pointer");
        return CLF_E_INVALID_ARG;
    }
    struct clf_device_info *list = NULL;
    size_t n = 0, pick = 0;
    enum clf_status st = clf_devices_query(&list, &n);
    if (st != CLF_OK) {
        snprintf(msg, msg_size, "%s", st == CLF_E_NO_DEVICE ? "no OpenCL device found"
                                                            : clf_status_str(st));
        return st;
    }
    st = clf_device_match(spec ? spec : clf_device_default_spec(), list, n, &pick, msg, msg_size);
    if (st == CLF_OK)
        *out = list[pick];
    clf_devices_free(list);
    return st;
}

unsigned clf_device_float_lanes(cl_device_id d, const struct clf_device_info *info)
{
    unsigned native = get_dev_uint(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT);
    return native > info->vec_float ? native : info->vec_float;
}
