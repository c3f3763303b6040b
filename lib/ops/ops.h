/* Helpers shared by the op families in lib/ops. */
#ifndef CLF_OPS_OPS_H
#define CLF_OPS_OPS_H

#include "../graph/graph.h"
#include "../runtime/program.h"

/* Sets (buffer, element offset, long4 strides) of t at kernel arguments
 * arg, arg+1, arg+2 (the layout every kernel in cl/ takes, see common.cl). */
cl_int clf_set_tensor_args(cl_kernel k, cl_uint arg, const struct clf_tensor *t);

/* Enqueues k over `dims` global sizes (local sizes NULL: the driver's
 * choice), after the wait events; names `what` in an error. */
enum clf_status clf_launch(struct clf_ctx *ctx, cl_kernel k, cl_uint dims, const size_t *global,
                           const size_t *local, cl_uint n_wait, const cl_event *wait, cl_event *ev,
                           const char *what);

#endif
