/* Tensors, graphs and tokenizers outliving their context: clf_ctx_destroy
 * drops the caller's reference, the context lives on (usable through what
 * holds it) and is freed with the last holder, exactly once. The context's
 * debug log says when it is freed; under AddressSanitizer (build-asan)
 * nothing may be used after it is freed, and LeakSanitizer finds it leaked
 * if a reference is never dropped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static char *cache;
static char *tmpdir;

/* Counts the "context ... freed" messages and the errors of one context. */
struct log_count {
    int freed, errors;
};

static void count_log(void *user, enum clf_log_level level, const char *msg)
{
    struct log_count *c = user;
    if (strstr(msg, "context on '") && strstr(msg, "' freed"))
        c->freed++;
    if (level == CLF_LOG_ERROR)
        c->errors++;
}

/* A context of its own that logs everything into *c. */
static struct clf_ctx *make_ctx(struct log_count *c)
{
    memset(c, 0, sizeof *c);
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache;
    p.log_fn = count_log;
    p.log_user = c;
    p.log_level = CLF_LOG_DEBUG;
    struct clf_ctx *ctx = NULL;
    enum clf_status st = clf_ctx_create(&p, &ctx);
    ck_assert_msg(st == CLF_OK, "context: %s", clf_status_str(st));
    return ctx;
}

/* Nothing made on it: destroyed at once. */
START_TEST(test_alone)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(c.freed, 1);
}
END_TEST

/* A tensor, a view of it and a graph keep the context: all usable after
 * clf_ctx_destroy, the context freed with the last of them. */
START_TEST(test_tensors_and_graph)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    const int64_t shape[1] = {8};
    struct clf_tensor *t = NULL, *v = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &t));
    ck_assert_ok(ctx, clf_tensor_slice(t, 0, 2, 4, &v));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_scale(g, v, 2.0f, 1.0f, &y));
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(c.freed, 0);

    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[4];
    ck_assert_int_eq(clf_tensor_write(t, x, sizeof x), CLF_OK);
    ck_assert_int_eq(clf_graph_run(g), CLF_OK);
    ck_assert_int_eq(clf_tensor_read(y, out, sizeof out), CLF_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(out[i] == 2 * x[2 + i] + 1);
    /* new views may still be taken of the tensors alive */
    struct clf_tensor *w = NULL;
    ck_assert_int_eq(clf_tensor_view(t, 1, shape, (const int64_t[1]){1}, 0, &w), CLF_OK);
    clf_tensor_destroy(w);

    clf_graph_destroy(g);
    ck_assert_int_eq(c.freed, 0);
    clf_tensor_destroy(t);
    ck_assert_int_eq(c.freed, 0); /* the view still holds it */
    clf_tensor_destroy(v);
    ck_assert_int_eq(c.freed, 1);
    ck_assert_int_eq(c.errors, 0);
}
END_TEST

/* The destroy order the other way round: graph outputs read after their
 * inputs are gone; the graph last. */
START_TEST(test_graph_last)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    const int64_t shape[2] = {3, 5};
    struct clf_tensor *a = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &a));
    float x[15];
    for (int i = 0; i < 15; i++)
        x[i] = (float)i - 7;
    ck_assert_ok(ctx, clf_tensor_write(a, x, sizeof x));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_add(g, a, a, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    clf_ctx_destroy(ctx);
    clf_tensor_destroy(a);
    ck_assert_int_eq(c.freed, 0);
    float out[15];
    ck_assert_int_eq(clf_tensor_read(y, out, sizeof out), CLF_OK);
    for (int i = 0; i < 15; i++)
        ck_assert(out[i] == 2 * x[i]);
    clf_graph_destroy(g);
    ck_assert_int_eq(c.freed, 1);
}
END_TEST

/* The context's own tensors (the sinusoidal table) do not keep it: a view
 * of one does, and the table goes with the context. */
START_TEST(test_context_owned)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    struct clf_tensor *table = NULL, *row = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 16, 8, &table));
    ck_assert_ok(ctx, clf_tensor_slice(table, 0, 1, 1, &row));
    clf_tensor_destroy(table); /* ignored: the context owns it */
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(c.freed, 0);
    float r[8];
    ck_assert_int_eq(clf_tensor_read(row, r, sizeof r), CLF_OK);
    ck_assert(r[0] == (float)sin(1.0) && r[1] == (float)cos(1.0));
    clf_tensor_destroy(row);
    ck_assert_int_eq(c.freed, 1);

    /* the table alone: freed with the context at once */
    ctx = make_ctx(&c);
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 16, 8, &table));
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(c.freed, 1);
}
END_TEST

/* An encoder holds its weights' references; a tokenizer holds one for its
 * error messages, which still reach the context after clf_ctx_destroy. */
START_TEST(test_encoder_and_tokenizer)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    struct clf_encoder_config cfg = clf_encoder_config_default();
    cfg.d_model = 16;
    cfg.heads = 2;
    cfg.d_ff = 32;
    cfg.layers = 1;
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &cfg, 7, &enc));
    char *vocab = test_write_text(tmpdir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    struct clf_tokenizer *tok = NULL;
    ck_assert_ok(ctx, clf_tokenizer_load(ctx, vocab, NULL, &tok));
    free(vocab);
    const int64_t xs[3] = {1, 4, 16};
    struct clf_tensor *x = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, xs, &x));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    clf_ctx_destroy(ctx); /* from here on, ctx itself is not passed to any call */

    float host[64];
    for (int i = 0; i < 64; i++)
        host[i] = (float)(i % 7) * 0.25f - 0.5f;
    ck_assert_int_eq(clf_tensor_write(x, host, sizeof host), CLF_OK);
    ck_assert_int_eq(clf_encoder_forward(enc, g, x, NULL, &y), CLF_OK);
    ck_assert_int_eq(clf_graph_run(g), CLF_OK);
    ck_assert_int_eq(clf_tensor_read(y, host, sizeof host), CLF_OK);
    for (int i = 0; i < 64; i++)
        ck_assert(host[i] == host[i]); /* not NaN */
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_encoder_destroy(enc);
    ck_assert_int_eq(c.freed, 0); /* the tokenizer still holds it */

    int32_t ids[8];
    size_t n = 0;
    ck_assert_int_eq(clf_tokenizer_encode(tok, "hello", ids, 8, &n, NULL), CLF_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(clf_tokenizer_encode(tok, "\xff", ids, 8, &n, NULL), CLF_E_INVALID_ARG);
    clf_tokenizer_destroy(tok);
    ck_assert_int_eq(c.freed, 1);
}
END_TEST

/* A second clf_ctx_destroy while the context lives is an error, logged and
 * ignored: the holders' references are not taken away. */
START_TEST(test_destroy_twice)
{
    struct log_count c;
    struct clf_ctx *ctx = make_ctx(&c);
    const int64_t shape[1] = {4};
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &t));
    clf_ctx_destroy(ctx);
    clf_ctx_destroy(ctx);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_int_eq(c.freed, 0);
    const float x[4] = {1, 2, 3, 4};
    ck_assert_int_eq(clf_tensor_write(t, x, sizeof x), CLF_OK);
    clf_tensor_destroy(t);
    ck_assert_int_eq(c.freed, 1);
}
END_TEST

int main(void)
{
    test_require_device();
    cache = test_make_tmpdir("lifetime-cache");
    tmpdir = test_make_tmpdir("lifetime");
    Suite *s = suite_create("lifetime");
    TCase *tc = tcase_create("lifetime");
    tcase_add_test(tc, test_alone);
    tcase_add_test(tc, test_tensors_and_graph);
    tcase_add_test(tc, test_graph_last);
    tcase_add_test(tc, test_context_owned);
    tcase_add_test(tc, test_encoder_and_tokenizer);
    tcase_add_test(tc, test_destroy_twice);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    test_remove_dir(tmpdir);
    test_remove_dir(cache);
    free(tmpdir);
    free(cache);
    return rc;
}
