/*
 * Prepended by the host to every program. Build options always define:
 *   CLF_HAS_FP16, CLF_HAS_FP64, CLF_HAS_SUBGROUPS, CLF_HAS_INT_DOT (0/1):
 *     optional device features, probed at run time;
 *   CLF_DEVICE_CPU (0/1): the device is a CPU (PoCL and the like);
 *   CLF_VEC_FLOAT: the device's float lanes (the larger of its preferred and
 *   native float vector widths, clf_device_float_lanes).
 * Portability floor: OpenCL C 1.2.
 */

/*
 * Element offset of the gid-th element (row-major order over `shape`) of a
 * strided 4-D tensor. shape and strides are in elements, outermost first
 * (.s0); tensors with fewer dimensions are padded in front with size 1.
 */
long clf_offset4(long gid, long4 shape, long4 strides, long offset)
{
    long i3 = gid % shape.s3;
    gid /= shape.s3;
    long i2 = gid % shape.s2;
    gid /= shape.s2;
    long i1 = gid % shape.s1;
    long i0 = gid / shape.s1;
    return offset + i0 * strides.s0 + i1 * strides.s1 + i2 * strides.s2 + i3 * strides.s3;
}

/*
 * Sizes for the guards of launches rounded up to whole work-groups
 * (clf_launch_rounded in lib/runtime/launch.h): the work-items at or past
 * the real size exist, and return before any read or write, e.g.
 *   if (gid >= clf_numel4(shape)) return;
 */
long clf_numel4(long4 shape) /* elements of a padded 4-D shape */
{
    return shape.s0 * shape.s1 * shape.s2 * shape.s3;
}

long clf_rows4(long4 shape) /* its rows: all but the last dimension */
{
    return shape.s0 * shape.s1 * shape.s2;
}

/* Activation codes, as enum clf_act in clformer.h. */
#define CLF_ACT_NONE 0
#define CLF_ACT_RELU 1
#define CLF_ACT_GELU 2
#define CLF_ACT_GELU_TANH 3
#define CLF_ACT_TANH 4

/*
 * erf(x) in f32 within 2.44 ulp of the exact value (tools/erf_check.sh
 * checks it against the double-precision erf at every float in [0, 4.5];
 * odd symmetry beyond),
 * branch-free so that lanes vectorise: the library's erf on PoCL is a scalar
 * call that made a GELU epilogue cost more than its GEMM (0.5-0.8 ms for
 * 16 x 1536 outputs). With a = |x|:
 *   a < 1:      a * PA(a^2), PA of degree 6: Chebyshev fit of erf(a)/a in
 *               a^2 on [0, 1] (fit error 1.2e-9)
 *   1 <= a < 4: 1 - PB(u), u = (2a - 5)/3 in [-1, 1], PB of degree 14: the
 *               Chebyshev fit of erfc on [1, 4] (fit error 1.1e-8, below
 *               erf's half-ulp 3e-8 there)
 *   a >= 4:     1 (erfc(4) = 1.5e-8 rounds away)
 * Both polynomials by Horner with fma, so every device rounds alike. NaN
 * propagates (it takes the PB branch), ±inf give ±1. Coefficients from
 * mpmath.chebyfit, highest degree first.
 */
/* clf_erf for a float type T (float, or floatN for a vector epilogue,
 * gemm_cpu.cl): the same operations in every lane, the branches as
 * selects, so every instance computes the same bits. */
#define CLF_ERF_DEFINE(NAME, T)                                                                \
    T NAME(T x)                                                                                \
    {                                                                                          \
        const T a = fabs(x), s = a * a;                                                        \
        T pa = (T)(7.875874871e-05f);                                                          \
        pa = fma(pa, s, (T)(-8.016864303e-04f));                                               \
        pa = fma(pa, s, (T)(5.189087242e-03f));                                                \
        pa = fma(pa, s, (T)(-2.685421146e-02f));                                               \
        pa = fma(pa, s, (T)(1.128359437e-01f));                                                \
        pa = fma(pa, s, (T)(-3.761262596e-01f));                                               \
        pa = fma(pa, s, (T)(1.128379107e+00f));                                                \
        const T u = fma(a, (T)(6.666666865e-01f), (T)(-1.666666627e+00f));                     \
        T pb = (T)(-2.580060973e-04f);                                                         \
        pb = fma(pb, u, (T)(-9.497238352e-05f));                                               \
        pb = fma(pb, u, (T)(2.032798715e-03f));                                                \
        pb = fma(pb, u, (T)(-1.542911050e-03f));                                               \
        pb = fma(pb, u, (T)(-4.667028785e-03f));                                               \
        pb = fma(pb, u, (T)(1.041184552e-02f));                                                \
        pb = fma(pb, u, (T)(-6.637864280e-03f));                                               \
        pb = fma(pb, u, (T)(-9.579305537e-03f));                                               \
        pb = fma(pb, u, (T)(3.186845034e-02f));                                                \
        pb = fma(pb, u, (T)(-4.638958350e-02f));                                               \
        pb = fma(pb, u, (T)(4.365148023e-02f));                                                \
        pb = fma(pb, u, (T)(-2.818740718e-02f));                                               \
        pb = fma(pb, u, (T)(1.225282997e-02f));                                                \
        pb = fma(pb, u, (T)(-3.267270280e-03f));                                               \
        pb = fma(pb, u, (T)(4.069520219e-04f));                                                \
        T r = select((T)(1.0f) - pb, a * pa, a < (T)(1.0f));                                   \
        r = select(r, (T)(1.0f), a >= (T)(4.0f));                                              \
        return copysign(r, x);                                                                 \
    }
CLF_ERF_DEFINE(clf_erf, float)

/*
 * act(x) for an activation code:
 *   RELU       max(0, x)
 *   GELU       0.5*x*(1 + erf(x/sqrt(2)))  (exact form; clf_erf)
 *   GELU_TANH  0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))  (Hendrycks & Gimpel)
 *   TANH       tanh(x)
 */
float clf_act_apply(float x, int act)
{
    if (act == CLF_ACT_RELU)
        return x < 0.0f ? 0.0f : x; /* NaN stays NaN, as in PyTorch */
    if (act == CLF_ACT_GELU)
        return 0.5f * x * (1.0f + clf_erf(x * 0.70710678118654752f));
    if (act == CLF_ACT_GELU_TANH)
        return 0.5f * x * (1.0f + tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    if (act == CLF_ACT_TANH)
        return tanh(x);
    return x;
}

/*
 * Reduction of v over the work-group, into every work-item: the sum
 * (is_max = 0) or the max (is_max = 1, fmax: NaN ignored as by the tree).
 * Contains barriers, so every work-item of the group must call it.
 * Where the device has subgroups (CLF_HAS_SUBGROUPS: cl_khr_subgroups or
 * cl_intel_subgroups), each subgroup reduces in registers
 * (sub_group_reduce_add / _max), its first work-item puts the partial in
 * scratch[subgroup], and after one barrier every work-item combines the
 * partials in subgroup order (scratch: a float per subgroup); elsewhere a
 * local-memory tree, ls a power of two, scratch [ls] floats, log2(ls)
 * barriers.
 */
#if CLF_HAS_SUBGROUPS
#if defined(cl_khr_subgroups)
#pragma OPENCL EXTENSION cl_khr_subgroups : enable
#endif
float clf_group_reduce(float v, int is_max, __local float *scratch)
{
    float p = is_max ? sub_group_reduce_max(v) : sub_group_reduce_add(v);
    uint nsg = get_num_sub_groups();
    if (get_sub_group_local_id() == 0)
        scratch[get_sub_group_id()] = p;
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = scratch[0];
    for (uint i = 1; i < nsg; i++)
        r = is_max ? fmax(r, scratch[i]) : r + scratch[i];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch may be reused at once */
    return r;
}
#else
float clf_group_reduce(float v, int is_max, __local float *scratch)
{
    int lid = (int)get_local_id(0);
    int ls = (int)get_local_size(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = ls >> 1; w > 0; w >>= 1) {
        if (lid < w)
            scratch[lid] = is_max ? fmax(scratch[lid], scratch[lid + w])
                                  : scratch[lid] + scratch[lid + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch may be reused at once */
    return r;
}
#endif
