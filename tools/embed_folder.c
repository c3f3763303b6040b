/* `clformer embed`: pooling names and --describe (embed_folder.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "embed_folder.h"

/* In enum clf_pooling's bit order: the names sentence-transformers' Pooling
 * takes as pooling_mode. */
static const char *const pool_names[] = {"cls",           "max",          "mean",
                                         "mean_sqrt_len", "weightedmean", "lasttoken"};

bool embed_pooling_parse(const char *s, unsigned *modes)
{
    unsigned m = 0;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        unsigned bit = 0;
        for (unsigned i = 0; i < sizeof pool_names / sizeof pool_names[0]; i++)
            if (strlen(pool_names[i]) == n && !strncmp(pool_names[i], s, n))
                bit = 1u << i;
        if (!bit)
            return false;
        m |= bit;
        s = e ? e + 1 : s + n;
        if (e && !*s)
            return false; /* a trailing ',' */
    }
    if (!m)
        return false;
    *modes = m;
    return true;
}

void embed_pooling_str(unsigned modes, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < sizeof pool_names / sizeof pool_names[0]; i++)
        if (modes & (1u << i) && at < size)
            at += (size_t)snprintf(buf + at, size - at, "%s%s", at ? "," : "", pool_names[i]);
}

int embed_setup_folder(const char *dir, struct embed_setup *s, struct clf_sentence_folder **sf)
{
    char msg[1024];
    if (clf_sentence_folder_load(dir, sf, msg, sizeof msg) != CLF_OK)
        return cli_error("%s", msg);
    s->sf = *sf;
    snprintf(s->model_dir, sizeof s->model_dir, "%s", clf_sentence_folder_model_dir(*sf));
    const char *tok = clf_sentence_folder_tokenizer_file(*sf);
    snprintf(s->tokenizer, sizeof s->tokenizer, "%s", tok ? tok : "");
    s->tp = clf_tokenizer_params_default();
    if (clf_sentence_folder_tokenizer_params(*sf, &s->tp) != CLF_OK)
        return cli_error("the tokenizer's parameters");
    s->pooling = clf_sentence_folder_pooling(*sf);
    s->normalize = clf_sentence_folder_normalize(*sf);
    s->dims = 0;
    s->prompt_name = clf_sentence_folder_default_prompt(*sf); /* sentence-transformers applies it */
    s->prompt = clf_sentence_folder_prompt(*sf, s->prompt_name);
    s->pool_prompt = clf_sentence_folder_include_prompt(*sf);
    s->pool_skip = 0;
    return 0;
}

enum clf_status embed_prompt_skip(struct embed_setup *s, struct clf_tokenizer *tok)
{
    s->pool_skip = 0;
    if (!s->prompt || s->pool_prompt)
        return CLF_OK;
    size_t n = 0;
    enum clf_status st = clf_tokenizer_prompt_tokens(tok, s->prompt, &n);
    s->pool_skip = (int64_t)n;
    return st;
}

bool embed_tokenizer_path(const struct embed_setup *s, char *path, size_t size)
{
    if (!*s->tokenizer) {
        cli_error("%s: no vocab.txt nor tokenizer.json", s->model_dir);
        return false;
    }
    snprintf(path, size, "%s", s->tokenizer);
    return true;
}

enum clf_status embed_setup_runner(struct clf_dp *dp, const struct embed_setup *s)
{
    enum clf_status st = clf_dp_set_folder(dp, s->sf, s->pooling, s->normalize, s->dims);
    if (st == CLF_OK)
        st = clf_dp_set_pooling_skip(dp, s->pool_skip);
    return st;
}

/* config.json's key (or, when absent, the second name, DistilBERT's) as a
 * JSON value (a copy), or null. */
static cJSON *config_item(const cJSON *cfg, const char *key, const char *alt)
{
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, key) : NULL;
    if (!v && cfg && alt)
        v = cJSON_GetObjectItemCaseSensitive(cfg, alt);
    return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

/* A JSON file, parsed (NULL when unreadable or malformed: --describe then
 * says so in its fields). */
static cJSON *read_json_file(const char *path)
{
    int fd = clf_file_open(path, 0, NULL, 0); /* a FIFO or a folder: unreadable */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *text = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *t = cap > (64u << 20) ? NULL : realloc(text, cap = 2 * cap + 8192);
            if (!t)
                break;
            text = t;
        }
        size_t got = fread(text + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    cJSON *v = NULL;
    if (text) {
        text[n] = 0;
        v = cJSON_Parse(text);
    }
    free(text);
    return v;
}

/* The dtype of the weights (model.safetensors' first floating-point
 * tensor; position_ids are integers), or null. */
static cJSON *weights_dtype(const char *model_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    struct clf_safetensors *st = NULL;
    if (clf_safetensors_open(path, &st, NULL, 0) != CLF_OK)
        return cJSON_CreateNull();
    cJSON *v = NULL;
    for (size_t i = 0; !v && i < clf_safetensors_count(st); i++) {
        int ndim;
        int64_t shape[CLF_MAX_DIMS];
        const char *dtype = NULL;
        if (clf_safetensors_shape(st, clf_safetensors_name(st, i), &ndim, shape, &dtype) ==
                CLF_OK &&
            dtype && (dtype[0] == 'F' || dtype[0] == 'B'))
            v = cJSON_CreateString(dtype);
    }
    clf_safetensors_close(st);
    return v ? v : cJSON_CreateNull();
}

/* tokenizer.json's model type ("WordPiece", "BPE", ...), or "unreadable". */
static const char *tokenizer_model(const char *model_dir)
{
    static char type[32];
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
    cJSON *root = read_json_file(path);
    const cJSON *m = root ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    const cJSON *t = m ? cJSON_GetObjectItemCaseSensitive(m, "type") : NULL;
    snprintf(type, sizeof type, "%s", cJSON_IsString(t) ? t->valuestring : "unreadable");
    cJSON_Delete(root);
    return type;
}

int embed_describe(const char *dir, const struct clf_sentence_folder *sf,
                   const struct embed_setup *s, bool json)
{
    char cfg_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", s->model_dir);
    cJSON *cfg = read_json_file(cfg_path);
    cJSON *o = cJSON_CreateObject();
    char pool[128];
    embed_pooling_str(s->pooling, pool, sizeof pool);
    cJSON_AddStringToObject(o, "folder", dir);
    cJSON_AddStringToObject(o, "layout", clf_sentence_folder_has_modules(sf)
                                             ? "sentence-transformers (modules.json)"
                                             : "plain Hugging Face model (no modules.json)");
    cJSON_AddStringToObject(o, "model_dir", s->model_dir);
    cJSON_AddItemToObject(o, "architecture", config_item(cfg, "model_type", NULL));
    cJSON_AddItemToObject(o, "hidden_size", config_item(cfg, "hidden_size", "dim"));
    cJSON_AddItemToObject(o, "layers", config_item(cfg, "num_hidden_layers", "n_layers"));
    cJSON_AddItemToObject(o, "heads", config_item(cfg, "num_attention_heads", "n_heads"));
    cJSON_AddItemToObject(o, "vocab_size", config_item(cfg, "vocab_size", NULL));
    cJSON_AddItemToObject(o, "dtype", weights_dtype(s->model_dir));
    char tok[64];
    const size_t tl = strlen(s->tokenizer);
    if (tl >= 9 && !strcmp(s->tokenizer + tl - 9, "vocab.txt"))
        snprintf(tok, sizeof tok, "WordPiece (vocab.txt), %s",
                 s->tp.lower_case ? "uncased" : "cased");
    else
        snprintf(tok, sizeof tok, "tokenizer.json (%s)", tokenizer_model(s->model_dir));
    cJSON_AddStringToObject(o, "tokenizer", tok);
    cJSON_AddNumberToObject(o, "max_seq_length", (double)s->tp.max_length);
    cJSON_AddStringToObject(o, "pooling", pool);
    cJSON *dense = cJSON_AddArrayToObject(o, "dense");
    static const char *const act_names[] = {"identity", "relu", "gelu", "gelu_tanh", "tanh"};
    const size_t n_dense = clf_sentence_folder_dense_count(sf);
    struct clf_dense_layer last = {0};
    for (size_t i = 0; i < n_dense; i++) {
        struct clf_dense_layer L;
        clf_sentence_folder_dense(sf, i, &L);
        char d[96];
        snprintf(d, sizeof d, "%lld -> %lld, %s%s", (long long)L.in, (long long)L.out,
                 (unsigned)L.act <= 4 ? act_names[L.act] : "?", L.bias ? "" : ", no bias");
        cJSON_AddItemToArray(dense, cJSON_CreateString(d));
        last = L;
    }
    cJSON_AddBoolToObject(o, "normalize", s->normalize);
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(o, "hidden_size");
    if (s->dims)
        cJSON_AddNumberToObject(o, "dimensions", (double)s->dims);
    else if (n_dense)
        cJSON_AddNumberToObject(o, "dimensions", (double)last.out);
    else if (cJSON_IsNumber(hs))
        cJSON_AddNumberToObject(o, "dimensions",
                                (double)clf_pooling_width(s->pooling, (int64_t)hs->valuedouble));
    else
        cJSON_AddNullToObject(o, "dimensions");
    cJSON *pr = cJSON_AddObjectToObject(o, "prompts");
    for (size_t i = 0; i < clf_sentence_folder_prompt_count(sf); i++) {
        const char *name = clf_sentence_folder_prompt_name(sf, i);
        cJSON_AddStringToObject(pr, name, clf_sentence_folder_prompt(sf, name));
    }
    const char *def = clf_sentence_folder_default_prompt(sf);
    if (def)
        cJSON_AddStringToObject(o, "default_prompt_name", def);
    else
        cJSON_AddNullToObject(o, "default_prompt_name");
    if (s->prompt)
        cJSON_AddStringToObject(o, "prompt", s->prompt);
    else
        cJSON_AddNullToObject(o, "prompt");
    const char *sim = clf_sentence_folder_similarity(sf);
    cJSON_AddStringToObject(o, "similarity", sim ? sim : "cosine");
    cJSON_Delete(cfg);
    if (json)
        return cli_print_json(o);
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        char *v = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
        printf("%-20s %s\n", it->string, v ? v : it->valuestring);
        free(v);
    }
    cJSON_Delete(o);
    return CLI_OK;
}
