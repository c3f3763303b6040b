/*
 * Byte-level BPE (GPT-2, RoBERTa; Radford et al. 2019; Sennrich et al.
 * 2016), as Hugging Face's `tokenizers` runs it with the ByteLevel
 * pre-tokenizer (use_regex) and a BPE model: lib/model/bpe.c. The
 * vocabulary itself stays the tokenizer's (tokenizer.c looks the merged
 * symbols up). Not installed.
 */
#ifndef CLF_MODEL_BPE_H
#define CLF_MODEL_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clf_bpe;

/* Merges: n pairs, pair i (rank i) the NUL-terminated "left right" at
 * strings + off[i] (len[i] bytes, one space between the symbols, as
 * tokenizer.json writes them). NULL when out of memory. */
struct clf_bpe *clf_bpe_create(const char *strings, const uint32_t *off, const uint32_t *len,
                               size_t n, bool add_prefix_space);
void clf_bpe_destroy(struct clf_bpe *b);

/* What clf_bpe_segment calls: the id of a symbol (its byte-mapped UTF-8),
 * -1 when absent; and the next id (false: out of memory, which stops). */
struct clf_bpe_sink {
    void *user;
    int32_t (*lookup)(void *user, const char *s, size_t len);
    bool (*emit)(void *user, int32_t id);
};

/* Tokenises one segment (valid UTF-8, no special token inside): GPT-2's
 * pre-tokenisation, bytes mapped to printable characters, merges by rank,
 * the symbols' ids emitted. Returns 0, -1 when out of memory, or 1 when a
 * merged symbol is not in the vocabulary (a vocabulary that lacks one of
 * the 256 byte symbols). */
int clf_bpe_segment(const struct clf_bpe *b, const char *s, size_t len,
                    const struct clf_bpe_sink *sink);

#endif
