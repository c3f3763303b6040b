/* clformer on a caller's OpenCL objects (clformer/opencl.h): a context over
 * the caller's cl_context, device and queue, tensors over the caller's
 * buffers (inputs, an existing output, GEMM weights the caller rewrites),
 * each compared bit for bit with the same graph on an ordinary context;
 * the objects' reference counts before, during and after; and the calls
 * refused (NULL objects, a queue or a buffer of another OpenCL context, a
 * buffer too small, more than one queue). */
#define CL_TARGET_OPENCL_VERSION 120
#include <clformer/opencl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

enum { S = 7, D = 24, F = 40 }; /* tokens, input width, output width */

static char *cache;

/* The caller's side: a platform, device, context and in-order queue of its
 * own, on the device clformer picks by default. */
struct caller {
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
};

static void caller_open(struct caller *c)
{
    struct clf_device_info info;
    char msg[256];
    ck_assert_int_eq(clf_device_find(NULL, &info, msg, sizeof msg), CLF_OK);
    cl_platform_id plats[16];
    cl_uint np = 0;
    ck_assert_int_eq(clGetPlatformIDs(16, plats, &np), CL_SUCCESS);
    ck_assert_int_lt(info.platform_index, (int)np);
    cl_device_id devs[64];
    cl_uint nd = 0;
    ck_assert_int_eq(clGetDeviceIDs(plats[info.platform_index], CL_DEVICE_TYPE_ALL, 64, devs, &nd),
                     CL_SUCCESS);
    ck_assert_int_lt(info.device_index, (int)nd);
    c->device = devs[info.device_index];
    cl_int err = CL_SUCCESS;
    c->context = clCreateContext(NULL, 1, &c->device, NULL, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    c->queue = clCreateCommandQueue(c->context, c->device, CL_QUEUE_PROFILING_ENABLE, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
}

static void caller_close(struct caller *c)
{
    clReleaseCommandQueue(c->queue);
    clReleaseContext(c->context);
}

/* A buffer of the caller's holding n floats of x after `pad` zeros. */
static cl_mem caller_buffer(const struct caller *c, const float *x, size_t n, size_t pad)
{
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, (n + pad) * sizeof(float), NULL,
                              &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    float *h = calloc(n + pad, sizeof *h);
    if (x)
        memcpy(h + pad, x, n * sizeof *x);
    ck_assert_int_eq(clEnqueueWriteBuffer(c->queue, m, CL_TRUE, 0, (n + pad) * sizeof *h, h, 0,
                                          NULL, NULL),
                     CL_SUCCESS);
    free(h);
    return m;
}

static cl_uint ref_count_mem(cl_mem m)
{
    cl_uint n = 0;
    ck_assert_int_eq(clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

static cl_uint ref_count_context(cl_context c)
{
    cl_uint n = 0;
    ck_assert_int_eq(clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

static cl_uint ref_count_queue(cl_command_queue q)
{
    cl_uint n = 0;
    ck_assert_int_eq(clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

/* A context of clformer's own or over the caller's objects (c not NULL),
 * both with the same cache directory (so that the GEMM's tuning, measured
 * by the first, is the second's too) and the native GEMM. */
static struct clf_ctx *make_ctx(const struct caller *c)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache;
    p.gemm_provider = CLF_GEMM_NATIVE;
    struct clf_ctx *ctx = NULL;
    enum clf_status st = c ? clf_ctx_wrap_cl(&p, c->context, c->device, c->queue, &ctx)
                           : clf_ctx_create(&p, &ctx);
    ck_assert_msg(st == CLF_OK, "context: %s", clf_status_str(st));
    return ctx;
}

/* The inputs of the pipeline below. */
struct inputs {
    float x[S * D], w[F * D], bias[F];
};

static void make_inputs(struct inputs *in)
{
    test_fill_uniform(in->x, S * D, -1, 1);
    test_fill_uniform(in->w, F * D, -0.5, 0.5);
    test_fill_uniform(in->bias, F, -0.1, 0.1);
}

/* h = gelu(x·wᵀ + bias) [S, F] (into c when given), then softmax(layernorm(h));
 * runs g once and reads both back. */
static void pipeline(struct clf_ctx *ctx, struct clf_tensor *x, struct clf_tensor *w,
                     struct clf_tensor *bias, struct clf_tensor *c, float *h_out, float *y_out)
{
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_gemm_params p = clf_gemm_params_default();
    p.trans_b = true;
    p.bias = bias;
    p.act = CLF_ACT_GELU;
    p.c = c;
    struct clf_tensor *h = NULL, *n = NULL, *y = NULL;
    ck_assert_ok(ctx, clf_op_gemm(g, x, w, &p, &h));
    ck_assert_ok(ctx, clf_op_layernorm(g, h, NULL, NULL, 1e-5f, &n));
    ck_assert_ok(ctx, clf_op_softmax(g, n, &y));
    if (!c)
        ck_assert_ok(ctx, clf_graph_keep(g, h));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(h, h_out, S * F * sizeof *h_out));
    ck_assert_ok(ctx, clf_tensor_read(y, y_out, S * F * sizeof *y_out));
    clf_graph_destroy(g);
}

/* The pipeline on clformer's own tensors of an ordinary context. */
static void reference(struct clf_ctx *ctx, const struct inputs *in, float *h, float *y)
{
    const int64_t xs[2] = {S, D}, ws[2] = {F, D}, bs[1] = {F};
    struct clf_tensor *x = NULL, *w = NULL, *b = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, xs, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, ws, &w));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, bs, &b));
    ck_assert_ok(ctx, clf_tensor_write(x, in->x, sizeof in->x));
    ck_assert_ok(ctx, clf_tensor_write(w, in->w, sizeof in->w));
    ck_assert_ok(ctx, clf_tensor_write(b, in->bias, sizeof in->bias));
    pipeline(ctx, x, w, b, NULL, h, y);
    clf_tensor_destroy(x);
    clf_tensor_destroy(w);
    clf_tensor_destroy(b);
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof *a) == 0, "%s[%zu]: %a, ordinary context %a",
                      what, i, (double)b[i], (double)a[i]);
}

/* The same graph, inputs and weights in the caller's buffers (at offsets),
 * the GEMM writing into a buffer of the caller's: the same bits as on an
 * ordinary context; then the caller rewrites the weights with its own
 * commands and the next run follows them (nothing derived from a wrapped
 * buffer is reused). */
START_TEST(test_same_results)
{
    struct inputs in;
    make_inputs(&in);
    static float h_ref[S * F], y_ref[S * F], h[S * F], y[S * F];
    struct clf_ctx *own = make_ctx(NULL);
    reference(own, &in, h_ref, y_ref);

    struct caller c;
    caller_open(&c);
    struct clf_ctx *ctx = make_ctx(&c);
    cl_mem mx = caller_buffer(&c, in.x, S * D, 5), mw = caller_buffer(&c, in.w, F * D, 0),
           mb = caller_buffer(&c, in.bias, F, 3), mh = caller_buffer(&c, NULL, S * F, 0);
    const int64_t xs[2] = {S, D}, ws[2] = {F, D}, bs[1] = {F}, hs[2] = {S, F};
    struct clf_tensor *x = NULL, *w = NULL, *b = NULL, *ht = NULL;
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, mx, CLF_F32, 2, xs, 5, &x));
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, mw, CLF_F32, 2, ws, 0, &w));
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, mb, CLF_F32, 1, bs, 3, &b));
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, mh, CLF_F32, 2, hs, 0, &ht));
    ck_assert_int_eq(clf_tensor_offset(x), 5);
    pipeline(ctx, x, w, b, ht, h, y);
    assert_same(h_ref, h, S * F, "h");
    assert_same(y_ref, y, S * F, "y");
    /* the GEMM wrote the caller's buffer */
    ck_assert_int_eq(clEnqueueReadBuffer(c.queue, mh, CL_TRUE, 0, sizeof h, h, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_same(h_ref, h, S * F, "the caller's h");

    /* new weights, written by the caller */
    for (int rep = 0; rep < 2; rep++) {
        test_fill_uniform(in.w, F * D, -0.5, 0.5);
        ck_assert_int_eq(clEnqueueWriteBuffer(c.queue, mw, CL_TRUE, 0, sizeof in.w, in.w, 0,
                                              NULL, NULL),
                         CL_SUCCESS);
        reference(own, &in, h_ref, y_ref);
        pipeline(ctx, x, w, b, NULL, h, y);
        assert_same(h_ref, h, S * F, "h after new weights");
        assert_same(y_ref, y, S * F, "y after new weights");
    }
    clf_tensor_destroy(x);
    clf_tensor_destroy(w);
    clf_tensor_destroy(b);
    clf_tensor_destroy(ht);
    clf_ctx_destroy(ctx);
    clf_ctx_destroy(own);
    cl_mem all[4] = {mx, mw, mb, mh};
    for (int i = 0; i < 4; i++)
        clReleaseMemObject(all[i]);
    caller_close(&c);
}
END_TEST

/* clformer holds references to the objects while it uses them (one per
 * buffer, however many views; the context's count also grows with what
 * clformer makes in it), none after; the caller may drop its own early. */
START_TEST(test_references)
{
    struct caller c;
    caller_open(&c);
    cl_uint rc = ref_count_context(c.context), rq = ref_count_queue(c.queue);
    struct clf_ctx *ctx = make_ctx(&c);
    ck_assert_uint_gt(ref_count_context(c.context), rc);
    ck_assert_uint_eq(ref_count_queue(c.queue), rq + 1);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
    cl_mem m = caller_buffer(&c, x, 8, 0);
    const int64_t shape[1] = {8};
    struct clf_tensor *t = NULL, *v = NULL;
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, m, CLF_F32, 1, shape, 0, &t));
    ck_assert_uint_eq(ref_count_mem(m), 2);
    ck_assert_ok(ctx, clf_tensor_slice(t, 0, 2, 4, &v));
    ck_assert_uint_eq(ref_count_mem(m), 2); /* one per buffer, not per view */
    clf_tensor_destroy(t);
    ck_assert_uint_eq(ref_count_mem(m), 2); /* the view holds it */
    clReleaseMemObject(m);                  /* the caller lets go first */
    ck_assert_ok(ctx, clf_tensor_read(v, y, 4 * sizeof *y));
    ck_assert(y[0] == 3 && y[3] == 6);

    /* the context outlives clf_ctx_destroy through the view */
    clf_ctx_destroy(ctx);
    ck_assert_uint_gt(ref_count_context(c.context), rc);
    ck_assert_uint_gt(ref_count_queue(c.queue), rq);
    ck_assert_int_eq(clf_tensor_read(v, y, 4 * sizeof *y), CLF_OK);
    clf_tensor_destroy(v);
    /* the driver drops its own references to finished commands lazily (PoCL
     * in a thread of its own): wait up to a second for the counts to fall */
    clFinish(c.queue);
    for (int i = 0; i < 100 && (ref_count_context(c.context) > rc || ref_count_queue(c.queue) > rq);
         i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    ck_assert_uint_eq(ref_count_context(c.context), rc);
    ck_assert_uint_eq(ref_count_queue(c.queue), rq);
    caller_close(&c);
}
END_TEST

START_TEST(test_refused)
{
    struct caller c, other;
    caller_open(&c);
    caller_open(&other);
    struct clf_ctx *ctx = NULL;
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache;
    p.log_level = CLF_LOG_NONE;
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, c.device, c.queue, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, NULL, c.device, c.queue, &ctx), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, NULL, c.queue, &ctx), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, c.device, NULL, &ctx), CLF_E_INVALID_ARG);
    /* the queue of another OpenCL context; nothing kept on failure */
    cl_uint ro = ref_count_context(other.context), rq = ref_count_queue(other.queue);
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, c.device, other.queue, &ctx),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_uint_eq(ref_count_context(other.context), ro);
    ck_assert_uint_eq(ref_count_queue(other.queue), rq);
    p.queues = 2;
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, c.device, c.queue, &ctx), CLF_E_INVALID_ARG);
    p.queues = 1;
    ck_assert_int_eq(clf_ctx_wrap_cl(&p, c.context, c.device, c.queue, &ctx), CLF_OK);

    float x[6] = {0};
    cl_mem mine = caller_buffer(&c, x, 6, 0), theirs = caller_buffer(&other, x, 6, 0);
    const int64_t s6[1] = {6}, s7[1] = {7}, s3[1] = {3};
    struct clf_tensor *t = NULL;
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, theirs, CLF_F32, 1, s6, 0, &t),
                     CLF_E_INVALID_ARG);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "another OpenCL context"), "%s",
                  clf_ctx_last_error(ctx));
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_F32, 1, s7, 0, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_F32, 1, s3, 4, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_F32, 1, s3, -1, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, (enum clf_dtype)9, 1, s3, 0, &t),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_F32, 0, s3, 0, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, NULL, CLF_F32, 1, s3, 0, &t),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_F32, 1, s3, 0, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_tensor_wrap_cl(NULL, mine, CLF_F32, 1, s3, 0, &t), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(ref_count_mem(mine), 1); /* nothing kept on failure */
    /* i8 elements: 24 bytes hold 24 of them */
    const int64_t s24[1] = {24};
    ck_assert_ok(ctx, clf_tensor_wrap_cl(ctx, mine, CLF_I8, 1, s24, 0, &t));
    clf_tensor_destroy(t);
    /* a buffer of clformer's own context is not the caller's */
    struct clf_ctx *own = make_ctx(NULL);
    ck_assert_status(own, clf_tensor_wrap_cl(own, mine, CLF_F32, 1, s3, 0, &t),
                     CLF_E_INVALID_ARG);
    clf_ctx_destroy(own);
    clReleaseMemObject(mine);
    clReleaseMemObject(theirs);
    clf_ctx_destroy(ctx);
    caller_close(&c);
    caller_close(&other);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    cache = test_make_tmpdir("interop-cache");
    Suite *s = suite_create("interop");
    TCase *tc = tcase_create("interop");
    tcase_add_test(tc, test_same_results);
    tcase_add_test(tc, test_references);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    test_remove_dir(cache);
    free(cache);
    return rc;
}
