/*
 * GEMM for CPU devices (PoCL and the like): both operands packed into
 * panels, a TM x TN register tile of C per work-item, no local memory, no
 * barriers. Host side: lib/ops/gemm_cpu.c.
 *
 * Build defines (set by the host):
 *   TM  rows of C per work-item, 1..16
 *   TN  columns of C per work-item, VW, 2*VW, 3*VW or 4*VW
 *   VW  vector width of the accumulators, 8 or 16
 *   BPREC  storage of the B panels: 0 f32, 1 f16 (IEEE binary16), 2 bf16
 *          (bfloat16, as ushort); B is rounded to it to nearest even when
 *          packed and widened to f32 exactly in the k-loop, so the tile
 *          computes with round(B) in f32 (only B is narrowed: A's panels
 *          are small and made on every run)
 * so one work-item keeps TM * TN/VW accumulators of type floatVW.
 *
 * Packed layouts (dense, zero-padded past the matrix edge):
 *   A panels  [batch][ceil(m/TM)][k][TM] f32:  Ap[p][q][kk][t] = A_p[q*TM + t, kk]
 *   B panels  [batch_b][ceil(n/TN)][k][TN] (BPREC): Bp[p][q][kk][t] = B_p[kk, q*TN + t]
 * so the k-loop of the compute kernel reads TM scalars of A and TN/VW
 * vectors of B from two contiguous, sequentially walked streams.
 */

#ifndef TM
#define TM 6
#endif
#ifndef TN
#define TN 16
#endif
#ifndef VW
#define VW 8
#endif

#ifndef BPREC
#define BPREC 0
#endif

#if VW == 8
#define VEC float8
#define VLOAD vload8
#define VSTORE vstore8
#define VLOAD_HALF vload_half8
#define VEC_U32 uint8
#define CONVERT_VEC_U32 convert_uint8
#define AS_VEC as_float8
#elif VW == 16
#define VEC float16
#define VLOAD vload16
#define VSTORE vstore16
#define VLOAD_HALF vload_half16
#define VEC_U32 uint16
#define CONVERT_VEC_U32 convert_uint16
#define AS_VEC as_float16
#else
#error "VW must be 8 or 16"
#endif

/* The B panels' element type (a pointer to half needs no cl_khr_fp16:
 * vload_half / vstore_half are core) */
#if BPREC == 0
#define BPANEL float
#elif BPREC == 1
#define BPANEL half
#elif BPREC == 2
#define BPANEL ushort
#else
#error "BPREC must be 0, 1 or 2"
#endif

/* bfloat16 of v rounded to nearest even (the upper 16 bits of an f32);
 * NaN stays a (quiet) NaN, values beyond bf16's largest finite round to
 * +-inf as in f32 arithmetic. */
ushort clf_gemm_cpu_bf16(float v)
{
    uint u = as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (ushort)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ushort)(u >> 16);
}

/* Element i of a panel buffer set to v: f32 (to_b false, or BPREC 0), or
 * B's format. to_b is a constant at every call, so one branch remains. */
void clf_gemm_cpu_put(__global void *dst, long i, float v, const bool to_b)
{
    (void)to_b;
#if BPREC == 1
    if (to_b) {
        vstore_half_rte(v, i, (__global half *)dst);
        return;
    }
#elif BPREC == 2
    if (to_b) {
        ((__global ushort *)dst)[i] = clf_gemm_cpu_bf16(v);
        return;
    }
#endif
    ((__global float *)dst)[i] = v;
}

/* Depth steps packed by one work-item of a pack kernel. */
#define PACK_K 512

/*
 * Packs T rows of a strided matrix X [R, K] into one panel slice:
 *   dst[p][q][kk][t] = (q*T + t < R) ? src[off + p*bs + (q*T + t)*rs + kk*ks] : 0
 * for this work-item's panel q = get_global_id(0), depth chunk
 * kk in [PACK_K*get_global_id(1), +PACK_K) and batch p = get_global_id(2).
 *   src  f32 buffer holding X_p[r, kk] at off + p*bs + r*rs + kk*ks
 *   dst  [batch][ceil(R/T)][K][T]: f32, or B's format when to_b
 * T and to_b are compile-time constants at every call (the loops unroll).
 */
void clf_gemm_cpu_pack(__global const float *src, long off, long rs, long ks, long bs, int R,
                       int K, __global void *dst, const int T, const bool to_b)
{
    int q = (int)get_global_id(0);
    int k0 = (int)get_global_id(1) * PACK_K;
    long p = (long)get_global_id(2);
    int nq = (R + T - 1) / T;
    if (q >= nq || k0 >= K)
        return;
    int k1 = min(k0 + PACK_K, K);
    int rows = min(T, R - q * T);
    __global const float *s = src + off + p * bs + (long)q * T * rs;
    long d = ((p * nq + q) * (long)K + k0) * T; /* dst's element of (kk = k0, t = 0) */
    if (rows == T && ks == 1) {
        /* depth contiguous (row-major A, nn.Linear B): per group of up to
         * 8 rows, 8 depth steps of each row by a vector load, written out
         * transposed */
        int kk = k0;
        for (; kk + 8 <= k1; kk += 8, d += 8 * T) {
            for (int t0 = 0; t0 < T; t0 += 8) {
                float8 r[8];
                for (int t = 0; t < 8 && t0 + t < T; t++)
                    r[t] = vload8(0, s + (t0 + t) * rs + kk);
                for (int t = 0; t < 8 && t0 + t < T; t++) {
                    long e = d + t0 + t;
                    clf_gemm_cpu_put(dst, e + 0 * T, r[t].s0, to_b);
                    clf_gemm_cpu_put(dst, e + 1 * T, r[t].s1, to_b);
                    clf_gemm_cpu_put(dst, e + 2 * T, r[t].s2, to_b);
                    clf_gemm_cpu_put(dst, e + 3 * T, r[t].s3, to_b);
                    clf_gemm_cpu_put(dst, e + 4 * T, r[t].s4, to_b);
                    clf_gemm_cpu_put(dst, e + 5 * T, r[t].s5, to_b);
                    clf_gemm_cpu_put(dst, e + 6 * T, r[t].s6, to_b);
                    clf_gemm_cpu_put(dst, e + 7 * T, r[t].s7, to_b);
                }
            }
        }
        for (; kk < k1; kk++, d += T)
            for (int t = 0; t < T; t++)
                clf_gemm_cpu_put(dst, d + t, s[t * rs + kk], to_b);
    } else if (rows == T && rs == 1) {
        /* rows contiguous (transposed A, row-major B): a plain copy */
        for (int kk = k0; kk < k1; kk++, d += T)
            for (int t = 0; t < T; t++)
                clf_gemm_cpu_put(dst, d + t, s[t + kk * ks], to_b);
    } else {
        for (int kk = k0; kk < k1; kk++, d += T)
            for (int t = 0; t < T; t++)
                clf_gemm_cpu_put(dst, d + t, t < rows ? s[t * rs + kk * ks] : 0.0f, to_b);
    }
}

/*
 * A [batch][m][k] (any strides) -> A panels [batch][ceil(m/TM)][k][TM]:
 *   Ap[p][q][kk][t] = a[a_off + p*a_bs + (q*TM + t)*a_rs + kk*a_cs], 0 past m.
 * Global size (>= ceil(m/TM), >= ceil(k/PACK_K), batch).
 */
__kernel void gemm_cpu_pack_a(__global const float *a, long a_off, long a_rs, long a_cs,
                              long a_bs, int m, int k, __global float *ap)
{
    clf_gemm_cpu_pack(a, a_off, a_rs, a_cs, a_bs, m, k, ap, TM, false);
}

/*
 * B [batch_b][k][n] (any strides) -> B panels [batch_b][ceil(n/TN)][k][TN]
 * in BPREC's format:
 *   Bp[p][q][kk][t] = round(b[b_off + p*b_bs + kk*b_rs + (q*TN + t)*b_cs]), 0 past n.
 * (The rows of a panel run along n, so the row stride passed down is b_cs.)
 * Global size (>= ceil(n/TN), >= ceil(k/PACK_K), batch_b).
 */
__kernel void gemm_cpu_pack_b(__global const float *b, long b_off, long b_rs, long b_cs,
                              long b_bs, int n, int k, __global BPANEL *bp)
{
    clf_gemm_cpu_pack(b, b_off, b_cs, b_rs, b_bs, n, k, bp, TN, true);
}

/* CLF_ROWS(R, X) expands X(0) ... X(R-1); COLS(Y, i) expands Y(i, 0) ... Y(i, TN/VW-1). */
#define CLF_R1(X) X(0)
#define CLF_R2(X) CLF_R1(X) X(1)
#define CLF_R3(X) CLF_R2(X) X(2)
#define CLF_R4(X) CLF_R3(X) X(3)
#define CLF_R5(X) CLF_R4(X) X(4)
#define CLF_R6(X) CLF_R5(X) X(5)
#define CLF_R7(X) CLF_R6(X) X(6)
#define CLF_R8(X) CLF_R7(X) X(7)
#define CLF_R9(X) CLF_R8(X) X(8)
#define CLF_R10(X) CLF_R9(X) X(9)
#define CLF_R11(X) CLF_R10(X) X(10)
#define CLF_R12(X) CLF_R11(X) X(11)
#define CLF_R13(X) CLF_R12(X) X(12)
#define CLF_R14(X) CLF_R13(X) X(13)
#define CLF_R15(X) CLF_R14(X) X(14)
#define CLF_R16(X) CLF_R15(X) X(15)
#define CLF_ROWS_(n, X) CLF_R##n(X)
#define CLF_ROWS(n, X) CLF_ROWS_(n, X)

#if TN == VW
#define COLS(Y, i) Y(i, 0)
#elif TN == 2 * VW
#define COLS(Y, i) Y(i, 0) Y(i, 1)
#elif TN == 3 * VW
#define COLS(Y, i) Y(i, 0) Y(i, 1) Y(i, 2)
#elif TN == 4 * VW
#define COLS(Y, i) Y(i, 0) Y(i, 1) Y(i, 2) Y(i, 3)
#else
#error "TN must be 1 to 4 times VW"
#endif
#define NV (TN / VW)

#if BPREC == 1
#define B_LOAD(i, v) VEC b##v = VLOAD_HALF(v, bk);
#elif BPREC == 2 /* bf16 -> f32: the 16 bits on top of a zero low half */
#define B_LOAD(i, v) VEC b##v = AS_VEC(CONVERT_VEC_U32(VLOAD(v, bk)) << 16);
#else
#define B_LOAD(i, v) VEC b##v = VLOAD(v, bk);
#endif

/* clf_erf (common.cl) on VW lanes at once: the same bits as the scalar
 * function (the scalar epilogue of a GELU GEMM called clf_erf lane by
 * lane, 6 % of a short-sequence forward pass in perf). */
CLF_ERF_DEFINE(clf_gemm_cpu_erf, VEC)

/* act(x) component-wise (clf_act_apply of common.cl): ReLU and GELU on the
 * vector (the same bits), the others lane by lane. */
VEC clf_gemm_cpu_act(VEC x, int act)
{
    if (act == CLF_ACT_RELU)
        return select(x, (VEC)(0.0f), x < (VEC)(0.0f)); /* NaN stays NaN */
    if (act == CLF_ACT_GELU)
        return (VEC)(0.5f) * x * ((VEC)(1.0f) + clf_gemm_cpu_erf(x * (VEC)(0.70710678118654752f)));
    float t[VW];
    VSTORE(x, 0, t);
    for (int e = 0; e < VW; e++)
        t[e] = clf_act_apply(t[e], act);
    return VLOAD(0, t);
}

/*
 * The epilogue for VW adjacent outputs of one row:
 *   crow[j+e] = act(alpha*acc[e] + beta*crow[j+e] + bias[j+e]),  e < min(VW, n-j)
 * with crow the row's first element. Three roundings at most before act:
 * alpha*acc, the fma with beta*C (only when beta != 0: C is never read
 * otherwise, so NaN in the old C does not leak), the bias addition.
 */
void clf_gemm_cpu_store(VEC acc, __global float *crow, int j, int n, float alpha, float beta,
                        __global const float *bias, int has_bias, int act)
{
    if (j >= n)
        return;
    VEC t = alpha * acc;
    if (j + VW <= n) {
        if (beta != 0.0f)
            t = fma((VEC)(beta), VLOAD(0, crow + j), t);
        if (has_bias)
            t += VLOAD(0, bias + j);
        if (act != CLF_ACT_NONE)
            t = clf_gemm_cpu_act(t, act);
        VSTORE(t, 0, crow + j);
        return;
    }
    float x[VW];
    VSTORE(t, 0, x);
    for (int e = 0; e < n - j; e++) {
        float y = x[e];
        if (beta != 0.0f)
            y = fma(beta, crow[j + e], y);
        if (has_bias)
            y += bias[j + e];
        crow[j + e] = clf_act_apply(y, act);
    }
}

/* A pass of R rows (a constant) of the tile, rows ib .. ib+R-1, over the
 * whole k-loop: R x TN/VW vector accumulators, per depth step TN/VW
 * vectors of the B panel (b0, the tile's) and one broadcast A value per
 * row (row t at ro_t in the A stream ak: its offset in the panel, or the
 * row times a_rs when A is read in place); then the epilogue as each row
 * is stored. A whole tile is a pass of TM rows from i0. */
#define A_ROW_OFF(t) const long ro##t = a_direct ? (long)(ib + (t)) * a_rs : (long)(ib - i0 + (t));
#define ACC_DECL(t, v) VEC acc##t##_##v = (VEC)(0.0f);
#define ACC_DECL_ROW(t) COLS(ACC_DECL, t)
#define ACC_FMA(t, v) acc##t##_##v = fma(a##t, b##v, acc##t##_##v);
#define ACC_FMA_ROW(t)                                                                          \
    {                                                                                           \
        VEC a##t = (VEC)(rk[ro##t]);                                                            \
        COLS(ACC_FMA, t)                                                                        \
    }
#define ACC_STORE(t, v)                                                                         \
    clf_gemm_cpu_store(acc##t##_##v, crow, j0 + (v) * VW, n, alpha, beta, bias, has_bias, act);
#define ACC_STORE_ROW(t)                                                                        \
    {                                                                                           \
        __global float *crow = cp + (long)(ib + (t)) * c_rs;                                    \
        COLS(ACC_STORE, t)                                                                      \
    }
#define ROW_PASS(R)                                                                             \
    {                                                                                           \
        CLF_ROWS(R, A_ROW_OFF)                                                                  \
        __global const float *rk = ak;                                                          \
        __global const BPANEL *bk = b0;                                                         \
        CLF_ROWS(R, ACC_DECL_ROW)                                                               \
        for (int kk = 0; kk < k; kk++, rk += a_step, bk += TN) {                                \
            COLS(B_LOAD, 0)                                                                     \
            CLF_ROWS(R, ACC_FMA_ROW)                                                            \
        }                                                                                       \
        CLF_ROWS(R, ACC_STORE_ROW)                                                              \
    }

/*
 * C_p[i, j] = act(alpha * sum_kk A_p[i, kk] * B_p[kk, j] + beta * C_p[i, j] + bias[j])
 * for the TM x TN tile (rows q_m*TM.., columns q_n*TN..) of batch p, where
 * q_m = get_global_id(0) (work-items past ceil(m/TM) return at once),
 * q_n = get_global_id(1), p = get_global_id(2).
 *   a         a_direct 0: A panels [batch][ceil(m/TM)][k][TM] (a_off, a_rs
 *             and a_bs unused); 1: A itself, rows contiguous, A_p[i, kk] at
 *             a[a_off + p*a_bs + i*a_rs + kk] (read in place: no pack
 *             kernel and no pass over A for short activations)
 *   bp        B panels [batch_b][ceil(n/TN)][k][TN] (BPREC); batch p uses bp + p*bp_bs
 *   bp_bs     elements between the batches of bp: 0 when B is shared
 *   c         C_p[i, j] at c[c_off + p*c_bs + i*c_rs + j]  (rows contiguous)
 *   bias      bias[j] at bias[bias_off + j], read only when has_bias
 *   m, n, k   the problem; alpha, beta, act (CLF_ACT_*) the epilogue
 * The dot products run over kk = 0..k-1 in order, one fma per step, in
 * TM * TN/VW vector accumulators; padding columns of the B panels are zero
 * and their outputs are never stored. The last row tile, when m is no
 * multiple of TM, runs its m % TM rows in passes of 2 and 1 rows instead
 * of a whole tile: a short sequence (m = 25 with TM 6: 30 rows computed)
 * no longer pays for rows it does not have. Each pass streams the tile's B
 * panel again (from cache); per row it costs about what a tile row does.
 */
__kernel void gemm_cpu_tile(__global const float *a, long a_off, long a_rs, long a_bs,
                            int a_direct, __global const BPANEL *bp, long bp_bs,
                            __global float *c, long c_off, long c_rs, long c_bs,
                            __global const float *bias, long bias_off, int has_bias, int m,
                            int n, int k, float alpha, float beta, int act)
{
    int qm = (int)get_global_id(0);
    int qn = (int)get_global_id(1);
    long p = (long)get_global_id(2);
    int mt = (m + TM - 1) / TM;
    if (qm >= mt)
        return;
    int i0 = qm * TM, j0 = qn * TN;
    __global const float *ak = a_direct ? a + a_off + p * a_bs : a + (p * mt + qm) * (long)k * TM;
    const int a_step = a_direct ? 1 : TM;
    __global const BPANEL *b0 = bp + p * bp_bs + (long)qn * k * TN;
    __global float *cp = c + c_off + p * c_bs; /* row 0 of C_p */
    if (has_bias)
        bias += bias_off;

    int ib = i0;
    if (i0 + TM <= m) { /* a whole tile */
        ROW_PASS(TM)
        return;
    }
    for (; ib + 2 <= m; ib += 2) /* the remainder rows */
        ROW_PASS(2)
    if (ib < m)
        ROW_PASS(1)
}
