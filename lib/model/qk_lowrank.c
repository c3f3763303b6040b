/* Low-rank score forms for SVD attention (see qk_lowrank.h). */
#include "qk_lowrank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../linalg/rsvd.h"
#include "../linalg/svd.h"
#include "../runtime/ctx.h"

int64_t clf_qk_lowrank_rank(const struct clf_attention_variant *v, int64_t head_dim)
{
    return v->rank < head_dim ? v->rank : head_dim;
}

/* m [n, n] = Ãᵀ B̃ for head h, n = d + 1: Ã's column i < d is row block
 * qrow + h·hd of in_w at column i, column d the bias (likewise B̃). */
static void score_form(const float *in_w, const float *in_b, int64_t d, int64_t hd,
                       int64_t qrow, int64_t krow, double *m)
{
    const int64_t n = d + 1;
    memset(m, 0, (size_t)(n * n) * sizeof *m);
    for (int64_t e = 0; e < hd; e++) {
        const float *a = in_w + (qrow + e) * d, *b = in_w + (krow + e) * d;
        const double ab = in_b[qrow + e], bb = in_b[krow + e];
        for (int64_t i = 0; i < n; i++) {
            double ai = i < d ? (double)a[i] : ab;
            double *row = m + i * n;
            for (int64_t j = 0; j < d; j++)
                row[j] += ai * (double)b[j];
            row[d] += ai * bb;
        }
    }
}

enum clf_status clf_qk_lowrank(struct clf_ctx *ctx, const float *in_w, const float *in_b,
                               int64_t d, int64_t heads, const struct clf_attention_variant *v,
                               float *out_w, float *out_b, double *err)
{
    if (!in_w || !in_b || !v || !out_w || !out_b || d < 1 || heads < 1 || d % heads)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "SVD attention: bad arguments");
    if (v->sparsity != CLF_ATTN_SVD || v->rank < 1)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "SVD attention: not an SVD variant of rank >= 1");
    const int64_t hd = d / heads, n = d + 1, r = clf_qk_lowrank_rank(v, hd);
    double *m = malloc((size_t)(n * n) * sizeof *m);
    double *left = malloc((size_t)(n * r) * sizeof *left);
    double *right = malloc((size_t)(r * n) * sizeof *right);
    double *s = malloc((size_t)n * sizeof *s);
    enum clf_status st = CLF_OK;
    if (!m || !left || !right || !s)
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for SVD attention");
    for (int64_t h = 0; st == CLF_OK && h < heads; h++) {
        score_form(in_w, in_b, d, hd, h * hd, d + h * hd, m);
        double rel = 0;
        if (!v->randomized) {
            st = clf_svd_truncate(ctx, m, n, n, r, CLF_SVD_SPLIT_SQRT, left, right, s, &rel);
        } else {
            /* left holds U, right Vt; then the square roots of s go to each side */
            st = clf_rsvd(ctx, m, n, n, r, v->oversample, v->iters, v->seed + (uint64_t)h, left,
                          s, right);
            if (st == CLF_OK) {
                rel = clf_rsvd_tail_error(s, r, r, clf_frobenius_norm(m, n, n));
                for (int64_t c = 0; c < r; c++) {
                    double sq = sqrt(s[c]);
                    for (int64_t i = 0; i < n; i++) {
                        left[i * r + c] *= sq;
                        right[c * n + i] *= sq;
                    }
                }
            }
        }
        if (st != CLF_OK)
            break;
        if (err)
            err[h] = rel;
        /* Q' row h·r + c = column c of left; K' row heads·r + h·r + c = row c of right */
        for (int64_t c = 0; c < r; c++) {
            float *qw = out_w + (h * r + c) * d, *kw = out_w + (heads * r + h * r + c) * d;
            for (int64_t i = 0; i < d; i++) {
                qw[i] = (float)left[i * r + c];
                kw[i] = (float)right[c * n + i];
            }
            out_b[h * r + c] = (float)left[d * r + c];
            out_b[heads * r + h * r + c] = (float)right[c * n + d];
        }
    }
    if (st == CLF_OK) { /* the values' rows, unchanged */
        memcpy(out_w + 2 * heads * r * d, in_w + 2 * d * d, (size_t)(d * d) * sizeof *out_w);
        memcpy(out_b + 2 * heads * r, in_b + 2 * d, (size_t)d * sizeof *out_b);
    }
    free(m);
    free(left);
    free(right);
    free(s);
    return st;
}
