/*
 * `clformer embed`'s reading of a sentence-transformers folder
 * (clf_sentence_folder_*) with the options that override it: --pooling's
 * names, and --describe's report of what the folder resolves to.
 */
#ifndef CLF_TOOLS_EMBED_FOLDER_H
#define CLF_TOOLS_EMBED_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clformer.h"

/* What the embeddings are made with: the folder's settings, then the
 * options'. */
struct embed_setup {
    char model_dir[4096];     /* the Transformer's files */
    char tokenizer[4200];     /* its tokenizer's file ("": none) */
    struct clf_tokenizer_params tp;
    unsigned pooling;         /* enum clf_pooling bits */
    bool normalize;
    int64_t dims;             /* 0: every column */
    const char *prompt_name;  /* the prompt's name, or NULL */
    const char *prompt;       /* its text (owned by the folder or argv), or NULL */
    bool pool_prompt;         /* the prompt's tokens pooled (the Pooling's include_prompt) */
    int64_t pool_skip;        /* tokens left out of the pooling (embed_prompt_skip) */
    const struct clf_sentence_folder *sf; /* the folder itself (embed_setup_folder's *sf:
                                             its Dense modules, prompts) */
};

/* What the folder dir says (clf_sentence_folder_load), into *s: its model
 * folder, tokenizer parameters, pooling, normalisation and default prompt (no truncation); *sf receives the folder (it owns the
 * Dense weights and the prompts). Returns 0 or a CLI exit code, the error
 * printed. */
int embed_setup_folder(const char *dir, struct embed_setup *s, struct clf_sentence_folder **sf);

/* s->pool_skip for a prompt the folder's pooling leaves out (include_prompt
 * false): clf_tokenizer_prompt_tokens; else 0. CLF_OK or tok's error. */
enum clf_status embed_prompt_skip(struct embed_setup *s, struct clf_tokenizer *tok);

/* The tokenizer's file the folder chose (clf_sentence_folder_tokenizer_file:
 * vocab.txt or tokenizer.json) into path. False, the error printed, when
 * there is neither. */
bool embed_tokenizer_path(const struct embed_setup *s, char *path, size_t size);

/* A BERT runner's pooling, Dense layers and truncation as the folder and
 * the options say (clf_dp_set_folder), and the tokens left out
 * (s->pool_skip). */
enum clf_status embed_setup_runner(struct clf_dp *dp, const struct embed_setup *s);

/* --pooling's value: names from "cls", "max", "mean", "mean_sqrt_len",
 * "weightedmean", "lasttoken", joined by ',' (their vectors concatenated in
 * enum clf_pooling's order). False for an unknown or empty name. */
bool embed_pooling_parse(const char *s, unsigned *modes);

/* The names of modes, joined by ',' ("" for none). */
void embed_pooling_str(unsigned modes, char *buf, size_t size);

/* --describe: what the folder dir resolves to, with the options applied
 * (s): architecture and sizes (config.json), the weights' dtype, the
 * tokenizer, pooling, normalisation, length, dimensions, prompts. JSON
 * with json, else lines of "key: value". Returns a CLI exit code. */
int embed_describe(const char *dir, const struct clf_sentence_folder *sf,
                   const struct embed_setup *s, bool json);

#endif
