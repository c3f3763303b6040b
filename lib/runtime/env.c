/* Every environment variable the library reads, in one place. */
#include <stdlib.h>

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
    env->binaries = getenv("CLFORMER_BINARIES");
    env->xdg_cache = getenv("XDG_CACHE_HOME");
    env->home = getenv("HOME");
}
