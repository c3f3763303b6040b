/*
 * SentencePiece's Unigram tokenizer (Kudo 2018) as Hugging Face's
 * `tokenizers` 0.15 runs a converted XLM-RoBERTa tokenizer.json: the
 * normalizers (Precompiled: charsmap.c; Replace, Strip: unigram_text.c), the
 * Metaspace pre-tokenizer (unigram_text.c) and the model's Viterbi
 * segmentation over piece scores (unigram.c). The vocabulary itself stays
 * the tokenizer's (tokenizer.c looks pieces up). Not installed.
 */
#ifndef CLF_MODEL_UNIGRAM_H
#define CLF_MODEL_UNIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "io.h"

/* A growable byte string (not NUL-terminated). */
struct clf_bytes {
    char *p;
    size_t n, cap;
};

/* Appends n bytes of s (false: out of memory). */
bool clf_bytes_put(struct clf_bytes *b, const char *s, size_t n);

/* SentencePiece's precompiled_charsmap: a darts-clone double-array trie
 * over UTF-8 byte strings whose leaves are offsets into a pool of
 * NUL-terminated replacements (charsmap.c). */
struct clf_charsmap;

/* Decodes and checks the base64 charsmap (every offset a leaf holds lies in
 * the pool at a character's start, the pool is UTF-8); errors name path and
 * the key "precompiled_charsmap". */
enum clf_status clf_charsmap_parse(struct clf_msg *m, const char *path, const char *base64,
                                   struct clf_charsmap **out);
void clf_charsmap_destroy(struct clf_charsmap *c);

/* The Precompiled normaliser on len bytes of valid UTF-8, appended to out
 * (false: out of memory). */
bool clf_charsmap_apply(const struct clf_charsmap *c, const char *s, size_t len,
                        struct clf_bytes *out);

/* Unicode's White_Space (Rust's char::is_whitespace, which Hugging Face's
 * Strip and an added token's lstrip / rstrip use). */
bool clf_is_white_space(int32_t c);

/* Whether len bytes of s are UTF-8 (NUL bytes included). */
bool clf_utf8_valid(const char *s, size_t len);

/* One normaliser of a Sequence: Precompiled (charsmap), Strip (strip) or
 * Replace (every non-overlapping match of pattern, left to right, becomes
 * content). */
struct clf_norm_step {
    struct clf_charsmap *charsmap; /* Precompiled; NULL for the others */
    unsigned strip;                /* Strip: 1 its left end, 2 its right end, 3 both */
    char *pattern;                 /* Replace: a literal, or one character ... */
    size_t plen;
    unsigned min_run;              /* ... repeated at least min_run times (0: literal) */
    char *content;
    size_t clen;
};

enum clf_prepend { CLF_PREPEND_ALWAYS, CLF_PREPEND_NEVER, CLF_PREPEND_FIRST };

/* The text's way to the model: normalizers, then Metaspace (' ' becomes
 * the replacement, which is prepended as prepend says, and the text is
 * split before each replacement when split). */
struct clf_spm_text {
    struct clf_norm_step *steps;
    size_t n_steps;
    char replacement[8]; /* one character's UTF-8, NUL-terminated */
    size_t rlen;
    enum clf_prepend prepend;
    bool split;
};

void clf_spm_text_free(struct clf_spm_text *t);

/* The normalizers of t on len bytes of s into *a (tmp is scratch); false
 * when out of memory. */
bool clf_spm_normalize(const struct clf_spm_text *t, const char *s, size_t len,
                       struct clf_bytes *a, struct clf_bytes *tmp);

/* Metaspace on a normalised text: the pre-tokens, each passed to fn(user,
 * bytes, n) in order (fn false stops, and so returns false); at_start:
 * the text begins the input (prepend "first"). out is scratch. */
bool clf_spm_pretokenize(const struct clf_spm_text *t, const char *s, size_t len, bool at_start,
                         struct clf_bytes *out,
                         bool (*fn)(void *user, const char *s, size_t n), void *user);

struct clf_unigram;

/* A Unigram model over n pieces, piece id i of score[i] and len[i] bytes
 * (ids are vocabulary positions), unk_id in [0, n), the text pipeline
 * moved in (*text zeroed). NULL when out of memory (text then freed). */
struct clf_unigram *clf_unigram_create(const double *score, const uint32_t *len, size_t n,
                                       int32_t unk_id, bool byte_fallback,
                                       struct clf_spm_text *text);
void clf_unigram_destroy(struct clf_unigram *u);

/* The normalizers on one segment (valid UTF-8, no added token inside)
 * into *out (false: out of memory). */
bool clf_unigram_normalize(const struct clf_unigram *u, const char *s, size_t len,
                           struct clf_bytes *out);

/* Tokenises normalised text (no added token inside): Metaspace, Viterbi on
 * each pre-token, the pieces' ids emitted through sink (the vocabulary's
 * lookup, as for BPE). at_start: the text begins the input. Returns 0, or
 * -1 when out of memory. */
int clf_unigram_pieces(const struct clf_unigram *u, const char *s, size_t len, bool at_start,
                       const struct clf_bpe_sink *sink);

#endif
