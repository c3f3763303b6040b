/* Double-precision CPU reference of the encoder (see ref_encoder.h). */
#include "ref_encoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ref_layer {
    float *in_w, *in_b, *out_w, *out_b, *w1, *b1, *w2, *b2, *n1w, *n1b, *n2w, *n2b;
};

struct ref_weights {
    struct clf_encoder_config cfg;
    struct ref_layer *layers;
    float *norm_w, *norm_b; /* NULL without a final norm */
    double **forms; /* [layers · heads] score forms, NULL entries: exact */
};

static float *read_weight(struct clf_encoder *enc, int layer, const char *name, size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (p && clf_encoder_read_weight(enc, layer, name, p, n) != CLF_OK) {
        free(p);
        p = NULL;
    }
    return p;
}

void ref_weights_free(struct ref_weights *w)
{
    if (!w)
        return;
    for (int64_t i = 0; w->layers && i < w->cfg.layers; i++) {
        struct ref_layer *l = &w->layers[i];
        float *all[] = {l->in_w, l->in_b, l->out_w, l->out_b, l->w1, l->b1,
                        l->w2,   l->b2,   l->n1w,   l->n1b,   l->n2w, l->n2b};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
            free(all[k]);
    }
    free(w->layers);
    for (int64_t i = 0; w->forms && i < w->cfg.layers * w->cfg.heads; i++)
        free(w->forms[i]);
    free(w->forms);
    free(w->norm_w);
    free(w->norm_b);
    free(w);
}

struct ref_weights *ref_weights_read(struct clf_encoder *enc)
{
    struct ref_weights *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cfg = clf_encoder_get_config(enc);
    const size_t d = (size_t)w->cfg.d_model, f = (size_t)w->cfg.d_ff;
    w->layers = calloc((size_t)w->cfg.layers, sizeof *w->layers);
    bool ok = w->layers != NULL;
    for (int i = 0; ok && i < w->cfg.layers; i++) {
        struct ref_layer *l = &w->layers[i];
        ok = (l->in_w = read_weight(enc, i, "self_attn.in_proj_weight", 3 * d * d)) &&
             (l->in_b = read_weight(enc, i, "self_attn.in_proj_bias", 3 * d)) &&
             (l->out_w = read_weight(enc, i, "self_attn.out_proj.weight", d * d)) &&
             (l->out_b = read_weight(enc, i, "self_attn.out_proj.bias", d)) &&
             (l->w1 = read_weight(enc, i, "linear1.weight", f * d)) &&
             (l->b1 = read_weight(enc, i, "linear1.bias", f)) &&
             (l->w2 = read_weight(enc, i, "linear2.weight", d * f)) &&
             (l->b2 = read_weight(enc, i, "linear2.bias", d)) &&
             (l->n1w = read_weight(enc, i, "norm1.weight", d)) &&
             (l->n1b = read_weight(enc, i, "norm1.bias", d)) &&
             (l->n2w = read_weight(enc, i, "norm2.weight", d)) &&
             (l->n2b = read_weight(enc, i, "norm2.bias", d));
    }
    if (ok) { /* the final norm is optional */
        w->norm_w = read_weight(enc, -1, "norm.weight", d);
        w->norm_b = w->norm_w ? read_weight(enc, -1, "norm.bias", d) : NULL;
        ok = !w->norm_w || w->norm_b;
    }
    if (!ok) {
        ref_weights_free(w);
        return NULL;
    }
    return w;
}

int ref_weights_set(struct ref_weights *w, int64_t layer, const char *name, const float *data,
                    size_t count)
{
    if (layer < 0 || layer >= w->cfg.layers)
        return -1;
    struct ref_layer *l = &w->layers[layer];
    const size_t d = (size_t)w->cfg.d_model, f = (size_t)w->cfg.d_ff;
    const struct {
        const char *name;
        float *p;
        size_t n;
    } all[] = {{"linear1.weight", l->w1, f * d}, {"linear2.weight", l->w2, d * f},
               {"self_attn.in_proj_weight", l->in_w, 3 * d * d},
               {"self_attn.out_proj.weight", l->out_w, d * d}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, all[i].name)) {
            if (count != all[i].n)
                return -1;
            memcpy(all[i].p, data, count * sizeof *data);
            return 0;
        }
    return -1;
}

int ref_weights_set_score_form(struct ref_weights *w, int64_t layer, int64_t head,
                               const double *m)
{
    const int64_t h = w->cfg.heads, n = w->cfg.d_model + 1;
    if (layer < 0 || layer >= w->cfg.layers || head < 0 || head >= h)
        return -1;
    if (!w->forms && !(w->forms = calloc((size_t)(w->cfg.layers * h), sizeof *w->forms)))
        return -1;
    double **f = &w->forms[layer * h + head];
    free(*f);
    *f = NULL;
    if (!m)
        return 0;
    if (!(*f = malloc((size_t)(n * n) * sizeof **f)))
        return -1;
    memcpy(*f, m, (size_t)(n * n) * sizeof **f);
    return 0;
}

/* y[t, o] = sum_i x[t, i] W[o, i] + b[o] for t < n (x, y [n, in/out]). */
static void linear(const double *x, int64_t n, int64_t in, const float *wt, const float *b,
                   int64_t out, double *y)
{
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            const float *wr = wt + o * in;
            const double *xr = x + t * in;
            for (int64_t i = 0; i < in; i++)
                s += xr[i] * wr[i];
            y[t * out + o] = s;
        }
}

static void layernorm(double *x, int64_t n, int64_t d, const float *g, const float *b,
                      double eps)
{
    for (int64_t t = 0; t < n; t++) {
        double *r = x + t * d, mean = 0, var = 0;
        for (int64_t i = 0; i < d; i++)
            mean += r[i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++)
            var += (r[i] - mean) * (r[i] - mean);
        double inv = 1 / sqrt(var / (double)d + eps);
        for (int64_t i = 0; i < d; i++)
            r[i] = (r[i] - mean) * inv * g[i] + b[i];
    }
}

static double act(double x, enum clf_act a)
{
    if (a == CLF_ACT_RELU)
        return x > 0 ? x : 0;
    if (a == CLF_ACT_GELU)
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    if (a == CLF_ACT_GELU_TANH)
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    return x;
}

/* Scores of one query through a score form: s_j = x̃_iᵀ m x̃_j for the keys
 * j < seq of x [seq, d] (one sequence). */
static void form_scores(const double *m, const double *x, int64_t d, int64_t seq, int64_t i,
                        double *s)
{
    const int64_t n = d + 1;
    for (int64_t j = 0; j < seq; j++) {
        const double *xj = x + j * d;
        double acc = 0;
        for (int64_t a = 0; a < n; a++) {
            double xa = a < d ? x[i * d + a] : 1.0, row = 0;
            for (int64_t e = 0; e < n; e++)
                row += m[a * n + e] * (e < d ? xj[e] : 1.0);
            acc += xa * row;
        }
        s[j] = acc;
    }
}

/* out[tokens, d] = MHA(x) without the output projection; probs, when not
 * NULL, receives the probabilities [batch, heads, seq, seq]. x [tokens, d]
 * is the attention's input (read only for heads with a score form, forms
 * [heads] or NULL). */
static void attention(const struct clf_encoder_config *c, const double *qkv, const double *x,
                      double *const *forms, int64_t batch, int64_t seq, const int32_t *pad,
                      double *out, double *p, double *probs)
{
    const int64_t d = c->d_model, h = c->heads, hd = d / h;
    const double scale = 1 / sqrt((double)hd);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t hh = 0; hh < h; hh++)
            for (int64_t i = 0; i < seq; i++) {
                const double *form = forms ? forms[hh] : NULL;
                if (form)
                    form_scores(form, x + b * seq * d, d, seq, i, p);
                const double *q = qkv + ((b * seq + i) * 3 * d) + hh * hd;
                double m = -INFINITY;
                for (int64_t j = 0; j < seq; j++) {
                    double s = form ? p[j] : 0;
                    p[j] = -INFINITY;
                    if (pad && pad[b * seq + j])
                        continue;
                    const double *k = qkv + ((b * seq + j) * 3 * d) + d + hh * hd;
                    for (int64_t e = 0; !form && e < hd; e++)
                        s += q[e] * k[e];
                    p[j] = s * scale;
                    m = p[j] > m ? p[j] : m;
                }
                double *o = out + (b * seq + i) * d + hh * hd;
                double *pr = probs ? probs + ((b * h + hh) * seq + i) * seq : NULL;
                memset(o, 0, (size_t)hd * sizeof *o);
                if (pr)
                    memset(pr, 0, (size_t)seq * sizeof *pr);
                if (m == -INFINITY) /* every key masked: zeros */
                    continue;
                double sum = 0;
                for (int64_t j = 0; j < seq; j++)
                    sum += p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - m);
                for (int64_t j = 0; pr && j < seq; j++)
                    pr[j] = p[j] / sum;
                for (int64_t j = 0; j < seq; j++) {
                    if (p[j] == 0)
                        continue;
                    const double *v = qkv + ((b * seq + j) * 3 * d) + 2 * d + hh * hd;
                    for (int64_t e = 0; e < hd; e++)
                        o[e] += p[j] / sum * v[e];
                }
            }
}

/* The forward pass; with probs, it stops after layer `stop`'s attention,
 * having written its probabilities there. */
static int forward(const struct ref_weights *w, int64_t batch, int64_t seq, const float *x,
                   const int32_t *key_padding, double *y, int64_t stop, double *probs)
{
    const struct clf_encoder_config *c = &w->cfg;
    const int64_t d = c->d_model, f = c->d_ff, n = batch * seq;
    double *qkv = malloc((size_t)(n * 3 * d) * sizeof *qkv);
    double *att = malloc((size_t)(n * d) * sizeof *att);
    double *tmp = malloc((size_t)(n * d) * sizeof *tmp);
    double *ff = malloc((size_t)(n * f) * sizeof *ff);
    double *nrm = malloc((size_t)(n * d) * sizeof *nrm);
    double *p = malloc((size_t)seq * sizeof *p);
    int rc = -1;
    if (!qkv || !att || !tmp || !ff || !nrm || !p)
        goto done;
    for (int64_t i = 0; i < n * d; i++)
        y[i] = x[i];
    for (int64_t li = 0; li < c->layers; li++) {
        const struct ref_layer *l = &w->layers[li];
        /* the sub-layers' input: y (post-LN) or LN1(y) (pre-LN) */
        memcpy(nrm, y, (size_t)(n * d) * sizeof *nrm);
        if (c->norm_first)
            layernorm(nrm, n, d, l->n1w, l->n1b, c->eps);
        linear(nrm, n, d, l->in_w, l->in_b, 3 * d, qkv);
        double *const *forms = w->forms ? w->forms + li * c->heads : NULL;
        if (probs && li == stop) {
            attention(c, qkv, nrm, forms, batch, seq, key_padding, att, p, probs);
            rc = 0;
            goto done;
        }
        attention(c, qkv, nrm, forms, batch, seq, key_padding, att, p, NULL);
        linear(att, n, d, l->out_w, l->out_b, d, tmp);
        for (int64_t i = 0; i < n * d; i++)
            y[i] += tmp[i];
        if (!c->norm_first)
            layernorm(y, n, d, l->n1w, l->n1b, c->eps);
        memcpy(nrm, y, (size_t)(n * d) * sizeof *nrm);
        if (c->norm_first)
            layernorm(nrm, n, d, l->n2w, l->n2b, c->eps);
        linear(nrm, n, d, l->w1, l->b1, f, ff);
        for (int64_t i = 0; i < n * f; i++)
            ff[i] = act(ff[i], c->act);
        linear(ff, n, f, l->w2, l->b2, d, tmp);
        for (int64_t i = 0; i < n * d; i++)
            y[i] += tmp[i];
        if (!c->norm_first)
            layernorm(y, n, d, l->n2w, l->n2b, c->eps);
    }
    if (w->norm_w)
        layernorm(y, n, d, w->norm_w, w->norm_b, c->eps);
    rc = 0;
done:
    free(qkv);
    free(att);
    free(tmp);
    free(ff);
    free(nrm);
    free(p);
    return rc;
}

int ref_encoder_forward(const struct ref_weights *w, int64_t batch, int64_t seq, const float *x,
                        const int32_t *key_padding, double *y)
{
    return forward(w, batch, seq, x, key_padding, y, -1, NULL);
}

int ref_encoder_attention(const struct ref_weights *w, int64_t seq, const float *x,
                          int64_t layer, double *probs)
{
    if (layer < 0 || layer >= w->cfg.layers)
        return -1;
    double *y = malloc((size_t)(seq * w->cfg.d_model) * sizeof *y);
    if (!y)
        return -1;
    int rc = forward(w, 1, seq, x, NULL, y, layer, probs);
    free(y);
    return rc;
}
