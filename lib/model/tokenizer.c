/*
 * BERT's WordPiece tokenizer, as Hugging Face's BertTokenizer /
 * BertTokenizerFast (transformers 4.36, tokenizers 0.15) give it for an
 * uncased model such as all-MiniLM-L6-v2:
 *
 *   1. special tokens written in the text ("[CLS]", "[SEP]", "[UNK]",
 *      "[PAD]", "[MASK]": exact, case-sensitive) are taken as they are and
 *      split the text into segments (HF's added-token split);
 *   2. BasicTokenizer on each segment: drop U+0000, U+FFFD and "control"
 *      characters (every category C*: Cc, Cf, Cn, Co, Cs, except \t \n \r),
 *      treat \t \n \r and categories Zs, Zl, Zp as white space, put a word
 *      boundary around each CJK ideograph (BERT's _is_chinese_char ranges),
 *      split on white space; with lower_case each word is lower-cased code
 *      point by code point (utf8proc_tolower, simple case mapping: HF
 *      lower-cases one character at a time too, so no final-sigma rule) and
 *      its accents are stripped (canonical decomposition, NFD, then every
 *      non-spacing mark, category Mn, removed); then every punctuation
 *      character (ASCII 33-47, 58-64, 91-96, 123-126 and categories P*)
 *      becomes a word of its own;
 *   3. WordpieceTokenizer on each word: a word of more than max_word_chars
 *      code points is [UNK]; otherwise greedy longest match from the left,
 *      pieces after the first looked up as "##" + piece, and a word with a
 *      position no piece matches is one [UNK];
 *   4. [CLS] + the first max_length - 2 pieces + [SEP].
 *
 * The vocabulary (vocab.txt: one token per line, id = line number, a later
 * duplicate wins as in HF's dict) is a string table (strtab.h) over the
 * token's UTF-8 bytes. Character properties come
 * from utf8proc (its Unicode version may differ from Python's for
 * characters assigned recently; those are the only expected differences).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <utf8proc.h>

#include "bpe.h"
#include "../runtime/grow.h"
#include "strtab.h"
#include "unigram.h"
#include "tokenizer.h"
#include "io.h"
#include "../runtime/abi.h"

/* [CLS], [SEP], [UNK], [PAD], [MASK]; or a BPE tokenizer's added tokens */
#define TOK_MAX_SPECIALS CLF_TOK_MAX_ADDED

struct tok_special {
    char text[32];
    size_t len;
    int32_t id;
    bool lstrip, rstrip; /* white space before (after) it absorbed */
    bool fold;           /* matched ASCII-case-blind (a normalized token, lower-casing) */
    bool after_norm;     /* Unigram: matched on the normalised text (a normalized token) */
};

struct clf_tokenizer {
    struct clf_ctx *ctx;
    struct clf_tokenizer_params p;
    char *strings;           /* vocab.txt's bytes, lines NUL-terminated in place (or
                                tokenizer.json's tokens) */
    struct clf_strtab vocab; /* token -> id over strings */
    int32_t cls, sep, unk;   /* unk -1: none (byte-level BPE needs none) */
    int32_t max_id;          /* the vocabulary's largest id (-1: empty) */
    struct clf_bpe *bpe;     /* byte-level BPE (tokenizer.json), else WordPiece */
    struct clf_unigram *uni; /* Unigram (tokenizer.json), else WordPiece or BPE */
    struct tok_special specials[TOK_MAX_SPECIALS];
    size_t n_specials;
};

int64_t clf_tokenizer_max_ids(const struct clf_tokenizer *t)
{
    return t->p.max_length;
}

struct clf_ctx *clf_tokenizer_ctx(const struct clf_tokenizer *t)
{
    return t->ctx;
}

void clf_tokenizer_params_init(struct clf_tokenizer_params *out, size_t size)
{
    struct clf_tokenizer_params p = {.lower_case = true, .max_length = 256, .max_word_chars = 100};
    p.size = sizeof p;
    clf_abi_fill(out, size, &p, sizeof p);
}

/* ------------------------------------------------------------------------ */
/* Vocabulary                                                               */
/* ------------------------------------------------------------------------ */

static int32_t tok_lookup(const struct clf_tokenizer *t, const char *s, size_t len)
{
    return clf_strtab_get(&t->vocab, s, len);
}

/* vocab.txt into t's strings and table (t freed by the caller on failure). */
static enum clf_status load_txt(struct clf_ctx *ctx, struct clf_tokenizer *t,
                                const char *vocab_path)
{
    uint64_t size;
    char msg[1024];
    struct clf_msg m = clf_msg_init(msg, sizeof msg);
    int fd = clf_io_open_read(&m, vocab_path, 0, &size);
    if (fd < 0)
        return clf_msg_to_ctx(ctx, CLF_E_IO, msg);
    if (size >= UINT32_MAX) {
        close(fd);
        return clf_fail(ctx, CLF_E_FORMAT, "%s: %llu bytes is too large for a vocabulary",
                        vocab_path, (unsigned long long)size);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        close(fd);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no memory for the vocabulary",
                        vocab_path);
    }
    enum clf_status st = clf_io_pread(&m, fd, vocab_path, buf, (size_t)size, 0, "the vocabulary");
    close(fd);
    if (st != CLF_OK) {
        free(buf);
        return clf_msg_to_ctx(ctx, st, msg);
    }
    buf[size] = '\0';
    t->strings = buf;

    /* Lines as Python's readlines(): a final line without '\n' counts, the
     * empty string after a final '\n' does not; "\r\n" ends a line too. */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += buf[i] == '\n';
    if (size > 0 && buf[size - 1] != '\n')
        lines++;
    if (lines > (size_t)INT32_MAX)
        return clf_fail(ctx, CLF_E_FORMAT, "%s: too many lines", vocab_path);
    if (!clf_strtab_init(&t->vocab, t->strings, lines))
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no memory for the vocabulary",
                        vocab_path);

    size_t start = 0;
    for (int32_t id = 0; start < size; id++) {
        size_t end = start;
        while (end < size && buf[end] != '\n')
            end++;
        size_t next = end + 1;
        if (end > start && buf[end - 1] == '\r')
            end--;
        buf[end] = '\0';
        if (!clf_utf8_valid(buf + start, end - start))
            return clf_fail(ctx, CLF_E_FORMAT, "%s: line %ld is not valid UTF-8", vocab_path,
                            (long)id + 1);
        /* a later duplicate line wins, as in Hugging Face's dict */
        clf_strtab_put(&t->vocab, (uint32_t)start, (uint32_t)(end - start), id, true);
        t->max_id = id;
        start = next;
    }

    return CLF_OK;
}

/* tokenizer.json (clf_tok_vocab_read_json) into t's strings and table; its
 * normaliser's lower-casing and word length replace p's. */
static enum clf_status load_json(struct clf_ctx *ctx, struct clf_tokenizer *t, const char *path,
                                 struct clf_tokenizer_params *p)
{
    char msg[1024];
    struct clf_msg m = clf_msg_init(msg, sizeof msg);
    struct clf_tok_vocab v;
    enum clf_status st = clf_tok_vocab_read_json(&m, path, &v);
    if (st != CLF_OK)
        return clf_msg_to_ctx(ctx, st, msg);
    t->strings = v.strings;
    v.strings = NULL;
    if (!clf_strtab_init(&t->vocab, t->strings, v.n)) {
        clf_tok_vocab_free(&v);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no memory for the vocabulary", path);
    }
    for (size_t i = 0; i < v.n; i++) {
        if (!clf_utf8_valid(t->strings + v.off[i], v.len[i])) {
            clf_tok_vocab_free(&v);
            return clf_fail(ctx, CLF_E_FORMAT, "%s: a vocabulary token is not valid UTF-8",
                            path);
        }
        clf_strtab_put(&t->vocab, v.off[i], v.len[i], v.id[i], true);
        t->max_id = v.id[i] > t->max_id ? v.id[i] : t->max_id;
    }
    /* each added token must be the vocabulary's, with its id */
    for (size_t i = 0; i < v.n_added; i++)
        if (tok_lookup(t, v.added[i].text, strlen(v.added[i].text)) != v.added[i].id) {
            st = clf_fail(ctx, CLF_E_UNSUPPORTED,
                          "%s: added_tokens: \"%s\" with id %d, not the vocabulary's", path,
                          v.added[i].text, (int)v.added[i].id);
            clf_tok_vocab_free(&v);
            return st;
        }
    if (v.lower_case >= 0)
        p->lower_case = v.lower_case;
    if (v.max_word_chars > 0)
        p->max_word_chars = v.max_word_chars;
    if (v.bpe)
        t->bpe = clf_bpe_create(v.merges, v.m_off, v.m_len, v.n_merges, v.add_prefix_space);
    if (v.unigram)
        t->uni = clf_unigram_create(v.score, v.len, v.n, v.unk_id, v.byte_fallback, &v.spm);
    /* the post-processor's tokens, the model's unknown token (WordPiece's
     * always, BPE's when it has one), the added tokens */
    t->cls = tok_lookup(t, v.cls, strlen(v.cls));
    t->sep = tok_lookup(t, v.sep, strlen(v.sep));
    t->unk = v.unigram ? v.unk_id : *v.unk ? tok_lookup(t, v.unk, strlen(v.unk)) : -1;
    for (size_t i = 0; i < v.n_added; i++) {
        struct tok_special *sp = &t->specials[t->n_specials++];
        memcpy(sp->text, v.added[i].text, sizeof sp->text);
        sp->len = strlen(sp->text);
        sp->id = v.added[i].id;
        sp->lstrip = v.added[i].lstrip, sp->rstrip = v.added[i].rstrip;
        sp->fold = v.added[i].normalized && !v.bpe && !v.unigram && p->lower_case;
        sp->after_norm = v.added[i].normalized && v.unigram;
    }
    if ((v.bpe && !t->bpe) || (v.unigram && !t->uni))
        st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no memory for the %s", path,
                      v.bpe ? "merges" : "Unigram model");
    else if (t->cls < 0 || t->sep < 0 || (*v.unk && t->unk < 0))
        st = clf_fail(ctx, CLF_E_FORMAT, "%s: the vocabulary lacks %s", path,
                      t->cls < 0 ? v.cls : t->sep < 0 ? v.sep : v.unk);
    clf_tok_vocab_free(&v);
    return st;
}

enum clf_status clf_tokenizer_load(struct clf_ctx *ctx, const char *vocab_path,
                                   const struct clf_tokenizer_params *p,
                                   struct clf_tokenizer **out)
{
    if (!out)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tokenizer_load: out is NULL");
    *out = NULL;
    if (!vocab_path)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "clf_tokenizer_load: vocab_path is NULL");
    struct clf_tokenizer_params params = clf_tokenizer_params_default();
    enum clf_status ist = clf_abi_import(ctx, "clf_tokenizer_params", p, &params, sizeof params);
    if (ist != CLF_OK)
        return ist;
    if (params.max_length < 2 || params.max_length > INT32_MAX)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "clf_tokenizer_load: max_length %lld must be in [2, 2^31-1] (room for "
                        "[CLS] and [SEP])",
                        (long long)params.max_length);
    if (params.max_word_chars < 1)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "clf_tokenizer_load: max_word_chars %lld must be >= 1",
                        (long long)params.max_word_chars);

    struct clf_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "%s: no memory for the tokenizer", vocab_path);
    t->max_id = -1;
    const size_t plen = strlen(vocab_path);
    const bool json = plen >= 5 && !strcmp(vocab_path + plen - 5, ".json");
    enum clf_status st = json ? load_json(ctx, t, vocab_path, &params)
                              : load_txt(ctx, t, vocab_path);
    if (st != CLF_OK) {
        clf_tokenizer_destroy(t);
        return st;
    }
    t->p = params;
    if (params.vocab_limit > 0 && t->max_id >= params.vocab_limit) {
        st = clf_fail(ctx, CLF_E_FORMAT,
                      "%s: token id %ld is past the model's embedding table of %lld rows "
                      "(config.json's vocab_size)",
                      vocab_path, (long)t->max_id, (long long)params.vocab_limit);
        clf_tokenizer_destroy(t);
        return st;
    }

    /* vocab.txt: BERT's special tokens (tokenizer.json names its own) */
    static const char *const required[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]"};
    for (size_t i = 0; !json && i < 4; i++)
        if (tok_lookup(t, required[i], strlen(required[i])) < 0) {
            clf_tokenizer_destroy(t);
            return clf_fail(ctx, CLF_E_FORMAT, "%s: the vocabulary lacks %s", vocab_path,
                            required[i]);
        }
    static const char *const specials[5] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"};
    for (size_t i = 0; !json && i < 5; i++) {
        int32_t id = tok_lookup(t, specials[i], strlen(specials[i]));
        if (id < 0)
            continue;
        struct tok_special *sp = &t->specials[t->n_specials++];
        *sp = (struct tok_special){.len = strlen(specials[i]), .id = id};
        memcpy(sp->text, specials[i], sp->len + 1);
    }
    if (!json) {
        t->cls = tok_lookup(t, "[CLS]", 5);
        t->sep = tok_lookup(t, "[SEP]", 5);
        t->unk = tok_lookup(t, "[UNK]", 5);
    }
    clf_ctx_ref(ctx); /* for its error messages: the context outlives it */
    t->ctx = ctx;
    *out = t;
    return CLF_OK;
}

void clf_tokenizer_destroy(struct clf_tokenizer *t)
{
    if (!t)
        return;
    clf_strtab_free(&t->vocab);
    free(t->strings);
    clf_bpe_destroy(t->bpe);
    clf_unigram_destroy(t->uni);
    struct clf_ctx *ctx = t->ctx;
    free(t);
    clf_ctx_unref(ctx);
}

int32_t clf_tokenizer_token_id(const struct clf_tokenizer *t, const char *token)
{
    if (!t || !token)
        return -1;
    return tok_lookup(t, token, strlen(token));
}

/* ------------------------------------------------------------------------ */
/* Character classes (transformers' tokenization_bert.py)                    */
/* ------------------------------------------------------------------------ */

/* _is_whitespace, and what Python's str.split() and tokenizers' BERT
 * normaliser also treat as white space among the characters that survive
 * cleaning: U+2028 (Zl) and U+2029 (Zp). */
static bool is_space(int32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return true;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

/* _is_control: any category starting with "C", except \t \n \r. */
static bool is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
        return true;
    default:
        return false;
    }
}

/* _is_punctuation: the ASCII non-alphanumerics (e.g. "^", "$", "`" are not
 * P* in Unicode but are here) and every category starting with "P". */
static bool is_punct(int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return true;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* _is_chinese_char: the CJK Unified Ideographs blocks (not Japanese kana or
 * Hangul, which are written with spaces or split by WordPiece). */
static bool is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */
/* ------------------------------------------------------------------------ */

/* One encode call's state: growable scratch buffers and the pieces so far
 * (at most `limit` = max_length - 2 are kept; more sets `truncated`). */
struct tok_run {
    const struct clf_tokenizer *t;
    int32_t *body;
    size_t n, body_cap, limit;
    bool truncated;
    int32_t *cps; /* a word's code points */
    size_t cps_cap;
    utf8proc_int32_t *nfd; /* its decomposition */
    size_t nfd_cap;
    char *bytes; /* a word's UTF-8 */
    size_t bytes_cap;
    size_t *offs; /* byte offset of each code point in bytes, and the end */
    size_t offs_cap;
    char *key; /* "##" + a piece */
    size_t key_cap;
    bool oom;
    bool missing; /* BPE: a symbol not in the vocabulary */
};

static void emit(struct tok_run *r, int32_t id)
{
    if (r->n >= r->limit) {
        r->truncated = true;
        return;
    }
    if (!clf_grow((void **)&r->body, &r->body_cap, r->n + 1, sizeof *r->body)) {
        r->oom = true;
        return;
    }
    r->body[r->n++] = id;
}

/* WordpieceTokenizer on one word of n code points (no space, no
 * punctuation except a lone one). */
static void wordpiece(struct tok_run *r, const int32_t *w, size_t n)
{
    const struct clf_tokenizer *t = r->t;
    if (n == 0)
        return;
    if (n > (size_t)t->p.max_word_chars) {
        emit(r, t->unk);
        return;
    }
    if (!clf_grow((void **)&r->bytes, &r->bytes_cap, 4 * n, 1) ||
        !clf_grow((void **)&r->offs, &r->offs_cap, n + 1, sizeof *r->offs) ||
        !clf_grow((void **)&r->key, &r->key_cap, 4 * n + 2, 1)) {
        r->oom = true;
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        r->offs[i] = len;
        len += (size_t)utf8proc_encode_char(w[i], (utf8proc_uint8_t *)r->bytes + len);
    }
    r->offs[n] = len;

    /* Greedy longest match. A failure anywhere makes the whole word one
     * [UNK], so the pieces emitted so far are taken back then. */
    size_t first = r->n;
    bool was_truncated = r->truncated;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            const char *piece = r->bytes + r->offs[start];
            size_t l = r->offs[end] - r->offs[start];
            if (start == 0) {
                id = tok_lookup(t, piece, l);
            } else {
                r->key[0] = '#';
                r->key[1] = '#';
                memcpy(r->key + 2, piece, l);
                id = tok_lookup(t, r->key, l + 2);
            }
            if (id >= 0)
                break;
        }
        if (id < 0) {
            /* Undo this word's pieces: it is a single [UNK]. */
            r->n = first;
            r->truncated = was_truncated;
            emit(r, t->unk);
            return;
        }
        emit(r, id);
        start = end;
    }
}

/* BasicTokenizer's per-word step on a white-space-delimited word: lower-case
 * and strip accents (if lower_case), then split on punctuation (and, to be
 * safe, white space) and run WordPiece on each part. */
static void basic_word(struct tok_run *r, const int32_t *w, size_t n)
{
    if (n == 0)
        return;
    const int32_t *v = w;
    size_t m = n;
    if (r->t->p.lower_case) {
        /* Lower-case into UTF-8, then NFD (canonical decomposition with
         * canonical ordering) back to code points. */
        if (!clf_grow((void **)&r->bytes, &r->bytes_cap, 4 * n, 1)) {
            r->oom = true;
            return;
        }
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
            len += (size_t)utf8proc_encode_char(utf8proc_tolower(w[i]),
                                                (utf8proc_uint8_t *)r->bytes + len);
        utf8proc_ssize_t k;
        for (;;) {
            k = utf8proc_decompose((const utf8proc_uint8_t *)r->bytes, (utf8proc_ssize_t)len,
                                   r->nfd, (utf8proc_ssize_t)r->nfd_cap, UTF8PROC_DECOMPOSE);
            if (k < 0) { /* cannot happen: the text was validated */
                r->oom = true;
                return;
            }
            if ((size_t)k <= r->nfd_cap)
                break;
            if (!clf_grow((void **)&r->nfd, &r->nfd_cap, (size_t)k, sizeof *r->nfd)) {
                r->oom = true;
                return;
            }
        }
        /* Remove the non-spacing marks, in place. */
        m = 0;
        for (size_t i = 0; i < (size_t)k; i++)
            if (utf8proc_category(r->nfd[i]) != UTF8PROC_CATEGORY_MN)
                r->nfd[m++] = r->nfd[i];
        v = r->nfd;
    }
    size_t s = 0;
    for (size_t i = 0; i < m; i++) {
        if (is_space(v[i]) || is_punct(v[i])) {
            wordpiece(r, v + s, i - s);
            if (is_punct(v[i]))
                wordpiece(r, v + i, 1);
            s = i + 1;
        }
    }
    wordpiece(r, v + s, m - s);
}

/* BasicTokenizer on one segment (no special token inside): clean, space the
 * CJK ideographs, split on white space. */
static void basic_segment(struct tok_run *r, const char *s, size_t len)
{
    size_t i = 0, n = 0;
    while (i < len) {
        utf8proc_int32_t c;
        i += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                      (utf8proc_ssize_t)(len - i), &c);
        if (c == 0 || c == 0xFFFD || is_control(c))
            continue;
        if (is_space(c) || is_cjk(c)) {
            basic_word(r, r->cps, n);
            n = 0;
            if (is_cjk(c))
                basic_word(r, &c, 1);
            continue;
        }
        if (!clf_grow((void **)&r->cps, &r->cps_cap, n + 1, sizeof *r->cps)) {
            r->oom = true;
            return;
        }
        r->cps[n++] = c;
    }
    basic_word(r, r->cps, n);
}

/* The end of text[seg, end) less its trailing white space. */
static size_t trim_end(const char *text, size_t seg, size_t end)
{
    while (end > seg) {
        size_t start = end - 1; /* the last character's first byte */
        while (start > seg && ((unsigned char)text[start] & 0xC0) == 0x80)
            start--;
        utf8proc_int32_t c = -1;
        utf8proc_iterate((const utf8proc_uint8_t *)text + start, (utf8proc_ssize_t)(end - start),
                         &c);
        if (!clf_is_white_space(c))
            break;
        end = start;
    }
    return end;
}

/* The start of text[i, len) less its leading white space. */
static size_t trim_start(const char *text, size_t i, size_t len)
{
    while (i < len) {
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0 || !clf_is_white_space(c))
            break;
        i += (size_t)n;
    }
    return i;
}

static int32_t bpe_lookup(void *user, const char *s, size_t len)
{
    return tok_lookup(((struct tok_run *)user)->t, s, len);
}

static bool bpe_emit(void *user, int32_t id)
{
    struct tok_run *r = user;
    emit(r, id);
    return !r->oom;
}

/* Whether n bytes of a and b agree with ASCII letters' case folded. */
static bool ascii_ci_equal(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static void segment(struct tok_run *r, const char *s, size_t len, bool at_start);

/* A part between added tokens: a segment of the text, or (after_norm) a
 * Unigram's normalised text for its pre-tokenizer and model. */
static void part(struct tok_run *r, const char *s, size_t len, bool after_norm, bool at_start)
{
    if (!after_norm) {
        segment(r, s, len, at_start);
        return;
    }
    const struct clf_bpe_sink sink = {r, bpe_lookup, bpe_emit};
    r->oom |= clf_unigram_pieces(r->t->uni, s, len, at_start, &sink) < 0;
}

/* Segments between the added tokens written in the text (HF's added-token
 * split; an lstrip / rstrip token absorbs the white space, Unicode's
 * White_Space, before / after it), each tokenised: the text as given and
 * the tokens not after_norm, or (Unigram) a segment's normalised text and
 * the after_norm ones, whose parts go to the model. The tokens are matched
 * byte-wise on whole UTF-8 strings, so a match never splits a character.
 * A "normalized" WordPiece token is matched by HF on the normalised text:
 * with lower-casing, "<S>" is MPNet's "<s>". clformer folds ASCII case only
 * there (a special token's other characters, accents stripped or control
 * characters dropped inside it, are compared as written). at_start: text
 * begins the input. */
static void split_added(struct tok_run *r, const char *text, size_t len, bool after_norm,
                        bool at_start)
{
    const struct clf_tokenizer *t = r->t;
    size_t seg = 0;
    for (size_t i = 0; i < len && !r->oom && !r->missing;) {
        const struct tok_special *sp = NULL;
        for (size_t k = 0; k < t->n_specials && !sp; k++)
            if (t->specials[k].after_norm == after_norm && len - i >= t->specials[k].len &&
                (t->specials[k].fold ? ascii_ci_equal(text + i, t->specials[k].text,
                                                       t->specials[k].len)
                                     : memcmp(text + i, t->specials[k].text,
                                              t->specials[k].len) == 0))
                sp = &t->specials[k];
        if (!sp) {
            i++;
            continue;
        }
        size_t end = i;
        if (sp->lstrip)
            end = trim_end(text, seg, end);
        part(r, text + seg, end - seg, after_norm, at_start && seg == 0);
        emit(r, sp->id);
        i += sp->len;
        if (sp->rstrip)
            i = trim_start(text, i, len);
        seg = i;
    }
    if (!r->oom && !r->missing)
        part(r, text + seg, len - seg, after_norm, at_start && seg == 0);
}

/* One segment (no added token inside; at_start: it begins the text):
 * BERT's BasicTokenizer and WordPiece, byte-level BPE, or Unigram's
 * normalizers and then its normalised added tokens split out. */
static void segment(struct tok_run *r, const char *s, size_t len, bool at_start)
{
    if (r->t->uni) {
        struct clf_bytes norm = {0};
        if (!clf_unigram_normalize(r->t->uni, s, len, &norm))
            r->oom = true;
        else if (norm.n) /* (an empty text has no buffer) */
            split_added(r, norm.p, norm.n, true, at_start);
        free(norm.p);
        return;
    }
    if (!r->t->bpe) {
        basic_segment(r, s, len);
        return;
    }
    const struct clf_bpe_sink sink = {r, bpe_lookup, bpe_emit};
    int rc = clf_bpe_segment(r->t->bpe, s, len, &sink);
    r->oom |= rc < 0;
    r->missing |= rc > 0;
}

/* clf_tokenizer_encode of len bytes (NUL bytes included: the WordPiece
 * cleaner drops U+0000 as BERT's does, byte-level BPE maps byte 0 to its
 * symbol as GPT-2's does). */
static enum clf_status encode_bytes(struct clf_tokenizer *t, const char *text, size_t len,
                                    int32_t *ids, size_t cap, size_t *n, bool *truncated)
{
    if (!n || (!ids && cap > 0))
        return clf_fail(t->ctx, CLF_E_INVALID_ARG, "clf_tokenizer_encode: n or ids is NULL");
    if (!clf_utf8_valid(text, len))
        return clf_fail(t->ctx, CLF_E_INVALID_ARG, "clf_tokenizer_encode: invalid UTF-8");

    struct tok_run r = {.t = t, .limit = (size_t)t->p.max_length - 2};
    split_added(&r, text, len, false, true);

    enum clf_status st = CLF_OK;
    if (r.oom)
        st = clf_fail(t->ctx, CLF_E_OUT_OF_MEMORY, "clf_tokenizer_encode: no memory");
    else if (r.missing)
        st = clf_fail(t->ctx, CLF_E_FORMAT,
                      "clf_tokenizer_encode: a byte-level symbol is not in the vocabulary");
    else if (cap < r.n + 2)
        st = clf_fail(t->ctx, CLF_E_SHAPE,
                      "clf_tokenizer_encode: %zu ids produced, room for %zu", r.n + 2, cap);
    if (st == CLF_OK) {
        ids[0] = t->cls;
        if (r.n)
            memcpy(ids + 1, r.body, r.n * sizeof *ids);
        ids[r.n + 1] = t->sep;
        *n = r.n + 2;
        if (truncated)
            *truncated = r.truncated;
    }
    free(r.body);
    free(r.cps);
    free(r.nfd);
    free(r.bytes);
    free(r.offs);
    free(r.key);
    return st;
}

enum clf_status clf_tokenizer_encode(struct clf_tokenizer *t, const char *text, int32_t *ids,
                                     size_t cap, size_t *n, bool *truncated)
{
    if (!t)
        return CLF_E_INVALID_ARG;
    if (!text)
        return clf_fail(t->ctx, CLF_E_INVALID_ARG, "clf_tokenizer_encode: text is NULL");
    return encode_bytes(t, text, strlen(text), ids, cap, n, truncated);
}

/* Python's str.isspace() on one code point. */
static bool py_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* clf_text_strip of n bytes (which may hold NUL bytes). */
static const char *strip_bytes(const char *text, size_t n, size_t *len)
{
    size_t b = 0, e = 0, i = 0;
    bool seen = false;
    while (i < n) { /* b: the first kept byte; e: the end of the last kept character */
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) /* invalid UTF-8: kept as it is (the tokenizer refuses it) */
            c = 'x', k = 1;
        if (!py_space(c)) {
            if (!seen)
                b = i, seen = true;
            e = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (len)
        *len = seen ? e - b : 0;
    return text + (seen ? b : n);
}

const char *clf_text_strip(const char *text, size_t *len)
{
    if (!text) {
        if (len)
            *len = 0;
        return NULL;
    }
    return strip_bytes(text, strlen(text), len);
}

enum clf_status clf_tokenizer_encode_sentence_len(struct clf_tokenizer *t, const char *prompt,
                                                  const char *text, size_t len, int32_t *ids,
                                                  size_t cap, size_t *n, bool *truncated)
{
    if (!t)
        return CLF_E_INVALID_ARG;
    if (!text)
        return clf_fail(t->ctx, CLF_E_INVALID_ARG, "clf_tokenizer_encode_sentence: text is NULL");
    const char *pr = prompt ? prompt : "";
    const size_t lp = strlen(pr);
    char *s = malloc(lp + len + 1);
    if (!s)
        return clf_fail(t->ctx, CLF_E_OUT_OF_MEMORY, "clf_tokenizer_encode_sentence: no memory");
    memcpy(s, pr, lp);
    memcpy(s + lp, text, len);
    size_t kept;
    const char *b = strip_bytes(s, lp + len, &kept);
    enum clf_status st = encode_bytes(t, b, kept, ids, cap, n, truncated);
    free(s);
    return st;
}

enum clf_status clf_tokenizer_prompt_tokens(struct clf_tokenizer *t, const char *prompt,
                                            size_t *n)
{
    if (!t || !n)
        return t ? clf_fail(t->ctx, CLF_E_INVALID_ARG, "clf_tokenizer_prompt_tokens: n is NULL")
                 : CLF_E_INVALID_ARG;
    *n = 0;
    if (!prompt)
        return CLF_OK;
    const size_t cap = (size_t)t->p.max_length;
    int32_t *ids = malloc(cap * sizeof *ids);
    size_t len = 0;
    enum clf_status st =
        ids ? clf_tokenizer_encode_sentence(t, NULL, prompt, ids, cap, &len, NULL)
            : clf_fail(t->ctx, CLF_E_OUT_OF_MEMORY, "clf_tokenizer_prompt_tokens: no memory");
    free(ids);
    if (st == CLF_OK)
        *n = len - 1; /* encode always adds the closing token */
    return st;
}

enum clf_status clf_tokenizer_encode_sentence(struct clf_tokenizer *t, const char *prompt,
                                              const char *text, int32_t *ids, size_t cap,
                                              size_t *n, bool *truncated)
{
    return clf_tokenizer_encode_sentence_len(t, prompt, text, text ? strlen(text) : 0, ids, cap,
                                             n, truncated);
}
