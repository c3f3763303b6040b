/*
 * What the BERT-family loader (bert.c) knows of a config.json that another
 * reader of a model folder needs too (sentence_folder.c). Not installed.
 */
#ifndef CLF_MODEL_BERT_CONFIG_H
#define CLF_MODEL_BERT_CONFIG_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* The tokens per text a model of this config.json takes, given its
 * max_position_embeddings: max_pos less the rows its architecture starts
 * past (RoBERTa and XLM-RoBERTa: pad_token_id + 1, 514 -> 512); max_pos
 * itself for a model_type clf_bert_load refuses or a malformed
 * pad_token_id, which the load reports. */
int64_t clf_bert_text_positions(const cJSON *config, int64_t max_pos);

#endif
