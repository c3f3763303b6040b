/*
 * Device groups (clformer.h, "Several devices"): a list spec resolved
 * against clf_devices_query's list with clf_device_match, one context per
 * device. The contexts share nothing (clf_ctx is self-contained: queues,
 * programs, pools, tuning), so members may run from different threads.
 *
 * Grammar: "all" (case-insensitive, blanks around it ignored), or items
 * separated by commas, each a single spec in clf_device_match's grammar
 * ("gpu:1", "0:1", "cpu", a name substring). An empty item ("gpu:0,,gpu:1",
 * a trailing comma) and a device named twice (by the same item or by two
 * different ones: "cpu:0,0:0") are CLF_E_DEVICE_SPEC.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "clformer.h"

struct clf_group {
    int n;
    struct clf_ctx **ctx; /* [n], in the spec's order */
};

/* Appends "; devices: P:D type 'name', ..." to msg. */
static void append_devices(char *msg, size_t size, const struct clf_device_info *list,
                           size_t count)
{
    size_t used = strlen(msg);
    for (size_t i = 0; i < count && used + 1 < size; i++) {
        int w = snprintf(msg + used, size - used, "%s%d:%d %s '%s'", i ? ", " : "; devices: ",
                         list[i].platform_index, list[i].device_index,
                         clf_device_type_str(list[i].type), list[i].name);
        if (w < 0)
            break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
    }
}

/* Writes reason and (when list is given) the devices into msg; returns st. */
static enum clf_status group_fail(enum clf_status st, char *msg, size_t size,
                                  const struct clf_device_info *list, size_t count,
                                  const char *reason)
{
    if (msg && size) {
        snprintf(msg, size, "%s", reason);
        append_devices(msg, size, list, count);
    }
    return st;
}

void clf_group_destroy(struct clf_group *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++)
        clf_ctx_destroy(g->ctx[i]);
    free(g->ctx);
    free(g);
}

int clf_group_size(const struct clf_group *g)
{
    return g ? g->n : 0;
}

struct clf_ctx *clf_group_ctx(struct clf_group *g, int i)
{
    return g && i >= 0 && i < g->n ? g->ctx[i] : NULL;
}

/* The spec without surrounding blanks, lower-cased, equal to "all"? */
static bool is_all(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (tolower((unsigned char)s[0]) != 'a' || tolower((unsigned char)s[1]) != 'l' ||
        tolower((unsigned char)s[2]) != 'l')
        return false;
    for (s += 3; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

/* Resolves spec into indices of list (malloc'd *idx, *n of them). */
static enum clf_status resolve(const char *spec, const struct clf_device_info *list, size_t count,
                               size_t **idx, int *n, char *msg, size_t msg_size)
{
    char reason[512];
    size_t items = 1;
    for (const char *c = spec; *c; c++)
        items += *c == ',';
    if (is_all(spec))
        items = count;
    size_t *out = malloc((items ? items : 1) * sizeof *out);
    char *copy = malloc(strlen(spec) + 1);
    if (!out || !copy) {
        free(out);
        free(copy);
        return group_fail(CLF_E_OUT_OF_MEMORY, msg, msg_size, NULL, 0,
                          "no host memory for a device group");
    }
    if (is_all(spec)) {
        for (size_t i = 0; i < count; i++)
            out[i] = i;
        free(copy);
        *idx = out;
        *n = (int)count;
        return CLF_OK;
    }
    strcpy(copy, spec);
    enum clf_status st = CLF_OK;
    size_t k = 0;
    char *item = copy;
    for (size_t it = 0; st == CLF_OK && it < items; it++) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = 0;
        const char *t = item;
        while (isspace((unsigned char)*t))
            t++;
        if (!*t) {
            snprintf(reason, sizeof reason, "empty item %zu in the device list '%s'", it + 1,
                     spec);
            st = group_fail(CLF_E_DEVICE_SPEC, msg, msg_size, list, count, reason);
            break;
        }
        size_t j = 0;
        st = clf_device_match(t, list, count, &j, msg, msg_size);
        if (st == CLF_E_INVALID_ARG) /* an item of blanks was caught above */
            st = CLF_E_DEVICE_SPEC;
        for (size_t e = 0; st == CLF_OK && e < k; e++)
            if (out[e] == j) {
                snprintf(reason, sizeof reason,
                         "device %d:%d is named twice in the device list '%s' (items %zu and %zu)",
                         list[j].platform_index, list[j].device_index, spec, e + 1, it + 1);
                st = group_fail(CLF_E_DEVICE_SPEC, msg, msg_size, list, count, reason);
            }
        if (st == CLF_OK)
            out[k++] = j;
        item = comma ? comma + 1 : item + strlen(item);
    }
    free(copy);
    if (st != CLF_OK) {
        free(out);
        return st;
    }
    *idx = out;
    *n = (int)k;
    return CLF_OK;
}

enum clf_status clf_group_create(const char *spec, const struct clf_ctx_params *p,
                                 struct clf_group **out, char *msg, size_t msg_size)
{
    if (msg && msg_size)
        msg[0] = 0;
    if (!out)
        return group_fail(CLF_E_INVALID_ARG, msg, msg_size, NULL, 0, "NULL output pointer");
    *out = NULL;
    if (!spec)
        return group_fail(CLF_E_INVALID_ARG, msg, msg_size, NULL, 0, "NULL device list");
    const char *s = spec;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return group_fail(CLF_E_INVALID_ARG, msg, msg_size, NULL, 0, "empty device list");

    struct clf_device_info *list = NULL;
    size_t count = 0;
    enum clf_status st = clf_devices_query(&list, &count);
    if (st != CLF_OK) {
        clf_devices_free(list);
        return group_fail(st, msg, msg_size, NULL, 0, "no OpenCL device");
    }
    size_t *idx = NULL;
    int n = 0;
    st = resolve(spec, list, count, &idx, &n, msg, msg_size);
    struct clf_group *g = NULL;
    if (st == CLF_OK) {
        g = calloc(1, sizeof *g);
        if (g)
            g->ctx = calloc((size_t)n, sizeof *g->ctx);
        if (!g || !g->ctx)
            st = group_fail(CLF_E_OUT_OF_MEMORY, msg, msg_size, NULL, 0,
                            "no host memory for a device group");
    }
    for (int i = 0; st == CLF_OK && i < n; i++) {
        /* the member's own spec: its platform:device indices */
        const struct clf_device_info *dev = &list[idx[i]];
        char dspec[32];
        snprintf(dspec, sizeof dspec, "%d:%d", dev->platform_index, dev->device_index);
        struct clf_ctx_params cp = clf_ctx_params_default();
        st = clf_abi_import(NULL, "clf_ctx_params", p, &cp, sizeof cp);
        cp.device = dspec;
        if (st == CLF_OK)
            st = clf_ctx_create(&cp, &g->ctx[i]);
        if (st != CLF_OK) {
            char reason[512];
            snprintf(reason, sizeof reason, "cannot create a context on device %s '%s': %s",
                     dspec, dev->name, clf_status_str(st));
            group_fail(st, msg, msg_size, NULL, 0, reason);
        } else {
            g->n = i + 1;
        }
    }
    free(idx);
    clf_devices_free(list);
    if (st != CLF_OK) {
        clf_group_destroy(g);
        return st;
    }
    *out = g;
    return CLF_OK;
}
