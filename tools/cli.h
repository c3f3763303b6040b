/* Shared pieces of the `clformer` command: errors, progress, JSON. */
#ifndef CLF_TOOLS_CLI_H
#define CLF_TOOLS_CLI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "clformer.h"

/* Exit codes. */
#define CLI_OK 0
#define CLI_FAIL 1  /* the work failed */
#define CLI_USAGE 2 /* bad command line */

/* Prints "clformer: <message>" on stderr (one line) and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "clformer: <message>" on stderr and returns CLI_FAIL (an empty
 * message, or one ending in ": " where the library gave none, says so). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether an error was printed (cli_error, cli_usage_error, the log
 * handler's errors): main says so when a command fails without one. */
bool cli_said_why(void);

/* Context params for a command: the device spec, a log handler that writes
 * "clformer: ..." lines on stderr, and a progress handler that draws on
 * stderr only when it is a terminal and `quiet` is false. */
struct clf_ctx_params cli_ctx_params(const char *device, bool quiet);

/* A context's start-up counters (clf_ctx_stats) as a JSON object:
 * programs_built (from source; on PoCL its own cache may serve them),
 * programs_loaded (binaries from the program cache), build_ms (both),
 * tuned (shape classes measured), tune_loaded (records read). */
cJSON *cli_startup_json(struct clf_ctx *ctx);
/* When ctx built kernel programs from source without writing their binaries
 * (PoCL under CLFORMER_BINARIES auto: clf_ctx_unsaved_programs), starts
 * `clformer save-binaries` on ctx's device in the background (a new session,
 * low priority, no terminal, the list on its standard input) to write them,
 * so that the next process loads them; returns at once. Call it when the
 * command's work is done. Silent: a failure to start only costs the next
 * process its builds. */
void cli_save_binaries_later(struct clf_ctx *ctx);

/* dir/name (a lock file of the cache directory dir) opened for flock,
 * created if missing (0600, no symlink followed), or -1. */
int cli_open_lock(const char *dir, const char *name);

/* Marks this process as one whose speed a user waits on (`run`, `embed`)
 * until it exits: a shared lock on ctx's cache directory's active.lock,
 * which the background writer of binaries waits on (cli_wait_quiet) so that
 * its seconds of compiling do not share the cores with such a process.
 * Silent and best effort: without a cache directory, nothing. */
void cli_hold_active(struct clf_ctx *ctx);

/* For that writer: returns once no process has held `dir`/active.lock for
 * quiet_ms in a row, or after max_ms in all (a long-lived holder, a
 * server, must not keep the binaries from being written forever). */
void cli_wait_quiet(const char *dir, double quiet_ms, double max_ms);

/* A device's capabilities as a JSON object. */
cJSON *cli_device_json(const struct clf_device_info *d);

/* Prints a JSON value on stdout (pretty) and frees it; CLI_FAIL when NULL. */
int cli_print_json(cJSON *v);
/* A JSON string of the n bytes at s, NUL bytes included (as \u0000, which
 * cJSON_CreateString cannot hold: it ends at the first NUL); other control
 * characters escaped, the rest as they are. NULL when out of memory. */
cJSON *cli_json_bytes(const char *s, size_t n);

/* Parses a whole decimal integer in [lo, hi]. */
bool cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* "AxB" or "AxBxC" (parts of them, each from 1 to 2^24) into shape. */
bool cli_parse_dims(const char *s, int64_t *shape, int parts);

/* The integer option --name: value parsed into *out (cli_parse_int) and 0,
 * or "--name needs an integer from lo to hi" as cmd's usage error and
 * CLI_USAGE (*out untouched). */
int cli_int_option(const char *cmd, const char *name, const char *value, int64_t lo, int64_t hi,
                   int64_t *out);

/* --seed: a non-negative integer into *seed and 0, or the usage error for
 * cmd and CLI_USAGE. */
int cli_seed_option(const char *cmd, const char *value, uint64_t *seed);

/* getopt_long's error return c (':' a missing value, else an unknown
 * option, argv[optind - 1]) as cmd's usage error; returns CLI_USAGE. */
int cli_getopt_error(const char *cmd, int c, char **argv);

/* The encoder shape's check after the options: --heads must divide
 * --d-model. Returns 0, or the usage error for cmd and CLI_USAGE. */
int cli_check_shape(const char *cmd, const struct clf_encoder_config *cfg);

/* relu, gelu, gelu-tanh -> *act; false for anything else. */
bool cli_parse_act(const char *s, enum clf_act *act);

/* auto, fused, gemm -> *impl; false for anything else. */
bool cli_parse_attn_impl(const char *s, enum clf_attention_impl *impl);

/* The encoder options shared by run, embed, analyze and bench, into cfg:
 * the shape (--layers 1..1024, --d-model 1..65536, --heads 1..4096, --d-ff
 * 1..262144), --eps (0, 1], and every option of clf_encoder_config_option
 * (--activation, --attn-impl, --attn, --kv, --attn-quant, --linear,
 * --precision, --ffn, --ffn-act, --drop-dense). name is the option without
 * dashes. Returns 0, or prints the usage error for cmd and returns
 * CLI_USAGE. */
int cli_encoder_option(const char *cmd, const char *name, const char *value,
                       struct clf_encoder_config *cfg);

/* cfg's FFN format and quantisation in the options' words ("ffn svd:64,
 * kv int8, linear int8"), or "none". */
void cli_layer_options_str(const struct clf_encoder_config *cfg, char *buf, size_t size);

/* A list of texts, one allocation each. */
struct cli_texts {
    char **s;    /* NUL-terminated copies; a text may hold NUL bytes too */
    size_t *len; /* each text's length in bytes */
    size_t n, cap;
};
/* Appends a copy of len bytes of s; -1 when out of memory. */
int cli_texts_add(struct cli_texts *t, const char *s, size_t len);
/* Appends the non-empty lines of path (without their line ends; "-" is
 * stdin, and /dev/stdin, /dev/fd/N and /proc/self/fd/N may be pipes); an
 * error printed and CLI_FAIL when it cannot be read. */
int cli_texts_read(const char *path, struct cli_texts *t);
void cli_texts_free(struct cli_texts *t);

/* Opens an input for reading through clf_file_open (a FIFO or a folder is
 * refused with a message, never waited on); with stream, "-" is stdin and
 * the process's own descriptors (/dev/stdin, /dev/fd/N, /proc/self/fd/N)
 * may be pipes or terminals. NULL after printing why. */
FILE *cli_open_input(const char *path, bool stream);
/* Whether an input exists: 1 a regular file that opens, 0 missing (no
 * message), -1 anything else (a FIFO, a folder, unreadable; message printed). */
int cli_input_exists(const char *path);

/* Milliseconds from a monotonic clock. */
double cli_now_ms(void);

/* Median of t[0..n) (sorts t). */
double cli_median(double *t, int n);

/* The seeded input of `clformer run` and `analyze`: n values in [-1, 1)
 * from splitmix64, the same for the same seed on every machine. */
void cli_seeded_input(float *x, size_t n, uint64_t seed);

/* --input FILE: activations [seq, d] or [batch, seq, d] (seq and batch at
 * least 1) from a float32 .npy into *data (free()), its rank and shape;
 * false after an error naming the file (and its shape when wrong). */
bool cli_read_activations(const char *path, int64_t d, float **data, int *ndim,
                          int64_t shape[CLF_MAX_DIMS]);

/* Human-readable byte size, e.g. "3.7 GiB". */
const char *cli_bytes(unsigned long long bytes, char *buf, unsigned size);

/* After a failed load of --weights PATH: when PATH is a Hugging Face or
 * sentence-transformers model folder (or a file in one: config.json or
 * modules.json beside it), prints that `clformer embed -m DIR` runs such
 * models (run and analyze take nn.TransformerEncoder weights). */
void cli_model_folder_hint(const char *weights);

#endif
