/* Every environment variable the library reads, in one place, and every
 * enumerated or numeric one checked here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env.h"
#include "ctx.h"

void clf_env_read(struct clf_env *env)
{
    env->device = getenv("CLFORMER_DEVICE");
    env->cache_dir = getenv("CLFORMER_CACHE_DIR");
    env->cl_dir = getenv("CLFORMER_CL_DIR");
    env->log = getenv("CLFORMER_LOG");
    env->gemm = getenv("CLFORMER_GEMM");
    env->queues = getenv("CLFORMER_QUEUES");
    env->command_buffer = getenv("CLFORMER_COMMAND_BUFFER");
    env->plan = getenv("CLFORMER_PLAN");
    env->tune = getenv("CLFORMER_TUNE");
    env->binaries = getenv("CLFORMER_BINARIES");
    env->model_dir = getenv("CLFORMER_MODEL_DIR");
    env->xdg_cache = getenv("XDG_CACHE_HOME");
    env->home = getenv("HOME");
}

/* A variable taking one of a few words (compared without case), the i-th
 * word meaning value values[i] (its index where values is NULL). */
struct choice {
    const char *var;
    size_t in;  /* offsetof the string in struct clf_env */
    size_t out; /* offsetof the int in struct clf_env_values */
    int dflt;
    const char *words[6]; /* NULL-terminated */
    const int *values;
};

static const int tune_values[] = {CLF_TUNE_OFF, CLF_TUNE_FAST, CLF_TUNE_FULL};

static const struct choice choices[] = {
    {"CLFORMER_LOG", offsetof(struct clf_env, log), offsetof(struct clf_env_values, log),
     CLF_LOG_WARN, {"debug", "info", "warn", "error", "none", NULL}, NULL},
    {"CLFORMER_GEMM", offsetof(struct clf_env, gemm), offsetof(struct clf_env_values, gemm),
     CLF_GEMM_AUTO, {"auto", "clblast", "native", NULL}, NULL},
    {"CLFORMER_COMMAND_BUFFER", offsetof(struct clf_env, command_buffer),
     offsetof(struct clf_env_values, command_buffer), -1, {"0", "1", NULL}, NULL},
    {"CLFORMER_PLAN", offsetof(struct clf_env, plan), offsetof(struct clf_env_values, plan), 0,
     {"auto", "arena", "pool", "none", NULL}, NULL},
    {"CLFORMER_TUNE", offsetof(struct clf_env, tune), offsetof(struct clf_env_values, tune),
     CLF_TUNE_FAST, {"off", "fast", "full", NULL}, tune_values},
    {"CLFORMER_BINARIES", offsetof(struct clf_env, binaries),
     offsetof(struct clf_env_values, binaries), CLF_BINARIES_AUTO, {"auto", "on", "off", NULL},
     NULL},
};

/* "a, b or c" into buf. */
static void list_words(const char *const *words, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; words[i] && used < size; i++) {
        const char *sep = i == 0 ? "" : words[i + 1] ? ", " : " or ";
        int n = snprintf(buf + used, size - used, "%s%s", sep, words[i]);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Sets *out from one choice; false when the value is none of its words. */
static bool parse_choice(const struct choice *c, const char *value, int *out)
{
    *out = c->dflt;
    if (!value || !*value)
        return true;
    for (int i = 0; c->words[i]; i++)
        if (!strcasecmp(value, c->words[i])) {
            *out = c->values ? c->values[i] : i;
            return true;
        }
    return false;
}

/* CLFORMER_QUEUES: a decimal integer in [0, CLF_MAX_QUEUES]. */
static bool parse_queues(const char *value, int *out)
{
    *out = 0;
    if (!value || !*value)
        return true;
    char *end = NULL;
    long q = strtol(value, &end, 10);
    if (*end || q < 0 || q > CLF_MAX_QUEUES)
        return false;
    *out = (int)q;
    return true;
}

bool clf_env_parse(const struct clf_env *env, struct clf_env_values *out, char *msg,
                   size_t msg_size)
{
    bool ok = true;
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        const struct choice *c = &choices[i];
        const char *value = *(const char *const *)((const char *)env + c->in);
        int *dst = (int *)((char *)out + c->out);
        if (!parse_choice(c, value, dst) && ok) {
            char words[96];
            list_words(c->words, words, sizeof words);
            snprintf(msg, msg_size, "environment variable %s '%s': %s", c->var,
                     value, words);
            ok = false;
        }
    }
    if (!parse_queues(env->queues, &out->queues) && ok) {
        snprintf(msg, msg_size,
                 "environment variable CLFORMER_QUEUES '%s': an integer from 0 to %d",
                 env->queues, CLF_MAX_QUEUES);
        ok = false;
    }
    return ok;
}
