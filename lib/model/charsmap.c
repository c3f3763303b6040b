/*
 * SentencePiece's precompiled_charsmap (its normalizer_spec, e.g. the
 * nmt_nfkc rules) and Hugging Face's Precompiled normaliser over it.
 *
 * The blob (base64 in tokenizer.json): a little-endian u32 trie size in
 * bytes, that many bytes of u32 darts-clone units, then the pool: the
 * replacement strings, each ending in a NUL. A unit packs a node's label
 * (bits 0-7, and bit 31 on leaf units so that no byte matches them), a
 * has-leaf flag (bit 8) and the offset to its children (bits 10-31, shifted
 * left 8 more when bit 9 is set); a child for byte c sits at base ^ c, the
 * leaf (value: a pool offset) at base itself.
 *
 * Hugging Face applies it per extended grapheme cluster: a cluster of
 * fewer than 6 bytes is replaced as a whole when any prefix of it is a key
 * (the shortest key found wins, as spm_precompiled's transform takes the
 * first result of a common-prefix search); otherwise each character is
 * replaced when it is a key. Characters without a key are kept.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "../runtime/grow.h"
#include "unigram.h"

struct clf_charsmap {
    uint32_t *unit;
    size_t n_units;
    char *pool;
    size_t pool_len;
};

bool clf_bytes_put(struct clf_bytes *b, const char *s, size_t n)
{
    if (!clf_grow((void **)&b->p, &b->cap, b->n + n, 1))
        return false;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    return true;
}

static uint32_t unit_offset(uint32_t u)
{
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}

static uint32_t unit_label(uint32_t u)
{
    return u & ((1u << 31) | 0xFF);
}

static bool unit_has_leaf(uint32_t u)
{
    return (u >> 8) & 1;
}

/* The pool offset of the shortest key that prefixes s[0, len) (a NUL byte
 * ends the key, as darts-clone's search does), or -1. A position outside
 * the units ends the search (clf_charsmap_parse only lets through tries
 * whose reachable leaves are sound). */
static int64_t shortest_key(const struct clf_charsmap *c, const unsigned char *s, size_t len)
{
    size_t pos = unit_offset(c->unit[0]);
    for (size_t i = 0; i < len && s[i]; i++) {
        pos ^= s[i];
        if (pos >= c->n_units || unit_label(c->unit[pos]) != s[i])
            return -1;
        const uint32_t u = c->unit[pos];
        pos ^= unit_offset(u);
        if (unit_has_leaf(u))
            return pos < c->n_units ? (int64_t)(c->unit[pos] & 0x7FFFFFFFu) : -1;
    }
    return -1;
}

/* Appends the replacement of s[0, len) when a key prefixes it. */
static bool replace(const struct clf_charsmap *c, const char *s, size_t len,
                    struct clf_bytes *out, bool *ok)
{
    int64_t at = shortest_key(c, (const unsigned char *)s, len);
    if (at < 0)
        return false;
    const char *r = c->pool + at;
    const size_t n = strnlen(r, c->pool_len - (size_t)at);
    *ok = clf_bytes_put(out, r, n);
    return true;
}

bool clf_charsmap_apply(const struct clf_charsmap *c, const char *s, size_t len,
                        struct clf_bytes *out)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t state = 0, prev = -1;
    size_t g = 0; /* the current cluster's start */
    bool ok = true;
    for (size_t i = 0; i <= len && ok; ) {
        utf8proc_int32_t cp = -1;
        utf8proc_ssize_t k = 0;
        if (i < len)
            k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k < 0) /* cannot happen: the text was validated */
            return false;
        const bool brk = i == len || (prev >= 0 && utf8proc_grapheme_break_stateful(prev, cp,
                                                                                    &state));
        if (brk && i > g) { /* the cluster s[g, i) */
            if (i - g >= 6 || !replace(c, s + g, i - g, out, &ok))
                for (size_t j = g; j < i && ok;) {
                    utf8proc_int32_t ch;
                    utf8proc_ssize_t k1 = utf8proc_iterate(p + j, (utf8proc_ssize_t)(i - j), &ch);
                    const size_t n = k1 > 0 ? (size_t)k1 : 1; /* (UTF-8: always k1) */
                    if (!replace(c, s + j, n, out, &ok))
                        ok = clf_bytes_put(out, s + j, n);
                    j += n;
                }
            g = i;
        }
        if (i == len)
            break;
        prev = cp;
        i += (size_t)k;
    }
    return ok;
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Standard base64 with its '=' padding into a new buffer (*n bytes); NULL
 * when malformed (*n = 0) or out of memory (*n = 1). */
static unsigned char *b64_decode(const char *s, size_t *n)
{
    const size_t len = strlen(s);
    *n = 0;
    if (len % 4)
        return NULL;
    size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (!out) {
        *n = 1;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            const bool padded = i + j >= len - pad;
            int d = padded ? 0 : b64_value((unsigned char)s[i + j]);
            if (d < 0) {
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    *n = o - pad;
    return out;
}

/* Every leaf reachable from the root points into the pool at a character's
 * start. darts-clone shares common subtrees (it builds from a minimal
 * automaton), so a unit may be reached on several paths: each is checked
 * once (seen), which also ends the walk on a malformed trie with cycles (a
 * search itself is bounded by its key). */
static bool trie_sound(const struct clf_charsmap *c, unsigned char *seen)
{
    size_t cap = 64, top = 0;
    size_t *stack = malloc(cap * sizeof *stack);
    bool ok = stack != NULL;
    if (ok)
        stack[top++] = unit_offset(c->unit[0]);
    while (ok && top) {
        const size_t base = stack[--top];
        for (unsigned ch = 1; ch < 256 && ok; ch++) {
            const size_t pos = base ^ ch;
            if (pos >= c->n_units || unit_label(c->unit[pos]) != ch || seen[pos])
                continue;
            seen[pos] = 1;
            const size_t next = pos ^ unit_offset(c->unit[pos]);
            if (ok && unit_has_leaf(c->unit[pos])) {
                const size_t at = next < c->n_units ? c->unit[next] & 0x7FFFFFFFu : SIZE_MAX;
                ok = at < c->pool_len && ((unsigned char)c->pool[at] & 0xC0) != 0x80;
            }
            if (ok && top == cap) {
                size_t *q = realloc(stack, 2 * cap * sizeof *stack);
                ok = q != NULL;
                stack = q ? q : stack, cap *= 2;
            }
            if (ok)
                stack[top++] = next;
        }
    }
    free(stack);
    return ok;
}

enum clf_status clf_charsmap_parse(struct clf_msg *m, const char *path, const char *base64,
                                   struct clf_charsmap **out)
{
    *out = NULL;
    size_t n;
    unsigned char *blob = b64_decode(base64, &n);
    if (!blob)
        return n ? clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the charsmap", path)
                 : clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer: \"precompiled_charsmap\" is "
                                "not base64", path);
    const uint32_t trie = n >= 4 ? (uint32_t)blob[0] | (uint32_t)blob[1] << 8 |
                                       (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24
                                 : 0;
    if (n < 4 || trie < 4 || trie % 4 || trie > n - 4) {
        free(blob);
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer: \"precompiled_charsmap\": its trie "
                            "size says %lu bytes, %lu there", path, (unsigned long)trie,
                            (unsigned long)(n < 4 ? 0 : n - 4));
    }
    struct clf_charsmap *c = calloc(1, sizeof *c);
    unsigned char *seen = calloc(trie / 4, 1);
    if (c) {
        c->n_units = trie / 4;
        c->pool_len = n - 4 - trie;
        c->unit = malloc(trie);
        c->pool = malloc(c->pool_len + 1);
    }
    if (!c || !seen || !c->unit || !c->pool) {
        free(blob), free(seen), clf_charsmap_destroy(c);
        return clf_msg_fail(m, CLF_E_OUT_OF_MEMORY, "%s: no memory for the charsmap", path);
    }
    for (size_t i = 0; i < c->n_units; i++) {
        const unsigned char *b = blob + 4 + 4 * i;
        c->unit[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
    }
    memcpy(c->pool, blob + 4 + trie, c->pool_len);
    c->pool[c->pool_len] = '\0';
    free(blob);
    /* the pool as a whole is UTF-8 (Hugging Face reads it as a String) */
    const bool utf8 = clf_utf8_valid(c->pool, c->pool_len);
    const bool sound = utf8 && trie_sound(c, seen);
    free(seen);
    if (!sound) {
        clf_charsmap_destroy(c);
        return clf_msg_fail(m, CLF_E_FORMAT, "%s: normalizer: \"precompiled_charsmap\": %s",
                            path, utf8 ? "a trie leaf points outside its pool of "
                                         "replacements or inside a character"
                                       : "its replacements are not UTF-8");
    }
    *out = c;
    return CLF_OK;
}

void clf_charsmap_destroy(struct clf_charsmap *c)
{
    if (!c)
        return;
    free(c->unit);
    free(c->pool);
    free(c);
}
