/*
 * .npy files (NumPy's format, versions 1.0, 2.0 and 3.0): float32 only,
 * little-endian, C order, 0 to CLF_MAX_DIMS dimensions.
 *
 * The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * parsed here by a small recursive-descent reader that accepts what
 * ast.literal_eval would give NumPy for these three keys (keys in any
 * order, either quote, any whitespace, trailing commas, Python 2 'L'
 * suffixes) and rejects everything else with a message. Every length is
 * checked against the file size before anything is allocated.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

/* ------------------------------------------------------------------------ */
/* Header dict parser                                                       */
/* ------------------------------------------------------------------------ */

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* Largest header read (NumPy itself refuses more than 10000 bytes unless
 * told otherwise; a float32 header with 4 dims needs about 200). */
#define NPY_MAX_HEADER (1u << 20)

struct npy_parser {
    struct clf_msg *m;
    const char *path;
    const char *s;   /* header text */
    size_t n, i;     /* length, position */
    /* results */
    char descr[40];
    bool have_descr, have_fortran, have_shape;
    bool fortran;
    int ndim;        /* dims parsed (may exceed CLF_MAX_DIMS: reported later) */
    int64_t shape[CLF_MAX_DIMS];
};

static enum clf_status npy_err(struct npy_parser *p, const char *what)
{
    return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: malformed .npy header at byte %zu: %s", p->path,
                    p->i, what);
}

static void npy_ws(struct npy_parser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r' || p->s[p->i] == '\f' || p->s[p->i] == '\v'))
        p->i++;
}

static bool npy_peek(struct npy_parser *p, char c)
{
    npy_ws(p);
    return p->i < p->n && p->s[p->i] == c;
}

/* A quoted string ('...' or "..."), backslash escaping the next character.
 * Keeps at most size-1 characters (non-printable ones as '?'); *truncated
 * tells whether it was longer. */
static enum clf_status npy_string(struct npy_parser *p, char *out, size_t size, bool *truncated)
{
    npy_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
        return npy_err(p, "expected a quoted string");
    char q = p->s[p->i++];
    size_t k = 0;
    *truncated = false;
    for (;;) {
        if (p->i >= p->n)
            return npy_err(p, "unterminated string");
        char c = p->s[p->i++];
        if (c == q)
            break;
        if (c == '\n')
            return npy_err(p, "newline inside a string");
        if (c == '\\') {
            if (p->i >= p->n)
                return npy_err(p, "unterminated string");
            c = p->s[p->i++];
        }
        if (k + 1 < size)
            out[k++] = (c >= 0x20 && c < 0x7f) ? c : '?';
        else
            *truncated = true;
    }
    out[k] = 0;
    return CLF_OK;
}

/* True or False. */
static enum clf_status npy_bool(struct npy_parser *p, bool *out)
{
    npy_ws(p);
    const char *s = p->s + p->i;
    size_t left = p->n - p->i;
    size_t len = 0;
    if (left >= 4 && !memcmp(s, "True", 4)) {
        *out = true;
        len = 4;
    } else if (left >= 5 && !memcmp(s, "False", 5)) {
        *out = false;
        len = 5;
    } else {
        return npy_err(p, "'fortran_order' must be True or False");
    }
    if (left > len && (s[len] == '_' || (s[len] >= 'a' && s[len] <= 'z') ||
                       (s[len] >= 'A' && s[len] <= 'Z') || (s[len] >= '0' && s[len] <= '9')))
        return npy_err(p, "'fortran_order' must be True or False");
    p->i += len;
    return CLF_OK;
}

/* One dimension: an optionally signed decimal integer, optional 'L'. */
static enum clf_status npy_dim(struct npy_parser *p, int64_t *out)
{
    npy_ws(p);
    bool neg = false;
    if (p->i < p->n && (p->s[p->i] == '-' || p->s[p->i] == '+')) {
        neg = p->s[p->i] == '-';
        p->i++;
        npy_ws(p);
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return npy_err(p, "expected an integer in 'shape'");
    uint64_t v = 0;
    bool big = false;
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = (unsigned)(p->s[p->i++] - '0');
        if (v > (UINT64_MAX - d) / 10)
            big = true;
        else
            v = v * 10 + d;
    }
    size_t len = p->i - start;
    if (p->i < p->n && (p->s[p->i] == 'L' || p->s[p->i] == 'l'))
        p->i++;
    if (neg && (v != 0 || big))
        return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: shape has a negative dimension -%.*s",
                        p->path, (int)(len > 40 ? 40 : len), p->s + start);
    if (big || v > (uint64_t)INT64_MAX)
        return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: shape dimension %.*s%s is too large",
                        p->path, (int)(len > 40 ? 40 : len), p->s + start,
                        len > 40 ? "..." : "");
    *out = (int64_t)v;
    return CLF_OK;
}

/* A tuple of integers: (), (5,), (2, 3), (2, 3,). */
static enum clf_status npy_shape(struct npy_parser *p)
{
    enum clf_status st;
    npy_ws(p);
    if (p->i >= p->n || p->s[p->i] != '(')
        return npy_err(p, p->i < p->n && p->s[p->i] == '['
                              ? "'shape' is a list, NumPy writes a tuple"
                              : "'shape' must be a tuple of integers");
    p->i++;
    p->ndim = 0;
    bool comma = false; /* at least one comma seen */
    for (;;) {
        if (npy_peek(p, ')')) {
            p->i++;
            break;
        }
        int64_t d = 0;
        if ((st = npy_dim(p, &d)) != CLF_OK)
            return st;
        if (p->ndim < CLF_MAX_DIMS)
            p->shape[p->ndim] = d;
        if (p->ndim < 1000000)
            p->ndim++;
        if (npy_peek(p, ',')) {
            p->i++;
            comma = true;
        } else if (npy_peek(p, ')')) {
            p->i++;
            break;
        } else {
            return npy_err(p, "expected ',' or ')' in 'shape'");
        }
    }
    if (p->ndim == 1 && !comma)
        return npy_err(p, "'shape' (n) is not a tuple: a 1-tuple is written (n,)");
    return CLF_OK;
}

static enum clf_status npy_parse(struct npy_parser *p)
{
    enum clf_status st;
    if (!npy_peek(p, '{'))
        return npy_err(p, "the header is not a dict literal (no '{')");
    p->i++;
    for (;;) {
        if (npy_peek(p, '}')) {
            p->i++;
            break;
        }
        char key[32];
        bool trunc;
        size_t key_at = p->i;
        if ((st = npy_string(p, key, sizeof key, &trunc)) != CLF_OK)
            return st;
        if (!npy_peek(p, ':'))
            return npy_err(p, "expected ':' after a key");
        p->i++;
        bool *have = NULL;
        if (!trunc && !strcmp(key, "descr")) {
            have = &p->have_descr;
            if (*have)
                goto duplicate;
            if (!npy_peek(p, '\'') && !npy_peek(p, '"'))
                return clf_msg_fail(p->m, CLF_E_FORMAT,
                                "%s: dtype is not a plain type string (a structured dtype?); "
                                "only '<f4' (float32) is supported",
                                p->path);
            if ((st = npy_string(p, p->descr, sizeof p->descr, &trunc)) != CLF_OK)
                return st;
        } else if (!trunc && !strcmp(key, "fortran_order")) {
            have = &p->have_fortran;
            if (*have)
                goto duplicate;
            if ((st = npy_bool(p, &p->fortran)) != CLF_OK)
                return st;
        } else if (!trunc && !strcmp(key, "shape")) {
            have = &p->have_shape;
            if (*have)
                goto duplicate;
            if ((st = npy_shape(p)) != CLF_OK)
                return st;
        } else {
            p->i = key_at;
            return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: unknown .npy header key '%s%s'", p->path,
                            key, trunc ? "..." : "");
        }
        *have = true;
        if (npy_peek(p, ',')) {
            p->i++;
        } else if (npy_peek(p, '}')) {
            p->i++;
            break;
        } else {
            return npy_err(p, "expected ',' or '}' after a value");
        }
        continue;
    duplicate:
        return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: .npy header key '%s' appears twice", p->path,
                        key);
    }
    npy_ws(p);
    if (p->i != p->n)
        return npy_err(p, "unexpected text after the header dict");
    if (!p->have_descr || !p->have_fortran || !p->have_shape)
        return clf_msg_fail(p->m, CLF_E_FORMAT, "%s: .npy header lacks the key '%s'", p->path,
                        !p->have_descr ? "descr" : !p->have_fortran ? "fortran_order" : "shape");
    return CLF_OK;
}

/* Prints a shape as Python would: (), (5,), (2, 3). */
static void shape_repr(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "(");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(buf + k, size - k, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (k < size)
        snprintf(buf + k, size - k, ndim == 1 ? ",)" : ")");
}

/* ------------------------------------------------------------------------ */
/* Read                                                                     */
/* ------------------------------------------------------------------------ */

enum clf_status clf_npy_read(const char *path, float **data, int *ndim,
                             int64_t shape[CLF_MAX_DIMS], char *msg, size_t msg_size)
{
    struct clf_msg msg_buf = clf_msg_init(msg, msg_size), *m = &msg_buf;
    if (data)
        *data = NULL;
    if (!path || !data || !ndim || !shape)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "clf_npy_read: NULL %s",
                        !path ? "path" : !data ? "data" : !ndim ? "ndim" : "shape");
    *ndim = 0;
    for (int d = 0; d < CLF_MAX_DIMS; d++)
        shape[d] = 0;

    enum clf_status st = CLF_OK;
    char *header = NULL;
    float *out = NULL;
    uint64_t size = 0;
    int fd = clf_io_open_read(m, path, 0, &size);
    if (fd < 0)
        return CLF_E_IO;

    /* magic (6), version (2), header length (2 or 4) */
    unsigned char pre[12];
    size_t have = size < sizeof pre ? (size_t)size : sizeof pre;
    if ((st = clf_io_pread(m, fd, path, pre, have, 0, "the .npy prefix")) != CLF_OK)
        goto done;
    if (size == 0) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: empty file, not a .npy file", path);
        goto done;
    }
    if (memcmp(pre, npy_magic, have < 6 ? have : 6) != 0) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    if (have < 8) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: truncated .npy file (%zu bytes, ends before the "
                      "format version)", path, have);
        goto done;
    }
    unsigned major = pre[6], minor = pre[7];
    if (minor != 0 || major < 1 || major > 3) {
        st = clf_msg_fail(m, CLF_E_FORMAT,
                      "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)", path,
                      major, minor);
        goto done;
    }
    size_t prefix = major == 1 ? 10 : 12;
    if (have < prefix) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: truncated .npy file (%zu bytes, ends in the "
                      "header length)", path, have);
        goto done;
    }
    uint64_t hlen = major == 1 ? clf_io_le16(pre + 8) : clf_io_le32(pre + 8);
    if (hlen > size - prefix) {
        st = clf_msg_fail(m, CLF_E_FORMAT,
                      "%s: header length %" PRIu64 " beyond the file (%" PRIu64
                      " bytes after the %zu-byte prefix): truncated header",
                      path, hlen, size - prefix, prefix);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: header length %" PRIu64
                      " is larger than any float32 header (limit %u)", path, hlen,
                      NPY_MAX_HEADER);
        goto done;
    }
    header = malloc((size_t)hlen + 1);
    if (!header) {
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the header", path);
        goto done;
    }
    if ((st = clf_io_pread(m, fd, path, header, (size_t)hlen, prefix, "the .npy header")) !=
        CLF_OK)
        goto done;
    header[hlen] = 0;

    struct npy_parser p = {.m = m, .path = path, .s = header, .n = (size_t)hlen};
    if ((st = npy_parse(&p)) != CLF_OK)
        goto done;
    if (p.fortran) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: fortran order is not supported (C order only)",
                      path);
        goto done;
    }
    if (strcmp(p.descr, "<f4") != 0) {
        if (!strcmp(p.descr, ">f4"))
            st = clf_msg_fail(m, CLF_E_FORMAT,
                          "%s: dtype '>f4' is big-endian float32; only little-endian '<f4' is "
                          "supported",
                          path);
        else
            st = clf_msg_fail(m, CLF_E_FORMAT, "%s: dtype '%s' is not float32 ('<f4')", path,
                          p.descr);
        goto done;
    }
    if (p.ndim > CLF_MAX_DIMS) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: %d dimensions, more than CLF_MAX_DIMS (%d)", path,
                      p.ndim, CLF_MAX_DIMS);
        goto done;
    }
    char repr[128];
    shape_repr(repr, sizeof repr, p.ndim, p.shape);
    uint64_t numel = 1, bytes;
    for (int d = 0; d < p.ndim; d++)
        if (!clf_io_mul_u64(numel, (uint64_t)p.shape[d], &numel)) {
            numel = UINT64_MAX;
            break;
        }
    if (numel == UINT64_MAX || !clf_io_mul_u64(numel, 4, &bytes) || bytes > SIZE_MAX ||
        bytes > (uint64_t)INT64_MAX) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: shape %s has too many elements", path, repr);
        goto done;
    }
    uint64_t data_off = prefix + hlen;
    if (size - data_off < bytes) {
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: data is %" PRIu64 " bytes, the shape %s needs %"
                      PRIu64, path, size - data_off, repr, bytes);
        goto done;
    }
    out = malloc(bytes ? (size_t)bytes : 1);
    if (!out) {
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for %" PRIu64 " bytes of data",
                      path, bytes);
        goto done;
    }
    if ((st = clf_io_pread(m, fd, path, out, (size_t)bytes, data_off, "the .npy data")) !=
        CLF_OK)
        goto done;
    if (!clf_io_host_le())
        clf_io_swap32(out, (size_t)numel);
    *data = out;
    out = NULL;
    *ndim = p.ndim;
    for (int d = 0; d < p.ndim; d++)
        shape[d] = p.shape[d];

done:
    free(out);
    free(header);
    close(fd);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Write                                                                    */
/* ------------------------------------------------------------------------ */

enum clf_status clf_npy_write(const char *path, const float *data, int ndim,
                              const int64_t *shape, char *msg, size_t msg_size)
{
    struct clf_msg msg_buf = clf_msg_init(msg, msg_size), *m = &msg_buf;
    if (!path)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "clf_npy_write: NULL path");
    if (ndim < 0 || ndim > CLF_MAX_DIMS)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: ndim %d is outside 0..%d", path, ndim,
                        CLF_MAX_DIMS);
    if (ndim > 0 && !shape)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: NULL shape", path);
    uint64_t numel = 1, bytes = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: dimension %d is negative (%" PRId64 ")",
                            path, d, shape[d]);
        if (!clf_io_mul_u64(numel, (uint64_t)shape[d], &numel))
            return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: the shape has too many elements", path);
    }
    if (!clf_io_mul_u64(numel, 4, &bytes) || bytes > SIZE_MAX)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: the shape has too many elements", path);
    if (!data && numel > 0)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "%s: NULL data", path);

    /* Byte for byte what numpy.save writes for a C-order float32 array:
     * sorted keys, room for the first dimension to grow to 21 digits, the
     * whole prefix padded with spaces and a newline to a multiple of 64. */
    char repr[128], dict[256], first[32];
    shape_repr(repr, sizeof repr, ndim, shape);
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", repr);
    if (ndim > 0) {
        int digits = snprintf(first, sizeof first, "%" PRId64, shape[0]);
        for (int k = digits; k < 21; k++)
            dict[len++] = ' ';
    }
    size_t hlen = (size_t)len + 1; /* + '\n' */
    size_t pad = 64 - (10 + hlen) % 64;
    unsigned char head[10 + 256 + 64];
    memcpy(head, npy_magic, 6);
    head[6] = 1;
    head[7] = 0;
    clf_io_put_le16(head + 8, (uint16_t)(hlen + pad));
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', pad);
    head[10 + (size_t)len + pad] = '\n';
    size_t head_size = 10 + hlen + pad;

    struct clf_io_writer w;
    enum clf_status st = clf_io_writer_open(m, &w, path, CLF_FILE_STREAM);
    if (st != CLF_OK)
        return st;
    if ((st = clf_io_writer_put(m, &w, head, head_size)) != CLF_OK ||
        (st = clf_io_put_f32(m, &w, data, (size_t)numel)) != CLF_OK) {
        clf_io_writer_abort(&w);
        return st;
    }
    return clf_io_writer_commit(m, &w);
}

/* ------------------------------------------------------------------------ */
/* Into a tensor                                                            */
/* ------------------------------------------------------------------------ */

enum clf_status clf_npy_read_tensor(struct clf_ctx *ctx, const char *path,
                                    struct clf_tensor **out)
{
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    char msg[1024];
    float *data = NULL;
    int ndim = 0;
    int64_t shape[CLF_MAX_DIMS];
    enum clf_status st = clf_npy_read(path, &data, &ndim, shape, msg, sizeof msg);
    if (st == CLF_OK)
        st = clf_io_upload(ctx, path, ndim, shape, data, out);
    else
        clf_fail(ctx, st, "%s", msg);
    free(data);
    return st;
}
