/* libFuzzer harness: clf_npy_read on arbitrary bytes, without a context
 * (no OpenCL). A failure must come with a message; on success the shape
 * must be valid and every element readable (ASan checks the array's
 * extent). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    float *x = NULL;
    int ndim = -1;
    int64_t shape[CLF_MAX_DIMS];
    char msg[512];
    enum clf_status st = clf_npy_read(path, &x, &ndim, shape, msg, sizeof msg);
    if (st != CLF_OK) {
        FUZZ_CHECK(x == NULL, "data set on failure");
        FUZZ_CHECK(msg[0] != 0 && strlen(msg) < sizeof msg, "failure without a message");
        return 0;
    }
    FUZZ_CHECK(ndim >= 0 && ndim <= CLF_MAX_DIMS, "ndim %d", ndim);
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        FUZZ_CHECK(shape[d] >= 0, "negative dim");
        n *= (uint64_t)shape[d];
    }
    /* the data came from the file, so it is no larger than the input */
    FUZZ_CHECK(n * 4 <= size, "%llu elements from %zu bytes", (unsigned long long)n, size);
    volatile float sum = 0;
    for (uint64_t i = 0; i < n; i++)
        sum += x[i];
    (void)sum;
    free(x);
    return 0;
}
