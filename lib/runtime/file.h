/*
 * The one way the library and the command open inputs and write outputs
 * (file.c). Inputs: opened non-blocking and checked with fstat before any
 * read, so that a FIFO or a folder given by mistake is refused instead of
 * blocking. Outputs: a regular file (or a new name) is replaced
 * atomically, through a temporary file in its folder; a symbolic link is
 * followed and its final target replaced (the link stays); a device, FIFO
 * or socket is written in place, never replaced. Host code, no context:
 * failures are reported through a struct clf_msg. Not installed.
 */
#ifndef CLF_RUNTIME_FILE_H
#define CLF_RUNTIME_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer.h"

/* Where host-only file code reports why it failed: a caller's buffer (a
 * public call's msg, a safetensors handle's last error). buf NULL or size
 * 0 drops the message. */
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

/* Opens an existing file for reading: non-blocking first (a FIFO without a
 * writer does not block the open), then fstat: a regular file is accepted;
 * a FIFO, character device or socket only with CLF_FILE_STREAM in flags
 * (reading it then blocks as usual); anything else (a folder, a block
 * device) is refused. The descriptor returned is blocking again; *size
 * (may be NULL) receives a regular file's size, 0 for a stream. Returns -1
 * after clf_msg_fail(m, CLF_E_IO, "path: ...") with errno kept from the
 * failing call (ENOENT for a missing file; EISDIR for a folder, EINVAL for
 * another kind of file). */
int clf_io_open_read(struct clf_msg *m, const char *path, unsigned flags, uint64_t *size);

/* Reads the file at path whole (opened by clf_io_open_read, regular files
 * only) into a malloc'd buffer, NUL-terminated; *size (may be NULL)
 * excludes the NUL. CLF_E_IO naming path when it cannot be read (errno as
 * clf_io_open_read's), CLF_E_FORMAT when it has more than limit bytes. */
enum clf_status clf_file_read(struct clf_msg *m, const char *path, size_t limit, char **data,
                              size_t *size);

/* An output file. For a regular file or a new name: a fresh temporary
 * file in the target's folder (so that rename stays on one file system),
 * created with the replaced file's mode (0666 less the umask for a new
 * one), renamed onto the target only when everything has been written and
 * flushed to disk; a failure at any point leaves the target untouched and
 * no temporary file behind. The target is path with its symbolic links
 * followed (a link to a missing file creates that file). A character or
 * block device, FIFO or socket is opened and written in place (no create,
 * no truncate, no rename; a FIFO's open waits for a reader) when flags
 * hold CLF_FILE_STREAM, as for the caller's outputs, and refused otherwise
 * (files the library names itself, such as cache entries, where a planted
 * FIFO must not block); every write and the close are checked. */
struct clf_io_writer {
    const char *path; /* destination as the caller named it (messages) */
    char *target;     /* path with its symbolic links followed (malloc'd) */
    char *tmp;        /* temporary file name (malloc'd); NULL when direct */
    int fd;           /* -1 when not open */
    bool failed;      /* an error was reported; commit will abort */
};

/* Opens the output; CLF_E_IO naming path (a folder, an unwritable file, a
 * missing folder, ...) or CLF_E_OUT_OF_MEMORY on failure. */
enum clf_status clf_io_writer_open(struct clf_msg *m, struct clf_io_writer *w, const char *path,
                                   unsigned flags);
/* Appends n bytes; CLF_E_IO on failure (the writer is then marked failed). */
enum clf_status clf_io_writer_put(struct clf_msg *m, struct clf_io_writer *w, const void *buf,
                                  size_t n);
/* Finishes the write: a temporary file is flushed, closed and renamed onto
 * the target, a device or pipe closed. On any failure (or after a failed
 * put) the temporary file is removed instead. Always releases the writer. */
enum clf_status clf_io_writer_commit(struct clf_msg *m, struct clf_io_writer *w);
/* Abandons the write: closes and removes the temporary file (what was
 * written to a device or pipe stays written). */
void clf_io_writer_abort(struct clf_io_writer *w);

/* Writes head followed by body (either may be empty) to path through a
 * clf_io_writer opened with flags (the public clf_file_write is this with
 * one part and CLF_FILE_STREAM). */
enum clf_status clf_file_write_parts(struct clf_msg *m, const char *path, unsigned flags,
                                     const void *head, size_t head_size, const void *body,
                                     size_t body_size);

#endif
