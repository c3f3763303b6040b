/* Limits checked before allocation: a tensor larger than the device's
 * largest single allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE) is refused with
 * CLF_E_OUT_OF_MEMORY naming both sizes, before clCreateBuffer is asked (a
 * driver may otherwise answer with a lazily failing buffer or a generic
 * error); element counts that overflow are CLF_E_SHAPE. The readers' limits
 * (header lengths, shapes, data offsets) are in test-io. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

/* A decimal rendering of v, for finding it in a message. */
static const char *dec(uint64_t v, char buf[32])
{
    snprintf(buf, 32, "%" PRIu64, v);
    return buf;
}

START_TEST(test_over_max_alloc)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    const uint64_t max = info.max_alloc_bytes;
    ck_assert_msg(max > 0, "device reports no max allocation");
    printf("limits: max allocation %" PRIu64 " bytes on '%s'\n", max, info.name);

    /* shapes whose byte size is just above the limit (1, 2 and 3 dims:
     * the product is what counts, never one dimension), and one far above
     * (but with a representable element count) */
    struct {
        int ndim;
        int64_t shape[3];
        enum clf_dtype dtype;
    } cases[] = {
        {1, {(int64_t)(max / 4 + 1)}, CLF_F32},
        {2, {2, (int64_t)(max / 8 + 1)}, CLF_F32},
        {3, {4, 2, (int64_t)(max / 32 + 1)}, CLF_F32},
        {1, {(int64_t)(max / 2 + 1)}, CLF_F16},
        {2, {1 << 20, (int64_t)(max / 4 / (1 << 20) + 1) * 1024}, CLF_F32},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct clf_tensor *t = (struct clf_tensor *)&t; /* must become NULL */
        uint64_t bytes = clf_dtype_size(cases[c].dtype);
        for (int d = 0; d < cases[c].ndim; d++)
            bytes *= (uint64_t)cases[c].shape[d];
        ck_assert_msg(bytes > max, "case %zu: %" PRIu64 " bytes is not above the limit", c,
                      bytes);
        ck_assert_status(ctx,
                         clf_tensor_create(ctx, cases[c].dtype, cases[c].ndim, cases[c].shape,
                                           &t),
                         CLF_E_OUT_OF_MEMORY);
        ck_assert_ptr_null(t);
        const char *msg = clf_ctx_last_error(ctx);
        char b1[32], b2[32];
        ck_assert_msg(strstr(msg, dec(bytes, b1)) != NULL,
                      "case %zu: message lacks the size %s: %s", c, b1, msg);
        ck_assert_msg(strstr(msg, dec(max, b2)) != NULL,
                      "case %zu: message lacks the device's limit %s: %s", c, b2, msg);
    }
    /* the context still works after the refusals */
    int64_t small[1] = {16};
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, small, &t));
    clf_tensor_destroy(t);
}
END_TEST

START_TEST(test_count_overflow)
{
    struct clf_ctx *ctx = test_ctx();
    /* element counts past int64 (and byte counts past size_t): CLF_E_SHAPE,
     * found without multiplying into an overflow */
    const int64_t shapes[][4] = {
        {INT64_MAX, 2, 1, 1},
        {(int64_t)1 << 32, (int64_t)1 << 32, 1, 1},
        {(int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21, 1},
        {(int64_t)1 << 62, 1, 1, 1},
    };
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        struct clf_tensor *t = NULL;
        enum clf_status st = clf_tensor_create(ctx, CLF_F32, 4, shapes[c], &t);
        ck_assert_msg(st == CLF_E_SHAPE || st == CLF_E_OUT_OF_MEMORY,
                      "case %zu: %s: %s", c, clf_status_str(st), clf_ctx_last_error(ctx));
        ck_assert_ptr_null(t);
        ck_assert_msg(clf_ctx_last_error(ctx)[0] != 0, "case %zu: no message", c);
    }
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, test_over_max_alloc);
    tcase_add_test(tc, test_count_overflow);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
