/* The environment variables the library reads; all of them are read in
 * env.c and listed in README.md. */
#ifndef CLF_RUNTIME_ENV_H
#define CLF_RUNTIME_ENV_H

#include <stdbool.h>

#include "clformer.h"

struct clf_env {
    const char *device;    /* CLFORMER_DEVICE: default device spec */
    const char *cache_dir; /* CLFORMER_CACHE_DIR: program cache ("" disables) */
    const char *cl_dir;    /* CLFORMER_CL_DIR: kernel sources on disk */
    const char *log;       /* CLFORMER_LOG: debug|info|warn|error|none */
    const char *gemm;      /* CLFORMER_GEMM: auto|clblast|native */
    const char *queues;    /* CLFORMER_QUEUES: 0 (one queue, out-of-order when
                              possible) or N in-order queues */
    const char *command_buffer; /* CLFORMER_COMMAND_BUFFER: 0 never records, 1 on CPUs too */
    const char *plan;      /* CLFORMER_PLAN: auto|arena|pool|none, how graphs lay
                              out their intermediates (default auto) */
    const char *tune;      /* CLFORMER_TUNE: off|fast|full, the auto-tuners'
                              mode (default fast) */
    const char *binaries;  /* CLFORMER_BINARIES: auto|on|off, program binaries in
                              the disk cache (clf_ctx_params.program_binaries) */
    const char *xdg_cache; /* XDG_CACHE_HOME */
    const char *home;      /* HOME */
};

/* Fills env with the current values (NULL when unset). */
void clf_env_read(struct clf_env *env);

/* CLFORMER_TUNE's value as a mode: unset or empty is CLF_TUNE_FAST; false
 * for anything but off, fast or full (the context refuses it). */
bool clf_env_tune_mode(const char *value, enum clf_tune_mode *mode);

#endif
