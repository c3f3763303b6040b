/* Shared pieces of the `clformer` command. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Messages printed on stderr by cli_error, cli_usage_error and the log
 * handler's errors (cli_said_why). */
static int said_why;

bool cli_said_why(void)
{
    return said_why > 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    said_why++;
    va_list ap;
    fputs("clformer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'clformer %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_USAGE;
}

int cli_error(const char *fmt, ...)
{
    /* one line, one write: stderr is unbuffered, and the ranks of mpirun
     * share it, so three writes could interleave with another rank's */
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    /* a library message left empty (a status returned without one) */
    const char *blank = "failed, and the library gave no reason (a bug: please report it)";
    if (n == 0 || (n >= 2 && !strcmp(line + n - 2, ": ")))
        n += snprintf(line + n, sizeof line - 1 - (size_t)n, "%s", blank);
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    said_why++;
    line[n] = '\n';
    line[n + 1] = 0;
    fprintf(stderr, "clformer: %s", line);
    return CLI_FAIL;
}

static void log_to_stderr(void *user, enum clf_log_level level, const char *msg)
{
    (void)user;
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level >= CLF_LOG_ERROR)
        said_why++;
    fprintf(stderr, "clformer: %s: %s\n", level < CLF_LOG_NONE ? names[level] : "", msg);
}

/* The progress line's state: the phase being drawn and when it began
 * (contexts of a device group report from their own threads). */
static struct {
    pthread_mutex_t lock;
    char what[64];
    double start_ms;
} progress = {PTHREAD_MUTEX_INITIALIZER, "", 0};

/* Seconds as "42 s" or "3:05". */
static const char *secs_str(double s, char *buf, size_t size)
{
    int v = s < 0 ? 0 : s > 359999 ? 359999 : (int)(s + 0.5); /* under 100 hours */
    if (v < 60)
        snprintf(buf, size, "%d s", v);
    else
        snprintf(buf, size, "%d:%02d", v / 60, v % 60);
    return buf;
}

/* Draws "tuning [#####-----] 7/24 gemm 512x2048x512 native:1 0:12, about 0:31
 * left" on one line of the terminal (cut to its width), counting overall:
 * done of total steps of the phase `what`, the time since the phase began,
 * and the time left at the pace so far; an item of NULL ends the phase. */
static void progress_on_tty(void *user, const char *what, int done, int total, const char *item)
{
    (void)user;
    pthread_mutex_lock(&progress.lock);
    double now = cli_now_ms();
    if (!item) {
        fprintf(stderr, "\r\033[K");
        progress.what[0] = 0;
    } else {
        if (strncmp(progress.what, what, sizeof progress.what - 1) != 0) {
            snprintf(progress.what, sizeof progress.what, "%s", what);
            progress.start_ms = now;
        }
        enum { BAR = 20 };
        char bar[BAR + 1], el[32], left[32], line[512];
        int fill = total > 0 ? (int)((long long)BAR * done / total) : 0;
        for (int i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[BAR] = 0;
        double elapsed = (now - progress.start_ms) / 1e3;
        int w = snprintf(line, sizeof line, "%s [%s] %d/%d %s  %s", what, bar, done, total,
                         item, secs_str(elapsed, el, sizeof el));
        if (done > 0 && done < total && w > 0 && (size_t)w < sizeof line)
            snprintf(line + w, sizeof line - (size_t)w, ", about %s left",
                     secs_str(elapsed * (total - done) / done, left, sizeof left));
        struct winsize ws;
        size_t cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
        if (strlen(line) >= cols) /* a wrapped line would not be redrawn in place */
            line[cols - 1] = 0;
        fprintf(stderr, "\r\033[K%s", line);
    }
    fflush(stderr);
    pthread_mutex_unlock(&progress.lock);
}

struct clf_ctx_params cli_ctx_params(const char *device, bool quiet)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.device = device;
    p.log_fn = log_to_stderr;
    if (!quiet && isatty(STDERR_FILENO))
        p.progress_fn = progress_on_tty;
    return p;
}

cJSON *cli_startup_json(struct clf_ctx *ctx)
{
    struct clf_ctx_stats s;
    cJSON *o = cJSON_CreateObject();
    if (!o || clf_ctx_stats(ctx, &s) != CLF_OK)
        return o;
    cJSON_AddNumberToObject(o, "programs_built", s.programs_built);
    cJSON_AddNumberToObject(o, "programs_loaded", s.programs_loaded);
    cJSON_AddNumberToObject(o, "build_ms", s.build_ms);
    cJSON_AddNumberToObject(o, "tuned", s.tuned);
    cJSON_AddNumberToObject(o, "tune_loaded", s.tune_loaded);
    return o;
}

void cli_save_binaries_later(struct clf_ctx *ctx)
{
    size_t need = 0;
    if (!ctx || clf_ctx_unsaved_programs(ctx, NULL, 0, &need) != CLF_OK || need <= 1)
        return;
    char *list = malloc(need);
    struct clf_device_info d;
    if (!list || clf_ctx_unsaved_programs(ctx, list, need, NULL) != CLF_OK ||
        clf_ctx_device_info(ctx, &d) != CLF_OK || access("/proc/self/exe", X_OK) != 0) {
        free(list);
        return;
    }
    /* everything the child needs is made before fork: after it, in a copy of
       a process with threads, only async-signal-safe calls */
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", d.platform_index, d.device_index);
    char *args[] = {"clformer", "save-binaries", "--device", spec, "--quiet", "--when-idle", NULL};
    /* the list goes into the pipe before the fork: a few hundred bytes, within
       a pipe's buffer (at least 4 KiB, 64 KiB on Linux), so no write waits on
       the saver or meets a closed pipe (SIGPIPE) */
    int fds[2];
    size_t n = need - 1, at = 0;
    if (n > 4096 || pipe(fds) != 0) {
        free(list);
        return;
    }
    while (at < n) {
        ssize_t w = write(fds[1], list + at, n - at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        at += (size_t)w;
    }
    close(fds[1]);
    pid_t pid = at == n ? fork() : -1;
    if (pid == 0) {
        /* the child starts the saver in a session of its own and exits, so
           that nobody waits for the saver: not this process, not a shell
           reading this one's output (standard output and error /dev/null,
           every other descriptor closed) */
        setsid();
        if (fork() != 0)
            _exit(0);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(fds[0], 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(127);
        for (int fd = 3; fd < 1024; fd++) /* close_range is not in every libc */
            close(fd);
        setpriority(PRIO_PROCESS, 0, 15);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fds[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    free(list);
}

int cli_open_lock(const char *dir, const char *name)
{
    char path[4200];
    if (!dir || snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -1;
    return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

void cli_hold_active(struct clf_ctx *ctx)
{
    static int fd = -1; /* held until exit; the lock goes with the process */
    if (fd >= 0 || !ctx)
        return;
    fd = cli_open_lock(clf_ctx_cache_dir(ctx), "active.lock");
    /* blocks only for the instant a writer tests the lock (cli_wait_quiet) */
    if (fd >= 0 && flock(fd, LOCK_SH) != 0) {
        close(fd);
        fd = -1;
    }
}

void cli_wait_quiet(const char *dir, double quiet_ms, double max_ms)
{
    int fd = cli_open_lock(dir, "active.lock");
    if (fd < 0)
        return;
    double start = cli_now_ms(), quiet_since = start;
    for (;;) {
        double now = cli_now_ms();
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) /* nobody holds it: let go at once */
            flock(fd, LOCK_UN);
        else
            quiet_since = now;
        if (now - quiet_since >= quiet_ms || now - start >= max_ms)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    close(fd);
}

cJSON *cli_device_json(const struct clf_device_info *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "%d:%d", d->platform_index, d->device_index);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "platform_index", d->platform_index);
    cJSON_AddNumberToObject(o, "device_index", d->device_index);
    cJSON_AddStringToObject(o, "platform_name", d->platform_name);
    cJSON_AddStringToObject(o, "platform_vendor", d->platform_vendor);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "type", clf_device_type_str(d->type));
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "opencl_version", d->version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddBoolToObject(o, "local_mem_dedicated", d->local_mem_dedicated);
    cJSON_AddNumberToObject(o, "constant_mem_bytes", (double)d->constant_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddNumberToObject(o, "mem_base_align_bits", d->mem_base_align_bits);
    cJSON *v = cJSON_AddObjectToObject(o, "preferred_vector_width");
    if (v) {
        cJSON_AddNumberToObject(v, "char", d->vec_char);
        cJSON_AddNumberToObject(v, "short", d->vec_short);
        cJSON_AddNumberToObject(v, "int", d->vec_int);
        cJSON_AddNumberToObject(v, "long", d->vec_long);
        cJSON_AddNumberToObject(v, "float", d->vec_float);
        cJSON_AddNumberToObject(v, "double", d->vec_double);
        cJSON_AddNumberToObject(v, "half", d->vec_half);
    }
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "subgroups", d->subgroups);
    cJSON_AddBoolToObject(o, "integer_dot_product", d->int_dot_product);
    cJSON_AddBoolToObject(o, "command_buffer", d->command_buffer);
    cJSON_AddBoolToObject(o, "out_of_order_queue", d->out_of_order_queue);
    cJSON_AddBoolToObject(o, "profiling", d->profiling);
    return o;
}

int cli_print_json(cJSON *v)
{
    char *s = v ? cJSON_Print(v) : NULL;
    cJSON_Delete(v);
    if (!s)
        return cli_error("out of memory writing JSON");
    puts(s);
    cJSON_free(s);
    return CLI_OK;
}

cJSON *cli_json_bytes(const char *s, size_t n)
{
    char *q = n < ((size_t)1 << 28) ? malloc(6 * n + 3) : NULL; /* \u00XX at most */
    if (!q)
        return NULL;
    size_t at = 0;
    q[at++] = '"';
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            q[at++] = '\\';
            q[at++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            at += (size_t)sprintf(q + at, "\\u%04x", c);
        } else {
            q[at++] = (char)c;
        }
    }
    q[at++] = '"';
    q[at] = 0;
    cJSON *v = cJSON_CreateRaw(q);
    free(q);
    return v;
}

const char *cli_bytes(unsigned long long bytes, char *buf, unsigned size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

bool cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0; /* out of range: strtoll saturates and sets ERANGE */
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool cli_parse_dims(const char *s, int64_t *shape, int parts)
{
    char *end = (char *)s;
    for (int i = 0; i < parts; i++) {
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 1 || v > (1ll << 24))
            return false;
        shape[i] = v;
        if (i < parts - 1) {
            if (*end != 'x')
                return false;
            s = end + 1;
        }
    }
    return *end == 0;
}

int cli_int_option(const char *cmd, const char *name, const char *value, int64_t lo, int64_t hi,
                   int64_t *out)
{
    if (!cli_parse_int(value, lo, hi, out))
        return cli_usage_error(cmd, "--%s needs an integer from %lld to %lld", name,
                               (long long)lo, (long long)hi);
    return 0;
}

int cli_seed_option(const char *cmd, const char *value, uint64_t *seed)
{
    int64_t v;
    if (!cli_parse_int(value, 0, INT64_MAX, &v))
        return cli_usage_error(cmd, "--seed needs a non-negative integer");
    *seed = (uint64_t)v;
    return 0;
}

int cli_getopt_error(const char *cmd, int c, char **argv)
{
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
    return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_check_shape(const char *cmd, const struct clf_encoder_config *cfg)
{
    if (cfg->d_model % cfg->heads)
        return cli_usage_error(cmd, "--heads (%lld) must divide --d-model (%lld)",
                               (long long)cfg->heads, (long long)cfg->d_model);
    return 0;
}

bool cli_parse_act(const char *s, enum clf_act *act)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    if (clf_encoder_config_option(&c, "activation", s, NULL, 0) != CLF_OK)
        return false;
    *act = c.act;
    return true;
}

bool cli_parse_attn_impl(const char *s, enum clf_attention_impl *impl)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    if (clf_encoder_config_option(&c, "attn-impl", s, NULL, 0) != CLF_OK)
        return false;
    *impl = c.attn_impl;
    return true;
}

int cli_encoder_option(const char *cmd, const char *name, const char *value,
                       struct clf_encoder_config *cfg)
{
    /* the shape options: --NAME needs an integer from 1 to hi */
    const struct {
        const char *name;
        int64_t hi;
        int64_t *field;
    } ints[] = {
        {"layers", 1024, &cfg->layers},
        {"d-model", 1 << 16, &cfg->d_model},
        {"heads", 1 << 12, &cfg->heads},
        {"d-ff", 1 << 18, &cfg->d_ff},
    };
    char msg[256];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(name, ints[i].name))
            return cli_int_option(cmd, name, value, 1, ints[i].hi, ints[i].field);
    if (!strcmp(name, "eps")) {
        char *end;
        double e = strtod(value, &end);
        if (end == value || *end || !(e > 0) || e > 1)
            return cli_usage_error(cmd, "--eps needs a number in (0, 1]");
        cfg->eps = (float)e;
    } else if (clf_encoder_config_option(cfg, name, value, msg, sizeof msg) != CLF_OK) {
        return cli_usage_error(cmd, "%s", msg);
    }
    return 0;
}

void cli_layer_options_str(const struct clf_encoder_config *cfg, char *buf, size_t size)
{
    char act[128];
    size_t n = 0;
    buf[0] = 0;
#define ADD(...)                                                                                \
    do {                                                                                        \
        int w_ = snprintf(buf + n, size - n, "%s", n ? ", " : "");                              \
        n += w_ > 0 && (size_t)w_ < size - n ? (size_t)w_ : 0;                                  \
        w_ = snprintf(buf + n, size - n, __VA_ARGS__);                                          \
        n += w_ > 0 && (size_t)w_ < size - n ? (size_t)w_ : 0;                                  \
    } while (0)
    if (cfg->ffn.format != CLF_FFN_DENSE) {
        clf_ffn_factor_str(&cfg->ffn, act, sizeof act);
        ADD("ffn %s", act);
    }
    if (cfg->kv != CLF_KV_F32)
        ADD("kv %s%s", cfg->kv == CLF_KV_INT8_TOKEN ? "int8" : "int8:channel",
            cfg->attn_q_int8 ? ",q" : "");
    if (cfg->attn_p == CLF_P_F16)
        ADD("attn-quant f16");
    else if (cfg->attn_p == CLF_P_LOG)
        ADD("attn-quant log:%d", cfg->attn_p_bits);
    if (cfg->linear_int8)
        ADD("linear int8");
    if (cfg->precision != CLF_PRECISION_F32)
        ADD("precision %s", clf_precision_str(cfg->precision));
    if (cfg->drop_dense)
        ADD("drop-dense");
    if (cfg->ffn_act.kind != CLF_ACTQ_NONE) {
        clf_actq_str(&cfg->ffn_act, act, sizeof act);
        ADD("ffn-act %s", act);
    }
#undef ADD
    if (!n)
        snprintf(buf, size, "none");
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cli_median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

void cli_seeded_input(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed ^ 0x5eed5eed5eedull;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        x[i] = (float)((double)((z ^ (z >> 31)) >> 11) * 0x1.0p-52 - 1.0);
    }
}

bool cli_read_activations(const char *path, int64_t d, float **data, int *ndim,
                          int64_t shape[CLF_MAX_DIMS])
{
    char msg[1024];
    if (clf_npy_read(path, data, ndim, shape, msg, sizeof msg) != CLF_OK)
        return !cli_error("%s", msg);
    bool ok = (*ndim == 2 || *ndim == 3) && shape[*ndim - 1] == d;
    for (int i = 0; ok && i < *ndim - 1; i++)
        ok = shape[i] >= 1;
    if (ok)
        return true;
    char got[CLF_MAX_DIMS * 24] = "";
    for (int i = 0, w = 0; i < *ndim; i++)
        w += snprintf(got + w, sizeof got - (size_t)w, "%s%lld", i ? ", " : "",
                      (long long)shape[i]);
    cli_error("%s: shape [%s]: the input must be [seq, %lld] or [batch, seq, %lld], seq and "
              "batch at least 1",
              path, got, (long long)d, (long long)d);
    free(*data);
    *data = NULL;
    return false;
}

int cli_texts_add(struct cli_texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **p = realloc(t->s, cap * sizeof *p);
        size_t *l = p ? realloc(t->len, cap * sizeof *l) : NULL;
        if (p)
            t->s = p;
        if (!l)
            return -1;
        t->len = l;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = 0;
    t->s[t->n] = copy;
    t->len[t->n++] = len;
    return 0;
}

void cli_texts_free(struct cli_texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->len);
}

/* Whether path names one of the process's own descriptors, which a caller
 * hands over on purpose: /dev/stdin, /dev/fd/N, /proc/self/fd/N (a shell's
 * process substitution <(...) gives /dev/fd/N). */
static bool names_own_descriptor(const char *path)
{
    return !strcmp(path, "/dev/stdin") || !strncmp(path, "/dev/fd/", 8) ||
           !strncmp(path, "/proc/self/fd/", 14);
}

FILE *cli_open_input(const char *path, bool stream)
{
    if (stream && !strcmp(path, "-"))
        return stdin;
    char msg[600];
    unsigned flags = stream && names_own_descriptor(path) ? CLF_FILE_STREAM : 0;
    int fd = clf_file_open(path, flags, msg, sizeof msg);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (fd >= 0 && !f) {
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        close(fd);
    }
    if (!f)
        cli_error("%s", msg);
    return f;
}

int cli_input_exists(const char *path)
{
    char msg[600];
    int fd = clf_file_open(path, 0, msg, sizeof msg);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    cli_error("%s", msg);
    return -1;
}

int cli_texts_read(const char *path, struct cli_texts *t)
{
    FILE *f = cli_open_input(path, true);
    if (!f)
        return CLI_FAIL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = CLI_OK;
    /* the line's length from getline, not strlen: a NUL byte inside a line
     * is part of the text (the tokenizer decides what it means) */
    while (rc == CLI_OK && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len && cli_texts_add(t, line, (size_t)len))
            rc = cli_error("out of memory");
    }
    if (rc == CLI_OK && ferror(f))
        rc = cli_error("%s: read error", path);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

void cli_model_folder_hint(const char *weights)
{
    if (!weights)
        return;
    char dir[4096], path[4200];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s", weights);
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) { /* a file: its folder */
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
    }
    static const char *const marks[] = {"config.json", "modules.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, marks[i]);
        if (stat(path, &sb) == 0) {
            fprintf(stderr,
                    "clformer: %s is a Hugging Face model folder (%s): for its sentence "
                    "embeddings use `clformer embed -m %s`; run and analyze take PyTorch "
                    "nn.TransformerEncoder weights\n",
                    dir, marks[i], dir);
            return;
        }
    }
}
