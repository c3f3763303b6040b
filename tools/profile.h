/*
 * Per-op profiles of a graph's latest run (`clformer run --profile`) and
 * Chrome trace-event files (`--trace FILE.json`, viewable in Perfetto or
 * chrome://tracing): one track per queue, one slice per node.
 */
#ifndef CLF_TOOLS_PROFILE_H
#define CLF_TOOLS_PROFILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "clformer.h"

/* Totals of one op (clf_node_info.op). */
struct profile_op {
    char name[32];
    int count;
    double ms, flops, bytes;
};

/* Sums g's node times, FLOPs and bytes by op into ops (at most max, the
 * largest time first); *total receives the summed device ms. Returns the
 * number of ops; nodes without a time are left out. */
int profile_ops(const struct clf_graph *g, struct profile_op *ops, int max, double *total);

/* Prints the table: op, nodes, ms, share, GFLOP/s, GB/s. */
void profile_print(const struct profile_op *ops, int n, double total);

/* The table as a JSON array. */
cJSON *profile_json(const struct profile_op *ops, int n);

/* Writes g's latest run as a Chrome trace-event JSON file (clf_file_write:
 * a failed write leaves a previous file as it was); false, with the
 * reason naming path in msg, on failure or when no node has timings. */
bool profile_write_trace(const struct clf_graph *g, const char *path, char *msg, size_t size);

#endif
