#include "common.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct clf_ctx *shared_ctx;
static char *shared_cache;
static uint64_t rng_state;
static int seeded;

bool test_have_device(void)
{
    struct clf_device_info *list = NULL;
    size_t n = 0;
    bool have = clf_devices_query(&list, &n) == CLF_OK && n > 0;
    clf_devices_free(list);
    return have;
}

void test_require_device(void)
{
    if (!test_have_device()) {
        printf("no OpenCL device: skipping\n");
        exit(TEST_SKIP);
    }
}

struct clf_ctx *test_ctx(void)
{
    if (shared_ctx)
        return shared_ctx;
    shared_cache = test_make_tmpdir("shared-cache");
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = shared_cache;
    enum clf_status st = clf_ctx_create(&p, &shared_ctx);
    if (st != CLF_OK) {
        fprintf(stderr, "cannot create the test context: %s\n", clf_status_str(st));
        exit(1);
    }
    return shared_ctx;
}

void test_ctx_release(void)
{
    /* CLF_TEST_LEAK=1: drop the last pointer to the context instead of
     * destroying it, so that everything clf_ctx_create and the suite's
     * kernels allocated leaks. tools/sanitize.sh sets it to prove that
     * LeakSanitizer, with test/lsan.supp, still reports leaks of ours. */
    const char *leak = getenv("CLF_TEST_LEAK");
    if (!(leak && !strcmp(leak, "1")))
        clf_ctx_destroy(shared_ctx);
    shared_ctx = NULL;
    if (shared_cache) {
        test_remove_dir(shared_cache);
        free(shared_cache);
        shared_cache = NULL;
    }
}

uint64_t test_seed(void)
{
    if (!seeded) {
        const char *s = getenv("CLF_TEST_SEED");
        rng_state = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        printf("seed = %llu (set CLF_TEST_SEED to repeat)\n", (unsigned long long)rng_state);
        fflush(stdout);
        seeded = 1;
    }
    return rng_state;
}

uint64_t test_rand_u64(void)
{
    test_seed();
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double test_rand_uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(test_rand_u64() >> 11) * 0x1.0p-53;
}

int64_t test_layout_strides(int ndim, const int64_t *shape, enum test_layout lay,
                            int64_t *strides, int64_t *offset)
{
    int perm[CLF_MAX_DIMS]; /* storage dimension k holds logical dimension perm[k] */
    int64_t sshape[CLF_MAX_DIMS];
    for (int k = 0; k < ndim; k++)
        perm[k] = k;
    int64_t inter = 1, pad = 0, off = 0;
    if (lay == TEST_TRANSPOSED && ndim >= 2) {
        perm[ndim - 1] = ndim - 2;
        perm[ndim - 2] = ndim - 1;
    } else if (lay == TEST_TRANSPOSED) {
        inter = 2;
    } else if (lay == TEST_HEADSPLIT) {
        if (ndim >= 3) {
            perm[0] = 1;
            perm[1] = 0;
        }
        pad = 3;
        off = 2;
    }
    for (int k = 0; k < ndim; k++)
        sshape[k] = shape[perm[k]];
    sshape[ndim - 1] += pad;
    int64_t st = inter;
    for (int k = ndim - 1; k >= 0; k--) {
        strides[perm[k]] = st;
        st *= sshape[k];
    }
    *offset = off;
    return st + off;
}

double test_act_ref(double x, enum clf_act act)
{
    switch (act) {
    case CLF_ACT_RELU:
        return x > 0 ? x : 0;
    case CLF_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case CLF_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case CLF_ACT_TANH:
        return tanh(x);
    default:
        return x;
    }
}

double test_act_bound(double e, double pre, enum clf_act act)
{
    double x = fabs(pre) + e;
    switch (act) {
    case CLF_ACT_GELU:
        return 1.13 * e + TEST_U32 * x * (18 + 0.8 * x);
    case CLF_ACT_GELU_TANH:
        return 1.13 * e + TEST_U32 * x * (7 + 4 * 0.8 * (x + 0.045 * x * x * x));
    case CLF_ACT_TANH: /* |tanh'| <= 1; OpenCL's tanh: 5 ulp (10u relative) */
        return e + 10 * TEST_U32 * fabs(tanh(pre));
    default:
        return e;
    }
}

void test_input_alloc(struct test_input *in)
{
    struct clf_ctx *ctx = test_ctx();
    in->host = malloc(in->total * sizeof *in->host);
    ck_assert_ptr_nonnull(in->host);
    int64_t n1 = (int64_t)in->total;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, &n1, &in->base));
    ck_assert_ok(ctx, clf_tensor_view(in->base, in->ndim, in->shape, in->strides, in->offset,
                                      &in->view));
}

void test_input_make(struct test_input *in, int ndim, const int64_t *shape,
                     enum test_layout lay)
{
    memset(in, 0, sizeof *in);
    in->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        in->shape[k] = shape[k];
    in->total = (size_t)test_layout_strides(ndim, shape, lay, in->strides, &in->offset);
    test_input_alloc(in);
}

size_t test_input_elem(const struct test_input *in, int64_t i)
{
    int64_t off = in->offset;
    for (int k = in->ndim - 1; k >= 0; k--) {
        off += (i % in->shape[k]) * in->strides[k];
        i /= in->shape[k];
    }
    return (size_t)off;
}

int64_t test_input_numel(const struct test_input *in)
{
    int64_t n = 1;
    for (int k = 0; k < in->ndim; k++)
        n *= in->shape[k];
    return n;
}

void test_input_upload(const struct test_input *in)
{
    ck_assert_ok(test_ctx(), clf_tensor_write(in->base, in->host, in->total * sizeof(float)));
}

void test_input_free(struct test_input *in)
{
    clf_tensor_destroy(in->view);
    clf_tensor_destroy(in->base);
    free(in->host);
}

void test_fill_uniform(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)test_rand_uniform(lo, hi);
}

struct clf_node_info test_node_info(const struct clf_graph *g, size_t i)
{
    struct clf_node_info info = {.size = sizeof info};
    ck_assert_int_eq(clf_graph_node_info(g, i, &info), CLF_OK);
    return info;
}

void test_write_safetensors(const char *path, const struct clf_safetensors_entry *e, size_t n)
{
    char msg[1024];
    ck_assert_status_msg(msg, clf_safetensors_write(path, e, n, msg, sizeof msg), CLF_OK);
}

struct clf_safetensors *test_open_safetensors(const char *path)
{
    char msg[1024];
    struct clf_safetensors *st = NULL;
    ck_assert_status_msg(msg, clf_safetensors_open(path, &st, msg, sizeof msg), CLF_OK);
    return st;
}

char *test_write_text(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    ck_assert_ptr_nonnull(path);
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

char *test_make_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/clformer-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup(dir);
}

void test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0)
            test_remove_dir(path); /* a directory that is not empty */
    }
    closedir(d);
    rmdir(dir);
}

double test_gamma(double n)
{
    return n * TEST_U32 / (1 - n * TEST_U32);
}

void test_poison(struct clf_tensor *t)
{
    size_t n = (size_t)clf_tensor_numel(t);
    float *nan = malloc(n * sizeof *nan);
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    ck_assert_ok(test_ctx(), clf_tensor_write(t, nan, n * sizeof *nan));
    free(nan);
}

float *test_read_all(struct clf_tensor *t)
{
    size_t n = (size_t)clf_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    ck_assert_ok(test_ctx(), clf_tensor_read(t, h, n * sizeof *h));
    return h;
}

struct clf_tensor *test_upload(int ndim, const int64_t *shape, const float *host)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, ndim, shape, &t));
    ck_assert_ok(ctx, clf_tensor_write(t, host, (size_t)clf_tensor_numel(t) * sizeof *host));
    return t;
}

/* rows x cols (rows >= cols) with orthonormal columns. */
static double *random_orthonormal(int64_t rows, int64_t cols)
{
    double *q = malloc((size_t)(rows * cols) * sizeof *q);
    ck_assert_ptr_nonnull(q);
    for (int64_t i = 0; i < rows * cols; i++)
        q[i] = test_rand_uniform(-1, 1);
    for (int pass = 0; pass < 2; pass++)
        for (int64_t c = 0; c < cols; c++) {
            for (int64_t p = 0; p < c; p++) {
                double dot = 0;
                for (int64_t i = 0; i < rows; i++)
                    dot += q[i * cols + p] * q[i * cols + c];
                for (int64_t i = 0; i < rows; i++)
                    q[i * cols + c] -= dot * q[i * cols + p];
            }
            double nrm = 0;
            for (int64_t i = 0; i < rows; i++)
                nrm += q[i * cols + c] * q[i * cols + c];
            nrm = sqrt(nrm);
            for (int64_t i = 0; i < rows; i++)
                q[i * cols + c] /= nrm;
        }
    return q;
}

double *test_known_spectrum(int64_t m, int64_t n, double **q1_out, double **q2_out)
{
    const int64_t k = m < n ? m : n;
    double *q1 = random_orthonormal(m, k), *q2 = random_orthonormal(n, k);
    double *a = calloc((size_t)(m * n), sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) {
            const double w = q1[i * k + p] / (double)(p + 1);
            for (int64_t j = 0; j < n; j++)
                a[i * n + j] += w * q2[j * k + p];
        }
    if (q1_out)
        *q1_out = q1;
    else
        free(q1);
    if (q2_out)
        *q2_out = q2;
    else
        free(q2);
    return a;
}

int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_ctx_release();
    return failed == 0 ? 0 : 1;
}

void test_write_all(struct clf_tensor *t, const float *x)
{
    ck_assert_ok(test_ctx(), clf_tensor_write(t, x, (size_t)clf_tensor_numel(t) * sizeof *x));
}

struct clf_tensor *test_view4(struct clf_tensor *base, const int64_t *shape,
                              const int64_t *strides, int64_t offset)
{
    struct clf_tensor *t = NULL;
    ck_assert_ok(test_ctx(), clf_tensor_view(base, 4, shape, strides, offset, &t));
    return t;
}

struct clf_tensor *test_upload_pad(int64_t B, int64_t S, const int32_t *pad)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t ps[2] = {B, S};
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ps, &t));
    ck_assert_ok(ctx, clf_tensor_write(t, pad, (size_t)(B * S) * sizeof *pad));
    return t;
}

float *test_random_floats(size_t n, double lo, double hi)
{
    float *x = malloc(n * sizeof *x);
    test_fill_uniform(x, n, lo, hi);
    return x;
}

double test_tp_rank_bytes(const struct clf_encoder_config *c, int n, int r, bool norm,
                          int *tensors)
{
    const double d = (double)c->d_model, f = (double)c->d_ff;
    const double split = 3 * d * d + 3 * d + d * d + f * d + f + d * f;
    const double per_layer = split / n + 4 * d + (r == 0 ? 2 * d : 0);
    *tensors = (int)c->layers * (r == 0 ? 12 : 10) + (norm && r == 0 ? 2 : 0);
    return 4 * ((double)c->layers * per_layer + (norm && r == 0 ? 2 * d : 0));
}

double test_pool_bound(double bytes, int tensors)
{
    return 1.25 * (bytes + 255.0 * tensors);
}

void test_device_bytes(struct clf_ctx *ctx, double *live, double *peak)
{
    struct clf_ctx_stats s;
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s));
    *live = (double)s.pool_bytes_live;
    *peak = (double)s.pool_bytes_peak;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s is missing", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

cJSON *test_read_json(const char *path)
{
    char *buf = test_read_file(path, NULL);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    ck_assert_msg(root != NULL, "%s does not parse", path);
    return root;
}
