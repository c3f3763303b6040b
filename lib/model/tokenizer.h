/*
 * Internal view of the tokenizer (lib/model/tokenizer.c). Not installed.
 */
#ifndef CLF_MODEL_TOKENIZER_H
#define CLF_MODEL_TOKENIZER_H

#include <stdint.h>

#include "clformer.h"
#include "io.h"

/* The most ids one text gives (its params' max_length): the capacity
 * clf_tokenizer_encode needs. */
int64_t clf_tokenizer_max_ids(const struct clf_tokenizer *t);
/* The context its errors go to (may be NULL). */
struct clf_ctx *clf_tokenizer_ctx(const struct clf_tokenizer *t);

/* A WordPiece vocabulary read from a Hugging Face tokenizer.json
 * (tokenizer_json.c): n tokens, token i the NUL-terminated bytes at
 * strings + off[i] (len[i] bytes) with id[i]. */
struct clf_tok_vocab {
    char *strings;
    size_t n;
    uint32_t *off, *len;
    int32_t *id;
    int lower_case;         /* its BertNormalizer's lowercase: 1, 0, or -1 when unsaid */
    int64_t max_word_chars; /* max_input_chars_per_word, 0 when unsaid */
};

/* Reads path as tokenizer.json: model WordPiece ("##" continuations,
 * [UNK]), normalizer BertNormalizer (clean_text, handle_chinese_chars) or
 * none, pre-tokenizer BertPreTokenizer or none, post-processor
 * TemplateProcessing "[CLS] $A [SEP]" or BertProcessing, added tokens
 * among [CLS], [SEP], [UNK], [PAD], [MASK]: what clf_tokenizer_encode
 * implements. Any other component is CLF_E_UNSUPPORTED naming it. */
enum clf_status clf_tok_vocab_read_json(struct clf_msg *m, const char *path,
                                        struct clf_tok_vocab *v);
void clf_tok_vocab_free(struct clf_tok_vocab *v);

#endif
