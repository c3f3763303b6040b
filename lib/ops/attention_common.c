/* Code shared by the attention ops below their entry points (see
 * attention.h): the problem, the tiles, the key bias and the key panels. */
#include <math.h>
#include <string.h>

#include "attention.h"

#include <CL/cl_ext.h> /* CL_KERNEL_MAX_SUB_GROUP_SIZE_FOR_NDRANGE_KHR (after cl.h's
                          CL_TARGET_OPENCL_VERSION) */

/* cl_khr_subgroups' clGetKernelSubGroupInfoKHR (the headers' own typedef is
 * marked deprecated: the call is core in OpenCL 2.1, which the 1.2 headers
 * of this build cannot name) */
typedef cl_int(CL_API_CALL *sg_info_fn)(cl_kernel, cl_device_id, cl_uint, size_t, const void *,
                                        size_t, void *, size_t *);

const char *clf_attention_impl_str(enum clf_attention_impl impl)
{
    switch (impl) {
    case CLF_ATTN_AUTO: return "auto";
    case CLF_ATTN_FUSED: return "fused";
    case CLF_ATTN_GEMM: return "gemm";
    }
    return "?";
}

/*
 * CPU register tiles (see attention.cl): VW lanes (queries) per vector,
 * QV query vectors per work-item, BK keys per tile, DC head_dim elements
 * per P.V pass. The first is for devices with 16-float vectors (AVX-512):
 * 2 x 12 = 24 zmm score accumulators, 2 x 8 = 16 P.V accumulators; on the
 * 2-core AVX-512 PoCL 3.1 device, 12 heads, d = 64, attn_fused_cpu ran at
 * 220-260 GFLOP/s for n = 512..4096, against 190-200 for 16 queries x 16
 * keys (1 x 16 accumulators) and 200-215 for 32 x 8. The second is for
 * 8-float vectors and 16 registers (AVX2): 12 + 1 and 8 + 1 registers
 * (147 GFLOP/s on the AVX-512 device, not measured on an AVX2 one).
 */
static const struct clf_attn_cpu_config cpu_configs[] = {
    {16, 2, 12, 8},
    {8, 1, 12, 8},
};

const struct clf_attn_cpu_config *clf_attn_cpu_config(const struct clf_ctx *ctx)
{
    return ctx->float_lanes >= 16 ? &cpu_configs[0] : &cpu_configs[1];
}

void clf_attn_subgroup_config(struct clf_ctx *ctx, cl_kernel k, size_t *local, int *per_group,
                              int *sg)
{
    size_t ls = 64, kwg = 0;
    while (ls > 1 && ls > ctx->info.max_work_group_size)
        ls /= 2;
    if (clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg,
                                 NULL) == CL_SUCCESS &&
        kwg >= 1)
        while (ls > 1 && ls > kwg)
            ls /= 2;
    /* the sub-group size the compiler chose for k at this local size
     * (memcpy: ISO C has no cast from void * to a function pointer) */
    size_t sgs = 0;
    void *sym = clGetExtensionFunctionAddressForPlatform(ctx->platform,
                                                         "clGetKernelSubGroupInfoKHR");
    if (sym) {
        sg_info_fn info;
        memcpy(&info, &sym, sizeof sym);
        size_t want[3] = {ls, 1, 1};
        if (info(k, ctx->device, CL_KERNEL_MAX_SUB_GROUP_SIZE_FOR_NDRANGE_KHR, sizeof want, want,
                 sizeof sgs, &sgs, NULL) != CL_SUCCESS)
            sgs = 0;
    }
    *sg = 0;
    if (sgs >= 1 && sgs <= ls) {
        ls -= ls % sgs; /* whole sub-groups */
        *per_group = (int)(ls / sgs);
        *sg = (int)sgs;
    } else {
        *per_group = (int)ls; /* unknown: at most one query per work-item */
    }
    *local = ls;
}

void clf_attn_group_config(const struct clf_ctx *ctx, int dmax, int *gq, int *gk)
{
    int q = 64;
    while (q > 1 && (size_t)q > ctx->info.max_work_group_size)
        q /= 2;
    int k = 4096 / dmax;
    if (k > 64)
        k = 64;
    uint64_t local = ctx->info.local_mem_bytes ? ctx->info.local_mem_bytes : 32768;
    while (k > 1 && (uint64_t)(2 * k * dmax + k) * sizeof(float) + 1024 > local)
        k /= 2;
    *gq = q;
    *gk = k;
}

int clf_attn_problem_dmax(const struct clf_attn_problem *p)
{
    return clf_attn_dmax(p->d > p->dv ? p->d : p->dv);
}

enum clf_attn_fused_variant clf_attn_family(const struct clf_ctx *ctx,
                                            enum clf_attn_fused_variant family)
{
    if (family != CLF_ATTN_FUSED_BY_DEVICE)
        return family;
    return ctx->info.type == CLF_DEVICE_CPU ? CLF_ATTN_FUSED_CPU : CLF_ATTN_FUSED_GROUP;
}

enum clf_status clf_attn_check_sizes(struct clf_ctx *ctx, int64_t batch, int64_t heads,
                                     int64_t sq, int64_t sk, int64_t d, int64_t dv)
{
    int64_t dm = d > dv ? d : dv;
    if (sq > INT32_MAX / 2 || sk > INT32_MAX / 2 || batch * heads > INT32_MAX ||
        sq * dm > INT32_MAX / 2 || sk * dm > INT32_MAX / 2)
        return clf_fail(ctx, CLF_E_SHAPE, "attention: sizes beyond 2^30 are not supported");
    return CLF_OK;
}

enum clf_status clf_attn_problem_make(struct clf_graph *g, struct clf_tensor *q,
                                      struct clf_tensor *k, struct clf_tensor *v,
                                      const struct clf_attention_params *p,
                                      struct clf_attn_problem *prob, bool *out_owned)
{
    memset(prob, 0, sizeof *prob);
    prob->batch = q->shape[0];
    prob->heads = q->shape[1];
    prob->sq = q->shape[2];
    prob->d = q->shape[3];
    prob->sk = k->shape[2];
    prob->dv = v->shape[3];
    prob->q = q;
    prob->k = k;
    prob->v = v;
    prob->pad = p->key_padding;
    prob->pb = p->position_bias;
    prob->scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)prob->d));
    prob->causal = p->causal;
    prob->out = p->out;
    *out_owned = !p->out;
    if (p->out)
        return CLF_OK;
    int64_t shape[4] = {prob->batch, prob->heads, prob->sq, prob->dv};
    return clf_graph_new_output(g, CLF_F32, 4, shape, &prob->out);
}

double clf_attention_flops(const struct clf_tensor *q, const struct clf_tensor *k,
                           const struct clf_tensor *v)
{
    int nd = q->ndim;
    double sq = (double)q->shape[nd - 2], d = (double)q->shape[nd - 1];
    double sk = (double)k->shape[nd - 2], dv = (double)v->shape[nd - 1];
    double bh = (double)clf_tensor_numel(q) / (sq * d > 0 ? sq * d : 1);
    return 2.0 * bh * sq * sk * (d + dv);
}

size_t clf_attn_helper_local(const struct clf_ctx *ctx, size_t want)
{
    size_t l = want;
    while (l > 1 && l > ctx->info.max_work_group_size)
        l /= 2;
    return l;
}

enum clf_status clf_attn_enqueue_key_bias(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                          const char *opts, cl_mem kb, int nk_pad,
                                          cl_uint n_wait, const cl_event *wait, cl_event *ev)
{
    cl_kernel k = NULL;
    enum clf_status st = clf_kernel_get(ctx, "attention", opts, "attn_key_bias", &k);
    if (st != CLF_OK)
        return st;
    /* q's buffer stands in for an absent mask: unread when !has_pad */
    struct clf_targ pad = p->pad ? clf_targ_of(p->pad) : clf_targ_of(p->q);
    cl_int has_pad = p->pad != NULL, sk = (cl_int)p->sk, nkp = nk_pad;
    const struct clf_karg args[] = {CLF_TARG(pad),    {sizeof has_pad, &has_pad},
                                    {sizeof sk, &sk}, {sizeof nkp, &nkp},
                                    {sizeof(cl_mem), &kb}};
    st = clf_set_args(ctx, k, "attn_key_bias", args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t local[2] = {clf_attn_helper_local(ctx, 64), 1};
    size_t global[2] = {clf_round_up((size_t)nk_pad, local[0]), (size_t)p->batch};
    return clf_launch(ctx, k, 2, global, local, n_wait, wait, ev, "attn_key_bias");
}

size_t clf_attn_key_panel_bytes(const struct clf_tensor *k, int bk)
{
    int64_t nkb = clf_ceil_div(k->shape[2], bk);
    return (size_t)(k->shape[0] * k->shape[1] * nkb * k->shape[3] * bk) * sizeof(float);
}

enum clf_status clf_attn_enqueue_pack_k(struct clf_ctx *ctx, const char *family,
                                        const char *opts, const struct clf_tensor *k, int bk,
                                        cl_mem kp, cl_uint n_wait, const cl_event *wait,
                                        cl_event *ev)
{
    cl_kernel kern = NULL;
    enum clf_status st = clf_kernel_get(ctx, family, opts, "attn_pack_k", &kern);
    if (st != CLF_OK)
        return st;
    struct clf_targ kt = clf_targ_of(k);
    int64_t nkb = clf_ceil_div(k->shape[2], bk);
    cl_int sk = (cl_int)k->shape[2], d = (cl_int)k->shape[3], nkbi = (cl_int)nkb;
    const struct clf_karg args[] = {CLF_TARG(kt), {sizeof sk, &sk}, {sizeof d, &d},
                                    {sizeof nkbi, &nkbi}, {sizeof(cl_mem), &kp}};
    st = clf_set_args(ctx, kern, "attn_pack_k", args, CLF_NARGS(args));
    if (st != CLF_OK)
        return st;
    size_t global[3] = {(size_t)nkb, (size_t)k->shape[1], (size_t)k->shape[0]};
    size_t local[3] = {1, 1, 1};
    return clf_launch(ctx, kern, 3, global, local, n_wait, wait, ev, "attn_pack_k");
}

enum clf_status clf_attn_cpu_inputs(struct clf_ctx *ctx, const struct clf_attn_problem *p,
                                    const char *family, const char *opts, unsigned parts,
                                    struct clf_gemm_scratch *fs,
                                    struct clf_tensor **vdense, const char *what,
                                    cl_uint n_wait, const cl_event *wait,
                                    struct clf_attn_cpu_inputs *in)
{
    int bk = clf_attn_cpu_config(ctx)->bk;
    memset(in, 0, sizeof *in);
    in->nkb = (int)clf_ceil_div(p->sk, bk);
    in->v = p->v;
    int nk_pad = in->nkb * bk;
    enum clf_status st = CLF_OK;
    if (parts & CLF_ATTN_KEY_PANELS) {
        size_t kp_bytes = clf_attn_key_panel_bytes(p->k, bk);
        if (kp_bytes > ctx->info.max_alloc_bytes)
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY,
                            "%s: %zu bytes of key panels exceed the device's %llu per buffer",
                            what, kp_bytes, (unsigned long long)ctx->info.max_alloc_bytes);
        st = clf_gemm_scratch_get(ctx, fs, 0, kp_bytes, &in->kp);
        if (st == CLF_OK)
            st = clf_attn_enqueue_pack_k(ctx, family, opts, p->k, bk, in->kp, n_wait, wait,
                                         &in->evs[in->n_ev]);
        if (st == CLF_OK)
            in->n_ev++;
    }
    if (st == CLF_OK && (parts & CLF_ATTN_KEY_BIAS)) {
        st = clf_gemm_scratch_get(ctx, fs, 1, (size_t)(p->batch * nk_pad) * sizeof(float),
                                  &in->kb);
        if (st == CLF_OK)
            st = clf_attn_enqueue_key_bias(ctx, p, NULL, in->kb, nk_pad, n_wait, wait,
                                           &in->evs[in->n_ev]);
        if (st == CLF_OK)
            in->n_ev++;
    }
    if (st == CLF_OK && (parts & CLF_ATTN_DENSE_V) && p->dv > 1 && p->v->strides[3] != 1) {
        if (!*vdense) {
            int64_t shape[4] = {p->batch, p->heads, p->sk, p->dv};
            st = clf_tensor_new(ctx, CLF_F32, 4, shape, vdense);
        }
        if (st == CLF_OK)
            st = clf_copy_enqueue(ctx, p->v, *vdense, n_wait, wait, &in->evs[in->n_ev]);
        if (st == CLF_OK) {
            in->n_ev++;
            in->v = *vdense;
        }
    }
    /* each input's kernel waited for the wait list; with none enqueued,
     * the reader waits for the wait list itself */
    in->deps = in->n_ev ? in->evs : wait;
    in->n_deps = in->n_ev ? in->n_ev : n_wait;
    return st;
}

void clf_attn_cpu_inputs_release(struct clf_attn_cpu_inputs *in)
{
    for (cl_uint i = 0; i < in->n_ev; i++)
        clf_release_event(&in->evs[i]);
    in->n_ev = 0;
}
