/* The `clformer` command: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_embed(int argc, char **argv);

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
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: clformer [--version] [--help] COMMAND [OPTIONS]\n\n"
               "A portable OpenCL backend for transformer inference.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'clformer COMMAND --help' describes a command's options.\n"
               "Environment: CLFORMER_DEVICE, CLFORMER_CACHE_DIR, CLFORMER_CL_DIR, "
               "CLFORMER_LOG,\nCLFORMER_GEMM (see README.md).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("clformer %s\n", clf_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    if (cmd[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", cmd);
    return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
