/*
 * Integer GEMM for quantised linear layers (host side: lib/ops/gemm_q8.c):
 *   C[i, j] = act(sa[i] * sb[j] * S[i, j] + bias[j]),  S[i, j] = sum_k A[i, k] * B[j, k]
 * A i8 [m, k], B i8 [n, k] (rows contiguous, any row stride), sa f32 [m],
 * sb f32 [n], bias f32 [n] (optional), C f32 [m, n]. S is exact in int
 * (the host limits k so that |S| < 2^31); the epilogue is fp32:
 *   t = (sa[i] * sb[j]) * (float)S + bias[j],  C = act(t)
 * i.e. at most four roundings before act ((float)S, two products, the sum).
 *
 * Kernel arguments (as clf_kernel_io sets them): for A, sa, B, sb, bias and
 * C in turn (buffer, element offset, long4 strides padded to 4-D: a matrix
 * has its row stride in .s2 and its column stride in .s3; a vector its
 * stride in .s3), then C's long4 shape (.s2 = m, .s3 = n), then int k,
 * int has_bias, int act (CLF_ACT_*).
 *
 * Kernels:
 *   gemm_q8_pack_a, gemm_q8_pack_b, gemm_q8_packed
 *                  (CPU devices) A and B widened to f32 and packed into
 *                  panels, then a TM x TN register tile of C per work-item
 *                  accumulated with f32 fma in blocks of at most 1024 steps
 *                  of k, which is exact (see gemm_q8_packed), each block
 *                  added into int accumulators: the f32 native GEMM's inner
 *                  loop with exact integer results;
 *   gemm_q8_cpu    a QM x QN register tile of C per work-item, k walked in
 *                  16-byte vector loads widened to short, no local memory
 *                  (CPU devices when the packed operands would not fit in
 *                  one buffer);
 *   gemm_q8_tiled  64 x 64 blocks of C per 16 x 16 work-group, 4 x 4 per
 *                  work-item, A and B staged in local memory 16 bytes of k at
 *                  a time as packed char4 words; the 4-wide dot products use
 *                  cl_khr_integer_dot_product where the device has it.
 */

#ifndef QM
#define QM 4
#endif
#ifndef QN
#define QN 4
#endif

/* Integer dot product of two packed char4 words, added to acc. */
#if CLF_HAS_INT_DOT && (defined(__opencl_c_integer_dot_product_input_4x8bit_packed) || \
                        defined(cl_khr_integer_dot_product))
#define Q8_DOT4(a, b, acc) dot_acc_sat_4x8packed_ss_int((a), (b), (acc))
#else
int q8_dot4(uint a, uint b, int acc)
{
    int4 p = convert_int4(as_char4(a)) * convert_int4(as_char4(b));
    return acc + p.s0 + p.s1 + p.s2 + p.s3;
}
#define Q8_DOT4(a, b, acc) q8_dot4((a), (b), (acc))
#endif

/* The epilogue of one output: C[i, j] from S[i, j] (see above). */
void q8_store(int s, int i, int j, __global const float *sa, long sa_off, long sa_st,
              __global const float *sb, long sb_off, long sb_st, __global const float *bias,
              long bias_off, long bias_st, int has_bias, __global float *c, long c_off,
              long c_rs, int act)
{
    float t = (sa[sa_off + i * sa_st] * sb[sb_off + j * sb_st]) * (float)s;
    if (has_bias)
        t += bias[bias_off + j * bias_st];
    c[c_off + i * c_rs + j] = clf_act_apply(t, act);
}

/* Sum of the 8 lanes of v (exact: the lanes are partial sums of S). */
int q8_hsum8(int8 a)
{
    int4 b = a.lo + a.hi;
    int2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* ROWS(X) expands X(0) ... X(QM-1), COLS(Y, i) Y(i, 0) ... Y(i, QN-1). */
#define Q8_R1(X) X(0)
#define Q8_R2(X) Q8_R1(X) X(1)
#define Q8_R3(X) Q8_R2(X) X(2)
#define Q8_R4(X) Q8_R3(X) X(3)
#define Q8_R5(X) Q8_R4(X) X(4)
#define Q8_R6(X) Q8_R5(X) X(5)
#define Q8_R7(X) Q8_R6(X) X(6)
#define Q8_R8(X) Q8_R7(X) X(7)
#define Q8_ROWS_(n, X) Q8_R##n(X)
#define Q8_ROWS(n, X) Q8_ROWS_(n, X)
#define ROWS(X) Q8_ROWS(QM, X)
#define Q8_C1(Y, i) Y(i, 0)
#define Q8_C2(Y, i) Q8_C1(Y, i) Y(i, 1)
#define Q8_C3(Y, i) Q8_C2(Y, i) Y(i, 2)
#define Q8_C4(Y, i) Q8_C3(Y, i) Y(i, 3)
#define Q8_C5(Y, i) Q8_C4(Y, i) Y(i, 4)
#define Q8_C6(Y, i) Q8_C5(Y, i) Y(i, 5)
#define Q8_C7(Y, i) Q8_C6(Y, i) Y(i, 6)
#define Q8_C8(Y, i) Q8_C7(Y, i) Y(i, 7)
#define Q8_COLS_(n, Y, i) Q8_C##n(Y, i)
#define Q8_COLS(n, Y, i) Q8_COLS_(n, Y, i)
#define COLS(Y, i) Q8_COLS(QN, Y, i)

/* Pointers to the tile's rows of A (clamped to m-1) and of B (to n-1):
 * rows past the edge are read but their outputs never stored. */
#define A_PTR(i) __global const char *ar##i = a + a_off + (long)min(i0 + (i), m - 1) * a_rs;
#define B_PTR(i, j) __global const char *br##j = b + b_off + (long)min(j0 + (j), n - 1) * b_rs;
#define ACC_DECL(i, j) int8 acc##i##_##j = (int8)(0);
#define ACC_ROW(i) COLS(ACC_DECL, i)
#define A_LOAD(i) short16 va##i = convert_short16(vload16(0, ar##i + kk));
#define B_LOAD(i, j) short16 vb##j = convert_short16(vload16(0, br##j + kk));
/* products of sign-extended pairs summed into int lanes: the shape x86
 * compilers turn into one pmaddwd per 16 bytes */
#define MAC(i, j)                                                                               \
    acc##i##_##j += convert_int8(va##i.even) * convert_int8(vb##j.even) +                      \
                    convert_int8(va##i.odd) * convert_int8(vb##j.odd);
#define MAC_ROW(i) COLS(MAC, i)
#define SUM(i, j) int s##i##_##j = q8_hsum8(acc##i##_##j);
#define SUM_ROW(i) COLS(SUM, i)
#define TAIL_A(i) int ta##i = ar##i[kk];
#define TAIL_B(i, j) int tb##j = br##j[kk];
#define TAIL_MAC(i, j) s##i##_##j += ta##i * tb##j;
#define TAIL_ROW(i) COLS(TAIL_MAC, i)
#define STORE(i, j)                                                                             \
    if (i0 + (i) < m && j0 + (j) < n)                                                           \
        q8_store(s##i##_##j, i0 + (i), j0 + (j), sa, sa_off, sa_str.s3, sb, sb_off, sb_str.s3,  \
                 bias, bias_off, bias_str.s3, has_bias, c, c_off, c_str.s2, act);
#define STORE_ROW(i) COLS(STORE, i)

/*
 * One QM x QN tile of C per work-item: rows i0 = get_global_id(1)*QM..,
 * columns j0 = get_global_id(0)*QN.. (work-items past the edge return).
 * S is accumulated in QM*QN int8 vectors over k in steps of 16 (lane e
 * sums the products with k mod 16 in {2e, 2e+1}), reduced once, then the
 * k mod 16 tail is added in scalar code.
 */
__kernel void gemm_q8_cpu(__global const char *a, long a_off, long4 a_str,
                          __global const float *sa, long sa_off, long4 sa_str,
                          __global const char *b, long b_off, long4 b_str,
                          __global const float *sb, long sb_off, long4 sb_str,
                          __global const float *bias, long bias_off, long4 bias_str,
                          __global float *c, long c_off, long4 c_str, long4 shape, int k,
                          int has_bias, int act)
{
    const int m = (int)shape.s2, n = (int)shape.s3;
    const int j0 = (int)get_global_id(0) * QN, i0 = (int)get_global_id(1) * QM;
    if (i0 >= m || j0 >= n)
        return;
    const long a_rs = a_str.s2, b_rs = b_str.s2;
    ROWS(A_PTR)
    COLS(B_PTR, 0)
    ROWS(ACC_ROW)
    int kk = 0;
    for (; kk + 16 <= k; kk += 16) {
        COLS(B_LOAD, 0)
        ROWS(A_LOAD)
        ROWS(MAC_ROW)
    }
    ROWS(SUM_ROW)
    for (; kk < k; kk++) {
        COLS(TAIL_B, 0)
        ROWS(TAIL_A)
        ROWS(TAIL_ROW)
    }
    ROWS(STORE_ROW)
}

/* Tiled kernel: block and tile sizes. */
#define QB 64          /* rows and columns of C per work-group */
#define QL 16          /* local size in each dimension */
#define QW (QB / QL)   /* outputs per work-item in each dimension */
#define QK 4           /* packed char4 words of k per stage (16 bytes) */

/* Word w (4 values of k from k0 + 4w) of row r of a [rows, k] i8 matrix,
 * zero past its edge. */
uint q8_word(__global const char *p, long rs, int r, int rows, int k0, int k)
{
    if (r >= rows)
        return 0u;
    __global const char *q = p + (long)r * rs + k0;
    if (k0 + 4 <= k)
        return as_uint(vload4(0, q));
    char4 v = (char4)(0);
    v.s0 = k0 < k ? q[0] : 0;
    v.s1 = k0 + 1 < k ? q[1] : 0;
    v.s2 = k0 + 2 < k ? q[2] : 0;
    return as_uint(v); /* k0 + 3 >= k here */
}

/*
 * Work-group (g0, g1) computes C[g1*QB .., g0*QB ..]; work-item (lx, ly)
 * the QW x QW outputs at rows g1*QB + ly + QL*r, columns g0*QB + lx + QL*c
 * (r, c < QW), so neighbouring work-items store neighbouring columns.
 * Each stage copies QB rows x QK words of A and of B into local memory
 * (one word of each per work-item), zero-padded past m, n and k.
 * Global size (ceil(n/QB)*QL, ceil(m/QB)*QL), local size (QL, QL).
 */
__kernel __attribute__((reqd_work_group_size(QL, QL, 1)))
void gemm_q8_tiled(__global const char *a, long a_off, long4 a_str,
                   __global const float *sa, long sa_off, long4 sa_str,
                   __global const char *b, long b_off, long4 b_str,
                   __global const float *sb, long sb_off, long4 sb_str,
                   __global const float *bias, long bias_off, long4 bias_str,
                   __global float *c, long c_off, long4 c_str, long4 shape, int k, int has_bias,
                   int act)
{
    const int m = (int)shape.s2, n = (int)shape.s3;
    const int lx = (int)get_local_id(0), ly = (int)get_local_id(1);
    const int ib = (int)get_group_id(1) * QB, jb = (int)get_group_id(0) * QB;
    __local uint la[QB][QK + 1]; /* la[r][w]: A[ib + r, k0 + 4w .. +3] (padded: no bank conflicts) */
    __local uint lb[QB][QK + 1]; /* lb[c][w]: B[jb + c, k0 + 4w .. +3] */
    __global const char *ap = a + a_off + (long)ib * a_str.s2;
    __global const char *bp = b + b_off + (long)jb * b_str.s2;
    const int t = ly * QL + lx, tr = t / QK, tw = t % QK; /* the word this item copies */
    int acc[QW][QW];
    for (int r = 0; r < QW; r++)
        for (int cc = 0; cc < QW; cc++)
            acc[r][cc] = 0;
    for (int k0 = 0; k0 < k; k0 += 4 * QK) {
        la[tr][tw] = q8_word(ap, a_str.s2, tr, m - ib, k0 + 4 * tw, k);
        lb[tr][tw] = q8_word(bp, b_str.s2, tr, n - jb, k0 + 4 * tw, k);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int w = 0; w < QK; w++) {
            uint av[QW], bv[QW];
            for (int r = 0; r < QW; r++)
                av[r] = la[ly + QL * r][w];
            for (int cc = 0; cc < QW; cc++)
                bv[cc] = lb[lx + QL * cc][w];
            for (int r = 0; r < QW; r++)
                for (int cc = 0; cc < QW; cc++)
                    acc[r][cc] = Q8_DOT4(av[r], bv[cc], acc[r][cc]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int r = 0; r < QW; r++) {
        int i = ib + ly + QL * r;
        for (int cc = 0; cc < QW; cc++) {
            int j = jb + lx + QL * cc;
            if (i < m && j < n)
                q8_store(acc[r][cc], i, j, sa, sa_off, sa_str.s3, sb, sb_off, sb_str.s3, bias,
                         bias_off, bias_str.s3, has_bias, c, c_off, c_str.s2, act);
        }
    }
}

/* ------------------------------------------------------------------------
 * Packed kernels for CPU devices. Build defines (set by the host):
 *   TM  rows of C per work-item; TN columns, NV = TN/VW vectors of VW (8 or
 *   16) lanes, so TM*NV float accumulators (6 x 4 float16 = 24 zmm with
 *   AVX-512, as the f32 GEMM's 6x64 tile in gemm_cpu.cl).
 * Packed layouts (f32, dense, zero past the matrix edge):
 *   A panels [ceil(m/TM)][k][TM]: Ap[q][kk][t] = A[q*TM + t, kk]
 *   B panels [ceil(n/TN)][k][TN]: Bp[q][kk][t] = B[q*TN + t, kk]
 * ------------------------------------------------------------------------ */

#ifndef TM
#define TM 6
#endif
#ifndef VW
#define VW 16
#endif
#ifndef TN
#define TN (4 * VW)
#endif

#if VW == 8
#define Q8F float8
#define Q8I int8
#define Q8F_LOAD vload8
#define Q8F_STORE vstore8
#define Q8_TO_INT convert_int8
#define Q8_TO_FLOAT convert_float8
#elif VW == 16
#define Q8F float16
#define Q8I int16
#define Q8F_LOAD vload16
#define Q8F_STORE vstore16
#define Q8_TO_INT convert_int16
#define Q8_TO_FLOAT convert_float16
#else
#error "VW must be 8 or 16"
#endif

/* Depth steps packed by one work-item of a pack kernel. */
#define Q8_PACK_K 512
/* Depth steps per exact f32 block of gemm_q8_packed: 1024·128² = 2^24. */
#define Q8_KB 1024

/*
 * Packs T rows of an i8 matrix X [R, K] (rows contiguous) as f32:
 *   dst[q][kk][t] = (q*T + t < R) ? (float)src[off + (q*T + t)*rs + kk] : 0
 * for panel q = get_global_id(0) and kk in [Q8_PACK_K*get_global_id(1), +Q8_PACK_K).
 * T is a compile-time constant at every call (the loops unroll).
 */
void q8_pack(__global const char *src, long off, long rs, int R, int K, __global float *dst,
             const int T)
{
    int q = (int)get_global_id(0), k0 = (int)get_global_id(1) * Q8_PACK_K;
    int nq = (R + T - 1) / T;
    if (q >= nq || k0 >= K)
        return;
    int k1 = min(k0 + Q8_PACK_K, K), rows = min(T, R - q * T);
    __global const char *s = src + off + (long)q * T * rs;
    __global float *d = dst + ((long)q * K + k0) * T;
    int kk = k0;
    if (rows == T) {
        /* 8 depth steps of each row by one vector load, written transposed */
        for (; kk + 8 <= k1; kk += 8, d += 8 * T)
            for (int t = 0; t < T; t++) {
                float8 v = convert_float8(vload8(0, s + t * rs + kk));
                d[0 * T + t] = v.s0;
                d[1 * T + t] = v.s1;
                d[2 * T + t] = v.s2;
                d[3 * T + t] = v.s3;
                d[4 * T + t] = v.s4;
                d[5 * T + t] = v.s5;
                d[6 * T + t] = v.s6;
                d[7 * T + t] = v.s7;
            }
    }
    for (; kk < k1; kk++, d += T)
        for (int t = 0; t < T; t++)
            d[t] = t < rows ? (float)s[t * rs + kk] : 0.0f;
}

/* A i8 [m, k] (A[i, kk] at a[a_off + i*a_rs + kk]) -> A panels.
 * Global size (>= ceil(m/TM), >= ceil(k/Q8_PACK_K)). */
__kernel void gemm_q8_pack_a(__global const char *a, long a_off, long a_rs, int m, int k,
                             __global float *ap)
{
    q8_pack(a, a_off, a_rs, m, k, ap, TM);
}

/* B i8 [n, k] (B[j, kk] at b[b_off + j*b_rs + kk]) -> B panels.
 * Global size (>= ceil(n/TN), >= ceil(k/Q8_PACK_K)). */
__kernel void gemm_q8_pack_b(__global const char *b, long b_off, long b_rs, int n, int k,
                             __global float *bp)
{
    q8_pack(b, b_off, b_rs, n, k, bp, TN);
}

/* P_ROWS(X) expands X(0) ... X(TM-1); P_COLS(Y, i) Y(i, 0) ... Y(i, NV-1). */
#define P_ROWS(X) Q8_ROWS(TM, X)
#if TN == VW
#define P_COLS(Y, i) Y(i, 0)
#elif TN == 2 * VW
#define P_COLS(Y, i) Y(i, 0) Y(i, 1)
#elif TN == 3 * VW
#define P_COLS(Y, i) Y(i, 0) Y(i, 1) Y(i, 2)
#elif TN == 4 * VW
#define P_COLS(Y, i) Y(i, 0) Y(i, 1) Y(i, 2) Y(i, 3)
#else
#error "TN must be 1 to 4 times VW"
#endif

#define P_IDECL(i, v) Q8I s##i##_##v = (Q8I)(0);
#define P_IDECL_ROW(i) P_COLS(P_IDECL, i)
#define P_FDECL(i, v) Q8F f##i##_##v = (Q8F)(0.0f);
#define P_FDECL_ROW(i) P_COLS(P_FDECL, i)
#define P_BLOAD(i, v) Q8F b##v = Q8F_LOAD(v, bk);
#define P_FMA(i, v) f##i##_##v = fma(a##i, b##v, f##i##_##v);
#define P_FMA_ROW(i)                                                                            \
    {                                                                                           \
        Q8F a##i = (Q8F)(ak[i]);                                                                \
        P_COLS(P_FMA, i)                                                                        \
    }
#define P_ADD(i, v) s##i##_##v += Q8_TO_INT(f##i##_##v);
#define P_ADD_ROW(i) P_COLS(P_ADD, i)
#define P_STORE(i, v) q8_store_vec(s##i##_##v, i0 + (i), j0 + (v) * VW, sa_i, sb, sb_off, sb_st, \
                                   bias, bias_off, bias_st, has_bias, crow, n, act);
#define P_STORE_ROW(i)                                                                          \
    if (i0 + (i) < m) {                                                                         \
        float sa_i = sa[sa_off + (long)(i0 + (i)) * sa_st];                                     \
        __global float *crow = c + c_off + (long)(i0 + (i)) * c_rs;                            \
        P_COLS(P_STORE, i)                                                                      \
    }

/* act(x) lane-wise (clf_act_apply of common.cl). */
Q8F q8_act_vec(Q8F x, int act)
{
    float t[VW];
    Q8F_STORE(x, 0, t);
    for (int e = 0; e < VW; e++)
        t[e] = clf_act_apply(t[e], act);
    return Q8F_LOAD(0, t);
}

/* The epilogue of VW adjacent outputs C[i, j..j+VW) of row crow from their
 * sums s, lane-wise the same roundings as q8_store:
 *   t = (sa_i * sb[j+e]) * (float)s[e] (+ bias[j+e]),  C = act(t),
 * for the lanes with j + e < n. */
void q8_store_vec(Q8I s, int i, int j, float sa_i, __global const float *sb, long sb_off,
                  long sb_st, __global const float *bias, long bias_off, long bias_st,
                  int has_bias, __global float *crow, int n, int act)
{
    if (j >= n)
        return;
    Q8F sf = Q8_TO_FLOAT(s);
    if (j + VW <= n && sb_st == 1 && (!has_bias || bias_st == 1)) {
        Q8F t = ((Q8F)(sa_i) * Q8F_LOAD(0, sb + sb_off + j)) * sf;
        if (has_bias)
            t += Q8F_LOAD(0, bias + bias_off + j);
        if (act != CLF_ACT_NONE)
            t = q8_act_vec(t, act);
        Q8F_STORE(t, 0, crow + j);
        return;
    }
    float x[VW];
    Q8F_STORE(sf, 0, x);
    for (int e = 0; e < VW && j + e < n; e++) {
        float t = (sa_i * sb[sb_off + (long)(j + e) * sb_st]) * x[e];
        if (has_bias)
            t += bias[bias_off + (long)(j + e) * bias_st];
        crow[j + e] = clf_act_apply(t, act);
    }
}

/*
 * C[i, j] = act(sa[i]·sb[j]·S[i, j] + bias[j]) for the TM x TN tile at rows
 * qm*TM.., columns qn*TN.., qm = get_global_id(0) (items past ceil(m/TM)
 * return), qn = get_global_id(1).
 *   ap, bp     A and B panels (above)
 *   sa, sb     scales: sa[i] at sa[sa_off + i*sa_st], sb[j] likewise
 *   bias       bias[j] at bias[bias_off + j*bias_st], read only when has_bias
 *   c          C[i, j] at c[c_off + i*c_rs + j]
 * S is summed in f32 fma over blocks of at most Q8_KB = 1024 steps of k and
 * each block added into int accumulators. Exact: every product of codes in
 * [−128, 127] is an integer of magnitude <= 2^14, so every partial sum of a
 * block is an integer of magnitude <= 1024·2^14 = 2^24, which f32 holds
 * exactly; each fma's exact result is thus representable (no rounding),
 * and the conversion of a block's sum to int is exact. The int total is S
 * (|S| < 2^31 by the host's limit on k).
 */
__kernel void gemm_q8_packed(__global const float *ap, __global const float *bp,
                             __global const float *sa, long sa_off, long sa_st,
                             __global const float *sb, long sb_off, long sb_st,
                             __global const float *bias, long bias_off, long bias_st,
                             int has_bias, __global float *c, long c_off, long c_rs, int m, int n,
                             int k, int act)
{
    const int qm = (int)get_global_id(0), qn = (int)get_global_id(1);
    const int mt = (m + TM - 1) / TM;
    if (qm >= mt)
        return;
    __global const float *ak = ap + (long)qm * k * TM;
    __global const float *bk = bp + (long)qn * k * TN;
    P_ROWS(P_IDECL_ROW)
    for (int k0 = 0; k0 < k; k0 += Q8_KB) {
        const int k1 = min(k0 + Q8_KB, k);
        P_ROWS(P_FDECL_ROW)
        for (int kk = k0; kk < k1; kk++, ak += TM, bk += TN) {
            P_COLS(P_BLOAD, 0)
            P_ROWS(P_FMA_ROW)
        }
        P_ROWS(P_ADD_ROW)
    }
    const int i0 = qm * TM, j0 = qn * TN;
    P_ROWS(P_STORE_ROW)
}
