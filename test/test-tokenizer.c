/*
 * BERT WordPiece tokenizer (clf_tokenizer_*).
 *
 * "unit": the trained vocabularies of test/models/ against Hugging Face's
 * ids (test/reference/tiny-models.json, 230 varied texts each); a tiny
 * vocabulary written to a temporary directory; each rule of
 * the algorithm (greedy longest match, "##" continuations, [UNK] for a word
 * with no match or too many characters, cleaning, lower-casing and accent
 * stripping, punctuation and CJK splits, special tokens in the text,
 * truncation) and each error status, with ids worked out by hand.
 *
 * "reference": every case of test/reference/minilm-tokens.json (written by
 * tools/make_reference.py with Hugging Face's BertTokenizer and
 * BertTokenizerFast, which agree on all of them) must give exactly the same
 * ids and truncation flag with all-MiniLM-L6-v2's vocab.txt. Tokenisation is
 * exact, so there is no tolerance. The model directory is
 * $CLFORMER_MODEL_DIR or the cache of tools/fetch_model.sh; without it the
 * unit tests still run and the suite then exits 77 (skipped).
 *
 * No OpenCL device is needed: the tokenizer is host code (ctx NULL).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "../lib/model/tokenizer.h" /* internal: the tokenizer.json reader's messages */

static char *read_text(const char *path);

static char *tmpdir;

/* Writes text to tmpdir/name; returns the malloc'd path. */
static char *write_file(const char *name, const char *text)
{
    size_t len = strlen(tmpdir) + strlen(name) + 2;
    char *path = malloc(len);
    ck_assert_ptr_nonnull(path);
    snprintf(path, len, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* The tiny vocabulary; ids are line numbers (0-based). */
static const char tiny_vocab[] = "[PAD]\n"  /* 0 */
                                 "[UNK]\n"  /* 1 */
                                 "[CLS]\n"  /* 2 */
                                 "[SEP]\n"  /* 3 */
                                 "[MASK]\n" /* 4 */
                                 "un\n"     /* 5 */
                                 "unaff\n"  /* 6 */
                                 "##able\n" /* 7 */
                                 "##aff\n"  /* 8 */
                                 "##le\n"   /* 9 */
                                 "hello\n"  /* 10 */
                                 "##o\n"    /* 11 */
                                 "wor\n"    /* 12 */
                                 "##ld\n"   /* 13 */
                                 ",\n"      /* 14 */
                                 "!\n"      /* 15 */
                                 "中\n"     /* 16 */
                                 "文\n"     /* 17 */
                                 "cafe\n"   /* 18 */
                                 "x\n"      /* 19 */
                                 "$\n"      /* 20 */
                                 "é\n"      /* 21 */
                                 "dup\n"    /* 22 */
                                 "dup\r\n"  /* 23: CRLF line; a later duplicate wins */
                                 "##\xc3\xa9\n" /* 24: ##é */
                                 "a\n"      /* 25 */
                                 "b";       /* 26: last line without '\n' */

static struct clf_tokenizer *load_tiny(const struct clf_tokenizer_params *p)
{
    char *path = write_file("vocab.txt", tiny_vocab);
    struct clf_tokenizer *t = NULL;
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, p, &t));
    free(path);
    return t;
}

/* Encodes text and compares with want (n_want ids, without [CLS]/[SEP],
 * which are checked too). */
static void expect(struct clf_tokenizer *t, const char *text, const int32_t *want, size_t n_want,
                   bool want_trunc)
{
    int32_t ids[64];
    size_t n = 999;
    bool trunc = !want_trunc;
    enum clf_status st = clf_tokenizer_encode(t, text, ids, 64, &n, &trunc);
    ck_assert_msg(st == CLF_OK, "'%s': %s", text, clf_status_str(st));
    ck_assert_msg(n == n_want + 2, "'%s': %zu ids, expected %zu", text, n, n_want + 2);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[n - 1], 3);
    for (size_t i = 0; i < n_want; i++)
        ck_assert_msg(ids[i + 1] == want[i], "'%s': id %zu is %d, expected %d", text, i + 1,
                      ids[i + 1], want[i]);
    ck_assert_int_eq(trunc, want_trunc);
}

#define EXPECT(t, text, trunc, ...)                                                         \
    do {                                                                                    \
        const int32_t w_[] = {__VA_ARGS__};                                                 \
        expect(t, text, w_, sizeof w_ / sizeof w_[0], trunc);                               \
    } while (0)
#define EXPECT_EMPTY(t, text) expect(t, text, NULL, 0, false)

START_TEST(test_wordpiece)
{
    struct clf_tokenizer *t = load_tiny(NULL);
    /* Greedy longest match from the left: "unaff" beats "un" + "##aff". */
    EXPECT(t, "unaffable", false, 6, 7);
    EXPECT(t, "unable", false, 5, 7);
    EXPECT(t, "unle", false, 5, 9);
    EXPECT(t, "hello world", false, 10, 12, 13);
    EXPECT(t, "helloo", false, 10, 11);
    /* A position without any piece: the whole word is one [UNK] (the
     * pieces already matched are dropped). */
    EXPECT(t, "unzz", false, 1);
    EXPECT(t, "zz hello", false, 1, 10);
    /* "##" is only a continuation: "able" alone has no match. */
    EXPECT(t, "able", false, 1);
    /* Punctuation is a word of its own, also "$" (ASCII 36, Sc in Unicode). */
    EXPECT(t, "hello,world!", false, 10, 14, 12, 13, 15);
    EXPECT(t, "$x", false, 20, 19);
    /* CJK ideographs are words of their own even without spaces. */
    EXPECT(t, "中文", false, 16, 17);
    EXPECT(t, "x中x", false, 19, 16, 19);
    /* Special tokens written in the text, exact and case-sensitive. */
    EXPECT(t, "hello[MASK]x", false, 10, 4, 19);
    EXPECT(t, "[CLS][SEP][PAD][UNK]", false, 2, 3, 0, 1);
    EXPECT(t, "[mask]", false, 1, 1, 1); /* "[", "mask" ([UNK]), "]" */
    clf_tokenizer_destroy(t);
}
END_TEST

START_TEST(test_normalisation)
{
    struct clf_tokenizer *t = load_tiny(NULL);
    /* Lower-case, NFD and combining marks removed, composed or not. */
    EXPECT(t, "HeLLo", false, 10);
    EXPECT(t, "Café", false, 18);
    EXPECT(t, "CAFE\xcc\x81", false, 18); /* E + U+0301 */
    EXPECT_EMPTY(t, "\xcc\x81"); /* a lone mark vanishes */
    /* Control characters (Cc, Cf; not \t \n \r) and U+FFFD are dropped
     * without splitting; \t \n \r, U+00A0, U+3000, U+2028 split. */
    EXPECT(t, "hel\x01lo\xe2\x80\x8b", false, 10);
    EXPECT(t, "hel\xef\xbf\xbdlo", false, 10);
    EXPECT(t, "x\ty\nx\rx\xc2\xa0x\xe3\x80\x80x\xe2\x80\xa8x", false, 19, 1, 19, 19, 19, 19,
           19);
    EXPECT_EMPTY(t, "");
    EXPECT_EMPTY(t, " \t\r\n \xe3\x80\x80");
    EXPECT_EMPTY(t, "\x01\x02");
    clf_tokenizer_destroy(t);

    /* Cased: no lower-casing and no accent stripping. */
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.lower_case = false;
    t = load_tiny(&p);
    EXPECT(t, "Hello hello", false, 1, 10);
    EXPECT(t, "\xc3\xa9", false, 21); /* é kept */
    clf_tokenizer_destroy(t);
}
END_TEST

START_TEST(test_limits)
{
    /* max_word_chars: a longer word is [UNK] before any matching. */
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    ck_assert_int_eq(p.lower_case, true);
    ck_assert_int_eq(p.max_length, 256);
    ck_assert_int_eq(p.max_word_chars, 100);
    p.max_word_chars = 5;
    struct clf_tokenizer *t = load_tiny(&p);
    EXPECT(t, "hello", false, 10);
    EXPECT(t, "helloo", false, 1);
    /* Characters, not bytes: "ééééé" is 5 characters (10 bytes). */
    clf_tokenizer_destroy(t);
    p.lower_case = false;
    t = load_tiny(&p);
    EXPECT(t, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", false, 21, 24, 24, 24, 24);
    EXPECT(t, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", false, 1);
    clf_tokenizer_destroy(t);

    /* max_length 4: two pieces fit; a third truncates. */
    p = clf_tokenizer_params_default();
    p.max_length = 4;
    t = load_tiny(&p);
    EXPECT(t, "hello hello", false, 10, 10);
    EXPECT(t, "hello hello hello", true, 10, 10);
    EXPECT(t, "x helloo", true, 19, 10);
    EXPECT(t, "x xunzz", false, 19, 1); /* the [UNK] word fits exactly */

    /* cap: the ids produced must fit. */
    int32_t ids[4];
    size_t n = 0;
    ck_assert_status(NULL, clf_tokenizer_encode(t, "hello", ids, 2, &n, NULL), CLF_E_SHAPE);
    ck_assert_ok(NULL, clf_tokenizer_encode(t, "hello", ids, 3, &n, NULL));
    ck_assert_uint_eq(n, 3);
    ck_assert_status(NULL, clf_tokenizer_encode(t, "x x x x", ids, 3, &n, NULL), CLF_E_SHAPE);
    ck_assert_ok(NULL, clf_tokenizer_encode(t, "x x x x", ids, 4, &n, NULL));
    ck_assert_uint_eq(n, 4);
    clf_tokenizer_destroy(t);

    /* vocab_limit (the embedding table's rows): the tiny vocabulary's ids
     * end at 26, so 27 rows hold it and 26 do not; 0 is no limit */
    ck_assert_int_eq(clf_tokenizer_params_default().vocab_limit, 0);
    char *path = write_file("vocab.txt", tiny_vocab);
    p = clf_tokenizer_params_default();
    p.vocab_limit = 27;
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, &p, &t));
    clf_tokenizer_destroy(t);
    p.vocab_limit = 26;
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, &p, &t), CLF_E_FORMAT);
    ck_assert_ptr_null(t);
    free(path);
}
END_TEST

START_TEST(test_errors)
{
    struct clf_tokenizer *t = load_tiny(NULL);
    int32_t ids[8];
    size_t n;
    /* Invalid UTF-8: a stray continuation byte, a truncated sequence, an
     * overlong encoding, a surrogate, a code point above U+10FFFF. */
    static const char *const bad[] = {"\xff", "ab\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_status(NULL, clf_tokenizer_encode(t, bad[i], ids, 8, &n, NULL),
                         CLF_E_INVALID_ARG);
    ck_assert_status(NULL, clf_tokenizer_encode(t, NULL, ids, 8, &n, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(NULL, clf_tokenizer_encode(t, "x", ids, 8, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(NULL, clf_tokenizer_encode(NULL, "x", ids, 8, &n, NULL), CLF_E_INVALID_ARG);

    /* token_id: line numbers; a later duplicate (CRLF line) wins; the last
     * line needs no '\n'. */
    ck_assert_int_eq(clf_tokenizer_token_id(t, "hello"), 10);
    ck_assert_int_eq(clf_tokenizer_token_id(t, "##ld"), 13);
    ck_assert_int_eq(clf_tokenizer_token_id(t, "dup"), 23);
    ck_assert_int_eq(clf_tokenizer_token_id(t, "b"), 26);
    ck_assert_int_eq(clf_tokenizer_token_id(t, "nope"), -1);
    ck_assert_int_eq(clf_tokenizer_token_id(t, NULL), -1);
    ck_assert_int_eq(clf_tokenizer_token_id(NULL, "x"), -1);
    clf_tokenizer_destroy(t);
    clf_tokenizer_destroy(NULL);

    /* Each required special token missing in turn: CLF_E_FORMAT. */
    static const char *const lacking[] = {"[UNK]\n[CLS]\n[SEP]\nx\n", "[PAD]\n[CLS]\n[SEP]\n",
                                          "[PAD]\n[UNK]\n[SEP]\n", "[PAD]\n[UNK]\n[CLS]\n"};
    for (size_t i = 0; i < 4; i++) {
        char *path = write_file("bad.txt", lacking[i]);
        static char sentinel;
        t = (struct clf_tokenizer *)(void *)&sentinel; /* must be reset to NULL */
        ck_assert_status(NULL, clf_tokenizer_load(NULL, path, NULL, &t), CLF_E_FORMAT);
        ck_assert_ptr_null(t);
        free(path);
    }
    /* [MASK] is optional: without it "[MASK]" in a text is plain text. */
    char *path = write_file("nomask.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[\n]\n");
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, NULL, &t));
    ck_assert_ok(NULL, clf_tokenizer_encode(t, "[MASK]", ids, 8, &n, NULL));
    ck_assert_uint_eq(n, 5); /* [CLS] "[" [UNK] "]" [SEP] */
    ck_assert_int_eq(ids[1], 4);
    ck_assert_int_eq(ids[2], 1);
    ck_assert_int_eq(ids[3], 5);
    clf_tokenizer_destroy(t);
    free(path);
    /* Invalid UTF-8 in the vocabulary, a missing file, bad parameters. */
    path = write_file("badutf.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n\xff\n");
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, NULL, &t), CLF_E_FORMAT);
    free(path);
    path = write_file("vocab.txt", tiny_vocab);
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.max_length = 1;
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, &p, &t), CLF_E_INVALID_ARG);
    p = clf_tokenizer_params_default();
    p.max_word_chars = 0;
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, &p, &t), CLF_E_INVALID_ARG);
    ck_assert_status(NULL, clf_tokenizer_load(NULL, NULL, NULL, &t), CLF_E_INVALID_ARG);
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, NULL, NULL), CLF_E_INVALID_ARG);
    free(path);
    path = write_file("dummy", "");
    strcpy(path + strlen(path) - 5, "nope.");
    ck_assert_status(NULL, clf_tokenizer_load(NULL, path, NULL, &t), CLF_E_IO);
    free(path);
}
END_TEST

/* tokenizer.json: the tiny vocabulary as a WordPiece model gives the same
 * ids as vocab.txt; each component clformer does not implement is refused,
 * naming it. */
#define TJ_VOCAB "\"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, " \
                 "\"un\": 5, \"unaff\": 6, \"##able\": 7, \"hello\": 10, \",\": 14}"
#define TJ_POST "\"post_processor\": {\"type\": \"BertProcessing\"}"
START_TEST(test_tokenizer_json)
{
    char *path = write_file("tokenizer.json",
                            "{\"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": "
                            "true, \"strip_accents\": null}, \"pre_tokenizer\": {\"type\": "
                            "\"BertPreTokenizer\"}, " TJ_POST ", \"added_tokens\": [{\"id\": 2, "
                            "\"content\": \"[CLS]\"}], \"model\": {\"type\": \"WordPiece\", "
                            "\"max_input_chars_per_word\": 100, " TJ_VOCAB "}}");
    struct clf_tokenizer *t = NULL;
    struct clf_tokenizer_params p = clf_tokenizer_params_default();
    p.lower_case = false; /* the normaliser's lowercase wins */
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, &p, &t));
    int32_t ids[16];
    size_t n = 0;
    ck_assert_ok(NULL, clf_tokenizer_encode(t, "Unaffable, HELLO xyz", ids, 16, &n, NULL));
    const int32_t want[] = {2, 6, 7, 14, 10, 1, 3};
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ids[i], want[i]);
    clf_tokenizer_destroy(t);
    free(path);
    static const struct {
        const char *json, *words;
        enum clf_status st;
    } bad[] = {
        {"{\"model\": {\"type\": \"Unigram\", " TJ_VOCAB "}, " TJ_POST "}",
         "model \"Unigram\"", CLF_E_UNSUPPORTED},
        {"{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"BPE\", \"merges\": [], "
         TJ_VOCAB "}, " TJ_POST "}", "normalizer \"NFC\" with BPE", CLF_E_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"BPE\", "
         "\"merges\": [], " TJ_VOCAB "}, " TJ_POST "}", "pre_tokenizer \"BertPreTokenizer\"",
         CLF_E_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
         "\"dropout\": 0.1, \"merges\": [], " TJ_VOCAB "}, " TJ_POST "}", "\"dropout\"",
         CLF_E_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
         "\"merges\": [\"ab\"], " TJ_VOCAB "}, " TJ_POST "}", "a merge", CLF_E_FORMAT},
        {"{\"normalizer\": {\"type\": \"Sequence\"}, " TJ_POST ", \"model\": {\"type\": "
         "\"WordPiece\", " TJ_VOCAB "}}", "normalizer \"Sequence\"", CLF_E_UNSUPPORTED},
        {"{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, " TJ_POST ", \"model\": {\"type\": "
         "\"WordPiece\", " TJ_VOCAB "}}", "pre_tokenizer \"ByteLevel\"", CLF_E_UNSUPPORTED},
        {"{\"model\": {\"type\": \"WordPiece\", " TJ_VOCAB "}}", "no post_processor",
         CLF_E_UNSUPPORTED},
        {"{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": "
         "{\"id\": \"A\"}}]}, \"model\": {\"type\": \"WordPiece\", " TJ_VOCAB "}}",
         "post_processor \"TemplateProcessing\"", CLF_E_UNSUPPORTED},
        {"{" TJ_POST ", \"added_tokens\": [{\"id\": 11, \"content\": \"<s>\"}], "
         "\"model\": {\"type\": \"WordPiece\", " TJ_VOCAB "}}", "\"<s>\"", CLF_E_UNSUPPORTED},
        {"{" TJ_POST ", \"model\": {\"type\": \"WordPiece\", \"continuing_subword_prefix\": "
         "\"@@\", " TJ_VOCAB "}}", "continuing_subword_prefix", CLF_E_UNSUPPORTED},
        {"{" TJ_POST ", \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 1.5}}}",
         "vocab entry \"a\"", CLF_E_FORMAT},
        {"{" TJ_POST ", \"added_tokens\": [{\"id\": 7, \"content\": \"[CLS]\"}], "
         "\"model\": {\"type\": \"WordPiece\", " TJ_VOCAB "}}",
         "", CLF_E_UNSUPPORTED}, /* [CLS] is 2: refused by the load's table */
        {"{\"model\": ", "not a JSON object", CLF_E_FORMAT},
        {"{" TJ_POST ", \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[CLS]\": 0}}}",
         "", CLF_E_FORMAT}, /* no [SEP]: refused by the load, not the reader */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.json", i);
        path = write_file(name, bad[i].json);
        ck_assert_status(NULL, clf_tokenizer_load(NULL, path, NULL, &t), bad[i].st);
        ck_assert_ptr_null(t);
        /* the message, from the reader (the load above has no context) */
        char msg[512];
        struct clf_msg m = clf_msg_init(msg, sizeof msg);
        struct clf_tok_vocab v;
        enum clf_status st = clf_tok_vocab_read_json(&m, path, &v);
        if (st == CLF_OK) { /* the reader accepts it: the load's own check (the specials)
                               refused it above */
            clf_tok_vocab_free(&v);
            free(path);
            continue;
        }
        ck_assert_msg(strstr(msg, bad[i].words) && strstr(msg, name),
                      "case %zu: \"%s\" lacks \"%s\" or the file", i, msg, bad[i].words);
        free(path);
    }
}
END_TEST

/* The trained vocabularies of test/models/ (tools/make_tiny_models.py:
 * WordPiece uncased and cased, byte-level BPE, WordPiece with MPNet's <s>
 * and </s>; tools/make_tiny_modernbert.py: byte-level BPE with [CLS] and
 * [SEP] by TemplateProcessing, tokenizer.json alone): Hugging Face's ids (the fast tokenizers sentence-transformers
 * runs) of 250 varied texts, through tokenizer.json and through vocab.txt
 * where the folder takes it (clf_sentence_folder_tokenizer_file: not for
 * MPNet, whose vocab.txt says nothing of its special tokens), with the
 * folder's own settings (clf_sentence_folder_tokenizer_params: its
 * lower-casing). */
START_TEST(test_trained_vocabularies)
{
    char *json = read_text(CLF_SOURCE_DIR "/test/reference/tiny-models.json");
    cJSON *root = cJSON_Parse(json);
    ck_assert_msg(root != NULL, "tiny-models.json does not parse");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(root, "tokenizers"), *tk;
    ck_assert_int_eq(cJSON_GetArraySize(toks), 5);
    int32_t ids[512];
    cJSON_ArrayForEach(tk, toks)
    {
        const char *folder = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(tk, "folder"));
        const cJSON *texts = cJSON_GetObjectItemCaseSensitive(tk, "texts");
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(tk, "ids");
        ck_assert(folder && cJSON_GetArraySize(texts) >= 200 &&
                  cJSON_GetArraySize(texts) == cJSON_GetArraySize(want));
        char dir[4096], path[4200], msg[512];
        snprintf(dir, sizeof dir, "%s/%s", CLF_SOURCE_DIR, folder);
        struct clf_sentence_folder *f = NULL;
        ck_assert_msg(clf_sentence_folder_load(dir, &f, msg, sizeof msg) == CLF_OK, "%s", msg);
        struct clf_tokenizer_params p = clf_tokenizer_params_default();
        ck_assert_ok(NULL, clf_sentence_folder_tokenizer_params(f, &p));
        const char *chosen = clf_sentence_folder_tokenizer_file(f);
        ck_assert_ptr_nonnull(chosen);
        const bool mpnet = strstr(folder, "mpnet") != NULL;
        const bool use_txt = strstr(chosen, "vocab.txt") != NULL;
        ck_assert_msg(use_txt == (!mpnet && !strstr(folder, "roberta") &&
                                  !strstr(folder, "modernbert")),
                      "%s", chosen);
        clf_sentence_folder_destroy(f);
        p.max_length = 512;
        for (int file = use_txt ? 0 : 1; file < 2; file++) {
            snprintf(path, sizeof path, "%s/%s", dir, file ? "tokenizer.json" : "vocab.txt");
            struct clf_tokenizer *t = NULL;
            ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, &p, &t));
            size_t total = 0;
            for (int i = 0; i < cJSON_GetArraySize(texts); i++) {
                const char *text = cJSON_GetArrayItem(texts, i)->valuestring;
                const cJSON *w = cJSON_GetArrayItem(want, i);
                size_t n = 0;
                ck_assert_ok(NULL, clf_tokenizer_encode(t, text, ids, 512, &n, NULL));
                ck_assert_msg(n == (size_t)cJSON_GetArraySize(w), "%s, text %d (\"%.40s\"): "
                              "%zu ids, expected %d", path, i, text, n, cJSON_GetArraySize(w));
                for (size_t k = 0; k < n; k++)
                    ck_assert_msg(ids[k] == (int32_t)cJSON_GetArrayItem(w, (int)k)->valuedouble,
                                  "%s, text %d (\"%.40s\"): id %zu is %d", path, i, text, k,
                                  ids[k]);
                total += n;
            }
            printf("trained vocabulary %s (%s): %d texts, %zu ids identical\n", folder,
                   file ? "tokenizer.json" : "vocab.txt", cJSON_GetArraySize(texts), total);
            clf_tokenizer_destroy(t);
        }
    }
    cJSON_Delete(root);
    free(json);
}
END_TEST

/* clf_tokenizer_encode_sentence_len: a NUL byte inside a text (a line of
 * embed --file) is part of it. The ids are Hugging Face's (transformers
 * 4.x AutoTokenizer of each folder, on the stripped text): WordPiece drops
 * U+0000 as a control character ("foo\0bar baz" is "foobar baz"),
 * byte-level BPE keeps it as byte 0's symbol (RoBERTa's id 193, "Ā"). */
START_TEST(test_nul_bytes)
{
    static const struct {
        const char *folder, *file;
        int32_t want[2][12];
        size_t n[2];
    } cases[] = {
        {"roberta-mean", "tokenizer.json",
         {{0, 74, 431, 193, 70, 294, 281, 69, 94, 2}, {0, 193, 92, 225, 93, 193, 2}}, {10, 7}},
        {"bert-cased-cls", "vocab.txt", {{2, 282, 126, 140, 196, 39, 116, 166, 3}, {2, 61, 62, 3}},
         {9, 4}},
        {"bert-cased-cls", "tokenizer.json",
         {{2, 282, 126, 140, 196, 39, 116, 166, 3}, {2, 61, 62, 3}}, {9, 4}},
        {"distilbert-mean", "vocab.txt",
         {{2, 235, 92, 107, 95, 93, 24, 95, 102, 3}, {2, 46, 47, 3}}, {10, 4}},
    };
    static const char text0[] = "foo\0bar baz", text1[] = " \0x y\0\n";
    const struct {
        const char *s;
        size_t len;
    } texts[2] = {{text0, sizeof text0 - 1}, {text1, sizeof text1 - 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dir[4096], path[4200], msg[512];
        snprintf(dir, sizeof dir, "%s/test/models/%s", CLF_SOURCE_DIR, cases[c].folder);
        struct clf_sentence_folder *f = NULL;
        ck_assert_msg(clf_sentence_folder_load(dir, &f, msg, sizeof msg) == CLF_OK, "%s", msg);
        struct clf_tokenizer_params p = clf_tokenizer_params_default();
        ck_assert_ok(NULL, clf_sentence_folder_tokenizer_params(f, &p));
        clf_sentence_folder_destroy(f);
        snprintf(path, sizeof path, "%s/%s", dir, cases[c].file);
        struct clf_tokenizer *t = NULL;
        ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, &p, &t));
        for (int k = 0; k < 2; k++) {
            int32_t ids[32];
            size_t n = 0;
            ck_assert_ok(NULL, clf_tokenizer_encode_sentence_len(t, NULL, texts[k].s,
                                                                 texts[k].len, ids, 32, &n, NULL));
            ck_assert_msg(n == cases[c].n[k] && !memcmp(ids, cases[c].want[k], n * sizeof *ids),
                          "%s (%s), text %d: %zu ids, ids[3] %d", cases[c].folder,
                          cases[c].file, k, n, n > 3 ? ids[3] : -1);
        }
        clf_tokenizer_destroy(t);
    }
}
END_TEST

/* clf_text_strip (internal): Python's str.strip() (sentence-transformers
 * strips each text), over ASCII and Unicode white space, never into a
 * character; clf_tokenizer_encode_sentence: the prompt, then the text,
 * stripped, then tokenised. */
START_TEST(test_strip)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"  \t h\xc3\xa9llo world \xe3\x80\x80\n", "h\xc3\xa9llo world"}, /* U+3000 */
        {"\xc2\xa0x\xe2\x80\x83", "x"},                            /* U+00A0, U+2003 */
        {"\x1c\x1fy\x0b", "y"},
        {"\xe2\x80\x8bz\xe2\x80\x8b", "\xe2\x80\x8bz\xe2\x80\x8b"}, /* U+200B: not space */
        {" \n\r ", ""},
        {"", ""},
        {"kept", "kept"},
        {" \xff bad ", "\xff bad"}, /* invalid UTF-8 kept for the tokenizer to refuse */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 99;
        const char *b = clf_text_strip(cases[i].in, &len);
        ck_assert_msg(len == strlen(cases[i].out) && !memcmp(b, cases[i].out, len),
                      "case %zu: \"%.*s\"", i, (int)len, b);
    }
    size_t len = 7;
    ck_assert_ptr_null(clf_text_strip(NULL, &len));
    ck_assert_uint_eq(len, 0);
    char *path = write_file("vocab.txt", tiny_vocab);
    struct clf_tokenizer *t = NULL;
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, NULL, &t));
    int32_t a[16], b[16];
    size_t na = 0, nb = 0;
    ck_assert_ok(NULL, clf_tokenizer_encode(t, "hello, unaffable", a, 16, &na, NULL));
    ck_assert_ok(NULL, clf_tokenizer_encode_sentence(t, " \thello, ", "unaffable\n ", b, 16, &nb,
                                                     NULL));
    ck_assert_uint_eq(na, nb);
    ck_assert_mem_eq(a, b, na * sizeof *a);
    ck_assert_ok(NULL, clf_tokenizer_encode_sentence(t, NULL, "  hello", b, 16, &nb, NULL));
    ck_assert_uint_eq(nb, 3); /* [CLS] hello [SEP] */
    ck_assert_int_eq(clf_tokenizer_encode_sentence(t, NULL, NULL, b, 16, &nb, NULL),
                     CLF_E_INVALID_ARG);
    clf_tokenizer_destroy(t);
    free(path);
}
END_TEST

/* The model directory, or NULL when vocab.txt is absent there. */
static char *model_vocab(void)
{
    char dir[4000], buf[4096];
    if (clf_default_model_dir(dir, sizeof dir) != CLF_OK)
        return NULL;
    snprintf(buf, sizeof buf, "%s/vocab.txt", dir);
    FILE *f = fopen(buf, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return strdup(buf);
}

static char *vocab_path;

/* An added token with lstrip (RoBERTa's and MPNet's <mask>) absorbs the
 * white space before it as Hugging Face does, Unicode's White_Space (Rust's
 * char::is_whitespace: U+00A0, U+3000, U+2003, U+2028, U+0085, ...), not
 * U+200B (not White_Space); rstrip false keeps what follows. Ids from
 * Hugging Face's fast tokenizers (tokenizers 0.15) on the two folders. */
START_TEST(test_added_token_unicode_space)
{
    static const char *const texts[6] = {"hello\u00a0<mask>", "a\u3000\u2003 <mask>x",
                                          "<mask>\u00a0b", "x\u2028<mask>", "\xc2\x85<mask>",
                                          "y\u200b<mask>"};
    static const struct {
        const char *folder;
        int32_t ids[6][8];
    } want[2] = {
        {"test/models/roberta-mean",
         {{0, 270, 80, 323, 4, 2, -1}, {0, 69, 4, 92, 2, -1}, {0, 4, 131, 259, 70, 2, -1},
          {0, 92, 4, 2, -1}, {0, 4, 2, -1}, {0, 93, 163, 227, 238, 4, 2, -1}}},
        {"test/models/mpnet-mean",
         {{0, 244, 307, 4, 2, -1}, {0, 23, 4, 46, 2, -1}, {0, 4, 24, 2, -1}, {0, 46, 4, 2, -1},
          {0, 4, 2, -1}, {0, 47, 4, 2, -1}}},
    };
    for (int f = 0; f < 2; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s/tokenizer.json", CLF_SOURCE_DIR, want[f].folder);
        struct clf_tokenizer_params p = clf_tokenizer_params_default();
        struct clf_tokenizer *t = NULL;
        ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, &p, &t));
        /* a prompt's leading tokens: <s> and "<mask>" (stripped white space
         * and all), none without one */
        size_t np = 9;
        ck_assert_ok(NULL, clf_tokenizer_prompt_tokens(t, " <mask> ", &np));
        ck_assert_uint_eq(np, 2);
        ck_assert_ok(NULL, clf_tokenizer_prompt_tokens(t, NULL, &np));
        ck_assert_uint_eq(np, 0);
        ck_assert_int_eq(clf_tokenizer_prompt_tokens(t, "x", NULL), CLF_E_INVALID_ARG);
        for (int i = 0; i < 6; i++) {
            int32_t ids[16];
            size_t n = 0;
            ck_assert_ok(NULL, clf_tokenizer_encode(t, texts[i], ids, 16, &n, NULL));
            size_t k = 0;
            while (want[f].ids[i][k] >= 0)
                k++;
            ck_assert_msg(n == k, "%s, text %d: %zu ids, Hugging Face %zu", want[f].folder, i, n,
                          k);
            for (size_t j = 0; j < n; j++)
                ck_assert_msg(ids[j] == want[f].ids[i][j], "%s, text %d: id %zu is %d, HF %d",
                              want[f].folder, i, j, ids[j], want[f].ids[i][j]);
        }
        clf_tokenizer_destroy(t);
    }
}
END_TEST

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    char *s = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)size, f), (size_t)size);
    s[size] = '\0';
    fclose(f);
    return s;
}

/* _i 0: vocab.txt, 1: the same folder's tokenizer.json. */
START_TEST(test_reference)
{
    char tj[4200];
    snprintf(tj, sizeof tj, "%.*s/tokenizer.json", (int)(strlen(vocab_path) - 10), vocab_path);
    const char *path = _i ? tj : vocab_path;
    char *json = read_text(CLF_SOURCE_DIR "/test/reference/minilm-tokens.json");
    cJSON *root = cJSON_Parse(json);
    ck_assert_msg(root != NULL, "minilm-tokens.json does not parse");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    ck_assert(cJSON_IsArray(cases));
    ck_assert_int_ge(cJSON_GetArraySize(cases), 60);

    struct clf_tokenizer *t = NULL;
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, NULL, &t));
    ck_assert_int_eq(clf_tokenizer_token_id(t, "[CLS]"), 101);
    ck_assert_int_eq(clf_tokenizer_token_id(t, "[SEP]"), 102);

    int32_t ids[256];
    size_t count = 0, n_trunc = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "text"));
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
        const cJSON *want_trunc = cJSON_GetObjectItemCaseSensitive(c, "truncated");
        ck_assert(text && cJSON_IsArray(want) && cJSON_IsBool(want_trunc));
        size_t n = 0;
        bool trunc = false;
        ck_assert_ok(NULL, clf_tokenizer_encode(t, text, ids, 256, &n, &trunc));
        size_t n_want = (size_t)cJSON_GetArraySize(want);
        ck_assert_msg(n == n_want, "case %zu (\"%.60s\"): %zu ids, expected %zu", count, text, n,
                      n_want);
        for (size_t i = 0; i < n; i++) {
            int w = (int)cJSON_GetArrayItem(want, (int)i)->valuedouble;
            ck_assert_msg(ids[i] == w, "case %zu (\"%.60s\"): id %zu is %d, expected %d", count,
                          text, i, ids[i], w);
        }
        ck_assert_int_eq(trunc, cJSON_IsTrue(want_trunc));
        n_trunc += trunc;
        count++;
    }
    ck_assert_uint_ge(n_trunc, 1); /* the long text */

    /* Throughput on the truncated long text (the whole text is tokenised
     * before truncation is known to be needed, as HF does). */
    const char *longest = NULL;
    cJSON_ArrayForEach(c, cases)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "truncated")))
            longest = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "text"));
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int reps = 200;
    size_t n = 0;
    for (int r = 0; r < reps; r++)
        ck_assert_ok(NULL, clf_tokenizer_encode(t, longest, ids, 256, &n, NULL));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("reference (%s): %zu cases identical; encode of a %zu-byte text: %.1f us (%.1f MB/s)\n",
           _i ? "tokenizer.json" : "vocab.txt", count, strlen(longest), 1e6 * s / reps, (double)strlen(longest) * reps / s / 1e6);
    clf_tokenizer_destroy(t);
    cJSON_Delete(root);
    free(json);
}
END_TEST

int main(void)
{
    tmpdir = test_make_tmpdir("tokenizer");
    vocab_path = model_vocab();
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("unit");
    tcase_add_test(tc, test_wordpiece);
    tcase_add_test(tc, test_normalisation);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_tokenizer_json);
    tcase_add_test(tc, test_trained_vocabularies);
    tcase_add_test(tc, test_strip);
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_test(tc, test_added_token_unicode_space);
    suite_add_tcase(s, tc);
    if (vocab_path) {
        tc = tcase_create("reference");
        tcase_add_loop_test(tc, test_reference, 0, 2);
        suite_add_tcase(s, tc);
    }
    int rc = test_run_suite(s);
    test_remove_dir(tmpdir);
    free(tmpdir);
    if (rc == 0 && !vocab_path) {
        printf("all-MiniLM-L6-v2 not found (set CLFORMER_MODEL_DIR or run "
               "tools/fetch_model.sh): reference cases skipped\n");
        return TEST_SKIP;
    }
    free(vocab_path);
    return rc;
}
