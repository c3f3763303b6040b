/*
 * A tokenizer's vocabulary and settings from a Hugging Face tokenizer.json
 * (the `tokenizers` library's format: "normalizer", "pre_tokenizer",
 * "model", "post_processor", "added_tokens"), for clf_tokenizer_load: BERT's
 * WordPiece, byte-level BPE (RoBERTa), or Unigram (XLM-RoBERTa:
 * tokenizer_json_unigram.c). Only the components
 * clf_tokenizer_encode implements are accepted; any other is an error
 * naming it, so that a tokenizer that would split text otherwise is never
 * run silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tokenizer.h"

static const char *const specials[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"};

static bool is_special(const char *s)
{
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        if (!strcmp(s, specials[i]))
            return true;
    return false;
}

/* o's key "type" as a string, or NULL. */
static const char *type_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* A boolean key that must be true (or absent) for our BERT tokenizer. */
static bool true_or_absent(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return !v || cJSON_IsTrue(v);
}

/* The normaliser: BertNormalizer with clean_text and handle_chinese_chars
 * (lowercase into v), or none. */
static enum clf_status check_normalizer(struct clf_msg *m, const char *path, const cJSON *n,
                                        struct clf_tok_vocab *v)
{
    if (!n || cJSON_IsNull(n))
        return CLF_OK;
    const char *type = type_of(n);
    if (!type || strcmp(type, "BertNormalizer"))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: normalizer \"%s\": clformer's tokenizer is BERT's "
                            "(BertNormalizer)",
                            path, type ? type : "?");
    if (!true_or_absent(n, "clean_text") || !true_or_absent(n, "handle_chinese_chars"))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: normalizer: clean_text and handle_chinese_chars false are not "
                            "supported",
                            path);
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(n, "lowercase");
    if (lc && !cJSON_IsBool(lc))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer: \"lowercase\" must be true or "
                            "false", path);
    v->lower_case = lc ? cJSON_IsTrue(lc) : 1;
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(n, "strip_accents");
    if (sa && !cJSON_IsNull(sa) && cJSON_IsTrue(sa) != (v->lower_case == 1))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: normalizer: \"strip_accents\" differs from \"lowercase\": "
                            "clformer's tokenizer strips accents exactly when it lower-cases",
                            path);
    return CLF_OK;
}

/* A [token, id] pair's token (RobertaProcessing's "cls", "sep") into out. */
static bool pair_token(const cJSON *p, const char *key, char out[32])
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, key);
    const cJSON *t = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    if (!cJSON_IsString(t) || strlen(t->valuestring) >= 32)
        return false;
    strcpy(out, t->valuestring);
    return true;
}

/* The post-processor: one special token, the text, one special token
 * (TemplateProcessing "X $A Y", BertProcessing, RobertaProcessing); the two
 * into v->cls and v->sep. WordPiece's must be [CLS] and [SEP]. */
static enum clf_status check_post(struct clf_msg *m, const char *path, const cJSON *p,
                                  struct clf_tok_vocab *v)
{
    if (!p || cJSON_IsNull(p))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: no post_processor: clformer adds the special tokens", path);
    const char *type = type_of(p);
    bool ok = false;
    if (type && (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing"))) {
        ok = pair_token(p, "cls", v->cls) && pair_token(p, "sep", v->sep);
        if (!ok && !strcmp(type, "BertProcessing")) /* its defaults */
            strcpy(v->cls, "[CLS]"), strcpy(v->sep, "[SEP]"), ok = true;
    } else if (type && !strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
        ok = cJSON_IsArray(single) && cJSON_GetArraySize(single) == 3;
        for (int i = 0; ok && i < 3; i++) {
            const cJSON *piece = cJSON_GetArrayItem(single, i);
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(piece, "Sequence");
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp ? sp : seq, "id");
            ok = cJSON_IsString(id) && (i == 1) == !sp && strlen(id->valuestring) < 32 &&
                 (i != 1 || !strcmp(id->valuestring, "A"));
            if (ok && i != 1)
                strcpy(i ? v->sep : v->cls, id->valuestring);
        }
    }
    if (!ok)
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: post_processor \"%s\": clformer's tokenizer makes "
                            "<special> text <special> (TemplateProcessing, BertProcessing, "
                            "RobertaProcessing)",
                            path, type ? type : "?");
    return CLF_OK;
}

/* The pre-tokenizer: BertPreTokenizer (or none) for WordPiece, ByteLevel
 * with its regex for BPE (add_prefix_space into v). */
static enum clf_status check_pre(struct clf_msg *m, const char *path, const cJSON *pre,
                                 struct clf_tok_vocab *v)
{
    const bool none = !pre || cJSON_IsNull(pre);
    const char *type = none ? NULL : type_of(pre);
    if (!v->bpe && (none || (type && !strcmp(type, "BertPreTokenizer"))))
        return CLF_OK;
    if (v->bpe && type && !strcmp(type, "ByteLevel") && true_or_absent(pre, "use_regex")) {
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space");
        v->add_prefix_space = cJSON_IsTrue(aps);
        return CLF_OK;
    }
    return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                        "%s: pre_tokenizer \"%s\": clformer runs BertPreTokenizer with "
                        "WordPiece and ByteLevel (use_regex) with BPE",
                        path, none ? "none" : type ? type : "?");
}

/* BPE's merges, "left right" strings (or [left, right] pairs, as later
 * versions write them), into v in rank order. */
static enum clf_status read_merges(struct clf_msg *m, const char *path, const cJSON *merges,
                                   struct clf_tok_vocab *v)
{
    if (!cJSON_IsArray(merges))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: no \"merges\" array", path);
    size_t n = (size_t)cJSON_GetArraySize(merges), bytes = 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, merges)
    {
        const cJSON *a = cJSON_IsArray(e) ? cJSON_GetArrayItem(e, 0) : NULL;
        const cJSON *b = cJSON_IsArray(e) ? cJSON_GetArrayItem(e, 1) : NULL;
        if (cJSON_IsString(e) && strchr(e->valuestring, ' '))
            bytes += strlen(e->valuestring) + 1;
        else if (cJSON_IsString(a) && cJSON_IsString(b) && cJSON_GetArraySize(e) == 2)
            bytes += strlen(a->valuestring) + strlen(b->valuestring) + 2;
        else
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: a merge that is not \"a b\" "
                                "nor [a, b]", path);
        if (bytes >= UINT32_MAX)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: too many merges", path);
    }
    v->merges = malloc(bytes);
    v->m_off = malloc((n ? n : 1) * sizeof *v->m_off);
    v->m_len = malloc((n ? n : 1) * sizeof *v->m_len);
    if (!v->merges || !v->m_off || !v->m_len)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the merges", path);
    size_t at = 0;
    cJSON_ArrayForEach(e, merges)
    {
        int len = cJSON_IsString(e)
                      ? snprintf(v->merges + at, bytes - at, "%s", e->valuestring)
                      : snprintf(v->merges + at, bytes - at, "%s %s",
                                 cJSON_GetArrayItem(e, 0)->valuestring,
                                 cJSON_GetArrayItem(e, 1)->valuestring);
        v->m_off[v->n_merges] = (uint32_t)at, v->m_len[v->n_merges++] = (uint32_t)len;
        at += (size_t)len + 1;
    }
    return CLF_OK;
}

/* The model: WordPiece with "##" and [UNK]; its vocabulary into v. */
static enum clf_status read_model(struct clf_msg *m, const char *path, const cJSON *model,
                                  struct clf_tok_vocab *v)
{
    const char *type = type_of(model);
    v->bpe = type && !strcmp(type, "BPE");
    if (type && !strcmp(type, "Unigram"))
        return clf_tok_read_unigram(m, path, model, v);
    if (!type || (strcmp(type, "WordPiece") && !v->bpe))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: model \"%s\": clformer reads WordPiece (BERT), byte-level "
                            "BPE (RoBERTa) and Unigram (XLM-RoBERTa) tokenizers",
                            path, type ? type : "?");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *maxc = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (v->bpe) {
        static const char *const off[] = {"dropout", "continuing_subword_prefix",
                                          "end_of_word_suffix"};
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, off[i]);
            if (x && !cJSON_IsNull(x) && !(cJSON_IsString(x) && !*x->valuestring))
                return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: model: BPE with \"%s\" is not "
                                    "supported", path, off[i]);
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
            return clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: model: BPE with \"byte_fallback\" "
                                "is not supported", path);
        if (cJSON_IsString(unk) && strlen(unk->valuestring) < sizeof v->unk)
            strcpy(v->unk, unk->valuestring);
        pre = maxc = NULL;
    } else if (!unk) {
        strcpy(v->unk, "[UNK]"); /* WordPiece's default */
    } else if (cJSON_IsString(unk) && *unk->valuestring &&
               strlen(unk->valuestring) < sizeof v->unk) {
        strcpy(v->unk, unk->valuestring);
    } else {
        return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: model: \"unk_token\" must be a token of 1 to 31 bytes", path);
    }
    if (pre && !(cJSON_IsString(pre) && !strcmp(pre->valuestring, "##")))
        return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                            "%s: model: \"continuing_subword_prefix\" other than \"##\"", path);
    if (maxc && !(cJSON_IsNumber(maxc) && maxc->valuedouble >= 1 && maxc->valuedouble < 1e9))
        return clf_msg_fail(m, CLF_E_FORMAT,
                            "%s: model: \"max_input_chars_per_word\" must be a positive integer",
                            path);
    v->max_word_chars = maxc ? (int64_t)maxc->valuedouble : 0;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: no \"vocab\" object", path);
    size_t n = (size_t)cJSON_GetArraySize(vocab), bytes = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != (double)(int32_t)e->valuedouble)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: model: vocab entry \"%s\": not an id",
                                path, e->string);
        bytes += strlen(e->string) + 1;
        if (bytes >= UINT32_MAX)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: the vocabulary is too large", path);
    }
    v->strings = malloc(bytes ? bytes : 1);
    v->off = malloc((n ? n : 1) * sizeof *v->off);
    v->len = malloc((n ? n : 1) * sizeof *v->len);
    v->id = malloc((n ? n : 1) * sizeof *v->id);
    if (!v->strings || !v->off || !v->len || !v->id)
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the vocabulary", path);
    size_t at = 0;
    cJSON_ArrayForEach(e, vocab)
    {
        size_t len = strlen(e->string);
        memcpy(v->strings + at, e->string, len + 1);
        v->off[v->n] = (uint32_t)at, v->len[v->n] = (uint32_t)len;
        v->id[v->n++] = (int32_t)e->valuedouble;
        at += len + 1;
    }
    return v->bpe ? read_merges(m, path, cJSON_GetObjectItemCaseSensitive(model, "merges"), v)
                  : CLF_OK;
}

/* The added tokens into v, at most CLF_TOK_MAX_ADDED: special ones (or
 * BERT's five by name) with WordPiece, any with BPE. */
static enum clf_status check_added(struct clf_msg *m, const char *path, const cJSON *added,
                                   struct clf_tok_vocab *v)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, added)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (!cJSON_IsString(c) || !cJSON_IsNumber(id) || !(id->valuedouble >= 0) ||
            id->valuedouble > INT32_MAX)
            return clf_msg_fail(m, CLF_E_FORMAT, "%s: added_tokens: an entry without "
                                "\"content\" and an \"id\" in [0, 2^31)", path);
        /* WordPiece: special tokens, matched on the text as written (HF
         * normalises the others first, which clformer does not) */
        if (!v->bpe && !v->unigram && !is_special(c->valuestring) &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special")))
            return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                "%s: added_tokens: \"%s\": clformer splits out special tokens "
                                "only with WordPiece",
                                path, c->valuestring);
        if (v->n_added == CLF_TOK_MAX_ADDED || !*c->valuestring ||
            strlen(c->valuestring) >= sizeof v->added[0].text ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "single_word")))
            return clf_msg_fail(m, CLF_E_UNSUPPORTED,
                                "%s: added_tokens: \"%s\": clformer splits out at most %d added "
                                "tokens of 1 to 31 bytes, not single_word",
                                path, c->valuestring, CLF_TOK_MAX_ADDED);
        /* its id is checked against the vocabulary by the tokenizer's table */
        struct clf_tok_added *t = &v->added[v->n_added++];
        strcpy(t->text, c->valuestring);
        t->id = (int32_t)id->valuedouble;
        t->lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "lstrip"));
        t->rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "rstrip"));
        t->normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "normalized"));
    }
    return CLF_OK;
}

void clf_tok_vocab_free(struct clf_tok_vocab *v)
{
    free(v->strings);
    free(v->off);
    free(v->len);
    free(v->id);
    free(v->merges);
    free(v->m_off);
    free(v->m_len);
    free(v->score);
    clf_spm_text_free(&v->spm);
    *v = (struct clf_tok_vocab){0};
}

enum clf_status clf_tok_vocab_read_json(struct clf_msg *m, const char *path,
                                        struct clf_tok_vocab *v)
{
    *v = (struct clf_tok_vocab){.lower_case = -1};
    char *text = NULL;
    enum clf_status st = clf_io_read_text(m, path, &text);
    if (st != CLF_OK)
        return st;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: not a JSON object", path);
    }
    st = read_model(m, path, cJSON_GetObjectItemCaseSensitive(root, "model"), v);
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (st == CLF_OK && v->bpe && norm && !cJSON_IsNull(norm))
        st = clf_msg_fail(m, CLF_E_UNSUPPORTED, "%s: normalizer \"%s\" with BPE: clformer "
                          "runs byte-level BPE without one", path, type_of(norm) ? type_of(norm)
                                                                                : "?");
    else if (st == CLF_OK && v->unigram)
        st = clf_tok_read_spm_text(m, path, norm,
                                   cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), v);
    else if (st == CLF_OK && !v->bpe)
        st = check_normalizer(m, path, norm, v);
    if (st == CLF_OK && !v->unigram)
        st = check_pre(m, path, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), v);
    if (st == CLF_OK)
        st = check_post(m, path, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), v);
    if (st == CLF_OK)
        st = check_added(m, path, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), v);
    cJSON_Delete(root);
    if (st != CLF_OK)
        clf_tok_vocab_free(v);
    return st;
}
