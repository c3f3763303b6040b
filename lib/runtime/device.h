/* Device enumeration and probing (internal side). */
#ifndef CLF_RUNTIME_DEVICE_H
#define CLF_RUNTIME_DEVICE_H

#include "clformer.h"
#include "cl.h"

/* One enumerated device: its handles and probed capabilities. */
struct clf_device_entry {
    cl_platform_id platform;
    cl_device_id device;
    struct clf_device_info info;
};

/* Enumerates every device of every platform. On success *out is a malloc'd
 * array of *count entries (free()). Returns CLF_E_NO_DEVICE when there is
 * no platform or no device; msg receives a reason on failure. */
enum clf_status clf_device_enumerate(struct clf_device_entry **out, size_t *count, char *msg,
                                     size_t msg_size);

/* Probes a device given by handle (a caller's, clf_ctx_wrap_cl): its
 * platform and capabilities; platform_index and device_index are its place
 * in the enumeration, or -1 when it has none (a sub-device). */
void clf_device_describe(cl_device_id d, cl_platform_id *platform, struct clf_device_info *info);

/* True when hay contains needle (lowercase), ignoring hay's case
 * (device_spec.c). */
bool clf_icontains(const char *hay, const char *needle);
/* The float lanes of the device's vector unit: the larger of its preferred
 * and native float vector widths. Intel's CPU runtime prefers 1 (it
 * vectorises across work-items) though its native width is 16 (AVX-512);
 * the CPU kernels' tiles are sized by this, not by the preference. */
unsigned clf_device_float_lanes(cl_device_id d, const struct clf_device_info *info);

/* $CLFORMER_DEVICE when set and not empty, else "auto". */
const char *clf_device_default_spec(void);

#endif
