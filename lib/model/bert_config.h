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
 * past (RoBERTa and XLM-RoBERTa: pad_token_id + 1, 514 -> 512; MPNet: 2); max_pos
 * itself for a model_type clf_bert_load refuses or a malformed
 * pad_token_id, which the load reports. */
int64_t clf_bert_text_positions(const cJSON *config, int64_t max_pos);

/* MPNet's relative position bucket (Song et al. 2020; T5's bidirectional
 * scheme, Raffel et al. 2020) of key j = query i + rel, as Hugging Face's
 * MPNetEncoder.relative_position_bucket computes it with its fixed 32
 * buckets and max_distance 128: 16 buckets per direction (keys before the
 * query from 16), distances below 8 exact, then
 * 8 + trunc(log(n / 8) / log(16) · 8) up to 15, in float32 as torch does
 * (checked against torch for |rel| < 1024 by test-bert). */
int clf_mpnet_bucket(int64_t rel);

#endif
