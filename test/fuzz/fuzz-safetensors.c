/* libFuzzer harness: clf_safetensors_open on arbitrary bytes, without a
 * context (no OpenCL), then the shape of every tensor and, for those that
 * convert to float32, the data (into an array of exactly the element
 * count, so ASan catches any write past it). Every failure must come with
 * a message. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    struct clf_safetensors *sf = NULL;
    char msg[512];
    if (clf_safetensors_open(path, &sf, msg, sizeof msg) != CLF_OK) {
        FUZZ_CHECK(sf == NULL, "handle set on failure");
        FUZZ_CHECK(msg[0] != 0, "failure without a message");
        return 0;
    }
    size_t count = clf_safetensors_count(sf);
    for (size_t i = 0; i < count; i++) {
        const char *name = clf_safetensors_name(sf, i);
        FUZZ_CHECK(name != NULL, "tensor %zu has no name", i);
        int ndim = -1;
        int64_t shape[CLF_MAX_DIMS];
        const char *dtype = NULL;
        if (clf_safetensors_shape(sf, name, &ndim, shape, &dtype) != CLF_OK) {
            FUZZ_CHECK(clf_safetensors_last_error(sf)[0] != 0, "failure without a message");
            continue; /* more than CLF_MAX_DIMS dims */
        }
        FUZZ_CHECK(ndim >= 0 && ndim <= CLF_MAX_DIMS && dtype, "ndim %d", ndim);
        uint64_t n = 1;
        for (int d = 0; d < ndim; d++) {
            FUZZ_CHECK(shape[d] >= 0, "negative dim");
            n *= (uint64_t)shape[d];
        }
        /* every element holds at least one byte of the file */
        FUZZ_CHECK(n <= size, "%llu elements from %zu bytes", (unsigned long long)n, size);
        float *x = malloc(n ? (size_t)n * sizeof *x : 1);
        FUZZ_CHECK(x != NULL, "no memory");
        if (clf_safetensors_read(sf, name, x, (size_t)n) == CLF_OK) {
            volatile float sum = 0;
            for (uint64_t k = 0; k < n; k++)
                sum += x[k];
            (void)sum;
        }
        /* a wrong count is refused, never read */
        if (n > 0)
            FUZZ_CHECK(clf_safetensors_read(sf, name, x, (size_t)n - 1) != CLF_OK,
                       "short count accepted");
        free(x);
    }
    FUZZ_CHECK(clf_safetensors_name(sf, count) == NULL, "name past the end");
    clf_safetensors_close(sf);
    return 0;
}
