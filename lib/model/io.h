/*
 * File helpers shared by the .npy and safetensors readers and writers
 * (io.c): whole-range reads with pread, atomic writes through a
 * temporary file renamed into place, little-endian loads and stores.
 * Not installed.
 */
#ifndef CLF_MODEL_IO_H
#define CLF_MODEL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ctx.h"

/* Where the host-only file code reports why it failed: a caller's buffer
 * (a public call's msg, a safetensors handle's last error). buf NULL or
 * size 0 drops the message. */
struct clf_msg {
    char *buf;
    size_t size;
};

/* A message buffer for a public call's (msg, msg_size), cleared ("" when
 * the call succeeds). */
static inline struct clf_msg clf_msg_init(char *buf, size_t size)
{
    if (buf && size > 0)
        buf[0] = 0;
    return (struct clf_msg){buf, size};
}

/* Writes the message (printf-style, truncated to m's size, always
 * terminated) into m and returns status, so that callers can `return
 * clf_msg_fail(m, ...)`. m may be NULL. */
enum clf_status clf_msg_fail(struct clf_msg *m, enum clf_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Hands a host-only call's result to a context: a failure's message
 * becomes ctx's last error (ctx may be NULL); returns status. */
enum clf_status clf_msg_to_ctx(struct clf_ctx *ctx, enum clf_status status, const char *msg);

/* Opens an existing regular file for reading; *size receives its size.
 * Returns the descriptor, or -1 after clf_msg_fail(m, CLF_E_IO, "path: ..."). */
int clf_io_open_read(struct clf_msg *m, const char *path, uint64_t *size);

/* Reads exactly n bytes at offset off (retrying short reads and EINTR).
 * Returns CLF_OK, or CLF_E_IO naming path and `what` (end of file reached
 * early, or the system error). */
enum clf_status clf_io_pread(struct clf_msg *m, int fd, const char *path, void *buf, size_t n,
                             uint64_t off, const char *what);

/* An atomic write: data goes to a fresh temporary file next to path (so
 * that rename stays on one file system), created with mode 0666 less the
 * umask, and is renamed onto path only when everything has been written
 * and flushed to disk. A failure at any point leaves path untouched and no
 * temporary file behind. */
struct clf_io_writer {
    const char *path; /* destination */
    char *tmp;        /* temporary file name (malloc'd) */
    int fd;           /* -1 when not open */
    bool failed;      /* an error was reported; commit will abort */
};

/* Creates the temporary file; CLF_E_IO (or CLF_E_OUT_OF_MEMORY) on failure. */
enum clf_status clf_io_writer_open(struct clf_msg *m, struct clf_io_writer *w, const char *path);
/* Appends n bytes; CLF_E_IO on failure (the writer is then marked failed). */
enum clf_status clf_io_writer_put(struct clf_msg *m, struct clf_io_writer *w, const void *buf,
                                  size_t n);
/* Flushes, closes and renames onto the destination; on any failure (or
 * after a failed put) removes the temporary file instead. Always releases
 * the writer. */
enum clf_status clf_io_writer_commit(struct clf_msg *m, struct clf_io_writer *w);
/* Abandons the write: closes and removes the temporary file. */
void clf_io_writer_abort(struct clf_io_writer *w);
/* Appends n floats as little-endian binary32 (byte-swapped in chunks on
 * big-endian hosts). */
enum clf_status clf_io_put_f32(struct clf_msg *m, struct clf_io_writer *w, const float *x,
                               size_t n);

/* A new dense f32 tensor on ctx holding data (ndim dims of shape; a 0-D
 * array becomes [1]); CLF_E_SHAPE, naming `what`, when it has no elements. */
enum clf_status clf_io_upload(struct clf_ctx *ctx, const char *what, int ndim,
                              const int64_t *shape, const float *data, struct clf_tensor **out);

/* True when the host stores integers little-endian. */
static inline bool clf_io_host_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static inline uint16_t clf_io_le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t clf_io_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t clf_io_le64(const unsigned char *p)
{
    return (uint64_t)clf_io_le32(p) | ((uint64_t)clf_io_le32(p + 4) << 32);
}

static inline void clf_io_put_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void clf_io_put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void clf_io_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Reverses the byte order of n 32-bit words in place (big-endian hosts). */
static inline void clf_io_swap32(void *data, size_t n)
{
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned char t = p[0];
        p[0] = p[3];
        p[3] = t;
        t = p[1];
        p[1] = p[2];
        p[2] = t;
    }
}

/* a * b into *out unless it overflows uint64_t. */
static inline bool clf_io_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

/* Reads a whole (configuration) file into *out, NUL-terminated, malloc'd:
 * CLF_E_IO naming path when it cannot be read, CLF_E_FORMAT past 64 MiB. */
enum clf_status clf_io_read_text(struct clf_msg *m, const char *path, char **out);

#endif
