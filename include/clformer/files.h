/**
 * @file clformer/files.h
 * @brief Files: reading and writing .npy and safetensors files.
 *
 * Part of the public API; include clformer.h (the umbrella).
 */
#ifndef CLFORMER_FILES_H
#define CLFORMER_FILES_H

#include "core.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup files Files
 * .npy and safetensors files. The readers and writers are host code: they
 * need no context (and no OpenCL device), and report a failure through
 * the caller's message buffer (msg, msg_size: may be NULL and 0; always
 * NUL-terminated, "" after a success) or, for the calls on an open
 * safetensors file, clf_safetensors_last_error. Two conveniences put what
 * they read into a tensor on a context.
 * @{
 */

/**
 * Reads a float32 .npy file (format versions 1 to 3, little-endian '<f4',
 * C order, 0 to CLF_MAX_DIMS dimensions) into a malloc'd array (free());
 * shape entries past *ndim are set to 0.
 * Anything else (fortran order, another dtype, a truncated or malformed
 * file) is CLF_E_FORMAT, or CLF_E_IO when the file cannot be read, with a
 * message naming the file and the problem; NULL path, data, ndim or shape
 * is CLF_E_INVALID_ARG. *data is NULL on failure.
 */
CLF_API enum clf_status clf_npy_read(const char *path, float **data, int *ndim,
                                     int64_t shape[CLF_MAX_DIMS], char *msg, size_t msg_size);

/** Writes a float32 .npy file (version 1, '<f4', C order, byte for byte
 *  what numpy.save writes), atomically (a temporary file renamed into
 *  place). data may be NULL when the shape has no elements. */
CLF_API enum clf_status clf_npy_write(const char *path, const float *data, int ndim,
                                      const int64_t *shape, char *msg, size_t msg_size);

/**
 * Reads a float32 .npy file (clf_npy_read) into a new dense f32 tensor on
 * ctx: a 0-D array becomes [1]; an array without elements is CLF_E_SHAPE.
 * Failures are reported on ctx (clf_ctx_last_error).
 */
CLF_API enum clf_status clf_npy_read_tensor(struct clf_ctx *ctx, const char *path,
                                            struct clf_tensor **out);

/** An open safetensors file (header parsed and checked; data read on demand). */
struct clf_safetensors;

/**
 * Opens a safetensors file: checks the header length against the file, the
 * JSON, every tensor's dtype, shape and byte range (inside the data,
 * consistent with the shape) before anything is used. Errors as
 * clf_npy_read, naming the file and the tensor; *out is NULL on failure.
 */
CLF_API enum clf_status clf_safetensors_open(const char *path, struct clf_safetensors **out,
                                             char *msg, size_t msg_size);
/** Closes a file (NULL is fine). */
CLF_API void clf_safetensors_close(struct clf_safetensors *st);
/** Message of the latest failed call on st ("" when none); it names the
 *  file and the tensor. Valid until the next call on st. */
CLF_API const char *clf_safetensors_last_error(const struct clf_safetensors *st);
/** Number of tensors in the file. */
CLF_API size_t clf_safetensors_count(const struct clf_safetensors *st);
/** Name of tensor i (in file order), or NULL when out of range. */
CLF_API const char *clf_safetensors_name(const struct clf_safetensors *st, size_t i);
/**
 * Shape of a named tensor; dtype receives its safetensors dtype ("F32",
 * "F16", "BF16", "F64", ...; may be NULL). CLF_E_FORMAT (message naming
 * it) when there is no such tensor or it has more than CLF_MAX_DIMS dims.
 */
CLF_API enum clf_status clf_safetensors_shape(const struct clf_safetensors *st, const char *name,
                                              int *ndim, int64_t shape[CLF_MAX_DIMS],
                                              const char **dtype);
/**
 * Reads a named tensor as float32 into dst (count = its element count, else
 * CLF_E_SHAPE), converting F16, BF16 and F64; other dtypes, a missing
 * tensor or one of more than CLF_MAX_DIMS dims are CLF_E_FORMAT; CLF_E_IO
 * when the file shrank since it was opened.
 */
CLF_API enum clf_status clf_safetensors_read(struct clf_safetensors *st, const char *name,
                                             float *dst, size_t count);

/**
 * Reads a named tensor (clf_safetensors_read) into a new dense f32 tensor
 * of its shape on ctx: a 0-D tensor becomes [1]; one without elements is
 * CLF_E_SHAPE. Failures are reported on ctx (clf_ctx_last_error).
 */
CLF_API enum clf_status clf_safetensors_read_tensor(struct clf_ctx *ctx,
                                                    struct clf_safetensors *st, const char *name,
                                                    struct clf_tensor **out);

/** One tensor to write. */
struct clf_safetensors_entry {
    const char *name;     /**< the tensor's name, unique in the file */
    const float *data;    /**< dense row-major */
    int ndim;             /**< 0 to CLF_MAX_DIMS */
    const int64_t *shape; /**< ndim sizes, each >= 0 */
};

/** Writes float32 tensors as a safetensors file (atomically: temp + rename),
 *  with {"__metadata__": {"format": "pt"}} as Hugging Face loaders expect;
 *  names must be unique, valid UTF-8 and not "__metadata__"
 *  (CLF_E_INVALID_ARG otherwise, nothing written). */
CLF_API enum clf_status clf_safetensors_write(const char *path,
                                              const struct clf_safetensors_entry *entries,
                                              size_t count, char *msg, size_t msg_size);

/**
 * How every output file of the library and the command is written
 * (clf_npy_write, clf_safetensors_write, clf_tune_export, the program
 * cache, and clf_file_write):
 * - a regular file, or a name that does not exist yet, is replaced
 *   atomically: a temporary file in the same folder, created with the
 *   replaced file's permissions, written, flushed to disk (fsync) and
 *   renamed over it; on any failure the old file is left as it was and
 *   the temporary file removed;
 * - a symbolic link is followed (to the end of a chain) and its target is
 *   replaced that way; the link stays a link (a link to a missing file
 *   creates that file);
 * - a character or block device, a FIFO or a socket is written in place:
 *   opened without creating or truncating, never replaced (/dev/null stays
 *   a device); a write or close that fails (/dev/full) is an error;
 * - a folder, a target that cannot be written or a missing folder is
 *   CLF_E_IO with a message naming the path.
 */
CLF_API enum clf_status clf_file_write(const char *path, const void *data, size_t size,
                                       char *msg, size_t msg_size);

/** Flags of clf_file_open. */
enum clf_file_flags {
    /** Accept a FIFO, character device or socket too (a stream read on
     *  purpose, such as /dev/stdin); reads from it may block. (The
     *  library's own writes of files it names itself, cache entries,
     *  refuse such targets rather than block on a planted FIFO.) */
    CLF_FILE_STREAM = 1u << 0
};

/**
 * Opens an existing file for reading as the library opens its inputs:
 * without blocking on a FIFO, and checked with fstat before anything is
 * read. A regular file is accepted; a FIFO, character device or socket
 * only with CLF_FILE_STREAM in flags; a folder or anything else is
 * refused. Returns a (blocking) file descriptor for the caller to close,
 * or -1 with the reason, naming path, in msg (errno: ENOENT for a missing
 * file, EISDIR for a folder, EINVAL for a file of another kind).
 */
CLF_API int clf_file_open(const char *path, unsigned flags, char *msg, size_t msg_size);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_FILES_H */
