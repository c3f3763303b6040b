/*
 * Row ops on f32 tensors: bias add, activation, softmax, layernorm, and the
 * embedding gather. See lib/ops/rows.c for the host side.
 *
 * Tensor arguments follow common.cl: (buffer, element offset, long4 strides),
 * shapes padded in front to 4-D. A "row" is the last dimension (.s3); the
 * leading three dimensions enumerate rows, row r = ((i0 * d1) + i1) * d2 + i2,
 * and its first element is element r * d3 in row-major order.
 *
 * The row reductions (softmax, layernorm) come in two variants:
 *   *_item:  one work-item per row, looping over it (no barriers; best on
 *            CPU devices, where barriers are emulated); global size = rows.
 *   *_group: one work-group per row; each work-item handles the columns
 *            lid, lid + ls, ... and partial results are combined by a tree
 *            in local memory; ls = local size, a power of two; global size =
 *            rows * ls; scratch holds ls floats.
 *   *_vec:   *_item for rows contiguous in every tensor, in explicit
 *            vectors (see "Contiguous rows" below).
 * All compute the same formulas; only the order of the additions differs.
 */

/* Offset of element 0 of row r of a strided 4-D tensor. */
long rows_base(long r, long4 shape, long4 strides, long offset)
{
    return clf_offset4(r * shape.s3, shape, strides, offset);
}

/* ------------------------------------------------------------------------ */
/* Elementwise along rows: one work-item per element, global = numel.      */
/* ------------------------------------------------------------------------ */

/* y[..., j] = x[..., j] + b[j] (one rounding). */
__kernel void rows_bias_add(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                            __global const float *b, long b_off, long4 b_str, /* [N] */
                            __global float *y, long y_off, long4 y_str,       /* [..., N] */
                            long4 shape)                                      /* of x and y */
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long j = gid % shape.s3;
    y[clf_offset4(gid, shape, y_str, y_off)] =
        x[clf_offset4(gid, shape, x_str, x_off)] + b[b_off + j * b_str.s3];
}

/* y = act(x), act an activation code of common.cl. */
__kernel void rows_act(__global const float *x, long x_off, long4 x_str, /* [...] */
                       __global float *y, long y_off, long4 y_str,       /* [...] */
                       long4 shape,                                      /* of x and y */
                       int act)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    y[clf_offset4(gid, shape, y_str, y_off)] =
        clf_act_apply(x[clf_offset4(gid, shape, x_str, x_off)], act);
}

/* y[..., j] = act(x[..., j])·x[..., n + j], n = shape.s3 (y's row length):
 * a gated linear unit's gate over x [..., 2n]; the act then one rounding. */
__kernel void rows_glu(__global const float *x, long x_off, long4 x_str, /* [..., 2n] */
                       __global float *y, long y_off, long4 y_str,       /* [..., n] */
                       long4 shape,                                      /* of y */
                       int act)
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long xa = clf_offset4(gid, shape, x_str, x_off); /* x's leading indices are y's */
    y[clf_offset4(gid, shape, y_str, y_off)] =
        clf_act_apply(x[xa], act) * x[xa + shape.s3 * x_str.s3];
}

/* ------------------------------------------------------------------------ */
/* Softmax over rows                                                       */
/* ------------------------------------------------------------------------ */
/*
 * m = max_j x_j; e_j = exp(x_j - m); s = sum_j e_j; y_j = e_j / s.
 * m makes every exponent <= 0, so nothing overflows for finite inputs and
 * s >= 1 (the maximum contributes exp(0)). -inf entries give 0. A row with
 * a NaN or +inf, or a row of only -inf (m = -inf, -inf - -inf = NaN), gives
 * a row of NaN, as PyTorch does. e_j is stored in y, then rescaled in place
 * (each y_j is written and re-read by the same work-item).
 */

__kernel void softmax_item(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                           __global float *y, long y_off, long4 y_str,       /* [..., N] */
                           long4 shape)                                      /* of x and y */
{
    long r = (long)get_global_id(0);
    if (r >= clf_rows4(shape))
        return;
    long n = shape.s3;
    long xb = rows_base(r, shape, x_str, x_off), xs = x_str.s3;
    long yb = rows_base(r, shape, y_str, y_off), ys = y_str.s3;
    float m = -INFINITY;
    for (long j = 0; j < n; j++)
        m = fmax(m, x[xb + j * xs]);
    float s = 0.0f;
    for (long j = 0; j < n; j++) {
        float e = exp(x[xb + j * xs] - m);
        y[yb + j * ys] = e;
        s += e;
    }
    for (long j = 0; j < n; j++)
        y[yb + j * ys] = y[yb + j * ys] / s;
}

__kernel void softmax_group(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                            __global float *y, long y_off, long4 y_str,       /* [..., N] */
                            long4 shape,                                      /* of x and y */
                            __local float *scratch)                           /* [ls] */
{
    long r = (long)get_group_id(0);
    long lid = (long)get_local_id(0), ls = (long)get_local_size(0);
    long n = shape.s3;
    long xb = rows_base(r, shape, x_str, x_off), xs = x_str.s3;
    long yb = rows_base(r, shape, y_str, y_off), ys = y_str.s3;
    float m = -INFINITY;
    for (long j = lid; j < n; j += ls)
        m = fmax(m, x[xb + j * xs]);
    m = clf_group_reduce(m, 1, scratch);
    float s = 0.0f;
    for (long j = lid; j < n; j += ls) {
        float e = exp(x[xb + j * xs] - m);
        y[yb + j * ys] = e;
        s += e;
    }
    s = clf_group_reduce(s, 0, scratch);
    for (long j = lid; j < n; j += ls)
        y[yb + j * ys] = y[yb + j * ys] / s;
}

/* ------------------------------------------------------------------------ */
/* LayerNorm over rows                                                     */
/* ------------------------------------------------------------------------ */
/*
 * Shifted two-pass: p = x_0 (the row's first element) is a pivot close to
 * the data, a_j = x_j - p (exact when x_j and p are within a factor of 2,
 * Sterbenz), so a large common mean never enters a rounded sum:
 *   d    = inv_n * sum_j a_j                 mean of the shifted row
 *   c_j  = a_j - d                           deviation from the mean
 *   var  = inv_n * sum_j c_j^2               variance of the deviations
 *   y_j  = fma(c_j * rsqrt(var + eps), g_j, b_j)
 * with g = 1 and b = 0 where gamma / beta are absent (has_gamma / has_beta
 * 0; their buffer arguments are then unused). inv_n = 1/N rounded on the
 * host. A constant row gives c = 0 and y = beta exactly.
 *
 * With a residual r (has_res 1; post-LN's LN(x + sublayer(x))), x_j is
 * replaced by t_j = fl(x_j + r_j), formed the same way at each of its
 * reads: the result is bitwise that of an elementwise add followed by the
 * layernorm, without writing and reading t.
 */

/* Element j of the row the layernorm normalises: x, or fl(x + r). */
#define LN_IN(j) (has_res ? x[xb + (j) * xs] + r[rb + (j) * rsd] : x[xb + (j) * xs])

__kernel void layernorm_item(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                             __global const float *g, long g_off, long4 g_str, /* [N] */
                             __global const float *b, long b_off, long4 b_str, /* [N] */
                             __global const float *r, long r_off, long4 r_str, /* [..., N] */
                             __global float *y, long y_off, long4 y_str,       /* [..., N] */
                             long4 shape,                                      /* of x and y */
                             float eps, float inv_n, int has_gamma, int has_beta,
                             int has_res)
{
    long row = (long)get_global_id(0);
    if (row >= clf_rows4(shape))
        return;
    long n = shape.s3;
    long xb = rows_base(row, shape, x_str, x_off), xs = x_str.s3;
    long yb = rows_base(row, shape, y_str, y_off), ys = y_str.s3;
    long rb = rows_base(row, shape, r_str, r_off), rsd = r_str.s3;
    float p = LN_IN(0);
    float sum = 0.0f;
    for (long j = 0; j < n; j++)
        sum += LN_IN(j) - p;
    float d = sum * inv_n;
    float sq = 0.0f;
    for (long j = 0; j < n; j++) {
        float c = (LN_IN(j) - p) - d;
        sq += c * c;
    }
    float rs = rsqrt(sq * inv_n + eps);
    for (long j = 0; j < n; j++) {
        float c = (LN_IN(j) - p) - d;
        float gj = has_gamma ? g[g_off + j * g_str.s3] : 1.0f;
        float bj = has_beta ? b[b_off + j * b_str.s3] : 0.0f;
        y[yb + j * ys] = fma(c * rs, gj, bj);
    }
}

__kernel void layernorm_group(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                              __global const float *g, long g_off, long4 g_str, /* [N] */
                              __global const float *b, long b_off, long4 b_str, /* [N] */
                              __global const float *r, long r_off, long4 r_str, /* [..., N] */
                              __global float *y, long y_off, long4 y_str,       /* [..., N] */
                              long4 shape,                                      /* of x and y */
                              float eps, float inv_n, int has_gamma, int has_beta,
                              int has_res,
                              __local float *scratch)                           /* [ls] */
{
    long row = (long)get_group_id(0);
    long lid = (long)get_local_id(0), ls = (long)get_local_size(0);
    long n = shape.s3;
    long xb = rows_base(row, shape, x_str, x_off), xs = x_str.s3;
    long yb = rows_base(row, shape, y_str, y_off), ys = y_str.s3;
    long rb = rows_base(row, shape, r_str, r_off), rsd = r_str.s3;
    float p = LN_IN(0);
    float sum = 0.0f;
    for (long j = lid; j < n; j += ls)
        sum += LN_IN(j) - p;
    float d = clf_group_reduce(sum, 0, scratch) * inv_n;
    float sq = 0.0f;
    for (long j = lid; j < n; j += ls) {
        float c = (LN_IN(j) - p) - d;
        sq += c * c;
    }
    float rs = rsqrt(clf_group_reduce(sq, 0, scratch) * inv_n + eps);
    for (long j = lid; j < n; j += ls) {
        float c = (LN_IN(j) - p) - d;
        float gj = has_gamma ? g[g_off + j * g_str.s3] : 1.0f;
        float bj = has_beta ? b[b_off + j * b_str.s3] : 0.0f;
        y[yb + j * ys] = fma(c * rs, gj, bj);
    }
}

/* ------------------------------------------------------------------------ */
/* Contiguous rows with explicit vectors (CPU devices)                     */
/* ------------------------------------------------------------------------ */
/*
 * *_vec: the *_item kernels for rows whose last dimension has stride 1 in
 * every tensor (x, y, and gamma / beta when present): one work-item per
 * row, the row in vectors of ROWS_VW floats (16 where the device prefers
 * 16-wide floats, else 8;
 * vloadn / vstoren at any element offset), the sums and maxima in vector
 * accumulators reduced at the end, then the n % ROWS_VW tail scalar. On
 * PoCL explicit vectors in one work-item beat the implicit vectorisation
 * across work-items, which turns a row loop into strided gathers. Same
 * formulas as *_item; only the order of the additions differs. The strides
 * .s3 arguments are ignored (taken as 1).
 */
#if CLF_VEC_FLOAT >= 16
#define ROWS_VW 16
#else
#define ROWS_VW 8
#endif
#define ROWS_CAT_(a, b) a##b
#define ROWS_CAT(a, b) ROWS_CAT_(a, b)
#define rows_vf ROWS_CAT(float, ROWS_VW)
#define rows_vload ROWS_CAT(vload, ROWS_VW)
#define rows_vstore ROWS_CAT(vstore, ROWS_VW)

#if ROWS_VW == 16
float rows_hsum(float16 v)
{
    float8 a = v.lo + v.hi;
    float4 b = a.lo + a.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}
float rows_hmax(float16 v)
{
    float8 a = fmax(v.lo, v.hi);
    float4 b = fmax(a.lo, a.hi);
    float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}
#elif ROWS_VW == 8
float rows_hsum(float8 v)
{
    float4 b = v.lo + v.hi;
    float2 c = b.lo + b.hi;
    return c.x + c.y;
}
float rows_hmax(float8 v)
{
    float4 b = fmax(v.lo, v.hi);
    float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}
#else
#error "ROWS_VW must be 8 or 16"
#endif

__kernel void softmax_vec(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                          __global float *y, long y_off, long4 y_str,       /* [..., N] */
                          long4 shape)                                      /* of x and y */
{
    long r = (long)get_global_id(0);
    if (r >= clf_rows4(shape))
        return;
    long n = shape.s3, nv = n - n % ROWS_VW;
    __global const float *xr = x + rows_base(r, shape, x_str, x_off);
    __global float *yr = y + rows_base(r, shape, y_str, y_off);
    rows_vf mv = (rows_vf)(-INFINITY);
    for (long j = 0; j < nv; j += ROWS_VW)
        mv = fmax(mv, rows_vload(0, xr + j));
    float m = rows_hmax(mv);
    for (long j = nv; j < n; j++)
        m = fmax(m, xr[j]);
    rows_vf sv = (rows_vf)(0.0f);
    for (long j = 0; j < nv; j += ROWS_VW) {
        rows_vf e = exp(rows_vload(0, xr + j) - m);
        rows_vstore(e, 0, yr + j);
        sv += e;
    }
    float s = rows_hsum(sv);
    for (long j = nv; j < n; j++) {
        float e = exp(xr[j] - m);
        yr[j] = e;
        s += e;
    }
    for (long j = 0; j < nv; j += ROWS_VW)
        rows_vstore(rows_vload(0, yr + j) / s, 0, yr + j);
    for (long j = nv; j < n; j++)
        yr[j] = yr[j] / s;
}

/* One contiguous row of layernorm_vec: yr = LN(xr (+ rr when has_res)),
 * xr and yr may be the same row (each element is read before it is
 * written). */
void layernorm_row_vec(__global const float *xr, __global const float *rr, int has_res,
                       __global const float *gr, __global const float *br,
                       __global float *yr, long n, float eps, float inv_n, int has_gamma,
                       int has_beta)
{
    long nv = n - n % ROWS_VW;
#define LN_INV(j) (has_res ? rows_vload(0, xr + (j)) + rows_vload(0, rr + (j)) : rows_vload(0, xr + (j)))
#define LN_INS(j) (has_res ? xr[j] + rr[j] : xr[j])
    float p = LN_INS(0);
    rows_vf av = (rows_vf)(0.0f);
    for (long j = 0; j < nv; j += ROWS_VW)
        av += LN_INV(j) - p;
    float sum = rows_hsum(av);
    for (long j = nv; j < n; j++)
        sum += LN_INS(j) - p;
    float d = sum * inv_n;
    rows_vf qv = (rows_vf)(0.0f);
    for (long j = 0; j < nv; j += ROWS_VW) {
        rows_vf c = (LN_INV(j) - p) - d;
        qv += c * c;
    }
    float sq = rows_hsum(qv);
    for (long j = nv; j < n; j++) {
        float c = (LN_INS(j) - p) - d;
        sq += c * c;
    }
    float rs = rsqrt(sq * inv_n + eps);
    for (long j = 0; j < nv; j += ROWS_VW) {
        rows_vf c = (LN_INV(j) - p) - d;
        rows_vf gj = has_gamma ? rows_vload(0, gr + j) : (rows_vf)(1.0f);
        rows_vf bj = has_beta ? rows_vload(0, br + j) : (rows_vf)(0.0f);
        rows_vstore(fma(c * rs, gj, bj), 0, yr + j);
    }
    for (long j = nv; j < n; j++) {
        float c = (LN_INS(j) - p) - d;
        float gj = has_gamma ? gr[j] : 1.0f;
        float bj = has_beta ? br[j] : 0.0f;
        yr[j] = fma(c * rs, gj, bj);
    }
#undef LN_INV
#undef LN_INS
}

__kernel void layernorm_vec(__global const float *x, long x_off, long4 x_str, /* [..., N] */
                            __global const float *g, long g_off, long4 g_str, /* [N] */
                            __global const float *b, long b_off, long4 b_str, /* [N] */
                            __global const float *r, long r_off, long4 r_str, /* [..., N] */
                            __global float *y, long y_off, long4 y_str,       /* [..., N] */
                            long4 shape,                                      /* of x and y */
                            float eps, float inv_n, int has_gamma, int has_beta,
                            int has_res)
{
    long row = (long)get_global_id(0);
    if (row >= clf_rows4(shape))
        return;
    layernorm_row_vec(x + rows_base(row, shape, x_str, x_off),
                      r + rows_base(row, shape, r_str, r_off), has_res, g + g_off, b + b_off,
                      y + rows_base(row, shape, y_str, y_off), shape.s3, eps, inv_n, has_gamma,
                      has_beta);
}

/* ------------------------------------------------------------------------ */
/* Embedding gather                                                        */
/* ------------------------------------------------------------------------ */
/*
 * y[i..., k] = table[ids[i...], k]; one work-item per output element,
 * global = numel(y). The host checks every id against vocab before the
 * launch; the clamp to [0, vocab - 1] only makes a wild read impossible if
 * a bad id slips through.
 */
__kernel void embedding_gather(__global const float *t, long t_off, long4 t_str, /* [V, D] */
                               __global const int *ids, long i_off, long4 i_str, /* [ids...] */
                               __global float *y, long y_off, long4 y_str,       /* [ids..., D] */
                               long4 shape,     /* of y, padded: [1 or ids..., D] */
                               long4 ids_shape, /* of ids, padded */
                               long vocab)      /* V */
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    long k = gid % shape.s3;
    long row = gid / shape.s3;
    long id = (long)ids[clf_offset4(row, ids_shape, i_str, i_off)];
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    y[clf_offset4(gid, shape, y_str, y_off)] = t[t_off + id * t_str.s2 + k * t_str.s3];
}

/*
 * embedding_gather with one work-item per output row, for a table whose
 * rows are contiguous (t_rs apart) and a dense output y [ids..., D]: the
 * row copied by vectors (the ragged batches gather whole hidden states
 * with it: per element, the index arithmetic cost more than the copy).
 */
__kernel void embedding_rows(__global const float *t, long t_off, long t_rs, /* [V, D] */
                             __global const int *ids, long i_off, long4 i_str, /* [ids...] */
                             long4 ids_shape, __global float *y, long y_off,   /* [ids..., D] */
                             long rows, long D, long vocab)
{
    long row = (long)get_global_id(0);
    if (row >= rows)
        return;
    long id = (long)ids[clf_offset4(row, ids_shape, i_str, i_off)];
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    __global const float *src = t + t_off + id * t_rs;
    __global float *dst = y + y_off + row * D;
    long j = 0;
    for (; j + ROWS_VW <= D; j += ROWS_VW)
        rows_vstore(rows_vload(0, src + j), 0, dst + j);
    for (; j < D; j++)
        dst[j] = src[j];
}

/*
 * A BERT-style embedding layer in one pass, one work-item per token row:
 *   s = fl(fl(word[ids[b, t], :] + type[:]) + pos[t, :])     (no type: word + pos)
 *   y[b, t, :] = LN(s) with gamma, beta                      (layernorm_row_vec)
 * s is rounded as clf_op_embedding, clf_op_bias_add and clf_op_posenc_add
 * round it, written to y's row and normalised there in place, so y is
 * bitwise the four ops' result with layernorm_vec. Every tensor is
 * contiguous in its rows (the host checks); ids [B, S] padded to 4-D (the
 * batch stride in .s2), word [V, D] and pos [P >= S, D] by their row
 * stride .s2, y [B, S, D] (shape padded: [1, B, S, D]). The host checks
 * the ids; the clamp to [0, vocab - 1] only makes a wild read impossible.
 */
__kernel void embedding_ln(__global const float *word, long w_off, long4 w_str, /* [V, D] */
                           __global const int *ids, long i_off, long4 i_str,    /* [B, S] */
                           __global const float *pos, long p_off, long4 p_str,  /* [P, D] */
                           __global const float *type, long t_off, long4 t_str, /* [D] */
                           __global const float *g, long g_off, long4 g_str,    /* [D] */
                           __global const float *b, long b_off, long4 b_str,    /* [D] */
                           __global float *y, long y_off, long4 y_str,          /* [B, S, D] */
                           long4 shape,                                         /* of y */
                           long vocab, int has_type, float eps, float inv_n)
{
    long row = (long)get_global_id(0);
    if (row >= clf_rows4(shape))
        return;
    long seq = shape.s2, bi = row / seq, t = row % seq, n = shape.s3;
    long id = (long)ids[i_off + bi * i_str.s2 + t * i_str.s3];
    id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
    __global const float *wr = word + w_off + id * w_str.s2, *pr = pos + p_off + t * p_str.s2;
    __global const float *tr = type + t_off;
    __global float *yr = y + rows_base(row, shape, y_str, y_off);
    long nv = n - n % ROWS_VW;
    for (long j = 0; j < nv; j += ROWS_VW) {
        rows_vf e = rows_vload(0, wr + j);
        if (has_type)
            e += rows_vload(0, tr + j);
        rows_vstore(e + rows_vload(0, pr + j), 0, yr + j);
    }
    for (long j = nv; j < n; j++)
        yr[j] = (has_type ? wr[j] + tr[j] : wr[j]) + pr[j];
    layernorm_row_vec(yr, yr, 0, g + g_off, b + b_off, yr, n, eps, inv_n, 1, 1);
}
