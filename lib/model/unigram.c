/*
 * The Unigram model's segmentation (unigram.h), as `tokenizers` 0.15's
 * Unigram::encode_optimized (after SentencePiece's unigram_model.cc):
 *
 *   - Viterbi over the byte positions of a pre-token: from each character
 *     start, in order, every piece that prefixes the rest (shortest first)
 *     offers score(piece) + best(start) to the position after it, taken
 *     only when strictly better (so ties keep the earlier offer); when no
 *     piece covers exactly the first character, that character alone is
 *     offered as unk_id at the lowest piece score minus 10;
 *   - the best path read back from the end, consecutive unknown pieces
 *     fused into one (fuse_unk);
 *   - a fused unknown looked up again as a whole: when it is not a
 *     piece, it becomes its bytes' <0xNN> pieces when byte_fallback holds and
 *     all of them exist, else unk_id.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "../runtime/grow.h"
#include "unigram.h"

struct clf_unigram {
    double *score; /* [n] */
    size_t n;
    size_t max_len; /* the longest piece, bytes */
    double unk_score;
    int32_t unk_id;
    bool byte_fallback;
    struct clf_spm_text text;
};

struct clf_unigram *clf_unigram_create(const double *score, const uint32_t *len, size_t n,
                                       int32_t unk_id, bool byte_fallback,
                                       struct clf_spm_text *text)
{
    struct clf_unigram *u = calloc(1, sizeof *u);
    double *s = malloc((n ? n : 1) * sizeof *s);
    if (!u || !s) {
        free(u), free(s);
        clf_spm_text_free(text);
        return NULL;
    }
    double min = INFINITY;
    for (size_t i = 0; i < n; i++) {
        s[i] = score[i];
        min = score[i] < min ? score[i] : min;
        u->max_len = len[i] > u->max_len ? len[i] : u->max_len;
    }
    *u = (struct clf_unigram){.score = s, .n = n, .max_len = u->max_len, .unk_score = min - 10.0,
                              .unk_id = unk_id, .byte_fallback = byte_fallback, .text = *text};
    *text = (struct clf_spm_text){0};
    return u;
}

void clf_unigram_destroy(struct clf_unigram *u)
{
    if (!u)
        return;
    clf_spm_text_free(&u->text);
    free(u->score);
    free(u);
}

/* The best path to a byte position. */
struct lattice_node {
    double score;
    size_t start; /* where its last piece starts */
    int32_t id;
    bool reached;
};

/* One clf_unigram_segment call's state. */
struct uni_run {
    const struct clf_unigram *u;
    const struct clf_bpe_sink *sink;
    struct lattice_node *node;
    size_t node_cap;
    size_t *cut; /* the best path's piece bounds, from the end */
    size_t cut_cap;
    bool oom;
};

/* Emits a fused unknown s[0, n) of the best path: its piece when it is
 * one, else its bytes' pieces or unk_id. */
static bool emit_unknown(struct uni_run *r, const char *s, size_t n)
{
    const struct clf_bpe_sink *k = r->sink;
    int32_t id = k->lookup(k->user, s, n);
    if (id >= 0)
        return k->emit(k->user, id);
    bool all = r->u->byte_fallback;
    for (size_t i = 0; i < n && all; i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", (unsigned char)s[i]);
        all = k->lookup(k->user, b, 6) >= 0;
    }
    for (size_t i = 0; i < n && all; i++) {
        char b[8];
        snprintf(b, sizeof b, "<0x%02X>", (unsigned char)s[i]);
        if (!k->emit(k->user, k->lookup(k->user, b, 6)))
            return false;
    }
    return all || k->emit(k->user, r->u->unk_id);
}

/* Viterbi on one pre-token (false: out of memory). */
static bool viterbi(void *user, const char *s, size_t len)
{
    struct uni_run *r = user;
    const struct clf_unigram *u = r->u;
    const struct clf_bpe_sink *k = r->sink;
    if (!clf_grow((void **)&r->node, &r->node_cap, len + 1, sizeof *r->node) ||
        !clf_grow((void **)&r->cut, &r->cut_cap, len + 1, sizeof *r->cut)) {
        r->oom = true;
        return false;
    }
    for (size_t i = 0; i <= len; i++)
        r->node[i] = (struct lattice_node){0};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    for (size_t start = 0; start < len;) {
        const double here = r->node[start].score;
        utf8proc_int32_t cp;
        const utf8proc_ssize_t k1 = utf8proc_iterate(p + start,
                                                     (utf8proc_ssize_t)(len - start), &cp);
        const size_t first = k1 > 0 ? (size_t)k1 : 1; /* (the text is UTF-8: always k1) */
        bool single = false;
        for (size_t end = start + first; end <= len && end - start <= u->max_len;) {
            const int32_t id = k->lookup(k->user, s + start, end - start);
            if (id >= 0 && (size_t)id < u->n) {
                struct lattice_node *t = &r->node[end];
                const double cand = u->score[id] + here;
                if (!t->reached || cand > t->score)
                    *t = (struct lattice_node){cand, start, id, true};
                single |= end - start == first;
            }
            if (end == len)
                break;
            const utf8proc_ssize_t step = utf8proc_iterate(p + end,
                                                           (utf8proc_ssize_t)(len - end), &cp);
            end += step > 0 ? (size_t)step : 1;
        }
        if (!single) {
            struct lattice_node *t = &r->node[start + first];
            const double cand = u->unk_score + here;
            if (!t->reached || cand > t->score)
                *t = (struct lattice_node){cand, start, u->unk_id, true};
        }
        start += first;
    }
    /* the best path's bounds from the end: cut[0] = len, ..., cut[n] = 0 */
    size_t n = 0;
    r->cut[0] = len;
    for (size_t end = len; end > 0; end = r->node[end].start)
        r->cut[++n] = r->node[end].start;
    /* its pieces from the front (a piece's id is its node's: the lookup
     * that offered it), consecutive unknowns fused */
    for (size_t j = n; j > 0;) {
        const size_t begin = r->cut[j];
        const int32_t id = r->node[r->cut[--j]].id;
        while (id == u->unk_id && j > 0 && r->node[r->cut[j - 1]].id == u->unk_id)
            j--;
        if (!(id == u->unk_id ? emit_unknown(r, s + begin, r->cut[j] - begin)
                              : k->emit(k->user, id)))
            return false;
    }
    return true;
}

bool clf_unigram_normalize(const struct clf_unigram *u, const char *s, size_t len,
                           struct clf_bytes *out)
{
    struct clf_bytes tmp = {0};
    const bool ok = clf_spm_normalize(&u->text, s, len, out, &tmp);
    free(tmp.p);
    return ok;
}

int clf_unigram_pieces(const struct clf_unigram *u, const char *s, size_t len, bool at_start,
                       const struct clf_bpe_sink *sink)
{
    struct uni_run r = {.u = u, .sink = sink};
    struct clf_bytes pre = {0};
    const bool ok = clf_spm_pretokenize(&u->text, s, len, at_start, &pre, viterbi, &r);
    free(pre.p);
    free(r.node), free(r.cut);
    return ok ? 0 : -1;
}
