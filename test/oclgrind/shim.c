/*
 * LD_PRELOAD shim for test/oclgrind.sh, preloaded ahead of Oclgrind's
 * runtime (it finds Oclgrind's functions with RTLD_NEXT):
 *  - CLF_OCLGRIND_CPU=1: Oclgrind's simulated device reports every device
 *    type at once (CPU | GPU | ACCELERATOR | DEFAULT), and the library,
 *    reading GPU first, takes its non-CPU kernels there. This
 *    clGetDeviceInfo drops the GPU and accelerator bits, so that the same
 *    device takes the CPU kernels (packed GEMM tiles, a row per work-item,
 *    attn_fused_cpu, ...): the suites force those families the same way,
 *    by the context's device type.
 *  - CLF_OCLGRIND_KERNELS=FILE: the name of every kernel launched is
 *    appended to FILE, one a line, so that the script can tell which
 *    kernels its cases ran.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

/* The next definition of NAME (Oclgrind's); ISO C has no object-to-function
 * pointer cast, so POSIX's copy. */
static void next_fn(const char *name, void *fn, size_t size)
{
    void *sym = dlsym(RTLD_NEXT, name);
    memcpy(fn, &sym, size);
}

typedef cl_int (*get_device_info_fn)(cl_device_id, cl_device_info, size_t, void *, size_t *);

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info param,
                                                size_t size, void *value, size_t *size_ret)
{
    static get_device_info_fn next;
    if (!next)
        next_fn("clGetDeviceInfo", &next, sizeof next);
    if (!next)
        return CL_INVALID_OPERATION;
    cl_int st = next(device, param, size, value, size_ret);
    const char *cpu = getenv("CLF_OCLGRIND_CPU");
    if (st == CL_SUCCESS && param == CL_DEVICE_TYPE && value && size >= sizeof(cl_device_type) &&
        cpu && strcmp(cpu, "1") == 0)
        *(cl_device_type *)value &= ~(cl_device_type)(CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR);
    return st;
}

typedef cl_int (*enqueue_fn)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                             const size_t *, cl_uint, const cl_event *, cl_event *);

CL_API_ENTRY cl_int CL_API_CALL clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                                       cl_uint dims, const size_t *offset,
                                                       const size_t *global, const size_t *local,
                                                       cl_uint n_wait, const cl_event *wait,
                                                       cl_event *event)
{
    static enqueue_fn next;
    if (!next)
        next_fn("clEnqueueNDRangeKernel", &next, sizeof next);
    if (!next)
        return CL_INVALID_OPERATION;
    const char *path = getenv("CLF_OCLGRIND_KERNELS");
    char name[256];
    size_t len = 0;
    if (path && clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, &len) ==
                    CL_SUCCESS && len > 0) {
        name[len - 1] = '\n'; /* len counts the NUL */
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, name, len); /* one write: whole lines */
            (void)w;
            close(fd);
        }
    }
    return next(queue, kernel, dims, offset, global, local, n_wait, wait, event);
}
