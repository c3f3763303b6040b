/* libFuzzer harness: clf_tokenizer_encode on the input as a NUL-terminated
 * text (up to its first NUL), with two tokenizers made once: the real
 * all-MiniLM-L6-v2 vocabulary when it is there ($CLFORMER_MODEL_DIR, else
 * the cache of tools/fetch_model.sh), else a small fixed one, with the
 * defaults; and the small one cased, max_length 8, max_word_chars 4 (so
 * truncation and long words are reached). Checks: invalid UTF-8 (an
 * independent RFC 3629 check: no overlong forms, surrogates or code points
 * past U+10FFFF) is CLF_E_INVALID_ARG and valid text CLF_OK; then every id
 * is in the vocabulary, 2 <= n <= max_length, [CLS] first, [SEP] last,
 * truncated exactly when n == max_length could not hold the text (at
 * least n == max_length), and one id less of room is CLF_E_SHAPE. The ids
 * array has exactly max_length entries, so ASan catches a write past it. */
#include "fuzz.h"

#include <stdbool.h>

/* The small vocabulary: the specials, some words, pieces and characters
 * (ASCII, accented, CJK). */
static const char small_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nun\n##aff\n##able\na\nb\nc\n##a\n##b\n##c\n"
    "hello\nworld\n!\n,\n.\n##s\n\xc3\xa9\n\xe4\xb8\xad\n\xe6\x96\x87\nab\n##bc\n";

struct fuzz_tok {
    struct clf_tokenizer *t;
    struct clf_tokenizer_params p;
    int32_t vocab; /* lines of its vocab.txt */
    int32_t cls, sep;
};

static struct fuzz_tok toks[2];

static int32_t count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL, "%s unreadable", path);
    int32_t lines = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        lines += c == '\n';
        last = c;
    }
    fclose(f);
    return lines + (last != '\n');
}

static void load(struct fuzz_tok *k, const char *path, const struct clf_tokenizer_params *p)
{
    k->p = *p;
    FUZZ_CHECK(clf_tokenizer_load(NULL, path, p, &k->t) == CLF_OK, "cannot load %s", path);
    k->vocab = count_lines(path);
    k->cls = clf_tokenizer_token_id(k->t, "[CLS]");
    k->sep = clf_tokenizer_token_id(k->t, "[SEP]");
    FUZZ_CHECK(k->cls >= 0 && k->sep >= 0, "no [CLS] or [SEP] in %s", path);
}

static void unload(void)
{
    for (int i = 0; i < 2; i++)
        clf_tokenizer_destroy(toks[i].t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* the small vocabulary in a memfd of its own (fuzz_file's is unused) */
    int fd = memfd_create("clf-fuzz-vocab", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create failed");
    FUZZ_CHECK(write(fd, small_vocab, sizeof small_vocab - 1) == (ssize_t)sizeof small_vocab - 1,
               "write failed");
    char small[64];
    snprintf(small, sizeof small, "/proc/self/fd/%d", fd);

    char dir[4000], real[4096];
    bool have_real = clf_default_model_dir(dir, sizeof dir) == CLF_OK;
    snprintf(real, sizeof real, "%s/vocab.txt", dir);
    have_real = have_real && access(real, R_OK) == 0;
    fprintf(stderr, "fuzz-tokenizer: vocabulary %s\n", have_real ? real : "(small, built in)");

    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    load(&toks[0], have_real ? real : small, &p);
    p.lower_case = false;
    p.max_length = 8;
    p.max_word_chars = 4;
    load(&toks[1], small, &p);
    close(fd);
    atexit(unload);
    return 0;
}

/* RFC 3629 UTF-8 of s[0..len). */
static bool valid_utf8(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static void check(const struct fuzz_tok *k, const char *text, bool valid)
{
    size_t cap = (size_t)k->p.max_length;
    int32_t *ids = malloc(cap * sizeof *ids);
    FUZZ_CHECK(ids != NULL, "no memory");
    size_t n = (size_t)-1;
    bool truncated = false;
    enum clf_status st = clf_tokenizer_encode(k->t, text, ids, cap, &n, &truncated);
    if (!valid) {
        FUZZ_CHECK(st == CLF_E_INVALID_ARG, "invalid UTF-8 gave %s", clf_status_str(st));
        free(ids);
        return;
    }
    FUZZ_CHECK(st == CLF_OK, "valid UTF-8 gave %s", clf_status_str(st));
    FUZZ_CHECK(n >= 2 && n <= cap, "n = %zu, max_length %zu", n, cap);
    FUZZ_CHECK(ids[0] == k->cls && ids[n - 1] == k->sep, "ids[0] = %d, ids[n-1] = %d",
               (int)ids[0], (int)ids[n - 1]);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < k->vocab, "id %d of a %d-line vocabulary",
                   (int)ids[i], (int)k->vocab);
    FUZZ_CHECK(!truncated || n == cap, "truncated at n = %zu < max_length %zu", n, cap);
    /* one id less of room than produced: refused, ids untouched past it */
    size_t m = (size_t)-1;
    st = clf_tokenizer_encode(k->t, text, ids, n - 1, &m, NULL);
    FUZZ_CHECK(st == CLF_E_SHAPE, "room for n-1 gave %s", clf_status_str(st));
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    bool valid = valid_utf8((const unsigned char *)text, strlen(text));
    check(&toks[0], text, valid);
    check(&toks[1], text, valid);
    free(text);
    return 0;
}
