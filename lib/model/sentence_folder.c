/*
 * What a sentence-transformers model folder says about its sentence
 * embeddings (clformer/models.h, "Sentence-transformers folders"), read
 * with cJSON from the files both layouts in use write:
 *
 *   modules.json                 the modules in order: Transformer (its
 *                                path holds the Hugging Face model),
 *                                Pooling (its path holds config.json),
 *                                Normalize
 *   <pooling>/config.json        pooling_mode_* flags, include_prompt
 *   sentence_bert_config.json    max_seq_length, do_lower_case (classic)
 *   tokenizer_config.json        model_max_length (current), do_lower_case,
 *                                strip_accents
 *   tokenizer.json               its BertNormalizer's lowercase and
 *                                strip_accents (the fast tokenizer
 *                                sentence-transformers runs reads these)
 *   config_sentence_transformers.json  prompts, default_prompt_name,
 *                                similarity_fn_name
 *   config.json                  max_position_embeddings (the length cap)
 *
 * Every error names the file and the key at fault.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../runtime/abi.h"
#include "bert_config.h"
#include "io.h"

/* A Dense module, its weights read (host). */
struct folder_dense {
    int64_t in, out;
    float *weight, *bias; /* [out, in], [out] or NULL */
    enum clf_act act;
};

#define MAX_DENSE 8

struct clf_sentence_folder {
    struct folder_dense dense[MAX_DENSE];
    size_t n_dense;
    char *dir;             /* the folder */
    char *model_dir;       /* the Transformer module's files */
    bool has_modules;      /* modules.json was there */
    unsigned pooling;      /* enum clf_pooling bits */
    bool normalize;        /* a Normalize module */
    bool include_prompt;   /* the Pooling's include_prompt */
    int64_t pooling_dim;   /* its word_embedding_dimension, 0: not said */
    int64_t max_length;    /* tokens per text, specials included */
    int64_t vocab_size;    /* config.json's: the embedding table's rows (0: not said) */
    bool lower_case;       /* the tokenizer lower-cases (and strips accents) */
    size_t n_prompts;
    char **prompt_names, **prompt_texts;
    char *default_prompt;  /* a name of prompt_names, or NULL */
    char *similarity;      /* similarity_fn_name, or NULL */
    char *tokenizer;       /* the tokenizer's file (tokenizer_file), or NULL: none */
};

/* A file of the folder: dir/sub/name (sub may be ""). */
static void folder_path(char *buf, size_t size, const char *dir, const char *sub, const char *name)
{
    snprintf(buf, size, "%s%s%s/%s", dir, *sub ? "/" : "", sub, name);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Parses path as JSON into *root: NULL (and CLF_OK) when the file does not
 * exist and is optional. */
static enum clf_status read_json(struct clf_msg *m, const char *path, bool optional,
                                 cJSON **root)
{
    *root = NULL;
    if (optional && !file_exists(path))
        return CLF_OK;
    char *text = NULL;
    enum clf_status st = clf_io_read_text(m, path, &text);
    if (st != CLF_OK)
        return st;
    *root = cJSON_Parse(text);
    free(text);
    if (!*root)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: not valid JSON", path);
    return CLF_OK;
}

/* A boolean key: *out unchanged when absent (or JSON null with
 * null_ok); CLF_E_FORMAT naming file and key when of another type. */
static enum clf_status get_bool(struct clf_msg *m, const cJSON *o, const char *path,
                                const char *key, bool null_ok, bool *out, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (present)
        *present = v && !(null_ok && cJSON_IsNull(v));
    if (!v || (null_ok && cJSON_IsNull(v)))
        return CLF_OK;
    if (!cJSON_IsBool(v))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return CLF_OK;
}

/* An integer key in [1, hi]: *out unchanged when absent or null. */
static enum clf_status get_length(struct clf_msg *m, const cJSON *o, const char *path,
                                  const char *key, int64_t hi, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return CLF_OK;
    double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(x >= 1) || x != floor(x))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: \"%s\" must be a positive integer", path, key);
    *out = x > (double)hi ? hi : (int64_t)x;
    return CLF_OK;
}

/* A relative path inside the folder ("" is the folder): no absolute path,
 * no "..", so that a folder's files cannot point outside it. */
static bool inside_path(const char *p)
{
    if (p[0] == '/')
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += n + (e != NULL);
    }
    return true;
}

/* The type's last component: "sentence_transformers.models.Pooling" ->
 * "Pooling" (the module's class). */
static const char *module_class(const char *type)
{
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

/* A Dense module at dir/sub: its config.json (in_features, out_features,
 * bias, activation_function) and its weights from model.safetensors
 * (linear.weight [out, in], linear.bias [out]); a pytorch_model.bin alone is
 * refused (a pickle). */
static enum clf_status read_dense(struct clf_msg *m, struct clf_sentence_folder *f,
                                  const char *sub)
{
    static const struct {
        const char *name;
        enum clf_act act;
    } acts[] = {
        {"torch.nn.modules.activation.Tanh", CLF_ACT_TANH},
        {"torch.nn.modules.linear.Identity", CLF_ACT_NONE},
        {"torch.nn.modules.activation.ReLU", CLF_ACT_RELU},
        {"torch.nn.modules.activation.GELU", CLF_ACT_GELU},
    };
    struct folder_dense *d = &f->dense[f->n_dense];
    char path[4200], wpath[4200];
    folder_path(path, sizeof path, f->dir, sub, "config.json");
    cJSON *cfg = NULL;
    enum clf_status st = read_json(m, path, false, &cfg);
    if (st == CLF_OK && !cJSON_IsObject(cfg))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", path);
    d->in = d->out = 0;
    if (st == CLF_OK)
        st = get_length(m, cfg, path, "in_features", INT64_C(1) << 20, &d->in);
    if (st == CLF_OK)
        st = get_length(m, cfg, path, "out_features", INT64_C(1) << 20, &d->out);
    if (st == CLF_OK && (!d->in || !d->out))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: needs \"in_features\" and \"out_features\"",
                          path);
    bool bias = true;
    if (st == CLF_OK)
        st = get_bool(m, cfg, path, "bias", false, &bias, NULL);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "activation_function");
    const char *an = cJSON_IsString(a) ? a->valuestring : acts[0].name; /* Tanh by default */
    size_t k = 0;
    while (k < sizeof acts / sizeof acts[0] && strcmp(acts[k].name, an))
        k++;
    if (st == CLF_OK && k == sizeof acts / sizeof acts[0])
        st = clf_msg_fail(m, CLF_E_UNSUPPORTED,
                          "%s: \"activation_function\" \"%s\" is not supported (Tanh, Identity, "
                          "ReLU, GELU)",
                          path, an);
    cJSON_Delete(cfg);
    if (st != CLF_OK)
        return st;
    d->act = acts[k].act;
    folder_path(wpath, sizeof wpath, f->dir, sub, "model.safetensors");
    if (!file_exists(wpath)) {
        folder_path(path, sizeof path, f->dir, sub, "pytorch_model.bin");
        return file_exists(path)
                   ? clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                  "%s: a PyTorch pickle, which clformer does not read: save the "
                                  "Dense module's weights as model.safetensors",
                                  path)
                   : clf_msg_fail(m, CLF_E_IO, "%s: no such file", wpath);
    }
    struct clf_safetensors *w = NULL;
    char why[512];
    st = clf_safetensors_open(wpath, &w, why, sizeof why);
    if (st != CLF_OK)
        st = clf_msg_fail(m, st, "%s", why);
    /* the file's shapes confirmed before anything is sized from config.json */
    int nd;
    int64_t shape[CLF_MAX_DIMS];
    if (st == CLF_OK &&
        (clf_safetensors_shape(w, "linear.weight", &nd, shape, NULL) != CLF_OK || nd != 2 ||
         shape[0] != d->out || shape[1] != d->in))
        st = clf_msg_fail(m, CLF_E_SHAPE, "%s: needs 'linear.weight' [%lld, %lld]", wpath,
                          (long long)d->out, (long long)d->in);
    d->weight = d->bias = NULL;
    if (st == CLF_OK) {
        d->weight = malloc((size_t)(d->in * d->out) * sizeof *d->weight);
        d->bias = bias ? malloc((size_t)d->out * sizeof *d->bias) : NULL;
        if (!d->weight || (bias && !d->bias))
            st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the weights", wpath);
    }
    if (st == CLF_OK)
        st = clf_safetensors_read(w, "linear.weight", d->weight, (size_t)(d->in * d->out));
    if (st == CLF_OK && bias)
        st = clf_safetensors_read(w, "linear.bias", d->bias, (size_t)d->out);
    if (st != CLF_OK && w && *clf_safetensors_last_error(w))
        clf_msg_fail(m, st, "%s", clf_safetensors_last_error(w));
    clf_safetensors_close(w);
    if (st != CLF_OK) {
        free(d->weight);
        free(d->bias);
        return st;
    }
    f->n_dense++;
    return CLF_OK;
}

/* modules.json: the Transformer's path (*model_sub, into the folder's
 * strings) and the Pooling's (*pool_sub), a Normalize module. */
static enum clf_status read_modules(struct clf_msg *m, struct clf_sentence_folder *f,
                                    const cJSON *root, const char *path, const char **model_sub,
                                    const char **pool_sub)
{
    if (!cJSON_IsArray(root))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON array of modules", path);
    int i = 0;
    const cJSON *mod;
    cJSON_ArrayForEach(mod, root)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(mod, "type");
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(mod, "path");
        if (!cJSON_IsString(type))
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: module %d has no \"type\" string", path, i);
        if (sub && !cJSON_IsString(sub))
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: module %d: \"path\" must be a string", path,
                            i);
        const char *p = sub ? sub->valuestring : "";
        if (!inside_path(p))
            return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: module %d: \"path\" \"%s\" leaves the folder", path, i, p);
        const char *cls = module_class(type->valuestring);
        if (!strcmp(cls, "Transformer")) {
            if (i != 0)
                return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                "%s: module %d is a Transformer: clformer runs one, first", path,
                                i);
            *model_sub = p;
        } else if (!strcmp(cls, "Pooling")) {
            if (*pool_sub || !*model_sub)
                return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                "%s: module %d (Pooling) must come once, after the Transformer",
                                path, i);
            *pool_sub = p;
        } else if (!strcmp(cls, "Dense")) {
            if (!*pool_sub || f->normalize || f->n_dense == MAX_DENSE)
                return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                    "%s: module %d (Dense): clformer runs up to %d Dense modules "
                                    "between the Pooling and Normalize",
                                    path, i, MAX_DENSE);
            enum clf_status st = read_dense(m, f, p);
            if (st != CLF_OK)
                return st;
        } else if (!strcmp(cls, "Normalize")) {
            if (!*pool_sub)
                return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                "%s: module %d (Normalize) before the Pooling", path, i);
            f->normalize = true;
        } else {
            return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: module %d is \"%s\": clformer runs Transformer, Pooling, Dense "
                            "and Normalize modules only",
                            path, i, type->valuestring);
        }
        i++;
    }
    if (!*model_sub)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: no Transformer module", path);
    if (!*pool_sub)
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                        "%s: no Pooling module (token embeddings are not sentence embeddings)",
                        path);
    return CLF_OK;
}

/* The Pooling's config.json: its modes, include_prompt, dimension. */
static enum clf_status read_pooling(struct clf_msg *m, struct clf_sentence_folder *f,
                                    const char *path)
{
    static const struct {
        const char *key;
        unsigned bit;
    } modes[] = {
        {"pooling_mode_cls_token", CLF_POOL_CLS},
        {"pooling_mode_max_tokens", CLF_POOL_MAX},
        {"pooling_mode_mean_tokens", CLF_POOL_MEAN},
        {"pooling_mode_mean_sqrt_len_tokens", CLF_POOL_MEAN_SQRT_LEN},
        {"pooling_mode_weightedmean_tokens", CLF_POOL_WEIGHTED_MEAN},
        {"pooling_mode_lasttoken", CLF_POOL_LAST_TOKEN},
    };
    cJSON *root = NULL;
    enum clf_status st = read_json(m, path, false, &root);
    if (st == CLF_OK && !cJSON_IsObject(root))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", path);
    f->pooling = 0;
    for (size_t i = 0; st == CLF_OK && i < sizeof modes / sizeof modes[0]; i++) {
        bool on = false;
        st = get_bool(m, root, path, modes[i].key, false, &on, NULL);
        f->pooling |= on ? modes[i].bit : 0;
    }
    if (st == CLF_OK)
        st = get_bool(m, root, path, "include_prompt", false, &f->include_prompt, NULL);
    if (st == CLF_OK)
        st = get_length(m, root, path, "word_embedding_dimension", INT64_C(1) << 20,
                        &f->pooling_dim);
    if (st == CLF_OK && !f->pooling)
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: no pooling_mode_* key is true", path);
    cJSON_Delete(root);
    return st;
}

/* The value of the top-level key `key` of the JSON object in text: the
 * first character after its colon, or NULL. A scan that steps over
 * strings (with their escapes) and counts nesting, so that a key inside a
 * nested object or a string is not taken. */
static const char *top_level_value(const char *text, const char *key)
{
    const size_t klen = strlen(key);
    int depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        } else if (*p == '"') {
            const char *b = ++p;
            while (*p && *p != '"')
                p += p[0] == '\\' && p[1] ? 2 : 1;
            if (!*p)
                return NULL;
            if (depth == 1 && (size_t)(p - b) == klen && !memcmp(b, key, klen)) {
                const char *c = p + 1;
                while (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
                    c++;
                if (*c == ':')
                    return c + 1;
            }
        }
    }
    return NULL;
}

/* tokenizer.json's "normalizer" and "post_processor" into *norm and *post
 * (NULL when the file or the key is absent): only those values are parsed,
 * not the vocabulary around them (tokenizer.json is often megabytes; embed
 * reads this at every start). */
static enum clf_status read_tokenizer_heads(struct clf_msg *m, const char *path, cJSON **norm,
                                            cJSON **post)
{
    *norm = *post = NULL;
    if (!file_exists(path))
        return CLF_OK;
    char *text = NULL;
    enum clf_status st = clf_io_read_text(m, path, &text);
    if (st != CLF_OK)
        return st;
    static const char *const keys[2] = {"normalizer", "post_processor"};
    cJSON **outs[2] = {norm, post};
    for (int i = 0; st == CLF_OK && i < 2; i++) {
        const char *v = top_level_value(text, keys[i]);
        if (v && !(*outs[i] = cJSON_ParseWithOpts(v, NULL, false)))
            st = clf_msg_fail(m, CLF_E_FORMAT, "%s: \"%s\" is not valid JSON", path, keys[i]);
    }
    free(text);
    return st;
}

/* Whether a tokenizer.json post-processor wraps a text in BERT's [CLS] and
 * [SEP] (TemplateProcessing "[CLS] $A [SEP]", or BertProcessing's). */
static bool bert_post_processor(const cJSON *post)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(post, "type");
    if (!cJSON_IsString(type))
        return false;
    const char *want[2] = {"[CLS]", "[SEP]"}, *got[2] = {NULL, NULL};
    if (!strcmp(type->valuestring, "BertProcessing")) {
        static const char *const keys[2] = {"cls", "sep"};
        for (int i = 0; i < 2; i++) {
            const cJSON *pair = cJSON_GetObjectItemCaseSensitive(post, keys[i]);
            got[i] = pair ? cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0)) : want[i];
        }
    } else if (!strcmp(type->valuestring, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(post, "single");
        for (int i = 0; i < 2 && cJSON_GetArraySize(single) == 3; i++) {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(single, 2 * i), "SpecialToken");
            got[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sp, "id"));
        }
    }
    return got[0] && got[1] && !strcmp(got[0], want[0]) && !strcmp(got[1], want[1]);
}

/* The tokenizer's file: vocab.txt (the quicker to load) when the folder
 * has one and tokenizer.json, if any, wraps texts in [CLS] and [SEP] as
 * vocab.txt's BERT tokenizer does; else tokenizer.json (MPNet's <s> and
 * </s>, byte-level BPE), else none. */
static enum clf_status choose_tokenizer(struct clf_msg *m, struct clf_sentence_folder *f,
                                        const char *json_path, const cJSON *post)
{
    char txt[4200];
    folder_path(txt, sizeof txt, f->model_dir, "", "vocab.txt");
    const bool has_json = file_exists(json_path);
    const char *pick = file_exists(txt) && (!has_json || bert_post_processor(post)) ? txt
                       : has_json                                                  ? json_path
                                                                                   : NULL;
    if (pick && !(f->tokenizer = strdup(pick)))
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "no memory for a folder's tokenizer path");
    return CLF_OK;
}

/* The tokenizer's file (choose_tokenizer), and its lower-casing:
 * tokenizer.json's BertNormalizer (what the
 * fast tokenizer runs) over tokenizer_config.json's do_lower_case over
 * BERT's default (true). clformer's tokenizer strips accents exactly when
 * it lower-cases, as BERT does with strip_accents null. */
static enum clf_status read_lower_case(struct clf_msg *m, struct clf_sentence_folder *f,
                                       const cJSON *tok_config, const char *tc_path)
{
    char path[4200];
    folder_path(path, sizeof path, f->model_dir, "", "tokenizer.json");
    cJSON *root = NULL, *post = NULL;
    enum clf_status st = read_tokenizer_heads(m, path, &root, &post);
    if (st == CLF_OK)
        st = choose_tokenizer(m, f, path, post);
    cJSON_Delete(post);
    const cJSON *norm = root;
    const cJSON *type = norm ? cJSON_GetObjectItemCaseSensitive(norm, "type") : NULL;
    bool strip = false, has_strip = false;
    const char *where = tc_path;
    const cJSON *from = tok_config;
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "BertNormalizer")) {
        where = path;
        from = norm;
        if (st == CLF_OK)
            st = get_bool(m, norm, path, "lowercase", false, &f->lower_case, NULL);
    } else if (st == CLF_OK && tok_config) {
        st = get_bool(m, tok_config, tc_path, "do_lower_case", false, &f->lower_case, NULL);
    }
    if (st == CLF_OK && from)
        st = get_bool(m, from, where, "strip_accents", true, &strip, &has_strip);
    if (st == CLF_OK && has_strip && strip != f->lower_case)
        st = clf_msg_fail(m, CLF_E_UNSUPPORTED,
                      "%s: \"strip_accents\" %s with lower-casing %s: clformer's tokenizer "
                      "strips accents exactly when it lower-cases",
                      where, strip ? "true" : "false", f->lower_case ? "on" : "off");
    cJSON_Delete(root);
    return st;
}

/* config_sentence_transformers.json: prompts, default_prompt_name,
 * similarity_fn_name. */
static enum clf_status read_prompts(struct clf_msg *m, struct clf_sentence_folder *f,
                                    const char *path)
{
    cJSON *root = NULL;
    enum clf_status st = read_json(m, path, true, &root);
    if (st != CLF_OK || !root)
        return st;
    if (!cJSON_IsObject(root))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", path);
    const cJSON *prompts = st == CLF_OK ? cJSON_GetObjectItemCaseSensitive(root, "prompts") : NULL;
    if (prompts && !cJSON_IsObject(prompts))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: \"prompts\" must be an object of strings", path);
    size_t n = prompts ? (size_t)cJSON_GetArraySize(prompts) : 0;
    if (st == CLF_OK && n) {
        f->prompt_names = calloc(n, sizeof *f->prompt_names);
        f->prompt_texts = calloc(n, sizeof *f->prompt_texts);
        if (!f->prompt_names || !f->prompt_texts)
            st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the prompts", path);
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, prompts)
    {
        if (st != CLF_OK)
            break;
        if (!cJSON_IsString(p)) {
            st = clf_msg_fail(m, CLF_E_FORMAT, "%s: prompt \"%s\" must be a string", path,
                          p->string);
            break;
        }
        f->prompt_names[f->n_prompts] = strdup(p->string);
        f->prompt_texts[f->n_prompts] = strdup(p->valuestring);
        if (!f->prompt_names[f->n_prompts++] || !f->prompt_texts[f->n_prompts - 1])
            st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the prompts", path);
    }
    const cJSON *def = st == CLF_OK ? cJSON_GetObjectItemCaseSensitive(root, "default_prompt_name")
                                    : NULL;
    if (def && !cJSON_IsNull(def)) {
        if (!cJSON_IsString(def) || !clf_sentence_folder_prompt(f, def->valuestring))
            st = clf_msg_fail(m, CLF_E_FORMAT,
                          "%s: \"default_prompt_name\" must name one of \"prompts\"", path);
        else if (!(f->default_prompt = strdup(def->valuestring)))
            st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "no memory");
    }
    const cJSON *sim = st == CLF_OK ? cJSON_GetObjectItemCaseSensitive(root, "similarity_fn_name")
                                    : NULL;
    static const char *const sims[] = {"cosine", "dot", "euclidean", "manhattan"};
    bool known = !sim || cJSON_IsNull(sim);
    for (size_t i = 0; cJSON_IsString(sim) && i < sizeof sims / sizeof sims[0]; i++)
        known |= !strcmp(sim->valuestring, sims[i]);
    if (st == CLF_OK && !known)
        st = clf_msg_fail(m, CLF_E_UNSUPPORTED,
                          "%s: \"similarity_fn_name\" must be cosine, dot, euclidean or "
                          "manhattan",
                          path);
    else if (cJSON_IsString(sim) && !(f->similarity = strdup(sim->valuestring)))
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "no memory");
    cJSON_Delete(root);
    return st;
}

/* The length: sentence_bert_config.json's max_seq_length, else
 * tokenizer_config.json's model_max_length, else the position table's;
 * never past config.json's max_position_embeddings (default 512). */
static enum clf_status read_lengths(struct clf_msg *m, struct clf_sentence_folder *f,
                                    const cJSON *sb, const char *sb_path, const cJSON *tc,
                                    const char *tc_path)
{
    char path[4200];
    folder_path(path, sizeof path, f->model_dir, "", "config.json");
    cJSON *cfg = NULL;
    enum clf_status st = read_json(m, path, false, &cfg);
    int64_t max_pos = 512, seq = 0, tok = 0;
    if (st == CLF_OK && !cJSON_IsObject(cfg))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", path);
    if (st == CLF_OK)
        st = get_length(m, cfg, path, "max_position_embeddings", INT64_C(1) << 20, &max_pos);
    if (st == CLF_OK) /* RoBERTa's first rows are not tokens' */
        max_pos = clf_bert_text_positions(cfg, max_pos);
    if (st == CLF_OK)
        st = get_length(m, cfg, path, "vocab_size", INT64_C(1) << 40, &f->vocab_size);
    cJSON_Delete(cfg);
    if (st == CLF_OK && sb)
        st = get_length(m, sb, sb_path, "max_seq_length", INT64_C(1) << 20, &seq);
    if (st == CLF_OK && tc) /* Hugging Face writes 1e30 for "no limit": capped below */
        st = get_length(m, tc, tc_path, "model_max_length", INT64_C(1) << 40, &tok);
    if (st == CLF_OK && seq > max_pos)
        st = clf_msg_fail(m, CLF_E_FORMAT,
                      "%s: \"max_seq_length\" %lld is more than config.json's "
                      "max_position_embeddings %lld",
                      sb_path, (long long)seq, (long long)max_pos);
    f->max_length = seq ? seq : tok && tok < max_pos ? tok : max_pos;
    return st;
}

/* Everything past modules.json and the Pooling. */
static enum clf_status read_rest(struct clf_msg *m, struct clf_sentence_folder *f)
{
    char sb_path[4200], tc_path[4200], path[4200];
    folder_path(sb_path, sizeof sb_path, f->model_dir, "", "sentence_bert_config.json");
    folder_path(tc_path, sizeof tc_path, f->model_dir, "", "tokenizer_config.json");
    cJSON *sb = NULL, *tc = NULL;
    enum clf_status st = read_json(m, sb_path, true, &sb);
    if (st == CLF_OK && sb && !cJSON_IsObject(sb))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", sb_path);
    if (st == CLF_OK)
        st = read_json(m, tc_path, true, &tc);
    if (st == CLF_OK && tc && !cJSON_IsObject(tc))
        st = clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", tc_path);
    if (st == CLF_OK)
        st = read_lengths(m, f, sb, sb_path, tc, tc_path);
    if (st == CLF_OK)
        st = read_lower_case(m, f, tc, tc_path);
    bool st_lower = false; /* sentence-transformers' own str.lower() first */
    if (st == CLF_OK && sb)
        st = get_bool(m, sb, sb_path, "do_lower_case", false, &st_lower, NULL);
    if (st == CLF_OK && st_lower && !f->lower_case)
        st = clf_msg_fail(m, CLF_E_UNSUPPORTED,
                      "%s: \"do_lower_case\" true with a cased tokenizer: clformer lower-cases "
                      "only in an uncased tokenizer",
                      sb_path);
    folder_path(path, sizeof path, f->dir, "", "config_sentence_transformers.json");
    if (st == CLF_OK)
        st = read_prompts(m, f, path);
    cJSON_Delete(sb);
    cJSON_Delete(tc);
    return st;
}

void clf_sentence_folder_destroy(struct clf_sentence_folder *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_prompts; i++) {
        free(f->prompt_names[i]);
        free(f->prompt_texts[i]);
    }
    free(f->prompt_names);
    free(f->prompt_texts);
    free(f->default_prompt);
    free(f->similarity);
    free(f->tokenizer);
    for (size_t i = 0; i < f->n_dense; i++) {
        free(f->dense[i].weight);
        free(f->dense[i].bias);
    }
    free(f->model_dir);
    free(f->dir);
    free(f);
}

enum clf_status clf_sentence_folder_load(const char *dir, struct clf_sentence_folder **out,
                                         char *msg, size_t msg_size)
{
    struct clf_msg mb = clf_msg_init(msg, msg_size), *m = &mb;
    if (out)
        *out = NULL;
    if (!dir || !out)
        return clf_msg_fail(m, CLF_E_INVALID_ARG, "sentence folder: NULL argument");
    struct clf_sentence_folder *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "no memory for a folder's configuration");
    }
    /* a plain Hugging Face folder: what sentence-transformers makes of it */
    f->pooling = CLF_POOL_MEAN;
    f->include_prompt = true;
    f->lower_case = true;
    char path[4200], model_path[4200];
    folder_path(path, sizeof path, dir, "", "modules.json");
    cJSON *mods = NULL;
    enum clf_status st = read_json(m, path, true, &mods);
    const char *model_sub = NULL, *pool_sub = NULL;
    f->has_modules = mods != NULL;
    if (st == CLF_OK && mods)
        st = read_modules(m, f, mods, path, &model_sub, &pool_sub);
    folder_path(model_path, sizeof model_path, dir, "", model_sub ? model_sub : "");
    if (model_path[strlen(model_path) - 1] == '/') /* the folder itself */
        model_path[strlen(model_path) - 1] = 0;
    if (st == CLF_OK && !(f->model_dir = strdup(model_path)))
        st = clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "no memory for a folder's configuration");
    folder_path(path, sizeof path, dir, pool_sub ? pool_sub : "", "config.json");
    if (st == CLF_OK && pool_sub)
        st = read_pooling(m, f, path);
    cJSON_Delete(mods);
    if (st == CLF_OK)
        st = read_rest(m, f);
    if (st != CLF_OK) {
        clf_sentence_folder_destroy(f);
        return st;
    }
    *out = f;
    return CLF_OK;
}

const char *clf_sentence_folder_model_dir(const struct clf_sentence_folder *f)
{
    return f ? f->model_dir : NULL;
}

bool clf_sentence_folder_has_modules(const struct clf_sentence_folder *f)
{
    return f && f->has_modules;
}

unsigned clf_sentence_folder_pooling(const struct clf_sentence_folder *f)
{
    return f ? f->pooling : 0;
}

bool clf_sentence_folder_normalize(const struct clf_sentence_folder *f)
{
    return f && f->normalize;
}

bool clf_sentence_folder_include_prompt(const struct clf_sentence_folder *f)
{
    return !f || f->include_prompt;
}

int64_t clf_sentence_folder_pooling_dim(const struct clf_sentence_folder *f)
{
    return f ? f->pooling_dim : 0;
}

const char *clf_sentence_folder_similarity(const struct clf_sentence_folder *f)
{
    return f ? f->similarity : NULL;
}

const char *clf_sentence_folder_tokenizer_file(const struct clf_sentence_folder *f)
{
    return f ? f->tokenizer : NULL;
}

enum clf_status clf_sentence_folder_tokenizer_params(const struct clf_sentence_folder *f,
                                                     struct clf_tokenizer_params *p)
{
    struct clf_tokenizer_params local = clf_tokenizer_params_default();
    enum clf_status st = f && p ? clf_abi_import(NULL, "clf_tokenizer_params", p, &local,
                                                 sizeof local)
                                : CLF_E_INVALID_ARG;
    if (st != CLF_OK)
        return st;
    local.lower_case = f->lower_case;
    local.max_length = f->max_length < 2 ? 2 : f->max_length;
    local.vocab_limit = f->vocab_size;
    return clf_abi_export(NULL, "clf_tokenizer_params", p, &local, sizeof local);
}

size_t clf_sentence_folder_prompt_count(const struct clf_sentence_folder *f)
{
    return f ? f->n_prompts : 0;
}

const char *clf_sentence_folder_prompt_name(const struct clf_sentence_folder *f, size_t i)
{
    return f && i < f->n_prompts ? f->prompt_names[i] : NULL;
}

const char *clf_sentence_folder_default_prompt(const struct clf_sentence_folder *f)
{
    return f ? f->default_prompt : NULL;
}

const char *clf_sentence_folder_prompt(const struct clf_sentence_folder *f, const char *name)
{
    if (!f)
        return NULL;
    if (!name)
        name = f->default_prompt;
    for (size_t i = 0; name && i < f->n_prompts; i++)
        if (!strcmp(f->prompt_names[i], name))
            return f->prompt_texts[i];
    return NULL;
}

size_t clf_sentence_folder_dense_count(const struct clf_sentence_folder *f)
{
    return f ? f->n_dense : 0;
}

enum clf_status clf_sentence_folder_dense(const struct clf_sentence_folder *f, size_t i,
                                          struct clf_dense_layer *out)
{
    if (!f || !out || i >= f->n_dense)
        return CLF_E_INVALID_ARG;
    const struct folder_dense *d = &f->dense[i];
    *out = (struct clf_dense_layer){d->in, d->out, d->weight, d->bias, d->act};
    return CLF_OK;
}
