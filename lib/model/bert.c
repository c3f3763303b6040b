/*
 * A Hugging Face BERT model (e.g. all-MiniLM-L6-v2) on the encoder stack.
 *
 * BertModel at inference (dropout = identity), Devlin et al. 2019:
 *   e = LN_emb(W_word[ids] + W_type[0] + W_pos[0..seq))           [batch, seq, d]
 *   h = post-LN encoder layers (encoder.c) on e, padded keys masked
 * Each BERT layer is a post-LN nn.TransformerEncoderLayer with GELU:
 *   in_proj  = concat(attention.self.query, .key, .value)   [3d, d], [3d]
 *   out_proj = attention.output.dense                       [d, d]
 *   norm1    = attention.output.LayerNorm                   [d]
 *   linear1  = intermediate.dense                           [d_ff, d]
 *   linear2  = output.dense                                 [d, d_ff]
 *   norm2    = output.LayerNorm                             [d]
 * The attention mask (1 = token) becomes the encoder's key padding (mask
 * == 0) on the device (clf_pooling_key_padding). HF adds the mask as a large
 * negative bias before the softmax; the encoder leaves padded keys out of
 * it, the same up to exp(-3.4e38) = 0. Token types are always 0 (one text
 * per row), as sentence-transformers passes them; the sum is formed in
 * HF's order (word + type, then + position). ModernBERT (model_type
 * "modernbert") shares the loader and the forward shape but not the layer:
 * see struct bert_arch and load_modern.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../graph/graph.h"
#include "../ops/pooling.h"
#include "../ops/rows.h"
#include "../runtime/ctx.h"
#include "../runtime/abi.h"
#include "../runtime/env.h"
#include "bert_config.h"
#include "bert_ragged.h"
#include "encoder_internal.h"
#include "io.h"

struct clf_bert {
    struct clf_ctx *ctx;
    struct clf_encoder_config cfg;  /* the encoder's (config.json's sizes) */
    struct clf_encoder *enc;        /* NULL: the embeddings only (clf_bert_load_tp) */
    struct clf_tensor *word;       /* [V, d] */
    struct clf_tensor *pos;        /* [P, d]: rows 0.. (a view past RoBERTa's offset) */
    struct clf_tensor *pos_table;  /* the whole table under such a view, else NULL */
    struct clf_tensor *type0;      /* [d]: token type 0's row */
    struct clf_tensor *ln_w, *ln_b; /* [d] */
    int64_t vocab, max_pos;
    /* the caller checks the ids on the host before writing them (the
     * data-parallel runner's replicas, clf_bert_set_ids_checked): its
     * graphs leave out the embedding's own check, which waits for the ids
     * and reads them back at every run, and cannot be recorded */
    bool ids_checked;
};

/* ------------------------------------------------------------------------ */
/* config.json                                                              */
/* ------------------------------------------------------------------------ */

/* What differs between the architectures loaded here (config.json's
 * model_type): its keys and its tensors' names. Both are post-LN encoders
 * with learned positions; DistilBERT (Sanh et al. 2019) has no token types
 * and no configurable LayerNorm eps (1e-12), and scales Q before Q·Kᵀ
 * rather than the product (the same up to rounding). RoBERTa and
 * XLM-RoBERTa (Liu et al. 2019; Conneau et al. 2020) are BERT with
 * positions counted from padding_idx + 1 (pad_token_id + 1, default 2):
 * token t of a right-padded text takes row t + 2 (padding rows take
 * another row in Hugging Face, which no token attends to or pools). MPNet
 * (Song et al. 2020) is RoBERTa's embeddings without token types (its
 * padding_idx fixed at 1) and BERT's layers under other names, with a
 * relative position bias added to every layer's scaled scores:
 * bias[h, i, j] = relative_attention_bias[bucket(j - i), h]
 * (clf_mpnet_bucket), one table for the whole encoder. ModernBERT
 * (Warner et al. 2024) is another kind: token embeddings and a LayerNorm
 * without bias, pre-LN layers with rotary positions, sliding windows on its
 * local layers and a gated FFN, a final LayerNorm (load_modern). */
struct bert_arch {
    const char *model_type;
    const char *prefix;     /* the tensors' prefix, when the file has one */
    const char *k_d, *k_heads, *k_d_ff, *k_layers, *k_act;
    const char *layer;      /* layer i's tensors' prefix, a format of i */
    int names;              /* its column of layer_map's names */
    bool token_types, eps;  /* a token type table; a layer_norm_eps key */
    int pos_offset;         /* positions from 0; 1: from pad_token_id + 1 (RoBERTa);
                               2: from 2 (MPNet) */
    bool rel_bias;          /* encoder.relative_attention_bias (MPNet) */
    bool modern;            /* ModernBERT's layers (see load_modern) */
};

static const struct bert_arch archs[] = {
    {"bert", "bert.", "hidden_size", "num_attention_heads", "intermediate_size",
     "num_hidden_layers", "hidden_act", "encoder.layer.%lld.", 0, true, true, 0, false, false},
    {"distilbert", "distilbert.", "dim", "n_heads", "hidden_dim", "n_layers", "activation",
     "transformer.layer.%lld.", 1, false, false, 0, false, false},
    {"roberta", "roberta.", "hidden_size", "num_attention_heads", "intermediate_size",
     "num_hidden_layers", "hidden_act", "encoder.layer.%lld.", 0, true, true, 1, false, false},
    {"xlm-roberta", "roberta.", "hidden_size", "num_attention_heads", "intermediate_size",
     "num_hidden_layers", "hidden_act", "encoder.layer.%lld.", 0, true, true, 1, false, false},
    {"mpnet", "mpnet.", "hidden_size", "num_attention_heads", "intermediate_size",
     "num_hidden_layers", "hidden_act", "encoder.layer.%lld.", 2, false, true, 2, true, false},
    {"modernbert", "model.", "hidden_size", "num_attention_heads", "intermediate_size",
     "num_hidden_layers", "hidden_activation", "layers.%lld.", 0, false, false, 0, false, true},
};
#define N_ARCHS (sizeof archs / sizeof archs[0])

/* config.json's architecture: its model_type's (none: BERT, as older
 * configs have it), or NULL for another. */
static const struct bert_arch *arch_of(const cJSON *config)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(config, "model_type");
    if (!mt)
        return &archs[0];
    for (size_t i = 0; cJSON_IsString(mt) && i < N_ARCHS; i++)
        if (!strcmp(mt->valuestring, archs[i].model_type))
            return &archs[i];
    return NULL;
}

/* The first position's row into *off: 0, RoBERTa's pad_token_id + 1
 * (default 1 + 1), which must leave a row for a token, or MPNet's 2. False
 * when pad_token_id is malformed. */
static bool position_offset(const struct bert_arch *a, const cJSON *config, int64_t max_pos,
                            int64_t *off)
{
    *off = 0;
    if (!a->pos_offset)
        return true;
    if (a->pos_offset == 2) { /* MPNetEmbeddings' padding_idx is 1 whatever the config says */
        *off = 2;
        return max_pos > 2;
    }
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(config, "pad_token_id");
    double pv = pad ? (cJSON_IsNumber(pad) ? pad->valuedouble : -1) : 1;
    if (!(pv >= 0 && pv < (double)max_pos - 2) || pv != floor(pv))
        return false;
    *off = (int64_t)pv + 1;
    return true;
}

int clf_mpnet_bucket(int64_t rel)
{
    const int half = 16, max_exact = 8; /* 32 buckets, 16 per direction */
    const int ret = rel > 0 ? half : 0;  /* a key after its query */
    const int64_t n = rel < 0 ? -rel : rel;
    if (n < max_exact)
        return ret + (int)n;
    /* in float32, operation by operation, as torch */
    const float v =
        logf((float)n / (float)max_exact) / (float)log(16.0) * (float)(half - max_exact);
    const int large = max_exact + (int)v;
    return ret + (large < half - 1 ? large : half - 1);
}

int64_t clf_bert_text_positions(const cJSON *config, int64_t max_pos)
{
    const struct bert_arch *a = arch_of(config);
    int64_t off = 0;
    return a && position_offset(a, config, max_pos, &off) ? max_pos - off : max_pos;
}

/* ModernBERT's tensors read first (sizes checked before anything is made). */
#define MODERN_QKV "attn.Wqkv.weight"
#define MODERN_WI "mlp.Wi.weight"

/* The sizes config.json gives. */
struct bert_sizes {
    const struct bert_arch *arch;
    int64_t d, heads, d_ff, layers, vocab, max_pos, types; /* types 0: none */
    int64_t buckets;        /* relative_attention_num_buckets (MPNet) */
    /* ModernBERT: rotary theta of global and local layers, every n-th
     * layer global (from 0), a local layer's keys |i − j| <= window */
    double rope_global, rope_local;
    int64_t every_n, window;
    int64_t pos_offset;     /* the first position's row (RoBERTa: pad_token_id + 1) */
    enum clf_act act;
    double eps;
};

/* An integer field >= 1 of the configuration; def < 0: required. */
static enum clf_status get_int(struct clf_ctx *ctx, const cJSON *root, const char *path,
                               const char *key, int64_t def, int64_t hi, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v && def >= 0) {
        *out = def;
        return CLF_OK;
    }
    if (!v)
        return clf_fail(ctx, CLF_E_FORMAT, "%s: no \"%s\"", path, key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(x >= 1 && x <= (double)hi) || x != floor(x))
        return clf_fail(ctx, CLF_E_FORMAT, "%s: \"%s\" must be an integer from 1 to %lld", path,
                        key, (long long)hi);
    *out = (int64_t)x;
    return CLF_OK;
}

/* A positive number of the configuration (def when absent; null too where
 * null_def). */
static enum clf_status get_double(struct clf_ctx *ctx, const cJSON *root, const char *path,
                                  const char *key, double def, bool null_def, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = def;
    if (!v || (null_def && cJSON_IsNull(v)))
        return CLF_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return clf_fail(ctx, CLF_E_FORMAT, "%s: \"%s\" must be a positive number", path, key);
    *out = v->valuedouble;
    return CLF_OK;
}

/* ModernBERT's keys (ModernBertConfig's defaults): its layer pattern and
 * rotary thetas; the biases it can have and rope_scaling are refused. */
static enum clf_status read_modern_config(struct clf_ctx *ctx, const cJSON *root,
                                          const char *path, struct bert_sizes *s)
{
    enum clf_status st = get_double(ctx, root, path, "global_rope_theta", 160000.0, false,
                                    &s->rope_global);
    const bool has_local = cJSON_GetObjectItemCaseSensitive(root, "local_rope_theta") != NULL;
    if (st == CLF_OK) /* absent: 10000; null: the global layers' */
        st = get_double(ctx, root, path, "local_rope_theta",
                        has_local ? s->rope_global : 10000.0, true, &s->rope_local);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, "global_attn_every_n_layers", 3, 1 << 20, &s->every_n);
    int64_t local = 0;
    if (st == CLF_OK)
        st = get_int(ctx, root, path, "local_attention", 128, 1 << 20, &local);
    s->window = local / 2;
    static const char *const biases[] = {"attention_bias", "mlp_bias", "norm_bias"};
    for (size_t i = 0; st == CLF_OK && i < sizeof biases / sizeof biases[0]; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, biases[i])))
            st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                          "%s: ModernBERT with \"%s\" true is not supported", path, biases[i]);
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (st == CLF_OK && scaling && !cJSON_IsNull(scaling))
        st = clf_fail(ctx, CLF_E_UNSUPPORTED, "%s: \"rope_scaling\" is not supported", path);
    return st;
}

static enum clf_status read_config(struct clf_ctx *ctx, const char *path, struct bert_sizes *s)
{
    char *text = NULL;
    char why[512];
    struct clf_msg m = clf_msg_init(why, sizeof why);
    enum clf_status st = clf_io_read_text(&m, path, &text);
    if (st != CLF_OK)
        return clf_msg_to_ctx(ctx, st, why);
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return clf_fail(ctx, CLF_E_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    s->arch = arch_of(root);
    if (!s->arch) {
        char names[128] = "";
        for (size_t i = 0, n = 0; i < N_ARCHS; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  archs[i].model_type);
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "%s: model_type \"%s\" is not supported (supported: %s)", path,
                      cJSON_IsString(mt) ? mt->valuestring : "?", names);
        cJSON_Delete(root);
        return st;
    }
    const struct bert_arch *a = s->arch;
    st = get_int(ctx, root, path, a->k_d, -1, 1 << 16, &s->d);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, a->k_heads, -1, 1 << 12, &s->heads);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, a->k_d_ff, -1, 1 << 20, &s->d_ff);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, a->k_layers, -1, 1024, &s->layers);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, "vocab_size", -1, 1 << 24, &s->vocab);
    if (st == CLF_OK)
        st = get_int(ctx, root, path, "max_position_embeddings", a->modern ? 8192 : 512,
                     1 << 20, &s->max_pos);
    s->types = 0;
    if (st == CLF_OK && !position_offset(a, root, s->max_pos, &s->pos_offset))
        st = clf_fail(ctx, CLF_E_FORMAT,
                      "%s: \"pad_token_id\" must be an integer from 0 to "
                      "max_position_embeddings - 3 (and max_position_embeddings above 2)",
                      path);
    if (st == CLF_OK && a->token_types)
        st = get_int(ctx, root, path, "type_vocab_size", 2, 1 << 16, &s->types);
    s->buckets = 0;
    if (st == CLF_OK && a->rel_bias)
        st = get_int(ctx, root, path, "relative_attention_num_buckets", 32, 1 << 16, &s->buckets);
    if (st == CLF_OK && a->rel_bias && s->buckets < 32) /* Hugging Face indexes 32 */
        st = clf_fail(ctx, CLF_E_FORMAT,
                      "%s: \"relative_attention_num_buckets\" %lld: MPNet uses 32 buckets", path,
                      (long long)s->buckets);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, a->k_act);
    const char *an = act ? cJSON_GetStringValue(act) : "gelu";
    if (st == CLF_OK && !an)
        st = clf_fail(ctx, CLF_E_FORMAT, "%s: \"%s\" must be a string", path, a->k_act);
    else if (st == CLF_OK && !strcmp(an, "gelu"))
        s->act = CLF_ACT_GELU;
    else if (st == CLF_OK && (!strcmp(an, "gelu_new") || !strcmp(an, "gelu_pytorch_tanh")))
        s->act = CLF_ACT_GELU_TANH;
    else if (st == CLF_OK && !strcmp(an, "relu"))
        s->act = CLF_ACT_RELU;
    else if (st == CLF_OK)
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "%s: %s \"%s\" is not supported (gelu, gelu_new, "
                      "gelu_pytorch_tanh, relu)",
                      path, a->k_act, an);
    const cJSON *eps = a->eps      ? cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps")
                       : a->modern ? cJSON_GetObjectItemCaseSensitive(root, "norm_eps")
                                   : NULL;
    s->eps = a->modern ? 1e-5 : 1e-12; /* the configs' defaults, DistilBERT's constant */
    if (st == CLF_OK && eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1)
            st = clf_fail(ctx, CLF_E_FORMAT, "%s: \"%s\" must be a number in (0, 1]", path,
                          eps->string);
        else
            s->eps = eps->valuedouble;
    }
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(root, "position_embedding_type");
    if (st == CLF_OK && pe && (!cJSON_IsString(pe) || strcmp(pe->valuestring, "absolute")))
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "%s: only absolute (learned) position embeddings are supported", path);
    if (st == CLF_OK && a->modern)
        st = read_modern_config(ctx, root, path, s);
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------------------ */
/* model.safetensors                                                        */
/* ------------------------------------------------------------------------ */

/* The open weights file and the name prefix its tensors carry ("" or
 * "bert."). */
struct weights {
    struct clf_ctx *ctx;
    struct clf_safetensors *st;
    const char *path;
    const char *prefix;
    const struct bert_arch *arch;
};

/* Layer i's tensor `name` (after its prefix) in the file's naming, into
 * buf. */
static void layer_tensor(const struct weights *w, int64_t i, const char *name, char *buf,
                         size_t size)
{
    char lp[64];
    snprintf(lp, sizeof lp, w->arch->layer, (long long)i);
    snprintf(buf, size, "%s%s", lp, name);
}

/* Checks that tensor prefix+name has shape [rows] (cols 0) or [rows, cols];
 * full receives the name. */
static enum clf_status check_weight(struct weights *w, const char *name, int64_t rows,
                                    int64_t cols, char full[160])
{
    snprintf(full, 160, "%s%s", w->prefix, name);
    int nd = 0;
    int64_t shape[CLF_MAX_DIMS];
    if (clf_safetensors_shape(w->st, full, &nd, shape, NULL) != CLF_OK)
        return clf_fail(w->ctx, CLF_E_FORMAT, "%s: no tensor '%s'", w->path, full);
    const int want_nd = cols ? 2 : 1;
    if (nd != want_nd || shape[0] != rows || (cols && shape[1] != cols)) {
        char want[64], got[96] = "";
        snprintf(want, sizeof want, cols ? "[%lld, %lld]" : "[%lld]", (long long)rows,
                 (long long)cols);
        for (int i = 0, n = 0; i < nd && n < (int)sizeof got - 24; i++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", i ? ", " : "",
                          (long long)shape[i]);
        return clf_fail(w->ctx, CLF_E_SHAPE,
                        "%s: tensor '%s' has shape [%s]; config.json needs %s", w->path, full,
                        got, want);
    }
    return CLF_OK;
}

/* Reads tensor prefix+name, which must have shape [rows] (cols 0) or
 * [rows, cols], into host (rows·max(cols, 1) floats). */
static enum clf_status read_weight(struct weights *w, const char *name, int64_t rows,
                                   int64_t cols, float *host)
{
    char full[160];
    enum clf_status st = check_weight(w, name, rows, cols, full);
    if (st != CLF_OK)
        return st;
    size_t count = (size_t)(rows * (cols ? cols : 1));
    return clf_msg_to_ctx(w->ctx, clf_safetensors_read(w->st, full, host, count),
                          clf_safetensors_last_error(w->st));
}

/* A weight being read into its device tensor (clf_encoder_upload_fill):
 * tensor name of shape [rows] or [rows, cols], or encoder weight m of
 * layer (Q, K and V stacked where m says so). */
struct weight_fill {
    struct weights *w;
    const char *name;
    int64_t rows, cols;
    const struct clf_encoder_config *cfg;
    int64_t layer;
    size_t m;
    const struct weight_desc *wd;
};

static enum clf_status fill_weight(void *user, void *dst, size_t bytes)
{
    const struct weight_fill *f = user;
    (void)bytes; /* the tensor was made with the weight's shape */
    return read_weight(f->w, f->name, f->rows, f->cols, dst);
}

/* Reads a weight into a new device tensor *out. */
static enum clf_status load_weight(struct weights *w, const char *name, int64_t rows,
                                   int64_t cols, struct clf_tensor **out)
{
    struct weight_fill f = {w, name, rows, cols, NULL, 0, 0, NULL};
    const int64_t shape[2] = {rows, cols};
    return clf_encoder_upload_fill(w->ctx, cols ? 2 : 1, shape, fill_weight, &f, out);
}

/* An encoder weight and the tensors (after layer i's prefix) it is made
 * of, per architecture (struct bert_arch's names: BERT, DistilBERT): one,
 * or three stacked along the rows (Q, K, V). */
static const struct {
    const char *encoder_name;
    const char *names[3][3]; /* BERT, DistilBERT, MPNet */
} layer_map[] = {
    {"self_attn.in_proj_weight",
     {{"attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight"},
      {"attention.q_lin.weight", "attention.k_lin.weight", "attention.v_lin.weight"},
      {"attention.attn.q.weight", "attention.attn.k.weight", "attention.attn.v.weight"}}},
    {"self_attn.in_proj_bias",
     {{"attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias"},
      {"attention.q_lin.bias", "attention.k_lin.bias", "attention.v_lin.bias"},
      {"attention.attn.q.bias", "attention.attn.k.bias", "attention.attn.v.bias"}}},
    {"self_attn.out_proj.weight",
     {{"attention.output.dense.weight"}, {"attention.out_lin.weight"}, {"attention.attn.o.weight"}}},
    {"self_attn.out_proj.bias",
     {{"attention.output.dense.bias"}, {"attention.out_lin.bias"}, {"attention.attn.o.bias"}}},
    {"norm1.weight",
     {{"attention.output.LayerNorm.weight"}, {"sa_layer_norm.weight"}, {"attention.LayerNorm.weight"}}},
    {"norm1.bias",
     {{"attention.output.LayerNorm.bias"}, {"sa_layer_norm.bias"}, {"attention.LayerNorm.bias"}}},
    {"linear1.weight", {{"intermediate.dense.weight"}, {"ffn.lin1.weight"}, {"intermediate.dense.weight"}}},
    {"linear1.bias", {{"intermediate.dense.bias"}, {"ffn.lin1.bias"}, {"intermediate.dense.bias"}}},
    {"linear2.weight", {{"output.dense.weight"}, {"ffn.lin2.weight"}, {"output.dense.weight"}}},
    {"linear2.bias", {{"output.dense.bias"}, {"ffn.lin2.bias"}, {"output.dense.bias"}}},
    {"norm2.weight", {{"output.LayerNorm.weight"}, {"output_layer_norm.weight"}, {"output.LayerNorm.weight"}}},
    {"norm2.bias", {{"output.LayerNorm.bias"}, {"output_layer_norm.bias"}, {"output.LayerNorm.bias"}}},
};
_Static_assert(sizeof layer_map / sizeof layer_map[0] == N_WEIGHTS, "every encoder weight mapped");

/* The encoder's table entry of layer_map[m] (NULL: none, a bug). */
static const struct weight_desc *map_desc(size_t m)
{
    for (size_t k = 0; k < N_WEIGHTS; k++)
        if (!strcmp(clf_encoder_weight_table[k].name, layer_map[m].encoder_name))
            return &clf_encoder_weight_table[k];
    return NULL;
}

/* Encoder weight wd = map_desc(m) of layer i read into host (its shape is
 * the table's): one BERT tensor, or Q, K and V stacked along the rows. */
static enum clf_status read_layer_weight(struct weights *w, const struct clf_encoder_config *c,
                                         int64_t i, size_t m, const struct weight_desc *wd,
                                         float *host)
{
    int64_t shape[2];
    const int nd = clf_encoder_weight_shape(c, wd, shape);
    const char *const *names = layer_map[m].names[w->arch->names];
    const int parts = names[1] ? 3 : 1;
    const int64_t rows = shape[0] / parts, cols = nd == 2 ? shape[1] : 0;
    const size_t part = (size_t)(rows * (cols ? cols : 1));
    enum clf_status st = CLF_OK;
    for (int p = 0; st == CLF_OK && p < parts; p++) {
        char name[128];
        layer_tensor(w, i, names[p], name, sizeof name);
        st = read_weight(w, name, rows, cols, host + (size_t)p * part);
    }
    return st;
}

static enum clf_status fill_layer_weight(void *user, void *dst, size_t bytes)
{
    const struct weight_fill *f = user;
    (void)bytes; /* the tensor was made with the weight's shape */
    return read_layer_weight(f->w, f->cfg, f->layer, f->m, f->wd, dst);
}

/* Layer i's 12 weights into the encoder's slots, each read straight into
 * its device tensor. */
static enum clf_status load_layer(struct weights *w, struct clf_encoder *enc, int64_t i)
{
    enum clf_status st = CLF_OK;
    for (size_t m = 0; st == CLF_OK && m < N_WEIGHTS; m++) {
        const struct weight_desc *wd = map_desc(m);
        if (!wd)
            return clf_fail(w->ctx, CLF_E_STATE, "bert: no encoder weight '%s'",
                            layer_map[m].encoder_name);
        int64_t shape[2];
        const int nd = clf_encoder_weight_shape(&enc->cfg, wd, shape);
        struct weight_fill f = {w, NULL, 0, 0, &enc->cfg, i, m, wd};
        st = clf_encoder_upload_fill(w->ctx, nd, shape, fill_layer_weight, &f,
                                     clf_encoder_slot(&enc->layers[i], wd));
    }
    return st;
}

/* The embeddings: word, position, token type 0 (host: room for the
 * token type table), LayerNorm. */
static enum clf_status load_embeddings(struct weights *w, struct clf_bert *b,
                                       const struct bert_sizes *s, float *host)
{
    enum clf_status st =
        load_weight(w, "embeddings.word_embeddings.weight", s->vocab, s->d, &b->word);
    if (st == CLF_OK)
        st = load_weight(w, "embeddings.position_embeddings.weight", s->max_pos, s->d, &b->pos);
    if (st == CLF_OK && s->pos_offset) { /* rows from the offset on */
        const int64_t shape[2] = {s->max_pos - s->pos_offset, s->d}, strides[2] = {s->d, 1};
        b->pos_table = b->pos;
        b->pos = NULL;
        st = clf_tensor_view(b->pos_table, 2, shape, strides, s->pos_offset * s->d, &b->pos);
        b->max_pos = s->max_pos - s->pos_offset;
    }
    if (st == CLF_OK && s->types) /* all rows checked, row 0 kept */
        st = read_weight(w, "embeddings.token_type_embeddings.weight", s->types, s->d, host);
    else if (st == CLF_OK) /* none (DistilBERT): a row of zeros adds nothing, exactly */
        memset(host, 0, (size_t)s->d * sizeof *host);
    if (st == CLF_OK)
        st = clf_encoder_upload(w->ctx, 1, &s->d, host, &b->type0);
    if (st == CLF_OK)
        st = load_weight(w, "embeddings.LayerNorm.weight", s->d, 0, &b->ln_w);
    if (st == CLF_OK)
        st = load_weight(w, "embeddings.LayerNorm.bias", s->d, 0, &b->ln_b);
    return st;
}

enum clf_status clf_default_model_dir(char *buf, size_t size)
{
    if (!buf || !size)
        return CLF_E_INVALID_ARG;
    struct clf_env env;
    clf_env_read(&env);
    const char *xdg = env.xdg_cache, *home = env.home;
    int n;
    if (env.model_dir && *env.model_dir)
        n = snprintf(buf, size, "%s", env.model_dir);
    else if (xdg && *xdg)
        n = snprintf(buf, size, "%s/clformer/models/all-MiniLM-L6-v2", xdg);
    else
        n = snprintf(buf, size, "%s/.cache/clformer/models/all-MiniLM-L6-v2",
                     home && *home ? home : ".");
    return n >= 0 && (size_t)n < size ? CLF_OK : CLF_E_INVALID_ARG;
}

void clf_bert_destroy(struct clf_bert *b)
{
    if (!b)
        return;
    clf_encoder_destroy(b->enc);
    clf_tensor_destroy(b->word);
    clf_tensor_destroy(b->pos);
    clf_tensor_destroy(b->pos_table);
    clf_tensor_destroy(b->type0);
    clf_tensor_destroy(b->ln_w);
    clf_tensor_destroy(b->ln_b);
    free(b);
}

/* A model being loaded: its open weights file, config.json's sizes, a host
 * buffer for the largest tensor. */
struct bert_load {
    struct weights w;
    struct bert_sizes s;
    float *host;
};

static void load_end(struct bert_load *L)
{
    clf_safetensors_close(L->w.st);
    free(L->host);
    free((char *)L->w.path);
}

/* Reads config.json, opens model.safetensors and checks it (L), and makes
 * *out: the model with its configuration (options' attention,
 * quantisation and FFN format; config.json's sizes) and its embeddings on
 * ctx, no encoder yet. */
static enum clf_status load_begin(struct clf_ctx *ctx, const char *model_dir,
                                  const struct clf_encoder_config *options, struct clf_bert **out,
                                  struct bert_load *L)
{
    memset(L, 0, sizeof *L);
    *out = NULL;
    if (!model_dir)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL model directory");
    size_t len = strlen(model_dir) + 32;
    char *cfg_path = malloc(len), *st_path = malloc(len);
    struct clf_bert *b = calloc(1, sizeof *b);
    struct bert_sizes *s = &L->s;
    L->w = (struct weights){ctx, NULL, st_path, "", &archs[0]};
    char msg[1024];
    enum clf_status st = cfg_path && st_path && b
                             ? CLF_OK
                             : clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a model");
    if (st == CLF_OK) {
        b->ctx = ctx;
        snprintf(cfg_path, len, "%s/config.json", model_dir);
        snprintf(st_path, len, "%s/model.safetensors", model_dir);
        st = read_config(ctx, cfg_path, s);
    }
    /* the options' attention, quantisation and FFN format; the sizes are
     * config.json's */
    struct clf_encoder_config *c = b ? &b->cfg : NULL;
    if (st == CLF_OK) {
        *c = clf_encoder_config_default();
        st = clf_abi_import(ctx, "clf_encoder_config", options, c, sizeof *c);
    }
    if (st == CLF_OK) { /* config.json's sizes alone (heads must divide hidden_size, ...) */
        struct clf_encoder_config sizes = clf_encoder_config_default();
        sizes.d_model = s->d, sizes.heads = s->heads, sizes.d_ff = s->d_ff;
        sizes.layers = s->layers, sizes.act = s->act, sizes.eps = (float)s->eps;
        if ((st = clf_encoder_check_config(ctx, &sizes)) != CLF_OK) {
            snprintf(msg, sizeof msg, "%s", clf_ctx_last_error(ctx));
            st = clf_fail(ctx, st, "%s: %s", cfg_path, msg);
        }
    }
    if (st == CLF_OK) {
        c->d_model = s->d;
        c->heads = s->heads;
        c->d_ff = s->d_ff;
        c->layers = s->layers;
        c->act = s->act;
        c->eps = (float)s->eps;
        c->norm_first = s->arch->modern;
        b->vocab = s->vocab;
        b->max_pos = s->max_pos;
        st = clf_encoder_check_config(ctx, c);
    }
    free(cfg_path);
    if (st == CLF_OK)
        st = clf_msg_to_ctx(ctx, clf_safetensors_open(st_path, &L->w.st, msg, sizeof msg), msg);
    int nd;
    int64_t shape[CLF_MAX_DIMS];
    char full[160], name[128];
    const bool modern = st == CLF_OK && s->arch->modern;
    const char *word = modern ? "embeddings.tok_embeddings.weight"
                              : "embeddings.word_embeddings.weight";
    if (st == CLF_OK) {
        L->w.arch = s->arch;
        snprintf(full, sizeof full, "%s%s", s->arch->prefix, word);
        if (clf_safetensors_shape(L->w.st, full, &nd, shape, NULL) == CLF_OK)
            L->w.prefix = s->arch->prefix;
    }
    /* The tensors that size the buffers made below must be in the file with
     * config.json's shapes first: a bogus configuration (vocab_size 2^24,
     * hidden_size 2^16) must not make the loader ask for terabytes. */
    if (st == CLF_OK)
        st = check_weight(&L->w, word, s->vocab, s->d, full);
    if (st == CLF_OK && !modern)
        st = check_weight(&L->w, "embeddings.position_embeddings.weight", s->max_pos, s->d, full);
    if (st == CLF_OK && s->types)
        st = check_weight(&L->w, "embeddings.token_type_embeddings.weight", s->types, s->d, full);
    /* Q's and linear1's tensors (layer_map's in_proj first part, linear1);
     * no layer past config.json's */
    const int an = L->w.arch->names;
    const char *q = modern ? MODERN_QKV : layer_map[0].names[an][0];
    layer_tensor(&L->w, 0, q, name, sizeof name);
    if (st == CLF_OK)
        st = check_weight(&L->w, name, modern ? 3 * s->d : s->d, s->d, full);
    layer_tensor(&L->w, 0, modern ? MODERN_WI : layer_map[6].names[an][0], name, sizeof name);
    if (st == CLF_OK) /* ModernBERT's stacks a and g (GeGLU) */
        st = check_weight(&L->w, name, modern ? 2 * s->d_ff : s->d_ff, s->d, full);
    char extra[192];
    layer_tensor(&L->w, s->layers, q, name, sizeof name);
    snprintf(extra, sizeof extra, "%s%s", L->w.prefix, name);
    if (st == CLF_OK && clf_safetensors_shape(L->w.st, extra, &nd, shape, NULL) == CLF_OK)
        st = clf_fail(ctx, CLF_E_SHAPE, "%s holds more layers than the %lld of config.json",
                      st_path, (long long)s->layers);
    if (st == CLF_OK) { /* room for the token type table (checked above), or a row */
        L->host = malloc((size_t)((s->types ? s->types : 1) * s->d) * sizeof *L->host);
        if (!L->host)
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory to load %s", st_path);
    }
    if (st == CLF_OK && modern) { /* token embeddings, LayerNorm without bias */
        b->max_pos = s->max_pos;
        st = load_weight(&L->w, word, s->vocab, s->d, &b->word);
        if (st == CLF_OK)
            st = load_weight(&L->w, "embeddings.norm.weight", s->d, 0, &b->ln_w);
    } else if (st == CLF_OK)
        st = load_embeddings(&L->w, b, s, L->host);
    if (st != CLF_OK) {
        clf_bert_destroy(b);
        return st;
    }
    *out = b;
    return CLF_OK;
}

/* MPNet's relative position bias: its table [buckets, heads] read, then
 * given to the encoder per distance, [heads, 2P - 1] for the P text
 * positions (column r + P - 1: keys r after the query). */
static enum clf_status load_rel_bias(struct bert_load *L, struct clf_bert *b)
{
    const struct bert_sizes *s = &L->s;
    const int64_t P = b->max_pos, w = 2 * P - 1, shape[2] = {s->heads, w};
    float *tab = malloc((size_t)(s->buckets * s->heads) * sizeof *tab);
    float *per = malloc((size_t)(s->heads * w) * sizeof *per);
    enum clf_status st = tab && per ? read_weight(&L->w, "encoder.relative_attention_bias.weight",
                                                  s->buckets, s->heads, tab)
                                    : clf_fail(b->ctx, CLF_E_OUT_OF_MEMORY,
                                               "no host memory for the position bias");
    for (int64_t r = -(P - 1); st == CLF_OK && r <= P - 1; r++) {
        const int64_t bucket = clf_mpnet_bucket(r);
        for (int64_t h = 0; h < s->heads; h++)
            per[h * w + r + P - 1] = tab[bucket * s->heads + h];
    }
    struct clf_tensor *t = NULL;
    if (st == CLF_OK)
        st = clf_encoder_upload(b->ctx, 2, shape, per, &t);
    if (st == CLF_OK)
        st = clf_encoder_set_rel_bias(b->enc, t, P);
    free(tab);
    free(per);
    return st;
}

/* ModernBERT's layers (Warner et al. 2024; ModernBertModel at inference):
 *   in_proj  = attn.Wqkv (Q, K, V stacked)  [3d, d]
 *   out_proj = attn.Wo                      [d, d]
 *   norm1    = attn_norm (none in layer 0)  [d]
 *   linear1  = mlp.Wi ([a; g] stacked)      [2·d_ff, d]
 *   linear2  = mlp.Wo                       [d, d_ff]
 *   norm2    = mlp_norm                     [d]
 * no biases (read_modern_config refuses them), final_norm the encoder's
 * final LayerNorm; every global_attn_every_n_layers-th layer from 0 is
 * global with global_rope_theta, the others local with local_rope_theta
 * and keys |i − j| <= local_attention / 2. */
static enum clf_status load_modern(struct bert_load *L, struct clf_encoder *enc)
{
    const struct bert_sizes *s = &L->s;
    const int64_t d = s->d;
    double *theta = malloc((size_t)s->layers * sizeof *theta);
    int64_t *window = malloc((size_t)s->layers * sizeof *window);
    enum clf_status st = theta && window ? CLF_OK
                                         : clf_fail(L->w.ctx, CLF_E_OUT_OF_MEMORY,
                                                    "no host memory for ModernBERT's layers");
    for (int64_t i = 0; st == CLF_OK && i < s->layers; i++) {
        const bool global = i % s->every_n == 0;
        theta[i] = global ? s->rope_global : s->rope_local;
        window[i] = global ? 0 : s->window;
    }
    if (st == CLF_OK)
        st = clf_encoder_set_modern(enc, s->max_pos, theta, window);
    free(theta);
    free(window);
    for (int64_t i = 0; st == CLF_OK && i < s->layers; i++) {
        struct layer *l = &enc->layers[i];
        const struct {
            const char *name;
            int64_t rows, cols;
            struct clf_tensor **slot;
        } t[] = {{MODERN_QKV, 3 * d, d, &l->in_w},          {"attn.Wo.weight", d, d, &l->out_w},
                 {"attn_norm.weight", d, 0, &l->n1w},      {MODERN_WI, 2 * s->d_ff, d, &l->w1},
                 {"mlp.Wo.weight", d, s->d_ff, &l->w2},    {"mlp_norm.weight", d, 0, &l->n2w}};
        for (size_t k = 0; st == CLF_OK && k < sizeof t / sizeof t[0]; k++) {
            char name[128];
            if (i == 0 && t[k].slot == &l->n1w) /* nn.Identity */
                continue;
            layer_tensor(&L->w, i, t[k].name, name, sizeof name);
            st = load_weight(&L->w, name, t[k].rows, t[k].cols, t[k].slot);
        }
    }
    if (st == CLF_OK)
        st = load_weight(&L->w, "final_norm.weight", d, 0, &enc->norm_w);
    return st;
}

enum clf_status clf_bert_load(struct clf_ctx *ctx, const char *model_dir,
                              const struct clf_encoder_config *options, struct clf_bert **out)
{
    if (!out)
        return ctx ? clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer") : CLF_E_INVALID_ARG;
    *out = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    struct bert_load L;
    struct clf_bert *b = NULL;
    struct clf_encoder *unused = NULL;
    enum clf_status st = load_begin(ctx, model_dir, options, &b, &L);
    if (st == CLF_OK)
        st = clf_encoder_new(ctx, &b->cfg, &unused, &b->enc);
    if (st == CLF_OK && L.s.arch->modern)
        st = load_modern(&L, b->enc);
    for (int64_t i = 0; st == CLF_OK && !L.s.arch->modern && i < L.s.layers; i++)
        st = load_layer(&L.w, b->enc, i);
    if (st == CLF_OK && L.s.arch->rel_bias)
        st = load_rel_bias(&L, b);
    load_end(&L);
    if (st == CLF_OK)
        st = clf_encoder_prepare(b->enc);
    if (st != CLF_OK) {
        clf_bert_destroy(b);
        return st;
    }
    *out = b;
    return CLF_OK;
}

/* The model file as a weight reader (encoder_internal.h): self is the
 * load in progress, its configuration cfg. */
struct bert_src {
    struct bert_load *L;
    const struct clf_encoder_config *cfg;
};

static enum clf_status read_bert(void *self, int layer, const char *name, float *dst,
                                 size_t count)
{
    struct bert_src *b = self;
    for (size_t m = 0; layer >= 0 && layer < b->cfg->layers && m < N_WEIGHTS; m++) {
        const struct weight_desc *wd = map_desc(m);
        int64_t shape[2];
        if (!wd || strcmp(wd->name, name))
            continue;
        const int nd = clf_encoder_weight_shape(b->cfg, wd, shape);
        if (count == (size_t)(shape[0] * (nd == 2 ? shape[1] : 1)))
            return read_layer_weight(&b->L->w, b->cfg, layer, m, wd, dst);
    }
    return clf_fail(b->L->w.ctx, CLF_E_INVALID_ARG, "bert: no weight '%s' of %zu floats in layer %d",
                    name, count, layer);
}

/* Both tensor-parallel loaders: the embeddings on ctx (the group's first
 * context), the layers split over the group or as comm's rank. */
static enum clf_status load_tp(struct clf_group *grp, struct clf_ctx *ctx, const char *model_dir,
                               const struct clf_encoder_config *options,
                               const struct clf_tp_comm *comm, struct clf_bert **emb,
                               struct clf_encoder_tp **tp)
{
    if (grp)
        ctx = clf_group_ctx(grp, 0);
    if (emb)
        *emb = NULL;
    if (tp)
        *tp = NULL;
    if (!ctx)
        return CLF_E_INVALID_ARG;
    if (!emb || !tp)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL output pointer");
    struct bert_load L;
    struct clf_bert *b = NULL;
    enum clf_status st = load_begin(ctx, model_dir, options, &b, &L);
    if (st == CLF_OK && (L.s.arch->rel_bias || L.s.arch->modern))
        st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                      "%s: tensor parallelism does not split %s's %s: run it on one device or "
                      "data-parallel",
                      model_dir, L.s.arch->model_type,
                      L.s.arch->modern ? "layers" : "relative position bias");
    if (st == CLF_OK) {
        struct bert_src src = {&L, &b->cfg};
        struct clf_weight_reader rd = {read_bert, NULL, &src, false};
        st = clf_encoder_tp_split(grp, ctx, comm, &b->cfg, &rd, tp);
    }
    load_end(&L);
    if (st != CLF_OK) {
        clf_bert_destroy(b);
        return st;
    }
    *emb = b;
    return CLF_OK;
}

enum clf_status clf_bert_load_tp(struct clf_group *grp, const char *model_dir,
                                 const struct clf_encoder_config *options, struct clf_bert **emb,
                                 struct clf_encoder_tp **tp)
{
    if (!grp) {
        if (emb)
            *emb = NULL;
        if (tp)
            *tp = NULL;
        return CLF_E_INVALID_ARG;
    }
    return load_tp(grp, NULL, model_dir, options, NULL, emb, tp);
}

enum clf_status clf_bert_load_tp_rank(struct clf_ctx *ctx, const char *model_dir,
                                      const struct clf_encoder_config *options,
                                      const struct clf_tp_comm *comm, struct clf_bert **emb,
                                      struct clf_encoder_tp **tp)
{
    return load_tp(NULL, ctx, model_dir, options, comm, emb, tp);
}

void clf_bert_config_of(const struct clf_bert *b, struct clf_encoder_config *p, size_t size)
{
    /* b->cfg, not its encoder's: a tensor-parallel split (load_tp) has
     * embeddings and no encoder */
    if (b)
        clf_abi_fill(p, size, &b->cfg, sizeof b->cfg);
    else
        clf_encoder_config_init(p, size);
}

struct clf_encoder *clf_bert_encoder(const struct clf_bert *b)
{
    return b ? b->enc : NULL;
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

/* Records the embeddings e [batch, seq, d] and, with a mask and kp, the
 * key padding *kp [batch, seq] (else NULL). */
static enum clf_status embed(struct clf_bert *b, struct clf_graph *g, struct clf_tensor *ids,
                             struct clf_tensor *mask, struct clf_tensor **e,
                             struct clf_tensor **kp)
{
    if (kp)
        *kp = NULL;
    enum clf_status st = clf_graph_check_call(g, e, "bert");
    if (st == CLF_OK)
        st = clf_graph_check_input(g, ids, "bert ids");
    if (st != CLF_OK)
        return st;
    if (g->ctx != b->ctx)
        return clf_fail(g->ctx, CLF_E_INVALID_ARG, "the graph and the model differ in context");
    if (ids->dtype != CLF_I32 || ids->ndim != 2)
        return clf_fail(g->ctx, CLF_E_SHAPE, "bert: ids must be i32 [batch, seq]");
    if (ids->shape[1] > b->max_pos)
        return clf_fail(g->ctx, CLF_E_SHAPE,
                        "bert: %lld tokens per text; the model has %lld positions",
                        (long long)ids->shape[1], (long long)b->max_pos);
    if (mask) {
        st = clf_graph_check_input(g, mask, "bert mask");
        if (st != CLF_OK)
            return st;
        if (mask->dtype != CLF_I32 || mask->ndim != 2 || mask->shape[0] != ids->shape[0] ||
            mask->shape[1] != ids->shape[1])
            return clf_fail(g->ctx, CLF_E_SHAPE, "bert: the mask must be i32 [%lld, %lld] as the ids",
                            (long long)ids->shape[0], (long long)ids->shape[1]);
    }
    /* word + type 0 + position rows, LayerNorm: one kernel (ids checked);
     * ModernBERT's token rows and LayerNorm without bias: two */
    if (b->pos)
        st = clf_rows_embedding_ln_record(g, b->word, ids, b->pos, b->type0, b->ln_w, b->ln_b,
                                          b->cfg.eps, !b->ids_checked, e);
    else {
        struct clf_tensor *rows = NULL;
        st = clf_rows_embedding_record(g, b->word, ids, !b->ids_checked, &rows);
        if (st == CLF_OK)
            st = clf_op_layernorm(g, rows, b->ln_w, NULL, b->cfg.eps, e);
    }
    if (st == CLF_OK && mask && kp)
        st = clf_pooling_key_padding(g, mask, kp);
    return st;
}

/* A model of clf_bert_load_tp holds its embeddings only. */
static enum clf_status no_encoder(struct clf_bert *b)
{
    return clf_fail(b->ctx, CLF_E_STATE,
                    "this model holds its embeddings only (clf_bert_load_tp): its layers are a "
                    "tensor-parallel encoder's");
}

enum clf_status clf_bert_forward(struct clf_bert *b, struct clf_graph *g, struct clf_tensor *ids,
                                 struct clf_tensor *mask, struct clf_tensor **hidden)
{
    if (!b)
        return g ? clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL model") : CLF_E_INVALID_ARG;
    struct clf_tensor *e = NULL, *kp = NULL;
    enum clf_status st = clf_graph_check_call(g, hidden, "bert");
    if (st == CLF_OK && !b->enc)
        st = no_encoder(b);
    if (st == CLF_OK)
        st = embed(b, g, ids, mask, &e, &kp);
    if (st == CLF_OK)
        st = clf_encoder_forward(b->enc, g, e, kp, hidden);
    return st;
}

void clf_bert_set_ids_checked(struct clf_bert *b, bool on)
{
    b->ids_checked = on;
}

enum clf_status clf_bert_check_ids(const struct clf_bert *b, const int32_t *ids, int64_t batch,
                                   int64_t seq)
{
    const int64_t rows = b->word->shape[0];
    for (int64_t i = 0; i < batch * seq; i++)
        if (ids[i] < 0 || ids[i] >= rows)
            return clf_fail(b->ctx, CLF_E_INVALID_ARG,
                            "embedding: id %d at position [%lld, %lld] is outside the table's "
                            "rows [0, %lld)",
                            (int)ids[i], (long long)(i / seq), (long long)(i % seq),
                            (long long)rows);
    return CLF_OK;
}

bool clf_bert_can_ragged(const struct clf_bert *b)
{
    return b && b->enc && clf_encoder_can_ragged(b->enc);
}

/* t [rows, d] (a dense [.., .., d] tensor viewed flat) gathered by idx into
 * *out [idx..., d]. */
static enum clf_status gather_rows(struct clf_graph *g, struct clf_tensor *t, int64_t rows,
                                   struct clf_tensor *idx, struct clf_tensor **out)
{
    const int64_t d = t->shape[t->ndim - 1], shape[2] = {rows, d}, strides[2] = {d, 1};
    struct clf_tensor *flat = NULL;
    enum clf_status st = clf_graph_view(g, t, 2, shape, strides, t->offset, &flat);
    return st == CLF_OK ? clf_rows_embedding_record(g, flat, idx, false, out) : st;
}

enum clf_status clf_bert_forward_ragged(struct clf_bert *b, struct clf_graph *g,
                                        struct clf_tensor *ids, struct clf_tensor *mask,
                                        struct clf_tensor *pack, struct clf_tensor *unpack,
                                        struct clf_tensor *offsets, int64_t max_seq,
                                        struct clf_tensor **hidden)
{
    if (!b)
        return g ? clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL model") : CLF_E_INVALID_ARG;
    enum clf_status st = clf_graph_check_call(g, hidden, "bert (ragged)");
    if (st == CLF_OK && !b->enc)
        st = no_encoder(b);
    if (st == CLF_OK && (!pack || !unpack || !offsets || pack->ndim != 1))
        st = clf_fail(g->ctx, CLF_E_INVALID_ARG, "bert (ragged): pack, unpack and offsets");
    struct clf_tensor *e = NULL, *x = NULL, *packed = NULL, *h = NULL;
    if (st == CLF_OK)
        st = embed(b, g, ids, mask, &e, NULL);
    const int64_t tokens = st == CLF_OK ? pack->shape[0] : 0;
    if (st == CLF_OK)
        st = gather_rows(g, e, e->shape[0] * e->shape[1], pack, &x);
    const int64_t xs[3] = {1, tokens, b->cfg.d_model}, xst[3] = {tokens * b->cfg.d_model,
                                                                 b->cfg.d_model, 1};
    if (st == CLF_OK)
        st = clf_graph_view(g, x, 3, xs, xst, x->offset, &packed);
    if (st == CLF_OK)
        st = clf_encoder_forward_ragged(b->enc, g, packed, offsets, max_seq, &h);
    if (st == CLF_OK)
        st = gather_rows(g, h, tokens, unpack, hidden);
    return st;
}

enum clf_status clf_bert_embeddings(struct clf_bert *b, struct clf_graph *g,
                                    struct clf_tensor *ids, struct clf_tensor *mask,
                                    struct clf_tensor **e)
{
    if (!b)
        return g ? clf_fail(g->ctx, CLF_E_INVALID_ARG, "NULL model") : CLF_E_INVALID_ARG;
    return embed(b, g, ids, mask, e, NULL);
}

enum clf_status clf_bert_calibrate(struct clf_bert *b, struct clf_tensor *ids,
                                   struct clf_tensor *mask)
{
    if (!b)
        return CLF_E_INVALID_ARG;
    if (!b->enc)
        return no_encoder(b);
    struct clf_graph *g = NULL;
    struct clf_tensor *e = NULL, *kp = NULL;
    enum clf_status st = clf_graph_create(b->ctx, &g);
    if (st == CLF_OK)
        st = embed(b, g, ids, mask, &e, &kp);
    if (st == CLF_OK)
        st = clf_graph_keep(g, e);
    if (st == CLF_OK && kp)
        st = clf_graph_keep(g, kp);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK) /* e and kp stay valid until g is destroyed */
        st = clf_encoder_calibrate(b->enc, e, kp);
    clf_graph_destroy(g);
    return st;
}
