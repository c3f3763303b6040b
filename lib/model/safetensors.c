/*
 * safetensors files: an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON
 *   {"__metadata__": {str: str},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * then the data buffer (offsets relative to its start).
 *
 * Open reads and checks the whole header (length against the file size
 * before anything is allocated, every entry's dtype, shape and byte range)
 * and keeps the file descriptor; tensors are read later with pread, straight
 * into the caller's array. The file is not mapped: a mapping of a file that
 * shrinks under us turns the next access into SIGBUS (and the library never
 * aborts), while a short pread is an ordinary CLF_E_IO; a tensor is read
 * once at load, so a mapping would save nothing but a copy.
 *
 * Tensors with more than CLF_MAX_DIMS dimensions are checked like the others
 * and the file opens; clf_safetensors_shape and clf_safetensors_read report
 * CLF_E_FORMAT for them only, so that a model can use the rest of a file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io.h"

/* The reference implementation's limit on the header size. */
#define ST_MAX_HEADER 100000000u

/* Largest integer a JSON number (a double in cJSON) holds exactly: 2^53.
 * Offsets and sizes beyond it are rejected (read) or refused (write). */
#define ST_MAX_EXACT 9007199254740992.0
#define ST_MAX_EXACT_U ((uint64_t)1 << 53)

struct st_dtype {
    const char *name;
    unsigned size;
};

enum { ST_F64, ST_F32, ST_F16, ST_BF16 }; /* the first four convert to float32 */

static const struct st_dtype st_dtypes[] = {
    {"F64", 8},  {"F32", 4},  {"F16", 2},  {"BF16", 2},    {"I64", 8},     {"I32", 4},
    {"I16", 2},  {"I8", 1},   {"U8", 1},   {"BOOL", 1},    {"U64", 8},     {"U32", 4},
    {"U16", 2},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

struct st_tensor {
    char *name;
    int dtype;                    /* index into st_dtypes */
    int ndim;                     /* may exceed CLF_MAX_DIMS */
    int64_t shape[CLF_MAX_DIMS];  /* the first min(ndim, CLF_MAX_DIMS) */
    uint64_t numel;
    uint64_t begin;               /* byte offset in the data buffer */
};

/* Size of a handle's message buffer (clf_safetensors_last_error). */
#define ST_MSG_SIZE 1024

struct clf_safetensors {
    /* The message of the latest failure of a call on the handle
     * (ST_MSG_SIZE bytes; separate, so that queries on a const handle can
     * write it). */
    char *error;
    char *path;
    int fd;
    uint64_t data_off;            /* 8 + header length */
    struct st_tensor *t;          /* file order */
    size_t n;
    struct st_tensor **sorted;    /* by name, for lookups */
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Offset of the first byte that breaks UTF-8 (or is NUL), or n. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

/* A JSON number that is a non-negative integer: 1 and *out set; 0 when not
 * such a number; 2 when an integer too large to be exact (beyond 2^53). */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0))
        return 0;
    if (d > ST_MAX_EXACT)
        return 2;
    uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return 0;
    *out = u;
    return 1;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const struct st_tensor *x = *(const struct st_tensor *const *)a;
    const struct st_tensor *y = *(const struct st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static const struct st_tensor *st_find(const struct clf_safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->sorted[mid]->name);
        if (c == 0)
            return st->sorted[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Prints a shape as [2, 3] (the first CLF_MAX_DIMS dims, then "..."). */
static void shape_str(char *buf, size_t size, const struct st_tensor *t)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    int shown = t->ndim < CLF_MAX_DIMS ? t->ndim : CLF_MAX_DIMS;
    for (int d = 0; d < shown && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
    if (k < size)
        snprintf(buf + k, size - k, t->ndim > shown ? ", ...]" : "]");
}

void clf_safetensors_close(struct clf_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->t[i].name);
    free(st->t);
    free(st->sorted);
    if (st->fd >= 0)
        close(st->fd);
    free(st->path);
    free(st->error);
    free(st);
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */
/* ------------------------------------------------------------------------ */

/* Checks one tensor entry and fills *t (name not yet set). */
static enum clf_status parse_entry(struct clf_msg *m, const char *path, const cJSON *e,
                                   uint64_t data_size, struct st_tensor *t)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': entry is not a JSON object",
                        path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dtype || !shape || !offs)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': entry has no \"%s\"", path,
                        name, !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

    if (!cJSON_IsString(dtype))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': \"dtype\" is not a string",
                        path, name);
    t->dtype = -1;
    for (size_t k = 0; k < sizeof st_dtypes / sizeof st_dtypes[0]; k++)
        if (!strcmp(dtype->valuestring, st_dtypes[k].name))
            t->dtype = (int)k;
    if (t->dtype < 0)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': unknown dtype '%.40s'", path,
                        name, dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': \"shape\" is not an array",
                        path, name);
    t->ndim = 0;
    t->numel = 1;
    bool overflow = false;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape)
    {
        uint64_t v = 0;
        int r = json_uint(dim, &v);
        if (r == 0)
            return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: tensor '%.200s': dimension %d is not a non-negative integer",
                            path, name, t->ndim);
        if (r == 2)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': dimension %d is too large",
                            path, name, t->ndim);
        if (t->ndim < CLF_MAX_DIMS)
            t->shape[t->ndim] = (int64_t)v;
        t->ndim++;
        if (!overflow && !clf_io_mul_u64(t->numel, v, &t->numel))
            overflow = true;
    }
    uint64_t bytes = 0;
    if (overflow || !clf_io_mul_u64(t->numel, st_dtypes[t->dtype].size, &bytes))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s': the shape has too many elements",
                        path, name);

    uint64_t b = 0, en = 0;
    int rb = 0, re = 0;
    if (cJSON_IsArray(offs) && cJSON_GetArraySize(offs) == 2) {
        rb = json_uint(cJSON_GetArrayItem(offs, 0), &b);
        re = json_uint(cJSON_GetArrayItem(offs, 1), &en);
    }
    if (rb == 0 || re == 0)
        return clf_msg_fail(m, CLF_E_FORMAT,
                        "%s: tensor '%.200s': \"data_offsets\" is not a pair of non-negative "
                        "integers",
                        path, name);
    if (rb == 2 || re == 2 || en > data_size || b > data_size) {
        if (rb == 1 && re == 1)
            return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] beyond the data (%" PRIu64 " bytes)",
                            path, name, b, en, data_size);
        return clf_msg_fail(m, CLF_E_FORMAT,
                        "%s: tensor '%.200s': data_offsets beyond the data (%" PRIu64 " bytes)",
                        path, name, data_size);
    }
    if (b > en)
        return clf_msg_fail(m, CLF_E_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] are reversed",
                        path, name, b, en);
    if (en - b != bytes) {
        char s[128];
        shape_str(s, sizeof s, t);
        return clf_msg_fail(m, CLF_E_FORMAT,
                        "%s: tensor '%.200s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] hold %" PRIu64 " bytes, shape %s of %s needs %" PRIu64,
                        path, name, b, en, en - b, s, st_dtypes[t->dtype].name, bytes);
    }
    t->begin = b;
    return CLF_OK;
}

/* Checks "__metadata__": an object of strings. */
static enum clf_status check_metadata(struct clf_msg *m, const char *path, const cJSON *meta)
{
    if (!cJSON_IsObject(meta))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    const cJSON *v;
    cJSON_ArrayForEach(v, meta)
    {
        if (!cJSON_IsString(v))
            return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: \"__metadata__\" value '%.200s' is not a string", path,
                            v->string);
    }
    return CLF_OK;
}

enum clf_status clf_safetensors_open(const char *path, struct clf_safetensors **out,
                                     char *msg, size_t msg_size)
{
    struct clf_msg msg_buf = clf_msg_init(msg, msg_size), *m = &msg_buf;
    if (out)
        *out = NULL;
    if (!path || !out)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "clf_safetensors_open: NULL %s",
                        !path ? "path" : "out");

    enum clf_status st = CLF_OK;
    char *header = NULL;
    cJSON *root = NULL;
    struct clf_safetensors *sf = calloc(1, sizeof *sf);
    if (!sf)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
    sf->fd = -1;
    sf->path = strdup(path);
    sf->error = calloc(1, ST_MSG_SIZE);
    if (!sf->path || !sf->error) {
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
        goto fail;
    }
    uint64_t size = 0;
    sf->fd = clf_io_open_read(m, path, 0, &size);
    if (sf->fd < 0) {
        st = CLF_E_IO;
        goto fail;
    }
    if (size < 8) {
        st = clf_msg_fail(m, CLF_E_FORMAT,
                      "%s: %" PRIu64 " bytes, too short for a safetensors file (8-byte header "
                      "length)",
                      path, size);
        goto fail;
    }
    unsigned char len8[8];
    if ((st = clf_io_pread(m, sf->fd, path, len8, 8, 0, "the header length")) != CLF_OK)
        goto fail;
    uint64_t n = clf_io_le64(len8);
    if (n > size - 8) {
        st = clf_msg_fail(m, CLF_E_FORMAT,
                      "%s: header length %" PRIu64 " beyond the file (%" PRIu64
                      " bytes after the length)",
                      path, n, size - 8);
        goto fail;
    }
    if (n > ST_MAX_HEADER) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %u",
                      path, n, ST_MAX_HEADER);
        goto fail;
    }
    header = malloc((size_t)n + 1);
    if (!header) {
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the header", path);
        goto fail;
    }
    if ((st = clf_io_pread(m, sf->fd, path, header, (size_t)n, 8, "the header")) != CLF_OK)
        goto fail;
    header[n] = 0;
    sf->data_off = 8 + n;
    uint64_t data_size = size - sf->data_off;

    size_t bad = utf8_check((const unsigned char *)header, (size_t)n);
    if (bad != (size_t)n) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header is not UTF-8 text (bad byte 0x%02x at %zu)",
                      path, (unsigned char)header[bad], bad);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(header, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - header) : 0;
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header is not valid JSON (error near byte %zu)",
                      path, at);
        goto fail;
    }
    for (const char *p = end; p < header + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header has text after the JSON (byte %zu)",
                          path, (size_t)(p - header));
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }

    size_t count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (!strcmp(e->string, "__metadata__")) {
            if ((st = check_metadata(m, path, e)) != CLF_OK)
                goto fail;
        } else {
            count++;
        }
    }
    sf->t = calloc(count ? count : 1, sizeof *sf->t);
    sf->sorted = calloc(count ? count : 1, sizeof *sf->sorted);
    if (!sf->t || !sf->sorted) {
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for %zu tensors", path, count);
        goto fail;
    }
    bool seen_metadata = false;
    cJSON_ArrayForEach(e, root)
    {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_metadata) {
                st = clf_msg_fail(m, CLF_E_FORMAT, "%s: \"__metadata__\" appears twice", path);
                goto fail;
            }
            seen_metadata = true;
            continue;
        }
        struct st_tensor *t = &sf->t[sf->n];
        if ((st = parse_entry(m, path, e, data_size, t)) != CLF_OK)
            goto fail;
        t->name = strdup(e->string);
        if (!t->name) {
            st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
            goto fail;
        }
        sf->sorted[sf->n] = t;
        sf->n++;
    }
    if (sf->n > 1)
        qsort(sf->sorted, sf->n, sizeof *sf->sorted, cmp_tensor_name);
    for (size_t i = 1; i < sf->n; i++)
        if (!strcmp(sf->sorted[i - 1]->name, sf->sorted[i]->name)) {
            st = clf_msg_fail(m, CLF_E_FORMAT, "%s: tensor '%.200s' appears twice", path,
                          sf->sorted[i]->name);
            goto fail;
        }
    cJSON_Delete(root);
    free(header);
    *out = sf;
    return CLF_OK;

fail:
    cJSON_Delete(root);
    free(header);
    clf_safetensors_close(sf);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Queries and reads                                                        */
/* ------------------------------------------------------------------------ */

/* Where a call on st reports a failure: its last error. */
static struct clf_msg st_msg(const struct clf_safetensors *st)
{
    return (struct clf_msg){st->error, ST_MSG_SIZE};
}

const char *clf_safetensors_last_error(const struct clf_safetensors *st)
{
    return st ? st->error : "no safetensors file";
}

size_t clf_safetensors_count(const struct clf_safetensors *st)
{
    return st ? st->n : 0;
}

const char *clf_safetensors_name(const struct clf_safetensors *st, size_t i)
{
    return st && i < st->n ? st->t[i].name : NULL;
}

/* The tensor called name, with at most CLF_MAX_DIMS dims, or an error. */
static enum clf_status lookup(const struct clf_safetensors *st, const char *name,
                              const struct st_tensor **out)
{
    struct clf_msg m = st_msg(st);
    const struct st_tensor *t = st_find(st, name);
    if (!t)
        return clf_msg_fail(&m, CLF_E_FORMAT, "%s: no tensor '%.200s'", st->path, name);
    if (t->ndim > CLF_MAX_DIMS)
        return clf_msg_fail(&m, CLF_E_FORMAT,
                        "%s: tensor '%.200s' has %d dimensions, more than CLF_MAX_DIMS (%d)",
                        st->path, name, t->ndim, CLF_MAX_DIMS);
    *out = t;
    return CLF_OK;
}

enum clf_status clf_safetensors_shape(const struct clf_safetensors *st, const char *name,
                                      int *ndim, int64_t shape[CLF_MAX_DIMS], const char **dtype)
{
    if (!st)
        return CLF_E_INVALID_ARG;
    struct clf_msg m = st_msg(st);
    if (!name || !ndim || !shape)
        return clf_msg_fail(&m, CLF_E_INVALID_ARG, "clf_safetensors_shape: NULL %s",
                        !name ? "name" : !ndim ? "ndim" : "shape");
    const struct st_tensor *t;
    enum clf_status s = lookup(st, name, &t);
    if (s != CLF_OK)
        return s;
    *ndim = t->ndim;
    for (int d = 0; d < CLF_MAX_DIMS; d++)
        shape[d] = d < t->ndim ? t->shape[d] : 0;
    if (dtype)
        *dtype = st_dtypes[t->dtype].name;
    return CLF_OK;
}

enum clf_status clf_safetensors_read(struct clf_safetensors *st, const char *name, float *dst,
                                     size_t count)
{
    if (!st)
        return CLF_E_INVALID_ARG;
    struct clf_msg m = st_msg(st);
    if (!name || (!dst && count > 0))
        return clf_msg_fail(&m, CLF_E_INVALID_ARG, "clf_safetensors_read: NULL %s",
                        !name ? "name" : "dst");
    const struct st_tensor *t;
    enum clf_status s = lookup(st, name, &t);
    if (s != CLF_OK)
        return s;
    const char *dt = st_dtypes[t->dtype].name;
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
        return clf_msg_fail(&m, CLF_E_FORMAT,
                        "%s: tensor '%.200s' has dtype %s; only F32, F16, BF16 and F64 convert "
                        "to float32",
                        st->path, name, dt);
    if ((uint64_t)count != t->numel)
        return clf_msg_fail(&m, CLF_E_SHAPE,
                        "%s: tensor '%.200s' has %" PRIu64 " elements, count is %zu", st->path,
                        name, t->numel, count);
    uint64_t off = st->data_off + t->begin;
    char what[256];
    snprintf(what, sizeof what, "tensor '%.200s'", name);

    if (t->dtype == ST_F32) {
        s = clf_io_pread(&m, st->fd, st->path, dst, count * 4, off, what);
        if (s == CLF_OK && !clf_io_host_le())
            clf_io_swap32(dst, count);
        return s;
    }
    unsigned size = st_dtypes[t->dtype].size;
    unsigned char buf[16384];
    size_t per = sizeof buf / size;
    for (size_t i = 0; i < count;) {
        size_t k = count - i < per ? count - i : per;
        s = clf_io_pread(&m, st->fd, st->path, buf, k * size, off + (uint64_t)i * size,
                         what);
        if (s != CLF_OK)
            return s;
        for (size_t j = 0; j < k; j++) {
            const unsigned char *p = buf + j * size;
            if (t->dtype == ST_F16) {
                dst[i + j] = clf_f16_to_f32(clf_io_le16(p));
            } else if (t->dtype == ST_BF16) {
                uint32_t bits = (uint32_t)clf_io_le16(p) << 16;
                memcpy(&dst[i + j], &bits, 4);
            } else { /* F64, rounded to nearest */
                uint64_t bits = clf_io_le64(p);
                double d;
                memcpy(&d, &bits, 8);
                dst[i + j] = (float)d;
            }
        }
        i += k;
    }
    return CLF_OK;
}

/* ------------------------------------------------------------------------ */
/* Write                                                                    */
/* ------------------------------------------------------------------------ */

/* A growing string. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
    char num[32];
    int k = snprintf(num, sizeof num, "%" PRIu64, v);
    sb_put(b, num, (size_t)k);
}

/* A JSON string literal of UTF-8 text s. */
static void sb_json_string(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_entry_name(const void *a, const void *b)
{
    const struct clf_safetensors_entry *x = *(const struct clf_safetensors_entry *const *)a;
    const struct clf_safetensors_entry *y = *(const struct clf_safetensors_entry *const *)b;
    return strcmp(x->name, y->name);
}

/* Checks the entries: names (UTF-8, unique, not "__metadata__"), shapes,
 * data pointers. */
static enum clf_status check_entries(struct clf_msg *m, const char *path,
                                     const struct clf_safetensors_entry *e, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!e[i].name)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: entry %zu has a NULL name", path, i);
        size_t len = strlen(e[i].name);
        if (utf8_check((const unsigned char *)e[i].name, len) != len)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: entry %zu: name is not UTF-8", path, i);
        if (!strcmp(e[i].name, "__metadata__"))
            return clf_msg_fail(m, CLF_E_INVALID_ARG,
                            "%s: entry %zu: the name \"__metadata__\" is reserved", path, i);
        if (e[i].ndim < 0 || e[i].ndim > CLF_MAX_DIMS)
            return clf_msg_fail(m, CLF_E_INVALID_ARG,
                            "%s: tensor '%.200s': ndim %d is outside 0..%d", path, e[i].name,
                            e[i].ndim, CLF_MAX_DIMS);
        if (e[i].ndim > 0 && !e[i].shape)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: tensor '%.200s': NULL shape", path,
                            e[i].name);
        uint64_t numel = 1, bytes;
        for (int d = 0; d < e[i].ndim; d++) {
            if (e[i].shape[d] < 0)
                return clf_msg_fail(m, CLF_E_INVALID_ARG,
                                "%s: tensor '%.200s': dimension %d is negative", path, e[i].name,
                                d);
            if (!clf_io_mul_u64(numel, (uint64_t)e[i].shape[d], &numel))
                return clf_msg_fail(m, CLF_E_INVALID_ARG,
                                "%s: tensor '%.200s': too many elements", path, e[i].name);
        }
        if (!clf_io_mul_u64(numel, 4, &bytes) || bytes > SIZE_MAX || bytes > ST_MAX_EXACT_U)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: tensor '%.200s': too many elements",
                            path, e[i].name);
        if (numel > 0 && !e[i].data)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: tensor '%.200s': NULL data", path,
                            e[i].name);
    }
    if (count < 2)
        return CLF_OK;
    const struct clf_safetensors_entry **sorted = malloc(count * sizeof *sorted);
    if (!sorted)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
    for (size_t i = 0; i < count; i++)
        sorted[i] = &e[i];
    qsort(sorted, count, sizeof *sorted, cmp_entry_name);
    enum clf_status st = CLF_OK;
    for (size_t i = 1; i < count && st == CLF_OK; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name))
            st = clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: tensor '%.200s' appears twice", path,
                          sorted[i]->name);
    free(sorted);
    return st;
}

static uint64_t entry_numel(const struct clf_safetensors_entry *e)
{
    uint64_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= (uint64_t)e->shape[d];
    return n;
}

enum clf_status clf_safetensors_write(const char *path,
                                      const struct clf_safetensors_entry *entries, size_t count,
                                      char *msg, size_t msg_size)
{
    struct clf_msg msg_buf = clf_msg_init(msg, msg_size), *m = &msg_buf;
    if (!path || (!entries && count > 0))
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "clf_safetensors_write: NULL %s",
                        !path ? "path" : "entries");
    enum clf_status st = check_entries(m, path, entries, count);
    if (st != CLF_OK)
        return st;

    /* Header: the entries in the given order, contiguous offsets, padded
     * with spaces to a multiple of 8 (so that the data starts aligned). */
    struct sbuf h = {0};
    sb_str(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t bytes = entry_numel(&entries[i]) * 4;
        sb_str(&h, ",");
        sb_json_string(&h, entries[i].name);
        sb_str(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < entries[i].ndim; d++) {
            if (d)
                sb_str(&h, ",");
            sb_u64(&h, (uint64_t)entries[i].shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_u64(&h, off);
        sb_str(&h, ",");
        if (off + bytes < off || off + bytes > ST_MAX_EXACT_U) {
            free(h.s);
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: the tensors are too large together",
                            path);
        }
        off += bytes;
        sb_u64(&h, off);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    while (!h.oom && h.len % 8)
        sb_str(&h, " ");
    if (h.oom) {
        free(h.s);
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the header", path);
    }

    unsigned char len8[8];
    clf_io_put_le64(len8, (uint64_t)h.len);
    struct clf_io_writer w;
    if ((st = clf_io_writer_open(m, &w, path, CLF_FILE_STREAM)) != CLF_OK) {
        free(h.s);
        return st;
    }
    st = clf_io_writer_put(m, &w, len8, 8);
    if (st == CLF_OK)
        st = clf_io_writer_put(m, &w, h.s, h.len);
    for (size_t i = 0; i < count && st == CLF_OK; i++)
        st = clf_io_put_f32(m, &w, entries[i].data, (size_t)entry_numel(&entries[i]));
    free(h.s);
    if (st != CLF_OK) {
        clf_io_writer_abort(&w);
        return st;
    }
    return clf_io_writer_commit(m, &w);
}

/* ------------------------------------------------------------------------ */
/* Into a tensor                                                            */
/* ------------------------------------------------------------------------ */

enum clf_status clf_safetensors_read_tensor(struct clf_ctx *ctx, struct clf_safetensors *st,
                                            const char *name, struct clf_tensor **out)
{
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!st)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL safetensors file");
    int ndim = 0;
    int64_t shape[CLF_MAX_DIMS];
    enum clf_status s = clf_safetensors_shape(st, name, &ndim, shape, NULL);
    size_t count = 1;
    for (int d = 0; s == CLF_OK && d < ndim; d++)
        count *= (size_t)shape[d];
    /* the shape was checked against the file's data: count fits in memory
     * as far as the file does */
    float *data = s == CLF_OK ? malloc((count ? count : 1) * sizeof *data) : NULL;
    struct clf_msg m = st_msg(st);
    if (s == CLF_OK && !data)
        s = clf_msg_fail(&m, CLF_E_OUT_OF_MEMORY, "%s: no memory for tensor '%.200s'", st->path,
                         name);
    if (s == CLF_OK)
        s = clf_safetensors_read(st, name, data, count);
    if (s == CLF_OK) {
        char what[512];
        snprintf(what, sizeof what, "%s: tensor '%.200s'", st->path, name);
        s = clf_io_upload(ctx, what, ndim, shape, data, out);
    } else {
        clf_fail(ctx, s, "%s", st->error);
    }
    free(data);
    return s;
}
