/*
 * A new shape compiles nothing. PoCL compiles a kernel once per work-group
 * size it is launched with (0.1-1.5 s each) and keeps the result in its
 * cache directory, one .so file per kernel and size; every launch of the
 * library uses a work-group size that does not depend on the shape
 * (clf_launch_rounded), so once a forward pass has run at one shape, the
 * same pass at other batch sizes and sequence lengths must add no file to
 * that directory (once it has run both short and long: see below). main points POCL_CACHE_DIR at a fresh directory before
 * the first OpenCL call (PoCL reads it once).
 *
 * The pass is what `clformer embed` runs (token embedding, learned
 * positions, LayerNorm, an encoder with a key-padding mask, mean pooling
 * and L2 normalisation), then the elementwise ops, softmax and a strided
 * copy, and an encoder with int8 K/V and linear layers (the quantisers'
 * row kernels). The GEMM provider and the attention kernel are fixed, as
 * their tuners would otherwise measure candidates per size class.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"

static char *pocl_dir;

/* Files named *.so under dir, recursively. */
static int count_so(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    char path[4096];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        size_t len = strlen(e->d_name);
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            n += count_so(path);
        else if (len > 3 && !strcmp(e->d_name + len - 3, ".so"))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

#define VOCAB 50
#define D 32
#define MAX_LEN 64

struct model {
    struct clf_tensor *table, *positions, *gamma, *beta;
    struct clf_encoder *enc, *enc_q8;
};

static struct clf_tensor *random_tensor(struct clf_ctx *ctx, int ndim, const int64_t *shape)
{
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, ndim, shape, &t));
    size_t n = (size_t)clf_tensor_numel(t);
    float *x = test_random_floats(n, -1, 1);
    ck_assert_ok(ctx, clf_tensor_write(t, x, n * sizeof *x));
    free(x);
    return t;
}

static struct clf_encoder *make_encoder(struct clf_ctx *ctx, bool int8)
{
    struct clf_encoder_config cfg = clf_encoder_config_default();
    cfg.layers = 1;
    cfg.d_model = D;
    cfg.heads = 4;
    cfg.d_ff = 2 * D;
    cfg.attn_impl = CLF_ATTN_FUSED;
    if (int8) {
        cfg.kv = CLF_KV_INT8_TOKEN;
        cfg.linear_int8 = true;
    }
    struct clf_encoder *enc = NULL;
    ck_assert_ok(ctx, clf_encoder_create_random(ctx, &cfg, 7, &enc));
    return enc;
}

/* Runs the pass over batch sentences of seq tokens (the last one padded
 * from its middle on) and checks the embeddings are unit vectors. */
static void run_shape(struct clf_ctx *ctx, const struct model *m, int64_t batch, int64_t seq)
{
    int64_t ids_shape[2] = {batch, seq};
    int32_t *ids = malloc((size_t)(batch * seq) * sizeof *ids);
    int32_t *mask = malloc((size_t)(batch * seq) * sizeof *mask);
    int32_t *pad = malloc((size_t)(batch * seq) * sizeof *pad);
    for (int64_t i = 0; i < batch * seq; i++) {
        ids[i] = (int32_t)(test_rand_u64() % VOCAB);
        mask[i] = !(i / seq == batch - 1 && i % seq > seq / 2);
        pad[i] = !mask[i];
    }
    struct clf_tensor *tid = NULL, *tmask = NULL, *tpad = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ids_shape, &tid));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ids_shape, &tmask));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ids_shape, &tpad));
    ck_assert_ok(ctx, clf_tensor_write(tid, ids, (size_t)(batch * seq) * sizeof *ids));
    ck_assert_ok(ctx, clf_tensor_write(tmask, mask, (size_t)(batch * seq) * sizeof *mask));
    ck_assert_ok(ctx, clf_tensor_write(tpad, pad, (size_t)(batch * seq) * sizeof *pad));

    struct clf_graph *g = NULL;
    struct clf_tensor *x, *h, *y, *emb, *h8, *sum, *prod, *scaled, *soft, *tr, *copy;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_embedding(g, m->table, tid, &x));
    ck_assert_ok(ctx, clf_op_posenc_add(g, x, m->positions, &h));
    ck_assert_ok(ctx, clf_op_layernorm(g, h, m->gamma, m->beta, 1e-12f, &x));
    ck_assert_ok(ctx, clf_encoder_forward(m->enc, g, x, tpad, &y));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, y, tmask, &emb));
    ck_assert_ok(ctx, clf_encoder_forward(m->enc_q8, g, x, tpad, &h8));
    ck_assert_ok(ctx, clf_op_add(g, y, h8, &sum));
    ck_assert_ok(ctx, clf_op_mul(g, sum, y, &prod));
    ck_assert_ok(ctx, clf_op_scale(g, prod, 0.5f, 1.0f, &scaled));
    ck_assert_ok(ctx, clf_op_softmax(g, scaled, &soft));
    int64_t tr_shape[3] = {batch, D, seq}, tr_str[3] = {seq * D, 1, D};
    ck_assert_ok(ctx, clf_tensor_view(soft, 3, tr_shape, tr_str, 0, &tr));
    ck_assert_ok(ctx, clf_op_copy(g, tr, &copy));
    ck_assert_ok(ctx, clf_graph_run(g));

    float *e = malloc((size_t)(batch * D) * sizeof *e);
    ck_assert_ok(ctx, clf_tensor_read(emb, e, (size_t)(batch * D) * sizeof *e));
    for (int64_t b = 0; b < batch; b++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++)
            ss += (double)e[b * D + j] * e[b * D + j];
        ck_assert_msg(ss > 0.999 && ss < 1.001, "embedding %lld has norm^2 %g", (long long)b,
                      ss);
    }
    free(e);
    clf_tensor_destroy(tr);
    clf_graph_destroy(g);
    clf_tensor_destroy(tid);
    clf_tensor_destroy(tmask);
    clf_tensor_destroy(tpad);
    free(ids);
    free(mask);
    free(pad);
}

START_TEST(test_new_shapes_compile_nothing)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.gemm_provider = CLF_GEMM_NATIVE;
    struct clf_ctx *ctx = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    if (!strstr(info.platform_name, "Portable Computing Language")) {
        /* only PoCL's cache shows what was compiled */
        printf("%s is not a PoCL device: nothing to count\n", info.name);
        clf_ctx_destroy(ctx);
        return;
    }
    struct model m;
    const int64_t ts[2] = {VOCAB, D}, ps[2] = {MAX_LEN, D}, gs[1] = {D};
    m.table = random_tensor(ctx, 2, ts);
    m.positions = random_tensor(ctx, 2, ps);
    m.gamma = random_tensor(ctx, 1, gs);
    m.beta = random_tensor(ctx, 1, gs);
    m.enc = make_encoder(ctx, false);
    m.enc_q8 = make_encoder(ctx, true);

    /* one pass of 5 tokens, one of 80: the CPU GEMM reads an A of up to
     * CLF_GEMM_CPU_DIRECT_M rows in place and packs a longer one, so its
     * packing kernel is first compiled when a pass first exceeds them */
    run_shape(ctx, &m, 1, 5);
    run_shape(ctx, &m, 2, 40);
    int first = count_so(pocl_dir);
    printf("%d kernel binaries after the first two shapes\n", first);
    ck_assert_int_gt(first, 10); /* the count sees PoCL's compiles */
    const int64_t shapes[][2] = {{1, 7}, {2, 13}, {3, 29}, {1, 61}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        run_shape(ctx, &m, shapes[i][0], shapes[i][1]);
        int n = count_so(pocl_dir);
        ck_assert_msg(n == first, "batch %lld, seq %lld compiled %d new kernel binaries",
                      (long long)shapes[i][0], (long long)shapes[i][1], n - first);
    }
    clf_encoder_destroy(m.enc);
    clf_encoder_destroy(m.enc_q8);
    clf_tensor_destroy(m.table);
    clf_tensor_destroy(m.positions);
    clf_tensor_destroy(m.gamma);
    clf_tensor_destroy(m.beta);
    clf_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    /* before PoCL initialises: its kernel cache in a directory of ours */
    pocl_dir = test_make_tmpdir("pocl-cache");
    setenv("POCL_CACHE_DIR", pocl_dir, 1);
    test_require_device();
    test_seed();
    Suite *s = suite_create("shapes");
    TCase *tc = tcase_create("compiles");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_new_shapes_compile_nothing);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    test_remove_dir(pocl_dir);
    free(pocl_dir);
    return rc;
}
