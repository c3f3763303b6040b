/*
 * The auto-tuners' shipped defaults (tune_defaults.c): per device class, a
 * choice for each GEMM shape class and exact-attention size class, so that
 * a device of a known class runs well before (or without) any measurement.
 */
#ifndef CLF_OPS_TUNE_DEFAULTS_H
#define CLF_OPS_TUNE_DEFAULTS_H

#include "ops.h"

/* The shipped choice for the class key of a family ("gemm": "native:N" or
 * "clblast"; "attention": "fused" or "gemm") on ctx's device, or NULL when
 * its device class has none. Callers check the choice fits the problem. */
const char *clf_tune_shipped(const struct clf_ctx *ctx, const char *family, const char *key);

#endif
