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
#include "file.h" /* clf_msg, clf_io_open_read, clf_io_writer */

/* Hands a host-only call's result to a context: a failure's message
 * becomes ctx's last error (ctx may be NULL); returns status. */
enum clf_status clf_msg_to_ctx(struct clf_ctx *ctx, enum clf_status status, const char *msg);

/* Reads exactly n bytes at offset off (retrying short reads and EINTR).
 * Returns CLF_OK, or CLF_E_IO naming path and `what` (end of file reached
 * early, or the system error). */
enum clf_status clf_io_pread(struct clf_msg *m, int fd, const char *path, void *buf, size_t n,
                             uint64_t off, const char *what);

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
 * CLF_E_IO naming path when it cannot be read, CLF_E_FORMAT past 64 MiB
 * (clf_file_read). */
enum clf_status clf_io_read_text(struct clf_msg *m, const char *path, char **out);

#endif
