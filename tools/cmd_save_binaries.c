/* `clformer save-binaries`: writes into the cache the program binaries that
 * another process built from source without writing them
 * (clf_ctx_unsaved_programs' list on standard input), which `run` and
 * `embed` start in the background on drivers that keep their own build
 * cache (PoCL; cli_save_binaries_later). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: clformer save-binaries [--device SPEC] [--quiet] [--when-idle] < LIST\n\n"
           "Writes the kernel program binaries named on standard input into the\n"
           "cache directory, so that later processes load them (5-9 ms a program)\n"
           "instead of building them from source (65-120 ms with PoCL's own cache\n"
           "warm). On PoCL, which compiles every kernel of a program again when asked\n"
           "for its binary (seconds), `run` and `embed` do not write binaries while\n"
           "they work (CLFORMER_BINARIES auto): when they built any program from\n"
           "source, they start this command in the background, at low priority, with\n"
           "the list of those programs and --when-idle, after their own work is\n"
           "done. One such process writes at a time per cache directory;\n"
           "CLFORMER_BINARIES=off (or no cache directory) starts none. LIST is the\n"
           "library's text\n"
           "(clf_ctx_unsaved_programs: FAMILY<tab>OPTIONS lines) from a process on the\n"
           "same device.\n\n"
           "  -d, --device SPEC  the device the list was built for (auto by default)\n"
           "  -q, --quiet        print nothing on success\n"
           "      --when-idle    first wait for the cache's other writers, then until\n"
           "                     no `run` or `embed` on this cache directory has run\n"
           "                     for 2 s (60 s at most), so that the compiling does not\n"
           "                     slow a command started right after the one that\n"
           "                     started this (as `run` and `embed` start it)\n"
           "  -h, --help         this text\n");
}

/* Standard input, whole (at most 1 MiB), NUL-terminated; NULL after an error. */
static char *read_list(void)
{
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap + 1);
    if (!s) {
        cli_error("out of memory");
        return NULL;
    }
    size_t got;
    while (n < cap && (got = fread(s + n, 1, cap - n, stdin)) > 0)
        n += got;
    if (ferror(stdin) || (n == cap && fgetc(stdin) != EOF)) {
        cli_error("standard input: %s", ferror(stdin) ? "cannot be read" : "over 1 MiB");
        free(s);
        return NULL;
    }
    s[n] = 0;
    return s;
}

/* --when-idle's waits (cli_wait_quiet): the quiet a writer waits for, and
 * the most it waits. A command started within 2 s of the last one ends
 * (a script's next line, a loop) finds no writer compiling: on 2 cores a
 * `run` started the moment another ended took 0.75-0.82 s with the writer
 * compiling beside it, 0.43 s without (docs/measurements.md). */
#define IDLE_QUIET_MS 2000.0
#define IDLE_MAX_MS 60000.0

/* Holds dir/saver.lock (blocking: the writers queue) until exit: tools and
 * tests wait on it for the binaries of the processes before them. */
static void hold_saver_lock(const char *dir)
{
    int fd = cli_open_lock(dir, "saver.lock");
    if (fd >= 0 && flock(fd, LOCK_EX) != 0)
        close(fd);
    /* else left open: the lock goes with the process */
}

int cmd_save_binaries(int argc, char **argv)
{
    enum { OPT_WHEN_IDLE = 256 };
    static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"when-idle", no_argument, NULL, OPT_WHEN_IDLE},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *device = NULL;
    bool quiet = false, when_idle = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'q': quiet = true; break;
        case OPT_WHEN_IDLE: when_idle = true; break;
        case 'h': help(); return CLI_OK;
        case ':':
            return cli_usage_error("save-binaries", "option '%s' needs a value",
                                   argv[optind - 1]);
        default:
            return cli_usage_error("save-binaries", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("save-binaries", "unexpected argument '%s' (the list is read "
                               "from standard input)", argv[optind]);
    char *list = read_list();
    if (!list)
        return CLI_FAIL;
    struct clf_ctx_params p = cli_ctx_params(device, true);
    struct clf_ctx *ctx = NULL;
    int rc = CLI_FAIL, saved = 0;
    if (clf_ctx_create(&p, &ctx) == CLF_OK) { /* else the log handler said why */
        if (when_idle) {
            hold_saver_lock(clf_ctx_cache_dir(ctx));
            cli_wait_quiet(clf_ctx_cache_dir(ctx), IDLE_QUIET_MS, IDLE_MAX_MS);
        }
        if (clf_ctx_save_binaries(ctx, list, &saved) != CLF_OK) {
            cli_error("%s", clf_ctx_last_error(ctx));
        } else {
            rc = CLI_OK;
            if (!quiet)
                printf("%d program binar%s written to %s\n", saved, saved == 1 ? "y" : "ies",
                       clf_ctx_cache_dir(ctx));
        }
    }
    clf_ctx_destroy(ctx);
    free(list);
    return rc;
}
