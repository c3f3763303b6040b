/* The environment variables the library reads; all of them are read in
 * env.c and listed in README.md. */
#ifndef CLF_RUNTIME_ENV_H
#define CLF_RUNTIME_ENV_H

#include <stdbool.h>
#include <stddef.h>

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
    const char *model_dir; /* CLFORMER_MODEL_DIR: clf_default_model_dir's answer */
    const char *xdg_cache; /* XDG_CACHE_HOME */
    const char *home;      /* HOME */
};

/* The enumerated and numeric variables' values; each is its default where
 * the variable is unset or empty. */
struct clf_env_values {
    int log;            /* enum clf_log_level; default CLF_LOG_WARN */
    int gemm;           /* enum clf_gemm_provider; default CLF_GEMM_AUTO */
    int queues;         /* [0, CLF_MAX_QUEUES]; default 0 */
    int command_buffer; /* -1 unset (record on non-CPU devices), 0 never, 1 on CPUs too */
    int plan;           /* 0 auto, 1 arena, 2 pool, 3 none; default auto */
    int tune;           /* enum clf_tune_mode; default CLF_TUNE_FAST */
    int binaries;       /* enum clf_program_binaries; default CLF_BINARIES_AUTO */
};

/* Fills env with the current values (NULL when unset). */
void clf_env_read(struct clf_env *env);

/* Parses every enumerated or numeric variable of env into out. On a value
 * outside the accepted ones, that value's default in out, false and, in
 * msg, the variable, the value and what it accepts (the first bad one). */
bool clf_env_parse(const struct clf_env *env, struct clf_env_values *out, char *msg,
                   size_t msg_size);

#endif
