/* `clformer serve`'s requests and answers (see serve.h). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

bool serve_fail(struct serve_error *e, unsigned status, const char *code, const char *param,
                const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

void serve_request_free(struct serve_request *r)
{
    for (size_t i = 0; r->in && i < r->n; i++)
        free(r->in[i].ids);
    free(r->in);
    free(r->model);
    memset(r, 0, sizeof *r);
}

/* Input i, a text: tokenised as `clformer embed` does (the folder's prompt
 * first, cut at max_length when truncate, else 413). */
static bool encode_text(const struct serve_model *m, const char *text, size_t i, bool truncate,
                        struct serve_input *in, struct serve_error *e)
{
    in->ids = malloc((size_t)m->max_length * sizeof *in->ids);
    if (!in->ids)
        return serve_fail(e, 500, "out_of_memory", NULL, "out of memory");
    bool cut = false;
    pthread_mutex_lock(m->tok_lock);
    enum clf_status st = clf_tokenizer_encode_sentence(m->tok, m->prompt, text, in->ids,
                                                       (size_t)m->max_length, &in->len, &cut);
    pthread_mutex_unlock(m->tok_lock);
    in->prompted = true;
    if (st == CLF_E_INVALID_ARG)
        return serve_fail(e, 400, "invalid_input", "input", "input %zu is not valid UTF-8", i);
    if (st != CLF_OK)
        return serve_fail(e, 500, "tokenizer_error", "input", "input %zu: %s", i,
                          clf_status_str(st));
    if (cut && !truncate)
        return serve_fail(e, 413, "input_too_long", "input",
                          "input %zu is longer than the model's %lld tokens (truncation is off)",
                          i, (long long)m->max_length);
    return true;
}

/* Input i, token ids as given (no [CLS] or [SEP] added, no prompt: as
 * text-embeddings-inference takes them). */
static bool encode_ids(const struct serve_model *m, const cJSON *arr, size_t i, bool truncate,
                       struct serve_input *in, struct serve_error *e)
{
    const size_t n = (size_t)cJSON_GetArraySize(arr);
    if (!n)
        return serve_fail(e, 400, "invalid_input", "input", "input %zu is an empty token array",
                          i);
    if (m->vocab <= 0)
        return serve_fail(e, 400, "invalid_input", "input",
                          "the model's vocabulary size is unknown (no vocab_size in its "
                          "config.json): give texts");
    if (n > (size_t)m->max_length && !truncate)
        return serve_fail(e, 413, "input_too_long", "input",
                          "input %zu has %zu tokens, more than the model's %lld (truncation "
                          "is off)",
                          i, n, (long long)m->max_length);
    in->len = n < (size_t)m->max_length ? n : (size_t)m->max_length;
    in->ids = malloc(in->len * sizeof *in->ids);
    if (!in->ids)
        return serve_fail(e, 500, "out_of_memory", NULL, "out of memory");
    in->prompted = false;
    size_t k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        const double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
        if (!cJSON_IsNumber(v) || d != floor(d) || d < 0 || d >= (double)m->vocab)
            return serve_fail(e, 400, "invalid_input", "input",
                              "input %zu: token %zu is not an id of the vocabulary (an "
                              "integer from 0 to %lld)",
                              i, k, (long long)m->vocab - 1);
        if (k < in->len)
            in->ids[k] = (int32_t)d;
        k++;
    }
    return true;
}

/* The inputs: a string, an array of strings, an array of token ids, or an
 * array of such arrays. */
static bool read_inputs(const struct serve_model *m, const cJSON *root, const char *param,
                        bool truncate, struct serve_request *r, struct serve_error *e)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, param);
    if (!input)
        return serve_fail(e, 400, "missing_input", param, "the request has no %s", param);
    const bool one = cJSON_IsString(input) ||
                     (cJSON_IsArray(input) && cJSON_IsNumber(cJSON_GetArrayItem(input, 0)));
    if (!one && !cJSON_IsArray(input))
        return serve_fail(e, 400, "invalid_type", param,
                          "%s must be a string, an array of strings, an array of token "
                          "ids or an array of such arrays",
                          param);
    const size_t n = one ? 1 : (size_t)cJSON_GetArraySize(input);
    if (!n)
        return serve_fail(e, 400, "invalid_input", param, "%s is an empty array", param);
    if (n > m->max_inputs)
        return serve_fail(e, 413, "too_many_inputs", param,
                          "%zu inputs, more than the server's %zu (--max-inputs)", n,
                          m->max_inputs);
    r->in = calloc(n, sizeof *r->in);
    if (!r->in)
        return serve_fail(e, 500, "out_of_memory", NULL, "out of memory");
    r->n = n;
    const cJSON *it = one ? input : input->child;
    for (size_t i = 0; i < n; i++, it = it->next) {
        bool ok;
        if (cJSON_IsString(it))
            ok = encode_text(m, it->valuestring, i, truncate, &r->in[i], e);
        else if (cJSON_IsArray(it))
            ok = encode_ids(m, it, i, truncate, &r->in[i], e);
        else
            ok = serve_fail(e, 400, "invalid_type", param,
                            "input %zu is neither a string nor an array of token ids", i);
        if (!ok)
            return false;
        r->tokens += r->in[i].len;
    }
    return true;
}

/* A boolean member (absent: def). */
static bool read_bool(const cJSON *o, const char *key, bool def, bool *out,
                      struct serve_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && !cJSON_IsBool(v))
        return serve_fail(e, 400, "invalid_type", key, "%s must be true or false", key);
    *out = v ? cJSON_IsTrue(v) : def;
    return true;
}

bool serve_request_parse(const struct serve_model *m, enum serve_endpoint ep, const char *body,
                         struct serve_request *r, struct serve_error *e)
{
    memset(r, 0, sizeof *r);
    cJSON *root = cJSON_Parse(body);
    bool ok = true;
    if (!root)
        ok = serve_fail(e, 400, "invalid_json", NULL, "the body is not JSON");
    else if (!cJSON_IsObject(root))
        ok = serve_fail(e, 400, "invalid_type", NULL, "the body must be a JSON object");
    bool truncate = true;
    r->normalize = m->normalize;
    if (ok && ep == SERVE_EP_TEI) {
        ok = read_bool(root, "normalize", true, &r->normalize, e) &&
             read_bool(root, "truncate", false, &truncate, e) &&
             read_inputs(m, root, "inputs", truncate, r, e);
        cJSON_Delete(root);
        return ok;
    }
    const cJSON *model = ok ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    const cJSON *fmt = ok ? cJSON_GetObjectItemCaseSensitive(root, "encoding_format") : NULL;
    const cJSON *dims = ok ? cJSON_GetObjectItemCaseSensitive(root, "dimensions") : NULL;
    if (ok && model && !cJSON_IsString(model))
        ok = serve_fail(e, 400, "invalid_type", "model", "model must be a string");
    if (ok && fmt && !(cJSON_IsString(fmt) && (!strcmp(fmt->valuestring, "float") ||
                                               !strcmp(fmt->valuestring, "base64"))))
        ok = serve_fail(e, 400, "invalid_value", "encoding_format",
                        "encoding_format must be \"float\" or \"base64\"");
    if (ok && dims && !cJSON_IsNull(dims) &&
        !(cJSON_IsNumber(dims) && dims->valuedouble == floor(dims->valuedouble) &&
          dims->valuedouble >= 1 && dims->valuedouble <= (double)m->dim))
        ok = serve_fail(e, 400, "invalid_value", "dimensions",
                        "dimensions must be an integer from 1 to %lld", (long long)m->dim);
    if (ok) {
        r->base64 = fmt && !strcmp(fmt->valuestring, "base64");
        r->dims = cJSON_IsNumber(dims) ? (int64_t)dims->valuedouble : 0;
        r->model = model ? strdup(model->valuestring) : NULL;
        if (model && !r->model)
            ok = serve_fail(e, 500, "out_of_memory", NULL, "out of memory");
    }
    if (ok)
        ok = read_inputs(m, root, "input", truncate, r, e);
    cJSON_Delete(root);
    return ok;
}

void serve_put(struct serve_text *t, const char *fmt, ...)
{
    for (int pass = 0; t->ok && pass < 2; pass++) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->ok = false;
        } else if ((size_t)k < t->cap - t->n) {
            t->n += (size_t)k;
            return;
        } else {
            size_t cap = 2 * t->cap + (size_t)k + 1;
            char *s = realloc(t->s, cap);
            t->ok = s != NULL;
            t->s = s ? s : t->s;
            t->cap = s ? cap : t->cap;
        }
    }
}

/* v [d] as base64 of its little-endian float32 bytes. */
static void put_base64(struct serve_text *t, const float *v, int64_t d)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t n = (size_t)d * 4;
    char quad[5] = {0};
    for (size_t i = 0; i < n && t->ok; i += 3) {
        const size_t have = n - i < 3 ? n - i : 3; /* bytes in this group */
        uint32_t w = 0;
        for (size_t k = i; k < i + 3; k++) {
            uint32_t bits = 0;
            if (k < n) {
                memcpy(&bits, &v[k / 4], sizeof bits);
                bits = (bits >> (8 * (k % 4))) & 0xff; /* little-endian byte k % 4 */
            }
            w = w << 8 | bits;
        }
        for (int q = 0; q < 4; q++)
            quad[q] = (size_t)q <= have ? digits[(w >> (18 - 6 * q)) & 63] : '=';
        serve_put(t, "%s", quad);
    }
}

/* Row v's first cols, L2-normalised (in double). */
static void normalize_row(float *v, int64_t cols)
{
    double ss = 0;
    for (int64_t k = 0; k < cols; k++)
        ss += (double)v[k] * v[k];
    if (ss <= 0)
        return;
    const double s = 1.0 / sqrt(ss);
    for (int64_t k = 0; k < cols; k++)
        v[k] = (float)(v[k] * s);
}

char *serve_answer(const struct serve_model *m, enum serve_endpoint ep,
                   const struct serve_request *r, float *vecs)
{
    struct serve_text t = {NULL, 0, 0, true};
    const int64_t cols = r->dims ? r->dims : m->dim;
    const bool openai = ep == SERVE_EP_OPENAI;
    serve_put(&t, openai ? "{\"object\":\"list\",\"data\":[" : "[");
    for (size_t i = 0; i < r->n; i++) {
        float *v = vecs + i * (size_t)m->dim;
        if (r->normalize)
            normalize_row(v, cols);
        serve_put(&t, "%s", i ? "," : "");
        if (openai)
            serve_put(&t, "{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i);
        if (r->base64) {
            serve_put(&t, "\"");
            put_base64(&t, v, cols);
            serve_put(&t, "\"");
        } else {
            serve_put(&t, "[");
            /* 9 significant digits: the float read back is the same float */
            for (int64_t k = 0; k < cols; k++)
                serve_put(&t, "%s%.9g", k ? "," : "", (double)v[k]);
            serve_put(&t, "]");
        }
        serve_put(&t, "%s", openai ? "}" : "");
    }
    if (openai) {
        cJSON *name = cJSON_CreateString(r->model ? r->model : m->name);
        char *quoted = name ? cJSON_PrintUnformatted(name) : NULL;
        t.ok = t.ok && quoted;
        serve_put(&t, "],\"model\":%s,\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}",
            quoted ? quoted : "", r->tokens, r->tokens);
        free(quoted);
        cJSON_Delete(name);
    } else {
        serve_put(&t, "]");
    }
    if (!t.ok) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

char *serve_error_json(enum serve_endpoint ep, const struct serve_error *e)
{
    cJSON *o = cJSON_CreateObject();
    if (ep == SERVE_EP_TEI) {
        cJSON_AddStringToObject(o, "error", e->message);
        cJSON_AddStringToObject(o, "error_type", e->status == 503   ? "Overloaded"
                                                 : e->status >= 500 ? "Backend"
                                                                    : "Validation");
    } else {
        cJSON *err = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(err, "message", e->message);
        cJSON_AddStringToObject(err, "type",
                                e->status >= 500 ? "server_error" : "invalid_request_error");
        if (e->param)
            cJSON_AddStringToObject(err, "param", e->param);
        else
            cJSON_AddNullToObject(err, "param");
        cJSON_AddStringToObject(err, "code", e->code);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
