/* The `clformer` command: dispatches to one subcommand per file. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_save_binaries(int argc, char **argv);

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run an encoder stack forward (the main job)"},
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"info", cmd_info, "show every capability of one device and build its kernels"},
    {"bench", cmd_bench, "time ops against a CPU baseline measured in the same run"},
    {"analyze", cmd_analyze, "analyse a layer's attention (singular values, low-rank error)"},
    {"embed", cmd_embed, "sentence embeddings with a BERT model (all-MiniLM-L6-v2)"},
    {"serve", cmd_serve, "an OpenAI-compatible embeddings server with dynamic batching"},
    {"tune", cmd_tune, "measure a job's GEMM and attention choices; share them"},
    {"save-binaries", cmd_save_binaries, "write kernel binaries into the cache (run, embed: in the background)"},
};

/* Every environment variable the library and the command read (lib/runtime/
 * env.c, tools/cli_mpi.c), one line each; test/cli.sh checks that the
 * sources read no other. */
static const struct {
    const char *name, *effect;
} environment[] = {
    {"CLFORMER_DEVICE", "default device spec: auto, gpu, cpu:1, P:D, name"},
    {"CLFORMER_CACHE_DIR", "kernel binary and tuning cache, this user's alone; empty: none"},
    {"CLFORMER_CL_DIR", "read the kernels' .cl sources from this directory"},
    {"CLFORMER_LOG", "log level: debug, info, warn (default), error, none"},
    {"CLFORMER_GEMM", "GEMM provider: auto (default), clblast, native"},
    {"CLFORMER_QUEUES", "0: an out-of-order queue (default); N (1 to 16): N in-order"},
    {"CLFORMER_COMMAND_BUFFER", "0: never record graphs into command buffers; 1: on CPU devices too"},
    {"CLFORMER_PLAN", "intermediates' memory: auto, arena, pool, none"},
    {"CLFORMER_TUNE", "auto-tuning: off, fast (default), full"},
    {"CLFORMER_BINARIES", "program binaries in the cache: auto, on, off"},
    {"CLFORMER_MODEL_DIR", "model of embed, serve, bench model (all-MiniLM-L6-v2)"},
    {"XDG_CACHE_HOME", "the default cache is $XDG_CACHE_HOME/clformer"},
    {"HOME", "without XDG_CACHE_HOME: $HOME/.cache/clformer"},
    {"OMPI_COMM_WORLD_SIZE", "set by mpirun (Open MPI): run as one of its ranks"},
    {"PMI_SIZE", "set by other MPI launchers (PMI): the same"},
    {"PMIX_RANK", "set by PMIx launchers: the same"},
    {"OMPI_COMM_WORLD_LOCAL_RANK", "the node-local rank that picks a rank's device"},
    {"MPI_LOCALRANKID", "the same, set by MPICH"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: clformer [--version] [--help] COMMAND [OPTIONS]\n"
               "       clformer help COMMAND\n\n"
               "A portable OpenCL backend for transformer inference.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'clformer help COMMAND' (or 'clformer COMMAND --help') describes a\n"
               "command's options. Exit status: 0 done, 1 the work failed (standard\n"
               "output that cannot be written too), 2 a bad command line.\n\n"
               "Environment (--device, --model and the library's params win over it; a\n"
               "value outside those listed fails the command, naming the variable):\n");
    for (size_t i = 0; i < sizeof environment / sizeof environment[0]; i++)
        fprintf(f, "  %-26s  %s\n", environment[i].name, environment[i].effect);
}

/* `clformer help [COMMAND]`: the usage, or COMMAND --help. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc > 3)
        return cli_usage_error(NULL, "help takes one command, not '%s'", argv[3]);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[2], commands[i].name)) {
            char *args[] = {argv[2], "--help", NULL};
            return commands[i].run(2, args);
        }
    return cli_usage_error(NULL, "help: unknown command '%s'", argv[2]);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "help"))
        return help(argc, argv);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("clformer %s\n", clf_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            if (rc != CLI_OK && !cli_said_why()) /* every failure says why */
                cli_error("%s failed without saying why (a bug: please report it)", cmd);
            return rc;
        }
    if (cmd[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", cmd);
    return cli_usage_error(NULL, "unknown command '%s'", cmd);
}

/* A command's exit status, failed when what it printed on stdout could not
 * be written (a full disk, /dev/full, a closed pipe without SIGPIPE): stdout
 * is flushed and closed here, before the process exits with 0. */
int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    errno = 0;
    bool failed = fflush(stdout) != 0;
    int err = errno;
    failed |= ferror(stdout) != 0; /* an earlier write failed (its errno is gone) */
    if (fclose(stdout) != 0 && !failed) {
        failed = true;
        err = errno;
    }
    if (failed) {
        fprintf(stderr, "clformer: cannot write the standard output: %s\n",
                err ? strerror(err) : "a write failed");
        return rc == CLI_OK ? CLI_FAIL : rc;
    }
    return rc;
}
