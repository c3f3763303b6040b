/* The one place that includes the OpenCL headers: the API level is 1.2,
 * the portability floor (NVIDIA exposes only 1.2). */
#ifndef CLF_RUNTIME_CL_H
#define CLF_RUNTIME_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#endif
