/*
 * FFN activation quantisers (cl/actq.cl): the op, the host calibration and
 * the --ffn-act grammar (parse / str). The math of each kind is at the top
 * of cl/actq.cl.
 *
 * Node: in[0] = x; out = y (dense f32, x's shape); state = struct
 * actq_state (the kernel arguments, computed once when recorded);
 * iparams[0] = the BINARY-mean variant (ACTQ_ITEM / ACTQ_GROUP, resolved).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* How the BINARY-mean row reduction is spread over work-items. */
enum actq_variant {
    ACTQ_AUTO = -1, /* CPU devices -> ITEM, others -> GROUP */
    ACTQ_ITEM = 0,  /* actq_binary_item: one work-item per row */
    ACTQ_GROUP = 1  /* actq_binary_group: one work-group per row */
};

/* Internal (tests force each variant): clf_op_actq with an explicit
 * variant of the BINARY-mean reduction. */
enum clf_status clf_actq_record(struct clf_graph *g, struct clf_tensor *x,
                                const struct clf_actq *q, int variant, struct clf_tensor **y);

/* Largest work-group size of actq_binary_group (a power of two). */
#define ACTQ_MAX_GROUP 256
/* Number of PWL breakpoint candidates tried by the calibration. */
#define ACTQ_PWL_CANDIDATES 64

/* Arguments of actq_elem after the shape (see cl/actq.cl). */
struct actq_state {
    cl_int kind;
    cl_float8 prm;
    cl_float16 thr, lev;
};

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */

static void set_msg(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t size, const char *fmt, ...)
{
    if (!msg || !size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
}

/* PWL levels per sign and region: L = 2^(b−1) − 1. */
static int pwl_levels(int bits)
{
    return (1 << (bits - 1)) - 1;
}

/* PWL step sizes s1 = p/L, s2 = (c − p)/L: in double (c − p exact there),
 * rounded once to float (double rounding is harmless for one division of
 * floats: 53 >= 2·24 + 2). */
static void pwl_steps(float c, float p, int bits, float *s1, float *s2)
{
    double L = pwl_levels(bits);
    *s1 = (float)((double)p / L);
    *s2 = (float)(((double)c - (double)p) / L);
}

static bool bits_ok(const struct clf_actq *q)
{
    int lo = q->kind == CLF_ACTQ_LSQ && !q->is_signed ? 1 : 2;
    return q->bits >= lo && q->bits <= 8;
}

/* A positive normal finite float (a step q_rne_div can divide by). */
static bool positive_normal(float v)
{
    return isfinite(v) && v >= FLT_MIN;
}

/*
 * Checks q; when `free_ok`, the free parameters (BINARY α, LSQ step, PWL
 * clip and breakpoint) may be 0 (left to calibration). Writes why into msg.
 */
static bool actq_valid(const struct clf_actq *q, bool free_ok, char *msg, size_t size)
{
    switch (q->kind) {
    case CLF_ACTQ_NONE:
        return true;
    case CLF_ACTQ_BINARY:
        if (q->alpha == 0.0f || (isfinite(q->alpha) && q->alpha > 0.0f))
            return true;
        set_msg(msg, size, "binary: alpha %g must be > 0 and finite (0: mean|x| per row)",
                (double)q->alpha);
        return false;
    case CLF_ACTQ_STEPS:
        if (q->n_thresholds < 1 || q->n_thresholds > CLF_ACTQ_MAX_STEPS - 1) {
            set_msg(msg, size, "steps: %d thresholds, need 1 to %d", q->n_thresholds,
                    CLF_ACTQ_MAX_STEPS - 1);
            return false;
        }
        for (int i = 0; i < q->n_thresholds; i++) {
            if (!isfinite(q->thresholds[i])) {
                set_msg(msg, size, "steps: threshold %d (%g) is not finite", i,
                        (double)q->thresholds[i]);
                return false;
            }
            if (i > 0 && !(q->thresholds[i - 1] < q->thresholds[i])) {
                set_msg(msg, size,
                        "steps: thresholds must be strictly ascending (%g then %g)",
                        (double)q->thresholds[i - 1], (double)q->thresholds[i]);
                return false;
            }
        }
        for (int i = 0; i <= q->n_thresholds; i++) {
            if (!isfinite(q->levels[i])) {
                set_msg(msg, size, "steps: level %d (%g) is not finite", i,
                        (double)q->levels[i]);
                return false;
            }
        }
        return true;
    case CLF_ACTQ_PWL: {
        if (!bits_ok(q)) {
            set_msg(msg, size, "pwl: bits %d outside 2..8", q->bits);
            return false;
        }
        if (free_ok && q->clip == 0.0f && q->breakpoint == 0.0f)
            return true;
        if (!(isfinite(q->clip) && q->clip > 0.0f)) {
            set_msg(msg, size, "pwl: clip %g must be > 0 and finite", (double)q->clip);
            return false;
        }
        if (!(q->breakpoint > 0.0f && q->breakpoint < q->clip)) {
            set_msg(msg, size, "pwl: breakpoint %g must lie in (0, clip = %g)",
                    (double)q->breakpoint, (double)q->clip);
            return false;
        }
        float s1, s2;
        pwl_steps(q->clip, q->breakpoint, q->bits, &s1, &s2);
        if (!positive_normal(s1) || !positive_normal(s2)) {
            set_msg(msg, size, "pwl: step sizes %g, %g underflow (clip %g, breakpoint %g)",
                    (double)s1, (double)s2, (double)q->clip, (double)q->breakpoint);
            return false;
        }
        return true;
    }
    case CLF_ACTQ_LSQ:
        if (!bits_ok(q)) {
            set_msg(msg, size, "lsq: bits %d outside %s", q->bits,
                    q->is_signed ? "2..8 (signed)" : "1..8");
            return false;
        }
        if ((free_ok && q->step == 0.0f) || positive_normal(q->step))
            return true;
        set_msg(msg, size, "lsq: step %g must be > 0, finite and normal", (double)q->step);
        return false;
    }
    set_msg(msg, size, "unknown quantiser kind %d", (int)q->kind);
    return false;
}

/* ------------------------------------------------------------------------ */
/* Enqueue                                                                  */
/* ------------------------------------------------------------------------ */

static void state_free(struct clf_ctx *ctx, void *state)
{
    (void)ctx;
    free(state);
}

static enum clf_status enqueue_actq(struct clf_ctx *ctx, struct clf_node *node, cl_uint n_wait,
                                    const cl_event *wait, cl_event *ev)
{
    const struct actq_state *s = node->state;
    cl_kernel k = NULL;
    cl_uint arg = 0;
    if (s->kind == CLF_ACTQ_BINARY && s->prm.s[0] == 0.0f) { /* α = mean|x| per row */
        bool group = node->iparams[0] == ACTQ_GROUP;
        const char *name = group ? "actq_binary_group" : "actq_binary_item";
        /* x -> y, shape[, scratch] */
        enum clf_status st = clf_kernel_io(ctx, node, "actq", NULL, name, &k, &arg);
        if (st != CLF_OK)
            return st;
        const struct clf_tensor *y = node->out;
        size_t rows = (size_t)(clf_tensor_numel(y) / y->shape[y->ndim - 1]);
        if (!group)
            return clf_launch_rounded(ctx, k, 1, &rows, CLF_WORK_ROW, n_wait, wait, ev, name);
        size_t ls = 1;
        /* 2·ls floats of local memory */
        st = clf_pow2_group_size(ctx, k, y->shape[y->ndim - 1], ACTQ_MAX_GROUP,
                                 2 * sizeof(float), &ls);
        if (st != CLF_OK)
            return st;
        cl_int err = clf_set_arg(k, arg, 2 * ls * sizeof(float), NULL);
        if (err != CL_SUCCESS)
            return clf_fail(ctx, CLF_E_OPENCL, "setting the local scratch of %s failed: %s",
                            name, clf_cl_error_name(err));
        size_t global = rows * ls;
        return clf_launch(ctx, k, 1, &global, &ls, n_wait, wait, ev, name);
    }
    /* x -> y, shape, kind, prm, thr, lev */
    enum clf_status st = clf_kernel_io(ctx, node, "actq", NULL, "actq_elem", &k, &arg);
    if (st != CLF_OK)
        return st;
    cl_int err = clf_set_arg(k, arg++, sizeof s->kind, &s->kind);
    err |= clf_set_arg(k, arg++, sizeof s->prm, &s->prm);
    err |= clf_set_arg(k, arg++, sizeof s->thr, &s->thr);
    err |= clf_set_arg(k, arg++, sizeof s->lev, &s->lev);
    if (err != CL_SUCCESS)
        return clf_fail(ctx, CLF_E_OPENCL, "setting arguments of actq_elem failed");
    return clf_launch_per_element(ctx, k, node, n_wait, wait, ev, "actq_elem");
}

static void describe_actq(const struct clf_node *node, char *buf, size_t size)
{
    static const char *kinds[] = {"none", "binary", "steps", "pwl", "lsq"};
    const struct actq_state *s = node->state;
    if (s->kind == CLF_ACTQ_BINARY && s->prm.s[0] == 0.0f)
        snprintf(buf, size, "actq binary mean (%s)",
                 node->iparams[0] == ACTQ_GROUP ? "group" : "item");
    else
        snprintf(buf, size, "actq %s", kinds[s->kind]);
}

static const struct clf_op_impl op_actq = {
    .name = "actq", .enqueue = enqueue_actq, .describe = describe_actq};

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

enum clf_status clf_actq_record(struct clf_graph *g, struct clf_tensor *x,
                                const struct clf_actq *q, int variant, struct clf_tensor **y)
{
    enum clf_status st = clf_graph_check_call(g, y, "actq");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, x, "actq input");
    if (st != CLF_OK)
        return st;
    if (x->dtype != CLF_F32)
        return clf_fail(g->ctx, CLF_E_SHAPE, "actq needs an f32 input (got %s)",
                        clf_dtype_str(x->dtype));
    if (!q)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "actq: the quantiser is NULL");
    char msg[160];
    if (!actq_valid(q, false, msg, sizeof msg))
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "actq: %s", msg);
    if (variant == ACTQ_AUTO)
        variant = g->ctx->info.type == CLF_DEVICE_CPU ? ACTQ_ITEM : ACTQ_GROUP;
    if (variant != ACTQ_ITEM && variant != ACTQ_GROUP)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "actq: unknown variant %d", variant);

    struct actq_state *s = calloc(1, sizeof *s);
    if (!s)
        return clf_fail(g->ctx, CLF_E_OUT_OF_MEMORY, "actq: no host memory");
    s->kind = (cl_int)q->kind;
    for (int i = 0; i < 16; i++)
        s->thr.s[i] = NAN; /* never <= x: not counted */
    switch (q->kind) {
    case CLF_ACTQ_BINARY:
        s->prm.s[0] = q->alpha;
        break;
    case CLF_ACTQ_STEPS:
        for (int i = 0; i < q->n_thresholds; i++)
            s->thr.s[i] = q->thresholds[i];
        for (int i = 0; i <= q->n_thresholds; i++)
            s->lev.s[i] = q->levels[i];
        break;
    case CLF_ACTQ_PWL:
        s->prm.s[0] = q->breakpoint;
        pwl_steps(q->clip, q->breakpoint, q->bits, &s->prm.s[1], &s->prm.s[2]);
        s->prm.s[3] = (float)pwl_levels(q->bits);
        s->prm.s[4] = q->clip;
        break;
    case CLF_ACTQ_LSQ:
        s->prm.s[0] = q->step;
        s->prm.s[1] = q->is_signed ? (float)(1 << (q->bits - 1)) : 0.0f;
        s->prm.s[2] = q->is_signed ? (float)((1 << (q->bits - 1)) - 1)
                                   : (float)((1 << q->bits) - 1);
        break;
    default:
        break;
    }
    struct clf_node node = {0};
    node.impl = &op_actq;
    node.n_in = 1;
    node.in[0] = x;
    node.iparams[0] = variant;
    node.state = s;
    node.state_free = state_free;
    st = clf_graph_new_output(g, CLF_F32, x->ndim, x->shape, &node.out);
    if (st != CLF_OK) {
        free(s);
        return st;
    }
    node.out_owned = true;
    st = clf_graph_add_node(g, &node); /* frees the output and state on failure */
    if (st == CLF_OK)
        *y = node.out;
    return st;
}

enum clf_status clf_op_actq(struct clf_graph *g, struct clf_tensor *x, const struct clf_actq *q,
                            struct clf_tensor **y)
{
    return clf_actq_record(g, x, q, ACTQ_AUTO, y);
}

/* ------------------------------------------------------------------------ */
/* Calibration                                                              */
/* ------------------------------------------------------------------------ */

/* rne(x/s) of the exact quotient: the double quotient of two floats keeps
 * the side of every half-integer below 2^23 (a non-tie differs from it by
 * more than 2^−48 relative), and exact ties are representable. */
static double rne_div(float x, float s)
{
    return nearbyint((double)x / (double)s);
}

/* PWL as cl/actq.cl computes it, for one finite x. */
static float pwl_apply(float x, float p, float s1, float s2, float L, float c)
{
    float a = fabsf(x), y;
    if (a <= p) {
        float k = (float)fmin(rne_div(a, s1), L);
        y = k == 0.0f ? 0.0f : k * s1;
    } else {
        float k = a > c ? L : (float)fmin(rne_div(a - p, s2), L);
        y = fmaf(k, s2, p);
    }
    return x < 0.0f && y != 0.0f ? -y : y;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

enum clf_status clf_actq_calibrate(struct clf_ctx *ctx, const float *x, size_t n,
                                   struct clf_actq *q)
{
    if (!q)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "actq calibrate: the quantiser is NULL");
    if (!x || n == 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "actq calibrate: empty sample");
    struct clf_actq r = *q;
    char msg[160];
    if ((r.kind == CLF_ACTQ_PWL || r.kind == CLF_ACTQ_LSQ) && !bits_ok(&r)) {
        actq_valid(&r, true, msg, sizeof msg);
        return clf_fail(ctx, CLF_E_INVALID_ARG, "actq calibrate: %s", msg);
    }
    if (r.kind < CLF_ACTQ_NONE || r.kind > CLF_ACTQ_LSQ)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "actq calibrate: unknown kind %d", (int)r.kind);
    size_t m = 0;
    double sum_abs = 0, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        m++;
        sum_abs += fabs((double)x[i]);
        max_abs = fmax(max_abs, fabs((double)x[i]));
    }
    if (m == 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "actq calibrate: no finite value in the sample");
    enum clf_status st = CLF_OK;
    switch (r.kind) {
    case CLF_ACTQ_BINARY:
        r.alpha = (float)(sum_abs / (double)m);
        break;
    case CLF_ACTQ_LSQ:
        if (r.is_signed) { /* LSQ init: s = 2 mean|x| / sqrt(Q_P) */
            r.step = (float)(2 * sum_abs / (double)m / sqrt((double)((1 << (r.bits - 1)) - 1)));
        } else { /* PACT: α = 99.9th percentile of x+, nearest rank */
            float *pos = malloc(m * sizeof *pos);
            if (!pos)
                return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "actq calibrate: no host memory");
            size_t j = 0;
            for (size_t i = 0; i < n; i++)
                if (isfinite(x[i]))
                    pos[j++] = x[i] > 0.0f ? x[i] : 0.0f;
            qsort(pos, m, sizeof *pos, cmp_float);
            size_t rank = (size_t)ceil(0.999 * (double)m); /* 1-based, >= 1 */
            double alpha = pos[rank - 1];
            if (alpha == 0)
                alpha = pos[m - 1]; /* mostly non-positive: the maximum */
            free(pos);
            r.step = (float)(alpha / (double)((1 << r.bits) - 1));
        }
        if (!positive_normal(r.step))
            st = clf_fail(ctx, CLF_E_INVALID_ARG,
                          "actq calibrate: lsq step %g from the sample is not a positive "
                          "normal float (all values 0 or negative?)",
                          (double)r.step);
        break;
    case CLF_ACTQ_PWL: {
        /* c = max|x|; p = the candidate fl(c·k/65), k = 1..64, with the
         * least sum of squared errors (the first on ties) */
        float c = (float)max_abs, L = (float)pwl_levels(r.bits);
        double best = INFINITY;
        float best_p = 0;
        for (int k = 1; k <= ACTQ_PWL_CANDIDATES; k++) {
            float p = (float)((double)c * k / (ACTQ_PWL_CANDIDATES + 1)), s1, s2;
            if (!(p > 0.0f && p < c))
                continue;
            pwl_steps(c, p, r.bits, &s1, &s2);
            if (!positive_normal(s1) || !positive_normal(s2))
                continue;
            double e = 0;
            for (size_t i = 0; i < n; i++) {
                if (!isfinite(x[i]))
                    continue;
                double d = (double)pwl_apply(x[i], p, s1, s2, L, c) - x[i];
                e += d * d;
            }
            if (e < best) {
                best = e;
                best_p = p;
            }
        }
        if (best_p == 0.0f)
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "actq calibrate: pwl clip max|x| = %g leaves no usable breakpoint",
                            (double)c);
        r.clip = c;
        r.breakpoint = best_p;
        break;
    }
    default: /* NONE, STEPS: nothing to calibrate */
        break;
    }
    if (st == CLF_OK)
        *q = r;
    return st;
}

/* ------------------------------------------------------------------------ */
/* The --ffn-act grammar                                                    */
/* ------------------------------------------------------------------------ */

/* Copies [s, e) into buf (NUL-terminated); false when it does not fit. */
static bool token(const char *s, const char *e, char *buf, size_t size)
{
    size_t len = (size_t)(e - s);
    if (len >= size)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

/* A finite float filling [s, e). */
static bool parse_float(const char *s, const char *e, float *v)
{
    char buf[64], *end;
    if (s == e || !token(s, e, buf, sizeof buf))
        return false;
    float f = strtof(buf, &end);
    if (*end || !isfinite(f))
        return false;
    *v = f;
    return true;
}

/* A decimal int in 0..99 filling [s, e). */
static bool parse_bits(const char *s, const char *e, int *v)
{
    if (s == e || e - s > 2)
        return false;
    int b = 0;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        b = 10 * b + (*p - '0');
    }
    *v = b;
    return true;
}

/* A '/'-separated list of finite floats filling [s, e); at most max. */
static bool parse_list(const char *s, const char *e, float *v, int max, int *count)
{
    int n = 0;
    for (;;) {
        const char *slash = memchr(s, '/', (size_t)(e - s));
        const char *end = slash ? slash : e;
        if (n == max || !parse_float(s, end, &v[n]))
            return false;
        n++;
        if (!slash)
            break;
        s = slash + 1;
    }
    *count = n;
    return true;
}

/* Starts with key:, then the value follows. */
static const char *after_key(const char *s, const char *e, const char *key)
{
    size_t k = strlen(key);
    return (size_t)(e - s) > k && !memcmp(s, key, k) && s[k] == ':' ? s + k + 1 : NULL;
}

enum clf_status clf_actq_parse(const char *spec, struct clf_actq *q, char *msg,
                               size_t msg_size)
{
    if (!spec || !q) {
        set_msg(msg, msg_size, "actq: %s is NULL", spec ? "the quantiser" : "the specification");
        return CLF_E_INVALID_ARG;
    }
    struct clf_actq r;
    memset(&r, 0, sizeof r);
    const char *colon = strchr(spec, ':');
    const char *kend = colon ? colon : spec + strlen(spec);
    const char *rest = colon ? colon + 1 : NULL, *end = spec + strlen(spec);
    char kind[16];
    if (!token(spec, kend, kind, sizeof kind))
        kind[0] = '\0';
    if (!strcmp(kind, "none")) {
        if (rest)
            goto bad_trailing;
    } else if (!strcmp(kind, "binary")) {
        r.kind = CLF_ACTQ_BINARY;
        if (rest && !(parse_float(rest, end, &r.alpha) && r.alpha > 0.0f)) {
            set_msg(msg, msg_size, "actq \"%s\": binary:ALPHA needs a finite ALPHA > 0", spec);
            return CLF_E_INVALID_ARG;
        }
    } else if (!strcmp(kind, "lsq") || !strcmp(kind, "pact") || !strcmp(kind, "pwl")) {
        r.kind = kind[1] == 'w' ? CLF_ACTQ_PWL : CLF_ACTQ_LSQ;
        bool pact = kind[0] == 'p' && kind[1] == 'a';
        if (!rest) {
            set_msg(msg, msg_size, "actq \"%s\": %s needs the bits (%s:B)", spec, kind, kind);
            return CLF_E_INVALID_ARG;
        }
        const char *comma = memchr(rest, ',', (size_t)(end - rest));
        const char *bend = comma ? comma : end;
        if (!parse_bits(rest, bend, &r.bits)) {
            set_msg(msg, msg_size, "actq \"%s\": bits must be a number", spec);
            return CLF_E_INVALID_ARG;
        }
        float alpha = 0;
        bool seen_signed = false, seen_step = false, seen_alpha = false;
        bool seen_clip = false, seen_bp = false;
        while (comma) {
            const char *s = comma + 1, *v;
            comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            bool ok = true;
            if (!pact && r.kind == CLF_ACTQ_LSQ && (size_t)(e - s) == 6 &&
                !memcmp(s, "signed", 6) && !seen_signed) {
                r.is_signed = seen_signed = true;
            } else if (!pact && r.kind == CLF_ACTQ_LSQ && (v = after_key(s, e, "step")) &&
                       !seen_step) {
                ok = parse_float(v, e, &r.step) && r.step > 0.0f;
                seen_step = true;
            } else if (pact && (v = after_key(s, e, "alpha")) && !seen_alpha) {
                ok = parse_float(v, e, &alpha) && alpha > 0.0f;
                seen_alpha = true;
            } else if (r.kind == CLF_ACTQ_PWL && (v = after_key(s, e, "clip")) && !seen_clip) {
                ok = parse_float(v, e, &r.clip) && r.clip > 0.0f;
                seen_clip = true;
            } else if (r.kind == CLF_ACTQ_PWL && (v = after_key(s, e, "bp")) && !seen_bp) {
                ok = parse_float(v, e, &r.breakpoint) && r.breakpoint > 0.0f;
                seen_bp = true;
            } else {
                char opt[32];
                if (!token(s, e, opt, sizeof opt))
                    strcpy(opt, "(too long)");
                set_msg(msg, msg_size, "actq \"%s\": unknown or repeated option \"%s\" of %s",
                        spec, opt, kind);
                return CLF_E_INVALID_ARG;
            }
            if (!ok) {
                set_msg(msg, msg_size, "actq \"%s\": option values must be finite and > 0",
                        spec);
                return CLF_E_INVALID_ARG;
            }
        }
        if (seen_clip != seen_bp) {
            set_msg(msg, msg_size, "actq \"%s\": pwl needs both clip:C and bp:P, or neither",
                    spec);
            return CLF_E_INVALID_ARG;
        }
        if (!bits_ok(&r)) {
            actq_valid(&r, true, msg, msg_size);
            return CLF_E_INVALID_ARG;
        }
        if (seen_alpha)
            r.step = (float)((double)alpha / (double)((1 << r.bits) - 1));
    } else if (!strcmp(kind, "steps")) {
        r.kind = CLF_ACTQ_STEPS;
        const char *mid = rest ? memchr(rest, ':', (size_t)(end - rest)) : NULL;
        int nl = 0;
        if (!mid ||
            !parse_list(rest, mid, r.thresholds, CLF_ACTQ_MAX_STEPS - 1, &r.n_thresholds) ||
            !parse_list(mid + 1, end, r.levels, CLF_ACTQ_MAX_STEPS, &nl) ||
            nl != r.n_thresholds + 1) {
            set_msg(msg, msg_size,
                    "actq \"%s\": steps needs T1/.../Tn:L0/.../Ln (finite numbers, 1 to %d "
                    "thresholds, one more level)",
                    spec, CLF_ACTQ_MAX_STEPS - 1);
            return CLF_E_INVALID_ARG;
        }
    } else {
        set_msg(msg, msg_size,
                "actq \"%s\": unknown quantiser (none, binary, lsq, pact, pwl, steps)", spec);
        return CLF_E_INVALID_ARG;
    }
    {
        char why[160];
        if (!actq_valid(&r, true, why, sizeof why)) {
            set_msg(msg, msg_size, "actq \"%s\": %s", spec, why);
            return CLF_E_INVALID_ARG;
        }
    }
    *q = r;
    return CLF_OK;
bad_trailing:
    set_msg(msg, msg_size, "actq \"%s\": %s takes no parameters", spec, kind);
    return CLF_E_INVALID_ARG;
}

/* Appends to buf (always NUL-terminated, truncated when full). */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (w > 0)
        *len = *len + (size_t)w < size ? *len + (size_t)w : size;
}

/* The shortest %g form (6 to 9 digits) of v that reads back as v. */
static const char *fmt_float(float v, char buf[32])
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, 32, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return buf;
}

void clf_actq_str(const struct clf_actq *q, char *buf, size_t size)
{
    char f1[32], f2[32];
    if (!buf || !size)
        return;
    buf[0] = '\0';
    if (!q)
        return;
    size_t len = 0;
    switch (q->kind) { /* fmt_float: every float reads back exactly */
    case CLF_ACTQ_NONE:
        append(buf, size, &len, "none");
        break;
    case CLF_ACTQ_BINARY:
        append(buf, size, &len, "binary");
        if (q->alpha != 0.0f)
            append(buf, size, &len, ":%s", fmt_float(q->alpha, f1));
        break;
    case CLF_ACTQ_LSQ:
        append(buf, size, &len, "lsq:%d%s", q->bits, q->is_signed ? ",signed" : "");
        if (q->step != 0.0f)
            append(buf, size, &len, ",step:%s", fmt_float(q->step, f1));
        break;
    case CLF_ACTQ_PWL:
        append(buf, size, &len, "pwl:%d", q->bits);
        if (q->clip != 0.0f || q->breakpoint != 0.0f)
            append(buf, size, &len, ",clip:%s,bp:%s", fmt_float(q->clip, f1),
                   fmt_float(q->breakpoint, f2));
        break;
    case CLF_ACTQ_STEPS: {
        int n = q->n_thresholds;
        if (n < 0 || n > CLF_ACTQ_MAX_STEPS - 1)
            n = 0;
        append(buf, size, &len, "steps:");
        for (int i = 0; i < n; i++)
            append(buf, size, &len, "%s%s", i ? "/" : "", fmt_float(q->thresholds[i], f1));
        append(buf, size, &len, ":");
        for (int i = 0; i <= n; i++)
            append(buf, size, &len, "%s%s", i ? "/" : "", fmt_float(q->levels[i], f1));
        break;
    }
    default:
        append(buf, size, &len, "invalid");
        break;
    }
}
