/* libFuzzer harness: clf_sentence_folder_load on a folder whose
 * modules.json is the input (a symlink to the input's file), beside a
 * fixed config.json, 1_Pooling/config.json (CLS and mean), 2_Dense/ with a
 * config.json and no weights, sentence_bert_config.json, tokenizer.json
 * (a BertNormalizer) and config_sentence_transformers.json (two prompts).
 * Whatever modules.json says, the load returns a status with a message on
 * failure and never reads outside the folder; what loads has a nonzero set
 * of pooling modes, a model folder inside the folder, a length from the
 * files (at most BERT's default 512), and prompts that resolve. */
#include "fuzz.h"

#include <sys/stat.h>

static char dir[64];

static void put(const char *name, const char *text)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_file((const uint8_t *)"", 0);
    snprintf(dir, sizeof dir, "/tmp/clf-fuzz-sf.XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    char sub[96];
    snprintf(sub, sizeof sub, "%s/1_Pooling", dir);
    FUZZ_CHECK(mkdir(sub, 0700) == 0, "mkdir failed");
    snprintf(sub, sizeof sub, "%s/2_Dense", dir);
    FUZZ_CHECK(mkdir(sub, 0700) == 0, "mkdir failed");
    put("config.json", "{\"model_type\": \"bert\", \"max_position_embeddings\": 128}");
    put("1_Pooling/config.json", "{\"pooling_mode_cls_token\": true, "
                                 "\"pooling_mode_mean_tokens\": true, \"include_prompt\": true}");
    put("2_Dense/config.json", "{\"in_features\": 8, \"out_features\": 4}");
    put("sentence_bert_config.json", "{\"max_seq_length\": 100, \"do_lower_case\": false}");
    put("tokenizer.json", "{\"added_tokens\": [], \"normalizer\": {\"type\": \"BertNormalizer\", "
                          "\"lowercase\": true}, \"model\": {\"vocab\": {\"normalizer\": 1}}}");
    put("config_sentence_transformers.json",
        "{\"prompts\": {\"query\": \"query: \", \"doc\": \"\"}, \"default_prompt_name\": "
        "\"query\"}");
    char link[96];
    snprintf(link, sizeof link, "%s/modules.json", dir);
    FUZZ_CHECK(symlink(fuzz_path, link) == 0, "symlink failed");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file(data, size);
    struct clf_sentence_folder *f = (struct clf_sentence_folder *)1;
    char msg[512];
    enum clf_status st = clf_sentence_folder_load(dir, &f, msg, sizeof msg);
    if (st != CLF_OK) {
        FUZZ_CHECK(f == NULL, "folder set on failure");
        FUZZ_CHECK(msg[0] != 0, "failure without a message");
        return 0;
    }
    const char *md = clf_sentence_folder_model_dir(f);
    FUZZ_CHECK(md && !strncmp(md, dir, strlen(dir)), "model folder %s outside %s", md, dir);
    FUZZ_CHECK(clf_sentence_folder_pooling(f) != 0, "no pooling mode");
    FUZZ_CHECK(clf_sentence_folder_dense_count(f) == 0, "a Dense module without weights loaded");
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    FUZZ_CHECK(clf_sentence_folder_tokenizer_params(f, &p) == CLF_OK, "tokenizer params");
    /* 100 from sentence_bert_config.json, 128 from config.json, or, for a
     * Transformer path at another folder (1_Pooling: a config.json without
     * max_position_embeddings), BERT's default 512 */
    FUZZ_CHECK(p.max_length >= 2 && p.max_length <= 512, "max_length %lld",
               (long long)p.max_length);
    for (size_t i = 0; i < clf_sentence_folder_prompt_count(f); i++)
        FUZZ_CHECK(clf_sentence_folder_prompt(f, clf_sentence_folder_prompt_name(f, i)) != NULL,
                   "prompt %zu does not resolve", i);
    clf_sentence_folder_destroy(f);
    return 0;
}
