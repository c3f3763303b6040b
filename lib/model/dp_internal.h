/* What the data-parallel runner (dp.c) shows its tests beyond the public
 * API (include/clformer/parallel.h). */
#ifndef CLF_MODEL_DP_INTERNAL_H
#define CLF_MODEL_DP_INTERNAL_H

#include <stdint.h>

#include "clformer.h"

/* The graphs member i (0 .. clf_dp_members - 1) has recorded so far, one
 * per shape it ran without a kept graph (first seen, or evicted since);
 * 0 for a NULL dp or another i. */
uint64_t clf_dp_recorded(const struct clf_dp *dp, int i);

#endif
