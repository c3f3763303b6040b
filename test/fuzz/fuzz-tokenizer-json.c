/* libFuzzer harness: clf_tokenizer_load on the input as a Hugging Face
 * tokenizer.json (a path ending in ".json": a symlink to the input's
 * file), with a context, so that every failure must leave a message. What
 * loads (WordPiece, byte-level BPE or Unigram, its charsmap walked at load)
 * must tokenise a few fixed texts
 * (ASCII, accents, CJK, the specials written out, a long word) into
 * non-negative ids within max_length 16, the same special first and last
 * in each; a BPE vocabulary missing a byte's symbol may refuse a text
 * (CLF_E_FORMAT). */
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
    ("a aa aaa aaaa aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ##a ## # \t\r\n"),
    "it's <s>ab</s> <mask> don't  \n 12 ab",
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
    /* every text: its first and last ids the same special tokens (the
     * post-processor's), within max_length, ids non-negative */
    int32_t ids[16], first = -1, last = -1;
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        size_t n = 0;
        st = clf_tokenizer_encode(t, texts[k], ids, 16, &n, NULL);
        if (st == CLF_E_FORMAT) /* a BPE vocabulary without a byte's symbol: refused */
            continue;
        FUZZ_CHECK(st == CLF_OK, "text %zu: %s", k, clf_status_str(st));
        FUZZ_CHECK(n >= 2 && n <= 16, "text %zu: n %zu", k, n);
        if (first < 0)
            first = ids[0], last = ids[n - 1];
        FUZZ_CHECK(ids[0] == first && ids[n - 1] == last, "text %zu: specials %d %d", k,
                   (int)ids[0], (int)ids[n - 1]);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0, "text %zu: id %d", k, (int)ids[i]);
    }
    clf_tokenizer_destroy(t);
    return 0;
}
