/* `clformer info`: every probed capability of one device; with --build, a
 * context on it that builds (or loads from cache) every kernel program. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: clformer info [--device SPEC] [--json] [--build]\n\n"
           "Shows every probed capability of one device. With --build it also creates\n"
           "a context on the device and builds every kernel program the library has,\n"
           "with the default options (the first use of each builds it otherwise),\n"
           "reporting how long that took and how many came from the program cache.\n\n"
           "  -d, --device SPEC  auto (default, or $CLFORMER_DEVICE), gpu, cpu, accelerator,\n"
           "                     TYPE:N, P:D, or a substring of the platform or device\n"
           "                     name (NAME:N for the N-th match)\n"
           "      --json         print JSON\n"
           "      --build        create a context and build every kernel program\n"
           "      --no-build     only probe (the default; kept for older scripts)\n"
           "  -h, --help         this text\n");
}

static void print_text(const struct clf_device_info *d)
{
    char b[32];
    printf("device            %d:%d %s\n", d->platform_index, d->device_index, d->name);
    printf("type              %s\n", clf_device_type_str(d->type));
    printf("vendor            %s\n", d->vendor);
    printf("platform          %s (%s)\n", d->platform_name, d->platform_vendor);
    printf("platform version  %s\n", d->platform_version);
    printf("driver version    %s\n", d->driver_version);
    printf("OpenCL version    %s\n", d->version);
    printf("OpenCL C version  %s\n", d->c_version);
    printf("compute units     %u\n", d->compute_units);
    printf("clock             %u MHz\n", d->clock_mhz);
    printf("global memory     %s\n", cli_bytes(d->global_mem_bytes, b, sizeof b));
    printf("local memory      %s (%s)\n", cli_bytes(d->local_mem_bytes, b, sizeof b),
           d->local_mem_dedicated ? "dedicated" : "emulated in global");
    printf("constant memory   %s\n", cli_bytes(d->constant_mem_bytes, b, sizeof b));
    printf("max allocation    %s\n", cli_bytes(d->max_alloc_bytes, b, sizeof b));
    printf("max work-group    %zu\n", d->max_work_group_size);
    printf("base alignment    %u bits\n", d->mem_base_align_bits);
    printf("vector widths     char %u, short %u, int %u, long %u, float %u, double %u, half %u\n",
           d->vec_char, d->vec_short, d->vec_int, d->vec_long, d->vec_float, d->vec_double,
           d->vec_half);
    printf("fp16              %s\n", d->fp16 ? "yes" : "no (storage only)");
    printf("fp64              %s\n", d->fp64 ? "yes" : "no");
    printf("subgroups         %s\n", d->subgroups ? "yes" : "no");
    printf("integer dot       %s\n", d->int_dot_product ? "yes" : "no");
    printf("command buffer    %s\n", d->command_buffer ? "yes" : "no");
    printf("out-of-order queue %s\n", d->out_of_order_queue ? "yes" : "no");
    printf("profiling         %s\n", d->profiling ? "yes" : "no");
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"build", no_argument, NULL, 'b'},
                                         {"no-build", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *device = NULL;
    bool json = false, build = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'b': build = true; break;
        case 'n': build = false; break;
        case 'h': help(); return CLI_OK;
        case ':':
            return cli_usage_error("info", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("info", "unexpected argument '%s'", argv[optind]);

    struct clf_device_info info;
    struct clf_ctx_stats stats;
    memset(&stats, 0, sizeof stats);
    const char *cache = NULL;
    double create_ms = 0;
    struct clf_ctx *ctx = NULL;
    int rc = CLI_OK;

    if (build) {
        struct clf_ctx_params p = cli_ctx_params(device, json);
        struct timespec t0, t1, t2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum clf_status st = clf_ctx_create(&p, &ctx);
        if (st != CLF_OK)
            return CLI_FAIL; /* the log handler printed why */
        clock_gettime(CLOCK_MONOTONIC, &t1);
        st = clf_ctx_warmup(ctx);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        if (st != CLF_OK) {
            rc = cli_error("building kernels failed: %s", clf_ctx_last_error(ctx));
            clf_ctx_destroy(ctx);
            return rc;
        }
        create_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        clf_ctx_device_info(ctx, &info);
        clf_ctx_stats(ctx, &stats);
        cache = clf_ctx_cache_dir(ctx);
        double warm_ms = (double)(t2.tv_sec - t1.tv_sec) * 1e3 +
                         (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
        stats.build_ms = warm_ms;
    } else {
        char msg[2048];
        if (clf_device_find(device, &info, msg, sizeof msg) != CLF_OK)
            return cli_error("%s", msg);
    }

    if (json) {
        cJSON *o = cli_device_json(&info);
        if (o && build) {
            cJSON *k = cJSON_AddObjectToObject(o, "kernels");
            if (k) {
                cJSON_AddNumberToObject(k, "context_create_ms", create_ms);
                cJSON_AddNumberToObject(k, "build_ms", stats.build_ms);
                cJSON_AddNumberToObject(k, "programs_built", stats.programs_built);
                cJSON_AddNumberToObject(k, "programs_loaded_from_cache", stats.programs_loaded);
                cJSON_AddNumberToObject(k, "cache_writes", stats.cache_writes);
                cJSON_AddNumberToObject(k, "cache_rejected", stats.cache_rejected);
                if (cache)
                    cJSON_AddStringToObject(k, "cache_dir", cache);
                else
                    cJSON_AddNullToObject(k, "cache_dir");
            }
        }
        rc = cli_print_json(o);
    } else {
        print_text(&info);
        if (build) {
            printf("program cache     %s\n", cache ? cache : "disabled");
            printf("context create    %.1f ms\n", create_ms);
            printf("kernel programs   %u built, %u loaded from cache, %u written to it, "
                   "%u rejected, %.1f ms\n",
                   stats.programs_built, stats.programs_loaded, stats.cache_writes,
                   stats.cache_rejected, stats.build_ms);
        }
    }
    clf_ctx_destroy(ctx);
    return rc;
}
