/*
 * The Unigram parts of a tokenizer.json (tokenizer_json.c reads the rest):
 * the model's [piece, score] vocabulary, unk_id and byte_fallback; the
 * normalizers an XLM-RoBERTa conversion writes (Precompiled, Replace, in a
 * Sequence; newer transformers add Strip); the Metaspace pre-tokenizer. Anything else is refused, naming
 * it.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <utf8proc.h>

#include "tokenizer.h"

static const char *type_name(const cJSON *o)
{
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    return t ? t : "?";
}

enum clf_status clf_tok_read_unigram(struct clf_msg *m, const char *path, const cJSON *model,
                                     struct clf_tok_vocab *v)
{
    v->unigram = true;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const size_t n = cJSON_IsArray(vocab) ? (size_t)cJSON_GetArraySize(vocab) : 0;
    if (!n)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: Unigram \"vocab\" must be a non-empty "
                            "array of [piece, score]", path);
    size_t bytes = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) ||
            !cJSON_IsNumber(s) || !isfinite(s->valuedouble))
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: \"vocab\" entry %zu is not "
                                "[piece, score] (a string and a number)", path, v->n);
        bytes += strlen(p->valuestring) + 1;
        if (bytes >= UINT32_MAX || v->n++ >= (size_t)INT32_MAX)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: the vocabulary is too large", path);
    }
    v->n = 0;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_id");
    if (!unk || cJSON_IsNull(unk))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: model: Unigram without \"unk_id\" is not "
                            "supported", path);
    if (!cJSON_IsNumber(unk) || !(unk->valuedouble >= 0) || unk->valuedouble >= (double)n ||
        unk->valuedouble != (double)(int32_t)unk->valuedouble)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: \"unk_id\" must be an id in [0, %zu)",
                            path, n);
    v->unk_id = (int32_t)unk->valuedouble;
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    if (bf && !cJSON_IsBool(bf))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: \"byte_fallback\" must be true or false",
                            path);
    v->byte_fallback = cJSON_IsTrue(bf);
    v->strings = malloc(bytes);
    v->off = malloc(n * sizeof *v->off);
    v->len = malloc(n * sizeof *v->len);
    v->id = malloc(n * sizeof *v->id);
    v->score = malloc(n * sizeof *v->score);
    if (!v->strings || !v->off || !v->len || !v->id || !v->score)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the vocabulary", path);
    size_t at = 0;
    cJSON_ArrayForEach(e, vocab)
    {
        const char *p = cJSON_GetArrayItem(e, 0)->valuestring;
        const size_t len = strlen(p);
        memcpy(v->strings + at, p, len + 1);
        v->off[v->n] = (uint32_t)at, v->len[v->n] = (uint32_t)len;
        v->score[v->n] = cJSON_GetArrayItem(e, 1)->valuedouble;
        v->id[v->n] = (int32_t)v->n;
        v->n++;
        at += len + 1;
    }
    return CLF_OK;
}

/* A Replace normaliser: its pattern, a String (a literal) or a Regex of the
 * forms these folders write, "c{n,}" and "c+" (c one character, "\\"
 * escaping it) or a literal without regex syntax, into r. */
static enum clf_status read_replace(struct clf_msg *m, const char *path, const cJSON *n,
                                    struct clf_norm_step *r)
{
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
    const char *str = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pat, "String"));
    const char *re = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pat, "Regex"));
    const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "content"));
    if ((!str && !re) || !content)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Replace: needs a \"pattern\" "
                            "{\"String\" or \"Regex\": ...} and a \"content\" string", path);
    const char *lit = str ? str : re;
    /* the normalised text must stay UTF-8 (cJSON lets other bytes through) */
    if (!clf_utf8_valid(lit, strlen(lit)) || !clf_utf8_valid(content, strlen(content)))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Replace: \"pattern\" and "
                            "\"content\" must be UTF-8", path);
    size_t plen = strlen(lit);
    unsigned min_run = 0;
    if (re) {
        const bool escaped = re[0] == '\\';
        if (escaped && !isalnum((unsigned char)re[1]) && re[1])
            lit = re + 1; /* an escaped character (not a class such as \s) */
        /* one character (lit is UTF-8: 0 bytes only when empty) */
        utf8proc_int32_t cp;
        const utf8proc_ssize_t k1 = utf8proc_iterate((const utf8proc_uint8_t *)lit,
                                                     (utf8proc_ssize_t)strlen(lit), &cp);
        const size_t clen = k1 > 0 ? (size_t)k1 : 0;
        const char *q = lit + clen;
        char *end = NULL;
        unsigned long k = 0;
        if (!strcmp(q, "+"))
            min_run = 1;
        else if (q[0] == '{' && (k = strtoul(q + 1, &end, 10)) >= 1 && k < 1000 && end &&
                 !strcmp(end, ",}"))
            min_run = (unsigned)k;
        if (min_run && (escaped ? lit != re : !strchr("\\^$.|?*+()[]{}", lit[0])))
            plen = clen;
        else if (lit != re || strpbrk(re, "\\^$.|?*+()[]{}"))
            return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: normalizer Replace: regex \"%s\": "
                                "clformer runs literals, \"c+\" and \"c{n,}\"", path, re);
    }
    if (!plen)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Replace: an empty pattern", path);
    r->pattern = malloc(plen);
    r->content = strdup(content);
    if (!r->pattern || !r->content)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
    memcpy(r->pattern, lit, plen);
    r->plen = plen, r->min_run = min_run, r->clen = strlen(content);
    return CLF_OK;
}

/* One normaliser (not a Sequence) appended to t. */
static enum clf_status read_step(struct clf_msg *m, const char *path, const cJSON *n,
                                 struct clf_spm_text *t)
{
    const char *type = type_name(n);
    const bool pre = !strcmp(type, "Precompiled"), strip = !strcmp(type, "Strip");
    if (!pre && !strip && strcmp(type, "Replace"))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: normalizer \"%s\": clformer runs "
                            "Precompiled, Replace and Strip with Unigram", path, type);
    struct clf_norm_step *s = realloc(t->steps, (t->n_steps + 1) * sizeof *s);
    if (!s)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory", path);
    t->steps = s;
    s = &t->steps[t->n_steps++];
    *s = (struct clf_norm_step){0};
    if (strip) { /* its ends (both absent: Hugging Face's default, none) */
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(n, "strip_left");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(n, "strip_right");
        if ((l && !cJSON_IsBool(l)) || (r && !cJSON_IsBool(r)))
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Strip: \"strip_left\" and "
                                "\"strip_right\" are true or false", path);
        s->strip = (cJSON_IsTrue(l) ? 1u : 0u) | (cJSON_IsTrue(r) ? 2u : 0u);
        if (!s->strip) /* strips nothing: no step */
            t->n_steps--;
        return CLF_OK;
    }
    if (!pre)
        return read_replace(m, path, n, s);
    const char *map = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(n, "precompiled_charsmap"));
    if (!map)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Precompiled: no "
                            "\"precompiled_charsmap\" string", path);
    return clf_charsmap_parse(m, path, map, &s->charsmap);
}

/* The Metaspace pre-tokenizer: its replacement (one character), prepend
 * scheme ("always", "never", "first"; older files say add_prefix_space)
 * and split. */
static enum clf_status read_metaspace(struct clf_msg *m, const char *path, const cJSON *pre,
                                      struct clf_spm_text *t)
{
    if (!pre || strcmp(type_name(pre), "Metaspace"))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: pre_tokenizer \"%s\": clformer runs "
                            "Metaspace with Unigram", path, pre && !cJSON_IsNull(pre)
                                                                ? type_name(pre) : "none");
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(pre, "replacement");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space");
    const cJSON *scheme = cJSON_GetObjectItemCaseSensitive(pre, "prepend_scheme");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(pre, "split");
    const char *r = cJSON_GetStringValue(rep);
    utf8proc_int32_t cp;
    const size_t rlen = r ? strlen(r) : 0;
    if (!r || !rlen || rlen >= sizeof t->replacement ||
        utf8proc_iterate((const utf8proc_uint8_t *)r, (utf8proc_ssize_t)rlen, &cp) !=
            (utf8proc_ssize_t)rlen)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: pre_tokenizer Metaspace: \"replacement\" must "
                            "be one character", path);
    memcpy(t->replacement, r, rlen + 1);
    t->rlen = rlen;
    const char *sc = cJSON_GetStringValue(scheme);
    if ((aps && !cJSON_IsBool(aps)) || (split && !cJSON_IsBool(split)) || (scheme && !sc))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: pre_tokenizer Metaspace: \"add_prefix_space\" "
                            "and \"split\" are true or false, \"prepend_scheme\" a string",
                            path);
    t->split = !split || cJSON_IsTrue(split);
    t->prepend = !sc || !strcmp(sc, "always") ? CLF_PREPEND_ALWAYS
                 : !strcmp(sc, "never")      ? CLF_PREPEND_NEVER
                 : !strcmp(sc, "first")      ? CLF_PREPEND_FIRST
                                             : (enum clf_prepend)-1;
    if ((int)t->prepend < 0)
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: pre_tokenizer Metaspace: \"prepend_scheme\" "
                            "\"%s\" is not always, never or first", path, sc);
    if (aps && !cJSON_IsTrue(aps)) /* tokenizers 0.15: no prefix whatever the scheme */
        t->prepend = CLF_PREPEND_NEVER;
    return CLF_OK;
}

enum clf_status clf_tok_read_spm_text(struct clf_msg *m, const char *path, const cJSON *norm,
                                      const cJSON *pre, struct clf_tok_vocab *v)
{
    enum clf_status st = CLF_OK;
    if (norm && !cJSON_IsNull(norm) && !strcmp(type_name(norm), "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(norm, "normalizers"), *n;
        if (!cJSON_IsArray(list))
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer Sequence: no \"normalizers\" "
                                "array", path);
        cJSON_ArrayForEach(n, list)
        {
            if (st == CLF_OK)
                st = read_step(m, path, n, &v->spm);
        }
    } else if (norm && !cJSON_IsNull(norm)) {
        st = read_step(m, path, norm, &v->spm);
    }
    return st == CLF_OK ? read_metaspace(m, path, pre, &v->spm) : st;
}
