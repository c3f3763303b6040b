/* `clformer save-binaries`: writes into the cache the program binaries that
 * another process built from source without writing them
 * (clf_ctx_unsaved_programs' list on standard input), which `run` and
 * `embed` start in the background on drivers that keep their own build
 * cache (PoCL; cli_save_binaries_later). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: clformer save-binaries [--device SPEC] [--quiet] < LIST\n\n"
           "Writes the kernel program binaries named on standard input into the\n"
           "cache directory, so that later processes load them (5-9 ms a program)\n"
           "instead of building them from source (65-120 ms with PoCL's own cache\n"
           "warm). On PoCL, which compiles every kernel of a program again when asked\n"
           "for its binary (seconds), `run` and `embed` do not write binaries while\n"
           "they work (CLFORMER_BINARIES auto): when they built any program from\n"
           "source, they start this command in the background, at low priority, with\n"
           "the list of those programs, after their own work is done. One such\n"
           "process runs at a time per cache directory; CLFORMER_BINARIES=off (or no\n"
           "cache directory) starts none. LIST is the library's text\n"
           "(clf_ctx_unsaved_programs: FAMILY<tab>OPTIONS lines) from a process on the\n"
           "same device.\n\n"
           "  -d, --device SPEC  the device the list was built for (auto by default)\n"
           "  -q, --quiet        print nothing on success\n"
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

int cmd_save_binaries(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *device = NULL;
    bool quiet = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'q': quiet = true; break;
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
