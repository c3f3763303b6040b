/* File helpers of the .npy and safetensors code (io.h): whole-range reads,
 * little-endian float32 output (opening and writing files is file.c's). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

enum clf_status clf_msg_to_ctx(struct clf_ctx *ctx, enum clf_status status, const char *msg)
{
    return status == CLF_OK ? status : clf_fail(ctx, status, "%s", msg);
}


enum clf_status clf_io_pread(struct clf_msg *m, int fd, const char *path, void *buf, size_t n,
                             uint64_t off, const char *what)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30;
        if (off + done > (uint64_t)INT64_MAX)
            return clf_msg_fail(m, CLF_E_IO, "%s: %s: offset beyond what the system can read",
                            path, what);
        ssize_t r = pread(fd, p + done, chunk, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return clf_msg_fail(m, CLF_E_IO, "%s: cannot read %s: %s", path, what, strerror(errno));
        if (r == 0)
            return clf_msg_fail(m, CLF_E_IO,
                            "%s: cannot read %s: end of file after %zu of %zu bytes (was the "
                            "file truncated?)",
                            path, what, done, n);
        done += (size_t)r;
    }
    return CLF_OK;
}

enum clf_status clf_io_put_f32(struct clf_msg *m, struct clf_io_writer *w, const float *x,
                               size_t n)
{
    if (clf_io_host_le())
        return n ? clf_io_writer_put(m, w, x, n * sizeof *x) : CLF_OK;
    unsigned char buf[4096];
    while (n > 0) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        memcpy(buf, x, k * 4);
        clf_io_swap32(buf, k);
        enum clf_status st = clf_io_writer_put(m, w, buf, k * 4);
        if (st != CLF_OK)
            return st;
        x += k;
        n -= k;
    }
    return CLF_OK;
}

enum clf_status clf_io_upload(struct clf_ctx *ctx, const char *what, int ndim,
                              const int64_t *shape, const float *data, struct clf_tensor **out)
{
    const int64_t one = 1;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "%s has no elements (dimension %d is 0): a tensor cannot be empty",
                            what, d);
        numel *= (size_t)shape[d];
    }
    struct clf_tensor *t = NULL;
    enum clf_status st = clf_tensor_create(ctx, CLF_F32, ndim ? ndim : 1, ndim ? shape : &one, &t);
    if (st == CLF_OK)
        st = clf_tensor_write(t, data, numel * sizeof *data);
    if (st != CLF_OK) {
        clf_tensor_destroy(t);
        return st;
    }
    *out = t;
    return CLF_OK;
}

enum clf_status clf_io_read_text(struct clf_msg *m, const char *path, char **out)
{
    return clf_file_read(m, path, (size_t)64 << 20, out, NULL);
}
