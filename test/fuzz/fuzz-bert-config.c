/* libFuzzer harness: clf_bert_load with the input as config.json, in a
 * temporary model directory whose model.safetensors (written once) is a
 * tiny valid BERT: 1 layer, hidden 8, 2 heads, intermediate 16, vocabulary
 * 10, 16 positions, 2 token types, F32, no "bert." prefix. Whatever the
 * configuration says, the load returns a status (with a message on
 * failure) and never crashes or allocates what the configuration claims
 * before the file confirms it; a load that succeeds has the file's sizes. */
#include "fuzz.h"

#include <sys/stat.h>

#define D 8
#define FF 16
#define VOCAB 10
#define POS 16
#define TYPES 2

static char dir[64], cfg_path[96], st_path[96];

/* The tensors of the tiny model: name, rows, cols (0: a vector). */
static const struct {
    const char *name;
    int rows, cols;
} tensors[] = {
    {"embeddings.word_embeddings.weight", VOCAB, D},
    {"embeddings.position_embeddings.weight", POS, D},
    {"embeddings.token_type_embeddings.weight", TYPES, D},
    {"embeddings.LayerNorm.weight", D, 0},
    {"embeddings.LayerNorm.bias", D, 0},
    {"encoder.layer.0.attention.self.query.weight", D, D},
    {"encoder.layer.0.attention.self.query.bias", D, 0},
    {"encoder.layer.0.attention.self.key.weight", D, D},
    {"encoder.layer.0.attention.self.key.bias", D, 0},
    {"encoder.layer.0.attention.self.value.weight", D, D},
    {"encoder.layer.0.attention.self.value.bias", D, 0},
    {"encoder.layer.0.attention.output.dense.weight", D, D},
    {"encoder.layer.0.attention.output.dense.bias", D, 0},
    {"encoder.layer.0.attention.output.LayerNorm.weight", D, 0},
    {"encoder.layer.0.attention.output.LayerNorm.bias", D, 0},
    {"encoder.layer.0.intermediate.dense.weight", FF, D},
    {"encoder.layer.0.intermediate.dense.bias", FF, 0},
    {"encoder.layer.0.output.dense.weight", D, FF},
    {"encoder.layer.0.output.dense.bias", D, 0},
    {"encoder.layer.0.output.LayerNorm.weight", D, 0},
    {"encoder.layer.0.output.LayerNorm.bias", D, 0},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

/* model.safetensors: u64 header length, the JSON header (padded with
 * spaces to 8 bytes), then the F32 data (every element 0.01; LayerNorm
 * weights 1). */
static void write_model(void)
{
    char header[8192];
    size_t h = 0, off = 0;
    h += (size_t)snprintf(header + h, sizeof header - h, "{");
    for (size_t i = 0; i < N_TENSORS; i++) {
        size_t n = (size_t)tensors[i].rows * (size_t)(tensors[i].cols ? tensors[i].cols : 1);
        if (tensors[i].cols)
            h += (size_t)snprintf(header + h, sizeof header - h,
                                  "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                  "\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", tensors[i].name, tensors[i].rows,
                                  tensors[i].cols, off, off + 4 * n);
        else
            h += (size_t)snprintf(header + h, sizeof header - h,
                                  "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],"
                                  "\"data_offsets\":[%zu,%zu]}",
                                  i ? "," : "", tensors[i].name, tensors[i].rows, off,
                                  off + 4 * n);
        off += 4 * n;
    }
    h += (size_t)snprintf(header + h, sizeof header - h, "}");
    while (h % 8)
        header[h++] = ' ';
    FUZZ_CHECK(h < sizeof header, "header too long");
    FILE *f = fopen(st_path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", st_path);
    uint64_t hlen = h; /* little-endian host (x86, arm64) */
    fwrite(&hlen, 8, 1, f);
    fwrite(header, 1, h, f);
    for (size_t i = 0; i < N_TENSORS; i++) {
        size_t n = (size_t)tensors[i].rows * (size_t)(tensors[i].cols ? tensors[i].cols : 1);
        float v = strstr(tensors[i].name, "LayerNorm.weight") ? 1.0f : 0.01f;
        for (size_t k = 0; k < n; k++)
            fwrite(&v, 4, 1, f);
    }
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", st_path);
}

static void cleanup(void)
{
    unlink(cfg_path);
    unlink(st_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/clf-fuzz-bert.XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    write_model();
    fuzz_make_ctx();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(cfg_path, "wb");
    FUZZ_CHECK(f != NULL, "cannot write %s", cfg_path);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", cfg_path);
    struct clf_bert *b = (struct clf_bert *)1;
    enum clf_status st = clf_bert_load(fuzz_ctx, dir, NULL, &b);
    if (getenv("CLF_FUZZ_VERBOSE")) /* to see what each seed reaches */
        fprintf(stderr, "%s: %s\n", clf_status_str(st),
                st == CLF_OK ? "" : clf_ctx_last_error(fuzz_ctx));
    if (st != CLF_OK) {
        FUZZ_CHECK(b == NULL, "model set on failure");
        FUZZ_CHECK(clf_ctx_last_error(fuzz_ctx)[0] != 0, "failure without a message");
        return 0;
    }
    struct clf_encoder_config c = clf_bert_config(b);
    FUZZ_CHECK(c.d_model == D && c.d_ff == FF && c.layers == 1 && c.heads >= 1 &&
                   D % c.heads == 0,
               "loaded with d %lld, d_ff %lld, %lld layers, %lld heads", (long long)c.d_model,
               (long long)c.d_ff, (long long)c.layers, (long long)c.heads);
    clf_bert_destroy(b);
    return 0;
}
