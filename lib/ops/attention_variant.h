/* Internal side of the sparse attention variants (attention_variant.c). */
#ifndef CLF_OPS_ATTENTION_VARIANT_H
#define CLF_OPS_ATTENTION_VARIANT_H

#include "ops.h"

/* Checks a variant's parameters (the op calls it before recording);
 * CLF_E_INVALID_ARG with the reason in the context's last error. */
enum clf_status clf_attention_variant_check(struct clf_ctx *ctx,
                                            const struct clf_attention_variant *v);

#endif
