/*
 * Internal view of the tokenizer (lib/model/tokenizer.c). Not installed.
 */
#ifndef CLF_MODEL_TOKENIZER_H
#define CLF_MODEL_TOKENIZER_H

#include <stdint.h>

#include "clformer.h"
#include "io.h"
#include "unigram.h"

/* The most ids one text gives (its params' max_length): the capacity
 * clf_tokenizer_encode needs. */
int64_t clf_tokenizer_max_ids(const struct clf_tokenizer *t);
/* The context its errors go to (may be NULL). */
struct clf_ctx *clf_tokenizer_ctx(const struct clf_tokenizer *t);

/* The white space at both ends of a UTF-8 text left out, as Python's
 * str.strip() does (clf_tokenizer_encode_sentence's rule): the first
 * character kept, *len its length in bytes; invalid UTF-8 is kept for the
 * tokenizer to refuse. NULL text: NULL. */
const char *clf_text_strip(const char *text, size_t *len);

/* An added (special) token of a tokenizer.json: split out of the text
 * before tokenising, white space around it absorbed as lstrip and rstrip
 * say. */
struct clf_tok_added {
    char text[32];
    int32_t id;
    bool lstrip, rstrip;
    bool normalized; /* matched on the normalised text (see tokenizer.c) */
};

#define CLF_TOK_MAX_ADDED 8

/* A tokenizer read from a Hugging Face tokenizer.json (tokenizer_json.c):
 * n vocabulary tokens, token i the NUL-terminated bytes at strings +
 * off[i] (len[i] bytes) with id[i]; for byte-level BPE the merges too. */
struct clf_tok_vocab {
    char *strings;
    size_t n;
    uint32_t *off, *len;
    int32_t *id;
    bool bpe;                    /* byte-level BPE, else WordPiece (or Unigram) */
    bool unigram;                /* Unigram: id[i] = i, of score[i] */
    double *score;
    int32_t unk_id;              /* Unigram: its unknown piece */
    bool byte_fallback;          /* Unigram: unknowns as <0xNN> pieces */
    struct clf_spm_text spm;     /* Unigram: its normalizers and Metaspace */
    char *merges;                /* BPE: n_merges "left right" strings, rank order */
    size_t n_merges;
    uint32_t *m_off, *m_len;
    bool add_prefix_space;       /* BPE: its ByteLevel pre-tokenizer's */
    char cls[32], sep[32];       /* the post-processor's first and last tokens */
    char unk[32];                /* WordPiece's, BPE's unk_token ("" when none) */
    struct clf_tok_added added[CLF_TOK_MAX_ADDED];
    size_t n_added;
    int lower_case;         /* its BertNormalizer's lowercase: 1, 0, or -1 when unsaid */
    int64_t max_word_chars; /* max_input_chars_per_word, 0 when unsaid */
};

/* Reads path as tokenizer.json, one of the two kinds clformer runs:
 *  - WordPiece (BERT, MPNet): model WordPiece ("##" continuations, its
 *    unk_token), normalizer BertNormalizer (clean_text,
 *    handle_chinese_chars) or none, pre-tokenizer BertPreTokenizer or none,
 *    post-processor TemplateProcessing "X $A Y" or BertProcessing ([CLS]
 *    and [SEP] by default), at most CLF_TOK_MAX_ADDED special added tokens;
 *  - byte-level BPE (RoBERTa, GPT-2): model BPE (no dropout, no
 *    continuing prefix or end-of-word suffix), no normalizer,
 *    pre-tokenizer ByteLevel (use_regex), post-processor RobertaProcessing
 *    or TemplateProcessing "X $A Y", at most CLF_TOK_MAX_ADDED added
 *    tokens (single_word false);
 *  - Unigram (XLM-RoBERTa's SentencePiece conversion): model Unigram
 *    ([piece, score] vocabulary, unk_id, byte_fallback), normalizers
 *    Precompiled, Replace and Strip (alone or in a Sequence), pre-tokenizer
 *    Metaspace, post-processor as BPE's, added tokens as BPE's (a
 *    "normalized" one split out of the normalised text).
 * Any other component is CLF_E_UNSUPPORTED naming it. The added tokens'
 * ids are left for the caller to check against the vocabulary. */
enum clf_status clf_tok_vocab_read_json(struct clf_msg *m, const char *path,
                                        struct clf_tok_vocab *v);
void clf_tok_vocab_free(struct clf_tok_vocab *v);

/* tokenizer_json_unigram.c: a Unigram model's vocabulary into v (unigram
 * set); the normalizer (none, one, or a Sequence) and the Metaspace
 * pre-tokenizer into v->spm. cJSON values (cjson/cJSON.h). */
struct cJSON;
enum clf_status clf_tok_read_unigram(struct clf_msg *m, const char *path,
                                     const struct cJSON *model, struct clf_tok_vocab *v);
enum clf_status clf_tok_read_spm_text(struct clf_msg *m, const char *path,
                                      const struct cJSON *norm, const struct cJSON *pre,
                                      struct clf_tok_vocab *v);

#endif
