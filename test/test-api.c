/* Every public function called with NULL or invalid arguments returns a
 * status or a neutral value; none crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Sets or (NULL) unsets an environment variable. */
static void set_env(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* clf_default_model_dir's rule, each variable in turn; the environment is
 * put back after. */
START_TEST(test_default_model_dir)
{
    static const char *names[3] = {"CLFORMER_MODEL_DIR", "XDG_CACHE_HOME", "HOME"};
    char *saved[3];
    for (int i = 0; i < 3; i++)
        saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    static const struct {
        const char *env[3], *want;
    } cases[] = {
        {{"/m", "/x", "/h"}, "/m"},
        {{"", "/x", "/h"}, "/x/clformer/models/all-MiniLM-L6-v2"},
        {{NULL, "", "/h"}, "/h/.cache/clformer/models/all-MiniLM-L6-v2"},
        {{NULL, NULL, NULL}, "./.cache/clformer/models/all-MiniLM-L6-v2"},
    };
    char buf[128];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int i = 0; i < 3; i++)
            set_env(names[i], cases[c].env[i]);
        ck_assert_int_eq(clf_default_model_dir(buf, sizeof buf), CLF_OK);
        ck_assert_str_eq(buf, cases[c].want);
    }
    ck_assert_int_eq(clf_default_model_dir(buf, 3), CLF_E_INVALID_ARG); /* "./.cache..." */
    ck_assert_int_eq(clf_default_model_dir(NULL, 10), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_default_model_dir(buf, 0), CLF_E_INVALID_ARG);
    for (int i = 0; i < 3; i++) {
        set_env(names[i], saved[i]);
        free(saved[i]);
    }
}
END_TEST

START_TEST(test_without_context)
{
    for (int s = -1; s <= 20; s++)
        ck_assert_ptr_nonnull(clf_status_str((enum clf_status)s));
    ck_assert_str_eq(clf_status_str(CLF_OK), "ok");
    ck_assert_str_eq(clf_status_str(CLF_E_BUILD), "kernel build failed");
    ck_assert_ptr_nonnull(clf_version());
    ck_assert_ptr_nonnull(clf_device_type_str((enum clf_device_type)0));
    size_t n = 0;
    struct clf_device_info *list = NULL, info;
    ck_assert_int_eq(clf_devices_query(NULL, &n), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_devices_query(&list, NULL), CLF_E_INVALID_ARG);
    clf_devices_free(NULL);
    char msg[64];
    ck_assert_int_eq(clf_device_find(NULL, NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_find("nonexistent-xyz", &info, NULL, 0), CLF_E_DEVICE_SPEC);
    ck_assert_int_eq(clf_ctx_create(NULL, NULL), CLF_E_INVALID_ARG);
    clf_ctx_destroy(NULL);
    ck_assert_ptr_nonnull(clf_ctx_last_error(NULL));
    ck_assert_int_eq(clf_ctx_device_info(NULL, &info), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(clf_ctx_cache_dir(NULL));
    ck_assert_int_eq(clf_ctx_warmup(NULL), CLF_E_INVALID_ARG);
    struct clf_ctx_stats st;
    ck_assert_int_eq(clf_ctx_stats(NULL, &st), CLF_E_INVALID_ARG);
    clf_ctx_trim(NULL);
    ck_assert_uint_eq(clf_dtype_size((enum clf_dtype)42), 0);
    ck_assert_str_eq(clf_dtype_str((enum clf_dtype)42), "?");
    int64_t shape[1] = {4};
    struct clf_tensor *t = NULL;
    ck_assert_int_eq(clf_tensor_create(NULL, CLF_F32, 1, shape, &t), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_create(NULL, CLF_F32, 1, shape, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_view(NULL, 1, shape, shape, 0, &t), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_view(NULL, 1, shape, shape, 0, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_slice(NULL, 0, 0, 1, &t), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_slice(NULL, 0, 0, 1, NULL), CLF_E_INVALID_ARG);
    clf_tensor_destroy(NULL);
    float f[4];
    ck_assert_int_eq(clf_tensor_write(NULL, f, sizeof f), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_read(NULL, f, sizeof f), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_ndim(NULL), 0);
    ck_assert_int_eq(clf_tensor_dim(NULL, 0), 0);
    ck_assert_int_eq(clf_tensor_stride(NULL, 0), 0);
    ck_assert_int_eq(clf_tensor_offset(NULL), 0);
    ck_assert_int_eq(clf_tensor_numel(NULL), 0);
    ck_assert(!clf_tensor_is_contiguous(NULL));
    ck_assert_int_eq(clf_tensor_dtype(NULL), CLF_F32);
    struct clf_graph *g = NULL;
    ck_assert_int_eq(clf_graph_create(NULL, &g), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_graph_create(NULL, NULL), CLF_E_INVALID_ARG);
    clf_graph_destroy(NULL);
    ck_assert_uint_eq(clf_graph_node_count(NULL), 0);
    ck_assert_int_eq(clf_graph_run(NULL), CLF_E_INVALID_ARG);
    struct clf_node_info node = {.size = sizeof node};
    ck_assert_int_eq(clf_graph_node_info(NULL, 0, &node), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_add(NULL, NULL, NULL, &t), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_mul(NULL, NULL, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_scale(NULL, NULL, 1, 0, &t), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_copy(NULL, NULL, &t), CLF_E_INVALID_ARG);
}
END_TEST

START_TEST(test_with_context)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_device_info info;
    ck_assert_int_eq(clf_ctx_device_info(ctx, NULL), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    ck_assert_uint_gt(strlen(info.name), 0);
    ck_assert_int_eq(clf_ctx_stats(ctx, NULL), CLF_E_INVALID_ARG);
    int64_t shape[2] = {2, 2};
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 2, NULL, NULL), CLF_E_INVALID_ARG);
    struct clf_tensor *t = NULL;
    ck_assert_status(ctx, clf_tensor_create(ctx, CLF_F32, 2, NULL, &t), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &t));
    ck_assert_status(ctx, clf_tensor_view(t, 2, shape, shape, 0, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_view(t, 2, NULL, shape, 0, NULL), CLF_E_INVALID_ARG);
    struct clf_tensor *v = NULL;
    ck_assert_status(ctx, clf_tensor_view(t, 2, NULL, shape, 0, &v), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_slice(t, 0, 0, 1, NULL), CLF_E_INVALID_ARG);
    struct clf_graph *g = NULL;
    ck_assert_status(ctx, clf_graph_create(ctx, NULL), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_add(g, NULL, t, &v), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_mul(g, t, NULL, &v), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_scale(g, NULL, 1, 0, &v), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_scale(g, t, 1, 0, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_copy(g, t, NULL), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    clf_graph_destroy(g);
    clf_tensor_destroy(t);
    ck_assert_ptr_nonnull(clf_ctx_last_error(ctx));
}
END_TEST

int main(void)
{
    test_seed();
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("null");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_without_context);
    tcase_add_test(tc, test_default_model_dir);
    if (test_have_device()) /* the rest needs a device */
        tcase_add_test(tc, test_with_context);
    else
        printf("no OpenCL device: skipping the calls that need a context\n");
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
