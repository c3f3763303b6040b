/* Opening inputs and writing outputs (file.h), and the public
 * clf_file_open and clf_file_write over them. */
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

#include "file.h"

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

/* What a file that is not regular is, for messages. */
static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a folder";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

int clf_io_open_read(struct clf_msg *m, const char *path, unsigned flags, uint64_t *size)
{
    int fd;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer, before fstat could tell what it is */
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        clf_msg_fail(m, CLF_E_IO, "%s: cannot open: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    struct stat sb;
    int err = 0;
    if (fstat(fd, &sb) != 0) {
        err = errno;
        clf_msg_fail(m, CLF_E_IO, "%s: cannot stat: %s", path, strerror(err));
    } else if (!S_ISREG(sb.st_mode) &&
               !((flags & CLF_FILE_STREAM) &&
                 (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) || S_ISSOCK(sb.st_mode)))) {
        err = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        clf_msg_fail(m, CLF_E_IO, "%s: is %s, not a regular file", path, kind_of(sb.st_mode));
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            err = errno;
            clf_msg_fail(m, CLF_E_IO, "%s: cannot read: %s", path, strerror(err));
        }
    }
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    if (size)
        *size = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    return fd;
}

enum clf_status clf_file_read(struct clf_msg *m, const char *path, size_t limit, char **data,
                              size_t *size)
{
    *data = NULL;
    if (size)
        *size = 0;
    uint64_t n;
    int fd = clf_io_open_read(m, path, 0, &n);
    if (fd < 0)
        return CLF_E_IO;
    enum clf_status st = CLF_OK;
    char *buf = NULL;
    size_t got = 0;
    if (n > limit || n >= SIZE_MAX)
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: larger than %zu bytes", path, limit);
    else if (!(buf = malloc((size_t)n + 1)))
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for %" PRIu64 " bytes", path, n);
    while (st == CLF_OK && got < n) {
        ssize_t r = read(fd, buf + got, (size_t)n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) /* a file that shrank while read is an error too */
            st = clf_msg_fail(m, CLF_E_IO, "%s: cannot read: %s", path,
                              r < 0 ? strerror(errno) : "end of file before its size");
        else
            got += (size_t)r;
    }
    int err = errno;
    close(fd);
    if (st != CLF_OK) {
        free(buf);
        errno = err;
        return st;
    }
    buf[n] = 0;
    *data = buf;
    if (size)
        *size = (size_t)n;
    return CLF_OK;
}

/* path with its symbolic links followed, component by component of the
 * last name only (the folders on the way are resolved by the system when
 * the target is opened or renamed onto): a link to a missing file gives
 * that file's name, so that writing through a dangling link creates its
 * target. malloc'd, or NULL after a message. */
static char *follow_links(struct clf_msg *m, const char *path)
{
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode))
            return cur; /* missing or not a link: the caller looks at it */
        char link[4096];
        ssize_t k = hops < 40 ? readlink(cur, link, sizeof link - 1) : -1;
        if (k < 0 || (size_t)k >= sizeof link - 1) {
            clf_msg_fail(m, CLF_E_IO, "%s: cannot follow the symbolic link %s: %s", path, cur,
                         hops >= 40 ? strerror(ELOOP)
                         : k < 0    ? strerror(errno)
                                    : "its target's name is too long");
            free(cur);
            return NULL;
        }
        link[k] = 0;
        const char *slash = strrchr(cur, '/');
        size_t dir_len = link[0] != '/' && slash ? (size_t)(slash - cur) + 1 : 0;
        char *next = malloc(dir_len + (size_t)k + 1);
        if (next) {
            memcpy(next, cur, dir_len); /* a relative target is relative to the link's folder */
            memcpy(next + dir_len, link, (size_t)k + 1);
        }
        free(cur);
        cur = next;
    }
    clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for a file name", path);
    return NULL;
}

/* Creates w->tmp next to w->target with the given mode. */
static enum clf_status open_temporary(struct clf_msg *m, struct clf_io_writer *w, mode_t mode,
                                      bool keep_mode)
{
    /* ".clformer-<pid>-<salt>.tmp" in the target's folder: a name of its
     * own rather than target + suffix, which could pass NAME_MAX */
    const char *slash = strrchr(w->target, '/');
    size_t dir_len = slash ? (size_t)(slash - w->target) + 1 : 0;
    size_t n = dir_len + 64;
    w->tmp = malloc(n);
    if (!w->tmp)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for a file name", w->path);
    memcpy(w->tmp, w->target, dir_len);
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
        if (w->fd >= 0) {
            /* the replaced file's permissions, not the umask's */
            if (keep_mode && fchmod(w->fd, mode & 07777) != 0) {
                int err = errno;
                clf_io_writer_abort(w);
                return clf_msg_fail(m, CLF_E_IO, "%s: cannot set the mode of a temporary file: %s",
                                    w->path, strerror(err));
            }
            return CLF_OK;
        }
        if (errno != EEXIST && errno != EINTR)
            break;
    }
    enum clf_status st =
        clf_msg_fail(m, CLF_E_IO, "%s: cannot create a temporary file in its folder: %s", w->path,
                     strerror(errno));
    free(w->tmp);
    w->tmp = NULL;
    return st;
}

enum clf_status clf_io_writer_open(struct clf_msg *m, struct clf_io_writer *w, const char *path,
                                   unsigned flags)
{
    *w = (struct clf_io_writer){.path = path, .fd = -1};
    if (!(w->target = follow_links(m, path)))
        return CLF_E_IO;
    struct stat sb;
    enum clf_status st = CLF_OK;
    if (stat(w->target, &sb) != 0) {
        st = errno == ENOENT ? open_temporary(m, w, 0, false) /* a new file */
                             : clf_msg_fail(m, CLF_E_IO, "%s: cannot stat: %s", path,
                                            strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        st = clf_msg_fail(m, CLF_E_IO, "%s: is a folder", path);
    } else if (access(w->target, W_OK) != 0) {
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot write: %s", path, strerror(errno));
    } else if (S_ISREG(sb.st_mode)) {
        st = open_temporary(m, w, sb.st_mode, true);
    } else if (!(flags & CLF_FILE_STREAM)) {
        st = clf_msg_fail(m, CLF_E_IO, "%s: is %s, not a regular file", path, kind_of(sb.st_mode));
    } else {
        /* a device, FIFO or socket: written in place, never replaced (a
         * FIFO's open waits for a reader, as a shell's redirection does) */
        do
            w->fd = open(w->target, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        while (w->fd < 0 && errno == EINTR);
        if (w->fd < 0)
            st = clf_msg_fail(m, CLF_E_IO, "%s: cannot open %s for writing: %s", path,
                              kind_of(sb.st_mode), strerror(errno));
    }
    if (st != CLF_OK)
        clf_io_writer_abort(w);
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
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    free(w->target);
    w->target = NULL;
}

enum clf_status clf_io_writer_commit(struct clf_msg *m, struct clf_io_writer *w)
{
    enum clf_status st = CLF_OK;
    if (w->failed || w->fd < 0) {
        clf_io_writer_abort(w);
        return CLF_E_IO; /* already reported */
    }
    /* fsync so that a crash after the rename cannot leave an empty file
     * under the final name; file systems without fsync (EINVAL) are fine.
     * A device or pipe is not synced (most refuse it). */
    if (w->tmp && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot flush to disk: %s", w->path, strerror(errno));
    int rc = close(w->fd);
    w->fd = -1;
    if (st == CLF_OK && rc != 0)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot write: %s", w->path, strerror(errno));
    if (st == CLF_OK && w->tmp && rename(w->tmp, w->target) != 0)
        st = clf_msg_fail(m, CLF_E_IO, "%s: cannot rename the temporary file into place: %s",
                          w->path, strerror(errno));
    if (st == CLF_OK && w->tmp) { /* renamed: nothing to remove */
        free(w->tmp);
        w->tmp = NULL;
    }
    clf_io_writer_abort(w);
    return st;
}

enum clf_status clf_file_write_parts(struct clf_msg *m, const char *path, unsigned flags,
                                     const void *head, size_t head_size, const void *body,
                                     size_t body_size)
{
    struct clf_io_writer w;
    enum clf_status st = clf_io_writer_open(m, &w, path, flags);
    if (st != CLF_OK)
        return st;
    if (head_size)
        st = clf_io_writer_put(m, &w, head, head_size);
    if (st == CLF_OK && body_size)
        st = clf_io_writer_put(m, &w, body, body_size);
    return st == CLF_OK ? clf_io_writer_commit(m, &w) : (clf_io_writer_abort(&w), st);
}

int clf_file_open(const char *path, unsigned flags, char *msg, size_t msg_size)
{
    struct clf_msg m = clf_msg_init(msg, msg_size);
    if (!path) {
        clf_msg_fail(&m, CLF_E_INVALID_ARG, "clf_file_open: NULL path");
        errno = EINVAL;
        return -1;
    }
    return clf_io_open_read(&m, path, flags, NULL);
}

enum clf_status clf_file_write(const char *path, const void *data, size_t size, char *msg,
                               size_t msg_size)
{
    struct clf_msg m = clf_msg_init(msg, msg_size);
    if (!path || (!data && size))
        return clf_msg_fail(&m, CLF_E_INVALID_ARG, "clf_file_write: NULL path or data");
    return clf_file_write_parts(&m, path, CLF_FILE_STREAM, data, size, NULL, 0);
}
