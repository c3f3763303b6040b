/* Shared pieces of the libFuzzer harnesses (see run.sh): a context made
 * once before the first input, the input as a file, a NUL-terminated copy
 * of the input, and a check that aborts (libFuzzer then saves the input as
 * a crasher). */
#ifndef CLF_FUZZ_H
#define CLF_FUZZ_H

#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clformer.h"

/* The libFuzzer entry points (declared for -Wmissing-prototypes; a harness
 * defines LLVMFuzzerTestOneInput and, when it needs one, an initialiser). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A context on the default device (PoCL here), no disk cache, no log:
 * made once, in LLVMFuzzerInitialize, so that its allocations are not
 * counted against the first input by the leak checker. */
static struct clf_ctx *fuzz_ctx __attribute__((unused));

static inline void fuzz_make_ctx(void)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.disk_cache = false;
    p.log_level = CLF_LOG_NONE;
    if (clf_ctx_create(&p, &fuzz_ctx) != CLF_OK) {
        fprintf(stderr, "fuzz: no OpenCL context\n");
        exit(1);
    }
}

/* Defines LLVMFuzzerInitialize as fuzz_make_ctx, for the harnesses that
 * need nothing else before the first input. */
#define FUZZ_INITIALIZE_CTX()                                                                  \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                          \
    {                                                                                          \
        (void)argc, (void)argv;                                                                \
        fuzz_make_ctx();                                                                       \
        return 0;                                                                              \
    }

/* The input as a regular file: one memfd, rewritten per input, opened by
 * path (/proc/self/fd/N) as the readers do. */
static int fuzz_fd __attribute__((unused)) = -1;
static char fuzz_path[64] __attribute__((unused));

static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (fuzz_fd < 0) {
        fuzz_fd = memfd_create("clf-fuzz", MFD_CLOEXEC);
        FUZZ_CHECK(fuzz_fd >= 0, "memfd_create failed");
        snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
    }
    FUZZ_CHECK(ftruncate(fuzz_fd, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fuzz_fd, data + done, size - done, (off_t)done);
        FUZZ_CHECK(w > 0, "pwrite failed");
        done += (size_t)w;
    }
    return fuzz_path;
}

/* A NUL-terminated copy of the input (malloc'd; caller frees), so that
 * reads past the input's end are caught by ASan. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "no memory");
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
