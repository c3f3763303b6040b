/* libFuzzer harness: clf_tokenizer_load on the input as a Hugging Face
 * tokenizer.json (a path ending in ".json": a symlink to the input's
 * file), with a context, so that every failure must leave a message. What
 * loads must hold the four required specials and tokenise a few fixed
 * texts (ASCII, accents, CJK, the specials written out, a long word) into
 * non-negative ids, [CLS] first and [SEP] last, within max_length 16. */
#include "fuzz.h"

static char json_path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_make_ctx();
    fuzz_file((const uint8_t *)"", 0); /* the memfd, so that its path exists */
    char dir[] = "/tmp/clf-fuzz-tj.XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(json_path, sizeof json_path, "%s/tokenizer.json", dir);
    FUZZ_CHECK(symlink(fuzz_path, json_path) == 0, "symlink failed");
    return 0;
}

static const char *const texts[] = {
    "",
    "Hello, world! unaffable",
    "[CLS][SEP] [MASK]x[PAD][UNK] [cls]",
    "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\xe4\xb8\xad\xe6\x96\x87 \xce\xa3\xcf\x83",
    "a aa aaa aaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ##a ## # \t\r\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file(data, size);
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.max_length = 16;
    struct clf_tokenizer *t = (struct clf_tokenizer *)1;
    enum clf_status st = clf_tokenizer_load(fuzz_ctx, json_path, &p, &t);
    if (st != CLF_OK) {
        FUZZ_CHECK(t == NULL, "tokenizer set on failure");
        FUZZ_CHECK(clf_ctx_last_error(fuzz_ctx)[0] != 0, "failure without a message");
        return 0;
    }
    static const char *const required[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]"};
    for (size_t i = 0; i < 4; i++)
        FUZZ_CHECK(clf_tokenizer_token_id(t, required[i]) >= 0, "%s missing", required[i]);
    int32_t cls = clf_tokenizer_token_id(t, "[CLS]"), sep = clf_tokenizer_token_id(t, "[SEP]");
    int32_t ids[16];
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        size_t n = 0;
        st = clf_tokenizer_encode(t, texts[k], ids, 16, &n, NULL);
        FUZZ_CHECK(st == CLF_OK, "text %zu: %s", k, clf_status_str(st));
        FUZZ_CHECK(n >= 2 && n <= 16 && ids[0] == cls && ids[n - 1] == sep, "text %zu: n %zu",
                   k, n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0, "text %zu: id %d", k, (int)ids[i]);
    }
    clf_tokenizer_destroy(t);
    return 0;
}
