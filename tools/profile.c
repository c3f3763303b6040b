/* Per-op profiles and Chrome traces of a graph's latest run (profile.h). */
#include "profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int profile_ops(const struct clf_graph *g, struct profile_op *ops, int max, double *total)
{
    int n = 0;
    *total = 0;
    for (size_t i = 0; i < clf_graph_node_count(g); i++) {
        struct clf_node_info info = {.size = sizeof info};
        if (clf_graph_node_info(g, i, &info) != CLF_OK || !info.timed)
            continue;
        int k = 0;
        while (k < n && strcmp(ops[k].name, info.op))
            k++;
        if (k == n) {
            if (n == max)
                continue;
            memset(&ops[n], 0, sizeof ops[n]);
            snprintf(ops[n].name, sizeof ops[n].name, "%.31s", info.op);
            n++;
        }
        ops[k].count++;
        ops[k].ms += info.time_ms;
        ops[k].flops += info.flops;
        ops[k].bytes += info.bytes;
        *total += info.time_ms;
    }
    for (int i = 0; i < n; i++) /* by time, largest first */
        for (int j = i + 1; j < n; j++)
            if (ops[j].ms > ops[i].ms) {
                struct profile_op t = ops[i];
                ops[i] = ops[j];
                ops[j] = t;
            }
    return n;
}

void profile_print(const struct profile_op *ops, int n, double total)
{
    printf("  %-14s %5s %11s %6s %10s %9s\n", "op", "nodes", "ms", "share", "GFLOP/s", "GB/s");
    for (int i = 0; i < n; i++) {
        char gf[16] = "-";
        if (ops[i].flops > 0 && ops[i].ms > 0)
            snprintf(gf, sizeof gf, "%.1f", ops[i].flops / (ops[i].ms * 1e6));
        printf("  %-14s %5d %11.3f %5.1f%% %10s %9.1f\n", ops[i].name, ops[i].count, ops[i].ms,
               total > 0 ? 100 * ops[i].ms / total : 0.0, gf,
               ops[i].ms > 0 ? ops[i].bytes / (ops[i].ms * 1e6) : 0.0);
    }
}

cJSON *profile_json(const struct profile_op *ops, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", ops[i].name);
        cJSON_AddNumberToObject(e, "count", ops[i].count);
        cJSON_AddNumberToObject(e, "ms", ops[i].ms);
        cJSON_AddNumberToObject(e, "flops", ops[i].flops);
        cJSON_AddNumberToObject(e, "bytes", ops[i].bytes);
        if (ops[i].ms > 0) {
            cJSON_AddNumberToObject(e, "gflops", ops[i].flops / (ops[i].ms * 1e6));
            cJSON_AddNumberToObject(e, "gbytes_per_s", ops[i].bytes / (ops[i].ms * 1e6));
        }
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

bool profile_write_trace(const struct clf_graph *g, const char *path, char *msg, size_t size)
{
    cJSON *root = cJSON_CreateObject(), *ev = cJSON_AddArrayToObject(root, "traceEvents");
    cJSON_AddStringToObject(root, "displayTimeUnit", "ms");
    int max_queue = -1;
    for (size_t i = 0; i < clf_graph_node_count(g); i++) {
        struct clf_node_info t = {.size = sizeof t};
        if (clf_graph_node_info(g, i, &t) != CLF_OK || !t.timed)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t.op);
        cJSON_AddStringToObject(e, "cat", "node");
        cJSON_AddStringToObject(e, "ph", "X");
        cJSON_AddNumberToObject(e, "ts", t.start_ms * 1e3); /* microseconds */
        cJSON_AddNumberToObject(e, "dur", (t.end_ms - t.start_ms) * 1e3);
        cJSON_AddNumberToObject(e, "pid", 1);
        cJSON_AddNumberToObject(e, "tid", t.queue);
        cJSON *args = cJSON_AddObjectToObject(e, "args");
        cJSON_AddNumberToObject(args, "node", (double)i);
        cJSON_AddStringToObject(args, "desc", t.desc);
        cJSON_AddNumberToObject(args, "flops", t.flops);
        cJSON_AddNumberToObject(args, "bytes", t.bytes);
        cJSON_AddItemToArray(ev, e);
        max_queue = t.queue > max_queue ? t.queue : max_queue;
    }
    for (int q = 0; q <= max_queue; q++) { /* track names */
        cJSON *m = cJSON_CreateObject(), *args;
        char name[32];
        snprintf(name, sizeof name, "queue %d", q);
        cJSON_AddStringToObject(m, "name", "thread_name");
        cJSON_AddStringToObject(m, "ph", "M");
        cJSON_AddNumberToObject(m, "pid", 1);
        cJSON_AddNumberToObject(m, "tid", q);
        args = cJSON_AddObjectToObject(m, "args");
        cJSON_AddStringToObject(args, "name", name);
        cJSON_AddItemToArray(ev, m);
    }
    char *text = max_queue >= 0 ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        snprintf(msg, size, "%s: %s", path,
                 max_queue >= 0 ? "no memory for the trace" : "no node has timings");
        return false;
    }
    bool ok = clf_file_write(path, text, strlen(text), msg, size) == CLF_OK;
    free(text);
    return ok;
}
