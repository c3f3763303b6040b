/* libFuzzer harness: clf_device_match on a fixed list of fake devices.
 * Input: byte 0 picks the message buffer's size (0..255, allocated exactly,
 * so ASan catches a write past it), byte 1 the device count (0..79: past
 * the parser's 64-entry table too), the rest is the spec. On success the
 * index is in range; the message is always NUL-terminated inside its
 * buffer. */
#include "fuzz.h"

#define NDEV 80

static struct clf_device_info devs[NDEV];

static void make_devices(void)
{
    static const char *names[] = {"NVIDIA GeForce RTX 4090", "pthread-AMD EPYC 7B13",
                                  "gfx1100", "Intel(R) UHD Graphics 770", "Xe:HPG"};
    static const char *platforms[] = {"NVIDIA CUDA", "Portable Computing Language", "AMD APP",
                                      "Intel(R) OpenCL HD Graphics", "rusticl"};
    static const enum clf_device_type types[] = {CLF_DEVICE_GPU, CLF_DEVICE_CPU, CLF_DEVICE_GPU,
                                                 CLF_DEVICE_GPU, CLF_DEVICE_ACCELERATOR};
    for (int i = 0; i < NDEV; i++) {
        int k = i % 5;
        devs[i].platform_index = i % 7;
        devs[i].device_index = i / 7;
        snprintf(devs[i].name, sizeof devs[i].name, "%s", names[k]);
        snprintf(devs[i].platform_name, sizeof devs[i].platform_name, "%s", platforms[k]);
        devs[i].type = types[k];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!devs[0].name[0])
        make_devices();
    size_t msg_size = data[0];
    size_t count = data[1] % NDEV;
    char *spec = fuzz_string(data + 2, size - 2);
    char *msg = msg_size ? malloc(msg_size) : NULL;
    size_t index = (size_t)-1;
    enum clf_status st = clf_device_match(spec, devs, count, &index, msg, msg_size);
    if (st == CLF_OK)
        FUZZ_CHECK(index < count, "index %zu of %zu", index, count);
    if (msg)
        FUZZ_CHECK(memchr(msg, 0, msg_size) != NULL, "message not terminated");
    free(msg);
    free(spec);
    return 0;
}
