/**
 * @file clformer/opencl.h
 * @brief OpenCL interoperation: a context over a caller's cl_context,
 * device and command queue, and a tensor over a caller's cl_mem.
 *
 * Part of the public API, but not included by clformer.h: it includes
 * OpenCL's own header, <CL/cl.h> (so the caller compiles with OpenCL's
 * headers, and defines CL_TARGET_OPENCL_VERSION as any OpenCL program
 * does). Include it after or instead of clformer.h.
 */
#ifndef CLFORMER_OPENCL_H
#define CLFORMER_OPENCL_H

#include <CL/cl.h>

#include "core.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup opencl OpenCL interoperation
 * clformer on a caller's OpenCL objects. clformer retains each object it
 * is given and releases it when done (the context when it is freed, a
 * buffer when its last tensor is destroyed); the caller keeps its own
 * references and may release them at any time after the call.
 * @{
 */

/**
 * Creates a context over a caller's OpenCL context, device and command
 * queue: every command clformer enqueues goes to that queue (an in-order
 * queue orders them with the caller's own; an out-of-order one is used as
 * clformer's own would be), and clformer's calls that return results
 * (clf_graph_run, clf_tensor_read, ...) block until their commands have
 * finished, as on any context. params as clf_ctx_create's (NULL: the
 * defaults), except that `device` is not used, profiling follows the
 * queue's CL_QUEUE_PROFILING_ENABLE, and `queues` must be 0 or 1. The
 * queue must belong to the context and the device (CLF_E_INVALID_ARG
 * otherwise, as for a NULL object). The context is freed as any other
 * (clf_ctx_destroy, see @ref context "Contexts"), releasing the three.
 */
CLF_API enum clf_status clf_ctx_wrap_cl(const struct clf_ctx_params *params,
                                        cl_context context, cl_device_id device,
                                        cl_command_queue queue, struct clf_ctx **out);

/**
 * Creates a dense row-major tensor over a caller's buffer: its elements
 * start `offset` elements into mem and must fit in it (CLF_E_SHAPE
 * otherwise); dtype, ndim and shape as clf_tensor_create. mem must be a
 * buffer of ctx's OpenCL context (CLF_E_INVALID_ARG otherwise). The tensor
 * is ordinary in every other way: views of it may address the whole
 * buffer, ops read and write it, and it keeps ctx alive. The buffer is
 * retained until the tensor and its views are destroyed, and never freed
 * or reused by clformer. Writes the caller makes to the buffer with its
 * own commands must be complete before the clformer call that reads it;
 * since clformer cannot see them, what it derives from a buffer's
 * contents (a weight packed for its GEMM kernels) is made again at every
 * use: for weights, prefer a tensor of clformer's own (clf_tensor_create,
 * clf_tensor_write).
 */
CLF_API enum clf_status clf_tensor_wrap_cl(struct clf_ctx *ctx, cl_mem mem, enum clf_dtype dtype,
                                           int ndim, const int64_t *shape, int64_t offset,
                                           struct clf_tensor **out);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_OPENCL_H */
