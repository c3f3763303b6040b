/* Files: .npy and safetensors. Round trips (0-D to 4-D, random data, exact
 * equality), headers byte-exact as NumPy writes them, dtype conversions
 * (F16, BF16, F64) on values whose conversion is exact plus rounding cases,
 * malformed files (each error's status and that its message names the
 * file), argument errors, atomic writes, the seed corpus of test/corpus
 * (ok-* accepted, bad-* rejected), the callers' message buffers; the one
 * output path (clf_file_write: links, devices, failures) and the one input
 * path (clf_file_open: FIFOs and folders refused without blocking): all
 * without a context. Then the reads into tensors, on a context. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common.h"
#include "file.h" /* clf_file_read (internal) */

static char *tmpdir;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Path of a file in the suite's directory (one of a few rotating buffers). */
static const char *tmp_path(const char *name)
{
    static char bufs[4][4096];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static const char *write_bytes(const char *name, const void *data, size_t n)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Reads a whole file (malloc'd); *n receives its size. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

/* Number of entries of the suite's directory whose name contains s. */
static int count_files_containing(const char *s)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, s))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* The message buffer every file call of the suite is given. */
static char msg[1024];

#define ck_io_status(expr, want) ck_assert_status_msg(msg, expr, want)
#define ck_io_ok(expr) ck_io_status(expr, CLF_OK)
/* The same for a call on an open safetensors file (its own last error). */
#define ck_st_status(st, expr, want)                                                         \
    ck_assert_status_msg(clf_safetensors_last_error(st), expr, want)
#define ck_st_ok(st, expr) ck_st_status(st, expr, CLF_OK)

/* Asserts that a message names path (and contains `want` when not NULL). */
static void assert_text(const char *text, const char *path, const char *want)
{
    ck_assert_msg(strstr(text, path) != NULL, "message does not name %s: %s", path, text);
    if (want)
        ck_assert_msg(strstr(text, want) != NULL, "message lacks \"%s\": %s", want, text);
}

/* ... for the latest failure of a file call (msg). */
static void assert_message(const char *path, const char *want)
{
    assert_text(msg, path, want);
}

/* ... for the latest failure of a call on st. */
static void assert_st_message(const struct clf_safetensors *st, const char *path,
                              const char *want)
{
    assert_text(clf_safetensors_last_error(st), path, want);
}

static void put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A .npy file: magic, version (1 or 2/3), header text as given (no padding
 * added), then data. */
static const char *write_npy_raw(const char *name, int major, const char *header,
                                 const void *data, size_t data_bytes)
{
    size_t hl = strlen(header), pre = major == 1 ? 10 : 12;
    unsigned char *buf = malloc(pre + hl + data_bytes + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        put_le16(buf + 8, (unsigned)hl);
    } else {
        put_le16(buf + 8, (unsigned)hl);
        put_le16(buf + 10, (unsigned)(hl >> 16));
    }
    memcpy(buf + pre, header, hl);
    if (data_bytes)
        memcpy(buf + pre + hl, data, data_bytes);
    const char *path = write_bytes(name, buf, pre + hl + data_bytes);
    free(buf);
    return path;
}

/* A .npy file with a header as NumPy pads it (to a multiple of 64). */
static const char *write_npy_header(const char *name, const char *dict, const void *data,
                                    size_t data_bytes)
{
    char header[1024];
    size_t n = strlen(dict);
    ck_assert_uint_lt(n + 70, sizeof header);
    memcpy(header, dict, n);
    while ((10 + n + 1) % 64)
        header[n++] = ' ';
    header[n++] = '\n';
    header[n] = 0;
    return write_npy_raw(name, 1, header, data, data_bytes);
}

/* A safetensors file: 8-byte length (of header, unless hlen is given),
 * header text, data. */
static const char *write_st_raw(const char *name, const char *header, uint64_t hlen,
                                const void *data, size_t data_bytes)
{
    size_t n = strlen(header);
    unsigned char *buf = malloc(8 + n + data_bytes + 1);
    put_le64(buf, hlen ? hlen : n);
    memcpy(buf + 8, header, n);
    if (data_bytes)
        memcpy(buf + 8 + n, data, data_bytes);
    const char *path = write_bytes(name, buf, 8 + n + data_bytes);
    free(buf);
    return path;
}

static void fill_random_bits(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* mostly ordinary values, sometimes arbitrary bit patterns (NaN
         * payloads, subnormals, infinities must survive byte for byte) */
        if (test_rand_u64() % 4 == 0) {
            uint32_t bits = (uint32_t)test_rand_u64();
            memcpy(&x[i], &bits, 4);
        } else {
            x[i] = (float)test_rand_uniform(-10, 10);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* .npy                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_npy_round_trip)
{
    for (int rep = 0; rep < 3; rep++)
        for (int ndim = 0; ndim <= CLF_MAX_DIMS; ndim++) {
            int64_t shape[CLF_MAX_DIMS] = {0};
            size_t n = 1;
            for (int d = 0; d < ndim; d++) {
                /* rep 2 has an empty dimension (zero elements) */
                shape[d] = (rep == 2 && d == ndim - 1) ? 0 : 1 + (int64_t)(test_rand_u64() % 7);
                n *= (size_t)shape[d];
            }
            float *x = malloc((n ? n : 1) * sizeof *x);
            fill_random_bits(x, n);
            char name[64];
            snprintf(name, sizeof name, "rt-%d-%d.npy", rep, ndim);
            const char *path = tmp_path(name);
            ck_io_ok(clf_npy_write(path, x, ndim, shape, msg, sizeof msg));

            /* layout: prefix + header a multiple of 64, ending in '\n' */
            size_t size;
            unsigned char *raw = slurp(path, &size);
            ck_assert_int_eq(memcmp(raw, "\x93NUMPY\x01\x00", 8), 0);
            size_t hlen = (size_t)raw[8] | ((size_t)raw[9] << 8);
            ck_assert_uint_eq((10 + hlen) % 64, 0);
            ck_assert_int_eq(raw[10 + hlen - 1], '\n');
            ck_assert_uint_eq(size, 10 + hlen + 4 * n);
            free(raw);

            float *y = NULL;
            int got_ndim = -1;
            int64_t got[CLF_MAX_DIMS];
            ck_io_ok(clf_npy_read(path, &y, &got_ndim, got, msg, sizeof msg));
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(got_ndim, ndim);
            for (int d = 0; d < ndim; d++)
                ck_assert_int_eq(got[d], shape[d]);
            ck_assert_int_eq(memcmp(x, y, n * sizeof *x), 0);
            free(x);
            free(y);
        }
    /* no temporary file left behind */
    ck_assert_int_eq(count_files_containing(".tmp"), 0);
}
END_TEST

/* Headers exactly as numpy.save writes them (format 1.0, sorted keys, the
 * first dimension given room to grow to 21 digits, padded with spaces and
 * a newline to a multiple of 64 bytes); the writer must produce the same
 * bytes, and the reader must accept them and NumPy < 1.14's 16-byte
 * aligned headers. */
static const char numpy_2x3[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                                "                                                          \n";
static const char numpy_5[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"
                              "                                                            \n";
static const char numpy_old_2x3[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                                    "          \n";
static const char numpy_old_5[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"
                                  "            \n";

START_TEST(test_npy_numpy_headers)
{
    ck_assert_uint_eq(10 + strlen(numpy_2x3), 128);
    ck_assert_uint_eq(10 + strlen(numpy_5), 128);
    ck_assert_uint_eq(10 + strlen(numpy_old_2x3), 80);
    ck_assert_uint_eq(10 + strlen(numpy_old_5), 80);
    const float v[6] = {1, -2, 0.5f, 3.25f, -0.0f, 1e-3f};
    struct {
        const char *name, *header;
        int ndim;
        int64_t d0, d1;
    } cases[] = {
        {"np-2x3.npy", numpy_2x3, 2, 2, 3},
        {"np-5.npy", numpy_5, 1, 5, 0},
        {"np-old-2x3.npy", numpy_old_2x3, 2, 2, 3},
        {"np-old-5.npy", numpy_old_5, 1, 5, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = (size_t)(cases[c].d0 * (cases[c].ndim == 2 ? cases[c].d1 : 1));
        const char *path = write_npy_raw(cases[c].name, 1, cases[c].header, v, n * 4);
        float *y = NULL;
        int nd = 0;
        int64_t sh[CLF_MAX_DIMS];
        ck_io_ok(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg));
        ck_assert_int_eq(nd, cases[c].ndim);
        ck_assert_int_eq(sh[0], cases[c].d0);
        if (nd == 2)
            ck_assert_int_eq(sh[1], cases[c].d1);
        ck_assert_int_eq(memcmp(y, v, n * 4), 0);
        free(y);
    }
    /* the writer: byte for byte */
    const int64_t s23[2] = {2, 3}, s5[1] = {5};
    struct {
        const char *header;
        int ndim;
        const int64_t *shape;
        size_t n;
    } w[] = {{numpy_2x3, 2, s23, 6}, {numpy_5, 1, s5, 5}};
    for (size_t c = 0; c < 2; c++) {
        const char *path = tmp_path("np-written.npy");
        ck_io_ok(clf_npy_write(path, v, w[c].ndim, w[c].shape, msg, sizeof msg));
        size_t size;
        unsigned char *raw = slurp(path, &size);
        ck_assert_uint_eq(size, 128 + 4 * w[c].n);
        ck_assert_int_eq(memcmp(raw, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
        ck_assert_int_eq(memcmp(raw + 10, w[c].header, 118), 0);
        free(raw);
    }
    /* a 0-D array: shape () and no growth padding */
    const char *path = tmp_path("np-scalar.npy");
    ck_io_ok(clf_npy_write(path, v, 0, NULL, msg, sizeof msg));
    size_t size;
    unsigned char *raw = slurp(path, &size);
    ck_assert_uint_eq(size, 132);
    ck_assert_int_eq(memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                            55),
                     0);
    free(raw);
}
END_TEST

/* Header texts NumPy (ast.literal_eval) accepts: keys in any order, double
 * quotes, no trailing comma, newlines, tuples with a trailing comma,
 * Python 2 'L' suffixes, unpadded headers; versions 2.0 and 3.0; bytes
 * after the data. */
START_TEST(test_npy_header_variants)
{
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct {
        const char *header;
        int major;
        int ndim;
        int64_t shape[4];
        size_t extra; /* bytes after the data */
    } cases[] = {
        {"{\"shape\": (2, 3), \"fortran_order\": False, \"descr\": \"<f4\"}\n", 1, 2, {2, 3}, 0},
        {"{'fortran_order':False,'descr':'<f4','shape':(4,)}", 1, 1, {4}, 0},
        {"{\n  'descr' : '<f4' ,\n  'fortran_order' : False ,\n  'shape' : ( 2 , 2 , ) ,\n}  \n",
         1, 2, {2, 2}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n", 1, 2, {2, 3}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 1, 0, {0}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2, 2), }\n", 1, 4,
         {1, 2, 2, 2}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", 1, 2, {0, 3}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 2, 1, {3}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", 3, 1, {3}, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 1, 1, {2}, 8},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = 1;
        for (int d = 0; d < cases[c].ndim; d++)
            n *= (size_t)cases[c].shape[d];
        char name[32];
        snprintf(name, sizeof name, "var-%zu.npy", c);
        const char *path =
            write_npy_raw(name, cases[c].major, cases[c].header, v, (n + cases[c].extra / 4) * 4);
        float *y = NULL;
        int nd = -1;
        int64_t sh[CLF_MAX_DIMS];
        ck_io_ok(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg));
        ck_assert_int_eq(nd, cases[c].ndim);
        for (int d = 0; d < nd; d++)
            ck_assert_int_eq(sh[d], cases[c].shape[d]);
        ck_assert_int_eq(memcmp(y, v, n * 4), 0);
        free(y);
    }
}
END_TEST

START_TEST(test_npy_malformed)
{
    const float v[8] = {0};
    struct {
        const char *name;
        const char *dict; /* padded as NumPy does; NULL: raw bytes below */
        const char *raw;
        size_t raw_len;
        size_t data_bytes;
        const char *want; /* in the message */
    } cases[] = {
        {"empty.npy", NULL, "", 0, 0, "empty"},
        {"magic.npy", NULL, "\x93NUMPZ\x01\x00\x10\x00{}", 12, 0, "magic"},
        {"text.npy", NULL, "hello", 5, 0, "magic"},
        {"trunc-version.npy", NULL, "\x93NUMPY\x01", 7, 0, "truncated"},
        {"trunc-length.npy", NULL, "\x93NUMPY\x01\x00\x76", 9, 0, "truncated"},
        {"trunc-header.npy", NULL, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', ", 26, 0,
         "header length 118 beyond the file"},
        {"hlen-beyond.npy", NULL, "\x93NUMPY\x02\x00\x3f\x42\x0f\x00{}", 14, 0,
         "header length 999999 beyond the file"},
        {"version.npy", NULL, "\x93NUMPY\x04\x00\x02\x00{}", 12, 0, "version 4.0"},
        {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", NULL, 0,
         16, "fortran order is not supported"},
        {"f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 16,
         "dtype '<f8' is not float32"},
        {"be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 8,
         "big-endian"},
        {"i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", NULL, 0, 8,
         "'<i4'"},
        {"struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
         NULL, 0, 4, "structured"},
        {"neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", NULL, 0, 8,
         "negative"},
        {"huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
         NULL, 0, 8, "too large"},
        {"overflow.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", NULL, 0,
         8, "too many elements"},
        {"big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", NULL,
         0, 8, "data is 8 bytes, the shape (1000000000000,) needs 4000000000000"},
        {"short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", NULL, 0, 12,
         "data is 12 bytes, the shape (2, 2) needs 16"},
        {"5d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", NULL,
         0, 8, "5 dimensions"},
        {"no-shape.npy", "{'descr': '<f4', 'fortran_order': False, }", NULL, 0, 0, "'shape'"},
        {"dup.npy", "{'descr': '<f4', 'shape': (1,), 'shape': (1,), 'fortran_order': False}",
         NULL, 0, 4, "twice"},
        {"unknown.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 0}", NULL,
         0, 4, "unknown"},
        {"list.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", NULL, 0, 4,
         "list"},
        {"not-tuple.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", NULL, 0, 8,
         "tuple"},
        {"bool.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", NULL, 0, 4,
         "True or False"},
        {"unterminated.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", NULL, 0,
         4, "malformed"},
        {"open.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", NULL, 0, 4,
         "malformed"},
        {"garbage.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", NULL, 0, 4,
         "after the header"},
        {"not-dict.npy", "['descr', '<f4']", NULL, 0, 4, "not a dict"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = cases[c].dict
                               ? write_npy_header(cases[c].name, cases[c].dict, v,
                                                  cases[c].data_bytes)
                               : write_bytes(cases[c].name, cases[c].raw, cases[c].raw_len);
        float *y = (float *)&y;
        int nd = 0;
        int64_t sh[CLF_MAX_DIMS];
        enum clf_status st = clf_npy_read(path, &y, &nd, sh, msg, sizeof msg);
        ck_assert_msg(st == CLF_E_FORMAT, "%s: got %s: %s", cases[c].name, clf_status_str(st),
                      msg);
        ck_assert_ptr_null(y);
        assert_message(path, cases[c].want);
    }

    /* missing and unreadable files are I/O errors */
    float *y = NULL;
    int nd = 0;
    int64_t sh[CLF_MAX_DIMS];
    const char *missing = tmp_path("does-not-exist.npy");
    ck_io_status(clf_npy_read(missing, &y, &nd, sh, msg, sizeof msg), CLF_E_IO);
    assert_message(missing, NULL);
    ck_io_status(clf_npy_read(tmpdir, &y, &nd, sh, msg, sizeof msg), CLF_E_IO);
    assert_message(tmpdir, NULL);
}
END_TEST

START_TEST(test_npy_args_and_atomic_write)
{
    const float v[4] = {1, 2, 3, 4};
    const int64_t shape[2] = {2, 2}, neg[2] = {2, -2};
    float *y = NULL;
    int nd = 0;
    int64_t sh[CLF_MAX_DIMS];
    const char *path = tmp_path("args.npy");
    ck_io_status(clf_npy_read(NULL, &y, &nd, sh, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_read(path, NULL, &nd, sh, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_read(path, &y, NULL, sh, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_read(path, &y, &nd, NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(NULL, v, 2, shape, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(path, NULL, 2, shape, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(path, v, 2, NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(path, v, 5, shape, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(path, v, -1, shape, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_npy_write(path, v, 2, neg, msg, sizeof msg), CLF_E_INVALID_ARG);
    /* an empty array needs no data */
    const int64_t empty[1] = {0};
    ck_io_ok(clf_npy_write(path, NULL, 1, empty, msg, sizeof msg));
    ck_io_ok(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(nd, 1);
    ck_assert_int_eq(sh[0], 0);
    free(y);

    /* overwriting replaces the file; a failed write leaves it alone */
    ck_io_ok(clf_npy_write(path, v, 2, shape, msg, sizeof msg));
    ck_io_ok(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg));
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(memcmp(y, v, sizeof v), 0);
    free(y);
    char bad_dir[4200];
    snprintf(bad_dir, sizeof bad_dir, "%s/no-such-dir/x.npy", tmpdir);
    ck_io_status(clf_npy_write(bad_dir, v, 2, shape, msg, sizeof msg), CLF_E_IO);
    assert_message(bad_dir, NULL);
    ck_assert_int_eq(count_files_containing(".tmp"), 0);

    /* a name of NAME_MAX length: the temporary name must not be longer */
    char longname[256];
    memset(longname, 'a', 251);
    strcpy(longname + 251, ".npy");
    const char *long_path = tmp_path(longname);
    ck_io_ok(clf_npy_write(long_path, v, 2, shape, msg, sizeof msg));
    ck_io_ok(clf_npy_read(long_path, &y, &nd, sh, msg, sizeof msg));
    free(y);

    /* the file is created with the usual permissions (not mkstemp's 0600) */
    mode_t mask = umask(0);
    umask(mask);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0666 & ~mask);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The one output path and the one input path (lib/runtime/file.c)          */
/* ------------------------------------------------------------------------ */

/* Whole contents of path compared with s. */
static bool holds(const char *path, const char *s)
{
    size_t n = 0;
    unsigned char *b = slurp(path, &n);
    bool same = n == strlen(s) && !memcmp(b, s, n);
    free(b);
    return same;
}

/* Outputs: a regular file replaced atomically (its mode kept; a failed
 * write leaves it whole and no temporary file), a symbolic link followed
 * to its target (the link stays, a dangling one creates the target), a
 * device written in place and never replaced (a copy of /dev/null made
 * with mknod: root only), /dev/full's failure reported, a FIFO refused
 * where the library names the file, a folder and a missing folder
 * refused, each message naming the path. */
START_TEST(test_write_targets)
{
    struct stat sb;
    char real[4200], link1[4200], link2[4200], dangling[4200], keep[4200], dev[4200];
    snprintf(real, sizeof real, "%s", tmp_path("real.txt")); /* tmp_path's buffers rotate */
    ck_io_ok(clf_file_write(real, "old", 3, msg, sizeof msg));
    ck_assert(holds(real, "old"));
    ck_assert_int_eq(chmod(real, 0640), 0);
    ck_io_ok(clf_file_write(real, "newer", 5, msg, sizeof msg));
    ck_assert(holds(real, "newer"));
    ck_assert_int_eq(stat(real, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0640);

    /* a chain of two links, the first relative to its folder */
    snprintf(link1, sizeof link1, "%s", tmp_path("link1.txt"));
    snprintf(link2, sizeof link2, "%s", tmp_path("link2.txt"));
    ck_assert_int_eq(symlink("real.txt", link1), 0);
    ck_assert_int_eq(symlink(link1, link2), 0);
    ck_io_ok(clf_file_write(link2, "through", 7, msg, sizeof msg));
    ck_assert_int_eq(lstat(link2, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert_int_eq(lstat(link1, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert(holds(real, "through"));
    const float v[2] = {1, 2};
    const int64_t shape[1] = {2};
    ck_io_ok(clf_npy_write(link1, v, 1, shape, msg, sizeof msg));
    ck_assert_int_eq(lstat(link1, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert_int_eq(stat(real, &sb), 0);
    ck_assert_int_eq(sb.st_size, 128 + 8);
    snprintf(dangling, sizeof dangling, "%s", tmp_path("dangling.txt"));
    ck_assert_int_eq(symlink("created.txt", dangling), 0);
    ck_io_ok(clf_file_write(dangling, "made", 4, msg, sizeof msg));
    ck_assert_int_eq(lstat(dangling, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert(holds(tmp_path("created.txt"), "made"));

    /* a failed write (the file size limit, its signal ignored) leaves the
     * previous file whole and no temporary file */
    snprintf(keep, sizeof keep, "%s", tmp_path("keep.txt"));
    ck_io_ok(clf_file_write(keep, "good", 4, msg, sizeof msg));
    struct rlimit old_limit, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    small = old_limit;
    small.rlim_cur = 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    static char big[8192];
    memset(big, 'x', sizeof big);
    enum clf_status st = clf_file_write(keep, big, sizeof big, msg, sizeof msg);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, old_handler);
    ck_assert_int_eq(st, CLF_E_IO);
    assert_message(keep, "cannot write");
    ck_assert(holds(keep, "good"));
    ck_assert_int_eq(count_files_containing(".tmp"), 0);

    /* devices: written in place, never replaced. Copies made with mknod
     * (root), so that a regression replaces the copy, not the machine's
     * /dev/full; the real one otherwise (rename into /dev then fails). */
    char full[4200];
    snprintf(full, sizeof full, "%s", tmp_path("full-copy"));
    if (mknod(full, S_IFCHR | 0666, makedev(1, 7)) != 0)
        snprintf(full, sizeof full, "/dev/full");
    if (access(full, W_OK) == 0) {
        ck_io_status(clf_file_write(full, "x", 1, msg, sizeof msg), CLF_E_IO);
        assert_message(full, "No space left");
        ck_io_status(clf_npy_write(full, v, 1, shape, msg, sizeof msg), CLF_E_IO);
        assert_message(full, NULL);
        ck_assert_int_eq(stat(full, &sb), 0);
        ck_assert(S_ISCHR(sb.st_mode));
    }
    snprintf(dev, sizeof dev, "%s", tmp_path("null-copy"));
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        ck_io_ok(clf_file_write(dev, "gone", 4, msg, sizeof msg));
        ck_io_ok(clf_npy_write(dev, v, 1, shape, msg, sizeof msg));
        char dev_link[4200];
        snprintf(dev_link, sizeof dev_link, "%s", tmp_path("null-link"));
        ck_assert_int_eq(symlink("null-copy", dev_link), 0);
        ck_io_ok(clf_file_write(dev_link, "gone", 4, msg, sizeof msg));
        ck_assert_int_eq(lstat(dev, &sb), 0);
        ck_assert_msg(S_ISCHR(sb.st_mode), "the device became mode %o", (unsigned)sb.st_mode);
        ck_assert_int_eq(lstat(dev_link, &sb), 0);
        ck_assert(S_ISLNK(sb.st_mode));
        ck_assert_int_eq(count_files_containing(".tmp"), 0);
    } else {
        printf("mknod: %s (not root): the device copy is left out\n", strerror(errno));
    }

    /* a FIFO as a file the library names itself (a cache entry, flags 0):
     * refused at once, not waited on for a reader */
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s", tmp_path("out.fifo"));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    struct clf_msg cm = clf_msg_init(msg, sizeof msg);
    alarm(60);
    ck_assert_int_eq(clf_file_write_parts(&cm, fifo, 0, "x", 1, NULL, 0), CLF_E_IO);
    alarm(0);
    assert_message(fifo, "FIFO");
    ck_assert_int_eq(unlink(fifo), 0);

    /* refused: a folder, a missing folder */
    ck_io_status(clf_file_write(tmpdir, "x", 1, msg, sizeof msg), CLF_E_IO);
    assert_message(tmpdir, "folder");
    char missing[4200];
    snprintf(missing, sizeof missing, "%s", tmp_path("no-such-folder/x.txt"));
    ck_io_status(clf_file_write(missing, "x", 1, msg, sizeof msg), CLF_E_IO);
    assert_message(missing, NULL);
    ck_io_status(clf_file_write(NULL, "x", 1, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_file_write(real, NULL, 1, msg, sizeof msg), CLF_E_INVALID_ARG);
}
END_TEST

/* Inputs: a FIFO is refused at once (no writer: an open without
 * O_NONBLOCK would wait forever; alarm() fails the test instead) by every
 * reader, accepted as a stream only when asked; a folder refused with
 * EISDIR; a missing file is ENOENT. */
START_TEST(test_open_inputs)
{
    char fifo[4200], real[4200]; /* tmp_path's buffers rotate */
    snprintf(fifo, sizeof fifo, "%s", tmp_path("input.fifo"));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    alarm(60);
    char m[512];
    errno = 0;
    ck_assert_int_eq(clf_file_open(fifo, 0, m, sizeof m), -1);
    ck_assert_int_eq(errno, EINVAL);
    assert_text(m, fifo, "FIFO");
    int fd = clf_file_open(fifo, CLF_FILE_STREAM, m, sizeof m);
    ck_assert_msg(fd >= 0, "%s", m);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    ck_assert_int_eq(clf_file_open(tmpdir, CLF_FILE_STREAM, m, sizeof m), -1);
    ck_assert_int_eq(errno, EISDIR);
    assert_text(m, tmpdir, "folder");
    ck_assert_int_eq(clf_file_open(tmp_path("absent"), 0, m, sizeof m), -1);
    ck_assert_int_eq(errno, ENOENT);
    snprintf(real, sizeof real, "%s", write_bytes("input.txt", "abc", 3));
    fd = clf_file_open(real, 0, m, sizeof m);
    ck_assert_msg(fd >= 0, "%s", m);
    char b[4];
    ck_assert_int_eq(read(fd, b, 4), 3);
    close(fd);

    /* every reader of the library: .npy, safetensors, vocab.txt,
     * tokenizer.json and whole-file reads */
    float *y = NULL;
    int nd = 0;
    int64_t sh[CLF_MAX_DIMS];
    ck_io_status(clf_npy_read(fifo, &y, &nd, sh, msg, sizeof msg), CLF_E_IO);
    assert_message(fifo, "FIFO");
    struct clf_safetensors *sf = NULL;
    ck_io_status(clf_safetensors_open(fifo, &sf, msg, sizeof msg), CLF_E_IO);
    assert_message(fifo, "FIFO");
    const char *vocab = tmp_path("vocab.txt");
    ck_assert_int_eq(mkfifo(vocab, 0600), 0);
    struct clf_tokenizer *t = NULL;
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, NULL, &t), CLF_E_IO);
    ck_assert_int_eq(unlink(vocab), 0);
    const char *json = tmp_path("tokenizer.json");
    ck_assert_int_eq(mkfifo(json, 0600), 0);
    ck_assert_int_eq(clf_tokenizer_load(NULL, json, NULL, &t), CLF_E_IO);
    ck_assert_int_eq(unlink(json), 0);
    char *text = NULL;
    struct clf_msg cm = clf_msg_init(msg, sizeof msg);
    ck_assert_int_eq(clf_file_read(&cm, fifo, 1 << 20, &text, NULL), CLF_E_IO);
    assert_message(fifo, "FIFO");
    ck_assert_int_eq(clf_file_read(&cm, real, 2, &text, NULL), CLF_E_FORMAT);
    ck_assert_int_eq(clf_file_read(&cm, real, 3, &text, NULL), CLF_OK);
    ck_assert_str_eq(text, "abc");
    free(text);
    alarm(0);
    ck_assert_int_eq(unlink(fifo), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* safetensors                                                              */
/* ------------------------------------------------------------------------ */

START_TEST(test_st_round_trip)
{
    enum { N = 8 };
    const char *names[N] = {"embed.weight", "layers.0.bias", "scalar", "empty",
                            "w4", "quote\"back\\slash", "caf\xc3\xa9 \xe2\x82\xac", "tab\tnl\n"};
    int64_t shapes[N][CLF_MAX_DIMS];
    int ndims[N] = {2, 1, 0, 2, 4, 3, 1, 2};
    float *data[N];
    size_t counts[N];
    struct clf_safetensors_entry e[N];
    for (int i = 0; i < N; i++) {
        counts[i] = 1;
        for (int d = 0; d < ndims[i]; d++) {
            shapes[i][d] = (i == 3 && d == 0) ? 0 : 1 + (int64_t)(test_rand_u64() % 6);
            counts[i] *= (size_t)shapes[i][d];
        }
        data[i] = malloc((counts[i] ? counts[i] : 1) * sizeof(float));
        fill_random_bits(data[i], counts[i]);
        e[i] = (struct clf_safetensors_entry){names[i], data[i], ndims[i], shapes[i]};
    }
    const char *path = tmp_path("rt.safetensors");
    ck_io_ok(clf_safetensors_write(path, e, N, msg, sizeof msg));
    ck_assert_int_eq(count_files_containing(".tmp"), 0);

    size_t size;
    unsigned char *raw = slurp(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_int_eq(raw[8], '{');
    size_t total = 0;
    for (int i = 0; i < N; i++)
        total += 4 * counts[i];
    ck_assert_uint_eq(size, 8 + hlen + total);
    free(raw);

    struct clf_safetensors *st = NULL;
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_uint_eq(clf_safetensors_count(st), N);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(clf_safetensors_name(st, (size_t)i), names[i]); /* file order */
        int nd = -1;
        int64_t sh[CLF_MAX_DIMS];
        const char *dt = NULL;
        ck_st_ok(st, clf_safetensors_shape(st, names[i], &nd, sh, &dt));
        ck_assert_int_eq(nd, ndims[i]);
        for (int d = 0; d < nd; d++)
            ck_assert_int_eq(sh[d], shapes[i][d]);
        ck_assert_str_eq(dt, "F32");
        float *y = malloc((counts[i] ? counts[i] : 1) * sizeof(float));
        ck_st_ok(st, clf_safetensors_read(st, names[i], y, counts[i]));
        ck_assert_int_eq(memcmp(y, data[i], counts[i] * sizeof(float)), 0);
        free(y);
    }
    ck_assert_ptr_null(clf_safetensors_name(st, N));
    clf_safetensors_close(st);

    /* no tensors at all */
    ck_io_ok(clf_safetensors_write(path, NULL, 0, msg, sizeof msg));
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_uint_eq(clf_safetensors_count(st), 0);
    clf_safetensors_close(st);
    for (int i = 0; i < N; i++)
        free(data[i]);
}
END_TEST

/* Values whose conversion to float32 is exact, and F64 rounding cases. */
START_TEST(test_st_conversions)
{
    /* F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -2^-14
     * (smallest normal), +inf, -0 */
    const uint16_t f16[8] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8400, 0x7C00, 0x8000};
    const float f16_want[8] = {1, -2, 0.5f, 65504, 0x1p-24f, -0x1p-14f, INFINITY, -0.0f};
    /* BF16: 1, -3, 3.140625, +inf, 2^-133 (subnormal in float32), -0 */
    const uint16_t bf16[6] = {0x3F80, 0xC040, 0x4049, 0x7F80, 0x0001, 0x8000};
    const float bf16_want[6] = {1, -3, 3.140625f, INFINITY, 0x1p-133f, -0.0f};
    /* F64: exact ones, then rounding: 0.1; 1 + 2^-24 (tie, to even: 1);
     * 1 + 3·2^-24 (tie, to even: 1 + 2^-22); 1 + 2^-24 + 2^-40 (above the
     * tie: 1 + 2^-23); 1e40 (overflow: inf) */
    const double f64[10] = {1.5, -0.25, 1e10, 0x1p-126, 0x1p-149, 0.1, 1 + 0x1p-24,
                            1 + 3 * 0x1p-24, 1 + 0x1p-24 + 0x1p-40, 1e40};
    const float f64_want[10] = {1.5f, -0.25f, 1e10f, 0x1p-126f, 0x1p-149f, 0.1f, 1.0f,
                                1 + 0x1p-22f, 1 + 0x1p-23f, INFINITY};
    unsigned char data[16 + 12 + 80 + 8];
    size_t k = 0;
    for (int i = 0; i < 8; i++, k += 2)
        put_le16(data + k, f16[i]);
    for (int i = 0; i < 6; i++, k += 2)
        put_le16(data + k, bf16[i]);
    for (int i = 0; i < 10; i++, k += 8) {
        uint64_t bits;
        memcpy(&bits, &f64[i], 8);
        put_le64(data + k, bits);
    }
    put_le64(data + k, 0xFFFFFFFF00000007ull); /* I32: 7, -1 */
    k += 8;
    const char *header = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                         "\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[16,28]},"
                         "\"d\":{\"dtype\":\"F64\",\"shape\":[10],\"data_offsets\":[28,108]},"
                         "\"i\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[108,116]}}";
    const char *path = write_st_raw("conv.safetensors", header, 0, data, k);
    struct clf_safetensors *st = NULL;
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_uint_eq(clf_safetensors_count(st), 4);
    ck_assert_str_eq(clf_safetensors_name(st, 0), "h");
    ck_assert_str_eq(clf_safetensors_name(st, 3), "i");

    float y[10];
    ck_st_ok(st, clf_safetensors_read(st, "h", y, 8));
    ck_assert_int_eq(memcmp(y, f16_want, sizeof f16_want), 0);
    ck_st_ok(st, clf_safetensors_read(st, "b", y, 6));
    ck_assert_int_eq(memcmp(y, bf16_want, sizeof bf16_want), 0);
    ck_st_ok(st, clf_safetensors_read(st, "d", y, 10));
    for (int i = 0; i < 10; i++)
        ck_assert_msg(memcmp(&y[i], &f64_want[i], 4) == 0, "F64 %d: %a, want %a", i,
                      (double)y[i], (double)f64_want[i]);

    const char *dt = NULL;
    int nd;
    int64_t sh[CLF_MAX_DIMS];
    ck_st_ok(st, clf_safetensors_shape(st, "i", &nd, sh, &dt));
    ck_assert_str_eq(dt, "I32");
    ck_st_ok(st, clf_safetensors_shape(st, "h", &nd, sh, NULL));
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(sh[0], 2);
    ck_assert_int_eq(sh[1], 4);
    ck_st_status(st, clf_safetensors_read(st, "i", y, 2), CLF_E_FORMAT);
    assert_st_message(st, path, "I32");
    ck_st_status(st, clf_safetensors_read(st, "h", y, 7), CLF_E_SHAPE);
    assert_st_message(st, path, "'h'");
    ck_st_status(st, clf_safetensors_read(st, "nope", y, 1), CLF_E_FORMAT);
    assert_st_message(st, path, "'nope'");
    ck_st_status(st, clf_safetensors_shape(st, "nope", &nd, sh, NULL), CLF_E_FORMAT);
    assert_st_message(st, path, "'nope'");
    clf_safetensors_close(st);
}
END_TEST

START_TEST(test_st_malformed)
{
    const unsigned char zeros[64] = {0};
    struct clf_safetensors *st = (struct clf_safetensors *)&st;

    /* shorter than the length field */
    const char *path = write_bytes("short.safetensors", "\x05\x00\x00\x00\x00", 5);
    ck_io_status(clf_safetensors_open(path, &st, msg, sizeof msg), CLF_E_FORMAT);
    ck_assert_ptr_null(st);
    assert_message(path, "too short");
    path = write_bytes("empty.safetensors", "", 0);
    ck_io_status(clf_safetensors_open(path, &st, msg, sizeof msg), CLF_E_FORMAT);
    assert_message(path, "too short");

    const char *one = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    struct {
        const char *name, *header;
        uint64_t hlen;
        size_t data;
        const char *want;
    } cases[] = {
        {"2p60.safetensors", one, 1ull << 60, 8, "header length 1152921504606846976 beyond"},
        {"hlen-beyond.safetensors", one, 100, 8, "beyond the file"},
        {"not-json.safetensors", "{\"t\": {\"dtype\": \"F32\",", 0, 8, "not valid JSON"},
        {"garbage.safetensors", "hello world", 0, 0, "not valid JSON"},
        {"array.safetensors", "[1, 2, 3]", 0, 0, "not a JSON object"},
        {"string.safetensors", "\"x\"", 0, 0, "not a JSON object"},
        {"trailing.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 0, 8, "after"},
        {"entry-not-object.safetensors", "{\"t\": 3}", 0, 0, "'t'"},
        {"no-dtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8,
         "\"dtype\""},
        {"no-shape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 0, 8,
         "\"shape\""},
        {"no-offsets.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0, 8,
         "\"data_offsets\""},
        {"dtype-number.safetensors",
         "{\"t\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "dtype"},
        {"unknown-dtype.safetensors",
         "{\"t\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "'Q4'"},
        {"lowercase-dtype.safetensors",
         "{\"t\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "'f32'"},
        {"shape-not-array.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 0, 8, "'t'"},
        {"neg-dim.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8, "'t'"},
        {"float-dim.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 0, 8, "'t'"},
        {"huge-dim.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 0, 8,
         "too large"},
        {"overflow.safetensors",
         "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,16],"
         "\"data_offsets\":[0,8]}}",
         0, 8, "too many elements"},
        {"offsets-beyond.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 8,
         "[4, 12] beyond the data (8 bytes)"},
        {"offsets-far.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e30]}}", 0, 8,
         "beyond the data"},
        {"offsets-reversed.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8, "reversed"},
        {"offsets-mismatch.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 12,
         "hold 8 bytes, shape [3] of F32 needs 12"},
        {"offsets-three.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 0, 8, "pair"},
        {"offsets-neg.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 0, 8, "pair"},
        {"dup.safetensors",
         "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"u\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         0, 8, "'t' appears twice"},
        {"metadata-value.safetensors",
         "{\"__metadata__\":{\"n\":1},\"t\":{\"dtype\":\"F32\",\"shape\":[2],"
         "\"data_offsets\":[0,8]}}",
         0, 8, "__metadata__"},
        {"metadata-array.safetensors", "{\"__metadata__\":[]}", 0, 0, "__metadata__"},
        {"utf8.safetensors",
         "{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, "UTF-8"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        path = write_st_raw(cases[c].name, cases[c].header, cases[c].hlen, zeros, cases[c].data);
        st = (struct clf_safetensors *)&st;
        enum clf_status s = clf_safetensors_open(path, &st, msg, sizeof msg);
        ck_assert_msg(s == CLF_E_FORMAT, "%s: got %s: %s", cases[c].name, clf_status_str(s),
                      msg);
        ck_assert_ptr_null(st);
        assert_message(path, cases[c].want);
    }

    /* deep nesting: inside cJSON's limit it is an entry that is not an
     * object; beyond it (2000 levels), not JSON; never a stack overflow */
    for (int depth = 100; depth <= 2000; depth += 1900) {
        static const char head[] = "{\"t\":";
        const size_t k = sizeof head - 1;
        char *deep = malloc(k + 2 * (size_t)depth + 2);
        ck_assert_ptr_nonnull(deep);
        memcpy(deep, head, k);
        memset(deep + k, '[', (size_t)depth);
        memset(deep + k + depth, ']', (size_t)depth);
        strcpy(deep + k + 2 * (size_t)depth, "}");
        path = write_st_raw("deep.safetensors", deep, 0, NULL, 0);
        free(deep);
        ck_io_status(clf_safetensors_open(path, &st, msg, sizeof msg), CLF_E_FORMAT);
        assert_message(path, depth == 100 ? "'t'" : "not valid JSON");
    }

    const char *missing = tmp_path("missing.safetensors");
    ck_io_status(clf_safetensors_open(missing, &st, msg, sizeof msg), CLF_E_IO);
    assert_message(missing, NULL);
    ck_io_status(clf_safetensors_open(tmpdir, &st, msg, sizeof msg), CLF_E_IO);
    assert_message(tmpdir, NULL);
}
END_TEST

/* A tensor with 5 dims: the file opens, that tensor reports CLF_E_FORMAT,
 * the others read. Also dtypes that are known but not convertible. */
START_TEST(test_st_five_dims)
{
    const float v[4] = {1, 2, 3, 4};
    const char *header =
        "{\"five\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]},"
        "\"two\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,16]},"
        "\"fp8\":{\"dtype\":\"F8_E4M3\",\"shape\":[0],\"data_offsets\":[16,16]}}   ";
    const char *path = write_st_raw("five.safetensors", header, 0, v, sizeof v);
    struct clf_safetensors *st = NULL;
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_uint_eq(clf_safetensors_count(st), 4);
    ck_assert_str_eq(clf_safetensors_name(st, 0), "five");
    int nd;
    int64_t sh[CLF_MAX_DIMS];
    float y[2];
    ck_st_status(st, clf_safetensors_shape(st, "five", &nd, sh, NULL), CLF_E_FORMAT);
    assert_st_message(st, path, "5 dimensions");
    ck_st_status(st, clf_safetensors_read(st, "five", y, 2), CLF_E_FORMAT);
    assert_st_message(st, path, "'five'");
    ck_st_ok(st, clf_safetensors_read(st, "two", y, 2));
    ck_assert(y[0] == 3 && y[1] == 4);
    ck_st_status(st, clf_safetensors_read(st, "u8", y, 0), CLF_E_FORMAT);
    assert_st_message(st, path, "U8");
    ck_st_status(st, clf_safetensors_read(st, "fp8", y, 0), CLF_E_FORMAT);
    assert_st_message(st, path, "F8_E4M3");
    clf_safetensors_close(st);
}
END_TEST

/* The file shrinks after open: a read reports CLF_E_IO, never a crash. */
START_TEST(test_st_truncated_after_open)
{
    float v[256];
    for (int i = 0; i < 256; i++)
        v[i] = (float)i;
    const int64_t shape[1] = {256};
    struct clf_safetensors_entry e = {"t", v, 1, shape};
    const char *path = tmp_path("shrink.safetensors");
    ck_io_ok(clf_safetensors_write(path, &e, 1, msg, sizeof msg));
    struct clf_safetensors *st = NULL;
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_int_eq(truncate(path, 100), 0);
    float y[256];
    ck_st_status(st, clf_safetensors_read(st, "t", y, 256), CLF_E_IO);
    assert_st_message(st, path, "'t'");
    clf_safetensors_close(st);
}
END_TEST

START_TEST(test_st_args)
{
    const float v[4] = {1, 2, 3, 4};
    const int64_t s2[1] = {2}, s4[1] = {4}, neg[1] = {-1}, s5[5] = {1, 1, 1, 1, 4};
    const char *path = tmp_path("args.safetensors");
    struct clf_safetensors *st = NULL;
    ck_io_status(clf_safetensors_open(NULL, &st, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_safetensors_open(path, NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    clf_safetensors_close(NULL);
    ck_assert_uint_eq(clf_safetensors_count(NULL), 0);
    ck_assert_ptr_null(clf_safetensors_name(NULL, 0));
    int nd;
    int64_t sh[CLF_MAX_DIMS];
    float y[4];
    ck_assert_int_eq(clf_safetensors_shape(NULL, "t", &nd, sh, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_safetensors_read(NULL, "t", y, 4), CLF_E_INVALID_ARG);

    struct clf_safetensors_entry ok[2] = {{"a", v, 1, s2}, {"b", v, 1, s4}};
    ck_io_status(clf_safetensors_write(NULL, ok, 2, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_io_status(clf_safetensors_write(path, NULL, 2, msg, sizeof msg), CLF_E_INVALID_ARG);
    struct {
        struct clf_safetensors_entry e[2];
        const char *want;
    } bad[] = {
        {{{"a", v, 1, s2}, {"a", v, 1, s4}}, "twice"},
        {{{"a", v, 1, s2}, {"__metadata__", v, 1, s4}}, "reserved"},
        {{{"a", v, 1, s2}, {NULL, v, 1, s4}}, "NULL name"},
        {{{"a", v, 1, s2}, {"b", NULL, 1, s4}}, "NULL data"},
        {{{"a", v, 1, s2}, {"b", v, 1, NULL}}, "NULL shape"},
        {{{"a", v, 1, s2}, {"b", v, 1, neg}}, "negative"},
        {{{"a", v, 1, s2}, {"b", v, 5, s5}}, "ndim 5"},
        {{{"a", v, 1, s2}, {"b\xff", v, 1, s4}}, "UTF-8"},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        ck_io_status(clf_safetensors_write(path, bad[c].e, 2, msg, sizeof msg), CLF_E_INVALID_ARG);
        assert_message(path, bad[c].want);
    }
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing was written */

    ck_io_ok(clf_safetensors_write(path, ok, 2, msg, sizeof msg));
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_st_status(st, clf_safetensors_shape(st, NULL, &nd, sh, NULL), CLF_E_INVALID_ARG);
    ck_st_status(st, clf_safetensors_shape(st, "a", NULL, sh, NULL), CLF_E_INVALID_ARG);
    ck_st_status(st, clf_safetensors_shape(st, "a", &nd, NULL, NULL), CLF_E_INVALID_ARG);
    ck_st_status(st, clf_safetensors_read(st, NULL, y, 2), CLF_E_INVALID_ARG);
    ck_st_status(st, clf_safetensors_read(st, "a", NULL, 2), CLF_E_INVALID_ARG);
    ck_st_ok(st, clf_safetensors_read(st, "b", y, 4));
    ck_assert_int_eq(memcmp(y, v, sizeof v), 0);
    clf_safetensors_close(st);

    char bad_dir[4200];
    snprintf(bad_dir, sizeof bad_dir, "%s/no-such-dir/x.safetensors", tmpdir);
    ck_io_status(clf_safetensors_write(bad_dir, ok, 2, msg, sizeof msg), CLF_E_IO);
    assert_message(bad_dir, NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Messages, and no context needed                                          */
/* ------------------------------------------------------------------------ */

/* The readers and writers report through the caller's buffer: none (NULL,
 * 0), a short one (truncated, terminated), cleared by a success; an open
 * file's calls through clf_safetensors_last_error. No context exists in
 * this test case (nor in the npy and safetensors ones). */
START_TEST(test_messages)
{
    const float v[2] = {1, 2};
    const int64_t s2[1] = {2};
    const char *missing = tmp_path("no-such-file.npy");
    float *y = NULL;
    int nd = 0;
    int64_t sh[CLF_MAX_DIMS];
    ck_assert_int_eq(clf_npy_read(missing, &y, &nd, sh, NULL, 0), CLF_E_IO);
    ck_assert_int_eq(clf_npy_read(missing, &y, &nd, sh, NULL, 100), CLF_E_IO);
    char small[8];
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(clf_npy_read(missing, &y, &nd, sh, small, 0), CLF_E_IO);
    ck_assert_int_eq(small[0], 'x'); /* size 0: not written */
    ck_assert_int_eq(clf_npy_read(missing, &y, &nd, sh, small, sizeof small), CLF_E_IO);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(strncmp(small, missing, sizeof small - 1), 0);

    const char *path = tmp_path("msg.npy");
    strcpy(msg, "stale");
    ck_io_ok(clf_npy_write(path, v, 1, s2, msg, sizeof msg));
    ck_assert_str_eq(msg, "");
    strcpy(msg, "stale");
    ck_io_ok(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg));
    ck_assert_str_eq(msg, "");
    free(y);

    struct clf_safetensors_entry e = {"w", v, 1, s2};
    path = tmp_path("msg.safetensors");
    ck_io_ok(clf_safetensors_write(path, &e, 1, NULL, 0));
    struct clf_safetensors *st = NULL;
    strcpy(msg, "stale");
    ck_io_ok(clf_safetensors_open(path, &st, msg, sizeof msg));
    ck_assert_str_eq(msg, "");
    ck_assert_str_eq(clf_safetensors_last_error(st), "");
    float w[2];
    ck_st_status(st, clf_safetensors_read(st, "w", w, 3), CLF_E_SHAPE);
    assert_st_message(st, path, "'w'");
    ck_st_status(st, clf_safetensors_shape(st, "v", &nd, sh, NULL), CLF_E_FORMAT);
    assert_st_message(st, path, "'v'");
    ck_st_ok(st, clf_safetensors_read(st, "w", w, 2));
    ck_assert(w[0] == 1 && w[1] == 2);
    clf_safetensors_close(st);
    ck_assert_ptr_nonnull(clf_safetensors_last_error(NULL));
    ck_assert_int_eq(clf_safetensors_open(missing, &st, NULL, 0), CLF_E_IO);
    ck_assert_ptr_null(st);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Into tensors (the conveniences on a context)                             */
/* ------------------------------------------------------------------------ */

/* Reads a tensor back into a new array (numel floats). */
static float *read_back(struct clf_tensor *t)
{
    size_t n = (size_t)clf_tensor_numel(t);
    float *y = malloc(n * sizeof *y);
    ck_assert_ok(test_ctx(), clf_tensor_read(t, y, n * sizeof *y));
    return y;
}

START_TEST(test_into_tensors)
{
    struct clf_ctx *ctx = test_ctx();
    float v[24];
    fill_random_bits(v, 24);
    const int64_t s234[3] = {2, 3, 4}, s0[2] = {3, 0};
    const char *path = tmp_path("t.npy");
    ck_io_ok(clf_npy_write(path, v, 3, s234, msg, sizeof msg));
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_npy_read_tensor(ctx, path, &t));
    ck_assert_int_eq(clf_tensor_dtype(t), CLF_F32);
    ck_assert_int_eq(clf_tensor_ndim(t), 3);
    for (int d = 0; d < 3; d++)
        ck_assert_int_eq(clf_tensor_dim(t, d), s234[d]);
    float *y = read_back(t);
    ck_assert_int_eq(memcmp(y, v, sizeof v), 0);
    free(y);
    clf_tensor_destroy(t);

    /* 0-D: a [1] tensor; no elements: refused */
    ck_io_ok(clf_npy_write(path, v, 0, NULL, msg, sizeof msg));
    ck_assert_ok(ctx, clf_npy_read_tensor(ctx, path, &t));
    ck_assert_int_eq(clf_tensor_ndim(t), 1);
    ck_assert_int_eq(clf_tensor_dim(t, 0), 1);
    y = read_back(t);
    ck_assert_int_eq(memcmp(y, v, 4), 0);
    free(y);
    clf_tensor_destroy(t);
    ck_io_ok(clf_npy_write(path, NULL, 2, s0, msg, sizeof msg));
    t = (struct clf_tensor *)&t;
    ck_assert_status(ctx, clf_npy_read_tensor(ctx, path, &t), CLF_E_SHAPE);
    ck_assert_ptr_null(t);
    assert_text(clf_ctx_last_error(ctx), path, "no elements");
    /* the reader's errors, on the context */
    const char *missing = tmp_path("missing.npy");
    ck_assert_status(ctx, clf_npy_read_tensor(ctx, missing, &t), CLF_E_IO);
    assert_text(clf_ctx_last_error(ctx), missing, NULL);
    ck_assert_int_eq(clf_npy_read_tensor(NULL, path, &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_npy_read_tensor(ctx, path, NULL), CLF_E_INVALID_ARG);

    /* safetensors: converted dtypes, 0-D, empty, missing, too many dims */
    const uint16_t f16[3] = {0x3C00, 0xC000, 0x3800}; /* 1, -2, 0.5 */
    unsigned char data[6 + 8 + 4];
    for (int i = 0; i < 3; i++)
        put_le16(data + 2 * i, f16[i]);
    memcpy(data + 6, v, 8);
    memcpy(data + 14, v, 4);
    const char *header =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[3,1],\"data_offsets\":[0,6]},"
        "\"five\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[6,14]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[14,18]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[18,18]}}";
    path = write_st_raw("t.safetensors", header, 0, data, sizeof data);
    struct clf_safetensors *st = test_open_safetensors(path);
    ck_assert_ok(ctx, clf_safetensors_read_tensor(ctx, st, "h", &t));
    ck_assert_int_eq(clf_tensor_ndim(t), 2);
    ck_assert_int_eq(clf_tensor_dim(t, 0), 3);
    ck_assert_int_eq(clf_tensor_dim(t, 1), 1);
    y = read_back(t);
    ck_assert(y[0] == 1 && y[1] == -2 && y[2] == 0.5f);
    free(y);
    clf_tensor_destroy(t);
    ck_assert_ok(ctx, clf_safetensors_read_tensor(ctx, st, "s", &t));
    ck_assert_int_eq(clf_tensor_ndim(t), 1);
    y = read_back(t);
    ck_assert_int_eq(memcmp(y, v, 4), 0);
    free(y);
    clf_tensor_destroy(t);
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, st, "e", &t), CLF_E_SHAPE);
    assert_text(clf_ctx_last_error(ctx), path, "'e'");
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, st, "nope", &t), CLF_E_FORMAT);
    assert_text(clf_ctx_last_error(ctx), path, "'nope'");
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, st, "five", &t), CLF_E_FORMAT);
    assert_text(clf_ctx_last_error(ctx), path, "5 dimensions");
    ck_assert_ptr_null(t);
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, NULL, "h", &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, st, NULL, &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_safetensors_read_tensor(ctx, st, "h", NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_safetensors_read_tensor(NULL, st, "h", &t), CLF_E_INVALID_ARG);
    clf_safetensors_close(st);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Limits checked before allocation                                         */
/* ------------------------------------------------------------------------ */

/* Every size a file claims is checked against the file (and against
 * size_t / int64) before anything of that size is allocated: the claims
 * below would need terabytes to exabytes, so an allocation first would fail
 * with CLF_E_OUT_OF_MEMORY (or abort under ASan); each must instead be
 * CLF_E_FORMAT with a message naming the file and the sizes. */
START_TEST(test_limits_before_allocation)
{
    float four[4] = {1, 2, 3, 4};
    struct {
        const char *name, *dict, *want;
    } npy[] = {
        /* data far shorter than the shape: the sizes, not a malloc */
        {"lim-big-shape.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }",
         "needs 4398046511104"},
        /* element count past uint64 */
        {"lim-overflow.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
         "too many elements"},
        /* past size_t as bytes (2^62 elements * 4) */
        {"lim-bytes.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
         "too many elements"},
        /* a dimension past int64 */
        {"lim-dim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,), }",
         "too large"},
    };
    for (size_t c = 0; c < sizeof npy / sizeof npy[0]; c++) {
        const char *path = write_npy_header(npy[c].name, npy[c].dict, four, sizeof four);
        float *y = (float *)four;
        int nd = -1;
        int64_t sh[CLF_MAX_DIMS];
        ck_io_status(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg), CLF_E_FORMAT);
        ck_assert_ptr_null(y);
        assert_message(path, npy[c].want);
    }
    /* a header length beyond the file (v2: 4-byte length, 2^32 - 1) */
    {
        unsigned char b[12 + 16];
        memcpy(b, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
        memset(b + 12, ' ', 16);
        const char *path = write_bytes("lim-hlen.npy", b, sizeof b);
        float *y = NULL;
        int nd;
        int64_t sh[CLF_MAX_DIMS];
        ck_io_status(clf_npy_read(path, &y, &nd, sh, msg, sizeof msg), CLF_E_FORMAT);
        assert_message(path, "header length 4294967295 beyond the file");
    }

    struct {
        const char *name, *header;
        uint64_t hlen;
        const char *want;
    } st[] = {
        /* header lengths beyond the file, up to 2^64 - 1 */
        {"lim-hlen.safetensors", "{}", 1000, "1000"},
        {"lim-hlen-2p60.safetensors", "{}", (uint64_t)1 << 60, "1152921504606846976"},
        {"lim-hlen-max.safetensors", "{}", UINT64_MAX, "18446744073709551615"},
        /* a shape past the data, exact in JSON: 2^40 elements */
        {"lim-shape.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776],\"data_offsets\":[0,16]}}", 0,
         "needs 4398046511104"},
        /* an element count past uint64 */
        {"lim-overflow.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
         "\"data_offsets\":[0,16]}}",
         0, "too many elements"},
        /* data offsets past the end of the data (16 bytes) */
        {"lim-offsets.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[1099511627776,"
         "1099511627792]}}",
         0, "beyond the data (16 bytes)"},
        /* offsets past 2^53 (not exact in a JSON number) */
        {"lim-offsets-2p60.safetensors",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,"
         "1152921504606846976]}}",
         0, "beyond the data"},
    };
    for (size_t c = 0; c < sizeof st / sizeof st[0]; c++) {
        const char *path = write_st_raw(st[c].name, st[c].header, st[c].hlen, four, sizeof four);
        struct clf_safetensors *f = (struct clf_safetensors *)&f;
        ck_io_status(clf_safetensors_open(path, &f, msg, sizeof msg), CLF_E_FORMAT);
        ck_assert_ptr_null(f);
        assert_message(path, st[c].want);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Seed corpus                                                              */
/* ------------------------------------------------------------------------ */

static int corpus_files(const char *sub, char names[][320], int max)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/test/corpus/%s", CLF_SOURCE_DIR, sub);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no corpus directory %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max)
        if (!strncmp(e->d_name, "ok-", 3) || !strncmp(e->d_name, "bad-", 4))
            snprintf(names[n++], 320, "%.20s/%.255s", sub, e->d_name);
    closedir(d);
    return n;
}

START_TEST(test_corpus)
{
    static char names[256][320];
    char path[4096];
    int n = corpus_files("npy", names, 256), ok = 0, bad = 0;
    ck_assert_int_gt(n, 10);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/test/corpus/%.300s", CLF_SOURCE_DIR, names[i]);
        bool want_ok = strstr(names[i], "/ok-") != NULL;
        float *y = NULL;
        int nd;
        int64_t sh[CLF_MAX_DIMS];
        enum clf_status s = clf_npy_read(path, &y, &nd, sh, msg, sizeof msg);
        ck_assert_msg(s == (want_ok ? CLF_OK : CLF_E_FORMAT), "%s: %s: %s", names[i],
                      clf_status_str(s), msg);
        if (!want_ok)
            assert_message(path, NULL);
        free(y);
        want_ok ? ok++ : bad++;
    }
    ck_assert_int_gt(ok, 3);
    ck_assert_int_gt(bad, 3);

    n = corpus_files("safetensors", names, 256);
    ck_assert_int_gt(n, 10);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/test/corpus/%.300s", CLF_SOURCE_DIR, names[i]);
        bool want_ok = strstr(names[i], "/ok-") != NULL;
        struct clf_safetensors *st = NULL;
        enum clf_status s = clf_safetensors_open(path, &st, msg, sizeof msg);
        ck_assert_msg(s == (want_ok ? CLF_OK : CLF_E_FORMAT), "%s: %s: %s", names[i],
                      clf_status_str(s), msg);
        if (!want_ok) {
            assert_message(path, NULL);
            continue;
        }
        for (size_t t = 0; t < clf_safetensors_count(st); t++) {
            const char *name = clf_safetensors_name(st, t);
            int nd;
            int64_t sh[CLF_MAX_DIMS];
            s = clf_safetensors_shape(st, name, &nd, sh, NULL);
            size_t count = 1;
            for (int d = 0; s == CLF_OK && d < nd; d++)
                count *= (size_t)sh[d];
            float *y = malloc(count * sizeof *y + 1);
            if (s == CLF_OK)
                s = clf_safetensors_read(st, name, y, count);
            ck_assert_msg(s == CLF_OK || s == CLF_E_FORMAT, "%s '%s': %s", names[i], name,
                          msg);
            free(y);
        }
        clf_safetensors_close(st);
    }
}
END_TEST

int main(void)
{
    test_seed();
    tmpdir = test_make_tmpdir("io");
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("npy");
    tcase_add_test(tc, test_npy_round_trip);
    tcase_add_test(tc, test_npy_numpy_headers);
    tcase_add_test(tc, test_npy_header_variants);
    tcase_add_test(tc, test_npy_malformed);
    tcase_add_test(tc, test_npy_args_and_atomic_write);
    tcase_add_test(tc, test_write_targets);
    tcase_add_test(tc, test_open_inputs);
    suite_add_tcase(s, tc);
    tc = tcase_create("safetensors");
    tcase_add_test(tc, test_st_round_trip);
    tcase_add_test(tc, test_st_conversions);
    tcase_add_test(tc, test_st_malformed);
    tcase_add_test(tc, test_st_five_dims);
    tcase_add_test(tc, test_st_truncated_after_open);
    tcase_add_test(tc, test_st_args);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_test(tc, test_limits_before_allocation);
    suite_add_tcase(s, tc);

    tc = tcase_create("corpus");
    tcase_add_test(tc, test_corpus);
    suite_add_tcase(s, tc);
    tc = tcase_create("messages");
    tcase_add_test(tc, test_messages);
    suite_add_tcase(s, tc);
    /* only the conveniences that fill tensors need a device */
    if (test_have_device()) {
        tc = tcase_create("tensors");
        tcase_add_test(tc, test_into_tensors);
        suite_add_tcase(s, tc);
    } else {
        printf("no OpenCL device: skipping the reads into tensors\n");
    }
    int rc = test_run_suite(s);
    test_remove_dir(tmpdir);
    free(tmpdir);
    return rc;
}
