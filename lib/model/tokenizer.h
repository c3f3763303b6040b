/*
 * Internal view of the tokenizer (lib/model/tokenizer.c). Not installed.
 */
#ifndef CLF_MODEL_TOKENIZER_H
#define CLF_MODEL_TOKENIZER_H

#include "clformer.h"

/* The most ids one text gives (its params' max_length): the capacity
 * clf_tokenizer_encode needs. */
int64_t clf_tokenizer_max_ids(const struct clf_tokenizer *t);
/* The context its errors go to (may be NULL). */
struct clf_ctx *clf_tokenizer_ctx(const struct clf_tokenizer *t);

#endif
