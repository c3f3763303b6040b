/* libFuzzer harness: clf_tokenizer_load on the input as vocab.txt (with a
 * context, so that every failure must leave a message). What loads must
 * hold the four required specials and tokenise a few fixed texts (ASCII,
 * accents, CJK, the specials written out, a long word, punctuation) into
 * ids within its lines, [CLS] first and [SEP] last; the tokenizer is made
 * with max_length 16 and max_word_chars 8 so that those limits are
 * reached. */
#include "fuzz.h"

FUZZ_INITIALIZE_CTX()

static const char *const texts[] = {
    "",
    "Hello, world! unaffable",
    "[CLS][SEP] [MASK]x[PAD][UNK] [cls]",
    "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\xe4\xb8\xad\xe6\x96\x87 \xce\xa3\xcf\x83",
    "a aa aaa aaaa aaaaaaaaaaaaaaaaaaaaaaaaa ##a ## # \t\r\n",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.max_length = 16;
    p.max_word_chars = 8;
    struct clf_tokenizer *t = (struct clf_tokenizer *)1;
    enum clf_status st = clf_tokenizer_load(fuzz_ctx, path, &p, &t);
    if (st != CLF_OK) {
        FUZZ_CHECK(t == NULL, "tokenizer set on failure");
        FUZZ_CHECK(clf_ctx_last_error(fuzz_ctx)[0] != 0, "failure without a message");
        return 0;
    }
    /* lines as the loader counts them (Python's readlines) */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    lines += size > 0 && data[size - 1] != '\n';
    static const char *const required[] = {"[CLS]", "[SEP]", "[UNK]", "[PAD]"};
    for (size_t i = 0; i < 4; i++) {
        int32_t id = clf_tokenizer_token_id(t, required[i]);
        FUZZ_CHECK(id >= 0 && (size_t)id < lines, "%s has id %d of %zu lines", required[i],
                   (int)id, lines);
    }
    int32_t cls = clf_tokenizer_token_id(t, "[CLS]"), sep = clf_tokenizer_token_id(t, "[SEP]");
    int32_t *ids = malloc(16 * sizeof *ids);
    FUZZ_CHECK(ids != NULL, "no memory");
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        size_t n = 0;
        st = clf_tokenizer_encode(t, texts[k], ids, 16, &n, NULL);
        FUZZ_CHECK(st == CLF_OK, "text %zu: %s", k, clf_status_str(st));
        FUZZ_CHECK(n >= 2 && n <= 16 && ids[0] == cls && ids[n - 1] == sep, "text %zu: n %zu",
                   k, n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < lines, "text %zu: id %d of %zu lines",
                       k, (int)ids[i], lines);
    }
    free(ids);
    clf_tokenizer_destroy(t);
    return 0;
}
