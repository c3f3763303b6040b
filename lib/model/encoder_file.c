/* The encoder's weights files: clf_encoder_load (PyTorch's state_dict
 * names, plus the optional FFN factors and activation-quantiser
 * parameters) and clf_encoder_save. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/ctx.h"
#include "encoder_internal.h"
#include "io.h"

/* Reads a named tensor of the file, checked against the expected shape,
 * into host (its element count). */
static enum clf_status read_checked(struct clf_ctx *ctx, struct clf_safetensors *st,
                                    const char *path, const char *name, int nd,
                                    const int64_t *shape, float *host)
{
    int fnd = 0;
    int64_t fshape[CLF_MAX_DIMS];
    enum clf_status s = clf_safetensors_shape(st, name, &fnd, fshape, NULL);
    if (s != CLF_OK)
        return clf_msg_to_ctx(ctx, s, clf_safetensors_last_error(st));
    bool same = fnd == nd;
    for (int i = 0; same && i < nd; i++)
        same = fshape[i] == shape[i];
    if (!same) {
        char want[64], got[64] = "";
        snprintf(want, sizeof want, nd == 2 ? "[%lld, %lld]" : "[%lld]", (long long)shape[0],
                 (long long)(nd == 2 ? shape[1] : 0));
        for (int i = 0, w = 0; i < fnd && w < (int)sizeof got - 24; i++)
            w += snprintf(got + w, sizeof got - (size_t)w, "%s%lld", i ? ", " : "",
                          (long long)fshape[i]);
        return clf_fail(ctx, CLF_E_SHAPE,
                        "%s: tensor '%s' has shape [%s]; the configuration needs %s", path,
                        name, got, want);
    }
    return clf_msg_to_ctx(ctx,
                          clf_safetensors_read(st, name, host,
                                               (size_t)(shape[0] * (nd == 2 ? shape[1] : 1))),
                          clf_safetensors_last_error(st));
}

/* read_checked into a new device tensor. */
static enum clf_status load_tensor(struct clf_ctx *ctx, struct clf_safetensors *st,
                                   const char *path, const char *name, int nd,
                                   const int64_t *shape, struct clf_tensor **out)
{
    size_t n = (size_t)(shape[0] * (nd == 2 ? shape[1] : 1));
    float *host = malloc(n * sizeof *host);
    if (!host)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for '%s'", name);
    enum clf_status s = read_checked(ctx, st, path, name, nd, shape, host);
    if (s == CLF_OK)
        s = clf_encoder_upload(ctx, nd, shape, host, out);
    free(host);
    return s;
}

/* How a weights file names its tensors: nn.TransformerEncoderLayer's names
 * for a lone layer (*bare), else nn.TransformerEncoder's "layers.N."
 * prefixes; layers beyond cfg->layers would be silently ignored, so they
 * are refused (CLF_E_SHAPE). *has_norm: the file has a final norm. */
static enum clf_status file_layout(struct clf_ctx *ctx, struct clf_safetensors *st,
                                   const char *path, const struct clf_encoder_config *cfg,
                                   bool *bare, bool *has_norm)
{
    int nd;
    int64_t shape[CLF_MAX_DIMS];
    char extra[64];
    *bare = cfg->layers == 1 &&
            clf_safetensors_shape(st, "self_attn.in_proj_weight", &nd, shape, NULL) == CLF_OK;
    *has_norm = clf_safetensors_shape(st, "norm.weight", &nd, shape, NULL) == CLF_OK;
    snprintf(extra, sizeof extra, "layers.%lld.self_attn.in_proj_weight", (long long)cfg->layers);
    if (!*bare && clf_safetensors_shape(st, extra, &nd, shape, NULL) == CLF_OK)
        return clf_fail(ctx, CLF_E_SHAPE, "%s holds more than the %lld layers configured", path,
                        (long long)cfg->layers);
    return CLF_OK;
}

/* The file's name of weight `name` of layer i. */
static void layer_name(char *buf, size_t size, bool bare, int64_t i, const char *name)
{
    if (bare)
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "layers.%lld.%s", (long long)i, name);
}

/* The FFN activation quantiser's parameters a weights file may hold per
 * layer (each a one-element tensor), overriding calibration:
 *   ffn_act.step   LSQ's s          ffn_act.alpha  BINARY's α, or PACT's α
 *   ffn_act.clip   PWL's c                         (unsigned LSQ: s = α/(2^b − 1))
 *   ffn_act.breakpoint  PWL's p
 * Names as the layer's others ("layers.N." prefix unless prefix is ""). A
 * parameter of another quantiser than the configured one is ignored. */
static enum clf_status load_actq(struct clf_ctx *ctx, struct clf_safetensors *st,
                                 const char *path, const char *prefix, int64_t layer,
                                 struct clf_actq *q)
{
    static const char *names[] = {"step", "alpha", "clip", "breakpoint"};
    for (size_t k = 0; k < 4 && q->kind != CLF_ACTQ_NONE; k++) {
        char name[96];
        if (prefix)
            snprintf(name, sizeof name, "%sffn_act.%s", prefix, names[k]);
        else
            snprintf(name, sizeof name, "layers.%lld.ffn_act.%s", (long long)layer, names[k]);
        int nd = 0;
        int64_t shape[CLF_MAX_DIMS];
        if (clf_safetensors_shape(st, name, &nd, shape, NULL) != CLF_OK)
            continue; /* absent: calibrated or given in the configuration */
        float v = 0;
        enum clf_status s = clf_safetensors_read(st, name, &v, 1);
        if (s != CLF_OK)
            return clf_fail(ctx, s, "%s: '%s' must hold one number", path, name);
        if (!(v > 0) || isinf(v))
            return clf_fail(ctx, CLF_E_FORMAT, "%s: '%s' is %g; it must be positive and finite",
                            path, name, (double)v);
        if (k == 0 && q->kind == CLF_ACTQ_LSQ)
            q->step = v;
        else if (k == 1 && q->kind == CLF_ACTQ_BINARY)
            q->alpha = v;
        else if (k == 1 && q->kind == CLF_ACTQ_LSQ && !q->is_signed)
            q->step = v / (float)((1 << q->bits) - 1);
        else if (k == 2 && q->kind == CLF_ACTQ_PWL)
            q->clip = v;
        else if (k == 3 && q->kind == CLF_ACTQ_PWL)
            q->breakpoint = v;
    }
    return CLF_OK;
}

/* The optional SVD factors of linear1 and linear2, "<prefix>linearK.lowrank.left"
 * [out, r] and ".right" [r, in], loaded when the configuration asks for SVD
 * or RSVD and the file holds them (then nothing is factorised); the rank is
 * the file's, and a configured rank must agree with it. */
static enum clf_status load_factors(struct clf_ctx *ctx, struct clf_safetensors *st,
                                    const char *path, const char *prefix,
                                    const struct clf_encoder_config *cfg, struct layer *l)
{
    if (cfg->ffn.format != CLF_FFN_SVD && cfg->ffn.format != CLF_FFN_RSVD)
        return CLF_OK;
    struct clf_tensor **dst[2][2] = {{&l->w1_l, &l->w1_r}, {&l->w2_l, &l->w2_r}};
    const int64_t outs[2] = {cfg->d_ff, cfg->d_model}, ins[2] = {cfg->d_model, cfg->d_ff};
    enum clf_status s = CLF_OK;
    for (int k = 0; s == CLF_OK && k < 2; k++) {
        char left[128], right[128];
        snprintf(left, sizeof left, "%slinear%d.lowrank.left", prefix, k + 1);
        snprintf(right, sizeof right, "%slinear%d.lowrank.right", prefix, k + 1);
        int nd = 0;
        int64_t shape[CLF_MAX_DIMS];
        if (clf_safetensors_shape(st, left, &nd, shape, NULL) != CLF_OK)
            continue; /* absent: factorised when prepared */
        const int64_t full = outs[k] < ins[k] ? outs[k] : ins[k];
        const int64_t r = nd == 2 ? shape[1] : 0;
        if (r < 1 || r > full)
            return clf_fail(ctx, CLF_E_SHAPE, "%s: '%s' must be [%lld, r] with 1 <= r <= %lld",
                            path, left, (long long)outs[k], (long long)full);
        const int64_t want = cfg->ffn.rank > full ? full : cfg->ffn.rank;
        if (want && want != r)
            return clf_fail(ctx, CLF_E_SHAPE,
                            "%s: '%s' has rank %lld; the configuration asks for %lld", path, left,
                            (long long)r, (long long)want);
        const int64_t ls[2] = {outs[k], r}, rs[2] = {r, ins[k]};
        s = load_tensor(ctx, st, path, left, 2, ls, dst[k][0]);
        if (s == CLF_OK)
            s = load_tensor(ctx, st, path, right, 2, rs, dst[k][1]);
    }
    return s;
}

/* The optional Tensor-Train cores of linear1 and linear2,
 * "<prefix>linearK.tt.core.J" [r_J, m_J, n_J, r_{J+1}], J = 0, 1, ...:
 * loaded when the configuration asks for TT and the file holds them; the
 * cores must chain (r_0 = r_d = 1, Π m = out, Π n = in). */
static enum clf_status load_tt(struct clf_ctx *ctx, struct clf_safetensors *st, const char *path,
                               const char *prefix, const struct clf_encoder_config *cfg,
                               struct layer *l)
{
    if (cfg->ffn.format != CLF_FFN_TT)
        return CLF_OK;
    struct clf_tt *dst[2] = {&l->tt1, &l->tt2};
    const int64_t outs[2] = {cfg->d_ff, cfg->d_model}, ins[2] = {cfg->d_model, cfg->d_ff};
    for (int k = 0; k < 2; k++) {
        struct clf_tt tt;
        memset(&tt, 0, sizeof tt);
        enum clf_status s = CLF_OK;
        char name[128];
        for (int j = 0; s == CLF_OK && j <= CLF_TT_MAX_D; j++) {
            snprintf(name, sizeof name, "%slinear%d.tt.core.%d", prefix, k + 1, j);
            int nd = 0;
            int64_t sh[CLF_MAX_DIMS];
            if (clf_safetensors_shape(st, name, &nd, sh, NULL) != CLF_OK)
                break;
            if (j == CLF_TT_MAX_D || nd != 4 || sh[0] != (j ? tt.r[j] : 1)) {
                s = clf_fail(ctx, CLF_E_SHAPE,
                             "%s: '%s' must be [r_%d, m, n, r_%d] chaining on the core before "
                             "it (at most %d cores)",
                             path, name, j, j + 1, CLF_TT_MAX_D);
                break;
            }
            size_t count = (size_t)(sh[0] * sh[1] * sh[2] * sh[3]);
            float *h = malloc(count * sizeof *h);
            tt.cores[j] = malloc(count * sizeof *tt.cores[j]);
            s = h && tt.cores[j]
                    ? clf_msg_to_ctx(ctx, clf_safetensors_read(st, name, h, count),
                                     clf_safetensors_last_error(st))
                    : clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for '%s'", name);
            for (size_t e = 0; s == CLF_OK && e < count; e++)
                tt.cores[j][e] = h[e];
            free(h);
            tt.r[j] = sh[0], tt.m[j] = sh[1], tt.n[j] = sh[2], tt.r[j + 1] = sh[3];
            tt.d = j + 1;
        }
        int64_t pm = 1, pn = 1;
        for (int j = 0; j < tt.d; j++)
            pm *= tt.m[j], pn *= tt.n[j];
        if (s == CLF_OK && tt.d && (pm != outs[k] || pn != ins[k] || tt.r[tt.d] != 1))
            s = clf_fail(ctx, CLF_E_SHAPE,
                         "%s: the TT cores of linear%d give a [%lld, %lld] matrix ending in rank "
                         "%lld; the configuration needs [%lld, %lld] and 1",
                         path, k + 1, (long long)pm, (long long)pn, (long long)tt.r[tt.d],
                         (long long)outs[k], (long long)ins[k]);
        if (s == CLF_OK && tt.d)
            s = clf_tt_check(ctx, &tt);
        if (s != CLF_OK) {
            clf_tt_free(&tt);
            return s;
        }
        *dst[k] = tt; /* d = 0 when absent: made when prepared */
    }
    return CLF_OK;
}

enum clf_status clf_encoder_load(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                 const char *path, struct clf_encoder **out)
{
    struct clf_encoder *enc = NULL;
    struct clf_safetensors *st = NULL;
    enum clf_status s = clf_encoder_new(ctx, cfg, out, &enc);
    if (s != CLF_OK)
        return s;
    cfg = &enc->cfg; /* the caller's, as clf_encoder_new read it */
    if (!path) {
        clf_encoder_destroy(enc);
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL weights path");
    }
    char msg[1024];
    s = clf_msg_to_ctx(ctx, clf_safetensors_open(path, &st, msg, sizeof msg), msg);
    if (s != CLF_OK) {
        clf_encoder_destroy(enc);
        return s;
    }
    bool bare = false, has_norm = false;
    s = file_layout(ctx, st, path, cfg, &bare, &has_norm);
    for (int64_t i = 0; s == CLF_OK && i < cfg->layers; i++) {
        for (size_t w = 0; s == CLF_OK && w < N_WEIGHTS; w++) {
            char name[128];
            layer_name(name, sizeof name, bare, i, clf_encoder_weight_table[w].name);
            int64_t ws[2];
            int wnd = clf_encoder_weight_shape(cfg, &clf_encoder_weight_table[w], ws);
            s = load_tensor(ctx, st, path, name, wnd, ws, clf_encoder_slot(&enc->layers[i], &clf_encoder_weight_table[w]));
        }
        char prefix[48] = "";
        if (!bare)
            snprintf(prefix, sizeof prefix, "layers.%lld.", (long long)i);
        if (s == CLF_OK)
            s = load_actq(ctx, st, path, bare ? "" : NULL, i, &enc->layers[i].actq);
        if (s == CLF_OK)
            s = load_factors(ctx, st, path, prefix, cfg, &enc->layers[i]);
        if (s == CLF_OK)
            s = load_tt(ctx, st, path, prefix, cfg, &enc->layers[i]);
    }
    int64_t d = cfg->d_model;
    if (s == CLF_OK && has_norm) {
        s = load_tensor(ctx, st, path, "norm.weight", 1, &d, &enc->norm_w);
        if (s == CLF_OK)
            s = load_tensor(ctx, st, path, "norm.bias", 1, &d, &enc->norm_b);
    }
    clf_safetensors_close(st);
    if (s == CLF_OK)
        s = clf_encoder_prepare(enc);
    if (s != CLF_OK) {
        clf_encoder_destroy(enc);
        return s;
    }
    *out = enc;
    return CLF_OK;
}

/* The file reader's state (encoder_internal.h). */
struct file_src {
    struct clf_ctx *ctx;
    struct clf_encoder_config cfg;
    struct clf_safetensors *st;
    char *path;
    bool bare;
};

static void close_file(void *self)
{
    struct file_src *f = self;
    if (!f)
        return;
    clf_safetensors_close(f->st);
    free(f->path);
    free(f);
}

static enum clf_status read_file(void *self, int layer, const char *name, float *dst,
                                 size_t count)
{
    struct file_src *f = self;
    const struct weight_desc *wd = NULL;
    for (size_t w = 0; layer >= 0 && w < N_WEIGHTS; w++)
        if (!strcmp(name, clf_encoder_weight_table[w].name))
            wd = &clf_encoder_weight_table[w];
    int64_t shape[2] = {f->cfg.d_model, 0};
    int nd = wd ? clf_encoder_weight_shape(&f->cfg, wd, shape) : 1;
    char full[128];
    if (layer >= 0)
        layer_name(full, sizeof full, f->bare, layer, name);
    else
        snprintf(full, sizeof full, "%s", name);
    if ((layer >= 0 && !wd) || layer >= f->cfg.layers ||
        count != (size_t)(shape[0] * (nd == 2 ? shape[1] : 1)))
        return clf_fail(f->ctx, CLF_E_INVALID_ARG, "%s: no weight '%s' of %lld floats", f->path,
                        full, (long long)count);
    return read_checked(f->ctx, f->st, f->path, full, nd, shape, dst);
}

enum clf_status clf_encoder_file_reader(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                        const char *path, struct clf_weight_reader *r)
{
    memset(r, 0, sizeof *r);
    if (!path)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL weights path");
    struct file_src *f = calloc(1, sizeof *f);
    if (f)
        f->path = strdup(path);
    if (!f || !f->path) {
        close_file(f);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to read %s", path);
    }
    f->ctx = ctx;
    f->cfg = *cfg;
    bool has_norm = false;
    char msg[1024];
    enum clf_status s = clf_msg_to_ctx(ctx, clf_safetensors_open(path, &f->st, msg, sizeof msg), msg);
    if (s == CLF_OK)
        s = file_layout(ctx, f->st, path, cfg, &f->bare, &has_norm);
    if (s != CLF_OK) {
        close_file(f);
        return s;
    }
    *r = (struct clf_weight_reader){read_file, close_file, f, has_norm};
    return CLF_OK;
}

/* The tensors clf_encoder_save writes, their names and host copies. */
struct save_list {
    struct clf_safetensors_entry *e;
    char (*names)[96];
    int64_t (*shapes)[CLF_MAX_DIMS];
    float **data;
    size_t n, cap;
};

/* Adds host data (count doubles, as f32) of shape [ndim] as name. */
static enum clf_status save_host(struct clf_ctx *ctx, struct save_list *sl, const char *name,
                                 const double *data, int ndim, const int64_t *shape)
{
    if (sl->n == sl->cap)
        return clf_fail(ctx, CLF_E_STATE, "encoder save: too many tensors");
    size_t i = sl->n, count = 1;
    for (int k = 0; k < ndim; k++)
        count *= (size_t)shape[k];
    float *h = malloc(count * sizeof *h);
    if (!h)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to save '%s'", name);
    for (size_t e = 0; e < count; e++)
        h[e] = (float)data[e];
    snprintf(sl->names[i], sizeof sl->names[i], "%s", name);
    memcpy(sl->shapes[i], shape, (size_t)ndim * sizeof *shape);
    sl->data[i] = h;
    sl->e[i] = (struct clf_safetensors_entry){sl->names[i], h, ndim, sl->shapes[i]};
    sl->n++;
    return CLF_OK;
}

/* Adds a device tensor t (copied to the host) as name, or a scalar when t
 * is NULL. */
static enum clf_status save_add(struct clf_ctx *ctx, struct save_list *sl, const char *name,
                                struct clf_tensor *t, float scalar)
{
    if (sl->n == sl->cap)
        return clf_fail(ctx, CLF_E_STATE, "encoder save: too many tensors");
    size_t i = sl->n;
    int nd = t ? clf_tensor_ndim(t) : 1;
    size_t count = t ? (size_t)clf_tensor_numel(t) : 1;
    float *h = malloc(count * sizeof *h);
    if (!h)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to save '%s'", name);
    enum clf_status st = CLF_OK;
    if (t)
        st = clf_tensor_read(t, h, count * sizeof *h);
    else
        h[0] = scalar;
    if (st != CLF_OK) {
        free(h);
        return st;
    }
    snprintf(sl->names[i], sizeof sl->names[i], "%s", name);
    for (int k = 0; k < nd; k++)
        sl->shapes[i][k] = t ? clf_tensor_dim(t, k) : 1;
    sl->data[i] = h;
    sl->e[i].name = sl->names[i];
    sl->e[i].data = h;
    sl->e[i].ndim = nd;
    sl->e[i].shape = sl->shapes[i];
    sl->n++;
    return CLF_OK;
}

enum clf_status clf_encoder_save(struct clf_encoder *enc, const char *path)
{
    if (!enc)
        return CLF_E_INVALID_ARG;
    if (!path)
        return clf_fail(enc->ctx, CLF_E_INVALID_ARG, "NULL path");
    if (enc->modern) /* clf_encoder_load has no form for its gated FFN and rotary tables */
        return clf_fail(enc->ctx, CLF_E_UNSUPPORTED,
                        "cannot save ModernBERT's layers as an encoder file: load the model "
                        "folder itself");
    struct save_list sl = {0};
    sl.cap = (size_t)enc->cfg.layers * (N_WEIGHTS + 8 + 2 * CLF_TT_MAX_D) + 2;
    sl.e = calloc(sl.cap, sizeof *sl.e);
    sl.names = calloc(sl.cap, sizeof *sl.names);
    sl.shapes = calloc(sl.cap, sizeof *sl.shapes);
    sl.data = calloc(sl.cap, sizeof *sl.data);
    enum clf_status st = sl.e && sl.names && sl.shapes && sl.data
                             ? CLF_OK
                             : clf_fail(enc->ctx, CLF_E_OUT_OF_MEMORY, "no host memory to save");
    for (int64_t i = 0; st == CLF_OK && i < enc->cfg.layers; i++) {
        struct layer *l = &enc->layers[i];
        char name[96];
        for (size_t w = 0; st == CLF_OK && w < N_WEIGHTS; w++) {
            snprintf(name, sizeof name, "layers.%lld.%s", (long long)i,
                     clf_encoder_weight_table[w].name);
            if (!*clf_encoder_slot(l, &clf_encoder_weight_table[w])) {
                st = clf_fail(enc->ctx, CLF_E_STATE,
                              "cannot save '%s': dropped after preparation (drop_dense)", name);
                break;
            }
            st = save_add(enc->ctx, &sl, name,
                          *clf_encoder_slot(l, &clf_encoder_weight_table[w]), 0);
        }
        struct clf_tensor *factors[4] = {l->w1_l, l->w1_r, l->w2_l, l->w2_r};
        for (int k = 0; st == CLF_OK && k < 4 && factors[k]; k++) {
            snprintf(name, sizeof name, "layers.%lld.linear%d.lowrank.%s", (long long)i,
                     k / 2 + 1, k % 2 ? "right" : "left");
            st = save_add(enc->ctx, &sl, name, factors[k], 0);
        }
        const struct clf_tt *tts[2] = {&l->tt1, &l->tt2};
        for (int k = 0; k < 2; k++)
            for (int j = 0; st == CLF_OK && j < tts[k]->d; j++) {
                const struct clf_tt *t = tts[k];
                const int64_t sh[4] = {t->r[j], t->m[j], t->n[j], t->r[j + 1]};
                snprintf(name, sizeof name, "layers.%lld.linear%d.tt.core.%d", (long long)i,
                         k + 1, j);
                st = save_host(enc->ctx, &sl, name, t->cores[j], 4, sh);
            }
        /* the activation quantiser's parameters, as load_actq reads them */
        const struct clf_actq *q = &l->actq;
        const struct {
            const char *what;
            float v;
        } params[] = {{"step", q->kind == CLF_ACTQ_LSQ ? q->step : 0},
                      {"alpha", q->kind == CLF_ACTQ_BINARY ? q->alpha : 0},
                      {"clip", q->kind == CLF_ACTQ_PWL ? q->clip : 0},
                      {"breakpoint", q->kind == CLF_ACTQ_PWL ? q->breakpoint : 0}};
        for (size_t k = 0; st == CLF_OK && k < 4; k++) {
            if (!(params[k].v > 0))
                continue;
            snprintf(name, sizeof name, "layers.%lld.ffn_act.%s", (long long)i, params[k].what);
            st = save_add(enc->ctx, &sl, name, NULL, params[k].v);
        }
    }
    if (st == CLF_OK && enc->norm_w)
        st = save_add(enc->ctx, &sl, "norm.weight", enc->norm_w, 0);
    if (st == CLF_OK && enc->norm_b)
        st = save_add(enc->ctx, &sl, "norm.bias", enc->norm_b, 0);
    if (st == CLF_OK)
    {
        char msg[1024];
        st = clf_msg_to_ctx(enc->ctx, clf_safetensors_write(path, sl.e, sl.n, msg, sizeof msg),
                            msg);
    }
    for (size_t i = 0; i < sl.n; i++)
        free(sl.data[i]);
    free(sl.e), free(sl.names), free(sl.shapes), free(sl.data);
    return st;
}
