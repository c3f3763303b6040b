/* Device spec grammar (clf_device_match) on synthetic device lists: no
 * OpenCL needed. */
#include <stdio.h>
#include <string.h>

#include "common.h"

static struct clf_device_info devs[5];
static const size_t ndev = 5;

static void add(size_t i, int p, int d, enum clf_device_type type, const char *plat,
                const char *name)
{
    memset(&devs[i], 0, sizeof devs[i]);
    devs[i].platform_index = p;
    devs[i].device_index = d;
    devs[i].type = type;
    snprintf(devs[i].platform_name, sizeof devs[i].platform_name, "%s", plat);
    snprintf(devs[i].name, sizeof devs[i].name, "%s", name);
}

static void setup(void)
{
    add(0, 0, 0, CLF_DEVICE_CPU, "Portable Computing Language", "pthread-skylake-avx512");
    add(1, 1, 0, CLF_DEVICE_GPU, "NVIDIA CUDA", "NVIDIA H200");
    add(2, 1, 1, CLF_DEVICE_GPU, "NVIDIA CUDA", "NVIDIA H100 PCIe");
    add(3, 2, 0, CLF_DEVICE_GPU, "AMD Accelerated Parallel Processing", "gfx1100:xnack-");
    add(4, 3, 0, CLF_DEVICE_ACCELERATOR, "Intel(R) FPGA SDK", "de10_agilex");
}

/* Matches spec and returns the picked index, or -1 with the status in *st. */
static int pick(const char *spec, enum clf_status *st, char *msg, size_t msg_size)
{
    size_t idx = 999;
    *st = clf_device_match(spec, devs, ndev, &idx, msg, msg_size);
    return *st == CLF_OK ? (int)idx : -1;
}

static int pick_ok(const char *spec)
{
    enum clf_status st;
    char msg[512];
    int i = pick(spec, &st, msg, sizeof msg);
    ck_assert_msg(st == CLF_OK, "'%s': %s", spec, msg);
    return i;
}

START_TEST(test_auto_and_types)
{
    ck_assert_int_eq(pick_ok("auto"), 1);
    ck_assert_int_eq(pick_ok("  AUTO "), 1);
    ck_assert_int_eq(pick_ok("gpu"), 1);
    ck_assert_int_eq(pick_ok("gpu:0"), 1);
    ck_assert_int_eq(pick_ok("gpu:1"), 2);
    ck_assert_int_eq(pick_ok("GPU:2"), 3);
    ck_assert_int_eq(pick_ok("cpu"), 0);
    ck_assert_int_eq(pick_ok("accelerator"), 4);
    ck_assert_int_eq(pick_ok("acc"), 4);
}
END_TEST

START_TEST(test_auto_fallbacks)
{
    size_t idx = 99;
    /* no GPU: accelerator before CPU */
    struct clf_device_info two[2] = {devs[0], devs[4]};
    ck_assert_int_eq(clf_device_match("auto", two, 2, &idx, NULL, 0), CLF_OK);
    ck_assert_uint_eq(idx, 1);
    /* only a CPU */
    ck_assert_int_eq(clf_device_match("auto", devs, 1, &idx, NULL, 0), CLF_OK);
    ck_assert_uint_eq(idx, 0);
    /* a device of type "other" only */
    struct clf_device_info other = devs[0];
    other.type = CLF_DEVICE_OTHER;
    ck_assert_int_eq(clf_device_match("auto", &other, 1, &idx, NULL, 0), CLF_OK);
    ck_assert_uint_eq(idx, 0);
}
END_TEST

START_TEST(test_platform_device_index)
{
    ck_assert_int_eq(pick_ok("0:0"), 0);
    ck_assert_int_eq(pick_ok("1:1"), 2);
    ck_assert_int_eq(pick_ok("3:0"), 4);
    enum clf_status st;
    char msg[1024];
    ck_assert_int_eq(pick("1:2", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
    /* the message lists what exists */
    ck_assert_ptr_nonnull(strstr(msg, "NVIDIA H200"));
    ck_assert_ptr_nonnull(strstr(msg, "1:1"));
    ck_assert_int_eq(pick("99999999999999999999:0", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_int_eq(pick_ok("h200"), 1);
    ck_assert_int_eq(pick_ok("H100"), 2);
    ck_assert_int_eq(pick_ok("gfx1100"), 3);
    ck_assert_int_eq(pick_ok("gfx1100:xnack-"), 3);
    ck_assert_int_eq(pick_ok("portable"), 0); /* platform name */
    ck_assert_int_eq(pick_ok("skylake"), 0);
    ck_assert_int_eq(pick_ok("fpga"), 4);
    ck_assert_int_eq(pick_ok("nvidia:0"), 1);
    ck_assert_int_eq(pick_ok("nvidia:1"), 2);
}
END_TEST

START_TEST(test_ambiguous_and_unknown)
{
    enum clf_status st;
    char msg[1024];
    ck_assert_int_eq(pick("nvidia", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
    ck_assert_ptr_nonnull(strstr(msg, "ambiguous"));
    ck_assert_ptr_nonnull(strstr(msg, "H200"));
    ck_assert_ptr_nonnull(strstr(msg, "H100"));
    ck_assert_ptr_null(strstr(msg, "skylake")); /* only the matches are listed */

    ck_assert_int_eq(pick("tpu", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
    ck_assert_ptr_nonnull(strstr(msg, "unknown device spec 'tpu'"));
    ck_assert_ptr_nonnull(strstr(msg, "gfx1100")); /* lists every device */

    ck_assert_int_eq(pick("nvidia:2", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
    ck_assert_int_eq(pick("gpu:3", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
    ck_assert_int_eq(pick("auto:1", &st, msg, sizeof msg), -1);
    ck_assert_int_eq(st, CLF_E_DEVICE_SPEC);
}
END_TEST

START_TEST(test_bad_arguments)
{
    size_t idx = 0;
    char msg[256];
    ck_assert_int_eq(clf_device_match(NULL, devs, ndev, &idx, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_match("auto", devs, ndev, NULL, msg, sizeof msg),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_match("auto", NULL, 3, &idx, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_match("", devs, ndev, &idx, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_match("   ", devs, ndev, &idx, msg, sizeof msg),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_device_match("auto", devs, 0, &idx, msg, sizeof msg), CLF_E_NO_DEVICE);
    char longspec[600];
    memset(longspec, 'x', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = 0;
    ck_assert_int_eq(clf_device_match(longspec, devs, ndev, &idx, msg, sizeof msg),
                     CLF_E_DEVICE_SPEC);
    /* a tiny message buffer is still terminated, and NULL is allowed */
    char tiny[4];
    ck_assert_int_eq(clf_device_match("tpu", devs, ndev, &idx, tiny, sizeof tiny),
                     CLF_E_DEVICE_SPEC);
    ck_assert_uint_le(strlen(tiny), 3);
    ck_assert_int_eq(clf_device_match("tpu", devs, ndev, &idx, NULL, 0), CLF_E_DEVICE_SPEC);
    ck_assert_str_eq(clf_device_type_str(CLF_DEVICE_GPU), "gpu");
    ck_assert_str_eq(clf_device_type_str((enum clf_device_type)77), "other");
}
END_TEST

/* The --attn grammar (clf_attention_variant_parse) and its printed form. */
START_TEST(test_attention_variants)
{
    struct clf_attention_variant v;
    char msg[256], back[128];
    ck_assert_int_eq(clf_attention_variant_parse("exact", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.sparsity, CLF_ATTN_EXACT);
    ck_assert_int_eq(clf_attention_variant_parse("threshold:1e-3,renorm", &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.sparsity, CLF_ATTN_THRESHOLD);
    ck_assert_float_eq(v.threshold, 1e-3f);
    ck_assert(v.renormalize);
    ck_assert_int_eq(clf_attention_variant_parse("topk:32", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.sparsity, CLF_ATTN_TOPK);
    ck_assert_int_eq(v.topk, 32);
    ck_assert_int_eq(clf_attention_variant_parse("window:128,global:2", &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.window_left, 64); /* 129 keys: 64 on each side */
    ck_assert_int_eq(v.window_right, 64);
    ck_assert_int_eq(v.global_tokens, 2);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "window:128,global:2");
    ck_assert_int_eq(clf_attention_variant_parse("window:7", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.window_left, 3);
    ck_assert_int_eq(v.window_right, 4);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "window:7");
    ck_assert_int_eq(clf_attention_variant_parse("window:8,left:3,right:0", &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.window_left, 3);
    ck_assert_int_eq(v.window_right, 0);
    clf_attention_variant_str(&v, back, sizeof back);
    struct clf_attention_variant again;
    ck_assert_int_eq(clf_attention_variant_parse(back, &again, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(again.window_left, 3); /* the printed form parses back the same */
    ck_assert_int_eq(again.window_right, 0);

    static const char *bad[] = {"",           "topk:0",        "topk:-3",       "topk",
                                "topk:1.5",   "window:-1",     "window:4,global:-1",
                                "threshold:1", "threshold:-0.1", "threshold:nan", "threshold:x",
                                "exact:3",    "window:4,renorm", "topk:8,left:2", "dense",
                                "window:4,left"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v.sparsity = CLF_ATTN_TOPK;
        v.topk = 77;
        ck_assert_msg(clf_attention_variant_parse(bad[i], &v, msg, sizeof msg) ==
                          CLF_E_INVALID_ARG,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strlen(msg) > 0, "'%s': no message", bad[i]);
        ck_assert_int_eq(v.topk, 77); /* untouched on failure */
    }
    ck_assert_int_eq(clf_attention_variant_parse(NULL, &v, NULL, 0), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_attention_variant_parse("exact", NULL, NULL, 0), CLF_E_INVALID_ARG);
}
END_TEST

/* Linformer's --attn form: linformer:R[,mean|,gauss][,seed:S], printed back
 * to the same variant. */
START_TEST(test_attention_linformer)
{
    struct clf_attention_variant v, again;
    char msg[256], back[128];
    ck_assert_int_eq(clf_attention_variant_parse("linformer:64", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.sparsity, CLF_ATTN_LINFORMER);
    ck_assert_int_eq(v.rank, 64);
    ck_assert_int_eq(v.projection, CLF_PROJ_MEAN);
    ck_assert_int_eq(v.seed, 0);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "linformer:64");
    ck_assert_int_eq(clf_attention_variant_parse("linformer:8,mean", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.projection, CLF_PROJ_MEAN);
    ck_assert_int_eq(v.rank, 8);
    ck_assert_int_eq(clf_attention_variant_parse("linformer:16,gauss,seed:18446744073709551615",
                                                 &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.projection, CLF_PROJ_GAUSSIAN);
    ck_assert(v.seed == UINT64_MAX);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "linformer:16,gauss,seed:18446744073709551615");
    ck_assert_int_eq(clf_attention_variant_parse(back, &again, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(again.sparsity, CLF_ATTN_LINFORMER);
    ck_assert_int_eq(again.rank, 16);
    ck_assert_int_eq(again.projection, CLF_PROJ_GAUSSIAN);
    ck_assert(again.seed == UINT64_MAX);
    ck_assert_int_eq(clf_attention_variant_parse("linformer:3,seed:7,gauss", &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.projection, CLF_PROJ_GAUSSIAN);
    ck_assert(v.seed == 7);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "linformer:3,gauss,seed:7");

    static const char *bad[] = {"linformer",          "linformer:0",          "linformer:-2",
                                "linformer:1.5",      "linformer:x",          "linformer:4,gauss:1",
                                "linformer:4,seed",   "linformer:4,seed:-1",  "linformer:4,seed:x",
                                "linformer:4,seed:1,seed:2", "linformer:4,mean,gauss",
                                "linformer:4,renorm", "linformer:4,global:2", "topk:4,gauss",
                                "window:4,seed:3",    "linformer:4,seed:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v.sparsity = CLF_ATTN_TOPK;
        v.topk = 77;
        ck_assert_msg(clf_attention_variant_parse(bad[i], &v, msg, sizeof msg) ==
                          CLF_E_INVALID_ARG,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strlen(msg) > 0, "'%s': no message", bad[i]);
        ck_assert_int_eq(v.topk, 77); /* untouched on failure */
    }
}
END_TEST

/* Nystromformer's --attn form: nystrom:M[,iters:N], printed back (iters
 * only when set: 0 means the default 6). */
START_TEST(test_attention_nystrom)
{
    struct clf_attention_variant v;
    char msg[128], back[64];
    ck_assert_int_eq(clf_attention_variant_parse("nystrom:64", &v, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(v.sparsity, CLF_ATTN_NYSTROM);
    ck_assert_int_eq(v.rank, 64);
    ck_assert_int_eq(v.iters, 0);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "nystrom:64");
    ck_assert_int_eq(clf_attention_variant_parse("nystrom:8,iters:20", &v, msg, sizeof msg),
                     CLF_OK);
    ck_assert_int_eq(v.rank, 8);
    ck_assert_int_eq(v.iters, 20);
    clf_attention_variant_str(&v, back, sizeof back);
    ck_assert_str_eq(back, "nystrom:8,iters:20");
    struct clf_attention_variant again;
    ck_assert_int_eq(clf_attention_variant_parse(back, &again, msg, sizeof msg), CLF_OK);
    ck_assert_int_eq(again.rank, 8);
    ck_assert_int_eq(again.iters, 20);
    static const char *bad[] = {"nystrom",          "nystrom:0",         "nystrom:-3",
                                "nystrom:x",        "nystrom:8,iters:-1", "nystrom:8,seed:3",
                                "nystrom:8,iters",  "nystrom:8,iters:x",  "nystrom:8,iters:1,iters:2",
                                "nystrom:8,gauss",  "nystrom:8,iters:99999999999", "linformer:4,iters:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = 0;
        ck_assert_msg(clf_attention_variant_parse(bad[i], &v, msg, sizeof msg) ==
                          CLF_E_INVALID_ARG,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(msg[0] != 0, "'%s': no message", bad[i]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spec");
    TCase *tc = tcase_create("match");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_auto_and_types);
    tcase_add_test(tc, test_auto_fallbacks);
    tcase_add_test(tc, test_platform_device_index);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_ambiguous_and_unknown);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("attention");
    tcase_add_test(ta, test_attention_variants);
    tcase_add_test(ta, test_attention_linformer);
    tcase_add_test(ta, test_attention_nystrom);
    suite_add_tcase(s, ta);
    return test_run_suite(s);
}
