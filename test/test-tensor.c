/* Tensors: round trips for every dtype, views (slices, head splits,
 * transposes, broadcasts) read and written against a CPU gather, storage
 * lifetime, the buffer pool, and shape errors. */
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const enum clf_dtype dtypes[] = {CLF_F32, CLF_F16, CLF_I8, CLF_I32};

static void fill_random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)test_rand_u64();
}

/* Storage element index of the i-th element (row-major) of view v. */
static int64_t storage_index(const struct clf_tensor *v, int64_t i)
{
    int64_t off = clf_tensor_offset(v);
    for (int d = clf_tensor_ndim(v) - 1; d >= 0; d--) {
        off += (i % clf_tensor_dim(v, d)) * clf_tensor_stride(v, d);
        i /= clf_tensor_dim(v, d);
    }
    return off;
}

/* CPU gather: the elements a view addresses, from a dense copy of its
 * storage, in row-major order of the view's shape. */
static void gather(const void *storage, size_t es, const struct clf_tensor *v, void *out)
{
    for (int64_t i = 0; i < clf_tensor_numel(v); i++)
        memcpy((char *)out + (size_t)i * es,
               (const char *)storage + (size_t)storage_index(v, i) * es, es);
}

/* The inverse: writes dense `src` into the storage copy at the view's places. */
static void scatter(void *storage, size_t es, const struct clf_tensor *v, const void *src)
{
    for (int64_t i = 0; i < clf_tensor_numel(v); i++)
        memcpy((char *)storage + (size_t)storage_index(v, i) * es,
               (const char *)src + (size_t)i * es, es);
}

START_TEST(test_round_trip_each_dtype)
{
    struct clf_ctx *ctx = test_ctx();
    enum clf_dtype dt = dtypes[_i];
    size_t es = clf_dtype_size(dt);
    int64_t shape[3] = {3, 5, 7 + (int64_t)(test_rand_u64() % 9)};
    size_t n = (size_t)(shape[0] * shape[1] * shape[2]);
    unsigned char *src = malloc(n * es), *dst = malloc(n * es);
    fill_random_bytes(src, n * es);
    memset(dst, 0xab, n * es); /* poison */
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 3, shape, &t));
    ck_assert_int_eq(clf_tensor_dtype(t), dt);
    ck_assert_int_eq(clf_tensor_numel(t), (int64_t)n);
    ck_assert(clf_tensor_is_contiguous(t));
    ck_assert_ok(ctx, clf_tensor_write(t, src, n * es));
    ck_assert_ok(ctx, clf_tensor_read(t, dst, n * es));
    ck_assert_mem_eq(src, dst, n * es);
    clf_tensor_destroy(t);
    free(src);
    free(dst);
}
END_TEST

/* Makes the views exercised below of a [2,3,4,6] base (144 elements). */
static int make_views(struct clf_tensor *base, struct clf_tensor **v)
{
    struct clf_ctx *ctx = test_ctx();
    int n = 0;
    /* slice of dim 2 */
    ck_assert_ok(ctx, clf_tensor_slice(base, 2, 1, 2, &v[n++]));
    /* head split: base seen as [seq 12, heads 3 * d 4] -> [heads 3, seq 12, d 4] */
    int64_t hs[3] = {3, 12, 4}, hst[3] = {4, 12, 1};
    ck_assert_ok(ctx, clf_tensor_view(base, 3, hs, hst, 0, &v[n++]));
    /* full transpose [6,4,3,2] */
    int64_t ts[4] = {6, 4, 3, 2}, tst[4] = {1, 6, 24, 72};
    ck_assert_ok(ctx, clf_tensor_view(base, 4, ts, tst, 0, &v[n++]));
    /* slice of a slice (offsets add up), then a column */
    struct clf_tensor *s1 = NULL;
    ck_assert_ok(ctx, clf_tensor_slice(base, 1, 1, 2, &s1));
    ck_assert_ok(ctx, clf_tensor_slice(s1, 3, 5, 1, &v[n++]));
    clf_tensor_destroy(s1);
    /* 1-D strided at an offset */
    int64_t ls[1] = {20}, lst[1] = {7};
    ck_assert_ok(ctx, clf_tensor_view(base, 1, ls, lst, 3, &v[n++]));
    return n;
}

START_TEST(test_view_read)
{
    struct clf_ctx *ctx = test_ctx();
    enum clf_dtype dt = dtypes[_i];
    size_t es = clf_dtype_size(dt);
    int64_t shape[4] = {2, 3, 4, 6};
    unsigned char host[144 * 4], got[144 * 4], want[144 * 4];
    fill_random_bytes(host, sizeof host);
    struct clf_tensor *base = NULL, *v[8];
    ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 4, shape, &base));
    ck_assert_ok(ctx, clf_tensor_write(base, host, 144 * es));
    int nv = make_views(base, v);

    /* broadcast (stride 0) reads repeat a row */
    int64_t bs[2] = {3, 6}, bst[2] = {0, 1};
    ck_assert_ok(ctx, clf_tensor_view(base, 2, bs, bst, 6, &v[nv++]));

    for (int k = 0; k < nv; k++) {
        size_t bytes = (size_t)clf_tensor_numel(v[k]) * es;
        memset(got, 0xcd, sizeof got);
        gather(host, es, v[k], want);
        ck_assert_ok(ctx, clf_tensor_read(v[k], got, bytes));
        ck_assert_msg(!memcmp(got, want, bytes), "view %d (%s) differs", k, clf_dtype_str(dt));
        clf_tensor_destroy(v[k]);
    }
    clf_tensor_destroy(base);
}
END_TEST

START_TEST(test_view_write)
{
    struct clf_ctx *ctx = test_ctx();
    enum clf_dtype dt = dtypes[_i];
    size_t es = clf_dtype_size(dt);
    int64_t shape[4] = {2, 3, 4, 6};
    unsigned char host[144 * 4], got[144 * 4], fresh[144 * 4];
    struct clf_tensor *base = NULL, *v[8];
    ck_assert_ok(ctx, clf_tensor_create(ctx, dt, 4, shape, &base));
    int nv = make_views(base, v);
    for (int k = 0; k < nv; k++) {
        fill_random_bytes(host, sizeof host);
        ck_assert_ok(ctx, clf_tensor_write(base, host, 144 * es));
        size_t bytes = (size_t)clf_tensor_numel(v[k]) * es;
        fill_random_bytes(fresh, bytes);
        ck_assert_ok(ctx, clf_tensor_write(v[k], fresh, bytes));
        scatter(host, es, v[k], fresh); /* expected storage */
        memset(got, 0xcd, sizeof got);
        ck_assert_ok(ctx, clf_tensor_read(base, got, 144 * es));
        ck_assert_msg(!memcmp(got, host, 144 * es), "write through view %d (%s) wrong", k,
                      clf_dtype_str(dt));
        clf_tensor_destroy(v[k]);
    }
    clf_tensor_destroy(base);
}
END_TEST

START_TEST(test_view_outlives_base)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t shape[2] = {4, 4};
    float host[16], got[4] = {0};
    for (int i = 0; i < 16; i++)
        host[i] = (float)i;
    struct clf_tensor *base = NULL, *row = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &base));
    ck_assert_ok(ctx, clf_tensor_write(base, host, sizeof host));
    ck_assert_ok(ctx, clf_tensor_slice(base, 0, 2, 1, &row));
    clf_tensor_destroy(base);
    ck_assert_ok(ctx, clf_tensor_read(row, got, sizeof got));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(got[i], (float)(8 + i));
    ck_assert_int_eq(clf_tensor_offset(row), 8);
    ck_assert(clf_tensor_is_contiguous(row));
    clf_tensor_destroy(row);
}
END_TEST

START_TEST(test_pool_reuse)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_ctx_stats s0, s1, s2, s3;
    int64_t shape[2] = {100, 37};
    struct clf_tensor *t = NULL;
    clf_ctx_trim(ctx);
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s0));
    ck_assert_uint_eq(s0.pool_bytes_free, 0);
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &t));
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s1));
    ck_assert_uint_eq(s1.pool_misses, s0.pool_misses + 1);
    ck_assert_uint_ge(s1.pool_bytes_live, s0.pool_bytes_live + 100 * 37 * 4);
    ck_assert_uint_ge(s1.pool_bytes_peak, s1.pool_bytes_live);
    clf_tensor_destroy(t);
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s2));
    ck_assert_uint_eq(s2.pool_bytes_live, s0.pool_bytes_live);
    ck_assert_uint_gt(s2.pool_bytes_free, 0);
    /* a request of about the same size reuses the buffer */
    int64_t shape2[1] = {100 * 37 - 5};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape2, &t));
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s3));
    ck_assert_uint_eq(s3.pool_hits, s2.pool_hits + 1);
    ck_assert_uint_eq(s3.pool_misses, s2.pool_misses);
    clf_tensor_destroy(t);
    clf_ctx_trim(ctx);
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s3));
    ck_assert_uint_eq(s3.pool_bytes_free, 0);
    ck_assert_uint_eq(s3.pool_bytes_peak, s3.pool_bytes_live); /* restarted by the trim */
}
END_TEST

START_TEST(test_shape_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL, *v = (struct clf_tensor *)ctx;
    int64_t shape[2] = {4, 6};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &t));

    int64_t bad0[2] = {4, 0}, neg[2] = {-1, 3}, big[3] = {1ll << 40, 1ll << 40, 1ll << 40};
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 2, bad0, &v), CLF_E_SHAPE);
    ck_assert_ptr_null(v);
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 2, neg, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 0, shape, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 5, shape, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 3, big, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_create(ctx, (enum clf_dtype)9, 2, shape, &v),
                     CLF_E_INVALID_ARG);

    /* larger than the device's max allocation: out of memory, sizes named */
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    int64_t huge[1] = {(int64_t)(info.max_alloc_bytes / 4 + 1024)};
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 1, huge, &v), CLF_E_OUT_OF_MEMORY);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "max allocation"));

    /* views outside the storage */
    int64_t vs[2] = {4, 6}, vst[2] = {6, 1}, negst[2] = {-6, 1};
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, vst, 1, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, vst, -1, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, vst, 24, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, negst, 23, &v), CLF_E_SHAPE);
    int64_t wide[2] = {4, 7};
    ck_assert_status(ctx, clf_tensor_view(t, 2, wide, vst, 0, &v), CLF_E_SHAPE);
    int64_t hugest[2] = {1ll << 62, 1};
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, hugest, 0, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_view(t, 2, vs, NULL, 0, &v), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_slice(t, 2, 0, 1, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_slice(t, -1, 0, 1, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_slice(t, 1, 0, 0, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_slice(t, 1, 5, 2, &v), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_slice(t, 1, -1, 2, &v), CLF_E_SHAPE);

    /* transfers of the wrong size, NULL buffers, overlapping writes */
    float host[24] = {0};
    ck_assert_status(ctx, clf_tensor_write(t, host, sizeof host - 4), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_read(t, host, sizeof host + 4), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_write(t, NULL, sizeof host), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_read(t, NULL, sizeof host), CLF_E_INVALID_ARG);
    int64_t bst[2] = {0, 1};
    ck_assert_ok(ctx, clf_tensor_view(t, 2, vs, bst, 0, &v));
    ck_assert_status(ctx, clf_tensor_write(v, host, sizeof host), CLF_E_SHAPE);
    clf_tensor_destroy(v);

    /* getters out of range */
    ck_assert_int_eq(clf_tensor_dim(t, 2), 0);
    ck_assert_int_eq(clf_tensor_stride(t, -1), 0);
    ck_assert_int_eq(clf_tensor_dim(t, 1), 6);
    ck_assert_int_eq(clf_tensor_stride(t, 0), 6);
    clf_tensor_destroy(t);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("tensor");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_round_trip_each_dtype, 0, 4);
    tcase_add_loop_test(tc, test_view_read, 0, 4);
    tcase_add_loop_test(tc, test_view_write, 0, 4);
    tcase_add_test(tc, test_view_outlives_base);
    tcase_add_test(tc, test_pool_reuse);
    tcase_add_test(tc, test_shape_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
