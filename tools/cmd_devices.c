/* `clformer devices`: every OpenCL device, as a table or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(void)
{
    printf("Usage: clformer devices [--json]\n\n"
           "Lists every device of every OpenCL platform. The ID column (P:D) is a\n"
           "device spec for --device and CLFORMER_DEVICE.\n\n"
           "  --json     print a JSON array with every probed capability\n"
           "  -h, --help this text\n");
}

int cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    bool json = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': help(); return CLI_OK;
        default:
            return cli_usage_error("devices", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);

    struct clf_device_info *devs = NULL;
    size_t n = 0;
    enum clf_status st = clf_devices_query(&devs, &n);
    if (st != CLF_OK && st != CLF_E_NO_DEVICE)
        return cli_error("cannot list devices: %s", clf_status_str(st));
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr && i < n; i++)
            cJSON_AddItemToArray(arr, cli_device_json(&devs[i]));
        clf_devices_free(devs);
        return cli_print_json(arr);
    }
    if (n == 0) {
        clf_devices_free(devs);
        return cli_error("no OpenCL device found (is an ICD such as pocl-opencl-icd installed?)");
    }
    printf("%-5s %-11s %-40s %-28s %4s %10s  %s\n", "ID", "TYPE", "NAME", "PLATFORM", "CU",
           "MEMORY", "OPENCL C");
    for (size_t i = 0; i < n; i++) {
        const struct clf_device_info *d = &devs[i];
        char id[16], mem[32];
        snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
        printf("%-5s %-11s %-40.40s %-28.28s %4u %10s  %s\n", id, clf_device_type_str(d->type),
               d->name, d->platform_name, d->compute_units,
               cli_bytes(d->global_mem_bytes, mem, sizeof mem), d->c_version);
    }
    clf_devices_free(devs);
    return CLI_OK;
}
