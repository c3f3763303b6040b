/*
 * Unigram tokenizers from tokenizer.json (lib/model/unigram.c, charsmap.c,
 * unigram_text.c, tokenizer_json_unigram.c) on a hand-made file: a
 * Precompiled charsmap of one rule ("a" -> "b": a darts-clone trie of 256
 * units written here), Replace with a String and with a Regex, Strip, Metaspace
 * with each prepend scheme, byte fallback, fused unknowns, an added token.
 * The expected ids are Hugging Face's: tokenizers 0.15.2's
 * Tokenizer.from_str on the same JSON gave them. Then each malformed or
 * unsupported part of such a file is refused with a message naming the
 * file and the key. The trained XLM-R folder (test/models/xlmr-mean) is
 * checked against its 430 golden texts by test-tokenizer.
 *
 * No OpenCL device is needed: the tokenizer is host code (ctx NULL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/model/tokenizer.h" /* internal: the tokenizer.json reader's messages */

static char *tmpdir;

/* Writes text to tmpdir/name; returns the malloc'd path. */
static char *write_file(const char *name, const char *text)
{
    return test_write_text(tmpdir, name, text);
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                           (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = '\0';
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

/* A charsmap of one key, "a", whose leaf holds pool offset `leaf`, and the
 * pool's pool_len bytes, into out as base64; its size field says `claim`
 * trie bytes (1024 are there). The root's children sit at 0x60 ^ c: "a" at
 * unit 1 (label 0x61, has-leaf, children at 1 ^ 3 = 2), its leaf at unit 2
 * (bit 31: no byte's label); the other 253 units are zero, so that a
 * search for any byte stays inside the array (Hugging Face's does not check
 * bounds). */
static void charsmap(uint32_t claim, uint32_t leaf, const char *pool, size_t pool_len, char *out)
{
    unsigned char blob[4 + 1024 + 16] = {0};
    put32(blob, claim);
    put32(blob + 4, 0x60u << 10);
    put32(blob + 8, 0x61u | 1u << 8 | 3u << 10);
    put32(blob + 12, 1u << 31 | leaf);
    memcpy(blob + 4 + 1024, pool, pool_len);
    base64(blob, 4 + 1024 + pool_len, out);
}

#define VOCAB                                                                                 \
    "[[\"<unk>\", 0], [\"<s>\", 0], [\"</s>\", 0], [\"\xe2\x96\x81\", -2], "                 \
    "[\"\xe2\x96\x81" "b\", -1.5], [\"b\", -3], [\"c\", -3], [\"bc\", -2.5], "               \
    "[\"<0xC3>\", -6], [\"<0xA9>\", -6], [\"d\", -4], [\"\xe2\x96\x81" "bc\", -4]]"
#define METASPACE(aps, scheme)                                                                \
    "{\"type\": \"Metaspace\", \"replacement\": \"\xe2\x96\x81\", \"add_prefix_space\": " aps \
    ", \"prepend_scheme\": \"" scheme "\"}"

/* The tokenizer.json: added tokens <s>, </s> and `added` (", {...}"),
 * normalizer Sequence [Precompiled (map), Replace "cc"
 * -> "c", Replace / {2,}/ -> " "], pre_tokenizer pre, model Unigram
 * (model's keys), <s> $A </s>. */
/* REPLACES: the normalizers after Precompiled that tokenizer_json uses */
#define REPLACES                                                                              \
    "{\"type\": \"Replace\", \"pattern\": {\"String\": \"cc\"}, \"content\": \"c\"}, "          \
    "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" {2,}\"}, \"content\": \" \"}"

static char *tokenizer_json_full(const char *map, const char *rest, const char *pre,
                                 const char *model, const char *added)
{
    static const char fmt[] =
        "{\"added_tokens\": [{\"id\": 1, \"content\": \"<s>\", \"special\": true}, "
        "{\"id\": 2, \"content\": \"</s>\", \"special\": true}%s], "
        "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Precompiled\", "
        "\"precompiled_charsmap\": \"%s\"}, %s]}, \"pre_tokenizer\": %s, "
        "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
        "{\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": "
        "\"</s>\"}}]}, \"model\": {\"type\": \"Unigram\", %s}}";
    size_t n = sizeof fmt + strlen(added) + strlen(map) + strlen(rest) + strlen(pre) +
               strlen(model);
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    snprintf(s, n, fmt, added, map, rest, pre, model);
    return s;
}

static char *tokenizer_json(const char *map, const char *pre, const char *model)
{
    return tokenizer_json_full(map, REPLACES, pre, model, "");
}

/* Writes json to tmpdir/name and loads it (asserting success). */
static struct clf_tokenizer *load_json(const char *name, const char *json)
{
    char *path = write_file(name, json);
    struct clf_tokenizer *t = NULL;
    ck_assert_ok(NULL, clf_tokenizer_load(NULL, path, NULL, &t));
    free(path);
    return t;
}

/* tokenizer_json_full's file with the one-rule charsmap ("a" -> "b"),
 * written to tmpdir/name and loaded (asserting success). */
static struct clf_tokenizer *load_good(const char *name, const char *rest, const char *pre,
                                       const char *model, const char *added)
{
    char map[2048];
    charsmap(1024, 0, "b", 2, map);
    char *json = tokenizer_json_full(map, rest, pre, model, added);
    struct clf_tokenizer *t = load_json(name, json);
    free(json);
    return t;
}

/* text's ids must be want's, which end with </s> (2). */
static void expect_ids(struct clf_tokenizer *t, const char *text, const int32_t *want)
{
    int32_t ids[32];
    size_t n = 0, k = 0;
    ck_assert_ok(NULL, clf_tokenizer_encode(t, text, ids, 32, &n, NULL));
    while (want[k] != 2)
        k++;
    ck_assert_msg(n == k + 1, "\"%s\": %zu ids, expected %zu", text, n, k + 1);
    for (size_t j = 0; j < n; j++)
        ck_assert_msg(ids[j] == want[j], "\"%s\": id %zu is %d, expected %d", text, j, ids[j],
                      want[j]);
}

/* Hugging Face's ids of eight texts under each Metaspace setting. */
START_TEST(test_unigram_ids)
{
    static const char *const texts[8] = {
        "abc", "\xc3\xa9" "bc", "x y", "cccc c", "  b", "b<s>b",
        "a  bc\xc3\xa9\xc3\xa9" "d", "e\xcc\x81xe\xcc\x81"};
    static const struct {
        const char *pre;
        int32_t ids[8][10];
    } cases[] = {
        /* "a" becomes "b" (the charsmap), "é" has no piece: its bytes, "cccc" is
         * "cc" (one pass of "cc" -> "c"), "x" is unknown, "e\u0301xe\u0301" is
         * one fused unknown (no <0x65> for its bytes) */
        {METASPACE("true", "always"),
         {{1, 4, 7, 2}, {1, 3, 8, 9, 7, 2}, {1, 3, 0, 3, 0, 2}, {1, 3, 6, 6, 3, 6, 2},
          {1, 4, 2}, {1, 4, 1, 4, 2}, {1, 4, 11, 8, 9, 8, 9, 10, 2}, {1, 3, 0, 2}}},
        {METASPACE("true", "never"),
         {{1, 5, 7, 2}, {1, 8, 9, 7, 2}, {1, 0, 3, 0, 2}, {1, 6, 6, 3, 6, 2},
          {1, 4, 2}, {1, 5, 1, 5, 2}, {1, 5, 11, 8, 9, 8, 9, 10, 2}, {1, 0, 2}}},
        /* "first": only the segment at the text's start */
        {METASPACE("true", "first"),
         {{1, 4, 7, 2}, {1, 3, 8, 9, 7, 2}, {1, 3, 0, 3, 0, 2}, {1, 3, 6, 6, 3, 6, 2},
          {1, 4, 2}, {1, 4, 1, 5, 2}, {1, 4, 11, 8, 9, 8, 9, 10, 2}, {1, 3, 0, 2}}},
        /* tokenizers 0.15: add_prefix_space false prepends nothing */
        {METASPACE("false", "always"),
         {{1, 5, 7, 2}, {1, 8, 9, 7, 2}, {1, 0, 3, 0, 2}, {1, 6, 6, 3, 6, 2},
          {1, 4, 2}, {1, 5, 1, 5, 2}, {1, 5, 11, 8, 9, 8, 9, 10, 2}, {1, 0, 2}}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct clf_tokenizer *t =
            load_good("tokenizer.json", REPLACES, cases[c].pre,
                      "\"unk_id\": 0, \"byte_fallback\": true, \"vocab\": " VOCAB, "");
        for (int i = 0; i < 8; i++)
            expect_ids(t, texts[i], cases[c].ids[i]);
        clf_tokenizer_destroy(t);
    }
}
END_TEST

/* Without byte_fallback an unknown "é" is <unk> (0), fused with its
 * unknown neighbours: "é" + "x" is one <unk>. Empty texts. */
START_TEST(test_unigram_no_fallback)
{
    struct clf_tokenizer *t = load_good("tokenizer.json", REPLACES, METASPACE("true", "always"),
                                        "\"unk_id\": 0, \"vocab\": " VOCAB, "");
    expect_ids(t, "\xc3\xa9x" "bc", (const int32_t[]){1, 3, 0, 7, 2});
    /* an empty text, and an empty segment before an added token (no
     * normalised text to split: the fuzz harness's first find under UBSan) */
    expect_ids(t, "", (const int32_t[]){1, 2});
    expect_ids(t, "<s>", (const int32_t[]){1, 1, 2});
    clf_tokenizer_destroy(t);
}
END_TEST

/* Viterbi's rules where they decide (Hugging Face's ids again): a tie
 * keeps the first offer ("\u2581b" -1 against "\u2581" -0.5 + "b" -0.5);
 * an unknown character costs the lowest score (-30) minus 10, so "qw" -25
 * beats unknown "q" + "w" +8 (-32 against -25; with a penalty of 1 it
 * would not); a "normalized" added token is found in the normalised text
 * ("<a>" becomes "<b>"). */
START_TEST(test_unigram_scores)
{
    struct clf_tokenizer *t = load_good(
        "scores.json", REPLACES, METASPACE("true", "always"),
        "\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"<s>\", 0], [\"</s>\", 0], "
        "[\"\xe2\x96\x81\", -0.5], [\"\xe2\x96\x81" "b\", -1], [\"b\", -0.5], [\"qw\", -25], "
        "[\"w\", 8], [\"z\", -30], [\"<b>\", 0]]",
        ", {\"id\": 9, \"content\": \"<b>\", \"normalized\": true, \"special\": true}");
    static const struct {
        const char *text;
        int32_t ids[8];
    } cases[] = {
        {"b", {1, 4, 2}},         {"qw", {1, 3, 6, 2}}, {"q w", {1, 3, 0, 3, 7, 2}},
        {"x<a>b", {1, 3, 0, 9, 4, 2}}, {"<b>", {1, 9, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_ids(t, cases[c].text, cases[c].ids);
    clf_tokenizer_destroy(t);
}
END_TEST

/* Strip (as newer transformers write it before a Replace of space runs by
 * "\u2581"): right only, then both ends; Hugging Face's ids. U+3000 is white
 * space to Strip (this charsmap leaves it, and it has no piece). */
START_TEST(test_unigram_strip)
{
    static const char *const texts[4] = {" b ", "b   b", "\xe3\x80\x80 b", "b  <s>  b  "};
    static const struct {
        const char *strip;
        int32_t ids[4][8];
    } cases[] = {
        {"{\"type\": \"Strip\", \"strip_left\": false, \"strip_right\": true}",
         {{1, 4, 2}, {1, 4, 4, 2}, {1, 3, 0, 4, 2}, {1, 4, 1, 4, 2}}},
        {"{\"type\": \"Strip\", \"strip_left\": true, \"strip_right\": true}",
         {{1, 4, 2}, {1, 4, 4, 2}, {1, 4, 2}, {1, 4, 1, 4, 2}}},
    };
    char rest[512];
    for (size_t c = 0; c < 2; c++) {
        snprintf(rest, sizeof rest, "%s, {\"type\": \"Replace\", \"pattern\": {\"Regex\": "
                 "\" {2,}\"}, \"content\": \"\xe2\x96\x81\"}", cases[c].strip);
        struct clf_tokenizer *t = load_good("strip.json", rest, METASPACE("true", "always"),
                                            "\"unk_id\": 0, \"vocab\": " VOCAB, "");
        for (int i = 0; i < 4; i++)
            expect_ids(t, texts[i], cases[c].ids[i]);
        clf_tokenizer_destroy(t);
    }
}
END_TEST

/* Replace's other regex forms: "c+" (a run of one or more), an escaped
 * character's run ("\.+", dots) and a run of a two-byte character
 * ("\u00e9+" becomes "d"). These ids are worked out by hand from the scores
 * (no Hugging Face run): "bcccc" is "\u2581bc" (-4 against -4.5 for
 * "\u2581b" + "c" or "\u2581" + "bc"); "b...c" is "\u2581b", "\u2581", "c";
 * "b\u00e9\u00e9c" is "\u2581b", "d", "c". */
START_TEST(test_unigram_regex_forms)
{
    struct clf_tokenizer *t = load_good(
        "regex.json",
        "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"c+\"}, \"content\": \"c\"}, "
        "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\.+\"}, \"content\": \" \"}, "
        "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\xc3\xa9+\"}, \"content\": \"d\"}",
        METASPACE("true", "always"), "\"unk_id\": 0, \"vocab\": " VOCAB, "");
    expect_ids(t, "bcccc", (const int32_t[]){1, 11, 2});
    expect_ids(t, "b...c", (const int32_t[]){1, 4, 3, 6, 2});
    expect_ids(t, "b\xc3\xa9\xc3\xa9" "c", (const int32_t[]){1, 4, 10, 6, 2});
    clf_tokenizer_destroy(t);
}
END_TEST

/* Each malformed or unsupported part: the status, and a message naming the
 * file and the key. */
START_TEST(test_unigram_errors)
{
    char good[2048], map[2048];
    charsmap(1024, 0, "b", 2, good);
    const char *const ms = METASPACE("true", "always");
    const char *const model = "\"unk_id\": 0, \"vocab\": " VOCAB;
    static const struct {
        const char *what;
        uint32_t claim, leaf;
        const char *pool;
        size_t pool_len;
        const char *pre, *model, *words;
        enum clf_status st;
    } bad[] = {
        {"scores not numbers", 1024, 0, "b", 2, NULL,
         "\"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], [\"a\", \"-1\"]]", "\"vocab\" entry 1",
         CLF_E_FORMAT},
        {"an entry not a pair", 1024, 0, "b", 2, NULL, "\"unk_id\": 0, \"vocab\": [\"<unk>\"]",
         "\"vocab\" entry 0", CLF_E_FORMAT},
        {"unk_id out of range", 1024, 0, "b", 2, NULL,
         "\"unk_id\": 12, \"vocab\": " VOCAB, "\"unk_id\" must be an id in [0, 12)",
         CLF_E_FORMAT},
        {"unk_id negative", 1024, 0, "b", 2, NULL, "\"unk_id\": -1, \"vocab\": " VOCAB,
         "\"unk_id\"", CLF_E_FORMAT},
        {"no unk_id", 1024, 0, "b", 2, NULL, "\"unk_id\": null, \"vocab\": " VOCAB,
         "without \"unk_id\"", CLF_E_UNSUPPORTED},
        {"an empty vocabulary", 1024, 0, "b", 2, NULL, "\"unk_id\": 0, \"vocab\": []",
         "non-empty", CLF_E_FORMAT},
        {"byte_fallback not boolean", 1024, 0, "b", 2, NULL,
         "\"unk_id\": 0, \"byte_fallback\": 1, \"vocab\": " VOCAB, "\"byte_fallback\"",
         CLF_E_FORMAT},
        {"a truncated trie", 2048, 0, "b", 2, NULL, NULL,
         "\"precompiled_charsmap\": its trie size says 2048 bytes", CLF_E_FORMAT},
        {"a trie size not whole units", 1022, 0, "b", 2, NULL, NULL,
         "\"precompiled_charsmap\": its trie size says 1022", CLF_E_FORMAT},
        {"a leaf past the pool", 1024, 100, "b", 2, NULL, NULL,
         "\"precompiled_charsmap\": a trie leaf points outside", CLF_E_FORMAT},
        {"a leaf inside a character", 1024, 1, "\xc3\xa9", 3, NULL, NULL,
         "\"precompiled_charsmap\": a trie leaf points outside", CLF_E_FORMAT},
        {"a pool not UTF-8", 1024, 0, "\xff", 2, NULL, NULL,
         "\"precompiled_charsmap\": its replacements are not UTF-8", CLF_E_FORMAT},
        {"not base64", 0, 0, NULL, 0, NULL, NULL, "\"precompiled_charsmap\" is not base64",
         CLF_E_FORMAT},
        {"a pre-tokenizer other than Metaspace", 1024, 0, "b", 2,
         "{\"type\": \"ByteLevel\"}", NULL, "pre_tokenizer \"ByteLevel\"", CLF_E_UNSUPPORTED},
        {"no pre-tokenizer", 1024, 0, "b", 2, "null", NULL, "pre_tokenizer \"none\"",
         CLF_E_UNSUPPORTED},
        {"a replacement of two characters", 1024, 0, "b", 2,
         "{\"type\": \"Metaspace\", \"replacement\": \"ab\"}", NULL,
         "\"replacement\" must be one character", CLF_E_FORMAT},
        {"an unknown prepend scheme", 1024, 0, "b", 2,
         "{\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"twice\"}",
         NULL, "\"prepend_scheme\" \"twice\"", CLF_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (bad[i].pool)
            charsmap(bad[i].claim, bad[i].leaf, bad[i].pool, bad[i].pool_len, map);
        else
            strcpy(map, "AAAA@@@@");
        char *json = tokenizer_json(map, bad[i].pre ? bad[i].pre : ms,
                                    bad[i].model ? bad[i].model : model);
        char name[32];
        snprintf(name, sizeof name, "bad%zu.json", i);
        char *path = write_file(name, json);
        struct clf_tokenizer *t = NULL;
        ck_assert_status_msg(bad[i].what, clf_tokenizer_load(NULL, path, NULL, &t), bad[i].st);
        ck_assert_ptr_null(t);
        char msg[512];
        struct clf_msg m = clf_msg_init(msg, sizeof msg);
        struct clf_tok_vocab v;
        ck_assert_int_eq(clf_tok_vocab_read_json(&m, path, &v), bad[i].st);
        ck_assert_msg(strstr(msg, bad[i].words) && strstr(msg, name),
                      "%s: \"%s\" lacks \"%s\" or the file", bad[i].what, msg, bad[i].words);
        free(path);
        free(json);
    }
    /* normalizers: one not implemented (in a Sequence too), a regex beyond
     * literals and runs of one character */
    static const struct {
        const char *norm, *words;
        enum clf_status st;
    } norms[] = {
        {"{\"type\": \"NFKC\"}", "normalizer \"NFKC\"", CLF_E_UNSUPPORTED},
        {"{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Lowercase\"}]}",
         "normalizer \"Lowercase\"", CLF_E_UNSUPPORTED},
        {"{\"type\": \"Sequence\"}", "no \"normalizers\" array", CLF_E_FORMAT},
        {"{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \" \"}",
         "regex \"\\s+\"", CLF_E_UNSUPPORTED},
        {"{\"type\": \"Replace\", \"pattern\": {\"Regex\": \".{2,}\"}, \"content\": \" \"}",
         "regex \".{2,}\"", CLF_E_UNSUPPORTED},
        {"{\"type\": \"Replace\", \"pattern\": {\"String\": \"\"}, \"content\": \" \"}",
         "an empty pattern", CLF_E_FORMAT},
        {"{\"type\": \"Replace\", \"content\": \" \"}", "needs a \"pattern\"", CLF_E_FORMAT},
        {"{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"\xff\"}",
         "must be UTF-8", CLF_E_FORMAT},
        {"{\"type\": \"Precompiled\"}", "no \"precompiled_charsmap\"", CLF_E_FORMAT},
        {"{\"type\": \"Strip\", \"strip_right\": 1}", "\"strip_right\"", CLF_E_FORMAT},
    };
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
        char json[4096];
        snprintf(json, sizeof json,
                 "{\"normalizer\": %s, \"pre_tokenizer\": %s, \"post_processor\": {\"type\": "
                 "\"RobertaProcessing\", \"cls\": [\"<s>\", 1], \"sep\": [\"</s>\", 2]}, "
                 "\"model\": {\"type\": \"Unigram\", %s}}", norms[i].norm, ms, model);
        char *path = write_file("norm.json", json);
        char msg[512];
        struct clf_msg m = clf_msg_init(msg, sizeof msg);
        struct clf_tok_vocab v;
        ck_assert_int_eq(clf_tok_vocab_read_json(&m, path, &v), norms[i].st);
        ck_assert_msg(strstr(msg, norms[i].words) && strstr(msg, "norm.json"),
                      "\"%s\" lacks \"%s\" or the file", msg, norms[i].words);
        free(path);
    }
    /* the good charsmap with RobertaProcessing, no normalizer Sequence: loads */
    char json[4096];
    snprintf(json, sizeof json,
             "{\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"%s\"}, "
             "\"pre_tokenizer\": %s, \"post_processor\": {\"type\": \"RobertaProcessing\", "
             "\"cls\": [\"<s>\", 1], \"sep\": [\"</s>\", 2]}, \"model\": {\"type\": \"Unigram\", "
             "%s}}", good, ms, model);
    struct clf_tokenizer *t = load_json("good.json", json);
    expect_ids(t, "a", (const int32_t[]){1, 4, 2}); /* "\u2581b" */
    clf_tokenizer_destroy(t);
}
END_TEST

int main(void)
{
    tmpdir = test_make_tmpdir("unigram");
    Suite *s = suite_create("unigram");
    TCase *tc = tcase_create("unit");
    tcase_add_test(tc, test_unigram_ids);
    tcase_add_test(tc, test_unigram_no_fallback);
    tcase_add_test(tc, test_unigram_scores);
    tcase_add_test(tc, test_unigram_strip);
    tcase_add_test(tc, test_unigram_regex_forms);
    tcase_add_test(tc, test_unigram_errors);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    test_remove_dir(tmpdir);
    free(tmpdir);
    return rc;
}
