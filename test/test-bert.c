/*
 * The BERT model (lib/model/bert.c): clf_bert_load, clf_bert_forward and
 * sentence embeddings (clf_op_mean_pool_normalize) of all-MiniLM-L6-v2.
 *
 * Model-free cases run always, on tiny models written here: loading with
 * and without the "bert." prefix, a forward that runs, and the load errors
 * (missing directory, broken config.json, unsupported activation, a missing
 * tensor, a wrong shape, extra layers).
 *
 * The model cases need the model directory: $CLFORMER_MODEL_DIR, else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2
 * (tools/fetch_model.sh puts it there). Without it they are left out and
 * the suite exits 77 (skipped) once the model-free cases have passed.
 *   - the configuration read from config.json;
 *   - embeddings of the texts of test/reference/minilm-embeddings.json
 *     (sentence-transformers' output, fp32 PyTorch) with ids from
 *     clf_tokenizer_*, each text alone: max abs error <= 1e-4 and cosine
 *     >= 0.9999. Why 1e-4: both sides are fp32 with different summation
 *     orders through 6 layers (each LayerNorm divides by a row's standard
 *     deviation, amplifying absolute differences); measured here 3.7e-7
 *     on PoCL (printed), so 1e-4 leaves room for other devices' GEMM and exp/erf
 *     accuracy while still catching any wrong weight or layout (those give
 *     errors of 1e-2 and more);
 *   - all texts as one batch padded to the longest, with the mask: the same
 *     embeddings as one by one within 1e-5 (padded keys get exactly zero
 *     attention weight, so only summation orders that depend on the batch
 *     shape differ: a few fp32 ulps of entries of size ~0.05);
 *   - the same batch with the encoder tensor-parallel over two PoCL
 *     devices (clf_bert_embeddings, clf_encoder_tp_create_from), and
 *     loaded split (clf_bert_load_tp: no device holds the whole model);
 *   - data parallel over two PoCL devices (clf_dp_embed): batches of two
 *     texts dealt over the devices, one device's bits.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* symlink */

#include <cjson/cJSON.h>

#include "common.h"
#include "../lib/model/bert_config.h" /* internal: clf_mpnet_bucket */

#ifndef CLF_SOURCE_DIR
#define CLF_SOURCE_DIR "."
#endif

#define D 384

/* The model directory (static buffer), or NULL when it has no config.json. */
static const char *model_dir(void)
{
    static char dir[4096];
    if (clf_default_model_dir(dir, sizeof dir) != CLF_OK)
        return NULL;
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    FILE *f = fopen(cfg, "r");
    if (!f)
        return NULL;
    fclose(f);
    return dir;
}

/* ------------------------------------------------------------------------ */
/* Tiny models (no download needed)                                         */
/* ------------------------------------------------------------------------ */

/* Sizes of the tiny model: d 8, 2 heads, d_ff 16, 1 layer, 10 words, 6
 * positions, 2 token types. */
enum { TD = 8, TF = 16, TV = 10, TP = 6 };

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static const char *tiny_config =
    "{\"hidden_size\": 8, \"num_attention_heads\": 2, \"intermediate_size\": 16,"
    " \"num_hidden_layers\": 1, \"vocab_size\": 10, \"max_position_embeddings\": 6,"
    " \"type_vocab_size\": 2, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-12}";

/* Writes dir/model.safetensors with a tiny BERT's tensors under prefix;
 * `skip` (may be NULL) is left out, `wrong` (may be NULL) gets one row
 * too many; with extra_layer, encoder.layer.1.* also appear. */
static void write_tiny(const char *dir, const char *prefix, const char *skip, const char *wrong,
                       bool extra_layer)
{
    static const struct {
        const char *name;
        int64_t rows, cols;
    } t[] = {
        {"embeddings.word_embeddings.weight", TV, TD},
        {"embeddings.position_embeddings.weight", TP, TD},
        {"embeddings.token_type_embeddings.weight", 2, TD},
        {"embeddings.LayerNorm.weight", TD, 0},
        {"embeddings.LayerNorm.bias", TD, 0},
        {"encoder.layer.L.attention.self.query.weight", TD, TD},
        {"encoder.layer.L.attention.self.query.bias", TD, 0},
        {"encoder.layer.L.attention.self.key.weight", TD, TD},
        {"encoder.layer.L.attention.self.key.bias", TD, 0},
        {"encoder.layer.L.attention.self.value.weight", TD, TD},
        {"encoder.layer.L.attention.self.value.bias", TD, 0},
        {"encoder.layer.L.attention.output.dense.weight", TD, TD},
        {"encoder.layer.L.attention.output.dense.bias", TD, 0},
        {"encoder.layer.L.attention.output.LayerNorm.weight", TD, 0},
        {"encoder.layer.L.attention.output.LayerNorm.bias", TD, 0},
        {"encoder.layer.L.intermediate.dense.weight", TF, TD},
        {"encoder.layer.L.intermediate.dense.bias", TF, 0},
        {"encoder.layer.L.output.dense.weight", TD, TF},
        {"encoder.layer.L.output.dense.bias", TD, 0},
        {"encoder.layer.L.output.LayerNorm.weight", TD, 0},
        {"encoder.layer.L.output.LayerNorm.bias", TD, 0},
    };
    const size_t nt = sizeof t / sizeof t[0];
    struct clf_safetensors_entry e[2 * sizeof t / sizeof t[0]];
    char names[2 * sizeof t / sizeof t[0]][128];
    int64_t shapes[2 * sizeof t / sizeof t[0]][2];
    float *data = malloc((size_t)(TV + 1) * TF * sizeof *data);
    test_fill_uniform(data, (size_t)(TV + 1) * TF, -0.5, 0.5);
    size_t n = 0;
    for (int layer = 0; layer < (extra_layer ? 2 : 1); layer++) {
        for (size_t i = 0; i < nt; i++) {
            if (layer && strncmp(t[i].name, "encoder.", 8))
                continue;
            char base[120];
            snprintf(base, sizeof base, "%s", t[i].name);
            char *l = strstr(base, ".L.");
            if (l)
                l[1] = (char)('0' + layer);
            if (skip && !strcmp(base, skip))
                continue;
            snprintf(names[n], sizeof names[n], "%s%s", prefix, base);
            shapes[n][0] = t[i].rows + (wrong && !strcmp(base, wrong));
            shapes[n][1] = t[i].cols;
            e[n].name = names[n];
            e[n].data = data;
            e[n].ndim = t[i].cols ? 2 : 1;
            e[n].shape = shapes[n];
            n++;
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    test_write_safetensors(path, e, n);
    free(data);
}

/* Loads the tiny model of dir (expecting `want`), and when it loads, runs
 * it on a padded batch and checks the pooled rows are unit vectors. */
static void load_tiny(const char *dir, enum clf_status want, const char *message_part)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_bert *b = (struct clf_bert *)&b; /* must be cleared on failure */
    ck_assert_status(ctx, clf_bert_load(ctx, dir, NULL, &b), want);
    if (message_part)
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), message_part), "'%s' does not name '%s'",
                      clf_ctx_last_error(ctx), message_part);
    if (want != CLF_OK) {
        ck_assert_ptr_null(b);
        return;
    }
    struct clf_encoder_config c = clf_bert_config(b);
    ck_assert_int_eq(c.d_model, TD);
    ck_assert_int_eq(c.heads, 2);
    ck_assert_int_eq(c.d_ff, TF);
    ck_assert_int_eq(c.layers, 1);
    const int64_t is[2] = {2, 5};
    const int32_t ids[10] = {1, 2, 3, 4, 5, 9, 8, 0, 0, 0}, mask[10] = {1, 1, 1, 1, 1,
                                                                         1, 1, 0, 0, 0};
    struct clf_tensor *ti = NULL, *tm = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, is, &ti));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, is, &tm));
    ck_assert_ok(ctx, clf_tensor_write(ti, ids, sizeof ids));
    ck_assert_ok(ctx, clf_tensor_write(tm, mask, sizeof mask));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_bert_forward(b, g, ti, tm, &h));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, h, tm, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float out[2 * TD];
    ck_assert_ok(ctx, clf_tensor_read(y, out, sizeof out));
    for (int r = 0; r < 2; r++) {
        double s = 0;
        for (int j = 0; j < TD; j++)
            s += (double)out[r * TD + j] * out[r * TD + j];
        ck_assert_msg(fabs(s - 1) < 1e-5, "row %d: squared norm %g", r, s);
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    clf_bert_destroy(b);
}

START_TEST(test_tiny_load)
{
    char *dir = test_make_tmpdir("bert-tiny");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_file(cfg, tiny_config);
    write_tiny(dir, "", NULL, NULL, false);
    load_tiny(dir, CLF_OK, NULL);
    write_tiny(dir, "bert.", NULL, NULL, false); /* BertForXxx checkpoints' names */
    load_tiny(dir, CLF_OK, NULL);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(test_load_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_bert *b = NULL;
    char *dir = test_make_tmpdir("bert-errors");
    char cfg[512], missing[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(missing, sizeof missing, "%s/no-such-model", dir);
    ck_assert_status(ctx, clf_bert_load(ctx, missing, NULL, &b), CLF_E_IO);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "no-such-model/config.json"));
    ck_assert_status(ctx, clf_bert_load(ctx, NULL, NULL, &b), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_load(ctx, dir, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_load(NULL, dir, NULL, &b), CLF_E_INVALID_ARG);

    /* config.json: not JSON, a key missing, an unsupported activation */
    write_tiny(dir, "", NULL, NULL, false);
    write_file(cfg, "{\"hidden_size\": 8,");
    load_tiny(dir, CLF_E_FORMAT, "config.json");
    write_file(cfg, "{\"num_attention_heads\": 2, \"intermediate_size\": 16, "
                    "\"num_hidden_layers\": 1, \"vocab_size\": 10}");
    load_tiny(dir, CLF_E_FORMAT, "hidden_size");
    write_file(cfg, "{\"hidden_size\": 8, \"num_attention_heads\": 2, \"intermediate_size\": 16, "
                    "\"num_hidden_layers\": 1, \"vocab_size\": 10, \"hidden_act\": \"swish\"}");
    load_tiny(dir, CLF_E_UNSUPPORTED, "swish");
    write_file(cfg, "{\"hidden_size\": 8, \"num_attention_heads\": 3, \"intermediate_size\": 16, "
                    "\"num_hidden_layers\": 1, \"vocab_size\": 10}");
    load_tiny(dir, CLF_E_INVALID_ARG, "heads"); /* 3 does not divide 8 */

    /* model.safetensors: absent, a tensor missing, a wrong shape, extra layers */
    write_file(cfg, tiny_config);
    char st[512];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    remove(st);
    load_tiny(dir, CLF_E_IO, "model.safetensors");
    write_tiny(dir, "", "encoder.layer.0.attention.self.key.bias", NULL, false);
    load_tiny(dir, CLF_E_FORMAT, "encoder.layer.0.attention.self.key.bias");
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "model.safetensors"));
    write_tiny(dir, "bert.", "embeddings.LayerNorm.weight", NULL, false);
    load_tiny(dir, CLF_E_FORMAT, "embeddings.LayerNorm.weight");
    write_tiny(dir, "", NULL, "encoder.layer.0.intermediate.dense.weight", false);
    load_tiny(dir, CLF_E_SHAPE, "encoder.layer.0.intermediate.dense.weight");
    write_tiny(dir, "", NULL, "embeddings.position_embeddings.weight", false);
    load_tiny(dir, CLF_E_SHAPE, "embeddings.position_embeddings.weight");
    write_tiny(dir, "", NULL, NULL, true);
    load_tiny(dir, CLF_E_SHAPE, "more layers");
    test_remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(test_forward_errors)
{
    struct clf_ctx *ctx = test_ctx();
    char *dir = test_make_tmpdir("bert-fwd");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_file(cfg, tiny_config);
    write_tiny(dir, "", NULL, NULL, false);
    struct clf_bert *b = NULL;
    ck_assert_ok(ctx, clf_bert_load(ctx, dir, NULL, &b));
    const int64_t ok[2] = {2, 3}, other[2] = {2, 4}, too_long[2] = {1, TP + 1};
    struct clf_tensor *ids = NULL, *mask = NULL, *idsf = NULL, *idl = NULL, *h = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, ok, &ids));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, other, &mask));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, ok, &idsf));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, too_long, &idl));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_bert_forward(NULL, g, ids, NULL, &h), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_forward(b, NULL, ids, NULL, &h), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_forward(b, g, NULL, NULL, &h), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_forward(b, g, ids, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_bert_forward(b, g, idsf, NULL, &h), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_bert_forward(b, g, ids, mask, &h), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_bert_forward(b, g, idl, NULL, &h), CLF_E_SHAPE);
    ck_assert_ptr_null(h);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    /* an id outside the vocabulary fails the run, naming it */
    const int32_t bad[6] = {1, 2, TV, 0, 0, 0};
    ck_assert_ok(ctx, clf_tensor_write(ids, bad, sizeof bad));
    ck_assert_ok(ctx, clf_bert_forward(b, g, ids, NULL, &h));
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "id 10"));
    ck_assert_ptr_null(clf_bert_encoder(NULL));
    ck_assert_ptr_nonnull(clf_bert_encoder(b));
    clf_bert_destroy(NULL);
    clf_graph_destroy(g);
    clf_tensor_destroy(ids);
    clf_tensor_destroy(mask);
    clf_tensor_destroy(idsf);
    clf_tensor_destroy(idl);
    clf_bert_destroy(b);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* all-MiniLM-L6-v2                                                         */
/* ------------------------------------------------------------------------ */

static struct clf_bert *model;
static struct clf_tokenizer *tokenizer;

static void model_setup(void)
{
    struct clf_ctx *ctx = test_ctx();
    const char *dir = model_dir();
    char vocab[4200];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    ck_assert_ok(ctx, clf_bert_load(ctx, dir, NULL, &model));
    ck_assert_ok(ctx, clf_tokenizer_load(ctx, vocab, NULL, &tokenizer));
}

static void model_teardown(void)
{
    clf_bert_destroy(model);
    clf_tokenizer_destroy(tokenizer);
    model = NULL;
    tokenizer = NULL;
}

START_TEST(test_config)
{
    model_setup();
    struct clf_encoder_config c = clf_bert_config(model);
    ck_assert_int_eq(c.d_model, 384);
    ck_assert_int_eq(c.heads, 12);
    ck_assert_int_eq(c.d_ff, 1536);
    ck_assert_int_eq(c.layers, 6);
    ck_assert_int_eq(c.act, CLF_ACT_GELU);
    ck_assert(c.eps == 1e-12f);
    ck_assert(!c.norm_first);
    model_teardown();
}
END_TEST


/* A group of every device (the tensor-parallel refusals). */
static struct clf_group *all_devices(void)
{
    char msg[1024];
    struct clf_group *grp = NULL;
    ck_assert_msg(clf_group_create("all", NULL, &grp, msg, sizeof msg) == CLF_OK, "%s", msg);
    return grp;
}

/* Tensor parallelism split from b's loaded encoder is refused, naming why. */
static void tp_from_refused(struct clf_group *grp, struct clf_bert *b, const char *why)
{
    struct clf_ctx *g0 = clf_group_ctx(grp, 0);
    struct clf_encoder_tp *etp = (struct clf_encoder_tp *)g0;
    ck_assert_status(g0, clf_encoder_tp_create_from(grp, clf_bert_encoder(b), &etp),
                     CLF_E_UNSUPPORTED);
    ck_assert_msg(strstr(clf_ctx_last_error(g0), why), "%s", clf_ctx_last_error(g0));
    ck_assert_ptr_null(etp);
}

/* MPNet: its relative position buckets against torch's for |rel| < 1024
 * (test/reference/tiny-models.json, tools/make_tiny_models.py); its
 * configuration's bucket count; a quantised K/V cache refused at the
 * forward pass, since the bias needs exact f32 attention. The vectors
 * themselves: test/folders.py against sentence-transformers. */
START_TEST(test_mpnet)
{
    cJSON *root = test_read_json(CLF_SOURCE_DIR "/test/reference/tiny-models.json");
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(root, "mpnet_buckets");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(mb, "first");
    const cJSON *buckets = cJSON_GetObjectItemCaseSensitive(mb, "buckets");
    ck_assert(cJSON_IsNumber(first) && cJSON_GetArraySize(buckets) == 2047);
    int64_t rel = (int64_t)first->valuedouble;
    const cJSON *e;
    cJSON_ArrayForEach(e, buckets)
    {
        ck_assert_msg(clf_mpnet_bucket(rel) == (int)e->valuedouble,
                      "relative position %lld: bucket %d, torch's %d", (long long)rel,
                      clf_mpnet_bucket(rel), (int)e->valuedouble);
        rel++;
    }
    cJSON_Delete(root);

    struct clf_ctx *ctx = test_ctx();
    struct clf_bert *b = NULL;
    char *dir = test_make_tmpdir("mpnet");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_file(cfg, "{\"model_type\": \"mpnet\", \"hidden_size\": 8, \"num_attention_heads\": 2, "
                    "\"intermediate_size\": 16, \"num_hidden_layers\": 1, \"vocab_size\": 10, "
                    "\"relative_attention_num_buckets\": 16}");
    ck_assert_status(ctx, clf_bert_load(ctx, dir, NULL, &b), CLF_E_FORMAT);
    ck_assert(strstr(clf_ctx_last_error(ctx), "relative_attention_num_buckets"));
    test_remove_dir(dir);
    free(dir);

    struct clf_encoder_config o = clf_encoder_config_default();
    o.kv = CLF_KV_INT8_TOKEN;
    ck_assert_ok(ctx, clf_bert_load(ctx, CLF_SOURCE_DIR "/test/models/mpnet-mean", &o, &b));
    const int64_t is[2] = {1, 3};
    const int32_t ids[3] = {0, 5, 2};
    struct clf_tensor *ti = NULL, *h = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, is, &ti));
    ck_assert_ok(ctx, clf_tensor_write(ti, ids, sizeof ids));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_bert_forward(b, g, ti, NULL, &h), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(ctx), "relative position bias"));
    clf_graph_destroy(g);
    clf_tensor_destroy(ti);
    clf_bert_destroy(b);

    /* tensor parallelism from a loaded MPNet would drop its bias: refused */
    ck_assert_ok(ctx, clf_bert_load(ctx, CLF_SOURCE_DIR "/test/models/mpnet-mean", NULL, &b));
    struct clf_group *grp = all_devices();
    tp_from_refused(grp, b, "MPNet");
    clf_group_destroy(grp);
    clf_bert_destroy(b);
}
END_TEST

/* A copy of test/models/modernbert-mean's config.json with `edit` (a
 * JSON member, e.g. "\"norm_bias\": true") added after its "{" in a new
 * directory, beside a link to its weights; returns the directory. */
static char *modern_variant(const char *edit)
{
    const char *src = CLF_SOURCE_DIR "/test/models/modernbert-mean";
    char path[4200], *dir = test_make_tmpdir("modernbert");
    snprintf(path, sizeof path, "%s/config.json", src);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *brace = strchr(text, '{');
    ck_assert_ptr_nonnull(brace);
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{%s,%s", edit, brace + 1);
    fclose(f);
    char target[4200];
    snprintf(target, sizeof target, "%s/model.safetensors", src);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(symlink(target, path), 0);
    return dir;
}

/* ModernBERT (test/models/modernbert-mean): what it does not support is
 * refused by name: biases, rope_scaling, bad thetas, sizes its tensors do
 * not have, approximate or quantised attention and the FFN forms of the
 * options, saving its encoder, tensor parallelism. Its vectors: test/
 * folders.py against sentence-transformers. */
START_TEST(test_modernbert)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_bert *b = NULL;
    static const struct {
        const char *edit;
        enum clf_status want;
        const char *word;
    } cases[] = {
        {"\"norm_bias\": true", CLF_E_UNSUPPORTED, "norm_bias"},
        {"\"attention_bias\": true", CLF_E_UNSUPPORTED, "attention_bias"},
        {"\"mlp_bias\": true", CLF_E_UNSUPPORTED, "mlp_bias"},
        {"\"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2}", CLF_E_UNSUPPORTED,
         "rope_scaling"},
        {"\"global_rope_theta\": -1", CLF_E_FORMAT, "global_rope_theta"},
        {"\"local_rope_theta\": \"x\"", CLF_E_FORMAT, "local_rope_theta"},
        {"\"global_attn_every_n_layers\": 0", CLF_E_FORMAT, "global_attn_every_n_layers"},
        {"\"norm_eps\": 0", CLF_E_FORMAT, "norm_eps"},
        {"\"hidden_activation\": \"silu\"", CLF_E_UNSUPPORTED, "silu"},
        {"\"intermediate_size\": 40", CLF_E_SHAPE, "mlp.Wi.weight"},
        {"\"num_hidden_layers\": 2", CLF_E_SHAPE, "more layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = modern_variant(cases[i].edit);
        ck_assert_status(ctx, clf_bert_load(ctx, dir, NULL, &b), cases[i].want);
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), cases[i].word), "%s: \"%s\"",
                      cases[i].edit, clf_ctx_last_error(ctx));
        test_remove_dir(dir);
        free(dir);
    }
    /* null local_rope_theta: the global one, accepted */
    char *dir = modern_variant("\"local_rope_theta\": null");
    ck_assert_ok(ctx, clf_bert_load(ctx, dir, NULL, &b));
    clf_bert_destroy(b);
    test_remove_dir(dir);
    free(dir);

    const char *folder = CLF_SOURCE_DIR "/test/models/modernbert-mean";
    static const char *const words[] = {"approximate", "quantised", "quantised", "int8",
                                        "factored"};
    for (int k = 0; k < 5; k++) {
        struct clf_encoder_config o = clf_encoder_config_default();
        if (k == 0)
            o.attn.sparsity = CLF_ATTN_TOPK, o.attn.topk = 4;
        else if (k == 1)
            o.kv = CLF_KV_INT8_TOKEN;
        else if (k == 2)
            o.attn_p = CLF_P_F16;
        else if (k == 3)
            o.linear_int8 = true;
        else
            o.ffn.format = CLF_FFN_SVD, o.ffn.rank = 4;
        b = (struct clf_bert *)ctx;
        ck_assert_status(ctx, clf_bert_load(ctx, folder, &o, &b), CLF_E_UNSUPPORTED);
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(clf_ctx_last_error(ctx), words[k]), "%s",
                      clf_ctx_last_error(ctx));
    }
    ck_assert_ok(ctx, clf_bert_load(ctx, folder, NULL, &b));
    struct clf_encoder_config c = clf_bert_config(b);
    ck_assert(c.norm_first);
    ck_assert_int_eq(c.d_ff, 48);
    char *tmp = test_make_tmpdir("modernbert-save"), path[4200];
    snprintf(path, sizeof path, "%s/enc.safetensors", tmp);
    ck_assert_status(ctx, clf_encoder_save(clf_bert_encoder(b), path), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(ctx), "ModernBERT"));
    test_remove_dir(tmp);
    free(tmp);

    struct clf_group *grp = all_devices();
    struct clf_ctx *g0 = clf_group_ctx(grp, 0);
    struct clf_encoder_tp *etp = NULL;
    tp_from_refused(grp, b, "ModernBERT");
    clf_bert_destroy(b);
    struct clf_bert *emb = (struct clf_bert *)ctx;
    ck_assert_status(g0, clf_bert_load_tp(grp, folder, NULL, &emb, &etp), CLF_E_UNSUPPORTED);
    ck_assert(strstr(clf_ctx_last_error(g0), "modernbert"));
    ck_assert_ptr_null(emb);
    ck_assert_ptr_null(etp);
    clf_group_destroy(grp);
}
END_TEST

/* Texts in, vectors out with a prompt left out of the pooling
 * (clf_embed_params.pool_prompt false): the uncased DistilBERT folder's
 * mean-pooled variant of test/reference/include-prompt.json
 * (sentence-transformers 3), within its bound in test/folders.py; a
 * negative count of tokens to leave out refused. */
static bool one_rank_gather(void *user, float *y, const size_t *counts, bool ok);

/* The folder dir (*f), its tokenizer (*tok) and a one-rank BERT runner of
 * its model on ctx, as `clformer embed` makes them. */
static struct clf_dp *folder_runner(struct clf_ctx *ctx, const char *dir,
                                    struct clf_sentence_folder **f, struct clf_tokenizer **tok)
{
    char msg[512];
    ck_assert_msg(clf_sentence_folder_load(dir, f, msg, sizeof msg) == CLF_OK, "%s", msg);
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    ck_assert_ok(ctx, clf_sentence_folder_tokenizer_params(*f, &tp));
    ck_assert_ok(ctx, clf_tokenizer_load(ctx, clf_sentence_folder_tokenizer_file(*f), &tp, tok));
    struct clf_dp *dp = NULL;
    struct clf_dp_comm comm = {0, 1, one_rank_gather, NULL};
    ck_assert_ok(ctx, clf_dp_create_bert_rank(ctx, dir, NULL, &comm, &dp));
    return dp;
}

START_TEST(test_embed_prompt_left_out)
{
    struct clf_ctx *ctx = test_ctx();
    cJSON *root = test_read_json(CLF_SOURCE_DIR "/test/reference/include-prompt.json");
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(root, "texts");
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "variants"), 0);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(v, "embeddings");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "pooling")), "mean");
    const int n = cJSON_GetArraySize(texts);
    ck_assert_int_eq(n, cJSON_GetArraySize(want));
    const char *t[16];
    ck_assert_int_le(n, 16);
    for (int i = 0; i < n; i++)
        t[i] = cJSON_GetArrayItem(texts, i)->valuestring;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", CLF_SOURCE_DIR,
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "folder")));
    struct clf_sentence_folder *f = NULL;
    struct clf_tokenizer *tok = NULL;
    struct clf_dp *dp = folder_runner(ctx, dir, &f, &tok);
    ck_assert_status(ctx, clf_dp_set_pooling_skip(dp, -1), CLF_E_INVALID_ARG);
    const int64_t d = clf_dp_embed_dim(dp);
    float *out = malloc((size_t)(n * d) * sizeof *out);
    struct clf_embed_params ep = clf_embed_params_default();
    ck_assert(ep.pool_prompt);
    ep.prompt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "prompt"));
    ep.pool_prompt = false;
    ep.batch = 2;
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tok, t, (size_t)n, &ep, out, NULL, NULL));
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            const double e = fabs(out[i * d + j] -
                                  cJSON_GetArrayItem(cJSON_GetArrayItem(want, i), (int)j)->valuedouble);
            worst = e > worst || e != e ? e : worst;
        }
    ck_assert_msg(worst <= 1e-5, "max abs error %g against sentence-transformers", worst);
    printf("bert: a prompt left out of the pooling: max abs error %.3g\n", worst);
    free(out);
    clf_dp_destroy(dp);
    clf_tokenizer_destroy(tok);
    clf_sentence_folder_destroy(f);
    cJSON_Delete(root);
}
END_TEST

/* The reference texts and embeddings [n, D] (malloc'd). */
static int read_reference(char ***texts, float **emb)
{
    const char *path = CLF_SOURCE_DIR "/test/reference/minilm-embeddings.json";
    cJSON *root = test_read_json(path);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "texts");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
    ck_assert_msg(cJSON_IsArray(t) && cJSON_IsArray(e), "%s: texts and embeddings", path);
    int n = cJSON_GetArraySize(t);
    ck_assert_int_eq(cJSON_GetArraySize(e), n);
    ck_assert_int_gt(n, 0);
    *texts = calloc((size_t)n, sizeof **texts);
    *emb = malloc((size_t)n * D * sizeof **emb);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(t, i), *row = cJSON_GetArrayItem(e, i);
        ck_assert(cJSON_IsString(s) && cJSON_GetArraySize(row) == D);
        (*texts)[i] = strdup(s->valuestring);
        for (int j = 0; j < D; j++)
            (*emb)[i * D + j] = (float)cJSON_GetArrayItem(row, j)->valuedouble;
    }
    cJSON_Delete(root);
    return n;
}

/* The ids and mask (1 = token) of texts[0..n) as one batch padded to the
 * longest, *seq tokens: host arrays *pi, *pm [n, seq] and tensors ti, tm
 * on the test context. */
static void tokenize_batch(char **texts, int n, size_t *seq_out, int32_t **pi_out,
                           int32_t **pm_out, struct clf_tensor **ti, struct clf_tensor **tm)
{
    struct clf_ctx *ctx = test_ctx();
    enum { CAP = 512 };
    int32_t *ids = calloc((size_t)n * CAP, sizeof *ids);
    size_t *len = calloc((size_t)n, sizeof *len), seq = 1;
    for (int i = 0; i < n; i++) {
        bool cut = false;
        ck_assert_ok(ctx, clf_tokenizer_encode(tokenizer, texts[i], ids + (size_t)i * CAP, CAP,
                                               &len[i], &cut));
        seq = len[i] > seq ? len[i] : seq;
    }
    int32_t *pi = calloc((size_t)n * seq, sizeof *pi), *pm = calloc((size_t)n * seq, 4);
    for (int i = 0; i < n; i++)
        for (size_t t = 0; t < len[i]; t++) {
            pi[(size_t)i * seq + t] = ids[(size_t)i * CAP + t];
            pm[(size_t)i * seq + t] = 1;
        }
    const int64_t s[2] = {n, (int64_t)seq};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s, ti));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I32, 2, s, tm));
    ck_assert_ok(ctx, clf_tensor_write(*ti, pi, (size_t)n * seq * sizeof *pi));
    ck_assert_ok(ctx, clf_tensor_write(*tm, pm, (size_t)n * seq * sizeof *pm));
    free(ids);
    free(len);
    *seq_out = seq, *pi_out = pi, *pm_out = pm;
}

/* Embeds texts[0..n) as one batch padded to the longest; out [n, D]. */
static void embed(char **texts, int n, float *out)
{
    struct clf_ctx *ctx = test_ctx();
    size_t seq;
    int32_t *pi, *pm;
    struct clf_tensor *ti = NULL, *tm = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    tokenize_batch(texts, n, &seq, &pi, &pm, &ti, &tm);
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    /* one text: no mask (nothing is padded) */
    ck_assert_ok(ctx, clf_bert_forward(model, g, ti, n > 1 ? tm : NULL, &h));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, h, tm, &y));
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(y, out, (size_t)n * D * sizeof *out));
    clf_graph_destroy(g);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    free(pi);
    free(pm);
}

START_TEST(test_reference_and_batch)
{
    model_setup();
    char **texts = NULL;
    float *ref = NULL;
    int n = read_reference(&texts, &ref);
    float *one = malloc((size_t)n * D * sizeof *one), *all = malloc((size_t)n * D * sizeof *all);
    double worst = 0, worst_cos = 1, worst_batch = 0;
    for (int i = 0; i < n; i++) {
        embed(texts + i, 1, one + (size_t)i * D);
        double dot = 0, na = 0, nb = 0, err = 0;
        for (int j = 0; j < D; j++) {
            double a = one[i * D + j], r = ref[i * D + j];
            double e = fabs(a - r);
            err = e > err || isnan(e) ? e : err;
            dot += a * r;
            na += a * a;
            nb += r * r;
        }
        double cos = dot / sqrt(na * nb);
        ck_assert_msg(err <= 1e-4, "text %d \"%s\": max abs error %.3g > 1e-4", i, texts[i], err);
        ck_assert_msg(cos >= 0.9999, "text %d \"%s\": cosine %.7f < 0.9999", i, texts[i], cos);
        worst = err > worst ? err : worst;
        worst_cos = cos < worst_cos ? cos : worst_cos;
    }
    embed(texts, n, all);
    for (int i = 0; i < n * D; i++) {
        double e = fabs((double)all[i] - one[i]);
        ck_assert_msg(e <= 1e-5, "batched text %d, element %d: %.9g vs %.9g alone", i / D, i % D,
                      (double)all[i], (double)one[i]);
        worst_batch = e > worst_batch ? e : worst_batch;
    }
    printf("bert: %d texts, max abs error %.3g, min cosine %.9f against the reference; "
           "batched vs alone %.3g\n",
           n, worst, worst_cos, worst_batch);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(ref);
    free(one);
    free(all);
    model_teardown();
}
END_TEST

/* clf_bert_load_tp over grp: each member holds its share of the layers
 * (and member 0 the embeddings) and nothing more, as measured by its
 * context (clf_ctx_stats): at least the share's bytes, at most the pool's
 * rounding of them, below the whole encoder's bytes; its embeddings of
 * ids [n, seq] (mask = !pad) equal the whole model's (x), its forward of x the
 * whole model's encoder split by clf_encoder_tp_create_from (want), bit
 * for bit. The model without layers refuses a whole forward. */
static void load_tp_check(struct clf_group *grp, const int32_t *ids, const float *x,
                          const int32_t *pad, int n, size_t seq, const float *want)
{
    const int nd = clf_group_size(grp);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    struct clf_bert *emb = NULL;
    struct clf_encoder_tp *etp = NULL;
    const struct clf_encoder_config c = clf_bert_config(model);
    double live0[8], live, peak;
    ck_assert_int_le(nd, 8);
    for (int r = 0; r < nd; r++) {
        clf_ctx_trim(clf_group_ctx(grp, r));
        test_device_bytes(clf_group_ctx(grp, r), &live0[r], &peak);
    }
    ck_assert_ok(ctx0, clf_bert_load_tp(grp, model_dir(), NULL, &emb, &etp));
    const double embeddings = 4.0 * (double)((30522 + 512 + 3) * D);
    int tensors;
    const double encoder = test_tp_rank_bytes(&c, 1, 0, false, &tensors);
    for (int r = 0; r < nd; r++) {
        test_device_bytes(clf_group_ctx(grp, r), &live, &peak);
        const double share = test_tp_rank_bytes(&c, nd, r, false, &tensors) +
                             (r == 0 ? embeddings : 0);
        const double bound = test_pool_bound(share, tensors + (r == 0 ? 5 : 0));
        printf("bert split over %d: member %d holds %.0f bytes (peak %.0f; its share %.0f, "
               "bound %.0f; the whole encoder %.0f)\n",
               nd, r, live - live0[r], peak - live0[r], share, bound, encoder);
        ck_assert(live - live0[r] >= share && live - live0[r] <= bound);
        ck_assert(peak - live0[r] <= bound);
        if (nd > 1)
            ck_assert(peak - live0[r] - (r == 0 ? embeddings : 0) < encoder);
    }
    ck_assert_int_eq(c.d_model, clf_bert_config(emb).d_model);
    ck_assert_ptr_null(clf_bert_encoder(emb));

    const size_t rows = (size_t)n * seq;
    float *xe = malloc(rows * D * sizeof *xe), *hs = malloc(rows * D * sizeof *hs);
    struct clf_tensor *ti0 = NULL, *tm0 = NULL, *e = NULL, *h = NULL;
    struct clf_graph *g = NULL;
    const int64_t shape[2] = {n, (int64_t)seq};
    int32_t *mask = malloc(rows * sizeof *mask);
    for (size_t i = 0; i < rows; i++)
        mask[i] = !pad[i];
    ck_assert_ok(ctx0, clf_tensor_create(ctx0, CLF_I32, 2, shape, &ti0));
    ck_assert_ok(ctx0, clf_tensor_create(ctx0, CLF_I32, 2, shape, &tm0));
    ck_assert_ok(ctx0, clf_tensor_write(ti0, ids, rows * sizeof *ids));
    ck_assert_ok(ctx0, clf_tensor_write(tm0, mask, rows * sizeof *mask));
    ck_assert_ok(ctx0, clf_graph_create(ctx0, &g));
    ck_assert_status(ctx0, clf_bert_forward(emb, g, ti0, tm0, &h), CLF_E_STATE);
    ck_assert_ok(ctx0, clf_bert_embeddings(emb, g, ti0, tm0, &e));
    ck_assert_ok(ctx0, clf_graph_run(g));
    ck_assert_ok(ctx0, clf_tensor_read(e, xe, rows * D * sizeof *xe));
    ck_assert_int_eq(memcmp(xe, x, rows * D * sizeof *x), 0);
    ck_assert_ok(ctx0, clf_encoder_tp_forward(etp, x, n, (int64_t)seq, pad, hs));
    ck_assert_int_eq(memcmp(hs, want, rows * D * sizeof *hs), 0);
    printf("bert split over %d by clf_bert_load_tp: the embeddings and hidden states of the "
           "whole model's split, bit for bit\n",
           nd);
    clf_graph_destroy(g);
    clf_tensor_destroy(ti0);
    clf_tensor_destroy(tm0);
    clf_encoder_tp_destroy(etp);
    clf_bert_destroy(emb);
    free(xe), free(hs), free(mask);
}

/* Tensor parallel over every device (POCL_DEVICES="pthread pthread" in
 * main: two): the reference texts as one padded batch, the embeddings from
 * clf_bert_embeddings, the model's encoder split by
 * clf_encoder_tp_create_from, key padding = mask == 0, pooled on the test
 * context. Within the reference's bounds (1e-4, cosine 0.9999, as above),
 * and within 1e-5 of one device's batch: the partial sums of each head
 * and hidden unit are added in another order, which, as for batched
 * against alone, moves entries of size ~0.05 by a few fp32 ulps. */
START_TEST(test_tensor_parallel)
{
    model_setup();
    struct clf_ctx *ctx = test_ctx();
    char **texts = NULL;
    float *ref = NULL;
    const int n = read_reference(&texts, &ref);
    float *one = malloc((size_t)n * D * sizeof *one), *tp = malloc((size_t)n * D * sizeof *tp);
    embed(texts, n, one);

    char msg[1024];
    struct clf_group *grp = NULL;
    struct clf_encoder_tp *etp = NULL;
    ck_assert_msg(clf_group_create("all", NULL, &grp, msg, sizeof msg) == CLF_OK, "%s", msg);
    ck_assert_ok(ctx, clf_encoder_tp_create_from(grp, clf_bert_encoder(model), &etp));
    size_t seq;
    int32_t *pi, *pm;
    struct clf_tensor *ti = NULL, *tm = NULL, *e = NULL, *h = NULL, *y = NULL;
    struct clf_graph *g = NULL, *pool = NULL;
    tokenize_batch(texts, n, &seq, &pi, &pm, &ti, &tm);
    const size_t rows = (size_t)n * seq;
    float *x = malloc(rows * D * sizeof *x), *hs = malloc(rows * D * sizeof *hs);
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_bert_embeddings(model, g, ti, tm, &e));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(e, x, rows * D * sizeof *x));
    for (size_t i = 0; i < rows; i++)
        pm[i] = !pm[i];
    for (size_t i = 0; i < rows * D; i++)
        hs[i] = NAN;
    ck_assert_ok(ctx, clf_encoder_tp_forward(etp, x, n, (int64_t)seq, pm, hs));
    const int64_t hshape[3] = {n, (int64_t)seq, D};
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, hshape, &h));
    ck_assert_ok(ctx, clf_tensor_write(h, hs, rows * D * sizeof *hs));
    ck_assert_ok(ctx, clf_graph_create(ctx, &pool));
    ck_assert_ok(ctx, clf_op_mean_pool_normalize(pool, h, tm, &y));
    test_poison(y);
    ck_assert_ok(ctx, clf_graph_run(pool));
    ck_assert_ok(ctx, clf_tensor_read(y, tp, (size_t)n * D * sizeof *tp));

    double worst_ref = 0, worst_one = 0, worst_cos = 1;
    for (int i = 0; i < n; i++) {
        double dot = 0, na = 0, nb = 0;
        for (int j = 0; j < D; j++) {
            const double a = tp[i * D + j], r = ref[i * D + j], o = one[i * D + j];
            const double er = fabs(a - r), eo = fabs(a - o);
            ck_assert_msg(er <= 1e-4, "text %d: %.9g, reference %.9g", i, a, r);
            ck_assert_msg(eo <= 1e-5, "text %d: %.9g, one device %.9g", i, a, o);
            worst_ref = er > worst_ref ? er : worst_ref;
            worst_one = eo > worst_one ? eo : worst_one;
            dot += a * r, na += a * a, nb += r * r;
        }
        const double cos = dot / sqrt(na * nb);
        ck_assert_msg(cos >= 0.9999, "text %d: cosine %.7f", i, cos);
        worst_cos = cos < worst_cos ? cos : worst_cos;
    }
    printf("bert tensor parallel over %d device(s): max abs error %.3g (min cosine %.9f) "
           "against the reference, %.3g against one device\n",
           clf_group_size(grp), worst_ref, worst_cos, worst_one);
    clf_encoder_tp_destroy(etp);
    etp = NULL;
    load_tp_check(grp, pi, x, pm, n, seq, hs);
    clf_graph_destroy(pool);
    clf_graph_destroy(g);
    clf_tensor_destroy(h);
    clf_tensor_destroy(ti);
    clf_tensor_destroy(tm);
    clf_encoder_tp_destroy(etp);
    clf_group_destroy(grp);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts), free(ref), free(one), free(tp), free(x), free(hs), free(pi), free(pm);
    model_teardown();
}
END_TEST

/* Data parallel over every device (clf_dp_create_bert, clf_dp_embed): the
 * reference texts in batches of 2 (the last one alone), dealt whole over
 * the devices, equal bit for bit to one device embedding each batch
 * (clf_bert_forward with the mask, then clf_op_mean_pool_normalize). Both
 * run the fused attention: AUTO may measure another implementation for a
 * batch on another device (clformer.h, struct clf_dp). */
START_TEST(test_data_parallel)
{
    model_setup();
    struct clf_ctx *ctx = test_ctx();
    char **texts = NULL;
    float *ref = NULL;
    const int n = read_reference(&texts, &ref);
    const int nb = (n + 1) / 2;
    struct clf_encoder_config opt = clf_encoder_config_default();
    opt.attn_impl = CLF_ATTN_FUSED;
    struct clf_bert *fused = NULL;
    ck_assert_ok(ctx, clf_bert_load(ctx, model_dir(), &opt, &fused));
    struct clf_dp_batch *b = calloc((size_t)nb, sizeof *b);
    int32_t **mask = calloc((size_t)nb, sizeof *mask), **ids = calloc((size_t)nb, sizeof *ids);
    float *one = malloc((size_t)n * D * sizeof *one), *dp_out = malloc((size_t)n * D * sizeof *dp_out);
    for (int k = 0; k < nb; k++) {
        const int count = 2 * k + 1 < n ? 2 : 1;
        size_t seq;
        struct clf_tensor *ti = NULL, *tm = NULL, *h = NULL, *y = NULL;
        struct clf_graph *g = NULL;
        tokenize_batch(texts + 2 * k, count, &seq, &ids[k], &mask[k], &ti, &tm);
        b[k] = (struct clf_dp_batch){ids[k], mask[k], count, (int64_t)seq};
        ck_assert_ok(ctx, clf_graph_create(ctx, &g));
        ck_assert_ok(ctx, clf_bert_forward(fused, g, ti, tm, &h));
        ck_assert_ok(ctx, clf_op_mean_pool_normalize(g, h, tm, &y));
        ck_assert_ok(ctx, clf_graph_run(g));
        ck_assert_ok(ctx, clf_tensor_read(y, one + (size_t)k * 2 * D, (size_t)count * D * 4));
        clf_graph_destroy(g);
        clf_tensor_destroy(ti);
        clf_tensor_destroy(tm);
    }
    char msg[1024];
    struct clf_group *grp = NULL;
    struct clf_dp *dp = NULL;
    ck_assert_msg(clf_group_create("all", NULL, &grp, msg, sizeof msg) == CLF_OK, "%s", msg);
    struct clf_ctx *ctx0 = clf_group_ctx(grp, 0);
    ck_assert_ok(ctx0, clf_dp_create_bert(grp, model_dir(), &opt, &dp));
    ck_assert_int_eq(clf_dp_members(dp), clf_group_size(grp));
    ck_assert_ptr_nonnull(clf_dp_encoder(dp, 0));
    ck_assert_ok(ctx0, clf_dp_calibrate_embed(dp, &b[0])); /* nothing to calibrate */
    for (int i = 0; i < n * D; i++)
        dp_out[i] = NAN;
    ck_assert_ok(ctx0, clf_dp_embed(dp, b, (size_t)nb, dp_out));
    ck_assert_int_eq(memcmp(dp_out, one, (size_t)n * D * sizeof *one), 0);
    printf("bert data parallel over %d device(s): %d texts in %d batches, one device's bits\n",
           clf_group_size(grp), n, nb);
    /* an id outside the vocabulary, in a batch and in a calibration batch:
     * refused on the host (the runner's graphs leave the in-graph check
     * out), naming the id and its place */
    for (int neg = 0; neg < 2; neg++) {
        const int32_t saved = ids[0][1], bad = neg ? -3 : 1 << 30;
        ids[0][1] = bad;
        char want[64];
        snprintf(want, sizeof want, "id %d at position [0, 1]", (int)bad);
        ck_assert_status(ctx0, clf_dp_embed(dp, b, (size_t)nb, dp_out), CLF_E_INVALID_ARG);
        bool named = false;
        for (int i = 0; i < clf_group_size(grp); i++)
            named = named || strstr(clf_ctx_last_error(clf_group_ctx(grp, i)), want);
        ck_assert_msg(named, "no member's error names %s", want);
        ck_assert_int_eq(clf_dp_calibrate_embed(dp, &b[0]), CLF_E_INVALID_ARG);
        ids[0][1] = saved;
    }
    ck_assert_ok(ctx0, clf_dp_embed(dp, b, (size_t)nb, dp_out));
    ck_assert_int_eq(memcmp(dp_out, one, (size_t)n * D * sizeof *one), 0);
    /* an encoder's call, a batch without its mask */
    float x[D];
    ck_assert_status(ctx0, clf_dp_forward(dp, x, 1, 1, NULL, dp_out), CLF_E_INVALID_ARG);
    b[0].mask = NULL;
    ck_assert_status(ctx0, clf_dp_embed(dp, b, (size_t)nb, dp_out), CLF_E_INVALID_ARG);
    ck_assert_status(ctx0, clf_dp_embed(dp, b, 0, dp_out), CLF_E_INVALID_ARG);
    clf_dp_destroy(dp);
    clf_group_destroy(grp);
    clf_bert_destroy(fused);
    for (int k = 0; k < nb; k++)
        free(ids[k]), free(mask[k]);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts), free(ref), free(b), free(ids), free(mask), free(one), free(dp_out);
    model_teardown();
}
END_TEST

/* One thread of test_text_batches_threads: 300 rounds of batches of 64
 * texts whose lengths fall (arg 0) or rise (arg 1) with the index; the
 * order must be longest first each time. */
static void *batches_rounds(void *arg)
{
    const bool rising = arg != NULL;
    size_t len[64];
    static const int32_t ids[64] = {1};
    const int32_t *rows[64];
    for (size_t i = 0; i < 64; i++) {
        len[i] = rising ? i + 1 : 64 - i;
        rows[i] = ids;
    }
    for (int round = 0; round < 300; round++) {
        struct clf_text_batches *tb = NULL;
        if (clf_text_batches_make(NULL, rows, len, 64, NULL, &tb) != CLF_OK)
            return (void *)"failed";
        const size_t *order = clf_text_batches_order(tb);
        for (size_t s = 0; s < 64; s++)
            if (order[s] != (rising ? 63 - s : s)) {
                clf_text_batches_destroy(tb);
                return (void *)"out of order";
            }
        clf_text_batches_destroy(tb);
    }
    return NULL;
}

/* Two threads making batches at once each get their own order (the sort
 * keeps no state between calls). */
START_TEST(test_text_batches_threads)
{
    pthread_t t[2];
    void *res[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, batches_rounds, i ? (void *)1 : NULL), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(t[i], &res[i]), 0);
        ck_assert_msg(res[i] == NULL, "thread %d: %s", i, (const char *)res[i]);
    }
}
END_TEST

/*
 * Sentence batches (clf_text_batches_make), no model: 7 texts of lengths
 * 3 0 5 3 9 1 5 sorted longest first with ties in input order (4 2 6 0 3
 * 5 1), cut by a count of 3 (9+5+5, 3+3+1, 0 counting 1) and by a budget
 * of 10 padded ids (9 alone, 5+5, 3+3+1, 0); each batch padded with id 0
 * and mask 0 to its longest text; errors.
 */
START_TEST(test_text_batches)
{
    static const size_t len[7] = {3, 0, 5, 3, 9, 1, 5};
    static const size_t want_order[7] = {4, 2, 6, 0, 3, 5, 1};
    int32_t store[7][9];
    const int32_t *ids[7];
    for (int i = 0; i < 7; i++) {
        for (int j = 0; j < 9; j++)
            store[i][j] = 100 * (i + 1) + j; /* never 0: padding shows */
        ids[i] = len[i] ? store[i] : NULL;
    }
    struct clf_ctx *ctx = test_ctx();
    struct clf_embed_params p = clf_embed_params_default();
    ck_assert_int_eq(p.batch, 32);
    ck_assert_int_eq(p.max_batch_tokens, 0);
    static const struct {
        int64_t batch, budget;
        size_t count;
        int64_t rows[4], seq[4];
    } cases[] = {
        {3, 0, 3, {3, 3, 1}, {9, 3, 1}},
        {32, 10, 4, {1, 2, 3, 1}, {9, 5, 3, 1}},
        {32, 0, 1, {7}, {9}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        p.batch = cases[c].batch;
        p.max_batch_tokens = cases[c].budget;
        struct clf_text_batches *tb = NULL;
        ck_assert_ok(ctx, clf_text_batches_make(ctx, ids, len, 7, &p, &tb));
        ck_assert_uint_eq(clf_text_batches_count(tb), cases[c].count);
        const size_t *order = clf_text_batches_order(tb);
        for (int s = 0; s < 7; s++)
            ck_assert_uint_eq(order[s], want_order[s]);
        const struct clf_dp_batch *b = clf_text_batches_list(tb);
        size_t s = 0;
        for (size_t k = 0; k < cases[c].count; k++) {
            ck_assert_int_eq(b[k].batch, cases[c].rows[k]);
            ck_assert_int_eq(b[k].seq, cases[c].seq[k]);
            for (int64_t r = 0; r < b[k].batch; r++, s++) {
                const size_t t = order[s];
                for (int64_t j = 0; j < b[k].seq; j++) {
                    const bool tok = (size_t)j < len[t];
                    ck_assert_int_eq(b[k].ids[r * b[k].seq + j], tok ? store[t][j] : 0);
                    ck_assert_int_eq(b[k].mask[r * b[k].seq + j], tok ? 1 : 0);
                }
            }
        }
        ck_assert_uint_eq(s, 7);
        clf_text_batches_destroy(tb);
    }
    struct clf_text_batches *tb = (struct clf_text_batches *)ctx;
    ck_assert_status(ctx, clf_text_batches_make(ctx, ids, len, 0, NULL, &tb), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(tb);
    ck_assert_status(ctx, clf_text_batches_make(ctx, NULL, len, 7, NULL, &tb), CLF_E_INVALID_ARG);
    const int32_t *holes[7];
    memcpy(holes, ids, sizeof holes);
    holes[2] = NULL; /* 5 ids, no array */
    ck_assert_status(ctx, clf_text_batches_make(ctx, holes, len, 7, NULL, &tb), CLF_E_INVALID_ARG);
    ck_assert(strstr(clf_ctx_last_error(ctx), "text 2") != NULL);
    p.batch = 0;
    p.max_batch_tokens = 0;
    ck_assert_status(ctx, clf_text_batches_make(ctx, ids, len, 7, &p, &tb), CLF_E_INVALID_ARG);
    ck_assert(strstr(clf_ctx_last_error(ctx), "batch") != NULL);
    p.batch = 4;
    p.max_batch_tokens = -1;
    ck_assert_status(ctx, clf_text_batches_make(ctx, ids, len, 7, &p, &tb), CLF_E_INVALID_ARG);
    p.max_batch_tokens = 0;
    p.size = 0; /* not set by _init */
    ck_assert_status(ctx, clf_text_batches_make(ctx, ids, len, 7, &p, &tb), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_text_batches_make(NULL, ids, len, 0, NULL, &tb), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_text_batches_count(NULL), 0);
    ck_assert_ptr_null(clf_text_batches_list(NULL));
    ck_assert_ptr_null(clf_text_batches_order(NULL));
    clf_text_batches_destroy(NULL);
}
END_TEST

/* The gather of a run of one rank: its block is the whole output. */
static bool one_rank_gather(void *user, float *y, const size_t *counts, bool ok)
{
    (void)user, (void)y, (void)counts;
    return ok;
}

/* The model set up, the reference texts and vectors read (n of them),
 * and a one-rank BERT runner of the model on the test's device. */
static struct clf_dp *reference_runner(char ***texts, float **ref, int *n)
{
    model_setup();
    struct clf_ctx *ctx = test_ctx();
    *n = read_reference(texts, ref);
    struct clf_dp_comm comm = {0, 1, one_rank_gather, NULL};
    struct clf_dp *dp = NULL;
    ck_assert_ok(ctx, clf_dp_create_bert_rank(ctx, model_dir(), NULL, &comm, &dp));
    return dp;
}

/*
 * Texts in, vectors out (clf_dp_embed_texts) on one device: the reference
 * texts (and an empty one) in batches of at most 3 texts and 40 padded
 * ids, longest first: every row is its text's vector, within the
 * reference's bounds and within 1e-5 of the text embedded alone (as
 * test_reference_and_batch bounds batching); the token counts are the
 * tokenizer's; a text that is not UTF-8 fails the call, named by its index.
 */
/* clf_dp_timings after one clf_dp_embed_texts of the n texts (ntok: their
 * ids) from reset: a graph run per batch, each shape recorded once (none
 * again on a second pass), every part of the time counted; then reset and
 * the errors. */
static void check_timings(struct clf_dp *dp, char **texts, const size_t *ntok, size_t n,
                          const struct clf_embed_params *p)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_text_batches *tb = NULL;
    int32_t **ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = calloc(ntok[i] ? ntok[i] : 1, sizeof **ids); /* the lengths make the batches */
    ck_assert_ok(ctx, clf_text_batches_make(ctx, (const int32_t *const *)ids, ntok, n, p, &tb));
    const uint64_t nb = clf_text_batches_count(tb);
    clf_text_batches_destroy(tb);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    struct clf_dp_timings t = {.size = sizeof t};
    ck_assert_ok(ctx, clf_dp_timings(dp, &t));
    ck_assert_uint_eq(t.size, sizeof t);
    ck_assert_uint_eq(t.batches, nb);
    ck_assert_msg(t.recorded >= 1 && t.recorded <= nb, "%llu graphs recorded for %llu batches",
                  (unsigned long long)t.recorded, (unsigned long long)nb);
    ck_assert_msg(t.text_ms > 0 && t.host_ms > 0 && t.record_ms > 0 && t.run_ms > 0,
                  "texts %g, host %g, recording %g, runs %g ms", t.text_ms, t.host_ms,
                  t.record_ms, t.run_ms);
    ck_assert_uint_le(t.untimed, t.batches);
    if (t.untimed < t.batches) /* some runs timed on the device */
        ck_assert_msg(t.device_ms > 0, "device %g ms", t.device_ms);
    const uint64_t recorded = t.recorded;
    float *again = malloc(n * D * sizeof *again);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts, n, p, again,
                                         NULL, NULL));
    free(again);
    ck_assert_ok(ctx, clf_dp_timings(dp, &t));
    ck_assert_uint_eq(t.batches, 2 * nb);
    ck_assert_uint_eq(t.recorded, recorded); /* every shape kept */
    printf("bert: %llu batches, %llu graphs recorded; a pass: texts %.2f ms, host %.2f ms, "
           "runs %.2f ms (device %.2f ms, %llu untimed)\n",
           (unsigned long long)nb, (unsigned long long)recorded, t.text_ms / 2, t.host_ms / 2,
           t.run_ms / 2, t.device_ms / 2, (unsigned long long)t.untimed);
    clf_dp_timings_reset(dp);
    ck_assert_ok(ctx, clf_dp_timings(dp, &t));
    ck_assert(t.batches == 0 && t.recorded == 0 && t.text_ms == 0 && t.host_ms == 0 &&
              t.record_ms == 0 && t.run_ms == 0 && t.device_ms == 0 && t.untimed == 0);
    struct clf_dp_timings unset = {0};
    ck_assert_status(ctx, clf_dp_timings(dp, &unset), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_timings(dp, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_dp_timings(NULL, &t), CLF_E_INVALID_ARG);
    clf_dp_timings_reset(NULL);
}

START_TEST(test_embed_texts)
{
    struct clf_ctx *ctx = test_ctx();
    char **texts = NULL;
    float *ref = NULL;
    int n = 0;
    struct clf_dp *dp = reference_runner(&texts, &ref, &n);
    struct clf_embed_params p = clf_embed_params_default();
    p.batch = 3;
    p.max_batch_tokens = 40;
    float *out = malloc((size_t)n * D * sizeof *out), *one = malloc(D * sizeof *one);
    size_t *ntok = calloc((size_t)n, sizeof *ntok);
    bool *cut = calloc((size_t)n, sizeof *cut);
    for (int i = 0; i < n * D; i++)
        out[i] = NAN;
    clf_dp_timings_reset(dp);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts, (size_t)n,
                                         &p, out, ntok, cut));
    check_timings(dp, texts, ntok, (size_t)n, &p);
    double worst = 0, worst_alone = 0;
    for (int i = 0; i < n; i++) {
        int32_t ids[512];
        size_t len = 0;
        ck_assert_ok(ctx, clf_tokenizer_encode(tokenizer, texts[i], ids, 512, &len, NULL));
        ck_assert_uint_eq(ntok[i], len);
        embed(texts + i, 1, one);
        for (int j = 0; j < D; j++) {
            double a = out[i * D + j], e = fabs(a - ref[i * D + j]), e1 = fabs(a - one[j]);
            ck_assert_msg(e <= 1e-4, "text %d: %.9g, reference %.9g", i, a, ref[i * D + j]);
            ck_assert_msg(e1 <= 1e-5, "text %d: %.9g, alone %.9g", i, a, (double)one[j]);
            worst = e > worst ? e : worst;
            worst_alone = e1 > worst_alone ? e1 : worst_alone;
        }
    }
    printf("bert: %d texts in, vectors out (batches of 3 / 40 ids): max abs error %.3g against "
           "the reference, %.3g against each alone\n",
           n, worst, worst_alone);
    const char *bad[3] = {"fine", "also fine", "\xff\xfe not UTF-8"};
    ck_assert_status(ctx, clf_dp_embed_texts(dp, tokenizer, bad, 3, NULL, out, NULL, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_msg(strstr(clf_ctx_last_error(ctx), "text 2") != NULL, "%s",
                  clf_ctx_last_error(ctx));
    const char *hole[2] = {"fine", NULL};
    ck_assert_status(ctx, clf_dp_embed_texts(dp, tokenizer, hole, 2, NULL, out, NULL, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_embed_texts(dp, tokenizer, bad, 0, NULL, out, NULL, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_embed_texts(dp, NULL, bad, 1, NULL, out, NULL, NULL),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_dp_embed_texts(NULL, tokenizer, bad, 1, NULL, out, NULL, NULL),
                     CLF_E_INVALID_ARG);
    /* a prompt: the same ids, so the same bits, as the text written after it */
    const char *two_texts[2] = {"query: A man is eating food.", "query: A man eats."};
    const char *bare[2] = {"A man is eating food.", "A man eats."};
    float *pr_a = malloc(2 * D * sizeof *pr_a), *pr_b = malloc(2 * D * sizeof *pr_b);
    struct clf_embed_params pp = p;
    pp.prompt = "query: ";
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, bare, 2, &pp, pr_a, NULL, NULL));
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, two_texts, 2, &p, pr_b, NULL, NULL));
    ck_assert_mem_eq(pr_a, pr_b, 2 * D * sizeof *pr_a);
    /* text_lengths: a NUL byte inside a text is part of it (WordPiece drops
     * it: "foo\0bar baz" is "foobar baz"); without them the text ends there */
    const char *nul[2] = {"foo\0bar baz", "foobar baz"}, *cut_text[1] = {"foo"};
    const size_t nul_len[2] = {11, 10};
    struct clf_embed_params pn = p;
    pn.text_lengths = nul_len;
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, nul, 2, &pn, pr_a, NULL, NULL));
    ck_assert_mem_eq(pr_a, pr_a + D, D * sizeof *pr_a);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, nul, 1, &p, pr_b, NULL, NULL));
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, cut_text, 1, &p, pr_b + D, NULL, NULL));
    ck_assert_mem_eq(pr_b, pr_b + D, D * sizeof *pr_b);
    free(pr_a), free(pr_b);
    /* CLS and mean concatenated, not normalised: the mean half, normalised
     * here, is the default's vector (test-pool checks each mode's values) */
    ck_assert_int_eq(clf_dp_embed_dim(dp), D);
    ck_assert_ok(ctx, clf_dp_set_pooling(dp, CLF_POOL_CLS | CLF_POOL_MEAN, 0, false));
    ck_assert_int_eq(clf_dp_embed_dim(dp), 2 * D);
    float *two = malloc((size_t)n * 2 * D * sizeof *two);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts, (size_t)n,
                                         &p, two, NULL, NULL));
    for (int i = 0; i < n; i++) {
        double norm = 0;
        for (int j = 0; j < D; j++)
            norm += (double)two[(i * 2 + 1) * D + j] * two[(i * 2 + 1) * D + j];
        for (int j = 0; j < D; j++)
            ck_assert_msg(fabs(two[(i * 2 + 1) * D + j] / sqrt(norm) - out[i * D + j]) <= 1e-6,
                          "text %d, column %d: the mean half differs", i, j);
    }
    free(two);
    ck_assert_status(ctx, clf_dp_set_pooling(dp, 0, 0, true), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_set_pooling(dp, CLF_POOL_ALL + 1, 0, true), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_set_pooling(dp, CLF_POOL_MAX, D + 1, true), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_dp_embed_dim(dp), 2 * D); /* unchanged */
    /* Dense layers (their values against sentence-transformers: folders.py):
     * an identity layer after the pooling (its GEMM exact: x·1 and zeros)
     * gives the same vectors up to the normalisation, which then runs in
     * another kernel (rows_truncate_normalize; a compiler may contract its
     * sum of squares otherwise): each within |y|·(γ_{n+1}/2 + 11u) of the
     * exact normalised vector (test-pool's bound), so within twice that of
     * each other */
    float *eye = calloc((size_t)2 * D * 2 * D, sizeof *eye), *again = NULL;
    for (int j = 0; j < 2 * D; j++)
        eye[(size_t)j * 2 * D + j] = 1.0f;
    const struct clf_dense_layer id = {2 * D, 2 * D, eye, NULL, CLF_ACT_NONE};
    const struct clf_dense_layer wrong = {D, 8, eye, NULL, CLF_ACT_TANH};
    ck_assert_status(ctx, clf_dp_set_dense(dp, &wrong, 1), CLF_E_INVALID_ARG); /* in != 2D */
    ck_assert_ok(ctx, clf_dp_set_pooling(dp, CLF_POOL_CLS | CLF_POOL_MEAN, 0, true));
    ck_assert_ok(ctx, clf_dp_set_dense(dp, &id, 1));
    ck_assert_int_eq(clf_dp_embed_dim(dp), 2 * D);
    float *normed = malloc((size_t)n * 2 * D * sizeof *normed);
    again = malloc((size_t)n * 2 * D * sizeof *again);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts, (size_t)n,
                                         &p, again, NULL, NULL));
    ck_assert_ok(ctx, clf_dp_set_dense(dp, NULL, 0));
    ck_assert_ok(ctx, clf_dp_set_pooling(dp, CLF_POOL_CLS | CLF_POOL_MEAN, 0, true));
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts, (size_t)n,
                                         &p, normed, NULL, NULL));
    const double rel = 2 * 1.01 * (test_gamma(2.0 * D + 1) / 2 + 11 * TEST_U32);
    for (int i = 0; i < n * 2 * D; i++)
        ck_assert_msg(fabs((double)again[i] - normed[i]) <= rel * fabs((double)normed[i]),
                      "element %d: %.9g through the identity, %.9g without", i,
                      (double)again[i], (double)normed[i]);
    free(eye), free(again), free(normed);
    clf_dp_destroy(dp);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts), free(ref), free(out), free(one), free(ntok), free(cut);
    model_teardown();
}
END_TEST

/*
 * Ragged batches (clf_dp_set_ragged): the reference texts in batches of 4
 * and 16 (padded, each mask row a run of tokens): bit for bit the padded
 * pass's vectors; two texts of different lengths in one batch ran through
 * the ragged attention (the graph says so), and padded once turned off.
 */
START_TEST(test_embed_ragged)
{
    struct clf_ctx *ctx = test_ctx();
    char **texts = NULL;
    float *ref = NULL;
    int n = 0;
    struct clf_dp *dp = reference_runner(&texts, &ref, &n);
    float *rag = malloc((size_t)n * D * sizeof *rag), *pad = malloc((size_t)n * D * sizeof *pad);
    const int64_t batches[2] = {4, 16};
    for (int k = 0; k < 2; k++) {
        struct clf_embed_params p = clf_embed_params_default();
        p.batch = batches[k];
        for (int i = 0; i < n * D; i++)
            rag[i] = pad[i] = NAN;
        ck_assert_ok(ctx, clf_dp_set_ragged(dp, true));
        ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts,
                                             (size_t)n, &p, rag, NULL, NULL));
        ck_assert_ok(ctx, clf_dp_set_ragged(dp, false));
        ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, (const char *const *)texts,
                                             (size_t)n, &p, pad, NULL, NULL));
        for (int i = 0; i < n * D; i++)
            ck_assert_msg(!memcmp(&rag[i], &pad[i], sizeof *rag) && !isnan(rag[i]),
                          "batch %lld, text %d, element %d: ragged %.9g, padded %.9g",
                          (long long)batches[k], i / D, i % D, rag[i], pad[i]);
    }
    /* which attention ran: ragged on, then off (on other devices than CPUs
     * the batches run padded: the local-memory kernel has no ragged form) */
    struct clf_device_info info;
    ck_assert_ok(ctx, clf_ctx_device_info(ctx, &info));
    const bool cpu = info.type == CLF_DEVICE_CPU;
    const char *two[2] = {"A man is eating food.", "A man eats."};
    for (int on = 1; on >= 0; on--) {
        ck_assert_ok(ctx, clf_dp_set_ragged(dp, on));
        ck_assert_ok(ctx, clf_dp_embed_texts(dp, tokenizer, two, 2, NULL, rag, NULL, NULL));
        struct clf_graph *g = clf_dp_graph(dp, 0);
        bool ragged = false;
        for (size_t i = 0; i < clf_graph_node_count(g); i++)
            ragged |= strstr(test_node_info(g, i).desc, " ragged") != NULL;
        ck_assert_msg(ragged == (on && cpu), "ragged %d on a %s, but the attention %s ragged",
                      on, cpu ? "CPU" : "device other than a CPU", ragged ? "ran" : "did not run");
    }
    ck_assert_int_eq(clf_dp_set_ragged(NULL, true), CLF_E_INVALID_ARG);
    printf("bert: %d texts in batches of 4 and 16, ragged: the padded pass's bits\n", n);
    clf_dp_destroy(dp);
    free(rag), free(pad);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(ref);
    model_teardown();
}
END_TEST

/* The real folder's configuration (the full cases, against
 * sentence-transformers, are test/folders.py's), and the argument errors. */
START_TEST(test_sentence_folder)
{
    struct clf_sentence_folder *f = NULL;
    char msg[512];
    ck_assert_int_eq(clf_sentence_folder_load(model_dir(), &f, msg, sizeof msg), CLF_OK);
    ck_assert_str_eq(msg, "");
    ck_assert_str_eq(clf_sentence_folder_model_dir(f), model_dir());
    ck_assert(clf_sentence_folder_has_modules(f));
    ck_assert_uint_eq(clf_sentence_folder_pooling(f), CLF_POOL_MEAN);
    ck_assert(clf_sentence_folder_normalize(f));
    ck_assert(clf_sentence_folder_include_prompt(f));
    ck_assert_int_eq(clf_sentence_folder_pooling_dim(f), D);
    ck_assert_uint_eq(clf_sentence_folder_prompt_count(f), 0);
    ck_assert_ptr_null(clf_sentence_folder_prompt(f, NULL));
    ck_assert_ptr_null(clf_sentence_folder_prompt_name(f, 0));
    struct clf_tokenizer_params tp = clf_tokenizer_params_default();
    tp.max_word_chars = 7;
    ck_assert_int_eq(clf_sentence_folder_tokenizer_params(f, &tp), CLF_OK);
    ck_assert_int_eq(tp.max_length, 256); /* sentence_bert_config.json's, not the 512 */
    ck_assert(tp.lower_case);
    ck_assert_int_eq(tp.max_word_chars, 7); /* the caller's */
    clf_sentence_folder_destroy(f);
    ck_assert_int_eq(clf_sentence_folder_load(NULL, &f, msg, sizeof msg), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_sentence_folder_load(model_dir(), NULL, NULL, 0), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_sentence_folder_load("/nonexistent/folder", &f, msg, sizeof msg),
                     CLF_E_IO);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(msg, "/nonexistent/folder/config.json") != NULL, "%s", msg);
    ck_assert_int_eq(clf_sentence_folder_tokenizer_params(NULL, &tp), CLF_E_INVALID_ARG);
    clf_sentence_folder_destroy(NULL);
}
END_TEST

/* clf_dp_set_folder on the folder with a Dense module (max pooling of 24
 * columns, Dense 24 -> 16 tanh, Normalize): the folder's pipeline, its
 * overrides (no normalisation: the same direction, another length;
 * Matryoshka dims), and what it refuses (no folder, too many dims: no
 * Dense layer left). */
START_TEST(test_set_folder)
{
    struct clf_ctx *ctx = test_ctx();
    const char *dir = CLF_SOURCE_DIR "/test/models/bert-dense";
    struct clf_sentence_folder *f = NULL;
    struct clf_tokenizer *tok = NULL;
    struct clf_dp *dp = folder_runner(ctx, dir, &f, &tok);
    ck_assert_int_eq(clf_dp_embed_dim(dp), 24);
    ck_assert_status(ctx, clf_dp_set_folder(dp, NULL, 0, -1, 0), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_dp_set_folder(NULL, f, 0, -1, 0), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_dp_set_folder(dp, f, 0, -1, 0));
    ck_assert_int_eq(clf_dp_embed_dim(dp), 16);
    const char *t[2] = {"a man is eating food.", "tokenizers split words."};
    const struct clf_embed_params ep = clf_embed_params_default();
    float a[2 * 16], b[2 * 16], c[2 * 8];
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tok, t, 2, &ep, a, NULL, NULL));
    ck_assert_ok(ctx, clf_dp_set_folder(dp, f, 0, 0, 0)); /* Normalize overridden */
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tok, t, 2, &ep, b, NULL, NULL));
    ck_assert_ok(ctx, clf_dp_set_folder(dp, f, 0, 1, 8)); /* Matryoshka */
    ck_assert_int_eq(clf_dp_embed_dim(dp), 8);
    ck_assert_ok(ctx, clf_dp_embed_texts(dp, tok, t, 2, &ep, c, NULL, NULL));
    for (int i = 0; i < 2; i++) {
        double na = 0, nb = 0, nb8 = 0, nc = 0;
        for (int j = 0; j < 16; j++) {
            na += (double)a[i * 16 + j] * a[i * 16 + j];
            nb += (double)b[i * 16 + j] * b[i * 16 + j];
            nb8 += j < 8 ? (double)b[i * 16 + j] * b[i * 16 + j] : 0;
        }
        for (int j = 0; j < 8; j++)
            nc += (double)c[i * 8 + j] * c[i * 8 + j];
        /* f32 sums of 16 squares and a rsqrt: a few ulp */
        ck_assert_msg(fabs(na - 1) < 1e-5 && fabs(nc - 1) < 1e-5, "norms %g %g", na, nc);
        ck_assert_msg(fabs(nb - 1) > 1e-3, "not normalised, yet of norm %g", nb);
        for (int j = 0; j < 16; j++) /* tanh outputs: |x| <= 1, so 1e-6 is f32 rounding */
            ck_assert_msg(fabs(a[i * 16 + j] - b[i * 16 + j] / sqrt(nb)) < 1e-6, "%d %d", i, j);
        for (int j = 0; j < 8; j++)
            ck_assert_msg(fabs(c[i * 8 + j] - b[i * 16 + j] / sqrt(nb8)) < 1e-6, "%d %d", i, j);
    }
    ck_assert_status(ctx, clf_dp_set_folder(dp, f, 0, -1, 17), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_dp_embed_dim(dp), 24); /* no Dense layer left */
    ck_assert_status(ctx, clf_dp_set_folder(dp, f, CLF_POOL_ALL + 1, -1, 0), CLF_E_INVALID_ARG);
    ck_assert_ok(ctx, clf_dp_set_folder(dp, f, CLF_POOL_CLS, -1, 0)); /* 24 columns too */
    ck_assert_int_eq(clf_dp_embed_dim(dp), 16);
    clf_dp_destroy(dp);
    clf_tokenizer_destroy(tok);
    clf_sentence_folder_destroy(f);
}
END_TEST

int main(void)
{
    /* two PoCL devices for the tensor-parallel case (read at platform init) */
    setenv("POCL_DEVICES", "pthread pthread", 0);
    test_require_device();
    test_seed();
    Suite *s = suite_create("bert");
    TCase *tc = tcase_create("tiny");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_tiny_load);
    tcase_add_test(tc, test_mpnet);
    tcase_add_test(tc, test_modernbert);
    tcase_add_test(tc, test_embed_prompt_left_out);
    tcase_add_test(tc, test_set_folder);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_forward_errors);
    tcase_add_test(tc, test_text_batches);
    tcase_add_test(tc, test_text_batches_threads);
    suite_add_tcase(s, tc);
    const bool have_model = model_dir() != NULL;
    if (have_model) {
        TCase *tm = tcase_create("all-MiniLM-L6-v2");
        tcase_set_timeout(tm, 600);
        tcase_add_test(tm, test_config);
        tcase_add_test(tm, test_reference_and_batch);
        tcase_add_test(tm, test_tensor_parallel);
        tcase_add_test(tm, test_data_parallel);
        tcase_add_test(tm, test_embed_texts);
        tcase_add_test(tm, test_embed_ragged);
        tcase_add_test(tm, test_sentence_folder);
        suite_add_tcase(s, tm);
    }
    int rc = test_run_suite(s);
    if (rc == 0 && !have_model) {
        printf("bert: no model (set CLFORMER_MODEL_DIR or run tools/fetch_model.sh): the "
               "all-MiniLM-L6-v2 cases were skipped\n");
        return TEST_SKIP;
    }
    return rc;
}
