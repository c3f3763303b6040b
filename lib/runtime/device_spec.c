/*
 * The device spec grammar, shared by the API, `--device` and
 * $CLFORMER_DEVICE (see clf_device_match in clformer.h). Pure: works on a
 * list of probed devices, touches no OpenCL.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "clformer.h"

#define SPEC_MAX 256

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Parses a decimal index; false when too large. */
static bool parse_index(const char *s, size_t *v)
{
    size_t x = 0;
    for (; *s; s++) {
        if (x > 100000)
            return false;
        x = x * 10 + (size_t)(*s - '0');
    }
    *v = x;
    return true;
}

bool clf_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == needle[i])
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

/* Appends "P:D type 'name' (platform)" entries for the devices selected by
 * keep (NULL: all) to msg. */
static void append_list(char *msg, size_t size, const struct clf_device_info *list, size_t count,
                        const bool *keep)
{
    size_t used = strlen(msg);
    bool first = true;
    for (size_t i = 0; i < count && used + 1 < size; i++) {
        if (keep && !keep[i])
            continue;
        int w = snprintf(msg + used, size - used, "%s%d:%d %s '%s' (%s)", first ? "" : ", ",
                         list[i].platform_index, list[i].device_index,
                         clf_device_type_str(list[i].type), list[i].name, list[i].platform_name);
        if (w < 0)
            break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
        first = false;
    }
}

static enum clf_status fail(enum clf_status st, char *msg, size_t size,
                            const struct clf_device_info *list, size_t count, const bool *keep,
                            const char *fmt, const char *spec)
{
    if (!msg || !size)
        return st;
    snprintf(msg, size, fmt, spec);
    if (list && count) {
        size_t used = strlen(msg);
        snprintf(msg + used, size - used, "%s", keep ? "; matching: " : "; devices: ");
        append_list(msg, size, list, count, keep);
    }
    return st;
}

static int type_of_word(const char *w)
{
    if (!strcmp(w, "gpu"))
        return CLF_DEVICE_GPU;
    if (!strcmp(w, "cpu"))
        return CLF_DEVICE_CPU;
    if (!strcmp(w, "accelerator") || !strcmp(w, "acc"))
        return CLF_DEVICE_ACCELERATOR;
    return 0;
}

enum clf_status clf_device_match(const char *spec, const struct clf_device_info *list,
                                 size_t count, size_t *index, char *msg, size_t msg_size)
{
    char s[SPEC_MAX];
    bool keep[64];

    if (msg && msg_size)
        msg[0] = 0;
    if (!spec || !index || (!list && count))
        return fail(CLF_E_INVALID_ARG, msg, msg_size, NULL, 0, NULL, "%s",
                    "NULL argument to clf_device_match");
    while (isspace((unsigned char)*spec))
        spec++;
    size_t len = strlen(spec);
    while (len && isspace((unsigned char)spec[len - 1]))
        len--;
    if (len == 0)
        return fail(CLF_E_INVALID_ARG, msg, msg_size, NULL, 0, NULL, "%s", "empty device spec");
    if (len >= sizeof s)
        return fail(CLF_E_DEVICE_SPEC, msg, msg_size, NULL, 0, NULL, "%s",
                    "device spec too long");
    for (size_t i = 0; i < len; i++)
        s[i] = (char)tolower((unsigned char)spec[i]);
    s[len] = 0;
    if (count == 0)
        return fail(CLF_E_NO_DEVICE, msg, msg_size, NULL, 0, NULL,
                    "no OpenCL device to match '%s'", s);

    /* Optional ":N" suffix, N decimal. */
    bool has_n = false;
    size_t n = 0;
    char *colon = strrchr(s, ':');
    if (colon && all_digits(colon + 1)) {
        if (!parse_index(colon + 1, &n))
            return fail(CLF_E_DEVICE_SPEC, msg, msg_size, list, count, NULL,
                        "device index out of range in '%s'", s);
        has_n = true;
        *colon = 0;
    }

    if (has_n && all_digits(s)) { /* P:D */
        size_t p;
        if (!parse_index(s, &p))
            p = (size_t)-1;
        for (size_t i = 0; i < count; i++)
            if ((size_t)list[i].platform_index == p && (size_t)list[i].device_index == n) {
                *index = i;
                return CLF_OK;
            }
        return fail(CLF_E_DEVICE_SPEC, msg, msg_size, list, count, NULL,
                    "no device at platform:device '%s'", spec);
    }

    if (!has_n && !strcmp(s, "auto")) {
        static const int order[] = {CLF_DEVICE_GPU, CLF_DEVICE_ACCELERATOR, CLF_DEVICE_CPU};
        for (size_t k = 0; k < 3; k++)
            for (size_t i = 0; i < count; i++)
                if ((int)list[i].type == order[k]) {
                    *index = i;
                    return CLF_OK;
                }
        *index = 0;
        return CLF_OK;
    }

    /* A type word, or a name substring. */
    int type = type_of_word(s);
    size_t matches = 0, first = 0, nth = (size_t)-1;
    for (size_t i = 0; i < count; i++) {
        bool m = type ? (int)list[i].type == type
                      : clf_icontains(list[i].name, s) || clf_icontains(list[i].platform_name, s);
        if (i < sizeof keep / sizeof keep[0])
            keep[i] = m;
        if (!m)
            continue;
        if (matches == 0)
            first = i;
        if (has_n && matches == n)
            nth = i;
        matches++;
    }
    if (matches == 0)
        return fail(CLF_E_DEVICE_SPEC, msg, msg_size, list, count, NULL,
                    type ? "no device of type '%s'" : "unknown device spec '%s'", spec);
    if (has_n) {
        if (nth == (size_t)-1)
            return fail(CLF_E_DEVICE_SPEC, msg, msg_size, list,
                        count <= sizeof keep / sizeof keep[0] ? count : 0, keep,
                        "device spec '%s': index past the matching devices", spec);
        *index = nth;
        return CLF_OK;
    }
    if (matches > 1 && !type)
        return fail(CLF_E_DEVICE_SPEC, msg, msg_size, list,
                    count <= sizeof keep / sizeof keep[0] ? count : 0, keep,
                    "ambiguous device spec '%s' (add ':N' to pick the N-th match)", spec);
    *index = first;
    return CLF_OK;
}
