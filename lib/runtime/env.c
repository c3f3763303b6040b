/* Every environment variable the library reads, in one place. */
#include <stdlib.h>
#include <string.h>

#include "env.h"

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
    env->xdg_cache = getenv("XDG_CACHE_HOME");
    env->home = getenv("HOME");
}

bool clf_env_tune_mode(const char *value, enum clf_tune_mode *mode)
{
    static const struct {
        const char *name;
        enum clf_tune_mode mode;
    } modes[] = {{"off", CLF_TUNE_OFF}, {"fast", CLF_TUNE_FAST}, {"full", CLF_TUNE_FULL}};
    if (!value || !*value) {
        *mode = CLF_TUNE_FAST;
        return true;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(value, modes[i].name)) {
            *mode = modes[i].mode;
            return true;
        }
    return false;
}
