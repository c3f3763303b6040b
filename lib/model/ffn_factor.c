/* Low-rank feed-forward weights: the --ffn grammar and SVD factors (see
 * ffn_factor.h). */
#include "ffn_factor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../linalg/rsvd.h"
#include "../linalg/svd.h"
#include "../runtime/ctx.h"

/* Checks f; on failure writes why into msg. */
static bool check(const struct clf_ffn_factor *f, char *msg, size_t size)
{
    const char *why = NULL;
    if ((unsigned)f->format > CLF_FFN_TT)
        why = "unknown FFN format";
    else if (f->format != CLF_FFN_DENSE && f->rank < 0)
        why = "the rank must be >= 0";
    else if (f->format != CLF_FFN_DENSE && f->rank == 0 && !(f->eps > 0 && f->eps < 1))
        why = "give a rank >= 1 or an error target eps in (0, 1)";
    else if (f->format == CLF_FFN_RSVD && (f->oversample < 0 || f->power_iters < 0))
        why = "randomised SVD needs p >= 0 and q >= 0";
    else if (f->format == CLF_FFN_TT && f->tt_cores != 0 && (f->tt_cores < 2 || f->tt_cores > 6))
        why = "a Tensor-Train needs 2..6 cores";
    if (why)
        snprintf(msg, size, "%s", why);
    return !why;
}

enum clf_status clf_ffn_factor_check(struct clf_ctx *ctx, const struct clf_ffn_factor *f)
{
    char msg[128];
    return check(f, msg, sizeof msg) ? CLF_OK
                                     : clf_fail(ctx, CLF_E_INVALID_ARG, "--ffn: %s", msg);
}

static bool parse_i64(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo)
        return false;
    *out = v;
    return true;
}

enum clf_status clf_ffn_factor_parse(const char *spec, struct clf_ffn_factor *f, char *msg,
                                     size_t msg_size)
{
    char local[8], buf[128];
    if (!msg || !msg_size)
        msg = local, msg_size = sizeof local;
    msg[0] = 0;
    if (!spec || !f || strlen(spec) >= sizeof buf) {
        snprintf(msg, msg_size, "%s", !spec || !f ? "NULL FFN spec" : "FFN spec too long");
        return CLF_E_INVALID_ARG;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    struct clf_ffn_factor r;
    memset(&r, 0, sizeof r);
    char *save = NULL, *item = strtok_r(buf, ",", &save);
    char *val = item ? strchr(item, ':') : NULL;
    if (val)
        *val++ = 0;
    if (!item) {
        snprintf(msg, msg_size, "empty FFN spec (dense, svd:R, rsvd:R, tt:R)");
        return CLF_E_INVALID_ARG;
    }
    if (!strcmp(item, "dense"))
        r.format = CLF_FFN_DENSE;
    else if (!strcmp(item, "svd"))
        r.format = CLF_FFN_SVD;
    else if (!strcmp(item, "rsvd"))
        r.format = CLF_FFN_RSVD, r.oversample = 10, r.power_iters = 1;
    else if (!strcmp(item, "tt"))
        r.format = CLF_FFN_TT;
    else {
        snprintf(msg, msg_size, "unknown FFN format '%s' (dense, svd:R, rsvd:R, tt:R)", item);
        return CLF_E_INVALID_ARG;
    }
    bool ok = r.format == CLF_FFN_DENSE ? !val : val != NULL;
    if (ok && val && !strncmp(val, "eps=", 4)) {
        char *end;
        errno = 0;
        r.eps = strtod(val + 4, &end);
        ok = end != val + 4 && !*end && !errno && r.eps > 0 && r.eps < 1;
    } else if (ok && val) {
        ok = parse_i64(val, 1, &r.rank);
    }
    if (!ok) {
        snprintf(msg, msg_size, "'%s' needs %s", item,
                 r.format == CLF_FFN_DENSE ? "no value"
                                           : "a rank >= 1 or eps=E with E in (0, 1), e.g. svd:128 "
                                             "or tt:eps=1e-2");
        return CLF_E_INVALID_ARG;
    }
    bool have[4] = {false, false, false, false};
    while ((item = strtok_r(NULL, ",", &save)) != NULL) {
        val = strchr(item, ':');
        if (val)
            *val++ = 0;
        int64_t x = 0;
        int k = !strcmp(item, "p") ? 0 : !strcmp(item, "q") ? 1 : !strcmp(item, "seed") ? 2
                : !strcmp(item, "d")                      ? 3
                                                          : -1;
        bool fits = k >= 0 && (k == 3 ? r.format == CLF_FFN_TT : r.format == CLF_FFN_RSVD);
        if (!fits || !val || have[k] || !parse_i64(val, 0, &x) || (k != 2 && x > INT32_MAX)) {
            snprintf(msg, msg_size, "'%s%s%s' does not apply here (rsvd: p:P, q:Q, seed:S; tt: d:D)",
                     item, val ? ":" : "", val ? val : "");
            return CLF_E_INVALID_ARG;
        }
        have[k] = true;
        if (k == 0)
            r.oversample = x;
        else if (k == 1)
            r.power_iters = (int)x;
        else if (k == 2)
            r.seed = (uint64_t)x;
        else
            r.tt_cores = (int)x;
    }
    if (!check(&r, msg, msg_size))
        return CLF_E_INVALID_ARG;
    *f = r;
    return CLF_OK;
}

void clf_ffn_factor_str(const struct clf_ffn_factor *f, char *buf, size_t size)
{
    char eps[40]; /* the shortest %g form (6 to 17 digits) that reads back as eps */
    for (int digits = 6; f && digits <= 17; digits++) {
        snprintf(eps, sizeof eps, "%.*g", digits, f->eps);
        if (strtod(eps, NULL) == f->eps)
            break;
    }
    static const char *names[] = {"dense", "svd", "rsvd", "tt"};
    if (!buf || !size)
        return;
    if (!f || (unsigned)f->format > CLF_FFN_TT) {
        snprintf(buf, size, "?");
        return;
    }
    if (f->format == CLF_FFN_DENSE) {
        snprintf(buf, size, "dense");
        return;
    }
    int n = f->rank ? snprintf(buf, size, "%s:%lld", names[f->format], (long long)f->rank)
                    : snprintf(buf, size, "%s:eps=%s", names[f->format], eps);
    size_t used = n > 0 && (size_t)n < size ? (size_t)n : size - 1;
    if (f->format == CLF_FFN_RSVD && f->seed)
        snprintf(buf + used, size - used, ",p:%lld,q:%d,seed:%llu", (long long)f->oversample,
                 f->power_iters, (unsigned long long)f->seed);
    else if (f->format == CLF_FFN_RSVD)
        snprintf(buf + used, size - used, ",p:%lld,q:%d", (long long)f->oversample,
                 f->power_iters);
    else if (f->format == CLF_FFN_TT && f->tt_cores)
        snprintf(buf + used, size - used, ",d:%d", f->tt_cores);
}

enum clf_status clf_ffn_lowrank(struct clf_ctx *ctx, const float *w, int64_t m, int64_t n,
                                const struct clf_ffn_factor *f, float **left, float **right,
                                int64_t *rank, double *rel_error)
{
    *left = *right = NULL;
    if (f->format != CLF_FFN_SVD && f->format != CLF_FFN_RSVD)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "FFN factors: not an SVD format");
    const int64_t k = m < n ? m : n;
    double *a = malloc((size_t)(m * n) * sizeof *a);
    double *u = malloc((size_t)(m * k) * sizeof *u), *s = malloc((size_t)k * sizeof *s);
    double *vt = malloc((size_t)(k * n) * sizeof *vt);
    enum clf_status st = CLF_OK;
    int64_t r = f->rank > k ? k : f->rank, got = 0; /* got: columns in u, s, vt */
    double err = 0;
    if (!a || !u || !s || !vt) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to factorise a weight");
        goto done;
    }
    for (int64_t i = 0; i < m * n; i++)
        a[i] = w[i];
    if (f->format == CLF_FFN_SVD) {
        st = clf_svd(ctx, a, m, n, u, s, vt);
        got = k;
        if (st == CLF_OK && !r)
            r = clf_svd_rank_for_error(s, k, f->eps);
        if (st == CLF_OK)
            err = clf_svd_tail_error(s, k, r);
    } else {
        const double frob = clf_frobenius_norm(a, m, n);
        /* a given rank: one randomised SVD; an error target: ranks 32, 64,
         * ... until the estimated tail meets it */
        for (int64_t want = r ? r : (k < 32 ? k : 32); st == CLF_OK;
             want = want * 2 < k ? want * 2 : k) {
            st = clf_rsvd(ctx, a, m, n, want, f->oversample, f->power_iters, f->seed, u, s, vt);
            got = want;
            if (st != CLF_OK || r)
                break;
            int64_t need = clf_rsvd_rank_for_error(s, want, frob, f->eps);
            if (need <= want || want == k) {
                r = need <= want ? need : k;
                break;
            }
        }
        if (st == CLF_OK)
            err = clf_rsvd_tail_error(s, got, r, frob);
    }
    if (st != CLF_OK)
        goto done;
    if (r < 1)
        r = 1;
    *left = malloc((size_t)(m * r) * sizeof **left);
    *right = malloc((size_t)(r * n) * sizeof **right);
    if (!*left || !*right) {
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for FFN factors");
        goto done;
    }
    /* u is [m, got] (columns = singular vectors), vt [got, n] */
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < r; c++)
            (*left)[i * r + c] = (float)u[i * got + c];
    for (int64_t c = 0; c < r; c++)
        for (int64_t j = 0; j < n; j++)
            (*right)[c * n + j] = (float)(s[c] * vt[c * n + j]);
    *rank = r;
    if (rel_error)
        *rel_error = err;
done:
    if (st != CLF_OK) {
        free(*left), free(*right);
        *left = *right = NULL;
    }
    free(a), free(u), free(s), free(vt);
    return st;
}
