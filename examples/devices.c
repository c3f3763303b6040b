/*
 * List every OpenCL device clformer can use, and the one a context picks.
 *
 *   cc devices.c $(pkg-config --cflags --libs clformer) -o devices
 *   ./devices            # the default device: $CLFORMER_DEVICE, else auto
 *   ./devices cpu        # any device spec: gpu, cpu:1, 0:1, nvidia, ...
 *
 * One line per device: its id (P:D, a device spec), type, name, platform,
 * compute units and memory; then "picked: P:D NAME".
 */
#include <clformer.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    struct clf_device_info *list = NULL;
    size_t n = 0;
    enum clf_status st = clf_devices_query(&list, &n);
    if (st != CLF_OK) {
        fprintf(stderr, "no OpenCL device: %s\n", clf_status_str(st));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct clf_device_info *d = &list[i];
        printf("%d:%d  %-11s %s (%s), %u compute units, %llu MiB\n", d->platform_index,
               d->device_index, clf_device_type_str(d->type), d->name, d->platform_name,
               d->compute_units, (unsigned long long)(d->global_mem_bytes >> 20));
    }
    clf_devices_free(list);

    /* A context on the device a spec picks: the first argument, else the
     * default (device NULL: $CLFORMER_DEVICE, else "auto"). */
    struct clf_ctx_params p = clf_ctx_params_default();
    if (argc > 1)
        p.device = argv[1];
    struct clf_ctx *ctx = NULL;
    if (clf_ctx_create(&p, &ctx) != CLF_OK)
        return 1; /* the reason went to stderr through the default log handler */
    struct clf_device_info d;
    st = clf_ctx_device_info(ctx, &d);
    if (st == CLF_OK)
        printf("picked: %d:%d %s\n", d.platform_index, d.device_index, d.name);
    clf_ctx_destroy(ctx);
    return st == CLF_OK ? 0 : 1;
}
