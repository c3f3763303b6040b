/* The ABI rule of params structs (clformer/core.h, "The ABI of structs"):
 * X_init writes exactly the caller's size (zeroing what the library does
 * not know) and equals X_default; a caller built against older headers
 * (a smaller size) gets the defaults for the fields it lacks, whatever its
 * memory holds past its struct; a newer caller's fields the library does
 * not know must be zero (CLF_E_UNSUPPORTED otherwise); a size of 0 (a
 * struct not made by X_init or X_default) is refused. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* A params struct with room past it, as a newer caller's would have. */
#define EXTRA 24
#define BUF(type)                                                                            \
    union {                                                                                  \
        struct type p;                                                                       \
        unsigned char bytes[sizeof(struct type) + EXTRA];                                    \
    }

/* X_init against X_default, and the bytes it writes for each size. */
#define CHECK_INIT(type)                                                                     \
    do {                                                                                     \
        BUF(type) u;                                                                         \
        struct type d = type##_default();                                                    \
        ck_assert_uint_eq(d.size, sizeof d);                                                 \
        memset(&u, 0xab, sizeof u);                                                          \
        type##_init(&u.p, sizeof u.p);                                                       \
        ck_assert_int_eq(memcmp(&u.p, &d, sizeof d), 0);                                     \
        for (size_t k = sizeof u.p; k < sizeof u; k++)                                       \
            ck_assert_msg(u.bytes[k] == 0xab, #type ": byte %zu past the size written", k);  \
        /* an older caller: only its bytes */                                                \
        const size_t old = sizeof(size_t) + (sizeof u.p - sizeof(size_t)) / 2;              \
        memset(&u, 0xab, sizeof u);                                                          \
        type##_init(&u.p, old);                                                              \
        ck_assert_uint_eq(u.p.size, old);                                                    \
        ck_assert_int_eq(memcmp(u.bytes + sizeof(size_t), (unsigned char *)&d + sizeof(size_t), \
                                old - sizeof(size_t)),                                       \
                         0);                                                                 \
        for (size_t k = old; k < sizeof u; k++)                                              \
            ck_assert_msg(u.bytes[k] == 0xab, #type ": byte %zu past the size written", k);  \
        /* a newer caller: the fields this library does not know zeroed */                   \
        memset(&u, 0xab, sizeof u);                                                          \
        type##_init(&u.p, sizeof u);                                                         \
        ck_assert_uint_eq(u.p.size, sizeof u);                                               \
        ck_assert_int_eq(memcmp(u.bytes + sizeof(size_t), (unsigned char *)&d + sizeof(size_t), \
                                sizeof d - sizeof(size_t)),                                  \
                         0);                                                                 \
        for (size_t k = sizeof u.p; k < sizeof u; k++)                                       \
            ck_assert_msg(u.bytes[k] == 0, #type ": byte %zu not zeroed", k);                \
        /* nothing to write to */                                                            \
        type##_init(NULL, sizeof u.p);                                                       \
        memset(&u, 0xab, sizeof u);                                                          \
        type##_init(&u.p, sizeof(size_t) - 1);                                               \
        ck_assert_uint_eq(u.bytes[0], 0xab);                                                 \
    } while (0)

START_TEST(test_init)
{
    CHECK_INIT(clf_ctx_params);
    CHECK_INIT(clf_gemm_params);
    CHECK_INIT(clf_attention_params);
    CHECK_INIT(clf_quant_params);
    CHECK_INIT(clf_gemm_q8_params);
    CHECK_INIT(clf_attention_quant_params);
    CHECK_INIT(clf_encoder_config);
    CHECK_INIT(clf_tokenizer_params);
    /* an encoder's configuration, written as the caller's size says */
    BUF(clf_encoder_config) u;
    memset(&u, 0xab, sizeof u);
    clf_encoder_config_of(NULL, &u.p, offsetof(struct clf_encoder_config, heads));
    ck_assert_int_eq(u.p.d_model, 512);
    ck_assert_uint_eq(u.bytes[offsetof(struct clf_encoder_config, heads)], 0xab);
}
END_TEST

/* The tokenizer needs no device: an older caller's struct ends before
 * max_word_chars, whose place holds garbage; the default (100) is used. */
START_TEST(test_import_host)
{
    char *dir = test_make_tmpdir("params");
    char *vocab = test_write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nab\n");

    BUF(clf_tokenizer_params) u;
    struct clf_tokenizer *t = NULL;
    memset(&u, 0x7f, sizeof u); /* max_length garbage too: huge, refused if read */
    clf_tokenizer_params_init(&u.p, offsetof(struct clf_tokenizer_params, max_length));
    u.p.max_word_chars = -5;
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, &u.p, &t), CLF_OK);
    int32_t ids[8];
    size_t n = 0;
    ck_assert_int_eq(clf_tokenizer_encode(t, "ab ab", ids, 8, &n, NULL), CLF_OK);
    ck_assert_uint_eq(n, 4); /* lower_case came from the caller, the rest defaults */
    clf_tokenizer_destroy(t);

    /* the same field in a caller's struct that has it: read and refused */
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.max_word_chars = -5;
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, &p, &t), CLF_E_INVALID_ARG);
    /* a newer caller's: zero past our struct is accepted, anything else not */
    memset(&u, 0, sizeof u);
    clf_tokenizer_params_init(&u.p, sizeof u);
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, &u.p, &t), CLF_OK);
    clf_tokenizer_destroy(t);
    u.bytes[sizeof u.p + 3] = 1;
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, &u.p, &t), CLF_E_UNSUPPORTED);
    ck_assert_ptr_null(t);
    /* no size: a struct not made by _init or _default */
    memset(&p, 0, sizeof p);
    p.max_length = 16;
    p.max_word_chars = 10;
    ck_assert_int_eq(clf_tokenizer_load(NULL, vocab, &p, &t), CLF_E_INVALID_ARG);
    test_remove_dir(dir);
    free(vocab);
    free(dir);
}
END_TEST

/* The same rule on a device: contexts, ops, encoders, groups. */
START_TEST(test_import_device)
{
    struct clf_ctx *ctx = test_ctx();
    /* a context: an older caller's struct ends before queues (garbage) */
    BUF(clf_ctx_params) cu;
    memset(&cu, 0x55, sizeof cu);
    clf_ctx_params_init(&cu.p, offsetof(struct clf_ctx_params, queues));
    cu.p.disk_cache = false;
    cu.p.log_level = CLF_LOG_NONE;
    struct clf_ctx *c2 = NULL;
    ck_assert_int_eq(clf_ctx_create(&cu.p, &c2), CLF_OK);
    clf_ctx_destroy(c2);
    struct clf_ctx_params cp = clf_ctx_params_default();
    cp.log_level = CLF_LOG_NONE;
    cp.queues = 0x55555555;
    ck_assert_int_eq(clf_ctx_create(&cp, &c2), CLF_E_INVALID_ARG);
    cp.size = 0;
    cp.queues = 0;
    ck_assert_int_eq(clf_ctx_create(&cp, &c2), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(c2);
    struct clf_group *grp = NULL;
    ck_assert_int_eq(clf_group_create("0:0", &cp, &grp, NULL, 0), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(grp);

    /* a GEMM: the older struct ends before act (garbage there) */
    const int64_t s[2] = {2, 2};
    const float x[4] = {1, -2, 3, -4};
    struct clf_tensor *a = test_upload(2, s, x);
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    BUF(clf_gemm_params) gu;
    memset(&gu, 0x77, sizeof gu);
    clf_gemm_params_init(&gu.p, offsetof(struct clf_gemm_params, bias));
    gu.p.alpha = 2.0f;
    struct clf_tensor *y = NULL;
    ck_assert_ok(ctx, clf_op_gemm(g, a, a, &gu.p, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float out[4];
    ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
    ck_assert(out[0] == 2 * (1 - 6) && out[3] == 2 * (-6 + 16)); /* 2·A·A, no act */
    struct clf_gemm_params gp = clf_gemm_params_default();
    gp.act = (enum clf_act)0x77777777;
    ck_assert_status(ctx, clf_op_gemm(g, a, a, &gp, &y), CLF_E_INVALID_ARG);
    gp = clf_gemm_params_default();
    gp.size = 0;
    ck_assert_status(ctx, clf_op_gemm(g, a, a, &gp, &y), CLF_E_INVALID_ARG);
    memset(&gu, 0, sizeof gu);
    clf_gemm_params_init(&gu.p, sizeof gu);
    gu.bytes[sizeof gu.p] = 1;
    ck_assert_status(ctx, clf_op_gemm(g, a, a, &gu.p, &y), CLF_E_UNSUPPORTED);
    /* the other ops' params: no size, refused before anything is recorded */
    size_t nodes = clf_graph_node_count(g);
    struct clf_attention_params ap = clf_attention_params_default();
    ap.size = 0;
    const int64_t s4[4] = {1, 1, 2, 2};
    struct clf_tensor *q = NULL;
    ck_assert_ok(ctx, clf_tensor_view(a, 4, s4, (const int64_t[4]){4, 4, 2, 1}, 0, &q));
    ck_assert_status(ctx, clf_op_attention(g, q, q, q, &ap, &y), CLF_E_INVALID_ARG);
    struct clf_attention_quant_params aq = clf_attention_quant_params_default();
    aq.size = 0;
    ck_assert_status(ctx, clf_op_attention_quant(g, q, q, NULL, q, NULL, &aq, &y),
                     CLF_E_INVALID_ARG);
    struct clf_quant_params qp = clf_quant_params_default();
    qp.size = 0;
    struct clf_tensor *sc = NULL, *zr = NULL;
    ck_assert_status(ctx, clf_op_quantize(g, a, &qp, &y, &sc, &zr), CLF_E_INVALID_ARG);
    struct clf_gemm_q8_params q8 = clf_gemm_q8_params_default();
    q8.size = 0;
    ck_assert_status(ctx, clf_op_gemm_q8(g, a, a, a, a, &q8, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), nodes);
    clf_tensor_destroy(q);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);

    /* an encoder: the older struct ends before kv (garbage there) */
    BUF(clf_encoder_config) eu;
    memset(&eu, 0x66, sizeof eu);
    clf_encoder_config_init(&eu.p, offsetof(struct clf_encoder_config, kv));
    eu.p.d_model = 8;
    eu.p.heads = 2;
    eu.p.d_ff = 16;
    eu.p.layers = 1;
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &eu.p, 1, &enc));
    struct clf_encoder_config got = clf_encoder_get_config(enc);
    ck_assert_int_eq(got.d_model, 8);
    ck_assert_int_eq(got.kv, CLF_KV_F32);
    ck_assert_int_eq(got.ffn_act.kind, CLF_ACTQ_NONE);
    ck_assert_int_eq(got.attn_p_bits, 4);
    /* the caller's struct of an older size receives only that much */
    memset(&eu, 0x66, sizeof eu);
    clf_encoder_config_of(enc, &eu.p, offsetof(struct clf_encoder_config, d_ff));
    ck_assert_int_eq(eu.p.heads, 2);
    ck_assert_uint_eq(eu.bytes[offsetof(struct clf_encoder_config, d_ff)], 0x66);
    clf_encoder_destroy(enc);
    struct clf_encoder_config ec = got;
    ec.kv = (enum clf_kv_format)0x66666666;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &ec, 1, &enc), CLF_E_INVALID_ARG);
    ec = got;
    ec.size = 0;
    ck_assert_status(ctx, clf_encoder_create_random(ctx, &ec, 1, &enc), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(enc);
}
END_TEST

/* clf_encoder_config_option: every option's words into cfg, a bad value or
 * name refused with its reason, the other fields untouched. */
START_TEST(test_encoder_option)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    char msg[256];
    const struct {
        const char *name, *value;
    } good[] = {{"activation", "gelu-tanh"}, {"attn-impl", "gemm"},   {"attn", "topk:32"},
                {"kv", "int8:channel,q"},     {"attn-quant", "log:5"}, {"linear", "int8"},
                {"precision", "bf16"},        {"ffn", "svd:16"},      {"ffn-act", "binary"},
                {"drop-dense", NULL}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(clf_encoder_config_option(&c, good[i].name, good[i].value, msg,
                                                sizeof msg) == CLF_OK,
                      "%s %s: %s", good[i].name, good[i].value, msg);
    ck_assert_int_eq(c.act, CLF_ACT_GELU_TANH);
    ck_assert_int_eq(c.attn_impl, CLF_ATTN_GEMM);
    ck_assert_int_eq(c.attn.sparsity, CLF_ATTN_TOPK);
    ck_assert_int_eq(c.attn.topk, 32);
    ck_assert_int_eq(c.kv, CLF_KV_INT8_CHANNEL);
    ck_assert(c.attn_q_int8);
    ck_assert_int_eq(c.attn_p, CLF_P_LOG);
    ck_assert_int_eq(c.attn_p_bits, 5);
    ck_assert(c.linear_int8);
    ck_assert_int_eq(c.precision, CLF_PRECISION_BF16);
    ck_assert_int_eq(c.ffn.format, CLF_FFN_SVD);
    ck_assert_int_eq(c.ffn.rank, 16);
    ck_assert_int_eq(c.ffn_act.kind, CLF_ACTQ_BINARY);
    ck_assert(c.drop_dense);
    ck_assert_ok(NULL, clf_encoder_config_option(&c, "kv", "int8", NULL, 0));
    ck_assert_int_eq(c.kv, CLF_KV_INT8_TOKEN);
    ck_assert(!c.attn_q_int8); /* no ,q: f32 queries again */
    ck_assert_ok(NULL, clf_encoder_config_option(&c, "attn-quant", "f16", NULL, 0));
    ck_assert_int_eq(c.attn_p, CLF_P_F16);

    const struct clf_encoder_config before = c;
    const struct {
        const char *name, *value, *why;
    } bad[] = {{"activation", "swish", "unknown activation 'swish'"},
               {"attn-impl", "flash", "unknown --attn-impl 'flash'"},
               {"attn", "topk:x", "--attn topk:x: "},
               {"kv", "int4", "--kv takes f32"},
               {"kv", "f32,q", "with ,q for int8 queries"},
               {"kv", "int8,x", "--kv takes f32"},
               {"attn-quant", "log:9", "log:B with B in 2..8"},
               {"attn-quant", "log:", "log:B"},
               {"attn-quant", "log:3x", "log:B"},
               {"linear", "int4", "--linear takes f32 or int8"},
               {"precision", "f64", "--precision takes f32, f16 or bf16"},
               {"ffn", "svd:", "--ffn svd:: "},
               {"ffn-act", "lsq:99", "--ffn-act lsq:99: "},
               {"layers", "2", "unknown encoder option 'layers'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(clf_encoder_config_option(&c, bad[i].name, bad[i].value, msg, sizeof msg),
                         CLF_E_INVALID_ARG);
        ck_assert_msg(strstr(msg, bad[i].why) != NULL, "%s %s: '%s'", bad[i].name, bad[i].value,
                      msg);
    }
    ck_assert(memcmp(&before, &c, sizeof c) == 0);
    ck_assert_int_eq(clf_encoder_config_option(NULL, "kv", "f32", msg, sizeof msg),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_config_option(&c, "kv", NULL, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_encoder_config_option(&c, NULL, "f32", NULL, 0), CLF_E_INVALID_ARG);
}
END_TEST

int main(void)
{
    test_seed();
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_encoder_option);
    tcase_add_test(tc, test_import_host);
    if (test_have_device()) /* the rest needs a device */
        tcase_add_test(tc, test_import_device);
    else
        printf("no OpenCL device: skipping the calls that need a context\n");
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
