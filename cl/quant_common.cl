/*
 * Exact rounding helpers shared by the quantisation kernels (included by
 * quant.cl, actq.cl; include-only: never built on its own).
 *
 * OpenCL C allows a single-precision division to be off by 2.5 ulp, so
 * rint(x / s) could differ between drivers, and from a host reference,
 * where x/s lies near a half-integer. These helpers compute the decisions
 * from fma residuals instead, which are exact:
 *
 *   q_rne_div(x, s)  rne(x/s) of the exact quotient (nearest integer, ties
 *                    to even), for finite x and finite s > 0, as a float.
 *                    With n0 = rint(approx x/s), r = fma(−n0, s, x) = x − n0·s
 *                    is exact: x and n0·s are multiples of ulp(s)/2 (or x is
 *                    exact when n0 = 0) and |r| <= s·(½ + tiny) < 2^24 such
 *                    units. Then n = n0 ± 1 when |r| > s/2, and at |r| = s/2
 *                    (a true tie) the even one of n0 and n0 ± sign(r).
 *                    Quotients beyond 2^23 are integers already.
 *   q_div_rn(a, b)   a/b correctly rounded to fp32 (round to nearest even),
 *                    for finite a >= 0, b > 0 with a/b normal: the
 *                    approximate quotient c is moved by ulps until the exact
 *                    residual a − c·b (fma) is within half an ulp of c·b.
 *   q_lg(y)          log2(y) rounded in the log domain for finite y > 0:
 *                    y = m·2^k with m in [0.5, 1) (frexp, exact); k when
 *                    m >= 0x1.6a09e6p-1f (√½ rounded to fp32), else k − 1.
 */
#ifndef CLF_QUANT_COMMON_CL
#define CLF_QUANT_COMMON_CL

inline float q_rne_div(float x, float s)
{
    float t = x / s;
    if (fabs(t) >= 8388608.0f) /* 2^23: an integer, or beyond every clamp */
        return t;
    float n0 = rint(t);
    float r = fma(-n0, s, x); /* exact */
    float hs = 0.5f * s; /* half a step */
    if (r > hs)
        return n0 + 1.0f;
    if (r < -hs)
        return n0 - 1.0f;
    if (r == hs || r == -hs) { /* a true tie: the even neighbour */
        float other = n0 + (r > 0.0f ? 1.0f : -1.0f);
        return fmod(n0, 2.0f) == 0.0f ? n0 : other;
    }
    return n0;
}

/*
 * Defines `inline T name(T x, T s)`: q_rne_div lane by lane for a float
 * vector type T whose comparisons give TI (the same operations, selects
 * for the branches), for finite x and s > 0 per lane (other lanes: don't
 * care).
 */
#define Q_RNE_DIV_VEC(T, TI, name)                                                             \
    inline T name(T x, T s)                                                                   \
    {                                                                                         \
        T t = x / s;                                                                          \
        T n0 = rint(t);                                                                       \
        T r = fma(-n0, s, x); /* exact, as in q_rne_div */                                    \
        T hs = 0.5f * s;                                                                      \
        T n = select(n0, n0 + 1.0f, r > hs);                                                  \
        n = select(n, n0 - 1.0f, r < -hs);                                                    \
        TI tie = r == hs || r == -hs;                                                         \
        if (any(tie)) { /* a true tie: the even neighbour */                                  \
            T other = n0 + select((T)(-1.0f), (T)(1.0f), r > 0.0f);                           \
            n = select(n, select(other, n0, fmod(n0, (T)(2.0f)) == (T)(0.0f)), tie);          \
        }                                                                                     \
        return select(n, t, fabs(t) >= (T)(8388608.0f)); /* 2^23, as q_rne_div */             \
    }

inline float q_div_rn(float a, float b)
{
    float c = a / b;
    /* at most a few ulps away: step towards the exact quotient */
    for (int i = 0; i < 4; i++) {
        float r = fma(-c, b, a); /* a − c·b, exact for c within a few ulps */
        float up = nextafter(c, INFINITY), dn = nextafter(c, 0.0f);
        float ru = fma(-up, b, a), rd = fma(-dn, b, a);
        float ar = fabs(r), au = fabs(ru), ad = fabs(rd);
        if (au < ar || (au == ar && (as_uint(up) & 1u) == 0u && (as_uint(c) & 1u)))
            c = up;
        else if (ad < ar || (ad == ar && (as_uint(dn) & 1u) == 0u && (as_uint(c) & 1u)))
            c = dn;
        else
            break;
    }
    return c;
}

inline int q_lg(float y)
{
    int k;
    float m = frexp(y, &k);
    return m >= 0x1.6a09e6p-1f ? k : k - 1;
}

#endif
