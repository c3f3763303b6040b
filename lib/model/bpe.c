/*
 * Byte-level BPE (bpe.h), as `tokenizers` 0.15 runs a ByteLevel
 * pre-tokenizer (use_regex true) and a BPE model without dropout:
 *
 *  1. with add_prefix_space, a segment not starting with ' ' gets one;
 *  2. GPT-2's split, the first alternative that matches at each position:
 *       's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+
 *       | \s+(?!\S) | \s+
 *     (\s: Unicode White_Space; \p{L}, \p{N}: utf8proc's categories);
 *  3. each piece's UTF-8 bytes become printable characters (GPT-2's
 *     bytes_to_unicode: 33-126, 161-172 and 174-255 map to themselves, the
 *     others to 256, 257, ... in byte order), one symbol per byte;
 *  4. the adjacent pair with the lowest merge rank is merged, the leftmost
 *     first among equals, until no pair has a rank (what the library's
 *     priority queue does); each pair's rank is looked up once, and again
 *     only for the two pairs a merge changes;
 *  5. each symbol's id from the vocabulary.
 * The merge ranks are a string table (strtab.h) of "left right".
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "bpe.h"
#include "strtab.h"

struct clf_bpe {
    char *strings;          /* the merges, "left right" NUL-terminated */
    struct clf_strtab rank; /* "left right" -> rank */
    bool add_prefix_space;
    char byte_utf8[256][2]; /* each byte's character (2 bytes at most: < U+0800) */
    uint8_t byte_len[256];
};

/* GPT-2's bytes_to_unicode, as UTF-8. */
static void byte_map(struct clf_bpe *b)
{
    int next = 256;
    for (int i = 0; i < 256; i++) {
        bool self = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174);
        int cp = self ? i : next++;
        utf8proc_uint8_t buf[4];
        utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
        memcpy(b->byte_utf8[i], buf, (size_t)n);
        b->byte_len[i] = (uint8_t)n;
    }
}

struct clf_bpe *clf_bpe_create(const char *strings, const uint32_t *off, const uint32_t *len,
                               size_t n, bool add_prefix_space)
{
    struct clf_bpe *b = calloc(1, sizeof *b);
    size_t bytes = n ? off[n - 1] + len[n - 1] + 1 : 1;
    if (b && (b->strings = malloc(bytes)) != NULL)
        memcpy(b->strings, strings, bytes);
    if (!b || !b->strings || !clf_strtab_init(&b->rank, b->strings, n)) {
        clf_bpe_destroy(b);
        return NULL;
    }
    for (size_t r = 0; r < n; r++) /* an earlier duplicate keeps its (lower) rank */
        clf_strtab_put(&b->rank, off[r], len[r], (int32_t)r, false);
    b->add_prefix_space = add_prefix_space;
    byte_map(b);
    return b;
}

void clf_bpe_destroy(struct clf_bpe *b)
{
    if (!b)
        return;
    clf_strtab_free(&b->rank);
    free(b->strings);
    free(b);
}

/* Unicode White_Space (what the regex's \s matches). */
static bool is_ws(int32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static bool is_letter(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

static bool is_number(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Classes of the split: letter, number, other (not space), space. */
enum { C_L, C_N, C_O, C_S };

static int class_of(int32_t c)
{
    return is_ws(c) ? C_S : is_letter(c) ? C_L : is_number(c) ? C_N : C_O;
}

/* The end of the piece that starts at code point i of cp[0..n) (step 2). */
static size_t piece_end(const int32_t *cp, size_t n, size_t i)
{
    if (cp[i] == '\'' && i + 1 < n) { /* 's 't 're 've 'm 'll 'd */
        int32_t a = cp[i + 1], b = i + 2 < n ? cp[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    size_t j = i + (cp[i] == ' ' && i + 1 < n && class_of(cp[i + 1]) != C_S);
    int k = class_of(cp[j]);
    if (k != C_S) { /* ' ?' then a run of one class */
        while (j < n && class_of(cp[j]) == k)
            j++;
        return j;
    }
    size_t e = i; /* white space: \s+(?!\S), else \s+ */
    while (e < n && class_of(cp[e]) == C_S)
        e++;
    if (e == n || e - i == 1)
        return e;
    return e - 1;
}

/* The merge rank of symbols k and k+1 (-1: none); key is room for both. */
static int32_t pair_rank(const struct clf_bpe *b, const char *sym, const uint32_t *start,
                         const uint32_t *slen, size_t k, char *key)
{
    memcpy(key, sym + start[k], slen[k]);
    key[slen[k]] = ' ';
    memcpy(key + slen[k] + 1, sym + start[k + 1], slen[k + 1]);
    return clf_strtab_get(&b->rank, key, slen[k] + 1 + slen[k + 1]);
}

/* Steps 3-5 on one piece's bytes. sym, start, slen, rank and key are room
 * for the piece (its mapped bytes, a symbol per byte, a pair per symbol). */
static int piece(const struct clf_bpe *b, const unsigned char *p, size_t n,
                 const struct clf_bpe_sink *sink, char *sym, uint32_t *start, uint32_t *slen,
                 int32_t *rank, char *key)
{
    size_t m = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(sym + at, b->byte_utf8[p[i]], b->byte_len[p[i]]);
        start[m] = (uint32_t)at, slen[m++] = b->byte_len[p[i]];
        at += b->byte_len[p[i]];
    }
    for (size_t k = 0; k + 1 < m; k++)
        rank[k] = pair_rank(b, sym, start, slen, k, key);
    while (m > 1) {
        size_t where = m;
        for (size_t k = 0; k + 1 < m; k++)
            if (rank[k] >= 0 && (where == m || rank[k] < rank[where]))
                where = k;
        if (where == m)
            break;
        /* neighbours in sym: the merge is a longer span; symbol where + 1
         * and its pair go, the pairs on either side of the merge change */
        slen[where] += slen[where + 1];
        memmove(start + where + 1, start + where + 2, (m - where - 2) * sizeof *start);
        memmove(slen + where + 1, slen + where + 2, (m - where - 2) * sizeof *slen);
        memmove(rank + where, rank + where + 1, (m - where - 2) * sizeof *rank);
        m--;
        if (where > 0)
            rank[where - 1] = pair_rank(b, sym, start, slen, where - 1, key);
        if (where + 1 < m)
            rank[where] = pair_rank(b, sym, start, slen, where, key);
    }
    for (size_t k = 0; k < m; k++) {
        int32_t id = sink->lookup(sink->user, sym + start[k], slen[k]);
        if (id < 0)
            return 1;
        if (!sink->emit(sink->user, id))
            return -1;
    }
    return 0;
}

int clf_bpe_segment(const struct clf_bpe *b, const char *s, size_t len,
                    const struct clf_bpe_sink *sink)
{
    const bool prefix = b->add_prefix_space && len > 0 && s[0] != ' ';
    size_t total = len + prefix;
    int32_t *cp = malloc((total + 1) * sizeof *cp);
    size_t *off = malloc((total + 1) * sizeof *off);
    unsigned char *text = malloc(total + 1);
    char *sym = malloc(2 * total + 1), *key = malloc(4 * total + 2);
    uint32_t *start = malloc((total + 1) * sizeof *start), *slen = malloc((total + 1) * 4);
    int32_t *rank = malloc((total + 1) * sizeof *rank);
    int rc = cp && off && text && sym && key && start && slen && rank ? 0 : -1;
    size_t n = 0;
    if (rc == 0) {
        if (prefix)
            text[0] = ' ';
        memcpy(text + prefix, s, len);
        for (size_t i = 0; i < total;) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate(text + i, (utf8proc_ssize_t)(total - i), &c);
            off[n] = i;
            cp[n++] = c;
            i += (size_t)(k > 0 ? k : 1);
        }
        off[n] = total;
    }
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t e = piece_end(cp, n, i);
        rc = piece(b, text + off[i], off[e] - off[i], sink, sym, start, slen, rank, key);
        i = e;
    }
    free(cp);
    free(off);
    free(text);
    free(sym);
    free(key);
    free(start);
    free(slen);
    free(rank);
    return rc;
}
