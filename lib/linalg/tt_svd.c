/*
 * Tensor-Train matrices on the host (see tt_svd.h): balanced modes, TT-SVD
 * (Oseledets 2011, Algorithm 1) and reconstruction.
 *
 * Index conventions. W [M, N] row-major; i = (i_0..i_{d-1}) over m,
 * j = (j_0..j_{d-1}) over n, most significant first. The permuted tensor
 * T has merged modes s_k = m_k·n_k with index q_k = i_k·n_k + j_k, stored
 * row-major over (q_0, ..., q_{d-1}):
 *   T[q] at Σ_k q_k·S_k,  S_k = Π_{u>k} s_u.
 * A chain of cores contracted over the ranks, G_0 ·· G_{d-1} with G_k read
 * as [r_k, s_k, r_{k+1}], is exactly T in this layout, so TT-SVD and the
 * reconstruction work on T and only the first / last step permutes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tt_svd.h"
#include "rsvd.h"
#include "svd.h"
#include "ctx.h"

enum clf_status clf_tt_modes(int64_t x, int d, int64_t *modes)
{
    if (!modes || d < 1 || d > CLF_TT_MAX_D || x < 1)
        return CLF_E_INVALID_ARG;
    for (int k = 0; k < d; k++)
        modes[k] = 1;
    /* prime factors, smallest first (trial division), then placed largest
     * first into the currently smallest factor */
    int64_t primes[64];
    int np = 0;
    int64_t rest = x;
    for (int64_t p = 2; p <= rest / p; p++)
        while (rest % p == 0) {
            primes[np++] = p;
            rest /= p;
        }
    if (rest > 1)
        primes[np++] = rest;
    for (int f = np - 1; f >= 0; f--) {
        int small = 0;
        for (int k = 1; k < d; k++)
            if (modes[k] < modes[small])
                small = k;
        modes[small] *= primes[f];
    }
    for (int a = 1; a < d; a++) /* insertion sort, ascending */
        for (int b = a; b > 0 && modes[b - 1] > modes[b]; b--) {
            int64_t t = modes[b];
            modes[b] = modes[b - 1];
            modes[b - 1] = t;
        }
    return CLF_OK;
}

/* Largest number of elements we handle in one host array. */
#define TT_MAX_ELEMS ((int64_t)1 << 40)

enum clf_status clf_tt_check(struct clf_ctx *ctx, const struct clf_tt *tt)
{
    if (!tt)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "TT: NULL tensor train");
    if (tt->d < 1 || tt->d > CLF_TT_MAX_D)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "TT: d = %d outside 1..%d", tt->d, CLF_TT_MAX_D);
    if (tt->r[0] != 1 || tt->r[tt->d] != 1)
        return clf_fail(ctx, CLF_E_SHAPE, "TT: boundary ranks r_0 = %lld, r_d = %lld (must be 1)",
                        (long long)tt->r[0], (long long)tt->r[tt->d]);
    int64_t M = 1, N = 1;
    for (int k = 0; k < tt->d; k++) {
        if (tt->m[k] < 1 || tt->n[k] < 1 || tt->r[k + 1] < 1 || tt->m[k] > TT_MAX_ELEMS ||
            tt->n[k] > TT_MAX_ELEMS || tt->r[k + 1] > TT_MAX_ELEMS)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "TT: core %d has modes %lld x %lld, rank %lld (each must be >= 1)", k,
                            (long long)tt->m[k], (long long)tt->n[k], (long long)tt->r[k + 1]);
        if (!tt->cores[k])
            return clf_fail(ctx, CLF_E_INVALID_ARG, "TT: core %d is NULL", k);
        M *= tt->m[k];
        N *= tt->n[k];
        if (M > TT_MAX_ELEMS || N > TT_MAX_ELEMS || (double)M * (double)N > (double)TT_MAX_ELEMS ||
            (double)tt->r[k] * (double)tt->m[k] * (double)tt->n[k] * (double)tt->r[k + 1] >
                (double)TT_MAX_ELEMS)
            return clf_fail(ctx, CLF_E_SHAPE, "TT: too large");
    }
    return CLF_OK;
}

int64_t clf_tt_params(const struct clf_tt *tt)
{
    int64_t p = 0;
    for (int k = 0; tt && k < tt->d && k < CLF_TT_MAX_D; k++)
        p += tt->r[k] * tt->m[k] * tt->n[k] * tt->r[k + 1];
    return p;
}

double clf_tt_flops_order(const struct clf_tt *tt, bool rtl)
{
    double f = 0;
    for (int k = 0; tt && k < tt->d && k < CLF_TT_MAX_D; k++) {
        /* (Π_{u<k} m_u)·(Π_{u>k} n_u) left to right, (Π_{u<k} n_u)·(Π_{u>k} m_u)
         * right to left */
        double rows = 1, cols = 1;
        for (int u = 0; u < k; u++)
            rows *= (double)(rtl ? tt->n[u] : tt->m[u]);
        for (int u = k + 1; u < tt->d; u++)
            cols *= (double)(rtl ? tt->m[u] : tt->n[u]);
        f += 2.0 * (double)tt->r[k] * (double)tt->n[k] * (double)tt->m[k] *
             (double)tt->r[k + 1] * rows * cols;
    }
    return f;
}

bool clf_tt_order_rtl(const struct clf_tt *tt)
{
    return clf_tt_flops_order(tt, true) < clf_tt_flops_order(tt, false);
}

double clf_tt_flops_per_token(const struct clf_tt *tt)
{
    return clf_tt_flops_order(tt, clf_tt_order_rtl(tt));
}

void clf_tt_free(struct clf_tt *tt)
{
    if (!tt)
        return;
    for (int k = 0; k < CLF_TT_MAX_D; k++)
        free(tt->cores[k]);
    memset(tt, 0, sizeof *tt);
}

/*
 * Offsets of the permutation W [M, N] <-> T: element W[i, j] is T at
 * row_off[i] + col_off[j], with row_off[i] = Σ_k i_k·n_k·S_k and
 * col_off[j] = Σ_k j_k·S_k (S_k as at the top of the file). Arrays malloc'd.
 */
static enum clf_status perm_offsets(struct clf_ctx *ctx, int d, const int64_t *m,
                                    const int64_t *n, int64_t M, int64_t N, int64_t **row_off,
                                    int64_t **col_off)
{
    int64_t S[CLF_TT_MAX_D];
    S[d - 1] = 1;
    for (int k = d - 2; k >= 0; k--)
        S[k] = S[k + 1] * m[k + 1] * n[k + 1];
    *row_off = malloc((size_t)M * sizeof **row_off);
    *col_off = malloc((size_t)N * sizeof **col_off);
    if (!*row_off || !*col_off) {
        free(*row_off);
        free(*col_off);
        *row_off = *col_off = NULL;
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT: no host memory for %lld + %lld offsets",
                        (long long)M, (long long)N);
    }
    for (int64_t i = 0; i < M; i++) {
        int64_t rest = i, off = 0;
        for (int k = d - 1; k >= 0; k--) {
            off += (rest % m[k]) * n[k] * S[k];
            rest /= m[k];
        }
        (*row_off)[i] = off;
    }
    for (int64_t j = 0; j < N; j++) {
        int64_t rest = j, off = 0;
        for (int k = d - 1; k >= 0; k--) {
            off += (rest % n[k]) * S[k];
            rest /= n[k];
        }
        (*col_off)[j] = off;
    }
    return CLF_OK;
}

enum clf_status clf_tt_to_dense(const struct clf_tt *tt, double *w)
{
    if (!w || clf_tt_check(NULL, tt) != CLF_OK)
        return CLF_E_INVALID_ARG;
    const int d = tt->d;
    int64_t M = 1, N = 1;
    for (int k = 0; k < d; k++) {
        M *= tt->m[k];
        N *= tt->n[k];
    }
    /* P_k [Π_{u<=k} s_u, r_{k+1}] = P_{k-1} · G_k, G_k read as
     * [r_k, s_k·r_{k+1}]; P_0 = G_0. TT-SVD's ranks keep every P_k within
     * M·N elements, but a TT from elsewhere may have larger ranks: their
     * sizes are checked (CLF_E_SHAPE past TT_MAX_ELEMS). */
    int64_t rows = tt->m[0] * tt->n[0];
    double *p = malloc((size_t)(rows * tt->r[1]) * sizeof *p), *q = NULL;
    int64_t *row_off = NULL, *col_off = NULL;
    enum clf_status st = CLF_OK;
    if (!p) {
        st = CLF_E_OUT_OF_MEMORY;
        goto out;
    }
    memcpy(p, tt->cores[0], (size_t)(rows * tt->r[1]) * sizeof *p);
    for (int k = 1; k < d; k++) {
        const int64_t a = tt->r[k], s = tt->m[k] * tt->n[k], b = tt->r[k + 1];
        if ((double)rows * (double)s * (double)b > (double)TT_MAX_ELEMS) {
            st = CLF_E_SHAPE;
            goto out;
        }
        q = calloc((size_t)(rows * s * b), sizeof *q);
        if (!q) {
            st = CLF_E_OUT_OF_MEMORY;
            goto out;
        }
        const double *g = tt->cores[k]; /* [a, s·b] */
        for (int64_t i = 0; i < rows; i++) {
            double *qi = q + i * s * b; /* row i of Q [rows, s·b] = [rows·s, b] */
            for (int64_t c = 0; c < a; c++) {
                const double pic = p[i * a + c];
                const double *gc = g + c * s * b;
                for (int64_t t = 0; t < s * b; t++)
                    qi[t] += pic * gc[t];
            }
        }
        free(p);
        p = q;
        q = NULL;
        rows *= s;
    }
    /* p is T [M·N] (r_d = 1): un-permute */
    st = perm_offsets(NULL, d, tt->m, tt->n, M, N, &row_off, &col_off);
    if (st != CLF_OK)
        goto out;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            w[i * N + j] = p[row_off[i] + col_off[j]];
out:
    free(p);
    free(q);
    free(row_off);
    free(col_off);
    return st;
}

/* Smallest r in [1, k] with sqrt(Σ_{j >= r} s_j²) <= delta (s non-increasing),
 * summed smallest first and scaled by s_0; k when delta <= 0. */
static int64_t rank_for_tail(const double *s, int64_t k, double delta)
{
    if (delta <= 0 || s[0] == 0)
        return delta <= 0 && s[0] != 0 ? k : 1;
    const double scale = s[0], lim = (delta / scale) * (delta / scale);
    double tail = 0;
    int64_t r = k;
    for (int64_t j = k - 1; j >= 1; j--) { /* can s_j join the discarded tail? */
        double x = s[j] / scale;
        if (tail + x * x > lim)
            break;
        tail += x * x;
        r = j;
    }
    return r;
}

enum clf_status clf_tt_svd(struct clf_ctx *ctx, const double *w, int64_t M, int64_t N, int d,
                           const int64_t *m, const int64_t *n, int64_t r_max, double eps,
                           struct clf_tt *out, double *rel_error)
{
    if (!w || !m || !n || !out)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "TT-SVD: NULL argument");
    if (d < 1 || d > CLF_TT_MAX_D)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "TT-SVD: d = %d outside 1..%d", d, CLF_TT_MAX_D);
    if (!(eps >= 0) || !isfinite(eps) || r_max < 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "TT-SVD: eps = %g, r_max = %lld (need eps >= 0 "
                        "finite, r_max >= 0)", eps, (long long)r_max);
    if (M < 1 || N < 1 || M > TT_MAX_ELEMS || N > TT_MAX_ELEMS ||
        (double)M * (double)N > (double)TT_MAX_ELEMS)
        return clf_fail(ctx, CLF_E_SHAPE, "TT-SVD: W is %lld x %lld", (long long)M, (long long)N);
    int64_t pm = 1, pn = 1;
    for (int k = 0; k < d; k++) {
        if (m[k] < 1 || n[k] < 1 || m[k] > M || n[k] > N)
            return clf_fail(ctx, CLF_E_SHAPE, "TT-SVD: mode %d is %lld x %lld", k,
                            (long long)m[k], (long long)n[k]);
        pm *= m[k];
        pn *= n[k];
        if (pm > M || pn > N)
            break;
    }
    if (pm != M || pn != N)
        return clf_fail(ctx, CLF_E_SHAPE,
                        "TT-SVD: the modes' products do not match W [%lld, %lld]", (long long)M,
                        (long long)N);

    memset(out, 0, sizeof *out);
    out->d = d;
    out->r[0] = out->r[d] = 1;
    for (int k = 0; k < d; k++) {
        out->m[k] = m[k];
        out->n[k] = n[k];
    }
    const int64_t total = M * N;
    int64_t *row_off = NULL, *col_off = NULL;
    double *c = malloc((size_t)total * sizeof *c); /* the unfolding carried on */
    double *u = NULL, *s = NULL, *vt = NULL;
    enum clf_status st = CLF_OK;
    if (!c) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT-SVD: no host memory for W");
        goto fail;
    }
    st = perm_offsets(ctx, d, m, n, M, N, &row_off, &col_off);
    if (st != CLF_OK)
        goto fail;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            c[row_off[i] + col_off[j]] = w[i * N + j];
    const double norm = clf_frobenius_norm(w, M, N);
    const double delta = d > 1 ? eps * norm / sqrt((double)(d - 1)) : 0;

    int64_t rest = total; /* elements of the carried unfolding: r_k · Π_{u>=k} s_u */
    for (int k = 0; k < d - 1; k++) {
        const int64_t rows = out->r[k] * m[k] * n[k], cols = rest / rows;
        const int64_t kk = rows < cols ? rows : cols;
        u = malloc((size_t)(rows * kk) * sizeof *u);
        s = malloc((size_t)kk * sizeof *s);
        vt = malloc((size_t)(kk * cols) * sizeof *vt);
        if (!u || !s || !vt) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT-SVD: no host memory for an SVD");
            goto fail;
        }
        st = clf_svd(ctx, c, rows, cols, u, s, vt);
        if (st != CLF_OK)
            goto fail;
        int64_t r = eps > 0 ? rank_for_tail(s, kk, delta) : kk;
        if (r_max > 0 && r > r_max)
            r = r_max;
        out->r[k + 1] = r;
        /* core k = U[:, :r] as [r_k, m_k, n_k, r] (rows of U are (r_k, s_k)) */
        double *g = malloc((size_t)(rows * r) * sizeof *g);
        if (!g) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT-SVD: no host memory for core %d", k);
            goto fail;
        }
        for (int64_t i = 0; i < rows; i++)
            memcpy(g + i * r, u + i * kk, (size_t)r * sizeof *g);
        out->cores[k] = g;
        /* carry on with diag(s_r) · Vt_r [r, cols], a prefix of c */
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < cols; j++)
                c[i * cols + j] = s[i] * vt[i * cols + j];
        rest = r * cols;
        free(u);
        free(s);
        free(vt);
        u = s = vt = NULL;
    }
    /* the last core is what remains: [r_{d-1}, m·n, 1] */
    out->cores[d - 1] = malloc((size_t)rest * sizeof(double));
    if (!out->cores[d - 1]) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "TT-SVD: no host memory for the last core");
        goto fail;
    }
    memcpy(out->cores[d - 1], c, (size_t)rest * sizeof(double));

    if (rel_error) {
        /* reconstruct and measure (c is free now: reuse it for W_TT) */
        st = clf_tt_to_dense(out, c);
        if (st != CLF_OK) {
            st = clf_fail(ctx, st, "TT-SVD: reconstructing W_TT failed");
            goto fail;
        }
        for (int64_t i = 0; i < total; i++)
            c[i] = w[i] - c[i];
        *rel_error = norm > 0 ? clf_frobenius_norm(c, M, N) / norm : 0;
    }
    free(c);
    free(row_off);
    free(col_off);
    return CLF_OK;
fail:
    free(c);
    free(u);
    free(s);
    free(vt);
    free(row_off);
    free(col_off);
    clf_tt_free(out);
    return st;
}
