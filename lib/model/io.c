/* File helpers of the .npy and safetensors code (io.h): whole-range reads,
 * atomic writes, little-endian float32 output. */
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

enum clf_status clf_msg_fail(struct clf_msg *m, enum clf_status status, const char *fmt, ...)
{
    if (!m || !m->buf || m->size == 0)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->buf, m->size, fmt, ap);
    va_end(ap);
    return status;
}

enum clf_status clf_msg_to_ctx(struct clf_ctx *ctx, enum clf_status status, const char *msg)
{
    return status == CLF_OK ? status : clf_fail(ctx, status, "%s", msg);
}


int clf_io_open_read(struct clf_msg *m, const char *path, uint64_t *size)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        clf_msg_fail(m, CLF_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        clf_msg_fail(m, CLF_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        clf_msg_fail(m, CLF_E_IO, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    *size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    return fd;
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

enum clf_status clf_io_writer_open(struct clf_msg *m, struct clf_io_writer *w, const char *path)
{
    w->path = path;
    w->fd = -1;
    w->failed = false;
    /* ".clformer-<pid>-<salt>.tmp" in the destination's directory: a name
     * of its own rather than path + suffix, which could pass NAME_MAX */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = dir_len + 64;
    w->tmp = malloc(n);
    if (!w->tmp)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for a file name", path);
    memcpy(w->tmp, path, dir_len);
    /* O_EXCL with a name made of the pid, the clock and an attempt number
     * (mkstemp would create the file 0600 whatever the umask). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t salt = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                    ((uint64_t)(uintptr_t)w << 16);
    for (unsigned attempt = 0; attempt < 64; attempt++) {
        snprintf(w->tmp + dir_len, n - dir_len, ".clformer-%ld-%08" PRIx64 ".tmp", (long)getpid(),
                 (uint64_t)((salt + attempt * 0x9e3779b97f4a7c15ull) & 0xffffffffu));
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0)
            return CLF_OK;
        if (errno != EEXIST && errno != EINTR)
            break;
    }
    enum clf_status st =
        clf_msg_fail(m, CLF_E_IO, "%s: cannot create a temporary file next to it: %s", path,
                 strerror(errno));
    free(w->tmp);
    w->tmp = NULL;
    return st;
}

enum clf_status clf_io_writer_put(struct clf_msg *m, struct clf_io_writer *w, const void *buf,
                                  size_t n)
{
    const unsigned char *p = buf;
    if (w->failed || w->fd < 0)
        return clf_msg_fail(m, CLF_E_IO, "%s: write after a failure", w->path);
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t r = write(w->fd, p, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            w->failed = true;
            return clf_msg_fail(m, CLF_E_IO, "%s: cannot write: %s", w->path,
                            r < 0 ? strerror(errno) : "no progress");
        }
        p += r;
        n -= (size_t)r;
    }
    return CLF_OK;
}

void clf_io_writer_abort(struct clf_io_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp) {
        unlink(w->tmp);
        free(w->tmp);
        w->tmp = NULL;
    }
}

enum clf_status clf_io_writer_commit(struct clf_msg *m, struct clf_io_writer *w)
{
    enum clf_status st = CLF_OK;
    if (w->failed || w->fd < 0) {
        clf_io_writer_abort(w);
        return CLF_E_IO; /* already reported */
    }
    /* fsync so that a crash after the rename cannot leave an empty file
     * under the final name; file systems without fsync (EINVAL) are fine. */
    if (fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot flush to disk: %s", w->path, strerror(errno));
    int rc = close(w->fd);
    w->fd = -1;
    if (st == CLF_OK && rc != 0)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot write: %s", w->path, strerror(errno));
    if (st == CLF_OK && rename(w->tmp, w->path) != 0)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot rename the temporary file into place: %s",
                      w->path, strerror(errno));
    if (st != CLF_OK)
        unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    return st;
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
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return clf_msg_fail(m, CLF_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *b = cap > (64u << 20) ? NULL : realloc(buf, 2 * cap);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: too large for a configuration (or no memory)",
                        path);
    if (err) {
        free(buf);
        return clf_msg_fail(m, CLF_E_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    return CLF_OK;
}
