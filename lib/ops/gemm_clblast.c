/*
 * GEMM through CLBlast. CLBlast enqueues on a queue without a wait list and
 * may chain several kernels (pad, transpose, xgemm) that assume in-order
 * execution, so it runs on the context's in-order queue behind a marker
 * that waits for the node's dependencies. CLBlast keeps a process-wide
 * cache of compiled programs; it is cleared when a context that used it is
 * destroyed (the only control CLBlast's C API offers), so no device memory
 * outlives the context.
 */
#include <pthread.h>
#include <clblast_c.h>

#include "gemm.h"

/* CLBlast's row-major transposition and leading dimension for a matrix of
 * rows × cols whose element (r, c) is at r·rs + c·cs; false when neither
 * rows nor columns are contiguous. */
static bool blas_layout(cl_long rs, cl_long cs, int64_t rows, int64_t cols,
                        CLBlastTranspose *t, size_t *ld)
{
    if ((cs == 1 || cols == 1) && (rows == 1 || rs >= cols)) {
        *t = CLBlastTransposeNo;
        *ld = (size_t)(rows == 1 ? cols : rs);
        return true;
    }
    if ((rs == 1 || rows == 1) && (cols == 1 || cs >= rows)) {
        *t = CLBlastTransposeYes;
        *ld = (size_t)(cols == 1 ? rows : cs);
        return true;
    }
    return false;
}

bool clf_gemm_clblast_supports(const struct clf_gemm_problem *p)
{
    CLBlastTranspose t;
    size_t ld;
    return p->b_prec == CLF_PRECISION_F32 && blas_layout(p->a_rs, p->a_cs, p->m, p->k, &t, &ld) &&
           blas_layout(p->b_rs, p->b_cs, p->k, p->n, &t, &ld) && p->a_bs >= 0 && p->b_bs >= 0;
}

/* CLBlast keeps process-wide caches (programs, kernels, its database):
 * calls from contexts on different threads (device groups, one thread per
 * device) raised CLBlast's "unexpected exception" (-2039) on PoCL, so
 * every CLBlast call of the library holds this lock. They only enqueue. */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;

static void clear_clblast_cache(struct clf_ctx *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&clblast_lock);
    CLBlastClearCache();
    pthread_mutex_unlock(&clblast_lock);
}

static enum clf_status clblast_fail(struct clf_ctx *ctx, CLBlastStatusCode s, const char *call)
{
    if (s == CLBlastTempBufferAllocFailure || s == CLBlastOpenCLOutOfResources ||
        s == CLBlastOpenCLOutOfHostMemory)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: out of memory (CLBlast status %d)", call,
                        (int)s);
    if (s == CLBlastOpenCLBuildProgramFailure)
        return clf_fail(ctx, CLF_E_BUILD, "%s: CLBlast could not build its kernels", call);
    return clf_fail(ctx, CLF_E_OPENCL, "%s failed: CLBlast status %d (%s)", call, (int)s,
                    (int)s > -1000 ? clf_cl_error_name((cl_int)s) : "CLBlast error");
}

enum clf_status clf_gemm_clblast_enqueue(struct clf_ctx *ctx, const struct clf_gemm_problem *p,
                                         struct clf_gemm_scratch *scratch, cl_uint n_wait,
                                         const cl_event *wait, cl_event *ev)
{
    CLBlastTranspose ta, tb;
    size_t lda, ldb, ldc = (size_t)(p->m == 1 ? p->n : p->c_rs);
    if (!blas_layout(p->a_rs, p->a_cs, p->m, p->k, &ta, &lda) ||
        !blas_layout(p->b_rs, p->b_cs, p->k, p->n, &tb, &ldb))
        return clf_fail(ctx, CLF_E_UNSUPPORTED, "CLBlast needs a unit stride in A and B");
    cl_command_queue q = NULL;
    enum clf_status st = clf_ctx_in_order_queue(ctx, &q);
    if (st == CLF_OK)
        st = clf_ctx_on_destroy(ctx, clear_clblast_cache);
    if (st != CLF_OK)
        return st;
    cl_int err = clEnqueueMarkerWithWaitList(q, n_wait, n_wait ? wait : NULL, NULL);
    if (err != CL_SUCCESS)
        return clf_fail_cl(ctx, err, "clEnqueueMarkerWithWaitList");

    cl_event done = NULL;
    CLBlastStatusCode s;
    const char *call;
    pthread_mutex_lock(&clblast_lock);
    if (p->batch == 1) {
        call = "CLBlastSgemm";
        size_t temp = 0;
        s = CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta, tb, (size_t)p->m, (size_t)p->n,
                                       (size_t)p->k, (size_t)p->a_off, lda, (size_t)p->b_off, ldb,
                                       (size_t)p->c_off, ldc, &q, &temp);
        cl_mem tbuf = NULL;
        if (s == CLBlastSuccess && temp > 0)
            st = clf_gemm_scratch_get(ctx, scratch, 1, temp, &tbuf);
        if (st != CLF_OK) {
            pthread_mutex_unlock(&clblast_lock);
            return st;
        }
        if (s == CLBlastSuccess && tbuf)
            s = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, (size_t)p->m,
                                           (size_t)p->n, (size_t)p->k, p->alpha, p->a_t->storage->mem,
                                           (size_t)p->a_off, lda, p->b_t->storage->mem,
                                           (size_t)p->b_off, ldb, p->beta, p->c_t->storage->mem,
                                           (size_t)p->c_off, ldc, &q, &done, tbuf);
        else if (s == CLBlastSuccess)
            s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)p->m, (size_t)p->n,
                             (size_t)p->k, p->alpha, p->a_t->storage->mem, (size_t)p->a_off, lda,
                             p->b_t->storage->mem, (size_t)p->b_off, ldb, p->beta,
                             p->c_t->storage->mem, (size_t)p->c_off, ldc, &q, &done);
    } else {
        call = "CLBlastSgemmStridedBatched";
        s = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)p->m, (size_t)p->n, (size_t)p->k, p->alpha,
            p->a_t->storage->mem, (size_t)p->a_off, lda, (size_t)p->a_bs, p->b_t->storage->mem,
            (size_t)p->b_off, ldb, (size_t)p->b_bs, p->beta, p->c_t->storage->mem,
            (size_t)p->c_off, ldc, (size_t)p->c_bs, (size_t)p->batch, &q, &done);
    }
    pthread_mutex_unlock(&clblast_lock);
    if (s != CLBlastSuccess) {
        if (done)
            clReleaseEvent(done);
        return clblast_fail(ctx, s, call);
    }
    if (!p->bias_t && p->act == CLF_ACT_NONE) {
        *ev = done;
        return CLF_OK;
    }
    st = clf_gemm_epilogue_enqueue(ctx, p, 1, &done, ev);
    clReleaseEvent(done);
    return st;
}
