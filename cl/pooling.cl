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

/*
 * Sentence embeddings as sentence-transformers makes them, Pooling (mode
 * mean) then Normalize, one work-item per text b:
 *   p[b, j] = (Σ_t m[b,t]·h[b,t,j]) / max(Σ_t m[b,t], 1e-9),  m = (float)mask
 * the sums in f32 in order t = 0..seq-1 (seq + 1 roundings; m is 0 or 1,
 * so each product is exact), written to y's row; then torch's
 * normalize(p = 2, eps = 1e-12): y[b, :] = p[b, :] / max(sqrt(Σ_j p_j²),
 * 1e-12) in place. A text with no token gets 0 / 1e-9 = 0, and zeros stay
 * zeros. The rows are short (d_model), so one work-item per text does all.
 */
__kernel void pool_mean_normalize(__global const float *h, long h_off, long4 h_str,  /* [B, S, D] */
                                  __global const int *mask, long m_off, long4 m_str, /* [B, S] */
                                  __global float *y, long y_off, long4 y_str,        /* [B, D] */
                                  long4 shape,                                       /* of y */
                                  long seq)                                          /* S */
{
    long b = (long)get_global_id(0), n = shape.s3;
    if (b >= clf_rows4(shape))
        return;
    long mb = m_off + b * m_str.s2, yb = y_off + b * y_str.s2;
    float ss = 0.0f;
    for (long j = 0; j < n; j++) {
        long hb = h_off + b * h_str.s1 + j * h_str.s3;
        float s = 0.0f, cnt = 0.0f;
        for (long t = 0; t < seq; t++) {
            float m = (float)mask[mb + t * m_str.s3];
            s += m * h[hb + t * h_str.s2];
            cnt += m;
        }
        float v = s / fmax(cnt, 1e-9f);
        y[yb + j * y_str.s3] = v;
        ss += v * v;
    }
    float den = fmax(sqrt(ss), 1e-12f);
    for (long j = 0; j < n; j++)
        y[yb + j * y_str.s3] = y[yb + j * y_str.s3] / den;
}
