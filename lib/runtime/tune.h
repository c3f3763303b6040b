/*
 * Tuning records of the context's device: one JSON object per (family,
 * shape class), e.g. ("gemm", "m3-n4-k3-b0-rc") -> {"provider": "native",
 * "config": 0, "mode": "fast", "ms": {...}}. Kept in memory on the context
 * and in <cache dir>/tune-<hash>.json, where <hash> covers the device name,
 * driver and platform versions, so that a measurement is made once per
 * device. The file (also what clf_tune_export writes):
 *   {"format": "clformer-tune", "version": 1,
 *    "device": {"name": ..., "driver": ..., "platform": ...},
 *    "<family>": {"<key>": record, ...}, ...}
 * A record's "mode" says which candidates were timed: "fast" (those that
 * can win on the device) or "full" (all; records without "mode" were made
 * by earlier versions, which timed all).
 */
#ifndef CLF_RUNTIME_TUNE_H
#define CLF_RUNTIME_TUNE_H

#include <cjson/cJSON.h>

#include "ctx.h"

/* The record of (family, key) that the context's tuning mode accepts (under
 * CLF_TUNE_FULL only one measured in full), or NULL. The pointer stays
 * valid until the next clf_tune_put or import. */
const cJSON *clf_tune_get(struct clf_ctx *ctx, const char *family, const char *key);

/* Stores a record (taking ownership of it, also on failure) and rewrites
 * the file atomically. Counts one more measured class in the stats. */
enum clf_status clf_tune_put(struct clf_ctx *ctx, const char *family, const char *key,
                             cJSON *record);

#endif
