/* The sparse attention variants' parameters: checks, the --attn grammar and
 * its printed form (see struct clf_attention_variant in clformer.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_variant.h"

/* Checks v; on failure writes why into msg (may be NULL). */
static enum clf_status check(const struct clf_attention_variant *v, char *msg, size_t size)
{
    const char *why = NULL;
    switch (v->sparsity) {
    case CLF_ATTN_EXACT: break;
    case CLF_ATTN_THRESHOLD:
        if (!(v->threshold >= 0.0f && v->threshold < 1.0f))
            why = "threshold must be in [0, 1)";
        break;
    case CLF_ATTN_TOPK:
        if (v->topk < 1)
            why = "top-k needs k >= 1";
        break;
    case CLF_ATTN_WINDOW:
        if (v->window_left < 0 || v->window_right < 0)
            why = "window sides must be >= 0";
        else if (v->window_left > INT64_MAX - v->window_right) /* their sum is printed */
            why = "window too large";
        else if (v->global_tokens < 0)
            why = "global tokens must be >= 0";
        break;
    case CLF_ATTN_LINFORMER:
        if (v->rank < 1)
            why = "Linformer needs rank >= 1";
        else if (v->projection != CLF_PROJ_MEAN && v->projection != CLF_PROJ_GAUSSIAN)
            why = "unknown Linformer projection";
        break;
    case CLF_ATTN_NYSTROM:
        if (v->rank < 1)
            why = "Nystrom needs landmarks >= 1";
        else if (v->iters < 0)
            why = "Nystrom needs iters >= 0";
        break;
    case CLF_ATTN_SVD:
        if (v->rank < 1)
            why = "SVD attention needs rank >= 1";
        else if (v->randomized && v->oversample < 0)
            why = "randomised SVD needs oversampling p >= 0";
        else if (v->randomized && v->iters < 0)
            why = "randomised SVD needs power iterations q >= 0";
        break;
    default: why = "unknown attention sparsity"; break;
    }
    if (why && msg && size)
        snprintf(msg, size, "%s", why);
    return why ? CLF_E_INVALID_ARG : CLF_OK;
}

enum clf_status clf_attention_variant_check(struct clf_ctx *ctx,
                                            const struct clf_attention_variant *v)
{
    char msg[128];
    enum clf_status st = check(v, msg, sizeof msg);
    return st == CLF_OK ? CLF_OK : clf_fail(ctx, st, "attention: %s", msg);
}

/* Parses a whole decimal integer into *out. */
static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return false;
    *out = v;
    return true;
}

/* Parses a whole unsigned decimal integer (no sign) into *out. */
static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || isnan(v))
        return false;
    *out = (float)v;
    return true;
}

enum clf_status clf_attention_variant_parse(const char *spec, struct clf_attention_variant *v,
                                            char *msg, size_t msg_size)
{
    char buf[256], local[8];
    if (!msg || !msg_size) {
        msg = local;
        msg_size = sizeof local;
    }
    msg[0] = 0;
    if (!spec || !v) {
        snprintf(msg, msg_size, "NULL attention spec");
        return CLF_E_INVALID_ARG;
    }
    if (strlen(spec) >= sizeof buf) {
        snprintf(msg, msg_size, "attention spec too long");
        return CLF_E_INVALID_ARG;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    struct clf_attention_variant r;
    memset(&r, 0, sizeof r);
    /* first item names the variant: NAME[:VALUE]; then KEY:VALUE items */
    char *save = NULL;
    char *item = strtok_r(buf, ",", &save);
    if (!item) {
        snprintf(msg, msg_size, "empty attention spec (exact, threshold:T, topk:K, window:W, linformer:R, nystrom:M, svd:R)");
        return CLF_E_INVALID_ARG;
    }
    char *val = strchr(item, ':');
    if (val)
        *val++ = 0;
    bool ok = true;
    if (!strcmp(item, "exact")) {
        ok = !val;
    } else if (!strcmp(item, "threshold")) {
        r.sparsity = CLF_ATTN_THRESHOLD;
        ok = val && parse_float(val, &r.threshold);
    } else if (!strcmp(item, "topk")) {
        r.sparsity = CLF_ATTN_TOPK;
        ok = val && parse_int(val, &r.topk);
    } else if (!strcmp(item, "window")) {
        r.sparsity = CLF_ATTN_WINDOW;
        int64_t w = 0;
        ok = val && parse_int(val, &w) && w >= 0;
        /* Longformer's window size: W+1 keys, W/2 on each side */
        r.window_left = w / 2;
        r.window_right = w - w / 2;
    } else if (!strcmp(item, "linformer")) {
        r.sparsity = CLF_ATTN_LINFORMER;
        ok = val && parse_int(val, &r.rank);
    } else if (!strcmp(item, "nystrom")) {
        r.sparsity = CLF_ATTN_NYSTROM;
        ok = val && parse_int(val, &r.rank);
    } else if (!strcmp(item, "svd")) {
        r.sparsity = CLF_ATTN_SVD;
        ok = val && parse_int(val, &r.rank);
    } else {
        snprintf(msg, msg_size,
                 "unknown attention '%s' (exact, threshold:T, topk:K, window:W, linformer:R, nystrom:M, svd:R)", item);
        return CLF_E_INVALID_ARG;
    }
    if (!ok) {
        snprintf(msg, msg_size, "'%s' needs %s", item,
                 !strcmp(item, "exact") ? "no value"
                 : r.sparsity == CLF_ATTN_THRESHOLD ? "a number, e.g. threshold:1e-3"
                 : r.sparsity == CLF_ATTN_LINFORMER ? "an integer rank, e.g. linformer:64"
                 : r.sparsity == CLF_ATTN_NYSTROM   ? "an integer landmark count, e.g. nystrom:64"
                 : r.sparsity == CLF_ATTN_SVD       ? "an integer rank, e.g. svd:16"
                                                    : "an integer, e.g. topk:32 or window:128");
        return CLF_E_INVALID_ARG;
    }
    bool have_proj = false, have_seed = false, have_iters = false, have_p = false;
    while ((item = strtok_r(NULL, ",", &save)) != NULL) {
        val = strchr(item, ':');
        if (val)
            *val++ = 0;
        if (r.sparsity == CLF_ATTN_THRESHOLD && !strcmp(item, "renorm") && !val) {
            r.renormalize = true;
        } else if (r.sparsity == CLF_ATTN_LINFORMER && !val &&
                   (!strcmp(item, "mean") || !strcmp(item, "gauss"))) {
            if (have_proj) {
                snprintf(msg, msg_size, "linformer takes one projection (mean or gauss)");
                return CLF_E_INVALID_ARG;
            }
            have_proj = true;
            r.projection = !strcmp(item, "gauss") ? CLF_PROJ_GAUSSIAN : CLF_PROJ_MEAN;
        } else if (r.sparsity == CLF_ATTN_SVD && !val && !strcmp(item, "rand")) {
            if (!r.randomized) { /* Halko et al.'s usual choices */
                r.randomized = true;
                r.oversample = have_p ? r.oversample : 10;
                r.iters = have_iters ? r.iters : 1;
            }
        } else if (r.sparsity == CLF_ATTN_SVD && val && (!strcmp(item, "p") || !strcmp(item, "q"))) {
            int64_t x;
            bool is_p = !strcmp(item, "p");
            if ((is_p ? have_p : have_iters) || !parse_int(val, &x) || x < 0 || x > INT32_MAX) {
                snprintf(msg, msg_size, "'%s' needs one integer >= 0, e.g. %s:%d", item, item,
                         is_p ? 10 : 1);
                return CLF_E_INVALID_ARG;
            }
            if (is_p)
                r.oversample = x, have_p = true;
            else
                r.iters = (int)x, have_iters = true;
        } else if ((r.sparsity == CLF_ATTN_LINFORMER || r.sparsity == CLF_ATTN_SVD) && val &&
                   !strcmp(item, "seed")) {
            if (have_seed || !parse_u64(val, &r.seed)) {
                snprintf(msg, msg_size, "'seed' needs one unsigned integer, e.g. seed:42");
                return CLF_E_INVALID_ARG;
            }
            have_seed = true;
        } else if (r.sparsity == CLF_ATTN_NYSTROM && val && !strcmp(item, "iters")) {
            int64_t x;
            if (have_iters || !parse_int(val, &x) || x < INT32_MIN || x > INT32_MAX) {
                snprintf(msg, msg_size, "'iters' needs one integer, e.g. iters:20");
                return CLF_E_INVALID_ARG;
            }
            r.iters = (int)x;
            have_iters = true;
        } else if (r.sparsity == CLF_ATTN_WINDOW && val &&
                   (!strcmp(item, "left") || !strcmp(item, "right") || !strcmp(item, "global"))) {
            int64_t x;
            if (!parse_int(val, &x)) {
                snprintf(msg, msg_size, "'%s' needs an integer", item);
                return CLF_E_INVALID_ARG;
            }
            *(!strcmp(item, "left") ? &r.window_left
              : !strcmp(item, "right") ? &r.window_right : &r.global_tokens) = x;
        } else {
            snprintf(msg, msg_size, "'%s%s%s' does not apply here", item, val ? ":" : "",
                     val ? val : "");
            return CLF_E_INVALID_ARG;
        }
    }
    if (r.sparsity == CLF_ATTN_SVD && !r.randomized && (have_p || have_iters || have_seed)) {
        snprintf(msg, msg_size, "p, q and seed belong to the randomised SVD: add ',rand'");
        return CLF_E_INVALID_ARG;
    }
    enum clf_status st = check(&r, msg, msg_size);
    if (st == CLF_OK)
        *v = r;
    return st;
}

/* The shortest %g form (6 to 9 digits) of v that parse_float reads back as
 * v (6 digits alone lose bits: threshold:0.123456789 would not round-trip). */
static const char *fmt_float(float v, char buf[32])
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, 32, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

void clf_attention_variant_str(const struct clf_attention_variant *v, char *buf, size_t size)
{
    char f[32];
    if (!buf || !size)
        return;
    if (!v) {
        snprintf(buf, size, "?");
        return;
    }
    switch (v->sparsity) {
    case CLF_ATTN_THRESHOLD:
        snprintf(buf, size, "threshold:%s%s", fmt_float(v->threshold, f),
                 v->renormalize ? ",renorm" : "");
        break;
    case CLF_ATTN_TOPK: snprintf(buf, size, "topk:%lld", (long long)v->topk); break;
    case CLF_ATTN_WINDOW:
    {
        const int64_t w = v->window_left + v->window_right;
        if (v->window_left == w / 2 && v->window_right == w - w / 2) /* the plain form */
            snprintf(buf, size, "window:%lld", (long long)w);
        else
            snprintf(buf, size, "window:%lld,left:%lld,right:%lld", (long long)w,
                     (long long)v->window_left, (long long)v->window_right);
        if (v->global_tokens) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, ",global:%lld", (long long)v->global_tokens);
        }
        break;
    }
    case CLF_ATTN_LINFORMER:
        snprintf(buf, size, "linformer:%lld%s", (long long)v->rank,
                 v->projection == CLF_PROJ_GAUSSIAN ? ",gauss" : "");
        if (v->seed) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, ",seed:%llu", (unsigned long long)v->seed);
        }
        break;
    case CLF_ATTN_NYSTROM:
        snprintf(buf, size, "nystrom:%lld", (long long)v->rank);
        if (v->iters) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, ",iters:%d", v->iters);
        }
        break;
    case CLF_ATTN_SVD:
        if (v->randomized)
            snprintf(buf, size, "svd:%lld,rand,p:%lld,q:%d%s", (long long)v->rank,
                     (long long)v->oversample, v->iters, v->seed ? "," : "");
        else
            snprintf(buf, size, "svd:%lld", (long long)v->rank);
        if (v->randomized && v->seed) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, "seed:%llu", (unsigned long long)v->seed);
        }
        break;
    default: snprintf(buf, size, "exact"); break;
    }
}
