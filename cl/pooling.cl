/*
 * Sentence pooling and mask helpers (host side: lib/ops/pooling.c).
 *
 * Tensor arguments follow common.cl: (buffer, element offset, long4
 * strides), shapes padded in front to 4-D, so a [batch, seq, d] tensor has
 * its batch stride in .s1, a [batch, seq] or [batch, d] one in .s2.
 */

/* kp[b, t] = (mask[b, t] == 0): the encoder's key padding (nonzero =
 * padded) from an attention mask (1 = token). One work-item per element. */
__kernel void pool_key_padding(__global const int *mask, long m_off, long4 m_str, /* [B, S] */
                               __global int *kp, long k_off, long4 k_str,         /* [B, S] */
                               long4 shape)                                       /* of both */
{
    long gid = (long)get_global_id(0);
    if (gid >= clf_numel4(shape))
        return;
    kp[clf_offset4(gid, shape, k_str, k_off)] =
        mask[clf_offset4(gid, shape, m_str, m_off)] == 0 ? 1 : 0;
}

/* Pooling modes: the bits of enum clf_pooling (include/clformer/ops.h). */
#define POOL_CLS 1
#define POOL_MAX 2
#define POOL_MEAN 4
#define POOL_MEAN_SQRT_LEN 8
#define POOL_WEIGHTED_MEAN 16
#define POOL_LAST_TOKEN 32

/* Column j (< d) of mode `mode`'s vector of text b, as sentence-transformers'
 * Pooling computes it (m_t = (float)mask[b, t]; sums in f32, t = 0..seq-1):
 *   CLS          h[0, j]
 *   MAX          max_t (m_t != 0 ? h[t, j] : -1e9)
 *   MEAN         Σ m_t·h[t, j] / max(cnt, 1e-9),        cnt = Σ m_t
 *   MEAN_SQRT    Σ m_t·h[t, j] / sqrt(max(cnt, 1e-9))
 *   WEIGHTED     Σ (m_t·(t+1))·h[t, j] / max(wsum, 1e-9), wsum = Σ m_t·(t+1)
 *   LAST_TOKEN   m_l·h[l, j], l = (first t with m_t == 0) - 1, or seq - 1
 *                when there is none, at least 0
 * hb: h's element (b, 0, j); ht: its token stride; mb, mt: the mask's. */
float pool_column(__global const float *h, long hb, long ht, __global const int *mask, long mb,
                  long mt, long seq, int mode, float cnt, float wsum, long last)
{
    if (mode == POOL_CLS)
        return h[hb];
    if (mode == POOL_LAST_TOKEN)
        return (float)mask[mb + last * mt] * h[hb + last * ht];
    if (mode == POOL_MAX) {
        float v = -INFINITY;
        for (long t = 0; t < seq; t++) {
            float x = mask[mb + t * mt] != 0 ? h[hb + t * ht] : -1e9f;
            if (isnan(x) || x > v) /* torch.max keeps a NaN; fmax would drop it */
                v = x;
        }
        return v;
    }
    float s = 0.0f;
    for (long t = 0; t < seq; t++) {
        float m = (float)mask[mb + t * mt];
        if (mode == POOL_WEIGHTED_MEAN)
            m *= (float)(t + 1);
        s += m * h[hb + t * ht];
    }
    if (mode == POOL_WEIGHTED_MEAN)
        return s / fmax(wsum, 1e-9f);
    if (mode == POOL_MEAN_SQRT_LEN)
        return s / sqrt(fmax(cnt, 1e-9f));
    return s / fmax(cnt, 1e-9f);
}

/*
 * Sentence embeddings as sentence-transformers makes them: Pooling (the
 * modes' vectors of d columns each, concatenated in the bit order CLS,
 * MAX, MEAN, MEAN_SQRT_LEN, WEIGHTED_MEAN, LAST_TOKEN, as its Pooling
 * concatenates them), the first n = shape.s3 columns kept (Matryoshka
 * truncation; n = modes·d keeps all), then with normalize torch's
 * normalize(p = 2, eps = 1e-12) over the kept columns:
 *   y[b, :] = p[b, :n] / max(sqrt(Σ_j p_j²), 1e-12), in place.
 * One work-item per text b (the rows are short). A text with no token:
 * MEAN, MEAN_SQRT_LEN and WEIGHTED_MEAN give 0 / 1e-9 = 0, LAST_TOKEN 0,
 * MAX -1e9, CLS its first row anyway. A NaN among the tokens pooled
 * propagates, as in torch.
 */
__kernel void pool_sentence(__global const float *h, long h_off, long4 h_str,  /* [B, S, D] */
                            __global const int *mask, long m_off, long4 m_str, /* [B, S] */
                            __global float *y, long y_off, long4 y_str,        /* [B, n] */
                            long4 shape,                                       /* of y */
                            long seq, long d, int modes, int normalize)        /* S, D */
{
    long b = (long)get_global_id(0), n = shape.s3;
    if (b >= clf_rows4(shape))
        return;
    long mb = m_off + b * m_str.s2, yb = y_off + b * y_str.s2, mt = m_str.s3;
    float cnt = 0.0f, wsum = 0.0f;
    long zero = seq; /* the first token with m_t == 0 */
    for (long t = 0; t < seq; t++) {
        float m = (float)mask[mb + t * mt];
        cnt += m;
        wsum += m * (float)(t + 1);
        if (m == 0.0f && zero == seq)
            zero = t;
    }
    long last = max(zero - 1, 0L);
    float ss = 0.0f;
    long col = 0;
    for (int mode = POOL_CLS; mode <= POOL_LAST_TOKEN && col < n; mode <<= 1) {
        if (!(modes & mode))
            continue;
        for (long j = 0; j < d && col < n; j++, col++) {
            long hb = h_off + b * h_str.s1 + j * h_str.s3;
            float v = pool_column(h, hb, h_str.s2, mask, mb, mt, seq, mode, cnt, wsum, last);
            y[yb + col * y_str.s3] = v;
            ss += v * v;
        }
    }
    if (!normalize)
        return;
    float den = fmax(sqrt(ss), 1e-12f);
    for (long j = 0; j < n; j++)
        y[yb + j * y_str.s3] = y[yb + j * y_str.s3] / den;
}

/*
 * The last step of a sentence embedding after Dense layers: the first
 * n = shape.s3 columns of x kept (Matryoshka truncation), then with
 * normalize L2 normalisation as pool_sentence's:
 *   y[b, :] = x[b, :n] / max(sqrt(Σ_j x[b, j]²), 1e-12).
 * One work-item per row b.
 */
__kernel void rows_truncate_normalize(__global const float *x, long x_off, long4 x_str, /* [B, N] */
                                      __global float *y, long y_off, long4 y_str,       /* [B, n] */
                                      long4 shape,                                      /* of y */
                                      int normalize)
{
    long b = (long)get_global_id(0), n = shape.s3;
    if (b >= clf_rows4(shape))
        return;
    long xb = x_off + b * x_str.s2, yb = y_off + b * y_str.s2;
    float ss = 0.0f;
    for (long j = 0; j < n; j++) {
        float v = x[xb + j * x_str.s3];
        ss += v * v;
    }
    float den = normalize ? fmax(sqrt(ss), 1e-12f) : 1.0f;
    for (long j = 0; j < n; j++)
        y[yb + j * y_str.s3] = normalize ? x[xb + j * x_str.s3] / den : x[xb + j * x_str.s3];
}
