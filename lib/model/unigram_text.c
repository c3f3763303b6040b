/*
 * A Unigram tokenizer's text before its model (unigram.h): the normalizers
 * of tokenizer.json's Sequence in order (Replace, Strip here), then the
 * Metaspace pre-tokenizer,
 * as `tokenizers` 0.15 runs them on each segment between added tokens.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "unigram.h"

bool clf_is_white_space(int32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

bool clf_utf8_valid(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

/* A Strip step: s less its white space at the ends r->strip names. */
static bool strip_ends(const struct clf_norm_step *r, const char *s, size_t len,
                       struct clf_bytes *out)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t b = 0, e = 0; /* the first kept byte; the end of the last kept character */
    bool seen = false;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        const utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        const size_t n = k > 0 ? (size_t)k : 1; /* (UTF-8: always k) */
        if (!clf_is_white_space(c) || (!seen && !(r->strip & 1))) {
            b = seen ? b : i;
            seen = true;
        }
        if (!clf_is_white_space(c) || !(r->strip & 2))
            e = i + n;
        i += n;
    }
    return !seen || clf_bytes_put(out, s + b, e - b);
}

void clf_spm_text_free(struct clf_spm_text *t)
{
    for (size_t i = 0; i < t->n_steps; i++) {
        clf_charsmap_destroy(t->steps[i].charsmap);
        free(t->steps[i].pattern);
        free(t->steps[i].content);
    }
    free(t->steps);
    *t = (struct clf_spm_text){0};
}

/* The length of the match of a Replace step at s[0, len), 0 when none: the
 * literal, or the longest run of at least min_run copies of the character
 * (a regex "c{n,}" is greedy). */
static size_t match_at(const struct clf_norm_step *r, const char *s, size_t len)
{
    if (len < r->plen || memcmp(s, r->pattern, r->plen))
        return 0;
    if (!r->min_run)
        return r->plen;
    size_t k = 1;
    while ((k + 1) * r->plen <= len && !memcmp(s + k * r->plen, r->pattern, r->plen))
        k++;
    return k >= r->min_run ? k * r->plen : 0;
}

/* One Replace step of s into out. The pattern is whole UTF-8 characters, so
 * a match never starts inside one. */
static bool replace_all(const struct clf_norm_step *r, const char *s, size_t len,
                        struct clf_bytes *out)
{
    size_t i = 0, copied = 0;
    while (i < len) {
        const size_t k = match_at(r, s + i, len - i);
        if (!k) {
            i++;
            continue;
        }
        if (!clf_bytes_put(out, s + copied, i - copied) ||
            !clf_bytes_put(out, r->content, r->clen))
            return false;
        i += k;
        copied = i;
    }
    return clf_bytes_put(out, s + copied, len - copied);
}

bool clf_spm_normalize(const struct clf_spm_text *t, const char *s, size_t len,
                       struct clf_bytes *a, struct clf_bytes *tmp)
{
    a->n = 0;
    if (!len) /* nothing to normalise (and a->p may be NULL) */
        return true;
    if (!clf_bytes_put(a, s, len))
        return false;
    for (size_t i = 0; i < t->n_steps; i++) {
        const struct clf_norm_step *st = &t->steps[i];
        tmp->n = 0;
        if (!(st->charsmap ? clf_charsmap_apply(st->charsmap, a->p, a->n, tmp)
              : st->strip  ? strip_ends(st, a->p, a->n, tmp)
                           : replace_all(st, a->p, a->n, tmp)))
            return false;
        struct clf_bytes x = *a;
        *a = *tmp, *tmp = x;
    }
    return true;
}

bool clf_spm_pretokenize(const struct clf_spm_text *t, const char *s, size_t len, bool at_start,
                         struct clf_bytes *out,
                         bool (*fn)(void *user, const char *s, size_t n), void *user)
{
    out->n = 0;
    if (!len) /* Hugging Face prepends nothing to an empty text */
        return true;
    /* the check comes after the spaces became replacements */
    const bool starts = s[0] == ' ' || (len >= t->rlen && !memcmp(s, t->replacement, t->rlen));
    const bool prepend = !starts && (t->prepend == CLF_PREPEND_ALWAYS ||
                                     (t->prepend == CLF_PREPEND_FIRST && at_start));
    if (prepend && !clf_bytes_put(out, t->replacement, t->rlen))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == ' ' ? clf_bytes_put(out, t->replacement, t->rlen)
                          : clf_bytes_put(out, s + i, 1)))
            return false;
    /* split before each replacement (MergedWithNext), or not at all */
    size_t start = 0;
    for (size_t i = 1; t->split && i < out->n; i++)
        if (out->n - i >= t->rlen && !memcmp(out->p + i, t->replacement, t->rlen)) {
            if (!fn(user, out->p + start, i - start))
                return false;
            start = i;
        }
    return fn(user, out->p + start, out->n - start);
}
